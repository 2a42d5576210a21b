//! Stops the running jobs of projects over their storage quota (the quotas themselves are
//! [`crate::storage::quota`]'s).

use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::service::lifecycle::append_log;
use crate::service::Service;
use crate::storage::quota::{QuotaExceeded, Quotas};
use trainyard_api::JobStatus;

/// Scans the projects' storage every `interval` and stops the running jobs of the projects
/// over their quota, until the service is gone.
pub async fn enforce(svc: Weak<Service>, quotas: Arc<Quotas>, interval: Duration) {
    // The first scan right away: the counts start from what is there.
    loop {
        let q = quotas.clone();
        let over = tokio::task::spawn_blocking(move || q.scan())
            .await
            .unwrap_or_default();
        let Some(svc) = svc.upgrade() else { return };
        for e in over {
            svc.stop_for_quota(&e).await;
        }
        drop(svc);
        tokio::time::sleep(interval).await;
    }
}

impl Service {
    /// Stops the running versions of a project over its quota, with the reason in their logs.
    /// Only the server holding the scheduler duty does (every replica scans, for its own
    /// refusals), so each job is stopped once, with one reason line.
    async fn stop_for_quota(&self, e: &QuotaExceeded) {
        if !self
            .cluster
            .duties()
            .contains(&crate::service::cluster::SCHEDULER)
        {
            return;
        }
        let running = match self.store.versions_in(&[JobStatus::RUNNING]).await {
            Ok(v) => v,
            Err(err) => {
                tracing::warn!(error = %err, "cannot list running jobs for the storage quota");
                return;
            }
        };
        for v in running.into_iter().filter(|v| v.project_id == e.project) {
            let reason =
                format!("[trainyard] stopping the job: the storage quota is exceeded: {e}");
            append_log(&self.run_ctx, &v, &reason).await;
            match self
                .begin_stop(&v, self.grace, crate::service::events::StopBy::Quota)
                .await
            {
                Ok(true) => tracing::warn!(
                    job.id = v.job_id,
                    version.id = v.id,
                    project = %e.project,
                    "job stopped: project over its storage quota"
                ),
                Ok(false) => {}
                Err(err) => {
                    tracing::warn!(version.id = v.id, error = %err, "cannot stop a job over quota")
                }
            }
        }
    }
}
