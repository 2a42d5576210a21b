//! `trainyard sweep create|list|get|stop|delete`.

use crate::cli::SweepCommand;
use crate::global::Output;
use crate::output::{self, Table};
use crate::CliError;
use std::io::Read;
use trainyard_api::sweeps::{CreateSweepRequest, SweepInfo, SweepRun};
use trainyard_api::JobStatus;
use trainyard_client::Client;

/// Runs a `sweep` subcommand.
pub async fn run(client: &Client, out: Output, cmd: SweepCommand) -> Result<(), CliError> {
    match cmd {
        SweepCommand::Create { file } => {
            let text = if file.as_os_str() == "-" {
                let mut text = String::new();
                std::io::stdin()
                    .read_to_string(&mut text)
                    .map_err(|e| CliError::Failed(format!("reading standard input: {e}")))?;
                text
            } else {
                std::fs::read_to_string(&file)
                    .map_err(|e| CliError::Usage(format!("{}: {e}", file.display())))?
            };
            let req: CreateSweepRequest = serde_json::from_str(&text)
                .map_err(|e| CliError::Usage(format!("{}: {e}", file.display())))?;
            let resp = client.create_sweep(&req).await?;
            show(out, &resp.sweep, &resp)
        }
        SweepCommand::List => {
            let resp = client.list_sweeps().await?;
            if out == Output::Json {
                return output::json(&resp);
            }
            let mut t = Table::new(&[
                "ID",
                "NAME",
                "RUNS",
                "CONCURRENCY",
                "QUEUED",
                "RUNNING",
                "COMPLETED",
                "FAILED",
                "STOPPED",
                "BEST",
            ])
            .keep(&["ID", "NAME", "RUNS", "RUNNING", "COMPLETED"]);
            for s in &resp.sweeps {
                let p = s.progress;
                t.row(vec![
                    s.sweep_id.to_string(),
                    s.sweep_name.clone(),
                    s.run_count.to_string(),
                    s.concurrency.to_string(),
                    p.queued.to_string(),
                    p.running.to_string(),
                    p.completed.to_string(),
                    p.failed.to_string(),
                    p.stopped.to_string(),
                    best(s),
                ]);
            }
            t.print()
        }
        SweepCommand::Get { sweep } => {
            let resp = client.get_sweep(sweep).await?;
            show(out, &resp.sweep, &resp)
        }
        SweepCommand::Stop { sweep } => {
            let resp = client.stop_sweep(sweep).await?;
            if out == Output::Json {
                return output::json(&resp);
            }
            eprintln!("sweep {sweep}: every run not ended is being stopped");
            show(out, &resp.sweep, &resp)
        }
        SweepCommand::Delete { sweep } => {
            let resp = client.delete_sweep(sweep).await?;
            if out == Output::Json {
                return output::json(&resp);
            }
            eprintln!("sweep {sweep} deleted");
            Ok(())
        }
    }
}

/// The best run as a cell: its job name and metric, or `-`.
fn best(s: &SweepInfo) -> String {
    match (&s.best, &s.objective) {
        (Some(b), Some(o)) => format!(
            "{} ({} {})",
            b.job_name,
            o.metric.as_deref().unwrap_or("metric"),
            b.metric.map_or("-".to_owned(), |m| m.to_string())
        ),
        _ => "-".to_owned(),
    }
}

fn params(r: &SweepRun) -> String {
    r.parameters
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A sweep's fields, then one row per run.
fn show(out: Output, s: &SweepInfo, json: &impl serde::Serialize) -> Result<(), CliError> {
    if out == Output::Json {
        return output::json(json);
    }
    let p = s.progress;
    output::fields(&[
        ("sweep_id", s.sweep_id.to_string()),
        ("name", s.sweep_name.clone()),
        ("runs", s.run_count.to_string()),
        ("concurrency", s.concurrency.to_string()),
        (
            "progress",
            format!(
                "{} queued, {} running, {} completed, {} failed, {} stopped",
                p.queued, p.running, p.completed, p.failed, p.stopped
            ),
        ),
        ("best", best(s)),
    ])?;
    let mut t = Table::new(&["RUN", "JOB", "VERSION", "STATUS", "PARAMETERS", "METRIC"]).keep(&[
        "RUN",
        "JOB",
        "STATUS",
        "PARAMETERS",
    ]);
    for r in s.runs.iter().flatten() {
        t.row(vec![
            r.index.to_string(),
            r.job_name.clone(),
            r.version_id.to_string(),
            JobStatus::from_code(r.status).name().to_owned(),
            params(r),
            r.metric.map_or("-".to_owned(), |m| m.to_string()),
        ]);
    }
    t.print()
}
