//! The query languages clients write: the filter and sorter languages of the standard
//! collection parameters, and the identity search of a session's `scope.criteria` ([`Search`]).
//!
//! `filters=name sw "RM" and not (saved eq true)` is parsed into a [`Filter`] tree
//! ([`parse`]), then checked against the fields an endpoint allows and the operators each field
//! supports ([`Filter::check`]), with values coerced to the field's type. `sorters=-createdDate,name`
//! is parsed and checked by [`parse_sorters`]. Nothing here knows SQL: a [`FieldSpec`] carries an
//! opaque `target` (the store puts a column expression there) so the consumer can translate the
//! checked tree.

mod ast;
mod check;
mod error;
mod grammar;
mod limits;
mod parse;
mod search;
mod sorters;

pub use ast::{Filter, Op, Value};
pub use check::{FieldSpec, Kind};
pub use error::FilterError;
pub use limits::{MAX_DEPTH, MAX_LENGTH, MAX_TERMS, MAX_VALUES};
pub use parse::parse;
pub use search::{like_pattern, parse_search, Search};
pub use sorters::{parse_sorters, Sort, SorterSpec};

#[cfg(test)]
mod tests;
