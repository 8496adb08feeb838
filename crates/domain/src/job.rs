//! Jobs: one typed enum, one struct per kind, (de)serialised here and nowhere else.
//!
//! The queue stores a job as its [`JobKind`] (a column workers claim by) and its payload (JSON
//! of the kind's struct). [`Job::decode`] is the one way back.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

text_enum! {
    /// What a job does; the queue's `kind` column.
    pub enum JobKind as "JobKind" {
        /// Mine a session ([`MineJob`]).
        Mine = "mine-session",
        /// Load an uploaded access-data zip ([`ImportJob`]).
        Import = "import-access-data",
        /// Write a potential role's export ([`ExportJob`]).
        Export = "export-potential-role",
        /// Turn a potential role into a role ([`ProvisionJob`]).
        Provision = "provision-potential-role",
    }
}

/// Mine one generation of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MineJob {
    /// The session.
    pub session_id: Uuid,
    /// The session generation this job mines; a newer one supersedes it.
    pub generation: i32,
}

/// Load one uploaded import.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImportJob {
    /// The import.
    pub import_id: Uuid,
}

/// Write one export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExportJob {
    /// The export.
    pub export_id: Uuid,
}

/// Provision one potential role: the request, checked, plus its entitlement filter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProvisionJob {
    /// The potential role.
    pub potential_role_id: Uuid,
    /// The new role's name (default: the potential role's).
    pub role_name: Option<String>,
    /// Its description (default: the potential role's).
    pub role_description: Option<String>,
    /// The owner's identity id.
    pub owner_id: Option<String>,
    /// Record an assignment request for every member.
    pub include_identities: bool,
    /// Grant the entitlements directly instead of through one access profile per source.
    pub directly_assigned_entitlements: bool,
    /// Entitlements held by fewer than this percent of the members are left out.
    pub min_entitlement_popularity: i32,
    /// Keep the members' common-access entitlements.
    pub include_common_access: bool,
    /// Give the role its potential role's best attribute rule as membership criteria (jobs
    /// stored before this field existed have none).
    #[serde(default)]
    pub membership_from_rule: bool,
}

/// Any job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Job {
    /// See [`MineJob`].
    Mine(MineJob),
    /// See [`ImportJob`].
    Import(ImportJob),
    /// See [`ExportJob`].
    Export(ExportJob),
    /// See [`ProvisionJob`].
    Provision(ProvisionJob),
}

/// A stored payload that does not fit its kind.
#[derive(Debug, thiserror::Error)]
#[error("the {kind} job's payload is unreadable: {source}")]
pub struct JobDecodeError {
    /// The job's kind.
    pub kind: JobKind,
    /// Why it does not parse.
    pub source: serde_json::Error,
}

impl Job {
    /// The queue column it is claimed by.
    pub fn kind(&self) -> JobKind {
        match self {
            Self::Mine(_) => JobKind::Mine,
            Self::Import(_) => JobKind::Import,
            Self::Export(_) => JobKind::Export,
            Self::Provision(_) => JobKind::Provision,
        }
    }

    /// The object the job works on (a session, import, export or potential role): what a
    /// reader asks "is anything running on this?" about.
    pub fn subject(&self) -> Uuid {
        match self {
            Self::Mine(job) => job.session_id,
            Self::Import(job) => job.import_id,
            Self::Export(job) => job.export_id,
            Self::Provision(job) => job.potential_role_id,
        }
    }

    /// Attempts before the job fails for good: every kind may meet a transient fault a few
    /// times (a restart, a lost connection).
    pub fn max_attempts(&self) -> i32 {
        3
    }

    /// The payload as stored (JSON of the kind's struct).
    pub fn payload(&self) -> String {
        let encoded = match self {
            Self::Mine(job) => serde_json::to_string(job),
            Self::Import(job) => serde_json::to_string(job),
            Self::Export(job) => serde_json::to_string(job),
            Self::Provision(job) => serde_json::to_string(job),
        };
        // Plain structs of strings, numbers and ids always serialise.
        encoded.unwrap_or_default()
    }

    /// Reads a stored job back.
    pub fn decode(kind: JobKind, payload: &str) -> Result<Self, JobDecodeError> {
        let job = match kind {
            JobKind::Mine => serde_json::from_str(payload).map(Self::Mine),
            JobKind::Import => serde_json::from_str(payload).map(Self::Import),
            JobKind::Export => serde_json::from_str(payload).map(Self::Export),
            JobKind::Provision => serde_json::from_str(payload).map(Self::Provision),
        };
        job.map_err(|source| JobDecodeError { kind, source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_survives_its_stored_form() {
        let jobs = [
            Job::Mine(MineJob {
                session_id: Uuid::new_v4(),
                generation: 3,
            }),
            Job::Import(ImportJob {
                import_id: Uuid::new_v4(),
            }),
            Job::Provision(ProvisionJob {
                potential_role_id: Uuid::new_v4(),
                role_name: Some("Finance".into()),
                role_description: None,
                owner_id: None,
                include_identities: true,
                directly_assigned_entitlements: false,
                min_entitlement_popularity: 10,
                include_common_access: true,
                membership_from_rule: true,
            }),
        ];
        for job in jobs {
            let back = Job::decode(job.kind(), &job.payload()).ok();
            assert_eq!(back, Some(job));
        }
    }

    #[test]
    fn a_payload_of_another_kind_is_refused() {
        let import = Job::Import(ImportJob {
            import_id: Uuid::new_v4(),
        });
        let err = Job::decode(JobKind::Export, &import.payload()).err();
        assert!(err.is_some_and(|e| e
            .to_string()
            .starts_with("the export-potential-role job's payload is unreadable")));
    }
}
