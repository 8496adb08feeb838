//! `exportRoleMiningPotentialRole`: a potential role as a zip of CSVs, streamed.

use std::io::{BufWriter, Seek, SeekFrom};

use axum::body::Body;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use rolemine_domain::ExportState;
use rolemine_store::exports::{self, ExportFilter, ExportRecord};
use serde::{Deserialize, Serialize};
use tokio_util::io::ReaderStream;
use utoipa::ToSchema;

use crate::error::{or_missing, path_id, ApiError, ErrorResponseDto, GuardedErrors};
use crate::potential_roles::role_in_session;
use crate::query::QueryParams;
use crate::state::AppState;
use rolemine_store::potential_roles::RoleRow;

/// The export's entitlement filter from the query string (an extension of the synchronous
/// operation, which the contract gives no parameters): `minEntitlementPopularity` (0-100,
/// default 0) and `includeCommonAccess` (default `true`), as the asynchronous export's body.
#[derive(Debug, Clone, Copy)]
pub struct ExportQuery(pub ExportFilter);

impl<S: Send + Sync> FromRequestParts<S> for ExportQuery {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let params = QueryParams::from_request_parts(parts, state).await?;
        Ok(Self(ExportFilter {
            min_entitlement_popularity: params.percent("minEntitlementPopularity", 0)?,
            include_common_access: params.flag("includeCommonAccess", true)?,
        }))
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
    let name = file_name(&row.name, &row.id.to_string());
    temporary_zip(&name, |file| async move {
        let (writer, counts) =
            exports::write_zip_blocking(&state.pool, row.id, filter, file).await?;
        tracing::info!(role = %row.id, ?counts, "potential role exported");
        Ok(writer)
    })
    .await
}

/// A zip `write` makes in a temporary file, sent as the download `name`: written whole first,
/// so a failure is an error response rather than a truncated download.
pub(crate) async fn temporary_zip<F, Fut>(name: &str, write: F) -> Result<Response, ApiError>
where
    F: FnOnce(BufWriter<std::fs::File>) -> Fut,
    Fut: std::future::Future<Output = Result<BufWriter<std::fs::File>, rolemine_store::StoreError>>,
{
    let temporary = |err: std::io::Error| {
        ApiError::Unavailable(format!(
            "cannot write the export to a temporary file: {err}"
        ))
    };
    let file = tempfile::tempfile().map_err(temporary)?;
    let writer = write(BufWriter::new(file)).await?;
    let mut file = writer
        .into_inner()
        .map_err(|err| temporary(err.into_error()))?;
    let size = file.seek(SeekFrom::End(0)).map_err(temporary)?;
    file.seek(SeekFrom::Start(0)).map_err(temporary)?;
    let body = Body::from_stream(ReaderStream::new(tokio::fs::File::from_std(file)));
    Ok(zip_response(body, size, name))
}

/// The contract's `RoleMiningPotentialRoleExportRequest`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RoleMiningPotentialRoleExportRequest {
    /// Leave out entitlements held by fewer than this percent of the members (0-100).
    pub min_entitlement_popularity: Option<i64>,
    /// Keep common-access entitlements (default true).
    pub include_common_access: Option<bool>,
}

/// The contract's `RoleMiningPotentialRoleExportResponse`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RoleMiningPotentialRoleExportResponse {
    /// The popularity floor asked for.
    pub min_entitlement_popularity: i32,
    /// Whether common access is included.
    pub include_common_access: bool,
    /// The export's id.
    pub export_id: String,
    /// `QUEUED`, `IN_PROGRESS`, `SUCCESS` or `ERROR`.
    pub status: ExportState,
    /// Extension: why the export failed, in status `ERROR`.
    pub error_message: Option<String>,
    /// Extension: when the download stops being served, once `SUCCESS`.
    pub expires_at: Option<DateTime<Utc>>,
}

impl From<ExportRecord> for RoleMiningPotentialRoleExportResponse {
    fn from(record: ExportRecord) -> Self {
        Self {
            min_entitlement_popularity: record.min_entitlement_popularity,
            include_common_access: record.include_common_access,
            export_id: record.id.to_string(),
            status: record.state,
            error_message: record.error_message,
            expires_at: record.expires_at,
        }
    }
}

/// `exportRoleMiningPotentialRoleAsync`: records the export and queues its job; 202.
#[utoipa::path(
    post,
    path = "/role-mining-sessions/{sessionId}/potential-roles/{potentialRoleId}/export-async",
    operation_id = "exportRoleMiningPotentialRoleAsync",
    tag = "IAI Role Mining",
    params(
        ("sessionId" = String, Path, description = "The session id"),
        ("potentialRoleId" = String, Path, description = "The potential role id"),
    ),
    request_body = RoleMiningPotentialRoleExportRequest,
    responses(
        (status = 202, description = "Queued", body = RoleMiningPotentialRoleExportResponse),
        (status = 400, description = "Bad request", body = ErrorResponseDto),
        (status = 404, description = "Unknown session or potential role", body = ErrorResponseDto),
        GuardedErrors,
    ),
    security(("applicationAuth" = ["iai:access-modeling:manage"]))
)]
pub async fn export_async(
    State(state): State<AppState>,
    Path((session_id, role)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let row = role_in_session(&state, &session_id, &role).await?;
    // The body is optional: no body means the defaults.
    let request: RoleMiningPotentialRoleExportRequest = crate::json::parse_or_default(&body)?;
    let mut filter = ExportFilter::default();
    if let Some(min) = request.min_entitlement_popularity {
        filter.min_entitlement_popularity = i32::try_from(min)
            .ok()
            .filter(|p| (0..=100).contains(p))
            .ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "minEntitlementPopularity: must be from 0 to 100, got {min}"
                ))
            })?;
    }
    if let Some(include) = request.include_common_access {
        filter.include_common_access = include;
    }
    let record = exports::create(&state.pool, row.id, filter).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(RoleMiningPotentialRoleExportResponse::from(record)),
    )
        .into_response())
}

/// The role in the path and its export `export_id`, or a 404 naming what is missing.
async fn export_of(
    state: &AppState,
    session_id: &str,
    role: &str,
    export_id: &str,
) -> Result<(RoleRow, ExportRecord), ApiError> {
    let row = role_in_session(state, session_id, role).await?;
    let missing = format!("export {export_id} of potential role {role} not found");
    let id = path_id(export_id, &missing)?;
    let record = or_missing(exports::get(&state.pool, Some(row.id), id).await, &missing)?;
    Ok((row, record))
}

/// `exportRoleMiningPotentialRoleStatus`.
#[utoipa::path(
    get,
    path = "/role-mining-sessions/{sessionId}/potential-roles/{potentialRoleId}/export-async/{exportId}",
    operation_id = "exportRoleMiningPotentialRoleStatus",
    tag = "IAI Role Mining",
    params(
        ("sessionId" = String, Path, description = "The session id"),
        ("potentialRoleId" = String, Path, description = "The potential role id"),
        ("exportId" = String, Path, description = "The export id"),
    ),
    responses(
        (status = 200, description = "The export's state", body = RoleMiningPotentialRoleExportResponse),
        (status = 404, description = "Unknown session, potential role or export", body = ErrorResponseDto),
        GuardedErrors,
    ),
    security(("applicationAuth" = ["iai:access-modeling:read", "iai:access-modeling:manage"]))
)]
pub async fn export_status(
    State(state): State<AppState>,
    Path((session_id, role, export_id)): Path<(String, String, String)>,
) -> Result<Json<RoleMiningPotentialRoleExportResponse>, ApiError> {
    let (_, record) = export_of(&state, &session_id, &role, &export_id).await?;
    Ok(Json(record.into()))
}

/// `downloadRoleMiningPotentialRoleZip`: the zip once `SUCCESS`, from the artifact store.
#[utoipa::path(
    get,
    path = "/role-mining-sessions/{sessionId}/potential-roles/{potentialRoleId}/export-async/{exportId}/download",
    operation_id = "downloadRoleMiningPotentialRoleZip",
    tag = "IAI Role Mining",
    params(
        ("sessionId" = String, Path, description = "The session id"),
        ("potentialRoleId" = String, Path, description = "The potential role id"),
        ("exportId" = String, Path, description = "The export id"),
    ),
    responses(
        (status = 200, description = "identities.csv, entitlements.csv and missing_access.csv", content_type = "application/zip", body = Vec<u8>),
        (status = 400, description = "Not downloadable: still running, failed, or expired", body = ErrorResponseDto),
        (status = 404, description = "Unknown session, potential role or export", body = ErrorResponseDto),
        GuardedErrors,
    ),
    security(("applicationAuth" = ["iai:access-modeling:read", "iai:access-modeling:manage"]))
)]
pub async fn download(
    State(state): State<AppState>,
    Path((session_id, role, export_id)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let (row, record) = export_of(&state, &session_id, &role, &export_id).await?;
    if record.state != ExportState::Success {
        return Err(ApiError::BadRequest(format!(
            "export {export_id} is {}, not SUCCESS; download it once its status is SUCCESS{}",
            record.state,
            record
                .error_message
                .as_deref()
                .map(|m| format!(" ({m})"))
                .unwrap_or_default()
        )));
    }
    let expired = record.expires_at.is_some_and(|at| at <= Utc::now());
    let key = match record.artifact_key {
        Some(key) if !expired => key,
        _ => {
            return Err(ApiError::BadRequest(format!(
                "export {export_id} expired{}; request a new export",
                record
                    .expires_at
                    .map(|at| format!(" at {}", at.to_rfc3339()))
                    .unwrap_or_default()
            )))
        }
    };
    let found = state
        .artifacts
        .get(&key)
        .await
        .map_err(|err| ApiError::Unavailable(format!("cannot read the export: {err}")))?;
    Ok(zip_response(
        Body::from_stream(found.stream),
        found.size,
        &file_name(&row.name, &row.id.to_string()),
    ))
}

/// A 200 `application/zip` response offering `body` as the file `name`.
fn zip_response(body: Body, size: u64, name: &str) -> Response {
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/zip"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
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
        assert_eq!(file_name("\"quoted\"/..", "x"), "quoted-x.zip");
    }
}
