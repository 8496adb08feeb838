//! Staging: the temporary tables an import is loaded into, the sink on the reading thread that
//! encodes records for them, and the `COPY` loop on the database side that feeds them.
//!
//! Sources, identities, entitlements and roles are staged. Assignments and usage, the large
//! inputs, are kept compactly on the reading thread (about 5 and 12 bytes a row) and go straight
//! to their live tables once ids are known (see `direct`): assignments as entitlement indices per
//! identity, since they are stored as one row per identity.

use rolemine_dataset::reader::{
    AssignmentRecord, EntitlementRecord, IdentityRecord, ImportSink, RoleRecord, SourceRecord,
    UsageRecord,
};
use sqlx::{Executor, PgConnection};
use tokio::sync::mpsc;

use super::{direct, merge, ImportError};

/// Bytes of encoded rows per `COPY` message.
pub(super) const CHUNK: usize = 1 << 20;
/// Messages in flight between the reading thread and the database: bounds memory.
pub(super) const CHANNEL_MESSAGES: usize = 8;
/// Assignment rows between two progress reports.
const PROGRESS_EVERY: u64 = 1 << 20;

/// A staging table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Staged {
    Sources,
    Identities,
    Entitlements,
    Roles,
}

impl Staged {
    const ALL: [Staged; 4] = [
        Staged::Sources,
        Staged::Identities,
        Staged::Entitlements,
        Staged::Roles,
    ];

    fn copy_statement(self) -> &'static str {
        match self {
            Staged::Sources => "COPY st_sources (idx, ext_id, name) FROM STDIN (FORMAT csv)",
            Staged::Identities => {
                "COPY st_identities (idx, ext_id, name, email, attributes, implicit) FROM STDIN (FORMAT csv)"
            }
            Staged::Entitlements => {
                "COPY st_entitlements (idx, ext_id, source_idx, name, attribute, description, implicit) FROM STDIN (FORMAT csv)"
            }
            Staged::Roles => {
                "COPY st_roles (role_ext, role_name, entitlement_idx) FROM STDIN (FORMAT csv)"
            }
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

/// What the reading thread sends to the database side.
pub(super) enum Message {
    /// Encoded CSV rows for a staging table.
    Rows(Staged, Vec<u8>),
    /// identities.csv and entitlements.csv are read: their rows can be merged while the
    /// assignments are being read.
    EntitiesRead,
    /// usage.csv is read (before assignments.csv when it can be): it can be written.
    UsageRead(UsageRows),
}

/// Runs the `COPY`s for the rows the reading thread sends, the entity merge once identities
/// and entitlements are complete and the usage load once usage is. Returns when the sender is
/// dropped.
pub(super) async fn receive(
    conn: &mut PgConnection,
    receiver: &mut mpsc::Receiver<Message>,
    bulk_rows: i64,
) -> Result<(), ImportError> {
    let mut next = receiver.recv().await;
    while let Some(message) = next.take() {
        match message {
            Message::EntitiesRead => {
                merge::entities(&mut *conn).await?;
                next = receiver.recv().await;
            }
            Message::UsageRead(usage) => {
                // Identities first referenced by assignments.csv (read before usage.csv when
                // identities.csv is absent) need ids first.
                merge::entities(&mut *conn).await?;
                direct::usage(&mut *conn, usage, bulk_rows).await?;
                next = receiver.recv().await;
            }
            Message::Rows(table, rows) => {
                // One COPY per run of messages for the same table.
                let mut copy = conn.copy_in_raw(table.copy_statement()).await?;
                copy.send(rows).await?;
                loop {
                    match receiver.recv().await {
                        Some(Message::Rows(same, rows)) if same == table => {
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

/// Entitlement indices per identity index, as read: unsorted, possibly repeated.
pub(super) type AccessLists = Vec<Vec<u32>>;

/// The usage rows, as read.
pub(super) type UsageRows = Vec<UsageRow>;

/// One usage row: source and identity as indices of the import, then as database ids once
/// `direct::usage` has translated them in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct UsageRow {
    pub(super) source: u32,
    pub(super) identity: u32,
    pub(super) days: u8,
}

/// An identity's list of entitlements is first folded when it reaches this length.
const DEDUP_FROM: usize = 64;

/// Encodes records as CSV for the staging tables and collects assignments per identity.
pub(super) struct StagingSink {
    columns: Vec<String>,
    writers: [csv::Writer<Vec<u8>>; 4],
    sender: mpsc::Sender<Message>,
    access: AccessLists,
    usage: UsageRows,
    assignments: u64,
    progress: Box<dyn FnMut(u64) + Send>,
}

fn writer() -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new()
        .has_headers(false)
        .from_writer(Vec::with_capacity(CHUNK + 4096))
}

fn flag(b: bool) -> &'static str {
    if b {
        "t"
    } else {
        "f"
    }
}

const STOPPED: &str = "the database stopped accepting rows";

impl StagingSink {
    /// A sink sending to `sender`; `progress` gets the assignment rows read so far.
    pub(super) fn new(sender: mpsc::Sender<Message>, progress: Box<dyn FnMut(u64) + Send>) -> Self {
        StagingSink {
            columns: Vec::new(),
            writers: std::array::from_fn(|_| writer()),
            sender,
            access: Vec::new(),
            usage: Vec::new(),
            assignments: 0,
            progress,
        }
    }

    fn write<const N: usize>(&mut self, table: Staged, record: [&str; N]) -> Result<(), String> {
        let writer = &mut self.writers[table as usize];
        writer
            .write_record(record)
            .map_err(|err| format!("cannot encode a staging row: {err}"))?;
        if writer.get_ref().len() >= CHUNK {
            self.flush(table)?;
        }
        Ok(())
    }

    fn flush(&mut self, table: Staged) -> Result<(), String> {
        let full = std::mem::replace(&mut self.writers[table as usize], writer());
        let rows = full
            .into_inner()
            .map_err(|err| format!("cannot encode a staging row: {}", err.error()))?;
        if rows.is_empty() {
            return Ok(());
        }
        self.sender
            .blocking_send(Message::Rows(table, rows))
            .map_err(|_| STOPPED.to_owned())
    }

    fn flush_all(&mut self) -> Result<(), String> {
        Staged::ALL
            .into_iter()
            .try_for_each(|table| self.flush(table))
    }

    /// Sends what is still buffered and hands back the assignments.
    pub(super) fn finish(mut self) -> Result<AccessLists, String> {
        self.flush_all()?;
        (self.progress)(self.assignments);
        Ok(self.access)
    }
}

impl ImportSink for StagingSink {
    fn attribute_columns(&mut self, names: &[String]) -> Result<(), String> {
        self.columns = names.to_vec();
        Ok(())
    }

    fn source(&mut self, r: SourceRecord<'_>) -> Result<(), String> {
        self.write(Staged::Sources, [&r.index.to_string(), r.id, r.name])
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
        self.write(
            Staged::Identities,
            [
                &r.index.to_string(),
                r.id,
                r.name,
                r.email.unwrap_or(""),
                &attributes,
                flag(r.implicit),
            ],
        )
    }

    fn entitlement(&mut self, r: EntitlementRecord<'_>) -> Result<(), String> {
        self.write(
            Staged::Entitlements,
            [
                &r.index.to_string(),
                r.id,
                &r.source.to_string(),
                r.name,
                r.attribute,
                r.description.unwrap_or(""),
                flag(r.implicit),
            ],
        )
    }

    fn assignment(&mut self, r: AssignmentRecord<'_>) -> Result<(), String> {
        let identity = r.identity as usize;
        if self.access.len() <= identity {
            self.access.resize_with(identity + 1, Vec::new);
        }
        let list = &mut self.access[identity];
        // Duplicate rows are harmless in the format, but kept as they come they would make
        // memory follow the rows, not the data: fold them out whenever the list would grow,
        // so it never holds more than twice its distinct entitlements.
        if list.len() == list.capacity() && list.len() >= DEDUP_FROM {
            list.sort_unstable();
            list.dedup();
            // Room for as many pushes as the list is long before the next fold, so a fold that
            // frees little is not repeated on the very next row (that was quadratic).
            if list.len() * 2 > list.capacity() {
                list.reserve(list.len());
            }
        }
        list.push(r.entitlement);
        self.assignments += 1;
        if self.assignments.is_multiple_of(PROGRESS_EVERY) {
            (self.progress)(self.assignments);
        }
        Ok(())
    }

    fn usage(&mut self, r: UsageRecord<'_>) -> Result<(), String> {
        self.usage.push(UsageRow {
            source: r.source,
            identity: r.identity,
            days: r.days,
        });
        Ok(())
    }

    fn role(&mut self, r: RoleRecord<'_>) -> Result<(), String> {
        self.write(
            Staged::Roles,
            [r.role_id, r.role_name, &r.entitlement.to_string()],
        )
    }

    fn file_read(&mut self, file: &str) -> Result<(), String> {
        let message = match file {
            "entitlements.csv" => Message::EntitiesRead,
            "usage.csv" => Message::UsageRead(std::mem::take(&mut self.usage)),
            _ => return Ok(()),
        };
        // Staged rows the message depends on go first.
        self.flush_all()?;
        self.sender
            .blocking_send(message)
            .map_err(|_| STOPPED.to_owned())
    }
}
