//! Pools whose backend keeps a queue of its own (a Slurm partition): trainyard still decides
//! what it hands them, and in which order. Each pool has a queue like this host's (per
//! project, by priority then arrival), a cap on what may be submitted to it at once (none:
//! no limit), and each project's usage within it for fair share.
//!
//! The rule (docs/slurm.md "What is trainyard's and what is Slurm's"): a pool's next run is
//! picked as on the host ([`crate::fair`]: quota, priority, usage / weight, running share /
//! weight, arrival), where a project's quota counts what its runs hold on this host and on
//! every pool together, and its usage is the part of the pool's cap its submitted runs hold.
//! The run picked is submitted once the cap has room; while it waits, nothing behind it in
//! that pool is submitted. A pool with nothing submitted takes its next run whatever its size,
//! so a run larger than the cap is submitted alone rather than never.

use crate::fair::Usage;
use crate::queue::Queue;
use crate::resources::Resources;
use std::fmt;

/// A pool's index, as [`crate::Core::add_pool`] returned it.
pub type PoolId = usize;

/// What a pool may have submitted at once (runs handed over and not ended); `None`: no
/// limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cap {
    /// Runs.
    pub runs: Option<u32>,
    /// Cores, all their workers' together.
    pub cores: Option<u32>,
}

/// The limit of its pool's cap that a run waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CapLimit {
    /// The pool has this many runs submitted, its limit.
    Runs(u32),
    /// The pool has `held` cores submitted, and one more run would pass its `limit`.
    Cores {
        /// Cores submitted now.
        held: u32,
        /// The cap.
        limit: u32,
    },
}

impl Cap {
    /// The limit a run needing `demand` would pass when the pool has `held` submitted in
    /// `runs` runs; `None` when it fits, and always when nothing is submitted (a run larger
    /// than the cap goes alone).
    pub fn exceeded_by(&self, held: Resources, runs: u32, demand: Resources) -> Option<CapLimit> {
        if runs == 0 {
            return None;
        }
        match (self.runs, self.cores) {
            (Some(limit), _) if runs >= limit => Some(CapLimit::Runs(runs)),
            (_, Some(limit))
                if u64::from(held.cores) + u64::from(demand.cores) > u64::from(limit) =>
            {
                Some(CapLimit::Cores {
                    held: held.cores,
                    limit,
                })
            }
            _ => None,
        }
    }

    /// The part of the cap that `held` in `runs` runs takes: the larger of its runs' and its
    /// cores' fractions; without a cap, the cores held (only compared within one pool).
    pub fn share(&self, held: Resources, runs: u32) -> f64 {
        let parts = [(runs, self.runs), (held.cores, self.cores)];
        if parts.iter().all(|(_, limit)| limit.is_none()) {
            return f64::from(held.cores);
        }
        parts
            .into_iter()
            .filter_map(|(have, limit)| Some(f64::from(have) / f64::from(limit?.max(1))))
            .fold(0.0, f64::max)
    }
}

impl fmt::Display for CapLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CapLimit::Runs(1) => f.write_str("1 run submitted, its limit"),
            CapLimit::Runs(n) => write!(f, "{n} runs submitted, its limit"),
            CapLimit::Cores { held, limit } => {
                write!(f, "{held} cores submitted, its limit {limit}")
            }
        }
    }
}

/// What one project's runs hold in a pool, and its usage there.
#[derive(Clone, Debug, Default)]
pub(crate) struct Holding {
    pub(crate) held: Resources,
    pub(crate) runs: u32,
    pub(crate) usage: Usage,
    /// The part of the cap it holds now (the rate its usage grows at).
    pub(crate) rate: f64,
}

/// A pool with a queue of its own, as the scheduler sees it.
#[derive(Clone, Debug)]
pub(crate) struct Pool<R> {
    /// Its name, for the reasons its waiting runs give.
    pub(crate) name: String,
    pub(crate) cap: Cap,
    /// Runs waiting to be submitted to it.
    pub(crate) queue: Queue<R>,
    /// What is submitted to it now, and in how many runs.
    pub(crate) held: Resources,
    pub(crate) runs: u32,
    /// Per project (by the core's index), what it holds here.
    pub(crate) projects: Vec<Holding>,
}

impl<R> Pool<R> {
    pub(crate) fn new(name: &str, cap: Cap) -> Self {
        Self {
            name: name.to_owned(),
            cap,
            queue: Queue::default(),
            held: Resources::default(),
            runs: 0,
            projects: Vec::new(),
        }
    }

    /// Project `p`'s holding here (an empty one when it never had a run here).
    pub(crate) fn holding(&self, p: usize) -> Holding {
        self.projects.get(p).cloned().unwrap_or_default()
    }

    /// Project `p`'s usage here at `now`.
    pub(crate) fn usage_of(&self, p: usize, now: i64, half_life_ms: Option<i64>) -> f64 {
        let h = self.holding(p);
        h.usage.at(now, h.rate, half_life_ms)
    }

    /// Project `p`'s runs here hold `demand` more (`add`) or less; its usage is settled first.
    pub(crate) fn hold(
        &mut self,
        p: usize,
        demand: Resources,
        add: bool,
        now: i64,
        half_life_ms: Option<i64>,
    ) {
        if self.projects.len() <= p {
            self.projects.resize_with(p + 1, Holding::default);
        }
        let cap = self.cap;
        let h = &mut self.projects[p];
        h.usage.settle(now, h.rate, half_life_ms);
        if add {
            h.held = h.held.plus(&demand);
            h.runs += 1;
            self.held = self.held.plus(&demand);
            self.runs += 1;
        } else {
            h.held = h.held.minus(&demand);
            h.runs = h.runs.saturating_sub(1);
            self.held = self.held.minus(&demand);
            self.runs = self.runs.saturating_sub(1);
        }
        h.rate = cap.share(h.held, h.runs);
    }

    /// The limit of the cap that queued run `demand` waits for, if any.
    pub(crate) fn full_for(&self, demand: Resources) -> Option<CapLimit> {
        self.cap.exceeded_by(self.held, self.runs, demand)
    }
}
