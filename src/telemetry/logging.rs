//! Log lines: to standard error (CloudWatch takes them as they are under Lambda), as text or as
//! one JSON object each, filtered by `RUST_LOG`.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::writer::BoxMakeWriter;

/// Bytes of lines waiting for the writer at most (some 25,000 lines); past it, new lines are
/// dropped and counted.
const QUEUED_BYTES: usize = 4 << 20;
/// How often the writer thread wakes to write what has queued up.
const WRITE_EVERY: Duration = Duration::from_millis(20);
/// Room each of the two buffers keeps between bursts: 20 ms of 50,000 lines a second.
const KEPT_BYTES: usize = 256 << 10;

/// The server's queue, once it logs through one (see [`LogWriter::Background`]).
static QUEUE: OnceLock<Queue> = OnceLock::new();

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
    /// A thread of its own, every 20 ms, all that queued up in one write: the server. A request
    /// only appends its line to a bounded buffer (no system call, no thread woken), and never
    /// waits for a slow terminal, pipe or disk; when the buffer is full, lines are dropped and
    /// counted ([`dropped_lines`]) rather than requests stalled.
    Background,
}

/// Logs to standard error, filtered by `RUST_LOG` (else `default_level`). With
/// [`LogWriter::Background`], what is queued is written when the guard is dropped.
pub fn init_logging(format: LogFormat, default_level: &str, writer: LogWriter) -> Option<Flush> {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let terminal = std::io::stderr().is_terminal();
    let (make_writer, guard) = match writer {
        LogWriter::Direct => (BoxMakeWriter::new(std::io::stderr), None),
        LogWriter::Background => {
            let queue = QUEUE.get_or_init(Queue::default);
            match Flush::start(queue) {
                Some(flush) => (BoxMakeWriter::new(queue), Some(flush)),
                // No thread to be had: lines are written at once rather than never.
                None => (BoxMakeWriter::new(std::io::stderr), None),
            }
        }
    };
    // A span filter (`target[span]=level`) can show the request line in one place and not in
    // another: only `tracing` can tell.
    let span_filter = std::env::var("RUST_LOG").is_ok_and(|filter| filter.contains('['));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_timer(super::line_time::LineTime)
        .with_writer(make_writer);
    match format {
        LogFormat::Json => logs.json().flatten_event(true).init(),
        LogFormat::Text => logs
            .fmt_fields(super::line_fields::LineFields)
            .with_ansi(terminal)
            .event_format(super::line_format::LineFormat::default())
            .init(),
    }
    let queued = guard.is_some() && format == LogFormat::Text && !terminal;
    if queued
        && !span_filter
        && tracing::enabled!(target: super::REQUEST_TARGET, tracing::Level::INFO)
    {
        super::request_line::go_direct();
    }
    guard
}

/// Appends one whole line to the server's queue, if it has one (else `false`: nothing done).
pub(super) fn queue_line(line: &[u8]) -> bool {
    QUEUE
        .get()
        .is_some_and(|queue| QueuedLine(queue).write_all(line).is_ok())
}

/// How many log lines the server dropped because its queue was full.
pub fn dropped_lines() -> u64 {
    QUEUE.get().map_or(0, |q| q.dropped.load(Ordering::Relaxed))
}

/// Lines waiting to be written.
#[derive(Default)]
struct Queue {
    lines: Mutex<Vec<u8>>,
    dropped: AtomicU64,
}

impl Queue {
    /// Everything queued so far, leaving the queue empty.
    #[cfg(test)]
    fn take(&self) -> Vec<u8> {
        std::mem::take(&mut *self.lines.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Writes out what is queued, through `spare`: the two buffers take turns, so the queue
    /// does not grow a new one (doubling from empty) every 20 ms.
    fn write_out(&self, spare: &mut Vec<u8>) {
        std::mem::swap(
            &mut *self.lines.lock().unwrap_or_else(|p| p.into_inner()),
            spare,
        );
        if !spare.is_empty() {
            let _ = std::io::stderr().lock().write_all(spare);
        }
        spare.clear();
        // After a burst, what a usual 20 ms needs is kept; the rest goes back.
        spare.shrink_to(KEPT_BYTES);
    }
}

/// One event's line, appended whole (the formatter writes each event in one call).
struct QueuedLine<'a>(&'a Queue);

impl Write for QueuedLine<'_> {
    fn write(&mut self, line: &[u8]) -> std::io::Result<usize> {
        let mut lines = self.0.lines.lock().unwrap_or_else(|p| p.into_inner());
        if lines.len() + line.len() > QUEUED_BYTES {
            self.0.dropped.fetch_add(1, Ordering::Relaxed);
        } else {
            lines.extend_from_slice(line);
        }
        Ok(line.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for &'static Queue {
    type Writer = QueuedLine<'a>;

    fn make_writer(&'a self) -> QueuedLine<'a> {
        QueuedLine(self)
    }
}

/// The thread writing the server's lines; dropping this has it write what is left and stop
/// (waiting a second at most: a stuck standard error must not keep the process from exiting).
pub struct Flush {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    done: mpsc::Receiver<()>,
}

impl Flush {
    fn start(queue: &'static Queue) -> Option<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let (finished, done) = mpsc::channel();
        let thread = {
            let stop = Arc::clone(&stop);
            std::thread::Builder::new()
                .name("checkoff-log".into())
                .spawn(move || {
                    let mut spare = Vec::new();
                    loop {
                        let last = stop.load(Ordering::Relaxed);
                        queue.write_out(&mut spare);
                        if last {
                            let _ = finished.send(());
                            return;
                        }
                        std::thread::park_timeout(WRITE_EVERY);
                    }
                })
                .ok()?
        };
        Some(Self {
            stop,
            thread: Some(thread),
            done,
        })
    }
}

impl Drop for Flush {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = self.done.recv_timeout(Duration::from_secs(1));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_queue_drops_and_counts_lines_whole() {
        let queue = Queue::default();
        let line = vec![b'x'; 1000];
        let fits = QUEUED_BYTES / line.len();
        for _ in 0..fits + 5 {
            QueuedLine(&queue).write_all(&line).unwrap();
        }
        assert_eq!(queue.dropped.load(Ordering::Relaxed), 5);
        let taken = queue.take();
        assert_eq!(taken.len(), fits * line.len());
        // Written out, there is room again.
        QueuedLine(&queue).write_all(&line).unwrap();
        assert_eq!(queue.take().len(), line.len());
    }
}
