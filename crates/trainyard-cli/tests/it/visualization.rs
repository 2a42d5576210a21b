//! Visualization jobs with a real TensorBoard: served behind trainyard's proxy with the
//! secret/cookie of `service_url`, stop/restart/delete, auto-stop, capacity, quotas, the doc
//! samples and a kill -9 of the server.

use crate::harness::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A client that shows redirects instead of following them, like a test of a browser's steps.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn viz_status(api: &Api, id: i64) -> JobStatus {
    JobStatus::from_code(
        api.get(&format!("/visualization-jobs/{id}"))
            .await
            .assert_ok()["status"]
            .as_i64()
            .unwrap(),
    )
}

pub(crate) async fn wait_viz(
    api: &Api,
    id: i64,
    wanted: &[JobStatus],
    within: Duration,
) -> JobStatus {
    let deadline = Instant::now() + within;
    loop {
        let s = viz_status(api, id).await;
        if wanted.contains(&s) {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "visualization job {id} stuck in {}, wanted {wanted:?}",
            s.name()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) async fn create(api: &Api, body: Value) -> (i64, String) {
    let r = api.post("/visualization-jobs", body).await;
    let b = r.assert_ok();
    assert_eq!(b["status"], json!(JobStatus::INIT), "{b}");
    (
        b["job_id"].as_i64().unwrap(),
        b["service_url"].as_str().unwrap().to_owned(),
    )
}

/// Opens `service_url` as a browser would: the secret is traded for a cookie (303), and the
/// redirect goes to the job's path. Returns (cookie header value, job path with trailing `/`).
async fn open_service_url(http: &reqwest::Client, service_url: &str) -> (String, String) {
    let r = http.get(service_url).send().await.unwrap();
    assert_eq!(r.status(), 303, "{:?}", r.text().await);
    let set_cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("Path=/modelarts2/tensorboard/"),
        "{set_cookie}"
    );
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(!location.contains("trainyard_secret"), "{location}");
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let base = service_url.split('?').next().unwrap().to_owned();
    assert!(base.ends_with(&location), "{base} vs {location}");
    (cookie, base)
}

/// GET `url` with the cookie; polls until TensorBoard returns the five `loss` values.
async fn fetch_scalars(http: &reqwest::Client, base: &str, cookie: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let runs = http
            .get(format!("{base}data/runs"))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(runs.status(), 200);
        let runs: Value = runs.json().await.unwrap();
        let url = format!("{base}data/plugin/scalars/scalars?run=.&tag=loss");
        let r = http
            .get(&url)
            .header("cookie", cookie)
            .send()
            .await
            .unwrap();
        if runs.as_array().is_some_and(|a| a.contains(&json!("."))) && r.status() == 200 {
            let points: Value = r.json().await.unwrap();
            let points = points.as_array().unwrap();
            assert_eq!(points.len(), 5, "{points:?}");
            for (step, p) in points.iter().enumerate() {
                assert_eq!(p[1].as_i64(), Some(step as i64));
                let want = 1.0 / (step as f64 + 1.0);
                assert!(
                    (p[2].as_f64().unwrap() - want).abs() < 1e-6,
                    "step {step}: {p}"
                );
            }
            return;
        }
        assert!(
            Instant::now() < deadline,
            "TensorBoard never served the scalars: runs {runs}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The TensorBoard run of job `id`: (process group from its record, port from spec.json).
pub(crate) fn run_of(data: &Path, id: i64) -> (i32, u16) {
    let dir = data.join(format!("runs/viz-{id}"));
    let workers = trainyard_exec::run_dir::read_workers(&dir);
    let spec: Value =
        serde_json::from_slice(&std::fs::read(dir.join("spec.json")).unwrap()).unwrap();
    let args: Vec<String> = serde_json::from_value(spec["workers"][0]["args"].clone()).unwrap();
    let port = args[args.iter().position(|a| a == "--port").unwrap() + 1]
        .parse()
        .unwrap();
    (workers[0].pgid, port)
}

pub(crate) async fn wait_group_gone(pgid: i32) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !group_alive(pgid).is_empty() {
        assert!(
            Instant::now() < deadline,
            "process group {pgid} still alive: {:?}",
            group_alive(pgid)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn wait_port_free(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_ok()
    {
        assert!(Instant::now() < deadline, "port {port} still serving");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tensorboard_serves_real_scalars_through_service_url() {
    let server = TestServer::start_bound(&viz_config("")).await;
    let api = &server.api;
    write_scalars(&server.storage().join("logs/run1"), 5);
    let (id, service_url) =
        create(api, json!({"job_name": "tb-1", "train_url": "/logs/run1/"})).await;
    assert!(
        service_url.starts_with(&format!(
            "{}/modelarts2/tensorboard/{PROJECT}/{id}/?trainyard_secret=",
            api.base
        )),
        "{service_url}"
    );
    wait_viz(api, id, &[JobStatus::RUNNING], Duration::from_secs(30)).await;
    let data = server.dir.path().join("data");
    let (pgid, port) = run_of(&data, id);
    assert!(!group_alive(pgid).is_empty());

    // As a browser: trade the secret for the cookie, then TensorBoard's data endpoints.
    let http = browser();
    let (cookie, base) = open_service_url(&http, &service_url).await;
    let index = http
        .get(&base)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(index.status(), 200);
    assert!(index
        .text()
        .await
        .unwrap()
        .to_ascii_lowercase()
        .contains("<html"));
    fetch_scalars(&http, &base, &cookie).await;

    // Without credentials, or with wrong ones, the same URLs are refused.
    let runs = format!("{base}data/runs");
    assert_eq!(http.get(&runs).send().await.unwrap().status(), 401);
    assert_eq!(http.get(&base).send().await.unwrap().status(), 401);
    assert_eq!(
        http.get(&runs)
            .header("cookie", format!("trainyard_viz_{id}=nope"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        http.get(format!("{base}?trainyard_secret=nope"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    // Another project's token: this job does not exist for it.
    assert_eq!(
        http.get(&runs)
            .header("x-auth-token", OTHER_TOKEN)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    // The project's token works too (API clients).
    assert_eq!(
        http.get(&runs)
            .header("x-auth-token", TOKEN)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // Another project's job path does not exist (credentials first: anonymous callers get 401).
    let other_path = format!(
        "{}/modelarts2/tensorboard/{OTHER_PROJECT}/{id}/data/runs",
        api.base
    );
    assert_eq!(http.get(&other_path).send().await.unwrap().status(), 401);
    assert_eq!(
        http.get(&other_path)
            .header("x-auth-token", OTHER_TOKEN)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    // Details: every field, strict types.
    let d = api.get(&format!("/visualization-jobs/{id}")).await;
    let d = d.assert_ok();
    for key in [
        "job_name",
        "service_url",
        "resource_id",
        "job_desc",
        "train_url",
        "job_type",
        "flavor",
        "schedule",
        "remaining_duration",
    ] {
        assert!(d.get(key).is_some(), "{key} missing: {d}");
    }
    assert_eq!(d["job_type"], json!("tensorboard"));
    assert_eq!(d["schedule"], json!([]));
    assert!(d["duration"].as_i64().unwrap() >= 0 && d["create_time"].as_i64().is_some());

    // Stop: 9 -> 12, the process group is gone, the path answers an error page at once.
    api.post(&format!("/visualization-jobs/{id}/stop"), json!({}))
        .await
        .assert_ok();
    wait_viz(api, id, &[JobStatus::KILLED], Duration::from_secs(15)).await;
    wait_group_gone(pgid).await;
    wait_port_free(port).await;
    let r = http
        .get(&runs)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error_code"], json!("ModelArts.0105"));
    let page = http
        .get(&base)
        .header("cookie", &cookie)
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 503);
    assert!(page.text().await.unwrap().contains("not running"));

    // Restart: a fresh TensorBoard serves the same data at the same URL.
    api.post(&format!("/visualization-jobs/{id}/restart"), json!({}))
        .await
        .assert_ok();
    wait_viz(api, id, &[JobStatus::RUNNING], Duration::from_secs(30)).await;
    let (pgid2, port2) = run_of(&data, id);
    assert_ne!(pgid, pgid2);
    fetch_scalars(&http, &base, &cookie).await;
    let again = api.get(&format!("/visualization-jobs/{id}")).await;
    assert_eq!(again.assert_ok()["service_url"], json!(service_url));

    // Delete: gone from lists, the process group ends and the port is free.
    api.delete(&format!("/visualization-jobs/{id}"))
        .await
        .assert_ok();
    let list = api.get("/visualization-jobs").await;
    assert_eq!(list.assert_ok()["job_total_count"], json!(0));
    wait_group_gone(pgid2).await;
    wait_port_free(port2).await;
    api.get(&format!("/visualization-jobs/{id}"))
        .await
        .assert_error(400, "ModelArts.0105");
    // The cookie of a deleted job opens nothing; the project's token learns it is gone.
    let r = http
        .get(&runs)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        http.get(&runs)
            .header("x-auth-token", TOKEN)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}

/// Status, `error_code` and `error_message` (with `id` written as `{id}`) of a proxy answer.
async fn proxy_answer(req: reqwest::RequestBuilder, id: i64) -> (u16, Value, String) {
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["is_success"], json!(false), "{body}");
    let message = body["error_message"]
        .as_str()
        .unwrap()
        .replace(&id.to_string(), "{id}");
    (status, body["error_code"].clone(), message)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_does_not_reveal_which_job_ids_exist() {
    let server = TestServer::start_bound(&viz_config("")).await;
    let api = &server.api;
    let (id, service_url) =
        create(api, json!({"job_name": "probe", "train_url": "/logs/p/"})).await;
    wait_viz(api, id, &[JobStatus::RUNNING], Duration::from_secs(30)).await;
    let unknown = id + 1000;
    let http = browser();
    let url = |project: &str, id: i64| {
        format!(
            "{}/modelarts2/tensorboard/{project}/{id}/data/runs",
            api.base
        )
    };
    let secret = service_url
        .split("trainyard_secret=")
        .nth(1)
        .unwrap()
        .to_owned();

    // Without valid credentials: 401 with the same body for the existing job and an unknown id.
    type Creds = fn(reqwest::RequestBuilder, i64) -> reqwest::RequestBuilder;
    let refused: [(&str, Creds, &str); 4] = [
        ("none", |r, _| r, "ModelArts.0201"),
        (
            "unknown token",
            |r, _| r.header("x-auth-token", "no-such-token"),
            "ModelArts.0203",
        ),
        (
            "wrong cookie",
            |r, id| {
                r.header(
                    "cookie",
                    format!("trainyard_viz_{id}=0123456789abcdef0123456789abcdef"),
                )
            },
            "ModelArts.0203",
        ),
        (
            "wrong secret",
            |r, _| r.query(&[("trainyard_secret", "0123456789abcdef0123456789abcdef")]),
            "ModelArts.0203",
        ),
    ];
    for (what, creds, code) in refused {
        let existing = proxy_answer(creds(http.get(url(PROJECT, id)), id), id).await;
        assert_eq!(
            (existing.0, &existing.1),
            (401, &json!(code)),
            "{what}: {existing:?}"
        );
        let missing = proxy_answer(creds(http.get(url(PROJECT, unknown)), unknown), unknown).await;
        assert_eq!(existing, missing, "{what}");
    }
    // The job's own cookie or secret does not open the same id under another project.
    let cookie = format!("trainyard_viz_{id}={secret}");
    let moved = proxy_answer(
        http.get(url(OTHER_PROJECT, id)).header("cookie", &cookie),
        id,
    )
    .await;
    assert_eq!(
        (moved.0, &moved.1),
        (401, &json!("ModelArts.0203")),
        "{moved:?}"
    );
    let moved = proxy_answer(
        http.get(format!(
            "{}?trainyard_secret={secret}",
            url(OTHER_PROJECT, id)
        )),
        id,
    )
    .await;
    assert_eq!(
        (moved.0, &moved.1),
        (401, &json!("ModelArts.0203")),
        "{moved:?}"
    );

    // A valid token of another project: the existing job looks like an unknown id.
    let other = proxy_answer(
        http.get(url(PROJECT, id))
            .header("x-auth-token", OTHER_TOKEN),
        id,
    )
    .await;
    let missing = proxy_answer(
        http.get(url(PROJECT, unknown))
            .header("x-auth-token", TOKEN),
        unknown,
    )
    .await;
    assert_eq!(
        (missing.0, &missing.1),
        (404, &json!("ModelArts.0105")),
        "{missing:?}"
    );
    assert_eq!(other, missing);
    assert_eq!(
        other,
        proxy_answer(
            http.get(url(PROJECT, unknown))
                .header("x-auth-token", OTHER_TOKEN),
            unknown
        )
        .await
    );
    // The project's token opens it.
    assert_eq!(
        http.get(url(PROJECT, id))
            .header("x-auth-token", TOKEN)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    api.post(&format!("/visualization-jobs/{id}/stop"), json!({}))
        .await
        .assert_ok();
    wait_viz(api, id, &[JobStatus::KILLED], Duration::from_secs(15)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doc_samples_lists_and_refusals() {
    // MindInsight configured as a command template (TensorBoard stands in for it here).
    let tb = tensorboard();
    let mi = format!(
        "mindinsight = [\"{}\", \"--logdir\", \"{{logdir}}\", \"--host\", \"{{host}}\", \"--port\", \"{{port}}\", \"--path_prefix\", \"{{prefix}}\"]",
        tb.display()
    );
    let server = TestServer::start_bound(&viz_config(&mi)).await;
    let api = &server.api;

    // VJ-01 sample, verbatim: schedule as an array, job_type mindinsight.
    let sample = r#"{
        "job_name": "visualization-job",
        "job_desc": "this is a visualization job",
        "train_url": "/obs/name/",
        "job_type": "mindinsight",
        "schedule": [
            {
                "type": "stop",
                "time_unit": "HOURS",
                "duration": 1
            }
        ]
    }"#;
    let r = api
        .raw(
            "POST",
            &api.url("/visualization-jobs"),
            Some(sample),
            Some(TOKEN),
        )
        .await;
    let b = r.assert_ok().clone();
    assert!(
        b["job_id"].is_i64() && b["status"] == json!(JobStatus::INIT) && b["create_time"].is_i64(),
        "{b}"
    );
    assert_eq!(b["job_name"], json!("visualization-job"));
    let sample_id = b["job_id"].as_i64().unwrap();
    assert!(b["service_url"]
        .as_str()
        .unwrap()
        .contains(&format!("/modelarts2/mindinsight/{PROJECT}/{sample_id}/")));
    // Lenient: schedule as an object, numbers as strings, timeUnit alias, upper-case job_type.
    let (b_id, _) = create(
        api,
        json!({"job_name": "b-job", "job_desc": "c", "train_url": "/obs/b/", "job_type": "TensorBoard",
               "schedule": {"type": "STOP", "timeUnit": "hours", "duration": "0"}}),
    )
    .await;
    let (c_id, _) = create(
        api,
        json!({"job_name": "a-job", "job_desc": "a", "train_url": "/obs/a/"}),
    )
    .await;
    // Duplicate name.
    api.post(
        "/visualization-jobs",
        json!({"job_name": "a-job", "train_url": "/obs/a/"}),
    )
    .await
    .assert_error(400, "ModelArts.0103");
    // Validation.
    api.post("/visualization-jobs", json!({"job_name": "x"}))
        .await
        .assert_error(400, "ModelArts.0101");
    api.post(
        "/visualization-jobs",
        json!({"job_name": "waytoolongnameforavizjob", "train_url": "/a/"}),
    )
    .await
    .assert_error(400, "ModelArts.0104");
    for bad in [
        json!({"type": "stop", "time_unit": "DAYS", "duration": 1}),
        json!({"type": "stop", "time_unit": "HOURS", "duration": 25}),
        // A job has one auto-stop: a second item is refused, not dropped.
        json!([{"type": "stop", "time_unit": "HOURS", "duration": 1},
               {"type": "stop", "time_unit": "MINUTES", "duration": 5}]),
    ] {
        api.post(
            "/visualization-jobs",
            json!({"job_name": "bad", "train_url": "/a/", "schedule": bad}),
        )
        .await
        .assert_error(400, "ModelArts.0104");
    }
    api.post(
        "/visualization-jobs",
        json!({"job_name": "bad", "train_url": "/../../etc/"}),
    )
    .await
    .assert_error(400, "ModelArts.0101");

    for id in [sample_id, b_id, c_id] {
        wait_viz(api, id, &[JobStatus::RUNNING], Duration::from_secs(30)).await;
    }
    api.put(
        &format!("/visualization-jobs/{sample_id}"),
        json!({"job_desc": "b"}),
    )
    .await
    .assert_ok();
    api.put("/visualization-jobs/%%123", json!({"job_desc": "b"}))
        .await
        .assert_error(400, "ModelArts.0104");

    // VJ-02: every sort key, both orders (sortBy and sort_by).
    let ids = |r: &Reply| -> Vec<i64> {
        r.body["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|j| j["job_id"].as_i64().unwrap())
            .collect()
    };
    // Durations depend on when each server answered: the list must be ordered by them.
    for (param, order) in [("sortBy", "asc"), ("sort_by", "desc")] {
        let r = api
            .get(&format!(
                "/visualization-jobs?{param}=duration&order={order}"
            ))
            .await;
        let mut d: Vec<i64> = r.assert_ok()["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|j| j["duration"].as_i64().unwrap())
            .collect();
        assert_eq!(d.len(), 3);
        if order == "desc" {
            d.reverse();
        }
        assert!(
            d.windows(2).all(|w| w[0] <= w[1]),
            "duration {order}: {}",
            r.body
        );
    }
    let expected: [(&str, Vec<i64>); 6] = [
        ("job_id", vec![sample_id, b_id, c_id]),
        ("job_name", vec![c_id, b_id, sample_id]),
        ("job_desc", vec![c_id, sample_id, b_id]),
        ("create_time", vec![sample_id, b_id, c_id]),
        ("status", vec![sample_id, b_id, c_id]),
        ("log_dir", vec![c_id, b_id, sample_id]),
    ];
    for (key, asc) in expected {
        for (param, order) in [("sortBy", "asc"), ("sort_by", "desc")] {
            let r = api
                .get(&format!(
                    "/visualization-jobs?{param}={key}&order={order}&per_page=10&page=1"
                ))
                .await;
            r.assert_ok();
            let mut want = asc.clone();
            if order == "desc" {
                want.reverse();
            }
            if key == "job_desc" && order == "desc" {
                // "b" ties between sample and b-job: ties break by id in the same order.
                want = vec![b_id, sample_id, c_id];
            }
            assert_eq!(ids(&r), want, "{param}={key} {order}: {}", r.body);
        }
    }
    // Doc sample list query with stray spaces, status filter, search.
    let r = api
        .raw("GET", &format!("{}/visualization-jobs ?status=8&per_page=2&page=1&sortBy=status&order=asc& search_content=job", api.url("")), None, Some(TOKEN))
        .await;
    let b = r.assert_ok();
    assert_eq!(b["job_total_count"], json!(3));
    assert_eq!(b["jobs"].as_array().unwrap().len(), 2);
    assert_eq!(b["quotas"], json!(10));
    assert_eq!(b["job_count_limit"], json!(997));
    let job = &b["jobs"][0];
    for key in [
        "job_id",
        "job_name",
        "status",
        "create_time",
        "resource_id",
        "duration",
        "job_desc",
        "service_url",
        "train_url",
        "schedule",
        "remaining_duration",
    ] {
        assert!(job.get(key).is_some(), "{key} missing: {job}");
    }
    assert_eq!(
        b["jobs"][0]["schedule"],
        json!([{"type": "stop", "timeUnit": "HOURS", "duration": 1}])
    );
    api.get("/visualization-jobs?sortBy=nope")
        .await
        .assert_error(400, "ModelArts.0104");

    // Refused restart while running (status 8).
    let r = api
        .post(
            &format!("/visualization-jobs/{sample_id}/restart"),
            json!({}),
        )
        .await;
    r.assert_error(400, "ModelArts.0105");
    assert_eq!(
        r.body["error_message"],
        json!("This job can't be resubmit. job status: 8")
    );
    // Refused delete while stopping (status 9): TensorBoard takes a moment to exit.
    api.post(&format!("/visualization-jobs/{c_id}/stop"), json!({}))
        .await
        .assert_ok();
    let r = api.delete(&format!("/visualization-jobs/{c_id}")).await;
    r.assert_error(400, "ModelArts.0105");
    assert_eq!(
        r.body["error_message"],
        json!("This job can't be delete. job status: 9")
    );
    wait_viz(api, c_id, &[JobStatus::KILLED], Duration::from_secs(15)).await;
    // Unknown job.
    let r = api.get("/visualization-jobs/99999").await;
    r.assert_error(400, "ModelArts.0105");
    assert_eq!(
        r.body["error_message"],
        json!("Job id:99999 is not existed")
    );
    // Another project sees nothing.
    assert_eq!(
        server.other.get("/visualization-jobs").await.assert_ok()["job_total_count"],
        json!(0)
    );
    server
        .other
        .get(&format!("/visualization-jobs/{b_id}"))
        .await
        .assert_error(400, "ModelArts.0105");
    for id in [sample_id, b_id] {
        api.delete(&format!("/visualization-jobs/{id}"))
            .await
            .assert_ok();
    }
    api.delete(&format!("/visualization-jobs/{c_id}"))
        .await
        .assert_ok();
    assert_eq!(
        api.get("/visualization-jobs").await.assert_ok()["job_total_count"],
        json!(0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_programs_quotas_and_capacity() {
    // TensorBoard missing: a clear error naming the fix; MindInsight not configured: refused.
    let server =
        TestServer::start_bound("[viz]\ntensorboard = \"/nonexistent/venv/bin/tensorboard\"\n")
            .await;
    let r = server
        .api
        .post(
            "/visualization-jobs",
            json!({"job_name": "t", "train_url": "/l/"}),
        )
        .await;
    r.assert_error(400, "ModelArts.4907");
    let msg = r.body["error_message"].as_str().unwrap();
    assert!(
        msg.contains("/nonexistent/venv/bin/tensorboard") && msg.contains("install-tensorboard.sh"),
        "{msg}"
    );
    let r = server
        .api
        .post(
            "/visualization-jobs",
            json!({"job_name": "m", "train_url": "/l/", "job_type": "mindinsight"}),
        )
        .await;
    r.assert_error(400, "ModelArts.4907");
    assert!(r.body["error_message"]
        .as_str()
        .unwrap()
        .contains("[viz] mindinsight"));
    drop(server);

    // One core for everything: the second job waits in 7 until the first one stops.
    let extra = format!(
        "[executor]\ncores = 1\nmemory_gb = 4\nstop_grace_seconds = 2\n\n{}",
        viz_config("quotas = 2\njob_count_limit = 3")
    );
    let server = TestServer::start_bound(&extra).await;
    let api = &server.api;
    let (a, _) = create(api, json!({"job_name": "a", "train_url": "/l/"})).await;
    wait_viz(api, a, &[JobStatus::RUNNING], Duration::from_secs(30)).await;
    let (b, _) = create(api, json!({"job_name": "b", "train_url": "/l/"})).await;
    wait_viz(api, b, &[JobStatus::WAITING], Duration::from_secs(10)).await;
    // Quotas: two active jobs at most.
    api.post(
        "/visualization-jobs",
        json!({"job_name": "c", "train_url": "/l/"}),
    )
    .await
    .assert_error(400, "ModelArts.0118");
    let list = api.get("/visualization-jobs").await;
    assert_eq!(
        (
            list.body["quotas"].clone(),
            list.body["job_count_limit"].clone()
        ),
        (json!(2), json!(1))
    );
    api.post(&format!("/visualization-jobs/{a}/stop"), json!({}))
        .await
        .assert_ok();
    wait_viz(api, b, &[JobStatus::RUNNING], Duration::from_secs(30)).await;
    // A job stopped while waiting for capacity ends at once.
    let (c, _) = create(api, json!({"job_name": "c", "train_url": "/l/"})).await;
    wait_viz(api, c, &[JobStatus::WAITING], Duration::from_secs(10)).await;
    api.post(&format!("/visualization-jobs/{c}/stop"), json!({}))
        .await
        .assert_ok();
    wait_viz(api, c, &[JobStatus::KILLED], Duration::from_secs(10)).await;
    // Job count limit: 3 held.
    api.post(
        "/visualization-jobs",
        json!({"job_name": "d", "train_url": "/l/"}),
    )
    .await
    .assert_error(400, "ModelArts.0118");
    api.post(&format!("/visualization-jobs/{b}/stop"), json!({}))
        .await
        .assert_ok();
    wait_viz(api, b, &[JobStatus::KILLED], Duration::from_secs(15)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_job_survives_kill_9_of_the_server() {
    let dir = tempdir().unwrap();
    let config = dir.path().join("config.toml");
    write_config(
        &config,
        config_text(&dir.path().join("data"), &viz_config("")),
    )
    .unwrap();
    let runs: PathBuf = dir.path().join("data/runs");
    struct Cleanup(PathBuf);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            kill_runs(&self.0);
        }
    }
    let _cleanup = Cleanup(runs);
    write_scalars(&dir.path().join("data/obs").join(PROJECT).join("logs/k"), 5);
    let port = free_port();
    let mut server = ServerProcess::start(&config, port).await;
    let (id, service_url) = create(
        &server.api,
        json!({"job_name": "k9", "train_url": "/logs/k/"}),
    )
    .await;
    wait_viz(
        &server.api,
        id,
        &[JobStatus::RUNNING],
        Duration::from_secs(30),
    )
    .await;
    let http = browser();
    let (cookie, base) = open_service_url(&http, &service_url).await;
    fetch_scalars(&http, &base, &cookie).await;

    server.kill9();
    let restarted = Instant::now();
    let server = ServerProcess::start(&config, port).await;
    let within = Duration::from_secs(30).saturating_sub(restarted.elapsed());
    wait_viz(&server.api, id, &[JobStatus::RUNNING], within).await;
    let d = server.api.get(&format!("/visualization-jobs/{id}")).await;
    assert_eq!(d.assert_ok()["service_url"], json!(service_url));
    // The old cookie still opens it.
    fetch_scalars(&http, &base, &cookie).await;
    assert!(restarted.elapsed() < Duration::from_secs(30));
    server
        .api
        .post(&format!("/visualization-jobs/{id}/stop"), json!({}))
        .await
        .assert_ok();
    wait_viz(
        &server.api,
        id,
        &[JobStatus::KILLED],
        Duration::from_secs(15),
    )
    .await;
}

/// A server whose port another process takes before it can bind it (what `free_port`'s
/// bind-then-release allows on a busy machine) is started again on another port instead of
/// failing the job. The first start of this wrapper hands its port to a holder in its own
/// session (it outlives the worker's group) and exits like a server that cannot bind, saying
/// so as TensorBoard does (the holder is in the server's own network namespace, where only
/// that word tells); the second start runs TensorBoard.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_whose_port_was_taken_starts_again_on_another_port() {
    let tools = tempdir().unwrap();
    // The wrapper runs as the project's user and leaves its marks here.
    let tools = shared_dir(&tools.path().join("tools"));
    let python = tensorboard().parent().unwrap().join("python3");
    let holder = tools.join("holder.pid");
    let marker = tools.join("taken");
    let script = tools.join("port-thief.sh");
    let text = format!(
        r#"#!/bin/sh
# usage: port-thief.sh PORT TENSORBOARD-ARGS...
port="$1"; shift
if [ ! -e "{marker}" ]; then
  : > "{marker}"
  setsid "{python}" -c 'import os, socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen()
open(sys.argv[2] + ".tmp", "w").write(str(os.getpid())); os.rename(sys.argv[2] + ".tmp", sys.argv[2])
time.sleep(60)' "$port" "{holder}" < /dev/null > /dev/null 2>&1 &
  while [ ! -e "{holder}" ]; do sleep 0.05; done
  echo "port $port was taken: could not bind to port $port, it was already in use" >&2
  exit 1
fi
exec "{tb}" "$@"
"#,
        marker = marker.display(),
        python = python.display(),
        holder = holder.display(),
        tb = tensorboard().display(),
    );
    std::fs::write(&script, text).unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let mi = format!(
        "mindinsight = [\"{}\", \"{{port}}\", \"--logdir\", \"{{logdir}}\", \"--host\", \"{{host}}\", \"--port\", \"{{port}}\", \"--path_prefix\", \"{{prefix}}\"]",
        script.display()
    );
    let server = TestServer::start_bound(&viz_config(&mi)).await;
    let api = &server.api;
    let (id, _) = create(
        api,
        json!({"job_name": "thief", "train_url": "/logs/t/", "job_type": "mindinsight"}),
    )
    .await;
    let status = wait_viz(
        api,
        id,
        &[JobStatus::RUNNING, JobStatus::FAILED],
        Duration::from_secs(30),
    )
    .await;
    let holder_pid: i32 = std::fs::read_to_string(&holder)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    struct Kill(i32);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(self.0),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
    let _holder = Kill(holder_pid);
    let log = std::fs::read_to_string(
        server
            .dir
            .path()
            .join(format!("data/runs/viz-{id}/server.log")),
    )
    .unwrap();
    assert_eq!(status, JobStatus::RUNNING, "server.log: {log}");
    assert!(log.contains("was taken"), "{log}");
    // It runs on another port than the one taken, and serves the job's path.
    let (_, port) = run_of(&server.dir.path().join("data"), id);
    assert!(!log.contains(&format!("port {port} was taken")), "{log}");
    let r = browser()
        .get(format!(
            "{}/modelarts2/mindinsight/{PROJECT}/{id}/data/runs",
            api.base
        ))
        .header("x-auth-token", TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    api.post(&format!("/visualization-jobs/{id}/stop"), json!({}))
        .await
        .assert_ok();
    wait_viz(api, id, &[JobStatus::KILLED], Duration::from_secs(15)).await;
}

/// A flavor named at create reserves that spec's resources for the server (the default
/// flavor takes `[viz]` cores and memory): a 2-core flavor fills a 2-core host, so the next
/// job waits in 7 until it stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_named_flavor_reserves_its_spec() {
    let extra = format!(
        "[executor]\ncores = 2\nmemory_gb = 4\nstop_grace_seconds = 2\n\n\
         [[specs]]\nspec_id = 1\nspec_code = \"modelarts.vm.cpu.1u\"\ncore = 1\ncpu = 1\n\n\
         [[specs]]\nspec_id = 2\nspec_code = \"modelarts.vm.cpu.2u\"\ncore = 2\ncpu = 1\n\n{}",
        viz_config("")
    );
    let server = TestServer::start_bound(&extra).await;
    let api = &server.api;
    let (big, _) = create(
        api,
        json!({"job_name": "big", "train_url": "/l/", "flavor": {"code": "modelarts.vm.cpu.2u"}}),
    )
    .await;
    wait_viz(api, big, &[JobStatus::RUNNING], Duration::from_secs(30)).await;
    let (small, _) = create(api, json!({"job_name": "small", "train_url": "/l/"})).await;
    wait_viz(api, small, &[JobStatus::WAITING], Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(viz_status(api, small).await, JobStatus::WAITING);
    api.post(&format!("/visualization-jobs/{big}/stop"), json!({}))
        .await
        .assert_ok();
    wait_viz(api, small, &[JobStatus::RUNNING], Duration::from_secs(30)).await;
    api.post(&format!("/visualization-jobs/{small}/stop"), json!({}))
        .await
        .assert_ok();
    wait_viz(api, small, &[JobStatus::KILLED], Duration::from_secs(30)).await;
}
