//! Imports uploaded over HTTP: their records, and the job that loads each one.
//!
//! The upload is written to a file first; [`create`] then records it and enqueues its job in one
//! transaction, so a recorded import always has a job and a job always has its record.

use chrono::{DateTime, Utc};
use rolemine_domain::{ImportJob, ImportState, Job};
use sqlx::types::Json;
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

use crate::error::StoreError;
use crate::import::{AccessCounts, ImportReport};
use crate::jobs;

/// One HTTP import.
#[derive(Debug, Clone)]
pub struct ImportRecord {
    /// Its id.
    pub id: Uuid,
    /// Where it is.
    pub state: ImportState,
    /// Where the upload waits for the worker (removed once finished).
    pub file_path: String,
    /// Upload size.
    pub size_bytes: i64,
    /// The API client that uploaded it, when known.
    pub created_by: Option<String>,
    /// Totals in the database after a successful import.
    pub counts: Option<Json<AccessCounts>>,
    /// On `ERROR`: the listed messages.
    pub errors: Vec<String>,
    /// On `ERROR`: how many problems there were in all.
    pub error_total: i32,
    /// Notes such as ignored columns.
    pub warnings: Vec<String>,
    /// When it was uploaded.
    pub created_at: DateTime<Utc>,
    /// When a worker started it.
    pub started_at: Option<DateTime<Utc>>,
    /// When it reached `SUCCESS` or `ERROR`.
    pub finished_at: Option<DateTime<Utc>>,
}

/// Records an uploaded file and queues its import (a failure of the database or of the worker
/// is retried; bad input is not, it is recorded as `ERROR` at once).
pub async fn create(
    pool: &PgPool,
    id: Uuid,
    file_path: &str,
    size_bytes: i64,
    created_by: Option<&str>,
) -> Result<ImportRecord, StoreError> {
    let mut tx = pool.begin().await?;
    sqlx::query!(
        "INSERT INTO imports (id, file_path, size_bytes, created_by) VALUES ($1, $2, $3, $4)",
        id,
        file_path,
        size_bytes,
        created_by,
    )
    .execute(&mut *tx)
    .await?;
    jobs::enqueue(&mut tx, &Job::Import(ImportJob { import_id: id })).await?;
    let record = fetch(&mut *tx, id).await?;
    tx.commit().await?;
    Ok(record)
}

/// The import with this id.
pub async fn get(pool: &PgPool, id: Uuid) -> Result<ImportRecord, StoreError> {
    fetch(pool, id).await
}

async fn fetch<'e>(executor: impl PgExecutor<'e>, id: Uuid) -> Result<ImportRecord, StoreError> {
    sqlx::query_as!(
        ImportRecord,
        r#"SELECT id, state AS "state: ImportState", file_path, size_bytes, created_by,
                  counts AS "counts: Json<AccessCounts>", errors, error_total, warnings,
                  created_at, started_at, finished_at
             FROM imports WHERE id = $1"#,
        id
    )
    .fetch_optional(executor)
    .await?
    .ok_or_else(|| StoreError::NotFound {
        what: "import",
        id: id.to_string(),
    })
}

/// Marks the import as running (again, after a lost worker) and returns it; `None` when it has
/// already finished.
pub async fn start(pool: &PgPool, id: Uuid) -> Result<Option<ImportRecord>, StoreError> {
    let started = sqlx::query_scalar!(
        "UPDATE imports SET state = $2, started_at = now()
          WHERE id = $1 AND state IN ($3, $2)
         RETURNING id",
        id,
        ImportState::InProgress as _,
        ImportState::Queued as _,
    )
    .fetch_optional(pool)
    .await?;
    // Without a row, this still tells "finished" from "never existed".
    let record = get(pool, id).await?;
    Ok(started.map(|_| record))
}

/// Records a successful import.
pub async fn succeed(pool: &PgPool, id: Uuid, report: &ImportReport) -> Result<(), StoreError> {
    sqlx::query!(
        "UPDATE imports SET state = $2, counts = $3, warnings = $4, finished_at = now()
          WHERE id = $1",
        id,
        ImportState::Success as _,
        Json(report.counts) as _,
        &report.warnings,
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Records a failed import: the messages to show and how many problems there were in all.
pub async fn fail(
    pool: &PgPool,
    id: Uuid,
    errors: &[String],
    total: usize,
) -> Result<(), StoreError> {
    sqlx::query!(
        "UPDATE imports SET state = $2, errors = $3, error_total = $4, finished_at = now()
          WHERE id = $1 AND state <> $5",
        id,
        ImportState::Error as _,
        errors,
        i32::try_from(total).unwrap_or(i32::MAX),
        ImportState::Success as _,
    )
    .execute(pool)
    .await?;
    Ok(())
}
