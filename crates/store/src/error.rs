//! The store's error type.

/// What went wrong talking to PostgreSQL.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached at all.
    #[error("cannot connect to the database at {target}: {source}")]
    Connect {
        /// Where we tried to connect, without the password.
        target: String,
        /// The driver's reason.
        #[source]
        source: sqlx::Error,
    },
    /// Applying the schema migrations failed.
    #[error("cannot apply database migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A query failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A row the caller referred to does not exist.
    #[error("{what} {id} not found")]
    NotFound {
        /// The kind of object ("job", "session", ...).
        what: &'static str,
        /// The id the caller gave.
        id: String,
    },
    /// The caller's request contradicts the stored data (e.g. ids the object does not hold);
    /// the text says how.
    #[error("{0}")]
    Invalid(String),
    /// Hashing or checking a client secret failed.
    #[error("cannot process a client secret: {0}")]
    Secret(String),
    /// A query could not be built (a caller passed something unchecked).
    #[error("cannot build the query: {0}")]
    Query(String),
}
