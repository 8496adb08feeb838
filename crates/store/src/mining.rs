//! The SQL side of mining a session: resolving its population, streaming it (with the existing
//! roles) to the worker that builds the engine's input, and writing the potential roles in bulk. Every write is conditional on
//! the session's `generation`, so a job superseded by a newer PATCH writes nothing.

use futures_util::{StreamExt, TryStreamExt};
use rolemine_domain::{Chip, ChipOperator, PruneThreshold, Scope, SessionState};
use rolemine_engine::coverage::Coverage;
use rolemine_engine::mine::{MiningResult, PotentialRole};
use rolemine_engine::rules::AttributeRule;
use rolemine_filter::{like_pattern, parse_search, Search};
use serde::Serialize;
use sqlx::types::Json;
use sqlx::{PgConnection, PgPool, Postgres, QueryBuilder};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::error::StoreError;
use crate::insights::{self, Generations};
use crate::listing::push_joined;

/// One identity of a session's population, as loaded for mining.
#[derive(Debug)]
pub struct PopulationRow {
    /// Database id.
    pub identity_id: i32,
    /// Display name.
    pub name: String,
    /// Entitlement database ids it holds (sorted).
    pub entitlement_ids: Vec<i32>,
    /// Identity attributes.
    pub attributes: serde_json::Map<String, serde_json::Value>,
}

/// The database ids behind the engine's dense indices, for writing its roles back.
#[derive(Debug, Default)]
pub struct IndexIds {
    /// Database id per identity index.
    pub identity_ids: Vec<i32>,
    /// Name per identity index (stored with role members, for their name-ordered pages).
    pub identity_names: Vec<String>,
    /// Database id per entitlement index.
    pub entitlement_ids: Vec<i32>,
}

/// Appends a search term's condition over `identities i`.
fn push_search(query: &mut QueryBuilder<'_, Postgres>, search: &Search) -> Result<(), StoreError> {
    match search {
        Search::And(all) | Search::Or(all) => {
            let joiner = if matches!(search, Search::And(_)) {
                " AND "
            } else {
                " OR "
            };
            push_joined(query, joiner, all, push_search)?;
        }
        Search::Not(inner) => {
            query.push("NOT coalesce((");
            push_search(query, inner)?;
            query.push("), false)");
        }
        Search::Term { field, value } => {
            let pattern = like_pattern(value);
            // Entitlement conditions: one uncorrelated array of matching entitlement ids, then
            // an overlap test per identity.
            let holding = |query: &mut QueryBuilder<'_, Postgres>, condition: &str| {
                query.push(
                    "EXISTS (SELECT FROM identity_access a WHERE a.identity_id = i.id \
                     AND a.entitlement_ids && ARRAY(SELECT e.id FROM entitlements e \
                     JOIN sources s ON s.id = e.source_id WHERE ",
                );
                query.push(condition);
                query.push(" ILIKE ");
                query.push_bind(pattern.clone());
                query.push(" ESCAPE '\\'))");
            };
            query.push("(");
            match field.to_ascii_lowercase().as_str() {
                "name" | "email" | "id" => {
                    let column = match field.to_ascii_lowercase().as_str() {
                        "name" => "i.name",
                        "email" => "i.email",
                        _ => "i.ext_id",
                    };
                    query.push(column);
                    query.push(" ILIKE ");
                    query.push_bind(pattern.clone());
                    query.push(" ESCAPE '\\'");
                }
                "source.name" => holding(query, "s.name"),
                "source.id" => holding(query, "s.ext_id"),
                "access.name" => holding(query, "e.name"),
                "access.id" => holding(query, "e.ext_id"),
                _ => {
                    let name = field.strip_prefix("attributes.").unwrap_or(field);
                    query.push("i.attributes ->> ");
                    query.push_bind(name.to_owned());
                    query.push(" ILIKE ");
                    query.push_bind(pattern.clone());
                    query.push(" ESCAPE '\\'");
                }
            }
            query.push(")");
        }
    }
    Ok(())
}

/// Appends the population condition of `scope` (over `identities i`) to `query`.
fn push_scope(query: &mut QueryBuilder<'_, Postgres>, scope: &Scope) -> Result<(), StoreError> {
    query.push(" WHERE true");
    if let Some(criteria) = scope.criteria.as_deref().filter(|c| !c.trim().is_empty()) {
        let search = parse_search(criteria).map_err(|err| StoreError::Query(err.to_string()))?;
        query.push(" AND ");
        push_search(query, &search)?;
    }
    // An empty list is "not given": clients that fill every model field send `[]`.
    if let Some(ids) = scope.identity_ids.as_ref().filter(|ids| !ids.is_empty()) {
        query.push(" AND i.ext_id = ANY(");
        query.push_bind(ids.clone());
        query.push(")");
    }
    // Values of one chip are ORed, chips are ANDed; a missing value is not equal to anything.
    for Chip { data, .. } in scope.attribute_filter_criteria.iter().flatten() {
        let value = "coalesce(i.attributes ->> ";
        match data.operator {
            ChipOperator::Equals => query.push(" AND ").push(value),
            ChipOperator::NotEquals => query.push(" AND NOT ").push(value),
        };
        query.push_bind(data.name.clone());
        query.push(", '') = ANY(");
        query.push_bind(data.values.clone());
        query.push(")");
        if matches!(data.operator, ChipOperator::Equals) {
            // `coalesce(.., '')` must not let an empty value match a missing attribute.
            query.push(" AND i.attributes ? ");
            query.push_bind(data.name.clone());
        }
    }
    Ok(())
}

/// Identity ids of `scope.identityIds` that do not exist (at most `limit`), for a 400.
pub async fn unknown_identities(
    pool: &PgPool,
    ids: &[String],
    limit: i64,
) -> Result<Vec<String>, StoreError> {
    Ok(sqlx::query_scalar!(
        r#"SELECT x AS "x!" FROM unnest($1::text[]) WITH ORDINALITY AS t(x, n)
            WHERE NOT EXISTS (SELECT FROM identities i WHERE i.ext_id = t.x)
            ORDER BY n LIMIT $2"#,
        ids,
        limit,
    )
    .fetch_all(pool)
    .await?)
}

/// The longest the population query of a session may run.
pub const POPULATION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// Streams the session's population (the identities its scope selects), in identity id order,
/// to `each`, then moves the session to `IDENTITIES_OBTAINED` with their count. `None` when the
/// job was superseded.
///
/// The population is read straight from the scope's query rather than stored first: a stored
/// copy of 100k identities cost two seconds of a session's run on a durable PostgreSQL and
/// nothing reads it again. When `stop` completes first, PostgreSQL is asked to cancel the
/// statement (a criteria query can run for minutes), and the result is
/// [`StoreError::Cancelled`].
pub async fn load_population(
    pool: &PgPool,
    session: Uuid,
    generation: i32,
    scope: &Scope,
    stop: impl std::future::Future<Output = ()>,
    each: &mut (dyn FnMut(PopulationRow) + Send),
) -> Result<Option<i32>, StoreError> {
    let mut tx = pool.begin().await?;
    let backend = sqlx::query_scalar!(r#"SELECT pg_backend_pid() AS "pid!""#)
        .fetch_one(&mut *tx)
        .await?;
    // The client's criteria shape this statement; it must not hold a backend for ever.
    sqlx::query!(
        "SELECT set_config('statement_timeout', $1, true)",
        POPULATION_TIMEOUT.as_millis().to_string()
    )
    .fetch_one(&mut *tx)
    .await?;
    let mut select = QueryBuilder::<Postgres>::new(
        "SELECT i.id, i.name, a.entitlement_ids, i.attributes FROM identities i \
         LEFT JOIN identity_access a ON a.identity_id = i.id",
    );
    push_scope(&mut select, scope)?;
    select.push(" ORDER BY i.id");
    let mut count = 0usize;
    {
        let reading = async {
            let mut rows = select
                .build_query_as::<(
                    i32,
                    String,
                    Option<Vec<i32>>,
                    Json<serde_json::Map<String, serde_json::Value>>,
                )>()
                .fetch(&mut *tx);
            while let Some((identity_id, name, entitlement_ids, attributes)) =
                rows.try_next().await?
            {
                count += 1;
                each(PopulationRow {
                    identity_id,
                    name,
                    entitlement_ids: entitlement_ids.unwrap_or_default(),
                    attributes: attributes.0,
                });
            }
            Ok::<_, StoreError>(())
        };
        tokio::pin!(reading);
        tokio::pin!(stop);
        tokio::select! {
            done = &mut reading => done?,
            () = &mut stop => {
                // A cancel that reaches the backend before the statement starts is ignored, so
                // it is sent again until the statement ends ("canceling statement"; the
                // transaction rolls back).
                loop {
                    // Best effort: a busy pool must not turn the cancel into a failure; the
                    // next round sends it again.
                    let sent = sqlx::query_scalar::<_, bool>("SELECT pg_cancel_backend($1)")
                        .bind(backend)
                        .fetch_one(pool)
                        .await;
                    if let Err(err) = sent {
                        tracing::warn!(%session, error = %err, "cannot cancel the population query yet");
                    }
                    tokio::select! {
                        _ = &mut reading => break,
                        () = tokio::time::sleep(std::time::Duration::from_millis(200)) => {}
                    }
                }
                return Err(StoreError::Cancelled);
            }
        }
    }
    let count = i32::try_from(count).unwrap_or(i32::MAX);
    let updated = sqlx::query!(
        "UPDATE role_mining_sessions
            SET identity_count = $3, state = $4, modified_at = now()
          WHERE id = $1 AND generation = $2",
        session,
        generation,
        count,
        SessionState::IdentitiesObtained as _,
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if updated == 0 {
        return Ok(None);
    }
    tx.commit().await?;
    Ok(Some(count))
}

/// The entitlement database ids each existing role (imported or provisioned) grants, directly
/// or through its access profiles: the roles freshness compares against.
pub async fn existing_role_grants(pool: &PgPool) -> Result<Vec<Vec<i32>>, StoreError> {
    Ok(sqlx::query_scalar!(
        r#"SELECT array_agg(entitlement_id) AS "entitlements!"
             FROM (SELECT role_id, entitlement_id FROM role_entitlements
                   UNION
                   SELECT ap.role_id, ape.entitlement_id FROM access_profiles ap
                     JOIN access_profile_entitlements ape ON ape.access_profile_id = ap.id) granted
            GROUP BY role_id"#
    )
    .fetch_all(pool)
    .await?)
}

/// Moves the session to `state` with the given counts, if the job is still current.
pub async fn advance(
    pool: &PgPool,
    session: Uuid,
    generation: i32,
    state: SessionState,
    prescribed: Option<PruneThreshold>,
    role_count: Option<i32>,
) -> Result<bool, StoreError> {
    Ok(sqlx::query!(
        "UPDATE role_mining_sessions
            SET state = $3,
                prescribed_prune_threshold = coalesce($4, prescribed_prune_threshold),
                potential_role_count = coalesce($5, potential_role_count),
                potential_roles_ready_count = CASE WHEN $5::int IS NULL THEN potential_roles_ready_count ELSE 0 END,
                modified_at = now()
          WHERE id = $1 AND generation = $2",
        session,
        generation,
        state as _,
        prescribed as _,
        role_count,
    )
    .execute(pool)
    .await?
    .rows_affected()
        == 1)
}

/// Roles written per transaction; `potentialRolesReadyCount` moves in these steps.
const ROLE_BATCH: usize = 50;

/// A role's attribute distribution as stored (and served): one entry per attribute.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct StoredDistribution<'a> {
    attribute_name: &'a str,
    distribution: Vec<StoredCount<'a>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct StoredCount<'a> {
    attribute_value: Option<&'a str>,
    count: u32,
}

/// The email recorded in the outbox when a session's roles are published.
#[derive(Debug, Clone)]
pub struct Completion {
    /// The identity id told.
    pub recipient: String,
    /// Subject line.
    pub subject: String,
    /// Body text.
    pub body: String,
}

/// Role batches in flight at once, each on its own connection: PostgreSQL spends one backend's
/// CPU per COPY, so two batches at a time keep both cores of a small server busy.
const WRITERS: usize = 2;

/// Who a session's potential roles are created by.
struct RoleOwner {
    created_by_id: Option<String>,
    created_by_name: Option<String>,
}

/// Writes `result`'s roles as `generation`'s, in batches, counting `potentialRolesReadyCount`
/// up, then publishes them in place of the session's earlier unsaved roles (`publish`).
/// `false` when superseded (nothing of this generation is kept then).
///
/// The batches ([`WRITERS`] at a time) and the session's insights are written concurrently,
/// each in its own transaction; nothing is visible to readers before `publish`.
pub async fn write_roles(
    pool: &PgPool,
    session: Uuid,
    generation: i32,
    result: &MiningResult,
    index_ids: &IndexIds,
    notify: Option<&Completion>,
    cancel: &CancellationToken,
) -> Result<bool, StoreError> {
    let Some(owner) = sqlx::query_as!(
        RoleOwner,
        "SELECT created_by_id, created_by_name
             FROM role_mining_sessions WHERE id = $1 AND generation = $2",
        session,
        generation,
    )
    .fetch_optional(pool)
    .await?
    else {
        return Ok(false);
    };
    // Leftovers of an earlier attempt at this generation; the published roles stay readable
    // until this generation replaces them (see `publish`).
    delete_generation(&mut *pool.acquire().await?, session, generation).await?;
    let sources = entitlement_sources(pool, &index_ids.entitlement_ids).await?;
    let role_ids: Vec<Uuid> = result.roles.iter().map(|_| Uuid::now_v7()).collect();
    let started = std::time::Instant::now();
    // Built up front: a `map` closure over the chunks trips rustc's higher-ranked lifetime
    // check when the worker's future must be `Send`.
    let writes: Vec<_> = result
        .roles
        .chunks(ROLE_BATCH)
        .zip(role_ids.chunks(ROLE_BATCH))
        .enumerate()
        .map(|(index, (roles, ids))| {
            let batch = RoleBatch {
                session,
                generation,
                owner: &owner,
                first_ordinal: index * ROLE_BATCH,
                roles,
                ids,
            };
            write_batch(pool, batch, index_ids, &sources, cancel)
        })
        .collect();
    let batches = futures_util::stream::iter(writes)
        .buffer_unordered(WRITERS)
        .try_fold(true, |all, current| async move { Ok(all && current) });
    let insights = async {
        let mut tx = pool.begin().await?;
        insights::write_session_insights(
            &mut tx, session, generation, &role_ids, result, index_ids,
        )
        .await?;
        tx.commit().await?;
        Ok::<_, StoreError>(started.elapsed())
    };
    let (current, insights_written) = tokio::try_join!(batches, insights)?;
    let roles_written = started.elapsed();
    if !current {
        // Superseded: drop what this generation wrote; the new job writes its own.
        delete_generation(&mut *pool.acquire().await?, session, generation).await?;
        return Ok(false);
    }
    // A job whose lease ran out (another attempt has it now) must not publish.
    if cancel.is_cancelled() {
        return Err(StoreError::Cancelled);
    }
    let done = publish(pool, session, generation, &result.explained, notify).await?;
    let published = started.elapsed();
    // Fresh member rows are not yet all-visible, so a deep page of a large role would visit
    // the heap for every index entry it skips until autovacuum comes by. Marking them now makes
    // those pages index-only scans at once. Best effort: the roles are written either way.
    if let Err(err) = sqlx::raw_sql("VACUUM (ANALYZE) potential_role_members")
        .execute(pool)
        .await
    {
        tracing::warn!(%session, error = %err, "cannot vacuum the new potential role members");
    }
    tracing::debug!(
        %session,
        roles_seconds = roles_written.as_secs_f64(),
        insights_seconds = insights_written.as_secs_f64(),
        publish_seconds = (published - roles_written).as_secs_f64(),
        vacuum_seconds = (started.elapsed() - published).as_secs_f64(),
        "roles written"
    );
    Ok(done)
}

/// One transaction's worth of a generation's roles.
struct RoleBatch<'a> {
    session: Uuid,
    generation: i32,
    owner: &'a RoleOwner,
    /// Ordinal of the batch's first role in the engine's output.
    first_ordinal: usize,
    roles: &'a [PotentialRole],
    ids: &'a [Uuid],
}

/// Writes one batch of roles with their members, entitlement statistics, sources and rules,
/// and counts them ready. `false` (and nothing written) when the generation was superseded.
async fn write_batch(
    pool: &PgPool,
    batch: RoleBatch<'_>,
    index_ids: &IndexIds,
    sources: &[i32],
    cancel: &CancellationToken,
) -> Result<bool, StoreError> {
    if cancel.is_cancelled() {
        return Err(StoreError::Cancelled);
    }
    let RoleBatch {
        session,
        generation,
        owner,
        first_ordinal,
        roles: batch_roles,
        ids,
    } = batch;
    let current = sqlx::query_scalar!(
        "SELECT generation FROM role_mining_sessions WHERE id = $1",
        session
    )
    .fetch_optional(pool)
    .await?;
    if current != Some(generation) {
        return Ok(false);
    }
    let mut tx = pool.begin().await?;
    let mut roles = QueryBuilder::<Postgres>::new(
        "INSERT INTO potential_roles (id, session_id, generation, ordinal, name, type,
            identity_count, entitlement_count, density, freshness, quality,
            identity_distribution, created_by_id, created_by_name, access_explained_percent) ",
    );
    roles.push_values(
        batch_roles.iter().zip(ids).enumerate(),
        |mut row, (i, (role, id))| {
            let ordinal = first_ordinal + i;
            let distribution: Vec<StoredDistribution<'_>> = role
                .identity_distribution
                .iter()
                .map(|attribute| StoredDistribution {
                    attribute_name: &attribute.name,
                    distribution: attribute
                        .counts
                        .iter()
                        .map(|(value, count)| StoredCount {
                            attribute_value: value.as_deref(),
                            count: *count,
                        })
                        .collect(),
                })
                .collect();
            row.push_bind(*id)
                .push_bind(session)
                .push_bind(generation)
                .push_bind(i32::try_from(ordinal).unwrap_or(i32::MAX))
                .push_bind(format!("Potential role {}", ordinal + 1))
                .push_bind(role.role_type)
                .push_bind(i32::try_from(role.members.len()).unwrap_or(i32::MAX))
                .push_bind(i32::try_from(role.metrics.entitlement_count).unwrap_or(i32::MAX))
                .push_bind(i16::from(role.metrics.density))
                .push_bind(i16::from(role.metrics.freshness))
                .push_bind(i16::from(role.metrics.quality))
                .push_bind(Json(distribution))
                .push_bind(owner.created_by_id.clone())
                .push_bind(owner.created_by_name.clone())
                .push_bind(role.coverage.explained_percent());
        },
    );
    roles.build().execute(&mut *tx).await?;
    let rules: Vec<&[AttributeRule]> = batch_roles
        .iter()
        .map(|role| role.rules.as_slice())
        .collect();
    insights::write_rules(&mut tx, ids, &rules).await?;

    let mut members = String::new();
    let mut entitlements = String::new();
    for (role, id) in batch_roles.iter().zip(ids) {
        for &member in &role.members {
            let index = member as usize;
            let (Some(identity), Some(name)) = (
                index_ids.identity_ids.get(index),
                index_ids.identity_names.get(index),
            ) else {
                return Err(StoreError::Query(format!(
                    "member index {member} out of range"
                )));
            };
            members.push_str(&format!("{id}\t{identity}\t"));
            push_copy_text(&mut members, name);
            members.push('\n');
        }
        let mined = role.entitlements.iter().map(|stat| (stat, "t"));
        let unmined = role.common_entitlements.iter().map(|stat| (stat, "f"));
        for (stat, mined) in mined.chain(unmined) {
            let entitlement = index_ids
                .entitlement_ids
                .get(stat.entitlement as usize)
                .ok_or_else(|| {
                    StoreError::Query(format!(
                        "entitlement index {} out of range",
                        stat.entitlement
                    ))
                })?;
            entitlements.push_str(&format!(
                "{id}\t{entitlement}\t{}\t{}\t{}\t{}\t{mined}\n",
                stat.identity_count,
                stat.popularity,
                stat.popularity_in_org,
                if stat.common_access { "t" } else { "f" }
            ));
        }
    }
    let mut copy = tx
        .copy_in_raw(
            "COPY potential_role_members (potential_role_id, identity_id, name) FROM STDIN",
        )
        .await?;
    copy.send(members.into_bytes()).await?;
    copy.finish().await?;
    let mut copy = tx
        .copy_in_raw(
            "COPY potential_role_entitlements (potential_role_id, entitlement_id, identity_count,
                popularity, popularity_in_org, common_access, mined) FROM STDIN",
        )
        .await?;
    copy.send(entitlements.into_bytes()).await?;
    copy.finish().await?;
    // Each role's sources: those of its entitlements (common access included).
    let mut pair_roles: Vec<Uuid> = Vec::new();
    let mut pair_sources: Vec<i32> = Vec::new();
    for (role, id) in batch_roles.iter().zip(ids) {
        let mut of_role: Vec<i32> = role
            .entitlements
            .iter()
            .chain(&role.common_entitlements)
            .filter_map(|stat| sources.get(stat.entitlement as usize).copied())
            .collect();
        of_role.sort_unstable();
        of_role.dedup();
        pair_roles.extend(std::iter::repeat_n(*id, of_role.len()));
        pair_sources.extend(of_role);
    }
    // The member rows just written have no statistics yet; with stale ones the planner hashes
    // every usage row per batch (1-1.7 s a batch at 1M identities) instead of probing the
    // usage index once per member (0.2 s).
    sqlx::query!(
        "SELECT set_config('enable_hashjoin', 'off', true) AS hash,
                set_config('enable_mergejoin', 'off', true) AS merge,
                set_config('enable_seqscan', 'off', true) AS scan"
    )
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query!(
        "INSERT INTO potential_role_sources (potential_role_id, source_id, members_with_usage)
         SELECT r.potential_role_id, r.source_id, coalesce(used.members, 0)
           FROM unnest($1::uuid[], $2::int[]) AS r(potential_role_id, source_id)
           LEFT JOIN (SELECT m.potential_role_id, u.source_id, count(*)::int AS members
                        FROM potential_role_members m
                        JOIN source_usage u ON u.identity_id = m.identity_id AND u.usage_days > 0
                       WHERE m.potential_role_id = ANY($3)
                       GROUP BY 1, 2) used
             ON used.potential_role_id = r.potential_role_id AND used.source_id = r.source_id",
        &pair_roles,
        &pair_sources,
        ids,
    )
    .execute(&mut *tx)
    .await?;
    // The row lock taken here waits for a PATCH that is moving the generation on, and makes a
    // PATCH wait until this batch is committed; either way no batch of a superseded generation
    // commits after the new generation started.
    let counted = sqlx::query!(
        "UPDATE role_mining_sessions
            SET potential_roles_ready_count = potential_roles_ready_count + $3, modified_at = now()
          WHERE id = $1 AND generation = $2",
        session,
        generation,
        i32::try_from(batch_roles.len()).unwrap_or(i32::MAX),
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if counted == 0 {
        tx.rollback().await?;
        return Ok(false);
    }
    tx.commit().await?;
    Ok(true)
}

/// The source database id of each of `entitlement_ids`, in their order.
async fn entitlement_sources(
    pool: &PgPool,
    entitlement_ids: &[i32],
) -> Result<Vec<i32>, StoreError> {
    let sources = sqlx::query_scalar!(
        r#"SELECT e.source_id AS "source_id!"
             FROM unnest($1::int[]) WITH ORDINALITY AS x(id, n)
             JOIN entitlements e ON e.id = x.id
            ORDER BY x.n"#,
        entitlement_ids,
    )
    .fetch_all(pool)
    .await?;
    if sources.len() != entitlement_ids.len() {
        return Err(StoreError::Query(format!(
            "{} of the population's {} entitlements no longer exist",
            entitlement_ids.len() - sources.len(),
            entitlement_ids.len()
        )));
    }
    Ok(sources)
}

/// Whether `generation` is the session's published one: an earlier attempt of its job wrote and
/// published its roles.
pub async fn published(pool: &PgPool, session: Uuid, generation: i32) -> Result<bool, StoreError> {
    Ok(sqlx::query_scalar!(
        r#"SELECT coalesce(published_generation = $2, false) AS "published!"
             FROM role_mining_sessions WHERE id = $1"#,
        session,
        generation
    )
    .fetch_optional(pool)
    .await?
    .unwrap_or(false))
}

/// Deletes the unsaved roles one generation of a session wrote, unless it is the published
/// one (an earlier attempt of the same job may have published it meanwhile).
async fn delete_generation(
    conn: &mut PgConnection,
    session: Uuid,
    generation: i32,
) -> Result<(), StoreError> {
    sqlx::query!(
        "DELETE FROM potential_roles
          WHERE session_id = $1 AND generation = $2 AND NOT saved
            AND generation IS DISTINCT FROM
                (SELECT published_generation FROM role_mining_sessions WHERE id = $1)",
        session,
        generation,
    )
    .execute(&mut *conn)
    .await?;
    insights::delete_session_insights(conn, session, Generations::Unpublished(Some(generation)))
        .await
}

/// Makes `generation`'s roles the ones readers see, in one transaction: the session becomes
/// `POTENTIAL_ROLES_CREATED` with this generation published, the unsaved roles of every other
/// generation go, and the completion notification is recorded. `false` (and nothing changed)
/// when a newer generation superseded it.
async fn publish(
    pool: &PgPool,
    session: Uuid,
    generation: i32,
    explained: &Coverage,
    notify: Option<&Completion>,
) -> Result<bool, StoreError> {
    let mut tx = pool.begin().await?;
    // Roles first, then the session row: a role PATCH locks its role, then (through the read
    // version trigger of migration 0012) the session row; taking them in the same order here
    // cannot deadlock with it. If the generation turns out to be superseded, the rollback
    // brings the deleted roles back.
    sqlx::query!(
        "DELETE FROM potential_roles WHERE session_id = $1 AND generation <> $2 AND NOT saved",
        session,
        generation,
    )
    .execute(&mut *tx)
    .await?;
    let published = sqlx::query!(
        "UPDATE role_mining_sessions
            SET state = $3, published_generation = $2, modified_at = now(),
                assignments_explained_percent = $4, over_grants = $5,
                identities_in_roles_percent = $6
          WHERE id = $1 AND generation = $2",
        session,
        generation,
        SessionState::PotentialRolesCreated as _,
        explained.explained_percent(),
        i64::try_from(explained.over_grants).unwrap_or(i64::MAX),
        explained.identities_in_roles_percent(),
    )
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if !published {
        tx.rollback().await?;
        return Ok(false);
    }
    insights::delete_session_insights(&mut tx, session, Generations::AllBut(generation)).await?;
    if let Some(completion) = notify {
        record_completion(&mut tx, session, completion).await?;
    }
    tx.commit().await?;
    Ok(true)
}

/// Appends `text` as a field of `COPY ... FROM STDIN` text format (backslash escapes).
fn push_copy_text(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
}

/// Leaves the session readable as `FAILED` with `message` (only if the job is still current).
pub async fn fail(
    pool: &PgPool,
    session: Uuid,
    generation: Option<i32>,
    message: &str,
) -> Result<(), StoreError> {
    let mut tx = pool.begin().await?;
    // Roles before the session row, in the order a role PATCH locks them (see `publish`).
    // What the failed generation wrote was never published: it goes; published roles stay.
    sqlx::query!(
        "DELETE FROM potential_roles p USING role_mining_sessions s
          WHERE p.session_id = $1 AND s.id = p.session_id AND NOT p.saved
            AND p.generation <> coalesce(s.published_generation, -1)
            AND ($2::int IS NULL OR p.generation = $2)",
        session,
        generation,
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "UPDATE role_mining_sessions SET state = $4, failure_message = $3, modified_at = now()
          WHERE id = $1 AND ($2::int IS NULL OR generation = $2)",
        session,
        generation,
        message,
        SessionState::Failed as _,
    )
    .execute(&mut *tx)
    .await?;
    insights::delete_session_insights(&mut tx, session, Generations::Unpublished(generation))
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Records the completion notification in the outbox (delivered by SMTP when configured,
/// otherwise logged by the outbox reader).
async fn record_completion(
    conn: &mut PgConnection,
    session: Uuid,
    completion: &Completion,
) -> Result<(), StoreError> {
    sqlx::query!(
        "INSERT INTO notification_outbox (session_id, recipient_id, subject, body)
         VALUES ($1, $2, $3, $4)",
        session,
        completion.recipient,
        completion.subject,
        completion.body,
    )
    .execute(conn)
    .await?;
    tracing::info!(%session, recipient = %completion.recipient, "session completion notification recorded");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::push_copy_text;

    #[test]
    fn copy_text_escapes_what_the_format_reserves() {
        let mut out = String::new();
        push_copy_text(&mut out, "a\tb\nc\\d\re");
        assert_eq!(out, "a\\tb\\nc\\\\d\\re");
    }
}
