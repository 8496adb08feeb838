//! What every handler can reach.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rolemine_store::PgPool;

use crate::auth::Auth;

/// Shared, cheaply cloned application state.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The database pool.
    pub pool: PgPool,
    /// Where uploaded imports wait for a worker, and how large they may be.
    pub uploads: Uploads,
    /// Token keys and the rate limiter.
    pub auth: Arc<Auth>,
    /// The longest a contract operation may run.
    pub request_timeout: Duration,
    /// The largest JSON request body accepted.
    pub max_body_bytes: usize,
    /// Where asynchronous exports are stored.
    pub artifacts: rolemine_artifacts::Artifacts,
    /// Potential-role pages kept in memory while their session's read version holds.
    pub pages: crate::PageCache,
}

/// Upload settings for `POST /rolemine/v1/imports`.
#[derive(Clone, Debug)]
pub struct Uploads {
    /// A directory the workers can read too (the same path on a shared volume); absolute.
    pub dir: PathBuf,
    /// The largest accepted upload, in bytes.
    pub max_bytes: u64,
}
