//! `rolemine worker`.

use std::time::Duration;

use rolemine_store::PgPool;
use rolemine_worker::{
    ImportHandler, MailSettings, Mailer, MineHandler, Notifier, Worker, WorkerConfig,
};

use crate::args::{WorkerArgs, WorkerTuning};
use crate::database::Database;
use crate::shutdown;

/// Runs a worker until SIGINT/SIGTERM.
pub async fn run(args: WorkerArgs) -> anyhow::Result<()> {
    let stop = shutdown::on_signal()?;
    let mailer = mailer(&args.worker)?;
    let database = Database::open(&args.database).await?;
    let notifier = Notifier::new(database.pool.clone(), mailer, NOTIFY_INTERVAL);
    let notifying = tokio::spawn(notifier.run(stop.child_token()));
    build(database.pool.clone(), &args.worker).run(stop).await;
    if let Err(err) = notifying.await {
        tracing::error!(error = %err, "the notifier task failed");
    }
    database.close().await
}

/// A worker with every job handler the product has.
pub fn build(pool: PgPool, tuning: &WorkerTuning) -> Worker {
    let config = WorkerConfig {
        concurrency: tuning.worker_concurrency,
        lease: Duration::from_secs(tuning.job_lease.max(3)),
        ..WorkerConfig::default()
    };
    Worker::new(pool.clone(), config)
        .with_handler(ImportHandler::new(pool.clone()))
        .with_handler(MineHandler::new(pool, tuning.common_access_threshold))
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
