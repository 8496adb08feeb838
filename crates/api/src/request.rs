//! Per-request plumbing: the tracking id every error body and log line carries, the checks
//! every request passes before routing (URI, headers, path encoding), the contract's error
//! body on whatever the HTTP framework refuses by itself, and the request timeout.

use std::time::Duration;

use axum::body::to_bytes;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
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

/// The longest request URI (path and query) accepted: room for the longest filter (10,000
/// bytes), percent-encoded.
pub const MAX_URI_BYTES: usize = 32 * 1024;
/// The most bytes all request headers (names and values) may hold together.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;
/// The most bytes of a framework error body kept as the message of the contract body.
const MAX_REFUSAL_TEXT: usize = 1024;

/// Checks the request before routing, and gives every error the framework answers by itself
/// (405, a path that does not decode, a body over the limit) the contract's body. An error
/// answered to a request whose body may not have been read closes the connection, so the
/// client does not send its next request into the rest of that body.
pub async fn edge(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let has_body = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .is_some_and(|length| length.as_bytes() != b"0")
        || request.headers().contains_key(header::TRANSFER_ENCODING);
    let response = match admissible(&request) {
        Ok(()) => next.run(request).await,
        Err(err) => err.into_response(),
    };
    let mut response = with_contract_body(response, &method, &path).await;
    if has_body && (response.status().is_client_error() || response.status().is_server_error()) {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// The URI and header limits, and a path that decodes to text PostgreSQL can hold.
fn admissible(request: &Request) -> Result<(), ApiError> {
    let uri = request.uri();
    let uri_length = uri.path_and_query().map_or(0, |p| p.as_str().len());
    if uri_length > MAX_URI_BYTES {
        return Err(ApiError::Refused {
            status: StatusCode::URI_TOO_LONG,
            message: format!(
                "the request URI is {uri_length} bytes long; at most {MAX_URI_BYTES} are accepted"
            ),
        });
    }
    let header_bytes: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if header_bytes > MAX_HEADER_BYTES {
        return Err(ApiError::Refused {
            status: StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            message: format!(
                "the request headers hold {header_bytes} bytes; at most {MAX_HEADER_BYTES} are accepted"
            ),
        });
    }
    let decoded: Vec<u8> = percent_encoding::percent_decode_str(uri.path()).collect();
    if std::str::from_utf8(&decoded).is_err() {
        return Err(ApiError::BadRequest(
            "the request path is not valid UTF-8 once percent-decoded".to_owned(),
        ));
    }
    if decoded.contains(&0) {
        return Err(ApiError::BadRequest(
            "the request path contains a NUL character (%00), which no id holds".to_owned(),
        ));
    }
    Ok(())
}

/// `response` itself, or, when it is an error without a JSON body (the framework's own 405,
/// 413, path and query rejections), the contract's `ErrorResponseDto` for its status.
async fn with_contract_body(response: Response, method: &Method, path: &str) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    let message = if status == StatusCode::METHOD_NOT_ALLOWED {
        // The router adds `Allow` after this layer has run, so the header (not this text)
        // lists the methods.
        format!("{method} is not served at {path}; the Allow header lists the methods that are")
    } else {
        let text = to_bytes(body, MAX_REFUSAL_TEXT)
            .await
            .map(|bytes| String::from_utf8_lossy(&bytes).trim().to_owned())
            .unwrap_or_default();
        if text.is_empty() {
            status
                .canonical_reason()
                .unwrap_or("the request was refused")
                .to_owned()
        } else {
            text
        }
    };
    let mut rebuilt = ApiError::Refused { status, message }.into_response();
    for name in [header::ALLOW, header::RETRY_AFTER] {
        if let Some(value) = parts.headers.get(&name) {
            rebuilt.headers_mut().insert(name, value.clone());
        }
    }
    rebuilt
}
