//! The delivery task: claims due deliveries from the outbox, POSTs each to its webhook
//! (signed), and records the attempt with what follows: done on a 2xx answer, else another
//! try after a pause that doubles (at most [`MAX_PAUSE`]) while the event is younger than
//! `[notifications] retry_for_minutes`, else given up.
//!
//! Servers sharing a database each run one; a claim holds a delivery for one attempt's time
//! limit and a margin ([`LEASE_MARGIN`]), so each attempt is made by one server, and a server
//! killed mid-attempt leaves the delivery to be claimed again when its claim runs out.

use super::{Hook, Hooks, Timing};
use crate::config::WebhookFormat;
use crate::util::now_ms;
use std::sync::Arc;
use std::time::{Duration, Instant};
use trainyard_store::{AttemptOutcome, Delivery, DeliveryAttempt, Store};

/// The longest pause between two attempts.
pub const MAX_PAUSE: Duration = Duration::from_secs(600);

/// A claim lasts an attempt's time limit and this.
pub const LEASE_MARGIN: Duration = Duration::from_secs(30);

/// How often the outbox is looked at without being woken (a retry fell due, or another
/// server recorded the event).
const POLL: Duration = Duration::from_millis(500);

/// Most deliveries claimed at a time; each is sent in its own task.
const CLAIM: usize = 32;

/// Most attempts in flight (receivers that never answer hold theirs for the time limit).
const IN_FLIGHT: usize = 256;

/// Runs the delivery task on `store` for `hooks`, woken by them when events with deliveries
/// were recorded. Ends when the runtime does.
pub async fn run(store: Arc<dyn Store>, hooks: Arc<Hooks>) {
    let client = match reqwest::Client::builder()
        .timeout(hooks.timing.timeout)
        .connect_timeout(hooks.timing.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("trainyard/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot make the webhook client; no notifications are sent");
            return;
        }
    };
    let token = format!("{:016x}", rand::random::<u64>());
    let lease = (hooks.timing.timeout + LEASE_MARGIN).as_millis() as i64;
    let mut sending = tokio::task::JoinSet::new();
    loop {
        while sending.try_join_next().is_some() {}
        let room = IN_FLIGHT.saturating_sub(sending.len()).min(CLAIM) as i64;
        let claimed = if room == 0 {
            Ok(Vec::new())
        } else {
            store.claim_deliveries(now_ms(), lease, &token, room).await
        };
        match claimed {
            Ok(due) => {
                for d in due {
                    let (store, hooks, client, token) =
                        (store.clone(), hooks.clone(), client.clone(), token.clone());
                    sending
                        .spawn(async move { attempt(&*store, &hooks, &client, &token, d).await });
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot read the webhook outbox; trying again"),
        }
        tokio::select! {
            () = hooks.wake.notified() => {}
            () = tokio::time::sleep(POLL) => {}
        }
    }
}

/// One attempt at `d`, recorded.
async fn attempt(
    store: &dyn Store,
    hooks: &Hooks,
    client: &reqwest::Client,
    token: &str,
    d: Delivery,
) {
    let started = Instant::now();
    let time = now_ms();
    // A webhook removed from the configuration (or moved to another project) since.
    let hook = hooks.hook(&d.webhook).filter(|h| h.project == d.project_id);
    let tried = match hook {
        None => Err((None, "its webhook is no longer configured".to_owned())),
        Some(hook) => post(client, hook, &d).await,
    };
    let duration_ms = started.elapsed().as_millis() as i64;
    let (status_code, error) = match &tried {
        Ok(code) => (Some(*code), None),
        Err((code, e)) => (*code, Some(e.clone())),
    };
    let outcome = match &tried {
        Ok(_) => AttemptOutcome::Delivered,
        Err(_) if hook.is_none() => AttemptOutcome::GiveUp,
        Err(_) => next_try(&hooks.timing, &d, now_ms()),
    };
    let record = DeliveryAttempt {
        attempt: d.attempts + 1,
        time,
        status_code,
        error: error.clone(),
        duration_ms,
    };
    match store
        .finish_delivery_attempt(d.id, token, &record, outcome, error.as_deref())
        .await
    {
        Ok(true) => {
            if outcome == AttemptOutcome::GiveUp {
                tracing::warn!(delivery.id = d.id, webhook = %d.webhook, attempts = d.attempts + 1, error = error.as_deref().unwrap_or_default(), "webhook delivery given up");
            }
        }
        Ok(false) => {
            tracing::warn!(delivery.id = d.id, webhook = %d.webhook, "a webhook delivery's claim ran out before its attempt was recorded; it may be sent again")
        }
        Err(e) => {
            tracing::warn!(delivery.id = d.id, error = %e, "cannot record a webhook delivery attempt; it will be sent again")
        }
    }
}

/// When `d` is tried next after a failed attempt at `now`, or given up.
pub fn next_try(timing: &Timing, d: &Delivery, now: i64) -> AttemptOutcome {
    let doublings = u32::try_from(d.attempts).unwrap_or(u32::MAX).min(20);
    let pause = timing
        .first_retry
        .saturating_mul(1 << doublings)
        .min(MAX_PAUSE);
    let at = now + pause.as_millis() as i64;
    if at > d.create_time + timing.retry_for.as_millis() as i64 {
        AttemptOutcome::GiveUp
    } else {
        AttemptOutcome::RetryAt(at)
    }
}

/// POSTs `d` to `hook`: the status code of a 2xx answer, else the code (if any) and why.
async fn post(
    client: &reqwest::Client,
    hook: &Hook,
    d: &Delivery,
) -> Result<i64, (Option<i64>, String)> {
    let body = body(hook.format, &d.payload);
    let mut req = client
        .post(&hook.url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("X-Trainyard-Delivery", d.id.to_string())
        .header("X-Trainyard-Event", &d.event);
    if let Some(sig) = hook.signature(body.as_bytes()) {
        req = req.header("X-Trainyard-Signature", sig);
    }
    match req.body(body).send().await {
        Ok(answer) => {
            let code = i64::from(answer.status().as_u16());
            if answer.status().is_success() {
                Ok(code)
            } else {
                Err((Some(code), format!("the receiver answered HTTP {code}")))
            }
        }
        Err(e) => {
            let why = if e.is_timeout() {
                "no answer within the attempt's time limit".to_owned()
            } else if e.is_connect() {
                "cannot connect".to_owned()
            } else {
                "request failed".to_owned()
            };
            Err((None, why))
        }
    }
}

/// The body for `format` of a stored JSON payload.
pub fn body(format: WebhookFormat, payload: &str) -> String {
    match format {
        WebhookFormat::Json => payload.to_owned(),
        WebhookFormat::Slack => {
            let p: serde_json::Value = serde_json::from_str(payload).unwrap_or_default();
            let s = |k: &str| p[k].as_str().unwrap_or_default().to_owned();
            let message = p["message"]
                .as_str()
                .map_or_else(|| s("event"), str::to_owned);
            let text = format!(
                "[trainyard] {} {} (project {}, job {}, version {}): {message}",
                s("job_name"),
                s("version_name"),
                s("project_id"),
                p["job_id"],
                p["version_id"],
            );
            serde_json::json!({ "text": text }).to_string()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trainyard_store::DeliveryState;

    fn delivery(attempts: i64) -> Delivery {
        Delivery {
            id: 1,
            project_id: "p".into(),
            job_id: 2,
            version_id: 3,
            event_seq: 4,
            event: "completed".into(),
            webhook: "w".into(),
            payload: r#"{"job_name":"j","version_name":"V0001","project_id":"p","job_id":2,"version_id":3,"message":"Training job completed."}"#.into(),
            state: DeliveryState::Pending,
            attempts,
            create_time: 0,
            next_time: 0,
            last_error: None,
        }
    }

    /// The pause doubles from the first, and the delivery is given up past its time.
    #[test]
    fn retries_double_until_the_time_runs_out() {
        let t = Timing {
            retry_for: Duration::from_secs(60),
            first_retry: Duration::from_secs(5),
            timeout: Duration::from_secs(1),
        };
        assert_eq!(
            next_try(&t, &delivery(0), 0),
            AttemptOutcome::RetryAt(5_000)
        );
        assert_eq!(
            next_try(&t, &delivery(1), 5_000),
            AttemptOutcome::RetryAt(15_000)
        );
        assert_eq!(next_try(&t, &delivery(3), 35_000), AttemptOutcome::GiveUp);
        let long = Timing {
            retry_for: Duration::from_secs(86_400),
            ..t
        };
        assert_eq!(
            next_try(&long, &delivery(40), 0),
            AttemptOutcome::RetryAt(600_000)
        );
    }

    /// Slack's body is one line of text.
    #[test]
    fn slack_bodies_are_text() {
        let b: serde_json::Value =
            serde_json::from_str(&body(WebhookFormat::Slack, &delivery(0).payload)).unwrap();
        assert_eq!(
            b["text"],
            "[trainyard] j V0001 (project p, job 2, version 3): Training job completed."
        );
        assert_eq!(body(WebhookFormat::Json, "{}"), "{}");
    }
}
