//! Planner table tests: each case is (source rows, tenant users) → expected changes.

use auth0_sync::error::PlanError;
use auth0_sync::model::{DesiredState, TenantRole, TenantSnapshot, TenantUser};
use auth0_sync::plan::Action;
use auth0_sync::planner::{IgnoreList, Policy, plan};
use auth0_sync::source::{DesiredStateBuilder, RawRow};

const DB: &str = "Username-Password-Authentication";

fn desired(rows: &[(&str, &[&str])]) -> DesiredState {
    let mut b = DesiredStateBuilder::new();
    for (email, roles) in rows {
        b.push(RawRow {
            email: Some(email.to_string()),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            ..Default::default()
        });
    }
    b.finish()
}

/// Tenant with roles admin/editor/viewer and users (id, email, connection, role names).
fn tenant(users: &[(&str, &str, &str, &[&str])]) -> TenantSnapshot {
    let mut t = TenantSnapshot::default();
    for name in ["admin", "editor", "viewer"] {
        let id = format!("rol_{name}");
        t.roles.insert(id.clone(), TenantRole { id, name: name.into() });
    }
    for (id, email, conn, roles) in users {
        t.users.insert(
            id.to_string(),
            TenantUser {
                user_id: id.to_string(),
                email: (!email.is_empty()).then(|| email.to_string()),
                connection: conn.to_string(),
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

/// Table tests use empty sources freely; the empty-source rail has its own test.
fn policy(ignore: &[&str]) -> Policy {
    Policy {
        connection: DB.into(),
        ignore: IgnoreList::new(ignore).unwrap(),
        allow_empty_source: true,
        ..Default::default()
    }
}

/// Changes as (action, email, +roles, -roles) for compact comparison.
fn changes(d: &DesiredState, t: &TenantSnapshot, p: &Policy) -> Vec<(Action, String, String)> {
    let cs = plan(d, t, p).unwrap();
    cs.changes
        .iter()
        .map(|c| {
            let mut roles: Vec<String> = c.assign().iter().map(|r| format!("+{r}")).collect();
            roles.extend(c.remove().iter().map(|r| format!("-{r}")));
            (c.action, c.user.email.clone(), roles.join(" "))
        })
        .collect()
}

fn ch(a: Action, email: &str, roles: &str) -> (Action, String, String) {
    (a, email.to_owned(), roles.to_owned())
}

#[test]
fn creates_missing_users_with_their_roles() {
    let d = desired(&[("new@x.io", &["admin", "viewer"]), ("plain@x.io", &[])]);
    let got = changes(&d, &tenant(&[]), &policy(&[]));
    assert_eq!(got, [ch(Action::CreateUser, "new@x.io", "+admin +viewer"), ch(Action::CreateUser, "plain@x.io", "")]);
}

#[test]
fn deletes_users_missing_from_the_source() {
    let t = tenant(&[("auth0|1", "gone@x.io", DB, &["viewer"])]);
    let cs = plan(&desired(&[]), &t, &policy(&[])).unwrap();
    assert_eq!(cs.changes.len(), 1);
    let c = &cs.changes[0];
    assert_eq!(c.action, Action::DeleteUser);
    assert_eq!(c.user.user_id.as_deref(), Some("auth0|1"));
    assert!(c.after.is_none());
    assert_eq!(c.before.as_ref().unwrap().roles.iter().collect::<Vec<_>>(), ["viewer"]);
    assert_eq!(cs.summary.delete_user, 1);
}

#[test]
fn ignore_list_protects_exact_emails_and_globs_case_insensitively() {
    let t = tenant(&[
        ("auth0|1", "CI-Bot@x.io", DB, &["admin"]),
        ("auth0|2", "kim@auditors.x.io", DB, &[]),
        ("auth0|3", "gone@x.io", DB, &[]),
    ]);
    let p = policy(&["ci-bot@x.io", "*@auditors.x.io"]);
    let got = changes(&desired(&[]), &t, &p);
    assert_eq!(got, [ch(Action::DeleteUser, "gone@x.io", "")]);
    assert_eq!(plan(&desired(&[]), &t, &p).unwrap().summary.ignored, 2);
}

#[test]
fn users_of_other_connections_are_untouched() {
    let t = tenant(&[("google-oauth2|1", "a@x.io", "google-oauth2", &["viewer"])]);
    // Not in the source: not deleted. In the source: created in our connection.
    assert!(changes(&desired(&[]), &t, &policy(&[])).is_empty());
    let got = changes(&desired(&[("a@x.io", &["admin"])]), &t, &policy(&[]));
    assert_eq!(got, [ch(Action::CreateUser, "a@x.io", "+admin")]);
}

#[test]
fn several_rows_give_several_roles_and_roles_are_added_and_removed() {
    let d = desired(&[("a@x.io", &["admin"]), ("A@X.io ", &["editor"]), ("b@x.io", &["viewer"])]);
    let t = tenant(&[("auth0|a", "a@x.io", DB, &["admin", "viewer"]), ("auth0|b", "b@x.io", DB, &["admin"])]);
    let cs = plan(&d, &t, &policy(&[])).unwrap();
    let got = changes(&d, &t, &policy(&[]));
    assert_eq!(
        got,
        [ch(Action::UpdateRoles, "a@x.io", "+editor -viewer"), ch(Action::UpdateRoles, "b@x.io", "+viewer -admin")]
    );
    assert_eq!((cs.summary.roles_assigned, cs.summary.roles_removed), (2, 2));
    assert_eq!(cs.roles.keys().collect::<Vec<_>>(), ["admin", "editor", "viewer"]);
}

#[test]
fn matching_state_is_a_no_op() {
    let d = desired(&[("a@x.io", &["admin", "viewer"])]);
    let t = tenant(&[("auth0|a", "A@x.io", DB, &["viewer", "admin"])]);
    let cs = plan(&d, &t, &policy(&[])).unwrap();
    assert!(cs.changes.is_empty());
    assert_eq!(cs.summary.unchanged, 1);
    assert_eq!(cs.summary.total_changes(), 0);
}

#[test]
fn unknown_roles_are_one_error_listing_every_role() {
    let d = desired(&[("a@x.io", &["admin", "pilot"]), ("b@x.io", &["astronaut"])]);
    match plan(&d, &tenant(&[]), &policy(&[])) {
        Err(PlanError::UnknownRoles { roles }) => assert_eq!(roles, ["astronaut", "pilot"]),
        other => panic!("expected UnknownRoles, got {other:?}"),
    }
}

#[test]
fn order_is_creates_then_updates_then_deletes_with_sequential_ids() {
    let d = desired(&[("z-new@x.io", &[]), ("a-new@x.io", &[]), ("m@x.io", &["admin"])]);
    let t = tenant(&[("auth0|m", "m@x.io", DB, &[]), ("auth0|d", "b-del@x.io", DB, &[])]);
    let cs = plan(&d, &t, &policy(&[])).unwrap();
    let got: Vec<(u32, Action, &str)> = cs.changes.iter().map(|c| (c.id, c.action, c.user.email.as_str())).collect();
    assert_eq!(
        got,
        [
            (1, Action::CreateUser, "a-new@x.io"),
            (2, Action::CreateUser, "z-new@x.io"),
            (3, Action::UpdateRoles, "m@x.io"),
            (4, Action::DeleteUser, "b-del@x.io"),
        ]
    );
    // Same inputs, same plan.
    assert_eq!(plan(&d, &t, &policy(&[])).unwrap(), cs);
}

#[test]
fn users_without_email_are_left_alone() {
    let t = tenant(&[("auth0|noemail", "", DB, &["admin"])]);
    assert!(changes(&desired(&[]), &t, &policy(&[])).is_empty());
}

#[test]
fn a_source_email_linked_under_another_primary_is_a_warning_not_a_create() {
    let mut t = tenant(&[
        ("google-oauth2|1099", "Linked@x.io", "google-oauth2", &["viewer"]),
        ("auth0|unknown", "nowhere@x.io", auth0_sync::model::UNKNOWN_CONNECTION, &["admin"]),
    ]);
    t.users.get_mut("google-oauth2|1099").unwrap().linked_to = Some("google-oauth2|1099".into());
    let d = desired(&[("linked@x.io", &["admin"]), ("new@x.io", &[])]);
    let cs = plan(&d, &t, &policy(&[])).unwrap();
    let got: Vec<(Action, &str)> = cs.changes.iter().map(|c| (c.action, c.user.email.as_str())).collect();
    assert_eq!(got, [(Action::CreateUser, "new@x.io")], "the linked email is not created");
    let w: Vec<&auth0_sync::model::Warning> = cs.warnings.iter().filter(|w| w.kind == "linked_account").collect();
    assert_eq!(w.len(), 1, "{:?}", cs.warnings);
    assert_eq!(w[0].email.as_deref(), Some("linked@x.io"));
    assert!(
        w[0].message.contains("linked to google-oauth2|1099") && w[0].message.contains("left alone"),
        "{}",
        w[0].message
    );
    // Neither the linked user nor the one whose connection is unknown is deleted or
    // counted as a connection user, whatever the source says.
    let cs = plan(&desired(&[]), &t, &policy(&[])).unwrap();
    assert!(cs.changes.is_empty(), "{:?}", cs.changes);
    assert_eq!(cs.summary.connection_users, 0);
}

#[test]
fn source_warnings_are_carried_into_the_changeset() {
    let d = desired(&[("broken", &["admin"]), ("ok@x.io", &[])]);
    let cs = plan(&d, &tenant(&[]), &policy(&[])).unwrap();
    assert_eq!(cs.warnings.len(), 1);
    assert_eq!(cs.warnings[0].kind, "invalid_email");
    assert_eq!(cs.changes.len(), 1);
}

#[test]
fn fingerprint_changes_when_the_tenant_changes() {
    let a = tenant(&[("auth0|1", "a@x.io", DB, &["admin"])]);
    let mut b = a.clone();
    assert_eq!(a.fingerprint(), b.fingerprint());
    b.users.get_mut("auth0|1").unwrap().role_ids.clear();
    assert_ne!(a.fingerprint(), b.fingerprint());
    assert!(a.fingerprint().starts_with("sha256:"));
}

// ---- safety rails ----

use auth0_sync::plan::OnMissing;
use auth0_sync::planner::DeleteCap;

/// A tenant of `n` connection users, none of them in the source, plus one who is.
fn big_tenant(n: usize) -> (DesiredState, TenantSnapshot) {
    let mut users: Vec<(String, String)> = (0..n).map(|i| (format!("auth0|{i}"), format!("u{i:04}@x.io"))).collect();
    users.push(("auth0|keep".into(), "keep@x.io".into()));
    let refs: Vec<(&str, &str, &str, &[&str])> =
        users.iter().map(|(i, e)| (i.as_str(), e.as_str(), DB, &[][..])).collect();
    (desired(&[("keep@x.io", &[])]), tenant(&refs))
}

/// #14 changed the default: 10% of the connection's users, at least 5 (was 10) and at
/// most 1000 (was 500), so that a source of 1 row cannot delete 8 of 11 users.
#[test]
fn default_cap_allows_five_then_ten_percent_up_to_1000() {
    assert_eq!(DeleteCap::Default.limit(5), Some(5));
    assert_eq!(DeleteCap::Default.limit(11), Some(5));
    assert_eq!(DeleteCap::Default.limit(1000), Some(100));
    assert_eq!(DeleteCap::Default.limit(100_000), Some(1000));
    assert_eq!(DeleteCap::parse("5%").unwrap().limit(1000), Some(50));
    assert_eq!(DeleteCap::parse("7").unwrap().limit(1000), Some(7));
    assert!(DeleteCap::parse("101%").is_err() && DeleteCap::parse("many").is_err());
    assert_eq!(DeleteCap::Unlimited.limit(10), None);
}

#[test]
fn too_many_deletes_are_refused_with_counts() {
    let (d, t) = big_tenant(11); // 11 of 12 users would go; the default cap is 5
    match plan(&d, &t, &policy(&[])) {
        Err(PlanError::TooManyDeletes { removals, users, limit }) => assert_eq!((removals, users, limit), (11, 12, 5)),
        other => panic!("{other:?}"),
    }
    let mut p = policy(&[]);
    p.delete_cap = DeleteCap::Count(11);
    assert_eq!(plan(&d, &t, &p).unwrap().summary.delete_user, 11);
    p.delete_cap = DeleteCap::Unlimited;
    assert!(plan(&d, &t, &p).is_ok());
    let (d, t) = big_tenant(5);
    assert!(plan(&d, &t, &policy(&[])).is_ok(), "up to 5 deletions are always allowed");
}

#[test]
fn empty_source_is_refused_unless_allowed() {
    let t = tenant(&[("auth0|1", "a@x.io", DB, &[])]);
    let mut p = policy(&[]);
    p.allow_empty_source = false;
    assert!(matches!(plan(&desired(&[]), &t, &p), Err(PlanError::EmptySource { rows: 0 })));
    // Rows that are all invalid also make an empty source.
    assert!(matches!(plan(&desired(&[("bad", &[])]), &t, &p), Err(PlanError::EmptySource { rows: 1 })));
    p.allow_empty_source = true;
    assert_eq!(plan(&desired(&[]), &t, &p).unwrap().summary.delete_user, 1);
}

#[test]
fn on_missing_block_blocks_and_unblocks_only_what_it_blocked() {
    let mut t = tenant(&[
        ("auth0|gone", "gone@x.io", DB, &["viewer"]),
        ("auth0|back", "back@x.io", DB, &["viewer"]),
        ("auth0|manual", "manual@x.io", DB, &["viewer"]),
        ("auth0|stillgone", "stillgone@x.io", DB, &[]),
    ]);
    for (id, by_sync) in [("auth0|back", true), ("auth0|manual", false), ("auth0|stillgone", true)] {
        let u = t.users.get_mut(id).unwrap();
        u.blocked = true;
        u.blocked_by_sync = by_sync;
    }
    let d = desired(&[("back@x.io", &["viewer"]), ("manual@x.io", &["viewer"])]);
    let mut p = policy(&[]);
    p.on_missing = OnMissing::Block;
    let got = changes(&d, &t, &p);
    assert_eq!(got, [ch(Action::UnblockUser, "back@x.io", ""), ch(Action::BlockUser, "gone@x.io", "")]);
    let cs = plan(&d, &t, &p).unwrap();
    assert_eq!(cs.summary.kept, 1, "an already blocked missing user is kept as is");
    // Whatever the mode, a user auth0-sync blocked is unblocked when it is back; the
    // missing ones are then left alone (ignore) or deleted (delete).
    p.on_missing = OnMissing::Ignore;
    assert_eq!(changes(&d, &t, &p), [ch(Action::UnblockUser, "back@x.io", "")]);
    p.on_missing = OnMissing::Delete;
    let got = changes(&d, &t, &p);
    assert_eq!(
        got,
        [
            ch(Action::UnblockUser, "back@x.io", ""),
            ch(Action::DeleteUser, "gone@x.io", ""),
            ch(Action::DeleteUser, "stillgone@x.io", "")
        ]
    );
}

#[test]
fn unmanaged_roles_are_never_assigned_or_removed() {
    let d = desired(&[("a@x.io", &["editor", "admin"])]);
    let t = tenant(&[("auth0|a", "a@x.io", DB, &["viewer"])]);
    let mut p = policy(&[]);
    p.managed_roles = auth0_sync::roles::ManagedRoles(Some(["editor".to_string()].into()));
    let cs = plan(&d, &t, &p).unwrap();
    assert_eq!(changes(&d, &t, &p), [ch(Action::UpdateRoles, "a@x.io", "+editor")]);
    assert!(cs.warnings.iter().any(|w| w.kind == "unmanaged_role" && w.message.contains("admin")));
}

#[test]
fn missing_roles_can_be_planned_for_creation() {
    let d = desired(&[("a@x.io", &["pilot"])]);
    let mut p = policy(&[]);
    p.create_missing_roles = true;
    let cs = plan(&d, &tenant(&[]), &p).unwrap();
    assert_eq!(cs.create_roles, ["pilot"]);
    assert_eq!(cs.summary.create_role, 1);
    assert!(!cs.roles.contains_key("pilot"), "its id is only known at apply time");
}

/// The summary accounts for every connection user (#10): each one is unchanged,
/// changed (unblocked and/or roles updated), ignored, kept, blocked or deleted, and
/// each desired user not in the tenant is created; nobody is left out of the counts.
#[test]
fn the_summary_accounts_for_every_user() {
    let mut t = tenant(&[
        ("auth0|same", "same@x.io", DB, &["viewer"]),
        ("auth0|upd", "upd@x.io", DB, &["viewer"]),
        ("auth0|back", "back@x.io", DB, &["editor"]),
        ("auth0|gone", "gone@x.io", DB, &["viewer"]),
        ("auth0|asleep", "asleep@x.io", DB, &[]),
        ("auth0|ci", "ci@x.io", DB, &[]),
        ("google|g", "g@x.io", "google-oauth2", &[]),
    ]);
    for id in ["auth0|back", "auth0|asleep"] {
        let u = t.users.get_mut(id).unwrap();
        u.blocked = true;
        u.blocked_by_sync = true;
    }
    let d = desired(&[
        ("same@x.io", &["viewer"]),
        ("upd@x.io", &["admin"]),
        ("back@x.io", &["viewer"]),
        ("new@x.io", &["viewer"]),
    ]);
    for mode in [OnMissing::Delete, OnMissing::Block, OnMissing::Ignore] {
        let mut p = policy(&["ci@x.io"]);
        p.on_missing = mode;
        let cs = plan(&d, &t, &p).unwrap();
        let s = &cs.summary;
        let changed: std::collections::BTreeSet<&str> = cs
            .changes
            .iter()
            .filter(|c| matches!(c.action, Action::UnblockUser | Action::UpdateRoles))
            .map(|c| c.user.email.as_str())
            .collect();
        assert_eq!(changed.len(), 2, "{mode:?}: upd and back");
        assert_eq!(
            s.unchanged + changed.len() as u32 + s.ignored + s.kept + s.block_user + s.delete_user,
            s.connection_users,
            "{mode:?}: every connection user is counted once: {s:?}"
        );
        assert_eq!(s.create_user, 1, "{mode:?}");
        assert_eq!(s.connection_users, 6, "the other connection's user is not counted");
        let expected_kept = match mode {
            OnMissing::Delete => 0,
            OnMissing::Block => 1,  // asleep, already blocked
            OnMissing::Ignore => 2, // gone and asleep
        };
        assert_eq!(s.kept, expected_kept, "{mode:?}");
    }
}

// ------------------------------------------------ #13: HR key, renames, profile, metadata

mod keys {
    use super::*;
    use auth0_sync::fields::{FieldAuthority, OnNull};
    use auth0_sync::model::{Profile, SourceColumns, SyncedFields};
    use auth0_sync::source::ColumnMap;
    use serde_json::{Value, json};

    /// A source row: (key, email, given_name, app_metadata.dept), NULL as `None`.
    type Row<'a> = (Option<&'a str>, &'a str, Option<&'a str>, Option<&'a str>);

    fn source(rows: &[Row<'_>]) -> DesiredState {
        let map = ColumnMap::new(&["employee_id", "email", "role", "given_name", "app_metadata.dept"]).unwrap();
        let mut b = DesiredStateBuilder::with_columns(map.columns());
        for (key, email, given, dept) in rows {
            b.push(RawRow {
                email: Some((*email).into()),
                roles: vec!["viewer".into()],
                profile: Profile { given_name: given.map(str::to_owned), ..Default::default() },
                key: key.map(str::to_owned),
                metadata: vec![("dept".into(), dept.map(str::to_owned))],
            });
        }
        b.finish()
    }

    /// A tenant user: (id, email, key, given_name, app_metadata); each holds viewer.
    type Held<'a> = (&'a str, &'a str, Option<&'a str>, Option<&'a str>, Value);

    fn keyed(users: &[Held<'_>]) -> TenantSnapshot {
        let mut t = tenant(&[]);
        for (id, email, key, given, md) in users {
            let metadata = md.as_object().cloned().unwrap_or_default().into_iter().collect();
            t.users.insert(
                id.to_string(),
                TenantUser {
                    user_id: id.to_string(),
                    email: Some(email.to_string()),
                    connection: DB.into(),
                    blocked: false,
                    blocked_by_sync: false,
                    role_ids: ["rol_viewer".to_owned()].into_iter().collect(),
                    linked_to: None,
                    synced: SyncedFields {
                        key: key.map(str::to_owned),
                        profile: Profile { given_name: given.map(str::to_owned), ..Default::default() },
                        metadata,
                    },
                },
            );
        }
        t
    }

    fn acts(cs: &auth0_sync::plan::Changeset) -> Vec<(Action, String, Option<String>)> {
        cs.changes.iter().map(|c| (c.action, c.user.email.clone(), c.user.user_id.clone())).collect()
    }

    fn a(action: Action, email: &str, id: Option<&str>) -> (Action, String, Option<String>) {
        (action, email.to_owned(), id.map(str::to_owned))
    }

    fn with(auth: &str, on_null: OnNull) -> Policy {
        Policy { authority: FieldAuthority::parse(auth).unwrap(), on_null, ..policy(&[]) }
    }

    #[test]
    fn a_keyless_user_with_the_address_is_adopted_and_nothing_else_changes() {
        let d = source(&[(Some("E1"), "ann@x.io", Some("Ann"), Some("IT"))]);
        let t = keyed(&[("auth0|1", "ann@x.io", None, Some("Ann"), json!({"dept": "IT"}))]);
        let cs = plan(&d, &t, &policy(&[])).unwrap();
        assert_eq!(acts(&cs), [a(Action::AdoptUser, "ann@x.io", Some("auth0|1"))]);
        let c = &cs.changes[0];
        assert_eq!(c.before.as_ref().unwrap().key, None);
        assert_eq!(c.after.as_ref().unwrap().key.as_deref(), Some("E1"));
        // Adoption does not carry roles or fields of its own.
        assert_eq!(c.before.as_ref().unwrap().roles, c.after.as_ref().unwrap().roles);
        assert!(c.after.as_ref().unwrap().fields.is_empty());
        assert_eq!(cs.summary.adopt_user, 1);
        // Once adopted, nothing is left to do.
        let t = keyed(&[("auth0|1", "ann@x.io", Some("E1"), Some("Ann"), json!({"dept": "IT"}))]);
        assert!(plan(&d, &t, &policy(&[])).unwrap().changes.is_empty());
    }

    #[test]
    fn adoption_and_a_profile_change_are_separate_changes() {
        let d = source(&[(Some("E1"), "ann@x.io", Some("Anne"), Some("IT"))]);
        let t = keyed(&[("auth0|1", "ann@x.io", None, Some("Ann"), json!({}))]);
        let cs = plan(&d, &t, &policy(&[])).unwrap();
        assert_eq!(
            acts(&cs),
            [a(Action::AdoptUser, "ann@x.io", Some("auth0|1")), a(Action::UpdateProfile, "ann@x.io", Some("auth0|1"))]
        );
        let p = &cs.changes[1];
        assert_eq!(p.before.as_ref().unwrap().fields["given_name"], json!("Ann"));
        assert_eq!(p.after.as_ref().unwrap().fields["given_name"], json!("Anne"));
        assert_eq!(p.before.as_ref().unwrap().fields["app_metadata.dept"], Value::Null);
        assert_eq!(p.after.as_ref().unwrap().fields["app_metadata.dept"], json!("IT"));
    }

    #[test]
    fn a_key_with_a_new_address_is_renamed_never_deleted_and_created() {
        let d = source(&[(Some("E1"), "ann.lee@x.io", None, None)]);
        let t = keyed(&[("auth0|1", "ann@x.io", Some("E1"), None, json!({"other": 1}))]);
        let cs = plan(&d, &t, &policy(&[])).unwrap();
        assert_eq!(acts(&cs), [a(Action::UpdateEmail, "ann.lee@x.io", Some("auth0|1"))]);
        let c = &cs.changes[0];
        assert_eq!(c.before.as_ref().unwrap().email.as_deref(), Some("ann@x.io"));
        let after = c.after.as_ref().unwrap();
        assert_eq!(after.email.as_deref(), Some("ann.lee@x.io"));
        // What is sent, stated in the plan: unverified, and Auth0 mails a verification link.
        assert_eq!((after.email_verified, after.verify_email), (Some(false), Some(true)));
        assert_eq!((cs.summary.create_user, cs.summary.delete_user, cs.summary.update_email), (0, 0, 1));
    }

    #[test]
    fn a_recycled_address_is_refused_naming_both_keys() {
        // E2 is a new hire with the address E1 (who left) still holds.
        let d = source(&[(Some("E2"), "ann@x.io", None, None)]);
        let t = keyed(&[("auth0|1", "ann@x.io", Some("E1"), None, json!({}))]);
        let err = plan(&d, &t, &policy(&[])).unwrap_err();
        let PlanError::AddressTaken { conflicts } = &err else { panic!("{err:?}") };
        assert_eq!(conflicts.len(), 1, "{conflicts:?}");
        assert!(conflicts[0].contains("key E2") && conflicts[0].contains("key E1"), "{conflicts:?}");
        assert!(conflicts[0].contains("auth0|1"), "{conflicts:?}");
    }

    #[test]
    fn a_rename_onto_an_address_another_key_holds_is_refused() {
        let d = source(&[(Some("E1"), "bob@x.io", None, None), (Some("E2"), "bob2@x.io", None, None)]);
        let t = keyed(&[
            ("auth0|1", "ann@x.io", Some("E1"), None, json!({})),
            ("auth0|2", "bob@x.io", Some("E3"), None, json!({})),
        ]);
        let err = plan(&d, &t, &policy(&[])).unwrap_err();
        let PlanError::AddressTaken { conflicts } = &err else { panic!("{err:?}") };
        assert!(conflicts.iter().any(|c| c.contains("key E1") && c.contains("key E3")), "{conflicts:?}");
    }

    #[test]
    fn swapped_addresses_are_refused_with_the_two_plan_way() {
        let d = source(&[(Some("E1"), "bob@x.io", None, None), (Some("E2"), "ann@x.io", None, None)]);
        let t = keyed(&[
            ("auth0|1", "ann@x.io", Some("E1"), None, json!({})),
            ("auth0|2", "bob@x.io", Some("E2"), None, json!({})),
        ]);
        let err = plan(&d, &t, &policy(&[])).unwrap_err();
        let PlanError::SwappedEmails { cycles } = &err else { panic!("{err:?}") };
        assert_eq!(cycles.len(), 1, "{cycles:?}");
        assert!(cycles[0].contains("key E1") && cycles[0].contains("key E2"), "{cycles:?}");
        let help = miette::Diagnostic::help(&err).unwrap().to_string();
        assert!(help.contains("two plans") && help.contains("temporary address"), "{help}");
    }

    #[test]
    fn chained_renames_free_each_address_before_it_is_taken() {
        // E1 takes b@ from E2, E2 takes c@ from E3, E3 moves to d@ (free); a new hire takes a@.
        let d = source(&[
            (Some("E1"), "b@x.io", None, None),
            (Some("E2"), "c@x.io", None, None),
            (Some("E3"), "d@x.io", None, None),
            (Some("E4"), "a@x.io", None, None),
        ]);
        let t = keyed(&[
            ("auth0|1", "a@x.io", Some("E1"), None, json!({})),
            ("auth0|2", "b@x.io", Some("E2"), None, json!({})),
            ("auth0|3", "c@x.io", Some("E3"), None, json!({})),
        ]);
        let cs = plan(&d, &t, &policy(&[])).unwrap();
        let renames: Vec<_> = acts(&cs).into_iter().filter(|c| c.0 == Action::UpdateEmail).collect();
        // Whoever's new address is free goes first, then those waiting on them.
        assert_eq!(
            renames,
            [
                a(Action::UpdateEmail, "d@x.io", Some("auth0|3")),
                a(Action::UpdateEmail, "c@x.io", Some("auth0|2")),
                a(Action::UpdateEmail, "b@x.io", Some("auth0|1")),
            ]
        );
        // Renames come before the create that takes the first address.
        let first_create = cs.changes.iter().position(|c| c.action == Action::CreateUser).unwrap();
        assert!(cs.changes[..first_create].iter().all(|c| c.action == Action::UpdateEmail));
        assert_eq!(cs.changes[first_create].user.email, "a@x.io");
    }

    #[test]
    fn two_rows_with_one_key_and_two_emails_are_warnings_and_the_key_is_not_used() {
        let d = source(&[(Some("E1"), "ann@x.io", None, None), (Some("E1"), "ann2@x.io", None, None)]);
        assert!(d.warnings.iter().any(|w| w.kind == "conflicting_key"), "{:?}", d.warnings);
        assert!(d.users.values().all(|u| u.key.is_none()));
        // The tenant user holding the key is kept (not renamed, not deleted); the rows are
        // matched by email only.
        let t = keyed(&[("auth0|1", "old@x.io", Some("E1"), None, json!({}))]);
        let cs = plan(&d, &t, &policy(&[])).unwrap();
        assert_eq!(acts(&cs), [a(Action::CreateUser, "ann2@x.io", None), a(Action::CreateUser, "ann@x.io", None)]);
        assert_eq!(cs.summary.kept, 1);
    }

    /// Each authority × NULL rule for a field the tenant holds and the source changes,
    /// clears, or gives a user being created.
    #[test]
    fn profile_and_metadata_follow_each_authority_and_null_rule() {
        struct Case {
            auth: &'static str,
            on_null: OnNull,
            row: Row<'static>,
            /// Expected update_profile after-fields (empty: no change).
            want: Value,
        }
        let cases = [
            // force: HR wins.
            Case {
                auth: "",
                on_null: OnNull::Keep,
                row: (Some("E1"), "a@x.io", Some("Anne"), Some("HR")),
                want: json!({"given_name": "Anne", "app_metadata.dept": "HR"}),
            },
            Case {
                auth: "given_name=force",
                on_null: OnNull::Keep,
                row: (Some("E1"), "a@x.io", Some("Anne"), Some("IT")),
                want: json!({"given_name": "Anne"}),
            },
            // create_only / ignore: left alone once the user exists.
            Case {
                auth: "given_name=create_only",
                on_null: OnNull::Keep,
                row: (Some("E1"), "a@x.io", Some("Anne"), Some("HR")),
                want: json!({"app_metadata.dept": "HR"}),
            },
            Case {
                auth: "given_name=ignore,app_metadata.dept=ignore",
                on_null: OnNull::Keep,
                row: (Some("E1"), "a@x.io", Some("Anne"), Some("HR")),
                want: json!({}),
            },
            Case {
                auth: "app_metadata.dept=create_only",
                on_null: OnNull::Clear,
                row: (Some("E1"), "a@x.io", Some("Ann"), None),
                want: json!({}),
            },
            // NULL: keep leaves the tenant's value, clear sends null (never "").
            Case { auth: "", on_null: OnNull::Keep, row: (Some("E1"), "a@x.io", None, None), want: json!({}) },
            Case {
                auth: "",
                on_null: OnNull::Clear,
                row: (Some("E1"), "a@x.io", None, None),
                want: json!({"given_name": null, "app_metadata.dept": null}),
            },
            Case {
                auth: "given_name=ignore",
                on_null: OnNull::Clear,
                row: (Some("E1"), "a@x.io", None, Some("IT")),
                want: json!({}),
            },
        ];
        let t = keyed(&[("auth0|1", "a@x.io", Some("E1"), Some("Ann"), json!({"dept": "IT", "badge": "B-1"}))]);
        for (i, c) in cases.iter().enumerate() {
            let d = source(&[c.row]);
            let cs = plan(&d, &t, &with(c.auth, c.on_null)).unwrap();
            let got: Value = cs
                .changes
                .iter()
                .find(|ch| ch.action == Action::UpdateProfile)
                .map(|ch| json!(ch.after.as_ref().unwrap().fields))
                .unwrap_or(json!({}));
            assert_eq!(got, c.want, "case {i} ({}, {:?})", c.auth, c.on_null);
            // Only the keys the query names: `badge` is never touched.
            assert!(cs.changes.iter().all(|ch| ch.after.iter().all(|a| !a.fields.contains_key("app_metadata.badge"))));
            if let Some(ch) = cs.changes.iter().find(|ch| ch.action == Action::UpdateProfile) {
                let before = &ch.before.as_ref().unwrap().fields;
                assert_eq!(
                    before.keys().collect::<Vec<_>>(),
                    ch.after.as_ref().unwrap().fields.keys().collect::<Vec<_>>(),
                    "case {i}: the same fields before and after"
                );
            }
        }
    }

    #[test]
    fn a_create_writes_force_and_create_only_fields_but_not_ignored_ones() {
        let d = source(&[(Some("E9"), "new@x.io", Some("Nia"), Some("Ops"))]);
        for (auth, given, dept) in [
            ("", Some("Nia"), Some(json!("Ops"))),
            ("given_name=create_only,app_metadata.dept=create_only", Some("Nia"), Some(json!("Ops"))),
            ("given_name=ignore,app_metadata.dept=ignore", None, None),
        ] {
            let cs = plan(&d, &tenant(&[]), &with(auth, OnNull::Keep)).unwrap();
            let after = cs.changes[0].after.as_ref().unwrap();
            assert_eq!(cs.changes[0].action, Action::CreateUser);
            assert_eq!(after.key.as_deref(), Some("E9"), "{auth}");
            assert_eq!(after.profile.given_name.as_deref(), given, "{auth}");
            assert_eq!(after.fields.get("app_metadata.dept").cloned(), dept, "{auth}");
        }
    }

    #[test]
    fn a_column_the_query_does_not_return_is_not_synced() {
        // No given_name / app_metadata.dept columns: the tenant's values are left alone
        // even under clear.
        let mut b = DesiredStateBuilder::with_columns(SourceColumns {
            key: Some("employee_id".into()),
            fields: Default::default(),
        });
        b.push(RawRow {
            email: Some("a@x.io".into()),
            roles: vec!["viewer".into()],
            key: Some("E1".into()),
            ..Default::default()
        });
        let d = b.finish();
        let t = keyed(&[("auth0|1", "a@x.io", Some("E1"), Some("Ann"), json!({"dept": "IT"}))]);
        assert!(plan(&d, &t, &with("", OnNull::Clear)).unwrap().changes.is_empty());
    }

    #[test]
    fn a_bad_authority_entry_says_what_is_wrong() {
        let bad =
            FieldAuthority::parse("given_name=sometimes,email=force,app_metadata.auth0_sync=ignore,nokey").unwrap_err();
        assert_eq!(bad.len(), 4, "{bad:?}");
        assert!(bad[0].contains("sometimes") && bad[1].contains("email") && bad[2].contains("namespace"), "{bad:?}");
        assert!(bad[3].contains("FIELD=AUTHORITY"), "{bad:?}");
    }
}
