//! Shared state of the HTTP layer.

use crate::service::Service;
use std::sync::Arc;

/// Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// Domain services.
    pub svc: Arc<Service>,
    /// Tokens, access keys, users and issued tokens.
    pub identity: Arc<crate::identity::Identity>,
    /// Per-project request rates.
    pub rate_limits: Arc<crate::http::rate::RateLimits>,
    /// Largest accepted request body.
    pub max_body: usize,
    /// Client of the visualization proxy.
    pub proxy: Arc<trainyard_viz::proxy::Proxy<axum::body::Body>>,
    /// Turns `true` when the server starts shutting down; long responses (log streams) end.
    pub shutdown: Arc<tokio::sync::watch::Sender<bool>>,
    /// Signed-in browsers of the web console.
    pub console: Arc<crate::http::session::Sessions>,
    /// Prometheus metrics and the run sampling interval.
    pub telemetry: Arc<crate::telemetry::Telemetry>,
    /// The names and origins this server answers to.
    pub public: Arc<crate::origin::PublicUrls>,
    /// Failed credential checks, by identity and client address.
    pub throttle: Arc<crate::throttle::Throttle>,
}
