//! GPU hand-out through CUDA_VISIBLE_DEVICES, and internal errors that leak nothing.

use crate::harness::*;
use serde_json::json;
use std::time::Duration;

const GPU_CONFIG: &str = "[executor]\ncores = 8\nmemory_gb = 32\ngpus = [3, 5]\nstop_grace_seconds = 1\n\
    [[specs]]\nspec_id = 4\nspec_code = \"modelarts.vm.gpu.1\"\ncore = 1\ncpu = 2\ngpu_num = 1\ngpu_type = \"test\"\nmax_num = 2\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gpus_are_handed_out_through_cuda_visible_devices() {
    let srv = TestServer::start_with(GPU_CONFIG).await;
    let gate = srv.dir.path().join("gate");
    let boot = format!(
        "import os, time\nprint('GPUS=' + os.environ['CUDA_VISIBLE_DEVICES'], flush=True)\nwhile not os.path.exists({:?}):\n    time.sleep(0.05)\n",
        gate.display().to_string()
    );
    srv.write_app("gpu", &[("boot.py", &boot)]);
    let (j1, v1) = srv.api.create_job("g1", "gpu", json!({"spec_id": 4})).await;
    let (j2, v2) = srv.api.create_job("g2", "gpu", json!({"spec_id": 4})).await;
    srv.api
        .wait_status(j1, v1, &[JobStatus::RUNNING], Duration::from_secs(30))
        .await;
    srv.api
        .wait_status(j2, v2, &[JobStatus::RUNNING], Duration::from_secs(30))
        .await;
    // Both GPUs are taken: a third job waits.
    let (j3, v3) = srv.api.create_job("g3", "gpu", json!({"spec_id": 4})).await;
    srv.api
        .wait_status(j3, v3, &[JobStatus::WAITING], Duration::from_secs(10))
        .await;
    srv.api.wait_log(j1, v1, "g1.0", "GPUS=").await;
    srv.api.wait_log(j2, v2, "g2.0", "GPUS=").await;
    let l1 = srv.api.log(j1, v1, "g1.0").await;
    let l2 = srv.api.log(j2, v2, "g2.0").await;
    let mut seen = vec![
        l1.lines().next().unwrap().to_owned(),
        l2.lines().next().unwrap().to_owned(),
    ];
    seen.sort();
    assert_eq!(seen, vec!["GPUS=3", "GPUS=5"]);
    std::fs::write(&gate, "").unwrap();
    assert_eq!(
        srv.api
            .wait_status(
                j3,
                v3,
                &[JobStatus::COMPLETED, JobStatus::FAILED],
                Duration::from_secs(30)
            )
            .await,
        JobStatus::COMPLETED
    );
    let l3 = srv.api.log(j3, v3, "g3.0").await;
    assert!(l3.starts_with("GPUS=3") || l3.starts_with("GPUS=5"), "{l3}");
    // A job asking for more GPUs than exist is refused outright.
    let r = srv
        .api
        .post(
            "/training-jobs",
            json!({"job_name": "greedy", "config": {"worker_server_num": 3, "app_url": "/gpu/", "boot_file_url": "/gpu/boot.py",
                   "data_url": "/d/", "spec_id": 4}}),
        )
        .await;
    r.assert_error(400, "ModelArts.0104");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_internal_error_answers_0010_without_details() {
    let srv = TestServer::start().await;
    srv.write_app("app", &[("boot.py", "print(1)\n")]);
    let (job, ver) = srv.api.create_job("broken", "app", json!({})).await;
    srv.api
        .wait_status(job, ver, &[JobStatus::COMPLETED], Duration::from_secs(30))
        .await;
    // Corrupt the stored row behind the server's back.
    let db = srv.dir.path().join("data/trainyard.db");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    sqlx::query("UPDATE versions SET config = 'not json' WHERE id = ?")
        .bind(ver)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    // An SQLite file is the server's alone: its kept answers (details, list pages) are read
    // again after its own next commit, not after a write from outside. Commit one, so the
    // corrupt row is read.
    srv.api.create_job("after", "app", json!({})).await;
    let r = srv
        .api
        .get(&format!("/training-jobs/{job}/versions/{ver}"))
        .await;
    r.assert_error(500, "ModelArts.0010");
    assert_eq!(r.body["error_message"], json!("Internal error."));
    // Other jobs still answer.
    srv.api.get("/training-jobs").await.assert_ok();
}
