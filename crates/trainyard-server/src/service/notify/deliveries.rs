//! The deliveries a project's jobs made, as the deliveries endpoint serves them.

use crate::error::ApiResult;
use crate::service::query::Params;
use crate::service::Service;
use trainyard_api::webhooks::{DeliveryAttemptInfo, DeliveryInfo, DeliveryListResponse};
use trainyard_store::DeliveryState;

/// Most deliveries one answer lists (and the default).
pub const MAX_LISTED: i64 = 500;

impl Service {
    /// Project `project`'s webhook deliveries, newest first: query `job_id` (only that job's)
    /// and `limit` (1..=500, default 500).
    pub async fn webhook_deliveries(
        &self,
        project: &str,
        q: &Params,
    ) -> ApiResult<DeliveryListResponse> {
        let job_id = match q.get("job_id") {
            None => None,
            Some(_) => Some(q.int("job_id", 0, 1, i64::MAX)?),
        };
        let limit = q.int("limit", MAX_LISTED, 1, MAX_LISTED)?;
        let rows = self.store.list_deliveries(project, job_id, limit).await?;
        let deliveries = rows
            .into_iter()
            .map(|(d, attempts)| DeliveryInfo {
                id: d.id,
                webhook: d.webhook,
                event: d.event,
                job_id: d.job_id,
                version_id: d.version_id,
                event_seq: d.event_seq,
                state: d.state.as_str().to_owned(),
                create_time: d.create_time,
                next_time: (d.state == DeliveryState::Pending).then_some(d.next_time),
                last_error: d.last_error,
                attempts: attempts
                    .into_iter()
                    .map(|a| DeliveryAttemptInfo {
                        attempt: a.attempt,
                        time: a.time,
                        status_code: a.status_code,
                        error: a.error,
                        duration_ms: a.duration_ms,
                    })
                    .collect(),
            })
            .collect();
        Ok(DeliveryListResponse {
            is_success: true,
            deliveries,
        })
    }
}
