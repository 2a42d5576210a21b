//! Streaming worker logs and showing status changes while a version runs.

use crate::output::{self, paint, status};
use crate::CliError;
use bytes::Bytes;
use std::io::IsTerminal;
use std::time::{Duration, Instant};
use trainyard_api::training::VersionInfo;
use trainyard_client::Client;

/// Longest wait when none is given: a week.
pub const FOREVER: Duration = Duration::from_secs(7 * 24 * 3600);

/// Copies the logs `files` (worker index, file name) of a version to stdout until each
/// stream ends: raw when `prefix` is false, else line by line as `[index] line`.
pub async fn stream_logs(
    client: &Client,
    job: i64,
    version: i64,
    files: Vec<(usize, String)>,
    prefix: bool,
    follow: bool,
) -> Result<(), CliError> {
    let (tx, mut rx) =
        tokio::sync::mpsc::channel::<(usize, Result<Option<Bytes>, trainyard_client::Error>)>(64);
    let mut tasks = tokio::task::JoinSet::new();
    for (index, name) in files {
        let mut log = if follow {
            client.follow_log(job, version, &name, 0)
        } else {
            client.read_log_bytes(job, version, &name, 0)
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

/// Exit status of a finished version: success only for COMPLETED.
pub fn outcome(v: &VersionInfo, job: i64) -> Result<(), CliError> {
    if v.status == trainyard_api::JobStatus::COMPLETED.0 {
        Ok(())
    } else {
        Err(CliError::Failed(format!(
            "job {job} version {} ended {}",
            v.version_id,
            status(v.status)
        )))
    }
}
