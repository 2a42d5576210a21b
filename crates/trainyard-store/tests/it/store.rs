//! The store suite, written once and run on SQLite and on PostgreSQL (`engine_suite!`: each
//! test as `sqlite::name` and `postgres::name`, each on a fresh database): create, summaries,
//! compare-and-set, delete, lists, counters, and what concurrent writers may not break.

use trainyard_api::training::JobConfig;
use trainyard_api::JobStatus;
use trainyard_store::testing::TestDatabase;
use trainyard_store::{
    Engine, Error, JobDeletion, JobFilter, JobSort, NewJob, NewV2, NewVersion, Page, Store,
    TransitionSet, V2Algorithm, V2Cond, V2Search, V2Sort, V2Text, VersionDeletion,
};

/// A delete that must not be refused: what it hid.
trait Hidden {
    type Rows;
    fn hidden(self) -> Self::Rows;
}

impl Hidden for VersionDeletion {
    type Rows = ();
    fn hidden(self) {
        assert_eq!(self, VersionDeletion::Hidden);
    }
}

impl Hidden for JobDeletion {
    type Rows = Vec<i64>;
    fn hidden(self) -> Vec<i64> {
        match self {
            JobDeletion::Hidden(ids) => ids,
            refused => panic!("the delete was refused: {refused:?}"),
        }
    }
}

use crate::fixtures::job;

/// A version of one worker.
fn version() -> NewVersion {
    NewVersion {
        config: JobConfig {
            worker_server_num: Some(1),
            ..Default::default()
        },
        ..crate::fixtures::version()
    }
}

fn filter() -> JobFilter {
    JobFilter {
        statuses: vec![],
        search: None,
        workspace_id: None,
        sort: JobSort::Name,
        descending: false,
        offset: 0,
        limit: 100,
        now: 10,
    }
}

#[tokio::test]
async fn unknown_engines_are_named() {
    let err = trainyard_store::open("mysql://localhost/db", &Default::default())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("'mysql'"), "{err}");
    assert!(err.to_string().contains("postgres://"), "{err}");
}

/// Servers starting together on one PostgreSQL database apply each migration once (sqlx's
/// migrator holds an advisory lock); every one of them opens it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_starting_together_migrate_postgres_once() {
    let Some(db) = TestDatabase::new(
        Engine::Postgres,
        "servers_starting_together_migrate_postgres_once",
    )
    .await
    else {
        return;
    };
    let opens: Vec<_> = (0..6)
        .map(|_| {
            let url = db.url.clone();
            tokio::spawn(async move { trainyard_store::open(&url, &Default::default()).await })
        })
        .collect();
    for o in opens {
        let store = o.await.unwrap().unwrap();
        assert_eq!(store.engine(), Engine::Postgres);
    }
    let store = db.open().await;
    store.create_job(&job("after"), None).await.unwrap();
}

trainyard_store::engine_suite! {
    async fn versions_are_named_in_sequence_and_summarized_on_the_job(store, db) {
        let (j, v1) = store.create_job(&job("a"), Some(&version())).await.unwrap();
        let v1 = v1.unwrap();
        assert_eq!(v1.name, "V0001");
        assert_eq!(v1.run_dir, format!("/runs/{}", v1.id));
        let v2 = store
            .create_version("p", j.id, &version())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(v2.name, "V0002");
        let got = store.get_job("p", j.id).await.unwrap().unwrap();
        assert_eq!(
            (got.version_count, got.latest_version_id, got.latest_status),
            (2, Some(v2.id), 1)
        );
        // Another project sees nothing.
        assert!(store.get_job("q", j.id).await.unwrap().is_none());
        assert!(store
            .create_version("q", j.id, &version())
            .await
            .unwrap()
            .is_none());
    }

    async fn duplicate_live_names_conflict_until_the_job_is_deleted(store, db) {
        let (j, _) = store.create_job(&job("dup"), None).await.unwrap();
        assert!(matches!(
            store.create_job(&job("dup"), None).await,
            Err(Error::Conflict)
        ));
        store
            .mark_job_deleted("p", j.id, &[], 0)
            .await
            .unwrap()
            .hidden();
        store.create_job(&job("dup"), None).await.unwrap();
    }

    async fn transitions_are_compare_and_set(store, db) {
        let (j, v) = store
            .create_job(&job("cas"), Some(&version()))
            .await
            .unwrap();
        let v = v.unwrap();
        let set = TransitionSet {
            start_time: Some(5),
            ..Default::default()
        };
        assert!(store
            .transition(v.id, &[JobStatus::INIT], JobStatus::RUNNING, &set)
            .await
            .unwrap());
        // A second mover from the same status loses.
        assert!(!store
            .transition(
                v.id,
                &[JobStatus::INIT],
                JobStatus::KILLING,
                &TransitionSet::default()
            )
            .await
            .unwrap());
        let end = TransitionSet {
            end_time: Some(9),
            ..Default::default()
        };
        assert!(store
            .transition(v.id, &[JobStatus::RUNNING], JobStatus::COMPLETED, &end)
            .await
            .unwrap());
        let got = store.get_version("p", j.id, v.id).await.unwrap().unwrap();
        assert_eq!(
            (got.status, got.start_time, got.end_time),
            (JobStatus::COMPLETED, Some(5), Some(9))
        );
        let summary = store.get_job("p", j.id).await.unwrap().unwrap();
        assert_eq!(
            (
                summary.latest_status,
                summary.latest_start_time,
                summary.latest_end_time
            ),
            (10, Some(5), Some(9))
        );
    }

    async fn a_move_returns_the_version_as_moved_and_its_jobs_name(store, db) {
        assert_eq!(store.quota_counts("p").await.unwrap(), (0, 0));
        let (j, v) = store
            .create_job(&job("named"), Some(&version()))
            .await
            .unwrap();
        let v = v.unwrap();
        // What the create answered is what is stored.
        assert_eq!(store.get_job("p", j.id).await.unwrap().unwrap(), j);
        let stored = store.version_by_id(v.id).await.unwrap().unwrap();
        assert_eq!((&stored.name, &stored.run_dir), (&v.name, &v.run_dir));
        assert_eq!(store.quota_counts("p").await.unwrap(), (1, 1));
        let set = TransitionSet {
            start_time: Some(5),
            handle: Some("h".into()),
            ..Default::default()
        };
        let moved = store
            .move_version(v.id, &[JobStatus::INIT], JobStatus::RUNNING, &set)
            .await
            .unwrap()
            .expect("1 -> 8 moves");
        assert_eq!(moved.job_name, "named");
        assert_eq!(
            (moved.version.status, moved.version.start_time, moved.version.handle.as_deref()),
            (JobStatus::RUNNING, Some(5), Some("h"))
        );
        let read = store.named_version(v.id).await.unwrap().unwrap();
        assert_eq!(read.job_name, "named");
        assert_eq!(read.version.status, JobStatus::RUNNING);
        assert!(store
            .move_version(v.id, &[JobStatus::INIT], JobStatus::KILLING, &set)
            .await
            .unwrap()
            .is_none());
        assert!(store.named_version(v.id + 1000).await.unwrap().is_none());
        assert_eq!(store.get_job("p", j.id).await.unwrap().unwrap().latest_status, 8);
    }

    async fn a_retry_is_recorded_and_its_attempt_claimed_once(store, db) {
        let (j, v) = store
            .create_job(&job("retry"), Some(&version()))
            .await
            .unwrap();
        let v = v.unwrap();
        assert_eq!((v.attempt, v.retry_at, v.retry_consecutive_any), (1, None, 0));
        let running = TransitionSet::default();
        assert!(store
            .transition(v.id, &[JobStatus::INIT], JobStatus::RUNNING, &running)
            .await
            .unwrap());
        // Nothing waits for an attempt yet.
        assert!(!store.begin_attempt(v.id, 1).await.unwrap());
        let retry = TransitionSet {
            retry: Some((2, 1234, 1)),
            handle: Some("{\"old\": 1}".into()),
            ..Default::default()
        };
        assert!(store
            .transition(v.id, &[JobStatus::RUNNING], JobStatus::RUNNING, &retry)
            .await
            .unwrap());
        let got = store.get_version("p", j.id, v.id).await.unwrap().unwrap();
        assert_eq!(
            (got.status, got.attempt, got.retry_at, got.retry_consecutive_any),
            (JobStatus::RUNNING, 2, Some(1234), 1)
        );
        // Another attempt's claim, then two claims of this one: exactly one wins.
        assert!(!store.begin_attempt(v.id, 3).await.unwrap());
        assert!(store.begin_attempt(v.id, 2).await.unwrap());
        assert!(!store.begin_attempt(v.id, 2).await.unwrap());
        let got = store.version_by_id(v.id).await.unwrap().unwrap();
        assert_eq!((got.attempt, got.retry_at, got.handle), (2, None, None));
    }

    async fn the_priority_of_a_waiting_version_changes_and_of_a_started_one_does_not(store, db) {
        let (j, v) = store.create_job(&job("prio"), Some(&version())).await.unwrap();
        let v = v.unwrap();
        assert!(store.set_queued_priority(v.id, 3).await.unwrap());
        let set = TransitionSet::default();
        assert!(store
            .transition(v.id, &[JobStatus::INIT], JobStatus::WAITING, &set)
            .await
            .unwrap());
        assert!(store.set_queued_priority(v.id, 2).await.unwrap());
        let got = store.get_version("p", j.id, v.id).await.unwrap().unwrap();
        assert_eq!(got.config.priority, Some(2));
        // The rest of the configuration is kept.
        assert_eq!(got.config.worker_server_num, Some(1));
        assert!(store
            .transition(v.id, &[JobStatus::WAITING], JobStatus::RUNNING, &set)
            .await
            .unwrap());
        assert!(!store.set_queued_priority(v.id, 1).await.unwrap());
        assert!(!store.set_queued_priority(v.id + 100, 1).await.unwrap());
        let got = store.version_by_id(v.id).await.unwrap().unwrap();
        assert_eq!(got.config.priority, Some(2));
    }

    async fn deleting_a_running_version_marks_it_stopping_in_the_same_transaction(store, db) {
        let (j, v) = store.create_job(&job("r"), Some(&version())).await.unwrap();
        let v = v.unwrap();
        let to_running = [JobStatus::INIT];
        let set = TransitionSet::default();
        assert!(store
            .transition(v.id, &to_running, JobStatus::RUNNING, &set)
            .await
            .unwrap());
        let (_, done) = store
            .create_job(&job("done"), Some(&version()))
            .await
            .unwrap();
        let done = done.unwrap();
        store
            .transition(done.id, &to_running, JobStatus::COMPLETED, &set)
            .await
            .unwrap();

        store
            .mark_job_deleted("p", j.id, &[JobStatus::KILLING], 7)
            .await
            .unwrap()
            .hidden();
        let after = store.version_by_id(v.id).await.unwrap().unwrap();
        assert_eq!(
            (after.status, after.stop_grace, after.deleted),
            (JobStatus::KILLING, Some(7), true)
        );
        // A finished version keeps its status; a database from before this rule is mended.
        store
            .mark_version_deleted(done.id, &[JobStatus::KILLING], 7)
            .await
            .unwrap()
            .hidden();
        assert_eq!(
            store.version_by_id(done.id).await.unwrap().unwrap().status,
            JobStatus::COMPLETED
        );
        assert_eq!(store.stop_deleted_versions(3).await.unwrap(), 0);
    }

    async fn deleting_refuses_killing_versions_and_purges_rows(store, db) {
        let (j, v) = store
            .create_job(&job("del"), Some(&version()))
            .await
            .unwrap();
        let v = v.unwrap();
        store
            .transition(
                v.id,
                &[JobStatus::INIT],
                JobStatus::KILLING,
                &TransitionSet::default(),
            )
            .await
            .unwrap();
        assert_eq!(
            store
                .mark_version_deleted(v.id, &[JobStatus::KILLING], 0)
                .await
                .unwrap(),
            VersionDeletion::Refused(JobStatus::KILLING)
        );
        assert_eq!(
            store
                .mark_job_deleted("p", j.id, &[JobStatus::KILLING], 0)
                .await
                .unwrap(),
            JobDeletion::Refused(JobStatus::KILLING)
        );
        store
            .transition(
                v.id,
                &[JobStatus::KILLING],
                JobStatus::KILLED,
                &TransitionSet::default(),
            )
            .await
            .unwrap();
        assert_eq!(
            store
                .mark_job_deleted("p", j.id, &[JobStatus::KILLING], 0)
                .await
                .unwrap(),
            JobDeletion::Hidden(vec![v.id])
        );
        assert!(store.get_job("p", j.id).await.unwrap().is_none());
        assert_eq!(store.list_jobs("p", &filter()).await.unwrap().total, 0);
        assert_eq!(store.deleted_versions().await.unwrap().len(), 1);
        store.purge_version(v.id).await.unwrap();
        assert!(store.version_by_id(v.id).await.unwrap().is_none());
        assert!(
            store.job_name(j.id).await.unwrap().is_none(),
            "the job row went with its last version"
        );
    }

    async fn list_filters_sorts_and_pages(store, db) {
        for name in ["beta", "alpha", "gamma-job", "delta-job"] {
            store
                .create_job(&job(name), Some(&version()))
                .await
                .unwrap();
        }
        let Page { rows: page, total, live } = store
            .list_jobs(
                "p",
                &JobFilter {
                    limit: 2,
                    ..filter()
                },
            )
            .await
            .unwrap();
        assert_eq!((total, live), (4, 4));
        assert_eq!(
            page.iter().map(|j| j.name.as_str()).collect::<Vec<_>>(),
            ["alpha", "beta"]
        );
        // A deeper page, also sorted by a key that binds a value (the live duration).
        let Page { rows: page, .. } = store
            .list_jobs(
                "p",
                &JobFilter {
                    offset: 2,
                    limit: 2,
                    ..filter()
                },
            )
            .await
            .unwrap();
        assert_eq!(
            page.iter().map(|j| j.name.as_str()).collect::<Vec<_>>(),
            ["delta-job", "gamma-job"]
        );
        let by_duration = |offset| JobFilter {
            sort: JobSort::Duration,
            offset,
            limit: 2,
            ..filter()
        };
        let first = store.list_jobs("p", &by_duration(0)).await.unwrap().rows;
        let second = store.list_jobs("p", &by_duration(2)).await.unwrap().rows;
        let mut ids: Vec<i64> = first.iter().chain(&second).map(|j| j.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 4, "two pages by duration hold every job once");
        // A page past the end has no row to carry the totals: they still come.
        let past = store
            .list_jobs(
                "p",
                &JobFilter {
                    search: Some("JOB".into()),
                    offset: 10,
                    ..filter()
                },
            )
            .await
            .unwrap();
        assert_eq!((past.rows.len(), past.total, past.live), (0, 2, 4));
        let Page { rows: page, total, .. } = store
            .list_jobs(
                "p",
                &JobFilter {
                    search: Some("JOB".into()),
                    descending: true,
                    ..filter()
                },
            )
            .await
            .unwrap();
        assert_eq!(total, 2);
        assert_eq!(
            page.iter().map(|j| j.name.as_str()).collect::<Vec<_>>(),
            ["gamma-job", "delta-job"]
        );
        let Page { total, .. } = store
            .list_jobs(
                "p",
                &JobFilter {
                    statuses: vec![10],
                    ..filter()
                },
            )
            .await
            .unwrap();
        assert_eq!(total, 0);
        let Page { total, .. } = store
            .list_jobs(
                "p",
                &JobFilter {
                    statuses: vec![1, 10],
                    ..filter()
                },
            )
            .await
            .unwrap();
        assert_eq!(total, 4);
    }

    async fn reopening_keeps_everything(store, db) {
        let id = store
            .create_job(&job("kept"), Some(&version()))
            .await
            .unwrap()
            .0
            .id;
        drop(store);
        let store = db.open().await;
        assert_eq!(store.get_job("p", id).await.unwrap().unwrap().name, "kept");
    }

    async fn live_job_counters_follow_creates_and_deletes(store, db) {
        let mut ids = Vec::new();
        for (name, ws) in [("a", "0"), ("b", "0"), ("c", "0"), ("d", "x")] {
            let j = NewJob {
                workspace_id: ws.into(),
                ..job(name)
            };
            ids.push(store.create_job(&j, Some(&version())).await.unwrap().0.id);
        }
        store
            .create_job(
                &NewJob {
                    project_id: "q".into(),
                    ..job("other")
                },
                None,
            )
            .await
            .unwrap();
        assert_eq!(store.count_jobs("p").await.unwrap(), 4);
        store
            .mark_job_deleted("p", ids[0], &[], 0)
            .await
            .unwrap()
            .hidden();
        assert_eq!(store.count_jobs("p").await.unwrap(), 3);
        let ws0 = JobFilter {
            workspace_id: Some("0".into()),
            ..filter()
        };
        assert_eq!(store.list_jobs("p", &ws0).await.unwrap().total, 2);
        // The filtered path counts rows; both agree.
        let ws0_done = JobFilter {
            statuses: vec![1],
            ..ws0.clone()
        };
        assert_eq!(store.list_jobs("p", &ws0_done).await.unwrap().total, 2);
        assert_eq!(store.list_jobs("p", &filter()).await.unwrap().total, 3);
        // Purging the deleted job's rows does not count it twice.
        for v in store.deleted_versions().await.unwrap() {
            store.purge_version(v.id).await.unwrap();
        }
        assert_eq!(store.count_jobs("p").await.unwrap(), 3);
        assert_eq!(store.count_jobs("q").await.unwrap(), 1);
    }


    /// Many writers race for one compare-and-set: exactly one wins, on either engine (SQLite's one
    /// writer, PostgreSQL's row locks).
    async fn concurrent_transitions_have_one_winner(store, db) {
        let (_, v) = store.create_job(&job("race"), Some(&version())).await.unwrap();
        let v = v.unwrap();
        let mut tasks = Vec::new();
        for i in 0..16 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let set = TransitionSet {
                    handle: Some(format!("winner-{i}")),
                    ..Default::default()
                };
                store
                    .transition(v.id, &[JobStatus::INIT], JobStatus::SUBMIT_TRYING, &set)
                    .await
                    .unwrap()
            }));
        }
        let mut won = 0;
        for t in tasks {
            won += usize::from(t.await.unwrap());
        }
        assert_eq!(won, 1);
        let got = store.version_by_id(v.id).await.unwrap().unwrap();
        assert_eq!(got.status, JobStatus::SUBMIT_TRYING);
        assert!(got.handle.unwrap().starts_with("winner-"));
    }

    /// Versions created at once on one job get distinct names, and the job's summary counts them
    /// all, while other versions of it change status at the same time.
    async fn concurrent_versions_and_transitions_keep_the_summary_right(store, db) {
        let (j, first) = store.create_job(&job("busy"), Some(&version())).await.unwrap();
        let first = first.unwrap();
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                store.create_version("p", j.id, &version()).await.unwrap().unwrap().name
            }));
        }
        let moved = {
            let store = store.clone();
            tokio::spawn(async move {
                store
                    .transition(first.id, &[JobStatus::INIT], JobStatus::RUNNING, &TransitionSet::default())
                    .await
                    .unwrap()
            })
        };
        let mut names = Vec::new();
        for t in tasks {
            names.push(t.await.unwrap());
        }
        assert!(moved.await.unwrap());
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 8, "{names:?}");
        let got = store.get_job("p", j.id).await.unwrap().unwrap();
        assert_eq!(got.version_count, 9);
        let newest = store.list_versions(j.id, 0, Some(1)).await.unwrap();
        assert_eq!(got.latest_version_id, Some(newest[0].id));
        assert_eq!(got.latest_status, JobStatus::INIT.code());
    }

    /// Deleting a job while a version of it is being created stops and hides that version too.
    async fn deleting_a_job_hides_every_version_it_has_at_commit(store, db) {
        let (j, _) = store.create_job(&job("gone"), Some(&version())).await.unwrap();
        let creating = {
            let store = store.clone();
            tokio::spawn(async move { store.create_version("p", j.id, &version()).await.unwrap() })
        };
        let hidden = store
            .mark_job_deleted("p", j.id, &[], 3)
            .await
            .unwrap()
            .hidden();
        let created = creating.await.unwrap();
        let deleted = store.deleted_versions().await.unwrap();
        assert_eq!(hidden, deleted.iter().map(|v| v.id).collect::<Vec<_>>());
        if let Some(v) = created {
            // Created before the delete committed: hidden and being stopped with it.
            let v = store.version_by_id(v.id).await.unwrap().unwrap();
            assert!(v.deleted);
            assert_eq!(v.status, JobStatus::KILLING);
        }
        assert!(deleted.iter().all(|v| v.status == JobStatus::KILLING));
    }

    /// A v2 job is a job with one version, found by its UUID in its project only; the v1
    /// operations and counters never see it, and names are unique per API.
    async fn v2_jobs_are_apart_from_v1_jobs(store, db) {
        let v2 = |uuid: &str| NewV2 { uuid: uuid.into(), doc: "{\"kind\":\"job\"}".into() };
        let made = store.create_v2_job(&job("same"), &v2("u-1"), &version()).await.unwrap();
        assert_eq!((made.uuid.as_str(), made.doc.as_str()), ("u-1", "{\"kind\":\"job\"}"));
        assert_eq!(made.version.job_id, made.job.id);
        assert!(matches!(
            store.create_v2_job(&job("same"), &v2("u-2"), &version()).await,
            Err(Error::Conflict)
        ));
        // The v1 API's job of the same name is another resource.
        let (v1, _) = store.create_job(&job("same"), Some(&version())).await.unwrap();
        assert!(store.get_job("p", made.job.id).await.unwrap().is_none());
        assert!(store.get_v2_job("p", "u-1").await.unwrap().is_some());
        assert!(store.get_v2_job("q", "u-1").await.unwrap().is_none());
        assert!(store
            .get_job_version("p", made.job.id, made.version.id)
            .await
            .unwrap()
            .is_none());
        assert!(store
            .create_version("p", made.job.id, &version())
            .await
            .unwrap()
            .is_none());
        assert_eq!(store.count_jobs("p").await.unwrap(), 1);
        let page = store.list_jobs("p", &filter()).await.unwrap();
        assert_eq!((page.rows.len(), page.total, page.live), (1, 1, 1));
        assert_eq!(page.rows[0].id, v1.id);
        let listed = store.list_v2_jobs("p").await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(store.v2_uuid(made.job.id).await.unwrap().as_deref(), Some("u-1"));
        assert_eq!(store.v2_uuid(v1.id).await.unwrap(), None);
        assert!(store.update_v2_job("p", "u-1", "new", "{}").await.unwrap());
        assert_eq!(store.get_v2_job("p", "u-1").await.unwrap().unwrap().job.description, "new");
        store.mark_job_deleted("p", made.job.id, &[], 0).await.unwrap().hidden();
        assert!(store.get_v2_job("p", "u-1").await.unwrap().is_none());
        assert_eq!(store.count_jobs("p").await.unwrap(), 1);
        store.create_v2_job(&job("same"), &v2("u-3"), &version()).await.unwrap();
    }

    /// The v2 search in SQL: one workspace's v2 jobs (never v1's), each condition holding,
    /// sorted, paged, with the count matching and the workspace's count.
    async fn v2_jobs_are_searched_in_sql(store, db) {
        let make = |name: &str, ws: &str, created: i64, status: JobStatus| {
            let mut j = job(name);
            j.workspace_id = ws.into();
            j.create_time = created;
            let mut v = version();
            v.status = status;
            let doc = NewV2 { uuid: format!("u-{name}"), doc: "{}".into() };
            (j, doc, v)
        };
        for (name, ws, created, status) in [
            ("alpha", "0", 1, JobStatus::INIT),
            ("beta", "0", 3, JobStatus::COMPLETED),
            ("gamma", "w", 2, JobStatus::INIT),
        ] {
            let (j, d, v) = make(name, ws, created, status);
            store.create_v2_job(&j, &d, &v).await.unwrap();
        }
        store.create_job(&job("v1-alpha"), Some(&version())).await.unwrap();
        let search = |conditions: Vec<V2Cond>, sort: V2Sort, descending: bool, offset: i64| {
            V2Search {
                workspace_id: "0".into(),
                conditions,
                sort,
                descending,
                now: 10,
                offset,
                limit: 10,
            }
        };
        let names = |p: &Page<trainyard_store::V2Job>| -> (Vec<String>, i64, i64) {
            (p.rows.iter().map(|j| j.job.name.clone()).collect(), p.total, p.live)
        };
        let texts = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        for (conditions, want) in [
            (vec![], vec!["beta", "alpha"]),
            (vec![V2Cond::Like(V2Text::Name, texts(&["ALP", "zzz"]))], vec!["alpha"]),
            (vec![V2Cond::In(V2Text::Uuid, texts(&["u-beta"]))], vec!["beta"]),
            (vec![V2Cond::NotIn(V2Text::Uuid, texts(&["u-beta"]))], vec!["alpha"]),
            (vec![V2Cond::Status(vec![10], true)], vec!["beta"]),
            (vec![V2Cond::Status(vec![10], false)], vec!["alpha"]),
            (vec![V2Cond::CreatedWithin(2, 5)], vec!["beta"]),
            (
                vec![V2Cond::CreatedWithin(0, 5), V2Cond::Like(V2Text::Name, texts(&["a"]))],
                vec!["beta", "alpha"],
            ),
            (vec![V2Cond::In(V2Text::Name, texts(&["gamma"]))], vec![]),
            (vec![V2Cond::Nothing], vec![]),
        ] {
            let total = want.len() as i64;
            let page = store
                .search_v2_jobs("p", &search(conditions.clone(), V2Sort::CreateTime, true, 0))
                .await
                .unwrap();
            assert_eq!(names(&page), (texts(&want), total, 2), "{conditions:?}");
        }
        let page = store
            .search_v2_jobs("p", &search(vec![], V2Sort::Name, false, 1))
            .await
            .unwrap();
        assert_eq!(names(&page), (texts(&["beta"]), 2, 2));
        let page = store
            .search_v2_jobs("p", &search(vec![], V2Sort::Duration, true, 0))
            .await
            .unwrap();
        assert_eq!(page.rows.len(), 2);
        assert!(store
            .search_v2_jobs("q", &search(vec![], V2Sort::CreateTime, true, 0))
            .await
            .unwrap()
            .rows
            .is_empty());
    }

    /// v2 algorithms are per project: ids and names unique in a project, found, listed,
    /// renamed and removed there only.
    async fn v2_algorithms_are_kept_per_project(store, db) {
        let alg = |project: &str, uuid: &str, name: &str| V2Algorithm {
            project_id: project.into(),
            uuid: uuid.into(),
            name: name.into(),
            create_time: 1,
            update_time: 1,
            doc: "{}".into(),
        };
        store.create_v2_algorithm(&alg("p", "a-1", "one")).await.unwrap();
        for dup in [alg("p", "a-1", "other"), alg("p", "a-2", "one")] {
            assert!(matches!(store.create_v2_algorithm(&dup).await, Err(Error::Conflict)));
        }
        store.create_v2_algorithm(&alg("q", "a-1", "one")).await.unwrap();
        let mut two = alg("p", "a-2", "two");
        two.create_time = 2;
        store.create_v2_algorithm(&two).await.unwrap();
        let got = store.get_v2_algorithm("p", "a-1").await.unwrap().unwrap();
        assert_eq!(got, alg("p", "a-1", "one"));
        assert!(store.get_v2_algorithm("p", "a-3").await.unwrap().is_none());
        let names: Vec<String> =
            store.list_v2_algorithms("p").await.unwrap().into_iter().map(|a| a.name).collect();
        assert_eq!(names, ["two", "one"]);
        let mut renamed = alg("p", "a-1", "two");
        assert!(matches!(store.update_v2_algorithm(&renamed).await, Err(Error::Conflict)));
        renamed.name = "uno".into();
        renamed.doc = "{\"x\":1}".into();
        renamed.update_time = 5;
        assert!(store.update_v2_algorithm(&renamed).await.unwrap());
        assert_eq!(store.get_v2_algorithm("p", "a-1").await.unwrap().unwrap(), renamed);
        assert!(!store.update_v2_algorithm(&alg("p", "a-9", "x")).await.unwrap());
        assert!(store.delete_v2_algorithm("p", "a-1").await.unwrap());
        assert!(!store.delete_v2_algorithm("p", "a-1").await.unwrap());
        assert!(store.get_v2_algorithm("q", "a-1").await.unwrap().is_some());
    }

    /// What one server records for the others (the scheduler's capacity): read back by any
    /// server, the last write winning (or the first, shared once). An SQLite file has one server and nobody to tell.
    async fn servers_sharing_a_database_read_what_one_records(store, db) {
        let Some(coordinator) = store.coordinator() else {
            assert_eq!(store.engine(), Engine::Sqlite);
            return;
        };
        let other = trainyard_store::open(&db.url, &Default::default()).await.unwrap();
        let seen = other.coordinator().unwrap();
        assert_eq!(seen.shared("capacity").await.unwrap(), None);
        coordinator.share("capacity", "{\"free\":1}").await.unwrap();
        coordinator.share("capacity", "{\"free\":2}").await.unwrap();
        assert_eq!(
            seen.shared("capacity").await.unwrap().as_deref(),
            Some("{\"free\":2}")
        );
        // A record shared once: the first server's value stays, whoever comes later.
        assert_eq!(coordinator.share_once("key", "first").await.unwrap(), "first");
        assert_eq!(seen.share_once("key", "second").await.unwrap(), "first");
        assert_eq!(seen.shared("key").await.unwrap().as_deref(), Some("first"));
    }
}

#[tokio::test]
async fn migration_0004_tags_stored_run_handles_with_their_backend() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let store = trainyard_store::SqliteStore::open_path(&path)
        .await
        .unwrap();
    let (_, v) = store.create_job(&job("h"), Some(&version())).await.unwrap();
    let (_, w) = store.create_job(&job("s"), Some(&version())).await.unwrap();
    let (v, w) = (v.unwrap(), w.unwrap());
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    for (id, old) in [
        (v.id, r#"{"shim_pid":12,"shim_start_time":34}"#),
        (w.id, r#"{"slurm_job_id":56}"#),
    ] {
        sqlx::query("UPDATE versions SET handle = ? WHERE id = ?")
            .bind(old)
            .bind(id)
            .execute(&pool)
            .await
            .unwrap();
    }
    // What a database written before migration 0004 holds, migrated as 0004 does it.
    sqlx::raw_sql(include_str!(
        "../../migrations/sqlite/0004_tagged_run_handles.sql"
    ))
    .execute(&pool)
    .await
    .unwrap();
    let handle = |id| {
        let pool = pool.clone();
        async move {
            let h: String = sqlx::query_scalar("SELECT handle FROM versions WHERE id = ?")
                .bind(id)
                .fetch_one(&pool)
                .await
                .unwrap();
            serde_json::from_str::<serde_json::Value>(&h).unwrap()
        }
    };
    assert_eq!(
        handle(v.id).await,
        serde_json::json!({"backend": "local", "shim_pid": 12, "shim_start_time": 34})
    );
    assert_eq!(
        handle(w.id).await,
        serde_json::json!({"backend": "slurm", "slurm_job_id": 56})
    );
}

/// Both engines' migrations carry the same version numbers (and names): a change to the
/// schema is made on both.
#[test]
fn migrations_have_the_same_versions_on_both_engines() {
    let names = |engine: &str| {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(engine);
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    assert_eq!(names("sqlite"), names("postgres"));
}
