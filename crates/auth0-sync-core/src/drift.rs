//! Stale-plan detection: compares each change's recorded "before" state with a fresh
//! snapshot of the tenant. Pure: no I/O, no clock.

use crate::email;
use crate::error::DriftItem;
use crate::fields::{self, Namespace};
use crate::model::{TenantSnapshot, TenantUser};
use crate::plan::{Action, Change, Plan, UserState};
use crate::roles::ManagedRoles;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

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
    /// `update_email`: the address to set.
    pub email: Option<String>,
    /// `adopt_user`: the HR key to write.
    pub key: Option<String>,
    /// `update_profile`: the fields still to set (`null` clears one).
    pub fields: BTreeMap<String, Value>,
    /// The tool's namespace as this view shows the user, for the changes that write it
    /// (adopt, block, unblock): Auth0 replaces it whole, so it is sent whole.
    pub namespace: Option<Namespace>,
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
            + usize::from(self.email.is_some())
            + usize::from(self.key.is_some())
            + usize::from(!self.fields.is_empty())
    }
}

fn describe_value(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "unset".into(),
        Some(Value::String(s)) => format!("{s:?}"),
        Some(other) => other.to_string(),
    }
}

fn key_text(k: Option<&str>) -> String {
    k.map_or_else(|| "no HR key".to_owned(), |k| format!("HR key {k}"))
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
    // Users this plan moves to another address: until they move, the address they
    // hold is not in the way of a create that takes it.
    let moving: BTreeSet<&str> = plan
        .changeset
        .changes
        .iter()
        .filter(|c| c.action == Action::UpdateEmail)
        .filter_map(|c| c.user.user_id.as_deref())
        .collect();
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
        let drift = |expected: String, found: String| drifted(c, expected, found);
        let roles = |s: &Option<UserState>| s.as_ref().map(|s| s.roles.clone()).unwrap_or_default();
        let (before, after) = (roles(&c.before), roles(&c.after));
        let user = c.user.user_id.as_ref().and_then(|id| now.users.get(id));
        let applied = |u: &TenantUser| Verdict::AlreadyApplied { user_id: Some(u.user_id.clone()) };
        let pending = |u: &TenantUser, w: Work| {
            Verdict::Pending(Work { user_id: Some(u.user_id.clone()), held_roles: u.role_ids.len(), ..w })
        };
        let verdict = match (c.action, user) {
            (Action::CreateUser, _) => {
                let holder = by_email.get(&c.user.email).filter(|u| !moving.contains(u.user_id.as_str()));
                match holder {
                    None => Verdict::Pending(Work { assign: after.iter().cloned().collect(), ..Work::default() }),
                    Some(u) => {
                        let want_key = c.after.as_ref().and_then(|a| a.key.as_deref());
                        let have = managed.set_of(u, now);
                        // A keyless user at the address is taken over as before the key
                        // existed (the next plan adopts it); one with another key is not
                        // the same person.
                        if u.synced.key.is_some() && u.synced.key.as_deref() != want_key {
                            drift(key_text(want_key), format!("a user with {}", key_text(u.synced.key.as_deref())))
                        } else if u.blocked || !have.is_subset(&after) {
                            drift(describe(c.before.as_ref()), describe(Some(&state_of(u))))
                        } else if have == after {
                            applied(u)
                        } else {
                            pending(
                                u,
                                Work {
                                    assign: after.difference(&have).cloned().collect(),
                                    resumed: true,
                                    ..Work::default()
                                },
                            )
                        }
                    }
                }
            }
            (_, None) => Verdict::Unseen,
            (Action::DeleteUser, Some(u)) => {
                let cur = state_of(u);
                if cur.roles == before {
                    pending(u, Work { delete: true, ..Work::default() })
                } else {
                    drift(describe(c.before.as_ref()), describe(Some(&cur)))
                }
            }
            (Action::UpdateRoles, Some(u)) => {
                // Apply assigns first, then removes: every state from "before" to
                // "after" holds all roles both keep and only roles one of them has.
                let have = managed.set_of(u, now);
                let kept_all = before.iter().filter(|r| after.contains(r)).all(|r| have.contains(r));
                let only_known = have.iter().all(|r| before.contains(r) || after.contains(r));
                if have == after {
                    applied(u)
                } else if kept_all && only_known {
                    pending(
                        u,
                        Work {
                            assign: after.difference(&have).cloned().collect(),
                            remove: have.difference(&after).cloned().collect(),
                            resumed: have != before,
                            ..Work::default()
                        },
                    )
                } else {
                    drift(describe(c.before.as_ref()), describe(Some(&state_of(u))))
                }
            }
            (Action::BlockUser | Action::UnblockUser, Some(u)) => {
                let want = c.action == Action::BlockUser;
                if u.blocked == want {
                    applied(u)
                } else {
                    pending(
                        u,
                        Work {
                            set_blocked: Some(want),
                            namespace: Some(Namespace::of(u)),
                            marker: now.markers.get(&u.user_id).cloned(),
                            ..Work::default()
                        },
                    )
                }
            }
            (Action::UpdateEmail, Some(u)) => email_verdict(c, u),
            (Action::AdoptUser, Some(u)) => {
                let want = c.after.as_ref().and_then(|a| a.key.clone());
                match u.synced.key.as_deref() {
                    k if k == want.as_deref() => applied(u),
                    None => pending(u, Work { key: want, namespace: Some(Namespace::of(u)), ..Work::default() }),
                    Some(k) => drift(key_text(None), key_text(Some(k))),
                }
            }
            (Action::UpdateProfile, Some(u)) => fields_verdict(c, u),
        };
        out.insert(c.id, verdict);
    }
    out
}

/// `c` found in a state no prefix of the plan explains.
fn drifted(c: &Change, expected: String, found: String) -> Verdict {
    Verdict::Drifted(DriftItem { id: c.id, action: c.action.as_str(), email: c.user.email.clone(), expected, found })
}

/// A rename: done when the user has the new address, to do when it still has the old
/// one, drift otherwise (or when its key changed).
fn email_verdict(c: &Change, u: &TenantUser) -> Verdict {
    let (b, a) = (c.before.clone().unwrap_or_default(), c.after.clone().unwrap_or_default());
    let cur = u.email.as_deref().map(|e| email::key(e).into_owned());
    let drift = |expected: String, found: String| drifted(c, expected, found);
    let shown = |e: &Option<String>| e.as_deref().map_or_else(|| "no email".to_owned(), |e| format!("email {e}"));
    if u.synced.key != b.key {
        return drift(key_text(b.key.as_deref()), key_text(u.synced.key.as_deref()));
    }
    if cur == a.email {
        Verdict::AlreadyApplied { user_id: Some(u.user_id.clone()) }
    } else if cur == b.email {
        Verdict::Pending(Work { user_id: Some(u.user_id.clone()), email: a.email, ..Work::default() })
    } else {
        drift(shown(&b.email), shown(&cur))
    }
}

/// A profile update, field by field: a field at its "after" value is done, at its
/// "before" value still to do; any other value is drift (changed in Auth0 since the
/// plan).
fn fields_verdict(c: &Change, u: &TenantUser) -> Verdict {
    let (b, a) = (c.before.clone().unwrap_or_default(), c.after.clone().unwrap_or_default());
    let mut left = BTreeMap::new();
    let mut done = 0;
    for (f, want) in &a.fields {
        let cur = fields::tenant_value(u, f).unwrap_or(Value::Null);
        if &cur == want {
            done += 1;
        } else if Some(&cur) == b.fields.get(f) {
            left.insert(f.clone(), want.clone());
        } else {
            return Verdict::Drifted(DriftItem {
                id: c.id,
                action: c.action.as_str(),
                email: c.user.email.clone(),
                expected: format!("{f} {}", describe_value(b.fields.get(f))),
                found: format!("{f} {}", describe_value(Some(&cur))),
            });
        }
    }
    if left.is_empty() {
        Verdict::AlreadyApplied { user_id: Some(u.user_id.clone()) }
    } else {
        Verdict::Pending(Work { user_id: Some(u.user_id.clone()), fields: left, resumed: done > 0, ..Work::default() })
    }
}
