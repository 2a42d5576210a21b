//! Jobs really run: workers, environment, exit codes, stop, queueing, time limits, delete.

use crate::harness::*;
use serde_json::json;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_job_can_be_stopped_before_it_starts() {
    let srv =
        TestServer::start_with("[executor]\ncores = 1\nmemory_gb = 4\nstop_grace_seconds = 1\n")
            .await;
    srv.write_app("sleepy", &[("boot.py", "import time\ntime.sleep(120)\n")]);
    let (j1, v1) = srv.api.create_job("holder", "sleepy", json!({})).await;
    srv.api
        .wait_status(j1, v1, &[JobStatus::RUNNING], Duration::from_secs(30))
        .await;
    let (j2, v2) = srv.api.create_job("queued", "sleepy", json!({})).await;
    srv.api
        .wait_status(j2, v2, &[JobStatus::WAITING], Duration::from_secs(10))
        .await;
    srv.api
        .post(
            &format!("/training-jobs/{j2}/versions/{v2}/stop"),
            json!({}),
        )
        .await
        .assert_ok();
    srv.api
        .wait_status(j2, v2, &[JobStatus::KILLED], Duration::from_secs(10))
        .await;
    srv.api
        .post(
            &format!("/training-jobs/{j1}/versions/{v1}/stop"),
            json!({}),
        )
        .await
        .assert_ok();
    srv.api
        .wait_status(j1, v1, &[JobStatus::KILLED], Duration::from_secs(10))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_runtime_stops_and_fails_the_version() {
    let srv = TestServer::start().await;
    srv.write_app(
        "forever",
        &[(
            "boot.py",
            "import time\nprint('working', flush=True)\ntime.sleep(300)\n",
        )],
    );
    let (job, ver) = srv
        .api
        .create_job("limited", "forever", json!({"max_runtime_seconds": 1}))
        .await;
    assert_eq!(
        srv.api
            .wait_status(
                job,
                ver,
                &[JobStatus::COMPLETED, JobStatus::FAILED, JobStatus::KILLED],
                Duration::from_secs(20)
            )
            .await,
        JobStatus::FAILED
    );
    let log = srv.api.log(job, ver, "limited.0").await;
    assert!(log.contains("max_runtime_seconds=1"), "{log}");
    // The event log: the time limit passed, then the end with its reason.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let r = srv
            .api
            .get(&format!("/training-jobs/{job}/versions/{ver}/events"))
            .await;
        let events = r.assert_ok()["events"].as_array().unwrap().clone();
        let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
        if kinds.last() == Some(&"ended") {
            let timed_out = events.iter().find(|e| e["kind"] == "timed_out").unwrap();
            assert_eq!(timed_out["detail"]["limit_s"], json!(1));
            let end = &events.last().unwrap()["detail"];
            assert_eq!(end["status"], json!(11));
            assert_eq!(
                end["reason"],
                "stopped after exceeding max_runtime_seconds=1"
            );
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{kinds:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_stop_and_delete_leave_a_consistent_store() {
    let srv = TestServer::start().await;
    srv.write_app("sleepy", &[("boot.py", "import time\ntime.sleep(300)\n")]);
    let (job, ver) = srv.api.create_job("racer", "sleepy", json!({})).await;
    srv.api
        .wait_status(job, ver, &[JobStatus::RUNNING], Duration::from_secs(30))
        .await;
    let stop_path = format!("/training-jobs/{job}/versions/{ver}/stop");
    let del_path = format!("/training-jobs/{job}/versions/{ver}");
    let (a, b, c) = tokio::join!(
        srv.api.post(&stop_path, json!({})),
        srv.api.delete(&del_path),
        srv.api.post(&stop_path, json!({}))
    );
    for r in [&a, &b, &c] {
        assert!(r.status == 200 || r.status == 400, "{}", r.body);
        if r.status == 400 {
            r.assert_error(400, "ModelArts.0105");
        }
    }
    // Whatever won, the job ends with no version left once cleanup is done, or with a stopped one.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let r = srv.api.get(&del_path).await;
        if r.status == 400 || r.body["status"] == json!(JobStatus::KILLED) {
            break;
        }
        assert!(Instant::now() < deadline, "{}", r.body);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_is_snapshotted_at_create_time() {
    let srv =
        TestServer::start_with("[executor]\ncores = 1\nmemory_gb = 4\nstop_grace_seconds = 1\n")
            .await;
    let flag = srv.dir.path().join("go");
    let gate = format!(
        "import os, time\nwhile not os.path.exists({:?}):\n    time.sleep(0.05)\n",
        flag.display().to_string()
    );
    srv.write_app("gate", &[("boot.py", &gate)]);
    srv.write_app("snap", &[("boot.py", "print('original code')\n")]);
    let (j1, v1) = srv.api.create_job("blocker", "gate", json!({})).await;
    srv.api
        .wait_status(j1, v1, &[JobStatus::RUNNING], Duration::from_secs(30))
        .await;
    let (j2, v2) = srv.api.create_job("snapped", "snap", json!({})).await;
    srv.api
        .wait_status(j2, v2, &[JobStatus::WAITING], Duration::from_secs(10))
        .await;
    // Edit the code while the version is queued.
    srv.write_app("snap", &[("boot.py", "print('edited code')\n")]);
    std::fs::write(&flag, "").unwrap();
    assert_eq!(
        srv.api
            .wait_status(
                j2,
                v2,
                &[JobStatus::COMPLETED, JobStatus::FAILED],
                Duration::from_secs(30)
            )
            .await,
        JobStatus::COMPLETED
    );
    let log = srv.api.log(j2, v2, "snapped.0").await;
    assert!(
        log.contains("original code") && !log.contains("edited code"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_are_copied_to_log_url_and_outputs_land_in_train_url() {
    let srv = TestServer::start().await;
    let boot = "import sys, os\nout = [a.split('=',1)[1] for a in sys.argv if a.startswith('--train_url=')][0]\nopen(os.path.join(out, 'model.txt'), 'w').write('weights')\nprint('trained')\n";
    srv.write_app("writer", &[("boot.py", boot)]);
    let (job, ver) = srv
        .api
        .create_job("writer", "writer", json!({"log_url": "/logs/writer/"}))
        .await;
    assert_eq!(
        srv.api
            .wait_status(
                job,
                ver,
                &[JobStatus::COMPLETED, JobStatus::FAILED],
                Duration::from_secs(30)
            )
            .await,
        JobStatus::COMPLETED
    );
    assert_eq!(
        std::fs::read_to_string(srv.storage().join("out/writer/model.txt")).unwrap(),
        "weights"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    let copied = srv.storage().join("logs/writer/writer.0");
    while !copied.exists() {
        assert!(Instant::now() < deadline, "log not copied to log_url");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(std::fs::read_to_string(copied).unwrap().contains("trained"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builtin_algorithm_trains_from_model_id() {
    let srv = TestServer::start().await;
    let r = srv
        .api
        .post(
            "/training-jobs",
            json!({"job_name": "builtin", "config": {"worker_server_num": 1, "model_id": 1, "spec_id": 1,
                   "data_url": "/data/none/", "train_url": "/out/builtin/", "parameter": [{"label": "epochs", "value": 5}]}}),
        )
        .await;
    let b = r.assert_ok();
    let (job, ver) = (
        b["job_id"].as_i64().unwrap(),
        b["version_id"].as_i64().unwrap(),
    );
    assert_eq!(
        srv.api
            .wait_status(
                job,
                ver,
                &[JobStatus::COMPLETED, JobStatus::FAILED],
                Duration::from_secs(60)
            )
            .await,
        JobStatus::COMPLETED
    );
    let model: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(srv.storage().join("out/builtin/model.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(model["epochs"], json!(5));
    let events = std::fs::read_dir(srv.storage().join("out/builtin"))
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("events.out.tfevents")
        })
        .count();
    assert_eq!(events, 1);
    assert!(srv
        .api
        .log(job, ver, "builtin.0")
        .await
        .contains("epoch 5/5"));
}

/// `create_version: false`: TJ-01 creates the job alone (status 0, no version, nothing runs);
/// its first version comes from TJ-06 and runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_version_false_makes_a_job_without_a_version() {
    let srv = TestServer::start().await;
    srv.write_app("later", &[("boot.py", "print('first version ran')\n")]);
    srv.write_app("data", &[("x", "")]);
    let config = json!({
        "worker_server_num": 1, "app_url": "/later/", "boot_file_url": "/later/boot.py",
        "data_url": "/data/", "train_url": "/out/later/", "spec_id": 1, "engine_id": 1,
    });
    let mut alone = config.clone();
    alone["create_version"] = json!(false);
    let r = srv
        .api
        .post(
            "/training-jobs",
            json!({"job_name": "later", "config": alone}),
        )
        .await;
    let b = r.assert_ok().clone();
    assert_eq!(b["status"], json!(JobStatus::UNKNOWN), "{b}");
    assert!(b["version_id"].is_null(), "{b}");
    let job = b["job_id"].as_i64().unwrap();
    let versions = srv.api.get(&format!("/training-jobs/{job}/versions")).await;
    assert_eq!(
        versions.assert_ok()["version_count"],
        json!(0),
        "{}",
        versions.body
    );
    assert!(!srv
        .dir
        .path()
        .join("data/obs")
        .join(PROJECT)
        .join("out/later")
        .exists());
    let r = srv
        .api
        .post(
            &format!("/training-jobs/{job}/versions"),
            json!({"config": config}),
        )
        .await;
    let ver = r.assert_ok()["version_id"].as_i64().unwrap();
    let (end, log) = srv
        .api
        .run_to_end(job, ver, "later.0", Duration::from_secs(30))
        .await;
    assert_eq!(end, JobStatus::COMPLETED, "{log}");
    assert!(log.contains("first version ran"), "{log}");
}

/// A new version goes to the executor's queue as its create stored it: from the create to
/// the recorded end of a trivial run, no statement reads the version by its id (the queue
/// read it again, one database round trip per job in the actor that grants the slots). The
/// server's statement log (`sqlx::query` at debug) says which statements ran.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_created_version_is_queued_without_reading_it_again() {
    let dir = tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("config.toml");
    write_config(&config, config_text(&data, "")).unwrap();
    let log = dir.path().join("serve.log");
    let srv = ServerProcess::start_env(
        &["--config".as_ref(), config.as_os_str()],
        &log,
        free_port(),
        &[(
            "RUST_LOG",
            "warn,sqlx::query=debug,trainyard_server::service::lifecycle=info".into(),
        )],
    )
    .await;
    write_app(
        &data.join("obs").join(PROJECT),
        "quick",
        &[("boot.py", "print('done')\n")],
    );
    let (_, version) = srv.api.create_job("quick", "quick", json!({})).await;
    // Its end, from the log (a details request would read the version itself).
    let deadline = Instant::now() + Duration::from_secs(30);
    let text = loop {
        let text = std::fs::read_to_string(&log).unwrap();
        if text
            .lines()
            .any(|l| l.contains("job finished") && l.contains(&format!("version.id={version}")))
        {
            break text;
        }
        assert!(Instant::now() < deadline, "the job never finished:\n{text}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // The statement log is on: the run's moves are in it.
    assert!(text.contains("UPDATE versions"), "{text}");
    // `version_by_id` alone: the moves (`BEGIN IMMEDIATE; ...`) and the end's read of the
    // version with its job's name select by id too.
    let reads: Vec<&str> = text
        .lines()
        .filter(|l| {
            l.contains("FROM versions WHERE id = ?")
                && !l.contains("BEGIN")
                && !l.contains("job_name")
        })
        .collect();
    assert!(reads.is_empty(), "the version was read again:\n{reads:#?}");
    kill_runs(&data.join("runs"));
}
