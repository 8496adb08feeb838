//! Checking client secrets against their argon2 hashes without letting token requests take
//! the server's memory or CPU.
//!
//! An argon2 check is deliberately expensive (19 MiB and tens of milliseconds with the default
//! parameters). Run on the blocking pool, one per request, 64 concurrent requests took the
//! server past 13 GB that the allocator never gave back. Here a fixed number of threads (one
//! per core) do every check, each reusing one memory buffer, and a short queue in front of
//! them holds what waits; when it is full, the request is told to retry instead of queueing
//! without bound. Unknown client ids are checked against a dummy hash, so a client id cannot
//! be told to exist by how long the answer takes.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{Output, PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::oneshot;

/// Checks waiting for a thread before new ones are refused.
pub const QUEUE: usize = 32;

/// The verifier's queue is full: the client should retry shortly.
#[derive(Debug, thiserror::Error)]
#[error("too many token requests are being checked right now; retry shortly")]
pub struct Busy;

struct Check {
    secret: String,
    hash: String,
    reply: oneshot::Sender<bool>,
}

/// A fixed pool of threads checking secrets against stored hashes.
#[derive(Clone)]
pub struct Verifier {
    queue: SyncSender<Check>,
    dummy: Arc<str>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier").finish_non_exhaustive()
    }
}

impl Verifier {
    /// Starts `threads` checking threads (at least one). They stop when every clone of the
    /// verifier is gone.
    pub fn start(threads: usize) -> std::io::Result<Self> {
        let (queue, receiver) = sync_channel::<Check>(QUEUE);
        let receiver = Arc::new(Mutex::new(receiver));
        for n in 0..threads.max(1) {
            let receiver = Arc::clone(&receiver);
            std::thread::Builder::new()
                .name(format!("secret-check-{n}"))
                .spawn(move || serve(&receiver))?;
        }
        let dummy = hash(&random_secret()).map_err(std::io::Error::other)?;
        Ok(Self {
            queue,
            dummy: dummy.into(),
        })
    }

    /// Whether `secret` matches `hash`; with no hash (an unknown client), the same work
    /// against a dummy hash, and `false`.
    pub async fn verify(&self, secret: String, hash: Option<String>) -> Result<bool, Busy> {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.dummy.to_string());
        let (reply, answer) = oneshot::channel();
        match self.queue.try_send(Check {
            secret,
            hash,
            reply,
        }) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(Busy),
            Err(TrySendError::Disconnected(_)) => return Ok(false),
        }
        let matched = answer.await.unwrap_or(false);
        Ok(known && matched)
    }
}

/// New client credentials: a random client id (16 bytes) and secret (32 bytes), as hex.
pub fn new_credentials() -> (String, String) {
    (random_hex(16), random_hex(32))
}

fn random_hex(n: usize) -> String {
    use argon2::password_hash::rand_core::RngCore;
    let mut bytes = vec![0u8; n];
    OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// [`hash`] on the blocking pool: argon2 is deliberately slow.
pub async fn hash_off_runtime(secret: String) -> Result<String, String> {
    tokio::task::spawn_blocking(move || hash(&secret))
        .await
        .map_err(|err| err.to_string())?
}

/// A PHC-string argon2 hash of `secret` with the default parameters and a random salt.
pub fn hash(secret: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(secret.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|err| err.to_string())
}

fn random_secret() -> String {
    SaltString::generate(&mut OsRng).as_str().to_owned()
}

/// One checking thread: takes checks until the verifier is dropped.
fn serve(receiver: &Mutex<Receiver<Check>>) {
    let mut memory: Vec<Block> = Vec::new();
    loop {
        let next = match receiver.lock() {
            Ok(receiver) => receiver.recv(),
            Err(_) => return,
        };
        let Ok(check) = next else { return };
        let matched = matches(check.secret.as_bytes(), &check.hash, &mut memory);
        // The requester may have gone (timeout, closed connection): nothing to tell.
        let _ = check.reply.send(matched);
    }
}

/// Whether `secret` hashes to the PHC string `phc`, computing in `memory` (grown once to the
/// parameters' size and then reused). A malformed stored hash matches nothing.
fn matches(secret: &[u8], phc: &str, memory: &mut Vec<Block>) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        tracing::error!("a stored client secret hash is malformed");
        return false;
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let (Ok(params), Ok(algorithm)) = (
        Params::try_from(&parsed),
        Algorithm::try_from(parsed.algorithm),
    ) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from).transpose() {
        Ok(version) => version.unwrap_or_default(),
        Err(_) => return false,
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    memory.resize(params.block_count(), Block::default());
    let argon2 = Argon2::new(algorithm, version, params);
    let computed = Output::init_with(expected.len(), |out| {
        argon2
            .hash_password_into_with_memory(secret, salt, out, &mut memory[..])
            .map_err(Into::into)
    });
    // `Output`'s equality is constant-time.
    computed.is_ok_and(|computed| computed == expected)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::{hash, Verifier};

    #[tokio::test]
    async fn right_secret_matches_and_everything_else_does_not() {
        let verifier = Verifier::start(2).unwrap();
        let stored = hash("s3cret").unwrap();
        assert!(verifier
            .verify("s3cret".into(), Some(stored.clone()))
            .await
            .unwrap());
        assert!(!verifier.verify("wrong".into(), Some(stored)).await.unwrap());
        assert!(!verifier.verify("s3cret".into(), None).await.unwrap());
        assert!(!verifier
            .verify("s3cret".into(), Some("$argon2id$garbage".into()))
            .await
            .unwrap());
    }
}
