//! Rolemine's HTTP API: the axum router, the contract's request and response shapes, and the
//! one place where errors become HTTP responses.

pub mod auth;
pub mod collection;
pub mod error;
pub mod exports;
pub mod health;
pub mod imports;
pub mod json;
pub mod json_patch;
pub mod openapi;
pub mod potential_roles;
pub mod provisioning;
pub mod query;
pub mod request;
pub mod routes;
pub mod sessions;
pub mod state;

use axum::extract::DefaultBodyLimit;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{get, post};
use axum::Router;

pub use auth::{Auth, AuthSettings};
pub use error::ApiError;
pub use state::{AppState, Uploads};

use auth::Access;

/// Builds the complete router over `state`.
pub fn router(state: AppState) -> Router {
    let mut contract = Router::new();
    for operation in routes::operations() {
        let handler = routes::guarded(&state, operation.access, operation.handler);
        for path in routes::mounted(operation.path) {
            contract = contract.route(&path, handler.clone());
        }
    }
    let contract = contract
        .layer(from_fn_with_state(state.request_timeout, request::timeout))
        .layer(DefaultBodyLimit::max(state.max_body_bytes));

    let imports = Router::new()
        .route(
            imports::PATH,
            // The handler streams the body to disk and enforces its own, configurable limit.
            routes::guarded(&state, Access::Manage, post(imports::create))
                .layer(DefaultBodyLimit::disable()),
        )
        .route(
            &format!("{}/{{id}}", imports::PATH),
            routes::guarded(&state, Access::Read, get(imports::get)),
        );

    let roles = Router::new()
        .route(
            "/rolemine/v1/roles",
            routes::guarded(&state, Access::Read, get(provisioning::list)),
        )
        .route(
            "/rolemine/v1/roles/{id}",
            routes::guarded(&state, Access::Read, get(provisioning::get)),
        );

    Router::new()
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        .route("/oauth/token", post(auth::token))
        .route("/openapi.json", get(openapi::serve))
        .merge(contract)
        .merge(imports)
        .merge(roles)
        .fallback(error::not_found_route)
        .layer(from_fn(request::edge))
        .layer(from_fn(request::track))
        .with_state(state)
}
