//! Domain logic: no HTTP types here, and every store call goes through this layer.

pub mod algorithms;
pub mod attempts;
pub mod capacity;
pub mod cluster;
pub mod configs;
pub mod depends;
pub mod details_cache;
pub mod events;
pub mod executor;
pub mod files;
pub mod follow;
pub mod hang;
pub mod hung;
pub mod jobs;
pub mod launch;
pub mod lifecycle;
pub mod list_cache;
pub mod logs;
pub mod notify;
pub mod pools;
pub mod query;
pub mod quota;
pub mod run_end;
pub mod run_error;
pub mod sweep_space;
pub mod sweeps;
pub mod upload;
pub mod usage;
pub mod v2;
pub mod validate;
pub mod view;
pub mod viz;

use crate::catalog::Catalog;
use crate::config::ProjectConfig;
use crate::service::capacity::Resources;
use crate::service::executor::Executor;
use crate::service::lifecycle::RunContext;
use crate::service::validate::Checker;
use crate::storage::Storage;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use trainyard_store::Store;

/// Everything the handlers call into.
pub struct Service {
    /// Store.
    store: Arc<dyn Store>,
    /// Catalogs.
    catalog: Arc<Catalog>,
    /// Storage.
    storage: Storage,
    /// Local executor.
    executor: Executor,
    /// Executor context (shared with run tasks).
    run_ctx: Arc<RunContext>,
    /// Where run directories live.
    runs_dir: PathBuf,
    /// Projects by id.
    projects: HashMap<String, ProjectConfig>,
    /// Default stop grace.
    grace: Duration,
    /// Largest accepted code upload, bytes.
    max_upload_bytes: u64,
    /// Visualization jobs.
    viz: viz::VizManager,
    /// Where work goes: this server's executor, or the scheduling duty's holder.
    cluster: cluster::Cluster,
    /// The open log streams and what wakes them.
    followers: Arc<follow::Followers>,
    /// Key of the temporary log URLs of the v2 API (random per server start).
    url_key: [u8; 32],
    /// Serialized details of ended versions (TJ-03).
    details: details_cache::DetailsCache,
    /// Job list pages read since the last commit (TJ-02).
    lists: list_cache::ListCache,
}

/// What a [`Service`] is made of, as the server's start assembles it.
pub struct Parts {
    /// Store.
    pub store: Arc<dyn Store>,
    /// Catalogs.
    pub catalog: Arc<Catalog>,
    /// Storage.
    pub storage: Storage,
    /// Local executor.
    pub executor: Executor,
    /// Executor context (shared with run tasks).
    pub run_ctx: Arc<RunContext>,
    /// Where run directories live.
    pub runs_dir: PathBuf,
    /// Projects by id.
    pub projects: HashMap<String, ProjectConfig>,
    /// Default stop grace.
    pub grace: Duration,
    /// Largest accepted code upload, bytes.
    pub max_upload_bytes: u64,
    /// Visualization jobs.
    pub viz: viz::VizManager,
    /// Where work goes: this server's executor, or the scheduling duty's holder.
    pub cluster: cluster::Cluster,
    /// The open log streams and what wakes them.
    pub followers: Arc<follow::Followers>,
    /// Key of the temporary log URLs of the v2 API (random per server start).
    pub url_key: [u8; 32],
}

impl Service {
    /// The service over `parts`; its fields stay private to the service layer, the HTTP
    /// layer goes through methods.
    pub fn new(parts: Parts) -> Self {
        let Parts {
            store,
            catalog,
            storage,
            executor,
            run_ctx,
            runs_dir,
            projects,
            grace,
            max_upload_bytes,
            viz,
            cluster,
            followers,
            url_key,
        } = parts;
        Self {
            store,
            catalog,
            storage,
            executor,
            run_ctx,
            runs_dir,
            projects,
            grace,
            max_upload_bytes,
            viz,
            cluster,
            followers,
            url_key,
            details: details_cache::DetailsCache::default(),
            lists: list_cache::ListCache::default(),
        }
    }

    /// The store (read side: counts for the metrics gauges).
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The spec and engine catalogs.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The project storage (also served by the S3 endpoint).
    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    /// This server's executor.
    pub fn executor(&self) -> &Executor {
        &self.executor
    }

    /// The configured projects' ids.
    pub fn project_ids(&self) -> impl Iterator<Item = &String> {
        self.projects.keys()
    }

    /// Largest accepted code upload, bytes.
    pub fn max_upload_bytes(&self) -> u64 {
        self.max_upload_bytes
    }

    /// The visualization jobs' manager.
    pub fn viz(&self) -> &viz::VizManager {
        &self.viz
    }

    /// Where work goes: this server's executor, or the scheduling duty's holder.
    pub fn cluster(&self) -> &cluster::Cluster {
        &self.cluster
    }
}

impl Service {
    /// A validator for `project`.
    pub fn checker<'a>(&'a self, project: &'a str) -> Checker<'a> {
        Checker {
            catalog: &self.catalog,
            storage: &self.storage,
            project,
            total: self.total(),
            containers: self.run_ctx.containers.as_ref(),
            pools: &self.run_ctx.pools,
            host_paths: self
                .projects
                .get(project)
                .map_or(&[][..], |p| &p.host_paths[..]),
            nfs: &self.run_ctx.nfs,
        }
    }

    /// The executor's total resources.
    pub fn total(&self) -> Resources {
        self.run_ctx.total
    }

    /// The resource specification list's `no_resource` (RS-01): one worker of `spec` does not fit
    /// what is free now, in the default pool (the local executor, or the default Slurm partition as
    /// `sinfo` last saw it).
    pub fn no_resource(&self, spec: &crate::config::SpecConfig) -> bool {
        if crate::catalog::unavailable(spec).is_some() {
            return true;
        }
        let default_pool = self.run_ctx.pools.iter().find(|p| p.default);
        if let Some(pool) = default_pool.filter(|p| p.backend == crate::config::Backend::Slurm) {
            let free = pool
                .partition
                .as_deref()
                .and_then(|p| self.executor.slurm_free(p));
            return match free {
                Some(f) => {
                    u64::from(spec.core) > f.idle_cpus || u64::from(spec.cpu) * 1024 > f.free_mem_mb
                }
                None => false,
            };
        }
        !capacity::demand(Some(spec), 1).fits_in(&self.executor.capacity().free)
    }

    /// The executor's capacity and the room of each spec now (the console's catalog page).
    pub fn capacity_report(&self) -> capacity::CapacityReport {
        let cap = self.executor.capacity();
        let used = cap.total.minus(&cap.free);
        let resources = vec![
            ("cores", cap.total.cores, used.cores, cap.free.cores),
            (
                "memory_gb",
                cap.total.memory_gb,
                used.memory_gb,
                cap.free.memory_gb,
            ),
            ("gpus", cap.total.gpus, used.gpus, cap.free.gpus),
        ]
        .into_iter()
        .map(|(resource, total, used, free)| capacity::ResourceUse {
            resource,
            total,
            used,
            free,
        })
        .collect();
        let specs = self
            .catalog
            .specs
            .iter()
            .map(|spec| capacity::SpecFit {
                spec_id: spec.spec_id,
                free_workers: capacity::demand(Some(spec), 1).times_fitting_in(&cap.free),
                no_resource: self.no_resource(spec),
            })
            .collect();
        capacity::CapacityReport { resources, specs }
    }

    /// `/health`: the database answers, and the duties this server holds.
    pub async fn health(&self) -> crate::error::ApiResult<serde_json::Value> {
        self.store
            .ping()
            .await
            .map_err(crate::error::ApiError::Unavailable)?;
        Ok(serde_json::json!({
            "status": "ok",
            "database": self.store.engine().name(),
            "duties": self.cluster.duties(),
        }))
    }

    /// The project's configuration.
    pub fn project(&self, id: &str) -> Option<&ProjectConfig> {
        self.projects.get(id)
    }
}
