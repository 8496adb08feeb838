//! Rolemine's persistence layer: the only crate that holds SQL.
//!
//! It owns the schema (`migrations/` at the workspace root, embedded here as [`MIGRATOR`]), the
//! connection pool and the PostgreSQL-backed job queue. (The embedded default cluster, a process
//! supervisor, is the `rolemine-embedded` crate.)

pub mod clients;
pub mod database;
pub mod error;
pub mod exports;
pub mod import;
pub mod imports;
pub mod insights;
pub mod jobs;
pub mod listing;
pub mod mining;
pub mod notifications;
pub mod potential_roles;
pub mod provisioning;
pub mod sessions;

pub use database::{connect, migrate, readiness, Readiness, MIGRATOR};
pub use error::{Refusal, StoreError, Transient};
pub use sqlx::postgres::{PgConnectOptions, PgPool};
