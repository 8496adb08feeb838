//! Role-mining session operations and their contract shapes.

use axum::extract::State;
use axum::response::Response;
use chrono::{DateTime, Utc};
use rolemine_store::sessions::{self, SessionRow};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::collection::{page, Collection, CollectionParams};
use crate::error::{ApiError, ErrorResponseDto, GuardedErrors};
use crate::state::AppState;

/// The contract's `RoleMiningSessionResponse`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RoleMiningSessionResponse {
    /// The scope as given at creation.
    #[schema(value_type = Object)]
    pub scope: Value,
    /// Minimum identities per potential role.
    pub min_num_identities_in_potential_role: Option<i32>,
    /// `MANUAL` for sessions created through the API.
    pub scoping_method: String,
    /// The threshold computed from the data.
    pub prescribed_prune_threshold: Option<i16>,
    /// The threshold asked for.
    pub prune_threshold: Option<i16>,
    /// Potential roles found.
    pub potential_role_count: i32,
    /// Potential roles stored so far.
    pub potential_roles_ready_count: i32,
    /// `{"state": ...}`.
    pub status: SessionStatus,
    /// Extension: why the session failed, when its state is `FAILED`.
    pub failure_message: Option<String>,
    /// Who is emailed when mining completes.
    pub email_recipient_id: Option<String>,
    /// The creating client.
    pub created_by: Option<CreatedBy>,
    /// Identities in scope.
    pub identity_count: Option<i32>,
    /// Saved flag.
    pub saved: bool,
    /// Saved name.
    pub name: Option<String>,
    /// Data file path (unused; kept for the contract).
    pub data_file_path: Option<String>,
    /// Session id.
    pub id: String,
    /// Creation time.
    pub created_date: DateTime<Utc>,
    /// Last change.
    pub modified_date: DateTime<Utc>,
    /// `SPECIALIZED` or `COMMON`.
    pub r#type: String,
}

/// The contract's `RoleMiningSessionStatus`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionStatus {
    /// Lifecycle state.
    pub state: String,
}

/// The contract's `EntityCreatedByDTO`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedBy {
    /// Creator id (the API client's id).
    pub id: String,
    /// Creator display name.
    pub display_name: Option<String>,
}

impl From<SessionRow> for RoleMiningSessionResponse {
    fn from(row: SessionRow) -> Self {
        Self {
            scope: row.scope,
            min_num_identities_in_potential_role: row.min_num_identities,
            scoping_method: row.scoping_method,
            prescribed_prune_threshold: row.prescribed_prune_threshold,
            prune_threshold: row.prune_threshold,
            potential_role_count: row.potential_role_count,
            potential_roles_ready_count: row.potential_roles_ready_count,
            status: SessionStatus { state: row.state },
            failure_message: row.failure_message,
            email_recipient_id: row.email_recipient_id,
            created_by: row.created_by_id.map(|id| CreatedBy {
                id,
                display_name: row.created_by_name,
            }),
            identity_count: row.identity_count,
            saved: row.saved,
            name: row.name,
            data_file_path: row.data_file_path,
            id: row.id.to_string(),
            created_date: row.created_at,
            modified_date: row.modified_at,
            r#type: row.r#type,
        }
    }
}

/// `getRoleMiningSessions`.
#[utoipa::path(
    get,
    path = "/role-mining-sessions",
    operation_id = "getRoleMiningSessions",
    tag = "IAI Role Mining",
    params(
        ("filters" = Option<String>, Query, description = "Filter fields and operators: saved (eq), name (eq, sw)"),
        ("sorters" = Option<String>, Query, description = "Sort fields: createdBy, createdDate (`-` for descending)"),
        CollectionParams,
    ),
    responses(
        (status = 200, description = "The sessions", body = Vec<RoleMiningSessionResponse>,
            headers(("X-Total-Count" = i64, description = "All matches, with count=true"))),
        (status = 400, description = "Bad collection parameters", body = ErrorResponseDto),
        GuardedErrors,
    ),
    security(("applicationAuth" = ["iai:access-modeling:read", "iai:access-modeling:manage"]))
)]
pub async fn list(
    State(state): State<AppState>,
    collection: Collection,
) -> Result<Response, ApiError> {
    let listing = collection.listing(sessions::LIST_FIELDS, sessions::LIST_SORTERS)?;
    let found = sessions::list(&state.pool, &listing).await?;
    let items: Vec<RoleMiningSessionResponse> = found.items.into_iter().map(Into::into).collect();
    Ok(page(items, found.total))
}
