//! Several `trainyard serve` replicas on one PostgreSQL (a throwaway one, see
//! `trainyard_store::testing`), sharing one data directory: any replica answers any request,
//! every job runs exactly once through a SIGKILL of the replica holding the scheduler duty,
//! stops cross replicas, and the duties (visualization auto-stop, Slurm polling) run on one
//! replica at a time. Skipped with a `SKIPPED` line without PostgreSQL, failed under CI=true.

use crate::harness::*;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

/// What a submission became, as the client saw it.
#[derive(Debug, PartialEq, Eq)]
enum Submitted {
    /// A replica answered 200 with this job id.
    Acked(i64),
    /// A replica said the name exists: an earlier try was committed, its answer lost with
    /// the replica that was killed.
    Existed,
}

/// Submits job `name` to replica `first`, falling over to the others when a replica does not
/// answer (the client "given both URLs"). Never a 5xx.
async fn submit(apis: &[Api], first: usize, name: &str, app: &str) -> Submitted {
    let body = json!({"job_name": name, "config": {
        "worker_server_num": 1, "app_url": format!("/{app}/"),
        "boot_file_url": format!("/{app}/boot.py"), "data_url": "/data/",
        "spec_id": 1, "engine_id": 1,
    }});
    for attempt in 0..(apis.len() * 3) {
        let api = &apis[(first + attempt) % apis.len()];
        let sent = api
            .http
            .post(api.url("/training-jobs"))
            .header("X-Auth-Token", &api.token)
            .json(&body)
            .send()
            .await;
        let Ok(resp) = sent else { continue };
        let status = resp.status().as_u16();
        let Ok(answer) = resp.json::<Value>().await else {
            continue;
        };
        match status {
            200 => return Submitted::Acked(answer["job_id"].as_i64().unwrap()),
            _ if answer["error_code"] == json!("ModelArts.0103") => return Submitted::Existed,
            _ => panic!("submitting {name}: {status} {answer}"),
        }
    }
    panic!("no replica took {name}");
}

/// 500 trivial jobs submitted alternately to two replicas; the replica holding the scheduler
/// duty is SIGKILLed in the middle of the burst. The other takes the duty over within 10 s,
/// and every job runs exactly once (each appends its version id to a shared file) and ends
/// completed; none is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_on_two_replicas_runs_each_job_once_through_a_scheduler_kill() {
    const JOBS: usize = 500;
    const KILL_AT: usize = 200;
    const IN_FLIGHT: usize = 8;
    let test = "a_burst_on_two_replicas_runs_each_job_once_through_a_scheduler_kill";
    let Some(mut r) = Replicas::start(test, 2, "", |_| Vec::new()).await else {
        return;
    };
    let marks = shared_dir(&r.dir.path().join("shared")).join("marks");
    std::fs::create_dir_all(r.storage().join("data")).unwrap();
    write_app(
        &r.storage(),
        "burst",
        &[(
            "boot.py",
            &format!(
                "import os\nwith open({:?}, 'a') as f:\n    f.write(os.environ['TRAINYARD_VERSION_ID'] + '\\n')\n",
                marks.display().to_string()
            ),
        )],
    );
    let holder = r.scheduler(Duration::from_secs(10)).await;
    let apis: Vec<Api> = (0..2).map(|i| r.api(i).clone()).collect();

    let started = Instant::now();
    let mut outcomes: BTreeMap<String, Submitted> = BTreeMap::new();
    let mut takeover = None;
    for chunk in (0..JOBS).step_by(IN_FLIGHT) {
        let mut tasks = Vec::new();
        for i in chunk..(chunk + IN_FLIGHT).min(JOBS) {
            let apis = apis.clone();
            tasks.push(tokio::spawn(async move {
                let name = format!("burst-{i:03}");
                let got = submit(&apis, i % 2, &name, "burst").await;
                (name, got)
            }));
        }
        if chunk == KILL_AT {
            // Mid-burst, with requests in flight to both replicas.
            tokio::time::sleep(Duration::from_millis(5)).await;
            r.kill9(holder);
            let killed = Instant::now();
            let next = r.scheduler(Duration::from_secs(10)).await;
            assert_ne!(next, holder);
            takeover = Some(killed.elapsed());
        }
        for t in tasks {
            let (name, got) = t.await.unwrap();
            outcomes.insert(name, got);
        }
    }
    let takeover = takeover.unwrap();
    assert!(
        takeover < Duration::from_secs(10),
        "takeover took {takeover:?}"
    );
    let survivor = 1 - holder;
    let api = r.api(survivor).clone();

    // Every job reaches its end (on the survivor, which now holds every duty).
    let client = api.client();
    let deadline = Instant::now() + Duration::from_secs(240);
    let jobs = loop {
        let jobs = client
            .list_all_jobs(&Default::default())
            .await
            .expect("listing jobs");
        let done = jobs
            .iter()
            .filter(|j| JobStatus::from_code(j.status).is_terminal())
            .count();
        if jobs.len() == JOBS && done == JOBS {
            break jobs;
        }
        assert!(
            Instant::now() < deadline,
            "{done} of {} jobs ended ({} submitted)",
            jobs.len(),
            JOBS
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let burst = started.elapsed();

    // None lost: every name exists once, acknowledged ones with the id they were given.
    let by_name: HashMap<&str, _> = jobs.iter().map(|j| (j.job_name.as_str(), j)).collect();
    assert_eq!(by_name.len(), JOBS);
    for (name, got) in &outcomes {
        let job = by_name
            .get(name.as_str())
            .unwrap_or_else(|| panic!("{name} lost"));
        if let Submitted::Acked(id) = got {
            assert_eq!(job.job_id, *id, "{name}");
        }
        assert_eq!(job.version_count, 1, "{name}");
        assert_eq!(
            JobStatus::from_code(job.status),
            JobStatus::COMPLETED,
            "{name}"
        );
    }
    // Exactly once: each version's mark once, and no mark of anything else.
    let text = std::fs::read_to_string(&marks).unwrap();
    let mut runs: HashMap<i64, usize> = HashMap::new();
    for line in text.lines() {
        *runs.entry(line.parse().unwrap()).or_default() += 1;
    }
    let twice: Vec<_> = runs.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "started more than once: {twice:?}");
    for job in &jobs {
        let v = job.version_id.unwrap();
        assert_eq!(runs.get(&v), Some(&1), "version {v} of {}", job.job_name);
    }
    assert_eq!(runs.len(), JOBS);
    let existed = outcomes
        .values()
        .filter(|o| **o == Submitted::Existed)
        .count();
    println!(
        "{JOBS} jobs on 2 replicas in {burst:?}; scheduler SIGKILLed after {KILL_AT}, taken over in {takeover:?}; {existed} answers lost with the killed replica"
    );
}

/// Two replicas, and an app `long` that prints `started` and sleeps for ten minutes. `None`
/// when skipped (no PostgreSQL outside CI).
async fn two_replicas_with_a_long_app(test: &str) -> Option<Replicas> {
    let r = Replicas::start(test, 2, "", |_| Vec::new()).await?;
    std::fs::create_dir_all(r.storage().join("data")).unwrap();
    write_app(
        &r.storage(),
        "long",
        &[(
            "boot.py",
            "import time\nprint('started', flush=True)\ntime.sleep(600)\n",
        )],
    );
    Some(r)
}

/// A job created on one replica is followed, stopped and deleted through the other: the stop
/// reaches the processes started by whichever replica holds the scheduler duty (12, the
/// process group gone).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_created_on_one_replica_is_followed_stopped_and_deleted_through_the_other() {
    let test = "a_job_created_on_one_replica_is_followed_stopped_and_deleted_through_the_other";
    let Some(r) = two_replicas_with_a_long_app(test).await else {
        return;
    };
    write_app(
        &r.storage(),
        "short",
        &[(
            "boot.py",
            "for i in range(3):\n    print('line', i, flush=True)\n",
        )],
    );
    let holder = r.scheduler(Duration::from_secs(10)).await;
    // Created on the replica without the duty, acted on through the one with it, and the
    // other way round.
    for (a, b) in [(1 - holder, holder), (holder, 1 - holder)] {
        let (api_a, api_b) = (r.api(a), r.api(b));
        let name = format!("long-{a}");
        let (job, version) = api_a.create_job(&name, "long", json!({})).await;
        api_b
            .wait_status(job, version, &[JobStatus::RUNNING], Duration::from_secs(30))
            .await;
        api_b
            .wait_log(job, version, &format!("{name}.0"), "started")
            .await;
        let run_dir = r.dir.path().join("data/runs").join(version.to_string());
        let groups: Vec<i32> = trainyard_exec::run_dir::read_workers(&run_dir)
            .iter()
            .map(|w| w.pgid)
            .collect();
        assert!(!groups.is_empty());
        assert!(groups.iter().all(|g| !group_alive(*g).is_empty()));
        let stop = api_b
            .post(
                &format!("/training-jobs/{job}/versions/{version}/stop"),
                json!({"grace_period_seconds": 1}),
            )
            .await;
        stop.assert_ok();
        assert_eq!(
            api_a
                .wait_status(job, version, JobStatus::TERMINAL, Duration::from_secs(30))
                .await,
            JobStatus::KILLED
        );
        for g in groups {
            assert!(group_alive(g).is_empty(), "group {g} of {name} still alive");
        }
        api_b
            .delete(&format!("/training-jobs/{job}"))
            .await
            .assert_ok();
        api_a
            .get(&format!("/training-jobs/{job}/versions/{version}"))
            .await
            .assert_error(400, "ModelArts.0105");
    }
    // Followed through the replica that did not create it: the whole log, to the run's end.
    let (job, version) = r.api(holder).create_job("short", "short", json!({})).await;
    let client = r.api(1 - holder).client();
    let mut follow = client.follow_log(job, version, "short.0", 0);
    let mut text = Vec::new();
    while let Some(chunk) = follow.next_chunk().await.expect("following the log") {
        text.extend_from_slice(&chunk);
    }
    let text = String::from_utf8(text).unwrap();
    assert!(text.starts_with("line 0\nline 1\nline 2\n"), "{text}");
    assert!(text.ends_with("worker 0 exited with code 0\n"), "{text}");
    assert_eq!(
        r.api(1 - holder).status(job, version).await,
        JobStatus::COMPLETED
    );
}

/// The capacity one replica reports: cores in use (`/metrics`) and whether a worker of the
/// whole-host spec (100) would find no room (RS-01 `no_resource`).
async fn reported_capacity(api: &Api) -> (f64, bool) {
    let used = metric(
        &scrape(api).await,
        "trainyard_executor_slots",
        &[("resource", "cores"), ("state", "used")],
    );
    let specs = api.get("/job/resource-specs").await;
    let host = specs.assert_ok()["specs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["spec_id"] == json!(100))
        .expect("spec 100 listed")["no_resource"]
        .clone();
    (used, host == json!(true))
}

/// Waits until every replica reports `want` (see [`reported_capacity`]).
async fn wait_reported(r: &Replicas, want: (f64, bool), within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let mut all = Vec::new();
        for i in 0..r.servers.len() {
            all.push(reported_capacity(r.api(i)).await);
        }
        if all.iter().all(|got| *got == want) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "replicas report {all:?}, not {want:?}, after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The replica without the scheduler duty reports the capacity the holder's executor holds
/// (RS-01 `no_resource` and `/metrics`), not its own idle executor's: a running job's core is
/// taken on both replicas, and free again on both once the job is stopped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_replicas_report_the_capacity_the_scheduler_holds() {
    let test = "both_replicas_report_the_capacity_the_scheduler_holds";
    let Some(r) = two_replicas_with_a_long_app(test).await else {
        return;
    };
    let holder = r.scheduler(Duration::from_secs(10)).await;
    wait_reported(&r, (0.0, false), Duration::from_secs(10)).await;
    let api = r.api(1 - holder);
    let (job, version) = api.create_job("long", "long", json!({})).await;
    api.wait_status(job, version, &[JobStatus::RUNNING], Duration::from_secs(30))
        .await;
    wait_reported(&r, (1.0, true), Duration::from_secs(10)).await;
    api.post(
        &format!("/training-jobs/{job}/versions/{version}/stop"),
        json!({"grace_period_seconds": 1}),
    )
    .await
    .assert_ok();
    api.wait_status(job, version, JobStatus::TERMINAL, Duration::from_secs(30))
        .await;
    wait_reported(&r, (0.0, false), Duration::from_secs(10)).await;
}
