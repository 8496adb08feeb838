//! What every handler can reach.

use std::path::PathBuf;

use rolemine_store::PgPool;

/// Shared, cheaply cloned application state.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The database pool.
    pub pool: PgPool,
    /// Where uploaded imports wait for a worker, and how large they may be.
    pub uploads: Uploads,
}

/// Upload settings for `POST /rolemine/v1/imports`.
#[derive(Clone, Debug)]
pub struct Uploads {
    /// A directory the workers can read too (the same path on a shared volume); absolute.
    pub dir: PathBuf,
    /// The largest accepted upload, in bytes.
    pub max_bytes: u64,
}

impl AppState {
    /// State over an open pool.
    pub fn new(pool: PgPool, uploads: Uploads) -> Self {
        Self { pool, uploads }
    }
}
