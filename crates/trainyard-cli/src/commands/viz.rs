//! `trainyard viz ...` (VJ-01..VJ-07): TensorBoard servers over a job's output.

use super::follow::FOREVER;
use crate::cli::{VizCommand, VizCreateArgs};
use crate::global::Output;
use crate::output::{self, status, Table};
use crate::CliError;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use trainyard_api::training::Success;
use trainyard_api::visualization::{
    CreateVisualizationRequest, ScheduleInput, VisualizationDetails, VisualizationJob,
};
use trainyard_api::JobStatus;
use trainyard_client::query::VizListQuery;
use trainyard_client::Client;

/// Runs a `viz` command.
pub async fn run(client: &Client, out: Output, cmd: VizCommand) -> Result<ExitCode, CliError> {
    match cmd {
        VizCommand::Create(args) => create(client, out, args).await?,
        VizCommand::List {
            status,
            search,
            sort_by,
            order,
            page,
            per_page,
        } => {
            let query = VizListQuery {
                status,
                search_content: search,
                sort_by,
                order,
                page,
                per_page: Some(per_page),
                ..Default::default()
            };
            list(client, out, query).await?;
        }
        VizCommand::Get { id } => {
            let id = viz_id(client, &id).await?;
            let details = client.get_viz(id).await?;
            show(out, &details)?;
        }
        VizCommand::Open { id, browser } => {
            let id = viz_id(client, &id).await?;
            open(client, out, id, browser).await?
        }
        VizCommand::Stop { id, wait } => {
            let id = viz_id(client, &id).await?;
            let resp = client.stop_viz(id).await?;
            if wait {
                let job = watch(client, id, &[], FOREVER).await?;
                return finish(
                    out,
                    client,
                    &job,
                    format!("visualization job {id} stopped: {}", status(job.status)),
                )
                .await;
            }
            done(out, &resp, format!("stopping visualization job {id}"))?;
        }
        VizCommand::Restart { id, wait, timeout } => {
            let id = viz_id(client, &id).await?;
            let resp = client.restart_viz(id).await?;
            if wait {
                let job = wait_running(client, id, timeout).await?;
                return finish(
                    out,
                    client,
                    &job,
                    format!("visualization job {id} running: {}", status(job.status)),
                )
                .await;
            }
            done(out, &resp, format!("restarting visualization job {id}"))?;
        }
        VizCommand::Delete { id } => {
            let id = viz_id(client, &id).await?;
            let resp = client.delete_viz(id).await?;
            done(out, &resp, format!("deleted visualization job {id}"))?;
        }
        VizCommand::DescribeUpdate { id, description } => {
            let id = viz_id(client, &id).await?;
            let resp = client.update_viz_description(id, &description).await?;
            done(
                out,
                &resp,
                format!("updated the description of visualization job {id}"),
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A visualization job given by id or by name.
async fn viz_id(client: &Client, text: &str) -> Result<i64, CliError> {
    if let Ok(id) = text.trim().parse::<i64>() {
        return Ok(id);
    }
    let query = VizListQuery {
        search_content: Some(text.to_owned()),
        ..Default::default()
    };
    client
        .list_all_viz(&query)
        .await?
        .jobs
        .iter()
        .find(|j| j.job_name == text)
        .map(|j| j.job_id)
        .ok_or_else(|| {
            CliError::Failed(format!(
                "no visualization job named '{text}' (see `trainyard viz list`)"
            ))
        })
}

fn done(out: Output, resp: &Success, what: String) -> Result<(), CliError> {
    match out {
        Output::Json => output::json(resp),
        Output::Table | Output::Wide | Output::Csv => {
            output::stdout(format!("{what}\n").as_bytes())
        }
    }
}

/// After a wait: JSON prints the job's details (VJ-03), a table the summary line.
async fn finish(
    out: Output,
    client: &Client,
    job: &VisualizationJob,
    line: String,
) -> Result<ExitCode, CliError> {
    match out {
        Output::Json => output::json(&client.get_viz(job.job_id).await?)?,
        Output::Table | Output::Wide | Output::Csv => {
            output::stdout(format!("{line}\n").as_bytes())?
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A default name: `tb-` and the time in ms (fits the 20-character limit, unique enough).
fn default_name() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    format!("tb-{ms}")
}

/// The visualization job creation body (VJ-01) that `create` sends.
fn create_request(args: &VizCreateArgs) -> CreateVisualizationRequest {
    let schedule = match (args.auto_stop_hours, args.auto_stop_minutes) {
        (Some(h), _) => vec![ScheduleInput::stop_after("HOURS", h)],
        (None, Some(m)) => vec![ScheduleInput::stop_after("MINUTES", m)],
        (None, None) => Vec::new(),
    };
    CreateVisualizationRequest {
        job_name: Some(args.name.clone().unwrap_or_else(default_name)),
        job_desc: args.desc.clone(),
        train_url: Some(args.train_url.clone()),
        job_type: args.job_type.clone(),
        flavor: None,
        schedule,
    }
}

async fn create(client: &Client, out: Output, args: VizCreateArgs) -> Result<(), CliError> {
    let created = client.create_viz(&create_request(&args)).await?;
    let id = created.job_id;
    if !args.wait {
        return match out {
            Output::Json => output::json(&created),
            Output::Table | Output::Wide | Output::Csv => output::stdout(
                format!(
                    "created visualization job {id} ({}): {}\n{}\n",
                    created.job_name,
                    status(created.status),
                    created.service_url
                )
                .as_bytes(),
            ),
        };
    }
    eprintln!("created visualization job {id} ({})", created.job_name);
    let job = wait_running(client, id, args.timeout).await?;
    match out {
        Output::Json => output::json(&client.get_viz(id).await?),
        Output::Table | Output::Wide | Output::Csv => output::stdout(
            format!(
                "visualization job {id} ({}) running\n{}\n",
                job.job_name, job.service_url
            )
            .as_bytes(),
        ),
    }
}

/// Waits for 8 RUNNING; a job that ends instead (or a timeout) fails the command.
async fn wait_running(
    client: &Client,
    id: i64,
    timeout: Option<u64>,
) -> Result<VisualizationJob, CliError> {
    let job = watch(
        client,
        id,
        &[JobStatus::RUNNING],
        timeout.map_or(FOREVER, Duration::from_secs),
    )
    .await?;
    if job.status != JobStatus::RUNNING.code() {
        return Err(CliError::Failed(format!(
            "visualization job {id} ended {} instead of running (its server's output is in runs/viz-{id}/server.log of the server's data directory)",
            status(job.status)
        )));
    }
    Ok(job)
}

/// `wait_viz` printing one line per status change to stderr (with the elapsed time on a
/// terminal).
async fn watch(
    client: &Client,
    id: i64,
    wanted: &[JobStatus],
    timeout: Duration,
) -> Result<VisualizationJob, CliError> {
    let tty = std::io::stderr().is_terminal();
    let start = Instant::now();
    let job = client
        .wait_viz(id, wanted, timeout, |j| {
            if tty {
                eprintln!(
                    "[{:>6.1}s] visualization job {id}: {}",
                    start.elapsed().as_secs_f64(),
                    status(j.status)
                );
            } else {
                eprintln!("visualization job {id}: {}", status(j.status));
            }
        })
        .await?;
    Ok(job)
}

async fn list(client: &Client, out: Output, query: VizListQuery) -> Result<(), CliError> {
    let resp = if query.page.is_some() {
        client.list_viz(&query).await?
    } else {
        client.list_all_viz(&query).await?
    };
    if out == Output::Json {
        return output::json(&resp);
    }
    let mut t = Table::new(&[
        "ID",
        "NAME",
        "STATUS",
        "TYPE",
        "CREATED",
        "DURATION",
        "AUTO-STOP",
        "TRAIN_URL",
        "DESCRIPTION",
    ])
    .status("STATUS")
    .keep(&["ID", "NAME", "STATUS"])
    .optional(&["CREATED", "DURATION"])
    .extra(&["TYPE", "AUTO-STOP"]);
    for j in &resp.jobs {
        t.row(vec![
            j.job_id.to_string(),
            j.job_name.clone(),
            status(j.status),
            j.job_type.clone(),
            output::time_ms(j.create_time),
            output::duration_ms(j.duration),
            auto_stop(j),
            j.train_url.clone(),
            j.job_desc.clone(),
        ]);
    }
    t.print()
}

/// `in 59m58s` while an auto-stop deadline runs, `after 1 HOURS` otherwise, `-` without one.
fn auto_stop(j: &VisualizationJob) -> String {
    match (
        j.remaining_duration,
        j.schedule.iter().find(|s| s.duration > 0),
    ) {
        (Some(ms), _) => format!("in {}", output::duration_ms(ms)),
        (None, Some(s)) => format!("after {} {}", s.duration, s.time_unit),
        (None, None) => "-".into(),
    }
}

/// `service_url` without its access secret (for tables; `open` prints the whole URL).
fn public_url(service_url: &str) -> &str {
    service_url
        .split_once('?')
        .map_or(service_url, |(base, _)| base)
}

fn show(out: Output, d: &VisualizationDetails) -> Result<(), CliError> {
    if out == Output::Json {
        return output::json(d);
    }
    let j = &d.job;
    output::fields(&[
        ("id", j.job_id.to_string()),
        ("name", j.job_name.clone()),
        ("status", status(j.status)),
        ("type", j.job_type.clone()),
        ("train_url", j.train_url.clone()),
        (
            "url",
            format!(
                "{} (with its secret: trainyard viz open {})",
                public_url(&j.service_url),
                j.job_id
            ),
        ),
        ("description", j.job_desc.clone()),
        ("flavor", j.flavor.code.clone().unwrap_or_default()),
        ("auto-stop", auto_stop(j)),
        ("created", output::time_ms(j.create_time)),
        ("duration", output::duration_ms(j.duration)),
        ("resource_id", j.resource_id.clone()),
    ])
}

async fn open(client: &Client, out: Output, id: i64, browser: bool) -> Result<(), CliError> {
    let details = client.get_viz(id).await?;
    let job = &details.job;
    let s = JobStatus::from_code(job.status);
    if s.is_terminal() {
        eprintln!("note: visualization job {id} is {}; the URL answers 503 until `trainyard viz restart {id}`", status(job.status));
    } else if s != JobStatus::RUNNING {
        eprintln!(
            "note: visualization job {id} is {}; the URL answers 503 until it runs",
            status(job.status)
        );
    }
    match out {
        Output::Json => output::json(&details)?,
        Output::Table | Output::Wide | Output::Csv => {
            output::stdout(format!("{}\n", job.service_url).as_bytes())?
        }
    }
    let env_browser = std::env::var("BROWSER")
        .ok()
        .filter(|b| !b.trim().is_empty());
    if std::io::stdout().is_terminal() && (browser || env_browser.is_some()) {
        launch(env_browser.as_deref(), &job.service_url)?;
    }
    Ok(())
}

/// The command line that opens `url`: the first entry of `$BROWSER` (colon-separated, `%s`
/// replaced by the URL, else the URL appended), else the platform's opener.
fn browser_command(env_browser: Option<&str>, url: &str) -> Vec<String> {
    let entry = env_browser.and_then(|b| b.split(':').map(str::trim).find(|e| !e.is_empty()));
    let Some(entry) = entry else {
        let opener = if cfg!(target_os = "macos") {
            "open"
        } else {
            "xdg-open"
        };
        return vec![opener.into(), url.into()];
    };
    let mut argv: Vec<String> = entry
        .split_whitespace()
        .map(|w| w.replace("%s", url))
        .collect();
    if !entry.contains("%s") {
        argv.push(url.into());
    }
    argv
}

/// Starts the browser without waiting for it (it may run as long as the user keeps it open).
fn launch(env_browser: Option<&str>, url: &str) -> Result<(), CliError> {
    let argv = browser_command(env_browser, url);
    eprintln!("opening in {}", argv[0]);
    tokio::process::Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map(drop)
        .map_err(|e| CliError::Failed(format!("cannot start the browser {}: {e}", argv[0])))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browser_commands() {
        let url = "http://h/modelarts2/tensorboard/p/1/?trainyard_secret=s";
        assert_eq!(browser_command(Some("firefox"), url), ["firefox", url]);
        assert_eq!(
            browser_command(Some("w3m -o x=1 %s:lynx"), url),
            ["w3m", "-o", "x=1", url]
        );
        assert_eq!(browser_command(Some(" : "), url)[1], url);
        assert_eq!(browser_command(None, url)[1], url);
    }

    #[test]
    fn public_url_drops_the_secret() {
        assert_eq!(
            public_url("http://h/modelarts2/tensorboard/p/1/?trainyard_secret=s"),
            "http://h/modelarts2/tensorboard/p/1/"
        );
        assert_eq!(public_url("http://h/x/"), "http://h/x/");
    }

    #[test]
    fn create_request_schedules() {
        use clap::Parser;
        #[derive(Parser)]
        struct T {
            #[command(flatten)]
            a: VizCreateArgs,
        }
        let t = T::parse_from([
            "t",
            "--train-url",
            "/o/",
            "--auto-stop-minutes",
            "5",
            "--name",
            "n",
        ]);
        let r = create_request(&t.a);
        assert_eq!(r.schedule, vec![ScheduleInput::stop_after("MINUTES", 5)]);
        assert_eq!(
            (r.job_name.as_deref(), r.train_url.as_deref()),
            (Some("n"), Some("/o/"))
        );
        let t = T::parse_from(["t", "--train-url", "/o/", "--auto-stop-hours", "2"]);
        let r = create_request(&t.a);
        assert_eq!(r.schedule, vec![ScheduleInput::stop_after("HOURS", 2)]);
        assert!(r.job_name.unwrap().len() <= 20);
        assert!(T::try_parse_from([
            "t",
            "--train-url",
            "/o/",
            "--auto-stop-hours",
            "1",
            "--auto-stop-minutes",
            "1"
        ])
        .is_err());
        assert!(T::try_parse_from(["t", "--train-url", "/o/", "--timeout", "1"]).is_err());
    }
}
