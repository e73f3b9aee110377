//! Every diagnostic the tool can print, rendered as an operator sees it (no color,
//! 100 columns, wrapped as the binary wraps: never inside a flag, URL, email or digest)
//! and snapshotted; each carries an `auth0_sync::` code and a help line.
//! The `covered_*` functions match every variant without a wildcard, so a new variant
//! does not compile until it has a case here.

use auth0_sync::Error;
use auth0_sync::apply::invite::InviteError;
use auth0_sync::auth0::Auth0Error;
use auth0_sync::error::{DriftItem, PlanError, PlanFileError, PlanStoreError};
use auth0_sync::gate::GateError;
use auth0_sync::plan::Plan;
use auth0_sync::seal::{self, KeyProblem, SigningKey};
use auth0_sync::settings::{SettingsError, TenantArgs};
use auth0_sync::source::mssql::MssqlError;
use auth0_sync::source::{BadRow, SourceError};
use miette::{Diagnostic, GraphicalTheme};
use std::path::PathBuf;

fn render(d: &dyn Diagnostic) -> String {
    let mut out = String::new();
    auth0_sync::entry::graphical_handler(GraphicalTheme::unicode_nocolor(), 100).render_report(&mut out, d).unwrap();
    out
}

/// The innermost diagnostic of transparent wrappers (their code and help live there).
fn leaf(d: &dyn Diagnostic) -> &dyn Diagnostic {
    match d.diagnostic_source() {
        Some(inner) if d.code().is_none() => leaf(inner),
        _ => d,
    }
}

fn check(name: &str, d: &dyn Diagnostic) {
    let inner = leaf(d);
    let code = inner.code().map(|c| c.to_string()).unwrap_or_default();
    assert!(code.starts_with("auth0_sync::"), "{name}: code {code:?}");
    let help = inner.help().map(|h| h.to_string()).unwrap_or_default();
    assert!(!help.trim().is_empty(), "{name}: no help");
    let text = render(d);
    for line in text.lines() {
        let split = line.trim_end().strip_suffix('-').is_some_and(|r| r.ends_with(|c: char| c.is_ascii_alphanumeric()));
        assert!(!split, "{name}: a word is split at a hyphen:\n{text}");
    }
    insta::assert_snapshot!(name, render(d));
}

fn plan_text() -> String {
    std::fs::read_to_string("fuzz/seeds/plan_parse/demo-plan.json").unwrap()
}

fn plan_err(edit: impl Fn(String) -> String) -> PlanFileError {
    Plan::parse("plans/plan.json", &edit(plan_text())).unwrap_err()
}

fn covered_error(e: &Error) -> &'static str {
    match e {
        Error::Settings(s) => covered_settings(s),
        Error::Io { .. } => "io",
        Error::PlanStore(PlanStoreError::Exists { .. }) => "plan_exists",
        Error::PlanStore(PlanStoreError::Io { .. }) => "plan_io",
        Error::PlanStore(PlanStoreError::File(_)) => "plan_file",
        Error::PlanTargetMismatch { .. } => "target_mismatch",
        Error::Plan(PlanError::UnknownRoles { .. }) => "unknown_roles",
        Error::Plan(PlanError::EmptySource { .. }) => "empty_source",
        Error::Plan(PlanError::TooManyDeletes { .. }) => "too_many_deletes",
        Error::Plan(PlanError::CapAboveApproved { .. }) => "cap_above_approved",
        Error::Plan(PlanError::TooManyRemovals { .. }) => "too_many_removals",
        Error::Revoke(auth0_sync::auth0::sessions::RevokeError::Unavailable { .. }) => "revocation_unavailable",
        Error::Plan(PlanError::RemovalCapAboveApproved { .. }) => "removal_cap_above_approved",
        Error::Plan(PlanError::UnknownTargets { .. }) => "unknown_targets",
        Error::Plan(PlanError::AddressTaken { .. }) => "address_taken",
        Error::Plan(PlanError::SwappedEmails { .. }) => "swapped_emails",
        Error::Plan(PlanError::TargetsNeedMore { .. }) => "targets_need_more",
        Error::Gate(g) => covered_gate(g),
        Error::BadJournal { .. } => "bad_journal",
        Error::PlanTooOld { .. } => "plan_too_old",
        Error::Drifted { .. } => "drifted",
        Error::Interrupted { .. } => "interrupted",
        Error::UnknownConnection { .. } => "unknown_connection",
        Error::Source(_) => "source",
        Error::Auth0(_) => "auth0",
        Error::ApplyFailed { .. } => "apply_failed",
        Error::MissingScopes { .. } => "missing_scopes",
        Error::NotADatabase { .. } => "not_a_database",
        Error::Emulator(_) => "emulator",
        Error::Demo(_) => "demo",
        Error::Invite(e) => covered_invite(e),
    }
}

fn covered_invite(e: &InviteError) -> &'static str {
    match e {
        InviteError::ClientNotEnabled { .. } => "invite_client_not_enabled",
        InviteError::NotInvitable { .. } => "invite_not_invitable",
        InviteError::NotADatabase { .. } => "invite_not_a_database",
        InviteError::NoDelivery { .. } => "invite_no_delivery",
        InviteError::Failed { .. } => "invite_failed",
    }
}

fn covered_plan_file(e: &PlanFileError) -> &'static str {
    match e {
        PlanFileError::Syntax { .. } => "plan_syntax",
        PlanFileError::NotAnObject { .. } => "plan_not_object",
        PlanFileError::UnknownVersion { .. } => "plan_version",
        PlanFileError::Checksum { .. } => "plan_checksum",
        PlanFileError::Inconsistent { .. } => "plan_inconsistent",
        PlanFileError::Shape { .. } => "plan_shape",
        PlanFileError::Unsigned { .. } => "plan_unsigned",
        PlanFileError::WrongKey { .. } => "plan_wrong_key",
        PlanFileError::SignatureMismatch { .. } => "plan_signature_mismatch",
    }
}

fn covered_gate(e: &GateError) -> &'static str {
    match e {
        GateError::KeyExists { .. } => "key_exists",
        GateError::Io { .. } => "key_io",
        GateError::BadKey { .. } => "bad_key",
        GateError::Random { .. } => "key_random",
    }
}

fn covered_source(e: &SourceError) -> &'static str {
    match e {
        SourceError::SqliteOpen { .. } => "sqlite_open",
        SourceError::Query { .. } => "source_query",
        SourceError::MissingColumn { .. } => "missing_column",
        SourceError::BadRows { .. } => "bad_rows",
        SourceError::BadColumn { .. } => "bad_column",
        SourceError::Mssql(_) => "mssql",
    }
}

fn covered_mssql(e: &MssqlError) -> &'static str {
    match e {
        MssqlError::Config { .. } => "mssql_config",
        MssqlError::Connect { .. } => "mssql_connect",
        MssqlError::Tls { .. } => "mssql_tls",
        MssqlError::Certificate { .. } => "mssql_certificate",
        MssqlError::Login { .. } => "mssql_login",
        MssqlError::Query { .. } => "mssql_query",
        MssqlError::Read { .. } => "mssql_read",
        MssqlError::NoResultSet => "mssql_no_result_set",
        MssqlError::SeveralResultSets => "mssql_result_sets",
        MssqlError::Rows(_) => "mssql_rows",
    }
}

fn covered_settings(e: &SettingsError) -> &'static str {
    match e {
        SettingsError::Missing { .. } => "missing_setting",
        SettingsError::Invalid { .. } => "invalid_setting",
        SettingsError::EnvFile { .. } => "env_file",
        SettingsError::Usage { .. } => "usage",
        SettingsError::Several { .. } => "several_settings",
    }
}

fn covered_auth0(e: &Auth0Error) -> &'static str {
    match e {
        Auth0Error::Token { .. } => "auth0_token",
        Auth0Error::Api { .. } => "auth0_api",
        Auth0Error::Network { .. } => "auth0_network",
        Auth0Error::Decode { .. } => "auth0_decode",
        Auth0Error::TooManyUsers { .. } => "auth0_too_many_users",
        Auth0Error::Unconfirmed { .. } => "auth0_unconfirmed",
        Auth0Error::Cancelled { .. } => "auth0_cancelled",
        Auth0Error::IncompleteSnapshot { .. } => "auth0_incomplete_snapshot",
        Auth0Error::JobFailed { .. } => "auth0_job_failed",
        Auth0Error::JobTimeout { .. } => "auth0_job_timeout",
    }
}

#[test]
fn settings_diagnostics() {
    let app = |url: Option<&str>| TenantArgs {
        auth0_url: url.map(str::to_owned),
        auth0_client_id: Some("id".into()),
        auth0_client_secret: Some("secret".into()),
        ..Default::default()
    };
    let missing = Error::from(app(None).auth0().unwrap_err());
    check(covered_error(&missing), &missing);
    let bad = Error::from(app(Some("http://acme.auth0.com")).auth0().unwrap_err());
    check(covered_error(&bad), &bad);
    let several = Error::from(TenantArgs::default().resolve().unwrap_err());
    check(covered_error(&several), &several);
    let env_file = Error::from(SettingsError::EnvFile {
        path: PathBuf::from("./.env"),
        action: "parse",
        reason:
            "line 3, column 35 (AUTH0_CLIENT_SECRET): the value needs quotes (it holds a space, a quote, `#` or `$`)"
                .into(),
        help: "fix line 3 of ./.env (KEY=value lines; quote values with spaces: KEY=\"a b\"), or remove it".into(),
    });
    check(covered_error(&env_file), &env_file);
    use clap::Parser;
    let clap_err = auth0_sync::cli::Cli::try_parse_from(["auth0-sync", "plan", "--max-deletes", "lots"]).unwrap_err();
    let usage = Error::from(SettingsError::usage(&clap_err));
    check(covered_error(&usage), &usage);
}

#[test]
fn plan_file_diagnostics() {
    let cases = [
        plan_err(|t| t.replacen('{', "{,", 1)),
        plan_err(|_| "[1, 2]".into()),
        plan_err(|t| t.replace("\"format_version\": 3", "\"format_version\": 7")),
        plan_err(|t| t.replace("grace@acme.example", "mallory@evil.example")),
        {
            // Edited and resealed: the checksum matches, the content contradicts itself.
            let mut p: Plan = serde_json::from_str(&plan_text()).unwrap();
            p.changeset.summary.delete_user += 1;
            p.checksum = p.compute_checksum();
            Plan::parse("plans/plan.json", &p.to_json_pretty()).unwrap_err()
        },
        {
            let mut v: serde_json::Value = serde_json::from_str(&plan_text()).unwrap();
            v["changes"][0]["action"] = "rename_user".into();
            let mut p = v.clone();
            p.as_object_mut().unwrap().remove("checksum");
            // Reseal the raw JSON the way plan.rs does: sorted keys, compact.
            let sealed = {
                fn canon(v: &serde_json::Value) -> String {
                    match v {
                        serde_json::Value::Object(o) => {
                            let mut k: Vec<_> = o.keys().collect();
                            k.sort();
                            let parts: Vec<String> = k
                                .iter()
                                .map(|k| format!("{}:{}", serde_json::to_string(k).unwrap(), canon(&o[*k])))
                                .collect();
                            format!("{{{}}}", parts.join(","))
                        }
                        serde_json::Value::Array(a) => {
                            format!("[{}]", a.iter().map(canon).collect::<Vec<_>>().join(","))
                        }
                        s => serde_json::to_string(s).unwrap(),
                    }
                }
                use sha2::Digest;
                format!("sha256:{}", hex::encode(sha2::Sha256::digest(canon(&p).as_bytes())))
            };
            v["checksum"] = sealed.into();
            Plan::parse("plans/plan.json", &serde_json::to_string_pretty(&v).unwrap()).unwrap_err()
        },
    ];
    // Signed plans checked with a verify key: unsigned, another key, edited after signing.
    let key = SigningKey::from_bytes(&[1; 32]);
    let other = SigningKey::from_bytes(&[2; 32]).verifying_key();
    let mut signed: Plan = serde_json::from_str(&plan_text()).unwrap();
    seal::sign(&mut signed, &key);
    let verify = |text: &str, k| Plan::parse_verified("plans/plan.json", text, Some(k)).unwrap_err();
    let forged = {
        let mut p = signed.clone();
        p.changeset.changes[0].user.email = "mallory@evil.example".into();
        p.checksum = p.compute_checksum();
        p.to_json_pretty()
    };
    let cases = cases.into_iter().chain([
        verify(&plan_text(), &key.verifying_key()),
        verify(&signed.to_json_pretty(), &other),
        verify(&forged, &key.verifying_key()),
    ]);
    let mut names = std::collections::BTreeSet::new();
    for e in cases {
        let name = covered_plan_file(&e);
        names.insert(name);
        check(name, &e);
        let wrapped = Error::PlanStore(PlanStoreError::File(Box::new(e)));
        assert_eq!(covered_error(&wrapped), "plan_file");
    }
    assert_eq!(names.len(), 9, "{names:?}");
}

#[test]
fn apply_and_plan_diagnostics() {
    let drift = DriftItem {
        id: 5,
        action: "update_roles",
        email: "bob@acme.example".into(),
        expected: "user with roles [viewer]".into(),
        found: "user with roles [admin, viewer]".into(),
    };
    let cases = vec![
        Error::Io {
            action: "read plan file",
            path: PathBuf::from("plans/missing.json"),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory"),
        },
        Error::PlanStore(PlanStoreError::Exists { path: PathBuf::from("plans/plan.json") }),
        Error::PlanTargetMismatch {
            field: "tenant",
            planned: "acme.eu.auth0.com".into(),
            configured: "acme-staging.eu.auth0.com".into(),
        },
        Error::Plan(PlanError::UnknownRoles { roles: vec!["astronaut".into(), "pilot".into()] }),
        Error::Plan(PlanError::EmptySource { rows: 0 }),
        Error::Plan(PlanError::TooManyDeletes { removals: 120, users: 1000, limit: 100 }),
        Error::Plan(PlanError::CapAboveApproved {
            flag: "90%".into(),
            flag_limit: "900".into(),
            recorded: "80%".into(),
            recorded_limit: "800".into(),
            users: 1000,
        }),
        Error::Revoke(auth0_sync::auth0::sessions::RevokeError::Unavailable {
            endpoint: "GET /api/v2/users/{id}/sessions",
            answer: "403 operation_not_supported: The account is not allowed to perform this operation.".into(),
        }),
        Error::Plan(PlanError::TooManyRemovals {
            flag: "--max-role-removals-per-role",
            what: "the plan removes role \"admin\" from 6 of its 6 holders".into(),
            limit: 5,
        }),
        Error::Plan(PlanError::RemovalCapAboveApproved {
            flag: "--max-blocks",
            value: "50%".into(),
            flag_limit: "500".into(),
            recorded: "default".into(),
            recorded_limit: "100".into(),
            of: "block(s) of the connection's 1000 users".into(),
        }),
        Error::Plan(PlanError::UnknownTargets { emails: vec!["jane@acme.example".into(), "jon@acme.example".into()] }),
        Error::Plan(PlanError::AddressTaken {
            conflicts: vec![
                "kim@acme.example: key E7 (a new user in the source), but auth0|64a0000000000000000000c3 holds it with key E3, a key the source no longer has (a recycled address?)".into(),
            ],
        }),
        Error::Plan(PlanError::SwappedEmails {
            cycles: vec!["key E1 (ann@acme.example → bea@acme.example), key E2 (bea@acme.example → ann@acme.example)".into()],
        }),
        Error::Plan(PlanError::TargetsNeedMore {
            needs: vec!["ann@acme.example needs bea@acme.example to move to bea.b@acme.example first".into()],
        }),
        Error::Gate(GateError::KeyExists { path: PathBuf::from("keys/plan-signing.key") }),
        Error::Gate(GateError::Io {
            action: "read key file",
            path: PathBuf::from("keys/plan-signing.pub"),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory"),
        }),
        Error::Gate(GateError::BadKey {
            var: "AUTH0_SYNC_VERIFY_KEY",
            path: PathBuf::from("keys/plan-signing.key"),
            problem: KeyProblem::PrivateNotPublic,
        }),
        Error::Gate(GateError::Random { message: "getrandom: unavailable".into() }),
        Error::BadJournal {
            path: PathBuf::from("plans/plan.json.journal"),
            reason: "line 3 is not a journal entry".into(),
        },
        Error::PlanTooOld { age: "1d 2h".into(), max: "1d 0h".into() },
        Error::Drifted { drifted: vec![drift] },
        Error::Interrupted {
            summary: "3 sent: 3 done, 0 already applied, 0 adopted, 0 partly done, 0 failed, 0 skipped, 5 not started"
                .into(),
            journal: PathBuf::from("plans/plan.json.journal"),
            plan: PathBuf::from("plans/plan.json"),
        },
        Error::UnknownConnection { name: "Staff-DB".into(), known: String::new() },
        Error::ApplyFailed { failed: 2, total: 8 },
        Error::MissingScopes {
            scopes: vec!["create:users".into(), "delete:users".into()],
            details: vec![
                "create:users (needed by 2 change(s), e.g. create_user ann@acme.example, create_user bo@acme.example)"
                    .into(),
                "delete:users (needed by 1 change(s), e.g. delete_user cy@acme.example)".into(),
            ],
        },
        Error::NotADatabase { name: "google-oauth2".into(), strategy: "google-oauth2".into(), creates: 3 },
        Error::Emulator(auth0_emulator::EmulatorError::Listen {
            addr: "127.0.0.1:80".parse().unwrap(),
            reason: "Permission denied (os error 13)".into(),
        }),
        Error::Demo("the demo's second plan still has 2 change(s); this is a bug".into()),
    ];
    for e in &cases {
        check(covered_error(e), e);
    }
}

#[test]
fn source_diagnostics() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("hr.sqlite");
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch("CREATE TABLE t(mail TEXT, email BLOB, role TEXT); INSERT INTO t VALUES ('a', x'00', 'r'), ('b', x'01', 'r');")
        .unwrap();
    let load = |q: &str| auth0_sync::source::sqlite::load(&db, q).unwrap_err();
    let cases = vec![
        SourceError::SqliteOpen { path: "hr.sqlite".into(), message: "unable to open database file".into() },
        load("SELEC email FROM t"),
        load("SELECT mail, role FROM t"),
        load("SELECT email, role FROM t"),
        load("SELECT email, role, mail AS \"app_metadata.auth0_sync\" FROM t"),
    ];
    for e in &cases {
        let name = covered_source(e);
        // Paths and SQLite's wording are fixed here; the rendering must not show the temp dir.
        check(name, e);
    }
    let mssql = vec![
        MssqlError::Config {
            reason: "MSSQL_USERNAME is not set".into(),
            help: "set MSSQL_USERNAME to the SQL login".into(),
        },
        MssqlError::Connect {
            target: "hr-db.acme.example:1433".into(),
            reason: "connection refused".into(),
            help: "check MSSQL_SERVER and MSSQL_PORT, that TCP/IP is enabled and the firewall lets you through".into(),
        },
        MssqlError::Tls {
            location: "hr-db.acme.example:1433/hr".into(),
            reason: "the server does not offer encryption".into(),
            help: "this server has no TLS: set MSSQL_ENCRYPT=off only on a network you trust".into(),
        },
        MssqlError::Certificate {
            location: "hr-db.acme.example:1433/hr".into(),
            reason: "invalid peer certificate: UnknownIssuer".into(),
            help: "add the server's CA to the system trust store, or set MSSQL_TRUST_SERVER_CERTIFICATE=true".into(),
        },
        MssqlError::Login {
            location: "hr-db.acme.example:1433/hr".into(),
            user: "sync".into(),
            number: 18456,
            message: "Login failed for user 'sync'.".into(),
            help: "check MSSQL_USERNAME and MSSQL_PASSWORD".into(),
        },
        MssqlError::Query {
            location: "hr-db.acme.example:1433/hr".into(),
            number: 208,
            line: 1,
            message: "Invalid object name 'dbo.Staf'.".into(),
        },
        MssqlError::Read {
            location: "hr-db.acme.example:1433/hr".into(),
            reason: "connection reset".into(),
            help: "run plan again".into(),
        },
        MssqlError::NoResultSet,
        MssqlError::SeveralResultSets,
        MssqlError::Rows(Box::new(SourceError::BadRows {
            rows: vec![BadRow { row: 4, column: "email".into(), found: "a VARBINARY value".into() }],
        })),
    ];
    for e in &mssql {
        check(covered_mssql(e), e);
    }
    let wrapped = Error::Source(SourceError::Mssql(MssqlError::NoResultSet));
    assert_eq!(
        (covered_error(&wrapped), covered_source(&SourceError::Mssql(MssqlError::NoResultSet))),
        ("source", "mssql")
    );
}

#[test]
fn auth0_diagnostics() {
    let cases = vec![
        Auth0Error::Token {
            status: 401,
            error: "access_denied".into(),
            description: "Unauthorized".into(),
            audience: "https://acme.eu.auth0.com/api/v2/".into(),
        },
        Auth0Error::Api {
            method: "DELETE".into(),
            path: "/api/v2/users/auth0|42".into(),
            status: 403,
            message: "Insufficient scope, expected any of: delete:users".into(),
            error_code: Some("insufficient_scope".into()),
            help: "the token lacks the scope(s) delete:users; grant them to the application".into(),
        },
        Auth0Error::Network { url: "https://acme.eu.auth0.com".into(), message: "dns error: no such host".into() },
        Auth0Error::Decode { method: "GET".into(), path: "/api/v2/roles".into(), message: "missing field `id`".into() },
        Auth0Error::TooManyUsers { connection: "Username-Password-Authentication".into(), total: 1500, limit: 1000 },
        Auth0Error::Unconfirmed {
            method: "POST".into(),
            path: "/api/v2/users".into(),
            url: "https://acme.eu.auth0.com".into(),
            message: "connection reset by peer".into(),
        },
        Auth0Error::Cancelled { method: "POST".into(), path: "/api/v2/users".into() },
        Auth0Error::IncompleteSnapshot {
            connection: "Username-Password-Authentication".into(),
            expected: 1500,
            got: 500,
            allowance: 25,
        },
        Auth0Error::JobFailed {
            kind: "users import".into(),
            job: "job_6nNLiwFZksN0YmRR".into(),
            details: "{\"failed\":3}".into(),
        },
        Auth0Error::JobTimeout { kind: "users export".into(), job: "job_iSjvljNtsTMmSpRW".into(), waited: "2h".into() },
    ];
    for e in &cases {
        check(covered_auth0(e), e);
    }
    let wrapped = Error::Auth0(Auth0Error::Network { url: "x".into(), message: "y".into() });
    assert_eq!(covered_error(&wrapped), "auth0");
}

#[test]
fn invite_diagnostics() {
    let cases = vec![
        InviteError::ClientNotEnabled {
            client_id: "m2m-sync".into(),
            connection: "Username-Password-Authentication".into(),
            enabled: "login-app, portal".into(),
        },
        InviteError::NotInvitable {
            connection: "Username-Password-Authentication".into(),
            unknown: vec!["nobody@acme.example".into(), "typo@acme.example".into()],
            blocked: vec!["bob@acme.example".into()],
        },
        InviteError::NotADatabase { name: "google-oauth2".into(), strategy: "google-oauth2".into() },
        InviteError::NoDelivery { program: "send-welcome".into(), why: "no executable of that name in PATH".into() },
        InviteError::Failed { failed: 1, total: 3 },
    ];
    for e in cases {
        let e = Error::from(e);
        let Error::Invite(inner) = &e else { unreachable!() };
        check(covered_invite(inner), &e);
    }
}
