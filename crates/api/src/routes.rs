//! Which operation is served where, with which scope.
//!
//! Every documented operation is declared once, by its handler's `#[utoipa::path]`: the path,
//! the method and the scope it needs (its `security`) are read from there, for axum and for the
//! OpenAPI document alike (`utoipa_axum::routes!`). The contract's operations are mounted under
//! every version prefix the SDKs use (`/beta`, `/v2024`, `/v2025`, `/v2026`) and under the newest
//! SDK's resource-versioned paths (`/role-mining-sessions/v1/...`); Rolemine's own extensions
//! and the token endpoint at the path they declare.

use axum::middleware::from_fn_with_state;
use axum::routing::MethodRouter;
use utoipa::openapi::path::Paths;
use utoipa::openapi::schema::Schema;
use utoipa::openapi::RefOr;
use utoipa_axum::router::UtoipaMethodRouter;
use utoipa_axum::routes;

use crate::auth::{self, Access, READ_SCOPE};
use crate::exports;
use crate::imports;
use crate::insights;
use crate::potential_roles as roles;
use crate::provisioning;
use crate::sessions;
use crate::state::AppState;

/// The version prefixes every operation is served under.
pub const VERSION_PREFIXES: [&str; 4] = ["/beta", "/v2024", "/v2025", "/v2026"];

/// One documented operation.
pub struct Operation {
    /// Its path as declared, e.g. `/role-mining-sessions/{sessionId}`.
    pub path: String,
    /// The scope it needs: read when its `security` accepts the read scope, manage otherwise.
    pub access: Access,
    /// The handler, for its one method.
    pub handler: MethodRouter<AppState>,
    /// Its OpenAPI path item.
    pub paths: Paths,
    /// The schemas its request and responses refer to.
    pub schemas: Vec<(String, RefOr<Schema>)>,
}

/// Reads an operation's path and scope from what its handler declares.
fn op((schemas, paths, handler): UtoipaMethodRouter<AppState>) -> Operation {
    let path = paths.paths.keys().next().cloned().unwrap_or_default();
    // A security requirement's scopes are not public fields; its JSON form is the contract's:
    // `{"/path": {"get": {"security": [{"applicationAuth": ["scope", ...]}]}}}`.
    let document = serde_json::to_value(&paths).unwrap_or_default();
    let readable = document
        .as_object()
        .into_iter()
        .flat_map(|paths| paths.values())
        .filter_map(|item| item.as_object())
        .flat_map(|methods| methods.values())
        .filter_map(|operation| operation.get("security")?.as_array())
        .flatten()
        .filter_map(|requirement| requirement.as_object())
        .flat_map(|schemes| schemes.values())
        .filter_map(|scopes| scopes.as_array())
        .flatten()
        .any(|scope| scope.as_str() == Some(READ_SCOPE));
    Operation {
        path,
        access: if readable {
            Access::Read
        } else {
            Access::Manage
        },
        handler,
        paths,
        schemas,
    }
}

/// The contract's 25 operations, served under every version prefix.
pub fn contract() -> Vec<Operation> {
    vec![
        op(routes!(sessions::list)),
        op(routes!(sessions::create)),
        op(routes!(sessions::get)),
        op(routes!(sessions::patch)),
        op(routes!(sessions::status)),
        op(routes!(roles::session_summaries)),
        op(routes!(roles::get_in_session)),
        op(routes!(roles::patch_in_session)),
        op(routes!(roles::applications)),
        op(routes!(roles::role_entitlements)),
        op(routes!(roles::popularities)),
        op(routes!(roles::distribution)),
        op(routes!(roles::edit_entitlements)),
        op(routes!(roles::excluded)),
        op(routes!(roles::identities)),
        op(routes!(exports::export)),
        op(routes!(exports::export_async)),
        op(routes!(exports::export_status)),
        op(routes!(exports::download)),
        op(routes!(provisioning::provision)),
        op(routes!(roles::all_summaries)),
        op(routes!(roles::saved)),
        op(routes!(roles::get)),
        op(routes!(roles::patch)),
        op(routes!(roles::source_usage)),
    ]
}

/// Rolemine's own operations (provisioned roles, import status, access-data totals, role
/// insights), served at their path.
pub fn extensions() -> Vec<Operation> {
    vec![
        op(routes!(provisioning::list)),
        op(routes!(provisioning::get)),
        op(routes!(imports::get)),
        op(routes!(imports::access_data)),
        op(routes!(insights::rules)),
        op(routes!(insights::outliers)),
        op(routes!(insights::unexplained)),
        op(routes!(insights::compare_sessions)),
        op(routes!(insights::export)),
    ]
}

/// The import upload: an extension that streams its body under its own limit.
pub fn upload() -> Operation {
    op(routes!(imports::create))
}

/// `POST /oauth/token`: open to anyone (it checks the client's credentials itself).
pub fn token() -> Operation {
    op(routes!(auth::token))
}

/// The handler with its authentication and scope check. A method the path does not serve is
/// a 405 before any token is looked at (`route_layer`: the check guards the handler only).
pub fn guarded(
    state: &AppState,
    access: Access,
    handler: MethodRouter<AppState>,
) -> MethodRouter<AppState> {
    handler.route_layer(from_fn_with_state((state.clone(), access), auth::require))
}

/// Every path `path` is served at.
pub fn mounted(path: &str) -> Vec<String> {
    let mut paths: Vec<String> = VERSION_PREFIXES
        .iter()
        .map(|prefix| format!("{prefix}{path}"))
        .collect();
    let rest = path.trim_start_matches('/');
    paths.push(match rest.split_once('/') {
        Some((resource, tail)) => format!("/{resource}/v1/{tail}"),
        None => format!("/{rest}/v1"),
    });
    paths
}
