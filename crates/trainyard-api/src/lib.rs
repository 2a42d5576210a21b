//! Wire types of the ModelArts training-management v1 API as trainyard speaks it.
//!
//! Input types are lenient (numbers as strings, aliases, unknown fields ignored); output types
//! are strict (numbers as numbers, unset fields as `null`). The endpoints, statuses and
//! these rules are in `docs/api.md`.

pub mod catalog;
pub mod error;
pub mod events;
pub mod extensions;
pub mod lenient;
pub mod signature;
pub mod status;
pub mod sweeps;
pub mod training;
pub mod training_config;
pub mod usage;
pub mod v2;
pub mod visualization;
pub mod webhooks;

pub use error::{ErrorBody, ErrorCode};
pub use status::JobStatus;
