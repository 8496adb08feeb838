//! The PostgreSQL job queue and the worker loop.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rolemine_store::jobs::{self, FailureOutcome, JobState};
use rolemine_worker::{JobContext, JobError, JobHandler, Worker, WorkerConfig};
use serde_json::{json, Value};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const LEASE: Duration = Duration::from_secs(30);

async fn enqueue(pool: &PgPool, kind: &str, payload: Value, max_attempts: i32) -> Uuid {
    let mut conn = pool.acquire().await.unwrap();
    jobs::enqueue(&mut conn, kind, &payload, max_attempts)
        .await
        .unwrap()
}

fn kinds(names: &[&str]) -> Vec<String> {
    names.iter().map(|k| (*k).to_owned()).collect()
}

#[sqlx::test(migrator = "rolemine_store::MIGRATOR")]
async fn claims_skip_locked_jobs_and_respect_kinds(pool: PgPool) {
    let a = enqueue(&pool, "alpha", json!({"n": 1}), 3).await;
    let b = enqueue(&pool, "alpha", json!({"n": 2}), 3).await;
    let c = enqueue(&pool, "beta", json!({}), 3).await;

    let first = jobs::claim(&pool, "w1", &kinds(&["alpha"]), LEASE)
        .await
        .unwrap()
        .unwrap();
    let second = jobs::claim(&pool, "w2", &kinds(&["alpha"]), LEASE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((first.id, second.id), (a, b), "oldest first, never twice");
    assert_eq!(first.attempts, 1);
    assert!(jobs::claim(&pool, "w3", &kinds(&["alpha"]), LEASE)
        .await
        .unwrap()
        .is_none());
    let beta = jobs::claim(&pool, "w3", &kinds(&["beta"]), LEASE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(beta.id, c);

    // Only the lease holder may finish a job.
    assert!(!jobs::complete(&pool, a, "w2").await.unwrap());
    assert!(jobs::complete(&pool, a, "w1").await.unwrap());
    assert_eq!(
        jobs::get(&pool, a).await.unwrap().state,
        JobState::Succeeded
    );
}

#[sqlx::test(migrator = "rolemine_store::MIGRATOR")]
async fn a_dead_workers_job_is_requeued_then_abandoned_after_its_last_attempt(pool: PgPool) {
    let id = enqueue(&pool, "alpha", json!({}), 2).await;
    let all = kinds(&["alpha"]);

    jobs::claim(&pool, "dead", &all, LEASE)
        .await
        .unwrap()
        .unwrap();
    jobs::expire_lease(&pool, id).await.unwrap();
    assert!(jobs::reap_expired_leases(&pool).await.unwrap().is_empty());
    let record = jobs::get(&pool, id).await.unwrap();
    assert_eq!(record.state, JobState::Queued);
    assert!(record.last_error.unwrap().contains("stopped responding"));
    // The dead worker cannot renew or finish what it lost.
    assert!(!jobs::renew(&pool, id, "dead", LEASE).await.unwrap());

    let retry = jobs::claim(&pool, "alive", &all, LEASE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(retry.attempts, 2);
    jobs::expire_lease(&pool, id).await.unwrap();
    let abandoned = jobs::reap_expired_leases(&pool).await.unwrap();
    assert_eq!(abandoned.len(), 1);
    assert_eq!(abandoned[0].id, id);
    assert_eq!(jobs::get(&pool, id).await.unwrap().state, JobState::Failed);
}

#[sqlx::test(migrator = "rolemine_store::MIGRATOR")]
async fn failures_retry_until_attempts_run_out_and_cancel_stops_renewal(pool: PgPool) {
    let id = enqueue(&pool, "alpha", json!({}), 2).await;
    let all = kinds(&["alpha"]);
    jobs::claim(&pool, "w", &all, LEASE).await.unwrap().unwrap();
    let outcome = jobs::fail(&pool, id, "w", "boom", Duration::ZERO, false)
        .await
        .unwrap();
    assert_eq!(outcome, FailureOutcome::WillRetry);
    jobs::claim(&pool, "w", &all, LEASE).await.unwrap().unwrap();
    let outcome = jobs::fail(&pool, id, "w", "boom again", Duration::ZERO, false)
        .await
        .unwrap();
    assert_eq!(outcome, FailureOutcome::GaveUp);
    let record = jobs::get(&pool, id).await.unwrap();
    assert_eq!(record.state, JobState::Failed);
    assert_eq!(record.last_error.as_deref(), Some("boom again"));

    let other = enqueue(&pool, "alpha", json!({}), 5).await;
    jobs::claim(&pool, "w", &all, LEASE).await.unwrap().unwrap();
    assert!(jobs::cancel(&pool, other).await.unwrap());
    assert!(!jobs::renew(&pool, other, "w", LEASE).await.unwrap());
    assert_eq!(
        jobs::get(&pool, other).await.unwrap().state,
        JobState::Cancelled
    );
    assert!(matches!(
        jobs::get(&pool, Uuid::new_v4()).await,
        Err(rolemine_store::StoreError::NotFound { what: "job", .. })
    ));
}

/// Succeeds when the payload says so, fails transiently `flaky` times first, or permanently.
struct TestHandler {
    runs: AtomicUsize,
    failures_recorded: Arc<std::sync::Mutex<Vec<(Uuid, String)>>>,
}

#[async_trait]
impl JobHandler for TestHandler {
    fn kind(&self) -> &'static str {
        "test"
    }

    async fn run(&self, job: JobContext) -> Result<(), JobError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        match job.payload["mode"].as_str() {
            Some("ok") => Ok(()),
            Some("flaky") if job.attempt < 2 => Err(JobError::Transient("try again".into())),
            Some("flaky") => Ok(()),
            _ => Err(JobError::Permanent("bad payload".into())),
        }
    }

    async fn on_failure(&self, job_id: Uuid, _payload: &Value, reason: &str) {
        self.failures_recorded
            .lock()
            .unwrap()
            .push((job_id, reason.to_owned()));
    }
}

#[sqlx::test(migrator = "rolemine_store::MIGRATOR")]
async fn the_worker_runs_jobs_retries_transient_failures_and_reports_permanent_ones(pool: PgPool) {
    let failures = Arc::new(std::sync::Mutex::new(Vec::new()));
    let handler = TestHandler {
        runs: AtomicUsize::new(0),
        failures_recorded: failures.clone(),
    };
    let config = WorkerConfig {
        retry_delay: Duration::ZERO,
        poll_interval: Duration::from_millis(100),
        concurrency: 2,
        ..WorkerConfig::default()
    };
    let stop = CancellationToken::new();
    let worker = tokio::spawn(
        Worker::new(pool.clone(), config)
            .with_handler(handler)
            .run(stop.clone()),
    );
    let ok = enqueue(&pool, "test", json!({"mode": "ok"}), 3).await;
    let flaky = enqueue(&pool, "test", json!({"mode": "flaky"}), 3).await;
    let bad = enqueue(&pool, "test", json!({"mode": "nonsense"}), 3).await;

    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let states = [
            jobs::get(&pool, ok).await.unwrap().state,
            jobs::get(&pool, flaky).await.unwrap().state,
            jobs::get(&pool, bad).await.unwrap().state,
        ];
        if states == [JobState::Succeeded, JobState::Succeeded, JobState::Failed] {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "jobs stuck: {states:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(jobs::get(&pool, flaky).await.unwrap().attempts, 2);
    assert_eq!(
        jobs::get(&pool, bad).await.unwrap().attempts,
        1,
        "permanent: no retry"
    );
    assert_eq!(
        *failures.lock().unwrap(),
        vec![(bad, "bad payload".to_owned())]
    );
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(10), worker)
        .await
        .unwrap()
        .unwrap();
}

/// A job whose input is gone fails at its first attempt, with the reason, instead of being
/// retried until its attempts run out.
#[sqlx::test(migrator = "rolemine_store::MIGRATOR")]
async fn a_job_whose_input_is_gone_fails_once_with_its_reason(pool: PgPool) {
    let config = WorkerConfig {
        retry_delay: Duration::ZERO,
        poll_interval: Duration::from_millis(50),
        ..WorkerConfig::default()
    };
    let stop = CancellationToken::new();
    let worker = tokio::spawn(
        Worker::new(pool.clone(), config)
            .with_handler(rolemine_worker::MineHandler::new(pool.clone(), 80.0))
            .run(stop.clone()),
    );
    let gone = Uuid::new_v4();
    let job = enqueue(
        &pool,
        rolemine_store::sessions::JOB_KIND,
        json!({"sessionId": gone, "generation": 1}),
        3,
    )
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let finished = loop {
        let row = jobs::get(&pool, job).await.unwrap();
        if row.state == JobState::Failed {
            break row;
        }
        assert!(tokio::time::Instant::now() < deadline, "{:?}", row.state);
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(finished.attempts, 1, "not retried");
    assert!(
        finished
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains(&format!("role mining session {gone} no longer exists"))),
        "{:?}",
        finished.last_error
    );
    stop.cancel();
    tokio::time::timeout(Duration::from_secs(10), worker)
        .await
        .unwrap()
        .unwrap();
}
