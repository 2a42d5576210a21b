//! Which deliveries each run event makes, decided in the event log's writer just before it
//! appends a batch: the deliveries go into the same transaction as their events.

use super::{event_names, Hooks};
use crate::service::events::{Event, Outbox};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use trainyard_store::{JobNotification, NewDelivery, NewRunEvent, Store, Version};

/// What the payloads need of a job, read once.
#[derive(Clone, Debug)]
struct JobFacts {
    name: String,
    /// Its v2 id, for a v2 job.
    uuid: Option<String>,
    notification: Option<JobNotification>,
}

/// Most jobs whose facts are kept; past it they are read again.
const CACHED_JOBS: usize = 4096;

/// Attaches deliveries to events, and wakes the delivery task when it wrote some.
#[derive(Debug)]
pub struct Notifier {
    store: Arc<dyn Store>,
    hooks: Arc<Hooks>,
    jobs: Mutex<HashMap<i64, JobFacts>>,
}

impl Notifier {
    /// A notifier for `hooks`, waking their delivery task after its writes.
    pub fn new(store: Arc<dyn Store>, hooks: Arc<Hooks>) -> Self {
        Self {
            store,
            hooks,
            jobs: Mutex::new(HashMap::new()),
        }
    }

    async fn job_facts(&self, job_id: i64) -> trainyard_store::Result<JobFacts> {
        if let Some(f) = self.jobs.lock().expect("not poisoned").get(&job_id) {
            return Ok(f.clone());
        }
        let facts = JobFacts {
            name: self.store.job_name(job_id).await?.unwrap_or_default(),
            uuid: self.store.v2_uuid(job_id).await?,
            notification: self.store.job_notification(job_id).await?,
        };
        let mut jobs = self.jobs.lock().expect("not poisoned");
        if jobs.len() >= CACHED_JOBS {
            jobs.clear();
        }
        jobs.insert(job_id, facts.clone());
        Ok(facts)
    }

    /// The deliveries of `e` (of version `v`).
    async fn deliveries(
        &self,
        e: &NewRunEvent,
        v: &Version,
    ) -> trainyard_store::Result<Vec<NewDelivery>> {
        let event: Option<Event> = serde_json::from_str(&e.detail).ok();
        let outcome = match &event {
            Some(Event::Ended { outcome, .. }) => Some(outcome.as_str()),
            _ => None,
        };
        let names = event_names(&e.kind, outcome);
        let Some(name) = names.first().copied() else {
            return Ok(Vec::new());
        };
        // Only projects with webhooks cost a lookup of the job.
        if !self.hooks.serves(&v.project_id) {
            return Ok(Vec::new());
        }
        let facts = self.job_facts(v.job_id).await?;
        let subscribers = self
            .hooks
            .subscribers(&v.project_id, facts.notification.as_ref());
        let to: Vec<&String> = subscribers
            .iter()
            .filter(|(_, wanted)| wanted.iter().any(|w| names.contains(&w.as_str())))
            .map(|(hook, _)| hook)
            .collect();
        if to.is_empty() {
            return Ok(Vec::new());
        }
        let payload = payload(name, e, v, &facts, event.as_ref());
        Ok(to
            .into_iter()
            .map(|hook| NewDelivery {
                project_id: v.project_id.clone(),
                job_id: v.job_id,
                event: name.to_owned(),
                webhook: hook.clone(),
                payload: payload.clone(),
            })
            .collect())
    }
}

/// The JSON body of a delivery: what happened to which run, and when.
fn payload(
    name: &str,
    e: &NewRunEvent,
    v: &Version,
    job: &JobFacts,
    event: Option<&Event>,
) -> String {
    let (status, reason) = match event {
        Some(Event::Ended {
            outcome, reason, ..
        }) => (outcome.clone(), reason.clone()),
        _ => (v.status.name().to_owned(), None),
    };
    let attempt = match event {
        Some(Event::RetryScheduled { attempt, .. }) => i64::from(*attempt),
        _ => v.attempt,
    };
    let detail: serde_json::Value =
        serde_json::from_str(&e.detail).unwrap_or(serde_json::Value::Null);
    serde_json::json!({
        "event": name,
        "kind": e.kind,
        "time": jiff::Timestamp::from_millisecond(e.time).map(|t| t.to_string()).unwrap_or_default(),
        "time_ms": e.time,
        "project_id": v.project_id,
        "job_id": v.job_id,
        "job_name": job.name,
        "training_job_id": job.uuid,
        "version_id": v.id,
        "version_name": v.name,
        "status": status,
        "reason": reason,
        "attempt": attempt,
        "message": event.map(Event::message),
        "topic_urn": job.notification.as_ref().map(|n| &n.topic),
        "detail": detail,
    })
    .to_string()
}

#[async_trait::async_trait]
impl Outbox for Notifier {
    async fn attach(&self, batch: &mut [NewRunEvent]) {
        let mut versions: HashMap<i64, Option<Version>> = HashMap::new();
        for e in batch.iter_mut() {
            if let std::collections::hash_map::Entry::Vacant(slot) = versions.entry(e.version_id) {
                let v = self.store.version_by_id(e.version_id).await.unwrap_or_else(|err| {
                    tracing::warn!(version.id = e.version_id, error = %err, "cannot read a version for its notifications; its events in this batch send none");
                    None
                });
                slot.insert(v);
            }
            let Some(Some(v)) = versions.get(&e.version_id) else {
                continue;
            };
            match self.deliveries(e, v).await {
                Ok(d) => e.deliveries = d,
                Err(err) => {
                    tracing::warn!(version.id = v.id, error = %err, "cannot work out an event's notifications; it sends none")
                }
            }
        }
    }

    fn appended(&self, batch: &[NewRunEvent]) {
        if batch.iter().any(|e| !e.deliveries.is_empty()) {
            self.hooks.wake.notify_one();
        }
    }
}
