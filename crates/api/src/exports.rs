//! `exportRoleMiningPotentialRole`: a potential role as a zip of CSVs, streamed.

use std::collections::HashMap;
use std::io::{BufWriter, Seek, SeekFrom};

use axum::body::Body;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use rolemine_store::exports::{self, ExportFilter};
use tokio_util::io::ReaderStream;

use crate::error::{ApiError, ErrorResponseDto, GuardedErrors};
use crate::potential_roles::role_in_session;
use crate::state::AppState;

/// The export's entitlement filter from the query string (an extension of the synchronous
/// operation, which the contract gives no parameters): `minEntitlementPopularity` (0-100,
/// default 0) and `includeCommonAccess` (default `true`), as the asynchronous export's body.
#[derive(Debug, Clone, Copy)]
pub struct ExportQuery(pub ExportFilter);

impl<S: Send + Sync> FromRequestParts<S> for ExportQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Query(params) = Query::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|rejection| {
                ApiError::BadRequest(format!(
                    "the query string is malformed: {}",
                    rejection.body_text()
                ))
            })?;
        let mut filter = ExportFilter::default();
        if let Some(raw) = params.get("minEntitlementPopularity") {
            filter.min_entitlement_popularity = raw
                .trim()
                .parse::<i32>()
                .ok()
                .filter(|p| (0..=100).contains(p))
                .ok_or_else(|| {
                    ApiError::BadRequest(format!(
                        "minEntitlementPopularity: must be a whole number from 0 to 100, got {raw:?}"
                    ))
                })?;
        }
        if let Some(raw) = params.get("includeCommonAccess") {
            filter.include_common_access = match raw.trim().to_ascii_lowercase().as_str() {
                "true" => true,
                "false" => false,
                _ => {
                    return Err(ApiError::BadRequest(format!(
                        "includeCommonAccess: must be true or false, got {raw:?}"
                    )))
                }
            };
        }
        Ok(Self(filter))
    }
}

/// A file name for the role's export: its name with anything but letters, digits, `-` and `_`
/// made `-`, then its id.
fn file_name(name: &str, id: &str) -> String {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("{}-{id}.zip", safe.trim_matches('-'))
}

/// `exportRoleMiningPotentialRole`: the zip is written to an unnamed temporary file (removed
/// when the response ends), then streamed; memory stays flat whatever the role's size.
#[utoipa::path(
    get,
    path = "/role-mining-sessions/{sessionId}/potential-roles/{potentialRoleId}/export",
    operation_id = "exportRoleMiningPotentialRole",
    tag = "IAI Role Mining",
    params(
        ("sessionId" = String, Path, description = "The session id"),
        ("potentialRoleId" = String, Path, description = "The potential role id"),
        ("minEntitlementPopularity" = Option<i32>, Query, description = "Extension: leave out entitlements held by fewer than this percent of the members (0-100, default 0)"),
        ("includeCommonAccess" = Option<bool>, Query, description = "Extension: keep common-access entitlements (default true)"),
    ),
    responses(
        (status = 200, description = "identities.csv, entitlements.csv and missing_access.csv", content_type = "application/zip", body = Vec<u8>),
        (status = 400, description = "Bad query parameters", body = ErrorResponseDto),
        (status = 404, description = "Unknown session or potential role", body = ErrorResponseDto),
        GuardedErrors,
    ),
    security(("applicationAuth" = ["iai:access-modeling:read", "iai:access-modeling:manage"]))
)]
pub async fn export(
    State(state): State<AppState>,
    Path((session_id, role)): Path<(String, String)>,
    ExportQuery(filter): ExportQuery,
) -> Result<Response, ApiError> {
    let row = role_in_session(&state, &session_id, &role).await?;
    let temporary = |err: std::io::Error| {
        ApiError::Unavailable(format!(
            "cannot write the export to a temporary file: {err}"
        ))
    };
    let file = tempfile::tempfile().map_err(temporary)?;
    let (writer, counts) =
        exports::write_zip(&state.pool, row.id, filter, BufWriter::new(file)).await?;
    let mut file = writer
        .into_inner()
        .map_err(|err| temporary(err.into_error()))?;
    let size = file.seek(SeekFrom::End(0)).map_err(temporary)?;
    file.seek(SeekFrom::Start(0)).map_err(temporary)?;
    tracing::info!(role = %row.id, ?counts, bytes = size, "potential role exported");
    let body = Body::from_stream(ReaderStream::new(tokio::fs::File::from_std(file)));
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/zip"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    let disposition = format!(
        "attachment; filename=\"{}\"",
        file_name(&row.name, &row.id.to_string())
    );
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::file_name;

    #[test]
    fn file_names_keep_only_safe_characters() {
        assert_eq!(
            file_name("Potential role 3", "abc"),
            "Potential-role-3-abc.zip"
        );
        assert_eq!(file_name("\"quoted\"/..", "x"), "quoted----x.zip");
    }
}
