//! Provisioning a potential role into a role: the request (state `PENDING` and a queued job),
//! the job's one transaction that creates the role, and reading provisioned roles back.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rolemine_domain::{AssignmentState, Job, ProvisionJob, ProvisionState, RoleOrigin};
use sqlx::PgPool;
use uuid::Uuid;

use crate::error::{Refusal, StoreError};
use crate::listing::{self, Listing, Page};

/// Moves the potential role to `PENDING` and queues its provisioning, in one transaction, and
/// returns the role as that transaction left it (`PENDING`, whatever a worker has done since). A
/// role already `PENDING` or `COMPLETE`, or one the job's filter leaves nothing to grant, is a
/// [`Refusal`]; a `FAILED` one may be provisioned again.
pub async fn request(
    pool: &PgPool,
    job: &ProvisionJob,
) -> Result<crate::potential_roles::RoleRow, StoreError> {
    let mut tx = pool.begin().await?;
    let current = sqlx::query!(
        r#"SELECT provision_state AS "state: ProvisionState", role_id
             FROM potential_roles WHERE id = $1 FOR UPDATE"#,
        job.potential_role_id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| not_found(job.potential_role_id))?;
    match current.state {
        ProvisionState::Pending => {
            return Err(Refusal::ProvisioningUnderway(job.potential_role_id).into())
        }
        ProvisionState::Complete => {
            return Err(Refusal::AlreadyProvisioned {
                role: job.potential_role_id,
                provisioned: current.role_id,
            }
            .into())
        }
        ProvisionState::Potential | ProvisionState::Failed => {}
    }
    ensure_something_to_grant(&mut tx, job).await?;
    sqlx::query!(
        "UPDATE potential_roles SET provision_state = $2, provision_failure = NULL,
                modified_at = now()
          WHERE id = $1",
        job.potential_role_id,
        ProvisionState::Pending as _,
    )
    .execute(&mut *tx)
    .await?;
    crate::jobs::enqueue(&mut tx, &Job::Provision(job.clone())).await?;
    // Read before the commit: a worker may provision a small role before this call returns.
    let pending = crate::potential_roles::get(&mut *tx, None, job.potential_role_id).await?;
    tx.commit().await?;
    Ok(pending)
}

/// Refuses a job whose filter, with the role's exclusions, leaves no entitlement to grant.
async fn ensure_something_to_grant(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    job: &ProvisionJob,
) -> Result<(), StoreError> {
    let grants_some = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT FROM exported_entitlements($1, $2, $3)) AS "grants_some!""#,
        job.potential_role_id,
        f64::from(job.min_entitlement_popularity),
        job.include_common_access,
    )
    .fetch_one(&mut **tx)
    .await?;
    if grants_some {
        Ok(())
    } else {
        Err(Refusal::NothingToGrant {
            role: job.potential_role_id,
            min_entitlement_popularity: job.min_entitlement_popularity,
            include_common_access: job.include_common_access,
        }
        .into())
    }
}

fn not_found(potential_role: Uuid) -> StoreError {
    StoreError::NotFound {
        what: "potential role",
        id: potential_role.to_string(),
    }
}

/// Creates the role `job` asks for, all in one transaction: the role, its entitlements (direct,
/// or one access profile per source), an assignment request per member when asked, and the
/// potential role `COMPLETE` with the new role's id. Returns that id, or `None` when the
/// potential role is not `PENDING` (done already). An unknown owner is a
/// [`Refusal`], with nothing written.
///
/// The role grants what the export with the same filter holds (the `exported_entitlements`
/// function of the schema).
pub async fn provision(pool: &PgPool, job: &ProvisionJob) -> Result<Option<Uuid>, StoreError> {
    let mut tx = pool.begin().await?;
    let potential = sqlx::query!(
        r#"SELECT name, description, provision_state AS "state: ProvisionState"
             FROM potential_roles WHERE id = $1 FOR UPDATE"#,
        job.potential_role_id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| not_found(job.potential_role_id))?;
    if potential.state != ProvisionState::Pending {
        return Ok(None);
    }
    // Entitlements may have been excluded since the request.
    ensure_something_to_grant(&mut tx, job).await?;
    if let Some(owner) = &job.owner_id {
        let known = sqlx::query_scalar!(
            r#"SELECT EXISTS (SELECT FROM identities WHERE ext_id = $1) AS "known!""#,
            owner
        )
        .fetch_one(&mut *tx)
        .await?;
        if !known {
            return Err(Refusal::UnknownOwner(owner.clone()).into());
        }
    }
    let membership_criteria = if job.membership_from_rule {
        sqlx::query_scalar!(
            "SELECT criteria FROM potential_role_rules WHERE potential_role_id = $1 AND rank = 1",
            job.potential_role_id
        )
        .fetch_optional(&mut *tx)
        .await?
    } else {
        None
    };
    let id = Uuid::new_v4();
    let role_name = job.role_name.clone().unwrap_or(potential.name);
    sqlx::query!(
        "INSERT INTO roles (id, ext_id, name, description, origin, owner_id, potential_role_id,
                            membership_criteria)
         VALUES ($1, $7, $2, $3, $4, $5, $6, $8)",
        id,
        role_name,
        job.role_description.clone().or(potential.description),
        RoleOrigin::Provisioned as _,
        job.owner_id,
        job.potential_role_id,
        id.to_string(),
        membership_criteria,
    )
    .execute(&mut *tx)
    .await?;
    let floor = f64::from(job.min_entitlement_popularity);
    let common = job.include_common_access;
    if job.directly_assigned_entitlements {
        sqlx::query!(
            "INSERT INTO role_entitlements (role_id, entitlement_id)
             SELECT $1, x.entitlement_id FROM exported_entitlements($2, $3, $4) x",
            id,
            job.potential_role_id,
            floor,
            common,
        )
        .execute(&mut *tx)
        .await?;
    } else {
        sqlx::query!(
            "INSERT INTO access_profiles (id, role_id, source_id, name, description)
             SELECT gen_random_uuid(), $1, s.id, $5 || ' - ' || s.name,
                    'Entitlements of ' || s.name || ' for the role ' || $5
               FROM sources s
              WHERE s.id IN (SELECT e.source_id FROM entitlements e
                               JOIN exported_entitlements($2, $3, $4) x
                                 ON x.entitlement_id = e.id)",
            id,
            job.potential_role_id,
            floor,
            common,
            role_name,
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!(
            "INSERT INTO access_profile_entitlements (access_profile_id, entitlement_id)
             SELECT ap.id, e.id FROM entitlements e
               JOIN access_profiles ap ON ap.role_id = $1 AND ap.source_id = e.source_id
               JOIN exported_entitlements($2, $3, $4) x ON x.entitlement_id = e.id",
            id,
            job.potential_role_id,
            floor,
            common,
        )
        .execute(&mut *tx)
        .await?;
    }
    if job.include_identities {
        sqlx::query!(
            "INSERT INTO role_assignment_requests (role_id, identity_id, state)
             SELECT $1, identity_id, $3 FROM potential_role_members WHERE potential_role_id = $2",
            id,
            job.potential_role_id,
            AssignmentState::Requested as _,
        )
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query!(
        "UPDATE potential_roles SET provision_state = $3, role_id = $2,
                provision_failure = NULL, modified_at = now()
          WHERE id = $1",
        job.potential_role_id,
        id,
        ProvisionState::Complete as _,
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Some(id))
}

/// Leaves the potential role `FAILED` with `reason` (unless it completed meanwhile).
pub async fn fail(pool: &PgPool, potential_role: Uuid, reason: &str) -> Result<(), StoreError> {
    sqlx::query!(
        "UPDATE potential_roles SET provision_state = $3, provision_failure = $2,
                modified_at = now()
          WHERE id = $1 AND provision_state <> $4",
        potential_role,
        reason,
        ProvisionState::Failed as _,
        ProvisionState::Complete as _,
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// A role (imported or provisioned).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RoleRow {
    /// Its id.
    pub id: Uuid,
    /// Its external id (roles.csv's `role_id`, or the id for provisioned roles).
    pub ext_id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Where it came from.
    pub origin: RoleOrigin,
    /// The owner's identity id.
    pub owner_id: Option<String>,
    /// The potential role it was provisioned from.
    pub potential_role_id: Option<Uuid>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// Entitlements granted directly.
    pub entitlement_count: i64,
    /// Access profiles.
    pub access_profile_count: i64,
    /// Assignment requests.
    pub assignment_request_count: i64,
    /// Who should hold it, as identity search criteria.
    pub membership_criteria: Option<String>,
}

const ROLE_SELECT: &str = "SELECT r.id, r.ext_id, r.name, r.description, r.origin, r.owner_id,
        r.potential_role_id, r.created_at,
        (SELECT count(*) FROM role_entitlements re WHERE re.role_id = r.id) AS entitlement_count,
        (SELECT count(*) FROM access_profiles ap WHERE ap.role_id = r.id) AS access_profile_count,
        (SELECT count(*) FROM role_assignment_requests q WHERE q.role_id = r.id)
          AS assignment_request_count, r.membership_criteria
   FROM roles r";

/// A page of roles; newest first.
pub async fn list(pool: &PgPool, listing: &Listing) -> Result<Page<RoleRow>, StoreError> {
    listing::fetch(
        pool,
        |query| {
            query.push(ROLE_SELECT);
            query.push(" WHERE true");
        },
        &[],
        listing,
        "r.created_at DESC, r.id",
        "r.id",
    )
    .await
}

/// An entitlement a role grants: external id, name, source id, source name.
#[derive(Debug, Clone)]
pub struct GrantedEntitlement {
    /// Entitlement id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Its source's id.
    pub source_id: String,
    /// Its source's name.
    pub source_name: String,
}

/// An access profile of a role, with its entitlements.
#[derive(Debug, Clone)]
pub struct AccessProfile {
    /// Its id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Its source's id.
    pub source_id: String,
    /// Its entitlements.
    pub entitlements: Vec<GrantedEntitlement>,
}

/// A role with everything it grants and the assignment requests recorded for it.
#[derive(Debug, Clone)]
pub struct RoleDetail {
    /// The role.
    pub role: RoleRow,
    /// Entitlements granted directly.
    pub entitlements: Vec<GrantedEntitlement>,
    /// Access profiles.
    pub access_profiles: Vec<AccessProfile>,
    /// Identity ids with an assignment request, and the requests' state.
    pub assignment_requests: Vec<(String, AssignmentState)>,
}

/// The role `id` in full.
pub async fn get(pool: &PgPool, id: Uuid) -> Result<RoleDetail, StoreError> {
    let role = sqlx::query_as!(
        RoleRow,
        r#"SELECT r.id, r.ext_id, r.name, r.description, r.origin AS "origin: RoleOrigin",
                  r.owner_id, r.potential_role_id, r.created_at,
                  (SELECT count(*) FROM role_entitlements re WHERE re.role_id = r.id)
                    AS "entitlement_count!",
                  (SELECT count(*) FROM access_profiles ap WHERE ap.role_id = r.id)
                    AS "access_profile_count!",
                  (SELECT count(*) FROM role_assignment_requests q WHERE q.role_id = r.id)
                    AS "assignment_request_count!", r.membership_criteria
             FROM roles r WHERE r.id = $1"#,
        id
    )
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| StoreError::NotFound {
        what: "role",
        id: id.to_string(),
    })?;
    // Direct grants (no profile) and every profile's, in one query.
    let granted = sqlx::query!(
        r#"SELECT g.profile, e.ext_id AS "id!", e.name AS "name!", s.ext_id AS "source_id!",
                  s.name AS "source_name!"
             FROM (SELECT NULL::uuid AS profile, entitlement_id
                     FROM role_entitlements WHERE role_id = $1
                   UNION ALL
                   SELECT ape.access_profile_id, ape.entitlement_id
                     FROM access_profile_entitlements ape
                     JOIN access_profiles ap ON ap.id = ape.access_profile_id
                    WHERE ap.role_id = $1) g
             JOIN entitlements e ON e.id = g.entitlement_id
             JOIN sources s ON s.id = e.source_id
            ORDER BY e.ext_id"#,
        id
    )
    .fetch_all(pool)
    .await?;
    let profiles = sqlx::query!(
        "SELECT ap.id, ap.name, ap.description, s.ext_id AS source_id FROM access_profiles ap
           JOIN sources s ON s.id = ap.source_id WHERE ap.role_id = $1 ORDER BY ap.name",
        id
    )
    .fetch_all(pool)
    .await?;
    let mut by_profile: HashMap<Option<Uuid>, Vec<GrantedEntitlement>> = HashMap::new();
    for row in granted {
        by_profile
            .entry(row.profile)
            .or_default()
            .push(GrantedEntitlement {
                id: row.id,
                name: row.name,
                source_id: row.source_id,
                source_name: row.source_name,
            });
    }
    let entitlements = by_profile.remove(&None).unwrap_or_default();
    let access_profiles = profiles
        .into_iter()
        .map(|profile| AccessProfile {
            entitlements: by_profile.remove(&Some(profile.id)).unwrap_or_default(),
            id: profile.id,
            name: profile.name,
            description: profile.description,
            source_id: profile.source_id,
        })
        .collect();
    let assignment_requests = sqlx::query!(
        r#"SELECT i.ext_id, q.state AS "state: AssignmentState" FROM role_assignment_requests q
             JOIN identities i ON i.id = q.identity_id WHERE q.role_id = $1 ORDER BY i.ext_id"#,
        id
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|request| (request.ext_id, request.state))
    .collect();
    Ok(RoleDetail {
        role,
        entitlements,
        access_profiles,
        assignment_requests,
    })
}
