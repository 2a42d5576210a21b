//! Running the Slurm client commands: short-lived helpers with a timeout.

use super::parse::{parse_sbatch, parse_sinfo, parse_squeue, PartitionFree, SlurmState};
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;
use tokio::process::Command;

const TIMEOUT: Duration = Duration::from_secs(30);

async fn run(program: &str, args: &[&str]) -> Result<String, String> {
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let out = tokio::time::timeout(TIMEOUT, cmd.output())
        .await
        .map_err(|_| format!("{program} timed out"))?
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!("{program} failed: {}", err.trim()));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `sbatch --parsable <script>`: the job id.
pub async fn sbatch(script: &Path) -> Result<u64, String> {
    let out = run("sbatch", &["--parsable", &script.display().to_string()]).await?;
    parse_sbatch(&out).ok_or_else(|| format!("unexpected sbatch output: {}", out.trim()))
}

/// One `squeue` for all `ids`: the state and reason of those Slurm still knows.
pub async fn squeue(ids: &[u64]) -> Result<HashMap<u64, (SlurmState, String)>, String> {
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
        Err(e) if e.contains("Invalid job id") => Ok(HashMap::new()),
        Err(e) => Err(e),
    }
}

/// Ids of the jobs Slurm knows (pending, running or just ended) under the job name `name`.
pub async fn squeue_by_name(name: &str) -> Result<Vec<u64>, String> {
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
pub async fn scancel(id: u64, signal: Option<&str>) -> Result<(), String> {
    let id = id.to_string();
    match signal {
        Some(sig) => run("scancel", &[&format!("--signal={sig}"), &id])
            .await
            .map(drop),
        None => run("scancel", &[&id]).await.map(drop),
    }
}

/// Free resources of a partition.
pub async fn sinfo(partition: &str) -> Result<PartitionFree, String> {
    let out = run("sinfo", &["-h", "-p", partition, "-o", "%C|%e"]).await?;
    parse_sinfo(&out).ok_or_else(|| format!("unexpected sinfo output: {}", out.trim()))
}
