//! The notification outbox: messages recorded in the same transaction as what they announce,
//! delivered afterwards by the worker's notifier.

use rolemine_domain::DeliveryChannel;
use sqlx::{PgPool, Postgres, Transaction};

use crate::error::StoreError;

/// Deliveries tried before a message is given up on.
pub const MAX_ATTEMPTS: i32 = 5;

/// An undelivered message, with the recipient's address when the recipient id names an
/// identity that has one.
#[derive(Debug, Clone)]
pub struct Pending {
    /// Outbox row id.
    pub id: i64,
    /// The recipient as the client named it (`emailRecipientId`).
    pub recipient_id: String,
    /// The recipient identity's email, if any.
    pub email: Option<String>,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub body: String,
}

/// Locks up to `limit` undelivered messages for this transaction (other notifiers skip them).
pub async fn claim(
    tx: &mut Transaction<'_, Postgres>,
    limit: i64,
) -> Result<Vec<Pending>, StoreError> {
    Ok(sqlx::query_as!(
        Pending,
        r#"SELECT n.id, n.recipient_id, i.email AS "email?", n.subject, n.body
             FROM notification_outbox n
             LEFT JOIN identities i ON i.ext_id = n.recipient_id
            WHERE n.delivered_at IS NULL AND n.attempts < $1
            ORDER BY n.id
            LIMIT $2
            FOR UPDATE OF n SKIP LOCKED"#,
        MAX_ATTEMPTS,
        limit,
    )
    .fetch_all(&mut **tx)
    .await?)
}

/// Records a delivery.
pub async fn delivered(
    tx: &mut Transaction<'_, Postgres>,
    id: i64,
    channel: DeliveryChannel,
) -> Result<(), StoreError> {
    sqlx::query!(
        "UPDATE notification_outbox
            SET delivered_at = now(), attempts = attempts + 1, channel = $2, last_error = NULL
          WHERE id = $1",
        id,
        channel as _,
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Records a failed delivery attempt.
pub async fn failed(
    tx: &mut Transaction<'_, Postgres>,
    id: i64,
    error: &str,
) -> Result<(), StoreError> {
    sqlx::query!(
        "UPDATE notification_outbox SET attempts = attempts + 1, last_error = $2 WHERE id = $1",
        id,
        error,
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Opens the transaction a notifier pass runs in.
pub async fn begin(pool: &PgPool) -> Result<Transaction<'static, Postgres>, StoreError> {
    Ok(pool.begin().await?)
}
