//! What every handler can reach.

use rolemine_store::PgPool;

/// Shared, cheaply cloned application state.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The database pool.
    pub pool: PgPool,
}

impl AppState {
    /// State over an open pool.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}
