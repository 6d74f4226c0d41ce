//! Log lines: to standard error (CloudWatch takes them as they are under Lambda), as text or as
//! one JSON object each, filtered by `RUST_LOG`.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    /// One JSON object a line, for log stores that index fields.
    Json,
}

impl LogFormat {
    /// `CHECKOFF_LOG_FORMAT`, as under Lambda where there are no flags.
    pub fn from_env() -> Self {
        match std::env::var("CHECKOFF_LOG_FORMAT") {
            Ok(format) if format.eq_ignore_ascii_case("json") => Self::Json,
            _ => Self::Text,
        }
    }
}

/// Logs to standard error (CloudWatch takes it as it is under Lambda), filtered by `RUST_LOG`.
pub fn init_logging(format: LogFormat, default_level: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => logs.json().flatten_event(true).init(),
        LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).init(),
    }
}
