//! The asynchronous export job: writes a potential role's zip to the artifact store, and the
//! sweeper that deletes artifacts once they expire.

use std::io::{BufWriter, Write};
use std::time::Duration;

use async_trait::async_trait;
use rolemine_artifacts::Artifacts;
use rolemine_domain::ExportJob;
use rolemine_store::exports;
use rolemine_store::{PgPool, StoreError};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{JobContext, JobError, JobHandler};

/// Runs export jobs.
#[derive(Debug, Clone)]
pub struct ExportHandler {
    pool: PgPool,
    artifacts: Artifacts,
    ttl: Duration,
}

impl ExportHandler {
    /// A handler writing exports of `pool`'s roles to `artifacts`, served for `ttl`.
    pub fn new(pool: PgPool, artifacts: Artifacts, ttl: Duration) -> Self {
        Self {
            pool,
            artifacts,
            ttl,
        }
    }
}

/// The artifact key of an export.
pub fn artifact_key(export: Uuid) -> String {
    format!("exports/{export}.zip")
}

#[async_trait]
impl JobHandler<ExportJob> for ExportHandler {
    async fn run(&self, job: &ExportJob, context: &JobContext) -> Result<(), JobError> {
        let id = job.export_id;
        let record = match exports::start(&self.pool, id).await {
            Ok(Some(record)) => record,
            Ok(None) => return Ok(()),
            Err(StoreError::NotFound { .. }) => {
                return Err(JobError::Permanent(format!("export {id} does not exist")))
            }
            Err(err) => return Err(err.into()),
        };
        let local = |err: std::io::Error| {
            JobError::Transient(format!(
                "cannot write the export to a temporary file: {err}"
            ))
        };
        let file = tempfile::NamedTempFile::new().map_err(local)?;
        let writer = BufWriter::new(file.reopen().map_err(local)?);
        let written = tokio::select! {
            written = exports::write_zip_blocking(&self.pool, record.potential_role_id, record.filter(), writer) => written?,
            () = context.cancel.cancelled() => return Err(JobError::Cancelled),
        };
        let (mut writer, counts) = written;
        writer.flush().map_err(local)?;
        drop(writer);
        let key = artifact_key(id);
        let size = self
            .artifacts
            .put_file(&key, file.path())
            .await
            .map_err(|err| JobError::Transient(err.to_string()))?;
        exports::succeed(&self.pool, id, &key, self.ttl).await?;
        metrics::counter!("rolemine_export_bytes_total").increment(size);
        tracing::info!(export = %id, ?counts, bytes = size, "export written");
        Ok(())
    }

    async fn on_failure(&self, job: &ExportJob, reason: &str) {
        let id = job.export_id;
        let message = format!("the export could not be written: {reason}");
        if let Err(err) = exports::fail(&self.pool, id, &message).await {
            tracing::error!(export = %id, error = %err, "cannot record an export failure");
        }
    }
}

/// Deletes expired export artifacts every `interval` until `stop` fires.
pub async fn sweep_expired(
    pool: PgPool,
    artifacts: Artifacts,
    interval: Duration,
    stop: CancellationToken,
) {
    loop {
        match exports::take_expired(&pool).await {
            Ok(keys) => {
                for key in keys {
                    match artifacts.delete(&key).await {
                        Ok(()) => tracing::info!(%key, "expired export deleted"),
                        Err(err) => {
                            tracing::warn!(%key, error = %err, "cannot delete an expired export")
                        }
                    }
                }
            }
            Err(err) => tracing::warn!(error = %err, "cannot look for expired exports"),
        }
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = stop.cancelled() => return,
        }
    }
}
