//! The handlers one by one, with a comm that records their decisions.

use super::utils::{core, res, schedule};
use crate::pool::Cap;
use crate::reactor::{
    on_acquire, on_adopt, on_ended, on_enqueue, on_release, on_start_refused, on_stop, on_sweep,
};
use crate::{Decision, Place};
use std::time::Duration;

fn start(id: i64, gpus: &[u32], route: u32) -> Decision<u32> {
    Decision::Start {
        id,
        gpus: gpus.to_vec(),
        route,
    }
}

#[test]
fn the_queue_is_first_come_first_served_and_the_first_blocks() {
    let (mut core, mut comm) = core();
    on_enqueue(
        &mut core,
        &mut comm,
        1,
        Place::Here(res(6, 1, 0)),
        false,
        10,
    );
    on_enqueue(
        &mut core,
        &mut comm,
        2,
        Place::Here(res(4, 1, 0)),
        false,
        20,
    );
    on_enqueue(
        &mut core,
        &mut comm,
        3,
        Place::Here(res(1, 1, 0)),
        false,
        30,
    );
    assert!(comm.is_empty());
    // 1 starts; 2 does not fit, and 3, which would, waits behind it.
    assert_eq!(schedule(&mut core, &mut comm), [start(1, &[], 10)]);
    assert_eq!(
        schedule(&mut core, &mut comm),
        [
            Decision::MarkWaiting { id: 2 },
            Decision::MarkWaiting { id: 3 }
        ]
    );
    // Marked once.
    assert_eq!(schedule(&mut core, &mut comm), []);
    assert_eq!(core.free(), res(2, 15, 4));
    on_ended(&mut core, &mut comm, 1);
    assert_eq!(
        schedule(&mut core, &mut comm),
        [start(2, &[], 20), start(3, &[], 30)]
    );
    assert_eq!(core.free(), res(3, 14, 4));
    assert_eq!(schedule(&mut core, &mut comm), []);
    core.check().unwrap();
}

#[test]
fn a_version_waiting_already_is_not_marked_again() {
    let (mut core, mut comm) = core();
    on_enqueue(&mut core, &mut comm, 1, Place::Here(res(9, 0, 0)), true, 0);
    on_enqueue(&mut core, &mut comm, 2, Place::Here(res(1, 0, 0)), false, 0);
    assert_eq!(
        schedule(&mut core, &mut comm),
        [Decision::MarkWaiting { id: 2 }]
    );
}

#[test]
fn a_known_run_is_not_queued_twice() {
    let (mut core, mut comm) = core();
    on_enqueue(&mut core, &mut comm, 1, Place::Here(res(9, 0, 0)), false, 0);
    on_enqueue(&mut core, &mut comm, 1, Place::Here(res(1, 0, 0)), false, 0);
    assert_eq!(core.queued().collect::<Vec<_>>(), [1]);
    let pool = core.add_pool("cluster", Cap::default());
    on_enqueue(
        &mut core,
        &mut comm,
        2,
        Place::Pool(pool, res(1, 0, 0)),
        false,
        0,
    );
    schedule(&mut core, &mut comm);
    on_enqueue(
        &mut core,
        &mut comm,
        2,
        Place::Pool(pool, res(1, 0, 0)),
        false,
        0,
    );
    let again = schedule(&mut core, &mut comm);
    assert!(
        !again.iter().any(|d| matches!(d, Decision::Start { .. })),
        "{again:?}"
    );
    assert_eq!(core.queued().collect::<Vec<_>>(), [1]);
}

#[test]
fn gpus_go_from_the_front_and_come_back_at_the_end() {
    let (mut core, mut comm) = core();
    on_enqueue(&mut core, &mut comm, 1, Place::Here(res(1, 1, 2)), false, 0);
    on_enqueue(&mut core, &mut comm, 2, Place::Here(res(1, 1, 1)), false, 0);
    on_enqueue(&mut core, &mut comm, 3, Place::Here(res(1, 1, 2)), false, 0);
    assert_eq!(
        schedule(&mut core, &mut comm),
        [start(1, &[0, 1], 0), start(2, &[2], 0)]
    );
    schedule(&mut core, &mut comm);
    assert_eq!(core.free_gpus(), [3]);
    on_ended(&mut core, &mut comm, 1);
    assert_eq!(core.free_gpus(), [3, 0, 1]);
    assert_eq!(schedule(&mut core, &mut comm), [start(3, &[3, 0], 0)]);
    assert_eq!(core.held_by(3), Some((res(1, 1, 2), &[3, 0][..])));
    core.check().unwrap();
}

#[test]
fn gpus_count_beside_the_gpu_total() {
    // The total says 4 GPUs, but only one index is free: a run asking for 2 waits.
    let (mut core, mut comm) = core();
    on_adopt(
        &mut core,
        &mut comm,
        9,
        "",
        Place::Here(res(0, 0, 0)),
        vec![0, 1, 2],
        0,
    );
    on_enqueue(&mut core, &mut comm, 1, Place::Here(res(1, 1, 2)), false, 0);
    assert_eq!(
        schedule(&mut core, &mut comm),
        [Decision::MarkWaiting { id: 1 }]
    );
}

#[test]
fn a_refused_start_gives_everything_back_as_if_never_taken() {
    let (mut core, mut comm) = core();
    on_enqueue(&mut core, &mut comm, 1, Place::Here(res(8, 1, 1)), false, 0);
    on_enqueue(&mut core, &mut comm, 2, Place::Here(res(8, 1, 1)), false, 0);
    assert_eq!(schedule(&mut core, &mut comm), [start(1, &[0], 0)]);
    on_start_refused(&mut core, &mut comm, 1);
    assert!(!core.knows(1));
    assert_eq!(core.free_gpus(), [0, 1, 2, 3]);
    // The next one starts in the same round, never marked waiting.
    assert_eq!(schedule(&mut core, &mut comm), [start(2, &[0], 0)]);
    assert_eq!(schedule(&mut core, &mut comm), []);
    core.check().unwrap();
}

#[test]
fn a_pool_without_a_cap_gets_its_runs_at_once_holding_nothing_here() {
    let (mut core, mut comm) = core();
    on_enqueue(
        &mut core,
        &mut comm,
        1,
        Place::Here(res(8, 16, 4)),
        false,
        0,
    );
    assert_eq!(schedule(&mut core, &mut comm), [start(1, &[0, 1, 2, 3], 0)]);
    let pool = core.add_pool("cluster", Cap::default());
    on_enqueue(
        &mut core,
        &mut comm,
        2,
        Place::Pool(pool, res(4, 8, 2)),
        false,
        7,
    );
    assert_eq!(schedule(&mut core, &mut comm), [start(2, &[], 7)]);
    assert_eq!(core.held_by(2), Some((res(4, 8, 2), &[][..])));
    assert_eq!(core.used(), res(8, 16, 4));
    core.check().unwrap();
    on_stop(&mut core, &mut comm, 2, Duration::from_secs(1));
    assert_eq!(
        comm.take(),
        [Decision::StopRun {
            id: 2,
            route: 7,
            grace: Duration::from_secs(1)
        }]
    );
}

#[test]
fn stops_leave_the_queue_reach_the_backend_or_were_never_started() {
    let (mut core, mut comm) = core();
    on_enqueue(
        &mut core,
        &mut comm,
        1,
        Place::Here(res(8, 1, 0)),
        false,
        10,
    );
    on_enqueue(
        &mut core,
        &mut comm,
        2,
        Place::Here(res(8, 1, 0)),
        false,
        20,
    );
    schedule(&mut core, &mut comm);
    schedule(&mut core, &mut comm);
    let grace = Duration::from_secs(3);
    on_stop(&mut core, &mut comm, 2, grace);
    assert_eq!(comm.take(), [Decision::StoppedBeforeStart { id: 2 }]);
    assert!(!core.knows(2));
    on_stop(&mut core, &mut comm, 1, grace);
    assert_eq!(
        comm.take(),
        [Decision::StopRun {
            id: 1,
            route: 10,
            grace
        }]
    );
    // Still held until its end is reported.
    assert!(core.is_running(1));
    on_stop(&mut core, &mut comm, 3, grace);
    assert_eq!(comm.take(), [Decision::StoppedBeforeStart { id: 3 }]);
    on_ended(&mut core, &mut comm, 1);
    assert_eq!(core.free(), core.total());
    core.check().unwrap();
}

#[test]
fn a_sweep_stops_what_nothing_here_runs() {
    let (mut core, mut comm) = core();
    on_enqueue(&mut core, &mut comm, 1, Place::Here(res(1, 1, 0)), false, 0);
    on_enqueue(&mut core, &mut comm, 2, Place::Here(res(9, 1, 0)), false, 0);
    schedule(&mut core, &mut comm);
    on_sweep(&mut core, &mut comm, &[1, 2, 3]);
    assert_eq!(comm.take(), [Decision::StoppedBeforeStart { id: 3 }]);
}

#[test]
fn leases_come_before_the_queue_in_their_own_order() {
    let (mut core, mut comm) = core();
    on_enqueue(&mut core, &mut comm, 1, Place::Here(res(2, 1, 0)), false, 0);
    on_acquire(&mut core, &mut comm, 100, res(7, 1, 0), false);
    on_acquire(&mut core, &mut comm, 101, res(1, 1, 0), false);
    assert!(comm.is_empty());
    // The lease takes 7 cores; the second lease (1 core) fits, and the run (2) does not.
    assert_eq!(
        schedule(&mut core, &mut comm),
        [
            Decision::Grant { lease: 100 },
            Decision::Grant { lease: 101 },
            Decision::MarkWaiting { id: 1 }
        ]
    );
    assert_eq!(schedule(&mut core, &mut comm), []);
    on_acquire(&mut core, &mut comm, 102, res(2, 1, 0), false);
    on_release(&mut core, &mut comm, 100);
    // The waiting lease goes first, the run after it.
    assert_eq!(
        schedule(&mut core, &mut comm),
        [Decision::Grant { lease: 102 }, start(1, &[], 0)]
    );
    core.check().unwrap();
}

#[test]
fn a_waiting_lease_blocks_the_leases_behind_it_and_can_be_withdrawn() {
    let (mut core, mut comm) = core();
    on_acquire(&mut core, &mut comm, 1, res(9, 1, 0), false);
    on_acquire(&mut core, &mut comm, 2, res(1, 1, 0), false);
    assert_eq!(schedule(&mut core, &mut comm), []);
    assert!(core.lease_waits(1) && core.lease_waits(2));
    on_release(&mut core, &mut comm, 1);
    assert_eq!(
        schedule(&mut core, &mut comm),
        [Decision::Grant { lease: 2 }]
    );
    assert_eq!(core.lease(2), Some(res(1, 1, 0)));
    core.check().unwrap();
}

#[test]
fn forced_leases_and_adopted_runs_may_exceed_the_total() {
    let (mut core, mut comm) = core();
    on_acquire(&mut core, &mut comm, 1, res(6, 1, 0), true);
    assert_eq!(comm.take(), [Decision::Grant { lease: 1 }]);
    on_adopt(
        &mut core,
        &mut comm,
        5,
        "",
        Place::Here(res(6, 1, 1)),
        vec![2],
        50,
    );
    assert_eq!(core.used(), res(12, 2, 1));
    assert_eq!(core.free(), res(0, 14, 3));
    assert_eq!(core.free_gpus(), [0, 1, 3]);
    // Only what needs no cores fits now.
    on_enqueue(&mut core, &mut comm, 6, Place::Here(res(1, 1, 0)), false, 0);
    on_acquire(&mut core, &mut comm, 2, res(0, 1, 1), false);
    assert_eq!(
        schedule(&mut core, &mut comm),
        [
            Decision::Grant { lease: 2 },
            Decision::MarkWaiting { id: 6 }
        ]
    );
    on_ended(&mut core, &mut comm, 5);
    on_release(&mut core, &mut comm, 1);
    assert_eq!(schedule(&mut core, &mut comm), [start(6, &[], 0)]);
    assert_eq!(core.free_gpus(), [0, 1, 3, 2]);
    core.check().unwrap();
}

#[test]
fn a_run_found_twice_is_held_once() {
    let (mut core, mut comm) = core();
    on_adopt(
        &mut core,
        &mut comm,
        5,
        "",
        Place::Here(res(2, 1, 1)),
        vec![1],
        0,
    );
    on_adopt(
        &mut core,
        &mut comm,
        5,
        "",
        Place::Here(res(2, 1, 1)),
        vec![1],
        0,
    );
    assert_eq!(core.used(), res(2, 1, 1));
    core.check().unwrap();
    on_ended(&mut core, &mut comm, 5);
    on_ended(&mut core, &mut comm, 5);
    assert_eq!(core.used(), res(0, 0, 0));
    core.check().unwrap();
}

#[test]
fn releases_and_ends_of_unknown_ids_change_nothing() {
    let (mut core, mut comm) = core();
    on_release(&mut core, &mut comm, 1);
    on_ended(&mut core, &mut comm, 1);
    on_start_refused(&mut core, &mut comm, 1);
    assert!(comm.is_empty());
    assert_eq!(core.free(), core.total());
    assert_eq!(core.free_gpus(), [0, 1, 2, 3]);
}
