//! trainyard-viz: the pieces behind visualization jobs that need no web framework.
//!
//! - [`server`]: the command line of a TensorBoard (or MindInsight) server for one job, as a
//!   [`trainyard_exec::RunSpec`] with one worker, so it runs under the same shim as training
//!   jobs (own process group, stderr kept in a log, reattached after a server restart).
//! - [`probe`]: readiness = the server answers HTTP on its loopback port.
//! - [`proxy`]: a streaming reverse proxy to that port (hop-by-hop headers stripped).
//! - [`access`]: the per-job secret of `service_url` and the cookie it is traded for.

#![warn(missing_docs)]

pub mod access;
pub mod probe;
pub mod proxy;
pub mod server;

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The upstream server could not be reached or answered garbage.
    #[error("upstream: {0}")]
    Upstream(String),
    /// A request could not be rewritten for the upstream.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// No free loopback port.
    #[error("no free port: {0}")]
    Port(#[source] std::io::Error),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A loopback port that is free right now (the kernel picks it).
pub fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(Error::Port)?;
    Ok(l.local_addr().map_err(Error::Port)?.port())
}
