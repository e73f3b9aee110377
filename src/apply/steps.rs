//! The requests apply sends for a plan's changes, and what is left of each change
//! while a run goes on.

use super::report::{FailureInfo, OutcomeStatus};
use crate::drift::Work;
use crate::fields::{METADATA_PREFIX, NAMESPACE, Namespace};
use crate::plan::{Change, UserState};
use std::collections::BTreeMap;

/// One request (or one batch) of an apply run.
#[derive(Debug, Clone)]
pub(super) enum Request {
    /// `POST /users`.
    Create { id: u32 },
    /// `PATCH /users/{id}` with `blocked`.
    SetBlocked {
        id: u32,
        user_id: String,
        blocked: bool,
        /// The user's `app_metadata.auth0_sync` as it was read, sent back whole.
        marker: Option<serde_json::Map<String, serde_json::Value>>,
    },
    /// `POST /roles/{role}/users` for up to `--role-batch-size` users.
    Assign { role: String, role_id: String, members: Vec<(u32, String)> },
    /// `POST /users/{id}/roles`: one user's assignments when its batch was refused, so
    /// that only a bad user's change fails.
    AssignOne { id: u32, user_id: String, roles: Vec<(String, String)> },
    /// `DELETE /users/{id}/roles` with every role the change removes.
    Remove { id: u32, user_id: String, role_ids: Vec<String> },
    /// `DELETE /users/{id}`.
    Delete { id: u32, user_id: String },
    /// `PATCH /users/{id}` with the new `email` (a rename).
    Rename { id: u32, user_id: String, email: String },
    /// `PATCH /users/{id}` with the tool's namespace, now holding the HR key.
    Adopt { id: u32, user_id: String, namespace: Namespace },
    /// `PATCH /users/{id}` with synced fields (`null` clears one).
    Fields { id: u32, user_id: String, fields: BTreeMap<String, serde_json::Value> },
    /// The invitation of a user the plan created (`--invite`): a change-password
    /// email, or a ticket and its delivery.
    Invite { id: u32, user_id: String, email: String },
}

impl Request {
    /// The changes this request works for.
    pub(super) fn changes(&self) -> Vec<u32> {
        match self {
            Request::Create { id }
            | Request::SetBlocked { id, .. }
            | Request::AssignOne { id, .. }
            | Request::Remove { id, .. }
            | Request::Delete { id, .. }
            | Request::Rename { id, .. }
            | Request::Adopt { id, .. }
            | Request::Fields { id, .. }
            | Request::Invite { id, .. } => vec![*id],
            Request::Assign { members, .. } => members.iter().map(|(id, _)| *id).collect(),
        }
    }

    /// The step's name in the journal.
    pub(super) fn step(&self) -> &'static str {
        match self {
            Request::Create { .. } => "create",
            Request::SetBlocked { blocked: true, .. } => "block",
            Request::SetBlocked { blocked: false, .. } => "unblock",
            Request::Assign { .. } | Request::AssignOne { .. } => "assign_roles",
            Request::Remove { .. } => "remove_roles",
            Request::Delete { .. } => "delete",
            Request::Rename { .. } => "update_email",
            Request::Adopt { .. } => "adopt_user",
            Request::Fields { .. } => "update_profile",
            // The begin line names the mode instead (`invite_email`, `invite_ticket`).
            Request::Invite { .. } => "invite",
        }
    }
}

/// The `app_metadata` a create sets: the HR key in the tool's namespace and the synced
/// keys of the plan's "after"; `None` when there is nothing to set.
pub(super) fn creation_metadata(after: &UserState) -> Option<serde_json::Value> {
    let mut m = serde_json::Map::new();
    for (f, v) in &after.fields {
        if let Some(k) = f.strip_prefix(METADATA_PREFIX) {
            m.insert(k.to_owned(), v.clone());
        }
    }
    if let Some(key) = &after.key {
        m.insert(NAMESPACE.into(), Namespace { key: Some(key.clone()), blocked: false }.to_value());
    }
    (!m.is_empty()).then_some(serde_json::Value::Object(m))
}

/// What a successful request tells the run.
#[derive(Debug, Clone)]
pub(super) enum Reply {
    Ok,
    /// A new user's id.
    Created(String),
    /// A create answered 409: the existing user of the connection with this email,
    /// and its managed roles.
    Exists {
        user_id: String,
        roles: Vec<String>,
        /// Its HR key.
        key: Option<String>,
    },
    /// What became of an invitation.
    Invite(super::invite::Attempt),
}

/// Where a change's invitation stands (`--invite`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum InviteState {
    /// No invitation: off, not a create, or a user this plan did not create.
    Off,
    /// To send once the user exists with all its roles.
    Pending,
    /// Sent by this run (`email` or `ticket`).
    Sent(&'static str),
    /// Sent by an earlier run of this plan.
    EarlierRun,
    /// Certainly not sent (Auth0 refused, the delivery failed).
    Failed,
    /// Maybe sent, by this run or an earlier one: not sent again.
    Unconfirmed,
}

/// What is left of one change during a run, and how it is ending.
pub(super) struct Tracked<'a> {
    pub change: &'a Change,
    pub work: Work,
    /// Write requests this run sent for it.
    pub requests: u32,
    /// Some step is confirmed (this run or an earlier one).
    pub progressed: bool,
    /// The user was found after a 409 and taken over.
    pub adopted: bool,
    pub status: Option<OutcomeStatus>,
    pub detail: Option<String>,
    pub error: Option<FailureInfo>,
    pub invite: InviteState,
    /// An earlier run of this plan created (or began creating) the user: a user met
    /// by a 409 is then this plan's own, and invited.
    pub created_before: bool,
}

impl<'a> Tracked<'a> {
    pub fn new(change: &'a Change, work: Work) -> Self {
        let progressed = work.resumed;
        Tracked {
            change,
            work,
            requests: 0,
            progressed,
            adopted: false,
            status: None,
            detail: None,
            error: None,
            invite: InviteState::Off,
            created_before: false,
        }
    }

    /// Requests' worth of work left: the plan's steps and a pending invitation.
    pub fn steps_left(&self) -> usize {
        self.work.steps() + usize::from(self.invite == InviteState::Pending)
    }

    /// What the change's invitation says in a finished change's detail.
    pub fn invite_detail(&self) -> Option<String> {
        match self.invite {
            InviteState::Sent("email") => Some("invited by email".into()),
            InviteState::Sent(_) => Some("invited with a ticket".into()),
            InviteState::EarlierRun => Some("invited by an earlier run".into()),
            InviteState::Unconfirmed => Some(super::invite::UNCONFIRMED.into()),
            _ => None,
        }
    }

    pub fn finished(&self) -> bool {
        self.status.is_some()
    }

    /// What of the change is in place, for a failure's or an interruption's detail.
    pub fn done_so_far(&self) -> Option<String> {
        use crate::plan::Action;
        let c = self.change;
        let mut parts = Vec::new();
        if c.action == Action::CreateUser && self.work.user_id.is_some() {
            parts.push("created".to_owned());
        }
        let assigned = c.assign().len().saturating_sub(self.work.assign.len());
        if assigned > 0 {
            parts.push(format!("{assigned} role(s) assigned"));
        }
        if !self.work.assign.is_empty() && (self.progressed || c.action != Action::CreateUser) {
            parts.push(format!("{} role assignment(s) not done", self.work.assign.len()));
        }
        if !self.work.remove.is_empty() && self.progressed {
            parts.push(format!("{} role removal(s) not done", self.work.remove.len()));
        }
        if self.work.user_id.is_some() {
            match self.invite {
                InviteState::Pending => parts.push("not invited".to_owned()),
                InviteState::Failed => parts.push("invitation failed".to_owned()),
                InviteState::Unconfirmed => parts.push("invitation unconfirmed".to_owned()),
                _ => {}
            }
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}
