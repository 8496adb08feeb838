//! A potential role's export zip (`access-data-format.md`): `identities.csv`,
//! `entitlements.csv` and `missing_access.csv`, written from row streams in that order so the
//! size of the role bounds neither memory nor time to the first byte.
//!
//! The caller feeds members to [`RoleExportZip::member`], then, after
//! [`RoleExportZip::start_missing_access`], each member's held entitlements to
//! [`RoleExportZip::member_holds`]; the writer deflates as it goes.

use std::io::{Seek, Write};

use zip::write::SimpleFileOptions;
use zip::ZipWriter;

/// Why an export could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The zip or its output refused the bytes.
    #[error("cannot write the export zip: {0}")]
    Zip(#[from] zip::result::ZipError),
    /// A CSV record could not be written.
    #[error("cannot write the export zip: {0}")]
    Csv(#[from] csv::Error),
    /// The output refused the bytes.
    #[error("cannot write the export zip: {0}")]
    Io(#[from] std::io::Error),
}

/// One exported entitlement.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportedEntitlement {
    /// The caller's key for it, matched against [`RoleExportZip::member_holds`]'s lists.
    pub key: i32,
    /// External id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// The attribute it grants.
    pub attribute: String,
    /// Its application's name.
    pub application: String,
    /// Its application's external id.
    pub source_id: String,
    /// Members holding it.
    pub identity_count: i32,
    /// Percent of the members holding it.
    pub popularity: f64,
    /// Percent of the organisation holding it.
    pub popularity_in_org: f64,
    /// Common access.
    pub common_access: bool,
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

/// One attribute rule of the exported role (`rules.csv`).
#[derive(Debug, Clone, PartialEq)]
pub struct ExportedRule {
    /// 1 for the best.
    pub rank: i16,
    /// The rule in the search language of `scope.criteria`.
    pub criteria: String,
    /// Population identities it matches.
    pub matched: i32,
    /// Members it matches.
    pub members_matched: i32,
    /// The role's members.
    pub members: i32,
}

/// `rules.csv` columns of a rule, [`ExportedRule::cells`] in order (a session's insights zip
/// puts its role's id and name before them).
pub const RULE_COLUMNS: [&str; 8] = [
    "rank",
    "rule",
    "precision",
    "recall",
    "matched",
    "members_matched",
    "would_add",
    "would_miss",
];

impl ExportedRule {
    /// Its `rules.csv` cells from `rank` on: rank, rule, precision, recall (4 decimals),
    /// matched, members matched, would add, would miss.
    pub fn cells(&self) -> [String; 8] {
        let ratio = |part: i32, whole: i32| {
            if whole == 0 {
                0.0
            } else {
                f64::from(part) / f64::from(whole)
            }
        };
        [
            self.rank.to_string(),
            self.criteria.clone(),
            format!("{:.4}", ratio(self.members_matched, self.matched)),
            format!("{:.4}", ratio(self.members_matched, self.members)),
            self.matched.to_string(),
            self.members_matched.to_string(),
            (self.matched - self.members_matched).to_string(),
            (self.members - self.members_matched).to_string(),
        ]
    }
}

/// One of the role's outlier members, or an identity whose nearest role it is
/// (`outliers.csv`).
#[derive(Debug, Clone, PartialEq)]
pub struct ExportedOutlier {
    /// Rank in the session's outlier list.
    pub rank: i32,
    /// The identity's id.
    pub identity_id: String,
    /// Its score.
    pub score: f64,
    /// Whether it is a member of some role.
    pub in_role: bool,
    /// Entitlements it holds outside its roles' definitions.
    pub unusual_count: i32,
    /// The most unusual of them (ids).
    pub unusual: Vec<String>,
    /// Entitlements of its roles' definitions it lacks.
    pub missing_count: i32,
    /// The first of them (ids).
    pub missing: Vec<String>,
}

/// `outliers.csv` columns of a session (its insights zip and the batch zip): a role's export
/// leaves out `role_ids` (the role is the export's own).
pub const OUTLIER_COLUMNS: [&str; 9] = [
    "rank",
    "identity_id",
    "score",
    "in_role",
    "role_ids",
    "unusual_count",
    "unusual_entitlements",
    "missing_count",
    "missing_entitlements",
];

impl ExportedOutlier {
    /// Its `outliers.csv` cells, with the `role_ids` cell (ids joined by spaces) when given.
    pub fn cells(&self, role_ids: Option<&[String]>) -> Vec<String> {
        let mut cells = vec![
            self.rank.to_string(),
            self.identity_id.clone(),
            format!("{:.3}", self.score),
            self.in_role.to_string(),
        ];
        if let Some(role_ids) = role_ids {
            cells.push(role_ids.join(" "));
        }
        cells.extend([
            self.unusual_count.to_string(),
            self.unusual.join(" "),
            self.missing_count.to_string(),
            self.missing.join(" "),
        ]);
        cells
    }
}

/// Bytes of CSV gathered before they are handed to the deflater.
const FLUSH_AT: usize = 64 * 1024;

/// The export being written; see the module documentation for the order of calls.
pub struct RoleExportZip<W: Write + Seek> {
    zip: ZipWriter<W>,
    csv: csv::Writer<Vec<u8>>,
    attributes: Vec<String>,
    entitlements: Vec<ExportedEntitlement>,
    counts: ExportCounts,
}

impl<W: Write + Seek> RoleExportZip<W> {
    /// Starts `identities.csv` with the given identity attribute columns; `entitlements` are
    /// those exported (sorted as they should appear).
    pub fn new(
        out: W,
        attributes: Vec<String>,
        entitlements: Vec<ExportedEntitlement>,
    ) -> Result<Self, ExportError> {
        let mut export = Self {
            zip: ZipWriter::new(out),
            csv: csv::Writer::from_writer(Vec::new()),
            attributes,
            entitlements,
            counts: ExportCounts::default(),
        };
        export.zip.start_file("identities.csv", options())?;
        let mut header = vec!["id", "name", "email"];
        header.extend(export.attributes.iter().map(String::as_str));
        export.csv.write_record(&header)?;
        Ok(export)
    }

    /// One member row; `attribute` gives a member's value of an attribute column.
    pub fn member<'a>(
        &mut self,
        id: &str,
        name: &str,
        email: Option<&str>,
        attribute: impl Fn(&str) -> Option<&'a str>,
    ) -> Result<(), ExportError> {
        self.csv.write_field(id)?;
        self.csv.write_field(name)?;
        self.csv.write_field(email.unwrap_or_default())?;
        for column in &self.attributes {
            self.csv
                .write_field(attribute(column).unwrap_or_default())?;
        }
        self.csv.write_record(None::<&[u8]>)?;
        self.counts.identities += 1;
        self.spill(false)
    }

    /// Ends `identities.csv`, writes `entitlements.csv` and starts `missing_access.csv`.
    pub fn start_missing_access(&mut self) -> Result<(), ExportError> {
        self.spill(true)?;
        self.zip.start_file("entitlements.csv", options())?;
        self.csv.write_record([
            "id",
            "name",
            "attribute",
            "application",
            "source_id",
            "identity_count",
            "popularity",
            "popularity_in_org",
            "common_access",
        ])?;
        for row in &self.entitlements {
            self.csv.write_record([
                row.id.as_str(),
                row.name.as_str(),
                row.attribute.as_str(),
                row.application.as_str(),
                row.source_id.as_str(),
                &row.identity_count.to_string(),
                &row.popularity.to_string(),
                &row.popularity_in_org.to_string(),
                if row.common_access { "true" } else { "false" },
            ])?;
            self.counts.entitlements += 1;
        }
        self.spill(true)?;
        self.zip.start_file("missing_access.csv", options())?;
        self.csv.write_record(["identity_id", "entitlement_id"])?;
        Ok(())
    }

    /// One member's held entitlement keys (sorted ascending): a `missing_access.csv` row for
    /// every exported entitlement the member lacks.
    pub fn member_holds(&mut self, identity: &str, held: &[i32]) -> Result<(), ExportError> {
        for row in &self.entitlements {
            if held.binary_search(&row.key).is_err() {
                self.csv.write_record([identity, row.id.as_str()])?;
                self.counts.missing_access += 1;
            }
        }
        self.spill(false)
    }

    /// Ends `missing_access.csv` and writes `rules.csv` and `outliers.csv`.
    pub fn insights(
        &mut self,
        rules: &[ExportedRule],
        outliers: &[ExportedOutlier],
    ) -> Result<(), ExportError> {
        self.spill(true)?;
        self.zip.start_file("rules.csv", options())?;
        self.csv.write_record(RULE_COLUMNS)?;
        for rule in rules {
            self.csv.write_record(rule.cells())?;
        }
        self.spill(true)?;
        self.zip.start_file("outliers.csv", options())?;
        self.csv
            .write_record(OUTLIER_COLUMNS.iter().filter(|c| **c != "role_ids"))?;
        for outlier in outliers {
            self.csv.write_record(outlier.cells(None))?;
        }
        self.spill(false)
    }

    /// Ends the zip; returns the output and the row counts.
    pub fn finish(mut self) -> Result<(W, ExportCounts), ExportError> {
        self.spill(true)?;
        Ok((self.zip.finish()?, self.counts))
    }

    fn spill(&mut self, all: bool) -> Result<(), ExportError> {
        spill(&mut self.zip, &mut self.csv, all)
    }
}

/// Moves the CSV bytes gathered in `csv` into `zip`'s current entry (always when `all`,
/// otherwise once they reach [`FLUSH_AT`]).
pub(crate) fn spill<W: Write + Seek>(
    zip: &mut ZipWriter<W>,
    csv: &mut csv::Writer<Vec<u8>>,
    all: bool,
) -> Result<(), ExportError> {
    csv.flush()?;
    if all || csv.get_ref().len() >= FLUSH_AT {
        let full = std::mem::replace(csv, csv::Writer::from_writer(Vec::new()));
        let bytes = full.into_inner().map_err(|err| err.into_error())?;
        zip.write_all(&bytes)?;
    }
    Ok(())
}

/// Deflated zip entries, as every export writes them.
pub(crate) fn options() -> SimpleFileOptions {
    SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::io::{Cursor, Read};

    use super::*;

    fn entitlement(key: i32, id: &str) -> ExportedEntitlement {
        ExportedEntitlement {
            key,
            id: id.into(),
            name: format!("{id} name"),
            attribute: "groups".into(),
            application: "Mail".into(),
            source_id: "src".into(),
            identity_count: 2,
            popularity: 100.0,
            popularity_in_org: 50.0,
            common_access: false,
        }
    }

    fn entry(zip: &mut zip::ZipArchive<Cursor<Vec<u8>>>, name: &str) -> String {
        let mut text = String::new();
        zip.by_name(name)
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        text
    }

    #[test]
    fn writes_the_three_files_in_the_documented_layout() {
        let entitlements = vec![entitlement(1, "e1"), entitlement(2, "e2")];
        let mut export =
            RoleExportZip::new(Cursor::new(Vec::new()), vec!["dept".into()], entitlements).unwrap();
        export
            .member("u1", "Ann, A.", Some("ann@x"), |c| {
                (c == "dept").then_some("IT")
            })
            .unwrap();
        export.member("u2", "Bob", None, |_| None).unwrap();
        export.start_missing_access().unwrap();
        export.member_holds("u1", &[1, 2]).unwrap();
        export.member_holds("u2", &[2]).unwrap();
        let (out, counts) = export.finish().unwrap();
        assert_eq!(
            counts,
            ExportCounts {
                identities: 2,
                entitlements: 2,
                missing_access: 1
            }
        );
        let mut zip = zip::ZipArchive::new(Cursor::new(out.into_inner())).unwrap();
        assert_eq!(
            entry(&mut zip, "identities.csv"),
            "id,name,email,dept\nu1,\"Ann, A.\",ann@x,IT\nu2,Bob,,\n"
        );
        assert!(entry(&mut zip, "entitlements.csv").starts_with(
            "id,name,attribute,application,source_id,identity_count,popularity,popularity_in_org,common_access\ne1,e1 name,groups,Mail,src,2,100,50,false\n"
        ));
        assert_eq!(
            entry(&mut zip, "missing_access.csv"),
            "identity_id,entitlement_id\nu2,e1\n"
        );
    }
}
