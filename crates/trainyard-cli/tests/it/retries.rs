//! Retries (`config.retry_policy`, `[[projects]] retry`, the v2 fault-tolerance annotations):
//! a failed run starts again as a next attempt of the same version, with the checkpoint folder
//! kept and every attempt's log listed; stops and unlisted failures are never retried; a lost
//! shim is; a server killed during the pause before an attempt runs it once after its restart.

use crate::harness::*;
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

/// A boot file that records each start in the checkpoint folder, resumes from the step the
/// first attempt saved there, and exits with `$EXIT_<attempt>` (0 when unset).
const RESUMER: &str = r#"import os, sys, time
attempt = int(os.environ["TRAINYARD_ATTEMPT"])
ckpt = os.environ["TRAINYARD_CHECKPOINT_DIR"]
with open(os.path.join(ckpt, "starts"), "a") as f:
    f.write("start %d\n" % attempt)
state = os.path.join(ckpt, "step.txt")
if attempt == 1:
    with open(state, "w") as f:
        f.write("41")
    print("attempt 1 saved step 41", flush=True)
else:
    step = open(state).read()
    if step != "41":
        print("no checkpoint", flush=True)
        sys.exit(5)
    print("attempt %d resumed from step %s" % (attempt, step), flush=True)
time.sleep(float(os.environ.get("SLEEP_%d" % attempt, "0")))
sys.exit(int(os.environ.get("EXIT_%d" % attempt, "0")))
"#;

/// Creates job `name` (its app of the same name) running [`RESUMER`]: attempt `n` sleeps
/// `sleeps[n-1]` seconds, then exits with `exits[n-1]`; `policy` is its retry policy.
async fn create_resumer(
    api: &Api,
    storage: &Path,
    name: &str,
    exits: &[i32],
    sleeps: &[u32],
    policy: Option<Value>,
) -> (i64, i64) {
    let mut boot = String::from("import os\n");
    for (i, code) in exits.iter().enumerate() {
        boot.push_str(&format!("os.environ['EXIT_{}'] = '{code}'\n", i + 1));
    }
    for (i, s) in sleeps.iter().enumerate() {
        boot.push_str(&format!("os.environ['SLEEP_{}'] = '{s}'\n", i + 1));
    }
    boot.push_str(RESUMER);
    write_app(storage, name, &[("boot.py", &boot)]);
    let extra = match policy {
        Some(p) => json!({ "retry_policy": p }),
        // No policy of its own, and no train_url: its checkpoints are in its run folder.
        None => json!({ "train_url": null }),
    };
    api.create_job(name, name, extra).await
}

fn version_path(job: i64, version: i64) -> String {
    format!("/training-jobs/{job}/versions/{version}")
}

async fn details(api: &Api, job: i64, version: i64) -> Value {
    api.get(&version_path(job, version))
        .await
        .assert_ok()
        .clone()
}

async fn log_names(api: &Api, job: i64, version: i64) -> Vec<String> {
    let r = api
        .get(&format!("{}/log/file-names", version_path(job, version)))
        .await;
    serde_json::from_value(r.assert_ok()["log_file_list"].clone()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_runs_are_retried_as_their_policy_says() {
    let srv = TestServer::start_with_project(
        "retry = { max_retries = 1, on_exit_codes = [9], backoff_seconds = 0 }",
        "",
    )
    .await;
    let api = &srv.api;
    let storage = srv.storage();
    let on3 = |max: i64, backoff: i64| json!({"max_retries": max, "on_exit_codes": [3], "backoff_seconds": backoff});

    // Exit 3 on attempt 1 (after 2 s), 0 on attempt 2: completed after exactly two attempts, the second
    // resumed from the checkpoint the first wrote.
    let resume = create_resumer(api, &storage, "resume", &[3, 0], &[2], Some(on3(2, 1))).await;
    // Exit 4, not in the policy: failed at once.
    let four = create_resumer(api, &storage, "four", &[4], &[], Some(on3(2, 0))).await;
    // Exit 3 twice with one retry: the budget is used up and the last reason stays.
    let twice = create_resumer(api, &storage, "twice", &[3, 3], &[], Some(on3(1, 0))).await;
    // The project's default policy: exit 9 retried once.
    let default = create_resumer(api, &storage, "default", &[9, 0], &[], None).await;
    // A user stop is never retried, even with `on_any_failure`.
    let any = json!({"max_retries": 3, "on_any_failure": true, "backoff_seconds": 0});
    let stopped = create_resumer(api, &storage, "stopped", &[0], &[600], Some(any)).await;
    // An invalid policy is refused, naming the field.
    let r = api
        .post(
            "/training-jobs",
            json!({"job_name": "bad", "config": {
                "worker_server_num": 1, "app_url": "/resume/", "boot_file_url": "/resume/boot.py",
                "data_url": "/data/", "train_url": "/out/bad/", "spec_id": 1, "engine_id": 1,
                "retry_policy": {"max_retries": 500}}}),
        )
        .await;
    r.assert_error(400, "ModelArts.0104");
    assert!(r.body.to_string().contains("max_retries:500"), "{}", r.body);

    let within = Duration::from_secs(60);
    let (job, ver) = resume;
    // A follower of worker 0's log sees both attempts, then the stream ends.
    let streamed = api
        .http
        .get(api.url(&format!(
            "{}/log/stream?log_file=resume.0",
            version_path(job, ver)
        )))
        .header("X-Auth-Token", &api.token)
        .send()
        .await
        .unwrap();
    assert_eq!(streamed.status(), 200);
    let streamed = tokio::time::timeout(within, streamed.text())
        .await
        .expect("the stream ends with the version")
        .unwrap();
    assert!(
        streamed.contains("attempt 1 saved step 41")
            && streamed.contains("attempt 2 resumed from step 41"),
        "{streamed}"
    );
    let (end, log) = api.run_to_end(job, ver, "resume.0", within).await;
    assert_eq!(end, JobStatus::COMPLETED, "{log}");
    assert!(log.contains("attempt 2 resumed from step 41"), "{log}");
    let d = details(api, job, ver).await;
    assert_eq!(d["attempt"], json!(2), "{d}");
    assert!(d.get("error_result").is_none_or(Value::is_null), "{d}");
    assert_eq!(
        log_names(api, job, ver).await,
        ["resume.0", "attempt-1/resume.0"]
    );
    let first = api.log(job, ver, "attempt-1/resume.0").await;
    assert!(first.contains("attempt 1 saved step 41"), "{first}");
    assert!(
        first.contains(
            "[trainyard] attempt 1 of 3 failed (worker 0 exited with code 3); attempt 2 starts in 1 s"
        ),
        "{first}"
    );
    // The event log: both attempts, in order, with the retry between them.
    let deadline = std::time::Instant::now() + within;
    let kinds = loop {
        let r = api.get(&format!("{}/events", version_path(job, ver))).await;
        let events = r.assert_ok()["events"].as_array().unwrap().clone();
        if events.last().is_some_and(|e| e["kind"] == "ended") {
            let retry = events
                .iter()
                .find(|e| e["kind"] == "retry_scheduled")
                .unwrap();
            assert_eq!(
                retry["detail"],
                json!({"kind": "retry_scheduled", "reason": "worker 0 exited with code 3",
                       "attempt": 2, "of": 3, "delay_s": 1.0})
            );
            let exits: Vec<&Value> = events
                .iter()
                .filter(|e| e["kind"] == "worker_exited")
                .map(|e| &e["detail"]["exit_code"])
                .collect();
            assert_eq!(exits, [&json!(3), &json!(0)]);
            break events
                .iter()
                .map(|e| e["kind"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>();
        }
        assert!(std::time::Instant::now() < deadline, "{events:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let started: Vec<usize> = (0..kinds.len())
        .filter(|i| kinds[*i] == "started")
        .collect();
    let retried = kinds.iter().position(|k| k == "retry_scheduled").unwrap();
    assert!(
        started.len() == 2 && started[0] < retried && retried < started[1],
        "{kinds:?}"
    );
    assert_eq!(kinds.last().map(String::as_str), Some("ended"));
    // The checkpoint folder is below train_url, and each attempt started once.
    let ckpt = storage.join("out/resume/checkpoints");
    assert_eq!(
        std::fs::read_to_string(ckpt.join("starts")).unwrap(),
        "start 1\nstart 2\n"
    );

    let (job, ver) = four;
    let (end, log) = api.run_to_end(job, ver, "four.0", within).await;
    assert_eq!(end, JobStatus::FAILED, "{log}");
    let d = details(api, job, ver).await;
    assert_eq!(d["attempt"], json!(1), "{d}");
    assert_eq!(
        d["error_result"]["error_message"],
        json!("worker 0 exited with code 4")
    );
    assert_eq!(log_names(api, job, ver).await, ["four.0"]);

    let (job, ver) = twice;
    let (end, log) = api.run_to_end(job, ver, "twice.0", within).await;
    assert_eq!(end, JobStatus::FAILED, "{log}");
    let d = details(api, job, ver).await;
    assert_eq!(d["attempt"], json!(2), "{d}");
    assert_eq!(
        d["error_result"]["error_message"],
        json!("worker 0 exited with code 3")
    );
    assert_eq!(
        log_names(api, job, ver).await,
        ["twice.0", "attempt-1/twice.0"]
    );

    let (job, ver) = default;
    let (end, log) = api.run_to_end(job, ver, "default.0", within).await;
    assert_eq!(end, JobStatus::COMPLETED, "{log}");
    assert!(log.contains("attempt 2 resumed"), "{log}");
    assert_eq!(details(api, job, ver).await["attempt"], json!(2));
    let run_ckpt = srv.dir.path().join(format!("data/runs/{ver}/checkpoints"));
    assert_eq!(
        std::fs::read_to_string(run_ckpt.join("starts")).unwrap(),
        "start 1\nstart 2\n"
    );

    let (job, ver) = stopped;
    api.wait_log(job, ver, "stopped.0", "saved step").await;
    api.post(&format!("{}/stop", version_path(job, ver)), json!({}))
        .await
        .assert_ok();
    let (end, log) = api.run_to_end(job, ver, "stopped.0", within).await;
    assert_eq!(end, JobStatus::KILLED, "{log}");
    assert!(!log.contains("[trainyard] attempt"), "{log}");
    assert_eq!(details(api, job, ver).await["attempt"], json!(1));
    assert_eq!(log_names(api, job, ver).await, ["stopped.0"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v2_fault_tolerance_annotations_retry_a_failed_job() {
    let srv = TestServer::start().await;
    let api = &srv.api;
    let mut boot = String::from("import os\nos.environ['EXIT_1'] = '1'\n");
    boot.push_str(RESUMER);
    srv.write_app("v2retry", &[("boot.py", &boot)]);
    let flavors = api
        .http
        .get(format!(
            "{}/v2/{}/training-job-flavors?flavor_type=CPU",
            api.base, api.project
        ))
        .header("X-Auth-Token", &api.token)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let flavor = flavors["flavors"][0]["flavor_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = json!({
        "kind": "job",
        "metadata": {"name": "v2retry", "annotations": {
            "fault-tolerance/job-retry-num": "2",
            "fault-tolerance/job-unconditional-retry": "true"}},
        "algorithm": {
            "code_dir": "/v2retry/",
            "boot_file": "/v2retry/boot.py",
            "engine": {"engine_id": "python3"},
            "outputs": [{"name": "train_url", "remote": {"obs": {"obs_url": "/out/v2retry/"}}}],
        },
        "spec": {"resource": {"flavor_id": flavor, "node_count": 1}},
    });
    let v2 = |method: reqwest::Method, path: String| {
        api.http
            .request(method, format!("{}/v2/{}{path}", api.base, api.project))
            .header("X-Auth-Token", &api.token)
    };
    let created = v2(reqwest::Method::POST, "/training-jobs".into())
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.unwrap();
    let id = created["metadata"]["id"].as_str().unwrap().to_owned();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let job: Value = v2(reqwest::Method::GET, format!("/training-jobs/{id}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let phase = job["status"]["phase"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if phase == "Completed" {
            break;
        }
        assert!(
            !["Failed", "Abnormal", "Terminated"].contains(&phase.as_str()),
            "{job}"
        );
        assert!(std::time::Instant::now() < deadline, "{job}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        std::fs::read_to_string(srv.storage().join("out/v2retry/checkpoints/starts")).unwrap(),
        "start 1\nstart 2\n"
    );
    // A budget out of 1..128 is refused, naming the annotation.
    let mut bad = body.clone();
    bad["metadata"]["name"] = json!("v2bad");
    bad["metadata"]["annotations"]["fault-tolerance/job-retry-num"] = json!("129");
    let r = v2(reqwest::Method::POST, "/training-jobs".into())
        .json(&bad)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let text = r.text().await.unwrap();
    assert!(
        text.contains("ModelArts.2788") && text.contains("job-retry-num"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_shim_is_retried_and_a_restart_during_the_pause_runs_one_next_attempt() {
    let dir = tempdir().unwrap();
    let config = dir.path().join("config.toml");
    write_config(&config, config_text(&dir.path().join("data"), "")).unwrap();
    let runs = dir.path().join("data/runs");
    let storage = dir.path().join("data/obs").join(PROJECT);
    let port = free_port();
    let mut server = ServerProcess::start(&config, port).await;
    let api = server.api.clone();

    // The shim of attempt 1 is SIGKILLed: lost, retried, attempt 2 completes.
    let lost_policy = json!({"max_retries": 1, "backoff_seconds": 0});
    let (lost_job, lost_ver) = create_resumer(
        &api,
        &storage,
        "lostshim",
        &[0, 0],
        &[600, 0],
        Some(lost_policy),
    )
    .await;
    // Exit 3 with a pause of 4 s before attempt 2; the server is killed during the pause.
    let paused_policy = json!({"max_retries": 2, "on_exit_codes": [3], "backoff_seconds": 4});
    let (job, ver) =
        create_resumer(&api, &storage, "paused", &[3, 0], &[], Some(paused_policy)).await;

    api.wait_log(lost_job, lost_ver, "lostshim.0", "saved step")
        .await;
    let run_dir = runs.join(lost_ver.to_string());
    let shim = trainyard_exec::run_dir::read_claim(&run_dir).expect("shim.json");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(shim.pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();

    api.wait_log(job, ver, "paused.0", "attempt 2 starts in 4 s")
        .await;
    // The log line is written just before the next attempt is recorded.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let d = loop {
        let d = details(&api, job, ver).await;
        if d["attempt"] == json!(2) || std::time::Instant::now() > deadline {
            break d;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(d["status"], json!(8), "running between attempts: {d}");
    assert_eq!(d["attempt"], json!(2), "{d}");
    assert!(d["next_attempt_time"].is_i64(), "{d}");
    server.kill9();
    let server = ServerProcess::start(&config, port).await;
    let api = server.api.clone();
    let (end, log) = api
        .run_to_end(job, ver, "paused.0", Duration::from_secs(60))
        .await;
    assert_eq!(end, JobStatus::COMPLETED, "{log}");
    assert_eq!(
        std::fs::read_to_string(storage.join("out/paused/checkpoints/starts")).unwrap(),
        "start 1\nstart 2\n",
        "exactly one next attempt"
    );
    assert_eq!(
        log_names(&api, job, ver).await,
        ["paused.0", "attempt-1/paused.0"]
    );

    let (end, log) = api
        .run_to_end(lost_job, lost_ver, "lostshim.0", Duration::from_secs(60))
        .await;
    assert_eq!(end, JobStatus::COMPLETED, "{log}");
    assert!(log.contains("attempt 2 resumed from step 41"), "{log}");
    let first = api.log(lost_job, lost_ver, "attempt-1/lostshim.0").await;
    assert!(
        first.contains("attempt 1 of 2 failed (the job's processes vanished)"),
        "{first}"
    );
    assert_eq!(
        std::fs::read_to_string(storage.join("out/lostshim/checkpoints/starts")).unwrap(),
        "start 1\nstart 2\n"
    );
    drop(server);
    kill_runs(&runs);
}

/// On the Slurm dev cluster: a worker killed on its node (SIGKILL of its pid) is retried
/// through Slurm, as a new Slurm job of the same version, and the next attempt completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_on_its_slurm_node_is_retried_through_slurm() {
    let _node = slurm_node().await;
    let pool = "[[pools]]\nid = \"cluster\"\nbackend = \"slurm\"\npartition = \"debug\"\npoll_interval_seconds = 0.2\n\n\
        [[specs]]\nspec_id = 1\nspec_code = \"modelarts.vm.cpu.1u\"\ncore = 1\ncpu = 1\nmax_num = 2\n";
    let srv = TestServer::start_with(pool).await;
    let api = &srv.api;
    let boot = "import os, sys, time\n\
        attempt = os.environ['TRAINYARD_ATTEMPT']\n\
        open(os.path.join(os.environ['TRAINYARD_CHECKPOINT_DIR'], 'starts'), 'a').write('start ' + attempt + '\\n')\n\
        print('attempt', attempt, 'pid', os.getpid(), flush=True)\n\
        if attempt == '1':\n    time.sleep(300)\n";
    srv.write_app("onslurm", &[("boot.py", boot)]);
    let (job, ver) = api
        .create_job(
            "onslurm",
            "onslurm",
            json!({"pool_id": "cluster", "retry_policy": {"max_retries": 1, "backoff_seconds": 0}}),
        )
        .await;
    api.wait_log(job, ver, "onslurm.0", "attempt 1 pid").await;
    let log = api.log(job, ver, "onslurm.0").await;
    let pid: i32 = log
        .split("attempt 1 pid ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no pid in {log}"));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    let (end, log) = api
        .run_to_end(job, ver, "onslurm.0", Duration::from_secs(90))
        .await;
    assert_eq!(end, JobStatus::COMPLETED, "{log}");
    assert!(log.contains("attempt 2 pid"), "{log}");
    let first = api.log(job, ver, "attempt-1/onslurm.0").await;
    assert!(
        first.contains("attempt 1 of 2 failed (worker 0 was killed by signal 9)"),
        "{first}"
    );
    assert_eq!(
        std::fs::read_to_string(srv.storage().join("out/onslurm/checkpoints/starts")).unwrap(),
        "start 1\nstart 2\n"
    );
    assert_eq!(
        log_names(api, job, ver).await,
        ["onslurm.0", "attempt-1/onslurm.0"]
    );
}

/// A container job's attempts share the checkpoint folder too: `checkpoints/` of its
/// `train_url`, mounted at `/home/work/train_url/checkpoints`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_job_resumes_from_its_checkpoint_in_the_next_attempt() {
    let image = test_image();
    let engines = format!(
        "[[engines]]\nid = 7\nname = \"Python\"\nversion = \"in-image\"\ncommand = [\"python3\", \"-u\"]\nimage = \"{image}\"\n"
    );
    let srv = TestServer::start_with(&engines).await;
    let api = &srv.api;
    let mut boot = String::from("import os\nos.environ['EXIT_1'] = '3'\n");
    boot.push_str("print('ckpt=' + os.environ['TRAINYARD_CHECKPOINT_DIR'], flush=True)\n");
    boot.push_str(RESUMER);
    srv.write_app("incontainer", &[("boot.py", &boot)]);
    srv.write_app("data", &[("x", "")]);
    let policy = json!({"max_retries": 1, "on_exit_codes": [3], "backoff_seconds": 0});
    let (job, ver) = api
        .create_job(
            "incontainer",
            "incontainer",
            json!({"engine_id": 7, "retry_policy": policy}),
        )
        .await;
    let (end, log) = api
        .run_to_end(job, ver, "incontainer.0", Duration::from_secs(90))
        .await;
    assert_eq!(end, JobStatus::COMPLETED, "{log}");
    assert!(
        log.contains("ckpt=/home/work/train_url/checkpoints")
            && log.contains("attempt 2 resumed from step 41"),
        "{log}"
    );
    assert_eq!(
        std::fs::read_to_string(srv.storage().join("out/incontainer/checkpoints/starts")).unwrap(),
        "start 1\nstart 2\n"
    );
}
