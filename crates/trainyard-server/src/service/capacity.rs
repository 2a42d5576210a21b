//! What the executor can hand out, and what a version needs.

use crate::config::{ExecutorConfig, SpecConfig};

/// Cores, memory and GPUs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
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
