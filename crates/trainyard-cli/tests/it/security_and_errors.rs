//! Authentication, project isolation, path traversal and the ModelArts error table.

use crate::harness::*;
use serde_json::{json, Value};
use std::time::Duration;

fn job_body(name: &str, config: Value) -> Value {
    let mut base = json!({
        "worker_server_num": 1,
        "app_url": "/app/",
        "boot_file_url": "/app/boot.py",
        "data_url": "/data/",
        "spec_id": 1,
    });
    for (k, v) in config.as_object().unwrap() {
        base[k] = v.clone();
    }
    json!({"job_name": name, "config": base})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_needs_a_token_of_its_project() {
    let srv = TestServer::start().await;
    let url = srv.api.url("/training-jobs");
    srv.api
        .raw("GET", &url, None, None)
        .await
        .assert_error(401, "ModelArts.0201");
    srv.api
        .raw("GET", &url, None, Some(""))
        .await
        .assert_error(401, "ModelArts.0201");
    srv.api
        .raw("GET", &url, None, Some("not-a-token"))
        .await
        .assert_error(401, "ModelArts.0203");
    srv.api
        .raw("GET", &url, None, Some(OTHER_TOKEN))
        .await
        .assert_error(403, "ModelArts.0210");
    srv.api
        .raw("GET", &srv.other.url("/training-jobs"), None, Some(TOKEN))
        .await
        .assert_error(403, "ModelArts.0210");
    srv.api
        .raw("POST", &url, Some("{}"), None)
        .await
        .assert_error(401, "ModelArts.0201");
    for path in [
        "/job/resource-specs",
        "/job/ai-engines",
        "/built-in-algorithms",
        "/training-job-configs",
    ] {
        srv.api
            .raw("GET", &srv.api.url(path), None, Some(OTHER_TOKEN))
            .await
            .assert_error(403, "ModelArts.0210");
    }
    // Health needs no token.
    let r = srv
        .api
        .http
        .get(format!("{}/health", srv.api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_project_never_sees_or_touches_another_projects_jobs() {
    let srv = TestServer::start().await;
    srv.write_app("app", &[("boot.py", "import time\ntime.sleep(300)\n")]);
    let r = srv
        .api
        .post("/training-jobs", job_body("mine", json!({})))
        .await;
    let (job, ver) = (
        r.assert_ok()["job_id"].as_i64().unwrap(),
        r.body["version_id"].as_i64().unwrap(),
    );
    srv.api
        .wait_status(job, ver, &[JobStatus::RUNNING], Duration::from_secs(30))
        .await;

    let other = &srv.other;
    assert_eq!(
        other.get("/training-jobs").await.assert_ok()["job_total_count"],
        json!(0)
    );
    let v = format!("/training-jobs/{job}/versions/{ver}");
    other.get(&v).await.assert_error(400, "ModelArts.0105");
    other
        .get(&format!("/training-jobs/{job}/versions"))
        .await
        .assert_error(400, "ModelArts.0105");
    other
        .post(&format!("{v}/stop"), json!({}))
        .await
        .assert_error(400, "ModelArts.0105");
    other.delete(&v).await.assert_error(400, "ModelArts.0105");
    other
        .delete(&format!("/training-jobs/{job}"))
        .await
        .assert_error(400, "ModelArts.0105");
    other
        .put(&format!("/training-jobs/{job}"), json!({"job_desc": "x"}))
        .await
        .assert_error(400, "ModelArts.0105");
    other
        .get(&format!("{v}/log/file-names"))
        .await
        .assert_error(400, "ModelArts.0105");
    other
        .get(&format!("{v}/aom-log?log_file=mine.0"))
        .await
        .assert_error(400, "ModelArts.0105");
    // The other project cannot reach this project's code through its own paths either.
    let r = other
        .post(
            "/training-jobs",
            job_body(
                "thief",
                json!({"app_url": "/../proj-a/app/", "boot_file_url": "/../proj-a/app/boot.py"}),
            ),
        )
        .await;
    r.assert_error(400, "ModelArts.0101");
    // Still running, untouched.
    assert_eq!(srv.api.status(job, ver).await, JobStatus::RUNNING);
    srv.api
        .post(&format!("{v}/stop"), json!({}))
        .await
        .assert_ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_traversal_is_refused_in_every_path_field() {
    let srv = TestServer::start().await;
    srv.write_app("app", &[("boot.py", "print(1)\n")]);
    let outside = srv.dir.path().join("secret");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("boot.py"), "print('escaped')\n").unwrap();
    std::os::unix::fs::symlink(&outside, srv.storage().join("link")).unwrap();
    let cases = [
        json!({"app_url": "/../../secret/", "boot_file_url": "/../../secret/boot.py"}),
        json!({"app_url": "/link/", "boot_file_url": "/link/boot.py"}),
        json!({"boot_file_url": "/app/../../../secret/boot.py"}),
        json!({"app_url": "obs://bucket/../../../../etc/", "boot_file_url": "obs://bucket/../../../../etc/passwd"}),
        json!({"data_url": "/data/../../../etc/"}),
        json!({"data_url": "/link/"}),
        json!({"train_url": "s3://out/../../.."}),
        json!({"train_url": "/link/out/"}),
        json!({"log_url": "/logs/../../../tmp/"}),
        json!({"log_url": "/link/logs/"}),
        json!({"data_url": null, "data_source": [{"type": "obs", "data_url": "/../x/"}]}),
        json!({"data_url": null, "dataset_id": "../..", "dataset_version_id": "v1"}),
    ];
    for (i, extra) in cases.iter().enumerate() {
        let r = srv
            .api
            .post(
                "/training-jobs",
                job_body(&format!("trav{i}"), extra.clone()),
            )
            .await;
        r.assert_error(400, "ModelArts.0101");
    }
    // A symlink inside the code directory that leads out is refused at snapshot time.
    srv.write_app("app2", &[("boot.py", "print(1)\n")]);
    std::os::unix::fs::symlink(&outside, srv.storage().join("app2/escape")).unwrap();
    let r = srv
        .api
        .post(
            "/training-jobs",
            job_body(
                "snap",
                json!({"app_url": "/app2/", "boot_file_url": "/app2/boot.py"}),
            ),
        )
        .await;
    r.assert_error(400, "ModelArts.0101");
    // Nothing was stored.
    assert_eq!(
        srv.api.get("/training-jobs").await.assert_ok()["job_total_count"],
        json!(0)
    );
    // Configurations are checked too.
    let r = srv
        .api
        .post(
            "/training-job-configs",
            json!({"config_name": "c", "worker_server_num": 1, "spec_id": 1,
            "app_url": "/../../", "boot_file_url": "/../../boot.py"}),
        )
        .await;
    r.assert_error(400, "ModelArts.0101");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_modelarts_errors_never_5xx() {
    let srv = TestServer::start().await;
    srv.write_app("app", &[("boot.py", "print(1)\n")]);
    let url = srv.api.url("/training-jobs");
    let t = Some(TOKEN);
    // Not JSON, not an object.
    for body in [
        "{",
        "not json",
        "[]",
        "\"x\"",
        "{\"job_name\": \"a\",}",
        "\u{0}",
    ] {
        srv.api
            .raw("POST", &url, Some(body), t)
            .await
            .assert_error(400, "ModelArts.2787");
    }
    // Wrong types.
    let wrong = [
        json!({"job_name": "a", "config": {"worker_server_num": "two"}}),
        json!({"job_name": "a", "config": {"worker_server_num": 1.5}}),
        json!({"job_name": "a", "config": {"worker_server_num": [1]}}),
        json!({"job_name": "a", "config": {"parameter": "lr=1"}}),
        json!({"job_name": "a", "config": {"parameter": [{"label": "x", "value": {"a": 1}}]}}),
        json!({"job_name": "a", "config": {"spec_id": {"id": 1}}}),
        json!({"job_name": "a", "config": "config"}),
        json!({"job_name": ["a"], "config": {}}),
        json!({"job_name": "a", "config": {"data_source": {"type": "obs"}}}),
    ];
    for body in wrong {
        let r = srv.api.post("/training-jobs", body.clone()).await;
        r.assert_error(400, "ModelArts.0104");
    }
    // Unknown and non-numeric ids.
    srv.api
        .get("/training-jobs/999/versions/1")
        .await
        .assert_error(400, "ModelArts.0105");
    srv.api
        .get("/training-jobs/abc/versions/1")
        .await
        .assert_error(400, "ModelArts.0104");
    srv.api
        .get("/training-jobs/1/versions/x")
        .await
        .assert_error(400, "ModelArts.0104");
    srv.api
        .delete("/training-jobs/12345")
        .await
        .assert_error(400, "ModelArts.0105");
    srv.api
        .get("/training-job-configs/nope")
        .await
        .assert_error(400, "ModelArts.0105");
    // Path parameters are percent-decoded before they are read: an encoded digit is an id, a
    // parameter that does not decode to UTF-8 names no route.
    srv.api
        .get("/training-jobs/%39%39%39/versions/1")
        .await
        .assert_error(400, "ModelArts.0105");
    srv.api
        .get("/training-jobs/%FF/versions/1")
        .await
        .assert_error(404, "ModelArts.0015");
    // Bad query values.
    srv.api
        .get("/training-jobs?per_page=0")
        .await
        .assert_error(400, "ModelArts.0104");
    srv.api
        .get("/training-jobs?per_page=abc")
        .await
        .assert_error(400, "ModelArts.0104");
    srv.api
        .get("/training-jobs?order=sideways")
        .await
        .assert_error(400, "ModelArts.0104");
    srv.api
        .get("/training-jobs?sortBy=colour")
        .await
        .assert_error(400, "ModelArts.0104");
    srv.api
        .get("/training-jobs?status=99")
        .await
        .assert_error(400, "ModelArts.0104");
    let long = "x".repeat(101);
    let r = srv
        .api
        .get(&format!("/training-jobs?search_content={long}"))
        .await;
    r.assert_error(400, "ModelArts.0104");
    assert_eq!(
        r.body["error_message"],
        json!("The length of search content should be in [0,100]")
    );
    // Huge body.
    let huge = format!("{{\"job_name\": \"{}\"}}", "x".repeat(2 << 20));
    // Its own connection: the server answers 413 before reading the body and then closes the
    // connection, which a pooled client could otherwise try to reuse.
    let fresh = Api {
        http: reqwest::Client::new(),
        ..srv.api.clone()
    };
    fresh
        .raw("POST", &url, Some(&huge), t)
        .await
        .assert_error(413, "ModelArts.2816");
    // Unknown route and wrong method.
    srv.api
        .raw("GET", &srv.api.url("/no-such-thing"), None, t)
        .await
        .assert_error(404, "ModelArts.0015");
    srv.api
        .raw("GET", &format!("{}/nothing", srv.api.base), None, t)
        .await
        .assert_error(404, "ModelArts.0015");
    srv.api
        .raw("PATCH", &url, Some("{}"), t)
        .await
        .assert_error(405, "ModelArts.2803");
    srv.api
        .raw("DELETE", &srv.api.url("/job/ai-engines"), None, t)
        .await
        .assert_error(405, "ModelArts.2803");
    // None of that stored anything.
    assert_eq!(
        srv.api.get("/training-jobs").await.assert_ok()["job_total_count"],
        json!(0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_recommended_error_table() {
    let srv = TestServer::start_with(
        "[executor]\ncores = 4\nmemory_gb = 16\nstop_grace_seconds = 1\n\
         [[specs]]\nspec_id = 1\nspec_code = \"modelarts.vm.cpu.1u\"\ncore = 1\ncpu = 2\nmax_num = 4\n\
         [[specs]]\nspec_id = 50\nspec_code = \"modelarts.vm.cpu.16u\"\ncore = 16\ncpu = 32\n",
    )
    .await;
    let trap = "import signal, time\nsignal.signal(signal.SIGTERM, lambda *a: None)\nprint('ready', flush=True)\ntime.sleep(300)\n";
    srv.write_app("app", &[("boot.py", trap)]);
    let post = |b: Value| {
        let api = srv.api.clone();
        async move { api.post("/training-jobs", b).await }
    };
    // Required field missing (0101).
    let r = post(json!({"config": {}})).await;
    r.assert_error(400, "ModelArts.0101");
    assert_eq!(
        r.body["error_message"],
        json!("Invalid Argument. job_name is required")
    );
    post(json!({"job_name": "a"}))
        .await
        .assert_error(400, "ModelArts.0101");
    post(job_body("a", json!({"worker_server_num": null})))
        .await
        .assert_error(400, "ModelArts.0101");
    post(job_body(
        "a",
        json!({"app_url": null, "boot_file_url": null}),
    ))
    .await
    .assert_error(400, "ModelArts.0101");
    post(job_body("a", json!({"data_url": null})))
        .await
        .assert_error(400, "ModelArts.0101");
    post(job_body("a", json!({"spec_id": null})))
        .await
        .assert_error(400, "ModelArts.0101");
    post(job_body("a", json!({"data_url": null, "dataset_id": "d1"})))
        .await
        .assert_error(400, "ModelArts.0101");
    post(job_body(
        "a",
        json!({"dataset_id": "d1", "dataset_version_id": "v1"}),
    ))
    .await
    .assert_error(400, "ModelArts.0101");
    // Incomplete pair (0107).
    let r = post(job_body("a", json!({"boot_file_url": null}))).await;
    r.assert_error(400, "ModelArts.0107");
    assert_eq!(
        r.body["error_message"],
        json!("The values of the request parameters (app_url,boot_file_url) are invalid.")
    );
    // Bad format / range / unknown catalog entries (0104).
    let r = post(job_body("bad name!", json!({}))).await;
    r.assert_error(400, "ModelArts.0104");
    assert_eq!(r.body["error_message"], json!("Illegal name: bad name!"));
    post(job_body(&"n".repeat(65), json!({})))
        .await
        .assert_error(400, "ModelArts.0104");
    let mut long_desc = job_body("a", json!({}));
    long_desc["job_desc"] = json!("d".repeat(257));
    post(long_desc).await.assert_error(400, "ModelArts.0104");
    let r = post(job_body("a", json!({"spec_id": 424242}))).await;
    r.assert_error(400, "ModelArts.0104");
    assert_eq!(
        r.body["error_message"],
        json!("Parameter error. spec_id:424242 is not existed")
    );
    post(job_body("a", json!({"engine_id": 9999})))
        .await
        .assert_error(400, "ModelArts.0104");
    post(job_body("a", json!({"model_id": 9999})))
        .await
        .assert_error(400, "ModelArts.0104");
    post(job_body(
        "a",
        json!({"flavor": {"code": "no.such.flavor"}, "spec_id": null}),
    ))
    .await
    .assert_error(400, "ModelArts.0104");
    post(job_body("a", json!({"worker_server_num": 0})))
        .await
        .assert_error(400, "ModelArts.0104");
    post(job_body("a", json!({"worker_server_num": 5})))
        .await
        .assert_error(400, "ModelArts.0104");
    let dup = json!({"parameter": [{"label": "lr", "value": 1}, {"label": "lr", "value": 2}]});
    post(job_body("a", dup))
        .await
        .assert_error(400, "ModelArts.0104");
    // Spec larger than the executor (3976).
    post(job_body("a", json!({"spec_id": 50})))
        .await
        .assert_error(400, "ModelArts.3976");
    // Custom image without a container runtime: containers.rs (2810, naming podman).
    post(job_body(
        "a",
        json!({"user_image_url": "img:1", "app_url": null, "boot_file_url": null}),
    ))
    .await
    .assert_error(400, "ModelArts.0101");

    // Duplicate name (0103).
    let r = post(job_body("dup", json!({}))).await;
    let (job, ver) = (
        r.assert_ok()["job_id"].as_i64().unwrap(),
        r.body["version_id"].as_i64().unwrap(),
    );
    let r = post(job_body("dup", json!({}))).await;
    r.assert_error(400, "ModelArts.0103");
    assert_eq!(r.body["error_message"], json!("Job name:dup is existed"));
    // Not found (0105).
    let r = srv
        .api
        .get(&format!("/training-jobs/{job}/versions/{}", ver + 100))
        .await;
    r.assert_error(400, "ModelArts.0105");
    assert_eq!(
        r.body["error_message"],
        json!(format!("Version id:{} is not existed", ver + 100))
    );
    // Wrong status (0105): delete while KILLING, stop while terminal.
    srv.api
        .wait_status(job, ver, &[JobStatus::RUNNING], Duration::from_secs(30))
        .await;
    srv.api.wait_log(job, ver, "dup.0", "ready").await;
    srv.api
        .post(
            &format!("/training-jobs/{job}/versions/{ver}/stop"),
            json!({"grace_period_seconds": 3}),
        )
        .await
        .assert_ok();
    // The TERM-ignoring job stays in 9 for the 3 s grace: deletes are refused meanwhile.
    let r = srv
        .api
        .delete(&format!("/training-jobs/{job}/versions/{ver}"))
        .await;
    r.assert_error(400, "ModelArts.0105");
    assert_eq!(
        r.body["error_message"],
        json!("This job can't be delete. job status: 9")
    );
    let r = srv.api.delete(&format!("/training-jobs/{job}")).await;
    r.assert_error(400, "ModelArts.0105");
    assert_eq!(
        r.body["error_message"],
        json!("This job can't be delete. job status: 9")
    );
    let r = srv
        .api
        .post(
            &format!("/training-jobs/{job}/versions/{ver}/stop"),
            json!({}),
        )
        .await;
    assert_eq!(
        r.body["error_message"],
        json!("This job can't be stop. job status: 9")
    );
    srv.api
        .wait_status(job, ver, &[JobStatus::KILLED], Duration::from_secs(10))
        .await;
    let r = srv
        .api
        .post(
            &format!("/training-jobs/{job}/versions/{ver}/stop"),
            json!({}),
        )
        .await;
    r.assert_error(400, "ModelArts.0105");
    assert_eq!(
        r.body["error_message"],
        json!("This job can't be stop. job status: 12")
    );
    // Update description: required and bounded.
    srv.api
        .put(&format!("/training-jobs/{job}"), json!({}))
        .await
        .assert_error(400, "ModelArts.0101");
    srv.api
        .put(
            &format!("/training-jobs/{job}"),
            json!({"job_desc": "x".repeat(300)}),
        )
        .await
        .assert_error(400, "ModelArts.0104");
    srv.api
        .put(&format!("/training-jobs/{job}"), json!({"job_desc": ""}))
        .await
        .assert_ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotas_are_enforced() {
    let dir_extra = "[executor]\ncores = 64\nmemory_gb = 64\nstop_grace_seconds = 1\n";
    let dir = tempdir().unwrap();
    let text = format!(
        "data_dir = \"{}\"\n[[projects]]\nid = \"{PROJECT}\"\ntokens = [\"{TOKEN}\"]\nquotas = 5\njob_count_limit = 2\n{dir_extra}",
        dir.path().join("data").display()
    );
    let cfg = trainyard_server::config::Config::from_toml(&text).unwrap();
    let app = trainyard_server::build(cfg, bin()).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(trainyard_server::serve(
        app,
        listener,
        std::future::pending(),
    ));
    let api = Api {
        base,
        project: PROJECT.into(),
        token: TOKEN.into(),
        http: reqwest::Client::new(),
    };
    write_app(
        &dir.path().join("data/obs").join(PROJECT),
        "app",
        &[("boot.py", "print(1)\n")],
    );
    api.post("/training-jobs", job_body("q1", json!({})))
        .await
        .assert_ok();
    let list = api.get("/training-jobs").await;
    assert_eq!(list.assert_ok()["quotas"], json!(5));
    assert_eq!(list.body["job_count_limit"], json!(1));
    api.post("/training-jobs", job_body("q2", json!({})))
        .await
        .assert_ok();
    let r = api.post("/training-jobs", job_body("q3", json!({}))).await;
    r.assert_error(400, "ModelArts.0118");
    assert_eq!(
        api.get("/training-jobs").await.assert_ok()["job_count_limit"],
        json!(0)
    );
    server.abort();
    kill_runs(&dir.path().join("data/runs"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sample_paths_with_slashes_and_spaces_are_tolerated() {
    let srv = TestServer::start().await;
    let t = Some(TOKEN);
    let r = srv
        .api
        .raw(
            "GET",
            &format!("{}//v1/{PROJECT}/job/ai-engines/", srv.api.base),
            None,
            t,
        )
        .await;
    r.assert_ok();
    let r = srv
        .api
        .raw(
            "GET",
            &format!(
                "{}/v1/{PROJECT}/training-jobs%20?per_page=%2010&%20order=asc",
                srv.api.base
            ),
            None,
            t,
        )
        .await;
    r.assert_ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_over_its_rate_gets_429() {
    let dir = tempdir().unwrap();
    let text = format!(
        "data_dir = \"{}\"\n[[projects]]\nid = \"{PROJECT}\"\ntokens = [\"{TOKEN}\"]\nrequests_per_second = 5\n\
         [[projects]]\nid = \"{OTHER_PROJECT}\"\ntokens = [\"{OTHER_TOKEN}\"]\n",
        dir.path().join("data").display()
    );
    let cfg = trainyard_server::config::Config::from_toml(&text).unwrap();
    let app = trainyard_server::build(cfg, bin()).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(trainyard_server::serve(
        app,
        listener,
        std::future::pending(),
    ));
    let (api, other) = api_pair(base);
    let mut limited = 0;
    for _ in 0..20 {
        let r = api.get("/job/ai-engines").await;
        if r.status == 429 {
            r.assert_error(429, "ModelArts.2799");
            limited += 1;
        }
    }
    assert!(limited >= 10, "only {limited} of 20 were limited");
    // The unlimited project is not affected.
    for _ in 0..20 {
        other.get("/job/ai-engines").await.assert_ok();
    }
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_carries_a_request_id_that_names_its_log_lines() {
    let dir = tempdir().unwrap();
    let config = dir.path().join("config.toml");
    write_config(&config, config_text(&dir.path().join("data"), "")).unwrap();
    write_app(
        &dir.path().join("data/obs").join(PROJECT),
        "app",
        &[("boot.py", "print('traced')\n")],
    );
    let server = ServerProcess::start(&config, free_port()).await;
    let api = &server.api;
    // Made up when the client sends none, on successes and failures alike.
    let mut seen = std::collections::HashSet::new();
    for path in [
        "/training-jobs",
        "/training-jobs/999999/versions/1",
        "/no-such-route",
    ] {
        let resp = api
            .http
            .get(api.url(path))
            .header("X-Auth-Token", TOKEN)
            .send()
            .await
            .unwrap();
        let id = resp.headers().get("x-request-id").expect("x-request-id");
        assert_eq!(id.len(), 36, "{path}: {id:?}");
        assert!(seen.insert(id.to_str().unwrap().to_owned()), "ids repeat");
    }
    // The client's own id is kept, returned, and names the log lines of its request.
    let mut config = json!({"worker_server_num": 1, "app_url": "/app/",
        "boot_file_url": "/app/boot.py", "data_url": "/data/", "spec_id": 1, "engine_id": 1000});
    config["train_url"] = json!("/out/traced/");
    let resp = api
        .http
        .post(api.url("/training-jobs"))
        .header("X-Auth-Token", TOKEN)
        .header("x-request-id", "trace-me-4242")
        .json(&json!({"job_name": "traced", "config": config}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-request-id"], "trace-me-4242");
    // ServerProcess writes the server's output next to its config file.
    let log = dir.path().join("config.log");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text
            .lines()
            .any(|l| l.contains("trace-me-4242") && l.contains("job queued"))
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no log line names the request id:\n{text}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
