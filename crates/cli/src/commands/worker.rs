//! `rolemine worker`.

use std::time::Duration;

use rolemine_artifacts::Artifacts;
use rolemine_store::PgPool;
use rolemine_worker::{
    sweep_expired, ExportHandler, Handlers, ImportHandler, MailSettings, Mailer, MineHandler,
    Notifier, ProvisionHandler, Worker, WorkerConfig,
};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::args::{ArtifactArgs, WorkerArgs, WorkerTuning};
use crate::database::Database;
use crate::shutdown;

/// Runs a worker until SIGINT/SIGTERM.
pub async fn run(args: WorkerArgs) -> anyhow::Result<()> {
    let stop = shutdown::on_signal()?;
    let mailer = mailer(&args.worker)?;
    let artifacts = args.artifacts.open(&args.database.data_dir)?;
    let database = Database::open(&args.database).await?;
    let notifier = Notifier::new(database.pool.clone(), mailer, NOTIFY_INTERVAL);
    let notifying = tokio::spawn(notifier.run(stop.child_token()));
    let sweeping = sweeper(database.pool.clone(), &artifacts, &args.artifacts, &stop);
    let metrics = crate::telemetry::serve(&args.metrics, database.pool.clone(), &stop).await?;
    build(
        database.pool.clone(),
        &args.worker,
        artifacts,
        &args.artifacts,
    )
    .run(stop)
    .await;
    let tasks = [(notifying, "notifier"), (sweeping, "export sweeper")]
        .into_iter()
        .chain(metrics.map(|task| (task, "metrics server")));
    for (task, name) in tasks {
        if let Err(err) = task.await {
            tracing::error!(error = %err, "the {name} task failed");
        }
    }
    database.close().await
}

/// A worker with every job handler the product has.
pub fn build(
    pool: PgPool,
    tuning: &WorkerTuning,
    artifacts: Artifacts,
    artifact_args: &ArtifactArgs,
) -> Worker {
    let config = WorkerConfig {
        concurrency: tuning.worker_concurrency,
        lease: Duration::from_secs(tuning.job_lease.max(3)),
        ..WorkerConfig::default()
    };
    let handlers = Handlers::default()
        .import(ImportHandler::new(pool.clone()))
        .export(ExportHandler::new(
            pool.clone(),
            artifacts,
            artifact_args.ttl(),
        ))
        .provision(ProvisionHandler::new(pool.clone()))
        .mine(MineHandler::new(
            pool.clone(),
            tuning.common_access_threshold,
        ));
    Worker::new(pool, config, handlers)
}

/// The task deleting expired exports: every minute, or every `--export-ttl` when shorter.
pub fn sweeper(
    pool: PgPool,
    artifacts: &Artifacts,
    args: &ArtifactArgs,
    stop: &CancellationToken,
) -> JoinHandle<()> {
    let interval = args.ttl().min(Duration::from_secs(60));
    tokio::spawn(sweep_expired(
        pool,
        artifacts.clone(),
        interval,
        stop.child_token(),
    ))
}

/// The mailer of a worker process, checked before anything starts: a bad SMTP URL is a startup
/// error, not a silent loss of notifications.
pub fn mailer(tuning: &WorkerTuning) -> anyhow::Result<Option<Mailer>> {
    let settings = MailSettings {
        smtp_url: tuning.smtp_url.clone(),
        from: tuning.mail_from.clone(),
    };
    Ok(Mailer::from_settings(&settings)?)
}

/// How often an idle notifier looks at the outbox.
pub const NOTIFY_INTERVAL: Duration = Duration::from_secs(2);
