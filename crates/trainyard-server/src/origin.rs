//! The names this server answers to: a request whose `Host` names another host is refused (a
//! DNS-rebinding page reaches a loopback server under its own domain name), and the console
//! takes forms only from these origins.
//!
//! Always accepted: the listen address with the listen port, and the loopback names
//! `localhost`, `127.0.0.1` and `[::1]` on any port (a local proxy in front); origins (the
//! console's forms) need the listen port on loopback too; when listening on every address (`0.0.0.0`, `[::]`), any IP
//! address and this host's name with the listen port too (a rebinding page always uses a domain
//! name). `[server] public_urls` and `[viz] public_base` add the names clients use.

use std::net::{IpAddr, SocketAddr};

/// `scheme://host:port` of a URL, the host lower-case (IPv6 in brackets).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    scheme: String,
    host: String,
    port: u16,
}

fn default_port(scheme: &str) -> u16 {
    if scheme == "https" {
        443
    } else {
        80
    }
}

fn clean_host(host: &str) -> String {
    host.trim_end_matches('.').to_ascii_lowercase()
}

impl Origin {
    /// Parses `http[s]://host[:port][/]`.
    pub fn parse(url: &str) -> Result<Self, String> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| "give scheme://host[:port]".to_owned())?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Err("the scheme must be http or https".into());
        }
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.contains('/') || authority.contains('@') || authority.is_empty() {
            return Err("give scheme://host[:port] without a path".into());
        }
        let a: http::uri::Authority = authority.parse().map_err(|_| "bad host".to_owned())?;
        Ok(Self {
            port: a.port_u16().unwrap_or_else(|| default_port(&scheme)),
            host: clean_host(a.host()),
            scheme,
        })
    }
}

/// The origins of this server.
#[derive(Debug)]
pub struct PublicUrls {
    scheme: &'static str,
    /// `[server] public_urls` and `[viz] public_base`.
    configured: Vec<Origin>,
    /// This host's name, for servers listening on every address.
    hostname: Option<String>,
    /// The configured listen address and the one actually bound (tests bind port 0).
    listens: std::sync::RwLock<Vec<SocketAddr>>,
}

impl PublicUrls {
    /// From the listen address, the scheme served (`tls`), `[server] public_urls` and
    /// `[viz] public_base` (already validated).
    pub fn new(listen: SocketAddr, tls: bool, public_urls: &[String], viz: Option<&str>) -> Self {
        let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|h| clean_host(h.trim()))
            .filter(|h| !h.is_empty());
        Self {
            scheme: if tls { "https" } else { "http" },
            configured: public_urls
                .iter()
                .map(String::as_str)
                .chain(viz)
                .filter_map(|u| Origin::parse(u).ok())
                .collect(),
            hostname,
            listens: std::sync::RwLock::new(vec![listen]),
        }
    }

    /// `https` when this server serves TLS, else `http`.
    pub fn scheme(&self) -> &'static str {
        self.scheme
    }

    /// Adds the address the server is actually bound to.
    pub fn bound(&self, addr: SocketAddr) {
        let mut listens = self.listens.write().expect("listen lock");
        if !listens.contains(&addr) {
            listens.push(addr);
        }
    }

    /// Whether `host` (clean) on `port` is a name of one of the listen addresses.
    fn listen_name(&self, host: &str, port: u16) -> bool {
        let ip = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .ok();
        let listens = self.listens.read().expect("listen lock");
        listens.iter().filter(|l| l.port() == port).any(|l| {
            // `localhost`, `127.0.0.1`, `[::1]`.
            let loopback = host == "localhost"
                || ip == Some(IpAddr::from([127, 0, 0, 1]))
                || ip == Some(IpAddr::from(std::net::Ipv6Addr::LOCALHOST));
            loopback
                || ip == Some(l.ip())
                || (l.ip().is_unspecified()
                    && (ip.is_some() || self.hostname.as_deref() == Some(host)))
        })
    }

    /// Whether a `Host` value (`host[:port]`) names this server. A host without a port matches
    /// a public URL on its scheme's default port (a proxy in front may pass it so).
    pub fn allows_host(&self, host: &str) -> bool {
        if host.contains('@') {
            return false;
        }
        let Ok(a) = host.trim().parse::<http::uri::Authority>() else {
            return false;
        };
        let name = clean_host(a.host());
        let port = a.port_u16();
        // A loopback name on any port: a local proxy in front of the server (a port of its
        // own) is no rebinding page, which can only name the server by a domain of its own.
        if is_loopback_name(&name) {
            return true;
        }
        if port.is_some_and(|p| self.listen_name(&name, p)) {
            return true;
        }
        self.configured.iter().any(|o| {
            o.host == name
                && match port {
                    Some(p) => o.port == p,
                    None => o.port == default_port(&o.scheme),
                }
        })
    }

    /// Whether an `Origin` header value is one of this server's origins.
    pub fn allows_origin(&self, origin: &str) -> bool {
        let Ok(o) = Origin::parse(origin) else {
            return false;
        };
        (o.scheme == self.scheme && self.listen_name(&o.host, o.port))
            || self.configured.contains(&o)
    }
}

/// `localhost`, `127.0.0.1` or `[::1]`.
fn is_loopback_name(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| {
                ip == IpAddr::from([127, 0, 0, 1])
                    || ip == IpAddr::from(std::net::Ipv6Addr::LOCALHOST)
            })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(listen: &str, tls: bool, extra: &[&str]) -> PublicUrls {
        let extra: Vec<String> = extra.iter().map(|s| (*s).to_owned()).collect();
        PublicUrls::new(listen.parse().unwrap(), tls, &extra, None)
    }

    #[test]
    fn loopback_names_and_the_listen_address() {
        let u = urls("127.0.0.1:8600", false, &[]);
        for ok in [
            "127.0.0.1:8600",
            "localhost:8600",
            "LOCALHOST:8600",
            "[::1]:8600",
            // Loopback names on another port (a local proxy in front) or none.
            "127.0.0.1:8601",
            "localhost",
        ] {
            assert!(u.allows_host(ok), "{ok}");
        }
        for bad in [
            "evil.example:8600",
            "evil.example",
            "user@localhost:8600",
            "",
            "10.0.0.1:8600",
        ] {
            assert!(!u.allows_host(bad), "{bad}");
        }
        assert!(u.allows_origin("http://localhost:8600"));
        assert!(u.allows_origin("http://127.0.0.1:8600/"));
        assert!(!u.allows_origin("https://127.0.0.1:8600"), "scheme counts");
        assert!(!u.allows_origin("http://evil.example:8600"));
        assert!(!u.allows_origin("null"));
        let u = urls("10.1.2.3:443", true, &[]);
        assert!(u.allows_host("10.1.2.3:443") && u.allows_origin("https://10.1.2.3"));
    }

    #[test]
    fn public_urls_add_names_with_default_ports() {
        let u = urls(
            "127.0.0.1:8600",
            false,
            &["https://ml.example.com", "http://ml.lan:9000/"],
        );
        assert!(u.allows_host("ml.example.com"));
        assert!(u.allows_host("ml.example.com:443"));
        assert!(u.allows_host("ML.example.com."));
        assert!(!u.allows_host("ml.example.com:8600"));
        assert!(u.allows_host("ml.lan:9000") && !u.allows_host("ml.lan"));
        assert!(u.allows_origin("https://ml.example.com"));
        assert!(!u.allows_origin("http://ml.example.com"));
        assert!(u.allows_host("localhost:8600"), "loopback stays");
        for bad in ["ftp://x", "http://x/path", "x:80", "http://"] {
            assert!(Origin::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_address_accepts_ip_literals_on_its_port() {
        let u = urls("0.0.0.0:8600", false, &[]);
        assert!(u.allows_host("192.168.1.20:8600"));
        assert!(u.allows_host("[fe80::1]:8600"));
        assert!(!u.allows_host("192.168.1.20:9000"));
        assert!(!u.allows_host("rebind.evil.example:8600"));
        assert!(u.allows_origin("http://192.168.1.20:8600"));
    }

    #[test]
    fn the_bound_address_counts_too() {
        let u = urls("127.0.0.1:8600", false, &[]);
        assert!(!u.allows_origin("http://127.0.0.1:40001"));
        u.bound("127.0.0.1:40001".parse().unwrap());
        assert!(u.allows_origin("http://127.0.0.1:40001"));
        assert!(u.allows_origin("http://localhost:40001"));
        assert!(u.allows_host("127.0.0.1:8600"));
    }
}
