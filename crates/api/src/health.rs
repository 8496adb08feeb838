//! Liveness and readiness probes.

use axum::extract::State;
use axum::Json;
use rolemine_store::Readiness;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::state::AppState;

/// `GET /health`: the process is up. Never touches the database.
pub async fn health() -> Json<Value> {
    Json(json!({ "status": "UP" }))
}

/// `GET /ready`: the database answers and every migration is applied.
pub async fn ready(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    match rolemine_store::readiness(&state.pool).await {
        Ok(Readiness::Ready) => Ok(Json(json!({ "status": "READY" }))),
        Ok(Readiness::PendingMigrations(versions)) => Err(ApiError::Unavailable(format!(
            "database schema is not current: migrations {versions:?} are not applied"
        ))),
        Err(err) => Err(ApiError::Unavailable(format!(
            "database unreachable: {err}"
        ))),
    }
}
