//! Checkpoints on S3 storage: the checkpoint folder below a bucket's `train_url` is uploaded
//! on its own interval, verified, recorded (`checkpoint.json` in the run folder) and
//! restored from the bucket before the next attempt; an upload during a store outage is a
//! log line and leaves the attempt uncounted, so the next one restores the last verified
//! checkpoint; a stop uploads the folder while the workers still have their grace.

use crate::harness::*;
use crate::object_storage::{create, server, S3Server};
use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};
use trainyard_exec::checkpoint::{read_notes, read_record, CheckpointNote, CheckpointRecord};

/// Saves step 41 in attempt 1 (then, once the file `go` is in its train folder, step 42, and
/// exits 3), and checks in attempt 2 that step 41 was restored.
const BOOT: &str = r#"import os, sys, time
args = dict(a[2:].split('=', 1) for a in sys.argv[1:])
attempt = int(os.environ["TRAINYARD_ATTEMPT"])
ckpt = os.environ["TRAINYARD_CHECKPOINT_DIR"]
state = os.path.join(ckpt, "step.txt")
def save(step):
    with open(state + ".tmp", "w") as f:
        f.write(step)
    os.rename(state + ".tmp", state)
    print("attempt %d saved step %s" % (attempt, step), flush=True)
if attempt == 1:
    save("41")
    go = os.path.join(args["train_url"], "go")
    while not os.path.exists(go):
        time.sleep(0.1)
    save("42, not verified")
    time.sleep(1)
    sys.exit(3)
step = open(state).read() if os.path.exists(state) else "none"
print("attempt %d found step %s" % (attempt, step), flush=True)
sys.exit(0 if step == "41" else 5)
"#;

/// Waits until the run folder `run_dir` records a verified checkpoint of `attempt`.
async fn recorded(run_dir: &Path, attempt: i64) -> CheckpointRecord {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(r) = read_record(run_dir).filter(|r| r.attempt == attempt) {
            return r;
        }
        assert!(
            Instant::now() < deadline,
            "no verified checkpoint of attempt {attempt} in {}; shim log: {}",
            run_dir.display(),
            std::fs::read_to_string(run_dir.join("shim.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_are_verified_in_the_bucket_and_restored_in_the_next_attempt() {
    let mut s3 = S3Server::start(&["team-a"]);
    s3.put("team-a/code/boot.py", BOOT.as_bytes());
    s3.put("team-a/data/x", b"x");
    let srv = server(
        &s3,
        &["team-a"],
        "checkpoint_interval_seconds = 0.3\nupload_interval_seconds = 3600\nretry_seconds = 2",
    )
    .await;
    let api = &srv.api;
    let runs = srv.dir.path().join("data/runs");
    let job = |name: &str, backoff: u64| {
        json!({"job_name": name, "config": {
            "worker_server_num": 1, "app_url": "/team-a/code/", "boot_file_url": "/team-a/code/boot.py",
            "data_url": "/team-a/data/", "train_url": format!("/team-a/{name}/"), "spec_id": 1, "engine_id": 1,
            "retry_policy": {"max_retries": 1, "on_exit_codes": [3], "backoff_seconds": backoff}}})
    };
    let within = Duration::from_secs(60);
    let (killed_job, killed) = create(&srv, job("killed", 0)).await;
    // A pause before attempt 2 long enough to bring the store back.
    let (outage_job, outage) = create(&srv, job("outage", 2)).await;
    let (killed_dir, outage_dir) = (runs.join(killed.to_string()), runs.join(outage.to_string()));

    // Worker SIGKILLed once its checkpoint is verified: attempt 2 starts from it.
    let first = recorded(&killed_dir, 1).await;
    assert_eq!(first.url, "s3://team-a/killed/checkpoints/");
    assert_eq!(first.files.len(), 1, "{first:?}");
    assert_eq!(first.files[0].rel, Path::new("step.txt"));
    assert!(
        first.files[0].etag.is_some(),
        "verified by its ETag: {first:?}"
    );
    assert_eq!(s3.get("team-a/killed/checkpoints/step.txt").unwrap(), b"41");
    let written = || {
        std::fs::metadata(s3.path("team-a/killed/checkpoints/step.txt"))
            .and_then(|m| m.modified())
            .unwrap()
    };
    let first_put = written();
    let worker = trainyard_exec::run_dir::read_workers(&killed_dir)[0].pid;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(worker),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();

    // It completes before the store goes away (its restore and last uploads need it).
    let (end, log) = api.run_to_end(killed_job, killed, "killed.0", within).await;
    assert_eq!(end, JobStatus::COMPLETED, "{log}");
    assert!(
        log.contains(
            "[trainyard] attempt 2 starts from the checkpoint of attempt 1 (1 files), restored \
             from s3://team-a/killed/checkpoints/"
        ) && log.contains("attempt 2 found step 41"),
        "{log}"
    );
    let first_log = api.log(killed_job, killed, "attempt-1/killed.0").await;
    assert!(first_log.contains("killed by signal 9"), "{first_log}");
    // Attempt 2 counts the restored checkpoint as its own without sending it again.
    assert_eq!(recorded(&killed_dir, 2).await.files, first.files);
    assert_eq!(
        written(),
        first_put,
        "the restored object was not uploaded again"
    );

    // The store goes away after the first verified checkpoint, before the second is saved.
    let verified = recorded(&outage_dir, 1).await;
    s3.kill();
    std::fs::write(outage_dir.join("train/go"), "").unwrap();
    api.wait_log(outage_job, outage, "outage.0", "attempt 1 saved step 42")
        .await;
    api.wait_log(
        outage_job,
        outage,
        "outage.0",
        "[trainyard] checkpoint upload of attempt 1 to s3://team-a/outage/checkpoints/ failed",
    )
    .await;
    // Attempt 1 ended (its last upload failed too) and attempt 2 waits for its pause: the
    // record is still the checkpoint verified before the outage.
    api.wait_log(outage_job, outage, "outage.0", "attempt 2 starts in")
        .await;
    assert_eq!(read_record(&outage_dir), Some(verified.clone()));
    // The run folder's notes (what the event log takes in) have the upload and the failure.
    let notes = read_notes(&outage_dir);
    assert!(
        matches!(
            notes.first(),
            Some(CheckpointNote::Uploaded {
                attempt: 1,
                files: 1,
                ..
            })
        ),
        "{notes:?}"
    );
    assert!(
        matches!(notes.last(), Some(CheckpointNote::Failed { attempt: 1, url, .. }) if url == "s3://team-a/outage/checkpoints/"),
        "{notes:?}"
    );
    s3.restart();
    // The event log of the attempt has both, taken in from the notes at its end.
    let deadline = Instant::now() + Duration::from_secs(20);
    let events = loop {
        let r = api
            .get(&format!(
                "/training-jobs/{outage_job}/versions/{outage}/events"
            ))
            .await;
        let events = r.assert_ok()["events"].as_array().unwrap().clone();
        if events.iter().any(|e| e["kind"] == "retry_scheduled") {
            break events;
        }
        assert!(Instant::now() < deadline, "{events:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    let uploaded = kinds.iter().position(|k| *k == "checkpoint_uploaded");
    let failed = kinds.iter().position(|k| *k == "checkpoint_failed");
    let retried = kinds.iter().position(|k| *k == "retry_scheduled");
    assert!(
        uploaded.is_some() && uploaded < failed && failed < retried,
        "{kinds:?}"
    );
    let failed = &events[failed.unwrap()];
    assert_eq!(failed["detail"]["url"], "s3://team-a/outage/checkpoints/");
    assert_eq!(failed["level"], "Warning");

    let (end, log) = api.run_to_end(outage_job, outage, "outage.0", within).await;
    assert_eq!(end, JobStatus::COMPLETED, "{log}");
    assert!(log.contains("attempt 2 found step 41"), "{log}");
    let first_log = api.log(outage_job, outage, "attempt-1/outage.0").await;
    assert!(
        first_log.contains("not counted as checkpointed (the last verified checkpoint: the checkpoint of attempt 1 (1 files))"),
        "{first_log}"
    );
    // What the store holds is the verified step: the unverified one never reached it.
    assert_eq!(s3.get("team-a/outage/checkpoints/step.txt").unwrap(), b"41");
    for (job, ver) in [(killed_job, killed), (outage_job, outage)] {
        let d = api
            .get(&format!("/training-jobs/{job}/versions/{ver}"))
            .await;
        assert_eq!(d.assert_ok()["attempt"], json!(2), "{}", d.body);
    }
}

/// Saves step 7, then holds on past a SIGTERM (until the SIGKILL).
const HOLDER: &str = r#"import os, signal, time
ckpt = os.environ["TRAINYARD_CHECKPOINT_DIR"]
with open(os.path.join(ckpt, "step.txt"), "w") as f:
    f.write("7")
signal.signal(signal.SIGTERM, lambda *_: print("term", flush=True))
print("saved step 7", flush=True)
while True:
    time.sleep(0.1)
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_uploads_the_checkpoint_folder_within_its_grace() {
    let s3 = S3Server::start(&["team-a"]);
    s3.put("team-a/code/boot.py", HOLDER.as_bytes());
    s3.put("team-a/data/x", b"x");
    // No pass on the interval while the test runs.
    let srv = server(
        &s3,
        &["team-a"],
        "checkpoint_interval_seconds = 3600\nupload_interval_seconds = 3600",
    )
    .await;
    let api = &srv.api;
    let (job, ver) = create(
        &srv,
        json!({"job_name": "hold", "config": {
            "worker_server_num": 1, "app_url": "/team-a/code/", "boot_file_url": "/team-a/code/boot.py",
            "data_url": "/team-a/data/", "train_url": "/team-a/hold/", "spec_id": 1, "engine_id": 1}}),
    )
    .await;
    api.wait_log(job, ver, "hold.0", "saved step 7").await;
    assert_eq!(s3.get("team-a/hold/checkpoints/step.txt"), None);
    let stop = format!("/training-jobs/{job}/versions/{ver}/stop");
    api.post(&stop, json!({"grace_period_seconds": 60}))
        .await
        .assert_ok();
    api.wait_log(job, ver, "hold.0", "term").await;
    // Verified and recorded while the worker still has its grace (it ignores the SIGTERM).
    let run_dir = srv.dir.path().join(format!("data/runs/{ver}"));
    let record = recorded(&run_dir, 1).await;
    assert_eq!(record.files.len(), 1, "{record:?}");
    assert_eq!(s3.get("team-a/hold/checkpoints/step.txt").unwrap(), b"7");
    assert_eq!(api.status(job, ver).await, JobStatus::KILLING);
}
