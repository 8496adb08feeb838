//! Reading a token request's parameters from whichever body encoding the client chose.

use std::collections::HashMap;

use axum::body::to_bytes;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::header;

/// The largest token request body read.
const MAX_BODY: usize = 16 * 1024;
/// The most multipart fields read.
const MAX_FIELDS: usize = 16;

/// The request's parameters as text, or why they cannot be read (the `error_description`).
pub(super) async fn read(request: Request) -> Result<HashMap<String, String>, String> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let form = if content_type.starts_with("multipart/form-data") {
        multipart(request).await?
    } else {
        let body = to_bytes(request.into_body(), MAX_BODY)
            .await
            .map_err(|err| format!("the body cannot be read: {err}"))?;
        if content_type.starts_with("application/json") {
            json(&body)?
        } else {
            serde_urlencoded::from_bytes(&body)
                .map_err(|err| format!("the body must be form-encoded: {err}"))?
        }
    };
    if let Some(name) = form
        .iter()
        .find(|(name, value)| name.contains('\0') || value.contains('\0'))
        .map(|(name, _)| name)
    {
        return Err(format!("{name} contains a NUL character"));
    }
    Ok(form)
}

async fn multipart(request: Request) -> Result<HashMap<String, String>, String> {
    let mut parts = Multipart::from_request(request, &())
        .await
        .map_err(|err| format!("the multipart body cannot be read: {}", err.body_text()))?;
    let mut form = HashMap::new();
    let mut fields = 0;
    while let Some(field) = parts
        .next_field()
        .await
        .map_err(|err| format!("the multipart body cannot be read: {}", err.body_text()))?
    {
        fields += 1;
        if fields > MAX_FIELDS {
            return Err(format!(
                "the multipart body has more than {MAX_FIELDS} fields"
            ));
        }
        let Some(name) = field.name().map(str::to_owned) else {
            continue;
        };
        let value = field
            .text()
            .await
            .map_err(|err| format!("multipart field {name}: {}", err.body_text()))?;
        form.insert(name, value);
    }
    Ok(form)
}

fn json(body: &[u8]) -> Result<HashMap<String, String>, String> {
    let object: HashMap<String, serde_json::Value> = serde_json::from_slice(body)
        .map_err(|err| format!("the body is not a JSON object: {err}"))?;
    object
        .into_iter()
        .filter(|(_, value)| !value.is_null())
        .map(|(name, value)| match value {
            serde_json::Value::String(text) => Ok((name, text)),
            other => Err(format!("{name} must be a string, not {other}")),
        })
        .collect()
}
