//! Reading a whole import: every file validated in order, every accepted record handed to an
//! [`ImportSink`] (memory for batch mining, PostgreSQL `COPY` for `rolemine import`).
//!
//! Files are read in the order identities, entitlements, assignments, usage, roles, so that
//! references can be checked against what came before. Ids get dense indices in order of first
//! appearance. Once any error is found, records stop flowing to the sink (the import will be
//! rejected) but reading goes on, so that one run reports every problem (up to the listing limit).

use compact_str::CompactString;
use rustc_hash::FxHashMap as HashMap;

use crate::error::{DataError, DataErrors};
use crate::source::DataSource;
use crate::table;

/// Column specifications of the import files.
pub mod spec {
    use crate::table::Columns;

    /// `identities.csv`.
    pub const IDENTITIES: Columns = Columns {
        required: &["id"],
        optional: &["name", "email"],
        keep_extra: true,
    };
    /// `entitlements.csv`.
    pub const ENTITLEMENTS: Columns = Columns {
        required: &["id", "source_id"],
        optional: &["name", "attribute", "description", "source_name"],
        keep_extra: false,
    };
    /// `assignments.csv`.
    pub const ASSIGNMENTS: Columns = Columns {
        required: &["identity_id", "entitlement_id"],
        optional: &[],
        keep_extra: false,
    };
    /// `usage.csv`.
    pub const USAGE: Columns = Columns {
        required: &["identity_id", "source_id", "usage_days"],
        optional: &[],
        keep_extra: false,
    };
    /// `roles.csv`.
    pub const ROLES: Columns = Columns {
        required: &["role_id", "entitlement_id"],
        optional: &["role_name"],
        keep_extra: false,
    };
}

/// The source entitlements go to when `entitlements.csv` is absent.
pub const DEFAULT_SOURCE: &str = "default";

/// An identity, from identities.csv or (implicit) first referenced by assignments.csv.
#[derive(Debug, Clone, Copy)]
pub struct IdentityRecord<'a> {
    /// Dense index.
    pub index: u32,
    /// Its id.
    pub id: &'a str,
    /// Display name (the id when not given).
    pub name: &'a str,
    /// Email, if given.
    pub email: Option<&'a str>,
    /// (position in [`ImportSink::attribute_columns`], value) for each non-empty attribute.
    pub attributes: &'a [(usize, &'a str)],
    /// Created from a reference, not from identities.csv.
    pub implicit: bool,
}

/// An application.
#[derive(Debug, Clone, Copy)]
pub struct SourceRecord<'a> {
    /// Dense index.
    pub index: u32,
    /// Its id.
    pub id: &'a str,
    /// Display name.
    pub name: &'a str,
}

/// An entitlement, from entitlements.csv or (implicit) first referenced by assignments.csv.
#[derive(Debug, Clone, Copy)]
pub struct EntitlementRecord<'a> {
    /// Dense index.
    pub index: u32,
    /// Its id.
    pub id: &'a str,
    /// Display name (the id when not given).
    pub name: &'a str,
    /// Source attribute (`groups` by default).
    pub attribute: &'a str,
    /// Free text.
    pub description: Option<&'a str>,
    /// Source index.
    pub source: u32,
    /// Source id.
    pub source_id: &'a str,
    /// Created from a reference, not from entitlements.csv.
    pub implicit: bool,
}

/// An (identity, entitlement) pair.
#[derive(Debug, Clone, Copy)]
pub struct AssignmentRecord<'a> {
    /// Identity index.
    pub identity: u32,
    /// Entitlement index.
    pub entitlement: u32,
    /// Identity id.
    pub identity_id: &'a str,
    /// Entitlement id.
    pub entitlement_id: &'a str,
}

/// Days of activity of an identity on a source.
#[derive(Debug, Clone, Copy)]
pub struct UsageRecord<'a> {
    /// Identity index.
    pub identity: u32,
    /// Source index.
    pub source: u32,
    /// Identity id.
    pub identity_id: &'a str,
    /// Source id.
    pub source_id: &'a str,
    /// 0..=90.
    pub days: u8,
}

/// One entitlement of an existing role.
#[derive(Debug, Clone, Copy)]
pub struct RoleRecord<'a> {
    /// Role id.
    pub role_id: &'a str,
    /// Role name (the id when not given).
    pub role_name: &'a str,
    /// Entitlement index.
    pub entitlement: u32,
    /// Entitlement id.
    pub entitlement_id: &'a str,
}

/// Receives the validated records. An `Err` stops the import with that message.
pub trait ImportSink {
    /// The identity attribute columns of identities.csv, before any identity.
    fn attribute_columns(&mut self, _names: &[String]) -> Result<(), String> {
        Ok(())
    }
    /// A source, before its first entitlement.
    fn source(&mut self, record: SourceRecord<'_>) -> Result<(), String>;
    /// An identity, before any record refers to it.
    fn identity(&mut self, record: IdentityRecord<'_>) -> Result<(), String>;
    /// An entitlement, before any record refers to it.
    fn entitlement(&mut self, record: EntitlementRecord<'_>) -> Result<(), String>;
    /// An assignment (duplicates may occur).
    fn assignment(&mut self, record: AssignmentRecord<'_>) -> Result<(), String>;
    /// A usage row.
    fn usage(&mut self, record: UsageRecord<'_>) -> Result<(), String>;
    /// A role entitlement.
    fn role(&mut self, record: RoleRecord<'_>) -> Result<(), String>;
    /// Every record of `file` has been handed over (also called for an absent optional file).
    fn file_read(&mut self, _file: &str) -> Result<(), String> {
        Ok(())
    }
}

/// Rows read per file, and non-fatal notes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadSummary {
    /// Data rows in identities.csv.
    pub identity_rows: u64,
    /// Data rows in entitlements.csv.
    pub entitlement_rows: u64,
    /// Data rows in assignments.csv.
    pub assignment_rows: u64,
    /// Data rows in usage.csv.
    pub usage_rows: u64,
    /// Data rows in roles.csv.
    pub role_rows: u64,
    /// Identities in all (given and implicit).
    pub identities: u32,
    /// Entitlements in all.
    pub entitlements: u32,
    /// Sources in all.
    pub sources: u32,
    /// Ignored columns and similar notes.
    pub warnings: Vec<String>,
}

/// Interns string ids to dense indices, remembering the line that introduced each.
///
/// Keys up to 24 bytes are stored inline in the table: looking one up costs one cache miss
/// instead of two, which is most of the time spent reading a large assignments.csv.
#[derive(Debug, Default)]
struct Interner {
    index: HashMap<CompactString, (u32, u64)>,
}

impl Interner {
    fn get(&self, id: &str) -> Option<u32> {
        self.index.get(id).map(|(i, _)| *i)
    }

    /// Adds `id`: its new index, or the line it was first seen on.
    fn insert(&mut self, id: &str, line: u64) -> Result<u32, u64> {
        let next = u32::try_from(self.index.len()).unwrap_or(u32::MAX);
        match self.index.get(id) {
            Some((_, first)) => Err(*first),
            None => {
                self.index.insert(CompactString::from(id), (next, line));
                Ok(next)
            }
        }
    }

    fn len(&self) -> u32 {
        u32::try_from(self.index.len()).unwrap_or(u32::MAX)
    }
}

/// Forwards records to the sink while the import is clean.
struct Gate<'s> {
    sink: &'s mut dyn ImportSink,
    failed: bool,
}

impl Gate<'_> {
    fn send(
        &mut self,
        errors: &mut DataErrors,
        send: impl FnOnce(&mut dyn ImportSink) -> Result<(), String>,
    ) {
        if self.failed || !errors.is_empty() {
            return;
        }
        if let Err(message) = send(self.sink) {
            errors.push(DataError::file("import", message));
            self.failed = true;
        }
    }
}

/// Validates the import and streams its records to `sink`.
///
/// usage.csv is read before assignments.csv when identities.csv and entitlements.csv are both
/// given (every identity and source it may name is known by then), so that a database sink can
/// store usage while the large assignments file is still being read; otherwise after it, as it
/// may name identities and the default source that assignments.csv introduces.
pub fn read(input: &mut DataSource, sink: &mut dyn ImportSink) -> Result<ReadSummary, DataErrors> {
    if !input.has("assignments.csv") {
        return Err(DataErrors::from(DataError::file(
            "assignments.csv",
            "the file is required but missing from the input",
        )));
    }
    let mut reading = Reading {
        gate: Gate {
            sink,
            failed: false,
        },
        errors: DataErrors::default(),
        summary: ReadSummary::default(),
        identities: Interner::default(),
        entitlements: Interner::default(),
        sources: Interner::default(),
        identities_given: false,
        entitlements_given: false,
    };
    reading.identities(input)?;
    reading.entitlements(input)?;
    let usage_first = reading.identities_given && reading.entitlements_given;
    if usage_first {
        reading.usage(input)?;
    }
    reading.assignments(input)?;
    if !usage_first {
        reading.usage(input)?;
    }
    reading.roles(input)?;

    let Reading {
        errors,
        mut summary,
        identities,
        entitlements,
        sources,
        ..
    } = reading;
    errors.into_result()?;
    summary.identities = identities.len();
    summary.entitlements = entitlements.len();
    summary.sources = sources.len();
    Ok(summary)
}

/// The state of one [`read`]: what is known so far, the errors, the sink.
struct Reading<'s> {
    gate: Gate<'s>,
    errors: DataErrors,
    summary: ReadSummary,
    identities: Interner,
    entitlements: Interner,
    sources: Interner,
    identities_given: bool,
    entitlements_given: bool,
}

impl Reading<'_> {
    fn file_read(&mut self, file: &str) {
        self.gate
            .send(&mut self.errors, |sink| sink.file_read(file));
    }

    fn identities(&mut self, input: &mut DataSource) -> Result<(), DataError> {
        let Reading {
            gate,
            errors,
            summary,
            identities,
            ..
        } = self;
        let mut columns_sent = false;
        let rows = input.with_file("identities.csv", |file| {
            let header = table::read(
                "identities.csv",
                file,
                spec::IDENTITIES,
                errors,
                &mut summary.warnings,
                |row, errors| {
                    if !columns_sent {
                        let names = row.extra_names();
                        gate.send(errors, |sink| sink.attribute_columns(&names));
                        columns_sent = true;
                    }
                    let id = row.required("id");
                    match identities.insert(id, row.line) {
                        Ok(index) => {
                            let attributes: Vec<(usize, &str)> = row.extra_values().collect();
                            let record = IdentityRecord {
                                index,
                                id,
                                name: row.get("name").unwrap_or(id),
                                email: row.get("email"),
                                attributes: &attributes,
                                implicit: false,
                            };
                            gate.send(errors, |sink| sink.identity(record));
                        }
                        Err(first) => errors.push(duplicate("identities.csv", row.line, id, first)),
                    }
                },
            );
            Ok(header.rows)
        })?;
        self.identities_given = rows.is_some();
        self.summary.identity_rows = rows.unwrap_or(0);
        self.file_read("identities.csv");
        Ok(())
    }

    fn entitlements(&mut self, input: &mut DataSource) -> Result<(), DataError> {
        let Reading {
            gate,
            errors,
            summary,
            entitlements,
            sources,
            ..
        } = self;
        let rows = input.with_file("entitlements.csv", |file| {
            let header = table::read(
                "entitlements.csv",
                file,
                spec::ENTITLEMENTS,
                errors,
                &mut summary.warnings,
                |row, errors| {
                    let id = row.required("id");
                    let source_id = row.required("source_id");
                    let source = match sources.get(source_id) {
                        Some(source) => source,
                        None => {
                            let index = sources.insert(source_id, row.line).unwrap_or(0);
                            let record = SourceRecord {
                                index,
                                id: source_id,
                                name: row.get("source_name").unwrap_or(source_id),
                            };
                            gate.send(errors, |sink| sink.source(record));
                            index
                        }
                    };
                    match entitlements.insert(id, row.line) {
                        Ok(index) => {
                            let record = EntitlementRecord {
                                index,
                                id,
                                name: row.get("name").unwrap_or(id),
                                attribute: row.get("attribute").unwrap_or("groups"),
                                description: row.get("description"),
                                source,
                                source_id,
                                implicit: false,
                            };
                            gate.send(errors, |sink| sink.entitlement(record));
                        }
                        Err(first) => {
                            errors.push(duplicate("entitlements.csv", row.line, id, first))
                        }
                    }
                },
            );
            Ok(header.rows)
        })?;
        self.entitlements_given = rows.is_some();
        self.summary.entitlement_rows = rows.unwrap_or(0);
        self.file_read("entitlements.csv");
        Ok(())
    }

    fn assignments(&mut self, input: &mut DataSource) -> Result<(), DataError> {
        let Reading {
            gate,
            errors,
            summary,
            identities,
            entitlements,
            sources,
            identities_given,
            entitlements_given,
        } = self;
        let (identities_given, entitlements_given) = (*identities_given, *entitlements_given);
        // Exports list an identity's rows together: remembering the previous row's identity
        // saves most hash lookups.
        let mut previous: Option<(String, u32)> = None;
        let rows = input.with_file("assignments.csv", |file| {
            let header = table::read(
                "assignments.csv",
                file,
                spec::ASSIGNMENTS,
                errors,
                &mut summary.warnings,
                |row, errors| {
                    let identity_id = row.required("identity_id");
                    let entitlement_id = row.required("entitlement_id");
                    let cached = previous
                        .as_ref()
                        .filter(|(id, _)| id == identity_id)
                        .map(|(_, index)| *index);
                    let identity = match cached.or_else(|| identities.get(identity_id)) {
                        Some(index) => Some(index),
                        None if identities_given => {
                            errors.push(DataError::at(
                                "assignments.csv",
                                row.line,
                                Some("identity_id"),
                                format!("unknown identity {identity_id:?} (not in identities.csv)"),
                            ));
                            None
                        }
                        None => {
                            let index = identities.insert(identity_id, row.line).unwrap_or(0);
                            let record = IdentityRecord {
                                index,
                                id: identity_id,
                                name: identity_id,
                                email: None,
                                attributes: &[],
                                implicit: true,
                            };
                            gate.send(errors, |sink| sink.identity(record));
                            Some(index)
                        }
                    };
                    if cached.is_none() {
                        if let Some(index) = identity {
                            previous = Some((identity_id.to_owned(), index));
                        }
                    }
                    let entitlement = match entitlements.get(entitlement_id) {
                        Some(index) => Some(index),
                        None if entitlements_given => {
                            errors.push(DataError::at(
                                "assignments.csv",
                                row.line,
                                Some("entitlement_id"),
                                format!(
                                    "unknown entitlement {entitlement_id:?} (not in entitlements.csv)"
                                ),
                            ));
                            None
                        }
                        None => {
                            let source = match sources.get(DEFAULT_SOURCE) {
                                Some(source) => source,
                                None => {
                                    let index =
                                        sources.insert(DEFAULT_SOURCE, row.line).unwrap_or(0);
                                    let record = SourceRecord {
                                        index,
                                        id: DEFAULT_SOURCE,
                                        name: DEFAULT_SOURCE,
                                    };
                                    gate.send(errors, |sink| sink.source(record));
                                    index
                                }
                            };
                            let index = entitlements.insert(entitlement_id, row.line).unwrap_or(0);
                            let record = EntitlementRecord {
                                index,
                                id: entitlement_id,
                                name: entitlement_id,
                                attribute: "groups",
                                description: None,
                                source,
                                source_id: DEFAULT_SOURCE,
                                implicit: true,
                            };
                            gate.send(errors, |sink| sink.entitlement(record));
                            Some(index)
                        }
                    };
                    if let (Some(identity), Some(entitlement)) = (identity, entitlement) {
                        let record = AssignmentRecord {
                            identity,
                            entitlement,
                            identity_id,
                            entitlement_id,
                        };
                        gate.send(errors, |sink| sink.assignment(record));
                    }
                },
            );
            Ok(header.rows)
        })?;
        self.summary.assignment_rows = rows.unwrap_or(0);
        self.file_read("assignments.csv");
        Ok(())
    }

    fn usage(&mut self, input: &mut DataSource) -> Result<(), DataError> {
        let Reading {
            gate,
            errors,
            summary,
            identities,
            sources,
            ..
        } = self;
        // Pairs seen, as one identity bitmap per source: a few bytes per row where a hash map
        // of first lines took over a hundred megabytes at a million identities.
        let mut seen: HashMap<u32, roaring::RoaringBitmap> = HashMap::default();
        let rows = input.with_file("usage.csv", |file| {
            let header = table::read(
                "usage.csv",
                file,
                spec::USAGE,
                errors,
                &mut summary.warnings,
                |row, errors| {
                    let identity_id = row.required("identity_id");
                    let source_id = row.required("source_id");
                    let raw_days = row.required("usage_days");
                    let Some(identity) = identities.get(identity_id) else {
                        errors.push(DataError::at(
                            "usage.csv",
                            row.line,
                            Some("identity_id"),
                            format!("unknown identity {identity_id:?}"),
                        ));
                        return;
                    };
                    let Some(source) = sources.get(source_id) else {
                        errors.push(DataError::at(
                            "usage.csv",
                            row.line,
                            Some("source_id"),
                            format!("unknown source {source_id:?} (no entitlement belongs to it)"),
                        ));
                        return;
                    };
                    let days = match raw_days.parse::<u8>() {
                        Ok(days) if days <= 90 => days,
                        _ => {
                            errors.push(DataError::at(
                                "usage.csv",
                                row.line,
                                Some("usage_days"),
                                format!("must be a whole number from 0 to 90, got {raw_days:?}"),
                            ));
                            return;
                        }
                    };
                    if !seen.entry(source).or_default().insert(identity) {
                        errors.push(DataError::at(
                            "usage.csv",
                            row.line,
                            None,
                            format!(
                                "duplicate usage for identity {identity_id:?} on source {source_id:?} (an earlier row has the same pair)"
                            ),
                        ));
                        return;
                    }
                    let record = UsageRecord {
                        identity,
                        source,
                        identity_id,
                        source_id,
                        days,
                    };
                    gate.send(errors, |sink| sink.usage(record));
                },
            );
            Ok(header.rows)
        })?;
        self.summary.usage_rows = rows.unwrap_or(0);
        self.file_read("usage.csv");
        Ok(())
    }

    fn roles(&mut self, input: &mut DataSource) -> Result<(), DataError> {
        let Reading {
            gate,
            errors,
            summary,
            entitlements,
            ..
        } = self;
        let rows = input.with_file("roles.csv", |file| {
            let header = table::read(
                "roles.csv",
                file,
                spec::ROLES,
                errors,
                &mut summary.warnings,
                |row, errors| {
                    let role_id = row.required("role_id");
                    let entitlement_id = row.required("entitlement_id");
                    let Some(entitlement) = entitlements.get(entitlement_id) else {
                        errors.push(DataError::at(
                            "roles.csv",
                            row.line,
                            Some("entitlement_id"),
                            format!("unknown entitlement {entitlement_id:?}"),
                        ));
                        return;
                    };
                    let record = RoleRecord {
                        role_id,
                        role_name: row.get("role_name").unwrap_or(role_id),
                        entitlement,
                        entitlement_id,
                    };
                    gate.send(errors, |sink| sink.role(record));
                },
            );
            Ok(header.rows)
        })?;
        self.summary.role_rows = rows.unwrap_or(0);
        self.file_read("roles.csv");
        Ok(())
    }
}

fn duplicate(file: &str, line: u64, id: &str, first: u64) -> DataError {
    DataError::at(
        file,
        line,
        Some("id"),
        format!("duplicate id {id:?} (first on line {first})"),
    )
}
