//! End to end with SQL Server as the source: Microsoft's TDS mock (real TDS through
//! tiberius) + the Auth0 emulator → `plan` → `apply` → `plan` shows no changes. Also
//! checks that the DB password and the client secret never reach any output or file.

use crate::common::{Env, run, text};
use crate::mock_sql::{MockSql, PASSWORD};

const QUERY: &str = "SELECT Email, Roles, Name FROM dbo.Staff WHERE Active = 1";

#[tokio::test(flavor = "multi_thread")]
async fn sql_server_plan_apply_plan() {
    let sql = MockSql::start().await;
    sql.register_text(
        QUERY,
        &["Email", "Roles", "Name"],
        &[
            vec![Some("alice@acme.example"), Some("admin"), Some("Alice Martin")],
            vec![Some("bob@acme.example"), Some("editor, viewer"), Some("Bob Chen")],
            vec![Some("carol@acme.example"), Some("billing"), None],
            vec![Some("ci-bot@acme.example"), None, None],
            vec![Some("renée@acme.example"), Some("viewer"), Some("Renée Ångström")],
        ],
    )
    .await;
    let env = Env::demo().await;
    let cmd = || {
        let mut c = env.cmd();
        c.env_remove("USERS_DB_URL")
            .env("USERS_DB_QUERY", QUERY)
            .env("MSSQL_SERVER", sql.addr.ip().to_string())
            .env("MSSQL_PORT", sql.addr.port().to_string())
            .env("MSSQL_DATABASE", "hr")
            .env("MSSQL_USERNAME", "sync")
            .env("MSSQL_PASSWORD", PASSWORD)
            .env("MSSQL_ENCRYPT", "off");
        c
    };
    let plan = env.path("plan.json");
    let mut c = cmd();
    c.args(["plan", "--detailed-exitcode", "--out"]).arg(&plan);
    let out = run(c).await;
    let mut seen = text(&out.stdout) + &text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{seen}");
    assert!(seen.contains("mssql") && seen.contains("renée@acme.example"), "{seen}");
    assert!(seen.contains("not encrypted") || seen.contains("warning"), "plaintext mode must be announced: {seen}");

    let mut c = cmd();
    c.arg("apply").arg(&plan);
    let out = run(c).await;
    seen += &(text(&out.stdout) + &text(&out.stderr));
    assert!(out.status.success(), "{seen}");

    let mut c = cmd();
    c.args(["plan", "--detailed-exitcode", "--out"]).arg(env.path("plan2.json"));
    let out = run(c).await;
    seen += &(text(&out.stdout) + &text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{seen}");

    let state = env.emulator.state().await;
    let bob = state.users.iter().find(|u| u.email.as_deref() == Some("bob@acme.example")).unwrap();
    assert_eq!(bob.roles.len(), 2, "{bob:?}");

    let files = [plan.clone(), env.path("plan2.json"), auth0_sync::apply::journal::path_for(&plan)];
    for f in &files {
        seen += &std::fs::read_to_string(f).unwrap();
    }
    let secret = crate::common::demo_state().clients[0].client_secret.clone();
    assert!(!seen.contains(PASSWORD), "DB password leaked");
    assert!(!seen.contains(&secret), "client secret leaked");
}
