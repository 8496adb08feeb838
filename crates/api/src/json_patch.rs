//! JSON Patch bodies (`application/json-patch+json`) as the contract's PATCH operations take
//! them, and the value readers they share. SDKs send numbers and booleans as strings at times
//! (the contract's own examples do), so both spellings are accepted.

use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::error::ApiError;

/// The contract's `JsonPatchOperation`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JsonPatchOperation {
    /// `replace`, `add` or `remove`, as each operation allows.
    pub op: String,
    /// The field, e.g. `/name`.
    pub path: String,
    /// The new value; numbers and booleans may arrive as strings.
    #[schema(value_type = Object)]
    pub value: Option<Value>,
    /// The source path of `move` and `copy` (RFC 6902): accepted, so that those operations are
    /// refused by name rather than as an unknown field.
    #[serde(default)]
    pub from: Option<String>,
}

/// A patch value as an integer: a JSON integer or a string holding one; `None` for null.
pub fn integer(value: &Option<Value>, at: &str) -> Result<Option<i64>, ApiError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| ApiError::BadRequest(format!("{at}: must be a whole number, got {n}"))),
        Some(Value::String(text)) => text.trim().parse::<i64>().map(Some).map_err(|_| {
            ApiError::BadRequest(format!("{at}: must be a whole number, got {text:?}"))
        }),
        Some(other) => Err(ApiError::BadRequest(format!(
            "{at}: must be a whole number, got {other}"
        ))),
    }
}

/// A patch value as a boolean: `true`/`false` or a string spelling one.
pub fn boolean(value: &Option<Value>, at: &str) -> Result<bool, ApiError> {
    match value {
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(text)) if text.eq_ignore_ascii_case("true") => Ok(true),
        Some(Value::String(text)) if text.eq_ignore_ascii_case("false") => Ok(false),
        other => Err(ApiError::BadRequest(format!(
            "{at}: must be true or false, got {}",
            other
                .as_ref()
                .map_or("nothing".to_owned(), Value::to_string)
        ))),
    }
}

/// A patch value as text; `None` for null.
pub fn text(value: &Option<Value>, at: &str) -> Result<Option<String>, ApiError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(other) => Err(ApiError::BadRequest(format!(
            "{at}: must be a string, got {other}"
        ))),
    }
}

/// A 400 for an empty patch.
pub fn require_operations(operations: &[JsonPatchOperation]) -> Result<(), ApiError> {
    if operations.is_empty() {
        return Err(ApiError::BadRequest(
            "the patch is empty; send at least one operation".to_owned(),
        ));
    }
    Ok(())
}
