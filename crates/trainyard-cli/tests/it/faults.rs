//! Fault injection: kill -9 of the server during creation bursts and stop/delete traffic, a
//! killed shim, a full disk, hostile inputs at their types' limits; and one regression test
//! per defect that an adversarial run found (issue "exactly-once runs").
//!
//! The kill rounds are seeded: `TRAINYARD_FAULT_SEED=N` replays a run; the seed in use is
//! printed. `TRAINYARD_FAULT_ROUNDS=K` multiplies the rounds (the soak, `bench/soak.sh`).
//!
//! Invariants checked after the rounds: every acknowledged job exists, every version ran at
//! most once (each job appends a line to a marker file of its version), no process of a
//! terminal version is alive, no 5xx except the documented out-of-space answer, the database
//! passes `PRAGMA integrity_check`, the server answers.

use crate::harness::*;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A data dir, a config with a `sh` engine and no quota or rate in the way, and a marker
/// folder the jobs write to (outside the server's data).
struct Setup {
    dir: tempfile::TempDir,
    config: PathBuf,
    markers: PathBuf,
    data: PathBuf,
}

const SH_ENGINE: i64 = 7;

/// `top` is put first in the config (top-level keys); `data` replaces the data dir.
fn setup_in(data: Option<&Path>, top: &str) -> Setup {
    let dir = tempdir().unwrap();
    let markers = shared_dir(&dir.path().join("markers"));
    let config = dir.path().join("config.toml");
    let engines = format!(
        "[[engines]]\nid = {SH_ENGINE}\nname = \"sh\"\nversion = \"sh\"\ncommand = [\"sh\"]\n\n\
         [[engines]]\nid = 1000\nname = \"Python\"\nversion = \"python3\"\ncommand = [\"python3\"]\n"
    );
    let data = data
        .map(Path::to_owned)
        .unwrap_or_else(|| dir.path().join("data"));
    let mut text = format!("{top}\n{}", config_text(&data, &engines));
    // No quota or rate limit in the way of the bursts.
    text = text.replace(
        &format!("tokens = [\"{TOKEN}\"]\n"),
        &format!("tokens = [\"{TOKEN}\"]\nquotas = 100000\njob_count_limit = 100000\n"),
    );
    write_config(&config, text).unwrap();
    let s = Setup {
        dir,
        config,
        markers,
        data,
    };
    // Every job runs `app/run.sh`: one line per start (`start <attempt>`) into
    // markers/<version id>, then it waits for its gate file (if `GATE` is named in its
    // parameters) or sleeps a little; `exit-first` is its exit code on attempt 1 only.
    let script = format!(
        "echo start $TRAINYARD_ATTEMPT >> {m}/$TRAINYARD_VERSION_ID\n\
         for a in \"$@\"; do case $a in --hold=*) while [ ! -e {m}/go-${{a#--hold=}} ]; do sleep 0.02; done;; \
         --sleep=*) sleep ${{a#--sleep=}};; --exit=*) exit ${{a#--exit=}};; \
         --exit-first=*) if [ \"$TRAINYARD_ATTEMPT\" = 1 ]; then exit ${{a#--exit-first=}}; fi;; esac; done\n",
        m = s.markers.display()
    );
    write_app(&s.storage(), "app", &[("run.sh", &script)]);
    s
}

fn setup() -> Setup {
    setup_in(None, "")
}

impl Setup {
    fn storage(&self) -> PathBuf {
        self.data.join("obs").join(PROJECT)
    }
    fn runs(&self) -> PathBuf {
        self.data.join("runs")
    }
    fn db(&self) -> PathBuf {
        self.data.join("trainyard.db")
    }
    /// The attempts version `v` started, in order (`1`, `2`, ...).
    fn attempts(&self, v: i64) -> Vec<String> {
        std::fs::read_to_string(self.markers.join(v.to_string()))
            .map(|t| {
                t.lines()
                    .map(|l| l.trim_start_matches("start ").to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
    /// How many times version `v` started.
    fn starts(&self, v: i64) -> usize {
        std::fs::read_to_string(self.markers.join(v.to_string()))
            .map(|t| t.lines().count())
            .unwrap_or(0)
    }
    fn release(&self, gate: &str) {
        std::fs::write(self.markers.join(format!("go-{gate}")), "").unwrap();
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        kill_runs(&self.runs());
    }
}

/// A TJ-01 body running `run.sh` with `params` (`hold`, `sleep`, `exit`).
fn job_body(name: &str, params: &[(&str, &str)]) -> Value {
    let parameter: Vec<Value> = params
        .iter()
        .map(|(k, v)| json!({"label": k, "value": v}))
        .collect();
    json!({"job_name": name, "config": {
        "worker_server_num": 1, "app_url": "/app/", "boot_file_url": "/app/run.sh",
        "data_url": "/data/", "train_url": format!("/out/{name}/"), "spec_id": 1,
        "engine_id": SH_ENGINE, "parameter": parameter}})
}

async fn create(api: &Api, name: &str, params: &[(&str, &str)]) -> (i64, i64) {
    let r = api.post("/training-jobs", job_body(name, params)).await;
    let b = r.assert_ok();
    (
        b["job_id"].as_i64().unwrap(),
        b["version_id"].as_i64().unwrap(),
    )
}

/// Live worker processes recorded in a run directory (start-time checked).
fn live_workers(run_dir: &Path) -> Vec<i32> {
    trainyard_exec::run_dir::read_workers(run_dir)
        .into_iter()
        .filter(|w| {
            trainyard_exec::proc::is_alive(w.pid, w.start_time) || !group_alive(w.pgid).is_empty()
        })
        .map(|w| w.pid)
        .collect()
}

async fn wait_until(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn integrity_ok(db: &Path) {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=ro", db.display()))
        .await
        .unwrap();
    let rows: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(rows, vec!["ok".to_owned()], "PRAGMA integrity_check");
    pool.close().await;
}

fn seed() -> u64 {
    let seed = std::env::var("TRAINYARD_FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    println!("fault injection seed: {seed} (replay with TRAINYARD_FAULT_SEED={seed})");
    seed
}

fn rounds(base: usize) -> usize {
    base * std::env::var("TRAINYARD_FAULT_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1usize)
        .max(1)
}

/// What the traffic saw: acknowledged creations, and any 5xx (never allowed but 507).
#[derive(Default)]
struct Seen {
    acked: Vec<(i64, i64)>,
    /// Acknowledged versions with a retry policy, whose first attempt fails.
    retried: Vec<i64>,
    server_errors: Vec<String>,
}

fn note_5xx(seen: &Mutex<Seen>, status: u16, body: &str) {
    if status >= 500 && status != 507 {
        seen.lock()
            .unwrap()
            .server_errors
            .push(format!("{status}: {body}"));
    }
}

/// Sends creations from `tasks` concurrent clients until the server stops answering.
async fn creation_burst(api: Api, round: usize, tasks: usize, seen: Arc<Mutex<Seen>>) {
    let mut handles = Vec::new();
    for t in 0..tasks {
        let (api, seen) = (api.clone(), seen.clone());
        handles.push(tokio::spawn(async move {
            for i in 0.. {
                // Every third job fails its first attempt and is retried after a pause, so
                // kills also land between attempts.
                let retried = i % 3 == 0;
                let params: &[(&str, &str)] = if retried {
                    &[("sleep", "0.2"), ("exit-first", "3")]
                } else {
                    &[("sleep", "0.2")]
                };
                let mut body = job_body(&format!("burst-{round}-{t}-{i}"), params);
                if retried {
                    body["config"]["retry_policy"] =
                        json!({"max_retries": 1, "on_exit_codes": [3], "backoff_seconds": 1});
                }
                let body = body.to_string();
                let sent = api
                    .http
                    .post(api.url("/training-jobs"))
                    .header("X-Auth-Token", &api.token)
                    .header("Content-Type", "application/json")
                    .body(body)
                    .send()
                    .await;
                let Ok(resp) = sent else { return };
                let status = resp.status().as_u16();
                let Ok(text) = resp.text().await else { return };
                note_5xx(&seen, status, &text);
                if status == 200 {
                    let b: Value = serde_json::from_str(&text).unwrap();
                    let version = b["version_id"].as_i64().unwrap();
                    let mut seen = seen.lock().unwrap();
                    seen.acked.push((b["job_id"].as_i64().unwrap(), version));
                    if retried {
                        seen.retried.push(version);
                    }
                }
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_creation_bursts_loses_nothing_and_runs_everything_once() {
    // Bursts of requests, kills and restarts: CPU-heavy throughout.
    let _heavy = busy().await;
    let s = setup();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed());
    let seen = Arc::new(Mutex::new(Seen::default()));
    let n = rounds(10);
    for round in 0..n {
        let mut server = ServerProcess::start(&s.config, free_port()).await;
        let burst = tokio::spawn(creation_burst(server.api.clone(), round, 3, seen.clone()));
        tokio::time::sleep(Duration::from_millis(rng.gen_range(150..700))).await;
        server.kill9();
        burst.await.unwrap();
    }
    let server = ServerProcess::start(&s.config, free_port()).await;
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    assert!(
        seen.server_errors.is_empty(),
        "5xx answers: {:?}",
        seen.server_errors
    );
    assert!(
        seen.acked.len() >= n,
        "too few creations acknowledged: {}",
        seen.acked.len()
    );
    // Every acknowledged job exists and its version runs to 10, exactly once (each attempt of
    // a retried one exactly once).
    for &(job, version) in &seen.acked {
        let status = server
            .api
            .wait_status(
                job,
                version,
                &[
                    JobStatus::COMPLETED,
                    JobStatus::FAILED,
                    JobStatus::LOST,
                    JobStatus::SUBMIT_FAILED,
                ],
                Duration::from_secs(60),
            )
            .await;
        assert_eq!(
            status,
            JobStatus::COMPLETED,
            "acknowledged version {job}/{version}"
        );
    }
    assert!(!seen.retried.is_empty(), "no retried job was acknowledged");
    for &(_, version) in &seen.acked {
        let want: &[&str] = if seen.retried.contains(&version) {
            &["1", "2"]
        } else {
            &["1"]
        };
        assert_eq!(s.attempts(version), want, "attempts of version {version}");
    }
    // Versions created by a request that was cut off by the kill: each attempt starts at
    // most once, and they end (10, or 5 when the server died before their code was in place).
    let all = every_version(&s.db()).await;
    for &version in all.keys() {
        let attempts = s.attempts(version);
        assert!(
            attempts.len() <= 2 && attempts.iter().zip(["1", "2"]).all(|(a, b)| a == b),
            "version {version} started {attempts:?}"
        );
    }
    wait_terminal(&s.db(), Duration::from_secs(60)).await;
    no_orphans(&s).await;
    integrity_ok(&s.db()).await;
    println!("creation bursts: {n} kills, {} acknowledged jobs ({} retried), {} versions in all, 0 duplicated, 0 lost", seen.acked.len(), seen.retried.len(), all.len());
    assert_eq!(server.api.get("/training-jobs").await.status, 200);
}

/// Every version in the database: id -> status.
async fn every_version(db: &Path) -> HashMap<i64, i64> {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=ro", db.display()))
        .await
        .unwrap();
    let rows: Vec<(i64, i64)> = sqlx::query_as("SELECT id, status FROM versions")
        .fetch_all(&pool)
        .await
        .unwrap();
    pool.close().await;
    rows.into_iter().collect()
}

/// Waits until no version in the database is pending or running.
async fn wait_terminal(db: &Path, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let open: Vec<(i64, i64)> = every_version(db)
            .await
            .into_iter()
            .filter(|(_, s)| !trainyard_api::JobStatus::from_code(*s).is_terminal())
            .collect();
        if open.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "versions never ended: {open:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// No run directory has a live worker once everything is terminal.
async fn no_orphans(s: &Setup) {
    let orphans = || -> Vec<(String, Vec<i32>)> {
        std::fs::read_dir(s.runs())
            .map(|rd| {
                rd.flatten()
                    .map(|e| {
                        (
                            e.file_name().to_string_lossy().into_owned(),
                            live_workers(&e.path()),
                        )
                    })
                    .filter(|(_, pids)| !pids.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = orphans();
        if left.is_empty() {
            return;
        }
        if Instant::now() > deadline {
            let versions = every_version(&s.db()).await;
            let shown: Vec<String> = left
                .iter()
                .map(|(dir, pids)| {
                    format!(
                        "run {dir} (status {:?}): pids {pids:?}",
                        dir.parse().ok().and_then(|v: i64| versions.get(&v))
                    )
                })
                .collect();
            panic!("workers still alive: {shown:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_stop_and_delete_traffic_leaves_no_orphan() {
    // Bursts of requests, kills and restarts: CPU-heavy throughout.
    let _heavy = busy().await;
    let s = setup();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed());
    let errors = Arc::new(Mutex::new(Seen::default()));
    let n = rounds(5);
    for round in 0..n {
        let mut server = ServerProcess::start(&s.config, free_port()).await;
        let mut jobs = Vec::new();
        for i in 0..6 {
            jobs.push(create(&server.api, &format!("sd-{round}-{i}"), &[("sleep", "60")]).await);
        }
        for &(j, v) in &jobs {
            server
                .api
                .wait_status(j, v, &[JobStatus::RUNNING], Duration::from_secs(30))
                .await;
        }
        // Stops, deletes, and both at once on the same job, while the server is killed.
        let mut traffic = Vec::new();
        for (i, &(j, v)) in jobs.iter().enumerate() {
            let requests: Vec<(&str, String)> = match i % 3 {
                0 => vec![("POST", format!("/training-jobs/{j}/versions/{v}/stop"))],
                1 => vec![("DELETE", format!("/training-jobs/{j}"))],
                _ => vec![
                    ("POST", format!("/training-jobs/{j}/versions/{v}/stop")),
                    ("DELETE", format!("/training-jobs/{j}")),
                ],
            };
            for (method, path) in requests {
                let (api, errors) = (server.api.clone(), errors.clone());
                traffic.push(tokio::spawn(async move {
                    let req = api
                        .http
                        .request(method.parse().unwrap(), api.url(&path))
                        .header("X-Auth-Token", &api.token);
                    let req = if method == "POST" {
                        req.header("Content-Type", "application/json").body("{}")
                    } else {
                        req
                    };
                    if let Ok(resp) = req.send().await {
                        let status = resp.status().as_u16();
                        let text = resp.text().await.unwrap_or_default();
                        note_5xx(&errors, status, &text);
                    }
                }));
            }
        }
        tokio::time::sleep(Duration::from_millis(rng.gen_range(0..120))).await;
        server.kill9();
        for t in traffic {
            t.await.unwrap();
        }
        // After the restart every job of the round is stopped or deleted, for good.
        let server = ServerProcess::start(&s.config, free_port()).await;
        for &(j, v) in &jobs {
            let r = server
                .api
                .get(&format!("/training-jobs/{j}/versions/{v}"))
                .await;
            if r.status == 200 {
                let stop = server
                    .api
                    .post(&format!("/training-jobs/{j}/versions/{v}/stop"), json!({}))
                    .await;
                note_5xx(&errors, stop.status, &stop.body.to_string());
                let st = server
                    .api
                    .wait_status(
                        j,
                        v,
                        &[
                            JobStatus::KILLED,
                            JobStatus::COMPLETED,
                            JobStatus::FAILED,
                            JobStatus::LOST,
                        ],
                        Duration::from_secs(30),
                    )
                    .await;
                assert_eq!(st, JobStatus::KILLED, "job {j}/{v} after a stop");
            }
            // 0 when it was stopped before its worker got going.
            assert!(
                s.starts(v) <= 1,
                "version {v} started {} times",
                s.starts(v)
            );
        }
        no_orphans(&s).await;
    }
    let seen = std::mem::take(&mut *errors.lock().unwrap());
    assert!(
        seen.server_errors.is_empty(),
        "5xx answers: {:?}",
        seen.server_errors
    );
    wait_terminal(&s.db(), Duration::from_secs(30)).await;
    integrity_ok(&s.db()).await;
    println!("stop/delete traffic: {n} kills, 0 orphans");
}

/// Defect 1: a version whose shim was spawned just before a crash, before its handle was
/// stored (status 4, no handle), was queued and run a second time on restart, the first copy
/// running on untracked. The crash window is reproduced exactly: the run is started, the
/// server killed, and the database put back into the state that window leaves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_launched_just_before_a_crash_runs_once() {
    let s = setup();
    let mut server = ServerProcess::start(&s.config, free_port()).await;
    let (job, version) = create(&server.api, "crash-window", &[("hold", "cw")]).await;
    server
        .api
        .wait_status(job, version, &[JobStatus::RUNNING], Duration::from_secs(30))
        .await;
    wait_until(Duration::from_secs(10), "the first start", || {
        s.starts(version) == 1
    })
    .await;
    server.kill9();
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", s.db().display()))
        .await
        .unwrap();
    sqlx::query("UPDATE versions SET status = ?, handle = NULL, start_time = NULL WHERE id = ?")
        .bind(JobStatus::SUBMIT_TRYING.code())
        .bind(version)
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;

    let server = ServerProcess::start(&s.config, free_port()).await;
    // Give a wrong relaunch every chance to happen before the job is released.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        s.starts(version),
        1,
        "the version was started again after the restart"
    );
    assert_eq!(server.api.status(job, version).await, JobStatus::RUNNING);
    s.release("cw");
    assert_eq!(
        server
            .api
            .wait_status(
                job,
                version,
                &[JobStatus::COMPLETED, JobStatus::FAILED, JobStatus::LOST],
                Duration::from_secs(30)
            )
            .await,
        JobStatus::COMPLETED
    );
    assert_eq!(s.starts(version), 1);
    no_orphans(&s).await;
}

/// A restart that finds more running than the executor holds (here: its cores were halved)
/// must not hand out capacity twice: free capacity is what the total leaves after everything
/// held, not a running sum that saturated at zero.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capacity_is_not_handed_out_twice_after_a_restart_that_found_too_much_running() {
    let s = setup();
    let config = std::fs::read_to_string(&s.config).unwrap();
    std::fs::write(&s.config, config.replace("cores = 64", "cores = 2")).unwrap();
    let mut server = ServerProcess::start(&s.config, free_port()).await;
    let (j1, v1) = create(&server.api, "held-1", &[("hold", "h1")]).await;
    let (j2, v2) = create(&server.api, "held-2", &[("hold", "h2")]).await;
    server
        .api
        .wait_status(j1, v1, &[JobStatus::RUNNING], Duration::from_secs(30))
        .await;
    server
        .api
        .wait_status(j2, v2, &[JobStatus::RUNNING], Duration::from_secs(30))
        .await;
    server.kill9();
    std::fs::write(&s.config, config.replace("cores = 64", "cores = 1")).unwrap();
    let server = ServerProcess::start(&s.config, free_port()).await;
    let api = &server.api;
    // Both are reattached (2 cores held of 1); one ends, one core is still held.
    s.release("h1");
    assert_eq!(
        api.wait_status(j1, v1, &[JobStatus::COMPLETED], Duration::from_secs(30))
            .await,
        JobStatus::COMPLETED
    );
    let (j3, v3) = create(api, "third", &[]).await;
    assert_eq!(
        api.wait_status(
            j3,
            v3,
            &[JobStatus::WAITING, JobStatus::RUNNING, JobStatus::COMPLETED],
            Duration::from_secs(10)
        )
        .await,
        JobStatus::WAITING
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        api.status(j3, v3).await,
        JobStatus::WAITING,
        "a third job started while the only core was held"
    );
    s.release("h2");
    assert_eq!(
        api.wait_status(j3, v3, &[JobStatus::COMPLETED], Duration::from_secs(30))
            .await,
        JobStatus::COMPLETED
    );
}

/// Defect 4: a killed shim left its workers running (and their capacity handed out again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_shim_takes_its_workers_with_it_and_the_version_is_lost() {
    let s = setup();
    let server = ServerProcess::start(&s.config, free_port()).await;
    let (job, version) = create(&server.api, "shim-killed", &[("sleep", "600")]).await;
    server
        .api
        .wait_status(job, version, &[JobStatus::RUNNING], Duration::from_secs(30))
        .await;
    let run_dir = s.runs().join(version.to_string());
    wait_until(Duration::from_secs(10), "the worker", || {
        !live_workers(&run_dir).is_empty()
    })
    .await;
    let shim = trainyard_exec::run_dir::read_claim(&run_dir).expect("shim.json");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(shim.pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    assert_eq!(
        server
            .api
            .wait_status(
                job,
                version,
                &[JobStatus::LOST, JobStatus::FAILED, JobStatus::KILLED],
                Duration::from_secs(10)
            )
            .await,
        JobStatus::LOST
    );
    // The server SIGKILLs the groups before it records the loss; their exit may lag the
    // signal by a moment on a loaded machine.
    wait_until(
        Duration::from_secs(5),
        "the lost version's workers to end",
        || live_workers(&run_dir).is_empty(),
    )
    .await;
    assert!(server
        .api
        .log(job, version, "shim-killed.0")
        .await
        .contains("lost"));
    // Its resources are free again and it can be deleted.
    server
        .api
        .delete(&format!("/training-jobs/{job}"))
        .await
        .assert_ok();
}

/// Defect 3: `max_runtime_seconds = i64::MAX` was accepted and panicked the supervisor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durations_counts_and_offsets_at_their_limits_are_bounded() {
    let s = setup();
    let server = ServerProcess::start(&s.config, free_port()).await;
    let api = &server.api;
    let mut body = job_body("huge-runtime", &[("sleep", "600")]);
    body["config"]["max_runtime_seconds"] = json!(i64::MAX);
    api.post("/training-jobs", body.clone())
        .await
        .assert_error(400, "ModelArts.0104");
    body["config"]["max_runtime_seconds"] = json!(366 * 24 * 3600);
    let r = api.post("/training-jobs", body).await;
    let (job, version) = (
        r.assert_ok()["job_id"].as_i64().unwrap(),
        r.body["version_id"].as_i64().unwrap(),
    );
    api.wait_status(job, version, &[JobStatus::RUNNING], Duration::from_secs(30))
        .await;
    wait_until(Duration::from_secs(10), "the worker", || {
        s.starts(version) == 1
    })
    .await;
    api.post(
        &format!("/training-jobs/{job}/versions/{version}/stop"),
        json!({}),
    )
    .await
    .assert_ok();
    assert_eq!(
        api.wait_status(job, version, &[JobStatus::KILLED], Duration::from_secs(10))
            .await,
        JobStatus::KILLED
    );
    // Every count, size and duration field at its type's limits: refused, never a 5xx.
    let limits = [
        json!(i64::MAX),
        json!(i64::MIN),
        json!(u64::MAX),
        json!(-1),
        json!(1e300),
        json!("9223372036854775808"),
    ];
    for field in [
        "worker_server_num",
        "max_runtime_seconds",
        "spec_id",
        "engine_id",
        "model_id",
    ] {
        for value in &limits {
            let mut b = job_body(&format!("lim-{field}"), &[]);
            b["config"][field] = value.clone();
            let r = api.post("/training-jobs", b).await;
            assert_eq!(r.status, 400, "{field}={value}: {}", r.body);
        }
    }
    let versions = format!("/training-jobs/{job}/versions/{version}");
    for value in [
        "9223372036854775807",
        "-9223372036854775808",
        "18446744073709551616",
        "-1",
    ] {
        for query in [
            format!("/training-jobs?per_page={value}"),
            format!("/training-jobs?page={value}"),
            format!("/training-jobs/{job}/versions?page={value}&per_page={value}"),
            format!("{versions}/aom-log?log_file=huge-runtime.0&lines={value}"),
            format!("{versions}/aom-log?log_file=huge-runtime.0&base_line={value}&lines=5"),
            format!("{versions}/aom-log?log_file=huge-runtime.0&start_byte={value}&offset={value}"),
            format!("/visualization-jobs?per_page={value}&page={value}"),
        ] {
            let r = api.get(&query).await;
            assert!(r.status < 500, "{query}: {} {}", r.status, r.body);
        }
        let stop = api
            .post(
                &format!("{versions}/stop"),
                json!({"grace_period_seconds": value.parse::<f64>().unwrap()}),
            )
            .await;
        assert!(stop.status < 500, "grace {value}: {}", stop.body);
        let viz = api
            .post("/visualization-jobs", json!({"job_name": "lim", "train_url": "/l/", "schedule": {"type": "stop", "time_unit": "HOURS", "duration": value.parse::<f64>().unwrap()}}))
            .await;
        assert!(viz.status < 500, "schedule.duration {value}: {}", viz.body);
    }
    // The log stream: an offset past the end is refused before a 200 starts (it used to send
    // 200 and then abort the body).
    let url = api.url(&format!(
        "{versions}/log/stream?log_file=huge-runtime.0&offset={}",
        i64::MAX
    ));
    let r = api.raw("GET", &url, None, Some(TOKEN)).await;
    r.assert_error(400, "ModelArts.0104");
    let ok = api
        .http
        .get(api.url(&format!(
            "{versions}/log/stream?log_file=huge-runtime.0&offset=0&follow=false"
        )))
        .header("X-Auth-Token", TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert!(ok.text().await.unwrap().contains("stop requested"));
}

/// Defect 6: a symlink loop in a code folder made the snapshot recurse (a 256 KB folder
/// wrote 17.6 MB); a folder link out of the code folder and the refusal's message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_never_follow_folder_links_and_never_show_server_paths() {
    let s = setup();
    let server = ServerProcess::start(&s.config, free_port()).await;
    let code = s.storage().join("app");
    std::fs::write(code.join("blob.bin"), vec![7u8; 256 * 1024]).unwrap();
    std::os::unix::fs::symlink(".", code.join("loop")).unwrap();
    std::fs::create_dir_all(code.join("sub/deep")).unwrap();
    std::os::unix::fs::symlink("../..", code.join("sub/deep/up")).unwrap();
    let (job, version) = create(&server.api, "looped", &[]).await;
    assert_eq!(
        server
            .api
            .wait_status(
                job,
                version,
                &[JobStatus::COMPLETED, JobStatus::FAILED],
                Duration::from_secs(30)
            )
            .await,
        JobStatus::COMPLETED
    );
    let snap = s.runs().join(version.to_string()).join("code");
    let size: u64 = walk_size(&snap);
    assert!(size < 300 * 1024, "the snapshot holds {size} bytes");
    assert_eq!(
        std::fs::read_link(snap.join("loop")).unwrap(),
        PathBuf::from(".")
    );
    assert_eq!(
        std::fs::canonicalize(snap.join("sub/deep/up")).unwrap(),
        std::fs::canonicalize(&snap).unwrap()
    );

    // A link to a folder elsewhere in the project is refused, naming the storage path only.
    std::fs::remove_file(code.join("loop")).unwrap();
    std::fs::create_dir_all(s.storage().join("elsewhere")).unwrap();
    std::os::unix::fs::symlink(s.storage().join("elsewhere"), code.join("data")).unwrap();
    let r = server
        .api
        .post("/training-jobs", job_body("linked", &[]))
        .await;
    r.assert_error(400, "ModelArts.0101");
    let msg = r.body["error_message"].as_str().unwrap();
    assert!(msg.contains("/app/data"), "{msg}");
    assert!(
        !msg.contains(&s.dir.path().display().to_string()),
        "the server's path leaks: {msg}"
    );
    // Same for a file link out of the project.
    std::fs::remove_file(code.join("data")).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", code.join("escape")).unwrap();
    let r = server
        .api
        .post("/training-jobs", job_body("escaping", &[]))
        .await;
    r.assert_error(400, "ModelArts.0101");
    let msg = r.body["error_message"].as_str().unwrap();
    assert!(
        msg.contains("/app/escape") && !msg.contains(&s.dir.path().display().to_string()),
        "{msg}"
    );
}

fn walk_size(dir: &Path) -> u64 {
    let mut total = 0;
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let m = std::fs::symlink_metadata(e.path()).unwrap();
        if m.is_dir() {
            total += walk_size(&e.path());
        } else {
            total += m.len();
        }
    }
    total
}

/// Defect 7: a tar with a dangling symlink and then a file below it answered 500.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_through_an_archive_symlink_are_refused_not_500() {
    let s = setup();
    let server = ServerProcess::start(&s.config, free_port()).await;
    let tar_with = |build: &dyn Fn(&mut tar::Builder<Vec<u8>>)| {
        let mut b = tar::Builder::new(Vec::new());
        build(&mut b);
        b.into_inner().unwrap()
    };
    let link = |b: &mut tar::Builder<Vec<u8>>, path: &str, target: &str| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        b.append_link(&mut h, path, target).unwrap();
    };
    let file = |b: &mut tar::Builder<Vec<u8>>, path: &str| {
        let mut h = tar::Header::new_gnu();
        h.set_size(1);
        h.set_mode(0o644);
        b.append_data(&mut h, path, &b"x"[..]).unwrap();
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "dangling link, then a file below it",
            tar_with(&|b| {
                link(b, "d", "missing");
                file(b, "d/f")
            }),
        ),
        (
            "link to a folder, then a file below it",
            tar_with(&|b| {
                file(b, "real/x");
                link(b, "d", "real");
                file(b, "d/f")
            }),
        ),
        (
            "a file, then a folder of the same name",
            tar_with(&|b| {
                file(b, "f");
                file(b, "f/g")
            }),
        ),
        (
            "a file, then a link of the same name",
            tar_with(&|b| {
                file(b, "f");
                link(b, "f", "g")
            }),
        ),
    ];
    for (what, body) in cases {
        let resp = server
            .api
            .http
            .put(format!(
                "{}/v1/{PROJECT}/storage/upload?path=/up/",
                server.api.base
            ))
            .header("X-Auth-Token", TOKEN)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let b: Value = resp.json().await.unwrap();
        assert_eq!(
            (status, b["error_code"].as_str()),
            (400, Some("ModelArts.0101")),
            "{what}: {b}"
        );
    }
    assert!(
        !s.storage().join("up").exists(),
        "a refused upload left files behind"
    );
}

/// A tmpfs mounted for the lifetime of the value (unmounted lazily on drop).
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Mounts a tmpfs of `mib` MiB at `dir`; `None` (with the reason printed) when this
    /// process may not mount (not root, or no CAP_SYS_ADMIN in this container).
    fn mount(dir: &Path, mib: u32) -> Result<Self, String> {
        std::fs::create_dir_all(dir).unwrap();
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(dir)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_owned());
        }
        Ok(Self(dir.to_owned()))
    }

    /// Fills it up to the last byte with a file `fill` and returns its path.
    fn fill(&self) -> PathBuf {
        use std::io::Write;
        let path = self.0.join("fill");
        let mut f = std::fs::File::create(&path).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        while f.write_all(&chunk).is_ok() {}
        let mut small = vec![0u8; 512];
        while f.write_all(&small).is_ok() {}
        small.truncate(1);
        while f.write_all(&small).is_ok() {}
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// Defects 2, 5 and 7 (disk full): a full disk poisoned a database connection for good
/// (every create answered 500 "begin_with at non-zero transaction depth" once space was
/// back), a failed end-of-run record was never retried (the run stayed 8), and the answer
/// was a bare "Internal error.". The database and the run directories live on two small
/// tmpfs, filled one after the other while jobs run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_is_survived_without_a_restart() {
    let dir = tempdir().unwrap();
    let (db_fs, data_fs) = match (
        Tmpfs::mount(&dir.path().join("db"), 8),
        Tmpfs::mount(&dir.path().join("data"), 64),
    ) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) if unsafe { libc::geteuid() } != 0 => {
            println!("SKIPPED a_full_disk_is_survived_without_a_restart: mounting a tmpfs needs root ({e})");
            return;
        }
        (Err(e), _) | (_, Err(e)) => {
            panic!("cannot mount a tmpfs for the disk-full test although running as root: {e}")
        }
    };
    let s = setup_in(
        Some(&data_fs.0),
        &format!(
            "database_url = \"sqlite://{}/trainyard.db\"",
            db_fs.0.display()
        ),
    );
    let server = ServerProcess::start(&s.config, free_port()).await;
    let api = &server.api;
    let (j1, v1) = create(api, "full-1", &[("hold", "f1")]).await;
    let (j2, v2) = create(api, "full-2", &[("hold", "f2")]).await;
    api.wait_status(j1, v1, &[JobStatus::RUNNING], Duration::from_secs(30))
        .await;
    api.wait_status(j2, v2, &[JobStatus::RUNNING], Duration::from_secs(30))
        .await;

    // The database's disk fills up: creations fail with the documented out-of-space answer.
    let db_fill = db_fs.fill();
    let mut refused = 0;
    for i in 0..20 {
        let r = api
            .post("/training-jobs", job_body(&format!("while-full-{i}"), &[]))
            .await;
        assert!(
            r.status == 200 || r.status == 507,
            "{} {}",
            r.status,
            r.body
        );
        if r.status == 507 {
            r.assert_error(507, "ModelArts.0010");
            assert!(
                r.body["error_message"]
                    .as_str()
                    .unwrap()
                    .contains("out of disk space"),
                "{}",
                r.body
            );
            refused += 1;
        }
    }
    assert!(refused > 0, "the full database disk refused nothing");
    // Job 1 ends while its end cannot be recorded.
    s.release("f1");
    wait_until(Duration::from_secs(10), "job 1's exit.json", || {
        data_fs.0.join(format!("runs/{v1}/exit.json")).exists()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        api.status(j1, v1).await,
        JobStatus::RUNNING,
        "the end of job 1 cannot have been recorded yet"
    );
    // The run directories' disk fills up too; job 2 ends while its exit.json cannot be written.
    let data_fill = data_fs.fill();
    s.release("f2");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(api.status(j2, v2).await, JobStatus::RUNNING);

    // Space comes back: without a restart both jobs reach their true status and new jobs run.
    std::fs::remove_file(db_fill).unwrap();
    std::fs::remove_file(data_fill).unwrap();
    assert_eq!(
        api.wait_status(
            j1,
            v1,
            &[JobStatus::COMPLETED, JobStatus::FAILED, JobStatus::LOST],
            Duration::from_secs(30)
        )
        .await,
        JobStatus::COMPLETED
    );
    assert_eq!(
        api.wait_status(
            j2,
            v2,
            &[JobStatus::COMPLETED, JobStatus::FAILED, JobStatus::LOST],
            Duration::from_secs(30)
        )
        .await,
        JobStatus::COMPLETED
    );
    for i in 0..10 {
        let (j, v) = create(api, &format!("after-{i}"), &[]).await;
        assert_eq!(
            api.wait_status(
                j,
                v,
                &[JobStatus::COMPLETED, JobStatus::FAILED, JobStatus::LOST],
                Duration::from_secs(30)
            )
            .await,
            JobStatus::COMPLETED
        );
    }
    assert_eq!((s.starts(v1), s.starts(v2)), (1, 1));
    integrity_ok(&db_fs.0.join("trainyard.db")).await;
}

/// Hostile inputs generated from the API's request types: the documented TJ-01, TJ-06,
/// TC-01 and VJ-01 samples, serialized from `trainyard-api` types, with one to three of their
/// fields replaced by hostile values (wrong types, limits of the number types, huge and odd
/// strings, traversal). Nothing may answer 5xx and the server keeps answering.
#[test]
fn hostile_inputs_never_get_a_5xx() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    use trainyard_api::training::{CreateJobRequest, JobConfig, Parameter};
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let s = setup();
    let server = rt.block_on(ServerProcess::start(&s.config, free_port()));
    let api = server.api.clone();
    let (job, _) = rt.block_on(create(&api, "target", &[]));

    let config = JobConfig {
        worker_server_num: Some(1),
        app_url: Some("/app/".into()),
        boot_file_url: Some("/app/run.sh".into()),
        parameter: Some(vec![Parameter {
            label: "lr".into(),
            value: "0.1".into(),
        }]),
        data_url: Some("/data/".into()),
        spec_id: Some(1),
        engine_id: Some(SH_ENGINE),
        train_url: Some("/out/h/".into()),
        log_url: Some("/logs/h/".into()),
        max_runtime_seconds: Some(60),
        ..Default::default()
    };
    let create_req = CreateJobRequest {
        job_name: Some("hostile".into()),
        job_desc: Some("d".into()),
        config: Some(config.clone()),
        ..Default::default()
    };
    let targets: Vec<(&str, String, Value)> = vec![
        (
            "POST",
            "/training-jobs".into(),
            serde_json::to_value(&create_req).unwrap(),
        ),
        (
            "POST",
            format!("/training-jobs/{job}/versions"),
            json!({"job_desc": "v", "config": serde_json::to_value(&config).unwrap()}),
        ),
        (
            "POST",
            "/training-job-configs".into(),
            json!({"config_name": "hostile", "config_desc": "d", "worker_server_num": 1, "app_url": "/app/", "boot_file_url": "/app/run.sh", "data_url": "/data/", "spec_id": 1, "engine_id": SH_ENGINE, "parameter": [{"label": "a", "value": "b"}]}),
        ),
        (
            "POST",
            "/visualization-jobs".into(),
            json!({"job_name": "hostile", "job_desc": "d", "train_url": "/l/", "job_type": "tensorboard", "flavor": {"code": "modelarts.vm.cpu.2u"}, "schedule": {"type": "stop", "time_unit": "HOURS", "duration": 1}}),
        ),
    ];
    // Paths to every leaf of a JSON value.
    fn leaves(v: &Value, at: Vec<String>, out: &mut Vec<Vec<String>>) {
        match v {
            Value::Object(m) => m
                .iter()
                .for_each(|(k, v)| leaves(v, [at.clone(), vec![k.clone()]].concat(), out)),
            Value::Array(a) => a
                .iter()
                .enumerate()
                .for_each(|(i, v)| leaves(v, [at.clone(), vec![i.to_string()]].concat(), out)),
            _ => out.push(at),
        }
    }
    fn set(v: &mut Value, path: &[String], new: Value) {
        let mut cur = v;
        for p in path {
            cur = match cur {
                Value::Array(a) => &mut a[p.parse::<usize>().unwrap()],
                other => &mut other[p.as_str()],
            };
        }
        *cur = new;
    }
    let fixed = [
        json!(i64::MAX),
        json!(i64::MIN),
        json!(u64::MAX),
        json!(-1),
        json!(0),
        json!(1e308),
        json!(null),
        json!(true),
        json!([]),
        json!({}),
        json!("../../../../etc/passwd"),
        json!("/app/../../x"),
        json!("obs://a/\u{0}b"),
        json!("9223372036854775808"),
    ];
    let mut arms: Vec<BoxedStrategy<Value>> = fixed.into_iter().map(|v| Just(v).boxed()).collect();
    arms.push("\\PC{0,40}".prop_map(Value::from).boxed());
    arms.push(
        (0usize..200_000)
            .prop_map(|n| Value::from("x".repeat(n)))
            .boxed(),
    );
    arms.push(any::<i64>().prop_map(Value::from).boxed());
    arms.push(
        any::<f64>()
            .prop_map(|f| {
                serde_json::Number::from_f64(f)
                    .map(Value::Number)
                    .unwrap_or(Value::Null)
            })
            .boxed(),
    );
    let hostile = proptest::strategy::Union::new(arms);
    let strategy = (
        0..targets.len(),
        proptest::collection::vec((any::<proptest::sample::Index>(), hostile), 1..4),
    );
    let seed = seed();
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let mut runner = TestRunner::new_with_rng(
        Config {
            cases: 150,
            failure_persistence: None,
            ..Config::default()
        },
        TestRng::from_seed(RngAlgorithm::ChaCha, &bytes),
    );
    let result = runner.run(&strategy, |(t, edits)| {
        let (method, path, sample) = &targets[t];
        let mut body = sample.clone();
        let mut paths = Vec::new();
        leaves(sample, Vec::new(), &mut paths);
        for (idx, value) in edits {
            set(&mut body, &paths[idx.index(paths.len())], value);
        }
        let reply = rt.block_on(api.call(method, path, Some(body.clone())));
        prop_assert!(
            reply.status < 500,
            "{method} {path} {body}: {} {}",
            reply.status,
            reply.body
        );
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    assert_eq!(
        rt.block_on(api.get("/training-jobs")).status,
        200,
        "the server stopped answering"
    );
    drop(server);
}
