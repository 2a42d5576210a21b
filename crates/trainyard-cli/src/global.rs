//! The settings every client command shares (`--server`, `--output`, ...): flattened into the
//! command line by `cli`, read by `profile`, `output` and the shell completer.

use clap::{Args, ValueEnum};

/// Settings every client command shares.
#[derive(Args, Clone, Debug)]
pub struct Global {
    /// Server URL (TRAINYARD_SERVER; 127.0.0.1:8600).
    #[arg(
        help_heading = "Global options",
        hide_env = true,
        long,
        short = 's',
        global = true,
        env = "TRAINYARD_SERVER"
    )]
    pub server: Option<String>,
    /// Project id (TRAINYARD_PROJECT).
    #[arg(
        help_heading = "Global options",
        hide_env = true,
        long,
        short = 'p',
        global = true,
        env = "TRAINYARD_PROJECT"
    )]
    pub project: Option<String>,
    /// Project token (TRAINYARD_TOKEN).
    #[arg(
        help_heading = "Global options",
        hide_env = true,
        long,
        global = true,
        env = "TRAINYARD_TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,
    /// Profile to read (TRAINYARD_PROFILE).
    #[arg(
        help_heading = "Global options",
        hide_env = true,
        long,
        global = true,
        env = "TRAINYARD_PROFILE"
    )]
    pub profile: Option<String>,
    /// table (default), wide, json or csv (usage).
    #[arg(help_heading = "Global options",
        hide_env = true, long, short = 'o', global = true, value_enum, default_value_t = Output::Table, hide_possible_values = true, hide_default_value = true)]
    pub output: Output,
    /// Colours: auto (default), always or never.
    #[arg(help_heading = "Global options",
        hide_env = true, long, global = true, value_enum, default_value_t = Color::Auto, hide_possible_values = true, hide_default_value = true)]
    pub color: Color,
    /// Times in UTC (RFC 3339), not local time.
    #[arg(help_heading = "Global options", hide_env = true, long, global = true)]
    pub utc: bool,
    /// More log output on stderr (-v, -vv).
    #[arg(help_heading = "Global options",
        hide_env = true, long, short = 'v', global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Logs on stderr: text (default) or json.
    #[arg(help_heading = "Global options",
        hide_env = true, long, global = true, value_enum, env = "TRAINYARD_LOG_FORMAT", hide_env = true, default_value_t = LogFormat::Text, hide_possible_values = true, hide_default_value = true)]
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
    /// Comma-separated values with a header line (`trainyard usage` only).
    Csv,
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
