//! The store against a real SQLite file: create, summaries, compare-and-set, delete.

use trainyard_api::training::JobConfig;
use trainyard_api::JobStatus;
use trainyard_store::{Error, JobFilter, JobSort, NewJob, NewVersion, Store, TransitionSet};

fn job(name: &str) -> NewJob {
    NewJob {
        project_id: "p".into(),
        name: name.into(),
        description: String::new(),
        workspace_id: "0".into(),
        create_time: 1,
    }
}

fn version() -> NewVersion {
    NewVersion {
        description: String::new(),
        pre_version_id: None,
        status: JobStatus::INIT,
        config: JobConfig {
            worker_server_num: Some(1),
            ..Default::default()
        },
        resource_id: "jobdeadbeef".into(),
        run_dir_template: "/runs/{id}".into(),
        create_time: 2,
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

async fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_path(&dir.path().join("t.db")).await.unwrap();
    (dir, store)
}

#[tokio::test]
async fn versions_are_named_in_sequence_and_summarized_on_the_job() {
    let (_dir, store) = open().await;
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

#[tokio::test]
async fn duplicate_live_names_conflict_until_the_job_is_deleted() {
    let (_dir, store) = open().await;
    let (j, _) = store.create_job(&job("dup"), None).await.unwrap();
    assert!(matches!(
        store.create_job(&job("dup"), None).await,
        Err(Error::Conflict)
    ));
    store
        .mark_job_deleted("p", j.id, &[], 0)
        .await
        .unwrap()
        .unwrap();
    store.create_job(&job("dup"), None).await.unwrap();
}

#[tokio::test]
async fn transitions_are_compare_and_set() {
    let (_dir, store) = open().await;
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

#[tokio::test]
async fn deleting_a_running_version_marks_it_stopping_in_the_same_transaction() {
    let (_dir, store) = open().await;
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
        .unwrap();
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
        .unwrap();
    assert_eq!(
        store.version_by_id(done.id).await.unwrap().unwrap().status,
        JobStatus::COMPLETED
    );
    assert_eq!(store.stop_deleted_versions(3).await.unwrap(), 0);
}

#[tokio::test]
async fn deleting_refuses_killing_versions_and_purges_rows() {
    let (_dir, store) = open().await;
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
        Err(JobStatus::KILLING)
    );
    assert_eq!(
        store
            .mark_job_deleted("p", j.id, &[JobStatus::KILLING], 0)
            .await
            .unwrap(),
        Err(JobStatus::KILLING)
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
        Ok(vec![v.id])
    );
    assert!(store.get_job("p", j.id).await.unwrap().is_none());
    assert_eq!(store.list_jobs("p", &filter()).await.unwrap().1, 0);
    assert_eq!(store.deleted_versions().await.unwrap().len(), 1);
    store.purge_version(v.id).await.unwrap();
    assert!(store.version_by_id(v.id).await.unwrap().is_none());
    assert!(
        store.job_name(j.id).await.unwrap().is_none(),
        "the job row went with its last version"
    );
}

#[tokio::test]
async fn list_filters_sorts_and_pages() {
    let (_dir, store) = open().await;
    for name in ["beta", "alpha", "gamma-job", "delta-job"] {
        store
            .create_job(&job(name), Some(&version()))
            .await
            .unwrap();
    }
    let (page, total) = store
        .list_jobs(
            "p",
            &JobFilter {
                limit: 2,
                ..filter()
            },
        )
        .await
        .unwrap();
    assert_eq!(total, 4);
    assert_eq!(
        page.iter().map(|j| j.name.as_str()).collect::<Vec<_>>(),
        ["alpha", "beta"]
    );
    let (page, total) = store
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
    let (_, total) = store
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
    let (_, total) = store
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

#[tokio::test]
async fn reopening_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let id = {
        let store = Store::open_path(&path).await.unwrap();
        store
            .create_job(&job("kept"), Some(&version()))
            .await
            .unwrap()
            .0
            .id
    };
    let store = Store::open_path(&path).await.unwrap();
    assert_eq!(store.get_job("p", id).await.unwrap().unwrap().name, "kept");
}

#[tokio::test]
async fn unknown_engines_are_named() {
    let err = Store::open("postgres://localhost/db").await.unwrap_err();
    assert!(err.to_string().contains("postgres"), "{err}");
}

#[tokio::test]
async fn live_job_counters_follow_creates_and_deletes() {
    let (_dir, store) = open().await;
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
        .unwrap();
    assert_eq!(store.count_jobs("p").await.unwrap(), 3);
    let ws0 = JobFilter {
        workspace_id: Some("0".into()),
        ..filter()
    };
    assert_eq!(store.list_jobs("p", &ws0).await.unwrap().1, 2);
    // The filtered path counts rows; both agree.
    let ws0_done = JobFilter {
        statuses: vec![1],
        ..ws0.clone()
    };
    assert_eq!(store.list_jobs("p", &ws0_done).await.unwrap().1, 2);
    assert_eq!(store.list_jobs("p", &filter()).await.unwrap().1, 3);
    // Purging the deleted job's rows does not count it twice.
    for v in store.deleted_versions().await.unwrap() {
        store.purge_version(v.id).await.unwrap();
    }
    assert_eq!(store.count_jobs("p").await.unwrap(), 3);
    assert_eq!(store.count_jobs("q").await.unwrap(), 1);
}

#[tokio::test]
async fn migration_0004_tags_stored_run_handles_with_their_backend() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let store = Store::open_path(&path).await.unwrap();
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
        "../migrations/sqlite/0004_tagged_run_handles.sql"
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
