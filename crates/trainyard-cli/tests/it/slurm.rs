//! The Slurm backend against a real single-node Slurm (scripts/slurm-dev-cluster.sh).

use crate::harness::*;
use serde_json::json;
use std::time::{Duration, Instant};

const POOL: &str = "[[pools]]\nid = \"cluster\"\nbackend = \"slurm\"\npartition = \"debug\"\npoll_interval_seconds = 0.2\n\n\
    [[specs]]\nspec_id = 1\nspec_code = \"modelarts.vm.cpu.1u\"\ncore = 1\ncpu = 1\nmax_num = 2\n\n\
    [[specs]]\nspec_id = 2\nspec_code = \"modelarts.vm.cpu.node\"\ncore = 2\ncpu = 1\nmax_num = 1\n\n\
    [[specs]]\nspec_id = 3\nspec_code = \"modelarts.vm.cpu.huge\"\ncore = 64\ncpu = 1\nmax_num = 1\n";

fn slurm_job_id(job_name: &str) -> Option<String> {
    let out = std::process::Command::new("squeue")
        .args(["-h", "-t", "all", "-n", job_name, "-o", "%i"])
        .output()
        .unwrap();
    let id = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (!id.is_empty()).then_some(id)
}

async fn wait_for<F: Fn() -> bool>(what: &str, within: Duration, f: F) {
    let deadline = Instant::now() + within;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_cancelled_outside_trainyard_ends_killed() {
    let _node = slurm_node().await;
    let srv = TestServer::start_with(POOL).await;
    srv.write_app(
        "sleepy",
        &[(
            "boot.py",
            "import time\nprint('ready', flush=True)\ntime.sleep(300)\n",
        )],
    );
    let (job, ver) = srv
        .api
        .create_job("outside", "sleepy", json!({"pool_id": "cluster"}))
        .await;
    srv.api
        .wait_status(job, ver, &[JobStatus::RUNNING], Duration::from_secs(60))
        .await;
    let id = slurm_job_id(&format!("trainyard-outside-{ver}")).expect("slurm job id");
    let out = std::process::Command::new("scancel")
        .arg(&id)
        .output()
        .unwrap();
    assert!(out.status.success());
    srv.api
        .wait_status(job, ver, &[JobStatus::KILLED], Duration::from_secs(30))
        .await;
    wait_for("the cancellation note", Duration::from_secs(5), || true).await;
    let log = srv.api.log(job, ver, "outside.0").await;
    assert!(log.contains("cancelled outside trainyard"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spec_larger_than_the_partition_is_refused_by_slurm() {
    // (Queueing while the partition is full is a scenario of backends.rs.)
    let _node = slurm_node().await;
    let srv = TestServer::start_with(POOL).await;
    srv.write_app("quick", &[("boot.py", "print('never')\n")]);
    // A spec larger than the partition can ever give is refused by Slurm.
    let (j3, v3) = srv
        .api
        .create_job("huge", "quick", json!({"pool_id": "cluster", "spec_id": 3}))
        .await;
    assert_eq!(
        srv.api
            .wait_status(
                j3,
                v3,
                &[
                    JobStatus::SUBMIT_FAILED,
                    JobStatus::WAITING,
                    JobStatus::RUNNING,
                    JobStatus::COMPLETED,
                    JobStatus::FAILED
                ],
                Duration::from_secs(20)
            )
            .await,
        JobStatus::SUBMIT_FAILED
    );
    let names = srv
        .api
        .get(&format!("/training-jobs/{j3}/versions/{v3}/log/file-names"))
        .await;
    assert_eq!(names.assert_ok()["log_file_list"], json!(["huge.0"]));
    assert!(srv
        .api
        .log(j3, v3, "huge.0")
        .await
        .contains("slurm refused the job"));
}

/// A submission whose Slurm job id was not recorded before a crash (status 4, no handle) is
/// found again by its claim or its job name, never submitted a second time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slurm_job_submitted_just_before_a_crash_runs_once() {
    let _node = slurm_node().await;
    let dir = tempdir().unwrap();
    let config = dir.path().join("config.toml");
    write_config(&config, config_text(&dir.path().join("data"), POOL)).unwrap();
    let shared = shared_dir(&dir.path().join("shared"));
    let (gate, starts) = (shared.join("gate"), shared.join("starts"));
    let boot = format!(
        "import os, sys, time\nopen({s:?}, 'a').write('start\\n')\nwhile not os.path.exists({g:?}):\n    time.sleep(0.05)\n",
        s = starts.display().to_string(),
        g = gate.display().to_string()
    );
    write_app(
        &dir.path().join("data/obs").join(PROJECT),
        "once",
        &[("boot.py", &boot)],
    );
    let mut server = ServerProcess::start(&config, free_port()).await;
    let (job, ver) = server
        .api
        .create_job("once", "once", json!({"pool_id": "cluster"}))
        .await;
    server
        .api
        .wait_status(job, ver, &[JobStatus::RUNNING], Duration::from_secs(60))
        .await;
    let count = || {
        std::fs::read_to_string(&starts)
            .unwrap_or_default()
            .lines()
            .count()
    };
    wait_for("the first start", Duration::from_secs(30), || count() == 1).await;
    server.kill9();
    let db = dir.path().join("data/trainyard.db");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    sqlx::query("UPDATE versions SET status = ?, handle = NULL WHERE id = ?")
        .bind(JobStatus::SUBMIT_TRYING.code())
        .bind(ver)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;

    let server = ServerProcess::start(&config, free_port()).await;
    server
        .api
        .wait_status(
            job,
            ver,
            &[JobStatus::WAITING, JobStatus::RUNNING],
            Duration::from_secs(30),
        )
        .await;
    // Time enough for a second submission to be scheduled and start on the idle node.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        count(),
        1,
        "the version was submitted to Slurm a second time"
    );
    std::fs::write(&gate, "").unwrap();
    assert_eq!(
        server
            .api
            .wait_status(
                job,
                ver,
                &[
                    JobStatus::COMPLETED,
                    JobStatus::FAILED,
                    JobStatus::KILLED,
                    JobStatus::LOST
                ],
                Duration::from_secs(60)
            )
            .await,
        JobStatus::COMPLETED
    );
    assert_eq!(count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_pools_are_refused_when_pools_are_configured() {
    let srv = TestServer::start_with(POOL).await;
    srv.write_app("app", &[("boot.py", "print(1)\n")]);
    let r = srv
        .api
        .post(
            "/training-jobs",
            json!({"job_name": "nopool", "config": {"worker_server_num": 1, "app_url": "/app/", "boot_file_url": "/app/boot.py",
                   "data_url": "/d/", "spec_id": 1, "pool_id": "testpool"}}),
        )
        .await;
    r.assert_error(404, "ModelArts.2890");
    assert_eq!(
        r.body["error_message"],
        json!("Pool (testpool) does not exist")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rs01_reports_the_default_slurm_partitions_free_resources() {
    let _node = slurm_node().await;
    let srv = TestServer::start_with(&POOL.replace(
        "poll_interval_seconds = 0.2\n",
        "poll_interval_seconds = 0.2\ndefault = true\n",
    ))
    .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let specs = srv.api.get("/job/resource-specs").await;
        let list = specs.assert_ok()["specs"].as_array().unwrap().clone();
        let free = |id: i64| {
            list.iter().find(|s| s["spec_id"] == json!(id)).unwrap()["no_resource"].clone()
        };
        // The node has 2 cores: once sinfo was read, a 64-core spec never fits, a 1-core one does.
        if free(3) == json!(true) {
            assert_eq!(free(1), json!(false));
            break;
        }
        assert!(
            Instant::now() < deadline,
            "partition never reported free: {list:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Jobs without a pool_id go to the default (slurm) pool.
    srv.write_app(
        "app",
        &[(
            "boot.py",
            "import os\nprint('job', os.environ.get('SLURM_JOB_ID'))\n",
        )],
    );
    let (job, ver) = srv.api.create_job("defaultpool", "app", json!({})).await;
    assert_eq!(
        srv.api
            .wait_status(
                job,
                ver,
                &[
                    JobStatus::SUBMIT_FAILED,
                    JobStatus::COMPLETED,
                    JobStatus::FAILED,
                    JobStatus::KILLED,
                    JobStatus::LOST
                ],
                Duration::from_secs(60)
            )
            .await,
        JobStatus::COMPLETED
    );
    assert!(!srv
        .api
        .log(job, ver, "defaultpool.0")
        .await
        .contains("job None"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn priorities_reach_slurm_as_nice_values() {
    let _node = slurm_node().await;
    let srv = TestServer::start_with(POOL).await;
    srv.write_app("quick", &[("boot.py", "print('done')\n")]);
    let mut seen = Vec::new();
    for (name, priority) in [("nice-low", 1), ("nice-high", 3)] {
        let (job, ver) = srv
            .api
            .create_job(
                name,
                "quick",
                json!({"pool_id": "cluster", "priority": priority}),
            )
            .await;
        let end = srv
            .api
            .wait_status(job, ver, JobStatus::TERMINAL, Duration::from_secs(60))
            .await;
        assert_eq!(end, JobStatus::COMPLETED);
        let out = std::process::Command::new("squeue")
            .args(["-h", "-t", "all", "-n", &format!("trainyard-{name}-{ver}")])
            .args(["-o", "%y"])
            .output()
            .unwrap();
        seen.push(String::from_utf8_lossy(&out.stdout).trim().to_owned());
    }
    assert_eq!(seen, ["200", "0"]);
}
