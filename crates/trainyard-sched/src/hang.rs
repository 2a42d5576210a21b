//! Hang detection of a running run: a run whose workers wrote no log bytes and used less than
//! [`Rule::cpu_percent`] of CPU (and of GPU, where sampled) for [`Rule::timeout_ms`] is hung.
//! [`Watch`] is fed what the server looks at, at each tick (the total size of the run's logs,
//! and the workers' usage samples its shim wrote), and says when the run is hung.

/// When a run counts as hung.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rule {
    /// How long without output and CPU, ms.
    pub timeout_ms: i64,
    /// A worker using at least this much CPU (percent of one core) or GPU (percent) in a
    /// sample is busy.
    pub cpu_percent: f64,
}

/// CPU (percent of one core) below which a worker counts as idle, by default: a sleeping or
/// blocked process uses next to nothing; a deadlocked collective that spins would not count.
pub const DEFAULT_CPU_PERCENT: f64 = 5.0;

impl Rule {
    /// The rule for `hang_timeout_minutes` (fractions allowed), with the default CPU
    /// threshold; `None` for a timeout that is not positive.
    pub fn of_minutes(minutes: f64) -> Option<Self> {
        (minutes.is_finite() && minutes > 0.0).then(|| Self {
            timeout_ms: (minutes * 60_000.0).round().max(1.0) as i64,
            cpu_percent: DEFAULT_CPU_PERCENT,
        })
    }
}

/// One usage sample of one worker: the mean over `[t - d, t]` (ms since the epoch).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Usage {
    /// End of the sampled span.
    pub t: i64,
    /// CPU, percent of one core.
    pub cpu: f64,
    /// GPU utilization in percent, where sampled.
    pub gpu: Option<f64>,
}

/// What the watch of one run has seen: since when it has been quiet, and the log size then.
#[derive(Clone, Debug, PartialEq)]
pub struct Watch {
    rule: Rule,
    /// Since when (ms) nothing was written and no worker was busy.
    quiet_since: i64,
    /// The logs' total size last seen.
    log_bytes: u64,
    /// Whether a sample ended after `quiet_since` (evidence that the workers were sampled
    /// idle, not just unsampled).
    sampled: bool,
}

/// A hung run: how long it has been quiet, whole seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hung {
    /// Seconds without output and CPU.
    pub quiet_s: u64,
}

impl Watch {
    /// A watch starting at `since` (the run's start, or when it was first seen) with the logs
    /// at `log_bytes`.
    pub fn new(rule: Rule, since: i64, log_bytes: u64) -> Self {
        Self {
            rule,
            quiet_since: since,
            log_bytes,
            sampled: false,
        }
    }

    /// The rule it applies.
    pub fn rule(&self) -> Rule {
        self.rule
    }

    /// One look at `now`: the logs' total size and the usage samples (any order, old ones
    /// included). A grown log or a busy sample ends the quiet; the run is hung once it has
    /// been quiet for the rule's timeout and at least one sample since shows it idle.
    pub fn look(&mut self, now: i64, log_bytes: u64, samples: &[Usage]) -> Option<Hung> {
        if log_bytes != self.log_bytes {
            self.log_bytes = log_bytes;
            self.quiet_since = self.quiet_since.max(now);
            self.sampled = false;
        }
        let threshold = self.rule.cpu_percent;
        let busy = |s: &&Usage| s.cpu >= threshold || s.gpu.is_some_and(|g| g >= threshold);
        if let Some(last_busy) = samples.iter().filter(busy).map(|s| s.t).max() {
            if last_busy > self.quiet_since {
                self.quiet_since = last_busy;
                self.sampled = false;
            }
        }
        self.sampled |= samples.iter().any(|s| s.t > self.quiet_since);
        let quiet = now - self.quiet_since;
        (self.sampled && quiet >= self.rule.timeout_ms).then(|| Hung {
            quiet_s: (quiet / 1000).max(0) as u64,
        })
    }
}

/// The failure reason of a run stopped as hung.
pub fn reason(hung: Hung) -> String {
    format!("hung: no output and no CPU for {} s", hung.quiet_s)
}
