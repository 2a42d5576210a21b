//! trainyard-exec: runs a training job's workers as real processes under a small supervisor
//! process of ours (the *shim*), so runs survive a restart or `kill -9` of the server; and pages
//! through log files by line.
//!
//! A run lives in a run directory:
//!
//! | file           | written by | content                                   |
//! |----------------|------------|-------------------------------------------|
//! | `spec.json`    | [`launch`] | [`RunSpec`]                               |
//! | `shim.json`    | shim       | [`ShimRecord`], the claim, created once; then one [`WorkerRecord`] a line |
//! | `stop.json`    | [`request_stop`] | [`StopRequest`]                     |
//! | `exit.json`    | shim       | [`RunExit`], written last and atomically  |
//! | `shim.log`     | shim       | its stdout/stderr: its log, server's level |
//! | `metrics.jsonl`| shim       | resource samples, see [`metrics`]          |
//!
//! No stored PID is ever signalled without checking its start time in `/proc` (PID reuse).

#![warn(missing_docs)]

mod attach;
pub mod backend;
pub mod beneath;
pub mod checkpoint;
pub mod container;
mod error;
mod launch;
pub mod local;
pub mod logs;
pub mod metrics;
pub mod netns;
pub mod objects;
pub mod proc;
pub mod run_dir;
pub mod sandbox;
mod shim;
mod signal;
pub mod slurm;
mod spare;
mod spec;
mod stop;
mod submit;

pub use attach::{reattach, Attach};
pub use container::{ContainerError, ContainerRecord};
pub use error::{Error, Result};
pub use launch::{launch, reset_run_dir, Running};
pub use sandbox::RunAs;
pub use shim::{run_shim, run_shim_durable, run_spare_shim, CLAIM_LOST};
pub use spare::{Shims, RUN_DIR_ON_STDIN};
pub use spec::{
    ContainerSpec, ExecHandle, LogLimit, Mount, Network, ObjectInput, ObjectOutput, ObjectSync,
    RunExit, RunHandle, RunOutcome, RunSpec, ShimRecord, StopRequest, WorkerExit, WorkerRecord,
    WorkerSpec,
};
pub use stop::{kill_run, request_stop};
