//! Turns a stored version into the processes that run it: command line, environment, logs.

use crate::catalog::Catalog;
use crate::service::run_error::{RunError, RunResult};
use crate::service::validate::{boot_relative, data_dir, Checker, Purpose};
use crate::storage::Location;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use trainyard_exec::objects::ObjectDir;
use trainyard_exec::{
    ContainerSpec, Mount, ObjectInput, ObjectOutput, ObjectSync, RunSpec, WorkerSpec,
};
use trainyard_store::Version;

/// Folder of a run's snapshot of its code.
pub fn code_dir(run_dir: &Path) -> PathBuf {
    run_dir.join("code")
}

/// Folder of a run's worker logs.
pub fn logs_dir(run_dir: &Path) -> PathBuf {
    run_dir.join("logs")
}

/// Log file name of worker `index`: `<job_name>.<index>`.
pub fn log_name(job_name: &str, index: usize) -> String {
    format!("{job_name}.{index}")
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Where a container sees the run's files. The code folder follows ModelArts
/// (`/home/work/user-job-dir/<app folder>/`); the data and output folders are named after
/// the arguments that carry them.
pub mod in_container {
    /// Working directory, and parent of the code folder.
    pub const JOB_DIR: &str = "/home/work/user-job-dir";
    /// trainyard's `run_train.sh`.
    pub const RUN_TRAIN: &str = "/home/work/run_train.sh";
    /// `data_url` (read-only).
    pub const DATA: &str = "/home/work/data_url";
    /// `train_url`.
    pub const TRAIN: &str = "/home/work/train_url";
    /// `log_url`.
    pub const LOG: &str = "/home/work/log_url";
}

/// The placeholder of `user_command` that expands to the run's arguments.
const PYTHON_FILE_PARAMETER: &str = "{python_file_parameter}";

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

/// What a run's workers execute, and where.
struct Plan {
    /// Program and arguments (the shell for a custom image's `user_command`).
    command: Vec<String>,
    /// Present for container workers.
    container: Option<ContainerSpec>,
}

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
                // Written here, uploaded by the shim while the run goes on and at its end.
                Location::Object(to) => transfers
                    .output(run_dir.join("train"), to.clone())
                    .from
                    .clone(),
            };
            make_dir(&location, &dir).map_err(|source| RunError::TrainUrl {
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
    let (data_arg, train_arg) = match image {
        None => (
            data.as_ref().map(|d| d.display().to_string()),
            train.as_ref().map(|d| d.display().to_string()),
        ),
        Some(_) => (
            data.as_ref().map(|_| in_container::DATA.to_owned()),
            train.as_ref().map(|_| in_container::TRAIN.to_owned()),
        ),
    };
    let mut run_args = Vec::new();
    if let Some(d) = data_arg {
        run_args.push(format!("--data_url={d}"));
    }
    if let Some(t) = train_arg {
        run_args.push(format!("--train_url={t}"));
    }
    for p in cfg.parameter.iter().flatten() {
        run_args.push(format!("--{}={}", p.label, p.value));
    }

    let workers = usize::try_from(cfg.worker_server_num.unwrap_or(1).max(1)).unwrap_or(1);
    let per_worker_gpus = gpus.len().checked_div(workers).unwrap_or(0);
    let plan = match image {
        None => host_plan(catalog, v, &code, &run_args)?,
        Some(image) => {
            let runtime = checker.containers.ok_or(RunError::NoContainerRuntime)?;
            let app = app_folder(cfg.app_url.as_deref());
            let mut mounts = vec![
                Mount {
                    host: code.clone(),
                    container: format!("{}/{app}", in_container::JOB_DIR),
                    read_only: false,
                },
                Mount {
                    host: write_run_train(&run_dir)?,
                    container: in_container::RUN_TRAIN.to_owned(),
                    read_only: true,
                },
            ];
            if let Some(d) = &data {
                mounts.push(mount(d, in_container::DATA, true));
            }
            if let Some(t) = &train {
                mounts.push(mount(t, in_container::TRAIN, false));
            }
            if let Some(location) = &log_url {
                let dir = match location {
                    Location::Local(dir) => dir.clone(),
                    Location::Object(to) => transfers
                        .output(run_dir.join("log_url"), to.clone())
                        .from
                        .clone(),
                };
                make_dir(location, &dir).map_err(RunError::RunDir)?;
                mounts.push(mount(&dir, in_container::LOG, false));
            }
            // host_path volumes, checked again: the allowed folders may have changed.
            for (i, v) in cfg.volumes.iter().flatten().enumerate() {
                if let Some(h) = &v.host_path {
                    let host = checker
                        .host_volume(i, h, Purpose::Run)
                        .map_err(|e| RunError::Path(e.to_string()))?;
                    mounts.push(mount(&host, &h.dest_path, h.read_only.unwrap_or(false)));
                }
            }
            let spec = cfg.spec_id.and_then(|id| catalog.spec(id));
            let container = ContainerSpec {
                runtime: runtime.program.clone(),
                image: image.to_owned(),
                workdir: in_container::JOB_DIR.to_owned(),
                mounts,
                cpus: spec.map(|s| s.core),
                memory_mb: spec.map(|s| u64::from(s.cpu) * 1024),
                gpus: Vec::new(),
                pull_timeout_seconds: runtime.pull_timeout_seconds,
            };
            let command = match &cfg.user_command {
                Some(user_command) => vec![
                    "/bin/sh".to_owned(),
                    "-c".to_owned(),
                    expand_user_command(user_command, &run_args),
                ],
                None => {
                    let boot = boot_file(v)?;
                    let mut command = engine_command(catalog, v)?;
                    command.push(format!(
                        "{}/{app}/{}",
                        in_container::JOB_DIR,
                        boot.display()
                    ));
                    command.extend(run_args.iter().cloned());
                    command
                }
            };
            Plan {
                command,
                container: Some(container),
            }
        }
    };

    let master_port = free_port().map_err(RunError::NoPort)?;
    let host_ports: Vec<u16> = (0..workers)
        .map(|_| free_port().unwrap_or(master_port))
        .collect();
    let base_env = match plan.container {
        // The image brings its own PATH and locale; only what the job needs is added. Its
        // parameters are also environment variables there (`CUSTOM_PARAM1=1`, as ModelArts does),
        // set first so that trainyard's own variables win over a parameter of the same name.
        Some(_) => {
            let mut env: Vec<(String, String)> = cfg
                .parameter
                .iter()
                .flatten()
                .map(|p| (p.label.clone(), p.value.clone()))
                .collect();
            env.push(("PYTHONUNBUFFERED".to_owned(), "1".to_owned()));
            env
        }
        None => {
            let mut env = base_environment();
            give_home(&mut env, &run_dir, owner).map_err(RunError::RunDir)?;
            env
        }
    };
    let logs = logs_dir(&run_dir);
    if let Some(Location::Object(to)) = log_url {
        transfers.output(logs.clone(), to).exclude = vec![".idx".to_owned()];
    }
    let worker_specs = (0..workers)
        .map(|i| {
            let mut env = base_env.clone();
            env.extend([
                ("DLS_TASK_INDEX".to_owned(), i.to_string()),
                ("DLS_TASK_NUMBER".to_owned(), workers.to_string()),
                ("MASTER_ADDR".to_owned(), "127.0.0.1".to_owned()),
                ("MASTER_PORT".to_owned(), master_port.to_string()),
                ("WORLD_SIZE".to_owned(), workers.to_string()),
                ("RANK".to_owned(), i.to_string()),
                ("LOCAL_RANK".to_owned(), i.to_string()),
                ("TRAINYARD_JOB_ID".to_owned(), v.job_id.to_string()),
                ("TRAINYARD_VERSION_ID".to_owned(), v.id.to_string()),
                ("TRAINYARD_WORKER_INDEX".to_owned(), i.to_string()),
            ]);
            for (j, port) in host_ports.iter().enumerate() {
                env.push((
                    format!("BATCH_CUSTOM{j}_HOSTS"),
                    format!("127.0.0.1:{port}"),
                ));
            }
            let mine = match per_worker_gpus {
                0 => &[][..],
                n => &gpus[i * n..(i + 1) * n],
            };
            let mut container = plan.container.clone();
            let visible: Vec<String> = match &mut container {
                None => mine.iter().map(u32::to_string).collect(),
                // The container sees only its own GPUs, numbered from 0.
                Some(c) => {
                    c.gpus = mine.to_vec();
                    (0..mine.len()).map(|n| n.to_string()).collect()
                }
            };
            env.push(("CUDA_VISIBLE_DEVICES".to_owned(), visible.join(",")));
            WorkerSpec {
                program: plan.command[0].clone(),
                args: plan.command[1..].to_vec(),
                env,
                log_file: logs.join(log_name(job_name, i)),
                container,
            }
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
        })
    }
}

/// A host job: the engine's interpreter (or a built-in algorithm's) runs the boot file.
fn host_plan(catalog: &Catalog, v: &Version, code: &Path, run_args: &[String]) -> RunResult<Plan> {
    let (mut command, boot) = match v.config.model_id.and_then(|id| catalog.builtin(id)) {
        Some(b) => (vec!["python3".to_owned()], code.join(b.boot_file)),
        None => (engine_command(catalog, v)?, code.join(boot_file(v)?)),
    };
    command.push(boot.display().to_string());
    command.extend(run_args.iter().cloned());
    Ok(Plan {
        command,
        container: None,
    })
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

/// The name of the code folder in the container: `app_url`'s last folder, as ModelArts
/// names it (`/usr/app/` gives `app`).
fn app_folder(app_url: Option<&str>) -> String {
    app_url
        .and_then(|u| u.split('/').rev().find(|p| !p.is_empty() && *p != "."))
        .filter(|p| *p != "..")
        .unwrap_or("app")
        .to_owned()
}

fn mount(host: &Path, container: &str, read_only: bool) -> Mount {
    Mount {
        host: host.to_owned(),
        container: container.to_owned(),
        read_only,
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

/// `user_command` with `{python_file_parameter}` replaced by the run's arguments, each
/// quoted for the shell; a command without the placeholder gets nothing appended.
pub fn expand_user_command(user_command: &str, run_args: &[String]) -> String {
    let quoted: Vec<String> = run_args
        .iter()
        .map(|a| {
            shlex::try_quote(a)
                .map(|q| q.into_owned())
                .unwrap_or_else(|_| a.replace('\0', ""))
        })
        .collect();
    user_command.replace(PYTHON_FILE_PARAMETER, &quoted.join(" "))
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
