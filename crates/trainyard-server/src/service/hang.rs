//! Hang detection of running versions: a watcher (run by the executor holding the scheduling
//! duty) looks at each running version that has a `hang_timeout_minutes` (its own, else its
//! project's) once per sampling interval: the total size of its logs (read beneath the run
//! folder, no link followed) and its workers' usage samples. The decision is
//! [`trainyard_sched::hang::Watch`]'s; a hung run gets a `hang_suspected` event and a
//! `[trainyard]` log line, and is stopped; its end is then recorded as hung (FAILED with the
//! reason) rather than as stopped.

use crate::service::events::{self, Event, StopBy};
use crate::service::lifecycle::{append_log, RunContext};
use crate::util::now_ms;
use std::collections::HashMap;
use std::ffi::OsStr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use trainyard_api::JobStatus;
use trainyard_exec::beneath::{Dir, Kind};
use trainyard_sched::hang::{Hung, Rule, Usage, Watch};
use trainyard_store::Version;

/// How often the watcher looks: once per sampling interval, from half a second to 10 s.
fn tick(ctx: &RunContext) -> Duration {
    Duration::from_millis(ctx.telemetry.sample_interval_ms.clamp(500, 10_000))
}

/// Watches the running versions until the process ends; `stop` stops a hung one's run.
pub async fn watch(ctx: Arc<RunContext>, stop: impl Fn(i64) + Send + 'static) {
    let mut watches: HashMap<i64, Watch> = HashMap::new();
    let mut every = tokio::time::interval(tick(&ctx));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let running = match ctx.store.versions_in(&[JobStatus::RUNNING]).await {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list running versions for hang detection");
                continue;
            }
        };
        let watched: Vec<(Version, Rule)> = running
            .into_iter()
            .filter_map(|v| Some((ctx.hangs.rule_of(&v)?, v)))
            .map(|(rule, v)| (v, rule))
            .collect();
        watches.retain(|id, _| watched.iter().any(|(v, _)| v.id == *id));
        for (v, rule) in watched {
            if !watches.contains_key(&v.id) && !ctx.hangs.is_stopping(v.id) {
                // First seen here: a server before this one may have stopped it as hung.
                if let Some(hung) = events::hung_in_log(ctx.store.as_ref(), v.id).await {
                    ctx.hangs.mark(v.id, hung);
                }
            }
            if ctx.hangs.is_stopping(v.id) {
                // Being stopped as hung: the first verdict stands.
                continue;
            }
            let run_dir = v.run_dir.clone();
            let Ok((bytes, samples)) =
                tokio::task::spawn_blocking(move || look(Path::new(&run_dir))).await
            else {
                continue;
            };
            let now = now_ms();
            let w = watches.entry(v.id).or_insert_with(|| {
                // No output yet: quiet since the start. Else since now (a restart lost what
                // was seen before).
                let since = match (bytes, v.start_time) {
                    (0, Some(start)) => start.min(now),
                    _ => now,
                };
                Watch::new(rule, since, bytes)
            });
            let Some(hung) = w.look(now, bytes, &samples) else {
                continue;
            };
            watches.remove(&v.id);
            flag(&ctx, &v, hung).await;
            stop(v.id);
        }
    }
}

/// Records that `v` is hung (event, log line) and that its end is a hang.
async fn flag(ctx: &RunContext, v: &Version, hung: Hung) {
    tracing::warn!(
        job.id = v.job_id,
        version.id = v.id,
        quiet_s = hung.quiet_s,
        "job hung: stopping it"
    );
    ctx.hangs.mark(v.id, hung);
    events::record(
        ctx,
        v.id,
        Event::HangSuspected {
            quiet_s: hung.quiet_s,
        },
    );
    events::record(ctx, v.id, Event::StopRequested { by: StopBy::Hang });
    let line = format!(
        "[trainyard] {}; stopping the job",
        trainyard_sched::hang::reason(hung)
    );
    append_log(ctx, v, &line).await;
}

/// The logs' total size and the workers' usage samples of the run in `run_dir`.
fn look(run_dir: &Path) -> (u64, Vec<Usage>) {
    let bytes = log_bytes(run_dir).unwrap_or(0);
    let samples = trainyard_exec::metrics::read_run(run_dir)
        .iter()
        .flat_map(|s| {
            s.w.iter().map(|w| Usage {
                t: s.t,
                cpu: w.cpu,
                gpu: w.gpu,
            })
        })
        .collect();
    (bytes, samples)
}

/// Total size of the run's worker logs (`logs/`, index files left out), read beneath the run
/// folder without following links: the folder is the job's to write.
fn log_bytes(run_dir: &Path) -> std::io::Result<u64> {
    let logs = Dir::open(run_dir)?.open_dir(Path::new("logs"))?;
    Ok(logs
        .entries()?
        .iter()
        .filter(|e| e.kind == Kind::File)
        .filter(|e| Path::new(&e.name).extension() != Some(OsStr::new("idx")))
        .map(|e| e.len)
        .sum())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Log sizes are summed over the workers' logs, index files and links left out.
    #[test]
    fn log_bytes_count_logs_only_and_follow_no_link() {
        let t = tempfile::tempdir().unwrap();
        let logs = t.path().join("logs");
        std::fs::create_dir(&logs).unwrap();
        std::fs::write(logs.join("job.0"), "12345").unwrap();
        std::fs::write(logs.join("job.1"), "123").unwrap();
        std::fs::write(logs.join("job.0.idx"), "x".repeat(100)).unwrap();
        std::fs::write(t.path().join("big"), "x".repeat(1000)).unwrap();
        std::os::unix::fs::symlink(t.path().join("big"), logs.join("job.2")).unwrap();
        assert_eq!(log_bytes(t.path()).unwrap(), 8);
        // A logs folder swapped for a link is not read through.
        let other = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(&logs, other.path().join("logs")).unwrap();
        assert!(log_bytes(other.path()).is_err());
    }
}
