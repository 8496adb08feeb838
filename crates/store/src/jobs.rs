//! The PostgreSQL-backed job queue.
//!
//! Jobs are claimed with `FOR UPDATE SKIP LOCKED` so any number of workers can poll one table,
//! and each claim is a lease: the worker renews it while it runs, and a job whose lease runs out
//! (its worker died) is put back in the queue, or failed once it has used all its attempts.
//! Enqueueing sends a `NOTIFY` on [`JOBS_CHANNEL`] so idle workers wake at once.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rolemine_domain::{Job, JobDecodeError, JobKind, JobState};
use sqlx::postgres::PgListener;
use sqlx::{PgConnection, PgExecutor, PgPool};
use uuid::Uuid;

use crate::error::StoreError;

/// The `LISTEN`/`NOTIFY` channel that announces new jobs.
pub const JOBS_CHANNEL: &str = "rolemine_jobs";

/// A job as a worker sees it after claiming it.
#[derive(Debug)]
pub struct ClaimedJob {
    /// The job's id.
    pub id: Uuid,
    /// What it does.
    pub kind: JobKind,
    /// The job, or why its stored payload does not fit its kind (it then fails at once).
    pub job: Result<Job, JobDecodeError>,
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
    /// What it does.
    pub kind: JobKind,
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
#[derive(Debug)]
pub struct AbandonedJob {
    /// The job's id.
    pub id: Uuid,
    /// What it does.
    pub kind: JobKind,
    /// The job, or why its payload is unreadable.
    pub job: Result<Job, JobDecodeError>,
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
pub async fn enqueue(conn: &mut PgConnection, job: &Job) -> Result<Uuid, StoreError> {
    let id = Uuid::new_v4();
    sqlx::query!(
        "INSERT INTO jobs (id, kind, subject_id, payload, max_attempts)
         VALUES ($1, $2, $3, $4::text::jsonb, $5)",
        id,
        job.kind() as _,
        job.subject(),
        job.payload(),
        job.max_attempts(),
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "SELECT pg_notify($1, $2)",
        JOBS_CHANNEL,
        job.kind().as_str()
    )
    .execute(&mut *conn)
    .await?;
    Ok(id)
}

/// Claims the oldest runnable job of one of `kinds` for `worker`, holding it for `lease`.
pub async fn claim(
    pool: &PgPool,
    worker: &str,
    kinds: &[JobKind],
    lease: Duration,
) -> Result<Option<ClaimedJob>, StoreError> {
    let row = sqlx::query!(
        r#"UPDATE jobs
              SET state = $4, attempts = attempts + 1, locked_by = $1,
                  lease_expires_at = now() + make_interval(secs => $2), updated_at = now()
            WHERE id = (SELECT id FROM jobs
                         WHERE state = $5 AND run_after <= now() AND kind = ANY($3)
                         ORDER BY run_after, created_at
                         FOR UPDATE SKIP LOCKED
                         LIMIT 1)
        RETURNING id, kind AS "kind: JobKind", payload::text AS "payload!", attempts,
                  max_attempts"#,
        worker,
        lease.as_secs_f64(),
        kinds as _,
        JobState::Running as _,
        JobState::Queued as _,
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|row| ClaimedJob {
        id: row.id,
        kind: row.kind,
        job: Job::decode(row.kind, &row.payload),
        attempts: row.attempts,
        max_attempts: row.max_attempts,
    }))
}

/// Extends the lease of a running job. `false` means the worker lost it (the lease expired and
/// the job was requeued, or it was cancelled) and must stop working on it.
pub async fn renew(
    pool: &PgPool,
    id: Uuid,
    worker: &str,
    lease: Duration,
) -> Result<bool, StoreError> {
    let renewed = sqlx::query!(
        "UPDATE jobs SET lease_expires_at = now() + make_interval(secs => $3), updated_at = now()
          WHERE id = $1 AND locked_by = $2 AND state = $4",
        id,
        worker,
        lease.as_secs_f64(),
        JobState::Running as _,
    )
    .execute(pool)
    .await?
    .rows_affected();
    Ok(renewed == 1)
}

/// Marks a job done. `false` means the worker no longer held it.
pub async fn complete(pool: &PgPool, id: Uuid, worker: &str) -> Result<bool, StoreError> {
    let done = sqlx::query!(
        "UPDATE jobs SET state = $3, locked_by = NULL, lease_expires_at = NULL,
                         finished_at = now(), updated_at = now()
          WHERE id = $1 AND locked_by = $2 AND state = $4",
        id,
        worker,
        JobState::Succeeded as _,
        JobState::Running as _,
    )
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
    let state = sqlx::query_scalar!(
        r#"UPDATE jobs
              SET state = CASE WHEN $5 OR attempts >= max_attempts THEN $6 ELSE $7 END,
                  run_after = now() + make_interval(secs => $4),
                  finished_at = CASE WHEN $5 OR attempts >= max_attempts THEN now() END,
                  last_error = $3, locked_by = NULL, lease_expires_at = NULL, updated_at = now()
            WHERE id = $1 AND locked_by = $2 AND state = $8
        RETURNING state AS "state: JobState""#,
        id,
        worker,
        error,
        retry_delay.as_secs_f64(),
        permanent,
        JobState::Failed as _,
        JobState::Queued as _,
        JobState::Running as _,
    )
    .fetch_optional(pool)
    .await?;
    Ok(match state {
        None => FailureOutcome::LeaseLost,
        Some(JobState::Failed) => FailureOutcome::GaveUp,
        Some(_) => FailureOutcome::WillRetry,
    })
}

/// Returns jobs whose worker stopped renewing their lease to the queue, and fails for good those
/// that have no attempts left; the latter are returned so their owners can record the failure.
pub async fn reap_expired_leases(pool: &PgPool) -> Result<Vec<AbandonedJob>, StoreError> {
    let mut tx = pool.begin().await?;
    let requeued = sqlx::query!(
        "UPDATE jobs SET state = $1, locked_by = NULL, lease_expires_at = NULL,
                         last_error = 'the worker running it stopped responding', updated_at = now()
          WHERE state = $2 AND lease_expires_at < now() AND attempts < max_attempts",
        JobState::Queued as _,
        JobState::Running as _,
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let abandoned = sqlx::query!(
        r#"UPDATE jobs SET state = $1, locked_by = NULL, lease_expires_at = NULL,
                         last_error = 'the worker running it stopped responding on the last attempt',
                         finished_at = now(), updated_at = now()
          WHERE state = $2 AND lease_expires_at < now() AND attempts >= max_attempts
      RETURNING id, kind AS "kind: JobKind", payload::text AS "payload!""#,
        JobState::Failed as _,
        JobState::Running as _,
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    if requeued > 0 {
        tracing::warn!(requeued, "requeued jobs whose worker stopped responding");
    }
    Ok(abandoned
        .into_iter()
        .map(|row| AbandonedJob {
            id: row.id,
            kind: row.kind,
            job: Job::decode(row.kind, &row.payload),
        })
        .collect())
}

/// Withdraws every queued or running job of `kind` on `subject`; returns how many. A running
/// job's worker notices at its next lease renewal.
pub async fn cancel_for<'e>(
    executor: impl PgExecutor<'e>,
    kind: JobKind,
    subject: Uuid,
) -> Result<u64, StoreError> {
    let cancelled = sqlx::query!(
        "UPDATE jobs SET state = $3, locked_by = NULL, lease_expires_at = NULL,
                         finished_at = now(), updated_at = now()
          WHERE kind = $1 AND subject_id = $2 AND state IN ($4, $5)",
        kind as _,
        subject,
        JobState::Cancelled as _,
        JobState::Queued as _,
        JobState::Running as _,
    )
    .execute(executor)
    .await?
    .rows_affected();
    Ok(cancelled)
}

/// Reads one job.
pub async fn get(pool: &PgPool, id: Uuid) -> Result<JobRecord, StoreError> {
    sqlx::query_as!(
        JobRecord,
        r#"SELECT id, kind AS "kind: JobKind", state AS "state: JobState", attempts, last_error,
                  created_at
             FROM jobs WHERE id = $1"#,
        id
    )
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| StoreError::NotFound {
        what: "job",
        id: id.to_string(),
    })
}

/// Makes a job's lease look expired now; lets tests simulate a worker that died.
pub async fn expire_lease(pool: &PgPool, id: Uuid) -> Result<(), StoreError> {
    sqlx::query!(
        "UPDATE jobs SET lease_expires_at = now() - interval '1 second' WHERE id = $1",
        id
    )
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

/// Jobs of one kind waiting to run.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueDepth {
    /// Their kind.
    pub kind: JobKind,
    /// How many are queued (retries waiting for their delay included).
    pub queued: i64,
    /// Seconds the oldest of them has waited since it was created.
    pub oldest_seconds: f64,
}

/// The queue's depth per kind (kinds with nothing queued are left out).
pub async fn queue_depth(pool: &PgPool) -> Result<Vec<QueueDepth>, StoreError> {
    Ok(sqlx::query_as!(
        QueueDepth,
        r#"SELECT kind AS "kind: JobKind", count(*) AS "queued!",
                  coalesce(extract(epoch FROM now() - min(created_at))::float8, 0)
                    AS "oldest_seconds!"
             FROM jobs WHERE state = $1 GROUP BY kind ORDER BY kind"#,
        JobState::Queued as _,
    )
    .fetch_all(pool)
    .await?)
}
