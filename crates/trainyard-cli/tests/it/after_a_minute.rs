//! The tests whose subject happens a minute after it is set up: a visualization job's
//! one-minute auto-stop (the shortest the API offers), on one server and across two replicas.
//! They wait most of that minute, so they live in a module whose name sorts first: the one
//! test binary starts its tests in name order, and a minute-long test started last would be
//! the whole suite's tail.

use crate::harness::*;
use crate::visualization::{create, run_of, wait_group_gone, wait_viz};
use serde_json::json;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn visualization_auto_stop_ends_completed_and_refuses_stop() {
    let server = TestServer::start_bound(&viz_config("")).await;
    let api = &server.api;
    let started = Instant::now();
    let schedule = json!([{"type": "stop", "time_unit": "MINUTES", "duration": 1}]);
    let (id, _) = create(
        api,
        json!({"job_name": "auto", "train_url": "/logs/auto/", "schedule": schedule}),
    )
    .await;
    wait_viz(api, id, &[JobStatus::RUNNING], Duration::from_secs(30)).await;
    let d = api.get(&format!("/visualization-jobs/{id}")).await;
    let d = d.assert_ok();
    assert_eq!(
        d["schedule"],
        json!([{"type": "stop", "timeUnit": "MINUTES", "duration": 1}])
    );
    let left = d["remaining_duration"].as_i64().unwrap();
    assert!(left > 50_000 && left <= 60_000, "{left}");
    let (pgid, _) = run_of(&server.dir.path().join("data"), id);
    let remaining = Duration::from_secs(70).saturating_sub(started.elapsed());
    assert_eq!(
        wait_viz(
            api,
            id,
            &[JobStatus::COMPLETED, JobStatus::FAILED, JobStatus::KILLED],
            remaining
        )
        .await,
        JobStatus::COMPLETED
    );
    wait_group_gone(pgid).await;
    // Doc sample: stop refused in status 10.
    let r = api
        .post(&format!("/visualization-jobs/{id}/stop"), json!({}))
        .await;
    r.assert_error(400, "ModelArts.0105");
    assert_eq!(
        r.body["error_message"],
        json!("This job can't be stop. job status: 10")
    );
}

/// The duties run on one replica at a time, counted by their side effects: the Slurm poller's
/// `sinfo` calls (each replica finds its own counting `sinfo` first on PATH) come from the
/// holder only, and from the survivor once the holder is SIGKILLed; a visualization job's
/// TensorBoard is started once and auto-stopped once (10), by the replica holding the duty at
/// its deadline, though the holder that started it died meanwhile. Its UI answers through
/// either replica.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn visualization_auto_stop_and_slurm_polling_run_on_one_replica_at_a_time() {
    let test = "visualization_auto_stop_and_slurm_polling_run_on_one_replica_at_a_time";
    start_slurm_dev_cluster().await;
    let counts = tempdir().unwrap();
    let real_sinfo = which("sinfo");
    let mut paths = Vec::new();
    for i in 0..2 {
        let bin = counts.path().join(format!("bin-{i}"));
        std::fs::create_dir_all(&bin).unwrap();
        let script = format!(
            "#!/bin/sh\necho x >> {}/sinfo-{i}\nexec {} \"$@\"\n",
            counts.path().display(),
            real_sinfo.display()
        );
        let path = bin.join("sinfo");
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let path_var = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        paths.push(std::ffi::OsString::from(path_var));
    }
    let extra = format!(
        "{}\n[[pools]]\nid = \"cluster\"\nbackend = \"slurm\"\npartition = \"debug\"\npoll_interval_seconds = 0.1\n",
        viz_config("")
    );
    let Some(mut r) = Replicas::start(test, 2, &extra, |i| vec![("PATH", paths[i].clone())]).await
    else {
        return;
    };
    let sinfo = |i: usize| {
        std::fs::read_to_string(counts.path().join(format!("sinfo-{i}")))
            .map_or(0, |t| t.lines().count())
    };
    let holder = r.scheduler(Duration::from_secs(10)).await;
    let other = 1 - holder;

    // A TensorBoard with a one-minute auto-stop, created through the replica without the duty.
    write_scalars(&r.storage().join("logs/tb"), 5);
    let created = r
        .api(other)
        .post(
            "/visualization-jobs",
            json!({"job_name": "tb", "train_url": "/logs/tb/",
                   "schedule": [{"type": "stop", "time_unit": "MINUTES", "duration": 1}]}),
        )
        .await;
    let viz = created.assert_ok()["job_id"].as_i64().unwrap();
    let running = Instant::now() + Duration::from_secs(60);
    loop {
        let d = r
            .api(other)
            .get(&format!("/visualization-jobs/{viz}"))
            .await;
        if d.body["status"] == json!(JobStatus::RUNNING.code()) {
            break;
        }
        assert!(Instant::now() < running, "viz never ran: {}", d.body);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Its UI through both replicas (the proxy reads the port from the database).
    for i in [holder, other] {
        let api = r.api(i);
        let url = format!(
            "{}/modelarts2/tensorboard/{PROJECT}/{viz}/data/runs",
            api.base
        );
        let resp = api
            .http
            .get(&url)
            .header("X-Auth-Token", TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200, "through replica {i}");
    }

    // Polling: only the holder's sinfo runs (every 10 polls of 0.1 s).
    let (h0, o0) = (sinfo(holder), sinfo(other));
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(sinfo(holder) > h0, "the holder does not poll Slurm");
    assert_eq!(sinfo(other), o0, "the other replica polls Slurm too");
    assert_eq!(o0, 0, "the other replica polled Slurm before");

    r.kill9(holder);
    let next = r.scheduler(Duration::from_secs(10)).await;
    assert_eq!(next, other);
    let o1 = sinfo(other);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(sinfo(other) > o1, "the new holder does not poll Slurm");

    // The auto-stop fires once, on the new holder, which reattached to the TensorBoard.
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let d = r
            .api(other)
            .get(&format!("/visualization-jobs/{viz}"))
            .await;
        let status = JobStatus::from_code(d.body["status"].as_i64().unwrap());
        if status.is_terminal() {
            assert_eq!(status, JobStatus::COMPLETED, "{}", d.body);
            break;
        }
        assert!(Instant::now() < deadline, "never auto-stopped: {}", d.body);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let logs = [r.log(0), r.log(1)];
    let count = |needle: &str| {
        logs.iter()
            .map(|l| l.matches(needle).count())
            .sum::<usize>()
    };
    assert_eq!(count("visualization server started"), 1, "{logs:?}");
    assert_eq!(count("auto-stop deadline reached"), 1, "{logs:?}");
    assert!(logs[other].contains("auto-stop deadline reached"));
    assert!(logs[other].contains("reattached to a running visualization server"));
}

/// `program` on PATH.
fn which(program: &str) -> std::path::PathBuf {
    std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .map(|d| std::path::Path::new(d).join(program))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{program} not on PATH"))
}
