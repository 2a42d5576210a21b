//! A shared host that is fair: priorities, fair share across projects, project quotas and the
//! queue cap, and the reasons waiting runs give, on a real server with real runs. Each test
//! first fills the host with a gate run of a third project, queues its runs behind it, then
//! opens the gate: from then on the order of starts is the scheduler core's choice alone.

use crate::harness::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The third project: its gate run holds the host while the others queue.
const GATE_PROJECT: &str = "proj-c";
const GATE_TOKEN: &str = "token-c";

/// `[executor]` of a 2-core host, a third project, and a fair-share half-life long enough
/// not to matter within a test.
fn host(cores: u32, more: &str) -> String {
    format!(
        "[executor]\ncores = {cores}\nmemory_gb = {}\nstop_grace_seconds = 2\n\n\
         [scheduler]\nfair_share_half_life_minutes = 600\n\n\
         [[projects]]\nid = \"{GATE_PROJECT}\"\ntokens = [\"{GATE_TOKEN}\"]\n{more}\n",
        cores * 2
    )
}

/// A client of the gate project on the same server.
fn gate_api(api: &Api) -> Api {
    Api {
        project: GATE_PROJECT.into(),
        token: GATE_TOKEN.into(),
        ..api.clone()
    }
}

/// The storage folder of `project` below the data folder `data`.
fn storage(data: &Path, project: &str) -> PathBuf {
    data.join("obs").join(project)
}

/// Writes the apps every project uses: `gate` (holds on until `gate_file` exists) and
/// `short` (sleeps `seconds`).
fn write_apps(data: &Path, gate_file: &Path, seconds: f64) {
    for project in [PROJECT, OTHER_PROJECT, GATE_PROJECT] {
        let boot = format!(
            "import os, time\nwhile not os.path.exists({:?}):\n    time.sleep(0.02)\n",
            gate_file.display().to_string()
        );
        write_app(&storage(data, project), "gate", &[("boot.py", &boot)]);
        let boot = format!("import time\ntime.sleep({seconds})\n");
        write_app(&storage(data, project), "short", &[("boot.py", &boot)]);
    }
}

/// Starts the gate run: the whole host (spec 100 is the host's cores and memory), once it
/// runs.
async fn close_gate(api: &Api) -> (i64, i64) {
    let gate = gate_api(api);
    let (job, ver) = gate
        .create_job("gate", "gate", json!({"spec_id": 100}))
        .await;
    gate.wait_status(job, ver, &[JobStatus::RUNNING], Duration::from_secs(30))
        .await;
    (job, ver)
}

/// A version's details.
async fn version(api: &Api, job: i64, ver: i64) -> Value {
    let r = api
        .get(&format!("/training-jobs/{job}/versions/{ver}"))
        .await;
    r.assert_ok().clone()
}

/// Waits until every version of `runs` completed.
async fn all_complete(api: &Api, runs: &[(i64, i64)], within: Duration) {
    for (job, ver) in runs {
        let end = api
            .wait_status(*job, *ver, JobStatus::TERMINAL, within)
            .await;
        assert_eq!(end, JobStatus::COMPLETED, "run {job}/{ver}");
    }
}

/// One finished run: its project's index, start and end (ms), as the API reports them.
struct Ran {
    project: usize,
    start: i64,
    end: i64,
}

/// The runs of each project (`runs[i]` is project `i`'s), read back through the API, by
/// start time.
async fn ran(apis: &[&Api], runs: &[Vec<(i64, i64)>]) -> Vec<Ran> {
    let mut out = Vec::new();
    for (project, (api, runs)) in apis.iter().zip(runs).enumerate() {
        for (job, ver) in runs {
            let v = version(api, *job, *ver).await;
            let start = v["start_time"].as_i64().expect("a started run");
            let end = start + v["duration"].as_i64().expect("a duration");
            out.push(Ran {
                project,
                start,
                end,
            });
        }
    }
    out.sort_by_key(|r| (r.start, r.end));
    out
}

/// Of the runs started while both projects still had runs waiting (until one of them had
/// started all of its `n`): project 0's fraction of the starts and of the core-time.
fn share_while_both_wait(ran: &[Ran], n: usize) -> (f64, f64) {
    let mut started = [0usize; 2];
    let mut core_ms = [0i64; 2];
    for r in ran {
        if started.contains(&n) {
            break;
        }
        started[r.project] += 1;
        core_ms[r.project] += r.end - r.start;
    }
    (
        started[0] as f64 / (started[0] + started[1]) as f64,
        core_ms[0] as f64 / (core_ms[0] + core_ms[1]) as f64,
    )
}

/// Two projects (weights as `a_share` : 1) each queue 40 one-core runs on a 2-core host;
/// returns project a's share of the starts and of the core-time while both had runs
/// waiting.
async fn flood(a_share: u32) -> (f64, f64) {
    const N: usize = 40;
    let srv = TestServer::start_with_project(&format!("share = {a_share}"), &host(2, "")).await;
    let data = srv.dir.path().join("data");
    let gate_file = srv.dir.path().join("open");
    write_apps(&data, &gate_file, 0.3);
    let (gjob, gver) = close_gate(&srv.api).await;
    let mut runs = vec![Vec::new(), Vec::new()];
    // Project a queues all of its runs first: first come, first served would run them all
    // before b's.
    for (i, api) in [&srv.api, &srv.other].into_iter().enumerate() {
        for k in 0..N {
            runs[i].push(api.create_job(&format!("r{k}"), "short", json!({})).await);
        }
    }
    std::fs::write(&gate_file, "").unwrap();
    gate_api(&srv.api)
        .wait_status(gjob, gver, &[JobStatus::COMPLETED], Duration::from_secs(30))
        .await;
    all_complete(&srv.api, &runs[0], Duration::from_secs(120)).await;
    all_complete(&srv.other, &runs[1], Duration::from_secs(120)).await;
    let ran = ran(&[&srv.api, &srv.other], &runs).await;
    let (starts, core_time) = share_while_both_wait(&ran, N);
    eprintln!("shares {a_share}:1: project a had {starts:.3} of the starts and {core_time:.3} of the core-time while both waited");
    (starts, core_time)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn equal_shares_flooding_one_host_each_get_half_of_it() {
    let (starts, core_time) = flood(1).await;
    assert!(
        (starts - 0.5).abs() <= 0.05,
        "project a had {starts} of the starts"
    );
    assert!(
        (core_time - 0.5).abs() <= 0.05,
        "project a had {core_time} of the core-time"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shares_of_three_to_one_get_three_quarters_and_one_quarter() {
    let (starts, core_time) = flood(3).await;
    assert!(
        (starts - 0.75).abs() <= 0.075,
        "project a had {starts} of the starts"
    );
    assert!(
        (core_time - 0.75).abs() <= 0.075,
        "project a had {core_time} of the core-time"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_priority_3_run_behind_20_priority_1_runs_starts_next_and_priorities_change() {
    let srv = TestServer::start_with(&host(2, "")).await;
    let data = srv.dir.path().join("data");
    let gate_file = srv.dir.path().join("open");
    write_apps(&data, &gate_file, 0.2);
    let api = &srv.api;
    let (gjob, gver) = close_gate(api).await;
    // Each run takes the whole host, so they start one at a time, in the core's order.
    let host_run = json!({"spec_id": 100});
    let mut low = Vec::new();
    for k in 0..20 {
        low.push(
            api.create_job(&format!("low{k}"), "short", host_run.clone())
                .await,
        );
    }
    let mut high_cfg = host_run.clone();
    high_cfg["priority"] = json!(3);
    let high = api.create_job("high", "gate", high_cfg).await;
    // While they wait, each says where it stands.
    let (job, ver) = low[1];
    api.wait_status(job, ver, &[JobStatus::WAITING], Duration::from_secs(10))
        .await;
    let v = version(api, job, ver).await;
    assert_eq!(v["queue_reason"], json!("2 runs ahead"), "{v}");
    assert_eq!(v["queue_position"], json!(2), "{v}");
    let v = version(api, high.0, high.1).await;
    assert_eq!(v["priority"], json!(3), "{v}");
    assert_eq!(v["queue_position"], json!(0), "{v}");
    let missing = "waiting for 2 cores, 4 GB of memory on this host";
    assert_eq!(v["queue_reason"], json!(missing), "{v}");
    let listed = api.get("/training-jobs?per_page=100").await;
    let row = listed.assert_ok()["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["job_id"] == json!(high.0))
        .cloned()
        .unwrap();
    assert_eq!(row["queue_reason"], json!(missing));
    let home = tempdir().unwrap();
    let listed = trainyard(&api.base, home.path(), &["jobs", "list"], &[]).await;
    assert!(listed.ok().contains("QUEUE"), "{}", listed.stdout);
    assert!(listed.stdout.contains("2 runs ahead"), "{}", listed.stdout);

    // The last low run is raised to 3 while it waits (CLI), behind the first 3.
    let last = low[19];
    let out = trainyard(
        &api.base,
        home.path(),
        &["jobs", "priority", &last.0.to_string(), "3"],
        &[],
    )
    .await;
    out.ok();
    let shown = trainyard(
        &api.base,
        home.path(),
        &["jobs", "get", &last.0.to_string()],
        &[],
    )
    .await;
    assert!(shown.ok().contains("priority"), "{}", shown.stdout);
    assert!(shown.stdout.contains("1 run ahead"), "{}", shown.stdout);
    // Out of range, or a run not waiting: refused.
    let path = format!("/training-jobs/{}/versions/{}/priority", low[0].0, low[0].1);
    api.put(&path, json!({"priority": 4}))
        .await
        .assert_error(400, "ModelArts.0104");
    let path = format!("/training-jobs/{gjob}/versions/{gver}/priority");
    gate_api(api)
        .put(&path, json!({"priority": 2}))
        .await
        .assert_error(400, "ModelArts.0105");

    // The gate opens: the priority-3 run goes first (it holds on the same gate file, so
    // it ends at once), then the raised one, then the rest in their order.
    std::fs::write(&gate_file, "").unwrap();
    let mut order = vec![high];
    order.push(last);
    order.extend(low[..19].iter().copied());
    all_complete(api, &order, Duration::from_secs(120)).await;
    let mut starts = Vec::new();
    for (job, ver) in &order {
        starts.push(
            version(api, *job, *ver).await["start_time"]
                .as_i64()
                .unwrap(),
        );
    }
    assert!(
        starts.windows(2).all(|w| w[0] <= w[1]),
        "started out of order: {starts:?}"
    );
}

/// Creating job `name` of spec `spec_id` is refused with the quota error, saying `why`.
async fn refused_with_0118(api: &Api, name: &str, spec_id: i64, why: &str) {
    let refused = api
        .post(
            "/training-jobs",
            json!({"job_name": name, "config": {
                "worker_server_num": 1, "app_url": "/gate/", "boot_file_url": "/gate/boot.py",
                "data_url": "/data/", "train_url": format!("/out/{name}/"), "spec_id": spec_id,
                "engine_id": 1,
            }}),
        )
        .await;
    refused.assert_error(400, "ModelArts.0118");
    let message = refused.body["error_message"].as_str().unwrap();
    assert!(message.contains(why), "{}", refused.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_at_its_core_quota_waits_while_another_starts_and_its_queue_is_capped() {
    let srv =
        TestServer::start_with_project("quota = { cores = 1, queued = 3 }", &host(4, "")).await;
    let data = srv.dir.path().join("data");
    let gate_file = srv.dir.path().join("open");
    write_apps(&data, &gate_file, 0.2);
    let (a, b) = (&srv.api, &srv.other);
    let first = a.create_job("first", "gate", json!({})).await;
    a.wait_status(
        first.0,
        first.1,
        &[JobStatus::RUNNING],
        Duration::from_secs(30),
    )
    .await;
    // a holds 1 core of its quota of 1: its next run waits, with that reason, though 3
    // cores are free...
    let second = a.create_job("second", "gate", json!({})).await;
    a.wait_status(
        second.0,
        second.1,
        &[JobStatus::WAITING],
        Duration::from_secs(10),
    )
    .await;
    let v = version(a, second.0, second.1).await;
    assert_eq!(v["queue_reason"], json!("project at its core quota"), "{v}");
    // ...while b's run, queued after it, starts.
    let other = b.create_job("other", "gate", json!({})).await;
    b.wait_status(
        other.0,
        other.1,
        &[JobStatus::RUNNING],
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(a.status(second.0, second.1).await, JobStatus::WAITING);
    // The queue cap: 3 waiting, the fourth is refused with the quota error.
    let third = a.create_job("third", "gate", json!({})).await;
    let fourth = a.create_job("fourth", "gate", json!({})).await;
    refused_with_0118(a, "fifth", 1, "queued training jobs").await;
    // A job larger than the quota could ever allow is refused at once.
    refused_with_0118(a, "big", 2, "quota.cores").await;
    // b has no cap.
    let other2 = b.create_job("other2", "gate", json!({})).await;
    std::fs::write(&gate_file, "").unwrap();
    // Every run ends before the server goes (a run launched after its teardown would wait
    // for a gate file deleted with it).
    all_complete(a, &[first, second, third, fourth], Duration::from_secs(30)).await;
    all_complete(b, &[other, other2], Duration::from_secs(30)).await;
}

/// Creates at once past the project's quota of pending and running jobs (`quotas`): exactly
/// the quota is created, each other create is refused with the quota error, and the project
/// never holds more active versions (the count is taken in the create's transaction).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_never_take_a_project_past_its_quota() {
    const QUOTA: usize = 3;
    const CREATES: usize = 12;
    let srv = TestServer::start_with_project(&format!("quotas = {QUOTA}"), &host(4, "")).await;
    let data = srv.dir.path().join("data");
    let gate_file = srv.dir.path().join("open");
    write_apps(&data, &gate_file, 0.1);
    let creates: Vec<_> = (0..CREATES)
        .map(|i| {
            let api = srv.api.clone();
            tokio::spawn(async move {
                let name = format!("race-{i}");
                api.post(
                    "/training-jobs",
                    json!({"job_name": name, "config": {
                        "worker_server_num": 1, "app_url": "/gate/", "boot_file_url": "/gate/boot.py",
                        "data_url": "/data/", "train_url": format!("/out/{name}/"), "spec_id": 1,
                        "engine_id": 1,
                    }}),
                )
                .await
            })
        })
        .collect();
    let mut created = Vec::new();
    for create in creates {
        let reply = create.await.unwrap();
        if reply.status == 200 {
            let b = reply.assert_ok();
            created.push((
                b["job_id"].as_i64().unwrap(),
                b["version_id"].as_i64().unwrap(),
            ));
        } else {
            reply.assert_error(400, "ModelArts.0118");
            let message = reply.body["error_message"].as_str().unwrap();
            assert!(
                message.contains("number of running training jobs"),
                "{}",
                reply.body
            );
        }
    }
    // What the project holds: the created jobs only, each active.
    let list = srv.api.get("/training-jobs?per_page=100").await;
    let jobs = list.assert_ok()["jobs"].as_array().unwrap().clone();
    let active = jobs
        .iter()
        .filter(|j| {
            JobStatus::STOPPABLE
                .iter()
                .any(|s| json!(s.code()) == j["status"])
        })
        .count();
    assert_eq!(
        (created.len(), jobs.len(), active),
        (QUOTA, QUOTA, QUOTA),
        "created, listed, active: {jobs:#?}"
    );
    std::fs::write(&gate_file, "").unwrap();
    all_complete(&srv.api, &created, Duration::from_secs(30)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_runs_and_their_priorities_survive_a_server_kill_9() {
    let dir = tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("config.toml");
    write_config(
        &config,
        config_text_with(&data, "quota = { running = 1 }", &host(4, "")),
    )
    .unwrap();
    let gate_file = dir.path().join("open");
    write_apps(&data, &gate_file, 0.1);
    let port = free_port();
    let mut server = ServerProcess::start(&config, port).await;
    let api = server.api.clone();
    let running = api.create_job("running", "gate", json!({})).await;
    api.wait_status(
        running.0,
        running.1,
        &[JobStatus::RUNNING],
        Duration::from_secs(30),
    )
    .await;
    let mut waiting = Vec::new();
    for k in 0..4 {
        waiting.push(api.create_job(&format!("w{k}"), "short", json!({})).await);
    }
    let raised = api
        .create_job("raised", "short", json!({"priority": 2}))
        .await;
    for (job, ver) in waiting.iter().chain([&raised]) {
        api.wait_status(*job, *ver, &[JobStatus::WAITING], Duration::from_secs(10))
            .await;
    }
    server.kill9();
    let server = ServerProcess::start(&config, port).await;
    let api = &server.api;
    // All still waiting, for the same reason, the raised one first in line.
    for (job, ver) in &waiting {
        assert_eq!(api.status(*job, *ver).await, JobStatus::WAITING);
        let v = version(api, *job, *ver).await;
        assert_eq!(
            v["queue_reason"],
            json!("project at its running quota"),
            "{v}"
        );
    }
    let v = version(api, raised.0, raised.1).await;
    assert_eq!(v["priority"], json!(2), "{v}");
    assert_eq!(v["queue_position"], json!(0), "{v}");
    std::fs::write(&gate_file, "").unwrap();
    let mut order = vec![running, raised];
    order.extend(waiting);
    all_complete(api, &order, Duration::from_secs(60)).await;
    let mut starts = Vec::new();
    for (job, ver) in &order[1..] {
        starts.push(
            version(api, *job, *ver).await["start_time"]
                .as_i64()
                .unwrap(),
        );
    }
    assert!(
        starts.windows(2).all(|w| w[0] <= w[1]),
        "started out of order: {starts:?}"
    );
    kill_runs(&data.join("runs"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v2_job_of_priority_3_goes_first_and_its_status_says_why_it_waits() {
    let srv = TestServer::start_with(&host(2, "")).await;
    let data = srv.dir.path().join("data");
    let gate_file = srv.dir.path().join("open");
    write_apps(&data, &gate_file, 0.1);
    let api = &srv.api;
    let (gjob, gver) = close_gate(api).await;
    let low = api.create_job("low", "short", json!({})).await;
    let body = json!({
        "kind": "job",
        "metadata": {"name": "urgent", "description": ""},
        "algorithm": {
            "code_dir": "/short/",
            "boot_file": "/short/boot.py",
            "engine": {"engine_id": "python3"},
        },
        "spec": {
            "resource": {"flavor_id": "modelarts.vm.cpu.1u", "node_count": 1},
            "schedule_policy": {"priority": 3},
        },
    });
    let id = api.create_v2_job(body).await;
    let phase_is = |phase: &'static str| move |doc: &Value| doc["status"]["phase"] == json!(phase);
    let doc = api
        .wait_v2(&id, Duration::from_secs(10), phase_is("Pending"))
        .await;
    let status = &doc["status"];
    let reason = "waiting for 1 core, 2 GB of memory on this host";
    assert_eq!(
        status["secondary_phase"],
        json!(format!("Queuing: {reason}")),
        "{doc}"
    );
    assert_eq!(status["queue_position"], json!(0), "{doc}");
    // The v1 run queued before it, at priority 1, waits behind it.
    let v = version(api, low.0, low.1).await;
    assert_eq!(v["queue_reason"], json!("1 run ahead"), "{v}");
    std::fs::write(&gate_file, "").unwrap();
    gate_api(api)
        .wait_status(gjob, gver, &[JobStatus::COMPLETED], Duration::from_secs(30))
        .await;
    all_complete(api, &[low], Duration::from_secs(30)).await;
    api.wait_v2(&id, Duration::from_secs(30), phase_is("Completed"))
        .await;
}

/// After a restart: the gate run of the third project holds the host while projects a and b
/// each queue 4 one-core runs (a first), then opens; the projects of the starts, in order.
async fn flood_after_restart(server: &ServerProcess, gate_file: &Path) -> String {
    let (a, b) = api_pair(server.api.base.clone());
    let (gjob, gver) = close_gate(&a).await;
    const N: usize = 4;
    let mut runs = vec![Vec::new(), Vec::new()];
    for (i, api) in [&a, &b].into_iter().enumerate() {
        for k in 0..N {
            runs[i].push(api.create_job(&format!("r{k}"), "short", json!({})).await);
        }
    }
    std::fs::write(gate_file, "").unwrap();
    gate_api(&a)
        .wait_status(gjob, gver, &[JobStatus::COMPLETED], Duration::from_secs(30))
        .await;
    all_complete(&a, &runs[0], Duration::from_secs(60)).await;
    all_complete(&b, &runs[1], Duration::from_secs(60)).await;
    let ran = ran(&[&a, &b], &runs).await;
    let order: String = ran.iter().map(|r| ["a", "b"][r.project]).collect();
    eprintln!("starts after the restart: {order}");
    order
}

/// A server on a 2-core host (its config in `dir`), its apps written, and the gate file.
fn restartable_host(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let data = dir.join("data");
    let config = dir.join("config.toml");
    write_config(&config, config_text_with(&data, "", &host(2, ""))).unwrap();
    let gate_file = dir.join("open");
    // Short runs: the flood adds little usage next to the whole-host runs that precede it,
    // however slow a busy machine starts them.
    write_apps(&data, &gate_file, 0.1);
    (data, config, gate_file)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fair_share_usage_survives_a_server_kill_9_so_the_lighter_project_goes_first() {
    let dir = tempdir().unwrap();
    let (data, config, gate_file) = restartable_host(dir.path());
    // Project a uses the whole host for a while (its run is over and accounted) ...
    let heavy_app = "import time\ntime.sleep(4)\n";
    write_app(&storage(&data, PROJECT), "heavy", &[("boot.py", heavy_app)]);
    let port = free_port();
    let mut server = ServerProcess::start(&config, port).await;
    let heavy = server
        .api
        .create_job("heavy", "heavy", json!({"spec_id": 100}))
        .await;
    all_complete(&server.api, &[heavy], Duration::from_secs(30)).await;
    // ... and the server is killed: a restart must not forget a's usage.
    server.kill9();
    let server = ServerProcess::start(&config, port).await;
    // Both flood the host, a first: from zero usage they would alternate, a first. b, far
    // below its share, gets the host until it has nothing left to run.
    assert_eq!(flood_after_restart(&server, &gate_file).await, "bbbbaaaa");
    kill_runs(&data.join("runs"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_running_across_a_server_kill_9_counts_from_its_start() {
    let dir = tempdir().unwrap();
    let (data, config, gate_file) = restartable_host(dir.path());
    let held_file = dir.path().join("release");
    let hold = format!(
        "import os, time\nwhile not os.path.exists({:?}):\n    time.sleep(0.02)\n",
        held_file.display().to_string()
    );
    write_app(&storage(&data, PROJECT), "hold", &[("boot.py", &hold)]);
    let heavy_app = "import time\ntime.sleep(2)\n";
    write_app(
        &storage(&data, OTHER_PROJECT),
        "heavy",
        &[("boot.py", heavy_app)],
    );
    let port = free_port();
    let mut server = ServerProcess::start(&config, port).await;
    let (a, b) = api_pair(server.api.base.clone());
    // b uses the whole host for 2 s; then a holds it for 6 s and still runs at the kill.
    let heavy = b
        .create_job("heavy", "heavy", json!({"spec_id": 100}))
        .await;
    all_complete(&b, &[heavy], Duration::from_secs(30)).await;
    let held = a.create_job("held", "hold", json!({"spec_id": 100})).await;
    a.wait_status(
        held.0,
        held.1,
        &[JobStatus::RUNNING],
        Duration::from_secs(30),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    server.kill9();
    let server = ServerProcess::start(&config, port).await;
    // a's run is found running and ends at once. Counted only from the restart, a would
    // have used less than b and go first; counted from its start, it used three times as much.
    std::fs::write(&held_file, "").unwrap();
    all_complete(&server.api, &[held], Duration::from_secs(30)).await;
    assert_eq!(flood_after_restart(&server, &gate_file).await, "bbbbaaaa");
    kill_runs(&data.join("runs"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v2_priority_change_moves_a_waiting_job_ahead_and_is_refused_once_it_runs() {
    let srv = TestServer::start_with(&host(2, "")).await;
    let data = srv.dir.path().join("data");
    let gate_file = srv.dir.path().join("open");
    write_apps(&data, &gate_file, 0.2);
    let api = &srv.api;
    let (gjob, gver) = close_gate(api).await;
    // Every run takes the whole host, so they start one at a time, in the core's order.
    let mut low = Vec::new();
    for k in 0..2 {
        low.push(
            api.create_job(&format!("low{k}"), "short", json!({"spec_id": 100}))
                .await,
        );
    }
    let body = json!({
        "kind": "job",
        "metadata": {"name": "later", "description": ""},
        "algorithm": {
            "code_dir": "/short/",
            "boot_file": "/short/boot.py",
            "engine": {"engine_id": "python3"},
        },
        "spec": {"resource": {"flavor_id": "modelarts.vm.cpu.host", "node_count": 1}},
    });
    let id = api.create_v2_job(body).await;
    let path = format!("/training-jobs/{id}");
    let doc = api
        .wait_v2(&id, Duration::from_secs(10), |doc| {
            doc["status"]["phase"] == json!("Pending")
                && doc["status"]["queue_position"] == json!(2)
        })
        .await;
    assert_eq!(
        doc["status"]["secondary_phase"],
        json!("Queuing: 2 runs ahead")
    );
    // T2-04 raises it to 3 with a new description: first in line, and the job says so.
    let change = json!({"description": "now urgent", "spec": {"schedule_policy": {"priority": 3}}});
    let answer = api.v2("PUT", &path, Some(change)).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let doc = api.v2("GET", &path, None).await.body;
    assert_eq!(doc["status"]["queue_position"], json!(0), "{doc}");
    assert_eq!(
        doc["spec"]["schedule_policy"]["priority"],
        json!(3),
        "{doc}"
    );
    assert_eq!(doc["metadata"]["description"], json!("now urgent"), "{doc}");
    let v = version(api, low[0].0, low[0].1).await;
    assert_eq!(v["queue_reason"], json!("1 run ahead"), "{v}");
    // The gate opens: the raised job starts before the two runs queued before it.
    std::fs::write(&gate_file, "").unwrap();
    gate_api(api)
        .wait_status(gjob, gver, &[JobStatus::COMPLETED], Duration::from_secs(30))
        .await;
    all_complete(api, &low, Duration::from_secs(60)).await;
    let doc = api
        .wait_v2(&id, Duration::from_secs(30), |doc| {
            doc["status"]["phase"] == json!("Completed")
        })
        .await;
    let raised_start = doc["status"]["start_time"].as_i64().unwrap();
    for (job, ver) in &low {
        let start = version(api, *job, *ver).await["start_time"]
            .as_i64()
            .unwrap();
        assert!(
            raised_start < start,
            "the raised job started at {raised_start}, a low run at {start}"
        );
    }
    // Once it ran, its priority is no longer changed.
    let change = json!({"spec": {"schedule_policy": {"priority": 2}}});
    let refused = api.v2("PUT", &path, Some(change)).await;
    assert_eq!(
        (refused.status, &refused.body["error_code"]),
        (400, &json!("ModelArts.2858")),
        "{}",
        refused.body
    );
}
