//! Which resource pool a configuration runs in: a question of configuration, answered without
//! asking any backend (validation and launch planning depend on this, never on a backend).

use crate::config::{Backend, PoolConfig};
use trainyard_api::training::JobConfig;

/// The pool a configuration runs in: its `pool_id`, else the default pool; `None` = local.
pub fn pool_of<'a>(pools: &'a [PoolConfig], cfg: &JobConfig) -> Option<&'a PoolConfig> {
    match &cfg.pool_id {
        Some(id) => pools.iter().find(|p| &p.id == id),
        None => pools.iter().find(|p| p.default),
    }
}

/// The Slurm pool a configuration runs in, if any.
pub fn slurm_pool_of<'a>(pools: &'a [PoolConfig], cfg: &JobConfig) -> Option<&'a PoolConfig> {
    pool_of(pools, cfg).filter(|p| p.backend == Backend::Slurm)
}
