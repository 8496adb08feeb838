//! Progress of long CLI work: an indicatif bar when stderr is a terminal, otherwise a log line
//! at most every `ROLEMINE_PROGRESS_SECONDS` (default 5), so a job run by a scheduler or in a
//! container shows that it moves.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// Seconds between progress log lines when stderr is not a terminal.
const DEFAULT_LOG_SECONDS: u64 = 5;

/// A progress report for one piece of work.
pub struct Progress {
    bar: Option<ProgressBar>,
    log: Option<Mutex<LogState>>,
    unit: &'static str,
}

struct LogState {
    every: Duration,
    last: Instant,
    message: String,
}

impl Progress {
    /// A report counting `unit`s (`"identities"`, `"assignment rows read"`), drawn with the
    /// indicatif `template` on a terminal; nothing at all when `quiet`.
    pub fn new(quiet: bool, unit: &'static str, template: &str) -> Self {
        if quiet {
            return Self {
                bar: None,
                log: None,
                unit,
            };
        }
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(0).with_style(
                ProgressStyle::with_template(template)
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            return Self {
                bar: Some(bar),
                log: None,
                unit,
            };
        }
        let seconds = std::env::var("ROLEMINE_PROGRESS_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(DEFAULT_LOG_SECONDS);
        Self {
            bar: None,
            log: Some(Mutex::new(LogState {
                every: Duration::from_secs(seconds),
                last: Instant::now(),
                message: String::new(),
            })),
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
        if let Some(Ok(mut log)) = self.log.as_ref().map(Mutex::lock) {
            log.message = message.to_owned();
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
        if let Some(Ok(mut log)) = self.log.as_ref().map(Mutex::lock) {
            if log.last.elapsed() >= log.every {
                log.last = Instant::now();
                match total {
                    Some(total) => {
                        tracing::info!(stage = %log.message, done, total, unit = self.unit, "progress")
                    }
                    None => {
                        tracing::info!(stage = %log.message, done, unit = self.unit, "progress")
                    }
                }
            }
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
