//! The scheduler's state: this host's capacity, the queue of runs waiting for it, the
//! projects' shares and usage, and what runs and leases hold. Changed only by the handlers of
//! [`crate::reactor`]; read by anyone.

use crate::dep::{Dep, Group, NeverMet, Outcome};
use crate::fair::{self, Priority, Share, Usage};
use crate::pool::{Cap, Pool, PoolId};
use crate::preempt;
use crate::queue::Queue;
use crate::resources::Resources;
use crate::wait::{Wait, Why};
use std::collections::{HashMap, VecDeque};

/// The server's id of a run (its version id).
pub type RunId = i64;

/// The id of a lease: resources held outside the training queue (a visualization server).
pub type LeaseId = u64;

/// Where a run's capacity comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// This host: it waits in the queue until `demand` is free here.
    Here(Resources),
    /// A pool whose backend keeps a queue of its own (a Slurm partition, as
    /// [`Core::add_pool`] added it): the run waits in that pool's queue here until its
    /// project's quota and the pool's cap allow `demand` ([`crate::pool`]), then is handed
    /// over, holding nothing on this host.
    Pool(PoolId, Resources),
}

/// How a project's next run ranks for [`Core::pick`]: priority (reversed: higher first),
/// usage / weight, running share / weight, queue order; lowest first.
type Rank = (std::cmp::Reverse<Priority>, f64, f64, u64);

/// What a run asks of the queue besides its place: its project, its priority, and whether
/// its version waits (is in 7) already.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ticket {
    /// Its project's id.
    pub project: String,
    /// Its priority (1..=3; see [`crate::fair`]).
    pub priority: Priority,
    /// Its version is in 7 already.
    pub waiting: bool,
    /// The runs it waits for (none: it may start at once).
    pub after: Vec<Dep>,
    /// The group (sweep) it belongs to, whose limit it counts against.
    pub group: Option<Group>,
    /// Whether it may be preempted once it runs, when preemption is on (its pool allows it;
    /// default true): see [`crate::preempt`].
    pub preemptible: bool,
}

impl Default for Ticket {
    fn default() -> Self {
        Self {
            project: String::new(),
            priority: fair::LOWEST,
            waiting: false,
            after: Vec::new(),
            group: None,
            preemptible: true,
        }
    }
}

impl From<&str> for Ticket {
    /// A ticket of project `project` at the lowest priority.
    fn from(project: &str) -> Self {
        Self {
            project: project.to_owned(),
            ..Self::default()
        }
    }
}

impl From<bool> for Ticket {
    /// A ticket of the unnamed project at the lowest priority, `waiting` as given.
    fn from(waiting: bool) -> Self {
        Self {
            waiting,
            ..Self::default()
        }
    }
}

/// What a run being started, or running, holds until its end is reported.
#[derive(Clone, Debug)]
pub(crate) struct Held<R> {
    pub(crate) demand: Resources,
    pub(crate) gpus: Vec<u32>,
    pub(crate) route: R,
    pub(crate) project: usize,
    /// The pool it was handed to; none: it holds capacity here (and counts against its
    /// project's share here).
    pub(crate) pool: Option<PoolId>,
    /// Its group, whose limit it counts against.
    pub(crate) group: Option<i64>,
    /// Its priority, when it was (last) started, ms, and whether it may be preempted: what
    /// preemption looks at.
    pub(crate) priority: Priority,
    pub(crate) since: i64,
    pub(crate) preemptible: bool,
    /// Its workers are gone ([`crate::reactor::on_reaped`]) and its end is not recorded yet:
    /// its demand and GPUs here are free again, while it still counts against its group's
    /// limit, its project's quota and share, and as running.
    pub(crate) reaped: bool,
}

/// A run held back before the queue: a parent of it has not ended, or its group is at its
/// limit. It joins the queue (or its backend) once neither holds.
#[derive(Clone, Debug)]
pub(crate) struct Blocked<R> {
    pub(crate) id: RunId,
    pub(crate) place: Place,
    pub(crate) ticket: Ticket,
    pub(crate) route: R,
    /// Each dependency with its parent's outcome once known.
    pub(crate) deps: Vec<(Dep, Option<Outcome>)>,
    /// Its version is in 7 (or the decision to move it there was made).
    pub(crate) marked_waiting: bool,
}

impl<R> Blocked<R> {
    /// The first dependency whose parent ended in a way that never lets it start.
    pub(crate) fn never_met(&self) -> Option<NeverMet> {
        self.deps.iter().find_map(|(dep, outcome)| {
            let outcome = (*outcome)?;
            (!dep.kind.met_by(outcome)).then_some(NeverMet { dep: *dep, outcome })
        })
    }

    /// The first dependency whose parent has not ended.
    pub(crate) fn pending_parent(&self) -> Option<Dep> {
        self.deps
            .iter()
            .find(|(_, outcome)| outcome.is_none())
            .map(|(dep, _)| *dep)
    }
}

/// A project as the scheduler sees it: its share and what it holds and used.
#[derive(Clone, Debug)]
pub(crate) struct Project {
    pub(crate) id: String,
    pub(crate) share: Share,
    /// What its runs here hold now, and how many they are.
    pub(crate) held: Resources,
    pub(crate) runs: u32,
    /// Its decaying usage (dominant share × ms), growing at [`Self::rate`].
    pub(crate) usage: Usage,
    /// The dominant share its runs here hold now (the rate its usage grows at).
    pub(crate) rate: f64,
    /// What its runs handed to pools hold, and how many they are (its quota counts them).
    pub(crate) pooled: Resources,
    pub(crate) pooled_runs: u32,
}

impl<R> Held<R> {
    /// Whether it holds capacity on this host.
    pub(crate) fn here(&self) -> bool {
        self.pool.is_none()
    }

    /// Whether it holds this host's capacity now: it holds it here and its workers were not
    /// reaped yet.
    pub(crate) fn holds_host(&self) -> bool {
        self.here() && !self.reaped
    }
}

/// The scheduler's state. `R` is the driver's route to a run (its backend and run directory,
/// say): the core keeps it with the run and hands it back in the decisions that need it,
/// and never looks inside.
#[derive(Clone, Debug)]
pub struct Core<R> {
    pub(crate) total: Resources,
    /// What runs and leases hold now; may exceed the total after a restart that found more
    /// running than fits (or a smaller configuration). Free is derived from it, never kept
    /// apart, so taking and giving back can never drift.
    pub(crate) used: Resources,
    /// The GPU indices configured.
    pub(crate) gpus: Vec<u32>,
    /// GPU indices nobody holds, handed out from the front.
    pub(crate) free_gpus: Vec<u32>,
    /// Runs waiting for this host's capacity, per project.
    pub(crate) queue: Queue<R>,
    /// Queued runs not marked waiting yet (some may have left the queue since).
    pub(crate) unmarked: Vec<RunId>,
    /// The projects seen, by index; `project_index` finds them by id.
    pub(crate) projects: Vec<Project>,
    pub(crate) project_index: HashMap<String, usize>,
    /// How fast usage decays (none: never).
    pub(crate) half_life_ms: Option<i64>,
    /// The driver's clock, ms: the latest time it passed in ([`crate::reactor::on_clock`]).
    pub(crate) now: i64,
    /// Runs started (or found running after a restart) and not reported ended.
    pub(crate) running: HashMap<RunId, Held<R>>,
    /// Leases waiting for capacity; served before the queue, first come first served.
    pub(crate) lease_queue: VecDeque<(LeaseId, Resources)>,
    /// Leases granted and not released.
    pub(crate) leases: HashMap<LeaseId, Resources>,
    /// Runs held back before the queue (see [`Blocked`]), first come first.
    pub(crate) blocked: Vec<Blocked<R>>,
    /// Preemption's policy (none: off) and what it holds back ([`crate::preempt`]).
    pub(crate) preempt: preempt::State,
    /// The pools with queues of their own, by [`PoolId`].
    pub(crate) pools: Vec<Pool<R>>,
}

impl<R> Core<R> {
    /// An empty core: nothing queued or held, `total` to hand out, `gpus` its GPU indices.
    pub fn new(total: Resources, gpus: Vec<u32>) -> Self {
        Self {
            total,
            used: Resources::default(),
            free_gpus: gpus.clone(),
            gpus,
            queue: Queue::default(),
            unmarked: Vec::new(),
            projects: Vec::new(),
            project_index: HashMap::new(),
            half_life_ms: None,
            now: 0,
            running: HashMap::new(),
            lease_queue: VecDeque::new(),
            leases: HashMap::new(),
            blocked: Vec::new(),
            preempt: preempt::State::default(),
            pools: Vec::new(),
        }
    }

    /// Adds a pool whose backend keeps a queue of its own, named `name` (in the reasons its
    /// runs wait), that may have `cap` submitted at once; runs name it in
    /// [`Place::Pool`] by the id returned.
    pub fn add_pool(&mut self, name: &str, cap: Cap) -> PoolId {
        self.pools.push(Pool::new(name, cap));
        self.pools.len() - 1
    }

    /// Turns preemption on with `policy` (none: off, the default); see [`crate::preempt`].
    pub fn with_preemption(mut self, policy: Option<preempt::Policy>) -> Self {
        self.preempt.policy = policy;
        self
    }

    /// The queued run that run `id` is being stopped for, while it is.
    pub fn preempted_for(&self, id: RunId) -> Option<RunId> {
        self.preempt.victims.get(&id).copied()
    }

    /// What is held back for queued run `id` while the runs preempted for it end.
    pub fn reserved_for(&self, id: RunId) -> Option<Resources> {
        self.preempt.reserved.get(&id).copied()
    }

    /// Sets how fast projects' usage decays: it halves every `half_life_ms` (none or not
    /// positive: it never decays).
    pub fn with_half_life(mut self, half_life_ms: Option<i64>) -> Self {
        self.half_life_ms = half_life_ms.filter(|h| *h > 0);
        self
    }

    /// Starts each project of `usage` from that usage (its past runs', see
    /// [`fair::past_usage`]) rather than from zero: what a restart would otherwise forget.
    /// For a core that holds nothing yet.
    pub fn with_past_usage(mut self, usage: impl IntoIterator<Item = (String, Usage)>) -> Self {
        for (id, u) in usage {
            let p = self.project(&id);
            self.projects[p].usage = u;
        }
        self
    }

    /// Sets project `id`'s weight and quota (a project never set has weight 1 and no quota).
    pub fn set_share(&mut self, id: &str, share: Share) {
        let p = self.project(id);
        self.projects[p].share = Share {
            weight: share.weight.max(1),
            quota: share.quota,
        };
    }

    /// The index of project `id`, added when new.
    pub(crate) fn project(&mut self, id: &str) -> usize {
        if let Some(p) = self.project_index.get(id) {
            return *p;
        }
        let p = self.projects.len();
        self.projects.push(Project {
            id: id.to_owned(),
            share: Share::default(),
            held: Resources::default(),
            runs: 0,
            usage: Usage::default(),
            rate: 0.0,
            pooled: Resources::default(),
            pooled_runs: 0,
        });
        self.project_index.insert(id.to_owned(), p);
        p
    }

    /// Project `p`'s usage now.
    pub(crate) fn usage_of(&self, p: usize) -> f64 {
        let project = &self.projects[p];
        project.usage.at(self.now, project.rate, self.half_life_ms)
    }

    /// Project `id`'s usage now, in dominant share × ms (0 for a project never seen).
    pub fn usage(&self, id: &str) -> f64 {
        self.project_index
            .get(id)
            .map_or(0.0, |p| self.usage_of(*p))
    }

    /// How many runs of project `id` wait in the queue.
    pub fn queued_in(&self, id: &str) -> u64 {
        self.project_index
            .get(id)
            .map_or(0, |p| self.queue.count_in(*p))
    }

    /// What project `id`'s runs here hold now, and how many they are.
    pub fn held_in(&self, id: &str) -> (Resources, u32) {
        self.project_index
            .get(id)
            .map_or((Resources::default(), 0), |p| {
                (self.projects[*p].held, self.projects[*p].runs)
            })
    }

    /// The project whose next run goes first on this host, and that run: among projects
    /// whose next run is within their quota, highest priority, then lowest usage / weight,
    /// then lowest running share / weight, then queued first (see [`crate::fair`]).
    /// O(projects).
    pub(crate) fn pick(&self) -> Option<(usize, RunId)> {
        self.pick_from(&self.queue, |p| (self.usage_of(p), self.projects[p].rate))
    }

    /// As [`Self::pick`], in pool `pool`'s queue, by the projects' usage and share there.
    pub(crate) fn pick_in(&self, pool: PoolId) -> Option<(usize, RunId)> {
        let pl = &self.pools[pool];
        self.pick_from(&pl.queue, |p| {
            (
                pl.usage_of(p, self.now, self.half_life_ms),
                pl.holding(p).rate,
            )
        })
    }

    /// The rule of [`Self::pick`] over `queue`, `standing` giving a project's usage and
    /// running share there.
    fn pick_from(
        &self,
        queue: &Queue<R>,
        standing: impl Fn(usize) -> (f64, f64),
    ) -> Option<(usize, RunId)> {
        let mut best: Option<(Rank, usize, RunId)> = None;
        for p in queue.projects() {
            let (key, id) = queue.head(p).expect("a project with runs has a head");
            let demand = queue.get(id).expect("a head is queued").demand;
            if self.exceeds_quota(p, demand).is_some() {
                continue;
            }
            let (usage, rate) = standing(p);
            let weight = f64::from(self.projects[p].share.weight);
            let rank = (key.0, usage / weight, rate / weight, key.1);
            let better = match &best {
                None => true,
                Some((b, _, _)) => rank
                    .0
                    .cmp(&b.0)
                    .then(rank.1.total_cmp(&b.1))
                    .then(rank.2.total_cmp(&b.2))
                    .then(rank.3.cmp(&b.3))
                    .is_lt(),
            };
            if better {
                best = Some((rank, p, id));
            }
        }
        best.map(|(_, p, id)| (p, id))
    }

    /// The quota queued run `id` of project `p` would exceed if it started on this host now.
    pub(crate) fn over_quota(&self, p: usize, id: RunId) -> Option<fair::Limit> {
        self.exceeds_quota(p, self.queue.get(id)?.demand)
    }

    /// The quota a run of project `p` needing `demand` would exceed: what its runs hold on
    /// this host and on every pool counts.
    pub(crate) fn exceeds_quota(&self, p: usize, demand: Resources) -> Option<fair::Limit> {
        let project = &self.projects[p];
        project.share.quota.exceeded_by(
            project.held.plus(&project.pooled),
            project.runs + project.pooled_runs,
            demand,
        )
    }

    /// The queue that run `id` waits in: this host's, or its pool's (with the pool).
    fn queue_of(&self, id: RunId) -> Option<(Option<PoolId>, &Queue<R>)> {
        if self.queue.contains(id) {
            return Some((None, &self.queue));
        }
        self.pools
            .iter()
            .enumerate()
            .find(|(_, pl)| pl.queue.contains(id))
            .map(|(i, pl)| (Some(i), &pl.queue))
    }

    /// The queue that run `id` waits in, to change it.
    pub(crate) fn queue_of_mut(&mut self, id: RunId) -> Option<&mut Queue<R>> {
        if self.queue.contains(id) {
            return Some(&mut self.queue);
        }
        self.pools
            .iter_mut()
            .map(|pl| &mut pl.queue)
            .find(|queue| queue.contains(id))
    }

    /// Why queued run `id` waits and how many runs are ahead of it; `None` when it is not
    /// queued. Costs the length of its project's queue ahead of it plus O(projects).
    pub fn wait(&self, id: RunId) -> Option<Wait> {
        if let Some(b) = self.blocked_run(id) {
            let why = match (b.pending_parent(), b.ticket.group) {
                (Some(dep), _) => Why::Parent(dep),
                (None, Some(group)) => Why::Group(group),
                // Released by the next scheduling pass.
                (None, None) => Why::Behind,
            };
            return Some(Wait { ahead: 0, why });
        }
        let (pool, queue) = self.queue_of(id)?;
        let q = queue.get(id)?;
        let p = q.project;
        let priority = q.key.0 .0;
        let ahead = queue.ahead_in(p, q.key) + queue.above_elsewhere(p, priority);
        let why = if let Some(limit) = self.exceeds_quota(p, q.demand) {
            Why::Quota(limit)
        } else if queue.head(p).map(|(_, head)| head) != Some(id) {
            Why::Behind
        } else {
            let next = match pool {
                None => self.pick(),
                Some(pool) => self.pick_in(pool),
            };
            match next {
                Some((_, next)) if next == id => match pool {
                    None => Why::Capacity(self.missing(q.demand)),
                    Some(pool) => {
                        let pl = &self.pools[pool];
                        match pl.full_for(q.demand) {
                            Some(limit) => Why::PoolCap {
                                pool: pl.name.clone(),
                                limit,
                            },
                            // Submitted by the next scheduling pass.
                            None => Why::Behind,
                        }
                    }
                },
                Some((other, _)) if queue.head(other).map(|(k, _)| k.0 .0) > Some(priority) => {
                    Why::Behind
                }
                _ => Why::FairShare,
            }
        };
        Some(Wait { ahead, why })
    }

    /// What is missing here for `demand` to fit: cores, memory and GPUs beyond what is free
    /// (GPUs counted as free indices).
    fn missing(&self, demand: Resources) -> Resources {
        let free = self.free();
        let free_gpus = u32::try_from(self.free_gpus.len()).unwrap_or(u32::MAX);
        Resources {
            cores: demand.cores.saturating_sub(free.cores),
            memory_gb: demand.memory_gb.saturating_sub(free.memory_gb),
            gpus: demand.gpus.saturating_sub(free.gpus.min(free_gpus)),
        }
    }

    /// All there is.
    pub fn total(&self) -> Resources {
        self.total
    }

    /// What runs and leases hold (may exceed [`Self::total`], see [`crate::reactor::on_adopt`]).
    pub fn used(&self) -> Resources {
        self.used
    }

    /// The total less what is held (nothing when more is held than there is).
    pub fn free(&self) -> Resources {
        self.total.minus(&self.used)
    }

    /// GPU indices free now, in the order they are handed out.
    pub fn free_gpus(&self) -> &[u32] {
        &self.free_gpus
    }

    /// Whether run `id` waits in the queue or holds capacity (is being started or runs).
    pub fn knows(&self, id: RunId) -> bool {
        self.is_queued(id) || self.running.contains_key(&id)
    }

    /// Whether run `id` waits: in the queue, or held back before it.
    pub fn is_queued(&self, id: RunId) -> bool {
        self.queue_of(id).is_some() || self.is_blocked(id)
    }

    /// Whether run `id` is held back before the queue: a parent of it has not ended, or its
    /// group is at its limit.
    pub fn is_blocked(&self, id: RunId) -> bool {
        self.blocked_run(id).is_some()
    }

    pub(crate) fn blocked_run(&self, id: RunId) -> Option<&Blocked<R>> {
        self.blocked.iter().find(|b| b.id == id)
    }

    /// The runs held back before the queue, first come first.
    pub fn blocked(&self) -> impl Iterator<Item = RunId> + '_ {
        self.blocked.iter().map(|b| b.id)
    }

    /// The parents that runs held back wait for (each once).
    pub fn awaited_parents(&self) -> Vec<RunId> {
        let mut parents: Vec<RunId> = self
            .blocked
            .iter()
            .flat_map(|b| {
                b.deps
                    .iter()
                    .filter(|(_, o)| o.is_none())
                    .map(|(d, _)| d.run)
            })
            .collect();
        parents.sort_unstable();
        parents.dedup();
        parents
    }

    /// How many runs of group `group` are queued for capacity or hold it (are being
    /// started or run): what its limit bounds. O(queued + running).
    pub fn group_active(&self, group: i64) -> u32 {
        let queued: usize = self
            .queues()
            .map(|queue| {
                queue
                    .ids()
                    .filter(|id| queue.get(*id).is_some_and(|q| q.group == Some(group)))
                    .count()
            })
            .sum();
        let running = self
            .running
            .values()
            .filter(|h| h.group == Some(group))
            .count();
        u32::try_from(queued + running).unwrap_or(u32::MAX)
    }

    /// Whether run `id` is being started or runs.
    pub fn is_running(&self, id: RunId) -> bool {
        self.running.contains_key(&id)
    }

    /// The runs waiting (in the queue or held back before it), in no particular order.
    pub fn queued(&self) -> impl Iterator<Item = RunId> + '_ {
        self.queues().flat_map(Queue::ids).chain(self.blocked())
    }

    /// This host's queue, then each pool's.
    fn queues(&self) -> impl Iterator<Item = &Queue<R>> + '_ {
        std::iter::once(&self.queue).chain(self.pools.iter().map(|pl| &pl.queue))
    }

    /// How many runs wait in the queues (this host's and the pools').
    pub fn queue_len(&self) -> usize {
        self.queues().map(Queue::len).sum()
    }

    /// The priority of queued run `id`.
    pub fn priority_of(&self, id: RunId) -> Option<Priority> {
        if let Some(b) = self.blocked_run(id) {
            return Some(b.ticket.priority);
        }
        let (_, queue) = self.queue_of(id)?;
        queue.get(id).map(|q| q.key.0 .0)
    }

    /// The runs being started or running.
    pub fn running(&self) -> impl Iterator<Item = RunId> + '_ {
        self.running.keys().copied()
    }

    /// The leases granted and not released.
    pub fn granted(&self) -> impl Iterator<Item = LeaseId> + '_ {
        self.leases.keys().copied()
    }

    /// Whether run `id` runs (or is being started) and its workers were not reaped yet.
    pub fn holds_host(&self, id: RunId) -> bool {
        self.running.get(&id).is_some_and(Held::holds_host)
    }

    /// What run `id` holds: its demand and GPUs, while it is being started or runs.
    pub fn held_by(&self, id: RunId) -> Option<(Resources, &[u32])> {
        self.running.get(&id).map(|h| (h.demand, &h.gpus[..]))
    }

    /// What lease `id` holds, once granted.
    pub fn lease(&self, id: LeaseId) -> Option<Resources> {
        self.leases.get(&id).copied()
    }

    /// Whether lease `id` waits for capacity.
    pub fn lease_waits(&self, id: LeaseId) -> bool {
        self.lease_queue.iter().any(|(l, _)| *l == id)
    }

    /// What the running runs that `which` selects hold together, and how many they are.
    fn held_on(&self, which: impl Fn(&Held<R>) -> bool) -> (Resources, u32) {
        self.running
            .values()
            .filter(|h| which(h))
            .fold((Resources::default(), 0), |(sum, n), h| {
                (sum.plus(&h.demand), n + 1)
            })
    }

    /// Checks the bookkeeping: `used` is exactly what runs (those not reaped) and leases hold,
    /// no GPU is both free and held or held twice, only configured GPUs are free, a reaped
    /// run holds no GPU, and nothing waits twice. For tests and debug checks.
    pub fn check(&self) -> Result<(), String> {
        if let Some((id, _)) = self
            .running
            .iter()
            .find(|(_, h)| h.reaped && !h.gpus.is_empty())
        {
            return Err(format!("run {id} was reaped and still holds GPUs"));
        }
        let held = self
            .running
            .values()
            .filter(|h| h.holds_host())
            .map(|h| h.demand)
            .chain(self.leases.values().copied())
            .fold(Resources::default(), |sum, d| sum.plus(&d));
        if held != self.used {
            return Err(format!("used {:?} but held {held:?}", self.used));
        }
        let mut gpus: Vec<u32> = self
            .running
            .values()
            .flat_map(|h| h.gpus.iter().copied())
            .chain(self.free_gpus.iter().copied())
            .collect();
        gpus.sort_unstable();
        if let Some(w) = gpus.windows(2).find(|w| w[0] == w[1]) {
            return Err(format!("GPU {} is counted twice", w[0]));
        }
        if let Some(g) = self.free_gpus.iter().find(|g| !self.gpus.contains(g)) {
            return Err(format!("GPU {g} is free but not configured"));
        }
        for queue in self.queues() {
            queue.check()?;
        }
        if let Some(b) = self.blocked.iter().find(|b| self.queue_of(b.id).is_some()) {
            return Err(format!("run {} is held back and queued", b.id));
        }
        let mut ids: Vec<RunId> = self.queues().flat_map(Queue::ids).collect();
        ids.sort_unstable();
        if let Some(w) = ids.windows(2).find(|w| w[0] == w[1]) {
            return Err(format!("run {} is in two queues", w[0]));
        }
        if self.queued().any(|id| self.is_running(id)) {
            return Err("a run is queued and running".to_owned());
        }
        for (p, project) in self.projects.iter().enumerate() {
            let (held, runs) = self
                .running
                .values()
                .filter(|h| h.here() && h.project == p)
                .fold((Resources::default(), 0), |(sum, n), h| {
                    (sum.plus(&h.demand), n + 1)
                });
            if (held, runs) != (project.held, project.runs) {
                return Err(format!(
                    "project {} holds {held:?} in {runs} runs, but counts {:?} in {}",
                    project.id, project.held, project.runs
                ));
            }
            let (pooled, pooled_runs) = self.held_on(|h| h.pool.is_some() && h.project == p);
            if (pooled, pooled_runs) != (project.pooled, project.pooled_runs) {
                return Err(format!(
                    "project {} holds {pooled:?} in {pooled_runs} runs on pools, but counts {:?} in {}",
                    project.id, project.pooled, project.pooled_runs
                ));
            }
        }
        for (i, pl) in self.pools.iter().enumerate() {
            let (held, runs) = self.held_on(|h| h.pool == Some(i));
            if (held, runs) != (pl.held, pl.runs) {
                return Err(format!(
                    "pool {} has {held:?} in {runs} runs, but counts {:?} in {}",
                    pl.name, pl.held, pl.runs
                ));
            }
            for p in 0..self.projects.len() {
                let (held, runs) = self.held_on(|h| h.pool == Some(i) && h.project == p);
                let h = pl.holding(p);
                if (held, runs) != (h.held, h.runs) {
                    return Err(format!(
                        "project {} holds {held:?} in {runs} runs on pool {}, but counts {:?} in {}",
                        self.projects[p].id, pl.name, h.held, h.runs
                    ));
                }
            }
        }
        if let Some((l, _)) = self
            .lease_queue
            .iter()
            .find(|(l, _)| self.leases.contains_key(l))
        {
            return Err(format!("lease {l} waits and is granted"));
        }
        Ok(())
    }
}
