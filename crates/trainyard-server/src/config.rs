//! The server configuration: one TOML file, every key optional, unknown keys rejected.

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Default listen address: loopback, port 8600.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8600";

/// The whole configuration.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on (default 127.0.0.1:8600).
    pub listen: Option<SocketAddr>,
    /// Where the database, runs and storage live (default `$XDG_DATA_HOME/trainyard`).
    pub data_dir: Option<PathBuf>,
    /// Database URL: `sqlite://PATH` (default `sqlite://DATA_DIR/trainyard.db`), or
    /// `postgres://USER[:PASSWORD]@HOST:PORT/DB` for a database several servers share.
    pub database_url: Option<String>,
    /// Most database connections this server holds (default 8 for SQLite; for PostgreSQL
    /// twice the host's cores, 4 to 16; 1..=1000). Several servers on one PostgreSQL together need fewer than its
    /// `max_connections` (each also holds two sessions of its own: duties and notices).
    pub database_pool_size: Option<u32>,
    /// Largest accepted request body in bytes (default 1 MiB).
    pub max_body_bytes: Option<usize>,
    /// Projects and their credentials; none = one generated project.
    pub projects: Vec<ProjectConfig>,
    /// OBS-style storage.
    pub storage: StorageConfig,
    /// AI engine catalog (default: built-in list).
    pub engines: Option<Vec<EngineConfig>>,
    /// Resource spec catalog (default: CPU specs sized from this host).
    pub specs: Option<Vec<SpecConfig>>,
    /// Local executor.
    pub executor: ExecutorConfig,
    /// Visualization jobs (TensorBoard / MindInsight).
    pub viz: VizConfig,
    /// Resource pools (`pool_id`): where jobs run. None configured: every job runs locally and
    /// any `pool_id` is accepted.
    pub pools: Vec<PoolConfig>,
    /// NFS exports the administrator mounted on the hosts: the v2 API's `nfs` volumes of
    /// these exports are mounted into containers from their host folders.
    pub nfs: Vec<NfsConfig>,
    /// HTTPS: certificate chain and key (PEM); none = plain HTTP.
    pub tls: Option<TlsConfig>,
    /// Resource sampling of runs and the Prometheus endpoint.
    pub metrics: MetricsConfig,
    /// The OBS/S3 endpoint's limits.
    pub obs: ObsConfig,
    /// Public URLs (the `Host` check) and connection limits.
    pub server: ServerConfig,
    /// Throttling of failed credential checks, and caps on what sign-ins hand out.
    pub sign_in: SignInConfig,
    /// Worker logs: their size cap and their live streams.
    pub logs: LogsConfig,
    /// How webhook deliveries are sent and retried.
    pub notifications: NotificationsConfig,
    /// Webhooks: where projects' run events are sent (`[[webhooks]]`).
    pub webhooks: Vec<WebhookConfig>,
    /// Topics: names a job's `notification.topic_urn` gives, each a set of webhooks.
    pub topics: Vec<TopicConfig>,
    /// The queue of this host: fair share across projects.
    pub scheduler: SchedulerConfig,
}

/// `[notifications]`: timeouts and retries of webhook deliveries.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotificationsConfig {
    /// Minutes a delivery is retried after its event before it is given up (default 60).
    pub retry_for_minutes: Option<f64>,
    /// Seconds before the second attempt (default 5), doubled for each next, at most 10 min.
    pub first_retry_seconds: Option<f64>,
    /// Seconds one attempt may take, connecting included (default 10).
    pub timeout_seconds: Option<f64>,
}

/// Default `[notifications] retry_for_minutes`.
pub const DEFAULT_RETRY_FOR_MINUTES: f64 = 60.0;
/// Default `[notifications] first_retry_seconds`.
pub const DEFAULT_FIRST_RETRY_SECONDS: f64 = 5.0;
/// Default `[notifications] timeout_seconds`.
pub const DEFAULT_WEBHOOK_TIMEOUT_SECONDS: f64 = 10.0;

impl NotificationsConfig {
    /// How long a delivery is retried.
    pub fn retry_for(&self) -> std::time::Duration {
        std::time::Duration::from_secs_f64(
            self.retry_for_minutes.unwrap_or(DEFAULT_RETRY_FOR_MINUTES) * 60.0,
        )
    }

    /// The pause before the second attempt.
    pub fn first_retry(&self) -> std::time::Duration {
        std::time::Duration::from_secs_f64(
            self.first_retry_seconds
                .unwrap_or(DEFAULT_FIRST_RETRY_SECONDS),
        )
    }

    /// The time limit of one attempt.
    pub fn timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs_f64(
            self.timeout_seconds
                .unwrap_or(DEFAULT_WEBHOOK_TIMEOUT_SECONDS),
        )
    }
}

/// The body a webhook gets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookFormat {
    /// The event as a JSON object (default).
    #[default]
    Json,
    /// `{"text": "..."}`, what Slack (and Mattermost, Rocket.Chat...) incoming webhooks take.
    Slack,
}

/// `[[webhooks]]`: a receiver of one project's run events; `Debug` never shows the secret.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookConfig {
    /// Its name (unique): what topics list and deliveries show.
    pub name: String,
    /// The project whose jobs' events it receives.
    pub project: String,
    /// Where events are POSTed (`http://` or `https://`).
    pub url: String,
    /// Events sent for every job of the project (run event names, see docs/notifications.md);
    /// none: only what jobs ask for through a topic.
    pub events: Vec<String>,
    /// The key of the `X-Trainyard-Signature` HMAC-SHA256 (or `secret_file`); none: unsigned.
    pub secret: Option<String>,
    /// File holding the secret (not readable by others).
    pub secret_file: Option<PathBuf>,
    /// `json` (default) or `slack`.
    pub format: WebhookFormat,
}

impl std::fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("name", &self.name)
            .field("project", &self.project)
            .field("url", &self.url)
            .field("events", &self.events)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("secret_file", &self.secret_file)
            .field("format", &self.format)
            .finish()
    }
}

impl WebhookConfig {
    /// The signing key: the secret, from its value or file; none when neither is set.
    pub fn signing_key(&self) -> Result<Option<String>, ConfigError> {
        if self.secret.is_none() && self.secret_file.is_none() {
            return Ok(None);
        }
        read_secret(
            &format!("webhooks '{}' secret", self.name),
            self.secret.as_deref(),
            self.secret_file.as_deref(),
        )
        .map(Some)
    }
}

/// `[[topics]]`: a name a job's `notification.topic_urn` gives, mapped to webhooks.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TopicConfig {
    /// What `topic_urn` says (an SMN URN such as `urn:smn:cn-north-4:p1:train`, or any name).
    pub name: String,
    /// The project whose jobs may name it.
    pub project: String,
    /// The webhooks (their names, of the same project) it sends to.
    pub webhooks: Vec<String>,
}

/// Default half-life of a project's fair-share usage, in minutes: a day.
pub const DEFAULT_FAIR_SHARE_HALF_LIFE_MINUTES: f64 = 1440.0;

/// `[scheduler]`: how the queue of this host chooses between projects (see
/// `trainyard_sched::fair`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SchedulerConfig {
    /// Minutes (fractions allowed) after which a project's past usage counts half in the
    /// fair-share order (default 1440, a day).
    pub fair_share_half_life_minutes: Option<f64>,
    /// Whether a waiting run may preempt running runs of lower priority on this host (default
    /// false; `trainyard_sched::preempt`): of runs without a pool, and the default of local
    /// pools.
    pub preemption: Option<bool>,
    /// Seconds (fractions allowed) a run runs after its start before it may be preempted
    /// (default 60).
    pub preemption_min_runtime_seconds: Option<f64>,
}

/// Default `[scheduler] preemption_min_runtime_seconds`.
pub const DEFAULT_PREEMPTION_MIN_RUNTIME_SECONDS: f64 = 60.0;

impl SchedulerConfig {
    /// Preemption's policy when it is on for any run here (`preemption`, or a local pool of
    /// `pools` with `preemption = true`); preempted runs get `grace` (the stop grace).
    pub fn preemption(
        &self,
        grace: std::time::Duration,
        pools: &[PoolConfig],
    ) -> Option<trainyard_sched::preempt::Policy> {
        let seconds = self
            .preemption_min_runtime_seconds
            .unwrap_or(DEFAULT_PREEMPTION_MIN_RUNTIME_SECONDS)
            .max(0.0);
        let in_a_pool = pools
            .iter()
            .any(|p| p.backend == Backend::Local && p.preemption == Some(true));
        (self.preemption.unwrap_or(false) || in_a_pool).then_some(
            trainyard_sched::preempt::Policy {
                min_runtime_ms: (seconds * 1000.0).round() as i64,
                grace,
            },
        )
    }

    /// The half-life in milliseconds.
    pub fn half_life_ms(&self) -> i64 {
        let minutes = self
            .fair_share_half_life_minutes
            .unwrap_or(DEFAULT_FAIR_SHARE_HALF_LIFE_MINUTES);
        (minutes * 60_000.0).round().max(1.0) as i64
    }
}

/// `[[projects]] quota`: what a project's runs may hold at once on this host and on every
/// Slurm pool together (a Slurm run from its submission to its end), and how many may wait.
/// Each is unlimited when left out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProjectQuota {
    /// Cores its running runs may hold together; a run beyond waits ("project at its core
    /// quota").
    pub cores: Option<u32>,
    /// GPUs its running runs may hold together.
    pub gpus: Option<u32>,
    /// GB of memory its running runs may hold together.
    pub memory_gb: Option<u32>,
    /// Runs it may have running at once.
    pub running: Option<u32>,
    /// Versions it may have waiting to start (status 1 or 7); a create beyond is refused
    /// with `ModelArts.0118` (v2: `ModelArts.2815`).
    pub queued: Option<u32>,
}

/// Default most open log streams per project.
pub const DEFAULT_MAX_STREAMS_PER_PROJECT: usize = 64;

/// What happens to a run whose worker log reaches `max_log_bytes`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnLogLimit {
    /// The log is cut with a marker line; the run goes on, its further output discarded.
    #[default]
    Truncate,
    /// The log is cut with a marker line and the run is stopped, 11 FAILED.
    Fail,
}

/// `[logs]`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogsConfig {
    /// Most bytes one worker's log may hold (none: unlimited). Past it the log is cut with a
    /// `[trainyard] log limit of N bytes reached ...` line.
    pub max_log_bytes: Option<u64>,
    /// `truncate` (default): the run goes on; `fail`: the run is stopped and fails.
    pub on_log_limit: OnLogLimit,
    /// Most log streams (`.../log/stream`) a project may have open at once (default 64);
    /// beyond: HTTP 429 `ModelArts.2799`.
    pub max_streams_per_project: Option<usize>,
}

impl LogsConfig {
    /// The cap a run's spec carries.
    pub fn log_limit(&self) -> Option<trainyard_exec::LogLimit> {
        self.max_log_bytes
            .map(|max_bytes| trainyard_exec::LogLimit {
                max_bytes,
                fail: self.on_log_limit == OnLogLimit::Fail,
            })
    }

    /// The stream cap per project.
    pub fn max_streams(&self) -> usize {
        self.max_streams_per_project
            .unwrap_or(DEFAULT_MAX_STREAMS_PER_PROJECT)
    }
}

/// `[server]`: the names the server answers to, and connection limits (plain HTTP and TLS).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// URLs clients reach this server by (`scheme://host[:port]`): a request whose `Host`
    /// names another is refused, and the console accepts forms only from these origins.
    /// Default: the listen address, `localhost`, `127.0.0.1` and `[::1]` with its port, and
    /// `[viz] public_base`.
    pub public_urls: Vec<String>,
    /// Seconds a client may take to send a request's headers, counted from the connection's
    /// start or the request's first byte (default 10; also bounds the TLS handshake).
    pub header_read_timeout_seconds: Option<f64>,
    /// Seconds an idle keep-alive connection is kept between two requests (default 60).
    pub idle_timeout_seconds: Option<f64>,
    /// Longest pause, in seconds, while a request body is read (default 60).
    pub body_read_timeout_seconds: Option<f64>,
    /// Most open connections; more wait until one closes (default: half the open-file limit,
    /// 16..=4096).
    pub max_connections: Option<usize>,
}

/// Default `[server] header_read_timeout_seconds`.
pub const DEFAULT_HEADER_READ_TIMEOUT_SECONDS: f64 = 10.0;
/// Default `[server] idle_timeout_seconds`.
pub const DEFAULT_IDLE_TIMEOUT_SECONDS: f64 = 60.0;
/// Default `[server] body_read_timeout_seconds`.
pub const DEFAULT_BODY_READ_TIMEOUT_SECONDS: f64 = 60.0;

impl ServerConfig {
    fn seconds(v: Option<f64>, default: f64) -> std::time::Duration {
        std::time::Duration::from_secs_f64(v.unwrap_or(default))
    }

    /// The header read timeout.
    pub fn header_read_timeout(&self) -> std::time::Duration {
        Self::seconds(
            self.header_read_timeout_seconds,
            DEFAULT_HEADER_READ_TIMEOUT_SECONDS,
        )
    }

    /// The idle keep-alive timeout.
    pub fn idle_timeout(&self) -> std::time::Duration {
        Self::seconds(self.idle_timeout_seconds, DEFAULT_IDLE_TIMEOUT_SECONDS)
    }

    /// The body read timeout.
    pub fn body_read_timeout(&self) -> std::time::Duration {
        Self::seconds(
            self.body_read_timeout_seconds,
            DEFAULT_BODY_READ_TIMEOUT_SECONDS,
        )
    }

    /// The connection cap: configured, else half the process's open-file limit (16..=4096).
    pub fn max_connections(&self) -> usize {
        self.max_connections.unwrap_or_else(|| {
            let mut lim = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: getrlimit only writes the struct it is given.
            let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0;
            let files = if ok { lim.rlim_cur } else { 1024 };
            usize::try_from(files / 2).unwrap_or(4096).clamp(16, 4096)
        })
    }
}

/// `[sign_in]`: how failed credential checks slow down further ones, and how many tokens,
/// temporary keys and console sessions one identity may hold.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SignInConfig {
    /// Failed checks naming one user or access key before the first delay (default 10).
    pub free_failures: Option<u32>,
    /// Failed checks from one client address before the first delay (default 50).
    pub free_failures_per_address: Option<u32>,
    /// Longest delay in seconds; delays double from 1 s (default 900).
    pub max_backoff_seconds: Option<u64>,
    /// Tokens of `/v3/auth/tokens` one user may hold; the oldest goes (default 100).
    pub max_tokens_per_identity: Option<usize>,
    /// Temporary keys one user or project token may hold; the oldest goes (default 100).
    pub max_temporary_keys_per_identity: Option<usize>,
    /// Console sessions one identity may hold; the oldest ends (default 20).
    pub max_console_sessions_per_identity: Option<usize>,
}

/// Default `[sign_in] max_tokens_per_identity` and `max_temporary_keys_per_identity`.
pub const DEFAULT_MAX_ISSUED_PER_IDENTITY: usize = 100;
/// Default `[sign_in] max_console_sessions_per_identity`.
pub const DEFAULT_MAX_CONSOLE_SESSIONS: usize = 20;

impl SignInConfig {
    /// The backoff policy.
    pub fn policy(&self) -> crate::throttle::Policy {
        let d = crate::throttle::Policy::default();
        crate::throttle::Policy {
            free_per_identity: self.free_failures.unwrap_or(d.free_per_identity),
            free_per_address: self.free_failures_per_address.unwrap_or(d.free_per_address),
            max: self
                .max_backoff_seconds
                .map_or(d.max, std::time::Duration::from_secs),
        }
    }
}

/// Limits of the OBS/S3 endpoint (`[obs]`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ObsConfig {
    /// Largest body of one PUT or one multipart part, in bytes (default 5 GiB, S3's own
    /// limit); larger objects are uploaded in parts.
    pub max_object_bytes: Option<u64>,
    /// Seconds after which a multipart upload that was neither completed nor aborted is
    /// removed with its parts (default 7 days).
    pub multipart_expiry_seconds: Option<u64>,
    /// Most multipart uploads a project may have open at once (default 1000).
    pub max_open_uploads: Option<usize>,
}

/// Default largest PUT or part body (5 GiB).
pub const DEFAULT_MAX_OBJECT_BYTES: u64 = 5 << 30;

/// Default age at which an abandoned multipart upload is removed (7 days).
pub const DEFAULT_MULTIPART_EXPIRY_SECONDS: u64 = 7 * 24 * 3600;

/// Default cap on a project's open multipart uploads.
pub const DEFAULT_MAX_OPEN_UPLOADS: usize = 1000;

/// Default seconds between two samples of a run's workers.
pub const DEFAULT_SAMPLE_INTERVAL_SECONDS: f64 = 10.0;

/// `[metrics]`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Seconds between two samples of each running worker (default 10; 0.1..=3600,
    /// fractions allowed). Read by a run's shim when the run starts.
    pub sample_interval_seconds: Option<f64>,
    /// Token that opens `GET /metrics` (`Authorization: Bearer TOKEN`), from every address:
    /// loopback is no trust boundary, jobs run on this host too. Without it nobody may
    /// scrape, unless `loopback_without_token`.
    pub scrape_token: Option<String>,
    /// Callers on loopback may scrape without the token: only where no untrusted code runs
    /// on this host (off by default).
    pub loopback_without_token: bool,
}

impl MetricsConfig {
    /// The sampling interval in milliseconds.
    pub fn sample_interval_ms(&self) -> u64 {
        let secs = self
            .sample_interval_seconds
            .unwrap_or(DEFAULT_SAMPLE_INTERVAL_SECONDS);
        (secs * 1000.0).round() as u64
    }
}

/// `[tls]`: serve HTTPS with this certificate chain and private key (PEM files), or with a
/// self-signed pair made on first start (`self_signed = true`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// Certificate chain, leaf first (PEM). With `self_signed`: where the generated
    /// certificate goes (default `DATA_DIR/tls/cert.pem`).
    pub cert: Option<PathBuf>,
    /// Private key of the leaf (PEM: PKCS#8, PKCS#1 or SEC1). With `self_signed`: where the
    /// generated key goes (default `DATA_DIR/tls/key.pem`, mode 0600).
    pub key: Option<PathBuf>,
    /// Generate a self-signed certificate and key when the files are not there yet (and use
    /// them as they are on later starts).
    pub self_signed: bool,
}

impl TlsConfig {
    /// The certificate and key files in use: the configured ones, else (self-signed) the
    /// defaults in `data_dir`.
    pub fn files(&self, data_dir: &std::path::Path) -> (PathBuf, PathBuf) {
        (
            self.cert
                .clone()
                .unwrap_or_else(|| data_dir.join("tls/cert.pem")),
            self.key
                .clone()
                .unwrap_or_else(|| data_dir.join("tls/key.pem")),
        )
    }
}

/// Which backend a pool runs its jobs on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// This host, under the local executor.
    #[default]
    Local,
    /// A Slurm partition.
    Slurm,
}

/// How a Slurm pool places the workers of a job.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Spread {
    /// `--ntasks=N`: Slurm may put several workers on one node.
    #[default]
    Tasks,
    /// `--nodes=N --ntasks-per-node=1`: one worker per node.
    Nodes,
}

/// `[[nfs]]`: an NFS export mounted on the hosts (every host a job may run on).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NfsConfig {
    /// The export as a v2 volume names it (`nfs_server_path`), e.g. `192.168.0.82:/`.
    pub server_path: String,
    /// Where it is mounted on the hosts; jobs of every project may mount it (and what is
    /// below it, for v1 `host_path` volumes too).
    pub host_path: PathBuf,
}

/// `[[pools]]`: a dedicated resource pool.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PoolConfig {
    /// The `pool_id` jobs name.
    pub id: String,
    /// `local` or `slurm`.
    pub backend: Backend,
    /// Slurm partition (required for slurm pools).
    pub partition: Option<String>,
    /// Slurm account.
    pub account: Option<String>,
    /// Slurm QOS: one for every job, or one per priority.
    pub qos: Option<Qos>,
    /// Worker placement for slurm pools.
    pub spread: Spread,
    /// Jobs without a `pool_id` run in this pool.
    pub default: bool,
    /// Seconds between the batched status queries of a slurm pool (default 0.5).
    pub poll_interval_seconds: Option<f64>,
    /// Whether this local pool's runs may be preempted by waiting runs of higher priority
    /// (default `[scheduler] preemption`). Not for slurm pools: Slurm preempts by its own
    /// rules.
    pub preemption: Option<bool>,
    /// Slurm pools: most runs submitted to Slurm at once (not ended); the next waits in
    /// trainyard's queue. Default: no limit.
    pub max_submitted: Option<u32>,
    /// Slurm pools: most cores (of every worker together) submitted to Slurm at once.
    /// Default: no limit.
    pub max_submitted_cores: Option<u32>,
}

impl PoolConfig {
    /// Whether this pool's runs may be preempted, `default` being `[scheduler] preemption`.
    pub fn preemptible(&self, default: bool) -> bool {
        self.preemption.unwrap_or(default)
    }

    /// What the scheduler core may hand this pool at once.
    pub fn cap(&self) -> trainyard_sched::Cap {
        trainyard_sched::Cap {
            runs: self.max_submitted,
            cores: self.max_submitted_cores,
        }
    }

    /// The `--qos` of a job of priority `priority` on this pool, if any.
    pub fn qos_for(&self, priority: u8) -> Option<String> {
        match self.qos.as_ref()? {
            Qos::One(qos) => Some(qos.clone()),
            Qos::ByPriority(by) => by.get(&priority.to_string()).cloned(),
        }
    }

    /// Checks the settings of trainyard's queue before a Slurm pool: caps of at least 1 on
    /// slurm pools only, QOS names by priority 1..=3.
    fn validate_slurm_queue(&self) -> Result<(), ConfigError> {
        for (key, cap) in [
            ("max_submitted", self.max_submitted),
            ("max_submitted_cores", self.max_submitted_cores),
        ] {
            let Some(cap) = cap else { continue };
            if self.backend != Backend::Slurm {
                return Err(ConfigError::Invalid(format!(
                    "pools.{key} applies to slurm pools only, not to local pool '{}' (local pools share the executor's capacity)",
                    self.id
                )));
            }
            if cap == 0 {
                return Err(ConfigError::Invalid(format!(
                    "pools.{key} of '{}' must be >= 1",
                    self.id
                )));
            }
        }
        if let Some(Qos::ByPriority(by)) = &self.qos {
            let valid = |k: &str| k.parse().is_ok_and(trainyard_sched::fair::valid_priority);
            if let Some(key) = by.keys().find(|k| !valid(k)) {
                return Err(ConfigError::Invalid(format!(
                    "pools.qos of '{}' names priority '{key}'; priorities are 1, 2 and 3",
                    self.id
                )));
            }
        }
        Ok(())
    }
}

/// `[[pools]] qos`: the Slurm QOS a pool's jobs are submitted with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Qos {
    /// The same for every job (`qos = "normal"`).
    One(String),
    /// By the job's priority (`qos = { 1 = "low", 3 = "high" }`); a priority left out is
    /// submitted without `--qos` (the account's default QOS).
    ByPriority(std::collections::BTreeMap<String, String>),
}

/// `[viz]`: visualization jobs.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VizConfig {
    /// The `tensorboard` executable (default `DATA_DIR/tensorboard-venv/bin/tensorboard`, which
    /// `scripts/install-tensorboard.sh DATA_DIR/tensorboard-venv` creates).
    pub tensorboard: Option<PathBuf>,
    /// Command line of a MindInsight server, with `{logdir}`, `{port}`, `{host}` and `{prefix}`
    /// placeholders; it must stay in the foreground. None: `job_type` `mindinsight` is refused.
    pub mindinsight: Option<Vec<String>>,
    /// Scheme, host and port that `service_url` starts with (default `http://` + `listen`).
    pub public_base: Option<String>,
    /// Cores one running visualization job takes from the executor (default 1).
    pub cores: Option<u32>,
    /// Memory in GB one running visualization job takes from the executor (default 1).
    pub memory_gb: Option<u32>,
    /// Most active (pending or running) visualization jobs per project, VJ-02 `quotas`
    /// (default 10).
    pub quotas: Option<i64>,
    /// Most visualization jobs a project may hold; VJ-02 `job_count_limit` is what is left
    /// (default 1000).
    pub job_count_limit: Option<i64>,
    /// How long a server may take to answer HTTP before the job fails (default 60 s).
    pub start_timeout_seconds: Option<u64>,
}

/// Largest `hang_timeout_minutes` (a project's or a job's): a year.
pub const MAX_HANG_TIMEOUT_MINUTES: f64 = 527_040.0;

/// A project: the `{project_id}` of URLs and who may use it.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProjectConfig {
    /// Project id.
    pub id: String,
    /// Project (region) name, e.g. `cn-north-4`: what `/v3/auth/tokens` scopes by name and
    /// `/v3/projects` reports (default: the id).
    pub name: Option<String>,
    /// Accepted `X-Auth-Token` values.
    pub tokens: Vec<String>,
    /// Access keys for AK/SK signing (`SDK-HMAC-SHA256`).
    pub access_keys: Vec<AccessKeyConfig>,
    /// Users who may get a token of this project from `POST /v3/auth/tokens`.
    pub users: Vec<UserConfig>,
    /// Maximum number of active (pending or running) training versions (default 100).
    pub quotas: Option<i64>,
    /// Maximum number of training jobs the project may hold (default 1000).
    pub job_count_limit: Option<i64>,
    /// Requests per second the project may send (burst of the same size); none = unlimited.
    pub requests_per_second: Option<u32>,
    /// Host folders (and what is below them) the project's container jobs may mount as
    /// `host_path` volumes; none by default.
    pub host_paths: Vec<PathBuf>,
    /// The buckets of the object store (`[storage] backend = "s3"`) the project's paths may
    /// name; none by default.
    pub buckets: Vec<String>,
    /// The user id the project's jobs run as (its group id is the same), instead of one
    /// allocated from `[executor] job_uids`; its containers map their ids 0.. onto
    /// `run_as..run_as+65535`.
    pub run_as: Option<u32>,
    /// Containers of this project share the host's network (they reach what listens on the
    /// host's loopback): a trust decision, off by default.
    pub host_network: bool,
    /// Most GB (10^9 bytes; fractions allowed) the project's storage folder may hold: uploads
    /// and S3 PUTs beyond are refused, running jobs stopped (none: unlimited).
    pub storage_quota_gb: Option<f64>,
    /// Minutes (fractions allowed) a running version of the project may go without log output
    /// and CPU before it is stopped as hung, unless its `config.hang_timeout_minutes` says
    /// otherwise (none: no hang detection).
    pub hang_timeout_minutes: Option<f64>,
    /// The retry policy of the project's jobs that set none (`config.retry_policy`); none
    /// by default: a failed run ends the version.
    pub retry: Option<RetryConfig>,
    /// The project's weight in the fair share of this host against the other projects'
    /// (default 1; 1..=1000).
    pub share: Option<u32>,
    /// What the project's runs may hold at once, and how many may wait.
    pub quota: ProjectQuota,
}

impl ProjectConfig {
    /// Its weight and quota, as the scheduler core takes them.
    pub fn fair_share(&self) -> trainyard_sched::fair::Share {
        trainyard_sched::fair::Share {
            weight: self.share.unwrap_or(1),
            quota: trainyard_sched::fair::Quota {
                cores: self.quota.cores,
                memory_gb: self.quota.memory_gb,
                gpus: self.quota.gpus,
                running: self.quota.running,
            },
        }
    }
}

/// `[[projects]] retry`: the fields of a job's `config.retry_policy`, as its default.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryConfig {
    /// How many times a failed run is started again (0..128).
    pub max_retries: Option<i64>,
    /// Worker exit codes that are retried (0..255).
    pub on_exit_codes: Option<Vec<i64>>,
    /// A regular expression matched against the last lines of the workers' logs.
    pub on_log_pattern: Option<String>,
    /// Retry any failure.
    pub on_any_failure: Option<bool>,
    /// Retry a run stopped as hung.
    pub on_hang: Option<bool>,
    /// At most this many `on_any_failure` and `on_hang` retries in a row.
    pub max_consecutive_any: Option<i64>,
    /// Pause before the first retry in seconds (0..3600, default 5), doubled for each next.
    pub backoff_seconds: Option<i64>,
}

impl RetryConfig {
    /// As a job's retry policy.
    pub fn policy(&self) -> trainyard_api::training::RetryPolicy {
        trainyard_api::training::RetryPolicy {
            max_retries: self.max_retries,
            on_exit_codes: self.on_exit_codes.as_ref().map(|codes| {
                codes
                    .iter()
                    .filter_map(|c| i32::try_from(*c).ok())
                    .collect()
            }),
            on_log_pattern: self.on_log_pattern.clone(),
            on_any_failure: self.on_any_failure,
            on_hang: self.on_hang,
            max_consecutive_any: self.max_consecutive_any,
            backoff_seconds: self.backoff_seconds,
        }
    }
}

impl ProjectConfig {
    /// The storage quota in bytes.
    pub fn storage_quota_bytes(&self) -> Option<u64> {
        self.storage_quota_gb.map(|gb| (gb * 1e9).round() as u64)
    }
}

/// An access key pair; `Debug` never shows the secret.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccessKeyConfig {
    /// Access key id.
    pub ak: String,
    /// Secret key.
    pub sk: Option<String>,
    /// File holding the secret key (not readable by others).
    pub sk_file: Option<PathBuf>,
}

impl std::fmt::Debug for AccessKeyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessKeyConfig")
            .field("ak", &self.ak)
            .field("sk", &self.sk.as_ref().map(|_| "<redacted>"))
            .field("sk_file", &self.sk_file)
            .finish()
    }
}

/// A user of the built-in IAM-style token endpoint; `Debug` never shows the password.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UserConfig {
    /// User name (`auth.identity.password.user.name`).
    pub name: String,
    /// Account (domain) name the request must give (`user.domain.name`); default: the user name.
    pub domain: Option<String>,
    /// Password.
    pub password: Option<String>,
    /// File holding the password (not readable by others).
    pub password_file: Option<PathBuf>,
}

impl std::fmt::Debug for UserConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserConfig")
            .field("name", &self.name)
            .field("domain", &self.domain)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("password_file", &self.password_file)
            .finish()
    }
}

/// Reads a secret given as a value or a file; a file readable by group or others is refused.
pub fn read_secret(
    what: &str,
    value: Option<&str>,
    file: Option<&Path>,
) -> Result<String, ConfigError> {
    use std::os::unix::fs::PermissionsExt;
    match (value, file) {
        (Some(v), None) if !v.is_empty() => Ok(v.to_owned()),
        (None, Some(path)) => {
            let meta = std::fs::metadata(path).map_err(|source| ConfigError::Read {
                path: path.to_owned(),
                source,
            })?;
            if meta.permissions().mode() & 0o077 != 0 {
                return Err(ConfigError::Invalid(format!(
                    "{what}: {} is readable by group or others (chmod 600 it)",
                    path.display()
                )));
            }
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_owned(),
                source,
            })?;
            let secret = text.trim_end_matches(['\n', '\r']).to_owned();
            if secret.is_empty() {
                return Err(ConfigError::Invalid(format!(
                    "{what}: {} is empty",
                    path.display()
                )));
            }
            Ok(secret)
        }
        _ => Err(ConfigError::Invalid(format!(
            "{what}: give exactly one of the value and the *_file"
        ))),
    }
}

/// `[storage]`.
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// Where `/bucket/key` paths live: folders below `root` (default) or an S3 store.
    pub backend: StorageBackend,
    /// Root of OBS-style paths (default `DATA_DIR/obs`); each project has its own folder below.
    pub root: Option<PathBuf>,
    /// Largest code upload (the tar archive) in bytes (default 64 MiB).
    pub max_upload_bytes: Option<u64>,
    /// S3: endpoint URL of an S3-compatible server (none: AWS, or `AWS_ENDPOINT_URL`).
    pub endpoint: Option<String>,
    /// S3: region (default `AWS_REGION`, else `us-east-1`).
    pub region: Option<String>,
    /// S3: access key id (or `access_key_file`, or `AWS_ACCESS_KEY_ID`).
    pub access_key: Option<String>,
    /// S3: a file holding the access key id.
    pub access_key_file: Option<PathBuf>,
    /// S3: secret access key (or `secret_key_file`, or `AWS_SECRET_ACCESS_KEY`).
    pub secret_key: Option<String>,
    /// S3: a file holding the secret access key (mode 600).
    pub secret_key_file: Option<PathBuf>,
    /// S3: path-style addressing (MinIO, Ceph, SeaweedFS, moto); default false.
    pub path_style: bool,
    /// S3: most bytes the data cache of this host may hold (default 10 GiB).
    pub cache_max_bytes: Option<u64>,
    /// S3: how often a running job's output and logs are uploaded (default 30 s).
    pub upload_interval_seconds: Option<f64>,
    /// S3: how often a running job's checkpoint folder is uploaded and verified (default
    /// 300 s; 0.1..=86400, fractions allowed).
    pub checkpoint_interval_seconds: Option<f64>,
    /// S3: how long one transfer is retried before it is reported failed (default 120 s).
    pub retry_seconds: Option<u64>,
    /// Seconds between two measurements of the storage folders of projects with a
    /// `storage_quota_gb` (default 60; 0.1..=86400, fractions allowed).
    pub quota_scan_seconds: Option<f64>,
}

impl std::fmt::Debug for StorageConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StorageConfig")
            .field("backend", &self.backend)
            .field("root", &self.root)
            .field("endpoint", &self.endpoint)
            .field("access_key", &self.access_key)
            .field(
                "secret_key",
                &self.secret_key.as_ref().map(|_| "<redacted>"),
            )
            .field("path_style", &self.path_style)
            .finish_non_exhaustive()
    }
}

/// `[storage] backend`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageBackend {
    /// Folders below `[storage] root`, one per project.
    #[default]
    Local,
    /// An S3-compatible object store: `/bucket/key` is `s3://bucket/key`.
    S3,
}

/// Default `[storage] max_upload_bytes`.
pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 64 << 20;

/// Default `[storage] cache_max_bytes`.
pub const DEFAULT_CACHE_MAX_BYTES: u64 = 10 << 30;

/// Default `[storage] checkpoint_interval_seconds`: how often a running job's checkpoint
/// folder is uploaded to a bucket and verified.
pub const DEFAULT_CHECKPOINT_INTERVAL_SECONDS: f64 = 300.0;

impl StorageConfig {
    /// Whether the secret key is written in the configuration itself.
    fn has_inline_secrets(&self) -> bool {
        self.secret_key.is_some()
    }

    /// How to reach the object store, when `backend = "s3"`: the keys from the config, their
    /// files, or the standard `AWS_*` variables.
    pub fn s3(&self) -> Result<Option<trainyard_exec::objects::S3Config>, ConfigError> {
        if self.backend != StorageBackend::S3 {
            return Ok(None);
        }
        let env = |key: &str| std::env::var(key).ok().filter(|v| !v.is_empty());
        let key = |what: &str, value: &Option<String>, file: &Option<PathBuf>, var: &str| match (
            value,
            file,
            env(var),
        ) {
            (None, None, Some(v)) => Ok(v),
            (None, None, None) => Err(ConfigError::Invalid(format!(
                "[storage] backend = \"s3\" needs {what} (or {what}_file, or {var})"
            ))),
            _ => read_secret(
                &format!("[storage] {what}"),
                value.as_deref(),
                file.as_deref(),
            ),
        };
        let endpoint = self.endpoint.clone().or_else(|| env("AWS_ENDPOINT_URL"));
        if let Some(e) = &endpoint {
            if !(e.starts_with("http://") || e.starts_with("https://")) {
                return Err(ConfigError::Invalid(format!(
                    "[storage] endpoint = {e:?}: give an http:// or https:// URL"
                )));
            }
        }
        Ok(Some(trainyard_exec::objects::S3Config {
            endpoint,
            region: self
                .region
                .clone()
                .or_else(|| env("AWS_REGION"))
                .unwrap_or_else(|| "us-east-1".to_owned()),
            access_key: key(
                "access_key",
                &self.access_key,
                &self.access_key_file,
                "AWS_ACCESS_KEY_ID",
            )?,
            secret_key: key(
                "secret_key",
                &self.secret_key,
                &self.secret_key_file,
                "AWS_SECRET_ACCESS_KEY",
            )?,
            path_style: self.path_style,
            retry_seconds: self.retry_seconds.unwrap_or(120),
        }))
    }
}

/// One engine of RS-02.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineConfig {
    /// `engine_id`.
    pub id: i64,
    /// `engine_name`.
    pub name: String,
    /// `engine_version`.
    pub version: String,
    /// `engine_type`.
    #[serde(rename = "type", default)]
    pub engine_type: i64,
    /// The interpreter the boot file runs with, e.g. `["python3"]`.
    #[serde(default = "default_command")]
    pub command: Vec<String>,
    /// An image the boot file runs in (with `command`), instead of this host's interpreter.
    #[serde(default)]
    pub image: Option<String>,
}

fn default_command() -> Vec<String> {
    vec!["python3".to_owned()]
}

/// One resource spec of RS-01.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpecConfig {
    /// `spec_id`.
    pub spec_id: i64,
    /// `spec_code`.
    pub spec_code: String,
    /// Cores per worker.
    pub core: u32,
    /// Memory per worker in GB (the API calls it `cpu`).
    pub cpu: u32,
    /// GPUs per worker.
    #[serde(default)]
    pub gpu_num: u32,
    /// GPU model.
    #[serde(default)]
    pub gpu_type: String,
    /// Maximum workers.
    #[serde(default = "one")]
    pub max_num: i64,
    /// Pricing units.
    #[serde(default = "one")]
    pub unit_num: i64,
    /// Local storage description.
    #[serde(default)]
    pub storage: String,
    /// Interface type.
    #[serde(default = "one")]
    pub interface_type: i64,
}

fn one() -> i64 {
    1
}

/// `[executor]`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExecutorConfig {
    /// Cores to hand out (default: this host's).
    pub cores: Option<u32>,
    /// Memory in GB to hand out (default: this host's).
    pub memory_gb: Option<u32>,
    /// GPU indices to hand out through `CUDA_VISIBLE_DEVICES` (default: /dev/nvidiaN found).
    pub gpus: Option<Vec<u32>>,
    /// SIGTERM-to-SIGKILL grace when stopping (default 10 s).
    pub stop_grace_seconds: Option<u64>,
    /// Runtime of custom-image jobs: `"podman"` (the default when podman is on `PATH`),
    /// a path to it, or `"none"`.
    pub container_runtime: Option<String>,
    /// How long a missing image may take to pull before its job fails (default 20 s).
    pub image_pull_timeout_seconds: Option<u64>,
    /// User ids handed to projects when the server runs as root, `"FIRST-LAST"` (default
    /// `"100000000-199999999"`): each project gets a block of 65536 (see `job_users`).
    pub job_uids: Option<String>,
}

/// The container runtime of custom-image jobs, as `[executor]` resolves it.
#[derive(Clone, Debug)]
pub struct ContainerRuntime {
    /// The runtime program (podman).
    pub program: PathBuf,
    /// How long a missing image may take to pull.
    pub pull_timeout_seconds: u64,
}

/// Default `[executor] image_pull_timeout_seconds`.
pub const DEFAULT_IMAGE_PULL_TIMEOUT_SECONDS: u64 = 20;

impl ExecutorConfig {
    /// SIGTERM-to-SIGKILL grace when stopping.
    pub fn stop_grace(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.stop_grace_seconds.unwrap_or(10))
    }

    /// The container runtime to use: the configured one, else podman when it is on `PATH`.
    /// A configured runtime that cannot be found is an error, not a silent "none".
    pub fn container_runtime(&self) -> Result<Option<PathBuf>, ConfigError> {
        match self.container_runtime.as_deref().map(str::trim) {
            Some("none") | Some("") => Ok(None),
            None => Ok(on_path("podman")),
            Some(name) => on_path(name).map(Some).ok_or_else(|| {
                ConfigError::Invalid(format!(
                    "[executor] container_runtime = {name:?}: not found (install podman, or set \"none\")"
                ))
            }),
        }
    }
}

/// `program` as found on `PATH`, or as a path when it has a slash.
fn on_path(program: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &std::path::Path| {
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        let p = PathBuf::from(program);
        return executable(&p).then_some(p);
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|p| executable(p))
}

/// Errors loading the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is not valid (unknown key, wrong type...).
    #[error("invalid config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    /// A value is out of range.
    #[error("invalid config: {0}")]
    Invalid(String),
}

impl Config {
    /// Checks `[notifications]`, `[[webhooks]]` and `[[topics]]`, naming the bad key.
    fn validate_notifications(&self) -> Result<(), ConfigError> {
        let invalid = |m: String| Err(ConfigError::Invalid(m));
        let n = &self.notifications;
        for (key, v, range) in [
            ("retry_for_minutes", n.retry_for_minutes, 0.0..=10080.0),
            ("first_retry_seconds", n.first_retry_seconds, 0.01..=3600.0),
            ("timeout_seconds", n.timeout_seconds, 0.1..=600.0),
        ] {
            if let Some(v) = v.filter(|v| !range.contains(v)) {
                return invalid(format!(
                    "notifications.{key} {v} is outside {}..={}",
                    range.start(),
                    range.end()
                ));
            }
        }
        let mut names = std::collections::HashMap::new();
        for w in &self.webhooks {
            if w.name.trim().is_empty() {
                return invalid("webhooks.name must be set".to_owned());
            }
            if names.insert(w.name.as_str(), w.project.as_str()).is_some() {
                return invalid(format!("webhooks.name '{}' appears twice", w.name));
            }
            if !self.projects.iter().any(|p| p.id == w.project) {
                return invalid(format!(
                    "webhooks '{}': project '{}' is not a configured [[projects]] id",
                    w.name, w.project
                ));
            }
            if !(w.url.starts_with("http://") || w.url.starts_with("https://"))
                || w.url.parse::<http::Uri>().is_err()
            {
                return invalid(format!(
                    "webhooks '{}': url {:?} is not an http:// or https:// URL",
                    w.name, w.url
                ));
            }
            if let Err(bad) = trainyard_api::webhooks::select_events(&w.events) {
                return invalid(format!("webhooks '{}' events: {bad}", w.name));
            }
            w.signing_key()?;
        }
        let mut topics = std::collections::HashSet::new();
        for t in &self.topics {
            if t.name.trim().is_empty() {
                return invalid("topics.name must be set".to_owned());
            }
            if !topics.insert((t.project.as_str(), t.name.as_str())) {
                return invalid(format!(
                    "topics '{}' of project '{}' appears twice",
                    t.name, t.project
                ));
            }
            if t.webhooks.is_empty() {
                return invalid(format!("topics '{}' lists no webhooks", t.name));
            }
            for w in &t.webhooks {
                if names.get(w.as_str()) != Some(&t.project.as_str()) {
                    return invalid(format!(
                        "topics '{}': webhook '{w}' is not a [[webhooks]] name of project '{}'",
                        t.name, t.project
                    ));
                }
            }
        }
        Ok(())
    }

    /// Reads a TOML file. A file that holds secrets (tokens, keys, passwords) must be
    /// readable by its owner alone, as a `*_file` secret must: jobs and other local users
    /// must not read them.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        use std::os::unix::fs::PermissionsExt;
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let config = Self::from_toml(&text).map_err(|message| ConfigError::Parse {
            path: path.to_owned(),
            message,
        })?;
        let mode = std::fs::metadata(path)
            .map_err(|source| ConfigError::Read {
                path: path.to_owned(),
                source,
            })?
            .permissions()
            .mode();
        if mode & 0o077 != 0 && config.has_inline_secrets() {
            return Err(ConfigError::Invalid(format!(
                "{} holds secrets and is readable by group or others (chmod 600 it, or move the secrets into *_file files)",
                path.display()
            )));
        }
        Ok(config)
    }

    /// Whether the configuration itself holds a secret (rather than naming a file).
    fn has_inline_secrets(&self) -> bool {
        self.metrics.scrape_token.is_some()
            || self.storage.has_inline_secrets()
            || self.projects.iter().any(|p| {
                !p.tokens.is_empty()
                    || p.access_keys.iter().any(|k| k.sk.is_some())
                    || p.users.iter().any(|u| u.password.is_some())
            })
            || self.webhooks.iter().any(|w| w.secret.is_some())
    }

    /// Parses TOML text; the error names the offending key.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// The data directory: configured, else `$TRAINYARD_DATA_DIR`, else
    /// `$XDG_DATA_HOME/trainyard`, else `/var/lib/trainyard` for root and
    /// `~/.local/share/trainyard` for anyone else.
    pub fn data_dir(&self) -> PathBuf {
        if let Some(d) = &self.data_dir {
            return d.clone();
        }
        if let Some(d) = std::env::var_os("TRAINYARD_DATA_DIR") {
            return PathBuf::from(d);
        }
        if trainyard_exec::sandbox::privileged() && std::env::var_os("XDG_DATA_HOME").is_none() {
            // root's home is closed to the projects' users, who must reach their runs.
            return PathBuf::from("/var/lib/trainyard");
        }
        let base = std::env::var_os("XDG_DATA_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| ".".into()))
                    .join(".local/share")
            });
        base.join("trainyard")
    }

    /// The listen address.
    pub fn listen(&self) -> SocketAddr {
        self.listen
            .unwrap_or_else(|| DEFAULT_LISTEN.parse().expect("valid default address"))
    }

    /// Checks values that serde cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let Some(n) = self.database_pool_size {
            if !(1..=1000).contains(&n) {
                return Err(ConfigError::Invalid(format!(
                    "database_pool_size {n} is outside 1..=1000"
                )));
            }
        }
        if let Some(url) = &self.database_url {
            trainyard_store::Engine::of_url(url)
                .map_err(|e| ConfigError::Invalid(format!("database_url: {e}")))?;
        }
        if let Some(secs) = self.storage.checkpoint_interval_seconds {
            if !(0.1..=86400.0).contains(&secs) {
                return Err(ConfigError::Invalid(format!(
                    "storage.checkpoint_interval_seconds {secs} is outside 0.1..=86400"
                )));
            }
        }
        if let Some(secs) = self.storage.quota_scan_seconds {
            if !(0.1..=86400.0).contains(&secs) {
                return Err(ConfigError::Invalid(format!(
                    "storage.quota_scan_seconds {secs} is outside 0.1..=86400"
                )));
            }
        }
        for n in &self.nfs {
            if n.server_path.is_empty() || !n.host_path.is_absolute() {
                return Err(ConfigError::Invalid(format!(
                    "[[nfs]] {:?}: server_path must be set and host_path absolute",
                    n.server_path
                )));
            }
        }
        if self.logs.max_streams_per_project == Some(0) {
            return Err(ConfigError::Invalid(
                "logs.max_streams_per_project must be at least 1".to_owned(),
            ));
        }
        if self.logs.max_log_bytes == Some(0) {
            return Err(ConfigError::Invalid(
                "logs.max_log_bytes must be at least 1".to_owned(),
            ));
        }
        if let Some(secs) = self.metrics.sample_interval_seconds {
            if !(0.1..=3600.0).contains(&secs) {
                return Err(ConfigError::Invalid(format!(
                    "metrics.sample_interval_seconds {secs} is outside 0.1..=3600"
                )));
            }
        }
        if self
            .metrics
            .scrape_token
            .as_ref()
            .is_some_and(|t| t.trim().is_empty())
        {
            return Err(ConfigError::Invalid(
                "metrics.scrape_token is empty".to_owned(),
            ));
        }
        if let Some(m) = self.scheduler.fair_share_half_life_minutes {
            if !(m.is_finite() && m > 0.0 && m <= MAX_HANG_TIMEOUT_MINUTES) {
                return Err(ConfigError::Invalid(format!(
                    "scheduler.fair_share_half_life_minutes {m} must be in (0,{MAX_HANG_TIMEOUT_MINUTES}]"
                )));
            }
        }
        for p in &self.projects {
            if p.id.is_empty()
                || !p
                    .id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(ConfigError::Invalid(format!(
                    "projects.id '{}' must be letters, digits, '-' or '_'",
                    p.id
                )));
            }
            if p.storage_quota_gb
                .is_some_and(|gb| !(gb.is_finite() && gb > 0.0))
            {
                return Err(ConfigError::Invalid(format!(
                    "projects.storage_quota_gb of '{}' must be a positive number",
                    p.id
                )));
            }
            if p.hang_timeout_minutes
                .is_some_and(|m| !(m.is_finite() && m > 0.0 && m <= MAX_HANG_TIMEOUT_MINUTES))
            {
                return Err(ConfigError::Invalid(format!(
                    "projects.hang_timeout_minutes of '{}' must be in (0,{MAX_HANG_TIMEOUT_MINUTES}]",
                    p.id
                )));
            }
            if let Some(problem) = p
                .retry
                .as_ref()
                .and_then(|r| trainyard_sched::retry::invalid(&r.policy()))
            {
                return Err(ConfigError::Invalid(format!(
                    "projects.retry of '{}': {problem}",
                    p.id
                )));
            }
            if p.share.is_some_and(|w| !(1..=1000).contains(&w)) {
                return Err(ConfigError::Invalid(format!(
                    "projects.share of '{}' must be in 1..=1000",
                    p.id
                )));
            }
            if p.tokens.iter().any(|t| t.trim().is_empty()) {
                return Err(ConfigError::Invalid(format!(
                    "projects.tokens of '{}' contains an empty token",
                    p.id
                )));
            }
            if p.access_keys.iter().any(|k| k.ak.trim().is_empty()) {
                return Err(ConfigError::Invalid(format!(
                    "projects.access_keys of '{}' has an empty ak",
                    p.id
                )));
            }
            if p.users.iter().any(|u| u.name.trim().is_empty()) {
                return Err(ConfigError::Invalid(format!(
                    "projects.users of '{}' has an empty name",
                    p.id
                )));
            }
        }
        self.validate_notifications()?;
        let mut aks = std::collections::HashSet::new();
        for k in self.projects.iter().flat_map(|p| &p.access_keys) {
            if !aks.insert(k.ak.as_str()) {
                return Err(ConfigError::Invalid(format!(
                    "projects.access_keys: ak '{}' appears twice",
                    k.ak
                )));
            }
        }
        let mut ids = std::collections::HashSet::new();
        for s in self.specs.iter().flatten() {
            if !ids.insert(s.spec_id) {
                return Err(ConfigError::Invalid(format!(
                    "specs.spec_id {} appears twice",
                    s.spec_id
                )));
            }
            if s.max_num < 1 {
                return Err(ConfigError::Invalid(format!(
                    "specs.max_num of {} must be >= 1",
                    s.spec_code
                )));
            }
        }
        let mut pool_ids = std::collections::HashSet::new();
        for p in &self.pools {
            if p.id.trim().is_empty() || !pool_ids.insert(p.id.as_str()) {
                return Err(ConfigError::Invalid(format!(
                    "pools.id '{}' is empty or appears twice",
                    p.id
                )));
            }
            if p.backend == Backend::Slurm
                && p.partition.as_deref().is_none_or(|s| s.trim().is_empty())
            {
                return Err(ConfigError::Invalid(format!(
                    "pools.partition is required for slurm pool '{}'",
                    p.id
                )));
            }
            if p.backend == Backend::Slurm && p.preemption.is_some() {
                return Err(ConfigError::Invalid(format!(
                    "pools.preemption is for local pools; slurm pool '{}' is preempted by Slurm's own rules",
                    p.id
                )));
            }
            p.validate_slurm_queue()?;
        }
        if self.pools.iter().filter(|p| p.default).count() > 1 {
            return Err(ConfigError::Invalid(
                "only one of pools may have default = true".into(),
            ));
        }
        if self.viz.mindinsight.as_ref().is_some_and(|c| c.is_empty()) {
            return Err(ConfigError::Invalid(
                "viz.mindinsight must not be empty".into(),
            ));
        }
        if self.obs.max_object_bytes == Some(0)
            || self.obs.multipart_expiry_seconds == Some(0)
            || self.obs.max_open_uploads == Some(0)
        {
            return Err(ConfigError::Invalid(
                "obs.max_object_bytes, obs.multipart_expiry_seconds and obs.max_open_uploads must be >= 1".into(),
            ));
        }
        if let Some(tls) = &self.tls {
            if !tls.self_signed && (tls.cert.is_none() || tls.key.is_none()) {
                return Err(ConfigError::Invalid(
                    "tls needs cert and key, or self_signed = true".into(),
                ));
            }
        }
        for (key, v) in [
            (
                "header_read_timeout_seconds",
                self.server.header_read_timeout_seconds,
            ),
            ("idle_timeout_seconds", self.server.idle_timeout_seconds),
            (
                "body_read_timeout_seconds",
                self.server.body_read_timeout_seconds,
            ),
        ] {
            if v.is_some_and(|v| !(0.1..=86_400.0).contains(&v)) {
                return Err(ConfigError::Invalid(format!(
                    "server.{key} {} is outside 0.1..=86400",
                    v.unwrap_or_default()
                )));
            }
        }
        if self.server.max_connections == Some(0) {
            return Err(ConfigError::Invalid(
                "server.max_connections must be at least 1".into(),
            ));
        }
        for url in &self.server.public_urls {
            crate::origin::Origin::parse(url)
                .map_err(|e| ConfigError::Invalid(format!("server.public_urls {url:?}: {e}")))?;
        }
        for (key, v) in [
            (
                "max_tokens_per_identity",
                self.sign_in.max_tokens_per_identity,
            ),
            (
                "max_temporary_keys_per_identity",
                self.sign_in.max_temporary_keys_per_identity,
            ),
            (
                "max_console_sessions_per_identity",
                self.sign_in.max_console_sessions_per_identity,
            ),
        ] {
            if v == Some(0) {
                return Err(ConfigError::Invalid(format!(
                    "sign_in.{key} must be at least 1"
                )));
            }
        }
        if let Some(base) = &self.viz.public_base {
            if !(base.starts_with("http://") || base.starts_with("https://")) {
                return Err(ConfigError::Invalid(format!(
                    "viz.public_base '{base}' must start with http:// or https://"
                )));
            }
        }
        for e in self.engines.iter().flatten() {
            if e.command.is_empty() {
                return Err(ConfigError::Invalid(format!(
                    "engines.command of engine {} is empty",
                    e.id
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Webhooks and topics are checked at startup, the error naming what is wrong.
    #[test]
    fn webhooks_and_topics_are_validated() {
        let base = "[[projects]]\nid = \"p\"\n[[webhooks]]\nname = \"w\"\nproject = \"p\"\nurl = \"http://h/x\"\n";
        let check = |more: &str| {
            Config::from_toml(&format!("{base}{more}"))
                .unwrap()
                .validate()
        };
        check("events = [\"JobFailed\", \"queued\"]\n[[topics]]\nname = \"t\"\nproject = \"p\"\nwebhooks = [\"w\"]\n").unwrap();
        for (more, needle) in [
            ("events = [\"exploded\"]\n", "unknown event 'exploded'"),
            (
                "[[webhooks]]\nname = \"w\"\nproject = \"p\"\nurl = \"http://h/y\"\n",
                "'w' appears twice",
            ),
            (
                "[[webhooks]]\nname = \"v\"\nproject = \"q\"\nurl = \"http://h/y\"\n",
                "project 'q' is not a configured",
            ),
            (
                "[[webhooks]]\nname = \"v\"\nproject = \"p\"\nurl = \"ftp://h/y\"\n",
                "not an http:// or https:// URL",
            ),
            (
                "[[topics]]\nname = \"t\"\nproject = \"p\"\nwebhooks = [\"nope\"]\n",
                "webhook 'nope' is not a [[webhooks]] name",
            ),
            (
                "[[topics]]\nname = \"t\"\nproject = \"p\"\n",
                "lists no webhooks",
            ),
            (
                "[notifications]\nretry_for_minutes = -1\n",
                "notifications.retry_for_minutes",
            ),
        ] {
            let e = check(more).unwrap_err().to_string();
            assert!(e.contains(needle), "{more}: {e}");
        }
        // A webhook's secret makes the file a secret holder.
        let c = Config::from_toml(&format!("{base}secret = \"k\"\n")).unwrap();
        assert!(c.has_inline_secrets());
        assert!(!format!("{c:?}").contains("\"k\""));
    }

    /// A Slurm pool's queue settings: caps on slurm pools only and of at least 1, QOS one
    /// for all or by priority 1..=3.
    #[test]
    fn slurm_pool_caps_and_qos_by_priority_are_validated() {
        let pool = |more: &str| {
            Config::from_toml(&format!(
                "[[pools]]\nid = \"c\"\nbackend = \"slurm\"\npartition = \"debug\"\n{more}"
            ))
        };
        let c = pool(
            "max_submitted = 4\nmax_submitted_cores = 8\nqos = { 1 = \"low\", 3 = \"high\" }\n",
        )
        .unwrap();
        c.validate().unwrap();
        let p = &c.pools[0];
        assert_eq!((p.cap().runs, p.cap().cores), (Some(4), Some(8)));
        assert_eq!(
            [p.qos_for(1), p.qos_for(2), p.qos_for(3)],
            [Some("low".into()), None, Some("high".into())]
        );
        let c = pool("qos = \"normal\"\n").unwrap();
        assert_eq!(c.pools[0].qos_for(2).as_deref(), Some("normal"));
        for (more, needle) in [
            (
                "max_submitted = 0\n",
                "pools.max_submitted of 'c' must be >= 1",
            ),
            ("qos = { 4 = \"x\" }\n", "names priority '4'"),
        ] {
            let e = pool(more).unwrap().validate().unwrap_err().to_string();
            assert!(e.contains(needle), "{more}: {e}");
        }
        let local = Config::from_toml("[[pools]]\nid = \"l\"\nmax_submitted_cores = 2\n").unwrap();
        let e = local.validate().unwrap_err().to_string();
        assert!(e.contains("applies to slurm pools only"), "{e}");
    }

    #[test]
    fn unknown_keys_are_named() {
        let err = Config::from_toml("[executor]\ncorez = 3\n").unwrap_err();
        assert!(err.contains("corez"), "{err}");
        let err = Config::from_toml("lisen = \"x\"\n").unwrap_err();
        assert!(err.contains("lisen"), "{err}");
    }

    #[test]
    fn secrets_from_value_or_private_file() {
        use std::os::unix::fs::PermissionsExt;
        let c = Config::from_toml(
            "[[projects]]\nid = \"p\"\nname = \"cn-north-4\"\naccess_keys = [{ ak = \"AK\", sk = \"SK\" }]\nusers = [{ name = \"u\", domain = \"acct\", password = \"pw\" }]\n",
        )
        .unwrap();
        c.validate().unwrap();
        let k = &c.projects[0].access_keys[0];
        assert!(!format!("{c:?}").contains("SK\""), "secret in Debug: {c:?}");
        assert!(!format!("{c:?}").contains("pw"), "password in Debug: {c:?}");
        assert_eq!(read_secret("sk", k.sk.as_deref(), None).unwrap(), "SK");
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("sk");
        std::fs::write(&f, "from-file\n").unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(read_secret("sk", None, Some(&f))
            .unwrap_err()
            .to_string()
            .contains("chmod 600"));
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read_secret("sk", None, Some(&f)).unwrap(), "from-file");
        assert!(read_secret("sk", Some("a"), Some(&f)).is_err());
        assert!(read_secret("sk", None, None).is_err());
        let dup = "[[projects]]\nid = \"p\"\naccess_keys = [{ ak = \"A\", sk = \"x\" }]\n[[projects]]\nid = \"q\"\naccess_keys = [{ ak = \"A\", sk = \"y\" }]\n";
        assert!(Config::from_toml(dup).unwrap().validate().is_err());
    }

    /// `config.example.toml` at the repository root: every key of [`Config`] appears in it
    /// (as a setting or a `#key = value` line), and with every such line uncommented it is a
    /// valid configuration (no stale or misspelt key, every shown value of the right type).
    #[test]
    fn the_example_config_names_every_key() {
        let text = include_str!("../../../config.example.toml");
        let active = Config::from_toml(text).unwrap();
        active.validate().unwrap();
        let all = uncomment(text);
        Config::from_toml(&all).unwrap_or_else(|e| panic!("uncommented example: {e}"));
        let mut shown = std::collections::BTreeSet::new();
        let value: toml::Value = toml::from_str(&all).unwrap();
        toml_keys("", &value, &mut shown);
        let code = keys::of::<Config>();
        for deep in [
            "listen",
            "projects.access_keys.sk_file",
            "engines.type",
            "logs.on_log_limit",
        ] {
            assert!(code.contains(deep), "the probe missed {deep}: {code:?}");
        }
        let missing: Vec<_> = code.difference(&shown).cloned().collect();
        assert!(
            missing.is_empty(),
            "config.example.toml lacks {missing:?}; add them (with a comment)"
        );
    }

    /// `text` with every `#key = value` and `#[table]` line uncommented (prose is `# ...`).
    fn uncomment(text: &str) -> String {
        text.lines()
            .map(|l| match l.strip_prefix('#') {
                Some(rest)
                    if rest.starts_with('[')
                        || rest.starts_with(|c: char| c.is_ascii_lowercase()) =>
                {
                    rest
                }
                _ => l,
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The dotted paths of every key of `v` (arrays of tables: the keys of their tables).
    fn toml_keys(prefix: &str, v: &toml::Value, out: &mut std::collections::BTreeSet<String>) {
        let tables: Vec<&toml::Table> = match v {
            toml::Value::Table(t) => vec![t],
            toml::Value::Array(a) => a.iter().filter_map(toml::Value::as_table).collect(),
            _ => return,
        };
        for t in tables {
            for (k, v) in t {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                toml_keys(&path, v, out);
                out.insert(path);
            }
        }
    }

    /// The keys a `Deserialize` type accepts, found by deserializing it from a probe that
    /// answers every struct with all of its fields, every option with a value and every
    /// sequence with one element: what the code reads, whatever the docs say.
    mod keys {
        use serde::de::{self, IntoDeserializer, Visitor};
        use std::cell::RefCell;
        use std::collections::BTreeSet;
        use std::rc::Rc;

        type Found = Rc<RefCell<BTreeSet<String>>>;

        /// Every dotted key path of `T`.
        pub fn of<'de, T: serde::Deserialize<'de>>() -> BTreeSet<String> {
            let found = Found::default();
            T::deserialize(Probe {
                path: String::new(),
                found: found.clone(),
            })
            .unwrap_or_else(|e| panic!("probe: {e}"));
            found.take()
        }

        struct Probe {
            path: String,
            found: Found,
        }

        impl<'de> de::Deserializer<'de> for Probe {
            type Error = de::value::Error;

            fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
                // Strings, paths and socket addresses all accept an address.
                v.visit_str("127.0.0.1:1")
            }
            fn deserialize_bool<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
                v.visit_bool(false)
            }
            fn deserialize_i64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
                v.visit_u64(1)
            }
            fn deserialize_u64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
                v.visit_u64(1)
            }
            fn deserialize_u32<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
                v.visit_u64(1)
            }
            fn deserialize_f64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
                v.visit_f64(1.0)
            }
            fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
                v.visit_some(self)
            }
            fn deserialize_seq<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Self::Error> {
                v.visit_seq(One(Some(self)))
            }
            fn deserialize_newtype_struct<V: Visitor<'de>>(
                self,
                _: &'static str,
                v: V,
            ) -> Result<V::Value, Self::Error> {
                v.visit_newtype_struct(self)
            }
            fn deserialize_enum<V: Visitor<'de>>(
                self,
                _: &'static str,
                variants: &'static [&'static str],
                v: V,
            ) -> Result<V::Value, Self::Error> {
                v.visit_enum(variants[0].into_deserializer())
            }
            fn deserialize_struct<V: Visitor<'de>>(
                self,
                _: &'static str,
                fields: &'static [&'static str],
                v: V,
            ) -> Result<V::Value, Self::Error> {
                v.visit_map(Fields {
                    probe: self,
                    fields: fields.iter(),
                    current: "",
                })
            }

            serde::forward_to_deserialize_any! {
                i8 i16 i32 i128 u8 u16 u128 f32 char str string bytes byte_buf unit
                unit_struct tuple tuple_struct map identifier ignored_any
            }
        }

        /// A sequence of one element.
        struct One(Option<Probe>);

        impl<'de> de::SeqAccess<'de> for One {
            type Error = de::value::Error;
            fn next_element_seed<S: de::DeserializeSeed<'de>>(
                &mut self,
                seed: S,
            ) -> Result<Option<S::Value>, Self::Error> {
                self.0.take().map(|p| seed.deserialize(p)).transpose()
            }
        }

        /// Every field of a struct, each recorded as it is handed out.
        struct Fields {
            probe: Probe,
            fields: std::slice::Iter<'static, &'static str>,
            current: &'static str,
        }

        impl<'de> de::MapAccess<'de> for Fields {
            type Error = de::value::Error;
            fn next_key_seed<S: de::DeserializeSeed<'de>>(
                &mut self,
                seed: S,
            ) -> Result<Option<S::Value>, Self::Error> {
                let Some(field) = self.fields.next() else {
                    return Ok(None);
                };
                self.current = field;
                seed.deserialize((*field).into_deserializer()).map(Some)
            }
            fn next_value_seed<S: de::DeserializeSeed<'de>>(
                &mut self,
                seed: S,
            ) -> Result<S::Value, Self::Error> {
                let path = match self.probe.path.as_str() {
                    "" => self.current.to_owned(),
                    p => format!("{p}.{}", self.current),
                };
                self.probe.found.borrow_mut().insert(path.clone());
                seed.deserialize(Probe {
                    path,
                    found: self.probe.found.clone(),
                })
            }
        }
    }

    #[test]
    fn every_key_optional() {
        let c = Config::from_toml("").unwrap();
        assert_eq!(c.listen().port(), 8600);
        let c = Config::from_toml(
            "[[projects]]\nid = \"p1\"\ntokens = [\"t\"]\n[executor]\nstop_grace_seconds = 3\n",
        )
        .unwrap();
        assert_eq!(c.projects[0].id, "p1");
        c.validate().unwrap();
    }

    #[test]
    fn preemption_is_off_by_default_and_its_minimum_runtime_defaults_to_a_minute() {
        let grace = std::time::Duration::from_secs(3);
        let c = Config::from_toml("").unwrap();
        assert_eq!(c.scheduler.preemption(grace, &c.pools), None);
        let c = Config::from_toml("[scheduler]\npreemption = true\n").unwrap();
        let policy = c.scheduler.preemption(grace, &c.pools).expect("on");
        assert_eq!((policy.min_runtime_ms, policy.grace), (60_000, grace));
        let c = Config::from_toml(
            "[scheduler]\npreemption = true\npreemption_min_runtime_seconds = 0.5\n",
        )
        .unwrap();
        assert_eq!(
            c.scheduler
                .preemption(grace, &c.pools)
                .unwrap()
                .min_runtime_ms,
            500
        );
        let c = Config::from_toml("[scheduler]\npreemption_min_runtime_seconds = 5\n").unwrap();
        assert_eq!(c.scheduler.preemption(grace, &c.pools), None);
    }

    #[test]
    fn a_local_pool_may_turn_preemption_on_for_its_runs_and_a_slurm_pool_may_not() {
        let grace = std::time::Duration::from_secs(3);
        let pools = "[[pools]]\nid = \"spot\"\nbackend = \"local\"\npreemption = true\n\n\
                     [[pools]]\nid = \"steady\"\nbackend = \"local\"\n";
        let c = Config::from_toml(pools).unwrap();
        c.validate().unwrap();
        // On for the host because one pool's runs may be preempted; the others' may not.
        assert!(c.scheduler.preemption(grace, &c.pools).is_some());
        assert!(c.pools[0].preemptible(false));
        assert!(!c.pools[1].preemptible(false));
        // The scheduler's value is the default a pool may turn off.
        let c = Config::from_toml(&format!(
            "[scheduler]\npreemption = true\n\n{}preemption = false\n",
            pools.replace("preemption = true\n", "")
        ))
        .unwrap();
        assert!(c.pools[0].preemptible(true));
        assert!(!c.pools[1].preemptible(true));
        let slurm = "[[pools]]\nid = \"hpc\"\nbackend = \"slurm\"\npartition = \"debug\"\npreemption = true\n";
        let err = Config::from_toml(slurm).unwrap().validate().unwrap_err();
        assert!(err.to_string().contains("pools.preemption"), "{err}");
    }
}
