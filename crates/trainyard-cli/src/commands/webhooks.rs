//! `trainyard webhooks deliveries`.

use crate::cli::WebhooksCommand;
use crate::global::Output;
use crate::output::{self, Table};
use crate::CliError;
use trainyard_client::Client;

/// Runs a `webhooks` subcommand.
pub async fn run(client: &Client, out: Output, cmd: WebhooksCommand) -> Result<(), CliError> {
    match cmd {
        WebhooksCommand::Deliveries { job } => {
            let job_id = match job {
                Some(j) => Some(super::jobs::job_id(client, &j).await?),
                None => None,
            };
            deliveries(client, out, job_id).await
        }
    }
}

/// One row per attempt (a delivery not tried yet has one row of its own): the delivery, its
/// state, and each attempt's time and HTTP status or error.
async fn deliveries(client: &Client, out: Output, job_id: Option<i64>) -> Result<(), CliError> {
    let resp = client.webhook_deliveries(job_id).await?;
    if out == Output::Json {
        return output::json(&resp);
    }
    let mut t = Table::new(&[
        "DELIVERY", "WEBHOOK", "EVENT", "JOB", "VERSION", "STATE", "ATTEMPT", "TIME", "RESULT",
    ])
    .keep(&["DELIVERY", "WEBHOOK", "EVENT", "STATE", "ATTEMPT", "RESULT"]);
    for d in &resp.deliveries {
        let row = |attempt: String, time: String, result: String| {
            vec![
                d.id.to_string(),
                d.webhook.clone(),
                d.event.clone(),
                d.job_id.to_string(),
                d.version_id.to_string(),
                d.state.clone(),
                attempt,
                time,
                result,
            ]
        };
        if d.attempts.is_empty() {
            t.row(row(
                "-".into(),
                output::time_ms(d.create_time),
                "not tried yet".into(),
            ));
        }
        for a in &d.attempts {
            let result = match (a.status_code, &a.error) {
                (Some(code), None) => format!("HTTP {code}"),
                (Some(code), Some(e)) => format!("HTTP {code}: {e}"),
                (None, Some(e)) => e.clone(),
                (None, None) => "-".into(),
            };
            t.row(row(a.attempt.to_string(), output::time_ms(a.time), result));
        }
    }
    t.print()
}
