//! End-to-end CLI runs against the emulator on a random port: plan → apply → plan,
//! and every refusal of `apply`, with the tenant checked untouched after each.

/// Whether the plan table has a change row for `email`.
fn row_for(table: &str, email: &str) -> bool {
    table.lines().any(|l| l.starts_with('│') && l.contains(email))
}

use crate::common::{Env, mode, run, text};

#[tokio::test(flavor = "multi_thread")]
async fn plan_apply_plan_converges() {
    let env = Env::demo().await;
    let plan_path = env.path("plan.json");

    let mut c = env.cmd();
    c.args(["plan", "--detailed-exitcode", "--out"]).arg(&plan_path);
    let out = run(c).await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "stdout: {stdout}\nstderr: {}", text(&out.stderr));
    for needle in
        ["grace@acme.example", "dave@acme.example", "erin@acme.example", "+editor", "-admin", "judy.acme.example"]
    {
        assert!(stdout.contains(needle), "missing {needle} in:\n{stdout}");
    }
    assert!(
        stdout.contains(
            "Ignored (CLIENT_IGNORE_USERS, not in the source, kept): ci-bot@acme.example, kim@auditors.acme.example"
        ),
        "ignored users not shown:\n{stdout}"
    );
    assert!(!row_for(&stdout, "ci-bot@acme.example"), "ignored user has a change:\n{stdout}");
    assert!(!stdout.contains("frank@acme.example"), "other connection listed:\n{stdout}");
    assert_eq!(mode(&plan_path), 0o600);

    let mut c = env.cmd();
    c.arg("apply").arg(&plan_path);
    let out = run(c).await;
    assert!(out.status.success(), "apply failed:\n{}\n{}", text(&out.stdout), text(&out.stderr));
    assert!(text(&out.stdout).contains("4 created"), "{}", text(&out.stdout));

    let mut c = env.cmd();
    c.args(["plan", "--detailed-exitcode", "--out"]).arg(env.path("plan2.json"));
    let out = run(c).await;
    assert_eq!(out.status.code(), Some(0), "{}\n{}", text(&out.stdout), text(&out.stderr));
    assert!(text(&out.stdout).contains("No changes"));

    // The tenant now holds exactly the desired users of the connection, and the
    // ignored and other-connection users are still there.
    let state = env.emulator.state().await;
    let mut emails: Vec<_> = state
        .users
        .iter()
        .filter(|u| u.connection == crate::common::CONNECTION)
        .filter_map(|u| u.email.clone())
        .collect();
    emails.sort();
    assert_eq!(
        emails,
        [
            "alice@acme.example",
            "bob@acme.example",
            "carol@acme.example",
            "ci-bot@acme.example",
            "grace@acme.example",
            "heidi@acme.example",
            "ivan@acme.example",
            "kim@auditors.acme.example",
            "peggy.olsen@acme.example",
            "zoe@acme.example"
        ]
    );
    assert!(state.users.iter().any(|u| u.email.as_deref() == Some("frank@acme.example")));
}

#[tokio::test(flavor = "multi_thread")]
async fn output_formats() {
    let env = Env::demo().await;
    let mut c = env.cmd();
    c.args(["plan", "--format", "json", "--out"]).arg(env.path("p.json"));
    let out = run(c).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let saved: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(env.path("p.json")).unwrap()).unwrap();
    assert_eq!(printed, saved);

    let mut c = env.cmd();
    c.args(["show", "--format", "markdown"]).arg(env.path("p.json"));
    let out = run(c).await;
    assert!(out.status.success());
    assert!(text(&out.stdout).contains("> [!WARNING]"));
}

/// Makes a plan, lets `tamper` edit its text, runs apply, and returns stderr after
/// checking apply failed and the tenant was not touched.
async fn refused(tamper: impl FnOnce(String) -> String, extra_env: &[(&str, &str)]) -> String {
    let env = Env::demo().await;
    let plan_path = env.path("plan.json");
    let mut c = env.cmd();
    c.args(["plan", "--out"]).arg(&plan_path);
    assert!(run(c).await.status.success());
    let before = env.emulator.state().await;

    let edited = tamper(std::fs::read_to_string(&plan_path).unwrap());
    std::fs::write(&plan_path, edited).unwrap();
    let mut c = env.cmd();
    c.arg("apply").arg(&plan_path);
    for (k, v) in extra_env {
        c.env(k, v);
    }
    let out = run(c).await;
    assert_eq!(out.status.code(), Some(1), "apply should refuse: {}", text(&out.stdout));
    assert_eq!(env.emulator.state().await, before, "tenant changed by a refused apply");
    text(&out.stderr)
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_refuses_a_tampered_plan() {
    let err = refused(|t| t.replace("grace@acme.example", "mallory@evil.example"), &[]).await;
    assert!(err.contains("auth0_sync::plan::checksum"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_refuses_an_unknown_format_version() {
    let err = refused(
        |t| t.replace(&format!("\"format_version\": {}", auth0_sync::plan::FORMAT_VERSION), "\"format_version\": 99"),
        &[],
    )
    .await;
    assert!(err.contains("auth0_sync::plan::version"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_refuses_another_tenant() {
    let err = refused(|t| t, &[("AUTH0_URL", "http://127.0.0.1:9")]).await;
    assert!(err.contains("auth0_sync::plan::target_mismatch") && err.contains("tenant"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_refuses_another_connection() {
    let err = refused(|t| t, &[("AUTH0_CONNECTION", "google-oauth2")]).await;
    assert!(err.contains("auth0_sync::plan::target_mismatch") && err.contains("connection"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_refuses_invalid_json_with_a_label() {
    let err = refused(|t| t.replacen('{', "{,", 1), &[]).await;
    assert!(err.contains("auth0_sync::plan::syntax"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_setting_names_the_variable() {
    let env = Env::demo().await;
    let mut c = env.cmd();
    c.env_remove("AUTH0_CLIENT_SECRET").arg("plan");
    let out = run(c).await;
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("AUTH0_CLIENT_SECRET") && err.contains("auth0_sync::settings::missing"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn http_is_refused_for_remote_hosts() {
    let env = Env::demo().await;
    let mut c = env.cmd();
    c.env("AUTH0_URL", "http://acme.auth0.com").arg("plan");
    let out = run(c).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("auth0_sync::settings::invalid"));
}

#[tokio::test(flavor = "multi_thread")]
async fn settings_come_from_an_env_file() {
    let env = Env::demo().await;
    let file = env.path("prod.env");
    std::fs::write(&file, "CLIENT_IGNORE_USERS=dave@acme.example,erin@acme.example\n").unwrap();
    let mut c = env.cmd();
    c.env_remove("CLIENT_IGNORE_USERS").args(["plan", "--out"]).arg(env.path("p.json")).arg("--env-file").arg(&file);
    let out = run(c).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(!row_for(&stdout, "dave@acme.example") && !row_for(&stdout, "erin@acme.example"), "{stdout}");
    assert!(row_for(&stdout, "ci-bot@acme.example"), "ci-bot is no longer ignored, so it is deleted:\n{stdout}");
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_roles_are_listed() {
    let mut state = crate::common::demo_state();
    crate::common::remove_roles(&mut state, &["billing", "editor"]);
    let env = Env::with(state, include_bytes!("../../examples/demo/hr.sqlite")).await;
    let mut c = env.cmd();
    c.arg("plan");
    let out = run(c).await;
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(err.contains("billing") && err.contains("editor") && err.contains("unknown_roles"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_client_secret_is_a_token_diagnostic_without_the_secret() {
    let env = Env::demo().await;
    let mut c = env.cmd();
    c.env("AUTH0_CLIENT_SECRET", "wrong-secret-XYZZY-123").arg("plan");
    let out = run(c).await;
    assert_eq!(out.status.code(), Some(1));
    let all = text(&out.stderr) + &text(&out.stdout);
    assert!(all.contains("auth0_sync::auth0::token"), "{all}");
    assert!(!all.contains("XYZZY"), "secret leaked: {all}");
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_refuses_to_overwrite_without_the_flag() {
    let env = Env::demo().await;
    let p = env.path("p.json");
    std::fs::write(&p, "keep me").unwrap();
    let mut c = env.cmd();
    c.args(["plan", "--out"]).arg(&p);
    let out = run(c).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("auth0_sync::plan::exists"));
    assert_eq!(std::fs::read_to_string(&p).unwrap(), "keep me");
}

#[test]
fn demo_command_runs_and_converges() {
    let repo_files = ["examples/demo/hr.sqlite", "examples/demo/tenant.json"];
    let before: Vec<Vec<u8>> = repo_files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    let out = assert_cmd::Command::cargo_bin("auth0-sync").unwrap().env("NO_COLOR", "1").arg("demo").output().unwrap();
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(stdout.contains("Step 3") && stdout.contains("No changes"), "{stdout}");
    assert!(stdout.contains("4 created") && stdout.contains("2 deleted"), "{stdout}");
    // #13: the three new actions are shown and made; the second plan is empty.
    for row in [
        "┆ update email ┆ peggy.olsen@acme.example",
        "┆ adopt        ┆ bob@acme.example",
        "┆ set profile  ┆ carol@acme.example",
    ] {
        assert!(stdout.contains(row), "{row}: {stdout}");
    }
    assert!(stdout.contains("polsen@acme.example → peggy.olsen@acme.example"), "{stdout}");
    assert!(stdout.contains("family_name: \"Dias\" → \"Diaz\""), "{stdout}");
    assert!(stdout.contains("1 email(s) changed, 1 adopted, 1 profile(s) updated"), "{stdout}");
    let step3 = &stdout[stdout.find("Step 3").unwrap()..];
    assert!(step3.contains("No changes") && !step3.contains("┆ update email ┆"), "{step3}");
    let after: Vec<Vec<u8>> = repo_files.iter().map(|f| std::fs::read(f).unwrap()).collect();
    assert_eq!(before, after, "demo changed the repo's files");
}

#[test]
fn emulator_binary_prints_its_address_and_saves_on_sigterm() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("tenant.json");
    std::fs::copy("examples/demo/tenant.json", &state).unwrap();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("auth0-sync"))
        .args(["emulator", "--listen", "127.0.0.1:0", "--state"])
        .arg(&state)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    let url = first.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("first line: {first:?}")).to_owned();
    assert!(url.starts_with("http://127.0.0.1:") && !url.ends_with(":0"), "{url}");
    // It answers on that address like Auth0 does: 401 without a token.
    let status = reqwest::blocking::get(format!("{url}/api/v2/users")).map(|r| r.status().as_u16());
    let _ = std::fs::write(&state, "{}"); // overwritten by the save on SIGTERM
    std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    let exit = child.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
    assert_eq!(status.ok(), Some(401));
    let saved: auth0_emulator::TenantState = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert_eq!(saved.users.len(), 9, "state was not saved back");
}

#[tokio::test(flavor = "multi_thread")]
async fn three_bad_settings_are_reported_at_once_by_every_verb() {
    let env = Env::demo().await;
    for verb in [&["plan"][..], &["apply", "p.json"], &["check"]] {
        let mut c = env.cmd();
        c.env("AUTH0_URL", "ftp://acme.auth0.com")
            .env("AUTH0_RATE_BURST", "many")
            .env_remove("AUTH0_CLIENT_SECRET")
            .args(verb);
        let out = run(c).await;
        assert_eq!(out.status.code(), Some(1), "{verb:?}");
        let err = text(&out.stderr);
        assert!(
            err.contains("3 settings are missing or invalid: AUTH0_URL, AUTH0_CLIENT_SECRET, AUTH0_RATE_BURST"),
            "{verb:?}: {err}"
        );
        for code in ["auth0_sync::settings::several", "auth0_sync::settings::invalid", "auth0_sync::settings::missing"]
        {
            assert!(err.contains(code), "{verb:?}: no {code} in {err}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn diagnostics_keep_flags_and_names_whole() {
    let env = Env::demo().await;
    let mut c = env.cmd();
    c.env_remove("AUTH0_CONNECTION").arg("plan");
    let out = run(c).await;
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(err.contains("Username-Password-Authentication"), "split across lines: {err}");
    let split =
        |l: &&str| l.trim_end().strip_suffix('-').is_some_and(|r| r.ends_with(|c: char| c.is_ascii_alphanumeric()));
    assert!(!err.lines().any(|l| split(&l)), "a word split at a hyphen: {err}");
}
