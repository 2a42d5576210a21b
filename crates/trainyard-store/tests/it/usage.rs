//! Usage accounting on both engines: a record is written with the end it belongs to (once,
//! however often the end is reported), outlives its version, survives a reopen, and a window
//! counts only the part of each run inside it.

use trainyard_api::JobStatus;
use trainyard_store::{
    NewVersion, Store, TransitionSet, UsageBy, UsageGroup, UsageRecord, UsageSpan, VersionDeletion,
};

use crate::fixtures::job_in as job;

/// A running version created by `by`.
fn version(by: &str) -> NewVersion {
    NewVersion {
        status: JobStatus::RUNNING,
        create_time: 1_000,
        created_by: by.into(),
        ..crate::fixtures::version()
    }
}

/// A record of attempt `attempt` of version `v`: `cores` cores (twice as much memory, one GPU
/// when `gpu`), queued at 1 s, running from `start` to `end` (ms).
fn record(
    v: &trainyard_store::Version,
    attempt: i64,
    cores: i64,
    start: i64,
    end: i64,
) -> UsageRecord {
    UsageRecord {
        version_id: v.id,
        attempt,
        project_id: v.project_id.clone(),
        created_by: v.created_by.clone(),
        job_id: v.job_id,
        job_name: "job".into(),
        pool: String::new(),
        backend: "local".into(),
        workers: 1,
        cores,
        gpus: 1,
        memory_gb: 2 * cores,
        queued_at: 1_000,
        started_at: Some(start),
        ended_at: end,
        status: JobStatus::COMPLETED.code(),
        outcome: "completed".into(),
    }
}

/// Ends version `v` (8 -> 10) with `usage`; whether it moved.
async fn end(store: &dyn Store, v: i64, usage: UsageRecord) -> bool {
    let set = TransitionSet {
        end_time: Some(usage.ended_at),
        usage: Some(usage),
        ..Default::default()
    };
    store
        .transition(v, &[JobStatus::RUNNING], JobStatus::COMPLETED, &set)
        .await
        .unwrap()
}

fn only(groups: Vec<UsageGroup>) -> UsageGroup {
    assert_eq!(groups.len(), 1, "{groups:?}");
    groups.into_iter().next().unwrap()
}

trainyard_store::engine_suite! {
    async fn an_end_reported_twice_is_accounted_once_and_outlives_its_version(store, db) {
        let (_, v) = store.create_job(&job("p", "a"), Some(&version("alice"))).await.unwrap();
        let v = v.unwrap();
        assert_eq!(v.created_by, "alice");
        assert!(end(store.as_ref(), v.id, record(&v, 1, 4, 2_000, 12_000)).await);
        // The second report does not move the version, and records nothing.
        assert!(!end(store.as_ref(), v.id, record(&v, 1, 4, 2_000, 20_000)).await);
        let g = only(store.usage("p", 0, 100_000, UsageBy::Project).await.unwrap());
        assert_eq!(
            (g.key.as_str(), g.outcome.as_str(), g.runs, g.run_ms, g.core_ms, g.gpu_ms, g.memory_gb_ms, g.wait_ms),
            ("p", "completed", 1, 10_000, 40_000, 10_000, 80_000, 1_000)
        );
        // Another project sees none of it.
        assert!(store.usage("q", 0, 100_000, UsageBy::Project).await.unwrap().is_empty());

        // A record of the same attempt written again (a retried transaction) is kept once.
        let mut v2 = store.create_version("p", v.job_id, &version("bob")).await.unwrap().unwrap();
        v2.job_id = v.job_id;
        let mut dup = record(&v, 1, 4, 2_000, 12_000);
        dup.version_id = v2.id;
        dup.created_by = "bob".into();
        assert!(end(store.as_ref(), v2.id, dup.clone()).await);
        let set = TransitionSet { usage: Some(dup), ..Default::default() };
        assert!(store.transition(v2.id, &[JobStatus::COMPLETED], JobStatus::COMPLETED, &set).await.unwrap());
        let by_user = store.usage("p", 0, 100_000, UsageBy::User).await.unwrap();
        let users: Vec<_> = by_user.iter().map(|g| (g.key.as_str(), g.runs, g.core_ms)).collect();
        assert_eq!(users, [("alice", 1, 40_000), ("bob", 1, 40_000)]);

        // The records stay when the job's versions are deleted and purged, and on a reopen.
        assert_eq!(store.mark_version_deleted(v.id, &[], 0).await.unwrap(), VersionDeletion::Hidden);
        store.purge_version(v.id).await.unwrap();
        let again = db.open().await;
        let by_job = only(again.usage("p", 0, 100_000, UsageBy::Job).await.unwrap());
        assert_eq!((by_job.key, by_job.label, by_job.runs, by_job.core_ms), (v.job_id.to_string(), "job".to_owned(), 2, 80_000));
    }

    async fn each_attempt_keeps_its_own_start_and_queue_time(store, db) {
        let mut first = version("alice");
        first.status = JobStatus::SUBMIT_TRYING;
        let (_, v) = store.create_job(&job("p", "a"), Some(&first)).await.unwrap();
        let v = v.unwrap();
        let running = [JobStatus::RUNNING];
        let started = TransitionSet { start_time: Some(5_000), attempt_start: Some(5_000), ..Default::default() };
        assert!(store.transition(v.id, &[JobStatus::SUBMIT_TRYING], JobStatus::RUNNING, &started).await.unwrap());
        let got = store.version_by_id(v.id).await.unwrap().unwrap();
        assert_eq!((got.attempt_start_time, got.attempt_queue_time), (Some(5_000), None));
        // The first attempt ends and is retried: its start is gone with it.
        let retried = TransitionSet {
            retry: Some((2, 9_000, 1)),
            usage: Some(record(&got, 1, 1, 5_000, 8_000)),
            ..Default::default()
        };
        assert!(store.transition(v.id, &running, JobStatus::RUNNING, &retried).await.unwrap());
        let got = store.version_by_id(v.id).await.unwrap().unwrap();
        assert_eq!((got.attempt, got.attempt_start_time, got.start_time), (2, None, Some(5_000)));
        // The second attempt waited from when it was due, and starts on its own.
        assert!(store.begin_attempt(v.id, 2).await.unwrap());
        let second = TransitionSet { attempt_start: Some(9_500), ..Default::default() };
        assert!(store.transition(v.id, &running, JobStatus::RUNNING, &second).await.unwrap());
        let got = store.version_by_id(v.id).await.unwrap().unwrap();
        assert_eq!((got.attempt_start_time, got.attempt_queue_time, got.start_time), (Some(9_500), Some(9_000), Some(5_000)));
        let mut last = record(&got, 2, 1, 9_500, 10_500);
        last.queued_at = 9_000;
        assert!(end(store.as_ref(), v.id, last).await);
        // Both attempts' records (the helper calls both `completed`), each with its own times.
        let g = only(store.usage("p", 0, 100_000, UsageBy::Job).await.unwrap());
        assert_eq!((g.runs, g.run_ms, g.wait_ms), (2, 4_000, 4_500));
    }

    async fn a_window_counts_only_the_part_of_each_run_inside_it(store, db) {
        let (_, a) = store.create_job(&job("p", "a"), Some(&version("alice"))).await.unwrap();
        let a = a.unwrap();
        let b = store.create_version("p", a.job_id, &version("alice")).await.unwrap().unwrap();
        // a: 2 cores from 10 s to 20 s; b: 3 cores from 15 s to 40 s, failed; both queued at 1 s.
        assert!(end(store.as_ref(), a.id, record(&a, 1, 2, 10_000, 20_000)).await);
        let mut failed = record(&b, 1, 3, 15_000, 40_000);
        failed.outcome = "failed".into();
        assert!(end(store.as_ref(), b.id, failed).await);

        // 18 s .. 30 s: 2 s of a (ended inside), 12 s of b (still running at the window's end).
        let groups = store.usage("p", 18_000, 30_000, UsageBy::Project).await.unwrap();
        let got: Vec<_> = groups
            .iter()
            .map(|g| (g.outcome.as_str(), g.runs, g.run_ms, g.core_ms, g.gpu_ms, g.memory_gb_ms, g.wait_ms))
            .collect();
        assert_eq!(
            got,
            [("completed", 1, 2_000, 4_000, 2_000, 8_000, 0), ("failed", 0, 12_000, 36_000, 12_000, 72_000, 0)]
        );
        // 0 .. 12 s: waits of 1..10 s and 1..12 s, 2 s of a's run, nothing ended.
        let early = store.usage("p", 0, 12_000, UsageBy::Project).await.unwrap();
        let got: Vec<_> = early.iter().map(|g| (g.outcome.as_str(), g.runs, g.core_ms, g.wait_ms)).collect();
        assert_eq!(got, [("completed", 0, 4_000, 9_000), ("failed", 0, 0, 11_000)]);
        // Windows are half-open: b's end at 40 s is inside 40 s .. 50 s (a run, no time), and
        // a window after every end holds nothing.
        let edge = only(store.usage("p", 40_000, 50_000, UsageBy::Project).await.unwrap());
        assert_eq!((edge.outcome.as_str(), edge.runs, edge.run_ms), ("failed", 1, 0));
        assert!(store.usage("p", 40_001, 50_000, UsageBy::Project).await.unwrap().is_empty());
    }

    async fn recent_spans_of_every_project_are_read_back_by_backend_and_end(store, db) {
        let (_, a) = store.create_job(&job("p", "a"), Some(&version("alice"))).await.unwrap();
        let a = a.unwrap();
        let (_, b) = store.create_job(&job("q", "b"), Some(&version("bob"))).await.unwrap();
        let b = b.unwrap();
        let c = store.create_version("q", b.job_id, &version("bob")).await.unwrap().unwrap();
        let d = store.create_version("q", b.job_id, &version("bob")).await.unwrap().unwrap();
        let e = store.create_version("q", b.job_id, &version("bob")).await.unwrap().unwrap();
        assert!(end(store.as_ref(), a.id, record(&a, 1, 2, 10_000, 20_000)).await);
        assert!(end(store.as_ref(), b.id, record(&b, 1, 3, 15_000, 40_000)).await);
        // Ended before the horizon, never ran, or ran on Slurm: not read back.
        assert!(end(store.as_ref(), c.id, record(&c, 1, 1, 1_000, 4_000)).await);
        let mut never = record(&d, 1, 1, 0, 30_000);
        never.started_at = None;
        assert!(end(store.as_ref(), d.id, never).await);
        let mut slurm = record(&e, 1, 1, 10_000, 30_000);
        slurm.backend = "slurm".into();
        assert!(end(store.as_ref(), e.id, slurm).await);

        let mut spans = db.open().await.usage_spans("local", 5_000).await.unwrap();
        spans.sort_by_key(|s| s.started_at);
        let span = |p: &str, cores, start, end| UsageSpan {
            project_id: p.into(), cores, gpus: 1, memory_gb: 2 * cores, started_at: start, ended_at: end,
        };
        assert_eq!(spans, [span("p", 2, 10_000, 20_000), span("q", 3, 15_000, 40_000)]);
        let slurm = store.usage_spans("slurm", 0).await.unwrap();
        assert_eq!(slurm, [span("q", 1, 10_000, 30_000)]);
    }
}
