//! What the visualization jobs' API, tasks and starts share: the server's parts, `[viz]`
//! and the public address of each job.

use crate::config::VizConfig;
use crate::service::capacity::Resources;
use crate::service::executor::Executor;
use crate::storage::Storage;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use trainyard_store::{Store, VizJob};
use trainyard_viz::server::Launcher;

/// What the supervising tasks share.
pub struct VizContext {
    /// Store.
    pub store: Arc<dyn Store>,
    /// Storage, for `train_url`.
    pub storage: Storage,
    /// Executor, for capacity.
    pub executor: Executor,
    /// Program the servers' shims run as (`<program> shim <run_dir>`).
    pub shim_program: PathBuf,
    /// Where run directories live.
    pub runs_dir: PathBuf,
    /// How TensorBoard is started.
    pub tensorboard: Launcher,
    /// How MindInsight is started, if configured.
    pub mindinsight: Option<Launcher>,
    /// What one running job of the default flavor takes from the executor (`[viz]`).
    pub demand: Resources,
    /// What a job that names a flavor takes: that spec's resources, by lowercase code.
    pub flavor_demand: std::collections::HashMap<String, Resources>,
    /// The flavor a job that names none reports.
    pub default_flavor: Option<String>,
    /// How long a server may take to answer HTTP.
    pub start_timeout: Duration,
    /// Scheme, host and port of `service_url`.
    pub public_base: String,
    /// Active jobs per project.
    pub quotas: i64,
    /// Jobs per project.
    pub job_count_limit: i64,
}

impl VizContext {
    /// What `job` takes from the executor: the spec of the flavor it asked for, or `[viz]`'s
    /// cores and memory when it runs on the default flavor.
    pub(super) fn demand_of(&self, job: &VizJob) -> Resources {
        job.flavor_code
            .as_deref()
            .filter(|code| {
                !self
                    .default_flavor
                    .as_deref()
                    .is_some_and(|d| d.eq_ignore_ascii_case(code))
            })
            .and_then(|code| self.flavor_demand.get(&code.to_ascii_lowercase()))
            .copied()
            .unwrap_or(self.demand)
    }

    /// From `[viz]`; `data_dir` and `listen` give the defaults.
    #[expect(
        clippy::too_many_arguments,
        reason = "plain wiring of the server's parts"
    )]
    pub fn new(
        cfg: &VizConfig,
        data_dir: &Path,
        listen: std::net::SocketAddr,
        store: Arc<dyn Store>,
        storage: Storage,
        executor: Executor,
        shim_program: PathBuf,
        runs_dir: PathBuf,
    ) -> Self {
        let tb = cfg
            .tensorboard
            .clone()
            .unwrap_or_else(|| data_dir.join("tensorboard-venv/bin/tensorboard"));
        Self {
            store,
            storage,
            executor,
            shim_program,
            runs_dir,
            tensorboard: Launcher::TensorBoard(tb),
            mindinsight: cfg.mindinsight.clone().map(Launcher::Template),
            demand: Resources {
                cores: cfg.cores.unwrap_or(1),
                memory_gb: cfg.memory_gb.unwrap_or(1),
                gpus: 0,
            },
            flavor_demand: std::collections::HashMap::new(),
            default_flavor: None,
            start_timeout: Duration::from_secs(cfg.start_timeout_seconds.unwrap_or(60)),
            public_base: cfg
                .public_base
                .clone()
                .unwrap_or_else(|| format!("http://{listen}"))
                .trim_end_matches('/')
                .to_owned(),
            quotas: cfg.quotas.unwrap_or(10),
            job_count_limit: cfg.job_count_limit.unwrap_or(1000),
        }
    }

    /// The public path of a job, without a trailing slash.
    pub fn prefix(job: &VizJob) -> String {
        format!("/modelarts2/{}/{}/{}", job.job_type, job.project_id, job.id)
    }

    /// `service_url`: public path plus the access secret.
    pub fn service_url(&self, job: &VizJob) -> String {
        format!(
            "{}{}/?{}={}",
            self.public_base,
            Self::prefix(job),
            trainyard_viz::access::SECRET_PARAM,
            job.secret
        )
    }

    pub(super) fn launcher(&self, job_type: &str) -> Option<&Launcher> {
        match job_type {
            "tensorboard" => Some(&self.tensorboard),
            "mindinsight" => self.mindinsight.as_ref(),
            _ => None,
        }
    }
}
