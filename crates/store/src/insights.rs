//! Role insights: each potential role's attribute rules, a session's outliers and the access
//! its roles leave unexplained (written with the roles of a mining generation, read for the
//! published one), and the role definitions two sessions are compared by.

use std::io::{Seek, Write};

use futures_util::TryStreamExt;
use rolemine_dataset::insights_export::{ExportedUnexplained, SessionInsightsZip};
use rolemine_dataset::role_export::{ExportError, ExportedOutlier, ExportedRule};
use rolemine_engine::rules::AttributeRule;
use rolemine_engine::MiningResult;
use rolemine_filter::{FieldSpec, Kind, Op};
use serde::{Deserialize, Serialize};
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use crate::error::StoreError;
use crate::listing::{self, field, sorter, Listing, Page};
use crate::mining::IndexIds;
use rolemine_filter::SorterSpec;

/// One condition of a stored rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredCondition {
    /// The identity attribute.
    pub attribute: String,
    /// The value it must have.
    pub value: String,
}

/// A stored attribute rule of a potential role.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RuleRow {
    /// 1 for the best.
    pub rank: i16,
    /// The rule in the search language of `scope.criteria`.
    pub criteria: String,
    /// Its conditions.
    pub conditions: Json<Vec<StoredCondition>>,
    /// Population identities matching it.
    pub matched: i32,
    /// Members matching it.
    pub members_matched: i32,
    /// The role's members.
    pub members: i32,
}

/// Appends the rows of `rules` (the roles `ids` of one batch, in order) to an insert.
pub(crate) async fn write_rules(
    conn: &mut PgConnection,
    ids: &[Uuid],
    rules: &[&[AttributeRule]],
) -> Result<(), StoreError> {
    let rows: Vec<(Uuid, i16, &AttributeRule)> =
        ids.iter()
            .zip(rules)
            .flat_map(|(id, rules)| {
                rules.iter().enumerate().map(move |(rank, rule)| {
                    (*id, i16::try_from(rank + 1).unwrap_or(i16::MAX), rule)
                })
            })
            .collect();
    for chunk in rows.chunks(5_000) {
        let mut insert = QueryBuilder::<Postgres>::new(
            "INSERT INTO potential_role_rules (potential_role_id, rank, criteria, conditions,
                matched, members_matched, members) ",
        );
        insert.push_values(chunk, |mut row, (id, rank, rule)| {
            let conditions: Vec<StoredCondition> = rule
                .conditions
                .iter()
                .map(|c| StoredCondition {
                    attribute: c.attribute.clone(),
                    value: c.value.clone(),
                })
                .collect();
            row.push_bind(*id)
                .push_bind(*rank)
                .push_bind(rule.criteria())
                .push_bind(Json(conditions))
                .push_bind(i32::try_from(rule.matched).unwrap_or(i32::MAX))
                .push_bind(i32::try_from(rule.members_matched).unwrap_or(i32::MAX))
                .push_bind(i32::try_from(rule.members).unwrap_or(i32::MAX));
        });
        insert.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Writes a generation's outliers and unexplained access (`role_ids`: the generation's role
/// ids by the engine's role index).
pub(crate) async fn write_session_insights(
    conn: &mut PgConnection,
    session: Uuid,
    generation: i32,
    role_ids: &[Uuid],
    result: &MiningResult,
    index_ids: &IndexIds,
) -> Result<(), StoreError> {
    let identity = |index: u32| -> Result<i32, StoreError> {
        index_ids
            .identity_ids
            .get(index as usize)
            .copied()
            .ok_or_else(|| StoreError::Query(format!("identity index {index} out of range")))
    };
    let entitlement = |index: u32| -> Result<i32, StoreError> {
        index_ids
            .entitlement_ids
            .get(index as usize)
            .copied()
            .ok_or_else(|| StoreError::Query(format!("entitlement index {index} out of range")))
    };
    let array = |items: Vec<String>| format!("{{{}}}", items.join(","));

    let mut outliers = String::new();
    for (rank, outlier) in result.outliers.iter().enumerate() {
        let roles = outlier
            .roles
            .iter()
            .filter_map(|&r| role_ids.get(r as usize).map(Uuid::to_string))
            .collect();
        let unusual = outlier
            .unusual
            .iter()
            .map(|&e| entitlement(e).map(|id| id.to_string()))
            .collect::<Result<Vec<_>, _>>()?;
        let missing = outlier
            .missing
            .iter()
            .map(|&e| entitlement(e).map(|id| id.to_string()))
            .collect::<Result<Vec<_>, _>>()?;
        outliers.push_str(&format!(
            "{session}\t{generation}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\n",
            rank + 1,
            identity(outlier.identity)?,
            outlier.score,
            if outlier.in_role { "t" } else { "f" },
            array(roles),
            outlier.unusual_count,
            array(unusual),
            outlier.missing_count,
            array(missing),
        ));
    }
    let mut copy = conn
        .copy_in_raw(
            "COPY session_outliers (session_id, generation, rank, identity_id, score, in_role,
                role_ids, unusual_count, unusual_entitlements, missing_count,
                missing_entitlements) FROM STDIN",
        )
        .await?;
    copy.send(outliers.into_bytes()).await?;
    copy.finish().await?;

    let mut unexplained = String::new();
    for (e, identities) in &result.unexplained {
        let ids = identities
            .iter()
            .map(|&i| identity(i).map(|id| id.to_string()))
            .collect::<Result<Vec<_>, _>>()?;
        unexplained.push_str(&format!(
            "{session}\t{generation}\t{}\t{}\t{}\n",
            entitlement(*e)?,
            identities.len(),
            array(ids)
        ));
    }
    let mut copy = conn
        .copy_in_raw(
            "COPY session_unexplained (session_id, generation, entitlement_id, identity_count,
                identity_ids) FROM STDIN",
        )
        .await?;
    copy.send(unexplained.into_bytes()).await?;
    copy.finish().await?;
    Ok(())
}

/// Which mining generations' insight rows a deletion takes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Generations {
    /// Every generation's but that one (it was just published).
    AllBut(i32),
    /// Every unpublished generation's, or only that one's if it is unpublished (a failed job).
    Unpublished(Option<i32>),
}

/// Deletes the session insight rows (outliers, unexplained access) of `which` generations.
pub(crate) async fn delete_session_insights(
    conn: &mut PgConnection,
    session: Uuid,
    which: Generations,
) -> Result<(), StoreError> {
    let (only, all_but, unpublished) = match which {
        Generations::AllBut(generation) => (None, Some(generation), false),
        Generations::Unpublished(generation) => (generation, None, true),
    };
    sqlx::query!(
        "DELETE FROM session_outliers
          WHERE session_id = $1 AND ($2::int IS NULL OR generation = $2)
            AND ($3::int IS NULL OR generation <> $3)
            AND (NOT $4 OR generation IS DISTINCT FROM
                 (SELECT published_generation FROM role_mining_sessions WHERE id = $1))",
        session,
        only,
        all_but,
        unpublished,
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!(
        "DELETE FROM session_unexplained
          WHERE session_id = $1 AND ($2::int IS NULL OR generation = $2)
            AND ($3::int IS NULL OR generation <> $3)
            AND (NOT $4 OR generation IS DISTINCT FROM
                 (SELECT published_generation FROM role_mining_sessions WHERE id = $1))",
        session,
        only,
        all_but,
        unpublished,
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The attribute rules of a potential role, best first.
pub async fn rules(pool: &PgPool, role: Uuid) -> Result<Vec<RuleRow>, StoreError> {
    Ok(sqlx::query_as!(
        RuleRow,
        r#"SELECT rank, criteria, conditions AS "conditions: Json<Vec<StoredCondition>>",
                  matched, members_matched, members
             FROM potential_role_rules WHERE potential_role_id = $1 ORDER BY rank"#,
        role
    )
    .fetch_all(pool)
    .await?)
}

/// One outlier as listed.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OutlierRow {
    /// 1 for the highest score.
    pub rank: i32,
    /// The identity's id.
    pub identity_id: String,
    /// Its name.
    pub identity_name: String,
    /// Its attributes.
    pub attributes: serde_json::Value,
    /// Its score.
    pub score: f64,
    /// Whether it is a member of any role.
    pub in_role: bool,
    /// Its roles (or its nearest role when it is in none).
    pub role_ids: Vec<Uuid>,
    /// Entitlements it holds outside its roles' definitions.
    pub unusual_count: i32,
    /// The most unusual of them: (id, name).
    pub unusual: Json<Vec<(String, String)>>,
    /// Entitlements of its roles' definitions it lacks.
    pub missing_count: i32,
    /// The first of them: (id, name).
    pub missing: Json<Vec<(String, String)>>,
}

/// Identity attributes as `name:value` lines, for `co` filters.
const IDENTITY_ATTRIBUTE_LINES: &str = "(SELECT string_agg(key || ':' || value, E'\\n') \
     FROM jsonb_each_text(i.attributes))";

/// Outlier filters.
pub const OUTLIER_FIELDS: &[FieldSpec] = &[
    field(
        "identityName",
        Kind::Text,
        &[Op::Eq, Op::Sw, Op::Co],
        "i.name",
    ),
    field(
        "identityAttribute",
        Kind::Text,
        &[Op::Co],
        IDENTITY_ATTRIBUTE_LINES,
    ),
    field("inRole", Kind::Bool, &[Op::Eq], "o.in_role"),
    field(
        "score",
        Kind::Number,
        &[Op::Ge, Op::Gt, Op::Le, Op::Lt],
        "o.score",
    ),
];

/// Outlier sorters.
pub const OUTLIER_SORTERS: &[SorterSpec] =
    &[sorter("score", "o.score"), sorter("identityName", "i.name")];

/// A page of the published generation's outliers of `session` (`role`: only those with that
/// role among theirs); highest score first unless sorted otherwise.
pub async fn outliers(
    pool: &PgPool,
    session: Uuid,
    role: Option<Uuid>,
    listing: &Listing,
) -> Result<Page<OutlierRow>, StoreError> {
    listing::fetch(
        pool,
        |query| {
            query.push(
                "SELECT o.rank, i.ext_id AS identity_id, i.name AS identity_name, i.attributes,
                        o.score, o.in_role, o.role_ids, o.unusual_count, o.missing_count,
                        (SELECT coalesce(jsonb_agg(jsonb_build_array(e.ext_id, e.name) ORDER BY u.n), '[]')
                           FROM unnest(o.unusual_entitlements) WITH ORDINALITY u(id, n)
                           JOIN entitlements e ON e.id = u.id) AS unusual,
                        (SELECT coalesce(jsonb_agg(jsonb_build_array(e.ext_id, e.name) ORDER BY u.n), '[]')
                           FROM unnest(o.missing_entitlements) WITH ORDINALITY u(id, n)
                           JOIN entitlements e ON e.id = u.id) AS missing
                   FROM session_outliers o
                   JOIN role_mining_sessions s ON s.id = o.session_id
                                              AND o.generation = s.published_generation
                   JOIN identities i ON i.id = o.identity_id
                  WHERE o.session_id = ",
            );
            query.push_bind(session);
            if let Some(role) = role {
                query.push(" AND o.role_ids @> ARRAY[");
                query.push_bind(role);
                query.push("]::uuid[]");
            }
        },
        OUTLIER_FIELDS,
        listing,
        "o.score DESC, o.rank",
        "o.rank",
    )
    .await
}

/// One entitlement's unexplained holders.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UnexplainedRow {
    /// The entitlement's id.
    pub entitlement_id: String,
    /// Its name.
    pub entitlement_name: String,
    /// Its source's id.
    pub source_id: String,
    /// Its source's name.
    pub source_name: String,
    /// Holders no role of theirs explains it for.
    pub identity_count: i32,
    /// Of them, those without usage of the source in the imported usage (no row, or 0 days).
    pub unused_identity_count: i64,
    /// The first [`UNEXPLAINED_IDENTITIES`] of them: (id, name, usage days or null).
    pub identities: Json<Vec<(String, String, Option<i16>)>>,
}

/// Identities listed per unexplained entitlement.
pub const UNEXPLAINED_IDENTITIES: i64 = 100;

/// Unexplained-access filters.
pub const UNEXPLAINED_FIELDS: &[FieldSpec] = &[
    field("sourceId", Kind::Text, &[Op::Eq], "src.ext_id"),
    field("sourceName", Kind::Text, &[Op::Eq, Op::Sw], "src.name"),
    field(
        "entitlementName",
        Kind::Text,
        &[Op::Eq, Op::Sw, Op::Co],
        "e.name",
    ),
    field(
        "identityCount",
        Kind::Number,
        &[Op::Ge, Op::Gt, Op::Le, Op::Lt, Op::Eq],
        "x.identity_count",
    ),
];

/// Unexplained-access sorters.
pub const UNEXPLAINED_SORTERS: &[SorterSpec] = &[
    sorter("identityCount", "x.identity_count"),
    sorter("entitlementName", "e.name"),
    sorter("sourceName", "src.name"),
];

/// A page of the published generation's unexplained access of `session`, by entitlement; the
/// most holders first unless sorted otherwise.
pub async fn unexplained(
    pool: &PgPool,
    session: Uuid,
    listing: &Listing,
) -> Result<Page<UnexplainedRow>, StoreError> {
    listing::fetch(
        pool,
        |query| {
            query.push(
                "SELECT e.ext_id AS entitlement_id, e.name AS entitlement_name,
                        src.ext_id AS source_id, src.name AS source_name, x.identity_count,
                        (SELECT count(*) FROM unnest(x.identity_ids) h(id)
                          WHERE NOT EXISTS (SELECT 1 FROM source_usage u
                                             WHERE u.identity_id = h.id
                                               AND u.source_id = e.source_id
                                               AND u.usage_days > 0)) AS unused_identity_count,
                        (SELECT coalesce(jsonb_agg(jsonb_build_array(i.ext_id, i.name, u.usage_days)
                                                   ORDER BY h.n), '[]')
                           FROM unnest(x.identity_ids[1:",
            );
            query.push(UNEXPLAINED_IDENTITIES.to_string());
            query.push(
                "]) WITH ORDINALITY h(id, n)
                           JOIN identities i ON i.id = h.id
                           LEFT JOIN source_usage u ON u.identity_id = h.id
                                                   AND u.source_id = e.source_id) AS identities
                   FROM session_unexplained x
                   JOIN role_mining_sessions s ON s.id = x.session_id
                                              AND x.generation = s.published_generation
                   JOIN entitlements e ON e.id = x.entitlement_id
                   JOIN sources src ON src.id = e.source_id
                  WHERE x.session_id = ",
            );
            query.push_bind(session);
        },
        UNEXPLAINED_FIELDS,
        listing,
        "x.identity_count DESC, x.entitlement_id",
        "x.entitlement_id",
    )
    .await
}

/// The published (and saved) potential roles of a session with their definitions: the
/// entitlements at least half their members hold, excluded ones left out.
#[derive(Debug, Clone)]
pub struct DefinedRole {
    /// The role's id.
    pub id: Uuid,
    /// Its name.
    pub name: String,
    /// Its members.
    pub identity_count: i32,
    /// Its definition, as entitlement ids.
    pub definition: Vec<String>,
}

/// The roles of `session` that readers see, with their definitions, in the session's order.
pub async fn defined_roles(pool: &PgPool, session: Uuid) -> Result<Vec<DefinedRole>, StoreError> {
    let rows = sqlx::query!(
        r#"SELECT r.id AS "id!", r.name AS "name!", r.identity_count AS "identity_count!",
                  ARRAY(SELECT e.ext_id FROM potential_role_entitlements pre
                          JOIN entitlements e ON e.id = pre.entitlement_id
                         WHERE pre.potential_role_id = r.id AND NOT pre.excluded
                           AND 2 * pre.identity_count >= r.identity_count
                         ORDER BY e.ext_id) AS "definition!"
             FROM potential_role_summaries r
            WHERE r.session_id = $1
            ORDER BY r.ordinal, r.id"#,
        session
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| DefinedRole {
            id: row.id,
            name: row.name,
            identity_count: row.identity_count,
            definition: row.definition,
        })
        .collect())
}

/// Writes the published generation's insights of `session` (every role's rules, the outliers,
/// the unexplained access with all holders) as a zip to `out`, streaming rows from the
/// database.
pub async fn write_session_zip<W: Write + Seek + Send>(
    pool: &PgPool,
    session: Uuid,
    out: W,
) -> Result<W, StoreError> {
    let export_error =
        |err: ExportError| StoreError::Query(format!("cannot write the insights zip: {err}"));
    let mut zip = SessionInsightsZip::new(out).map_err(export_error)?;
    let mut rules = sqlx::query!(
        r#"SELECT r.id AS "role_id!", r.name AS "role_name!", x.rank, x.criteria, x.matched,
                  x.members_matched, x.members
             FROM potential_role_summaries r
             JOIN potential_role_rules x ON x.potential_role_id = r.id
            WHERE r.session_id = $1
            ORDER BY r.ordinal, r.id, x.rank"#,
        session
    )
    .fetch(pool);
    while let Some(row) = rules.try_next().await? {
        let rule = ExportedRule {
            rank: row.rank,
            criteria: row.criteria,
            matched: row.matched,
            members_matched: row.members_matched,
            members: row.members,
        };
        zip.rule(&row.role_id.to_string(), &row.role_name, &rule)
            .map_err(export_error)?;
    }
    drop(rules);
    let mut outliers = sqlx::query!(
        r#"SELECT o.rank, i.ext_id, o.score, o.in_role, o.unusual_count, o.missing_count,
                  ARRAY(SELECT r::text FROM unnest(o.role_ids) r) AS "role_ids!",
                  ARRAY(SELECT e.ext_id FROM unnest(o.unusual_entitlements) WITH ORDINALITY u(id, n)
                          JOIN entitlements e ON e.id = u.id ORDER BY u.n) AS "unusual!",
                  ARRAY(SELECT e.ext_id FROM unnest(o.missing_entitlements) WITH ORDINALITY u(id, n)
                          JOIN entitlements e ON e.id = u.id ORDER BY u.n) AS "missing!"
             FROM session_outliers o
             JOIN role_mining_sessions s ON s.id = o.session_id
                                        AND o.generation = s.published_generation
             JOIN identities i ON i.id = o.identity_id
            WHERE o.session_id = $1
            ORDER BY o.rank"#,
        session
    )
    .fetch(pool);
    while let Some(row) = outliers.try_next().await? {
        let outlier = ExportedOutlier {
            rank: row.rank,
            identity_id: row.ext_id,
            score: row.score,
            in_role: row.in_role,
            unusual_count: row.unusual_count,
            unusual: row.unusual,
            missing_count: row.missing_count,
            missing: row.missing,
        };
        zip.outlier(&outlier, &row.role_ids).map_err(export_error)?;
    }
    drop(outliers);
    let mut unexplained = sqlx::query!(
        r#"SELECT src.ext_id AS source_id, src.name AS source_name, e.ext_id AS entitlement_id,
                  e.name AS entitlement_name,
                  (SELECT count(*) FROM unnest(x.identity_ids) h(id)
                    WHERE NOT EXISTS (SELECT 1 FROM source_usage u
                                       WHERE u.identity_id = h.id AND u.source_id = e.source_id
                                         AND u.usage_days > 0)) AS "unused!",
                  ARRAY(SELECT i.ext_id FROM unnest(x.identity_ids) WITH ORDINALITY h(id, n)
                          JOIN identities i ON i.id = h.id ORDER BY h.n) AS "identities!"
             FROM session_unexplained x
             JOIN role_mining_sessions s ON s.id = x.session_id
                                        AND x.generation = s.published_generation
             JOIN entitlements e ON e.id = x.entitlement_id
             JOIN sources src ON src.id = e.source_id
            WHERE x.session_id = $1
            ORDER BY src.ext_id, x.identity_count DESC, e.ext_id"#,
        session
    )
    .fetch(pool);
    while let Some(row) = unexplained.try_next().await? {
        zip.unexplained(&ExportedUnexplained {
            source_id: row.source_id,
            source_name: row.source_name,
            entitlement_id: row.entitlement_id,
            entitlement_name: row.entitlement_name,
            unused_identity_count: row.unused,
            identity_ids: row.identities,
        })
        .map_err(export_error)?;
    }
    drop(unexplained);
    zip.finish().map_err(export_error)
}

/// [`write_session_zip`] on the blocking thread pool (deflating holds a thread for seconds on
/// a large session); the database stream is driven by the same runtime.
pub async fn write_session_zip_blocking<W: Write + Seek + Send + 'static>(
    pool: &PgPool,
    session: Uuid,
    out: W,
) -> Result<W, StoreError> {
    let pool = pool.clone();
    let runtime = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || runtime.block_on(write_session_zip(&pool, session, out)))
        .await
        .map_err(|err| StoreError::Query(format!("the insights export task failed: {err}")))?
}
