//! Priorities, fair share across projects, quotas and the reasons a run waits.

use super::utils::res;
use crate::fair::{dominant_share, slurm_nice, valid_priority, Limit, Quota, Share, Usage};
use crate::reactor::{on_clock, on_ended, on_enqueue, on_priority, on_stop, schedule};
use crate::wait::{Wait, Why};
use crate::{Comm, Core, Decision, Place, RunId, Ticket};
use std::time::Duration;

fn ticket(project: &str, priority: u8) -> Ticket {
    Ticket {
        project: project.to_owned(),
        priority,
        waiting: false,
        ..Ticket::default()
    }
}

/// A host of `cores` cores (1 GB each), no GPUs.
fn host(cores: u32) -> (Core<()>, Comm<()>) {
    (Core::new(res(cores, cores, 0), vec![]), Comm::new())
}

fn one_core(core: &mut Core<()>, comm: &mut Comm<()>, id: RunId, project: &str, priority: u8) {
    on_enqueue(
        core,
        comm,
        id,
        Place::Here(res(1, 1, 0)),
        ticket(project, priority),
        (),
    );
}

/// The runs started by one scheduling pass.
fn started(core: &mut Core<()>, comm: &mut Comm<()>) -> Vec<RunId> {
    schedule(core, comm);
    comm.take()
        .into_iter()
        .filter_map(|d| match d {
            Decision::Start { id, .. } => Some(id),
            _ => None,
        })
        .collect()
}

#[test]
fn higher_priority_goes_first_within_and_across_projects() {
    let (mut core, mut comm) = host(1);
    for id in 1..=20 {
        one_core(&mut core, &mut comm, id, "a", 1);
    }
    one_core(&mut core, &mut comm, 30, "b", 2);
    one_core(&mut core, &mut comm, 21, "a", 3);
    assert_eq!(started(&mut core, &mut comm), [21]);
    on_ended(&mut core, &mut comm, 21);
    assert_eq!(started(&mut core, &mut comm), [30]);
    on_ended(&mut core, &mut comm, 30);
    // Then first come, first served among equals.
    assert_eq!(started(&mut core, &mut comm), [1]);
    core.check().unwrap();
}

#[test]
fn a_priority_change_moves_a_queued_run_behind_its_new_equals() {
    let (mut core, mut comm) = host(1);
    for id in 1..=4 {
        one_core(&mut core, &mut comm, id, "a", 1);
    }
    assert_eq!(started(&mut core, &mut comm), [1]);
    assert!(on_priority(&mut core, &mut comm, 4, 3));
    assert!(on_priority(&mut core, &mut comm, 3, 3));
    // Running or unknown runs are not queued: nothing to move.
    assert!(!on_priority(&mut core, &mut comm, 1, 3));
    assert!(!on_priority(&mut core, &mut comm, 99, 3));
    assert_eq!(core.priority_of(4), Some(3));
    on_ended(&mut core, &mut comm, 1);
    assert_eq!(started(&mut core, &mut comm), [4]);
    on_ended(&mut core, &mut comm, 4);
    assert_eq!(started(&mut core, &mut comm), [3]);
    core.check().unwrap();
}

/// Plays `n` runs of each project through a host of `cores` one-core slots, each run taking
/// `len` ms and the slots ending in turn; returns the projects of the starts, in order.
fn play(core: &mut Core<()>, comm: &mut Comm<()>, projects: &[&str], n: i64, len: i64) -> String {
    let mut id = 0;
    for p in projects {
        for _ in 0..n {
            id += 1;
            one_core(core, comm, id, p, 1);
        }
    }
    let owner = |id: RunId| projects[((id - 1) / n) as usize];
    let mut order = String::new();
    let mut now = 0;
    let mut running: Vec<(i64, RunId)> = Vec::new();
    loop {
        on_clock(core, now);
        for started in started(core, comm) {
            order.push_str(&owner(started)[..1]);
            running.push((now + len, started));
        }
        running.sort();
        if running.is_empty() {
            return order;
        }
        let (end, id) = running.remove(0);
        now = end;
        on_clock(core, now);
        on_ended(core, comm, id);
    }
}

/// Of the starts made while both projects had runs waiting, the fraction that were `a`'s.
fn share_of_a_while_both_wait(order: &str, n: usize) -> f64 {
    let (mut a, mut b) = (0u32, 0u32);
    for c in order.chars() {
        if a as usize == n || b as usize == n {
            break;
        }
        if c == 'a' {
            a += 1;
        } else {
            b += 1;
        }
    }
    f64::from(a) / f64::from(a + b)
}

#[test]
fn equal_shares_split_the_host_evenly() {
    let (mut core, mut comm) = host(2);
    let order = play(&mut core, &mut comm, &["a", "b"], 40, 500);
    let a = share_of_a_while_both_wait(&order, 40);
    assert!((a - 0.5).abs() <= 0.05, "{order}: a had {a}");
    // Even at the start: a submitted all 40 first, yet b's first run starts second.
    assert_eq!(&order[..2], "ab");
    core.check().unwrap();
}

#[test]
fn shares_of_three_to_one_split_three_to_one() {
    let (mut core, mut comm) = host(2);
    core.set_share(
        "a",
        Share {
            weight: 3,
            quota: Quota::default(),
        },
    );
    let order = play(&mut core, &mut comm, &["a", "b"], 40, 500);
    let a = share_of_a_while_both_wait(&order, 40);
    assert!((a - 0.75).abs() <= 0.05, "{order}: a had {a}");
}

#[test]
fn a_project_alone_gets_the_whole_host() {
    let (mut core, mut comm) = host(4);
    core.set_share(
        "b",
        Share {
            weight: 100,
            quota: Quota::default(),
        },
    );
    for id in 1..=6 {
        one_core(&mut core, &mut comm, id, "a", 1);
    }
    assert_eq!(started(&mut core, &mut comm), [1, 2, 3, 4]);
}

#[test]
fn usage_decays_by_its_half_life_and_grows_with_what_is_held() {
    let u = Usage::default();
    // Holding half the host for 1000 ms without decay: 500.
    assert_eq!(u.at(1_000, 0.5, None), 500.0);
    let mut u = Usage::default();
    u.settle(1_000, 1.0, None);
    // Held nothing since: one half-life later, half is left.
    let later = u.at(3_000, 0.0, Some(2_000));
    assert!((later - 500.0).abs() < 1e-9, "{later}");
    // With decay, what is held accrues a little less than without.
    let accrued = Usage::default().at(2_000, 1.0, Some(2_000));
    assert!(accrued < 2_000.0 && accrued > 1_400.0, "{accrued}");
    // A clock going back changes nothing.
    let mut u = Usage::default();
    u.settle(1_000, 1.0, None);
    u.settle(500, 1.0, None);
    assert_eq!(u.at(1_000, 1.0, None), 1_000.0);
}

/// `a` holds the host for 10 s, then `b` for 2 s; then both queue a run: which starts?
fn after_a_long_a_and_a_short_b(half_life_ms: Option<i64>) -> RunId {
    let (core, mut comm) = host(1);
    let mut core = core.with_half_life(half_life_ms);
    one_core(&mut core, &mut comm, 1, "a", 1);
    assert_eq!(started(&mut core, &mut comm), [1]);
    on_clock(&mut core, 10_000);
    on_ended(&mut core, &mut comm, 1);
    one_core(&mut core, &mut comm, 2, "b", 1);
    assert_eq!(started(&mut core, &mut comm), [2]);
    on_clock(&mut core, 12_000);
    on_ended(&mut core, &mut comm, 2);
    one_core(&mut core, &mut comm, 3, "b", 1);
    one_core(&mut core, &mut comm, 4, "a", 1);
    started(&mut core, &mut comm)[0]
}

#[test]
fn old_usage_is_forgotten_so_a_busy_project_gets_its_turn_back() {
    // Never forgotten: a's 10 s outweigh b's 2 s, b goes first.
    assert_eq!(after_a_long_a_and_a_short_b(None), 3);
    // Halving every second: a's usage is mostly 2 s old and more, b's is fresh; a goes.
    assert_eq!(after_a_long_a_and_a_short_b(Some(1_000)), 4);
}

#[test]
fn dominant_share_is_the_largest_fraction() {
    assert_eq!(dominant_share(res(1, 1, 2), res(4, 16, 2)), 1.0);
    assert_eq!(dominant_share(res(2, 1, 0), res(4, 16, 0)), 0.5);
    assert_eq!(dominant_share(res(0, 0, 0), res(0, 0, 0)), 0.0);
}

#[test]
fn quotas_name_the_first_limit_reached() {
    let q = Quota {
        cores: Some(4),
        memory_gb: Some(8),
        gpus: Some(1),
        running: Some(2),
    };
    assert_eq!(q.exceeded_by(res(3, 1, 0), 1, res(1, 1, 1)), None);
    assert_eq!(
        q.exceeded_by(res(3, 1, 0), 1, res(2, 1, 0)),
        Some(Limit::Cores)
    );
    assert_eq!(
        q.exceeded_by(res(0, 0, 1), 0, res(1, 1, 1)),
        Some(Limit::Gpus)
    );
    assert_eq!(
        q.exceeded_by(res(0, 8, 0), 0, res(1, 1, 0)),
        Some(Limit::Memory)
    );
    assert_eq!(
        q.exceeded_by(res(1, 1, 0), 2, res(1, 1, 0)),
        Some(Limit::Running)
    );
    assert_eq!(
        Quota::default().exceeded_by(res(99, 99, 99), 99, res(1, 1, 1)),
        None
    );
}

#[test]
fn a_project_at_its_quota_waits_while_another_starts() {
    let (mut core, mut comm) = host(4);
    core.set_share(
        "a",
        Share {
            weight: 1,
            quota: Quota {
                cores: Some(1),
                ..Quota::default()
            },
        },
    );
    one_core(&mut core, &mut comm, 1, "a", 3);
    one_core(&mut core, &mut comm, 2, "a", 3);
    one_core(&mut core, &mut comm, 3, "b", 1);
    // a's second run would exceed its quota: b's run goes instead, though of lower priority.
    assert_eq!(started(&mut core, &mut comm), [1, 3]);
    assert_eq!(
        core.wait(2),
        Some(Wait {
            ahead: 0,
            why: Why::Quota(Limit::Cores)
        })
    );
    assert_eq!(
        core.wait(2).unwrap().to_string(),
        "project at its core quota"
    );
    assert_eq!(core.held_in("a"), (res(1, 1, 0), 1));
    on_ended(&mut core, &mut comm, 1);
    assert_eq!(started(&mut core, &mut comm), [2]);
    core.check().unwrap();
}

#[test]
fn a_gpu_quota_holds_gpu_runs_back() {
    let (mut core, mut comm) = (Core::new(res(8, 8, 4), vec![0, 1, 2, 3]), Comm::new());
    core.set_share(
        "a",
        Share {
            weight: 1,
            quota: Quota {
                gpus: Some(2),
                ..Quota::default()
            },
        },
    );
    for id in 1..=3 {
        on_enqueue(
            &mut core,
            &mut comm,
            id,
            Place::Here(res(1, 1, 1)),
            ticket("a", 1),
            (),
        );
    }
    on_enqueue(
        &mut core,
        &mut comm,
        4,
        Place::Here(res(1, 1, 1)),
        ticket("b", 1),
        (),
    );
    assert_eq!(started(&mut core, &mut comm), [1, 4, 2]);
    assert_eq!(
        core.wait(3).unwrap().to_string(),
        "project at its GPU quota"
    );
}

#[test]
fn every_waiting_run_says_why_and_how_many_are_ahead() {
    let (mut core, mut comm) = host(2);
    on_enqueue(
        &mut core,
        &mut comm,
        1,
        Place::Here(res(2, 1, 0)),
        ticket("a", 1),
        (),
    );
    assert_eq!(started(&mut core, &mut comm), [1]);
    // a holds the whole host; b is below its share, so its next run is the next to go.
    on_clock(&mut core, 1_000);
    on_enqueue(
        &mut core,
        &mut comm,
        2,
        Place::Here(res(2, 1, 0)),
        ticket("a", 1),
        (),
    );
    on_enqueue(
        &mut core,
        &mut comm,
        3,
        Place::Here(res(2, 1, 0)),
        ticket("a", 1),
        (),
    );
    on_enqueue(
        &mut core,
        &mut comm,
        4,
        Place::Here(res(1, 1, 0)),
        ticket("b", 1),
        (),
    );
    on_enqueue(
        &mut core,
        &mut comm,
        5,
        Place::Here(res(1, 1, 0)),
        ticket("b", 1),
        (),
    );
    on_enqueue(
        &mut core,
        &mut comm,
        6,
        Place::Here(res(1, 1, 0)),
        ticket("c", 2),
        (),
    );
    schedule(&mut core, &mut comm);
    comm.take();
    let says = |core: &Core<()>, id| core.wait(id).unwrap().to_string();
    assert_eq!(says(&core, 6), "waiting for 1 core on this host");
    assert_eq!(says(&core, 4), "1 run ahead");
    assert_eq!(says(&core, 5), "2 runs ahead");
    assert_eq!(says(&core, 3), "2 runs ahead");
    on_stop(&mut core, &mut comm, 6, Duration::ZERO);
    assert_eq!(says(&core, 4), "waiting for 1 core on this host");
    assert_eq!(says(&core, 2), "project over its fair share");
    assert_eq!(core.wait(1), None);
    assert_eq!(core.queued_in("a"), 2);
}

#[test]
fn priorities_outside_one_to_three_are_invalid_and_map_to_a_slurm_nice() {
    assert!(valid_priority(1) && valid_priority(3));
    assert!(!valid_priority(0) && !valid_priority(4) && !valid_priority(-1));
    assert_eq!([slurm_nice(3), slurm_nice(2), slurm_nice(1)], [0, 100, 200]);
}
