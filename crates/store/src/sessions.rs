//! Role-mining sessions.

use chrono::{DateTime, Utc};
use rolemine_filter::{FieldSpec, Kind, Op, SorterSpec};
use sqlx::PgPool;
use uuid::Uuid;

use serde::{Deserialize, Serialize};

use crate::error::StoreError;
use crate::jobs;
use crate::listing::{self, Listing, Page};

/// The job kind that mines a session.
pub const JOB_KIND: &str = "mine-session";

/// Attempts at a mining job before the session is marked `FAILED`.
const MAX_ATTEMPTS: i32 = 3;

/// A session's population, as the client gave it (stored as given).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Scope {
    /// Exactly these identities (external ids).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_ids: Option<Vec<String>>,
    /// A search query over identities.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub criteria: Option<String>,
    /// Attribute chips: values of one chip ORed, chips ANDed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribute_filter_criteria: Option<Vec<Chip>>,
}

/// One attribute chip. The labels are what a console shows for it; only `data` selects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Chip {
    /// The chip's condition.
    pub data: ChipData,
    /// The chip's label (`{"untranslated": "Location: Miami"}`), kept as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<serde_json::Value>,
    /// Its accessible label, kept as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aria_label: Option<serde_json::Value>,
}

/// An attribute chip's condition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChipData {
    /// The identity attribute.
    pub name: String,
    /// How values compare.
    pub operator: ChipOperator,
    /// Accepted (or rejected) values.
    pub values: Vec<String>,
    /// The attribute's label (`{"translateKey": ...}`), kept as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<serde_json::Value>,
}

/// A chip's comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ChipOperator {
    /// The attribute has one of the values.
    Equals,
    /// The attribute has none of the values (or no value).
    NotEquals,
}

/// What a client asks for when creating a session (already validated).
#[derive(Debug, Clone)]
pub struct NewSession {
    /// Saved name.
    pub name: Option<String>,
    /// `SPECIALIZED` or `COMMON`.
    pub role_type: String,
    /// The population.
    pub scope: Scope,
    /// 0-100, or `None` for the prescribed threshold.
    pub prune_threshold: Option<i16>,
    /// Minimum role size, or `None` for the default.
    pub min_num_identities: Option<i32>,
    /// Saved flag.
    pub saved: bool,
    /// Who is told when mining completes.
    pub email_recipient_id: Option<String>,
    /// The creating API client's id.
    pub created_by_id: String,
    /// Its display name.
    pub created_by_name: String,
}

/// The payload of a mining job.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MineJob {
    /// The session.
    pub session_id: Uuid,
    /// The session generation this job mines; a newer one supersedes it.
    pub generation: i32,
}

/// A session as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionRow {
    /// Its id.
    pub id: Uuid,
    /// Saved name.
    pub name: Option<String>,
    /// `SPECIALIZED` or `COMMON`.
    pub r#type: String,
    /// The scope as the client gave it.
    pub scope: serde_json::Value,
    /// `MANUAL` for API-created sessions.
    pub scoping_method: String,
    /// Requested threshold, if any.
    pub prune_threshold: Option<i16>,
    /// Computed threshold.
    pub prescribed_prune_threshold: Option<i16>,
    /// Minimum role size, if set.
    pub min_num_identities: Option<i32>,
    /// Population size once resolved.
    pub identity_count: Option<i32>,
    /// Roles found.
    pub potential_role_count: i32,
    /// Roles stored so far.
    pub potential_roles_ready_count: i32,
    /// Lifecycle state.
    pub state: String,
    /// Why it failed, in state `FAILED`.
    pub failure_message: Option<String>,
    /// Saved flag.
    pub saved: bool,
    /// Who gets the completion email.
    pub email_recipient_id: Option<String>,
    /// Data file path (kept for the contract).
    pub data_file_path: Option<String>,
    /// Creator's client id.
    pub created_by_id: Option<String>,
    /// Creator's display name.
    pub created_by_name: Option<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub modified_at: DateTime<Utc>,
    /// When the lease of the worker mining it ran out, while no worker holds it: the worker
    /// died or hangs, and the job waits for another one.
    pub stalled_since: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "id, name, type, scope, scoping_method, prune_threshold, \
    prescribed_prune_threshold, min_num_identities, identity_count, potential_role_count, \
    potential_roles_ready_count, state, failure_message, saved, email_recipient_id, \
    data_file_path, created_by_id, created_by_name, created_at, modified_at, \
    (SELECT min(j.lease_expires_at) FROM jobs j \
      WHERE j.state = 'RUNNING' AND j.lease_expires_at < now() \
        AND j.kind = 'mine-session' AND j.payload ->> 'sessionId' = role_mining_sessions.id::text) \
      AS stalled_since";

/// `getRoleMiningSessions` filters, as the contract lists them.
pub const LIST_FIELDS: &[FieldSpec] = &[
    FieldSpec {
        name: "saved",
        kind: Kind::Bool,
        ops: &[Op::Eq],
        target: "saved",
    },
    FieldSpec {
        name: "name",
        kind: Kind::Text,
        ops: &[Op::Eq, Op::Sw],
        target: "name",
    },
];

/// `getRoleMiningSessions` sorters, as the contract lists them.
pub const LIST_SORTERS: &[SorterSpec] = &[
    SorterSpec {
        name: "createdBy",
        target: "created_by_name",
    },
    SorterSpec {
        name: "createdDate",
        target: "created_at",
    },
];

/// Records a session and queues its mining job, in one transaction.
pub async fn create(pool: &PgPool, new: &NewSession) -> Result<SessionRow, StoreError> {
    let mut tx = pool.begin().await?;
    let scope = serde_json::to_value(&new.scope)
        .map_err(|err| StoreError::Query(format!("cannot store the scope: {err}")))?;
    let row = sqlx::query_as::<_, SessionRow>(&format!(
        "INSERT INTO role_mining_sessions (id, name, type, scope, prune_threshold,
            min_num_identities, saved, email_recipient_id, created_by_id, created_by_name)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         RETURNING {COLUMNS}"
    ))
    .bind(Uuid::new_v4())
    .bind(&new.name)
    .bind(&new.role_type)
    .bind(scope)
    .bind(new.prune_threshold)
    .bind(new.min_num_identities)
    .bind(new.saved)
    .bind(&new.email_recipient_id)
    .bind(&new.created_by_id)
    .bind(&new.created_by_name)
    .fetch_one(&mut *tx)
    .await?;
    let job = MineJob {
        session_id: row.id,
        generation: 0,
    };
    let payload = serde_json::to_value(job)
        .map_err(|err| StoreError::Query(format!("cannot encode the job: {err}")))?;
    jobs::enqueue(&mut tx, JOB_KIND, &payload, MAX_ATTEMPTS).await?;
    tx.commit().await?;
    Ok(row)
}

/// Changes to a session (`None`: unchanged).
#[derive(Debug, Clone, Default)]
pub struct SessionPatch {
    /// New threshold (`Some(None)`: back to the prescribed one).
    pub prune_threshold: Option<Option<i16>>,
    /// New minimum role size (`Some(None)`: the default).
    pub min_num_identities: Option<Option<i32>>,
    /// New saved flag.
    pub saved: Option<bool>,
    /// New name (`Some(None)`: no name).
    pub name: Option<Option<String>>,
}

impl SessionPatch {
    /// Whether the change needs the session mined again.
    pub fn remines(&self) -> bool {
        self.prune_threshold.is_some() || self.min_num_identities.is_some()
    }
}

/// Applies `patch`. A change of the mining parameters starts a new generation: the session
/// goes to `UPDATED`, its queued or running mining jobs are cancelled (a running one stops at
/// its next lease renewal and writes nothing), and a job for the new generation is queued.
pub async fn patch(
    pool: &PgPool,
    id: Uuid,
    patch: &SessionPatch,
) -> Result<SessionRow, StoreError> {
    let mut tx = pool.begin().await?;
    let exists: Option<i32> =
        sqlx::query_scalar("SELECT generation FROM role_mining_sessions WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    let Some(generation) = exists else {
        return Err(StoreError::NotFound {
            what: "role mining session",
            id: id.to_string(),
        });
    };
    let remine = patch.remines();
    let generation = if remine { generation + 1 } else { generation };
    let row = sqlx::query_as::<_, SessionRow>(&format!(
        "UPDATE role_mining_sessions SET
            prune_threshold = CASE WHEN $2 THEN $3 ELSE prune_threshold END,
            min_num_identities = CASE WHEN $4 THEN $5 ELSE min_num_identities END,
            saved = coalesce($6, saved),
            name = CASE WHEN $7 THEN $8 ELSE name END,
            generation = $9,
            state = CASE WHEN $10 THEN 'UPDATED' ELSE state END,
            failure_message = CASE WHEN $10 THEN NULL ELSE failure_message END,
            potential_role_count = CASE WHEN $10 THEN 0 ELSE potential_role_count END,
            potential_roles_ready_count = CASE WHEN $10 THEN 0 ELSE potential_roles_ready_count END,
            modified_at = now()
          WHERE id = $1
         RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(patch.prune_threshold.is_some())
    .bind(patch.prune_threshold.flatten())
    .bind(patch.min_num_identities.is_some())
    .bind(patch.min_num_identities.flatten())
    .bind(patch.saved)
    .bind(patch.name.is_some())
    .bind(patch.name.clone().flatten())
    .bind(generation)
    .bind(remine)
    .fetch_one(&mut *tx)
    .await?;
    if remine {
        let superseded: Vec<Uuid> = sqlx::query_scalar(
            "SELECT id FROM jobs WHERE kind = $1 AND payload ->> 'sessionId' = $2::text
               AND state IN ('QUEUED', 'RUNNING')",
        )
        .bind(JOB_KIND)
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
        for job in superseded {
            jobs::cancel(&mut *tx, job).await?;
        }
        let payload = serde_json::to_value(MineJob {
            session_id: id,
            generation,
        })
        .map_err(|err| StoreError::Query(format!("cannot encode the job: {err}")))?;
        jobs::enqueue(&mut tx, JOB_KIND, &payload, MAX_ATTEMPTS).await?;
    }
    tx.commit().await?;
    Ok(row)
}

/// The session with this id.
pub async fn get(pool: &PgPool, id: Uuid) -> Result<SessionRow, StoreError> {
    sqlx::query_as::<_, SessionRow>(&format!(
        "SELECT {COLUMNS} FROM role_mining_sessions WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| StoreError::NotFound {
        what: "role mining session",
        id: id.to_string(),
    })
}

/// A page of sessions; newest first unless sorted otherwise.
pub async fn list(pool: &PgPool, listing: &Listing) -> Result<Page<SessionRow>, StoreError> {
    listing::fetch(
        pool,
        |query| {
            query.push(format!(
                "SELECT {COLUMNS} FROM role_mining_sessions WHERE true"
            ));
        },
        LIST_FIELDS,
        listing,
        "created_at DESC, id",
        "id",
    )
    .await
}
