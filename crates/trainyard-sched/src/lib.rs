//! trainyard's scheduler core: the decisions of running jobs, without IO (no runtime, no
//! database, no filesystem), so that each is a function of state and event and is tested in
//! microseconds. It owns:
//!
//! - the queue and capacity of this host, and the queues and caps of pools whose backend
//!   keeps a queue of its own ([`pool`]) ([`Core`], changed by the handlers of [`reactor`],
//!   which leave [`Decision`]s in a [`Comm`] for the executor actor to carry out): queue
//!   order by priority and fair share across projects, project quotas, capacity fit,
//!   leases, stops of queued and running runs ([`fair`]), and why a queued run waits
//!   ([`wait`]), and workflows: runs that wait for other runs' ends and groups (sweeps)
//!   with a concurrency limit ([`dep`]);
//! - the status machine of a version's run ([`status`]): which status each step moves it
//!   from and to, and which status, reason and log line its end records;
//! - the decisions about one run that need its status ([`run`]): admission, recovery after a
//!   restart, stop grace and time left;
//! - whether a failed run is started again ([`retry`]);
//! - run planning without IO ([`plan`]): arguments, command line, mounts and environment;
//! - hang detection of a running run from its log size and usage samples ([`hang`]).
//!
//! The server's executor actor and lifecycle owner drive it: they read the store, launch and
//! stop runs, and record statuses, asking the core for every decision.

pub mod comm;
pub mod core;
pub mod dep;
pub mod fair;
pub mod hang;
pub mod plan;
pub mod pool;
pub mod preempt;
mod queue;
pub mod reactor;
pub mod resources;
pub mod retry;
pub mod run;
pub mod status;
mod victims;
pub mod wait;

pub use crate::comm::{Comm, Decision};
pub use crate::core::{Core, LeaseId, Place, RunId, Ticket};
pub use crate::pool::{Cap, PoolId};
pub use crate::resources::Resources;

#[cfg(test)]
mod tests;
