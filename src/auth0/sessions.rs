//! The plan-time probe of `plan --revoke-sessions`: whether the tenant offers the
//! session and refresh-token endpoints (Enterprise plans), asked cheaply of one user so
//! that a tenant without them is refused at plan time, never half way through apply.

use super::{Auth0Client, Auth0Error};
use miette::Diagnostic;
use thiserror::Error;

/// A tenant that cannot revoke sessions or refresh tokens.
#[derive(Debug, Error, Diagnostic)]
pub enum RevokeError {
    #[error("--revoke-sessions: the tenant does not offer {endpoint} (it answered {answer})")]
    #[diagnostic(
        code(auth0_sync::plan::revocation_unavailable),
        help(
            "revoking sessions and refresh tokens needs Auth0's session and refresh-token management endpoints (Enterprise plans) and the scopes read:sessions, delete:sessions, read:refresh_tokens, delete:refresh_tokens; grant them, or plan without --revoke-sessions (blocking still stops new logins; tokens already issued stay valid until they expire)"
        )
    )]
    Unavailable { endpoint: &'static str, answer: String },
}

/// The plan-time probe: `GET /users/{id}/sessions` and `/refresh-tokens` of one user
/// (nothing is revoked). Any refusal is the tenant saying it cannot revoke.
pub async fn probe(client: &Auth0Client, user_id: &str) -> Result<(), RevokeError> {
    let refused = |endpoint, e: Auth0Error| RevokeError::Unavailable { endpoint, answer: e.to_string() };
    client.list_sessions_probe(user_id, "sessions").await.map_err(|e| refused("GET /api/v2/users/{id}/sessions", e))?;
    client
        .list_sessions_probe(user_id, "refresh-tokens")
        .await
        .map_err(|e| refused("GET /api/v2/users/{id}/refresh-tokens", e))
}
