//! Starting a visualization server: its log folder (a bucket's through a local mirror), its
//! user, network and port; the run goes to the visualization jobs' [`Backend`] as a training
//! run goes to its pool's.

use super::context::VizContext;
use crate::service::lifecycle::viz as lifecycle;
use crate::storage::Location;
use std::path::{Path, PathBuf};
use std::time::Duration;
use trainyard_exec::backend::{Backend, Submission, SubmitError, Submitted, WorkerResources};
use trainyard_exec::{ObjectInput, ObjectSync, RunHandle};
use trainyard_store::VizJob;
use trainyard_viz::server::Target;

/// SIGTERM-to-SIGKILL grace when stopping a server (TensorBoard exits in ~1.5 s).
pub(super) const STOP_GRACE: Duration = Duration::from_secs(5);

/// Why a visualization server could not be started; the text goes into its log and its
/// failure reason.
#[derive(Debug, thiserror::Error)]
pub(super) enum StartError {
    #[error("job_type {0} is not configured")]
    NotConfigured(String),
    #[error(transparent)]
    Unavailable(#[from] trainyard_viz::server::Unavailable),
    #[error("train_url: {0}")]
    TrainUrl(#[from] crate::storage::PathError),
    #[error("train_url {url}: {source}")]
    TrainDir { url: String, source: std::io::Error },
    #[error(transparent)]
    NoPort(#[from] trainyard_viz::Error),
    #[error(transparent)]
    Exec(#[from] trainyard_exec::Error),
    #[error(transparent)]
    Submit(#[from] SubmitError),
}

/// Starts the server on `backend` on a free port and records handle and port; returns the
/// port. The backend reports the run's end to the job's task.
pub(super) async fn launch(
    ctx: &VizContext,
    backend: &Backend,
    job: &VizJob,
    prefix: &str,
) -> Result<u16, StartError> {
    let launcher = ctx
        .launcher(&job.job_type)
        .ok_or_else(|| StartError::NotConfigured(job.job_type.clone()))?;
    let env = crate::service::launch::base_environment();
    let path = env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    launcher.available(&path)?;
    let run_dir = PathBuf::from(&job.run_dir);
    // A bucket's train_url is read through a local mirror the shim keeps fresh.
    let (logdir, mirror) = match ctx.storage.locate(&job.project_id, &job.train_url)? {
        Location::Local(dir) => (dir, None),
        Location::Object(from) => {
            let dir = run_dir.join("logdir");
            let store = ctx
                .storage
                .objects()
                .expect("an object location has a store");
            let sync = ObjectSync {
                s3: store.s3.clone(),
                inputs: vec![ObjectInput {
                    from,
                    link: dir.clone(),
                    cache: ctx.storage.cache_of(&job.project_id).unwrap_or_default(),
                    limit: store.cache_max_bytes,
                    follow: true,
                }],
                outputs: Vec::new(),
                interval_ms: u64::try_from(store.upload_interval.as_millis()).unwrap_or(u64::MAX),
                checkpoint: None,
            };
            (dir, Some(sync))
        }
    };
    let owner = ctx.storage.owner(&job.project_id);
    if owner.is_some() {
        use std::os::unix::fs::PermissionsExt;
        // The server runs in this folder as the project's user: it may pass, not list.
        std::fs::create_dir_all(&run_dir)
            .and_then(|()| {
                std::fs::set_permissions(&run_dir, std::fs::Permissions::from_mode(0o711))
            })
            .map_err(|source| StartError::TrainDir {
                url: job.train_url.clone(),
                source,
            })?;
    }
    let made = if mirror.is_some() {
        std::fs::create_dir_all(&logdir)
    } else {
        ctx.storage.create_dir(&job.project_id, &logdir).map(|_| ())
    };
    made.map_err(|source| StartError::TrainDir {
        url: job.train_url.clone(),
        source,
    })?;
    // The visualization server reads the project's files as the project's user: a link in
    // its train_url leads nowhere the project's jobs could not read.
    let mut env = env;
    crate::service::launch::give_home(&mut env, &run_dir, owner).map_err(|source| {
        StartError::TrainDir {
            url: job.train_url.clone(),
            source,
        }
    })?;
    let port = trainyard_viz::free_port()?;
    let target = Target {
        logdir: &logdir,
        port,
        prefix,
    };
    let mut spec =
        trainyard_viz::server::run_spec(launcher, &target, &run_dir, env, STOP_GRACE.as_secs());
    spec.objects = mirror;
    spec.run_as = owner;
    spec.network = network(&ctx.storage, &job.project_id);
    // Each start of a visualization server is a new run in the job's folder.
    trainyard_exec::reset_run_dir(&run_dir)?;
    let submission = Submission {
        id: job.id,
        spec,
        name: format!("viz-{}", job.id),
        per_worker: WorkerResources::default(),
        time_limit: None,
        nice: 0,
        qos: None,
    };
    let handle = match backend.submit(submission).await? {
        Submitted::Started(handle) | Submitted::Queued(handle) => handle,
    };
    lifecycle::launched(ctx.store.as_ref(), job.id, port, &handle).await;
    let pid = match handle {
        RunHandle::Local(h) => Some(h.shim_pid),
        RunHandle::Slurm { .. } => None,
    };
    tracing::info!(
        viz.id = job.id,
        proc.pid = pid,
        port,
        "visualization server started"
    );
    Ok(port)
}

/// The network of `project`'s visualization servers: where the project's jobs run as its own
/// user (a root server), one of their own, which only the server enters, so no job of any
/// project reaches them on a loopback port; else (a single-tenant server) the host's.
fn network(storage: &crate::storage::Storage, project: &str) -> trainyard_exec::Network {
    match storage.owner(project) {
        Some(_) => trainyard_exec::Network::Isolated,
        None => trainyard_exec::Network::Host,
    }
}

/// Where `job`'s server listens on `port`: `None` while a server with a network of its own has
/// no worker yet (nothing is reached on the host's loopback in its stead).
pub(super) fn upstream(
    storage: &crate::storage::Storage,
    job: &VizJob,
    port: u16,
) -> Option<trainyard_viz::Upstream> {
    match network(storage, &job.project_id) {
        trainyard_exec::Network::Isolated => Some(trainyard_viz::Upstream {
            port,
            netns: Some(trainyard_exec::netns::NetNs::of_run(Path::new(
                &job.run_dir,
            ))?),
        }),
        _ => Some(trainyard_viz::Upstream::loopback(port)),
    }
}
