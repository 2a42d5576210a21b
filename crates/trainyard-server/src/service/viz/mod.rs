//! Visualization jobs.

mod supervise;

pub use supervise::{VizContext, VizManager};
