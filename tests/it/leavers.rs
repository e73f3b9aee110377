//! Two-stage leaving (#14): `plan --on-missing block --delete-after DURATION` blocks a
//! leaver first (the marker says when and why, other namespace fields survive) and
//! deletes it in a later plan only once the tool itself blocked it at least DURATION
//! before the plan's clock (`--now`, hidden, set here instead of sleeping); users
//! blocked by people are never deleted; a user back in the source is unblocked.

use crate::check::hr_db;
use crate::common::{CONNECTION, Env, demo_state, run, text};
use serde_json::{Value, json};

const VIEWER: &str = "rol_DemoViewer000001";
const T: &str = "2026-06-01T00:00:00Z";

/// (email, blocked, app_metadata.auth0_sync) of the connection's users; the demo's are
/// dropped.
async fn tenant(users: &[(&str, bool, Value)]) -> Env {
    tenant_with(users, &[], auth0_emulator::EmulatorOptions::default()).await
}

/// [`tenant`] with more scopes for the tool's application and emulator options.
async fn tenant_with(users: &[(&str, bool, Value)], scopes: &[&str], options: auth0_emulator::EmulatorOptions) -> Env {
    let mut state = demo_state();
    state.clients[0].scopes.extend(scopes.iter().map(|s| (*s).to_owned()));
    let template = state.users.iter().find(|u| u.connection == CONNECTION).unwrap().clone();
    state.users.retain(|u| u.connection != CONNECTION);
    for (i, (email, blocked, ns)) in users.iter().enumerate() {
        let mut u = template.clone();
        u.user_id = format!("auth0|leaver{i:02}");
        u.email = Some((*email).into());
        u.roles = vec![VIEWER.into()];
        u.blocked = *blocked;
        u.app_metadata = if ns.is_null() { Value::Null } else { json!({ "auth0_sync": ns, "cost_centre": "cc-7" }) };
        state.users.push(u);
    }
    Env::with_options(state, include_bytes!("../../examples/demo/hr.sqlite"), options).await
}

async fn plan(env: &Env, name: &str, flags: &[&str]) -> Value {
    let path = env.path(name);
    let mut c = env.cmd();
    c.args(["plan", "--overwrite", "--out"]).arg(&path).args(flags);
    let out = run(c).await;
    assert!(out.status.success(), "plan {flags:?}:\n{}", text(&out.stderr));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

async fn apply(env: &Env, name: &str) {
    let mut c = env.cmd();
    c.arg("apply").arg(env.path(name));
    let out = run(c).await;
    assert!(out.status.success(), "apply:\n{}\n{}", text(&out.stdout), text(&out.stderr));
}

fn actions(v: &Value) -> Vec<(String, String)> {
    v["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["action"].as_str().unwrap().to_owned(), c["user"]["email"].as_str().unwrap().to_owned()))
        .collect()
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter().map(|(a, e)| ((*a).to_owned(), (*e).to_owned())).collect()
}

async fn user(env: &Env, email: &str) -> Option<auth0_emulator::state::StateUser> {
    env.emulator.state().await.users.into_iter().find(|u| u.email.as_deref() == Some(email))
}

fn marker(at: &str) -> Value {
    json!({ "blocked": true, "blocked_at": at, "reason": "missing from source", "key": "emp-1" })
}

#[tokio::test(flavor = "multi_thread")]
async fn only_users_the_tool_blocked_past_the_grace_are_deleted() {
    let env = tenant(&[
        ("stay@acme.example", false, Value::Null),
        ("back@acme.example", true, marker("2026-05-01T00:00:00Z")),
        ("old@acme.example", true, marker("2026-05-20T00:00:00Z")), // 12 days before T
        ("recent@acme.example", true, marker("2026-05-30T00:00:00Z")), // 2 days before T
        ("person@acme.example", true, Value::Null),                 // blocked by a person, long ago
        ("fresh@acme.example", false, json!({ "key": "emp-fresh" })),
    ])
    .await;
    hr_db(&env.db, &[("stay@acme.example", "viewer"), ("back@acme.example", "viewer")]);
    let v = plan(&env, "p1.json", &["--on-missing", "block", "--delete-after", "7d", "--now", T]).await;
    assert_eq!(
        actions(&v),
        pairs(&[
            ("unblock_user", "back@acme.example"),
            ("block_user", "fresh@acme.example"),
            ("delete_user", "old@acme.example"),
        ])
    );
    assert_eq!(v["policy"]["delete_after"], json!({ "seconds": 604_800, "now": T }));
    assert_eq!(v["summary"]["kept"], 2, "recent (within the grace) and person (blocked by a person)");

    // A longer grace deletes nobody; without --delete-after block mode deletes nobody.
    let v = plan(&env, "p2.json", &["--on-missing", "block", "--delete-after", "30d", "--now", T]).await;
    assert!(actions(&v).iter().all(|(a, _)| a != "delete_user"), "{:?}", actions(&v));
    let v = plan(&env, "p3.json", &["--on-missing", "block"]).await;
    assert!(actions(&v).iter().all(|(a, _)| a != "delete_user"), "{:?}", actions(&v));

    plan(&env, "p4.json", &["--on-missing", "block", "--delete-after", "7d", "--now", T]).await;
    apply(&env, "p4.json").await;
    assert!(user(&env, "old@acme.example").await.is_none(), "deleted after its grace");
    assert!(user(&env, "recent@acme.example").await.unwrap().blocked, "still in its grace");
    assert!(user(&env, "person@acme.example").await.unwrap().blocked, "a person's block is left alone");
    // The marker says when and why; the namespace's other fields and the rest of
    // app_metadata survive the block and the unblock.
    let fresh = user(&env, "fresh@acme.example").await.unwrap();
    assert!(fresh.blocked);
    let ns = &fresh.app_metadata["auth0_sync"];
    assert_eq!(
        (&ns["blocked"], &ns["reason"], &ns["key"]),
        (&json!(true), &json!("missing from source"), &json!("emp-fresh"))
    );
    assert!(chrono::DateTime::parse_from_rfc3339(ns["blocked_at"].as_str().unwrap()).is_ok(), "{ns}");
    assert_eq!(fresh.app_metadata["cost_centre"], "cc-7");
    let back = user(&env, "back@acme.example").await.unwrap();
    assert!(!back.blocked);
    assert_eq!(back.app_metadata, json!({ "auth0_sync": { "key": "emp-1" }, "cost_centre": "cc-7" }));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_leaver_is_blocked_now_and_deleted_by_a_plan_past_the_grace() {
    let env = tenant(&[("stay@acme.example", false, Value::Null), ("gone@acme.example", false, Value::Null)]).await;
    hr_db(&env.db, &[("stay@acme.example", "viewer")]);
    let v = plan(&env, "p5.json", &["--on-missing", "block", "--delete-after", "7d"]).await;
    assert_eq!(actions(&v), pairs(&[("block_user", "gone@acme.example")]));
    apply(&env, "p5.json").await;
    let now = chrono::Utc::now();
    let at = |days: i64| (now + chrono::Duration::days(days)).to_rfc3339();
    // One day later: within the grace, kept blocked.
    let v = plan(&env, "p6.json", &["--on-missing", "block", "--delete-after", "7d", "--now", &at(1)]).await;
    assert!(actions(&v).is_empty(), "{:?}", actions(&v));
    assert_eq!(v["summary"]["kept"], 1);
    // Eight days later: deleted.
    let v = plan(&env, "p7.json", &["--on-missing", "block", "--delete-after", "7d", "--now", &at(8)]).await;
    assert_eq!(actions(&v), pairs(&[("delete_user", "gone@acme.example")]));
    assert_eq!(v["changes"][0]["before"]["blocked"], true);
    apply(&env, "p7.json").await;
    assert!(user(&env, "gone@acme.example").await.is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn delete_after_needs_block_mode() {
    let env = tenant(&[("stay@acme.example", false, Value::Null)]).await;
    hr_db(&env.db, &[("stay@acme.example", "viewer")]);
    let mut c = env.cmd();
    c.args(["plan", "--delete-after", "7d"]);
    let out = run(c).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("--on-missing block"), "{}", text(&out.stderr));
}

// ---- plan --revoke-sessions ----

const SESSION_SCOPES: [&str; 4] = ["read:sessions", "delete:sessions", "read:refresh_tokens", "delete:refresh_tokens"];

fn two() -> Vec<(&'static str, bool, Value)> {
    vec![("stay@acme.example", false, Value::Null), ("gone@acme.example", false, Value::Null)]
}

#[tokio::test(flavor = "multi_thread")]
async fn blocked_users_sessions_and_refresh_tokens_are_revoked() {
    use auth0_emulator::RevocationKind;
    let env = tenant_with(&two(), &SESSION_SCOPES, Default::default()).await;
    hr_db(&env.db, &[("stay@acme.example", "viewer")]);
    let v = plan(&env, "r1.json", &["--on-missing", "block", "--revoke-sessions"]).await;
    assert_eq!(v["policy"]["revoke_sessions"], true, "the plan says so");
    assert!(env.emulator.revocations().is_empty(), "plan only probes");
    apply(&env, "r1.json").await;
    let gone = user(&env, "gone@acme.example").await.unwrap();
    assert!(gone.blocked);
    let mut got: Vec<(String, bool)> = env
        .emulator
        .revocations()
        .into_iter()
        .map(|r| (r.user_id, matches!(r.kind, RevocationKind::Sessions)))
        .collect();
    got.sort();
    assert_eq!(got, vec![(gone.user_id.clone(), false), (gone.user_id.clone(), true)], "one of each, for gone only");
    // Without the flag nothing is revoked.
    let env = tenant_with(&two(), &SESSION_SCOPES, Default::default()).await;
    hr_db(&env.db, &[("stay@acme.example", "viewer")]);
    let v = plan(&env, "r2.json", &["--on-missing", "block"]).await;
    assert!(v["policy"].get("revoke_sessions").is_none());
    apply(&env, "r2.json").await;
    assert!(env.emulator.revocations().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tenant_that_cannot_revoke_is_refused_at_plan_time() {
    use auth0_emulator::{EmulatorOptions, FeatureAnswer, LifecycleOptions};
    let knobs = [
        ("sessions", FeatureAnswer::OperationNotSupported, FeatureAnswer::Available),
        ("sessions", FeatureAnswer::NotFound, FeatureAnswer::Available),
        ("sessions", FeatureAnswer::InsufficientScope, FeatureAnswer::Available),
        ("refresh-tokens", FeatureAnswer::Available, FeatureAnswer::OperationNotSupported),
        ("refresh-tokens", FeatureAnswer::Available, FeatureAnswer::NotFound),
    ];
    for (endpoint, sessions_api, refresh_tokens_api) in knobs {
        let lifecycle = LifecycleOptions { sessions_api, refresh_tokens_api, ..Default::default() };
        let env = tenant_with(&two(), &SESSION_SCOPES, EmulatorOptions { lifecycle, ..Default::default() }).await;
        hr_db(&env.db, &[("stay@acme.example", "viewer")]);
        let mut c = env.cmd();
        c.args(["plan", "--on-missing", "block", "--revoke-sessions", "--out"]).arg(env.path("p.json"));
        let out = run(c).await;
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{endpoint}: {err}");
        assert!(err.contains("auth0_sync::plan::revocation_unavailable"), "{endpoint}: {err}");
        assert!(err.contains(&format!("/{endpoint}")), "{endpoint}: the endpoint is named: {err}");
        assert!(!env.path("p.json").exists());
        // The same tenant plans without the flag.
        plan(&env, "ok.json", &["--on-missing", "block"]).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn revocation_scopes_are_checked_before_the_first_write() {
    // The probe's read scopes but not the delete ones: plan refuses (as apply would).
    let env = tenant_with(&two(), &["read:sessions", "read:refresh_tokens"], Default::default()).await;
    hr_db(&env.db, &[("stay@acme.example", "viewer")]);
    let mut c = env.cmd();
    c.args(["plan", "--on-missing", "block", "--revoke-sessions", "--out"]).arg(env.path("p.json"));
    let out = run(c).await;
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("delete:sessions") && err.contains("delete:refresh_tokens"), "{err}");
    // Planned with --skip-scope-check, apply refuses before any write.
    let v = plan(&env, "p2.json", &["--on-missing", "block", "--revoke-sessions", "--skip-scope-check"]).await;
    assert_eq!(v["policy"]["revoke_sessions"], true);
    let before = env.emulator.state().await;
    let mut c = env.cmd();
    c.arg("apply").arg(env.path("p2.json"));
    let out = run(c).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("delete:sessions"), "{}", text(&out.stderr));
    assert_eq!(env.emulator.state().await, before);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_block_plan_deletes_only_by_the_recorded_rule_and_only_blocked_users() {
    use auth0_sync::plan::Plan;
    let env = tenant(&[
        ("stay@acme.example", false, Value::Null),
        ("old@acme.example", true, marker("2026-05-20T00:00:00Z")),
    ])
    .await;
    hr_db(&env.db, &[("stay@acme.example", "viewer")]);
    plan(&env, "c.json", &["--on-missing", "block", "--delete-after", "7d", "--now", T]).await;
    let text = std::fs::read_to_string(env.path("c.json")).unwrap();
    let good: Plan = serde_json::from_str(&text).unwrap();
    assert!(Plan::parse("c.json", &text).is_ok());
    assert_eq!(good.changeset.changes.len(), 1);
    assert_eq!(good.changeset.changes[0].action, auth0_sync::plan::Action::DeleteUser);
    let resealed = |edit: &dyn Fn(&mut Plan)| {
        let mut p = good.clone();
        edit(&mut p);
        p.checksum = p.compute_checksum();
        Plan::parse("c.json", &p.to_json_pretty()).is_err()
    };
    // Edited and resealed: a delete in a block plan without the rule, or of a user
    // that was not blocked, contradicts the plan.
    assert!(resealed(&|p| p.policy.delete_after = None));
    assert!(resealed(&|p| p.changeset.changes[0].before.as_mut().unwrap().blocked = false));
    assert!(resealed(&|p| p.policy.on_missing = auth0_sync::plan::OnMissing::Ignore));
    assert!(!resealed(&|_| {}), "resealing alone changes nothing");
}

/// The reviewer sees what the plan records about leavers: the table and the markdown
/// say that leavers past the grace are deleted and that blocks revoke sessions.
#[tokio::test(flavor = "multi_thread")]
async fn the_table_and_markdown_say_how_leavers_are_handled() {
    let env = tenant_with(&two(), &SESSION_SCOPES, Default::default()).await;
    hr_db(&env.db, &[("stay@acme.example", "viewer")]);
    let flags = ["--on-missing", "block", "--delete-after", "7d", "--revoke-sessions"];
    for (format, grace, revoke) in [
        ("table", "--delete-after 7days", "--revoke-sessions"),
        ("markdown", "--delete-after 7days", "--revoke-sessions"),
    ] {
        let mut c = env.cmd();
        c.args(["plan", "--format", format]).args(flags).arg("--out").arg(env.path(&format!("l-{format}.json")));
        let out = run(c).await;
        assert!(out.status.success(), "{}", text(&out.stderr));
        let shown = text(&out.stdout);
        assert!(shown.contains(grace) && shown.contains("are deleted"), "{format}: {shown}");
        assert!(shown.contains(revoke) && shown.contains("stay valid until they expire"), "{format}: {shown}");
    }
    // Without the flags, no such note.
    let mut c = env.cmd();
    c.args(["plan", "--on-missing", "block", "--out"]).arg(env.path("plain.json"));
    let out = run(c).await;
    assert!(out.status.success() && text(&out.stdout).contains("Signature:"), "{}", text(&out.stderr));
    assert!(!text(&out.stdout).contains("--revoke-sessions") && !text(&out.stdout).contains("Two-stage"));
}
