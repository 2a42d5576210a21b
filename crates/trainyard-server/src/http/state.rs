//! Shared state of the HTTP layer.

use crate::service::Service;
use std::sync::Arc;

/// Cheap to clone: one reference count. Every request clones it a few times (each middleware
/// with state, each handler's `State`); with a count per field that was about 20 atomic
/// updates per clone and drop, shared by the worker threads.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// What [`AppState`] shares.
pub struct Shared {
    /// Domain services.
    pub(in crate::http) svc: Arc<Service>,
    /// Tokens, access keys, users and issued tokens.
    pub(in crate::http) identity: Arc<crate::identity::Identity>,
    /// Per-project request rates.
    pub(in crate::http) rate_limits: Arc<crate::http::rate::RateLimits>,
    /// Largest accepted request body.
    pub(in crate::http) max_body: usize,
    /// Client of the visualization proxy.
    pub(in crate::http) proxy: Arc<trainyard_viz::proxy::Proxy<axum::body::Body>>,
    /// Turns `true` when the server starts shutting down; long responses (log streams) end.
    pub(in crate::http) shutdown: Arc<tokio::sync::watch::Sender<bool>>,
    /// Signed-in browsers of the web console.
    pub(in crate::http) console: Arc<crate::http::session::Sessions>,
    /// Prometheus metrics and the run sampling interval.
    pub(in crate::http) telemetry: Arc<crate::telemetry::Telemetry>,
    /// The names and origins this server answers to.
    pub(in crate::http) public: Arc<crate::origin::PublicUrls>,
    /// Failed credential checks, by identity and client address.
    pub(in crate::http) throttle: Arc<crate::throttle::Throttle>,
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    /// The HTTP layer's state over `svc`, with the limits `config` sets.
    pub fn new(
        svc: Service,
        identity: crate::identity::Identity,
        config: &crate::config::Config,
        telemetry: Arc<crate::telemetry::Telemetry>,
        public: crate::origin::PublicUrls,
    ) -> Self {
        let rate_limits = crate::http::rate::RateLimits::new(
            config
                .projects
                .iter()
                .filter_map(|p| p.requests_per_second.map(|r| (p.id.clone(), r))),
        );
        let console_cap = config
            .sign_in
            .max_console_sessions_per_identity
            .unwrap_or(crate::config::DEFAULT_MAX_CONSOLE_SESSIONS);
        Self(Arc::new(Shared {
            svc: Arc::new(svc),
            identity: Arc::new(identity),
            rate_limits: Arc::new(rate_limits),
            max_body: config.max_body_bytes.unwrap_or(1 << 20),
            proxy: Arc::new(trainyard_viz::proxy::Proxy::new()),
            shutdown: Arc::new(tokio::sync::watch::Sender::new(false)),
            console: Arc::new(crate::http::session::Sessions::with_cap(console_cap)),
            telemetry,
            public: Arc::new(public),
            throttle: Arc::new(crate::throttle::Throttle::new(config.sign_in.policy())),
        }))
    }

    /// The domain services.
    pub fn svc(&self) -> &Arc<Service> {
        &self.svc
    }

    /// Tokens, access keys, users and issued tokens.
    pub fn identity(&self) -> &Arc<crate::identity::Identity> {
        &self.identity
    }

    /// Per-project request rates.
    pub fn rate_limits(&self) -> &Arc<crate::http::rate::RateLimits> {
        &self.rate_limits
    }

    /// Turns `true` when the server starts shutting down.
    pub fn shutdown(&self) -> &Arc<tokio::sync::watch::Sender<bool>> {
        &self.shutdown
    }

    /// Prometheus metrics and the run sampling interval.
    pub fn telemetry(&self) -> &Arc<crate::telemetry::Telemetry> {
        &self.telemetry
    }

    /// The names and origins this server answers to.
    pub fn public(&self) -> &Arc<crate::origin::PublicUrls> {
        &self.public
    }

    /// Failed credential checks, by identity and client address.
    pub fn throttle(&self) -> &Arc<crate::throttle::Throttle> {
        &self.throttle
    }
}
