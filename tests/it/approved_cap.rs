//! The deletion cap travels with the plan: a plan made with `--max-deletes 80%`
//! records the cap its reviewer saw, apply checks against that cap without the flag
//! typed again, a higher flag at apply is refused before any request, and a lower one
//! wins. Against the real binary and the emulator.

use crate::common::{CONNECTION, Env, demo_state, run, text};
use serde_json::Value;

/// The demo tenant plus `n` connection users who are not in the source (leavers).
async fn env_with_leavers(n: usize) -> Env {
    let mut state = demo_state();
    let template = state.users.iter().find(|u| u.connection == CONNECTION).unwrap().clone();
    for i in 0..n {
        let mut u = template.clone();
        u.user_id = format!("auth0|leaver{i:04}");
        u.email = Some(format!("leaver{i:04}@acme.example"));
        u.name = Some(format!("Leaver {i}"));
        u.roles.clear();
        state.users.push(u);
    }
    Env::with(state, include_bytes!("../../examples/demo/hr.sqlite")).await
}

fn requests(env: &Env) -> u64 {
    env.emulator.request_counts().values().sum()
}

async fn apply_with(env: &Env, plan: &std::path::Path, flags: &[&str]) -> std::process::Output {
    let mut c = env.cmd();
    c.arg("apply").arg(plan).args(flags);
    run(c).await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_recorded_cap_is_enforced_at_apply_and_may_only_be_lowered() {
    // 8 connection users in the demo (2 of them leave) + 18 leavers: 20 removals of
    // 26 users. The default cap (10) refuses that; 80% (20) allows it.
    let env = env_with_leavers(18).await;
    let path = env.path("plan.json");
    let mut c = env.cmd();
    c.args(["plan", "--out"]).arg(&path);
    let out = run(c).await;
    assert_eq!(out.status.code(), Some(1), "the default cap should refuse 20 removals");
    assert!(text(&out.stderr).contains("auth0_sync::safety::too_many_deletes"), "{}", text(&out.stderr));

    let mut c = env.cmd();
    c.args(["plan", "--max-deletes", "80%", "--out"]).arg(&path);
    let out = run(c).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(v["policy"]["delete_cap"], "80%");
    assert_eq!(v["policy"]["max_deletes"], 20);
    assert_eq!(v["summary"]["delete_user"], 20);
    assert_eq!(v["summary"]["connection_users"], 26);

    // Higher at apply: refused before any request, the tenant untouched.
    for flags in [&["--max-deletes", "90%"][..], &["--max-deletes", "21"], &["--allow-mass-delete"]] {
        let (before, sent) = (env.emulator.state().await, requests(&env));
        let out = apply_with(&env, &path, flags).await;
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{flags:?} should be refused");
        assert!(stderr.contains("auth0_sync::safety::cap_above_approved"), "{flags:?}:\n{stderr}");
        assert!(stderr.contains("80%"), "the recorded cap is named:\n{stderr}");
        assert_eq!(requests(&env), sent, "{flags:?}: a refused apply sent requests");
        assert_eq!(env.emulator.state().await, before);
    }

    // Lower at apply: it wins, and this plan exceeds it.
    let before = env.emulator.state().await;
    let out = apply_with(&env, &path, &["--max-deletes", "5"]).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "a lower cap should refuse 20 removals");
    assert!(stderr.contains("auth0_sync::safety::too_many_deletes"), "{stderr}");
    assert_eq!(env.emulator.state().await, before, "the tenant changed");

    // Equal is fine, and so is no flag at all: the recorded cap applies.
    let out = apply_with(&env, &path, &[]).await;
    assert!(out.status.success(), "apply without the flag failed:\n{}\n{}", text(&out.stdout), text(&out.stderr));
    let state = env.emulator.state().await;
    assert!(!state.users.iter().any(|u| u.email.as_deref().is_some_and(|e| e.starts_with("leaver"))));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_equal_flag_at_apply_is_accepted() {
    let env = env_with_leavers(18).await;
    let path = env.path("plan.json");
    let mut c = env.cmd();
    c.args(["plan", "--max-deletes", "20", "--out"]).arg(&path);
    assert!(run(c).await.status.success());
    let out = apply_with(&env, &path, &["--max-deletes", "80%"]).await;
    assert!(out.status.success(), "80% of 25 is 20, equal to the recorded 20:\n{}", text(&out.stderr));
}
