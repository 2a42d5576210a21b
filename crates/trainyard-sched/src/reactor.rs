//! The handlers: one per event, each `on_*(&mut Core, &mut Comm, ..)`, changing the core's
//! state and leaving decisions in the comm (HyperQueue's `tako` reactor has this shape).
//!
//! The driver calls the handler of each event, then [`schedule`], carrying out the decisions
//! in order after each call, until [`schedule`] decides nothing more:
//!
//! ```
//! # use trainyard_sched::{reactor, Comm, Core, Decision, Place, Resources};
//! let total = Resources { cores: 4, memory_gb: 8, gpus: 0 };
//! let mut core: Core<()> = Core::new(total, vec![]);
//! let mut comm = Comm::new();
//! let demand = Resources { cores: 3, memory_gb: 1, gpus: 0 };
//! reactor::on_enqueue(&mut core, &mut comm, 1, Place::Here(demand), false, ());
//! reactor::on_enqueue(&mut core, &mut comm, 2, Place::Here(demand), false, ());
//! reactor::schedule(&mut core, &mut comm);
//! assert_eq!(comm.take(), [Decision::Start { id: 1, gpus: vec![], route: () }]);
//! reactor::schedule(&mut core, &mut comm);
//! assert_eq!(comm.take(), [Decision::MarkWaiting { id: 2 }]);
//! ```

use crate::comm::{Comm, Decision};
use crate::core::{Core, Held, LeaseId, Place, Queued, RunId};
use crate::resources::Resources;
use std::time::Duration;

/// A version in 1 or 7 to run. A run the core knows already is left as it is. On this host
/// it joins the back of the queue (`waiting`: its version is in 7 already); a backend with a
/// queue of its own gets it at once ([`Decision::Start`]).
pub fn on_enqueue<R: Clone>(
    core: &mut Core<R>,
    comm: &mut Comm<R>,
    id: RunId,
    place: Place,
    waiting: bool,
    route: R,
) {
    if core.knows(id) {
        return;
    }
    match place {
        Place::Backend => start(core, comm, id, Resources::default(), route),
        Place::Here(demand) => core.queue.push_back(Queued {
            id,
            demand,
            marked_waiting: waiting,
            route,
        }),
    }
}

/// The run of a [`Decision::Start`] was not started: its version was no longer pending (it
/// was stopped or deleted meanwhile), or the database refused the move. What it held is
/// free again, its GPUs first in line as if never handed out.
pub fn on_start_refused<R>(core: &mut Core<R>, _comm: &mut Comm<R>, id: RunId) {
    if let Some(held) = core.running.remove(&id) {
        core.used = core.used.minus(&held.demand);
        let gpus: Vec<u32> = configured(core, held.gpus);
        core.free_gpus.splice(0..0, gpus);
    }
}

/// Run `id` is over and its end recorded (or it failed to start): what it held is free, its
/// GPUs last in line.
pub fn on_ended<R>(core: &mut Core<R>, _comm: &mut Comm<R>, id: RunId) {
    if let Some(held) = core.running.remove(&id) {
        core.used = core.used.minus(&held.demand);
        let gpus = configured(core, held.gpus);
        core.free_gpus.extend(gpus);
    }
}

/// The GPUs of `gpus` that are configured: a run found after a restart may hold one the
/// configuration no longer has, which is not handed out again.
fn configured<R>(core: &Core<R>, gpus: Vec<u32>) -> Vec<u32> {
    gpus.into_iter().filter(|g| core.gpus.contains(g)).collect()
}

/// A run found running after a restart holds `demand` and `gpus` as if started here, even
/// beyond the total: it runs already. Its end is reported with [`on_ended`].
pub fn on_adopt<R>(
    core: &mut Core<R>,
    comm: &mut Comm<R>,
    id: RunId,
    demand: Resources,
    gpus: Vec<u32>,
    route: R,
) {
    // Found twice: the later finding replaces the earlier, which gives back what it held.
    on_ended(core, comm, id);
    core.queue.retain(|q| q.id != id);
    core.free_gpus.retain(|g| !gpus.contains(g));
    core.used = core.used.plus(&demand);
    core.running.insert(
        id,
        Held {
            demand,
            gpus,
            route,
        },
    );
}

/// Version `id` was moved to 9: a queued run leaves the queue and is recorded stopped, a
/// running one is stopped on its backend with `grace`, and one the core does not know never
/// reached a backend and is recorded stopped.
pub fn on_stop<R: Clone>(core: &mut Core<R>, comm: &mut Comm<R>, id: RunId, grace: Duration) {
    if let Some(pos) = core.queue.iter().position(|q| q.id == id) {
        core.queue.remove(pos);
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

/// Hands out what is free: waiting leases while the first one fits, then queued runs in
/// FIFO order while the first one fits (its demand and as many free GPUs as it asks for).
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
    let mut started = false;
    while let Some(front) = core.queue.front() {
        if !front.demand.fits_in(&core.free())
            || (front.demand.gpus as usize) > core.free_gpus.len()
        {
            break;
        }
        let q = core.queue.pop_front().expect("front exists");
        start(core, comm, q.id, q.demand, q.route);
        started = true;
    }
    if !started {
        for q in core.queue.iter_mut().filter(|q| !q.marked_waiting) {
            q.marked_waiting = true;
            comm.push(Decision::MarkWaiting { id: q.id });
        }
    }
}

/// Holds `demand` and the first free GPUs it needs for run `id`, and decides its start.
fn start<R: Clone>(core: &mut Core<R>, comm: &mut Comm<R>, id: RunId, demand: Resources, route: R) {
    let n = (demand.gpus as usize).min(core.free_gpus.len());
    let gpus: Vec<u32> = core.free_gpus.drain(..n).collect();
    core.used = core.used.plus(&demand);
    let held = Held {
        demand,
        gpus: gpus.clone(),
        route: route.clone(),
    };
    core.running.insert(id, held);
    comm.push(Decision::Start { id, gpus, route });
}
