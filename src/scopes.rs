//! Which Management API scopes a plan needs, so that `plan` and `apply` can refuse
//! before the first write instead of failing half way with 403s. One table, read by
//! `check`, `plan` and `apply`.

use crate::plan::{Action, Plan};
use std::collections::{BTreeMap, BTreeSet};

/// Scopes every run needs to read the tenant (snapshot, connection, immediate reads).
pub const READ: &[&str] = &["read:users", "read:roles", "read:role_members", "read:connections"];

/// How apply creates users, as far as scopes go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Creation {
    /// `POST /users`.
    Api,
    /// Users-import jobs (and reading them back).
    Import,
}

/// How apply invites the users it creates, as far as scopes go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invitation {
    None,
    /// `POST /dbconnections/change_password` (Authentication API: no scope) after
    /// `GET /connections/{id}/clients` (`read:connections`, a read every run needs).
    Email,
    /// `POST /tickets/password-change`.
    Ticket,
}

/// The scopes one kind of step needs. Where Auth0 accepts any of several, the
/// one the tool's calls are documented with is asked for.
fn step_scopes(step: Step) -> &'static [&'static str] {
    match step {
        Step::CreateUser(Creation::Api) => &["create:users"],
        Step::CreateUser(Creation::Import) => &["create:users", "read:users"],
        Step::AssignRoles => &["create:role_members"],
        Step::RemoveRoles => &["delete:role_members"],
        Step::SetBlocked | Step::UpdateUser => &["update:users"],
        Step::DeleteUser => &["delete:users"],
        Step::CreateRole => &["create:roles"],
        Step::RevokeSessions => &["delete:sessions", "delete:refresh_tokens"],
        Step::Invite(Invitation::Ticket) => &["create:user_tickets"],
        Step::Invite(Invitation::None | Invitation::Email) => &[],
    }
}

/// The scopes `auth0-sync invite` needs: finding users by email, the connection, and
/// the invitation itself.
pub fn for_invitations(invitation: Invitation) -> BTreeSet<&'static str> {
    ["read:users", "read:connections"]
        .into_iter()
        .chain(step_scopes(Step::Invite(invitation)).iter().copied())
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    CreateUser(Creation),
    AssignRoles,
    RemoveRoles,
    SetBlocked,
    /// `PATCH /users/{id}`: renames, adoptions, profile updates.
    UpdateUser,
    DeleteUser,
    CreateRole,
    Invite(Invitation),
    /// `plan --revoke-sessions`, after a block.
    RevokeSessions,
}

/// Every scope the tool may need for any plan (what `check` asks for).
pub fn all() -> BTreeSet<&'static str> {
    let steps =
        [Step::CreateUser(Creation::Api), Step::AssignRoles, Step::RemoveRoles, Step::SetBlocked, Step::DeleteUser];
    READ.iter().copied().chain(steps.into_iter().flat_map(step_scopes).copied()).collect()
}

/// One missing scope and the changes that need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    pub scope: &'static str,
    /// Change ids (none for reads, which every run needs, and role creation).
    pub changes: Vec<u32>,
    /// A few of those changes, for the message (`create_user ann@…`).
    pub examples: Vec<String>,
}

/// The scopes `plan` needs that `granted` lacks, with the changes needing them.
pub fn missing(plan: &Plan, creation: Creation, granted: &BTreeSet<String>) -> Vec<Missing> {
    missing_with(plan, creation, Invitation::None, granted)
}

/// [`missing`], when apply also invites the users it creates.
pub fn missing_with(
    plan: &Plan,
    creation: Creation,
    invitation: Invitation,
    granted: &BTreeSet<String>,
) -> Vec<Missing> {
    let mut need: BTreeMap<&'static str, Vec<(u32, String)>> = BTreeMap::new();
    for s in READ {
        need.entry(s).or_default();
    }
    for role in &plan.changeset.create_roles {
        for s in step_scopes(Step::CreateRole) {
            need.entry(s).or_default().push((0, format!("create_role {role}")));
        }
    }
    for c in &plan.changeset.changes {
        let mut steps = Vec::new();
        match c.action {
            Action::CreateUser => steps.extend([Step::CreateUser(creation), Step::Invite(invitation)]),
            Action::DeleteUser => steps.push(Step::DeleteUser),
            Action::BlockUser if plan.policy.revoke_sessions => steps.extend([Step::SetBlocked, Step::RevokeSessions]),
            Action::BlockUser | Action::UnblockUser => steps.push(Step::SetBlocked),
            Action::UpdateEmail | Action::AdoptUser | Action::UpdateProfile => steps.push(Step::UpdateUser),
            Action::UpdateRoles => {}
        }
        if !c.assign().is_empty() {
            steps.push(Step::AssignRoles);
        }
        if !c.remove().is_empty() {
            steps.push(Step::RemoveRoles);
        }
        for step in steps {
            for s in step_scopes(step) {
                need.entry(s).or_default().push((c.id, format!("{} {}", c.action.as_str(), c.user.email)));
            }
        }
    }
    need.into_iter()
        .filter(|(scope, _)| !granted.contains(*scope))
        .map(|(scope, changes)| Missing {
            scope,
            examples: changes.iter().take(3).map(|(_, e)| e.clone()).collect(),
            changes: changes.into_iter().map(|(id, _)| id).filter(|id| *id > 0).collect(),
        })
        .collect()
}

/// `create:users (needed by 3 changes, e.g. create_user ann@x.io)`, one per line.
pub fn describe(missing: &[Missing]) -> Vec<String> {
    missing
        .iter()
        .map(|m| match (m.changes.len(), m.examples.is_empty()) {
            (_, true) => format!("{} (needed to read the tenant)", m.scope),
            (0, false) => format!("{} (needed for {})", m.scope, m.examples.join(", ")),
            (n, false) => format!("{} (needed by {n} change(s), e.g. {})", m.scope, m.examples.join(", ")),
        })
        .collect()
}
