//! The endpoint's front door on the API's port: S3-signed requests leave the API's router
//! before its path normalization, and get the API's layers here instead: an `x-request-id`
//! (also sent as `x-amz-request-id`, where S3 clients look), the request span, a panic guard,
//! one access log line and the Prometheus request counters and latency (`route` label
//! `s3:<operation>`). Refusals are S3's XML error bodies.

use super::Seen;
use crate::http::auth::ClientAddr;
use crate::telemetry::Telemetry;
use crate::throttle::Throttle;
use axum::extract::Request;
use axum::response::Response;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;
use tower::util::BoxCloneSyncService;
use tower::{Service, ServiceBuilder, ServiceExt};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

/// The S3 endpoint with its layers, ready to answer requests [`is_s3_request`] picked.
#[derive(Clone)]
pub struct Endpoint {
    svc: BoxCloneSyncService<Request, Response, Infallible>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint").finish_non_exhaustive()
    }
}

impl Endpoint {
    /// `s3` behind the API's layers, counted in `telemetry`.
    pub fn new(
        s3: s3s::service::S3Service,
        telemetry: Arc<Telemetry>,
        throttle: Arc<Throttle>,
    ) -> Self {
        let inner = tower::service_fn(move |req: Request| {
            let s3 = s3.clone();
            let telemetry = telemetry.clone();
            let throttle = throttle.clone();
            async move { Ok::<_, Infallible>(answer(&s3, &telemetry, &throttle, req).await) }
        });
        let svc = ServiceBuilder::new()
            .map_response(|r: http::Response<_>| r.map(axum::body::Body::new))
            .layer(SetRequestIdLayer::x_request_id(
                crate::http::request_id::MakeRequestIds,
            ))
            .layer(TraceLayer::new_for_http().make_span_with(crate::http::request_span))
            .layer(PropagateRequestIdLayer::x_request_id())
            .map_response(|r: http::Response<_>| r.map(axum::body::Body::new))
            .layer(CatchPanicLayer::custom(panicked))
            .service(inner);
        Self {
            svc: BoxCloneSyncService::new(svc),
        }
    }
}

/// Whether a request is signed the S3 way (header or presigned URL), so belongs to this
/// endpoint rather than to the ModelArts API.
pub fn is_s3_request<B>(req: &http::Request<B>) -> bool {
    let signed_header = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.starts_with("AWS ") || a.starts_with("AWS4-HMAC-SHA256 "));
    let presigned = req.uri().query().is_some_and(|q| {
        q.split('&').any(|kv| {
            let name = kv.split('=').next().unwrap_or("");
            name.eq_ignore_ascii_case("X-Amz-Signature") || name == "AWSAccessKeyId"
        })
    });
    signed_header || presigned
}

/// Calls the S3 service and records the request: metrics and one access log line (its span
/// names the method, path and request id; never the query string, where presigned URLs carry
/// signatures and tokens).
/// The access key a signed S3 request names (header or presigned query, SigV4 or SigV2).
fn access_key(req: &Request) -> Option<String> {
    let auth = req
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if let Some(a) = auth {
        if let Some(rest) = a.strip_prefix("AWS4-HMAC-SHA256 ") {
            let cred = rest
                .split(',')
                .find_map(|p| p.trim().strip_prefix("Credential="))?;
            return cred.split('/').next().map(str::to_owned);
        }
        if let Some(rest) = a.strip_prefix("AWS ") {
            return rest.split(':').next().map(str::to_owned);
        }
    }
    req.uri().query()?.split('&').find_map(|kv| {
        let (name, value) = kv.split_once('=')?;
        let value = percent_encoding::percent_decode_str(value)
            .decode_utf8()
            .ok()?;
        if name.eq_ignore_ascii_case("X-Amz-Credential") {
            value.split('/').next().map(str::to_owned)
        } else if name == "AWSAccessKeyId" {
            Some(value.into_owned())
        } else {
            None
        }
    })
}

async fn answer(
    s3: &s3s::service::S3Service,
    telemetry: &Telemetry,
    throttle: &Throttle,
    mut req: Request,
) -> Response {
    let started = Instant::now();
    // Failed signatures count like failed sign-ins (per access key and per client address),
    // and while either is closed a request is refused before its signature is checked.
    let addr = ClientAddr::of(req.extensions());
    let keys = crate::throttle::keys(access_key(&req).map(|ak| format!("ak:{ak}")), addr.0);
    if let Err(wait) = throttle.check(&keys) {
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        tracing::warn!(
            client.address = %addr.show(),
            door = "s3 signature",
            retry_after_s = secs,
            "sign-in refused: too many failed attempts"
        );
        let mut resp = xml_error(
            http::StatusCode::SERVICE_UNAVAILABLE,
            "SlowDown",
            "Too many requests with failed signatures; retry later.",
        );
        resp.headers_mut()
            .insert(http::header::RETRY_AFTER, http::HeaderValue::from(secs));
        return resp;
    }
    let method = req.method().as_str().to_owned();
    let request_id = req.headers().get("x-request-id").cloned();
    let seen = Arc::new(Mutex::new(super::SeenRequest::default()));
    req.extensions_mut().insert(Seen(seen.clone()));
    let req = req.map(s3s::Body::http_body_unsync);
    let mut resp = match s3.call(req).await {
        Ok(resp) => resp.map(axum::body::Body::new),
        Err(err) => {
            tracing::warn!(error = ?err, "S3 request failed");
            xml_error(
                http::StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                "We encountered an internal error. Please try again.",
            )
        }
    };
    if let Some(id) = request_id {
        resp.headers_mut().insert("x-amz-request-id", id);
    }
    let status = resp.status().as_u16();
    let seen = std::mem::take(&mut *seen.lock().expect("S3 request slot"));
    match (seen.op.is_some(), status) {
        (true, s) if s < 400 => throttle.success(&keys),
        (true, _) => {}
        // Refused before any operation: the signature or the key was wrong.
        (false, 403) => {
            throttle.failure(&keys);
            tracing::info!(
                client.address = %addr.show(),
                door = "s3 signature",
                "credentials refused"
            );
        }
        (false, _) => {}
    }
    let op = seen.op.as_deref().unwrap_or("unauthenticated");
    let elapsed = started.elapsed();
    telemetry.observe_request(&method, &format!("s3:{op}"), status, elapsed.as_secs_f64());
    tracing::info!(
        s3.op = op,
        project.id = seen.project.as_deref().unwrap_or("-"),
        status,
        duration_ms = elapsed.as_millis() as u64,
        "S3 request answered"
    );
    resp
}

fn panicked(_: Box<dyn std::any::Any + Send + 'static>) -> http::Response<axum::body::Body> {
    tracing::error!("an S3 request handler panicked");
    xml_error(
        http::StatusCode::INTERNAL_SERVER_ERROR,
        "InternalError",
        "We encountered an internal error. Please try again.",
    )
}

/// An S3 error body (`<Error><Code>..</Code><Message>..</Message></Error>`).
fn xml_error(status: http::StatusCode, code: &str, message: &str) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    );
    let mut resp = Response::new(axum::body::Body::from(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/xml"),
    );
    resp
}

/// The API's service with the S3 endpoint in front: S3-signed requests go to the endpoint.
/// Cloned for every request (by the connection), so the endpoint is behind one reference
/// count, and API requests pass unboxed.
#[derive(Clone)]
pub struct Dispatch<S> {
    obs: Arc<Endpoint>,
    api: S,
}

impl<S> Dispatch<S> {
    /// `api` behind the S3 endpoint `obs`.
    pub fn new(obs: Endpoint, api: S) -> Self {
        Self {
            obs: Arc::new(obs),
            api,
        }
    }
}

impl<S> Service<Request> for Dispatch<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = futures_util::future::Either<
        S::Future,
        futures_util::future::BoxFuture<'static, Result<Response, Infallible>>,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.api.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        if is_s3_request(&req) {
            futures_util::future::Either::Right(Box::pin(self.obs.svc.clone().oneshot(req)))
        } else {
            futures_util::future::Either::Left(self.api.call(req))
        }
    }
}
