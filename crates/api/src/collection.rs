//! The standard collection parameters: `limit`, `offset`, `count`, `sorters` and `filters`.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use axum::Json;
use rolemine_filter::{parse_sorters, FieldSpec, SorterSpec};
use rolemine_store::listing::Listing;
use serde::Serialize;

use crate::error::ApiError;
use crate::query::QueryParams;

/// The paging parameters every list operation takes (documentation only; [`Collection`] reads
/// them).
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct CollectionParams {
    /// Page size, 0 to 250 (default 250).
    limit: Option<i64>,
    /// Rows to skip (default 0).
    offset: Option<i64>,
    /// `true`: send the number of matches in `X-Total-Count`.
    count: Option<bool>,
}

/// The largest page a client may ask for, and the default.
pub const MAX_LIMIT: i64 = 250;

/// The raw collection parameters of a list request, with `limit`, `offset` and `count`
/// already checked.
#[derive(Debug, Clone)]
pub struct Collection {
    /// Page size.
    pub limit: i64,
    /// Rows skipped.
    pub offset: i64,
    /// `count=true`: send `X-Total-Count`.
    pub count: bool,
    sorters: Option<String>,
    filters: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for Collection {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let params = QueryParams::from_request_parts(parts, state).await?;
        let limit = params.number("limit", MAX_LIMIT, Some(MAX_LIMIT))?;
        let offset = params.number("offset", 0, None)?;
        let count = params.flag("count", false)?;
        Ok(Collection {
            limit,
            offset,
            count,
            sorters: params.text("sorters"),
            filters: params.text("filters"),
        })
    }
}

impl Collection {
    /// Checks `filters` and `sorters` against what the endpoint allows.
    pub fn listing(
        &self,
        fields: &[FieldSpec],
        sorters: &[SorterSpec],
    ) -> Result<Listing, ApiError> {
        let filter = match &self.filters {
            Some(text) => Some(
                rolemine_filter::parse(text)
                    .and_then(|filter| filter.check(fields))
                    .map_err(|err| ApiError::BadRequest(err.to_string()))?,
            ),
            None => None,
        };
        let sorts = match &self.sorters {
            Some(text) => {
                parse_sorters(text, sorters).map_err(|err| ApiError::BadRequest(err.to_string()))?
            }
            None => Vec::new(),
        };
        Ok(Listing {
            filter,
            sorts,
            limit: self.limit,
            offset: self.offset,
            count: self.count,
        })
    }
}

/// A JSON array response, with `X-Total-Count` when the total was asked for.
pub fn page<T: Serialize>(items: Vec<T>, total: Option<i64>) -> Response {
    let mut response = Json(items).into_response();
    if let Some(total) = total {
        if let Ok(value) = HeaderValue::from_str(&total.to_string()) {
            response.headers_mut().insert("X-Total-Count", value);
        }
    }
    response
}
