//! Rolemine's HTTP API: the axum router, the contract's request and response shapes, and the
//! one place where errors become HTTP responses.

pub mod error;
pub mod health;
pub mod state;

use axum::routing::get;
use axum::Router;

pub use error::ApiError;
pub use state::AppState;

/// Builds the complete router over `state`.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        .fallback(error::not_found_route)
        .with_state(state)
}
