//! Pools with queues of their own (Slurm partitions): the order of submission, project quotas
//! that count the host and every pool together, and the pool's cap.

use super::utils::res;
use crate::fair::{Limit, Quota, Share};
use crate::pool::{Cap, CapLimit};
use crate::reactor::{on_adopt, on_clock, on_ended, on_enqueue, on_priority, on_stop, schedule};
use crate::wait::{Wait, Why};
use crate::{Comm, Core, Decision, Place, PoolId, Resources, RunId, Ticket};
use std::time::Duration;

fn ticket(project: &str, priority: u8) -> Ticket {
    Ticket {
        project: project.to_owned(),
        priority,
        ..Ticket::default()
    }
}

/// A 4-core host and pool `cluster` with `cap`.
fn setup(cap: Cap) -> (Core<()>, Comm<()>, PoolId) {
    let mut core = Core::new(res(4, 4, 0), vec![]).with_half_life(Some(60_000));
    let pool = core.add_pool("cluster", cap);
    (core, Comm::new(), pool)
}

fn on_pool(
    core: &mut Core<()>,
    comm: &mut Comm<()>,
    pool: PoolId,
    id: RunId,
    project: &str,
    priority: u8,
    demand: Resources,
) {
    on_enqueue(
        core,
        comm,
        id,
        Place::Pool(pool, demand),
        ticket(project, priority),
        (),
    );
}

/// The runs one scheduling pass hands over or starts.
fn started(core: &mut Core<()>, comm: &mut Comm<()>) -> Vec<RunId> {
    schedule(core, comm);
    let ids = comm
        .take()
        .into_iter()
        .filter_map(|d| match d {
            Decision::Start { id, gpus, .. } => Some((id, gpus)),
            _ => None,
        })
        .map(|(id, gpus)| {
            assert!(core.is_running(id));
            if core.held_by(id).is_some_and(|(d, _)| d.gpus == 0) {
                assert!(gpus.is_empty());
            }
            id
        })
        .collect();
    core.check().unwrap();
    ids
}

fn limit_cores(cores: u32) -> Share {
    Share {
        weight: 1,
        quota: Quota {
            cores: Some(cores),
            ..Quota::default()
        },
    }
}

#[test]
fn with_a_cap_of_runs_the_next_goes_by_priority_then_arrival() {
    let (mut core, mut comm, pool) = setup(Cap {
        runs: Some(2),
        cores: None,
    });
    for id in 1..=4 {
        on_pool(&mut core, &mut comm, pool, id, "a", 1, res(1, 1, 0));
    }
    assert_eq!(started(&mut core, &mut comm), [1, 2]);
    // The next waits for the cap, and says so; the others are behind it.
    assert_eq!(
        core.wait(3),
        Some(Wait {
            ahead: 0,
            why: Why::PoolCap {
                pool: "cluster".into(),
                limit: CapLimit::Runs(2)
            }
        })
    );
    assert_eq!(
        core.wait(3).unwrap().to_string(),
        "pool cluster has 2 runs submitted, its limit"
    );
    assert_eq!(core.wait(4).unwrap().to_string(), "1 run ahead");
    // A priority-3 run queued behind them goes next.
    on_pool(&mut core, &mut comm, pool, 5, "a", 3, res(1, 1, 0));
    assert!(started(&mut core, &mut comm).is_empty());
    on_ended(&mut core, &mut comm, 1);
    assert_eq!(started(&mut core, &mut comm), [5]);
    // A priority change moves a waiting run the same way.
    assert!(on_priority(&mut core, &mut comm, 4, 2));
    on_ended(&mut core, &mut comm, 2);
    assert_eq!(started(&mut core, &mut comm), [4]);
    on_ended(&mut core, &mut comm, 5);
    assert_eq!(started(&mut core, &mut comm), [3]);
}

#[test]
fn a_pools_queue_is_its_own_and_the_hosts_capacity_is_not_its() {
    let (mut core, mut comm, pool) = setup(Cap {
        runs: Some(1),
        cores: None,
    });
    // The host is full with run 1; pool runs are handed over regardless, and a host run
    // waits for the host regardless of the pool.
    on_enqueue(&mut core, &mut comm, 1, Place::Here(res(4, 4, 0)), "a", ());
    on_enqueue(&mut core, &mut comm, 2, Place::Here(res(1, 1, 0)), "a", ());
    on_pool(&mut core, &mut comm, pool, 3, "a", 1, res(8, 8, 0));
    on_pool(&mut core, &mut comm, pool, 4, "a", 1, res(1, 1, 0));
    assert_eq!(started(&mut core, &mut comm), [1, 3]);
    assert_eq!(core.free(), res(0, 0, 0));
    assert_eq!(
        core.wait(2).unwrap().to_string(),
        "waiting for 1 core, 1 GB of memory on this host"
    );
    on_ended(&mut core, &mut comm, 1);
    assert_eq!(started(&mut core, &mut comm), [2]);
    on_ended(&mut core, &mut comm, 3);
    assert_eq!(started(&mut core, &mut comm), [4]);
}

#[test]
fn a_cap_of_cores_holds_the_line_and_a_larger_run_goes_alone() {
    let (mut core, mut comm, pool) = setup(Cap {
        runs: None,
        cores: Some(4),
    });
    on_pool(&mut core, &mut comm, pool, 1, "a", 1, res(3, 1, 0));
    on_pool(&mut core, &mut comm, pool, 2, "a", 1, res(2, 1, 0));
    on_pool(&mut core, &mut comm, pool, 3, "a", 1, res(1, 1, 0));
    // Run 2 does not fit beside run 1: run 3, which would, waits behind it.
    assert_eq!(started(&mut core, &mut comm), [1]);
    assert_eq!(
        core.wait(2).unwrap().to_string(),
        "pool cluster has 3 cores submitted, its limit 4"
    );
    on_ended(&mut core, &mut comm, 1);
    assert_eq!(started(&mut core, &mut comm), [2, 3]);
    // A run larger than the cap is handed over once nothing else is submitted.
    on_pool(&mut core, &mut comm, pool, 4, "a", 1, res(9, 1, 0));
    assert!(started(&mut core, &mut comm).is_empty());
    on_ended(&mut core, &mut comm, 2);
    assert!(started(&mut core, &mut comm).is_empty());
    on_ended(&mut core, &mut comm, 3);
    assert_eq!(started(&mut core, &mut comm), [4]);
}

#[test]
fn a_quota_holds_a_pool_run_while_another_projects_run_is_submitted() {
    let (mut core, mut comm, pool) = setup(Cap::default());
    core.set_share("a", limit_cores(1));
    for id in 1..=3 {
        on_pool(&mut core, &mut comm, pool, id, "a", 1, res(1, 1, 0));
    }
    assert_eq!(started(&mut core, &mut comm), [1]);
    // Marked waiting when nothing more goes.
    schedule(&mut core, &mut comm);
    assert_eq!(
        comm.take(),
        [
            Decision::MarkWaiting { id: 2 },
            Decision::MarkWaiting { id: 3 }
        ]
    );
    assert_eq!(
        core.wait(2),
        Some(Wait {
            ahead: 0,
            why: Why::Quota(Limit::Cores)
        })
    );
    assert_eq!(
        core.wait(3).unwrap().to_string(),
        "project at its core quota"
    );
    on_pool(&mut core, &mut comm, pool, 4, "b", 1, res(1, 1, 0));
    assert_eq!(started(&mut core, &mut comm), [4]);
    on_ended(&mut core, &mut comm, 1);
    assert_eq!(started(&mut core, &mut comm), [2]);
    // A stop takes a waiting run out of the pool's queue.
    on_stop(&mut core, &mut comm, 3, Duration::from_secs(1));
    assert_eq!(comm.take(), [Decision::StoppedBeforeStart { id: 3 }]);
    assert!(!core.knows(3));
}

#[test]
fn a_quota_counts_the_host_and_every_pool_together() {
    let (mut core, mut comm, pool) = setup(Cap::default());
    let other = core.add_pool("other", Cap::default());
    core.set_share(
        "a",
        Share {
            weight: 1,
            quota: Quota {
                cores: Some(3),
                running: Some(2),
                ..Quota::default()
            },
        },
    );
    on_enqueue(&mut core, &mut comm, 1, Place::Here(res(2, 1, 0)), "a", ());
    on_pool(&mut core, &mut comm, pool, 2, "a", 1, res(2, 1, 0));
    on_pool(&mut core, &mut comm, other, 3, "a", 1, res(1, 1, 0));
    // 2 cores here; 2 more on the pool would pass 3; 1 on the other pool fits.
    assert_eq!(started(&mut core, &mut comm), [1, 3]);
    assert_eq!(core.wait(2).unwrap().why, Why::Quota(Limit::Cores));
    // Two runs running: a host run waits for the running quota, though the host has room.
    on_enqueue(&mut core, &mut comm, 4, Place::Here(res(0, 0, 0)), "a", ());
    assert!(started(&mut core, &mut comm).is_empty());
    assert_eq!(core.wait(4).unwrap().why, Why::Quota(Limit::Running));
    on_ended(&mut core, &mut comm, 1);
    // Host first, then the pools: run 4 takes the running slot.
    assert_eq!(started(&mut core, &mut comm), [4]);
    on_ended(&mut core, &mut comm, 3);
    assert_eq!(started(&mut core, &mut comm), [2]);
}

#[test]
fn fair_share_orders_the_pools_queue_by_what_projects_held_there() {
    let (mut core, mut comm, pool) = setup(Cap {
        runs: Some(1),
        cores: None,
    });
    on_clock(&mut core, 0);
    // a held the pool for 10 s; then a and b each queue a run, a first.
    on_pool(&mut core, &mut comm, pool, 1, "a", 1, res(1, 1, 0));
    assert_eq!(started(&mut core, &mut comm), [1]);
    on_pool(&mut core, &mut comm, pool, 2, "a", 1, res(1, 1, 0));
    on_pool(&mut core, &mut comm, pool, 3, "b", 1, res(1, 1, 0));
    on_clock(&mut core, 10_000);
    assert_eq!(
        core.wait(2).unwrap().to_string(),
        "project over its fair share"
    );
    on_ended(&mut core, &mut comm, 1);
    assert_eq!(started(&mut core, &mut comm), [3]);
    // The host's usage is not the pool's.
    assert_eq!(core.usage("a"), 0.0);
}

#[test]
fn a_run_found_submitted_after_a_restart_counts_against_the_cap_and_the_quota() {
    let (mut core, mut comm, pool) = setup(Cap {
        runs: Some(1),
        cores: None,
    });
    core.set_share("a", limit_cores(2));
    on_adopt(
        &mut core,
        &mut comm,
        1,
        "a",
        Place::Pool(pool, res(2, 1, 0)),
        vec![],
        (),
    );
    on_pool(&mut core, &mut comm, pool, 2, "b", 1, res(1, 1, 0));
    on_enqueue(&mut core, &mut comm, 3, Place::Here(res(1, 1, 0)), "a", ());
    assert!(started(&mut core, &mut comm).is_empty());
    assert_eq!(core.wait(3).unwrap().why, Why::Quota(Limit::Cores));
    assert_eq!(
        core.wait(2).unwrap().to_string(),
        "pool cluster has 1 run submitted, its limit"
    );
    assert_eq!(core.free(), res(4, 4, 0));
    on_ended(&mut core, &mut comm, 1);
    assert_eq!(started(&mut core, &mut comm), [3, 2]);
}
