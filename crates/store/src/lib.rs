//! Rolemine's persistence layer: the only crate that holds SQL.
//!
//! It owns the schema (`migrations/` at the workspace root, embedded here as [`MIGRATOR`]), the
//! connection pool, the PostgreSQL-backed job queue and the embedded default cluster that lets
//! `rolemine serve` run without any database configured.

pub mod clients;
pub mod database;
pub mod embedded;
pub mod error;
pub mod exports;
pub mod import;
pub mod imports;
pub mod jobs;
pub mod listing;
pub mod mining;
pub mod notifications;
pub mod potential_roles;
pub mod provisioning;
pub mod sessions;

pub use database::{connect, migrate, readiness, Readiness, MIGRATOR};
pub use embedded::{EmbeddedError, EmbeddedPostgres};
pub use error::StoreError;
pub use sqlx::postgres::{PgConnectOptions, PgPool};
