//! The command line: clap structures only; `commands/` turns them into client calls.

use crate::global::Global;
use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Text after `--help`: the exit codes and where settings come from.
const AFTER_HELP: &str = "\
Settings: --server/--project/--token, else TRAINYARD_SERVER/TRAINYARD_PROJECT/TRAINYARD_TOKEN,
else the profile (--profile, TRAINYARD_PROFILE, default \"default\") in the profile file
(TRAINYARD_PROFILE_FILE, else $XDG_CONFIG_HOME/trainyard/profiles.toml).

Exit codes: 0 ok; 1 the server refused the request, or a job under `wait`/`--follow` did not
complete; 2 usage error; 3 server unreachable.";

/// trainyard: a self-hosted training job service that speaks the ModelArts v1 API.
#[derive(Parser)]
#[command(name = "trainyard", version, about, after_help = AFTER_HELP)]
pub struct Cli {
    /// Connection and output settings.
    #[command(flatten)]
    pub global: Global,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Subcommand)]
pub enum Command {
    /// Start the API server.
    Serve {
        /// Address to listen on (default 127.0.0.1:8600).
        #[arg(long, env = "TRAINYARD_LISTEN")]
        listen: Option<SocketAddr>,
        /// Data directory (default $XDG_DATA_HOME/trainyard).
        #[arg(long, env = "TRAINYARD_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// Configuration file (TOML).
        #[arg(long, env = "TRAINYARD_CONFIG")]
        config: Option<PathBuf>,
        /// Database URL (the `database_url` key): `sqlite://PATH`, or
        /// `postgres://USER@HOST:PORT/DB` for a database several servers share.
        #[arg(
            long,
            env = "TRAINYARD_DATABASE_URL",
            hide_env_values = true,
            value_name = "URL"
        )]
        database_url: Option<String>,
        /// Serve HTTPS with this certificate chain (PEM; with --tls-key).
        #[arg(
            long,
            env = "TRAINYARD_TLS_CERT",
            requires = "tls_key",
            value_name = "PEM"
        )]
        tls_cert: Option<PathBuf>,
        /// Private key of --tls-cert (PEM).
        #[arg(
            long,
            env = "TRAINYARD_TLS_KEY",
            requires = "tls_cert",
            value_name = "PEM"
        )]
        tls_key: Option<PathBuf>,
        /// Serve HTTPS with a self-signed certificate, generated into DATA_DIR/tls/ on the
        /// first start (printed with its SHA-256 fingerprint) and reused afterwards.
        #[arg(long, env = "TRAINYARD_TLS_SELF_SIGNED", conflicts_with = "tls_cert")]
        tls_self_signed: bool,
    },
    /// Writes a backup of a server on this machine into one tar file, while it runs: its
    /// SQLite database (a consistent copy), its data folder (keys, job users, runs and their
    /// logs) and its project storage. A PostgreSQL database is backed up with `pg_dump`.
    Backup {
        /// The new archive (mode 0600: it holds the projects' keys).
        file: PathBuf,
        /// Leave the project storage out (back it up separately).
        #[arg(long)]
        without_storage: bool,
        /// The server's configuration and flags, as given to `serve`.
        #[command(flatten)]
        server: ServerFiles,
    },
    /// Restores a backup of `trainyard backup` into an empty data folder, before the server
    /// starts with the same configuration; its jobs and their logs come back.
    Restore {
        /// The archive.
        file: PathBuf,
        /// The server's configuration and flags, as given to `serve`.
        #[command(flatten)]
        server: ServerFiles,
    },
    /// Training jobs and their versions.
    #[command(subcommand)]
    Jobs(JobsCommand),
    /// Stored training job configurations.
    #[command(subcommand)]
    Configs(ConfigsCommand),
    /// Visualization jobs: a TensorBoard over a job's output (VJ-01..VJ-07).
    #[command(subcommand)]
    Viz(VizCommand),
    /// Files in the project's storage: list, download a job's outputs and logs, upload.
    #[command(subcommand, after_help = FILES_EXAMPLES)]
    Files(FilesCommand),
    /// Webhooks: what was sent to the configured webhooks, and how each attempt went.
    #[command(subcommand)]
    Webhooks(WebhooksCommand),
    /// Parameter sweeps: many runs of one job from a grid or a random sample, at most
    /// `concurrency` at once, shown and stopped as one.
    #[command(subcommand)]
    Sweep(SweepCommand),
    /// Checks a server URL and credentials and saves them as a profile (mode 0600).
    ///
    /// Uses --server/--project/--token (or their variables); without --server, the URL the
    /// server on this machine wrote into its data folder (--data-dir; any port), else
    /// http://127.0.0.1:8600. A missing project and token are read from that server's
    /// credentials.toml, so on the server's machine a plain `trainyard login` is enough.
    Login(LoginArgs),
    /// Lists the profiles of the profile file (secrets not shown).
    Profiles,
    /// What the project's runs used in a time window: core-, GPU- and memory-GB-seconds, wait
    /// time and runs by outcome, summed by project, user or job (`-o csv|json` too).
    #[command(after_help = USAGE_EXAMPLES)]
    Usage(UsageArgs),
    /// Resource specifications (RS-01).
    Specs,
    /// AI engines (RS-02).
    Engines,
    /// Built-in algorithms (TJ-11).
    Algorithms,
    /// Prints the shell completion script (completes commands, options, job names and
    /// spec codes): `source <(trainyard completions bash)`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Writes man pages (one per command) into a folder, or the main page to stdout.
    Man {
        /// Folder for trainyard.1, trainyard-jobs.1, trainyard-jobs-submit.1, ...
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
    },
    /// Supervise one run (started by the server; not for direct use).
    #[command(hide = true)]
    Shim {
        /// The run directory holding spec.json; `-`: read it from stdin (how the server
        /// starts its shims ahead of their runs).
        run_dir: PathBuf,
    },
    /// Run one task of a Slurm job (started by srun; not for direct use).
    #[command(hide = true)]
    SlurmTask {
        /// The run directory holding spec.json.
        run_dir: PathBuf,
    },
}

/// Where a server on this machine keeps its data: `serve`'s own flags.
#[derive(Args, Clone)]
pub struct ServerFiles {
    /// Data directory (default as `serve`).
    #[arg(long, env = "TRAINYARD_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Configuration file (TOML).
    #[arg(long, env = "TRAINYARD_CONFIG")]
    pub config: Option<PathBuf>,
    /// Database URL (the `database_url` key).
    #[arg(
        long,
        env = "TRAINYARD_DATABASE_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub database_url: Option<String>,
}

/// `trainyard login` (no `Debug`: it may hold a secret key).
#[derive(Args, Clone)]
pub struct LoginArgs {
    /// Data directory of a server on this machine whose credentials.toml holds the project and
    /// token to use when none is given (default: as `serve`).
    #[arg(long, env = "TRAINYARD_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Log in with this access key (AK/SK signing) instead of a token.
    #[arg(long, value_name = "AK")]
    pub access_key: Option<String>,
    /// File holding the secret key of --access-key.
    #[arg(long, value_name = "FILE", requires = "access_key")]
    pub secret_key_file: Option<PathBuf>,
    /// Secret key of --access-key (from the environment only, never a flag).
    #[arg(skip = std::env::var("TRAINYARD_SECRET_KEY").ok().filter(|v| !v.is_empty()))]
    pub secret_key: Option<String>,
}

/// `trainyard sweep ...`.
#[derive(Subcommand)]
pub enum SweepCommand {
    /// Creates a sweep and all its runs from a request file (JSON: `sweep_name`, `config`
    /// as TJ-01's, `parameters`, `samples`, `seed`, `concurrency`, `objective`; `-` reads
    /// standard input).
    Create {
        /// The request file.
        file: std::path::PathBuf,
    },
    /// Lists the project's sweeps, one row each with its progress and best run.
    List,
    /// Shows a sweep and its runs (parameters, status, metric).
    Get {
        /// The sweep's id.
        sweep: i64,
    },
    /// Stops every run of a sweep that has not ended (waiting ones before they start).
    Stop {
        /// The sweep's id.
        sweep: i64,
    },
    /// Deletes a sweep and its runs' jobs (runs not ended are stopped).
    Delete {
        /// The sweep's id.
        sweep: i64,
    },
}

/// `trainyard webhooks ...`.
#[derive(Subcommand)]
pub enum WebhooksCommand {
    /// Lists the project's webhook deliveries, newest first, with each attempt (its HTTP
    /// status or error).
    Deliveries {
        /// Only this job's (id or name).
        #[arg(long, value_name = "JOB")]
        job: Option<String>,
    },
}

/// `trainyard files ...`.
#[derive(Subcommand)]
pub enum FilesCommand {
    /// Lists the files below a storage folder (every depth), or one file.
    #[command(visible_alias = "list", after_help = FILES_EXAMPLES)]
    Ls {
        /// Storage path: /bucket/dir/ (obs:// and s3:// prefixes too).
        path: String,
    },
    /// Downloads a storage folder (or file) into a local folder, or with --job a job's
    /// outputs (its train_url, into DEST/outputs/) and worker logs (into DEST/logs/).
    #[command(after_help = FILES_EXAMPLES)]
    Get(FilesGetArgs),
    /// Uploads a local folder (or file) to a storage folder, replacing what that folder held.
    #[command(after_help = FILES_EXAMPLES)]
    Put {
        /// Local folder or file.
        local: PathBuf,
        /// Storage folder: /bucket/dir/.
        remote: String,
    },
}

/// `trainyard files get`.
#[derive(Args)]
pub struct FilesGetArgs {
    /// Storage folder or file to download (or give --job).
    #[arg(required_unless_present = "job", conflicts_with = "job")]
    pub path: Option<String>,
    /// Local folder to write into (default: ., or with --job the job's name).
    #[arg(long, short = 'd', value_name = "DIR")]
    pub dest: Option<PathBuf>,
    /// A job's outputs and logs instead: job id or name.
    #[arg(long, add = clap_complete::engine::ArgValueCandidates::new(crate::complete::job_names))]
    pub job: Option<String>,
    #[command(flatten)]
    pub version: VersionArg,
}

/// Examples of `trainyard files`.
const FILES_EXAMPLES: &str = "\
Examples:
  trainyard files ls /trainyard/out/mnist/
  trainyard files get --job mnist              # outputs and logs into ./mnist/
  trainyard files get /trainyard/out/mnist/ -d results
  trainyard files put ./data /data/mnist/";

/// Examples of `trainyard usage`.
const USAGE_EXAMPLES: &str = "\
Examples:
  trainyard usage --since 7d                        # the last 7 days, the whole project
  trainyard usage --since 2026-12-01 --until 2026-12-08 --by user
  trainyard usage --since 24h --by job -o csv > usage.csv";

/// `trainyard usage`.
#[derive(Args, Clone, Debug)]
pub struct UsageArgs {
    /// Start of the window: a time (`2026-12-01`, `2026-12-01T08:00:00Z`) or how long ago
    /// (`24h`, `7d`, `90m`).
    #[arg(long, value_name = "TIME|DURATION")]
    pub since: String,
    /// End of the window, as --since (default: now).
    #[arg(long, value_name = "TIME|DURATION")]
    pub until: Option<String>,
    /// What the rows sum up: project (default), user or job.
    #[arg(long, value_enum, default_value_t = UsageByArg::Project, hide_possible_values = true, hide_default_value = true)]
    pub by: UsageByArg,
}

/// `trainyard usage --by`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum UsageByArg {
    /// One row for the project.
    Project,
    /// One row per identity that created runs.
    User,
    /// One row per training job.
    Job,
}

/// Examples of `trainyard jobs submit`.
const SUBMIT_EXAMPLES: &str = "\
Examples:
  trainyard jobs submit ./src --boot train.py --follow
  trainyard jobs submit ./src --boot train.py --workers 2 \\
      --spec modelarts.vm.cpu.2u --param lr=0.01 --name mnist
  trainyard jobs submit ./src --boot train.py --dry-run   # uploads nothing";

/// Examples of the commands that name a job.
const JOB_EXAMPLES: &str = "\
Examples:
  trainyard jobs get mnist                  # the latest version
  trainyard jobs get mnist --version V0002
  trainyard jobs logs mnist -f --tail 20
  trainyard jobs list --status running";

/// Selects a version of a job: the latest unless given.
#[derive(Args, Clone, Debug)]
pub struct VersionArg {
    /// Version: its id (12) or its name (V0002, v2); default the job's latest.
    #[arg(long)]
    pub version: Option<VersionRef>,
}

/// A version as a user names it: its id (`12`) or its name as `jobs list` shows it (`V0002`,
/// or `v2`: the job's second version).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VersionRef {
    /// The version id.
    Id(i64),
    /// The version's number within its job (its name without the `V`).
    Number(u32),
}

impl std::str::FromStr for VersionRef {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let wrong = || format!("{s:?} is neither a version id (12) nor a version name (V0002)");
        match s.strip_prefix(['V', 'v']) {
            Some(n) => n.parse().map(Self::Number).map_err(|_| wrong()),
            None => s.parse().map(Self::Id).map_err(|_| wrong()),
        }
    }
}

impl std::fmt::Display for VersionRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Id(id) => write!(f, "{id}"),
            Self::Number(n) => write!(f, "V{n:04}"),
        }
    }
}

/// `trainyard jobs ...`.
#[derive(Subcommand)]
pub enum JobsCommand {
    /// Uploads a local code folder and creates a job running its boot file.
    #[command(after_help = SUBMIT_EXAMPLES)]
    Submit(Box<SubmitArgs>),
    /// Lists jobs (TJ-02), newest first unless told otherwise.
    #[command(visible_aliases = ["ls", "ps"], after_help = JOB_EXAMPLES)]
    List(JobsListArgs),
    /// Shows one version in detail (TJ-03); for a run that did not complete, also its
    /// outcome and the last lines of the failing worker's log.
    #[command(visible_aliases = ["show", "status"], after_help = JOB_EXAMPLES)]
    Get {
        /// Job id or name.
        #[arg(add = clap_complete::engine::ArgValueCandidates::new(crate::complete::job_names))]
        job: String,
        #[command(flatten)]
        version: VersionArg,
    },
    /// Shows what happened to a version's run, oldest first: created, queued (and why),
    /// started (where), worker exits, stops (by whom), hang suspected, ended (how).
    Events {
        /// Job id or name.
        #[arg(add = clap_complete::engine::ArgValueCandidates::new(crate::complete::job_names))]
        job: String,
        #[command(flatten)]
        version: VersionArg,
    },
    /// Lists the versions of a job, newest first (TJ-05).
    Versions {
        /// Job id or name.
        #[arg(add = clap_complete::engine::ArgValueCandidates::new(crate::complete::job_names))]
        job: String,
    },
    /// Stops a version (TJ-07).
    #[command(visible_alias = "cancel")]
    Stop {
        /// Job id or name.
        #[arg(add = clap_complete::engine::ArgValueCandidates::new(crate::complete::job_names))]
        job: String,
        #[command(flatten)]
        version: VersionArg,
        /// Seconds between SIGTERM and SIGKILL (default: the server's).
        #[arg(long)]
        grace: Option<i64>,
    },
    /// Changes the priority of a version waiting to start: 1 (low, the default), 2 or 3
    /// (high); queued runs of higher priority start first.
    Priority {
        /// Job id or name.
        #[arg(add = clap_complete::engine::ArgValueCandidates::new(crate::complete::job_names))]
        job: String,
        /// The new priority.
        #[arg(value_parser = clap::value_parser!(i64).range(1..=3))]
        priority: i64,
        #[command(flatten)]
        version: VersionArg,
    },
    /// Deletes a job with all its versions (TJ-09), or one version with --version (TJ-04).
    Delete {
        /// Job id or name.
        #[arg(add = clap_complete::engine::ArgValueCandidates::new(crate::complete::job_names))]
        job: String,
        /// Delete only this version: its id or its name (V0002).
        #[arg(long)]
        version: Option<VersionRef>,
    },
    /// Prints worker logs; --follow streams them until the run ends.
    #[command(after_help = JOB_EXAMPLES)]
    Logs(LogsArgs),
    /// Waits for a version to end; exit 0 when it completed, 1 otherwise.
    Wait {
        /// Job id or name.
        #[arg(add = clap_complete::engine::ArgValueCandidates::new(crate::complete::job_names))]
        job: String,
        #[command(flatten)]
        version: VersionArg,
        /// Give up after this many seconds (exit 1).
        #[arg(long)]
        timeout: Option<u64>,
    },
    /// Runs a job again as a new version (TJ-06): the latest version's settings, or those of
    /// --version, with the given changes.
    Rerun(RerunArgs),
    /// Replaces a job's description (TJ-08).
    DescribeUpdate {
        /// Job id or name.
        #[arg(add = clap_complete::engine::ArgValueCandidates::new(crate::complete::job_names))]
        job: String,
        /// The new description.
        description: String,
    },
}

/// `trainyard jobs list`.
#[derive(Args, Clone, Debug)]
pub struct JobsListArgs {
    /// Only jobs whose latest version has this status: a name (running, failed...) or a code.
    #[arg(long, value_parser = parse_status)]
    pub status: Option<i64>,
    /// Name filter (substring).
    #[arg(long)]
    pub search: Option<String>,
    /// Sort key.
    #[arg(long, default_value = "create_time", value_parser = ["create_time", "job_name", "job_desc", "status", "duration", "version_count"])]
    pub sort_by: String,
    /// Sort order.
    #[arg(long, default_value = "desc", value_parser = ["asc", "desc"])]
    pub order: String,
    /// At most this many jobs.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub limit: Option<u32>,
    /// One page (1-based) instead of every job.
    #[arg(long)]
    pub page: Option<i64>,
    /// Page size; alone it means the first page.
    #[arg(long)]
    pub per_page: Option<i64>,
    /// Redraws the list every --interval seconds until Ctrl-C.
    #[arg(long, short = 'w')]
    pub watch: bool,
    /// Seconds between redraws with --watch.
    #[arg(long, default_value_t = 2.0, requires = "watch")]
    pub interval: f64,
}

/// A status given by name (`running`, any case) or code (`8`).
pub fn parse_status(text: &str) -> Result<i64, String> {
    trainyard_api::JobStatus::parse(text)
        .map(|s| s.code())
        .ok_or_else(|| {
            format!(
                "unknown status '{text}'; one of {} or 0..=22",
                trainyard_api::JobStatus::NAMES
                    .map(str::to_lowercase)
                    .join(", ")
            )
        })
}

/// `trainyard jobs rerun`.
#[derive(Args)]
pub struct RerunArgs {
    /// Job id or name.
    #[arg(add = clap_complete::engine::ArgValueCandidates::new(crate::complete::job_names))]
    pub job: String,
    /// Version to start from: its id or its name (V0002); default the latest.
    #[arg(long)]
    pub version: Option<VersionRef>,
    /// Running parameter to set or change, --KEY=VALUE (repeatable; the others are kept).
    #[arg(long = "param", value_name = "KEY=VALUE")]
    pub params: Vec<String>,
    /// Number of workers (default: as before).
    #[arg(long)]
    pub workers: Option<i64>,
    /// Version description.
    #[arg(long)]
    pub desc: Option<String>,
    /// Streams the logs and exits with the new version's outcome.
    #[arg(long)]
    pub follow: bool,
}

/// Comma-separated statuses (names or codes) as the comma-separated codes VJ-02 takes.
pub fn parse_statuses(text: &str) -> Result<String, String> {
    text.split(',')
        .map(|part| parse_status(part).map(|c| c.to_string()))
        .collect::<Result<Vec<_>, _>>()
        .map(|codes| codes.join(","))
}

/// `trainyard jobs submit`.
#[derive(Args)]
pub struct SubmitArgs {
    /// Local folder with the code; uploaded to the project's storage (optional with --config,
    /// which may name code already in storage).
    #[arg(required_unless_present = "config")]
    pub dir: Option<PathBuf>,
    /// Boot file, relative to the folder.
    #[arg(long, required_unless_present = "config")]
    pub boot: Option<String>,
    /// Start from a stored training configuration (TC-05); flags given override its values.
    #[arg(long, value_name = "NAME", add = clap_complete::engine::ArgValueCandidates::new(crate::complete::config_names))]
    pub config: Option<String>,
    /// Check everything (folder, boot file, spec, engine, name, the upload's size against the
    /// server's limit) and show what would be uploaded, without uploading or creating anything.
    #[arg(long)]
    pub dry_run: bool,
    /// Job name (default: the folder's name and the time).
    #[arg(long)]
    pub name: Option<String>,
    /// Running parameter passed as --KEY=VALUE (repeatable).
    #[arg(long = "param", value_name = "KEY=VALUE")]
    pub params: Vec<String>,
    /// Number of workers [default: 1, or the configuration's].
    #[arg(long)]
    pub workers: Option<i64>,
    /// Resource spec: a spec code (modelarts.vm.cpu.2u) or a spec id [default: 1, or the
    /// configuration's].
    #[arg(long, add = clap_complete::engine::ArgValueCandidates::new(crate::complete::spec_codes))]
    pub spec: Option<String>,
    /// Engine id (default: the configuration's, else the server's "Python" engine).
    #[arg(long)]
    pub engine: Option<i64>,
    /// Data path in the project's storage [default: /data/, or the configuration's].
    #[arg(long)]
    pub data: Option<String>,
    /// Output path in the project's storage (default /trainyard/out/NAME/).
    #[arg(long)]
    pub train_url: Option<String>,
    /// Where the code goes in the project's storage (default /trainyard/code/NAME/).
    #[arg(long)]
    pub remote: Option<String>,
    /// Job description.
    #[arg(long)]
    pub desc: Option<String>,
    /// Streams every worker's log (prefixed by worker index) and exits with the job's outcome.
    #[arg(long)]
    pub follow: bool,
    /// Sends the job's events to the webhooks of a topic the server configures
    /// (`[[topics]]`): TOPIC, or TOPIC:EVENT,EVENT to choose the events (`queued`, `started`,
    /// `completed`, `failed`, ...; default started, completed, failed, terminated).
    #[arg(long, value_name = "TOPIC[:EVENTS]", value_parser = parse_notify)]
    pub notify: Option<trainyard_api::training::Notification>,
    /// Starts only after these runs completed: JOB_ID[:VERSION_ID],.. (a job alone: its
    /// latest version). Should one fail or be stopped, this job ends cancelled (13) with a
    /// reason naming it.
    #[arg(long, value_name = "JOB[:VERSION],..", value_delimiter = ',', value_parser = parse_parent)]
    pub after: Vec<(i64, Option<i64>)>,
    /// Starts after these runs ended, however they ended.
    #[arg(long, value_name = "JOB[:VERSION],..", value_delimiter = ',', value_parser = parse_parent)]
    pub after_any: Vec<(i64, Option<i64>)>,
    /// Starts only after these runs failed or were stopped (cancelled should one complete).
    #[arg(long, value_name = "JOB[:VERSION],..", value_delimiter = ',', value_parser = parse_parent)]
    pub after_failed: Vec<(i64, Option<i64>)>,
}

/// One parent of `--after`: `JOB_ID` or `JOB_ID:VERSION_ID`.
pub fn parse_parent(text: &str) -> Result<(i64, Option<i64>), String> {
    let bad = || format!("{text}: give JOB_ID or JOB_ID:VERSION_ID (numbers)");
    let (job, version) = match text.trim().split_once(':') {
        Some((j, v)) => (j, Some(v.parse().map_err(|_| bad())?)),
        None => (text.trim(), None),
    };
    Ok((job.parse().map_err(|_| bad())?, version))
}

impl SubmitArgs {
    /// The `config.depends_on` of `--after`, `--after-any` and `--after-failed`.
    pub fn depends_on(&self) -> Option<Vec<trainyard_api::training::Dependency>> {
        let kinds = [
            (&self.after, "after_ok"),
            (&self.after_any, "after_any"),
            (&self.after_failed, "after_failed"),
        ];
        let deps: Vec<_> = kinds
            .iter()
            .flat_map(|(parents, kind)| {
                parents
                    .iter()
                    .map(|&(job, version)| trainyard_api::training::Dependency {
                        job_id: Some(job),
                        version_id: version,
                        kind: Some((*kind).to_owned()),
                    })
            })
            .collect();
        (!deps.is_empty()).then_some(deps)
    }
}

/// `--notify TOPIC[:EVENT,EVENT]`. A topic may hold colons (an SMN URN does): what follows
/// the last one is taken as events only when every name in it is an event.
pub fn parse_notify(text: &str) -> Result<trainyard_api::training::Notification, String> {
    use trainyard_api::webhooks::select_events;
    let text = text.trim();
    let (topic, events) = match text.rsplit_once(':') {
        Some((topic, tail)) if !topic.is_empty() => {
            let names: Vec<String> = tail.split(',').map(|e| e.trim().to_owned()).collect();
            if select_events(&names).is_ok() {
                (topic, names)
            } else {
                (text, Vec::new())
            }
        }
        _ => (text, Vec::new()),
    };
    if topic.is_empty() || topic.starts_with(':') {
        return Err("give a topic: TOPIC or TOPIC:EVENT,EVENT".to_owned());
    }
    Ok(trainyard_api::training::Notification {
        topic_urn: Some(topic.to_owned()),
        events: Some(events),
    })
}

/// `trainyard jobs logs`.
#[derive(Args)]
pub struct LogsArgs {
    /// Job id or name.
    #[arg(add = clap_complete::engine::ArgValueCandidates::new(crate::complete::job_names))]
    pub job: String,
    #[command(flatten)]
    pub version: VersionArg,
    /// Only this worker's log (no prefix); default every worker, prefixed when several.
    #[arg(long)]
    pub worker: Option<usize>,
    /// Keeps streaming until the run ends.
    #[arg(long, short = 'f')]
    pub follow: bool,
    /// Only the last N lines (with --follow: then what follows); with -o json prints the API
    /// answer (at most 500 lines, TJ-12).
    #[arg(long)]
    pub tail: Option<u32>,
    /// Lists the log file names (TJ-10) instead.
    #[arg(long, conflicts_with_all = ["follow", "tail"])]
    pub list: bool,
}

/// `trainyard configs ...`.
#[derive(Subcommand)]
pub enum ConfigsCommand {
    /// Lists configurations (TC-02), every page.
    List {
        /// Name filter.
        #[arg(long)]
        search: Option<String>,
    },
    /// Shows one configuration (TC-05).
    Get {
        /// Configuration name.
        name: String,
    },
    /// Creates a configuration (TC-01) from a JSON file with the TC-01 body fields.
    Create {
        /// Configuration name (overrides the file's config_name).
        name: String,
        /// JSON file (`-` for stdin).
        #[arg(long)]
        file: PathBuf,
    },
    /// Replaces a configuration (TC-03) from a JSON file.
    Update {
        /// Configuration name.
        name: String,
        /// JSON file (`-` for stdin).
        #[arg(long)]
        file: PathBuf,
    },
    /// Deletes a configuration (TC-04).
    Delete {
        /// Configuration name.
        name: String,
    },
}

/// `trainyard viz ...`.
#[derive(Subcommand)]
pub enum VizCommand {
    /// Creates a visualization job over event files in the project's storage (VJ-01).
    ///
    /// Prints the id and the service URL; with -o json the VJ-01 answer, or with --wait the
    /// VJ-03 details once it runs.
    Create(VizCreateArgs),
    /// Lists visualization jobs (VJ-02).
    #[command(visible_alias = "ls")]
    List {
        /// Only jobs with this status, or one of several comma-separated ones: names or codes
        /// (running,killed or 8,12).
        #[arg(long, value_parser = parse_statuses)]
        status: Option<String>,
        /// Name filter (substring).
        #[arg(long)]
        search: Option<String>,
        /// Sort key: job_id, job_name, job_desc, create_time, status, duration, log_dir.
        #[arg(long)]
        sort_by: Option<String>,
        /// Sort order.
        #[arg(long, value_parser = ["asc", "desc"])]
        order: Option<String>,
        /// Page (1-based); without it, every page.
        #[arg(long)]
        page: Option<i64>,
        /// Page size with --page.
        #[arg(long, default_value_t = 10)]
        per_page: i64,
    },
    /// Shows one visualization job (VJ-03).
    #[command(visible_aliases = ["show", "status"])]
    Get {
        /// Visualization job id or name.
        #[arg(add = clap_complete::engine::ArgValueCandidates::new(crate::complete::viz_names))]
        id: String,
    },
    /// Prints the URL of a visualization job's UI, with its access secret; on a terminal,
    /// also opens it with --browser or when $BROWSER is set.
    Open {
        /// Visualization job id or name.
        #[arg(add = clap_complete::engine::ArgValueCandidates::new(crate::complete::viz_names))]
        id: String,
        /// Opens the URL in a browser ($BROWSER, else xdg-open) when stdout is a terminal.
        #[arg(long)]
        browser: bool,
    },
    /// Stops a visualization job (VJ-06).
    Stop {
        /// Visualization job id or name.
        #[arg(add = clap_complete::engine::ArgValueCandidates::new(crate::complete::viz_names))]
        id: String,
        /// Waits until it has stopped.
        #[arg(long)]
        wait: bool,
    },
    /// Restarts a visualization job that has ended (VJ-07): same id and URL.
    Restart {
        /// Visualization job id or name.
        #[arg(add = clap_complete::engine::ArgValueCandidates::new(crate::complete::viz_names))]
        id: String,
        /// Waits until it runs; exit 1 if it ends instead.
        #[arg(long)]
        wait: bool,
        /// Give up waiting after this many seconds (exit 1).
        #[arg(long, requires = "wait")]
        timeout: Option<u64>,
    },
    /// Deletes a visualization job, stopping it first if it runs (VJ-05).
    Delete {
        /// Visualization job id or name.
        #[arg(add = clap_complete::engine::ArgValueCandidates::new(crate::complete::viz_names))]
        id: String,
    },
    /// Replaces a visualization job's description (VJ-04).
    DescribeUpdate {
        /// Visualization job id or name.
        #[arg(add = clap_complete::engine::ArgValueCandidates::new(crate::complete::viz_names))]
        id: String,
        /// The new description.
        description: String,
    },
}

/// `trainyard viz create`.
#[derive(Args)]
pub struct VizCreateArgs {
    /// Storage path of the event files, e.g. a training job's train_url (/trainyard/out/NAME/).
    #[arg(long)]
    pub train_url: String,
    /// Job name, 1-20 letters, digits, `_`, `-` (default: tb- and the time in ms).
    #[arg(long)]
    pub name: Option<String>,
    /// Description.
    #[arg(long)]
    pub desc: Option<String>,
    /// Stops the job this many hours after it starts running (0-24; 0 = never).
    #[arg(long, value_name = "N", conflicts_with = "auto_stop_minutes")]
    pub auto_stop_hours: Option<i64>,
    /// Stops the job this many minutes after it starts running (0-24; trainyard extension).
    #[arg(long, value_name = "N")]
    pub auto_stop_minutes: Option<i64>,
    /// Server type: tensorboard (default) or mindinsight.
    #[arg(long = "type", value_name = "TYPE")]
    pub job_type: Option<String>,
    /// Waits until the job runs (status 8); exit 1 if it ends instead.
    #[arg(long)]
    pub wait: bool,
    /// Give up waiting after this many seconds (exit 1).
    #[arg(long, requires = "wait")]
    pub timeout: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::parse_notify;

    /// A topic's own colons stay in it; a tail of event names selects events.
    #[test]
    fn notify_takes_a_topic_and_events() {
        let n = parse_notify("urn:smn:r:p:train:completed,JobFailed").unwrap();
        assert_eq!(n.topic_urn.as_deref(), Some("urn:smn:r:p:train"));
        assert_eq!(n.events.unwrap(), ["completed", "JobFailed"]);
        let n = parse_notify("urn:smn:r:p:train").unwrap();
        assert_eq!(n.topic_urn.as_deref(), Some("urn:smn:r:p:train"));
        assert_eq!(n.events.unwrap(), Vec::<String>::new());
        assert_eq!(
            parse_notify("ops").unwrap().topic_urn.as_deref(),
            Some("ops")
        );
        assert!(parse_notify(":queued").is_err());
        assert!(parse_notify(" ").is_err());
    }
}
