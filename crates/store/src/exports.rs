//! A potential role as the export zip of `access-data-format.md`: `identities.csv`,
//! `entitlements.csv` and `missing_access.csv`. Members are streamed from the database straight
//! into the zip's deflate stream, so the size of the role bounds neither memory nor time to the
//! first byte written.

use std::io::{Seek, Write};

use futures_util::TryStreamExt;
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;
use zip::write::SimpleFileOptions;
use zip::ZipWriter;

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

/// Rows written to each file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExportCounts {
    /// `identities.csv` rows.
    pub identities: u64,
    /// `entitlements.csv` rows.
    pub entitlements: u64,
    /// `missing_access.csv` rows.
    pub missing_access: u64,
}

#[derive(Debug, sqlx::FromRow)]
struct EntitlementRow {
    db_id: i32,
    id: String,
    name: String,
    attribute: String,
    application: String,
    source_id: String,
    identity_count: i32,
    popularity: f64,
    popularity_in_org: f64,
    common_access: bool,
}

/// The condition on `potential_role_entitlements pre` that selects what an export, and a role
/// provisioned with the same filter, holds: the role's entitlements not excluded, at or above
/// the popularity floor, common access only when asked for. The arguments are the placeholders
/// bound to the role id, the floor (as a double) and the common-access switch.
pub(crate) fn filtered_entitlements(role: &str, floor: &str, common: &str) -> String {
    format!(
        "pre.potential_role_id = {role} AND NOT pre.excluded \
         AND pre.popularity >= {floor} AND ({common} OR NOT pre.common_access)"
    )
}

fn zip_error(err: zip::result::ZipError) -> StoreError {
    StoreError::Query(format!("cannot write the export zip: {err}"))
}

fn csv_error(err: csv::Error) -> StoreError {
    StoreError::Query(format!("cannot write the export zip: {err}"))
}

/// Writes the export of potential role `role` to `out` and returns `out` with the row counts.
/// Excluded entitlements are never exported; `filter` narrows the entitlements further, and
/// `missing_access.csv` lists, per member, the exported entitlements the member does not hold.
pub async fn write_zip<W: Write + Seek + Send>(
    pool: &PgPool,
    role: Uuid,
    filter: ExportFilter,
    out: W,
) -> Result<(W, ExportCounts), StoreError> {
    let entitlements: Vec<EntitlementRow> = sqlx::query_as(&format!(
        "SELECT e.id AS db_id, e.ext_id AS id, e.name, e.attribute, s.name AS application,
                s.ext_id AS source_id, pre.identity_count, pre.popularity, pre.popularity_in_org,
                pre.common_access
           FROM potential_role_entitlements pre
           JOIN entitlements e ON e.id = pre.entitlement_id
           JOIN sources s ON s.id = e.source_id
          WHERE {}
          ORDER BY pre.popularity DESC, e.id",
        filtered_entitlements("$1", "$2", "$3")
    ))
    .bind(role)
    .bind(f64::from(filter.min_entitlement_popularity))
    .bind(filter.include_common_access)
    .fetch_all(pool)
    .await?;
    let attributes: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT key FROM potential_role_members m
           JOIN identities i ON i.id = m.identity_id, jsonb_object_keys(i.attributes) AS key
          WHERE m.potential_role_id = $1 ORDER BY key",
    )
    .bind(role)
    .fetch_all(pool)
    .await?;

    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let mut zip = ZipWriter::new(out);
    let mut counts = ExportCounts::default();

    zip.start_file("identities.csv", options)
        .map_err(zip_error)?;
    {
        let mut csv = csv::Writer::from_writer(&mut zip);
        let mut header = vec!["id", "name", "email"];
        header.extend(attributes.iter().map(String::as_str));
        csv.write_record(&header).map_err(csv_error)?;
        let mut members = sqlx::query_as::<_, (String, String, Option<String>, Value)>(
            "SELECT i.ext_id, i.name, i.email, i.attributes FROM potential_role_members m
               JOIN identities i ON i.id = m.identity_id
              WHERE m.potential_role_id = $1 ORDER BY m.identity_id",
        )
        .bind(role)
        .fetch(pool);
        while let Some((id, name, email, values)) = members.try_next().await? {
            let mut record = vec![id, name, email.unwrap_or_default()];
            record.extend(attributes.iter().map(|attribute| {
                values
                    .get(attribute)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            }));
            csv.write_record(&record).map_err(csv_error)?;
            counts.identities += 1;
        }
        csv.flush().map_err(|err| csv_error(err.into()))?;
    }

    zip.start_file("entitlements.csv", options)
        .map_err(zip_error)?;
    {
        let mut csv = csv::Writer::from_writer(&mut zip);
        csv.write_record([
            "id",
            "name",
            "attribute",
            "application",
            "source_id",
            "identity_count",
            "popularity",
            "popularity_in_org",
            "common_access",
        ])
        .map_err(csv_error)?;
        for row in &entitlements {
            csv.write_record([
                row.id.as_str(),
                row.name.as_str(),
                row.attribute.as_str(),
                row.application.as_str(),
                row.source_id.as_str(),
                &row.identity_count.to_string(),
                &row.popularity.to_string(),
                &row.popularity_in_org.to_string(),
                if row.common_access { "true" } else { "false" },
            ])
            .map_err(csv_error)?;
            counts.entitlements += 1;
        }
        csv.flush().map_err(|err| csv_error(err.into()))?;
    }

    zip.start_file("missing_access.csv", options)
        .map_err(zip_error)?;
    {
        let mut csv = csv::Writer::from_writer(&mut zip);
        csv.write_record(["identity_id", "entitlement_id"])
            .map_err(csv_error)?;
        let mut members = sqlx::query_as::<_, (String, Option<Vec<i32>>)>(
            "SELECT i.ext_id, a.entitlement_ids FROM potential_role_members m
               JOIN identities i ON i.id = m.identity_id
               LEFT JOIN identity_access a ON a.identity_id = m.identity_id
              WHERE m.potential_role_id = $1 ORDER BY m.identity_id",
        )
        .bind(role)
        .fetch(pool);
        while let Some((identity, held)) = members.try_next().await? {
            let held = held.unwrap_or_default();
            for row in &entitlements {
                // `entitlement_ids` is sorted (its CHECK and the import keep it so).
                if held.binary_search(&row.db_id).is_err() {
                    csv.write_record([identity.as_str(), row.id.as_str()])
                        .map_err(csv_error)?;
                    counts.missing_access += 1;
                }
            }
        }
        csv.flush().map_err(|err| csv_error(err.into()))?;
    }
    let out = zip.finish().map_err(zip_error)?;
    Ok((out, counts))
}

/// The job kind that writes an asynchronous export.
pub const JOB_KIND: &str = "export-potential-role";

/// Attempts at an export job before the export is `ERROR`.
const MAX_ATTEMPTS: i32 = 3;

/// An asynchronous export as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ExportRecord {
    /// Its id (`exportId`).
    pub id: Uuid,
    /// The potential role exported.
    pub potential_role_id: Uuid,
    /// `QUEUED`, `IN_PROGRESS`, `SUCCESS` or `ERROR`.
    pub state: String,
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

const EXPORT_COLUMNS: &str = "id, potential_role_id, state, min_entitlement_popularity, \
    include_common_access, artifact_key, error_message, expires_at";

/// The payload of an export job.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportJob {
    /// The export.
    pub export_id: Uuid,
}

/// Records an export of `role` and queues its job, in one transaction.
pub async fn create(
    pool: &PgPool,
    role: Uuid,
    filter: ExportFilter,
) -> Result<ExportRecord, StoreError> {
    let mut tx = pool.begin().await?;
    let record = sqlx::query_as::<_, ExportRecord>(&format!(
        "INSERT INTO potential_role_exports (id, potential_role_id, min_entitlement_popularity,
                                             include_common_access)
         VALUES ($1, $2, $3, $4) RETURNING {EXPORT_COLUMNS}"
    ))
    .bind(Uuid::new_v4())
    .bind(role)
    .bind(filter.min_entitlement_popularity)
    .bind(filter.include_common_access)
    .fetch_one(&mut *tx)
    .await?;
    let payload = serde_json::to_value(ExportJob {
        export_id: record.id,
    })
    .map_err(|err| StoreError::Query(format!("cannot encode the job: {err}")))?;
    crate::jobs::enqueue(&mut tx, JOB_KIND, &payload, MAX_ATTEMPTS).await?;
    tx.commit().await?;
    Ok(record)
}

/// The export `export`; with `role`, only if it exports that role.
pub async fn get(
    pool: &PgPool,
    role: Option<Uuid>,
    export: Uuid,
) -> Result<ExportRecord, StoreError> {
    sqlx::query_as::<_, ExportRecord>(&format!(
        "SELECT {EXPORT_COLUMNS} FROM potential_role_exports
          WHERE id = $1 AND ($2::uuid IS NULL OR potential_role_id = $2)"
    ))
    .bind(export)
    .bind(role)
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| StoreError::NotFound {
        what: "export",
        id: export.to_string(),
    })
}

/// Moves a queued (or interrupted) export to `IN_PROGRESS`; `None` when it is finished already.
pub async fn start(pool: &PgPool, export: Uuid) -> Result<Option<ExportRecord>, StoreError> {
    get(pool, None, export).await?;
    Ok(sqlx::query_as::<_, ExportRecord>(&format!(
        "UPDATE potential_role_exports SET state = 'IN_PROGRESS', modified_at = now()
          WHERE id = $1 AND state IN ('QUEUED', 'IN_PROGRESS')
         RETURNING {EXPORT_COLUMNS}"
    ))
    .bind(export)
    .fetch_optional(pool)
    .await?)
}

/// Records the written artifact: `SUCCESS`, served until `ttl` from now.
pub async fn succeed(
    pool: &PgPool,
    export: Uuid,
    key: &str,
    ttl: std::time::Duration,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE potential_role_exports
            SET state = 'SUCCESS', artifact_key = $2, error_message = NULL, modified_at = now(),
                expires_at = now() + make_interval(secs => $3)
          WHERE id = $1",
    )
    .bind(export)
    .bind(key)
    .bind(ttl.as_secs_f64())
    .execute(pool)
    .await?;
    Ok(())
}

/// Leaves the export `ERROR` with `message`.
pub async fn fail(pool: &PgPool, export: Uuid, message: &str) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE potential_role_exports SET state = 'ERROR', error_message = $2, modified_at = now()
          WHERE id = $1 AND state <> 'SUCCESS'",
    )
    .bind(export)
    .bind(message)
    .execute(pool)
    .await?;
    Ok(())
}

/// Forgets the artifacts of exports past their expiry and returns their keys, for the caller
/// to delete from the artifact store. Each key is returned once, to one caller.
pub async fn take_expired(pool: &PgPool) -> Result<Vec<String>, StoreError> {
    Ok(sqlx::query_scalar(
        "UPDATE potential_role_exports e SET artifact_key = NULL
           FROM (SELECT id, artifact_key FROM potential_role_exports
                  WHERE artifact_key IS NOT NULL AND expires_at < now()
                  FOR UPDATE SKIP LOCKED) old
          WHERE e.id = old.id
         RETURNING old.artifact_key",
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
