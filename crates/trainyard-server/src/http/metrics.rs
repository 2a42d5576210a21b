//! The HTTP side of the server's metrics: `GET /metrics` (who may scrape, the state gauges
//! read at scrape time) and the middleware that counts every answered request. The metrics
//! themselves are [`crate::telemetry`]'s.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use tower::{Layer, Service};

use crate::error::ApiError;
use crate::http::state::AppState;
use crate::telemetry::{StateSample, Telemetry};

/// Layer: counts every answered request by method, matched route and status code. A plain
/// service rather than a `from_fn` middleware: that one clones the route and boxes a future
/// and a `Next` on every request.
#[derive(Clone)]
pub struct CountRequests(pub Arc<Telemetry>);

impl<S> Layer<S> for CountRequests {
    type Service = Counted<S>;

    fn layer(&self, inner: S) -> Counted<S> {
        Counted {
            inner,
            telemetry: self.0.clone(),
        }
    }
}

/// A route whose requests [`CountRequests`] counts.
#[derive(Clone)]
pub struct Counted<S> {
    inner: S,
    telemetry: Arc<Telemetry>,
}

impl<S, E> Service<Request> for Counted<S>
where
    S: Service<Request, Response = Response, Error = E>,
{
    type Response = Response;
    type Error = E;
    type Future = Counting<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), E>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let seen = Seen {
            started: Instant::now(),
            method: req.method().clone(),
            route: req.extensions().get::<MatchedPath>().cloned(),
            telemetry: self.telemetry.clone(),
        };
        Counting {
            inner: self.inner.call(req),
            seen: Some(seen),
        }
    }
}

/// What a request's count needs once it is answered.
struct Seen {
    started: Instant,
    method: Method,
    route: Option<MatchedPath>,
    telemetry: Arc<Telemetry>,
}

pin_project_lite::pin_project! {
    /// A counted request being answered.
    pub struct Counting<F> {
        #[pin]
        inner: F,
        seen: Option<Seen>,
    }
}

impl<F, E> Future for Counting<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let answered = std::task::ready!(this.inner.poll(cx));
        if let (Ok(resp), Some(seen)) = (&answered, this.seen.take()) {
            seen.telemetry.observe_request(
                seen.method.as_str(),
                seen.route.as_ref().map_or("unmatched", MatchedPath::as_str),
                resp.status().as_u16(),
                seen.started.elapsed().as_secs_f64(),
            );
        }
        Poll::Ready(answered)
    }
}

/// `GET /metrics`: the Prometheus text format (OpenMetrics 1.0 text, which Prometheus reads).
pub async fn scrape(
    State(s): State<AppState>,
    peer: Option<axum::extract::Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
) -> Response {
    let peer = peer.map(|axum::extract::Extension(ConnectInfo(p))| p);
    if let Err(refused) = s.telemetry.may_scrape(peer, &headers) {
        return refused.into_response();
    }
    if let Err(e) = refresh(&s).await {
        return e.into_response();
    }
    let Some(text) = s.telemetry.encode() else {
        return ApiError::internal("encoding metrics").into_response();
    };
    let mut resp = (StatusCode::OK, text).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    resp
}

/// Reads the state gauges from the store and the executor.
async fn refresh(s: &AppState) -> Result<(), ApiError> {
    let store = s.svc.store();
    let versions = store.version_counts().await?;
    let oldest_queued = store.oldest_queued_create_time().await?;
    let cap = s.svc.executor().capacity();
    let slots = [
        ("cores", cap.total.cores, cap.free.cores),
        ("memory_gb", cap.total.memory_gb, cap.free.memory_gb),
        ("gpus", cap.total.gpus, cap.free.gpus),
    ];
    let viz = store.viz_counts().await?;
    s.telemetry.set_state(StateSample {
        versions,
        oldest_queued,
        slots,
        viz,
    });
    Ok(())
}
