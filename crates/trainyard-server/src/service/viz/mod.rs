//! Visualization jobs (VJ-01..VJ-07): validation, the store, and one supervising task per
//! active job that runs its TensorBoard (or MindInsight) under the shim.
//!
//! Lifecycle: create/restart -> 1; the task moves it to 7 at once and waits for executor
//! capacity (a [`Lease`](crate::service::executor::Lease)); it starts the server on a free
//! loopback port and moves the job to 8 only once the server answers HTTP. Stop: 9 -> 12 once
//! the shim reports the process group gone. Auto-stop (`schedule`): the deadline is fixed when
//! the job enters 8 and persisted; reaching it stops the server and ends in 10. A server that
//! dies on its own ends in 11 with its output kept in `<run_dir>/server.log`. After a server
//! restart each active job is reattached (shim alive) or started again, keeping its deadline
//! and its `service_url`.
//!
//! `api` answers the API's calls, `supervise` runs one task per active job, `start` starts
//! a server; `context` is what they share. Statuses change through
//! [`lifecycle::viz`](crate::service::lifecycle::viz) alone.

mod api;
mod context;
mod start;
mod supervise;

pub use context::VizContext;
pub use supervise::VizManager;
