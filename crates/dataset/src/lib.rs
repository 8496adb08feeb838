//! The access-data file format of `contract/access-data-format.md`.
//!
//! - [`source`]: an import given as a directory or a `.zip`.
//! - [`table`]: one CSV file read against its required and optional columns, row by row, with
//!   errors that name file, line and column.
//! - [`reader`]: a whole import validated file by file, its records streamed to a sink.
//! - [`bulk`]: accepted records encoded for a bulk load into the database (CSV chunks per
//!   staging table, compact assignments and usage).
//! - [`load`]: a whole import validated and loaded into memory as an engine [`AccessMatrix`]
//!   with ids, names, attributes, usage and existing roles (for batch mining).
//! - [`planted`]: a generator of synthetic access data with known (planted) roles.
//! - [`output`]: the batch mining output zip.
//! - [`role_export`]: a potential role's export zip, written from row streams.
//!
//! [`AccessMatrix`]: rolemine_engine::AccessMatrix

pub mod bulk;
pub mod error;
pub mod insights_export;
pub mod load;
pub mod output;
pub mod planted;
pub mod reader;
pub mod role_export;
pub mod source;
pub mod table;

pub use error::{DataError, DataErrors};
pub use load::AccessData;
pub use source::DataSource;
