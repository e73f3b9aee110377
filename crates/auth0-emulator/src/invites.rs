//! Invitations, the two ways Auth0 offers (`AUTH0-BEHAVIOUR.md` §7): the
//! Authentication API's `POST /dbconnections/change_password` (Auth0 mails its
//! change-password message; the application must have the connection enabled; 10 at
//! once then 1 a minute per address) and the Management API's
//! `POST /api/v2/tickets/password-change` (a bearer URL handed back to the caller).
//! Every email and ticket is recorded in the outbox so tests can count them.

use crate::Shared;
use crate::http::{ApiError, ApiResult, Body, bad_body, json_body, no_user, read_body};
use crate::lifecycle::{ChangePasswordBody, UnknownEmail};
use crate::outbox::{ADDRESS_BURST, AddressRate, EmailKind, Invitation, InvitationKind, SentEmail, Ticket};
use crate::routes::{random_id, valid_email};
use crate::state::StateUser;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// The 200 text of `POST /dbconnections/change_password`.
pub(crate) const SENT_TEXT: &str = "We've just sent you an email to reset your password.";
/// `ttl_sec` when the request gives none or 0: 5 days.
pub(crate) const TICKET_TTL_DEFAULT: u64 = 432_000;

/// An Authentication API error: `{error, error_description}`, with the per-address
/// rate headers once the limiter has counted the request.
struct AuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
    rate: Option<AddressRate>,
}

impl AuthError {
    fn into_response(self) -> Response {
        let r =
            (self.status, Json(json!({"error": self.error, "error_description": self.description}))).into_response();
        match self.rate {
            Some(rate) => with_rate(r, rate),
            None => r,
        }
    }
}

fn auth_error(status: StatusCode, error: &'static str, description: &str) -> AuthError {
    AuthError { status, error, description: description.to_owned(), rate: None }
}

fn invalid_request(description: &str) -> AuthError {
    auth_error(StatusCode::BAD_REQUEST, "invalid_request", description)
}

/// Adds the per-address `x-ratelimit-*` headers (the Change Password limit).
fn with_rate(mut r: Response, rate: AddressRate) -> Response {
    let h = r.headers_mut();
    h.insert("x-ratelimit-limit", HeaderValue::from(ADDRESS_BURST));
    h.insert("x-ratelimit-remaining", HeaderValue::from(rate.remaining));
    h.insert("x-ratelimit-reset", HeaderValue::from(rate.reset));
    r
}

/// Takes one request for `address` from the per-address Change Password budget.
fn take_address(s: &Shared, address: &str) -> AddressRate {
    s.outbox().take(address, s.clock.tick(), s.clock.unix_secs())
}

/// `POST /dbconnections/change_password` (Authentication API, no token): body
/// `{client_id, email, connection, organization?}`; 200 with a plain sentence.
pub(crate) async fn change_password(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match change_password_inner(&s, &headers, body) {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

fn change_password_inner(
    s: &Shared,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, AuthError> {
    let knobs = s.options().lifecycle;
    let body = read_body(body).map_err(|_| invalid_request("Invalid request payload"))?;
    let map = json_body(headers, &body).map_err(|_| invalid_request("The body must be a JSON object"))?;
    const ALLOWED: &[&str] = &["client_id", "email", "connection", "organization"];
    if let Some(k) = map.keys().find(|k| !ALLOWED.contains(&k.as_str())) {
        return Err(invalid_request(&format!("Unknown parameter: {k}")));
    }
    let field = |k: &str| -> Result<Option<String>, AuthError> {
        match map.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(v)) if v.is_empty() => Ok(None),
            Some(Value::String(v)) => Ok(Some(v.clone())),
            Some(_) => Err(invalid_request(&format!("{k} must be a string"))),
        }
    };
    let client_id = field("client_id")?;
    let email = field("email")?;
    let connection = field("connection")?;
    let organization = field("organization")?;
    if client_id.is_none() && knobs.change_password_requires_client_id {
        return Err(invalid_request("Missing required parameter: client_id"));
    }
    let Some(email) = email else {
        return Err(invalid_request("Missing required parameter: email"));
    };
    let Some(connection) = connection else {
        return Err(invalid_request("Missing required parameter: connection"));
    };
    if !valid_email(&email) {
        return Err(invalid_request("email is not a valid email address"));
    }
    if organization.is_some() {
        return Err(invalid_request("The organization does not exist"));
    }
    let user: Option<StateUser> = {
        let t = s.tenant.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = &client_id
            && !t.clients.iter().any(|x| &x.client_id == c)
        {
            return Err(invalid_request(&format!("Unknown client: {c}")));
        }
        let Some(conn) = t.connections.iter().find(|c| c.name == connection) else {
            return Err(auth_error(StatusCode::BAD_REQUEST, "bad.connection", "Connection does not exist"));
        };
        if conn.strategy != "auth0" {
            return Err(invalid_request("This endpoint only works for database connections"));
        }
        if let Some(c) = &client_id
            && knobs.change_password_requires_enabled_client
            && !conn.enabled_clients.contains(c)
        {
            return Err(invalid_request("the connection was disabled"));
        }
        t.users
            .values()
            .find(|u| u.connection == conn.name && u.email.as_deref().is_some_and(|e| e.eq_ignore_ascii_case(&email)))
            .cloned()
    };
    // Every well-formed attempt counts against the address, found or not.
    let rate = take_address(s, &email);
    if !rate.allowed {
        return Err(AuthError {
            rate: Some(rate),
            ..auth_error(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_requests",
                "Too many change password requests for this email address; please try again later",
            )
        });
    }
    match user {
        Some(u) => {
            let at = s.clock.now();
            let to = u.email.clone().unwrap_or_default();
            let mut o = s.outbox();
            o.emails.push(SentEmail {
                kind: EmailKind::ChangePassword,
                to: to.clone(),
                user_id: u.user_id.clone(),
                client_id: client_id.clone(),
                at,
            });
            o.invitations.push(Invitation { kind: InvitationKind::Email, email: to, user_id: u.user_id, at });
        }
        None if knobs.change_password_unknown_email == UnknownEmail::NotFound => {
            return Err(AuthError {
                rate: Some(rate),
                ..auth_error(StatusCode::NOT_FOUND, "not_found", "User not found.")
            });
        }
        None => {}
    }
    let (ctype, text) = match knobs.change_password_body {
        ChangePasswordBody::Html => ("text/html; charset=utf-8", SENT_TEXT.to_owned()),
        ChangePasswordBody::Text => ("text/plain; charset=utf-8", SENT_TEXT.to_owned()),
        ChangePasswordBody::JsonString => ("application/json; charset=utf-8", json!(SENT_TEXT).to_string()),
    };
    let mut r = (StatusCode::OK, text).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    Ok(with_rate(r, rate))
}

const TICKET_PROPS: &[&str] = &[
    "result_url",
    "user_id",
    "client_id",
    "organization_id",
    "connection_id",
    "email",
    "ttl_sec",
    "mark_email_as_verified",
    "includeEmailInRedirect",
    "identity",
];

fn check_uri(k: &str, u: &str) -> Result<(), ApiError> {
    if (u.starts_with("https://") || u.starts_with("http://")) && !u.chars().any(char::is_whitespace) {
        Ok(())
    } else {
        Err(bad_body(&format!("'Object didn't pass validation for format uri: {u}' on property {k}.")))
    }
}

/// `POST /api/v2/tickets/password-change`: 201 `{"ticket": URL}`.
pub(crate) async fn create_password_change_ticket(
    State(s): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let knobs = s.options().lifecycle;
    let body = read_body(body)?;
    let b = Body::parse(&headers, &body, TICKET_PROPS, &[])?;
    let result_url = b.string("result_url", 1, usize::MAX, false)?.flatten();
    let user_id = b.string("user_id", 1, usize::MAX, false)?.flatten();
    let client_id = b.string("client_id", 1, usize::MAX, false)?.flatten();
    let organization_id = b.string("organization_id", 1, usize::MAX, false)?.flatten();
    let connection_id = b.string("connection_id", 1, usize::MAX, false)?.flatten();
    let email = b.string("email", 1, usize::MAX, false)?.flatten();
    let ttl = b.uint("ttl_sec", knobs.ticket_ttl_max)?;
    let mark_verified = b.boolean("mark_email_as_verified")?.unwrap_or(false);
    let include_email = b.boolean("includeEmailInRedirect")?.unwrap_or(false);
    b.object("identity")?;
    if let Some(u) = &result_url {
        check_uri("result_url", u)?;
    }
    if b.has("identity") {
        return Err(bad_body(
            "'identity (secondary identities) is not modelled by the emulator' on property identity.",
        ));
    }
    if user_id.is_some() && connection_id.is_some() {
        return Err(bad_body("'You cannot send user_id when specifying a connection_id'."));
    }
    if user_id.is_some() && email.is_some() {
        return Err(bad_body("'You cannot send email together with user_id'."));
    }
    if email.is_some() != connection_id.is_some() {
        return Err(bad_body("'email and connection_id must be given together'."));
    }
    if user_id.is_none() && email.is_none() {
        return Err(bad_body("'Missing required property: user_id'."));
    }
    if result_url.is_some() && client_id.is_some() {
        return Err(bad_body("'result_url cannot be specified together with client_id'."));
    }
    if result_url.is_some() && organization_id.is_some() {
        return Err(bad_body("'result_url cannot be specified when using organization_id'."));
    }
    if let Some(e) = &email
        && !valid_email(e)
    {
        return Err(bad_body(&format!("'Object didn't pass validation for format email: {e}' on property email.")));
    }
    let user = {
        let t = s.tenant.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = &client_id
            && !t.clients.iter().any(|x| &x.client_id == c)
        {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "The client does not exist.",
                Some("inexistent_client"),
            ));
        }
        if organization_id.is_some() {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "The organization does not exist.",
                Some("inexistent_organization"),
            ));
        }
        let user = match (&user_id, &connection_id, &email) {
            (Some(id), _, _) => t.users.get(id).cloned(),
            (None, Some(cid), Some(e)) => {
                let Some(conn) = t.connections.iter().find(|c| &c.id == cid) else {
                    return Err(ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "The connection does not exist.",
                        Some("inexistent_connection"),
                    ));
                };
                t.users
                    .values()
                    .find(|u| {
                        u.connection == conn.name && u.email.as_deref().is_some_and(|x| x.eq_ignore_ascii_case(e))
                    })
                    .cloned()
            }
            _ => None,
        };
        let Some(user) = user else {
            return Err(no_user());
        };
        let database = t.connections.iter().any(|c| c.name == user.connection && c.strategy == "auth0");
        if !database {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "Password change tickets can only be created for users of database connections",
                Some("operation_not_supported"),
            ));
        }
        user
    };
    let address = user.email.clone().unwrap_or_default();
    if knobs.ticket_shares_address_limit && !address.is_empty() {
        let rate = take_address(&s, &address);
        if !rate.allowed {
            let e = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many change password requests for this email address; please try again later",
                Some("too_many_requests"),
            );
            return Ok(with_rate(e.into_response(), rate));
        }
    }
    let ttl_sec = match ttl {
        None | Some(0) => TICKET_TTL_DEFAULT,
        Some(n) => n,
    };
    let secret = random_id(32);
    let url = format!("{}/u/reset-password?ticket={secret}#", s.base_url);
    s.witness(&url);
    s.witness(&secret);
    let at = s.clock.now();
    let ticket = Ticket {
        url: url.clone(),
        user_id: user.user_id.clone(),
        email: address.clone(),
        ttl_sec,
        expires_at: at + Duration::from_secs(ttl_sec),
        mark_email_as_verified: mark_verified,
        include_email_in_redirect: include_email,
        result_url,
        client_id,
        at,
    };
    {
        let mut o = s.outbox();
        o.tickets.push(ticket);
        o.invitations.push(Invitation { kind: InvitationKind::Ticket, email: address, user_id: user.user_id, at });
    }
    Ok((StatusCode::CREATED, Json(json!({ "ticket": url }))).into_response())
}
