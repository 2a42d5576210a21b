//! Writing results: JSON as the API sent it, or small aligned tables; data to stdout only.

use crate::CliError;
use serde::Serialize;
use std::io::Write;

/// Writes `bytes` to stdout; a closed pipe ends the command quietly.
pub fn stdout(bytes: &[u8]) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .map_err(CliError::from_stdout)
}

/// Prints `value` as pretty JSON.
pub fn json<T: Serialize>(value: &T) -> Result<(), CliError> {
    let mut text = serde_json::to_string_pretty(value)
        .map_err(|e| CliError::Failed(format!("encoding JSON: {e}")))?;
    text.push('\n');
    stdout(text.as_bytes())
}

/// Prints `key: value` lines.
pub fn fields(rows: &[(&str, String)]) -> Result<(), CliError> {
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let mut text = String::new();
    for (k, v) in rows {
        text.push_str(&format!("{k:<width$}  {v}\n"));
    }
    stdout(text.as_bytes())
}

/// A table with a header row; columns padded to their widest cell.
pub struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers.
    pub fn new(headers: &[&str]) -> Self {
        Self {
            rows: vec![headers.iter().map(|h| (*h).to_owned()).collect()],
        }
    }

    /// Adds a row.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Prints the table.
    pub fn print(&self) -> Result<(), CliError> {
        let cols = self.rows[0].len();
        let widths: Vec<usize> = (0..cols)
            .map(|c| {
                self.rows
                    .iter()
                    .map(|r| r.get(c).map_or(0, |s| s.chars().count()))
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut text = String::new();
        for row in &self.rows {
            let line: Vec<String> = row
                .iter()
                .zip(&widths)
                .map(|(cell, w)| format!("{cell:<w$}"))
                .collect();
            text.push_str(line.join("  ").trim_end());
            text.push('\n');
        }
        stdout(text.as_bytes())
    }
}

/// The short name of a status code (statuses-and-errors.md §1).
pub fn status_name(code: i64) -> &'static str {
    const NAMES: [&str; 23] = [
        "UNKNOWN",
        "INIT",
        "IMAGE_CREATING",
        "IMAGE_FAILED",
        "SUBMIT_TRYING",
        "SUBMIT_FAILED",
        "DELETE_FAILED",
        "WAITING",
        "RUNNING",
        "KILLING",
        "COMPLETED",
        "FAILED",
        "KILLED",
        "CANCELED",
        "LOST",
        "SCALING",
        "SUBMIT_MODEL_FAILED",
        "DEPLOY_SERVICE_FAILED",
        "CHECK_INIT",
        "CHECK_RUNNING",
        "CHECK_RUNNING_COMPLETED",
        "CHECK_FAILED",
        "MOUNT_FAILED",
    ];
    usize::try_from(code)
        .ok()
        .and_then(|i| NAMES.get(i))
        .copied()
        .unwrap_or("?")
}

/// `NAME(code)`.
pub fn status(code: i64) -> String {
    format!("{}({code})", status_name(code))
}

/// Milliseconds since the epoch as UTC `YYYY-MM-DDTHH:MM:SSZ`.
pub fn time_ms(ms: i64) -> String {
    format!(
        "{}Z",
        trainyard_api::time::utc_datetime(ms.div_euclid(1000))
    )
}

/// Milliseconds as `1h2m3s`.
pub fn duration_ms(ms: i64) -> String {
    let s = ms / 1000;
    match s {
        s if s >= 3600 => format!("{}h{}m{}s", s / 3600, s % 3600 / 60, s % 60),
        s if s >= 60 => format!("{}m{}s", s / 60, s % 60),
        s => format!("{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(time_ms(0), "1970-01-01T00:00:00Z");
        assert_eq!(time_ms(1_700_000_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(duration_ms(3_723_000), "1h2m3s");
        assert_eq!(status(10), "COMPLETED(10)");
        assert_eq!(status_name(99), "?");
    }
}
