//! `GET /openapi.json`: the OpenAPI document of what this server serves, generated from the
//! handlers' annotations and the response types themselves (the same declarations the router
//! mounts, `routes`), so it cannot drift from them.

use axum::Json;
use utoipa::openapi::security::{ClientCredentials, Flow, OAuth2, Scopes, SecurityScheme};
use utoipa::openapi::server::Server;
use utoipa::openapi::OpenApi as Document;
use utoipa::{Modify, OpenApi};

use crate::auth::{MANAGE_SCOPE, READ_SCOPE};
use crate::routes::{self, VERSION_PREFIXES};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Rolemine: IAI Role Mining API",
        description = "The SailPoint IAI Role Mining contract, served under /beta, /v2024, /v2025 and \
                       /v2026 (the servers below) and at /{resource}/v1/... (e.g. \
                       /role-mining-sessions/v1), plus Rolemine's own extensions under /rolemine/v1, \
                       served at the root."
    ),
    // Referred to by every guarded operation's 401, through `GuardedErrors`.
    components(schemas(crate::error::UnauthorizedDto)),
    modifiers(&Security),
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

/// The document: every operation the router mounts, with the schemas they refer to.
pub fn document() -> Document {
    let mut document = ApiDoc::openapi();
    let operations = routes::contract()
        .into_iter()
        .chain(routes::extensions())
        .chain([routes::upload(), routes::token()]);
    for operation in operations {
        document.paths.merge(operation.paths);
        let components = document.components.get_or_insert_with(Default::default);
        components.schemas.extend(operation.schemas);
    }
    // Servers are set per path, so they go on once every path is there.
    Servers.modify(&mut document);
    document
}

/// `GET /openapi.json`.
pub async fn serve() -> Json<Document> {
    Json(document())
}
