//! The notifier: delivers the notification outbox by SMTP when a mail server is configured,
//! otherwise writes each message to the log. Several notifiers (one per worker process) share
//! the outbox; each claims messages with `SKIP LOCKED`.

use std::time::Duration;

use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use rolemine_domain::DeliveryChannel;
use rolemine_store::notifications::{self, Pending};
use rolemine_store::{PgPool, StoreError};
use tokio_util::sync::CancellationToken;

/// Messages handled per pass.
const BATCH: i64 = 20;

/// Where notifications go.
#[derive(Debug, Clone)]
pub struct MailSettings {
    /// An SMTP URL (`smtp://host:25`, `smtp://host:587?tls=required`, `smtps://user:pass@host`);
    /// `None`: log only.
    pub smtp_url: Option<String>,
    /// The sender address.
    pub from: String,
}

/// Why the notifier cannot start.
#[derive(Debug, thiserror::Error)]
pub enum NotifierError {
    /// The SMTP URL is not usable.
    #[error("invalid SMTP URL: {0}")]
    SmtpUrl(String),
    /// The sender address is not an address.
    #[error("invalid sender address {0:?}: {1}")]
    From(String, String),
}

/// A configured SMTP transport and sender.
#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

impl Mailer {
    /// The mailer `settings` describe; `None` when no SMTP server is configured.
    pub fn from_settings(settings: &MailSettings) -> Result<Option<Self>, NotifierError> {
        let Some(url) = &settings.smtp_url else {
            return Ok(None);
        };
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|err| NotifierError::SmtpUrl(err.to_string()))?
            .timeout(Some(Duration::from_secs(20)))
            .build();
        let from: Mailbox =
            settings
                .from
                .parse()
                .map_err(|err: lettre::address::AddressError| {
                    NotifierError::From(settings.from.clone(), err.to_string())
                })?;
        Ok(Some(Self { transport, from }))
    }
}

/// Delivers the outbox until shut down.
#[derive(Debug)]
pub struct Notifier {
    pool: PgPool,
    mailer: Option<Mailer>,
    interval: Duration,
}

impl Notifier {
    /// A notifier on `pool` sending with `mailer` (or logging without one), polling every
    /// `interval`.
    pub fn new(pool: PgPool, mailer: Option<Mailer>, interval: Duration) -> Self {
        Self {
            pool,
            mailer,
            interval,
        }
    }

    /// Runs passes until `shutdown` fires.
    pub async fn run(self, shutdown: CancellationToken) {
        loop {
            match self.pass().await {
                Ok(0) => {}
                Ok(handled) => {
                    tracing::debug!(handled, "notifications handled");
                    continue;
                }
                Err(err) => tracing::warn!(error = %err, "cannot read the notification outbox"),
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(self.interval) => {}
            }
        }
    }

    /// Handles one batch; returns how many messages it handled.
    pub async fn pass(&self) -> Result<usize, StoreError> {
        let mut tx = notifications::begin(&self.pool).await?;
        let pending = notifications::claim(&mut tx, BATCH).await?;
        for message in &pending {
            match self.deliver(message).await {
                Ok(channel) => notifications::delivered(&mut tx, message.id, channel).await?,
                Err(error) => {
                    tracing::warn!(notification = message.id, %error, "notification not delivered; will retry");
                    notifications::failed(&mut tx, message.id, &error).await?;
                }
            }
        }
        tx.commit().await?;
        Ok(pending.len())
    }

    async fn deliver(&self, message: &Pending) -> Result<DeliveryChannel, String> {
        let log = |reason: &str| {
            tracing::info!(
                notification = message.id,
                recipient = %message.recipient_id,
                subject = %message.subject,
                body = %message.body,
                "notification ({reason})"
            );
        };
        let Some(Mailer { transport, from }) = &self.mailer else {
            log("no SMTP server configured");
            return Ok(DeliveryChannel::Log);
        };
        let Some(address) = message.email.as_deref() else {
            log("the recipient has no email address");
            return Ok(DeliveryChannel::Log);
        };
        let to: Mailbox = address
            .parse()
            .map_err(|err| format!("the recipient's address {address:?} is not valid: {err}"))?;
        let email = Message::builder()
            .from(from.clone())
            .to(to)
            .subject(message.subject.clone())
            .body(message.body.clone())
            .map_err(|err| format!("cannot build the message: {err}"))?;
        transport
            .send(email)
            .await
            .map_err(|err| format!("SMTP delivery failed: {err}"))?;
        tracing::info!(notification = message.id, to = address, "notification sent");
        Ok(DeliveryChannel::Smtp)
    }
}
