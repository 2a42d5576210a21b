//! Cores, memory and GPUs: what the executor has and what a run or lease holds.

/// Cores, memory and GPUs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Resources {
    /// Cores.
    pub cores: u32,
    /// Memory in GB.
    pub memory_gb: u32,
    /// GPUs.
    pub gpus: u32,
}

impl Resources {
    /// Whether `self` fits into `free`.
    pub fn fits_in(&self, free: &Resources) -> bool {
        self.cores <= free.cores && self.memory_gb <= free.memory_gb && self.gpus <= free.gpus
    }
    /// `self - other`, saturating.
    pub fn minus(&self, other: &Resources) -> Resources {
        Resources {
            cores: self.cores.saturating_sub(other.cores),
            memory_gb: self.memory_gb.saturating_sub(other.memory_gb),
            gpus: self.gpus.saturating_sub(other.gpus),
        }
    }
    /// The smaller of each field.
    pub fn min_each(&self, other: &Resources) -> Resources {
        Resources {
            cores: self.cores.min(other.cores),
            memory_gb: self.memory_gb.min(other.memory_gb),
            gpus: self.gpus.min(other.gpus),
        }
    }
    /// `self + other`.
    pub fn plus(&self, other: &Resources) -> Resources {
        Resources {
            cores: self.cores + other.cores,
            memory_gb: self.memory_gb + other.memory_gb,
            gpus: self.gpus + other.gpus,
        }
    }

    /// How many times `self` fits into `free` at once; `None` when `self` needs nothing
    /// (no limit).
    pub fn times_fitting_in(&self, free: &Resources) -> Option<u32> {
        [
            (self.cores, free.cores),
            (self.memory_gb, free.memory_gb),
            (self.gpus, free.gpus),
        ]
        .into_iter()
        .filter(|(need, _)| *need > 0)
        .map(|(need, have)| have / need)
        .min()
    }
}

/// What `workers` workers need, each taking `per_worker` (a resource spec's cores, memory
/// and GPUs), or one core each when the version names no spec.
pub fn demand(per_worker: Option<Resources>, workers: i64) -> Resources {
    let n = u32::try_from(workers.max(1)).unwrap_or(u32::MAX);
    match per_worker {
        Some(s) => Resources {
            cores: s.cores.saturating_mul(n),
            memory_gb: s.memory_gb.saturating_mul(n),
            gpus: s.gpus.saturating_mul(n),
        },
        None => Resources {
            cores: n,
            memory_gb: 0,
            gpus: 0,
        },
    }
}
