//! Tests of the Management API client against small axum servers on 127.0.0.1:0 that
//! answer with bodies copied from Auth0's recorded traffic (`../shared/auth0/recordings` beside the checkout).

use auth0_sync::auth0::{Auth0Client, Auth0Error, Connection, JobPolling, password};
use auth0_sync::model::{NameSet, Profile, SyncedFields, TenantRole, TenantSnapshot, TenantUser};
use auth0_sync::settings::{Auth0Settings, Secret};
use axum::Router;
use axum::body::Body;
use axum::extract::{Query, Request};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const CLIENT_SECRET: &str = "client-secret-hunter2-XYZ";
const TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.token-one.sig";
const DB: &str = "Username-Password-Authentication";
/// No test may take longer: a client that ignored `Retry-After` and fell back to a
/// 60 s wait (or a 30 s backoff) would run into it.
const LIMIT: Duration = Duration::from_secs(20);
/// Retry budget of the test clients: what is safe to retry is retried this long.
const RETRY_BUDGET: Duration = Duration::from_secs(2);

/// `POST /users` answer of TestUserManager_Create / TestRoleManager_UsersCheckpointPagination.
const RECORDED_USER: &str = r#"{"blocked":false,"created_at":"2023-03-14T13:41:28.257Z","email":"chuck986@example.com","email_verified":true,"family_name":"Sanchez","given_name":"Chuck","identities":[{"connection":"Username-Password-Authentication","user_id":"64107988d3534be8b2dc383c","provider":"auth0","isSocial":false}],"name":"chuck986@example.com","nickname":"Chucky","picture":"https://example-picture-url.jpg","updated_at":"2023-03-14T13:41:28.257Z","user_id":"auth0|64107988d3534be8b2dc383c","user_metadata":{"favourite_attack":"roundhouse_kick"},"username":"test-user679","app_metadata":{"facts":["count_to_infinity_twice","kill_two_stones_with_one_bird","can_hear_sign_language"]}}"#;
/// TestUserManager_Delete: reading a deleted user.
const RECORDED_404: &str =
    r#"{"statusCode":404,"error":"Not Found","message":"The user does not exist.","errorCode":"inexistent_user"}"#;

/// A request the fake server saw.
#[derive(Debug, Clone)]
struct Hit {
    method: String,
    /// Raw (percent-encoded) path.
    path: String,
    query: HashMap<String, String>,
    auth: Option<String>,
    body: String,
}

impl Hit {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
    fn q(&self, k: &str) -> Option<&str> {
        self.query.get(k).map(String::as_str)
    }
    fn is_token(&self) -> bool {
        self.path == "/oauth/token"
    }
}

struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
}

fn reply(status: u16, body: impl Into<String>) -> Reply {
    Reply { status, headers: vec![("content-type", "application/json; charset=utf-8".into())], body: body.into() }
}

fn reply_json(status: u16, body: Value) -> Reply {
    reply(status, body.to_string())
}

fn token_reply(token: &str, expires_in: u64) -> Reply {
    reply_json(
        200,
        json!({"access_token": token, "expires_in": expires_in, "scope": "read:users read:roles read:role_members create:users delete:users update:users read:connections", "token_type": "Bearer"}),
    )
}

type Responder = dyn Fn(&Hit) -> Reply + Send + Sync;

struct Server {
    base: String,
    hits: Arc<Mutex<Vec<Hit>>>,
}

impl Server {
    async fn start(responder: impl Fn(&Hit) -> Reply + Send + Sync + 'static) -> Server {
        let responder: Arc<Responder> = Arc::new(responder);
        let hits = Arc::new(Mutex::new(Vec::new()));
        let recorded = hits.clone();
        let app = Router::new().fallback(move |req: Request| {
            let responder = responder.clone();
            let hits = recorded.clone();
            async move {
                let (parts, body) = req.into_parts();
                let query = Query::<HashMap<String, String>>::try_from_uri(&parts.uri).map(|q| q.0).unwrap_or_default();
                let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
                let hit = Hit {
                    method: parts.method.to_string(),
                    path: parts.uri.path().to_owned(),
                    query,
                    auth: parts.headers.get("authorization").map(|v| v.to_str().unwrap().to_owned()),
                    body: String::from_utf8(body.to_vec()).unwrap(),
                };
                let r = responder(&hit);
                hits.lock().unwrap().push(hit);
                let mut response = Response::new(Body::from(r.body));
                *response.status_mut() = StatusCode::from_u16(r.status).unwrap();
                for (k, v) in r.headers {
                    response.headers_mut().insert(k, HeaderValue::from_str(&v).unwrap());
                }
                response.into_response()
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Server { base: format!("http://{addr}"), hits }
    }

    fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }

    fn api_hits(&self) -> Vec<Hit> {
        self.hits().into_iter().filter(|h| !h.is_token()).collect()
    }

    fn token_hits(&self) -> usize {
        self.hits().iter().filter(|h| h.is_token()).count()
    }

    fn settings(&self, max_retries: u32, backoff_factor: f64) -> Auth0Settings {
        Auth0Settings {
            base_url: self.base.clone(),
            tenant: self.base.trim_start_matches("http://").to_owned(),
            client_id: "cid-123".into(),
            client_secret: Secret::from(CLIENT_SECRET),
            max_retries,
            backoff_factor,
            rate_limit: Some(1000.0),
            rate_burst: Some(1000),
            rate_share: 1.0,
            retry_budget: RETRY_BUDGET,
            job_timeout: Duration::from_secs(60),
        }
    }

    async fn client(&self) -> Auth0Client {
        Auth0Client::connect(&self.settings(3, 0.0)).await.unwrap()
    }
}

async fn bounded<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, f).await.expect("took too long: a wait was not honoured or was too long")
}

/// Asserts that no secret shows in an error's Display or Debug.
fn assert_no_secret(e: &Auth0Error) {
    for text in [e.to_string(), format!("{e:?}")] {
        assert!(!text.contains(CLIENT_SECRET), "{text}");
        assert!(!text.contains("token-one"), "{text}");
        assert!(!text.contains("Bearer"), "{text}");
    }
}

// ---------------------------------------------------------------- token

#[tokio::test]
async fn token_request_shape_and_scopes() {
    let server = Server::start(|h| if h.is_token() { token_reply(TOKEN, 86400) } else { reply(404, "") }).await;
    let client = server.client().await;
    let hits = server.hits();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].method, "POST");
    assert_eq!(
        hits[0].json(),
        json!({
            "grant_type": "client_credentials",
            "client_id": "cid-123",
            "client_secret": CLIENT_SECRET,
            "audience": format!("{}/api/v2/", server.base),
        })
    );
    assert!(client.scopes().contains(&"read:role_members".to_owned()));
    assert_eq!(client.scopes().len(), 7);
}

#[tokio::test]
async fn token_failure_is_a_token_error_with_the_description() {
    let server = Server::start(|_| {
        reply_json(
            403,
            json!({"error": "access_denied", "error_description": "Service not enabled within domain: https://acme.auth0.com/api/v2/"}),
        )
    })
    .await;
    let err = Auth0Client::connect(&server.settings(3, 0.0)).await.unwrap_err();
    match &err {
        Auth0Error::Token { status, error, description, audience } => {
            assert_eq!(*status, 403);
            assert_eq!(error, "access_denied");
            assert_eq!(description, "Service not enabled within domain: https://acme.auth0.com/api/v2/");
            assert_eq!(audience, &format!("{}/api/v2/", server.base));
        }
        other => panic!("expected a token error, got {other:?}"),
    }
    assert_no_secret(&err);
    assert_eq!(server.hits().len(), 1, "a refused credential is not retried");
}

#[tokio::test]
async fn token_endpoint_server_error_is_retried() {
    let calls = AtomicUsize::new(0);
    let server = Server::start(move |_| {
        if calls.fetch_add(1, Ordering::SeqCst) == 0 { reply(503, "upstream busy") } else { token_reply(TOKEN, 86400) }
    })
    .await;
    bounded(Auth0Client::connect(&server.settings(2, 0.0))).await.unwrap();
    assert_eq!(server.token_hits(), 2);
}

// ---------------------------------------------------------------- snapshot

fn db_user(i: usize) -> Value {
    let mut u: Value = serde_json::from_str(RECORDED_USER).unwrap();
    u["user_id"] = json!(format!("auth0|{i:024x}"));
    u["email"] = json!(format!("chuck{i}@example.com"));
    u["name"] = json!(format!("chuck{i}@example.com"));
    u["identities"][0]["user_id"] = json!(format!("{i:024x}"));
    match i {
        7 => {
            u.as_object_mut().unwrap().remove("email");
        }
        8 => u["blocked"] = json!(true),
        _ => {}
    }
    u
}

const USERS: usize = 230;
const ROLES: usize = 120;

/// A user whose first identity is social and whose linked second identity is in DB.
fn linked_user() -> Value {
    json!({"user_id": "google-oauth2|1099", "email": "linked@example.com",
           "identities": [{"connection": "google-oauth2", "provider": "google-oauth2", "user_id": "1099", "isSocial": true},
                          {"connection": DB, "provider": "auth0", "user_id": "abc", "isSocial": false}]})
}

fn all_users() -> Vec<Value> {
    let mut users: Vec<Value> = (0..USERS).map(db_user).collect();
    users.push(linked_user());
    users
}

fn role_id(i: usize) -> String {
    format!("rol_{i:04}")
}

/// Members of roles; answers two per page, like the recording with take=2.
fn members_of(role: &str) -> Vec<Value> {
    let member = |i: usize| {
        json!({"user_id": format!("auth0|{i:024x}"), "email": format!("chuck{i}@example.com"),
               "picture": "https://example-picture-url.jpg", "name": format!("chuck{i}@example.com")})
    };
    if role == role_id(1) {
        let mut m: Vec<Value> = (0..5).map(member).collect();
        m.push(json!({"user_id": "auth0|elsewhere", "email": "x@example.com"}));
        m
    } else if role == role_id(105) {
        vec![member(0), member(USERS - 1)]
    } else if role == role_id(2) {
        vec![json!({"user_id": "google-oauth2|1099", "email": "linked@example.com"})]
    } else {
        Vec::new()
    }
}

fn paged(items: &[Value], h: &Hit, key: &str) -> Reply {
    let page: usize = h.q("page").unwrap().parse().unwrap();
    let per_page: usize = h.q("per_page").unwrap().parse().unwrap();
    let slice: Vec<Value> = items.iter().skip(page * per_page).take(per_page).cloned().collect();
    let mut body = json!({"start": page * per_page, "limit": per_page, "length": slice.len(), "total": items.len()});
    body[key] = Value::Array(slice);
    reply_json(200, body)
}

fn tenant(h: &Hit) -> Reply {
    if h.is_token() {
        return token_reply(TOKEN, 86400);
    }
    assert_eq!(h.auth.as_deref(), Some(&*format!("Bearer {TOKEN}")));
    if h.path == "/api/v2/roles" {
        let roles: Vec<Value> = (0..ROLES)
            .map(|i| json!({"id": role_id(i), "name": format!("role-{i}"), "description": "Test Role"}))
            .collect();
        return paged(&roles, h, "roles");
    }
    if h.path == "/api/v2/users" {
        return paged(&all_users(), h, "users");
    }
    if let Some(rest) = h.path.strip_prefix("/api/v2/roles/")
        && let Some(role) = rest.strip_suffix("/users")
    {
        let members = members_of(role);
        let start: usize = match h.q("from") {
            None => 0,
            Some(cursor) => cursor.strip_prefix("cur-").unwrap().parse().unwrap(),
        };
        let page: Vec<Value> = members.iter().skip(start).take(2).cloned().collect();
        let mut body = json!({ "users": page });
        if start + 2 < members.len() {
            body["next"] = json!(format!("cur-{}", start + 2));
        }
        return reply_json(200, body);
    }
    reply(404, RECORDED_404)
}

fn expected_snapshot() -> TenantSnapshot {
    let roles: BTreeMap<String, TenantRole> =
        (0..ROLES).map(|i| (role_id(i), TenantRole { id: role_id(i), name: format!("role-{i}") })).collect();
    let mut users: BTreeMap<String, TenantUser> = (0..USERS)
        .map(|i| {
            let id = format!("auth0|{i:024x}");
            let mut role_ids = BTreeSet::new();
            if i < 5 {
                role_ids.insert(role_id(1));
            }
            if i == 0 || i == USERS - 1 {
                role_ids.insert(role_id(105));
            }
            (
                id.clone(),
                TenantUser {
                    user_id: id,
                    email: (i != 7).then(|| format!("chuck{i}@example.com")),
                    connection: DB.into(),
                    blocked: i == 8,
                    blocked_by_sync: false,
                    role_ids: role_ids.into(),
                    linked_to: None,
                    // What #13 syncs, as the recorded user carries it: the profile and
                    // the top-level app_metadata keys (no HR key: the tool wrote none).
                    synced: SyncedFields {
                        key: None,
                        profile: Profile {
                            name: Some(format!("chuck{i}@example.com")),
                            given_name: Some("Chuck".into()),
                            family_name: Some("Sanchez".into()),
                        },
                        metadata: BTreeMap::from([(
                            "facts".to_owned(),
                            json!([
                                "count_to_infinity_twice",
                                "kill_two_stones_with_one_bird",
                                "can_hear_sign_language"
                            ]),
                        )]),
                    },
                },
            )
        })
        .collect();
    users.insert(
        "google-oauth2|1099".into(),
        TenantUser {
            user_id: "google-oauth2|1099".into(),
            email: Some("linked@example.com".into()),
            connection: "google-oauth2".into(),
            blocked: false,
            blocked_by_sync: false,
            role_ids: NameSet::from([role_id(2)]),
            // Its login in DB is linked under the social primary: marked, never ours.
            linked_to: Some("google-oauth2|1099".into()),
            synced: Default::default(),
        },
    );
    TenantSnapshot { roles, users, ..Default::default() }
}

#[tokio::test]
async fn snapshot_pages_users_roles_and_role_members() {
    let server = Server::start(tenant).await;
    let client = server.client().await;
    let snapshot = bounded(client.snapshot(DB)).await.unwrap();
    assert_eq!(snapshot, expected_snapshot());

    let hits = server.api_hits();
    let user_pages: Vec<&Hit> = hits.iter().filter(|h| h.path == "/api/v2/users").collect();
    assert_eq!(user_pages.iter().map(|h| h.q("page").unwrap()).collect::<Vec<_>>(), ["0", "1", "2"]);
    for h in &user_pages {
        assert_eq!(h.q("q"), Some("identities.connection:\"Username-Password-Authentication\""));
        assert_eq!(h.q("search_engine"), Some("v3"));
        assert_eq!(h.q("per_page"), Some("100"));
        assert_eq!(h.q("include_totals"), Some("true"));
    }
    let role_pages: Vec<&str> =
        hits.iter().filter(|h| h.path == "/api/v2/roles").map(|h| h.q("page").unwrap()).collect();
    assert_eq!(role_pages, ["0", "1"]);

    let member_calls: Vec<&Hit> =
        hits.iter().filter(|h| h.path.ends_with("/users") && h.path.starts_with("/api/v2/roles/")).collect();
    // One call per role, plus the two extra pages of rol_0001 (6 members, 2 per page).
    assert_eq!(member_calls.len(), ROLES + 2);
    assert!(member_calls.iter().all(|h| h.q("take") == Some("100")));
    let cursors: Vec<Option<&str>> =
        member_calls.iter().filter(|h| h.path == "/api/v2/roles/rol_0001/users").map(|h| h.q("from")).collect();
    assert_eq!(cursors, [None, Some("cur-2"), Some("cur-4")]);
}

#[tokio::test]
async fn snapshot_url_encodes_the_search_query() {
    let server = Server::start(|h| {
        if h.is_token() {
            token_reply(TOKEN, 86400)
        } else {
            reply_json(200, json!({"start":0,"limit":100,"length":0,"total":0,"users":[],"roles":[]}))
        }
    })
    .await;
    let client = server.client().await;
    let name = r#"odd "name" & more"#;
    let snapshot = client.snapshot(name).await.unwrap();
    assert!(snapshot.users.is_empty() && snapshot.roles.is_empty());
    let users = server.api_hits().into_iter().find(|h| h.path == "/api/v2/users").unwrap();
    assert_eq!(users.q("q"), Some(r#"identities.connection:"odd \"name\" & more""#));
}

#[tokio::test]
async fn more_than_1000_users_switch_to_the_export_job_not_a_truncation() {
    let server = Server::start(|h| {
        if h.is_token() {
            token_reply(TOKEN, 86400)
        } else if h.path == "/api/v2/roles" {
            reply_json(200, json!({"roles":[{"id":"rol_1","name":"a"}],"start":0,"limit":100,"total":1}))
        } else if h.path == "/api/v2/connections" {
            // No such connection: the export cannot start, and nothing is truncated.
            reply_json(200, json!({"connections":[],"start":0,"limit":50,"total":0}))
        } else {
            let users: Vec<Value> = (0..100).map(db_user).collect();
            reply_json(200, json!({"start":0,"limit":100,"length":100,"total":1500,"users":users}))
        }
    })
    .await;
    let client = server.client().await;
    let err = client.snapshot(DB).await.unwrap_err();
    assert!(err.to_string().contains("export job"), "{err}");
    assert!(server.api_hits().iter().any(|h| h.path == "/api/v2/connections"), "went to the export path");
    let user_pages = server.api_hits().iter().filter(|h| h.path == "/api/v2/users").count();
    assert_eq!(user_pages, 1, "no point paging on");
}

// ---------------------------------------------------------------- errors

#[tokio::test]
async fn api_error_keeps_message_error_code_and_helps() {
    let server = Server::start(|h| {
        if h.is_token() {
            return token_reply(TOKEN, 86400);
        }
        match (h.method.as_str(), h.path.as_str()) {
            ("DELETE", _) => reply(404, RECORDED_404),
            ("POST", "/api/v2/users") => reply_json(
                409,
                json!({"statusCode":409,"error":"Conflict","message":"The user already exists.","errorCode":"auth0_idp_error"}),
            ),
            _ => reply(400, "<html>bad</html>"),
        }
    })
    .await;
    let client = server.client().await;

    let err = client.delete_user("auth0|63d17c4ba030f2d4279f2c54").await.unwrap_err();
    match &err {
        Auth0Error::Api { method, path, status, message, error_code, help } => {
            assert_eq!(method, "DELETE");
            assert_eq!(path, "/api/v2/users/auth0|63d17c4ba030f2d4279f2c54");
            assert_eq!(*status, 404);
            assert_eq!(message, "The user does not exist.");
            assert_eq!(error_code.as_deref(), Some("inexistent_user"));
            assert!(help.contains("gone"), "{help}");
        }
        other => panic!("expected an API error, got {other:?}"),
    }
    assert_eq!(err.error_code(), Some("inexistent_user"));
    assert_no_secret(&err);
    assert_eq!(
        server.api_hits()[0].path,
        "/api/v2/users/auth0%7C63d17c4ba030f2d4279f2c54",
        "the user id is percent-encoded in the URL"
    );

    let err = client
        .create_user(DB, "chuck@example.com", &Profile::default(), &Secret::from("pw-Secret-1!"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Auth0Error::Api { status: 409, message, help, .. } if message == "The user already exists." && help.contains("exists"))
    );
    assert!(!format!("{err:?}{err}").contains("pw-Secret-1!"));

    let err = client.users_by_email("a@b.c").await.unwrap_err();
    assert!(
        matches!(&err, Auth0Error::Api { status: 400, message, error_code: None, .. } if message == "Bad Request"),
        "a non-JSON body gives the status text: {err:?}"
    );
}

#[tokio::test]
async fn forbidden_help_names_the_missing_scope() {
    let server = Server::start(|h| {
        if h.is_token() {
            reply_json(
                200,
                json!({"access_token": TOKEN, "expires_in": 86400, "scope": "read:users update:users", "token_type": "Bearer"}),
            )
        } else {
            reply_json(
                403,
                json!({"statusCode":403,"error":"Forbidden","message":"Insufficient scope, expected any of: create:role_members","errorCode":"insufficient_scope"}),
            )
        }
    })
    .await;
    let client = server.client().await;
    let err = client.assign_roles("auth0|1", &["rol_1".into()]).await.unwrap_err();
    match &err {
        Auth0Error::Api { status: 403, help, error_code, .. } => {
            assert!(help.contains("create:role_members"), "{help}");
            assert!(!help.contains("update:users"), "granted scopes are not missing: {help}");
            assert_eq!(error_code.as_deref(), Some("insufficient_scope"));
        }
        other => panic!("expected 403, got {other:?}"),
    }
    assert_eq!(server.api_hits().len(), 1, "403 is not retried");
}

#[tokio::test]
async fn unreachable_tenant_is_a_network_error_with_the_origin() {
    // Bind and drop a listener to get a port nobody listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let base = format!("http://127.0.0.1:{port}");
    let settings = Auth0Settings {
        base_url: base.clone(),
        tenant: format!("127.0.0.1:{port}"),
        client_id: "cid".into(),
        client_secret: Secret::from(CLIENT_SECRET),
        max_retries: 1,
        backoff_factor: 0.0,
        rate_limit: Some(1000.0),
        rate_burst: Some(1000),
        rate_share: 1.0,
        retry_budget: RETRY_BUDGET,
        job_timeout: Duration::from_secs(60),
    };
    let err = bounded(Auth0Client::connect(&settings)).await.unwrap_err();
    match &err {
        Auth0Error::Network { url, message } => {
            assert_eq!(url, &base);
            assert!(message.contains("/oauth/token"), "{message}");
        }
        other => panic!("expected a network error, got {other:?}"),
    }
    assert_no_secret(&err);
}

// ---------------------------------------------------------------- retries

#[tokio::test]
async fn retries_429_honouring_retry_after_then_succeeds() {
    let calls = AtomicUsize::new(0);
    let server = Server::start(move |h| {
        if h.is_token() {
            return token_reply(TOKEN, 86400);
        }
        if calls.fetch_add(1, Ordering::SeqCst) < 2 {
            let reset = (std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs()
                + 3600)
                .to_string();
            let mut r = reply_json(
                429,
                json!({"statusCode":429,"error":"Too Many Requests","message":"Global limit has been reached","errorCode":"too_many_requests"}),
            );
            // Retry-After 0 must win over a reset an hour away (which would mean a 60 s wait).
            r.headers.push(("retry-after", "0".into()));
            r.headers.push(("x-ratelimit-limit", "50".into()));
            r.headers.push(("x-ratelimit-remaining", "0".into()));
            r.headers.push(("x-ratelimit-reset", reset));
            return r;
        }
        reply(200, format!("[{RECORDED_USER}]"))
    })
    .await;
    // A 30 s backoff factor: only honouring Retry-After keeps this inside LIMIT.
    let client = Auth0Client::connect(&server.settings(3, 30.0)).await.unwrap();
    let found = bounded(client.users_by_email("chuck986@example.com")).await.unwrap();
    assert_eq!(found, vec![("auth0|64107988d3534be8b2dc383c".to_owned(), DB.to_owned())]);
    let hits = server.api_hits();
    assert_eq!(hits.len(), 3);
    assert_eq!(hits[0].path, "/api/v2/users-by-email");
    assert_eq!(hits[0].q("email"), Some("chuck986@example.com"));
}

#[tokio::test]
async fn rate_limit_reset_is_honoured_without_retry_after() {
    let calls = AtomicUsize::new(0);
    let server = Server::start(move |h| {
        if h.is_token() {
            return token_reply(TOKEN, 86400);
        }
        if calls.fetch_add(1, Ordering::SeqCst) == 0 {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
            let mut r = reply(429, "");
            r.headers.push(("x-ratelimit-remaining", "0".into()));
            r.headers.push(("x-ratelimit-reset", now.saturating_sub(1).to_string()));
            return r;
        }
        reply(204, "")
    })
    .await;
    let client = Auth0Client::connect(&server.settings(3, 30.0)).await.unwrap();
    bounded(client.delete_user("auth0|1")).await.unwrap();
    assert_eq!(server.api_hits().len(), 2);
}

#[tokio::test]
async fn idempotent_requests_are_retried_until_the_budget_not_a_count() {
    let server =
        Server::start(|h| if h.is_token() { token_reply(TOKEN, 86400) } else { reply(503, "Service Unavailable") })
            .await;
    let mut settings = server.settings(2, 0.0);
    settings.retry_budget = Duration::from_millis(400);
    let client = Auth0Client::connect(&settings).await.unwrap();
    let err = bounded(client.remove_roles("auth0|1", &["rol_1".into()])).await.unwrap_err();
    match &err {
        Auth0Error::Api { status: 503, message, help, method, .. } => {
            assert_eq!(message, "Service Unavailable");
            assert_eq!(method, "DELETE");
            assert!(help.contains("retrying for 400 ms") && help.contains("AUTH0_RETRY_BUDGET"), "{help}");
        }
        other => panic!("expected 503, got {other:?}"),
    }
    let hits = server.api_hits().len();
    assert!(hits > 3, "max_retries (2) does not bound an idempotent retry: {hits} attempts");
}

#[tokio::test]
async fn a_create_met_by_503_is_retried_max_retries_times() {
    let server =
        Server::start(|h| if h.is_token() { token_reply(TOKEN, 86400) } else { reply(503, "Service Unavailable") })
            .await;
    let client = Auth0Client::connect(&server.settings(2, 0.0)).await.unwrap();
    let err =
        bounded(client.create_user(DB, "a@example.com", &Profile::default(), &password::generate())).await.unwrap_err();
    match &err {
        Auth0Error::Api { status: 503, help, .. } => assert!(help.contains("2 retries"), "{help}"),
        other => panic!("expected 503, got {other:?}"),
    }
    assert_eq!(server.api_hits().len(), 3, "1 attempt + max_retries 2");
}

/// 429s in between do not use up the retries a 503 on a creation has (a storm of 30%
/// 429s and 5% 503s once failed a create after four 429s and one 503).
#[tokio::test]
async fn a_429_does_not_use_up_the_retries_of_a_503() {
    let calls = AtomicUsize::new(0);
    let server = Server::start(move |h| {
        if h.is_token() {
            return token_reply(TOKEN, 86400);
        }
        match calls.fetch_add(1, Ordering::SeqCst) {
            0..=3 => {
                let mut r = reply(429, "");
                r.headers.push(("retry-after", "0".into()));
                r
            }
            4 => reply(503, "Service Unavailable"),
            _ => reply(201, RECORDED_USER),
        }
    })
    .await;
    let mut settings = server.settings(1, 0.0);
    settings.retry_budget = Duration::from_secs(30);
    let client = Auth0Client::connect(&settings).await.unwrap();
    let id = bounded(client.create_user(DB, "a@example.com", &Profile::default(), &password::generate())).await;
    assert_eq!(id.unwrap(), "auth0|64107988d3534be8b2dc383c", "max_retries 1 is for the 503 alone");
    assert_eq!(server.api_hits().len(), 6);
}

#[tokio::test]
async fn a_429_is_retried_until_the_budget_whatever_the_count() {
    let server = Server::start(|h| {
        if h.is_token() {
            return token_reply(TOKEN, 86400);
        }
        let mut r = reply(429, "");
        r.headers.push(("retry-after", "0".into()));
        r
    })
    .await;
    let mut settings = server.settings(0, 0.0);
    settings.retry_budget = Duration::from_millis(900);
    let client = Auth0Client::connect(&settings).await.unwrap();
    let err =
        bounded(client.create_user(DB, "a@example.com", &Profile::default(), &password::generate())).await.unwrap_err();
    assert_eq!(err.status(), Some(429));
    let hits = server.api_hits().len();
    // max_retries 0, yet retried: every 250 ms (the floor after a 429) for 900 ms.
    assert!((3..=5).contains(&hits), "{hits} attempts");
}

#[tokio::test]
async fn create_user_is_not_retried_when_auth0_may_have_done_it() {
    let server = Server::start(|h| {
        if h.is_token() {
            token_reply(TOKEN, 86400)
        } else {
            reply_json(500, json!({"statusCode":500,"error":"Internal Server Error","message":"Internal error"}))
        }
    })
    .await;
    let client = server.client().await;
    let err =
        bounded(client.create_user(DB, "a@example.com", &Profile::default(), &password::generate())).await.unwrap_err();
    assert_eq!(err.status(), Some(500));
    assert_eq!(server.api_hits().len(), 1);
}

#[tokio::test]
async fn create_user_sends_the_schema_body_and_is_retried_on_429() {
    let calls = AtomicUsize::new(0);
    let server = Server::start(move |h| {
        if h.is_token() {
            return token_reply(TOKEN, 86400);
        }
        if calls.fetch_add(1, Ordering::SeqCst) == 0 {
            let mut r = reply(429, "");
            r.headers.push(("retry-after", "0".into()));
            return r;
        }
        reply(201, RECORDED_USER)
    })
    .await;
    let client = server.client().await;
    let pw = password::generate();
    let profile = Profile { name: None, given_name: Some("Chuck".into()), family_name: Some("Sanchez".into()) };
    let id = bounded(client.create_user(DB, "chuck986@example.com", &profile, &pw)).await.unwrap();
    assert_eq!(id, "auth0|64107988d3534be8b2dc383c");
    let hits = server.api_hits();
    assert_eq!(hits.len(), 2);
    assert_eq!((hits[1].method.as_str(), hits[1].path.as_str()), ("POST", "/api/v2/users"));
    assert_eq!(
        hits[1].json(),
        json!({"connection": DB, "email": "chuck986@example.com", "password": pw.expose_secret(),
               "email_verified": false, "verify_email": false,
               "given_name": "Chuck", "family_name": "Sanchez"})
    );
}

// ---------------------------------------------------------------- token refresh

#[tokio::test]
async fn a_401_refreshes_the_token_once_then_succeeds() {
    let tokens = AtomicUsize::new(0);
    let server = Server::start(move |h| {
        if h.is_token() {
            let n = tokens.fetch_add(1, Ordering::SeqCst) + 1;
            return token_reply(&format!("tok-{n}"), 86400);
        }
        if h.auth.as_deref() == Some("Bearer tok-2") {
            reply(204, "")
        } else {
            reply_json(401, json!({"statusCode":401,"error":"Unauthorized","message":"Expired token received for JSON Web Token validation","attributes":{"error":"Expired token"}}))
        }
    })
    .await;
    let client = server.client().await;
    bounded(client.assign_roles("auth0|1", &["rol_1".into(), "rol_2".into()])).await.unwrap();
    assert_eq!(server.token_hits(), 2);
    let api = server.api_hits();
    assert_eq!(api.len(), 2);
    assert_eq!(api[1].path, "/api/v2/users/auth0%7C1/roles");
    assert_eq!(api[1].json(), json!({"roles": ["rol_1", "rol_2"]}));
    // The new token is cached and shared by clones.
    client.clone().delete_user("auth0|1").await.unwrap();
    assert_eq!(server.token_hits(), 2);
}

#[tokio::test]
async fn a_persistent_401_fails_after_one_refresh() {
    let server = Server::start(|h| {
        if h.is_token() {
            token_reply(TOKEN, 86400)
        } else {
            reply_json(401, json!({"statusCode":401,"error":"Unauthorized","message":"Invalid token"}))
        }
    })
    .await;
    let client = server.client().await;
    let err = client.delete_user("auth0|1").await.unwrap_err();
    assert_eq!(err.status(), Some(401));
    assert_eq!(server.token_hits(), 2);
    assert_eq!(server.api_hits().len(), 2);
    assert_no_secret(&err);
}

#[tokio::test]
async fn token_is_refreshed_before_it_expires() {
    let server = Server::start(|h| {
        if h.is_token() {
            // Already due for refresh on arrival.
            token_reply(TOKEN, 0)
        } else {
            reply(204, "")
        }
    })
    .await;
    let client = server.client().await;
    client.delete_user("auth0|1").await.unwrap();
    client.delete_user("auth0|2").await.unwrap();
    assert_eq!(server.token_hits(), 3);

    let server = Server::start(|h| if h.is_token() { token_reply(TOKEN, 86400) } else { reply(204, "") }).await;
    let client = server.client().await;
    client.delete_user("auth0|1").await.unwrap();
    client.delete_user("auth0|2").await.unwrap();
    assert_eq!(server.token_hits(), 1);
}

// ---------------------------------------------------------------- small calls

#[tokio::test]
async fn connection_by_name_from_the_recording() {
    let server = Server::start(|h| {
        if h.is_token() {
            return token_reply(TOKEN, 86400);
        }
        if h.q("name") == Some("Test-Auth0-Connection-1757344643") {
            reply(200, r#"{"total":1,"start":0,"limit":50,"connections":[{"id":"con_b0A9VnKMdlOxYQuG","options":{"mfa":{"active":true,"return_enroll_settings":true},"passwordPolicy":"good","strategy_version":2,"brute_force_protection":true},"strategy":"auth0","name":"Test-Auth0-Connection-1757344643","is_domain_connection":false,"authentication":{"active":true},"connected_accounts":{"active":true},"realms":["Test-Auth0-Connection-1757344643"],"enabled_clients":[]}]}"#)
        } else {
            reply(200, "[]")
        }
    })
    .await;
    let client = server.client().await;
    assert_eq!(
        client.connection_by_name("Test-Auth0-Connection-1757344643").await.unwrap(),
        Some(Connection {
            id: "con_b0A9VnKMdlOxYQuG".into(),
            name: "Test-Auth0-Connection-1757344643".into(),
            strategy: "auth0".into(),
        })
    );
    assert_eq!(client.connection_by_name("nope").await.unwrap(), None);
    assert_eq!(server.api_hits()[0].path, "/api/v2/connections");
}

#[tokio::test]
async fn empty_role_lists_make_no_call() {
    let server = Server::start(|h| if h.is_token() { token_reply(TOKEN, 86400) } else { reply(400, "") }).await;
    let client = server.client().await;
    client.assign_roles("auth0|1", &[]).await.unwrap();
    client.remove_roles("auth0|1", &[]).await.unwrap();
    assert!(server.api_hits().is_empty());
}

#[tokio::test]
async fn undecodable_success_body_is_a_decode_error() {
    let server = Server::start(|h| {
        if h.is_token() { token_reply(TOKEN, 86400) } else { reply(200, r#"[{"email":"no-id@example.com"}]"#) }
    })
    .await;
    let client = server.client().await;
    let err = client.users_by_email("no-id@example.com").await.unwrap_err();
    match err {
        Auth0Error::Decode { path, message, .. } => {
            assert_eq!(path, "/api/v2/users-by-email");
            assert!(message.contains("user_id"), "{message}");
        }
        other => panic!("expected a decode error, got {other:?}"),
    }
}

// ---------------------------------------------------------------- secrets

#[tokio::test]
async fn debug_of_the_client_shows_no_secret_or_token() {
    let server = Server::start(|h| if h.is_token() { token_reply(TOKEN, 86400) } else { reply(204, "") }).await;
    let client = server.client().await;
    let debug = format!("{client:?} {client:#?}");
    assert!(debug.contains("cid-123"), "{debug}");
    assert!(!debug.contains(CLIENT_SECRET), "{debug}");
    assert!(!debug.contains("token-one"), "{debug}");
}

/// Captures log output of the current thread.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The process-wide log of this crate's events (a global subscriber: thread-local
/// ones miss events when tests run in parallel, as tracing caches callsite interest).
fn global_log() -> &'static Captured {
    static LOG: std::sync::OnceLock<Captured> = std::sync::OnceLock::new();
    LOG.get_or_init(|| {
        let captured = Captured::default();
        let sink = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("auth0_sync=trace,it=trace"))
            .with_writer(move || sink.clone())
            .with_ansi(false)
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        captured
    })
}

#[tokio::test]
async fn retries_are_logged_without_secrets() {
    use tracing::Instrument;
    let captured = global_log();
    let calls = AtomicUsize::new(0);
    let server = Server::start(move |h| {
        if h.is_token() {
            return token_reply(TOKEN, 86400);
        }
        match calls.fetch_add(1, Ordering::SeqCst) {
            0 => reply(401, ""),
            1 => reply(503, ""),
            _ => reply(201, RECORDED_USER),
        }
    })
    .await;
    let client = server.client().await;
    let pw = password::generate();
    bounded(
        client
            .create_user(DB, "chuck986@example.com", &Profile::default(), &pw)
            .instrument(tracing::info_span!("logtest")),
    )
    .await
    .unwrap();
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let mine: Vec<&str> = log.lines().filter(|l| l.contains("logtest")).collect();
    assert!(mine.iter().any(|l| l.contains("WARN") && l.contains("answered 503")), "{log}");
    assert!(mine.iter().any(|l| l.contains("WARN") && l.contains("fetching a new one")), "{log}");
    // Everything logged so far by any test: no secret anywhere.
    for secret in [CLIENT_SECRET, "token-one", pw.expose_secret()] {
        assert!(!log.contains(secret), "log shows a secret: {log}");
    }
}

// ---------------------------------------------------------------- passwords

#[test]
fn passwords_are_strong_and_unique() {
    let mut seen = BTreeSet::new();
    for _ in 0..500 {
        let pw = password::generate();
        let s = pw.expose_secret();
        assert!(s.chars().count() >= 24, "{}", s.len());
        assert!(s.chars().any(|c| c.is_ascii_lowercase()));
        assert!(s.chars().any(|c| c.is_ascii_uppercase()));
        assert!(s.chars().any(|c| c.is_ascii_digit()));
        assert!(s.chars().any(|c| !c.is_ascii_alphanumeric()));
        assert!(!s.as_bytes().windows(3).any(|w| w[0] == w[1] && w[1] == w[2]), "three identical characters in a row");
        assert!(!s.contains(['"', '\\', ' ']));
        // secrecy has no Display at all, so only Debug could show it.
        assert!(!format!("{pw:?}").contains(s));
        assert!(seen.insert(s.to_owned()), "a password repeated");
    }
    // Every symbol of the alphabet turns up: the draw is not stuck on a subset.
    let chars: BTreeSet<char> = seen.iter().flat_map(|s| s.chars()).collect();
    assert!(chars.len() >= 70, "{}", chars.len());
}

// ---------------------------------------------------------------- dropped connections

/// A bare HTTP/1.1 server: answers the token endpoint, and closes the connection
/// without an answer on every other request (after reading it whole). Counts those.
async fn hang_up_server() -> (String, Arc<AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let dropped = Arc::new(AtomicUsize::new(0));
    let counter = dropped.clone();
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                // Read the head, then as much body as Content-Length says.
                let (head_end, length) = loop {
                    let n = socket.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
                        let length = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .map(|v| v.trim().parse::<usize>().unwrap())
                            .unwrap_or(0);
                        break (end + 4, length);
                    }
                };
                while buf.len() < head_end + length {
                    let n = socket.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                if buf.starts_with(b"POST /oauth/token ") {
                    let body = format!(
                        r#"{{"access_token":"{TOKEN}","expires_in":86400,"scope":"create:users","token_type":"Bearer"}}"#
                    );
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    socket.write_all(answer.as_bytes()).await.unwrap();
                    socket.shutdown().await.ok();
                } else {
                    counter.fetch_add(1, Ordering::SeqCst);
                    drop(socket);
                }
            });
        }
    });
    (base, dropped)
}

fn settings_for(base: &str, max_retries: u32) -> Auth0Settings {
    Auth0Settings {
        base_url: base.to_owned(),
        tenant: base.trim_start_matches("http://").to_owned(),
        client_id: "cid".into(),
        client_secret: Secret::from(CLIENT_SECRET),
        max_retries,
        backoff_factor: 0.0,
        rate_limit: Some(1000.0),
        rate_burst: Some(1000),
        rate_share: 1.0,
        retry_budget: RETRY_BUDGET,
        job_timeout: Duration::from_secs(60),
    }
}

#[tokio::test]
async fn create_user_is_not_resent_after_the_connection_drops() {
    let (base, dropped) = hang_up_server().await;
    let client = Auth0Client::connect(&settings_for(&base, 3)).await.unwrap();
    let pw = password::generate();
    let err = bounded(client.create_user(DB, "a@example.com", &Profile::default(), &pw)).await.unwrap_err();
    match &err {
        Auth0Error::Unconfirmed { method, path, url, .. } => {
            assert_eq!((method.as_str(), path.as_str()), ("POST", "/api/v2/users"));
            assert_eq!(url, &base);
        }
        other => panic!("expected Unconfirmed, got {other:?}"),
    }
    assert!(!format!("{err:?}{err}").contains(pw.expose_secret()));
    assert_eq!(dropped.load(Ordering::SeqCst), 1, "sent exactly once");
}

#[tokio::test]
async fn idempotent_calls_are_resent_after_the_connection_drops() {
    let (base, dropped) = hang_up_server().await;
    let client = Auth0Client::connect(&settings_for(&base, 2)).await.unwrap();
    let err = bounded(client.delete_user("auth0|1")).await.unwrap_err();
    match &err {
        Auth0Error::Network { url, message } => {
            assert_eq!(url, &base);
            assert!(message.contains("DELETE /api/v2/users/auth0|1") && message.contains(" over "), "{message}");
        }
        other => panic!("expected a network error, got {other:?}"),
    }
    let dropped = dropped.load(Ordering::SeqCst);
    assert!(dropped > 3, "resent until the retry budget, not max_retries (2): {dropped}");
}

// ---------------------------------------------------------------- roles and blocking

#[tokio::test]
async fn create_role_block_and_bulk_assign() {
    let server = Server::start(|h| {
        if h.is_token() {
            return token_reply(TOKEN, 86400);
        }
        match (h.method.as_str(), h.path.as_str()) {
            ("POST", "/api/v2/roles") => {
                reply(200, r#"{"id":"rol_9yRKwo2Bl0zckceV","name":"test-role14","description":"Test Role"}"#)
            }
            ("POST", "/api/v2/roles/rol_9yRKwo2Bl0zckceV/users") => reply(200, "{}"),
            ("PATCH", "/api/v2/users/auth0%7C1") => reply(200, RECORDED_USER),
            _ => reply(404, RECORDED_404),
        }
    })
    .await;
    let client = server.client().await;
    assert_eq!(client.create_role("test-role14").await.unwrap(), "rol_9yRKwo2Bl0zckceV");
    let none = auth0_sync::fields::Namespace::default();
    client.set_blocked("auth0|1", true, &none).await.unwrap();
    client.set_blocked("auth0|1", false, &none).await.unwrap();
    client.assign_users_to_role("rol_9yRKwo2Bl0zckceV", &["auth0|1".into(), "auth0|2".into()]).await.unwrap();
    client.assign_users_to_role("rol_9yRKwo2Bl0zckceV", &[]).await.unwrap();
    // With an HR key in the namespace (#13), the namespace is sent whole: unblocking
    // keeps the key instead of erasing the namespace.
    let keyed = auth0_sync::fields::Namespace { key: Some("E123".into()), blocked: true };
    client.set_blocked("auth0|1", true, &keyed).await.unwrap();
    client.set_blocked("auth0|1", false, &keyed).await.unwrap();
    let hits = server.api_hits();
    assert_eq!(hits.len(), 6);
    assert_eq!(hits[0].json(), json!({"name": "test-role14"}));
    // The marker says when and why (#14); blocked_at is the clock's.
    let mut block = hits[1].json();
    let at = block["app_metadata"]["auth0_sync"].as_object_mut().unwrap().remove("blocked_at").unwrap();
    assert!(chrono::DateTime::parse_from_rfc3339(at.as_str().unwrap()).is_ok(), "{at}");
    assert_eq!(
        block,
        json!({"blocked": true, "app_metadata": {"auth0_sync": {"blocked": true, "reason": "missing from source"}}})
    );
    assert_eq!(hits[2].json(), json!({"blocked": false, "app_metadata": {"auth0_sync": null}}));
    assert_eq!(hits[3].json(), json!({"users": ["auth0|1", "auth0|2"]}));
    let mut keyed_block = hits[4].json();
    assert!(keyed_block["app_metadata"]["auth0_sync"].as_object_mut().unwrap().remove("blocked_at").is_some());
    assert_eq!(
        keyed_block,
        json!({"blocked": true, "app_metadata": {"auth0_sync": {"key": "E123", "blocked": true, "reason": "missing from source"}}})
    );
    assert_eq!(hits[5].json(), json!({"blocked": false, "app_metadata": {"auth0_sync": {"key": "E123"}}}));
}

#[tokio::test]
async fn roles_lists_every_page() {
    let server = Server::start(tenant).await;
    let client = server.client().await;
    let roles = client.roles().await.unwrap();
    assert_eq!(roles, expected_snapshot().roles.into_values().collect::<Vec<_>>());
    assert_eq!(server.api_hits().len(), 2);
}

// ---------------------------------------------------------------- exports (issue #11)

/// A tenant past the paging cap whose export job answers `job` and serves `file(n)` at
/// its n-th download link.
fn export_tenant(
    total: usize,
    job: impl Fn(&Hit, usize) -> Value + Send + Sync + 'static,
    file: impl Fn(usize) -> Reply + Send + Sync + 'static,
) -> impl Fn(&Hit) -> Reply + Send + Sync + 'static {
    let polls = AtomicUsize::new(0);
    move |h: &Hit| {
        if h.is_token() {
            return token_reply(TOKEN, 86400);
        }
        match (h.method.as_str(), h.path.as_str()) {
            ("GET", "/api/v2/roles") => reply_json(200, json!({"roles":[],"start":0,"limit":100,"total":0})),
            ("GET", "/api/v2/connections") => reply_json(
                200,
                json!({"connections":[{"id":"con_ftSSLHb0O7rcUGmF","name":DB,"strategy":"auth0"}],"start":0,"limit":50,"total":1}),
            ),
            ("GET", "/api/v2/users") if h.q("q").is_some_and(|q| q.contains("isSocial")) => {
                reply_json(200, json!({"start":0,"limit":100,"length":0,"total":0,"users":[]}))
            }
            ("GET", "/api/v2/users") => {
                let users: Vec<Value> = (0..100).map(db_user).collect();
                reply_json(200, json!({"start":0,"limit":100,"length":100,"total":total,"users":users}))
            }
            ("POST", "/api/v2/jobs/users-exports") => reply_json(
                200,
                json!({"type":"users_export","status":"pending","connection_id":"con_ftSSLHb0O7rcUGmF","format":"json","id":"job_iSjvljNtsTMmSpRW"}),
            ),
            ("GET", "/api/v2/jobs/job_iSjvljNtsTMmSpRW") => {
                reply_json(200, job(h, polls.fetch_add(1, Ordering::SeqCst)))
            }
            ("GET", p) if p.starts_with("/download/") => file(p.trim_start_matches("/download/").parse().unwrap()),
            _ => reply(404, RECORDED_404),
        }
    }
}

/// NDJSON lines of users `range` (plain text: the client sniffs for gzip).
fn export_lines(range: std::ops::Range<usize>) -> String {
    range.map(|i| format!("{}\n", db_user(i))).collect()
}

fn completed(base: &str, n: usize) -> Value {
    json!({"type":"users_export","status":"completed","id":"job_iSjvljNtsTMmSpRW","location": format!("{base}/download/{n}")})
}

#[tokio::test]
async fn an_expired_export_link_is_replaced_by_polling_the_job_again() {
    let base = Arc::new(Mutex::new(String::new()));
    let b = base.clone();
    let server = Server::start(export_tenant(
        1200,
        move |_, poll| {
            // Pending first, then a new link on every poll.
            if poll == 0 {
                json!({"type":"users_export","status":"processing","id":"job_iSjvljNtsTMmSpRW","time_left_seconds":0})
            } else {
                completed(&b.lock().unwrap(), poll)
            }
        },
        |n| {
            if n == 1 {
                reply(403, "<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>")
            } else {
                reply(200, export_lines(0..1200))
            }
        },
    ))
    .await;
    *base.lock().unwrap() = server.base.clone();
    let client = server.client().await.with_job_polling(JobPolling { floor: Duration::ZERO, cap: Duration::ZERO });
    let snap = bounded(client.snapshot(DB)).await.unwrap();
    assert_eq!(snap.users.len(), 1200);
    let downloads: Vec<String> =
        server.hits().into_iter().filter(|h| h.path.starts_with("/download/")).map(|h| h.path).collect();
    assert_eq!(downloads, ["/download/1", "/download/2"]);
    assert!(
        server.hits().iter().filter(|h| h.path.starts_with("/download/")).all(|h| h.auth.is_none()),
        "no token is sent to the export location"
    );
}

#[tokio::test]
async fn an_export_with_a_third_of_the_users_is_refused() {
    let base = Arc::new(Mutex::new(String::new()));
    let b = base.clone();
    let server = Server::start(export_tenant(
        1500,
        move |_, _| completed(&b.lock().unwrap(), 1),
        |_| reply(200, export_lines(0..500)),
    ))
    .await;
    *base.lock().unwrap() = server.base.clone();
    let client = server.client().await;
    match bounded(client.snapshot(DB)).await.unwrap_err() {
        Auth0Error::IncompleteSnapshot { connection, expected, got, allowance } => {
            assert_eq!((connection.as_str(), expected, got), (DB, 1500, 500));
            assert_eq!(allowance, auth0_sync::auth0::export_allowance(1500));
        }
        other => panic!("expected IncompleteSnapshot, got {other:?}"),
    }
}

#[tokio::test]
async fn an_export_line_without_identities_is_a_user_of_no_known_connection() {
    let base = Arc::new(Mutex::new(String::new()));
    let b = base.clone();
    let server = Server::start(export_tenant(
        1100,
        move |_, _| completed(&b.lock().unwrap(), 1),
        |_| {
            let mut text = export_lines(0..1099);
            text.push_str(r#"{"user_id":"auth0|no-connection","email":"who@example.com"}"#);
            text.push('\n');
            reply(200, text)
        },
    ))
    .await;
    *base.lock().unwrap() = server.base.clone();
    let client = server.client().await;
    let snap = bounded(client.snapshot(DB)).await.unwrap();
    let who = &snap.users["auth0|no-connection"];
    assert_eq!(who.connection, auth0_sync::model::UNKNOWN_CONNECTION, "never the managed connection");
    // So no plan ever touches it, even when the source does not list it.
    let policy = auth0_sync::planner::Policy {
        connection: DB.into(),
        delete_cap: auth0_sync::planner::DeleteCap::Unlimited,
        allow_empty_source: true,
        ..Default::default()
    };
    let cs = auth0_sync::planner::plan(&auth0_sync::model::DesiredState::default(), &snap, &policy).unwrap();
    assert!(cs.changes.iter().all(|c| c.user.user_id.as_deref() != Some("auth0|no-connection")));
    assert_eq!(cs.summary.connection_users, 1099);
}

// ---------------------------------------------------------------- the tenant's clock

/// An HTTP date `offset` seconds from now.
fn date_in(offset: i64) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let t = std::time::UNIX_EPOCH + Duration::from_secs((now + offset) as u64);
    chrono::DateTime::<chrono::Utc>::from(t).format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

#[tokio::test]
async fn a_reset_is_read_on_the_tenants_clock() {
    // The tenant's clock is 300 s behind ours. Its 429 says "reset in 1 s" on its
    // clock, which our clock reads as 299 s ago: without the Date offset the retry
    // would come at once (only the 250 ms floor), with it a second later.
    let times = Arc::new(Mutex::new(Vec::new()));
    let seen = times.clone();
    let calls = AtomicUsize::new(0);
    let server = Server::start(move |h| {
        let mut r = if h.is_token() { token_reply(TOKEN, 86400) } else { reply(204, "") };
        r.headers.push(("date", date_in(-300)));
        if !h.is_token() {
            seen.lock().unwrap().push(std::time::Instant::now());
            if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                let reset = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() - 299;
                r = reply(429, "");
                r.headers.push(("date", date_in(-300)));
                r.headers.push(("x-ratelimit-limit", "10".into()));
                r.headers.push(("x-ratelimit-remaining", "0".into()));
                r.headers.push(("x-ratelimit-reset", reset.to_string()));
            }
        }
        r
    })
    .await;
    let client = server.client().await;
    bounded(client.delete_user("auth0|1")).await.unwrap();
    let offset = client.server_clock_offset();
    assert!((-302.0..=-299.0).contains(&offset), "{offset}");
    let t = times.lock().unwrap().clone();
    assert_eq!(t.len(), 2);
    assert!(t[1] - t[0] >= Duration::from_millis(900), "waited for the reset: {:?}", t[1] - t[0]);
}
