//! `rolemine migrate`.

use crate::args::DatabaseArgs;
use crate::database::Database;

/// Applies pending migrations (opening the database does) and exits.
pub async fn run(args: DatabaseArgs) -> anyhow::Result<()> {
    let database = Database::open(&args).await?;
    tracing::info!("database schema is current");
    database.close().await
}
