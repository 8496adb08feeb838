//! Staging: the temporary tables an import is loaded into, and the `COPY` loop on the database
//! side that feeds them from the reading thread's batches (`rolemine_dataset::bulk`).
//!
//! Sources, identities, entitlements and roles are staged. Assignments and usage, the large
//! inputs, are kept compactly on the reading thread and go straight to their live tables once
//! ids are known (see `direct`).

use rolemine_dataset::bulk::{Batch, Table};
use sqlx::{Executor, PgConnection};
use tokio::sync::mpsc;

use super::{direct, merge, ImportError};

/// Batches in flight between the reading thread and the database: bounds memory.
pub(super) const CHANNEL_MESSAGES: usize = 8;

/// The `COPY` that loads a staging table: its columns in the order `Table` documents.
fn copy_statement(table: Table) -> &'static str {
    match table {
        Table::Sources => "COPY st_sources (idx, ext_id, name) FROM STDIN (FORMAT csv)",
        Table::Identities => {
            "COPY st_identities (idx, ext_id, name, email, attributes, implicit) FROM STDIN (FORMAT csv)"
        }
        Table::Entitlements => {
            "COPY st_entitlements (idx, ext_id, source_idx, name, attribute, description, implicit) FROM STDIN (FORMAT csv)"
        }
        Table::Roles => {
            "COPY st_roles (role_ext, role_name, entitlement_idx) FROM STDIN (FORMAT csv)"
        }
    }
}

/// Creates the staging tables and the index → id maps, all dropped at commit.
pub(super) async fn create(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    conn.execute(
        "CREATE TEMP TABLE st_sources (idx int NOT NULL, ext_id text NOT NULL, name text NOT NULL) ON COMMIT DROP;
         CREATE TEMP TABLE st_identities (idx int NOT NULL, ext_id text NOT NULL, name text NOT NULL,
             email text, attributes jsonb NOT NULL, implicit boolean NOT NULL) ON COMMIT DROP;
         CREATE TEMP TABLE st_entitlements (idx int NOT NULL, ext_id text NOT NULL, source_idx int NOT NULL,
             name text NOT NULL, attribute text NOT NULL, description text, implicit boolean NOT NULL) ON COMMIT DROP;
         CREATE TEMP TABLE st_roles (role_ext text NOT NULL, role_name text NOT NULL, entitlement_idx int NOT NULL) ON COMMIT DROP;
         CREATE TEMP TABLE map_sources (idx int NOT NULL, id int NOT NULL) ON COMMIT DROP;
         CREATE TEMP TABLE map_identities (idx int NOT NULL, id int NOT NULL) ON COMMIT DROP;
         CREATE TEMP TABLE map_entitlements (idx int NOT NULL, id int NOT NULL) ON COMMIT DROP;",
    )
    .await?;
    Ok(())
}

/// Runs the `COPY`s for the rows the reading thread sends, the entity merge once identities
/// and entitlements are complete and the usage load once usage is. Returns when the sender is
/// dropped.
pub(super) async fn receive(
    conn: &mut PgConnection,
    receiver: &mut mpsc::Receiver<Batch>,
    bulk_rows: i64,
) -> Result<(), ImportError> {
    let mut next = receiver.recv().await;
    while let Some(message) = next.take() {
        match message {
            Batch::EntitiesRead => {
                merge::entities(&mut *conn).await?;
                next = receiver.recv().await;
            }
            Batch::UsageRead(usage) => {
                // Identities first referenced by assignments.csv (read before usage.csv when
                // identities.csv is absent) need ids first.
                merge::entities(&mut *conn).await?;
                direct::usage(&mut *conn, usage, bulk_rows).await?;
                next = receiver.recv().await;
            }
            Batch::Rows(table, rows) => {
                // One COPY per run of messages for the same table.
                let mut copy = conn.copy_in_raw(copy_statement(table)).await?;
                copy.send(rows).await?;
                loop {
                    match receiver.recv().await {
                        Some(Batch::Rows(same, rows)) if same == table => {
                            copy.send(rows).await?;
                        }
                        other => {
                            next = other;
                            break;
                        }
                    }
                }
                copy.finish().await?;
            }
        }
    }
    Ok(())
}
