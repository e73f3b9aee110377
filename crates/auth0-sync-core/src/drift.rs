//! Stale-plan detection: compares each change's recorded "before" state with a fresh
//! snapshot of the tenant. Pure: no I/O, no clock.

use crate::email;
use crate::error::DriftItem;
use crate::model::{TenantSnapshot, TenantUser};
use crate::plan::{Action, Plan, UserState};
use crate::roles::ManagedRoles;
use std::collections::BTreeMap;

/// What to do with one change, given a view of the tenant as it is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Work is left: send it. A change found part way between its "before" and its
    /// "after" is this plan's own work in progress (a run stopped after some of its
    /// requests), so only the rest is left.
    Pending(Work),
    /// The tenant already shows the change's "after" state: send nothing.
    AlreadyApplied { user_id: Option<String> },
    /// The change's user is not in this view. Snapshots come from search or an export,
    /// which lag and can be incomplete: only `GET /users/{id}` can say whether the
    /// user is gone. Check, then classify again with what it answers.
    Unseen,
    /// The user changed in a way no prefix of this plan explains: refuse (or skip
    /// with --skip-drifted).
    Drifted(DriftItem),
}

/// What is left of a change. Role names, not ids.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Work {
    /// `None` for a user still to be created.
    pub user_id: Option<String>,
    /// Roles still to assign.
    pub assign: Vec<String>,
    /// Roles still to remove.
    pub remove: Vec<String>,
    /// `blocked` to set.
    pub set_blocked: Option<bool>,
    /// The user's `app_metadata.auth0_sync` as it is, which a block or unblock sends
    /// back whole with its own fields changed (`leavers`).
    pub marker: Option<serde_json::Map<String, serde_json::Value>>,
    pub delete: bool,
    /// Part of the change is already in place (an earlier run's work in progress).
    pub resumed: bool,
    /// Roles the user holds now, managed or not: Auth0 refuses an assignment past
    /// [`crate::model::MAX_ROLES_PER_USER`].
    pub held_roles: usize,
}

impl Work {
    /// The assignments would take the user past Auth0's limit of roles per user (apply
    /// assigns before it removes): such a user is assigned alone, so that its refusal
    /// is its own and not a whole batch's.
    pub fn exceeds_role_limit(&self) -> bool {
        self.held_roles + self.assign.len() > crate::model::MAX_ROLES_PER_USER
    }
}

impl Work {
    /// The requests' worth of work left, counted as apply sends them (one create, one
    /// assignment per role, one removal call, one PATCH, one delete).
    pub fn steps(&self) -> usize {
        usize::from(self.user_id.is_none())
            + self.assign.len()
            + usize::from(!self.remove.is_empty())
            + usize::from(self.set_blocked.is_some())
            + usize::from(self.delete)
    }
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

/// Classifies every change of `plan` not yet `done` against the view `now`.
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
        let roles = |s: &Option<UserState>| s.as_ref().map(|s| s.roles.clone()).unwrap_or_default();
        let (before, after) = (roles(&c.before), roles(&c.after));
        let user = c.user.user_id.as_ref().and_then(|id| now.users.get(id));
        let verdict = match (c.action, user) {
            (Action::CreateUser, _) => match by_email.get(&c.user.email) {
                None => Verdict::Pending(Work { assign: after.iter().cloned().collect(), ..Work::default() }),
                Some(u) => {
                    let have = managed.set_of(u, now);
                    if u.blocked || !have.is_subset(&after) {
                        drift(describe(Some(&state_of(u))))
                    } else if have == after {
                        Verdict::AlreadyApplied { user_id: Some(u.user_id.clone()) }
                    } else {
                        Verdict::Pending(Work {
                            user_id: Some(u.user_id.clone()),
                            assign: after.difference(&have).cloned().collect(),
                            resumed: true,
                            held_roles: u.role_ids.len(),
                            ..Work::default()
                        })
                    }
                }
            },
            (_, None) => Verdict::Unseen,
            (Action::DeleteUser, Some(u)) => {
                let cur = state_of(u);
                if cur.roles == before {
                    Verdict::Pending(Work { user_id: Some(u.user_id.clone()), delete: true, ..Work::default() })
                } else {
                    drift(describe(Some(&cur)))
                }
            }
            (Action::UpdateRoles, Some(u)) => {
                // Apply assigns first, then removes: every state from "before" to
                // "after" holds all roles both keep and only roles one of them has.
                let have = managed.set_of(u, now);
                let kept_all = before.iter().filter(|r| after.contains(r)).all(|r| have.contains(r));
                let only_known = have.iter().all(|r| before.contains(r) || after.contains(r));
                if have == after {
                    Verdict::AlreadyApplied { user_id: Some(u.user_id.clone()) }
                } else if kept_all && only_known {
                    Verdict::Pending(Work {
                        user_id: Some(u.user_id.clone()),
                        assign: after.difference(&have).cloned().collect(),
                        remove: have.difference(&after).cloned().collect(),
                        resumed: have != before,
                        held_roles: u.role_ids.len(),
                        ..Work::default()
                    })
                } else {
                    drift(describe(Some(&state_of(u))))
                }
            }
            (Action::BlockUser | Action::UnblockUser, Some(u)) => {
                let want = c.action == Action::BlockUser;
                if u.blocked == want {
                    Verdict::AlreadyApplied { user_id: Some(u.user_id.clone()) }
                } else {
                    Verdict::Pending(Work {
                        user_id: Some(u.user_id.clone()),
                        set_blocked: Some(want),
                        marker: now.markers.get(&u.user_id).cloned(),
                        ..Work::default()
                    })
                }
            }
        };
        out.insert(c.id, verdict);
    }
    out
}
