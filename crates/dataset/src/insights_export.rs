//! A session's insights as a zip (`GET /rolemine/v1/role-mining-sessions/{id}/insights/export`):
//! `rules.csv`, `outliers.csv` and `unexplained.csv` with the batch zip's columns, written
//! from row streams in that order.

use std::io::{Seek, Write};

use zip::ZipWriter;

use crate::role_export::{
    options, spill, ExportError, ExportedOutlier, ExportedRule, OUTLIER_COLUMNS, RULE_COLUMNS,
};

/// `unexplained.csv` columns (the session insights zip and the batch zip).
pub const UNEXPLAINED_COLUMNS: [&str; 7] = [
    "source_id",
    "source_name",
    "entitlement_id",
    "entitlement_name",
    "identity_count",
    "unused_identity_count",
    "identity_ids",
];

/// One entitlement's unexplained holders.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportedUnexplained {
    /// Its source's id.
    pub source_id: String,
    /// Its source's name.
    pub source_name: String,
    /// The entitlement's id.
    pub entitlement_id: String,
    /// Its name.
    pub entitlement_name: String,
    /// Holders without usage of the source.
    pub unused_identity_count: i64,
    /// The holders' ids.
    pub identity_ids: Vec<String>,
}

/// Where the zip is in its files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Part {
    Rules,
    Outliers,
    Unexplained,
}

/// The export being written: rules, then outliers, then unexplained access.
pub struct SessionInsightsZip<W: Write + Seek> {
    zip: ZipWriter<W>,
    csv: csv::Writer<Vec<u8>>,
    part: Part,
}

impl<W: Write + Seek> SessionInsightsZip<W> {
    /// Starts `rules.csv`.
    pub fn new(out: W) -> Result<Self, ExportError> {
        let mut export = Self {
            zip: ZipWriter::new(out),
            csv: csv::Writer::from_writer(Vec::new()),
            part: Part::Rules,
        };
        export.zip.start_file("rules.csv", options())?;
        export
            .csv
            .write_record(["role_id", "role_name"].iter().chain(&RULE_COLUMNS))?;
        Ok(export)
    }

    /// One rule of role `role_id`.
    pub fn rule(
        &mut self,
        role_id: &str,
        role_name: &str,
        rule: &ExportedRule,
    ) -> Result<(), ExportError> {
        let mut record = vec![role_id.to_owned(), role_name.to_owned()];
        record.extend(rule.cells());
        self.csv.write_record(&record)?;
        self.spill(false)
    }

    /// One outlier with its roles' ids (the rules' part ends at the first).
    pub fn outlier(
        &mut self,
        outlier: &ExportedOutlier,
        role_ids: &[String],
    ) -> Result<(), ExportError> {
        self.advance(Part::Outliers)?;
        self.csv.write_record(outlier.cells(Some(role_ids)))?;
        self.spill(false)
    }

    /// One entitlement's unexplained holders.
    pub fn unexplained(&mut self, row: &ExportedUnexplained) -> Result<(), ExportError> {
        self.advance(Part::Unexplained)?;
        self.csv.write_record([
            row.source_id.as_str(),
            row.source_name.as_str(),
            row.entitlement_id.as_str(),
            row.entitlement_name.as_str(),
            &row.identity_ids.len().to_string(),
            &row.unused_identity_count.to_string(),
            &row.identity_ids.join(" "),
        ])?;
        self.spill(false)
    }

    /// Ends the zip (writing the parts no row reached, with their headers).
    pub fn finish(mut self) -> Result<W, ExportError> {
        self.advance(Part::Unexplained)?;
        self.spill(true)?;
        Ok(self.zip.finish()?)
    }

    /// Moves on to `part`, starting each file in between with its header.
    fn advance(&mut self, part: Part) -> Result<(), ExportError> {
        while self.part < part {
            self.spill(true)?;
            if self.part == Part::Rules {
                self.part = Part::Outliers;
                self.zip.start_file("outliers.csv", options())?;
                self.csv.write_record(OUTLIER_COLUMNS)?;
            } else {
                self.part = Part::Unexplained;
                self.zip.start_file("unexplained.csv", options())?;
                self.csv.write_record(UNEXPLAINED_COLUMNS)?;
            }
        }
        Ok(())
    }

    fn spill(&mut self, all: bool) -> Result<(), ExportError> {
        spill(&mut self.zip, &mut self.csv, all)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::io::{Cursor, Read};

    use super::*;

    #[test]
    fn every_file_is_written_even_without_rows() {
        let zip = SessionInsightsZip::new(Cursor::new(Vec::new()))
            .unwrap()
            .finish()
            .unwrap();
        let mut archive = zip::ZipArchive::new(zip).unwrap();
        for (name, header) in [
            ("rules.csv", "role_id,"),
            ("outliers.csv", "rank,"),
            ("unexplained.csv", "source_id,"),
        ] {
            let mut text = String::new();
            archive
                .by_name(name)
                .unwrap()
                .read_to_string(&mut text)
                .unwrap();
            assert!(
                text.starts_with(header) && text.lines().count() == 1,
                "{name}: {text}"
            );
        }
    }
}
