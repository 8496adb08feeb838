//! A whole import, validated and held in memory (for batch mining and tests).

use rustc_hash::FxHashMap as HashMap;
use std::path::Path;

use roaring::RoaringBitmap;
use rolemine_engine::{
    AccessMatrix, AccessMatrixBuilder, Attribute, EngineError, MiningInput, MiningParams,
    MiningResult, Observer,
};

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

/// An application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// Its id.
    pub id: String,
    /// Its display name.
    pub name: String,
}

/// An entitlement's descriptive fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entitlement {
    /// Its id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// The source attribute it is a value of (`groups` by default).
    pub attribute: String,
    /// Free text.
    pub description: Option<String>,
    /// Index into [`AccessData::sources`].
    pub source: u32,
}

/// A role that exists already.
#[derive(Debug, Clone, PartialEq)]
pub struct ExistingRole {
    /// Its id.
    pub id: String,
    /// Its name (the id when not given).
    pub name: String,
    /// Entitlement indices it grants.
    pub entitlements: RoaringBitmap,
}

/// One identity's activity on one source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// Identity index.
    pub identity: u32,
    /// Source index.
    pub source: u32,
    /// Days with activity in the last 90.
    pub days: u8,
}

/// A validated import.
#[derive(Debug, Clone, Default)]
pub struct AccessData {
    /// Identity ids by index.
    pub identity_ids: Vec<String>,
    /// Identity names by index.
    pub identity_names: Vec<String>,
    /// Identity emails by index.
    pub identity_emails: Vec<Option<String>>,
    /// Identity attributes (one per extra identities.csv column).
    pub attributes: Vec<Attribute>,
    /// Entitlements by index.
    pub entitlements: Vec<Entitlement>,
    /// Sources by index.
    pub sources: Vec<Source>,
    /// Who holds what.
    pub matrix: AccessMatrix,
    /// Source usage rows.
    pub usage: Vec<Usage>,
    /// Existing roles.
    pub roles: Vec<ExistingRole>,
    /// Data rows in assignments.csv (duplicates included).
    pub assignment_rows: u64,
    /// Non-fatal notes (ignored columns).
    pub warnings: Vec<String>,
}

/// Interns string ids to dense indices, remembering the line that introduced each.
#[derive(Debug, Default)]
struct Interner {
    index: HashMap<String, (u32, u64)>,
}

impl Interner {
    fn get(&self, id: &str) -> Option<u32> {
        self.index.get(id).map(|(i, _)| *i)
    }

    /// Adds `id`; on a duplicate returns the line it was first seen on.
    fn insert(&mut self, id: &str, line: u64) -> Result<u32, u64> {
        let next = u32::try_from(self.index.len()).unwrap_or(u32::MAX);
        match self.index.get(id) {
            Some((_, first)) => Err(*first),
            None => {
                self.index.insert(id.to_owned(), (next, line));
                Ok(next)
            }
        }
    }

    fn get_or_insert(&mut self, id: &str) -> (u32, bool) {
        match self.get(id) {
            Some(i) => (i, false),
            None => (self.insert(id, 0).unwrap_or(0), true),
        }
    }
}

impl AccessData {
    /// Mines every identity, with the existing roles and attributes of this import.
    pub fn mine(
        &self,
        params: MiningParams,
        observer: &dyn Observer,
    ) -> Result<MiningResult, EngineError> {
        let population: RoaringBitmap = (0..self.matrix.identities()).collect();
        let existing: Vec<RoaringBitmap> =
            self.roles.iter().map(|r| r.entitlements.clone()).collect();
        let input = MiningInput {
            matrix: &self.matrix,
            population: &population,
            existing_roles: &existing,
            attributes: &self.attributes,
        };
        rolemine_engine::mine(input, params, observer)
    }

    /// Loads and validates the import at `path` (a directory or a zip).
    pub fn load(path: &Path) -> Result<Self, DataErrors> {
        let mut source = DataSource::open(path)?;
        Self::read(&mut source)
    }

    /// Loads and validates an opened import. All errors found are reported together.
    pub fn read(input: &mut DataSource) -> Result<Self, DataErrors> {
        let mut data = AccessData::default();
        let mut errors = DataErrors::default();
        if !input.has("assignments.csv") {
            errors.push(DataError::file(
                "assignments.csv",
                "the file is required but missing from the input",
            ));
            return Err(errors);
        }
        let mut identities = Interner::default();
        let mut entitlements = Interner::default();
        let mut sources = Interner::default();
        // Attribute values are interned as they are read: (column position → value → code).
        let mut dictionaries: Vec<HashMap<String, u32>> = Vec::new();
        let mut attribute_codes: Vec<Vec<(usize, u32)>> = Vec::new();
        let mut attributes: Vec<Attribute> = Vec::new();
        let mut extra_columns: Vec<String> = Vec::new();
        let warnings = &mut data.warnings;

        let identities_given = input
            .with_file("identities.csv", |file| {
                let header = table::read(
                    "identities.csv",
                    file,
                    spec::IDENTITIES,
                    &mut errors,
                    warnings,
                    |row, errors| {
                        let id = row.required("id");
                        match identities.insert(id, row.line) {
                            Ok(_) => {
                                data.identity_ids.push(id.to_owned());
                                data.identity_names
                                    .push(row.get("name").unwrap_or(id).to_owned());
                                data.identity_emails
                                    .push(row.get("email").map(str::to_owned));
                                let codes = row
                                    .extra_values()
                                    .map(|(column, value)| {
                                        if column >= dictionaries.len() {
                                            dictionaries.resize_with(column + 1, HashMap::default);
                                            attributes.resize_with(column + 1, Attribute::default);
                                        }
                                        let next = dictionaries[column].len() as u32;
                                        let code = *dictionaries[column]
                                            .entry(value.to_owned())
                                            .or_insert_with(|| {
                                                attributes[column].values.push(value.to_owned());
                                                next
                                            });
                                        (column, code)
                                    })
                                    .collect();
                                attribute_codes.push(codes);
                            }
                            Err(first) => {
                                errors.push(duplicate("identities.csv", row.line, "id", id, first))
                            }
                        }
                    },
                );
                extra_columns = header.extra;
                Ok(())
            })?
            .is_some();

        let entitlements_given = input
            .with_file("entitlements.csv", |file| {
                table::read(
                    "entitlements.csv",
                    file,
                    spec::ENTITLEMENTS,
                    &mut errors,
                    warnings,
                    |row, errors| {
                        let id = row.required("id");
                        let source_id = row.required("source_id");
                        let (source, new) = sources.get_or_insert(source_id);
                        if new {
                            data.sources.push(Source {
                                id: source_id.to_owned(),
                                name: row.get("source_name").unwrap_or(source_id).to_owned(),
                            });
                        }
                        match entitlements.insert(id, row.line) {
                            Ok(_) => data.entitlements.push(Entitlement {
                                id: id.to_owned(),
                                name: row.get("name").unwrap_or(id).to_owned(),
                                attribute: row.get("attribute").unwrap_or("groups").to_owned(),
                                description: row.get("description").map(str::to_owned),
                                source,
                            }),
                            Err(first) => errors.push(duplicate(
                                "entitlements.csv",
                                row.line,
                                "id",
                                id,
                                first,
                            )),
                        }
                    },
                );
                Ok(())
            })?
            .is_some();

        // Sizes grow as assignments.csv creates identities and entitlements; the builder follows.
        let mut builder = AccessMatrixBuilder::new(0, 0);
        let ensure_default_source = |sources: &mut Interner, data_sources: &mut Vec<Source>| {
            let (index, new) = sources.get_or_insert(DEFAULT_SOURCE);
            if new {
                data_sources.push(Source {
                    id: DEFAULT_SOURCE.to_owned(),
                    name: DEFAULT_SOURCE.to_owned(),
                });
            }
            index
        };
        let mut assignment_rows = 0;
        // Exports list an identity's rows together: remembering the previous row's identity
        // saves most hash lookups.
        let mut previous: Option<(String, u32)> = None;
        input.with_file("assignments.csv", |file| {
            let header = table::read("assignments.csv", file, spec::ASSIGNMENTS, &mut errors, warnings, |row, errors| {
                let identity_id = row.required("identity_id");
                let entitlement_id = row.required("entitlement_id");
                let identity = match &previous {
                    Some((id, index)) if id == identity_id => Ok((*index, false)),
                    _ => resolve(&mut identities, identity_id, identities_given, || {
                        DataError::at("assignments.csv", row.line, Some("identity_id"), format!("unknown identity {identity_id:?} (not in identities.csv)"))
                    }),
                };
                if let Ok((index, _)) = identity {
                    match &mut previous {
                        Some((id, last)) if id == identity_id => *last = index,
                        _ => previous = Some((identity_id.to_owned(), index)),
                    }
                }
                let entitlement = resolve(&mut entitlements, entitlement_id, entitlements_given, || {
                    DataError::at("assignments.csv", row.line, Some("entitlement_id"), format!("unknown entitlement {entitlement_id:?} (not in entitlements.csv)"))
                });
                match (identity, entitlement) {
                    (Ok((identity, new_identity)), Ok((entitlement, new_entitlement))) => {
                        if new_identity {
                            data.identity_ids.push(identity_id.to_owned());
                            data.identity_names.push(identity_id.to_owned());
                            data.identity_emails.push(None);
                            attribute_codes.push(Vec::new());
                        }
                        if new_entitlement {
                            let source = ensure_default_source(&mut sources, &mut data.sources);
                            data.entitlements.push(Entitlement {
                                id: entitlement_id.to_owned(),
                                name: entitlement_id.to_owned(),
                                attribute: "groups".to_owned(),
                                description: None,
                                source,
                            });
                        }
                        builder.push(identity, entitlement);
                    }
                    (identity, entitlement) => {
                        for err in [identity.err(), entitlement.err()].into_iter().flatten() {
                            errors.push(err);
                        }
                    }
                }
            });
            assignment_rows = header.rows;
            Ok(())
        })?;
        data.assignment_rows = assignment_rows;

        let mut usage_seen: HashMap<(u32, u32), u64> = HashMap::default();
        input.with_file("usage.csv", |file| {
            table::read("usage.csv", file, spec::USAGE, &mut errors, warnings, |row, errors| {
                let identity_id = row.required("identity_id");
                let source_id = row.required("source_id");
                let raw_days = row.required("usage_days");
                let Some(identity) = identities.get(identity_id) else {
                    errors.push(DataError::at("usage.csv", row.line, Some("identity_id"), format!("unknown identity {identity_id:?}")));
                    return;
                };
                let Some(source) = sources.get(source_id) else {
                    errors.push(DataError::at("usage.csv", row.line, Some("source_id"), format!("unknown source {source_id:?} (no entitlement belongs to it)")));
                    return;
                };
                let days = match raw_days.parse::<u8>() {
                    Ok(days) if days <= 90 => days,
                    _ => {
                        errors.push(DataError::at("usage.csv", row.line, Some("usage_days"), format!("must be a whole number from 0 to 90, got {raw_days:?}")));
                        return;
                    }
                };
                if let Some(first) = usage_seen.insert((identity, source), row.line) {
                    errors.push(DataError::at("usage.csv", row.line, None, format!("duplicate usage for identity {identity_id:?} on source {source_id:?} (first on line {first})")));
                    return;
                }
                data.usage.push(Usage { identity, source, days });
            });
            Ok(())
        })?;

        let mut role_index: HashMap<String, usize> = HashMap::default();
        input.with_file("roles.csv", |file| {
            table::read(
                "roles.csv",
                file,
                spec::ROLES,
                &mut errors,
                warnings,
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
                    let next = data.roles.len();
                    let index = *role_index.entry(role_id.to_owned()).or_insert(next);
                    if index == next {
                        data.roles.push(ExistingRole {
                            id: role_id.to_owned(),
                            name: row.get("role_name").unwrap_or(role_id).to_owned(),
                            entitlements: RoaringBitmap::new(),
                        });
                    }
                    data.roles[index].entitlements.insert(entitlement);
                },
            );
            Ok(())
        })?;

        errors.into_result()?;
        // Identities and entitlements without any assignment still get a (empty) row/column.
        builder.push_size(
            u32::try_from(data.identity_ids.len()).unwrap_or(u32::MAX),
            u32::try_from(data.entitlements.len()).unwrap_or(u32::MAX),
        );
        data.matrix = builder.build();
        attributes.resize_with(extra_columns.len(), Attribute::default);
        for (attribute, name) in attributes.iter_mut().zip(extra_columns) {
            attribute.name = name;
            attribute.codes = vec![None; attribute_codes.len()];
        }
        for (identity, codes) in attribute_codes.iter().enumerate() {
            for &(column, code) in codes {
                attributes[column].codes[identity] = Some(code);
            }
        }
        data.attributes = attributes;
        Ok(data)
    }
}

/// Looks up a referenced id; creates it when its defining file is absent.
fn resolve(
    interner: &mut Interner,
    id: &str,
    file_given: bool,
    unknown: impl FnOnce() -> DataError,
) -> Result<(u32, bool), DataError> {
    match interner.get(id) {
        Some(index) => Ok((index, false)),
        None if file_given => Err(unknown()),
        None => Ok(interner.get_or_insert(id)),
    }
}

fn duplicate(file: &str, line: u64, column: &str, id: &str, first: u64) -> DataError {
    DataError::at(
        file,
        line,
        Some(column),
        format!("duplicate id {id:?} (first on line {first})"),
    )
}
