//! The scheduler's state: this host's capacity, the queue of runs waiting for it, and what
//! runs and leases hold. Changed only by the handlers of [`crate::reactor`]; read by anyone.

use crate::resources::Resources;
use std::collections::{HashMap, VecDeque};

/// The server's id of a run (its version id).
pub type RunId = i64;

/// The id of a lease: resources held outside the training queue (a visualization server).
pub type LeaseId = u64;

/// Where a run's capacity comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// This host: it waits in the queue until `demand` is free here.
    Here(Resources),
    /// A backend with a queue of its own (a Slurm partition): handed over at once, holding
    /// nothing here.
    Backend,
}

/// A run waiting in the queue.
#[derive(Clone, Debug)]
pub(crate) struct Queued<R> {
    pub(crate) id: RunId,
    pub(crate) demand: Resources,
    /// Its version is in 7 already (or the decision to move it there was made).
    pub(crate) marked_waiting: bool,
    pub(crate) route: R,
}

/// What a run being started, or running, holds until its end is reported.
#[derive(Clone, Debug)]
pub(crate) struct Held<R> {
    pub(crate) demand: Resources,
    pub(crate) gpus: Vec<u32>,
    pub(crate) route: R,
}

/// The scheduler's state. `R` is the driver's route to a run (its backend and run directory,
/// say): the core keeps it with the run and hands it back in the decisions that need it,
/// and never looks inside.
#[derive(Clone, Debug)]
pub struct Core<R> {
    pub(crate) total: Resources,
    /// What runs and leases hold now; may exceed the total after a restart that found more
    /// running than fits (or a smaller configuration). Free is derived from it, never kept
    /// apart, so taking and giving back can never drift.
    pub(crate) used: Resources,
    /// The GPU indices configured.
    pub(crate) gpus: Vec<u32>,
    /// GPU indices nobody holds, handed out from the front.
    pub(crate) free_gpus: Vec<u32>,
    /// Runs waiting for this host's capacity, first come first served.
    pub(crate) queue: VecDeque<Queued<R>>,
    /// Runs started (or found running after a restart) and not reported ended.
    pub(crate) running: HashMap<RunId, Held<R>>,
    /// Leases waiting for capacity; served before the queue, first come first served.
    pub(crate) lease_queue: VecDeque<(LeaseId, Resources)>,
    /// Leases granted and not released.
    pub(crate) leases: HashMap<LeaseId, Resources>,
}

impl<R> Core<R> {
    /// An empty core: nothing queued or held, `total` to hand out, `gpus` its GPU indices.
    pub fn new(total: Resources, gpus: Vec<u32>) -> Self {
        Self {
            total,
            used: Resources::default(),
            free_gpus: gpus.clone(),
            gpus,
            queue: VecDeque::new(),
            running: HashMap::new(),
            lease_queue: VecDeque::new(),
            leases: HashMap::new(),
        }
    }

    /// All there is.
    pub fn total(&self) -> Resources {
        self.total
    }

    /// What runs and leases hold (may exceed [`Self::total`], see [`crate::reactor::on_adopt`]).
    pub fn used(&self) -> Resources {
        self.used
    }

    /// The total less what is held (nothing when more is held than there is).
    pub fn free(&self) -> Resources {
        self.total.minus(&self.used)
    }

    /// GPU indices free now, in the order they are handed out.
    pub fn free_gpus(&self) -> &[u32] {
        &self.free_gpus
    }

    /// Whether run `id` waits in the queue or holds capacity (is being started or runs).
    pub fn knows(&self, id: RunId) -> bool {
        self.is_queued(id) || self.running.contains_key(&id)
    }

    /// Whether run `id` waits in the queue.
    pub fn is_queued(&self, id: RunId) -> bool {
        self.queue.iter().any(|q| q.id == id)
    }

    /// Whether run `id` is being started or runs.
    pub fn is_running(&self, id: RunId) -> bool {
        self.running.contains_key(&id)
    }

    /// The queue, front first.
    pub fn queued(&self) -> impl Iterator<Item = RunId> + '_ {
        self.queue.iter().map(|q| q.id)
    }

    /// The runs being started or running.
    pub fn running(&self) -> impl Iterator<Item = RunId> + '_ {
        self.running.keys().copied()
    }

    /// The leases granted and not released.
    pub fn granted(&self) -> impl Iterator<Item = LeaseId> + '_ {
        self.leases.keys().copied()
    }

    /// What run `id` holds: its demand and GPUs, while it is being started or runs.
    pub fn held_by(&self, id: RunId) -> Option<(Resources, &[u32])> {
        self.running.get(&id).map(|h| (h.demand, &h.gpus[..]))
    }

    /// What lease `id` holds, once granted.
    pub fn lease(&self, id: LeaseId) -> Option<Resources> {
        self.leases.get(&id).copied()
    }

    /// Whether lease `id` waits for capacity.
    pub fn lease_waits(&self, id: LeaseId) -> bool {
        self.lease_queue.iter().any(|(l, _)| *l == id)
    }

    /// Checks the bookkeeping: `used` is exactly what runs and leases hold, no GPU is both
    /// free and held or held twice, only configured GPUs are free, and nothing waits twice.
    /// For tests and debug checks.
    pub fn check(&self) -> Result<(), String> {
        let held = self
            .running
            .values()
            .map(|h| h.demand)
            .chain(self.leases.values().copied())
            .fold(Resources::default(), |sum, d| sum.plus(&d));
        if held != self.used {
            return Err(format!("used {:?} but held {held:?}", self.used));
        }
        let mut gpus: Vec<u32> = self
            .running
            .values()
            .flat_map(|h| h.gpus.iter().copied())
            .chain(self.free_gpus.iter().copied())
            .collect();
        gpus.sort_unstable();
        if let Some(w) = gpus.windows(2).find(|w| w[0] == w[1]) {
            return Err(format!("GPU {} is counted twice", w[0]));
        }
        if let Some(g) = self.free_gpus.iter().find(|g| !self.gpus.contains(g)) {
            return Err(format!("GPU {g} is free but not configured"));
        }
        let mut ids: Vec<RunId> = self.queued().collect();
        ids.sort_unstable();
        if ids.windows(2).any(|w| w[0] == w[1]) || ids.iter().any(|id| self.is_running(*id)) {
            return Err("a run is queued twice, or queued and running".to_owned());
        }
        if let Some((l, _)) = self
            .lease_queue
            .iter()
            .find(|(l, _)| self.leases.contains_key(l))
        {
            return Err(format!("lease {l} waits and is granted"));
        }
        Ok(())
    }
}
