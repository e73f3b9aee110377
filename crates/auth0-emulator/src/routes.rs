//! The Management API handlers, where the client meets Auth0's rules for users, roles
//! and connections (limits, conflicts, password policy) and its response shapes.

use crate::http::{
    ApiError, ApiResult, Body, Offset, Params, apply_fields, bad_body, bad_query, no_role, no_user, path_id, read_body,
};
use crate::query;
use crate::state::{StateConnection, StateRole, StateUser};
use crate::{Shared, Tenant};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde_json::{Value, json};
use std::sync::Arc;

// `PATCH /api/v2/users/{id}` lives in its own module (email changes, metadata merge).

/// Only this many results of a query can be paged through (`/users`, role members).
pub(crate) const PAGING_CAP: u64 = 1000;
/// At most this many roles per user.
pub(crate) const MAX_ROLES_PER_USER: usize = 50;
/// At most this many roles per tenant.
pub(crate) const MAX_ROLES_PER_TENANT: usize = 1000;

pub(crate) fn valid_email(e: &str) -> bool {
    let Some((local, domain)) = e.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !e.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// `picture` has format `strict-uri`.
pub(crate) fn check_picture(p: Option<&str>) -> Result<(), ApiError> {
    match p {
        Some(u) if !(u.starts_with("https://") || u.starts_with("http://")) || u.chars().any(char::is_whitespace) => {
            Err(bad_body(&format!("'Object didn't pass validation for format strict-uri: {u}' on property picture.")))
        }
        _ => Ok(()),
    }
}

pub(crate) fn check_email(k: &str, e: &str) -> Result<String, ApiError> {
    if valid_email(e) {
        Ok(e.to_lowercase())
    } else {
        Err(bad_body(&format!("'Object didn't pass validation for format email: {e}' on property {k}.")))
    }
}

/// Auth0 password policies; never weaker than `fair` (8 chars, 3 of 4 kinds).
pub(crate) fn check_password(conn: &StateConnection, pw: &str) -> Result<(), ApiError> {
    let weak = || {
        ApiError::new(StatusCode::BAD_REQUEST, "PasswordStrengthError: Password is too weak", Some("invalid_password"))
    };
    let excellent = conn.password_policy.as_deref() == Some("excellent");
    let min_len = if excellent { 10 } else { 8 };
    let len = pw.chars().count();
    if len < min_len || pw.len() > 72 {
        return Err(weak());
    }
    let kinds = [
        pw.chars().any(|c| c.is_lowercase()),
        pw.chars().any(|c| c.is_uppercase()),
        pw.chars().any(|c| c.is_ascii_digit()),
        pw.chars().any(|c| !c.is_alphanumeric()),
    ];
    if kinds.iter().filter(|k| **k).count() < 3 {
        return Err(weak());
    }
    if excellent {
        let c: Vec<char> = pw.chars().collect();
        if c.windows(3).any(|w| w[0] == w[1] && w[1] == w[2]) {
            return Err(weak());
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- shapes

pub(crate) fn picture_for(seed: &str) -> String {
    use sha2::Digest;
    let h = hex::encode(sha2::Sha256::digest(seed.as_bytes()));
    let initials: String = seed.chars().filter(|c| c.is_alphanumeric()).take(2).collect();
    format!(
        "https://s.gravatar.com/avatar/{}?s=480&r=pg&d=https%3A%2F%2Fcdn.auth0.com%2Favatars%2F{}.png",
        &h[..32],
        initials.to_lowercase()
    )
}

fn default_name(u: &StateUser) -> String {
    u.name.clone().or_else(|| u.email.clone()).unwrap_or_else(|| u.user_id.clone())
}

fn default_picture(u: &StateUser) -> String {
    u.picture.clone().unwrap_or_else(|| picture_for(u.email.as_deref().unwrap_or(&u.user_id)))
}

/// Strategies of enterprise and passwordless connections (whose `email_verified`
/// cannot be updated).
pub(crate) const ENTERPRISE_OR_PASSWORDLESS: &[&str] = &[
    "email",
    "sms",
    "samlp",
    "waad",
    "adfs",
    "ad",
    "auth0-adldap",
    "oidc",
    "okta",
    "pingfederate",
    "google-apps",
    "ip",
    "office365",
];

/// Database, passwordless and enterprise strategies are not social; the rest
/// (`google-oauth2`, `github`, ...) are.
fn is_social(strategy: &str) -> bool {
    strategy != "auth0" && !ENTERPRISE_OR_PASSWORDLESS.contains(&strategy)
}

/// A user as Auth0 renders it (see the recordings of `GET /api/v2/users/{id}`).
pub(crate) fn user_json(u: &StateUser, conns: &[StateConnection]) -> Value {
    let strategy = conns.iter().find(|c| c.name == u.connection).map(|c| c.strategy.as_str()).unwrap_or("auth0");
    let ident_id = u.user_id.split_once('|').map_or(u.user_id.as_str(), |x| x.1);
    let nickname = u.nickname.clone().unwrap_or_else(|| {
        u.username
            .clone()
            .unwrap_or_else(|| u.email.as_deref().and_then(|e| e.split('@').next()).unwrap_or(ident_id).to_owned())
    });
    let identities: Vec<Value> = if u.identities.is_empty() {
        vec![json!({
            "connection": u.connection,
            "user_id": ident_id,
            "provider": strategy,
            "isSocial": is_social(strategy),
        })]
    } else {
        // Linked accounts (Auth0's docs sample): the primary first, secondaries with
        // their own attributes in `profileData`.
        u.identities
            .iter()
            .map(|i| {
                let strategy =
                    conns.iter().find(|c| c.name == i.connection).map(|c| c.strategy.as_str()).unwrap_or("auth0");
                let provider = i.provider.as_deref().unwrap_or(strategy);
                let mut v = json!({
                    "connection": i.connection,
                    "user_id": i.user_id,
                    "provider": provider,
                    "isSocial": is_social(provider),
                });
                if !i.profile_data.is_null() {
                    v["profileData"] = i.profile_data.clone();
                }
                v
            })
            .collect()
    };
    let mut v = json!({
        "user_id": u.user_id,
        "email_verified": u.email_verified,
        "identities": identities,
        "name": default_name(u),
        "nickname": nickname,
        "picture": default_picture(u),
    });
    let opt = |v: &mut Value, k: &str, o: &Option<String>| {
        if let Some(s) = o {
            v[k] = json!(s);
        }
    };
    opt(&mut v, "email", &u.email);
    opt(&mut v, "given_name", &u.given_name);
    opt(&mut v, "family_name", &u.family_name);
    opt(&mut v, "username", &u.username);
    opt(&mut v, "created_at", &u.created_at);
    opt(&mut v, "updated_at", &u.updated_at);
    if u.blocked {
        v["blocked"] = json!(true);
    }
    if !u.app_metadata.is_null() {
        v["app_metadata"] = u.app_metadata.clone();
    }
    if !u.user_metadata.is_null() {
        v["user_metadata"] = u.user_metadata.clone();
    }
    v
}

fn role_json(r: &StateRole) -> Value {
    let mut v = json!({"id": r.id, "name": r.name});
    if !r.description.is_empty() {
        v["description"] = json!(r.description);
    }
    v
}

fn role_user_json(u: &StateUser) -> Value {
    let mut v = json!({
        "user_id": u.user_id,
        "picture": default_picture(u),
        "name": default_name(u),
    });
    if let Some(e) = &u.email {
        v["email"] = json!(e);
    }
    v
}

/// `enabled_clients` only when the tenant keeps the deprecated field (`legacy`).
fn connection_json(c: &StateConnection, legacy: bool) -> Value {
    let mut options = json!({
        "mfa": {"active": true, "return_enroll_settings": true},
        "strategy_version": 2,
        "brute_force_protection": true,
    });
    if c.strategy == "auth0" {
        options["passwordPolicy"] = json!(c.password_policy.as_deref().unwrap_or("good"));
        options["requires_username"] = json!(c.requires_username);
        options["password_complexity_options"] = json!({"min_length": 8});
    }
    let mut v = json!({
        "id": c.id,
        "options": options,
        "strategy": c.strategy,
        "name": c.name,
        "is_domain_connection": false,
        "realms": [c.name],
    });
    if legacy {
        v["enabled_clients"] = json!(c.enabled_clients);
    }
    v
}

fn lock(s: &Shared) -> std::sync::MutexGuard<'_, Tenant> {
    s.tenant.lock().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn random_id(len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..len).map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char).collect()
}

// ---------------------------------------------------------------- users

const USER_LIST_PARAMS: &[&str] = &[
    "page",
    "per_page",
    "include_totals",
    "sort",
    "connection",
    "fields",
    "include_fields",
    "q",
    "search_engine",
    "primary_order",
];

/// `GET /api/v2/users`
pub(crate) async fn list_users(
    State(s): State<Arc<Shared>>,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ApiResult {
    let p = Params::new(q, USER_LIST_PARAMS)?;
    match p.one("search_engine")? {
        None | Some("v3") => {}
        Some(other) => {
            return Err(bad_query(&format!(
                "'search_engine {other} is not available on this tenant; use v3' on property search_engine."
            )));
        }
    }
    p.boolean("primary_order")?;
    let fields = p.fields()?;
    let query = query::parse(p.one("q")?.unwrap_or(""))
        .map_err(|m| ApiError::new(StatusCode::BAD_REQUEST, &m, Some("invalid_query_string")))?;
    let sort = match p.one("sort")? {
        None => None,
        Some(s) => {
            let (field, dir) =
                s.split_once(':').ok_or_else(|| bad_query("'sort must be field:1 or field:-1' on property sort."))?;
            let desc = match dir {
                "1" => false,
                "-1" => true,
                _ => {
                    return Err(bad_query("'sort must be field:1 or field:-1' on property sort."));
                }
            };
            if !["user_id", "email", "created_at", "updated_at", "name"].contains(&field) {
                return Err(bad_query(&format!(
                    "'sorting by {field} is not supported by the emulator' on property sort."
                )));
            }
            Some((field.to_owned(), desc))
        }
    };
    let off = Offset::parse(&p, 0, Some(PAGING_CAP))?;
    // Search reads the index, which may lag behind the tenant (`index_lag`).
    let indexed = s.indexed_users();
    let t = lock(&s);
    let users = indexed.as_deref().unwrap_or(&t.users);
    let social = |name: &str| {
        is_social(t.connections.iter().find(|c| c.name == name).map(|c| c.strategy.as_str()).unwrap_or(name))
    };
    let mut matched: Vec<&StateUser> = users.values().filter(|u| query.matches_with(u, &social)).collect();
    if let Some((field, desc)) = &sort {
        let key = |u: &StateUser| -> String {
            match field.as_str() {
                "email" => u.email.clone().unwrap_or_default(),
                "created_at" => u.created_at.clone().unwrap_or_default(),
                "updated_at" => u.updated_at.clone().unwrap_or_default(),
                "name" => default_name(u),
                _ => u.user_id.clone(),
            }
        };
        matched.sort_by(|a, b| {
            let o = key(a).cmp(&key(b)).then_with(|| a.user_id.cmp(&b.user_id));
            if *desc { o.reverse() } else { o }
        });
    }
    let total = matched.len();
    let page: Vec<Value> =
        off.slice(&matched).into_iter().map(|u| apply_fields(user_json(u, &t.connections), &fields, &[])).collect();
    Ok(off.answer("users", page, total, true))
}

/// `GET /api/v2/users/{id}`
pub(crate) async fn get_user(
    State(s): State<Arc<Shared>>,
    id: Result<Path<String>, PathRejection>,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ApiResult {
    let id = path_id(id)?;
    let p = Params::new(q, &["fields", "include_fields"])?;
    let fields = p.fields()?;
    let t = lock(&s);
    let u = t.users.get(&id).ok_or_else(no_user)?;
    Ok(Json(apply_fields(user_json(u, &t.connections), &fields, &[])).into_response())
}

/// `GET /api/v2/users-by-email`
pub(crate) async fn users_by_email(
    State(s): State<Arc<Shared>>,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ApiResult {
    let p = Params::new(q, &["fields", "include_fields", "email"])?;
    let fields = p.fields()?;
    let Some(email) = p.one("email")? else {
        return Err(bad_query("'Missing required property: email'."));
    };
    let t = lock(&s);
    // The OAS documents this lookup as case-sensitive; the emulator stores
    // database emails lowercased, like Auth0.
    let found: Vec<Value> = t
        .users
        .values()
        .filter(|u| u.email.as_deref() == Some(email))
        .map(|u| apply_fields(user_json(u, &t.connections), &fields, &[]))
        .collect();
    Ok(Json(Value::Array(found)).into_response())
}

pub(crate) const CREATE_USER_PROPS: &[&str] = &[
    "email",
    "phone_number",
    "user_metadata",
    "blocked",
    "email_verified",
    "phone_verified",
    "app_metadata",
    "given_name",
    "family_name",
    "name",
    "nickname",
    "picture",
    "user_id",
    "connection",
    "password",
    "verify_email",
    "username",
];

pub(crate) fn conflict(message: &str, code: &str) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, message, Some(code))
}

fn user_exists() -> ApiError {
    conflict("The user already exists.", "auth0_idp_error")
}

/// `POST /api/v2/users`
pub(crate) async fn create_user(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let body = read_body(body)?;
    let b = Body::parse(&headers, &body, CREATE_USER_PROPS, &["connection"])?;
    let connection = b.string("connection", 1, usize::MAX, false)?.flatten().unwrap_or_default();
    let email = b.string("email", 0, usize::MAX, false)?.flatten();
    let password = b.string("password", 1, usize::MAX, false)?.flatten();
    let username = b.string("username", 1, 128, false)?.flatten();
    let given_name = b.string("given_name", 1, 150, false)?.flatten();
    let family_name = b.string("family_name", 1, 150, false)?.flatten();
    let name = b.string("name", 1, 300, false)?.flatten();
    let nickname = b.string("nickname", 1, 300, false)?.flatten();
    let picture = b.string("picture", 0, usize::MAX, false)?.flatten();
    let custom_id = b.string("user_id", 0, 255, false)?.flatten();
    let blocked = b.boolean("blocked")?.unwrap_or(false);
    let email_verified = b.boolean("email_verified")?.unwrap_or(false);
    let verify_email = b.boolean("verify_email")?;
    b.boolean("phone_verified")?;
    b.string("phone_number", 0, usize::MAX, false)?;
    let app_metadata = b.object("app_metadata")?;
    let user_metadata = b.object("user_metadata")?;
    check_picture(picture.as_deref())?;
    if let Some(id) = &custom_id
        && id.chars().any(char::is_whitespace)
    {
        return Err(bad_body("'String does not match pattern: ^\\S*$' on property user_id."));
    }

    let mut t = lock(&s);
    let Some(conn) = t.connections.iter().find(|c| c.name == connection).cloned() else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "The connection does not exist.",
            Some("inexistent_connection"),
        ));
    };
    if conn.strategy != "auth0" {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            &format!("The connection strategy {} does not support creating users with this endpoint", conn.strategy),
            Some("operation_not_supported"),
        ));
    }
    if b.has("phone_number") || b.has("phone_verified") {
        return Err(bad_body("'phone_number and phone_verified are only valid for sms connections'."));
    }
    let Some(email) = email else {
        return Err(bad_body("'Missing required property: email'."));
    };
    let email = check_email("email", &email)?;
    let Some(password) = password else {
        return Err(bad_body("'Missing required property: password'."));
    };
    match (&username, conn.requires_username) {
        (None, true) => return Err(bad_body("'Missing required property: username'.")),
        (Some(_), false) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "Cannot set username for connection without requireUsername",
                Some("invalid_body"),
            ));
        }
        _ => {}
    }
    check_password(&conn, &password)?;
    s.witness(&password);
    drop(password);

    let same_conn = |u: &&StateUser| u.connection == conn.name;
    // A linked identity in the connection still holds its email there.
    if t.users.values().any(|u| u.emails_in(&conn.name).iter().any(|e| e.to_lowercase() == email)) {
        return Err(user_exists());
    }
    if let Some(un) = &username
        && t.users.values().filter(same_conn).any(|u| u.username.as_deref().is_some_and(|x| x.eq_ignore_ascii_case(un)))
    {
        return Err(conflict("The username provided is in use already.", "username_exists"));
    }
    let user_id = match custom_id {
        Some(id) => format!("auth0|{id}"),
        None => loop {
            let bytes: [u8; 12] = rand::random();
            let id = format!("auth0|{}", hex::encode(bytes));
            if !t.users.contains_key(&id) {
                break id;
            }
        },
    };
    if t.users.contains_key(&user_id) {
        return Err(user_exists());
    }
    let now = s.clock.now_iso();
    let local = email.split('@').next().unwrap_or_default().to_owned();
    let user = StateUser {
        user_id: user_id.clone(),
        email: Some(email.clone()),
        email_verified,
        connection: conn.name.clone(),
        name: Some(name.unwrap_or_else(|| email.clone())),
        given_name,
        family_name,
        blocked,
        roles: Vec::new(),
        app_metadata: app_metadata.map(Value::Object).unwrap_or(Value::Null),
        created_at: Some(now.clone()),
        updated_at: Some(now),
        nickname: Some(nickname.unwrap_or_else(|| username.clone().unwrap_or(local))),
        picture: Some(picture.unwrap_or_else(|| picture_for(&email))),
        username,
        user_metadata: user_metadata.map(Value::Object).unwrap_or(Value::Null),
        identities: Vec::new(),
    };
    let mut answer = user_json(&user, &t.connections);
    if b.has("blocked") {
        answer["blocked"] = json!(blocked);
    }
    t.users.insert(user_id.clone(), user);
    drop(t);
    // Auth0 mails a verification unless `verify_email: false`, or `email_verified: true`
    // without `verify_email`.
    if verify_email.unwrap_or(!email_verified) {
        crate::outbox::record_verification(&s, &email, &user_id, None);
    }
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

/// `DELETE /api/v2/users/{id}`: 204, also for an id that does not exist (recorded).
pub(crate) async fn delete_user(State(s): State<Arc<Shared>>, id: Result<Path<String>, PathRejection>) -> ApiResult {
    let id = path_id(id)?;
    lock(&s).users.remove(&id);
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---------------------------------------------------------------- user roles

/// `GET /api/v2/users/{id}/roles`
pub(crate) async fn list_user_roles(
    State(s): State<Arc<Shared>>,
    id: Result<Path<String>, PathRejection>,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ApiResult {
    let id = path_id(id)?;
    let p = Params::new(q, &["per_page", "page", "include_totals"])?;
    let off = Offset::parse(&p, 1, None)?;
    let t = lock(&s);
    let u = t.users.get(&id).ok_or_else(no_user)?;
    let roles: Vec<&StateRole> = t.roles.iter().filter(|r| u.roles.contains(&r.id)).collect();
    let page = off.slice(&roles).into_iter().map(role_json).collect();
    Ok(off.answer("roles", page, roles.len(), false))
}

/// The common front of `POST` and `DELETE /api/v2/users/{id}/roles`: the user id and
/// the `roles` body (at least one id).
fn user_roles_request(
    id: Result<Path<String>, PathRejection>,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(String, Vec<String>), ApiError> {
    let body = read_body(body)?;
    let id = path_id(id)?;
    let b = Body::parse(headers, &body, &["roles"], &["roles"])?;
    Ok((id, b.string_array("roles", 1)?))
}

/// 404 unless the user and every role exist.
fn known_user_and_roles(t: &Tenant, id: &str, ids: &[String]) -> Result<(), ApiError> {
    if !t.users.contains_key(id) {
        return Err(no_user());
    }
    match ids.iter().find(|id| !t.roles.iter().any(|r| &r.id == *id)) {
        Some(_) => Err(no_role()),
        None => Ok(()),
    }
}

fn too_many_roles() -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        &format!("A user can have at most {MAX_ROLES_PER_USER} roles"),
        Some("too_many_roles"),
    )
}

/// `POST /api/v2/users/{id}/roles`: 204.
pub(crate) async fn assign_user_roles(
    State(s): State<Arc<Shared>>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let (id, ids) = user_roles_request(id, &headers, body)?;
    let mut t = lock(&s);
    known_user_and_roles(&t, &id, &ids)?;
    let Some(u) = t.users.get_mut(&id) else {
        return Err(no_user());
    };
    let mut roles = u.roles.clone();
    for r in ids {
        if !roles.contains(&r) {
            roles.push(r);
        }
    }
    if roles.len() > MAX_ROLES_PER_USER {
        return Err(too_many_roles());
    }
    u.roles = roles;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `DELETE /api/v2/users/{id}/roles`: 204.
pub(crate) async fn remove_user_roles(
    State(s): State<Arc<Shared>>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let (id, ids) = user_roles_request(id, &headers, body)?;
    let mut t = lock(&s);
    known_user_and_roles(&t, &id, &ids)?;
    if let Some(u) = t.users.get_mut(&id) {
        u.roles.retain(|r| !ids.contains(r));
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---------------------------------------------------------------- roles

/// `GET /api/v2/roles`
pub(crate) async fn list_roles(
    State(s): State<Arc<Shared>>,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ApiResult {
    let p = Params::new(q, &["per_page", "page", "include_totals", "name_filter"])?;
    let off = Offset::parse(&p, 1, None)?;
    let filter = p.one("name_filter")?.map(str::to_lowercase);
    let t = lock(&s);
    let roles: Vec<&StateRole> =
        t.roles.iter().filter(|r| filter.as_deref().is_none_or(|f| r.name.to_lowercase().contains(f))).collect();
    let page = off.slice(&roles).into_iter().map(role_json).collect();
    Ok(off.answer("roles", page, roles.len(), false))
}

/// `POST /api/v2/roles`: 200 with the role (recorded).
pub(crate) async fn create_role(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let body = read_body(body)?;
    let b = Body::parse(&headers, &body, &["name", "description"], &["name"])?;
    let name = b.string("name", 1, 50, false)?.flatten().unwrap_or_default();
    let description = b.string("description", 0, 140, false)?.flatten().unwrap_or_default();
    let mut t = lock(&s);
    if t.roles.iter().any(|r| r.name.eq_ignore_ascii_case(&name)) {
        return Err(ApiError::new(StatusCode::CONFLICT, "Role already exists", None));
    }
    if t.roles.len() >= MAX_ROLES_PER_TENANT {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            &format!("A tenant can have at most {MAX_ROLES_PER_TENANT} roles"),
            Some("too_many_entities"),
        ));
    }
    let role = StateRole { id: format!("rol_{}", random_id(16)), name, description };
    let answer = role_json(&role);
    t.roles.push(role);
    Ok(Json(answer).into_response())
}

/// `GET /api/v2/roles/{id}`
pub(crate) async fn get_role(State(s): State<Arc<Shared>>, id: Result<Path<String>, PathRejection>) -> ApiResult {
    let id = path_id(id)?;
    let t = lock(&s);
    let r = t.roles.iter().find(|r| r.id == id).ok_or_else(no_role)?;
    Ok(Json(role_json(r)).into_response())
}

/// `DELETE /api/v2/roles/{id}`: 200 `{}` (recorded); members lose the role.
pub(crate) async fn delete_role(State(s): State<Arc<Shared>>, id: Result<Path<String>, PathRejection>) -> ApiResult {
    let id = path_id(id)?;
    let mut t = lock(&s);
    let before = t.roles.len();
    t.roles.retain(|r| r.id != id);
    if t.roles.len() == before {
        return Err(no_role());
    }
    for u in t.users.values_mut() {
        u.roles.retain(|r| r != &id);
    }
    Ok(Json(json!({})).into_response())
}

/// `GET /api/v2/roles/{id}/users`: checkpoint paging (`take`/`from`) or offset
/// paging (`page`/`per_page`, capped at 1000 results).
pub(crate) async fn list_role_users(
    State(s): State<Arc<Shared>>,
    id: Result<Path<String>, PathRejection>,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ApiResult {
    let id = path_id(id)?;
    let p = Params::new(q, &["per_page", "page", "include_totals", "from", "take"])?;
    let take = p.int("take", 1, Some(100))?;
    let from = p.one("from")?;
    let t = lock(&s);
    if !t.roles.iter().any(|r| r.id == id) {
        return Err(no_role());
    }
    if take.is_some() || from.is_some() {
        // Checkpoint paging; include_totals/page/per_page are validated, then ignored
        // (recorded: `include_totals=true&per_page=50&take=2` answers `{users, next}`).
        p.boolean("include_totals")?;
        p.int("page", 0, None)?;
        p.int("per_page", 1, Some(100))?;
        let take = take.unwrap_or(50) as usize;
        let after = match from.filter(|f| !f.is_empty()) {
            None => None,
            Some(f) => Some(
                hex::decode(f)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or_else(|| bad_query("'Invalid value' on property from."))?,
            ),
        };
        let range = match &after {
            None => t.users.range::<String, _>(..),
            Some(a) => t.users.range::<String, _>((std::ops::Bound::Excluded(a), std::ops::Bound::Unbounded)),
        };
        let mut members = range.map(|(_, u)| u).filter(|u| u.roles.contains(&id));
        let page: Vec<&StateUser> = members.by_ref().take(take).collect();
        let more = members.next().is_some();
        let mut body = json!({ "users": page.iter().map(|u| role_user_json(u)).collect::<Vec<_>>() });
        if more && let Some(last) = page.last() {
            body["next"] = json!(hex::encode(last.user_id.as_bytes()));
        }
        return Ok(Json(body).into_response());
    }
    let off = Offset::parse(&p, 1, Some(PAGING_CAP))?;
    let members: Vec<&StateUser> = t.users.values().filter(|u| u.roles.contains(&id)).collect();
    let page = off.slice(&members).into_iter().map(role_user_json).collect();
    Ok(off.answer("users", page, members.len(), false))
}

/// `POST /api/v2/roles/{id}/users`: 200 `{}` (recorded). All or nothing, or (with
/// `role_batch: Partial`) every user but the bad ones.
pub(crate) async fn assign_role_users(
    State(s): State<Arc<Shared>>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let body = read_body(body)?;
    let id = path_id(id)?;
    let b = Body::parse(&headers, &body, &["users"], &["users"])?;
    let users = b.string_array("users", 0)?;
    let role_batch = s.options().role_batch;
    let mut t = lock(&s);
    if !t.roles.iter().any(|r| r.id == id) {
        return Err(no_role());
    }
    let mut users = users;
    for uid in users.clone() {
        let refusal = match t.users.get(&uid) {
            None => Some(no_user()),
            Some(u) if !u.roles.contains(&id) && u.roles.len() >= MAX_ROLES_PER_USER => Some(too_many_roles()),
            Some(_) => None,
        };
        match (refusal, role_batch) {
            (None, _) => {}
            (Some(e), crate::RoleBatch::RejectAll) => return Err(e),
            // The other reading: the bad user is skipped, the rest assigned.
            (Some(e), crate::RoleBatch::Partial) => {
                users.retain(|u| u != &uid);
                if users.is_empty() {
                    // Nobody left to assign: the refusal is the answer.
                    return Err(e);
                }
            }
        }
    }
    for uid in &users {
        if let Some(u) = t.users.get_mut(uid)
            && !u.roles.contains(&id)
        {
            u.roles.push(id.clone());
        }
    }
    Ok(Json(json!({})).into_response())
}

// ---------------------------------------------------------------- connections

/// `GET /api/v2/connections`
pub(crate) async fn list_connections(
    State(s): State<Arc<Shared>>,
    q: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> ApiResult {
    let p = Params::new(
        q,
        &["per_page", "page", "include_totals", "from", "take", "strategy", "name", "fields", "include_fields"],
    )?;
    let fields = p.fields()?;
    let name = p.one("name")?;
    let strategies = p.all("strategy");
    let take = p.int("take", 1, Some(100))?;
    let from = p.one("from")?;
    let t = lock(&s);
    let conns: Vec<&StateConnection> = t
        .connections
        .iter()
        .filter(|c| name.is_none_or(|n| c.name == n))
        .filter(|c| strategies.is_empty() || strategies.contains(&c.strategy.as_str()))
        .collect();
    let legacy = s.options().lifecycle.legacy_enabled_clients;
    let render = |c: &StateConnection| apply_fields(connection_json(c, legacy), &fields, &["is_domain_connection"]);
    if take.is_some() || from.is_some() {
        p.boolean("include_totals")?;
        p.int("page", 0, None)?;
        p.int("per_page", 1, Some(100))?;
        let start = match from.filter(|f| !f.is_empty()) {
            None => 0,
            Some(f) => f.parse::<usize>().map_err(|_| bad_query("'Invalid value' on property from."))?,
        };
        let take = take.unwrap_or(50) as usize;
        let page: Vec<Value> = conns.iter().skip(start).take(take).map(|c| render(c)).collect();
        let mut body = json!({ "connections": page });
        if start.saturating_add(take) < conns.len() {
            body["next"] = json!((start + take).to_string());
        }
        return Ok(Json(body).into_response());
    }
    let off = Offset::parse(&p, 1, None)?;
    let page = off.slice(&conns).into_iter().map(render).collect();
    Ok(off.answer("connections", page, conns.len(), false))
}
