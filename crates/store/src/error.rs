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
    /// The caller's request contradicts the stored data; nothing was changed.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// A query could not be built (a caller passed something unchecked).
    #[error("cannot build the query: {0}")]
    Query(String),
    /// The caller asked to stop; the running statement was cancelled and nothing was kept.
    #[error("cancelled")]
    Cancelled,
}

/// Why a request that contradicts the stored data was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// A provisioning of the potential role is queued or running.
    #[error("potential role {0} is already being provisioned")]
    ProvisioningUnderway(uuid::Uuid),
    /// The potential role was provisioned already.
    #[error("potential role {role} is already provisioned as role {}", .provisioned.map(|id| id.to_string()).unwrap_or_default())]
    AlreadyProvisioned {
        /// The potential role.
        role: uuid::Uuid,
        /// The role it became.
        provisioned: Option<uuid::Uuid>,
    },
    /// No identity has the owner id given.
    #[error("no identity has the id {0:?}")]
    UnknownOwner(String),
    /// The potential role holds none of these entitlements (external ids, in the order given).
    #[error("the potential role holds no entitlement {}", .0.join(", "))]
    EntitlementsNotHeld(Vec<String>),
}

impl StoreError {
    /// The SQLSTATE PostgreSQL answered with, when the failure is one of its errors.
    fn sqlstate(&self) -> Option<std::borrow::Cow<'_, str>> {
        match self {
            StoreError::Database(sqlx::Error::Database(db)) => db.code(),
            _ => None,
        }
    }

    /// Whether the same call may succeed when tried again: the database unreachable, busy or
    /// restarting, or a transaction that lost a race (serialization failure, deadlock). A
    /// missing or invalid object, data the database refuses, a statement cancelled for running
    /// too long, or a query that cannot be built fail the same way every time.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Connect { .. } => true,
            StoreError::Database(err) => match err {
                sqlx::Error::Io(_)
                | sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::WorkerCrashed => true,
                // Connection exceptions, lost races, resources, shutdown or restart, a
                // read-only server after a failover, an idle-transaction timeout, system errors.
                sqlx::Error::Database(_) => self.sqlstate().is_some_and(|code| {
                    code.starts_with("08")
                        || code.starts_with("40")
                        || code.starts_with("53")
                        || code.starts_with("57P")
                        || code.starts_with("58")
                        || code == "25006"
                        || code == "25P03"
                }),
                _ => false,
            },
            StoreError::Migrate(_)
            | StoreError::NotFound { .. }
            | StoreError::Refused(_)
            | StoreError::Query(_)
            | StoreError::Cancelled => false,
        }
    }

    /// Whether PostgreSQL cancelled the statement for running past `statement_timeout`.
    pub fn is_statement_timeout(&self) -> bool {
        self.sqlstate().as_deref() == Some("57014")
    }

    /// Whether PostgreSQL refused the data itself (a data exception or a broken constraint,
    /// SQLSTATE classes 22 and 23): the same input would fail again, so it is not worth a retry.
    pub fn is_data_fault(&self) -> bool {
        self.sqlstate()
            .is_some_and(|code| code.starts_with("22") || code.starts_with("23"))
    }

    /// Why a database failure means "try again shortly", if it does: no connection to be had, the
    /// connection lost, the server shutting down or starting. (A statement cancelled for running
    /// too long is not: the same request would run as long again.)
    pub fn unavailable(&self) -> Option<String> {
        let StoreError::Database(err) = self else {
            return None;
        };
        match err {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => {
                Some("the database is unavailable or busy; retry shortly".to_owned())
            }
            sqlx::Error::Io(_) | sqlx::Error::Tls(_) => {
                Some("the connection to the database was lost; retry shortly".to_owned())
            }
            sqlx::Error::Database(db) => {
                let code = self.sqlstate()?;
                if code.starts_with("08") || code.starts_with("57P") || code == "53300" {
                    Some(format!(
                        "the database is unavailable ({}); retry shortly",
                        db.message()
                    ))
                } else {
                    None
                }
            }
            _ => None,
        }
    }
}
