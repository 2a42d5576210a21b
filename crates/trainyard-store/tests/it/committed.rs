//! `Store::committed`, the mark of the committed state that kept answers are served under, on
//! both engines: equal across reads, different after every write acknowledged before it was
//! taken, by this store or (PostgreSQL) another server on the same database, with callers in
//! flight beside it.

use crate::fixtures::{job, version};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use trainyard_store::{Committed, Engine, JobFilter, JobSort, Store};

/// The first page of the job list, by name.
fn first_page() -> JobFilter {
    JobFilter {
        statuses: vec![],
        search: None,
        workspace_id: None,
        sort: JobSort::Name,
        descending: false,
        offset: 0,
        limit: 10,
        now: 0,
    }
}

/// The mark once the store can tell it (an SQLite commit is over at the latest when its
/// connection is back in the pool, which sqlx does in a task).
async fn settled(store: &dyn Store) -> Committed {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(m) = store.committed().await {
            return m;
        }
        assert!(Instant::now() < deadline, "the store never told its mark");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

trainyard_store::engine_suite! {
    async fn the_mark_stays_over_reads_and_moves_with_each_write(store, db) {
        let (j, _) = store.create_job(&job("marked"), Some(&version())).await.unwrap();
        let reads = || async {
            store.get_job("p", j.id).await.unwrap().unwrap();
            store.list_jobs("p", &first_page()).await.unwrap();
        };
        unchanged_over(&*store, reads).await;
        for step in 0..3 {
            let seen = settled(&*store).await;
            assert!(store.update_job_description("p", j.id, &format!("d{step}")).await.unwrap());
            assert_ne!(settled(&*store).await, seen, "a write at step {step}");
        }
        let seen = settled(&*store).await;
        store.create_version("p", j.id, &version()).await.unwrap().unwrap();
        assert_ne!(settled(&*store).await, seen, "a transaction of several statements");
    }

    /// PostgreSQL: a write acknowledged to another server (a second store on the same
    /// database) before the call always moves the mark, while other callers keep checks
    /// running (a caller never takes the snapshot of a check that started before it).
    async fn another_servers_write_moves_the_mark_with_callers_in_flight(store, db) {
        if db.engine() != Engine::Postgres {
            return; // an SQLite file belongs to one server
        }
        let other = db.open().await;
        let (j, _) = other.create_job(&job("theirs"), Some(&version())).await.unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let callers: Vec<_> = (0..8)
            .map(|_| {
                let (store, stop) = (store.clone(), stop.clone());
                tokio::spawn(async move {
                    let mut calls = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        assert!(store.committed().await.is_some());
                        calls += 1;
                    }
                    calls
                })
            })
            .collect();
        for step in 0..50 {
            let seen = settled(&*store).await;
            assert!(other.update_job_description("p", j.id, &format!("d{step}")).await.unwrap());
            assert_ne!(settled(&*store).await, seen, "their write at step {step}");
        }
        stop.store(true, Ordering::Relaxed);
        for c in callers {
            assert!(c.await.unwrap() > 0);
        }
        // Nothing written: callers asking together get the mark before and after them.
        for _ in 0..50 {
            let before = settled(&*store).await;
            let marks = marks_at_once(&store, 16).await;
            if settled(&*store).await == before {
                assert!(marks.iter().all(|m| m.as_ref() == Some(&before)), "{marks:?}");
                return;
            }
        }
        panic!("the mark moved in each of 50 tries");
    }
}

/// Asserts that `reads` leave the mark as it was. On PostgreSQL the mark covers the whole
/// cluster, which other tests write to beside this one: some of a few tries must see it
/// unchanged.
async fn unchanged_over<F: std::future::Future<Output = ()>>(
    store: &dyn Store,
    reads: impl Fn() -> F,
) {
    for _ in 0..50 {
        let before = settled(store).await;
        reads().await;
        if settled(store).await == before {
            return;
        }
    }
    panic!("the mark moved over reads in each of 50 tries");
}

/// `n` marks asked for at once.
async fn marks_at_once(store: &Arc<dyn Store>, n: usize) -> Vec<Option<Committed>> {
    let calls: Vec<_> = (0..n)
        .map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.committed().await })
        })
        .collect();
    let mut marks = Vec::new();
    for c in calls {
        marks.push(c.await.unwrap());
    }
    marks
}
