//! The event log of runs and hang detection, on one `trainyard serve` process: a run's events
//! in order through the v1 extension endpoint, the v2 events endpoint and the CLI; a user stop
//! says who stopped; another project cannot read them; a silent idle run is stopped as hung
//! within its timeout plus one sample interval and fails with the reason, a chatty one is left
//! alone; every event is still there after a kill -9 and a restart, and a hung run that was
//! being stopped when the server died still ends as hung.

use crate::harness::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// The usage sampling interval of the server (seconds), which hang detection looks at.
const SAMPLE_S: f64 = 1.0;

/// The stop grace (seconds): how long a run that ignores SIGTERM stays being stopped.
const GRACE_S: u64 = 10;

/// `hang_timeout_minutes` of the silent job: 6 s.
const HANG_MINUTES: f64 = 0.1;

struct Setup {
    dir: tempfile::TempDir,
    config: std::path::PathBuf,
}

impl Drop for Setup {
    fn drop(&mut self) {
        kill_runs(&self.dir.path().join("data/runs"));
    }
}

fn setup() -> Setup {
    let dir = tempdir().unwrap();
    let config = dir.path().join("config.toml");
    // A stop's grace long enough for the server to be killed while a hung run is stopped.
    let extra = format!(
        "[executor]\ncores = 64\nmemory_gb = 256\nstop_grace_seconds = {GRACE_S}\n\n\
         [metrics]\nsample_interval_seconds = {SAMPLE_S}\n"
    );
    // The project's hang timeout applies to the jobs that set none.
    let project = format!("hang_timeout_minutes = {HANG_MINUTES}\n");
    let text = config_text_with(&dir.path().join("data"), &project, &extra);
    write_config(&config, text).unwrap();
    Setup { dir, config }
}

/// The events of a version through the v1 extension endpoint.
async fn events(api: &Api, job: i64, version: i64) -> Vec<Value> {
    let r = api
        .get(&format!("/training-jobs/{job}/versions/{version}/events"))
        .await;
    let body = r.assert_ok();
    assert_eq!(body["job_id"], json!(job));
    assert_eq!(body["version_id"], json!(version));
    body["events"].as_array().unwrap().clone()
}

/// A v2 call: (HTTP status, JSON body).
async fn v2(api: &Api, method: &str, path: &str) -> (u16, Value) {
    let url = format!("{}/v2/{}{path}", api.base, api.project);
    let resp = api
        .http
        .request(method.parse().unwrap(), url)
        .header("X-Auth-Token", &api.token)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// A v2 call with a JSON body.
async fn v2_send(api: &Api, method: &str, path: &str, body: &Value) -> (u16, Value) {
    let url = format!("{}/v2/{}{path}", api.base, api.project);
    let resp = api
        .http
        .request(method.parse().unwrap(), url)
        .header("X-Auth-Token", &api.token)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn kinds(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["kind"].as_str().unwrap()).collect()
}

/// Polls the events of a version until one of `kind` is there (they are written beside the
/// status, a moment after it).
async fn wait_event(api: &Api, job: i64, version: i64, kind: &str) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = events(api, job, version).await;
        if kinds(&got).contains(&kind) {
            return got;
        }
        assert!(Instant::now() < deadline, "no {kind} event: {got:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The one event of `kind`.
fn one<'a>(events: &'a [Value], kind: &str) -> &'a Value {
    let found: Vec<&Value> = events.iter().filter(|e| e["kind"] == kind).collect();
    assert_eq!(found.len(), 1, "one {kind} event: {events:#?}");
    found[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_events_in_order_three_ways_kept_across_kill_9_and_hung_runs_fail() {
    let s = setup();
    let storage = s.dir.path().join("data/obs").join(PROJECT);
    write_app(
        &storage,
        "ok",
        &[("boot.py", "print('hello from ok', flush=True)\n")],
    );
    write_app(
        &storage,
        "sleeper",
        &[(
            "boot.py",
            "import time\nprint('sleeping', flush=True)\ntime.sleep(300)\n",
        )],
    );
    // Silent from the start: no byte of output, no CPU.
    write_app(
        &storage,
        "quiet",
        &[("boot.py", "import time\ntime.sleep(300)\n")],
    );
    // Silent, and deaf to SIGTERM: its stop as hung takes the whole grace.
    write_app(
        &storage,
        "stubborn",
        &[(
            "boot.py",
            "import signal, time\nsignal.signal(signal.SIGTERM, lambda *a: None)\ntime.sleep(300)\n",
        )],
    );
    // A line every half second for longer than the hang timeout, then done.
    write_app(
        &storage,
        "chatty",
        &[(
            "boot.py",
            "import time\nfor i in range(24):\n    print('step', i, flush=True)\n    time.sleep(0.5)\n",
        )],
    );
    // Silent in its first attempt (so stopped as hung), done in its second.
    write_app(
        &storage,
        "hangs-once",
        &[(
            "boot.py",
            "import os, time\nif os.environ['TRAINYARD_ATTEMPT'] == '1':\n    time.sleep(300)\n\
             print('attempt', os.environ['TRAINYARD_ATTEMPT'], 'done', flush=True)\n",
        )],
    );
    let port = free_port();
    let mut server = ServerProcess::start(&s.config, port).await;
    let api = server.api.clone();
    // A timeout must be a positive number of minutes (a string of one will do).
    for bad in [json!(0), json!(-1), json!("x"), json!(1e9)] {
        let mut config = json!({"worker_server_num": 1, "app_url": "/ok/",
            "boot_file_url": "/ok/boot.py", "spec_id": 1, "engine_id": 1});
        config["hang_timeout_minutes"] = bad.clone();
        let r = api
            .post(
                "/training-jobs",
                json!({"job_name": "bad-hang", "config": config}),
            )
            .await;
        assert_eq!(r.status, 400, "{bad}: {}", r.body);
    }
    let hang = json!({"hang_timeout_minutes": HANG_MINUTES.to_string()});
    // The quiet job has the project's timeout; the chatty one its own, as short; the sleeper
    // its own, long enough for it to be stopped by its user first.
    let (quiet, quiet_v) = api.create_job("quiet", "quiet", json!({})).await;
    let (stubborn, stubborn_v) = api.create_job("stubborn", "stubborn", json!({})).await;
    let (chatty, chatty_v) = api.create_job("chatty", "chatty", hang).await;
    let (ok, ok_v) = api.create_job("ok", "ok", json!({})).await;
    let long = json!({"hang_timeout_minutes": 10});
    let (sleeper, sleeper_v) = api.create_job("sleeper", "sleeper", long).await;

    // A run that completes: its life in order, each event once.
    let ended = api
        .wait_status(ok, ok_v, JobStatus::TERMINAL, Duration::from_secs(60))
        .await;
    assert_eq!(ended, JobStatus::COMPLETED);
    let got = wait_event(&api, ok, ok_v, "ended").await;
    assert_eq!(
        kinds(&got),
        ["created", "queued", "started", "worker_exited", "ended"],
        "{got:#?}"
    );
    assert!(got
        .windows(2)
        .all(|w| w[0]["seq"].as_i64() < w[1]["seq"].as_i64()));
    assert!(got
        .windows(2)
        .all(|w| w[0]["time"].as_i64() <= w[1]["time"].as_i64()));
    let started = one(&got, "started");
    assert_eq!(started["detail"]["backend"], "local");
    assert!(
        started["detail"]["place"]
            .as_str()
            .unwrap()
            .starts_with("host "),
        "{started}"
    );
    let exited = one(&got, "worker_exited");
    assert_eq!(
        exited["detail"],
        json!({"kind": "worker_exited", "worker": 0, "exit_code": 0, "signal": null})
    );
    assert_eq!(exited["source"], "Task");
    let end = one(&got, "ended");
    assert_eq!(end["detail"]["status"], json!(10));
    assert_eq!(end["detail"]["outcome"], "COMPLETED");
    assert_eq!(end["message"], "Training job completed.");

    // The CLI shows the same, one line each.
    let home = tempdir().unwrap();
    let out = trainyard(&api.base, home.path(), &["jobs", "events", "ok"], &[]).await;
    let text = out.ok();
    for message in [
        "Training job created.",
        "Training job completed.",
        "Exit code 0.",
    ] {
        assert!(text.contains(message), "{text}");
    }
    let json_out = trainyard(
        &api.base,
        home.path(),
        &["-o", "json", "jobs", "events", "ok"],
        &[],
    )
    .await;
    let cli: Value = json_out.json();
    assert_eq!(cli["events"], json!(got));

    // A v2 job's events (T2-12) come from its log, in ModelArts' words; the CLI shows them.
    let flavors = v2(&api, "GET", "/training-job-flavors?flavor_type=CPU").await;
    let flavor = flavors.1["flavors"][0]["flavor_id"].clone();
    assert!(flavor.is_string(), "{}", flavors.1);
    let doc = json!({
        "kind": "job",
        "metadata": {"name": "ok-v2"},
        "algorithm": {
            "code_dir": "/ok/",
            "boot_file": "/ok/boot.py",
            "engine": {"engine_id": "python3"},
        },
        "spec": {"resource": {"flavor_id": flavor, "node_count": 1}},
    });
    let r = v2_send(&api, "POST", "/training-jobs", &doc).await;
    assert_eq!(r.0, 201, "{}", r.1);
    let v2_id = r.1["metadata"]["id"].as_str().unwrap().to_owned();
    // v2's `hang-retry` annotation: the project's hang timeout stops the silent first
    // attempt as hung, and the second runs.
    let mut hang_doc = doc.clone();
    hang_doc["metadata"] = json!({"name": "hangs-once",
        "annotations": {"fault-tolerance/hang-retry": "true"}});
    hang_doc["algorithm"]["code_dir"] = json!("/hangs-once/");
    hang_doc["algorithm"]["boot_file"] = json!("/hangs-once/boot.py");
    let r = v2_send(&api, "POST", "/training-jobs", &hang_doc).await;
    assert_eq!(r.0, 201, "{}", r.1);
    let hang_id = r.1["metadata"]["id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(60);
    let messages = loop {
        let r = v2(
            &api,
            "GET",
            &format!("/training-jobs/{v2_id}/events?order=asc"),
        )
        .await;
        assert_eq!(r.0, 200, "{}", r.1);
        let messages: Vec<String> = r.1["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["message"].as_str().unwrap().to_owned())
            .collect();
        if messages
            .last()
            .is_some_and(|m| m.starts_with("Training job completed"))
        {
            assert_eq!(r.1["total"], json!(messages.len()));
            break messages;
        }
        assert!(Instant::now() < deadline, "{messages:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        messages,
        [
            "Training job created.",
            "Training job is queued: waiting for its start.",
            "Training job is running.",
            "[worker-0] training started.",
            "[worker-0] Training finished. Exit code 0.",
            "Training job completed.",
        ]
    );
    let deadline = Instant::now() + Duration::from_secs(90);
    let hang_messages = loop {
        let r = v2(
            &api,
            "GET",
            &format!("/training-jobs/{hang_id}/events?order=asc"),
        )
        .await;
        assert_eq!(r.0, 200, "{}", r.1);
        let messages: Vec<String> = r.1["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["message"].as_str().unwrap().to_owned())
            .collect();
        if messages
            .last()
            .is_some_and(|m| m.starts_with("Training job completed"))
        {
            break messages;
        }
        assert!(Instant::now() < deadline, "{messages:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let position = |prefix: &str| {
        let found = hang_messages.iter().position(|m| m.starts_with(prefix));
        found.unwrap_or_else(|| panic!("no {prefix:?} in {hang_messages:?}"))
    };
    assert!(
        position("Training job seems hung")
            < position("Training job will restart (attempt 2 of 4)"),
        "{hang_messages:?}"
    );
    let shown = v2(&api, "GET", &format!("/training-jobs/{hang_id}")).await;
    assert_eq!(shown.1["status"]["phase"], "Completed", "{}", shown.1);
    let out = trainyard(&api.base, home.path(), &["jobs", "events", &v2_id], &[]).await;
    assert!(
        out.ok().contains("[worker-0] training started."),
        "{}",
        out.stdout
    );

    // A user stop: who stopped it, then its end.
    api.wait_status(
        sleeper,
        sleeper_v,
        &[JobStatus::RUNNING],
        Duration::from_secs(30),
    )
    .await;
    api.post(
        &format!("/training-jobs/{sleeper}/versions/{sleeper_v}/stop"),
        json!({}),
    )
    .await
    .assert_ok();
    api.wait_status(
        sleeper,
        sleeper_v,
        &[JobStatus::KILLED],
        Duration::from_secs(30),
    )
    .await;
    let got = wait_event(&api, sleeper, sleeper_v, "ended").await;
    let stop = one(&got, "stop_requested");
    assert_eq!(stop["detail"]["by"], "user");
    assert_eq!(stop["message"], "Training job is terminating (by a user).");
    assert_eq!(one(&got, "ended")["detail"]["status"], json!(12));
    let k = kinds(&got);
    let at = |kind| k.iter().position(|x| *x == kind).unwrap();
    assert!(
        at("started") < at("stop_requested") && at("stop_requested") < at("ended"),
        "{k:?}"
    );

    // Another project's token reads nothing of it.
    let (_, other) = api_pair(api.base.clone());
    other
        .get(&format!("/training-jobs/{ok}/versions/{ok_v}/events"))
        .await
        .assert_error(400, "ModelArts.0105");
    let r = v2(&other, "GET", &format!("/training-jobs/{v2_id}/events")).await;
    assert_eq!(
        (r.0, &r.1["error_code"]),
        (400, &json!("ModelArts.2775")),
        "{}",
        r.1
    );

    // The silent run is flagged within its timeout plus one sample interval of its start
    // (and a little for a loaded machine), stopped, and fails with the reason.
    let ended = api
        .wait_status(quiet, quiet_v, JobStatus::TERMINAL, Duration::from_secs(60))
        .await;
    assert_eq!(ended, JobStatus::FAILED);
    let got = wait_event(&api, quiet, quiet_v, "ended").await;
    let started = one(&got, "started")["time"].as_i64().unwrap();
    let flagged = one(&got, "hang_suspected");
    let quiet_s = flagged["detail"]["quiet_s"].as_u64().unwrap();
    assert!(quiet_s >= 6, "{flagged}");
    let reason = format!("hung: no output and no CPU for {quiet_s} s");
    assert_eq!(one(&got, "ended")["detail"]["reason"], json!(reason));
    assert_eq!(
        one(&got, "ended")["message"],
        json!(format!("Training job failed: {reason}."))
    );
    let after_ms = flagged["time"].as_i64().unwrap() - started;
    let bound_ms = (HANG_MINUTES * 60_000.0 + SAMPLE_S * 1000.0) as i64 + 3_000;
    assert!(
        after_ms <= bound_ms,
        "flagged {after_ms} ms after the start, bound {bound_ms} ms"
    );
    assert_eq!(one(&got, "stop_requested")["detail"]["by"], "hang");
    assert_eq!(one(&got, "ended")["detail"]["status"], json!(11));
    assert_eq!(one(&got, "ended")["level"], "Error");
    let k = kinds(&got);
    let at = |kind| k.iter().position(|x| *x == kind).unwrap();
    assert!(at("hang_suspected") < at("stop_requested") && at("stop_requested") < at("ended"));
    assert!(api
        .log(quiet, quiet_v, "quiet.0")
        .await
        .contains("[trainyard] hung: no output and no CPU for"));

    // kill -9 while the stubborn run is being stopped as hung, and a restart: every event is
    // still there, unchanged, and the stubborn run still ends as hung (the new server reads
    // the hang from its event log).
    let got = wait_event(&api, stubborn, stubborn_v, "hang_suspected").await;
    assert!(!kinds(&got).contains(&"ended"), "{got:#?}");
    let before: Vec<Vec<Value>> = vec![
        events(&api, ok, ok_v).await,
        events(&api, sleeper, sleeper_v).await,
        events(&api, quiet, quiet_v).await,
    ];
    server.kill9();
    let server = ServerProcess::start(&s.config, port).await;
    let after = vec![
        events(&server.api, ok, ok_v).await,
        events(&server.api, sleeper, sleeper_v).await,
        events(&server.api, quiet, quiet_v).await,
    ];
    assert_eq!(before, after);
    let api = server.api.clone();
    let ended = api
        .wait_status(
            stubborn,
            stubborn_v,
            JobStatus::TERMINAL,
            Duration::from_secs(GRACE_S + 30),
        )
        .await;
    assert_eq!(ended, JobStatus::FAILED);
    let got = wait_event(&api, stubborn, stubborn_v, "ended").await;
    let quiet_s = one(&got, "hang_suspected")["detail"]["quiet_s"].clone();
    assert_eq!(
        one(&got, "ended")["detail"]["reason"],
        json!(format!("hung: no output and no CPU for {quiet_s} s"))
    );

    // The chatty run outlived the timeout and completed, never flagged.
    let ended = api
        .wait_status(
            chatty,
            chatty_v,
            JobStatus::TERMINAL,
            Duration::from_secs(60),
        )
        .await;
    assert_eq!(ended, JobStatus::COMPLETED);
    let got = wait_event(&api, chatty, chatty_v, "ended").await;
    assert!(!kinds(&got).contains(&"hang_suspected"), "{got:#?}");
}
