//! The PostgreSQL job queue and the worker loop.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rolemine_domain::{ExportJob, ImportJob, Job, JobKind, JobState, MineJob};
use rolemine_store::jobs::{self, FailureOutcome};
use rolemine_worker::{Handlers, JobContext, JobError, JobHandler, Worker, WorkerConfig};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const LEASE: Duration = Duration::from_secs(30);

/// An import job on a made-up import: the queue does not look behind a job's subject.
fn import_job() -> Job {
    Job::Import(ImportJob {
        import_id: Uuid::new_v4(),
    })
}

async fn enqueue(pool: &PgPool, job: &Job) -> Uuid {
    let mut conn = pool.acquire().await.unwrap();
    jobs::enqueue(&mut conn, job).await.unwrap()
}

#[sqlx::test(migrator = "rolemine_store::MIGRATOR")]
async fn claims_skip_locked_jobs_and_respect_kinds(pool: PgPool) {
    let a = enqueue(&pool, &import_job()).await;
    let b = enqueue(&pool, &import_job()).await;
    let export = Job::Export(ExportJob {
        export_id: Uuid::new_v4(),
    });
    let c = enqueue(&pool, &export).await;
    let imports = [JobKind::Import];

    let first = jobs::claim(&pool, "w1", &imports, LEASE)
        .await
        .unwrap()
        .unwrap();
    let second = jobs::claim(&pool, "w2", &imports, LEASE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((first.id, second.id), (a, b), "oldest first, never twice");
    assert_eq!(first.attempts, 1);
    assert_eq!(first.kind, JobKind::Import);
    assert!(matches!(first.job, Ok(Job::Import(_))));
    assert!(jobs::claim(&pool, "w3", &imports, LEASE)
        .await
        .unwrap()
        .is_none());
    let claimed = jobs::claim(&pool, "w3", &[JobKind::Export], LEASE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claimed.id, c);
    assert_eq!(
        claimed.job.unwrap(),
        export,
        "the payload comes back as it went in"
    );

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
    let job = import_job();
    let id = enqueue(&pool, &job).await;
    let all = [JobKind::Import];

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

    for attempt in 2..=job.max_attempts() {
        let retry = jobs::claim(&pool, "alive", &all, LEASE)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(retry.attempts, attempt);
        jobs::expire_lease(&pool, id).await.unwrap();
        let abandoned = jobs::reap_expired_leases(&pool).await.unwrap();
        if attempt < job.max_attempts() {
            assert!(abandoned.is_empty());
        } else {
            assert_eq!(abandoned.len(), 1);
            assert_eq!(abandoned[0].id, id);
            assert_eq!(abandoned[0].job.as_ref().unwrap(), &job);
        }
    }
    assert_eq!(jobs::get(&pool, id).await.unwrap().state, JobState::Failed);
}

#[sqlx::test(migrator = "rolemine_store::MIGRATOR")]
async fn a_payload_that_does_not_fit_its_kind_fails_at_once(pool: PgPool) {
    let id = enqueue(&pool, &import_job()).await;
    sqlx::query("UPDATE jobs SET payload = '{\"sessionId\": 7}' WHERE id = $1")
        .bind(id)
        .execute(&pool)
        .await
        .unwrap();
    let worker = start_worker(&pool, Handlers::default().import(Scripted::default()));
    let record = finished(&pool, id).await;
    assert_eq!((record.state, record.attempts), (JobState::Failed, 1));
    assert!(
        record
            .last_error
            .as_deref()
            .is_some_and(|e| e.starts_with("the import-access-data job's payload is unreadable")),
        "{:?}",
        record.last_error
    );
    worker.stop().await;
}

#[sqlx::test(migrator = "rolemine_store::MIGRATOR")]
async fn failures_retry_until_attempts_run_out_and_cancel_stops_renewal(pool: PgPool) {
    let id = enqueue(&pool, &import_job()).await;
    let all = [JobKind::Import];
    for _ in 1..import_job().max_attempts() {
        jobs::claim(&pool, "w", &all, LEASE).await.unwrap().unwrap();
        let outcome = jobs::fail(&pool, id, "w", "boom", Duration::ZERO, false)
            .await
            .unwrap();
        assert_eq!(outcome, FailureOutcome::WillRetry);
    }
    jobs::claim(&pool, "w", &all, LEASE).await.unwrap().unwrap();
    let outcome = jobs::fail(&pool, id, "w", "boom again", Duration::ZERO, false)
        .await
        .unwrap();
    assert_eq!(outcome, FailureOutcome::GaveUp);
    let record = jobs::get(&pool, id).await.unwrap();
    assert_eq!(record.state, JobState::Failed);
    assert_eq!(record.last_error.as_deref(), Some("boom again"));

    let other_job = import_job();
    let other = enqueue(&pool, &other_job).await;
    jobs::claim(&pool, "w", &all, LEASE).await.unwrap().unwrap();
    assert_eq!(
        jobs::cancel_for(&pool, JobKind::Import, other_job.subject())
            .await
            .unwrap(),
        1
    );
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

/// How a scripted import job behaves.
#[derive(Debug, Clone, Copy)]
enum Mode {
    Ok,
    /// Fails transiently on its first attempt.
    Flaky,
    Bad,
}

/// Runs import jobs as scripted per import id, counting runs and recording failures.
#[derive(Default)]
struct Scripted {
    modes: HashMap<Uuid, Mode>,
    runs: AtomicUsize,
    failures: Arc<Mutex<Vec<(Uuid, String)>>>,
}

#[async_trait]
impl JobHandler<ImportJob> for Scripted {
    async fn run(&self, job: &ImportJob, context: &JobContext) -> Result<(), JobError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        match self.modes.get(&job.import_id) {
            Some(Mode::Ok) => Ok(()),
            Some(Mode::Flaky) if context.attempt < 2 => {
                Err(JobError::Transient("try again".into()))
            }
            Some(Mode::Flaky) => Ok(()),
            _ => Err(JobError::Permanent("bad payload".into())),
        }
    }

    async fn on_failure(&self, job: &ImportJob, reason: &str) {
        self.failures
            .lock()
            .unwrap()
            .push((job.import_id, reason.to_owned()));
    }
}

fn quick() -> WorkerConfig {
    WorkerConfig {
        retry_delay: Duration::ZERO,
        poll_interval: Duration::from_millis(50),
        concurrency: 2,
        ..WorkerConfig::default()
    }
}

/// A worker running `handlers` in the background, until [`RunningWorker::stop`].
struct RunningWorker {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

fn start_worker(pool: &PgPool, handlers: Handlers) -> RunningWorker {
    let stop = CancellationToken::new();
    let task = tokio::spawn(Worker::new(pool.clone(), quick(), handlers).run(stop.clone()));
    RunningWorker { stop, task }
}

impl RunningWorker {
    /// Shuts the worker down and waits (at most 10 s) for it to finish.
    async fn stop(self) {
        self.stop.cancel();
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .unwrap()
            .unwrap();
    }
}

/// Waits until the job has ended (succeeded or failed for good).
async fn finished(pool: &PgPool, id: Uuid) -> jobs::JobRecord {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let record = jobs::get(pool, id).await.unwrap();
        if matches!(record.state, JobState::Succeeded | JobState::Failed) {
            return record;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "job stuck: {record:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[sqlx::test(migrator = "rolemine_store::MIGRATOR")]
async fn the_worker_runs_jobs_retries_transient_failures_and_reports_permanent_ones(pool: PgPool) {
    let [ok, flaky, bad] = [import_job(), import_job(), import_job()];
    let mut handler = Scripted::default();
    for (job, mode) in [(&ok, Mode::Ok), (&flaky, Mode::Flaky), (&bad, Mode::Bad)] {
        handler.modes.insert(job.subject(), mode);
    }
    let failures = handler.failures.clone();
    let worker = start_worker(&pool, Handlers::default().import(handler));
    let ids = [
        enqueue(&pool, &ok).await,
        enqueue(&pool, &flaky).await,
        enqueue(&pool, &bad).await,
    ];
    let mut records = Vec::new();
    for id in ids {
        records.push(finished(&pool, id).await);
    }
    let states: Vec<JobState> = records.iter().map(|r| r.state).collect();
    assert_eq!(
        states,
        [JobState::Succeeded, JobState::Succeeded, JobState::Failed]
    );
    assert_eq!(records[1].attempts, 2);
    assert_eq!(records[2].attempts, 1, "permanent: no retry");
    assert_eq!(
        *failures.lock().unwrap(),
        vec![(bad.subject(), "bad payload".to_owned())]
    );
    worker.stop().await;
}

/// A job whose input is gone fails at its first attempt, with the reason, instead of being
/// retried until its attempts run out.
#[sqlx::test(migrator = "rolemine_store::MIGRATOR")]
async fn a_job_whose_input_is_gone_fails_once_with_its_reason(pool: PgPool) {
    let worker = start_worker(
        &pool,
        Handlers::default().mine(rolemine_worker::MineHandler::new(pool.clone(), 80.0)),
    );
    let gone = Uuid::new_v4();
    let job = enqueue(
        &pool,
        &Job::Mine(MineJob {
            session_id: gone,
            generation: 1,
        }),
    )
    .await;
    let finished = finished(&pool, job).await;
    assert_eq!(finished.state, JobState::Failed);
    assert_eq!(finished.attempts, 1, "not retried");
    assert!(
        finished
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains(&format!("role mining session {gone} no longer exists"))),
        "{:?}",
        finished.last_error
    );
    worker.stop().await;
}

/// An import whose uploaded file is gone is refused at its first attempt, with the reason on
/// the import.
#[sqlx::test(migrator = "rolemine_store::MIGRATOR")]
async fn an_import_whose_file_is_gone_fails_once_with_its_reason(pool: PgPool) {
    let id = Uuid::new_v4();
    let missing = std::env::temp_dir().join(format!("rolemine-gone-{id}.zip"));
    let record = rolemine_store::imports::create(&pool, id, missing.to_str().unwrap(), 10, None)
        .await
        .unwrap();
    let worker = start_worker(
        &pool,
        Handlers::default().import(rolemine_worker::ImportHandler::new(pool.clone())),
    );
    let job: Uuid = sqlx::query_scalar("SELECT id FROM jobs WHERE subject_id = $1")
        .bind(record.id)
        .fetch_one(&pool)
        .await
        .unwrap();
    let finished = finished(&pool, job).await;
    assert_eq!(finished.attempts, 1, "not retried: {finished:?}");
    let import = rolemine_store::imports::get(&pool, id).await.unwrap();
    assert_eq!(import.state, rolemine_domain::ImportState::Error);
    let message = import.errors.join("; ");
    assert!(
        message.contains(&format!("rolemine-gone-{id}.zip")),
        "the reason names the file: {message}"
    );
    worker.stop().await;
}
