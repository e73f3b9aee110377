//! Property tests over random sources and tenants: the planner cannot be talked into
//! touching what it must not touch, and its plans converge.

use auth0_sync::model::{DesiredState, NameSet, TenantRole, TenantSnapshot, TenantUser};
use auth0_sync::plan::{Action, Changeset, OnMissing, Plan, SourceInfo};
use auth0_sync::planner::{DeleteCap, IgnoreList, Policy, plan};
use auth0_sync::source::{DesiredStateBuilder, RawRow};
use proptest::prelude::*;
use std::collections::BTreeSet;

const DB: &str = "db";
const ROLES: [&str; 4] = ["admin", "editor", "viewer", "billing"];

fn email(i: u8) -> String {
    // Mixed case and spaces: normalisation must make them match.
    if i.is_multiple_of(3) { format!(" User{i}@X.io") } else { format!("user{i}@x.io") }
}

#[derive(Debug, Clone)]
struct Case {
    rows: Vec<(u8, Option<u8>)>,
    tenant: Vec<(u8, bool, Vec<u8>, bool, bool)>, // email, other connection, roles, blocked, blocked_by_sync
    ignore: Vec<u8>,
    managed: Option<Vec<u8>>,
    on_missing: OnMissing,
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec((0u8..12, prop::option::of(0u8..4)), 0..20),
        prop::collection::vec(
            (0u8..12, any::<bool>(), prop::collection::vec(0u8..4, 0..3), any::<bool>(), any::<bool>()),
            0..14,
        ),
        prop::collection::vec(0u8..12, 0..3),
        prop::option::of(prop::collection::vec(0u8..4, 0..4)),
        prop_oneof![Just(OnMissing::Delete), Just(OnMissing::Block), Just(OnMissing::Ignore)],
    )
        .prop_map(|(rows, tenant, ignore, managed, on_missing)| Case { rows, tenant, ignore, managed, on_missing })
}

fn build(c: &Case) -> (DesiredState, TenantSnapshot, Policy) {
    let mut b = DesiredStateBuilder::new();
    for (e, r) in &c.rows {
        b.push(RawRow {
            email: Some(email(*e)),
            roles: r.iter().map(|r| ROLES[*r as usize].to_owned()).collect(),
            ..Default::default()
        });
    }
    let mut t = TenantSnapshot::default();
    for r in ROLES {
        t.roles.insert(format!("rol_{r}"), TenantRole { id: format!("rol_{r}"), name: r.into() });
    }
    for (i, (e, other, roles, blocked, by_sync)) in c.tenant.iter().enumerate() {
        let id = format!("auth0|{i}");
        t.users.insert(
            id.clone(),
            TenantUser {
                user_id: id,
                email: Some(email(*e).trim().to_lowercase()),
                connection: if *other { "other".into() } else { DB.into() },
                blocked: *blocked,
                blocked_by_sync: *blocked && *by_sync,
                role_ids: roles.iter().map(|r| format!("rol_{}", ROLES[*r as usize])).collect(),
                linked_to: None,
                synced: Default::default(),
            },
        );
    }
    let policy = Policy {
        connection: DB.into(),
        ignore: IgnoreList::new(c.ignore.iter().map(|e| email(*e))).unwrap(),
        managed_roles: auth0_sync::roles::ManagedRoles(
            c.managed.as_ref().map(|m| m.iter().map(|r| ROLES[*r as usize].to_owned()).collect()),
        ),
        on_missing: c.on_missing,
        delete_cap: DeleteCap::Unlimited,
        removal_caps: auth0_sync::planner::RemovalCaps::UNLIMITED,
        allow_empty_source: true,
        create_missing_roles: false,
        ..Default::default()
    };
    (b.finish(), t, policy)
}

/// Executes a changeset against an in-memory tenant, as Auth0 would.
fn apply_model(t: &TenantSnapshot, cs: &Changeset) -> TenantSnapshot {
    let mut t = t.clone();
    let id_of = |name: &str| format!("rol_{name}");
    for c in &cs.changes {
        match c.action {
            Action::CreateUser => {
                let id = format!("new|{}", c.user.email);
                let roles = c.assign().iter().map(|r| id_of(r)).collect();
                t.users.insert(
                    id.clone(),
                    TenantUser {
                        user_id: id,
                        email: Some(c.user.email.clone()),
                        connection: DB.into(),
                        blocked: false,
                        blocked_by_sync: false,
                        role_ids: roles,
                        linked_to: None,
                        synced: Default::default(),
                    },
                );
            }
            Action::UpdateRoles => {
                let u = t.users.get_mut(c.user.user_id.as_ref().unwrap()).unwrap();
                for r in c.assign() {
                    u.role_ids.insert(id_of(r));
                }
                for r in c.remove() {
                    u.role_ids.remove(&id_of(r));
                }
            }
            Action::BlockUser | Action::UnblockUser => {
                let u = t.users.get_mut(c.user.user_id.as_ref().unwrap()).unwrap();
                u.blocked = c.action == Action::BlockUser;
                u.blocked_by_sync = u.blocked;
            }
            Action::DeleteUser => {
                t.users.remove(c.user.user_id.as_ref().unwrap());
            }
            // This model's sources have no HR key and no synced fields.
            Action::UpdateEmail | Action::AdoptUser | Action::UpdateProfile => {
                unreachable!("no keys or synced fields here: {c:?}")
            }
        }
    }
    t
}

fn roles_of(u: &TenantUser, managed: &Option<BTreeSet<String>>, keep_managed: bool) -> BTreeSet<String> {
    u.role_ids
        .iter()
        .map(|r| r.trim_start_matches("rol_").to_owned())
        .filter(|r| managed.as_ref().is_none_or(|m| m.contains(r)) == keep_managed)
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn plans_converge_and_touch_only_what_they_may(c in case()) {
        let (desired, tenant, policy) = build(&c);
        let cs = plan(&desired, &tenant, &policy).unwrap();
        let after = apply_model(&tenant, &cs);

        // Planning again on the result gives an empty plan.
        let again = plan(&desired, &after, &policy).unwrap();
        prop_assert!(again.changes.is_empty(), "second plan not empty: {:?}", again.changes);

        // Every desired user exists in the connection with exactly its managed roles.
        for (e, want) in &desired.users {
            let want: BTreeSet<String> = want.roles.iter().filter(|r| policy.managed_roles.0.as_ref().is_none_or(|m| m.contains(*r))).cloned().collect();
            let found: Vec<&TenantUser> = after.users.values().filter(|u| u.connection == DB && u.email.as_deref() == Some(e)).collect();
            prop_assert!(!found.is_empty(), "{e} missing");
            for u in found {
                prop_assert_eq!(roles_of(u, &policy.managed_roles.0, true), want.clone());
            }
        }

        for (id, before) in &tenant.users {
            let email = before.email.clone().unwrap_or_default();
            let untouchable = before.connection != DB || (policy.ignore.matches(&email) && !desired.users.contains_key(&email));
            if untouchable {
                prop_assert_eq!(after.users.get(id), Some(before), "touched {}", id);
            }
            // Roles outside AUTH0_MANAGED_ROLES are never assigned or removed.
            if let Some(now) = after.users.get(id) {
                prop_assert_eq!(roles_of(now, &policy.managed_roles.0, false), roles_of(before, &policy.managed_roles.0, false));
            }
            // Users blocked by people stay blocked.
            if before.blocked && !before.blocked_by_sync {
                prop_assert!(after.users.get(id).is_none_or(|u| u.blocked), "unblocked a manual block: {}", id);
            }
        }
        if c.on_missing == OnMissing::Delete {
            for u in after.users.values().filter(|u| u.connection == DB) {
                let e = u.email.clone().unwrap_or_default();
                prop_assert!(desired.users.contains_key(&e) || policy.ignore.matches(&e), "{e} should be gone");
            }
        }
    }

    #[test]
    fn the_plan_never_exceeds_the_deletion_cap(c in case(), cap in 0u32..6) {
        let (desired, tenant, mut policy) = build(&c);
        // Deletions and blocks are capped separately (#14).
        policy.delete_cap = DeleteCap::Count(cap);
        policy.removal_caps.blocks = DeleteCap::Count(cap);
        match plan(&desired, &tenant, &policy) {
            Ok(cs) => prop_assert!(cs.summary.delete_user <= cap && cs.summary.block_user <= cap),
            Err(auth0_sync::error::PlanError::TooManyDeletes { removals, limit, .. }) => prop_assert!(removals > limit && limit == cap),
            Err(auth0_sync::error::PlanError::TooManyRemovals { flag: "--max-blocks", limit, .. }) => prop_assert!(limit == cap),
            Err(e) => prop_assert!(false, "unexpected error {e:?}"),
        }
    }

    #[test]
    fn plan_json_round_trips_and_its_checksum_verifies(c in case()) {
        let (desired, tenant, policy) = build(&c);
        let cs = plan(&desired, &tenant, &policy).unwrap();
        let p = Plan::new(
            chrono::DateTime::from_timestamp(1_790_000_000, 123_000_000).unwrap(),
            "t.auth0.com".into(),
            DB.into(),
            tenant.fingerprint(),
            SourceInfo { kind: "sqlite".into(), location: "x".into(), rows: desired.rows, users: desired.users.len() as u64, ..Default::default() },
            policy.record(&tenant, &cs),
            cs,
        );
        let text = p.to_json_pretty();
        let back = Plan::parse("p.json", &text).unwrap();
        prop_assert_eq!(&back, &p);
        prop_assert_eq!(back.compute_checksum(), p.checksum.clone());
        prop_assert_eq!(back.to_json_pretty(), text);
    }

    /// `NameSet` (the compact role set in users and plans) behaves like a `BTreeSet`:
    /// same members, same order, same JSON, and JSON with duplicates or disorder reads
    /// back as the set.
    #[test]
    fn name_set_behaves_like_a_btree_set(ops in prop::collection::vec((any::<bool>(), 0u8..8), 0..40)) {
        let mut set = NameSet::new();
        let mut model = BTreeSet::new();
        for (insert, n) in ops {
            let name = format!("r{n}");
            if insert {
                prop_assert_eq!(set.insert(name.clone()), model.insert(name.clone()));
            } else {
                prop_assert_eq!(set.remove(&name), model.remove(&name));
            }
            prop_assert_eq!(set.contains(&name), model.contains(&name));
            prop_assert_eq!(set.len(), model.len());
        }
        prop_assert!(set.iter().eq(model.iter()));
        let json = serde_json::to_string(&set).unwrap();
        prop_assert_eq!(&json, &serde_json::to_string(&model).unwrap());
        let mut shuffled: Vec<&String> = model.iter().rev().collect();
        shuffled.extend(model.iter());
        let back: NameSet = serde_json::from_str(&serde_json::to_string(&shuffled).unwrap()).unwrap();
        prop_assert_eq!(&back, &set);
        let other: NameSet = ["r1", "r3", "r5"].into_iter().collect();
        let other_model: BTreeSet<String> = other.iter().cloned().collect();
        prop_assert!(set.difference(&other).eq(model.difference(&other_model)));
        prop_assert_eq!(set.is_subset(&other), model.is_subset(&other_model));
    }
}
