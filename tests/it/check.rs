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
        "11 rows, 8 distinct users, 4 distinct roles",
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

/// Replaces the HR table of `db` with these (email, role) rows, all active.
pub fn hr_db(db: &std::path::Path, rows: &[(&str, &str)]) {
    let _ = std::fs::remove_file(db);
    let c = rusqlite::Connection::open(db).unwrap();
    c.execute_batch(
        "CREATE TABLE employees(employee_id TEXT, email TEXT, role TEXT, name TEXT, given_name TEXT, family_name TEXT, department TEXT, active INTEGER)",
    )
    .unwrap();
    for (e, r) in rows {
        c.execute("INSERT INTO employees VALUES (NULL, ?1, ?2, NULL, NULL, NULL, NULL, 1)", [e, r]).unwrap();
    }
}

/// `check`'s and `plan`'s exit codes and outputs with the same settings.
async fn check_and_plan(env: &Env, extra: &[&str]) -> ((Option<i32>, String), (Option<i32>, String)) {
    let mut c = env.cmd();
    c.arg("check").args(extra);
    let check = run(c).await;
    let mut c = env.cmd();
    c.args(["plan", "--overwrite", "--out"]).arg(env.path("p.json")).args(extra);
    let plan = run(c).await;
    ((check.status.code(), text(&check.stdout) + &text(&check.stderr)), (plan.status.code(), text(&plan.stderr)))
}

#[tokio::test(flavor = "multi_thread")]
async fn check_predicts_plan_on_the_demo() {
    let env = Env::demo().await;
    let ((code, out), (plan_code, _)) = check_and_plan(&env, &[]).await;
    assert_eq!((code, plan_code), (Some(0), Some(0)), "{out}");
    assert!(out.contains("would plan: Plan: 4 to create, 0 to unblock, 2 to update"), "{out}");
    assert!(out.contains("row 9: \"judy.acme.example\" is not a valid email address"), "{out}");
    assert!(out.contains("warn") && !out.contains("FAIL"), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn check_fails_where_plan_refuses_an_all_invalid_source() {
    let env = Env::demo().await;
    let rows: Vec<String> = (1..=12).map(|i| format!("user{i}.acme.example")).collect();
    hr_db(&env.db, &rows.iter().map(|e| (e.as_str(), "viewer")).collect::<Vec<_>>());
    let ((code, out), (plan_code, plan_err)) = check_and_plan(&env, &[]).await;
    assert_eq!(plan_code, Some(1), "{plan_err}");
    assert!(plan_err.contains("auth0_sync::safety::empty_source"), "{plan_err}");
    assert_eq!(code, Some(1), "check passed a source plan refuses:\n{out}");
    assert!(out.contains("12 warning(s)") && out.contains("none of the 12 rows is usable"), "{out}");
    assert!(out.contains("row 1: \"user1.acme.example\"") && out.contains("row 3:"), "{out}");
    assert!(!out.contains("row 4:") && out.contains("(and 9 more)"), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn check_flags_emails_auth0_refuses() {
    let env = Env::demo().await;
    hr_db(
        &env.db,
        &[("alice@acme.example", "admin"), ("<carol@acme.example>", "viewer"), ("dot.@acme.example", "viewer")],
    );
    let mut c = env.cmd();
    c.args(["check", "--on-missing", "ignore"]);
    let o = run(c).await;
    let out = text(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}{}", text(&o.stderr));
    assert!(out.contains("2 warning(s)"), "{out}");
    assert!(out.contains("row 2: \"<carol@acme.example>\" is not a valid email address"), "{out}");
    assert!(out.contains("row 3: \"dot.@acme.example\" is not a valid email address"), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn check_suggests_a_role_that_differs_only_in_case() {
    let env = Env::demo().await;
    hr_db(&env.db, &[("alice@acme.example", "Billing"), ("bob@acme.example", "viewer")]);
    let ((code, out), (plan_code, plan_err)) = check_and_plan(&env, &["--on-missing", "ignore"]).await;
    assert_eq!(plan_code, Some(1));
    assert!(plan_err.contains("unknown_roles"), "{plan_err}");
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("not in the tenant: Billing (did you mean billing?)"), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn check_reports_the_removal_cap_the_tenant_would_trip() {
    let env = Env::demo().await;
    let ((code, out), (plan_code, plan_err)) = check_and_plan(&env, &["--max-deletes", "1"]).await;
    assert_eq!(plan_code, Some(1));
    assert!(plan_err.contains("auth0_sync::safety::too_many_deletes"), "{plan_err}");
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("deletes 2 of the connection's 8 users, more than the cap of 1 (--max-deletes)"), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn check_reports_every_bad_setting_at_once_like_plan() {
    let env = Env::demo().await;
    let mut c = env.cmd();
    c.env("AUTH0_URL", "ftp://acme.auth0.com")
        .env("AUTH0_MAX_RETRIES", "lots")
        .env_remove("USERS_DB_QUERY")
        .arg("check");
    let o = run(c).await;
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1));
    assert!(err.contains("auth0_sync::settings::several"), "{err}");
    assert!(err.contains("AUTH0_URL") && err.contains("AUTH0_MAX_RETRIES") && err.contains("USERS_DB_QUERY"), "{err}");
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
