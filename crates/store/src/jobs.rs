//! The PostgreSQL-backed job queue.
//!
//! Jobs are claimed with `FOR UPDATE SKIP LOCKED` so any number of workers can poll one table,
//! and each claim is a lease: the worker renews it while it runs, and a job whose lease runs out
//! (its worker died) is put back in the queue, or failed once it has used all its attempts.
//! Enqueueing sends a `NOTIFY` on [`JOBS_CHANNEL`] so idle workers wake at once.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::postgres::PgListener;
use sqlx::{FromRow, PgConnection, PgExecutor, PgPool};
use uuid::Uuid;

use crate::error::StoreError;

/// The `LISTEN`/`NOTIFY` channel that announces new jobs.
pub const JOBS_CHANNEL: &str = "rolemine_jobs";

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    /// Waiting for a worker (possibly until `run_after`).
    Queued,
    /// Held by a worker under a lease.
    Running,
    /// Finished without error.
    Succeeded,
    /// Failed on its last attempt.
    Failed,
    /// Withdrawn before it finished.
    Cancelled,
}

impl JobState {
    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "QUEUED" => Self::Queued,
            "RUNNING" => Self::Running,
            "SUCCEEDED" => Self::Succeeded,
            "FAILED" => Self::Failed,
            "CANCELLED" => Self::Cancelled,
            _ => return None,
        })
    }
}

/// A job as a worker sees it after claiming it.
#[derive(Debug, Clone, FromRow)]
pub struct ClaimedJob {
    /// The job's id.
    pub id: Uuid,
    /// Which handler runs it.
    pub kind: String,
    /// The handler's input.
    pub payload: Value,
    /// This attempt's number, starting at 1.
    pub attempts: i32,
    /// How many attempts the job may take.
    pub max_attempts: i32,
}

/// A job as stored, for status reads.
#[derive(Debug, Clone)]
pub struct JobRecord {
    /// The job's id.
    pub id: Uuid,
    /// Which handler runs it.
    pub kind: String,
    /// The handler's input.
    pub payload: Value,
    /// Where it is in its life.
    pub state: JobState,
    /// Attempts started so far.
    pub attempts: i32,
    /// The error of the last failed attempt.
    pub last_error: Option<String>,
    /// When it was enqueued.
    pub created_at: DateTime<Utc>,
}

/// A job whose worker vanished after its last allowed attempt.
#[derive(Debug, Clone, FromRow)]
pub struct AbandonedJob {
    /// The job's id.
    pub id: Uuid,
    /// Which handler ran it.
    pub kind: String,
    /// The handler's input.
    pub payload: Value,
}

/// What happened to a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureOutcome {
    /// The job is queued again, to run after a delay.
    WillRetry,
    /// No attempts are left: the job is failed for good.
    GaveUp,
    /// The worker no longer held the lease; nothing was changed.
    LeaseLost,
}

/// Adds a job to the queue and wakes idle workers. Inside a transaction, both take effect at
/// commit.
pub async fn enqueue(
    conn: &mut PgConnection,
    kind: &str,
    payload: &Value,
    max_attempts: i32,
) -> Result<Uuid, StoreError> {
    let id = Uuid::new_v4();
    sqlx::query("INSERT INTO jobs (id, kind, payload, max_attempts) VALUES ($1, $2, $3, $4)")
        .bind(id)
        .bind(kind)
        .bind(payload)
        .bind(max_attempts.max(1))
        .execute(&mut *conn)
        .await?;
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(JOBS_CHANNEL)
        .bind(kind)
        .execute(&mut *conn)
        .await?;
    Ok(id)
}

/// Claims the oldest runnable job of one of `kinds` for `worker`, holding it for `lease`.
pub async fn claim(
    pool: &PgPool,
    worker: &str,
    kinds: &[String],
    lease: Duration,
) -> Result<Option<ClaimedJob>, StoreError> {
    let job = sqlx::query_as::<_, ClaimedJob>(
        "UPDATE jobs
            SET state = 'RUNNING', attempts = attempts + 1, locked_by = $1,
                lease_expires_at = now() + make_interval(secs => $2), updated_at = now()
          WHERE id = (SELECT id FROM jobs
                       WHERE state = 'QUEUED' AND run_after <= now() AND kind = ANY($3)
                       ORDER BY run_after, created_at
                       FOR UPDATE SKIP LOCKED
                       LIMIT 1)
      RETURNING id, kind, payload, attempts, max_attempts",
    )
    .bind(worker)
    .bind(lease.as_secs_f64())
    .bind(kinds)
    .fetch_optional(pool)
    .await?;
    Ok(job)
}

/// Extends the lease of a running job. `false` means the worker lost it (the lease expired and
/// the job was requeued, or it was cancelled) and must stop working on it.
pub async fn renew(
    pool: &PgPool,
    id: Uuid,
    worker: &str,
    lease: Duration,
) -> Result<bool, StoreError> {
    let renewed = sqlx::query(
        "UPDATE jobs SET lease_expires_at = now() + make_interval(secs => $3), updated_at = now()
          WHERE id = $1 AND locked_by = $2 AND state = 'RUNNING'",
    )
    .bind(id)
    .bind(worker)
    .bind(lease.as_secs_f64())
    .execute(pool)
    .await?
    .rows_affected();
    Ok(renewed == 1)
}

/// Marks a job done. `false` means the worker no longer held it.
pub async fn complete(pool: &PgPool, id: Uuid, worker: &str) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE jobs SET state = 'SUCCEEDED', locked_by = NULL, lease_expires_at = NULL,
                         finished_at = now(), updated_at = now()
          WHERE id = $1 AND locked_by = $2 AND state = 'RUNNING'",
    )
    .bind(id)
    .bind(worker)
    .execute(pool)
    .await?
    .rows_affected();
    Ok(done == 1)
}

/// Records a failed attempt: requeues the job after `retry_delay`, or fails it for good when
/// `permanent` is set or no attempts are left.
pub async fn fail(
    pool: &PgPool,
    id: Uuid,
    worker: &str,
    error: &str,
    retry_delay: Duration,
    permanent: bool,
) -> Result<FailureOutcome, StoreError> {
    let state: Option<String> = sqlx::query_scalar(
        "UPDATE jobs
            SET state = CASE WHEN $5 OR attempts >= max_attempts THEN 'FAILED' ELSE 'QUEUED' END,
                run_after = now() + make_interval(secs => $4),
                finished_at = CASE WHEN $5 OR attempts >= max_attempts THEN now() END,
                last_error = $3, locked_by = NULL, lease_expires_at = NULL, updated_at = now()
          WHERE id = $1 AND locked_by = $2 AND state = 'RUNNING'
      RETURNING state",
    )
    .bind(id)
    .bind(worker)
    .bind(error)
    .bind(retry_delay.as_secs_f64())
    .bind(permanent)
    .fetch_optional(pool)
    .await?;
    Ok(match state.as_deref() {
        None => FailureOutcome::LeaseLost,
        Some("FAILED") => FailureOutcome::GaveUp,
        Some(_) => FailureOutcome::WillRetry,
    })
}

/// Returns jobs whose worker stopped renewing their lease to the queue, and fails for good those
/// that have no attempts left; the latter are returned so their owners can record the failure.
pub async fn reap_expired_leases(pool: &PgPool) -> Result<Vec<AbandonedJob>, StoreError> {
    let mut tx = pool.begin().await?;
    let requeued = sqlx::query(
        "UPDATE jobs SET state = 'QUEUED', locked_by = NULL, lease_expires_at = NULL,
                         last_error = 'the worker running it stopped responding', updated_at = now()
          WHERE state = 'RUNNING' AND lease_expires_at < now() AND attempts < max_attempts",
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let abandoned = sqlx::query_as::<_, AbandonedJob>(
        "UPDATE jobs SET state = 'FAILED', locked_by = NULL, lease_expires_at = NULL,
                         last_error = 'the worker running it stopped responding on the last attempt',
                         finished_at = now(), updated_at = now()
          WHERE state = 'RUNNING' AND lease_expires_at < now() AND attempts >= max_attempts
      RETURNING id, kind, payload",
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    if requeued > 0 {
        tracing::warn!(requeued, "requeued jobs whose worker stopped responding");
    }
    Ok(abandoned)
}

/// Withdraws a queued or running job. A running job's worker notices at its next lease renewal.
pub async fn cancel<'e>(executor: impl PgExecutor<'e>, id: Uuid) -> Result<bool, StoreError> {
    let cancelled = sqlx::query(
        "UPDATE jobs SET state = 'CANCELLED', locked_by = NULL, lease_expires_at = NULL,
                         finished_at = now(), updated_at = now()
          WHERE id = $1 AND state IN ('QUEUED', 'RUNNING')",
    )
    .bind(id)
    .execute(executor)
    .await?
    .rows_affected();
    Ok(cancelled == 1)
}

/// Reads one job.
pub async fn get(pool: &PgPool, id: Uuid) -> Result<JobRecord, StoreError> {
    #[derive(FromRow)]
    struct Row {
        id: Uuid,
        kind: String,
        payload: Value,
        state: String,
        attempts: i32,
        last_error: Option<String>,
        created_at: DateTime<Utc>,
    }
    let row: Row = sqlx::query_as(
        "SELECT id, kind, payload, state, attempts, last_error, created_at
           FROM jobs WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| StoreError::NotFound {
        what: "job",
        id: id.to_string(),
    })?;
    let state = JobState::parse(&row.state).ok_or_else(|| {
        StoreError::Database(sqlx::Error::Decode(
            format!("unknown job state {}", row.state).into(),
        ))
    })?;
    Ok(JobRecord {
        id: row.id,
        kind: row.kind,
        payload: row.payload,
        state,
        attempts: row.attempts,
        last_error: row.last_error,
        created_at: row.created_at,
    })
}

/// Makes a job's lease look expired now; lets tests simulate a worker that died.
pub async fn expire_lease(pool: &PgPool, id: Uuid) -> Result<(), StoreError> {
    sqlx::query("UPDATE jobs SET lease_expires_at = now() - interval '1 second' WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(())
}

/// Waits for [`JOBS_CHANNEL`] notifications, falling back to polling while `LISTEN` is down.
pub struct JobNotifications {
    pool: PgPool,
    listener: Option<PgListener>,
}

impl JobNotifications {
    /// Connects lazily, on the first wait.
    pub fn new(pool: PgPool) -> Self {
        Self {
            pool,
            listener: None,
        }
    }

    /// Returns on a notification or after `timeout`, whichever comes first.
    pub async fn wait(&mut self, timeout: Duration) {
        if self.listener.is_none() {
            match PgListener::connect_with(&self.pool).await {
                Ok(mut listener) => match listener.listen(JOBS_CHANNEL).await {
                    Ok(()) => self.listener = Some(listener),
                    Err(err) => tracing::debug!(error = %err, "cannot LISTEN for jobs; polling"),
                },
                Err(err) => tracing::debug!(error = %err, "cannot LISTEN for jobs; polling"),
            }
        }
        match self.listener.as_mut() {
            Some(listener) => {
                if let Ok(Err(err)) = tokio::time::timeout(timeout, listener.recv()).await {
                    tracing::debug!(error = %err, "job listener dropped; reconnecting");
                    self.listener = None;
                }
            }
            None => tokio::time::sleep(timeout).await,
        }
    }
}

impl std::fmt::Debug for JobNotifications {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobNotifications")
            .field("listening", &self.listener.is_some())
            .finish()
    }
}
