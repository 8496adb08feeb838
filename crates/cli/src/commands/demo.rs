//! Demo data for `rolemine serve --demo`.

use anyhow::Context;
use rolemine_api::auth::secrets;
use rolemine_dataset::planted::{Planted, PlantedSpec};
use rolemine_store::import::{counts, import_path};
use rolemine_store::PgPool;

/// The demo population: small enough to load in seconds, large enough for real roles.
const DEMO: PlantedSpec = PlantedSpec {
    identities: 2_000,
    entitlements: 600,
    roles: 15,
    role_size_min: 4,
    role_size_max: 12,
    birthright: 3,
    drop_rate: 0.03,
    extra_per_identity: 2.0,
    sources: 6,
    existing_role_share: 0.2,
    // A fifth of the people hold a second role: the demo shows overlapping roles.
    second_role_share: 0.2,
    third_role_share: 0.0,
    seed: 7,
};

/// Generates and imports the demo data unless the database already holds identities.
pub async fn load_if_empty(pool: &PgPool) -> anyhow::Result<()> {
    if counts(pool).await?.identities > 0 {
        tracing::info!("database already holds access data; demo data not loaded");
        return Ok(());
    }
    let dir = tempfile::tempdir().context("cannot create a directory for the demo data")?;
    Planted::new(DEMO)
        .write(dir.path(), |_| {})
        .context("cannot write the demo data")?;
    let totals = import_path(pool, dir.path(), |_| {})
        .await
        .context("cannot import the demo data")?
        .counts;
    tracing::info!(
        identities = totals.identities,
        entitlements = totals.entitlements,
        assignments = totals.assignments,
        "demo access data loaded"
    );
    Ok(())
}

/// Creates a demo API client with both scopes when there is no client at all, and logs its
/// credentials: the README's first command should leave the API usable.
pub async fn client_if_none(pool: &PgPool, bind: std::net::SocketAddr) -> anyhow::Result<()> {
    if rolemine_store::clients::any(pool).await? {
        return Ok(());
    }
    let scopes = ["iai:access-modeling:read", "iai:access-modeling:manage"].map(str::to_owned);
    let (client_id, secret) = secrets::new_credentials();
    let hash = secrets::hash_off_runtime(secret.clone())
        .await
        .map_err(|err| anyhow::anyhow!("cannot hash the demo client's secret: {err}"))?;
    let client = rolemine_store::clients::create(pool, &client_id, "demo", &scopes, &hash)
        .await
        .context("cannot create the demo API client")?;
    tracing::warn!(
        client_id = %client.client_id,
        client_secret = %secret,
        "demo API client created (the secret is shown once); get a token with: \
         curl -d grant_type=client_credentials -d client_id={} -d client_secret={secret} \
         http://{bind}/oauth/token",
        client.client_id
    );
    Ok(())
}
