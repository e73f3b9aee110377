//! The planner: a pure function from (desired users, tenant snapshot, policy) to a
//! changeset. No I/O, no clock, no async; `BTreeMap` everywhere for stable order.

use crate::error::Error;
use crate::model::{DesiredState, TenantSnapshot};
use crate::plan::{Action, Change, Changeset, Summary, UserRef, UserState};
use globset::{Glob, GlobSet, GlobSetBuilder};
use std::collections::{BTreeMap, BTreeSet};

/// Emails (exact, case-insensitive) and glob patterns (`*@contractors.example.com`)
/// of tenant users that are never deleted.
#[derive(Debug, Clone, Default)]
pub struct IgnoreList {
    patterns: Vec<String>,
    set: GlobSet,
}

impl IgnoreList {
    /// Builds the list; an entry that is not a valid glob is returned as the error.
    pub fn new<I: IntoIterator<Item = S>, S: AsRef<str>>(entries: I) -> Result<Self, String> {
        let mut builder = GlobSetBuilder::new();
        let mut patterns = Vec::new();
        for e in entries {
            let p = e.as_ref().trim().to_lowercase();
            if p.is_empty() {
                continue;
            }
            let glob = Glob::new(&p).map_err(|err| format!("{p:?}: {err}"))?;
            builder.add(glob);
            patterns.push(p);
        }
        let set = builder.build().map_err(|e| e.to_string())?;
        Ok(IgnoreList { patterns, set })
    }

    pub fn matches(&self, email: &str) -> bool {
        !self.patterns.is_empty() && self.set.is_match(email.trim().to_lowercase())
    }

    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }
}

/// What the planner may do.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Only users of this connection are created, changed or deleted.
    pub connection: String,
    pub ignore: IgnoreList,
}

/// Computes the changes that make the connection's users match `desired`.
///
/// Order: creates (by email), then role updates (by email), then deletes (by email).
/// Errors with [`Error::UnknownRoles`] listing every role the source names that the
/// tenant lacks.
pub fn plan(
    desired: &DesiredState,
    tenant: &TenantSnapshot,
    policy: &Policy,
) -> Result<Changeset, Error> {
    let role_ids = tenant.role_ids_by_name();
    let unknown: Vec<String> = desired
        .role_names()
        .into_iter()
        .filter(|r| !role_ids.contains_key(r))
        .map(str::to_owned)
        .collect();
    if !unknown.is_empty() {
        return Err(Error::UnknownRoles { roles: unknown });
    }
    let role_name = |id: &str| -> String {
        tenant
            .roles
            .get(id)
            .map_or_else(|| id.to_owned(), |r| r.name.clone())
    };

    // The connection's users by normalised email. Users without an email cannot be
    // matched to a row; they are left alone.
    let mut existing: BTreeMap<String, Vec<&crate::model::TenantUser>> = BTreeMap::new();
    for u in tenant
        .users
        .values()
        .filter(|u| u.connection == policy.connection)
    {
        if let Some(e) = &u.email {
            existing.entry(e.trim().to_lowercase()).or_default().push(u);
        }
    }

    let mut creates = Vec::new();
    let mut updates = Vec::new();
    let mut deletes = Vec::new();
    let mut summary = Summary::default();
    let mut used_roles = BTreeSet::new();

    for (email, want) in &desired.users {
        match existing.get(email.as_str()) {
            None => {
                used_roles.extend(want.roles.iter().cloned());
                summary.roles_assigned += want.roles.len() as u32;
                creates.push(Change {
                    id: 0,
                    action: Action::CreateUser,
                    user: UserRef {
                        email: email.clone(),
                        user_id: None,
                    },
                    before: None,
                    after: Some(UserState {
                        roles: want.roles.clone(),
                        profile: want.profile.clone(),
                    }),
                });
            }
            Some(users) => {
                for u in users {
                    let have: BTreeSet<String> =
                        u.role_ids.iter().map(|id| role_name(id)).collect();
                    if have == want.roles {
                        summary.unchanged += 1;
                        continue;
                    }
                    let assigned = want.roles.difference(&have).count() as u32;
                    let removed = have.difference(&want.roles).count() as u32;
                    summary.roles_assigned += assigned;
                    summary.roles_removed += removed;
                    used_roles.extend(have.symmetric_difference(&want.roles).cloned());
                    updates.push(Change {
                        id: 0,
                        action: Action::UpdateRoles,
                        user: UserRef {
                            email: email.clone(),
                            user_id: Some(u.user_id.clone()),
                        },
                        before: Some(UserState {
                            roles: have,
                            ..Default::default()
                        }),
                        after: Some(UserState {
                            roles: want.roles.clone(),
                            ..Default::default()
                        }),
                    });
                }
            }
        }
    }

    for (email, users) in &existing {
        if desired.users.contains_key(email) {
            continue;
        }
        if policy.ignore.matches(email) {
            summary.ignored += users.len() as u32;
            continue;
        }
        for u in users {
            let have: BTreeSet<String> = u.role_ids.iter().map(|id| role_name(id)).collect();
            deletes.push(Change {
                id: 0,
                action: Action::DeleteUser,
                user: UserRef {
                    email: email.clone(),
                    user_id: Some(u.user_id.clone()),
                },
                before: Some(UserState {
                    roles: have,
                    ..Default::default()
                }),
                after: None,
            });
        }
    }

    summary.create_user = creates.len() as u32;
    summary.update_roles = updates.len() as u32;
    summary.delete_user = deletes.len() as u32;
    let mut changes: Vec<Change> = creates.into_iter().chain(updates).chain(deletes).collect();
    for (i, c) in changes.iter_mut().enumerate() {
        c.id = i as u32 + 1;
    }
    let roles = used_roles
        .into_iter()
        .filter_map(|name| {
            role_ids
                .get(name.as_str())
                .map(|id| (name, (*id).to_owned()))
        })
        .collect();
    Ok(Changeset {
        roles,
        summary,
        changes,
        warnings: desired.warnings.clone(),
    })
}
