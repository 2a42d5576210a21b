//! Writing results: JSON as the API sent it, or tables sized to the terminal; data to stdout
//! only. How things look (colour, local or UTC times, width, `-o wide`) is decided once per
//! command from the global flags and the environment ([`init`]).

use crate::global::{Color as ColorChoice, Global, Output};
use crate::CliError;
use comfy_table::{Cell, CellAlignment, Color, ContentArrangement};
use serde::Serialize;
use std::io::{IsTerminal, Write};
use std::sync::OnceLock;
use trainyard_api::JobStatus;

/// How output looks; decided once at start by [`init`] and read-only afterwards.
#[derive(Clone, Copy, Debug, Default)]
pub struct Style {
    /// ANSI colours on stdout.
    pub color: bool,
    /// ANSI colours on stderr (progress lines).
    pub color_err: bool,
    /// Times in UTC (RFC 3339 with `Z`) instead of the local time zone.
    pub utc: bool,
    /// `-o wide`: every column, nothing truncated.
    pub wide: bool,
    /// Width tables must fit in (columns); none = unlimited.
    pub width: Option<u16>,
}

static STYLE: OnceLock<Style> = OnceLock::new();

/// Narrowest a shrinkable column gets (three characters and the ellipsis).
const MIN_WIDTH: usize = 4;

/// Whether colour is on for a stream: `always`/`never` as told; `auto` on a terminal unless
/// `NO_COLOR` is set to anything non-empty (no-color.org).
fn colour_for(choice: ColorChoice, terminal: bool) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
    }
}

/// The width tables get: the terminal's when stdout is one, else `$COLUMNS` when set (so
/// `COLUMNS=80 trainyard jobs list | less` fits too), else unlimited.
fn table_width() -> Option<u16> {
    let from_env = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<u16>().ok())
        .filter(|w| *w > 0);
    if std::io::stdout().is_terminal() {
        let probe = comfy_table::Table::new();
        probe.width().or(from_env)
    } else {
        from_env
    }
}

/// Decides the style from the global flags (call once, before any output).
pub fn init(g: &Global) {
    let wide = g.output == Output::Wide;
    let _ = STYLE.set(Style {
        color: colour_for(g.color, std::io::stdout().is_terminal()),
        color_err: colour_for(g.color, std::io::stderr().is_terminal()),
        utc: g.utc,
        wide,
        width: if wide { None } else { table_width() },
    });
}

/// The style in force (plain defaults when [`init`] was not called).
pub fn style() -> Style {
    STYLE.get().copied().unwrap_or_default()
}

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
        let v = if *k == "status" {
            paint(v, style().color)
        } else {
            v.clone()
        };
        text.push_str(&format!("{k:<width$}  {v}\n"));
    }
    stdout(text.as_bytes())
}

/// A table with a header row, fitted to the terminal width: columns shrink, and a cell that
/// no longer fits is cut with `…` on one line (never wrapped, so never split mid-word across
/// lines). Columns marked with [`Table::extra`] show only with `-o wide`.
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
    extra: Vec<usize>,
    status: Option<usize>,
    keep: Vec<usize>,
    optional: Vec<usize>,
}

impl Table {
    /// A table with these column headers.
    pub fn new(headers: &[&str]) -> Self {
        Self {
            headers: headers.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
            extra: Vec::new(),
            status: None,
            keep: Vec::new(),
            optional: Vec::new(),
        }
    }

    /// Marks the columns named `headers` as shown only with `-o wide`.
    pub fn extra(mut self, headers: &[&str]) -> Self {
        self.extra = self.indexes(headers);
        self
    }

    /// Marks the column named `header` as holding statuses (`NAME(code)`), coloured.
    pub fn status(mut self, header: &str) -> Self {
        self.status = self.indexes(&[header]).first().copied();
        self
    }

    /// Marks columns that must never shrink: identifiers (ids, names, spec codes) and statuses.
    pub fn keep(mut self, headers: &[&str]) -> Self {
        self.keep = self.indexes(headers);
        self
    }

    /// Marks columns shown whole or not at all (times, durations): when the kept columns
    /// would not fit beside them, they are left out, in the order given, before anything
    /// kept is cut. Identifiers (ids, names, spec codes) are [`Table::keep`] columns, so a
    /// narrow terminal loses the dates, never part of a name.
    pub fn optional(mut self, headers: &[&str]) -> Self {
        self.optional = self.indexes(headers);
        self
    }

    fn indexes(&self, headers: &[&str]) -> Vec<usize> {
        headers
            .iter()
            .filter_map(|h| self.headers.iter().position(|x| x == h))
            .collect()
    }

    /// Adds a row (one cell per header, extra columns included).
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Keeps the first `n` rows.
    pub fn truncate(&mut self, n: usize) {
        self.rows.truncate(n);
    }

    /// Number of rows.
    pub fn row_count(&self) -> usize {
        self.rows.len()
    }

    /// The table as text (no trailing spaces), as [`Table::print`] writes it.
    pub fn render(&self) -> String {
        self.render_with(style())
    }

    /// Widest cell of column `c`, its header included.
    fn content_width(&self, c: usize) -> usize {
        self.rows
            .iter()
            .map(|r| r.get(c).map_or(0, |s| s.chars().count()))
            .chain([self.headers[c].chars().count()])
            .max()
            .unwrap_or(0)
    }

    /// The columns shown: every one with `-o wide`; else without the extra ones, and without
    /// as many optional ones (in their order) as it takes for the whole columns to fit.
    fn shown(&self, st: Style) -> Vec<usize> {
        let mut shown: Vec<usize> = (0..self.headers.len())
            .filter(|c| st.wide || !self.extra.contains(c))
            .collect();
        let Some(width) = st.width.filter(|_| !st.wide) else {
            return shown;
        };
        let whole = |c: &usize| self.keep.contains(c) || self.optional.contains(c);
        for drop in &self.optional {
            let needed: usize = shown
                .iter()
                .map(|c| {
                    2 + if whole(c) {
                        self.content_width(*c)
                    } else {
                        MIN_WIDTH
                    }
                })
                .sum();
            if needed <= width as usize {
                break;
            }
            shown.retain(|c| c != drop);
        }
        shown
    }

    fn render_with(&self, st: Style) -> String {
        let shown = self.shown(st);
        let keep: Vec<usize> = self.keep.iter().chain(&self.optional).copied().collect();
        let mut t = comfy_table::Table::new();
        t.load_style(comfy_table::presets::NOTHING);
        t.force_no_tty();
        if st.color {
            t.enforce_styling();
        }
        t.set_truncation_indicator("…");
        match st.width {
            Some(w) => {
                t.set_width(w);
                t.set_content_arrangement(ContentArrangement::Dynamic);
            }
            None => {
                t.set_content_arrangement(ContentArrangement::Disabled);
            }
        }
        let mut header = comfy_table::Row::from(
            shown
                .iter()
                .map(|&c| Cell::new(&self.headers[c]))
                .collect::<Vec<_>>(),
        );
        header.max_height(1);
        t.set_header(header);
        for row in &self.rows {
            let cells: Vec<Cell> = shown
                .iter()
                .map(|&c| {
                    let text = row.get(c).cloned().unwrap_or_default();
                    let cell = Cell::new(&text).set_alignment(CellAlignment::Left);
                    match (self.status == Some(c), st.color) {
                        (true, true) => match status_colour(&text) {
                            Some(colour) => cell.fg(colour),
                            None => cell,
                        },
                        _ => cell,
                    }
                })
                .collect();
            t.add_row(cells);
        }
        for r in t.row_iter_mut() {
            r.max_height(1);
        }
        if st.width.is_some() {
            // Kept and optional columns as wide as their content; the others share what is
            // left, each at least MIN_WIDTH (comfy-table cuts them with the ellipsis).
            let constraints: Vec<comfy_table::ColumnConstraint> = shown
                .iter()
                .map(|c| {
                    if keep.contains(c) {
                        comfy_table::ColumnConstraint::ContentWidth
                    } else {
                        comfy_table::ColumnConstraint::LowerBoundary(comfy_table::Width::Fixed(
                            (MIN_WIDTH + 2) as u16,
                        ))
                    }
                })
                .collect();
            t.set_constraints(constraints);
        }
        let mut text = String::new();
        for line in t.lines() {
            let line = line.trim_end();
            text.push_str(line.strip_prefix(' ').unwrap_or(line));
            text.push('\n');
        }
        text
    }

    /// Prints the table.
    pub fn print(&self) -> Result<(), CliError> {
        stdout(self.render().as_bytes())
    }
}

/// The colour of a status text (`RUNNING(8)` or `RUNNING`).
fn status_colour(text: &str) -> Option<Color> {
    let name = text.split('(').next().unwrap_or(text);
    let code = JobStatus::parse(name)?;
    Some(match code {
        JobStatus::COMPLETED => Color::Green,
        c if c.is_running() => Color::Cyan,
        c if c.is_pending() => Color::Blue,
        JobStatus::KILLING | JobStatus::KILLED | JobStatus::CANCELED => Color::Yellow,
        JobStatus::UNKNOWN => return None,
        _ => Color::Red,
    })
}

/// `text` in its status colour when `on` (ANSI SGR), else unchanged.
pub fn paint(text: &str, on: bool) -> String {
    let code = match status_colour(text) {
        Some(Color::Green) => "32",
        Some(Color::Cyan) => "36",
        Some(Color::Blue) => "34",
        Some(Color::Yellow) => "33",
        Some(Color::Red) => "31",
        _ => return text.to_owned(),
    };
    if on {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_owned()
    }
}

/// The short name of a status code (the table is in `docs/api.md`).
pub fn status_name(code: i64) -> &'static str {
    JobStatus::from_code(code).name()
}

/// `NAME(code)`.
pub fn status(code: i64) -> String {
    format!("{}({code})", status_name(code))
}

/// Milliseconds since the epoch as a time: local `YYYY-MM-DD HH:MM:SS` (the system time zone,
/// `TZ` honoured), or with `--utc` RFC 3339 `YYYY-MM-DDTHH:MM:SSZ`.
pub fn time_ms(ms: i64) -> String {
    format_time(ms, style().utc)
}

fn format_time(ms: i64, utc: bool) -> String {
    let Ok(ts) = jiff::Timestamp::from_millisecond(ms) else {
        return ms.to_string();
    };
    if utc {
        ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
    } else {
        ts.to_zoned_datetime(jiff::tz::TimeZone::system())
            .strftime("%Y-%m-%d %H:%M:%S")
            .to_string()
    }
}

/// Milliseconds as `1h2m3s` (whole seconds; jiff's compact friendly format).
pub fn duration_ms(ms: i64) -> String {
    use jiff::fmt::friendly::{Designator, Spacing, SpanPrinter};
    const PRINTER: SpanPrinter = SpanPrinter::new()
        .designator(Designator::Compact)
        .spacing(Spacing::None);
    PRINTER.duration_to_string(&jiff::SignedDuration::from_secs(ms / 1000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_fit_without_wrapping() {
        let mut t = Table::new(&[
            "ID",
            "NAME",
            "VERSION",
            "STATUS",
            "CREATED",
            "DURATION",
            "DESCRIPTION",
        ])
        .status("STATUS")
        .keep(&["ID", "NAME", "VERSION", "STATUS"])
        .optional(&["CREATED", "DURATION"]);
        let name = "a-rather-long-job-name-for-a-sweep-over-lr";
        t.row(vec![
            "4".into(),
            name.into(),
            "4".into(),
            "COMPLETED(10)".into(),
            "2026-11-25 21:35:31".into(),
            "0s".into(),
            "a description long enough that it cannot fit".into(),
        ]);
        let text = t.render_with(Style {
            width: Some(80),
            ..Style::default()
        });
        for line in text.lines() {
            assert!(line.chars().count() <= 80, "{text}");
        }
        assert_eq!(text.lines().count(), 2, "{text}");
        // The name whole; the times left out before it, the description cut.
        assert!(
            text.contains(name) && text.contains("COMPLETED(10)"),
            "{text}"
        );
        assert!(!text.contains("CREATED") && text.contains('…'), "{text}");
        // Where they fit, the times stay.
        let wide = t.render_with(Style {
            width: Some(120),
            ..Style::default()
        });
        assert!(wide.contains("2026-11-25 21:35:31"), "{wide}");
    }

    #[test]
    fn times() {
        assert_eq!(format_time(0, true), "1970-01-01T00:00:00Z");
        assert_eq!(format_time(1_700_000_000_000, true), "2023-11-14T22:13:20Z");
        assert_eq!(duration_ms(3_723_000), "1h2m3s");
        assert_eq!(duration_ms(61_999), "1m1s");
        assert_eq!(duration_ms(0), "0s");
        assert_eq!(status(10), "COMPLETED(10)");
        assert_eq!(status_name(99), "?");
        assert_eq!(paint("FAILED(11)", true), "\x1b[31mFAILED(11)\x1b[0m");
        assert_eq!(paint("FAILED(11)", false), "FAILED(11)");
    }
}
