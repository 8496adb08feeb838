//! Loading access data files into the database: all or nothing.
//!
//! The files are validated by `rolemine_dataset::reader` on a blocking thread. Assignments, the
//! one large file, stream through a bounded channel into `COPY` while they are read, as pairs of
//! import-local integer indices; the other records are buffered as CSV and copied after. Staging
//! tables are temporary and the merge into the live tables is one transaction, so an input with
//! any error, or a failure half-way, leaves the database exactly as it was.
//!
//! Re-importing updates in place: identities, entitlements, sources and roles are upserted by
//! id; an identity's attributes are replaced; the assignments and usage of every identity that
//! appears in the new assignments.csv / usage.csv are replaced by the new ones; a role's
//! entitlements are replaced by those the new roles.csv lists.

use std::path::{Path, PathBuf};

use rolemine_dataset::reader::{
    self, AssignmentRecord, EntitlementRecord, IdentityRecord, ImportSink, RoleRecord,
    SourceRecord, UsageRecord,
};
use rolemine_dataset::{DataErrors, DataSource};
use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use tokio::sync::mpsc;

use crate::error::StoreError;

/// Bytes of encoded assignment rows per `COPY` message.
const CHUNK: usize = 1 << 20;
/// Chunks in flight between the reader thread and the database: bounds memory.
const CHANNEL_CHUNKS: usize = 8;

/// Why an import did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The input has errors; nothing was written.
    #[error("{0}")]
    Invalid(DataErrors),
    /// The database failed; nothing was written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The reading thread died.
    #[error("the import reader stopped unexpectedly: {0}")]
    Reader(String),
}

impl From<sqlx::Error> for ImportError {
    fn from(err: sqlx::Error) -> Self {
        ImportError::Store(StoreError::Database(err))
    }
}

/// Row totals in the database after an import.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct AccessCounts {
    /// Identities.
    pub identities: i64,
    /// Entitlements.
    pub entitlements: i64,
    /// Sources.
    pub sources: i64,
    /// Assignments.
    pub assignments: i64,
    /// Usage rows.
    pub usage: i64,
    /// Existing roles (imported and provisioned).
    pub roles: i64,
}

/// Current row totals.
pub async fn counts(pool: &PgPool) -> Result<AccessCounts, StoreError> {
    Ok(sqlx::query_as(
        "SELECT (SELECT count(*) FROM identities) AS identities,
                (SELECT count(*) FROM entitlements) AS entitlements,
                (SELECT count(*) FROM sources) AS sources,
                (SELECT count(*) FROM assignments) AS assignments,
                (SELECT count(*) FROM source_usage) AS usage,
                (SELECT count(*) FROM roles) AS roles",
    )
    .fetch_one(pool)
    .await?)
}

/// The encoded non-assignment tables the reader thread hands back once the files are read.
struct Buffers {
    sources: Vec<u8>,
    identities: Vec<u8>,
    entitlements: Vec<u8>,
    usage: Vec<u8>,
    roles: Vec<u8>,
}

/// Encodes records as CSV for `COPY ... (FORMAT csv)`; assignments go out in chunks.
struct CopySink {
    columns: Vec<String>,
    sources: csv::Writer<Vec<u8>>,
    identities: csv::Writer<Vec<u8>>,
    entitlements: csv::Writer<Vec<u8>>,
    usage: csv::Writer<Vec<u8>>,
    roles: csv::Writer<Vec<u8>>,
    assignments: Vec<u8>,
    sender: mpsc::Sender<Vec<u8>>,
    progress: Box<dyn FnMut(u64) + Send>,
    assignment_count: u64,
}

fn writer() -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::new())
}

fn csv_err(err: csv::Error) -> String {
    format!("cannot encode a staging row: {err}")
}

fn flag(b: bool) -> &'static str {
    if b {
        "t"
    } else {
        "f"
    }
}

impl CopySink {
    fn flush_assignments(&mut self) -> Result<(), String> {
        if self.assignments.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.assignments, Vec::with_capacity(CHUNK + 64));
        self.sender
            .blocking_send(chunk)
            .map_err(|_| "the database stopped accepting rows".to_owned())
    }

    fn finish(mut self) -> Result<Buffers, String> {
        self.flush_assignments()?;
        let into = |w: csv::Writer<Vec<u8>>| w.into_inner().map_err(|e| e.to_string());
        Ok(Buffers {
            sources: into(self.sources)?,
            identities: into(self.identities)?,
            entitlements: into(self.entitlements)?,
            usage: into(self.usage)?,
            roles: into(self.roles)?,
        })
    }
}

impl ImportSink for CopySink {
    fn attribute_columns(&mut self, names: &[String]) -> Result<(), String> {
        self.columns = names.to_vec();
        Ok(())
    }

    fn source(&mut self, r: SourceRecord<'_>) -> Result<(), String> {
        self.sources
            .write_record([r.index.to_string().as_str(), r.id, r.name])
            .map_err(csv_err)
    }

    fn identity(&mut self, r: IdentityRecord<'_>) -> Result<(), String> {
        let attributes: serde_json::Map<String, serde_json::Value> = r
            .attributes
            .iter()
            .filter_map(|&(column, value)| {
                let name = self.columns.get(column)?;
                Some((name.clone(), serde_json::Value::from(value)))
            })
            .collect();
        let attributes = serde_json::Value::Object(attributes).to_string();
        self.identities
            .write_record([
                r.index.to_string().as_str(),
                r.id,
                r.name,
                r.email.unwrap_or(""),
                attributes.as_str(),
                flag(r.implicit),
            ])
            .map_err(csv_err)
    }

    fn entitlement(&mut self, r: EntitlementRecord<'_>) -> Result<(), String> {
        self.entitlements
            .write_record([
                r.index.to_string().as_str(),
                r.id,
                r.source.to_string().as_str(),
                r.name,
                r.attribute,
                r.description.unwrap_or(""),
                flag(r.implicit),
            ])
            .map_err(csv_err)
    }

    fn assignment(&mut self, r: AssignmentRecord<'_>) -> Result<(), String> {
        use std::io::Write;
        // Two integers per line: cheaper to encode, send and parse than the ids themselves.
        let _ = writeln!(self.assignments, "{},{}", r.identity, r.entitlement);
        self.assignment_count += 1;
        if self.assignments.len() >= CHUNK {
            (self.progress)(self.assignment_count);
            self.flush_assignments()?;
        }
        Ok(())
    }

    fn usage(&mut self, r: UsageRecord<'_>) -> Result<(), String> {
        self.usage
            .write_record([
                r.identity.to_string(),
                r.source.to_string(),
                r.days.to_string(),
            ])
            .map_err(csv_err)
    }

    fn role(&mut self, r: RoleRecord<'_>) -> Result<(), String> {
        self.roles
            .write_record([r.role_id, r.role_name, r.entitlement.to_string().as_str()])
            .map_err(csv_err)
    }
}

/// Imports the directory or zip at `path`. `progress` is called from the reading thread with
/// the assignment rows read so far. Returns the totals in the database afterwards.
pub async fn import_path(
    pool: &PgPool,
    path: &Path,
    progress: impl FnMut(u64) + Send + 'static,
) -> Result<(AccessCounts, Vec<String>), ImportError> {
    import_path_with(pool, path, BULK_ROWS, progress).await
}

/// [`import_path`] with the staged-row count from which large tables are rebuilt in bulk.
pub async fn import_path_with(
    pool: &PgPool,
    path: &Path,
    bulk_rows: i64,
    progress: impl FnMut(u64) + Send + 'static,
) -> Result<(AccessCounts, Vec<String>), ImportError> {
    let (sender, mut receiver) = mpsc::channel::<Vec<u8>>(CHANNEL_CHUNKS);
    let path: PathBuf = path.to_path_buf();
    let reader = tokio::task::spawn_blocking(move || {
        let mut source = DataSource::open(&path).map_err(DataErrors::from)?;
        let mut sink = CopySink {
            columns: Vec::new(),
            sources: writer(),
            identities: writer(),
            entitlements: writer(),
            usage: writer(),
            roles: writer(),
            assignments: Vec::with_capacity(CHUNK + 64),
            sender,
            progress: Box::new(progress),
            assignment_count: 0,
        };
        let summary = reader::read(&mut source, &mut sink)?;
        let buffers = sink.finish().map_err(|message| {
            DataErrors::from(rolemine_dataset::DataError::file("import", message))
        })?;
        Ok::<(Buffers, Vec<String>), DataErrors>((buffers, summary.warnings))
    });

    let mut tx = pool.begin().await?;
    let conn: &mut PgConnection = &mut tx;
    create_staging(conn).await?;
    let streamed = async {
        let mut copy = conn
            .copy_in_raw(
                "COPY st_assignments (identity_idx, entitlement_idx) FROM STDIN (FORMAT csv)",
            )
            .await?;
        while let Some(chunk) = receiver.recv().await {
            copy.send(chunk).await?;
        }
        copy.finish().await?;
        Ok::<(), sqlx::Error>(())
    }
    .await;
    // Dropping the receiver unblocks the reader if the database failed first.
    drop(receiver);
    let read = reader
        .await
        .map_err(|err| ImportError::Reader(err.to_string()))?;
    // A database failure also makes the reader fail ("stopped accepting rows"): report the cause.
    streamed?;
    let (buffers, warnings) = read.map_err(ImportError::Invalid)?;

    for (table, columns, data) in [
        ("st_sources", "idx, ext_id, name", &buffers.sources),
        (
            "st_identities",
            "idx, ext_id, name, email, attributes, implicit",
            &buffers.identities,
        ),
        (
            "st_entitlements",
            "idx, ext_id, source_idx, name, attribute, description, implicit",
            &buffers.entitlements,
        ),
        (
            "st_usage",
            "identity_idx, source_idx, usage_days",
            &buffers.usage,
        ),
        (
            "st_roles",
            "role_ext, role_name, entitlement_idx",
            &buffers.roles,
        ),
    ] {
        let mut copy = conn
            .copy_in_raw(&format!("COPY {table} ({columns}) FROM STDIN (FORMAT csv)"))
            .await?;
        for chunk in data.chunks(CHUNK) {
            copy.send(chunk).await?;
        }
        copy.finish().await?;
    }
    merge(conn, bulk_rows).await?;
    tx.commit().await?;
    Ok((counts(pool).await?, warnings))
}

async fn create_staging(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(
        "CREATE TEMP TABLE st_sources (idx int PRIMARY KEY, ext_id text NOT NULL, name text NOT NULL) ON COMMIT DROP;
         CREATE TEMP TABLE st_identities (idx int PRIMARY KEY, ext_id text NOT NULL, name text NOT NULL,
             email text, attributes jsonb NOT NULL, implicit boolean NOT NULL) ON COMMIT DROP;
         CREATE TEMP TABLE st_entitlements (idx int PRIMARY KEY, ext_id text NOT NULL, source_idx int NOT NULL,
             name text NOT NULL, attribute text NOT NULL, description text, implicit boolean NOT NULL) ON COMMIT DROP;
         CREATE TEMP TABLE st_assignments (identity_idx int NOT NULL, entitlement_idx int NOT NULL) ON COMMIT DROP;
         CREATE TEMP TABLE st_usage (identity_idx int NOT NULL, source_idx int NOT NULL, usage_days smallint NOT NULL) ON COMMIT DROP;
         CREATE TEMP TABLE st_roles (role_ext text NOT NULL, role_name text NOT NULL, entitlement_idx int NOT NULL) ON COMMIT DROP;",
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Staged rows above which a table's indexes and foreign keys are dropped and rebuilt in bulk
/// instead of maintained row by row (when the import is also large next to the table).
pub const BULK_ROWS: i64 = 1_000_000;

/// A large table whose keys the merge rebuilds in bulk for large imports.
struct BulkTable {
    table: &'static str,
    staging: &'static str,
    drop: &'static str,
    rebuild: &'static str,
}

/// The two tables that reach millions of rows. Their foreign keys are re-added `NOT VALID` and
/// then validated: one set-based check instead of a trigger call per inserted row.
const BULK_TABLES: [BulkTable; 2] = [
    BulkTable {
        table: "assignments",
        staging: "st_assignments",
        drop: "ALTER TABLE assignments DROP CONSTRAINT assignments_pkey,
                   DROP CONSTRAINT assignments_identity_id_fkey,
                   DROP CONSTRAINT assignments_entitlement_id_fkey;
               DROP INDEX assignments_entitlement_idx;",
        rebuild: "ALTER TABLE assignments ADD CONSTRAINT assignments_pkey PRIMARY KEY (identity_id, entitlement_id);
               CREATE INDEX assignments_entitlement_idx ON assignments (entitlement_id, identity_id);
               ALTER TABLE assignments
                   ADD CONSTRAINT assignments_identity_id_fkey FOREIGN KEY (identity_id)
                       REFERENCES identities (id) ON DELETE CASCADE NOT VALID,
                   ADD CONSTRAINT assignments_entitlement_id_fkey FOREIGN KEY (entitlement_id)
                       REFERENCES entitlements (id) ON DELETE CASCADE NOT VALID;
               ALTER TABLE assignments VALIDATE CONSTRAINT assignments_identity_id_fkey;
               ALTER TABLE assignments VALIDATE CONSTRAINT assignments_entitlement_id_fkey;
               ANALYZE assignments;",
    },
    BulkTable {
        table: "source_usage",
        staging: "st_usage",
        drop: "ALTER TABLE source_usage DROP CONSTRAINT source_usage_pkey,
                   DROP CONSTRAINT source_usage_identity_id_fkey,
                   DROP CONSTRAINT source_usage_source_id_fkey;",
        rebuild: "ALTER TABLE source_usage ADD CONSTRAINT source_usage_pkey PRIMARY KEY (source_id, identity_id);
               ALTER TABLE source_usage
                   ADD CONSTRAINT source_usage_identity_id_fkey FOREIGN KEY (identity_id)
                       REFERENCES identities (id) ON DELETE CASCADE NOT VALID,
                   ADD CONSTRAINT source_usage_source_id_fkey FOREIGN KEY (source_id)
                       REFERENCES sources (id) ON DELETE CASCADE NOT VALID;
               ALTER TABLE source_usage VALIDATE CONSTRAINT source_usage_identity_id_fkey;
               ALTER TABLE source_usage VALIDATE CONSTRAINT source_usage_source_id_fkey;
               ANALYZE source_usage;",
    },
];

/// Moves the staged rows into the live tables (inside the caller's transaction).
async fn merge(conn: &mut PgConnection, bulk_rows: i64) -> Result<(), sqlx::Error> {
    // Sorting and index builds over millions of rows want memory, for this transaction only.
    sqlx::raw_sql("SET LOCAL work_mem = '256MB'; SET LOCAL maintenance_work_mem = '1GB';")
        .execute(&mut *conn)
        .await?;
    let mut rebuilt = Vec::new();
    for bulk in &BULK_TABLES {
        let staged: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {}", bulk.staging))
            .fetch_one(&mut *conn)
            .await?;
        let existing: i64 = sqlx::query_scalar(
            "SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE relname = $1",
        )
        .bind(bulk.table)
        .fetch_one(&mut *conn)
        .await?;
        if staged >= bulk_rows && staged >= existing / 2 {
            sqlx::raw_sql(bulk.drop).execute(&mut *conn).await?;
            rebuilt.push(bulk);
        }
    }
    merge_rows(&mut *conn).await?;
    for bulk in rebuilt {
        sqlx::raw_sql(bulk.rebuild).execute(&mut *conn).await?;
    }
    Ok(())
}

async fn merge_rows(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(
        "-- Temporary tables have no statistics until analyzed, and the planner needs them to
         -- choose hash joins over nested loops for millions of rows.
         ANALYZE st_sources; ANALYZE st_identities; ANALYZE st_entitlements;
         ANALYZE st_assignments; ANALYZE st_usage; ANALYZE st_roles;

         INSERT INTO sources (ext_id, name)
         SELECT ext_id, name FROM st_sources
         ON CONFLICT (ext_id) DO UPDATE SET name = EXCLUDED.name;

         INSERT INTO identities (ext_id, name, email, attributes)
         SELECT ext_id, name, email, attributes FROM st_identities WHERE NOT implicit
         ON CONFLICT (ext_id) DO UPDATE
            SET name = EXCLUDED.name, email = EXCLUDED.email, attributes = EXCLUDED.attributes;
         INSERT INTO identities (ext_id, name)
         SELECT ext_id, name FROM st_identities WHERE implicit
         ON CONFLICT (ext_id) DO NOTHING;

         CREATE TEMP TABLE map_sources ON COMMIT DROP AS
         SELECT s.idx, l.id FROM st_sources s JOIN sources l USING (ext_id);
         CREATE TEMP TABLE map_identities ON COMMIT DROP AS
         SELECT s.idx, l.id FROM st_identities s JOIN identities l USING (ext_id);

         INSERT INTO entitlements (ext_id, source_id, name, attribute, description)
         SELECT e.ext_id, m.id, e.name, e.attribute, e.description
           FROM st_entitlements e JOIN map_sources m ON m.idx = e.source_idx
          WHERE NOT e.implicit
         ON CONFLICT (ext_id) DO UPDATE
            SET source_id = EXCLUDED.source_id, name = EXCLUDED.name,
                attribute = EXCLUDED.attribute, description = EXCLUDED.description;
         INSERT INTO entitlements (ext_id, source_id, name, attribute)
         SELECT e.ext_id, m.id, e.name, e.attribute
           FROM st_entitlements e JOIN map_sources m ON m.idx = e.source_idx
          WHERE e.implicit
         ON CONFLICT (ext_id) DO NOTHING;

         CREATE TEMP TABLE map_entitlements ON COMMIT DROP AS
         SELECT s.idx, l.id FROM st_entitlements s JOIN entitlements l USING (ext_id);
         ANALYZE map_sources; ANALYZE map_identities; ANALYZE map_entitlements;

         DELETE FROM assignments
          WHERE identity_id IN (SELECT m.id FROM map_identities m
                                 WHERE m.idx IN (SELECT DISTINCT identity_idx FROM st_assignments));
         INSERT INTO assignments (identity_id, entitlement_id)
         SELECT DISTINCT i.id, e.id
           FROM st_assignments a
           JOIN map_identities i ON i.idx = a.identity_idx
           JOIN map_entitlements e ON e.idx = a.entitlement_idx
          ORDER BY 1, 2;

         DELETE FROM source_usage
          WHERE identity_id IN (SELECT m.id FROM map_identities m
                                 WHERE m.idx IN (SELECT identity_idx FROM st_usage));
         INSERT INTO source_usage (identity_id, source_id, usage_days)
         SELECT i.id, s.id, u.usage_days
           FROM st_usage u
           JOIN map_identities i ON i.idx = u.identity_idx
           JOIN map_sources s ON s.idx = u.source_idx;

         INSERT INTO roles (id, ext_id, name, origin)
         SELECT DISTINCT ON (role_ext) gen_random_uuid(), role_ext, role_name, 'IMPORTED'
           FROM st_roles ORDER BY role_ext
         ON CONFLICT (ext_id) DO UPDATE SET name = EXCLUDED.name;
         DELETE FROM role_entitlements
          WHERE role_id IN (SELECT r.id FROM roles r JOIN st_roles s ON s.role_ext = r.ext_id);
         INSERT INTO role_entitlements (role_id, entitlement_id)
         SELECT DISTINCT r.id, e.id
           FROM st_roles s
           JOIN roles r ON r.ext_id = s.role_ext
           JOIN map_entitlements e ON e.idx = s.entitlement_idx;",
    )
    .execute(conn)
    .await?;
    Ok(())
}
