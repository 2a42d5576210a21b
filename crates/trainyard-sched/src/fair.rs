//! Fair share across projects: each project's weight, quota and decaying usage, and the order
//! in which projects' runs are chosen when capacity frees.
//!
//! The rule (docs/user-guide.md "Scheduling"): among the projects whose next run is within
//! their quota, the run of highest priority goes first; between equal priorities, the
//! project furthest below its share (lowest usage / weight) goes first; then the one holding
//! less now (running share / weight), then the run queued first. Usage is measured in
//! *dominant share × time*: a run holding 1 of 4 cores and 2 of 2 GPUs counts as holding the
//! whole host (the larger of its fractions). It grows while the project's runs run (so
//! running demand counts too) and halves every `half_life`.

use crate::resources::Resources;
use std::fmt;

/// A run's priority: 1 (lowest, the default) to 3 (highest), ModelArts' meaning.
pub type Priority = u8;

/// The lowest priority, and the default.
pub const LOWEST: Priority = 1;
/// The highest priority.
pub const HIGHEST: Priority = 3;

/// Whether `p` is a priority a run may ask for (1..=3).
pub fn valid_priority(p: i64) -> bool {
    (i64::from(LOWEST)..=i64::from(HIGHEST)).contains(&p)
}

/// The `sbatch --nice` of a run of priority `p` on a Slurm pool: Slurm orders its own queue,
/// so trainyard only lowers the runs of lower priority there (`--nice` is non-negative for
/// non-root users): 3 -> 0, 2 -> 100, 1 -> 200.
pub fn slurm_nice(p: Priority) -> u32 {
    u32::from(HIGHEST.saturating_sub(p.clamp(LOWEST, HIGHEST))) * 100
}

/// What a project may hold at once; `None`: no limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Quota {
    /// Cores.
    pub cores: Option<u32>,
    /// Memory in GB.
    pub memory_gb: Option<u32>,
    /// GPUs.
    pub gpus: Option<u32>,
    /// Runs running (or being started).
    pub running: Option<u32>,
}

/// The quota a run would exceed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// Its cores quota.
    Cores,
    /// Its memory quota.
    Memory,
    /// Its GPU quota.
    Gpus,
    /// Its quota of running runs.
    Running,
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Limit::Cores => "core",
            Limit::Memory => "memory",
            Limit::Gpus => "GPU",
            Limit::Running => "running",
        })
    }
}

impl Quota {
    /// The first limit a run needing `demand` exceeds when the project holds `held` in `runs`
    /// runs already; `None` when it fits.
    pub fn exceeded_by(&self, held: Resources, runs: u32, demand: Resources) -> Option<Limit> {
        let over = |limit: Option<u32>, have: u32, need: u32| {
            limit.is_some_and(|l| u64::from(have) + u64::from(need) > u64::from(l))
        };
        if over(self.gpus, held.gpus, demand.gpus) {
            Some(Limit::Gpus)
        } else if over(self.cores, held.cores, demand.cores) {
            Some(Limit::Cores)
        } else if over(self.memory_gb, held.memory_gb, demand.memory_gb) {
            Some(Limit::Memory)
        } else if over(self.running, runs, 1) {
            Some(Limit::Running)
        } else {
            None
        }
    }
}

/// A project's weight and quota, as configured (`[[projects]] share`, `quota`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Share {
    /// Its weight against the other projects' (at least 1; default 1).
    pub weight: u32,
    /// What it may hold at once.
    pub quota: Quota,
}

impl Default for Share {
    fn default() -> Self {
        Self {
            weight: 1,
            quota: Quota::default(),
        }
    }
}

/// The fraction of `total` that `demand` holds: the largest of its cores', memory's and
/// GPUs' fractions (a resource the host has none of is left out).
pub fn dominant_share(demand: Resources, total: Resources) -> f64 {
    [
        (demand.cores, total.cores),
        (demand.memory_gb, total.memory_gb),
        (demand.gpus, total.gpus),
    ]
    .into_iter()
    .filter(|(_, have)| *have > 0)
    .map(|(need, have)| f64::from(need) / f64::from(have))
    .fold(0.0, f64::max)
}

/// Usage that decays: `value` (share × ms) as of `at` (ms), halving every `half_life_ms`
/// (none: it never decays), growing by `rate` (the share held) per ms meanwhile.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Usage {
    value: f64,
    at: i64,
}

impl Usage {
    /// The usage at `now`, having held `rate` since `self.at`.
    pub fn at(&self, now: i64, rate: f64, half_life_ms: Option<i64>) -> f64 {
        let dt = now.saturating_sub(self.at).max(0) as f64;
        match half_life_ms.filter(|h| *h > 0) {
            None => self.value + rate * dt,
            Some(h) => {
                let h = h as f64;
                let kept = 0.5_f64.powf(dt / h);
                // What `rate` added over dt, each bit decayed from its moment on.
                let added = rate * h / std::f64::consts::LN_2 * (1.0 - kept);
                self.value * kept + added
            }
        }
    }

    /// Settles it at `now` (before the rate changes).
    pub fn settle(&mut self, now: i64, rate: f64, half_life_ms: Option<i64>) {
        if now > self.at {
            self.value = self.at(now, rate, half_life_ms);
            self.at = now;
        }
    }
}

impl Usage {
    /// Usage of `value` (share × ms) as of `at` (ms).
    pub fn new(value: f64, at: i64) -> Self {
        Self { value, at }
    }
}

/// A stretch of a project's run on this host, as its usage record (or, for a run still
/// running, its start) tells: it held `demand` from `start` to `end` (ms).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PastRun {
    /// Its project's id.
    pub project: String,
    /// What it held (all its workers together).
    pub demand: Resources,
    /// When it started, ms.
    pub start: i64,
    /// When it ended, ms (a run still running: now).
    pub end: i64,
}

/// How many half-lives back past runs are read to seed usage: a run that ended earlier
/// weighs less than 1/1024 of its weight at its end.
pub const SEED_HALF_LIVES: i64 = 10;

/// The earliest end of a past run worth counting at `now` (see [`SEED_HALF_LIVES`]); 0 (all
/// of them) when usage never decays.
pub fn seed_horizon(now: i64, half_life_ms: Option<i64>) -> i64 {
    match half_life_ms.filter(|h| *h > 0) {
        Some(h) => now.saturating_sub(h.saturating_mul(SEED_HALF_LIVES)).max(0),
        None => 0,
    }
}

/// Each project's usage at `now` from its past runs here, as the core would have counted it
/// had it run all along: each run holds the dominant share of its demand in `total` from its
/// start to its end (clipped to `now`), and what it added decays with `half_life_ms` (none:
/// never) from each moment on — the arithmetic of [`Usage`]. A project's runs are added one
/// by one, where the core takes the dominant share of what they hold together: the same
/// when they need the same resource most (and never less). Projects without a run that
/// counts are left out.
pub fn past_usage(
    runs: &[PastRun],
    total: Resources,
    now: i64,
    half_life_ms: Option<i64>,
) -> std::collections::BTreeMap<String, Usage> {
    let mut usage = std::collections::BTreeMap::<String, Usage>::new();
    for run in runs {
        let end = run.end.min(now);
        let rate = dominant_share(run.demand, total);
        if end <= run.start || rate <= 0.0 {
            continue;
        }
        let at_end = Usage::new(0.0, run.start).at(end, rate, half_life_ms);
        let at_now = Usage::new(at_end, end).at(now, 0.0, half_life_ms);
        usage
            .entry(run.project.clone())
            .or_insert_with(|| Usage::new(0.0, now))
            .value += at_now;
    }
    usage
}
