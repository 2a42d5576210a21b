//! Version details and list pages that a PostgreSQL replica answers from memory
//! (`service::details_cache`, `service::list_cache`), kept while a snapshot of the database
//! taken after each request arrived is the one they were read under (`Store::committed`):
//! a change written through the other replica, by a request or by the executor of the replica
//! holding the scheduler duty, shows on this replica's very next read, though it kept the
//! answer from before; another project never gets what was kept for the owner. Skipped with a
//! `SKIPPED` line without PostgreSQL, failed under CI=true.

use crate::harness::*;
use serde_json::{json, Value};
use std::time::Duration;

const FIRST_PAGE: &str = "/training-jobs?per_page=10&page=1&sortBy=job_name&order=asc";

/// Two replicas and the apps `done` (prints and ends) and `gated` (runs until the file
/// `release` appears in the test's folder). `None` when skipped (no PostgreSQL outside CI).
async fn two_replicas(test: &str) -> Option<Replicas> {
    let r = Replicas::start(test, 2, "", |_| Vec::new()).await?;
    std::fs::create_dir_all(r.storage().join("data")).unwrap();
    write_app(&r.storage(), "done", &[("boot.py", "print('done')\n")]);
    let gate = r.dir.path().join("release");
    write_app(
        &r.storage(),
        "gated",
        &[(
            "boot.py",
            &format!(
                "import os, time\nwhile not os.path.exists({:?}):\n    time.sleep(0.05)\n",
                gate.display().to_string()
            ),
        )],
    );
    Some(r)
}

/// The details of a version, answered 200.
async fn details(api: &Api, job: i64, ver: i64) -> Value {
    api.get(&format!("/training-jobs/{job}/versions/{ver}"))
        .await
        .assert_ok()
        .clone()
}

/// Reads an ended version's details three times, all the same: the first read keeps the body,
/// the second gives it the snapshot it was read under, the third is served from memory.
async fn details_kept(api: &Api, job: i64, ver: i64) -> Value {
    let first = details(api, job, ver).await;
    for _ in 0..2 {
        assert_eq!(
            details(api, job, ver).await,
            first,
            "a repeated read changed"
        );
    }
    first
}

/// The first page sorted by name.
async fn list(api: &Api) -> Value {
    api.get(FIRST_PAGE).await.assert_ok().clone()
}

/// The first page read three times (kept, given its snapshot, served from memory); the last.
async fn list_kept(api: &Api) -> Value {
    for _ in 0..2 {
        list(api).await;
    }
    list(api).await
}

/// The listed job named `name`.
fn entry<'a>(page: &'a Value, name: &str) -> &'a Value {
    page["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["job_name"] == json!(name))
        .unwrap_or_else(|| panic!("{name} not listed: {page}"))
}

/// An ended version's details kept on replica B, then changed through replica A: its job's
/// description, the version's deletion, and another job's deletion each show on B's very next
/// read. A running version stopped through A, and ended by the executor, shows each status on
/// B's next read too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_through_one_replica_shows_on_the_others_next_details_read() {
    let test = "a_change_through_one_replica_shows_on_the_others_next_details_read";
    let Some(r) = two_replicas(test).await else {
        return;
    };
    let (a, b) = (r.api(0), r.api(1));
    let (job, ver) = a.create_job("ended", "done", json!({})).await;
    a.wait_status(job, ver, &[JobStatus::COMPLETED], Duration::from_secs(30))
        .await;
    let kept = details_kept(b, job, ver).await;
    assert_eq!(kept["status"], json!(JobStatus::COMPLETED.code()));
    assert_eq!(kept["job_desc"], json!(""));

    a.put(
        &format!("/training-jobs/{job}"),
        json!({"job_desc": "new words"}),
    )
    .await
    .assert_ok();
    let described = details(b, job, ver).await;
    assert_eq!(described["job_desc"], json!("new words"), "{described}");

    details_kept(b, job, ver).await;
    let path = format!("/training-jobs/{job}/versions/{ver}");
    a.delete(&path).await.assert_ok();
    b.get(&path).await.assert_error(400, "ModelArts.0105");

    // Another write path: the whole job deleted.
    let (gone, gone_ver) = a.create_job("gone", "done", json!({})).await;
    a.wait_status(
        gone,
        gone_ver,
        &[JobStatus::COMPLETED],
        Duration::from_secs(30),
    )
    .await;
    details_kept(b, gone, gone_ver).await;
    a.delete(&format!("/training-jobs/{gone}"))
        .await
        .assert_ok();
    let refused = b
        .get(&format!("/training-jobs/{gone}/versions/{gone_ver}"))
        .await;
    assert_eq!(refused.status, 400, "{}", refused.body);

    // A running version stopped through A, then ended by the scheduler's executor.
    let (run, run_ver) = a.create_job("stopped", "gated", json!({})).await;
    a.wait_status(run, run_ver, &[JobStatus::RUNNING], Duration::from_secs(30))
        .await;
    assert_eq!(
        details(b, run, run_ver).await["status"],
        json!(JobStatus::RUNNING.code())
    );
    a.post(
        &format!("/training-jobs/{run}/versions/{run_ver}/stop"),
        json!({"grace_period_seconds": 1}),
    )
    .await
    .assert_ok();
    let right_after =
        JobStatus::from_code(details(b, run, run_ver).await["status"].as_i64().unwrap());
    assert_ne!(right_after, JobStatus::RUNNING);
    let ended = a
        .wait_status(run, run_ver, JobStatus::TERMINAL, Duration::from_secs(30))
        .await;
    assert_eq!(
        details_kept(b, run, run_ver).await["status"],
        json!(ended.code())
    );
}

/// A list page kept on replica B, then changed through replica A: a create, the run's start
/// and its end (written by the executor of the replica holding the scheduler duty, not by a
/// request), a new description, a stop and a deletion each show on B's very next list call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_through_one_replica_shows_on_the_others_next_list_call() {
    let test = "a_change_through_one_replica_shows_on_the_others_next_list_call";
    let Some(r) = two_replicas(test).await else {
        return;
    };
    let (a, b) = (r.api(0), r.api(1));
    let (done, done_ver) = a.create_job("a-done", "done", json!({})).await;
    a.wait_status(
        done,
        done_ver,
        &[JobStatus::COMPLETED],
        Duration::from_secs(30),
    )
    .await;
    let page = list_kept(b).await;
    assert_eq!(page["job_total_count"], json!(1), "{page}");

    // A create, through A.
    let (gated, gated_ver) = a.create_job("b-gated", "gated", json!({})).await;
    let page = list(b).await;
    assert_eq!(page["job_total_count"], json!(2), "{page}");
    entry(&page, "b-gated");

    // The run starts: the scheduler's executor writes it, no request does.
    a.wait_status(
        gated,
        gated_ver,
        &[JobStatus::RUNNING],
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(
        entry(&list(b).await, "b-gated")["status"],
        json!(JobStatus::RUNNING.code())
    );

    // It ends on its own (the gate opens): the executor records the end.
    list_kept(b).await;
    std::fs::write(r.dir.path().join("release"), "").unwrap();
    a.wait_status(
        gated,
        gated_ver,
        &[JobStatus::COMPLETED],
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(
        entry(&list(b).await, "b-gated")["status"],
        json!(JobStatus::COMPLETED.code())
    );

    // A new description.
    list_kept(b).await;
    a.put(
        &format!("/training-jobs/{done}"),
        json!({"job_desc": "new words"}),
    )
    .await
    .assert_ok();
    assert_eq!(
        entry(&list(b).await, "a-done")["job_desc"],
        json!("new words")
    );

    // A stop through A: the next list on B shows the version no longer running.
    std::fs::remove_file(r.dir.path().join("release")).unwrap();
    let (stopped, stopped_ver) = a.create_job("c-stopped", "gated", json!({})).await;
    a.wait_status(
        stopped,
        stopped_ver,
        &[JobStatus::RUNNING],
        Duration::from_secs(30),
    )
    .await;
    list_kept(b).await;
    a.post(
        &format!("/training-jobs/{stopped}/versions/{stopped_ver}/stop"),
        json!({"grace_period_seconds": 1}),
    )
    .await
    .assert_ok();
    assert_ne!(
        entry(&list(b).await, "c-stopped")["status"],
        json!(JobStatus::RUNNING.code())
    );
    let ended = a
        .wait_status(
            stopped,
            stopped_ver,
            JobStatus::TERMINAL,
            Duration::from_secs(30),
        )
        .await;
    assert_eq!(
        entry(&list(b).await, "c-stopped")["status"],
        json!(ended.code())
    );

    // A deletion.
    list_kept(b).await;
    a.delete(&format!("/training-jobs/{done}"))
        .await
        .assert_ok();
    let page = list(b).await;
    assert_eq!(page["job_total_count"], json!(2), "{page}");
    assert!(
        page["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|j| j["job_name"] != json!("a-done")),
        "{page}"
    );
}

/// The owner's details and list page kept on a replica; another project asking that replica
/// for the same paths, before and after, is refused the version and lists its own jobs only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_project_never_gets_what_a_replica_kept_for_the_owner() {
    let test = "another_project_never_gets_what_a_replica_kept_for_the_owner";
    let Some(r) = two_replicas(test).await else {
        return;
    };
    let (a, b) = (r.api(0), r.api(1));
    let (_, other) = api_pair(b.base.clone());
    let (job, ver) = a.create_job("mine", "done", json!({})).await;
    a.wait_status(job, ver, &[JobStatus::COMPLETED], Duration::from_secs(30))
        .await;
    let path = format!("/training-jobs/{job}/versions/{ver}");
    other.get(&path).await.assert_error(400, "ModelArts.0105");
    assert_eq!(list(&other).await["job_total_count"], json!(0));
    details_kept(b, job, ver).await;
    let mine = list_kept(b).await;
    assert_eq!(mine["job_total_count"], json!(1), "{mine}");
    for _ in 0..3 {
        other.get(&path).await.assert_error(400, "ModelArts.0105");
        let theirs = list(&other).await;
        assert_eq!(theirs["job_total_count"], json!(0), "{theirs}");
        assert_eq!(theirs["jobs"], json!([]));
    }
}
