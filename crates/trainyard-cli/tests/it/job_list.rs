//! The training job list (TJ-02) is served from pages kept until the database's next commit
//! (`service::list_cache`, on SQLite): each list call is read right after a change, by a
//! request or by the executor on its own, and shows it; another project never gets a page
//! kept for the owner.

use crate::harness::*;
use serde_json::{json, Value};
use std::time::Duration;

const FIRST_PAGE: &str = "/training-jobs?per_page=10&page=1&sortBy=job_name&order=asc";

/// The first page sorted by name.
async fn list(api: &Api) -> Value {
    api.get(FIRST_PAGE).await.assert_ok().clone()
}

/// The first page, read twice while every listed job has ended (nothing changes it): the
/// second read is the kept page and is the same answer.
async fn list_settled(api: &Api) -> Value {
    let first = list(api).await;
    assert_eq!(list(api).await, first, "a repeated list call changed");
    first
}

/// The listed job named `name`, if any.
fn entry<'a>(page: &'a Value, name: &str) -> Option<&'a Value> {
    page["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["job_name"] == json!(name))
}

fn status_of(page: &Value, name: &str) -> Value {
    entry(page, name).unwrap_or_else(|| panic!("{name} not listed: {page}"))["status"].clone()
}

/// Listed (and kept) before each change, listed again right after it: a create, a new
/// description, a run's start and its end (written by the executor, not by a request), a stop
/// and a deletion each show on the very next list call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_list_page_shows_each_change_on_the_next_call() {
    let srv = TestServer::start().await;
    srv.write_app("done", &[("boot.py", "print('done')\n")]);
    srv.write_app("long", &[("boot.py", "import time\ntime.sleep(300)\n")]);
    let api = &srv.api;
    let (a, a_ver) = api.create_job("a-done", "done", json!({})).await;
    api.wait_status(a, a_ver, &[JobStatus::COMPLETED], Duration::from_secs(30))
        .await;
    let page = list_settled(api).await;
    assert_eq!(page["job_total_count"], json!(1), "{page}");
    assert_eq!(
        status_of(&page, "a-done"),
        json!(JobStatus::COMPLETED.code())
    );
    let limit = page["job_count_limit"].as_i64().unwrap();

    // A create.
    let (b, b_ver) = api.create_job("b-long", "long", json!({})).await;
    let page = list(api).await;
    assert_eq!(page["job_total_count"], json!(2), "{page}");
    assert!(entry(&page, "b-long").is_some(), "{page}");
    assert_eq!(page["job_count_limit"], json!(limit - 1), "{page}");

    // The run starts: the executor writes it, no request does.
    api.wait_status(b, b_ver, &[JobStatus::RUNNING], Duration::from_secs(30))
        .await;
    assert_eq!(
        status_of(&list(api).await, "b-long"),
        json!(JobStatus::RUNNING.code())
    );

    // A new description.
    api.put(
        &format!("/training-jobs/{a}"),
        json!({"job_desc": "new words"}),
    )
    .await
    .assert_ok();
    let page = list(api).await;
    assert_eq!(
        entry(&page, "a-done").unwrap()["job_desc"],
        json!("new words")
    );

    // A stop, and the end of the run it brings.
    api.post(
        &format!("/training-jobs/{b}/versions/{b_ver}/stop"),
        json!({}),
    )
    .await
    .assert_ok();
    let ended = api
        .wait_status(b, b_ver, JobStatus::TERMINAL, Duration::from_secs(30))
        .await;
    assert_eq!(
        status_of(&list_settled(api).await, "b-long"),
        json!(ended.code())
    );

    // A deletion.
    api.delete(&format!("/training-jobs/{a}")).await.assert_ok();
    let page = list_settled(api).await;
    assert_eq!(page["job_total_count"], json!(1), "{page}");
    assert!(entry(&page, "a-done").is_none(), "{page}");
    assert_eq!(page["job_count_limit"], json!(limit), "{page}");
}

/// The owner's page is kept; another project asking for the same page, before and after,
/// gets its own jobs only, and its create shows on its own next list, not on the owner's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_project_never_gets_a_page_kept_for_the_owner() {
    let srv = TestServer::start().await;
    srv.write_app("done", &[("boot.py", "print('done')\n")]);
    let api = &srv.api;
    let (job, ver) = api.create_job("mine", "done", json!({})).await;
    api.wait_status(job, ver, &[JobStatus::COMPLETED], Duration::from_secs(30))
        .await;
    assert_eq!(list(&srv.other).await["job_total_count"], json!(0));
    let mine = list_settled(api).await;
    assert!(entry(&mine, "mine").is_some(), "{mine}");
    let theirs = list_settled(&srv.other).await;
    assert_eq!(theirs["job_total_count"], json!(0), "{theirs}");
    assert_eq!(theirs["jobs"], json!([]));

    let their_storage = srv.storage().with_file_name(OTHER_PROJECT);
    write_app(&their_storage, "done", &[("boot.py", "print('theirs')\n")]);
    let (t_job, t_ver) = srv.other.create_job("theirs", "done", json!({})).await;
    let theirs = list(&srv.other).await;
    assert!(entry(&theirs, "theirs").is_some(), "{theirs}");
    assert!(entry(&theirs, "mine").is_none(), "{theirs}");
    let mine_again = list_settled(api).await;
    assert_eq!(mine_again, mine);
    assert_eq!(mine_again["job_total_count"], json!(1));
    srv.other
        .wait_status(t_job, t_ver, JobStatus::TERMINAL, Duration::from_secs(30))
        .await;
}
