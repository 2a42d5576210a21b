//! Workflows on a real server with real runs: dependencies between runs (`config.depends_on`:
//! a chain runs in order, a failed parent ends its `after_ok` dependents naming it, an
//! `after_any` dependent runs after a failed parent, bad parents are refused, and a waiting
//! dependent survives a server SIGKILL) and parameter sweeps (a 12-run grid at concurrency 3
//! on a host with room for more; bulk stop of a running sweep).

use crate::harness::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

const WITHIN: Duration = Duration::from_secs(60);

/// Writes `gated` (holds on until `gate` exists, then exits 0), `ok` (a short run that
/// exits 0) and `fail` (a short run that exits 3) into `storage`.
fn write_apps(storage: &Path, gate: &Path) {
    let boot = format!(
        "import os, time\nwhile not os.path.exists({:?}):\n    time.sleep(0.02)\n",
        gate.display().to_string()
    );
    write_app(storage, "gated", &[("boot.py", &boot)]);
    write_app(
        storage,
        "ok",
        &[("boot.py", "import time\ntime.sleep(0.3)\n")],
    );
    write_app(
        storage,
        "fail",
        &[(
            "boot.py",
            "import sys, time\ntime.sleep(0.3)\nsys.exit(3)\n",
        )],
    );
}

/// A version's details.
async fn version(api: &Api, job: i64, ver: i64) -> Value {
    let r = api
        .get(&format!("/training-jobs/{job}/versions/{ver}"))
        .await;
    r.assert_ok().clone()
}

/// Waits until the version ended; returns its status.
async fn ended(api: &Api, (job, ver): (i64, i64)) -> JobStatus {
    api.wait_status(job, ver, JobStatus::TERMINAL, WITHIN).await
}

/// Waits until the version waits (7) with `reason`.
async fn waits_with(api: &Api, (job, ver): (i64, i64), reason: &str) {
    api.wait_status(job, ver, &[JobStatus::WAITING], WITHIN)
        .await;
    let deadline = std::time::Instant::now() + WITHIN;
    loop {
        let v = version(api, job, ver).await;
        if v["queue_reason"].as_str() == Some(reason) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "version {ver} waits with {:?}, not {reason:?}",
            v["queue_reason"]
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Start and end (ms) of a finished version.
async fn span(api: &Api, (job, ver): (i64, i64)) -> (i64, i64) {
    let v = version(api, job, ver).await;
    let start = v["start_time"].as_i64().expect("a started run");
    (start, start + v["duration"].as_i64().expect("a duration"))
}

fn after(kind: &str, parent: (i64, i64)) -> Value {
    json!({"depends_on": [{"job_id": parent.0, "version_id": parent.1, "type": kind}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_after_ok_runs_in_order_and_says_which_parent_it_waits_for() {
    let srv = TestServer::start().await;
    let gate = srv.dir.path().join("gate");
    write_apps(&srv.storage(), &gate);
    let api = &srv.api;
    let a = api.create_job("a", "gated", json!({})).await;
    // The job alone, its id as a string: its latest version, after_ok by default.
    let b = api
        .create_job(
            "b",
            "ok",
            json!({"depends_on": [{"job_id": a.0.to_string()}]}),
        )
        .await;
    let c = api.create_job("c", "ok", after("after_ok", b)).await;
    api.wait_status(a.0, a.1, &[JobStatus::RUNNING], WITHIN)
        .await;
    let want_b = format!("waiting for job {} version {} (after_ok)", a.0, a.1);
    waits_with(api, b, &want_b).await;
    let want_c = format!("waiting for job {} version {} (after_ok)", b.0, b.1);
    waits_with(api, c, &want_c).await;
    // The host has room: only the dependency holds them.
    assert_eq!(api.status(b.0, b.1).await, JobStatus::WAITING);
    std::fs::write(&gate, "").unwrap();
    for run in [a, b, c] {
        assert_eq!(ended(api, run).await, JobStatus::COMPLETED);
    }
    let (sa, sb, sc) = (span(api, a).await, span(api, b).await, span(api, c).await);
    assert!(
        sb.0 >= sa.1,
        "b started at {} before a ended at {}",
        sb.0,
        sa.1
    );
    assert!(
        sc.0 >= sb.1,
        "c started at {} before b ended at {}",
        sc.0,
        sb.1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_parent_ends_its_after_ok_chain_naming_it_and_after_any_runs() {
    let srv = TestServer::start().await;
    write_apps(&srv.storage(), &srv.dir.path().join("gate"));
    let api = &srv.api;
    let a = api.create_job("a", "fail", json!({})).await;
    let b = api.create_job("b", "ok", after("after_ok", a)).await;
    let c = api.create_job("c", "ok", after("after_ok", b)).await;
    let any = api.create_job("any", "ok", after("after_any", a)).await;
    let on_failure = api
        .create_job("cleanup", "ok", after("after_failed", a))
        .await;
    assert_eq!(ended(api, a).await, JobStatus::FAILED);
    assert_eq!(ended(api, b).await, JobStatus::CANCELED);
    assert_eq!(ended(api, c).await, JobStatus::CANCELED);
    let reason = |v: &Value| {
        v["error_result"]["error_message"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    };
    let vb = version(api, b.0, b.1).await;
    assert_eq!(
        reason(&vb),
        format!(
            "dependency never met: job {} version {} failed (after_ok)",
            a.0, a.1
        )
    );
    assert!(vb["start_time"].is_null(), "b never started: {vb}");
    let vc = version(api, c.0, c.1).await;
    assert_eq!(
        reason(&vc),
        format!(
            "dependency never met: job {} version {} was stopped (after_ok)",
            b.0, b.1
        )
    );
    // B's log says why it never ran.
    let log = api.log(b.0, b.1, "b.0").await;
    assert!(log.contains("dependency never met"), "{log}");
    assert_eq!(ended(api, any).await, JobStatus::COMPLETED);
    assert!(span(api, any).await.0 >= span(api, a).await.1);
    assert_eq!(ended(api, on_failure).await, JobStatus::COMPLETED);
    // after_failed of a completed parent never runs.
    let ok = api.create_job("fine", "ok", json!({})).await;
    let unused = api
        .create_job("unused", "ok", after("after_failed", ok))
        .await;
    assert_eq!(ended(api, ok).await, JobStatus::COMPLETED);
    assert_eq!(ended(api, unused).await, JobStatus::CANCELED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_foreign_and_cyclic_parents_are_refused_naming_the_field() {
    let srv = TestServer::start().await;
    write_apps(&srv.storage(), &srv.dir.path().join("gate"));
    write_apps(
        &srv.dir.path().join("data/obs").join(OTHER_PROJECT),
        &srv.dir.path().join("gate"),
    );
    let api = &srv.api;
    let a = api.create_job("a", "ok", json!({})).await;
    let theirs = srv.other.create_job("theirs", "ok", json!({})).await;
    // A parameter error (ModelArts.0104); a missing field is an invalid argument (0101).
    let refused = |deps: Value, needle: String| async move {
        let mut config = json!({
            "worker_server_num": 1, "app_url": "/ok/", "boot_file_url": "/ok/boot.py",
            "data_url": "/data/", "train_url": "/out/x/", "spec_id": 1, "engine_id": 1,
        });
        config["depends_on"] = deps;
        let r = api
            .post("/training-jobs", json!({"job_name": "x", "config": config}))
            .await;
        let code = if needle.ends_with("is required") {
            "ModelArts.0101"
        } else {
            "ModelArts.0104"
        };
        r.assert_error(400, code);
        let message = r.body["error_message"].as_str().unwrap().to_owned();
        assert!(message.contains(&needle), "{message} lacks {needle}");
        message
    };
    refused(
        json!([{"job_id": 999_999}]),
        "config.depends_on[0]: job 999999 does not exist in this project".into(),
    )
    .await;
    refused(
        json!([{"job_id": a.0}, {"job_id": a.0, "version_id": 999_999}]),
        format!(
            "config.depends_on[1]: job {} version 999999 does not exist",
            a.0
        ),
    )
    .await;
    refused(
        json!([{"job_id": theirs.0, "version_id": theirs.1}]),
        format!(
            "config.depends_on[0]: job {} version {} does not exist in this project",
            theirs.0, theirs.1
        ),
    )
    .await;
    refused(
        json!([{"job_id": a.0, "type": "after_lunch"}]),
        "config.depends_on[0].type:after_lunch must be one of after_ok, after_any, after_failed"
            .into(),
    )
    .await;
    refused(
        json!([{"version_id": a.1}]),
        "config.depends_on[0].job_id is required".into(),
    )
    .await;
    // A new version of job a waiting for job a's latest version: itself.
    let r = api
        .post(
            &format!("/training-jobs/{}/versions", a.0),
            json!({"config": {
                "worker_server_num": 1, "app_url": "/ok/", "boot_file_url": "/ok/boot.py",
                "data_url": "/data/", "spec_id": 1, "engine_id": 1,
                "depends_on": [{"job_id": a.0}],
            }}),
        )
        .await;
    r.assert_error(400, "ModelArts.0104");
    let message = r.body["error_message"].as_str().unwrap();
    assert!(
        message.contains("config.depends_on[0]") && message.contains("cycle"),
        "{message}"
    );
    // Nothing of the refused requests was stored.
    let jobs = api.get("/training-jobs").await;
    assert_eq!(jobs.assert_ok()["job_total_count"], 1, "{:?}", jobs.body);
    assert_eq!(ended(api, a).await, JobStatus::COMPLETED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_dependent_survives_a_server_sigkill_and_runs_after_its_parent() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    write_config(&config, config_text(&dir.path().join("data"), "")).unwrap();
    let gate = dir.path().join("gate");
    write_apps(&dir.path().join("data/obs").join(PROJECT), &gate);
    let port = free_port();
    let mut server = ServerProcess::start(&config, port).await;
    let a = server.api.create_job("a", "gated", json!({})).await;
    let b = server.api.create_job("b", "ok", after("after_ok", a)).await;
    server
        .api
        .wait_status(a.0, a.1, &[JobStatus::RUNNING], WITHIN)
        .await;
    let want = format!("waiting for job {} version {} (after_ok)", a.0, a.1);
    waits_with(&server.api, b, &want).await;
    server.kill9();
    let server = ServerProcess::start(&config, port).await;
    let api = &server.api;
    // Rebuilt from the database: still waiting for a, which the new server follows.
    waits_with(api, b, &want).await;
    std::fs::write(&gate, "").unwrap();
    assert_eq!(ended(api, a).await, JobStatus::COMPLETED);
    assert_eq!(ended(api, b).await, JobStatus::COMPLETED);
    assert!(span(api, b).await.0 >= span(api, a).await.1);
    drop(server);
    kill_runs(&dir.path().join("data/runs"));
}

/// The sweep's run: prints its combination, records its process group, runs `seconds`,
/// then writes `metrics.json` (score = lr * batch, + 1 for adam) into its `train_url`.
fn sweep_app(seconds: f64) -> String {
    format!(
        "import json, os, sys, time\n\
         args = dict(a[2:].split('=', 1) for a in sys.argv[1:] if a.startswith('--'))\n\
         print('combo lr=%s batch=%s opt=%s' % (args['lr'], args['batch'], args['opt']), flush=True)\n\
         open(os.path.join(args['train_url'], 'pgid'), 'w').write(str(os.getpgid(0)))\n\
         time.sleep({seconds})\n\
         score = float(args['lr']) * int(args['batch']) + (1 if args['opt'] == 'adam' else 0)\n\
         json.dump({{'score': score}}, open(os.path.join(args['train_url'], 'metrics.json'), 'w'))\n"
    )
}

/// A sweep of the 12 combinations of lr x batch x opt over `app`, 3 at a time.
fn grid_sweep(name: &str, app: &str) -> Value {
    json!({
        "sweep_name": name,
        "config": {
            "worker_server_num": 1, "app_url": format!("/{app}/"),
            "boot_file_url": format!("/{app}/boot.py"), "data_url": "/data/",
            "train_url": format!("/out/{name}/"), "spec_id": 1, "engine_id": 1,
        },
        "parameters": {"lr": [0.1, 0.01, 0.001], "batch": [16, 32], "opt": ["sgd", "adam"]},
        "concurrency": "3",
        "objective": {"metric": "score", "goal": "max"},
    })
}

/// Statuses that hold a place of the sweep: being started, running, being stopped.
fn holds_a_place(code: i64) -> bool {
    [4, 8, 9, 15].contains(&code)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grid_sweep_of_12_runs_3_at_a_time_reports_progress_and_its_best_run() {
    // Room for 8 runs at once: only the sweep's concurrency holds the others back.
    let srv =
        TestServer::start_with("[executor]\ncores = 8\nmemory_gb = 64\nstop_grace_seconds = 2\n")
            .await;
    srv.write_app("sweep", &[("boot.py", &sweep_app(0.5))]);
    let api = &srv.api;
    let created = api.post("/sweeps", grid_sweep("grid", "sweep")).await;
    let body = created.assert_ok().clone();
    let id = body["sweep_id"].as_i64().unwrap();
    assert_eq!(body["run_count"], 12);
    assert_eq!(body["concurrency"], 3);
    let (mut most, mut samples, mut completed) = (0, 0, 0);
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let s = api.get(&format!("/sweeps/{id}")).await;
        let s = s.assert_ok();
        let runs = s["runs"].as_array().unwrap();
        assert_eq!(runs.len(), 12);
        let codes: Vec<i64> = runs.iter().map(|r| r["status"].as_i64().unwrap()).collect();
        let running = codes.iter().filter(|c| holds_a_place(**c)).count();
        assert!(running <= 3, "{running} runs at once: {codes:?}");
        most = most.max(running);
        samples += 1;
        // The summary counts the runs as they stand in the same answer.
        let p = &s["progress"];
        let n = |pred: &dyn Fn(i64) -> bool| codes.iter().filter(|c| pred(**c)).count() as i64;
        assert_eq!(p["queued"], n(&|c| [1, 2, 7].contains(&c)), "{s}");
        assert_eq!(p["running"], n(&|c| [4, 8, 9, 15].contains(&c)), "{s}");
        assert_eq!(p["completed"], n(&|c| c == 10), "{s}");
        assert_eq!(p["failed"], 0, "{s}");
        assert_eq!(p["stopped"], 0, "{s}");
        let sum: i64 = ["queued", "running", "completed", "failed", "stopped"]
            .iter()
            .map(|k| p[k].as_i64().unwrap())
            .sum();
        assert_eq!(sum, 12);
        let now = p["completed"].as_i64().unwrap();
        assert!(
            now >= completed,
            "completed went back from {completed} to {now}"
        );
        completed = now;
        if completed == 12 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the sweep did not end: {s}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        most, 3,
        "3 runs at once were never seen in {samples} samples"
    );
    let s = api.get(&format!("/sweeps/{id}")).await.assert_ok().clone();
    // The runs' own start and end times never overlap more than 3 deep.
    let mut edges = Vec::new();
    let mut combos = BTreeSet::new();
    for r in s["runs"].as_array().unwrap() {
        let run = (
            r["job_id"].as_i64().unwrap(),
            r["version_id"].as_i64().unwrap(),
        );
        let (start, end) = span(api, run).await;
        edges.push((start, 1));
        edges.push((end, -1));
        // Each run got its own combination, and its log says so.
        let p = &r["parameters"];
        let combo = format!(
            "combo lr={} batch={} opt={}",
            p["lr"].as_str().unwrap(),
            p["batch"].as_str().unwrap(),
            p["opt"].as_str().unwrap()
        );
        let name = r["job_name"].as_str().unwrap();
        let log = api.log(run.0, run.1, &format!("{name}.0")).await;
        assert!(log.contains(&combo), "{name}'s log lacks {combo}: {log}");
        assert!(combos.insert(combo));
    }
    assert_eq!(combos.len(), 12);
    edges.sort();
    let (mut depth, mut deepest) = (0, 0);
    for (_, d) in edges {
        depth += d;
        deepest = deepest.max(depth);
    }
    assert!(deepest <= 3, "{deepest} runs overlapped");
    // The best by score (max): lr 0.1, batch 32, adam: 0.1 * 32 + 1.
    let best = &s["best"];
    assert_eq!(
        best["parameters"],
        json!({"lr": "0.1", "batch": "32", "opt": "adam"})
    );
    let metric = best["metric"].as_f64().unwrap();
    assert!((metric - 4.2).abs() < 1e-9, "{best}");
    let best_name = best["job_name"].as_str().unwrap().to_owned();
    // The CLI shows the sweep as one row with its progress and best run.
    let home = srv.dir.path().join("cli-home");
    let out = trainyard(&api.base, &home, &["sweep", "list"], &[]).await;
    let line = out
        .ok()
        .lines()
        .find(|l| l.contains("grid"))
        .unwrap_or_default()
        .to_owned();
    assert!(
        line.contains("12") && line.contains(&best_name),
        "{}",
        out.stdout
    );
    let out = trainyard(&api.base, &home, &["sweep", "get", &id.to_string()], &[]).await;
    assert!(out.ok().contains("12 completed"), "{}", out.stdout);
    assert_eq!(
        out.stdout.matches("COMPLETED").count(),
        12,
        "{}",
        out.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_a_running_sweep_ends_all_its_runs_and_leaves_no_process() {
    let srv =
        TestServer::start_with("[executor]\ncores = 8\nmemory_gb = 64\nstop_grace_seconds = 2\n")
            .await;
    srv.write_app("long", &[("boot.py", &sweep_app(60.0))]);
    let api = &srv.api;
    let created = api.post("/sweeps", grid_sweep("long", "long")).await;
    let id = created.assert_ok()["sweep_id"].as_i64().unwrap();
    // Wait until 3 run (each wrote its process group), the 9 others waiting.
    let out_dir = srv.storage().join("out/long");
    let pgid_files = || {
        (0..12)
            .filter_map(|i| std::fs::read_to_string(out_dir.join(format!("{i}/pgid"))).ok())
            .filter_map(|p| p.trim().parse::<i32>().ok())
            .collect::<Vec<i32>>()
    };
    let deadline = std::time::Instant::now() + WITHIN;
    loop {
        let s = api.get(&format!("/sweeps/{id}")).await;
        let p = &s.assert_ok()["progress"];
        if p["running"] == 3 && p["queued"] == 9 && pgid_files().len() == 3 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "3 never ran: {:?}",
            s.body
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let pgids = pgid_files();
    // A waiting run says why: the sweep's concurrency, not the host (it has room).
    let s = api.get(&format!("/sweeps/{id}")).await.assert_ok().clone();
    let waiting = s["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["status"] == 7 || r["status"] == 1)
        .expect("a waiting run")
        .clone();
    let run = (
        waiting["job_id"].as_i64().unwrap(),
        waiting["version_id"].as_i64().unwrap(),
    );
    waits_with(api, run, &format!("sweep {id} at its concurrency 3")).await;
    let stopped = api.post(&format!("/sweeps/{id}/stop"), json!({})).await;
    stopped.assert_ok();
    let s = api.get(&format!("/sweeps/{id}")).await.assert_ok().clone();
    for r in s["runs"].as_array().unwrap() {
        let run = (
            r["job_id"].as_i64().unwrap(),
            r["version_id"].as_i64().unwrap(),
        );
        assert_eq!(ended(api, run).await, JobStatus::KILLED, "{r}");
    }
    let s = api.get(&format!("/sweeps/{id}")).await.assert_ok().clone();
    assert_eq!(
        s["progress"],
        json!({"queued": 0, "running": 0, "completed": 0, "failed": 0, "stopped": 12})
    );
    // Only the 3 that ran ever started; nothing of them is left.
    let pgids_now = (0..12)
        .filter(|i| out_dir.join(format!("{i}/pgid")).exists())
        .count();
    assert_eq!(pgids_now, 3);
    for pgid in pgids {
        assert!(group_alive(pgid).is_empty(), "group {pgid} lives on");
    }
    // Deleted with its jobs.
    api.delete(&format!("/sweeps/{id}")).await.assert_ok();
    api.get(&format!("/sweeps/{id}"))
        .await
        .assert_error(400, "ModelArts.0105");
    let jobs = api.get("/training-jobs").await;
    assert_eq!(jobs.assert_ok()["job_total_count"], 0, "{:?}", jobs.body);
}
