//! What the executor can hand out, and what a version needs.

use crate::config::{ExecutorConfig, SpecConfig};

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
}

impl Resources {
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

/// The console's capacity view: each resource's total, used and free amount, and how many
/// workers of each spec fit now.
#[derive(Clone, Debug, serde::Serialize)]
pub struct CapacityReport {
    /// `cores`, `memory_gb`, `gpus`.
    pub resources: Vec<ResourceUse>,
    /// One entry per resource spec of the catalog.
    pub specs: Vec<SpecFit>,
}

/// One resource of the executor.
#[derive(Clone, Debug, serde::Serialize)]
pub struct ResourceUse {
    /// `cores`, `memory_gb` or `gpus`.
    pub resource: &'static str,
    /// All the executor has.
    pub total: u32,
    /// Held by running versions and visualization jobs.
    pub used: u32,
    /// Free now.
    pub free: u32,
}

/// How much room one spec has now.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SpecFit {
    /// The spec.
    pub spec_id: i64,
    /// Workers of this spec that fit in the free capacity now (`null`: no limit).
    pub free_workers: Option<u32>,
    /// The resource specification list's `no_resource` (RS-01): not even one worker fits now.
    pub no_resource: bool,
}

/// What `workers` workers of `spec` need.
pub fn demand(spec: Option<&SpecConfig>, workers: i64) -> Resources {
    let n = u32::try_from(workers.max(1)).unwrap_or(u32::MAX);
    match spec {
        Some(s) => Resources {
            cores: s.core.saturating_mul(n),
            memory_gb: s.cpu.saturating_mul(n),
            gpus: s.gpu_num.saturating_mul(n),
        },
        None => Resources {
            cores: n,
            memory_gb: 0,
            gpus: 0,
        },
    }
}

/// The executor's total: configured values, else this host's.
pub fn total(cfg: &ExecutorConfig) -> (Resources, Vec<u32>) {
    let gpus = cfg.gpus.clone().unwrap_or_else(detect_gpus);
    let cores = cfg.cores.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get() as u32)
            .unwrap_or(1)
    });
    let memory_gb = cfg.memory_gb.unwrap_or_else(detect_memory_gb);
    (
        Resources {
            cores,
            memory_gb,
            gpus: gpus.len() as u32,
        },
        gpus,
    )
}

fn detect_memory_gb() -> u32 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| (kb / 1024 / 1024).max(1) as u32)
        .unwrap_or(1)
}

fn detect_gpus() -> Vec<u32> {
    let mut found: Vec<u32> = std::fs::read_dir("/dev")
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| {
                    e.file_name()
                        .to_str()
                        .and_then(|n| n.strip_prefix("nvidia"))
                        .and_then(|n| n.parse().ok())
                })
                .collect()
        })
        .unwrap_or_default();
    found.sort_unstable();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_how_often_a_demand_fits() {
        let free = Resources {
            cores: 8,
            memory_gb: 10,
            gpus: 0,
        };
        let cpu = Resources {
            cores: 2,
            memory_gb: 4,
            gpus: 0,
        };
        assert_eq!(cpu.times_fitting_in(&free), Some(2));
        let gpu = Resources {
            cores: 1,
            memory_gb: 1,
            gpus: 1,
        };
        assert_eq!(gpu.times_fitting_in(&free), Some(0));
        assert_eq!(Resources::default().times_fitting_in(&free), None);
    }
}
