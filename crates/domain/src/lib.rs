//! Rolemine's shared vocabulary, from the HTTP edge to the worker.
//!
//! Every lifecycle and kind is an enum here ([`lifecycle`]), with its one text form: the same
//! string in JSON, in the database and in messages. Values with a range ([`values`]) are
//! checked once, where they enter (the HTTP edge, the CLI), so code behind it never re-validates
//! or truncates. Jobs ([`job`]) are one typed enum, (de)serialised here and nowhere else.
//!
//! Mappings to other layers sit behind features so the engine can use the vocabulary without
//! a database driver: `sqlx` (PostgreSQL text/integer columns) and `openapi` (utoipa schemas).

#[macro_use]
mod text_enum;
pub mod job;
pub mod lifecycle;
pub mod scope;
pub mod values;

pub use job::{ExportJob, ImportJob, Job, JobDecodeError, JobKind, MineJob, ProvisionJob};
pub use lifecycle::{
    ActivitySourceState, AssignmentState, DeliveryChannel, ExportState, IdentityGroupStatus,
    ImportState, JobState, MiningMethod, ProvisionState, RoleOrigin, RoleType, ScopingMethod,
    SessionState,
};
pub use scope::{Chip, ChipData, ChipOperator, Scope};
pub use values::{MinIdentities, OutOfRange, PruneThreshold};

/// Text that names no variant of a lifecycle or kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a {what}; expected one of {expected}")]
pub struct UnknownVariant {
    /// Which vocabulary was asked for.
    pub what: &'static str,
    /// The text given.
    pub text: String,
    /// The accepted texts, comma separated.
    pub expected: String,
}
