//! Why a queued run waits, and how many runs are ahead of it: what the API, the CLI and the
//! console show of a waiting run.

use crate::dep::{Dep, Group};
use crate::fair::Limit;
use crate::pool::CapLimit;
use crate::resources::Resources;
use std::fmt;

/// A queued run's place and the reason it waits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wait {
    /// Queued runs that go before it: its project's runs ahead of it (higher priority, or
    /// equal and queued earlier) and other projects' runs of higher priority.
    pub ahead: u64,
    /// Why it does not start now.
    pub why: Why,
}

/// Why a queued run does not start now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Why {
    /// Runs of its project, or of higher priority, go first.
    Behind,
    /// Its project holds so much that this run would exceed its quota.
    Quota(Limit),
    /// It is its project's next run, but another project further below its share (at
    /// the same priority) goes first.
    FairShare,
    /// It is the next run to start, and waits for what is missing on this host.
    Capacity(Resources),
    /// A run it depends on has not ended.
    Parent(Dep),
    /// Its group (sweep) has as many runs queued or running as its limit allows.
    Group(Group),
    /// It is the next run for its pool, which has as much submitted as its cap allows.
    PoolCap {
        /// The pool's name.
        pool: String,
        /// The limit reached.
        limit: CapLimit,
    },
}

impl fmt::Display for Wait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.why {
            Why::Behind => match self.ahead {
                1 => f.write_str("1 run ahead"),
                n => write!(f, "{n} runs ahead"),
            },
            Why::Quota(limit) => write!(f, "project at its {limit} quota"),
            Why::FairShare => f.write_str("project over its fair share"),
            Why::Parent(dep) => write!(f, "waiting for {dep}"),
            Why::Group(group) => {
                write!(f, "sweep {} at its concurrency {}", group.id, group.limit)
            }
            Why::PoolCap { pool, limit } => write!(f, "pool {pool} has {limit}"),
            Why::Capacity(missing) => {
                let mut parts = Vec::new();
                if missing.cores > 0 {
                    parts.push(plural(missing.cores, "core"));
                }
                if missing.gpus > 0 {
                    parts.push(plural(missing.gpus, "GPU"));
                }
                if missing.memory_gb > 0 {
                    parts.push(format!("{} GB of memory", missing.memory_gb));
                }
                if parts.is_empty() {
                    // Held back by a lease waiting before it.
                    f.write_str("waiting for capacity on this host")
                } else {
                    write!(f, "waiting for {} on this host", parts.join(", "))
                }
            }
        }
    }
}

impl Why {
    /// A short machine-readable name: `behind`, `quota`, `fair_share`, `capacity`,
    /// `dependency`, `sweep_concurrency`, `pool_limit`.
    pub fn code(&self) -> &'static str {
        match self {
            Why::Behind => "behind",
            Why::Quota(_) => "quota",
            Why::FairShare => "fair_share",
            Why::Capacity(_) => "capacity",
            Why::Parent(_) => "dependency",
            Why::Group(_) => "sweep_concurrency",
            Why::PoolCap { .. } => "pool_limit",
        }
    }
}

fn plural(n: u32, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}
