//! Why a run could not be started. The `Display` text is what users read: it goes into the
//! version's log (`[trainyard] the job could not be started: ...`) and its failure reason.

use std::io;

/// Every way preparing, launching or submitting a run can fail.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The version's engine was removed from the configuration after it was created.
    #[error("engine {0} is no longer configured")]
    EngineGone(i64),
    /// The stored version has no boot file (nor a built-in algorithm).
    #[error("the version has no boot file")]
    NoBootFile,
    /// The version runs in an image, and no container runtime is configured (any more).
    #[error("the job runs in an image, and this server has no container runtime (install podman, or set [executor] container_runtime)")]
    NoContainerRuntime,
    /// The stored boot file does not lie in the stored code folder.
    #[error("boot_file_url is not inside app_url")]
    BootOutsideApp,
    /// A storage path of the version no longer resolves (e.g. a symlink now points out).
    #[error("{0}")]
    Path(String),
    /// The job's output folder cannot be created.
    #[error("cannot create train_url {url}: {source}")]
    TrainUrl {
        /// `train_url` as given.
        url: String,
        /// Why.
        source: io::Error,
    },
    /// No TCP port is free for the workers to meet at.
    #[error("no free port: {0}")]
    NoPort(io::Error),
    /// The run directory cannot be prepared.
    #[error("cannot prepare the run directory: {0}")]
    RunDir(#[source] io::Error),
    /// The database refused a read the launch needs.
    #[error("the database is unavailable: {0}")]
    Store(#[from] trainyard_store::Error),
    /// The backend could not start or queue the run.
    #[error(transparent)]
    Backend(#[from] trainyard_exec::backend::SubmitError),
}

/// `Result` of the run path.
pub type RunResult<T> = Result<T, RunError>;
