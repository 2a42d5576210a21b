//! Runs real worker processes under the real shim binary.

use std::time::{Duration, Instant};

use crate::harness::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use trainyard_exec::{
    launch, proc, reattach, request_stop, Attach, RunExit, RunOutcome, RunSpec, Running, WorkerExit,
};

/// Asks the run to stop with `grace` and waits (up to 10 s) for its end.
async fn stop(spec: &RunSpec, running: &mut Running, grace: Duration) -> RunExit {
    request_stop(&spec.run_dir, grace).unwrap();
    tokio::time::timeout(Duration::from_secs(10), running.wait())
        .await
        .unwrap()
        .unwrap()
}

/// One `sh` worker running `script` (which echoes `ready` once its traps are set), launched
/// with a 30 s grace, once ready.
async fn ready_sh(dir: &std::path::Path, script: &str) -> (RunSpec, Teardown, Running) {
    let spec = spec(dir, vec![sh_worker(dir, 0, script)], 30);
    let teardown = Teardown(spec.run_dir.clone());
    let (_, running) = launch(&spec, shim()).await.unwrap();
    wait_until(Duration::from_secs(10), "worker ready", || {
        log(&spec.workers[0].log_file).contains("ready")
    })
    .await;
    (spec, teardown, running)
}

#[tokio::test]
async fn two_workers_succeed_with_their_own_env_and_logs() {
    let dir = tempfile::tempdir().unwrap();
    let script = "echo \"rank=$RANK\"; env | sort; pwd; grep SigBlk /proc/self/status";
    let spec = spec(
        dir.path(),
        vec![
            sh_worker(dir.path(), 0, script),
            sh_worker(dir.path(), 1, script),
        ],
        5,
    );
    let _t = Teardown(spec.run_dir.clone());

    let (handle, mut running) = launch(&spec, shim()).await.unwrap();
    assert!(
        proc::is_alive(handle.shim_pid, handle.shim_start_time)
            || running.run_dir().join("exit.json").exists()
    );
    let exit = tokio::time::timeout(Duration::from_secs(10), running.wait())
        .await
        .unwrap()
        .unwrap();

    assert_eq!(exit.outcome, RunOutcome::Succeeded);
    let mut workers = exit.workers.clone();
    workers.sort_by_key(|w| w.index);
    assert_eq!(
        workers,
        vec![
            WorkerExit {
                index: 0,
                exit_code: Some(0),
                signal: None
            },
            WorkerExit {
                index: 1,
                exit_code: Some(0),
                signal: None
            },
        ]
    );
    for (i, w) in spec.workers.iter().enumerate() {
        let text = log(&w.log_file);
        assert!(text.contains(&format!("rank={i}")), "{text}");
        assert!(text.contains(&format!("RANK={i}")), "{text}");
        assert!(
            !text.contains("CARGO"),
            "environment leaked into the worker: {text}"
        );
        assert!(text.contains(spec.cwd.to_str().unwrap()), "{text}");
        assert!(
            text.contains("SigBlk:\t0000000000000000"),
            "worker inherited a signal mask: {text}"
        );
        assert!(
            text.contains(&format!("[trainyard] worker {i} exited with code 0")),
            "{text}"
        );
    }
    assert!(spec.run_dir.join("shim.json").exists());
}

#[tokio::test]
async fn failing_worker_fails_the_run_and_kills_siblings() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(
        dir.path(),
        vec![
            sh_worker(dir.path(), 0, "sleep 60"),
            sh_worker(
                dir.path(),
                1,
                "echo about to fail; while [ ! -e go ]; do sleep 0.02; done; exit 3",
            ),
        ],
        10,
    );
    let _t = Teardown(spec.run_dir.clone());
    let (_, mut running) = launch(&spec, shim()).await.unwrap();
    let records = wait_for_workers(&spec.run_dir, 2).await;
    std::fs::write(spec.cwd.join("go"), "").unwrap();

    let started = Instant::now();
    let exit = tokio::time::timeout(Duration::from_secs(10), running.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        exit.outcome,
        RunOutcome::Failed {
            worker: 1,
            exit_code: Some(3),
            signal: None
        }
    );
    // The sibling got SIGTERM, not the 10 s grace and SIGKILL.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    let sibling = exit.workers.iter().find(|w| w.index == 0).unwrap();
    assert_eq!(sibling.signal, Some(libc::SIGTERM));

    assert!(log(&spec.workers[1].log_file).contains("[trainyard] worker 1 exited with code 3"));
    assert!(log(&spec.workers[0].log_file).contains("killed by signal 15"));
    for r in records {
        assert!(
            !proc::is_alive(r.pid, r.start_time),
            "worker {} still alive",
            r.index
        );
        assert!(group_gone(r.pgid));
    }
}

#[tokio::test]
async fn stop_escalates_to_sigkill_and_leaves_no_process() {
    let dir = tempfile::tempdir().unwrap();
    let script = "trap '' TERM; sleep 60 & sleep 60; wait";
    let spec = spec(dir.path(), vec![sh_worker(dir.path(), 0, script)], 30);
    let _t = Teardown(spec.run_dir.clone());
    let (_, mut running) = launch(&spec, shim()).await.unwrap();
    let records = wait_for_workers(&spec.run_dir, 1).await;
    let pgid = records[0].pgid;
    // sh plus both sleeps: the trap is in place before we send TERM.
    wait_until(
        Duration::from_secs(10),
        "the worker's grandchildren",
        || proc::group_members(pgid).len() >= 3,
    )
    .await;

    let started = Instant::now();
    let exit = stop(&spec, &mut running, Duration::from_secs(1)).await;
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900),
        "SIGKILL came before the grace: {took:?}"
    );
    assert!(took < Duration::from_secs(2), "shim took {took:?}");

    assert_eq!(exit.outcome, RunOutcome::Stopped);
    assert_eq!(exit.workers[0].signal, Some(libc::SIGKILL));
    assert!(
        group_gone(pgid),
        "left in group: {:?}",
        proc::group_members(pgid)
    );
    let text = log(&spec.workers[0].log_file);
    assert!(text.contains("stop requested"), "{text}");
    assert!(text.contains("[trainyard] stopped"), "{text}");
    assert!(spec.run_dir.join("stop.json").exists());
}

/// The stop's grace rides on its signal: the shim has it before `stop.json` is written, and
/// without the file (here it cannot be written: a folder holds its name).
#[tokio::test]
async fn a_stops_grace_comes_with_its_signal() {
    let dir = tempfile::tempdir().unwrap();
    let script = "trap '' TERM; echo ready; sleep 60";
    let (spec, _t, mut running) = ready_sh(dir.path(), script).await;
    std::fs::create_dir(spec.run_dir.join("stop.json")).unwrap();

    let started = Instant::now();
    let exit = stop(&spec, &mut running, Duration::from_secs(1)).await;
    let took = started.elapsed();
    // The spec's grace is 30 s: SIGKILL after 1 s is the signal's grace.
    assert!(
        took >= Duration::from_millis(900),
        "SIGKILL before the grace: {took:?}"
    );
    assert!(
        took < Duration::from_secs(5),
        "not the stop's grace: {took:?}"
    );
    assert_eq!(exit.outcome, RunOutcome::Stopped);
    assert_eq!(exit.workers[0].signal, Some(libc::SIGKILL));
}

#[tokio::test]
async fn stop_lets_a_worker_exit_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let script = "trap 'echo got term; exit 0' TERM; echo ready; while true; do sleep 0.05; done";
    let (spec, _t, mut running) = ready_sh(dir.path(), script).await;

    let exit = stop(&spec, &mut running, Duration::from_secs(30)).await;
    assert_eq!(exit.outcome, RunOutcome::Stopped);
    assert_eq!(exit.workers[0].exit_code, Some(0));
    assert!(log(&spec.workers[0].log_file).contains("got term"));
    // Stopping a finished run is fine.
    request_stop(&spec.run_dir, Duration::from_secs(1)).unwrap();
}

#[tokio::test]
async fn reattach_after_the_server_dropped_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let script = "while [ ! -e go ]; do sleep 0.02; done; exit 7";
    let spec = spec(dir.path(), vec![sh_worker(dir.path(), 0, script)], 5);
    let _t = Teardown(spec.run_dir.clone());
    let (handle, running) = launch(&spec, shim()).await.unwrap();
    wait_for_workers(&spec.run_dir, 1).await;
    drop(running); // the server "dies"; the shim lives on in its own session

    let Attach::Alive(mut again) = reattach(&spec.run_dir) else {
        panic!("expected Alive")
    };
    assert_eq!(again.handle(), handle);
    std::fs::write(spec.cwd.join("go"), "").unwrap();
    let exit = tokio::time::timeout(Duration::from_secs(10), again.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        exit.outcome,
        RunOutcome::Failed {
            worker: 0,
            exit_code: Some(7),
            signal: None
        }
    );

    match reattach(&spec.run_dir) {
        Attach::Finished(e) => assert_eq!(e, exit),
        other => panic!("expected Finished, got {other:?}"),
    }
}

#[tokio::test]
async fn reattach_to_a_killed_run_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(dir.path(), vec![sh_worker(dir.path(), 0, "sleep 60")], 5);
    let _t = Teardown(spec.run_dir.clone());
    let (_, mut running) = launch(&spec, shim()).await.unwrap();
    let records = wait_for_workers(&spec.run_dir, 1).await;

    trainyard_exec::kill_run(&spec.run_dir);
    let exit = tokio::time::timeout(Duration::from_secs(10), running.wait())
        .await
        .unwrap();
    assert_eq!(exit, None, "a SIGKILLed shim writes no exit.json");
    wait_until(Duration::from_secs(5), "worker death", || {
        !proc::is_alive(records[0].pid, records[0].start_time)
    })
    .await;
    assert!(matches!(reattach(&spec.run_dir), Attach::Lost));
}

#[tokio::test]
async fn a_killed_shim_takes_its_workers_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(
        dir.path(),
        vec![sh_worker(dir.path(), 0, "sleep 60 & sleep 60; wait")],
        5,
    );
    let _t = Teardown(spec.run_dir.clone());
    let (handle, mut running) = launch(&spec, shim()).await.unwrap();
    let records = wait_for_workers(&spec.run_dir, 1).await;
    wait_until(Duration::from_secs(10), "the worker's child", || {
        proc::group_members(records[0].pgid).len() >= 2
    })
    .await;

    kill(Pid::from_raw(handle.shim_pid), Signal::SIGKILL).unwrap();
    assert_eq!(
        running.wait().await,
        None,
        "a SIGKILLed shim writes no exit.json"
    );
    // The run is reported lost only once nothing of it is left running.
    wait_until(
        Duration::from_secs(5),
        "the worker group to be empty",
        || group_gone(records[0].pgid),
    )
    .await;
    assert!(matches!(reattach(&spec.run_dir), Attach::Lost));
}

#[tokio::test]
async fn lost_shim_with_live_workers_is_cleaned_up_by_reattach() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(dir.path(), vec![sh_worker(dir.path(), 0, "sleep 60")], 5);
    let _t = Teardown(spec.run_dir.clone());
    let (handle, running) = launch(&spec, shim()).await.unwrap();
    let records = wait_for_workers(&spec.run_dir, 1).await;
    drop(running); // the server is gone too

    kill(Pid::from_raw(handle.shim_pid), Signal::SIGKILL).unwrap();
    wait_until(Duration::from_secs(5), "shim death", || {
        !proc::is_alive(handle.shim_pid, handle.shim_start_time)
    })
    .await;
    assert!(
        proc::is_alive(records[0].pid, records[0].start_time),
        "worker outlives its shim"
    );
    assert!(matches!(reattach(&spec.run_dir), Attach::Lost));
    wait_until(Duration::from_secs(5), "worker death", || {
        !proc::is_alive(records[0].pid, records[0].start_time)
    })
    .await;
}

/// A worker that appends one line per start to `<dir>/starts`, then waits for `<dir>/go`.
fn counting_worker(dir: &std::path::Path) -> trainyard_exec::WorkerSpec {
    let script = format!(
        "echo started >> {0}/starts; while [ ! -e {0}/go ]; do sleep 0.02; done",
        dir.display()
    );
    sh_worker(dir, 0, &script)
}

fn starts(dir: &std::path::Path) -> usize {
    std::fs::read_to_string(dir.join("starts"))
        .unwrap_or_default()
        .lines()
        .count()
}

#[tokio::test]
async fn a_run_launched_twice_at_once_starts_its_workers_once() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(dir.path(), vec![counting_worker(dir.path())], 5);
    let _t = Teardown(spec.run_dir.clone());
    let (a, b) = tokio::join!(launch(&spec, shim()), launch(&spec, shim()));
    let ((_, mut a), (_, mut b)) = (a.unwrap(), b.unwrap());
    wait_until(Duration::from_secs(10), "the first start", || {
        starts(dir.path()) >= 1
    })
    .await;
    std::fs::write(dir.path().join("go"), "").unwrap();
    let within = Duration::from_secs(10);
    let (ea, eb) = tokio::join!(
        tokio::time::timeout(within, a.wait()),
        tokio::time::timeout(within, b.wait())
    );
    let (ea, eb) = (ea.unwrap().unwrap(), eb.unwrap().unwrap());
    assert_eq!(ea.outcome, RunOutcome::Succeeded);
    assert_eq!(ea, eb, "both launches report the one run");
    assert_eq!(starts(dir.path()), 1);
}

#[tokio::test]
async fn a_relaunch_after_a_crash_follows_the_first_shim() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(dir.path(), vec![counting_worker(dir.path())], 5);
    let _t = Teardown(spec.run_dir.clone());
    let (first, running) = launch(&spec, shim()).await.unwrap();
    wait_until(Duration::from_secs(10), "the first start", || {
        starts(dir.path()) == 1
    })
    .await;
    drop(running); // the server died before it recorded anything

    let (_, mut again) = launch(&spec, shim()).await.unwrap();
    let exit = tokio::time::timeout(Duration::from_millis(300), again.wait()).await;
    assert!(
        exit.is_err(),
        "the relaunch waits on the first run: {exit:?}"
    );
    assert_eq!(
        again.handle(),
        first,
        "the relaunch follows the shim that claimed the run"
    );
    std::fs::write(dir.path().join("go"), "").unwrap();
    let exit = tokio::time::timeout(Duration::from_secs(10), again.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(exit.outcome, RunOutcome::Succeeded);
    assert_eq!(starts(dir.path()), 1);
    assert!(matches!(reattach(&spec.run_dir), Attach::Finished(_)));
}

#[tokio::test]
async fn a_stop_requested_before_the_shim_claims_the_run_starts_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(dir.path(), vec![counting_worker(dir.path())], 5);
    let _t = Teardown(spec.run_dir.clone());
    assert!(matches!(reattach(&spec.run_dir), Attach::NotStarted));
    std::fs::create_dir_all(&spec.run_dir).unwrap();
    request_stop(&spec.run_dir, Duration::ZERO).unwrap();
    let (_, mut running) = launch(&spec, shim()).await.unwrap();
    let exit = tokio::time::timeout(Duration::from_secs(10), running.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(exit.outcome, RunOutcome::Stopped);
    assert!(exit.workers.is_empty());
    assert_eq!(starts(dir.path()), 0);
}

#[tokio::test]
async fn spawn_failure_is_reported_and_started_workers_are_killed() {
    let dir = tempfile::tempdir().unwrap();
    let mut bad = sh_worker(dir.path(), 1, "");
    bad.program = "trainyard-no-such-program".into();
    bad.args.clear();
    let spec = spec(
        dir.path(),
        vec![sh_worker(dir.path(), 0, "sleep 60"), bad],
        5,
    );
    let _t = Teardown(spec.run_dir.clone());
    let (_, mut running) = launch(&spec, shim()).await.unwrap();
    let exit = tokio::time::timeout(Duration::from_secs(10), running.wait())
        .await
        .unwrap()
        .unwrap();

    let RunOutcome::SpawnFailed { message } = &exit.outcome else {
        panic!("{exit:?}")
    };
    assert!(message.contains("trainyard-no-such-program"), "{message}");
    assert!(log(&spec.workers[1].log_file).contains("cannot start `trainyard-no-such-program`"));
    let records = trainyard_exec::run_dir::read_workers(&spec.run_dir);
    assert_eq!(records.len(), 1);
    assert!(group_gone(records[0].pgid));
    assert_eq!(
        exit.workers,
        vec![WorkerExit {
            index: 0,
            exit_code: None,
            signal: Some(libc::SIGKILL)
        }]
    );
}

#[tokio::test]
async fn backstop_kills_a_stuck_shim() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(dir.path(), vec![sh_worker(dir.path(), 0, "sleep 60")], 5);
    let _t = Teardown(spec.run_dir.clone());
    let (handle, mut running) = launch(&spec, shim()).await.unwrap();
    let records = wait_for_workers(&spec.run_dir, 1).await;

    // A stopped shim cannot handle SIGTERM; only the backstop (grace 0 + 5 s) ends the run.
    kill(Pid::from_raw(handle.shim_pid), Signal::SIGSTOP).unwrap();
    request_stop(&spec.run_dir, Duration::ZERO).unwrap();
    let exit = tokio::time::timeout(Duration::from_secs(10), running.wait())
        .await
        .unwrap();
    assert_eq!(exit, None);
    wait_until(Duration::from_secs(5), "worker death", || {
        !proc::is_alive(records[0].pid, records[0].start_time)
    })
    .await;
}

#[tokio::test]
async fn missing_shim_program_is_a_spawn_error() {
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(dir.path(), vec![sh_worker(dir.path(), 0, "true")], 5);
    let err = launch(&spec, std::path::Path::new("/nonexistent/trainyard"))
        .await
        .unwrap_err();
    assert!(matches!(err, trainyard_exec::Error::Spawn(_)), "{err:?}");
    assert!(spec.run_dir.join("spec.json").exists());
}

#[tokio::test]
async fn a_capped_log_is_cut_with_a_marker_while_the_worker_runs_on_to_success() {
    let dir = tempfile::tempdir().unwrap();
    // About 180 kB, far more than a pipe holds: the shim must keep draining past the cap,
    // with no server anywhere, or the worker would block and never exit.
    let script = "i=0; while [ $i -lt 3000 ]; do echo \"line $i xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"; i=$((i+1)); done; echo after-the-cap >&2";
    let mut spec = spec(dir.path(), vec![sh_worker(dir.path(), 0, script)], 5);
    spec.log_limit = Some(trainyard_exec::LogLimit {
        max_bytes: 10_000,
        fail: false,
    });
    let _t = Teardown(spec.run_dir.clone());
    let (_, mut running) = launch(&spec, shim()).await.unwrap();
    let exit = tokio::time::timeout(Duration::from_secs(20), running.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(exit.outcome, RunOutcome::Succeeded);
    let text = log(&spec.workers[0].log_file);
    let marker = "\n[trainyard] log limit of 10000 bytes reached (max_log_bytes); further output of this worker is discarded (on_log_limit = \"truncate\")\n";
    let at = text.find(marker).expect("the marker");
    assert_eq!(
        at, 10_000,
        "cut at the cap, then a line break before the marker"
    );
    assert!(text.starts_with("line 0 "), "{}", &text[..20]);
    assert!(!text.contains("after-the-cap"));
    assert!(
        text.ends_with(&format!(
            "{marker}[trainyard] worker 0 exited with code 0\n"
        )),
        "{}",
        &text[at..]
    );
}
