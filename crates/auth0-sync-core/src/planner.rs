//! The planner: a pure function from (desired users, tenant snapshot, policy) to a
//! changeset. No I/O, no clock, no async; `BTreeMap` everywhere for stable order.

// The planner's inputs, so that `planner::{plan, Policy, DeleteCap, ...}` is its whole face.
pub use crate::caps::{CapBase, DeleteCap, RemovalCaps, check_delete_cap, check_removal_caps};
pub use crate::ignore::IgnoreList;
pub use crate::policy::Policy;
// Targeted plans (`plan --only`) run this planner on the targets' users.

use crate::error::PlanError;
use crate::fields::{self, Authority, OnNull};
use crate::matching::{By, Matching, Pair, Unit, match_users};
use crate::model::{DesiredState, DesiredUser, NameSet, Profile, TenantSnapshot, TenantUser, Warning};
use crate::plan::{Action, Change, Changeset, OnMissing, Summary, UserRef, UserState};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Computes the changes that make the connection's users match `desired`.
///
/// Users are matched by HR key first, then by email (see `matching`). Order: renames
/// (chains first), creates, adoptions, profile updates, unblocks, role updates,
/// blocks, deletes; by email within each.
/// Errors: [`PlanError::UnknownRoles`] listing every (managed) role the source names that
/// the tenant lacks, unless `create_missing_roles`; [`PlanError::EmptySource`];
/// [`PlanError::AddressTaken`]; [`PlanError::SwappedEmails`]; [`PlanError::TooManyDeletes`];
/// [`PlanError::TooManyRemovals`] (blocks, role removals).
pub fn plan(desired: &DesiredState, tenant: &TenantSnapshot, policy: &Policy) -> Result<Changeset, PlanError> {
    let changeset = plan_for(desired, tenant, policy, None)?;
    check_caps(&changeset, tenant, policy, changeset.summary.connection_users)?;
    Ok(changeset)
}

/// Every removal cap of `policy` on `changeset`: deletions, then blocks and role
/// removals (overall and per role) against their bases in `tenant`.
pub(crate) fn check_caps(
    changeset: &Changeset,
    tenant: &TenantSnapshot,
    policy: &Policy,
    connection_users: u32,
) -> Result<(), PlanError> {
    check_delete_cap(changeset, connection_users, policy.delete_cap)?;
    if changeset.summary.block_user > 0 || changeset.summary.roles_removed > 0 {
        let base = CapBase { connection_users, ..policy.cap_base(tenant) };
        check_removal_caps(changeset, &base, &policy.removal_caps)?;
    }
    Ok(())
}

/// Which units of a matching a targeted plan keeps (by index).
pub(crate) type Keep<'k> = dyn Fn(&Matching<'_>, usize) -> bool + 'k;

/// [`plan`] without the deletion cap, for every user or for those a unit of `keep`
/// (by index) is about; the rest of the comparison (keys, addresses) is always whole.
pub(crate) fn plan_for(
    desired: &DesiredState,
    tenant: &TenantSnapshot,
    policy: &Policy,
    keep: Option<&Keep<'_>>,
) -> Result<Changeset, PlanError> {
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

    let m = match_users(desired, tenant, &policy.connection);
    warnings.extend(m.warnings.iter().cloned());
    let kept: Vec<bool> = (0..m.units.len()).map(|i| keep.is_none_or(|k| k(&m, i))).collect();
    let conflicts: Vec<String> = m.conflicts.iter().filter(|(u, _)| kept[*u]).map(|(_, t)| t.clone()).collect();
    if !conflicts.is_empty() {
        return Err(PlanError::AddressTaken { conflicts });
    }
    let cycles: Vec<String> =
        m.cycles.iter().filter(|(members, _)| members.iter().any(|u| kept[*u])).map(|(_, t)| t.clone()).collect();
    if !cycles.is_empty() {
        return Err(PlanError::SwappedEmails { cycles });
    }
    let needs: Vec<String> = m
        .needs
        .iter()
        .filter(|n| kept[n.unit] && !kept[n.on])
        .filter_map(|n| match (&m.units[n.unit], &m.units[n.on]) {
            (waiting, Unit::Pair(p)) => {
                Some(format!("{} needs {} to move to {} first", waiting.emails()[0], p.old_email(), p.want.email))
            }
            _ => None,
        })
        .collect();
    if !needs.is_empty() {
        return Err(PlanError::TargetsNeedMore { needs });
    }

    let mut b = Builder { policy, tenant, desired, by_action: BTreeMap::new(), summary: Summary::default() };
    b.summary.connection_users = m.connection_users;
    let mut ignored_users = Vec::new();
    for (i, unit) in m.units.iter().enumerate().filter(|(i, _)| kept[*i]) {
        match *unit {
            Unit::Pair(p) => b.pair(p, m.rank.get(&i).copied().unwrap_or(0)),
            Unit::Create(d) => b.create(d),
            Unit::Protected(_) => b.summary.kept += 1,
            Unit::Missing(u) => {
                let email = crate::email::key(u.email.as_deref().unwrap_or_default()).into_owned();
                if policy.ignore.matches(&email) {
                    b.summary.ignored += 1;
                    ignored_users.push(email);
                } else {
                    b.missing(u, &email);
                }
            }
        }
    }
    ignored_users.sort();

    let Builder { by_action, mut summary, .. } = b;
    for a in Action::ALL {
        let n = by_action.get(&a).map_or(0, |v| v.len() as u32);
        match a {
            Action::UpdateEmail => summary.update_email = n,
            Action::CreateUser => summary.create_user = n,
            Action::AdoptUser => summary.adopt_user = n,
            Action::UpdateProfile => summary.update_profile = n,
            Action::UnblockUser => summary.unblock_user = n,
            Action::UpdateRoles => summary.update_roles = n,
            Action::BlockUser => summary.block_user = n,
            Action::DeleteUser => summary.delete_user = n,
        }
    }
    summary.create_role = unknown.len() as u32;
    let mut changes: Vec<Change> = Vec::new();
    for (_, mut v) in by_action {
        v.sort_by(|a, b| (a.0, &a.1.user.email, &a.1.user.user_id).cmp(&(b.0, &b.1.user.email, &b.1.user.user_id)));
        changes.extend(v.into_iter().map(|(_, c)| c));
    }
    let mut used_roles: BTreeSet<String> = BTreeSet::new();
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
    Ok(Changeset { roles, create_roles: unknown, ignored_users, summary, changes, warnings })
}

/// Collects the changes, per action, each with its sort rank (rename chains).
struct Builder<'a> {
    policy: &'a Policy,
    tenant: &'a TenantSnapshot,
    desired: &'a DesiredState,
    by_action: BTreeMap<Action, Vec<(u32, Change)>>,
    summary: Summary,
}

impl Builder<'_> {
    fn push(
        &mut self,
        action: Action,
        email: &str,
        user_id: Option<&str>,
        before: Option<UserState>,
        after: Option<UserState>,
    ) {
        self.push_ranked(0, action, email, user_id, before, after);
    }

    fn push_ranked(
        &mut self,
        rank: u32,
        action: Action,
        email: &str,
        user_id: Option<&str>,
        before: Option<UserState>,
        after: Option<UserState>,
    ) {
        let change = Change {
            id: 0,
            action,
            user: UserRef { email: email.to_owned(), user_id: user_id.map(str::to_owned) },
            before,
            after,
        };
        self.by_action.entry(action).or_default().push((rank, change));
    }

    fn roles_of(&self, u: &TenantUser) -> NameSet {
        self.policy.managed_roles.set_of(u, self.tenant)
    }

    fn want_roles<'d>(&self, d: &'d DesiredUser) -> Vec<&'d str> {
        d.roles.iter().map(String::as_str).filter(|r| self.policy.manages(r)).collect()
    }

    /// The changes of a desired user matched with a connection user: at most one per
    /// action.
    fn pair(&mut self, p: Pair<'_>, rank: u32) {
        let (d, u) = (p.want, p.have);
        let email = d.email.as_str();
        let have = self.roles_of(u);
        let key = u.synced.key.clone();
        let state = |key: Option<String>| UserState { roles: have.clone(), key, ..Default::default() };
        let mut changed = false;
        if p.renamed() {
            changed = true;
            let before = UserState {
                email: u.email.as_deref().map(|e| crate::email::key(e).into_owned()),
                ..state(key.clone())
            };
            let after = UserState {
                email: Some(d.email.clone()),
                email_verified: Some(false),
                verify_email: Some(true),
                ..state(key.clone())
            };
            self.push_ranked(rank, Action::UpdateEmail, email, Some(&u.user_id), Some(before), Some(after));
        }
        if p.by == By::Email && u.synced.key.is_none() && d.key.is_some() {
            changed = true;
            self.push(Action::AdoptUser, email, Some(&u.user_id), Some(state(None)), Some(state(d.key.clone())));
        }
        let (before, after) = self.field_changes(d, u);
        if !after.is_empty() {
            changed = true;
            self.push(
                Action::UpdateProfile,
                email,
                Some(&u.user_id),
                Some(UserState { fields: before, ..state(key.clone()) }),
                Some(UserState { fields: after, ..state(key.clone()) }),
            );
        }
        // A user auth0-sync blocked is unblocked when it is back, whatever the
        // current on-missing mode; blocks made by people are left alone.
        if u.blocked && u.blocked_by_sync {
            changed = true;
            let st = |blocked| Some(UserState { blocked, ..state(key.clone()) });
            self.push(Action::UnblockUser, email, Some(&u.user_id), st(true), st(false));
        }
        let want = self.want_roles(d);
        let have_names: Vec<&str> = have.iter().map(String::as_str).collect();
        if have_names != want {
            changed = true;
            let assigned = want.iter().filter(|r| !have.contains(r)).count();
            let removed = have.iter().filter(|r| want.binary_search(&r.as_str()).is_err()).count();
            self.summary.roles_assigned += assigned as u32;
            self.summary.roles_removed += removed as u32;
            let after = UserState { roles: owned(&want), key: key.clone(), ..Default::default() };
            self.push(Action::UpdateRoles, email, Some(&u.user_id), Some(state(key.clone())), Some(after));
        }
        if !changed {
            self.summary.unchanged += 1;
        }
    }

    /// The synced fields whose value differs, tenant side then source side.
    fn field_changes(&self, d: &DesiredUser, u: &TenantUser) -> (BTreeMap<String, Value>, BTreeMap<String, Value>) {
        let (mut before, mut after) = (BTreeMap::new(), BTreeMap::new());
        for f in &self.desired.columns.fields {
            if self.policy.authority_of(f) != Authority::Force {
                continue;
            }
            let have = fields::tenant_value(u, f);
            let want = match fields::desired_value(d, f) {
                Some(v) => Value::String(v.to_owned()),
                None if self.policy.on_null == OnNull::Clear => Value::Null,
                None => continue,
            };
            if have.as_ref().unwrap_or(&Value::Null) != &want {
                before.insert(f.clone(), have.unwrap_or(Value::Null));
                after.insert(f.clone(), want);
            }
        }
        (before, after)
    }

    fn create(&mut self, d: &DesiredUser) {
        let want = self.want_roles(d);
        self.summary.roles_assigned += want.len() as u32;
        let writes = |f: &str| self.policy.authority_of(f) != Authority::Ignore;
        let p = d.profile();
        let keep = |f: &str, v: &Option<String>| v.clone().filter(|_| writes(f));
        let profile = Profile {
            name: keep("name", &p.name),
            given_name: keep("given_name", &p.given_name),
            family_name: keep("family_name", &p.family_name),
        };
        let fields = d
            .metadata
            .iter()
            .map(|(k, v)| (format!("{}{k}", fields::METADATA_PREFIX), Value::String(v.clone())))
            .filter(|(f, _)| writes(f))
            .collect();
        let after = UserState { roles: owned(&want), profile, key: d.key.clone(), fields, ..Default::default() };
        self.push(Action::CreateUser, &d.email, None, None, Some(after));
    }

    fn missing(&mut self, u: &TenantUser, email: &str) {
        let have = self.roles_of(u);
        let key = u.synced.key.clone();
        let before =
            Some(UserState { roles: have.clone(), blocked: u.blocked, key: key.clone(), ..Default::default() });
        match self.policy.on_missing {
            OnMissing::Delete => self.push(Action::DeleteUser, email, Some(&u.user_id), before, None),
            // Two-stage leaving: a user the tool blocked long enough ago is deleted.
            OnMissing::Block
                if self.policy.two_stage.as_ref().is_some_and(|two| crate::leavers::due(self.tenant, u, two)) =>
            {
                self.push(Action::DeleteUser, email, Some(&u.user_id), before, None)
            }
            OnMissing::Block if !u.blocked => {
                let after = Some(UserState { roles: have, blocked: true, key, ..Default::default() });
                self.push(Action::BlockUser, email, Some(&u.user_id), before, after);
            }
            OnMissing::Block | OnMissing::Ignore => self.summary.kept += 1,
        }
    }
}

fn owned(v: &[&str]) -> NameSet {
    NameSet::from_sorted(v.iter().map(|r| (*r).to_owned()).collect())
}
