//! Apply's pure parts: drift verdicts against a fresh snapshot, preflight refusals, and
//! the journal (0600, resumable, bound to its plan).

use auth0_sync::Error;
use auth0_sync::apply::journal::{Entry, Journal, path_for};
use auth0_sync::apply::{ApplyOptions, preflight};
use auth0_sync::drift::{Verdict, check};
use auth0_sync::error::PlanError;
use auth0_sync::model::{NameSet, TenantRole, TenantSnapshot, TenantUser};
use auth0_sync::plan::{Action, Plan, SourceInfo};
use auth0_sync::planner::{DeleteCap, Policy, plan};
use auth0_sync::source::{DesiredStateBuilder, RawRow};
use chrono::{Duration, TimeZone, Utc};
use std::collections::BTreeMap;

const DB: &str = "Username-Password-Authentication";

fn user(id: &str, email: &str, roles: &[&str]) -> TenantUser {
    TenantUser {
        user_id: id.into(),
        email: Some(email.into()),
        connection: DB.into(),
        blocked: false,
        blocked_by_sync: false,
        role_ids: roles.iter().map(|r| format!("rol_{r}")).collect(),
        linked_to: None,
        synced: Default::default(),
    }
}

fn snapshot(users: Vec<TenantUser>) -> TenantSnapshot {
    let mut t = TenantSnapshot::default();
    for n in ["admin", "editor", "viewer"] {
        t.roles.insert(format!("rol_{n}"), TenantRole { id: format!("rol_{n}"), name: n.into() });
    }
    for u in users {
        t.users.insert(u.user_id.clone(), u);
    }
    t
}

/// Plan: create new@ (editor), update upd@ (viewer → editor), delete del@.
fn sample() -> (Plan, TenantSnapshot) {
    let mut b = DesiredStateBuilder::new();
    for (e, r) in [("new@x.io", "editor"), ("upd@x.io", "editor")] {
        b.push(RawRow { email: Some(e.into()), roles: vec![r.into()], ..Default::default() });
    }
    let t = snapshot(vec![user("auth0|upd", "upd@x.io", &["viewer"]), user("auth0|del", "del@x.io", &["admin"])]);
    let policy = Policy { connection: DB.into(), ..Default::default() };
    let cs = plan(&b.finish(), &t, &policy).unwrap();
    let p = Plan::new(
        Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0).unwrap(),
        "acme.auth0.com".into(),
        DB.into(),
        t.fingerprint(),
        SourceInfo { kind: "sqlite".into(), location: "x".into(), rows: 2, users: 2, ..Default::default() },
        policy.record(&t, &cs),
        cs,
    );
    (p, t)
}

fn verdicts(p: &Plan, t: &TenantSnapshot) -> Vec<(Action, Verdict)> {
    let v = check(p, t, &BTreeMap::new());
    p.changeset.changes.iter().map(|c| (c.action, v[&c.id].clone())).collect()
}

#[test]
fn unchanged_tenant_means_everything_pending() {
    let (p, t) = sample();
    assert!(verdicts(&p, &t).iter().all(|(_, v)| matches!(v, Verdict::Pending(w) if !w.resumed)));
}

#[test]
fn changed_roles_are_drift_and_after_states_are_already_applied() {
    let (p, mut t) = sample();
    t.users.get_mut("auth0|upd").unwrap().role_ids = ["rol_admin".to_string()].into();
    t.users.get_mut("auth0|del").unwrap().role_ids = ["rol_viewer".to_string()].into();
    let v = verdicts(&p, &t);
    match &v[1].1 {
        Verdict::Drifted(d) => {
            assert_eq!(d.email, "upd@x.io");
            assert!(d.expected.contains("viewer") && d.found.contains("admin"), "{d:?}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(v[2].1, Verdict::Drifted(_)), "delete of a user whose roles changed is drift");

    let (p, mut t) = sample();
    t.users.get_mut("auth0|upd").unwrap().role_ids = ["rol_editor".to_string()].into();
    t.users.remove("auth0|del");
    t.users.insert("auth0|new".into(), user("auth0|new", "new@x.io", &["editor"]));
    let v = verdicts(&p, &t);
    assert_eq!(v[0].1, Verdict::AlreadyApplied { user_id: Some("auth0|new".into()) });
    assert_eq!(v[1].1, Verdict::AlreadyApplied { user_id: Some("auth0|upd".into()) });
    // A user missing from a snapshot is not proof that it is gone (search and exports
    // lag): apply asks `GET /users/{id}` before it records the delete as applied.
    assert_eq!(v[2].1, Verdict::Unseen);
}

#[test]
fn a_half_applied_role_change_is_work_in_progress_not_drift() {
    // upd@ goes from [viewer] to [editor]: apply assigns editor, then removes viewer.
    let (p, mut t) = sample();
    t.users.get_mut("auth0|upd").unwrap().role_ids = ["rol_editor".to_string(), "rol_viewer".to_string()].into();
    let v = verdicts(&p, &t);
    match &v[1].1 {
        Verdict::Pending(w) => {
            assert!(w.resumed, "{w:?}");
            assert!(w.assign.is_empty(), "editor is already there: {w:?}");
            assert_eq!(w.remove, ["viewer"]);
        }
        other => panic!("{other:?}"),
    }
    // A role neither side of the change has is someone else's edit.
    t.users.get_mut("auth0|upd").unwrap().role_ids = ["rol_editor".to_string(), "rol_admin".to_string()].into();
    assert!(matches!(verdicts(&p, &t)[1].1, Verdict::Drifted(_)));
    // Losing a role both sides keep is too (none here, so: losing viewer before editor
    // arrived is still a prefix: the removal never runs first).
    t.users.get_mut("auth0|upd").unwrap().role_ids = NameSet::new();
    assert!(matches!(verdicts(&p, &t)[1].1, Verdict::Pending(_)), "no roles is between [viewer] and [editor]");
}

#[test]
fn a_created_user_without_its_roles_is_resumed_not_recreated() {
    let (p, mut t) = sample();
    t.users.insert("auth0|new".into(), user("auth0|new", "new@x.io", &[]));
    let v = verdicts(&p, &t);
    match &v[0].1 {
        Verdict::Pending(w) => {
            assert_eq!(w.user_id.as_deref(), Some("auth0|new"), "the existing user, not a new one");
            assert_eq!(w.assign, ["editor"]);
            assert!(w.resumed);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn journaled_changes_are_not_checked_again() {
    let (p, t) = sample();
    let done: BTreeMap<u32, Option<String>> = [(1, Some("auth0|new".to_string()))].into();
    let v = check(&p, &t, &done);
    assert!(!v.contains_key(&1) && v.len() == 2);
}

#[test]
fn preflight_refuses_old_plans_empty_sources_and_too_many_deletes() {
    let (p, _) = sample();
    let opts = ApplyOptions::default();
    let made = p.created_at;
    assert!(preflight(&p, &opts, made + Duration::hours(23), 2).is_ok());
    assert!(matches!(preflight(&p, &opts, made + Duration::hours(25), 2), Err(Error::PlanTooOld { .. })));
    let strict = ApplyOptions { cap_flag: Some(DeleteCap::Count(0)), ..ApplyOptions::default() };
    assert!(matches!(preflight(&p, &strict, made, 2), Err(Error::Plan(PlanError::TooManyDeletes { removals: 1, .. }))));
    let mut empty = p.clone();
    empty.source.users = 0;
    assert!(matches!(preflight(&empty, &opts, made, 2), Err(Error::Plan(PlanError::EmptySource { .. }))));
    let allow = ApplyOptions { allow_empty_source: true, ..ApplyOptions::default() };
    assert!(preflight(&empty, &allow, made, 2).is_ok());
}

#[test]
fn journal_is_private_resumable_and_bound_to_its_plan() {
    use std::os::unix::fs::PermissionsExt;
    let (p, _) = sample();
    let dir = tempfile::tempdir().unwrap();
    let plan_path = dir.path().join("plan.json");
    let (mut j, progress) = Journal::open(&plan_path, &p, Utc::now()).unwrap();
    assert!(progress.done.is_empty());
    let entry = |id, outcome: &str| Entry::Change {
        id,
        action: Action::CreateUser,
        email: "new@x.io".into(),
        requests: 1,
        detail: None,
        user_id: Some("auth0|new".into()),
        outcome: outcome.into(),
        at: Utc::now(),
        http_status: None,
        error_code: None,
        message: None,
    };
    j.append(&entry(1, "done")).unwrap();
    j.append(&entry(2, "failed")).unwrap();
    j.append(&entry(3, "already_applied")).unwrap();
    drop(j);
    let path = path_for(&plan_path);
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);

    let (_j, progress) = Journal::open(&plan_path, &p, Utc::now()).unwrap();
    assert_eq!(progress.done.keys().copied().collect::<Vec<_>>(), [1, 3], "failed changes are retried");
    assert_eq!(progress.runs, 1);

    let mut other = p.clone();
    other.checksum = "sha256:other".into();
    assert!(matches!(Journal::open(&plan_path, &other, Utc::now()), Err(Error::BadJournal { .. })));
    // A line cut short by a crash is dropped, not fatal.
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str("{\"type\":\"change\",\"id\":2,\"act");
    std::fs::write(&path, &text).unwrap();
    let (_j, progress) = Journal::open(&plan_path, &p, Utc::now()).unwrap();
    assert_eq!(progress.done.keys().copied().collect::<Vec<_>>(), [1, 3]);
    assert!(std::fs::read_to_string(&path).unwrap().lines().all(|l| serde_json::from_str::<Entry>(l).is_ok()));
    std::fs::write(&path, "garbage\n").unwrap();
    assert!(matches!(Journal::open(&plan_path, &p, Utc::now()), Err(Error::BadJournal { .. })));
}
