//! Preemption's decisions ([`crate::preempt`] says the rule): which running runs to stop
//! for the next run that does not fit, the room held for it, and when it starts in it.

use crate::comm::{Comm, Decision};
use crate::core::{Core, RunId};
use crate::fair::dominant_share;
use crate::resources::Resources;

/// What is free for queued run `id`: the free capacity and GPU indices less what is held
/// back for other preemptors.
pub(crate) fn available_to<R>(core: &Core<R>, id: RunId) -> (Resources, usize) {
    let held_back = core
        .preempt
        .reserved
        .iter()
        .filter(|(r, _)| **r != id)
        .fold(Resources::default(), |sum, (_, d)| sum.plus(d));
    let free = core.free().minus(&held_back);
    let gpus = core.free_gpus.len().saturating_sub(held_back.gpus as usize);
    (free, gpus)
}

/// Forgets what is held for preemptors no longer queued (started, stopped or deleted).
pub(crate) fn prune<R>(core: &mut Core<R>) {
    let Core { preempt, queue, .. } = core;
    preempt.reserved.retain(|id, _| queue.contains(*id));
}

/// Run `id` started, ended or gave back what it held: it is no longer being preempted, and
/// nothing is held for it any more.
pub(crate) fn forget<R>(core: &mut Core<R>, id: RunId) {
    core.preempt.victims.remove(&id);
    core.preempt.reserved.remove(&id);
}

/// A preemptor whose room is free now (and that is within its project's quota): it starts
/// before the queue's next run, which may be another by then (so held room is never left
/// unused). Lowest id first.
pub(crate) fn ready<R>(core: &Core<R>) -> Option<(usize, RunId)> {
    let mut ids: Vec<RunId> = core.preempt.reserved.keys().copied().collect();
    ids.sort_unstable();
    ids.into_iter().find_map(|id| {
        let q = core.queue.get(id)?;
        let (free, free_gpus) = available_to(core, id);
        let fits = q.demand.fits_in(&free) && q.demand.gpus as usize <= free_gpus;
        (fits && core.over_quota(q.project, id).is_none()).then_some((q.project, id))
    })
}

/// Queued run `id`, the next to start, does not fit: with preemption on, decides
/// [`Decision::Preempt`] for the runs chosen to make room (see the module's docs) and holds
/// its demand back for it. Nothing when the victims chosen for it earlier still run.
pub(crate) fn plan<R: Clone>(core: &mut Core<R>, comm: &mut Comm<R>, id: RunId) {
    let Some(policy) = core.preempt.policy else {
        return;
    };
    if core.preempt.victims.values().any(|by| *by == id) {
        return;
    }
    let Some(q) = core.queue.get(id) else {
        return;
    };
    let (demand, priority) = (q.demand, q.key.0 .0);
    let too_large = !demand.fits_in(&core.total) || demand.gpus as usize > core.gpus.len();
    if too_large {
        return;
    }
    let (free, free_gpus) = available_to(core, id);
    let mut missing = demand.minus(&free);
    missing.gpus = demand
        .gpus
        .saturating_sub(free.gpus.min(u32::try_from(free_gpus).unwrap_or(u32::MAX)));
    let Some(chosen) = choose(core, priority, policy.min_runtime_ms, missing) else {
        return;
    };
    for victim in chosen {
        let route = core.running[&victim].route.clone();
        core.preempt.victims.insert(victim, id);
        comm.push(Decision::Preempt {
            id: victim,
            by: id,
            route,
            grace: policy.grace,
        });
    }
    core.preempt.reserved.insert(id, demand);
}

/// A candidate: its id, its place in the order (lowest first), what it frees, its size.
type Candidate = (RunId, (bool, u8, std::cmp::Reverse<i64>), Resources, f64);

/// The runs to stop so that `missing` is freed for a run of `priority`; `None` when the
/// candidates cannot free it (or nothing is missing).
fn choose<R>(
    core: &Core<R>,
    priority: u8,
    min_runtime_ms: i64,
    missing: Resources,
) -> Option<Vec<RunId>> {
    if missing == Resources::default() {
        return None;
    }
    let over = over_share(core);
    let mut candidates: Vec<Candidate> = core
        .running
        .iter()
        .filter(|(id, h)| {
            h.holds_host()
                && h.preemptible
                && h.priority < priority
                && core.now.saturating_sub(h.since) >= min_runtime_ms
                && !core.preempt.victims.contains_key(id)
        })
        .map(|(id, h)| {
            let frees = Resources {
                gpus: u32::try_from(h.gpus.len()).unwrap_or(u32::MAX),
                ..h.demand
            };
            let order = (!over[h.project], h.priority, std::cmp::Reverse(h.since));
            (*id, order, frees, dominant_share(h.demand, core.total))
        })
        .collect();
    // Ties broken by id, so that the choice never depends on the map's order.
    candidates.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(&b.0)));
    let mut chosen = Vec::new();
    let mut left = missing;
    while !candidates.is_empty() {
        // The best class left: over share or not, and priority.
        let class = (candidates[0].1 .0, candidates[0].1 .1);
        let same: Vec<usize> = (0..candidates.len())
            .filter(|&i| (candidates[i].1 .0, candidates[i].1 .1) == class)
            .collect();
        let alone = same
            .iter()
            .copied()
            .filter(|&i| left.fits_in(&candidates[i].2))
            .min_by(|&a, &b| candidates[a].3.total_cmp(&candidates[b].3));
        let pick = alone.unwrap_or_else(|| {
            same.iter()
                .copied()
                .max_by(|&a, &b| candidates[a].3.total_cmp(&candidates[b].3).then(b.cmp(&a)))
                .expect("a class has a candidate")
        });
        let (id, _, frees, _) = candidates.remove(pick);
        chosen.push(id);
        left = left.minus(&frees);
        if left == Resources::default() {
            return Some(chosen);
        }
    }
    None
}

/// Per project (by index), whether it holds more here than its weight's part of the
/// projects that run or wait here.
fn over_share<R>(core: &Core<R>) -> Vec<bool> {
    let active = |p: usize| core.projects[p].runs > 0 || core.queue.count_in(p) > 0;
    let weights: u64 = (0..core.projects.len())
        .filter(|p| active(*p))
        .map(|p| u64::from(core.projects[p].share.weight))
        .sum();
    (0..core.projects.len())
        .map(|p| {
            let entitled = f64::from(core.projects[p].share.weight) / weights.max(1) as f64;
            active(p) && core.projects[p].rate > entitled + 1e-9
        })
        .collect()
}
