//! Errors in access-data files, each pinned to file, line and column.

use std::fmt;

/// At most this many errors are kept; the total is still counted.
pub const MAX_LISTED: usize = 100;

/// One problem in one place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataError {
    /// The file (`assignments.csv`), or the import itself for whole-input problems.
    pub file: String,
    /// 1-based line, when the problem is on a line.
    pub line: Option<u64>,
    /// The column, when the problem is in one.
    pub column: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl DataError {
    /// A problem with a whole file.
    pub fn file(file: &str, message: impl Into<String>) -> Self {
        Self {
            file: file.to_owned(),
            line: None,
            column: None,
            message: message.into(),
        }
    }

    /// A problem at a line (and optionally a column) of a file.
    pub fn at(file: &str, line: u64, column: Option<&str>, message: impl Into<String>) -> Self {
        Self {
            file: file.to_owned(),
            line: Some(line),
            column: column.map(str::to_owned),
            message: message.into(),
        }
    }
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ", line {line}")?;
        }
        if let Some(column) = &self.column {
            write!(f, ", column {column}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Every problem found in an input, up to [`MAX_LISTED`], with the total.
#[derive(Debug, Clone, Default, PartialEq, Eq, thiserror::Error)]
pub struct DataErrors {
    /// The first [`MAX_LISTED`] errors.
    pub errors: Vec<DataError>,
    /// How many there were in all.
    pub total: usize,
}

impl DataErrors {
    /// Records one more error.
    pub fn push(&mut self, error: DataError) {
        self.total += 1;
        if self.errors.len() < MAX_LISTED {
            self.errors.push(error);
        }
    }

    /// Records the error that ends reading; it is listed even when the list is full, so the
    /// reader sees why the count stops there.
    pub fn stop(&mut self, error: DataError) {
        self.total += 1;
        self.errors.push(error);
    }

    /// No errors so far.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// `Err(self)` if anything was recorded.
    pub fn into_result(self) -> Result<(), DataErrors> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(self)
        }
    }
}

impl From<DataError> for DataErrors {
    fn from(error: DataError) -> Self {
        let mut errors = DataErrors::default();
        errors.push(error);
        errors
    }
}

impl fmt::Display for DataErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = self.errors.len();
        write!(
            f,
            "{} error{} in the input",
            self.total,
            if self.total == 1 { "" } else { "s" }
        )?;
        if shown < self.total {
            write!(f, " (first {shown} listed)")?;
        }
        for error in &self.errors {
            write!(f, "\n  {error}")?;
        }
        Ok(())
    }
}
