//! Notifications: run events sent to webhooks, received by a real HTTP receiver in this test
//! process. Signed events for queued/started/completed/failed arrive with valid signatures; a
//! receiver answering 500 twice gets the event on the third try, every attempt listed by the
//! API and the CLI; an event recorded while the receiver is down is delivered after a kill -9
//! and a restart of the server; a receiver that never answers holds up no job; a job's
//! `notification` (the worked example's object, and the v2 API's `spec.notification`) names a
//! configured topic, or is refused with an error naming the missing one; `trainyard jobs
//! submit --notify` attaches one; two replicas on one database send each delivery once.

use crate::harness::*;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use trainyard_api::webhooks::DeliveryListResponse;

/// The signing secret of the test webhooks.
const SECRET: &str = "s3cret-webhook-key";

/// A topic of the main project, as an SMN URN.
const TOPIC: &str = "urn:smn:cn-north-4:proj-a:train-alerts";

/// One request the receiver got.
#[derive(Clone, Debug)]
struct Received {
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// A webhook receiver on a loopback port: records what it gets, answers 500 to the next
/// `fail` requests and 204 to the others.
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<Received>>>,
    fail: Arc<AtomicUsize>,
}

impl Receiver {
    /// Serves on `listener` (until the test ends).
    fn serve(&self, listener: tokio::net::TcpListener) {
        let me = self.clone();
        let app =
            axum::Router::new().fallback(move |headers: HeaderMap, body: axum::body::Bytes| {
                let me = me.clone();
                async move {
                    me.got.lock().unwrap().push(Received {
                        headers,
                        body: body.to_vec(),
                    });
                    let failing = me
                        .fail
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                        .is_ok();
                    if failing {
                        StatusCode::INTERNAL_SERVER_ERROR
                    } else {
                        StatusCode::NO_CONTENT
                    }
                }
            });
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    }

    async fn start() -> (Self, String) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let r = Self::default();
        r.serve(listener);
        (r, url)
    }

    /// What arrived so far for job `job`.
    fn of_job(&self, job: i64) -> Vec<Received> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.json()["job_id"] == json!(job))
            .cloned()
            .collect()
    }

    /// Polls until the requests for job `job` carry each event of `events`.
    async fn wait_events(&self, job: i64, events: &[&str], within: Duration) -> Vec<Received> {
        let deadline = Instant::now() + within;
        loop {
            let got = self.of_job(job);
            let seen: Vec<String> = got
                .iter()
                .map(|r| r.header("x-trainyard-event").to_owned())
                .collect();
            if events.iter().all(|e| seen.iter().any(|s| s == e)) {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "job {job}: wanted {events:?}, got {seen:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// `sha256=<hex>` of `body` with the test secret.
fn signature(body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The `[[webhooks]]` table of webhook `name` of the main project.
fn webhook(name: &str, url: &str, events: &[&str]) -> String {
    format!(
        "[[webhooks]]\nname = \"{name}\"\nproject = \"{PROJECT}\"\nurl = \"{url}\"\nsecret = \"{SECRET}\"\nevents = {events:?}\n\n"
    )
}

/// Fast retries, so a test sees several attempts.
const FAST_RETRIES: &str =
    "[notifications]\nfirst_retry_seconds = 0.2\nretry_for_minutes = 10\ntimeout_seconds = 5\n\n";

async fn deliveries(api: &Api, job: i64) -> DeliveryListResponse {
    let r = api.get(&format!("/webhooks/deliveries?job_id={job}")).await;
    serde_json::from_value(r.assert_ok().clone()).unwrap()
}

/// Polls the deliveries of job `job` until `done` holds of them.
async fn wait_deliveries(
    api: &Api,
    job: i64,
    what: &str,
    done: impl Fn(&DeliveryListResponse) -> bool,
) -> DeliveryListResponse {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = deliveries(api, job).await;
        if done(&got) {
            return got;
        }
        assert!(Instant::now() < deadline, "{what}: {got:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn apps(srv: &TestServer) {
    srv.write_app("ok", &[("boot.py", "print('done', flush=True)\n")]);
    srv.write_app(
        "bad",
        &[(
            "boot.py",
            "import sys\nprint('bye', flush=True)\nsys.exit(3)\n",
        )],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_events_arrive_and_a_receiver_failing_twice_gets_the_third_try() {
    let (ops, ops_url) = Receiver::start().await;
    let (flaky, flaky_url) = Receiver::start().await;
    let extra = format!(
        "{FAST_RETRIES}{}{}",
        webhook(
            "ops",
            &ops_url,
            &["queued", "started", "completed", "failed"]
        ),
        webhook("flaky", &flaky_url, &["JobCompleted"]),
    );
    let srv = TestServer::start_with(&extra).await;
    apps(&srv);
    flaky.fail.store(2, Ordering::SeqCst);
    let (ok, ok_v) = srv.api.create_job("ok", "ok", json!({})).await;
    let (bad, bad_v) = srv.api.create_job("bad", "bad", json!({})).await;

    let within = Duration::from_secs(60);
    let got = ops
        .wait_events(ok, &["queued", "started", "completed"], within)
        .await;
    let failed = ops
        .wait_events(bad, &["queued", "started", "failed"], within)
        .await;
    for r in got.iter().chain(&failed) {
        assert_eq!(
            r.header("x-trainyard-signature"),
            signature(&r.body),
            "{r:?}"
        );
        assert!(
            r.header("x-trainyard-delivery").parse::<i64>().is_ok(),
            "{r:?}"
        );
        assert_eq!(r.header("content-type"), "application/json");
        let p = r.json();
        assert_eq!(p["event"], r.header("x-trainyard-event"));
        assert_eq!(p["project_id"], PROJECT);
        assert!(p["time"].as_str().unwrap().ends_with('Z'), "{p}");
    }
    // A tampered body does not verify.
    assert_ne!(signature(b"{}"), got[0].header("x-trainyard-signature"));
    let completed = got
        .iter()
        .find(|r| r.header("x-trainyard-event") == "completed")
        .unwrap()
        .json();
    assert_eq!(
        (
            &completed["job_id"],
            &completed["version_id"],
            &completed["job_name"],
            &completed["version_name"],
            &completed["status"],
            &completed["kind"],
        ),
        (
            &json!(ok),
            &json!(ok_v),
            &json!("ok"),
            &json!("V0001"),
            &json!("COMPLETED"),
            &json!("ended")
        )
    );
    let failure = failed
        .iter()
        .find(|r| r.header("x-trainyard-event") == "failed")
        .unwrap()
        .json();
    assert_eq!(failure["version_id"], json!(bad_v));
    assert_eq!(failure["status"], "FAILED");
    assert!(
        failure["reason"].as_str().unwrap().contains("exit"),
        "{failure}"
    );
    // Only what was asked for: no worker_exited, no created.
    assert!(got
        .iter()
        .all(|r| ["queued", "started", "completed"].contains(&r.header("x-trainyard-event"))));

    // The flaky receiver answered 500 twice, then took the third try; only `completed` (its
    // JobCompleted) went there, and the failed job sent it nothing.
    flaky.wait_events(ok, &["completed"], within).await;
    let listed = wait_deliveries(&srv.api, ok, "flaky delivered", |d| {
        d.deliveries
            .iter()
            .any(|d| d.webhook == "flaky" && d.state == "delivered")
    })
    .await;
    let tries = flaky.of_job(ok);
    assert_eq!(tries.len(), 3, "{tries:?}");
    let ids: Vec<&str> = tries
        .iter()
        .map(|r| r.header("x-trainyard-delivery"))
        .collect();
    assert!(
        ids.iter().all(|id| *id == ids[0]),
        "one delivery id: {ids:?}"
    );
    assert!(flaky.of_job(bad).is_empty());
    let d = listed
        .deliveries
        .iter()
        .find(|d| d.webhook == "flaky")
        .unwrap();
    assert_eq!(d.id.to_string(), ids[0]);
    assert_eq!(d.event, "completed");
    let codes: Vec<Option<i64>> = d.attempts.iter().map(|a| a.status_code).collect();
    assert_eq!(codes, [Some(500), Some(500), Some(204)]);
    assert_eq!(
        d.attempts.iter().map(|a| a.attempt).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert!(d.attempts.windows(2).all(|w| w[0].time < w[1].time));
    assert!(d.attempts[0].error.as_deref().unwrap().contains("500"));
    assert!(listed
        .deliveries
        .iter()
        .filter(|d| d.webhook == "ops")
        .all(|d| d.state == "delivered" && d.attempts.len() == 1));

    // The CLI: a row per attempt, and the API's answer with -o json.
    let home = srv.dir.path().join("config-home");
    let out = trainyard(
        &srv.api.base,
        &home,
        &["webhooks", "deliveries", "--job", "ok"],
        &[],
    )
    .await;
    let table = out.ok();
    let flaky_rows: Vec<&str> = table.lines().filter(|l| l.contains("flaky")).collect();
    assert_eq!(flaky_rows.len(), 3, "{table}");
    assert_eq!(
        flaky_rows.iter().filter(|l| l.contains("HTTP 500")).count(),
        2,
        "{table}"
    );
    assert!(flaky_rows.iter().any(|l| l.contains("HTTP 204")), "{table}");
    let out = trainyard(
        &srv.api.base,
        &home,
        &[
            "-o",
            "json",
            "webhooks",
            "deliveries",
            "--job",
            &ok.to_string(),
        ],
        &[],
    )
    .await;
    let json: DeliveryListResponse = out.json();
    assert_eq!(json, deliveries(&srv.api, ok).await);

    // Another project sees none of them.
    let r = srv.other.get("/webhooks/deliveries").await;
    assert_eq!(r.assert_ok()["deliveries"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jobs_notification_names_a_configured_topic_or_is_refused() {
    let (alerts, alerts_url) = Receiver::start().await;
    // A webhook reached through the topic only: no events of its own.
    let extra = format!(
        "{FAST_RETRIES}{}[[topics]]\nname = \"{TOPIC}\"\nproject = \"{PROJECT}\"\nwebhooks = [\"alerts\"]\n",
        webhook("alerts", &alerts_url, &[])
    );
    let srv = TestServer::start_with(&extra).await;
    apps(&srv);
    let config = json!({"worker_server_num": 1, "app_url": "/ok/", "boot_file_url": "/ok/boot.py",
        "data_url": "/data/", "spec_id": 1, "engine_id": 1});

    // The worked example's object, with a configured topic and ModelArts' event names.
    let r = srv
        .api
        .post(
            "/training-jobs",
            json!({"job_name": "told", "config": config, "workspace_id": "0",
                   "notification": {"topic_urn": TOPIC, "events": ["JobStarted", "JobCompleted"]}}),
        )
        .await;
    let body = r.assert_ok();
    let told = body["job_id"].as_i64().unwrap();
    let got = alerts
        .wait_events(told, &["started", "completed"], Duration::from_secs(60))
        .await;
    assert!(got
        .iter()
        .all(|r| ["started", "completed"].contains(&r.header("x-trainyard-event"))));
    assert_eq!(got[0].json()["topic_urn"], TOPIC);
    assert_eq!(
        got[0].header("x-trainyard-signature"),
        signature(&got[0].body)
    );

    // As the worked example sends it (empty): accepted, and nothing is sent.
    let r = srv
        .api
        .post(
            "/training-jobs",
            json!({"job_name": "quiet", "config": config,
                   "notification": {"topic_urn": "", "events": []}}),
        )
        .await;
    let quiet = r.assert_ok()["job_id"].as_i64().unwrap();
    let v = r.assert_ok()["version_id"].as_i64().unwrap();
    srv.api
        .wait_status(quiet, v, &[JobStatus::COMPLETED], Duration::from_secs(60))
        .await;

    // A topic that is not configured is refused, named; so is an unknown event.
    let r = srv
        .api
        .post(
            "/training-jobs",
            json!({"job_name": "unknown-topic", "config": config,
                   "notification": {"topic_urn": "urn:smn:cn-north-4:proj-a:nobody", "events": []}}),
        )
        .await;
    r.assert_error(400, "ModelArts.0101");
    assert!(
        r.body["error_message"]
            .as_str()
            .unwrap()
            .contains("topic 'urn:smn:cn-north-4:proj-a:nobody' is not configured"),
        "{}",
        r.body
    );
    // The other project has no topic of that name.
    let r = srv
        .other
        .post(
            "/training-jobs",
            json!({"job_name": "theirs", "config": config,
                   "notification": {"topic_urn": TOPIC}}),
        )
        .await;
    r.assert_error(400, "ModelArts.0101");
    let r = srv
        .api
        .post(
            "/training-jobs",
            json!({"job_name": "bad-event", "config": config,
                   "notification": {"topic_urn": TOPIC, "events": ["JobExploded"]}}),
        )
        .await;
    r.assert_error(400, "ModelArts.0101");
    assert!(r.body["error_message"]
        .as_str()
        .unwrap()
        .contains("JobExploded"));

    // The v2 API's spec.notification, with ModelArts' names.
    let v2 = json!({
        "kind": "job",
        "metadata": {"name": "told-v2"},
        "algorithm": {"code_dir": "/ok/", "boot_file": "/ok/boot.py", "engine": {"engine_id": "python3"}},
        "spec": {"resource": {"flavor_id": "modelarts.vm.cpu.1u", "node_count": 1},
                 "notification": {"topic_urn": TOPIC, "events": ["JobCompleted"]}},
    });
    let url = format!("{}/v2/{PROJECT}/training-jobs", srv.api.base);
    let send = |body: Value| {
        srv.api
            .http
            .post(&url)
            .header("X-Auth-Token", TOKEN)
            .json(&body)
            .send()
    };
    let created: Value = send(v2.clone()).await.unwrap().json().await.unwrap();
    let uuid = created["metadata"]["id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got: Vec<Received> = alerts
            .got
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.json()["training_job_id"] == json!(uuid))
            .cloned()
            .collect();
        if !got.is_empty() {
            assert_eq!(got[0].header("x-trainyard-event"), "completed");
            break;
        }
        assert!(Instant::now() < deadline, "no v2 notification: {created}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut unknown = v2;
    unknown["metadata"]["name"] = json!("unknown-v2");
    unknown["spec"]["notification"]["topic_urn"] = json!("nobody");
    let r = send(unknown).await.unwrap();
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error_code"], "ModelArts.2788");
    assert!(
        body["error_msg"]
            .as_str()
            .unwrap_or_default()
            .contains("topic 'nobody' is not configured"),
        "{body}"
    );

    // The CLI attaches one with --notify TOPIC:EVENTS.
    let dir = srv.dir.path().join("local-code");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("train.py"), "print('hi', flush=True)\n").unwrap();
    let home = srv.dir.path().join("config-home");
    let notify = format!("{TOPIC}:queued,completed");
    let out = trainyard(
        &srv.api.base,
        &home,
        &[
            "-o",
            "json",
            "jobs",
            "submit",
            dir.to_str().unwrap(),
            "--boot",
            "train.py",
            "--name",
            "from-cli",
            "--notify",
            &notify,
        ],
        &[],
    )
    .await;
    let created: Value = out.json();
    let cli_job = created["job_id"].as_i64().unwrap();
    let got = alerts
        .wait_events(cli_job, &["queued", "completed"], Duration::from_secs(60))
        .await;
    assert!(!got
        .iter()
        .any(|r| r.header("x-trainyard-event") == "started"));
    let out = trainyard(
        &srv.api.base,
        &home,
        &[
            "jobs",
            "submit",
            dir.to_str().unwrap(),
            "--boot",
            "train.py",
            "--name",
            "cli-unknown",
            "--notify",
            "nobody",
        ],
        &[],
    )
    .await;
    out.fails(1, "topic 'nobody' is not configured");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_recorded_while_the_receiver_is_down_is_delivered_after_a_kill_9() {
    let dir = tempdir().unwrap();
    // The receiver's port, free while it is down.
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/hook");
    let extra = format!(
        "[notifications]\nfirst_retry_seconds = 0.5\nretry_for_minutes = 30\ntimeout_seconds = 5\n\n{}",
        webhook("ops", &url, &["completed"])
    );
    let config = dir.path().join("config.toml");
    write_config(&config, config_text(&dir.path().join("data"), &extra)).unwrap();
    write_app(
        &dir.path().join("data/obs").join(PROJECT),
        "ok",
        &[("boot.py", "print('done', flush=True)\n")],
    );
    let server_port = free_port();
    let mut server = ServerProcess::start(&config, server_port).await;
    let (job, v) = server.api.create_job("ok", "ok", json!({})).await;
    server
        .api
        .wait_status(job, v, &[JobStatus::COMPLETED], Duration::from_secs(60))
        .await;
    // Recorded, tried, not delivered: the receiver is down.
    let pending = wait_deliveries(&server.api, job, "a failed attempt", |d| {
        d.deliveries
            .iter()
            .any(|d| d.event == "completed" && !d.attempts.is_empty())
    })
    .await;
    let d = &pending.deliveries[0];
    assert_eq!(d.state, "pending");
    assert_eq!(d.attempts[0].status_code, None);
    assert!(d.attempts[0].error.is_some());
    server.kill9();

    let receiver = Receiver::default();
    receiver.serve(
        tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap(),
    );
    let server = ServerProcess::start(&config, server_port).await;
    let got = receiver
        .wait_events(job, &["completed"], Duration::from_secs(60))
        .await;
    assert_eq!(got[0].header("x-trainyard-delivery"), d.id.to_string());
    assert_eq!(
        got[0].header("x-trainyard-signature"),
        signature(&got[0].body)
    );
    let done = wait_deliveries(&server.api, job, "delivered", |l| {
        l.deliveries.iter().all(|d| d.state == "delivered")
    })
    .await;
    let last = done.deliveries[0].attempts.last().unwrap();
    assert_eq!(last.status_code, Some(204));
    kill_runs(&dir.path().join("data/runs"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_never_answers_holds_up_no_job() {
    // Accepts connections and never answers.
    let hole = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", hole.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((conn, _)) = hole.accept().await {
            held.push(conn);
        }
    });
    let extra = format!(
        "[notifications]\ntimeout_seconds = 120\n\n{}",
        webhook("hole", &url, &["queued", "started", "completed"])
    );
    let srv = TestServer::start_with(&extra).await;
    apps(&srv);
    let mut jobs = Vec::new();
    for i in 0..3 {
        jobs.push(
            srv.api
                .create_job(&format!("ok-{i}"), "ok", json!({}))
                .await,
        );
    }
    for (job, v) in &jobs {
        srv.api
            .wait_status(*job, *v, &[JobStatus::COMPLETED], Duration::from_secs(60))
            .await;
    }
    // Their deliveries wait on the receiver, none delivered.
    let (job, _) = jobs[0];
    let listed = wait_deliveries(&srv.api, job, "three deliveries", |d| {
        d.deliveries.len() == 3
    })
    .await;
    assert!(
        listed.deliveries.iter().all(|d| d.state == "pending"),
        "{listed:#?}"
    );
}

/// Two replicas on one PostgreSQL database each run a delivery task: every event goes out
/// once (one request per delivery id), whichever replica recorded it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_send_each_delivery_once() {
    const JOBS: usize = 6;
    let (receiver, url) = Receiver::start().await;
    let extra = format!(
        "{FAST_RETRIES}{}",
        webhook("ops", &url, &["queued", "started", "completed"])
    );
    let test = "replicas_send_each_delivery_once";
    let Some(r) = Replicas::start(test, 2, &extra, |_| Vec::new()).await else {
        return;
    };
    std::fs::create_dir_all(r.storage().join("data")).unwrap();
    write_app(
        &r.storage(),
        "ok",
        &[("boot.py", "print('done', flush=True)\n")],
    );
    let mut jobs = Vec::new();
    for i in 0..JOBS {
        jobs.push(
            r.api(i % 2)
                .create_job(&format!("ok-{i}"), "ok", json!({}))
                .await,
        );
    }
    for (job, _) in &jobs {
        receiver
            .wait_events(
                *job,
                &["queued", "started", "completed"],
                Duration::from_secs(90),
            )
            .await;
    }
    let got = receiver.got.lock().unwrap().clone();
    let mut ids: Vec<&str> = got
        .iter()
        .map(|r| r.header("x-trainyard-delivery"))
        .collect();
    assert_eq!(ids.len(), 3 * JOBS, "{got:#?}");
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 3 * JOBS, "a delivery was sent twice");
    // Both replicas list the same deliveries, each delivered at the first attempt.
    let (job, _) = jobs[0];
    let a = deliveries(r.api(0), job).await;
    assert_eq!(a, deliveries(r.api(1), job).await);
    assert!(
        a.deliveries
            .iter()
            .all(|d| d.state == "delivered" && d.attempts.len() == 1),
        "{a:#?}"
    );
}
