//! Executes a validated plan against the tenant: checks it is still true (age, drift,
//! safety caps), then creates roles, creates users (with their roles), unblocks, fixes
//! roles, blocks, deletes — each phase with bounded concurrency, a progress bar, and a
//! journal line per finished change so a crash never loses or repeats work.

pub mod journal;

use crate::auth0::{Auth0Client, Auth0Error, password};
use crate::drift::{self, Verdict};
use crate::error::{Error, Result};
use crate::plan::{Action, Change, Plan};
use crate::planner::DeleteCap;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use journal::{Entry, Journal};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// How a change ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeStatus {
    Done,
    Failed,
    Skipped,
}

impl OutcomeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeStatus::Done => "done",
            OutcomeStatus::Failed => "failed",
            OutcomeStatus::Skipped => "skipped",
        }
    }
}

/// Auth0's answer to a failed change, or why a change was skipped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailureInfo {
    pub status: Option<u16>,
    pub error_code: Option<String>,
    pub message: String,
}

impl From<&Auth0Error> for FailureInfo {
    fn from(e: &Auth0Error) -> Self {
        let message = match e {
            Auth0Error::Api { message, .. } => message.clone(),
            other => other.to_string(),
        };
        FailureInfo { status: e.status(), error_code: e.error_code().map(str::to_owned), message }
    }
}

impl FailureInfo {
    fn note(message: impl Into<String>) -> Self {
        FailureInfo { status: None, error_code: None, message: message.into() }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outcome {
    pub change_id: u32,
    pub action: Action,
    pub email: String,
    pub status: OutcomeStatus,
    /// The user's id after the change (new id for creates).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<FailureInfo>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ApplyReport {
    /// This run's outcomes, in change-id order.
    pub outcomes: Vec<Outcome>,
    /// Changes an earlier run of the same plan had already done (from the journal).
    pub done_earlier: usize,
    /// Roles created by this run.
    pub roles_created: Vec<String>,
    /// Ctrl-C stopped the run; `not_started` changes remain.
    pub interrupted: bool,
    pub not_started: usize,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub created: usize,
    pub unblocked: usize,
    pub updated: usize,
    pub blocked: usize,
    pub deleted: usize,
    pub failed: usize,
    pub skipped: usize,
}

impl ApplyReport {
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for o in &self.outcomes {
            match (o.status, o.action) {
                (OutcomeStatus::Failed, _) => c.failed += 1,
                (OutcomeStatus::Skipped, _) => c.skipped += 1,
                (OutcomeStatus::Done, Action::CreateUser) => c.created += 1,
                (OutcomeStatus::Done, Action::UnblockUser) => c.unblocked += 1,
                (OutcomeStatus::Done, Action::UpdateRoles) => c.updated += 1,
                (OutcomeStatus::Done, Action::BlockUser) => c.blocked += 1,
                (OutcomeStatus::Done, Action::DeleteUser) => c.deleted += 1,
            }
        }
        c
    }

    pub fn failed(&self) -> usize {
        self.counts().failed
    }
}

/// Set by Ctrl-C: stop starting changes, finish those in flight.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Draw progress bars (on stderr).
    pub progress: bool,
    /// Apply the changes that still match and skip the drifted ones.
    pub skip_drifted: bool,
    /// Refuse plans older than this.
    pub max_plan_age: chrono::Duration,
    /// Deletion cap, checked again against the tenant as it is now.
    pub delete_cap: DeleteCap,
    pub allow_empty_source: bool,
    /// Users per `POST /roles/{id}/users` request.
    pub role_batch_size: usize,
    /// How new users are created.
    pub create_via: CreateVia,
}

/// How apply creates users.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum CreateVia {
    /// One `POST /users` each, with a random password.
    #[default]
    Api,
    /// Users-import jobs (no password: users set one through password reset).
    Import,
    /// Import from `IMPORT_THRESHOLD` creations up, the API below.
    Auto,
}

/// `--create-via auto` imports from this many creations up.
pub const IMPORT_THRESHOLD: usize = 200;
const IMPORT_MAX_USERS: usize = 1000;
const IMPORT_MAX_BYTES: usize = 450 * 1024;
const IMPORT_MAX_JOBS: usize = 2;
/// Up to this many imported users are looked up by email; more, with an export job.
const IMPORT_LOOKUP_BY_EMAIL: usize = 100;

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            concurrency: 4,
            progress: false,
            skip_drifted: false,
            max_plan_age: chrono::Duration::hours(24),
            delete_cap: DeleteCap::Default,
            allow_empty_source: false,
            role_batch_size: 50,
            create_via: CreateVia::Api,
        }
    }
}

/// `1d 2h 3m` style.
pub fn human_duration(d: chrono::Duration) -> String {
    let s = d.num_seconds().max(0);
    let (days, h, m) = (s / 86400, s % 86400 / 3600, s % 3600 / 60);
    match (days, h, m) {
        (0, 0, m) => format!("{m}m"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

/// Refuses what must not be applied: an old plan, an empty source, too many deletions
/// for the tenant as it is now. Nothing has been sent when this errs.
pub fn preflight(plan: &Plan, opts: &ApplyOptions, now: DateTime<Utc>, connection_users: u32) -> Result<()> {
    let age = now - plan.created_at;
    if age > opts.max_plan_age {
        return Err(Error::PlanTooOld { age: human_duration(age), max: human_duration(opts.max_plan_age) });
    }
    if plan.source.users == 0 && !opts.allow_empty_source {
        return Err(auth0_sync_core::PlanError::EmptySource { rows: plan.source.rows }.into());
    }
    Ok(crate::planner::check_delete_cap(&plan.changeset, connection_users, opts.delete_cap)?)
}

/// Runs `plan` (read from `plan_path`, whose journal sits beside it).
pub async fn apply(
    client: &Auth0Client,
    plan_path: &Path,
    plan: &Plan,
    opts: &ApplyOptions,
    cancel: &Cancel,
) -> Result<ApplyReport> {
    let now = Utc::now();
    let snapshot = client.snapshot_with(&plan.connection, crate::auth0::RoleLookup::Auto, opts.concurrency).await?;
    let connection_users = snapshot.users.values().filter(|u| u.connection == plan.connection).count() as u32;
    preflight(plan, opts, now, connection_users)?;
    let (journal, progress) = Journal::open(plan_path, plan, now)?;
    let verdicts = drift::check(plan, &snapshot, &progress.done);

    let drifted: Vec<_> = verdicts
        .values()
        .filter_map(|v| match v {
            Verdict::Drifted(d) => Some(d.clone()),
            _ => None,
        })
        .collect();
    if !drifted.is_empty() && !opts.skip_drifted {
        return Err(Error::Drifted { drifted });
    }

    let mut run = Run {
        client,
        plan,
        opts,
        cancel,
        journal,
        role_ids: plan.changeset.roles.clone(),
        tracked: BTreeMap::new(),
        report: ApplyReport { done_earlier: progress.done.len(), ..Default::default() },
    };
    run.role_ids.extend(progress.roles.clone());
    run.create_roles().await?;
    for c in &plan.changeset.changes {
        if let Some(v) = verdicts.get(&c.id) {
            run.track(c, v)?;
        }
    }
    run.phases().await?;

    let mut report = run.report;
    report.not_started = run.tracked.values().filter(|t| !t.finished).count();
    report.interrupted = cancel.is_cancelled() && report.not_started > 0;
    report.outcomes.sort_by_key(|o| o.change_id);
    let c = report.counts();
    tracing::info!(
        created = c.created,
        unblocked = c.unblocked,
        updated = c.updated,
        blocked = c.blocked,
        deleted = c.deleted,
        failed = c.failed,
        skipped = c.skipped,
        done_earlier = report.done_earlier,
        interrupted = report.interrupted,
        duration_ms = (Utc::now() - now).num_milliseconds(),
        "apply finished"
    );
    Ok(report)
}

/// One request (or one batch) apply sends.
#[derive(Debug, Clone)]
enum Job {
    Create {
        id: u32,
    },
    SetBlocked {
        id: u32,
        user_id: String,
        blocked: bool,
    },
    /// `POST /roles/{role}/users` for up to `--role-batch-size` users.
    AssignBatch {
        role_id: String,
        members: Vec<(u32, String)>,
    },
    RemoveRoles {
        id: u32,
        user_id: String,
        role_ids: Vec<String>,
    },
    Delete {
        id: u32,
        user_id: String,
    },
}

impl Job {
    /// The changes this job works for.
    fn changes(&self) -> Vec<u32> {
        match self {
            Job::Create { id } | Job::SetBlocked { id, .. } | Job::RemoveRoles { id, .. } | Job::Delete { id, .. } => {
                vec![*id]
            }
            Job::AssignBatch { members, .. } => members.iter().map(|(id, _)| *id).collect(),
        }
    }
}

/// What is left of one change.
struct Tracked<'a> {
    change: &'a Change,
    user_id: Option<String>,
    /// Roles still to assign (names).
    assign: Vec<String>,
    /// Requests still to complete before the change is done.
    parts_left: usize,
    already: bool,
    finished: bool,
}

struct Run<'a> {
    client: &'a Auth0Client,
    plan: &'a Plan,
    opts: &'a ApplyOptions,
    cancel: &'a Cancel,
    journal: Journal,
    role_ids: BTreeMap<String, String>,
    tracked: BTreeMap<u32, Tracked<'a>>,
    report: ApplyReport,
}

impl<'a> Run<'a> {
    async fn create_roles(&mut self) -> Result<()> {
        let to_create: Vec<String> =
            self.plan.changeset.create_roles.iter().filter(|n| !self.role_ids.contains_key(*n)).cloned().collect();
        for name in to_create {
            let id = self.client.create_role(&name).await?;
            self.journal.append(&Entry::Role { name: name.clone(), role_id: id.clone(), at: Utc::now() })?;
            self.report.roles_created.push(name.clone());
            self.role_ids.insert(name, id);
        }
        Ok(())
    }

    fn track(&mut self, c: &'a Change, v: &Verdict) -> Result<()> {
        let owned = |v: Vec<&str>| v.into_iter().map(str::to_owned).collect::<Vec<_>>();
        let mut t = Tracked {
            change: c,
            user_id: c.user.user_id.clone(),
            assign: Vec::new(),
            parts_left: 0,
            already: false,
            finished: false,
        };
        match v {
            Verdict::Drifted(d) => {
                self.tracked.insert(c.id, t);
                return self.finish(
                    c.id,
                    OutcomeStatus::Skipped,
                    Some(FailureInfo::note(format!("drifted: expected {}, found {}", d.expected, d.found))),
                );
            }
            Verdict::AlreadyApplied { user_id } => {
                t.user_id = user_id.clone().or(t.user_id);
                t.already = true;
            }
            Verdict::ResumeCreate { user_id, missing_roles } => {
                t.user_id = Some(user_id.clone());
                t.assign = missing_roles.clone();
                t.parts_left = t.assign.len();
                t.already = t.assign.is_empty();
            }
            Verdict::Pending => {
                t.assign = owned(c.assign());
                t.parts_left = match c.action {
                    Action::CreateUser => 1 + t.assign.len(),
                    Action::UpdateRoles => t.assign.len() + usize::from(!c.remove().is_empty()),
                    _ => 1,
                };
            }
        }
        let done_now = t.parts_left == 0;
        self.tracked.insert(c.id, t);
        if done_now { self.finish(c.id, OutcomeStatus::Done, None) } else { Ok(()) }
    }

    /// Records the end of a change: outcome, journal line (flushed), log line.
    fn finish(&mut self, id: u32, status: OutcomeStatus, error: Option<FailureInfo>) -> Result<()> {
        let Some(t) = self.tracked.get_mut(&id) else { return Ok(()) };
        if t.finished {
            return Ok(());
        }
        t.finished = true;
        let c = t.change;
        let outcome = Outcome {
            change_id: id,
            action: c.action,
            email: c.user.email.clone(),
            status,
            user_id: t.user_id.clone(),
            error,
        };
        let email = crate::redact::log_email(&c.user.email);
        match status {
            OutcomeStatus::Done => {
                tracing::info!(change = id, action = c.action.as_str(), email = %email, already = t.already, "change applied")
            }
            OutcomeStatus::Failed => {
                tracing::warn!(change = id, action = c.action.as_str(), email = %email, error = ?outcome.error, "change failed")
            }
            OutcomeStatus::Skipped => {
                tracing::warn!(change = id, action = c.action.as_str(), email = %email, reason = ?outcome.error, "change skipped")
            }
        }
        if status != OutcomeStatus::Skipped {
            let err = outcome.error.as_ref();
            self.journal.append(&Entry::Change {
                id,
                action: c.action,
                email: c.user.email.clone(),
                user_id: outcome.user_id.clone(),
                outcome: match (status, t.already) {
                    (OutcomeStatus::Done, true) => "already_applied",
                    (OutcomeStatus::Done, false) => "done",
                    _ => "failed",
                }
                .into(),
                at: Utc::now(),
                http_status: err.and_then(|e| e.status),
                error_code: err.and_then(|e| e.error_code.clone()),
                message: err.map(|e| e.message.clone()),
            })?;
        }
        self.report.outcomes.push(outcome);
        Ok(())
    }

    fn fail(&mut self, id: u32, e: &Auth0Error) -> Result<()> {
        self.fail_with(id, FailureInfo::from(e))
    }

    /// Records a failed change, saying what of it was skipped or left half done.
    fn fail_with(&mut self, id: u32, mut info: FailureInfo) -> Result<()> {
        if let Some(t) = self.tracked.get(&id) {
            let skipped = t.assign.len();
            if t.change.action == Action::CreateUser && t.user_id.is_none() && skipped > 0 {
                info.message = format!("{} (its {skipped} role assignment(s) were skipped)", info.message);
            } else if t.change.action == Action::CreateUser && t.user_id.is_some() {
                info.message = format!("the user was created, but its roles were not all assigned: {}", info.message);
            }
        }
        self.finish(id, OutcomeStatus::Failed, Some(info))
    }

    fn part_done(&mut self, id: u32) -> Result<()> {
        let Some(t) = self.tracked.get_mut(&id) else { return Ok(()) };
        t.parts_left = t.parts_left.saturating_sub(1);
        if t.parts_left == 0 { self.finish(id, OutcomeStatus::Done, None) } else { Ok(()) }
    }

    /// Live (unfinished) changes of an action.
    fn live(&self, action: Action) -> Vec<u32> {
        self.tracked.iter().filter(|(_, t)| !t.finished && t.change.action == action).map(|(id, _)| *id).collect()
    }

    async fn phases(&mut self) -> Result<()> {
        let pending_creates =
            self.live(Action::CreateUser).iter().filter(|id| self.tracked[id].user_id.is_none()).count();
        let via_import = match self.opts.create_via {
            CreateVia::Api => false,
            CreateVia::Import => pending_creates > 0,
            CreateVia::Auto => pending_creates >= IMPORT_THRESHOLD,
        };
        if via_import && !self.cancel.is_cancelled() {
            self.import_creates().await?;
        }
        let creates: Vec<Job> = self
            .live(Action::CreateUser)
            .into_iter()
            .filter(|id| self.tracked[id].user_id.is_none())
            .map(|id| Job::Create { id })
            .collect();
        self.run_jobs("create", creates).await?;
        let unblocks = self.blocked_jobs(Action::UnblockUser, false);
        self.run_jobs("unblock", unblocks).await?;
        let batches = self.assign_batches()?;
        self.run_jobs("assign roles", batches).await?;
        let removals = self.removal_jobs()?;
        self.run_jobs("remove roles", removals).await?;
        let blocks = self.blocked_jobs(Action::BlockUser, true);
        self.run_jobs("block", blocks).await?;
        let deletes: Vec<Job> = self
            .live(Action::DeleteUser)
            .into_iter()
            .map(|id| Job::Delete { id, user_id: self.tracked[&id].user_id.clone().unwrap_or_default() })
            .collect();
        self.run_jobs("delete", deletes).await
    }

    /// Creates the pending users with users-import jobs (files under 450 KB and at
    /// most 1000 users, 2 jobs at a time), reports per-user failures from the jobs'
    /// error lists, then learns the new users' ids (by email for a few, else with one
    /// export job) so their roles can be assigned in batches.
    async fn import_creates(&mut self) -> Result<()> {
        use crate::auth0::ImportUser;
        let ids: Vec<u32> =
            self.live(Action::CreateUser).into_iter().filter(|id| self.tracked[id].user_id.is_none()).collect();
        let Some(conn) = self.client.connection_by_name(&self.plan.connection).await? else {
            return Err(Error::UnknownConnection { name: self.plan.connection.clone(), known: String::new() });
        };
        let user_of = |id: &u32| {
            let c = self.tracked[id].change;
            let p = c.after.as_ref().map(|a| a.profile.clone()).unwrap_or_default();
            ImportUser {
                email: c.user.email.clone(),
                email_verified: false,
                name: p.name,
                given_name: p.given_name,
                family_name: p.family_name,
            }
        };
        let mut chunks: Vec<(Vec<u32>, Vec<ImportUser>)> = Vec::new();
        let mut size = 0usize;
        for id in &ids {
            let u = user_of(id);
            let len = serde_json::to_vec(&u).map_or(0, |v| v.len()) + 1;
            match chunks.last_mut() {
                Some((ids, users)) if users.len() < IMPORT_MAX_USERS && size + len < IMPORT_MAX_BYTES => {
                    ids.push(*id);
                    users.push(u);
                    size += len;
                }
                _ => {
                    chunks.push((vec![*id], vec![u]));
                    size = len;
                }
            }
        }
        let multi = crate::logging::bars();
        let bar = multi.add(ProgressBar::new(chunks.len() as u64));
        bar.set_style(
            ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} {msg}")
                .expect("static")
                .progress_chars("=> "),
        );
        bar.set_prefix("import");
        let (client, conn_id) = (self.client, conn.id.clone());
        let mut results = futures::stream::iter(chunks)
            .map(|(ids, users)| {
                let (bar, conn_id) = (bar.clone(), conn_id.clone());
                async move {
                    let r = client.import_users(&conn_id, &users).await;
                    bar.inc(1);
                    (ids, r)
                }
            })
            .buffer_unordered(IMPORT_MAX_JOBS);
        let mut imported = Vec::new();
        while let Some((ids, result)) = results.next().await {
            match result {
                Err(e) => {
                    for id in ids {
                        self.fail(id, &e)?;
                    }
                }
                Ok(failed) => {
                    for id in ids {
                        let email = self.tracked[&id].change.user.email.clone();
                        match failed.get(&email) {
                            Some(why) => self.fail_with(
                                id,
                                FailureInfo {
                                    status: None,
                                    error_code: Some("import_error".into()),
                                    message: format!("the import job refused the user: {why}"),
                                },
                            )?,
                            None => imported.push(id),
                        }
                    }
                }
            }
        }
        drop(results);
        bar.finish_with_message("done");
        if imported.is_empty() {
            return Ok(());
        }
        // Imports do not say the new ids: look them up.
        let mut by_email: BTreeMap<String, String> = BTreeMap::new();
        if imported.len() <= IMPORT_LOOKUP_BY_EMAIL {
            for id in &imported {
                let email = self.tracked[id].change.user.email.clone();
                let found = self.client.users_by_email(&email).await?;
                if let Some((uid, _)) = found.into_iter().find(|(_, c)| *c == self.plan.connection) {
                    by_email.insert(email, uid);
                }
            }
        } else {
            for u in self.client.export_connection_users(&self.plan.connection).await? {
                if let Some(e) = u.email {
                    by_email.insert(e.trim().to_lowercase(), u.user_id);
                }
            }
        }
        for id in imported {
            let email = self.tracked[&id].change.user.email.clone();
            match by_email.get(&email) {
                Some(uid) => {
                    if let Some(t) = self.tracked.get_mut(&id) {
                        t.user_id = Some(uid.clone());
                    }
                    self.part_done(id)?;
                }
                None => {
                    let e = Auth0Error::Decode {
                        method: "GET".into(),
                        path: "/api/v2/users-by-email".into(),
                        message: format!("{email} was imported but cannot be found"),
                    };
                    self.fail(id, &e)?;
                }
            }
        }
        Ok(())
    }

    fn blocked_jobs(&self, action: Action, blocked: bool) -> Vec<Job> {
        self.live(action)
            .into_iter()
            .map(|id| Job::SetBlocked { id, user_id: self.tracked[&id].user_id.clone().unwrap_or_default(), blocked })
            .collect()
    }

    /// Every pending role assignment, grouped per role, in batches.
    fn assign_batches(&mut self) -> Result<Vec<Job>> {
        let mut per_role: BTreeMap<String, Vec<(u32, String)>> = BTreeMap::new();
        let mut unknown = Vec::new();
        for (id, t) in &self.tracked {
            let Some(user_id) = t.user_id.as_ref().filter(|_| !t.finished) else { continue };
            for role in &t.assign {
                if self.role_ids.contains_key(role) {
                    per_role.entry(role.clone()).or_default().push((*id, user_id.clone()));
                } else {
                    unknown.push((*id, role.clone()));
                }
            }
        }
        for (id, role) in unknown {
            let e = Auth0Error::Decode {
                method: "PLAN".into(),
                path: "roles".into(),
                message: format!("the plan has no id for role {role:?}"),
            };
            self.fail(id, &e)?;
        }
        let size = self.opts.role_batch_size.max(1);
        let mut jobs = Vec::new();
        for (role, members) in per_role {
            let role_id = self.role_ids[&role].clone();
            for chunk in members.chunks(size) {
                jobs.push(Job::AssignBatch { role_id: role_id.clone(), members: chunk.to_vec() });
            }
        }
        Ok(jobs)
    }

    fn removal_jobs(&mut self) -> Result<Vec<Job>> {
        let mut jobs = Vec::new();
        for id in self.live(Action::UpdateRoles) {
            let t = &self.tracked[&id];
            let names = t.change.remove();
            if names.is_empty() {
                continue;
            }
            let role_ids: Option<Vec<String>> = names.iter().map(|n| self.role_ids.get(*n).cloned()).collect();
            match role_ids {
                Some(role_ids) => {
                    jobs.push(Job::RemoveRoles { id, user_id: t.user_id.clone().unwrap_or_default(), role_ids })
                }
                None => {
                    let e = Auth0Error::Decode {
                        method: "PLAN".into(),
                        path: "roles".into(),
                        message: "the plan lacks the id of a role to remove".into(),
                    };
                    self.fail(id, &e)?;
                }
            }
        }
        Ok(jobs)
    }

    /// Runs jobs with bounded concurrency; results are recorded (and journaled) as
    /// they arrive. After Ctrl-C no job starts.
    async fn run_jobs(&mut self, label: &'static str, jobs: Vec<Job>) -> Result<()> {
        if jobs.is_empty() || self.cancel.is_cancelled() {
            return Ok(());
        }
        let multi = crate::logging::bars();
        multi.set_draw_target(if self.opts.progress {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        });
        let bar = multi.add(ProgressBar::new(jobs.len() as u64));
        bar.set_style(
            ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} {msg}")
                .expect("static template")
                .progress_chars("=> "),
        );
        bar.set_prefix(label);
        let (client, plan, cancel) = (self.client, self.plan, self.cancel);
        let tracked: BTreeMap<u32, &Change> = self.tracked.iter().map(|(id, t)| (*id, t.change)).collect();
        let tracked = &tracked;
        let mut results = futures::stream::iter(jobs)
            .map(|job| {
                let bar = bar.clone();
                async move {
                    if cancel.is_cancelled() {
                        return None;
                    }
                    let r = run_job(client, plan, tracked, &job).await;
                    bar.inc(1);
                    Some((job, r))
                }
            })
            .buffer_unordered(self.opts.concurrency.max(1));
        while let Some(item) = results.next().await {
            let Some((job, result)) = item else { continue };
            match result {
                Err(e) => {
                    for id in job.changes() {
                        self.fail(id, &e)?;
                    }
                }
                Ok(new_user) => {
                    if let (Job::Create { id }, Some(user_id)) = (&job, new_user)
                        && let Some(t) = self.tracked.get_mut(id)
                    {
                        t.user_id = Some(user_id);
                    }
                    for id in job.changes() {
                        self.part_done(id)?;
                    }
                }
            }
        }
        bar.finish_with_message(if cancel.is_cancelled() { "interrupted" } else { "done" });
        Ok(())
    }
}

/// Sends one job; a create returns the new user's id.
async fn run_job(
    client: &Auth0Client,
    plan: &Plan,
    changes: &BTreeMap<u32, &Change>,
    job: &Job,
) -> std::result::Result<Option<String>, Auth0Error> {
    match job {
        Job::Create { id } => {
            let c = changes[id];
            let after = c.after.clone().unwrap_or_default();
            let created =
                client.create_user(&plan.connection, &c.user.email, &after.profile, &password::generate()).await;
            match created {
                Ok(user_id) => Ok(Some(user_id)),
                // It exists (an earlier run, or a race): find it by email and go on.
                Err(e) if e.status() == Some(409) => {
                    let found = client.users_by_email(&c.user.email).await?;
                    let mine = found.into_iter().find(|(_, conn)| *conn == plan.connection);
                    mine.map(|(id, _)| Some(id)).ok_or(e)
                }
                Err(e) => Err(e),
            }
        }
        Job::SetBlocked { user_id, blocked, .. } => client.set_blocked(user_id, *blocked).await.map(|_| None),
        Job::AssignBatch { role_id, members, .. } => {
            let users: Vec<String> = members.iter().map(|(_, u)| u.clone()).collect();
            client.assign_users_to_role(role_id, &users).await.map(|_| None)
        }
        Job::RemoveRoles { user_id, role_ids, .. } => client.remove_roles(user_id, role_ids).await.map(|_| None),
        Job::Delete { user_id, .. } => match client.delete_user(user_id).await {
            Err(e) if e.status() == Some(404) => Ok(None),
            other => other.map(|_| None),
        },
    }
}
