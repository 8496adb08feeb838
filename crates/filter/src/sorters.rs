//! `sorters=name,-createdDate`.

use crate::error::FilterError;

/// A field an endpoint lets clients sort by.
#[derive(Debug, Clone, Copy)]
pub struct SorterSpec {
    /// The name clients use.
    pub name: &'static str,
    /// What the consumer translates it to (for the store: a column expression).
    pub target: &'static str,
}

/// One checked sort key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sort {
    /// The field's name.
    pub name: &'static str,
    /// The field's target.
    pub target: &'static str,
    /// `-` prefix: largest first.
    pub descending: bool,
}

/// Parses a comma-separated sorter list against the fields `allowed`.
pub fn parse_sorters(text: &str, allowed: &[SorterSpec]) -> Result<Vec<Sort>, FilterError> {
    let mut sorts: Vec<Sort> = Vec::new();
    for (position, item) in text.split(',').enumerate() {
        let item = item.trim();
        let (descending, name) = match item.strip_prefix('-') {
            Some(name) => (true, name.trim_start()),
            None => (false, item),
        };
        if name.is_empty() {
            return Err(FilterError::sorters(format!(
                "sort field {} is empty (write `name` or `-name`, separated by commas)",
                position + 1
            )));
        }
        let Some(spec) = allowed.iter().find(|spec| spec.name == name) else {
            let names: Vec<&str> = allowed.iter().map(|spec| spec.name).collect();
            return Err(FilterError::sorters(if names.is_empty() {
                format!("`{name}` cannot be sorted on: this endpoint takes no sorters")
            } else {
                format!(
                    "`{name}` cannot be sorted on here; sortable fields: {}",
                    names.join(", ")
                )
            }));
        };
        if sorts.iter().any(|sort| sort.name == spec.name) {
            return Err(FilterError::sorters(format!("`{name}` is listed twice")));
        }
        sorts.push(Sort {
            name: spec.name,
            target: spec.target,
            descending,
        });
    }
    Ok(sorts)
}
