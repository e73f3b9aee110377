//! Stale-plan detection: compares each change's recorded "before" state with a fresh
//! snapshot of the tenant. Pure: no I/O, no clock.

use crate::email;
use crate::error::DriftItem;
use crate::model::{TenantSnapshot, TenantUser};
use crate::plan::{Action, Plan, UserState};
use crate::roles::ManagedRoles;
use std::collections::BTreeMap;

/// What to do with one change, given the tenant as it is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The tenant is as the plan saw it: execute.
    Pending,
    /// The tenant already shows the change's "after" state (an earlier run did it but
    /// crashed before journaling): record it, send nothing.
    AlreadyApplied { user_id: Option<String> },
    /// A create whose user exists with only some of its roles (an earlier run created
    /// it and crashed): assign the missing roles to this user.
    ResumeCreate { user_id: String, missing_roles: Vec<String> },
    /// The user changed since the plan: refuse (or skip with --skip-drifted).
    Drifted(DriftItem),
}

fn describe(s: Option<&UserState>) -> String {
    match s {
        None => "no user".into(),
        Some(s) => {
            let roles = if s.roles.is_empty() {
                "no roles".to_owned()
            } else {
                format!("roles [{}]", s.roles.iter().cloned().collect::<Vec<_>>().join(", "))
            };
            if s.blocked { format!("blocked user with {roles}") } else { format!("user with {roles}") }
        }
    }
}

/// Classifies every change of `plan` not yet `done`.
pub fn check(plan: &Plan, now: &TenantSnapshot, done: &BTreeMap<u32, Option<String>>) -> BTreeMap<u32, Verdict> {
    let managed = ManagedRoles(plan.policy.managed_roles.as_ref().map(|m| m.iter().cloned().collect()));
    let mut by_email: BTreeMap<String, &TenantUser> = BTreeMap::new();
    for u in now.users.values().filter(|u| u.connection == plan.connection) {
        if let Some(e) = &u.email {
            by_email.insert(email::key(e).into_owned(), u);
        }
    }
    let state_of =
        |u: &TenantUser| UserState { roles: managed.set_of(u, now), blocked: u.blocked, ..Default::default() };
    let mut out = BTreeMap::new();
    for c in plan.changeset.changes.iter().filter(|c| !done.contains_key(&c.id)) {
        let drift = |found: String| {
            Verdict::Drifted(DriftItem {
                id: c.id,
                action: c.action.as_str(),
                email: c.user.email.clone(),
                expected: describe(c.before.as_ref()),
                found,
            })
        };
        let verdict = match c.action {
            Action::CreateUser => match by_email.get(&c.user.email) {
                None => Verdict::Pending,
                Some(u) => {
                    let have = managed.set_of(u, now);
                    let want = c.after.as_ref().map(|a| a.roles.clone()).unwrap_or_default();
                    if have == want {
                        Verdict::AlreadyApplied { user_id: Some(u.user_id.clone()) }
                    } else if have.is_subset(&want) {
                        Verdict::ResumeCreate {
                            user_id: u.user_id.clone(),
                            missing_roles: want.difference(&have).cloned().collect(),
                        }
                    } else {
                        drift(describe(Some(&state_of(u))))
                    }
                }
            },
            Action::DeleteUser => match c.user.user_id.as_ref().and_then(|id| now.users.get(id)) {
                None => Verdict::AlreadyApplied { user_id: c.user.user_id.clone() },
                Some(u) => {
                    let cur = state_of(u);
                    if Some(&cur.roles) == c.before.as_ref().map(|b| &b.roles) {
                        Verdict::Pending
                    } else {
                        drift(describe(Some(&cur)))
                    }
                }
            },
            Action::UpdateRoles | Action::BlockUser | Action::UnblockUser => {
                match c.user.user_id.as_ref().and_then(|id| now.users.get(id)) {
                    None => drift("no user (it was deleted)".into()),
                    Some(u) => {
                        let cur = state_of(u);
                        let same = |s: &Option<UserState>| {
                            s.as_ref().is_some_and(|s| match c.action {
                                Action::UpdateRoles => s.roles == cur.roles,
                                _ => s.blocked == cur.blocked,
                            })
                        };
                        if same(&c.before) {
                            Verdict::Pending
                        } else if same(&c.after) {
                            Verdict::AlreadyApplied { user_id: Some(u.user_id.clone()) }
                        } else {
                            drift(describe(Some(&cur)))
                        }
                    }
                }
            }
        };
        out.insert(c.id, verdict);
    }
    out
}
