//! Log lines: to standard error (CloudWatch takes them as they are under Lambda), as text or as
//! one JSON object each, filtered by `RUST_LOG`.

use std::io::IsTerminal;
use std::sync::OnceLock;

use tracing_appender::non_blocking::{ErrorCounter, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::writer::BoxMakeWriter;

/// Lines a full queue made the server drop (see [`LogWriter::Background`]).
static DROPPED: OnceLock<ErrorCounter> = OnceLock::new();

/// Lines waiting for the writer at most; past it new lines are dropped and counted.
const QUEUED_LINES: usize = 64 * 1024;

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

/// Who writes a line to standard error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogWriter {
    /// The thread that logs, at once: a command, and Lambda, whose process is frozen between
    /// invocations and must not hold lines back.
    Direct,
    /// A thread of its own, fed through a bounded queue: the server. A request never waits for
    /// a slow terminal, pipe or disk; when the queue is full, lines are dropped and counted
    /// ([`dropped_lines`]) rather than requests stalled. Lines are written in batches.
    Background,
}

/// Logs to standard error, filtered by `RUST_LOG` (else `default_level`). With
/// [`LogWriter::Background`], the guard must live as long as the process logs: dropping it
/// writes what is queued.
pub fn init_logging(
    format: LogFormat,
    default_level: &str,
    writer: LogWriter,
) -> Option<WorkerGuard> {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let terminal = std::io::stderr().is_terminal();
    let (make_writer, guard) = match writer {
        LogWriter::Direct => (BoxMakeWriter::new(std::io::stderr), None),
        LogWriter::Background => {
            let (queue, guard) = NonBlockingBuilder::default()
                .buffered_lines_limit(QUEUED_LINES)
                .lossy(true)
                .thread_name("checkoff-log")
                .finish(std::io::BufWriter::new(std::io::stderr()));
            let _ = DROPPED.set(queue.error_counter());
            (BoxMakeWriter::new(queue), Some(guard))
        }
    };
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(make_writer);
    match format {
        LogFormat::Json => logs.json().flatten_event(true).init(),
        LogFormat::Text => logs.with_ansi(terminal).init(),
    }
    guard
}

/// How many log lines the server dropped because its queue was full.
pub fn dropped_lines() -> u64 {
    DROPPED.get().map_or(0, |c| c.dropped_lines() as u64)
}
