//! Whether a failed run is started again: the retry decision of a version's run, from its
//! policy (`config.retry_policy`, the project's default, or the v2 fault-tolerance
//! annotations), how its attempt ended and what the earlier attempts used. Pure: the
//! lifecycle owner reads the log lines and records what this decides.

use crate::status::{End, Exit};
use std::time::Duration;
use trainyard_api::training::RetryPolicy;
use trainyard_api::JobStatus;

/// Most retries a policy may ask for (the v2 annotation's bound).
pub const MAX_RETRIES: i64 = 128;
/// Longest first pause a policy may ask for, in seconds.
pub const MAX_BACKOFF_SECONDS: i64 = 3600;
/// The first pause when the policy names none, in seconds.
pub const DEFAULT_BACKOFF_SECONDS: i64 = 5;
/// The longest pause between two attempts (the doubling stops there).
pub const BACKOFF_CAP: Duration = Duration::from_secs(3600);
/// How many of the last lines of each worker's log a log pattern is matched against.
pub const TAIL_LINES: usize = 50;

/// What the earlier attempts of a run used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Used {
    /// The attempt that just ended (1 for the first run).
    pub attempt: i64,
    /// `on_any_failure` retries in a row before this one.
    pub consecutive_any: i64,
}

/// Why an attempt is retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    /// A worker, the shim or the node was lost, or a worker was killed by a signal.
    Lost,
    /// A worker exited with a code of `on_exit_codes`.
    ExitCode,
    /// A worker's log matched `on_log_pattern`.
    LogPattern,
    /// `on_any_failure`.
    AnyFailure,
    /// The run was stopped as hung, and `on_hang` (or `on_any_failure`) retries that.
    Hang,
}

/// A retry: the next attempt, its pause and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Retry {
    /// The attempt that starts next (2 for the first retry).
    pub next_attempt: i64,
    /// The pause before it starts.
    pub delay: Duration,
    /// What the next attempt records as [`Used::consecutive_any`].
    pub consecutive_any: i64,
    /// Why.
    pub cause: Cause,
    /// The failure, in words ("worker 0 exited with code 3").
    pub reason: String,
}

impl Retry {
    /// The line the version's log gets: `attempt 1 of 3 failed (...); attempt 2 starts in 5 s`.
    pub fn log_line(&self, max_retries: i64) -> String {
        format!(
            "[trainyard] attempt {} of {} failed ({}); attempt {} starts in {} s",
            self.next_attempt - 1,
            max_retries + 1,
            self.reason,
            self.next_attempt,
            self.delay.as_secs()
        )
    }
}

/// The problems of a policy, for a 400 answer: `None` when it is valid.
pub fn invalid(policy: &RetryPolicy) -> Option<String> {
    if let Some(n) = policy
        .max_retries
        .filter(|n| !(0..=MAX_RETRIES).contains(n))
    {
        return Some(format!(
            "retry_policy.max_retries:{n} must be in [0,{MAX_RETRIES}]"
        ));
    }
    if let Some(b) = policy
        .backoff_seconds
        .filter(|b| !(0..=MAX_BACKOFF_SECONDS).contains(b))
    {
        return Some(format!(
            "retry_policy.backoff_seconds:{b} must be in [0,{MAX_BACKOFF_SECONDS}]"
        ));
    }
    if let Some(n) = policy.max_consecutive_any.filter(|n| *n < 1) {
        return Some(format!(
            "retry_policy.max_consecutive_any:{n} must be at least 1"
        ));
    }
    if policy.on_exit_codes.as_ref().is_some_and(|c| c.len() > 256) {
        return Some("retry_policy.on_exit_codes: at most 256 codes".to_owned());
    }
    if let Some(p) = &policy.on_log_pattern {
        if p.len() > 1024 {
            return Some("retry_policy.on_log_pattern: at most 1024 characters".to_owned());
        }
        if let Err(e) = pattern(p) {
            return Some(format!("retry_policy.on_log_pattern: {e}"));
        }
    }
    None
}

fn pattern(p: &str) -> Result<regex::Regex, regex::Error> {
    regex::RegexBuilder::new(p).size_limit(1 << 20).build()
}

/// The pause before attempt `next_attempt` (2, 3, ...): `backoff_seconds` doubled for each
/// retry before, at most [`BACKOFF_CAP`].
pub fn delay(policy: &RetryPolicy, next_attempt: i64) -> Duration {
    let base = policy
        .backoff_seconds
        .unwrap_or(DEFAULT_BACKOFF_SECONDS)
        .clamp(0, MAX_BACKOFF_SECONDS) as u64;
    let doublings = u32::try_from((next_attempt - 2).clamp(0, 16)).unwrap_or(16);
    Duration::from_secs(base.saturating_mul(1 << doublings)).min(BACKOFF_CAP)
}

/// Whether the end of an attempt is retried. `status`: the version's status when it ended
/// (9: a stop was asked for); `tail`: the last lines of the workers' logs. `None`: the
/// attempt's end is the version's ([`crate::status::end`] says how).
///
/// Never retried: a stop (asked for, or by the server: `Stopped`), a timeout, a run that
/// could not start or upload or overran its log cap, a success. Retried while attempts are
/// left: a lost run or a worker killed by a signal always; an exit code of `on_exit_codes`;
/// a log line matching `on_log_pattern`; any failure with `on_any_failure` (at most
/// `max_consecutive_any` of those in a row).
pub fn decide(
    policy: Option<&RetryPolicy>,
    status: JobStatus,
    end: &End,
    tail: &[String],
    used: Used,
) -> Option<Retry> {
    let policy = policy?;
    let max = policy.max_retries.unwrap_or(0).clamp(0, MAX_RETRIES);
    if status == JobStatus::KILLING || end.timed_out || used.attempt > max {
        return None;
    }
    let (cause, reason) = match &end.exit {
        Exit::Lost => (Cause::Lost, "the job's processes vanished".to_owned()),
        Exit::Failed {
            worker,
            exit_code,
            signal,
        } => {
            let reason = match (exit_code, signal) {
                (Some(c), _) => format!("worker {worker} exited with code {c}"),
                (None, Some(s)) => format!("worker {worker} was killed by signal {s}"),
                (None, None) => format!("worker {worker} failed"),
            };
            let on_code = exit_code.is_some_and(|c| {
                policy
                    .on_exit_codes
                    .as_ref()
                    .is_some_and(|codes| codes.contains(&c))
            });
            let on_log = policy
                .on_log_pattern
                .as_deref()
                .and_then(|p| pattern(p).ok())
                .is_some_and(|re| tail.iter().any(|line| re.is_match(line)));
            let any_left = policy.on_any_failure == Some(true)
                && policy
                    .max_consecutive_any
                    .is_none_or(|limit| used.consecutive_any < limit);
            let cause = if exit_code.is_none() && signal.is_some() {
                Cause::Lost
            } else if on_code {
                Cause::ExitCode
            } else if on_log {
                Cause::LogPattern
            } else if any_left {
                Cause::AnyFailure
            } else {
                return None;
            };
            (cause, reason)
        }
        // A hang is retried with `on_hang`, or as any failure with `on_any_failure` (a
        // deadlocked collective often passes on a fresh start); both count as retries in a
        // row, so a run that hangs every time ends.
        Exit::Hung(hung) => {
            let wanted = policy.on_hang == Some(true) || policy.on_any_failure == Some(true);
            let left = policy
                .max_consecutive_any
                .is_none_or(|limit| used.consecutive_any < limit);
            if !(wanted && left) {
                return None;
            }
            (Cause::Hang, crate::hang::reason(*hung))
        }
        Exit::Succeeded
        | Exit::Stopped
        | Exit::SpawnFailed(_)
        | Exit::UploadFailed(_)
        | Exit::LogLimit(_) => return None,
    };
    let next_attempt = used.attempt + 1;
    Some(Retry {
        next_attempt,
        delay: delay(policy, next_attempt),
        consecutive_any: match cause {
            Cause::AnyFailure | Cause::Hang => used.consecutive_any + 1,
            Cause::Lost => 0,
            Cause::ExitCode | Cause::LogPattern => used.consecutive_any,
        },
        cause,
        reason,
    })
}
