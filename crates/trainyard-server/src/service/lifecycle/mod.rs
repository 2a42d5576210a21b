//! The lifecycle of runs.

mod version;

pub use version::*;
