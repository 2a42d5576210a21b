//! Run planning, the part without IO: from a version's resolved locations, what its workers
//! run (arguments, command line, container mounts) and the environment each worker gets.
//! The server resolves the locations (storage paths, folders it makes, free ports, its own
//! environment) and turns the plan into a backend's run spec.

use std::path::{Path, PathBuf};

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

/// How many workers a version runs (`worker_server_num`, at least 1).
pub fn worker_count(worker_server_num: Option<i64>) -> usize {
    usize::try_from(worker_server_num.unwrap_or(1).max(1)).unwrap_or(1)
}

/// The run's arguments: `--data_url` and `--train_url` naming the folders as the workers see
/// them (host paths, or the container's when `in_image`), then the version's parameters.
pub fn arguments(
    in_image: bool,
    data: Option<&Path>,
    train: Option<&Path>,
    parameters: &[(String, String)],
) -> Vec<String> {
    let seen = |dir: Option<&Path>, in_container: &str| {
        dir.map(|d| match in_image {
            false => d.display().to_string(),
            true => in_container.to_owned(),
        })
    };
    let mut args = Vec::new();
    if let Some(d) = seen(data, in_container::DATA) {
        args.push(format!("--data_url={d}"));
    }
    if let Some(t) = seen(train, in_container::TRAIN) {
        args.push(format!("--train_url={t}"));
    }
    for (label, value) in parameters {
        args.push(format!("--{label}={value}"));
    }
    args
}

/// What runs the code of a host job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry<E> {
    /// A built-in algorithm: `python3` runs its boot file (relative to the code folder).
    Builtin(PathBuf),
    /// The engine's command (or why there is none) runs the version's boot file (relative to
    /// the code folder, or why there is none).
    Engine {
        /// The engine's command line.
        command: Result<Vec<String>, E>,
        /// The boot file.
        boot_file: Result<PathBuf, E>,
    },
}

/// The command line of a host job, run in `code`, followed by `args`.
pub fn host_command<E>(entry: Entry<E>, code: &Path, args: &[String]) -> Result<Vec<String>, E> {
    let (mut command, boot) = match entry {
        Entry::Builtin(boot_file) => (vec!["python3".to_owned()], code.join(boot_file)),
        Entry::Engine { command, boot_file } => (command?, code.join(boot_file?)),
    };
    command.push(boot.display().to_string());
    command.extend(args.iter().cloned());
    Ok(command)
}

/// The command line of a job in an image: its `user_command` run by the shell, with
/// `{python_file_parameter}` expanded to `args`; without one, the engine's command (or why
/// there is none) runs the boot file (or why there is none) in the container's code folder
/// `app`, followed by `args`.
pub fn container_command<E>(
    user_command: Option<&str>,
    engine: Result<Vec<String>, E>,
    boot_file: Result<PathBuf, E>,
    app: &str,
    args: &[String],
) -> Result<Vec<String>, E> {
    if let Some(user_command) = user_command {
        return Ok(vec![
            "/bin/sh".to_owned(),
            "-c".to_owned(),
            expand_user_command(user_command, args),
        ]);
    }
    let boot = boot_file?;
    let mut command = engine?;
    command.push(format!(
        "{}/{app}/{}",
        in_container::JOB_DIR,
        boot.display()
    ));
    command.extend(args.iter().cloned());
    Ok(command)
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

/// The name of the code folder in the container: `app_url`'s last folder, as ModelArts
/// names it (`/usr/app/` gives `app`).
pub fn app_folder(app_url: Option<&str>) -> String {
    app_url
        .and_then(|u| u.split('/').rev().find(|p| !p.is_empty() && *p != "."))
        .filter(|p| *p != "..")
        .unwrap_or("app")
        .to_owned()
}

/// A host folder a container sees.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    /// The host folder (or file).
    pub host: PathBuf,
    /// Where the container sees it.
    pub container: String,
    /// Mounted read-only.
    pub read_only: bool,
}

impl Mount {
    fn new(host: &Path, container: &str, read_only: bool) -> Self {
        Self {
            host: host.to_owned(),
            container: container.to_owned(),
            read_only,
        }
    }
}

/// The host folders a job in an image sees.
#[derive(Clone, Debug)]
pub struct Folders<'a> {
    /// The code folder.
    pub code: &'a Path,
    /// The container's code folder name (see [`app_folder`]).
    pub app: &'a str,
    /// trainyard's `run_train.sh`.
    pub run_train: &'a Path,
    /// `data_url`'s folder, read-only.
    pub data: Option<&'a Path>,
    /// `train_url`'s folder.
    pub train: Option<&'a Path>,
    /// `log_url`'s folder.
    pub log: Option<&'a Path>,
    /// `host_path` volumes: host folder, container path, read-only.
    pub volumes: Vec<(PathBuf, String, bool)>,
}

/// The mounts of a job in an image, in the order the runtime gets them.
pub fn mounts(f: &Folders<'_>) -> Vec<Mount> {
    let mut mounts = vec![
        Mount::new(
            f.code,
            &format!("{}/{}", in_container::JOB_DIR, f.app),
            false,
        ),
        Mount::new(f.run_train, in_container::RUN_TRAIN, true),
    ];
    if let Some(d) = f.data {
        mounts.push(Mount::new(d, in_container::DATA, true));
    }
    if let Some(t) = f.train {
        mounts.push(Mount::new(t, in_container::TRAIN, false));
    }
    if let Some(l) = f.log {
        mounts.push(Mount::new(l, in_container::LOG, false));
    }
    for (host, dest, read_only) in &f.volumes {
        mounts.push(Mount::new(host, dest, *read_only));
    }
    mounts
}

/// The environment a job in an image starts from: the image brings its own PATH and locale,
/// so only what the job needs is added. Its parameters are environment variables there too
/// (`CUSTOM_PARAM1=1`), set first so that trainyard's own variables win over a parameter of
/// the same name.
pub fn container_environment(parameters: &[(String, String)]) -> Vec<(String, String)> {
    let mut env = parameters.to_vec();
    env.push(("PYTHONUNBUFFERED".to_owned(), "1".to_owned()));
    env
}

/// What a run's workers share, to give each its own environment.
#[derive(Clone, Debug)]
pub struct Cohort<'a> {
    /// How many workers.
    pub workers: usize,
    /// The environment every worker starts from.
    pub base: &'a [(String, String)],
    /// The port worker 0 listens on for the others.
    pub master_port: u16,
    /// One port per worker, for `BATCH_CUSTOM<i>_HOSTS`.
    pub host_ports: &'a [u16],
    /// The job's id.
    pub job_id: i64,
    /// The version's id.
    pub version_id: i64,
    /// The GPU indices handed to the run, split evenly among the workers.
    pub gpus: &'a [u32],
    /// The workers run in containers, which see only their own GPUs, numbered from 0.
    pub in_image: bool,
}

/// One worker's share of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkerPlan {
    /// Its environment.
    pub env: Vec<(String, String)>,
    /// Its GPUs (the host's indices).
    pub gpus: Vec<u32>,
}

/// Each worker's environment and GPUs: the base environment, the distributed-training
/// variables (`DLS_TASK_INDEX`, `MASTER_ADDR`, `RANK`, ...), the peers' `BATCH_CUSTOM<i>_HOSTS`
/// and `CUDA_VISIBLE_DEVICES`.
pub fn workers(c: &Cohort<'_>) -> Vec<WorkerPlan> {
    let per_worker_gpus = c.gpus.len().checked_div(c.workers).unwrap_or(0);
    (0..c.workers)
        .map(|i| {
            let mut env = c.base.to_vec();
            env.extend([
                ("DLS_TASK_INDEX".to_owned(), i.to_string()),
                ("DLS_TASK_NUMBER".to_owned(), c.workers.to_string()),
                ("MASTER_ADDR".to_owned(), "127.0.0.1".to_owned()),
                ("MASTER_PORT".to_owned(), c.master_port.to_string()),
                ("WORLD_SIZE".to_owned(), c.workers.to_string()),
                ("RANK".to_owned(), i.to_string()),
                ("LOCAL_RANK".to_owned(), i.to_string()),
                ("TRAINYARD_JOB_ID".to_owned(), c.job_id.to_string()),
                ("TRAINYARD_VERSION_ID".to_owned(), c.version_id.to_string()),
                ("TRAINYARD_WORKER_INDEX".to_owned(), i.to_string()),
            ]);
            for (j, port) in c.host_ports.iter().enumerate() {
                env.push((
                    format!("BATCH_CUSTOM{j}_HOSTS"),
                    format!("127.0.0.1:{port}"),
                ));
            }
            let mine = match per_worker_gpus {
                0 => &[][..],
                n => &c.gpus[i * n..(i + 1) * n],
            };
            let visible: Vec<String> = match c.in_image {
                false => mine.iter().map(u32::to_string).collect(),
                true => (0..mine.len()).map(|n| n.to_string()).collect(),
            };
            env.push(("CUDA_VISIBLE_DEVICES".to_owned(), visible.join(",")));
            WorkerPlan {
                env,
                gpus: mine.to_vec(),
            }
        })
        .collect()
}
