//! Resume from any point: the emulator halts an apply at its Nth write — before
//! performing it, or after performing it but before answering — for every N of a
//! small mixed plan (creates with roles, a created role, role updates both ways,
//! an unblock, blocks or deletes); the process is SIGKILLed there, and the same
//! apply run again must converge: the tenant is the plan's "after", nobody is
//! created twice, no change is lost, and none of the plan's own changes is refused
//! as drift. With `--invite ticket`, each created user also receives exactly one
//! ticket whatever the kill point. A second sweep does the same for a keyed plan
//! (#13: renames in a chain, an adoption, profile and metadata updates, an unblock
//! that keeps the namespace). Property tests do the same in-process over random
//! plans and stop points, with and without HR keys.

use crate::common::{CONNECTION, Env, run, text};
use auth0_emulator::state::{StateRole, StateUser};
use auth0_emulator::{EmulatorOptions, Halt, TenantState};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

const ROLES: [(&str, &str); 3] =
    [("rol_Admin00000000001", "admin"), ("rol_Editor0000000001", "editor"), ("rol_Viewer0000000001", "viewer")];

fn role_id(name: &str) -> String {
    ROLES.iter().find(|(_, n)| *n == name).map(|(id, _)| (*id).to_owned()).expect("a known role")
}

fn tenant_user(n: u32, email: &str, roles: &[&str], blocked_by_sync: bool) -> StateUser {
    StateUser {
        user_id: format!("auth0|{n:024x}"),
        email: Some(email.into()),
        email_verified: true,
        connection: CONNECTION.into(),
        blocked: blocked_by_sync,
        roles: roles.iter().map(|r| role_id(r)).collect(),
        app_metadata: if blocked_by_sync {
            serde_json::json!({"auth0_sync": {"blocked": true}})
        } else {
            serde_json::Value::Null
        },
        ..StateUser::default()
    }
}

/// Seven users: one unchanged, three role updates (swap, grow, shrink), one the tool
/// blocked earlier who is back, and two who left.
fn tenant() -> TenantState {
    let mut state = crate::common::demo_state();
    state.roles = ROLES
        .iter()
        .map(|(id, name)| StateRole { id: (*id).into(), name: (*name).into(), description: String::new() })
        .collect();
    state.connections.retain(|c| c.name == CONNECTION);
    state.users = vec![
        tenant_user(1, "keep@acme.example", &["viewer"], false),
        tenant_user(2, "swap@acme.example", &["viewer"], false),
        tenant_user(3, "grow@acme.example", &["viewer"], false),
        tenant_user(4, "shrink@acme.example", &["admin", "editor"], false),
        tenant_user(5, "back@acme.example", &["viewer"], true),
        tenant_user(6, "gone1@acme.example", &["editor"], false),
        tenant_user(7, "gone2@acme.example", &["viewer"], false),
    ];
    state
}

/// The HR table: the kept users, three joiners (one with a role the tenant lacks).
fn hr_db(dir: &Path) -> Vec<u8> {
    let path = dir.join("build-hr.sqlite");
    let db = rusqlite::Connection::open(&path).unwrap();
    db.execute_batch(
        "CREATE TABLE employees (employee_id TEXT, email TEXT, role TEXT, name TEXT, given_name TEXT, family_name TEXT, department TEXT, active INTEGER);
         INSERT INTO employees VALUES
           (NULL, 'keep@acme.example', 'viewer', NULL, NULL, NULL, NULL, 1),
           (NULL, 'swap@acme.example', 'editor', NULL, NULL, NULL, NULL, 1),
           (NULL, 'grow@acme.example', 'viewer', NULL, NULL, NULL, NULL, 1),
           (NULL, 'grow@acme.example', 'admin', NULL, NULL, NULL, NULL, 1),
           (NULL, 'shrink@acme.example', 'editor', NULL, NULL, NULL, NULL, 1),
           (NULL, 'back@acme.example', 'viewer', NULL, NULL, NULL, NULL, 1),
           (NULL, 'new1@acme.example', 'editor', 'New One', 'New', 'One', NULL, 1),
           (NULL, 'new1@acme.example', 'auditor', 'New One', 'New', 'One', NULL, 1),
           (NULL, 'new2@acme.example', NULL, NULL, NULL, NULL, NULL, 1),
           (NULL, 'new3@acme.example', 'viewer', NULL, NULL, NULL, NULL, 1);",
    )
    .unwrap();
    drop(db);
    std::fs::read(&path).unwrap()
}

/// What the tenant's connection holds: email → (role names, blocked).
fn holdings(state: &TenantState) -> BTreeMap<String, (Vec<String>, bool)> {
    let names: BTreeMap<&str, &str> = state.roles.iter().map(|r| (r.id.as_str(), r.name.as_str())).collect();
    let mut out = BTreeMap::new();
    for u in state.users.iter().filter(|u| u.connection == CONNECTION) {
        let mut roles: Vec<String> =
            u.roles.iter().map(|r| names.get(r.as_str()).unwrap_or(&"?").to_string()).collect();
        roles.sort();
        let email = u.email.clone().unwrap_or_default();
        assert!(out.insert(email.clone(), (roles, u.blocked)).is_none(), "{email} exists twice");
    }
    out
}

struct Scenario {
    env: Env,
    on_missing: &'static str,
    plan_text: String,
    /// The tenant after a clean apply.
    want: BTreeMap<String, (Vec<String>, bool)>,
    /// Write requests of a clean apply.
    writes: u64,
}

async fn fresh_env(db: &[u8]) -> Env {
    Env::with_options(tenant(), db, EmulatorOptions::default()).await
}

async fn scenario(on_missing: &'static str, db: &[u8]) -> Scenario {
    scenario_with(fresh_env(db).await, on_missing, &[]).await
}

/// [`scenario`] in `env`, every apply run with these extra settings.
async fn scenario_with(env: Env, on_missing: &'static str, vars: &[(String, String)]) -> Scenario {
    let plan = env.path("plan.json");
    let mut c = env.cmd();
    c.args(["plan", "--create-missing-roles", "--on-missing", on_missing, "--out"]).arg(&plan);
    let out = run(c).await;
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
    let plan_text = std::fs::read_to_string(&plan).unwrap();
    env.emulator.set_halt(None);
    let mut c = env.cmd();
    c.args(["apply", "--concurrency", "1"]).arg(&plan).envs(vars.iter().cloned());
    let out = run(c).await;
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
    let writes = env.emulator.writes_seen();
    let want = holdings(&env.emulator.state().await);
    Scenario { env, on_missing, plan_text, want, writes }
}

/// Runs `apply` until the emulator reaches `halt`, SIGKILLs it there; returns whether
/// the halt was reached (false: the apply finished before it).
async fn apply_killed_at(env: &Env, plan: &Path, halt: Halt) -> bool {
    apply_killed_at_with(env, plan, halt, &[]).await
}

/// [`apply_killed_at`] with extra settings.
async fn apply_killed_at_with(env: &Env, plan: &Path, halt: Halt, vars: &[(String, String)]) -> bool {
    apply_killed_with_args(env, plan, halt, &[], vars).await
}

/// [`apply_killed_at_with`] with extra arguments of `apply`.
async fn apply_killed_with_args(env: &Env, plan: &Path, halt: Halt, args: &[&str], vars: &[(String, String)]) -> bool {
    env.emulator.set_halt(Some(halt));
    let mut cmd = env.std_cmd();
    cmd.args(["apply", "--concurrency", "1"]).args(args).arg(plan).envs(vars.iter().cloned());
    cmd.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let halted = tokio::select! {
        _ = env.emulator.halted() => true,
        _ = wait_exit(&mut child) => false,
    };
    let _ = child.kill();
    let _ = tokio::task::spawn_blocking(move || child.wait()).await;
    env.emulator.set_halt(None);
    halted
}

/// The counts of the journal's last summary line.
pub(crate) fn last_summary(plan: &Path) -> serde_json::Value {
    let journal = std::fs::read_to_string(auth0_sync::apply::journal::path_for(plan)).unwrap();
    let mut last = journal
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .rfind(|v| v["type"] == "summary")
        .expect("a summary line");
    let obj = last.as_object_mut().unwrap();
    for k in ["type", "at", "interrupted"] {
        obj.remove(k);
    }
    last
}

async fn wait_exit(child: &mut std::process::Child) {
    loop {
        if child.try_wait().unwrap().is_some() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kill_at_every_write_then_resume_converges() {
    let dir = tempfile::tempdir().unwrap();
    let db = hr_db(dir.path());
    for on_missing in ["delete", "block"] {
        let s = scenario(on_missing, &db).await;
        assert!(s.writes >= 10, "{on_missing}: a mixed plan: {} writes", s.writes);
        assert_eq!(s.want["new1@acme.example"].0, ["auditor", "editor"]);
        let env = &s.env;
        for n in 1..=s.writes {
            for halt in [Halt::BeforeWrite(n), Halt::AfterWrite(n)] {
                env.emulator.reset(tenant()).unwrap();
                let plan = env.path(&format!("plan-{n}-{}.json", matches!(halt, Halt::AfterWrite(_))));
                std::fs::write(&plan, &s.plan_text).unwrap();
                assert!(apply_killed_at(env, &plan, halt).await, "{on_missing} {halt:?}: never reached");
                let mut c = env.cmd();
                c.args(["apply", "--format", "json"]).arg(&plan);
                // (the same address, a fresh tenant: the plan made for it applies)
                let out = run(c).await;
                let ctx = format!("{} {halt:?}:\n{}\n{}", s.on_missing, text(&out.stdout), text(&out.stderr));
                assert!(out.status.success(), "resume failed: {ctx}");
                let (outcomes, failed) = crate::common::apply_outcomes(&out);
                assert!(failed.is_empty(), "{ctx}");
                assert!(outcomes.iter().all(|o| o["status"] != "skipped" && o["status"] != "not_started"), "{ctx}");
                assert_eq!(holdings(&env.emulator.state().await), s.want, "{ctx}");
                // The report and the journal say the same.
                let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
                assert_eq!(last_summary(&plan), report["summary"], "{ctx}");
                // A role the killed run created is not created again.
                let roles = env.emulator.state().await.roles;
                assert_eq!(roles.iter().filter(|r| r.name == "auditor").count(), 1, "{ctx}");
            }
        }
    }
}

/// `--create-via import` while the search index lags far behind (Auth0's search and
/// exports are eventually consistent): killed after every write N, the resume finds
/// what the import job created by immediate lookups and never imports a user twice.
#[tokio::test(flavor = "multi_thread")]
async fn with_import_jobs_and_a_lagging_index_a_kill_at_every_write_then_resume_converges() {
    let dir = tempfile::tempdir().unwrap();
    let db = hr_db(dir.path());
    let options = EmulatorOptions { index_lag: Duration::from_secs(3600), ..Default::default() };
    let env = Env::with_options(tenant(), &db, options).await;
    let plan = env.path("plan.json");
    let mut c = env.cmd();
    c.args(["plan", "--create-missing-roles", "--on-missing", "delete", "--out"]).arg(&plan);
    let out = run(c).await;
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
    let plan_text = std::fs::read_to_string(&plan).unwrap();
    let apply = |plan: &Path| {
        let mut c = env.std_cmd();
        c.args(["apply", "--concurrency", "1", "--create-via", "import", "--format", "json"]).arg(plan);
        c
    };
    let output = |mut c: std::process::Command| tokio::task::spawn_blocking(move || c.output().unwrap());
    let out = output(apply(&plan)).await.unwrap();
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
    let writes = env.emulator.writes_seen();
    let want = holdings(&env.emulator.state().await);
    assert!(writes >= 5, "{writes} writes");
    for n in 1..=writes {
        for halt in [Halt::BeforeWrite(n), Halt::AfterWrite(n)] {
            env.emulator.reset(tenant()).unwrap();
            let plan = env.path(&format!("import-{n}-{}.json", matches!(halt, Halt::AfterWrite(_))));
            std::fs::write(&plan, &plan_text).unwrap();
            let import = ["--create-via", "import", "--format", "json"];
            assert!(apply_killed_with_args(&env, &plan, halt, &import, &[]).await, "{halt:?}: never reached");
            let out = output(apply(&plan)).await.unwrap();
            let ctx = format!("{halt:?}:\n{}\n{}", text(&out.stdout), text(&out.stderr));
            assert!(out.status.success(), "resume failed: {ctx}");
            let (_, failed) = crate::common::apply_outcomes(&out);
            assert!(failed.is_empty(), "{ctx}");
            let state = env.emulator.state().await;
            assert_eq!(holdings(&state), want, "{ctx}");
            let mut emails: Vec<&str> = state.users.iter().filter_map(|u| u.email.as_deref()).collect();
            let n = emails.len();
            emails.sort_unstable();
            emails.dedup();
            assert_eq!(emails.len(), n, "nobody imported twice: {ctx}");
        }
    }
}

/// `--invite ticket` with a delivery that appends each ticket's JSON to `file`.
fn ticket_vars(file: &Path) -> Vec<(String, String)> {
    vec![
        ("AUTH0_INVITE".into(), "ticket".into()),
        ("AUTH0_INVITE_COMMAND".into(), format!("sh -c 'cat >> \"$0\"' {}", file.display())),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn with_invitations_a_kill_at_every_write_then_resume_delivers_one_ticket_per_created_user() {
    let dir = tempfile::tempdir().unwrap();
    let db = hr_db(dir.path());
    // A manual clock, moved ten minutes each round: tickets draw from Auth0's
    // per-address budget (10 at once, 1 a minute), which rounds of the same three
    // joiners would otherwise spend.
    let clock = auth0_emulator::Clock::manual(std::time::SystemTime::now());
    let options = EmulatorOptions { clock, ..EmulatorOptions::default() };
    let env = Env::with_options(tenant(), &db, options).await;
    let s = scenario_with(env, "block", &ticket_vars(&dir.path().join("clean.ndjson"))).await;
    let joiners = ["new1@acme.example", "new2@acme.example", "new3@acme.example"];
    let env = &s.env;
    assert_eq!(env.emulator.tickets().len(), 3, "one ticket per created user in a clean run");
    assert!(s.writes >= 13, "a mixed plan and 3 tickets: {} writes", s.writes);
    for n in 1..=s.writes {
        for halt in [Halt::BeforeWrite(n), Halt::AfterWrite(n)] {
            env.emulator.reset(tenant()).unwrap();
            env.emulator.clock().advance(Duration::from_secs(600));
            let issued_before = env.emulator.tickets().len();
            let tag = format!("{n}-{}", matches!(halt, Halt::AfterWrite(_)));
            let plan = env.path(&format!("plan-{tag}.json"));
            std::fs::write(&plan, &s.plan_text).unwrap();
            let file = env.path(&format!("deliveries-{tag}.ndjson"));
            let vars = ticket_vars(&file);
            assert!(apply_killed_at_with(env, &plan, halt, &vars).await, "{halt:?}: never reached");
            let mut c = env.cmd();
            c.args(["apply", "--format", "json"]).arg(&plan).envs(vars.iter().cloned());
            let out = run(c).await;
            let ctx = format!("{halt:?}:\n{}\n{}", text(&out.stdout), text(&out.stderr));
            assert!(out.status.success(), "resume failed: {ctx}");
            let (_, failed) = crate::common::apply_outcomes(&out);
            assert!(failed.is_empty(), "{ctx}");
            assert_eq!(holdings(&env.emulator.state().await), s.want, "{ctx}");
            // Exactly one delivered ticket per created user, each one the tenant issued
            // for that user (a ticket whose answer the killed run never saw reached
            // nobody, and is issued again).
            let issued = &env.emulator.tickets()[issued_before..];
            let delivered: Vec<serde_json::Value> = std::fs::read_to_string(&file)
                .unwrap_or_default()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            let mut emails: Vec<&str> = delivered.iter().map(|d| d["email"].as_str().unwrap()).collect();
            emails.sort();
            assert_eq!(emails, joiners, "{ctx}");
            for d in &delivered {
                let t = issued.iter().find(|t| t.url == d["ticket"]).expect("a ticket of this tenant");
                assert_eq!(t.email, d["email"], "{ctx}");
            }
            assert!(issued.len() <= joiners.len() + 1, "{ctx}: at most one ticket issued again");
            assert_eq!(env.emulator.status_counts().get("429"), None, "{ctx}: no address went over its budget");
        }
    }
}

/// #13: a keyed tenant for the second sweep: a chain of two renames (ann moves to
/// ann.lee@, bob takes ann's old address), an adoption with a profile update (cat),
/// a metadata update (dan), an unblock of a keyed user the tool blocked (eve), a
/// leaver (gone) and a keyed joiner.
fn keyed_tenant() -> TenantState {
    let mut state = tenant();
    let user = |n: u32, email: &str, roles: &[&str], given: &str, md: serde_json::Value| StateUser {
        given_name: Some(given.into()),
        app_metadata: md,
        user_metadata: serde_json::json!({"theme": format!("t{n}")}),
        ..tenant_user(n, email, roles, false)
    };
    let mut eve = user(
        5,
        "eve@acme.example",
        &["viewer"],
        "Eve",
        serde_json::json!({"auth0_sync": {"key": "E5", "blocked": true}}),
    );
    eve.blocked = true;
    state.users = vec![
        user(
            1,
            "ann@acme.example",
            &["viewer"],
            "Ann",
            serde_json::json!({"auth0_sync": {"key": "E1"}, "badge": "B1"}),
        ),
        user(2, "bob@acme.example", &["viewer"], "Bob", serde_json::json!({"auth0_sync": {"key": "E2"}})),
        user(3, "cat@acme.example", &["viewer"], "Cat", serde_json::json!({"badge": "B3"})),
        user(
            4,
            "dan@acme.example",
            &["viewer"],
            "Dan",
            serde_json::json!({"auth0_sync": {"key": "E4"}, "department": "IT", "badge": "B4"}),
        ),
        eve,
        user(6, "gone@acme.example", &["editor"], "Gone", serde_json::json!({"auth0_sync": {"key": "E6"}})),
    ];
    state
}

fn keyed_db(dir: &Path) -> Vec<u8> {
    let path = dir.join("build-keyed-hr.sqlite");
    let db = rusqlite::Connection::open(&path).unwrap();
    db.execute_batch(
        "CREATE TABLE employees (employee_id TEXT, email TEXT, role TEXT, name TEXT, given_name TEXT, family_name TEXT, department TEXT, active INTEGER);
         INSERT INTO employees VALUES
           ('E1', 'ann.lee@acme.example', 'viewer', NULL, 'Ann', NULL, NULL, 1),
           ('E2', 'ann@acme.example', 'editor', NULL, 'Bob', NULL, NULL, 1),
           ('E3', 'cat@acme.example', 'viewer', NULL, 'Cathy', NULL, 'Ops', 1),
           ('E4', 'dan@acme.example', 'viewer', NULL, 'Dan', NULL, 'Sales', 1),
           ('E5', 'eve@acme.example', 'viewer', NULL, 'Eve', NULL, NULL, 1),
           ('E7', 'new@acme.example', 'viewer', NULL, 'Nia', NULL, 'Ops', 1);",
    )
    .unwrap();
    drop(db);
    std::fs::read(&path).unwrap()
}

/// What #13 syncs, per address: (user_id, or "created"; roles; blocked; given_name;
/// app_metadata; user_metadata).
type Identity = (String, Vec<String>, bool, Option<String>, serde_json::Value, serde_json::Value);

fn identities(state: &TenantState) -> BTreeMap<String, Identity> {
    let names: BTreeMap<&str, &str> = state.roles.iter().map(|r| (r.id.as_str(), r.name.as_str())).collect();
    let known: Vec<String> = keyed_tenant().users.into_iter().map(|u| u.user_id).collect();
    let mut out = BTreeMap::new();
    for u in state.users.iter().filter(|u| u.connection == CONNECTION) {
        let mut roles: Vec<String> =
            u.roles.iter().map(|r| names.get(r.as_str()).unwrap_or(&"?").to_string()).collect();
        roles.sort();
        let id = if known.contains(&u.user_id) { u.user_id.clone() } else { "created".into() };
        let email = u.email.clone().unwrap_or_default();
        let v = (id, roles, u.blocked, u.given_name.clone(), u.app_metadata.clone(), u.user_metadata.clone());
        assert!(out.insert(email.clone(), v).is_none(), "{email} exists twice");
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn with_keys_a_kill_at_every_write_then_resume_converges() {
    let dir = tempfile::tempdir().unwrap();
    let db = keyed_db(dir.path());
    let env = Env::with_options(keyed_tenant(), &db, EmulatorOptions::default()).await;
    let plan = env.path("plan.json");
    let mut c = env.cmd();
    c.args(["plan", "--on-missing", "delete", "--out"]).arg(&plan);
    let out = run(c).await;
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
    let plan_text = std::fs::read_to_string(&plan).unwrap();
    let planned: serde_json::Value = serde_json::from_str(&plan_text).unwrap();
    let actions: Vec<&str> =
        planned["changes"].as_array().unwrap().iter().map(|c| c["action"].as_str().unwrap()).collect();
    for a in ["update_email", "adopt_user", "update_profile", "unblock_user", "create_user", "delete_user"] {
        assert!(actions.contains(&a), "{a} in {actions:?}");
    }
    let mut c = env.cmd();
    c.args(["apply", "--concurrency", "1"]).arg(&plan);
    let out = run(c).await;
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
    let writes = env.emulator.writes_seen();
    let want = identities(&env.emulator.state().await);
    assert!(writes >= 10, "a mixed plan: {writes} writes");
    // What a clean run makes: renamed users keep their ids and every other key.
    assert_eq!(want["ann.lee@acme.example"].0, format!("auth0|{:024x}", 1));
    assert_eq!(want["ann.lee@acme.example"].4, serde_json::json!({"auth0_sync": {"key": "E1"}, "badge": "B1"}));
    assert_eq!(want["ann@acme.example"].0, format!("auth0|{:024x}", 2));
    assert_eq!(
        want["cat@acme.example"].4,
        serde_json::json!({"auth0_sync": {"key": "E3"}, "badge": "B3", "department": "Ops"})
    );
    assert_eq!(want["eve@acme.example"].4, serde_json::json!({"auth0_sync": {"key": "E5"}}));
    assert_eq!(want["new@acme.example"].4, serde_json::json!({"auth0_sync": {"key": "E7"}, "department": "Ops"}));
    assert!(!want.contains_key("gone@acme.example"));
    for n in 1..=writes {
        for halt in [Halt::BeforeWrite(n), Halt::AfterWrite(n)] {
            env.emulator.reset(keyed_tenant()).unwrap();
            let plan = env.path(&format!("plan-{n}-{}.json", matches!(halt, Halt::AfterWrite(_))));
            std::fs::write(&plan, &plan_text).unwrap();
            assert!(apply_killed_at(&env, &plan, halt).await, "{halt:?}: never reached");
            let mut c = env.cmd();
            c.args(["apply", "--format", "json"]).arg(&plan);
            let out = run(c).await;
            let ctx = format!("{halt:?}:\n{}\n{}", text(&out.stdout), text(&out.stderr));
            assert!(out.status.success(), "resume failed: {ctx}");
            let (outcomes, failed) = crate::common::apply_outcomes(&out);
            assert!(failed.is_empty(), "{ctx}");
            assert!(outcomes.iter().all(|o| o["status"] != "skipped" && o["status"] != "not_started"), "{ctx}");
            assert_eq!(identities(&env.emulator.state().await), want, "{ctx}");
            let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(last_summary(&plan), report["summary"], "{ctx}");
        }
    }
}

mod property {
    //! Random tenants and sources, a random stop point (before or after the Nth write
    //! is performed), random concurrency; the apply future is dropped at the halt (as
    //! a kill would end it: journal lines are written whole and flushed), then the
    //! same plan is applied again.
    use super::{ROLES, role_id};
    use crate::common::CONNECTION;
    use auth0_emulator::state::{StateRole, StateUser};
    use auth0_emulator::{Emulator, Halt, TenantState};
    use auth0_sync::apply::{ApplyOptions, OutcomeStatus, apply};
    use auth0_sync::auth0::Auth0Client;
    use auth0_sync::plan::{OnMissing, Plan, SourceInfo};
    use auth0_sync::planner::{self, Policy};
    use auth0_sync::settings::TenantArgs;
    use auth0_sync::source::{DesiredStateBuilder, RawRow};
    use proptest::prelude::*;
    use tokio_util::sync::CancellationToken;

    #[derive(Debug, Clone)]
    struct Case {
        /// (email index, roles, blocked by the tool earlier)
        tenant: Vec<(u8, Vec<u8>, bool)>,
        /// (email index, roles)
        source: Vec<(u8, Vec<u8>)>,
        block: bool,
        stop: u64,
        after: bool,
        concurrency: usize,
    }

    fn case() -> impl Strategy<Value = Case> {
        (
            prop::collection::btree_map(0u8..10, (prop::collection::vec(0u8..3, 0..3), any::<bool>()), 0..7),
            prop::collection::btree_map(0u8..12, prop::collection::vec(0u8..4, 0..3), 1..8),
            any::<bool>(),
            1u64..30,
            any::<bool>(),
            1usize..4,
        )
            .prop_map(|(tenant, source, block, stop, after, concurrency)| Case {
                tenant: tenant.into_iter().map(|(e, (r, b))| (e, r, b)).collect(),
                source: source.into_iter().collect(),
                block,
                stop,
                after,
                concurrency,
            })
    }

    /// Role 3 ("auditor") does not exist in the tenant: the plan creates it.
    fn role_name(r: u8) -> &'static str {
        ["admin", "editor", "viewer", "auditor"][r as usize]
    }

    fn email(i: u8) -> String {
        format!("p{i}@acme.example")
    }

    fn state(c: &Case) -> TenantState {
        let mut state = crate::common::demo_state();
        state.roles = ROLES
            .iter()
            .map(|(id, name)| StateRole { id: (*id).into(), name: (*name).into(), description: String::new() })
            .collect();
        state.connections.retain(|c| c.name == CONNECTION);
        state.users = c
            .tenant
            .iter()
            .map(|(e, roles, by_sync)| StateUser {
                user_id: format!("auth0|{:024x}", u32::from(*e) + 100),
                email: Some(email(*e)),
                email_verified: true,
                connection: CONNECTION.into(),
                blocked: *by_sync,
                roles: {
                    let mut r: Vec<String> = roles.iter().map(|r| role_id(role_name(*r))).collect();
                    r.sort();
                    r.dedup();
                    r
                },
                app_metadata: if *by_sync {
                    serde_json::json!({"auth0_sync": {"blocked": true}})
                } else {
                    serde_json::Value::Null
                },
                ..StateUser::default()
            })
            .collect();
        state
    }

    async fn client(emulator: &Emulator) -> Auth0Client {
        let app = crate::common::demo_state().clients[0].clone();
        let args = TenantArgs {
            auth0_url: Some(emulator.base_url()),
            auth0_client_id: Some(app.client_id),
            auth0_client_secret: Some(app.client_secret),
            ..Default::default()
        };
        Auth0Client::connect(&args.auth0().unwrap()).await.unwrap()
    }

    async fn make_plan(client: &Auth0Client, c: &Case, tenant: &str) -> Plan {
        let mut b = DesiredStateBuilder::new();
        for (e, roles) in &c.source {
            if roles.is_empty() {
                b.push(RawRow { email: Some(email(*e)), ..Default::default() });
            }
            for r in roles {
                b.push(RawRow { email: Some(email(*e)), roles: vec![role_name(*r).into()], ..Default::default() });
            }
        }
        let desired = b.finish();
        let snapshot = client.snapshot(CONNECTION).await.unwrap();
        let policy = Policy {
            connection: CONNECTION.into(),
            on_missing: if c.block { OnMissing::Block } else { OnMissing::Delete },
            delete_cap: planner::DeleteCap::Unlimited,
            create_missing_roles: true,
            ..Policy::default()
        };
        let cs = planner::plan(&desired, &snapshot, &policy).unwrap();
        let users = desired.users.len() as u64;
        Plan::new(
            chrono::Utc::now(),
            tenant.into(),
            CONNECTION.into(),
            snapshot.fingerprint(),
            SourceInfo { kind: "test".into(), location: "memory".into(), rows: users, users, ..Default::default() },
            policy.record(&snapshot, &cs),
            cs,
        )
    }

    /// Writes `plan`, applies it until the emulator halts at write `stop` (after it, or
    /// before), then applies it again from its journal; the second run's report.
    async fn stop_then_resume(
        emulator: &Emulator,
        client: &Auth0Client,
        plan: &Plan,
        concurrency: usize,
        stop: u64,
        after: bool,
    ) -> auth0_sync::apply::ApplyReport {
        let dir = tempfile::tempdir().unwrap();
        let path = &dir.path().join("plan.json");
        plan.write_new(path, false).unwrap();
        let opts = &ApplyOptions { concurrency, ..ApplyOptions::default() };
        emulator.set_halt(Some(if after { Halt::AfterWrite(stop) } else { Halt::BeforeWrite(stop) }));
        let cancel = CancellationToken::new();
        let first = apply(client, path, plan, opts, &cancel);
        tokio::select! {
            _ = emulator.halted() => {}
            r = first => { r.unwrap(); }
        }
        emulator.set_halt(None);
        apply(client, path, plan, opts, &cancel).await.unwrap()
    }

    async fn check(c: Case) -> Result<(), TestCaseError> {
        let emulator = Emulator::start("127.0.0.1:0".parse().unwrap(), state(&c), None).await.unwrap();
        let tenant = emulator.base_url().trim_start_matches("http://").to_owned();
        let client = client(&emulator).await;
        let plan = make_plan(&client, &c, &tenant).await;
        let report = stop_then_resume(&emulator, &client, &plan, c.concurrency, c.stop, c.after).await;
        for o in &report.outcomes {
            prop_assert!(
                matches!(o.status, OutcomeStatus::Done | OutcomeStatus::AlreadyApplied | OutcomeStatus::Adopted),
                "{c:?}: {o:?}"
            );
        }
        // Converged: planning again finds nothing to do; nobody exists twice.
        let again = make_plan(&client, &c, &tenant).await;
        prop_assert!(
            again.changeset.changes.is_empty() && again.changeset.create_roles.is_empty(),
            "{c:?}: {:?}",
            again.changeset.changes
        );
        let state = emulator.state().await;
        let mut emails: Vec<_> = state.users.iter().filter_map(|u| u.email.clone()).collect();
        let n = emails.len();
        emails.dedup();
        emails.sort();
        emails.dedup();
        prop_assert_eq!(emails.len(), n, "{:?}: a user exists twice", c);
        prop_assert_eq!(state.roles.iter().filter(|r| r.name == "auditor").count() <= 1, true);
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]
        #[test]
        fn any_stop_point_then_resume_converges(c in case()) {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            rt.block_on(check(c))?;
        }
    }

    /// #13: random keyed tenants and sources (renames, chains, adoptions, a synced
    /// given_name under either NULL rule), stopped at a random write and resumed.
    #[derive(Debug, Clone)]
    struct KeyCase {
        /// (email index, roles, holds the key `K<email index>`, given name)
        tenant: Vec<(u8, Vec<u8>, bool, u8)>,
        /// (email index, roles, key index, given name)
        source: Vec<(u8, Vec<u8>, Option<u8>, u8)>,
        clear: bool,
        stop: u64,
        after: bool,
        concurrency: usize,
    }

    fn key_case() -> impl Strategy<Value = KeyCase> {
        (
            prop::collection::btree_map(0u8..8, (prop::collection::vec(0u8..3, 0..2), any::<bool>(), 0u8..3), 0..6),
            prop::collection::btree_map(
                0u8..10,
                (prop::collection::vec(0u8..3, 0..2), prop::option::of(0u8..8), 0u8..3),
                1..7,
            ),
            any::<bool>(),
            1u64..20,
            any::<bool>(),
            1usize..4,
        )
            .prop_map(|(tenant, source, clear, stop, after, concurrency)| KeyCase {
                tenant: tenant.into_iter().map(|(e, (r, k, g))| (e, r, k, g)).collect(),
                source: source.into_iter().map(|(e, (r, k, g))| (e, r, k, g)).collect(),
                clear,
                stop,
                after,
                concurrency,
            })
    }

    fn given(g: u8) -> Option<String> {
        [None, Some("Ann"), Some("Bea")][g as usize].map(str::to_owned)
    }

    fn key_state(c: &KeyCase) -> TenantState {
        let base = Case {
            tenant: c.tenant.iter().map(|(e, r, _, _)| (*e, r.clone(), false)).collect(),
            source: vec![],
            block: false,
            stop: 0,
            after: false,
            concurrency: 1,
        };
        let mut state = state(&base);
        for (u, (e, _, keyed, g)) in state.users.iter_mut().zip(&c.tenant) {
            u.given_name = given(*g);
            u.app_metadata = if *keyed {
                serde_json::json!({"auth0_sync": {"key": format!("K{e}")}, "badge": "b"})
            } else {
                serde_json::json!({"badge": "b"})
            };
        }
        state
    }

    /// `None` when the planner refuses the case (a recycled address or a swap).
    async fn make_key_plan(client: &Auth0Client, c: &KeyCase, tenant: &str) -> Option<Plan> {
        use auth0_sync::model::{Profile, SourceColumns};
        let columns =
            SourceColumns { key: Some("employee_id".into()), fields: ["given_name".to_owned()].into_iter().collect() };
        let mut b = DesiredStateBuilder::with_columns(columns);
        for (e, roles, key, g) in &c.source {
            let row = |role: Option<&str>| RawRow {
                email: Some(email(*e)),
                roles: role.into_iter().map(str::to_owned).collect(),
                profile: Profile { given_name: given(*g), ..Default::default() },
                key: key.map(|k| format!("K{k}")),
                metadata: vec![],
            };
            if roles.is_empty() {
                b.push(row(None));
            }
            for r in roles {
                b.push(row(Some(role_name(*r))));
            }
        }
        let desired = b.finish();
        let snapshot = client.snapshot(CONNECTION).await.unwrap();
        let policy = Policy {
            connection: CONNECTION.into(),
            on_missing: OnMissing::Delete,
            delete_cap: planner::DeleteCap::Unlimited,
            on_null: if c.clear { auth0_sync::fields::OnNull::Clear } else { auth0_sync::fields::OnNull::Keep },
            ..Policy::default()
        };
        let cs = match planner::plan(&desired, &snapshot, &policy) {
            Ok(cs) => cs,
            Err(
                auth0_sync::error::PlanError::AddressTaken { .. } | auth0_sync::error::PlanError::SwappedEmails { .. },
            ) => return None,
            Err(e) => panic!("{c:?}: {e:?}"),
        };
        let users = desired.users.len() as u64;
        Some(Plan::new(
            chrono::Utc::now(),
            tenant.into(),
            CONNECTION.into(),
            snapshot.fingerprint(),
            SourceInfo { kind: "test".into(), location: "memory".into(), rows: users, users, ..Default::default() },
            policy.record(&snapshot, &cs),
            cs,
        ))
    }

    async fn check_keys(c: KeyCase) -> Result<(), TestCaseError> {
        let emulator = Emulator::start("127.0.0.1:0".parse().unwrap(), key_state(&c), None).await.unwrap();
        let tenant = emulator.base_url().trim_start_matches("http://").to_owned();
        let client = client(&emulator).await;
        let Some(plan) = make_key_plan(&client, &c, &tenant).await else {
            return Err(TestCaseError::reject("refused by the planner"));
        };
        let report = stop_then_resume(&emulator, &client, &plan, c.concurrency, c.stop, c.after).await;
        for o in &report.outcomes {
            prop_assert!(
                matches!(o.status, OutcomeStatus::Done | OutcomeStatus::AlreadyApplied | OutcomeStatus::Adopted),
                "{c:?}: {o:?}"
            );
        }
        let again = make_key_plan(&client, &c, &tenant).await;
        prop_assert!(
            again.as_ref().is_some_and(|p| p.changeset.changes.is_empty()),
            "{c:?}: {:?}",
            again.map(|p| p.changeset.changes)
        );
        let state = emulator.state().await;
        // Renamed users kept their ids; every user the tenant had keeps its other key.
        for ch in plan.changeset.changes.iter().filter(|ch| ch.action == auth0_sync::plan::Action::UpdateEmail) {
            let id = ch.user.user_id.as_deref().unwrap();
            let u = state.users.iter().find(|u| u.user_id == id);
            prop_assert_eq!(u.and_then(|u| u.email.clone()), Some(ch.user.email.clone()), "{:?}", c);
        }
        let known: Vec<String> = key_state(&c).users.into_iter().map(|u| u.user_id).collect();
        for u in state.users.iter().filter(|u| known.contains(&u.user_id)) {
            prop_assert_eq!(&u.app_metadata["badge"], "b", "{:?}: {:?}", c, u);
        }
        let mut emails: Vec<_> = state.users.iter().filter_map(|u| u.email.clone()).collect();
        let n = emails.len();
        emails.sort();
        emails.dedup();
        prop_assert_eq!(emails.len(), n, "{:?}: a user exists twice", c);
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]
        #[test]
        fn with_keys_any_stop_point_then_resume_converges(c in key_case()) {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            rt.block_on(check_keys(c))?;
        }
    }
}
