//! Preemption (`[scheduler] preemption`): on a full 2-core host a priority-3 run preempts a
//! priority-1 run within the stop grace + 1 s; the preempted version's next attempt resumes
//! from its checkpoint and completes, and the event logs of both show it. With preemption off
//! (the default) nothing is preempted, and a server SIGKILLed amid a preemption loses nothing.
//! Per pool: only runs of a pool that allows it are preempted, and a v2 job may opt out
//! (`preemptible: false`). A preemption is not charged to
//! a retry policy, and the preempted attempt is accounted for the time it ran.

use crate::harness::*;
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

/// The stop grace of these servers, seconds.
const GRACE_S: i64 = 2;

/// A 2-core host, with preemption on (minimum runtime 1 s) or left at its default (off).
fn host(preemption: bool) -> String {
    let scheduler = if preemption {
        "[scheduler]\npreemption = true\npreemption_min_runtime_seconds = 1\n"
    } else {
        ""
    };
    format!("[executor]\ncores = 2\nmemory_gb = 4\nstop_grace_seconds = {GRACE_S}\n\n{scheduler}")
}

/// A training run of `STEPS` steps of 0.2 s that saves its step in its checkpoint folder
/// after each, and resumes from it in a later attempt (saying so).
const TRAINER: &str = r#"import os, time
attempt = int(os.environ["TRAINYARD_ATTEMPT"])
state = os.path.join(os.environ["TRAINYARD_CHECKPOINT_DIR"], "step.txt")
step = 0
if attempt > 1 and os.path.exists(state):
    step = int(open(state).read())
    print("attempt %d resumed from step %d" % (attempt, step), flush=True)
while step < STEPS:
    time.sleep(0.2)
    step += 1
    with open(state + ".tmp", "w") as f:
        f.write(str(step))
    os.replace(state + ".tmp", state)
print("attempt %d done at step %d" % (attempt, step), flush=True)
"#;

/// Writes the apps into the main project's `storage`: `train` ([`TRAINER`] of `steps`
/// steps) and `urgent` (sleeps 1 s).
fn write_apps(storage: &Path, steps: u32) {
    let boot = format!("STEPS = {steps}\n{TRAINER}");
    write_app(storage, "train", &[("boot.py", &boot)]);
    write_app(
        storage,
        "urgent",
        &[("boot.py", "import time\ntime.sleep(1)\n")],
    );
}

async fn version(api: &Api, job: i64, ver: i64) -> Value {
    api.get(&format!("/training-jobs/{job}/versions/{ver}"))
        .await
        .assert_ok()
        .clone()
}

/// The kinds of a version's events, in order.
async fn event_kinds(api: &Api, job: i64, ver: i64) -> (Vec<String>, Vec<Value>) {
    let r = api
        .get(&format!("/training-jobs/{job}/versions/{ver}/events"))
        .await;
    let mut events = r.assert_ok()["events"].as_array().unwrap().clone();
    events.sort_by_key(|e| e["seq"].as_i64());
    let kinds = events
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect();
    (kinds, events)
}

/// Two priority-1 training runs fill the host and run past the minimum runtime; then a
/// priority-3 run is created. Returns the server, the two runs and the urgent one.
async fn full_host_then_urgent(
    preemption: bool,
    steps: u32,
) -> (TestServer, Vec<(i64, i64)>, (i64, i64)) {
    let srv = TestServer::start_with(&host(preemption)).await;
    write_apps(
        &srv.dir.path().join("data").join("obs").join(PROJECT),
        steps,
    );
    let urgent_and_low = fill_then_urgent(&srv.api).await;
    (srv, urgent_and_low.0, urgent_and_low.1)
}

/// Fills the host with two training runs past their minimum runtime, then creates the
/// priority-3 run.
async fn fill_then_urgent(api: &Api) -> (Vec<(i64, i64)>, (i64, i64)) {
    // A policy that retries nothing: a preemption is no failure, and queues the next attempt
    // all the same. No train_url: the checkpoint folder is the run folder's.
    let no_retries = json!({"max_retries": 0, "on_any_failure": true, "backoff_seconds": 0});
    let trainer = json!({"train_url": null, "retry_policy": no_retries});
    let mut low = Vec::new();
    for k in 0..2 {
        low.push(
            api.create_job(&format!("train{k}"), "train", trainer.clone())
                .await,
        );
    }
    for (job, ver) in &low {
        api.wait_status(*job, *ver, &[JobStatus::RUNNING], Duration::from_secs(30))
            .await;
    }
    // Past the minimum runtime, with some steps saved.
    let urgent = urgent_after(api, Duration::from_millis(1500)).await;
    (low, urgent)
}

/// After `pause`, creates the priority-3 run `urgent`.
async fn urgent_after(api: &Api, pause: Duration) -> (i64, i64) {
    tokio::time::sleep(pause).await;
    api.create_job("urgent", "urgent", json!({"priority": 3}))
        .await
}

/// Once the running runs are past their minimum runtime, a priority-3 run is created; it
/// starts (preempting one of them).
async fn urgent_starts(api: &Api) -> (i64, i64) {
    let urgent = urgent_after(api, Duration::from_millis(1500)).await;
    api.wait_status(
        urgent.0,
        urgent.1,
        &[JobStatus::RUNNING],
        Duration::from_secs(30),
    )
    .await;
    urgent
}

/// The training run among `low` whose event log shows a `preempted` event.
async fn preempted_of(api: &Api, low: &[(i64, i64)]) -> Option<(i64, i64)> {
    for (job, ver) in low {
        if event_kinds(api, *job, *ver)
            .await
            .0
            .contains(&"preempted".to_owned())
        {
            return Some((*job, *ver));
        }
    }
    None
}

/// The step that attempt 2 of training run `name` resumed from, as its log says.
async fn resumed_step(api: &Api, (job, ver): (i64, i64), name: &str) -> u32 {
    let log = api.log(job, ver, &format!("{name}.0")).await;
    assert!(log.contains("attempt 2 done at step"), "{log}");
    log.lines()
        .find_map(|l| l.strip_prefix("attempt 2 resumed from step "))
        .unwrap_or_else(|| panic!("no resume in {log}"))
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_priority_3_run_preempts_a_priority_1_run_which_resumes_from_its_checkpoint() {
    let (srv, low, urgent) = full_host_then_urgent(true, 25).await;
    let api = &srv.api;
    api.wait_status(
        urgent.0,
        urgent.1,
        &[JobStatus::RUNNING],
        Duration::from_secs(30),
    )
    .await;
    let v = version(api, urgent.0, urgent.1).await;
    let waited = v["start_time"].as_i64().unwrap() - v["create_time"].as_i64().unwrap();
    eprintln!("the priority-3 run started {waited} ms after its create");
    assert!(
        waited <= (GRACE_S + 1) * 1000,
        "the priority-3 run started {waited} ms after its create: {v}"
    );
    // Everything completes: the urgent run, and both training runs.
    for (job, ver) in low.iter().chain([&urgent]) {
        let end = api
            .wait_status(*job, *ver, JobStatus::TERMINAL, Duration::from_secs(60))
            .await;
        assert_eq!(end, JobStatus::COMPLETED, "run {job}/{ver}");
    }
    // Exactly one training run was preempted, by the urgent version; it started again.
    let mut preempted = Vec::new();
    for (job, ver) in &low {
        let (kinds, events) = event_kinds(api, *job, *ver).await;
        if let Some(e) = events.iter().find(|e| e["kind"] == "preempted") {
            assert_eq!(e["detail"]["by"], json!(urgent.1), "{e}");
            let at = kinds.iter().position(|k| k == "preempted").unwrap();
            assert!(kinds[..at].contains(&"started".to_owned()), "{kinds:?}");
            assert!(kinds[at..].contains(&"started".to_owned()), "{kinds:?}");
            preempted.push((*job, *ver));
        } else {
            assert!(!kinds.contains(&"preempted".to_owned()), "{kinds:?}");
        }
    }
    assert_eq!(preempted.len(), 1, "preempted: {preempted:?}");
    let (job, ver) = preempted[0];
    // Its next attempt resumed from the checkpoint the first one saved, and finished.
    let v = version(api, job, ver).await;
    let name = format!(
        "train{}",
        low.iter().position(|r| *r == (job, ver)).unwrap()
    );
    let first = api.log(job, ver, &format!("attempt-1/{name}.0")).await;
    assert!(!first.contains("done at step"), "{first}");
    assert!(resumed_step(api, (job, ver), &name).await > 0, "{v}");
    // The urgent run's own log shows its start.
    let (kinds, _) = event_kinds(api, urgent.0, urgent.1).await;
    assert!(kinds.contains(&"started".to_owned()), "{kinds:?}");
    // The preempted attempt is accounted with its own outcome.
    let usage = api.get("/usage?since=0&by=job").await;
    let body = usage.assert_ok().to_string();
    assert!(body.contains("preempted"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_preemption_off_nothing_is_preempted() {
    let (srv, low, urgent) = full_host_then_urgent(false, 10).await;
    let api = &srv.api;
    for (job, ver) in low.iter().chain([&urgent]) {
        let end = api
            .wait_status(*job, *ver, JobStatus::TERMINAL, Duration::from_secs(60))
            .await;
        assert_eq!(end, JobStatus::COMPLETED, "run {job}/{ver}");
    }
    let mut first_end = i64::MAX;
    for (job, ver) in &low {
        let (kinds, _) = event_kinds(api, *job, *ver).await;
        assert!(!kinds.contains(&"preempted".to_owned()), "{kinds:?}");
        let v = version(api, *job, *ver).await;
        let end = v["start_time"].as_i64().unwrap() + v["duration"].as_i64().unwrap();
        first_end = first_end.min(end);
    }
    // The urgent run waited for a training run to end.
    let v = version(api, urgent.0, urgent.1).await;
    assert!(v["start_time"].as_i64().unwrap() >= first_end - 1000, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_amid_a_preemption_queues_the_preempted_version_again() {
    let dir = tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("config.toml");
    write_config(&config, config_text_with(&data, "", &host(true))).unwrap();
    write_apps(&data.join("obs").join(PROJECT), 25);
    let port = free_port();
    let mut server = ServerProcess::start(&config, port).await;
    let api = server.api.clone();
    let (low, urgent) = fill_then_urgent(&api).await;
    // SIGKILL as soon as the preemption is recorded: its stop is under way or not sent yet.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let victim = loop {
        if let Some(v) = preempted_of(&api, &low).await {
            break v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "nothing was preempted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    server.kill9();
    let server = ServerProcess::start(&config, port).await;
    let api = &server.api;
    for (job, ver) in low.iter().chain([&urgent]) {
        let end = api
            .wait_status(*job, *ver, JobStatus::TERMINAL, Duration::from_secs(60))
            .await;
        assert_eq!(end, JobStatus::COMPLETED, "run {job}/{ver}");
    }
    // The preempted version ran again and resumed from its checkpoint.
    let name = format!("train{}", low.iter().position(|r| *r == victim).unwrap());
    assert!(resumed_step(api, victim, &name).await > 0);
    let (kinds, _) = event_kinds(api, victim.0, victim.1).await;
    let at = kinds.iter().position(|k| k == "preempted").unwrap();
    assert!(kinds[at..].contains(&"started".to_owned()), "{kinds:?}");
    kill_runs(&data.join("runs"));
}

/// The time (ms) of each event of `kind` in `events`, in order.
fn times_of(events: &[Value], kind: &str) -> Vec<i64> {
    events
        .iter()
        .filter(|e| e["kind"] == kind)
        .map(|e| e["time"].as_i64().unwrap())
        .collect()
}

/// A run of `app` holding the whole host (spec 100) for 5 s, past the minimum runtime (long
/// enough that a busy machine's lag in noting its end stays well within 2 % of it), then a
/// priority-3 run of one core that preempts it. Returns both.
async fn whole_host_then_urgent(api: &Api, app: &str, retry: Value) -> ((i64, i64), (i64, i64)) {
    let config = json!({"spec_id": 100, "train_url": null, "retry_policy": retry});
    let low = api.create_job("whole", app, config).await;
    api.wait_status(low.0, low.1, &[JobStatus::RUNNING], Duration::from_secs(30))
        .await;
    let urgent = urgent_after(api, Duration::from_millis(5000)).await;
    (low, urgent)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preempted_run_that_then_fails_still_gets_all_of_its_retries() {
    let srv = TestServer::start_with(&host(true)).await;
    let storage = srv.dir.path().join("data").join("obs").join(PROJECT);
    write_apps(&storage, 60);
    // Its first attempt trains until preempted; every later one fails.
    let flaky = format!(
        "import os, sys, time\nif int(os.environ['TRAINYARD_ATTEMPT']) > 1:\n    \
         time.sleep(0.3)\n    sys.exit(3)\nSTEPS = 60\n{TRAINER}"
    );
    write_app(&storage, "flaky", &[("boot.py", &flaky)]);
    let api = &srv.api;
    let one_retry = json!({"max_retries": 1, "on_any_failure": true, "backoff_seconds": 0});
    let (low, urgent) = whole_host_then_urgent(api, "flaky", one_retry).await;
    let end = api
        .wait_status(low.0, low.1, JobStatus::TERMINAL, Duration::from_secs(60))
        .await;
    assert_eq!(end, JobStatus::FAILED);
    api.wait_status(
        urgent.0,
        urgent.1,
        JobStatus::TERMINAL,
        Duration::from_secs(30),
    )
    .await;
    // Preempted once, then it failed twice: its one retry was still there after the
    // preemption (had the preemption used it, the first failure would have been the end).
    let (kinds, events) = event_kinds(api, low.0, low.1).await;
    assert_eq!(times_of(&events, "preempted").len(), 1, "{kinds:?}");
    assert_eq!(times_of(&events, "started").len(), 3, "{kinds:?}");
    assert_eq!(times_of(&events, "retry_scheduled").len(), 1, "{kinds:?}");
    let usage = api.get("/usage?since=0&by=job").await;
    let row = usage.assert_ok()["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == json!(low.0.to_string()))
        .cloned()
        .unwrap();
    assert_eq!(
        row["runs_by_outcome"],
        json!({"preempted": 1, "retried": 1, "failed": 1}),
        "{row}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preempted_attempt_is_accounted_for_the_time_it_ran() {
    let srv = TestServer::start_with(&host(true)).await;
    write_apps(&srv.dir.path().join("data").join("obs").join(PROJECT), 60);
    let api = &srv.api;
    let no_retries = json!({"max_retries": 0, "on_any_failure": true, "backoff_seconds": 0});
    let (low, urgent) = whole_host_then_urgent(api, "train", no_retries).await;
    for (job, ver) in [low, urgent] {
        let end = api
            .wait_status(job, ver, JobStatus::TERMINAL, Duration::from_secs(60))
            .await;
        assert_eq!(end, JobStatus::COMPLETED, "run {job}/{ver}");
    }
    // Its first attempt ran from its first start to its worker's exit after the preemption.
    let (kinds, events) = event_kinds(api, low.0, low.1).await;
    let starts = times_of(&events, "started");
    let preempted = times_of(&events, "preempted")[0];
    let exited = times_of(&events, "worker_exited")
        .into_iter()
        .find(|t| *t >= preempted)
        .unwrap_or_else(|| panic!("no exit after the preemption: {kinds:?}"));
    assert_eq!(starts.len(), 2, "{kinds:?}");
    let ran_s = (exited - starts[0]) as f64 / 1000.0;
    // Usage up to the second start: the first attempt alone, of the whole host (2 cores, 4 GB).
    let usage = api
        .get(&format!("/usage?since=0&until={}&by=job", starts[1]))
        .await;
    let row = usage.assert_ok()["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == json!(low.0.to_string()))
        .cloned()
        .unwrap();
    assert_eq!(row["runs_by_outcome"], json!({"preempted": 1}), "{row}");
    let core_s = row["core_seconds"].as_f64().unwrap();
    let memory_s = row["memory_gb_seconds"].as_f64().unwrap();
    eprintln!(
        "the preempted attempt ran {ran_s} s by its events; usage {core_s} core-s, {memory_s} GB-s"
    );
    assert!(
        (core_s / (2.0 * ran_s) - 1.0).abs() <= 0.02,
        "{core_s} core-s for {ran_s} s: {row}"
    );
    assert!(
        (memory_s / (4.0 * ran_s) - 1.0).abs() <= 0.02,
        "{memory_s} GB-s for {ran_s} s: {row}"
    );
    assert_eq!(row["gpu_seconds"], json!(0.0), "{row}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_runs_of_a_pool_that_allows_it_are_preempted() {
    // Preemption off by default, on for pool `spot`; `steady` (the default pool) keeps it off.
    let pools = format!(
        "{}[scheduler]\npreemption_min_runtime_seconds = 1\n\n\
         [[pools]]\nid = \"spot\"\nbackend = \"local\"\npreemption = true\n\n\
         [[pools]]\nid = \"steady\"\nbackend = \"local\"\ndefault = true\n",
        host(false)
    );
    let srv = TestServer::start_with(&pools).await;
    write_apps(&srv.dir.path().join("data").join("obs").join(PROJECT), 25);
    let api = &srv.api;
    let no_retries = json!({"max_retries": 0, "on_any_failure": true, "backoff_seconds": 0});
    // The spot run starts first, the steady one last: were both preemptible, the steady one
    // (started last, so it loses the least work) would be chosen.
    let mut low = Vec::new();
    for (name, pool) in [("train0", "spot"), ("train1", "steady")] {
        let config = json!({"train_url": null, "retry_policy": no_retries, "pool_id": pool});
        let run = api.create_job(name, "train", config).await;
        api.wait_status(run.0, run.1, &[JobStatus::RUNNING], Duration::from_secs(30))
            .await;
        low.push(run);
    }
    let urgent = urgent_starts(api).await;
    assert_eq!(preempted_of(api, &low).await, Some(low[0]));
    let (kinds, _) = event_kinds(api, low[1].0, low[1].1).await;
    assert!(!kinds.contains(&"preempted".to_owned()), "{kinds:?}");
    for (job, ver) in low.iter().chain([&urgent]) {
        let end = api
            .wait_status(*job, *ver, JobStatus::TERMINAL, Duration::from_secs(60))
            .await;
        assert_eq!(end, JobStatus::COMPLETED, "run {job}/{ver}");
    }
    // The spot run resumed from its checkpoint.
    assert!(resumed_step(api, low[0], "train0").await > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v2_job_that_is_not_preemptible_is_passed_over() {
    let srv = TestServer::start_with(&host(true)).await;
    write_apps(&srv.dir.path().join("data").join("obs").join(PROJECT), 25);
    let api = &srv.api;
    let no_retries = json!({"max_retries": 0, "on_any_failure": true, "backoff_seconds": 0});
    let first = api
        .create_job(
            "train0",
            "train",
            json!({"train_url": null, "retry_policy": no_retries}),
        )
        .await;
    api.wait_status(
        first.0,
        first.1,
        &[JobStatus::RUNNING],
        Duration::from_secs(30),
    )
    .await;
    // Started last, the v2 job would be the one chosen, were it preemptible.
    let body = json!({
        "kind": "job",
        "metadata": {"name": "steady", "description": ""},
        "algorithm": {
            "code_dir": "/train/",
            "boot_file": "/train/boot.py",
            "engine": {"engine_id": "python3"},
        },
        "spec": {
            "resource": {"flavor_id": "modelarts.vm.cpu.1u", "node_count": 1},
            "schedule_policy": {"priority": 1, "preemptible": false},
        },
    });
    let id = api.create_v2_job(body).await;
    let phase_is = |phase: &'static str| move |doc: &Value| doc["status"]["phase"] == json!(phase);
    api.wait_v2(&id, Duration::from_secs(30), phase_is("Running"))
        .await;
    urgent_starts(api).await;
    assert_eq!(preempted_of(api, &[first]).await, Some(first));
    let doc = api
        .wait_v2(&id, Duration::from_secs(60), phase_is("Completed"))
        .await;
    assert_eq!(
        doc["spec"]["schedule_policy"]["preemptible"],
        json!(false),
        "{doc}"
    );
    let end = api
        .wait_status(
            first.0,
            first.1,
            JobStatus::TERMINAL,
            Duration::from_secs(60),
        )
        .await;
    assert_eq!(end, JobStatus::COMPLETED);
}
