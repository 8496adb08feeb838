//! `createPotentialRoleProvisionRequest` and the provisioned roles it creates
//! (`/rolemine/v1/roles`).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use rolemine_domain::{AssignmentState, ProvisionJob, RoleOrigin};
use rolemine_store::provisioning::{self, GrantedEntitlement, RoleDetail, RoleRow};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::collection::{page, Collection, CollectionParams};
use crate::error::{or_missing, path_id, ApiError, ErrorResponseDto, GuardedErrors};
use crate::potential_roles::{role_in_session, RoleMiningPotentialRoleSummary};
use crate::query::QueryParams;
use crate::state::AppState;

/// The contract's `RoleMiningPotentialRoleProvisionRequest`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RoleMiningPotentialRoleProvisionRequest {
    /// The new role's name (default: the potential role's).
    pub role_name: Option<String>,
    /// Its description (default: the potential role's).
    pub role_description: Option<String>,
    /// The identity that owns it.
    pub owner_id: Option<String>,
    /// Record an assignment request for every member.
    pub include_identities: Option<bool>,
    /// Grant the entitlements directly instead of one access profile per source.
    pub directly_assigned_entitlements: Option<bool>,
    /// Extension: give the role the potential role's best attribute rule
    /// (`GET /rolemine/v1/potential-roles/{id}/rules`) as its membership criteria.
    pub membership_from_rule: Option<bool>,
}

/// `createPotentialRoleProvisionRequest`: 202 with the summary in `PENDING`; a job creates the
/// role.
#[utoipa::path(
    post,
    path = "/role-mining-sessions/{sessionId}/potential-roles/{potentialRoleId}/provision",
    operation_id = "createPotentialRoleProvisionRequest",
    tag = "IAI Role Mining",
    params(
        ("sessionId" = String, Path, description = "The session id"),
        ("potentialRoleId" = String, Path, description = "The potential role id"),
        ("min-entitlement-popularity" = Option<i32>, Query, description = "Leave out entitlements held by fewer than this percent of the members (0-100, default 0)"),
        ("include-common-access" = Option<bool>, Query, description = "Keep common-access entitlements (default true)"),
    ),
    request_body = RoleMiningPotentialRoleProvisionRequest,
    responses(
        (status = 202, description = "Accepted; the summary is PENDING until the role exists", body = RoleMiningPotentialRoleSummary),
        (status = 400, description = "Bad request, the role is provisioned or pending already, or the filters leave it nothing to grant", body = ErrorResponseDto),
        (status = 404, description = "Unknown session or potential role", body = ErrorResponseDto),
        GuardedErrors,
    ),
    security(("applicationAuth" = ["iai:access-modeling:manage"]))
)]
pub async fn provision(
    State(state): State<AppState>,
    Path((session_id, role)): Path<(String, String)>,
    query: QueryParams,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let row = role_in_session(&state, &session_id, &role).await?;
    let min_entitlement_popularity = query.percent("min-entitlement-popularity", 0)?;
    let include_common_access = query.flag("include-common-access", true)?;
    // The body is optional: no body means the defaults.
    let request: RoleMiningPotentialRoleProvisionRequest = crate::json::parse_or_default(&body)?;
    if request
        .role_name
        .as_deref()
        .is_some_and(|name| name.trim().is_empty())
    {
        return Err(ApiError::BadRequest(
            "roleName: must not be empty (leave it out for the potential role's name)".to_owned(),
        ));
    }
    let membership_from_rule = request.membership_from_rule.unwrap_or(false);
    if membership_from_rule
        && rolemine_store::insights::rules(&state.pool, row.id)
            .await?
            .is_empty()
    {
        return Err(ApiError::BadRequest(format!(
            "membershipFromRule: potential role {} has no attribute rule (its members share no \
             identity attribute value)",
            row.id
        )));
    }
    let job = ProvisionJob {
        potential_role_id: row.id,
        role_name: request.role_name,
        role_description: request.role_description,
        owner_id: request.owner_id,
        include_identities: request.include_identities.unwrap_or(false),
        directly_assigned_entitlements: request.directly_assigned_entitlements.unwrap_or(false),
        min_entitlement_popularity,
        include_common_access,
        membership_from_rule,
    };
    let summary = provisioning::request(&state.pool, &job).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(RoleMiningPotentialRoleSummary::from(summary)),
    )
        .into_response())
}

/// An entitlement a provisioned role grants.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RoleEntitlement {
    /// Entitlement id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Its source's id.
    pub source_id: String,
    /// Its source's name.
    pub source_name: String,
}

impl From<GrantedEntitlement> for RoleEntitlement {
    fn from(row: GrantedEntitlement) -> Self {
        Self {
            id: row.id,
            name: row.name,
            source_id: row.source_id,
            source_name: row.source_name,
        }
    }
}

/// An access profile of a role.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RoleAccessProfile {
    /// Its id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// The source whose entitlements it holds.
    pub source_id: String,
    /// Its entitlements.
    pub entitlements: Vec<RoleEntitlement>,
}

/// An assignment request recorded for a member.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AssignmentRequest {
    /// The identity.
    pub identity_id: String,
    /// `REQUESTED`.
    pub state: AssignmentState,
}

/// A role, as `GET /rolemine/v1/roles` lists it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RoleSummary {
    /// Its id.
    pub id: String,
    /// Its external id (roles.csv's `role_id`; the id for provisioned roles).
    pub external_id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// `IMPORTED` or `PROVISIONED`.
    pub origin: RoleOrigin,
    /// The owner's identity id.
    pub owner_id: Option<String>,
    /// The potential role it was provisioned from.
    pub potential_role_id: Option<String>,
    /// When it was created.
    pub created: DateTime<Utc>,
    /// Entitlements granted directly.
    pub entitlement_count: i64,
    /// Access profiles.
    pub access_profile_count: i64,
    /// Assignment requests.
    pub assignment_request_count: i64,
    /// Extension: who should hold the role, as identity search criteria (the potential role's
    /// best attribute rule, when it was provisioned with `membershipFromRule`).
    pub membership_criteria: Option<String>,
}

impl From<RoleRow> for RoleSummary {
    fn from(row: RoleRow) -> Self {
        Self {
            id: row.id.to_string(),
            external_id: row.ext_id,
            name: row.name,
            description: row.description,
            origin: row.origin,
            owner_id: row.owner_id,
            potential_role_id: row.potential_role_id.map(|id| id.to_string()),
            created: row.created_at,
            entitlement_count: row.entitlement_count,
            access_profile_count: row.access_profile_count,
            assignment_request_count: row.assignment_request_count,
            membership_criteria: row.membership_criteria,
        }
    }
}

/// A role with what it grants and its assignment requests.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Role {
    /// The role.
    #[serde(flatten)]
    pub summary: RoleSummary,
    /// Entitlements granted directly.
    pub entitlements: Vec<RoleEntitlement>,
    /// Access profiles, one per source.
    pub access_profiles: Vec<RoleAccessProfile>,
    /// Assignment requests, one per member when provisioned with includeIdentities.
    pub assignment_requests: Vec<AssignmentRequest>,
}

impl From<RoleDetail> for Role {
    fn from(detail: RoleDetail) -> Self {
        Self {
            summary: detail.role.into(),
            entitlements: detail.entitlements.into_iter().map(Into::into).collect(),
            access_profiles: detail
                .access_profiles
                .into_iter()
                .map(|profile| RoleAccessProfile {
                    id: profile.id.to_string(),
                    name: profile.name,
                    description: profile.description,
                    source_id: profile.source_id,
                    entitlements: profile.entitlements.into_iter().map(Into::into).collect(),
                })
                .collect(),
            assignment_requests: detail
                .assignment_requests
                .into_iter()
                .map(|(identity_id, state)| AssignmentRequest { identity_id, state })
                .collect(),
        }
    }
}

/// `GET /rolemine/v1/roles`: imported and provisioned roles, newest first.
#[utoipa::path(
    get,
    path = "/rolemine/v1/roles",
    operation_id = "listRoles",
    tag = "Rolemine extensions",
    params(CollectionParams),
    responses(
        (status = 200, description = "The roles", body = Vec<RoleSummary>),
        (status = 400, description = "Bad collection parameters", body = ErrorResponseDto),
        GuardedErrors,
    ),
    security(("applicationAuth" = ["iai:access-modeling:read", "iai:access-modeling:manage"]))
)]
pub async fn list(
    State(state): State<AppState>,
    collection: Collection,
) -> Result<Response, ApiError> {
    let listing = collection.listing(&[], &[])?;
    let found = provisioning::list(&state.pool, &listing).await?;
    let items: Vec<RoleSummary> = found.items.into_iter().map(Into::into).collect();
    Ok(page(items, found.total))
}

/// `GET /rolemine/v1/roles/{id}`.
#[utoipa::path(
    get,
    path = "/rolemine/v1/roles/{id}",
    operation_id = "getRole",
    tag = "Rolemine extensions",
    params(("id" = String, Path, description = "The role id")),
    responses(
        (status = 200, description = "The role", body = Role),
        (status = 404, description = "Unknown role", body = ErrorResponseDto),
        GuardedErrors,
    ),
    security(("applicationAuth" = ["iai:access-modeling:read", "iai:access-modeling:manage"]))
)]
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Role>, ApiError> {
    let missing = format!("role {id} not found");
    let detail = or_missing(
        provisioning::get(&state.pool, path_id(&id, &missing)?).await,
        &missing,
    )?;
    Ok(Json(detail.into()))
}
