//! Per-request plumbing: the tracking id every error body and log line carries, and the
//! request timeout.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;
use uuid::Uuid;

use crate::error::ApiError;

tokio::task_local! {
    static TRACKING_ID: String;
}

/// The current request's tracking id (a fresh one outside a request).
pub fn tracking_id() -> String {
    TRACKING_ID
        .try_with(Clone::clone)
        .unwrap_or_else(|_| Uuid::new_v4().simple().to_string())
}

/// Gives the request a tracking id, logged on a span around everything it does.
pub async fn track(request: Request, next: Next) -> Response {
    let id = Uuid::new_v4().simple().to_string();
    let span = tracing::info_span!(
        "request",
        tracking_id = %id,
        method = %request.method(),
        path = %request.uri().path()
    );
    TRACKING_ID
        .scope(id, next.run(request).instrument(span))
        .await
}

/// Fails requests that run longer than the configured time.
pub async fn timeout(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::Timeout(limit).into_response(),
    }
}
