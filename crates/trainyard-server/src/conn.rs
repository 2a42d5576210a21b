//! Accepting and serving connections, plain HTTP and TLS alike, with the limits that keep a
//! few clients from holding the server (`[server]` in the configuration):
//!
//! - at most `max_connections` open at once: past it new connections wait in the listen
//!   queue until one closes, so the server never runs out of file descriptors;
//! - a request's headers must arrive within `header_read_timeout` of the connection's start
//!   (including the TLS handshake) or of the request's first byte (slowloris);
//! - a keep-alive connection idle for `idle_timeout` between two requests is closed;
//! - a request body that stalls for `body_read_timeout` closes the connection;
//! - a `Host` that is not one of the server's names (`crate::origin`) is refused.
//!
//! `axum::serve` has none of these knobs, so the accept loop is ours (as `tls.rs`'s was).
//! Each connection has a small watcher (its `select!` loop) that knows whether a request is in
//! flight (from the service wrapper and the response body's drop) and when bytes last arrived
//! (from the socket wrapper), so the deadlines follow Go's `ReadHeaderTimeout`/`IdleTimeout`.
//! Its one timer looks at these when it fires and is set again then: a request costs the
//! watcher a few atomic stores, no wake-up and no timer.

use crate::error::ApiError;
use crate::origin::PublicUrls;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{Notify, Semaphore};
use tokio::time::Instant;

/// The connection limits (`[server]`).
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Time to send a request's headers (and to finish the TLS handshake).
    pub header_read: Duration,
    /// Time a keep-alive connection may sit idle between requests.
    pub idle: Duration,
    /// Longest pause while a request body is read.
    pub body_read: Duration,
    /// Most connections open at once.
    pub max_connections: usize,
}

impl Limits {
    /// The limits of `[server]`.
    pub fn from_config(c: &crate::config::ServerConfig) -> Self {
        Self {
            header_read: c.header_read_timeout(),
            idle: c.idle_timeout(),
            body_read: c.body_read_timeout(),
            max_connections: c.max_connections(),
        }
    }
}

const NONE: u64 = u64::MAX;

/// What the watcher of one connection knows (milliseconds since the connection started).
struct Activity {
    start: Instant,
    in_flight: AtomicUsize,
    served: AtomicBool,
    idle_since: AtomicU64,
    head_started: AtomicU64,
    stalled: AtomicBool,
    /// Wakes the watcher when a request body stalled.
    changed: Notify,
}

impl Activity {
    fn new() -> Self {
        Self {
            start: Instant::now(),
            in_flight: AtomicUsize::new(0),
            served: AtomicBool::new(false),
            idle_since: AtomicU64::new(0),
            head_started: AtomicU64::new(NONE),
            stalled: AtomicBool::new(false),
            changed: Notify::new(),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(NONE - 1)
    }

    /// Bytes arrived: between requests, the next request has begun.
    fn read(&self) {
        if self.in_flight.load(Ordering::Acquire) == 0 {
            let now = self.now_ms();
            let _ =
                self.head_started
                    .compare_exchange(NONE, now, Ordering::AcqRel, Ordering::Relaxed);
        }
    }

    /// Forgets the bytes of the TLS handshake: the first request's clock starts now.
    fn restart(&self) {
        self.idle_since.store(self.now_ms(), Ordering::Release);
        self.head_started.store(NONE, Ordering::Release);
    }

    /// When the watcher looks again while a request is in flight: no deadline can come
    /// sooner, since the request's end starts the next one's clock (`idle` or, once bytes
    /// arrive, `header_read`). So the end of a request needs no wake-up and no new timer.
    fn earliest_after_flight(limits: &Limits) -> Instant {
        Instant::now() + limits.idle.min(limits.header_read)
    }

    /// When the connection is to be closed if nothing changes; `None` while a request is in
    /// flight.
    fn deadline(&self, limits: &Limits) -> Option<Instant> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        let head = self.head_started.load(Ordering::Acquire);
        let at = if head != NONE {
            Duration::from_millis(head) + limits.header_read
        } else if !self.served.load(Ordering::Acquire) {
            Duration::from_millis(self.idle_since.load(Ordering::Acquire)) + limits.header_read
        } else {
            Duration::from_millis(self.idle_since.load(Ordering::Acquire)) + limits.idle
        };
        Some(self.start + at)
    }
}

/// One request in flight on a connection, until its response body is dropped.
struct InFlight(Arc<Activity>);

impl InFlight {
    fn begin(activity: &Arc<Activity>) -> Self {
        activity.in_flight.fetch_add(1, Ordering::AcqRel);
        activity.served.store(true, Ordering::Release);
        activity.head_started.store(NONE, Ordering::Release);
        Self(activity.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let a = &self.0;
        if a.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            a.idle_since.store(a.now_ms(), Ordering::Release);
            a.head_started.store(NONE, Ordering::Release);
            // No wake-up: the watcher's timer is never later than the new deadline
            // (`Activity::earliest_after_flight`).
        }
    }
}

/// The socket, telling its connection's watcher when bytes arrive.
struct Watched<T> {
    inner: T,
    activity: Arc<Activity>,
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.read();
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// A request body stalled longer than `[server] body_read_timeout_seconds`.
#[derive(Debug, thiserror::Error)]
#[error("no part of the request body arrived for {0:?}")]
pub struct BodyStalled(Duration);

/// A request body whose reader gives up (and has the connection closed) when no part of it
/// arrives for `limit`.
struct TimedBody {
    inner: Incoming,
    limit: Duration,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    activity: Arc<Activity>,
}

impl HttpBody for TimedBody {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.sleep = None;
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => {
                let limit = this.limit;
                let sleep = this
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
                if sleep.as_mut().poll(cx).is_ready() {
                    this.sleep = None;
                    this.activity.stalled.store(true, Ordering::Release);
                    this.activity.changed.notify_one();
                    return Poll::Ready(Some(Err(BodyStalled(limit).into())));
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A response body holding its request's [`InFlight`] until hyper is done with it.
struct Guarded {
    inner: axum::body::Body,
    _in_flight: InFlight,
}

impl HttpBody for Guarded {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The `Host` a request names (header, else an absolute URI's authority).
fn named_host(req: &hyper::Request<Incoming>) -> Option<String> {
    req.headers()
        .get(http::header::HOST)
        .map(|h| String::from_utf8_lossy(h.as_bytes()).into_owned())
        .or_else(|| req.uri().authority().map(|a| a.as_str().to_owned()))
}

/// Serves `svc` on `listener` (over TLS when `tls` is set) until `shutdown` resolves, then
/// stops accepting, lets open connections finish their requests and waits for them.
pub async fn serve<S>(
    listener: tokio::net::TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    svc: S,
    limits: Limits,
    public: Arc<PublicUrls>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()>
where
    S: tower::Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    let max = limits.max_connections.clamp(1, Semaphore::MAX_PERMITS);
    let slots = Arc::new(Semaphore::new(max));
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => p.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: keep serving the others.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = tcp.set_nodelay(true);
        let conn = Connection {
            peer,
            limits,
            public: public.clone(),
            stopped: stopped.clone(),
        };
        let tls = tls.clone();
        let svc = svc.clone();
        tokio::spawn(async move {
            conn.run(tcp, tls, svc).await;
            drop(permit);
        });
    }
    drop(listener);
    stop.send_replace(true);
    // Every open connection holds a slot: all of them back means all closed.
    let all = u32::try_from(max).unwrap_or(u32::MAX);
    let _ = slots.acquire_many(all).await;
    Ok(())
}

/// One accepted connection.
struct Connection {
    peer: SocketAddr,
    limits: Limits,
    public: Arc<PublicUrls>,
    stopped: tokio::sync::watch::Receiver<bool>,
}

impl Connection {
    async fn run<S>(
        self,
        tcp: tokio::net::TcpStream,
        tls: Option<tokio_rustls::TlsAcceptor>,
        svc: S,
    ) where
        S: tower::Service<Request, Response = Response, Error = Infallible>
            + Clone
            + Send
            + 'static,
        S::Future: Send + 'static,
    {
        let activity = Arc::new(Activity::new());
        let io = Watched {
            inner: tcp,
            activity: activity.clone(),
        };
        match tls {
            None => self.drive(TokioIo::new(io), activity, svc).await,
            Some(acceptor) => {
                let accepted =
                    tokio::time::timeout(self.limits.header_read, acceptor.accept(io)).await;
                match accepted {
                    Ok(Ok(stream)) => {
                        activity.restart();
                        self.drive(TokioIo::new(stream), activity, svc).await;
                    }
                    Ok(Err(e)) => {
                        tracing::debug!(peer = %self.peer, error = %e, "TLS handshake failed");
                    }
                    Err(_) => tracing::debug!(peer = %self.peer, "TLS handshake timed out"),
                }
            }
        }
    }

    async fn drive<I, S>(self, io: I, activity: Arc<Activity>, svc: S)
    where
        I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
        S: tower::Service<Request, Response = Response, Error = Infallible>
            + Clone
            + Send
            + 'static,
        S::Future: Send + 'static,
    {
        let Self {
            peer,
            limits,
            public,
            mut stopped,
        } = self;
        let watched = activity.clone();
        // The last `Host` header allowed on this connection: a client names the same one in
        // every request, which then needs no parsing.
        let allowed_host = std::cell::RefCell::new(None::<Vec<u8>>);
        let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            let in_flight = InFlight::begin(&watched);
            let sent = req.headers().get(http::header::HOST).map(|h| h.as_bytes());
            let known = sent.is_some_and(|h| allowed_host.borrow().as_deref() == Some(h));
            let host = if known { None } else { named_host(&req) };
            let refused = host.as_deref().filter(|h| !public.allows_host(h));
            if let (None, Some(h)) = (refused, sent) {
                if !known {
                    *allowed_host.borrow_mut() = Some(h.to_vec());
                }
            }
            let response = match refused {
                Some(h) => {
                    tracing::info!(client.address = %peer.ip(), host = %h, "request for another host refused");
                    let resp = ApiError::HostNotAllowed(h.to_owned()).into_response();
                    futures_util::future::Either::Left(std::future::ready(Ok(resp)))
                }
                None => {
                    let activity = watched.clone();
                    let mut req = req.map(|inner| {
                        axum::body::Body::new(TimedBody {
                            inner,
                            limit: limits.body_read,
                            sleep: None,
                            activity,
                        })
                    });
                    req.extensions_mut()
                        .insert(axum::extract::ConnectInfo(peer));
                    futures_util::future::Either::Right(tower::ServiceExt::oneshot(
                        svc.clone(),
                        req,
                    ))
                }
            };
            async move {
                let resp: Response = match response.await {
                    Ok(r) => r,
                    Err(never) => match never {},
                };
                Ok::<_, Infallible>(resp.map(|inner| Guarded {
                    inner,
                    _in_flight: in_flight,
                }))
            }
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        // The watcher below keeps the header deadline (hyper's own would also end idle
        // keep-alive connections at the same moment).
        builder.header_read_timeout(None);
        // HTTP/1.1 only (no upgrades are served: the viz proxy streams bodies but does not
        // tunnel WebSockets).
        let conn = builder.serve_connection(io, service);
        tokio::pin!(conn);
        let mut stopping = *stopped.borrow();
        if stopping {
            conn.as_mut().graceful_shutdown();
        }
        // One timer for the connection's life, moved only when it fires: it is never later
        // than the deadline (which only moves away between firings, see
        // `Activity::earliest_after_flight`), so requests cost it nothing.
        let first = activity
            .deadline(&limits)
            .unwrap_or_else(|| Activity::earliest_after_flight(&limits));
        let timer = tokio::time::sleep_until(first);
        tokio::pin!(timer);
        loop {
            tokio::select! {
                ended = conn.as_mut() => {
                    if let Err(e) = ended {
                        tracing::debug!(peer = %peer, error = %e, "connection ended with an error");
                    }
                    return;
                }
                () = timer.as_mut() => {
                    let next = match activity.deadline(&limits) {
                        Some(d) if d <= Instant::now() => {
                            tracing::debug!(peer = %peer, "closing an idle or slow connection");
                            return;
                        }
                        Some(d) => d,
                        None => Activity::earliest_after_flight(&limits),
                    };
                    timer.as_mut().reset(next);
                }
                () = activity.changed.notified() => {
                    if activity.stalled.load(Ordering::Acquire) {
                        tracing::debug!(peer = %peer, "closing a connection whose request body stalled");
                        return;
                    }
                }
                changed = stopped.changed(), if !stopping => {
                    if changed.is_err() || *stopped.borrow() {
                        stopping = true;
                        conn.as_mut().graceful_shutdown();
                    }
                }
            }
        }
    }
}
