//! Progress of long CLI work: an indicatif bar when stderr is a terminal, otherwise a log line
//! every `ROLEMINE_PROGRESS_SECONDS` (default 1.5, fractions allowed), so a job run by a
//! scheduler or in a container shows that it moves.

use std::io::IsTerminal;
use std::sync::mpsc::{channel, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// Seconds between progress log lines when stderr is not a terminal. A line comes at least
/// this often even while one step runs long without reporting (a mining phase of a million
/// identities), so a watcher never waits more than two seconds for a sign of life.
const DEFAULT_LOG_SECONDS: f64 = 1.5;

/// How often the heartbeat looks whether a line is due.
const HEARTBEAT: Duration = Duration::from_millis(100);

/// A progress report for one piece of work.
pub struct Progress {
    bar: Option<ProgressBar>,
    log: Option<Arc<Mutex<LogState>>>,
    /// Dropped with the report, which ends the heartbeat thread.
    _heartbeat: Option<Sender<()>>,
    unit: &'static str,
}

struct LogState {
    every: Duration,
    last: Instant,
    stage_started: Instant,
    message: String,
    done: u64,
    total: Option<u64>,
}

impl LogState {
    /// Logs where the work is, and restarts the interval.
    fn line(&mut self, unit: &str) {
        self.last = Instant::now();
        let seconds = self.stage_started.elapsed().as_secs_f64();
        let (stage, done) = (&self.message, self.done);
        match self.total {
            Some(total) => tracing::info!(%stage, done, total, unit, seconds, "progress"),
            None => tracing::info!(%stage, done, unit, seconds, "progress"),
        }
    }
}

impl Progress {
    /// A report counting `unit`s (`"identities"`, `"assignment rows read"`), drawn with the
    /// indicatif `template` on a terminal; nothing at all when `quiet`.
    pub fn new(quiet: bool, unit: &'static str, template: &str) -> Self {
        if quiet {
            return Self {
                bar: None,
                log: None,
                _heartbeat: None,
                unit,
            };
        }
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(0).with_style(
                ProgressStyle::with_template(template)
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            // Redrawn while a long step reports nothing, so the terminal shows it is alive.
            bar.enable_steady_tick(Duration::from_millis(250));
            return Self {
                bar: Some(bar),
                log: None,
                _heartbeat: None,
                unit,
            };
        }
        let seconds = std::env::var("ROLEMINE_PROGRESS_SECONDS")
            .ok()
            .and_then(|s| s.parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .unwrap_or(DEFAULT_LOG_SECONDS);
        let log = Arc::new(Mutex::new(LogState {
            every: Duration::from_secs_f64(seconds),
            last: Instant::now(),
            stage_started: Instant::now(),
            message: String::new(),
            done: 0,
            total: None,
        }));
        let (stop, stopped) = channel::<()>();
        let beating = Arc::clone(&log);
        // Best effort: without the thread, lines still come with each update.
        let _ = std::thread::Builder::new()
            .name("progress".to_owned())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(HEARTBEAT) {
                    if let Ok(mut log) = beating.lock() {
                        if !log.message.is_empty() && log.last.elapsed() >= log.every {
                            log.line(unit);
                        }
                    }
                }
            });
        Self {
            bar: None,
            log: Some(log),
            _heartbeat: Some(stop),
            unit,
        }
    }

    /// Names the current stage (a mining phase, "generating").
    pub fn stage(&self, message: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(message.to_owned());
            bar.set_position(0);
            bar.set_length(0);
        }
        if let Some(Ok(mut log)) = self.log.as_deref().map(Mutex::lock) {
            log.message = message.to_owned();
            log.stage_started = Instant::now();
            log.done = 0;
            log.total = None;
            tracing::info!(stage = %message, "started");
        }
    }

    /// `done` of `total` (`None`: unknown) units so far.
    pub fn update(&self, done: u64, total: Option<u64>) {
        if let Some(bar) = &self.bar {
            if let Some(total) = total {
                bar.set_length(total);
            }
            bar.set_position(done);
        }
        if let Some(Ok(mut log)) = self.log.as_deref().map(Mutex::lock) {
            log.done = done;
            log.total = total;
            if log.last.elapsed() >= log.every {
                log.line(self.unit);
            }
        }
    }

    /// Removes the bar and stops the log lines.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        if let Some(Ok(mut log)) = self.log.as_deref().map(Mutex::lock) {
            // The heartbeat skips a report without a stage.
            log.message.clear();
        }
    }
}
