//! The webhook outbox on both engines: deliveries written with their event, claimed by one
//! claimer at a time, retried when scheduled, every attempt kept; jobs' notifications kept.

use crate::fixtures::{job, version};
use trainyard_store::{
    AttemptOutcome, DeliveryAttempt, DeliveryState, JobNotification, NewDelivery, NewRunEvent,
};

fn notified(version_id: i64, job_id: i64, time: i64, kind: &str, hooks: &[&str]) -> NewRunEvent {
    NewRunEvent {
        version_id,
        time,
        kind: kind.into(),
        detail: format!(r#"{{"kind":"{kind}"}}"#),
        deliveries: hooks
            .iter()
            .map(|h| NewDelivery {
                project_id: "p".into(),
                job_id,
                event: kind.into(),
                webhook: (*h).into(),
                payload: format!(r#"{{"event":"{kind}"}}"#),
            })
            .collect(),
    }
}

fn tried(time: i64, status_code: Option<i64>) -> DeliveryAttempt {
    DeliveryAttempt {
        attempt: 0,
        time,
        status_code,
        error: status_code
            .filter(|c| *c >= 300)
            .map(|c| format!("HTTP {c}")),
        duration_ms: 3,
    }
}

trainyard_store::engine_suite! {
    async fn deliveries_are_claimed_once_and_retried_when_scheduled(store, db) {
        let (j, v) = store.create_job(&job("hooks"), Some(&version())).await.unwrap();
        let v = v.unwrap();
        store
            .append_run_events(&[
                notified(v.id, j.id, 100, "queued", &["ops", "chat"]),
                notified(v.id, j.id, 101, "worker_exited", &[]),
                // A purged (unknown) version's event makes no delivery either.
                notified(v.id + 1000, j.id, 102, "started", &["ops"]),
            ])
            .await
            .unwrap();
        let events = store.run_events(v.id).await.unwrap();
        assert_eq!(events.len(), 2);

        // Not due before the event's time; then each goes to one claimer only.
        assert!(store.claim_deliveries(99, 1000, "a", 10).await.unwrap().is_empty());
        let a = store.claim_deliveries(100, 1000, "a", 10).await.unwrap();
        assert_eq!(a.len(), 2);
        assert!(a.iter().all(|d| d.event_seq == events[0].seq && d.state == DeliveryState::Pending));
        assert!(store.claim_deliveries(500, 1000, "b", 10).await.unwrap().is_empty());
        let ops = a.iter().find(|d| d.webhook == "ops").unwrap().clone();
        let chat = a.iter().find(|d| d.webhook == "chat").unwrap().clone();
        assert_eq!(ops.payload, r#"{"event":"queued"}"#);
        assert_eq!((ops.project_id.as_str(), ops.job_id, ops.version_id), ("p", j.id, v.id));

        // A failed attempt schedules the next; a stranger's token changes nothing.
        assert!(!store
            .finish_delivery_attempt(ops.id, "b", &tried(150, Some(500)), AttemptOutcome::RetryAt(400), Some("HTTP 500"))
            .await
            .unwrap());
        assert!(store
            .finish_delivery_attempt(ops.id, "a", &tried(150, Some(500)), AttemptOutcome::RetryAt(400), Some("HTTP 500"))
            .await
            .unwrap());
        assert!(store
            .finish_delivery_attempt(chat.id, "a", &tried(151, Some(204)), AttemptOutcome::Delivered, None)
            .await
            .unwrap());
        // Released but not due yet.
        assert!(store.claim_deliveries(399, 1000, "b", 10).await.unwrap().is_empty());
        let again = store.claim_deliveries(400, 1000, "b", 10).await.unwrap();
        assert_eq!(again.iter().map(|d| d.id).collect::<Vec<_>>(), [ops.id]);
        assert_eq!(again[0].attempts, 1);
        assert_eq!(again[0].last_error.as_deref(), Some("HTTP 500"));
        // Its claimer died: the claim runs out and another takes it.
        assert!(store.claim_deliveries(1399, 1000, "c", 10).await.unwrap().is_empty());
        let taken = store.claim_deliveries(1401, 1000, "c", 10).await.unwrap();
        assert_eq!(taken.len(), 1);
        assert!(!store
            .finish_delivery_attempt(ops.id, "b", &tried(1402, Some(200)), AttemptOutcome::Delivered, None)
            .await
            .unwrap());
        assert!(store
            .finish_delivery_attempt(ops.id, "c", &tried(1403, None), AttemptOutcome::GiveUp, Some("connection refused"))
            .await
            .unwrap());
        assert!(store.claim_deliveries(99_999, 1000, "d", 10).await.unwrap().is_empty());

        // Listed newest first, with every attempt in order; durable across a reopen.
        let again = db.open().await;
        let listed = again.list_deliveries("p", Some(j.id), 10).await.unwrap();
        assert_eq!(listed.len(), 2);
        let (d, attempts) = listed.iter().find(|(d, _)| d.id == ops.id).unwrap();
        assert_eq!(d.state, DeliveryState::Failed);
        assert_eq!(d.attempts, 2);
        assert_eq!(attempts.iter().map(|a| a.attempt).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(attempts[0].status_code, Some(500));
        assert_eq!(attempts[1].status_code, None);
        let (d, attempts) = listed.iter().find(|(d, _)| d.id == chat.id).unwrap();
        assert_eq!((d.state, attempts.len()), (DeliveryState::Delivered, 1));
        assert!(listed[0].0.id > listed[1].0.id);
        assert!(again.list_deliveries("other", None, 10).await.unwrap().is_empty());
        assert_eq!(again.list_deliveries("p", None, 1).await.unwrap().len(), 1);
        assert!(again.list_deliveries("p", Some(j.id + 1), 10).await.unwrap().is_empty());
    }

    async fn a_jobs_notification_is_kept_and_replaced(store, db) {
        let (j, _) = store.create_job(&job("n"), None).await.unwrap();
        assert_eq!(store.job_notification(j.id).await.unwrap(), None);
        let n = JobNotification { topic: "urn:smn:x:train".into(), events: vec!["completed".into(), "failed".into()] };
        store.set_job_notification(j.id, &n).await.unwrap();
        assert_eq!(store.job_notification(j.id).await.unwrap(), Some(n));
        let m = JobNotification { topic: "t2".into(), events: vec![] };
        store.set_job_notification(j.id, &m).await.unwrap();
        assert_eq!(db.open().await.job_notification(j.id).await.unwrap(), Some(m));
    }
}
