//! Every `/v1/{project_id}` request needs credentials of that project: an `X-Auth-Token`
//! (configured, or issued by `/v3/auth/tokens`) or an AK/SK signature (`SDK-HMAC-SHA256`).

use crate::error::ApiError;
use crate::http::session;
use crate::http::signing::{self, SignError, SignedRequest};
use crate::http::state::AppState;
use crate::identity::TokenCheck;
use crate::throttle::{self, Key};
use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use futures_util::future::{ready, BoxFuture, Either, Ready};
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::task::{Context, Poll};
use std::time::{SystemTime, UNIX_EPOCH};
use tower::{Layer, Service, ServiceExt};

/// The code upload route's last segments (`PUT /v1/{project_id}/storage/upload`).
const UPLOAD_PATH: &str = "/storage/upload";

/// The URI as the client sent it, before path normalization: what a signature covers.
#[derive(Clone, Debug)]
pub struct RawUri(pub Uri);

/// Who made an authenticated `/v1` or `/v2` request, as usage accounting names them: the user
/// name of an issued token or a console session, the access key of a signed request, or
/// `token` for a configured project token (the console's `who`).
#[derive(Clone, Debug)]
pub struct Caller(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<Caller>()
            .cloned()
            .unwrap_or_else(|| Caller(String::new())))
    }
}

/// The client's address: the TCP peer (forwarding headers are not trusted), when known.
#[derive(Clone, Copy, Debug)]
pub struct ClientAddr(pub Option<IpAddr>);

impl ClientAddr {
    /// The address of a request's connection.
    pub fn of(ext: &Extensions) -> Self {
        Self(ext.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip()))
    }

    /// For log lines: the address, or `-`.
    pub fn show(self) -> String {
        self.0.map_or_else(|| "-".to_owned(), |a| a.to_string())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::of(&parts.extensions))
    }
}

/// Refuses a credential check, unevaluated, while one of its keys is closed by earlier
/// failures (`crate::throttle`).
pub fn throttled(
    state: &AppState,
    keys: &[Key],
    addr: ClientAddr,
    door: &'static str,
) -> Result<(), ApiError> {
    state.throttle.check(keys).map_err(|wait| {
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        tracing::warn!(
            client.address = %addr.show(),
            door,
            retry_after_s = secs,
            "sign-in refused: too many failed attempts"
        );
        ApiError::SignInThrottled(secs)
    })
}

/// Counts a failed credential check and logs it with the identity named and the client's
/// address.
pub fn failed(state: &AppState, keys: &[Key], addr: ClientAddr, door: &'static str) {
    state.throttle.failure(keys);
    let identity = keys.iter().find_map(|k| match k {
        Key::Identity(i) => Some(i.as_str()),
        Key::Address(_) => None,
    });
    tracing::info!(
        client.address = %addr.show(),
        identity = identity.unwrap_or("-"),
        door,
        "credentials refused"
    );
}

/// The project id of a `/v1/{project_id}/...` path.
fn project_of(path: &str) -> Option<&str> {
    path.strip_prefix("/v1/")
        .or_else(|| path.strip_prefix("/v2/"))?
        .split('/')
        .next()
        .filter(|p| !p.is_empty())
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// Layer: every `/v1/{project_id}` and `/v2/{project_id}` request needs credentials of that
/// project and a place in its rate. A token ([`token_caller`]: unknown -> 401 0203, expired
/// -> 401 0202) is checked synchronously and the request goes on to its route unboxed; a
/// signature (its body is read) or a console session is checked in a boxed future
/// ([`authenticate`]). Other project -> 403 0210. A `from_fn` middleware boxed a future and a
/// `Next` and cloned the route on every request.
#[derive(Clone)]
pub struct RequireCredentials(pub AppState);

impl<S> Layer<S> for RequireCredentials {
    type Service = Authenticated<S>;

    fn layer(&self, inner: S) -> Authenticated<S> {
        Authenticated {
            inner,
            state: self.0.clone(),
        }
    }
}

/// A route behind [`RequireCredentials`].
#[derive(Clone)]
pub struct Authenticated<S> {
    inner: S,
    state: AppState,
}

type Answered = Result<Response, Infallible>;

impl<S> Service<Request> for Authenticated<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<Either<Ready<Answered>, S::Future>, BoxFuture<'static, Answered>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let Some(project) = project_of(req.uri().path()) else {
            return Either::Left(Either::Right(self.inner.call(req)));
        };
        if header(req.headers(), "x-auth-token").is_some() {
            let checked = token_caller(&self.state, project, &req).and_then(|who| {
                if self.state.rate_limits.admit(project) {
                    Ok(who)
                } else {
                    Err(ApiError::TooManyRequests)
                }
            });
            return match checked {
                Ok(who) => {
                    req.extensions_mut().insert(Caller(who));
                    Either::Left(Either::Right(self.inner.call(req)))
                }
                Err(e) => Either::Left(Either::Left(ready(Ok(e.into_response())))),
            };
        }
        let project = project.to_owned();
        let state = self.state.clone();
        // The ready service goes with the request; a clone waits for the next one.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        Either::Right(Box::pin(async move {
            match authenticate(&state, &project, req).await {
                Ok(_) if !state.rate_limits.admit(&project) => {
                    Ok(ApiError::TooManyRequests.into_response())
                }
                Ok(req) => inner.oneshot(req).await,
                Err(e) => Ok(e.into_response()),
            }
        }))
    }
}

/// The doors other than a token: a signature, else the console's session. Signature: no
/// `Authorization` beside `X-Sdk-Date` -> 401 0205, garbled -> 401 0206, stale date -> 401 0207,
/// mismatch -> 401 0208, unknown AK -> 403 0206. No credentials at all -> 401 0201. Other
/// project -> 403 0210.
async fn authenticate(
    state: &AppState,
    project: &str,
    mut req: Request,
) -> Result<Request, ApiError> {
    let addr = ClientAddr::of(req.extensions());
    if req.headers().contains_key("authorization") {
        let ak = header(req.headers(), "authorization")
            .and_then(|v| signing::parse_authorization(v).ok())
            .map(|a| format!("ak:{}", a.access_key));
        let keys = throttle::keys(ak, addr.0);
        throttled(state, &keys, addr, "api signature")?;
        let caller = Caller(
            header(req.headers(), "authorization")
                .and_then(|v| signing::parse_authorization(v).ok())
                .map(|a| a.access_key)
                .unwrap_or_default(),
        );
        req.extensions_mut().insert(caller);
        let verified = verify_signature(state, project, req).await;
        match &verified {
            Ok(_) => state.throttle.success(&keys),
            Err(ApiError::SignatureMismatch) => failed(state, &keys, addr, "api signature"),
            // An unknown key names no identity: only the address counts.
            Err(ApiError::AccessKeyInvalid) => {
                failed(state, &throttle::keys(None, addr.0), addr, "api signature")
            }
            Err(_) => {}
        }
        return verified;
    }
    if req.headers().contains_key("x-sdk-date") {
        return Err(ApiError::AuthorizationMissing);
    }
    // Only a request without API credentials is looked at as the web console's: its session
    // cookie counts together with the session's CSRF token, never alone.
    if session::cookie_value(req.headers()).is_some() {
        authorize_api(state, project, req.headers())?;
        if let Some((_, s)) = session_of(state, req.headers()) {
            req.extensions_mut().insert(Caller(s.who));
        }
        return Ok(req);
    }
    Err(ApiError::TokenMissing)
}

/// Who the `X-Auth-Token` of `req` names, when it is valid for `project`.
fn token_caller(state: &AppState, project: &str, req: &Request) -> Result<String, ApiError> {
    let token = header(req.headers(), "x-auth-token").ok_or(ApiError::TokenMissing)?;
    let addr = ClientAddr::of(req.extensions());
    let keys = throttle::keys(None, addr.0);
    throttled(state, &keys, addr, "api token")?;
    match state.identity.check_token(token, SystemTime::now()) {
        TokenCheck::Valid(owner) if owner == project => Ok(state.identity.who(token)),
        TokenCheck::Valid(_) => Err(ApiError::ProjectMismatch),
        TokenCheck::Expired => Err(ApiError::TokenExpired),
        TokenCheck::Unknown => {
            failed(state, &keys, addr, "api token");
            Err(ApiError::TokenInvalid)
        }
    }
}

async fn verify_signature(
    state: &AppState,
    project: &str,
    req: Request,
) -> Result<Request, ApiError> {
    let sign_error = |e: SignError| match e {
        SignError::Malformed(_) => ApiError::AuthorizationMalformed,
        SignError::Expired => ApiError::SignatureExpired,
        SignError::Mismatch => ApiError::SignatureMismatch,
    };
    let headers = req.headers();
    let value = header(headers, "authorization").ok_or(ApiError::AuthorizationMalformed)?;
    let auth = signing::parse_authorization(value).map_err(sign_error)?;
    let date = header(headers, "x-sdk-date")
        .ok_or(ApiError::AuthorizationMalformed)?
        .to_owned();
    let (owner, secret) = state
        .identity
        .access_key(&auth.access_key)
        .ok_or(ApiError::AccessKeyInvalid)?;
    let mut signed = Vec::with_capacity(auth.signed_headers.len());
    for name in &auth.signed_headers {
        let v = headers
            .get(name.as_str())
            .ok_or(ApiError::SignatureMismatch)?;
        signed.push((
            name.clone(),
            String::from_utf8_lossy(v.as_bytes()).into_owned(),
        ));
    }
    let content_hash = header(headers, "x-sdk-content-sha256").map(str::to_ascii_lowercase);
    let x_project = header(headers, "x-project-id").map(str::to_owned);
    let uri = req
        .extensions()
        .get::<RawUri>()
        .map(|r| r.0.clone())
        .unwrap_or_else(|| req.uri().clone());

    let (parts, body) = req.into_parts();
    // The signature covers the body, so it is read whole here: a code upload may be as large
    // as `[storage] max_upload_bytes`, every other body `max_body_bytes`.
    let upload = uri.path().ends_with(UPLOAD_PATH);
    let limit = if upload {
        usize::try_from(state.svc.max_upload_bytes()).unwrap_or(usize::MAX)
    } else {
        state.max_body
    };
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        if upload {
            ApiError::UploadTooLarge(state.svc.max_upload_bytes())
        } else {
            ApiError::BodyTooLarge(state.max_body)
        }
    })?;
    let body_hash = if bytes.is_empty() {
        signing::EMPTY_HASH.to_owned()
    } else {
        signing::sha256_hex(&bytes)
    };
    if !bytes.is_empty() && content_hash.is_some_and(|h| h != body_hash) {
        // `UNSIGNED-PAYLOAD` or a hash of another body: the body must be covered.
        return Err(ApiError::SignatureMismatch);
    }
    let request = SignedRequest {
        method: parts.method.as_str(),
        path: uri.path(),
        query: uri.query().unwrap_or(""),
        headers: signed,
        body_hash,
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    signing::verify(&auth, &request, &date, secret, now).map_err(sign_error)?;
    if owner != project || x_project.is_some_and(|p| p != owner) {
        return Err(ApiError::ProjectMismatch);
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

/// The session of a request that carries the console cookie, if it is live.
pub fn session_of(state: &AppState, headers: &HeaderMap) -> Option<(String, session::Session)> {
    let id = session::cookie_value(headers)?;
    let s = state.console.get(id, SystemTime::now())?;
    Some((id.to_owned(), s))
}

/// An API request (`/v1/{project}`) carrying the console cookie: a live session of `project`
/// and its CSRF token in [`session::CSRF_HEADER`].
pub fn authorize_api(state: &AppState, project: &str, headers: &HeaderMap) -> Result<(), ApiError> {
    let (_, s) = session_of(state, headers).ok_or(ApiError::SessionEnded)?;
    let sent = headers
        .get(session::CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or(ApiError::CsrfMissing)?;
    if !trainyard_viz::access::same_secret(sent, &s.csrf) {
        return Err(ApiError::CsrfMissing);
    }
    if s.project != project {
        return Err(ApiError::ProjectMismatch);
    }
    Ok(())
}
