//! The handlers: one per event, each `on_*(&mut Core, &mut Comm, ..)`, changing the core's
//! state and leaving decisions in the comm (HyperQueue's `tako` reactor has this shape).
//!
//! The driver calls the handler of each event, then [`schedule`], carrying out the decisions
//! in order after each call, until [`schedule`] decides nothing more:
//!
//! ```
//! # use trainyard_sched::{reactor, Comm, Core, Decision, Place, Resources, Ticket};
//! let total = Resources { cores: 4, memory_gb: 8, gpus: 0 };
//! let mut core: Core<()> = Core::new(total, vec![]);
//! let mut comm = Comm::new();
//! let demand = Resources { cores: 3, memory_gb: 1, gpus: 0 };
//! let ticket = Ticket { project: "p1".into(), priority: 1, ..Ticket::default() };
//! reactor::on_clock(&mut core, 1_000);
//! reactor::on_enqueue(&mut core, &mut comm, 1, Place::Here(demand), ticket.clone(), ());
//! reactor::on_enqueue(&mut core, &mut comm, 2, Place::Here(demand), ticket, ());
//! reactor::schedule(&mut core, &mut comm);
//! assert_eq!(comm.take(), [Decision::Start { id: 1, gpus: vec![], route: () }]);
//! reactor::schedule(&mut core, &mut comm);
//! assert_eq!(comm.take(), [Decision::MarkWaiting { id: 2 }]);
//! ```

use crate::comm::{Comm, Decision};
use crate::core::{Blocked, Core, Held, LeaseId, Place, RunId, Ticket};
use crate::dep::Outcome;
use crate::fair::{dominant_share, Priority};
use crate::pool::PoolId;
use crate::queue::Queued;
use crate::resources::Resources;
use crate::victims;
use std::time::Duration;

/// The driver's clock moved to `now_ms`: usage accrues up to it (a clock going back is
/// ignored). The driver calls it before the handler of each event.
pub fn on_clock<R>(core: &mut Core<R>, now_ms: i64) {
    core.now = core.now.max(now_ms);
}

/// A version in 1 or 7 to run. A run the core knows already is left as it is. It joins its
/// project's queue on this host, or in its pool ([`Place::Pool`]), behind the runs of its
/// priority or higher (`ticket`: its project, priority and whether its version is in 7
/// already).
pub fn on_enqueue<R: Clone>(
    core: &mut Core<R>,
    _comm: &mut Comm<R>,
    id: RunId,
    place: Place,
    ticket: impl Into<Ticket>,
    route: R,
) {
    if core.knows(id) {
        return;
    }
    let ticket = ticket.into();
    let held_back = !ticket.after.is_empty() || ticket.group.is_some();
    if !ticket.waiting {
        core.unmarked.push(id);
    }
    if held_back {
        // Held back until its parents ended and its group has room (see [`schedule`]).
        let deps = ticket.after.iter().map(|d| (*d, None)).collect();
        let marked_waiting = ticket.waiting;
        core.blocked.push(Blocked {
            id,
            place,
            ticket,
            route,
            deps,
            marked_waiting,
        });
        return;
    }
    admit(core, id, place, ticket, false, route);
}

/// Run `id` joins its project's queue here, or in its pool.
fn admit<R: Clone>(
    core: &mut Core<R>,
    id: RunId,
    place: Place,
    ticket: Ticket,
    marked_waiting: bool,
    route: R,
) {
    let p = core.project(&ticket.project);
    let group = ticket.group.map(|g| g.id);
    let waiting = ticket.waiting || marked_waiting;
    let (queue, demand) = match place {
        Place::Here(demand) => (&mut core.queue, demand),
        Place::Pool(pool, demand) => (&mut core.pools[pool].queue, demand),
    };
    queue.push(
        id,
        p,
        ticket.priority,
        demand,
        waiting,
        route,
        group,
        ticket.preemptible,
    );
}

/// Run `parent` ended with `outcome` (or had ended when its dependents were queued): the
/// runs waiting for it learn it; the next [`schedule`] releases those it lets start and
/// decides the end of those it never will ([`Decision::DependencyNeverMet`]).
pub fn on_parent_end<R>(core: &mut Core<R>, _comm: &mut Comm<R>, parent: RunId, outcome: Outcome) {
    for b in &mut core.blocked {
        for (dep, known) in &mut b.deps {
            if dep.run == parent && known.is_none() {
                *known = Some(outcome);
            }
        }
    }
}

/// Releases the runs held back whose parents all ended in a way that lets them start and
/// whose group has room, first come first (each into the queue, counting against its
/// group from then on), and decides the end of those whose dependency is never met.
/// O(held back × (queued + running)).
fn release_blocked<R: Clone>(core: &mut Core<R>, comm: &mut Comm<R>) {
    let mut i = 0;
    while i < core.blocked.len() {
        let b = &core.blocked[i];
        if let Some(why) = b.never_met() {
            let id = b.id;
            core.blocked.remove(i);
            comm.push(Decision::DependencyNeverMet { id, why });
            continue;
        }
        let parents_ended = b.pending_parent().is_none();
        let room = b
            .ticket
            .group
            .is_none_or(|g| core.group_active(g.id) < g.limit.max(1));
        if parents_ended && room {
            let b = core.blocked.remove(i);
            admit(core, b.id, b.place, b.ticket, b.marked_waiting, b.route);
            continue;
        }
        i += 1;
    }
}

/// Queued run `id` now has priority `priority`: it goes behind the runs of that priority
/// (or higher) in its project's queue. Returns whether it is queued (a run started or
/// unknown keeps its place; the driver records the priority all the same).
pub fn on_priority<R>(
    core: &mut Core<R>,
    _comm: &mut Comm<R>,
    id: RunId,
    priority: Priority,
) -> bool {
    if let Some(b) = core.blocked.iter_mut().find(|b| b.id == id) {
        b.ticket.priority = priority;
        return true;
    }
    core.queue_of_mut(id)
        .is_some_and(|queue| queue.set_priority(id, priority))
}

/// Project `p`'s runs here hold `demand` more (`add`) or less; its usage is settled first,
/// so what it held so far is counted at the rate it was held.
fn hold<R>(core: &mut Core<R>, p: usize, demand: Resources, add: bool) {
    let (now, half_life, total) = (core.now, core.half_life_ms, core.total);
    let project = &mut core.projects[p];
    project.usage.settle(now, project.rate, half_life);
    if add {
        project.held = project.held.plus(&demand);
        project.runs += 1;
    } else {
        project.held = project.held.minus(&demand);
        project.runs = project.runs.saturating_sub(1);
    }
    // Recomputed from what is held, never accumulated, so it cannot drift.
    project.rate = dominant_share(project.held, total);
}

/// Project `p`'s runs in pool `pool` hold `demand` more (`add`) or less: against its quota,
/// the pool's cap and its share there.
fn hold_in_pool<R>(core: &mut Core<R>, pool: PoolId, p: usize, demand: Resources, add: bool) {
    let (now, half_life) = (core.now, core.half_life_ms);
    core.pools[pool].hold(p, demand, add, now, half_life);
    let project = &mut core.projects[p];
    if add {
        project.pooled = project.pooled.plus(&demand);
        project.pooled_runs += 1;
    } else {
        project.pooled = project.pooled.minus(&demand);
        project.pooled_runs = project.pooled_runs.saturating_sub(1);
    }
}

/// Takes run `id` off what is held, with its project's share.
fn release<R>(core: &mut Core<R>, id: RunId) -> Option<Held<R>> {
    let held = core.running.remove(&id)?;
    victims::forget(core, id);
    match held.pool {
        None => {
            if !held.reaped {
                core.used = core.used.minus(&held.demand);
            }
            hold(core, held.project, held.demand, false);
        }
        Some(pool) => hold_in_pool(core, pool, held.project, held.demand, false),
    }
    Some(held)
}

/// The run of a [`Decision::Start`] was not started: its version was no longer pending (it
/// was stopped or deleted meanwhile), or the database refused the move. What it held is
/// free again, its GPUs first in line as if never handed out.
pub fn on_start_refused<R>(core: &mut Core<R>, _comm: &mut Comm<R>, id: RunId) {
    if let Some(held) = release(core, id) {
        let gpus: Vec<u32> = configured(core, held.gpus);
        core.free_gpus.splice(0..0, gpus);
    }
}

/// Run `id`'s workers are gone (reaped) and its end is not recorded yet: what it holds on
/// this host, its demand and GPUs, is free for the next run now. Until [`on_ended`] it still
/// counts as running: against its group's limit, its project's quota and share, and as a
/// candidate for nothing (preemption does not pick it: it frees nothing more). A run held on
/// a pool (whose backend frees its own capacity), not running, or reaped already: nothing.
pub fn on_reaped<R>(core: &mut Core<R>, _comm: &mut Comm<R>, id: RunId) {
    let Some(held) = core.running.get_mut(&id).filter(|h| h.holds_host()) else {
        return;
    };
    held.reaped = true;
    let (demand, gpus) = (held.demand, std::mem::take(&mut held.gpus));
    core.used = core.used.minus(&demand);
    let gpus = configured(core, gpus);
    core.free_gpus.extend(gpus);
    // A victim of preemption has freed its preemptor's room.
    victims::forget(core, id);
}

/// Run `id` has ended and its end is recorded (or it never started): what it still holds is
/// free, its GPUs last in line, and it no longer counts against its group, its project's
/// quota or as running.
pub fn on_ended<R>(core: &mut Core<R>, _comm: &mut Comm<R>, id: RunId) {
    if let Some(held) = release(core, id) {
        let gpus = configured(core, held.gpus);
        core.free_gpus.extend(gpus);
    }
}

/// The GPUs of `gpus` that are configured: a run found after a restart may hold one the
/// configuration no longer has, which is not handed out again.
fn configured<R>(core: &Core<R>, gpus: Vec<u32>) -> Vec<u32> {
    gpus.into_iter().filter(|g| core.gpus.contains(g)).collect()
}

/// A run found running after a restart (`ticket`: its project and priority, or a project
/// id) holds its place's demand and `gpus` as if started here, even beyond the total (and
/// its project's quota): it runs already, and counts as started now (for preemption's
/// minimum runtime). Its end is reported with [`on_ended`].
pub fn on_adopt<R>(
    core: &mut Core<R>,
    comm: &mut Comm<R>,
    id: RunId,
    ticket: impl Into<Ticket>,
    place: Place,
    gpus: Vec<u32>,
    route: R,
) {
    // Found twice: the later finding replaces the earlier, which gives back what it held.
    on_ended(core, comm, id);
    if let Some(queue) = core.queue_of_mut(id) {
        queue.remove(id);
    }
    core.blocked.retain(|b| b.id != id);
    core.free_gpus.retain(|g| !gpus.contains(g));
    let ticket = ticket.into();
    let p = core.project(&ticket.project);
    let (demand, pool) = match place {
        Place::Here(demand) => {
            core.used = core.used.plus(&demand);
            hold(core, p, demand, true);
            (demand, None)
        }
        Place::Pool(pool, demand) => {
            hold_in_pool(core, pool, p, demand, true);
            (demand, Some(pool))
        }
    };
    core.running.insert(
        id,
        Held {
            demand,
            gpus,
            route,
            project: p,
            pool,
            group: None,
            priority: ticket.priority,
            since: core.now,
            preemptible: ticket.preemptible,
            reaped: false,
        },
    );
}

/// A run found running after a restart (see [`on_adopt`]) belongs to group `group`: it
/// counts against the group's limit until it ends.
pub fn on_adopt_group<R>(core: &mut Core<R>, _comm: &mut Comm<R>, id: RunId, group: i64) {
    if let Some(held) = core.running.get_mut(&id) {
        held.group = Some(group);
    }
}

/// Version `id` was moved to 9: a queued run leaves the queue and is recorded stopped, a
/// running one is stopped on its backend with `grace`, and one the core does not know never
/// reached a backend and is recorded stopped.
pub fn on_stop<R: Clone>(core: &mut Core<R>, comm: &mut Comm<R>, id: RunId, grace: Duration) {
    let held_back = core.blocked.len();
    core.blocked.retain(|b| b.id != id);
    let queued = core
        .queue_of_mut(id)
        .and_then(|queue| queue.remove(id))
        .is_some();
    if queued || core.blocked.len() < held_back {
        comm.push(Decision::StoppedBeforeStart { id });
    } else if let Some(held) = core.running.get(&id) {
        comm.push(Decision::StopRun {
            id,
            route: held.route.clone(),
            grace,
        });
    } else {
        comm.push(Decision::StoppedBeforeStart { id });
    }
}

/// Run `id` was found hung: stopped with `grace` when it runs here; nothing else (a run not
/// running, or not known, has nothing to stop, and its status is not changed by this).
pub fn on_hung<R: Clone>(core: &mut Core<R>, comm: &mut Comm<R>, id: RunId, grace: Duration) {
    if let Some(held) = core.running.get(&id) {
        comm.push(Decision::StopRun {
            id,
            route: held.route.clone(),
            grace,
        });
    }
}

/// Versions found in 9 by a sweep of the database: those the core does not know are not
/// running anywhere (recovery adopted every run that exists), so they were stopped before
/// they started.
pub fn on_sweep<R>(core: &mut Core<R>, comm: &mut Comm<R>, stopping: &[RunId]) {
    for &id in stopping.iter().filter(|id| !core.knows(**id)) {
        comm.push(Decision::StoppedBeforeStart { id });
    }
}

/// Lease `lease` asks for `need`: granted by the next [`schedule`] once it fits (leases are
/// served before the queue, first come first served among themselves), or at once with
/// `force`, even beyond the total (it runs already: a server found again after a restart).
pub fn on_acquire<R>(
    core: &mut Core<R>,
    comm: &mut Comm<R>,
    lease: LeaseId,
    need: Resources,
    force: bool,
) {
    if core.leases.contains_key(&lease) || core.lease_waits(lease) {
        return;
    }
    if force {
        core.used = core.used.plus(&need);
        core.leases.insert(lease, need);
        comm.push(Decision::Grant { lease });
    } else {
        core.lease_queue.push_back((lease, need));
    }
}

/// Lease `lease` is given back, or no longer wanted while it waits.
pub fn on_release<R>(core: &mut Core<R>, _comm: &mut Comm<R>, lease: LeaseId) {
    core.lease_queue.retain(|(queued, _)| *queued != lease);
    if let Some(need) = core.leases.remove(&lease) {
        core.used = core.used.minus(&need);
    }
}

/// Hands out what is free: waiting leases while the first one fits, then queued runs while
/// the next one fits: the next run is chosen by priority and fair share among the projects
/// whose next run is within their quota ([`Core::pick`](crate::Core)); when it does not fit,
/// nothing behind it starts (no run jumps a larger one that waits for capacity), and with
/// preemption on, runs of lower priority may be stopped to make room for it
/// ([`crate::preempt`]), what they free held for it alone. Then each pool's queue, in the
/// order the pools were added, by the same rule while its cap has room ([`crate::pool`]).
/// When no run starts, the queued runs not marked waiting yet are marked (1 -> 7); when one
/// does, marking waits for the next call, which may start more (a start may be refused).
pub fn schedule<R: Clone>(core: &mut Core<R>, comm: &mut Comm<R>) {
    while let Some(&(lease, need)) = core.lease_queue.front() {
        if !need.fits_in(&core.free()) {
            break;
        }
        core.lease_queue.pop_front();
        core.used = core.used.plus(&need);
        core.leases.insert(lease, need);
        comm.push(Decision::Grant { lease });
    }
    release_blocked(core, comm);
    let mut started = false;
    victims::prune(core);
    while let Some((p, id)) = victims::ready(core) {
        let q = core.queue.remove(id).expect("a preemptor is queued");
        let label = Label::of(&q);
        start(core, comm, id, p, At::Here(q.demand), label, q.route);
        started = true;
    }
    while let Some((p, id)) = core.pick() {
        let demand = core.queue.get(id).expect("picked from the queue").demand;
        // What is held back for a preemptor is free for it alone.
        let (free, free_gpus) = victims::available_to(core, id);
        if !demand.fits_in(&free) || (demand.gpus as usize) > free_gpus {
            victims::plan(core, comm, id);
            break;
        }
        let q = core.queue.remove(id).expect("picked from the queue");
        let label = Label::of(&q);
        start(core, comm, id, p, At::Here(q.demand), label, q.route);
        started = true;
    }
    for pool in 0..core.pools.len() {
        started |= submit_to_pool(core, comm, pool);
    }
    if !started {
        for id in std::mem::take(&mut core.unmarked) {
            let blocked = core.blocked.iter_mut().find(|b| b.id == id);
            let marked = match blocked {
                Some(b) => !std::mem::replace(&mut b.marked_waiting, true),
                None => core.queue_of_mut(id).is_some_and(|queue| queue.mark(id)),
            };
            if marked {
                comm.push(Decision::MarkWaiting { id });
            }
        }
    }
}

/// Hands pool `pool` its queued runs in the order of the rule while its cap has room; the
/// next run that does not fit holds the line. Returns whether one was handed over.
fn submit_to_pool<R: Clone>(core: &mut Core<R>, comm: &mut Comm<R>, pool: PoolId) -> bool {
    let mut started = false;
    while let Some((p, id)) = core.pick_in(pool) {
        let pl = &mut core.pools[pool];
        let demand = pl.queue.get(id).expect("picked from the queue").demand;
        if pl.full_for(demand).is_some() {
            break;
        }
        let q = pl.queue.remove(id).expect("picked from the queue");
        let label = Label::of(&q);
        start(core, comm, id, p, At::Pool(pool, q.demand), label, q.route);
        started = true;
    }
    started
}

/// Where a run starts, and what it holds there.
#[derive(Clone, Copy)]
enum At {
    /// On this host: its demand and GPUs here.
    Here(Resources),
    /// Handed to a pool: its demand against its quota and the pool's cap.
    Pool(PoolId, Resources),
}

/// What a run starting carries beside its demand: what preemption and group limits look at.
#[derive(Clone, Copy)]
struct Label {
    priority: Priority,
    group: Option<i64>,
    preemptible: bool,
}

impl Label {
    /// The label of a run leaving the queue.
    fn of<R>(q: &Queued<R>) -> Self {
        Label {
            priority: q.key.0 .0,
            group: q.group,
            preemptible: q.preemptible,
        }
    }
}

/// Holds what run `id` of project `p` needs where it starts (on this host: its demand and
/// the first free GPUs it needs), and decides its start.
fn start<R: Clone>(
    core: &mut Core<R>,
    comm: &mut Comm<R>,
    id: RunId,
    p: usize,
    at: At,
    label: Label,
    route: R,
) {
    let Label {
        priority,
        group,
        preemptible,
    } = label;
    victims::forget(core, id);
    let (demand, gpus, pool) = match at {
        At::Here(demand) => {
            let n = (demand.gpus as usize).min(core.free_gpus.len());
            let gpus: Vec<u32> = core.free_gpus.drain(..n).collect();
            core.used = core.used.plus(&demand);
            hold(core, p, demand, true);
            (demand, gpus, None)
        }
        At::Pool(pool, demand) => {
            hold_in_pool(core, pool, p, demand, true);
            (demand, Vec::new(), Some(pool))
        }
    };
    let held = Held {
        demand,
        gpus: gpus.clone(),
        route: route.clone(),
        project: p,
        pool,
        group,
        priority,
        since: core.now,
        preemptible,
        reaped: false,
    };
    core.running.insert(id, held);
    comm.push(Decision::Start { id, gpus, route });
}
