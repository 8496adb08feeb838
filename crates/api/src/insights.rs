//! Role insights, Rolemine's extensions: a potential role's attribute rules, a session's
//! outliers and unexplained access, and the comparison of two sessions' roles.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::response::Response;
use axum::Json;
use roaring::RoaringBitmap;
use rolemine_engine::compare::match_roles;
use rolemine_store::insights::{self, DefinedRole, OutlierRow, RuleRow, UnexplainedRow};
use rolemine_store::sessions::SessionRow;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::collection::{page, Collection, CollectionParams};
use crate::error::{ApiError, ErrorResponseDto, GuardedErrors};
use crate::potential_roles::any_role;
use crate::query::QueryParams;
use crate::sessions::session;
use crate::state::AppState;

/// Jaccard index of two definitions for their roles to count as the same role.
pub const MATCH_JACCARD: f64 = 0.5;

/// One condition of a rule.
#[derive(Debug, Serialize, ToSchema)]
pub struct RuleConditionDto {
    /// The identity attribute.
    pub attribute: String,
    /// The value it must have.
    pub value: String,
}

/// An attribute rule of a potential role.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttributeRuleDto {
    /// 1 for the best rule.
    pub rank: i16,
    /// The rule in the search language of a session's `scope.criteria`.
    pub criteria: String,
    /// Its conditions, all of which must hold.
    pub conditions: Vec<RuleConditionDto>,
    /// Share of the identities it matches that are members (0-1).
    pub precision: f64,
    /// Share of the members it matches (0-1).
    pub recall: f64,
    /// Identities of the session's population it matches.
    pub matched: i32,
    /// Members it matches.
    pub members_matched: i32,
    /// Identities it matches that are not members (it would add them).
    pub would_add: i32,
    /// Members it does not match (it would miss them).
    pub would_miss: i32,
}

impl From<RuleRow> for AttributeRuleDto {
    fn from(row: RuleRow) -> Self {
        let ratio = |part: i32, whole: i32| {
            if whole == 0 {
                0.0
            } else {
                f64::from(part) / f64::from(whole)
            }
        };
        Self {
            rank: row.rank,
            precision: ratio(row.members_matched, row.matched),
            recall: ratio(row.members_matched, row.members),
            would_add: row.matched - row.members_matched,
            would_miss: row.members - row.members_matched,
            criteria: row.criteria,
            conditions: row
                .conditions
                .0
                .into_iter()
                .map(|c| RuleConditionDto {
                    attribute: c.attribute,
                    value: c.value,
                })
                .collect(),
            matched: row.matched,
            members_matched: row.members_matched,
        }
    }
}

/// `GET /rolemine/v1/potential-roles/{potentialRoleId}/rules`.
#[utoipa::path(
    get,
    path = "/rolemine/v1/potential-roles/{potentialRoleId}/rules",
    operation_id = "getPotentialRoleRules",
    tag = "Rolemine extensions",
    params(
        ("potentialRoleId" = String, Path, description = "The potential role id"),
        CollectionParams,
    ),
    responses(
        (status = 200, description = "The role's attribute rules, best first (at most 3)", body = Vec<AttributeRuleDto>),
        (status = 400, description = "Bad collection parameters", body = ErrorResponseDto),
        (status = 404, description = "Unknown potential role", body = ErrorResponseDto),
        GuardedErrors,
    ),
    security(("applicationAuth" = ["iai:access-modeling:read", "iai:access-modeling:manage"]))
)]
pub async fn rules(
    State(state): State<AppState>,
    Path(role): Path<String>,
    collection: Collection,
) -> Result<Response, ApiError> {
    // A list like every other: paging and count work; there is nothing to filter or sort by.
    let listing = collection.listing(&[], &[])?;
    let row = any_role(&state, &role).await?;
    let rules = insights::rules(&state.pool, row.id).await?;
    let total = i64::try_from(rules.len()).unwrap_or(i64::MAX);
    let items: Vec<AttributeRuleDto> = rules
        .into_iter()
        .skip(usize::try_from(listing.offset).unwrap_or(usize::MAX))
        .take(usize::try_from(listing.limit).unwrap_or(usize::MAX))
        .map(Into::into)
        .collect();
    Ok(page(items, listing.count.then_some(total)))
}

/// An entitlement named in an insight.
#[derive(Debug, Serialize, ToSchema)]
pub struct EntitlementRefDto {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
}

fn refs(pairs: Vec<(String, String)>) -> Vec<EntitlementRefDto> {
    pairs
        .into_iter()
        .map(|(id, name)| EntitlementRefDto { id, name })
        .collect()
}

/// An identity whose access departs from its peers'.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OutlierDto {
    /// 1 for the highest score in the session.
    pub rank: i32,
    /// The identity's id.
    pub identity_id: String,
    /// Its name.
    pub identity_name: String,
    /// Its attributes.
    #[schema(value_type = Object)]
    pub attributes: serde_json::Value,
    /// Unusual-access weight plus missing role entitlements (contract/semantics.md).
    pub score: f64,
    /// Whether it is a member of any potential role of the session.
    pub in_role: bool,
    /// Its potential roles, or the nearest one when it is in none.
    pub potential_role_ids: Vec<Uuid>,
    /// Entitlements it holds outside its roles' definitions.
    pub unusual_count: i32,
    /// The most unusual of them (at most 10).
    pub unusual_entitlements: Vec<EntitlementRefDto>,
    /// Entitlements of its roles' definitions it lacks.
    pub missing_count: i32,
    /// The first of them (at most 10).
    pub missing_entitlements: Vec<EntitlementRefDto>,
}

impl From<OutlierRow> for OutlierDto {
    fn from(row: OutlierRow) -> Self {
        Self {
            rank: row.rank,
            identity_id: row.identity_id,
            identity_name: row.identity_name,
            attributes: row.attributes,
            score: row.score,
            in_role: row.in_role,
            potential_role_ids: row.role_ids,
            unusual_count: row.unusual_count,
            unusual_entitlements: refs(row.unusual.0),
            missing_count: row.missing_count,
            missing_entitlements: refs(row.missing.0),
        }
    }
}

/// The session, which must have mined roles to have insights.
async fn mined_session(state: &AppState, id: &str) -> Result<SessionRow, ApiError> {
    let row = session(state, id).await?;
    if row.assignments_explained_percent.is_none() {
        return Err(ApiError::BadRequest(format!(
            "role mining session {id} has no mined potential roles yet (state {}); its insights \
             exist once it reaches POTENTIAL_ROLES_CREATED",
            row.state
        )));
    }
    Ok(row)
}

/// `GET /rolemine/v1/role-mining-sessions/{sessionId}/outliers`.
#[utoipa::path(
    get,
    path = "/rolemine/v1/role-mining-sessions/{sessionId}/outliers",
    operation_id = "getSessionOutliers",
    tag = "Rolemine extensions",
    params(
        ("sessionId" = String, Path, description = "The session id"),
        ("potentialRoleId" = Option<String>, Query, description = "Only outliers with this potential role among theirs (its members who hold little of it)"),
        ("filters" = Option<String>, Query, description = "identityName (eq, sw, co), identityAttribute (co, as `name:value`), inRole (eq), score (ge, gt, le, lt)"),
        ("sorters" = Option<String>, Query, description = "score, identityName (default: score descending)"),
        CollectionParams,
    ),
    responses(
        (status = 200, description = "The session's outliers", body = Vec<OutlierDto>),
        (status = 400, description = "Bad collection parameters, or the session is not mined yet", body = ErrorResponseDto),
        (status = 404, description = "Unknown session or potential role", body = ErrorResponseDto),
        GuardedErrors,
    ),
    security(("applicationAuth" = ["iai:access-modeling:read", "iai:access-modeling:manage"]))
)]
pub async fn outliers(
    State(state): State<AppState>,
    Path(session_id): Path<String>,
    params: QueryParams,
    collection: Collection,
) -> Result<Response, ApiError> {
    let listing = collection.listing(insights::OUTLIER_FIELDS, insights::OUTLIER_SORTERS)?;
    let row = mined_session(&state, &session_id).await?;
    let role = match params.text("potentialRoleId") {
        Some(role) => {
            let role = any_role(&state, &role).await?;
            if role.session_id != row.id {
                return Err(ApiError::NotFound(format!(
                    "potential role {} not found in role mining session {session_id}",
                    role.id
                )));
            }
            Some(role.id)
        }
        None => None,
    };
    let found = insights::outliers(&state.pool, row.id, role, &listing).await?;
    let items: Vec<OutlierDto> = found.items.into_iter().map(Into::into).collect();
    Ok(page(items, found.total))
}

/// An identity holding unexplained access.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UnexplainedHolderDto {
    /// The identity's id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Days with activity on the entitlement's source in the imported usage; null without a
    /// usage row.
    pub usage_days: Option<i16>,
}

/// Assignments of one entitlement that no potential role explains.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UnexplainedAccessDto {
    /// The entitlement.
    pub entitlement: EntitlementRefDto,
    /// Its source (application).
    pub source: EntitlementRefDto,
    /// Identities holding it that none of their roles explains it for.
    pub identity_count: i32,
    /// Of them, those with no usage of the source (no usage row, or 0 days): removal candidates.
    pub unused_identity_count: i64,
    /// The first 100 of them.
    pub identities: Vec<UnexplainedHolderDto>,
}

impl From<UnexplainedRow> for UnexplainedAccessDto {
    fn from(row: UnexplainedRow) -> Self {
        Self {
            entitlement: EntitlementRefDto {
                id: row.entitlement_id,
                name: row.entitlement_name,
            },
            source: EntitlementRefDto {
                id: row.source_id,
                name: row.source_name,
            },
            identity_count: row.identity_count,
            unused_identity_count: row.unused_identity_count,
            identities: row
                .identities
                .0
                .into_iter()
                .map(|(id, name, usage_days)| UnexplainedHolderDto {
                    id,
                    name,
                    usage_days,
                })
                .collect(),
        }
    }
}

/// `GET /rolemine/v1/role-mining-sessions/{sessionId}/unexplained-access`.
#[utoipa::path(
    get,
    path = "/rolemine/v1/role-mining-sessions/{sessionId}/unexplained-access",
    operation_id = "getSessionUnexplainedAccess",
    tag = "Rolemine extensions",
    params(
        ("sessionId" = String, Path, description = "The session id"),
        ("filters" = Option<String>, Query, description = "sourceId (eq), sourceName (eq, sw), entitlementName (eq, sw, co), identityCount (eq, ge, gt, le, lt)"),
        ("sorters" = Option<String>, Query, description = "identityCount, entitlementName, sourceName (default: identityCount descending)"),
        CollectionParams,
    ),
    responses(
        (status = 200, description = "Unexplained assignments by entitlement", body = Vec<UnexplainedAccessDto>),
        (status = 400, description = "Bad collection parameters, or the session is not mined yet", body = ErrorResponseDto),
        (status = 404, description = "Unknown session", body = ErrorResponseDto),
        GuardedErrors,
    ),
    security(("applicationAuth" = ["iai:access-modeling:read", "iai:access-modeling:manage"]))
)]
pub async fn unexplained(
    State(state): State<AppState>,
    Path(session_id): Path<String>,
    collection: Collection,
) -> Result<Response, ApiError> {
    let listing =
        collection.listing(insights::UNEXPLAINED_FIELDS, insights::UNEXPLAINED_SORTERS)?;
    let row = mined_session(&state, &session_id).await?;
    let found = insights::unexplained(&state.pool, row.id, &listing).await?;
    let items: Vec<UnexplainedAccessDto> = found.items.into_iter().map(Into::into).collect();
    Ok(page(items, found.total))
}

/// A potential role as a comparison names it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ComparedRoleDto {
    /// Its id.
    pub id: Uuid,
    /// Its name.
    pub name: String,
    /// Its members.
    pub identity_count: i32,
    /// Entitlements in its definition.
    pub definition_size: usize,
}

/// A role found in both sessions.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MatchedRoleDto {
    /// The role in the first session.
    pub before: ComparedRoleDto,
    /// The role in the second session.
    pub after: ComparedRoleDto,
    /// Jaccard index of their definitions (0.5-1).
    pub jaccard: f64,
    /// `GROWN`, `SHRUNK` or `UNCHANGED` (by member count).
    pub change: &'static str,
    /// Members after minus before.
    pub identity_count_delta: i32,
    /// Entitlements its definition gained.
    pub entitlements_added: Vec<String>,
    /// Entitlements its definition lost.
    pub entitlements_removed: Vec<String>,
}

/// How two sessions' potential roles relate.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionComparisonDto {
    /// The first session.
    pub session_id: Uuid,
    /// The second session.
    pub other_session_id: Uuid,
    /// Definitions' Jaccard index at or above which two roles are the same role.
    pub min_jaccard: f64,
    /// Roles found in both, in the first session's order.
    pub matched: Vec<MatchedRoleDto>,
    /// Roles only the second session has.
    pub new: Vec<ComparedRoleDto>,
    /// Roles only the first session has.
    pub gone: Vec<ComparedRoleDto>,
    /// Matched roles with more members in the second session.
    pub grown: usize,
    /// Matched roles with fewer members in the second session.
    pub shrunk: usize,
}

fn compared(role: &DefinedRole) -> ComparedRoleDto {
    ComparedRoleDto {
        id: role.id,
        name: role.name.clone(),
        identity_count: role.identity_count,
        definition_size: role.definition.len(),
    }
}

/// Compares two sessions' roles by their definitions (roles matched one to one, greedily by
/// Jaccard index).
pub fn compare(
    session_id: Uuid,
    other_session_id: Uuid,
    before: &[DefinedRole],
    after: &[DefinedRole],
) -> SessionComparisonDto {
    // Entitlement ids as small integers, shared by both sessions.
    let mut codes: BTreeMap<&str, u32> = BTreeMap::new();
    for e in before.iter().chain(after).flat_map(|role| &role.definition) {
        let next = u32::try_from(codes.len()).unwrap_or(u32::MAX);
        codes.entry(e.as_str()).or_insert(next);
    }
    let bitmaps = |roles: &[DefinedRole]| -> Vec<RoaringBitmap> {
        roles
            .iter()
            .map(|role| {
                role.definition
                    .iter()
                    .filter_map(|e| codes.get(e.as_str()).copied())
                    .collect()
            })
            .collect()
    };
    let (a, b) = (bitmaps(before), bitmaps(after));
    let matches = match_roles(&a, &b, MATCH_JACCARD);
    let mut matched_a = vec![false; before.len()];
    let mut matched_b = vec![false; after.len()];
    let matched: Vec<MatchedRoleDto> = matches
        .iter()
        .map(|m| {
            matched_a[m.a] = true;
            matched_b[m.b] = true;
            let (old, new) = (&before[m.a], &after[m.b]);
            let delta = new.identity_count - old.identity_count;
            MatchedRoleDto {
                before: compared(old),
                after: compared(new),
                jaccard: (m.jaccard * 1000.0).round() / 1000.0,
                change: match delta {
                    d if d > 0 => "GROWN",
                    d if d < 0 => "SHRUNK",
                    _ => "UNCHANGED",
                },
                identity_count_delta: delta,
                entitlements_added: new
                    .definition
                    .iter()
                    .filter(|e| !old.definition.contains(e))
                    .cloned()
                    .collect(),
                entitlements_removed: old
                    .definition
                    .iter()
                    .filter(|e| !new.definition.contains(e))
                    .cloned()
                    .collect(),
            }
        })
        .collect();
    SessionComparisonDto {
        session_id,
        other_session_id,
        min_jaccard: MATCH_JACCARD,
        grown: matched.iter().filter(|m| m.change == "GROWN").count(),
        shrunk: matched.iter().filter(|m| m.change == "SHRUNK").count(),
        matched,
        new: after
            .iter()
            .zip(&matched_b)
            .filter(|(_, m)| !**m)
            .map(|(r, _)| compared(r))
            .collect(),
        gone: before
            .iter()
            .zip(&matched_a)
            .filter(|(_, m)| !**m)
            .map(|(r, _)| compared(r))
            .collect(),
    }
}

/// `GET /rolemine/v1/role-mining-sessions/{sessionId}/compare/{otherSessionId}`.
#[utoipa::path(
    get,
    path = "/rolemine/v1/role-mining-sessions/{sessionId}/compare/{otherSessionId}",
    operation_id = "compareRoleMiningSessions",
    tag = "Rolemine extensions",
    params(
        ("sessionId" = String, Path, description = "The earlier session"),
        ("otherSessionId" = String, Path, description = "The later session"),
    ),
    responses(
        (status = 200, description = "Roles matched, new and gone", body = SessionComparisonDto),
        (status = 400, description = "A session is not mined yet", body = ErrorResponseDto),
        (status = 404, description = "Unknown session", body = ErrorResponseDto),
        GuardedErrors,
    ),
    security(("applicationAuth" = ["iai:access-modeling:read", "iai:access-modeling:manage"]))
)]
pub async fn compare_sessions(
    State(state): State<AppState>,
    Path((session_id, other_id)): Path<(String, String)>,
) -> Result<Json<SessionComparisonDto>, ApiError> {
    let first = mined_session(&state, &session_id).await?;
    let second = mined_session(&state, &other_id).await?;
    let before = insights::defined_roles(&state.pool, first.id).await?;
    let after = insights::defined_roles(&state.pool, second.id).await?;
    Ok(Json(compare(first.id, second.id, &before, &after)))
}

/// `GET /rolemine/v1/role-mining-sessions/{sessionId}/insights/export`: the session's insights
/// as a zip (`rules.csv`, `outliers.csv`, `unexplained.csv`; contract/access-data-format.md).
#[utoipa::path(
    get,
    path = "/rolemine/v1/role-mining-sessions/{sessionId}/insights/export",
    operation_id = "exportSessionInsights",
    tag = "Rolemine extensions",
    params(("sessionId" = String, Path, description = "The session id")),
    responses(
        (status = 200, description = "The zip", content_type = "application/zip", body = Vec<u8>),
        (status = 400, description = "The session is not mined yet", body = ErrorResponseDto),
        (status = 404, description = "Unknown session", body = ErrorResponseDto),
        GuardedErrors,
    ),
    security(("applicationAuth" = ["iai:access-modeling:read", "iai:access-modeling:manage"]))
)]
pub async fn export(
    State(state): State<AppState>,
    Path(session_id): Path<String>,
) -> Result<Response, ApiError> {
    let row = mined_session(&state, &session_id).await?;
    let name = format!("session-{}-insights.zip", row.id);
    crate::exports::temporary_zip(&name, |file| {
        insights::write_session_zip_blocking(&state.pool, row.id, file)
    })
    .await
}
