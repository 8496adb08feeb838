//! Connecting to PostgreSQL, applying migrations and reporting readiness.

use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgConnection, PgPool};

use crate::error::StoreError;

/// The schema migrations in the workspace's `migrations/` folder, compiled into the binary.
pub static MIGRATOR: Migrator = sqlx::migrate!("../../migrations");

/// The session settings every connection of ours runs with.
///
/// `plan_cache_mode = force_custom_plan`: sqlx prepares every statement, and after five runs
/// PostgreSQL may switch a statement to a generic plan that cannot see its parameters. A
/// filter such as `lower(name) LIKE lower($1)` then loses its index range (a 100k-member page
/// went from 3 ms to 85 ms). Planning each run costs well under a millisecond here.
pub fn with_session_settings(options: PgConnectOptions) -> PgConnectOptions {
    options.options([("plan_cache_mode", "force_custom_plan")])
}

/// Opens a pool and proves the database answers, failing within `timeout` if it does not.
pub async fn connect(
    options: PgConnectOptions,
    max_connections: u32,
    timeout: Duration,
) -> Result<PgPool, StoreError> {
    let options = with_session_settings(options)
        .log_statements(tracing::log::LevelFilter::Debug)
        // Bulk imports and mining loads are legitimately slow statements.
        .log_slow_statements(
            tracing::log::LevelFilter::Debug,
            std::time::Duration::from_secs(1),
        );
    let target = describe(&options);
    // One direct attempt first: a pool's acquire timeout would hide the real reason
    // (connection refused, unknown host, bad password) behind "pool timed out".
    let probe = tokio::time::timeout(timeout, PgConnection::connect_with(&options)).await;
    match probe {
        Ok(Ok(conn)) => conn.close().await.map_err(StoreError::Database)?,
        Ok(Err(source)) => return Err(StoreError::Connect { target, source }),
        Err(_) => {
            return Err(StoreError::Connect {
                target,
                source: sqlx::Error::PoolTimedOut,
            })
        }
    }
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(timeout)
        .connect_with(options)
        .await
        .map_err(|source| StoreError::Connect { target, source })?;
    Ok(pool)
}

/// How long a request handler waits for a connection before its request is a 503.
pub const REQUEST_ACQUIRE_TIMEOUT: Duration = Duration::from_millis(800);

/// A lazily connecting pool for request handlers: every statement is cancelled by PostgreSQL
/// after `statement_timeout` (a filter or page the client shaped cannot hold a backend longer
/// than the request may run), and waiting for a connection ends after
/// [`REQUEST_ACQUIRE_TIMEOUT`], so a database outage is answered at once.
pub fn request_pool(
    options: PgConnectOptions,
    max_connections: u32,
    statement_timeout: Duration,
) -> PgPool {
    let timeout = statement_timeout.as_millis().to_string();
    let options = with_session_settings(options)
        .options([("statement_timeout", timeout.as_str())])
        .log_statements(tracing::log::LevelFilter::Debug)
        .log_slow_statements(tracing::log::LevelFilter::Debug, Duration::from_secs(1));
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(REQUEST_ACQUIRE_TIMEOUT)
        .connect_lazy_with(options)
}

/// Applies every pending migration; applying an up-to-date schema is a no-op.
pub async fn migrate(pool: &PgPool) -> Result<(), StoreError> {
    MIGRATOR.run(pool).await?;
    Ok(())
}

/// Whether the database can serve requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    /// Reachable, every migration applied.
    Ready,
    /// Reachable, but these migration versions are not applied yet.
    PendingMigrations(Vec<i64>),
}

/// Checks that the database answers and that the schema is current.
pub async fn readiness(pool: &PgPool) -> Result<Readiness, StoreError> {
    let table_exists = sqlx::query_scalar!(
        r#"SELECT to_regclass('public._sqlx_migrations') IS NOT NULL AS "exists!""#
    )
    .fetch_one(pool)
    .await?;
    let applied: Vec<i64> = if table_exists {
        // Not a checked query: sqlx's own table is not part of the schema the macros see.
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
            .fetch_all(pool)
            .await?
    } else {
        Vec::new()
    };
    let pending: Vec<i64> = MIGRATOR
        .iter()
        .map(|m| m.version)
        .filter(|v| !applied.contains(v))
        .collect();
    Ok(if pending.is_empty() {
        Readiness::Ready
    } else {
        Readiness::PendingMigrations(pending)
    })
}

/// A human-readable connection target without credentials.
pub fn describe(options: &PgConnectOptions) -> String {
    let host = options.get_socket().map_or_else(
        || options.get_host().to_owned(),
        |socket| socket.display().to_string(),
    );
    format!(
        "{host}:{} (database {})",
        options.get_port(),
        options.get_database().unwrap_or("<default>")
    )
}

/// How long a connection attempt may take by default.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
