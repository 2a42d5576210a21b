//! The CLI crate's integration tests: one test binary (ripgrep's `tests/tests.rs` layout), one
//! module per suite, the harness in `harness`. Suites run side by side in this one process, so
//! none of them may change process-wide state (environment, working folder, umask) or hold a
//! fixed port or path; what only one test at a time may use (the Slurm dev cluster) is behind
//! the harness's lock.

#![recursion_limit = "256"]

mod harness;

mod after_a_minute;
mod api_samples;
mod api_v2;
mod backends;
mod cli;
mod cli_ux;
mod cli_viz;
mod console;
mod containers;
mod events;
mod execution;
mod faults;
mod front_doors;
mod isolation;
mod job_list;
mod logs;
mod metrics;
mod notifications;
mod object_storage;
mod operations;
mod preemption;
mod python_sdk;
mod readme;
mod replica_reads;
mod replicas;
mod request_fields;
mod resources;
mod restart;
mod retries;
mod s3_checkpoints;
mod s3_hardening;
mod scheduling;
mod security_and_errors;
mod slurm;
mod streams_and_quotas;
mod usage;
mod version_details;
mod visualization;
mod workflows;
