//! The claim–run–record loop.

use std::sync::Arc;
use std::time::Duration;

use rolemine_domain::Job;
use rolemine_store::jobs::{self, ClaimedJob, FailureOutcome, JobNotifications};
use rolemine_store::PgPool;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{Handlers, JobContext, JobError};

/// Tuning for a [`Worker`].
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// A name unique among running workers, recorded as the lease holder.
    pub name: String,
    /// Jobs run at once. Mining uses every core by itself, so the default is one.
    pub concurrency: usize,
    /// How long a claim holds a job without renewal.
    pub lease: Duration,
    /// The longest an idle worker sleeps before polling again (notifications usually wake it).
    pub poll_interval: Duration,
    /// Wait before a failed attempt is retried.
    pub retry_delay: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            name: format!(
                "worker-{}-{}",
                std::process::id(),
                uuid::Uuid::new_v4().simple()
            ),
            concurrency: 1,
            lease: Duration::from_secs(30),
            poll_interval: Duration::from_secs(2),
            retry_delay: Duration::from_secs(5),
        }
    }
}

/// Claims and runs jobs until shut down.
pub struct Worker {
    pool: PgPool,
    config: WorkerConfig,
    handlers: Handlers,
}

impl Worker {
    /// A worker running `handlers`' kinds of jobs.
    pub fn new(pool: PgPool, config: WorkerConfig, handlers: Handlers) -> Self {
        Self {
            pool,
            config,
            handlers,
        }
    }

    /// Runs until `shutdown` fires, then waits for (and cancels) the jobs in hand.
    pub async fn run(self, shutdown: CancellationToken) {
        let kinds = self.handlers.kinds();
        tracing::info!(worker = %self.config.name, ?kinds, "worker started");
        let slots = Arc::new(Semaphore::new(self.config.concurrency.max(1)));
        let mut running = JoinSet::new();
        let mut listener = JobNotifications::new(self.pool.clone());
        let this = Arc::new(self);
        loop {
            while running.try_join_next().is_some() {}
            let permit = tokio::select! {
                _ = shutdown.cancelled() => break,
                permit = slots.clone().acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => break,
                },
            };
            this.reap().await;
            match jobs::claim(&this.pool, &this.config.name, &kinds, this.config.lease).await {
                Ok(Some(job)) => {
                    let this = this.clone();
                    let cancel = shutdown.child_token();
                    running.spawn(async move {
                        this.execute(job, cancel).await;
                        drop(permit);
                    });
                }
                Ok(None) => {
                    drop(permit);
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = listener.wait(this.config.poll_interval) => {}
                    }
                }
                Err(err) => {
                    drop(permit);
                    tracing::warn!(error = %err, "cannot claim jobs; retrying");
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(this.config.poll_interval) => {}
                    }
                }
            }
        }
        tracing::info!(worker = %this.config.name, "worker stopping");
        while running.join_next().await.is_some() {}
    }

    /// Requeues jobs of dead workers and lets handlers record the ones that ran out of attempts.
    async fn reap(&self) {
        match jobs::reap_expired_leases(&self.pool).await {
            Ok(abandoned) => {
                for abandoned in abandoned {
                    if let Ok(job) = &abandoned.job {
                        self.handlers
                            .on_failure(job, "the worker running it stopped responding")
                            .await;
                    }
                }
            }
            Err(err) => tracing::warn!(error = %err, "cannot reap expired job leases"),
        }
    }

    async fn execute(&self, claimed: ClaimedJob, cancel: CancellationToken) {
        let job = match &claimed.job {
            Ok(job) => job,
            Err(err) => {
                // Only a hand-edited row gets here; no attempt can read it.
                let error = JobError::Permanent(err.to_string());
                self.record_failure(&claimed, None, &error).await;
                return;
            }
        };
        tracing::info!(job = %claimed.id, kind = %claimed.kind, attempt = claimed.attempts, "job started");
        let started = std::time::Instant::now();
        let lease_keeper = self.keep_lease(claimed.id, cancel.clone());
        let context = JobContext {
            id: claimed.id,
            attempt: claimed.attempts,
            cancel: cancel.clone(),
        };
        let outcome = self.handlers.run(job, &context).await;
        lease_keeper.abort();
        metrics::histogram!("rolemine_job_duration_seconds", "kind" => claimed.kind.to_string())
            .record(started.elapsed().as_secs_f64());
        match outcome {
            Ok(()) => match jobs::complete(&self.pool, claimed.id, &self.config.name).await {
                Ok(true) => {
                    count_job(claimed.kind, "succeeded");
                    tracing::info!(job = %claimed.id, kind = %claimed.kind, "job succeeded")
                }
                Ok(false) => {
                    tracing::warn!(job = %claimed.id, "job finished after its lease was lost")
                }
                Err(err) => {
                    tracing::error!(job = %claimed.id, error = %err, "cannot record job success")
                }
            },
            Err(JobError::Cancelled) => {
                count_job(claimed.kind, "cancelled");
                tracing::info!(job = %claimed.id, kind = %claimed.kind, "job stopped: cancelled or lease lost");
            }
            Err(err) => self.record_failure(&claimed, Some(job), &err).await,
        }
    }

    async fn record_failure(&self, claimed: &ClaimedJob, job: Option<&Job>, err: &JobError) {
        let permanent = matches!(err, JobError::Permanent(_));
        let reason = err.to_string();
        let outcome = jobs::fail(
            &self.pool,
            claimed.id,
            &self.config.name,
            &reason,
            self.config.retry_delay,
            permanent,
        )
        .await;
        let (id, kind) = (claimed.id, claimed.kind);
        match outcome {
            Ok(FailureOutcome::WillRetry) => {
                count_job(kind, "retried");
                tracing::warn!(job = %id, %kind, error = %reason, "job attempt failed; will retry");
            }
            Ok(FailureOutcome::GaveUp) => {
                count_job(kind, "failed");
                tracing::error!(job = %id, %kind, error = %reason, "job failed");
                if let Some(job) = job {
                    self.handlers.on_failure(job, &reason).await;
                }
            }
            Ok(FailureOutcome::LeaseLost) => {
                tracing::warn!(job = %id, "job failed after its lease was lost");
            }
            Err(store) => {
                tracing::error!(job = %id, error = %store, "cannot record job failure")
            }
        }
    }

    /// Renews the lease every third of its length; if renewal is refused (the job was cancelled,
    /// or the lease already ran out and someone else took it), fires `cancel`.
    fn keep_lease(&self, id: Uuid, cancel: CancellationToken) -> tokio::task::JoinHandle<()> {
        let pool = self.pool.clone();
        let worker = self.config.name.clone();
        let lease = self.config.lease;
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(lease / 3);
            ticker.tick().await;
            loop {
                ticker.tick().await;
                match jobs::renew(&pool, id, &worker, lease).await {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::warn!(job = %id, "job lease lost or job cancelled; stopping it");
                        cancel.cancel();
                        return;
                    }
                    Err(err) => tracing::warn!(job = %id, error = %err, "cannot renew job lease"),
                }
            }
        })
    }
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("config", &self.config)
            .field("handlers", &self.handlers)
            .finish()
    }
}

/// Counts a finished attempt of a `kind` job by its outcome (`rolemine_jobs_total`).
fn count_job(kind: rolemine_domain::JobKind, outcome: &'static str) {
    metrics::counter!("rolemine_jobs_total", "kind" => kind.to_string(), "outcome" => outcome)
        .increment(1);
}
