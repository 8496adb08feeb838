//! Serialized potential-role pages kept in memory, keyed by their session's read version.
//!
//! Consoles and scripts read the same pages of a session's roles over and over, and between
//! two mining runs those pages rarely change. Building one (a view query over the roles, their
//! attribute distributions decoded and encoded again) costs far more than checking whether it
//! changed: the session row carries a `read_version` that moves with any change a page could
//! show (migration 0012), so a page cached under (session, version, query) is served as long as
//! the version holds. Every server checks the version in the database on each read, so
//! replicas never serve a page another replica's write made stale.

use axum::body::Bytes;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use uuid::Uuid;

/// Bytes an entry costs beyond its body and query (key, headers, the cache's bookkeeping), so
/// millions of empty pages (`limit=0`, every `offset`) cannot outgrow the configured size.
const ENTRY_OVERHEAD: usize = 256;

/// Which page of a session a cached body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SessionPage {
    /// `getPotentialRoleSummaries`.
    Summaries,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct PageKey {
    session: Uuid,
    version: i64,
    page: SessionPage,
    /// The request's query string as sent: equal strings are equal pages.
    query: String,
}

#[derive(Debug, Clone)]
struct CachedPage {
    body: Bytes,
    total: Option<i64>,
}

impl CachedPage {
    fn response(&self) -> Response {
        let mut response = (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            self.body.clone(),
        )
            .into_response();
        if let Some(total) = self.total {
            response.headers_mut().insert("X-Total-Count", total.into());
        }
        response
    }
}

/// The cache, shared by every request of a server; cheap to clone.
#[derive(Clone)]
pub struct PageCache {
    pages: Option<moka::sync::Cache<PageKey, CachedPage>>,
}

impl std::fmt::Debug for PageCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PageCache")
            .field("enabled", &self.pages.is_some())
            .finish_non_exhaustive()
    }
}

impl PageCache {
    /// A cache holding at most `max_bytes` of page bodies (least recently used go first); `0`
    /// turns caching off.
    pub fn new(max_bytes: u64) -> Self {
        let pages = (max_bytes > 0).then(|| {
            moka::sync::Cache::builder()
                .max_capacity(max_bytes)
                .weigher(|key: &PageKey, page: &CachedPage| {
                    let bytes = ENTRY_OVERHEAD + page.body.len() + key.query.len();
                    u32::try_from(bytes).unwrap_or(u32::MAX)
                })
                .build()
        });
        Self { pages }
    }

    /// The page cached for this session version and query, as a response.
    pub fn get(
        &self,
        session: Uuid,
        version: i64,
        page: SessionPage,
        query: &str,
    ) -> Option<Response> {
        let pages = self.pages.as_ref()?;
        let key = PageKey {
            session,
            version,
            page,
            query: query.to_owned(),
        };
        let hit = pages.get(&key).map(|cached| cached.response());
        metrics::counter!("rolemine_page_cache_total", "outcome" => if hit.is_some() { "hit" } else { "miss" })
            .increment(1);
        hit
    }

    /// Serializes `items` as the page's JSON body, keeps it for this session version and query,
    /// and returns it as a response (with `X-Total-Count` when `total` is given).
    pub fn store<T: serde::Serialize>(
        &self,
        session: Uuid,
        version: i64,
        page: SessionPage,
        query: &str,
        items: &[T],
        total: Option<i64>,
    ) -> Result<Response, serde_json::Error> {
        let cached = CachedPage {
            body: Bytes::from(serde_json::to_vec(items)?),
            total,
        };
        let response = cached.response();
        if let Some(pages) = &self.pages {
            let key = PageKey {
                session,
                version,
                page,
                query: query.to_owned(),
            };
            pages.insert(key, cached);
        }
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(response: Response) -> Vec<u8> {
        let reading = axum::body::to_bytes(response.into_body(), usize::MAX);
        tokio::runtime::Builder::new_current_thread()
            .build()
            .map(|runtime| runtime.block_on(reading))
            .ok()
            .and_then(Result::ok)
            .map(|bytes| bytes.to_vec())
            .unwrap_or_default()
    }

    #[test]
    fn a_page_is_served_only_for_its_version_and_query() {
        let cache = PageCache::new(1 << 20);
        let session = Uuid::new_v4();
        let stored = cache
            .store(
                session,
                3,
                SessionPage::Summaries,
                "limit=5",
                &[1, 2],
                Some(9),
            )
            .map(body);
        assert_eq!(stored.ok(), Some(b"[1,2]".to_vec()));
        let hit = cache.get(session, 3, SessionPage::Summaries, "limit=5");
        let total = hit
            .as_ref()
            .and_then(|r| r.headers().get("X-Total-Count").cloned());
        assert_eq!(total, Some(HeaderValue::from(9)));
        assert_eq!(hit.map(body), Some(b"[1,2]".to_vec()));
        assert!(cache
            .get(session, 4, SessionPage::Summaries, "limit=5")
            .is_none());
        assert!(cache
            .get(session, 3, SessionPage::Summaries, "limit=6")
            .is_none());
        assert!(cache
            .get(Uuid::new_v4(), 3, SessionPage::Summaries, "limit=5")
            .is_none());
    }

    #[test]
    fn a_disabled_cache_still_answers_but_keeps_nothing() {
        let cache = PageCache::new(0);
        let session = Uuid::new_v4();
        let stored = cache
            .store(session, 1, SessionPage::Summaries, "", &["a"], None)
            .map(body);
        assert_eq!(stored.ok(), Some(b"[\"a\"]".to_vec()));
        assert!(cache.get(session, 1, SessionPage::Summaries, "").is_none());
    }
}
