//! Reading one CSV file of the import format: header checks, then row by row with positions.

use std::io::Read;

use crate::error::{DataError, DataErrors};

/// What a file's header must and may hold.
#[derive(Debug, Clone, Copy)]
pub struct Columns {
    /// Columns that must be present and non-empty on every row.
    pub required: &'static [&'static str],
    /// Columns that may be present.
    pub optional: &'static [&'static str],
    /// Whether other columns are kept (identity attributes) or ignored with a warning.
    pub keep_extra: bool,
}

/// One data row.
#[derive(Debug)]
pub struct Row<'a> {
    /// 1-based line number in the file.
    pub line: u64,
    record: &'a csv::ByteRecord,
    /// (known column, field position); a handful of entries, so a scan beats hashing.
    index: &'a [(&'static str, usize)],
    extra: &'a [(usize, String)],
}

impl<'a> Row<'a> {
    /// The trimmed value of a known column; `None` if the file lacks the column or it is empty.
    pub fn get(&self, column: &str) -> Option<&'a str> {
        // Length and first byte settle almost every mismatch without a memcmp call.
        let position = self
            .index
            .iter()
            .find(|(name, _)| {
                name.len() == column.len()
                    && name.as_bytes().first() == column.as_bytes().first()
                    && *name == column
            })?
            .1;
        let value = self.field(position)?;
        (!value.is_empty()).then_some(value)
    }

    /// Field `i`, trimmed (every field was checked to be UTF-8 before the row was handed out).
    fn field(&self, i: usize) -> Option<&'a str> {
        std::str::from_utf8(self.record.get(i)?).ok().map(str::trim)
    }

    /// A required column's value (present and non-empty: checked before the row is handed out).
    pub fn required(&self, column: &str) -> &'a str {
        self.get(column).unwrap_or_default()
    }

    /// Extra columns with a non-empty value on this row, as (position among the extra columns,
    /// value); positions follow [`Row::extra_names`].
    pub fn extra_values(&self) -> impl Iterator<Item = (usize, &'a str)> + '_ {
        self.extra.iter().enumerate().filter_map(|(n, (i, _))| {
            let value = self.field(*i)?;
            (!value.is_empty()).then_some((n, value))
        })
    }

    /// The names of the extra columns, in the order [`Row::extra_values`] numbers them.
    pub fn extra_names(&self) -> Vec<String> {
        self.extra.iter().map(|(_, name)| name.clone()).collect()
    }
}

/// What reading a file found beyond its rows.
#[derive(Debug, Default, Clone)]
pub struct Header {
    /// Data rows read.
    pub rows: u64,
}

/// Reads `file` from `input`, checks its header against `columns`, and calls `visit` on every
/// row whose required fields are present. Row-level problems go to `errors` (reading continues,
/// so one run reports many); a problem that makes the rest unreadable stops reading.
/// `warnings` receives notes such as ignored columns.
pub fn read(
    file: &str,
    input: &mut dyn Read,
    columns: Columns,
    errors: &mut DataErrors,
    warnings: &mut Vec<String>,
    mut visit: impl FnMut(&Row<'_>, &mut DataErrors),
) -> Header {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(false)
        .buffer_capacity(1 << 20)
        .from_reader(input);
    let mut record = csv::ByteRecord::new();
    match reader.read_byte_record(&mut record) {
        Ok(true) => {}
        Ok(false) => {
            errors.push(DataError::file(
                file,
                "the file is empty; a header row is required",
            ));
            return Header::default();
        }
        Err(err) => {
            errors.push(csv_error(file, &err, &[]));
            return Header::default();
        }
    }
    let names: Vec<String> = match decode_header(file, &record) {
        Ok(names) => names,
        Err(err) => {
            errors.push(err);
            return Header::default();
        }
    };
    let mut index: Vec<(&'static str, usize)> = Vec::new();
    let mut extra: Vec<(usize, String)> = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let known = columns
            .required
            .iter()
            .chain(columns.optional)
            .find(|c| **c == name.as_str());
        match known {
            Some(column) if index.iter().any(|(c, _)| c == column) => {
                errors.push(DataError::at(
                    file,
                    1,
                    Some(column),
                    "the column appears twice in the header",
                ));
            }
            Some(column) => index.push((column, i)),
            None if columns.keep_extra && !name.is_empty() => extra.push((i, name.clone())),
            None => warnings.push(format!(
                "{file}: column {name:?} is not part of the format and is ignored"
            )),
        }
    }
    let missing: Vec<&str> = columns
        .required
        .iter()
        .filter(|c| !index.iter().any(|(known, _)| known == *c))
        .copied()
        .collect();
    for column in &missing {
        errors.push(DataError::at(
            file,
            1,
            Some(column),
            "required column is missing from the header",
        ));
    }
    let mut header = Header::default();
    if !missing.is_empty() {
        return header;
    }
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(err) => {
                let stop = !matches!(err.kind(), csv::ErrorKind::UnequalLengths { .. });
                errors.push(csv_error(file, &err, &names));
                if stop {
                    break;
                }
                continue;
            }
        }
        let line = record.position().map_or(0, csv::Position::line);
        // Validate all fields as UTF-8 once; the row then borrows them without copying.
        if let Some(i) = record
            .iter()
            .position(|raw| std::str::from_utf8(raw).is_err())
        {
            errors.push(DataError::at(
                file,
                line,
                names.get(i).map(String::as_str),
                "the value is not valid UTF-8",
            ));
            continue;
        }
        header.rows += 1;
        let row = Row {
            line,
            record: &record,
            index: &index,
            extra: &extra,
        };
        let mut complete = true;
        for column in columns.required {
            if row.get(column).is_none() {
                errors.push(DataError::at(
                    file,
                    line,
                    Some(column),
                    "required value is empty",
                ));
                complete = false;
            }
        }
        if complete {
            visit(&row, errors);
        }
    }
    header
}

fn decode_header(file: &str, record: &csv::ByteRecord) -> Result<Vec<String>, DataError> {
    record
        .iter()
        .enumerate()
        .map(|(i, raw)| {
            let raw = if i == 0 {
                raw.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(raw)
            } else {
                raw
            };
            std::str::from_utf8(raw)
                .map(|s| s.trim().to_owned())
                .map_err(|_| {
                    DataError::at(
                        file,
                        1,
                        None,
                        format!("header field {} is not valid UTF-8", i + 1),
                    )
                })
        })
        .collect()
}

fn csv_error(file: &str, err: &csv::Error, names: &[String]) -> DataError {
    let line = err.position().map_or(0, csv::Position::line);
    match err.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => DataError::at(
            file,
            line,
            None,
            format!("the row has {len} fields but the header has {expected_len}"),
        ),
        csv::ErrorKind::Utf8 { err, .. } => DataError::at(
            file,
            line,
            names.get(err.field()).map(String::as_str),
            "the value is not valid UTF-8",
        ),
        csv::ErrorKind::Io(io) => DataError::file(file, format!("cannot read the file: {io}")),
        _ => DataError::at(file, line, None, format!("malformed CSV: {err}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPEC: Columns = Columns {
        required: &["id"],
        optional: &["name"],
        keep_extra: true,
    };

    fn run(text: &[u8]) -> (Vec<String>, DataErrors, Vec<String>) {
        let mut errors = DataErrors::default();
        let mut warnings = Vec::new();
        let mut seen = Vec::new();
        let mut extra_names = Vec::new();
        read(
            "t.csv",
            &mut &text[..],
            SPEC,
            &mut errors,
            &mut warnings,
            |row, _| {
                extra_names = row.extra_names();
                let extra: Vec<String> = row
                    .extra_values()
                    .map(|(n, v)| format!("{}={v}", extra_names[n]))
                    .collect();
                seen.push(format!(
                    "{}:{}:{}:{}",
                    row.line,
                    row.required("id"),
                    row.get("name").unwrap_or("-"),
                    extra.join(";")
                ));
            },
        );
        (seen, errors, extra_names)
    }

    #[test]
    fn reads_rows_with_positions_and_extra_columns() {
        let (rows, errors, extra_names) =
            run(b"\xEF\xBB\xBFid, name ,dept\nu1,Ann,Fin\n\"u2\",,\n");
        assert!(errors.is_empty(), "{errors}");
        assert_eq!(rows, vec!["2:u1:Ann:dept=Fin", "3:u2:-:"]);
        assert_eq!(extra_names, vec!["dept"]);
    }

    #[test]
    fn reports_positions_of_problems() {
        let (_, errors, _) = run(b"");
        assert_eq!(
            errors.errors[0].to_string(),
            "t.csv: the file is empty; a header row is required"
        );
        let (_, errors, _) = run(b"name\nx\n");
        assert_eq!(
            errors.errors[0].to_string(),
            "t.csv, line 1, column id: required column is missing from the header"
        );
        let (rows, errors, _) = run(b"id,name\n,x\nu1,\xff\nu2,y,z\nu3,ok\n");
        let text: Vec<String> = errors.errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            vec![
                "t.csv, line 2, column id: required value is empty",
                "t.csv, line 3, column name: the value is not valid UTF-8",
                "t.csv, line 4: the row has 3 fields but the header has 2",
            ]
        );
        assert_eq!(rows, vec!["5:u3:ok:"]);
    }
}
