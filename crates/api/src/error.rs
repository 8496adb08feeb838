//! The API's error type and its mapping to the contract's error bodies.
//!
//! Every failure a handler or middleware can meet is an [`ApiError`]; this module is the only
//! place that turns one into a status code and a body: `ErrorResponseDto` for 400, 403, 404,
//! 413 and 5xx, `{"error": ...}` for 401 and `{"message": ...}` with `Retry-After` for 429, as
//! the contract's responses are shaped.

use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use rolemine_store::{Refusal, StoreError, Transient};
use serde::Serialize;

use crate::request;

/// A failed request.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed; the text says which part and why.
    #[error("{0}")]
    BadRequest(String),
    /// No valid bearer token: missing, malformed, expired, forged or of a revoked client.
    #[error("{0}")]
    Unauthorized(String),
    /// The token is valid but lacks the operation's scope.
    #[error("{0}")]
    Forbidden(String),
    /// The addressed object does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The request body is over the configured size limit.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The client exceeded its request rate; it may retry after the delay.
    #[error("rate limit exceeded; retry after {} s", retry_after.as_secs().max(1))]
    TooManyRequests {
        /// How long until a request would be admitted.
        retry_after: Duration,
    },
    /// The request took longer than the configured timeout.
    #[error("the request did not complete within {} s", .0.as_secs())]
    Timeout(Duration),
    /// The database stopped one of the request's statements at the request timeout.
    #[error("the request did not complete within the request timeout: the database stopped its query; narrow the filters or page with a smaller limit")]
    QueryTimeout,
    /// A dependency (the database) cannot serve the request now; clients may retry shortly.
    #[error("{0}")]
    Unavailable(String),
    /// The HTTP layer refused the request (wrong method, URI or headers too long, ...) with
    /// `status`; the text says why.
    #[error("{message}")]
    Refused {
        /// The status the framework chose.
        status: StatusCode,
        /// What was wrong.
        message: String,
    },
    /// A store failure the client cannot fix.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A response body could not be encoded (a fault of ours, logged, never shown).
    #[error("cannot encode the response: {0}")]
    Encode(#[from] serde_json::Error),
}

/// The contract's `ErrorResponseDto`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorResponseDto {
    /// A fine-grained error identifier.
    pub detail_code: String,
    /// Unique per request; also written to the log, to find the request from a client report.
    pub tracking_id: String,
    /// Human-readable messages.
    pub messages: Vec<ErrorMessageDto>,
    /// Underlying causes, if any.
    pub causes: Vec<ErrorMessageDto>,
}

/// One localized message in an [`ErrorResponseDto`].
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorMessageDto {
    /// Always `en-US`.
    pub locale: &'static str,
    /// Always `DEFAULT`.
    pub locale_origin: &'static str,
    /// The message.
    pub text: String,
}

/// The contract's 401 body.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UnauthorizedDto {
    /// Why the token was refused.
    pub error: String,
}

/// The contract's 429 body (with a `Retry-After` header).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RateLimitedDto {
    /// What happened and when to retry.
    pub message: String,
}

/// The failures every guarded operation can answer with, for the OpenAPI document
/// (`responses(..., GuardedErrors)`).
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum GuardedErrors {
    /// No valid bearer token.
    #[response(
        status = 401,
        description = "No valid token: missing, malformed, expired, forged or revoked"
    )]
    Unauthorized(UnauthorizedDto),
    /// The token lacks the operation's scope.
    #[response(status = 403, description = "The token lacks the operation's scope")]
    Forbidden(ErrorResponseDto),
    /// Over the client's rate.
    #[response(status = 429, description = "Rate limited; see Retry-After")]
    RateLimited(RateLimitedDto),
    /// An internal fault.
    #[response(status = 500, description = "Internal fault; quote the trackingId")]
    Internal(ErrorResponseDto),
}

impl ErrorResponseDto {
    /// A body with one message and the current request's tracking id.
    pub fn new(detail_code: &str, text: String) -> Self {
        Self {
            detail_code: detail_code.to_owned(),
            tracking_id: request::tracking_id(),
            messages: vec![ErrorMessageDto {
                locale: "en-US",
                locale_origin: "DEFAULT",
                text,
            }],
            causes: Vec::new(),
        }
    }
}

/// Seconds a client should wait before retrying a 503.
const UNAVAILABLE_RETRY_AFTER: &str = "1";

impl ApiError {
    /// A store failure as the client should see it: an unreachable or overloaded database is
    /// a 503 to retry, not an internal fault.
    fn classify(self) -> Self {
        match self {
            ApiError::Store(err) if err.is_statement_timeout() => ApiError::QueryTimeout,
            ApiError::Store(StoreError::Refused(refusal)) => {
                ApiError::BadRequest(refusal_message(&refusal))
            }
            ApiError::Store(err) => match err.transient() {
                Some(Transient::Unreachable) => ApiError::Unavailable(format!(
                    "the database is unavailable or busy ({err}); retry shortly"
                )),
                Some(Transient::ConnectionLost) => ApiError::Unavailable(
                    "the connection to the database was lost; retry shortly".to_owned(),
                ),
                Some(Transient::Contended) | None => ApiError::Store(err),
            },
            other => other,
        }
    }

    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::Refused { status, .. } => (*status, refused_code(*status)),
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "400.1 Bad request content"),
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "401 Unauthorized"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "403 Forbidden"),
            ApiError::NotFound(_) | ApiError::Store(StoreError::NotFound { .. }) => {
                (StatusCode::NOT_FOUND, "404 Not found")
            }
            ApiError::PayloadTooLarge(_) => {
                (StatusCode::PAYLOAD_TOO_LARGE, "413 Payload too large")
            }
            ApiError::TooManyRequests { .. } => {
                (StatusCode::TOO_MANY_REQUESTS, "429 Too many requests")
            }
            ApiError::Unavailable(_) => {
                (StatusCode::SERVICE_UNAVAILABLE, "503 Service unavailable")
            }
            ApiError::Timeout(_)
            | ApiError::QueryTimeout
            | ApiError::Store(_)
            | ApiError::Encode(_) => (StatusCode::INTERNAL_SERVER_ERROR, "500.0 Internal Fault"),
        }
    }
}

/// Ids listed in a message before "and N more".
const LISTED_IDS: usize = 10;

/// `"a", "b" and 3 more`: the first ids of a list a message is about.
pub(crate) fn listed_ids(ids: &[String]) -> String {
    let listed: Vec<String> = ids
        .iter()
        .take(LISTED_IDS)
        .map(|id| format!("{id:?}"))
        .collect();
    match ids.len().saturating_sub(LISTED_IDS) {
        0 => listed.join(", "),
        more => format!("{} and {more} more", listed.join(", ")),
    }
}

/// A refusal as the client reads it: the request field it concerns, then why.
fn refusal_message(refusal: &Refusal) -> String {
    match refusal {
        Refusal::EntitlementsNotHeld(ids) => {
            format!(
                "ids: the potential role holds no entitlement {}",
                listed_ids(ids)
            )
        }
        other => other.to_string(),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let this = self.classify();
        let (status, code) = this.status_and_code();
        let tracking_id = request::tracking_id();
        if status.is_server_error() {
            tracing::error!(%tracking_id, error = %this, "request failed");
        } else {
            tracing::info!(%tracking_id, error = %this, "request rejected");
        }
        match this {
            ApiError::Unauthorized(message) => {
                let mut response =
                    (status, Json(UnauthorizedDto { error: message })).into_response();
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                response
            }
            ApiError::TooManyRequests { retry_after } => {
                metrics::counter!("rolemine_rate_limited_total").increment(1);
                let seconds = retry_after.as_secs_f64().ceil().max(1.0) as u64;
                let body = RateLimitedDto {
                    message: format!("Rate limit exceeded; retry after {seconds} s"),
                };
                let mut response = (status, Json(body)).into_response();
                if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
                    response.headers_mut().insert(header::RETRY_AFTER, value);
                }
                response
            }
            ApiError::Unavailable(message) => {
                let mut response =
                    (status, Json(ErrorResponseDto::new(code, message))).into_response();
                response.headers_mut().insert(
                    header::RETRY_AFTER,
                    HeaderValue::from_static(UNAVAILABLE_RETRY_AFTER),
                );
                response
            }
            other => {
                // Internal details go to the log, not to the client.
                let internal = matches!(other, ApiError::Store(_) | ApiError::Encode(_))
                    && !status.is_client_error();
                let text = if internal {
                    "an internal error occurred; quote the tracking id when reporting it".to_owned()
                } else {
                    other.to_string()
                };
                (status, Json(ErrorResponseDto::new(code, text))).into_response()
            }
        }
    }
}

/// The detail code of a status the HTTP layer chose.
fn refused_code(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "400.1 Bad request content",
        404 => "404 Not found",
        405 => "405 Method not allowed",
        408 => "408 Request timeout",
        411 => "411 Length required",
        413 => "413 Payload too large",
        414 => "414 URI too long",
        415 => "415 Unsupported media type",
        422 => "422 Unprocessable content",
        431 => "431 Request header fields too large",
        503 => "503 Service unavailable",
        s if s >= 500 => "500.0 Internal Fault",
        _ => "400.0 Bad request",
    }
}

/// The UUID a path segment names. Anything else names nothing, so it is the same 404, with the
/// text `missing`, as an unknown id.
pub fn path_id(raw: &str, missing: &str) -> Result<uuid::Uuid, ApiError> {
    uuid::Uuid::parse_str(raw).map_err(|_| ApiError::NotFound(missing.to_owned()))
}

/// `result` of looking up what a path names, its "not found" a 404 with the text `missing`
/// (which names the path's ids as the client gave them).
pub fn or_missing<T>(result: Result<T, StoreError>, missing: &str) -> Result<T, ApiError> {
    match result {
        Err(StoreError::NotFound { .. }) => Err(ApiError::NotFound(missing.to_owned())),
        other => other.map_err(ApiError::from),
    }
}

/// Fallback for paths no route matches.
pub async fn not_found_route(uri: Uri) -> ApiError {
    ApiError::NotFound(format!("no operation is served at {}", uri.path()))
}
