//! Potential-role exports: their records, and the rows of the export zip streamed from the
//! database into `rolemine_dataset::role_export`, which lays out and deflates the files.

use std::io::{Seek, Write};

use futures_util::TryStreamExt;
use rolemine_dataset::role_export::{
    ExportCounts, ExportedEntitlement, ExportedOutlier, ExportedRule, RoleExportZip,
};
use rolemine_domain::{ExportJob, ExportState, Job};
use sqlx::types::Json;
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

use crate::error::StoreError;

/// Which of a role's entitlements an export holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportFilter {
    /// Leave out entitlements held by fewer than this percent of the members (0-100).
    pub min_entitlement_popularity: i32,
    /// Keep the members' common-access entitlements.
    pub include_common_access: bool,
}

impl Default for ExportFilter {
    fn default() -> Self {
        Self {
            min_entitlement_popularity: 0,
            include_common_access: true,
        }
    }
}

fn export_error(err: rolemine_dataset::role_export::ExportError) -> StoreError {
    StoreError::Query(err.to_string())
}

/// Writes the export of potential role `role` to `out` and returns `out` with the row counts.
/// Excluded entitlements are never exported; `filter` narrows the entitlements further, and
/// `missing_access.csv` lists, per member, the exported entitlements the member does not hold.
/// `rules.csv` holds the role's attribute rules and `outliers.csv` its outlier members.
pub async fn write_zip<W: Write + Seek + Send>(
    pool: &PgPool,
    role: Uuid,
    filter: ExportFilter,
    out: W,
) -> Result<(W, ExportCounts), StoreError> {
    let entitlements = sqlx::query_as!(
        ExportedEntitlement,
        "SELECT e.id AS key, e.ext_id AS id, e.name, e.attribute, s.name AS application,
                s.ext_id AS source_id, pre.identity_count, pre.popularity, pre.popularity_in_org,
                pre.common_access
           FROM exported_entitlements($1, $2, $3) x
           JOIN potential_role_entitlements pre
             ON pre.potential_role_id = $1 AND pre.entitlement_id = x.entitlement_id
           JOIN entitlements e ON e.id = pre.entitlement_id
           JOIN sources s ON s.id = e.source_id
          ORDER BY pre.popularity DESC, e.id",
        role,
        f64::from(filter.min_entitlement_popularity),
        filter.include_common_access,
    )
    .fetch_all(pool)
    .await?;
    let attributes = sqlx::query_scalar!(
        r#"SELECT DISTINCT key AS "key!" FROM potential_role_members m
             JOIN identities i ON i.id = m.identity_id, jsonb_object_keys(i.attributes) AS key
            WHERE m.potential_role_id = $1 ORDER BY 1"#,
        role
    )
    .fetch_all(pool)
    .await?;

    let mut zip = RoleExportZip::new(out, attributes, entitlements).map_err(export_error)?;
    let mut members = sqlx::query!(
        r#"SELECT i.ext_id, i.name, i.email, i.attributes AS "attributes: Json<serde_json::Map<String, serde_json::Value>>"
             FROM potential_role_members m
             JOIN identities i ON i.id = m.identity_id
            WHERE m.potential_role_id = $1 ORDER BY m.identity_id"#,
        role
    )
    .fetch(pool);
    while let Some(member) = members.try_next().await? {
        let values = &member.attributes.0;
        zip.member(
            &member.ext_id,
            &member.name,
            member.email.as_deref(),
            |column| values.get(column).and_then(serde_json::Value::as_str),
        )
        .map_err(export_error)?;
    }
    drop(members);
    zip.start_missing_access().map_err(export_error)?;
    let mut held = sqlx::query!(
        "SELECT i.ext_id, a.entitlement_ids AS \"entitlement_ids?\" FROM potential_role_members m
           JOIN identities i ON i.id = m.identity_id
           LEFT JOIN identity_access a ON a.identity_id = m.identity_id
          WHERE m.potential_role_id = $1 ORDER BY m.identity_id",
        role
    )
    .fetch(pool);
    while let Some(member) = held.try_next().await? {
        // `entitlement_ids` is sorted (its CHECK and the import keep it so).
        zip.member_holds(&member.ext_id, &member.entitlement_ids.unwrap_or_default())
            .map_err(export_error)?;
    }
    drop(held);
    let (rules, outliers) = role_insights(pool, role).await?;
    zip.insights(&rules, &outliers).map_err(export_error)?;
    zip.finish().map_err(export_error)
}

/// Outlier rows an export lists at most (its members whose access departs most).
const EXPORTED_OUTLIERS: i64 = 10_000;

/// The role's attribute rules and its outliers (members, or identities whose nearest role it
/// is), for `rules.csv` and `outliers.csv`.
async fn role_insights(
    pool: &PgPool,
    role: Uuid,
) -> Result<(Vec<ExportedRule>, Vec<ExportedOutlier>), StoreError> {
    let rules = crate::insights::rules(pool, role)
        .await?
        .into_iter()
        .map(|rule| ExportedRule {
            rank: rule.rank,
            criteria: rule.criteria,
            matched: rule.matched,
            members_matched: rule.members_matched,
            members: rule.members,
        })
        .collect();
    let outliers = sqlx::query!(
        r#"SELECT o.rank, i.ext_id, o.score, o.in_role, o.unusual_count, o.missing_count,
                  ARRAY(SELECT e.ext_id FROM unnest(o.unusual_entitlements) WITH ORDINALITY u(id, n)
                          JOIN entitlements e ON e.id = u.id ORDER BY u.n) AS "unusual!",
                  ARRAY(SELECT e.ext_id FROM unnest(o.missing_entitlements) WITH ORDINALITY u(id, n)
                          JOIN entitlements e ON e.id = u.id ORDER BY u.n) AS "missing!"
             FROM potential_roles pr
             JOIN session_outliers o ON o.session_id = pr.session_id
                                    AND o.generation = pr.generation
                                    AND o.role_ids @> ARRAY[pr.id]
             JOIN identities i ON i.id = o.identity_id
            WHERE pr.id = $1
            ORDER BY o.score DESC, o.rank
            LIMIT $2"#,
        role,
        EXPORTED_OUTLIERS
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|row| ExportedOutlier {
        rank: row.rank,
        identity_id: row.ext_id,
        score: row.score,
        in_role: row.in_role,
        unusual_count: row.unusual_count,
        unusual: row.unusual,
        missing_count: row.missing_count,
        missing: row.missing,
    })
    .collect();
    Ok((rules, outliers))
}

/// An asynchronous export as stored.
#[derive(Debug, Clone)]
pub struct ExportRecord {
    /// Its id (`exportId`).
    pub id: Uuid,
    /// The potential role exported.
    pub potential_role_id: Uuid,
    /// Where it is.
    pub state: ExportState,
    /// The filter's popularity floor.
    pub min_entitlement_popularity: i32,
    /// The filter's common-access switch.
    pub include_common_access: bool,
    /// Where the zip is in the artifact store, once written (cleared when it expires).
    pub artifact_key: Option<String>,
    /// Why it failed, in state `ERROR`.
    pub error_message: Option<String>,
    /// When the artifact stops being served.
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl ExportRecord {
    /// The filter it was asked with.
    pub fn filter(&self) -> ExportFilter {
        ExportFilter {
            min_entitlement_popularity: self.min_entitlement_popularity,
            include_common_access: self.include_common_access,
        }
    }
}

/// Records an export of `role` and queues its job, in one transaction.
pub async fn create(
    pool: &PgPool,
    role: Uuid,
    filter: ExportFilter,
) -> Result<ExportRecord, StoreError> {
    let mut tx = pool.begin().await?;
    let id = Uuid::new_v4();
    sqlx::query!(
        "INSERT INTO potential_role_exports (id, potential_role_id, min_entitlement_popularity,
                                             include_common_access)
         VALUES ($1, $2, $3, $4)",
        id,
        role,
        filter.min_entitlement_popularity,
        filter.include_common_access,
    )
    .execute(&mut *tx)
    .await?;
    crate::jobs::enqueue(&mut tx, &Job::Export(ExportJob { export_id: id })).await?;
    let record = fetch(&mut *tx, None, id).await?;
    tx.commit().await?;
    Ok(record)
}

/// The export `export`; with `role`, only if it exports that role.
pub async fn get(
    pool: &PgPool,
    role: Option<Uuid>,
    export: Uuid,
) -> Result<ExportRecord, StoreError> {
    fetch(pool, role, export).await
}

async fn fetch<'e>(
    executor: impl PgExecutor<'e>,
    role: Option<Uuid>,
    export: Uuid,
) -> Result<ExportRecord, StoreError> {
    sqlx::query_as!(
        ExportRecord,
        r#"SELECT id, potential_role_id, state AS "state: ExportState",
                  min_entitlement_popularity, include_common_access, artifact_key,
                  error_message, expires_at
             FROM potential_role_exports
            WHERE id = $1 AND ($2::uuid IS NULL OR potential_role_id = $2)"#,
        export,
        role,
    )
    .fetch_optional(executor)
    .await?
    .ok_or_else(|| StoreError::NotFound {
        what: "export",
        id: export.to_string(),
    })
}

/// Moves a queued (or interrupted) export to `IN_PROGRESS`; `None` when it is finished already.
pub async fn start(pool: &PgPool, export: Uuid) -> Result<Option<ExportRecord>, StoreError> {
    let started = sqlx::query_scalar!(
        "UPDATE potential_role_exports SET state = $2, modified_at = now()
          WHERE id = $1 AND state IN ($3, $2)
         RETURNING id",
        export,
        ExportState::InProgress as _,
        ExportState::Queued as _,
    )
    .fetch_optional(pool)
    .await?;
    // Without a row, this still tells "finished" from "never existed".
    let record = get(pool, None, export).await?;
    Ok(started.map(|_| record))
}

/// Records the written artifact: `SUCCESS`, served until `ttl` from now.
pub async fn succeed(
    pool: &PgPool,
    export: Uuid,
    key: &str,
    ttl: std::time::Duration,
) -> Result<(), StoreError> {
    sqlx::query!(
        "UPDATE potential_role_exports
            SET state = $4, artifact_key = $2, error_message = NULL, modified_at = now(),
                expires_at = now() + make_interval(secs => $3)
          WHERE id = $1",
        export,
        key,
        ttl.as_secs_f64(),
        ExportState::Success as _,
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Leaves the export `ERROR` with `message`.
pub async fn fail(pool: &PgPool, export: Uuid, message: &str) -> Result<(), StoreError> {
    sqlx::query!(
        "UPDATE potential_role_exports SET state = $3, error_message = $2, modified_at = now()
          WHERE id = $1 AND state <> $4",
        export,
        message,
        ExportState::Error as _,
        ExportState::Success as _,
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// Forgets the artifacts of exports past their expiry and returns their keys, for the caller
/// to delete from the artifact store. Each key is returned once, to one caller.
pub async fn take_expired(pool: &PgPool) -> Result<Vec<String>, StoreError> {
    Ok(sqlx::query_scalar!(
        r#"UPDATE potential_role_exports e SET artifact_key = NULL
             FROM (SELECT id, artifact_key FROM potential_role_exports
                    WHERE artifact_key IS NOT NULL AND expires_at < now()
                    FOR UPDATE SKIP LOCKED) old
            WHERE e.id = old.id
           RETURNING old.artifact_key AS "artifact_key!""#,
    )
    .fetch_all(pool)
    .await?)
}

/// [`write_zip`] on the blocking thread pool: deflating a large role and writing the file
/// would otherwise hold an async worker thread for seconds. The database stream is still
/// driven by the same runtime.
pub async fn write_zip_blocking<W: Write + Seek + Send + 'static>(
    pool: &PgPool,
    role: Uuid,
    filter: ExportFilter,
    out: W,
) -> Result<(W, ExportCounts), StoreError> {
    let pool = pool.clone();
    let runtime = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || runtime.block_on(write_zip(&pool, role, filter, out)))
        .await
        .map_err(|err| StoreError::Query(format!("the export task failed: {err}")))?
}
