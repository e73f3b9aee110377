//! `--format markdown` fits its character budget (`--max-chars`, default 60,000, under
//! GitHub's 65,536 per comment) whatever the plan's size: at 10,000 changes every
//! deletion is still listed, role changes are grouped per role, and what was left out
//! is said, with the command that shows it all.

use auth0_sync::model::{DesiredState, Profile, TenantRole, TenantSnapshot, TenantUser};
use auth0_sync::plan::{Plan, SourceInfo};
use auth0_sync::planner::{DeleteCap, Policy, plan};
use auth0_sync::render::{MARKER_PREFIX, MarkdownOptions, plan_markdown};
use auth0_sync::source::{DesiredStateBuilder, RawRow};
use chrono::TimeZone;

const DB: &str = "Username-Password-Authentication";
const GITHUB_LIMIT: usize = 65_536;

/// A tenant and a source giving `deletes` deletions, `updates` role changes
/// (half `+admin`, half `+editor -viewer`) and `creates` creations.
fn big_plan(deletes: usize, updates: usize, creates: usize) -> Plan {
    let mut t = TenantSnapshot::default();
    for n in ["admin", "editor", "viewer"] {
        t.roles.insert(format!("rol_{n}"), TenantRole { id: format!("rol_{n}"), name: n.into() });
    }
    let mut add = |email: String, roles: &[&str]| {
        let id = format!("auth0|{email}");
        t.users.insert(
            id.clone(),
            TenantUser {
                user_id: id,
                email: Some(email),
                connection: DB.into(),
                blocked: false,
                blocked_by_sync: false,
                role_ids: roles.iter().map(|r| format!("rol_{r}")).collect(),
                linked_to: None,
                synced: Default::default(),
            },
        );
    };
    for i in 0..deletes {
        add(format!("leaver{i:05}@acme.example"), &["viewer"]);
    }
    for i in 0..updates {
        add(format!("staff{i:05}@acme.example"), &["viewer"]);
    }
    let mut b = DesiredStateBuilder::new();
    let mut row = |email: String, roles: &[&str]| {
        b.push(RawRow {
            email: Some(email),
            roles: roles.iter().map(|r| (*r).into()).collect(),
            profile: Profile::default(),
            ..Default::default()
        })
    };
    for i in 0..updates {
        let roles: &[&str] = if i % 2 == 0 { &["admin", "viewer"] } else { &["editor"] };
        row(format!("staff{i:05}@acme.example"), roles);
    }
    for i in 0..creates {
        row(format!("joiner{i:05}@acme.example"), &["viewer"]);
    }
    let desired: DesiredState = b.finish();
    let policy = Policy {
        connection: DB.into(),
        delete_cap: DeleteCap::Unlimited,
        removal_caps: auth0_sync::planner::RemovalCaps::UNLIMITED,
        allow_empty_source: true,
        ..Default::default()
    };
    let cs = plan(&desired, &t, &policy).unwrap();
    let record = policy.record(&t, &cs);
    Plan::new(
        chrono::Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0).unwrap(),
        "acme.eu.auth0.com".into(),
        DB.into(),
        t.fingerprint(),
        SourceInfo {
            kind: "sqlite".into(),
            location: "hr.sqlite".into(),
            rows: desired.rows,
            users: desired.users.len() as u64,
            ..Default::default()
        },
        record,
        cs,
    )
}

fn markdown(p: &Plan, max_chars: usize) -> String {
    let mut out = Vec::new();
    let opts = MarkdownOptions { max_chars, plan_path: Some("plans/plan.json".into()), ..Default::default() };
    plan_markdown(p, &mut out, &opts).unwrap();
    String::from_utf8(out).unwrap()
}

fn chars(s: &str) -> usize {
    s.chars().count()
}

/// Every line but the long lists, long lines cut: the shape of the comment.
fn outline(md: &str) -> String {
    md.lines()
        .filter(|l| !l.starts_with("- `"))
        .map(|l| if chars(l) > 140 { format!("{}…", l.chars().take(140).collect::<String>()) } else { l.to_owned() })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn ten_thousand_changes_fit_a_comment_with_every_deletion() {
    let p = big_plan(1_000, 7_000, 2_000);
    assert_eq!(p.changeset.changes.len(), 10_000);
    let md = markdown(&p, MarkdownOptions::DEFAULT_MAX_CHARS);
    assert!(chars(&md) <= MarkdownOptions::DEFAULT_MAX_CHARS, "{} characters", chars(&md));
    assert!(chars(&md) < GITHUB_LIMIT);
    assert!(md.starts_with(MARKER_PREFIX), "the marker line comes first");
    for i in 0..1_000 {
        let line = format!("- `leaver{i:05}@acme.example` (roles: viewer)\n");
        assert!(md.contains(&line), "deletion {i} is missing");
    }
    assert!(!md.contains("[!CAUTION]"), "every deletion fits: no notice");
    // Role changes grouped per role, each with its full count.
    assert!(md.contains("- **+admin**: 3500 user(s): `staff00000@acme.example`"), "{}", outline(&md));
    assert!(md.contains("- **+editor**: 3500 user(s)"));
    assert!(md.contains("- **-viewer**: 3500 user(s)"));
    // What was left out, and where to see it all.
    let left_out =
        md.lines().find(|l| l.starts_with("**Left out to fit 60000 characters:**")).expect("a left-out line");
    assert!(left_out.contains("creation(s)") && left_out.contains("role-change entries"), "{left_out}");
    assert!(left_out.contains("`auth0-sync show plans/plan.json` has it all"), "{left_out}");
    insta::assert_snapshot!(outline(&md));
}

#[test]
fn deletions_that_do_not_fit_are_counted_plainly_never_dropped_silently() {
    let p = big_plan(3_000, 10, 10);
    let md = markdown(&p, MarkdownOptions::DEFAULT_MAX_CHARS);
    assert!(chars(&md) <= MarkdownOptions::DEFAULT_MAX_CHARS);
    let listed = (0..3_000).filter(|i| md.contains(&format!("`leaver{i:05}@acme.example`"))).count();
    assert!(listed > 1_000, "as many deletions as fit are listed ({listed})");
    let missing = 3_000 - listed;
    let notice = format!("This plan deletes or blocks 3000 user(s); {missing} of them are **not listed here**");
    assert!(md.contains(&notice), "the notice at the top says how many are not listed:\n{}", outline(&md));
    assert!(md.find("[!CAUTION]").unwrap() < md.find("#### Deletions").unwrap(), "the notice comes before the list");
    assert!(md.contains(&format!("- … and {missing} more user(s)")), "and the list ends with the count");
    assert!(md.contains(&format!("{missing} deletions")), "and the left-out line names them");
}

#[test]
fn the_budget_holds_for_any_size_and_budget() {
    for (d, u, c) in
        [(0, 0, 0), (1, 1, 1), (20, 300, 5), (600, 0, 0), (0, 5_000, 0), (0, 0, 5_000), (1_000, 7_000, 2_000)]
    {
        let p = big_plan(d, u, c);
        for max in [5_000, 12_345, 30_000, 60_000, 200_000] {
            let md = markdown(&p, max);
            assert!(chars(&md) <= max, "{d}/{u}/{c} at {max}: {} characters", chars(&md));
            assert!(md.starts_with(MARKER_PREFIX));
            // Nothing is left out without saying so.
            let complete =
                md.matches("\n- `").count() == d + c && !md.contains(", and ") && !md.contains("more role group");
            assert!(complete || md.contains("**Left out to fit"), "{d}/{u}/{c} at {max}: silent truncation");
            assert!(md.trim_end().ends_with("</sub>"), "the identity line closes the comment");
        }
    }
}

#[test]
fn a_small_plan_is_shown_whole() {
    let p = big_plan(2, 3, 2);
    let md = markdown(&p, MarkdownOptions::DEFAULT_MAX_CHARS);
    assert!(!md.contains("Left out"), "{md}");
    for e in ["leaver00001", "joiner00001", "staff00002"] {
        assert!(md.contains(e), "{e} missing:\n{md}");
    }
    insta::assert_snapshot!(md);
}
