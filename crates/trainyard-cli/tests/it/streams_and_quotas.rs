//! Issue #25's log-stream and disk limits on a running server: the per-project cap on open
//! log streams, a worker log's size cap (`[logs] max_log_bytes`, truncate or fail), and the
//! per-project storage quota on uploads, S3 PUTs and jobs' outputs.

use crate::harness::*;
use serde_json::json;
use std::time::{Duration, Instant};

/// A job that prints `ready`, then waits for the file `go` and prints `last line`.
fn waiting_boot(go: &std::path::Path) -> String {
    format!(
        "import os, time\nprint('ready', flush=True)\nwhile not os.path.exists({go:?}):\n    time.sleep(0.05)\nprint('last line', flush=True)\n",
        go = go.display().to_string()
    )
}

fn stream_url(api: &Api, job: i64, ver: i64, file: &str) -> String {
    api.url(&format!(
        "/training-jobs/{job}/versions/{ver}/log/stream?log_file={file}"
    ))
}

async fn open_stream(api: &Api, url: &str) -> reqwest::Response {
    api.http
        .get(url)
        .header("X-Auth-Token", &api.token)
        .send()
        .await
        .expect("request")
}

/// Reads a stream until its body contains `needle`.
async fn read_until(resp: &mut reqwest::Response, needle: &str) -> String {
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), async {
        while !String::from_utf8_lossy(&got).contains(needle) {
            let chunk = resp.chunk().await.unwrap().expect("stream ended early");
            got.extend_from_slice(&chunk);
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{needle:?} never came: {}", String::from_utf8_lossy(&got)));
    String::from_utf8_lossy(&got).into_owned()
}

/// Reads a stream to its end.
async fn read_to_end(mut resp: reqwest::Response) -> String {
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(chunk) = resp.chunk().await.unwrap() {
            got.extend_from_slice(&chunk);
        }
    })
    .await
    .expect("the stream ends with its run");
    String::from_utf8_lossy(&got).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_streams_are_capped_per_project_and_end_with_their_run() {
    let srv = TestServer::start_with("[logs]\nmax_streams_per_project = 2\n").await;
    let go = srv.dir.path().join("go");
    srv.write_app("capped", &[("boot.py", &waiting_boot(&go))]);
    let (job, ver) = srv.api.create_job("capped", "capped", json!({})).await;
    srv.api.wait_log(job, ver, "capped.0", "ready").await;
    let url = stream_url(&srv.api, job, ver, "capped.0");

    let mut first = open_stream(&srv.api, &url).await;
    assert_eq!(first.status(), 200);
    read_until(&mut first, "ready\n").await;
    let mut second = open_stream(&srv.api, &url).await;
    assert_eq!(second.status(), 200);
    read_until(&mut second, "ready\n").await;

    // A third stream of the project is refused, in the ModelArts error shape, with a hint
    // of when to come back.
    let third = open_stream(&srv.api, &url).await;
    assert_eq!(third.status(), 429);
    assert_eq!(
        third
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap()),
        Some("1")
    );
    let body: serde_json::Value = third.json().await.unwrap();
    assert_eq!(body["is_success"], json!(false), "{body}");
    assert_eq!(body["error_code"], json!("ModelArts.2799"), "{body}");
    assert!(
        body["error_message"]
            .as_str()
            .unwrap()
            .contains("max_streams_per_project"),
        "{body}"
    );

    // A client that goes away gives its slot back.
    drop(second);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut again = loop {
        let r = open_stream(&srv.api, &url).await;
        if r.status() == 200 {
            break r;
        }
        assert_eq!(r.status(), 429);
        assert!(Instant::now() < deadline, "the closed stream kept its slot");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    read_until(&mut again, "ready\n").await;

    // The run ends: both followers get the rest and their streams end.
    std::fs::write(&go, "").unwrap();
    let (a, b) = tokio::join!(read_to_end(first), read_to_end(again));
    for rest in [a, b] {
        assert!(rest.contains("last line\n"), "{rest}");
        assert!(
            rest.contains("[trainyard] worker 0 exited with code 0"),
            "{rest}"
        );
    }
    assert_eq!(
        srv.api
            .wait_status(job, ver, JobStatus::TERMINAL, Duration::from_secs(30))
            .await,
        JobStatus::COMPLETED
    );
}

/// The bytes of a worker log, whole (a stream that does not follow).
async fn whole_log(api: &Api, job: i64, ver: i64, file: &str) -> Vec<u8> {
    let url = format!("{}&follow=false", stream_url(api, job, ver, file));
    let resp = open_stream(api, &url).await;
    assert_eq!(resp.status(), 200);
    resp.bytes().await.unwrap().to_vec()
}

/// Writes `n` numbered lines of 32 bytes to stdout and stderr by turns.
const FLOOD: &str = "import sys\nfor i in range(N):\n    out = sys.stdout if i % 2 == 0 else sys.stderr\n    out.write(f'line {i:06d} ' + 'x' * 19 + '\\n')\n    out.flush()\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_past_max_log_bytes_is_cut_with_a_marker_and_the_run_goes_on() {
    let srv = TestServer::start_with("[logs]\nmax_log_bytes = 20000\n").await;
    let boot = format!(
        "{}print('still running', file=sys.stderr, flush=True)\n",
        FLOOD.replace('N', "5000")
    );
    srv.write_app("flood", &[("boot.py", &boot)]);
    let (job, ver) = srv.api.create_job("flood", "flood", json!({})).await;
    let end = srv
        .api
        .wait_status(job, ver, JobStatus::TERMINAL, Duration::from_secs(60))
        .await;
    assert_eq!(end, JobStatus::COMPLETED, "the run went on past the cap");

    let log = whole_log(&srv.api, job, ver, "flood.0").await;
    let text = String::from_utf8_lossy(&log);
    // 160,000 bytes written; 20,000 kept, then the marker and the shim's exit line.
    assert!(log.len() < 20_000 + 300, "{} bytes", log.len());
    assert!(text.starts_with("line 000000 "), "{}", &text[..40]);
    let marker = "[trainyard] log limit of 20000 bytes reached (max_log_bytes); further output of this worker is discarded (on_log_limit = \"truncate\")";
    let at = text.find(marker).expect("the marker line");
    assert!(text[..at].ends_with('\n'), "the marker starts a line");
    assert!(
        !text.contains("still running"),
        "output past the cap is dropped"
    );
    assert!(
        text[at..].contains("\n[trainyard] worker 0 exited with code 0\n"),
        "{}",
        &text[at..]
    );
    // The line reader pages the cut log as any other.
    let last = srv.api.log(job, ver, "flood.0").await;
    let lines: Vec<&str> = last.lines().collect();
    assert_eq!(lines[lines.len() - 2], marker, "{last}");
    assert!(lines[0].starts_with("line 000"), "{last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_log_limit_fail_stops_the_run_and_fails_it() {
    let srv =
        TestServer::start_with("[logs]\nmax_log_bytes = 5000\non_log_limit = \"fail\"\n").await;
    let boot = format!(
        "{}import time\ntime.sleep(600)\n",
        FLOOD.replace('N', "1000")
    );
    srv.write_app("noisy", &[("boot.py", &boot)]);
    let (job, ver) = srv.api.create_job("noisy", "noisy", json!({})).await;
    let end = srv
        .api
        .wait_status(job, ver, JobStatus::TERMINAL, Duration::from_secs(60))
        .await;
    assert_eq!(end, JobStatus::FAILED);
    let text =
        String::from_utf8_lossy(&whole_log(&srv.api, job, ver, "noisy.0").await).into_owned();
    assert!(
        text.contains("[trainyard] log limit of 5000 bytes reached (max_log_bytes); stopping the job (on_log_limit = \"fail\")\n"),
        "{text}"
    );
    assert!(
        text.contains("[trainyard] worker 0's log reached max_log_bytes = 5000; stopping"),
        "{text}"
    );
}

/// A tar archive holding one file of `size` bytes.
fn tar_of(name: &str, size: usize) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(size as u64);
    h.set_mode(0o644);
    h.set_cksum();
    b.append_data(&mut h, name, &vec![b'q'; size][..]).unwrap();
    b.into_inner().unwrap()
}

async fn upload(api: &Api, path: &str, body: Vec<u8>) -> Reply {
    let resp = api
        .http
        .put(api.url(&format!("/storage/upload?path={path}")))
        .header("X-Auth-Token", &api.token)
        .header("Content-Type", "application/x-tar")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let body = resp.json().await.unwrap();
    Reply { status, body }
}

const AK: &str = "QUOTAAK";
const SK: &str = "quota-secret-key";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_storage_quota_refuses_uploads_and_s3_puts_and_stops_jobs_over_it() {
    // 200 kB for the project; its storage is measured every 0.2 s.
    let srv = TestServer::start_with_project(
        &format!("storage_quota_gb = 0.0002\naccess_keys = [{{ ak = \"{AK}\", sk = \"{SK}\" }}]\n"),
        "[storage]\nquota_scan_seconds = 0.2\n",
    )
    .await;

    // Uploads: within the quota accepted, past it refused with the quota named.
    upload(&srv.api, "/code/small/", tar_of("a.bin", 20_000))
        .await
        .assert_ok();
    let refused = upload(&srv.api, "/code/big/", tar_of("b.bin", 300_000)).await;
    refused.assert_error(400, "ModelArts.0118");
    let msg = refused.body["error_message"].as_str().unwrap();
    assert!(msg.contains("storage_quota_gb = 0.0002"), "{msg}");
    assert!(!srv.storage().join("code/big").exists());
    // The other project has no quota.
    upload(&srv.other, "/code/big/", tar_of("b.bin", 300_000))
        .await
        .assert_ok();

    // S3 PUTs, signed (SigV4) as any S3 client does.
    let s3 = trainyard_exec::objects::Objects::new(trainyard_exec::objects::S3Config {
        endpoint: Some(srv.api.base.clone()),
        region: "us-east-1".into(),
        access_key: AK.into(),
        secret_key: SK.into(),
        path_style: true,
        retry_seconds: 0,
    });
    let local = srv.dir.path().join("s3-src");
    std::fs::create_dir_all(&local).unwrap();
    std::fs::write(local.join("small.bin"), vec![b's'; 10_000]).unwrap();
    let bucket = trainyard_exec::objects::ObjectDir::new("bucket", "put/");
    s3.upload(&local, &bucket, &[], &mut Default::default())
        .await
        .expect("a PUT within the quota");
    assert!(srv.storage().join("bucket/put/small.bin").exists());
    std::fs::write(local.join("big.bin"), vec![b'b'; 300_000]).unwrap();
    let err = s3
        .upload(&local, &bucket, &[], &mut Default::default())
        .await
        .expect_err("a PUT past the quota");
    let err = format!("{err:#}");
    assert!(
        err.contains("QuotaExceeded") || err.contains("quota"),
        "{err}"
    );
    assert!(!srv.storage().join("bucket/put/big.bin").exists());

    // A job whose outputs take the project past its quota is stopped, with the reason.
    let boot = "import os, sys, time\nout = [a.split('=', 1)[1] for a in sys.argv if a.startswith('--train_url=')][0]\nopen(os.path.join(out, 'model.bin'), 'wb').write(b'm' * 400000)\nprint('wrote the model', flush=True)\ntime.sleep(600)\n";
    srv.write_app("hog", &[("boot.py", boot)]);
    let (job, ver) = srv.api.create_job("hog", "hog", json!({})).await;
    let end = srv
        .api
        .wait_status(job, ver, JobStatus::TERMINAL, Duration::from_secs(60))
        .await;
    assert_eq!(end, JobStatus::KILLED);
    let log = srv.api.log(job, ver, "hog.0").await;
    assert!(log.contains("wrote the model"), "{log}");
    assert!(
        log.contains(
            "[trainyard] stopping the job: the storage quota is exceeded: project proj-a uses"
        ),
        "{log}"
    );
    assert!(log.contains("storage_quota_gb = 0.0002"), "{log}");
    // Its event log says the quota stopped it (written beside the status, a moment later).
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let r = srv
            .api
            .get(&format!("/training-jobs/{job}/versions/{ver}/events"))
            .await;
        let events = r.assert_ok()["events"].as_array().unwrap().clone();
        if events.last().is_some_and(|e| e["kind"] == "ended") {
            let stop = events.iter().find(|e| e["kind"] == "stop_requested");
            let by = stop.map(|e| &e["detail"]["by"]);
            assert_eq!(by, Some(&json!("quota")), "{events:#?}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{events:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_capped_log_keeps_draining_while_the_server_is_down() {
    let dir = tempdir().unwrap();
    let config = dir.path().join("config.toml");
    let data = dir.path().join("data");
    write_config(
        &config,
        config_text(&data, "[logs]\nmax_log_bytes = 20000\n"),
    )
    .unwrap();
    let port = free_port();
    let mut server = ServerProcess::start(&config, port).await;
    let go = dir.path().join("go");
    // Once `go` exists: 160 kB (more than a pipe holds) with nobody but the shim reading.
    let boot = format!(
        "import os, sys, time\nprint('ready', flush=True)\nwhile not os.path.exists({go:?}):\n    time.sleep(0.05)\n{}",
        FLOOD.replace("import sys\n", "").replace('N', "5000"),
        go = go.display().to_string()
    );
    write_app(
        &data.join("obs").join(PROJECT),
        "alone",
        &[("boot.py", &boot)],
    );
    let (job, ver) = server.api.create_job("alone", "alone", json!({})).await;
    server.api.wait_log(job, ver, "alone.0", "ready").await;

    server.kill9();
    std::fs::write(&go, "").unwrap();
    // The worker writes it all and exits while no server runs.
    let exit = data.join("runs").join(ver.to_string()).join("exit.json");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !exit.exists() {
        assert!(
            Instant::now() < deadline,
            "the worker blocked on its output"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let server = ServerProcess::start(&config, port).await;
    assert_eq!(
        server
            .api
            .wait_status(job, ver, JobStatus::TERMINAL, Duration::from_secs(30))
            .await,
        JobStatus::COMPLETED
    );
    let text = String::from_utf8(whole_log(&server.api, job, ver, "alone.0").await).unwrap();
    assert!(text.starts_with("ready\nline 000000 "), "{}", &text[..40]);
    assert!(
        text.contains("\n[trainyard] log limit of 20000 bytes reached (max_log_bytes); further output of this worker is discarded (on_log_limit = \"truncate\")\n[trainyard] worker 0 exited with code 0\n"),
        "{}",
        &text[text.len().saturating_sub(400)..]
    );
    drop(server);
    kill_runs(&data.join("runs"));
}
