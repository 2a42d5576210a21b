//! Test harness: a real server on a random port with its own data directory, either in this
//! process (`TestServer::start`) or as a child `trainyard serve` process (`ServerProcess`).

#![allow(dead_code)]

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
pub use trainyard_api::JobStatus;

pub const PROJECT: &str = "proj-a";
pub const TOKEN: &str = "token-a";
pub const OTHER_PROJECT: &str = "proj-b";
pub const OTHER_TOKEN: &str = "token-b";
/// `[metrics] scrape_token` of every test server.
pub const METRICS_TOKEN: &str = "metrics-token";

/// A temporary folder that the projects' job users may pass through (not list), as a
/// server running as root requires of the folders above its data (tempfile makes them 0700).
pub fn tempdir() -> std::io::Result<tempfile::TempDir> {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir()?;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o711))?;
    Ok(dir)
}

/// The user id `project`'s jobs run as on the server with data folder `data`.
pub fn project_uid(data: &Path, project: &str) -> u32 {
    let uids: Value =
        serde_json::from_slice(&std::fs::read(data.join("job-uids.json")).unwrap()).unwrap();
    uids[project].as_u64().unwrap() as u32
}

/// Creates `path`, a folder every user may write (sticky, as /tmp): where a job, running as
/// its project's user, leaves files for the test.
pub fn shared_dir(path: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(path).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o1777)).unwrap();
    path.to_owned()
}

/// Writes a configuration file readable by its owner alone, as the server requires of one
/// that holds secrets.
pub fn write_config(path: &Path, text: impl AsRef<[u8]>) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?
        .write_all(text.as_ref())
}

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_trainyard"))
}

/// Config text for a test server; `extra` is appended (e.g. an `[executor]` table).
pub fn config_text(data_dir: &Path, extra: &str) -> String {
    config_text_with(data_dir, "", extra)
}

/// Like [`config_text`], with `project_extra` (keys) added to the main project's table.
pub fn config_text_with(data_dir: &Path, project_extra: &str, extra: &str) -> String {
    let executor = if extra.contains("[executor]") {
        String::new()
    } else {
        "[executor]\ncores = 64\nmemory_gb = 256\nstop_grace_seconds = 2\n".to_owned()
    };
    // Every server's /metrics needs a token, loopback included.
    let extra = if extra.contains("[metrics]\n") {
        extra.replacen(
            "[metrics]\n",
            &format!("[metrics]\nscrape_token = \"{METRICS_TOKEN}\"\n"),
            1,
        )
    } else {
        format!("{extra}\n[metrics]\nscrape_token = \"{METRICS_TOKEN}\"\n")
    };
    format!(
        "data_dir = \"{}\"\n\n[[projects]]\nid = \"{PROJECT}\"\ntokens = [\"{TOKEN}\"]\n{project_extra}\n\n[[projects]]\nid = \"{OTHER_PROJECT}\"\ntokens = [\"{OTHER_TOKEN}\"]\n\n{executor}{extra}\n",
        data_dir.display()
    )
}

/// A client bound to one server and one token.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub project: String,
    pub token: String,
    pub http: reqwest::Client,
}

pub struct Reply {
    pub status: u16,
    pub body: Value,
}

impl Reply {
    /// Asserts a ModelArts error body with `code` and HTTP `status`.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "body: {}", self.body);
        assert_eq!(self.body["is_success"], json!(false), "body: {}", self.body);
        assert_eq!(self.body["error_code"], json!(code), "body: {}", self.body);
        assert!(
            self.body["error_message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "body: {}",
            self.body
        );
        assert_eq!(
            self.body.as_object().unwrap().len(),
            3,
            "exactly three fields: {}",
            self.body
        );
    }

    #[track_caller]
    pub fn assert_ok(&self) -> &Value {
        assert_eq!(self.status, 200, "body: {}", self.body);
        assert_eq!(self.body["is_success"], json!(true), "body: {}", self.body);
        assert!(self.body.get("error_code").is_none(), "body: {}", self.body);
        &self.body
    }
}

impl Api {
    /// The typed client (trainyard-client) for the same server, project and token.
    pub fn client(&self) -> trainyard_client::Client {
        trainyard_client::Client::with_http(
            self.http.clone(),
            self.base.clone(),
            self.project.clone(),
            Some(self.token.clone()),
        )
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/v1/{}{}", self.base, self.project, path)
    }

    pub async fn raw(
        &self,
        method: &str,
        url: &str,
        body: Option<&str>,
        token: Option<&str>,
    ) -> Reply {
        let mut req = self.http.request(method.parse().unwrap(), url);
        if let Some(t) = token {
            req = req.header("X-Auth-Token", t);
        }
        if let Some(b) = body {
            req = req
                .header("Content-Type", "application/json")
                .body(b.to_owned());
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        let body =
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
        Reply { status, body }
    }

    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        let text = body.map(|b| b.to_string());
        self.raw(method, &self.url(path), text.as_deref(), Some(&self.token))
            .await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.call("GET", path, None).await
    }
    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.call("POST", path, Some(body)).await
    }
    pub async fn put(&self, path: &str, body: Value) -> Reply {
        self.call("PUT", path, Some(body)).await
    }
    pub async fn delete(&self, path: &str) -> Reply {
        self.call("DELETE", path, None).await
    }

    /// Status of a version.
    pub async fn status(&self, job: i64, version: i64) -> JobStatus {
        match self.client().get_version(job, version).await {
            Ok(v) => JobStatus::from_code(v.status),
            Err(e) => panic!("version {job}/{version}: {e}"),
        }
    }

    /// Polls until the version reaches one of `wanted`, with a deadline.
    pub async fn wait_status(
        &self,
        job: i64,
        version: i64,
        wanted: &[JobStatus],
        within: Duration,
    ) -> JobStatus {
        let deadline = Instant::now() + within;
        loop {
            let s = self.status(job, version).await;
            if wanted.contains(&s) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "version {job}/{version} stuck in {}, wanted {wanted:?}",
                s.name()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Waits until the version ends (a terminal status, within `within`) and reads worker
    /// log `file`: `(status, log)`.
    pub async fn run_to_end(
        &self,
        job: i64,
        version: i64,
        file: &str,
        within: Duration,
    ) -> (JobStatus, String) {
        let end = self
            .wait_status(job, version, JobStatus::TERMINAL, within)
            .await;
        (end, self.log(job, version, file).await)
    }

    /// Creates a job running `boot.py` from `app` (a folder below the project's storage).
    pub async fn create_job(&self, name: &str, app: &str, extra: Value) -> (i64, i64) {
        let mut config = json!({
            "worker_server_num": 1,
            "app_url": format!("/{app}/"),
            "boot_file_url": format!("/{app}/boot.py"),
            "data_url": "/data/",
            "train_url": format!("/out/{name}/"),
            "spec_id": 1,
            "engine_id": 1,
        });
        for (k, v) in extra.as_object().unwrap() {
            config[k] = v.clone();
        }
        let r = self
            .post(
                "/training-jobs",
                json!({"job_name": name, "config": config}),
            )
            .await;
        let b = r.assert_ok();
        (
            b["job_id"].as_i64().unwrap(),
            b["version_id"].as_i64().unwrap(),
        )
    }

    /// Polls a worker's log until it contains `needle`, with a deadline.
    pub async fn wait_log(&self, job: i64, version: i64, file: &str, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let path = format!(
                "/training-jobs/{job}/versions/{version}/aom-log?log_file={file}&lines=500"
            );
            let r = self.get(&path).await;
            if r.status == 200
                && r.body["content"]
                    .as_str()
                    .is_some_and(|c| c.contains(needle))
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{file} never showed {needle:?}: {}",
                r.body
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Whole content of a worker's log (up to 500 last lines).
    pub async fn log(&self, job: i64, version: i64, file: &str) -> String {
        let q = trainyard_client::query::LogQuery {
            log_file: file.to_owned(),
            lines: Some(500),
            ..Default::default()
        };
        match self.client().read_log(job, version, &q).await {
            Ok(page) => page.content,
            Err(e) => panic!("log {file} of {job}/{version}: {e}"),
        }
    }
}

/// Clients of the server at `base` for the main project and for the other one.
pub fn api_pair(base: String) -> (Api, Api) {
    let http = reqwest::Client::new();
    let api = Api {
        base: base.clone(),
        project: PROJECT.into(),
        token: TOKEN.into(),
        http: http.clone(),
    };
    let other = Api {
        base,
        project: OTHER_PROJECT.into(),
        token: OTHER_TOKEN.into(),
        http,
    };
    (api, other)
}

/// A server running inside the test process.
pub struct TestServer {
    pub dir: tempfile::TempDir,
    pub api: Api,
    pub other: Api,
    task: tokio::task::JoinHandle<()>,
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with("").await
    }

    pub async fn start_with(extra: &str) -> Self {
        Self::start_with_project("", extra).await
    }

    /// A server whose main project's table gets `project_extra` (e.g. `host_paths = [...]`).
    pub async fn start_with_project(project_extra: &str, extra: &str) -> Self {
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

pub fn write_app(storage: &Path, app: &str, files: &[(&str, &str)]) {
    let dir = storage.join(app);
    std::fs::create_dir_all(&dir).unwrap();
    for (name, content) in files {
        std::fs::write(dir.join(name), content).unwrap();
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

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl ServerProcess {
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
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log_path)
            .unwrap();
        let child = std::process::Command::new(bin())
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
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = api.http.get(format!("{}/health", api.base)).send().await {
                if r.status().is_success() {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "server did not come up");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Self { child, api }
    }

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

/// The TensorBoard executable for tests: `$TRAINYARD_TENSORBOARD`, else `<repo>/.venv/bin/tensorboard`
/// (`.ci/run` installs it). Missing TensorBoard fails the test: it is part of the product.
pub fn tensorboard() -> PathBuf {
    let path = std::env::var_os("TRAINYARD_TENSORBOARD")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/tensorboard")
        });
    assert!(
        path.is_file(),
        "TensorBoard not found at {}: run `scripts/install-tensorboard.sh .venv` (or .ci/run), or set TRAINYARD_TENSORBOARD",
        path.display()
    );
    path
}

/// `[viz]` table using the test TensorBoard; `more` adds keys.
pub fn viz_config(more: &str) -> String {
    format!(
        "[viz]\ntensorboard = \"{}\"\n{more}\n",
        tensorboard().display()
    )
}

/// Writes real scalar event files (tag `loss`, steps 0..steps, value 1/(step+1)) into `dir`
/// with TensorBoard's own writer, using the Python of TensorBoard's environment.
pub fn write_scalars(dir: &Path, steps: usize) {
    let python = tensorboard().parent().unwrap().join("python3");
    let script = [
        "import sys",
        "from tensorboard.summary.writer.event_file_writer import EventFileWriter",
        "from tensorboard.compat.proto.event_pb2 import Event",
        "from tensorboard.compat.proto.summary_pb2 import Summary",
        "w = EventFileWriter(sys.argv[1])",
        "for step in range(int(sys.argv[2])):",
        "    s = Summary(value=[Summary.Value(tag='loss', simple_value=1.0 / (step + 1))])",
        "    w.add_event(Event(wall_time=1000.0 + step, step=step, summary=s))",
        "w.flush(); w.close()",
    ]
    .join("\n");
    std::fs::create_dir_all(dir).unwrap();
    let out = std::process::Command::new(python)
        .arg("-c")
        .arg(script)
        .arg(dir)
        .arg(steps.to_string())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "writing events failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The offline test image (busybox, bash, Python), made once per test process by
/// `scripts/make-test-image.sh` (which installs podman when missing).
pub fn test_image() -> String {
    static IMAGE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    IMAGE
        .get_or_init(|| {
            let script = concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../scripts/make-test-image.sh"
            );
            let out = std::process::Command::new("bash")
                .arg(script)
                .output()
                .expect("run make-test-image.sh");
            assert!(
                out.status.success(),
                "make-test-image.sh: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).trim().to_owned()
        })
        .clone()
}

/// Gives `image` a second name (e.g. the registry reference of a contract sample).
pub fn tag_image(image: &str, name: &str) {
    let status = std::process::Command::new("podman")
        .args(["tag", image, name])
        .status()
        .unwrap();
    assert!(status.success(), "podman tag {image} {name}");
}

/// Names of the containers on this host, running or not.
pub fn containers() -> Vec<String> {
    let out = std::process::Command::new("podman")
        .args(["ps", "--all", "--format", "{{.Names}}"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Asserts that no container of any run under `runs` exists any more.
pub fn assert_no_containers_in(runs: &Path) {
    let left = containers();
    for e in std::fs::read_dir(runs).unwrap().flatten() {
        let dir = std::fs::canonicalize(e.path()).unwrap();
        for i in 0..8 {
            let name = trainyard_exec::container::name(&dir, i);
            assert!(
                !left.contains(&name),
                "container {name} of {} left",
                dir.display()
            );
        }
    }
}

/// Asserts that no container of `srv`'s runs exists any more.
pub fn assert_no_containers_of(srv: &TestServer) {
    assert_no_containers_in(&srv.dir.path().join("data/runs"));
}

/// Starts the single-node Slurm dev cluster (scripts/slurm-dev-cluster.sh) unless it runs; one
/// start at a time, as the suites share this process.
pub async fn start_slurm_dev_cluster() {
    static STARTING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _one = STARTING.lock().await;
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scripts/slurm-dev-cluster.sh"
    );
    let out = tokio::process::Command::new("bash")
        .arg(script)
        .arg("start")
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "dev cluster: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The Slurm dev cluster's one node (2 cores), held by one test at a time: every test that
/// submits Slurm jobs, whatever its suite, holds it for its length.
pub struct SlurmNode {
    _held: tokio::sync::MutexGuard<'static, ()>,
}

/// Waits for the dev cluster's node to be free, starts the cluster unless it runs, and holds
/// the node until the value is dropped.
pub async fn slurm_node() -> SlurmNode {
    static NODE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let held = NODE.lock().await;
    start_slurm_dev_cluster().await;
    SlurmNode { _held: held }
}

impl Drop for SlurmNode {
    fn drop(&mut self) {
        // A test that failed half-way may leave jobs queued on the one node, which would
        // hold up the next test; the node is ours while it is held.
        let _ = std::process::Command::new("scancel")
            .args(["--user", "root"])
            .status();
    }
}

/// Several `trainyard serve` processes (replicas) on one throwaway PostgreSQL database,
/// sharing one data directory (the supported deployment: README "Several replicas").
pub struct Replicas {
    pub db: trainyard_store::testing::TestDatabase,
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
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
            db,
            dir,
            config,
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

/// The sum of the samples of `name` whose labels include every `(key, value)` of `labels`.
pub fn metric(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name)
        .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            prometheus_parse::Value::Histogram(ref h) => {
                h.iter().map(|c| c.count).fold(0.0, f64::max)
            }
            prometheus_parse::Value::Summary(_) => 0.0,
        })
        .sum()
}

pub async fn scrape(api: &Api) -> prometheus_parse::Scrape {
    let resp = api
        .http
        .get(format!("{}/metrics", api.base))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    let parsed = prometheus_parse::Scrape::parse(lines).expect("Prometheus text format");
    assert!(!parsed.samples.is_empty(), "{text}");
    parsed
}
