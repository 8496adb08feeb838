//! Rolemine's HTTP API: the axum router, the contract's request and response shapes, and the
//! one place where errors become HTTP responses.

pub mod error;
pub mod health;
pub mod imports;
pub mod state;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;

pub use error::ApiError;
pub use state::{AppState, Uploads};

/// Builds the complete router over `state`.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        .route(
            imports::PATH,
            // The handler streams the body to disk and enforces its own, configurable limit.
            post(imports::create).layer(DefaultBodyLimit::disable()),
        )
        .route(&format!("{}/{{id}}", imports::PATH), get(imports::get))
        .fallback(error::not_found_route)
        .with_state(state)
}
