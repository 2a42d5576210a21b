//! Priorities, fair share across projects, quotas and the reasons a run waits.

use super::utils::res;
use crate::fair::{
    dominant_share, past_usage, seed_horizon, slurm_nice, valid_priority, Limit, PastRun, Quota,
    Share, Usage,
};
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

fn past(project: &str, demand: crate::Resources, start: i64, end: i64) -> PastRun {
    PastRun {
        project: project.to_owned(),
        demand,
        start,
        end,
    }
}

#[test]
fn past_usage_is_what_the_core_counted_while_the_runs_ran() {
    let half_life = Some(4_000);
    // What the core counts: a holds 2 of 4 cores from 1 s to 6 s, then 4 from 7 s to 8 s;
    // b holds 1 core and 3 of 4 GB (its dominant share, 3/4) from 2 s to 5 s.
    let (core, mut comm) = (Core::<()>::new(res(4, 4, 0), vec![]), Comm::new());
    let mut core = core.with_half_life(half_life);
    let run = |core: &mut Core<()>, comm: &mut Comm<()>, id: RunId, p: &str, d| {
        on_enqueue(core, comm, id, Place::Here(d), ticket(p, 1), ());
        schedule(core, comm);
    };
    on_clock(&mut core, 1_000);
    run(&mut core, &mut comm, 1, "a", res(2, 0, 0));
    on_clock(&mut core, 2_000);
    run(&mut core, &mut comm, 2, "b", res(1, 3, 0));
    on_clock(&mut core, 5_000);
    on_ended(&mut core, &mut comm, 2);
    on_clock(&mut core, 6_000);
    on_ended(&mut core, &mut comm, 1);
    on_clock(&mut core, 7_000);
    run(&mut core, &mut comm, 3, "a", res(4, 0, 0));
    on_clock(&mut core, 8_000);
    on_ended(&mut core, &mut comm, 3);
    on_clock(&mut core, 20_000);
    // The same runs as records, read after a restart at 20 s.
    let runs = [
        past("a", res(2, 0, 0), 1_000, 6_000),
        past("b", res(1, 3, 0), 2_000, 5_000),
        past("a", res(4, 0, 0), 7_000, 8_000),
    ];
    let seeded = past_usage(&runs, res(4, 4, 0), 20_000, half_life);
    assert_eq!(seeded.len(), 2);
    for p in ["a", "b"] {
        let got = seeded[p].at(20_000, 0.0, half_life);
        let want = core.usage(p);
        assert!(
            want > 0.0 && (got - want).abs() <= want * 1e-9,
            "{p}: {got} vs {want}"
        );
    }
    // Without decay it is share × time: a 0.5 × 5 s + 1 × 1 s, b 0.75 × 3 s.
    let plain = past_usage(&runs, res(4, 4, 0), 20_000, None);
    assert!((plain["a"].at(20_000, 0.0, None) - 3_500.0).abs() < 1e-9);
    assert!((plain["b"].at(20_000, 0.0, None) - 2_250.0).abs() < 1e-9);
}

#[test]
fn past_usage_decays_from_each_end_and_counts_a_running_run_up_to_now() {
    let total = res(2, 2, 0);
    let h = Some(1_000);
    // The same whole-host second, ended just now and one half-life earlier: half as much.
    let fresh = past_usage(&[past("a", total, 9_000, 10_000)], total, 10_000, h)["a"];
    let older = past_usage(&[past("a", total, 8_000, 9_000)], total, 10_000, h)["a"];
    let (fresh, older) = (fresh.at(10_000, 0.0, h), older.at(10_000, 0.0, h));
    assert!((older - fresh / 2.0).abs() < 1e-9, "{older} vs {fresh}");
    // A run still running (its end is now, or later) counts from its start up to now only.
    let running = past_usage(&[past("a", total, 9_000, 99_000)], total, 10_000, None);
    assert_eq!(running["a"].at(10_000, 0.0, None), 1_000.0);
    // A run that never ran, or holds nothing here, is left out.
    let none = past_usage(
        &[
            past("a", total, 5_000, 5_000),
            past("b", res(0, 0, 0), 1, 5),
        ],
        total,
        10_000,
        None,
    );
    assert!(none.is_empty(), "{none:?}");
    // Runs are read back ten half-lives; all of them when usage never decays.
    assert_eq!(seed_horizon(100_000, Some(1_000)), 90_000);
    assert_eq!(seed_horizon(5_000, Some(1_000)), 0);
    assert_eq!(seed_horizon(100_000, None), 0);
}

#[test]
fn a_core_started_from_past_usage_serves_the_project_that_used_less_first() {
    let h = Some(600_000);
    let total = res(2, 2, 0);
    // a held the whole host for an hour before the restart; b ran one run for a minute.
    let now = 4_000_000;
    let runs = [
        past("a", total, now - 3_600_000, now - 1_000),
        past("b", res(1, 1, 0), now - 120_000, now - 60_000),
    ];
    let start = |seeded: bool| {
        let core = Core::<()>::new(total, vec![]).with_half_life(h);
        let mut core = if seeded {
            core.with_past_usage(past_usage(&runs, total, now, h))
        } else {
            core
        };
        let mut comm = Comm::new();
        on_clock(&mut core, now);
        // Both flood the host, a first: 2 one-core runs each.
        for (id, p) in [(1, "a"), (2, "a"), (3, "b"), (4, "b")] {
            one_core(&mut core, &mut comm, id, p, 1);
        }
        started(&mut core, &mut comm)
    };
    // Seeded: b, furthest below its share, gets both slots. From zero: they alternate.
    assert_eq!(start(true), [3, 4]);
    assert_eq!(start(false), [1, 3]);
}
