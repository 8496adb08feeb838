//! A whole import, validated and held in memory (for batch mining and tests).

use rustc_hash::FxHashMap as HashMap;
use std::path::Path;

use roaring::RoaringBitmap;
use rolemine_engine::{
    AccessMatrix, AccessMatrixBuilder, Attribute, EngineError, MiningInput, MiningParams,
    MiningResult, Observer,
};

use crate::error::DataErrors;
use crate::reader::{
    self, AssignmentRecord, EntitlementRecord, IdentityRecord, ImportSink, RoleRecord,
    SourceRecord, UsageRecord,
};
use crate::source::DataSource;

pub use crate::reader::{spec, DEFAULT_SOURCE};

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
        let mut sink = MemorySink::default();
        let summary = reader::read(input, &mut sink)?;
        let mut data = sink.data;
        data.assignment_rows = summary.assignment_rows;
        data.warnings = summary.warnings;
        let mut builder = sink.builder;
        // Identities and entitlements without any assignment still get an (empty) row/column.
        builder.push_size(summary.identities, summary.entitlements);
        data.matrix = builder.build();
        let identities = data.identity_ids.len();
        for attribute in &mut sink.attributes {
            attribute.codes.resize(identities, None);
        }
        data.attributes = sink.attributes;
        Ok(data)
    }
}

/// Collects an import into an [`AccessData`].
#[derive(Default)]
struct MemorySink {
    data: AccessData,
    builder: AccessMatrixBuilder,
    attributes: Vec<Attribute>,
    /// Per attribute: value → code.
    dictionaries: Vec<HashMap<String, u32>>,
    role_index: HashMap<String, usize>,
}

impl ImportSink for MemorySink {
    fn attribute_columns(&mut self, names: &[String]) -> Result<(), String> {
        self.attributes = names
            .iter()
            .map(|name| Attribute {
                name: name.clone(),
                ..Attribute::default()
            })
            .collect();
        self.dictionaries = vec![HashMap::default(); names.len()];
        Ok(())
    }

    fn source(&mut self, record: SourceRecord<'_>) -> Result<(), String> {
        self.data.sources.push(Source {
            id: record.id.to_owned(),
            name: record.name.to_owned(),
        });
        Ok(())
    }

    fn identity(&mut self, record: IdentityRecord<'_>) -> Result<(), String> {
        let data = &mut self.data;
        data.identity_ids.push(record.id.to_owned());
        data.identity_names.push(record.name.to_owned());
        data.identity_emails.push(record.email.map(str::to_owned));
        for &(column, value) in record.attributes {
            let (Some(attribute), Some(dictionary)) = (
                self.attributes.get_mut(column),
                self.dictionaries.get_mut(column),
            ) else {
                continue;
            };
            let next = u32::try_from(dictionary.len()).unwrap_or(u32::MAX);
            let code = *dictionary.entry(value.to_owned()).or_insert_with(|| {
                attribute.values.push(value.to_owned());
                next
            });
            let identity = record.index as usize;
            if attribute.codes.len() <= identity {
                attribute.codes.resize(identity + 1, None);
            }
            attribute.codes[identity] = Some(code);
        }
        Ok(())
    }

    fn entitlement(&mut self, record: EntitlementRecord<'_>) -> Result<(), String> {
        self.data.entitlements.push(Entitlement {
            id: record.id.to_owned(),
            name: record.name.to_owned(),
            attribute: record.attribute.to_owned(),
            description: record.description.map(str::to_owned),
            source: record.source,
        });
        Ok(())
    }

    fn assignment(&mut self, record: AssignmentRecord<'_>) -> Result<(), String> {
        self.builder.push(record.identity, record.entitlement);
        Ok(())
    }

    fn usage(&mut self, record: UsageRecord<'_>) -> Result<(), String> {
        self.data.usage.push(Usage {
            identity: record.identity,
            source: record.source,
            days: record.days,
        });
        Ok(())
    }

    fn role(&mut self, record: RoleRecord<'_>) -> Result<(), String> {
        let next = self.data.roles.len();
        let index = *self
            .role_index
            .entry(record.role_id.to_owned())
            .or_insert(next);
        if index == next {
            self.data.roles.push(ExistingRole {
                id: record.role_id.to_owned(),
                name: record.role_name.to_owned(),
                entitlements: RoaringBitmap::new(),
            });
        }
        self.data.roles[index]
            .entitlements
            .insert(record.entitlement);
        Ok(())
    }
}
