//! The `import` job: loads an uploaded zip (`POST /rolemine/v1/imports`) into the database.

use std::path::PathBuf;

use async_trait::async_trait;
use rolemine_domain::ImportJob;
use rolemine_store::import::{import_path, ImportError};
use rolemine_store::{imports, PgPool, StoreError};

use crate::{JobContext, JobError, JobHandler};

/// Runs import jobs.
#[derive(Debug, Clone)]
pub struct ImportHandler {
    pool: PgPool,
}

impl ImportHandler {
    /// A handler importing into `pool`'s database.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

/// The upload is no longer needed once its import has finished, either way.
async fn remove_upload(path: &str) {
    if let Err(err) = tokio::fs::remove_file(path).await {
        if err.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!(path, error = %err, "cannot remove an import upload");
        }
    }
}

#[async_trait]
impl JobHandler<ImportJob> for ImportHandler {
    async fn run(&self, job: &ImportJob, context: &JobContext) -> Result<(), JobError> {
        let id = job.import_id;
        let record = match imports::start(&self.pool, id).await {
            Ok(Some(record)) => record,
            // Finished already (a retry after the outcome was recorded): nothing to do.
            Ok(None) => return Ok(()),
            Err(StoreError::NotFound { .. }) => {
                return Err(JobError::Permanent(format!("import {id} does not exist")))
            }
            Err(err) => return Err(err.into()),
        };
        tracing::info!(import = %id, bytes = record.size_bytes, "import started");
        let pool = self.pool.clone();
        let path = PathBuf::from(&record.file_path);
        let mut task = tokio::spawn(async move { import_path(&pool, &path, |_| {}).await });
        let outcome = tokio::select! {
            outcome = &mut task => outcome.map_err(|err| JobError::Transient(format!("the import task failed: {err}")))?,
            () = context.cancel.cancelled() => {
                // Aborting drops the import's transaction, which rolls it back.
                task.abort();
                return Err(JobError::Cancelled);
            }
        };
        match outcome {
            Ok(report) => {
                imports::succeed(&self.pool, id, &report).await?;
                metrics::counter!("rolemine_import_assignment_rows_total")
                    .increment(report.assignment_rows);
                tracing::info!(import = %id, counts = ?report.counts, "import succeeded");
            }
            Err(ImportError::Invalid(errors)) => {
                let messages: Vec<String> = errors.errors.iter().map(ToString::to_string).collect();
                imports::fail(&self.pool, id, &messages, errors.total).await?;
                tracing::info!(import = %id, errors = errors.total, "import rejected");
            }
            Err(ImportError::Store(err)) if err.is_data_fault() => {
                let message = format!("the database refused the data: {err}");
                imports::fail(&self.pool, id, &[message], 1).await?;
                tracing::info!(import = %id, error = %err, "import rejected by the database");
            }
            // The database or the worker failed: worth another attempt, with the file kept.
            Err(err) => return Err(JobError::Transient(err.to_string())),
        }
        remove_upload(&record.file_path).await;
        Ok(())
    }

    async fn on_failure(&self, job: &ImportJob, reason: &str) {
        let id = job.import_id;
        let message = format!("the import could not be run: {reason}");
        if let Err(err) = imports::fail(&self.pool, id, &[message], 1).await {
            tracing::error!(import = %id, error = %err, "cannot record an import failure");
        }
        if let Ok(record) = imports::get(&self.pool, id).await {
            remove_upload(&record.file_path).await;
        }
    }
}
