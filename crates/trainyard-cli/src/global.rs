//! The settings every client command shares (`--server`, `--output`, ...): flattened into the
//! command line by `cli`, read by `profile`, `output` and the shell completer.

use clap::{Args, ValueEnum};

/// Settings every client command shares.
#[derive(Args, Clone, Debug)]
pub struct Global {
    /// Server base URL [default: http://127.0.0.1:8600].
    #[arg(
        help_heading = "Global options",
        long,
        short = 's',
        global = true,
        env = "TRAINYARD_SERVER"
    )]
    pub server: Option<String>,
    /// Project id.
    #[arg(
        help_heading = "Global options",
        long,
        short = 'p',
        global = true,
        env = "TRAINYARD_PROJECT"
    )]
    pub project: Option<String>,
    /// Project token (X-Auth-Token).
    #[arg(
        help_heading = "Global options",
        long,
        global = true,
        env = "TRAINYARD_TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,
    /// Profile to read missing settings from.
    #[arg(
        help_heading = "Global options",
        long,
        global = true,
        env = "TRAINYARD_PROFILE"
    )]
    pub profile: Option<String>,
    /// Output format: table for people, json prints the API objects unchanged.
    #[arg(help_heading = "Global options", long, short = 'o', global = true, value_enum, default_value_t = Output::Table)]
    pub output: Output,
    /// Colours: auto = on a terminal unless NO_COLOR is set.
    #[arg(help_heading = "Global options", long, global = true, value_enum, default_value_t = Color::Auto)]
    pub color: Color,
    /// Times in UTC (RFC 3339) instead of the local time zone.
    #[arg(help_heading = "Global options", long, global = true)]
    pub utc: bool,
    /// More log output on stderr (-v, -vv).
    #[arg(help_heading = "Global options", long, short = 'v', global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Log lines on stderr as text, or as JSON objects (one per line) for log collectors.
    #[arg(help_heading = "Global options", long, global = true, value_enum, env = "TRAINYARD_LOG_FORMAT", default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// `--log-format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines (coloured only on a terminal).
    Text,
    /// One JSON object per line: timestamp, level, fields, message and the request span.
    Json,
}

/// `-o`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Aligned columns fitted to the terminal (long cells cut with …).
    Table,
    /// Every column, nothing cut.
    Wide,
    /// The API's JSON objects, one document per command.
    Json,
}

/// `--color`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Color {
    /// Only on a terminal.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}
