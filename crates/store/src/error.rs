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
    /// No identity has the owner id given (`ownerId`, the field of the provisioning request
    /// the job carries; the worker records this text as the role's failure).
    #[error("ownerId: no identity has the id {0:?}")]
    UnknownOwner(String),
    /// A provisioning whose filter leaves the potential role no entitlement to grant.
    #[error(
        "min-entitlement-popularity={min_entitlement_popularity}, \
         include-common-access={include_common_access}: potential role {role} has no entitlement \
         these filters and its exclusions leave to grant; nothing to provision"
    )]
    NothingToGrant {
        /// The potential role.
        role: uuid::Uuid,
        /// The request's popularity floor (percent).
        min_entitlement_popularity: i32,
        /// Whether common access was kept.
        include_common_access: bool,
    },
    /// The potential role holds none of these entitlements (external ids, in the order given).
    #[error("the potential role holds no entitlement {}", .0.join(", "))]
    EntitlementsNotHeld(Vec<String>),
}

/// Why a failure may pass if the call is tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transient {
    /// No connection to be had: the server down, starting, shutting down or full.
    Unreachable,
    /// The connection broke mid-call.
    ConnectionLost,
    /// The server refused for now: a lost serialization race, a deadlock, exhausted resources.
    Contended,
}

impl StoreError {
    /// The SQLSTATE PostgreSQL answered with, when the failure is one of its errors.
    fn sqlstate(&self) -> Option<std::borrow::Cow<'_, str>> {
        match self {
            StoreError::Database(sqlx::Error::Database(db)) => db.code(),
            _ => None,
        }
    }

    /// Why the same call may succeed when tried again, if it may: the database unreachable,
    /// the connection lost, or a contended or restarting server. A missing or invalid object,
    /// data the database refuses, a statement cancelled for running too long, or a query that
    /// cannot be built fail the same way every time (`None`).
    pub fn transient(&self) -> Option<Transient> {
        let err = match self {
            StoreError::Connect { .. } => return Some(Transient::Unreachable),
            StoreError::Database(err) => err,
            StoreError::Migrate(_)
            | StoreError::NotFound { .. }
            | StoreError::Refused(_)
            | StoreError::Query(_)
            | StoreError::Cancelled => return None,
        };
        match err {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => Some(Transient::Unreachable),
            sqlx::Error::Io(_) | sqlx::Error::Tls(_) => Some(Transient::ConnectionLost),
            sqlx::Error::WorkerCrashed => Some(Transient::Contended),
            sqlx::Error::Database(_) => {
                let code = self.sqlstate()?;
                // Connection exceptions, shutdown or restart, too many connections.
                if code.starts_with("08") || code.starts_with("57P") || code == "53300" {
                    Some(Transient::Unreachable)
                // Lost races, other resources, system errors, a read-only server after a
                // failover, an idle-transaction timeout.
                } else if code.starts_with("40")
                    || code.starts_with("53")
                    || code.starts_with("58")
                    || code == "25006"
                    || code == "25P03"
                {
                    Some(Transient::Contended)
                } else {
                    None
                }
            }
            _ => None,
        }
    }

    /// Whether the same call may succeed when tried again (see [`StoreError::transient`]).
    pub fn is_transient(&self) -> bool {
        self.transient().is_some()
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
}
