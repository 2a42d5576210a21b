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

/// A gate file in a folder below `shared` where a job of any user may remove it (the shared
/// folder's sticky bit lets only a file's owner remove it).
fn gate_in(shared: &std::path::Path) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let dir = shared_dir(shared).join("gates");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    dir.join("gate")
}

/// A boot file that holds on until `gate` exists, then takes it (removes it) and ends: each
/// gate opened lets exactly one waiting run end.
fn takes_the_gate(gate: &std::path::Path) -> String {
    format!(
        "import os, time\nwhile True:\n    try:\n        os.remove({:?})\n        break\n    except FileNotFoundError:\n        time.sleep(0.05)\nprint('through the gate', flush=True)\n",
        gate.display().to_string()
    )
}

/// The names of the jobs pending or running in Slurm's queue that start with `prefix`, as
/// `squeue` lists them.
fn in_squeue(prefix: &str) -> Vec<String> {
    let out = std::process::Command::new("squeue")
        .args(["-h", "-t", "PENDING,RUNNING", "-o", "%j"])
        .output()
        .unwrap();
    assert!(out.status.success(), "squeue: {out:?}");
    let mut names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|n| n.starts_with(prefix))
        .map(str::to_owned)
        .collect();
    names.sort();
    names
}

/// A version's details.
async fn details(api: &Api, (job, ver): (i64, i64)) -> serde_json::Value {
    let r = api
        .get(&format!("/training-jobs/{job}/versions/{ver}"))
        .await;
    r.assert_ok().clone()
}

/// A waiting version's `queue_reason`, once the executor has queued it.
async fn reason_of(api: &Api, ids: (i64, i64)) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let v = details(api, ids).await;
        if !v["queue_reason"].is_null() {
            return v["queue_reason"].clone();
        }
        assert!(Instant::now() < deadline, "no queue_reason: {v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until exactly one of `runs` (name, ids) runs and returns its index.
async fn the_one_running(api: &Api, runs: &[(String, (i64, i64))]) -> usize {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut running = Vec::new();
        for (i, (_, (job, ver))) in runs.iter().enumerate() {
            if api.status(*job, *ver).await == JobStatus::RUNNING {
                running.push(i);
            }
        }
        assert!(running.len() <= 1, "several run at once: {running:?}");
        if let [i] = running[..] {
            return i;
        }
        assert!(Instant::now() < deadline, "none of {runs:?} runs");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Creates a run of the `gated` app on pool `cluster` at `priority`: its name and ids.
async fn create_gated(api: &Api, name: &str, priority: i64) -> (String, (i64, i64)) {
    let ids = api
        .create_job(
            name,
            "gated",
            json!({"pool_id": "cluster", "priority": priority}),
        )
        .await;
    (name.to_owned(), ids)
}

/// Lets `runs` run one at a time, in the order they are submitted: each, once running, must
/// be the only one of them in Slurm's queue (job names `trainyard-<prefix>...`); its gate
/// opens and it completes. Returns them in the order they ran.
async fn one_at_a_time(
    api: &Api,
    mut runs: Vec<(String, (i64, i64))>,
    prefix: &str,
    gate: &std::path::Path,
) -> Vec<(String, (i64, i64))> {
    let mut order = Vec::new();
    while !runs.is_empty() {
        let i = the_one_running(api, &runs).await;
        let (name, ids) = runs.remove(i);
        assert_eq!(
            in_squeue(&format!("trainyard-{prefix}")),
            [format!("trainyard-{name}-{}", ids.1)]
        );
        std::fs::write(gate, "").unwrap();
        let end = api
            .wait_status(ids.0, ids.1, JobStatus::TERMINAL, Duration::from_secs(60))
            .await;
        assert_eq!(end, JobStatus::COMPLETED, "{name}");
        order.push((name, ids));
    }
    order
}

/// Project a's quota of 1 core holds its Slurm-pool runs back in trainyard's queue: one is
/// in Slurm's queue at a time, the others say why they wait and are not submitted, while
/// project b's run is submitted and completes meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_runs_wait_for_their_projects_quota_before_submission() {
    let _node = slurm_node().await;
    let srv = TestServer::start_with_project("quota = { cores = 1 }", POOL).await;
    let gate = gate_in(&srv.dir.path().join("shared"));
    srv.write_app("gated", &[("boot.py", &takes_the_gate(&gate))]);
    write_app(
        &srv.dir.path().join("data/obs").join(OTHER_PROJECT),
        "quick",
        &[("boot.py", "print('done')\n")],
    );
    let mut runs = Vec::new();
    for name in ["quota-1", "quota-2", "quota-3"] {
        let ids = srv
            .api
            .create_job(name, "gated", json!({"pool_id": "cluster"}))
            .await;
        runs.push((name.to_owned(), ids));
    }
    for round in 0..3 {
        let i = the_one_running(&srv.api, &runs).await;
        let (name, ids) = runs.remove(i);
        // Only the running one is in Slurm's queue; the others wait in trainyard's, with
        // the quota as their reason.
        assert_eq!(
            in_squeue("trainyard-quota-"),
            [format!("trainyard-{name}-{}", ids.1)]
        );
        for (_, waiting) in &runs {
            let reason = reason_of(&srv.api, *waiting).await;
            assert_eq!(reason, json!("project at its core quota"));
            let v = details(&srv.api, *waiting).await;
            assert_eq!(v["status"], json!(JobStatus::WAITING.code()), "{v}");
        }
        if round == 0 {
            // Project b has no quota: its run is submitted and completes meanwhile.
            let other = srv
                .other
                .create_job("quota-b", "quick", json!({"pool_id": "cluster"}))
                .await;
            let end = srv
                .other
                .wait_status(
                    other.0,
                    other.1,
                    JobStatus::TERMINAL,
                    Duration::from_secs(60),
                )
                .await;
            assert_eq!(end, JobStatus::COMPLETED);
            for (_, waiting) in &runs {
                let reason = reason_of(&srv.api, *waiting).await;
                assert_eq!(reason, json!("project at its core quota"));
            }
            assert_eq!(
                in_squeue("trainyard-quota-"),
                [format!("trainyard-{name}-{}", ids.1)]
            );
        }
        std::fs::write(&gate, "").unwrap();
        let end = srv
            .api
            .wait_status(ids.0, ids.1, JobStatus::TERMINAL, Duration::from_secs(60))
            .await;
        assert_eq!(end, JobStatus::COMPLETED, "{name}");
    }
    assert!(in_squeue("trainyard-quota-").is_empty());
}

/// The batch script trainyard handed `sbatch` for version `ver` (below the data folder).
fn batch_script_of(data: &std::path::Path, job_name: &str) -> String {
    let line = format!("#SBATCH --job-name={job_name}\n");
    let mut dirs = vec![data.join("runs")];
    while let Some(dir) = dirs.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = e.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.file_name().is_some_and(|n| n == "slurm.sbatch") {
                let text = std::fs::read_to_string(&path).unwrap();
                if text.contains(&line) {
                    return text;
                }
            }
        }
    }
    panic!("no batch script of {job_name}");
}

/// With `max_submitted = 1`, trainyard decides the order of submission: a priority-3 run
/// queued behind three priority-1 runs is the next one handed to Slurm; waiting runs say
/// why (the pool's limit, or the runs ahead) and are not in Slurm's queue; the pool's `qos`
/// by priority reaches the batch scripts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_priority_3_run_behind_priority_1_runs_is_submitted_next_under_a_pool_cap() {
    let _node = slurm_node().await;
    let srv = TestServer::start_with(&POOL.replace(
        "poll_interval_seconds = 0.2\n",
        "poll_interval_seconds = 0.2\nmax_submitted = 1\nqos = { 1 = \"low\", 3 = \"high\" }\n",
    ))
    .await;
    let gate = gate_in(&srv.dir.path().join("shared"));
    srv.write_app("gated", &[("boot.py", &takes_the_gate(&gate))]);
    let create = |name, priority| create_gated(&srv.api, name, priority);
    let first = create("cap-first", 1).await;
    srv.api
        .wait_status(
            first.1 .0,
            first.1 .1,
            &[JobStatus::RUNNING],
            Duration::from_secs(60),
        )
        .await;
    let mut runs = vec![first];
    for name in ["cap-low-1", "cap-low-2", "cap-low-3"] {
        runs.push(create(name, 1).await);
    }
    runs.push(create("cap-high", 3).await);
    // The priority-3 run is next, held by the pool's limit; the others are behind it.
    assert_eq!(
        reason_of(&srv.api, runs[4].1).await,
        json!("pool cluster has 1 run submitted, its limit")
    );
    let high = details(&srv.api, runs[4].1).await;
    assert_eq!(high["queue_position"], json!(0), "{high}");
    for (i, run) in runs[1..4].iter().enumerate() {
        let v = details(&srv.api, run.1).await;
        let ahead = match i + 1 {
            1 => "1 run ahead".to_owned(),
            n => format!("{n} runs ahead"),
        };
        assert_eq!(v["queue_reason"], json!(ahead), "{v}");
    }
    assert_eq!(
        in_squeue("trainyard-cap-"),
        [format!("trainyard-cap-first-{}", runs[0].1 .1)]
    );
    let order = one_at_a_time(&srv.api, runs, "cap-", &gate).await;
    let names: Vec<&str> = order.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "cap-first",
            "cap-high",
            "cap-low-1",
            "cap-low-2",
            "cap-low-3"
        ]
    );
    let data = srv.dir.path().join("data");
    for (name, (_, ver)) in &order {
        let script = batch_script_of(&data, &format!("trainyard-{name}-{ver}"));
        let qos = if name == "cap-high" { "high" } else { "low" };
        assert!(
            script.contains(&format!("#SBATCH --qos={qos}\n")),
            "{script}"
        );
    }
}

/// Submits a job outside trainyard that takes both cores of the node, once it runs: trainyard's
/// Slurm jobs stay pending behind it until it is cancelled.
async fn fill_the_node() -> String {
    let out = std::process::Command::new("sbatch")
        .args(["--parsable", "-p", "debug", "-c", "2", "-J", "node-filler"])
        .args(["-o", "/dev/null"])
        .args(["--wrap", "sleep 600"])
        .output()
        .unwrap();
    assert!(out.status.success(), "sbatch: {out:?}");
    let id = String::from_utf8_lossy(&out.stdout)
        .trim()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    wait_for("the filler to run", Duration::from_secs(30), || {
        let out = std::process::Command::new("squeue")
            .args(["-h", "-j", &id, "-o", "%T"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim() == "RUNNING"
    })
    .await;
    id
}

/// The Slurm job ids of the jobs named `name` pending or running.
fn job_ids(name: &str) -> Vec<String> {
    let out = std::process::Command::new("squeue")
        .args(["-h", "-t", "PENDING,RUNNING", "-n", name, "-o", "%i"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().to_owned())
        .collect()
}

/// A server killed (SIGKILL) while one run is submitted to a pool capped at one run (pending in
/// Slurm behind a job that fills the node) and two wait in trainyard's queue (one of priority
/// 3): after the restart the submitted one is followed as the same Slurm job and still counts
/// against the cap, the waiting ones wait again with their reasons and are not in Slurm's
/// queue, and then each is submitted once, by priority; every run starts exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_kill_9_pool_runs_wait_again_and_none_is_submitted_twice() {
    let _node = slurm_node().await;
    let dir = tempdir().unwrap();
    let config = dir.path().join("config.toml");
    let pool = POOL.replace(
        "poll_interval_seconds = 0.2\n",
        "poll_interval_seconds = 0.2\nmax_submitted = 1\n",
    );
    write_config(&config, config_text(&dir.path().join("data"), &pool)).unwrap();
    let shared = shared_dir(&dir.path().join("shared"));
    let (gate, starts) = (gate_in(&shared), shared.join("starts"));
    let boot = format!(
        "import os\nopen({:?}, 'a').write(os.environ['SLURM_JOB_ID'] + '\\n')\n{}",
        starts.display().to_string(),
        takes_the_gate(&gate)
    );
    write_app(
        &dir.path().join("data/obs").join(PROJECT),
        "gated",
        &[("boot.py", &boot)],
    );
    let filler = fill_the_node().await;
    let mut server = ServerProcess::start(&config, free_port()).await;
    let mut runs = Vec::new();
    let create = |name, priority| create_gated(&server.api, name, priority);
    runs.push(create("kill-1", 1).await);
    let first = format!("trainyard-kill-1-{}", runs[0].1 .1);
    wait_for("the first submission", Duration::from_secs(30), || {
        job_ids(&first).len() == 1
    })
    .await;
    let submitted = job_ids(&first);
    // Queued behind the submitted run, it is the next one after it, also after the restart.
    runs.push(create("kill-3", 3).await);
    runs.push(create("kill-2", 1).await);
    let reasons = [
        json!("pool cluster has 1 run submitted, its limit"),
        json!("1 run ahead"),
    ];
    for (run, reason) in runs[1..].iter().zip(&reasons) {
        assert_eq!(&reason_of(&server.api, run.1).await, reason);
    }
    server.kill9();

    let server = ServerProcess::start(&config, free_port()).await;
    for (run, reason) in runs[1..].iter().zip(&reasons) {
        assert_eq!(&reason_of(&server.api, run.1).await, reason);
    }
    // Followed, not submitted again: the same one Slurm job, still pending.
    assert_eq!(job_ids(&first), submitted);
    assert_eq!(in_squeue("trainyard-kill-"), std::slice::from_ref(&first));
    let out = std::process::Command::new("scancel")
        .arg(&filler)
        .output()
        .unwrap();
    assert!(out.status.success());
    let order: Vec<String> = one_at_a_time(&server.api, runs, "kill-", &gate)
        .await
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    assert_eq!(order, ["kill-1", "kill-3", "kill-2"]);
    let started: Vec<String> = std::fs::read_to_string(&starts)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(started.len(), 3, "{started:?}");
    assert_eq!(started[0], submitted[0]);
}
