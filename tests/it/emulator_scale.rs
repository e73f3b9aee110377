//! The emulator at scale: export and import jobs with Auth0's limits, the token
//! bucket, injected faults, latency and the request counts benchmarks read.
//! No test asserts an upper bound on a duration.

use auth0_emulator::state::{ClientApp, StateConnection, StateUser};
use auth0_emulator::{Clock, Emulator, EmulatorOptions, Faults, RateLimit, TenantState};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::io::Read;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const DB: &str = "Username-Password-Authentication";
const DB_ID: &str = "con_AbCdEfGh01234567";
const OTHER_ID: &str = "con_Other00000000001";
const SOCIAL_ID: &str = "con_Google0000000001";
const SCOPES: &[&str] =
    &["read:users", "create:users", "update:users", "delete:users", "read:roles", "read:connections"];

fn user(i: usize, connection: &str) -> StateUser {
    StateUser {
        user_id: format!("auth0|{i:024x}"),
        email: Some(format!("user{i}@example.com")),
        connection: connection.into(),
        created_at: Some("2024-01-01T00:00:00.000Z".into()),
        updated_at: Some("2024-01-01T00:00:00.000Z".into()),
        ..Default::default()
    }
}

fn state(db_users: usize, other_users: usize) -> TenantState {
    let mut users: Vec<StateUser> = (0..db_users).map(|i| user(i, DB)).collect();
    users.extend((0..other_users).map(|i| user(100_000 + i, "Other-DB")));
    TenantState {
        clients: vec![
            ClientApp {
                client_id: "sync".into(),
                client_secret: "s3cret".into(),
                scopes: SCOPES.iter().map(|s| s.to_string()).collect(),
            },
            ClientApp { client_id: "reader".into(), client_secret: "r3ader".into(), scopes: vec!["read:users".into()] },
        ],
        connections: vec![
            StateConnection { id: DB_ID.into(), name: DB.into(), ..Default::default() },
            StateConnection { id: OTHER_ID.into(), name: "Other-DB".into(), ..Default::default() },
            StateConnection {
                id: SOCIAL_ID.into(),
                name: "google-oauth2".into(),
                strategy: "google-oauth2".into(),
                ..Default::default()
            },
        ],
        roles: vec![],
        users,
    }
}

async fn start(st: TenantState, options: EmulatorOptions) -> Emulator {
    Emulator::start_with("127.0.0.1:0".parse().unwrap(), st, None, options).await.expect("emulator starts")
}

/// A token, retrying the (possibly faulted or rate-limited) token endpoint.
async fn token(http: &Client, emu: &Emulator, id: &str, secret: &str) -> String {
    for _ in 0..200 {
        let r = crate::common::token_request(http, &emu.base_url(), id, secret).await;
        if r.status() == StatusCode::OK {
            let v: Value = r.json().await.unwrap();
            return v["access_token"].as_str().unwrap().to_owned();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no token");
}

struct T {
    emu: Emulator,
    http: Client,
    token: String,
}

impl T {
    async fn new(st: TenantState, options: EmulatorOptions) -> T {
        let emu = start(st, options).await;
        let http = Client::new();
        let token = token(&http, &emu, "sync", "s3cret").await;
        T { emu, http, token }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.emu.base_url())
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let r = self.http.get(self.url(path)).bearer_auth(&self.token).send().await.unwrap();
        let status = r.status();
        let text = r.text().await.unwrap();
        (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap() })
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let r = self.http.post(self.url(path)).bearer_auth(&self.token).json(&body).send().await.unwrap();
        (r.status(), r.json().await.unwrap())
    }

    /// Polls `GET /jobs/{id}` until completed; returns the statuses seen and the job.
    async fn poll(&self, id: &str) -> (Vec<String>, Value) {
        let mut seen = Vec::new();
        for _ in 0..20 {
            let (s, v) = self.get(&format!("/api/v2/jobs/{id}")).await;
            assert_eq!(s, StatusCode::OK, "{v}");
            let status = v["status"].as_str().unwrap().to_owned();
            seen.push(status.clone());
            if status == "completed" {
                return (seen, v);
            }
        }
        panic!("job {id} never completed: {seen:?}");
    }

    async fn import(&self, users: &Value, upsert: bool) -> reqwest::Response {
        self.import_bytes(serde_json::to_vec(users).unwrap(), upsert).await
    }

    async fn import_bytes(&self, file: Vec<u8>, upsert: bool) -> reqwest::Response {
        let form = reqwest::multipart::Form::new()
            .text("connection_id", DB_ID)
            .text("upsert", upsert.to_string())
            .text("external_id", "")
            .text("send_completion_email", "false")
            .part(
                "users",
                reqwest::multipart::Part::bytes(file).file_name("users.json").mime_str("application/json").unwrap(),
            );
        self.http
            .post(self.url("/api/v2/jobs/users-imports"))
            .bearer_auth(&self.token)
            .multipart(form)
            .send()
            .await
            .unwrap()
    }
}

fn gunzip_lines(bytes: &[u8]) -> Vec<Value> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(bytes).read_to_string(&mut text).expect("gzip");
    text.lines().map(|l| serde_json::from_str(l).expect("one JSON object per line")).collect()
}

#[tokio::test]
async fn export_job_round_trip_past_the_paging_cap() {
    let t = T::new(state(1234, 40), EmulatorOptions::default()).await;
    // Paging alone cannot see these users.
    let (s, _) = t.get("/api/v2/users?page=20&per_page=50").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    let fields = json!([{"name": "user_id"}, {"name": "email"}, {"name": "identities[0].connection"}]);
    let (s, job) =
        t.post("/api/v2/jobs/users-exports", json!({"connection_id": DB_ID, "format": "json", "fields": fields})).await;
    assert_eq!(s, StatusCode::OK, "{job}");
    let id = job["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("job_") && id.len() == 20, "{id}");
    assert!(job["created_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        job,
        json!({"type": "users_export", "status": "pending", "connection_id": DB_ID, "format": "json",
            "fields": fields, "connection": DB, "created_at": job["created_at"], "id": id})
    );

    let (seen, done) = t.poll(&id).await;
    assert_eq!(seen, ["pending", "completed"], "one poll answers pending by default");
    let location = done["location"].as_str().unwrap();
    assert!(location.starts_with(&format!("{}/__emulator/exports/{id}.json.gz?", t.emu.base_url())), "{location}");

    // A pre-signed URL: no bearer token.
    let r = Client::new().get(location).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let lines = gunzip_lines(&r.bytes().await.unwrap());
    assert_eq!(lines.len(), 1234);
    let got: BTreeSet<(String, String)> = lines
        .iter()
        .map(|l| {
            assert_eq!(l["identities[0].connection"], DB, "{l}");
            assert_eq!(l.as_object().unwrap().len(), 3, "{l}");
            (l["user_id"].as_str().unwrap().to_owned(), l["email"].as_str().unwrap().to_owned())
        })
        .collect();
    let want: BTreeSet<(String, String)> = t
        .emu
        .state()
        .await
        .users
        .into_iter()
        .filter(|u| u.connection == DB)
        .map(|u| (u.user_id, u.email.unwrap()))
        .collect();
    assert_eq!(got, want);

    // limit, export_as, no connection (all users), csv.
    let (_, job) = t
        .post(
            "/api/v2/jobs/users-exports",
            json!({"format": "csv", "limit": 3, "fields": [{"name": "email", "export_as": "mail"}, {"name": "email_verified"}]}),
        )
        .await;
    assert!(job.get("connection_id").is_none(), "{job}");
    let (_, done) = t.poll(job["id"].as_str().unwrap()).await;
    let r = Client::new().get(done["location"].as_str().unwrap()).send().await.unwrap();
    let mut csv = String::new();
    flate2::read::GzDecoder::new(&r.bytes().await.unwrap()[..]).read_to_string(&mut csv).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows.len(), 4, "{csv}");
    assert_eq!(rows[0], "\"'mail\",\"'email_verified\"");
    assert_eq!(rows[1], format!("\"'user{}@example.com\",false", 0));
}

#[tokio::test]
async fn export_requests_are_checked_like_auth0() {
    let t = T::new(state(1, 0), EmulatorOptions::default()).await;
    for body in [
        json!({"connection_id": "con_db"}),
        json!({"format": "xml"}),
        json!({"limit": 0}),
        json!({"fields": [{"name": "email", "title": "x"}]}),
        json!({"fields": (0..31).map(|i| json!({"name": format!("f{i}")})).collect::<Vec<_>>()}),
        json!({"format": "csv", "fields": [{"name": "app_metadata"}]}),
        json!({"unknown": 1}),
    ] {
        let (s, v) = t.post("/api/v2/jobs/users-exports", body.clone()).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body} → {v}");
        assert_eq!(v["statusCode"], 400);
    }
    let (s, v) = t.post("/api/v2/jobs/users-exports", json!({"connection_id": "con_Nope000000000000"})).await;
    assert_eq!((s, v["message"].clone()), (StatusCode::BAD_REQUEST, json!("The connection does not exist.")));
    let (s, _) = t.get("/api/v2/jobs/job_doesnotexist0000").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // Scopes: exports need read:users, imports create:users.
    let reader = token(&t.http, &t.emu, "reader", "r3ader").await;
    let r =
        t.http.post(t.url("/api/v2/jobs/users-exports")).bearer_auth(&reader).json(&json!({})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // Without `format` the export is CSV.
    let job: Value = r.json().await.unwrap();
    assert_eq!(job["format"], "csv");
    let (_, done) = t.poll(job["id"].as_str().unwrap()).await;
    assert!(done["location"].as_str().unwrap().contains(".csv.gz?"), "{done}");
    let r = t.import(&json!([{"email": "a@example.com"}]), false).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let r = t
        .http
        .post(t.url("/api/v2/jobs/users-imports"))
        .bearer_auth(&reader)
        .multipart(reqwest::multipart::Form::new().text("connection_id", DB_ID))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn export_location_expires_and_needs_its_signature() {
    let options = EmulatorOptions {
        export_url_lifetime: Duration::from_millis(300),
        job_pending_polls: 0,
        clock: Clock::manual(SystemTime::now()),
        ..Default::default()
    };
    let t = T::new(state(3, 0), options).await;
    let (_, job) = t.post("/api/v2/jobs/users-exports", json!({"connection_id": DB_ID, "format": "json"})).await;
    let (seen, done) = t.poll(job["id"].as_str().unwrap()).await;
    assert_eq!(seen, ["completed"]);
    let location = done["location"].as_str().unwrap().to_owned();
    let r = Client::new().get(&location).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let lines = gunzip_lines(&r.bytes().await.unwrap());
    assert_eq!(lines.len(), 3);
    // Default fields include the identities.
    assert_eq!(lines[0]["identities"][0]["connection"], DB);
    let unsigned = location.split('?').next().unwrap();
    assert_eq!(Client::new().get(unsigned).send().await.unwrap().status(), StatusCode::FORBIDDEN);

    t.emu.clock().advance(Duration::from_millis(400));
    let r = Client::new().get(&location).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.text().await.unwrap().contains("Request has expired"));
    let r = Client::new().get(format!("{}/__emulator/exports/job_nothing.json.gz", t.emu.base_url())).send().await;
    assert_eq!(r.unwrap().status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn import_job_lists_bad_users_on_the_errors_endpoint() {
    let t = T::new(state(2, 0), EmulatorOptions::default()).await;
    let hash = format!("$2b$10${}", "a".repeat(53));
    let users = json!([
        {"email": "new1@example.com", "email_verified": true, "given_name": "New"},
        {"email": "not-an-email"},
        {"email": "user0@example.com", "email_verified": true},
        {"email": "plain@example.com", "password": "Secret-123"},
        {"email": "hashed@example.com", "password_hash": hash},
        {"email_verified": true},
    ]);
    let r = t.import(&users, false).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let job: Value = r.json().await.unwrap();
    let id = job["id"].as_str().unwrap().to_owned();
    assert_eq!(
        job,
        json!({"type": "users_import", "status": "pending", "connection_id": DB_ID, "connection": DB,
            "created_at": job["created_at"], "id": id})
    );
    // Errors of a job still running: the job itself, no list yet.
    let (s, v) = t.get(&format!("/api/v2/jobs/{id}/errors")).await;
    assert_eq!((s, v["status"].clone()), (StatusCode::OK, json!("pending")));

    let (_, done) = t.poll(&id).await;
    assert_eq!(done["summary"], json!({"failed": 4, "updated": 0, "inserted": 2, "total": 6}));
    let (s, errors) = t.get(&format!("/api/v2/jobs/{id}/errors")).await;
    assert_eq!(s, StatusCode::OK);
    let errors = errors.as_array().unwrap();
    assert_eq!(errors.len(), 4);
    assert!(errors.contains(&json!({"user": {"email": "user0@example.com", "email_verified": true},
        "errors": [{"code": "DUPLICATED_USER", "message": "The user already exist and upsert parameter is false"}]})));
    let codes: Vec<&str> = errors.iter().map(|e| e["errors"][0]["code"].as_str().unwrap()).collect();
    assert!(codes.contains(&"INVALID_FORMAT"), "{codes:?}");
    assert!(codes.contains(&"OBJECT_ADDITIONAL_PROPERTIES"), "{codes:?}");
    assert!(codes.contains(&"OBJECT_MISSING_REQUIRED_PROPERTY"), "{codes:?}");

    let st = t.emu.state().await;
    let new1 = st.users.iter().find(|u| u.email.as_deref() == Some("new1@example.com")).expect("imported");
    assert!(new1.user_id.starts_with("auth0|"));
    assert!(new1.email_verified);
    assert_eq!(new1.given_name.as_deref(), Some("New"));
    assert!(st.users.iter().any(|u| u.email.as_deref() == Some("hashed@example.com")));
    assert!(!st.users.iter().any(|u| u.email.as_deref() == Some("plain@example.com")));
    // The hash is accepted, never kept.
    assert!(!serde_json::to_string(&st).unwrap().contains("$2b$"));

    // upsert=true updates the existing user instead.
    let r = t.import(&json!([{"email": "user1@example.com", "given_name": "Upd"}]), true).await;
    let id = r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    let (_, done) = t.poll(&id).await;
    assert_eq!(done["summary"], json!({"failed": 0, "updated": 1, "inserted": 0, "total": 1}));
    let (s, _) = t.get(&format!("/api/v2/jobs/{id}/errors")).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn a_third_concurrent_import_is_refused() {
    let options = EmulatorOptions { job_max_pending: Duration::from_secs(600), ..Default::default() };
    let t = T::new(state(0, 0), options).await;
    let mut ids = Vec::new();
    for i in 0..2 {
        let r = t.import(&json!([{"email": format!("c{i}@example.com")}]), false).await;
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        ids.push(r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned());
    }
    let r = t.import(&json!([{"email": "c2@example.com"}]), false).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers().contains_key("x-ratelimit-limit"));
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["errorCode"], "too_many_requests");
    assert_eq!(v["statusCode"], 429);
    // Nothing of the refused file was imported, even later.
    t.poll(&ids[0]).await;
    assert!(!t.emu.state().await.users.iter().any(|u| u.email.as_deref() == Some("c2@example.com")));
    // One finished: room for one more.
    let r = t.import(&json!([{"email": "c2@example.com"}]), false).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
}

#[tokio::test]
async fn a_job_completes_once_max_pending_has_passed_on_the_emulator_clock() {
    let clock = Clock::manual(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
    let options = EmulatorOptions { job_pending_polls: 1000, clock: clock.clone(), ..Default::default() };
    let t = T::new(state(2, 0), options).await;
    let (_, job) = t.post("/api/v2/jobs/users-exports", json!({"connection_id": DB_ID, "format": "json"})).await;
    assert_eq!(job["created_at"], "2023-11-14T22:13:20.000Z", "timestamps come from the clock");
    let path = format!("/api/v2/jobs/{}", job["id"].as_str().unwrap());
    assert_eq!(t.get(&path).await.1["status"], "pending");
    clock.advance(Duration::from_millis(1999));
    assert_eq!(t.get(&path).await.1["status"], "processing");
    // job_max_pending (2 s) has passed: completed without the 1000 polls.
    clock.advance(Duration::from_millis(1));
    let (_, done) = t.get(&path).await;
    assert_eq!(done["status"], "completed");
    assert!(done["location"].is_string(), "{done}");
}

#[tokio::test]
async fn import_files_are_limited_and_checked() {
    let t = T::new(state(0, 0), EmulatorOptions::default()).await;
    // About 600 KB of valid users: 413, like Auth0's 512000-byte payload limit.
    let big: Vec<Value> = (0..6000)
        .map(|i| json!({"email": format!("someone{i:06}@example.com"), "given_name": "x".repeat(40)}))
        .collect();
    let r = t.import(&json!(big), false).await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["message"], "Payload content length greater than maximum allowed: 512000");
    // Just under the limit passes.
    let r = t.import(&json!(big[..4000]), false).await;
    assert_eq!(r.status(), StatusCode::ACCEPTED, "{:?}", r.text().await);

    let r = t.import_bytes(b"".to_vec(), false).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = t.import_bytes(b"{not json".to_vec(), false).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // Not multipart.
    let (s, _) = t.post("/api/v2/jobs/users-imports", json!({"users": []})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    // A social connection cannot take imports; a malformed id is a 400 too.
    for id in [SOCIAL_ID, "con_db"] {
        let form = reqwest::multipart::Form::new()
            .text("connection_id", id)
            .part("users", reqwest::multipart::Part::bytes(b"[{\"email\":\"a@b.co\"}]".to_vec()).file_name("u.json"));
        let r = t.http.post(t.url("/api/v2/jobs/users-imports")).bearer_auth(&t.token).multipart(form).send().await;
        assert_eq!(r.unwrap().status(), StatusCode::BAD_REQUEST);
    }
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

#[tokio::test]
async fn token_bucket_allows_the_burst_then_the_refill() {
    let t = T::new(state(1, 0), EmulatorOptions::default()).await;
    let limit = RateLimit { burst: 5, per_second: 2.0 };
    t.emu.set_rate_limit(Some(limit));
    let started = Instant::now();
    let mut allowed = 0u64;
    let mut refused = 0u64;
    let mut remaining_seen = Vec::new();
    for _ in 0..30 {
        let r = t.http.get(t.url("/api/v2/users/auth0%7C000000000000000000000000")).bearer_auth(&t.token).send().await;
        let r = r.unwrap();
        assert_eq!(r.headers()["x-ratelimit-limit"], "5");
        let remaining: u32 = r.headers()["x-ratelimit-remaining"].to_str().unwrap().parse().unwrap();
        let reset: u64 = r.headers()["x-ratelimit-reset"].to_str().unwrap().parse().unwrap();
        assert!(reset + 1 >= unix_now(), "reset {reset} is in the past");
        match r.status() {
            StatusCode::OK => {
                allowed += 1;
                remaining_seen.push(remaining);
            }
            StatusCode::TOO_MANY_REQUESTS => {
                refused += 1;
                assert_eq!(remaining, 0);
                assert!(reset >= unix_now(), "a refused request's reset is when a token comes back");
                let v: Value = r.json().await.unwrap();
                assert_eq!(v["message"], "Global limit has been reached");
            }
            other => panic!("unexpected {other}"),
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    // The bucket's arithmetic: at least the burst, at most burst + refill over the run.
    assert!(allowed >= 5, "allowed {allowed}");
    assert!(allowed as f64 <= 5.0 + elapsed * 2.0 + 1.0, "allowed {allowed} in {elapsed}s");
    assert_eq!(allowed + refused, 30);
    // The burst drains one by one (a refill may slow the count down, never speed it up).
    assert_eq!(remaining_seen[0], 4);
    assert!(remaining_seen.windows(2).take(4).all(|w| w[1] <= w[0]), "{remaining_seen:?}");
    let status = t.emu.status_counts();
    assert_eq!(status.get("429"), Some(&refused));
}

async fn statuses(seed: u64) -> (Vec<u16>, usize) {
    let options = EmulatorOptions { faults: Some(Faults { rate_429: 0.2, rate_503: 0.1, seed }), ..Default::default() };
    let t = T::new(state(1, 0), options).await;
    let mut out = Vec::new();
    let mut retry_after = 0;
    for _ in 0..60 {
        let r = t.http.get(t.url("/api/v2/roles")).bearer_auth(&t.token).send().await.unwrap();
        out.push(r.status().as_u16());
        if r.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(r.headers().contains_key("x-ratelimit-reset"));
            assert_eq!(r.headers()["x-ratelimit-remaining"], "0");
            retry_after += usize::from(r.headers().contains_key("retry-after"));
        }
        if r.status() == StatusCode::SERVICE_UNAVAILABLE {
            let v: Value = r.json().await.unwrap();
            assert_eq!((v["statusCode"].clone(), v["error"].clone()), (json!(503), json!("Service Unavailable")));
        }
    }
    (out, retry_after)
}

#[tokio::test]
async fn faults_follow_the_seed() {
    let (a, retry_a) = statuses(42).await;
    let (b, retry_b) = statuses(42).await;
    assert_eq!(a, b, "same seed, same sequence");
    assert_eq!(retry_a, retry_b);
    let n429 = a.iter().filter(|s| **s == 429).count();
    let n503 = a.iter().filter(|s| **s == 503).count();
    assert!(n429 > 0 && n503 > 0, "{a:?}");
    assert_eq!(n429 + n503 + a.iter().filter(|s| **s == 200).count(), 60);
    assert!(retry_a > 0, "some 429s carry Retry-After");
    let (c, _) = statuses(7).await;
    assert_ne!(a, c, "another seed, another sequence");
}

#[tokio::test]
async fn a_faulted_write_is_not_applied() {
    let options =
        EmulatorOptions { faults: Some(Faults { rate_429: 0.25, rate_503: 0.25, seed: 3 }), ..Default::default() };
    let t = T::new(state(0, 0), options).await;
    let (mut created, mut faulted) = (0, 0);
    for i in 0..20 {
        let email = format!("w{i}@example.com");
        let r = t
            .http
            .post(t.url("/api/v2/users"))
            .bearer_auth(&t.token)
            .json(&json!({"connection": DB, "email": email, "password": "Str0ng-enough!"}))
            .send()
            .await
            .unwrap();
        let exists = t.emu.state().await.users.iter().any(|u| u.email.as_deref() == Some(email.as_str()));
        match r.status() {
            StatusCode::CREATED => {
                created += 1;
                assert!(exists);
            }
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
                faulted += 1;
                assert!(!exists, "a faulted POST created {email}");
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(created > 0 && faulted > 0, "created {created}, faulted {faulted}");
}

#[tokio::test]
async fn stats_count_routes_and_statuses_and_land_in_the_counts_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("counts.json");
    let options = EmulatorOptions { counts_file: Some(file.clone()), ..Default::default() };
    let t = T::new(state(2, 0), options).await;
    for _ in 0..3 {
        t.get("/api/v2/users").await;
    }
    t.get("/api/v2/users/auth0%7Cnobody").await;
    let r = Client::new().get(t.url("/__emulator/stats")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let stats: Value = r.json().await.unwrap();
    assert_eq!(
        stats,
        json!({
            "routes": {"POST /oauth/token": 1, "GET /api/v2/users": 3, "GET /api/v2/users/{id}": 1},
            "status": {"200": 4, "404": 1},
            "total": 5,
        })
    );
    // Reading the stats does not count.
    let again: Value = Client::new().get(t.url("/__emulator/stats")).send().await.unwrap().json().await.unwrap();
    assert_eq!(again, stats);
    assert_eq!(t.emu.stats(), stats);
    t.emu.shutdown().await.unwrap();
    let written: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(written, stats);
}

#[tokio::test]
async fn latency_is_applied_to_each_request() {
    let options = EmulatorOptions { latency_ms: 40, ..Default::default() };
    let t = T::new(state(1, 0), options).await;
    let started = Instant::now();
    let (s, _) = t.get("/api/v2/users").await;
    assert_eq!(s, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(40));
}

#[tokio::test]
async fn the_token_endpoint_draws_from_the_same_bucket() {
    let options = EmulatorOptions { rate_limit: Some(RateLimit { burst: 1, per_second: 0.01 }), ..Default::default() };
    let emu = start(state(0, 0), options).await;
    let http = Client::new();
    let ask = || {
        http.post(format!("{}/oauth/token", emu.base_url())).json(&json!({
            "grant_type": "client_credentials", "client_id": "sync", "client_secret": "s3cret",
            "audience": format!("{}/api/v2/", emu.base_url()),
        }))
    };
    let r = ask().send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = ask().send().await.unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers()["x-ratelimit-remaining"], "0");
    let reset: u64 = r.headers()["x-ratelimit-reset"].to_str().unwrap().parse().unwrap();
    // 0.01 tokens a second: the next one is tens of seconds away.
    assert!(reset >= unix_now() + 10, "reset {reset}");
    assert_eq!(r.json::<Value>().await.unwrap()["errorCode"], "too_many_requests");
}

#[tokio::test]
async fn serve_until_with_writes_the_counts_file_on_stop() {
    use auth0_emulator::serve_until_with;
    let dir = tempfile::tempdir().unwrap();
    let state_path = dir.path().join("tenant.json");
    state(1, 0).save(&state_path).unwrap();
    let counts = dir.path().join("counts.json");
    let options = EmulatorOptions { counts_file: Some(counts.clone()), ..Default::default() };
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let mut out = Vec::new();
    let (served, ()) = tokio::join!(
        serve_until_with(&state_path, "127.0.0.1:0".parse().unwrap(), options, &mut out, async {
            let _ = rx.await;
        }),
        async {
            // Stop at once: nothing was served, so every count is empty.
            let _ = tx.send(());
        }
    );
    served.expect("serves and stops");
    let written: Value = serde_json::from_slice(&std::fs::read(&counts).unwrap()).unwrap();
    assert_eq!(written, json!({"routes": {}, "status": {}, "total": 0}));
    assert!(String::from_utf8(out).unwrap().starts_with("listening on http://127.0.0.1:"));
}

#[tokio::test]
async fn faults_can_be_switched_at_run_time() {
    let t = T::new(state(1, 0), EmulatorOptions::default()).await;
    t.emu.set_faults(Some(Faults { rate_429: 0.0, rate_503: 1.0, seed: 1 }));
    assert_eq!(t.get("/api/v2/users").await.0, StatusCode::SERVICE_UNAVAILABLE);
    t.emu.set_faults(None);
    assert_eq!(t.get("/api/v2/users").await.0, StatusCode::OK);
    assert_eq!(t.emu.status_counts().get("503"), Some(&1));
}
