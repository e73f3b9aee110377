//! Sends what is left of a plan, phase by phase (roles, creates, unblocks, role
//! assignments, invitations, removals, blocks, deletes), each with bounded
//! concurrency and a progress bar. A journal line goes out before each request and after each finished
//! change, so a kill at any instant leaves a journal a later run can finish from.

use super::invite::{self, Attempt, EMAIL_SENT, INVITE_FAILED, TICKET_DELIVERED, TICKET_ISSUED};
use super::journal::{Entry, Journal};
use super::report::{ApplyReport, FailureInfo, Outcome, OutcomeStatus};
use super::steps::{InviteState, Reply, Request, Tracked, creation_metadata};
use super::{ApplyOptions, CreateVia, IMPORT_THRESHOLD};
use crate::auth0::{Auth0Client, Auth0Error, EmailChange, UserPatch, password};
use crate::error::{Error, Result};
use crate::plan::{Action, Plan};
use chrono::Utc;
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::BTreeMap;
use std::sync::Mutex;
use tokio_util::sync::CancellationToken;

pub(super) struct Run<'a> {
    pub client: &'a Auth0Client,
    pub plan: &'a Plan,
    pub opts: &'a ApplyOptions,
    pub cancel: &'a CancellationToken,
    /// Shared with the requests in flight, which write their `begin` lines.
    pub journal: Mutex<Journal>,
    /// Role name → id, including roles created by this run or an earlier one.
    pub role_ids: BTreeMap<String, String>,
    pub tracked: BTreeMap<u32, Tracked<'a>>,
    pub roles_created: Vec<String>,
    /// Outcomes settled before execution (journaled earlier, already applied, skipped).
    pub settled: Vec<Outcome>,
    /// Every tenant role, id → name (to read an existing user's managed roles).
    pub role_names: BTreeMap<String, String>,
    /// Write requests sent (a batch or an import job is one).
    pub sent: u32,
    /// User id → the tracked changes about that user (to keep their namespaces current).
    pub by_user: BTreeMap<String, Vec<u32>>,
}

impl<'a> Run<'a> {
    pub(super) fn journal_entries(&self, entries: &[Entry]) -> Result<()> {
        self.journal.lock().unwrap_or_else(|e| e.into_inner()).append_all(entries)
    }

    /// Creates the roles the plan needs that do not exist yet.
    pub async fn create_roles(&mut self) -> Result<()> {
        let to_create: Vec<String> =
            self.plan.changeset.create_roles.iter().filter(|n| !self.role_ids.contains_key(*n)).cloned().collect();
        for name in to_create {
            if self.cancel.is_cancelled() {
                return Ok(());
            }
            self.journal_entries(&[Entry::Begin {
                changes: Vec::new(),
                step: format!("create_role {name}"),
                at: Utc::now(),
            }])?;
            self.sent += 1;
            let id = self.client.create_role(&name).await?;
            self.journal_entries(&[Entry::Role { name: name.clone(), role_id: id.clone(), at: Utc::now() }])?;
            self.roles_created.push(name.clone());
            self.role_ids.insert(name, id);
        }
        Ok(())
    }

    /// Every phase, in order; after Ctrl-C no request starts.
    pub async fn phases(&mut self) -> Result<()> {
        self.renames().await?;
        self.hold_creates_behind_renames()?;
        let creates: Vec<u32> = self.live(Action::CreateUser, |t| t.work.user_id.is_none());
        let via_import = match self.opts.create_via {
            CreateVia::Api => false,
            CreateVia::Import => !creates.is_empty(),
            CreateVia::Auto => creates.len() >= IMPORT_THRESHOLD,
        };
        if via_import {
            self.import_creates(&creates).await?;
        }
        let creates = self.live(Action::CreateUser, |t| t.work.user_id.is_none());
        self.send("create", creates.into_iter().map(|id| Request::Create { id }).collect()).await?;
        let adopts = self.adopt_requests();
        self.send("adopt", adopts).await?;
        let profiles = self.fields_requests();
        self.send("update profile", profiles).await?;
        let unblocks = self.blocked_requests(Action::UnblockUser);
        self.send("unblock", unblocks).await?;
        let batches = self.assign_batches()?;
        self.send("assign roles", batches).await?;
        // A new user is invited once it has all its roles, so that its first login
        // finds its access in place.
        let invites = self.invite_requests();
        self.send("invite", invites).await?;
        let removals = self.removal_requests()?;
        self.send("remove roles", removals).await?;
        let blocks = self.blocked_requests(Action::BlockUser);
        self.send("block", blocks).await?;
        let deletes = self
            .live(Action::DeleteUser, |t| t.work.delete)
            .into_iter()
            .filter_map(|id| {
                let user_id = self.tracked[&id].work.user_id.clone()?;
                Some(Request::Delete { id, user_id })
            })
            .collect();
        self.send("delete", deletes).await
    }

    /// Unfinished changes of an action that satisfy `f`.
    pub fn live(&self, action: Action, f: impl Fn(&Tracked<'a>) -> bool) -> Vec<u32> {
        self.tracked
            .iter()
            .filter(|(_, t)| !t.finished() && t.change.action == action && f(t))
            .map(|(id, _)| *id)
            .collect()
    }

    fn blocked_requests(&self, action: Action) -> Vec<Request> {
        self.live(action, |t| t.work.set_blocked.is_some())
            .into_iter()
            .filter_map(|id| {
                let w = &self.tracked[&id].work;
                Some(Request::SetBlocked {
                    id,
                    user_id: w.user_id.clone()?,
                    blocked: w.set_blocked?,
                    marker: w.marker.clone(),
                })
            })
            .collect()
    }

    /// Every pending role assignment of a user that exists, grouped per role, in
    /// batches. A role the plan has no id for fails its changes.
    fn assign_batches(&mut self) -> Result<Vec<Request>> {
        let mut per_role: BTreeMap<String, Vec<(u32, String)>> = BTreeMap::new();
        let mut unknown = Vec::new();
        let mut alone = Vec::new();
        for (id, t) in &self.tracked {
            let Some(user_id) = t.work.user_id.as_ref().filter(|_| !t.finished()) else { continue };
            if t.work.exceeds_role_limit() && t.work.assign.iter().all(|r| self.role_ids.contains_key(r)) {
                let roles = t.work.assign.iter().map(|r| (r.clone(), self.role_ids[r].clone())).collect();
                alone.push(Request::AssignOne { id: *id, user_id: user_id.clone(), roles });
                continue;
            }
            for role in &t.work.assign {
                if self.role_ids.contains_key(role) {
                    per_role.entry(role.clone()).or_default().push((*id, user_id.clone()));
                } else {
                    unknown.push((*id, role.clone()));
                }
            }
        }
        for (id, role) in unknown {
            self.fail(id, FailureInfo::note(format!("the plan has no id for role {role:?}")))?;
        }
        let size = self.opts.role_batch_size.max(1);
        let mut requests = alone;
        for (role, members) in per_role {
            let role_id = self.role_ids[&role].clone();
            for chunk in members.chunks(size) {
                requests.push(Request::Assign {
                    role: role.clone(),
                    role_id: role_id.clone(),
                    members: chunk.to_vec(),
                });
            }
        }
        Ok(requests)
    }

    /// The invitations of created users whose other steps are all done.
    fn invite_requests(&self) -> Vec<Request> {
        self.tracked
            .iter()
            .filter(|(_, t)| !t.finished() && t.invite == InviteState::Pending && t.work.steps() == 0)
            .filter_map(|(id, t)| {
                Some(Request::Invite { id: *id, user_id: t.work.user_id.clone()?, email: t.change.user.email.clone() })
            })
            .collect()
    }

    fn removal_requests(&mut self) -> Result<Vec<Request>> {
        let mut requests = Vec::new();
        for id in self.live(Action::UpdateRoles, |t| !t.work.remove.is_empty()) {
            let t = &self.tracked[&id];
            let Some(user_id) = t.work.user_id.clone() else { continue };
            let role_ids: Option<Vec<String>> = t.work.remove.iter().map(|n| self.role_ids.get(n).cloned()).collect();
            match role_ids {
                Some(role_ids) => requests.push(Request::Remove { id, user_id, role_ids }),
                None => self.fail(id, FailureInfo::note("the plan lacks the id of a role to remove"))?,
            }
        }
        Ok(requests)
    }

    /// Sends `requests` with bounded concurrency; each result is recorded (and
    /// journaled) as it arrives. A refused role batch is retried user by user.
    pub(super) async fn send(&mut self, label: &'static str, requests: Vec<Request>) -> Result<()> {
        let mut requests = requests;
        while !requests.is_empty() && !self.cancel.is_cancelled() {
            let results = self.send_round(label, std::mem::take(&mut requests)).await?;
            for (request, result) in results {
                if let Some(retry) = self.record(request, result)? {
                    requests.extend(retry);
                }
            }
        }
        Ok(())
    }

    async fn send_round(
        &self,
        label: &'static str,
        requests: Vec<Request>,
    ) -> Result<Vec<(Request, std::result::Result<Reply, Auth0Error>)>> {
        let bar = progress_bar(&self.opts.printer, label, requests.len(), self.opts.progress);
        let (client, plan, cancel, journal) = (self.client, self.plan, self.cancel, &self.journal);
        let (tracked, role_names, invitations) = (&self.tracked, &self.role_names, &self.opts.invite);
        let mut stream = futures::stream::iter(requests)
            .map(|request| {
                let bar = bar.clone();
                async move {
                    if cancel.is_cancelled() {
                        return Ok(None);
                    }
                    let step = match &request {
                        Request::Invite { .. } => invitations.begin_step(),
                        other => other.step(),
                    };
                    let begin = Entry::Begin { changes: request.changes(), step: step.into(), at: Utc::now() };
                    journal.lock().unwrap_or_else(|e| e.into_inner()).append(&begin)?;
                    let result = match &request {
                        Request::Invite { id, user_id, email } => {
                            // The ticket's answer is journaled before its delivery
                            // starts (never the ticket itself).
                            let issued = || {
                                let line = Entry::Step {
                                    id: *id,
                                    step: TICKET_ISSUED.into(),
                                    user_id: Some(user_id.clone()),
                                    at: Utc::now(),
                                };
                                journal.lock().unwrap_or_else(|e| e.into_inner()).append(&line)
                            };
                            let attempt = invite::invite_one(
                                client,
                                invitations,
                                &plan.connection,
                                user_id,
                                email,
                                &self.opts.printer,
                                issued,
                            )
                            .await?;
                            Ok(Reply::Invite(attempt))
                        }
                        _ => send_one(client, plan, tracked, role_names, &request).await,
                    };
                    bar.inc(1);
                    Ok::<_, Error>(Some((request, result)))
                }
            })
            .buffer_unordered(self.opts.concurrency.max(1));
        let mut out = Vec::new();
        while let Some(item) = stream.next().await {
            if let Some(done) = item? {
                out.push(done);
            }
        }
        bar.finish_with_message(if cancel.is_cancelled() { "interrupted" } else { "done" });
        Ok(out)
    }

    /// Records one request's result; returns the requests to try instead (a refused
    /// role batch, user by user).
    fn record(
        &mut self,
        request: Request,
        result: std::result::Result<Reply, Auth0Error>,
    ) -> Result<Option<Vec<Request>>> {
        let ids = request.changes();
        if !matches!(result, Err(Auth0Error::Cancelled { .. })) {
            self.sent += 1;
        }
        let error = match result {
            Ok(reply) => {
                for id in &ids {
                    if let Some(t) = self.tracked.get_mut(id) {
                        t.requests += 1;
                    }
                }
                return self.succeeded(request, reply).map(|_| None);
            }
            Err(e) => e,
        };
        if matches!(error, Auth0Error::Cancelled { .. }) {
            // Nothing was sent: the change stays unfinished (partly done or not started).
            return Ok(None);
        }
        for id in &ids {
            if let Some(t) = self.tracked.get_mut(id) {
                t.requests += 1;
            }
        }
        if let Request::Assign { role, role_id, members } = &request
            && members.len() > 1
            && error.status().is_some_and(|s| (400..500).contains(&s) && s != 429)
        {
            tracing::warn!(role = %role, users = members.len(), error = %error, "a role batch was refused; assigning user by user");
            let retry = members
                .iter()
                .map(|(id, user_id)| Request::AssignOne {
                    id: *id,
                    user_id: user_id.clone(),
                    roles: vec![(role.clone(), role_id.clone())],
                })
                .collect();
            return Ok(Some(retry));
        }
        for id in ids {
            self.fail(id, FailureInfo::from(&error))?;
        }
        Ok(None)
    }

    fn succeeded(&mut self, request: Request, reply: Reply) -> Result<()> {
        let mut entries = Vec::new();
        match (&request, reply) {
            (Request::Create { id }, Reply::Created(user_id)) => {
                let t = self.tracked.get_mut(id).expect("tracked");
                t.work.user_id = Some(user_id.clone());
                t.progressed = true;
                if t.steps_left() > 0 {
                    entries.push(Entry::Step {
                        id: *id,
                        step: "create".into(),
                        user_id: Some(user_id),
                        at: Utc::now(),
                    });
                }
            }
            (Request::Create { id }, Reply::Exists { user_id, roles, key }) => {
                return self.adopted(*id, user_id, roles, key);
            }
            (Request::Assign { role, members, .. }, _) => {
                for (id, _) in members {
                    let t = self.tracked.get_mut(id).expect("tracked");
                    t.work.assign.retain(|r| r != role);
                    t.progressed = true;
                }
            }
            (Request::AssignOne { id, roles, .. }, _) => {
                let t = self.tracked.get_mut(id).expect("tracked");
                t.work.assign.retain(|r| !roles.iter().any(|(n, _)| n == r));
                t.progressed = true;
            }
            (Request::Remove { id, .. }, _) => {
                let t = self.tracked.get_mut(id).expect("tracked");
                t.work.remove.clear();
                t.progressed = true;
            }
            (Request::SetBlocked { id, user_id, blocked, .. }, _) => {
                let t = self.tracked.get_mut(id).expect("tracked");
                t.work.set_blocked = None;
                t.progressed = true;
                let blocked = *blocked;
                self.namespace_now(user_id, |ns| ns.blocked = blocked);
            }
            (Request::Delete { id, .. }, _) => {
                let t = self.tracked.get_mut(id).expect("tracked");
                t.work.delete = false;
                t.progressed = true;
            }
            (Request::Invite { id, user_id, .. }, Reply::Invite(attempt)) => {
                let mode = self.opts.invite.mode();
                let t = self.tracked.get_mut(id).expect("tracked");
                match attempt {
                    Attempt::Sent { at } => {
                        t.invite = InviteState::Sent(mode);
                        t.progressed = true;
                        let step = if mode == "email" { EMAIL_SENT } else { TICKET_DELIVERED };
                        entries.push(Entry::Step { id: *id, step: step.into(), user_id: Some(user_id.clone()), at });
                    }
                    Attempt::NotSent(info) => {
                        t.invite = InviteState::Failed;
                        let line = Entry::Step {
                            id: *id,
                            step: INVITE_FAILED.into(),
                            user_id: Some(user_id.clone()),
                            at: Utc::now(),
                        };
                        self.journal_entries(&[line])?;
                        return self.fail(*id, info);
                    }
                    Attempt::Unconfirmed(info) => {
                        // No `invite_failed` line: a later run takes it as sent.
                        t.invite = InviteState::Unconfirmed;
                        return self.fail(*id, info);
                    }
                }
            }
            (Request::Create { .. }, Reply::Ok | Reply::Invite(_)) => unreachable!("a create always says which user"),
            (Request::Rename { id, .. }, _) => {
                let t = self.tracked.get_mut(id).expect("tracked");
                t.work.email = None;
                t.progressed = true;
            }
            (Request::Adopt { id, user_id, namespace }, _) => {
                let t = self.tracked.get_mut(id).expect("tracked");
                t.work.key = None;
                t.progressed = true;
                self.namespace_now(user_id, |ns| ns.key = namespace.key.clone());
            }
            (Request::Fields { id, .. }, _) => {
                let t = self.tracked.get_mut(id).expect("tracked");
                t.work.fields.clear();
                t.progressed = true;
            }
            (Request::Invite { .. }, _) => unreachable!("an invitation always says what became of it"),
        }
        for id in request.changes() {
            if let Some(entry) = self.complete_if_done(id) {
                entries.push(entry);
            }
        }
        self.journal_entries(&entries)
    }

    /// A create whose user exists: taken over when its managed roles are a subset of
    /// what the plan gives it (the rest are assigned) and it holds the plan's HR key,
    /// failed otherwise: an address is never handed from one person to another.
    pub(super) fn adopted(&mut self, id: u32, user_id: String, roles: Vec<String>, key: Option<String>) -> Result<()> {
        let t = self.tracked.get_mut(&id).expect("tracked");
        let want_key = t.change.after.as_ref().and_then(|a| a.key.clone());
        // A keyless user is taken over (the next plan adopts it); another key is
        // another person.
        if key.is_some() && key != want_key {
            let held = key.map_or_else(|| "no HR key".to_owned(), |k| format!("HR key {k}"));
            let info = FailureInfo {
                status: Some(409),
                error_code: None,
                message: format!(
                    "the user already exists ({user_id}) with {held}, not HR key {}; make a new plan",
                    want_key.unwrap_or_default()
                ),
            };
            return self.fail(id, info);
        }
        if !t.created_before && t.invite == InviteState::Pending {
            // Someone else's user: this plan did not create it, so it is not invited.
            t.invite = InviteState::Off;
        }
        let after = t.change.after.as_ref().map(|a| a.roles.clone()).unwrap_or_default();
        let extra: Vec<&str> = roles.iter().filter(|r| !after.contains(r)).map(String::as_str).collect();
        t.work.user_id = Some(user_id.clone());
        if !extra.is_empty() {
            let info = FailureInfo {
                status: Some(409),
                error_code: None,
                message: format!(
                    "the user already exists ({user_id}) with role(s) [{}] this plan does not give it; make a new plan",
                    extra.join(", ")
                ),
            };
            return self.fail(id, info);
        }
        t.work.assign.retain(|r| !roles.contains(r));
        t.adopted = true;
        t.progressed = true;
        let mut entries = Vec::new();
        if t.steps_left() > 0 {
            entries.push(Entry::Step { id, step: "adopt".into(), user_id: Some(user_id), at: Utc::now() });
        }
        entries.extend(self.complete_if_done(id));
        self.journal_entries(&entries)
    }

    /// Marks a change whose work is all done; its journal line.
    pub(super) fn complete_if_done(&mut self, id: u32) -> Option<Entry> {
        let t = self.tracked.get_mut(&id)?;
        if t.finished() || t.steps_left() > 0 {
            return None;
        }
        t.status = Some(if t.adopted { OutcomeStatus::Adopted } else { OutcomeStatus::Done });
        let resumed = t.work.resumed.then(|| "finished what an earlier run started".to_owned());
        let parts: Vec<String> = resumed.into_iter().chain(t.invite_detail()).collect();
        if !parts.is_empty() {
            t.detail = Some(parts.join("; "));
        }
        log_outcome(t, &self.opts.printer);
        Some(entry_of(t))
    }

    /// Records a change that was not attempted because one it depends on did not
    /// happen (a create or a rename whose address is still held).
    pub(super) fn skip(&mut self, id: u32, info: FailureInfo) -> Result<()> {
        let Some(t) = self.tracked.get_mut(&id) else { return Ok(()) };
        if t.finished() {
            return Ok(());
        }
        t.status = Some(OutcomeStatus::Skipped);
        t.error = Some(info);
        log_outcome(t, &self.opts.printer);
        let entry = entry_of(t);
        self.journal_entries(&[entry])
    }

    /// Records a failed change, saying what of it was done first.
    pub fn fail(&mut self, id: u32, info: FailureInfo) -> Result<()> {
        let Some(t) = self.tracked.get_mut(&id) else { return Ok(()) };
        if t.finished() {
            return Ok(());
        }
        t.status = Some(OutcomeStatus::Failed);
        let mut info = info;
        t.detail = match t.done_so_far() {
            Some(done) => Some(done),
            None if t.change.action == Action::CreateUser && !t.work.assign.is_empty() => {
                let n = t.work.assign.len();
                info.message = format!("{} (its {n} role assignment(s) were skipped)", info.message);
                Some(format!("not created; {n} role assignment(s) skipped"))
            }
            None => None,
        };
        t.error = Some(info);
        log_outcome(t, &self.opts.printer);
        let entry = entry_of(t);
        self.journal_entries(&[entry])
    }

    /// Ends the run: every change has exactly one outcome; the journal gets the
    /// lines of changes that stopped part way and the run's summary.
    pub fn finish(mut self) -> Result<ApplyReport> {
        let interrupted = self.cancel.is_cancelled();
        let mut entries = Vec::new();
        for t in self.tracked.values_mut().filter(|t| !t.finished()) {
            let partly = t.progressed;
            t.status = Some(if partly { OutcomeStatus::PartlyDone } else { OutcomeStatus::NotStarted });
            if partly {
                t.detail = t.done_so_far();
                entries.push(entry_of(t));
            }
            if !interrupted {
                // Only Ctrl-C leaves work undone; anything else is a bug worth seeing.
                tracing::warn!(change = t.change.id, "a change was left unfinished without an interruption");
            }
        }
        let mut outcomes = std::mem::take(&mut self.settled);
        outcomes.extend(self.tracked.values().map(outcome_of));
        let report = ApplyReport::new(outcomes, std::mem::take(&mut self.roles_created), interrupted, self.sent);
        entries.push(Entry::Summary { tally: report.summary, interrupted, at: Utc::now() });
        self.journal_entries(&entries)?;
        Ok(report)
    }
}

fn outcome_of(t: &Tracked<'_>) -> Outcome {
    Outcome {
        change_id: t.change.id,
        action: t.change.action,
        email: t.change.user.email.clone(),
        status: t.status.unwrap_or(OutcomeStatus::NotStarted),
        user_id: t.work.user_id.clone().or_else(|| t.change.user.user_id.clone()),
        requests: t.requests,
        detail: t.detail.clone(),
        error: t.error.clone(),
    }
}

/// The journal line of a change's outcome.
pub(super) fn entry_of(t: &Tracked<'_>) -> Entry {
    outcome_entry(&outcome_of(t))
}

pub(super) fn outcome_entry(o: &Outcome) -> Entry {
    let err = o.error.as_ref();
    Entry::Change {
        id: o.change_id,
        action: o.action,
        email: o.email.clone(),
        user_id: o.user_id.clone(),
        outcome: o.status.as_str().into(),
        requests: o.requests,
        at: Utc::now(),
        detail: o.detail.clone(),
        http_status: err.and_then(|e| e.status),
        error_code: err.and_then(|e| e.error_code.clone()),
        message: err.map(|e| e.message.clone()),
    }
}

fn log_outcome(t: &Tracked<'_>, printer: &crate::printer::Printer) {
    let c = t.change;
    let email = printer.email(&c.user.email);
    let status = t.status.map_or("unfinished", |s| s.as_str());
    match t.status {
        Some(OutcomeStatus::Failed) => {
            let message = t.error.as_ref().map_or("", |e| e.message.as_str());
            tracing::warn!(change = c.id, action = c.action.as_str(), email = %email, outcome = status, error = message, "change failed")
        }
        _ => {
            tracing::info!(change = c.id, action = c.action.as_str(), email = %email, outcome = status, "change applied")
        }
    }
}

fn progress_bar(printer: &crate::printer::Printer, label: &'static str, len: usize, visible: bool) -> ProgressBar {
    let multi = printer.bars();
    multi.set_draw_target(if visible { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() });
    let bar = multi.add(ProgressBar::new(len as u64));
    bar.set_style(
        ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} {msg}")
            .expect("static template")
            .progress_chars("=> "),
    );
    bar.set_prefix(label);
    bar
}

/// Sends one request.
async fn send_one(
    client: &Auth0Client,
    plan: &Plan,
    tracked: &BTreeMap<u32, Tracked<'_>>,
    role_names: &BTreeMap<String, String>,
    request: &Request,
) -> std::result::Result<Reply, Auth0Error> {
    match request {
        Request::Create { id } => {
            let c = tracked[id].change;
            let after = c.after.clone().unwrap_or_default();
            let metadata = creation_metadata(&after);
            let created = client
                .create_user_with(
                    &plan.connection,
                    &c.user.email,
                    &after.profile,
                    metadata.as_ref(),
                    &password::generate(),
                )
                .await;
            match created {
                Ok(user_id) => Ok(Reply::Created(user_id)),
                // It exists (a run that died after Auth0 answered, or a race): find it
                // with an immediately consistent read and take it over.
                Err(e) if e.status() == Some(409) => {
                    match existing_user(client, plan, role_names, &c.user.email).await? {
                        Some((user_id, roles, key)) => Ok(Reply::Exists { user_id, roles, key }),
                        None => Err(e),
                    }
                }
                Err(e) => Err(e),
            }
        }
        Request::SetBlocked { id, user_id, blocked, marker } => {
            // The namespace as read, with the HR key this run may have written.
            let mut existing = marker.clone().unwrap_or_default();
            if let Some(key) = tracked[id].work.namespace.as_ref().and_then(|n| n.key.clone()) {
                existing.insert("key".into(), serde_json::Value::String(key));
            }
            client.set_blocked_marked(user_id, *blocked, Some(&existing)).await.map(|_| Reply::Ok)
        }
        Request::Assign { role_id, members, .. } => {
            let users: Vec<String> = members.iter().map(|(_, u)| u.clone()).collect();
            client.assign_users_to_role(role_id, &users).await.map(|_| Reply::Ok)
        }
        Request::AssignOne { user_id, roles, .. } => {
            let ids: Vec<String> = roles.iter().map(|(_, id)| id.clone()).collect();
            client.assign_roles(user_id, &ids).await.map(|_| Reply::Ok)
        }
        Request::Remove { user_id, role_ids, .. } => client.remove_roles(user_id, role_ids).await.map(|_| Reply::Ok),
        // Auth0 answers 204 for a user already gone; some stand-ins 404: both mean gone.
        Request::Delete { user_id, .. } => match client.delete_user(user_id).await {
            Err(e) if e.status() == Some(404) => Ok(Reply::Ok),
            other => other.map(|_| Reply::Ok),
        },
        Request::Rename { id, user_id, email } => {
            // What the plan says is sent: unverified, with a verification email.
            let after = tracked[id].change.after.clone().unwrap_or_default();
            let change = EmailChange {
                email: email.clone(),
                connection: plan.connection.clone(),
                email_verified: after.email_verified.unwrap_or(false),
                verify_email: after.verify_email.unwrap_or(true),
            };
            client
                .update_user(user_id, &UserPatch { email: Some(change), ..UserPatch::default() })
                .await
                .map(|_| Reply::Ok)
        }
        Request::Adopt { user_id, namespace, .. } => client
            .update_user(user_id, &UserPatch { namespace: Some(namespace.clone()), ..UserPatch::default() })
            .await
            .map(|_| Reply::Ok),
        Request::Fields { user_id, fields, .. } => {
            client.update_user(user_id, &UserPatch::fields(fields)).await.map(|_| Reply::Ok)
        }
        Request::Invite { .. } => unreachable!("send_round sends invitations itself"),
    }
}

/// The user of the plan's connection with this email, its managed role names and its
/// HR key, read with immediately consistent calls.
pub(super) async fn existing_user(
    client: &Auth0Client,
    plan: &Plan,
    role_names: &BTreeMap<String, String>,
    email: &str,
) -> std::result::Result<Option<(String, Vec<String>, Option<String>)>, Auth0Error> {
    let found = client.find_by_email(email).await?;
    let Some(user) = found.into_iter().find(|u| u.connection == plan.connection) else { return Ok(None) };
    let Some(user) = client.user_with_roles(&user.user_id).await? else { return Ok(None) };
    let managed = crate::roles::ManagedRoles(plan.policy.managed_roles.as_ref().map(|m| m.iter().cloned().collect()));
    let mut names: Vec<String> = user
        .role_ids
        .iter()
        .filter_map(|id| role_names.get(id))
        .filter(|name| managed.manages(name))
        .cloned()
        .collect();
    names.sort();
    Ok(Some((user.user_id, names, user.synced.key)))
}
