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

/// A loopback port that is free right now (the kernel picks it). It is free only now: the
/// server that is given it binds it later, and another process may take it meanwhile (see
/// [`port_in_use`]).
pub fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(Error::Port)?;
    Ok(l.local_addr().map_err(Error::Port)?.port())
}

/// Whether another socket holds loopback `port` (binding it fails with `AddrInUse`).
pub fn port_in_use(port: u16) -> bool {
    matches!(
        std::net::TcpListener::bind(("127.0.0.1", port)),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bound_port_is_in_use_and_a_released_one_is_not() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        assert!(port_in_use(port));
        drop(l);
        assert!(!port_in_use(port));
        assert!(!port_in_use(free_port().unwrap()));
    }
}
