//! `POST /rolemine/v1/imports` and `GET /rolemine/v1/imports/{id}`: access data uploaded as a
//! zip, loaded by an `import` job.
//!
//! The body is streamed to a file in the upload directory, never held in memory, and counted
//! as it arrives so an upload over the limit is cut off at the limit (or refused before a byte
//! is read when its `Content-Length` says so). The zip's directory is checked before the job is
//! queued, so a truncated or foreign file is a 400 at once rather than a failed job later.

use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use rolemine_dataset::DataSource;
use rolemine_domain::ImportState;
use rolemine_store::import::AccessCounts;
use rolemine_store::imports::{self, ImportRecord};
use serde::Serialize;
use tokio::io::AsyncWriteExt;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::{or_missing, path_id, ApiError, ErrorResponseDto, GuardedErrors};
use crate::state::AppState;

/// The collection's path.
pub const PATH: &str = "/rolemine/v1/imports";

/// Row totals in the database after an import.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportCountsDto {
    /// Identities.
    pub identities: i64,
    /// Entitlements.
    pub entitlements: i64,
    /// Sources (applications).
    pub sources: i64,
    /// Identity × entitlement assignments.
    pub assignments: i64,
    /// Usage rows.
    pub usage: i64,
    /// Existing roles.
    pub roles: i64,
}

impl From<AccessCounts> for ImportCountsDto {
    fn from(c: AccessCounts) -> Self {
        Self {
            identities: c.identities,
            entitlements: c.entitlements,
            sources: c.sources,
            assignments: c.assignments,
            usage: c.usage,
            roles: c.roles,
        }
    }
}

/// An import as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImportDto {
    /// Its id.
    pub id: Uuid,
    /// `QUEUED`, `IN_PROGRESS`, `SUCCESS` or `ERROR`.
    pub state: ImportState,
    /// Upload size in bytes.
    pub size_bytes: i64,
    /// Totals in the database after the import (on `SUCCESS`).
    pub counts: Option<ImportCountsDto>,
    /// On `ERROR`: the problems, each naming file, line and column (at most 100).
    pub errors: Vec<String>,
    /// On `ERROR`: how many problems there were in all.
    pub error_total: i32,
    /// Notes such as ignored columns.
    pub warnings: Vec<String>,
    /// When it was uploaded.
    pub created: DateTime<Utc>,
    /// When a worker started it.
    pub started: Option<DateTime<Utc>>,
    /// When it finished.
    pub finished: Option<DateTime<Utc>>,
}

impl From<ImportRecord> for ImportDto {
    fn from(record: ImportRecord) -> Self {
        Self {
            id: record.id,
            state: record.state,
            size_bytes: record.size_bytes,
            counts: record.counts.map(|counts| counts.0.into()),
            errors: record.errors,
            error_total: record.error_total,
            warnings: record.warnings,
            created: record.created_at,
            started: record.started_at,
            finished: record.finished_at,
        }
    }
}

/// Removes a partial or rejected upload when dropped, unless kept.
struct UploadFile {
    path: PathBuf,
    keep: bool,
}

impl Drop for UploadFile {
    fn drop(&mut self) {
        if !self.keep {
            if let Err(err) = std::fs::remove_file(&self.path) {
                if err.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(path = %self.path.display(), error = %err, "cannot remove a rejected upload");
                }
            }
        }
    }
}

fn too_large(limit: u64) -> ApiError {
    ApiError::PayloadTooLarge(format!(
        "the upload is larger than the limit of {limit} bytes (ROLEMINE_MAX_IMPORT_BYTES)"
    ))
}

/// `POST /rolemine/v1/imports`: stores the zip and queues its import; 202 with the import.
#[utoipa::path(
    post,
    path = "/rolemine/v1/imports",
    operation_id = "createImport",
    tag = "Rolemine extensions",
    request_body(content = Vec<u8>, content_type = "application/zip",
        description = "The access data files (contract/access-data-format.md) in one zip"),
    responses(
        (status = 202, description = "Stored and queued", body = ImportDto,
            headers(("Location" = String, description = "The import's URL"))),
        (status = 400, description = "Not a zip, empty, truncated or without assignments.csv", body = ErrorResponseDto),
        (status = 413, description = "Over the upload limit", body = ErrorResponseDto),
        GuardedErrors,
    ),
    security(("applicationAuth" = ["iai:access-modeling:manage"]))
)]
pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim();
    if !essence.eq_ignore_ascii_case("application/zip") {
        return Err(ApiError::BadRequest(format!(
            "Content-Type must be application/zip (the access data files in one zip), not {:?}",
            content_type
        )));
    }
    let limit = state.uploads.max_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit) {
        return Err(too_large(limit));
    }

    let id = Uuid::new_v4();
    let mut upload = UploadFile {
        path: state.uploads.dir.join(format!("{id}.zip")),
        keep: false,
    };
    let size = receive(body, &upload.path, limit).await?;
    if size == 0 {
        return Err(ApiError::BadRequest(
            "the request body is empty; send the access data files as one zip".to_owned(),
        ));
    }
    check_zip(&upload.path).await?;

    let path = upload.path.to_string_lossy().into_owned();
    let record = imports::create(
        &state.pool,
        id,
        &path,
        i64::try_from(size).unwrap_or(i64::MAX),
        None,
    )
    .await?;
    upload.keep = true;
    tracing::info!(import = %id, bytes = size, "import uploaded and queued");
    let location = format!("{PATH}/{id}");
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        Json(ImportDto::from(record)),
    )
        .into_response())
}

/// Streams `body` into a new file at `path`, stopping at `limit` bytes. Returns the size.
async fn receive(body: Body, path: &Path, limit: u64) -> Result<u64, ApiError> {
    let mut file = tokio::fs::File::create(path).await.map_err(|err| {
        ApiError::Unavailable(format!(
            "cannot store the upload in {}: {err}",
            path.display()
        ))
    })?;
    let mut size: u64 = 0;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|err| {
            ApiError::BadRequest(format!(
                "the upload was interrupted after {size} bytes: {err}"
            ))
        })?;
        size += chunk.len() as u64;
        if size > limit {
            return Err(too_large(limit));
        }
        file.write_all(&chunk)
            .await
            .map_err(|err| ApiError::Unavailable(format!("cannot store the upload: {err}")))?;
    }
    file.flush()
        .await
        .map_err(|err| ApiError::Unavailable(format!("cannot store the upload: {err}")))?;
    Ok(size)
}

/// Checks that the upload is a zip whose directory can be read and that holds assignments.csv.
async fn check_zip(path: &Path) -> Result<(), ApiError> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let source = DataSource::open(&path)
            // The message, not the error: its file name is the server's path of the upload.
            .map_err(|err| ApiError::BadRequest(format!("the upload is rejected: {}", err.message)))?;
        if !source.has("assignments.csv") {
            return Err(ApiError::BadRequest(
                "the upload is rejected: the zip holds no assignments.csv (at its top level or in one folder)"
                    .to_owned(),
            ));
        }
        Ok(())
    })
    .await
    .map_err(|err| ApiError::Unavailable(format!("cannot check the upload: {err}")))?
}

/// `GET /rolemine/v1/imports/{id}`.
#[utoipa::path(
    get,
    path = "/rolemine/v1/imports/{id}",
    operation_id = "getImport",
    tag = "Rolemine extensions",
    params(("id" = String, Path, description = "The import id")),
    responses(
        (status = 200, description = "The import's state, counts or errors", body = ImportDto),
        (status = 404, description = "Unknown import", body = ErrorResponseDto),
        GuardedErrors,
    ),
    security(("applicationAuth" = ["iai:access-modeling:read", "iai:access-modeling:manage"]))
)]
pub async fn get(
    State(state): State<AppState>,
    UrlPath(id): UrlPath<String>,
) -> Result<Json<ImportDto>, ApiError> {
    let missing = format!("import {id} not found");
    let record = or_missing(
        imports::get(&state.pool, path_id(&id, &missing)?).await,
        &missing,
    )?;
    Ok(Json(record.into()))
}

/// `GET /rolemine/v1/access-data`: how much access data the database holds now.
#[utoipa::path(
    get,
    path = "/rolemine/v1/access-data",
    operation_id = "getAccessData",
    tag = "Rolemine extensions",
    responses(
        (status = 200, description = "Row totals of the loaded access data", body = ImportCountsDto),
        GuardedErrors,
    ),
    security(("applicationAuth" = ["iai:access-modeling:read", "iai:access-modeling:manage"]))
)]
pub async fn access_data(State(state): State<AppState>) -> Result<Json<ImportCountsDto>, ApiError> {
    let counts = rolemine_store::import::counts(&state.pool).await?;
    Ok(Json(counts.into()))
}
