//! The phases of the HR key: renames in chain order (a user whose old address another
//! one takes goes first; a rename or a create waiting for an address that is still
//! held is skipped, never sent), adoptions (the key written in the tool's namespace,
//! sent whole with what the run knows of it) and profile updates.

use super::executor::Run;
use super::report::{FailureInfo, OutcomeStatus};
use super::steps::Request;
use crate::error::Result;
use crate::fields::Namespace;
use crate::plan::{Action, Change};
use std::collections::BTreeMap;

impl<'a> Run<'a> {
    /// Whether change `id` is in place: `Some(true)` done (by this run, an earlier one,
    /// or anyone), `Some(false)` ended without being done, `None` not ended yet.
    fn completed(&self, id: u32) -> Option<bool> {
        if let Some(t) = self.tracked.get(&id) {
            return t.status.map(OutcomeStatus::is_complete);
        }
        self.settled.iter().find(|o| o.change_id == id).map(|o| o.status.is_complete())
    }

    /// Each rename's new address → the rename that frees it (whose old address it is).
    fn freed_by(&self) -> BTreeMap<&'a str, &'a Change> {
        let plan = self.plan;
        plan.changeset
            .changes
            .iter()
            .filter(|c| c.action == Action::UpdateEmail)
            .filter_map(|c| c.before.as_ref().and_then(|b| b.email.as_deref()).map(|e| (e, c)))
            .collect()
    }

    /// Why change `id`, which takes `email`, cannot go ahead: the rename that frees the
    /// address did not happen. `None` when the address is free or will not be.
    fn held(&self, freed_by: &BTreeMap<&str, &Change>, email: &str) -> Option<Option<FailureInfo>> {
        let r = freed_by.get(email)?;
        match self.completed(r.id) {
            Some(true) => None,
            Some(false) => Some(Some(FailureInfo::note(format!(
                "{email} is still held by {}: its email change (change {}) did not happen",
                r.user.user_id.as_deref().unwrap_or("another user"),
                r.id
            )))),
            None => Some(None),
        }
    }

    /// Sends the renames wave by wave: those whose new address is free, then those
    /// waiting for them.
    pub(super) async fn renames(&mut self) -> Result<()> {
        let freed_by = self.freed_by();
        loop {
            if self.cancel.is_cancelled() {
                return Ok(());
            }
            let live = self.live(Action::UpdateEmail, |t| t.work.email.is_some());
            let mut ready = Vec::new();
            for id in live {
                let email = self.tracked[&id].change.user.email.clone();
                match self.held(&freed_by, &email) {
                    None => ready.push(id),
                    Some(Some(why)) => self.skip(id, why)?,
                    Some(None) => {}
                }
            }
            if ready.is_empty() {
                return Ok(());
            }
            let requests = ready
                .into_iter()
                .filter_map(|id| {
                    let w = &self.tracked[&id].work;
                    Some(Request::Rename { id, user_id: w.user_id.clone()?, email: w.email.clone()? })
                })
                .collect();
            self.send("update email", requests).await?;
        }
    }

    /// Skips the creates whose address a rename of this plan was to free and did not.
    pub(super) fn hold_creates_behind_renames(&mut self) -> Result<()> {
        let freed_by = self.freed_by();
        if freed_by.is_empty() {
            return Ok(());
        }
        for id in self.live(Action::CreateUser, |t| t.work.user_id.is_none()) {
            let email = self.tracked[&id].change.user.email.clone();
            // Not ended (only after Ctrl-C): the create is not sent either, and a create
            // that meets the holder fails on its HR key anyway.
            if let Some(Some(why)) = self.held(&freed_by, &email) {
                self.skip(id, why)?;
            }
        }
        Ok(())
    }

    /// The HR key to write, each in the user's namespace as the run knows it now.
    pub(super) fn adopt_requests(&self) -> Vec<Request> {
        self.live(Action::AdoptUser, |t| t.work.key.is_some())
            .into_iter()
            .filter_map(|id| {
                let w = &self.tracked[&id].work;
                let namespace = Namespace { key: w.key.clone(), ..w.namespace.clone().unwrap_or_default() };
                Some(Request::Adopt { id, user_id: w.user_id.clone()?, namespace })
            })
            .collect()
    }

    pub(super) fn fields_requests(&self) -> Vec<Request> {
        self.live(Action::UpdateProfile, |t| !t.work.fields.is_empty())
            .into_iter()
            .filter_map(|id| {
                let w = &self.tracked[&id].work;
                Some(Request::Fields { id, user_id: w.user_id.clone()?, fields: w.fields.clone() })
            })
            .collect()
    }

    /// After a namespace write: what the later changes of the same user send next.
    pub(super) fn namespace_now(&mut self, user_id: &str, update: impl Fn(&mut Namespace)) {
        let Some(ids) = self.by_user.get(user_id) else { return };
        for id in ids {
            if let Some(ns) = self.tracked.get_mut(id).and_then(|t| t.work.namespace.as_mut()) {
                update(ns);
            }
        }
    }
}
