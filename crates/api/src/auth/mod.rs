//! OAuth2 client credentials: `POST /oauth/token` issues signed JWTs; every contract operation
//! requires one with the scope its `security` lists, and is rate limited per client.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rolemine_store::clients;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::error::{ApiError, ErrorResponseDto};
use crate::state::AppState;

mod grant;
pub mod secrets;
pub mod throttle;

use secrets::Verifier;
use throttle::FailureThrottle;

/// The read scope: every read operation.
pub const READ_SCOPE: &str = "iai:access-modeling:read";
/// The manage scope: every operation, reads included.
pub const MANAGE_SCOPE: &str = "iai:access-modeling:manage";
/// Every scope a client can be granted.
pub const SCOPES: [&str; 2] = [READ_SCOPE, MANAGE_SCOPE];

/// How many times more failed token requests one address may make than one (client id,
/// address) pair.
pub const ADDRESS_FAILURE_FACTOR: u32 = 5;

/// Rate-limiter keys kept before idle ones are dropped.
const LIMITER_KEYS: usize = 10_000;

/// What an operation needs, as its contract `security` lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// `iai:access-modeling:read` or `iai:access-modeling:manage`.
    Read,
    /// `iai:access-modeling:manage`.
    Manage,
}

impl Access {
    fn allows(self, scopes: &[String]) -> bool {
        let has = |scope: &str| scopes.iter().any(|s| s == scope);
        match self {
            Access::Read => has(READ_SCOPE) || has(MANAGE_SCOPE),
            Access::Manage => has(MANAGE_SCOPE),
        }
    }

    fn needed(self) -> &'static str {
        match self {
            Access::Read => "iai:access-modeling:read or iai:access-modeling:manage",
            Access::Manage => MANAGE_SCOPE,
        }
    }
}

/// The authenticated client of a request (handlers record it as `createdBy`).
#[derive(Debug, Clone)]
pub struct Caller {
    /// Its client id.
    pub client_id: String,
    /// Its display name.
    pub name: String,
}

/// Token settings and the per-client rate limiter.
pub struct Auth {
    encoding: EncodingKey,
    decoding: DecodingKey,
    issuer: String,
    token_ttl: Duration,
    limiter: DefaultKeyedRateLimiter<String>,
    verifier: Verifier,
    /// Failures per (client id, address): a wrong secret from one place does not lock the
    /// client out everywhere (client ids are visible to every reader as `createdBy.id`).
    failures: FailureThrottle,
    /// Failures per address, whatever client ids it tries (a flood of made-up ids).
    address_failures: FailureThrottle,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("issuer", &self.issuer)
            .field("token_ttl", &self.token_ttl)
            .finish_non_exhaustive()
    }
}

/// Settings of [`Auth`].
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// The HMAC key tokens are signed with (shared by every server on the database).
    pub signing_key: Vec<u8>,
    /// The `iss` of issued tokens, checked on every request.
    pub issuer: String,
    /// How long an access token lives.
    pub token_ttl: Duration,
    /// Sustained requests per second per client.
    pub rate_per_second: NonZeroU32,
    /// Requests a client may send at once above the sustained rate.
    pub burst: NonZeroU32,
    /// Failed token requests for one client id from one address allowed per minute before
    /// that pair's token requests are refused for the rest of the minute; one address may fail
    /// [`ADDRESS_FAILURE_FACTOR`] times as often over all client ids.
    pub token_failures_per_minute: u32,
}

impl Auth {
    /// Keys, limiter and secret checking threads (one per core) from `settings`.
    pub fn new(settings: AuthSettings) -> std::io::Result<Arc<Self>> {
        let quota = Quota::per_second(settings.rate_per_second).allow_burst(settings.burst);
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        Ok(Arc::new(Self {
            encoding: EncodingKey::from_secret(&settings.signing_key),
            decoding: DecodingKey::from_secret(&settings.signing_key),
            issuer: settings.issuer,
            token_ttl: settings.token_ttl,
            limiter: RateLimiter::keyed(quota),
            verifier: Verifier::start(cores)?,
            failures: FailureThrottle::new(
                settings.token_failures_per_minute,
                Duration::from_secs(60),
            ),
            address_failures: FailureThrottle::new(
                settings
                    .token_failures_per_minute
                    .saturating_mul(ADDRESS_FAILURE_FACTOR),
                Duration::from_secs(60),
            ),
        }))
    }

    /// Admits one request for `key`, or says how long to wait.
    fn admit(&self, key: &str) -> Result<(), ApiError> {
        // Token requests are keyed by whatever client id is sent: forget idle keys so made-up
        // ids cannot grow the limiter without bound.
        if self.limiter.len() > LIMITER_KEYS {
            self.limiter.retain_recent();
        }
        self.limiter
            .check_key(&key.to_owned())
            .map_err(|not_until| ApiError::TooManyRequests {
                retry_after: not_until.wait_time_from(DefaultClock::default().now()),
            })
    }
}

/// The claims of an access token.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    iat: u64,
    exp: u64,
    jti: String,
    client_id: String,
    client_name: String,
    scope: Vec<String>,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// An OAuth2 error response (RFC 6749 section 5.2).
fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (
        status,
        Json(json!({ "error": error, "error_description": description })),
    )
        .into_response()
}

/// A successful token response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenResponse {
    /// The bearer token (a signed JWT).
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: &'static str,
    /// Seconds until it expires.
    pub expires_in: u64,
    /// The granted scopes, space-separated.
    pub scope: String,
    /// The token's id.
    pub jti: String,
}

/// `POST /oauth/token`: the client-credentials grant, with `grant_type`, `client_id` and
/// `client_secret` form-encoded, as multipart form data (the TypeScript SDK), as a JSON object,
/// or with the credentials in HTTP Basic, as OAuth2 servers in the wild accept them.
#[utoipa::path(
    post,
    path = "/oauth/token",
    operation_id = "createToken",
    tag = "Authentication",
    request_body(content_type = "application/x-www-form-urlencoded",
        description = "grant_type=client_credentials, client_id, client_secret (also multipart/form-data or JSON)"),
    responses(
        (status = 200, description = "A bearer token", body = TokenResponse),
        (status = 400, description = "invalid_request or unsupported_grant_type"),
        (status = 401, description = "invalid_client"),
        (status = 429, description = "Rate limited, or too many failed attempts", body = crate::error::RateLimitedDto),
        (status = 503, description = "Too many token requests being checked; retry", body = ErrorResponseDto),
    )
)]
pub async fn token(State(state): State<AppState>, request: Request) -> Response {
    let address = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(
            || "unknown".to_owned(),
            |ConnectInfo(peer)| network(peer.ip()),
        );
    let headers = request.headers().clone();
    let form = match grant::read(request).await {
        Ok(form) => form,
        Err(description) => {
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", &description)
        }
    };
    match form.get("grant_type").map(String::as_str) {
        Some("client_credentials") => {}
        Some(other) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                &format!("grant_type {other:?} is not supported; use client_credentials"),
            )
        }
        None => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "grant_type is missing; use client_credentials",
            )
        }
    }
    let Some((client_id, secret)) = credentials(&form, &headers) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "client_id and client_secret are required",
        );
    };
    let pair = format!("{client_id}|{address}");
    let blocked = [
        state.auth.failures.blocked(&pair),
        state.auth.address_failures.blocked(&address),
    ];
    if let Some(wait) = blocked.into_iter().flatten().max() {
        return ApiError::TooManyRequests { retry_after: wait }.into_response();
    }
    if let Err(err) = state.auth.admit(&format!("token:{pair}")) {
        return err.into_response();
    }
    let hash = match clients::secret_hash(&state.pool, &client_id).await {
        Ok(hash) => hash,
        Err(err) => return ApiError::from(err).into_response(),
    };
    let matched = match state.auth.verifier.verify(secret, hash).await {
        Ok(matched) => matched,
        Err(busy) => return ApiError::Unavailable(busy.to_string()).into_response(),
    };
    let client = match matched {
        true => clients::active(&state.pool, &client_id).await,
        false => Ok(None),
    };
    let client = match client {
        Ok(Some(client)) => client,
        Ok(None) => {
            state.auth.failures.failed(&pair);
            state.auth.address_failures.failed(&address);
            return oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "unknown client, wrong secret, or a revoked client",
            );
        }
        Err(err) => return ApiError::from(err).into_response(),
    };
    let issued = now();
    let ttl = state.auth.token_ttl.as_secs();
    let claims = Claims {
        iss: state.auth.issuer.clone(),
        sub: client.client_id.clone(),
        iat: issued,
        exp: issued + ttl,
        jti: Uuid::new_v4().to_string(),
        client_id: client.client_id.clone(),
        client_name: client.name.clone(),
        scope: client.scopes.clone(),
    };
    match jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &state.auth.encoding,
    ) {
        Ok(access_token) => Json(TokenResponse {
            access_token,
            token_type: "bearer",
            expires_in: ttl,
            scope: client.scopes.join(" "),
            jti: claims.jti,
        })
        .into_response(),
        Err(err) => {
            ApiError::Unavailable(format!("cannot sign the access token: {err}")).into_response()
        }
    }
}

/// The throttles' address key: an IPv4 address, or an IPv6 address's /64 network (one host
/// commonly holds a whole /64).
fn network(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V4(v4) => v4.to_string(),
        // An IPv4 client of a dual-stack listener.
        std::net::IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some() => v6
            .to_ipv4_mapped()
            .map(|v4| v4.to_string())
            .unwrap_or_default(),
        std::net::IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

/// The client credentials from the body or from HTTP Basic authentication.
fn credentials(form: &HashMap<String, String>, headers: &HeaderMap) -> Option<(String, String)> {
    if let (Some(id), Some(secret)) = (form.get("client_id"), form.get("client_secret")) {
        return Some((id.clone(), secret.clone()));
    }
    let basic = headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Basic ")?;
    let decoded = base64_decode(basic.trim())?;
    let text = String::from_utf8(decoded).ok()?;
    let (id, secret) = text.split_once(':')?;
    if id.contains('\0') || secret.contains('\0') {
        return None;
    }
    Some((id.to_owned(), secret.to_owned()))
}

/// Standard base64 (the alphabet of HTTP Basic).
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

/// Middleware: a valid bearer token of an active client with `access`, within its rate.
pub async fn require(
    State((state, access)): State<(AppState, Access)>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| {
            value
                .strip_prefix("Bearer ")
                .or_else(|| value.strip_prefix("bearer "))
        })
        .map(str::trim)
        .ok_or_else(|| {
            ApiError::Unauthorized(
                "no bearer token: send Authorization: Bearer <access_token> from POST /oauth/token"
                    .to_owned(),
            )
        })?;
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_issuer(&[&state.auth.issuer]);
    validation.leeway = 0;
    validation.set_required_spec_claims(&["exp", "iss", "sub"]);
    let claims = jsonwebtoken::decode::<Claims>(token, &state.auth.decoding, &validation)
        .map_err(|err| {
            ApiError::Unauthorized(match err.kind() {
                ErrorKind::ExpiredSignature => {
                    "JWT validation failed: the access token has expired".to_owned()
                }
                ErrorKind::InvalidSignature => {
                    "JWT validation failed: the access token's signature is not valid".to_owned()
                }
                ErrorKind::InvalidIssuer => {
                    "JWT validation failed: the access token was issued by another server"
                        .to_owned()
                }
                _ => format!("JWT validation failed: the access token is malformed ({err})"),
            })
        })?
        .claims;
    let client = clients::active(&state.pool, &claims.client_id)
        .await?
        .ok_or_else(|| {
            ApiError::Unauthorized(
                "JWT validation failed: the access token's client has been revoked".to_owned(),
            )
        })?;
    if !access.allows(&claims.scope) {
        return Err(ApiError::Forbidden(format!(
            "this operation needs the scope {}; the access token has: {}",
            access.needed(),
            if claims.scope.is_empty() {
                "no scopes".to_owned()
            } else {
                claims.scope.join(", ")
            }
        )));
    }
    state.auth.admit(&client.client_id)?;
    request.extensions_mut().insert(Caller {
        client_id: client.client_id,
        name: client.name,
    });
    Ok(next.run(request).await)
}
