//! Rolemine's job runner.
//!
//! A [`Worker`] claims jobs from the PostgreSQL queue (`rolemine_store::jobs`), runs each with
//! the [`JobHandler`] registered for its kind, renews the job's lease while it runs and records
//! the outcome. Any number of workers, in the server process or in separate `rolemine worker`
//! processes, can share one database.

mod export;
mod handlers;
mod import;
mod input;
mod mine;
mod notify;
mod provision;
mod runner;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub use export::{artifact_key, sweep_expired, ExportHandler};
pub use handlers::Handlers;
pub use import::ImportHandler;
pub use mine::MineHandler;
pub use notify::{MailSettings, Mailer, Notifier, NotifierError};
pub use provision::ProvisionHandler;
pub use runner::{Worker, WorkerConfig};

/// What a handler gets for one attempt at a job, besides the job itself.
#[derive(Debug, Clone)]
pub struct JobContext {
    /// The job's id.
    pub id: Uuid,
    /// This attempt's number, from 1.
    pub attempt: i32,
    /// Fires when the job must stop: it was cancelled, its lease was lost, or the worker is
    /// shutting down. Handlers check it between steps and return [`JobError::Cancelled`].
    pub cancel: CancellationToken,
}

/// Why an attempt at a job did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// Worth another attempt (a lost connection, a timeout).
    #[error("{0}")]
    Transient(String),
    /// Another attempt would fail the same way (bad payload, missing object): the job fails at
    /// once, with this reason recorded on it and on its object.
    #[error("{0}")]
    Permanent(String),
    /// The job stopped because [`JobContext::cancel`] fired.
    #[error("cancelled")]
    Cancelled,
}

impl From<rolemine_store::StoreError> for JobError {
    fn from(err: rolemine_store::StoreError) -> Self {
        match err {
            rolemine_store::StoreError::Cancelled => JobError::Cancelled,
            err if err.is_transient() => JobError::Transient(err.to_string()),
            // Bad or missing data: another attempt would fail the same way.
            err => JobError::Permanent(err.to_string()),
        }
    }
}

/// Runs the jobs of one kind, `J` (one of the structs of `rolemine_domain::Job`).
#[async_trait]
pub trait JobHandler<J>: Send + Sync + 'static {
    /// Runs one attempt.
    async fn run(&self, job: &J, context: &JobContext) -> Result<(), JobError>;

    /// Called once when the job has failed for good (no attempts left, or a permanent error), so
    /// the object it was working on can be left in a readable failed state.
    async fn on_failure(&self, _job: &J, _reason: &str) {}
}
