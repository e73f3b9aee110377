//! A cap on every kind of removal (#14): deletions, blocks, role removals overall and
//! per role, each refused at plan and at apply (where a flag may only lower the cap
//! the plan recorded), each named in its diagnostic; the defaults refuse a source of
//! 1 row removing 8 of 11 users and allow ordinary churn on 10,000 users.

use crate::check::hr_db;
use crate::common::{CONNECTION, Env, demo_state, run, text};
use auth0_sync::model::{DesiredState, TenantRole, TenantSnapshot, TenantUser};
use auth0_sync::plan::OnMissing;
use auth0_sync::planner::{Policy, plan};
use auth0_sync::source::{DesiredStateBuilder, RawRow};
use serde_json::Value;

const VIEWER: &str = "rol_DemoViewer000001";

/// 11 connection users holding `viewer`: `u01`..`u09`, and the two the demo settings
/// ignore (ci-bot, kim@auditors); the demo's other users are dropped.
async fn eleven() -> Env {
    let mut state = demo_state();
    let template = state.users.iter().find(|u| u.connection == CONNECTION).unwrap().clone();
    state.users.retain(|u| u.connection != CONNECTION);
    let emails: Vec<String> = (1..=9)
        .map(|i| format!("u{i:02}@acme.example"))
        .chain(["ci-bot@acme.example".into(), "kim@auditors.acme.example".into()])
        .collect();
    for (i, e) in emails.into_iter().enumerate() {
        let mut u = template.clone();
        u.user_id = format!("auth0|eleven{i:02}");
        u.email = Some(e);
        u.roles = vec![VIEWER.into()];
        state.users.push(u);
    }
    Env::with(state, include_bytes!("../../examples/demo/hr.sqlite")).await
}

/// All nine `u..` users in the source with `role` (`""`: none).
fn all_with_role(env: &Env, role: &str) {
    let emails: Vec<String> = (1..=9).map(|i| format!("u{i:02}@acme.example")).collect();
    let rows: Vec<(&str, &str)> = emails.iter().map(|e| (e.as_str(), role)).collect();
    hr_db(&env.db, &rows);
}

async fn plan_with(env: &Env, flags: &[&str]) -> std::process::Output {
    let mut c = env.cmd();
    c.args(["plan", "--overwrite", "--out"]).arg(env.path("plan.json")).args(flags);
    run(c).await
}

async fn apply_with(env: &Env, flags: &[&str]) -> std::process::Output {
    let mut c = env.cmd();
    c.arg("apply").arg(env.path("plan.json")).args(flags);
    run(c).await
}

fn requests(env: &Env) -> u64 {
    env.emulator.request_counts().values().sum()
}

fn refused(out: &std::process::Output, code: &str, said: &[&str]) {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "expected a refusal {code}:\n{stderr}");
    assert!(stderr.contains(code), "expected {code}:\n{stderr}");
    // Diagnostics wrap at the terminal's width: compare words.
    let words = |t: &str| t.split_whitespace().filter(|w| *w != "│").collect::<Vec<_>>().join(" ");
    for s in said {
        assert!(words(&stderr).contains(&words(s)), "expected {s:?} in:\n{stderr}");
    }
}

/// An apply refused before its first write: the tenant is as it was.
async fn refused_before_any_write(env: &Env, flags: &[&str], code: &str, said: &[&str]) {
    let before = env.emulator.state().await;
    let out = apply_with(env, flags).await;
    refused(&out, code, said);
    assert_eq!(env.emulator.state().await, before, "{flags:?}: the tenant changed");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_source_of_one_row_deletes_or_blocks_none_of_eleven_by_default() {
    let env = eleven().await;
    hr_db(&env.db, &[("u01@acme.example", "viewer")]);
    let sent = requests(&env);
    let out = plan_with(&env, &[]).await;
    refused(
        &out,
        "auth0_sync::safety::too_many_deletes",
        &["deletes 8 of the connection's 11 users, more than the cap of 5 (--max-deletes)"],
    );
    let out = plan_with(&env, &["--on-missing", "block"]).await;
    refused(
        &out,
        "auth0_sync::safety::too_many_removals",
        &["blocks 8 of the connection's 11 users, more than the cap of 5 (--max-blocks)", "--allow-mass-delete"],
    );
    assert!(requests(&env) > sent, "plan read the tenant");
    assert!(!env.path("plan.json").exists(), "a refused plan writes no file");
    // --max-deletes does not lift the block cap, nor --max-blocks the deletion cap.
    refused(&plan_with(&env, &["--on-missing", "block", "--max-deletes", "8"]).await, "--max-blocks", &[]);
    refused(&plan_with(&env, &["--max-blocks", "8"]).await, "--max-deletes", &[]);
    // --allow-mass-delete lifts every cap.
    let out = plan_with(&env, &["--on-missing", "block", "--allow-mass-delete"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_delete_cap_is_checked_at_apply() {
    let env = eleven().await;
    hr_db(&env.db, &[("u01@acme.example", "viewer")]);
    assert!(plan_with(&env, &["--max-deletes", "8"]).await.status.success());
    refused_before_any_write(&env, &["--max-deletes", "7"], "auth0_sync::safety::too_many_deletes", &["cap of 7"])
        .await;
    refused_before_any_write(&env, &["--max-deletes", "9"], "auth0_sync::safety::cap_above_approved", &[]).await;
    let out = apply_with(&env, &[]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(env.emulator.state().await.users.iter().filter(|u| u.connection == CONNECTION).count(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_block_cap_is_recorded_and_checked_at_apply() {
    let env = eleven().await;
    hr_db(&env.db, &[("u01@acme.example", "viewer")]);
    let out = plan_with(&env, &["--on-missing", "block", "--max-blocks", "8"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: Value = serde_json::from_str(&std::fs::read_to_string(env.path("plan.json")).unwrap()).unwrap();
    assert_eq!(v["policy"]["removal_caps"]["blocks"], serde_json::json!({ "cap": "8", "base": 11, "max": 8 }));
    let sent = requests(&env);
    refused_before_any_write(
        &env,
        &["--max-blocks", "9"],
        "auth0_sync::safety::removal_cap_above_approved",
        &["--max-blocks 9 at apply allows 9 block(s) of the connection's 11 users, more than the cap of 8 (8)"],
    )
    .await;
    assert_eq!(requests(&env), sent, "a flag above the recorded cap is refused before any request");
    refused_before_any_write(
        &env,
        &["--max-blocks", "50%"],
        "auth0_sync::safety::too_many_removals",
        &["blocks 8 of the connection's 11 users, more than the cap of 5 (--max-blocks)"],
    )
    .await;
    refused_before_any_write(&env, &["--allow-mass-delete"], "cap_above_approved", &[]).await;
    let out = apply_with(&env, &[]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let blocked = env.emulator.state().await.users.iter().filter(|u| u.blocked).count();
    assert_eq!(blocked, 8);
}

#[tokio::test(flavor = "multi_thread")]
async fn role_removals_are_capped_overall_and_per_role_at_plan() {
    let env = eleven().await;
    // The role column is lost: every user is still there, with no role.
    all_with_role(&env, "");
    refused(
        &plan_with(&env, &[]).await,
        "auth0_sync::safety::too_many_removals",
        &["removes 9 of the connection's 11 managed role assignments, more than the cap of 5 (--max-role-removals)"],
    );
    refused(
        &plan_with(&env, &["--max-role-removals", "100%"]).await,
        "auth0_sync::safety::too_many_removals",
        &["removes role \"viewer\" from 9 of its 11 holders, more than the cap of 5 (--max-role-removals-per-role)"],
    );
    refused(
        &plan_with(&env, &["--max-role-removals-per-role", "100%"]).await,
        "auth0_sync::safety::too_many_removals",
        &["(--max-role-removals)"],
    );
    let both = ["--max-role-removals", "9", "--max-role-removals-per-role", "9"];
    assert!(plan_with(&env, &both).await.status.success());
    assert!(plan_with(&env, &["--allow-mass-delete"]).await.status.success());
    // check predicts the refusal, naming the cap.
    let mut c = env.cmd();
    c.arg("check");
    let out = run(c).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).contains("--max-role-removals"), "{}", text(&out.stdout));
}

#[tokio::test(flavor = "multi_thread")]
async fn role_removal_caps_are_recorded_and_checked_at_apply() {
    let env = eleven().await;
    all_with_role(&env, "");
    let out = plan_with(&env, &["--max-role-removals", "9", "--max-role-removals-per-role", "90%"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: Value = serde_json::from_str(&std::fs::read_to_string(env.path("plan.json")).unwrap()).unwrap();
    let caps = &v["policy"]["removal_caps"];
    assert_eq!(caps["role_removals"], serde_json::json!({ "cap": "9", "base": 11, "max": 9 }));
    assert_eq!(
        caps["role_removals_per_role"],
        serde_json::json!({ "cap": "90%", "roles": { "viewer": { "holders": 11, "max": 9 } } })
    );
    let above = "auth0_sync::safety::removal_cap_above_approved";
    let over = "auth0_sync::safety::too_many_removals";
    refused_before_any_write(&env, &["--max-role-removals", "10"], above, &["--max-role-removals 10"]).await;
    refused_before_any_write(&env, &["--max-role-removals", "8"], over, &["(--max-role-removals)"]).await;
    refused_before_any_write(&env, &["--max-role-removals-per-role", "100%"], above, &["role \"viewer\""]).await;
    refused_before_any_write(&env, &["--max-role-removals-per-role", "8"], over, &["(--max-role-removals-per-role)"])
        .await;
    let out = apply_with(&env, &["--max-role-removals", "9"]).await;
    assert!(out.status.success(), "an equal flag is accepted:\n{}", text(&out.stderr));
    let state = env.emulator.state().await;
    assert!(
        state
            .users
            .iter()
            .filter(|u| u.email.as_deref().is_some_and(|e| e.starts_with('u')))
            .all(|u| u.roles.is_empty())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_counts_the_role_holders_of_the_tenant_as_it_is_then() {
    // Planned with 11 viewers and a cap of 90% (9); the two ignored users leave the
    // role before apply: 90% of 9 is 8, and the plan removes it from 9.
    let env2 = eleven().await;
    all_with_role(&env2, "");
    assert!(
        plan_with(&env2, &["--max-role-removals", "100%", "--max-role-removals-per-role", "90%"])
            .await
            .status
            .success()
    );
    let admin = crate::common::Admin::new(&env2).await;
    for id in ["auth0|eleven09", "auth0|eleven10"] {
        let s = admin
            .send(reqwest::Method::DELETE, &format!("users/{id}/roles"), serde_json::json!({ "roles": [VIEWER] }))
            .await;
        assert!(s.is_success(), "{s}");
    }
    // 9 holders now: 90% is 8, fewer than the 9 removals planned.
    refused_before_any_write(&env2, &[], "auth0_sync::safety::too_many_removals", &["from 9 of its 9 holders"]).await;
}

// ---- the defaults on a big tenant (planner level) ----

fn big(users: usize) -> (TenantSnapshot, Vec<(String, String)>) {
    let roles = ["admin", "editor", "viewer", "billing"];
    let mut t = TenantSnapshot::default();
    for r in roles {
        t.roles.insert(format!("rol_{r}"), TenantRole { id: format!("rol_{r}"), name: r.into() });
    }
    let mut people = Vec::new();
    for i in 0..users {
        let (id, email, role) = (format!("auth0|{i:05}"), format!("p{i:05}@acme.example"), roles[i % roles.len()]);
        t.users.insert(
            id.clone(),
            TenantUser {
                user_id: id,
                email: Some(email.clone()),
                connection: CONNECTION.into(),
                blocked: false,
                blocked_by_sync: false,
                role_ids: [format!("rol_{role}")].into(),
                linked_to: None,
                synced: Default::default(),
            },
        );
        people.push((email, role.to_owned()));
    }
    (t, people)
}

fn source(rows: impl IntoIterator<Item = (String, String)>) -> DesiredState {
    let mut b = DesiredStateBuilder::new();
    for (e, r) in rows {
        b.push(RawRow { email: Some(e), roles: vec![r], ..Default::default() });
    }
    b.finish()
}

#[test]
fn ordinary_churn_on_ten_thousand_users_passes_the_default_caps() {
    let (t, people) = big(10_000);
    // 5% leave; 10% of the rest move to the next role.
    let desired = source(people.iter().enumerate().filter(|(i, _)| i % 20 != 0).map(|(i, (e, r))| {
        let r = if i % 10 == 1 { ["admin", "editor", "viewer", "billing"][(i + 1) % 4].to_owned() } else { r.clone() };
        (e.clone(), r)
    }));
    for on_missing in [OnMissing::Delete, OnMissing::Block] {
        let policy = Policy { connection: CONNECTION.into(), on_missing, ..Default::default() };
        let cs = plan(&desired, &t, &policy).unwrap_or_else(|e| panic!("{on_missing:?}: {e}"));
        let s = &cs.summary;
        assert_eq!(s.delete_user + s.block_user, 500);
        assert_eq!(s.roles_removed, 1000);
        let record = policy.record(&t, &cs);
        assert_eq!(record.removal_caps.role_removals.base, 10_000);
        assert_eq!(record.removal_caps.role_removals.max, Some(2000));
        assert_eq!(record.removal_caps.role_removals_per_role.roles["editor"].holders, 2500);
    }
}

#[test]
fn a_bad_query_on_ten_thousand_users_is_refused_by_the_default_caps() {
    let (t, people) = big(10_000);
    let policy = Policy { connection: CONNECTION.into(), ..Default::default() };
    // Every user loses the role column.
    let no_roles = source(people.iter().map(|(e, _)| (e.clone(), String::new())));
    let err = plan(&no_roles, &t, &policy).unwrap_err();
    assert!(err.to_string().contains("--max-role-removals"), "{err}");
    // A join that loses one role's holders only: 2500 removals of "billing"; 2000 is
    // within the overall cap, so lift that and the per-role cap catches it.
    let lost_billing =
        source(people.iter().map(|(e, r)| (e.clone(), if r == "billing" { String::new() } else { r.clone() })));
    let mut p = policy.clone();
    p.removal_caps.role_removals = auth0_sync::planner::DeleteCap::Percent(100);
    let err = plan(&lost_billing, &t, &p).unwrap_err();
    assert!(err.to_string().contains("\"billing\" from 2500 of its 2500 holders"), "{err}");
    // 15% leaving is over the deletion cap (1000).
    let leavers = source(people.iter().enumerate().filter(|(i, _)| i % 7 != 0).map(|(_, p)| p.clone()));
    assert!(plan(&leavers, &t, &policy).unwrap_err().to_string().contains("--max-deletes"));
}
