//! The crate's error type.

/// Errors of the local executor.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file in the run directory could not be read or written, or a process could not be spawned.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// The shim could not be started.
    #[error("cannot start the run supervisor: {0}")]
    Spawn(String),
    /// A JSON file in the run directory could not be encoded or decoded.
    #[error("invalid run file: {0}")]
    Json(#[from] serde_json::Error),
    /// Sending a signal failed for a reason other than "no such process".
    #[error("cannot signal process: {0}")]
    Signal(#[from] nix::errno::Errno),
}

/// `Result` with this crate's [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
