//! The HTTP side of the server's metrics: `GET /metrics` (who may scrape, the state gauges
//! read at scrape time) and the middleware that counts every answered request. The metrics
//! themselves are [`crate::telemetry`]'s.

use std::net::SocketAddr;
use std::time::Instant;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::http::state::AppState;
use crate::telemetry::StateSample;

/// Middleware: counts every answered request by method, matched route and status code.
pub async fn track_requests(State(s): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().clone();
    let route = req.extensions().get::<MatchedPath>().cloned();
    let resp = next.run(req).await;
    s.telemetry.observe_request(
        method.as_str(),
        route.as_ref().map_or("unmatched", MatchedPath::as_str),
        resp.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    resp
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
