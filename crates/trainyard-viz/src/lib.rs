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

pub use trainyard_exec::netns::NetNs;

/// Where a visualization server listens: a port on the host's loopback, or on the loopback of
/// its process's own network namespace ([`trainyard_exec::Network::Isolated`]), which only the
/// trainyard server enters: no job of any project reaches it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Upstream {
    /// The port.
    pub port: u16,
    /// The namespace it is in (`None`: the host's).
    pub netns: Option<NetNs>,
}

impl Upstream {
    /// A port on the host's loopback.
    pub fn loopback(port: u16) -> Self {
        Self { port, netns: None }
    }

    /// A TCP connection to the server.
    pub async fn connect(
        self,
        timeout: std::time::Duration,
    ) -> std::io::Result<tokio::net::TcpStream> {
        let Some(ns) = self.netns else {
            return tokio::time::timeout(
                timeout,
                tokio::net::TcpStream::connect(("127.0.0.1", self.port)),
            )
            .await
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))?;
        };
        let port = self.port;
        let stream = tokio::task::spawn_blocking(move || ns.connect(port, timeout))
            .await
            .map_err(std::io::Error::other)??;
        stream.set_nonblocking(true)?;
        tokio::net::TcpStream::from_std(stream)
    }

    /// The authority of the proxy's URIs for this server: it keys the connection pool, so two
    /// servers on the same port in different namespaces never share a connection.
    pub(crate) fn authority(self) -> String {
        match self.netns {
            None => format!("127.0.0.1:{}", self.port),
            Some(ns) => format!("netns-{}-{}:{}", ns.pid, ns.start_time, self.port),
        }
    }

    /// The inverse of [`Self::authority`].
    pub(crate) fn from_authority(host: &str, port: u16) -> Option<Self> {
        if host == "127.0.0.1" {
            return Some(Self::loopback(port));
        }
        let (pid, start_time) = host.strip_prefix("netns-")?.split_once('-')?;
        Some(Self {
            port,
            netns: Some(NetNs {
                pid: pid.parse().ok()?,
                start_time: start_time.parse().ok()?,
            }),
        })
    }
}

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
    fn an_upstream_survives_its_authority() {
        let ns = Upstream {
            port: 6006,
            netns: Some(NetNs {
                pid: 42,
                start_time: 7,
            }),
        };
        for up in [Upstream::loopback(80), ns] {
            let uri: http::Uri = format!("http://{}/x", up.authority()).parse().unwrap();
            let back = Upstream::from_authority(uri.host().unwrap(), uri.port_u16().unwrap());
            assert_eq!(back, Some(up));
        }
        assert_eq!(Upstream::from_authority("example.com", 80), None);
    }

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
