//! `PATCH /api/v2/users/{id}`, where renames, profile and metadata sync meet Auth0's
//! rules (`AUTH0-BEHAVIOUR.md` §6): a new email is lower-cased, unverified unless the
//! body says so, may send a verification email, and is refused (400) when another
//! user of the connection has it; metadata merges one level deep; forbidden
//! combinations and properties outside the schema are 400s; a new password lifts an
//! administrator's block.

use crate::http::{ApiError, ApiResult, Body, bad_body, no_user, path_id, read_body};
use crate::routes::{check_email, check_password, check_picture, conflict, user_json};
use crate::state::StateUser;
use crate::{Shared, Tenant};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// The properties of `UpdateUserRequestContent` (OAS). Anything else is a 400 (the OAS
/// says `additionalProperties: true`, Auth0 has been seen refusing them).
pub(crate) const UPDATE_USER_PROPS: &[&str] = &[
    "blocked",
    "email_verified",
    "email",
    "phone_number",
    "phone_verified",
    "user_metadata",
    "app_metadata",
    "given_name",
    "family_name",
    "name",
    "nickname",
    "picture",
    "verify_email",
    "verify_phone_number",
    "password",
    "connection",
    "client_id",
    "username",
];

/// The message Auth0 answers (400) when another user of the connection has the email.
pub(crate) const EMAIL_TAKEN: &str = "The specified new email already exists";

/// Auth0 merges metadata one level deep: each top-level key of `patch` replaces the
/// stored one whole (nested objects included), a `null` value removes the key, and an
/// empty object removes the metadata altogether.
pub(crate) fn merge_metadata(current: &mut Value, patch: Map<String, Value>) {
    if patch.is_empty() {
        *current = Value::Null;
        return;
    }
    if !current.is_object() {
        *current = Value::Object(Map::new());
    }
    if let Value::Object(cur) = current {
        for (k, v) in patch {
            if v.is_null() {
                cur.remove(&k);
            } else {
                cur.insert(k, v);
            }
        }
    }
}

/// Metadata field names must not contain `.` or `$` (at any depth).
fn check_metadata_keys(prop: &str, v: &Map<String, Value>) -> Result<(), ApiError> {
    for (k, inner) in v {
        if k.contains('.') || k.contains('$') {
            return Err(bad_body(&format!(
                "'Metadata field names must not contain \".\" or \"$\": {k}' on property {prop}."
            )));
        }
        if let Value::Object(m) = inner {
            check_metadata_keys(prop, m)?;
        }
    }
    Ok(())
}

/// The connections in which the user has an identity (the primary only, today).
fn identity_connections(u: &StateUser) -> Vec<&str> {
    vec![u.connection.as_str()]
}

fn combo(a: &str, b: &str) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, &format!("Cannot update {a} and {b} simultaneously"), Some("invalid_body"))
}

/// The body's fields, type-checked (`Some(None)` is an explicit `null`).
struct Patch {
    blocked: Option<bool>,
    email_verified: Option<bool>,
    verify_email: Option<bool>,
    email: Option<Option<String>>,
    given_name: Option<Option<String>>,
    family_name: Option<Option<String>>,
    name: Option<Option<String>>,
    nickname: Option<Option<String>>,
    picture: Option<Option<String>>,
    password: Option<String>,
    connection: Option<String>,
    client_id: Option<String>,
    username: Option<String>,
    app_metadata: Option<Map<String, Value>>,
    user_metadata: Option<Map<String, Value>>,
}

impl Patch {
    /// Schema checks, in the order of the schema; nothing here needs the tenant.
    fn parse(b: &Body) -> Result<Patch, ApiError> {
        let p = Patch {
            blocked: b.boolean("blocked")?,
            email_verified: b.boolean("email_verified")?,
            verify_email: b.boolean("verify_email")?,
            email: b.string("email", 0, usize::MAX, true)?,
            given_name: b.string("given_name", 1, 150, true)?,
            family_name: b.string("family_name", 1, 150, true)?,
            name: b.string("name", 1, 300, true)?,
            nickname: b.string("nickname", 1, 300, true)?,
            picture: b.string("picture", 0, usize::MAX, true)?,
            password: match b.string("password", 1, usize::MAX, true)? {
                Some(None) => return Err(Body::wrong_type("password", "string", &Value::Null)),
                other => other.flatten(),
            },
            connection: b.string("connection", 1, usize::MAX, false)?.flatten(),
            client_id: b.string("client_id", 1, usize::MAX, false)?.flatten(),
            username: b.string("username", 1, 128, false)?.flatten(),
            app_metadata: b.object("app_metadata")?,
            user_metadata: b.object("user_metadata")?,
        };
        b.boolean("verify_phone_number")?;
        b.boolean("phone_verified")?;
        b.string("phone_number", 0, usize::MAX, true)?;
        check_picture(p.picture.clone().flatten().as_deref())?;
        if let Some(m) = &p.app_metadata {
            check_metadata_keys("app_metadata", m)?;
        }
        if let Some(m) = &p.user_metadata {
            check_metadata_keys("user_metadata", m)?;
        }
        Ok(p)
    }
}

/// `PATCH /api/v2/users/{id}`: 200 with the user.
pub(crate) async fn update_user(
    State(s): State<Arc<Shared>>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let body = read_body(body)?;
    let id = path_id(id)?;
    let b = Body::parse(&headers, &body, UPDATE_USER_PROPS, &[])?;
    if b.is_empty() {
        return Err(bad_body("'Too few properties defined (0), minimum 1'."));
    }
    let p = Patch::parse(&b)?;
    let knobs = s.options().lifecycle;

    let mut t = s.tenant.lock().unwrap_or_else(|e| e.into_inner());
    let Some(current) = t.users.get(&id).cloned() else {
        return Err(no_user());
    };
    let Some(conn) = t.connections.iter().find(|c| c.name == current.connection).cloned() else {
        return Err(no_user());
    };
    check_rules(&t, &current, &b, &p, knobs.patch_forbidden_combos, knobs.patch_requires_connection)?;
    let database = conn.strategy == "auth0";

    let mut u = current;
    let mut verification = false;
    if let Some(e) = p.email {
        if !database {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "Cannot update email for this user",
                Some("operation_not_supported"),
            ));
        }
        match e {
            Some(e) => {
                let e = check_email("email", &e)?;
                let taken = t.users.values().any(|o| {
                    o.user_id != u.user_id
                        && o.connection == u.connection
                        && o.email.as_deref().is_some_and(|x| x.to_lowercase() == e)
                });
                if taken {
                    return Err(ApiError::new(StatusCode::BAD_REQUEST, EMAIL_TAKEN, Some("auth0_idp_error")));
                }
                u.email = Some(e);
            }
            None if !conn.requires_username => {
                return Err(bad_body(
                    "'The email of a user of a connection without usernames cannot be removed' on property email.",
                ));
            }
            None => u.email = None,
        }
        if p.email_verified.is_none() && knobs.patch_email_resets_verified {
            u.email_verified = false;
        }
        // Auth0's rule (support article, POST /users; assumed for PATCH): `verify_email`
        // decides when given; otherwise mail unless the body marks the address verified.
        verification = u.email.is_some() && p.verify_email.unwrap_or(p.email_verified != Some(true));
    } else if p.verify_email == Some(true) && u.email.is_some() && database {
        verification = true;
    }
    if let Some(un) = p.username {
        if !conn.requires_username {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "Cannot set username for connection without requireUsername",
                Some("invalid_body"),
            ));
        }
        if t.users.values().any(|o| {
            o.user_id != u.user_id
                && o.connection == u.connection
                && o.username.as_deref().is_some_and(|x| x.eq_ignore_ascii_case(&un))
        }) {
            return Err(conflict("The username provided is in use already.", "username_exists"));
        }
        u.username = Some(un.to_lowercase());
    }
    if let Some(v) = p.email_verified {
        u.email_verified = v;
    }
    if let Some(v) = p.blocked {
        u.blocked = v;
    }
    if let Some(pw) = &p.password {
        if !database {
            return Err(bad_body("'password is only valid for database connections' on property password."));
        }
        check_password(&conn, pw)?;
        s.witness(pw);
        // Documented: resetting a password through the Management API also removes
        // the administrator's block, whatever else the body says.
        u.blocked = false;
    }
    for (slot, val) in [
        (&mut u.given_name, p.given_name),
        (&mut u.family_name, p.family_name),
        (&mut u.name, p.name),
        (&mut u.nickname, p.nickname),
        (&mut u.picture, p.picture),
    ] {
        if let Some(v) = val {
            *slot = v;
        }
    }
    if let Some(m) = p.app_metadata {
        merge_metadata(&mut u.app_metadata, m);
    }
    if let Some(m) = p.user_metadata {
        merge_metadata(&mut u.user_metadata, m);
    }
    u.updated_at = Some(s.clock.now_iso());
    let mut answer = user_json(&u, &t.connections);
    if b.has("blocked") || p.password.is_some() {
        answer["blocked"] = json!(u.blocked);
    }
    let mail = verification.then(|| (u.email.clone().unwrap_or_default(), u.user_id.clone()));
    t.users.insert(id, u);
    drop(t);
    if let Some((to, user_id)) = mail {
        crate::outbox::record_verification(&s, &to, &user_id, p.client_id);
    }
    Ok(Json(answer).into_response())
}

/// The rules that need the tenant but change nothing: the target connection, the
/// combinations Auth0 refuses, `client_id`, phone and `email_verified` support.
fn check_rules(
    t: &Tenant,
    u: &StateUser,
    b: &Body,
    p: &Patch,
    forbidden_combos: bool,
    requires_connection: bool,
) -> Result<(), ApiError> {
    if let Some(c) = &p.connection {
        if !t.connections.iter().any(|x| &x.name == c) {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "The connection does not exist.",
                Some("inexistent_connection"),
            ));
        }
        if !identity_connections(u).contains(&c.as_str()) {
            return Err(bad_body(&format!("'The user has no identity in connection {c}' on property connection.")));
        }
    }
    let credentials = ["email", "email_verified", "username", "password"];
    if requires_connection && p.connection.is_none() && credentials.iter().any(|k| b.has(k)) {
        return Err(bad_body("'Missing required property: connection'."));
    }
    if forbidden_combos && b.has("password") {
        for other in ["email", "email_verified", "username"] {
            if b.has(other) {
                return Err(combo("password", other));
            }
        }
    }
    if b.has("phone_number") || b.has("phone_verified") || b.has("verify_phone_number") {
        return Err(bad_body("'phone_number and phone_verified are only valid for sms connections'."));
    }
    if let Some(c) = &p.client_id {
        if !b.has("email") {
            return Err(bad_body("'client_id is only valid when updating email' on property client_id."));
        }
        if !t.clients.iter().any(|x| &x.client_id == c) {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "The client does not exist.",
                Some("inexistent_client"),
            ));
        }
    }
    let strategy = t.connections.iter().find(|c| c.name == u.connection).map_or("auth0", |c| c.strategy.as_str());
    if p.email_verified.is_some() && crate::routes::ENTERPRISE_OR_PASSWORDLESS.contains(&strategy) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "Updating email_verified is not supported for enterprise and passwordless sms connections",
            Some("operation_not_supported"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_merges_one_level_deep() {
        let mut m = json!({"a": 1, "n": {"x": 1, "y": 2}, "gone": true});
        let patch = json!({"n": {"x": 3, "z": null}, "gone": null, "b": [1]});
        merge_metadata(&mut m, patch.as_object().unwrap().clone());
        assert_eq!(m, json!({"a": 1, "n": {"x": 3, "z": null}, "b": [1]}));
        merge_metadata(&mut m, Map::new());
        assert_eq!(m, Value::Null);
        merge_metadata(&mut m, json!({"k": null}).as_object().unwrap().clone());
        assert_eq!(m, json!({}));
    }

    #[test]
    fn metadata_keys_refuse_dots_and_dollars_at_any_depth() {
        assert!(check_metadata_keys("app_metadata", json!({"a": {"b": 1}}).as_object().unwrap()).is_ok());
        assert!(check_metadata_keys("app_metadata", json!({"a.b": 1}).as_object().unwrap()).is_err());
        assert!(check_metadata_keys("app_metadata", json!({"a": {"$b": 1}}).as_object().unwrap()).is_err());
    }
}
