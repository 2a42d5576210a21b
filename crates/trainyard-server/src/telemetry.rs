//! The server's own observability: Prometheus metrics (`GET /metrics`, the `prometheus-client`
//! crate, one registry per server so tests in one process never share counters) and the
//! sampling interval handed to every run's shim.
//!
//! Event metrics (requests, starts, stops, proxy bytes) are counted where they happen; state
//! metrics (versions by status, queue, slots, visualization jobs) are read from the store and
//! the executor at scrape time, so they are right after a restart too.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Instant;

use axum::http::{header, HeaderMap};
use axum::response::Response;
use futures_util::TryStreamExt;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use trainyard_api::JobStatus;

use crate::error::ApiError;

mod requests;

type Labels = Vec<(String, String)>;
type FloatGauge = Gauge<f64, AtomicU64>;
type FloatCounter = Counter<f64, AtomicU64>;

fn run_histogram() -> Histogram {
    // 10 ms .. ~1.4 h: starts are fast, stops wait for the grace period.
    Histogram::new(exponential_buckets(0.01, 2.0, 20))
}

/// Metrics and settings shared by the HTTP layer and the run lifecycle.
pub struct Telemetry {
    /// How often each run's shim samples its workers (`[metrics] sample_interval_seconds`).
    pub sample_interval_ms: u64,
    /// Token that opens `/metrics`.
    scrape_token: Option<String>,
    /// `[metrics] loopback_without_token`.
    loopback_without_token: bool,
    registry: Registry,
    requests: requests::RequestMetrics,
    versions: Family<Labels, Gauge>,
    queue_length: Gauge,
    queue_wait: FloatGauge,
    slots: Family<Labels, FloatGauge>,
    viz: Family<Labels, Gauge>,
    proxy_bytes: Counter,
    runs_started: Counter,
    runs_ended: Family<Labels, Counter>,
    stops_requested: Counter,
    start_seconds: Histogram,
    stop_seconds: Histogram,
    versions_created: Counter,
    /// Usage of ended runs (each attempt), by project: see [`Usage`].
    usage: Usage,
    /// When each pending start (4) and stop (9) began, by version id.
    pending: Mutex<Pending>,
}

/// The usage counters, counted when a run's usage record is written (once per attempt).
#[derive(Default)]
struct Usage {
    core_seconds: Family<Labels, FloatCounter>,
    gpu_seconds: Family<Labels, FloatCounter>,
    memory_gb_seconds: Family<Labels, FloatCounter>,
    wait_seconds: Family<Labels, FloatCounter>,
    runs: Family<Labels, Counter>,
}

impl Usage {
    fn register(registry: &mut Registry) -> Self {
        let usage = Self::default();
        registry.register(
            "trainyard_usage_core_seconds",
            "Core-seconds used by ended runs (running time times cores held), by project",
            usage.core_seconds.clone(),
        );
        registry.register(
            "trainyard_usage_gpu_seconds",
            "GPU-seconds used by ended runs, by project",
            usage.gpu_seconds.clone(),
        );
        registry.register(
            "trainyard_usage_memory_gb_seconds",
            "Memory GB-seconds used by ended runs, by project",
            usage.memory_gb_seconds.clone(),
        );
        registry.register(
            "trainyard_usage_wait_seconds",
            "Seconds ended runs waited for their start, by project",
            usage.wait_seconds.clone(),
        );
        registry.register(
            "trainyard_usage_runs",
            "Runs (each attempt) accounted, by project and outcome (completed, failed, stopped, lost, retried)",
            usage.runs.clone(),
        );
        usage
    }
}

#[derive(Default)]
struct Pending {
    starts: HashMap<i64, Instant>,
    stops: HashMap<i64, Instant>,
}

impl Telemetry {
    /// A registry with every metric registered.
    pub fn new(
        sample_interval_ms: u64,
        scrape_token: Option<String>,
        loopback_without_token: bool,
    ) -> Self {
        let mut registry = Registry::default();
        let requests = requests::RequestMetrics::register(&mut registry);
        let versions = Family::<Labels, Gauge>::default();
        registry.register(
            "trainyard_versions",
            "Training job versions (not deleted), by project and status",
            versions.clone(),
        );
        let queue_length = Gauge::default();
        registry.register(
            "trainyard_queue_length",
            "Versions waiting for their start (status 1 INIT or 7 WAITING)",
            queue_length.clone(),
        );
        let queue_wait = FloatGauge::default();
        registry.register(
            "trainyard_queue_oldest_wait_seconds",
            "How long the oldest waiting version has waited (0 when none waits)",
            queue_wait.clone(),
        );
        let slots = Family::<Labels, FloatGauge>::default();
        registry.register(
            "trainyard_executor_slots",
            "Executor capacity by resource (cores, memory_gb, gpus) and state (used, free)",
            slots.clone(),
        );
        let viz = Family::<Labels, Gauge>::default();
        registry.register(
            "trainyard_viz_jobs",
            "Visualization jobs (not deleted) by status; status 8 is running",
            viz.clone(),
        );
        let proxy_bytes = Counter::default();
        registry.register(
            "trainyard_viz_proxy_response_bytes",
            "Bytes of TensorBoard responses sent through the proxy",
            proxy_bytes.clone(),
        );
        let runs_started = Counter::default();
        registry.register(
            "trainyard_runs_started",
            "Runs that reached status 8 RUNNING on the local executor",
            runs_started.clone(),
        );
        let runs_ended = Family::<Labels, Counter>::default();
        registry.register(
            "trainyard_runs_ended",
            "Runs recorded as ended, by final status",
            runs_ended.clone(),
        );
        let stops_requested = Counter::default();
        registry.register(
            "trainyard_stops_requested",
            "Stops asked for (status moved to 9 KILLING)",
            stops_requested.clone(),
        );
        let start_seconds = run_histogram();
        registry.register(
            "trainyard_run_start_duration_seconds",
            "From the start decision (status 4) to a running run (status 8)",
            start_seconds.clone(),
        );
        let stop_seconds = run_histogram();
        registry.register(
            "trainyard_run_stop_duration_seconds",
            "From a stop request (status 9) to the recorded end of the run",
            stop_seconds.clone(),
        );
        let versions_created = Counter::default();
        registry.register(
            "trainyard_versions_created",
            "Training job versions created (TJ-01, TJ-06)",
            versions_created.clone(),
        );
        let usage = Usage::register(&mut registry);
        Self {
            sample_interval_ms,
            scrape_token,
            loopback_without_token,
            registry,
            requests,
            versions,
            queue_length,
            queue_wait,
            slots,
            viz,
            proxy_bytes,
            runs_started,
            runs_ended,
            stops_requested,
            start_seconds,
            stop_seconds,
            versions_created,
            usage,
            pending: Mutex::new(Pending::default()),
        }
    }

    /// A version was created.
    pub fn version_created(&self) {
        self.versions_created.inc();
    }

    /// Version `id` moved to 4: its start begins.
    pub fn start_began(&self, id: i64) {
        let mut p = self.pending.lock().expect("metrics lock");
        p.starts.insert(id, Instant::now());
    }

    /// Version `id` reached 8.
    pub fn started(&self, id: i64) {
        self.runs_started.inc();
        let began = self
            .pending
            .lock()
            .expect("metrics lock")
            .starts
            .remove(&id);
        if let Some(t) = began {
            self.start_seconds.observe(t.elapsed().as_secs_f64());
        }
    }

    /// A stop of version `id` was asked for (moved to 9).
    pub fn stop_began(&self, id: i64) {
        self.stops_requested.inc();
        let mut p = self.pending.lock().expect("metrics lock");
        p.stops.entry(id).or_insert_with(Instant::now);
    }

    /// The run of version `id` was recorded as ended in `status`.
    pub fn ended(&self, id: i64, status: JobStatus) {
        let label = vec![("status".to_owned(), status_name(status))];
        self.runs_ended.get_or_create(&label).inc();
        let mut p = self.pending.lock().expect("metrics lock");
        p.starts.remove(&id);
        if let Some(t) = p.stops.remove(&id) {
            self.stop_seconds.observe(t.elapsed().as_secs_f64());
        }
    }

    /// A run's usage record was written: its attempt's resource-seconds count for its project.
    pub fn usage(&self, record: Option<&trainyard_store::UsageRecord>) {
        let Some(r) = record else { return };
        let project = vec![("project".to_owned(), r.project_id.clone())];
        let run_s = r.started_at.map_or(0, |s| (r.ended_at - s).max(0)) as f64 / 1000.0;
        let wait_ms = r.started_at.unwrap_or(r.ended_at) - r.queued_at;
        let u = &self.usage;
        u.core_seconds
            .get_or_create(&project)
            .inc_by(run_s * r.cores as f64);
        u.gpu_seconds
            .get_or_create(&project)
            .inc_by(run_s * r.gpus as f64);
        let memory = run_s * r.memory_gb as f64;
        u.memory_gb_seconds.get_or_create(&project).inc_by(memory);
        let wait_s = wait_ms.max(0) as f64 / 1000.0;
        u.wait_seconds.get_or_create(&project).inc_by(wait_s);
        let mut labels = project;
        labels.push(("outcome".to_owned(), r.outcome.clone()));
        u.runs.get_or_create(&labels).inc();
    }

    /// Counts the bytes of a proxied visualization response as they are sent.
    pub fn count_proxy_body(&self, resp: Response) -> Response {
        let counter = self.proxy_bytes.clone();
        let (parts, body) = resp.into_parts();
        let counted = body.into_data_stream().inspect_ok(move |chunk| {
            counter.inc_by(chunk.len() as u64);
        });
        Response::from_parts(parts, axum::body::Body::from_stream(counted))
    }

    /// Counts one answered request (the API's middleware, the S3 endpoint's front). `route`
    /// is a matched route pattern (`/v1/{project_id}/training-jobs`, labelled
    /// `/v1/:project_id/training-jobs`) or a label as it is (`unmatched`, `s3:GetObject`).
    pub(crate) fn observe_request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.requests.observe(method, route, status, seconds);
    }

    /// May this caller scrape? Loopback peers always; others with the configured token
    /// (`Authorization: Bearer TOKEN`), refused as a missing (0201) or wrong (0203) token.
    pub(crate) fn may_scrape(
        &self,
        peer: Option<SocketAddr>,
        headers: &HeaderMap,
    ) -> Result<(), ApiError> {
        if self.loopback_without_token && peer.is_some_and(|p| p.ip().is_loopback()) {
            return Ok(());
        }
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or(ApiError::TokenMissing)?;
        match &self.scrape_token {
            Some(want)
                if bool::from(subtle::ConstantTimeEq::ct_eq(
                    given.as_bytes(),
                    want.as_bytes(),
                )) =>
            {
                Ok(())
            }
            _ => Err(ApiError::TokenInvalid),
        }
    }
}

/// Lower-case name of a status for labels (`running`, `completed`...), else its number.
fn status_name(s: JobStatus) -> String {
    match s.name() {
        "?" => s.code().to_string(),
        n => n.to_ascii_lowercase(),
    }
}

/// The state gauges as read at scrape time (see `http::metrics`).
pub(crate) struct StateSample {
    /// Versions per (project, status code).
    pub versions: Vec<(String, i64, i64)>,
    /// Creation time (ms) of the oldest queued version.
    pub oldest_queued: Option<i64>,
    /// (resource, total, free) of the executor's capacity.
    pub slots: [(&'static str, u32, u32); 3],
    /// Visualization jobs per status code.
    pub viz: Vec<(i64, i64)>,
}

impl Telemetry {
    /// Sets the state gauges from a fresh reading.
    pub(crate) fn set_state(&self, sample: StateSample) {
        let queued: i64 = sample
            .versions
            .iter()
            .filter(|(_, st, _)| JobStatus::QUEUED.contains(&JobStatus::from_code(*st)))
            .map(|(_, _, n)| n)
            .sum();
        self.versions.clear();
        for (project, status, n) in sample.versions {
            let labels = vec![
                ("project".to_owned(), project),
                (
                    "status".to_owned(),
                    status_name(JobStatus::from_code(status)),
                ),
            ];
            self.versions.get_or_create(&labels).set(n);
        }
        self.queue_length.set(queued);
        let waited = sample.oldest_queued.map_or(0.0, |t| {
            ((crate::util::now_ms() - t).max(0) as f64) / 1000.0
        });
        self.queue_wait.set(waited);
        for (resource, total, free) in sample.slots {
            for (state, value) in [("used", total - free), ("free", free)] {
                let labels = vec![
                    ("resource".to_owned(), resource.to_owned()),
                    ("state".to_owned(), state.to_owned()),
                ];
                self.slots.get_or_create(&labels).set(value as f64);
            }
        }
        self.viz.clear();
        for (status, n) in sample.viz {
            let labels = vec![(
                "status".to_owned(),
                status_name(JobStatus::from_code(status)),
            )];
            self.viz.get_or_create(&labels).set(n);
        }
    }

    /// The registry in the Prometheus text format; `None` when it cannot be encoded.
    pub(crate) fn encode(&self) -> Option<String> {
        let mut text = String::new();
        encode(&mut text, &self.registry).ok()?;
        Some(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn bearer(token: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
        );
        h
    }

    /// Everyone needs the configured token, loopback too, unless the operator opened
    /// loopback.
    #[test]
    fn scrape_access() {
        let open = Telemetry::new(10_000, None, true);
        let guarded = Telemetry::new(10_000, Some("s3cret".to_owned()), false);
        let local: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let remote: SocketAddr = "192.0.2.7:5000".parse().unwrap();
        assert!(open.may_scrape(Some(local), &HeaderMap::new()).is_ok());
        assert!(matches!(
            guarded.may_scrape(Some(local), &HeaderMap::new()),
            Err(ApiError::TokenMissing)
        ));
        assert!(guarded.may_scrape(Some(local), &bearer("s3cret")).is_ok());
        assert!(matches!(
            open.may_scrape(Some(remote), &HeaderMap::new()),
            Err(ApiError::TokenMissing)
        ));
        assert!(matches!(
            open.may_scrape(Some(remote), &bearer("s3cret")),
            Err(ApiError::TokenInvalid)
        ));
        assert!(guarded.may_scrape(Some(remote), &bearer("s3cret")).is_ok());
        assert!(matches!(
            guarded.may_scrape(Some(remote), &bearer("wrong")),
            Err(ApiError::TokenInvalid)
        ));
    }
}
