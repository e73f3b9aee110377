//! Apply you can trust, through the CLI against the emulator: stale plans (drift, age),
//! safety rails at plan and at apply, partial failure with dependent work skipped.

use crate::common::{Admin, Env, run, text};
use reqwest::Method;
use serde_json::json;

const BOB: &str = "auth0%7C64a0000000000000000000b2";
const DAVE: &str = "auth0%7C64a0000000000000000000d4";

async fn plan(env: &Env, extra: &[&str]) -> (std::path::PathBuf, std::process::Output) {
    let path = env.path(&format!("plan-{}.json", rand_suffix()));
    let mut c = env.cmd();
    c.arg("plan").args(extra).arg("--out").arg(&path);
    (path, run(c).await)
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::SeqCst)
}

async fn apply(env: &Env, plan: &std::path::Path, extra: &[&str]) -> std::process::Output {
    let mut c = env.cmd();
    c.arg("apply").arg(plan).args(extra);
    run(c).await
}

#[tokio::test(flavor = "multi_thread")]
async fn drifted_changes_are_refused_and_can_be_skipped() {
    let env = Env::demo().await;
    let (p, out) = plan(&env, &[]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Someone gives bob a role and dave a role in the dashboard after the plan.
    let admin = Admin::new(&env).await;
    assert!(
        admin
            .send(Method::POST, &format!("users/{BOB}/roles"), json!({"roles": ["rol_DemoAdmin0000001"]}))
            .await
            .is_success()
    );
    assert!(
        admin
            .send(Method::POST, &format!("users/{DAVE}/roles"), json!({"roles": ["rol_DemoAdmin0000001"]}))
            .await
            .is_success()
    );
    let before = env.emulator.state().await;

    let out = apply(&env, &p, &[]).await;
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("auth0_sync::apply::drift") && err.contains("2 change(s)"), "{err}");
    assert!(err.contains("bob@acme.example") && err.contains("admin") && err.contains("dave@acme.example"), "{err}");
    assert_eq!(env.emulator.state().await, before, "a refused apply changed the tenant");

    let out = apply(&env, &p, &["--skip-drifted"]).await;
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("2 skipped") && stdout.contains("drifted"), "{stdout}");
    let state = env.emulator.state().await;
    assert!(state.users.iter().any(|u| u.email.as_deref() == Some("dave@acme.example")), "drifted delete was applied");
    assert!(state.users.iter().all(|u| u.email.as_deref() != Some("erin@acme.example")), "erin should be deleted");
}

#[tokio::test(flavor = "multi_thread")]
async fn old_plans_are_refused() {
    let env = Env::demo().await;
    let (p, _) = plan(&env, &[]).await;
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let out = apply(&env, &p, &["--max-plan-age", "1s"]).await;
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("auth0_sync::apply::plan_too_old") && err.contains("--max-plan-age"), "{err}");
    let out = apply(&env, &p, &["--max-plan-age", "1h"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[tokio::test(flavor = "multi_thread")]
async fn deletion_cap_at_plan_and_at_apply() {
    let env = Env::demo().await;
    let (_, out) = plan(&env, &["--max-deletes", "1"]).await;
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("auth0_sync::safety::too_many_deletes") && err.contains("2 of the connection's 8"), "{err}");
    assert!(err.contains("--allow-mass-delete"), "{err}");

    let (p, out) = plan(&env, &[]).await;
    assert!(out.status.success());
    let before = env.emulator.state().await;
    let out = apply(&env, &p, &["--max-deletes", "10%"]).await;
    assert!(text(&out.stderr).contains("too_many_deletes"), "{}", text(&out.stderr));
    assert_eq!(env.emulator.state().await, before);
    let out = apply(&env, &p, &["--max-deletes", "2"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[tokio::test(flavor = "multi_thread")]
async fn empty_source_is_refused_unless_allowed() {
    let env = Env::demo().await;
    let mut c = env.cmd();
    c.env("USERS_DB_QUERY", "SELECT email, role FROM employees WHERE 0")
        .args(["plan", "--out"])
        .arg(env.path("e.json"));
    let out = run(c).await;
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(err.contains("auth0_sync::safety::empty_source") && err.contains("--allow-empty-source"), "{err}");
    let mut c = env.cmd();
    c.env("USERS_DB_QUERY", "SELECT email, role FROM employees WHERE 0")
        // (6 of the demo's 8 users go: past the default deletion cap of #14, lifted here)
        .args(["plan", "--allow-empty-source", "--max-deletes", "100%", "--out"])
        .arg(env.path("e.json"));
    let out = run(c).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    // At apply time the plan's empty source is refused again without the flag.
    let out = apply(&env, &env.path("e.json"), &[]).await;
    assert!(text(&out.stderr).contains("empty_source"), "{}", text(&out.stderr));
}

#[tokio::test(flavor = "multi_thread")]
async fn on_missing_block_blocks_then_unblocks_when_back() {
    let env = Env::demo().await;
    let (p, out) = plan(&env, &["--on-missing", "block"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("block"), "{}", text(&out.stdout));
    assert!(apply(&env, &p, &[]).await.status.success());
    let state = env.emulator.state().await;
    let dave = state.users.iter().find(|u| u.email.as_deref() == Some("dave@acme.example")).unwrap();
    assert!(dave.blocked, "dave should be blocked, not deleted");

    // dave comes back to the HR table: the block auth0-sync made is lifted.
    let mut c = env.cmd();
    c.env("USERS_DB_QUERY", "SELECT email, role FROM employees WHERE active = 1 OR email = 'dave@acme.example'")
        .args(["plan", "--on-missing", "block", "--out"])
        .arg(env.path("back.json"));
    let out = run(c).await;
    assert!(text(&out.stdout).contains("unblock"), "{}", text(&out.stdout));
    assert!(apply(&env, &env.path("back.json"), &[]).await.status.success());
    let state = env.emulator.state().await;
    assert!(!state.users.iter().find(|u| u.email.as_deref() == Some("dave@acme.example")).unwrap().blocked);
}

#[tokio::test(flavor = "multi_thread")]
async fn managed_roles_limit_what_is_touched() {
    let env = Env::demo().await;
    let mut c = env.cmd();
    c.env("AUTH0_MANAGED_ROLES", "editor").args(["plan", "--format", "json", "--out"]).arg(env.path("m.json"));
    let out = run(c).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let updates: Vec<&serde_json::Value> =
        v["changes"].as_array().unwrap().iter().filter(|c| c["action"] == "update_roles").collect();
    // Only bob's +editor; carol's -admin is outside the managed roles.
    assert_eq!(updates.len(), 1, "{updates:?}");
    assert_eq!(updates[0]["user"]["email"], "bob@acme.example");
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_roles_are_created_when_asked() {
    let mut state = crate::common::demo_state();
    crate::common::remove_roles(&mut state, &["billing"]);
    let env = Env::with(state, include_bytes!("../../examples/demo/hr.sqlite")).await;
    let (_, out) = plan(&env, &[]).await;
    assert!(text(&out.stderr).contains("unknown_roles"));
    let (p, out) = plan(&env, &["--create-missing-roles"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("Roles to create first: billing"), "{}", text(&out.stdout));
    let out = apply(&env, &p, &[]).await;
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
    let state = env.emulator.state().await;
    let billing = state.roles.iter().find(|r| r.name == "billing").expect("role created");
    let ivan = state.users.iter().find(|u| u.email.as_deref() == Some("ivan@acme.example")).unwrap();
    assert_eq!(ivan.roles, std::slice::from_ref(&billing.id));
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_creates_skip_their_roles_and_independent_changes_go_on() {
    // The connection requires a username, which the tool does not send: Auth0 refuses
    // every create with a 400 (the plan cannot know; a missing scope, which it can, is
    // refused before the first write, see `missing_scopes_are_refused_before_any_write`).
    let mut state = crate::common::demo_state();
    for c in state.connections.iter_mut().filter(|c| c.name == crate::common::CONNECTION) {
        c.requires_username = true;
    }
    let env = Env::with(state, include_bytes!("../../examples/demo/hr.sqlite")).await;
    let (p, out) = plan(&env, &[]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = apply(&env, &p, &["--format", "json"]).await;
    assert_eq!(out.status.code(), Some(1));
    let (outcomes, failed) = crate::common::apply_outcomes(&out);
    assert_eq!(failed.len(), 4, "{outcomes:#?}");
    for f in &failed {
        assert_eq!(f["action"], "create_user");
        assert_eq!(f["error"]["status"], 400);
    }
    let grace = failed.iter().find(|o| o["email"] == "grace@acme.example").unwrap();
    assert!(grace["error"]["message"].as_str().unwrap().contains("2 role assignment(s) were skipped"), "{grace}");
    // Role updates, deletes, the rename, the adoption and the profile update did not
    // depend on the creates, so they went through.
    assert_eq!(outcomes.iter().filter(|o| o["status"] == "done").count(), 7, "{outcomes:#?}");
    let err = text(&out.stderr);
    assert!(err.contains("auth0_sync::apply::failed") && err.contains("4 of 11"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_scopes_are_refused_before_any_write() {
    let mut state = crate::common::demo_state();
    state.clients[0].scopes.retain(|s| s != "create:users" && s != "delete:users");
    let env = Env::with(state, include_bytes!("../../examples/demo/hr.sqlite")).await;
    let before = env.emulator.state().await;
    let (p, out) = plan(&env, &["--skip-scope-check"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = apply(&env, &p, &[]).await;
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("auth0_sync::auth0::missing_scopes"), "{err}");
    assert!(err.contains("create:users") && err.contains("delete:users"), "{err}");
    assert!(err.contains("create_user") && err.contains("delete_user"), "the changes that need them: {err}");
    assert_eq!(env.emulator.state().await, before, "nothing was sent");
    let writes: u64 = env
        .emulator
        .request_counts()
        .iter()
        .filter(|(route, _)| !route.starts_with("GET ") && !route.contains("/oauth/token"))
        .map(|(_, n)| n)
        .sum();
    assert_eq!(writes, 0, "{:?}", env.emulator.request_counts());

    // `plan` says so too (unless told the plan is made with other credentials).
    let mut c = env.cmd();
    c.args(["plan", "--out"]).arg(env.path("p2.json"));
    let out = run(c).await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(text(&out.stderr).contains("auth0_sync::auth0::missing_scopes"), "{}", text(&out.stderr));
    assert!(!env.path("p2.json").exists(), "no plan written");
}
