//! Role-mining sessions.

use chrono::{DateTime, Utc};
use rolemine_filter::{FieldSpec, Kind, Op, SorterSpec};
use sqlx::PgPool;
use uuid::Uuid;

use crate::error::StoreError;
use crate::listing::{self, Listing, Page};

/// A session as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionRow {
    /// Its id.
    pub id: Uuid,
    /// Saved name.
    pub name: Option<String>,
    /// `SPECIALIZED` or `COMMON`.
    pub r#type: String,
    /// The scope as the client gave it.
    pub scope: serde_json::Value,
    /// `MANUAL` for API-created sessions.
    pub scoping_method: String,
    /// Requested threshold, if any.
    pub prune_threshold: Option<i16>,
    /// Computed threshold.
    pub prescribed_prune_threshold: Option<i16>,
    /// Minimum role size, if set.
    pub min_num_identities: Option<i32>,
    /// Population size once resolved.
    pub identity_count: Option<i32>,
    /// Roles found.
    pub potential_role_count: i32,
    /// Roles stored so far.
    pub potential_roles_ready_count: i32,
    /// Lifecycle state.
    pub state: String,
    /// Why it failed, in state `FAILED`.
    pub failure_message: Option<String>,
    /// Saved flag.
    pub saved: bool,
    /// Who gets the completion email.
    pub email_recipient_id: Option<String>,
    /// Data file path (kept for the contract).
    pub data_file_path: Option<String>,
    /// Creator's client id.
    pub created_by_id: Option<String>,
    /// Creator's display name.
    pub created_by_name: Option<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub modified_at: DateTime<Utc>,
}

const SELECT: &str = "SELECT id, name, type, scope, scoping_method, prune_threshold, \
    prescribed_prune_threshold, min_num_identities, identity_count, potential_role_count, \
    potential_roles_ready_count, state, failure_message, saved, email_recipient_id, \
    data_file_path, created_by_id, created_by_name, created_at, modified_at \
    FROM role_mining_sessions";

/// `getRoleMiningSessions` filters, as the contract lists them.
pub const LIST_FIELDS: &[FieldSpec] = &[
    FieldSpec {
        name: "saved",
        kind: Kind::Bool,
        ops: &[Op::Eq],
        target: "saved",
    },
    FieldSpec {
        name: "name",
        kind: Kind::Text,
        ops: &[Op::Eq, Op::Sw],
        target: "name",
    },
];

/// `getRoleMiningSessions` sorters, as the contract lists them.
pub const LIST_SORTERS: &[SorterSpec] = &[
    SorterSpec {
        name: "createdBy",
        target: "created_by_name",
    },
    SorterSpec {
        name: "createdDate",
        target: "created_at",
    },
];

/// A page of sessions; newest first unless sorted otherwise.
pub async fn list(pool: &PgPool, listing: &Listing) -> Result<Page<SessionRow>, StoreError> {
    listing::fetch(
        pool,
        SELECT,
        LIST_FIELDS,
        listing,
        "created_at DESC, id",
        "id",
    )
    .await
}
