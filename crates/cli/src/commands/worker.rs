//! `rolemine worker`.

use std::time::Duration;

use rolemine_store::PgPool;
use rolemine_worker::{ImportHandler, MineHandler, Worker, WorkerConfig};

use crate::args::{WorkerArgs, WorkerTuning};
use crate::database::Database;
use crate::shutdown;

/// Runs a worker until SIGINT/SIGTERM.
pub async fn run(args: WorkerArgs) -> anyhow::Result<()> {
    let stop = shutdown::on_signal()?;
    let database = Database::open(&args.database).await?;
    build(database.pool.clone(), &args.worker).run(stop).await;
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
