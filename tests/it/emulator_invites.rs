//! Black-box tests of the emulator's invitation, session and enabled-client endpoints
//! (`POST /dbconnections/change_password`, `POST /api/v2/tickets/password-change`,
//! `/api/v2/users/{id}/sessions|refresh-tokens`, `GET /api/v2/connections/{id}/clients`)
//! against crates/auth0-emulator/AUTH0-BEHAVIOUR.md §7, §8 and §10: every status and
//! error body, the per-address limit, and what the emulator records.

use crate::emulator_users::{DB, DB_ID, T, bad_body, tenant, uid, user, user_path};
use auth0_emulator::lifecycle::{ChangePasswordBody, UnknownEmail};
use auth0_emulator::{Emulator, FeatureAnswer, Halt, InvitationKind, LifecycleOptions, RevocationKind};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

const SENT: &str = "We've just sent you an email to reset your password.";

/// `POST /dbconnections/change_password` without a token: status, headers, body text.
async fn change_password(t: &T, body: Value) -> (StatusCode, reqwest::header::HeaderMap, String) {
    let r = t.raw("POST", "/dbconnections/change_password", Some(body), None).await;
    let (s, h) = (r.status(), r.headers().clone());
    (s, h, r.text().await.unwrap())
}

fn invite(email: &str) -> Value {
    json!({"client_id": "login-app", "email": email, "connection": DB})
}

fn header(h: &reqwest::header::HeaderMap, k: &str) -> String {
    h.get(k).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
}

fn auth_err(error: &str, description: &str) -> String {
    json!({"error": error, "error_description": description}).to_string()
}

#[tokio::test]
async fn change_password_mails_the_user_and_is_recorded() {
    let t = T::new(vec![user(1)]).await;
    let (s, h, text) = change_password(&t, invite("USER1@example.com")).await;
    assert_eq!((s, text.as_str()), (StatusCode::OK, SENT));
    assert_eq!(header(&h, "content-type"), "text/html; charset=utf-8");
    assert_eq!((header(&h, "x-ratelimit-limit"), header(&h, "x-ratelimit-remaining")), ("10".into(), "9".into()));
    let inv = t.emu.invitations();
    assert_eq!(inv.len(), 1);
    assert_eq!(
        (inv[0].kind, inv[0].email.as_str(), inv[0].user_id.as_str()),
        (InvitationKind::Email, "user1@example.com", uid(1).as_str())
    );
    assert_eq!(inv[0].at, t.emu.clock().now());
    let mails = t.emu.emails();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].client_id.as_deref(), Some("login-app"));
    assert!(t.emu.verification_emails().is_empty() && t.emu.tickets().is_empty());
    assert_eq!(t.emu.request_counts().get("POST /dbconnections/change_password"), Some(&1));
}

#[tokio::test]
async fn change_password_refuses_what_auth0_refuses() {
    let mut g = user(2);
    g.connection = "google-oauth2".into();
    let t = T::new(vec![user(1), g]).await;
    let missing = |k: &str| auth_err("invalid_request", &format!("Missing required parameter: {k}"));
    let cases = [
        (json!({"email": "user1@example.com", "connection": DB}), missing("client_id")),
        (json!({"client_id": "login-app", "connection": DB}), missing("email")),
        (json!({"client_id": "login-app", "email": "user1@example.com"}), missing("connection")),
        (
            json!({"client_id": "login-app", "email": "user1@example.com", "connection": DB, "password": "x"}),
            auth_err("invalid_request", "Unknown parameter: password"),
        ),
        (
            json!({"client_id": "login-app", "email": 5, "connection": DB}),
            auth_err("invalid_request", "email must be a string"),
        ),
        (
            json!({"client_id": "ghost", "email": "user1@example.com", "connection": DB}),
            auth_err("invalid_request", "Unknown client: ghost"),
        ),
        (
            json!({"client_id": "login-app", "email": "user1@example.com", "connection": "Nope"}),
            auth_err("bad.connection", "Connection does not exist"),
        ),
        (
            json!({"client_id": "login-app", "email": "user2@example.com", "connection": "google-oauth2"}),
            auth_err("invalid_request", "This endpoint only works for database connections"),
        ),
        (
            json!({"client_id": "other-app", "email": "user1@example.com", "connection": DB}),
            auth_err("invalid_request", "the connection was disabled"),
        ),
        (
            json!({"client_id": "login-app", "email": "user1", "connection": DB}),
            auth_err("invalid_request", "email is not a valid email address"),
        ),
    ];
    for (body, want) in cases {
        let (s, _, text) = change_password(&t, body.clone()).await;
        assert_eq!((s, text), (StatusCode::BAD_REQUEST, want), "{body}");
    }
    assert!(t.emu.invitations().is_empty() && t.emu.emails().is_empty());
    let (s, _, text) = change_password(&t, json!("user1@example.com")).await;
    assert_eq!((s, text), (StatusCode::BAD_REQUEST, auth_err("invalid_request", "The body must be a JSON object")));

    // The lenient readings: client_id optional, any client may send.
    let lenient = LifecycleOptions {
        change_password_requires_client_id: false,
        change_password_requires_enabled_client: false,
        ..Default::default()
    };
    let t = T::with(tenant(vec![user(1)]), lenient).await;
    for body in [
        json!({"email": "user1@example.com", "connection": DB}),
        json!({"client_id": "other-app", "email": "user1@example.com", "connection": DB}),
    ] {
        assert_eq!(change_password(&t, body).await.0, StatusCode::OK);
    }
    assert_eq!(t.emu.invitations().len(), 2);
}

#[tokio::test]
async fn an_unknown_address_answers_per_the_reading_and_mails_nothing() {
    let t = T::new(vec![user(1)]).await;
    let (s, _, text) = change_password(&t, invite("nobody@example.com")).await;
    assert_eq!((s, text.as_str()), (StatusCode::OK, SENT), "the OAS: same answer, for security");
    assert!(t.emu.invitations().is_empty());

    let lifecycle = LifecycleOptions { change_password_unknown_email: UnknownEmail::NotFound, ..Default::default() };
    let t = T::with(tenant(vec![user(1)]), lifecycle).await;
    let (s, _, text) = change_password(&t, invite("nobody@example.com")).await;
    assert_eq!((s, text), (StatusCode::NOT_FOUND, auth_err("not_found", "User not found.")));
    assert_eq!(change_password(&t, invite("user1@example.com")).await.0, StatusCode::OK);
    assert_eq!(t.emu.invitations().len(), 1);
}

#[tokio::test]
async fn the_answer_type_follows_the_reading() {
    for (body, ctype, text) in [
        (ChangePasswordBody::Text, "text/plain; charset=utf-8", SENT.to_owned()),
        (ChangePasswordBody::JsonString, "application/json; charset=utf-8", json!(SENT).to_string()),
    ] {
        let lifecycle = LifecycleOptions { change_password_body: body, ..Default::default() };
        let t = T::with(tenant(vec![user(1)]), lifecycle).await;
        let (s, h, got) = change_password(&t, invite("user1@example.com")).await;
        assert_eq!((s, header(&h, "content-type"), got), (StatusCode::OK, ctype.to_owned(), text));
    }
}

#[tokio::test]
async fn ten_per_address_at_once_then_one_a_minute() {
    let t = T::new(vec![user(1), user(2)]).await;
    let now = t.emu.clock().now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    for i in 0..10 {
        let (s, h, _) =
            change_password(&t, invite(if i % 2 == 0 { "user1@example.com" } else { "User1@Example.com" })).await;
        assert_eq!(s, StatusCode::OK, "request {i}");
        assert_eq!(header(&h, "x-ratelimit-remaining"), (9 - i).to_string());
    }
    let (s, h, text) = change_password(&t, invite("user1@example.com")).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        text,
        auth_err(
            "too_many_requests",
            "Too many change password requests for this email address; please try again later"
        )
    );
    assert_eq!(
        (header(&h, "x-ratelimit-limit"), header(&h, "x-ratelimit-remaining"), header(&h, "x-ratelimit-reset")),
        ("10".into(), "0".into(), (now + 60).to_string())
    );
    assert_eq!(t.emu.invitations().len(), 10, "a refused request sends nothing");
    assert_eq!(change_password(&t, invite("user2@example.com")).await.0, StatusCode::OK, "another address");
    t.emu.clock().advance(Duration::from_secs(59));
    assert_eq!(change_password(&t, invite("user1@example.com")).await.0, StatusCode::TOO_MANY_REQUESTS);
    t.emu.clock().advance(Duration::from_secs(1));
    assert_eq!(change_password(&t, invite("user1@example.com")).await.0, StatusCode::OK);
    assert_eq!(change_password(&t, invite("user1@example.com")).await.0, StatusCode::TOO_MANY_REQUESTS);
    // Unknown addresses count too (the answer must not tell them apart).
    for _ in 0..10 {
        change_password(&t, invite("ghost@example.com")).await;
    }
    assert_eq!(change_password(&t, invite("ghost@example.com")).await.0, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(t.emu.invitations().len(), 12);
}

#[tokio::test]
async fn an_invitation_email_is_a_write_for_the_halt() {
    let t = T::new(vec![user(1)]).await;
    t.emu.set_halt(Some(Halt::AfterWrite(1)));
    let sent = tokio::time::timeout(Duration::from_millis(300), change_password(&t, invite("user1@example.com"))).await;
    assert!(sent.is_err(), "the answer is held");
    assert_eq!(t.emu.writes_seen(), 1);
    assert_eq!(t.emu.invitations().len(), 1, "but the email went out");
}

// ---------------------------------------------------------------- tickets

const TICKETS: &str = "/api/v2/tickets/password-change";

#[tokio::test]
async fn a_ticket_is_a_201_with_a_secret_url_recorded_and_mails_nothing() {
    let t = T::new(vec![user(1)]).await;
    let body = json!({"user_id": uid(1), "result_url": "https://app.example/welcome", "mark_email_as_verified": true, "includeEmailInRedirect": true});
    let (s, v) = t.call("POST", TICKETS, Some(body)).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let url = v["ticket"].as_str().expect("ticket").to_owned();
    assert_eq!(v, json!({ "ticket": url }), "nothing else");
    let prefix = format!("{}/u/reset-password?ticket=", t.emu.base_url());
    assert!(url.starts_with(&prefix) && url.ends_with('#') && url.len() == prefix.len() + 33, "{url}");
    let tickets = t.emu.tickets();
    assert_eq!(tickets.len(), 1);
    let k = &tickets[0];
    assert_eq!(
        (k.url.as_str(), k.user_id.as_str(), k.email.as_str()),
        (url.as_str(), uid(1).as_str(), "user1@example.com")
    );
    assert_eq!(k.ttl_sec, 432_000, "default: 5 days");
    assert_eq!(k.expires_at, t.emu.clock().now() + Duration::from_secs(432_000));
    assert!(k.mark_email_as_verified && k.include_email_in_redirect);
    assert_eq!((k.result_url.as_deref(), k.client_id.as_deref()), (Some("https://app.example/welcome"), None));
    let inv = t.emu.invitations();
    assert_eq!((inv.len(), inv[0].kind), (1, InvitationKind::Ticket));
    assert!(t.emu.emails().is_empty(), "Auth0 mails nothing for a ticket");
    assert!(t.emu.secrets_seen().contains(&url), "witnessed like a password");
    // A second ticket is another secret; the email + connection_id form finds the user.
    let (s, v) = t.call("POST", TICKETS, Some(json!({"email": "user1@example.com", "connection_id": DB_ID, "client_id": "login-app", "ttl_sec": 3600}))).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_ne!(v["ticket"], json!(url));
    let k = &t.emu.tickets()[1];
    assert_eq!((k.ttl_sec, k.client_id.as_deref()), (3600, Some("login-app")));
    assert_eq!(t.call("POST", TICKETS, Some(json!({"user_id": uid(1), "ttl_sec": 0}))).await.0, StatusCode::CREATED);
    assert_eq!(t.emu.tickets()[2].ttl_sec, 432_000, "0 means the default");
}

#[tokio::test]
async fn ticket_bodies_auth0_refuses() {
    let mut g = user(2);
    g.connection = "google-oauth2".into();
    let t = T::new(vec![user(1), g]).await;
    let id = uid(1);
    let pv = |m: &str| bad_body(&format!("Payload validation error: '{m}'."));
    let cases = [
        (
            json!({"user_id": id, "result_url": "https://a.example", "client_id": "login-app"}),
            pv("result_url cannot be specified together with client_id"),
        ),
        (json!({"user_id": id, "connection_id": DB_ID}), pv("You cannot send user_id when specifying a connection_id")),
        (json!({"email": "user1@example.com"}), pv("email and connection_id must be given together")),
        (json!({"connection_id": DB_ID}), pv("email and connection_id must be given together")),
        (json!({"ttl_sec": 60}), pv("Missing required property: user_id")),
        (json!({"user_id": id, "ttl": 60}), pv("Additional properties not allowed: ttl")),
        (
            json!({"user_id": id, "ttl_sec": 2_592_001}),
            bad_body("Payload validation error: 'Number must be less than or equal to 2592000' on property ttl_sec."),
        ),
        (
            json!({"user_id": id, "ttl_sec": -1}),
            bad_body("Payload validation error: 'Number must be greater than or equal to 0' on property ttl_sec."),
        ),
        (
            json!({"user_id": id, "ttl_sec": "60"}),
            bad_body("Payload validation error: 'Expected type integer but found type string' on property ttl_sec."),
        ),
        (
            json!({"user_id": id, "ttl_sec": 1.5}),
            bad_body("Payload validation error: 'Expected type integer but found type number' on property ttl_sec."),
        ),
        (
            json!({"user_id": id, "result_url": "not a url"}),
            bad_body(
                "Payload validation error: 'Object didn't pass validation for format uri: not a url' on property result_url.",
            ),
        ),
        (
            json!({"user_id": id, "mark_email_as_verified": "yes"}),
            bad_body(
                "Payload validation error: 'Expected type boolean but found type string' on property mark_email_as_verified.",
            ),
        ),
    ];
    for (body, want) in cases {
        let (s, v) = t.call("POST", TICKETS, Some(body.clone())).await;
        assert_eq!((s, v), (StatusCode::BAD_REQUEST, want), "{body}");
    }
    let api = |status: u16, error: &str, message: &str, code: &str| json!({"statusCode": status, "error": error, "message": message, "errorCode": code});
    let cases = [
        (json!({"user_id": "auth0|nobody"}), 404, api(404, "Not Found", "The user does not exist.", "inexistent_user")),
        (
            json!({"email": "nobody@example.com", "connection_id": DB_ID}),
            404,
            api(404, "Not Found", "The user does not exist.", "inexistent_user"),
        ),
        (
            json!({"email": "user1@example.com", "connection_id": "con_NoSuchConnectio1"}),
            400,
            api(400, "Bad Request", "The connection does not exist.", "inexistent_connection"),
        ),
        (
            json!({"user_id": id, "client_id": "ghost"}),
            400,
            api(400, "Bad Request", "The client does not exist.", "inexistent_client"),
        ),
        (
            json!({"user_id": uid(2)}),
            400,
            api(
                400,
                "Bad Request",
                "Password change tickets can only be created for users of database connections",
                "operation_not_supported",
            ),
        ),
    ];
    for (body, status, want) in cases {
        let (s, v) = t.call("POST", TICKETS, Some(body.clone())).await;
        assert_eq!((s.as_u16(), v), (status, want), "{body}");
    }
    assert!(t.emu.tickets().is_empty() && t.emu.invitations().is_empty());
    let narrow = t.token_of("narrow").await;
    let (s, v) = t.call_as(&narrow, "POST", TICKETS, Some(json!({"user_id": id}))).await;
    assert_eq!(
        (s, &v["message"]),
        (StatusCode::FORBIDDEN, &json!("Insufficient scope, expected any of: create:user_tickets"))
    );

    // Without a maximum, a long ticket is accepted.
    let lifecycle = LifecycleOptions { ticket_ttl_max: None, ..Default::default() };
    let t = T::with(tenant(vec![user(1)]), lifecycle).await;
    let (s, v) = t.call("POST", TICKETS, Some(json!({"user_id": uid(1), "ttl_sec": 31_536_000}))).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
}

#[tokio::test]
async fn tickets_share_the_per_address_limit_unless_the_reading_says_not() {
    let t = T::new(vec![user(1)]).await;
    for i in 0..5 {
        assert_eq!(change_password(&t, invite("user1@example.com")).await.0, StatusCode::OK, "{i}");
    }
    for i in 0..5 {
        assert_eq!(t.call("POST", TICKETS, Some(json!({"user_id": uid(1)}))).await.0, StatusCode::CREATED, "{i}");
    }
    let r = t.raw("POST", TICKETS, Some(json!({"user_id": uid(1)})), Some(&t.token)).await;
    assert_eq!((r.status(), header(r.headers(), "x-ratelimit-remaining")), (StatusCode::TOO_MANY_REQUESTS, "0".into()));
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v,
        json!({"statusCode": 429, "error": "Too Many Requests",
            "message": "Too many change password requests for this email address; please try again later",
            "errorCode": "too_many_requests"})
    );
    assert_eq!(t.emu.tickets().len(), 5);

    let lifecycle = LifecycleOptions { ticket_shares_address_limit: false, ..Default::default() };
    let t = T::with(tenant(vec![user(1)]), lifecycle).await;
    for i in 0..12 {
        assert_eq!(t.call("POST", TICKETS, Some(json!({"user_id": uid(1)}))).await.0, StatusCode::CREATED, "{i}");
    }
}

// ---------------------------------------------------------------- sessions

fn sessions(i: usize) -> String {
    format!("{}/sessions", user_path(i))
}

fn refresh_tokens(i: usize) -> String {
    format!("{}/refresh-tokens", user_path(i))
}

#[tokio::test]
async fn revocations_are_202s_recorded_and_404_for_unknown_users() {
    let t = T::new(vec![user(1)]).await;
    assert_eq!(t.call("DELETE", &sessions(1), None).await, (StatusCode::ACCEPTED, json!({})));
    assert_eq!(t.call("DELETE", &refresh_tokens(1), Some(json!({}))).await, (StatusCode::ACCEPTED, json!({})));
    let r = t.emu.revocations();
    assert_eq!(
        r.iter().map(|r| (r.kind, r.user_id.clone())).collect::<Vec<_>>(),
        vec![(RevocationKind::Sessions, uid(1)), (RevocationKind::RefreshTokens, uid(1))]
    );
    assert_eq!(r[0].at, t.emu.clock().now());
    // The GET variants (the capability probe) list nothing and revoke nothing.
    assert_eq!(
        t.call("GET", &format!("{}?take=1", sessions(1)), None).await,
        (StatusCode::OK, json!({"sessions": []}))
    );
    assert_eq!(t.call("GET", &refresh_tokens(1), None).await, (StatusCode::OK, json!({"tokens": []})));
    assert_eq!(
        t.call("GET", &format!("{}?include_totals=true&per_page=50", refresh_tokens(1)), None).await,
        (StatusCode::OK, json!({"tokens": [], "total": 0}))
    );
    assert_eq!(t.call("GET", &format!("{}?take=0", sessions(1)), None).await.0, StatusCode::BAD_REQUEST);
    let gone = json!({"statusCode": 404, "error": "Not Found", "message": "The user does not exist.", "errorCode": "inexistent_user"});
    for (m, p) in
        [("DELETE", sessions(9)), ("DELETE", refresh_tokens(9)), ("GET", sessions(9)), ("GET", refresh_tokens(9))]
    {
        assert_eq!(t.call(m, &p, None).await, (StatusCode::NOT_FOUND, gone.clone()), "{m} {p}");
    }
    assert_eq!(t.emu.revocations().len(), 2);

    let lifecycle = LifecycleOptions { revoke_unknown_user_accepted: true, ..Default::default() };
    let t = T::with(tenant(vec![]), lifecycle).await;
    assert_eq!(t.call("DELETE", &sessions(9), None).await, (StatusCode::ACCEPTED, json!({})));
    assert!(t.emu.revocations().is_empty(), "nobody to revoke");
}

#[tokio::test]
async fn each_route_needs_its_own_scope() {
    let t = T::new(vec![user(1)]).await;
    let narrow = t.token_of("narrow").await;
    for (m, p, scope) in [
        ("DELETE", sessions(1), "delete:sessions"),
        ("GET", sessions(1), "read:sessions"),
        ("DELETE", refresh_tokens(1), "delete:refresh_tokens"),
        ("GET", refresh_tokens(1), "read:refresh_tokens"),
        ("GET", format!("/api/v2/connections/{DB_ID}/clients"), "read:connections"),
    ] {
        let (s, v) = t.call_as(&narrow, m, &p, None).await;
        assert_eq!(
            (s, v),
            (
                StatusCode::FORBIDDEN,
                json!({"statusCode": 403, "error": "Forbidden",
                    "message": format!("Insufficient scope, expected any of: {scope}"), "errorCode": "insufficient_scope"})
            ),
            "{m} {p}"
        );
    }
    assert!(t.emu.revocations().is_empty());
}

#[tokio::test]
async fn a_tenant_without_the_feature_refuses_every_route_before_looking_at_the_user() {
    let not_supported = json!({"statusCode": 403, "error": "Forbidden",
        "message": "The account is not allowed to perform this operation.", "errorCode": "operation_not_supported"});
    let not_found = json!({"statusCode": 404, "error": "Not Found", "message": "Not Found"});
    for (answer, status, want) in [
        (FeatureAnswer::OperationNotSupported, StatusCode::FORBIDDEN, not_supported),
        (FeatureAnswer::NotFound, StatusCode::NOT_FOUND, not_found),
    ] {
        let lifecycle = LifecycleOptions { sessions_api: answer, refresh_tokens_api: answer, ..Default::default() };
        let t = T::with(tenant(vec![user(1)]), lifecycle).await;
        for (m, p) in
            [("DELETE", sessions(1)), ("GET", sessions(1)), ("DELETE", refresh_tokens(1)), ("GET", refresh_tokens(9))]
        {
            assert_eq!(t.call(m, &p, None).await, (status, want.clone()), "{answer:?} {m} {p}");
        }
        assert!(t.emu.revocations().is_empty());
    }
    // The insufficient-scope reading, and the two APIs are independent.
    let lifecycle = LifecycleOptions { sessions_api: FeatureAnswer::InsufficientScope, ..Default::default() };
    let t = T::with(tenant(vec![user(1)]), lifecycle).await;
    let (s, v) = t.call("DELETE", &sessions(1), None).await;
    assert_eq!(
        (s, &v["message"], &v["errorCode"]),
        (
            StatusCode::FORBIDDEN,
            &json!("Insufficient scope, expected any of: delete:sessions"),
            &json!("insufficient_scope")
        )
    );
    assert_eq!(t.call("DELETE", &refresh_tokens(1), None).await.0, StatusCode::ACCEPTED);
    // A tenant can lose the feature between plan and apply.
    t.emu.set_lifecycle(LifecycleOptions {
        refresh_tokens_api: FeatureAnswer::OperationNotSupported,
        ..Default::default()
    });
    assert_eq!(t.call("DELETE", &refresh_tokens(1), None).await.0, StatusCode::FORBIDDEN);
    assert_eq!(t.call("DELETE", &sessions(1), None).await.0, StatusCode::ACCEPTED);
    assert_eq!(t.emu.revocations().len(), 2);
}

// ---------------------------------------------------------------- enabled clients

#[tokio::test]
async fn a_connections_enabled_clients_are_listed_by_their_own_endpoint() {
    let mut state = tenant(vec![]);
    state.connections[0].enabled_clients = vec!["login-app".into(), "sync".into(), "other-app".into()];
    let t = T::with(state, LifecycleOptions::default()).await;
    let path = format!("/api/v2/connections/{DB_ID}/clients");
    assert_eq!(
        t.call("GET", &path, None).await,
        (
            StatusCode::OK,
            json!({"clients": [{"client_id": "login-app"}, {"client_id": "sync"}, {"client_id": "other-app"}]})
        )
    );
    let (_, first) = t.call("GET", &format!("{path}?take=2"), None).await;
    assert_eq!(first["clients"], json!([{"client_id": "login-app"}, {"client_id": "sync"}]));
    let next = first["next"].as_str().expect("next").to_owned();
    assert_eq!(
        t.call("GET", &format!("{path}?take=2&from={next}"), None).await.1,
        json!({"clients": [{"client_id": "other-app"}]})
    );
    assert_eq!(t.call("GET", &format!("{path}?from=zz"), None).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(t.call("GET", &format!("{path}?take=101"), None).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(
        t.call("GET", "/api/v2/connections/con_NoSuchConnectio1/clients", None).await,
        (
            StatusCode::NOT_FOUND,
            json!({"statusCode": 404, "error": "Not Found", "message": "The connection does not exist", "errorCode": "inexistent_connection"})
        )
    );
    assert_eq!(
        t.call("GET", "/api/v2/connections/con_OtherOtherOther01/clients", None).await.1,
        json!({"clients": []})
    );
    // The deprecated field is gone from GET /connections (past its end of life)...
    let (_, list) = t.call("GET", &format!("/api/v2/connections?name={DB}"), None).await;
    assert!(list[0].get("enabled_clients").is_none(), "{list}");
    // ...unless the tenant keeps the legacy toggle.
    let lifecycle = LifecycleOptions { legacy_enabled_clients: true, ..Default::default() };
    let t = T::with(tenant(vec![]), lifecycle).await;
    let (_, list) = t.call("GET", &format!("/api/v2/connections?name={DB}"), None).await;
    assert_eq!(list[0]["enabled_clients"], json!(["login-app"]));
}

#[tokio::test]
async fn enabled_clients_must_name_known_clients() {
    let mut state = tenant(vec![]);
    state.connections[0].enabled_clients.push("ghost".into());
    let Err(e) = Emulator::start("127.0.0.1:0".parse().unwrap(), state, None).await else {
        panic!("an unknown enabled client must be refused");
    };
    assert!(e.to_string().contains("\"ghost\""), "{e}");
    let mut state = tenant(vec![]);
    state.connections[0].enabled_clients.push("login-app".into());
    assert!(Emulator::start("127.0.0.1:0".parse().unwrap(), state, None).await.is_err(), "twice");
    // The demo tenant enables its login application for the database connection.
    let demo = crate::common::demo_state();
    assert_eq!(demo.connections[0].enabled_clients, vec!["demo-login-app".to_owned()]);
    demo.validate().unwrap();
}
