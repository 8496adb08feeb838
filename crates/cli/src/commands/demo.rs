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
    title_fidelity: 0.8,
    outlier_share: 0.0,
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

/// The file in the data directory that keeps the demo client's credentials, so every
/// `serve --demo` start can print them (the database keeps only the secret's hash).
const CREDENTIALS_FILE: &str = "demo-client.json";

/// Creates a demo API client with both scopes when there is no client at all and keeps its
/// credentials in `data_dir` (owner-only); on later starts prints them again while that
/// client is active. The README's first command should leave the API and console usable.
pub async fn client_if_none(
    pool: &PgPool,
    bind: std::net::SocketAddr,
    data_dir: &std::path::Path,
) -> anyhow::Result<()> {
    let saved = data_dir.join(CREDENTIALS_FILE);
    if rolemine_store::clients::any(pool).await? {
        if let Some((client_id, secret)) = read_credentials(&saved) {
            if rolemine_store::clients::active(pool, &client_id)
                .await?
                .is_some()
            {
                announce(&client_id, &secret, bind);
            }
        }
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
    if let Err(err) = write_credentials(&saved, &client.client_id, &secret) {
        tracing::warn!(file = %saved.display(), error = %err, "cannot keep the demo client's credentials; they are shown only now");
    }
    announce(&client.client_id, &secret, bind);
    Ok(())
}

fn announce(client_id: &str, secret: &str, bind: std::net::SocketAddr) {
    tracing::warn!(
        client_id = %client_id,
        client_secret = %secret,
        "demo API client: sign in to the console at http://{bind}/ui/ with this id and secret, or \
         get a token with: curl -d grant_type=client_credentials -d client_id={client_id} \
         -d client_secret={secret} http://{bind}/oauth/token"
    );
}

fn read_credentials(path: &std::path::Path) -> Option<(String, String)> {
    let text = std::fs::read_to_string(path).ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    Some((
        value.get("client_id")?.as_str()?.to_owned(),
        value.get("client_secret")?.as_str()?.to_owned(),
    ))
}

fn write_credentials(path: &std::path::Path, client_id: &str, secret: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    let text = serde_json::json!({ "client_id": client_id, "client_secret": secret });
    file.write_all(text.to_string().as_bytes())
}
