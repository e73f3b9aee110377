//! Session and refresh-token revocation (`AUTH0-BEHAVIOUR.md` §8), Enterprise-only
//! endpoints: `DELETE /api/v2/users/{id}/sessions|refresh-tokens` answer 202 `{}` and
//! are recorded so tests can count them; their `GET` variants are the cheap capability
//! probe (same plan gate, nothing revoked). A tenant without the feature answers what
//! [`FeatureAnswer`] says, on every one of them, before looking at the user.

use crate::Shared;
use crate::http::{ApiError, ApiResult, Params, bad_query, no_user, path_id};
use crate::lifecycle::FeatureAnswer;
use crate::outbox::{Revocation, RevocationKind};
use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::json;
use std::sync::Arc;

/// The plan gate: `Ok` on a tenant with the feature, else its refusal. `scope` is the
/// route's scope, for the `insufficient_scope` reading.
fn gate(answer: FeatureAnswer, scope: &str) -> Result<(), ApiError> {
    match answer {
        FeatureAnswer::Available => Ok(()),
        FeatureAnswer::OperationNotSupported => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "The account is not allowed to perform this operation.",
            Some("operation_not_supported"),
        )),
        FeatureAnswer::NotFound => Err(ApiError::new(StatusCode::NOT_FOUND, "Not Found", None)),
        FeatureAnswer::InsufficientScope => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            &format!("Insufficient scope, expected any of: {scope}"),
            Some("insufficient_scope"),
        )),
    }
}

fn answer_of(s: &Shared, kind: RevocationKind) -> FeatureAnswer {
    let o = s.options().lifecycle;
    match kind {
        RevocationKind::Sessions => o.sessions_api,
        RevocationKind::RefreshTokens => o.refresh_tokens_api,
    }
}

fn user_exists(s: &Shared, id: &str) -> bool {
    s.tenant.lock().unwrap_or_else(|e| e.into_inner()).users.contains_key(id)
}

/// Checkpoint parameters of the list variants (`take` 1..=100, `from` opaque).
fn checkpoint(p: &Params) -> Result<(), ApiError> {
    p.int("take", 1, Some(100))?;
    if let Some(f) = p.one("from")?
        && !f.is_empty()
    {
        // Nothing is ever listed, so no cursor the emulator gave can exist.
        return Err(bad_query("'Invalid value' on property from."));
    }
    Ok(())
}

async fn revoke(s: Arc<Shared>, id: Result<Path<String>, PathRejection>, kind: RevocationKind) -> ApiResult {
    let scope = match kind {
        RevocationKind::Sessions => "delete:sessions",
        RevocationKind::RefreshTokens => "delete:refresh_tokens",
    };
    gate(answer_of(&s, kind), scope)?;
    let id = path_id(id)?;
    if !user_exists(&s, &id) {
        if !s.options().lifecycle.revoke_unknown_user_accepted {
            return Err(no_user());
        }
        return Ok((StatusCode::ACCEPTED, Json(json!({}))).into_response());
    }
    let at = s.clock.now();
    s.outbox().revocations.push(Revocation { kind, user_id: id, at });
    Ok((StatusCode::ACCEPTED, Json(json!({}))).into_response())
}

/// `DELETE /api/v2/users/{id}/sessions`: 202 `{}` (recorded), asynchronous in Auth0.
pub(crate) async fn delete_user_sessions(
    State(s): State<Arc<Shared>>,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult {
    revoke(s, id, RevocationKind::Sessions).await
}

/// `DELETE /api/v2/users/{id}/refresh-tokens`: 202 `{}` (recorded).
pub(crate) async fn delete_user_refresh_tokens(
    State(s): State<Arc<Shared>>,
    id: Result<Path<String>, PathRejection>,
) -> ApiResult {
    revoke(s, id, RevocationKind::RefreshTokens).await
}

/// `GET /api/v2/users/{id}/sessions?take&from`: `{"sessions": []}` (the emulator
/// models no logins, so there is never a session to list).
pub(crate) async fn list_user_sessions(
    State(s): State<Arc<Shared>>,
    id: Result<Path<String>, PathRejection>,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ApiResult {
    gate(answer_of(&s, RevocationKind::Sessions), "read:sessions")?;
    let id = path_id(id)?;
    let p = Params::new(q, &["take", "from"])?;
    checkpoint(&p)?;
    if !user_exists(&s, &id) {
        return Err(no_user());
    }
    Ok(Json(json!({"sessions": []})).into_response())
}

/// `GET /api/v2/users/{id}/refresh-tokens?take&from&include_totals&per_page`:
/// `{"tokens": []}` (`"total": 0` with `include_totals`, as recorded).
pub(crate) async fn list_user_refresh_tokens(
    State(s): State<Arc<Shared>>,
    id: Result<Path<String>, PathRejection>,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ApiResult {
    gate(answer_of(&s, RevocationKind::RefreshTokens), "read:refresh_tokens")?;
    let id = path_id(id)?;
    let p = Params::new(q, &["take", "from", "include_totals", "per_page"])?;
    checkpoint(&p)?;
    let totals = p.boolean("include_totals")?.unwrap_or(false);
    p.int("per_page", 1, Some(100))?;
    if !user_exists(&s, &id) {
        return Err(no_user());
    }
    let mut body = json!({"tokens": []});
    if totals {
        body["total"] = json!(0);
    }
    Ok(Json(body).into_response())
}
