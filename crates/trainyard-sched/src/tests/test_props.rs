//! Random sequences of events, played through the handlers and the status tables the way the
//! executor and the lifecycle owner play them: no sequence hands out more than exists or more
//! than a project's quota, leaves a run waiting that could start, or moves a terminal status;
//! no run starts before its parents ended in a way that lets it, none waits for a parent
//! that ended, and no group has more runs running than its limit.
//! with preemption on, no run is preempted before its minimum runtime or by a run of its
//! priority or lower (so no two runs preempt each other in turn). Runs go to this host or to
//! one of two pools with queues of their own: a project's quota counts its runs everywhere,
//! and no pool is handed more than its cap (but for one run alone).

use super::utils::res;
use crate::dep::{Dep, Group, Kind, Outcome};
use crate::fair::{Quota, Share};
use crate::pool::Cap;
use crate::reactor::{
    on_acquire, on_adopt, on_ended, on_enqueue, on_release, on_start_refused, on_stop, on_sweep,
    schedule,
};
use crate::reactor::{on_adopt_group, on_clock, on_parent_end, on_priority, on_reaped};
use crate::run::{admit, recover, Admission, Recovery, MAY_RUN, QUEUED};
use crate::status::{end, next, End, Exit, Step, ENDS_FROM};
use crate::wait::{Wait, Why};
use crate::{Comm, Core, Decision, Place, Resources, RunId, Ticket};
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use trainyard_api::JobStatus;

const RUNS: i64 = 6;
const GPUS: u32 = 3;

fn total() -> Resources {
    res(6, 12, GPUS)
}

/// Even runs are project `a`'s, odd ones `b`'s.
fn project_of(id: RunId) -> &'static str {
    if id % 2 == 0 {
        "a"
    } else {
        "b"
    }
}

/// Project `a` weighs 2 and may hold 3 cores, 1 GPU and 2 runs; `b` weighs 1, no quota.
fn quota_of_a() -> Quota {
    Quota {
        cores: Some(3),
        memory_gb: None,
        gpus: Some(1),
        running: Some(2),
    }
}

/// The dependencies: 3 after 1 completed, 5 after 3 completed and 2 failed, 6 after 2.
fn deps_of(id: RunId) -> Vec<Dep> {
    let dep = |run, kind| Dep {
        job: run,
        run,
        kind,
    };
    match id {
        3 => vec![dep(1, Kind::AfterOk)],
        5 => vec![dep(3, Kind::AfterOk), dep(2, Kind::AfterFailed)],
        6 => vec![dep(2, Kind::AfterAny)],
        _ => vec![],
    }
}

/// Runs 2 and 4 are a group of which one runs at a time.
const GROUP: Group = Group { id: 1, limit: 1 };

fn group_of(id: RunId) -> Option<Group> {
    matches!(id, 2 | 4).then_some(GROUP)
}

/// Whether run `id`'s pool lets it be preempted: every third run's does not.
fn preemptible_of(id: RunId) -> bool {
    id % 3 != 0
}

/// The pools' caps: pool 0 takes 2 runs at once, pool 1 3 cores.
const CAPS: [Cap; 2] = [
    Cap {
        runs: Some(2),
        cores: None,
    },
    Cap {
        runs: None,
        cores: Some(3),
    },
];

/// The minimum runtime before a run may be preempted, when preemption is on.
const MIN_RUNTIME_MS: i64 = 100;

fn new_core(preemption: bool) -> Core<RunId> {
    let policy = crate::preempt::Policy {
        min_runtime_ms: MIN_RUNTIME_MS,
        grace: Duration::from_secs(1),
    };
    let mut core = Core::new(total(), (0..GPUS).collect())
        .with_half_life(Some(1_000))
        .with_preemption(preemption.then_some(policy));
    core.set_share(
        "a",
        Share {
            weight: 2,
            quota: quota_of_a(),
        },
    );
    for (i, cap) in CAPS.into_iter().enumerate() {
        assert_eq!(core.add_pool(&format!("pool{i}"), cap), i);
    }
    core
}

#[derive(Clone, Debug)]
enum Event {
    /// The API (or a sweep) tells the executor about a version.
    Enqueue(RunId),
    /// A user stops a version: 9 if stoppable, then the executor is told.
    Stop(RunId),
    /// The backend launched the run (`queued`: its own queue took it).
    Launched(RunId, bool),
    /// The backend saw a queued run start.
    SeenRunning(RunId),
    /// Preparing or submitting the run failed.
    StartFailed(RunId),
    /// The run's workers are gone; its end is not recorded yet.
    Reaped(RunId),
    /// The run ended (its end is recorded).
    Ended(RunId, u8, bool),
    /// The server restarts: a new core adopts the runs its backends find (bit `i` of
    /// `found`: run `i + 1` is found) with some GPUs (`gpus`' bits), and queues the rest again.
    Restart(u8, u8),
    /// A sweep saw these versions in 9.
    Sweep,
    /// A late or stray report (another server's, a backend's after a restart) of a step of a
    /// version this executor does not hold.
    Stray(RunId, usize),
    Acquire(u64, Resources, bool),
    Release(u64),
    /// The clock moves on by this many ms.
    Clock(u16),
    /// A user changes a run's priority.
    Priority(RunId, u8),
}

fn resources() -> impl Strategy<Value = Resources> {
    (0..=4u32, 0..=8u32, 0..=2u32).prop_map(|(c, m, g)| res(c, m, g))
}

fn event() -> impl Strategy<Value = Event> {
    let run = 1..=RUNS;
    prop_oneof![
        4 => run.clone().prop_map(Event::Enqueue),
        2 => run.clone().prop_map(Event::Stop),
        2 => (run.clone(), any::<bool>()).prop_map(|(r, q)| Event::Launched(r, q)),
        1 => run.clone().prop_map(Event::SeenRunning),
        1 => run.clone().prop_map(Event::StartFailed),
        2 => run.clone().prop_map(Event::Reaped),
        3 => (run.clone(), 0..9u8, any::<bool>()).prop_map(|(r, e, t)| Event::Ended(r, e, t)),
        1 => (any::<u8>(), any::<u8>()).prop_map(|(f, g)| Event::Restart(f, g)),
        1 => Just(Event::Sweep),
        2 => (1..=RUNS, 0..Step::ALL.len()).prop_map(|(r, s)| Event::Stray(r, s)),
        2 => (0..4u64, resources(), proptest::bool::weighted(0.2))
            .prop_map(|(l, n, f)| Event::Acquire(l, n, f)),
        2 => (0..4u64).prop_map(Event::Release),
        2 => any::<u16>().prop_map(Event::Clock),
        1 => (run.clone(), 1..=3u8).prop_map(|(r, p)| Event::Priority(r, p)),
    ]
}

fn exit(kind: u8) -> Exit {
    match kind {
        0 => Exit::Succeeded,
        1 => Exit::Failed {
            worker: 0,
            exit_code: Some(1),
            signal: None,
        },
        2 => Exit::Failed {
            worker: 1,
            exit_code: None,
            signal: Some(15),
        },
        3 => Exit::Stopped,
        4 => Exit::SpawnFailed("spawn".to_owned()),
        5 => Exit::UploadFailed("upload".to_owned()),
        6 => Exit::LogLimit("log".to_owned()),
        _ => Exit::Lost,
    }
}

/// The versions' statuses, the core, and what the test knows was forced on it.
struct World {
    status: BTreeMap<RunId, JobStatus>,
    demand: BTreeMap<RunId, Place>,
    priority: BTreeMap<RunId, u8>,
    now: i64,
    core: Core<RunId>,
    comm: Comm<RunId>,
    /// Runs adopted and leases acquired with force: they may exceed the total.
    forced_runs: BTreeSet<RunId>,
    forced_leases: BTreeSet<u64>,
    /// Leases whose holder was told it has them.
    told: BTreeSet<u64>,
    preemption: bool,
    /// When each run last started, at which priority.
    started: BTreeMap<RunId, (i64, u8)>,
    /// Runs being preempted, and versions (8) queued for the next attempt after one.
    preempted: BTreeSet<RunId>,
    requeued: BTreeSet<RunId>,
}

impl World {
    fn new(places: Vec<Place>, priorities: Vec<u8>, preemption: bool) -> Self {
        Self {
            status: (1..=RUNS).map(|id| (id, JobStatus::INIT)).collect(),
            demand: (1..=RUNS).zip(places).collect(),
            priority: (1..=RUNS).zip(priorities).collect(),
            now: 0,
            core: new_core(preemption),
            comm: Comm::new(),
            forced_runs: BTreeSet::new(),
            forced_leases: BTreeSet::new(),
            told: BTreeSet::new(),
            preemption,
            started: BTreeMap::new(),
            preempted: BTreeSet::new(),
            requeued: BTreeSet::new(),
        }
    }

    /// The lifecycle owner's compare-and-set: `step` moves the version if it applies.
    fn step(&mut self, id: RunId, step: Step) -> bool {
        let s = self.status[&id];
        match next(s, step) {
            Some(to) => {
                self.set(id, to);
                true
            }
            None => false,
        }
    }

    fn set(&mut self, id: RunId, to: JobStatus) {
        let from = self.status[&id];
        assert!(
            !from.is_terminal() || from == to,
            "version {id} moved from terminal {} to {}",
            from.name(),
            to.name()
        );
        self.status.insert(id, to);
        // The lifecycle owner tells the executor of every end; it tells the core.
        if let (None, Some(outcome)) = (Outcome::of(from), Outcome::of(to)) {
            on_parent_end(&mut self.core, &mut self.comm, id, outcome);
        }
    }

    /// The executor actor: carries the decisions out, scheduling until nothing is decided.
    fn drive(&mut self) {
        loop {
            while let Some(d) = self.comm.pop() {
                match d {
                    Decision::Start { id, gpus, route } => {
                        assert_eq!(route, id);
                        for dep in deps_of(id) {
                            // Written out, not asked of `Kind::met_by`, which this checks.
                            let s = self.status[&dep.run];
                            let ended = s.is_terminal() && s != JobStatus::UNKNOWN;
                            let met = match dep.kind {
                                Kind::AfterOk => s == JobStatus::COMPLETED,
                                Kind::AfterAny => ended,
                                Kind::AfterFailed => ended && s != JobStatus::COMPLETED,
                            };
                            assert!(
                                met,
                                "{id} starts while its parent {} is {:?}",
                                dep.run, self.status[&dep.run]
                            );
                        }
                        let (_, held) = self.core.held_by(id).expect("a start holds");
                        assert_eq!(held, &gpus[..]);
                        self.started.insert(id, (self.now, self.priority[&id]));
                        // A next attempt after a preemption was claimed when queued.
                        if !self.requeued.remove(&id) && !self.step(id, Step::BeginStart) {
                            on_start_refused(&mut self.core, &mut self.comm, id);
                        }
                    }
                    Decision::MarkWaiting { id } => {
                        assert!(self.core.is_queued(id));
                        self.step(id, Step::MarkWaiting);
                    }
                    Decision::StopRun { id, .. } => assert!(self.core.is_running(id)),
                    Decision::Preempt { id, by, .. } => {
                        assert!(self.preemption, "preempted with preemption off");
                        assert!(preemptible_of(id), "{id} preempted, its pool forbids it");
                        assert!(self.core.is_running(id) && self.core.is_queued(by));
                        let (since, priority) = self.started[&id];
                        let by_priority = self.core.priority_of(by).expect("queued");
                        assert!(priority < by_priority, "{id} preempted by {by}");
                        assert!(self.now - since >= MIN_RUNTIME_MS, "{id} preempted early");
                        self.preempted.insert(id);
                    }
                    Decision::StoppedBeforeStart { id } => {
                        assert!(!self.core.knows(id));
                        self.requeued.remove(&id);
                        self.step(id, Step::StoppedBeforeStart);
                    }
                    Decision::DependencyNeverMet { id, why } => {
                        assert!(!self.core.knows(id));
                        assert!(deps_of(id).contains(&why.dep));
                        assert_eq!(Outcome::of(self.status[&why.dep.run]), Some(why.outcome));
                        self.step(id, Step::DependencyNeverMet);
                    }
                    Decision::Grant { lease } => {
                        assert!(self.core.lease(lease).is_some());
                        self.told.insert(lease);
                    }
                }
            }
            schedule(&mut self.core, &mut self.comm);
            if self.comm.is_empty() {
                break;
            }
        }
    }

    fn apply_enqueue(&mut self, id: RunId) {
        let s = self.status[&id];
        if admit(s, false, 0, || true) == Admission::Queue {
            let place = self.demand[&id];
            let ticket = Ticket {
                project: project_of(id).to_owned(),
                priority: self.priority[&id],
                waiting: s == JobStatus::WAITING,
                after: deps_of(id),
                group: group_of(id),
                preemptible: preemptible_of(id),
            };
            on_enqueue(&mut self.core, &mut self.comm, id, place, ticket, id);
            // As the executor does: parents that ended already are told at once.
            for dep in deps_of(id) {
                if let Some(outcome) = Outcome::of(self.status[&dep.run]) {
                    on_parent_end(&mut self.core, &mut self.comm, dep.run, outcome);
                }
            }
        }
    }

    /// Queues the next attempt of preempted version `id` (it stays 8).
    fn requeue(&mut self, id: RunId) {
        // Its parents let it start once already; its group still limits it.
        let ticket = Ticket {
            project: project_of(id).to_owned(),
            priority: self.priority[&id],
            group: group_of(id),
            preemptible: preemptible_of(id),
            ..Ticket::default()
        };
        let place = self.demand[&id];
        self.requeued.insert(id);
        on_enqueue(&mut self.core, &mut self.comm, id, place, ticket, id);
    }

    fn apply(&mut self, event: Event) {
        match event {
            Event::Enqueue(id) => self.apply_enqueue(id),
            Event::Stop(id) if self.step(id, Step::BeginStop) => {
                let grace = Duration::from_secs(1);
                on_stop(&mut self.core, &mut self.comm, id, grace);
            }
            Event::Launched(id, queued) if self.core.is_running(id) => {
                let step = if queued {
                    Step::Submitted
                } else {
                    Step::Launched
                };
                self.step(id, step);
            }
            Event::SeenRunning(id) if self.core.is_running(id) => {
                self.step(id, Step::SeenRunning);
            }
            Event::StartFailed(id) if self.core.is_running(id) => {
                // The first move, or its fallback for a version being stopped.
                self.step(id, Step::StartFailed);
                self.forced_runs.remove(&id);
                on_ended(&mut self.core, &mut self.comm, id);
            }
            Event::Reaped(id) if self.core.is_running(id) => {
                on_reaped(&mut self.core, &mut self.comm, id);
            }
            Event::Ended(id, kind, timed_out) if self.core.is_running(id) => {
                let e = End {
                    exit: exit(kind),
                    timed_out,
                };
                let s = self.status[&id];
                if self.preempted.remove(&id) && s == JobStatus::RUNNING && kind != 0 {
                    // The lifecycle: back to the queue as the version's next attempt (8).
                    self.forced_runs.remove(&id);
                    on_ended(&mut self.core, &mut self.comm, id);
                    self.requeue(id);
                    self.drive();
                    return;
                }
                if let Some(ending) = end(s, &e, Some(10)) {
                    assert!(ENDS_FROM.contains(&s));
                    self.set(id, ending.to);
                }
                self.forced_runs.remove(&id);
                on_ended(&mut self.core, &mut self.comm, id);
            }
            Event::Restart(found, gpus) => {
                self.core = new_core(self.preemption);
                on_clock(&mut self.core, self.now);
                self.comm = Comm::new();
                self.forced_runs.clear();
                self.forced_leases.clear();
                self.told.clear();
                for id in 1..=RUNS {
                    let s = self.status[&id];
                    if self.requeued.contains(&id) && s == JobStatus::RUNNING {
                        // Between attempts: its next attempt is queued again.
                        self.requeue(id);
                        continue;
                    }
                    if !MAY_RUN.contains(&s) {
                        continue;
                    }
                    // What it ran with: some of the free GPUs, or one no longer configured.
                    let mut held: Vec<u32> = (self.core.free_gpus().iter().copied())
                        .filter(|g| *g < 7 && gpus & (1 << *g) != 0)
                        .take(1)
                        .collect();
                    if gpus & (1 << 7) != 0 {
                        held.push(100 + id as u32);
                    }
                    let place = self.demand[&id];
                    let ticket = Ticket {
                        project: project_of(id).to_owned(),
                        priority: self.priority[&id],
                        waiting: false,
                        preemptible: preemptible_of(id),
                        ..Ticket::default()
                    };
                    self.started.insert(id, (self.now, ticket.priority));
                    on_adopt(&mut self.core, &mut self.comm, id, ticket, place, held, id);
                    if let Some(group) = group_of(id) {
                        on_adopt_group(&mut self.core, &mut self.comm, id, group.id);
                    }
                    self.forced_runs.insert(id);
                    let was_found = found & (1 << (id - 1)) != 0;
                    match recover(s, was_found) {
                        Recovery::Follow => continue,
                        Recovery::StoppedBeforeStart => {
                            self.step(id, Step::StoppedBeforeStart);
                        }
                        Recovery::Requeue => {
                            self.step(id, Step::Requeue);
                        }
                    }
                    self.forced_runs.remove(&id);
                    on_ended(&mut self.core, &mut self.comm, id);
                    if self.status[&id].is_pending() {
                        self.apply_enqueue(id);
                    }
                }
                for id in 1..=RUNS {
                    if QUEUED.contains(&self.status[&id]) {
                        self.apply_enqueue(id);
                    }
                }
            }
            Event::Sweep => {
                let stopping: Vec<RunId> = self
                    .status
                    .iter()
                    .filter(|(_, s)| **s == JobStatus::KILLING)
                    .map(|(id, _)| *id)
                    .collect();
                // Stopped runs the core holds are running somewhere: left to their end.
                on_sweep(&mut self.core, &mut self.comm, &stopping);
            }
            Event::Stray(id, step) if !self.core.knows(id) => {
                self.step(id, Step::ALL[step]);
            }
            Event::Acquire(lease, need, force) => {
                if force && self.core.lease(lease).is_none() && !self.core.lease_waits(lease) {
                    self.forced_leases.insert(lease);
                }
                on_acquire(&mut self.core, &mut self.comm, lease, need, force);
            }
            Event::Clock(ms) => {
                self.now += i64::from(ms);
                on_clock(&mut self.core, self.now);
            }
            Event::Priority(id, p) => {
                self.priority.insert(id, p);
                let queued = on_priority(&mut self.core, &mut self.comm, id, p);
                assert_eq!(queued, self.core.is_queued(id));
                assert_eq!(self.core.priority_of(id), queued.then_some(p));
            }
            Event::Release(lease) => {
                self.forced_leases.remove(&lease);
                self.told.remove(&lease);
                on_release(&mut self.core, &mut self.comm, lease);
            }
            _ => {}
        }
        self.drive();
    }

    fn check(&self) {
        self.core.check().unwrap();
        // What the core handed out by its own decisions, to runs whose workers were not
        // reaped yet, fits in the total.
        let mut handed = Resources::default();
        for id in self
            .core
            .running()
            .filter(|id| !self.forced_runs.contains(id) && self.core.holds_host(*id))
            .filter(|id| matches!(self.demand[id], Place::Here(_)))
        {
            handed = handed.plus(&self.core.held_by(id).expect("running").0);
        }
        for lease in self
            .core
            .granted()
            .filter(|l| !self.forced_leases.contains(l))
        {
            handed = handed.plus(&self.core.lease(lease).expect("granted"));
        }
        assert!(
            handed.fits_in(&total()),
            "{handed:?} handed out of {:?}",
            total()
        );
        if self.forced_runs.is_empty() && self.forced_leases.is_empty() {
            assert!(self.core.used().fits_in(&total()));
        }
        // What the core handed project `a` by its own decisions, here and on the pools
        // together, is within its quota.
        let (mut a_held, mut a_runs) = (Resources::default(), 0u32);
        for id in self
            .core
            .running()
            .filter(|id| !self.forced_runs.contains(id) && project_of(*id) == "a")
        {
            a_held = a_held.plus(&self.core.held_by(id).expect("running").0);
            a_runs += 1;
        }
        let q = quota_of_a();
        assert!(
            a_held.cores <= q.cores.unwrap() && a_held.gpus <= q.gpus.unwrap(),
            "project a holds {a_held:?} over its quota"
        );
        assert!(a_runs <= q.running.unwrap(), "project a runs {a_runs} runs");
        // No pool was handed more than its cap by the core's own decisions (a run larger
        // than the cap alone), and the next run of each pool waits for its cap.
        for (i, cap) in CAPS.iter().enumerate() {
            let in_pool = |id: &RunId| matches!(self.demand[id], Place::Pool(p, _) if p == i);
            let all = self.core.running().filter(in_pool).count();
            let own: Vec<RunId> = self
                .core
                .running()
                .filter(in_pool)
                .filter(|id| !self.forced_runs.contains(id))
                .collect();
            let cores: u32 = own
                .iter()
                .map(|id| self.core.held_by(*id).expect("running").0.cores)
                .sum();
            assert!(
                cap.runs.is_none_or(|limit| own.len() as u32 <= limit),
                "pool {i} was handed {} runs",
                own.len()
            );
            assert!(
                cap.cores.is_none_or(|limit| cores <= limit) || (own.len() == 1 && all == 1),
                "pool {i} was handed {cores} cores in {} runs",
                own.len()
            );
            if let Some((_, id)) = self.core.pick_in(i) {
                let Place::Pool(_, demand) = self.demand[&id] else {
                    panic!("run {id} is queued in pool {i}");
                };
                assert!(
                    self.core.pools[i].full_for(demand).is_some(),
                    "run {id} could be handed to pool {i} but waits"
                );
            }
        }
        // Every queued run can say why it waits; the next one to go does not fit (else it
        // would have started), and a run said to wait for capacity is that next one.
        for id in self.core.queued() {
            let wait = self.core.wait(id).expect("a queued run waits");
            assert!(!wait.to_string().is_empty());
        }
        if let Some((_, id)) = self.core.pick() {
            let Place::Here(demand) = self.demand[&id] else {
                panic!("a backend's run {id} is queued");
            };
            // What is held back for another run's preemption is not free for it.
            let held_back = self
                .core
                .queued()
                .filter(|q| *q != id)
                .filter_map(|q| self.core.reserved_for(q))
                .fold(Resources::default(), |sum, r| sum.plus(&r));
            let free = self.core.free().minus(&held_back);
            let free_gpus = self.core.free_gpus().len() as u32;
            assert!(
                !demand.fits_in(&free) || demand.gpus > free_gpus.saturating_sub(held_back.gpus),
                "run {id} could start but waits"
            );
        }
        // A run held back for a parent waits for one that has not ended; the group runs
        // no more than its limit by the core's own decisions.
        for id in self.core.blocked() {
            if let Some(Wait {
                why: Why::Parent(dep),
                ..
            }) = self.core.wait(id)
            {
                assert!(
                    Outcome::of(self.status[&dep.run]).is_none(),
                    "{id} waits for {} which is {:?}",
                    dep.run,
                    self.status[&dep.run]
                );
            }
        }
        let in_group = |forced: bool| {
            self.core
                .running()
                .filter(|id| group_of(*id).is_some())
                .filter(|id| self.forced_runs.contains(id) == forced)
                .count() as u32
        };
        let (own, forced) = (in_group(false), in_group(true));
        assert!(
            own + forced <= GROUP.limit.max(forced),
            "the group runs {own} + {forced} adopted"
        );
        // Nothing is reserved with preemption off; a run is preempted for one run at most.
        if !self.preemption {
            assert!(self
                .core
                .queued()
                .all(|q| self.core.reserved_for(q).is_none()));
        }
        // Usage never goes negative and only grows while the clock stands.
        assert!(self.core.usage("a") >= 0.0 && self.core.usage("b") >= 0.0);
        // GPUs the core handed out by its own decisions are configured ones.
        for id in self
            .core
            .running()
            .filter(|id| !self.forced_runs.contains(id))
        {
            let (_, gpus) = self.core.held_by(id).expect("running");
            assert!(gpus.iter().all(|g| *g < 100));
        }
        // Every granted lease's holder was told, and nothing waits that could go.
        for lease in self.core.granted() {
            assert!(self.told.contains(&lease), "lease {lease} granted silently");
        }
        // Queued runs are pending versions; runs held are active ones (or just ended).
        for id in self.core.queued() {
            assert!(
                self.status[&id].is_pending()
                    || (self.requeued.contains(&id) && self.status[&id] == JobStatus::RUNNING),
                "queued {id} is {:?}",
                self.status[&id]
            );
        }
        for id in self.core.running() {
            assert!(
                JobStatus::ACTIVE.contains(&self.status[&id]),
                "running {id} is {:?}",
                self.status[&id]
            );
        }
    }
}

fn place() -> impl Strategy<Value = Place> {
    prop_oneof![
        5 => resources().prop_map(Place::Here),
        2 => (0..CAPS.len(), resources()).prop_map(|(p, r)| Place::Pool(p, r)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn no_sequence_hands_out_more_than_exists_or_moves_a_terminal_status(
        places in proptest::collection::vec(place(), RUNS as usize),
        priorities in proptest::collection::vec(1..=3u8, RUNS as usize),
        events in proptest::collection::vec(event(), 0..80),
        preemption in any::<bool>(),
    ) {
        let mut world = World::new(places, priorities, preemption);
        for e in events {
            let before: BTreeMap<RunId, JobStatus> = world.status.clone();
            world.apply(e);
            world.check();
            for (id, s) in before {
                if s.is_terminal() {
                    prop_assert_eq!(world.status[&id], s);
                }
            }
        }
    }
}
