//! Workflows in the core: dependencies keep a run out of the pick until its parents ended
//! (and end it when one never lets it start); a group's limit bounds how many of its runs
//! are queued or run at once.

use super::utils::{core, res, schedule};
use crate::dep::{cycle, Dep, Group, Kind, NeverMet, Outcome};
use crate::reactor::{on_ended, on_enqueue, on_parent_end, on_stop};
use crate::wait::Why;
use crate::{Decision, Place, Ticket};
use std::collections::HashMap;
use std::time::Duration;

fn small() -> Place {
    Place::Here(res(1, 1, 0))
}

fn after(parents: &[(i64, Kind)]) -> Ticket {
    Ticket {
        after: parents
            .iter()
            .map(|&(run, kind)| Dep {
                job: run * 100,
                run,
                kind,
            })
            .collect(),
        ..Ticket::default()
    }
}

fn in_group(id: i64, limit: u32) -> Ticket {
    Ticket {
        group: Some(Group { id, limit }),
        ..Ticket::default()
    }
}

fn started(decisions: &[Decision<u32>]) -> Vec<i64> {
    decisions
        .iter()
        .filter_map(|d| match d {
            Decision::Start { id, .. } => Some(*id),
            _ => None,
        })
        .collect()
}

#[test]
fn a_dependent_waits_for_its_parent_and_says_which() {
    let (mut core, mut comm) = core();
    on_enqueue(&mut core, &mut comm, 1, small(), false, 1);
    on_enqueue(
        &mut core,
        &mut comm,
        2,
        small(),
        after(&[(1, Kind::AfterOk)]),
        2,
    );
    assert_eq!(started(&schedule(&mut core, &mut comm)), [1]);
    // Capacity is free, yet 2 waits: it is marked waiting, with its parent as the reason.
    assert_eq!(
        schedule(&mut core, &mut comm),
        [Decision::MarkWaiting { id: 2 }]
    );
    let wait = core.wait(2).expect("2 waits");
    assert_eq!(
        wait.why,
        Why::Parent(Dep {
            job: 100,
            run: 1,
            kind: Kind::AfterOk
        })
    );
    assert_eq!(wait.to_string(), "waiting for job 100 version 1 (after_ok)");
    assert_eq!(wait.why.code(), "dependency");
    assert!(core.is_queued(2) && core.is_blocked(2));
    assert_eq!(core.awaited_parents(), [1]);
    on_ended(&mut core, &mut comm, 1);
    on_parent_end(&mut core, &mut comm, 1, Outcome::Completed);
    assert_eq!(started(&schedule(&mut core, &mut comm)), [2]);
    assert!(!core.is_blocked(2));
    core.check().unwrap();
}

#[test]
fn every_kind_against_every_outcome() {
    // (kind, outcome, starts)
    let table = [
        (Kind::AfterOk, Outcome::Completed, true),
        (Kind::AfterOk, Outcome::Failed, false),
        (Kind::AfterOk, Outcome::Stopped, false),
        (Kind::AfterAny, Outcome::Completed, true),
        (Kind::AfterAny, Outcome::Failed, true),
        (Kind::AfterAny, Outcome::Stopped, true),
        (Kind::AfterFailed, Outcome::Completed, false),
        (Kind::AfterFailed, Outcome::Failed, true),
        (Kind::AfterFailed, Outcome::Stopped, true),
    ];
    for (kind, outcome, starts) in table {
        let (mut core, mut comm) = core();
        on_enqueue(&mut core, &mut comm, 2, small(), after(&[(1, kind)]), 2);
        assert_eq!(started(&schedule(&mut core, &mut comm)), [] as [i64; 0]);
        on_parent_end(&mut core, &mut comm, 1, outcome);
        let decided = schedule(&mut core, &mut comm);
        if starts {
            assert_eq!(started(&decided), [2], "{kind} after {outcome}");
        } else {
            let why = NeverMet {
                dep: Dep {
                    job: 100,
                    run: 1,
                    kind,
                },
                outcome,
            };
            assert_eq!(
                decided,
                [Decision::DependencyNeverMet { id: 2, why }],
                "{kind} after {outcome}"
            );
            assert!(!core.knows(2), "forgotten once decided");
        }
        core.check().unwrap();
    }
}

#[test]
fn a_chain_ends_link_by_link_naming_each_parent() {
    let (mut core, mut comm) = core();
    on_enqueue(&mut core, &mut comm, 1, small(), false, 1);
    on_enqueue(
        &mut core,
        &mut comm,
        2,
        small(),
        after(&[(1, Kind::AfterOk)]),
        2,
    );
    on_enqueue(
        &mut core,
        &mut comm,
        3,
        small(),
        after(&[(2, Kind::AfterOk)]),
        3,
    );
    assert_eq!(started(&schedule(&mut core, &mut comm)), [1]);
    on_ended(&mut core, &mut comm, 1);
    on_parent_end(&mut core, &mut comm, 1, Outcome::Failed);
    let decided = schedule(&mut core, &mut comm);
    let Decision::DependencyNeverMet { id: 2, why } = decided[0] else {
        panic!("{decided:?}")
    };
    assert_eq!(
        why.to_string(),
        "dependency never met: job 100 version 1 failed (after_ok)"
    );
    // The driver records 2's end (cancelled), which is 3's parent's end.
    on_parent_end(&mut core, &mut comm, 2, Outcome::Stopped);
    let decided = schedule(&mut core, &mut comm);
    assert!(
        matches!(decided[..], [Decision::DependencyNeverMet { id: 3, .. }]),
        "{decided:?}"
    );
    assert_eq!(core.queued().count(), 0);
}

#[test]
fn all_parents_must_end_and_any_unmet_one_ends_the_run() {
    let (mut core, mut comm) = core();
    let ticket = after(&[(1, Kind::AfterOk), (2, Kind::AfterAny)]);
    on_enqueue(&mut core, &mut comm, 3, small(), ticket, 3);
    on_parent_end(&mut core, &mut comm, 1, Outcome::Completed);
    assert_eq!(started(&schedule(&mut core, &mut comm)), [] as [i64; 0]);
    assert_eq!(
        core.wait(3).unwrap().to_string(),
        "waiting for job 200 version 2 (after_any)"
    );
    on_parent_end(&mut core, &mut comm, 2, Outcome::Failed);
    assert_eq!(started(&schedule(&mut core, &mut comm)), [3]);
}

#[test]
fn a_stopped_dependent_is_stopped_before_start() {
    let (mut core, mut comm) = core();
    on_enqueue(
        &mut core,
        &mut comm,
        2,
        small(),
        after(&[(1, Kind::AfterOk)]),
        2,
    );
    on_stop(&mut core, &mut comm, 2, Duration::ZERO);
    assert_eq!(comm.take(), [Decision::StoppedBeforeStart { id: 2 }]);
    assert!(!core.knows(2));
    on_parent_end(&mut core, &mut comm, 1, Outcome::Completed);
    assert_eq!(schedule(&mut core, &mut comm), []);
}

#[test]
fn a_group_never_has_more_than_its_limit_queued_or_running() {
    let (mut core, mut comm) = core();
    for id in 1..=6 {
        on_enqueue(&mut core, &mut comm, id, small(), in_group(7, 3), id as u32);
    }
    // Room for 8 such runs on the host, but the group takes 3.
    assert_eq!(started(&schedule(&mut core, &mut comm)), [1, 2, 3]);
    assert_eq!(core.group_active(7), 3);
    let wait = core.wait(4).unwrap();
    assert_eq!(wait.why, Why::Group(Group { id: 7, limit: 3 }));
    assert_eq!(wait.to_string(), "sweep 7 at its concurrency 3");
    assert_eq!(wait.why.code(), "sweep_concurrency");
    // Another project's run is not held up by the group.
    on_enqueue(&mut core, &mut comm, 9, small(), false, 9);
    assert_eq!(started(&schedule(&mut core, &mut comm)), [9]);
    on_ended(&mut core, &mut comm, 2);
    assert_eq!(started(&schedule(&mut core, &mut comm)), [4]);
    assert_eq!(core.group_active(7), 3);
    // A stop of a held-back run frees nothing and starts nothing.
    on_stop(&mut core, &mut comm, 6, Duration::ZERO);
    assert_eq!(comm.take(), [Decision::StoppedBeforeStart { id: 6 }]);
    assert_eq!(started(&schedule(&mut core, &mut comm)), [] as [i64; 0]);
    on_ended(&mut core, &mut comm, 1);
    assert_eq!(started(&schedule(&mut core, &mut comm)), [5]);
    core.check().unwrap();
}

#[test]
fn a_group_run_waiting_for_capacity_holds_its_group_place() {
    // 8 cores: two runs of 5 cores do not fit at once; the group's limit of 2 counts the
    // queued one, so a third is held back rather than queued.
    let (mut core, mut comm) = core();
    for id in 1..=3 {
        on_enqueue(
            &mut core,
            &mut comm,
            id,
            Place::Here(res(5, 1, 0)),
            in_group(1, 2),
            0,
        );
    }
    assert_eq!(started(&schedule(&mut core, &mut comm)), [1]);
    assert!(core.is_blocked(3) && !core.is_blocked(2));
    assert_eq!(core.wait(2).unwrap().why.code(), "capacity");
}

#[test]
fn cycles_are_found_through_the_graph() {
    let parents: HashMap<i64, Vec<i64>> = [(2, vec![1]), (3, vec![2]), (1, vec![])].into();
    assert_eq!(cycle(4, &[3], &parents), None);
    assert_eq!(cycle(4, &[4], &parents), Some(4), "itself");
    // 1 waits for 3 (say, a changed graph): a run 1 depends on 3 -> 2 -> 1.
    assert_eq!(cycle(1, &[3], &parents), Some(3));
}

#[test]
fn kinds_parse_by_wire_and_slurm_names() {
    for kind in Kind::ALL {
        assert_eq!(Kind::parse(kind.name()), Some(kind));
    }
    assert_eq!(Kind::parse("afternotok"), Some(Kind::AfterFailed));
    assert_eq!(Kind::parse("after"), None);
}
