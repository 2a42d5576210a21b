//! Preemption: which running runs make room for a waiting run of higher priority, when, and
//! that what they free is held for it.

use super::utils::res;
use crate::fair::Share;
use crate::preempt::Policy;
use crate::reactor::{on_clock, on_ended, on_enqueue, schedule};
use crate::{Comm, Core, Decision, Place, Resources, RunId, Ticket};
use std::time::Duration;

const MIN_RUNTIME_MS: i64 = 1_000;
const GRACE: Duration = Duration::from_secs(2);

/// A host of `cores` cores (1 GB each), no GPUs; preemption on or off.
fn host(cores: u32, preemption: bool) -> (Core<()>, Comm<()>) {
    let policy = Policy {
        min_runtime_ms: MIN_RUNTIME_MS,
        grace: GRACE,
    };
    let core =
        Core::new(res(cores, cores, 0), vec![]).with_preemption(preemption.then_some(policy));
    (core, Comm::new())
}

fn submit(
    core: &mut Core<()>,
    comm: &mut Comm<()>,
    id: RunId,
    cores: u32,
    project: &str,
    priority: u8,
) {
    let ticket = Ticket {
        project: project.to_owned(),
        priority,
        ..Ticket::default()
    };
    on_enqueue(
        core,
        comm,
        id,
        Place::Here(res(cores, cores, 0)),
        ticket,
        (),
    );
}

/// One scheduling pass: the runs started and the runs preempted (with their preemptor).
fn pass(core: &mut Core<()>, comm: &mut Comm<()>) -> (Vec<RunId>, Vec<(RunId, RunId)>) {
    schedule(core, comm);
    let (mut started, mut preempted) = (Vec::new(), Vec::new());
    for d in comm.take() {
        match d {
            Decision::Start { id, .. } => started.push(id),
            Decision::Preempt { id, by, grace, .. } => {
                assert_eq!(grace, GRACE);
                preempted.push((id, by));
            }
            _ => {}
        }
    }
    started.sort_unstable();
    preempted.sort_unstable();
    (started, preempted)
}

/// Two one-core runs of priority 1 fill a 2-core host at time 0.
fn full_host(preemption: bool) -> (Core<()>, Comm<()>) {
    let (mut core, mut comm) = host(2, preemption);
    on_clock(&mut core, 0);
    submit(&mut core, &mut comm, 1, 1, "p", 1);
    submit(&mut core, &mut comm, 2, 1, "p", 1);
    assert_eq!(pass(&mut core, &mut comm).0, [1, 2]);
    (core, comm)
}

#[test]
fn a_higher_priority_run_preempts_one_run_and_starts_in_what_it_frees() {
    let (mut core, mut comm) = full_host(true);
    on_clock(&mut core, MIN_RUNTIME_MS);
    submit(&mut core, &mut comm, 3, 1, "p", 3);
    let (started, preempted) = pass(&mut core, &mut comm);
    assert!(started.is_empty());
    // As few as free enough: one of the two; the later started (ties: the lower id).
    assert_eq!(preempted, [(1, 3)]);
    assert_eq!(core.preempted_for(1), Some(3));
    assert_eq!(core.reserved_for(3), Some(res(1, 1, 0)));
    // Nothing more is preempted while the victim is being stopped.
    assert_eq!(pass(&mut core, &mut comm), (vec![], vec![]));
    on_ended(&mut core, &mut comm, 1);
    assert_eq!(pass(&mut core, &mut comm).0, [3]);
    assert_eq!(core.reserved_for(3), None);
    core.check().unwrap();
}

#[test]
fn nothing_is_preempted_with_preemption_off() {
    let (mut core, mut comm) = full_host(false);
    on_clock(&mut core, 100 * MIN_RUNTIME_MS);
    submit(&mut core, &mut comm, 3, 1, "p", 3);
    assert_eq!(pass(&mut core, &mut comm), (vec![], vec![]));
    assert_eq!(core.reserved_for(3), None);
}

#[test]
fn runs_younger_than_the_minimum_runtime_are_not_preempted() {
    let (mut core, mut comm) = full_host(true);
    on_clock(&mut core, MIN_RUNTIME_MS - 1);
    submit(&mut core, &mut comm, 3, 1, "p", 3);
    assert_eq!(pass(&mut core, &mut comm), (vec![], vec![]));
    on_clock(&mut core, MIN_RUNTIME_MS);
    assert_eq!(pass(&mut core, &mut comm).1, [(1, 3)]);
}

#[test]
fn runs_of_equal_or_higher_priority_are_never_preempted() {
    let (mut core, mut comm) = host(2, true);
    submit(&mut core, &mut comm, 1, 1, "p", 2);
    submit(&mut core, &mut comm, 2, 1, "p", 3);
    assert_eq!(pass(&mut core, &mut comm).0, [1, 2]);
    on_clock(&mut core, 10 * MIN_RUNTIME_MS);
    submit(&mut core, &mut comm, 3, 1, "p", 2);
    assert_eq!(pass(&mut core, &mut comm), (vec![], vec![]));
    // Priority 3 may preempt the priority-2 run, never the other priority-3 one.
    submit(&mut core, &mut comm, 4, 2, "p", 3);
    assert_eq!(pass(&mut core, &mut comm), (vec![], vec![]));
    submit(&mut core, &mut comm, 5, 1, "q", 3);
    let (_, preempted) = pass(&mut core, &mut comm);
    assert!(
        preempted.iter().all(|(victim, _)| *victim == 1),
        "{preempted:?}"
    );
}

#[test]
fn a_preempted_run_started_again_keeps_its_minimum_runtime() {
    let (mut core, mut comm) = full_host(true);
    on_clock(&mut core, MIN_RUNTIME_MS);
    submit(&mut core, &mut comm, 3, 1, "p", 3);
    assert_eq!(pass(&mut core, &mut comm).1, [(1, 3)]);
    on_ended(&mut core, &mut comm, 1);
    assert_eq!(pass(&mut core, &mut comm).0, [3]);
    // Its next attempt waits; once run 2 ends it starts, and is safe for MIN_RUNTIME_MS.
    submit(&mut core, &mut comm, 1, 1, "p", 1);
    on_ended(&mut core, &mut comm, 2);
    assert_eq!(pass(&mut core, &mut comm).0, [1]);
    on_clock(&mut core, 2 * MIN_RUNTIME_MS - 1);
    submit(&mut core, &mut comm, 4, 1, "p", 3);
    assert_eq!(pass(&mut core, &mut comm), (vec![], vec![]));
    on_clock(&mut core, 2 * MIN_RUNTIME_MS);
    assert_eq!(pass(&mut core, &mut comm).1, [(1, 4)]);
}

#[test]
fn projects_over_their_share_are_preempted_first() {
    // Project a holds 3 of 4 cores with weight 1 against b's 1 (entitled to half).
    let (mut core, mut comm) = host(4, true);
    core.set_share("b", Share::default());
    submit(&mut core, &mut comm, 1, 1, "b", 1);
    submit(&mut core, &mut comm, 2, 1, "a", 1);
    submit(&mut core, &mut comm, 3, 1, "a", 1);
    submit(&mut core, &mut comm, 4, 1, "a", 1);
    assert_eq!(pass(&mut core, &mut comm).0, [1, 2, 3, 4]);
    on_clock(&mut core, MIN_RUNTIME_MS);
    submit(&mut core, &mut comm, 5, 1, "b", 3);
    let (_, preempted) = pass(&mut core, &mut comm);
    assert_eq!(preempted.len(), 1);
    assert_ne!(
        preempted[0].0, 1,
        "b's own run within its share was preempted"
    );
}

#[test]
fn the_smallest_run_that_frees_enough_is_chosen_else_as_few_as_needed() {
    let (mut core, mut comm) = host(8, true);
    submit(&mut core, &mut comm, 1, 4, "p", 1);
    submit(&mut core, &mut comm, 2, 1, "p", 1);
    submit(&mut core, &mut comm, 3, 3, "p", 1);
    assert_eq!(pass(&mut core, &mut comm).0, [1, 2, 3]);
    on_clock(&mut core, MIN_RUNTIME_MS);
    // 1 core missing: the 1-core run alone frees it.
    submit(&mut core, &mut comm, 4, 1, "p", 3);
    assert_eq!(pass(&mut core, &mut comm).1, [(2, 4)]);
    on_ended(&mut core, &mut comm, 2);
    assert_eq!(pass(&mut core, &mut comm).0, [4]);
    // 7 cores missing: the 4-core and the 3-core run (not the new priority-3 one).
    submit(&mut core, &mut comm, 5, 7, "p", 3);
    assert_eq!(pass(&mut core, &mut comm).1, [(1, 5), (3, 5)]);
}

#[test]
fn nothing_is_preempted_when_the_candidates_cannot_free_enough() {
    let (mut core, mut comm) = host(4, true);
    submit(&mut core, &mut comm, 1, 2, "p", 1);
    submit(&mut core, &mut comm, 2, 2, "p", 3);
    assert_eq!(pass(&mut core, &mut comm).0, [1, 2]);
    on_clock(&mut core, MIN_RUNTIME_MS);
    submit(&mut core, &mut comm, 3, 3, "p", 3);
    assert_eq!(pass(&mut core, &mut comm), (vec![], vec![]));
    // Larger than the host: never.
    submit(&mut core, &mut comm, 4, 5, "q", 3);
    assert_eq!(pass(&mut core, &mut comm), (vec![], vec![]));
}

#[test]
fn what_a_preemption_frees_is_held_for_its_preemptor() {
    let (mut core, mut comm) = host(2, true);
    submit(&mut core, &mut comm, 1, 2, "p", 1);
    assert_eq!(pass(&mut core, &mut comm).0, [1]);
    on_clock(&mut core, MIN_RUNTIME_MS);
    submit(&mut core, &mut comm, 2, 2, "p", 3);
    assert_eq!(pass(&mut core, &mut comm).1, [(1, 2)]);
    // A small run of another project arrives while run 1 stops: it may not take the room.
    submit(&mut core, &mut comm, 3, 1, "q", 3);
    on_ended(&mut core, &mut comm, 1);
    let (started, _) = pass(&mut core, &mut comm);
    assert_eq!(started, [2]);
    assert_eq!(core.used(), res(2, 2, 0));
    assert!(core.is_queued(3));
    core.check().unwrap();
    let _: Resources = core.free();
}

#[test]
fn only_runs_that_may_be_preempted_are_candidates() {
    let (mut core, mut comm) = host(2, true);
    on_clock(&mut core, 0);
    // Run 1 may be preempted (its pool allows it), run 2, started after it, may not.
    for (id, preemptible) in [(1, true), (2, false)] {
        let ticket = Ticket {
            project: "p".to_owned(),
            preemptible,
            ..Ticket::default()
        };
        on_enqueue(
            &mut core,
            &mut comm,
            id,
            Place::Here(res(1, 1, 0)),
            ticket,
            (),
        );
        assert_eq!(pass(&mut core, &mut comm).0, [id]);
    }
    on_clock(&mut core, MIN_RUNTIME_MS);
    // Both were candidates, the one started last (2) would go; it may not, so 1 goes.
    submit(&mut core, &mut comm, 3, 1, "q", 3);
    assert_eq!(pass(&mut core, &mut comm).1, [(1, 3)]);
    on_ended(&mut core, &mut comm, 1);
    assert_eq!(pass(&mut core, &mut comm).0, [3]);
    // A run needing the whole host cannot get it: run 2 stays, nothing is preempted.
    on_clock(&mut core, 3 * MIN_RUNTIME_MS);
    submit(&mut core, &mut comm, 4, 2, "q", 3);
    assert_eq!(pass(&mut core, &mut comm), (vec![], vec![]));
    core.check().unwrap();
}
