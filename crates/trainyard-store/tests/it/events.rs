//! The event log of runs, on both engines: appended in order, read per version, kept across a
//! reopen, and gone with the version when it is purged.

use crate::fixtures::{job, version};
use trainyard_store::{NewRunEvent, RunEventRow, VersionDeletion};

fn event(version_id: i64, time: i64, kind: &str) -> NewRunEvent {
    NewRunEvent {
        version_id,
        time,
        kind: kind.into(),
        detail: format!(r#"{{"kind":"{kind}"}}"#),
        deliveries: vec![],
    }
}

fn kinds(rows: &[RunEventRow]) -> Vec<&str> {
    rows.iter().map(|r| r.kind.as_str()).collect()
}

trainyard_store::engine_suite! {
    async fn run_events_are_kept_in_order_per_version_and_purged_with_it(store, db) {
        let (j, a) = store.create_job(&job("ev"), Some(&version())).await.unwrap();
        let a = a.unwrap();
        let b = store.create_version("p", j.id, &version()).await.unwrap().unwrap();
        // Recorded out of time order: the log keeps the order of recording.
        store
            .append_run_events(&[event(a.id, 10, "created"), event(b.id, 11, "created")])
            .await
            .unwrap();
        store
            .append_run_events(&[event(a.id, 30, "started"), event(a.id, 20, "ended")])
            .await
            .unwrap();
        store.append_run_events(&[]).await.unwrap();
        // An event of a version that does not exist is left out, the rest of its batch kept.
        store
            .append_run_events(&[event(a.id + b.id + 100, 1, "ghost"), event(b.id, 12, "queued")])
            .await
            .unwrap();
        let got = store.run_events(a.id).await.unwrap();
        assert_eq!(kinds(&got), ["created", "started", "ended"]);
        assert_eq!(got.iter().map(|r| r.time).collect::<Vec<_>>(), [10, 30, 20]);
        assert!(got.windows(2).all(|w| w[0].seq < w[1].seq));
        assert!(got.iter().all(|r| r.version_id == a.id));
        assert_eq!(got[1].detail, r#"{"kind":"started"}"#);
        assert_eq!(kinds(&store.run_events(b.id).await.unwrap()), ["created", "queued"]);

        // Durable: a second opening of the database reads the same log.
        let again = db.open().await;
        assert_eq!(again.run_events(a.id).await.unwrap(), got);

        // Purged with its version; the other version's log stays.
        assert_eq!(
            store.mark_version_deleted(a.id, &[], 0).await.unwrap(),
            VersionDeletion::Hidden
        );
        store.purge_version(a.id).await.unwrap();
        assert!(store.run_events(a.id).await.unwrap().is_empty());
        assert_eq!(store.run_events(b.id).await.unwrap().len(), 2);
    }
}
