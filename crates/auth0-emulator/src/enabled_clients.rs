//! `GET /api/v2/connections/{id}/clients`, the current way to learn which applications
//! a connection is enabled for (`AUTH0-BEHAVIOUR.md` §10: the `enabled_clients` field of
//! `GET /connections` reached its end of life on 2026-07-13), so that the tool can check
//! that its invitation application may send change-password emails.

use crate::Shared;
use crate::http::{ApiError, ApiResult, Params, bad_query, path_id};
use axum::Json;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::json;
use std::sync::Arc;

/// `?take=N(1..=100, 50)&from=CURSOR` → `{"clients": [{"client_id": ...}], "next"?}`,
/// in the order of the state file; 404 for an unknown connection.
pub(crate) async fn list_connection_clients(
    State(s): State<Arc<Shared>>,
    id: Result<Path<String>, PathRejection>,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ApiResult {
    let id = path_id(id)?;
    let p = Params::new(q, &["take", "from"])?;
    let take = p.int("take", 1, Some(100))?.unwrap_or(50) as usize;
    let start = match p.one("from")?.filter(|f| !f.is_empty()) {
        None => 0,
        Some(f) => hex::decode(f)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| bad_query("'Invalid value' on property from."))?,
    };
    let t = s.tenant.lock().unwrap_or_else(|e| e.into_inner());
    let Some(conn) = t.connections.iter().find(|c| c.id == id) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "The connection does not exist",
            Some("inexistent_connection"),
        ));
    };
    let page: Vec<_> = conn.enabled_clients.iter().skip(start).take(take).map(|c| json!({ "client_id": c })).collect();
    let mut body = json!({ "clients": page });
    if start.saturating_add(take) < conn.enabled_clients.len() {
        body["next"] = json!(hex::encode((start + take).to_string()));
    }
    Ok(Json(body).into_response())
}
