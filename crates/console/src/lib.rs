//! Rolemine's web console for role engineers, served at `/ui/` on the API's port.
//!
//! The console is a handful of static files (plain ES modules, a stylesheet and a vendored
//! Chart.js) compiled into the binary, so a server needs nothing on disk and fetches nothing
//! at run time. Everything the pages show comes from the public API with the signed-in
//! client's token, so the console can do exactly what that client may do and no more.

use std::hash::{DefaultHasher, Hash, Hasher};

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

/// Where the console is mounted.
pub const PREFIX: &str = "/ui";

/// One embedded file.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    /// Its path under [`PREFIX`], e.g. `app.js`.
    pub path: &'static str,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// Its bytes.
    pub bytes: &'static [u8],
}

macro_rules! assets {
    ($($path:literal => $content_type:expr),* $(,)?) => {
        &[$(Asset {
            path: $path,
            content_type: $content_type,
            bytes: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/", $path)),
        }),*]
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file of the console.
pub const ASSETS: &[Asset] = assets![
    "index.html" => "text/html; charset=utf-8",
    "style.css" => "text/css; charset=utf-8",
    "app.js" => JS,
    "api.js" => JS,
    "dom.js" => JS,
    "charts.js" => JS,
    "pages/signin.js" => JS,
    "pages/data.js" => JS,
    "pages/sessions.js" => JS,
    "pages/session.js" => JS,
    "pages/roles.js" => JS,
    "pages/role.js" => JS,
    "vendor/chart.umd.min.js" => JS,
    "vendor/chart.js-LICENSE.md" => "text/markdown; charset=utf-8",
];

/// The page's policy: scripts and connections only to this server. Chart.js sizes its canvas
/// through inline styles, hence `'unsafe-inline'` for styles only.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; \
     object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/// The console's routes: `/ui` redirects to `/ui/`, which serves the page; each asset at its
/// path. Anything else under `/ui/` is left to the caller's fallback (the API's 404 body).
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let mut router = Router::new()
        .route(PREFIX, get(|| async { Redirect::permanent("/ui/") }))
        .route(
            "/ui/",
            get(|headers: HeaderMap| async move { serve(index(), &headers) }),
        );
    for asset in ASSETS {
        router = router.route(
            &format!("{PREFIX}/{}", asset.path),
            get(move |headers: HeaderMap| async move { serve(asset, &headers) }),
        );
    }
    router
}

fn index() -> &'static Asset {
    // The table's first entry; a test below keeps it so.
    &ASSETS[0]
}

/// The asset with validation by entity tag: browsers revalidate (`no-cache`) and get a 304
/// while the binary is the same, so a new release is never hidden behind a stale cache.
fn serve(asset: &'static Asset, headers: &HeaderMap) -> Response {
    let etag = entity_tag(asset.bytes);
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .is_some_and(|value| value.as_bytes() == etag.as_bytes());
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, asset.content_type)], asset.bytes).into_response()
    };
    let response_headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&etag) {
        response_headers.insert(header::ETAG, value);
    }
    response_headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response_headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response_headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    response_headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

fn entity_tag(bytes: &[u8]) -> String {
    let mut hasher = DefaultHasher::new();
    bytes.hash(&mut hasher);
    format!("\"{:016x}\"", hasher.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_is_the_first_asset_and_paths_are_unique() {
        assert_eq!(index().path, "index.html");
        let mut paths: Vec<_> = ASSETS.iter().map(|asset| asset.path).collect();
        paths.sort_unstable();
        paths.dedup();
        assert_eq!(paths.len(), ASSETS.len());
    }

    #[test]
    fn every_module_the_page_imports_is_embedded() {
        // A module missing from the table would be a 404 in the browser, found only at run time.
        for asset in ASSETS.iter().filter(|asset| asset.path.ends_with(".js")) {
            let text = std::str::from_utf8(asset.bytes).unwrap_or_default();
            for line in text.lines().filter(|line| line.starts_with("import ")) {
                let Some(target) = line.split(['"', '\'']).nth(1) else {
                    continue;
                };
                let base = asset.path.rsplit_once('/').map_or("", |(dir, _)| dir);
                let resolved = resolve(base, target);
                assert!(
                    ASSETS.iter().any(|a| a.path == resolved),
                    "{} imports {target} ({resolved}), which is not embedded",
                    asset.path
                );
            }
        }
    }

    fn resolve(base: &str, target: &str) -> String {
        let mut parts: Vec<&str> = base.split('/').filter(|p| !p.is_empty()).collect();
        for part in target.split('/') {
            match part {
                "." => {}
                ".." => {
                    parts.pop();
                }
                other => parts.push(other),
            }
        }
        parts.join("/")
    }
}
