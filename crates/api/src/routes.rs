//! Which operation is served where, with which scope.
//!
//! The contract's operations are declared once, in [`operations`], and mounted under every
//! version prefix the SDKs use (`/beta`, `/v2024`, `/v2025`, `/v2026`) and under the newest
//! SDK's resource-versioned paths (`/role-mining-sessions/v1/...`).

use axum::middleware::from_fn_with_state;
use axum::routing::{get, patch, post, MethodRouter};

use crate::auth::{self, Access};
use crate::exports;
use crate::potential_roles as roles;
use crate::provisioning;
use crate::sessions;
use crate::state::AppState;

/// The version prefixes every operation is served under.
pub const VERSION_PREFIXES: [&str; 4] = ["/beta", "/v2024", "/v2025", "/v2026"];

/// One contract operation.
pub struct Operation {
    /// Its path in the contract, e.g. `/role-mining-sessions/{sessionId}`.
    pub path: &'static str,
    /// The scope it needs.
    pub access: Access,
    /// The handler, for its one method.
    pub handler: MethodRouter<AppState>,
}

/// Every contract operation served so far.
pub fn operations() -> Vec<Operation> {
    let op = |path, access, handler| Operation {
        path,
        access,
        handler,
    };
    vec![
        op("/role-mining-sessions", Access::Read, get(sessions::list)),
        op(
            "/role-mining-sessions",
            Access::Manage,
            post(sessions::create),
        ),
        op(
            "/role-mining-sessions/{sessionId}",
            Access::Read,
            get(sessions::get),
        ),
        op(
            "/role-mining-sessions/{sessionId}",
            Access::Manage,
            patch(sessions::patch),
        ),
        op(
            "/role-mining-sessions/{sessionId}/status",
            Access::Read,
            get(sessions::status),
        ),
        op(
            "/role-mining-sessions/{sessionId}/potential-role-summaries",
            Access::Read,
            get(roles::session_summaries),
        ),
        op(
            "/role-mining-sessions/{sessionId}/potential-role-summaries/{potentialRoleId}",
            Access::Read,
            get(roles::get_in_session),
        ),
        op(
            "/role-mining-sessions/{sessionId}/potential-role-summaries/{potentialRoleId}",
            Access::Manage,
            patch(roles::patch_in_session),
        ),
        op(
            "/role-mining-sessions/{sessionId}/potential-role-summaries/{potentialRoleId}/applications",
            Access::Read,
            get(roles::applications),
        ),
        op(
            "/role-mining-sessions/{sessionId}/potential-role-summaries/{potentialRoleId}/entitlements",
            Access::Read,
            get(roles::role_entitlements),
        ),
        op(
            "/role-mining-sessions/{sessionId}/potential-roles/{potentialRoleId}/entitlement-popularities",
            Access::Read,
            get(roles::popularities),
        ),
        op(
            "/role-mining-sessions/{sessionId}/potential-roles/{potentialRoleId}/entitlement-popularity-distribution",
            Access::Read,
            get(roles::distribution),
        ),
        op(
            "/role-mining-sessions/{sessionId}/potential-roles/{potentialRoleId}/edit-entitlements",
            Access::Manage,
            post(roles::edit_entitlements),
        ),
        op(
            "/role-mining-sessions/{sessionId}/potential-roles/{potentialRoleId}/excluded-entitlements",
            Access::Read,
            get(roles::excluded),
        ),
        op(
            "/role-mining-sessions/{sessionId}/potential-roles/{potentialRoleId}/identities",
            Access::Read,
            get(roles::identities),
        ),
        op(
            "/role-mining-sessions/{sessionId}/potential-roles/{potentialRoleId}/export",
            Access::Read,
            get(exports::export),
        ),
        op(
            "/role-mining-sessions/{sessionId}/potential-roles/{potentialRoleId}/export-async",
            Access::Manage,
            post(exports::export_async),
        ),
        op(
            "/role-mining-sessions/{sessionId}/potential-roles/{potentialRoleId}/export-async/{exportId}",
            Access::Read,
            get(exports::export_status),
        ),
        op(
            "/role-mining-sessions/{sessionId}/potential-roles/{potentialRoleId}/export-async/{exportId}/download",
            Access::Read,
            get(exports::download),
        ),
        op(
            "/role-mining-sessions/{sessionId}/potential-roles/{potentialRoleId}/provision",
            Access::Manage,
            post(provisioning::provision),
        ),
        op(
            "/role-mining-potential-roles",
            Access::Read,
            get(roles::all_summaries),
        ),
        op(
            "/role-mining-potential-roles/saved",
            Access::Read,
            get(roles::saved),
        ),
        op(
            "/role-mining-potential-roles/{potentialRoleId}",
            Access::Read,
            get(roles::get),
        ),
        op(
            "/role-mining-potential-roles/{potentialRoleId}",
            Access::Manage,
            patch(roles::patch),
        ),
        op(
            "/role-mining-potential-roles/{potentialRoleId}/sources/{sourceId}/identityUsage",
            Access::Read,
            get(roles::source_usage),
        ),
    ]
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
