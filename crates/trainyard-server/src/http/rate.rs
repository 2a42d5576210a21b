//! Per-project request rate limits (token buckets).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

struct Bucket {
    tokens: f64,
    last: Instant,
}

/// Token buckets by project; projects without a configured rate are not limited.
pub struct RateLimits {
    rates: HashMap<String, u32>,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimits {
    /// Limits from (project, requests per second) pairs.
    pub fn new(rates: impl IntoIterator<Item = (String, u32)>) -> Self {
        Self {
            rates: rates.into_iter().filter(|(_, r)| *r > 0).collect(),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one request's token; false when the project is over its rate.
    pub fn admit(&self, project: &str) -> bool {
        let Some(&rate) = self.rates.get(project) else {
            return true;
        };
        let rate = f64::from(rate);
        let now = Instant::now();
        let mut buckets = self.buckets.lock().expect("rate limit lock");
        let b = buckets.entry(project.to_owned()).or_insert(Bucket {
            tokens: rate,
            last: now,
        });
        b.tokens = (b.tokens + now.duration_since(b.last).as_secs_f64() * rate).min(rate);
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RateLimits;

    #[test]
    fn bursts_up_to_the_rate_then_refuses() {
        let limits = RateLimits::new([("p".to_owned(), 3)]);
        assert!((0..3).all(|_| limits.admit("p")));
        assert!(!limits.admit("p"));
        assert!((0..100).all(|_| limits.admit("unlimited")));
    }
}
