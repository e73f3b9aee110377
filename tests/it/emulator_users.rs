//! Black-box tests of the emulator's `PATCH /api/v2/users/{id}` (renames, profile and
//! metadata sync, blocking) and of the verification emails it records, against the
//! readings in crates/auth0-emulator/AUTH0-BEHAVIOUR.md §6. The harness here is shared
//! with `emulator_invites`.

use auth0_emulator::state::{ClientApp, StateConnection, StateUser};
use auth0_emulator::{Clock, EmailKind, Emulator, EmulatorOptions, LifecycleOptions, TenantState};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use std::time::{Duration, SystemTime};

pub(crate) const DB: &str = "Username-Password-Authentication";
pub(crate) const DB_ID: &str = "con_DbDbDbDbDbDbDbDb01";
pub(crate) const SCOPES: &[&str] = &[
    "read:users",
    "create:users",
    "update:users",
    "read:connections",
    "create:user_tickets",
    "read:sessions",
    "delete:sessions",
    "read:refresh_tokens",
    "delete:refresh_tokens",
];

/// `auth0|0000…0i` in the database connection, `user{i}@example.com`, verified.
pub(crate) fn user(i: usize) -> StateUser {
    StateUser {
        user_id: uid(i),
        email: Some(format!("user{i}@example.com")),
        email_verified: true,
        connection: DB.into(),
        name: Some(format!("User {i}")),
        created_at: Some("2024-01-01T00:00:00.000Z".into()),
        updated_at: Some("2024-01-01T00:00:00.000Z".into()),
        ..Default::default()
    }
}

pub(crate) fn uid(i: usize) -> String {
    format!("auth0|{i:024x}")
}

/// Applications: `sync` (every scope above), `narrow` (read:users only), `login-app`
/// (enabled for the database connection, no grant), `other-app` (enabled nowhere).
/// Connections: the database one, `Other-DB`, `Named-DB` (usernames), `google-oauth2`.
pub(crate) fn tenant(users: Vec<StateUser>) -> TenantState {
    let app = |id: &str, scopes: &[&str]| ClientApp {
        client_id: id.into(),
        client_secret: format!("{id}-secret"),
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
    };
    TenantState {
        clients: vec![
            app("sync", SCOPES),
            app("narrow", &["read:users"]),
            app("login-app", &[]),
            app("other-app", &[]),
        ],
        connections: vec![
            StateConnection {
                id: DB_ID.into(),
                name: DB.into(),
                enabled_clients: vec!["login-app".into()],
                ..Default::default()
            },
            StateConnection { id: "con_OtherOtherOther01".into(), name: "Other-DB".into(), ..Default::default() },
            StateConnection {
                id: "con_NamedNamedNamed1".into(),
                name: "Named-DB".into(),
                requires_username: true,
                ..Default::default()
            },
            StateConnection {
                id: "con_GoogleGoogleGoo1".into(),
                name: "google-oauth2".into(),
                strategy: "google-oauth2".into(),
                ..Default::default()
            },
        ],
        roles: vec![],
        users,
    }
}

pub(crate) struct T {
    pub emu: Emulator,
    pub http: Client,
    pub token: String,
}

impl T {
    pub async fn new(users: Vec<StateUser>) -> T {
        Self::with(tenant(users), LifecycleOptions::default()).await
    }

    /// A manual clock (tests move it), the given readings.
    pub async fn with(state: TenantState, lifecycle: LifecycleOptions) -> T {
        let options = EmulatorOptions {
            clock: Clock::manual(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
            witness_secrets: true,
            lifecycle,
            ..EmulatorOptions::default()
        };
        let emu = Emulator::start_with("127.0.0.1:0".parse().unwrap(), state, None, options).await.expect("starts");
        let http = Client::new();
        let token = crate::common::access_token(&http, &emu.base_url(), "sync", "sync-secret").await;
        T { emu, http, token }
    }

    pub async fn token_of(&self, client: &str) -> String {
        crate::common::access_token(&self.http, &self.emu.base_url(), client, &format!("{client}-secret")).await
    }

    pub async fn raw(&self, method: &str, path: &str, body: Option<Value>, token: Option<&str>) -> reqwest::Response {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut rq = self.http.request(m, format!("{}{path}", self.emu.base_url()));
        if let Some(t) = token {
            rq = rq.bearer_auth(t);
        }
        if let Some(b) = body {
            rq = rq.json(&b);
        }
        rq.send().await.expect("request")
    }

    pub async fn call_as(&self, token: &str, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let resp = self.raw(method, path, body, Some(token)).await;
        let status = resp.status();
        let text = resp.text().await.expect("body");
        let v = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        (status, v)
    }

    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.call_as(&self.token, method, path, body).await
    }

    pub async fn patch(&self, i: usize, body: Value) -> (StatusCode, Value) {
        self.call("PATCH", &user_path(i), Some(body)).await
    }

    pub async fn get_user(&self, i: usize) -> Value {
        let (s, v) = self.call("GET", &user_path(i), None).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v
    }
}

pub(crate) fn user_path(i: usize) -> String {
    format!("/api/v2/users/{}", uid(i).replace('|', "%7C"))
}

pub(crate) fn bad_body(message: &str) -> Value {
    json!({"statusCode": 400, "error": "Bad Request", "message": message, "errorCode": "invalid_body"})
}

#[tokio::test]
async fn an_email_change_keeps_the_user_lowercases_and_asks_for_verification() {
    let mut u = user(1);
    u.roles = vec![];
    u.app_metadata = json!({"auth0_sync": {"key": "E1"}, "dept": "ops"});
    let t = T::new(vec![u, user(2)]).await;
    let (s, v) = t.patch(1, json!({"email": "New.Name@Example.COM", "connection": DB})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["user_id"], uid(1));
    assert_eq!(v["email"], "new.name@example.com");
    assert_eq!(v["email_verified"], false);
    assert_eq!(v["app_metadata"], json!({"auth0_sync": {"key": "E1"}, "dept": "ops"}), "metadata untouched");
    assert_eq!(t.get_user(1).await["email"], "new.name@example.com", "stored, not only answered");
    let mails = t.emu.verification_emails();
    assert_eq!(mails.len(), 1, "{mails:?}");
    assert_eq!((mails[0].to.as_str(), mails[0].user_id.as_str()), ("new.name@example.com", uid(1).as_str()));
    assert_eq!(mails[0].kind, EmailKind::Verification);
    assert_eq!(mails[0].at, t.emu.clock().now());
    // The old address is free again: another user may take it.
    let (s, v) = t.patch(2, json!({"email": "user1@example.com", "email_verified": true})).await;
    assert_eq!((s, &v["email_verified"]), (StatusCode::OK, &json!(true)), "{v}");
    assert_eq!(t.emu.verification_emails().len(), 1, "email_verified: true sends nothing");
}

#[tokio::test]
async fn verification_follows_verify_email_then_email_verified() {
    let t = T::new((1..=5).map(user).collect()).await;
    let cases = [
        (1, json!({"email": "a1@example.com", "verify_email": false}), false, 0),
        (2, json!({"email": "a2@example.com", "email_verified": false}), false, 1),
        (3, json!({"email": "a3@example.com", "email_verified": true, "verify_email": true}), true, 2),
        (4, json!({"email": "a4@example.com", "email_verified": true}), true, 2),
        (5, json!({"verify_email": true}), true, 3),
    ];
    for (i, body, verified, mails) in cases {
        let (s, v) = t.patch(i, body.clone()).await;
        assert_eq!(s, StatusCode::OK, "{body}: {v}");
        assert_eq!(v["email_verified"], verified, "{body}");
        assert_eq!(t.emu.verification_emails().len(), mails, "{body}");
    }
}

#[tokio::test]
async fn the_keep_verified_reading_leaves_email_verified_alone() {
    let lifecycle = LifecycleOptions { patch_email_resets_verified: false, ..Default::default() };
    let t = T::with(tenant(vec![user(1)]), lifecycle).await;
    let (s, v) = t.patch(1, json!({"email": "b@example.com"})).await;
    assert_eq!((s, &v["email_verified"]), (StatusCode::OK, &json!(true)), "{v}");
}

#[tokio::test]
async fn an_email_taken_in_the_connection_is_a_400_and_changes_nothing() {
    let mut other = user(3);
    other.connection = "Other-DB".into();
    other.email = Some("elsewhere@example.com".into());
    let t = T::new(vec![user(1), user(2), other]).await;
    let before = t.emu.state().await;
    for taken in ["user2@example.com", "USER2@example.com"] {
        let (s, v) = t.patch(1, json!({"email": taken, "connection": DB})).await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        assert_eq!(
            v,
            json!({"statusCode": 400, "error": "Bad Request",
                "message": "The specified new email already exists", "errorCode": "auth0_idp_error"})
        );
    }
    assert_eq!(t.emu.state().await, before);
    assert!(t.emu.emails().is_empty());
    // The same address in another connection is no conflict; its own address neither.
    assert_eq!(t.patch(1, json!({"email": "elsewhere@example.com"})).await.0, StatusCode::OK);
    assert_eq!(t.patch(1, json!({"email": "elsewhere@example.com"})).await.0, StatusCode::OK);
}

#[tokio::test]
async fn bad_emails_and_removing_the_identifier_are_400s() {
    let mut named = user(2);
    named.connection = "Named-DB".into();
    named.username = Some("bob".into());
    let t = T::new(vec![user(1), named]).await;
    let (s, v) = t.patch(1, json!({"email": "not-an-email"})).await;
    assert_eq!((s, &v["errorCode"]), (StatusCode::BAD_REQUEST, &json!("invalid_body")), "{v}");
    let (s, v) = t.patch(1, json!({"email": null})).await;
    assert_eq!((s, &v["errorCode"]), (StatusCode::BAD_REQUEST, &json!("invalid_body")), "{v}");
    assert_eq!(t.get_user(1).await["email"], "user1@example.com");
    // A connection with usernames may drop the email.
    let (s, v) = t.patch(2, json!({"email": null})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(v.get("email").is_none(), "{v}");
}

#[tokio::test]
async fn password_cannot_go_with_email_email_verified_or_username() {
    let mut named = user(2);
    named.connection = "Named-DB".into();
    named.username = Some("bob".into());
    let t = T::new(vec![user(1), named]).await;
    let pw = "Str0ng-enough-pw";
    for (i, other, value) in
        [(1, "email", json!("x@example.com")), (1, "email_verified", json!(true)), (2, "username", json!("rob"))]
    {
        let mut body = json!({"password": pw});
        body[other] = value;
        let (s, v) = t.patch(i, body).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{other}");
        assert_eq!(v, bad_body(&format!("Cannot update password and {other} simultaneously")));
    }
    // Under the other reading, Auth0 takes them together.
    let lifecycle = LifecycleOptions { patch_forbidden_combos: false, ..Default::default() };
    let t = T::with(tenant(vec![user(1)]), lifecycle).await;
    let (s, v) = t.patch(1, json!({"password": pw, "email": "x@example.com"})).await;
    assert_eq!((s, &v["email"]), (StatusCode::OK, &json!("x@example.com")), "{v}");
}

#[tokio::test]
async fn connection_must_name_the_users_identity_and_may_be_required() {
    let t = T::new(vec![user(1)]).await;
    let (s, v) = t.patch(1, json!({"email": "c@example.com", "connection": "Nope"})).await;
    assert_eq!(
        (s, v),
        (
            StatusCode::BAD_REQUEST,
            json!({"statusCode": 400, "error": "Bad Request", "message": "The connection does not exist.",
                "errorCode": "inexistent_connection"})
        )
    );
    let (s, v) = t.patch(1, json!({"email": "c@example.com", "connection": "Other-DB"})).await;
    assert_eq!((s, &v["errorCode"]), (StatusCode::BAD_REQUEST, &json!("invalid_body")), "{v}");

    let lifecycle = LifecycleOptions { patch_requires_connection: true, ..Default::default() };
    let t = T::with(tenant(vec![user(1)]), lifecycle).await;
    for body in
        [json!({"email": "c@example.com"}), json!({"email_verified": true}), json!({"password": "Str0ng-enough"})]
    {
        let (s, v) = t.patch(1, body.clone()).await;
        assert_eq!(
            (s, v),
            (StatusCode::BAD_REQUEST, bad_body("Payload validation error: 'Missing required property: connection'.")),
            "{body}"
        );
    }
    assert_eq!(t.patch(1, json!({"email": "c@example.com", "connection": DB})).await.0, StatusCode::OK);
    assert_eq!(t.patch(1, json!({"given_name": "Cy"})).await.0, StatusCode::OK, "names need no connection");
}

#[tokio::test]
async fn metadata_merges_top_level_keys_only() {
    let mut u = user(1);
    u.app_metadata = json!({"auth0_sync": {"key": "E1", "blocked": true}, "dept": "ops", "cost": "C7"});
    u.user_metadata = json!({"theme": "dark", "lang": "fr"});
    let t = T::new(vec![u]).await;
    // A nested object is replaced whole: "blocked" is gone, not merged in.
    let (s, v) = t.patch(1, json!({"app_metadata": {"auth0_sync": {"key": "E2"}, "cost": null, "site": "Lyon"}})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["app_metadata"], json!({"auth0_sync": {"key": "E2"}, "dept": "ops", "site": "Lyon"}));
    assert_eq!(v["user_metadata"], json!({"theme": "dark", "lang": "fr"}), "user_metadata untouched");
    // Nested nulls are stored as sent (only top-level nulls delete).
    let (_, v) = t.patch(1, json!({"app_metadata": {"auth0_sync": {"key": "E2", "blocked": null}}})).await;
    assert_eq!(v["app_metadata"]["auth0_sync"], json!({"key": "E2", "blocked": null}));
    // Same rules for user_metadata; `{}` clears it all.
    let (_, v) = t.patch(1, json!({"user_metadata": {"lang": null}})).await;
    assert_eq!(v["user_metadata"], json!({"theme": "dark"}));
    let (_, v) = t.patch(1, json!({"user_metadata": {}})).await;
    assert!(v.get("user_metadata").is_none(), "{v}");
    let (_, v) = t.patch(1, json!({"app_metadata": {}})).await;
    assert!(v.get("app_metadata").is_none(), "{v}");
    assert!(t.get_user(1).await.get("app_metadata").is_none());
    // null (not {}) is not an object: 400; so are dotted and $ keys.
    let (s, v) = t.patch(1, json!({"app_metadata": null})).await;
    assert_eq!(
        (s, v),
        (
            StatusCode::BAD_REQUEST,
            bad_body("Payload validation error: 'Expected type object but found type null' on property app_metadata.")
        )
    );
    for key in [json!({"a.b": 1}), json!({"a": {"$b": 1}})] {
        let (s, v) = t.patch(1, json!({"app_metadata": key})).await;
        assert_eq!((s, &v["errorCode"]), (StatusCode::BAD_REQUEST, &json!("invalid_body")), "{v}");
    }
}

#[tokio::test]
async fn names_are_set_refused_when_empty_and_removed_by_null() {
    let mut u = user(1);
    u.given_name = Some("Ann".into());
    u.family_name = Some("Lee".into());
    let t = T::new(vec![u]).await;
    let (s, v) = t.patch(1, json!({"given_name": "Anne", "family_name": "Li", "name": "Anne Li"})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!((&v["given_name"], &v["family_name"], &v["name"]), (&json!("Anne"), &json!("Li"), &json!("Anne Li")));
    for prop in ["given_name", "family_name", "name", "nickname"] {
        let (s, v) = t.patch(1, json!({ prop: "" })).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{prop}");
        assert_eq!(
            v,
            bad_body(&format!(
                "Payload validation error: 'String is too short (0 chars), minimum 1' on property {prop}."
            ))
        );
    }
    let (s, v) = t.patch(1, json!({"given_name": "x".repeat(151)})).await;
    assert_eq!((s, &v["errorCode"]), (StatusCode::BAD_REQUEST, &json!("invalid_body")));
    let (s, v) = t.patch(1, json!({"given_name": null, "family_name": null, "name": null})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(v.get("given_name").is_none() && v.get("family_name").is_none(), "{v}");
    assert_eq!(v["name"], "user1@example.com", "a removed name is rendered as the email, as at creation");
    assert_eq!(t.get_user(1).await["name"], "user1@example.com");
}

#[tokio::test]
async fn properties_outside_the_schema_empty_bodies_and_unknown_users_are_refused() {
    let t = T::new(vec![user(1)]).await;
    let (s, v) = t.patch(1, json!({"colour": "blue", "given_name": "A"})).await;
    assert_eq!(
        (s, v),
        (StatusCode::BAD_REQUEST, bad_body("Payload validation error: 'Additional properties not allowed: colour'."))
    );
    let (s, v) = t.patch(1, json!({})).await;
    assert_eq!(
        (s, v),
        (StatusCode::BAD_REQUEST, bad_body("Payload validation error: 'Too few properties defined (0), minimum 1'."))
    );
    let (s, v) = t.patch(9, json!({"blocked": true})).await;
    assert_eq!(
        (s, v),
        (
            StatusCode::NOT_FOUND,
            json!({"statusCode": 404, "error": "Not Found", "message": "The user does not exist.",
                "errorCode": "inexistent_user"})
        )
    );
    let narrow = t.token_of("narrow").await;
    let (s, v) = t.call_as(&narrow, "PATCH", &user_path(1), Some(json!({"blocked": true}))).await;
    assert_eq!(
        (s, v),
        (
            StatusCode::FORBIDDEN,
            json!({"statusCode": 403, "error": "Forbidden", "message": "Insufficient scope, expected any of: update:users",
                "errorCode": "insufficient_scope"})
        )
    );
}

#[tokio::test]
async fn client_id_goes_only_with_an_email_and_must_exist() {
    let t = T::new(vec![user(1)]).await;
    let (s, v) = t.patch(1, json!({"client_id": "login-app", "given_name": "A"})).await;
    assert_eq!((s, &v["errorCode"]), (StatusCode::BAD_REQUEST, &json!("invalid_body")), "{v}");
    let (s, v) = t.patch(1, json!({"client_id": "ghost", "email": "d@example.com"})).await;
    assert_eq!((s, &v["errorCode"]), (StatusCode::BAD_REQUEST, &json!("inexistent_client")), "{v}");
    let (s, v) = t.patch(1, json!({"client_id": "login-app", "email": "d@example.com"})).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(t.emu.verification_emails()[0].client_id.as_deref(), Some("login-app"));
}

#[tokio::test]
async fn blocking_and_a_new_password_which_lifts_the_block() {
    let t = T::new(vec![user(1)]).await;
    let (s, v) = t.patch(1, json!({"blocked": true})).await;
    assert_eq!((s, &v["blocked"]), (StatusCode::OK, &json!(true)));
    assert_eq!(t.get_user(1).await["blocked"], true);
    let (s, v) = t.patch(1, json!({"password": "weak"})).await;
    assert_eq!((s, &v["message"]), (StatusCode::BAD_REQUEST, &json!("PasswordStrengthError: Password is too weak")));
    assert_eq!(t.get_user(1).await["blocked"], true, "a refused password changes nothing");
    // Documented: a password set through the Management API removes the admin block,
    // even when the same body asks for the block.
    let (s, v) = t.patch(1, json!({"password": "Str0ng-enough-pw", "blocked": true})).await;
    assert_eq!((s, &v["blocked"]), (StatusCode::OK, &json!(false)), "{v}");
    assert!(t.get_user(1).await.get("blocked").is_none());
    assert!(t.emu.secrets_seen().iter().any(|s| s == "Str0ng-enough-pw"));
    let (s, v) = t.patch(1, json!({"blocked": false})).await;
    assert_eq!((s, &v["blocked"]), (StatusCode::OK, &json!(false)));
}

#[tokio::test]
async fn social_users_keep_their_email() {
    let mut g = user(1);
    g.user_id = "google-oauth2|104000000000000000001".into();
    g.connection = "google-oauth2".into();
    let t = T::new(vec![g]).await;
    let path = "/api/v2/users/google-oauth2%7C104000000000000000001";
    let (s, v) = t.call("PATCH", path, Some(json!({"email": "g@example.com"}))).await;
    assert_eq!((s, &v["message"]), (StatusCode::BAD_REQUEST, &json!("Cannot update email for this user")), "{v}");
    let (s, v) = t.call("PATCH", path, Some(json!({"password": "Str0ng-enough-pw"}))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(t.call("PATCH", path, Some(json!({"given_name": "G"}))).await.0, StatusCode::OK);
}

#[tokio::test]
async fn creating_a_user_mails_a_verification_unless_told_otherwise() {
    let t = T::new(vec![]).await;
    let cases = [
        (json!({"verify_email": false}), 0),
        (json!({"email_verified": true}), 0),
        (json!({}), 1),
        (json!({"email_verified": true, "verify_email": true}), 2),
    ];
    for (n, (extra, mails)) in cases.into_iter().enumerate() {
        let mut body =
            json!({"connection": DB, "email": format!("new{n}@example.com"), "password": "Str0ng-enough-pw"});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (s, v) = t.call("POST", "/api/v2/users", Some(body)).await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        assert_eq!(t.emu.verification_emails().len(), mails, "{extra}");
    }
    assert_eq!(t.emu.verification_emails()[1].to, "new3@example.com");
}
