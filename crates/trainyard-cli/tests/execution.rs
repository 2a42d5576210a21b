//! Jobs really run: workers, environment, exit codes, stop, queueing, time limits, delete.

mod common;

use common::*;
use serde_json::json;
use std::time::{Duration, Instant};

const ENV_BOOT: &str = r#"
import os, sys
for k in ["RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "LOCAL_RANK", "DLS_TASK_INDEX", "DLS_TASK_NUMBER", "BATCH_CUSTOM0_HOSTS", "BATCH_CUSTOM1_HOSTS"]:
    print(f"{k}={os.environ.get(k)}")
print("ARGS=" + " ".join(sys.argv[1:]))
print("CWD=" + os.getcwd())
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_see_the_distributed_environment() {
    let srv = TestServer::start().await;
    srv.write_app("envapp", &[("boot.py", ENV_BOOT)]);
    let (job, ver) = srv
        .api
        .create_job(
            "dist",
            "envapp",
            json!({"worker_server_num": "2", "parameter": [{"label": "lr", "value": 0.01}]}),
        )
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

    let names = srv
        .api
        .get(&format!(
            "/training-jobs/{job}/versions/{ver}/log/file-names"
        ))
        .await;
    assert_eq!(
        names.assert_ok()["log_file_list"],
        json!(["dist.0", "dist.1"])
    );
    for rank in 0..2 {
        let log = srv.api.log(job, ver, &format!("dist.{rank}")).await;
        assert!(log.contains(&format!("RANK={rank}\n")), "{log}");
        assert!(log.contains(&format!("LOCAL_RANK={rank}\n")), "{log}");
        assert!(log.contains(&format!("DLS_TASK_INDEX={rank}\n")), "{log}");
        assert!(log.contains("WORLD_SIZE=2\n"), "{log}");
        assert!(log.contains("DLS_TASK_NUMBER=2\n"), "{log}");
        assert!(log.contains("MASTER_ADDR=127.0.0.1\n"), "{log}");
        assert!(!log.contains("BATCH_CUSTOM1_HOSTS=None"), "{log}");
        assert!(log.contains("--lr=0.01"), "{log}");
        assert!(
            log.contains("--data_url=") && log.contains("--train_url="),
            "{log}"
        );
        assert!(log.contains("exited with code 0"), "{log}");
    }
    // Both workers got the same master port.
    let port = |log: &str| {
        log.lines()
            .find(|l| l.starts_with("MASTER_PORT="))
            .map(str::to_owned)
    };
    let l0 = srv.api.log(job, ver, "dist.0").await;
    let l1 = srv.api.log(job, ver, "dist.1").await;
    assert_eq!(port(&l0), port(&l1));
    assert!(port(&l0).is_some_and(|p| p != "MASTER_PORT=None"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_boot_file_fails_the_version_with_its_exit_code() {
    let srv = TestServer::start().await;
    srv.write_app(
        "failapp",
        &[(
            "boot.py",
            "import sys\nprint('about to fail')\nsys.exit(3)\n",
        )],
    );
    let (job, ver) = srv.api.create_job("fails", "failapp", json!({})).await;
    assert_eq!(
        srv.api
            .wait_status(
                job,
                ver,
                &[JobStatus::COMPLETED, JobStatus::FAILED],
                Duration::from_secs(30)
            )
            .await,
        JobStatus::FAILED
    );
    let log = srv.api.log(job, ver, "fails.0").await;
    assert!(log.contains("about to fail"), "{log}");
    assert!(log.contains("exited with code 3"), "{log}");
    // The list shows the latest version's status too.
    let list = srv.api.get("/training-jobs").await;
    assert_eq!(list.assert_ok()["jobs"][0]["status"], json!(11));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_worker_stops_its_siblings() {
    let srv = TestServer::start().await;
    let boot =
        "import os, sys, time\nif os.environ['RANK'] == '1':\n    sys.exit(5)\ntime.sleep(120)\n";
    srv.write_app("sibling", &[("boot.py", boot)]);
    let (job, ver) = srv
        .api
        .create_job("sib", "sibling", json!({"worker_server_num": 2}))
        .await;
    let start = Instant::now();
    assert_eq!(
        srv.api
            .wait_status(
                job,
                ver,
                &[JobStatus::COMPLETED, JobStatus::FAILED, JobStatus::KILLED],
                Duration::from_secs(30)
            )
            .await,
        JobStatus::FAILED
    );
    assert!(start.elapsed() < Duration::from_secs(20));
    assert!(srv
        .api
        .log(job, ver, "sib.1")
        .await
        .contains("exited with code 5"));
}

const TRAP_BOOT: &str = r#"
import os, signal, subprocess, time, pathlib
signal.signal(signal.SIGTERM, lambda *a: print("got SIGTERM, ignoring", flush=True))
child = subprocess.Popen(["sleep", "300"])
pathlib.Path(os.environ["PGID_FILE"]).write_text(str(os.getpgrp()))
print("ready", flush=True)
while True:
    time.sleep(0.1)
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_ends_a_term_trapping_job_and_its_grandchild_within_the_grace() {
    let srv = TestServer::start().await;
    let pgid_file = srv.dir.path().join("pgid");
    let boot = TRAP_BOOT.replace(
        "os.environ[\"PGID_FILE\"]",
        &format!("{:?}", pgid_file.display().to_string()),
    );
    srv.write_app("trap", &[("boot.py", &boot)]);
    let (job, ver) = srv.api.create_job("trapper", "trap", json!({})).await;
    srv.api
        .wait_status(job, ver, &[JobStatus::RUNNING], Duration::from_secs(30))
        .await;
    srv.api.wait_log(job, ver, "trapper.0", "ready").await;
    let pgid: i32 = std::fs::read_to_string(&pgid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        group_alive(pgid).len() >= 2,
        "worker and grandchild sleep are running"
    );

    let grace = 2;
    let started = Instant::now();
    let r = srv
        .api
        .post(
            &format!("/training-jobs/{job}/versions/{ver}/stop"),
            json!({"grace_period_seconds": grace}),
        )
        .await;
    r.assert_ok();
    // The stop is visible at once.
    assert_eq!(srv.api.status(job, ver).await, JobStatus::KILLING);
    srv.api
        .wait_status(
            job,
            ver,
            &[JobStatus::KILLED],
            Duration::from_secs(grace + 5),
        )
        .await;
    let took = started.elapsed();
    assert!(
        took <= Duration::from_secs(grace) + Duration::from_secs(1),
        "stop took {took:?}"
    );
    assert!(
        group_alive(pgid).is_empty(),
        "processes left: {:?}",
        group_alive(pgid)
    );
    let log = srv.api.log(job, ver, "trapper.0").await;
    assert!(log.contains("got SIGTERM"), "{log}");

    // A second stop is refused with the documented message.
    let again = srv
        .api
        .post(
            &format!("/training-jobs/{job}/versions/{ver}/stop"),
            json!({}),
        )
        .await;
    again.assert_error(400, "ModelArts.0105");
    assert_eq!(
        again.body["error_message"],
        json!("This job can't be stop. job status: 12")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_job_waits_for_capacity_and_starts_when_the_first_ends() {
    let srv =
        TestServer::start_with("[executor]\ncores = 1\nmemory_gb = 4\nstop_grace_seconds = 1\n")
            .await;
    let flag = srv.dir.path().join("release");
    let boot = format!(
        "import os, time\nwhile not os.path.exists({:?}):\n    time.sleep(0.05)\nprint('released')\n",
        flag.display().to_string()
    );
    srv.write_app("gate", &[("boot.py", &boot)]);
    srv.write_app("quick", &[("boot.py", "print('second ran')\n")]);
    let (j1, v1) = srv.api.create_job("first", "gate", json!({})).await;
    srv.api
        .wait_status(j1, v1, &[JobStatus::RUNNING], Duration::from_secs(30))
        .await;
    let (j2, v2) = srv.api.create_job("second", "quick", json!({})).await;
    srv.api
        .wait_status(j2, v2, &[JobStatus::WAITING], Duration::from_secs(10))
        .await;

    // RS-01 tells the truth while the only core is taken.
    let specs = srv.api.get("/job/resource-specs").await;
    let spec1 = specs.assert_ok()["specs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["spec_id"] == json!(1))
        .unwrap()
        .clone();
    assert_eq!(spec1["no_resource"], json!(true));

    // Still waiting a while later.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(srv.api.status(j2, v2).await, JobStatus::WAITING);
    std::fs::write(&flag, "go").unwrap();
    assert_eq!(
        srv.api
            .wait_status(
                j1,
                v1,
                &[JobStatus::COMPLETED, JobStatus::FAILED],
                Duration::from_secs(30)
            )
            .await,
        JobStatus::COMPLETED
    );
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
    assert!(srv.api.log(j2, v2, "second.0").await.contains("second ran"));
    let specs = srv.api.get("/job/resource-specs").await;
    let spec1 = specs.assert_ok()["specs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["spec_id"] == json!(1))
        .unwrap()
        .clone();
    assert_eq!(spec1["no_resource"], json!(false));
}

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
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_running_job_stops_it_and_removes_it() {
    let srv = TestServer::start().await;
    let pgid_file = srv.dir.path().join("pgid");
    let boot = format!(
        "import os, time\nopen({:?}, 'w').write(str(os.getpgrp()))\ntime.sleep(300)\n",
        pgid_file.display().to_string()
    );
    srv.write_app("victim", &[("boot.py", &boot)]);
    let (job, ver) = srv.api.create_job("victim", "victim", json!({})).await;
    srv.api
        .wait_status(job, ver, &[JobStatus::RUNNING], Duration::from_secs(30))
        .await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !pgid_file.exists() {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let pgid: i32 = std::fs::read_to_string(&pgid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    srv.api
        .delete(&format!("/training-jobs/{job}"))
        .await
        .assert_ok();
    // Gone from the API at once.
    srv.api
        .get(&format!("/training-jobs/{job}/versions/{ver}"))
        .await
        .assert_error(400, "ModelArts.0105");
    assert_eq!(
        srv.api.get("/training-jobs").await.assert_ok()["job_total_count"],
        json!(0)
    );
    // Its processes and run directory go too.
    let run_dir = srv.dir.path().join(format!("data/runs/{ver}"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !group_alive(pgid).is_empty() || run_dir.exists() {
        assert!(
            Instant::now() < deadline,
            "left behind: {:?} {}",
            group_alive(pgid),
            run_dir.exists()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The name is free again.
    srv.write_app("quick", &[("boot.py", "print(1)\n")]);
    srv.api.create_job("victim", "quick", json!({})).await;
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
        if r.status == 400 || r.body["status"] == json!(12) {
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
