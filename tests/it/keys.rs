//! #13 through the CLI against the emulator: the HR key, adoption, renames that keep
//! the user, profile and `app_metadata` sync, the namespace kept across block and
//! unblock, Auth0's refusal of a taken address, and drift of a synced field.

use crate::common::{Admin, CONNECTION, Env, QUERY, apply_outcomes, run, text};
use auth0_emulator::{EmailKind, state::StateUser};
use reqwest::Method;
use serde_json::json;
use std::path::{Path, PathBuf};

const PEGGY: &str = "auth0|64a000000000000000000118";
const CAROL: &str = "auth0|64a0000000000000000000c3";
const BOB: &str = "auth0|64a0000000000000000000b2";

async fn plan(env: &Env, name: &str, args: &[&str]) -> (PathBuf, std::process::Output) {
    let path = env.path(name);
    let mut c = env.cmd();
    c.args(["plan", "--format", "json", "--out"]).arg(&path).args(args);
    (path.clone(), run(c).await)
}

async fn apply(env: &Env, plan: &Path, args: &[&str]) -> std::process::Output {
    let mut c = env.cmd();
    c.arg("apply").arg(plan).args(["--format", "json"]).args(args);
    run(c).await
}

async fn user(env: &Env, id: &str) -> StateUser {
    env.emulator.state().await.users.into_iter().find(|u| u.user_id == id).expect("user")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_renamed_user_keeps_its_id_roles_metadata_and_user_metadata() {
    let env = Env::demo().await;
    let before = user(&env, PEGGY).await;
    let (p, out) = plan(&env, "plan.json", &[]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let planned: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
    let rename = planned["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["action"] == "update_email")
        .expect("an update_email change")
        .clone();
    assert_eq!(rename["user"]["user_id"], PEGGY);
    assert_eq!(rename["before"]["email"], "polsen@acme.example");
    assert_eq!(rename["after"]["email"], "peggy.olsen@acme.example");
    assert_eq!((&rename["after"]["email_verified"], &rename["after"]["verify_email"]), (&json!(false), &json!(true)));

    let out = apply(&env, &p, &[]).await;
    let ctx = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{ctx}");
    let state = env.emulator.state().await;
    assert_eq!(state.users.iter().filter(|u| u.email.as_deref() == Some("peggy.olsen@acme.example")).count(), 1);
    assert!(state.users.iter().all(|u| u.email.as_deref() != Some("polsen@acme.example")));
    let after = user(&env, PEGGY).await;
    assert_eq!(after.email.as_deref(), Some("peggy.olsen@acme.example"));
    assert!(!after.email_verified, "a new address is unverified until its owner follows the link");
    assert_eq!(after.roles, before.roles);
    assert_eq!(after.user_metadata, before.user_metadata);
    assert_eq!(after.user_metadata, json!({"theme": "dark"}));
    assert_eq!(after.app_metadata, json!({"auth0_sync": {"key": "E011"}, "department": "Marketing", "badge": "B-118"}));
    assert_eq!(after.created_at, before.created_at);
    let mails = env.emulator.emails();
    let verify: Vec<&str> = mails.iter().filter(|m| m.kind == EmailKind::Verification).map(|m| m.to.as_str()).collect();
    assert_eq!(verify, ["peggy.olsen@acme.example"]);

    // Bob (no key in the tenant) is adopted: the key written, his other keys kept.
    let bob = user(&env, BOB).await;
    assert_eq!(bob.app_metadata, json!({"auth0_sync": {"key": "E002"}, "department": "Content"}));
    // Carol's family name is fixed, nothing else of hers touched.
    let carol = user(&env, CAROL).await;
    assert_eq!((carol.family_name.as_deref(), carol.name.as_deref()), (Some("Diaz"), Some("Carol Diaz")));
    assert_eq!(carol.app_metadata, json!({"auth0_sync": {"key": "E003"}, "department": "Finance"}));

    // Converged: the next plan is empty.
    let (_, out) = plan(&env, "again.json", &[]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let again: serde_json::Value = serde_json::from_slice(&std::fs::read(env.path("again.json")).unwrap()).unwrap();
    assert_eq!(again["changes"], json!([]), "{again}");
}

#[tokio::test(flavor = "multi_thread")]
async fn block_then_unblock_keeps_the_key_in_the_namespace() {
    let env = Env::demo().await;
    let without_carol = format!("{QUERY} AND email <> 'carol@acme.example'");
    let path = env.path("block.json");
    let mut c = env.cmd();
    c.env("USERS_DB_QUERY", &without_carol)
        .args(["plan", "--on-missing", "block", "--allow-mass-delete", "--out"])
        .arg(&path);
    let out = run(c).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = apply(&env, &path, &[]).await;
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
    let carol = user(&env, CAROL).await;
    assert!(carol.blocked);
    // The block marker of two-stage leaving (#14) beside the key.
    let ns = &carol.app_metadata["auth0_sync"];
    assert_eq!(
        (&ns["key"], &ns["blocked"], &ns["reason"]),
        (&json!("E003"), &json!(true), &json!("missing from source"))
    );
    assert!(ns["blocked_at"].as_str().is_some_and(|t| t.ends_with('Z')), "{ns}");
    assert_eq!(ns.as_object().unwrap().len(), 4, "{ns}");
    assert_eq!(carol.app_metadata["department"], "Finance");

    // Back in the source: unblocked, and the namespace keeps the key (no `null`).
    let (p, out) = plan(&env, "unblock.json", &["--on-missing", "block"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = apply(&env, &p, &[]).await;
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
    let carol = user(&env, CAROL).await;
    assert!(!carol.blocked);
    assert_eq!(carol.app_metadata, json!({"auth0_sync": {"key": "E003"}, "department": "Finance"}));
    // And she is not adopted again: the key held.
    let (_, out) = plan(&env, "again.json", &["--on-missing", "block"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let again: serde_json::Value = serde_json::from_slice(&std::fs::read(env.path("again.json")).unwrap()).unwrap();
    let carol_changes: Vec<_> =
        again["changes"].as_array().unwrap().iter().filter(|c| c["user"]["email"] == "carol@acme.example").collect();
    assert!(carol_changes.is_empty(), "{carol_changes:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn auth0_refusing_the_new_address_is_a_failed_change_with_its_message() {
    let env = Env::demo().await;
    let (p, out) = plan(&env, "plan.json", &[]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Someone takes Peggy's new address in the dashboard after the plan.
    let admin = Admin::new(&env).await;
    let body = json!({"connection": CONNECTION, "email": "peggy.olsen@acme.example", "password": "Dashboard-made-1!"});
    assert!(admin.send(Method::POST, "users", body).await.is_success());
    let out = apply(&env, &p, &[]).await;
    let ctx = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{ctx}");
    let (outcomes, failed) = apply_outcomes(&out);
    assert_eq!(failed.len(), 1, "{ctx}");
    let peggy = outcomes.iter().find(|o| o["email"] == "peggy.olsen@acme.example").expect("peggy's outcome");
    assert_eq!(peggy["action"], "update_email", "{ctx}");
    assert_eq!(peggy["status"], "failed", "{ctx}");
    assert_eq!(peggy["error"]["status"], 400, "{ctx}");
    assert!(peggy["error"]["message"].as_str().unwrap().contains("The specified new email already exists"), "{ctx}");
    // Peggy is untouched; the rest of the plan went through.
    let after = user(&env, PEGGY).await;
    assert_eq!(after.email.as_deref(), Some("polsen@acme.example"));
    assert_eq!(user(&env, CAROL).await.family_name.as_deref(), Some("Diaz"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_synced_field_changed_in_auth0_since_the_plan_is_drift() {
    let env = Env::demo().await;
    let (p, out) = plan(&env, "plan.json", &[]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    // The plan changes Carol's family name Dias → Diaz; someone sets a third value.
    let admin = Admin::new(&env).await;
    let path = format!("users/{}", CAROL.replace('|', "%7C"));
    assert!(admin.send(Method::PATCH, &path, json!({"family_name": "Dias-Smith"})).await.is_success());
    let before = env.emulator.state().await;
    let out = apply(&env, &p, &[]).await;
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("auth0_sync::apply::drift") && err.contains("1 change(s)"), "{err}");
    assert!(err.contains("carol@acme.example") && err.contains("Dias-Smith"), "{err}");
    assert_eq!(env.emulator.state().await, before, "a refused apply changed the tenant");
    // With --skip-drifted the rest goes through and Carol keeps the newer value.
    let out = apply(&env, &p, &["--skip-drifted"]).await;
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(user(&env, CAROL).await.family_name.as_deref(), Some("Dias-Smith"));
    assert_eq!(user(&env, PEGGY).await.email.as_deref(), Some("peggy.olsen@acme.example"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_authority_entry_is_refused_before_anything_is_read() {
    let env = Env::demo().await;
    let mut c = env.cmd();
    c.env("AUTH0_FIELD_AUTHORITY", "given_name=sometimes,email=force").env("AUTH0_ON_NULL", "drop");
    c.args(["plan", "--out"]).arg(env.path("p.json"));
    let out = run(c).await;
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("auth0_sync::settings::several"), "{err}");
    // Every problem at once, each saying what is wrong and what to do.
    assert!(err.contains("AUTH0_FIELD_AUTHORITY") && err.contains("sometimes") && err.contains("\"email\""), "{err}");
    assert!(err.contains("create_only") && err.contains("AUTH0_ON_NULL"), "{err}");
    assert!(!env.path("p.json").exists());
    assert!(env.emulator.request_counts().keys().all(|k| !k.contains("/api/v2/users")), "no tenant read");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_key_column_is_configurable_and_authority_and_null_rules_apply() {
    let env = Env::demo().await;
    // The key under another column name (matched without regard to case); names are
    // create_only, and the department is cleared where HR has none (nobody here).
    let query = "SELECT employee_id AS Staff_No, email, role, name, given_name, family_name, department AS \"app_metadata.department\" FROM employees WHERE active = 1";
    let mut c = env.cmd();
    c.env("USERS_DB_QUERY", query)
        .env("USERS_KEY_COLUMN", "staff_no")
        .env("AUTH0_FIELD_AUTHORITY", "name=create_only,family_name=create_only")
        .env("AUTH0_ON_NULL", "clear")
        .args(["plan", "--format", "json", "--out"])
        .arg(env.path("p.json"));
    let out = run(c).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&std::fs::read(env.path("p.json")).unwrap()).unwrap();
    let actions: Vec<(&str, &str)> = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["action"].as_str().unwrap(), c["user"]["email"].as_str().unwrap()))
        .collect();
    assert!(actions.contains(&("update_email", "peggy.olsen@acme.example")), "{actions:?}");
    assert!(actions.contains(&("adopt_user", "bob@acme.example")), "{actions:?}");
    // Carol's name fix is create_only now: left to Auth0.
    assert!(!actions.contains(&("update_profile", "carol@acme.example")), "{actions:?}");
    assert_eq!(plan["source"]["key_column"], "Staff_No");
    assert_eq!(plan["policy"]["on_null"], "clear");
    assert_eq!(plan["policy"]["field_authority"], json!({"family_name": "create_only", "name": "create_only"}));
}
