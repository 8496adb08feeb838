//! Opening the configured database: `DATABASE_URL`, or the embedded default cluster.

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use rolemine_embedded::EmbeddedPostgres;
use rolemine_store::{PgConnectOptions, PgPool};

use crate::args::DatabaseArgs;

/// An open, migrated database, and the embedded cluster behind it if there is one.
pub struct Database {
    /// The connection pool.
    pub pool: PgPool,
    options: PgConnectOptions,
    max_connections: u32,
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
            let pool =
                rolemine_store::connect(options.clone(), args.db_max_connections, timeout).await?;
            rolemine_store::migrate(&pool).await?;
            anyhow::Ok(pool)
        }
        .await;
        match database {
            Ok(pool) => Ok(Self {
                pool,
                options,
                max_connections: args.db_max_connections,
                embedded,
            }),
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

    /// A pool for request handlers on the same database: statements cut off after
    /// `statement_timeout`, and a connection that cannot be had within a second is a 503 to
    /// retry rather than a request hanging on a database that is down.
    pub fn request_pool(&self, statement_timeout: Duration) -> PgPool {
        rolemine_store::database::request_pool(
            self.options.clone(),
            self.max_connections,
            statement_timeout,
        )
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
