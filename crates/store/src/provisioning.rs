//! Provisioning a potential role into a role: the request (state `PENDING` and a queued job),
//! the job's one transaction that creates the role, and reading provisioned roles back.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

use crate::error::StoreError;
use crate::exports::{filtered_entitlements, ExportFilter};
use crate::listing::{self, Listing, Page};

/// The job kind that provisions a potential role.
pub const JOB_KIND: &str = "provision-potential-role";

/// Attempts at a provisioning job before the role is `FAILED`.
const MAX_ATTEMPTS: i32 = 3;

/// What a provisioning job creates (the request, checked, plus its entitlement filter).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
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
}

impl ProvisionJob {
    fn filter(&self) -> ExportFilter {
        ExportFilter {
            min_entitlement_popularity: self.min_entitlement_popularity,
            include_common_access: self.include_common_access,
        }
    }
}

/// Moves the potential role to `PENDING` and queues its provisioning, in one transaction. A
/// role already `PENDING` or `COMPLETE` is a [`StoreError::Invalid`]; a `FAILED` one may be
/// provisioned again.
pub async fn request(pool: &PgPool, job: &ProvisionJob) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    let state: Option<(String, Option<Uuid>)> = sqlx::query_as(
        "SELECT provision_state, role_id FROM potential_roles WHERE id = $1 FOR UPDATE",
    )
    .bind(job.potential_role_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((state, role_id)) = state else {
        return Err(StoreError::NotFound {
            what: "potential role",
            id: job.potential_role_id.to_string(),
        });
    };
    match state.as_str() {
        "PENDING" => {
            return Err(StoreError::Invalid(format!(
                "potential role {} is already being provisioned",
                job.potential_role_id
            )))
        }
        "COMPLETE" => {
            return Err(StoreError::Invalid(format!(
                "potential role {} is already provisioned as role {}",
                job.potential_role_id,
                role_id.map(|id| id.to_string()).unwrap_or_default()
            )))
        }
        _ => {}
    }
    sqlx::query(
        "UPDATE potential_roles SET provision_state = 'PENDING', provision_failure = NULL,
                modified_at = now()
          WHERE id = $1",
    )
    .bind(job.potential_role_id)
    .execute(&mut *tx)
    .await?;
    let payload = serde_json::to_value(job)
        .map_err(|err| StoreError::Query(format!("cannot encode the job: {err}")))?;
    crate::jobs::enqueue(&mut tx, JOB_KIND, &payload, MAX_ATTEMPTS).await?;
    tx.commit().await?;
    Ok(())
}

/// Creates the role `job` asks for, all in one transaction: the role, its entitlements (direct,
/// or one access profile per source), an assignment request per member when asked, and the
/// potential role `COMPLETE` with the new role's id. Returns that id, or `None` when the
/// potential role is not `PENDING` (done already). An unknown owner is a
/// [`StoreError::Invalid`], with nothing written.
pub async fn provision(pool: &PgPool, job: &ProvisionJob) -> Result<Option<Uuid>, StoreError> {
    let mut tx = pool.begin().await?;
    let role: Option<(String, Option<String>, String)> = sqlx::query_as(
        "SELECT name, description, provision_state FROM potential_roles WHERE id = $1 FOR UPDATE",
    )
    .bind(job.potential_role_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((name, description, state)) = role else {
        return Err(StoreError::NotFound {
            what: "potential role",
            id: job.potential_role_id.to_string(),
        });
    };
    if state != "PENDING" {
        return Ok(None);
    }
    if let Some(owner) = &job.owner_id {
        let known: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT FROM identities WHERE ext_id = $1)")
                .bind(owner)
                .fetch_one(&mut *tx)
                .await?;
        if !known {
            return Err(StoreError::Invalid(format!(
                "ownerId: no identity has the id {owner:?}"
            )));
        }
    }
    let id = Uuid::new_v4();
    let role_name = job.role_name.clone().unwrap_or(name);
    sqlx::query(
        "INSERT INTO roles (id, ext_id, name, description, origin, owner_id, potential_role_id)
         VALUES ($1, $1::text, $2, $3, 'PROVISIONED', $4, $5)",
    )
    .bind(id)
    .bind(&role_name)
    .bind(job.role_description.clone().or(description))
    .bind(&job.owner_id)
    .bind(job.potential_role_id)
    .execute(&mut *tx)
    .await?;
    let filter = job.filter();
    // The entitlements the role grants: those the export with the same filter holds.
    let granted = format!(
        "SELECT pre.entitlement_id FROM potential_role_entitlements pre WHERE {}",
        filtered_entitlements("$2", "$3", "$4")
    );
    if job.directly_assigned_entitlements {
        sqlx::query(&format!(
            "INSERT INTO role_entitlements (role_id, entitlement_id) SELECT $1, entitlement_id
               FROM ({granted}) g"
        ))
        .bind(id)
        .bind(job.potential_role_id)
        .bind(f64::from(filter.min_entitlement_popularity))
        .bind(filter.include_common_access)
        .execute(&mut *tx)
        .await?;
    } else {
        sqlx::query(&format!(
            "INSERT INTO access_profiles (id, role_id, source_id, name, description)
             SELECT gen_random_uuid(), $1, s.id, $5 || ' - ' || s.name,
                    'Entitlements of ' || s.name || ' for the role ' || $5
               FROM sources s
              WHERE s.id IN (SELECT e.source_id FROM entitlements e
                              WHERE e.id IN ({granted}))"
        ))
        .bind(id)
        .bind(job.potential_role_id)
        .bind(f64::from(filter.min_entitlement_popularity))
        .bind(filter.include_common_access)
        .bind(&role_name)
        .execute(&mut *tx)
        .await?;
        sqlx::query(&format!(
            "INSERT INTO access_profile_entitlements (access_profile_id, entitlement_id)
             SELECT ap.id, e.id FROM entitlements e
               JOIN access_profiles ap ON ap.role_id = $1 AND ap.source_id = e.source_id
              WHERE e.id IN ({granted})"
        ))
        .bind(id)
        .bind(job.potential_role_id)
        .bind(f64::from(filter.min_entitlement_popularity))
        .bind(filter.include_common_access)
        .execute(&mut *tx)
        .await?;
    }
    if job.include_identities {
        sqlx::query(
            "INSERT INTO role_assignment_requests (role_id, identity_id)
             SELECT $1, identity_id FROM potential_role_members WHERE potential_role_id = $2",
        )
        .bind(id)
        .bind(job.potential_role_id)
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query(
        "UPDATE potential_roles SET provision_state = 'COMPLETE', role_id = $2,
                provision_failure = NULL, modified_at = now()
          WHERE id = $1",
    )
    .bind(job.potential_role_id)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Some(id))
}

/// Leaves the potential role `FAILED` with `reason` (unless it completed meanwhile).
pub async fn fail(pool: &PgPool, potential_role: Uuid, reason: &str) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE potential_roles SET provision_state = 'FAILED', provision_failure = $2,
                modified_at = now()
          WHERE id = $1 AND provision_state <> 'COMPLETE'",
    )
    .bind(potential_role)
    .bind(reason)
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
    /// `IMPORTED` or `PROVISIONED`.
    pub origin: String,
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
}

const ROLE_SELECT: &str = "SELECT r.id, r.ext_id, r.name, r.description, r.origin, r.owner_id,
        r.potential_role_id, r.created_at,
        (SELECT count(*) FROM role_entitlements re WHERE re.role_id = r.id) AS entitlement_count,
        (SELECT count(*) FROM access_profiles ap WHERE ap.role_id = r.id) AS access_profile_count,
        (SELECT count(*) FROM role_assignment_requests q WHERE q.role_id = r.id)
          AS assignment_request_count
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
#[derive(Debug, Clone, sqlx::FromRow)]
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
    pub assignment_requests: Vec<(String, String)>,
}

/// The role `id` in full.
pub async fn get(pool: &PgPool, id: Uuid) -> Result<RoleDetail, StoreError> {
    let role = sqlx::query_as::<_, RoleRow>(&format!("{ROLE_SELECT} WHERE r.id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await?
        .ok_or_else(|| StoreError::NotFound {
            what: "role",
            id: id.to_string(),
        })?;
    let granted = "SELECT e.ext_id AS id, e.name, s.ext_id AS source_id, s.name AS source_name
                     FROM entitlements e JOIN sources s ON s.id = e.source_id";
    let entitlements = sqlx::query_as::<_, GrantedEntitlement>(&format!(
        "{granted} JOIN role_entitlements re ON re.entitlement_id = e.id
          WHERE re.role_id = $1 ORDER BY e.ext_id"
    ))
    .bind(id)
    .fetch_all(pool)
    .await?;
    let profiles: Vec<(Uuid, String, Option<String>, String)> = sqlx::query_as(
        "SELECT ap.id, ap.name, ap.description, s.ext_id FROM access_profiles ap
           JOIN sources s ON s.id = ap.source_id WHERE ap.role_id = $1 ORDER BY ap.name",
    )
    .bind(id)
    .fetch_all(pool)
    .await?;
    let mut access_profiles = Vec::with_capacity(profiles.len());
    for (profile, name, description, source_id) in profiles {
        let entitlements = sqlx::query_as::<_, GrantedEntitlement>(&format!(
            "{granted} JOIN access_profile_entitlements ape ON ape.entitlement_id = e.id
              WHERE ape.access_profile_id = $1 ORDER BY e.ext_id"
        ))
        .bind(profile)
        .fetch_all(pool)
        .await?;
        access_profiles.push(AccessProfile {
            id: profile,
            name,
            description,
            source_id,
            entitlements,
        });
    }
    let assignment_requests = sqlx::query_as(
        "SELECT i.ext_id, q.state FROM role_assignment_requests q
           JOIN identities i ON i.id = q.identity_id WHERE q.role_id = $1 ORDER BY i.ext_id",
    )
    .bind(id)
    .fetch_all(pool)
    .await?;
    Ok(RoleDetail {
        role,
        entitlements,
        access_profiles,
        assignment_requests,
    })
}
