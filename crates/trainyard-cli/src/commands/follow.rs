//! Streaming worker logs and showing status changes while a version runs.

use crate::output::{self, paint, status};
use crate::CliError;
use bytes::Bytes;
use std::io::IsTerminal;
use std::time::{Duration, Instant};
use trainyard_api::training::VersionInfo;
use trainyard_client::Client;

/// The byte offset where the last `lines` lines of a log begin (as it is now).
async fn last_lines_start(
    client: &Client,
    job: i64,
    version: i64,
    name: &str,
    lines: usize,
) -> Result<u64, CliError> {
    let mut log = client.read_log_bytes(job, version, name, 0);
    let mut text = Vec::new();
    while let Some(chunk) = log.next_chunk().await? {
        text.extend_from_slice(&chunk);
    }
    Ok(tail_start(&text, lines) as u64)
}

/// Where the last `lines` lines of `text` begin (a last line without its newline counts).
pub fn tail_start(text: &[u8], lines: usize) -> usize {
    if lines == 0 {
        return text.len();
    }
    // The newline that ends the last line is not a line break before it.
    let body = text.strip_suffix(b"\n").unwrap_or(text);
    let mut breaks = body.iter().enumerate().rev().filter(|(_, &b)| b == b'\n');
    match breaks.nth(lines - 1) {
        Some((at, _)) => at + 1,
        None => 0,
    }
}

/// Longest wait when none is given: a week.
pub const FOREVER: Duration = Duration::from_secs(7 * 24 * 3600);

/// Copies the logs `files` (worker index, file name) of a version to stdout until each
/// stream ends: raw when `prefix` is false, else line by line as `[index] line`.
/// With `tail`, each log starts at its last `tail` lines (any number: the logs are read as
/// bytes, not through the API's 500-line page).
pub async fn stream_logs(
    client: &Client,
    job: i64,
    version: i64,
    files: Vec<(usize, String)>,
    prefix: bool,
    follow: bool,
    tail: Option<usize>,
) -> Result<(), CliError> {
    let (tx, mut rx) =
        tokio::sync::mpsc::channel::<(usize, Result<Option<Bytes>, trainyard_client::Error>)>(64);
    let mut tasks = tokio::task::JoinSet::new();
    for (index, name) in files {
        let from = match tail {
            Some(lines) => last_lines_start(client, job, version, &name, lines).await?,
            None => 0,
        };
        let mut log = if follow {
            client.follow_log(job, version, &name, from)
        } else {
            client.read_log_bytes(job, version, &name, from)
        };
        let tx = tx.clone();
        tasks.spawn(async move {
            loop {
                let next = log.next_chunk().await;
                let end = !matches!(next, Ok(Some(_)));
                if tx.send((index, next)).await.is_err() || end {
                    return;
                }
            }
        });
    }
    drop(tx);
    let mut partial: std::collections::BTreeMap<usize, Vec<u8>> = Default::default();
    while let Some((index, next)) = rx.recv().await {
        let chunk = match next {
            Ok(Some(chunk)) => chunk,
            Ok(None) => continue,
            Err(e) => {
                tasks.abort_all();
                return Err(e.into());
            }
        };
        if !prefix {
            output::stdout(&chunk)?;
            continue;
        }
        let buf = partial.entry(index).or_default();
        buf.extend_from_slice(&chunk);
        if let Some(last) = buf.iter().rposition(|&b| b == b'\n') {
            let rest = buf.split_off(last + 1);
            let complete = std::mem::replace(buf, rest);
            let mut text = Vec::with_capacity(complete.len() + 16);
            for line in complete.split_inclusive(|&b| b == b'\n') {
                text.extend_from_slice(format!("[{index}] ").as_bytes());
                text.extend_from_slice(line);
            }
            output::stdout(&text)?;
        }
    }
    for (index, rest) in partial {
        if !rest.is_empty() {
            let mut text = format!("[{index}] ").into_bytes();
            text.extend_from_slice(&rest);
            text.push(b'\n');
            output::stdout(&text)?;
        }
    }
    Ok(())
}

/// Waits for the version to end, printing one line per status change to stderr (with the
/// elapsed time on a terminal, plain when redirected).
pub async fn watch(
    client: &Client,
    job: i64,
    version: i64,
    timeout: Duration,
) -> Result<VersionInfo, CliError> {
    let tty = std::io::stderr().is_terminal();
    let colour = output::style().color_err;
    let start = Instant::now();
    let v = client
        .wait_version(job, version, timeout, |v| {
            let shown = paint(&status(v.status), colour);
            if tty {
                eprintln!(
                    "[{:>6.1}s] job {job} version {version}: {shown}",
                    start.elapsed().as_secs_f64(),
                );
            } else {
                eprintln!("job {job} version {version}: {shown}");
            }
        })
        .await?;
    Ok(v)
}

/// [`watch`] without a timeout, also printing the run's events to stderr as they are
/// recorded (one line each; a server without the event log prints none).
async fn watch_with_events(
    client: &Client,
    job: i64,
    version: i64,
) -> Result<VersionInfo, CliError> {
    let watching = watch(client, job, version, FOREVER);
    tokio::pin!(watching);
    let mut seen = 0;
    let mut every = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            v = &mut watching => {
                print_new_events(client, job, version, &mut seen).await;
                return v;
            }
            _ = every.tick() => print_new_events(client, job, version, &mut seen).await,
        }
    }
}

/// Prints the events of the run recorded after `seen` (a `seq`), and moves `seen` on.
async fn print_new_events(client: &Client, job: i64, version: i64, seen: &mut i64) {
    let Ok(log) = client.run_events(job, version).await else {
        return;
    };
    let after = *seen;
    for e in log.events.iter().filter(|e| e.seq > after) {
        eprintln!("job {job} version {version}: event: {}", e.message);
        *seen = e.seq;
    }
}

/// Lines of each worker's log shown when a version did not complete.
const FAILURE_TAIL: i64 = 10;

/// Exit status of a finished version: success only for COMPLETED. Otherwise the error names
/// the worker that failed, its exit code or signal, and the last lines of its log.
pub async fn outcome(client: &Client, v: &VersionInfo, job: i64) -> Result<(), CliError> {
    if v.status == trainyard_api::JobStatus::COMPLETED.code() {
        return Ok(());
    }
    let mut text = format!(
        "job {job} version {} ended {}",
        v.version_id,
        status(v.status)
    );
    if let Some(report) = failure_report(client, v, job).await {
        text.push_str(&report);
    }
    Err(CliError::Failed(text))
}

/// `: worker I exited with code N` and the tail of that worker's log (or of worker 0 when no
/// worker failed by itself: stopped, lost, refused at start). Best effort: `None` when the
/// logs cannot be read.
pub async fn failure_report(client: &Client, v: &VersionInfo, job: i64) -> Option<String> {
    let name = v.job_name.clone()?;
    let mut tails = Vec::new();
    for i in 0..v.worker_server_num.max(1) {
        let file = format!("{name}.{i}");
        let q = trainyard_client::query::LogQuery {
            log_file: file.clone(),
            lines: Some(FAILURE_TAIL),
            ..Default::default()
        };
        if let Ok(page) = client.read_log(job, v.version_id, &q).await {
            tails.push((i, file, page.content));
        }
    }
    // The shim ends each worker's log with `[trainyard] worker I exited with code N` or
    // `... killed by signal S`, and writes `[trainyard] worker I failed; stopping this worker`
    // into the logs of the siblings it stops: that names the culprit; else the first nonzero.
    let exit_of = |i: i64, content: &str| {
        content.lines().rev().find_map(|l| {
            let rest = l.strip_prefix(&format!("[trainyard] worker {i} "))?;
            let bad = rest.starts_with("killed by signal")
                || rest
                    .strip_prefix("exited with code ")
                    .is_some_and(|c| c.trim() != "0");
            bad.then(|| rest.to_owned())
        })
    };
    let culprit = tails.iter().find_map(|(_, _, content)| {
        content.lines().find_map(|l| {
            l.strip_prefix("[trainyard] worker ")?
                .strip_suffix(" failed; stopping this worker")?
                .parse::<i64>()
                .ok()
        })
    });
    let failed = tails
        .iter()
        .filter(|(i, _, _)| culprit.is_none_or(|c| c == *i))
        .find_map(|(i, file, content)| {
            exit_of(*i, content).map(|rest| (file.clone(), rest, content.clone()))
        });
    let (file, what, content) = match failed {
        Some((file, rest, content)) => {
            let worker = file.rsplit('.').next().unwrap_or("?").to_owned();
            (file, format!(": worker {worker} {rest}"), content)
        }
        None => {
            let (_, file, content) = tails.into_iter().next()?;
            (file, String::new(), content)
        }
    };
    let mut out = what;
    let lines: Vec<&str> = content.lines().collect();
    if !lines.is_empty() {
        out.push_str(&format!("\nlast lines of {file}:"));
        for l in lines {
            out.push_str(&format!("\n  {l}"));
        }
    }
    Some(out)
}

/// How long after a first Ctrl-C a second one stops the version.
const SECOND_INTERRUPT: Duration = Duration::from_secs(2);

/// `--follow`: every worker's log (prefixed by worker index) and the status changes until the
/// version ends, then its outcome. Ctrl-C detaches, saying the job keeps running and how to stop
/// it or re-attach; a second Ctrl-C within 2 s stops the version.
pub async fn follow_version(
    client: &Client,
    job: i64,
    version: i64,
    name: &str,
    workers: i64,
) -> Result<(), CliError> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt())
        .map_err(|e| CliError::Failed(format!("cannot watch for Ctrl-C: {e}")))?;
    let files = (0..workers.max(1) as usize)
        .map(|i| (i, format!("{name}.{i}")))
        .collect();
    let both = async {
        tokio::join!(
            stream_logs(client, job, version, files, true, true, None),
            watch_with_events(client, job, version)
        )
    };
    let (logs, finished) = tokio::select! {
        both = both => both,
        _ = interrupt.recv() => {
            eprintln!(
                "\ndetached: job {job} version {version} keeps running.\n  \
                 stop it:    trainyard jobs stop {job} --version {version}\n  \
                 re-attach:  trainyard jobs logs {job} --version {version} --follow\n\
                 (Ctrl-C again within {}s stops it now)",
                SECOND_INTERRUPT.as_secs()
            );
            return match tokio::time::timeout(SECOND_INTERRUPT, interrupt.recv()).await {
                Ok(_) => {
                    client.stop_version(job, version, None).await?;
                    eprintln!("stopping job {job} version {version}");
                    Err(CliError::Interrupted)
                }
                Err(_) => Err(CliError::Interrupted),
            };
        }
    };
    logs?;
    outcome(client, &finished?, job).await
}

#[cfg(test)]
mod tests {
    use super::tail_start;

    #[test]
    fn the_tail_starts_after_the_right_newline() {
        let text = b"one\ntwo\nthree\n";
        assert_eq!(&text[tail_start(text, 1)..], b"three\n");
        assert_eq!(&text[tail_start(text, 2)..], b"two\nthree\n");
        assert_eq!(tail_start(text, 3), 0);
        assert_eq!(tail_start(text, 10), 0);
        assert_eq!(tail_start(text, 0), text.len());
        let open = b"one\ntwo";
        assert_eq!(&open[tail_start(open, 1)..], b"two");
        assert_eq!(tail_start(b"", 5), 0);
    }
}
