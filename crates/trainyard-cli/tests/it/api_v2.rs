//! The new-version (v2) training API, `/v2/{project_id}/...`, over raw HTTP against a real
//! server running real processes: create to Completed with per-task logs, metrics and
//! events; search, update, terminate, delete and batch delete; container and Slurm-pool jobs;
//! error codes and bodies; projects isolated; v1 and v2 jobs apart.

use crate::harness::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// A v2 answer: status and JSON body (`Value::Null` when empty).
struct V2Reply {
    status: u16,
    body: Value,
}

impl V2Reply {
    /// Asserts a v2 error body: `error_code`, a message and `error_solution`, nothing else.
    #[track_caller]
    fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "body: {}", self.body);
        assert_eq!(self.body["error_code"], json!(code), "body: {}", self.body);
        assert!(
            self.body["error_msg"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "body: {}",
            self.body
        );
        assert!(self.body["error_solution"].is_string(), "{}", self.body);
        assert_eq!(self.body.as_object().unwrap().len(), 3, "{}", self.body);
    }

    /// Asserts an error whose message names `field`.
    #[track_caller]
    fn assert_names(&self, code: &str, field: &str) {
        self.assert_error(400, code);
        let msg = self.body["error_msg"].as_str().unwrap();
        assert!(msg.contains(field), "{field} not named: {msg}");
    }
}

/// Sends `method` to `/v2/{project}{path}` with `token` (none: no credentials).
async fn v2(
    api: &Api,
    method: &str,
    path: &str,
    body: Option<&str>,
    token: Option<&str>,
) -> V2Reply {
    let url = format!("{}/v2/{}{path}", api.base, api.project);
    let mut req = api.http.request(method.parse().unwrap(), url);
    if let Some(t) = token {
        req = req.header("X-Auth-Token", t);
    }
    if let Some(b) = body {
        req = req
            .header("Content-Type", "application/json;charset=UTF-8")
            .body(b.to_owned());
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"))
    };
    V2Reply { status, body }
}

async fn post_raw(api: &Api, body: &str) -> V2Reply {
    v2(api, "POST", "/training-jobs", Some(body), Some(&api.token)).await
}

async fn get(api: &Api, path: &str) -> V2Reply {
    v2(api, "GET", path, None, Some(&api.token)).await
}

async fn send(api: &Api, method: &str, path: &str, body: Value) -> V2Reply {
    v2(api, method, path, Some(&body.to_string()), Some(&api.token)).await
}

/// Creates a job; asserts 201 and returns its id.
async fn create(api: &Api, body: Value) -> String {
    let r = send(api, "POST", "/training-jobs", body).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let id = r.body["metadata"]["id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    id
}

/// A code job running `<app>/boot.py` with the Python engine on `flavor`.
fn code_job(name: &str, app: &str, flavor: &str, nodes: i64) -> Value {
    json!({
        "kind": "job",
        "metadata": {"name": name, "description": "v2 test"},
        "algorithm": {
            "code_dir": format!("/{app}/"),
            "boot_file": format!("/{app}/boot.py"),
            "engine": {"engine_id": "python3"},
            "parameters": [{"name": "greeting", "value": "hello-v2"}],
            "environments": {"V2_ENV": "from-env"},
            "outputs": [{"name": "train_url", "remote": {"obs": {"obs_url": format!("/out/{name}/")}}}],
        },
        "spec": {"resource": {"flavor_id": flavor, "node_count": nodes}},
    })
}

/// Polls the job until its phase is `phase`.
async fn wait_phase(api: &Api, id: &str, phase: &str, within: Duration) -> Value {
    let start = Instant::now();
    loop {
        let r = get(api, &format!("/training-jobs/{id}")).await;
        assert_eq!(r.status, 200, "{}", r.body);
        if r.body["status"]["phase"] == json!(phase) {
            return r.body;
        }
        assert!(
            start.elapsed() < within,
            "job {id} not {phase} within {within:?}: {}",
            r.body["status"]
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

const BOOT: &str = "import os, sys, time\n\
rank = os.environ.get('VC_TASK_INDEX', os.environ.get('RANK', '?'))\n\
print('worker', rank, 'args', ' '.join(sys.argv[1:]), 'env', os.environ.get('V2_ENV'), flush=True)\n\
time.sleep(float(os.environ.get('SLEEP', '0')))\n";

const SLEEPER: &str = "import os, time\n\
print('pid', os.getpid(), 'sleeping', flush=True)\n\
time.sleep(300)\n";

#[tokio::test(flavor = "multi_thread")]
async fn v2_jobs_run_on_the_one_engine_and_are_searched_terminated_and_deleted() {
    let srv = TestServer::start().await;
    let api = &srv.api;
    srv.write_app("v2app", &[("boot.py", BOOT)]);
    srv.write_app("v2sleep", &[("boot.py", SLEEPER)]);

    // Catalogs.
    let engines = get(api, "/training-job-engines").await;
    assert_eq!(engines.status, 200);
    assert!(engines.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["engine_id"] == json!("python3") && e["engine_name"] == json!("Python")));
    let flavors = get(api, "/training-job-flavors?flavor_type=CPU").await;
    assert_eq!(flavors.status, 200, "{}", flavors.body);
    let flavor = flavors.body["flavors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["flavor_info"]["max_num"].as_i64().unwrap() >= 2)
        .expect("a CPU flavor for two nodes")["flavor_id"]
        .as_str()
        .unwrap()
        .to_owned();
    get(api, "/training-job-flavors?flavor_type=TPU")
        .await
        .assert_error(400, "ModelArts.2764");
    let quotas = get(api, "/training-quotas?resource=job-num").await;
    assert_eq!(
        quotas.body["quotas"][0]["used"],
        json!(0),
        "{}",
        quotas.body
    );

    // A two-node code job runs to Completed, each task with its own log.
    let created = send(
        api,
        "POST",
        "/training-jobs",
        code_job("first", "v2app", &flavor, 2),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["status"]["phase"], json!("Creating"));
    assert_eq!(
        created.body["status"]["tasks"],
        json!(["worker-0", "worker-1"])
    );
    assert_eq!(
        created.body["algorithm"]["engine"]["engine_name"],
        json!("Python")
    );
    assert_eq!(created.body["spec"]["resource"]["flavor_id"], json!(flavor));
    let first = created.body["metadata"]["id"].as_str().unwrap().to_owned();
    let done = wait_phase(api, &first, "Completed", Duration::from_secs(60)).await;
    assert_eq!(done["status"]["secondary_phase"], json!("Completed"));
    assert!(done["status"]["start_time"].as_i64().unwrap() > 0);
    let tasks = get(api, &format!("/training-jobs/{first}/tasks")).await;
    assert_eq!(tasks.body.as_array().unwrap().len(), 2, "{}", tasks.body);
    for task in ["worker-0", "worker-1"] {
        let log = get(
            api,
            &format!("/training-jobs/{first}/tasks/{task}/logs/preview"),
        )
        .await;
        assert_eq!(log.status, 200, "{}", log.body);
        let content = log.body["content"].as_str().unwrap();
        assert!(content.contains("--greeting=hello-v2"), "{task}: {content}");
        assert!(content.contains("env from-env"), "{task}: {content}");
        assert_eq!(log.body["full_size"], log.body["current_size"]);
        let metrics = get(api, &format!("/training-jobs/{first}/metrics/{task}")).await;
        let series = metrics.body["metrics"].as_array().unwrap();
        assert_eq!(series.len(), 6, "{}", metrics.body);
        let n = series[0]["value"].as_array().unwrap().len();
        assert!(series
            .iter()
            .all(|s| s["value"].as_array().unwrap().len() == n));
    }
    get(
        api,
        &format!("/training-jobs/{first}/tasks/worker-2/logs/preview"),
    )
    .await
    .assert_names("ModelArts.2788", "worker-2");

    // The log URL opens the log without credentials, for a while, and only as signed.
    let url = get(
        api,
        &format!(
            "/training-jobs/{first}/tasks/worker-1/logs/url?Content-Type=application/octet-stream"
        ),
    )
    .await;
    let obs_url = url.body["obs_url"].as_str().expect("obs_url").to_owned();
    let raw = api.http.get(&obs_url).send().await.unwrap();
    assert_eq!(raw.status(), 200);
    assert!(raw
        .headers()
        .get("content-disposition")
        .is_some_and(|v| v.to_str().unwrap().starts_with("attachment")));
    assert!(raw.text().await.unwrap().contains("hello-v2"));
    let forged = obs_url.replace("worker-1", "worker-0");
    assert_eq!(api.http.get(&forged).send().await.unwrap().status(), 403);

    // Events, one per transition, with the tasks'. They are written a moment after the
    // status they follow (events.rs): the last one may still be on its way.
    let deadline = Instant::now() + Duration::from_secs(20);
    let (events, messages) = loop {
        let events = get(api, &format!("/training-jobs/{first}/events?order=asc")).await;
        let messages: Vec<String> = events.body["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["message"].as_str().unwrap().to_owned())
            .collect();
        if messages.last().map(String::as_str) == Some("Training job completed.")
            || Instant::now() > deadline
        {
            break (events, messages);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let messages: Vec<&str> = messages.iter().map(String::as_str).collect();
    assert_eq!(
        messages.first(),
        Some(&"Training job created."),
        "{messages:?}"
    );
    assert!(
        messages.contains(&"[worker-1] training started."),
        "{messages:?}"
    );
    assert_eq!(
        messages.last(),
        Some(&"Training job completed."),
        "{messages:?}"
    );
    assert_eq!(events.body["total"], json!(messages.len()));
    get(api, &format!("/training-jobs/{first}/events?start_time=1"))
        .await
        .assert_error(400, "ModelArts.2764");

    // Update the description.
    let upd = send(
        api,
        "PUT",
        &format!("/training-jobs/{first}"),
        json!({"description": "changed"}),
    )
    .await;
    assert_eq!(upd.status, 200, "{}", upd.body);
    assert_eq!(
        get(api, &format!("/training-jobs/{first}")).await.body["metadata"]["description"],
        json!("changed")
    );

    // Terminate a running job: its process is gone.
    let sleeper = create(api, code_job("sleeper", "v2sleep", &flavor, 1)).await;
    wait_phase(api, &sleeper, "Running", Duration::from_secs(30)).await;
    let pid: i32 = loop {
        let log = get(
            api,
            &format!("/training-jobs/{sleeper}/tasks/worker-0/logs/preview"),
        )
        .await;
        let pid = log.body["content"]
            .as_str()
            .and_then(|c| c.split_whitespace().skip_while(|w| *w != "pid").nth(1))
            .and_then(|p| p.parse().ok());
        if let Some(p) = pid {
            break p;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let stop = send(
        api,
        "POST",
        &format!("/training-jobs/{sleeper}/actions"),
        json!({"action_type": "terminate"}),
    )
    .await;
    assert_eq!(stop.status, 202, "{}", stop.body);
    assert_eq!(stop.body["status"]["phase"], json!("Terminating"));
    wait_phase(api, &sleeper, "Terminated", Duration::from_secs(30)).await;
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "pid {pid} still runs"
    );
    send(
        api,
        "POST",
        &format!("/training-jobs/{sleeper}/actions"),
        json!({"action_type": "terminate"}),
    )
    .await
    .assert_error(409, "ModelArts.2796");
    send(
        api,
        "POST",
        &format!("/training-jobs/{first}/actions"),
        json!({"action_type": "restart"}),
    )
    .await
    .assert_error(400, "ModelArts.2812");

    // Search: filters, sorting, paging.
    let third = create(api, code_job("third-job", "v2app", &flavor, 1)).await;
    let all = send(api, "POST", "/training-job-searches", json!({})).await;
    assert_eq!(all.body["total"], json!(3), "{}", all.body);
    let names = |r: &V2Reply| -> Vec<String> {
        r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["metadata"]["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        names(&all),
        ["third-job", "sleeper", "first"],
        "newest first"
    );
    let page = send(
        api,
        "POST",
        "/training-job-searches",
        json!({"sort_by": "name", "order": "asc", "limit": 1, "offset": 1}),
    )
    .await;
    assert_eq!(names(&page), ["sleeper"]);
    assert_eq!(page.body["count"], json!(3));
    let like = send(
        api,
        "POST",
        "/training-job-searches",
        json!({"filters": [
        {"key": "name", "operator": "like", "value": ["JOB"]},
        {"key": "create_time", "operator": "between", "value": ["", ""]},
        {"key": "runtime_type", "operator": "in", "value": ["debug"]}]}),
    )
    .await;
    assert_eq!(names(&like), ["third-job"], "{}", like.body);
    assert_eq!(like.body["count"], json!(1));
    assert_eq!(like.body["total"], json!(3));
    let stopped = send(
        api,
        "POST",
        "/training-job-searches",
        json!({"filters": [{"key": "phase", "operator": "in", "value": ["Stopped"]}]}),
    )
    .await;
    assert_eq!(names(&stopped), ["sleeper"]);
    send(
        api,
        "POST",
        "/training-job-searches",
        json!({"filters": [{"key": "owner", "operator": "in", "value": ["x"]}]}),
    )
    .await
    .assert_error(400, "ModelArts.2807");
    send(api, "POST", "/training-job-searches", json!({"limit": 51}))
        .await
        .assert_error(400, "ModelArts.2764");
    send(
        api,
        "POST",
        "/training-job-searches",
        json!({"sort_by": "flavor"}),
    )
    .await
    .assert_error(400, "ModelArts.2790");

    // v1 and v2 apart; projects apart.
    let v1 = api
        .post(
            "/training-jobs",
            json!({"job_name": "v1-only", "config": {
            "create_version": false, "worker_server_num": 1, "app_url": "/v2app/",
            "boot_file_url": "/v2app/boot.py", "spec_id": 1, "engine_id": 1}}),
        )
        .await;
    v1.assert_ok();
    let v1_list = api.get("/training-jobs").await;
    assert_eq!(
        v1_list.body["job_total_count"],
        json!(1),
        "{}",
        v1_list.body
    );
    assert_eq!(
        names(&send(api, "POST", "/training-job-searches", json!({})).await).len(),
        3
    );
    get(&srv.other, &format!("/training-jobs/{first}"))
        .await
        .assert_error(400, "ModelArts.2775");
    get(api, &format!("/training-jobs/{}", v1.body["job_id"]))
        .await
        .assert_error(400, "ModelArts.2775");
    let cross = v2(
        api,
        "GET",
        &format!("/training-jobs/{first}"),
        None,
        Some(&srv.other.token),
    )
    .await;
    assert_eq!(cross.status, 403, "{}", cross.body);
    assert!(cross.body["error_msg"].is_string(), "{}", cross.body);

    // Delete in any phase, batch delete all or nothing.
    let running = create(api, code_job("running", "v2sleep", &flavor, 1)).await;
    wait_phase(api, &running, "Running", Duration::from_secs(30)).await;
    let del = v2(
        api,
        "DELETE",
        &format!("/training-jobs/{running}"),
        Some("{}"),
        Some(&api.token),
    )
    .await;
    assert_eq!(del.status, 202, "{}", del.body);
    get(api, &format!("/training-jobs/{running}"))
        .await
        .assert_error(400, "ModelArts.2775");
    let batch = |ids: &[&str]| json!({"jobs": ids.iter().map(|id| json!({"kind": "job", "metadata": {"id": id}})).collect::<Vec<_>>()});
    send(
        api,
        "POST",
        "/training-jobs/batch-delete",
        batch(&[&first, "no-such-job"]),
    )
    .await
    .assert_error(400, "ModelArts.2775");
    assert_eq!(
        get(api, &format!("/training-jobs/{first}")).await.status,
        200,
        "nothing deleted"
    );
    let b = send(
        api,
        "POST",
        "/training-jobs/batch-delete",
        batch(&[&first, &sleeper, &third]),
    )
    .await;
    assert_eq!(b.status, 202, "{}", b.body);
    let left = send(api, "POST", "/training-job-searches", json!({})).await;
    assert_eq!(left.body["total"], json!(0), "{}", left.body);
    send(
        api,
        "POST",
        "/training-jobs/batch-delete",
        json!({"jobs": []}),
    )
    .await
    .assert_error(400, "ModelArts.2788");
}

#[tokio::test(flavor = "multi_thread")]
async fn v2_requests_are_refused_with_the_documented_codes() {
    // With a pool configured, a pool_id must name one (without, any runs locally, as in v1).
    let srv =
        TestServer::start_with("[[pools]]\nid = \"here\"\nbackend = \"local\"\ndefault = true\n")
            .await;
    let api = &srv.api;
    srv.write_app("v2app", &[("boot.py", BOOT)]);

    // The shared layers answer in the v2 shape.
    v2(api, "GET", "/no-such-route", None, Some(&api.token))
        .await
        .assert_error(404, "ModelArts.2836");
    v2(api, "PATCH", "/training-jobs", None, Some(&api.token))
        .await
        .assert_error(405, "ModelArts.2803");
    v2(api, "GET", "/training-job-engines", None, None)
        .await
        .assert_error(401, "ModelArts.0201");

    post_raw(api, "{not json")
        .await
        .assert_error(400, "ModelArts.2787");
    post_raw(api, "[1]")
        .await
        .assert_error(400, "ModelArts.2787");
    post_raw(api, r#"{"metadata": {"name": ["x"]}}"#)
        .await
        .assert_error(400, "ModelArts.2825");
    let job = code_job("refused", "v2app", "modelarts.vm.cpu.1u", 1);
    let with = |path: &[&str], v: Value| {
        let mut j = job.clone();
        let mut at = &mut j;
        for p in &path[..path.len() - 1] {
            at = at.get_mut(*p).unwrap_or_else(|| panic!("{p}"));
        }
        at[path[path.len() - 1]] = v;
        j.to_string()
    };
    post_raw(api, &with(&["metadata", "name"], json!("bad name")))
        .await
        .assert_names("ModelArts.2788", "metadata.name");
    post_raw(api, &with(&["kind"], json!("edge_job")))
        .await
        .assert_error(400, "ModelArts.2858");
    post_raw(
        api,
        &with(&["algorithm", "engine"], json!({"engine_id": "caffe-9"})),
    )
    .await
    .assert_error(400, "ModelArts.2780");
    post_raw(
        api,
        &with(
            &["spec", "resource", "flavor_id"],
            json!("modelarts.vm.none"),
        ),
    )
    .await
    .assert_error(400, "ModelArts.2781");
    post_raw(
        api,
        &with(&["spec", "resource", "node_count"], json!(10_000)),
    )
    .await
    .assert_error(400, "ModelArts.2793");
    post_raw(
        api,
        &with(&["spec", "resource", "pool_id"], json!("no-pool")),
    )
    .await
    .assert_error(404, "ModelArts.2890");
    post_raw(
        api,
        &with(&["spec", "schedule_policy"], json!({"priority": 7})),
    )
    .await
    .assert_error(400, "ModelArts.2816");
    post_raw(
        api,
        &with(
            &["metadata", "annotations"],
            json!({"fault-tolerance/job-retry-num": "129"}),
        ),
    )
    .await
    .assert_names(
        "ModelArts.2788",
        "metadata.annotations.fault-tolerance/job-retry-num",
    );
    post_raw(api, &with(&["algorithm", "working_dir"], json!("/tmp")))
        .await
        .assert_error(400, "ModelArts.2859");
    post_raw(
        api,
        &with(&["algorithm", "local_code_dir"], json!("/home/x")),
    )
    .await
    .assert_error(400, "ModelArts.2857");
    post_raw(api, &with(&["algorithm", "code_dir"], json!("/missing/")))
        .await
        .assert_names("ModelArts.2788", "algorithm.code_dir");
    post_raw(
        api,
        &with(&["algorithm", "engine"], json!({"image_url": "x/y:1"})),
    )
    .await
    .assert_error(400, "ModelArts.2806");
    // Every field that is not served is refused, naming it.
    let refused: [(&[&str], Value, &str); 25] = [
        (&["tasks"], json!([{"role": "x"}]), "tasks"),
        (
            &["endpoints"],
            json!({"ssh": {"key_pair_names": ["k"]}}),
            "endpoints",
        ),
        (
            &["algorithm", "subscription_id"],
            json!("s"),
            "algorithm not found",
        ),
        (
            &["algorithm", "item_version_id"],
            json!("i"),
            "algorithm not found",
        ),
        (
            &["algorithm", "policies"],
            json!({"auto_search": {"skip_search_params": "x"}}),
            "algorithm.policies",
        ),
        (
            &["algorithm", "summary"],
            json!({"log_type": "tensorboard"}),
            "algorithm.summary",
        ),
        (
            &["algorithm", "inputs"],
            json!([{"name": "images", "remote": {"obs": {"obs_url": "/d/"}}}]),
            "algorithm.inputs[0].name",
        ),
        (
            &["algorithm", "inputs"],
            json!([{"name": "data_url", "local_dir": "/x", "remote": {"obs": {"obs_url": "/d/"}}}]),
            "algorithm.inputs[0].local_dir",
        ),
        (
            &["algorithm", "inputs"],
            json!([{"name": "data_url", "access_method": "env", "remote": {"obs": {"obs_url": "/d/"}}}]),
            "algorithm.inputs[0].access_method",
        ),
        (
            &["algorithm", "inputs"],
            json!([{"name": "data_url", "remote": {"dataset": {"id": "d", "version_id": "v"}}}]),
            "algorithm.inputs[0].remote.dataset",
        ),
        (
            &["algorithm", "engine"],
            json!({"engine_name": "Python"}),
            "algorithm.engine.engine_version",
        ),
        (
            &["algorithm", "engine"],
            json!({"engine_id": "python3", "install_sys_packages": true}),
            "algorithm.engine.install_sys_packages",
        ),
        (
            &["algorithm", "engine"],
            json!({"engine_id": "python3", "image_repo_id": "r"}),
            "algorithm.engine.image_repo_id",
        ),
        (
            &["algorithm", "environments"],
            json!({"1BAD": "x"}),
            "algorithm.environments.1BAD",
        ),
        (
            &["spec", "volumes"],
            json!([{"nfs": {"nfs_server_path": "h:/", "local_path": "/n"}}]),
            "spec.volumes",
        ),
        (
            &["spec", "notification"],
            json!({"topic_urn": "u", "events": ["JobStarted"]}),
            "spec.notification",
        ),
        (
            &["spec", "custom_metrics"],
            json!([{"exec": {"command": ["x"]}}]),
            "spec.custom_metrics",
        ),
        (
            &["spec", "log_export_path"],
            json!({"host_path": "/logs"}),
            "spec.log_export_path.host_path",
        ),
        (
            &["spec", "auto_stop"],
            json!({"time_unit": "MINUTES", "duration": 1}),
            "spec.auto_stop.time_unit",
        ),
        (
            &["spec", "auto_stop"],
            json!({"time_unit": "HOURS", "duration": 0}),
            "spec.auto_stop.duration",
        ),
        (
            &["spec", "schedule_policy"],
            json!({"required_affinity": {"affinity_type": "cabinet"}}),
            "spec.schedule_policy.required_affinity",
        ),
        (
            &["spec", "schedule_policy"],
            json!({"preferred_affinity": {"node_affinity": [{"weight": 1}]}}),
            "spec.schedule_policy.preferred_affinity",
        ),
        (
            &["spec", "resource", "pool_group_id"],
            json!("g"),
            "spec.resource.pool_group_id",
        ),
        (
            &["spec", "resource", "main_container_customized_flavor"],
            json!({"cpu_core_num": 1}),
            "spec.resource.main_container_customized_flavor",
        ),
        (
            &["algorithm", "command"],
            json!("python3 x.py"),
            "algorithm.command",
        ),
    ];
    for (path, value, named) in refused {
        let r = post_raw(api, &with(path, value)).await;
        assert!(r.status >= 400, "{path:?} accepted: {}", r.body);
        let msg = r.body["error_msg"].as_str().unwrap_or_default();
        assert!(
            msg.contains(named),
            "{path:?}: {named} not named: {}",
            r.body
        );
    }
    for (body, named) in [
        (json!({"tags": [{"key": "k", "values": ["v"]}]}), "tags"),
        (json!({"host_ips": ["10.0.0.1"]}), "host_ips"),
    ] {
        send(api, "POST", "/training-job-searches", body)
            .await
            .assert_names("ModelArts.2788", named);
    }

    // Accepted once, then its name is taken.
    let created = post_raw(api, &job.to_string()).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["metadata"]["id"].as_str().unwrap().to_owned();
    for (field, value) in [
        (
            "spec",
            json!({"notification": {"topic_urn": "t", "events": []}}),
        ),
        (
            "spec",
            json!({"schedule_policy": {"priority": 2, "preemptible": true}}),
        ),
        ("endpoints", json!({"ssh": {"key_pair_names": ["k"]}})),
        (
            "metadata",
            json!({"annotation": {"jupyter-lab/enable": "true"}}),
        ),
    ] {
        send(
            api,
            "PUT",
            &format!("/training-jobs/{id}"),
            json!({ field: value }),
        )
        .await
        .assert_names("ModelArts.2788", field);
    }
    // A priority out of range, or changed on a job that no longer waits to start.
    let path = format!("/training-jobs/{id}");
    let priority = |p: Value| json!({"spec": {"schedule_policy": {"priority": p}}});
    send(api, "PUT", &path, priority(json!(4)))
        .await
        .assert_names("ModelArts.2816", "spec.schedule_policy.priority");
    wait_phase(api, &id, "Completed", Duration::from_secs(60)).await;
    send(api, "PUT", &path, priority(json!(2)))
        .await
        .assert_error(400, "ModelArts.2858");
    post_raw(api, &job.to_string())
        .await
        .assert_error(400, "ModelArts.2751");
}

#[tokio::test(flavor = "multi_thread")]
async fn v2_container_and_slurm_pool_jobs_complete() {
    let _node = slurm_node().await;
    let image = test_image();
    let srv = TestServer::start_with(
        "[[pools]]\nid = \"cluster\"\nbackend = \"slurm\"\npartition = \"debug\"\npoll_interval_seconds = 0.2\n",
    )
    .await;
    let api = &srv.api;
    srv.write_app("v2c", &[("boot.py", BOOT)]);
    let container = create(
        api,
        json!({
            "kind": "job",
            "metadata": {"name": "in-image"},
            "algorithm": {
                "code_dir": "/v2c/",
                "engine": {"image_url": image},
                "command": "python3 /home/work/user-job-dir/v2c/boot.py --from=container",
            },
            "spec": {"resource": {"flavor_id": "modelarts.vm.cpu.1u", "node_count": 1}},
        }),
    )
    .await;
    let mut slurm = code_job("on-slurm", "v2c", "modelarts.vm.cpu.1u", 1);
    slurm["spec"]["resource"]["pool_id"] = json!("cluster");
    let slurm = create(api, slurm).await;
    let shown = get(api, &format!("/training-jobs/{slurm}")).await;
    assert_eq!(shown.body["spec"]["resource"]["pool_id"], json!("cluster"));
    for (id, needle) in [
        (&container, "--from=container"),
        (&slurm, "--greeting=hello-v2"),
    ] {
        wait_phase(api, id, "Completed", Duration::from_secs(120)).await;
        let log = get(
            api,
            &format!("/training-jobs/{id}/tasks/worker-0/logs/preview"),
        )
        .await;
        let content = log.body["content"].as_str().unwrap_or_default();
        assert!(content.contains(needle), "{id}: {}", log.body);
    }
}

/// Runs `trainyard args...` against the server with the test project's token and `env`.
async fn cli(srv: &TestServer, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = tokio::process::Command::new(bin())
        .args(args)
        .env_remove("TRAINYARD_PROFILE")
        .env_remove("TRAINYARD_PROFILE_FILE")
        .env_remove("COLUMNS")
        .env("XDG_CONFIG_HOME", srv.dir.path().join("config-home"))
        .env("TRAINYARD_SERVER", &srv.api.base)
        .env("TRAINYARD_PROJECT", PROJECT)
        .env("TRAINYARD_TOKEN", TOKEN)
        .envs(env.iter().copied())
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "trainyard {args:?}: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[tokio::test(flavor = "multi_thread")]
async fn cli_lists_shows_logs_stops_and_deletes_v2_jobs() {
    let srv = TestServer::start().await;
    let api = &srv.api;
    srv.write_app("v2app", &[("boot.py", BOOT)]);
    srv.write_app("v2sleep", &[("boot.py", SLEEPER)]);
    let v1 = api
        .post(
            "/training-jobs",
            json!({"job_name": "cli-v1", "config": {
                "create_version": false, "worker_server_num": 1, "app_url": "/v2app/",
                "boot_file_url": "/v2app/boot.py", "spec_id": 1, "engine_id": 1}}),
        )
        .await;
    let v1_id = v1.assert_ok()["job_id"].to_string();
    let finished = create(api, code_job("cli-done", "v2app", "modelarts.vm.cpu.1u", 2)).await;
    wait_phase(api, &finished, "Completed", Duration::from_secs(60)).await;
    let running = create(
        api,
        code_job("cli-running", "v2sleep", "modelarts.vm.cpu.1u", 1),
    )
    .await;
    wait_phase(api, &running, "Running", Duration::from_secs(30)).await;

    // One list, newest first, an API column, within 80 columns: v2 ids shortened.
    let table = cli(&srv, &["jobs", "list"], &[("COLUMNS", "80")]).await;
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines.iter().all(|l| l.chars().count() <= 80), "{table}");
    assert!(lines[0].split_whitespace().any(|h| h == "API"), "{table}");
    let cells: Vec<Vec<&str>> = lines[1..]
        .iter()
        .map(|l| l.split_whitespace().collect())
        .collect();
    let firsts: Vec<(&str, &str)> = cells.iter().map(|c| (c[0], c[1])).collect();
    assert_eq!(
        firsts,
        [
            (&running[..8], "v2"),
            (&finished[..8], "v2"),
            (v1_id.as_str(), "v1")
        ],
        "{table}"
    );
    let wide = cli(&srv, &["jobs", "list", "-o", "wide"], &[]).await;
    assert!(
        wide.contains(&finished) && wide.contains(&running),
        "{wide}"
    );

    // -o json: the v1 answer with the v2 documents beside it, whatever the filters.
    let listed = |args: &'static [&'static str]| {
        let srv = &srv;
        async move {
            let mut all = vec!["jobs", "list", "-o", "json"];
            all.extend_from_slice(args);
            let out: Value = serde_json::from_str(&cli(srv, &all, &[]).await).unwrap();
            let ids = |key: &str, id: &str| -> Vec<String> {
                out[key]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|j| {
                        j.pointer(id)
                            .unwrap()
                            .to_string()
                            .trim_matches('"')
                            .to_owned()
                    })
                    .collect()
            };
            (ids("jobs", "/job_id"), ids("v2_jobs", "/metadata/id"))
        }
    };
    let no_v1: Vec<String> = Vec::new();
    assert_eq!(
        listed(&[]).await,
        (vec![v1_id.clone()], vec![running.clone(), finished.clone()])
    );
    assert_eq!(
        listed(&["--search", "CLI-DONE"]).await,
        (no_v1.clone(), vec![finished.clone()])
    );
    assert_eq!(
        listed(&["--status", "running"]).await,
        (no_v1.clone(), vec![running.clone()])
    );
    assert_eq!(
        listed(&["--per-page", "2", "--page", "1"]).await,
        (no_v1.clone(), vec![running.clone(), finished.clone()])
    );
    assert_eq!(
        listed(&["--per-page", "2", "--page", "2"]).await,
        (vec![v1_id.clone()], vec![])
    );
    let page2 = cli(
        &srv,
        &["jobs", "list", "--per-page", "2", "--page", "2"],
        &[],
    )
    .await;
    assert!(
        page2.contains("cli-v1") && !page2.contains("cli-done"),
        "{page2}"
    );

    // get / logs by the shown id or the whole one.
    // The shown id names the job unless it is all digits (a v1 id then).
    let short = |id: &str| -> String {
        if id[..8].bytes().all(|c| c.is_ascii_digit()) {
            id.to_owned()
        } else {
            id[..8].to_owned()
        }
    };
    let shown = cli(&srv, &["jobs", "get", &short(&finished)], &[]).await;
    assert!(
        shown.contains("cli-done") && shown.contains("Completed/Completed"),
        "{shown}"
    );
    let logs = cli(&srv, &["jobs", "logs", &finished], &[]).await;
    assert!(
        logs.contains("[0] worker") && logs.contains("[1] worker"),
        "{logs}"
    );
    assert!(logs.contains("--greeting=hello-v2"), "{logs}");
    let one = cli(&srv, &["jobs", "logs", &finished, "--worker", "1"], &[]).await;
    assert!(one.starts_with("worker") && !one.contains("[1]"), "{one}");

    console_shows(&srv, &finished).await;

    // stop and delete.
    let stopped = cli(&srv, &["jobs", "stop", &short(&running)], &[]).await;
    assert!(
        stopped.contains(&format!("terminating job {running}")),
        "{stopped}"
    );
    wait_phase(api, &running, "Terminated", Duration::from_secs(30)).await;
    let deleted = cli(&srv, &["jobs", "delete", &running], &[]).await;
    assert!(deleted.contains("deleted job"), "{deleted}");
    get(api, &format!("/training-jobs/{running}"))
        .await
        .assert_error(400, "ModelArts.2775");
}

/// The console over its own session (cookie and CSRF token, no API credentials): the v2
/// job's page is served, its scripts call the v2 API, which takes the session.
async fn console_shows(srv: &TestServer, id: &str) {
    let base = &srv.api.base;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let signed = http
        .post(format!("{base}/console/sign-in"))
        .header("Origin", base.as_str())
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!("method=token&token={TOKEN}&next=/console/jobs"))
        .send()
        .await
        .unwrap();
    let cookie = signed
        .headers()
        .get("set-cookie")
        .expect("a session cookie")
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let page = http
        .get(format!("{base}/console/jobs/v2/{id}"))
        .header("Cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    let csrf = html
        .split("name=\"trainyard-csrf\" content=\"")
        .nth(1)
        .and_then(|t| t.split('"').next())
        .expect("the CSRF token in the shell")
        .to_owned();
    for (asset, needle) in [
        ("js/main.js", "v2job.page"),
        ("js/jobs.js", "/training-job-searches"),
        ("js/v2job.js", "/logs/preview"),
    ] {
        let text = http
            .get(format!("{base}/console/assets/{asset}"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(text.contains(needle), "{asset} lacks {needle}");
    }
    let url = format!("{base}/v2/{PROJECT}/training-job-searches");
    let listed: Value = http
        .post(&url)
        .header("Cookie", &cookie)
        .header("X-Console-CSRF", &csrf)
        .json(&json!({"limit": 50}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|j| j["metadata"]["id"] == json!(id)),
        "{listed}"
    );
    let preview = http
        .get(format!(
            "{base}/v2/{PROJECT}/training-jobs/{id}/tasks/worker-0/logs/preview"
        ))
        .header("Cookie", &cookie)
        .header("X-Console-CSRF", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(preview.status(), 200);
    // The cookie alone authorizes nothing.
    let bare = http
        .post(&url)
        .header("Cookie", &cookie)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert!(bare.status().as_u16() >= 400, "{}", bare.status());
}

/// A request signed as the official SDK signs it (`SDK-HMAC-SHA256` over `content-type`,
/// `host`, `x-project-id`, `x-sdk-date`): the v2 API takes AK/SK credentials as v1 does, and
/// refuses another project's path.
async fn signed(api: &Api, method: &str, path: &str, body: &str, ak: &str, sk: &str) -> V2Reply {
    use trainyard_api::signature::{
        canonical_request, sha256_hex, sign, string_to_sign, SignedRequest,
    };
    let host = api.base.trim_start_matches("http://").to_owned();
    let date = jiff::Timestamp::now()
        .strftime("%Y%m%dT%H%M%SZ")
        .to_string();
    let content_type = "application/json;charset=UTF-8";
    let req = SignedRequest {
        method,
        path,
        query: "",
        headers: vec![
            ("content-type".into(), content_type.into()),
            ("host".into(), host.clone()),
            ("x-project-id".into(), PROJECT.into()),
            ("x-sdk-date".into(), date.clone()),
        ],
        body_hash: sha256_hex(body.as_bytes()),
    };
    let sig = sign(
        sk.as_bytes(),
        &string_to_sign(&canonical_request(&req), &date),
    );
    let resp = api
        .http
        .request(method.parse().unwrap(), format!("{}{path}", api.base))
        .header("content-type", content_type)
        .header("x-project-id", PROJECT)
        .header("x-sdk-date", &date)
        .header(
            "authorization",
            format!("SDK-HMAC-SHA256 Access={ak}, SignedHeaders=content-type;host;x-project-id;x-sdk-date, Signature={sig}"),
        )
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap()
    };
    V2Reply { status, body }
}

#[tokio::test(flavor = "multi_thread")]
async fn v2_takes_sdk_signatures() {
    let srv =
        TestServer::start_with_project("access_keys = [{ ak = \"AKV2\", sk = \"sk-v2\" }]", "")
            .await;
    let api = &srv.api;
    let path = format!("/v2/{PROJECT}/training-job-searches");
    let ok = signed(api, "POST", &path, "{\"limit\": 10}", "AKV2", "sk-v2").await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert_eq!(ok.body["total"], json!(0));
    let engines = signed(
        api,
        "GET",
        &format!("/v2/{PROJECT}/training-job-engines"),
        "",
        "AKV2",
        "sk-v2",
    )
    .await;
    assert_eq!(engines.status, 200, "{}", engines.body);
    signed(api, "POST", &path, "{\"limit\": 10}", "AKV2", "wrong")
        .await
        .assert_error(401, "ModelArts.0208");
    let other = signed(
        api,
        "POST",
        &format!("/v2/{OTHER_PROJECT}/training-job-searches"),
        "{}",
        "AKV2",
        "sk-v2",
    )
    .await;
    assert_eq!(other.status, 403, "{}", other.body);
    assert!(other.body["error_msg"].is_string(), "{}", other.body);
}

/// Sample request 1 of T2-01 (`shared/spec/v2.md`), exactly as printed there.
const SAMPLE_1: &str = r#"{
  "kind" : "job",
  "metadata" : {
    "name" : "TestModelArtsJob",
    "description" : "This is a ModelArts job"
  },
  "algorithm" : {
    "id" : "3f5d6706-7b67-408d-8ba0-ec08048c45ed",
    "parameters" : [
      { "name" : "input_dir", "value" : "obs://test/moxingtest-dir/" },
      { "name" : "input_file", "value" : "obs://test/moxingtest/" },
      { "name" : "large_file_method", "value" : "1" }
    ],
    "policies" : {
      "auto_search" : null
    },
    "environments" : { }
  },
  "spec" : {
    "resource" : {
      "flavor_id" : "modelarts.p3.large.public.free",
      "node_count" : 1
    },
    "log_export_path" : {
      "obs_url" : ""
    }
  }
}"#;

/// Sample request 2 of T2-01, exactly as printed there.
const SAMPLE_2: &str = r#"{
  "kind" : "job",
  "metadata" : {
    "name" : "TestModelArtsJob2",
    "description" : "This is a ModelArts job2"
  },
  "algorithm" : {
    "engine" : {
      "image_url" : "xxxxxxxx/fastseq:1.2"
    },
    "command" : "cd /home/ma-user/ddp_demo && sh run_ddp.sh",
    "parameters" : [ ],
    "policies" : {
      "auto_search" : null
    },
    "environments" : {
      "NCCL_DEBUG" : "INFO",
      "NCCL_IB_DISABLE" : "0"
    }
  },
  "spec" : {
    "resource" : {
      "flavor_id" : "modelarts.pool.visual.xlarge",
      "node_count" : 1,
      "pool_id" : "poolfaf38d76"
    },
    "log_export_path" : {
      "obs_url" : "/training-test/limou/ddp-demo-log/"
    },
    "volumes" : [ {
      "nfs" : {
        "nfs_server_path" : "192.168.0.82:/",
        "local_path" : "/home/ma-user/nfs/",
        "read_only" : false
      }
    } ]
  }
}"#;

/// Sample request 3 of T2-01 ("abridged by the source"), exactly as printed there.
const SAMPLE_3: &str = r#"{
  "kind": "job",
  "metadata": {
    "annotations": {
      "fault-tolerance/job-retry-num": "8",
      "fault-tolerance/job-unconditional-retry": "true"
    }
  }
}"#;

/// The image sample 2 names, `xxxxxxxx/fastseq:1.2`: the test image with
/// `/home/ma-user/ddp_demo/run_ddp.sh` added (built offline with podman), so the sample's
/// command really runs. The script shows its environment and whether the NFS mount is
/// readable and writable.
fn fastseq_image() {
    let ctx = tempdir().unwrap();
    std::fs::create_dir(ctx.path().join("ddp_demo")).unwrap();
    std::fs::write(
        ctx.path().join("ddp_demo/run_ddp.sh"),
        "echo ddp NCCL_DEBUG=$NCCL_DEBUG NCCL_IB_DISABLE=$NCCL_IB_DISABLE\n\
         echo \"nfs says $(cat /home/ma-user/nfs/shared.txt)\"\n\
         if echo from-job > /home/ma-user/nfs/from-job.txt; then echo nfs-writable; else echo nfs-read-only; fi\n",
    )
    .unwrap();
    std::fs::write(
        ctx.path().join("Containerfile"),
        format!(
            "FROM {}\nCOPY ddp_demo /home/ma-user/ddp_demo\n",
            test_image()
        ),
    )
    .unwrap();
    let out = std::process::Command::new("podman")
        .args(["build", "-q", "-t", "xxxxxxxx/fastseq:1.2"])
        .arg(ctx.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "podman build: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A task's whole log preview.
async fn preview(api: &Api, id: &str) -> String {
    let log = get(
        api,
        &format!("/training-jobs/{id}/tasks/worker-0/logs/preview"),
    )
    .await;
    log.body["content"].as_str().unwrap_or_default().to_owned()
}

/// The spec's three sample bodies of T2-01, posted verbatim, are accepted (201) and run to
/// their real end: sample 1 through an algorithm registered under the sample's own id (the
/// SDK's `AlgorithmMetadata` has `id`), sample 2 in its custom image on its pool with its NFS
/// export mounted; sample 3, abridged by its source, is refused naming the first missing
/// field and runs once merged into a complete body. Also the algorithm management (create,
/// list, show, change, delete) and the NFS refusals.
#[tokio::test(flavor = "multi_thread")]
async fn the_spec_sample_bodies_are_accepted_verbatim_and_run() {
    fastseq_image();
    let nfs = tempdir().unwrap();
    std::fs::write(nfs.path().join("shared.txt"), "hello-from-nfs").unwrap();
    std::fs::set_permissions(
        nfs.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    let srv = TestServer::start_with(&format!(
        "[[specs]]\nspec_id = 1\nspec_code = \"modelarts.p3.large.public.free\"\ncore = 1\ncpu = 1\nmax_num = 1\n\
         [[specs]]\nspec_id = 2\nspec_code = \"modelarts.pool.visual.xlarge\"\ncore = 1\ncpu = 1\nmax_num = 2\n\
         [[pools]]\nid = \"poolfaf38d76\"\nbackend = \"local\"\ndefault = true\n\
         [[nfs]]\nserver_path = \"192.168.0.82:/\"\nhost_path = {:?}\n\
         [[nfs]]\nserver_path = \"10.0.0.2:/gone\"\nhost_path = {:?}\n",
        nfs.path().display().to_string(),
        nfs.path().join("gone").display().to_string()
    ))
    .await;
    let api = &srv.api;
    srv.write_app("alg1", &[("boot.py", BOOT)]);
    std::fs::create_dir_all(srv.storage().join("training-test")).unwrap();

    // Sample 1 before its algorithm exists: the spec's sample error.
    let r = post_raw(api, SAMPLE_1).await;
    r.assert_error(400, "ModelArts.2755");
    assert_eq!(r.body["error_msg"], json!("algorithm not found."));
    // The algorithm, under the sample's id.
    let alg = json!({
        "metadata": {"id": "3f5d6706-7b67-408d-8ba0-ec08048c45ed", "name": "ttt-obs-gpu"},
        "job_config": {
            "code_dir": "/alg1/",
            "boot_file": "/alg1/boot.py",
            "engine": {"engine_id": "python3"},
            "parameters": [
                {"name": "large_file_method", "value": "0"},
                {"name": "from_algorithm", "value": "yes"},
            ],
        },
    });
    let made = send(api, "POST", "/algorithms", alg.clone()).await;
    assert_eq!(made.status, 201, "{}", made.body);
    assert_eq!(
        made.body["metadata"]["id"],
        json!("3f5d6706-7b67-408d-8ba0-ec08048c45ed")
    );
    assert_eq!(
        made.body["job_config"]["engine"]["engine_name"],
        json!("Python")
    );
    send(api, "POST", "/algorithms", alg.clone())
        .await
        .assert_names("ModelArts.2788", "metadata");
    let mut bad = alg.clone();
    bad["metadata"] = json!({"id": "12", "name": "bad-id"});
    send(api, "POST", "/algorithms", bad)
        .await
        .assert_names("ModelArts.2788", "metadata.id");
    let other = send(
        api,
        "POST",
        "/algorithms",
        json!({"metadata": {"name": "other"}, "job_config": {
            "engine": {"image_url": test_image()}, "command": "true"}}),
    )
    .await;
    assert_eq!(other.status, 201, "{}", other.body);
    let other_id = other.body["metadata"]["id"].as_str().unwrap().to_owned();
    let list = get(api, "/algorithms?searches=name:ttt&limit=5").await;
    assert_eq!(list.status, 200, "{}", list.body);
    assert_eq!(list.body["count"], json!(1), "{}", list.body);
    assert_eq!(
        list.body["items"][0]["metadata"]["name"],
        json!("ttt-obs-gpu")
    );
    let all = get(api, "/algorithms?sort_by=name&order=asc").await;
    assert_eq!(
        all.body["items"][1]["metadata"]["name"],
        json!("ttt-obs-gpu")
    );
    // Another project does not see it.
    let foreign = v2(
        &srv.other,
        "GET",
        "/algorithms/3f5d6706-7b67-408d-8ba0-ec08048c45ed",
        None,
        Some(&srv.other.token),
    )
    .await;
    foreign.assert_error(400, "ModelArts.2755");

    let one = post_raw(api, SAMPLE_1).await;
    assert_eq!(one.status, 201, "{}", one.body);
    let one_id = one.body["metadata"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        one.body["algorithm"]["id"],
        json!("3f5d6706-7b67-408d-8ba0-ec08048c45ed")
    );
    assert_eq!(one.body["algorithm"]["name"], json!("ttt-obs-gpu"));
    assert_eq!(one.body["algorithm"]["code_dir"], json!("/alg1/"));

    let two = post_raw(api, SAMPLE_2).await;
    assert_eq!(two.status, 201, "{}", two.body);
    let two_id = two.body["metadata"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        two.body["spec"]["resource"]["pool_id"],
        json!("poolfaf38d76")
    );
    assert_eq!(
        two.body["spec"]["volumes"][0]["nfs"]["nfs_server_path"],
        json!("192.168.0.82:/")
    );
    // The same with the export read-only (another name).
    let mut ro: Value = serde_json::from_str(SAMPLE_2).unwrap();
    ro["metadata"]["name"] = json!("TestModelArtsJob2-ro");
    ro["spec"]["volumes"][0]["nfs"]["read_only"] = json!(true);
    ro["spec"]["log_export_path"] = json!({});
    let ro_id = create(api, ro.clone()).await;
    // NFS refusals: an export the server does not mount, and a job not in a container.
    let mut unknown = ro.clone();
    unknown["metadata"]["name"] = json!("unknown-export");
    unknown["spec"]["volumes"][0]["nfs"]["nfs_server_path"] = json!("10.0.0.9:/data");
    send(api, "POST", "/training-jobs", unknown)
        .await
        .assert_names("ModelArts.2788", "spec.volumes[0].nfs.nfs_server_path");
    let mut gone = ro.clone();
    gone["metadata"]["name"] = json!("gone-export");
    gone["spec"]["volumes"][0]["nfs"]["nfs_server_path"] = json!("10.0.0.2:/gone");
    send(api, "POST", "/training-jobs", gone.clone())
        .await
        .assert_names("ModelArts.2788", "spec.volumes[0].nfs.nfs_server_path");
    gone["spec"]["volumes"][0]["nfs"] =
        json!({"nfs_server_path": "192.168.0.82:/", "local_path": "nfs/"});
    send(api, "POST", "/training-jobs", gone)
        .await
        .assert_names("ModelArts.2788", "spec.volumes[0].nfs.local_path");
    let mut host = code_job("nfs-on-host", "alg1", "modelarts.pool.visual.xlarge", 1);
    host["spec"]["volumes"] = ro["spec"]["volumes"].clone();
    send(api, "POST", "/training-jobs", host)
        .await
        .assert_names("ModelArts.2788", "spec.volumes[0].nfs");

    // Sample 3: only metadata. The table makes metadata.name (then the algorithm and the
    // flavor) required: refused naming the first; merged into a complete body it runs.
    post_raw(api, SAMPLE_3)
        .await
        .assert_names("ModelArts.2788", "metadata.name");
    let mut three: Value = serde_json::from_str(SAMPLE_3).unwrap();
    let full = code_job("sample-3", "alg1", "modelarts.p3.large.public.free", 1);
    three["metadata"]["name"] = full["metadata"]["name"].clone();
    three["algorithm"] = full["algorithm"].clone();
    three["spec"] = full["spec"].clone();
    let three_id = create(api, three).await;
    let shown = get(api, &format!("/training-jobs/{three_id}")).await;
    assert_eq!(
        shown.body["metadata"]["annotations"],
        json!({"fault-tolerance/job-retry-num": "8", "fault-tolerance/job-unconditional-retry": "true"})
    );
    let mut bad_retry: Value = serde_json::from_str(SAMPLE_3).unwrap();
    bad_retry["metadata"]["annotations"]["fault-tolerance/job-retry-num"] = json!("129");
    bad_retry["metadata"]["name"] = json!("bad-retry");
    bad_retry["algorithm"] = full["algorithm"].clone();
    bad_retry["spec"] = full["spec"].clone();
    send(api, "POST", "/training-jobs", bad_retry)
        .await
        .assert_names("ModelArts.2788", "fault-tolerance/job-retry-num");

    // Every accepted job runs to its real end.
    for id in [&one_id, &two_id, &ro_id, &three_id] {
        wait_phase(api, id, "Completed", Duration::from_secs(120)).await;
    }
    let log = preview(api, &one_id).await;
    for needle in [
        "--input_dir=obs://test/moxingtest-dir/",
        "--input_file=obs://test/moxingtest/",
        "--large_file_method=1",
        "--from_algorithm=yes",
    ] {
        assert!(log.contains(needle), "{needle}: {log}");
    }
    assert!(!log.contains("--large_file_method=0"), "{log}");
    let log = preview(api, &two_id).await;
    for needle in [
        "ddp NCCL_DEBUG=INFO NCCL_IB_DISABLE=0",
        "nfs says hello-from-nfs",
        "nfs-writable",
    ] {
        assert!(log.contains(needle), "{needle}: {log}");
    }
    assert_eq!(
        std::fs::read_to_string(nfs.path().join("from-job.txt")).unwrap(),
        "from-job\n"
    );
    let exported = srv.storage().join("training-test/limou/ddp-demo-log");
    assert!(
        std::fs::read_dir(&exported).is_ok_and(|mut d| d.next().is_some()),
        "no log copied to {}",
        exported.display()
    );
    std::fs::remove_file(nfs.path().join("from-job.txt")).unwrap();
    let log = preview(api, &ro_id).await;
    assert!(log.contains("nfs-read-only"), "{log}");
    assert!(!nfs.path().join("from-job.txt").exists());

    // Changing and deleting algorithms; the job made from one keeps what it copied.
    let mut changed = alg.clone();
    changed["metadata"]["description"] = json!("changed");
    let r = send(
        api,
        "PUT",
        "/algorithms/3f5d6706-7b67-408d-8ba0-ec08048c45ed",
        changed,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = get(api, "/algorithms/3f5d6706-7b67-408d-8ba0-ec08048c45ed").await;
    assert_eq!(r.body["metadata"]["description"], json!("changed"));
    for id in ["3f5d6706-7b67-408d-8ba0-ec08048c45ed", other_id.as_str()] {
        let r = v2(
            api,
            "DELETE",
            &format!("/algorithms/{id}"),
            None,
            Some(&api.token),
        )
        .await;
        assert_eq!(r.status, 202, "{}", r.body);
    }
    get(api, "/algorithms/3f5d6706-7b67-408d-8ba0-ec08048c45ed")
        .await
        .assert_error(400, "ModelArts.2755");
    let kept = get(api, &format!("/training-jobs/{one_id}")).await;
    assert_eq!(kept.body["algorithm"]["name"], json!("ttt-obs-gpu"));
}

/// The URL of worker-0's log of job `id`, as `api` hands it out.
async fn log_url(api: &Api, id: &str) -> String {
    let r = get(api, &format!("/training-jobs/{id}/tasks/worker-0/logs/url")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    r.body["obs_url"].as_str().unwrap().to_owned()
}

/// A log URL (T2-10) stays valid across a restart of the server that signed it (its key is
/// kept in the data folder, mode 0600) and opens on every replica of a shared PostgreSQL
/// database (the key is a record of the database).
#[tokio::test(flavor = "multi_thread")]
async fn v2_log_urls_outlive_a_restart_and_open_on_every_replica() {
    let dir = tempdir().unwrap();
    let config = dir.path().join("server.toml");
    write_config(&config, config_text(&dir.path().join("data"), "")).unwrap();
    let port = free_port();
    let mut server = ServerProcess::start(&config, port).await;
    write_app(
        &dir.path().join("data/obs").join(PROJECT),
        "v2app",
        &[("boot.py", BOOT)],
    );
    let id = create(
        &server.api,
        code_job("kept-key", "v2app", "modelarts.vm.cpu.1u", 1),
    )
    .await;
    wait_phase(&server.api, &id, "Completed", Duration::from_secs(60)).await;
    let url = log_url(&server.api, &id).await;
    let key = dir.path().join("data/v2-log-url.key");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&key).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    server.kill9();
    let server = ServerProcess::start(&config, port).await;
    let raw = server.api.http.get(&url).send().await.unwrap();
    assert_eq!(raw.status(), 200);
    assert!(raw.text().await.unwrap().contains("hello-v2"));
    drop(server);

    let test = "v2_log_urls_outlive_a_restart_and_open_on_every_replica";
    let Some(r) = Replicas::start(test, 2, "", |_| Vec::new()).await else {
        return;
    };
    write_app(&r.storage(), "v2app", &[("boot.py", BOOT)]);
    let id = create(
        r.api(0),
        code_job("shared-key", "v2app", "modelarts.vm.cpu.1u", 1),
    )
    .await;
    wait_phase(r.api(0), &id, "Completed", Duration::from_secs(60)).await;
    let url = log_url(r.api(0), &id).await;
    let (a, b) = (&r.api(0).base, &r.api(1).base);
    let other = url.replacen(
        a.trim_start_matches("http://"),
        b.trim_start_matches("http://"),
        1,
    );
    assert_ne!(other, url);
    let raw = r.api(1).http.get(&other).send().await.unwrap();
    assert_eq!(raw.status(), 200);
    assert!(raw.text().await.unwrap().contains("hello-v2"));
}

/// Tags of jobs (T2-16): added (a key's value replaced), shown with the job and alone,
/// gathered per project, removed; checked as the contract says. And the `job-num` quota:
/// a project at its `job_count_limit` gets 2815 until a job is deleted.
#[tokio::test(flavor = "multi_thread")]
async fn v2_tags_and_the_job_num_quota() {
    let srv = TestServer::start_with_project("job_count_limit = 2", "").await;
    let api = &srv.api;
    srv.write_app("v2app", &[("boot.py", BOOT)]);
    let a = create(api, code_job("tag-a", "v2app", "modelarts.vm.cpu.1u", 1)).await;
    let b = create(api, code_job("tag-b", "v2app", "modelarts.vm.cpu.1u", 1)).await;
    let quotas = get(api, "/training-quotas").await;
    assert_eq!(
        quotas.body["quotas"][0],
        json!({"resource": "job-num", "quota": 2, "used": 2}),
        "{}",
        quotas.body
    );
    send(
        api,
        "POST",
        "/training-jobs",
        code_job("tag-c", "v2app", "modelarts.vm.cpu.1u", 1),
    )
    .await
    .assert_error(400, "ModelArts.2815");

    let tags = |id: &str| format!("/modelarts-training-job/{id}/tags");
    for (id, body) in [
        (
            &a,
            json!({"tags": [{"key": "team", "value": "vision"}, {"key": "stage", "value": "dev"}]}),
        ),
        (&a, json!({"tags": [{"key": "stage", "value": "prod/1"}]})),
        (&b, json!({"tags": [{"key": "team", "value": "nlp"}]})),
    ] {
        let r = send(api, "POST", &format!("{}/create", tags(id)), body).await;
        assert_eq!((r.status, &r.body), (204, &Value::Null));
    }
    let shown = get(api, &tags(&a)).await;
    assert_eq!(
        shown.body,
        json!({"tags": [{"key": "stage", "value": "prod/1"}, {"key": "team", "value": "vision"}]})
    );
    let job = get(api, &format!("/training-jobs/{a}")).await;
    assert_eq!(job.body["metadata"]["tags"], shown.body["tags"]);
    let project = get(api, "/modelarts-training-job/tags").await;
    assert_eq!(
        project.body,
        json!({"tags": [{"key": "stage", "values": ["prod/1"]}, {"key": "team", "values": ["nlp", "vision"]}]})
    );
    let paged = get(api, "/modelarts-training-job/tags?limit=1&offset=1").await;
    assert_eq!(paged.body["tags"][0]["key"], json!("team"));
    // A value that does not match leaves the tag; a key alone removes it.
    let r = send(
        api,
        "DELETE",
        &format!("{}/delete", tags(&a)),
        json!({"tags": [{"key": "team", "value": "other"}, {"key": "stage"}]}),
    )
    .await;
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(
        get(api, &tags(&a)).await.body,
        json!({"tags": [{"key": "team", "value": "vision"}]})
    );
    for (body, field) in [
        (
            json!({"tags": [{"key": "_sys_x", "value": "v"}]}),
            "tags[0].key",
        ),
        (
            json!({"tags": [{"key": "ok", "value": "v"}, {"key": "a/b", "value": "v"}]}),
            "tags[1].key",
        ),
        (json!({"tags": [{"key": "k"}]}), "tags[0].value"),
        (json!({}), "tags"),
    ] {
        send(api, "POST", &format!("{}/create", tags(&a)), body)
            .await
            .assert_names("ModelArts.2788", field);
    }
    send(
        api,
        "POST",
        &format!("{}/create", tags("00000000-0000-4000-8000-000000000000")),
        json!({"tags": [{"key": "k", "value": "v"}]}),
    )
    .await
    .assert_error(400, "ModelArts.2775");
    v2(&srv.other, "GET", &tags(&a), None, Some(&srv.other.token))
        .await
        .assert_error(400, "ModelArts.2775");

    // Deleting a job frees its place in the quota.
    let r = v2(
        api,
        "DELETE",
        &format!("/training-jobs/{b}"),
        None,
        Some(&api.token),
    )
    .await;
    assert_eq!(r.status, 202, "{}", r.body);
    create(api, code_job("tag-c", "v2app", "modelarts.vm.cpu.1u", 1)).await;
}
