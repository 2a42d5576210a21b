//! Turns a stored version into the processes that run it: command line, environment, logs.

use crate::catalog::Catalog;
use crate::service::run_error::{RunError, RunResult};
use crate::service::validate::{boot_relative, data_dir, Checker};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use trainyard_exec::{RunSpec, WorkerSpec};
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
    let (command, boot) = match cfg.model_id.and_then(|id| catalog.builtin(id)) {
        Some(b) => (vec!["python3".to_owned()], code.join(b.boot_file)),
        None => {
            let engine_id = cfg.engine_id.unwrap_or(1);
            let engine = catalog
                .engine(engine_id)
                .ok_or(RunError::EngineGone(engine_id))?;
            let rel = match (&cfg.app_url, &cfg.boot_file_url) {
                (Some(app), Some(boot)) => {
                    boot_relative(app, boot).ok_or(RunError::BootOutsideApp)?
                }
                _ => return Err(RunError::NoBootFile),
            };
            (engine.command.clone(), code.join(rel))
        }
    };
    let mut args: Vec<String> = command[1..].to_vec();
    args.push(boot.display().to_string());
    if let Some(dir) = data_dir(checker, cfg).map_err(|e| RunError::Path(e.to_string()))? {
        args.push(format!("--data_url={}", dir.display()));
    }
    if let Some(url) = &cfg.train_url {
        let dir = checker
            .resolve("train_url", url)
            .map_err(|e| RunError::Path(e.to_string()))?;
        std::fs::create_dir_all(&dir).map_err(|source| RunError::TrainUrl {
            url: url.clone(),
            source,
        })?;
        args.push(format!("--train_url={}", dir.display()));
    }
    for p in cfg.parameter.iter().flatten() {
        args.push(format!("--{}={}", p.label, p.value));
    }

    let workers = usize::try_from(cfg.worker_server_num.unwrap_or(1).max(1)).unwrap_or(1);
    let master_port = free_port().map_err(RunError::NoPort)?;
    let host_ports: Vec<u16> = (0..workers)
        .map(|_| free_port().unwrap_or(master_port))
        .collect();
    let per_worker_gpus = gpus.len().checked_div(workers).unwrap_or(0);
    let base_env = base_environment();
    let logs = logs_dir(&run_dir);
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
            if per_worker_gpus > 0 {
                let mine = &gpus[i * per_worker_gpus..(i + 1) * per_worker_gpus];
                let list: Vec<String> = mine.iter().map(u32::to_string).collect();
                env.push(("CUDA_VISIBLE_DEVICES".to_owned(), list.join(",")));
            } else {
                env.push(("CUDA_VISIBLE_DEVICES".to_owned(), String::new()));
            }
            WorkerSpec {
                program: command[0].clone(),
                args: args.clone(),
                env,
                log_file: logs.join(log_name(job_name, i)),
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
    })
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
