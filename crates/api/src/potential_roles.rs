//! Potential-role operations (per session and across sessions) and their contract shapes.

use std::collections::BTreeMap;

use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use rolemine_domain::{
    ActivitySourceState, IdentityGroupStatus, MinIdentities, ProvisionState, PruneThreshold,
    RoleType, Scope, ScopingMethod, SessionState,
};
use rolemine_store::potential_roles::{
    self as store, DraftRow, EntitlementView, MemberRow, Reference, RoleDetail, RoleEntitlementRow,
    RolePatch, RoleRow, UsageRow,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::collection::{page, Collection, CollectionParams};
use crate::error::{or_missing, path_id, ApiError, ErrorResponseDto, GuardedErrors};
use crate::json::ApiJson;
use crate::json_patch::{boolean, require_operations, text, JsonPatchOperation};
use crate::page_cache::SessionPage;
use crate::query::QueryParams;
use crate::sessions::{session, CreatedBy};
use crate::state::AppState;
use rolemine_store::sessions;

/// The contract's `RoleMiningPotentialRoleRef`, and the `{id, name}` items of the applications
/// and entitlements lists (`RoleMiningPotentialRoleApplication`,
/// `RoleMiningPotentialRoleEntitlements`).
#[derive(Debug, Serialize, ToSchema)]
pub struct IdName {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
}

impl From<Reference> for IdName {
    fn from(row: Reference) -> Self {
        IdName {
            id: row.id,
            name: row.name,
        }
    }
}

/// The contract's `RoleMiningSessionParametersDto`: the session a potential role came from.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionParameters {
    /// Session id.
    pub id: String,
    /// Session name.
    pub name: Option<String>,
    /// Minimum identities per potential role.
    pub min_num_identities_in_potential_role: Option<MinIdentities>,
    /// The threshold asked for.
    pub prune_threshold: Option<PruneThreshold>,
    /// Saved flag.
    pub saved: bool,
    /// The scope as given.
    #[schema(value_type = Object)]
    pub scope: Scope,
    /// What the session mines.
    pub r#type: RoleType,
    /// Lifecycle state.
    pub state: SessionState,
    /// `MANUAL` for sessions created through the API.
    pub scoping_method: ScopingMethod,
}

/// The stored provisioning state as served: `POTENTIAL` (never provisioned) is null.
fn provision_state(stored: ProvisionState) -> Option<ProvisionState> {
    (stored != ProvisionState::Potential).then_some(stored)
}

/// The contract's `RoleMiningPotentialRoleSummary`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RoleMiningPotentialRoleSummary {
    /// Potential role id.
    pub id: String,
    /// Name.
    pub name: String,
    /// `{id, name}` of the role.
    pub potential_role_ref: IdName,
    /// Members.
    pub identity_count: i32,
    /// Entitlements, without the excluded ones.
    pub entitlement_count: i32,
    /// `OBTAINED`: members are stored with the role.
    pub identity_group_status: IdentityGroupStatus,
    /// `PENDING`, `COMPLETE` or `FAILED`; null while the role was never provisioned (the
    /// newer contract versions declare it nullable, and the 2.x SDK cannot read `POTENTIAL`).
    pub provision_state: Option<ProvisionState>,
    /// The provisioned role, once provisioned.
    pub role_id: Option<String>,
    /// 0-100.
    pub density: i16,
    /// 0-100.
    pub freshness: i16,
    /// 0-100.
    pub quality: i16,
    /// What its session mined.
    pub r#type: RoleType,
    /// The client that created the session.
    pub created_by: Option<CreatedBy>,
    /// When it was mined.
    pub created_date: DateTime<Utc>,
    /// Saved flag.
    pub saved: bool,
    /// Description.
    pub description: Option<String>,
    /// The session's parameters.
    pub session: SessionParameters,
    /// Extension: the share of its members' access the role explains, as mined.
    pub access_explained_percent: Option<f64>,
}

/// The contract's `RoleMiningPotentialRole`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RoleMiningPotentialRole {
    /// The client that created the session.
    pub created_by: Option<CreatedBy>,
    /// 0-100.
    pub density: i16,
    /// Description.
    pub description: Option<String>,
    /// Entitlements, without the excluded ones.
    pub entitlement_count: i32,
    /// Ids of the excluded entitlements.
    pub excluded_entitlements: Vec<String>,
    /// 0-100.
    pub freshness: i16,
    /// Members.
    pub identity_count: i32,
    /// Members per identity attribute value.
    #[schema(value_type = Vec<Object>)]
    pub identity_distribution: Value,
    /// Member ids.
    pub identity_ids: Vec<String>,
    /// Name.
    pub name: String,
    /// `PENDING`, `COMPLETE` or `FAILED`; null while the role was never provisioned (the
    /// newer contract versions declare it nullable, and the 2.x SDK cannot read `POTENTIAL`).
    pub provision_state: Option<ProvisionState>,
    /// Extension: why provisioning failed, in state `FAILED`.
    pub provision_failure_message: Option<String>,
    /// 0-100.
    pub quality: i16,
    /// The provisioned role, once provisioned.
    pub role_id: Option<String>,
    /// Saved flag.
    pub saved: bool,
    /// The session's parameters.
    pub session: SessionParameters,
    /// Extension: the share of its members' access the role explains, as mined.
    pub access_explained_percent: Option<f64>,
    /// What its session mined.
    pub r#type: RoleType,
    /// Potential role id.
    pub id: String,
    /// When it was mined.
    pub created_date: DateTime<Utc>,
    /// Last change.
    pub modified_date: DateTime<Utc>,
}

fn session_parameters(row: &RoleRow) -> SessionParameters {
    SessionParameters {
        id: row.session_id.to_string(),
        name: row.session_name.clone(),
        min_num_identities_in_potential_role: row.session_min_num_identities,
        prune_threshold: row.session_prune_threshold,
        saved: row.session_saved,
        scope: row.session_scope.0.clone(),
        r#type: row.session_type,
        state: row.session_state,
        scoping_method: row.session_scoping_method,
    }
}

fn created_by(row: &RoleRow) -> Option<CreatedBy> {
    row.created_by_id.clone().map(|id| CreatedBy {
        id,
        display_name: row.created_by_name.clone(),
    })
}

impl From<RoleRow> for RoleMiningPotentialRoleSummary {
    fn from(row: RoleRow) -> Self {
        Self {
            session: session_parameters(&row),
            created_by: created_by(&row),
            id: row.id.to_string(),
            potential_role_ref: IdName {
                id: row.id.to_string(),
                name: row.name.clone(),
            },
            name: row.name,
            identity_count: row.identity_count,
            entitlement_count: row.entitlement_count,
            identity_group_status: IdentityGroupStatus::Obtained,
            provision_state: provision_state(row.provision_state),
            role_id: row.role_id.map(|id| id.to_string()),
            density: row.density,
            freshness: row.freshness,
            quality: row.quality,
            r#type: row.r#type,
            created_date: row.created_at,
            saved: row.saved,
            description: row.description,
            access_explained_percent: row.access_explained_percent,
        }
    }
}

impl From<RoleDetail> for RoleMiningPotentialRole {
    fn from(detail: RoleDetail) -> Self {
        let row = detail.role;
        Self {
            session: session_parameters(&row),
            created_by: created_by(&row),
            density: row.density,
            description: row.description,
            entitlement_count: row.entitlement_count,
            excluded_entitlements: detail.excluded_entitlements,
            freshness: row.freshness,
            identity_count: row.identity_count,
            identity_distribution: row.identity_distribution,
            identity_ids: detail.identity_ids,
            name: row.name,
            provision_state: provision_state(row.provision_state),
            provision_failure_message: row.provision_failure,
            quality: row.quality,
            role_id: row.role_id.map(|id| id.to_string()),
            saved: row.saved,
            access_explained_percent: row.access_explained_percent,
            r#type: row.r#type,
            id: row.id.to_string(),
            created_date: row.created_at,
            modified_date: row.modified_at,
        }
    }
}

/// The contract's `RoleMiningEntitlementRef`.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoleMiningEntitlementRef {
    /// Entitlement id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// The account attribute that holds it.
    pub attribute: String,
}

/// The contract's `RoleMiningEntitlement`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RoleMiningEntitlement {
    /// The entitlement.
    pub entitlement_ref: RoleMiningEntitlementRef,
    /// Its name.
    pub name: String,
    /// Its source's name.
    pub application_name: String,
    /// Members holding it.
    pub identity_count: i32,
    /// Percent of members holding it.
    pub popularity: f64,
    /// Percent of the session's population holding it.
    pub popularity_in_org: f64,
    /// Its source's id.
    pub source_id: String,
    /// `complete` when usage data exists for its source, else `notComplete`.
    pub activity_source_state: ActivitySourceState,
    /// Percent of members with usage of its source.
    pub source_usage_percent: f64,
    /// Extension: whether it is common access in the session.
    pub common_access: bool,
}

fn entitlement(row: RoleEntitlementRow, members: i32) -> RoleMiningEntitlement {
    let source_usage_percent = if members > 0 {
        f64::from(row.members_with_usage) * 100.0 / f64::from(members)
    } else {
        0.0
    };
    RoleMiningEntitlement {
        entitlement_ref: RoleMiningEntitlementRef {
            id: row.id,
            name: row.name.clone(),
            description: row.description,
            attribute: row.attribute,
        },
        name: row.name,
        application_name: row.application_name,
        identity_count: row.identity_count,
        popularity: row.popularity,
        popularity_in_org: row.popularity_in_org,
        source_id: row.source_id,
        activity_source_state: if row.usage_known {
            ActivitySourceState::Complete
        } else {
            ActivitySourceState::NotComplete
        },
        source_usage_percent,
        common_access: row.common_access,
    }
}

/// The contract's `RoleMiningIdentity`.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoleMiningIdentity {
    /// Identity id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Identity attributes.
    #[schema(value_type = Object)]
    pub attributes: Value,
}

impl From<MemberRow> for RoleMiningIdentity {
    fn from(row: MemberRow) -> Self {
        Self {
            id: row.id,
            name: row.name,
            attributes: row.attributes,
        }
    }
}

/// The contract's `RoleMiningPotentialRoleSourceUsage`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RoleMiningPotentialRoleSourceUsage {
    /// Identity id.
    pub id: String,
    /// Its name.
    pub display_name: String,
    /// Its email; left out when the identity has none (the contract types it as a non-null
    /// string).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Days with usage of the source in the last 90.
    pub usage_count: i32,
}

impl From<UsageRow> for RoleMiningPotentialRoleSourceUsage {
    fn from(row: UsageRow) -> Self {
        Self {
            id: row.id,
            display_name: row.display_name,
            email: row.email,
            usage_count: row.usage_count,
        }
    }
}

/// The contract's `RoleMiningSessionDraftRoleDto`: a saved potential role.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RoleMiningSessionDraftRoleDto {
    /// Name.
    pub name: String,
    /// Description; left out when there is none (the contract types it as a non-null string
    /// here, unlike on the potential role).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Member ids.
    pub identity_ids: Vec<String>,
    /// Its entitlements (not the excluded ones).
    pub entitlement_ids: Vec<String>,
    /// Excluded entitlement ids.
    pub excluded_entitlements: Vec<String>,
    /// Last change.
    pub modified: DateTime<Utc>,
    /// What its session mined.
    pub r#type: RoleType,
    /// Potential role id.
    pub id: String,
    /// When it was mined.
    pub created_date: DateTime<Utc>,
    /// Last change.
    pub modified_date: DateTime<Utc>,
}

impl From<DraftRow> for RoleMiningSessionDraftRoleDto {
    fn from(row: DraftRow) -> Self {
        Self {
            name: row.name,
            description: row.description,
            identity_ids: row.identity_ids,
            entitlement_ids: row.entitlement_ids,
            excluded_entitlements: row.excluded_entitlements,
            modified: row.modified_at,
            r#type: row.r#type,
            id: row.id.to_string(),
            created_date: row.created_at,
            modified_date: row.modified_at,
        }
    }
}

/// The contract's `RoleMiningPotentialRoleEditEntitlements`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleMiningPotentialRoleEditEntitlements {
    /// Entitlement ids to exclude or bring back.
    pub ids: Option<Vec<String>>,
    /// `true`: exclude them; `false`: take them off the exclusion list.
    pub exclude: Option<bool>,
}

/// The `includeCommonAccess` query parameter (default `true`).
#[derive(Debug, Clone, Copy)]
pub struct IncludeCommonAccess(pub bool);

impl<S: Send + Sync> FromRequestParts<S> for IncludeCommonAccess {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let params = QueryParams::from_request_parts(parts, state).await?;
        Ok(Self(params.flag("includeCommonAccess", true)?))
    }
}

/// Extension query flag `includeIdentityIds` (default `true`): `false` leaves a role's member
/// ids out of its body (an empty `identityIds`), so a page showing a 100k-member role does not
/// download 100k ids it pages through anyway.
pub struct IncludeIdentityIds(pub bool);

impl<S: Send + Sync> FromRequestParts<S> for IncludeIdentityIds {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let params = QueryParams::from_request_parts(parts, state).await?;
        Ok(Self(params.flag("includeIdentityIds", true)?))
    }
}

/// The potential role `role` of session `session`: 404 naming the session when it does not
/// exist, naming the role when the session did not mine it.
pub(crate) async fn role_in_session(
    state: &AppState,
    session_id: &str,
    role: &str,
) -> Result<RoleRow, ApiError> {
    let session = session(state, session_id).await?.id;
    let missing = format!("potential role {role} not found in role mining session {session_id}");
    let id = path_id(role, &missing)?;
    or_missing(store::get(&state.pool, Some(session), id).await, &missing)
}

/// The potential role `role` of any session, or a 404 naming it.
pub(crate) async fn any_role(state: &AppState, role: &str) -> Result<RoleRow, ApiError> {
    let missing = format!("potential role {role} not found");
    or_missing(
        store::get(&state.pool, None, path_id(role, &missing)?).await,
        &missing,
    )
}

/// The potential-role paths a patch may change.
const PATCHABLE: &str = "/name, /description, /saved";

/// Turns the operations into a [`RolePatch`], naming the first bad one.
fn role_patch(operations: &[JsonPatchOperation]) -> Result<RolePatch, ApiError> {
    require_operations(operations)?;
    let mut patch = RolePatch::default();
    for (i, operation) in operations.iter().enumerate() {
        let remove = match operation.op.as_str() {
            "remove" => true,
            "replace" => false,
            other => {
                return Err(ApiError::BadRequest(format!(
                "[{i}].op: `{other}` is not supported on a potential role; use replace or remove"
            )))
            }
        };
        let at = format!("[{i}].value for {}", operation.path);
        match operation.path.as_str() {
            "/name" if remove => patch.name = Some(None),
            "/name" => match text(&operation.value, &at)? {
                Some(name) if !name.trim().is_empty() => patch.name = Some(Some(name)),
                _ => {
                    return Err(ApiError::BadRequest(format!(
                        "{at}: must be a non-empty string (use remove to restore the mined name)"
                    )))
                }
            },
            "/description" if remove => patch.description = Some(None),
            "/description" => patch.description = Some(text(&operation.value, &at)?),
            "/saved" if remove => patch.saved = Some(false),
            "/saved" => patch.saved = Some(boolean(&operation.value, &at)?),
            other => {
                return Err(ApiError::BadRequest(format!(
                    "[{i}].path: `{other}` cannot be changed; changeable: {PATCHABLE}"
                )))
            }
        }
    }
    Ok(patch)
}

/// `getPotentialRoleSummaries`.
#[utoipa::path(
    get,
    path = "/role-mining-sessions/{sessionId}/potential-role-summaries",
    operation_id = "getPotentialRoleSummaries",
    tag = "IAI Role Mining",
    params(
        ("sessionId" = String, Path, description = "The session id"),
        ("filters" = Option<String>, Query, description = "createdById, createdByName (eq, sw, co), description (sw, co), endDate (le, lt), freshness, quality (eq, ge, gt, le, lt), name (eq, sw, co), startDate (ge, gt), saved (eq), type (eq)"),
        ("sorters" = Option<String>, Query, description = "createdDate"),
        CollectionParams,
    ),
    responses(
        (status = 200, description = "The session's potential roles", body = Vec<RoleMiningPotentialRoleSummary>),
        (status = 400, description = "Bad collection parameters", body = ErrorResponseDto),
        (status = 404, description = "Unknown session", body = ErrorResponseDto),
        GuardedErrors,
    ),
    security(("applicationAuth" = ["iai:access-modeling:read", "iai:access-modeling:manage"]))
)]
pub async fn session_summaries(
    State(state): State<AppState>,
    Path(session_id): Path<String>,
    uri: Uri,
    collection: Collection,
) -> Result<Response, ApiError> {
    let listing = collection.listing(
        store::SESSION_SUMMARY_FIELDS,
        store::SESSION_SUMMARY_SORTERS,
    )?;
    let missing = format!("role mining session {session_id} not found");
    let session = path_id(&session_id, &missing)?;
    let version = or_missing(sessions::read_version(&state.pool, session).await, &missing)?;
    let query = uri.query().unwrap_or_default();
    let cached = SessionPage::Summaries;
    if let Some(hit) = state.pages.get(session, version, cached, query) {
        return Ok(hit);
    }
    let found = store::list_in_session(&state.pool, session, &listing).await?;
    let items: Vec<RoleMiningPotentialRoleSummary> =
        found.items.into_iter().map(Into::into).collect();
    Ok(state
        .pages
        .store(session, version, cached, query, &items, found.total)?)
}

/// `getPotentialRole`.
#[utoipa::path(
    get,
    path = "/role-mining-sessions/{sessionId}/potential-role-summaries/{potentialRoleId}",
    operation_id = "getPotentialRole",
    tag = "IAI Role Mining",
    params(
        ("sessionId" = String, Path, description = "The session id"),
        ("potentialRoleId" = String, Path, description = "The potential role id"),
        ("includeIdentityIds" = Option<bool>, Query, description = "Extension: false leaves out the member ids (default true)"),
    ),
    responses(
        (status = 200, description = "The potential role", body = RoleMiningPotentialRole),
        (status = 404, description = "Unknown session or potential role", body = ErrorResponseDto),
        GuardedErrors,
    ),
    security(("applicationAuth" = ["iai:access-modeling:read", "iai:access-modeling:manage"]))
)]
pub async fn get_in_session(
    State(state): State<AppState>,
    Path((session_id, role)): Path<(String, String)>,
    IncludeIdentityIds(members): IncludeIdentityIds,
) -> Result<Json<RoleMiningPotentialRole>, ApiError> {
    let row = role_in_session(&state, &session_id, &role).await?;
    let detail = store::detail(&state.pool, Some(row.session_id), row.id, members).await?;
    Ok(Json(detail.into()))
}

/// `patchPotentialRoleSession`.
#[utoipa::path(
    patch,
    path = "/role-mining-sessions/{sessionId}/potential-role-summaries/{potentialRoleId}",
    operation_id = "patchPotentialRoleSession",
    tag = "IAI Role Mining",
    params(
        ("sessionId" = String, Path, description = "The session id"),
        ("potentialRoleId" = String, Path, description = "The potential role id"),
    ),
    request_body(content = Vec<JsonPatchOperation>, content_type = "application/json-patch+json"),
    responses(
        (status = 200, description = "The changed potential role", body = RoleMiningPotentialRole),
        (status = 400, description = "Bad patch", body = ErrorResponseDto),
        (status = 404, description = "Unknown session or potential role", body = ErrorResponseDto),
        GuardedErrors,
    ),
    security(("applicationAuth" = ["iai:access-modeling:manage"]))
)]
pub async fn patch_in_session(
    State(state): State<AppState>,
    Path((session_id, role)): Path<(String, String)>,
    ApiJson(operations): ApiJson<Vec<JsonPatchOperation>>,
) -> Result<Json<RoleMiningPotentialRole>, ApiError> {
    let row = role_in_session(&state, &session_id, &role).await?;
    let changes = role_patch(&operations)?;
    let detail = store::patch(&state.pool, Some(row.session_id), row.id, &changes).await?;
    Ok(Json(detail.into()))
}

/// `getPotentialRoleApplications`.
#[utoipa::path(
    get,
    path = "/role-mining-sessions/{sessionId}/potential-role-summaries/{potentialRoleId}/applications",
    operation_id = "getPotentialRoleApplications",
    tag = "IAI Role Mining",
    params(
        ("sessionId" = String, Path, description = "The session id"),
        ("potentialRoleId" = String, Path, description = "The potential role id"),
        ("filters" = Option<String>, Query, description = "applicationName (sw)"),
        CollectionParams,
    ),
    responses(
        (status = 200, description = "Sources of the role's entitlements", body = Vec<IdName>),
        (status = 400, description = "Bad collection parameters", body = ErrorResponseDto),
        (status = 404, description = "Unknown session or potential role", body = ErrorResponseDto),
        GuardedErrors,
    ),
    security(("applicationAuth" = ["iai:access-modeling:read", "iai:access-modeling:manage"]))
)]
pub async fn applications(
    State(state): State<AppState>,
    Path((session_id, role)): Path<(String, String)>,
    collection: Collection,
) -> Result<Response, ApiError> {
    let listing = collection.listing(store::APPLICATION_FIELDS, &[])?;
    let row = role_in_session(&state, &session_id, &role).await?;
    let found = store::applications(&state.pool, row.id, &listing).await?;
    let items: Vec<IdName> = found.items.into_iter().map(Into::into).collect();
    Ok(page(items, found.total))
}

/// `getPotentialRoleEntitlements`.
#[utoipa::path(
    get,
    path = "/role-mining-sessions/{sessionId}/potential-role-summaries/{potentialRoleId}/entitlements",
    operation_id = "getPotentialRoleEntitlements",
    tag = "IAI Role Mining",
    params(
        ("sessionId" = String, Path, description = "The session id"),
        ("potentialRoleId" = String, Path, description = "The potential role id"),
        ("filters" = Option<String>, Query, description = "entitlementRef.name (sw)"),
        CollectionParams,
    ),
    responses(
        (status = 200, description = "The role's entitlements, most popular first", body = Vec<IdName>),
        (status = 400, description = "Bad collection parameters", body = ErrorResponseDto),
        (status = 404, description = "Unknown session or potential role", body = ErrorResponseDto),
        GuardedErrors,
    ),
    security(("applicationAuth" = ["iai:access-modeling:read", "iai:access-modeling:manage"]))
)]
pub async fn role_entitlements(
    State(state): State<AppState>,
    Path((session_id, role)): Path<(String, String)>,
    collection: Collection,
) -> Result<Response, ApiError> {
    let listing = collection.listing(store::ROLE_ENTITLEMENT_FIELDS, &[])?;
    let row = role_in_session(&state, &session_id, &role).await?;
    let found = store::entitlement_refs(&state.pool, row.id, &listing).await?;
    let items: Vec<IdName> = found.items.into_iter().map(Into::into).collect();
    Ok(page(items, found.total))
}

/// `getEntitlementsPotentialRole`: the role's entitlements with popularities.
#[utoipa::path(
    get,
    path = "/role-mining-sessions/{sessionId}/potential-roles/{potentialRoleId}/entitlement-popularities",
    operation_id = "getEntitlementsPotentialRole",
    tag = "IAI Role Mining",
    params(
        ("sessionId" = String, Path, description = "The session id"),
        ("potentialRoleId" = String, Path, description = "The potential role id"),
        ("includeCommonAccess" = Option<bool>, Query, description = "Add the members' common-access entitlements (default true)"),
        ("filters" = Option<String>, Query, description = "applicationName (sw), entitlementRef.name (sw)"),
        ("sorters" = Option<String>, Query, description = "popularity, entitlementName, applicationName (default: popularity descending)"),
        CollectionParams,
    ),
    responses(
        (status = 200, description = "The role's entitlements", body = Vec<RoleMiningEntitlement>),
        (status = 400, description = "Bad collection parameters", body = ErrorResponseDto),
        (status = 404, description = "Unknown session or potential role", body = ErrorResponseDto),
        GuardedErrors,
    ),
    security(("applicationAuth" = ["iai:access-modeling:read", "iai:access-modeling:manage"]))
)]
pub async fn popularities(
    State(state): State<AppState>,
    Path((session_id, role)): Path<(String, String)>,
    IncludeCommonAccess(include_common_access): IncludeCommonAccess,
    collection: Collection,
) -> Result<Response, ApiError> {
    let listing = collection.listing(store::ENTITLEMENT_FIELDS, store::POPULARITY_SORTERS)?;
    let row = role_in_session(&state, &session_id, &role).await?;
    let view = EntitlementView::Kept {
        include_common_access,
    };
    entitlement_page(&state, &row, view, &listing).await
}

async fn entitlement_page(
    state: &AppState,
    row: &RoleRow,
    view: EntitlementView,
    listing: &rolemine_store::listing::Listing,
) -> Result<Response, ApiError> {
    let found = store::entitlements(&state.pool, row.id, view, listing).await?;
    let items: Vec<RoleMiningEntitlement> = found
        .items
        .into_iter()
        .map(|item| entitlement(item, row.identity_count))
        .collect();
    Ok(page(items, found.total))
}

/// `getEntitlementDistributionPotentialRole`.
#[utoipa::path(
    get,
    path = "/role-mining-sessions/{sessionId}/potential-roles/{potentialRoleId}/entitlement-popularity-distribution",
    operation_id = "getEntitlementDistributionPotentialRole",
    tag = "IAI Role Mining",
    params(
        ("sessionId" = String, Path, description = "The session id"),
        ("potentialRoleId" = String, Path, description = "The potential role id"),
        ("includeCommonAccess" = Option<bool>, Query, description = "Count the members' common-access entitlements too (default true)"),
    ),
    responses(
        (status = 200, description = "Popularity percent (\"0\" to \"100\") to the number of entitlements with it", body = HashMap<String, i64>),
        (status = 404, description = "Unknown session or potential role", body = ErrorResponseDto),
        GuardedErrors,
    ),
    security(("applicationAuth" = ["iai:access-modeling:read", "iai:access-modeling:manage"]))
)]
pub async fn distribution(
    State(state): State<AppState>,
    Path((session_id, role)): Path<(String, String)>,
    IncludeCommonAccess(include_common_access): IncludeCommonAccess,
) -> Result<Json<BTreeMap<String, i64>>, ApiError> {
    let row = role_in_session(&state, &session_id, &role).await?;
    let view = EntitlementView::Kept {
        include_common_access,
    };
    Ok(Json(
        store::popularity_distribution(&state.pool, row.id, view).await?,
    ))
}

/// `updateEntitlementsPotentialRole`: excludes entitlements or brings them back; 201 with the
/// rescored role.
#[utoipa::path(
    post,
    path = "/role-mining-sessions/{sessionId}/potential-roles/{potentialRoleId}/edit-entitlements",
    operation_id = "updateEntitlementsPotentialRole",
    tag = "IAI Role Mining",
    params(
        ("sessionId" = String, Path, description = "The session id"),
        ("potentialRoleId" = String, Path, description = "The potential role id"),
    ),
    request_body = RoleMiningPotentialRoleEditEntitlements,
    responses(
        (status = 201, description = "The potential role with its new counts and metrics", body = RoleMiningPotentialRole),
        (status = 400, description = "Bad request, or ids the role does not hold", body = ErrorResponseDto),
        (status = 404, description = "Unknown session or potential role", body = ErrorResponseDto),
        GuardedErrors,
    ),
    security(("applicationAuth" = ["iai:access-modeling:manage"]))
)]
pub async fn edit_entitlements(
    State(state): State<AppState>,
    Path((session_id, role)): Path<(String, String)>,
    ApiJson(request): ApiJson<RoleMiningPotentialRoleEditEntitlements>,
) -> Result<Response, ApiError> {
    let row = role_in_session(&state, &session_id, &role).await?;
    let ids = request
        .ids
        .filter(|ids| !ids.is_empty())
        .ok_or_else(|| ApiError::BadRequest("ids: give at least one entitlement id".to_owned()))?;
    let exclude = request.exclude.ok_or_else(|| {
        ApiError::BadRequest(
            "exclude: required; true excludes the ids, false brings them back".to_owned(),
        )
    })?;
    let detail =
        store::edit_entitlements(&state.pool, row.session_id, row.id, &ids, exclude).await?;
    Ok((
        StatusCode::CREATED,
        Json(RoleMiningPotentialRole::from(detail)),
    )
        .into_response())
}

/// `getExcludedEntitlementsPotentialRole`.
#[utoipa::path(
    get,
    path = "/role-mining-sessions/{sessionId}/potential-roles/{potentialRoleId}/excluded-entitlements",
    operation_id = "getExcludedEntitlementsPotentialRole",
    tag = "IAI Role Mining",
    params(
        ("sessionId" = String, Path, description = "The session id"),
        ("potentialRoleId" = String, Path, description = "The potential role id"),
        ("filters" = Option<String>, Query, description = "applicationName (sw), entitlementRef.name (sw)"),
        ("sorters" = Option<String>, Query, description = "popularity"),
        CollectionParams,
    ),
    responses(
        (status = 200, description = "The excluded entitlements", body = Vec<RoleMiningEntitlement>),
        (status = 400, description = "Bad collection parameters", body = ErrorResponseDto),
        (status = 404, description = "Unknown session or potential role", body = ErrorResponseDto),
        GuardedErrors,
    ),
    security(("applicationAuth" = ["iai:access-modeling:read", "iai:access-modeling:manage"]))
)]
pub async fn excluded(
    State(state): State<AppState>,
    Path((session_id, role)): Path<(String, String)>,
    collection: Collection,
) -> Result<Response, ApiError> {
    let listing = collection.listing(store::ENTITLEMENT_FIELDS, store::EXCLUDED_SORTERS)?;
    let row = role_in_session(&state, &session_id, &role).await?;
    entitlement_page(&state, &row, EntitlementView::Excluded, &listing).await
}

/// `getIdentitiesPotentialRole`.
#[utoipa::path(
    get,
    path = "/role-mining-sessions/{sessionId}/potential-roles/{potentialRoleId}/identities",
    operation_id = "getIdentitiesPotentialRole",
    tag = "IAI Role Mining",
    params(
        ("sessionId" = String, Path, description = "The session id"),
        ("potentialRoleId" = String, Path, description = "The potential role id"),
        ("filters" = Option<String>, Query, description = "name (sw)"),
        ("sorters" = Option<String>, Query, description = "name"),
        CollectionParams,
    ),
    responses(
        (status = 200, description = "The role's members", body = Vec<RoleMiningIdentity>),
        (status = 400, description = "Bad collection parameters", body = ErrorResponseDto),
        (status = 404, description = "Unknown session or potential role", body = ErrorResponseDto),
        GuardedErrors,
    ),
    security(("applicationAuth" = ["iai:access-modeling:read", "iai:access-modeling:manage"]))
)]
pub async fn identities(
    State(state): State<AppState>,
    Path((session_id, role)): Path<(String, String)>,
    collection: Collection,
) -> Result<Response, ApiError> {
    let listing = collection.listing(store::IDENTITY_FIELDS, store::IDENTITY_SORTERS)?;
    let row = role_in_session(&state, &session_id, &role).await?;
    let found = store::identities(&state.pool, row.id, &listing).await?;
    let items: Vec<RoleMiningIdentity> = found.items.into_iter().map(Into::into).collect();
    Ok(page(items, found.total))
}

/// `getAllPotentialRoleSummaries`.
#[utoipa::path(
    get,
    path = "/role-mining-potential-roles",
    operation_id = "getAllPotentialRoleSummaries",
    tag = "IAI Role Mining",
    params(
        ("filters" = Option<String>, Query, description = "createdById, createdByName (eq, sw, co), description (sw, co), endDate (le, lt), freshness, quality (eq, ge, gt, le, lt), name (eq, sw, co, ge, gt, le, lt), startDate (ge, gt), saved (eq), type (eq, ge, gt, le, lt), scopingMethod (eq), sessionState (eq), identityAttribute (co: an attribute name or value of the members)"),
        ("sorters" = Option<String>, Query, description = "createdDate, identityCount, entitlementCount, freshness, quality"),
        CollectionParams,
    ),
    responses(
        (status = 200, description = "Potential roles of every session", body = Vec<RoleMiningPotentialRoleSummary>),
        (status = 400, description = "Bad collection parameters", body = ErrorResponseDto),
        GuardedErrors,
    ),
    security(("applicationAuth" = ["iai:access-modeling:read", "iai:access-modeling:manage"]))
)]
pub async fn all_summaries(
    State(state): State<AppState>,
    collection: Collection,
) -> Result<Response, ApiError> {
    let listing = collection.listing(store::ALL_SUMMARY_FIELDS, store::ALL_SUMMARY_SORTERS)?;
    let found = store::list_all(&state.pool, &listing).await?;
    let items: Vec<RoleMiningPotentialRoleSummary> =
        found.items.into_iter().map(Into::into).collect();
    Ok(page(items, found.total))
}

/// `getRoleMiningPotentialRole`.
#[utoipa::path(
    get,
    path = "/role-mining-potential-roles/{potentialRoleId}",
    operation_id = "getRoleMiningPotentialRole",
    tag = "IAI Role Mining",
    params(
        ("potentialRoleId" = String, Path, description = "The potential role id"),
        ("includeIdentityIds" = Option<bool>, Query, description = "Extension: false leaves out the member ids (default true)"),
    ),
    responses(
        (status = 200, description = "The potential role", body = RoleMiningPotentialRole),
        (status = 404, description = "Unknown potential role", body = ErrorResponseDto),
        GuardedErrors,
    ),
    security(("applicationAuth" = ["iai:access-modeling:read", "iai:access-modeling:manage"]))
)]
pub async fn get(
    State(state): State<AppState>,
    Path(role): Path<String>,
    IncludeIdentityIds(members): IncludeIdentityIds,
) -> Result<Json<RoleMiningPotentialRole>, ApiError> {
    let row = any_role(&state, &role).await?;
    Ok(Json(
        store::detail(&state.pool, None, row.id, members)
            .await?
            .into(),
    ))
}

/// `patchRoleMiningPotentialRole`.
#[utoipa::path(
    patch,
    path = "/role-mining-potential-roles/{potentialRoleId}",
    operation_id = "patchRoleMiningPotentialRole",
    tag = "IAI Role Mining",
    params(("potentialRoleId" = String, Path, description = "The potential role id")),
    request_body(content = Vec<JsonPatchOperation>, content_type = "application/json-patch+json"),
    responses(
        (status = 200, description = "The changed potential role", body = RoleMiningPotentialRole),
        (status = 400, description = "Bad patch", body = ErrorResponseDto),
        (status = 404, description = "Unknown potential role", body = ErrorResponseDto),
        GuardedErrors,
    ),
    security(("applicationAuth" = ["iai:access-modeling:manage"]))
)]
pub async fn patch(
    State(state): State<AppState>,
    Path(role): Path<String>,
    ApiJson(operations): ApiJson<Vec<JsonPatchOperation>>,
) -> Result<Json<RoleMiningPotentialRole>, ApiError> {
    let row = any_role(&state, &role).await?;
    let changes = role_patch(&operations)?;
    Ok(Json(
        store::patch(&state.pool, None, row.id, &changes)
            .await?
            .into(),
    ))
}

/// `getSavedPotentialRoles`.
#[utoipa::path(
    get,
    path = "/role-mining-potential-roles/saved",
    operation_id = "getSavedPotentialRoles",
    tag = "IAI Role Mining",
    params(
        ("sorters" = Option<String>, Query, description = "modified"),
        CollectionParams,
    ),
    responses(
        (status = 200, description = "Saved potential roles (draft roles)", body = Vec<RoleMiningSessionDraftRoleDto>),
        (status = 400, description = "Bad collection parameters", body = ErrorResponseDto),
        GuardedErrors,
    ),
    security(("applicationAuth" = ["iai:access-modeling:read", "iai:access-modeling:manage"]))
)]
pub async fn saved(
    State(state): State<AppState>,
    collection: Collection,
) -> Result<Response, ApiError> {
    let listing = collection.listing(&[], store::SAVED_SORTERS)?;
    let found = store::saved(&state.pool, &listing).await?;
    let items: Vec<RoleMiningSessionDraftRoleDto> =
        found.items.into_iter().map(Into::into).collect();
    Ok(page(items, found.total))
}

/// `getPotentialRoleSourceIdentityUsage`.
#[utoipa::path(
    get,
    path = "/role-mining-potential-roles/{potentialRoleId}/sources/{sourceId}/identityUsage",
    operation_id = "getPotentialRoleSourceIdentityUsage",
    tag = "IAI Role Mining",
    params(
        ("potentialRoleId" = String, Path, description = "The potential role id"),
        ("sourceId" = String, Path, description = "A source id"),
        ("sorters" = Option<String>, Query, description = "displayName, email, usageCount (default: usageCount descending)"),
        CollectionParams,
    ),
    responses(
        (status = 200, description = "Each member's days of usage of the source in the last 90", body = Vec<RoleMiningPotentialRoleSourceUsage>),
        (status = 400, description = "Bad collection parameters", body = ErrorResponseDto),
        (status = 404, description = "Unknown potential role or source", body = ErrorResponseDto),
        GuardedErrors,
    ),
    security(("applicationAuth" = ["iai:access-modeling:read", "iai:access-modeling:manage"]))
)]
pub async fn source_usage(
    State(state): State<AppState>,
    Path((role, source)): Path<(String, String)>,
    collection: Collection,
) -> Result<Response, ApiError> {
    let listing = collection.listing(&[], store::USAGE_SORTERS)?;
    let row = any_role(&state, &role).await?;
    let source = or_missing(
        store::source_id(&state.pool, &source).await,
        &format!("source {source} not found"),
    )?;
    let found = store::source_usage(&state.pool, row.id, source, &listing).await?;
    let items: Vec<RoleMiningPotentialRoleSourceUsage> =
        found.items.into_iter().map(Into::into).collect();
    Ok(page(items, found.total))
}
