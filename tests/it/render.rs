//! Snapshots of what people see: the plan table (fixed width, no color), the markdown
//! summary and the apply report.

use auth0_sync::apply::{ApplyReport, FailureInfo, Outcome, OutcomeStatus};
use auth0_sync::model::{TenantRole, TenantSnapshot, TenantUser};
use auth0_sync::plan::{Action, Plan, PolicyRecord, SourceInfo};
use auth0_sync::planner::{Policy, plan};
use auth0_sync::render::{RenderOptions, apply_report, plan_markdown, plan_table};
use auth0_sync::source::{DesiredStateBuilder, RawRow};
use chrono::TimeZone;

const DB: &str = "Username-Password-Authentication";

fn sample_plan(with_changes: bool) -> Plan {
    let mut b = DesiredStateBuilder::new();
    let rows: &[(&str, &[&str])] = if with_changes {
        &[("new@acme.example", &["editor", "viewer"]), ("bob@acme.example", &["editor"]), ("not-an-email", &[])]
    } else {
        &[("bob@acme.example", &["admin"])]
    };
    for (e, r) in rows {
        b.push(RawRow {
            email: Some(e.to_string()),
            roles: r.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        });
    }
    let mut t = TenantSnapshot::default();
    for n in ["admin", "editor", "viewer"] {
        t.roles.insert(format!("rol_{n}"), TenantRole { id: format!("rol_{n}"), name: n.into() });
    }
    for (id, email, roles) in
        [("auth0|b", "bob@acme.example", &["admin"][..]), ("auth0|g", "gone@acme.example", &["viewer"][..])]
    {
        if !with_changes && id == "auth0|g" {
            continue;
        }
        t.users.insert(
            id.into(),
            TenantUser {
                user_id: id.into(),
                email: Some(email.into()),
                connection: DB.into(),
                blocked: false,
                blocked_by_sync: false,
                role_ids: roles.iter().map(|r| format!("rol_{r}")).collect(),
                linked_to: None,
            },
        );
    }
    let policy = Policy { connection: DB.into(), ..Default::default() };
    let cs = plan(&b.finish(), &t, &policy).unwrap();
    Plan::new(
        chrono::Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0).unwrap(),
        "acme.eu.auth0.com".into(),
        DB.into(),
        t.fingerprint(),
        SourceInfo { kind: "sqlite".into(), location: "hr.sqlite".into(), rows: 3, users: 2 },
        PolicyRecord::default(),
        cs,
    )
}

fn render(f: impl FnOnce(&mut Vec<u8>)) -> String {
    let mut out = Vec::new();
    f(&mut out);
    String::from_utf8(out).unwrap()
}

const PLAIN: RenderOptions = RenderOptions { color: false, width: Some(100), redact: false };

#[test]
fn plan_table_snapshot() {
    let p = sample_plan(true);
    let text = render(|o| plan_table(&p, o, &PLAIN).unwrap());
    insta::assert_snapshot!(text);
}

#[test]
fn empty_plan_table_says_no_changes() {
    let p = sample_plan(false);
    let text = render(|o| plan_table(&p, o, &PLAIN).unwrap());
    assert!(text.contains("No changes"), "{text}");
    insta::assert_snapshot!(text);
}

#[test]
fn color_only_when_asked() {
    let p = sample_plan(true);
    let plain = render(|o| plan_table(&p, o, &PLAIN).unwrap());
    assert!(!plain.contains('\x1b'));
    let colored =
        render(|o| plan_table(&p, o, &RenderOptions { color: true, width: Some(100), redact: false }).unwrap());
    assert!(colored.contains("\x1b["));
}

#[test]
fn markdown_snapshot_warns_about_deletes() {
    let p = sample_plan(true);
    let text = render(|o| plan_markdown(&p, o, false).unwrap());
    assert!(text.contains("> [!WARNING]"));
    insta::assert_snapshot!(text);
}

#[test]
fn apply_report_lists_failures_with_auth0_details() {
    let report = ApplyReport {
        outcomes: vec![
            Outcome {
                change_id: 1,
                action: Action::CreateUser,
                email: "a@x.io".into(),
                status: OutcomeStatus::Done,
                user_id: Some("auth0|1".into()),
                error: None,
            },
            Outcome {
                change_id: 2,
                action: Action::DeleteUser,
                email: "b@x.io".into(),
                status: OutcomeStatus::Failed,
                user_id: Some("auth0|2".into()),
                error: Some(FailureInfo {
                    status: Some(403),
                    error_code: Some("insufficient_scope".into()),
                    message: "Insufficient scope, expected any of: delete:users".into(),
                }),
            },
        ],
        ..Default::default()
    };
    let text = render(|o| apply_report(&report, o, &PLAIN).unwrap());
    assert!(text.contains("insufficient_scope") && text.contains("1 failed"), "{text}");
    insta::assert_snapshot!(text);
}

#[test]
fn redact_masks_every_email_in_table_markdown_and_json() {
    let p = sample_plan(true);
    let opts = RenderOptions { redact: true, ..PLAIN };
    let table = render(|o| plan_table(&p, o, &opts).unwrap());
    let md = render(|o| plan_markdown(&p, o, true).unwrap());
    let json = render(|o| auth0_sync::render::plan_json(&p, o, true).unwrap());
    for out in [&table, &md, &json] {
        for email in ["new@acme.example", "bob@acme.example", "gone@acme.example", "not-an-email"] {
            assert!(!out.contains(email), "{email} shown in:\n{out}");
        }
        assert!(out.contains("b***@acme.example"), "{out}");
    }
    // The unredacted JSON is the plan file itself.
    let full = render(|o| auth0_sync::render::plan_json(&p, o, false).unwrap());
    assert_eq!(full.trim_end(), p.to_json_pretty());
}
