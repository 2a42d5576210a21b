//! The Slurm backend against a real single-node Slurm (scripts/slurm-dev-cluster.sh).

mod common;

use common::*;
use serde_json::json;
use std::time::{Duration, Instant};

const POOL: &str = "[[pools]]\nid = \"cluster\"\nbackend = \"slurm\"\npartition = \"debug\"\npoll_interval_seconds = 0.2\n\n\
    [[specs]]\nspec_id = 1\nspec_code = \"modelarts.vm.cpu.1u\"\ncore = 1\ncpu = 1\nmax_num = 2\n\n\
    [[specs]]\nspec_id = 2\nspec_code = \"modelarts.vm.cpu.node\"\ncore = 2\ncpu = 1\nmax_num = 1\n\n\
    [[specs]]\nspec_id = 3\nspec_code = \"modelarts.vm.cpu.huge\"\ncore = 64\ncpu = 1\nmax_num = 1\n";

/// Slurm tests share one node: they run one at a time, after the cluster is up.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn cluster() -> tokio::sync::MutexGuard<'static, ()> {
    let guard = SERIAL.lock().await;
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scripts/slurm-dev-cluster.sh"
    );
    let out = tokio::process::Command::new("bash")
        .arg(script)
        .arg("start")
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "dev cluster: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    guard
}

fn squeue_state(job_name: &str) -> String {
    let out = std::process::Command::new("squeue")
        .args(["-h", "-n", job_name, "-o", "%T"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

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
async fn slurm_job_runs_and_its_output_and_logs_come_back() {
    let _c = cluster().await;
    let srv = TestServer::start_with(POOL).await;
    let boot = "import sys, os\nout = [a.split('=',1)[1] for a in sys.argv if a.startswith('--train_url=')][0]\n\
        open(os.path.join(out, 'model.txt'), 'w').write('trained on ' + os.environ.get('SLURMD_NODENAME', '?'))\n\
        print('hello from slurm job', os.environ.get('SLURM_JOB_ID'))\n";
    srv.write_app("app", &[("boot.py", boot)]);
    let (job, ver) = srv
        .api
        .create_job("onslurm", "app", json!({"pool_id": "cluster"}))
        .await;
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
    let model = std::fs::read_to_string(srv.storage().join("out/onslurm/model.txt")).unwrap();
    assert!(model.starts_with("trained on "), "{model}");
    let names = srv
        .api
        .get(&format!(
            "/training-jobs/{job}/versions/{ver}/log/file-names"
        ))
        .await;
    assert_eq!(names.assert_ok()["log_file_list"], json!(["onslurm.0"]));
    let log = srv.api.log(job, ver, "onslurm.0").await;
    assert!(
        log.contains("hello from slurm job") && !log.contains("job None"),
        "{log}"
    );
    // Version details say where it ran.
    let v = srv
        .api
        .get(&format!("/training-jobs/{job}/versions/{ver}"))
        .await;
    assert_eq!(v.assert_ok()["pool_id"], json!("cluster"));
    assert!(v.body["duration"].as_i64().unwrap() >= 0);
}

const RENDEZVOUS: &str = r#"
import os, socket, time
rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
addr, port = os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"])
print(f"RANK={rank} WORLD_SIZE={world} MASTER_ADDR={addr}", flush=True)
if rank == 0:
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port)); s.listen(1); s.settimeout(60)
    conn, _ = s.accept(); print("master got:", conn.recv(100).decode(), flush=True)
else:
    deadline = time.time() + 60
    while True:
        try:
            c = socket.create_connection((addr, port), timeout=5); break
        except OSError:
            if time.time() > deadline: raise
            time.sleep(0.1)
    c.sendall(f"hello from rank {rank}".encode()); print("sent to master", flush=True)
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_slurm_workers_meet_at_master_addr() {
    let _c = cluster().await;
    let srv = TestServer::start_with(POOL).await;
    srv.write_app("rdv", &[("boot.py", RENDEZVOUS)]);
    let (job, ver) = srv
        .api
        .create_job(
            "rdv",
            "rdv",
            json!({"pool_id": "cluster", "worker_server_num": 2}),
        )
        .await;
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
                Duration::from_secs(90)
            )
            .await,
        JobStatus::COMPLETED
    );
    let l0 = srv.api.log(job, ver, "rdv.0").await;
    let l1 = srv.api.log(job, ver, "rdv.1").await;
    assert!(l0.contains("RANK=0 WORLD_SIZE=2"), "{l0}");
    assert!(l1.contains("RANK=1 WORLD_SIZE=2"), "{l1}");
    assert!(l0.contains("master got: hello from rank 1"), "{l0}");
    assert!(
        !l0.contains("MASTER_ADDR=127.0.0.1"),
        "MASTER_ADDR comes from the allocation: {l0}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_a_slurm_job_cancels_it() {
    let _c = cluster().await;
    let srv = TestServer::start_with(POOL).await;
    let trap = "import signal, time\nsignal.signal(signal.SIGTERM, lambda *a: print('got SIGTERM', flush=True))\nprint('ready', flush=True)\nwhile True:\n    time.sleep(0.1)\n";
    srv.write_app("trap", &[("boot.py", trap)]);
    let (job, ver) = srv
        .api
        .create_job("slurmstop", "trap", json!({"pool_id": "cluster"}))
        .await;
    srv.api
        .wait_status(job, ver, &[JobStatus::RUNNING], Duration::from_secs(60))
        .await;
    srv.api.wait_log(job, ver, "slurmstop.0", "ready").await;
    let name = format!("trainyard-slurmstop-{ver}");
    assert_eq!(squeue_state(&name), "RUNNING");
    let grace = 2;
    let started = Instant::now();
    srv.api
        .post(
            &format!("/training-jobs/{job}/versions/{ver}/stop"),
            json!({"grace_period_seconds": grace}),
        )
        .await
        .assert_ok();
    assert_eq!(srv.api.status(job, ver).await, JobStatus::KILLING);
    srv.api
        .wait_status(
            job,
            ver,
            &[JobStatus::KILLED],
            Duration::from_secs(grace + 15),
        )
        .await;
    assert!(
        started.elapsed() <= Duration::from_secs(grace + 10),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(squeue_state(&name), "", "squeue still lists the job");
    assert!(srv
        .api
        .log(job, ver, "slurmstop.0")
        .await
        .contains("got SIGTERM"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_cancelled_outside_trainyard_ends_killed() {
    let _c = cluster().await;
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
async fn jobs_wait_for_the_partition_and_oversized_ones_are_refused() {
    let _c = cluster().await;
    let srv = TestServer::start_with(POOL).await;
    let gate = srv.dir.path().join("gate");
    let boot = format!(
        "import os, time\nwhile not os.path.exists({:?}):\n    time.sleep(0.05)\n",
        gate.display().to_string()
    );
    srv.write_app("gated", &[("boot.py", &boot)]);
    srv.write_app("quick", &[("boot.py", "print('second ran')\n")]);
    // Spec 2 takes both cores of the node.
    let (j1, v1) = srv
        .api
        .create_job(
            "whole1",
            "gated",
            json!({"pool_id": "cluster", "spec_id": 2}),
        )
        .await;
    srv.api
        .wait_status(j1, v1, &[JobStatus::RUNNING], Duration::from_secs(60))
        .await;
    let (j2, v2) = srv
        .api
        .create_job(
            "whole2",
            "quick",
            json!({"pool_id": "cluster", "spec_id": 2}),
        )
        .await;
    srv.api
        .wait_status(j2, v2, &[JobStatus::WAITING], Duration::from_secs(20))
        .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        srv.api.status(j2, v2).await,
        JobStatus::WAITING,
        "still pending while the node is full"
    );
    assert_eq!(squeue_state(&format!("trainyard-whole2-{v2}")), "PENDING");
    // RS-01 is not affected (the default pool is local here), but the partition is full.
    std::fs::write(&gate, "").unwrap();
    assert_eq!(
        srv.api
            .wait_status(
                j1,
                v1,
                &[JobStatus::COMPLETED, JobStatus::FAILED],
                Duration::from_secs(60)
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
                Duration::from_secs(60)
            )
            .await,
        JobStatus::COMPLETED
    );
    assert!(srv.api.log(j2, v2, "whole2.0").await.contains("second ran"));
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slurm_jobs_survive_a_server_restart() {
    let _c = cluster().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, config_text(&dir.path().join("data"), POOL)).unwrap();
    let gate = dir.path().join("gate");
    let boot = format!(
        "import os, sys, time\nwhile not os.path.exists({:?}):\n    time.sleep(0.05)\nprint('done after restart')\nsys.exit(0)\n",
        gate.display().to_string()
    );
    write_app(
        &dir.path().join("data/obs").join(PROJECT),
        "gated",
        &[("boot.py", &boot)],
    );
    let port = free_port();
    let mut server = ServerProcess::start(&config, port).await;
    let (job, ver) = server
        .api
        .create_job("restarted", "gated", json!({"pool_id": "cluster"}))
        .await;
    server
        .api
        .wait_status(job, ver, &[JobStatus::RUNNING], Duration::from_secs(60))
        .await;
    server.kill9();
    let server = ServerProcess::start(&config, port).await;
    assert_eq!(server.api.status(job, ver).await, JobStatus::RUNNING);
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
    assert!(server
        .api
        .log(job, ver, "restarted.0")
        .await
        .contains("done after restart"));
}

/// A submission whose Slurm job id was not recorded before a crash (status 4, no handle) is
/// found again by its claim or its job name, never submitted a second time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slurm_job_submitted_just_before_a_crash_runs_once() {
    let _c = cluster().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, config_text(&dir.path().join("data"), POOL)).unwrap();
    let (gate, starts) = (dir.path().join("gate"), dir.path().join("starts"));
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
    sqlx::query("UPDATE versions SET status = 4, handle = NULL WHERE id = ?")
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
    let _c = cluster().await;
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
async fn a_failing_slurm_worker_fails_the_job_and_stops_its_sibling() {
    let _c = cluster().await;
    let srv = TestServer::start_with(POOL).await;
    let boot = "import os, sys, time\nif os.environ['RANK'] == '1':\n    print('failing', flush=True)\n    sys.exit(3)\ntime.sleep(300)\n";
    srv.write_app("fail", &[("boot.py", boot)]);
    let started = Instant::now();
    let (job, ver) = srv
        .api
        .create_job(
            "slurmfail",
            "fail",
            json!({"pool_id": "cluster", "worker_server_num": 2}),
        )
        .await;
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
                Duration::from_secs(90)
            )
            .await,
        JobStatus::FAILED
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "the sibling was not stopped"
    );
    let l1 = srv.api.log(job, ver, "slurmfail.1").await;
    assert!(l1.contains("exited with code 3"), "{l1}");
    let l0 = srv.api.log(job, ver, "slurmfail.0").await;
    assert!(
        l0.contains("ended: FAILED") || l0.contains("exited with code 3"),
        "{l0}"
    );
    assert_eq!(squeue_state(&format!("trainyard-slurmfail-{ver}")), "");
}
