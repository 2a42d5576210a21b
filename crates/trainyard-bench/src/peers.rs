//! The peers measured in the same run: pueue (its own daemon in a temp dir) and Slurm (the
//! dev cluster, when `sinfo` answers).

use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A private pueue daemon.
pub struct Pueue {
    bin_dir: PathBuf,
    config: PathBuf,
    pub daemon_pid: u32,
}

fn run(cmd: &mut Command) -> Result<String> {
    let out = cmd.stdin(Stdio::null()).output()?;
    if !out.status.success() {
        bail!(
            "{:?} failed: {}",
            cmd,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

impl Pueue {
    /// Starts `pueued` with its state under `dir`.
    pub fn start(bin_dir: &Path, dir: &Path, parallel: u32) -> Result<Self> {
        let config = dir.join("pueue.yml");
        let state = dir.join("pueue-state");
        std::fs::create_dir_all(&state)?;
        std::fs::write(
            &config,
            format!(
                "shared:\n  pueue_directory: {state}\n  runtime_directory: {state}\n  use_unix_socket: true\n  unix_socket_path: {state}/pueue.socket\n\
                 daemon:\n  callback: null\n",
                state = state.display()
            ),
        )?;
        let log = std::fs::File::create(dir.join("pueued.log"))?;
        let child = Command::new(bin_dir.join("pueued"))
            .arg("--config")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting pueued")?;
        let p = Self {
            bin_dir: bin_dir.to_owned(),
            config,
            daemon_pid: child.id(),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while p.client(&["status", "--json"]).is_err() {
            if Instant::now() > deadline {
                bail!("pueued did not come up");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        p.client(&["parallel", &parallel.to_string()])?;
        Ok(p)
    }

    /// Runs the `pueue` client.
    pub fn client(&self, args: &[&str]) -> Result<String> {
        run(Command::new(self.bin_dir.join("pueue"))
            .arg("--config")
            .arg(&self.config)
            .args(args))
    }

    /// `pueue add --print-task-id -- <command>`: the task id.
    pub fn add(&self, command: &str) -> Result<u64> {
        let out = self.client(&["add", "--print-task-id", "--", command])?;
        out.trim()
            .parse()
            .with_context(|| format!("pueue add printed {out:?}"))
    }

    /// Task statuses as pueue reports them (`Done`, `Running`, `Queued`...).
    pub fn statuses(&self) -> Result<Vec<String>> {
        let out = self.client(&["status", "--json"])?;
        let v: Value = serde_json::from_str(&out)?;
        let tasks = v["tasks"].as_object().cloned().unwrap_or_default();
        Ok(tasks
            .values()
            .map(|t| match &t["status"] {
                Value::String(s) => s.clone(),
                Value::Object(o) => o.keys().next().cloned().unwrap_or_default(),
                other => other.to_string(),
            })
            .collect())
    }

    /// Removes finished tasks.
    pub fn clean(&self) -> Result<()> {
        self.client(&["clean"]).map(drop)
    }
}

impl Drop for Pueue {
    fn drop(&mut self) {
        let _ = self.client(&["kill", "--all"]);
        let _ = self.client(&["shutdown"]);
        std::thread::sleep(Duration::from_millis(200));
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.daemon_pid as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

/// Whether a Slurm cluster answers.
pub fn slurm_available() -> bool {
    Command::new("sinfo")
        .args(["-h", "-o", "%t"])
        .output()
        .map(|o| {
            o.status.success()
                && String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .any(|l| matches!(l.trim(), "idle" | "mix" | "alloc"))
        })
        .unwrap_or(false)
}

/// `sbatch --parsable --wrap <command>` with output discarded: the job id.
pub fn sbatch_wrap(command: &str, name: &str) -> Result<u64> {
    let out = run(Command::new("sbatch").args([
        "--parsable",
        "-o",
        "/dev/null",
        "-J",
        name,
        "--wrap",
        command,
    ]))?;
    out.trim()
        .split(';')
        .next()
        .unwrap_or_default()
        .parse()
        .with_context(|| format!("sbatch printed {out:?}"))
}

/// Number of jobs named `name` that Slurm still has pending or running.
pub fn slurm_active(name: &str) -> Result<usize> {
    let out = run(Command::new("squeue").args(["-h", "-n", name, "-o", "%i"]))?;
    Ok(out.lines().filter(|l| !l.trim().is_empty()).count())
}

/// `scancel <id>`.
pub fn scancel(id: u64) -> Result<()> {
    run(Command::new("scancel").arg(id.to_string())).map(drop)
}
