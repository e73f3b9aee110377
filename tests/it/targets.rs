//! Targeted plans (`plan --only EMAIL`, `--only-file FILE`): the full rules for a few
//! users, nothing for anyone else; unknown targets are an error; the plan is marked
//! partial, and every safety rail still counts the whole source and connection.

use crate::common::{Env, run, text};
use auth0_sync::error::PlanError;
use auth0_sync::model::{DesiredState, Profile, TenantRole, TenantSnapshot, TenantUser};
use auth0_sync::plan::{Action, OnMissing, Plan, SourceInfo};
use auth0_sync::planner::{self, DeleteCap, IgnoreList, Policy};
use auth0_sync::source::{DesiredStateBuilder, RawRow};
use auth0_sync::targets::{Targets, plan_targets};
use serde_json::Value;

const DB: &str = "Username-Password-Authentication";

fn desired(rows: &[(&str, &[&str])]) -> DesiredState {
    let mut b = DesiredStateBuilder::new();
    for (e, r) in rows {
        b.push(RawRow {
            email: Some((*e).into()),
            roles: r.iter().map(|s| (*s).into()).collect(),
            profile: Profile::default(),
            ..Default::default()
        });
    }
    b.finish()
}

fn tenant(users: &[(&str, &str, &[&str])]) -> TenantSnapshot {
    let mut t = TenantSnapshot::default();
    for n in ["admin", "viewer"] {
        t.roles.insert(format!("rol_{n}"), TenantRole { id: format!("rol_{n}"), name: n.into() });
    }
    for (id, email, roles) in users {
        t.users.insert(
            (*id).into(),
            TenantUser {
                user_id: (*id).into(),
                email: Some((*email).into()),
                connection: if id.starts_with("google") { "google-oauth2".into() } else { DB.into() },
                blocked: false,
                blocked_by_sync: false,
                role_ids: roles.iter().map(|r| format!("rol_{r}")).collect(),
                linked_to: None,
                synced: Default::default(),
            },
        );
    }
    t
}

fn policy() -> Policy {
    Policy { connection: DB.into(), ..Default::default() }
}

fn targets(emails: &[&str]) -> Targets {
    Targets::new(emails).unwrap()
}

/// 3 source rows, 4 connection users (one leaver, one to update, one unchanged, one
/// ignored leaver), one user of another connection.
fn fixture() -> (DesiredState, TenantSnapshot) {
    let d = desired(&[
        ("new@acme.example", &["viewer"]),
        ("bob@acme.example", &["admin"]),
        ("same@acme.example", &["viewer"]),
    ]);
    let t = tenant(&[
        ("auth0|bob", "bob@acme.example", &["viewer"]),
        ("auth0|same", "same@acme.example", &["viewer"]),
        ("auth0|gone", "Gone@Acme.example", &["admin"]),
        ("auth0|ci", "ci@acme.example", &[]),
        ("google-oauth2|g", "guest@acme.example", &[]),
    ]);
    (d, t)
}

fn actions(cs: &auth0_sync::plan::Changeset) -> Vec<(Action, String)> {
    cs.changes.iter().map(|c| (c.action, c.user.email.clone())).collect()
}

#[test]
fn targets_get_the_changes_the_full_rules_give_them_and_no_one_else_does() {
    let (d, t) = fixture();
    let full = planner::plan(&d, &t, &policy()).unwrap();
    let only = plan_targets(&d, &t, &policy(), &targets(&["gone@acme.example", " NEW@acme.example "])).unwrap();
    assert_eq!(
        actions(&only),
        [(Action::CreateUser, "new@acme.example".into()), (Action::DeleteUser, "gone@acme.example".into())]
    );
    // The same changes as in the full plan, for these users.
    let from_full: Vec<_> =
        actions(&full).into_iter().filter(|(_, e)| e == "new@acme.example" || e == "gone@acme.example").collect();
    assert_eq!(actions(&only), from_full);
    assert_eq!(only.summary.connection_users, full.summary.connection_users, "the cap's base is the whole connection");
    assert_eq!((only.summary.unchanged, only.summary.update_roles), (0, 0), "counts are about the targets only");

    let only = plan_targets(&d, &t, &policy(), &targets(&["bob@acme.example", "same@acme.example"])).unwrap();
    assert_eq!(actions(&only), [(Action::UpdateRoles, "bob@acme.example".into())]);
    assert_eq!(only.summary.unchanged, 1);
}

#[test]
fn a_leaver_target_is_blocked_or_kept_as_on_missing_says() {
    let (d, t) = fixture();
    let block = Policy { on_missing: OnMissing::Block, ..policy() };
    let cs = plan_targets(&d, &t, &block, &targets(&["gone@acme.example"])).unwrap();
    assert_eq!(actions(&cs), [(Action::BlockUser, "gone@acme.example".into())]);
    let ignore = Policy { on_missing: OnMissing::Ignore, ..policy() };
    let cs = plan_targets(&d, &t, &ignore, &targets(&["gone@acme.example"])).unwrap();
    assert!(cs.changes.is_empty());
    assert_eq!(cs.summary.kept, 1);
    let ignored = Policy { ignore: IgnoreList::new(["ci@acme.example"]).unwrap(), ..policy() };
    let cs = plan_targets(&d, &t, &ignored, &targets(&["ci@acme.example"])).unwrap();
    assert!(cs.changes.is_empty());
    assert_eq!(cs.ignored_users, ["ci@acme.example"]);
}

#[test]
fn unknown_targets_are_an_error_listing_them_all() {
    let (d, t) = fixture();
    let err =
        plan_targets(&d, &t, &policy(), &targets(&["nobody@acme.example", "bob@acme.example", "guest@acme.example"]))
            .unwrap_err();
    match err {
        // A user of another connection cannot be acted on: it is unknown here too.
        PlanError::UnknownTargets { emails } => assert_eq!(emails, ["guest@acme.example", "nobody@acme.example"]),
        other => panic!("expected UnknownTargets, got {other:?}"),
    }
    assert_eq!(
        Targets::new(["ok@acme.example", "not-an-email", "also bad"]).unwrap_err(),
        ["not-an-email", "also bad"]
    );
}

#[test]
fn the_safety_rails_count_the_whole_source_and_connection() {
    let (d, t) = fixture();
    // The cap is checked against the whole connection.
    let one = Policy { delete_cap: DeleteCap::Count(0), ..policy() };
    let err = plan_targets(&d, &t, &one, &targets(&["gone@acme.example"])).unwrap_err();
    assert!(matches!(err, PlanError::TooManyDeletes { removals: 1, users: 4, limit: 0 }), "{err:?}");
    // An empty source is refused even when a target is in the tenant.
    let err = plan_targets(&desired(&[]), &t, &policy(), &targets(&["gone@acme.example"])).unwrap_err();
    assert!(matches!(err, PlanError::EmptySource { .. }), "{err:?}");
}

#[test]
fn a_partial_plan_records_its_targets_and_parse_holds_it_to_them() {
    let (d, t) = fixture();
    let ts = targets(&["new@acme.example", "gone@acme.example"]);
    let cs = plan_targets(&d, &t, &policy(), &ts).unwrap();
    let record = policy().record(&t, &cs);
    let plan = Plan::new(
        chrono::Utc::now(),
        "acme.eu.auth0.com".into(),
        DB.into(),
        t.fingerprint(),
        SourceInfo { kind: "sqlite".into(), location: "hr.sqlite".into(), rows: 3, users: 3, ..Default::default() },
        record,
        cs,
    )
    .with_targets(ts.iter().cloned());
    assert!(plan.is_partial());
    assert_eq!(plan.targets().unwrap(), ["gone@acme.example", "new@acme.example"]);
    let back = Plan::parse("p.json", &plan.to_json_pretty()).unwrap();
    assert_eq!(back, plan);

    // A change slipped in for someone else, checksum recomputed: refused.
    let mut forged = plan.clone();
    forged.targets = Some(vec!["new@acme.example".into()]);
    forged.checksum = forged.compute_checksum();
    let err = Plan::parse("p.json", &forged.to_json_pretty()).unwrap_err();
    assert!(err.to_string().contains("not one of the plan's targets"), "{err}");
}

// ---------------------------------------------------------------------------
// The binary

#[tokio::test(flavor = "multi_thread")]
async fn plan_only_makes_a_partial_plan_that_applies_to_the_targets_only() {
    let env = Env::demo().await;
    let list = env.path("targets.txt");
    std::fs::write(&list, "# urgent\n\n  Dave@acme.example  \n").unwrap();
    let path = env.path("plan.json");
    let mut c = env.cmd();
    c.args(["plan", "--only", "grace@acme.example", "--only-file"]).arg(&list).arg("--out").arg(&path);
    let out = run(c).await;
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(stdout.contains("Partial plan (--only): only 2 target(s)"), "{stdout}");
    assert!(stdout.contains("Partial plan (2 target(s)): Plan: 1 to create"), "{stdout}");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(v["targets"], serde_json::json!(["dave@acme.example", "grace@acme.example"]));
    let emails: Vec<&str> =
        v["changes"].as_array().unwrap().iter().map(|c| c["user"]["email"].as_str().unwrap()).collect();
    assert_eq!(emails, ["grace@acme.example", "dave@acme.example"]);

    let mut c = env.cmd();
    c.args(["show", "--format", "markdown"]).arg(&path);
    let md = text(&run(c).await.stdout);
    assert!(md.contains("**Partial plan**") && md.contains("`dave@acme.example`"), "{md}");

    let before = env.emulator.state().await;
    let mut c = env.cmd();
    c.arg("apply").arg(&path);
    let out = run(c).await;
    assert!(out.status.success(), "{}\n{}", text(&out.stdout), text(&out.stderr));
    let after = env.emulator.state().await;
    let emails = |s: &auth0_emulator::TenantState| -> std::collections::BTreeSet<String> {
        s.users.iter().filter_map(|u| u.email.clone()).collect()
    };
    let (b, a) = (emails(&before), emails(&after));
    assert_eq!(a.difference(&b).collect::<Vec<_>>(), ["grace@acme.example"]);
    assert_eq!(b.difference(&a).collect::<Vec<_>>(), ["dave@acme.example"]);
    // bob's role change and erin's deletion belong to the full plan, not this one.
    let bob = |s: &auth0_emulator::TenantState| {
        s.users.iter().find(|u| u.email.as_deref() == Some("bob@acme.example")).cloned()
    };
    assert_eq!(bob(&before).unwrap().roles, bob(&after).unwrap().roles);
    assert!(a.contains("erin@acme.example"));
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_and_invalid_targets_are_refused_before_anything_is_written() {
    let env = Env::demo().await;
    let path = env.path("plan.json");
    let mut c = env.cmd();
    c.args(["plan", "--only", "nobody@acme.example", "--only", "grace@acme.example", "--only", "ghost@acme.example"])
        .arg("--out")
        .arg(&path);
    let out = run(c).await;
    // (miette wraps long lines: read them whole)
    let stderr = text(&out.stderr).replace("\n  │ ", " ");
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("auth0_sync::plan::unknown_targets"), "{stderr}");
    assert!(stderr.contains("ghost@acme.example, nobody@acme.example"), "{stderr}");
    assert!(!path.exists());

    let mut c = env.cmd();
    c.args(["plan", "--only", "not-an-email", "--only-file"]).arg(env.path("missing.txt")).arg("--out").arg(&path);
    let out = run(c).await;
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("--only") && stderr.contains("not-an-email"), "{stderr}");
    assert!(stderr.contains("--only-file") && stderr.contains("missing.txt"), "both problems at once:\n{stderr}");
    assert!(!path.exists());
}
