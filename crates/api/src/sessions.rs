//! Role-mining session operations and their contract shapes.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use rolemine_domain::{
    MinIdentities, MiningMethod, OutOfRange, PruneThreshold, RoleType, Scope, ScopingMethod,
    SessionState,
};
use rolemine_store::mining;
use rolemine_store::sessions::{self, NewSession, SessionPatch, SessionRow};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Caller;
use crate::collection::{page, Collection, CollectionParams};
use crate::error::{listed_ids, or_missing, path_id, ApiError, ErrorResponseDto, GuardedErrors};
use crate::json::ApiJson;
use crate::json_patch::{boolean, integer, require_operations, text, JsonPatchOperation};
use crate::state::AppState;

/// The contract's `RoleMiningSessionResponse`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RoleMiningSessionResponse {
    /// The scope as given at creation.
    #[schema(value_type = Object)]
    pub scope: Scope,
    /// Minimum identities per potential role.
    pub min_num_identities_in_potential_role: Option<MinIdentities>,
    /// `MANUAL` for sessions created through the API.
    pub scoping_method: ScopingMethod,
    /// The threshold computed from the data.
    pub prescribed_prune_threshold: Option<PruneThreshold>,
    /// The threshold asked for.
    pub prune_threshold: Option<PruneThreshold>,
    /// Potential roles found.
    pub potential_role_count: i32,
    /// Potential roles stored so far.
    pub potential_roles_ready_count: i32,
    /// `{"state": ...}`.
    pub status: SessionStatus,
    /// Extension: why the session failed, when its state is `FAILED`.
    pub failure_message: Option<String>,
    /// Extension: since when the worker mining it has been silent (its lease ran out); null
    /// while mining progresses normally. A slow session has none; a dead worker's does.
    pub stalled_since: Option<DateTime<Utc>>,
    /// Extension: percent of the population's assignments the roles explain (an assignment is
    /// explained when its identity is in a role whose definition, the entitlements at least
    /// half its members hold, holds it); null until mined.
    pub assignments_explained_percent: Option<f64>,
    /// Extension: (member, entitlement) pairs the roles' definitions grant that the member does
    /// not hold; null until mined.
    pub over_grants: Option<i64>,
    /// Extension: percent of the population in some role; null until mined.
    pub identities_in_roles_percent: Option<f64>,
    /// Extension: how the roles are found: `PEER_GROUPS` (overlapping peer groups, the
    /// default) or `MINIMAL_COVER` (the fewest roles that explain every assignment with no
    /// over-grant).
    pub method: MiningMethod,
    /// Who is emailed when mining completes.
    pub email_recipient_id: Option<String>,
    /// The creating client.
    pub created_by: Option<CreatedBy>,
    /// Identities in scope; 0 until the population is resolved (the contract types it as a
    /// non-null integer).
    pub identity_count: i32,
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
    /// What the session mines.
    pub r#type: RoleType,
}

/// The contract's `RoleMiningSessionStatus`.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionStatus {
    /// Lifecycle state.
    pub state: SessionState,
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
            scope: row.scope.0,
            min_num_identities_in_potential_role: row.min_num_identities,
            scoping_method: row.scoping_method,
            prescribed_prune_threshold: row.prescribed_prune_threshold,
            prune_threshold: row.prune_threshold,
            potential_role_count: row.potential_role_count,
            potential_roles_ready_count: row.potential_roles_ready_count,
            status: SessionStatus { state: row.state },
            failure_message: row.failure_message,
            stalled_since: row.stalled_since,
            assignments_explained_percent: row.assignments_explained_percent,
            over_grants: row.over_grants,
            identities_in_roles_percent: row.identities_in_roles_percent,
            method: row.method,
            email_recipient_id: row.email_recipient_id,
            created_by: row.created_by_id.map(|id| CreatedBy {
                id,
                display_name: row.created_by_name,
            }),
            identity_count: row.identity_count.unwrap_or(0),
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

/// The contract's `RoleMiningSessionDto` (the create request). Output-only fields are accepted
/// and ignored.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RoleMiningSessionDto {
    /// The population: identityIds, criteria and/or attributeFilterCriteria.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub scope: Option<Scope>,
    /// 0-100; null for the prescribed threshold.
    pub prune_threshold: Option<i64>,
    /// Ignored (computed).
    pub prescribed_prune_threshold: Option<i64>,
    /// Minimum identities per potential role (default 20).
    pub min_num_identities_in_potential_role: Option<i64>,
    /// Ignored (computed).
    pub potential_role_count: Option<i64>,
    /// Ignored (computed).
    pub potential_roles_ready_count: Option<i64>,
    /// `SPECIALIZED` (default) or `COMMON`.
    pub r#type: Option<RoleType>,
    /// Extension: `PEER_GROUPS` (default) or `MINIMAL_COVER`.
    pub method: Option<MiningMethod>,
    /// Who is told when mining completes.
    pub email_recipient_id: Option<String>,
    /// Ignored (computed).
    pub identity_count: Option<i64>,
    /// Saved flag.
    pub saved: Option<bool>,
    /// Saved name.
    pub name: Option<String>,
}

/// Checks a client's number against its field's range, naming the field on failure.
fn checked<T: TryFrom<i64, Error = OutOfRange>>(
    value: Option<i64>,
    field: &str,
) -> Result<Option<T>, ApiError> {
    value
        .map(|n| T::try_from(n).map_err(|err| ApiError::BadRequest(format!("{field}: {err}"))))
        .transpose()
}

/// Checks a scope: criteria parse, chips are well formed, identity ids are known.
async fn check_scope(state: &AppState, scope: &Scope) -> Result<(), ApiError> {
    if let Some(criteria) = scope.criteria.as_deref().filter(|c| !c.trim().is_empty()) {
        rolemine_filter::parse_search(criteria)
            .map_err(|err| ApiError::BadRequest(err.to_string()))?;
    }
    for (i, chip) in scope.attribute_filter_criteria.iter().flatten().enumerate() {
        if chip.data.name.trim().is_empty() {
            return Err(ApiError::BadRequest(format!(
                "scope.attributeFilterCriteria[{i}].data.name: must not be empty"
            )));
        }
        if chip.data.values.is_empty() {
            return Err(ApiError::BadRequest(format!(
                "scope.attributeFilterCriteria[{i}].data.values: give at least one value"
            )));
        }
    }
    if let Some(ids) = &scope.identity_ids {
        let unknown = mining::unknown_identities(
            &state.pool,
            ids,
            i64::try_from(ids.len()).unwrap_or(i64::MAX),
        )
        .await?;
        if !unknown.is_empty() {
            return Err(ApiError::BadRequest(format!(
                "scope.identityIds: unknown identit{} {}",
                if unknown.len() == 1 { "y" } else { "ies" },
                listed_ids(&unknown)
            )));
        }
    }
    Ok(())
}

/// `createRoleMiningSessions`: records the session and queues its mining; 201.
#[utoipa::path(
    post,
    path = "/role-mining-sessions",
    operation_id = "createRoleMiningSessions",
    tag = "IAI Role Mining",
    request_body = RoleMiningSessionDto,
    responses(
        (status = 201, description = "Created; mining is queued", body = RoleMiningSessionResponse),
        (status = 400, description = "Bad request", body = ErrorResponseDto),
        GuardedErrors,
    ),
    security(("applicationAuth" = ["iai:access-modeling:manage"]))
)]
pub async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(request): ApiJson<RoleMiningSessionDto>,
) -> Result<Response, ApiError> {
    let scope = request.scope.unwrap_or_default();
    check_scope(&state, &scope).await?;
    let new = NewSession {
        name: request.name,
        role_type: request.r#type.unwrap_or_default(),
        scope,
        prune_threshold: checked(request.prune_threshold, "pruneThreshold")?,
        min_num_identities: checked(
            request.min_num_identities_in_potential_role,
            "minNumIdentitiesInPotentialRole",
        )?,
        method: request.method.unwrap_or_default(),
        saved: request.saved.unwrap_or(false),
        email_recipient_id: request.email_recipient_id,
        created_by_id: caller.client_id,
        created_by_name: caller.name,
    };
    let row = sessions::create(&state.pool, &new).await?;
    Ok((
        StatusCode::CREATED,
        Json(RoleMiningSessionResponse::from(row)),
    )
        .into_response())
}

/// The session `id` names, or a 404 naming it.
pub(crate) async fn session(state: &AppState, id: &str) -> Result<SessionRow, ApiError> {
    let missing = format!("role mining session {id} not found");
    or_missing(
        sessions::get(&state.pool, path_id(id, &missing)?).await,
        &missing,
    )
}

/// `getRoleMiningSession`.
#[utoipa::path(
    get,
    path = "/role-mining-sessions/{sessionId}",
    operation_id = "getRoleMiningSession",
    tag = "IAI Role Mining",
    params(("sessionId" = String, Path, description = "The session id")),
    responses(
        (status = 200, description = "The session", body = RoleMiningSessionResponse),
        (status = 404, description = "Unknown session", body = ErrorResponseDto),
        GuardedErrors,
    ),
    security(("applicationAuth" = ["iai:access-modeling:read", "iai:access-modeling:manage"]))
)]
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<RoleMiningSessionResponse>, ApiError> {
    Ok(Json(session(&state, &id).await?.into()))
}

/// The contract's `RoleMiningSessionStatus`, with the failure message as an extension.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionStatusResponse {
    /// Lifecycle state.
    pub state: SessionState,
    /// Extension: why the session failed, in state `FAILED`.
    pub failure_message: Option<String>,
    /// Extension: since when the worker mining it has been silent (its lease ran out).
    pub stalled_since: Option<DateTime<Utc>>,
}

/// `getRoleMiningSessionStatus`.
#[utoipa::path(
    get,
    path = "/role-mining-sessions/{sessionId}/status",
    operation_id = "getRoleMiningSessionStatus",
    tag = "IAI Role Mining",
    params(("sessionId" = String, Path, description = "The session id")),
    responses(
        (status = 200, description = "The session's state", body = SessionStatusResponse),
        (status = 404, description = "Unknown session", body = ErrorResponseDto),
        GuardedErrors,
    ),
    security(("applicationAuth" = ["iai:access-modeling:read", "iai:access-modeling:manage"]))
)]
pub async fn status(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<SessionStatusResponse>, ApiError> {
    let row = session(&state, &id).await?;
    Ok(Json(SessionStatusResponse {
        state: row.state,
        failure_message: row.failure_message,
        stalled_since: row.stalled_since,
    }))
}

/// The session paths a patch may change.
const PATCHABLE: &str = "/pruneThreshold, /minNumIdentitiesInPotentialRole, /saved, /name, /method";

/// Turns the operations into a [`SessionPatch`], naming the first bad one.
fn session_patch(operations: &[JsonPatchOperation]) -> Result<SessionPatch, ApiError> {
    require_operations(operations)?;
    let mut patch = SessionPatch::default();
    for (i, operation) in operations.iter().enumerate() {
        if !matches!(operation.op.as_str(), "replace" | "add") {
            return Err(ApiError::BadRequest(format!(
                "[{i}].op: `{}` is not supported on a session; use replace (or add)",
                operation.op
            )));
        }
        let at = format!("[{i}].value for {}", operation.path);
        match operation.path.as_str() {
            "/pruneThreshold" => {
                patch.prune_threshold = Some(checked(integer(&operation.value, &at)?, &at)?);
            }
            "/minNumIdentitiesInPotentialRole" => {
                patch.min_num_identities = Some(checked(integer(&operation.value, &at)?, &at)?);
            }
            "/saved" => patch.saved = Some(boolean(&operation.value, &at)?),
            "/name" => patch.name = Some(text(&operation.value, &at)?),
            "/method" => {
                let value = text(&operation.value, &at)?.unwrap_or_default();
                let method = value.parse::<MiningMethod>().map_err(|_| {
                    ApiError::BadRequest(format!(
                        "{at}: must be one of {}, got `{value}`",
                        MiningMethod::TEXTS.join(", ")
                    ))
                })?;
                patch.method = Some(method);
            }
            other => {
                return Err(ApiError::BadRequest(format!(
                    "[{i}].path: `{other}` cannot be changed; changeable: {PATCHABLE}"
                )))
            }
        }
    }
    Ok(patch)
}

/// `patchRoleMiningSession`: 202; a change of pruneThreshold, minNumIdentitiesInPotentialRole
/// or method mines the session again.
#[utoipa::path(
    patch,
    path = "/role-mining-sessions/{sessionId}",
    operation_id = "patchRoleMiningSession",
    tag = "IAI Role Mining",
    params(("sessionId" = String, Path, description = "The session id")),
    request_body(content = Vec<JsonPatchOperation>, content_type = "application/json-patch+json"),
    responses(
        (status = 202, description = "Accepted; re-mining when parameters changed", body = RoleMiningSessionResponse),
        (status = 400, description = "Bad patch", body = ErrorResponseDto),
        (status = 404, description = "Unknown session", body = ErrorResponseDto),
        GuardedErrors,
    ),
    security(("applicationAuth" = ["iai:access-modeling:manage"]))
)]
pub async fn patch(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ApiJson(operations): ApiJson<Vec<JsonPatchOperation>>,
) -> Result<Response, ApiError> {
    let existing = session(&state, &id).await?;
    let changes = session_patch(&operations)?;
    let row = or_missing(
        sessions::patch(&state.pool, existing.id, &changes).await,
        &format!("role mining session {id} not found"),
    )?;
    Ok((
        StatusCode::ACCEPTED,
        Json(RoleMiningSessionResponse::from(row)),
    )
        .into_response())
}
