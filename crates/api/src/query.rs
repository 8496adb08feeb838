//! The query string as named parameters, read with the contract's error body on every failure
//! (axum's own `Query` rejection is plain text), and the value readers the operations share.

use std::collections::HashMap;

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;

use crate::error::ApiError;

/// The request's query parameters.
#[derive(Debug, Clone, Default)]
pub struct QueryParams(pub HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for QueryParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Query(params) = Query::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|rejection| {
                ApiError::BadRequest(format!(
                    "the query string is malformed: {}",
                    rejection.body_text()
                ))
            })?;
        if let Some(name) = params
            .iter()
            .find(|(name, value)| name.contains('\0') || value.contains('\0'))
            .map(|(name, _)| name)
        {
            return Err(ApiError::BadRequest(format!(
                "the query parameter {:?} contains a NUL character (%00), which is not accepted",
                name.replace('\0', "%00")
            )));
        }
        Ok(Self(params))
    }
}

impl QueryParams {
    /// The parameter `name`, when given and not blank.
    pub fn text(&self, name: &str) -> Option<String> {
        self.0.get(name).filter(|v| !v.trim().is_empty()).cloned()
    }

    /// `name` as a whole number from 0 to `max` (no upper bound without one), or `default`.
    pub fn number(&self, name: &str, default: i64, max: Option<i64>) -> Result<i64, ApiError> {
        let Some(raw) = self.0.get(name) else {
            return Ok(default);
        };
        let range = match max {
            Some(max) => format!("from 0 to {max}"),
            None => "of 0 or more".to_owned(),
        };
        raw.trim()
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0 && max.is_none_or(|max| *n <= max))
            .ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "{name}: must be a whole number {range}, got {raw:?}"
                ))
            })
    }

    /// `name` as a percent (a whole number from 0 to 100), or `default`.
    pub fn percent(&self, name: &str, default: i32) -> Result<i32, ApiError> {
        let value = self.number(name, i64::from(default), Some(100))?;
        // In range by the check above.
        Ok(i32::try_from(value).unwrap_or(default))
    }

    /// `name` as `true`/`false` (any case), or `default`.
    pub fn flag(&self, name: &str, default: bool) -> Result<bool, ApiError> {
        match self.0.get(name) {
            None => Ok(default),
            Some(raw) if raw.trim().eq_ignore_ascii_case("true") => Ok(true),
            Some(raw) if raw.trim().eq_ignore_ascii_case("false") => Ok(false),
            Some(raw) => Err(ApiError::BadRequest(format!(
                "{name}: must be true or false, got {raw:?}"
            ))),
        }
    }
}
