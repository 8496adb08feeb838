//! `rolemine client create|list|revoke`.

use rolemine_api::auth::{secrets, SCOPES};
use rolemine_store::clients;
use serde_json::json;

use crate::args::{ClientAction, ClientArgs};
use crate::database::Database;

/// Runs one client action, printing JSON on stdout.
pub async fn run(args: ClientArgs) -> anyhow::Result<()> {
    // Check the flags before any database is started.
    if let ClientAction::Create { scopes, name } = &args.action {
        if name.trim().is_empty() {
            anyhow::bail!("--name must not be empty");
        }
        if let Some(unknown) = scopes.iter().find(|s| !SCOPES.contains(&s.as_str())) {
            anyhow::bail!(
                "unknown scope {unknown:?}; the scopes are {}",
                SCOPES.join(" and ")
            );
        }
    }
    let database = Database::open(&args.database).await?;
    let outcome = act(&database, args.action).await;
    database.close().await?;
    outcome
}

async fn act(database: &Database, action: ClientAction) -> anyhow::Result<()> {
    match action {
        ClientAction::Create { name, mut scopes } => {
            scopes.sort();
            scopes.dedup();
            let (client_id, secret) = secrets::new_credentials();
            let hash = secrets::hash_off_runtime(secret.clone())
                .await
                .map_err(|err| anyhow::anyhow!("cannot hash the client secret: {err}"))?;
            let client =
                clients::create(&database.pool, &client_id, name.trim(), &scopes, &hash).await?;
            // The secret is shown this once: a reader that went away is a failure.
            super::output_line_or_fail(json!({
                "client_id": client.client_id,
                "client_secret": secret,
                "scopes": client.scopes,
                "name": client.name,
            }))
            .map_err(|err| {
                err.context(format!(
                    "client {} was created but its secret could not be shown; revoke it with \
                     `rolemine client revoke {}` and create another",
                    client.client_id, client.client_id
                ))
            })?;
        }
        ClientAction::List => {
            for client in clients::list(&database.pool).await? {
                super::output_line(serde_json::to_string(&client)?)?;
            }
        }
        ClientAction::Revoke { client_id } => {
            let client = clients::revoke(&database.pool, &client_id)
                .await
                .map_err(|err| anyhow::anyhow!("{err}"))?;
            super::output_line(serde_json::to_string(&client)?)?;
        }
    }
    Ok(())
}
