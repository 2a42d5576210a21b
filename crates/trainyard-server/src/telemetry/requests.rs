//! The request metrics (`trainyard_http_requests`, `trainyard_http_request_duration_seconds`)
//! and their handles, kept by route, method and status: a request finds its counter and
//! histogram with one read lock and no allocation. Looking them up in the families took three
//! label pairs of owned strings per request and two look-ups.

use std::collections::HashMap;
use std::sync::RwLock;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use super::Labels;

fn latency_histogram() -> Histogram {
    // 1 ms .. ~33 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

/// The two families and the handles of every (route, method, status) seen so far. A kept
/// handle is the family's own metric (a shared count), so `/metrics` reports it as before.
pub(super) struct RequestMetrics {
    requests: Family<Labels, Counter>,
    seconds: Family<Labels, Histogram, fn() -> Histogram>,
    kept: RwLock<HashMap<Box<str>, Vec<Kept>>>,
}

/// The handles of one method and status of a route.
struct Kept {
    method: Box<str>,
    status: u16,
    count: Counter,
    seconds: Histogram,
}

impl Kept {
    fn observe(&self, seconds: f64) {
        self.count.inc();
        self.seconds.observe(seconds);
    }
}

impl RequestMetrics {
    /// Both families, registered in `registry`.
    pub(super) fn register(registry: &mut Registry) -> Self {
        let requests = Family::<Labels, Counter>::default();
        registry.register(
            "trainyard_http_requests",
            "API requests answered, by method, route and status code",
            requests.clone(),
        );
        let seconds = Family::<Labels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        registry.register(
            "trainyard_http_request_duration_seconds",
            "API request latency, by method, route and status code",
            seconds.clone(),
        );
        Self {
            requests,
            seconds,
            kept: RwLock::new(HashMap::new()),
        }
    }

    /// Counts one answered request. `route` is a matched route pattern
    /// (`/v1/{project_id}/training-jobs`) or a label as it is (`unmatched`, `s3:GetObject`).
    pub(super) fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let find = |routes: &HashMap<Box<str>, Vec<Kept>>| {
            routes.get(route).and_then(|ks| {
                ks.iter()
                    .position(|k| k.status == status && &*k.method == method)
            })
        };
        {
            let kept = self.kept.read().expect("request metrics lock");
            if let Some(at) = find(&kept) {
                kept[route][at].observe(seconds);
                return;
            }
        }
        let mut kept = self.kept.write().expect("request metrics lock");
        if let Some(at) = find(&kept) {
            kept[route][at].observe(seconds);
            return;
        }
        let labels = vec![
            ("method".to_owned(), method.to_owned()),
            ("route".to_owned(), route_label(route)),
            ("code".to_owned(), status.to_string()),
        ];
        let k = Kept {
            method: method.into(),
            status,
            count: self.requests.get_or_create(&labels).clone(),
            seconds: self.seconds.get_or_create(&labels).clone(),
        };
        k.observe(seconds);
        kept.entry(route.into()).or_default().push(k);
    }
}

/// A route as a label: `{name}` placeholders written `:name`
/// (`/v1/:project_id/training-jobs`), which every text-format parser reads back unchanged.
fn route_label(path: &str) -> String {
    path.replace('{', ":").replace('}', "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_labels() {
        assert_eq!(
            route_label("/v1/{project_id}/training-jobs"),
            "/v1/:project_id/training-jobs"
        );
        assert_eq!(route_label("s3:GetObject"), "s3:GetObject");
    }

    #[test]
    fn kept_handles_count_in_the_families() {
        let mut registry = Registry::default();
        let m = RequestMetrics::register(&mut registry);
        for _ in 0..3 {
            m.observe("GET", "/v1/{project_id}/job/ai-engines", 200, 0.002);
        }
        m.observe("GET", "/v1/{project_id}/job/ai-engines", 401, 0.001);
        m.observe("POST", "/v1/{project_id}/job/ai-engines", 200, 0.001);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        for line in [
            "trainyard_http_requests_total{method=\"GET\",route=\"/v1/:project_id/job/ai-engines\",code=\"200\"} 3",
            "trainyard_http_requests_total{method=\"GET\",route=\"/v1/:project_id/job/ai-engines\",code=\"401\"} 1",
            "trainyard_http_requests_total{method=\"POST\",route=\"/v1/:project_id/job/ai-engines\",code=\"200\"} 1",
            "trainyard_http_request_duration_seconds_count{method=\"GET\",route=\"/v1/:project_id/job/ai-engines\",code=\"200\"} 3",
        ] {
            assert!(text.contains(line), "{line} not in\n{text}");
        }
    }
}
