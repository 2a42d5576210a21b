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

    // Events, one per transition, with the tasks'.
    let events = get(api, &format!("/training-jobs/{first}/events?order=asc")).await;
    let messages: Vec<&str> = events.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
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
        &with(&["spec", "schedule_policy"], json!({"priority": 2})),
    )
    .await
    .assert_names("ModelArts.2788", "spec.schedule_policy.priority");
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
    let refused: [(&[&str], Value, &str); 26] = [
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
            json!({"preemptible": true}),
            "spec.schedule_policy.preemptible",
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
        ("spec", json!({"schedule_policy": {"priority": 2}})),
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
    post_raw(api, &job.to_string())
        .await
        .assert_error(400, "ModelArts.2751");

    // The spec's sample bodies, verbatim: parsed, and answered with the documented code of
    // what this server does not serve (algorithm management; NFS volumes; fault tolerance).
    let sample1 = r#"{
  "kind" : "job",
  "metadata" : { "name" : "TestModelArtsJob", "description" : "This is a ModelArts job" },
  "algorithm" : {
    "id" : "3f5d6706-7b67-408d-8ba0-ec08048c45ed",
    "parameters" : [
      { "name" : "input_dir", "value" : "obs://test/moxingtest-dir/" },
      { "name" : "input_file", "value" : "obs://test/moxingtest/" },
      { "name" : "large_file_method", "value" : "1" }
    ],
    "policies" : { "auto_search" : null },
    "environments" : { }
  },
  "spec" : {
    "resource" : { "flavor_id" : "modelarts.p3.large.public.free", "node_count" : 1 },
    "log_export_path" : { "obs_url" : "" }
  }
}"#;
    post_raw(api, sample1)
        .await
        .assert_error(400, "ModelArts.2755");
    let sample2 = r#"{
  "kind" : "job",
  "metadata" : { "name" : "TestModelArtsJob2", "description" : "This is a ModelArts job2" },
  "algorithm" : {
    "engine" : { "image_url" : "xxxxxxxx/fastseq:1.2" },
    "command" : "cd /home/ma-user/ddp_demo && sh run_ddp.sh",
    "parameters" : [ ],
    "policies" : { "auto_search" : null },
    "environments" : { "NCCL_DEBUG" : "INFO", "NCCL_IB_DISABLE" : "0" }
  },
  "spec" : {
    "resource" : { "flavor_id" : "modelarts.pool.visual.xlarge", "node_count" : 1, "pool_id" : "poolfaf38d76" },
    "log_export_path" : { "obs_url" : "/training-test/limou/ddp-demo-log/" },
    "volumes" : [ { "nfs" : { "nfs_server_path" : "192.168.0.82:/", "local_path" : "/home/ma-user/nfs/", "read_only" : false } } ]
  }
}"#;
    post_raw(api, sample2)
        .await
        .assert_names("ModelArts.2788", "spec.volumes");
    let sample3 = r#"{
  "kind": "job",
  "metadata": {
    "annotations": {
      "fault-tolerance/job-retry-num": "8",
      "fault-tolerance/job-unconditional-retry": "true"
    }
  }
}"#;
    post_raw(api, sample3)
        .await
        .assert_names("ModelArts.2788", "metadata.name");
    let named3 = sample3
        .replace("\"metadata\": {", "\"metadata\": {\"name\": \"s3\",")
        .replace("\"8\"", "\"0\"");
    post_raw(api, &named3)
        .await
        .assert_names("ModelArts.2788", "fault-tolerance/job-retry-num");
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
