//! A `trainyard serve` process for the benchmarks, and a small HTTP client for it.

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const PROJECT: &str = "bench";
pub const TOKEN: &str = "bench-token";

/// A running server with its own data directory.
pub struct Server {
    child: Child,
    pub base: String,
    pub data: PathBuf,
    /// The database (`sqlite://...` or `postgres://...`).
    pub database_url: String,
    pub http: reqwest::Client,
    bin: PathBuf,
    config: PathBuf,
    port: u16,
    /// The ordinary user the server runs as (`None`: the caller).
    user: Option<u32>,
}

/// How a benchmark server is set up beyond its folder and capacity.
#[derive(Default)]
pub struct Options<'a> {
    /// More TOML tables appended to the config.
    pub extra: &'a str,
    /// The database (default: SQLite in the data directory).
    pub database_url: Option<&'a str>,
    /// More keys of the project's `[[projects]]` table.
    pub project: &'a str,
    /// An ordinary user to run the server as (its folder becomes that user's).
    pub user: Option<u32>,
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

impl Server {
    /// Writes a config (capacity `cores` slots, a shell engine) and starts the server.
    pub async fn start(bin: &Path, dir: &Path, cores: u32) -> Result<Self> {
        Self::start_with(bin, dir, cores, "").await
    }

    /// Like [`Self::start`], with `extra` appended to the config (more TOML tables).
    pub async fn start_with(bin: &Path, dir: &Path, cores: u32, extra: &str) -> Result<Self> {
        Self::start_on(bin, dir, cores, extra, None).await
    }

    /// Like [`Self::start_with`], on the database at `database_url` (default: SQLite in the
    /// data directory).
    pub async fn start_on(
        bin: &Path,
        dir: &Path,
        cores: u32,
        extra: &str,
        database_url: Option<&str>,
    ) -> Result<Self> {
        let options = Options {
            extra,
            database_url,
            ..Options::default()
        };
        Self::start_with_options(bin, dir, cores, &options).await
    }

    /// A server set up as `options` say.
    pub async fn start_with_options(
        bin: &Path,
        dir: &Path,
        cores: u32,
        options: &Options<'_>,
    ) -> Result<Self> {
        let Options {
            extra,
            database_url,
            project,
            user,
        } = *options;
        let data = dir.join("data");
        let database_url = database_url.map_or_else(
            || format!("sqlite://{}", data.join("trainyard.db").display()),
            str::to_owned,
        );
        std::fs::create_dir_all(dir)?;
        let config = dir.join("config.toml");
        write_private(
            &config,
            format!(
                "data_dir = \"{}\"\ndatabase_url = \"{database_url}\"\nmax_body_bytes = 1048576\n\n[[projects]]\nid = \"{PROJECT}\"\ntokens = [\"{TOKEN}\"]\nquotas = 1000000\njob_count_limit = 1000000\n{project}\n\n\
                 [executor]\ncores = {cores}\nmemory_gb = {mem}\nstop_grace_seconds = 5\n\n\
                 [[engines]]\nid = 1\nname = \"Shell\"\nversion = \"sh\"\ntype = 0\ncommand = [\"sh\"]\n\n\
                 [[specs]]\nspec_id = 1\nspec_code = \"bench.1u\"\ncore = 1\ncpu = 1\nmax_num = 4\n\n{extra}",
                data.display(),
                mem = cores * 2,
            ),
        )?;
        if let Some(uid) = user {
            chown_tree(dir, uid)?;
        }
        let port = free_port()?;
        let mut s = Self {
            child: spawn(bin, &config, port, dir, user)?,
            base: format!("http://127.0.0.1:{port}"),
            data,
            database_url,
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(64)
                .build()?,
            bin: bin.to_owned(),
            config,
            port,
            user,
        };
        s.wait_up().await?;
        Ok(s)
    }

    async fn wait_up(&mut self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = self.http.get(format!("{}/health", self.base)).send().await {
                if r.status().is_success() {
                    return Ok(());
                }
            }
            if let Some(status) = self.child.try_wait()? {
                bail!("server exited: {status}");
            }
            if Instant::now() > deadline {
                bail!("server did not come up");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the server (SIGTERM) and starts it again on the same data.
    pub async fn restart(&mut self) -> Result<()> {
        self.stop();
        let dir = self.config.parent().unwrap().to_owned();
        self.child = spawn(&self.bin, &self.config, self.port, &dir, self.user)?;
        self.wait_up().await
    }

    /// Stops the server gracefully.
    pub fn stop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let _ = self.child.wait();
    }

    /// The server's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Storage folder of the bench project.
    pub fn storage(&self) -> PathBuf {
        self.data.join("obs").join(PROJECT)
    }

    /// Hands what the benchmark wrote into the storage to the server's user, when the server
    /// runs as an ordinary user (a root server reads it as it is).
    pub fn give_storage_to_server(&self) -> Result<()> {
        match self.user {
            Some(uid) => chown_tree(&self.data.join("obs"), uid),
            None => Ok(()),
        }
    }

    /// Creates a job running `app/<boot>` in a container of `image` (the code folder mounted
    /// at `/home/work/user-job-dir/<app>`, the train_url at `/home/work/train_url`).
    pub async fn create_in_image(
        &self,
        name: &str,
        app: &str,
        command: &str,
        train_url: &str,
        image: &str,
    ) -> Result<(i64, i64)> {
        let body = json!({"job_name": name, "config": {
            "worker_server_num": 1, "app_url": format!("/{app}/"),
            "user_image_url": image, "user_command": command, "train_url": train_url,
            "data_url": "/data/", "spec_id": 1, "engine_id": 1}});
        let r = self.post("/training-jobs", body).await?;
        Ok((
            r["job_id"].as_i64().context("job_id")?,
            r["version_id"].as_i64().context("version_id")?,
        ))
    }

    /// `/v1/bench{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("{}/v1/{PROJECT}{path}", self.base)
    }

    async fn call(&self, req: reqwest::RequestBuilder) -> Result<Value> {
        let resp = req.header("X-Auth-Token", TOKEN).send().await?;
        let status = resp.status();
        let body: Value = resp.json().await?;
        if !status.is_success() {
            bail!("HTTP {status}: {body}");
        }
        Ok(body)
    }

    pub async fn get(&self, path: &str) -> Result<Value> {
        self.call(self.http.get(self.url(path))).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Result<Value> {
        self.call(self.http.post(self.url(path)).json(&body)).await
    }

    /// Creates a job running `app/<boot>` with `sh`; returns (job id, version id).
    pub async fn create(
        &self,
        name: &str,
        app: &str,
        boot: &str,
        params: &[(&str, String)],
    ) -> Result<(i64, i64)> {
        let parameter: Vec<Value> = params
            .iter()
            .map(|(k, v)| json!({"label": k, "value": v}))
            .collect();
        let body = json!({"job_name": name, "config": {
            "worker_server_num": 1, "app_url": format!("/{app}/"), "boot_file_url": format!("/{app}/{boot}"),
            "data_url": "/data/", "spec_id": 1, "engine_id": 1, "parameter": parameter}});
        let r = self.post("/training-jobs", body).await?;
        Ok((
            r["job_id"].as_i64().context("job_id")?,
            r["version_id"].as_i64().context("version_id")?,
        ))
    }

    pub async fn status(&self, job: i64, ver: i64) -> Result<i64> {
        let r = self
            .get(&format!("/training-jobs/{job}/versions/{ver}"))
            .await?;
        r["status"].as_i64().context("status")
    }

    /// Polls until the version is in one of `wanted`.
    pub async fn wait_status(
        &self,
        job: i64,
        ver: i64,
        wanted: &[i64],
        within: Duration,
    ) -> Result<i64> {
        let deadline = Instant::now() + within;
        loop {
            let s = self.status(job, ver).await?;
            if wanted.contains(&s) {
                return Ok(s);
            }
            if Instant::now() > deadline {
                bail!("version {ver} stuck in {s}");
            }
            tokio::time::sleep(Duration::from_micros(500)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
        if let Ok(rd) = std::fs::read_dir(self.data.join("runs")) {
            for e in rd.flatten() {
                kill_run_dir(&e.path());
            }
        }
    }
}

/// SIGKILLs what a run directory's shim started (teardown of the benchmark's jobs).
fn kill_run_dir(run_dir: &Path) {
    for w in trainyard_exec::run_dir::read_workers(run_dir) {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(w.pgid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

/// Gives `path` and everything below it to `uid` (and its same-numbered group).
fn chown_tree(path: &Path, uid: u32) -> Result<()> {
    let ok = Command::new("chown")
        .args(["-R", &format!("{uid}:{uid}")])
        .arg(path)
        .status()?
        .success();
    anyhow::ensure!(ok, "chown -R {uid} {}", path.display());
    Ok(())
}

fn spawn(bin: &Path, config: &Path, port: u16, dir: &Path, user: Option<u32>) -> Result<Child> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("server.log"))?;
    let mut cmd = Command::new(bin);
    if let Some(uid) = user {
        use std::os::unix::process::CommandExt;
        cmd.uid(uid).gid(uid).env("HOME", dir);
    }
    Ok(cmd
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--config",
        ])
        .arg(config)
        .env("RUST_LOG", "warn")
        .stdout(log.try_clone()?)
        .stderr(log)
        .stdin(Stdio::null())
        .spawn()?)
}

/// Resident set size of a process in MB (VmRSS).
pub fn rss_mb(pid: u32) -> f64 {
    status_kb(pid, "VmRSS:") / 1024.0
}

fn status_kb(pid: u32, key: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|t| t.lines().find(|l| l.starts_with(key)).map(str::to_owned))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        .unwrap_or(f64::NAN)
}

/// Writes `text` to `path` readable by its owner alone, as the server requires of a
/// configuration holding tokens.
fn write_private(path: &Path, text: String) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?
        .write_all(text.as_bytes())
}

/// Creates `path`, a folder every user may write (sticky, as /tmp): jobs run as their
/// project's user (when the server runs as root) and leave their marks here.
pub fn shared_dir(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o1777))
}
