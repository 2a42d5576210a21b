//! Usage accounting end to end: a finished workload (flavors of different sizes, a failed run,
//! a stopped one, two workers, a retried one, users of two identities) and `trainyard usage`
//! (the real binary) agreeing with the durations the API measured times the resources held;
//! CSV and JSON that parse; another project that sees none of it; and the same numbers after a
//! SIGKILL of the server, with a run that ended while it was down counted once.

use crate::harness::*;
use serde_json::json;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;
use trainyard_api::usage::UsageResponse;

const CONFIG: &str = "[executor]\ncores = 16\nmemory_gb = 64\ngpus = [3, 5]\nstop_grace_seconds = 1\n\
    [[specs]]\nspec_id = 11\nspec_code = \"usage.cpu.2\"\ncore = 2\ncpu = 4\nmax_num = 2\n\
    [[specs]]\nspec_id = 12\nspec_code = \"usage.gpu.3\"\ncore = 3\ncpu = 6\ngpu_num = 1\ngpu_type = \"test\"\nmax_num = 1\n";

const USERS: &str = "users = [{ name = \"alice\", password = \"alice-pw\" }]";

/// Resources one job holds: (cores, GPUs, memory GB) of all its workers.
type Held = (f64, f64, f64);

/// A token of user alice, from `POST /v3/auth/tokens`.
async fn alice_token(api: &Api) -> String {
    let body = json!({"auth": {
        "identity": {"methods": ["password"], "password": {"user": {"name": "alice", "password": "alice-pw"}}},
        "scope": {"project": {"id": PROJECT}},
    }});
    let resp = api
        .http
        .post(format!("{}/v3/auth/tokens", api.base))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201, "{:?}", resp.text().await);
    resp.headers()["x-subject-token"]
        .to_str()
        .unwrap()
        .to_owned()
}

/// Seconds the API measured for version `v` of job `j`: each attempt from its `started`
/// event to its `retry_scheduled` or `ended` one for a retried version, else the version's
/// own `duration`.
async fn measured(api: &Api, j: i64, v: i64) -> f64 {
    let events = api
        .get(&format!("/training-jobs/{j}/versions/{v}/events"))
        .await;
    let events = events.assert_ok()["events"].as_array().unwrap().clone();
    let at = |kind: &str| -> Vec<i64> {
        events
            .iter()
            .filter(|e| e["kind"] == kind)
            .map(|e| e["time"].as_i64().unwrap())
            .collect()
    };
    let starts = at("started");
    if starts.len() < 2 {
        let info = api.get(&format!("/training-jobs/{j}/versions/{v}")).await;
        return info.assert_ok()["duration"].as_i64().unwrap() as f64 / 1000.0;
    }
    let mut ends = at("retry_scheduled");
    ends.extend(at("ended"));
    assert_eq!(starts.len(), ends.len(), "{events:?}");
    starts
        .iter()
        .zip(&ends)
        .map(|(s, e)| (e - s) as f64 / 1000.0)
        .sum()
}

#[track_caller]
fn close(got: f64, want: f64, what: &str) {
    // 2 %, and a millisecond of a core's rounding.
    let tolerance = (want.abs() * 0.02).max(0.01);
    assert!(
        (got - want).abs() <= tolerance,
        "{what}: usage says {got}, measured {want}"
    );
}

fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).unwrap().to_string()
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// `trainyard usage --since <since> --until <until> --by <by> -o json` for project `project`.
async fn usage_json(
    base: &str,
    home: &Path,
    by: &str,
    window: (&str, &str),
    creds: (&str, &str),
) -> UsageResponse {
    trainyard(
        base,
        home,
        &[
            "usage", "--since", window.0, "--until", window.1, "--by", by, "-o", "json",
        ],
        &[("TRAINYARD_PROJECT", creds.0), ("TRAINYARD_TOKEN", creds.1)],
    )
    .await
    .json()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_matches_the_measured_runs_and_survives_a_sigkill() {
    let dir = tempdir().unwrap();
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let config = dir.path().join("config.toml");
    write_config(
        &config,
        config_text_with(&dir.path().join("data"), USERS, CONFIG),
    )
    .unwrap();
    let storage = dir.path().join("data/obs").join(PROJECT);
    let gate = dir.path().join("gate");
    write_app(
        &storage,
        "ok",
        &[("boot.py", "import time\ntime.sleep(1.5)\n")],
    );
    write_app(
        &storage,
        "bad",
        &[(
            "boot.py",
            "import sys, time\ntime.sleep(1.0)\nsys.exit(3)\n",
        )],
    );
    write_app(
        &storage,
        "long",
        &[("boot.py", "import time\ntime.sleep(120)\n")],
    );
    write_app(
        &storage,
        "again",
        &[(
            "boot.py",
            "import os, sys, time\ntime.sleep(1.0)\nsys.exit(3 if os.environ['TRAINYARD_ATTEMPT'] == '1' else 0)\n",
        )],
    );
    let gated = format!(
        "import os, time\nwhile not os.path.exists({:?}):\n    time.sleep(0.05)\n",
        gate.display().to_string()
    );
    write_app(&storage, "gated", &[("boot.py", &gated)]);

    let port = free_port();
    let mut server = ServerProcess::start(&config, port).await;
    let api = server.api.clone();
    let since = "2000-01-01";

    // The workload: (job, version, what it holds).
    let mut jobs: Vec<(i64, i64, Held)> = Vec::new();
    let (j, v) = api
        .create_job("two-cores", "ok", json!({"spec_id": 11}))
        .await;
    jobs.push((j, v, (2.0, 0.0, 4.0)));
    let (j, v) = api.create_job("gpu", "ok", json!({"spec_id": 12})).await;
    jobs.push((j, v, (3.0, 1.0, 6.0)));
    let (j, v) = api
        .create_job("pair", "ok", json!({"spec_id": 11, "worker_server_num": 2}))
        .await;
    jobs.push((j, v, (4.0, 0.0, 8.0)));
    let (j, v) = api.create_job("fails", "bad", json!({"spec_id": 11})).await;
    jobs.push((j, v, (2.0, 0.0, 4.0)));
    let retry = json!({"spec_id": 11, "retry_policy": {"max_retries": 1, "on_exit_codes": [3], "backoff_seconds": 0}});
    let (j, v) = api.create_job("retried", "again", retry).await;
    jobs.push((j, v, (2.0, 0.0, 4.0)));
    // Created by user alice (an issued token), not the project token.
    let alice = Api {
        token: alice_token(&api).await,
        ..api.clone()
    };
    let (j, v) = alice
        .create_job("stopped", "long", json!({"spec_id": 11}))
        .await;
    jobs.push((j, v, (2.0, 0.0, 4.0)));
    let (stopped_j, stopped_v) = (j, v);

    api.wait_status(
        stopped_j,
        stopped_v,
        &[JobStatus::RUNNING],
        Duration::from_secs(60),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    api.post(
        &format!("/training-jobs/{stopped_j}/versions/{stopped_v}/stop"),
        json!({}),
    )
    .await
    .assert_ok();
    for &(j, v, _) in &jobs {
        api.wait_status(j, v, JobStatus::TERMINAL, Duration::from_secs(120))
            .await;
    }
    let until = rfc3339(now_ms() + 1);
    let window = (since, until.as_str());
    // What starts from now on lies outside the window.
    tokio::time::sleep(Duration::from_millis(20)).await;

    // By job: each job's measured durations times what it held, within 2 %.
    let by_job = usage_json(&api.base, &home, "job", window, (PROJECT, TOKEN)).await;
    assert_eq!(by_job.rows.len(), jobs.len(), "{by_job:?}");
    let mut want_total = (0.0, 0.0, 0.0);
    for &(j, v, (cores, gpus, mem)) in &jobs {
        let secs = measured(&api, j, v).await;
        let row = by_job
            .rows
            .iter()
            .find(|r| r.key == j.to_string())
            .unwrap_or_else(|| panic!("no row of job {j}: {by_job:?}"));
        close(row.run_seconds, secs, &format!("job {j} running time"));
        close(
            row.core_seconds,
            secs * cores,
            &format!("job {j} core-seconds"),
        );
        close(
            row.gpu_seconds,
            secs * gpus,
            &format!("job {j} GPU-seconds"),
        );
        close(
            row.memory_gb_seconds,
            secs * mem,
            &format!("job {j} memory-GB-seconds"),
        );
        assert!(row.wait_seconds >= 0.0);
        eprintln!(
            "usage: job {j}: measured {secs:.3} s x {cores} cores = {:.3} core-s; usage says {:.3}",
            secs * cores,
            row.core_seconds
        );
        want_total.0 += secs * cores;
        want_total.1 += secs * gpus;
        want_total.2 += secs * mem;
    }
    let names: Vec<&str> = by_job.rows.iter().map(|r| r.name.as_str()).collect();
    assert!(
        names.contains(&"pair") && names.contains(&"retried"),
        "{names:?}"
    );
    // Runs by outcome: each attempt counts; the retried job's first attempt as `retried`.
    let outcomes: BTreeMap<&str, i64> = by_job
        .total
        .runs_by_outcome
        .iter()
        .map(|(k, n)| (k.as_str(), *n))
        .collect();
    assert_eq!(
        outcomes,
        BTreeMap::from([
            ("completed", 4),
            ("failed", 1),
            ("retried", 1),
            ("stopped", 1)
        ])
    );
    assert_eq!(by_job.total.runs, 7);

    // By project, as CSV: one row, the same sums.
    let csv = trainyard(
        &api.base,
        &home,
        &[
            "usage", "--since", since, "--until", &until, "--by", "project", "-o", "csv",
        ],
        &[],
    )
    .await;
    let lines: Vec<&str> = csv.ok().lines().collect();
    assert_eq!(lines.len(), 2, "{}", csv.stdout);
    let header: Vec<&str> = lines[0].split(',').collect();
    let cells: Vec<&str> = lines[1].split(',').collect();
    assert_eq!(header.len(), cells.len());
    let cell = |name: &str| cells[header.iter().position(|h| *h == name).unwrap()];
    assert_eq!(cell("key"), PROJECT);
    assert_eq!(cell("runs"), "7");
    assert_eq!(cell("failed"), "1");
    close(
        cell("core_seconds").parse().unwrap(),
        want_total.0,
        "project core-seconds",
    );
    close(
        cell("gpu_seconds").parse().unwrap(),
        want_total.1,
        "project GPU-seconds",
    );
    close(
        cell("memory_gb_seconds").parse().unwrap(),
        want_total.2,
        "project memory-GB-seconds",
    );

    // By user: alice's stopped run apart from the token's.
    let by_user = usage_json(&api.base, &home, "user", window, (PROJECT, TOKEN)).await;
    let users: Vec<(&str, i64)> = by_user
        .rows
        .iter()
        .map(|r| (r.key.as_str(), r.runs))
        .collect();
    assert_eq!(users, [("alice", 1), ("token", 6)]);

    // The table names its columns and the total.
    let table = trainyard(
        &api.base,
        &home,
        &["usage", "--since", since, "--until", &until, "--by", "job"],
        &[],
    )
    .await;
    assert!(
        table.ok().contains("CORE_H") && table.stdout.contains("total"),
        "{}",
        table.stdout
    );

    // Another project sees none of it.
    let other = usage_json(
        &api.base,
        &home,
        "job",
        window,
        (OTHER_PROJECT, OTHER_TOKEN),
    )
    .await;
    assert!(other.rows.is_empty(), "{other:?}");
    assert_eq!(other.total.runs, 0);

    // A run that ends while the server is down is accounted once, when it is recovered.
    let (late_j, late_v) = api
        .create_job("late", "gated", json!({"spec_id": 12}))
        .await;
    api.wait_status(
        late_j,
        late_v,
        &[JobStatus::RUNNING],
        Duration::from_secs(60),
    )
    .await;
    server.kill9();
    std::fs::write(&gate, "").unwrap();
    let exit = dir.path().join(format!(
        "data/runs/{late_v}/{}",
        trainyard_exec::run_dir::EXIT
    ));
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !exit.exists() {
        assert!(std::time::Instant::now() < deadline, "the run never ended");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let server = ServerProcess::start(&config, port).await;
    let api = server.api.clone();
    api.wait_status(
        late_j,
        late_v,
        &[JobStatus::COMPLETED],
        Duration::from_secs(60),
    )
    .await;

    // The same numbers for the same window after the restart.
    let again = usage_json(&api.base, &home, "job", window, (PROJECT, TOKEN)).await;
    assert_eq!(again, by_job);
    // The late run: once, its measured time times what it held.
    let later = rfc3339(now_ms() + 1);
    let now = usage_json(&api.base, &home, "job", (since, &later), (PROJECT, TOKEN)).await;
    let late = now
        .rows
        .iter()
        .find(|r| r.key == late_j.to_string())
        .expect("the late run is accounted");
    assert_eq!(late.runs, 1);
    assert_eq!(late.runs_by_outcome.get("completed"), Some(&1));
    let secs = measured(&api, late_j, late_v).await;
    close(late.core_seconds, secs * 3.0, "late core-seconds");
    close(late.gpu_seconds, secs, "late GPU-seconds");
    assert_eq!(now.total.runs, 8);

    // A bad window is refused with a ModelArts error.
    api.get("/usage?since=soon")
        .await
        .assert_error(400, "ModelArts.0104");
    api.get("/usage").await.assert_error(400, "ModelArts.0101");
    let backwards = format!("/usage?since={}&until=1", now_ms());
    api.get(&backwards)
        .await
        .assert_error(400, "ModelArts.0104");
}
