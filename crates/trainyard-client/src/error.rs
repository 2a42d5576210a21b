//! What a call can fail with.

/// Result of a client call.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every way a call fails.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The server answered with a ModelArts error body.
    #[error("{code}: {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// `ModelArts.NNNN`.
        code: String,
        /// `error_message`.
        message: String,
    },
    /// No connection could be made to the server.
    #[error("cannot reach the server at {url}")]
    Unreachable {
        /// The server's base URL.
        url: String,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// The connection broke or timed out during a call.
    #[error("the connection to the server failed")]
    Transport(#[source] reqwest::Error),
    /// The answer was not what the API promises.
    #[error("unexpected answer (HTTP {status}): {detail}")]
    Unexpected {
        /// HTTP status.
        status: u16,
        /// What was wrong, with the start of the body.
        detail: String,
    },
    /// A wait ran past its deadline.
    #[error("timed out after {0:?} waiting for {1}")]
    Timeout(std::time::Duration, String),
    /// A local file could not be read (upload).
    #[error("{path}: {source}")]
    Local {
        /// The local path.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A request could not be built from the arguments.
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    /// The `ModelArts.NNNN` code of an API error.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    /// Whether the server could not be reached at all (or went away mid-call).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Self::Unreachable { .. } | Self::Transport(_))
    }
}
