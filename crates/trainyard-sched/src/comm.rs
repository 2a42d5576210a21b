//! Decisions out: what the handlers of [`crate::reactor`] ask their driver to do, in order.

use crate::core::{LeaseId, RunId};
use crate::dep::NeverMet;
use std::collections::VecDeque;
use std::time::Duration;

/// One thing the driver is to do. `R` is its route to a run, as given to the core.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision<R> {
    /// Start run `id` on `route` with these GPU indices (its version 1/7 -> 4, then prepare
    /// and submit it). The run holds its capacity from now on: report
    /// [`crate::reactor::on_start_refused`] when its version was no longer pending, and
    /// [`crate::reactor::on_ended`] once it is over (or failed to start).
    Start {
        /// The run.
        id: RunId,
        /// GPUs handed to it (none for a backend that places runs itself).
        gpus: Vec<u32>,
        /// Its route.
        route: R,
    },
    /// Mark run `id`'s version waiting (1 -> 7): it is queued behind others.
    MarkWaiting {
        /// The run.
        id: RunId,
    },
    /// Stop the running run `id` on `route`: SIGTERM, SIGKILL after `grace`. Its end is
    /// reported as usual.
    StopRun {
        /// The run.
        id: RunId,
        /// Its route.
        route: R,
        /// Time between SIGTERM and SIGKILL.
        grace: Duration,
    },
    /// Preempt the running run `id` on `route` for queued run `by`: record why (it goes back
    /// to the queue as its version's next attempt once it ends), then stop it: SIGTERM,
    /// SIGKILL after `grace`. Its end is reported as usual; what it frees is held for `by`.
    Preempt {
        /// The run stopped.
        id: RunId,
        /// The queued run it makes room for.
        by: RunId,
        /// Its route.
        route: R,
        /// Time between SIGTERM and SIGKILL.
        grace: Duration,
    },
    /// Record that run `id` was stopped before anything of it ran (9 -> 12).
    StoppedBeforeStart {
        /// The run.
        id: RunId,
    },
    /// Run `id` waited for a parent that ended in a way that never lets it start: record
    /// its end (1/7 -> 13, the reason naming the parent). The core forgot it.
    DependencyNeverMet {
        /// The run.
        id: RunId,
        /// Which parent, and how it ended.
        why: NeverMet,
    },
    /// Tell the holder of lease `lease` that it is granted. When nobody waits for it any more,
    /// report [`crate::reactor::on_release`].
    Grant {
        /// The lease.
        lease: LeaseId,
    },
}

/// The decisions made and not yet carried out, first made first.
#[derive(Debug)]
pub struct Comm<R> {
    decisions: VecDeque<Decision<R>>,
}

impl<R> Default for Comm<R> {
    fn default() -> Self {
        Self {
            decisions: VecDeque::new(),
        }
    }
}

impl<R> Comm<R> {
    /// An empty one.
    pub fn new() -> Self {
        Self::default()
    }

    pub(crate) fn push(&mut self, decision: Decision<R>) {
        self.decisions.push_back(decision);
    }

    /// The next decision to carry out.
    pub fn pop(&mut self) -> Option<Decision<R>> {
        self.decisions.pop_front()
    }

    /// All decisions made so far, emptying it.
    pub fn take(&mut self) -> Vec<Decision<R>> {
        self.decisions.drain(..).collect()
    }

    /// Whether nothing is left to carry out.
    pub fn is_empty(&self) -> bool {
        self.decisions.is_empty()
    }
}
