//! Loading access data files into the database: all or nothing.
//!
//! The files are validated by `rolemine_dataset::reader` on a blocking thread while the
//! database side of the import runs: records stream through a bounded channel into `COPY`
//! into temporary staging tables (`staging`), and as soon as identities.csv and entitlements.csv
//! are read they are merged into the live tables, while assignments.csv is still being read.
//! Usage and assignments are collected compactly on the reading thread and written once ids are
//! known, straight into `source_usage` and `identity_access` (`direct`); usage while
//! assignments.csv is still being read, when the reader can take usage.csv first. Everything happens in one transaction, so an
//! input with any error, or a failure half-way, leaves the database exactly as it was.
//!
//! Re-importing updates in place: identities, entitlements, sources and roles are upserted by
//! id; an identity's attributes are replaced; the assignments and usage of every identity that
//! appears in the new assignments.csv / usage.csv are replaced by the new ones; a role's
//! entitlements are replaced by those the new roles.csv lists.

mod direct;
mod merge;
mod staging;

use std::path::{Path, PathBuf};
use std::time::Instant;

use rolemine_dataset::reader;
use rolemine_dataset::{DataError, DataErrors, DataSource};
use serde::{Deserialize, Serialize};
use sqlx::{Executor, PgConnection, PgPool};
use tokio::sync::mpsc;

pub use merge::BULK_ROWS;

use crate::error::StoreError;
use rolemine_dataset::bulk::{Batch, BulkSink};
use staging::CHANNEL_MESSAGES;

/// The advisory lock key that serializes imports ("rolemine" in ASCII).
const IMPORT_LOCK: i64 = 0x726f_6c65_6d69_6e65;

/// Why an import did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The input has errors; nothing was written.
    #[error("{0}")]
    Invalid(DataErrors),
    /// The database failed; nothing was written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The reading thread died.
    #[error("the import reader stopped unexpectedly: {0}")]
    Reader(String),
}

impl From<sqlx::Error> for ImportError {
    fn from(err: sqlx::Error) -> Self {
        ImportError::Store(StoreError::Database(err))
    }
}

/// Row totals in the database after an import.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct AccessCounts {
    /// Identities.
    pub identities: i64,
    /// Entitlements.
    pub entitlements: i64,
    /// Sources.
    pub sources: i64,
    /// Assignments (identity × entitlement pairs).
    pub assignments: i64,
    /// Usage rows.
    pub usage: i64,
    /// Existing roles (imported and provisioned).
    pub roles: i64,
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportReport {
    /// Totals in the database afterwards.
    pub counts: AccessCounts,
    /// Data rows read from assignments.csv.
    pub assignment_rows: u64,
    /// Ignored columns and similar notes.
    pub warnings: Vec<String>,
}

/// Current row totals.
pub async fn counts(pool: &PgPool) -> Result<AccessCounts, StoreError> {
    Ok(sqlx::query_as!(
        AccessCounts,
        r#"SELECT (SELECT count(*) FROM identities) AS "identities!",
                  (SELECT count(*) FROM entitlements) AS "entitlements!",
                  (SELECT count(*) FROM sources) AS "sources!",
                  (SELECT coalesce(sum(cardinality(entitlement_ids)), 0)::bigint
                     FROM identity_access) AS "assignments!",
                  (SELECT count(*) FROM source_usage) AS "usage!",
                  (SELECT count(*) FROM roles) AS "roles!""#
    )
    .fetch_one(pool)
    .await?)
}

/// Imports the directory or zip at `path`. `progress` is called from the reading thread with
/// the assignment rows read so far.
pub async fn import_path(
    pool: &PgPool,
    path: &Path,
    progress: impl FnMut(u64) + Send + 'static,
) -> Result<ImportReport, ImportError> {
    import_path_with(pool, path, BULK_ROWS, progress).await
}

/// [`import_path`] with the row count from which a large table's keys are rebuilt in bulk.
pub async fn import_path_with(
    pool: &PgPool,
    path: &Path,
    bulk_rows: i64,
    progress: impl FnMut(u64) + Send + 'static,
) -> Result<ImportReport, ImportError> {
    let started = Instant::now();
    let (sender, mut receiver) = mpsc::channel::<Batch>(CHANNEL_MESSAGES);
    let path: PathBuf = path.to_path_buf();
    let reader = tokio::task::spawn_blocking(move || {
        let mut source = DataSource::open(&path).map_err(DataErrors::from)?;
        let deliver = move |batch| {
            sender
                .blocking_send(batch)
                .map_err(|_| "the database stopped accepting rows".to_owned())
        };
        let mut sink = BulkSink::new(Box::new(deliver), Box::new(progress));
        let summary = reader::read(&mut source, &mut sink)?;
        let access = sink
            .finish()
            .map_err(|message| DataErrors::from(DataError::file("import", message)))?;
        Ok::<_, DataErrors>((access, summary))
    });

    let mut tx = pool.begin().await?;
    let conn: &mut PgConnection = &mut tx;
    // One import at a time: a second one waits here rather than racing on new ids.
    sqlx::query!("SELECT pg_advisory_xact_lock($1)", IMPORT_LOCK)
        .fetch_one(&mut *conn)
        .await?;
    // Sorting and key builds over millions of rows want memory, for this transaction only.
    conn.execute("SET LOCAL work_mem = '256MB'; SET LOCAL maintenance_work_mem = '1GB';")
        .await?;
    staging::create(&mut *conn).await?;
    let received = staging::receive(&mut *conn, &mut receiver, bulk_rows).await;
    // Dropping the receiver unblocks the reader if the database failed first.
    drop(receiver);
    let read = reader
        .await
        .map_err(|err| ImportError::Reader(err.to_string()))?;
    // A database failure also makes the reader fail ("stopped accepting rows"): report the cause.
    received?;
    let (access, summary) = read.map_err(ImportError::Invalid)?;
    tracing::debug!(
        seconds = started.elapsed().as_secs_f64(),
        "import files read and staged"
    );

    merge::entities(&mut *conn).await?;
    direct::access(&mut *conn, access, bulk_rows).await?;
    merge::roles(&mut *conn).await?;
    tx.commit().await?;
    Ok(ImportReport {
        counts: counts(pool).await?,
        assignment_rows: summary.assignment_rows,
        warnings: summary.warnings,
    })
}
