//! Workflows: dependencies between runs (a run waits for other runs to end, as Slurm's
//! `--dependency=afterok:..`) and groups of runs with a concurrency limit (the runs of a
//! sweep). Both keep a queued run out of the pick until it may start; the types and the
//! pure checks live here, the bookkeeping in [`crate::Core`] and [`crate::reactor`].

use std::collections::{HashMap, HashSet};
use std::fmt;
use trainyard_api::JobStatus;

/// A run's id (its version id), as [`crate::RunId`]; spelled out here so that this module
/// needs nothing of the core's.
type RunId = i64;

/// When a dependent run may start, by its parent's end.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// After the parent completed (10); any other end of it ends the dependent.
    AfterOk,
    /// After the parent ended, however.
    AfterAny,
    /// After the parent failed or was stopped (not 10); its completion ends the dependent.
    AfterFailed,
}

impl Kind {
    /// Every kind, for tables and errors.
    pub const ALL: [Kind; 3] = [Kind::AfterOk, Kind::AfterAny, Kind::AfterFailed];

    /// The wire name: `after_ok`, `after_any`, `after_failed`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::AfterOk => "after_ok",
            Kind::AfterAny => "after_any",
            Kind::AfterFailed => "after_failed",
        }
    }

    /// The kind of a wire name (`afterok` and `afternotok`, Slurm's spellings, too).
    pub fn parse(name: &str) -> Option<Kind> {
        match name {
            "after_ok" | "afterok" => Some(Kind::AfterOk),
            "after_any" | "afterany" => Some(Kind::AfterAny),
            "after_failed" | "afternotok" => Some(Kind::AfterFailed),
            _ => None,
        }
    }

    /// Whether a parent that ended with `outcome` lets the dependent start (else it never
    /// will).
    pub fn met_by(self, outcome: Outcome) -> bool {
        match self {
            Kind::AfterOk => outcome == Outcome::Completed,
            Kind::AfterAny => true,
            Kind::AfterFailed => outcome != Outcome::Completed,
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How a parent run ended, as far as its dependents care.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// It completed (10).
    Completed,
    /// It failed, was lost, or could not start.
    Failed,
    /// It was stopped (or cancelled, or deleted) before it completed.
    Stopped,
}

impl Outcome {
    /// How a version in `status` ended; `None` while it has not.
    pub fn of(status: JobStatus) -> Option<Outcome> {
        if !status.is_terminal() || status == JobStatus::UNKNOWN {
            None
        } else if status == JobStatus::COMPLETED {
            Some(Outcome::Completed)
        } else if status == JobStatus::KILLED || status == JobStatus::CANCELED {
            Some(Outcome::Stopped)
        } else {
            Some(Outcome::Failed)
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Outcome::Completed => "completed",
            Outcome::Failed => "failed",
            Outcome::Stopped => "was stopped",
        })
    }
}

/// One dependency of a run: its parent (the job, for messages, and the version, the run)
/// and when it lets the run start.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Dep {
    /// The parent's job id.
    pub job: i64,
    /// The parent run (its version id).
    pub run: RunId,
    /// When the parent's end lets the dependent start.
    pub kind: Kind,
}

impl fmt::Display for Dep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "job {} version {} ({})", self.job, self.run, self.kind)
    }
}

/// A group of runs (a sweep) of which at most `limit` are queued for capacity or run at
/// once; the others wait held back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Group {
    /// The group's id (the sweep's).
    pub id: i64,
    /// How many of its runs may be queued or run at once (at least 1).
    pub limit: u32,
}

/// Why a dependent run will never start: its parent `dep` ended with `outcome`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NeverMet {
    /// The dependency not met.
    pub dep: Dep,
    /// How its parent ended.
    pub outcome: Outcome,
}

impl fmt::Display for NeverMet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Dep { job, run, kind } = self.dep;
        write!(
            f,
            "dependency never met: job {job} version {run} {} ({kind})",
            self.outcome
        )
    }
}

/// Whether a run that depends on `parents` would close a cycle: some parent is `new`
/// itself, or waits (through its own parents, `parents_of`) for `new`. Returns the first
/// parent that closes one.
pub fn cycle(
    new: RunId,
    parents: &[RunId],
    parents_of: &HashMap<RunId, Vec<RunId>>,
) -> Option<RunId> {
    parents.iter().copied().find(|&p| {
        let mut seen = HashSet::new();
        let mut stack = vec![p];
        while let Some(r) = stack.pop() {
            if r == new {
                return true;
            }
            if seen.insert(r) {
                stack.extend(parents_of.get(&r).into_iter().flatten().copied());
            }
        }
        false
    })
}
