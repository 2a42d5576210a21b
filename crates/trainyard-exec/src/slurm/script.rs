//! The batch script submitted with `sbatch`.

use std::path::PathBuf;

/// Folder a Slurm job creates (atomically, `mkdir`) in the run directory to claim the run.
pub const CLAIM_DIR: &str = "slurm-claim";
/// The batch job's output (stdout and stderr of the script and of `srun`) in the run folder.
pub const OUTPUT: &str = "slurm.out";
/// File in [`CLAIM_DIR`] holding the claiming job's id.
pub const CLAIM_JOB: &str = "job";

/// What one Slurm submission asks for.
#[derive(Clone, Debug)]
pub struct SlurmSubmit {
    /// Run directory (on a filesystem shared with the nodes); holds `spec.json`.
    pub run_dir: PathBuf,
    /// Slurm job name.
    pub job_name: String,
    /// Partition.
    pub partition: String,
    /// Account, if any.
    pub account: Option<String>,
    /// QOS, if any.
    pub qos: Option<String>,
    /// Number of workers (tasks).
    pub tasks: u32,
    /// One task per node (`--nodes=N --ntasks-per-node=1`) instead of `--ntasks=N`.
    pub spread_nodes: bool,
    /// Cores per worker.
    pub cpus_per_task: u32,
    /// Memory per worker in MB.
    pub mem_mb_per_task: u64,
    /// GPUs per worker.
    pub gpus_per_task: u32,
    /// Wall-clock limit in seconds.
    pub time_limit_seconds: Option<u64>,
    /// The `trainyard` binary, as the nodes see it.
    pub task_program: PathBuf,
    /// `--nice`: lowers the job in Slurm's queue (0: not set).
    pub nice: u32,
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// A Slurm job name as the batch script sets it (and `squeue --name` matches it).
pub fn clean(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect()
}

/// The batch script: resources as `#SBATCH` lines, then one `srun` running
/// `trainyard slurm-task <run_dir>` per task.
pub fn batch_script(s: &SlurmSubmit) -> String {
    let run_dir = s.run_dir.display().to_string();
    let mut lines = vec![
        "#!/bin/sh".to_owned(),
        format!("#SBATCH --job-name={}", clean(&s.job_name)),
        format!("#SBATCH --partition={}", clean(&s.partition)),
        format!("#SBATCH --output={run_dir}/{OUTPUT}"),
        format!("#SBATCH --chdir={}", run_dir),
        format!("#SBATCH --cpus-per-task={}", s.cpus_per_task.max(1)),
        format!(
            "#SBATCH --mem-per-cpu={}M",
            s.mem_mb_per_task
                .div_ceil(u64::from(s.cpus_per_task.max(1)))
                .max(1)
        ),
    ];
    if s.spread_nodes {
        lines.push(format!("#SBATCH --nodes={}", s.tasks.max(1)));
        lines.push("#SBATCH --ntasks-per-node=1".to_owned());
    } else {
        lines.push(format!("#SBATCH --ntasks={}", s.tasks.max(1)));
    }
    if s.gpus_per_task > 0 {
        lines.push(format!("#SBATCH --gpus-per-task={}", s.gpus_per_task));
    }
    if let Some(t) = s.time_limit_seconds {
        lines.push(format!("#SBATCH --time={}", t.div_ceil(60).max(1)));
    }
    if let Some(a) = &s.account {
        lines.push(format!("#SBATCH --account={}", clean(a)));
    }
    if let Some(q) = &s.qos {
        lines.push(format!("#SBATCH --qos={}", clean(q)));
    }
    if s.nice > 0 {
        lines.push(format!("#SBATCH --nice={}", s.nice));
    }
    // The claim: of several Slurm jobs submitted for one run (a resubmission after a server
    // crash), only the first to start runs tasks; it records its id for the server. A run
    // stopped before any job started (stop.json) runs nothing.
    let claim = quote(&format!("{run_dir}/{CLAIM_DIR}"));
    lines.push(format!(
        "mkdir {claim} 2>/dev/null || {{ echo 'trainyard: another Slurm job claimed this run'; exit 0; }}"
    ));
    lines.push(format!(
        "echo \"$SLURM_JOB_ID\" > {}",
        quote(&format!("{run_dir}/{CLAIM_DIR}/{CLAIM_JOB}"))
    ));
    lines.push(format!(
        "[ -e {} ] && {{ echo 'trainyard: stopped before it started'; exit 0; }}",
        quote(&format!("{run_dir}/{}", crate::run_dir::STOP))
    ));
    lines.push(format!(
        "exec srun --kill-on-bad-exit=1 {} slurm-task {}",
        quote(&s.task_program.display().to_string()),
        quote(&run_dir)
    ));
    lines.join("\n") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_become_sbatch_lines() {
        let s = SlurmSubmit {
            run_dir: "/shared/runs/7".into(),
            job_name: "ty-7 x".into(),
            partition: "debug".into(),
            account: Some("acct".into()),
            qos: None,
            tasks: 2,
            spread_nodes: false,
            cpus_per_task: 2,
            mem_mb_per_task: 3000,
            gpus_per_task: 1,
            time_limit_seconds: Some(61),
            task_program: "/usr/bin/trainyard".into(),
            nice: 200,
        };
        let text = batch_script(&s);
        for line in [
            "#SBATCH --job-name=ty-7x",
            "#SBATCH --ntasks=2",
            "#SBATCH --cpus-per-task=2",
            "#SBATCH --mem-per-cpu=1500M",
            "#SBATCH --gpus-per-task=1",
            "#SBATCH --time=2",
            "#SBATCH --account=acct",
            "#SBATCH --nice=200",
            "mkdir '/shared/runs/7/slurm-claim' 2>/dev/null || { echo 'trainyard: another Slurm job claimed this run'; exit 0; }",
            "echo \"$SLURM_JOB_ID\" > '/shared/runs/7/slurm-claim/job'",
            "exec srun --kill-on-bad-exit=1 '/usr/bin/trainyard' slurm-task '/shared/runs/7'",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line}:\n{text}");
        }
        let spread = batch_script(&SlurmSubmit {
            spread_nodes: true,
            ..s
        });
        assert!(spread.contains("#SBATCH --nodes=2\n#SBATCH --ntasks-per-node=1\n"));
    }
}
