//! Readiness: the server answers HTTP on its port.

use crate::Upstream;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One attempt: connects to the server, sends `GET {prefix}/`, and reports whether an
/// HTTP status line with a 2xx or 3xx status came back within `timeout`. A server that does
/// not serve `prefix` (another process that took the port, which answers 404) does not count.
pub async fn answers(upstream: Upstream, prefix: &str, timeout: Duration) -> bool {
    let port = upstream.port;
    let attempt = async {
        let mut s = upstream.connect(timeout).await.ok()?;
        let req = format!(
            "GET {prefix}/ HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
        );
        s.write_all(req.as_bytes()).await.ok()?;
        let mut buf = [0u8; 12];
        let mut got = 0;
        while got < buf.len() {
            let n = s.read(&mut buf[got..]).await.ok()?;
            if n == 0 {
                break;
            }
            got += n;
        }
        // "HTTP/1.1 200": the status code is bytes 9..12.
        let status = std::str::from_utf8(buf.get(9..12)?).ok()?;
        Some(buf.starts_with(b"HTTP/") && (status.starts_with('2') || status.starts_with('3')))
    };
    matches!(tokio::time::timeout(timeout, attempt).await, Ok(Some(true)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn closed_port_does_not_answer() {
        let port = crate::free_port().unwrap();
        assert!(!answers(Upstream::loopback(port), "/x", Duration::from_millis(200)).await);
    }

    #[tokio::test]
    async fn http_server_answers() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut buf = [0u8; 256];
            let _ = s.read(&mut buf).await;
            s.write_all(b"HTTP/1.0 200 OK\r\n\r\n").await.unwrap();
        });
        assert!(answers(Upstream::loopback(port), "/x", Duration::from_secs(2)).await);
    }

    #[tokio::test]
    async fn a_server_without_the_prefix_does_not_answer() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut buf = [0u8; 256];
            let _ = s.read(&mut buf).await;
            s.write_all(b"HTTP/1.0 404 Not Found\r\n\r\n")
                .await
                .unwrap();
        });
        assert!(!answers(Upstream::loopback(port), "/x", Duration::from_secs(2)).await);
    }
}
