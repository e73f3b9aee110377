//! The planner: a pure function from (desired users, tenant snapshot, policy) to a
//! changeset. No I/O, no clock, no async; `BTreeMap` everywhere for stable order.

// The planner's inputs, so that `planner::{plan, Policy, DeleteCap, ...}` is its whole face.
pub use crate::caps::{CapBase, DeleteCap, RemovalCaps, check_delete_cap, check_removal_caps};
pub use crate::ignore::IgnoreList;
pub use crate::policy::Policy;
// Targeted plans (`plan --only`) run this planner on the targets' users.
pub use crate::targets::{Targets, plan_targets};

use crate::email;
use crate::error::PlanError;
use crate::model::{DesiredState, NameSet, TenantSnapshot, TenantUser, Warning};
use crate::plan::{Action, Change, Changeset, OnMissing, Summary, UserRef, UserState};
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

/// Computes the changes that make the connection's users match `desired`.
///
/// Order: creates, unblocks, role updates, blocks, deletes; by email within each.
/// Errors: [`PlanError::UnknownRoles`] listing every (managed) role the source names that
/// the tenant lacks, unless `create_missing_roles`; [`PlanError::EmptySource`];
/// [`PlanError::TooManyDeletes`]; [`PlanError::TooManyRemovals`] (blocks, role removals).
pub fn plan(desired: &DesiredState, tenant: &TenantSnapshot, policy: &Policy) -> Result<Changeset, PlanError> {
    if desired.users.is_empty() && !policy.allow_empty_source {
        return Err(PlanError::EmptySource { rows: desired.rows });
    }
    let role_ids = tenant.role_ids_by_name();
    let mut warnings = desired.warnings.clone();
    let source_roles = desired.role_names();
    let unmanaged: BTreeSet<&str> = source_roles.iter().copied().filter(|r| !policy.manages(r)).collect();
    for r in &unmanaged {
        warnings.push(Warning {
            kind: "unmanaged_role".into(),
            row: None,
            email: None,
            message: format!(
                "role {r:?} is named by the source but is not in AUTH0_MANAGED_ROLES; it is left as it is"
            ),
        });
    }
    let unknown: Vec<String> = source_roles
        .iter()
        .copied()
        .filter(|r| policy.manages(r) && !role_ids.contains_key(r))
        .map(str::to_owned)
        .collect();
    if !unknown.is_empty() && !policy.create_missing_roles {
        return Err(PlanError::UnknownRoles { roles: unknown });
    }

    // The connection's users sorted by normalised email (no allocation for emails that
    // are already normal), merge-joined with the desired users (sorted by the BTreeMap).
    // Users without an email cannot be matched to a row; they are left alone.
    let mut existing: Vec<(Cow<'_, str>, &TenantUser)> = Vec::new();
    let mut connection_users = 0u32;
    // Users whose identity in the connection is linked under another primary: their
    // email is taken in the connection (a create would be a 409), and they are not ours.
    let mut linked: BTreeMap<Cow<'_, str>, &TenantUser> = BTreeMap::new();
    for u in tenant.users.values() {
        if u.connection == policy.connection && u.linked_to.is_none() {
            connection_users += 1;
            if let Some(e) = &u.email {
                existing.push((email::key(e), u));
            }
        } else if u.linked_to.is_some()
            && let Some(e) = &u.email
        {
            linked.entry(email::key(e)).or_insert(u);
        }
    }
    existing.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.user_id.cmp(&b.1.user_id)));

    let mut by_action: BTreeMap<Action, Vec<Change>> = BTreeMap::new();
    let mut summary = Summary { connection_users, ..Summary::default() };
    let mut used_roles: BTreeSet<String> = BTreeSet::new();
    let mut ignored_users = Vec::new();
    let change = |action, email: &str, user_id: Option<&str>, before, after| Change {
        id: 0,
        action,
        user: UserRef { email: email.to_owned(), user_id: user_id.map(str::to_owned) },
        before,
        after,
    };
    let owned = |v: &[&str]| NameSet::from_sorted(v.iter().map(|r| (*r).to_owned()).collect());
    let have_of = |u: &TenantUser| policy.managed_roles.names_of(u, tenant);

    let mut missing: Vec<(&str, &TenantUser)> = Vec::new();
    let mut ex = existing.iter().peekable();
    for (email, want) in &desired.users {
        // Tenant users sorted before this email are not in the source.
        while let Some((e, u)) = ex.next_if(|(e, _)| e.as_ref() < email.as_str()) {
            missing.push((e.as_ref(), *u));
        }
        let want_roles: Vec<&str> = want.roles.iter().map(String::as_str).filter(|r| policy.manages(r)).collect();
        let mut matched = false;
        while let Some((_, u)) = ex.next_if(|(e, _)| e.as_ref() == email.as_str()) {
            matched = true;
            let have = have_of(u);
            let mut changed = false;
            // A user auth0-sync blocked is unblocked when it is back, whatever the
            // current on-missing mode; blocks made by people are left alone.
            if u.blocked && u.blocked_by_sync {
                changed = true;
                let st = |blocked| Some(UserState { roles: owned(&have), blocked, ..Default::default() });
                by_action.entry(Action::UnblockUser).or_default().push(change(
                    Action::UnblockUser,
                    email,
                    Some(&u.user_id),
                    st(true),
                    st(false),
                ));
            }
            if have != want_roles {
                changed = true;
                let assigned = want_roles.iter().filter(|r| have.binary_search(r).is_err()).count();
                let removed = have.iter().filter(|r| want_roles.binary_search(r).is_err()).count();
                summary.roles_assigned += assigned as u32;
                summary.roles_removed += removed as u32;
                by_action.entry(Action::UpdateRoles).or_default().push(change(
                    Action::UpdateRoles,
                    email,
                    Some(&u.user_id),
                    Some(UserState { roles: owned(&have), ..Default::default() }),
                    Some(UserState { roles: owned(&want_roles), ..Default::default() }),
                ));
            }
            if !changed {
                summary.unchanged += 1;
            }
        }
        if !matched && let Some(u) = linked.get(email.as_str()) {
            let primary = u.linked_to.as_deref().unwrap_or(&u.user_id);
            warnings.push(Warning {
                kind: "linked_account".into(),
                row: None,
                email: Some(email.clone()),
                message: format!(
                    "{email} is linked to {primary} (its login in {} is not the primary identity), left alone",
                    policy.connection
                ),
            });
            continue;
        }
        if !matched {
            summary.roles_assigned += want_roles.len() as u32;
            let after = UserState { roles: owned(&want_roles), profile: want.profile().clone(), blocked: false };
            by_action.entry(Action::CreateUser).or_default().push(change(
                Action::CreateUser,
                email,
                None,
                None,
                Some(after),
            ));
        }
    }
    missing.extend(ex.map(|(e, u)| (e.as_ref(), *u)));

    for (email, u) in missing {
        if policy.ignore.matches(email) {
            summary.ignored += 1;
            ignored_users.push(email.to_owned());
            continue;
        }
        let have = owned(&have_of(u));
        let before = Some(UserState { roles: have.clone(), blocked: u.blocked, ..Default::default() });
        match policy.on_missing {
            OnMissing::Delete => by_action.entry(Action::DeleteUser).or_default().push(change(
                Action::DeleteUser,
                email,
                Some(&u.user_id),
                before,
                None,
            )),
            OnMissing::Block if policy.two_stage.as_ref().is_some_and(|two| crate::leavers::due(tenant, u, two)) => {
                by_action.entry(Action::DeleteUser).or_default().push(change(
                    Action::DeleteUser,
                    email,
                    Some(&u.user_id),
                    before,
                    None,
                ))
            }
            OnMissing::Block if !u.blocked => {
                let after = Some(UserState { roles: have, blocked: true, ..Default::default() });
                by_action.entry(Action::BlockUser).or_default().push(change(
                    Action::BlockUser,
                    email,
                    Some(&u.user_id),
                    before,
                    after,
                ));
            }
            OnMissing::Block | OnMissing::Ignore => summary.kept += 1,
        }
    }

    let count = |a| by_action.get(&a).map_or(0, |v| v.len() as u32);
    summary.create_user = count(Action::CreateUser);
    summary.unblock_user = count(Action::UnblockUser);
    summary.update_roles = count(Action::UpdateRoles);
    summary.block_user = count(Action::BlockUser);
    summary.delete_user = count(Action::DeleteUser);
    summary.create_role = unknown.len() as u32;
    let mut changes: Vec<Change> = by_action.into_values().flatten().collect();
    for (i, c) in changes.iter_mut().enumerate() {
        c.id = i as u32 + 1;
        for s in c.before.iter().chain(c.after.iter()) {
            used_roles.extend(s.roles.iter().cloned());
        }
    }
    let roles = used_roles
        .into_iter()
        .filter_map(|name| role_ids.get(name.as_str()).map(|id| (name, (*id).to_owned())))
        .collect();
    let changeset = Changeset { roles, create_roles: unknown, ignored_users, summary, changes, warnings };
    check_delete_cap(&changeset, connection_users, policy.delete_cap)?;
    if changeset.summary.block_user > 0 || changeset.summary.roles_removed > 0 {
        let base = CapBase { connection_users, ..policy.cap_base(tenant) };
        check_removal_caps(&changeset, &base, &policy.removal_caps)?;
    }
    Ok(changeset)
}
