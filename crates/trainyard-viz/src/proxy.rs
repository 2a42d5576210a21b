//! A streaming reverse proxy to a server on a loopback port (the host's, or its own network
//! namespace's).

use crate::{Error, Result, Upstream};
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, Uri};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1), never forwarded.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Removes hop-by-hop headers, including those named by `Connection`.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for n in named {
        headers.remove(n);
    }
    for n in HOP_BY_HOP {
        headers.remove(n);
    }
}

/// How long connecting to a visualization server may take.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The connection future of [`Connector`].
type Connecting =
    Pin<Box<dyn Future<Output = std::io::Result<TokioIo<tokio::net::TcpStream>>> + Send>>;

/// Connects to the [`Upstream`] a URI's authority names (see [`Upstream::authority`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct Connector;

impl tower::Service<Uri> for Connector {
    type Response = TokioIo<tokio::net::TcpStream>;
    type Error = std::io::Error;
    type Future = Connecting;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        Box::pin(async move {
            let upstream = uri
                .host()
                .zip(uri.port_u16())
                .and_then(|(host, port)| Upstream::from_authority(host, port))
                .ok_or_else(|| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidInput,
                        format!("not an upstream: {uri}"),
                    )
                })?;
            Ok(TokioIo::new(upstream.connect(CONNECT_TIMEOUT).await?))
        })
    }
}

/// One pooled HTTP/1 client for every upstream; bodies stream both ways.
pub struct Proxy<B> {
    client: Client<Connector, B>,
}

impl<B> Proxy<B>
where
    B: http_body::Body + Send + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    /// A new client.
    pub fn new() -> Self {
        Self {
            client: Client::builder(TokioExecutor::new()).build(Connector),
        }
    }

    /// Sends `req` to the server at `upstream` with the same path and query (given as
    /// `path_and_query`), without hop-by-hop headers and without `drop_headers` (our
    /// credentials). The response comes back with its hop-by-hop headers stripped and its body
    /// still streaming.
    pub async fn forward(
        &self,
        upstream: Upstream,
        path_and_query: &str,
        mut req: Request<B>,
        drop_headers: &[HeaderName],
    ) -> Result<Response<Incoming>> {
        let port = upstream.port;
        let uri: Uri = format!("http://{}{path_and_query}", upstream.authority())
            .parse()
            .map_err(|e| Error::BadRequest(format!("{e}")))?;
        *req.uri_mut() = uri;
        *req.version_mut() = http::Version::HTTP_11;
        let headers = req.headers_mut();
        strip_hop_by_hop(headers);
        for h in drop_headers {
            headers.remove(h);
        }
        headers.insert(
            http::header::HOST,
            HeaderValue::from_str(&format!("127.0.0.1:{port}"))
                .map_err(|e| Error::BadRequest(e.to_string()))?,
        );
        let mut resp = self
            .client
            .request(req)
            .await
            .map_err(|e| Error::Upstream(e.to_string()))?;
        strip_hop_by_hop(resp.headers_mut());
        Ok(resp)
    }
}

impl<B> Default for Proxy<B>
where
    B: http_body::Body + Send + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, Empty};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn strips_connection_headers() {
        let mut h = HeaderMap::new();
        h.insert("connection", "close, x-private".parse().unwrap());
        h.insert("x-private", "1".parse().unwrap());
        h.insert("keep-alive", "5".parse().unwrap());
        h.insert("content-type", "text/plain".parse().unwrap());
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("content-type"));
    }

    #[tokio::test]
    async fn forwards_and_drops_credentials() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let seen = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            let n = s.read(&mut buf).await.unwrap();
            s.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nKeep-Alive: timeout=5\r\n\r\nhello",
            )
            .await
            .unwrap();
            String::from_utf8_lossy(&buf[..n]).into_owned()
        });
        let proxy = Proxy::<Empty<bytes::Bytes>>::new();
        let req = Request::builder()
            .uri("/whatever")
            .header("x-auth-token", "secret")
            .header("x-keep", "yes")
            .body(Empty::new())
            .unwrap();
        let resp = proxy
            .forward(
                Upstream::loopback(port),
                "/p/data/runs?x=1",
                req,
                &[HeaderName::from_static("x-auth-token")],
            )
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert!(!resp.headers().contains_key("keep-alive"));
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"hello");
        let raw = seen.await.unwrap().to_ascii_lowercase();
        assert!(raw.starts_with("get /p/data/runs?x=1 http/1.1"), "{raw}");
        assert!(
            !raw.contains("x-auth-token") && raw.contains("x-keep: yes"),
            "{raw}"
        );
    }

    #[tokio::test]
    async fn closed_port_is_an_upstream_error() {
        let port = crate::free_port().unwrap();
        let proxy = Proxy::<Empty<bytes::Bytes>>::new();
        let req = Request::builder().uri("/").body(Empty::new()).unwrap();
        assert!(matches!(
            proxy.forward(Upstream::loopback(port), "/", req, &[]).await,
            Err(Error::Upstream(_))
        ));
    }
}
