//! `GET /openapi.json`: the OpenAPI document of what this server serves, generated from the
//! handlers' annotations and the response types themselves, so it cannot drift from them.

use axum::Json;
use utoipa::openapi::security::{ClientCredentials, Flow, OAuth2, Scopes, SecurityScheme};
use utoipa::openapi::server::Server;
use utoipa::openapi::OpenApi as Document;
use utoipa::{Modify, OpenApi};

use crate::auth::{MANAGE_SCOPE, READ_SCOPE};
use crate::routes::VERSION_PREFIXES;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Rolemine: IAI Role Mining API",
        description = "The SailPoint IAI Role Mining contract, served under /beta, /v2024, /v2025 and \
                       /v2026 (the servers below) and at /{resource}/v1/... (e.g. \
                       /role-mining-sessions/v1), plus Rolemine's own extensions under /rolemine/v1, \
                       served at the root."
    ),
    paths(
        crate::sessions::list,
        crate::sessions::create,
        crate::sessions::get,
        crate::sessions::status,
        crate::sessions::patch,
        crate::potential_roles::session_summaries,
        crate::potential_roles::get_in_session,
        crate::potential_roles::patch_in_session,
        crate::potential_roles::applications,
        crate::potential_roles::role_entitlements,
        crate::potential_roles::popularities,
        crate::potential_roles::distribution,
        crate::potential_roles::edit_entitlements,
        crate::potential_roles::excluded,
        crate::potential_roles::identities,
        crate::potential_roles::all_summaries,
        crate::potential_roles::get,
        crate::potential_roles::patch,
        crate::potential_roles::saved,
        crate::potential_roles::source_usage,
        crate::exports::export,
        crate::exports::export_async,
        crate::exports::export_status,
        crate::exports::download,
        crate::provisioning::provision,
        crate::provisioning::list,
        crate::provisioning::get,
        crate::imports::create,
        crate::imports::get,
        crate::auth::token,
    ),
    modifiers(&Security, &Servers),
)]
struct ApiDoc;

/// The client-credentials scheme every operation refers to.
struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut Document) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let scopes = Scopes::from_iter([
            (READ_SCOPE, "read role mining data"),
            (MANAGE_SCOPE, "read and change role mining data"),
        ]);
        components.add_security_scheme(
            "applicationAuth",
            SecurityScheme::OAuth2(OAuth2::new([Flow::ClientCredentials(
                ClientCredentials::new("/oauth/token", scopes),
            )])),
        );
    }
}

/// Contract paths are relative to the version prefixes; extensions and the token endpoint are
/// at the root.
struct Servers;

impl Modify for Servers {
    fn modify(&self, openapi: &mut Document) {
        openapi.servers = Some(VERSION_PREFIXES.iter().map(|p| Server::new(*p)).collect());
        for (path, item) in openapi.paths.paths.iter_mut() {
            if path.starts_with("/rolemine/") || path.starts_with("/oauth/") {
                item.servers = Some(vec![Server::new("/")]);
            }
        }
    }
}

/// The document.
pub fn document() -> Document {
    ApiDoc::openapi()
}

/// `GET /openapi.json`.
pub async fn serve() -> Json<Document> {
    Json(document())
}
