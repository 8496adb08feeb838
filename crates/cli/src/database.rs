//! Opening the configured database: `DATABASE_URL`, or the embedded default cluster.

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use rolemine_store::{EmbeddedPostgres, PgConnectOptions, PgPool};

use crate::args::DatabaseArgs;

/// An open, migrated database, and the embedded cluster behind it if there is one.
pub struct Database {
    /// The connection pool.
    pub pool: PgPool,
    embedded: Option<EmbeddedPostgres>,
}

impl Database {
    /// Connects (starting the embedded cluster when no URL is configured) and applies migrations.
    pub async fn open(args: &DatabaseArgs) -> anyhow::Result<Self> {
        let timeout = Duration::from_secs(args.db_connect_timeout);
        let (options, embedded) = match &args.database_url {
            Some(url) => {
                if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                    anyhow::bail!("DATABASE_URL must start with postgres:// or postgresql://");
                }
                let options = PgConnectOptions::from_str(url)
                    .context("DATABASE_URL is not a valid PostgreSQL URL")?;
                (options, None)
            }
            None => {
                let cluster = EmbeddedPostgres::start(&args.data_dir).await?;
                tracing::info!(url = %cluster.url(), "embedded PostgreSQL ready");
                (cluster.connect_options(), Some(cluster))
            }
        };
        let database = async {
            let pool = rolemine_store::connect(options, args.db_max_connections, timeout).await?;
            rolemine_store::migrate(&pool).await?;
            anyhow::Ok(pool)
        }
        .await;
        match database {
            Ok(pool) => Ok(Self { pool, embedded }),
            Err(err) => {
                if let Some(cluster) = embedded {
                    if let Err(stop) = cluster.stop().await {
                        tracing::warn!(error = %stop, "cannot stop the embedded PostgreSQL");
                    }
                }
                Err(err)
            }
        }
    }

    /// Closes the pool and stops the embedded cluster (if this process is its last user).
    pub async fn close(self) -> anyhow::Result<()> {
        self.pool.close().await;
        if let Some(cluster) = self.embedded {
            cluster.stop().await?;
        }
        Ok(())
    }
}
