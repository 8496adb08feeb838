//! Rolemine's HTTP API: the axum router, the contract's request and response shapes, and the
//! one place where errors become HTTP responses.

pub mod auth;
pub mod collection;
pub mod error;
pub mod exports;
pub mod health;
pub mod imports;
pub mod insights;
pub mod json;
pub mod json_patch;
pub mod openapi;
pub mod page_cache;
pub mod potential_roles;
pub mod provisioning;
pub mod query;
pub mod request;
pub mod routes;
pub mod sessions;
pub mod state;
pub mod telemetry;

use axum::extract::DefaultBodyLimit;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::get;
use axum::Router;

pub use auth::{Auth, AuthSettings};
pub use error::ApiError;
pub use page_cache::PageCache;
pub use state::{AppState, Uploads};

/// Builds the complete router over `state`.
pub fn router(state: AppState) -> Router {
    let mut contract = Router::new();
    for operation in routes::contract() {
        let handler = routes::guarded(&state, operation.access, operation.handler);
        for path in routes::mounted(&operation.path) {
            contract = contract.route(&path, handler.clone());
        }
    }
    let contract = contract
        .layer(from_fn_with_state(state.request_timeout, request::timeout))
        .layer(DefaultBodyLimit::max(state.max_body_bytes));

    let mut extensions = Router::new();
    for operation in routes::extensions() {
        let handler = routes::guarded(&state, operation.access, operation.handler);
        extensions = extensions.route(&operation.path, handler);
    }
    let upload = routes::upload();
    // The handler streams the body to disk and enforces its own, configurable limit.
    let upload_handler =
        routes::guarded(&state, upload.access, upload.handler).layer(DefaultBodyLimit::disable());
    let token = routes::token();

    Router::new()
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        .route(&token.path, token.handler)
        .route("/openapi.json", get(openapi::serve))
        .merge(contract)
        .merge(extensions)
        .route(&upload.path, upload_handler)
        .merge(rolemine_console::router())
        .fallback(error::not_found_route)
        .layer(from_fn(telemetry::record))
        .layer(from_fn(request::edge))
        .layer(from_fn(request::track))
        .with_state(state)
}
