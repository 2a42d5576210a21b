//! What the executor can hand out, and what a version needs.

use crate::config::{ExecutorConfig, SpecConfig};

pub use trainyard_sched::Resources;

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

/// What `workers` workers of `spec` need (one core each without a spec).
pub fn demand(spec: Option<&SpecConfig>, workers: i64) -> Resources {
    let per_worker = spec.map(|s| Resources {
        cores: s.core,
        memory_gb: s.cpu,
        gpus: s.gpu_num,
    });
    trainyard_sched::resources::demand(per_worker, workers)
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
