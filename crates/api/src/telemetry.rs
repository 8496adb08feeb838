//! Request metrics (`rolemine_http_requests_total`, `rolemine_http_request_duration_seconds`),
//! per operation (the route's path pattern, so the label set stays small), method and status.
//! The process's recorder exports them (`--metrics-bind`); without one they cost nothing.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;

/// Counts and times every request that reached a route (or the 404 fallback, as `unmatched`).
pub async fn record(request: Request, next: Next) -> Response {
    let operation = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::histogram!(
        "rolemine_http_request_duration_seconds",
        "operation" => operation.clone(),
        "method" => method.clone()
    )
    .record(started.elapsed().as_secs_f64());
    metrics::counter!(
        "rolemine_http_requests_total",
        "operation" => operation,
        "method" => method,
        "status" => status
    )
    .increment(1);
    response
}
