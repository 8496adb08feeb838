//! Accepted import records encoded for a bulk load into PostgreSQL: entity rows as CSV chunks
//! per staging table (`COPY ... FROM STDIN (FORMAT csv)`), assignments kept compactly as
//! entitlement indices per identity with duplicates folded as they come (about 5 bytes a row),
//! usage rows as read (12 bytes a row). The loader receives [`Batch`]es through a callback and
//! owns every statement.

use crate::reader::{
    AssignmentRecord, EntitlementRecord, IdentityRecord, ImportSink, RoleRecord, SourceRecord,
    UsageRecord,
};

/// Bytes of encoded rows per batch.
pub const CHUNK: usize = 1 << 20;
/// Assignment rows between two progress reports.
const PROGRESS_EVERY: u64 = 1 << 20;

/// A staging table, with the CSV columns its rows carry (in order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// index, id, name.
    Sources,
    /// index, id, name, email, attributes (a JSON object), implicit (`t`/`f`).
    Identities,
    /// index, id, source index, name, attribute, description, implicit (`t`/`f`).
    Entitlements,
    /// role id, role name, entitlement index.
    Roles,
}

impl Table {
    /// Every table.
    pub const ALL: [Table; 4] = [
        Table::Sources,
        Table::Identities,
        Table::Entitlements,
        Table::Roles,
    ];
}

/// What the reading side hands the loader.
#[derive(Debug)]
pub enum Batch {
    /// Encoded CSV rows for a staging table.
    Rows(Table, Vec<u8>),
    /// identities.csv and entitlements.csv are read: their rows can be merged while the
    /// assignments are being read.
    EntitiesRead,
    /// usage.csv is read (before assignments.csv when it can be): it can be written.
    UsageRead(UsageRows),
}

/// Entitlement indices per identity index, as read: unsorted, possibly repeated.
pub type AccessLists = Vec<Vec<u32>>;

/// The usage rows, as read.
pub type UsageRows = Vec<UsageRow>;

/// One usage row: source and identity as indices of the import (a loader may translate them in
/// place).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct UsageRow {
    /// The source.
    pub source: u32,
    /// The identity.
    pub identity: u32,
    /// Days with usage in the last 90.
    pub days: u8,
}

/// An identity's list of entitlements is first folded when it reaches this length.
const DEDUP_FROM: usize = 64;

/// Hands a batch to the loader; an error stops the reading (the loader gave up).
pub type Deliver = Box<dyn FnMut(Batch) -> Result<(), String> + Send>;

/// Encodes records as CSV chunks per [`Table`] and collects assignments per identity.
pub struct BulkSink {
    columns: Vec<String>,
    writers: [csv::Writer<Vec<u8>>; 4],
    deliver: Deliver,
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

impl BulkSink {
    /// A sink handing its batches to `deliver`; `progress` gets the assignment rows read so far.
    pub fn new(deliver: Deliver, progress: Box<dyn FnMut(u64) + Send>) -> Self {
        BulkSink {
            columns: Vec::new(),
            writers: std::array::from_fn(|_| writer()),
            deliver,
            access: Vec::new(),
            usage: Vec::new(),
            assignments: 0,
            progress,
        }
    }

    fn write<const N: usize>(&mut self, table: Table, record: [&str; N]) -> Result<(), String> {
        let writer = &mut self.writers[table as usize];
        writer
            .write_record(record)
            .map_err(|err| format!("cannot encode a staging row: {err}"))?;
        if writer.get_ref().len() >= CHUNK {
            self.flush(table)?;
        }
        Ok(())
    }

    fn flush(&mut self, table: Table) -> Result<(), String> {
        let full = std::mem::replace(&mut self.writers[table as usize], writer());
        let rows = full
            .into_inner()
            .map_err(|err| format!("cannot encode a staging row: {}", err.error()))?;
        if rows.is_empty() {
            return Ok(());
        }
        (self.deliver)(Batch::Rows(table, rows))
    }

    fn flush_all(&mut self) -> Result<(), String> {
        Table::ALL
            .into_iter()
            .try_for_each(|table| self.flush(table))
    }

    /// Delivers what is still buffered and hands back the assignments.
    pub fn finish(mut self) -> Result<AccessLists, String> {
        self.flush_all()?;
        (self.progress)(self.assignments);
        Ok(self.access)
    }
}

impl ImportSink for BulkSink {
    fn attribute_columns(&mut self, names: &[String]) -> Result<(), String> {
        self.columns = names.to_vec();
        Ok(())
    }

    fn source(&mut self, r: SourceRecord<'_>) -> Result<(), String> {
        self.write(Table::Sources, [&r.index.to_string(), r.id, r.name])
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
            Table::Identities,
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
            Table::Entitlements,
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
            Table::Roles,
            [r.role_id, r.role_name, &r.entitlement.to_string()],
        )
    }

    fn file_read(&mut self, file: &str) -> Result<(), String> {
        let message = match file {
            "entitlements.csv" => Batch::EntitiesRead,
            "usage.csv" => Batch::UsageRead(std::mem::take(&mut self.usage)),
            _ => return Ok(()),
        };
        // Rows the batch depends on go first.
        self.flush_all()?;
        (self.deliver)(message)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::{Arc, Mutex};

    use super::*;

    #[test]
    fn duplicate_assignments_fold_and_rows_reach_the_loader_in_order() {
        let batches = Arc::new(Mutex::new(Vec::new()));
        let seen = batches.clone();
        let mut sink = BulkSink::new(
            Box::new(move |batch| {
                seen.lock().unwrap().push(batch);
                Ok(())
            }),
            Box::new(|_| {}),
        );
        sink.source(SourceRecord {
            index: 0,
            id: "s1",
            name: "Mail, \"EU\"",
        })
        .unwrap();
        for _ in 0..1000 {
            sink.assignment(AssignmentRecord {
                identity: 2,
                entitlement: 7,
                identity_id: "u3",
                entitlement_id: "e8",
            })
            .unwrap();
        }
        sink.file_read("entitlements.csv").unwrap();
        let access = sink.finish().unwrap();
        assert_eq!(access.len(), 3);
        assert!(
            access[2].len() < 200,
            "folded as they came: {}",
            access[2].len()
        );
        assert!(access[2].iter().all(|&e| e == 7));
        let batches = batches.lock().unwrap();
        assert!(matches!(
            &batches[0],
            Batch::Rows(Table::Sources, rows) if rows == b"0,s1,\"Mail, \"\"EU\"\"\"\n"
        ));
        assert!(matches!(batches[1], Batch::EntitiesRead));
    }

    #[test]
    fn a_loader_that_gave_up_stops_the_reading() {
        let mut sink = BulkSink::new(
            Box::new(|_| Err("the database stopped accepting rows".into())),
            Box::new(|_| {}),
        );
        assert!(sink.file_read("entitlements.csv").is_err());
    }
}
