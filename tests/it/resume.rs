//! Resume from any point: the emulator halts an apply at its Nth write — before
//! performing it, or after performing it but before answering — for every N of a
//! small mixed plan (creates with roles, a created role, role updates both ways,
//! an unblock, blocks or deletes); the process is SIGKILLed there, and the same
//! apply run again must converge: the tenant is the plan's "after", nobody is
//! created twice, no change is lost, and none of the plan's own changes is refused
//! as drift. With `--invite ticket`, each created user also receives exactly one
//! ticket whatever the kill point. A property test does the same in-process over
//! random plans and stop points.

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
        "CREATE TABLE employees (email TEXT, role TEXT, name TEXT, given_name TEXT, family_name TEXT, active INTEGER);
         INSERT INTO employees VALUES
           ('keep@acme.example', 'viewer', NULL, NULL, NULL, 1),
           ('swap@acme.example', 'editor', NULL, NULL, NULL, 1),
           ('grow@acme.example', 'viewer', NULL, NULL, NULL, 1),
           ('grow@acme.example', 'admin', NULL, NULL, NULL, 1),
           ('shrink@acme.example', 'editor', NULL, NULL, NULL, 1),
           ('back@acme.example', 'viewer', NULL, NULL, NULL, 1),
           ('new1@acme.example', 'editor', 'New One', 'New', 'One', 1),
           ('new1@acme.example', 'auditor', 'New One', 'New', 'One', 1),
           ('new2@acme.example', NULL, NULL, NULL, NULL, 1),
           ('new3@acme.example', 'viewer', NULL, NULL, NULL, 1);",
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
    env.emulator.set_halt(Some(halt));
    let mut cmd = env.std_cmd();
    cmd.args(["apply", "--concurrency", "1"]).arg(plan).envs(vars.iter().cloned());
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
            SourceInfo { kind: "test".into(), location: "memory".into(), rows: users, users },
            policy.record(&snapshot, &cs),
            cs,
        )
    }

    async fn check(c: Case) -> Result<(), TestCaseError> {
        let emulator = Emulator::start("127.0.0.1:0".parse().unwrap(), state(&c), None).await.unwrap();
        let tenant = emulator.base_url().trim_start_matches("http://").to_owned();
        let client = client(&emulator).await;
        let plan = make_plan(&client, &c, &tenant).await;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.json");
        plan.write_new(&path, false).unwrap();
        let opts = ApplyOptions { concurrency: c.concurrency, ..ApplyOptions::default() };

        emulator.set_halt(Some(if c.after { Halt::AfterWrite(c.stop) } else { Halt::BeforeWrite(c.stop) }));
        let cancel = CancellationToken::new();
        let first = apply(&client, &path, &plan, &opts, &cancel);
        tokio::select! {
            _ = emulator.halted() => {}
            r = first => { r.unwrap(); }
        }
        emulator.set_halt(None);

        let report = apply(&client, &path, &plan, &opts, &cancel).await.unwrap();
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
}
