//! `trainyard jobs ...` (TJ-01..TJ-12 and the extensions).

use super::follow::{self, FOREVER};
use crate::cli::{JobsCommand, JobsListArgs, LogsArgs, Output, SubmitArgs, VersionArg};
use crate::output::{self, status, Table};
use crate::CliError;
use std::process::ExitCode;
use std::time::Duration;
use trainyard_api::training::{
    CreateJobRequest, Flavor, JobConfig, JobListResponse, Parameter, Success, VersionInfo,
    VersionListResponse,
};
use trainyard_client::query::{JobListQuery, LogQuery, PageQuery};
use trainyard_client::Client;

/// Runs a `jobs` command.
pub async fn run(client: &Client, out: Output, cmd: JobsCommand) -> Result<ExitCode, CliError> {
    match cmd {
        JobsCommand::Submit(args) => submit(client, out, args).await?,
        JobsCommand::List(args) => list(client, out, args).await?,
        JobsCommand::Get { job, version } => {
            let v = client
                .get_version(job, version_of(client, job, &version).await?)
                .await?;
            show_version(out, &v)?;
        }
        JobsCommand::Versions { job } => versions(client, out, job).await?,
        JobsCommand::Stop {
            job,
            version,
            grace,
        } => {
            let version = version_of(client, job, &version).await?;
            let resp = client.stop_version(job, version, grace).await?;
            done(out, &resp, format!("stopping job {job} version {version}"))?;
        }
        JobsCommand::Delete {
            job,
            version: Some(version),
        } => {
            let resp = client.delete_version(job, version).await?;
            done(out, &resp, format!("deleted job {job} version {version}"))?;
        }
        JobsCommand::Delete { job, version: None } => {
            let resp = client.delete_job(job).await?;
            done(out, &resp, format!("deleted job {job}"))?;
        }
        JobsCommand::Logs(args) => logs(client, out, args).await?,
        JobsCommand::Wait {
            job,
            version,
            timeout,
        } => {
            let version = version_of(client, job, &version).await?;
            let v = follow::watch(
                client,
                job,
                version,
                timeout.map_or(FOREVER, Duration::from_secs),
            )
            .await?;
            show_version(out, &v)?;
            follow::outcome(&v, job)?;
        }
        JobsCommand::DescribeUpdate { job, description } => {
            let resp = client.update_job_description(job, &description).await?;
            done(out, &resp, format!("updated the description of job {job}"))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn done(out: Output, resp: &Success, what: String) -> Result<(), CliError> {
    match out {
        Output::Json => output::json(resp),
        Output::Table | Output::Wide => output::stdout(format!("{what}\n").as_bytes()),
    }
}

/// The given version, else the job's latest.
async fn version_of(client: &Client, job: i64, v: &VersionArg) -> Result<i64, CliError> {
    match v.version {
        Some(v) => Ok(v),
        None => Ok(client.latest_version(job).await?.version_id),
    }
}

/// A job name from a folder name: letters, digits, `-`, `_`, plus the time for uniqueness.
fn default_name(dir: &std::path::Path) -> String {
    let base = dir
        .canonicalize()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "job".into());
    let clean: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .take(40)
        .collect();
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!("{clean}-{secs}")
}

/// `--param k=v` into parameters.
fn parameters(raw: &[String]) -> Result<Vec<Parameter>, CliError> {
    raw.iter()
        .map(|p| match p.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => Ok(Parameter {
                label: k.trim().to_owned(),
                value: v.to_owned(),
            }),
            _ => Err(CliError::Usage(format!("--param {p}: expected KEY=VALUE"))),
        })
        .collect()
}

/// The create request of `submit`, with the code already at `remote`.
fn submit_request(
    args: &SubmitArgs,
    name: &str,
    remote: &str,
) -> Result<CreateJobRequest, CliError> {
    let boot = args.boot.trim_start_matches("./").trim_start_matches('/');
    if boot.is_empty() || boot.split('/').any(|p| p == "..") {
        return Err(CliError::Usage(format!(
            "--boot {}: must be a file inside the folder",
            args.boot
        )));
    }
    if !args.dir.join(boot).is_file() {
        return Err(CliError::Usage(format!(
            "--boot {}: no such file in {}",
            args.boot,
            args.dir.display()
        )));
    }
    let (spec_id, flavor) = match args.spec.trim().parse::<i64>() {
        Ok(id) => (Some(id), None),
        Err(_) => (
            None,
            Some(Flavor {
                code: Some(args.spec.trim().to_owned()),
            }),
        ),
    };
    let params = parameters(&args.params)?;
    Ok(CreateJobRequest {
        job_name: Some(name.to_owned()),
        job_desc: args.desc.clone(),
        config: Some(JobConfig {
            worker_server_num: Some(args.workers),
            app_url: Some(remote.to_owned()),
            boot_file_url: Some(format!("{remote}{boot}")),
            parameter: (!params.is_empty()).then_some(params),
            data_url: Some(args.data.clone()),
            spec_id,
            flavor,
            engine_id: args.engine,
            train_url: Some(
                args.train_url
                    .clone()
                    .unwrap_or_else(|| format!("/trainyard/out/{name}/")),
            ),
            ..Default::default()
        }),
        workspace_id: None,
    })
}

async fn submit(client: &Client, out: Output, args: SubmitArgs) -> Result<(), CliError> {
    let name = args.name.clone().unwrap_or_else(|| default_name(&args.dir));
    let mut remote = args
        .remote
        .clone()
        .unwrap_or_else(|| format!("/trainyard/code/{name}/"));
    if !remote.ends_with('/') {
        remote.push('/');
    }
    let req = submit_request(&args, &name, &remote)?;
    let up = client.upload_dir(&args.dir, &remote).await?;
    eprintln!(
        "uploaded {} ({} files, {} bytes) to {remote}",
        args.dir.display(),
        up.files,
        up.bytes
    );
    let created = client.create_job(&req).await?;
    let version = created.version_id.ok_or_else(|| {
        CliError::Failed(format!(
            "job {} was created without a version",
            created.job_id
        ))
    })?;
    if !args.follow {
        return match out {
            Output::Json => output::json(&created),
            Output::Table | Output::Wide => output::stdout(
                format!(
                    "submitted job {} ({}) version {version}: {}\n",
                    created.job_id,
                    created.job_name,
                    status(created.status)
                )
                .as_bytes(),
            ),
        };
    }
    eprintln!(
        "submitted job {} ({}) version {version}",
        created.job_id, created.job_name
    );
    let job = created.job_id;
    let files = (0..args.workers.max(1) as usize)
        .map(|i| (i, format!("{name}.{i}")))
        .collect();
    let (logs, finished) = tokio::join!(
        follow::stream_logs(client, job, version, files, true, true),
        follow::watch(client, job, version, FOREVER),
    );
    logs?;
    follow::outcome(&finished?, job)
}

/// The jobs `args` select, in their order.
async fn fetch_jobs(client: &Client, args: &JobsListArgs) -> Result<JobListResponse, CliError> {
    let query = JobListQuery {
        status: args.status,
        search_content: args.search.clone(),
        sort_by: Some(args.sort_by.clone()),
        order: Some(args.order.clone()),
        ..Default::default()
    };
    if args.page.is_some() || args.per_page.is_some() {
        let q = JobListQuery {
            page: Some(args.page.unwrap_or(1)),
            per_page: Some(args.per_page.unwrap_or(10)),
            ..query
        };
        let mut resp = client.list_jobs(&q).await?;
        if let Some(limit) = args.limit {
            resp.jobs.truncate(limit as usize);
        }
        return Ok(resp);
    }
    match args.limit {
        Some(limit) if limit <= 1000 => {
            let q = JobListQuery {
                page: Some(1),
                per_page: Some(i64::from(limit)),
                ..query
            };
            client.list_jobs(&q).await.map_err(Into::into)
        }
        limit => {
            let first = client
                .list_jobs(&JobListQuery {
                    page: Some(1),
                    per_page: Some(1),
                    ..query.clone()
                })
                .await?;
            let mut jobs = client.list_all_jobs(&query).await?;
            if let Some(limit) = limit {
                jobs.truncate(limit as usize);
            }
            Ok(JobListResponse { jobs, ..first })
        }
    }
}

fn jobs_table(resp: &JobListResponse) -> Table {
    let mut t = Table::new(&[
        "ID",
        "NAME",
        "VERSION",
        "STATUS",
        "CREATED",
        "DURATION",
        "DESCRIPTION",
        "VERSIONS",
    ])
    .extra(&["VERSIONS"])
    .status("STATUS")
    .keep(&["ID", "VERSION", "STATUS", "CREATED", "DURATION"]);
    for j in &resp.jobs {
        t.row(vec![
            j.job_id.to_string(),
            j.job_name.clone(),
            j.version_id.map(|v| v.to_string()).unwrap_or_default(),
            status(j.status),
            output::time_ms(j.create_time),
            output::duration_ms(j.duration),
            j.job_desc.clone(),
            j.version_count.to_string(),
        ]);
    }
    t
}

async fn list(client: &Client, out: Output, args: JobsListArgs) -> Result<(), CliError> {
    if !args.watch {
        let resp = fetch_jobs(client, &args).await?;
        if out == Output::Json {
            return output::json(&resp);
        }
        output::stdout(jobs_table(&resp).render().as_bytes())?;
        if (resp.jobs.len() as i64) < resp.job_total_count && args.page.is_none() {
            eprintln!("{} of {} jobs", resp.jobs.len(), resp.job_total_count);
        }
        return Ok(());
    }
    // --watch: redraw until Ctrl-C; on a terminal the screen is cleared first, else each
    // snapshot follows the last, separated by a blank line.
    let clear = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let interval = Duration::from_secs_f64(args.interval.clamp(0.1, 3600.0));
    let mut first = true;
    // One listener for the whole loop, so a Ctrl-C during a fetch is not lost.
    let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .map_err(|e| CliError::Failed(format!("cannot watch for Ctrl-C: {e}")))?;
    loop {
        let resp = tokio::select! {
            _ = interrupt.recv() => return Ok(()),
            resp = fetch_jobs(client, &args) => resp?,
        };
        let body = match out {
            Output::Json => format!(
                "{}\n",
                serde_json::to_string(&resp).map_err(|e| CliError::Failed(e.to_string()))?
            ),
            Output::Table | Output::Wide => jobs_table(&resp).render(),
        };
        let text = match (clear, first) {
            (true, _) => format!("\x1b[H\x1b[2J{}\n{body}", output::time_ms(now_ms())),
            (false, true) => body,
            (false, false) => format!("\n{body}"),
        };
        output::stdout(text.as_bytes())?;
        first = false;
        tokio::select! {
            _ = interrupt.recv() => return Ok(()),
            () = tokio::time::sleep(interval) => {}
        }
    }
}

fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

async fn versions(client: &Client, out: Output, job: i64) -> Result<(), CliError> {
    let first = client
        .list_versions(
            job,
            &PageQuery {
                page: Some(1),
                per_page: Some(1),
            },
        )
        .await?;
    let versions = client.list_all_versions(job).await?;
    let resp = VersionListResponse { versions, ..first };
    if out == Output::Json {
        return output::json(&resp);
    }
    let mut t = Table::new(&[
        "VERSION", "NAME", "STATUS", "WORKERS", "SPEC", "CREATED", "DURATION",
    ])
    .status("STATUS")
    .keep(&["VERSION", "STATUS", "CREATED", "DURATION"])
    .prefer(&["NAME"]);
    for v in &resp.versions {
        t.row(vec![
            v.version_id.to_string(),
            v.version_name.clone(),
            status(v.status),
            v.worker_server_num.to_string(),
            v.spec_code.clone().unwrap_or_default(),
            output::time_ms(v.create_time),
            output::duration_ms(v.duration),
        ]);
    }
    t.print()
}

fn show_version(out: Output, v: &VersionInfo) -> Result<(), CliError> {
    if out == Output::Json {
        return output::json(v);
    }
    let params: Vec<String> = v
        .parameter
        .iter()
        .map(|p| format!("{}={}", p.label, p.value))
        .collect();
    output::fields(&[
        (
            "job",
            format!(
                "{} ({})",
                v.job_id.unwrap_or_default(),
                v.job_name.clone().unwrap_or_default()
            ),
        ),
        ("version", format!("{} ({})", v.version_id, v.version_name)),
        ("status", status(v.status)),
        ("workers", v.worker_server_num.to_string()),
        ("spec", v.spec_code.clone().unwrap_or_default()),
        (
            "engine",
            format!(
                "{} {}",
                v.engine_name.clone().unwrap_or_default(),
                v.engine_version.clone().unwrap_or_default()
            ),
        ),
        ("app_url", v.app_url.clone().unwrap_or_default()),
        ("boot_file_url", v.boot_file_url.clone().unwrap_or_default()),
        ("data_url", v.data_url.clone().unwrap_or_default()),
        ("train_url", v.train_url.clone().unwrap_or_default()),
        ("parameters", params.join(" ")),
        ("created", output::time_ms(v.create_time)),
        ("duration", output::duration_ms(v.duration)),
    ])
}

async fn logs(client: &Client, out: Output, args: LogsArgs) -> Result<(), CliError> {
    let job = args.job;
    let version = version_of(client, job, &args.version).await?;
    if args.list {
        let names = client.log_file_names(job, version).await?;
        return match out {
            Output::Json => output::json(&names),
            Output::Table | Output::Wide => output::stdout(
                names
                    .log_file_list
                    .iter()
                    .map(|n| format!("{n}\n"))
                    .collect::<String>()
                    .as_bytes(),
            ),
        };
    }
    let v = client.get_version(job, version).await?;
    let name = v.job_name.clone().unwrap_or_default();
    let workers = v.worker_server_num.max(1) as usize;
    let files: Vec<(usize, String)> = match args.worker {
        Some(i) if i >= workers => {
            return Err(CliError::Usage(format!(
                "--worker {i}: the version has {workers} worker(s)"
            )));
        }
        Some(i) => vec![(i, format!("{name}.{i}"))],
        None => (0..workers).map(|i| (i, format!("{name}.{i}"))).collect(),
    };
    if let Some(lines) = args.tail {
        let mut pages = Vec::new();
        for (_, file) in &files {
            let q = LogQuery {
                log_file: file.clone(),
                lines: Some(lines),
                ..Default::default()
            };
            pages.push(client.read_log(job, version, &q).await?);
        }
        if out == Output::Json {
            return match pages.len() {
                1 => output::json(&pages[0]),
                _ => output::json(&pages),
            };
        }
        let prefix = files.len() > 1;
        let mut text = String::new();
        for ((index, _), page) in files.iter().zip(&pages) {
            for line in page.content.lines() {
                if prefix {
                    text.push_str(&format!("[{index}] "));
                }
                text.push_str(line);
                text.push('\n');
            }
        }
        return output::stdout(text.as_bytes());
    }
    let prefix = files.len() > 1;
    follow::stream_logs(client, job, version, files, prefix, args.follow).await
}
