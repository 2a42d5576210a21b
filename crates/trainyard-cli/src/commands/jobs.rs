//! `trainyard jobs ...` (TJ-01..TJ-12 and the extensions).

use super::follow::{self, FOREVER};
use crate::cli::{
    JobsCommand, JobsListArgs, LogsArgs, RerunArgs, SubmitArgs, VersionArg, VersionRef,
};
use crate::global::Output;
use std::path::Path;
use trainyard_api::training::CreateVersionRequest;
use trainyard_client::UploadEntry;

/// Where `submit` uploads code by default (the server removes `PREFIX/NAME/` with job NAME).
const CLI_CODE_PREFIX: &str = "/trainyard/code/";
use crate::output::{self, status, Table};
use crate::CliError;
use std::process::ExitCode;
use std::time::Duration;
use trainyard_api::training::{
    CreateJobRequest, JobConfig, JobListResponse, JobSummary, Parameter, Success, VersionInfo,
    VersionListResponse,
};
use trainyard_client::query::{JobListQuery, LogQuery, PageQuery};
use trainyard_client::Client;

/// Runs a `jobs` command.
pub async fn run(client: &Client, out: Output, cmd: JobsCommand) -> Result<ExitCode, CliError> {
    let v2_target = match &cmd {
        JobsCommand::Get { job, .. }
        | JobsCommand::Events { job, .. }
        | JobsCommand::Stop { job, .. }
        | JobsCommand::Delete { job, version: None } => v2_job_ref(client, job).await?,
        JobsCommand::Logs(args) => v2_job_ref(client, &args.job).await?,
        _ => None,
    };
    if let Some(id) = v2_target {
        v2_command(client, out, cmd, &id).await?;
        return Ok(ExitCode::SUCCESS);
    }
    match cmd {
        JobsCommand::Submit(args) => submit(client, out, *args).await?,
        JobsCommand::List(args) => list(client, out, args).await?,
        JobsCommand::Get { job, version } => {
            let job = job_id(client, &job).await?;
            let v = client
                .get_version(job, version_of(client, job, &version).await?)
                .await?;
            show_version(out, &v)?;
            // A run that ended without completing: why, and the end of the failing log.
            let st = trainyard_api::JobStatus::from_code(v.status);
            if out != Output::Json && st.is_terminal() && st != trainyard_api::JobStatus::COMPLETED
            {
                let report = follow::failure_report(client, &v, job)
                    .await
                    .unwrap_or_default();
                let (what, tail) = report.split_once('\n').unwrap_or((&report, ""));
                let mut text = format!("outcome        {}{what}\n", status(v.status));
                if !tail.is_empty() {
                    text.push_str(tail);
                    text.push('\n');
                }
                output::stdout(text.as_bytes())?;
            }
        }
        JobsCommand::Versions { job } => versions(client, out, job_id(client, &job).await?).await?,
        JobsCommand::Events { job, version } => {
            let job = job_id(client, &job).await?;
            let version = version_of(client, job, &version).await?;
            let resp = client.run_events(job, version).await?;
            if out == Output::Json {
                output::json(&resp)?;
            } else {
                let rows = resp.events.iter().map(|e| {
                    [
                        output::time_ms(e.time),
                        e.level.clone(),
                        e.kind.clone(),
                        e.message.clone(),
                    ]
                });
                print_events(rows)?;
            }
        }
        JobsCommand::Stop {
            job,
            version,
            grace,
        } => {
            let job = job_id(client, &job).await?;
            let version = version_of(client, job, &version).await?;
            let resp = match client.stop_version(job, version, grace).await {
                Ok(resp) => resp,
                // Stopping twice is not a failure: the first stop is under way.
                Err(e) => match client.get_version(job, version).await {
                    Ok(v) if v.status == trainyard_api::status::JobStatus::KILLING.code() => {
                        Success::OK
                    }
                    _ => return Err(e.into()),
                },
            };
            done(out, &resp, format!("stopping job {job} version {version}"))?;
        }
        JobsCommand::Priority {
            job,
            priority,
            version,
        } => {
            let job = job_id(client, &job).await?;
            let version = version_of(client, job, &version).await?;
            let resp = client.set_priority(job, version, priority).await?;
            let what = format!("job {job} version {version} has priority {priority}");
            done(out, &resp, what)?;
        }
        JobsCommand::Delete {
            job,
            version: Some(version),
        } => {
            let job = job_id(client, &job).await?;
            let version = version_id(client, job, version).await?;
            let resp = client.delete_version(job, version).await?;
            done(out, &resp, format!("deleted job {job} version {version}"))?;
        }
        JobsCommand::Delete { job, version: None } => {
            let job = job_id(client, &job).await?;
            let resp = client.delete_job(job).await?;
            done(out, &resp, format!("deleted job {job}"))?;
        }
        JobsCommand::Logs(args) => logs(client, out, args).await?,
        JobsCommand::Wait {
            job,
            version,
            timeout,
        } => {
            let job = job_id(client, &job).await?;
            let version = version_of(client, job, &version).await?;
            let v = follow::watch(
                client,
                job,
                version,
                timeout.map_or(FOREVER, Duration::from_secs),
            )
            .await?;
            show_version(out, &v)?;
            follow::outcome(client, &v, job).await?;
        }
        JobsCommand::Rerun(args) => rerun(client, out, args).await?,
        JobsCommand::DescribeUpdate { job, description } => {
            let job = job_id(client, &job).await?;
            let resp = client.update_job_description(job, &description).await?;
            done(out, &resp, format!("updated the description of job {job}"))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Whether `text` is a job id of the new-version (v2) API: a UUID.
pub fn is_v2_id(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// The v2 job `text` names: its UUID, or the start of one as `jobs list` shows it
/// (`3f1a5fa3`, at least 8 characters, not only digits: that is a v1 id) when exactly one v2
/// job's id starts so; else none (a v1 job).
async fn v2_job_ref(client: &Client, text: &str) -> Result<Option<String>, CliError> {
    if is_v2_id(text) {
        return Ok(Some(text.to_owned()));
    }
    let b = text.as_bytes();
    let short = b.len() >= SHORT_V2_ID
        && b.len() < 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        });
    if !short || text.bytes().all(|c| c.is_ascii_digit()) {
        return Ok(None);
    }
    let matching: Vec<String> = client
        .v2_jobs()
        .await?
        .iter()
        .filter_map(|j| j["metadata"]["id"].as_str())
        .filter(|id| id.starts_with(text))
        .map(str::to_owned)
        .collect();
    match matching.as_slice() {
        [one] => Ok(Some(one.clone())),
        [] => Ok(None),
        _ => Err(CliError::Usage(format!(
            "'{text}' starts the ids of {} jobs; give more of it",
            matching.len()
        ))),
    }
}

/// How many characters of a v2 job's id `jobs list` shows (`-o wide`: all).
const SHORT_V2_ID: usize = 8;

/// `jobs get`, `stop`, `delete` and `logs` of a v2 job.
async fn v2_command(
    client: &Client,
    out: Output,
    cmd: JobsCommand,
    id: &str,
) -> Result<(), CliError> {
    use trainyard_client::Method;
    match cmd {
        JobsCommand::Get { .. } => v2_show(client, out, id).await,
        JobsCommand::Events { .. } => {
            let path = format!("/training-jobs/{id}/events?order=asc&limit=100");
            let resp = client.v2(Method::GET, &path, None).await?;
            if out == Output::Json {
                return output::json(&resp);
            }
            let events = resp["events"].as_array().cloned().unwrap_or_default();
            let text =
                |e: &serde_json::Value, k: &str| e[k].as_str().unwrap_or_default().to_owned();
            print_events(events.iter().map(|e| {
                [
                    text(e, "time"),
                    text(e, "level"),
                    text(e, "source"),
                    text(e, "message"),
                ]
            }))
        }
        JobsCommand::Stop { .. } => {
            let path = format!("/training-jobs/{id}/actions");
            let body = serde_json::json!({"action_type": "terminate"});
            if let Err(e) = client.v2(Method::POST, &path, Some(&body)).await {
                // Terminating twice is not a failure: the first is under way.
                let shown = client
                    .v2(Method::GET, &format!("/training-jobs/{id}"), None)
                    .await?;
                if shown["status"]["phase"] != "Terminating" {
                    return Err(e.into());
                }
            }
            done(out, &Success::OK, format!("terminating job {id}"))
        }
        JobsCommand::Delete { .. } => {
            client
                .v2(Method::DELETE, &format!("/training-jobs/{id}"), None)
                .await?;
            done(out, &Success::OK, format!("deleted job {id}"))
        }
        JobsCommand::Logs(mut args) => {
            args.job = id.to_owned();
            v2_logs(client, out, args).await
        }
        _ => Err(CliError::Usage(format!(
            "job {id} is a v2 job: get, stop, delete and logs apply to it"
        ))),
    }
}

/// `jobs get` of a v2 job: its document (`-o json`) or a summary.
async fn v2_show(client: &Client, out: Output, id: &str) -> Result<(), CliError> {
    let job = client
        .v2(
            trainyard_client::Method::GET,
            &format!("/training-jobs/{id}"),
            None,
        )
        .await?;
    if out == Output::Json {
        return output::json(&job);
    }
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    };
    let status = &job["status"];
    let alg = &job["algorithm"];
    let engine = &alg["engine"];
    let runs = if engine["image_url"].is_string() {
        format!("{} ({})", text(&alg["command"]), text(&engine["image_url"]))
    } else {
        format!(
            "{} ({})",
            text(&alg["boot_file"]),
            text(&engine["engine_id"])
        )
    };
    let rows = [
        ("API", "v2".to_owned()),
        ("ID", text(&job["metadata"]["id"])),
        ("NAME", text(&job["metadata"]["name"])),
        ("DESCRIPTION", text(&job["metadata"]["description"])),
        (
            "PHASE",
            format!(
                "{}/{}",
                text(&status["phase"]),
                text(&status["secondary_phase"])
            ),
        ),
        (
            "CREATED",
            output::time_ms(job["metadata"]["create_time"].as_i64().unwrap_or(0)),
        ),
        (
            "DURATION",
            output::duration_ms(status["duration"].as_i64().unwrap_or(0)),
        ),
        ("FLAVOR", text(&job["spec"]["resource"]["flavor_id"])),
        ("NODES", text(&job["spec"]["resource"]["node_count"])),
        ("POOL", text(&job["spec"]["resource"]["pool_id"])),
        ("RUNS", runs),
        (
            "TASKS",
            status["tasks"]
                .as_array()
                .map(|t| t.iter().map(text).collect::<Vec<_>>().join(", "))
                .unwrap_or_default(),
        ),
    ];
    let body: String = rows
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k:<12}{v}\n"))
        .collect();
    output::stdout(body.as_bytes())
}

/// `jobs logs` of a v2 job: each task's log (the server's preview: its last 5 MB), prefixed
/// with the task's index when several; `--follow` polls until the job ends.
async fn v2_logs(client: &Client, out: Output, args: LogsArgs) -> Result<(), CliError> {
    let id = &args.job;
    let path = format!("/training-jobs/{id}");
    let job = client
        .v2(trainyard_client::Method::GET, &path, None)
        .await?;
    let tasks: Vec<String> = job["status"]["tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t.as_str().map(str::to_owned))
        .collect();
    let tasks: Vec<(usize, String)> = match args.worker {
        Some(i) if i >= tasks.len() => {
            return Err(CliError::Usage(format!(
                "--worker {i}: the job has {} task(s)",
                tasks.len()
            )))
        }
        Some(i) => vec![(i, tasks[i].clone())],
        None => tasks.into_iter().enumerate().collect(),
    };
    if args.list {
        let names: Vec<&String> = tasks.iter().map(|(_, t)| t).collect();
        return match out {
            Output::Json => output::json(&names),
            _ => output::stdout(
                names
                    .iter()
                    .map(|n| format!("{n}\n"))
                    .collect::<String>()
                    .as_bytes(),
            ),
        };
    }
    let prefix = tasks.len() > 1;
    let mut printed = vec![0u64; tasks.len()];
    loop {
        let ended = {
            let job = client
                .v2(trainyard_client::Method::GET, &path, None)
                .await?;
            !matches!(
                job["status"]["phase"].as_str(),
                Some("Creating" | "Pending" | "Running" | "Terminating")
            )
        };
        let mut text = String::new();
        for (k, (index, task)) in tasks.iter().enumerate() {
            let preview = match client
                .v2(
                    trainyard_client::Method::GET,
                    &format!("{path}/tasks/{task}/logs/preview"),
                    None,
                )
                .await
            {
                Ok(p) => p,
                // Not written yet.
                Err(trainyard_client::Error::Api { code, .. }) if code == "ModelArts.2818" => {
                    continue
                }
                Err(e) => return Err(e.into()),
            };
            let content = preview["content"].as_str().unwrap_or_default();
            let full = preview["full_size"].as_u64().unwrap_or(0);
            let start = full - content.len() as u64;
            let from = printed[k].saturating_sub(start) as usize;
            let mut new = content
                .get(from.min(content.len())..)
                .unwrap_or_default()
                .to_owned();
            if !args.follow || ended {
                // The last lines only with --tail.
                if let Some(n) = args.tail {
                    let lines: Vec<&str> = new.lines().collect();
                    new = lines[lines.len().saturating_sub(n as usize)..].join("\n");
                    if !new.is_empty() {
                        new.push('\n');
                    }
                }
            }
            printed[k] = full;
            for line in new.lines() {
                if prefix {
                    text.push_str(&format!("[{index}] "));
                }
                text.push_str(line);
                text.push('\n');
            }
        }
        output::stdout(text.as_bytes())?;
        if !args.follow || ended {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// A job given by id or by name (names are unique within a project).
pub async fn job_id(client: &Client, text: &str) -> Result<i64, CliError> {
    if let Ok(id) = text.trim().parse::<i64>() {
        return Ok(id);
    }
    job_named(client, text).await?.ok_or_else(|| {
        CliError::Failed(format!("no job named '{text}' (see `trainyard jobs list`)"))
    })
}

/// The id of the job named exactly `name`, if any.
async fn job_named(client: &Client, name: &str) -> Result<Option<i64>, CliError> {
    let query = JobListQuery {
        search_content: Some(name.to_owned()),
        page: Some(1),
        per_page: Some(1000),
        ..Default::default()
    };
    Ok(client
        .list_jobs(&query)
        .await?
        .jobs
        .iter()
        .find(|j| j.job_name == name)
        .map(|j| j.job_id))
}

fn done(out: Output, resp: &Success, what: String) -> Result<(), CliError> {
    match out {
        Output::Json => output::json(resp),
        Output::Table | Output::Wide | Output::Csv => {
            output::stdout(format!("{what}\n").as_bytes())
        }
    }
}

/// The given version, else the job's latest.
pub async fn version_of(client: &Client, job: i64, v: &VersionArg) -> Result<i64, CliError> {
    match v.version {
        Some(v) => version_id(client, job, v).await,
        None => Ok(client.latest_version(job).await?.version_id),
    }
}

/// The id of version `v` of `job` (a name is looked up among the job's versions).
async fn version_id(client: &Client, job: i64, v: VersionRef) -> Result<i64, CliError> {
    let n = match v {
        VersionRef::Id(id) => return Ok(id),
        VersionRef::Number(n) => n,
    };
    client
        .list_all_versions(job)
        .await?
        .iter()
        .find(|info| {
            info.version_name
                .trim_start_matches(['V', 'v'])
                .parse::<u32>()
                .ok()
                == Some(n)
        })
        .map(|info| info.version_id)
        .ok_or_else(|| CliError::Usage(format!("job {job} has no version {v}")))
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

/// The boot file given to `submit`, checked to be a file inside the folder.
fn boot_path(dir: &Path, boot: &str) -> Result<String, CliError> {
    let rel = boot.trim_start_matches("./").trim_start_matches('/');
    if rel.is_empty() || rel.split('/').any(|p| p == "..") {
        return Err(CliError::Usage(format!(
            "--boot {boot}: must be a file inside the folder"
        )));
    }
    if !dir.join(rel).is_file() {
        return Err(CliError::Usage(format!(
            "--boot {boot}: no such file in {}",
            dir.display()
        )));
    }
    Ok(rel.to_owned())
}

/// The spec `text` names (code or id), checked against RS-01 with the worker count; an unknown
/// spec is refused with the valid codes.
async fn check_spec(client: &Client, text: &str, workers: i64) -> Result<i64, CliError> {
    let specs = client.resource_specs().await?.specs;
    let text = text.trim();
    let spec = specs
        .iter()
        .find(|s| s.spec_code == text || text.parse::<i64>().is_ok_and(|id| id == s.spec_id))
        .ok_or_else(|| {
            let valid: Vec<String> = specs
                .iter()
                .map(|s| format!("{} (id {})", s.spec_code, s.spec_id))
                .collect();
            CliError::Usage(format!(
                "--spec {text}: no such spec; valid specs: {}",
                valid.join(", ")
            ))
        })?;
    if workers > spec.max_num {
        return Err(CliError::Usage(format!(
            "--workers {workers}: spec {} allows at most {} workers",
            spec.spec_code, spec.max_num
        )));
    }
    Ok(spec.spec_id)
}

/// The engine id, checked against RS-02.
async fn check_engine(client: &Client, id: i64) -> Result<(), CliError> {
    let engines = client.ai_engines().await?.engines;
    if engines.iter().any(|e| e.engine_id == id) {
        return Ok(());
    }
    let valid: Vec<String> = engines
        .iter()
        .map(|e| format!("{} ({} {})", e.engine_id, e.engine_name, e.engine_version))
        .collect();
    Err(CliError::Usage(format!(
        "--engine {id}: no such engine; valid engines: {}",
        valid.join(", ")
    )))
}

/// Job names as the server takes them: 1-64 letters, digits, `-` and `_`.
fn check_name(name: &str) -> Result<(), CliError> {
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(CliError::Usage(format!(
            "--name {name}: 1-64 letters, digits, '-' or '_'"
        )));
    }
    Ok(())
}

async fn submit(client: &Client, out: Output, args: SubmitArgs) -> Result<(), CliError> {
    // Everything is checked before anything is uploaded, so a refused submit leaves nothing.
    let stored = match &args.config {
        Some(name) => Some(client.get_config(name).await?),
        None => None,
    };
    let name = match (&args.name, &args.dir, &stored) {
        (Some(n), _, _) => n.clone(),
        (None, Some(dir), _) => default_name(dir),
        (None, None, Some(c)) => default_name(Path::new(&c.config_name)),
        (None, None, None) => {
            return Err(CliError::Usage(
                "give DIR --boot FILE or --config NAME".into(),
            ))
        }
    };
    check_name(&name)?;
    let params = parameters(&args.params)?;
    let workers = args
        .workers
        .or(stored.as_ref().and_then(|c| c.worker_server_num))
        .unwrap_or(1);
    let spec_text = match (&args.spec, stored.as_ref().and_then(|c| c.spec_id)) {
        (Some(s), _) => s.clone(),
        (None, Some(id)) => id.to_string(),
        (None, None) => "1".to_owned(),
    };
    let spec_id = check_spec(client, &spec_text, workers).await?;
    let engine_id = match args.engine.or(stored.as_ref().and_then(|c| c.engine_id)) {
        Some(id) => {
            check_engine(client, id).await?;
            Some(id)
        }
        // The API's default engine is 1 (TensorFlow 1.4, python2.7 by name); the CLI runs plain
        // Python code, so it asks for the server's Python engine when there is one.
        None => client
            .ai_engines()
            .await?
            .engines
            .iter()
            .find(|e| e.engine_name == "Python")
            .map(|e| e.engine_id),
    };
    if job_named(client, &name).await?.is_some() {
        return Err(CliError::Usage(format!(
            "a job named '{name}' exists: pick another --name, or `trainyard jobs rerun {name}` for a new version"
        )));
    }
    let mut remote = args
        .remote
        .clone()
        .unwrap_or_else(|| format!("{}{name}/", CLI_CODE_PREFIX));
    if !remote.ends_with('/') {
        remote.push('/');
    }
    // The code: a local folder to upload, else what the configuration names in storage.
    let (app_url, boot_file_url, upload) = match (&args.dir, &args.boot, &stored) {
        (Some(dir), Some(boot), _) => {
            let rel = boot_path(dir, boot)?;
            let entries = trainyard_client::upload_entries(dir)?;
            (
                remote.clone(),
                format!("{remote}{rel}"),
                Some((dir.clone(), entries)),
            )
        }
        (Some(_), None, _) => return Err(CliError::Usage("DIR needs --boot FILE".into())),
        (None, _, Some(c)) => (
            c.app_url.clone().unwrap_or_default(),
            c.boot_file_url.clone().unwrap_or_default(),
            None,
        ),
        (None, _, None) => {
            return Err(CliError::Usage(
                "give DIR --boot FILE or --config NAME".into(),
            ))
        }
    };
    let mut parameter = stored
        .as_ref()
        .map(|c| c.parameter.clone())
        .unwrap_or_default();
    merge_params(&mut parameter, params);
    let req = CreateJobRequest {
        job_name: Some(name.clone()),
        job_desc: args
            .desc
            .clone()
            .or(stored.as_ref().map(|c| c.config_desc.clone())),
        config: Some(JobConfig {
            worker_server_num: Some(workers),
            // A configuration for a custom image may name no code.
            app_url: (!app_url.is_empty()).then_some(app_url),
            boot_file_url: (!boot_file_url.is_empty()).then_some(boot_file_url),
            parameter: (!parameter.is_empty()).then_some(parameter),
            // The configuration's data input, unless --data names another.
            data_url: match (&args.data, &stored) {
                (Some(d), _) => Some(d.clone()),
                (None, Some(c)) if c.dataset_id.is_some() || c.data_source.is_some() => None,
                (None, c) => Some(
                    c.as_ref()
                        .and_then(|c| c.data_url.clone())
                        .unwrap_or_else(|| "/data/".to_owned()),
                ),
            },
            dataset_id: stored
                .as_ref()
                .filter(|_| args.data.is_none())
                .and_then(|c| c.dataset_id.clone()),
            dataset_version_id: stored
                .as_ref()
                .filter(|_| args.data.is_none())
                .and_then(|c| c.dataset_version_id.clone()),
            data_source: stored
                .as_ref()
                .filter(|_| args.data.is_none())
                .and_then(|c| c.data_source.clone()),
            pool_id: stored.as_ref().and_then(|c| c.pool_id.clone()),
            user_image_url: stored.as_ref().and_then(|c| c.user_image_url.clone()),
            user_command: stored.as_ref().and_then(|c| c.user_command.clone()),
            volumes: stored.as_ref().and_then(|c| c.volumes.clone()),
            spec_id: Some(spec_id),
            engine_id,
            train_url: Some(
                args.train_url
                    .clone()
                    .or(stored.as_ref().and_then(|c| c.train_url.clone()))
                    .unwrap_or_else(|| format!("/trainyard/out/{name}/")),
            ),
            log_url: stored.as_ref().and_then(|c| c.log_url.clone()),
            model_id: stored.as_ref().and_then(|c| c.model_id),
            depends_on: args.depends_on(),
            ..Default::default()
        }),
        workspace_id: None,
        notification: args.notify.clone(),
    };
    if args.dry_run {
        if let Some((dir, entries)) = &upload {
            // Packed as the real submit packs it, and held to the limit the server holds it to.
            let packed = dir.clone();
            let archive = tokio::task::spawn_blocking(move || trainyard_client::pack_dir(&packed))
                .await
                .map_err(|e| CliError::Failed(format!("packing failed: {e}")))??;
            let limit = client.upload_limits().await?.max_upload_bytes;
            let size = archive.len() as u64;
            if size > limit {
                return Err(CliError::Failed(format!(
                    "{} packs to {size} bytes, over the server's upload limit of {limit} bytes ([storage] max_upload_bytes): leave large files out with a .trainyardignore, or put data in storage and pass --data",
                    dir.display()
                )));
            }
            let files: Vec<&UploadEntry> = entries.iter().filter(|e| !e.is_dir).collect();
            eprintln!(
                "dry run: would upload {} files ({size} bytes of {limit} allowed) from {} to {remote}:",
                files.len(),
                dir.display()
            );
            for e in files {
                eprintln!("  {}", e.path.display());
            }
        }
        eprintln!("dry run: the request is valid; nothing was uploaded or created");
        return match out {
            Output::Json => output::json(&req),
            Output::Table | Output::Wide | Output::Csv => Ok(()),
        };
    }
    if let Some((dir, _)) = &upload {
        let up = client.upload_dir(dir, &remote).await?;
        eprintln!(
            "uploaded {} ({} files, {} bytes) to {remote}",
            dir.display(),
            up.files,
            up.bytes
        );
    }
    let created = match client.create_job(&req).await {
        Ok(created) => created,
        Err(e) => {
            // The server refused after all (e.g. a quota): take the upload back.
            if upload.is_some() {
                if let Err(cleanup) = client.delete_upload(&remote).await {
                    eprintln!("warning: could not remove the upload at {remote}: {cleanup}");
                }
            }
            return Err(e.into());
        }
    };
    let version = created.version_id.ok_or_else(|| {
        CliError::Failed(format!(
            "job {} was created without a version",
            created.job_id
        ))
    })?;
    if !args.follow {
        return match out {
            Output::Json => output::json(&created),
            Output::Table | Output::Wide | Output::Csv => output::stdout(
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
    follow::follow_version(client, created.job_id, version, &name, workers).await
}

/// Sets `changes` in `params`: an existing label gets the new value, a new one is appended.
fn merge_params(params: &mut Vec<Parameter>, changes: Vec<Parameter>) {
    for c in changes {
        match params.iter_mut().find(|p| p.label == c.label) {
            Some(p) => p.value = c.value,
            None => params.push(c),
        }
    }
}

/// `jobs rerun`: a new version from the latest (or a given) one, with changes.
async fn rerun(client: &Client, out: Output, args: RerunArgs) -> Result<(), CliError> {
    let job = job_id(client, &args.job).await?;
    let base = match args.version {
        Some(v) => {
            client
                .get_version(job, version_id(client, job, v).await?)
                .await?
        }
        None => client.latest_version(job).await?,
    };
    let mut parameter = base.parameter.clone();
    merge_params(&mut parameter, parameters(&args.params)?);
    let workers = args.workers.unwrap_or(base.worker_server_num);
    let req = CreateVersionRequest {
        job_desc: args.desc.clone(),
        config: Some(JobConfig {
            worker_server_num: Some(workers),
            app_url: base.app_url.clone(),
            boot_file_url: base.boot_file_url.clone(),
            parameter: (!parameter.is_empty()).then_some(parameter),
            data_url: base.data_url.clone(),
            dataset_id: base.dataset_id.clone(),
            dataset_version_id: base.dataset_version_id.clone(),
            data_source: base.data_source.clone(),
            spec_id: base.spec_id,
            pool_id: base.pool_id.clone(),
            engine_id: base.engine_id,
            model_id: base.model_id,
            train_url: base.train_url.clone(),
            log_url: base.log_url.clone(),
            user_image_url: base.user_image_url.clone(),
            user_command: base.user_command.clone(),
            volumes: base.volumes.clone(),
            pre_version_id: Some(base.version_id),
            ..Default::default()
        }),
    };
    let created = client.create_version(job, &req).await?;
    let version = created
        .version_id
        .ok_or_else(|| CliError::Failed(format!("job {job}: no version was created")))?;
    if !args.follow {
        return match out {
            Output::Json => output::json(&created),
            Output::Table | Output::Wide | Output::Csv => output::stdout(
                format!(
                    "job {job} version {version} (from version {}): {}\n",
                    base.version_id,
                    status(created.status)
                )
                .as_bytes(),
            ),
        };
    }
    eprintln!(
        "job {job} version {version} (from version {})",
        base.version_id
    );
    let name = base
        .job_name
        .clone()
        .unwrap_or_else(|| created.job_name.clone());
    follow::follow_version(client, job, version, &name, workers).await
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

fn jobs_table(
    resp: &JobListResponse,
    v2: &[serde_json::Value],
    newest_first: bool,
    wide: bool,
) -> Table {
    let mut t = Table::new(&[
        "ID",
        "API",
        "NAME",
        "VERSION",
        "STATUS",
        "CREATED",
        "DURATION",
        "DESCRIPTION",
        "VERSIONS",
        "QUEUE",
    ])
    .extra(&["VERSIONS"])
    .status("STATUS")
    .keep(&["ID", "API", "NAME", "VERSION", "STATUS"])
    .optional(&["CREATED", "DURATION", "QUEUE"]);
    let mut rows: Vec<(i64, Vec<String>)> = resp
        .jobs
        .iter()
        .map(|j| {
            (
                j.create_time,
                vec![
                    j.job_id.to_string(),
                    "v1".to_owned(),
                    j.job_name.clone(),
                    j.version_id.map(|v| v.to_string()).unwrap_or_default(),
                    status(j.status),
                    output::time_ms(j.create_time),
                    output::duration_ms(j.duration),
                    j.job_desc.clone(),
                    j.version_count.to_string(),
                    j.queue_reason.clone().unwrap_or_default(),
                ],
            )
        })
        .collect();
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_owned();
    for j in v2 {
        let created = j["metadata"]["create_time"].as_i64().unwrap_or(0);
        let mut id = text(&j["metadata"]["id"]);
        if !wide {
            id.truncate(SHORT_V2_ID);
        }
        rows.push((
            created,
            vec![
                id,
                "v2".to_owned(),
                text(&j["metadata"]["name"]),
                String::new(),
                text(&j["status"]["phase"]).to_uppercase(),
                output::time_ms(created),
                output::duration_ms(j["status"]["duration"].as_i64().unwrap_or(0)),
                text(&j["metadata"]["description"]),
                "1".to_owned(),
                text(&j["status"]["queue_reason"]),
            ],
        ));
    }
    if newest_first {
        // Stable: equal times keep the server's order.
        rows.sort_by_key(|(created, _)| std::cmp::Reverse(*created));
    }
    for (_, row) in rows {
        t.row(row);
    }
    t
}

/// The v2 jobs `jobs list` shows beside the v1 ones, whatever the filters: `--search` keeps
/// those whose name contains it (any case), `--status` those in the phase the status maps to
/// (`trainyard_api::v2::phase`: running is Running, completed Completed, ...). Paging is done
/// on the merged list ([`page_both`]).
async fn v2_rows(client: &Client, args: &JobsListArgs) -> Result<Vec<serde_json::Value>, CliError> {
    let mut rows = client.v2_jobs().await?;
    if let Some(s) = &args.search {
        let s = s.to_lowercase();
        rows.retain(|j| {
            j["metadata"]["name"]
                .as_str()
                .is_some_and(|n| n.to_lowercase().contains(&s))
        });
    }
    if let Some(code) = args.status {
        let (phase, _) = trainyard_api::v2::phase(trainyard_api::JobStatus::from_code(code));
        rows.retain(|j| j["status"]["phase"] == phase);
    }
    Ok(rows)
}

/// The jobs of both APIs `args` select, with `--page`/`--per-page` a page of their merged
/// order (newest first by default; other sorts: the v1 jobs in the server's order, then the
/// v2 jobs). `job_total_count` stays the v1 count; the v2 count is the second value.
async fn fetch_both(
    client: &Client,
    args: &JobsListArgs,
) -> Result<(JobListResponse, Vec<serde_json::Value>, i64), CliError> {
    let v2 = v2_rows(client, args).await?;
    let v2_total = v2.len() as i64;
    if args.page.is_none() && args.per_page.is_none() {
        return Ok((fetch_jobs(client, args).await?, v2, v2_total));
    }
    let every = JobsListArgs {
        page: None,
        per_page: None,
        limit: None,
        ..args.clone()
    };
    let all = fetch_jobs(client, &every).await?;
    let newest_first = args.sort_by == "create_time" && args.order == "desc";
    let (jobs, v2) = page_both(
        all.jobs.clone(),
        v2,
        newest_first,
        args.page.unwrap_or(1),
        args.per_page.unwrap_or(10),
    );
    let mut resp = JobListResponse { jobs, ..all };
    if let Some(limit) = args.limit {
        resp.jobs.truncate(limit as usize);
    }
    Ok((resp, v2, v2_total))
}

/// Page `page` (1-based, `per_page` rows) of v1 and v2 jobs merged, split back by API.
fn page_both(
    v1: Vec<JobSummary>,
    v2: Vec<serde_json::Value>,
    newest_first: bool,
    page: i64,
    per_page: i64,
) -> (Vec<JobSummary>, Vec<serde_json::Value>) {
    let mut rows: Vec<(i64, Result<JobSummary, serde_json::Value>)> = v1
        .into_iter()
        .map(|j| (j.create_time, Ok(j)))
        .chain(
            v2.into_iter()
                .map(|j| (j["metadata"]["create_time"].as_i64().unwrap_or(0), Err(j))),
        )
        .collect();
    if newest_first {
        rows.sort_by_key(|(created, _)| std::cmp::Reverse(*created));
    }
    let skip =
        usize::try_from((page.max(1) - 1).saturating_mul(per_page.max(1))).unwrap_or(usize::MAX);
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for (_, row) in rows.into_iter().skip(skip).take(per_page.max(1) as usize) {
        match row {
            Ok(j) => a.push(j),
            Err(j) => b.push(j),
        }
    }
    (a, b)
}

/// `-o json` of `jobs list`: the v1 answer, with the v2 jobs' documents as `v2_jobs` and
/// their count as `v2_total_count`.
fn list_json(
    resp: &JobListResponse,
    v2: Vec<serde_json::Value>,
    v2_total: i64,
) -> Result<serde_json::Value, CliError> {
    let mut doc = serde_json::to_value(resp).map_err(|e| CliError::Failed(e.to_string()))?;
    doc["v2_jobs"] = serde_json::Value::Array(v2);
    doc["v2_total_count"] = v2_total.into();
    Ok(doc)
}

async fn list(client: &Client, out: Output, args: JobsListArgs) -> Result<(), CliError> {
    if !args.watch {
        let (resp, v2, v2_total) = fetch_both(client, &args).await?;
        if out == Output::Json {
            return output::json(&list_json(&resp, v2, v2_total)?);
        }
        let newest_first = args.sort_by == "create_time" && args.order == "desc";
        let total = resp.job_total_count + v2_total;
        let mut table = jobs_table(&resp, &v2, newest_first, out == Output::Wide);
        if let Some(limit) = args.limit {
            // The first `limit` rows of the merged order.
            table.truncate(limit as usize);
        }
        let shown = table.row_count() as i64;
        output::stdout(table.render().as_bytes())?;
        if shown < total && args.page.is_none() {
            eprintln!("{shown} of {total} jobs");
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
        let (resp, v2, v2_total) = tokio::select! {
            _ = interrupt.recv() => return Ok(()),
            both = fetch_both(client, &args) => both?,
        };
        let body = match out {
            Output::Json => format!("{}\n", list_json(&resp, v2, v2_total)?),
            Output::Table | Output::Wide | Output::Csv => {
                let newest_first = args.sort_by == "create_time" && args.order == "desc";
                jobs_table(&resp, &v2, newest_first, out == Output::Wide).render()
            }
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

/// The events of a run as a table: time, level, kind (or source), message.
fn print_events(rows: impl Iterator<Item = [String; 4]>) -> Result<(), CliError> {
    let mut t = Table::new(&["TIME", "LEVEL", "KIND", "MESSAGE"]).keep(&["TIME", "MESSAGE"]);
    for row in rows {
        t.row(row.to_vec());
    }
    t.print()
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
    .keep(&["VERSION", "NAME", "STATUS", "WORKERS", "SPEC"])
    .optional(&["CREATED", "DURATION"]);
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
        ("priority", v.priority.unwrap_or(1).to_string()),
        (
            "queue",
            queue_text(v.queue_reason.as_deref(), v.queue_position),
        ),
    ])
}

/// A waiting version's place in the queue, as `jobs get` shows it (empty when not waiting).
fn queue_text(reason: Option<&str>, position: Option<u64>) -> String {
    match (reason, position) {
        (Some(reason), Some(ahead)) if !reason.ends_with("ahead") => {
            format!("{reason} ({ahead} ahead)")
        }
        (Some(reason), _) => reason.to_owned(),
        (None, _) => String::new(),
    }
}

async fn logs(client: &Client, out: Output, args: LogsArgs) -> Result<(), CliError> {
    let job = job_id(client, &args.job).await?;
    let version = version_of(client, job, &args.version).await?;
    if args.list {
        let names = client.log_file_names(job, version).await?;
        return match out {
            Output::Json => output::json(&names),
            Output::Table | Output::Wide | Output::Csv => output::stdout(
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
    // The API's page (JSON, at most 500 lines) unless following or asked for more.
    let api_page = args
        .tail
        .filter(|&n| !args.follow && (out == Output::Json || n <= 500));
    if let Some(lines) = api_page {
        let mut pages = Vec::new();
        for (_, file) in &files {
            let q = LogQuery {
                log_file: file.clone(),
                lines: Some(i64::from(lines)),
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
    let tail = args.tail.map(|n| n as usize);
    follow::stream_logs(client, job, version, files, prefix, args.follow, tail).await
}
