//! The JSON body extractor: every way a body can be wrong becomes a 400 naming the field.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::ApiError;

/// A JSON request body (`application/json`, or any `+json` type such as
/// `application/json-patch+json`).
#[derive(Debug, Clone)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let content_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if essence != "application/json" && !essence.ends_with("+json") {
            return Err(ApiError::BadRequest(format!(
                "Content-Type must be application/json, not {content_type:?}"
            )));
        }
        let bytes =
            Bytes::from_request(request, state)
                .await
                .map_err(|rejection| match rejection {
                    _ if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                        ApiError::PayloadTooLarge(
                            "the request body is larger than the server accepts \
                             (--max-body-bytes)"
                                .to_owned(),
                        )
                    }
                    BytesRejection::FailedToBufferBody(_) => ApiError::BadRequest(format!(
                        "the request body could not be read: {}",
                        rejection.body_text()
                    )),
                    other => ApiError::BadRequest(other.body_text()),
                })?;
        parse(&bytes).map(ApiJson)
    }
}

/// Deserializes an optional body: none (or only whitespace) is `T::default()`.
pub fn parse_or_default<T: DeserializeOwned + Default>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        Ok(T::default())
    } else {
        parse(bytes)
    }
}

/// Deserializes `bytes`, naming the field at fault. A string holding a NUL character (which
/// PostgreSQL cannot store) is refused here, with its path, before any handler sees it.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|err| {
        ApiError::BadRequest(format!("the request body is not valid JSON: {err}"))
    })?;
    if let Some(path) = nul_path(&value, &mut String::new()) {
        return Err(ApiError::BadRequest(if path.is_empty() {
            "the request body contains a NUL character (\\u0000), which is not accepted".to_owned()
        } else {
            format!(
                "the request body's field `{path}` contains a NUL character (\\u0000), which is not accepted"
            )
        }));
    }
    // From the bytes again, not the value: a value keeps the last of duplicate keys silently,
    // the typed reader refuses them ("duplicate field").
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        if path == "." {
            ApiError::BadRequest(format!("the request body: {inner}"))
        } else {
            ApiError::BadRequest(format!("the request body's field `{path}`: {inner}"))
        }
    })
}

/// The path (`scope.identityIds[2]`, or `""` for the whole body) of the first string, or
/// object key, holding a NUL character.
fn nul_path(value: &Value, path: &mut String) -> Option<String> {
    match value {
        Value::String(text) => text.contains('\0').then(|| path.clone()),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
            let length = path.len();
            path.push_str(&format!("[{i}]"));
            let found = nul_path(item, path);
            path.truncate(length);
            found
        }),
        Value::Object(fields) => fields.iter().find_map(|(key, item)| {
            let length = path.len();
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(&key.replace('\0', "\\u0000"));
            let found = if key.contains('\0') {
                Some(path.clone())
            } else {
                nul_path(item, path)
            };
            path.truncate(length);
            found
        }),
        Value::Null | Value::Bool(_) | Value::Number(_) => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde::Deserialize;

    use super::parse;
    use crate::error::ApiError;

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    struct Body {
        #[allow(dead_code)]
        prune_threshold: Option<i32>,
        #[allow(dead_code)]
        r#type: Option<Kind>,
        #[allow(dead_code)]
        scope: Option<Scope>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
    enum Kind {
        Specialized,
        Common,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    struct Scope {
        #[allow(dead_code)]
        identity_ids: Vec<String>,
    }

    fn message(json: &str) -> String {
        match parse::<Body>(json.as_bytes()) {
            Err(ApiError::BadRequest(message)) => message,
            other => panic!("expected a 400 for {json}, got {other:?}"),
        }
    }

    #[test]
    fn every_bad_body_names_its_field() {
        assert!(parse::<Body>(br#"{"pruneThreshold": 50, "type": "COMMON"}"#).is_ok());
        let cases = [
            ("{", "the request body is not valid JSON"),
            ("", "the request body is not valid JSON"),
            (
                r#"{"pruneThreshold": "high"}"#,
                "field `pruneThreshold`: invalid type: string \"high\", expected i32",
            ),
            (
                r#"{"type": "RARE"}"#,
                "field `type`: unknown variant `RARE`, expected `SPECIALIZED` or `COMMON`",
            ),
            (
                r#"{"scope": {"identityIds": [1]}}"#,
                "field `scope.identityIds[0]`: invalid type: integer `1`, expected a string",
            ),
            (r#"{"pruneThresold": 5}"#, "unknown field `pruneThresold`"),
            (
                r#"{"pruneThreshold": 5, "pruneThreshold": 6}"#,
                "duplicate field `pruneThreshold`",
            ),
            ("[]", "the request body: invalid"),
            (
                r#"{"scope": {"identityIds": ["a", "b\u0000"]}}"#,
                "field `scope.identityIds[1]` contains a NUL character",
            ),
            (
                r#"{"scope": {"identityIds": [], "extra": 1}}"#,
                "field `scope.extra`: unknown field `extra`",
            ),
        ];
        for (json, expected) in cases {
            let text = message(json);
            assert!(
                text.contains(expected),
                "{json}: {text:?} lacks {expected:?}"
            );
        }
    }
}
