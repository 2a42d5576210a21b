//! Servers under test: one inside the test process ([`TestServer`]), a `trainyard serve` child
//! process ([`ServerProcess`], for kill -9 and restart tests) and replicas on one PostgreSQL
//! ([`Replicas`]); each on a free port with its own data folder, and nothing of their runs
//! outlives them. None starts while another test measures CPU use or time (`load`).

use super::api::{api_pair, Api};
use super::config::{config_text_with, write_config, PROJECT, TOKEN};
use super::fixtures::{tempdir, write_app};
use super::load::between_measurements;
use super::wait::wait_healthy;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The user id `project`'s jobs run as on the server with data folder `data`.
pub fn project_uid(data: &Path, project: &str) -> u32 {
    let uids: Value =
        serde_json::from_slice(&std::fs::read(data.join("job-uids.json")).unwrap()).unwrap();
    uids[project].as_u64().unwrap() as u32
}

/// The `trainyard` binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_trainyard"))
}

/// A server running inside the test process.
pub struct TestServer {
    pub dir: tempfile::TempDir,
    pub api: Api,
    pub other: Api,
    task: tokio::task::JoinHandle<()>,
}

impl TestServer {
    /// A server with the default test configuration.
    pub async fn start() -> Self {
        Self::start_with("").await
    }

    /// A server with `extra` appended to its configuration.
    pub async fn start_with(extra: &str) -> Self {
        Self::start_with_project("", extra).await
    }

    /// A server whose main project's table gets `project_extra` (e.g. `host_paths = [...]`).
    pub async fn start_with_project(project_extra: &str, extra: &str) -> Self {
        between_measurements().await;
        let dir = tempdir().unwrap();
        // Bound first, so addresses built from `listen` (a `service_url`) work.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let text = format!(
            "listen = \"{addr}\"\n{}",
            config_text_with(&dir.path().join("data"), project_extra, extra)
        );
        let cfg = trainyard_server::config::Config::from_toml(&text).unwrap();
        let app = trainyard_server::build(cfg, bin()).await.expect("build");
        let base = format!("http://{addr}");
        let task = tokio::spawn(async move {
            trainyard_server::serve(app, listener, std::future::pending())
                .await
                .unwrap();
        });
        let (api, other) = api_pair(base);
        Self {
            dir,
            api,
            other,
            task,
        }
    }

    /// A server whose `listen` is its bound address, so addresses it builds from it
    /// (visualization `service_url`) work: every test server is started so.
    pub async fn start_bound(extra: &str) -> Self {
        Self::start_with_project("", extra).await
    }

    /// The storage folder of the main project.
    pub fn storage(&self) -> PathBuf {
        self.dir.path().join("data/obs").join(PROJECT)
    }

    /// Writes `files` (name, content) into `app` below the project's storage.
    pub fn write_app(&self, app: &str, files: &[(&str, &str)]) {
        write_app(&self.storage(), app, files);
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
        kill_runs(&self.dir.path().join("data/runs"));
    }
}

/// Teardown: no run of a test may outlive it.
pub fn kill_runs(runs: &Path) {
    if let Ok(rd) = std::fs::read_dir(runs) {
        for e in rd.flatten() {
            trainyard_exec::kill_run(&e.path());
        }
    }
}

/// A `trainyard serve` child process (for kill -9 tests).
pub struct ServerProcess {
    pub child: std::process::Child,
    pub api: Api,
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl ServerProcess {
    /// Starts `trainyard serve --config <config>` on `port`, logging next to the config.
    pub async fn start(config: &Path, port: u16) -> Self {
        Self::start_args(
            &["--config".as_ref(), config.as_os_str()],
            &config.with_extension("log"),
            port,
        )
        .await
    }

    /// Starts `trainyard serve --listen 127.0.0.1:<port> <args>`, logging to `log_path`.
    pub async fn start_args(args: &[&std::ffi::OsStr], log_path: &Path, port: u16) -> Self {
        Self::start_env(args, log_path, port, &[]).await
    }

    /// Like [`Self::start_args`], with `env` added to the server's environment.
    pub async fn start_env(
        args: &[&std::ffi::OsStr],
        log_path: &Path,
        port: u16,
        env: &[(&str, std::ffi::OsString)],
    ) -> Self {
        between_measurements().await;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log_path)
            .unwrap();
        let mut child = std::process::Command::new(bin())
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(args)
            .envs(env.iter().map(|(k, v)| (*k, v)))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let api = Api {
            base: format!("http://127.0.0.1:{port}"),
            project: PROJECT.into(),
            token: TOKEN.into(),
            http: reqwest::Client::new(),
        };
        let base = api.base.clone();
        if tokio::spawn(async move { wait_healthy(&base).await })
            .await
            .is_err()
        {
            // Say why: the server's own last lines, and whether it is still running.
            let exited = child.try_wait().ok().flatten();
            let log = std::fs::read_to_string(log_path).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            let _ = child.kill();
            panic!(
                "server at {} did not come up (exited: {exited:?}); its log ends:\n{}",
                api.base,
                tail.join("\n")
            );
        }
        Self { child, api }
    }

    /// SIGKILLs the server and reaps it.
    pub fn kill9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Pids of live (non-zombie) processes whose process group is `pgid`.
pub fn group_alive(pgid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 2..]) else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.len() > 2 && fields[0] != "Z" && fields[2].parse::<i32>().ok() == Some(pgid) {
            out.push(pid);
        }
    }
    out
}

/// Several `trainyard serve` processes (replicas) on one throwaway PostgreSQL database,
/// sharing one data directory (the supported deployment: README "Several replicas").
pub struct Replicas {
    /// Dropped (with the replicas) at the end of the test.
    _db: trainyard_store::testing::TestDatabase,
    pub dir: tempfile::TempDir,
    pub servers: Vec<Option<ServerProcess>>,
}

impl Replicas {
    /// `n` replicas with `extra` appended to their common configuration; `env(i)` is added to
    /// replica `i`'s environment. `None` (skipped) when no PostgreSQL is available outside CI.
    pub async fn start(
        test: &str,
        n: usize,
        extra: &str,
        env: impl Fn(usize) -> Vec<(&'static str, std::ffi::OsString)>,
    ) -> Option<Self> {
        let db =
            trainyard_store::testing::TestDatabase::new(trainyard_store::Engine::Postgres, test)
                .await?;
        let dir = tempdir().unwrap();
        let config = dir.path().join("replica.toml");
        let text = format!(
            "database_url = \"{}\"\n{}",
            db.url,
            // Bursts of hundreds of jobs: the default quotas (100 active) would refuse them.
            config_text_with(
                &dir.path().join("data"),
                "quotas = 1000\njob_count_limit = 2000",
                extra
            )
        );
        write_config(&config, text).unwrap();
        let mut servers = Vec::new();
        for i in 0..n {
            let log = dir.path().join(format!("replica-{i}.log"));
            let args = ["--config".as_ref(), config.as_os_str()];
            servers.push(Some(
                ServerProcess::start_env(&args, &log, free_port(), &env(i)).await,
            ));
        }
        Some(Self {
            _db: db,
            dir,
            servers,
        })
    }

    /// The client of replica `i`.
    pub fn api(&self, i: usize) -> &Api {
        &self.servers[i].as_ref().expect("replica running").api
    }

    /// What replica `i`'s log holds so far.
    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("replica-{i}.log")))
            .unwrap_or_default()
    }

    /// The storage folder of the main project.
    pub fn storage(&self) -> PathBuf {
        self.dir.path().join("data/obs").join(PROJECT)
    }

    /// The duties replica `i` reports in `/health` (`None`: it does not answer).
    pub async fn duties(&self, i: usize) -> Option<Vec<String>> {
        let api = self.servers[i].as_ref()?.api.clone();
        let r = api
            .http
            .get(format!("{}/health", api.base))
            .send()
            .await
            .ok()?;
        let body: Value = r.json().await.ok()?;
        Some(
            body["duties"]
                .as_array()?
                .iter()
                .filter_map(|d| d.as_str().map(str::to_owned))
                .collect(),
        )
    }

    /// The replica holding the scheduler duty, waiting up to `within` for one to hold it.
    pub async fn scheduler(&self, within: Duration) -> usize {
        let deadline = Instant::now() + within;
        loop {
            for i in 0..self.servers.len() {
                if self
                    .duties(i)
                    .await
                    .is_some_and(|d| d.iter().any(|d| d == "scheduler"))
                {
                    return i;
                }
            }
            assert!(
                Instant::now() < deadline,
                "no replica took the scheduler duty within {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILLs replica `i`.
    pub fn kill9(&mut self, i: usize) {
        if let Some(mut s) = self.servers[i].take() {
            s.kill9();
        }
    }
}

impl Drop for Replicas {
    fn drop(&mut self) {
        for s in self.servers.iter_mut().flatten() {
            let _ = s.child.kill();
            let _ = s.child.wait();
        }
        kill_runs(&self.dir.path().join("data/runs"));
    }
}
