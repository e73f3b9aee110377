//! No secret ever reaches output, logs, plans or journals: the client secret, a wrong
//! secret from a failing login, every access token the tenant issued, and every
//! generated password the tenant received (the emulator's test witness records them).

use crate::common::{Env, run, text};
use auth0_emulator::EmulatorOptions;

const CLIENT_SECRET: &str = "client-secret-WITNESS-7f3a9c";
const WRONG_SECRET: &str = "wrong-secret-WITNESS-b81d2e";

#[tokio::test(flavor = "multi_thread")]
async fn no_secret_in_output_logs_plans_or_journals() {
    let mut state = crate::common::demo_state();
    state.clients[0].client_secret = CLIENT_SECRET.into();
    let opts = EmulatorOptions { witness_secrets: true, ..Default::default() };
    let env = Env::with_options(state, include_bytes!("../../examples/demo/hr.sqlite"), opts).await;
    let mut seen = String::new();
    let go = |args: &[&str], extra: &[(&str, &str)]| {
        let mut c = env.cmd();
        c.args(args);
        for (k, v) in extra {
            c.env(k, v);
        }
        c
    };
    let plan = env.path("plan.json");
    let plan_s = plan.to_str().unwrap();
    let runs = [
        go(&["check", "-vv"], &[]),
        go(&["plan", "-vv", "--out", plan_s], &[]),
        go(&["apply", "-vv", "--log-format", "json", plan_s], &[]),
        go(&["plan", "-vv", "--format", "json", "--out", env.path("plan2.json").to_str().unwrap()], &[]),
        go(&["plan", "-vv"], &[("AUTH0_CLIENT_SECRET", WRONG_SECRET)]),
        go(&["check", "-vv"], &[("AUTH0_CLIENT_SECRET", WRONG_SECRET)]),
        go(&["apply", "-vv", plan_s], &[("AUTH0_CLIENT_SECRET", WRONG_SECRET)]),
    ];
    let mut codes = Vec::new();
    for c in runs {
        let out = run(c).await;
        codes.push(out.status.code());
        seen += &text(&out.stdout);
        seen += &text(&out.stderr);
    }
    assert_eq!(codes, [Some(0), Some(0), Some(0), Some(0), Some(1), Some(1), Some(1)], "{seen}");
    assert!(seen.contains("change applied"), "-vv should log each applied change:\n{seen}");
    for f in [plan.clone(), env.path("plan2.json"), auth0_sync::apply::journal::path_for(&plan)] {
        seen += &std::fs::read_to_string(&f).unwrap();
    }

    let witnessed = env.emulator.secrets_seen();
    let passwords = witnessed.iter().filter(|s| s.len() == 32).count();
    assert!(witnessed.len() >= 8 && passwords >= 4, "the witness saw too little: {} secrets", witnessed.len());
    for secret in witnessed.iter().map(String::as_str).chain([CLIENT_SECRET, WRONG_SECRET]) {
        assert!(!seen.contains(secret), "a secret leaked ({} chars)", secret.len());
    }
}

#[test]
fn debug_of_settings_redacts_secrets() {
    let tenant = auth0_sync::settings::TenantArgs {
        auth0_url: Some("https://acme.auth0.com".into()),
        auth0_client_id: Some("id".into()),
        auth0_client_secret: Some(CLIENT_SECRET.into()),
        ..Default::default()
    };
    let source = auth0_sync::settings::SourceArgs {
        mssql_server: Some("db".into()),
        mssql_password: Some("db-password-WITNESS".into()),
        mssql_connection_string: Some("server=db;password=cs-WITNESS".into()),
        ..Default::default()
    };
    let all = format!("{tenant:?} {source:?} {:?} {:?}", tenant.auth0().unwrap(), source.mssql().unwrap());
    assert!(!all.contains("WITNESS"), "{all}");
}

/// Password-change tickets are bearer secrets: apply with `--invite ticket` (a
/// delivery that works, then one that fails), `auth0-sync invite` and `check`, all at
/// `-vv`, never print, log, plan or journal one (the emulator witnesses every ticket
/// URL and its secret part).
#[tokio::test(flavor = "multi_thread")]
async fn no_ticket_in_output_logs_plans_or_journals() {
    let opts = EmulatorOptions { witness_secrets: true, ..Default::default() };
    let env =
        Env::with_options(crate::common::demo_state(), include_bytes!("../../examples/demo/hr.sqlite"), opts).await;
    // The delivery keeps the tickets outside what is checked (it is the one place a
    // ticket is meant to go).
    let outside = tempfile::tempdir().unwrap();
    let delivered = outside.path().join("delivered.ndjson");
    let deliver = format!("sh -c 'cat >> \"$0\"' {}", delivered.display());
    let plan = env.path("plan.json");
    let plan_s = plan.to_str().unwrap();
    let failing = env.path("failing.json");
    let ticket = [("AUTH0_INVITE", "ticket"), ("AUTH0_INVITE_COMMAND", deliver.as_str())];
    let mut seen = String::new();
    let mut codes = Vec::new();
    type Vars<'a> = Vec<(&'a str, &'a str)>;
    let steps: Vec<(Vec<&str>, Vars)> = vec![
        (vec!["plan", "-vv", "--out", plan_s], vec![]),
        (vec!["check", "-vv"], ticket.to_vec()),
        (vec!["apply", "-vv", "--log-format", "json", plan_s], ticket.to_vec()),
        (vec!["invite", "-vv", "--format", "json", "alice@acme.example", "grace@acme.example"], ticket.to_vec()),
        (vec!["invite", "-vv", "bob@acme.example"], ticket.to_vec()),
    ];
    for (args, vars) in steps {
        let mut c = env.cmd();
        c.args(&args).envs(vars);
        let out = run(c).await;
        codes.push(out.status.code());
        seen += &text(&out.stdout);
        seen += &text(&out.stderr);
    }
    // A delivery that fails, on the same tenant afresh (the plan creates users again).
    env.emulator.reset(crate::common::demo_state()).unwrap();
    let mut c = env.cmd();
    c.args(["plan", "-vv", "--out", failing.to_str().unwrap()]);
    let out = run(c).await;
    codes.push(out.status.code());
    let mut c = env.cmd();
    c.args(["apply", "-vv", failing.to_str().unwrap()])
        .envs([("AUTH0_INVITE", "ticket"), ("AUTH0_INVITE_COMMAND", "false")]);
    let out = run(c).await;
    codes.push(out.status.code());
    seen += &text(&out.stdout);
    seen += &text(&out.stderr);
    assert_eq!(codes, [Some(0), Some(0), Some(0), Some(0), Some(0), Some(0), Some(1)], "{seen}");
    for f in [plan.clone(), failing.clone()] {
        seen += &std::fs::read_to_string(&f).unwrap();
        seen += &std::fs::read_to_string(auth0_sync::apply::journal::path_for(&f)).unwrap();
    }
    assert!(seen.contains("ticket_delivered") && seen.contains("invite_failed"), "{seen}");

    // 4 created, 3 re-sent, 4 created again whose delivery failed.
    let tickets: Vec<String> = env.emulator.tickets().into_iter().map(|t| t.url).collect();
    assert_eq!(tickets.len(), 4 + 3 + 4, "tickets issued");
    let witnessed = env.emulator.secrets_seen();
    assert!(tickets.iter().all(|t| witnessed.contains(t)), "the witness saw every ticket");
    let delivered = std::fs::read_to_string(&delivered).unwrap();
    assert_eq!(tickets.iter().filter(|t| delivered.contains(t.as_str())).count(), 4 + 3, "they reached the delivery");
    for secret in &witnessed {
        assert!(!seen.contains(secret.as_str()), "a secret leaked ({} chars)", secret.len());
    }
    assert!(!seen.contains("reset-password?ticket="), "a ticket URL leaked");
}
