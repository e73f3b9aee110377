//! Black-box tests of the Auth0 emulator's HTTP API: each checks a status code and a
//! body against what Auth0 answers (recordings in `../shared/auth0/` beside the checkout).

use auth0_emulator::state::{ClientApp, StateConnection, StateRole, StateUser};
use auth0_emulator::{Clock, Emulator, EmulatorOptions, RateLimit, TenantState};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use std::time::{Duration, SystemTime};

const DB: &str = "Username-Password-Authentication";
const ALL_SCOPES: &[&str] = &[
    "read:users",
    "create:users",
    "update:users",
    "delete:users",
    "read:roles",
    "create:roles",
    "delete:roles",
    "update:roles",
    "create:role_members",
    "delete:role_members",
    "read:connections",
];

fn user(i: usize, roles: &[&str]) -> StateUser {
    StateUser {
        user_id: format!("auth0|{i:024x}"),
        email: Some(format!("user{i}@example.com")),
        connection: DB.into(),
        roles: roles.iter().map(|r| r.to_string()).collect(),
        created_at: Some("2024-01-01T00:00:00.000Z".into()),
        updated_at: Some("2024-01-01T00:00:00.000Z".into()),
        ..Default::default()
    }
}

fn seed(users: Vec<StateUser>) -> TenantState {
    TenantState {
        clients: vec![
            ClientApp {
                client_id: "sync".into(),
                client_secret: "s3cret".into(),
                scopes: ALL_SCOPES.iter().map(|s| s.to_string()).collect(),
            },
            ClientApp {
                client_id: "reader".into(),
                client_secret: "r3ader".into(),
                scopes: vec!["read:connections".into()],
            },
        ],
        connections: vec![
            StateConnection { id: "con_db".into(), name: DB.into(), strategy: "auth0".into(), ..Default::default() },
            StateConnection {
                id: "con_other".into(),
                name: "Other-DB".into(),
                strategy: "auth0".into(),
                ..Default::default()
            },
        ],
        roles: vec![
            StateRole { id: "rol_admin".into(), name: "Admin".into(), description: "Administrators".into() },
            StateRole { id: "rol_editor".into(), name: "Editor".into(), description: String::new() },
        ],
        users,
    }
}

struct T {
    emu: Emulator,
    http: Client,
    token: String,
}

impl T {
    async fn new(users: Vec<StateUser>) -> T {
        Self::with_options(users, EmulatorOptions::default()).await
    }

    async fn with_options(users: Vec<StateUser>, options: EmulatorOptions) -> T {
        let emu = Emulator::start_with("127.0.0.1:0".parse().unwrap(), seed(users), None, options)
            .await
            .expect("emulator starts");
        let http = Client::new();
        let token = token_for(&http, &emu, "sync", "s3cret").await;
        T { emu, http, token }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.emu.base_url())
    }

    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut rq = self.http.request(m, self.url(path)).bearer_auth(&self.token);
        if let Some(b) = body {
            rq = rq.json(&b);
        }
        let resp = rq.send().await.expect("request");
        let status = resp.status();
        let text = resp.text().await.expect("body");
        let v = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        (status, v)
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call("GET", path, None).await
    }
}

async fn token_for(http: &Client, emu: &Emulator, id: &str, secret: &str) -> String {
    crate::common::access_token(http, &emu.base_url(), id, secret).await
}

fn enc(id: &str) -> String {
    id.replace('|', "%7C")
}

#[tokio::test]
async fn token_endpoint_success_and_failures() {
    let t = T::new(vec![]).await;
    let url = t.url("/oauth/token");
    let audience = format!("{}/api/v2/", t.emu.base_url());

    // Form body, success shape.
    let resp = t
        .http
        .post(&url)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "reader"),
            ("client_secret", "r3ader"),
            ("audience", audience.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    for h in ["x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"] {
        assert!(resp.headers().contains_key(h), "missing {h}");
    }
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["expires_in"], 86400);
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["scope"], "read:connections");
    assert!(v["access_token"].as_str().unwrap().len() >= 32);

    let post = |body: Value| {
        let rq = t.http.post(&url).json(&body);
        async move {
            let r = rq.send().await.unwrap();
            (r.status(), r.json::<Value>().await.unwrap())
        }
    };
    let good = json!({"grant_type": "client_credentials", "client_id": "sync",
        "client_secret": "s3cret", "audience": audience});

    let mut wrong = good.clone();
    wrong["client_secret"] = json!("nope");
    assert_eq!(
        post(wrong).await,
        (StatusCode::UNAUTHORIZED, json!({"error": "access_denied", "error_description": "Unauthorized"}))
    );
    let mut unknown = good.clone();
    unknown["client_id"] = json!("ghost");
    assert_eq!(post(unknown).await.0, StatusCode::UNAUTHORIZED);

    let mut aud = good.clone();
    aud["audience"] = json!("https://elsewhere.example/api/v2/");
    let (s, v) = post(aud).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(v["error"], "access_denied");
    assert_eq!(v["error_description"], "Service not enabled within domain: https://elsewhere.example/api/v2/");
    let mut no_slash = good.clone();
    no_slash["audience"] = json!(format!("{}/api/v2", t.emu.base_url()));
    assert_eq!(post(no_slash).await.0, StatusCode::FORBIDDEN);

    let mut grant = good.clone();
    grant["grant_type"] = json!("password");
    let (s, v) = post(grant).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["error"], "unsupported_grant_type");

    // Asking for a subset narrows the token; asking for more is refused.
    let mut subset = good.clone();
    subset["scope"] = json!("read:users read:roles");
    let (s, v) = post(subset).await;
    assert_eq!((s, v["scope"].clone()), (StatusCode::OK, json!("read:users read:roles")));
    let mut more = good.clone();
    more["scope"] = json!("read:users read:clients");
    let (s, v) = post(more).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(v["error_description"], "Client has not been granted scopes: read:clients");

    assert_eq!(post(good).await.0, StatusCode::OK);
}

#[tokio::test]
async fn management_api_needs_a_valid_token_with_scope() {
    let options = EmulatorOptions { clock: Clock::manual(SystemTime::now()), ..Default::default() };
    let t = T::with_options(vec![user(1, &[])], options).await;
    let r = t.http.get(t.url("/api/v2/users")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.headers().contains_key("x-ratelimit-reset"));
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"statusCode": 401, "error": "Unauthorized", "message": "Missing authentication"})
    );

    let r = t.http.get(t.url("/api/v2/users")).bearer_auth("not-a-token").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.json::<Value>().await.unwrap()["message"], "Invalid token");

    // A token without read:users.
    let reader = token_for(&t.http, &t.emu, "reader", "r3ader").await;
    let r = t.http.get(t.url("/api/v2/users")).bearer_auth(&reader).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"statusCode": 403, "error": "Forbidden",
            "message": "Insufficient scope, expected any of: read:users",
            "errorCode": "insufficient_scope"})
    );
    let r = t.http.get(t.url("/api/v2/connections")).bearer_auth(&reader).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // Expiry.
    t.emu.set_token_lifetime(Duration::from_secs(1));
    let short = token_for(&t.http, &t.emu, "sync", "s3cret").await;
    let ok = t.http.get(t.url("/api/v2/users")).bearer_auth(&short).send().await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    t.emu.clock().advance(Duration::from_millis(1100));
    let r = t.http.get(t.url("/api/v2/users")).bearer_auth(&short).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(r.json::<Value>().await.unwrap()["message"], "Expired token received for JSON Web Token validation");
}

#[tokio::test]
async fn create_user_shapes_and_errors() {
    let t = T::new(vec![]).await;
    let body = json!({"connection": DB, "email": "Chuck@Example.com",
        "password": "Passwords hide their chuck", "email_verified": true,
        "given_name": "Chuck", "family_name": "Sanchez", "blocked": false,
        "verify_email": false, "app_metadata": {"source": "sql"}});
    let (s, v) = t.call("POST", "/api/v2/users", Some(body.clone())).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let id = v["user_id"].as_str().unwrap();
    let hex = id.strip_prefix("auth0|").expect("auth0| prefix");
    assert!(hex.len() == 24 && hex.chars().all(|c| c.is_ascii_hexdigit()), "{id}");
    assert_eq!(v["email"], "chuck@example.com");
    assert_eq!(v["email_verified"], true);
    assert_eq!(v["blocked"], false);
    assert_eq!(v["name"], "chuck@example.com");
    assert_eq!(v["nickname"], "chuck");
    assert_eq!(v["app_metadata"], json!({"source": "sql"}));
    assert_eq!(v["identities"], json!([{"connection": DB, "user_id": hex, "provider": "auth0", "isSocial": false}]));
    assert!(v.get("password").is_none());
    assert!(v["created_at"].as_str().unwrap().ends_with('Z'));

    // Same email (any case), same connection: 409.
    let mut dup = body.clone();
    dup["email"] = json!("chuck@example.com");
    assert_eq!(
        t.call("POST", "/api/v2/users", Some(dup)).await,
        (
            StatusCode::CONFLICT,
            json!({"statusCode": 409, "error": "Conflict", "message": "The user already exists.",
                "errorCode": "auth0_idp_error"})
        )
    );
    // Same email in another connection is fine.
    let mut other = body.clone();
    other["connection"] = json!("Other-DB");
    assert_eq!(t.call("POST", "/api/v2/users", Some(other)).await.0, StatusCode::CREATED);

    let mut unknown = body.clone();
    unknown["email"] = json!("x@example.com");
    unknown["roles"] = json!(["rol_admin"]);
    let (s, v) = t.call("POST", "/api/v2/users", Some(unknown)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["errorCode"], "invalid_body");
    assert_eq!(v["message"], "Payload validation error: 'Additional properties not allowed: roles'.");

    for weak in ["short1A", "alllowercaseletters", "lowercase123456"] {
        let mut w = body.clone();
        w["email"] = json!("weak@example.com");
        w["password"] = json!(weak);
        let (s, v) = t.call("POST", "/api/v2/users", Some(w)).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{weak}");
        assert_eq!(v["message"], "PasswordStrengthError: Password is too weak");
    }

    let mut noconn = body.clone();
    noconn.as_object_mut().unwrap().remove("connection");
    let (s, v) = t.call("POST", "/api/v2/users", Some(noconn)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["message"], "Payload validation error: 'Missing required property: connection'.");

    let mut badconn = body.clone();
    badconn["connection"] = json!("Nope");
    assert_eq!(
        t.call("POST", "/api/v2/users", Some(badconn)).await,
        (
            StatusCode::BAD_REQUEST,
            json!({"statusCode": 400, "error": "Bad Request",
                "message": "The connection does not exist.", "errorCode": "inexistent_connection"})
        )
    );

    let mut nopw = body.clone();
    nopw["email"] = json!("nopw@example.com");
    nopw.as_object_mut().unwrap().remove("password");
    assert_eq!(t.call("POST", "/api/v2/users", Some(nopw)).await.0, StatusCode::BAD_REQUEST);

    let mut badtype = body.clone();
    badtype["email"] = json!("typed@example.com");
    badtype["blocked"] = json!("yes");
    assert_eq!(t.call("POST", "/api/v2/users", Some(badtype)).await.0, StatusCode::BAD_REQUEST);

    // Malformed JSON and a wrong content type.
    let r = t
        .http
        .post(t.url("/api/v2/users"))
        .bearer_auth(&t.token)
        .header("content-type", "application/json")
        .body("{\"connection\":")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(r.json::<Value>().await.unwrap()["message"], "Invalid request payload JSON format");
    let r = t
        .http
        .post(t.url("/api/v2/users"))
        .bearer_auth(&t.token)
        .header("content-type", "text/plain")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // Two users in the state, never a password.
    let state = t.emu.state().await;
    assert_eq!(state.users.len(), 2);
    let dump = serde_json::to_string(&state).unwrap();
    assert!(!dump.contains("Passwords hide their chuck"));
}

#[tokio::test]
async fn list_users_paging_totals_and_the_1000_cap() {
    let users: Vec<StateUser> = (0..1050).map(|i| user(i, &[])).collect();
    let t = T::new(users).await;
    let (s, v) = t.get("/api/v2/users?include_totals=true&per_page=100&page=0&search_engine=v3").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["total"], 1050);
    assert_eq!(v["start"], 0);
    assert_eq!(v["limit"], 100);
    assert_eq!(v["length"], 100);
    assert_eq!(v["users"][0]["user_id"], format!("auth0|{:024x}", 0));

    let (s, v) = t.get("/api/v2/users?include_totals=true&per_page=100&page=9").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["start"], 900);
    assert_eq!(v["users"][99]["user_id"], format!("auth0|{:024x}", 999));

    let (s, v) = t.get("/api/v2/users?include_totals=true&per_page=100&page=10").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["errorCode"], "invalid_paging");
    assert!(v["message"].as_str().unwrap().starts_with("You can only page through the first 1000 records"));
    let (s, _) = t.get("/api/v2/users?per_page=30&page=33").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "990..1020 crosses the cap");

    let (s, v) = t.get("/api/v2/users?per_page=101").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["errorCode"], "invalid_query_string");
    assert_eq!(t.get("/api/v2/users?page=-1").await.0, StatusCode::BAD_REQUEST);
    assert_eq!(t.get("/api/v2/users?bogus=1").await.0, StatusCode::BAD_REQUEST);

    // Bare array without include_totals; default per_page 50.
    let (s, v) = t.get("/api/v2/users").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v.as_array().unwrap().len(), 50);

    // q: connection AND email.
    let q = format!(
        "/api/v2/users?include_totals=true&search_engine=v3&q={}",
        "identities.connection%3A%22Username-Password-Authentication%22%20AND%20email%3A%22user7%40example.com%22"
    );
    let (s, v) = t.get(&q).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["total"], 1);
    assert_eq!(v["users"][0]["email"], "user7@example.com");
    let (s, v) = t.get("/api/v2/users?q=identities.connection%3A%22Other-DB%22&include_totals=true").await;
    assert_eq!((s, v["total"].clone()), (StatusCode::OK, json!(0)));
    let (s, v) = t.get("/api/v2/users?q=email%3Aa%20OR%20email%3Ab").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["errorCode"], "invalid_query_string");

    // fields / include_fields.
    let (_, v) = t.get("/api/v2/users?fields=user_id,email&include_fields=true&per_page=1").await;
    assert_eq!(v, json!([{"user_id": format!("auth0|{:024x}", 0), "email": "user0@example.com"}]));
}

#[tokio::test]
async fn get_patch_delete_user() {
    let t = T::new(vec![user(1, &[])]).await;
    let id = format!("auth0|{:024x}", 1);
    let (s, v) = t.get(&format!("/api/v2/users/{}", enc(&id))).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["user_id"], id);

    let (s, v) = t
        .call(
            "PATCH",
            &format!("/api/v2/users/{}", enc(&id)),
            Some(json!({"blocked": true, "given_name": "Ann", "app_metadata": {"a": 1}})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["blocked"], true);
    assert_eq!(v["given_name"], "Ann");
    assert_eq!(v["app_metadata"], json!({"a": 1}));
    let (s, v) = t.call("PATCH", &format!("/api/v2/users/{}", enc(&id)), Some(json!({"colour": "blue"}))).await;
    assert_eq!((s, v["errorCode"].clone()), (StatusCode::BAD_REQUEST, json!("invalid_body")));

    let (s, _) = t.call("DELETE", &format!("/api/v2/users/{}", enc(&id)), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    // Recorded: GET after delete is 404 inexistent_user; DELETE again is still 204.
    assert_eq!(
        t.get(&format!("/api/v2/users/{}", enc(&id))).await,
        (
            StatusCode::NOT_FOUND,
            json!({"statusCode": 404, "error": "Not Found", "message": "The user does not exist.",
                "errorCode": "inexistent_user"})
        )
    );
    let (s, _) = t.call("DELETE", &format!("/api/v2/users/{}", enc(&id)), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = t.call("PATCH", &format!("/api/v2/users/{}", enc(&id)), Some(json!({"blocked": true}))).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(t.get("/api/v2/nothing-here").await.0, StatusCode::NOT_FOUND);
    assert_eq!(t.call("PUT", "/api/v2/users", None).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn roles_list_and_user_role_assignment() {
    let t = T::new(vec![user(1, &[])]).await;
    let (s, v) = t.get("/api/v2/roles?include_totals=true&per_page=50").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["total"], 2);
    assert_eq!(v["roles"][0], json!({"id": "rol_admin", "name": "Admin", "description": "Administrators"}));
    let (_, v) = t.get("/api/v2/roles?name_filter=edit").await;
    assert_eq!(v, json!([{"id": "rol_editor", "name": "Editor"}]));
    assert_eq!(t.get("/api/v2/roles?per_page=101").await.0, StatusCode::BAD_REQUEST);

    let path = format!("/api/v2/users/{}/roles", enc(&format!("auth0|{:024x}", 1)));
    let (s, v) = t.call("POST", &path, Some(json!({"roles": ["rol_admin"]}))).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    let (s, v) = t.get(&format!("{path}?include_totals=true&per_page=50")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        v,
        json!({"roles": [{"id": "rol_admin", "name": "Admin", "description": "Administrators"}],
            "start": 0, "limit": 50, "total": 1})
    );
    assert_eq!(t.call("POST", &path, Some(json!({"roles": []}))).await.0, StatusCode::BAD_REQUEST);
    assert_eq!(t.call("POST", &path, Some(json!({"roles": ["rol_nope"]}))).await.0, StatusCode::NOT_FOUND);
    let ghost = format!("/api/v2/users/{}/roles", enc("auth0|ghost"));
    let (s, v) = t.call("POST", &ghost, Some(json!({"roles": ["rol_admin"]}))).await;
    assert_eq!((s, v["errorCode"].clone()), (StatusCode::NOT_FOUND, json!("inexistent_user")));

    let (s, _) = t.call("DELETE", &path, Some(json!({"roles": ["rol_admin"]}))).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, v) = t.get(&format!("{path}?include_totals=true&per_page=50")).await;
    assert_eq!(v["total"], 0);

    // Create a role (200, recorded) and hit the 50-roles-per-user limit.
    let mut ids = Vec::new();
    for i in 0..50 {
        let (s, v) = t.call("POST", "/api/v2/roles", Some(json!({"name": format!("r{i}"), "description": "d"}))).await;
        assert_eq!(s, StatusCode::OK);
        ids.push(v["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(t.call("POST", "/api/v2/roles", Some(json!({"name": "R0"}))).await.0, StatusCode::CONFLICT);
    let (s, _) = t.call("POST", &path, Some(json!({"roles": ids}))).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(t.call("POST", &path, Some(json!({"roles": ["rol_admin"]}))).await.0, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn role_members_checkpoint_and_offset_paging() {
    let mut users: Vec<StateUser> = (0..250).map(|i| user(i, &["rol_admin"])).collect();
    users.extend((250..260).map(|i| user(i, &["rol_editor"])));
    let t = T::new(users).await;

    let mut seen = Vec::new();
    let mut from: Option<String> = None;
    let mut calls = 0;
    loop {
        let mut path = "/api/v2/roles/rol_admin/users?take=100".to_owned();
        if let Some(f) = &from {
            path.push_str(&format!("&from={f}"));
        }
        let (s, v) = t.get(&path).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        calls += 1;
        assert!(v.get("total").is_none());
        for u in v["users"].as_array().unwrap() {
            assert_eq!(u.as_object().unwrap().keys().collect::<Vec<_>>(), ["email", "name", "picture", "user_id"]);
            seen.push(u["user_id"].as_str().unwrap().to_owned());
        }
        match v.get("next").and_then(Value::as_str) {
            Some(n) => from = Some(n.to_owned()),
            None => break,
        }
    }
    assert_eq!(calls, 3);
    let expected: Vec<String> = (0..250).map(|i| format!("auth0|{i:024x}")).collect();
    assert_eq!(seen, expected);
    assert_eq!(t.get("/api/v2/roles/rol_admin/users?take=101").await.0, StatusCode::BAD_REQUEST);

    let (s, v) = t.get("/api/v2/roles/rol_editor/users?include_totals=true&per_page=5&page=1").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!((v["total"].clone(), v["start"].clone()), (json!(10), json!(5)));
    assert_eq!(v["users"].as_array().unwrap().len(), 5);
    assert_eq!(t.get("/api/v2/roles/rol_editor/users?per_page=100&page=10").await.0, StatusCode::BAD_REQUEST);
    assert_eq!(t.get("/api/v2/roles/rol_nope/users").await.0, StatusCode::NOT_FOUND);

    // Bulk assignment: 200 {} (recorded).
    let (s, v) =
        t.call("POST", "/api/v2/roles/rol_editor/users", Some(json!({"users": [format!("auth0|{:024x}", 0)]}))).await;
    assert_eq!((s, v), (StatusCode::OK, json!({})));
    let (_, v) = t.get("/api/v2/roles/rol_editor/users?include_totals=true").await;
    assert_eq!(v["total"], 11);
}

#[tokio::test]
async fn users_by_email_connections_counts_and_rate_limit() {
    let t = T::new(vec![user(1, &[]), user(2, &[])]).await;
    let (s, v) = t.get("/api/v2/users-by-email?email=user2%40example.com").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert_eq!(v[0]["user_id"], format!("auth0|{:024x}", 2));
    let (_, v) = t.get("/api/v2/users-by-email?email=nobody%40example.com").await;
    assert_eq!(v, json!([]));
    assert_eq!(t.get("/api/v2/users-by-email").await.0, StatusCode::BAD_REQUEST);

    let (s, v) =
        t.get("/api/v2/connections?include_totals=true&name=Username-Password-Authentication&per_page=50").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["total"], 1);
    assert_eq!(v["connections"][0]["id"], "con_db");
    assert_eq!(v["connections"][0]["strategy"], "auth0");
    assert_eq!(v["connections"][0]["name"], DB);
    let (_, v) = t.get("/api/v2/connections?strategy=auth0").await;
    assert_eq!(v.as_array().unwrap().len(), 2);

    let counts = t.emu.request_counts();
    assert_eq!(counts.get("GET /api/v2/users-by-email"), Some(&3));
    assert_eq!(counts.get("GET /api/v2/connections"), Some(&2));
    assert_eq!(counts.get("POST /oauth/token"), Some(&1));

    t.emu.set_rate_limit(Some(RateLimit::FREE));
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let r = t.http.get(t.url("/api/v2/roles")).bearer_auth(&t.token).send().await.unwrap();
        let reset: u64 = r.headers()["x-ratelimit-reset"].to_str().unwrap().parse().unwrap();
        assert!(reset > 1_700_000_000);
        statuses.push((r.status(), r.headers()["x-ratelimit-remaining"].to_str().unwrap().to_owned()));
    }
    assert_eq!(statuses[0], (StatusCode::OK, "1".to_owned()));
    assert_eq!(statuses[1], (StatusCode::OK, "0".to_owned()));
    assert_eq!(statuses[2].0, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn unknown_routes_are_auth0_404s_with_headers() {
    let t = T::new(vec![]).await;
    // Unauthenticated: 401 first, like every /api/v2 path.
    let r = t.http.get(t.url("/api/v2/nothing-here")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = t.http.get(t.url("/api/v2/nothing-here")).bearer_auth(&t.token).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(r.headers().contains_key("x-ratelimit-limit"));
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"statusCode": 404, "error": "Not Found", "message": "Not Found"})
    );
    let r = t.http.put(t.url("/api/v2/users")).bearer_auth(&t.token).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(r.headers().contains_key("x-ratelimit-remaining"));
    let r = t.http.get(t.url("/oauth/token")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let counts = t.emu.request_counts();
    assert_eq!(counts.get("GET <unmatched>"), Some(&2), "{counts:?}");
}

#[tokio::test]
async fn social_users_render_as_social_and_cannot_be_created() {
    let mut state = seed(vec![]);
    state.connections.push(StateConnection {
        id: "con_google".into(),
        name: "google-oauth2".into(),
        strategy: "google-oauth2".into(),
        ..Default::default()
    });
    state.users.push(StateUser {
        user_id: "google-oauth2|104000000000000000001".into(),
        email: Some("frank@acme.example".into()),
        connection: "google-oauth2".into(),
        ..Default::default()
    });
    let emu = Emulator::start("127.0.0.1:0".parse().unwrap(), state, None).await.unwrap();
    let http = Client::new();
    let token = token_for(&http, &emu, "sync", "s3cret").await;
    let v: Value = http
        .get(format!("{}/api/v2/users/google-oauth2%7C104000000000000000001", emu.base_url()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        v["identities"],
        json!([{"connection": "google-oauth2", "user_id": "104000000000000000001",
            "provider": "google-oauth2", "isSocial": true}])
    );
    let r = http
        .post(format!("{}/api/v2/users", emu.base_url()))
        .bearer_auth(&token)
        .json(&json!({"connection": "google-oauth2", "email": "g@example.com",
            "password": "Str0ng-enough"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn rate_limit_from_start_options_refills() {
    let emu = Emulator::start_with(
        "127.0.0.1:0".parse().unwrap(),
        seed(vec![]),
        None,
        EmulatorOptions {
            rate_limit: Some(RateLimit { burst: 1, per_second: 20.0 }),
            clock: Clock::manual(SystemTime::now()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let http = Client::new();
    // The token endpoint shares the budget: the token request took the only token.
    let token = token_for(&http, &emu, "sync", "s3cret").await;
    let get = || http.get(format!("{}/api/v2/roles", emu.base_url())).bearer_auth(&token).send();
    let r = get().await.unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers()["x-ratelimit-limit"], "1");
    assert_eq!(r.headers()["x-ratelimit-remaining"], "0");
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"statusCode": 429, "error": "Too Many Requests",
            "message": "Global limit has been reached", "errorCode": "too_many_requests"})
    );
    // 20 tokens a second: a later request passes (no bound on how much later).
    let mut passed = false;
    for _ in 0..100 {
        emu.clock().advance(Duration::from_millis(60));
        if get().await.unwrap().status() == StatusCode::OK {
            passed = true;
            break;
        }
    }
    assert!(passed, "the bucket never refilled");
}

#[tokio::test]
async fn patch_merges_metadata_and_email_lookup_is_exact() {
    let t = T::new(vec![user(1, &[])]).await;
    let path = format!("/api/v2/users/{}", enc(&format!("auth0|{:024x}", 1)));
    let (s, v) = t.call("PATCH", &path, Some(json!({"app_metadata": {"a": 1, "b": 2}}))).await;
    assert_eq!((s, v["app_metadata"].clone()), (StatusCode::OK, json!({"a": 1, "b": 2})));
    // One level deep merge; null removes a key.
    let (_, v) = t.call("PATCH", &path, Some(json!({"app_metadata": {"b": null, "c": 3}}))).await;
    assert_eq!(v["app_metadata"], json!({"a": 1, "c": 3}));
    // An empty object clears it.
    let (_, v) = t.call("PATCH", &path, Some(json!({"app_metadata": {}}))).await;
    assert!(v.get("app_metadata").is_none(), "{v}");
    // Weak new password: 400, like creation.
    let (s, v) = t.call("PATCH", &path, Some(json!({"password": "weak"}))).await;
    assert_eq!(
        (s, v["message"].clone()),
        (StatusCode::BAD_REQUEST, json!("PasswordStrengthError: Password is too weak"))
    );
    // Wrong type.
    let (s, _) = t.call("PATCH", &path, Some(json!({"blocked": "true"}))).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // users-by-email is an exact (case-sensitive, per the OAS) lookup.
    let (_, v) = t.get("/api/v2/users-by-email?email=USER1%40example.com").await;
    assert_eq!(v, json!([]));
    let (_, v) = t.get("/api/v2/users-by-email?email=user1%40example.com").await;
    assert_eq!(v.as_array().map(Vec::len), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_of_one_email_yield_one_user() {
    let t = T::new(vec![]).await;
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (http, url, token) = (t.http.clone(), t.url("/api/v2/users"), t.token.clone());
        tasks.push(tokio::spawn(async move {
            http.post(url)
                .bearer_auth(token)
                .json(&json!({"connection": DB, "email": "same@example.com",
                    "password": "Str0ng-enough"}))
                .send()
                .await
                .unwrap()
                .status()
        }));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::CREATED).count(), 1);
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::CONFLICT).count(), 15);
    assert_eq!(t.emu.state().await.users.len(), 1);
}
