//! Observability: resource series of runs (`system_metric_list`, per-pod metric-statistic),
//! `/metrics` in the Prometheus text format, `/openapi.json`, and the server's log format.

use crate::harness::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Samples every second, so a test sees several within seconds.
const FAST_SAMPLING: &str = "[metrics]\nsample_interval_seconds = 1\n";

const NINE_KEYS: [&str; 9] = [
    "cpuUsage",
    "memUsage",
    "gpuUtil",
    "gpuMemUsage",
    "diskReadRate",
    "diskWriteRate",
    "recvBytesRate",
    "sendBytesRate",
    "interval",
];

/// Checks the contract's shape (api.md §2.5) and returns the series as numbers.
#[track_caller]
fn series(m: &Value, key: &str) -> Vec<f64> {
    let obj = m
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {m}"));
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    let mut want = NINE_KEYS.to_vec();
    want.sort_unstable();
    assert_eq!(keys, want, "{m}");
    assert!(m["interval"].is_u64(), "{m}");
    m[key]
        .as_array()
        .unwrap_or_else(|| panic!("{key} is not an array: {m}"))
        .iter()
        .map(|v| {
            let s = v.as_str().unwrap_or_else(|| panic!("not a string: {v}"));
            s.parse::<f64>()
                .unwrap_or_else(|_| panic!("not decimal: {s}"))
        })
        .collect()
}

/// TJ-03's object and TJ-05's JSON string of the same version.
async fn both_shapes(api: &Api, job: i64, version: i64) -> (Value, Value) {
    let detail = api
        .get(&format!("/training-jobs/{job}/versions/{version}"))
        .await;
    let detail = detail.assert_ok()["system_metric_list"].clone();
    let list = api.get(&format!("/training-jobs/{job}/versions")).await;
    let item = list.assert_ok()["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["version_id"] == json!(version))
        .cloned()
        .expect("the version in TJ-05");
    let text = item["system_metric_list"]
        .as_str()
        .unwrap_or_else(|| panic!("TJ-05 has a JSON string: {item}"));
    (detail, serde_json::from_str(text).expect("valid JSON"))
}

fn progress(path: &std::path::Path) -> Option<Value> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

async fn wait_progress(path: &std::path::Path, cond: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Some(p) = progress(path).filter(|p| cond(p)) {
            return p;
        }
        assert!(Instant::now() < deadline, "progress never matched");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The acceptance scenario: a worker burns one core for 30 s, then holds 200 MiB. Its CPU
/// series matches the CPU time the job itself measured (tolerance: 20 percentage points of
/// one core), its memory series shows the 200 MiB (between 200 and 300 MiB of the spec's
/// 2 GiB), in TJ-03's object and TJ-05's string alike; after a kill -9 of the server and a
/// restart the series are still there and keep growing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cpu_and_memory_series_survive_a_server_kill_9() {
    let dir = tempdir().unwrap();
    let config = dir.path().join("config.toml");
    let data = dir.path().join("data");
    write_config(&config, config_text(&data, FAST_SAMPLING)).unwrap();
    let progress_file = shared_dir(&dir.path().join("progress")).join("progress.json");
    let boot = r#"
import json, os, sys, time
args = dict(a[2:].split("=", 1) for a in sys.argv[1:] if a.startswith("--") and "=" in a)
out = args["progress"]
t0, c0 = time.time(), time.process_time()
def note(phase):
    with open(out + ".tmp", "w") as f:
        json.dump({"phase": phase, "wall": time.time() - t0, "cpu": time.process_time() - c0}, f)
    os.replace(out + ".tmp", out)
last = 0.0
while time.time() - t0 < 30:
    if time.time() - last > 0.5:
        note("burn")
        last = time.time()
block = b"x" * (200 << 20)
note("allocated")
while time.time() - t0 < 90:
    time.sleep(0.2)
"#;
    write_app(
        &data.join("obs").join(PROJECT),
        "burn",
        &[("boot.py", boot)],
    );
    let port = free_port();
    let mut server = ServerProcess::start(&config, port).await;
    let param = json!([{"label": "progress", "value": progress_file.display().to_string()}]);
    // The burn (its first 30 s) is measured twice, by the job and by the samples: nothing
    // heavy runs beside it.
    let measuring = measuring().await;
    let (job, ver) = server
        .api
        .create_job("burn", "burn", json!({"parameter": param}))
        .await;
    server
        .api
        .wait_status(job, ver, &[JobStatus::RUNNING], Duration::from_secs(30))
        .await;

    // Burning: one point so far (a run under a minute is one point of its mean).
    let p = wait_progress(&progress_file, |p| {
        p["phase"] == "burn" && p["wall"].as_f64().unwrap() > 20.0
    })
    .await;
    let measured = 100.0 * p["cpu"].as_f64().unwrap() / p["wall"].as_f64().unwrap();
    let (detail, listed) = both_shapes(&server.api, job, ver).await;
    let cpu = series(&detail, "cpuUsage");
    assert_eq!(cpu.len(), 1, "{detail}");
    assert_eq!(detail["interval"], json!(1), "{detail}");
    assert!(
        // The job's own measure is the truth; the floor only rules out two idle figures
        // agreeing (a loaded machine left the burn 28 % of a core).
        (cpu[0] - measured).abs() <= 20.0 && cpu[0] > 10.0,
        "cpuUsage {} vs the job's own measure {measured:.1} % of one core",
        cpu[0]
    );
    assert_eq!(series(&listed, "cpuUsage").len(), 1, "{listed}");
    // No GPUs here: present and empty.
    assert!(series(&detail, "gpuUtil").is_empty());
    assert!(series(&detail, "gpuMemUsage").is_empty());
    assert_eq!(series(&detail, "memUsage").len(), 1);

    // Holding 200 MiB: let a few samples see it, then kill the server.
    wait_progress(&progress_file, |p| p["phase"] == "allocated").await;
    drop(measuring);
    tokio::time::sleep(Duration::from_secs(3)).await;
    server.kill9();
    let server = ServerProcess::start(&config, port).await;
    let (detail, _) = both_shapes(&server.api, job, ver).await;
    assert_eq!(
        series(&detail, "cpuUsage").len(),
        1,
        "still there: {detail}"
    );
    assert!(series(&detail, "cpuUsage")[0] > 30.0, "{detail}");

    // Past the first minute the shim (which never stopped) has added a second point.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (detail, listed) = both_shapes(&server.api, job, ver).await;
        if series(&detail, "memUsage").len() >= 2 && series(&listed, "memUsage").len() >= 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the series stopped growing: {detail}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Wait a few samples into the second minute, so its point is not a single sample.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let (detail, _) = both_shapes(&server.api, job, ver).await;
    let mem = series(&detail, "memUsage");
    let spec_bytes = 2.0 * (1u64 << 30) as f64;
    let held = mem[1] / 100.0 * spec_bytes / (1 << 20) as f64;
    assert!(
        (200.0..300.0).contains(&held),
        "memUsage {} % of 2 GiB = {held:.0} MiB, want about 200 MiB: {detail}",
        mem[1]
    );
    // The burn is over: the second minute shows an idle worker.
    assert!(series(&detail, "cpuUsage")[1] < 30.0, "{detail}");

    // The same worker through the per-pod API; an unknown pod is refused.
    let pod = server
        .api
        .get(&format!(
            "/training-jobs/{job}/versions/{ver}/pod/worker-0/metric-statistic"
        ))
        .await;
    let body = pod.assert_ok();
    assert_eq!(body["pod_name"], json!("worker-0"));
    assert!(series(&body["system_metric_list"], "memUsage").len() >= 2);
    server
        .api
        .get(&format!(
            "/training-jobs/{job}/versions/{ver}/pod/worker-1/metric-statistic"
        ))
        .await
        .assert_error(400, "ModelArts.0105");

    let stop = server
        .api
        .post(
            &format!("/training-jobs/{job}/versions/{ver}/stop"),
            json!({"grace_period_seconds": 0}),
        )
        .await;
    stop.assert_ok();
    server
        .api
        .wait_status(job, ver, &[JobStatus::KILLED], Duration::from_secs(30))
        .await;
    kill_runs(&data.join("runs"));
}

/// GPUs handed out on a host without NVIDIA drivers (or with other GPUs): the run completes
/// and its GPU series are present and empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gpu_series_are_empty_without_nvml() {
    let srv = TestServer::start_with(&format!(
        "[executor]\ncores = 8\nmemory_gb = 32\ngpus = [3, 5]\nstop_grace_seconds = 1\n\
         [[specs]]\nspec_id = 4\nspec_code = \"modelarts.vm.gpu.1\"\ncore = 1\ncpu = 2\ngpu_num = 1\ngpu_type = \"test\"\nmax_num = 2\n\
         {FAST_SAMPLING}"
    ))
    .await;
    srv.write_app(
        "gpu",
        &[(
            "boot.py",
            "import time\nt = time.time()\nwhile time.time() - t < 3:\n    pass\n",
        )],
    );
    let (job, ver) = srv.api.create_job("g", "gpu", json!({"spec_id": 4})).await;
    let status = srv
        .api
        .wait_status(
            job,
            ver,
            &[JobStatus::COMPLETED, JobStatus::FAILED],
            Duration::from_secs(60),
        )
        .await;
    assert_eq!(status, JobStatus::COMPLETED);
    let (detail, listed) = both_shapes(&srv.api, job, ver).await;
    for m in [&detail, &listed] {
        assert!(series(m, "gpuUtil").is_empty(), "{m}");
        assert!(series(m, "gpuMemUsage").is_empty(), "{m}");
        assert_eq!(series(m, "cpuUsage").len(), 1, "{m}");
        assert!(series(m, "cpuUsage")[0] > 0.0, "{m}");
    }
}

/// `/metrics` parses as Prometheus text, and its numbers move as jobs are created, run and
/// stopped and as the API is used.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_counters_move_with_jobs() {
    let srv = TestServer::start().await;
    let before = scrape(&srv.api).await;
    assert_eq!(
        metric(&before, "trainyard_versions_created_total", &[]),
        0.0
    );
    assert_eq!(metric(&before, "trainyard_runs_started_total", &[]), 0.0);
    assert_eq!(
        metric(
            &before,
            "trainyard_executor_slots",
            &[("resource", "cores"), ("state", "free")]
        ),
        64.0
    );

    srv.write_app("sleepy", &[("boot.py", "import time\ntime.sleep(600)\n")]);
    let (job, ver) = srv.api.create_job("sleepy", "sleepy", json!({})).await;
    srv.api
        .wait_status(job, ver, &[JobStatus::RUNNING], Duration::from_secs(30))
        .await;
    let running = scrape(&srv.api).await;
    assert_eq!(
        metric(&running, "trainyard_versions_created_total", &[]),
        1.0
    );
    assert_eq!(metric(&running, "trainyard_runs_started_total", &[]), 1.0);
    assert_eq!(
        metric(
            &running,
            "trainyard_versions",
            &[("project", PROJECT), ("status", "running")]
        ),
        1.0
    );
    assert_eq!(
        metric(
            &running,
            "trainyard_executor_slots",
            &[("resource", "cores"), ("state", "used")]
        ),
        1.0
    );
    assert_eq!(
        metric(&running, "trainyard_run_start_duration_seconds", &[]),
        1.0
    );
    let create_route = "/v1/:project_id/training-jobs";
    assert_eq!(
        metric(
            &running,
            "trainyard_http_requests_total",
            &[("method", "POST"), ("route", create_route), ("code", "200")]
        ),
        1.0
    );

    srv.api
        .post(
            &format!("/training-jobs/{job}/versions/{ver}/stop"),
            json!({"grace_period_seconds": 1}),
        )
        .await
        .assert_ok();
    srv.api
        .wait_status(job, ver, &[JobStatus::KILLED], Duration::from_secs(30))
        .await;
    let stopped = scrape(&srv.api).await;
    assert_eq!(
        metric(&stopped, "trainyard_stops_requested_total", &[]),
        1.0
    );
    assert_eq!(
        metric(
            &stopped,
            "trainyard_runs_ended_total",
            &[("status", "killed")]
        ),
        1.0
    );
    assert_eq!(
        metric(&stopped, "trainyard_run_stop_duration_seconds", &[]),
        1.0
    );
    // Usage: the stopped run is accounted for its project, its core-seconds (spec 1: one
    // core, 2 GB) those of its measured duration.
    let project = [("project", PROJECT)];
    assert_eq!(
        metric(
            &stopped,
            "trainyard_usage_runs_total",
            &[("project", PROJECT), ("outcome", "stopped")]
        ),
        1.0
    );
    let info = srv
        .api
        .get(&format!("/training-jobs/{job}/versions/{ver}"))
        .await;
    let secs = info.assert_ok()["duration"].as_f64().unwrap() / 1000.0;
    let core_s = metric(&stopped, "trainyard_usage_core_seconds_total", &project);
    assert!(
        secs > 0.0 && (core_s - secs).abs() < 0.01,
        "{core_s} core-s for a run of {secs} s"
    );
    let memory = metric(
        &stopped,
        "trainyard_usage_memory_gb_seconds_total",
        &project,
    );
    assert!((memory - 2.0 * secs).abs() < 0.01, "{memory} GB-s");
    assert_eq!(
        metric(&stopped, "trainyard_usage_gpu_seconds_total", &project),
        0.0
    );
    assert!(metric(&stopped, "trainyard_usage_wait_seconds_total", &project) >= 0.0);
    assert_eq!(
        metric(&before, "trainyard_usage_runs_total", &[]),
        0.0,
        "nothing is accounted before a run ends"
    );
    assert_eq!(
        metric(
            &stopped,
            "trainyard_versions",
            &[("project", PROJECT), ("status", "killed")]
        ),
        1.0
    );
    assert_eq!(
        metric(
            &stopped,
            "trainyard_executor_slots",
            &[("resource", "cores"), ("state", "used")]
        ),
        0.0
    );
    assert!(
        metric(
            &stopped,
            "trainyard_http_requests_total",
            &[(
                "route",
                "/v1/:project_id/training-jobs/:job_id/versions/:version_id"
            )]
        ) >= 2.0
    );
}

/// Creates a job with a given `x-request-id` on `api`'s server.
async fn create_with_request_id(api: &Api, name: &str, request_id: &str) {
    let body = json!({"job_name": name, "config": {
        "worker_server_num": 1, "app_url": "/quick/", "boot_file_url": "/quick/boot.py",
        "data_url": "/data/", "spec_id": 1, "engine_id": 1}});
    let resp = api
        .http
        .post(api.url("/training-jobs"))
        .header("X-Auth-Token", &api.token)
        .header("x-request-id", request_id)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-request-id"], request_id);
}

/// Waits until the server's log at `path` has a line containing both `a` and `b`.
async fn log_line_with(path: &std::path::Path, a: &str, b: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| l.contains(a) && l.contains(b)) {
            return line.to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "no line with {a} and {b}:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `--log-format json` writes one JSON object per line, the request id in the request's
/// span; the default text format written to a file (not a terminal) has no ANSI colours.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_are_json_on_request_and_never_coloured_off_a_terminal() {
    let dir = tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("config.toml");
    write_config(&config, config_text(&data, "")).unwrap();
    write_app(
        &data.join("obs").join(PROJECT),
        "quick",
        &[("boot.py", "print('hi')\n")],
    );

    let json_log = dir.path().join("json.log");
    let port = free_port();
    let args = [
        "--config".as_ref(),
        config.as_os_str(),
        "--log-format".as_ref(),
        "json".as_ref(),
    ];
    let mut server = ServerProcess::start_args(&args, &json_log, port).await;
    create_with_request_id(&server.api, "json-job", "req-json-1").await;
    let line = log_line_with(&json_log, "job queued", "req-json-1").await;
    let entry: Value = serde_json::from_str(&line).expect("a JSON log line");
    assert_eq!(entry["fields"]["message"], json!("job queued"), "{line}");
    assert_eq!(entry["span"]["request_id"], json!("req-json-1"), "{line}");
    let text = std::fs::read_to_string(&json_log).unwrap();
    for l in text.lines().filter(|l| !l.trim().is_empty()) {
        serde_json::from_str::<Value>(l).unwrap_or_else(|_| panic!("not JSON: {l}"));
    }
    server.kill9();

    let text_log = dir.path().join("text.log");
    let port = free_port();
    let server =
        ServerProcess::start_args(&["--config".as_ref(), config.as_os_str()], &text_log, port)
            .await;
    create_with_request_id(&server.api, "text-job", "req-text-1").await;
    log_line_with(&text_log, "job queued", "req-text-1").await;
    let bytes = std::fs::read(&text_log).unwrap();
    assert!(!bytes.contains(&0x1b), "ANSI escape in a redirected log");
    drop(server);
    kill_runs(&data.join("runs"));
}

/// `/openapi.json` is an OpenAPI 3.1 document whose schemas are the API types' generated
/// ones, every `$ref` resolves, and every operation it lists is routed by the server (a
/// request with made-up ids gets an answer of that endpoint, never "unknown route" or
/// "method not allowed").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_document_matches_the_router() {
    let srv = TestServer::start().await;
    let doc: Value = srv
        .api
        .http
        .get(format!("{}/openapi.json", srv.api.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["openapi"], json!("3.1.0"));
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    // Generated, not written: the served schema is the type's derived one.
    let derived = serde_json::to_value(
        <trainyard_api::training::VersionInfo as utoipa::PartialSchema>::schema(),
    )
    .unwrap();
    assert_eq!(schemas["VersionInfo"], derived);
    let text = doc.to_string();
    for piece in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = &piece[..piece.find('"').unwrap()];
        assert!(schemas.contains_key(name), "dangling $ref {name}");
    }
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 19, "{}", paths.len());
    let mut operations = 0;
    for (path, item) in paths {
        assert!(
            path.starts_with("/v1/{project_id}/") || path.starts_with("/v2/{project_id}/"),
            "{path}"
        );
        for (method, _) in item.as_object().unwrap() {
            let url = path
                .replace("{project_id}", PROJECT)
                .replace("{pod_name}", "worker-0")
                .replace("{config_name}", "nothing")
                .replace("{job_id}", "999")
                .replace("{version_id}", "999")
                .replace("{training_job_id}", "no-such-job")
                .replace("{task_id}", "worker-0");
            let url = format!("{}{url}?path=/x/&log_file=x", srv.api.base);
            let resp = srv
                .api
                .http
                .request(method.to_uppercase().parse().unwrap(), &url)
                .header("X-Auth-Token", TOKEN)
                .header("Content-Type", "application/json")
                .body("{}")
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            let code = body["error_code"].as_str().unwrap_or("");
            assert!(
                !matches!(code, "ModelArts.0015" | "ModelArts.2803" | "ModelArts.2836")
                    && status < 500,
                "{method} {path}: {status} {body}"
            );
            operations += 1;
        }
    }
    assert!(operations >= 30, "{operations}");
}
