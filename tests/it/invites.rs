//! Invitations through the CLI against the emulator: `apply --invite email|ticket`
//! invites exactly the users the run creates (by the API or by import), once; a
//! failed invitation is a failed step of its change; resume never invites twice; the
//! refusals before the first write; Auth0's per-address limit; and `auth0-sync
//! invite` for existing users.

use crate::common::{Admin, Env, apply_outcomes, run, text};
use auth0_emulator::{EmailKind, Emulator, Halt, InvitationKind};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The users the demo plan creates.
const CREATED: [&str; 4] = ["grace@acme.example", "heidi@acme.example", "ivan@acme.example", "zoe@acme.example"];
const LOGIN_APP: &str = "demo-login-app";
/// The demo's renamed person (#13): Auth0 mails its new address a verification link.
const RENAMED: &str = "peggy.olsen@acme.example";

fn created() -> BTreeSet<String> {
    CREATED.iter().map(|e| (*e).to_owned()).collect()
}

async fn plan(env: &Env, name: &str) -> PathBuf {
    let path = env.path(name);
    let mut c = env.cmd();
    c.args(["plan", "--out"]).arg(&path);
    let out = run(c).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    path
}

async fn apply(env: &Env, plan: &Path, args: &[&str]) -> std::process::Output {
    let mut c = env.cmd();
    c.arg("apply").arg(plan).args(["--format", "json"]).args(args);
    run(c).await
}

/// `sh -c 'cat >> FILE'`: a delivery command that appends each JSON object to FILE.
fn deliver_to(file: &Path) -> String {
    format!("sh -c 'cat >> \"$0\"' {}", file.display())
}

/// The delivered objects, one per line.
fn deliveries(file: &Path) -> Vec<Value> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per delivery"))
        .collect()
}

fn invited(emu: &Emulator, kind: InvitationKind) -> Vec<String> {
    let mut v: Vec<String> = emu.invitations().iter().filter(|i| i.kind == kind).map(|i| i.email.clone()).collect();
    v.sort();
    v
}

/// The journal's lines of a given type.
fn journal(plan: &Path, kind: &str) -> Vec<Value> {
    std::fs::read_to_string(auth0_sync::apply::journal::path_for(plan))
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["type"] == kind)
        .collect()
}

fn outcome<'a>(outcomes: &'a [Value], email: &str) -> &'a Value {
    outcomes.iter().find(|o| o["email"] == email).unwrap_or_else(|| panic!("no outcome for {email}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn email_mode_invites_each_created_user_once_and_nobody_else() {
    let env = Env::demo().await;
    let p = plan(&env, "plan.json").await;
    let out = apply(&env, &p, &["--invite", "email", "--invite-client-id", LOGIN_APP]).await;
    let ctx = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{ctx}");
    assert_eq!(invited(&env.emulator, InvitationKind::Email), Vec::from(CREATED.map(String::from)), "{ctx}");
    assert!(env.emulator.tickets().is_empty());
    let mails = env.emulator.emails();
    // The demo's rename (#13) mails a verification link to the new address; every other
    // mail is an invitation.
    let (verify, invites): (Vec<_>, Vec<_>) = mails.iter().partition(|m| m.kind == EmailKind::Verification);
    assert_eq!(verify.iter().map(|m| m.to.as_str()).collect::<Vec<_>>(), [RENAMED], "{ctx}");
    assert!(invites.iter().all(|m| m.kind == EmailKind::ChangePassword && m.client_id.as_deref() == Some(LOGIN_APP)));
    let (outcomes, failed) = apply_outcomes(&out);
    assert!(failed.is_empty(), "{ctx}");
    for email in CREATED {
        assert_eq!(outcome(&outcomes, email)["detail"], "invited by email", "{ctx}");
    }
    assert!(outcome(&outcomes, "bob@acme.example").get("detail").is_none(), "{ctx}");
    // The journal says who was invited and when: one `email_sent` line per created user.
    let state = env.emulator.state().await;
    let sent = journal(&p, "step").into_iter().filter(|s| s["step"] == "email_sent").collect::<Vec<_>>();
    assert_eq!(sent.len(), 4, "{sent:?}");
    for s in &sent {
        let user = state.users.iter().find(|u| Some(u.user_id.as_str()) == s["user_id"].as_str()).expect("a user");
        assert!(created().contains(user.email.as_deref().unwrap()), "{s}");
        assert!(s["at"].as_str().is_some_and(|a| chrono::DateTime::parse_from_rfc3339(a).is_ok()), "{s}");
    }
    // Applying the plan again sends nothing, invitations included.
    let again = apply(&env, &p, &["--invite", "email", "--invite-client-id", LOGIN_APP]).await;
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert_eq!(env.emulator.invitations().len(), 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn ticket_mode_hands_each_ticket_to_the_command_and_keeps_stdout_the_report() {
    let env = Env::demo().await;
    let p = plan(&env, "plan.json").await;
    let file = env.path("deliveries.ndjson");
    // The command also prints: its stdout goes to the tool's stderr.
    let command = format!("sh -c 'cat >> \"$0\"; echo delivered-one' {}", file.display());
    let out = apply(&env, &p, &["--invite", "ticket", "--invite-command", &command, "--invite-ttl", "2d"]).await;
    let ctx = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{ctx}");
    let (outcomes, _) = apply_outcomes(&out); // stdout is still the JSON report
    assert!(text(&out.stderr).contains("delivered-one"), "{ctx}");
    assert_eq!(invited(&env.emulator, InvitationKind::Ticket), Vec::from(CREATED.map(String::from)));
    // Auth0 mails nothing for tickets; the only mail is the rename's verification (#13).
    let mails: Vec<String> = env.emulator.emails().into_iter().map(|m| format!("{:?} {}", m.kind, m.to)).collect();
    assert_eq!(mails, [format!("Verification {RENAMED}")], "Auth0 mails nothing for tickets");
    let tickets = env.emulator.tickets();
    let got = deliveries(&file);
    assert_eq!(got.len(), 4, "{got:?}");
    for d in &got {
        let keys: BTreeSet<&str> = d.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, BTreeSet::from(["email", "user_id", "ticket", "expires_at"]), "{d}");
        let t = tickets.iter().find(|t| t.url == d["ticket"]).expect("a ticket the tenant issued");
        assert_eq!((d["email"].as_str(), d["user_id"].as_str()), (Some(t.email.as_str()), Some(t.user_id.as_str())));
        assert_eq!(t.ttl_sec, 172_800);
        assert!(t.mark_email_as_verified && t.result_url.is_none() && t.client_id.is_none(), "{t:?}");
        let expires = chrono::DateTime::parse_from_rfc3339(d["expires_at"].as_str().unwrap()).unwrap();
        let emulated: chrono::DateTime<chrono::Utc> = t.expires_at.into();
        assert!((expires.with_timezone(&chrono::Utc) - emulated).num_seconds().abs() < 60, "{d} vs {emulated}");
        assert_eq!(outcome(&outcomes, d["email"].as_str().unwrap())["detail"], "invited with a ticket");
    }
    // The journal records the ticket's issue and its delivery, never the ticket.
    let steps: Vec<String> = journal(&p, "step").iter().map(|s| s["step"].as_str().unwrap().to_owned()).collect();
    assert_eq!(steps.iter().filter(|s| *s == "ticket_issued").count(), 4, "{steps:?}");
    assert_eq!(steps.iter().filter(|s| *s == "ticket_delivered").count(), 4, "{steps:?}");
    let journal_text = std::fs::read_to_string(auth0_sync::apply::journal::path_for(&p)).unwrap();
    assert!(tickets.iter().all(|t| !journal_text.contains(&t.url)));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_result_url_or_a_client_id_goes_into_the_ticket() {
    for (flag, value) in
        [("--invite-result-url", "https://app.acme.example/welcome"), ("--invite-client-id", LOGIN_APP)]
    {
        let env = Env::demo().await;
        let p = plan(&env, "plan.json").await;
        let command = deliver_to(&env.path("d.ndjson"));
        let out = apply(&env, &p, &["--invite", "ticket", "--invite-command", &command, flag, value]).await;
        assert!(out.status.success(), "{}", text(&out.stderr));
        for t in env.emulator.tickets() {
            let got = if flag == "--invite-client-id" { t.client_id.clone() } else { t.result_url.clone() };
            assert_eq!(got.as_deref(), Some(value), "{t:?}");
            assert_eq!(t.ttl_sec, 432_000, "Auth0's default: 5 days");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn users_created_by_import_are_invited_too() {
    let env = Env::demo().await;
    let p = plan(&env, "plan.json").await;
    let out = apply(&env, &p, &["--create-via", "import", "--invite", "email", "--invite-client-id", LOGIN_APP]).await;
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(invited(&env.emulator, InvitationKind::Email), Vec::from(CREATED.map(String::from)));
}

#[tokio::test(flavor = "multi_thread")]
async fn users_someone_else_created_after_the_plan_are_not_invited() {
    let env = Env::demo().await;
    let p = plan(&env, "plan.json").await;
    // Someone creates two of the new users in the dashboard: heidi as planned (no
    // roles), zoe without the role the plan gives her.
    let admin = Admin::new(&env).await;
    for email in ["heidi@acme.example", "zoe@acme.example"] {
        let body = json!({"connection": crate::common::CONNECTION, "email": email, "password": "Dashboard-made-1!"});
        assert!(admin.send(Method::POST, "users", body).await.is_success());
    }
    let out = apply(&env, &p, &["--invite", "email", "--invite-client-id", LOGIN_APP]).await;
    let ctx = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{ctx}");
    assert_eq!(invited(&env.emulator, InvitationKind::Email), ["grace@acme.example", "ivan@acme.example"], "{ctx}");
    let (outcomes, _) = apply_outcomes(&out);
    assert_eq!(outcome(&outcomes, "heidi@acme.example")["status"], "already_applied", "{ctx}");
    assert_eq!(outcome(&outcomes, "zoe@acme.example")["status"], "done", "{ctx}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_delivery_is_a_failed_step_and_the_next_run_invites() {
    let env = Env::demo().await;
    let p = plan(&env, "plan.json").await;
    let out = apply(&env, &p, &["--invite", "ticket", "--invite-command", "false"]).await;
    let ctx = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{ctx}");
    let (outcomes, failed) = apply_outcomes(&out);
    assert_eq!(failed.len(), 4, "{ctx}");
    let heidi = outcome(&outcomes, "heidi@acme.example");
    assert_eq!(heidi["detail"], "created; invitation failed", "{ctx}");
    assert!(heidi["error"]["message"].as_str().unwrap().contains("delivery command \"false\""), "{ctx}");
    assert_eq!(outcome(&outcomes, "grace@acme.example")["detail"], "created; 2 role(s) assigned; invitation failed");
    assert!(text(&out.stderr).contains("4 of 11 change(s) failed"), "{ctx}");
    // The users exist with their roles; only the invitation is missing.
    let state = env.emulator.state().await;
    let grace = state.users.iter().find(|u| u.email.as_deref() == Some("grace@acme.example")).unwrap();
    assert_eq!(grace.roles.len(), 2);
    assert_eq!(env.emulator.tickets().len(), 4, "the tickets were issued, then not delivered");
    // The same apply with a working delivery sends the invitations it failed to send.
    let file = env.path("d.ndjson");
    let out = apply(&env, &p, &["--invite", "ticket", "--invite-command", &deliver_to(&file)]).await;
    let ctx = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{ctx}");
    let mut emails: Vec<String> = deliveries(&file).iter().map(|d| d["email"].as_str().unwrap().to_owned()).collect();
    emails.sort();
    assert_eq!(emails, Vec::from(CREATED.map(String::from)), "{ctx}");
    let (outcomes, _) = apply_outcomes(&out);
    assert_eq!(
        outcome(&outcomes, "heidi@acme.example")["detail"],
        "finished what an earlier run started; invited with a ticket",
        "{ctx}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_email_is_a_failed_step_with_auth0s_answer() {
    // Auth0 refuses one email at send time: that address's budget (10 at once, then
    // 1 a minute) was spent before the user even existed.
    let env = Env::demo().await;
    let p = plan(&env, "plan.json").await;
    spend_address(&env, "ivan@acme.example").await;
    let out = apply(&env, &p, &["--invite", "email", "--invite-client-id", LOGIN_APP, "--max-retries", "0"]).await;
    let ctx = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{ctx}");
    let (outcomes, failed) = apply_outcomes(&out);
    assert_eq!(failed.len(), 1, "{ctx}");
    let ivan = outcome(&outcomes, "ivan@acme.example");
    assert_eq!(ivan["detail"], "created; 1 role(s) assigned; invitation failed", "{ctx}");
    assert_eq!(
        (ivan["error"]["status"].as_u64(), ivan["error"]["error_code"].as_str()),
        (Some(429), Some("too_many_requests"))
    );
    assert_eq!(invited(&env.emulator, InvitationKind::Email).len(), 3, "{ctx}");
}

/// Spends the per-address budget of `email` (10 requests at once).
async fn spend_address(env: &Env, email: &str) {
    let http = reqwest::Client::new();
    for _ in 0..10 {
        let r = http
            .post(format!("{}/dbconnections/change_password", env.emulator.base_url()))
            .json(&json!({"client_id": LOGIN_APP, "email": email, "connection": crate::common::CONNECTION}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn refusals_before_the_first_write() {
    let cases: [(&[&str], &str); 5] = [
        (&["--invite", "email"], "AUTH0_INVITE_CLIENT_ID"),
        (&["--invite", "ticket", "--invite-command", "no-such-delivery-program x"], "auth0_sync::invite::no_delivery"),
        (&["--invite", "email", "--invite-client-id", "demo-m2m-client"], "auth0_sync::invite::client_not_enabled"),
        (&["--invite", "ticket"], "AUTH0_INVITE_COMMAND"),
        (&["--invite", "letter"], "AUTH0_INVITE"),
    ];
    for (args, needle) in cases {
        let env = Env::demo().await;
        let p = plan(&env, "plan.json").await;
        let before = env.emulator.state().await;
        let out = apply(&env, &p, args).await;
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert_eq!(env.emulator.state().await, before, "{args:?}: nothing may be sent");
        assert!(env.emulator.invitations().is_empty());
    }
    // The client-not-enabled refusal names the applications that have the connection.
    let env = Env::demo().await;
    let p = plan(&env, "plan.json").await;
    let out = apply(&env, &p, &["--invite", "email", "--invite-client-id", "demo-m2m-client"]).await;
    assert!(text(&out.stderr).contains(LOGIN_APP), "{}", text(&out.stderr));

    // Tickets need create:user_tickets.
    let mut state = crate::common::demo_state();
    state.clients[0].scopes.retain(|s| s != "create:user_tickets");
    let env = Env::with(state, include_bytes!("../../examples/demo/hr.sqlite")).await;
    let p = plan(&env, "plan.json").await;
    let before = env.emulator.state().await;
    let out = apply(&env, &p, &["--invite", "ticket", "--invite-command", "true"]).await;
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("auth0_sync::auth0::missing_scopes") && err.contains("create:user_tickets"), "{err}");
    assert!(err.contains("create_user grace@acme.example"), "{err}");
    assert_eq!(env.emulator.state().await, before);
    // Without --invite the same plan applies.
    assert!(apply(&env, &p, &[]).await.status.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kill_at_the_email_leaves_it_unconfirmed_and_resume_does_not_send_it_again() {
    let env = Env::demo().await;
    let p0 = plan(&env, "plan.json").await;
    let plan_text = std::fs::read_to_string(&p0).unwrap();
    let args = ["--invite", "email", "--invite-client-id", LOGIN_APP, "--concurrency", "1"];
    // A clean run: which write is the first invitation?
    let state = env.emulator.state().await;
    env.emulator.set_halt(None);
    let out = apply(&env, &p0, &args).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    // The write that sends the first email: writes are journaled one `begin` each.
    let begins = journal(&p0, "begin");
    let first_email = 1 + begins.iter().position(|b| b["step"] == "invite_email").expect("an invitation") as u64;
    for (halt, emails) in [(Halt::BeforeWrite(first_email), 0), (Halt::AfterWrite(first_email), 1)] {
        env.emulator.reset(state.clone()).unwrap();
        let before = env.emulator.invitations().len();
        let p = env.path(&format!("plan-{}.json", emails));
        std::fs::write(&p, &plan_text).unwrap();
        env.emulator.set_halt(Some(halt));
        let mut cmd = env.std_cmd();
        cmd.arg("apply").arg(&p).args(args);
        cmd.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
        let mut child = cmd.spawn().unwrap();
        env.emulator.halted().await;
        let _ = child.kill();
        let _ = tokio::task::spawn_blocking(move || child.wait()).await;
        env.emulator.set_halt(None);
        let sent_by_killed = env.emulator.invitations().len() - before;
        assert_eq!(sent_by_killed, emails, "{halt:?}");
        let out = apply(&env, &p, &args).await;
        let ctx = format!("{halt:?}: {}{}", text(&out.stdout), text(&out.stderr));
        assert!(out.status.success(), "{ctx}");
        let after = &env.emulator.invitations()[before..];
        let mut got: Vec<&str> = after.iter().map(|i| i.email.as_str()).collect();
        got.sort();
        got.dedup();
        assert_eq!(after.len(), got.len(), "{ctx}: an address was invited twice");
        assert_eq!(after.len(), 3 + emails, "{ctx}: the unconfirmed one is not sent again");
        let (outcomes, _) = apply_outcomes(&out);
        let unconfirmed: Vec<&Value> =
            outcomes.iter().filter(|o| o["detail"].as_str().is_some_and(|d| d.contains("unconfirmed"))).collect();
        assert_eq!(unconfirmed.len(), 1, "{ctx}");
        assert!(unconfirmed[0]["detail"].as_str().unwrap().contains("auth0-sync invite"), "{ctx}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kill_during_the_delivery_leaves_it_unconfirmed_and_resume_does_not_deliver_again() {
    let env = Env::demo().await;
    let p = plan(&env, "plan.json").await;
    let file = env.path("d.ndjson");
    let ready = env.path("d.ndjson.ready");
    // Delivers, says so, then takes its time: the tool is killed while it waits.
    let slow = format!("sh -c 'cat >> \"$0\"; touch \"$0.ready\"; sleep 3' {}", file.display());
    let mut cmd = env.std_cmd();
    cmd.arg("apply").arg(&p).args(["--invite", "ticket", "--invite-command", &slow, "--concurrency", "1"]);
    cmd.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().unwrap();
    while !ready.exists() {
        assert!(child.try_wait().unwrap().is_none(), "apply ended before its first delivery");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let _ = child.kill();
    let _ = tokio::task::spawn_blocking(move || child.wait()).await;
    assert_eq!(deliveries(&file).len(), 1);
    let out = apply(&env, &p, &["--invite", "ticket", "--invite-command", &deliver_to(&file)]).await;
    let ctx = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{ctx}");
    let mut emails: Vec<String> = deliveries(&file).iter().map(|d| d["email"].as_str().unwrap().to_owned()).collect();
    emails.sort();
    assert_eq!(emails, Vec::from(CREATED.map(String::from)), "{ctx}: each user exactly once");
    assert_eq!(env.emulator.tickets().len(), 4, "{ctx}");
}

// ---------------------------------------------------------------- auth0-sync invite

async fn invite(env: &Env, args: &[&str]) -> std::process::Output {
    let mut c = env.cmd();
    c.arg("invite").args(args);
    run(c).await
}

#[tokio::test(flavor = "multi_thread")]
async fn invite_re_sends_to_existing_users_in_both_modes() {
    let env = Env::demo().await;
    let out = invite(
        &env,
        &[
            "--invite",
            "email",
            "--invite-client-id",
            LOGIN_APP,
            "Alice@Acme.example",
            "bob@acme.example",
            "alice@acme.example",
        ],
    )
    .await;
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert_eq!(invited(&env.emulator, InvitationKind::Email), ["alice@acme.example", "bob@acme.example"], "each once");
    assert!(stdout.contains("alice@acme.example") && stdout.contains("auth0|64a0000000000000000000a1"), "{stdout}");
    assert!(stdout.contains("Invite: 2 of 2 invitation(s) sent (email)."), "{stdout}");

    let file = env.path("d.ndjson");
    let mut c = env.cmd();
    c.env("AUTH0_INVITE", "ticket").env("AUTH0_INVITE_COMMAND", deliver_to(&file)).args([
        "invite",
        "--format",
        "json",
        "carol@acme.example",
    ]);
    let out = run(c).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["mode"], "ticket");
    assert_eq!(report["invitations"][0]["email"], "carol@acme.example");
    assert_eq!(report["invitations"][0]["status"], "sent");
    assert_eq!(deliveries(&file).len(), 1);
    assert_eq!(env.emulator.tickets()[0].email, "carol@acme.example");
    assert!(!text(&out.stdout).contains(&env.emulator.tickets()[0].url));
}

#[tokio::test(flavor = "multi_thread")]
async fn invite_refuses_unknown_and_blocked_addresses_and_sends_nothing() {
    let env = Env::demo().await;
    let admin = Admin::new(&env).await;
    assert!(
        admin
            .send(Method::PATCH, "users/auth0%7C64a0000000000000000000b2", json!({"blocked": true}))
            .await
            .is_success()
    );
    let args = [
        "--invite",
        "email",
        "--invite-client-id",
        LOGIN_APP,
        "alice@acme.example",
        "nobody@acme.example",
        "bob@acme.example",
    ];
    let out = invite(&env, &args).await;
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("auth0_sync::invite::not_invitable"), "{err}");
    assert!(err.contains("nobody@acme.example") && err.contains("blocked: bob@acme.example"), "{err}");
    assert!(env.emulator.invitations().is_empty(), "nothing was sent, not even alice's");
    // Without a mode there is nothing to do.
    let out = invite(&env, &["alice@acme.example"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("AUTH0_INVITE"), "{}", text(&out.stderr));
}

#[tokio::test(flavor = "multi_thread")]
async fn auth0s_per_address_limit_is_reported_not_worked_around() {
    let env = Env::demo().await;
    spend_address(&env, "alice@acme.example").await;
    let args = [
        "--invite",
        "email",
        "--invite-client-id",
        LOGIN_APP,
        "--max-retries",
        "0",
        "alice@acme.example",
        "bob@acme.example",
    ];
    let out = invite(&env, &args).await;
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("429 too_many_requests") && all.contains("1 of 2 invitation(s) failed"), "{all}");
    assert_eq!(invited(&env.emulator, InvitationKind::Email).iter().filter(|e| *e == "bob@acme.example").count(), 1);
    assert_eq!(env.emulator.invitations().len(), 11, "the 11th for alice was refused");
}

#[tokio::test(flavor = "multi_thread")]
async fn email_invitations_work_under_every_reading_of_the_answer_and_the_enabled_clients() {
    use auth0_emulator::lifecycle::ChangePasswordBody;
    use auth0_emulator::{EmulatorOptions, LifecycleOptions};
    let readings = [
        LifecycleOptions { change_password_body: ChangePasswordBody::Text, ..Default::default() },
        LifecycleOptions { change_password_body: ChangePasswordBody::JsonString, ..Default::default() },
        LifecycleOptions { legacy_enabled_clients: true, ..Default::default() },
        LifecycleOptions { change_password_requires_client_id: false, ..Default::default() },
    ];
    for lifecycle in readings {
        let options = EmulatorOptions { lifecycle: lifecycle.clone(), ..Default::default() };
        let env =
            Env::with_options(crate::common::demo_state(), include_bytes!("../../examples/demo/hr.sqlite"), options)
                .await;
        let p = plan(&env, "plan.json").await;
        let out = apply(&env, &p, &["--invite", "email", "--invite-client-id", LOGIN_APP]).await;
        assert!(out.status.success(), "{lifecycle:?}: {}", text(&out.stderr));
        assert_eq!(
            invited(&env.emulator, InvitationKind::Email),
            Vec::from(CREATED.map(String::from)),
            "{lifecycle:?}"
        );
    }
}

#[test]
fn the_demo_invites_its_new_users_and_prints_no_ticket() {
    let out = assert_cmd::Command::cargo_bin("auth0-sync").unwrap().env("NO_COLOR", "1").arg("demo").output().unwrap();
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    let mut invited: Vec<&str> = stdout.lines().filter_map(|l| l.strip_prefix("invited ")).collect();
    invited.sort();
    assert_eq!(invited, CREATED, "{stdout}");
    let all = stdout + &text(&out.stderr);
    assert!(!all.contains("ticket=") && !all.contains("reset-password"), "{all}");
}
