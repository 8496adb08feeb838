//! Writing the two large inputs straight into their live tables with binary `COPY`, once the
//! database ids of their identities, entitlements and sources are known: assignments as one
//! `identity_access` row per identity, usage as `source_usage` rows. Neither goes through a
//! staging table, so neither is written twice.

use std::time::Instant;

use rolemine_dataset::bulk::{AccessLists, UsageRows, CHUNK};
use sqlx::PgConnection;
use tokio::sync::mpsc;

use super::merge::{self, step, BulkKeys};
use super::staging::CHANNEL_MESSAGES;
use super::ImportError;

/// Index → database id for the identities, entitlements or sources of this import.
struct IdMap {
    what: &'static str,
    ids: Vec<i32>,
}

impl IdMap {
    /// Reads the map table of `what` (identity, entitlement or source), in one row.
    async fn load(conn: &mut PgConnection, what: &'static str) -> Result<IdMap, sqlx::Error> {
        let table = match what {
            "identity" => "map_identities",
            "entitlement" => "map_entitlements",
            _ => "map_sources",
        };
        let (indices, ids): (Vec<i32>, Vec<i32>) = sqlx::query_as(&format!(
            "SELECT coalesce(array_agg(idx), '{{}}'), coalesce(array_agg(id), '{{}}') FROM {table}"
        ))
        .fetch_one(conn)
        .await?;
        let len = indices.iter().map(|&i| i + 1).max().unwrap_or(0);
        let mut map = vec![-1; usize::try_from(len).unwrap_or(0)];
        for (index, id) in indices.into_iter().zip(ids) {
            if let Some(slot) = usize::try_from(index).ok().and_then(|i| map.get_mut(i)) {
                *slot = id;
            }
        }
        Ok(IdMap { what, ids: map })
    }

    fn get(&self, index: u32) -> Result<i32, ImportError> {
        self.ids
            .get(index as usize)
            .copied()
            .filter(|&id| id > 0)
            .ok_or_else(|| {
                ImportError::Reader(format!(
                    "internal error: {} #{index} of the import has no database id",
                    self.what
                ))
            })
    }
}

/// Replaces the access of every identity that has rows in this import's assignments.csv.
pub(super) async fn access(
    conn: &mut PgConnection,
    mut access: AccessLists,
    bulk_rows: i64,
) -> Result<(), ImportError> {
    let started = Instant::now();
    let identities = IdMap::load(&mut *conn, "identity").await?;
    let entitlements = IdMap::load(&mut *conn, "entitlement").await?;
    let mut rows: Vec<(i32, Vec<i32>)> = Vec::new();
    for (index, list) in access.iter_mut().enumerate() {
        if list.is_empty() {
            continue;
        }
        let identity = identities.get(u32::try_from(index).unwrap_or(u32::MAX))?;
        let mut ids = list
            .iter()
            .map(|&entitlement| entitlements.get(entitlement))
            .collect::<Result<Vec<i32>, _>>()?;
        // Free as we go: the translated lists replace the read ones.
        *list = Vec::new();
        ids.sort_unstable();
        ids.dedup();
        rows.push((identity, ids));
    }
    let replaced: Vec<i32> = rows.iter().map(|(identity, _)| *identity).collect();
    let copied = replace(
        conn,
        &merge::ACCESS_KEYS,
        bulk_rows,
        &replaced,
        "COPY identity_access (identity_id, entitlement_ids) FROM STDIN (FORMAT binary)",
        rows,
        |buffer, (identity, entitlements)| {
            buffer.extend_from_slice(&2i16.to_be_bytes());
            put_int4(buffer, identity);
            put_int4_array(buffer, &entitlements);
        },
    )
    .await?;
    tracing::debug!(
        step = "access",
        rows = copied,
        seconds = started.elapsed().as_secs_f64(),
        "import step"
    );
    Ok(())
}

/// Replaces the usage of every identity in this import's usage.csv.
pub(super) async fn usage(
    conn: &mut PgConnection,
    usage: UsageRows,
    bulk_rows: i64,
) -> Result<(), ImportError> {
    let started = Instant::now();
    let identities = IdMap::load(&mut *conn, "identity").await?;
    let sources = IdMap::load(&mut *conn, "source").await?;
    let mut rows = usage;
    for row in &mut rows {
        // Database ids are positive.
        row.source = sources.get(row.source)?.unsigned_abs();
        row.identity = identities.get(row.identity)?.unsigned_abs();
    }
    // In primary key order: building the key over sorted rows is a fraction of the work.
    rows.sort_unstable();
    let mut replaced: Vec<i32> = rows.iter().map(|row| row.identity as i32).collect();
    replaced.sort_unstable();
    replaced.dedup();
    let copied = replace(
        conn,
        &merge::USAGE_KEYS,
        bulk_rows,
        &replaced,
        "COPY source_usage (source_id, identity_id, usage_days) FROM STDIN (FORMAT binary)",
        rows,
        |buffer, row| {
            buffer.extend_from_slice(&3i16.to_be_bytes());
            put_int4(buffer, row.source as i32);
            put_int4(buffer, row.identity as i32);
            buffer.extend_from_slice(&2i32.to_be_bytes());
            buffer.extend_from_slice(&i16::from(row.days).to_be_bytes());
        },
    )
    .await?;
    tracing::debug!(
        step = "usage",
        rows = copied,
        seconds = started.elapsed().as_secs_f64(),
        "import step"
    );
    Ok(())
}

/// Deletes the rows of the `replaced` identities from `keys.table` and copies `rows` in, with
/// the table's keys dropped and rebuilt around the load when it is large.
#[allow(clippy::too_many_arguments)]
async fn replace<T: Send + 'static>(
    conn: &mut PgConnection,
    keys: &BulkKeys,
    bulk_rows: i64,
    replaced: &[i32],
    copy_statement: &str,
    rows: Vec<T>,
    encode: impl Fn(&mut Vec<u8>, T) + Send + 'static,
) -> Result<u64, ImportError> {
    let loading = i64::try_from(rows.len()).unwrap_or(i64::MAX);
    let existing = sqlx::query_scalar!(
        r#"SELECT greatest(reltuples, 0)::bigint AS "rows!" FROM pg_class WHERE relname = $1"#,
        keys.table
    )
    .fetch_one(&mut *conn)
    .await?;
    let bulk = loading >= bulk_rows && loading >= existing / 2;
    if bulk {
        step(conn, "drop keys", keys.drop).await?;
    }
    sqlx::query(&format!(
        "DELETE FROM {} WHERE identity_id = ANY($1)",
        keys.table
    ))
    .bind(replaced)
    .execute(&mut *conn)
    .await?;
    let copied = copy_binary(conn, copy_statement, rows, encode).await?;
    if bulk {
        step(conn, "rebuild keys", keys.rebuild).await?;
    }
    Ok(copied)
}

/// The binary `COPY` signature, flags and header extension length.
const BINARY_HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
/// The binary `COPY` trailer.
const BINARY_TRAILER: [u8; 2] = (-1i16).to_be_bytes();
/// PostgreSQL's type oid of `integer`.
const INT4_OID: i32 = 23;

fn put_int4(buffer: &mut Vec<u8>, value: i32) {
    buffer.extend_from_slice(&4i32.to_be_bytes());
    buffer.extend_from_slice(&value.to_be_bytes());
}

/// An `integer[]` field: its length, then dimensions, has-nulls flag and element type, the
/// length and lower bound of the one dimension, and each element as length and value.
fn put_int4_array(buffer: &mut Vec<u8>, values: &[i32]) {
    let count = i32::try_from(values.len()).unwrap_or(i32::MAX);
    for header in [20 + 8 * count, 1, 0, INT4_OID, count, 1] {
        buffer.extend_from_slice(&header.to_be_bytes());
    }
    for &value in values {
        put_int4(buffer, value);
    }
}

/// Streams `rows` into `statement` (a binary `COPY ... FROM STDIN`), encoding them with
/// `encode` on a blocking thread. Returns the rows copied.
async fn copy_binary<T: Send + 'static>(
    conn: &mut PgConnection,
    statement: &str,
    rows: Vec<T>,
    encode: impl Fn(&mut Vec<u8>, T) + Send + 'static,
) -> Result<u64, ImportError> {
    let (sender, mut receiver) = mpsc::channel::<Vec<u8>>(CHANNEL_MESSAGES);
    let encoder = tokio::task::spawn_blocking(move || {
        let mut buffer = Vec::with_capacity(CHUNK + 4096);
        buffer.extend_from_slice(BINARY_HEADER);
        for row in rows {
            encode(&mut buffer, row);
            if buffer.len() >= CHUNK {
                let full = std::mem::replace(&mut buffer, Vec::with_capacity(CHUNK + 4096));
                if sender.blocking_send(full).is_err() {
                    // The database side failed; it reports why.
                    return;
                }
            }
        }
        buffer.extend_from_slice(&BINARY_TRAILER);
        let _ = sender.blocking_send(buffer);
    });
    let copied = async {
        let mut copy = conn.copy_in_raw(statement).await?;
        while let Some(chunk) = receiver.recv().await {
            copy.send(chunk).await?;
        }
        copy.finish().await
    }
    .await;
    drop(receiver);
    encoder
        .await
        .map_err(|err| ImportError::Reader(err.to_string()))?;
    Ok(copied?)
}
