//! The test harness, split by concern: [`server`] (servers under test), [`api`] (clients of
//! them), [`cli`] (the `trainyard` binary), [`config`] (what they are configured with), [`wait`] (polling real conditions with
//! a deadline), [`fixtures`] (folders, apps, images, the Slurm dev cluster) and [`load`] (the
//! CPU the suites share: measurements run while nothing heavy does). The suites take all of
//! it with `use crate::harness::*`.

pub mod api;
pub mod cli;
pub mod config;
pub mod fixtures;
pub mod load;
pub mod server;
pub mod wait;

pub use api::*;
pub use cli::*;
pub use config::*;
pub use fixtures::*;
pub use load::*;
pub use server::*;
pub use trainyard_api::JobStatus;
pub use wait::*;
