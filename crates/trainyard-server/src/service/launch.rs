//! Turns a stored version into the processes that run it: command line, environment, logs.
//! Resolving its locations (storage paths, the folders it writes, ports, the server's own
//! environment) is done here; what follows from them is the scheduler core's run planning
//! (`trainyard_sched::plan`), turned into a backend's [`RunSpec`] here.

use crate::catalog::Catalog;
use crate::service::run_error::{RunError, RunResult};
use crate::service::validate::{boot_relative, data_dir, Checker, Purpose};
use crate::storage::Location;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use trainyard_exec::checkpoint::CheckpointSync;
use trainyard_exec::objects::ObjectDir;
use trainyard_exec::{
    ContainerSpec, Mount, ObjectInput, ObjectOutput, ObjectSync, RunSpec, WorkerSpec,
};
use trainyard_sched::plan::{self, Cohort, Entry, Folders};
use trainyard_store::Version;

pub use trainyard_sched::plan::{code_dir, expand_user_command, in_container, log_name, logs_dir};

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// `run_train.sh` as trainyard mounts it: what the documented sample command runs.
const RUN_TRAIN_SH: &str = r#"#!/bin/sh
# trainyard's run_train.sh: sets up the job's environment, then runs its arguments.
export PYTHONUNBUFFERED=1
cd "${TRAINYARD_JOB_DIR:-/home/work/user-job-dir}" || exit 1
echo "[run_train.sh] working directory: $(pwd)"
echo "[run_train.sh] command: $*"
exec "$@"
"#;

/// The image a version runs in, if any: its own (`user_image_url`) or its engine's.
pub fn image_of<'a>(catalog: &'a Catalog, v: &'a Version) -> Option<&'a str> {
    v.config.user_image_url.as_deref().or_else(|| {
        let engine = v.config.engine_id.and_then(|id| catalog.engine(id))?;
        engine.image.as_deref()
    })
}

/// The checkpoint folder of a run, below its `train_url` (else its run folder): the
/// workers' `TRAINYARD_CHECKPOINT_DIR`, kept across attempts.
pub const CHECKPOINTS: &str = "checkpoints";

/// Builds the run spec of `v`. `gpus` are the GPU indices handed to it.
pub fn run_spec(
    checker: &Checker<'_>,
    catalog: &Catalog,
    v: &Version,
    job_name: &str,
    gpus: &[u32],
    grace_seconds: u64,
) -> RunResult<RunSpec> {
    let cfg = &v.config;
    let run_dir = PathBuf::from(&v.run_dir);
    let code = code_dir(&run_dir);
    // The project's user runs the workers; the folders they write are made theirs, without
    // following links a job may have planted in the project's storage.
    let owner = checker.storage.owner(checker.project);
    let make_dir = |location: &Location, dir: &Path| match location {
        Location::Local(_) => checker.storage.create_dir(checker.project, dir),
        Location::Object(_) => {
            let name = dir.strip_prefix(&run_dir).unwrap_or(dir);
            trainyard_exec::sandbox::create_dirs(&run_dir, name, owner)
        }
    };
    let image = image_of(catalog, v);
    let mut transfers = Transfers::default();
    let data = match data_dir(checker, cfg).map_err(|e| RunError::Path(e.to_string()))? {
        None => None,
        Some(Location::Local(dir)) => Some(dir),
        // Fetched by the shim into this host's cache; the workers see it through a link.
        Some(Location::Object(from)) => Some(transfers.input(checker, from, run_dir.join("data"))),
    };
    let train = match &cfg.train_url {
        Some(url) => {
            let location = checker
                .locate("train_url", url)
                .map_err(|e| RunError::Path(e.to_string()))?;
            let dir = match &location {
                Location::Local(dir) => dir.clone(),
                // Written here, uploaded by the shim while the run goes on and at its end;
                // its checkpoint folder on an interval of its own, verified, and restored
                // before an attempt after the first.
                Location::Object(to) => {
                    transfers.checkpoint(checker, v, to);
                    let out = transfers.output(run_dir.join("train"), to.clone());
                    out.exclude = vec![format!("{CHECKPOINTS}/")];
                    out.from.clone()
                }
            };
            make_dir(&location, &dir).map_err(|source| RunError::TrainUrl {
                url: url.clone(),
                source,
            })?;
            // TRAINYARD_CHECKPOINT_DIR: kept across the run's attempts.
            make_dir(&location, &dir.join(CHECKPOINTS)).map_err(|source| RunError::TrainUrl {
                url: url.clone(),
                source,
            })?;
            Some(dir)
        }
        None => None,
    };
    // Logs go to a bucket's log_url from the shim (a local one is copied at the end); after
    // the train_url, so that they carry an upload failure of it.
    let log_url = match &cfg.log_url {
        Some(url) => Some(
            checker
                .locate("log_url", url)
                .map_err(|e| RunError::Path(e.to_string()))?,
        ),
        None => None,
    };
    // Arguments name the folders as the workers see them: host paths, or container paths.
    let parameters: Vec<(String, String)> = cfg
        .parameter
        .iter()
        .flatten()
        .map(|p| (p.label.clone(), p.value.clone()))
        .collect();
    let run_args = plan::arguments(
        image.is_some(),
        data.as_deref(),
        train.as_deref(),
        &parameters,
    );
    let workers = plan::worker_count(cfg.worker_server_num);
    let (command, container) = match image {
        None => {
            let entry = match cfg.model_id.and_then(|id| catalog.builtin(id)) {
                Some(b) => Entry::Builtin(PathBuf::from(b.boot_file)),
                None => Entry::Engine {
                    command: engine_command(catalog, v),
                    boot_file: boot_file(v),
                },
            };
            (plan::host_command(entry, &code, &run_args)?, None)
        }
        Some(image) => {
            let runtime = checker.containers.ok_or(RunError::NoContainerRuntime)?;
            let app = plan::app_folder(cfg.app_url.as_deref());
            let run_train = write_run_train(&run_dir)?;
            let log = match &log_url {
                Some(location) => {
                    let dir = match location {
                        Location::Local(dir) => dir.clone(),
                        Location::Object(to) => transfers
                            .output(run_dir.join("log_url"), to.clone())
                            .from
                            .clone(),
                    };
                    make_dir(location, &dir).map_err(RunError::RunDir)?;
                    Some(dir)
                }
                None => None,
            };
            // host_path volumes, checked again: the allowed folders may have changed.
            let mut volumes = Vec::new();
            for (i, v) in cfg.volumes.iter().flatten().enumerate() {
                if let Some(h) = &v.host_path {
                    let host = checker
                        .host_volume(i, h, Purpose::Run)
                        .map_err(|e| RunError::Path(e.to_string()))?;
                    volumes.push((host, h.dest_path.clone(), h.read_only.unwrap_or(false)));
                }
            }
            let mounts = plan::mounts(&Folders {
                code: &code,
                app: &app,
                run_train: &run_train,
                data: data.as_deref(),
                train: train.as_deref(),
                log: log.as_deref(),
                volumes,
            });
            let spec = cfg.spec_id.and_then(|id| catalog.spec(id));
            let container = ContainerSpec {
                runtime: runtime.program.clone(),
                image: image.to_owned(),
                workdir: in_container::JOB_DIR.to_owned(),
                mounts: mounts
                    .into_iter()
                    .map(|m| Mount {
                        host: m.host,
                        container: m.container,
                        read_only: m.read_only,
                    })
                    .collect(),
                cpus: spec.map(|s| s.core),
                memory_mb: spec.map(|s| u64::from(s.cpu) * 1024),
                gpus: Vec::new(),
                pull_timeout_seconds: runtime.pull_timeout_seconds,
            };
            let command = plan::container_command(
                cfg.user_command.as_deref(),
                engine_command(catalog, v),
                boot_file(v),
                &app,
                &run_args,
            )?;
            (command, Some(container))
        }
    };

    let master_port = free_port().map_err(RunError::NoPort)?;
    let host_ports: Vec<u16> = (0..workers)
        .map(|_| free_port().unwrap_or(master_port))
        .collect();
    let mut base_env = match container {
        Some(_) => plan::container_environment(&parameters),
        None => {
            let mut env = base_environment();
            give_home(&mut env, &run_dir, owner).map_err(RunError::RunDir)?;
            env
        }
    };
    // The attempt (retries) and the folder that outlives it, before the job's own variables.
    let checkpoint = match (&train, container.is_some()) {
        (Some(_), true) => Some(format!("{}/{CHECKPOINTS}", in_container::TRAIN)),
        (Some(dir), false) => Some(dir.join(CHECKPOINTS).display().to_string()),
        (None, false) => Some(
            trainyard_exec::sandbox::create_dirs(&run_dir, Path::new(CHECKPOINTS), owner)
                .map_err(RunError::RunDir)?
                .display()
                .to_string(),
        ),
        (None, true) => None,
    };
    base_env.push(("TRAINYARD_ATTEMPT".to_owned(), v.attempt.to_string()));
    if let Some(dir) = checkpoint {
        base_env.push(("TRAINYARD_CHECKPOINT_DIR".to_owned(), dir));
    }
    // The job's own variables (v2 `algorithm.environments`) come last, so they win.
    for (key, value) in cfg.environments.iter().flatten() {
        base_env.retain(|(k, _)| k != key);
        base_env.push((key.clone(), value.clone()));
    }
    let logs = logs_dir(&run_dir);
    if let Some(Location::Object(to)) = log_url {
        transfers.output(logs.clone(), to).exclude = vec![".idx".to_owned()];
    }
    let cohort = Cohort {
        workers,
        base: &base_env,
        master_port,
        host_ports: &host_ports,
        job_id: v.job_id,
        version_id: v.id,
        gpus,
        in_image: container.is_some(),
    };
    let worker_specs = plan::workers(&cohort)
        .into_iter()
        .enumerate()
        .map(|(i, worker)| WorkerSpec {
            program: command[0].clone(),
            args: command[1..].to_vec(),
            env: worker.env,
            log_file: logs.join(log_name(job_name, i)),
            // The container sees only its own GPUs.
            container: container.clone().map(|c| ContainerSpec {
                gpus: worker.gpus,
                ..c
            }),
        })
        .collect();
    Ok(RunSpec {
        run_dir: run_dir.clone(),
        cwd: code,
        workers: worker_specs,
        grace_seconds,
        // Set by `RunContext::prepare_run` from `[metrics]`.
        sample_interval_ms: None,
        objects: transfers.into_sync(checker),
        run_as: owner,
        network: checker.storage.users().network(checker.project),
        // Set by `RunContext::prepare_run` from `[logs]`.
        log_limit: None,
    })
}

/// The object-store folders a run reads and writes, gathered while its spec is built.
#[derive(Default)]
struct Transfers {
    inputs: Vec<ObjectInput>,
    outputs: Vec<ObjectOutput>,
    checkpoint: Option<CheckpointSync>,
}

impl Transfers {
    /// Adds an input fetched to `link`; returns `link`.
    fn input(&mut self, checker: &Checker<'_>, from: ObjectDir, link: PathBuf) -> PathBuf {
        let store = checker.storage.objects();
        self.inputs.push(ObjectInput {
            from,
            link: link.clone(),
            cache: checker
                .storage
                .cache_of(checker.project)
                .unwrap_or_default(),
            limit: store.map_or(0, |s| s.cache_max_bytes),
            follow: false,
        });
        link
    }

    /// Uploads the checkpoint folder of `v` (below its run folder's `train/`) to the
    /// `checkpoints/` folder of `train`; an attempt after the first restores the last one an
    /// earlier attempt got verified (the run folder's record, read without following links).
    fn checkpoint(&mut self, checker: &Checker<'_>, v: &Version, train: &ObjectDir) {
        let Some(store) = checker.storage.objects() else {
            return;
        };
        let run_dir = PathBuf::from(&v.run_dir);
        let restore = (v.attempt > 1)
            .then(|| trainyard_exec::checkpoint::read_record(&run_dir))
            .flatten();
        self.checkpoint = Some(CheckpointSync {
            folder: Path::new("train").join(CHECKPOINTS),
            run_dir,
            to: ObjectDir::new(&train.bucket, &format!("{}{CHECKPOINTS}", train.prefix)),
            interval_ms: u64::try_from(store.checkpoint_interval.as_millis()).unwrap_or(u64::MAX),
            attempt: v.attempt,
            restore,
        });
    }

    /// Adds an output uploaded from `from`.
    fn output(&mut self, from: PathBuf, to: ObjectDir) -> &mut ObjectOutput {
        self.outputs.push(ObjectOutput {
            from,
            to,
            exclude: Vec::new(),
        });
        self.outputs.last_mut().expect("just pushed")
    }

    fn into_sync(self, checker: &Checker<'_>) -> Option<ObjectSync> {
        let store = checker.storage.objects()?;
        (!self.inputs.is_empty() || !self.outputs.is_empty()).then(|| ObjectSync {
            s3: store.s3.clone(),
            inputs: self.inputs,
            outputs: self.outputs,
            interval_ms: u64::try_from(store.upload_interval.as_millis()).unwrap_or(u64::MAX),
            checkpoint: self.checkpoint,
        })
    }
}

fn engine_command(catalog: &Catalog, v: &Version) -> RunResult<Vec<String>> {
    let engine_id = v.config.engine_id.unwrap_or(1);
    let engine = catalog
        .engine(engine_id)
        .ok_or(RunError::EngineGone(engine_id))?;
    Ok(engine.command.clone())
}

/// The boot file's path inside the code folder.
fn boot_file(v: &Version) -> RunResult<PathBuf> {
    match (&v.config.app_url, &v.config.boot_file_url) {
        (Some(app), Some(boot)) => boot_relative(app, boot).ok_or(RunError::BootOutsideApp),
        _ => Err(RunError::NoBootFile),
    }
}

/// Writes trainyard's `run_train.sh` into the run directory; returns its path.
fn write_run_train(run_dir: &Path) -> RunResult<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = run_dir.join("run_train.sh");
    std::fs::write(&path, RUN_TRAIN_SH).map_err(RunError::RunDir)?;
    // Readable by the container's root, which is the project's user, whatever the umask.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644))
        .map_err(RunError::RunDir)?;
    Ok(path)
}

/// A run of a project's user gets `HOME` = `<run_dir>/home`, that user's (the server's home
/// is not theirs), and no `USER` of the server's. Nothing changes for a server's own runs.
pub(crate) fn give_home(
    env: &mut Vec<(String, String)>,
    run_dir: &Path,
    owner: Option<trainyard_exec::RunAs>,
) -> std::io::Result<()> {
    if owner.is_none() {
        return Ok(());
    }
    let home = trainyard_exec::sandbox::create_dirs(run_dir, Path::new("home"), owner)?;
    env.retain(|(k, _)| k != "HOME" && k != "USER");
    env.push(("HOME".to_owned(), home.display().to_string()));
    Ok(())
}

/// The environment every job starts from: the server's PATH and locale, nothing else.
pub(crate) fn base_environment() -> Vec<(String, String)> {
    let mut env = vec![("PYTHONUNBUFFERED".to_owned(), "1".to_owned())];
    for key in ["PATH", "HOME", "LANG", "LC_ALL", "TZ", "USER", "TMPDIR"] {
        if let Ok(value) = std::env::var(key) {
            env.push((key.to_owned(), value));
        }
    }
    if !env.iter().any(|(k, _)| k == "PATH") {
        env.push(("PATH".to_owned(), "/usr/local/bin:/usr/bin:/bin".to_owned()));
    }
    env
}
