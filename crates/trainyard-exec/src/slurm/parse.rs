//! Pure parsers of Slurm command output. They never panic, whatever the input.

use std::collections::HashMap;

/// Job state as `squeue -o %T` prints it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SlurmState {
    /// Waiting for resources.
    Pending,
    /// Running (also CONFIGURING, COMPLETING, SUSPENDED...: not ended yet).
    Running,
    /// Ended successfully.
    Completed,
    /// Ended with a failure: the name Slurm gave (FAILED, TIMEOUT, OUT_OF_MEMORY, NODE_FAIL...).
    Failed(String),
    /// Cancelled.
    Cancelled,
}

impl SlurmState {
    /// From the `%T` text.
    pub fn parse(text: &str) -> Option<Self> {
        let t = text.trim();
        // `CANCELLED by 0` in some outputs.
        let word = t.split_whitespace().next()?;
        Some(match word {
            "PENDING" | "REQUEUED" | "REQUEUE_HOLD" | "REQUEUE_FED" | "RESV_DEL_HOLD" => {
                Self::Pending
            }
            "RUNNING" | "CONFIGURING" | "COMPLETING" | "SUSPENDED" | "STOPPED" | "RESIZING"
            | "SIGNALING" | "STAGE_OUT" => Self::Running,
            "COMPLETED" => Self::Completed,
            "CANCELLED" => Self::Cancelled,
            "FAILED" | "TIMEOUT" | "OUT_OF_MEMORY" | "NODE_FAIL" | "BOOT_FAIL" | "DEADLINE"
            | "PREEMPTED" | "SPECIAL_EXIT" | "REVOKED" => Self::Failed(word.to_owned()),
            _ => return None,
        })
    }

    /// Whether the job has ended.
    pub fn is_final(&self) -> bool {
        matches!(self, Self::Completed | Self::Failed(_) | Self::Cancelled)
    }
}

/// Job id from `sbatch --parsable` output (`123` or `123;cluster`).
pub fn parse_sbatch(out: &str) -> Option<u64> {
    let line = out.lines().map(str::trim).find(|l| !l.is_empty())?;
    line.split(';').next()?.trim().parse().ok()
}

/// `squeue -h -t all -o '%i|%T|%r'` lines: job id -> (state, reason). Unparsable lines and
/// job-array or step ids are skipped.
pub fn parse_squeue(out: &str) -> HashMap<u64, (SlurmState, String)> {
    let mut jobs = HashMap::new();
    for line in out.lines() {
        let mut parts = line.trim().splitn(3, '|');
        let (Some(id), Some(state)) = (parts.next(), parts.next()) else {
            continue;
        };
        let Ok(id) = id.trim().parse::<u64>() else {
            continue;
        };
        let Some(state) = SlurmState::parse(state) else {
            continue;
        };
        let reason = parts.next().unwrap_or("").trim().to_owned();
        jobs.insert(id, (state, reason));
    }
    jobs
}

/// Free resources of a partition from `sinfo -h -p P -o '%C|%e'` (CPUs as A/I/O/T, free MB);
/// summed over lines (one per node state group).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PartitionFree {
    /// Idle CPUs.
    pub idle_cpus: u64,
    /// Total CPUs.
    pub total_cpus: u64,
    /// Free memory in MB.
    pub free_mem_mb: u64,
}

/// See [`PartitionFree`].
pub fn parse_sinfo(out: &str) -> Option<PartitionFree> {
    let mut total = PartitionFree::default();
    let mut any = false;
    for line in out.lines().filter(|l| !l.trim().is_empty()) {
        let (cpus, mem) = line.trim().split_once('|')?;
        let nums: Vec<u64> = cpus
            .split('/')
            .map(|n| n.trim().parse().ok())
            .collect::<Option<_>>()?;
        let [_, idle, _, all] = nums.as_slice() else {
            return None;
        };
        total.idle_cpus = total.idle_cpus.checked_add(*idle)?;
        total.total_cpus = total.total_cpus.checked_add(*all)?;
        // `N/A` when unknown.
        total.free_mem_mb = total
            .free_mem_mb
            .saturating_add(mem.trim().parse().unwrap_or(0));
        any = true;
    }
    any.then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn real_outputs() {
        assert_eq!(parse_sbatch("42\n"), Some(42));
        assert_eq!(parse_sbatch("42;cluster\n"), Some(42));
        assert_eq!(
            parse_sbatch("sbatch: error: Batch job submission failed"),
            None
        );
        let q = parse_squeue("1|PENDING|Resources\n2|RUNNING|None\n3|COMPLETED|None\n4|CANCELLED by 0|None\n5|TIMEOUT|TimeLimit\n7_1|RUNNING|None\n");
        assert_eq!(q[&1], (SlurmState::Pending, "Resources".into()));
        assert_eq!(q[&2].0, SlurmState::Running);
        assert_eq!(q[&3].0, SlurmState::Completed);
        assert_eq!(q[&4].0, SlurmState::Cancelled);
        assert_eq!(q[&5].0, SlurmState::Failed("TIMEOUT".into()));
        assert_eq!(q.len(), 5);
        assert_eq!(
            parse_sinfo("0/2/0/2|15255\n"),
            Some(PartitionFree {
                idle_cpus: 2,
                total_cpus: 2,
                free_mem_mb: 15255
            })
        );
        assert_eq!(
            parse_sinfo("1/1/0/2|N/A\n2/2/0/4|100\n").map(|p| (
                p.idle_cpus,
                p.total_cpus,
                p.free_mem_mb
            )),
            Some((3, 6, 100))
        );
        assert_eq!(parse_sinfo("garbage"), None);
        assert_eq!(parse_sinfo(""), None);
    }

    proptest! {
        #[test]
        fn parsers_never_panic(s in "\\PC*") {
            let _ = parse_sbatch(&s);
            let _ = parse_squeue(&s);
            let _ = parse_sinfo(&s);
            let _ = SlurmState::parse(&s);
        }

        #[test]
        fn squeue_lines_round_trip(id in 1u64..u64::MAX, idx in 0usize..5, reason in "[A-Za-z]{0,12}") {
            let states = ["PENDING", "RUNNING", "COMPLETED", "CANCELLED", "FAILED"];
            let parsed = parse_squeue(&format!("{id}|{}|{reason}\n", states[idx]));
            prop_assert_eq!(parsed.len(), 1);
            prop_assert_eq!(&parsed[&id].1, &reason);
        }

        #[test]
        fn sbatch_ids_round_trip(id in 0u64..u64::MAX, cluster in proptest::option::of("[a-z]{1,8}")) {
            let out = match cluster { Some(c) => format!("{id};{c}\n"), None => format!("{id}\n") };
            prop_assert_eq!(parse_sbatch(&out), Some(id));
        }
    }
}
