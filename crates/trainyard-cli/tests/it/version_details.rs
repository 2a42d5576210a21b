//! Version details (TJ-03) are served from a kept body while the version is ended and its
//! rows unchanged (`service::details_cache`): read right after every change, each read shows
//! the change, and another project never gets the body.

use crate::harness::*;
use serde_json::{json, Value};
use std::time::Duration;
use trainyard_api::JobStatus;

async fn details(api: &Api, job: i64, ver: i64) -> Value {
    api.get(&format!("/training-jobs/{job}/versions/{ver}"))
        .await
        .assert_ok()
        .clone()
}

/// An ended version read twice (the second read is the kept body), then changed and read at
/// once: the description, a new version of its job, and its deletion all show right away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ended_versions_details_show_each_change_read_right_after() {
    let srv = TestServer::start().await;
    srv.write_app("app", &[("boot.py", "print('done')\n")]);
    let api = &srv.api;
    let (job, ver) = api.create_job("ended", "app", json!({})).await;
    api.wait_status(job, ver, &[JobStatus::COMPLETED], Duration::from_secs(30))
        .await;
    let first = details(api, job, ver).await;
    assert_eq!(details(api, job, ver).await, first);
    assert_eq!(first["status"], json!(JobStatus::COMPLETED.code()));
    assert_eq!(first["job_desc"], json!(""));

    api.put(
        &format!("/training-jobs/{job}"),
        json!({"job_desc": "new words"}),
    )
    .await
    .assert_ok();
    let described = details(api, job, ver).await;
    assert_eq!(described["job_desc"], json!("new words"), "{described}");

    // The version is deleted: the next read says so, it never shows the kept body.
    details(api, job, ver).await;
    let v = format!("/training-jobs/{job}/versions/{ver}");
    api.delete(&v).await.assert_ok();
    api.get(&v).await.assert_error(400, "ModelArts.0105");
}

/// A version read while it runs, stopped and read at once, then read again ended: every
/// read shows the status of that moment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_version_shows_its_stop_read_right_after() {
    let srv = TestServer::start().await;
    srv.write_app("app", &[("boot.py", "import time\ntime.sleep(300)\n")]);
    let api = &srv.api;
    let (job, ver) = api.create_job("stopped", "app", json!({})).await;
    api.wait_status(job, ver, &[JobStatus::RUNNING], Duration::from_secs(30))
        .await;
    assert_eq!(
        details(api, job, ver).await["status"],
        json!(JobStatus::RUNNING.code())
    );
    api.post(
        &format!("/training-jobs/{job}/versions/{ver}/stop"),
        json!({}),
    )
    .await
    .assert_ok();
    let right_after =
        JobStatus::from_code(details(api, job, ver).await["status"].as_i64().unwrap());
    assert_ne!(right_after, JobStatus::RUNNING);
    api.wait_status(job, ver, JobStatus::TERMINAL, Duration::from_secs(30))
        .await;
    let ended = details(api, job, ver).await;
    assert_eq!(details(api, job, ver).await, ended);
    assert!(JobStatus::from_code(ended["status"].as_i64().unwrap()).is_terminal());
    assert!(ended["duration"].as_i64().unwrap() > 0, "{ended}");
}

/// A waiting version's priority changed and read at once shows the new priority.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_priority_shows_read_right_after() {
    let srv =
        TestServer::start_with("[executor]\ncores = 1\nmemory_gb = 256\nstop_grace_seconds = 2\n")
            .await;
    srv.write_app("app", &[("boot.py", "import time\ntime.sleep(300)\n")]);
    let api = &srv.api;
    let (job1, ver1) = api.create_job("first", "app", json!({})).await;
    api.wait_status(job1, ver1, &[JobStatus::RUNNING], Duration::from_secs(30))
        .await;
    let (job, ver) = api.create_job("waiting", "app", json!({})).await;
    api.wait_status(job, ver, JobStatus::QUEUED, Duration::from_secs(10))
        .await;
    let before = details(api, job, ver).await;
    assert_ne!(before["priority"], json!(3), "{before}");
    api.put(
        &format!("/training-jobs/{job}/versions/{ver}/priority"),
        json!({"priority": 3}),
    )
    .await
    .assert_ok();
    assert_eq!(details(api, job, ver).await["priority"], json!(3));
    for (j, v) in [(job, ver), (job1, ver1)] {
        api.post(&format!("/training-jobs/{j}/versions/{v}/stop"), json!({}))
            .await
            .assert_ok();
        api.wait_status(j, v, JobStatus::TERMINAL, Duration::from_secs(30))
            .await;
    }
}

/// The owner's reads keep the body; another project's reads of the same path, before and
/// after, are refused as if the version did not exist, and its list stays empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_project_never_gets_a_kept_body() {
    let srv = TestServer::start().await;
    srv.write_app("app", &[("boot.py", "print('mine')\n")]);
    let api = &srv.api;
    let (job, ver) = api.create_job("mine", "app", json!({})).await;
    api.wait_status(job, ver, &[JobStatus::COMPLETED], Duration::from_secs(30))
        .await;
    let v = format!("/training-jobs/{job}/versions/{ver}");
    srv.other.get(&v).await.assert_error(400, "ModelArts.0105");
    let mine = details(api, job, ver).await;
    assert_eq!(details(api, job, ver).await, mine);
    for _ in 0..3 {
        srv.other.get(&v).await.assert_error(400, "ModelArts.0105");
    }
    assert_eq!(
        srv.other.get("/training-jobs").await.assert_ok()["job_total_count"],
        json!(0)
    );
    // Without credentials, or with a wrong token, the body is not served either.
    let url = api.url(&v);
    let r = api.http.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = api
        .http
        .get(&url)
        .header("X-Auth-Token", "not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

/// An ended version's body kept, then its job deleted (another write path than the version's
/// own): the next read is refused at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_jobs_version_is_refused_read_right_after() {
    let srv = TestServer::start().await;
    srv.write_app("app", &[("boot.py", "print('done')\n")]);
    let api = &srv.api;
    let (job, ver) = api.create_job("gone", "app", json!({})).await;
    api.wait_status(job, ver, &[JobStatus::COMPLETED], Duration::from_secs(30))
        .await;
    let kept = details(api, job, ver).await;
    assert_eq!(details(api, job, ver).await, kept);
    api.delete(&format!("/training-jobs/{job}"))
        .await
        .assert_ok();
    let v = format!("/training-jobs/{job}/versions/{ver}");
    let refused = api.get(&v).await;
    assert_eq!(refused.status, 400, "{}", refused.body);
}
