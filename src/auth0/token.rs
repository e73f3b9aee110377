//! The Management API access token: fetched with client credentials, cached,
//! refreshed shortly before it expires and once after a 401; its scopes are kept.

use super::Auth0Error;
use super::client::{Auth0Client, DEFAULT_TOKEN_LIFETIME, TOKEN_REFRESH_MARGIN, Token};
use super::retry::Idempotency;
use super::transport::{decode_error, status_text};
use super::wire::{TokenErrorBody, TokenRequest, TokenResponse};
use crate::settings::Secret;
use reqwest::{Method, StatusCode};
use secrecy::ExposeSecret;
use std::time::{Duration, Instant};

impl Auth0Client {
    /// A token valid for a while yet: the cached one, or a new one.
    pub(super) async fn access_token(&self) -> Result<Secret, Auth0Error> {
        let mut cached = self.inner.token.lock().await;
        if let Some(token) = cached.as_ref()
            && Instant::now() < token.refresh_at
        {
            return Ok(token.access.clone());
        }
        let token = self.fetch_token().await?;
        let access = token.access.clone();
        *cached = Some(token);
        Ok(access)
    }

    /// Replaces the token after a 401, unless another caller already did.
    pub(super) async fn refresh_after_401(&self, rejected: &Secret) -> Result<(), Auth0Error> {
        let mut cached = self.inner.token.lock().await;
        if cached.as_ref().is_none_or(|t| t.access.expose_secret() == rejected.expose_secret()) {
            *cached = Some(self.fetch_token().await?);
        }
        Ok(())
    }

    /// `POST /oauth/token` with client credentials.
    pub(super) async fn fetch_token(&self) -> Result<Token, Auth0Error> {
        const PATH: &str = "/oauth/token";
        let inner = &*self.inner;
        let url = format!("{}{PATH}", inner.origin);
        let body = TokenRequest {
            grant_type: "client_credentials",
            client_id: &inner.client_id,
            client_secret: inner.client_secret.expose_secret(),
            audience: &inner.audience,
        };
        let started = Instant::now();
        let raw = self
            .send_retrying(&Method::POST, PATH, super::limiter::Group::Token, Idempotency::Idempotent, || {
                inner.http.post(&url).json(&body)
            })
            .await?;
        if raw.status.is_success() {
            let token: TokenResponse = serde_json::from_slice(&raw.body).map_err(|e| {
                // serde's message may quote the token: only say what kind of problem it was.
                decode_error(
                    &Method::POST,
                    PATH,
                    format!(
                        "the token answer is not {{access_token, expires_in, scope}} ({:?} error at line {} column {})",
                        e.classify(),
                        e.line(),
                        e.column()
                    ),
                )
            })?;
            let lifetime = token.expires_in.map(Duration::from_secs).unwrap_or(DEFAULT_TOKEN_LIFETIME);
            let margin = TOKEN_REFRESH_MARGIN.min(lifetime / 10);
            let scopes = match token.scope.as_deref() {
                Some(scope) => scope.split_whitespace().map(str::to_owned).collect(),
                None => jwt_scopes(&token.access_token).unwrap_or_default(),
            };
            *inner.scopes.lock().unwrap_or_else(|e| e.into_inner()) = scopes;
            tracing::debug!(lifetime_s = lifetime.as_secs(), "obtained a Management API token");
            return Ok(Token {
                access: Secret::from(token.access_token),
                refresh_at: started + lifetime.saturating_sub(margin),
            });
        }
        let status = raw.status;
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            return Err(self.api_error(&Method::POST, PATH, &raw, Idempotency::Idempotent, &[]));
        }
        let parsed: TokenErrorBody = serde_json::from_slice(&raw.body).unwrap_or_default();
        let error = parsed.error.filter(|e| !e.is_empty()).unwrap_or_else(|| status_text(status));
        let description =
            parsed.error_description.filter(|d| !d.is_empty()).unwrap_or_else(|| "no description given".to_owned());
        Err(Auth0Error::Token { status: status.as_u16(), error, description, audience: inner.audience.clone() })
    }
}

/// The `scope` claim of a JWT access token, for token answers without `scope`.
pub(super) fn jwt_scopes(token: &str) -> Option<Vec<String>> {
    let payload = token.split('.').nth(1)?;
    let claims: serde_json::Value = serde_json::from_slice(&base64url_decode(payload)?).ok()?;
    match claims.get("scope")? {
        serde_json::Value::String(s) => Some(s.split_whitespace().map(str::to_owned).collect()),
        serde_json::Value::Array(a) => Some(a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect()),
        _ => None,
    }
}

/// JWT segments are unpadded base64url; some issuers pad them or use the standard
/// alphabet, so both are accepted.
fn base64url_decode(s: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    use base64::engine::DecodePaddingMode;
    use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
    let lenient = GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
    let s = s.trim_end_matches('=');
    let url = GeneralPurpose::new(&base64::alphabet::URL_SAFE, lenient);
    let std = GeneralPurpose::new(&base64::alphabet::STANDARD, lenient);
    url.decode(s).or_else(|_| std.decode(s)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwt_scope_claim() {
        // {"scope":"read:users read:roles"}
        let payload = "eyJzY29wZSI6InJlYWQ6dXNlcnMgcmVhZDpyb2xlcyJ9";
        let token = format!("eyJhbGciOiJSUzI1NiJ9.{payload}.sig");
        assert_eq!(jwt_scopes(&token).unwrap(), vec!["read:users".to_owned(), "read:roles".to_owned()]);
        assert_eq!(jwt_scopes("opaque"), None);
    }
}
