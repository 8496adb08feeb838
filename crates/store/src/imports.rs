//! Imports uploaded over HTTP: their records, and the job that loads each one.
//!
//! The upload is written to a file first; [`create`] then records it and enqueues its job in one
//! transaction, so a recorded import always has a job and a job always has its record.

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::types::Json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::error::StoreError;
use crate::import::{AccessCounts, ImportReport};
use crate::jobs;

/// The job kind that loads an uploaded import.
pub const JOB_KIND: &str = "import";

/// Attempts at an import job: a failure of the database or of the worker is retried, bad input
/// is not (it is recorded as `ERROR` at once).
const MAX_ATTEMPTS: i32 = 3;

/// One HTTP import.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ImportRecord {
    /// Its id.
    pub id: Uuid,
    /// `QUEUED`, `IN_PROGRESS`, `SUCCESS` or `ERROR`.
    pub state: String,
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

const COLUMNS: &str = "id, state, file_path, size_bytes, created_by, counts, errors, error_total, \
                       warnings, created_at, started_at, finished_at";

/// Records an uploaded file and queues its import.
pub async fn create(
    pool: &PgPool,
    id: Uuid,
    file_path: &str,
    size_bytes: i64,
    created_by: Option<&str>,
) -> Result<ImportRecord, StoreError> {
    let mut tx = pool.begin().await?;
    let record = sqlx::query_as::<_, ImportRecord>(&format!(
        "INSERT INTO imports (id, file_path, size_bytes, created_by) VALUES ($1, $2, $3, $4)
         RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(file_path)
    .bind(size_bytes)
    .bind(created_by)
    .fetch_one(&mut *tx)
    .await?;
    jobs::enqueue(&mut tx, JOB_KIND, &json!({ "importId": id }), MAX_ATTEMPTS).await?;
    tx.commit().await?;
    Ok(record)
}

/// The import with this id.
pub async fn get(pool: &PgPool, id: Uuid) -> Result<ImportRecord, StoreError> {
    sqlx::query_as::<_, ImportRecord>(&format!("SELECT {COLUMNS} FROM imports WHERE id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await?
        .ok_or_else(|| StoreError::NotFound {
            what: "import",
            id: id.to_string(),
        })
}

/// Marks the import as running (again, after a lost worker) and returns it; `None` when it has
/// already finished.
pub async fn start(pool: &PgPool, id: Uuid) -> Result<Option<ImportRecord>, StoreError> {
    let started = sqlx::query_as::<_, ImportRecord>(&format!(
        "UPDATE imports SET state = 'IN_PROGRESS', started_at = now()
          WHERE id = $1 AND state IN ('QUEUED', 'IN_PROGRESS')
         RETURNING {COLUMNS}"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await?;
    if started.is_none() {
        // Distinguish "finished" from "never existed".
        get(pool, id).await?;
    }
    Ok(started)
}

/// Records a successful import.
pub async fn succeed(pool: &PgPool, id: Uuid, report: &ImportReport) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE imports SET state = 'SUCCESS', counts = $2, warnings = $3, finished_at = now()
          WHERE id = $1",
    )
    .bind(id)
    .bind(Json(report.counts))
    .bind(&report.warnings)
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
    sqlx::query(
        "UPDATE imports SET state = 'ERROR', errors = $2, error_total = $3, finished_at = now()
          WHERE id = $1 AND state <> 'SUCCESS'",
    )
    .bind(id)
    .bind(errors)
    .bind(i32::try_from(total).unwrap_or(i32::MAX))
    .execute(pool)
    .await?;
    Ok(())
}
