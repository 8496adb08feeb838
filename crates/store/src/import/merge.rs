//! The SQL that moves staged rows into the live tables, inside the import's transaction.

use std::time::Instant;

use rolemine_domain::RoleOrigin;
use sqlx::{Executor, PgConnection};

/// Runs one merge statement, logging how long it took: the import's phase timings.
pub(super) async fn step(
    conn: &mut PgConnection,
    label: &str,
    sql: &str,
) -> Result<(), sqlx::Error> {
    let started = Instant::now();
    conn.execute(sql).await?;
    tracing::debug!(
        step = label,
        seconds = started.elapsed().as_secs_f64(),
        "import step"
    );
    Ok(())
}

/// Upserts the staged sources, identities and entitlements, records their index → id maps and
/// empties their staging tables. Runs once the entity files are read (overlapping the reading
/// of assignments) and again at the end for entities first referenced later on.
pub(super) async fn entities(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    // Temporary tables have no statistics until analyzed, and the planner needs them to
    // choose hash joins over nested loops for a million rows.
    step(
        conn,
        "analyze staged entities",
        "ANALYZE st_sources; ANALYZE st_identities; ANALYZE st_entitlements;",
    )
    .await?;
    // Existing rows are updated only where something changed and new rows inserted, rather
    // than upserted: an upsert draws a sequence value even for a row that exists, so daily
    // re-imports of a million identities would run the integer keys out, and it rewrites
    // unchanged rows.
    step(
        conn,
        "sources",
        "UPDATE sources l SET name = s.name
           FROM st_sources s
          WHERE l.ext_id = s.ext_id AND l.name IS DISTINCT FROM s.name;
         INSERT INTO sources (ext_id, name)
         SELECT s.ext_id, s.name FROM st_sources s
          WHERE NOT EXISTS (SELECT FROM sources l WHERE l.ext_id = s.ext_id);
         INSERT INTO map_sources (idx, id)
         SELECT s.idx, l.id FROM st_sources s JOIN sources l USING (ext_id);",
    )
    .await?;
    step(
        conn,
        "identities",
        // Identities only referenced (implicit) never overwrite a real record.
        "UPDATE identities l SET name = s.name, email = s.email, attributes = s.attributes
           FROM st_identities s
          WHERE l.ext_id = s.ext_id AND NOT s.implicit
            AND (l.name, l.email, l.attributes) IS DISTINCT FROM (s.name, s.email, s.attributes);
         INSERT INTO identities (ext_id, name, email, attributes)
         SELECT s.ext_id, s.name, s.email, s.attributes
           FROM st_identities s
          WHERE NOT EXISTS (SELECT FROM identities l WHERE l.ext_id = s.ext_id);
         INSERT INTO map_identities (idx, id)
         SELECT s.idx, l.id FROM st_identities s JOIN identities l USING (ext_id);",
    )
    .await?;
    step(
        conn,
        "entitlements",
        "ANALYZE map_sources;
         UPDATE entitlements l
            SET source_id = m.id, name = e.name, attribute = e.attribute, description = e.description
           FROM st_entitlements e JOIN map_sources m ON m.idx = e.source_idx
          WHERE l.ext_id = e.ext_id AND NOT e.implicit
            AND (l.source_id, l.name, l.attribute, l.description)
                IS DISTINCT FROM (m.id, e.name, e.attribute, e.description);
         INSERT INTO entitlements (ext_id, source_id, name, attribute, description)
         SELECT e.ext_id, m.id, e.name, e.attribute, e.description
           FROM st_entitlements e JOIN map_sources m ON m.idx = e.source_idx
          WHERE NOT EXISTS (SELECT FROM entitlements l WHERE l.ext_id = e.ext_id);
         INSERT INTO map_entitlements (idx, id)
         SELECT s.idx, l.id FROM st_entitlements s JOIN entitlements l USING (ext_id);",
    )
    .await?;
    step(
        conn,
        "reset entity staging",
        "TRUNCATE st_sources, st_identities, st_entitlements;
         ANALYZE map_sources; ANALYZE map_identities; ANALYZE map_entitlements;",
    )
    .await
}

/// Rows above which a large table's key and foreign keys are dropped and rebuilt in bulk
/// instead of maintained row by row (when the import is also large next to the table).
pub const BULK_ROWS: i64 = 100_000;

/// The keys of a table that imports load in bulk, and how to put them back.
pub(super) struct BulkKeys {
    /// The table.
    pub(super) table: &'static str,
    /// Drops its primary and foreign keys.
    pub(super) drop: &'static str,
    /// Re-creates them. Foreign keys are added NOT VALID and then validated: one set-based
    /// check instead of a trigger call per loaded row.
    pub(super) rebuild: &'static str,
}

/// `identity_access`.
pub(super) const ACCESS_KEYS: BulkKeys = BulkKeys {
    table: "identity_access",
    drop: "ALTER TABLE identity_access DROP CONSTRAINT identity_access_pkey,
               DROP CONSTRAINT identity_access_identity_id_fkey;",
    rebuild:
        "ALTER TABLE identity_access ADD CONSTRAINT identity_access_pkey PRIMARY KEY (identity_id);
              ALTER TABLE identity_access ADD CONSTRAINT identity_access_identity_id_fkey
                  FOREIGN KEY (identity_id) REFERENCES identities (id) ON DELETE CASCADE NOT VALID;
              ALTER TABLE identity_access VALIDATE CONSTRAINT identity_access_identity_id_fkey;
              ANALYZE identity_access;",
};

/// `source_usage`.
pub(super) const USAGE_KEYS: BulkKeys = BulkKeys {
    table: "source_usage",
    drop: "ALTER TABLE source_usage DROP CONSTRAINT source_usage_pkey,
               DROP CONSTRAINT source_usage_identity_id_fkey,
               DROP CONSTRAINT source_usage_source_id_fkey;
           DROP INDEX source_usage_identity_idx;",
    rebuild: "ALTER TABLE source_usage ADD CONSTRAINT source_usage_pkey PRIMARY KEY (source_id, identity_id);
              CREATE INDEX source_usage_identity_idx ON source_usage (identity_id) INCLUDE (source_id, usage_days);
              ALTER TABLE source_usage
                  ADD CONSTRAINT source_usage_identity_id_fkey FOREIGN KEY (identity_id)
                      REFERENCES identities (id) ON DELETE CASCADE NOT VALID,
                  ADD CONSTRAINT source_usage_source_id_fkey FOREIGN KEY (source_id)
                      REFERENCES sources (id) ON DELETE CASCADE NOT VALID;
              ALTER TABLE source_usage VALIDATE CONSTRAINT source_usage_identity_id_fkey;
              ALTER TABLE source_usage VALIDATE CONSTRAINT source_usage_source_id_fkey;
              ANALYZE source_usage;",
};

/// Upserts the staged roles; a role's entitlements are replaced by those roles.csv lists.
pub(super) async fn roles(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    // Not a checked query: the staging tables are temporary, created by the import itself.
    sqlx::query(
        "INSERT INTO roles (id, ext_id, name, origin)
         SELECT DISTINCT ON (role_ext) gen_random_uuid(), role_ext, role_name, $1
           FROM st_roles ORDER BY role_ext
         ON CONFLICT (ext_id) DO UPDATE SET name = EXCLUDED.name",
    )
    .bind(RoleOrigin::Imported)
    .execute(&mut *conn)
    .await?;
    step(
        conn,
        "roles",
        "DELETE FROM role_entitlements
          WHERE role_id IN (SELECT r.id FROM roles r JOIN st_roles s ON s.role_ext = r.ext_id);
         INSERT INTO role_entitlements (role_id, entitlement_id)
         SELECT DISTINCT r.id, e.id
           FROM st_roles s
           JOIN roles r ON r.ext_id = s.role_ext
           JOIN map_entitlements e ON e.idx = s.entitlement_idx;",
    )
    .await
}
