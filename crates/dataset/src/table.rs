//! Reading one CSV file of the import format: header checks, then row by row with positions.

use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};

use crate::error::{DataError, DataErrors};

/// The longest line an import file may have.
pub const MAX_LINE_BYTES: u64 = 1 << 20;
/// The most bytes one record may span (a quoted value may run over several lines).
pub const MAX_RECORD_BYTES: u64 = 4 << 20;
/// The longest value an id or name field may hold: they are indexed, and PostgreSQL's index
/// entries hold at most about 2.7 kB.
pub const MAX_FIELD_BYTES: usize = 2_000;
/// The longest free-text value (`description`, identity attribute columns), which no index holds.
pub const MAX_TEXT_BYTES: usize = 64 * 1024;
/// The columns that hold free text, besides the identity attribute columns.
const TEXT_COLUMNS: [&str; 1] = ["description"];
/// Reading stops once an import has this many errors: the first ones say what is wrong, and
/// a file of nothing but bad lines must not hold a worker for minutes.
pub const STOP_AFTER_ERRORS: usize = 10_000;
/// What the CSV reader buffers ahead of the record it is on.
const BUFFER_BYTES: usize = 1 << 20;

/// Passes a file's bytes through, refusing a line longer than [`MAX_LINE_BYTES`] or a record
/// longer than [`MAX_RECORD_BYTES`] before the CSV reader can buffer it: a 1 GiB line must not
/// become a 1 GiB record in memory.
struct Bounded<R> {
    inner: R,
    /// Bytes handed out so far.
    delivered: u64,
    /// Where the record being read starts (set by the reading loop).
    record_start: Arc<AtomicU64>,
    line: u64,
    line_length: u64,
    /// An error found inside a chunk whose good part was already handed out.
    pending: Option<String>,
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(message) = self.pending.take() {
            return Err(io::Error::new(io::ErrorKind::InvalidData, message));
        }
        let n = self.inner.read(buf)?;
        for (i, byte) in buf[..n].iter().enumerate() {
            if *byte == b'\n' {
                self.line += 1;
                self.line_length = 0;
                continue;
            }
            self.line_length += 1;
            let offset = self.delivered + i as u64;
            let record = offset.saturating_sub(self.record_start.load(Ordering::Relaxed));
            let problem = if self.line_length > MAX_LINE_BYTES {
                Some(format!(
                    "line {} is longer than {MAX_LINE_BYTES} bytes; a line of an import file may not be",
                    self.line
                ))
            } else if record > MAX_RECORD_BYTES + BUFFER_BYTES as u64 {
                Some(format!(
                    "the record that runs to line {} is longer than {MAX_RECORD_BYTES} bytes (a quoted value that is never closed?)",
                    self.line
                ))
            } else {
                None
            };
            if let Some(message) = problem {
                self.delivered += i as u64;
                if i == 0 {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, message));
                }
                self.pending = Some(message);
                return Ok(i);
            }
        }
        self.delivered += n as u64;
        Ok(n)
    }
}

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
    input: &mut (dyn Read + Send),
    columns: Columns,
    errors: &mut DataErrors,
    warnings: &mut Vec<String>,
    mut visit: impl FnMut(&Row<'_>, &mut DataErrors),
) -> Header {
    if errors.total >= STOP_AFTER_ERRORS {
        return Header::default();
    }
    let record_start = Arc::new(AtomicU64::new(0));
    let bounded = Bounded {
        inner: input,
        delivered: 0,
        record_start: Arc::clone(&record_start),
        line: 1,
        line_length: 0,
        pending: None,
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(false)
        .buffer_capacity(BUFFER_BYTES)
        .from_reader(bounded);
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
    // The most bytes each field position may hold.
    let limits: Vec<usize> = (0..names.len())
        .map(|i| {
            let text = extra.iter().any(|(position, _)| *position == i)
                || index
                    .iter()
                    .any(|(name, position)| *position == i && TEXT_COLUMNS.contains(name));
            if text {
                MAX_TEXT_BYTES
            } else {
                MAX_FIELD_BYTES
            }
        })
        .collect();
    let stop = AtomicBool::new(false);
    let (full, filled) = mpsc::sync_channel::<Vec<Parsed>>(BATCHES_AHEAD);
    let (recycle, recycled) = mpsc::channel::<Vec<csv::ByteRecord>>();
    let parsing = Parsing {
        file,
        names: &names,
        index: &index,
        limits: &limits,
        required: columns.required,
        stop: &stop,
    };
    let mut stopped = false;
    // Parsing and validating on one thread, interning and storing on this one: a large
    // assignments.csv takes half the time. Records come back in file order, so what the
    // import reports (errors and their order included) is what a single pass would report.
    let at_end = std::thread::scope(|scope| {
        let parser = scope.spawn(move || parsing.run(reader, &record_start, &full, &recycled));
        'batches: for batch in filled.iter() {
            let mut spare = Vec::with_capacity(batch.len());
            for parsed in batch {
                if errors.total >= STOP_AFTER_ERRORS {
                    stopped = true;
                    break 'batches;
                }
                match parsed {
                    Parsed::Rejected(error) => errors.push(error),
                    Parsed::Row { record, missing } => {
                        header.rows += 1;
                        if missing.is_empty() {
                            let row = Row {
                                line: record.position().map_or(0, csv::Position::line),
                                record: &record,
                                index: &index,
                                extra: &extra,
                            };
                            visit(&row, errors);
                        }
                        for error in missing {
                            errors.push(error);
                        }
                        if record.as_slice().len() <= REUSED_RECORD_BYTES {
                            spare.push(record);
                        }
                    }
                }
            }
            // The parser may have stopped already: then nothing needs the records back.
            let _ = recycle.send(spare);
        }
        stop.store(true, Ordering::Relaxed);
        // Unblocks a parser waiting to hand over another batch.
        drop(filled);
        match parser.join() {
            Ok(at_end) => at_end,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    });
    // A single pass checks before reading each record, the end included.
    if stopped || (at_end && errors.total >= STOP_AFTER_ERRORS) {
        stop_reading(file, errors);
    }
    header
}

/// Batches the parser may be ahead of the consumer by.
const BATCHES_AHEAD: usize = 4;
/// The most records in a batch.
const BATCH_RECORDS: usize = 2048;
/// A batch is closed once its records hold this many bytes, so long rows (attribute columns,
/// descriptions) keep the records in flight to a few MiB.
const BATCH_BYTES: usize = 1 << 20;
/// A record that held more than this is not reused: its buffer would stay that large.
const REUSED_RECORD_BYTES: usize = 64 * 1024;

/// One record as the parser leaves it, in file order.
enum Parsed {
    /// A record that could not be read or holds an unusable value, with the problem.
    Rejected(DataError),
    /// A record whose values are usable, with its required columns left empty (visited only
    /// when there are none).
    Row {
        record: csv::ByteRecord,
        missing: Vec<DataError>,
    },
}

/// What the parsing thread needs of the file.
struct Parsing<'a> {
    file: &'a str,
    names: &'a [String],
    index: &'a [(&'static str, usize)],
    limits: &'a [usize],
    required: &'static [&'static str],
    /// Set once the consumer wants no more records.
    stop: &'a AtomicBool,
}

impl Parsing<'_> {
    /// Reads records into batches for `full` until the end of the file (`true`), a problem
    /// that makes the rest unreadable, `stop`, or the consumer hanging up. Records the
    /// consumer is done with come back through `recycled`, so their buffers are reused.
    fn run<R: Read>(
        &self,
        mut reader: csv::Reader<R>,
        record_start: &AtomicU64,
        full: &mpsc::SyncSender<Vec<Parsed>>,
        recycled: &mpsc::Receiver<Vec<csv::ByteRecord>>,
    ) -> bool {
        let mut spare: Vec<csv::ByteRecord> = Vec::new();
        loop {
            while let Ok(records) = recycled.try_recv() {
                spare.extend(records);
            }
            let mut batch = Vec::with_capacity(BATCH_RECORDS);
            let mut bytes = 0;
            let mut at_end = false;
            while batch.len() < BATCH_RECORDS && bytes < BATCH_BYTES {
                if self.stop.load(Ordering::Relaxed) {
                    return false;
                }
                let mut record = spare.pop().unwrap_or_default();
                record_start.store(reader.position().byte(), Ordering::Relaxed);
                match reader.read_byte_record(&mut record) {
                    Ok(false) => {
                        at_end = true;
                        break;
                    }
                    Ok(true) => {
                        bytes += record.as_slice().len();
                        batch.push(self.check(record));
                    }
                    Err(err) => {
                        let fatal = !matches!(err.kind(), csv::ErrorKind::UnequalLengths { .. });
                        batch.push(Parsed::Rejected(csv_error(self.file, &err, self.names)));
                        if fatal {
                            let _ = full.send(batch);
                            return false;
                        }
                    }
                }
            }
            if full.send(batch).is_err() || at_end {
                return at_end;
            }
        }
    }

    /// Checks one record's values: UTF-8, no NUL, within their columns' limits, and which
    /// required ones are empty.
    fn check(&self, record: csv::ByteRecord) -> Parsed {
        let file = self.file;
        let line = record.position().map_or(0, csv::Position::line);
        let column = |i: usize| self.names.get(i).map(String::as_str);
        // Validate all fields as UTF-8 once; the row then borrows them without copying.
        if let Some(i) = record
            .iter()
            .position(|raw| std::str::from_utf8(raw).is_err())
        {
            return Parsed::Rejected(DataError::at(
                file,
                line,
                column(i),
                "the value is not valid UTF-8",
            ));
        }
        // PostgreSQL text cannot hold NUL, and an id or name past the index limit would fail
        // the whole import in the database instead of here, with its place.
        let limit = |i: usize| self.limits.get(i).copied().unwrap_or(MAX_FIELD_BYTES);
        if let Some((i, raw)) = record
            .iter()
            .enumerate()
            .find(|(i, raw)| raw.contains(&0) || raw.len() > limit(*i))
        {
            let message = if raw.contains(&0) {
                "the value contains a NUL character".to_owned()
            } else {
                format!(
                    "the value is {} bytes long; at most {} are accepted in this column",
                    raw.len(),
                    limit(i)
                )
            };
            return Parsed::Rejected(DataError::at(file, line, column(i), message));
        }
        let row = Row {
            line,
            record: &record,
            index: self.index,
            extra: &[],
        };
        let missing = self
            .required
            .iter()
            .filter(|c| row.get(c).is_none())
            .map(|c| DataError::at(file, line, Some(c), "required value is empty"))
            .collect();
        Parsed::Row { record, missing }
    }
}

/// Records that reading stopped because of too many errors.
fn stop_reading(file: &str, errors: &mut DataErrors) {
    errors.stop(DataError::file(
        file,
        format!("reading stopped after {STOP_AFTER_ERRORS} errors; fix these first"),
    ));
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
        csv::ErrorKind::Io(io) if io.kind() == io::ErrorKind::InvalidData => {
            DataError::file(file, io.to_string())
        }
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

    /// Reads `text` as `t.csv` with `visit`; the errors.
    fn read_with(text: &[u8], visit: impl FnMut(&Row<'_>, &mut DataErrors)) -> DataErrors {
        let mut errors = DataErrors::default();
        read(
            "t.csv",
            &mut &text[..],
            SPEC,
            &mut errors,
            &mut Vec::new(),
            visit,
        );
        errors
    }

    fn run(text: &[u8]) -> (Vec<String>, DataErrors, Vec<String>) {
        let mut seen = Vec::new();
        let mut extra_names = Vec::new();
        let errors = read_with(text, |row, _| {
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
        });
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

    #[test]
    fn nul_long_values_and_long_lines_are_refused_with_their_place() {
        let (rows, errors, _) = run(b"id,name\nu1,a\0b\nu2,ok\n");
        assert_eq!(
            errors.errors[0].to_string(),
            "t.csv, line 2, column name: the value contains a NUL character"
        );
        assert_eq!(rows, vec!["3:u2:ok:"]);
        let long = format!("id,name\nu1,{}\n", "x".repeat(MAX_FIELD_BYTES + 1));
        let (_, errors, _) = run(long.as_bytes());
        assert!(errors.errors[0]
            .to_string()
            .starts_with("t.csv, line 2, column name: the value is 2001 bytes long"));
        // Attribute columns hold free text: longer values are fine there.
        let attribute = format!("id,dept\nu1,{}\n", "x".repeat(MAX_FIELD_BYTES + 1));
        let (rows, errors, _) = run(attribute.as_bytes());
        assert!(errors.is_empty(), "{errors}");
        assert_eq!(rows.len(), 1);
        let mut huge = b"id,name\nu1,ok\nu2,".to_vec();
        huge.extend(std::iter::repeat_n(0u8, 3 << 20));
        let (rows, errors, _) = run(&huge);
        assert_eq!(rows, vec!["2:u1:ok:"]);
        assert_eq!(
            errors.errors.last().unwrap().to_string(),
            "t.csv: line 3 is longer than 1048576 bytes; a line of an import file may not be"
        );
        let mut open_quote = b"id,name\nu1,\"".to_vec();
        open_quote.extend(std::iter::repeat_n(b"ab\n".to_vec(), 3 << 20).flatten());
        let (_, errors, _) = run(&open_quote);
        assert!(errors
            .errors
            .last()
            .unwrap()
            .to_string()
            .contains("longer than 4194304 bytes"));
    }

    #[test]
    fn reading_stops_after_the_error_cap() {
        let mut text = b"id,name\n".to_vec();
        for _ in 0..(STOP_AFTER_ERRORS + 500) {
            text.extend_from_slice(b",x\n");
        }
        let (_, errors, _) = run(&text);
        assert_eq!(errors.total, STOP_AFTER_ERRORS + 1);
        assert_eq!(errors.errors.len(), crate::error::MAX_LISTED + 1);
        assert!(errors
            .errors
            .last()
            .unwrap()
            .message
            .contains("reading stopped"));
    }

    #[test]
    fn rows_and_errors_keep_file_order_across_batches() {
        // Several batches' worth of rows; the parser rejects some (empty id) and the visitor
        // others (every 777th id), so both threads' errors must interleave by line.
        let rows = 3 * BATCH_RECORDS + 100;
        let mut text = b"id,name\n".to_vec();
        for n in 0..rows {
            if n % 1000 == 0 {
                text.extend_from_slice(b",x\n");
            } else {
                text.extend_from_slice(format!("u{n},x\n").as_bytes());
            }
        }
        let mut seen = Vec::new();
        let errors = read_with(&text, |row, errors| {
            seen.push(row.line);
            if row.required("id").ends_with("777") {
                errors.push(DataError::at("t.csv", row.line, Some("id"), "visited"));
            }
        });
        let lines: Vec<u64> = errors.errors.iter().filter_map(|e| e.line).collect();
        let expected: Vec<u64> = (0..rows as u64)
            .filter(|n| n % 1000 == 0 || n % 1000 == 777)
            .map(|n| n + 2)
            .collect();
        assert_eq!(lines, expected);
        let visited: Vec<u64> = (0..rows as u64)
            .filter(|n| n % 1000 != 0)
            .map(|n| n + 2)
            .collect();
        assert_eq!(seen, visited);
    }

    #[test]
    fn the_error_cap_reached_on_the_last_row_or_by_the_visitor_stops_reading() {
        // Exactly the cap, the last row included: the stop is recorded as a single pass
        // would, on the check before the end of the file.
        let mut text = b"id,name\n".to_vec();
        for _ in 0..STOP_AFTER_ERRORS {
            text.extend_from_slice(b",x\n");
        }
        let (_, errors, _) = run(&text);
        assert_eq!(errors.total, STOP_AFTER_ERRORS + 1);
        // Errors the visitor records count too: no row after the cap is visited.
        let mut text = b"id,name\n".to_vec();
        for n in 0..(STOP_AFTER_ERRORS + 5000) {
            text.extend_from_slice(format!("u{n},x\n").as_bytes());
        }
        let mut visited = 0;
        let errors = read_with(&text, |row, errors| {
            visited += 1;
            errors.push(DataError::at("t.csv", row.line, None, "visited"));
        });
        assert_eq!(visited, STOP_AFTER_ERRORS);
        assert_eq!(errors.total, STOP_AFTER_ERRORS + 1);
    }

    #[test]
    fn long_rows_close_batches_early_and_are_all_read_in_order() {
        // Sixty rows of 60 KiB attribute values: batches close by bytes, not by count.
        let mut text = b"id,dept\n".to_vec();
        for n in 0..60 {
            text.extend_from_slice(format!("u{n},{}\n", "x".repeat(60 * 1024)).as_bytes());
        }
        let (rows, errors, _) = run(&text);
        assert!(errors.is_empty(), "{errors}");
        let ids: Vec<&str> = rows.iter().map(|r| r.split(':').nth(1).unwrap()).collect();
        let expected: Vec<String> = (0..60).map(|n| format!("u{n}")).collect();
        assert_eq!(ids, expected);
    }
}
