//! Snapshots of what people see: the plan table (fixed width, no color), the markdown
//! summary and the apply report.

use auth0_sync::apply::{ApplyReport, FailureInfo, Outcome, OutcomeStatus};
use auth0_sync::model::{TenantRole, TenantSnapshot, TenantUser};
use auth0_sync::plan::{Action, Plan, PolicyRecord, SourceInfo};
use auth0_sync::planner::{Policy, plan};
use auth0_sync::render::{MarkdownOptions, RenderOptions, apply_report, plan_markdown, plan_table};
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
                synced: Default::default(),
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
        SourceInfo { kind: "sqlite".into(), location: "hr.sqlite".into(), rows: 3, users: 2, ..Default::default() },
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
    let text = render(|o| plan_markdown(&p, o, &MarkdownOptions::default()).unwrap());
    assert!(text.contains("> [!WARNING]"));
    insta::assert_snapshot!(text);
}

#[test]
fn apply_report_lists_failures_with_auth0_details() {
    let report = ApplyReport::new(
        vec![
            Outcome {
                change_id: 1,
                action: Action::CreateUser,
                email: "a@x.io".into(),
                status: OutcomeStatus::Done,
                user_id: Some("auth0|1".into()),
                requests: 2,
                detail: None,
                error: None,
            },
            Outcome {
                change_id: 2,
                action: Action::DeleteUser,
                email: "b@x.io".into(),
                status: OutcomeStatus::Failed,
                user_id: Some("auth0|2".into()),
                requests: 1,
                detail: None,
                error: Some(FailureInfo {
                    status: Some(403),
                    error_code: Some("insufficient_scope".into()),
                    message: "Insufficient scope, expected any of: delete:users".into(),
                }),
            },
        ],
        Vec::new(),
        false,
        3,
    );
    let text = render(|o| apply_report(&report, o, &PLAIN).unwrap());
    assert!(text.contains("insufficient_scope") && text.contains("1 failed"), "{text}");
    insta::assert_snapshot!(text);
}

#[test]
fn redact_masks_every_email_in_table_markdown_and_json() {
    let p = sample_plan(true);
    let opts = RenderOptions { redact: true, ..PLAIN };
    let table = render(|o| plan_table(&p, o, &opts).unwrap());
    let md = render(|o| plan_markdown(&p, o, &MarkdownOptions { redact: true, ..Default::default() }).unwrap());
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

// ---------------------------------------------------------------------------
// The summary is complete (#10): every action, roles to create, kept, ignored and
// unchanged users, in the summary line, the table, markdown and JSON.

fn user(id: &str, email: &str, roles: &[&str], blocked: bool) -> TenantUser {
    TenantUser {
        user_id: id.into(),
        email: Some(email.into()),
        connection: DB.into(),
        blocked,
        blocked_by_sync: blocked,
        role_ids: roles.iter().map(|r| format!("rol_{r}")).collect(),
        linked_to: None,
        synced: Default::default(),
    }
}

/// A plan of `source` rows against `users`, with `policy` tweaks, through the planner.
fn plan_of(source: &[(&str, &[&str])], users: Vec<TenantUser>, tweak: impl FnOnce(&mut Policy)) -> Plan {
    let mut b = DesiredStateBuilder::new();
    for (e, r) in source {
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
    for u in users {
        t.users.insert(u.user_id.clone(), u);
    }
    let mut policy = Policy { connection: DB.into(), ..Default::default() };
    tweak(&mut policy);
    let cs = plan(&b.finish(), &t, &policy).unwrap();
    let record = policy.record(&t, &cs);
    Plan::new(
        chrono::Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0).unwrap(),
        "acme.eu.auth0.com".into(),
        DB.into(),
        t.fingerprint(),
        SourceInfo {
            kind: "sqlite".into(),
            location: "hr.sqlite".into(),
            rows: source.len() as u64,
            users: 1,
            ..Default::default()
        },
        record,
        cs,
    )
}

/// The summary line, the table, the markdown and the JSON of a plan.
fn all_views(p: &Plan) -> (String, String, String, serde_json::Value) {
    let line = auth0_sync::render::plan_summary_line(p);
    let table = render(|o| plan_table(p, o, &PLAIN).unwrap());
    let md = render(|o| plan_markdown(p, o, &MarkdownOptions::default()).unwrap());
    let json: serde_json::Value =
        serde_json::from_str(&render(|o| auth0_sync::render::plan_json(p, o, false).unwrap())).unwrap();
    (line, table, md, json)
}

/// `| label | n |` in markdown, `│ label ┆ n │` in the table.
fn counted(md: &str, table: &str, label: &str, n: u32) {
    assert!(md.contains(&format!("| {label} | {n} |")), "markdown lacks {label} = {n}:\n{md}");
    let row = table
        .lines()
        .find(|l| l.contains(&format!("│ {label} ")))
        .unwrap_or_else(|| panic!("no {label} row:\n{table}"));
    assert!(row.contains(&format!("┆ {n} ")), "table row {row:?} is not {n}");
}

#[test]
fn an_unblock_only_plan_says_it_unblocks() {
    // Blocked by auth0-sync, back in the source with the same roles: only an unblock.
    let p = plan_of(
        &[("ann@acme.example", &["viewer"])],
        vec![user("auth0|a", "ann@acme.example", &["viewer"], true)],
        |_| {},
    );
    assert_eq!(p.changeset.summary.unblock_user, 1);
    assert_eq!(p.changeset.summary.total_changes(), 1);
    let (line, table, md, json) = all_views(&p);
    assert!(line.contains("1 to unblock"), "{line}");
    assert!(!line.contains("matches"), "{line}");
    assert!(table.contains(&line) && md.contains(&line));
    counted(&md, &table, "unblock", 1);
    assert_eq!(json["summary"]["unblock_user"], 1);
}

#[test]
fn users_kept_by_on_missing_ignore_are_not_a_match() {
    let users = vec![
        user("auth0|a", "ann@acme.example", &["viewer"], false),
        user("auth0|x", "xavier@acme.example", &["admin"], false),
        user("auth0|y", "yann@acme.example", &[], false),
    ];
    let p =
        plan_of(&[("ann@acme.example", &["viewer"])], users, |p| p.on_missing = auth0_sync::plan::OnMissing::Ignore);
    assert_eq!(p.changeset.summary.kept, 2);
    let (line, table, md, json) = all_views(&p);
    assert!(!line.contains("matches the source"), "{line}");
    assert!(
        line.contains("does not match the source") && line.contains("2 user(s) not in the source are kept"),
        "{line}"
    );
    for text in [&table, &md] {
        assert!(!text.contains("matches the source"), "{text}");
    }
    counted(&md, &table, "kept although not in the source", 2);
    counted(&md, &table, "unchanged", 1);
    assert_eq!(json["summary"]["kept"], 2);
}

#[test]
fn only_ignored_users_outside_the_source_is_still_a_match() {
    let users =
        vec![user("auth0|a", "ann@acme.example", &["viewer"], false), user("auth0|c", "ci@acme.example", &[], false)];
    let p = plan_of(&[("ann@acme.example", &["viewer"])], users, |p| {
        p.ignore = auth0_sync::planner::IgnoreList::new(["ci@acme.example"]).unwrap()
    });
    let (line, table, md, _) = all_views(&p);
    assert_eq!(line, "No changes: the tenant matches the source (1 user(s) unchanged, 1 ignored).");
    counted(&md, &table, "ignored (CLIENT_IGNORE_USERS)", 1);
}

#[test]
fn every_action_and_roles_to_create_are_in_the_summary_line() {
    let users = vec![
        user("auth0|a", "ann@acme.example", &["viewer"], true),
        user("auth0|b", "bob@acme.example", &["viewer"], false),
        user("auth0|g", "gone@acme.example", &["editor"], false),
        user("auth0|k", "kept@acme.example", &[], true),
    ];
    let source: &[(&str, &[&str])] = &[
        ("ann@acme.example", &["viewer"]),
        ("bob@acme.example", &["admin", "auditor"]),
        ("new@acme.example", &["editor"]),
    ];
    let p = plan_of(source, users, |p| {
        p.on_missing = auth0_sync::plan::OnMissing::Block;
        p.create_missing_roles = true;
    });
    let s = &p.changeset.summary;
    assert_eq!(
        [s.create_user, s.unblock_user, s.update_roles, s.block_user, s.delete_user, s.create_role, s.kept],
        [1, 1, 1, 1, 0, 1, 1]
    );
    let (line, table, md, _) = all_views(&p);
    assert_eq!(
        line,
        "Plan: 1 to create, 1 to unblock, 1 to update (3 role(s) assigned, 1 removed), 1 to block, 0 to delete, 1 role(s) to create; 0 unchanged, 0 ignored, 1 kept although not in the source."
    );
    for (label, n) in auth0_sync::render::summary_rows(s) {
        counted(&md, &table, label, n);
    }
}
