//! Preemption (off by default): when the run the core would start next cannot fit on this
//! host, running runs of strictly lower priority that have run at least the minimum runtime
//! are stopped to make room, and the capacity they free is held for that run.
//!
//! The rule (docs/user-guide.md "Preemption"): candidates are the runs here that may be
//! preempted (their ticket says so: the driver sets it from their pool's `preemption`), of a
//! priority below the waiting run's, that have run `min_runtime` since their (latest) start
//! and are not being stopped already. The waiting run may be of any pool: a pool's setting
//! says whether *its* runs give way. Runs of projects over their fair share come first (a project's
//! dominant share held here above its weight's part of the projects that run or wait
//! here), then lower priority, then the run started last (it loses the least work). Within
//! that order the smallest run that frees enough alone is taken; else the largest, and the
//! choice goes on until enough is free. When the candidates together cannot free enough,
//! none is stopped. No loop: a run started again keeps `min_runtime` before it can be
//! preempted again, and a preempted run has a lower priority than its preemptor, so it
//! never preempts it back.
//!
//! This module holds the policy and what preemption keeps; [`crate::victims`] decides.

use crate::resources::Resources;
use std::collections::HashMap;
use std::time::Duration;

/// A run's id (the core's `RunId`; named here so that this module needs no other).
type RunId = i64;

/// How preemption works on this host, when it is on (for the runs that may be preempted).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// How long a run runs after its start before it may be preempted, ms.
    pub min_runtime_ms: i64,
    /// The SIGTERM-to-SIGKILL grace a preempted run gets (to write its checkpoint).
    pub grace: Duration,
}

/// What preemption keeps: its policy, the runs being stopped and the capacity held back.
#[derive(Clone, Debug, Default)]
pub(crate) struct State {
    pub(crate) policy: Option<Policy>,
    /// Runs being stopped for a preemptor: victim -> preemptor.
    pub(crate) victims: HashMap<RunId, RunId>,
    /// Capacity held for preemptors still queued: preemptor -> its demand.
    pub(crate) reserved: HashMap<RunId, Resources>,
}
