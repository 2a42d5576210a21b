//! Shared state of the HTTP layer.

use crate::service::Service;
use std::collections::HashMap;
use std::sync::Arc;

/// Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// Domain services.
    pub svc: Arc<Service>,
    /// Accepted tokens and the project each belongs to.
    pub tokens: Arc<HashMap<String, String>>,
    /// Per-project request rates.
    pub rate_limits: Arc<crate::http::rate::RateLimits>,
    /// Largest accepted request body.
    pub max_body: usize,
    /// Client of the visualization proxy.
    pub proxy: Arc<trainyard_viz::proxy::Proxy<axum::body::Body>>,
}
