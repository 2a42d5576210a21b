//! Shims started ahead of their runs (`trainyard_exec::Shims`): a run is handed to an idle
//! spare, and a spare whose server is gone exits by itself.

use std::path::Path;
use std::time::Duration;

use crate::harness::*;
use trainyard_exec::backend::{events, Backend, RunEvent, Submission, Submitted, WorkerResources};
use trainyard_exec::local::LocalBackend;
use trainyard_exec::{proc, RunHandle, RunOutcome};

/// The idle spares of `program` started by this test process: its children started as
/// `<program> shim -`, still in `/` (a spare given its run changes into the run's folder).
fn idle_spares(program: &Path) -> Vec<i32> {
    let me = std::process::id() as i32;
    let program_bytes = program.as_os_str().as_encoded_bytes();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| {
            let spare = std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| c.ends_with(b"\0shim\0-\0") && c.starts_with(program_bytes));
            let cwd_root = std::fs::read_link(format!("/proc/{pid}/cwd"))
                .is_ok_and(|cwd| cwd == Path::new("/"));
            spare && cwd_root && proc::stat(pid).is_some_and(|s| s.ppid == me && s.state != 'Z')
        })
        .collect()
}

/// The test shim under a name of this test's own, so that the shims other tests start at
/// the same time are not taken for its spares.
fn own_shim(dir: &Path) -> std::path::PathBuf {
    let program = dir.join("spare-test-shim");
    if std::fs::hard_link(shim(), &program).is_err() {
        std::fs::copy(shim(), &program).unwrap();
    }
    program
}

fn submission(id: i64, dir: &Path) -> Submission {
    Submission {
        id,
        spec: spec(dir, vec![sh_worker(dir, 0, "echo ran")], 5),
        name: format!("run-{id}"),
        per_worker: WorkerResources {
            cpus: 1,
            mem_mb: 64,
            gpus: 0,
        },
        time_limit: None,
        nice: 0,
        qos: None,
    }
}

async fn shim_of(backend: &Backend, id: i64, dir: &Path) -> i32 {
    match backend.submit(submission(id, dir)).await.unwrap() {
        Submitted::Started(RunHandle::Local(handle)) => handle.shim_pid,
        other => panic!("not started here: {other:?}"),
    }
}

#[tokio::test]
async fn a_run_goes_to_an_idle_spare_which_logs_into_its_folder_and_spares_end_with_their_server() {
    let (first, second) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let bin = tempfile::tempdir().unwrap();
    let program = own_shim(bin.path());
    let _t = (
        Teardown(first.path().join("run")),
        Teardown(second.path().join("run")),
    );
    let (tx, mut rx) = events();
    let backend = Backend::Local(LocalBackend::new(program.clone(), 1, tx));
    let ended = |event: Option<(i64, RunEvent)>, id: i64| match event {
        Some((got, RunEvent::Ended(end))) if got == id => end.exit.map(|e| e.outcome),
        other => panic!("expected the end of run {id}, got {other:?}"),
    };

    // No spare before the first run: its shim is started for it, and a spare after it.
    assert!(idle_spares(&program).is_empty());
    shim_of(&backend, 1, first.path()).await;
    let outcome = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .unwrap();
    assert_eq!(ended(outcome, 1), Some(RunOutcome::Succeeded));
    wait_until(Duration::from_secs(10), "a spare shim", || {
        idle_spares(&program).len() == 1
    })
    .await;
    let spare = idle_spares(&program)[0];

    // The next run is the spare's: it claims it, runs it and logs into the run's folder.
    assert_eq!(shim_of(&backend, 2, second.path()).await, spare);
    let outcome = tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .unwrap();
    assert_eq!(ended(outcome, 2), Some(RunOutcome::Succeeded));
    let run = second.path().join("run");
    assert_eq!(
        trainyard_exec::run_dir::read_claim(&run).map(|c| c.pid),
        Some(spare)
    );
    assert!(log(&second.path().join("logs/worker-0.log")).contains("ran"));
    assert!(
        run.join("shim.log").is_file(),
        "the spare's output goes to shim.log"
    );

    // Its replacement waits; with the backend gone (its server), it exits, having started
    // nothing.
    wait_until(Duration::from_secs(10), "the next spare", || {
        idle_spares(&program).len() == 1
    })
    .await;
    let next = idle_spares(&program)[0];
    assert_ne!(next, spare);
    let st = proc::start_time(next).unwrap();
    drop(backend);
    wait_until(Duration::from_secs(10), "the spare's exit", || {
        !proc::is_alive(next, st)
    })
    .await;
}
