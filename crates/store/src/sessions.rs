//! Role-mining sessions.

use chrono::{DateTime, Utc};
use rolemine_domain::{
    Job, JobKind, MinIdentities, MineJob, MiningMethod, PruneThreshold, RoleType, Scope,
    ScopingMethod, SessionState,
};
use rolemine_filter::{FieldSpec, Kind, Op, SorterSpec};
use sqlx::types::Json;
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

use crate::error::StoreError;
use crate::jobs;
use crate::listing::{self, Listing, Page};

/// What a client asks for when creating a session (already validated).
#[derive(Debug, Clone)]
pub struct NewSession {
    /// Saved name.
    pub name: Option<String>,
    /// What the session mines.
    pub role_type: RoleType,
    /// The population.
    pub scope: Scope,
    /// The threshold asked for, or `None` for the prescribed one.
    pub prune_threshold: Option<PruneThreshold>,
    /// Minimum role size, or `None` for the default.
    pub min_num_identities: Option<MinIdentities>,
    /// How roles are found.
    pub method: MiningMethod,
    /// Saved flag.
    pub saved: bool,
    /// Who is told when mining completes.
    pub email_recipient_id: Option<String>,
    /// The creating API client's id.
    pub created_by_id: String,
    /// Its display name.
    pub created_by_name: String,
}

/// A session as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionRow {
    /// Its id.
    pub id: Uuid,
    /// Saved name.
    pub name: Option<String>,
    /// What the session mines.
    pub r#type: RoleType,
    /// The scope as the client gave it.
    pub scope: Json<Scope>,
    /// `MANUAL` for API-created sessions.
    pub scoping_method: ScopingMethod,
    /// Requested threshold, if any.
    pub prune_threshold: Option<PruneThreshold>,
    /// Computed threshold.
    pub prescribed_prune_threshold: Option<PruneThreshold>,
    /// Minimum role size, if set.
    pub min_num_identities: Option<MinIdentities>,
    /// How roles are found.
    pub method: MiningMethod,
    /// Population size once resolved.
    pub identity_count: Option<i32>,
    /// Roles found.
    pub potential_role_count: i32,
    /// Roles stored so far.
    pub potential_roles_ready_count: i32,
    /// Lifecycle state.
    pub state: SessionState,
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
    /// Percent of the population's assignments the published roles explain.
    pub assignments_explained_percent: Option<f64>,
    /// (member, entitlement) pairs the published roles grant that the member does not hold.
    pub over_grants: Option<i64>,
    /// Percent of the population in some published role.
    pub identities_in_roles_percent: Option<f64>,
}

/// The row columns for listings (dynamic SQL); [`fetch`] spells the same for the macros.
const COLUMNS: &str = "id, name, type, scope, scoping_method, prune_threshold, \
    prescribed_prune_threshold, min_num_identities, method, identity_count, potential_role_count, \
    potential_roles_ready_count, state, failure_message, saved, email_recipient_id, \
    data_file_path, created_by_id, created_by_name, created_at, modified_at, \
    session_stalled_since(id) AS stalled_since, assignments_explained_percent, over_grants, \
    identities_in_roles_percent";

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
    let id = Uuid::new_v4();
    sqlx::query!(
        "INSERT INTO role_mining_sessions (id, name, type, scope, prune_threshold,
            min_num_identities, saved, email_recipient_id, created_by_id, created_by_name, method)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        id,
        new.name,
        new.role_type as _,
        Json(&new.scope) as _,
        new.prune_threshold as _,
        new.min_num_identities as _,
        new.saved,
        new.email_recipient_id,
        new.created_by_id,
        new.created_by_name,
        new.method as _,
    )
    .execute(&mut *tx)
    .await?;
    let job = Job::Mine(MineJob {
        session_id: id,
        generation: 0,
    });
    jobs::enqueue(&mut tx, &job).await?;
    let row = fetch(&mut *tx, id).await?;
    tx.commit().await?;
    Ok(row)
}

/// Changes to a session (`None`: unchanged).
#[derive(Debug, Clone, Default)]
pub struct SessionPatch {
    /// New threshold (`Some(None)`: back to the prescribed one).
    pub prune_threshold: Option<Option<PruneThreshold>>,
    /// New minimum role size (`Some(None)`: the default).
    pub min_num_identities: Option<Option<MinIdentities>>,
    /// New method.
    pub method: Option<MiningMethod>,
    /// New saved flag.
    pub saved: Option<bool>,
    /// New name (`Some(None)`: no name).
    pub name: Option<Option<String>>,
}

impl SessionPatch {
    /// Whether the change needs the session mined again.
    pub fn remines(&self) -> bool {
        self.prune_threshold.is_some() || self.min_num_identities.is_some() || self.method.is_some()
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
    let generation = sqlx::query_scalar!(
        "SELECT generation FROM role_mining_sessions WHERE id = $1 FOR UPDATE",
        id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| not_found(id))?;
    let remine = patch.remines();
    let generation = if remine { generation + 1 } else { generation };
    sqlx::query!(
        "UPDATE role_mining_sessions SET
            prune_threshold = CASE WHEN $2 THEN $3 ELSE prune_threshold END,
            min_num_identities = CASE WHEN $4 THEN $5 ELSE min_num_identities END,
            saved = coalesce($6, saved),
            name = CASE WHEN $7 THEN $8 ELSE name END,
            generation = $9,
            state = CASE WHEN $10 THEN $11 ELSE state END,
            failure_message = CASE WHEN $10 THEN NULL ELSE failure_message END,
            potential_role_count = CASE WHEN $10 THEN 0 ELSE potential_role_count END,
            potential_roles_ready_count = CASE WHEN $10 THEN 0 ELSE potential_roles_ready_count END,
            method = coalesce($12, method),
            modified_at = now()
          WHERE id = $1",
        id,
        patch.prune_threshold.is_some(),
        patch.prune_threshold.flatten() as _,
        patch.min_num_identities.is_some(),
        patch.min_num_identities.flatten() as _,
        patch.saved,
        patch.name.is_some(),
        patch.name.clone().flatten(),
        generation,
        remine,
        SessionState::Updated as _,
        patch.method as _,
    )
    .execute(&mut *tx)
    .await?;
    if remine {
        jobs::cancel_for(&mut *tx, JobKind::Mine, id).await?;
        let job = Job::Mine(MineJob {
            session_id: id,
            generation,
        });
        jobs::enqueue(&mut tx, &job).await?;
    }
    let row = fetch(&mut *tx, id).await?;
    tx.commit().await?;
    Ok(row)
}

fn not_found(id: Uuid) -> StoreError {
    StoreError::NotFound {
        what: "role mining session",
        id: id.to_string(),
    }
}

/// The session with this id.
pub async fn get(pool: &PgPool, id: Uuid) -> Result<SessionRow, StoreError> {
    fetch(pool, id).await
}

/// The session's read version: it moves whenever anything its potential-role pages show may
/// have changed (migration 0012), so a page built at one version can be served again while the
/// version holds.
pub async fn read_version(pool: &PgPool, id: Uuid) -> Result<i64, StoreError> {
    sqlx::query_scalar!(
        "SELECT read_version FROM role_mining_sessions WHERE id = $1",
        id
    )
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| not_found(id))
}

async fn fetch<'e>(executor: impl PgExecutor<'e>, id: Uuid) -> Result<SessionRow, StoreError> {
    sqlx::query_as!(
        SessionRow,
        r#"SELECT id, name, type AS "type: RoleType", scope AS "scope: Json<Scope>",
                  scoping_method AS "scoping_method: ScopingMethod",
                  prune_threshold AS "prune_threshold: PruneThreshold",
                  prescribed_prune_threshold AS "prescribed_prune_threshold: PruneThreshold",
                  min_num_identities AS "min_num_identities: MinIdentities",
                  method AS "method: MiningMethod", identity_count,
                  potential_role_count, potential_roles_ready_count,
                  state AS "state: SessionState", failure_message, saved, email_recipient_id,
                  data_file_path, created_by_id, created_by_name, created_at, modified_at,
                  session_stalled_since(id) AS stalled_since,
                  assignments_explained_percent, over_grants, identities_in_roles_percent
             FROM role_mining_sessions WHERE id = $1"#,
        id,
    )
    .fetch_optional(executor)
    .await?
    .ok_or_else(|| not_found(id))
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
