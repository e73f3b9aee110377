//! `auth0-sync check` against the SQLite demo table and the emulator.

use crate::common::{Env, run, text};

#[tokio::test(flavor = "multi_thread")]
async fn all_checks_pass_on_the_demo_setup() {
    let env = Env::demo().await;
    let mut c = env.cmd();
    c.arg("check");
    let out = run(c).await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{}", text(&out.stderr));
    for needle in [
        "source reachable",
        "query runs",
        "10 rows, 7 distinct users, 4 distinct roles",
        "token obtained",
        "scopes",
        "connection exists",
        "roles exist",
    ] {
        assert!(stdout.contains(needle), "missing {needle:?} in\n{stdout}");
    }
    assert!(!stdout.contains("FAIL"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread")]
async fn each_failure_is_reported_and_exits_1() {
    let mut state = crate::common::demo_state();
    state.clients[0].scopes.retain(|s| s != "delete:users" && s != "update:users");
    crate::common::remove_roles(&mut state, &["billing"]);
    let env = Env::with(state, include_bytes!("../../examples/demo/hr.sqlite")).await;
    let mut c = env.cmd();
    c.env("AUTH0_CONNECTION", "No-Such-Connection").arg("check");
    let out = run(c).await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    // update:users: blocks and unblocks (an apply may unblock in any mode).
    assert!(stdout.contains("missing: update:users delete:users"), "{stdout}");
    assert!(stdout.contains("no connection named \"No-Such-Connection\""), "{stdout}");
    assert!(stdout.contains("not in the tenant: billing"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_credentials_and_bad_query_fail_without_leaking_the_secret() {
    let env = Env::demo().await;
    let mut c = env.cmd();
    c.env("AUTH0_CLIENT_SECRET", "SEKRET-check-4711").env("USERS_DB_QUERY", "SELECT nope FROM employees").arg("check");
    let out = run(c).await;
    let all = text(&out.stdout) + &text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("source query") && all.contains("token obtained") && all.contains("skip"), "{all}");
    assert!(!all.contains("SEKRET-check-4711"), "{all}");
}

/// The `invitations` row checks what `apply --invite` checks before its first write.
#[tokio::test(flavor = "multi_thread")]
async fn the_invitations_row_checks_what_apply_will_need() {
    let env = Env::demo().await;
    let check = |vars: &[(&str, &str)]| {
        let mut c = env.cmd();
        c.arg("check").envs(vars.iter().copied());
        run(c)
    };
    let row = |out: &std::process::Output| {
        let stdout = text(&out.stdout);
        stdout.lines().find(|l| l.contains("invitations")).map(str::to_owned).unwrap_or_else(|| panic!("{stdout}"))
    };
    let out = check(&[]).await;
    assert!(row(&out).contains("ok") && row(&out).contains("off"), "{}", row(&out));
    let out = check(&[("AUTH0_INVITE", "email"), ("AUTH0_INVITE_CLIENT_ID", "demo-login-app")]).await;
    assert_eq!(out.status.code(), Some(0), "{}", row(&out));
    assert!(row(&out).contains("demo-login-app"), "{}", row(&out));
    let out = check(&[("AUTH0_INVITE", "email"), ("AUTH0_INVITE_CLIENT_ID", "demo-m2m-client")]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(row(&out).contains("FAIL") && row(&out).contains("does not have"), "{}", row(&out));
    let out = check(&[("AUTH0_INVITE", "email")]).await;
    assert!(row(&out).contains("FAIL") && row(&out).contains("AUTH0_INVITE_CLIENT_ID"), "{}", row(&out));
    let out = check(&[("AUTH0_INVITE", "ticket"), ("AUTH0_INVITE_COMMAND", "true --fast")]).await;
    assert_eq!(out.status.code(), Some(0), "{}", row(&out));
    assert!(row(&out).contains("delivered by true") && !row(&out).contains("--fast"), "{}", row(&out));
    let out = check(&[("AUTH0_INVITE", "ticket"), ("AUTH0_INVITE_COMMAND", "/nonexistent/send-welcome")]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(row(&out).contains("FAIL") && row(&out).contains("cannot be run"), "{}", row(&out));

    let mut state = crate::common::demo_state();
    state.clients[0].scopes.retain(|s| s != "create:user_tickets");
    let env = Env::with(state, include_bytes!("../../examples/demo/hr.sqlite")).await;
    let mut c = env.cmd();
    c.arg("check").envs([("AUTH0_INVITE", "ticket"), ("AUTH0_INVITE_COMMAND", "true")]);
    let out = run(c).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(row(&out).contains("FAIL") && row(&out).contains("create:user_tickets"), "{}", row(&out));
}
