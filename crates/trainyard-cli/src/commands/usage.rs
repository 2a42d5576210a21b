//! `trainyard usage`: what the project's runs used in a time window.

use crate::cli::{UsageArgs, UsageByArg};
use crate::global::Output;
use crate::output::{self, Table};
use crate::CliError;
use trainyard_api::usage::{UsageBy, UsageResponse, UsageRow};
use trainyard_client::Client;

/// The outcomes with a column of their own, in order.
const OUTCOMES: [&str; 6] = [
    "completed",
    "failed",
    "stopped",
    "lost",
    "retried",
    "preempted",
];

/// Prints the usage of the window `args` names.
pub async fn run(client: &Client, out: Output, args: UsageArgs) -> Result<(), CliError> {
    let now = jiff::Timestamp::now();
    let since = instant(&args.since, now)?;
    let until = args.until.as_deref().map(|u| instant(u, now)).transpose()?;
    let by = match args.by {
        UsageByArg::Project => UsageBy::Project,
        UsageByArg::User => UsageBy::User,
        UsageByArg::Job => UsageBy::Job,
    };
    let resp = client.usage(since, until, by).await?;
    match out {
        Output::Json => output::json(&resp),
        Output::Csv => output::stdout(csv(&resp).as_bytes()),
        Output::Table | Output::Wide => table(&resp).print(),
    }
}

/// A time given as a date, an RFC 3339 time, or a span back from `now` (`24h`, `7d`,
/// `1h30m`), in ms since the epoch.
pub fn instant(text: &str, now: jiff::Timestamp) -> Result<i64, CliError> {
    let text = text.trim();
    if let Ok(ts) = text.parse::<jiff::Timestamp>() {
        return Ok(ts.as_millisecond());
    }
    if let Ok(date) = text.parse::<jiff::civil::Date>() {
        let ts = date
            .to_zoned_datetime(jiff::tz::TimeZone::UTC)
            .map_err(|e| CliError::Usage(format!("{text}: {e}")))?
            .timestamp();
        return Ok(ts.as_millisecond());
    }
    if let Ok(span) = text.parse::<jiff::Span>() {
        // Days are 24 hours here, as `7d` means on the command line.
        let ago = span
            .to_duration(jiff::SpanRelativeTo::days_are_24_hours())
            .map_err(|e| CliError::Usage(format!("{text}: {e}")))?
            .abs();
        return Ok(now.as_millisecond() - i64::try_from(ago.as_millis()).unwrap_or(i64::MAX));
    }
    Err(CliError::Usage(format!(
        "{text} is neither a time (2026-12-01, 2026-12-01T08:00:00Z) nor a duration (24h, 7d)"
    )))
}

fn key_header(by: UsageBy) -> &'static str {
    match by {
        UsageBy::Project => "PROJECT",
        UsageBy::User => "USER",
        UsageBy::Job => "JOB_ID",
    }
}

fn outcome(row: &UsageRow, name: &str) -> i64 {
    row.runs_by_outcome.get(name).copied().unwrap_or(0)
}

fn table(resp: &UsageResponse) -> Table {
    let mut headers = vec![key_header(resp.by)];
    if resp.by == UsageBy::Job {
        headers.push("JOB");
    }
    headers.extend([
        "RUNS",
        "COMPLETED",
        "FAILED",
        "STOPPED",
        "CORE_H",
        "GPU_H",
        "MEM_GB_H",
        "WAIT_H",
    ]);
    let mut t = Table::new(&headers);
    let hours = |s: f64| format!("{:.3}", s / 3600.0);
    let rows = resp.rows.iter().chain(std::iter::once(&resp.total));
    for r in rows.filter(|_| !resp.rows.is_empty()) {
        let mut cells = vec![r.key.clone()];
        if resp.by == UsageBy::Job {
            cells.push(r.name.clone());
        }
        cells.extend([
            r.runs.to_string(),
            outcome(r, "completed").to_string(),
            outcome(r, "failed").to_string(),
            outcome(r, "stopped").to_string(),
            hours(r.core_seconds),
            hours(r.gpu_seconds),
            hours(r.memory_gb_seconds),
            hours(r.wait_seconds),
        ]);
        t.row(cells);
    }
    t
}

/// One CSV field, quoted when it holds a comma, a quote or a line break.
fn field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

/// The rows (not the total) as CSV with a header line; seconds as in the API.
fn csv(resp: &UsageResponse) -> String {
    let mut out = String::from("key,name,runs");
    for o in OUTCOMES {
        out.push(',');
        out.push_str(o);
    }
    out.push_str(",run_seconds,core_seconds,gpu_seconds,memory_gb_seconds,wait_seconds\n");
    for r in &resp.rows {
        let mut cells = vec![field(&r.key), field(&r.name), r.runs.to_string()];
        cells.extend(OUTCOMES.iter().map(|o| outcome(r, o).to_string()));
        cells.extend(
            [
                r.run_seconds,
                r.core_seconds,
                r.gpu_seconds,
                r.memory_gb_seconds,
                r.wait_seconds,
            ]
            .map(|s| format!("{s:.3}")),
        );
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_dates_and_spans_back_from_now() {
        let now: jiff::Timestamp = "2026-12-07T12:00:00Z".parse().unwrap();
        let ms = |t: &str| t.parse::<jiff::Timestamp>().unwrap().as_millisecond();
        assert_eq!(instant("24h", now).unwrap(), ms("2026-12-06T12:00:00Z"));
        assert_eq!(instant("7d", now).unwrap(), ms("2026-11-30T12:00:00Z"));
        assert_eq!(instant("1h30m", now).unwrap(), ms("2026-12-07T10:30:00Z"));
        assert_eq!(
            instant("2026-12-01", now).unwrap(),
            ms("2026-12-01T00:00:00Z")
        );
        assert_eq!(
            instant("2026-12-01T08:00:00Z", now).unwrap(),
            ms("2026-12-01T08:00:00Z")
        );
        assert!(instant("last tuesday", now).is_err());
    }

    #[test]
    fn csv_quotes_what_needs_it() {
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }
}
