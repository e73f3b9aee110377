//! Client-credentials tokens, so that the client meets Auth0's login, expiry and scope
//! checks: the `/oauth/token` endpoint, the in-memory token store (opaque random tokens
//! with an expiry) and the scope each Management API route requires.

use crate::Shared;
use crate::clock::Tick;
use crate::http::ApiError;
use axum::Json;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// A token the emulator issued.
#[derive(Debug, Clone)]
pub(crate) struct IssuedToken {
    pub scopes: Vec<String>,
    pub expires_at: Tick,
}

/// Issued tokens, keyed by the opaque token string. Never persisted.
#[derive(Debug, Default)]
pub(crate) struct TokenStore {
    tokens: HashMap<String, IssuedToken>,
}

impl TokenStore {
    pub fn issue(&mut self, scopes: Vec<String>, lifetime: Duration, now: Tick) -> String {
        self.tokens.retain(|_, t| t.expires_at > now);
        let bytes: [u8; 32] = rand::random();
        let token = hex::encode(bytes);
        self.tokens.insert(token.clone(), IssuedToken { scopes, expires_at: now + lifetime });
        token
    }

    pub fn get(&self, token: &str) -> Option<&IssuedToken> {
        self.tokens.get(token)
    }
}

/// What a route requires of a token's scopes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Need {
    AnyOf(&'static [&'static str]),
    AllOf(&'static [&'static str]),
}

/// The scope requirement of a Management API route template (`None`: unknown route).
pub(crate) fn required_scopes(method: &Method, path: &str) -> Option<Need> {
    use Need::*;
    let m = method.as_str();
    Some(match (m, path) {
        ("GET", "/api/v2/users") => AnyOf(&["read:users"]),
        ("POST", "/api/v2/users") => AnyOf(&["create:users"]),
        ("GET", "/api/v2/users/{id}") => AnyOf(&["read:users"]),
        ("PATCH", "/api/v2/users/{id}") => AnyOf(&["update:users"]),
        ("DELETE", "/api/v2/users/{id}") => AnyOf(&["delete:users"]),
        ("GET", "/api/v2/users/{id}/roles") => AllOf(&["read:users", "read:roles"]),
        ("POST", "/api/v2/users/{id}/roles") => AnyOf(&["update:users", "create:role_members"]),
        ("DELETE", "/api/v2/users/{id}/roles") => AnyOf(&["update:users", "delete:role_members"]),
        ("GET", "/api/v2/users-by-email") => AnyOf(&["read:users"]),
        ("GET", "/api/v2/roles") => AnyOf(&["read:roles"]),
        ("POST", "/api/v2/roles") => AnyOf(&["create:roles"]),
        ("GET", "/api/v2/roles/{id}") => AnyOf(&["read:roles"]),
        ("DELETE", "/api/v2/roles/{id}") => AnyOf(&["delete:roles"]),
        ("GET", "/api/v2/roles/{id}/users") => AllOf(&["read:users", "read:roles"]),
        ("POST", "/api/v2/roles/{id}/users") => AnyOf(&["update:roles", "create:role_members"]),
        ("GET", "/api/v2/connections") => AnyOf(&["read:connections"]),
        ("POST", "/api/v2/jobs/users-exports") => AnyOf(&["read:users"]),
        ("POST", "/api/v2/jobs/users-imports") => AnyOf(&["create:users"]),
        ("GET", "/api/v2/jobs/{id}") => AnyOf(&["create:users", "read:users"]),
        ("GET", "/api/v2/jobs/{id}/errors") => AnyOf(&["create:users", "read:users"]),
        // Invitations, sessions, enabled clients (lifecycle.rs, invites.rs, sessions.rs).
        ("POST", "/api/v2/tickets/password-change") => AnyOf(&["create:user_tickets"]),
        ("GET", "/api/v2/users/{id}/sessions") => AnyOf(&["read:sessions"]),
        ("DELETE", "/api/v2/users/{id}/sessions") => AnyOf(&["delete:sessions"]),
        ("GET", "/api/v2/users/{id}/refresh-tokens") => AnyOf(&["read:refresh_tokens"]),
        ("DELETE", "/api/v2/users/{id}/refresh-tokens") => AnyOf(&["delete:refresh_tokens"]),
        ("GET", "/api/v2/connections/{id}/clients") => AnyOf(&["read:connections"]),
        _ => return None,
    })
}

/// Checks the bearer token of a Management API request against `need`.
pub(crate) fn authorize(shared: &Shared, headers: &HeaderMap, need: Option<Need>) -> Result<(), ApiError> {
    let unauthorized = |message: &str, with_attributes: bool| {
        let mut body = json!({"statusCode": 401, "error": "Unauthorized", "message": message});
        if with_attributes {
            body["attributes"] = json!({ "error": message });
        }
        ApiError::from_body(StatusCode::UNAUTHORIZED, body)
    };
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(unauthorized("Missing authentication", false));
    };
    let value = value.to_str().map_err(|_| unauthorized("Bad HTTP authentication header format", false))?;
    let token = match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() => token.trim(),
        _ => return Err(unauthorized("Bad HTTP authentication header format", false)),
    };
    let tokens = shared.tokens.lock().unwrap_or_else(|e| e.into_inner());
    let Some(issued) = tokens.get(token) else {
        return Err(unauthorized("Invalid token", true));
    };
    if issued.expires_at <= shared.clock.tick() {
        return Err(unauthorized("Expired token received for JSON Web Token validation", true));
    }
    let has = |s: &&str| issued.scopes.iter().any(|g| g == s);
    let (ok, message) = match need {
        None => (true, String::new()),
        Some(Need::AnyOf(scopes)) => {
            (scopes.iter().any(has), format!("Insufficient scope, expected any of: {}", scopes.join(",")))
        }
        Some(Need::AllOf(scopes)) => {
            (scopes.iter().all(has), format!("Insufficient scope, expected all of: {}", scopes.join(",")))
        }
    };
    if ok { Ok(()) } else { Err(ApiError::new(StatusCode::FORBIDDEN, &message, Some("insufficient_scope"))) }
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (status, Json(json!({"error": error, "error_description": description}))).into_response()
}

/// Reads a token request body: `application/x-www-form-urlencoded` or JSON.
fn token_params(headers: &HeaderMap, body: &Bytes) -> Result<HashMap<String, String>, String> {
    let ctype = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
    let invalid = |d: &str| d.to_owned();
    if ctype.starts_with("application/x-www-form-urlencoded") {
        let uri: axum::http::Uri =
            format!("/?{}", String::from_utf8_lossy(body)).parse().map_err(|_| invalid("Malformed form body"))?;
        let q = axum::extract::Query::<Vec<(String, String)>>::try_from_uri(&uri)
            .map_err(|_| invalid("Malformed form body"))?;
        Ok(q.0.into_iter().collect())
    } else if ctype.starts_with("application/json") {
        let v: Value = serde_json::from_slice(body).map_err(|_| invalid("Invalid request payload JSON format"))?;
        let Value::Object(map) = v else {
            return Err(invalid("Invalid request payload JSON format"));
        };
        let mut out = HashMap::new();
        for (k, v) in map {
            match v {
                Value::String(s) => {
                    out.insert(k, s);
                }
                Value::Null => {}
                other => {
                    out.insert(k, other.to_string());
                }
            }
        }
        Ok(out)
    } else {
        Err(invalid("Content-Type must be application/x-www-form-urlencoded or application/json"))
    }
}

/// `POST /oauth/token` (client credentials grant only).
pub(crate) async fn token_endpoint(
    axum::extract::State(shared): axum::extract::State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = match token_params(&headers, &body) {
        Ok(p) => p,
        Err(d) => return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", &d),
    };
    let get = |k: &str| params.get(k).map(String::as_str).filter(|s| !s.is_empty());
    match get("grant_type") {
        None => {
            return oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "Missing required parameter: grant_type");
        }
        Some("client_credentials") => {}
        Some(other) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                &format!("Unsupported grant type: {other}"),
            );
        }
    }
    let denied = || oauth_error(StatusCode::UNAUTHORIZED, "access_denied", "Unauthorized");
    let (Some(client_id), Some(secret)) = (get("client_id"), get("client_secret")) else {
        return denied();
    };
    let scopes = {
        let tenant = shared.tenant.lock().unwrap_or_else(|e| e.into_inner());
        let client = tenant.clients.iter().find(|c| c.client_id == client_id);
        match client {
            Some(c) if constant_time_eq(c.client_secret.as_bytes(), secret.as_bytes()) => c.scopes.clone(),
            _ => return denied(),
        }
    };
    let expected = format!("{}/api/v2/", shared.base_url);
    match get("audience") {
        None => {
            return oauth_error(
                StatusCode::FORBIDDEN,
                "access_denied",
                "No audience parameter was provided, and no default audience has been configured",
            );
        }
        Some(a) if a == expected => {}
        Some(a) => {
            return oauth_error(
                StatusCode::FORBIDDEN,
                "access_denied",
                &format!("Service not enabled within domain: {a}"),
            );
        }
    }
    if scopes.is_empty() {
        return oauth_error(
            StatusCode::FORBIDDEN,
            "access_denied",
            &format!(
                "Client is not authorized to access \"{expected}\". You need to create a \"client-grant\" associated to this API. See: https://auth0.com/docs/api/v2#!/Client_Grants/post_client_grants"
            ),
        );
    }
    // An explicit `scope` asks for a subset of the granted scopes.
    let scopes = match get("scope") {
        None => scopes,
        Some(asked) => {
            let asked: Vec<String> = asked.split_whitespace().map(str::to_owned).collect();
            let missing: Vec<&str> = asked.iter().filter(|a| !scopes.contains(a)).map(String::as_str).collect();
            if !missing.is_empty() {
                return oauth_error(
                    StatusCode::FORBIDDEN,
                    "access_denied",
                    &format!("Client has not been granted scopes: {}", missing.join(", ")),
                );
            }
            asked
        }
    };
    let lifetime = shared.token_lifetime();
    let token =
        shared.tokens.lock().unwrap_or_else(|e| e.into_inner()).issue(scopes.clone(), lifetime, shared.clock.tick());
    shared.witness(&token);
    (
        StatusCode::OK,
        Json(json!({
            "access_token": token,
            "expires_in": lifetime.as_secs(),
            "scope": scopes.join(" "),
            "token_type": "Bearer",
        })),
    )
        .into_response()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
