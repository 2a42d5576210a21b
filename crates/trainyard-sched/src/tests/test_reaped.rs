//! A run whose workers are gone (reaped) before its end is recorded: its capacity on this host
//! is free for the next run at once, while it still counts against its group's limit, its
//! project's quota and as running until its end ([`on_ended`]).

use super::utils::{core, res, schedule};
use crate::dep::Group;
use crate::fair::{Quota, Share};
use crate::pool::Cap;
use crate::reactor::{on_ended, on_enqueue, on_reaped};
use crate::wait::Why;
use crate::{Comm, Core, Decision, Place, Ticket};

fn started(decisions: &[Decision<u32>]) -> Vec<(i64, Vec<u32>)> {
    decisions
        .iter()
        .filter_map(|d| match d {
            Decision::Start { id, gpus, .. } => Some((*id, gpus.clone())),
            _ => None,
        })
        .collect()
}

/// Runs 1 and 2, each asking `place` with `ticket`, queued in that order.
fn two_runs(
    core: &mut Core<u32>,
    comm: &mut Comm<u32>,
    place: Place,
    ticket: impl Into<Ticket> + Clone,
) {
    for id in 1..=2 {
        on_enqueue(core, comm, id, place, ticket.clone(), id as u32);
    }
}

fn in_group(limit: u32) -> Ticket {
    Ticket {
        group: Some(Group { id: 7, limit }),
        ..Ticket::default()
    }
}

#[test]
fn a_reaped_run_frees_the_host_and_its_gpus_for_the_next_run_once() {
    let (mut core, mut comm) = core();
    // Each takes the whole host: 8 cores, 16 GB and all 4 GPUs.
    two_runs(&mut core, &mut comm, Place::Here(res(8, 16, 4)), false);
    assert_eq!(
        started(&schedule(&mut core, &mut comm)),
        [(1, vec![0, 1, 2, 3])]
    );
    assert_eq!(core.free(), res(0, 0, 0));
    on_reaped(&mut core, &mut comm, 1);
    assert_eq!(core.free(), res(8, 16, 4));
    assert!(core.is_running(1), "it runs until its end is recorded");
    assert!(!core.holds_host(1));
    assert_eq!(
        started(&schedule(&mut core, &mut comm)),
        [(2, vec![0, 1, 2, 3])]
    );
    core.check().unwrap();
    // Its end gives back nothing more: nothing is freed twice.
    on_ended(&mut core, &mut comm, 1);
    assert!(!core.is_running(1));
    assert_eq!(core.free(), res(0, 0, 0));
    assert_eq!(core.free_gpus(), &[] as &[u32]);
    core.check().unwrap();
    on_ended(&mut core, &mut comm, 2);
    assert_eq!(core.free(), res(8, 16, 4));
    core.check().unwrap();
}

#[test]
fn a_reaped_run_counts_against_its_group_until_its_end() {
    let (mut core, mut comm) = core();
    two_runs(&mut core, &mut comm, Place::Here(res(1, 1, 0)), in_group(1));
    assert_eq!(started(&schedule(&mut core, &mut comm)), [(1, vec![])]);
    on_reaped(&mut core, &mut comm, 1);
    // The host has room, but the sweep still shows 1 running: 2 waits for its end.
    assert_eq!(started(&schedule(&mut core, &mut comm)), []);
    // The reaped run holds the group's one place (its second run is held back).
    assert_eq!(core.group_active(7), 1);
    assert_eq!(
        core.wait(2).unwrap().why,
        Why::Group(Group { id: 7, limit: 1 })
    );
    on_ended(&mut core, &mut comm, 1);
    assert_eq!(started(&schedule(&mut core, &mut comm)), [(2, vec![])]);
    core.check().unwrap();
}

#[test]
fn a_reaped_run_counts_against_its_projects_quota_and_share_until_its_end() {
    let (mut core, mut comm) = core();
    let quota = Quota {
        running: Some(1),
        ..Quota::default()
    };
    core.set_share("a", Share { weight: 1, quota });
    let of_a = || Ticket {
        project: "a".to_owned(),
        ..Ticket::default()
    };
    two_runs(&mut core, &mut comm, Place::Here(res(1, 1, 0)), of_a());
    assert_eq!(started(&schedule(&mut core, &mut comm)), [(1, vec![])]);
    on_reaped(&mut core, &mut comm, 1);
    assert_eq!(started(&schedule(&mut core, &mut comm)), []);
    assert_eq!(core.held_in("a"), (res(1, 1, 0), 1));
    assert!(matches!(core.wait(2).unwrap().why, Why::Quota(_)));
    on_ended(&mut core, &mut comm, 1);
    assert_eq!(started(&schedule(&mut core, &mut comm)), [(2, vec![])]);
    assert_eq!(core.held_in("a"), (res(1, 1, 0), 1));
    core.check().unwrap();
}

#[test]
fn reaping_a_run_twice_a_run_not_running_or_a_pools_run_frees_nothing() {
    let (mut core, mut comm): (Core<u32>, Comm<u32>) = core();
    let pool = core.add_pool(
        "p",
        Cap {
            runs: Some(1),
            cores: None,
        },
    );
    on_enqueue(&mut core, &mut comm, 1, Place::Here(res(4, 4, 1)), false, 1);
    on_enqueue(
        &mut core,
        &mut comm,
        2,
        Place::Pool(pool, res(4, 4, 0)),
        false,
        2,
    );
    on_enqueue(
        &mut core,
        &mut comm,
        3,
        Place::Pool(pool, res(4, 4, 0)),
        false,
        3,
    );
    assert_eq!(
        started(&schedule(&mut core, &mut comm)),
        [(1, vec![0]), (2, vec![])]
    );
    on_reaped(&mut core, &mut comm, 1);
    on_reaped(&mut core, &mut comm, 1);
    assert_eq!(core.free(), res(8, 16, 4));
    assert_eq!(core.free_gpus().len(), 4);
    // A pool's run holds its pool's cap until its end: its backend frees its own capacity.
    on_reaped(&mut core, &mut comm, 2);
    assert!(core.is_running(2));
    assert_eq!(started(&schedule(&mut core, &mut comm)), []);
    // Not running: nothing.
    on_reaped(&mut core, &mut comm, 9);
    core.check().unwrap();
    on_ended(&mut core, &mut comm, 2);
    assert_eq!(started(&schedule(&mut core, &mut comm)), [(3, vec![])]);
    on_ended(&mut core, &mut comm, 1);
    assert_eq!(core.free(), res(8, 16, 4));
    core.check().unwrap();
}
