//! Executes a validated plan against the tenant: checks it is still true (age, drift,
//! safety caps), then creates roles, creates users (with their roles), unblocks, fixes
//! roles, blocks, deletes — each phase with bounded concurrency, a progress bar, and a
//! journal line per finished change so a crash never loses or repeats work.

pub mod drift;
pub mod journal;

use crate::auth0::{Auth0Client, Auth0Error, password};
use crate::error::{Error, Result};
use crate::plan::{Action, Change, Plan};
use crate::planner::DeleteCap;
use chrono::{DateTime, Utc};
use drift::Verdict;
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
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            concurrency: 4,
            progress: false,
            skip_drifted: false,
            max_plan_age: chrono::Duration::hours(24),
            delete_cap: DeleteCap::Default,
            allow_empty_source: false,
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
        return Err(Error::EmptySource { rows: plan.source.rows });
    }
    crate::planner::check_delete_cap(&plan.changeset, connection_users, opts.delete_cap)
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
    let snapshot = client.snapshot(&plan.connection).await?;
    let connection_users = snapshot.users.values().filter(|u| u.connection == plan.connection).count() as u32;
    preflight(plan, opts, now, connection_users)?;
    let (mut journal, progress) = Journal::open(plan_path, plan, now)?;
    let verdicts = drift::check(plan, &snapshot, &progress.done);

    let mut report = ApplyReport { done_earlier: progress.done.len(), ..Default::default() };
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

    // Roles first: every user change may need them.
    let mut role_ids: BTreeMap<String, String> = plan.changeset.roles.clone();
    role_ids.extend(progress.roles.clone());
    let to_create: Vec<&String> = plan.changeset.create_roles.iter().filter(|n| !role_ids.contains_key(*n)).collect();
    for name in to_create {
        let id = client.create_role(name).await?;
        journal.append(&Entry::Role { name: name.clone(), role_id: id.clone(), at: Utc::now() })?;
        report.roles_created.push(name.clone());
        role_ids.insert(name.clone(), id);
    }
    let ctx = Ctx { client, plan, role_ids: &role_ids };

    let multi = crate::logging::bars();
    multi.set_draw_target(if opts.progress { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() });
    let style = ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} {msg}")
        .expect("static template")
        .progress_chars("=> ");

    for action in Action::ALL {
        let todo: Vec<(&Change, &Verdict)> = plan
            .changeset
            .changes
            .iter()
            .filter(|c| c.action == action)
            .filter_map(|c| verdicts.get(&c.id).map(|v| (c, v)))
            .collect();
        if todo.is_empty() {
            continue;
        }
        let bar = multi.add(ProgressBar::new(todo.len() as u64));
        bar.set_style(style.clone());
        bar.set_prefix(action.label());
        let ctx = &ctx;
        let mut results = futures::stream::iter(todo)
            .map(|(c, v)| {
                let bar = bar.clone();
                async move {
                    if cancel.is_cancelled() {
                        return None;
                    }
                    let o = execute(ctx, c, v).await;
                    bar.inc(1);
                    Some((o, matches!(v, Verdict::AlreadyApplied { .. })))
                }
            })
            .buffer_unordered(opts.concurrency.max(1));
        while let Some(r) = results.next().await {
            let Some((o, already)) = r else {
                report.not_started += 1;
                continue;
            };
            if o.status != OutcomeStatus::Skipped {
                let outcome = match (o.status, already) {
                    (OutcomeStatus::Done, true) => "already_applied",
                    (OutcomeStatus::Done, false) => "done",
                    _ => "failed",
                };
                journal.append(&Entry::Change {
                    id: o.change_id,
                    action: o.action,
                    email: o.email.clone(),
                    user_id: o.user_id.clone(),
                    outcome: outcome.into(),
                    at: Utc::now(),
                    http_status: o.error.as_ref().and_then(|e| e.status),
                    error_code: o.error.as_ref().and_then(|e| e.error_code.clone()),
                    message: o.error.as_ref().map(|e| e.message.clone()),
                })?;
            }
            report.outcomes.push(o);
        }
        bar.finish_with_message(if cancel.is_cancelled() { "interrupted" } else { "done" });
        if cancel.is_cancelled() {
            report.interrupted = true;
        }
    }
    if report.interrupted {
        // Changes of later phases were never queued.
        let seen = report.outcomes.len() + report.not_started;
        report.not_started += verdicts.len() - seen.min(verdicts.len());
    }
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

struct Ctx<'a> {
    client: &'a Auth0Client,
    plan: &'a Plan,
    role_ids: &'a BTreeMap<String, String>,
}

impl Ctx<'_> {
    fn ids(&self, names: &[&str]) -> std::result::Result<Vec<String>, Auth0Error> {
        names
            .iter()
            .map(|n| {
                self.role_ids.get(*n).cloned().ok_or_else(|| Auth0Error::Decode {
                    method: "PLAN".into(),
                    path: "roles".into(),
                    message: format!("the plan has no id for role {n:?}"),
                })
            })
            .collect()
    }

    /// Creates the user; a 409 (it exists: an earlier run, or a race) finds it by email.
    async fn create(&self, c: &Change) -> std::result::Result<String, Auth0Error> {
        let after = c.after.clone().unwrap_or_default();
        match self.client.create_user(&self.plan.connection, &c.user.email, &after.profile, &password::generate()).await
        {
            Ok(id) => Ok(id),
            Err(e) if e.status() == Some(409) => {
                let found = self.client.users_by_email(&c.user.email).await?;
                found.into_iter().find(|(_, conn)| *conn == self.plan.connection).map(|(id, _)| id).ok_or(e)
            }
            Err(e) => Err(e),
        }
    }
}

async fn execute(ctx: &Ctx<'_>, c: &Change, verdict: &Verdict) -> Outcome {
    let mut outcome = Outcome {
        change_id: c.id,
        action: c.action,
        email: c.user.email.clone(),
        status: OutcomeStatus::Done,
        user_id: c.user.user_id.clone(),
        error: None,
    };
    let result: std::result::Result<(), Auth0Error> = async {
        match verdict {
            Verdict::Drifted(d) => {
                outcome.status = OutcomeStatus::Skipped;
                outcome.error = Some(FailureInfo::note(format!("drifted: expected {}, found {}", d.expected, d.found)));
                return Ok(());
            }
            Verdict::AlreadyApplied { user_id } => {
                outcome.user_id = user_id.clone().or(outcome.user_id.take());
                return Ok(());
            }
            Verdict::ResumeCreate { user_id, missing_roles } => {
                outcome.user_id = Some(user_id.clone());
                let names: Vec<&str> = missing_roles.iter().map(String::as_str).collect();
                let ids = ctx.ids(&names)?;
                if !ids.is_empty() {
                    ctx.client.assign_roles(user_id, &ids).await?;
                }
                return Ok(());
            }
            Verdict::Pending => {}
        }
        let client = ctx.client;
        let user_id = c.user.user_id.as_deref().unwrap_or_default();
        match c.action {
            Action::CreateUser => {
                let ids = ctx.ids(&c.assign())?;
                let id = ctx.create(c).await?;
                outcome.user_id = Some(id.clone());
                if !ids.is_empty() {
                    client
                        .assign_roles(&id, &ids)
                        .await
                        .map_err(|e| with_context(e, "the user was created, but its roles were not assigned"))?;
                }
                Ok(())
            }
            Action::UpdateRoles => {
                let assign = ctx.ids(&c.assign())?;
                let remove = ctx.ids(&c.remove())?;
                if !assign.is_empty() {
                    client.assign_roles(user_id, &assign).await?;
                }
                if !remove.is_empty() {
                    client.remove_roles(user_id, &remove).await?;
                }
                Ok(())
            }
            Action::BlockUser => client.set_blocked(user_id, true).await,
            Action::UnblockUser => client.set_blocked(user_id, false).await,
            Action::DeleteUser => match client.delete_user(user_id).await {
                Err(e) if e.status() == Some(404) => Ok(()),
                other => other,
            },
        }
    }
    .await;
    match result {
        Err(e) => {
            tracing::warn!(change = c.id, action = c.action.as_str(), email = %crate::redact::log_email(&c.user.email), error = %e, "change failed");
            outcome.status = OutcomeStatus::Failed;
            let mut info = FailureInfo::from(&e);
            if c.action == Action::CreateUser && outcome.user_id.is_none() && !c.assign().is_empty() {
                info.message = format!("{} (its {} role assignment(s) were skipped)", info.message, c.assign().len());
            }
            outcome.error = Some(info);
        }
        Ok(()) if outcome.status == OutcomeStatus::Done => {
            tracing::info!(change = c.id, action = c.action.as_str(), email = %crate::redact::log_email(&c.user.email), "change applied");
        }
        Ok(()) => {}
    }
    outcome
}

fn with_context(e: Auth0Error, context: &str) -> Auth0Error {
    match e {
        Auth0Error::Api { method, path, status, message, error_code, help } => {
            Auth0Error::Api { method, path, status, message: format!("{context}: {message}"), error_code, help }
        }
        other => other,
    }
}
