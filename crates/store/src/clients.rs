//! API clients (OAuth2 client credentials) and the shared token-signing key.
//!
//! Secrets are kept as the hashes the auth side makes of them (argon2 PHC strings).

use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use crate::error::StoreError;

/// An API client, without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiClient {
    /// Internal id.
    #[serde(skip)]
    pub id: Uuid,
    /// The `client_id` of the client-credentials grant.
    pub client_id: String,
    /// Display name (recorded as `createdBy.displayName`).
    pub name: String,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was revoked; its tokens stop working at once.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Records a new client with the hash of its secret (made by the caller: hashing secrets is
/// the auth side's business, the store only keeps the hash).
pub async fn create(
    pool: &PgPool,
    client_id: &str,
    name: &str,
    scopes: &[String],
    secret_hash: &str,
) -> Result<ApiClient, StoreError> {
    Ok(sqlx::query_as!(
        ApiClient,
        "INSERT INTO api_clients (id, client_id, name, secret_hash, scopes)
         VALUES ($1, $2, $3, $4, $5)
         RETURNING id, client_id, name, scopes, created_at, revoked_at",
        Uuid::new_v4(),
        client_id,
        name,
        secret_hash,
        scopes,
    )
    .fetch_one(pool)
    .await?)
}

/// Every client, oldest first.
pub async fn list(pool: &PgPool) -> Result<Vec<ApiClient>, StoreError> {
    Ok(sqlx::query_as!(
        ApiClient,
        "SELECT id, client_id, name, scopes, created_at, revoked_at
           FROM api_clients ORDER BY created_at, client_id"
    )
    .fetch_all(pool)
    .await?)
}

/// Revokes a client (idempotent); its existing tokens are refused from now on.
pub async fn revoke(pool: &PgPool, client_id: &str) -> Result<ApiClient, StoreError> {
    sqlx::query_as!(
        ApiClient,
        "UPDATE api_clients SET revoked_at = coalesce(revoked_at, now())
          WHERE client_id = $1
         RETURNING id, client_id, name, scopes, created_at, revoked_at",
        client_id
    )
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| StoreError::NotFound {
        what: "API client",
        id: client_id.to_owned(),
    })
}

/// The client with this id, if it exists and is not revoked.
pub async fn active(pool: &PgPool, client_id: &str) -> Result<Option<ApiClient>, StoreError> {
    Ok(sqlx::query_as!(
        ApiClient,
        "SELECT id, client_id, name, scopes, created_at, revoked_at
           FROM api_clients WHERE client_id = $1 AND revoked_at IS NULL",
        client_id
    )
    .fetch_optional(pool)
    .await?)
}

/// The stored secret hash of the active client `client_id`, if there is one.
pub async fn secret_hash(pool: &PgPool, client_id: &str) -> Result<Option<String>, StoreError> {
    Ok(sqlx::query_scalar!(
        "SELECT secret_hash FROM api_clients WHERE client_id = $1 AND revoked_at IS NULL",
        client_id
    )
    .fetch_optional(pool)
    .await?)
}

/// Whether any client exists (revoked ones included).
pub async fn any(pool: &PgPool) -> Result<bool, StoreError> {
    Ok(
        sqlx::query_scalar!(r#"SELECT EXISTS (SELECT FROM api_clients) AS "any!""#)
            .fetch_one(pool)
            .await?,
    )
}

/// The token-signing key shared by every server on this database, created on first use.
pub async fn signing_key(pool: &PgPool) -> Result<Vec<u8>, StoreError> {
    let mut fresh = vec![0u8; 64];
    rand::rng().fill_bytes(&mut fresh);
    sqlx::query!(
        "INSERT INTO server_secrets (name, value) VALUES ('jwt_signing_key', $1)
         ON CONFLICT (name) DO NOTHING",
        fresh,
    )
    .execute(pool)
    .await?;
    Ok(
        sqlx::query_scalar!("SELECT value FROM server_secrets WHERE name = 'jwt_signing_key'")
            .fetch_one(pool)
            .await?,
    )
}
