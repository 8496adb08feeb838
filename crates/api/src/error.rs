//! The API's error type and its mapping to the contract's error bodies.
//!
//! Every failure a handler can meet is an [`ApiError`]; this module is the only place that
//! turns one into a status code and a body.

use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use rolemine_store::StoreError;
use serde::Serialize;
use uuid::Uuid;

/// A failed request.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request is malformed; the text says which part and why.
    #[error("{0}")]
    BadRequest(String),
    /// The addressed object does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The request body is over the configured size limit.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// A dependency (the database) cannot serve the request now.
    #[error("{0}")]
    Unavailable(String),
    /// A store failure the client cannot fix.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The contract's `ErrorResponseDto`.
#[derive(Debug, Serialize)]
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
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorMessageDto {
    /// Always `en-US`.
    pub locale: &'static str,
    /// Always `DEFAULT`.
    pub locale_origin: &'static str,
    /// The message.
    pub text: String,
}

impl ErrorResponseDto {
    /// A body with one message and a fresh tracking id.
    pub fn new(detail_code: &str, text: String) -> Self {
        Self {
            detail_code: detail_code.to_owned(),
            tracking_id: Uuid::new_v4().simple().to_string(),
            messages: vec![ErrorMessageDto {
                locale: "en-US",
                locale_origin: "DEFAULT",
                text,
            }],
            causes: Vec::new(),
        }
    }
}

impl ApiError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "400.1 Bad request content"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "404 Not found"),
            ApiError::PayloadTooLarge(_) => {
                (StatusCode::PAYLOAD_TOO_LARGE, "413 Payload too large")
            }
            ApiError::Unavailable(_) => {
                (StatusCode::SERVICE_UNAVAILABLE, "503 Service unavailable")
            }
            ApiError::Store(StoreError::NotFound { .. }) => {
                (StatusCode::NOT_FOUND, "404 Not found")
            }
            ApiError::Store(_) => (StatusCode::INTERNAL_SERVER_ERROR, "500.0 Internal Fault"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        // Internal details go to the log, not to the client.
        let text = if status.is_server_error() && !matches!(self, ApiError::Unavailable(_)) {
            "an internal error occurred; quote the tracking id when reporting it".to_owned()
        } else {
            self.to_string()
        };
        let body = ErrorResponseDto::new(code, text);
        if status.is_server_error() {
            tracing::error!(tracking_id = %body.tracking_id, error = %self, "request failed");
        } else {
            tracing::info!(tracking_id = %body.tracking_id, error = %self, "request rejected");
        }
        (status, Json(body)).into_response()
    }
}

/// Fallback for paths no route matches.
pub async fn not_found_route(uri: Uri) -> ApiError {
    ApiError::NotFound(format!("no operation is served at {}", uri.path()))
}
