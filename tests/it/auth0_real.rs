//! The tool against Auth0 as it really is (issue #11): each emulator knob that models
//! a documented or plausible behaviour (multi-member exports, `Content-Encoding`,
//! linked accounts, a lagging search index, jobs that take minutes with expiring
//! links, role batches with one bad user), with the tool run under it.

use crate::common::{Admin, CONNECTION, Env, demo_state, run, text};
use auth0_emulator::state::{StateIdentity, StateUser};
use auth0_emulator::{Clock, Emulator, EmulatorOptions, RoleBatch, TenantState};
use auth0_sync::auth0::{Auth0Client, Auth0Error, JobPolling};
use auth0_sync::model::{Profile, TenantSnapshot};
use auth0_sync::settings::{Auth0Settings, TenantArgs};
use std::time::{Duration, UNIX_EPOCH};

const HR: &[u8] = include_bytes!("../../examples/demo/hr.sqlite");

/// The demo tenant plus `extra` generated users of the database connection.
fn state_with(extra: usize) -> TenantState {
    let mut s = demo_state();
    for i in 0..extra {
        s.users.push(StateUser {
            user_id: format!("auth0|{i:024x}"),
            email: Some(format!("gen{i:05}@acme.example")),
            connection: CONNECTION.into(),
            roles: vec![["rol_DemoViewer000001", "rol_DemoEditor000001"][i % 2].into()],
            ..Default::default()
        });
    }
    s
}

/// A social primary with a linked login in the database connection (Auth0's shape).
fn linked_user() -> StateUser {
    StateUser {
        user_id: "google-oauth2|115015401343387192604".into(),
        email: Some("linda@acme.example".into()),
        connection: "google-oauth2".into(),
        identities: vec![
            StateIdentity {
                connection: "google-oauth2".into(),
                user_id: "115015401343387192604".into(),
                ..Default::default()
            },
            StateIdentity {
                connection: CONNECTION.into(),
                user_id: "560ebaeef609ee1adaa7c551".into(),
                provider: Some("auth0".into()),
                profile_data: serde_json::json!({"email": "linda@acme.example", "email_verified": true}),
            },
        ],
        ..Default::default()
    }
}

fn database_users(state: &TenantState) -> usize {
    state.users.iter().filter(|u| u.connection == CONNECTION).count()
}

fn snapshot_users(s: &TenantSnapshot) -> usize {
    s.users.values().filter(|u| u.connection == CONNECTION && u.linked_to.is_none()).count()
}

fn settings_for(emulator: &Emulator) -> Auth0Settings {
    let app = demo_state().clients[0].clone();
    let args = TenantArgs {
        auth0_url: Some(emulator.base_url()),
        auth0_client_id: Some(app.client_id),
        auth0_client_secret: Some(app.client_secret),
        ..Default::default()
    };
    args.auth0().unwrap()
}

async fn client_for(emulator: &Emulator) -> Auth0Client {
    Auth0Client::connect(&settings_for(emulator)).await.unwrap()
}

async fn start(state: TenantState, options: EmulatorOptions) -> Emulator {
    Emulator::start_with("127.0.0.1:0".parse().unwrap(), state, None, options).await.unwrap()
}

fn manual_clock() -> Clock {
    Clock::manual(UNIX_EPOCH + Duration::from_secs(1_767_225_600))
}

// ---------------------------------------------------------------- export files

#[tokio::test(flavor = "multi_thread")]
async fn multi_member_gzip_exports_are_read_whole() {
    let state = state_with(1300);
    let want = database_users(&state);
    let emulator = start(state, EmulatorOptions { export_gzip_members: 4, ..Default::default() }).await;
    let snap = client_for(&emulator).await.snapshot(CONNECTION).await.unwrap();
    assert_eq!(snapshot_users(&snap), want, "every member of the file was read");
    assert_eq!(emulator.request_counts().get("POST /api/v2/jobs/users-exports"), Some(&1));
}

#[tokio::test(flavor = "multi_thread")]
async fn exports_served_with_content_encoding_gzip_are_read() {
    let state = state_with(1200);
    let want = database_users(&state);
    let options = EmulatorOptions { export_content_encoding: true, export_gzip_members: 2, ..Default::default() };
    let emulator = start(state, options).await;
    let snap = client_for(&emulator).await.snapshot(CONNECTION).await.unwrap();
    assert_eq!(snapshot_users(&snap), want);
}

/// Users deleted a moment ago are still counted by the lagging search; an export that
/// reads the tenant as it is holds fewer. Past the allowance that is no plan at all.
#[tokio::test(flavor = "multi_thread")]
async fn an_export_short_of_the_search_count_is_an_error_not_a_plan() {
    let clock = manual_clock();
    let options = EmulatorOptions {
        clock: clock.clone(),
        index_lag: Duration::from_secs(30),
        export_from_index: false,
        ..Default::default()
    };
    let env = Env::with_options(state_with(1300), HR, options).await;
    let admin = Admin::new(&env).await;
    for i in 0..100 {
        let status =
            admin.send(reqwest::Method::DELETE, &format!("users/auth0%7C{i:024x}"), serde_json::json!({})).await;
        assert_eq!(status, 204);
    }
    let plan = env.path("p.json");
    let mut c = env.cmd();
    c.args(["plan", "--allow-mass-delete", "--out"]).arg(&plan);
    let out = run(c).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(err.contains("incomplete_snapshot") && err.contains("1208") && err.contains("1308"), "{err}");
    assert!(!plan.exists(), "no plan file");
    // Once the index caught up, the counts agree and the plan is made.
    clock.advance(Duration::from_secs(31));
    let mut c = env.cmd();
    c.args(["plan", "--allow-mass-delete", "--out"]).arg(&plan);
    let out = run(c).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
}

// ---------------------------------------------------------------- linked accounts

/// A source that lists the email of a database login linked under a Google primary:
/// a warning, not a create (which Auth0 would answer 409 on every run).
#[tokio::test(flavor = "multi_thread")]
async fn a_source_email_linked_under_a_social_primary_is_a_warning() {
    let mut state = demo_state();
    state.users.push(linked_user());
    let env = Env::with(state, HR).await;
    rusqlite::Connection::open(&env.db)
        .unwrap()
        .execute("INSERT INTO employees (email, role, active) VALUES ('linda@acme.example', 'viewer', 1)", [])
        .unwrap();
    let plan = env.path("p.json");
    let mut c = env.cmd();
    c.args(["plan", "--out"]).arg(&plan);
    let out = run(c).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let p: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&plan).unwrap()).unwrap();
    let text_of = p.to_string();
    let creates: Vec<&str> = p["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"] == "create_user")
        .map(|c| c["user"]["email"].as_str().unwrap())
        .collect();
    assert!(!creates.contains(&"linda@acme.example"), "{creates:?}");
    let warning = p["warnings"].as_array().unwrap().iter().find(|w| w["kind"] == "linked_account");
    let warning = warning.unwrap_or_else(|| panic!("no linked_account warning: {text_of}"));
    assert!(warning["message"].as_str().unwrap().contains("linked to google-oauth2|115015401343387192604"));
    // And Auth0 (the emulator) would have refused the create: the email is taken there.
    let client = client_for(&env.emulator).await;
    let err = client
        .create_user(CONNECTION, "linda@acme.example", &Profile::default(), &auth0_sync::auth0::password::generate())
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(409));
    let found = client.find_by_email_in("linda@acme.example", CONNECTION).await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].linked_to.as_deref(), Some("google-oauth2|115015401343387192604"));
}

/// Past the paging cap the export (by primary connection) leaves the linked user out;
/// the search for linked accounts brings it back, marked.
#[tokio::test(flavor = "multi_thread")]
async fn linked_accounts_are_seen_on_the_export_path_too() {
    let mut state = state_with(1100);
    state.users.push(linked_user());
    let want = database_users(&state);
    let emulator = start(state, EmulatorOptions::default()).await;
    let snap = client_for(&emulator).await.snapshot(CONNECTION).await.unwrap();
    assert_eq!(snapshot_users(&snap), want);
    let linked = &snap.users["google-oauth2|115015401343387192604"];
    assert_eq!(linked.connection, "google-oauth2");
    assert_eq!(linked.linked_to.as_deref(), Some("google-oauth2|115015401343387192604"));
    assert_eq!(linked.email.as_deref(), Some("linda@acme.example"));
    assert_eq!(emulator.request_counts().get("POST /api/v2/jobs/users-exports"), Some(&1));
}

// ---------------------------------------------------------------- search lag

#[tokio::test(flavor = "multi_thread")]
async fn lookups_by_id_and_email_are_immediate_while_search_lags() {
    let clock = manual_clock();
    let options = EmulatorOptions { clock: clock.clone(), index_lag: Duration::from_secs(10), ..Default::default() };
    let emulator = start(demo_state(), options).await;
    let client = client_for(&emulator).await;
    let id = client
        .create_user(CONNECTION, "new@acme.example", &Profile::default(), &auth0_sync::auth0::password::generate())
        .await
        .unwrap();
    let found = client.find_by_email("new@acme.example").await.unwrap();
    assert_eq!(found.iter().map(|u| u.user_id.as_str()).collect::<Vec<_>>(), [id.as_str()]);
    assert!(client.user_with_roles(&id).await.unwrap().is_some());
    let snap = client.snapshot(CONNECTION).await.unwrap();
    assert!(!snap.users.contains_key(&id), "the search does not see it yet");
    client.delete_user("auth0|64a0000000000000000000a1").await.unwrap();
    assert!(client.user_with_roles("auth0|64a0000000000000000000a1").await.unwrap().is_none(), "404: gone");
    assert!(client.snapshot(CONNECTION).await.unwrap().users.contains_key("auth0|64a0000000000000000000a1"));
    clock.advance(Duration::from_secs(11));
    let snap = client.snapshot(CONNECTION).await.unwrap();
    assert!(snap.users.contains_key(&id) && !snap.users.contains_key("auth0|64a0000000000000000000a1"));
}

/// Plan, apply, and plan again at once: the second plan is made from a stale index
/// (it creates the new users again and deletes the gone ones again). Applying it must
/// still converge with nobody created twice.
#[tokio::test(flavor = "multi_thread")]
async fn a_plan_from_a_lagging_index_converges_without_duplicates() {
    let clock = manual_clock();
    let options = EmulatorOptions { clock: clock.clone(), index_lag: Duration::from_secs(60), ..Default::default() };
    let env = Env::with_options(demo_state(), HR, options).await;
    for name in ["p1.json", "p2.json"] {
        let plan = env.path(name);
        let mut c = env.cmd();
        c.args(["plan", "--out"]).arg(&plan);
        let out = run(c).await;
        assert!(out.status.success(), "{}", text(&out.stderr));
        let mut c = env.cmd();
        c.args(["apply", "--format", "json"]).arg(&plan);
        let out = run(c).await;
        assert!(out.status.success(), "{name}: {}\n{}", text(&out.stdout), text(&out.stderr));
        let (outcomes, _) = crate::common::apply_outcomes(&out);
        let creates: Vec<&str> =
            outcomes.iter().filter(|o| o["action"] == "create_user").map(|o| o["status"].as_str().unwrap()).collect();
        assert!(!creates.is_empty(), "{name}");
        if name == "p2.json" {
            // The users exist (the stale plan did not know): Auth0 answers 409, apply finds
            // each by email and takes it over; none is reported created.
            assert!(creates.iter().all(|s| *s == "adopted"), "{name}: {creates:?}");
        } else {
            assert!(creates.iter().all(|s| *s == "done"), "{name}: {creates:?}");
        }
    }
    let state = env.emulator.state().await;
    let mut emails: Vec<&str> =
        state.users.iter().filter(|u| u.connection == CONNECTION).filter_map(|u| u.email.as_deref()).collect();
    let n = emails.len();
    emails.sort_unstable();
    emails.dedup();
    assert_eq!(emails.len(), n, "an email twice: {emails:?}");
    clock.advance(Duration::from_secs(61));
    let mut c = env.cmd();
    c.args(["plan", "--detailed-exitcode", "--out"]).arg(env.path("p3.json"));
    let out = run(c).await;
    assert_eq!(out.status.code(), Some(0), "converged: {}", text(&out.stdout));
}

// ---------------------------------------------------------------- slow jobs

/// Moves a manual clock `step` every millisecond until dropped.
struct Ticker(tokio::task::JoinHandle<()>);

impl Ticker {
    fn start(clock: Clock, step: Duration) -> Ticker {
        Ticker(tokio::spawn(async move {
            loop {
                clock.advance(step);
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }))
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.0.abort();
    }
}

const FAST_POLLS: JobPolling = JobPolling { floor: Duration::from_millis(1), cap: Duration::from_millis(5) };

#[tokio::test(flavor = "multi_thread")]
async fn a_job_that_takes_minutes_is_waited_for_following_time_left() {
    let clock = manual_clock();
    let options = EmulatorOptions {
        clock: clock.clone(),
        job_duration: Duration::from_secs(300),
        export_url_lifetime: Duration::from_secs(60),
        ..Default::default()
    };
    let state = state_with(1100);
    let want = database_users(&state);
    let emulator = start(state, options).await;
    let client = client_for(&emulator).await.with_job_polling(FAST_POLLS);
    let _ticker = Ticker::start(clock.clone(), Duration::from_secs(2));
    let started = clock.now();
    let snap = client.snapshot(CONNECTION).await.unwrap();
    assert_eq!(snapshot_users(&snap), want);
    let waited = clock.now().duration_since(started).unwrap();
    assert!(waited >= Duration::from_secs(300), "the export took its 5 minutes: {waited:?}");
    let polls = emulator.request_counts().get("GET /api/v2/jobs/{id}").copied().unwrap_or(0);
    assert!(polls >= 2, "{polls}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_past_the_ceiling_is_a_job_timeout() {
    let options =
        EmulatorOptions { clock: manual_clock(), job_duration: Duration::from_secs(7200), ..Default::default() };
    let emulator = start(state_with(1100), options).await;
    let mut settings = settings_for(&emulator);
    settings.job_timeout = Duration::from_millis(300);
    let client = Auth0Client::connect(&settings).await.unwrap().with_job_polling(FAST_POLLS);
    match client.snapshot(CONNECTION).await.unwrap_err() {
        Auth0Error::JobTimeout { kind, waited, .. } => {
            assert_eq!(kind, "users export");
            assert_eq!(waited, "300 ms");
        }
        other => panic!("expected JobTimeout, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn ctrl_c_cuts_a_job_wait_and_nothing_more_is_sent() {
    let options =
        EmulatorOptions { clock: manual_clock(), job_duration: Duration::from_secs(7200), ..Default::default() };
    let emulator = start(state_with(1100), options).await;
    let cancel = tokio_util::sync::CancellationToken::new();
    let client = client_for(&emulator).await.with_cancel(cancel.clone());
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(150)).await;
        trigger.cancel();
    });
    let err = client.snapshot(CONNECTION).await.unwrap_err();
    assert!(matches!(err, Auth0Error::Cancelled { ref path, .. } if path.starts_with("/api/v2/jobs/")), "{err:?}");
    let before: u64 = emulator.request_counts().values().sum();
    let err = client.delete_user("auth0|1").await.unwrap_err();
    assert!(matches!(err, Auth0Error::Cancelled { .. }), "{err:?}");
    assert_eq!(emulator.request_counts().values().sum::<u64>(), before, "nothing sent once cancelled");
}

/// Each `GET /jobs/{id}` of a completed export hands out a fresh link; an old one
/// expires after its lifetime (Auth0: 60 s).
#[tokio::test(flavor = "multi_thread")]
async fn export_links_expire_and_every_job_poll_gives_a_fresh_one() {
    let clock = manual_clock();
    let emulator = start(demo_state(), EmulatorOptions { clock: clock.clone(), ..Default::default() }).await;
    let app = demo_state().clients[0].clone();
    let http = reqwest::Client::new();
    let base = emulator.base_url();
    let token = crate::common::access_token(&http, &base, &app.client_id, &app.client_secret).await;
    let job: serde_json::Value = http
        .post(format!("{base}/api/v2/jobs/users-exports"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"connection_id": "con_DemoDatabase0001", "format": "json"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = job["id"].as_str().unwrap();
    let poll = || async {
        let v: serde_json::Value = http
            .get(format!("{base}/api/v2/jobs/{id}"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v
    };
    assert_eq!(poll().await["status"], "pending");
    let first = poll().await["location"].as_str().unwrap().to_owned();
    assert_eq!(http.get(&first).send().await.unwrap().status(), 200);
    clock.advance(Duration::from_secs(61));
    assert_eq!(http.get(&first).send().await.unwrap().status(), 403, "expired");
    let second = poll().await["location"].as_str().unwrap().to_owned();
    assert_ne!(second, first);
    assert_eq!(http.get(&second).send().await.unwrap().status(), 200);
}

// ---------------------------------------------------------------- role batches

async fn batch_with_a_deleted_user(reading: RoleBatch) -> (Result<(), Auth0Error>, TenantState) {
    let emulator = start(demo_state(), EmulatorOptions { role_batch: reading, ..Default::default() }).await;
    let client = client_for(&emulator).await;
    let users = ["auth0|64a0000000000000000000b2".to_owned(), "auth0|deleted-since-the-plan".to_owned()];
    let result = client.assign_users_to_role("rol_DemoBilling00001", &users).await;
    (result, emulator.state().await)
}

fn has_billing(state: &TenantState, id: &str) -> bool {
    state.users.iter().any(|u| u.user_id == id && u.roles.iter().any(|r| r == "rol_DemoBilling00001"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_role_batch_with_a_deleted_user_is_refused_whole_or_partly_done() {
    let (result, state) = batch_with_a_deleted_user(RoleBatch::RejectAll).await;
    let err = result.unwrap_err();
    assert_eq!((err.status(), err.error_code()), (Some(404), Some("inexistent_user")), "{err:?}");
    assert!(!has_billing(&state, "auth0|64a0000000000000000000b2"), "nobody assigned");
    let (result, state) = batch_with_a_deleted_user(RoleBatch::Partial).await;
    result.unwrap();
    assert!(has_billing(&state, "auth0|64a0000000000000000000b2"), "the good user assigned");
}

/// A role batch refused because one member is at Auth0's 50 roles: apply falls back to
/// per-user calls, so only that user's change fails and the others are done.
#[tokio::test(flavor = "multi_thread")]
async fn a_user_at_fifty_roles_fails_only_its_own_role_change() {
    for reading in [RoleBatch::RejectAll, RoleBatch::Partial] {
        let mut state = demo_state();
        // Bob holds 49 roles the tool does not manage, plus viewer: 50, Auth0's limit.
        for i in 0..49 {
            let id = format!("rol_Unmanaged{i:07}");
            state.roles.push(auth0_emulator::state::StateRole {
                id: id.clone(),
                name: format!("team-{i}"),
                description: String::new(),
            });
            let bob = state.users.iter_mut().find(|u| u.email.as_deref() == Some("bob@acme.example")).unwrap();
            bob.roles.push(id);
        }
        let options = EmulatorOptions { role_batch: reading, ..Default::default() };
        let env = Env::with_options(state, HR, options).await;
        let plan = env.path("p.json");
        let mut c = env.cmd();
        c.env("AUTH0_MANAGED_ROLES", "admin,editor,viewer,billing").args(["plan", "--out"]).arg(&plan);
        let out = run(c).await;
        assert!(out.status.success(), "{}", text(&out.stderr));
        let mut c = env.cmd();
        c.env("AUTH0_MANAGED_ROLES", "admin,editor,viewer,billing").args(["apply", "--format", "json"]).arg(&plan);
        let out = run(c).await;
        let (all, failed) = crate::common::apply_outcomes(&out);
        let emails: Vec<&str> = failed.iter().filter_map(|f| f["email"].as_str()).collect();
        assert_eq!(emails, ["bob@acme.example"], "{reading:?}: {}", text(&out.stdout));
        assert!(all.len() > 1 && all.iter().filter(|o| o["status"] == "done").count() == all.len() - 1, "{all:?}");
        let state = env.emulator.state().await;
        let billing = |email: &str| {
            state
                .users
                .iter()
                .any(|u| u.email.as_deref() == Some(email) && u.roles.iter().any(|r| r == "rol_DemoBilling00001"))
        };
        assert!(!billing("bob@acme.example"), "{reading:?}");
    }
}
