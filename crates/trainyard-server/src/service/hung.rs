//! What hang detection keeps beside the runs: each project's `hang_timeout_minutes`, and the
//! runs being stopped as hung until their end is recorded (then as hung, not as stopped). The
//! watcher that finds them is `service::hang`.

use std::collections::HashMap;
use std::sync::Mutex;
use trainyard_sched::hang::{Hung, Rule};
use trainyard_store::Version;

/// The hang timeout of a job that retries hangs and names no timeout (nor does its project).
pub const ON_HANG_TIMEOUT_MINUTES: f64 = 30.0;

/// The projects' hang timeouts, and the runs being stopped as hung.
#[derive(Debug, Default)]
pub struct Hangs {
    /// `hang_timeout_minutes` by project.
    defaults: HashMap<String, f64>,
    /// Runs stopped as hung, by version id, until their end is recorded.
    stopped: Mutex<HashMap<i64, Hung>>,
}

impl Hangs {
    /// The timeouts the projects configure.
    pub fn new(projects: &[crate::config::ProjectConfig]) -> Self {
        Self {
            defaults: projects
                .iter()
                .filter_map(|p| Some((p.id.clone(), p.hang_timeout_minutes?)))
                .collect(),
            stopped: Mutex::default(),
        }
    }

    /// The hang rule of `v`: its own timeout, else its project's, else, when its retry
    /// policy retries hangs (`on_hang`, v2's `hang-retry`), [`ON_HANG_TIMEOUT_MINUTES`];
    /// none otherwise.
    pub fn rule_of(&self, v: &Version) -> Option<Rule> {
        let retries_hangs = || {
            let policy = v.config.retry_policy.as_ref();
            policy.is_some_and(|p| p.on_hang == Some(true))
        };
        let minutes = v
            .config
            .hang_timeout_minutes
            .map(|m| m.0)
            .or_else(|| self.defaults.get(&v.project_id).copied())
            .or_else(|| retries_hangs().then_some(ON_HANG_TIMEOUT_MINUTES))?;
        Rule::of_minutes(minutes)
    }

    /// The run of version `id` is being stopped as hung.
    pub fn mark(&self, id: i64, hung: Hung) {
        self.stopped.lock().expect("hangs lock").insert(id, hung);
    }

    /// Whether the run of version `id` is being stopped as hung.
    pub fn is_stopping(&self, id: i64) -> bool {
        self.stopped.lock().expect("hangs lock").contains_key(&id)
    }

    /// Whether the run of version `id` was stopped as hung (once: the record is taken).
    pub fn take(&self, id: i64) -> Option<Hung> {
        self.stopped.lock().expect("hangs lock").remove(&id)
    }
}
