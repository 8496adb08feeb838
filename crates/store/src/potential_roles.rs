//! Mined potential roles: listing, reading, editing, and the pages of their identities,
//! entitlements, applications and source usage. Every page is one SQL query with its limit, so
//! a 100k-member role is never loaded whole to answer a page.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use roaring::RoaringBitmap;
use rolemine_domain::{
    MinIdentities, ProvisionState, PruneThreshold, RoleType, Scope, ScopingMethod, SessionState,
};
use rolemine_engine::metrics::{EntitlementStat, RoleMetrics};
use rolemine_filter::{FieldSpec, Kind, Op, SorterSpec};
use serde_json::Value;
use sqlx::types::Json;
use sqlx::{PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use crate::error::{Refusal, StoreError};
use crate::listing::{self, field, sorter, Listing, Page};

const TEXT_MATCH: &[Op] = &[Op::Eq, Op::Sw, Op::Co];
const ORDERED: &[Op] = &[Op::Eq, Op::Ge, Op::Gt, Op::Le, Op::Lt];
const ORDERED_TEXT: &[Op] = &[Op::Eq, Op::Sw, Op::Co, Op::Ge, Op::Gt, Op::Le, Op::Lt];

/// Every identity attribute name and value of a role's members, one `name:value` per line, for
/// `identityAttribute co`.
const IDENTITY_ATTRIBUTES: &str = "(SELECT string_agg((a ->> 'attributeName') || ':' || \
     coalesce(d ->> 'attributeValue', ''), E'\\n') \
     FROM jsonb_array_elements(identity_distribution) a, \
          jsonb_array_elements(a -> 'distribution') d)";

/// `getPotentialRoleSummaries` filters (one session), as the contract lists them.
pub const SESSION_SUMMARY_FIELDS: &[FieldSpec] = &[
    field("createdById", Kind::Text, TEXT_MATCH, "created_by_id"),
    field("createdByName", Kind::Text, TEXT_MATCH, "created_by_name"),
    field("description", Kind::Text, &[Op::Sw, Op::Co], "description"),
    field("endDate", Kind::DateTime, &[Op::Le, Op::Lt], "created_at"),
    field("freshness", Kind::Number, ORDERED, "freshness"),
    field("name", Kind::Text, TEXT_MATCH, "name"),
    field("quality", Kind::Number, ORDERED, "quality"),
    field("startDate", Kind::DateTime, &[Op::Ge, Op::Gt], "created_at"),
    field("saved", Kind::Bool, &[Op::Eq], "saved"),
    field("type", Kind::Text, &[Op::Eq], "type"),
];

/// `getPotentialRoleSummaries` sorters.
pub const SESSION_SUMMARY_SORTERS: &[SorterSpec] = &[sorter("createdDate", "created_at")];

/// `getAllPotentialRoleSummaries` filters (every session), as the contract lists them.
pub const ALL_SUMMARY_FIELDS: &[FieldSpec] = &[
    field("createdById", Kind::Text, TEXT_MATCH, "created_by_id"),
    field("createdByName", Kind::Text, TEXT_MATCH, "created_by_name"),
    field("description", Kind::Text, &[Op::Sw, Op::Co], "description"),
    field("endDate", Kind::DateTime, &[Op::Le, Op::Lt], "created_at"),
    field("freshness", Kind::Number, ORDERED, "freshness"),
    field("name", Kind::Text, ORDERED_TEXT, "name"),
    field("quality", Kind::Number, ORDERED, "quality"),
    field("startDate", Kind::DateTime, &[Op::Ge, Op::Gt], "created_at"),
    field("saved", Kind::Bool, &[Op::Eq], "saved"),
    field("type", Kind::Text, ORDERED, "type"),
    field(
        "scopingMethod",
        Kind::Text,
        &[Op::Eq],
        "session_scoping_method",
    ),
    field("sessionState", Kind::Text, &[Op::Eq], "session_state"),
    field(
        "identityAttribute",
        Kind::Text,
        &[Op::Co],
        IDENTITY_ATTRIBUTES,
    ),
];

/// `getAllPotentialRoleSummaries` sorters.
pub const ALL_SUMMARY_SORTERS: &[SorterSpec] = &[
    sorter("createdDate", "created_at"),
    sorter("identityCount", "identity_count"),
    sorter("entitlementCount", "entitlement_count"),
    sorter("freshness", "freshness"),
    sorter("quality", "quality"),
];

/// `getEntitlementsPotentialRole` and `getExcludedEntitlementsPotentialRole` filters.
pub const ENTITLEMENT_FIELDS: &[FieldSpec] = &[
    field("applicationName", Kind::Text, &[Op::Sw], "s.name"),
    field("entitlementRef.name", Kind::Text, &[Op::Sw], "e.name"),
];

/// `getEntitlementsPotentialRole` sorters.
pub const POPULARITY_SORTERS: &[SorterSpec] = &[
    sorter("popularity", "pre.popularity"),
    sorter("entitlementName", "e.name"),
    sorter("applicationName", "s.name"),
];

/// `getExcludedEntitlementsPotentialRole` sorters.
pub const EXCLUDED_SORTERS: &[SorterSpec] = &[sorter("popularity", "pre.popularity")];

/// `getPotentialRoleEntitlements` filters.
pub const ROLE_ENTITLEMENT_FIELDS: &[FieldSpec] = &[field(
    "entitlementRef.name",
    Kind::Text,
    &[Op::Sw],
    "e.name",
)];

/// `getPotentialRoleApplications` filters.
pub const APPLICATION_FIELDS: &[FieldSpec] =
    &[field("applicationName", Kind::Text, &[Op::Sw], "s.name")];

/// `getIdentitiesPotentialRole` filters.
pub const IDENTITY_FIELDS: &[FieldSpec] = &[field("name", Kind::Text, &[Op::Sw], "m.name")];

/// `getIdentitiesPotentialRole` sorters.
pub const IDENTITY_SORTERS: &[SorterSpec] = &[sorter("name", "m.name")];

/// `getPotentialRoleSourceIdentityUsage` sorters.
pub const USAGE_SORTERS: &[SorterSpec] = &[
    sorter("displayName", "i.name"),
    sorter("email", "i.email"),
    sorter("usageCount", "coalesce(u.usage_days, 0)"),
];

/// `getSavedPotentialRoles` sorters.
pub const SAVED_SORTERS: &[SorterSpec] = &[sorter("modified", "modified_at")];

/// A potential role with its session's parameters (the `potential_role_summaries` view).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RoleRow {
    /// Its id.
    pub id: Uuid,
    /// The session that mined it.
    pub session_id: Uuid,
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// What its session mined.
    pub r#type: RoleType,
    /// Members.
    pub identity_count: i32,
    /// Entitlements, not counting excluded ones.
    pub entitlement_count: i32,
    /// 0-100.
    pub density: i16,
    /// 0-100.
    pub freshness: i16,
    /// 0-100.
    pub quality: i16,
    /// `[{attributeName, distribution: [{attributeValue, count}]}]`.
    pub identity_distribution: Value,
    /// Saved flag.
    pub saved: bool,
    /// Where it is on its way to becoming a role.
    pub provision_state: ProvisionState,
    /// Why provisioning failed, in state `FAILED`.
    pub provision_failure: Option<String>,
    /// The role created by provisioning.
    pub role_id: Option<Uuid>,
    /// Creator's client id.
    pub created_by_id: Option<String>,
    /// Creator's display name.
    pub created_by_name: Option<String>,
    /// When it was mined.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub modified_at: DateTime<Utc>,
    /// The session's name.
    pub session_name: Option<String>,
    /// The session's role type.
    pub session_type: RoleType,
    /// The session's scope as given.
    pub session_scope: Json<Scope>,
    /// The session's scoping method.
    pub session_scoping_method: ScopingMethod,
    /// The session's requested threshold.
    pub session_prune_threshold: Option<PruneThreshold>,
    /// The session's minimum role size.
    pub session_min_num_identities: Option<MinIdentities>,
    /// The session's saved flag.
    pub session_saved: bool,
    /// The session's state.
    pub session_state: SessionState,
    /// The share of its members' access it explains, as mined.
    pub access_explained_percent: Option<f64>,
}

const ROLE_COLUMNS: &str = "id, session_id, name, description, type, identity_count, \
    entitlement_count, density, freshness, quality, identity_distribution, saved, \
    provision_state, provision_failure, role_id, created_by_id, created_by_name, created_at, \
    modified_at, session_name, session_type, session_scope, session_scoping_method, \
    session_prune_threshold, session_min_num_identities, session_saved, session_state, \
    access_explained_percent";

/// What a full potential role adds to its summary.
#[derive(Debug, Clone)]
pub struct RoleDetail {
    /// The summary.
    pub role: RoleRow,
    /// Every member's external id, in identity order.
    pub identity_ids: Vec<String>,
    /// External ids of the excluded entitlements.
    pub excluded_entitlements: Vec<String>,
}

/// A page of one session's potential roles; engine order unless sorted otherwise.
pub async fn list_in_session(
    pool: &PgPool,
    session: Uuid,
    listing: &Listing,
) -> Result<Page<RoleRow>, StoreError> {
    listing::fetch(
        pool,
        |query| {
            query.push(format!(
                "SELECT {ROLE_COLUMNS} FROM potential_role_summaries WHERE session_id = "
            ));
            query.push_bind(session);
        },
        SESSION_SUMMARY_FIELDS,
        listing,
        "ordinal, id",
        "ordinal, id",
    )
    .await
}

/// A page of potential roles across sessions; newest first unless sorted otherwise.
pub async fn list_all(pool: &PgPool, listing: &Listing) -> Result<Page<RoleRow>, StoreError> {
    listing::fetch(
        pool,
        |query| {
            query.push(format!(
                "SELECT {ROLE_COLUMNS} FROM potential_role_summaries WHERE true"
            ));
        },
        ALL_SUMMARY_FIELDS,
        listing,
        "created_at DESC, session_id, ordinal",
        "id",
    )
    .await
}

fn not_found(role: Uuid) -> StoreError {
    StoreError::NotFound {
        what: "potential role",
        id: role.to_string(),
    }
}

/// The potential role `role`; with `session`, only if that session mined it (otherwise
/// [`StoreError::NotFound`], as for an unknown id).
pub async fn get<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    session: Option<Uuid>,
    role: Uuid,
) -> Result<RoleRow, StoreError> {
    // A view's columns are all nullable to the macros; `!` restores what the tables promise.
    sqlx::query_as!(
        RoleRow,
        r#"SELECT id AS "id!", session_id AS "session_id!", name AS "name!", description,
                  type AS "type!: RoleType", identity_count AS "identity_count!",
                  entitlement_count AS "entitlement_count!", density AS "density!",
                  freshness AS "freshness!", quality AS "quality!",
                  identity_distribution AS "identity_distribution!", saved AS "saved!",
                  provision_state AS "provision_state!: ProvisionState", provision_failure,
                  role_id, created_by_id, created_by_name, created_at AS "created_at!",
                  modified_at AS "modified_at!", session_name,
                  session_type AS "session_type!: RoleType",
                  session_scope AS "session_scope!: Json<Scope>",
                  session_scoping_method AS "session_scoping_method!: ScopingMethod",
                  session_prune_threshold AS "session_prune_threshold: PruneThreshold",
                  session_min_num_identities AS "session_min_num_identities: MinIdentities",
                  session_saved AS "session_saved!",
                  session_state AS "session_state!: SessionState", access_explained_percent
             FROM potential_role_summaries
            WHERE id = $1 AND ($2::uuid IS NULL OR session_id = $2)"#,
        role,
        session,
    )
    .fetch_optional(executor)
    .await?
    .ok_or_else(|| not_found(role))
}

/// The potential role with its excluded entitlements and, when `with_members`, its member ids
/// (empty otherwise).
pub async fn detail(
    pool: &PgPool,
    session: Option<Uuid>,
    role: Uuid,
    with_members: bool,
) -> Result<RoleDetail, StoreError> {
    let row = get(pool, session, role).await?;
    let (identity_ids, excluded_entitlements) =
        member_and_excluded_ids(pool, role, with_members).await?;
    Ok(RoleDetail {
        role: row,
        identity_ids,
        excluded_entitlements,
    })
}

async fn member_and_excluded_ids(
    pool: &PgPool,
    role: Uuid,
    with_members: bool,
) -> Result<(Vec<String>, Vec<String>), StoreError> {
    let ids = sqlx::query!(
        r#"SELECT ARRAY(SELECT i.ext_id FROM potential_role_members m
                          JOIN identities i ON i.id = m.identity_id
                         WHERE m.potential_role_id = $1 AND $2
                         ORDER BY m.identity_id) AS "members!",
                  ARRAY(SELECT e.ext_id FROM potential_role_entitlements pre
                          JOIN entitlements e ON e.id = pre.entitlement_id
                         WHERE pre.potential_role_id = $1 AND pre.excluded
                         ORDER BY pre.entitlement_id) AS "excluded!""#,
        role,
        with_members
    )
    .fetch_one(pool)
    .await?;
    Ok((ids.members, ids.excluded))
}

/// Changes to a potential role (`None`: unchanged).
#[derive(Debug, Clone, Default)]
pub struct RolePatch {
    /// New name (`Some(None)`: back to the mined name).
    pub name: Option<Option<String>>,
    /// New description (`Some(None)`: none).
    pub description: Option<Option<String>>,
    /// New saved flag.
    pub saved: Option<bool>,
}

/// Applies `patch` to the role (of `session`, when given).
pub async fn patch(
    pool: &PgPool,
    session: Option<Uuid>,
    role: Uuid,
    patch: &RolePatch,
) -> Result<RoleDetail, StoreError> {
    let updated = sqlx::query!(
        "UPDATE potential_roles SET
            name = CASE WHEN $3 THEN coalesce($4, 'Potential role ' || (ordinal + 1)) ELSE name END,
            description = CASE WHEN $5 THEN $6 ELSE description END,
            saved = coalesce($7, saved),
            modified_at = now()
          WHERE id = $1 AND ($2::uuid IS NULL OR session_id = $2)",
        role,
        session,
        patch.name.is_some(),
        patch.name.clone().flatten(),
        patch.description.is_some(),
        patch.description.clone().flatten(),
        patch.saved,
    )
    .execute(pool)
    .await?;
    if updated.rows_affected() == 0 {
        return Err(not_found(role));
    }
    detail(pool, session, role, true).await
}

/// Adds the entitlements `ids` (external ids) to the role's exclusion list, or with `exclude`
/// false takes them off it, and recomputes its counts and metrics in the same transaction.
/// Ids the role does not hold are a [`Refusal`] naming them; nothing changes then.
pub async fn edit_entitlements(
    pool: &PgPool,
    session: Uuid,
    role: Uuid,
    ids: &[String],
    exclude: bool,
) -> Result<RoleDetail, StoreError> {
    let mut tx = pool.begin().await?;
    let members = sqlx::query_scalar!(
        "SELECT identity_count FROM potential_roles
          WHERE id = $1 AND session_id = $2 FOR UPDATE",
        role,
        session,
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(members) = members else {
        return Err(not_found(role));
    };
    let unknown = sqlx::query_scalar!(
        r#"SELECT wanted AS "wanted!" FROM unnest($2::text[]) AS wanted
            WHERE NOT EXISTS (SELECT FROM potential_role_entitlements pre
                                JOIN entitlements e ON e.id = pre.entitlement_id
                               WHERE pre.potential_role_id = $1 AND e.ext_id = wanted)"#,
        role,
        ids,
    )
    .fetch_all(&mut *tx)
    .await?;
    if !unknown.is_empty() {
        return Err(Refusal::EntitlementsNotHeld(unknown).into());
    }
    sqlx::query!(
        "UPDATE potential_role_entitlements pre SET excluded = $3
           FROM entitlements e
          WHERE e.id = pre.entitlement_id AND pre.potential_role_id = $1
            AND e.ext_id = ANY($2)",
        role,
        ids,
        exclude,
    )
    .execute(&mut *tx)
    .await?;
    let metrics = rescore(&mut tx, role, members).await?;
    sqlx::query!(
        "UPDATE potential_roles SET entitlement_count = $2, density = $3, freshness = $4,
                quality = $5, modified_at = now()
          WHERE id = $1",
        role,
        i32::try_from(metrics.entitlement_count).unwrap_or(i32::MAX),
        i16::from(metrics.density),
        i16::from(metrics.freshness),
        i16::from(metrics.quality),
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    detail(pool, Some(session), role, true).await
}

/// The role's metrics over its mined entitlements without the excluded ones, against the
/// existing roles as they are now (a role provisioned from this one does not count).
async fn rescore(
    tx: &mut sqlx::Transaction<'_, Postgres>,
    role: Uuid,
    members: i32,
) -> Result<RoleMetrics, StoreError> {
    let stats: Vec<(i32, i32, bool)> = sqlx::query!(
        "SELECT entitlement_id, identity_count, excluded FROM potential_role_entitlements
          WHERE potential_role_id = $1 AND mined",
        role
    )
    .fetch_all(&mut **tx)
    .await?
    .into_iter()
    .map(|row| (row.entitlement_id, row.identity_count, row.excluded))
    .collect();
    // What each existing role grants, directly or through its access profiles.
    let existing = sqlx::query_scalar!(
        r#"SELECT array_agg(granted.entitlement_id) AS "entitlements!"
             FROM (SELECT role_id, entitlement_id FROM role_entitlements
                   UNION
                   SELECT ap.role_id, ape.entitlement_id FROM access_profiles ap
                     JOIN access_profile_entitlements ape ON ape.access_profile_id = ap.id) granted
             JOIN roles r ON r.id = granted.role_id
            WHERE r.potential_role_id IS DISTINCT FROM $1
            GROUP BY granted.role_id"#,
        role
    )
    .fetch_all(&mut **tx)
    .await?;
    let index = |id: i32| u32::try_from(id).unwrap_or(u32::MAX);
    let members = u32::try_from(members).unwrap_or(0);
    let entitlements: Vec<EntitlementStat> = stats
        .iter()
        .map(|&(entitlement, count, _)| EntitlementStat {
            entitlement: index(entitlement),
            identity_count: u32::try_from(count).unwrap_or(0),
            popularity: 0.0,
            popularity_in_org: 0.0,
            common_access: false,
        })
        .collect();
    let excluded: RoaringBitmap = stats
        .iter()
        .filter(|(_, _, excluded)| *excluded)
        .map(|&(entitlement, _, _)| index(entitlement))
        .collect();
    let existing: Vec<RoaringBitmap> = existing
        .into_iter()
        .map(|ids| ids.into_iter().map(index).collect())
        .collect();
    Ok(RoleMetrics::compute(
        members,
        &entitlements,
        &excluded,
        &existing,
    ))
}

/// One entitlement of a potential role, with its popularity and its source's usage.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RoleEntitlementRow {
    /// External id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// The account attribute that holds it.
    pub attribute: String,
    /// Its source's external id.
    pub source_id: String,
    /// Its source's name.
    pub application_name: String,
    /// Members holding it.
    pub identity_count: i32,
    /// Percent of members holding it.
    pub popularity: f64,
    /// Percent of the session's population holding it.
    pub popularity_in_org: f64,
    /// Whether it is common access in the session.
    pub common_access: bool,
    /// Members with usage of its source.
    pub members_with_usage: i32,
    /// Whether any usage data exists for its source.
    pub usage_known: bool,
}

/// Which of a role's entitlement rows a view shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntitlementView {
    /// Not excluded; common-access ones only when asked for.
    Kept {
        /// Add the common-access entitlements of the members.
        include_common_access: bool,
    },
    /// The excluded ones.
    Excluded,
}

fn push_view(query: &mut QueryBuilder<'_, Postgres>, view: EntitlementView) {
    match view {
        EntitlementView::Kept {
            include_common_access,
        } => {
            query.push(" AND NOT pre.excluded");
            if !include_common_access {
                query.push(" AND NOT pre.common_access");
            }
        }
        EntitlementView::Excluded => {
            query.push(" AND pre.excluded");
        }
    }
}

/// A page of the role's entitlements in `view`; by popularity descending unless sorted
/// otherwise.
pub async fn entitlements(
    pool: &PgPool,
    role: Uuid,
    view: EntitlementView,
    listing: &Listing,
) -> Result<Page<RoleEntitlementRow>, StoreError> {
    listing::fetch(
        pool,
        |query| {
            query.push(
                "SELECT e.ext_id AS id, e.name, e.description, e.attribute, s.ext_id AS source_id,
                        s.name AS application_name, pre.identity_count, pre.popularity,
                        pre.popularity_in_org, pre.common_access,
                        coalesce(prs.members_with_usage, 0) AS members_with_usage,
                        known.source_id IS NOT NULL AS usage_known
                   FROM potential_role_entitlements pre
                   JOIN entitlements e ON e.id = pre.entitlement_id
                   JOIN sources s ON s.id = e.source_id
                   LEFT JOIN potential_role_sources prs
                     ON prs.potential_role_id = pre.potential_role_id AND prs.source_id = s.id
                   -- In key order with LIMIT 1, so the planner probes the usage key instead of
                   -- scanning millions of usage rows for a source that has none (seconds).
                   LEFT JOIN LATERAL (SELECT u.source_id FROM source_usage u
                                       WHERE u.source_id = s.id
                                       ORDER BY u.source_id, u.identity_id LIMIT 1) known ON true
                  WHERE pre.potential_role_id = ",
            );
            query.push_bind(role);
            push_view(query, view);
        },
        ENTITLEMENT_FIELDS,
        listing,
        "pre.popularity DESC, e.name, e.id",
        "e.id",
    )
    .await
}

/// An entitlement or application reference: external id and name.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Reference {
    /// External id.
    pub id: String,
    /// Name.
    pub name: String,
}

/// A page of the role's entitlements (mined, not excluded) as references; most popular first.
pub async fn entitlement_refs(
    pool: &PgPool,
    role: Uuid,
    listing: &Listing,
) -> Result<Page<Reference>, StoreError> {
    listing::fetch(
        pool,
        |query| {
            query.push(
                "SELECT e.ext_id AS id, e.name FROM potential_role_entitlements pre
                   JOIN entitlements e ON e.id = pre.entitlement_id
                  WHERE pre.mined AND NOT pre.excluded AND pre.potential_role_id = ",
            );
            query.push_bind(role);
        },
        ROLE_ENTITLEMENT_FIELDS,
        listing,
        "pre.popularity DESC, e.name, e.id",
        "e.id",
    )
    .await
}

/// A page of the sources of the role's entitlements (mined, not excluded); by name.
pub async fn applications(
    pool: &PgPool,
    role: Uuid,
    listing: &Listing,
) -> Result<Page<Reference>, StoreError> {
    listing::fetch(
        pool,
        |query| {
            query.push(
                "SELECT s.ext_id AS id, s.name FROM sources s
                  WHERE s.id IN (SELECT e.source_id FROM potential_role_entitlements pre
                                   JOIN entitlements e ON e.id = pre.entitlement_id
                                  WHERE pre.mined AND NOT pre.excluded
                                    AND pre.potential_role_id = ",
            );
            query.push_bind(role);
            query.push(")");
        },
        APPLICATION_FIELDS,
        listing,
        "s.name, s.id",
        "s.id",
    )
    .await
}

/// Popularity percent (floored, "0" to "100") → how many of the role's entitlements in `view`
/// have it.
pub async fn popularity_distribution(
    pool: &PgPool,
    role: Uuid,
    view: EntitlementView,
) -> Result<BTreeMap<String, i64>, StoreError> {
    let mut query = QueryBuilder::<Postgres>::new(
        "SELECT floor(least(greatest(pre.popularity, 0), 100))::int AS bucket, count(*)
           FROM potential_role_entitlements pre
          WHERE pre.potential_role_id = ",
    );
    query.push_bind(role);
    push_view(&mut query, view);
    query.push(" GROUP BY 1");
    let rows: Vec<(i32, i64)> = query.build_query_as().fetch_all(pool).await?;
    Ok(rows
        .into_iter()
        .map(|(bucket, count)| (bucket.to_string(), count))
        .collect())
}

/// A member of a potential role.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MemberRow {
    /// External id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Identity attributes (string values).
    pub attributes: Value,
}

/// A page of the role's members; in identity order unless sorted by name.
///
/// The page is cut from the members table alone (its key and its `(role, name)` index serve
/// every order and the name filter), and only the page's rows are joined with `identities`:
/// a deep offset into a 100k-member role then walks an index, not 100k identity rows.
pub async fn identities(
    pool: &PgPool,
    role: Uuid,
    listing: &Listing,
) -> Result<Page<MemberRow>, StoreError> {
    let members = |query: &mut QueryBuilder<'_, Postgres>| -> Result<(), StoreError> {
        query.push(" FROM potential_role_members m WHERE m.potential_role_id = ");
        query.push_bind(role);
        if let Some(filter) = &listing.filter {
            query.push(" AND ");
            listing::push_filter(query, filter, IDENTITY_FIELDS)?;
        }
        Ok(())
    };
    let mut query = QueryBuilder::<Postgres>::new(
        "SELECT i.ext_id AS id, i.name, i.attributes FROM (SELECT m.identity_id, m.name",
    );
    members(&mut query)?;
    listing::push_order(&mut query, listing, "m.identity_id", "m.identity_id");
    listing::push_page(&mut query, listing);
    query.push(") m JOIN identities i ON i.id = m.identity_id");
    listing::push_order(&mut query, listing, "m.identity_id", "m.identity_id");
    let items = query.build_query_as::<MemberRow>().fetch_all(pool).await?;
    let total = if listing.count {
        let mut counting = QueryBuilder::<Postgres>::new("SELECT count(*)");
        members(&mut counting)?;
        Some(counting.build_query_scalar::<i64>().fetch_one(pool).await?)
    } else {
        None
    };
    Ok(Page { items, total })
}

/// A member's usage of one source.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UsageRow {
    /// The identity's external id.
    pub id: String,
    /// Its name.
    pub display_name: String,
    /// Its email.
    pub email: Option<String>,
    /// Days with usage in the last 90 (0 without usage data).
    pub usage_count: i32,
}

/// The source with external id `source`, or [`StoreError::NotFound`].
pub async fn source_id(pool: &PgPool, source: &str) -> Result<i32, StoreError> {
    sqlx::query_scalar!("SELECT id FROM sources WHERE ext_id = $1", source)
        .fetch_optional(pool)
        .await?
        .ok_or_else(|| StoreError::NotFound {
            what: "source",
            id: source.to_owned(),
        })
}

/// A page of the role's members with their usage of `source` (a database id); most usage
/// first unless sorted otherwise.
pub async fn source_usage(
    pool: &PgPool,
    role: Uuid,
    source: i32,
    listing: &Listing,
) -> Result<Page<UsageRow>, StoreError> {
    listing::fetch(
        pool,
        |query| {
            query.push(
                "SELECT i.ext_id AS id, i.name AS display_name, i.email,
                        coalesce(u.usage_days, 0)::int AS usage_count
                   FROM potential_role_members m
                   JOIN identities i ON i.id = m.identity_id
                   LEFT JOIN source_usage u ON u.identity_id = m.identity_id AND u.source_id = ",
            );
            query.push_bind(source);
            query.push(" WHERE m.potential_role_id = ");
            query.push_bind(role);
        },
        &[],
        listing,
        "coalesce(u.usage_days, 0) DESC, m.identity_id",
        "m.identity_id",
    )
    .await
}

/// A saved potential role as a draft role.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DraftRow {
    /// Its id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// What its session mined.
    pub r#type: RoleType,
    /// Member external ids.
    pub identity_ids: Vec<String>,
    /// External ids of its entitlements (mined, not excluded).
    pub entitlement_ids: Vec<String>,
    /// External ids of the excluded entitlements.
    pub excluded_entitlements: Vec<String>,
    /// When it was mined.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub modified_at: DateTime<Utc>,
}

/// A page of saved potential roles; most recently changed first unless sorted otherwise.
pub async fn saved(pool: &PgPool, listing: &Listing) -> Result<Page<DraftRow>, StoreError> {
    listing::fetch(
        pool,
        |query| {
            query.push(
                "SELECT pr.id, pr.name, pr.description, pr.type, pr.created_at, pr.modified_at,
                        ARRAY(SELECT i.ext_id FROM potential_role_members m
                                JOIN identities i ON i.id = m.identity_id
                               WHERE m.potential_role_id = pr.id ORDER BY m.identity_id)
                          AS identity_ids,
                        ARRAY(SELECT e.ext_id FROM potential_role_entitlements pre
                                JOIN entitlements e ON e.id = pre.entitlement_id
                               WHERE pre.potential_role_id = pr.id AND pre.mined
                                 AND NOT pre.excluded
                               ORDER BY pre.popularity DESC, pre.entitlement_id)
                          AS entitlement_ids,
                        ARRAY(SELECT e.ext_id FROM potential_role_entitlements pre
                                JOIN entitlements e ON e.id = pre.entitlement_id
                               WHERE pre.potential_role_id = pr.id AND pre.excluded
                               ORDER BY pre.entitlement_id)
                          AS excluded_entitlements
                   FROM potential_roles pr
                  WHERE pr.saved",
            );
        },
        &[],
        listing,
        "modified_at DESC, id",
        "id",
    )
    .await
}
