//! Notifications: run events sent to webhooks.
//!
//! The configuration names webhooks (`[[webhooks]]`, each of one project, optionally with
//! events it gets for every job of the project) and topics (`[[topics]]`, a name a job's
//! `notification.topic_urn` gives, mapped to webhooks); [`Hooks`] holds both. The event
//! log's writer asks [`outbox::Notifier`] which deliveries each event makes and writes them in
//! the transaction that appends the event (the outbox), so the lifecycle only ever appends;
//! [`send`] is the delivery task: it claims due deliveries, POSTs them signed, and records
//! every attempt, retrying with a doubling pause until `[notifications] retry_for_minutes`.

pub mod deliveries;
pub mod outbox;
pub mod send;

use crate::config::{Config, ConfigError, WebhookFormat};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;
use trainyard_api::training::Notification;
use trainyard_api::webhooks::{select_events, DEFAULT_EVENTS};
use trainyard_store::JobNotification;

/// A configured webhook, its secret read.
#[derive(Clone)]
pub struct Hook {
    /// Its name.
    pub name: String,
    /// Its project.
    pub project: String,
    /// Where it is POSTed.
    pub url: String,
    /// The HMAC key, if it signs.
    key: Option<Vec<u8>>,
    /// Its body.
    pub format: WebhookFormat,
    /// Events it gets for every job of its project.
    pub events: Vec<String>,
}

impl std::fmt::Debug for Hook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hook")
            .field("name", &self.name)
            .field("project", &self.project)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// How deliveries are timed.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// How long after its event a delivery is retried.
    pub retry_for: Duration,
    /// The pause before the second attempt (doubled for each next).
    pub first_retry: Duration,
    /// The limit of one attempt.
    pub timeout: Duration,
}

/// The configured webhooks and topics.
#[derive(Debug)]
pub struct Hooks {
    hooks: HashMap<String, Hook>,
    /// (project, topic name) -> its webhooks' names.
    topics: HashMap<(String, String), Vec<String>>,
    /// Timeouts and retries.
    pub timing: Timing,
    /// Wakes the delivery task: deliveries were written.
    pub(super) wake: std::sync::Arc<tokio::sync::Notify>,
}

impl Hooks {
    /// What `config` configures (already validated), with the secrets read.
    pub fn from_config(config: &Config) -> Result<Self, ConfigError> {
        let mut hooks = HashMap::new();
        for w in &config.webhooks {
            let hook = Hook {
                name: w.name.clone(),
                project: w.project.clone(),
                url: w.url.clone(),
                key: w.signing_key()?.map(String::into_bytes),
                format: w.format,
                events: select_events(&w.events).map_err(ConfigError::Invalid)?,
            };
            hooks.insert(w.name.clone(), hook);
        }
        let topics = config
            .topics
            .iter()
            .map(|t| ((t.project.clone(), t.name.clone()), t.webhooks.clone()))
            .collect();
        let n = &config.notifications;
        Ok(Self {
            hooks,
            topics,
            timing: Timing {
                retry_for: n.retry_for(),
                first_retry: n.first_retry(),
                timeout: n.timeout(),
            },
            wake: Default::default(),
        })
    }

    /// Whether no webhook is configured (then nothing is ever sent).
    pub fn is_empty(&self) -> bool {
        self.hooks.is_empty()
    }

    /// Whether any webhook belongs to `project` (else its events send nothing).
    pub fn serves(&self, project: &str) -> bool {
        self.hooks.values().any(|h| h.project == project)
    }

    /// The webhook called `name`.
    pub fn hook(&self, name: &str) -> Option<&Hook> {
        self.hooks.get(name)
    }

    /// A job's `notification` checked against project `project`'s topics, as kept: none when
    /// it asks for nothing (no topic, no events), else its topic and the events it selects
    /// (the default set when it names none). The error says what is wrong, naming a topic
    /// that is not configured.
    pub fn check(
        &self,
        project: &str,
        n: Option<&Notification>,
    ) -> Result<Option<JobNotification>, String> {
        let Some(n) = n else { return Ok(None) };
        let topic = n.topic_urn.as_deref().map(str::trim).unwrap_or_default();
        let events = n.events.as_deref().unwrap_or_default();
        if topic.is_empty() {
            if events.is_empty() {
                return Ok(None);
            }
            return Err(
                "events are sent to the webhooks of a topic: give topic_urn, a configured topic"
                    .to_owned(),
            );
        }
        if !self
            .topics
            .contains_key(&(project.to_owned(), topic.to_owned()))
        {
            let mut known: Vec<&str> = self
                .topics
                .keys()
                .filter(|(p, _)| p == project)
                .map(|(_, t)| t.as_str())
                .collect();
            known.sort_unstable();
            let known = if known.is_empty() {
                "it has none".to_owned()
            } else {
                format!("it has {}", known.join(", "))
            };
            return Err(format!(
                "topic_urn: topic '{topic}' is not configured for project {project} ({known})"
            ));
        }
        let mut events = select_events(events).map_err(|e| format!("events: {e}"))?;
        if events.is_empty() {
            events = DEFAULT_EVENTS.iter().map(|e| (*e).to_owned()).collect();
        }
        Ok(Some(JobNotification {
            topic: topic.to_owned(),
            events,
        }))
    }

    /// The webhooks that get events of a job of `project` with notification `job`, each with
    /// the events it gets.
    pub fn subscribers(
        &self,
        project: &str,
        job: Option<&JobNotification>,
    ) -> BTreeMap<String, Vec<String>> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for h in self.hooks.values().filter(|h| h.project == project) {
            if !h.events.is_empty() {
                out.entry(h.name.clone())
                    .or_default()
                    .extend(h.events.iter().cloned());
            }
        }
        if let Some(j) = job {
            let key = (project.to_owned(), j.topic.clone());
            for name in self.topics.get(&key).into_iter().flatten() {
                out.entry(name.clone())
                    .or_default()
                    .extend(j.events.iter().cloned());
            }
        }
        out
    }
}

/// The names an event is sent under and matched by: its kind, and for an end its outcome
/// (`completed`, `failed`, `terminated`) first, which is also its `X-Trainyard-Event`.
pub fn event_names(kind: &str, outcome: Option<&str>) -> Vec<&'static str> {
    let canonical = |k: &str| {
        trainyard_api::webhooks::EVENTS
            .iter()
            .copied()
            .find(|e| *e == k)
    };
    let mut names = Vec::with_capacity(2);
    if kind == "ended" {
        names.push(match outcome {
            Some("COMPLETED") => "completed",
            Some("KILLED") => "terminated",
            _ => "failed",
        });
    }
    names.extend(canonical(kind));
    names
}

impl Hook {
    /// `sha256=<hex>` of `body` signed with its secret, if it has one.
    pub fn signature(&self, body: &[u8]) -> Option<String> {
        use hmac::{Hmac, Mac};
        let key = self.key.as_ref()?;
        let mut mac =
            Hmac::<sha2::Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
        mac.update(body);
        Some(format!(
            "sha256={}",
            hex::encode(mac.finalize().into_bytes())
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hooks() -> Hooks {
        let config = Config::from_toml(
            r#"
            [[projects]]
            id = "p"
            [[webhooks]]
            name = "all"
            project = "p"
            url = "http://127.0.0.1:9/x"
            events = ["JobFailed"]
            secret = "k"
            [[webhooks]]
            name = "chat"
            project = "p"
            url = "http://127.0.0.1:9/y"
            format = "slack"
            [[topics]]
            name = "urn:smn:r:p:train"
            project = "p"
            webhooks = ["chat", "all"]
            "#,
        )
        .unwrap();
        config.validate().unwrap();
        Hooks::from_config(&config).unwrap()
    }

    /// A job names a configured topic or is refused naming it; the events default.
    #[test]
    fn a_jobs_notification_names_a_topic_of_its_project() {
        let h = hooks();
        let n = |t: &str, e: &[&str]| Notification {
            topic_urn: Some(t.into()),
            events: Some(e.iter().map(|s| s.to_string()).collect()),
        };
        assert_eq!(h.check("p", None), Ok(None));
        assert_eq!(h.check("p", Some(&n("", &[]))), Ok(None));
        let got = h.check("p", Some(&n("urn:smn:r:p:train", &[]))).unwrap();
        assert_eq!(got.unwrap().events, DEFAULT_EVENTS);
        let got = h
            .check(
                "p",
                Some(&n("urn:smn:r:p:train", &["JobCompleted", "queued"])),
            )
            .unwrap()
            .unwrap();
        assert_eq!(got.events, ["completed", "queued"]);
        let e = h.check("p", Some(&n("nope", &[]))).unwrap_err();
        assert!(e.contains("topic 'nope' is not configured"), "{e}");
        assert!(e.contains("urn:smn:r:p:train"), "{e}");
        let e = h
            .check("q", Some(&n("urn:smn:r:p:train", &[])))
            .unwrap_err();
        assert!(e.contains("it has none"), "{e}");
        assert!(h.check("p", Some(&n("", &["started"]))).is_err());
        assert!(h
            .check("p", Some(&n("urn:smn:r:p:train", &["exploded"])))
            .unwrap_err()
            .contains("unknown event 'exploded'"));

        // The project-wide webhook and the topic's, merged per webhook.
        let subs = h.subscribers("p", Some(&got));
        assert_eq!(subs["all"], ["failed", "completed", "queued"]);
        assert_eq!(subs["chat"], ["completed", "queued"]);
        assert_eq!(h.subscribers("p", None).len(), 1);
        assert!(h.subscribers("q", None).is_empty());
    }

    /// Ends go by their outcome first; the signature is the HMAC of the body.
    #[test]
    fn names_and_signatures() {
        assert_eq!(
            event_names("ended", Some("COMPLETED")),
            ["completed", "ended"]
        );
        assert_eq!(event_names("ended", Some("LOST")), ["failed", "ended"]);
        assert_eq!(
            event_names("ended", Some("KILLED")),
            ["terminated", "ended"]
        );
        assert_eq!(event_names("queued", None), ["queued"]);
        let h = hooks();
        // echo -n '{}' | openssl dgst -sha256 -hmac k
        assert_eq!(
            h.hook("all").unwrap().signature(b"{}").unwrap(),
            "sha256=add853b103fbcc936a194f9eb15e29c4ff08af6e47d5d1bca4f20218e31e4fff"
        );
        assert_eq!(h.hook("chat").unwrap().signature(b"{}"), None);
    }
}
