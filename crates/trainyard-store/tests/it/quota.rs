//! A project's limits under concurrent creates (`NewJob::quota`, `VersionQuota`): many
//! creates at once, on PostgreSQL from two stores as from two servers sharing the database,
//! end with exactly the limit created and every other create refused with `Error::Quota`.

use std::sync::Arc;

use trainyard_api::JobStatus;
use trainyard_store::{Engine, Error, NewJob, NewV2, NewVersion, QuotaLimit, Store, VersionQuota};

use crate::fixtures::{job, version};

/// How many creates race for the limit.
const CREATES: usize = 20;

/// Two stores on the database: on PostgreSQL two pools, as two servers sharing it; an SQLite
/// file belongs to one server, so there the same store twice.
async fn two_stores(
    store: &Arc<dyn Store>,
    db: &trainyard_store::testing::TestDatabase,
) -> [Arc<dyn Store>; 2] {
    match store.engine() {
        Engine::Postgres => [store.clone(), db.open().await],
        Engine::Sqlite => [store.clone(), store.clone()],
    }
}

/// Runs `create(store, i)` for `i` in `0..CREATES` all at once, alternating the stores; the
/// number created and the refusals' limits.
async fn race<F, Fut>(stores: &[Arc<dyn Store>; 2], create: F) -> (usize, Vec<QuotaLimit>)
where
    F: Fn(Arc<dyn Store>, usize) -> Fut,
    Fut: std::future::Future<Output = trainyard_store::Result<()>> + Send + 'static,
{
    let tasks: Vec<_> = (0..CREATES)
        .map(|i| tokio::spawn(create(stores[i % 2].clone(), i)))
        .collect();
    let (mut created, mut refused) = (0, Vec::new());
    for t in tasks {
        match t.await.unwrap() {
            Ok(()) => created += 1,
            Err(Error::Quota(limit)) => refused.push(limit),
            Err(e) => panic!("a create failed otherwise than at the quota: {e}"),
        }
    }
    (created, refused)
}

fn limited(active: Option<i64>, queued: Option<i64>) -> NewVersion {
    NewVersion {
        quota: VersionQuota { active, queued },
        ..version()
    }
}

trainyard_store::engine_suite! {
    async fn concurrent_new_jobs_hold_the_running_quota(store, db) {
        let stores = two_stores(&store, &db).await;
        let (created, refused) = race(&stores, |s, i| async move {
            let v = limited(Some(5), None);
            s.create_job(&job(&format!("j{i}")), Some(&v)).await.map(drop)
        })
        .await;
        assert_eq!(created, 5);
        assert_eq!(refused, vec![QuotaLimit::Active; CREATES - 5]);
        assert_eq!(store.count_active_versions("p").await.unwrap(), 5);
        assert_eq!(store.count_jobs("p").await.unwrap(), 5, "a refused create leaves no job");
        // Another project's limits are its own.
        let other = NewJob { project_id: "q".into(), ..job("other") };
        store.create_job(&other, Some(&limited(Some(5), None))).await.unwrap();
    }

    async fn concurrent_new_jobs_hold_the_job_count(store, db) {
        let stores = two_stores(&store, &db).await;
        // Without a first version (its own path on SQLite) and with one.
        let (created, refused) = race(&stores, |s, i| async move {
            let j = NewJob { quota: Some(3), ..job(&format!("j{i}")) };
            let v = version();
            s.create_job(&j, (i % 2 == 0).then_some(&v)).await.map(drop)
        })
        .await;
        assert_eq!(created, 3);
        assert_eq!(refused, vec![QuotaLimit::Jobs; CREATES - 3]);
        assert_eq!(store.count_jobs("p").await.unwrap(), 3);
    }

    async fn concurrent_new_versions_hold_the_queued_quota(store, db) {
        let stores = two_stores(&store, &db).await;
        let (j, _) = store.create_job(&job("j"), None).await.unwrap();
        let (created, refused) = race(&stores, move |s, _| async move {
            let v = limited(Some(100), Some(4));
            s.create_version("p", j.id, &v).await.map(|v| assert!(v.is_some()))
        })
        .await;
        assert_eq!(created, 4);
        assert_eq!(refused, vec![QuotaLimit::Queued; CREATES - 4]);
        let counts = store.version_counts().await.unwrap();
        assert_eq!(counts, vec![("p".to_owned(), JobStatus::INIT.code(), 4)]);
    }

    async fn concurrent_v2_jobs_hold_their_count_and_the_running_quota(store, db) {
        let stores = two_stores(&store, &db).await;
        // v1 jobs are not counted against the v2 job count.
        store.create_job(&job("v1"), None).await.unwrap();
        let (created, refused) = race(&stores, |s, i| async move {
            let j = NewJob { quota: Some(2), ..job(&format!("j{i}")) };
            let doc = NewV2 { uuid: format!("u-{i}"), doc: "{}".into() };
            s.create_v2_job(&j, &doc, &limited(Some(10), None)).await.map(drop)
        })
        .await;
        assert_eq!(created, 2);
        assert_eq!(refused, vec![QuotaLimit::Jobs; CREATES - 2]);
        assert_eq!(store.list_v2_jobs("p").await.unwrap().len(), 2);
        // With room for jobs, the running quota refuses.
        let j = NewJob { quota: Some(10), ..job("more") };
        let doc = NewV2 { uuid: "u-more".into(), doc: "{}".into() };
        assert!(matches!(
            store.create_v2_job(&j, &doc, &limited(Some(2), None)).await,
            Err(Error::Quota(QuotaLimit::Active))
        ));
    }
}
