//! TJ-10/TJ-12 on real job logs, including a 1,000,000-line log.

use crate::harness::*;
use serde_json::json;
use std::time::Duration;

fn numbered(from: u64, to: u64) -> String {
    (from..=to)
        .map(|i| format!("line {i}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aom_log_pages_a_million_line_log_at_every_position() {
    let srv = TestServer::start().await;
    let boot =
        "import sys\nw = sys.stdout.write\nfor i in range(1, 1000001):\n    w(f'line {i}\\n')\n";
    srv.write_app("million", &[("boot.py", boot)]);
    let (job, ver) = srv.api.create_job("million", "million", json!({})).await;
    assert_eq!(
        srv.api
            .wait_status(
                job,
                ver,
                &[JobStatus::COMPLETED, JobStatus::FAILED],
                Duration::from_secs(120)
            )
            .await,
        JobStatus::COMPLETED
    );
    let page = |q: String| {
        let api = srv.api.clone();
        async move {
            let r = api
                .get(&format!(
                    "/training-jobs/{job}/versions/{ver}/aom-log?log_file=million.0&{q}"
                ))
                .await;
            let b = r.assert_ok().clone();
            assert!(
                b["start_line"].is_string() && b["end_line"].is_string() && b["lines"].is_i64(),
                "{b}"
            );
            (
                b["content"].as_str().unwrap().to_owned(),
                b["lines"].as_i64().unwrap(),
                b["start_line"].as_str().unwrap().to_owned(),
                b["end_line"].as_str().unwrap().to_owned(),
            )
        }
    };
    // First position, both orders.
    assert_eq!(
        page("base_line=0&lines=50&order=desc".into()).await,
        (numbered(1, 50), 50, "1".into(), "50".into())
    );
    assert_eq!(
        page("base_line=51&lines=50&order=asc".into()).await,
        (numbered(1, 50), 50, "1".into(), "50".into())
    );
    // Middle.
    assert_eq!(
        page("base_line=500000&lines=50&order=desc".into()).await,
        (
            numbered(500001, 500050),
            50,
            "500001".into(),
            "500050".into()
        )
    );
    assert_eq!(
        page("base_line=500000&lines=50&order=asc".into()).await,
        (
            numbered(499950, 499999),
            50,
            "499950".into(),
            "499999".into()
        )
    );
    // Last: the log ends with the worker's exit line (line 1,000,001).
    let (content, n, start, end) = page("lines=50".into()).await;
    assert_eq!((n, start.as_str(), end.as_str()), (50, "999952", "1000001"));
    assert_eq!(content.lines().next(), Some("line 999952"));
    assert!(content.ends_with("[trainyard] worker 0 exited with code 0"));
    assert_eq!(
        page("base_line=1000001&lines=50&order=asc".into()).await,
        (
            numbered(999951, 1000000),
            50,
            "999951".into(),
            "1000000".into()
        )
    );
    let (content, n, start, _) = page("base_line=999990&lines=50&order=desc".into()).await;
    assert_eq!((n, start.as_str()), (11, "999991"));
    assert!(content.starts_with("line 999991\n"));
    // Paging forward from a previous end_line continues exactly.
    let (_, _, _, end) = page("base_line=0&lines=3&order=desc".into()).await;
    assert_eq!(
        page(format!("base_line={end}&lines=2&order=desc")).await.0,
        numbered(4, 5)
    );
    // lines=0 and the documented bounds.
    assert_eq!(
        page("base_line=10&lines=0".into()).await,
        (String::new(), 0, "10".into(), "10".into())
    );
    let bad = srv
        .api
        .get(&format!(
            "/training-jobs/{job}/versions/{ver}/aom-log?log_file=million.0&lines=501"
        ))
        .await;
    bad.assert_error(400, "ModelArts.0104");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_names_and_unknown_files() {
    let srv = TestServer::start().await;
    srv.write_app("hello", &[("boot.py", "print('hello')\n")]);
    let (job, ver) = srv.api.create_job("Hello_Job", "hello", json!({})).await;
    assert_eq!(
        srv.api
            .wait_status(
                job,
                ver,
                &[JobStatus::COMPLETED, JobStatus::FAILED],
                Duration::from_secs(30)
            )
            .await,
        JobStatus::COMPLETED
    );
    let names = srv
        .api
        .get(&format!(
            "/training-jobs/{job}/versions/{ver}/log/file-names"
        ))
        .await;
    assert_eq!(names.assert_ok()["log_file_list"], json!(["Hello_Job.0"]));
    let base = format!("/training-jobs/{job}/versions/{ver}/aom-log");
    srv.api
        .get(&format!("{base}?log_file=nope.0"))
        .await
        .assert_error(400, "ModelArts.0104");
    srv.api
        .get(&format!("{base}?log_file=../../../etc/passwd"))
        .await
        .assert_error(400, "ModelArts.0104");
    srv.api.get(&base).await.assert_error(400, "ModelArts.0101");
    // SDK byte mode: start_byte/offset.
    let r = srv
        .api
        .get(&format!(
            "{base}?log_file=Hello_Job.0&start_byte=0&offset=5"
        ))
        .await;
    assert_eq!(r.assert_ok()["content"], json!("hello"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_of_a_version_that_has_not_started_is_not_generated() {
    let srv =
        TestServer::start_with("[executor]\ncores = 1\nmemory_gb = 4\nstop_grace_seconds = 1\n")
            .await;
    srv.write_app("sleepy", &[("boot.py", "import time\ntime.sleep(300)\n")]);
    let (j1, v1) = srv.api.create_job("holder", "sleepy", json!({})).await;
    srv.api
        .wait_status(j1, v1, &[JobStatus::RUNNING], Duration::from_secs(30))
        .await;
    let (j2, v2) = srv.api.create_job("later", "sleepy", json!({})).await;
    srv.api
        .wait_status(j2, v2, &[JobStatus::WAITING], Duration::from_secs(10))
        .await;
    let names = srv
        .api
        .get(&format!("/training-jobs/{j2}/versions/{v2}/log/file-names"))
        .await;
    assert_eq!(names.assert_ok()["log_file_list"], json!([]));
    let r = srv
        .api
        .get(&format!(
            "/training-jobs/{j2}/versions/{v2}/aom-log?log_file=later.0"
        ))
        .await;
    r.assert_error(400, "ModelArts.2818");
    for (j, v) in [(j1, v1), (j2, v2)] {
        srv.api
            .post(&format!("/training-jobs/{j}/versions/{v}/stop"), json!({}))
            .await
            .assert_ok();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_shutdown_ends_open_log_streams_and_clients_resume_after_restart() {
    let dir = tempdir().unwrap();
    let config = dir.path().join("config.toml");
    write_config(&config, config_text(&dir.path().join("data"), "")).unwrap();
    let port = free_port();
    let mut server = ServerProcess::start(&config, port).await;
    let storage = dir.path().join("data/obs").join(PROJECT);
    // Prints a line, then waits for a file the test writes after the restart.
    let go = dir.path().join("go");
    let boot = format!(
        "import os, time\nprint('before', flush=True)\nwhile not os.path.exists({go:?}):\n    time.sleep(0.05)\nprint('after', flush=True)\n",
        go = go.display().to_string()
    );
    write_app(&storage, "streamer", &[("boot.py", &boot)]);
    let (job, ver) = server
        .api
        .create_job("streamer", "streamer", json!({}))
        .await;
    server.api.wait_log(job, ver, "streamer.0", "before").await;

    // A follower reads the first line; SIGTERM then stops the server promptly despite it.
    let mut log = server
        .api
        .client()
        .follow_log(job, ver, "streamer.0", 0)
        .with_retries(40);
    let first = tokio::time::timeout(Duration::from_secs(10), log.next_chunk())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(&first[..], b"before\n");
    let reader = tokio::spawn(async move {
        let mut rest = Vec::new();
        while let Some(chunk) = log.next_chunk().await.unwrap() {
            rest.extend_from_slice(&chunk);
        }
        (rest, log.reconnects())
    });
    let pid = nix::unistd::Pid::from_raw(server.child.id() as i32);
    let stopped = std::time::Instant::now();
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let deadline = stopped + Duration::from_secs(5);
    loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            assert!(status.success(), "graceful exit: {status:?}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the server waited for the open log stream"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The job keeps running; a new server takes over and the follower resumes where it was.
    let server2 = ServerProcess::start(&config, port).await;
    std::fs::write(&go, "").unwrap();
    let (rest, reconnects) = tokio::time::timeout(Duration::from_secs(30), reader)
        .await
        .unwrap()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&rest).starts_with("after\n"),
        "nothing lost or repeated: {}",
        String::from_utf8_lossy(&rest)
    );
    assert!(reconnects >= 1);
    assert_eq!(
        server2
            .api
            .wait_status(
                job,
                ver,
                &[JobStatus::COMPLETED, JobStatus::FAILED],
                Duration::from_secs(30)
            )
            .await,
        JobStatus::COMPLETED
    );
    drop(server2);
    kill_runs(&dir.path().join("data/runs"));
}
