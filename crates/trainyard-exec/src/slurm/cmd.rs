//! Running the Slurm client commands: short-lived helpers with a timeout.

use super::parse::{parse_sbatch, parse_sinfo, parse_squeue, PartitionFree, SlurmState};
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;
use tokio::process::Command;

const TIMEOUT: Duration = Duration::from_secs(30);

/// A Slurm client command that did not do its job; the text is shown to users.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The command did not finish within 30 s.
    #[error("{0} timed out")]
    Timeout(&'static str),
    /// The command could not be started (not installed?).
    #[error("cannot run {program}: {source}")]
    Spawn {
        /// The command.
        program: &'static str,
        /// Why.
        source: std::io::Error,
    },
    /// The command exited with an error; `stderr` is what it said.
    #[error("{program} failed: {stderr}")]
    Failed {
        /// The command.
        program: &'static str,
        /// Its standard error, trimmed.
        stderr: String,
    },
    /// The command's output could not be read.
    #[error("unexpected {program} output: {output}")]
    Unparsable {
        /// The command.
        program: &'static str,
        /// Its output, trimmed.
        output: String,
    },
}

impl From<Error> for crate::submit::SubmitError {
    fn from(e: Error) -> Self {
        Self::Slurm(Box::new(e))
    }
}

async fn run(program: &'static str, args: &[&str]) -> Result<String, Error> {
    let mut cmd = Command::new(program);
    // sbatch hands its own environment to the job: only the search path and locale, never
    // the server's keys and settings.
    cmd.args(args)
        .env_clear()
        .envs(crate::sandbox::clean_env())
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let out = tokio::time::timeout(TIMEOUT, cmd.output())
        .await
        .map_err(|_| Error::Timeout(program))?
        .map_err(|source| Error::Spawn { program, source })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        return Err(Error::Failed { program, stderr });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `sbatch --parsable <script>`: the job id.
pub async fn sbatch(script: &Path) -> Result<u64, Error> {
    let out = run("sbatch", &["--parsable", &script.display().to_string()]).await?;
    parse_sbatch(&out).ok_or_else(|| Error::Unparsable {
        program: "sbatch",
        output: out.trim().to_owned(),
    })
}

/// One `squeue` for all `ids`: the state and reason of those Slurm still knows.
pub async fn squeue(ids: &[u64]) -> Result<HashMap<u64, (SlurmState, String)>, Error> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let list = ids.iter().map(u64::to_string).collect::<Vec<_>>().join(",");
    // squeue fails for a list whose jobs are all unknown; that means "none known".
    match run(
        "squeue",
        &["-h", "-t", "all", "-o", "%i|%T|%r", "-j", &list],
    )
    .await
    {
        Ok(out) => Ok(parse_squeue(&out)),
        Err(Error::Failed { stderr, .. }) if stderr.contains("Invalid job id") => {
            Ok(HashMap::new())
        }
        Err(e) => Err(e),
    }
}

/// Ids of the jobs Slurm knows (pending, running or just ended) under the job name `name`.
pub async fn squeue_by_name(name: &str) -> Result<Vec<u64>, Error> {
    let out = run(
        "squeue",
        &["-h", "-t", "all", "-o", "%i|%T|%r", "--name", name],
    )
    .await?;
    let mut ids: Vec<u64> = parse_squeue(&out).into_keys().collect();
    ids.sort_unstable();
    Ok(ids)
}

/// `scancel [--signal=SIG] <id>`.
pub async fn scancel(id: u64, signal: Option<&str>) -> Result<(), Error> {
    let id = id.to_string();
    match signal {
        Some(sig) => run("scancel", &[&format!("--signal={sig}"), &id])
            .await
            .map(drop),
        None => run("scancel", &[&id]).await.map(drop),
    }
}

/// Free resources of a partition.
pub async fn sinfo(partition: &str) -> Result<PartitionFree, Error> {
    let out = run("sinfo", &["-h", "-p", partition, "-o", "%C|%e"]).await?;
    parse_sinfo(&out).ok_or_else(|| Error::Unparsable {
        program: "sinfo",
        output: out.trim().to_owned(),
    })
}
