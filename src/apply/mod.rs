//! Executes a validated plan against the tenant. Before the first write it checks
//! everything that can be checked (age, empty source, scopes, connection, caps,
//! drift); then it sends what is left of each change (a change found part way
//! between its "before" and its "after" is this plan's own work in progress) and
//! reports, in the same words everywhere, how each change ended. With `--invite`,
//! the users it creates are invited once they have their roles.

mod executor;
mod identity;
mod import;
pub mod invite;
pub mod journal;
pub mod report;
pub mod revoke;
mod steps;

pub use invite::{Delivery, Invitations, TicketInvites};
pub use report::{ApplyReport, FailureInfo, Outcome, OutcomeStatus, Tally};

use crate::auth0::{Auth0Client, RoleLookup};
use crate::drift::{self, Verdict};
use crate::error::{Error, Result};
use crate::model::TenantSnapshot;
use crate::plan::{Action, Plan};
use crate::planner::DeleteCap;
use chrono::{DateTime, Utc};
use executor::Run;
use journal::{Journal, Progress};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Mutex;
use steps::{InviteState, Tracked};
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Draw progress bars (on stderr).
    pub progress: bool,
    /// Where bars, printed lines and masked emails go.
    pub printer: crate::printer::Printer,
    /// Apply the changes that still match and skip the drifted ones.
    pub skip_drifted: bool,
    /// Refuse plans older than this.
    pub max_plan_age: chrono::Duration,
    /// The deletion cap typed at apply (`--max-deletes`): it may only lower the cap
    /// the plan was approved with, which is checked again against the tenant as it
    /// is now. `None`: the recorded cap.
    pub cap_flag: Option<DeleteCap>,
    /// The caps on blocks and role removals typed at apply (`--max-blocks`,
    /// `--max-role-removals`, `--max-role-removals-per-role`): each may only lower the
    /// one the plan recorded.
    pub removal_cap_flags: crate::caps::RemovalCapFlags,
    pub allow_empty_source: bool,
    /// Users per `POST /roles/{id}/users` request.
    pub role_batch_size: usize,
    /// How new users are created.
    pub create_via: CreateVia,
    /// The time apply takes as "now" (the plan's age); `None` = the clock. Tests set it.
    pub now: Option<DateTime<Utc>>,
    /// Whether and how the users this run creates are invited.
    pub invite: Invitations,
}

/// How apply creates users.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum CreateVia {
    /// One `POST /users` each, with a random password.
    #[default]
    Api,
    /// Users-import jobs (no password: users set one through password reset).
    Import,
    /// Import jobs from 200 creations up, the API below.
    Auto,
}

/// `--create-via auto` imports from this many creations up.
pub const IMPORT_THRESHOLD: usize = 200;

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            concurrency: 4,
            progress: false,
            printer: crate::printer::Printer::default(),
            skip_drifted: false,
            max_plan_age: chrono::Duration::hours(24),
            cap_flag: None,
            removal_cap_flags: Default::default(),
            allow_empty_source: false,
            role_batch_size: 50,
            create_via: CreateVia::Api,
            now: None,
            invite: Invitations::None,
        }
    }
}

/// `45s`, `12m`, `1h 5m`, `1d 2h`.
pub fn human_duration(d: chrono::Duration) -> String {
    let s = d.num_seconds().max(0);
    let (days, h, m) = (s / 86400, s % 86400 / 3600, s % 3600 / 60);
    match (days, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, m) => format!("{h}h {m}m"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

/// Refuses what must not be applied: an old plan, an empty source, too many deletions
/// for the tenant as it is now. Nothing has been sent when this errs.
pub fn preflight(plan: &Plan, opts: &ApplyOptions, now: DateTime<Utc>, connection_users: u32) -> Result<()> {
    check_age(plan, opts, now)?;
    crate::gate::check_apply_cap(plan, opts.cap_flag, connection_users)?;
    Ok(())
}

fn check_age(plan: &Plan, opts: &ApplyOptions, now: DateTime<Utc>) -> Result<()> {
    let age = now - plan.created_at;
    if age > opts.max_plan_age {
        return Err(Error::PlanTooOld { age: human_duration(age), max: human_duration(opts.max_plan_age) });
    }
    if plan.source.users == 0 && !opts.allow_empty_source {
        return Err(crate::error::PlanError::EmptySource { rows: plan.source.rows }.into());
    }
    Ok(())
}

/// Refuses, before any write, a plan the token's scopes cannot carry out, listing
/// every missing scope with the changes that need it.
pub fn check_scopes(plan: &Plan, granted: &[String], via: CreateVia) -> Result<()> {
    check_scopes_with(plan, granted, via, &Invitations::None)
}

/// [`check_scopes`], with the scopes the invitations of the plan's new users need.
pub fn check_scopes_with(plan: &Plan, granted: &[String], via: CreateVia, invite: &Invitations) -> Result<()> {
    let creates = plan.changeset.summary.create_user as usize;
    let creation = match via {
        CreateVia::Import => crate::scopes::Creation::Import,
        CreateVia::Auto if creates >= IMPORT_THRESHOLD => crate::scopes::Creation::Import,
        _ => crate::scopes::Creation::Api,
    };
    let granted: BTreeSet<String> = granted.iter().cloned().collect();
    let invitation = match invite {
        Invitations::None => crate::scopes::Invitation::None,
        Invitations::Email { .. } => crate::scopes::Invitation::Email,
        Invitations::Ticket(_) => crate::scopes::Invitation::Ticket,
    };
    let missing = crate::scopes::missing_with(plan, creation, invitation, &granted);
    if missing.is_empty() {
        return Ok(());
    }
    Err(Error::MissingScopes {
        scopes: missing.iter().map(|m| m.scope.to_owned()).collect(),
        details: crate::scopes::describe(&missing),
    })
}

/// Runs `plan` (read from `plan_path`, whose journal sits beside it).
pub async fn apply(
    client: &Auth0Client,
    plan_path: &Path,
    plan: &Plan,
    opts: &ApplyOptions,
    cancel: &CancellationToken,
) -> Result<ApplyReport> {
    // Ctrl-C also cuts the client's waits (rate budget, retry pauses): a request waiting
    // to be retried reports the answer it last had instead of waiting out its budget.
    let client = &client.with_cancel(cancel.clone());
    let started = Utc::now();
    let now = opts.now.unwrap_or(started);
    // Everything that needs no request first, then everything that needs only reads.
    check_age(plan, opts, now)?;
    check_scopes_with(plan, &client.scopes(), opts.create_via, &opts.invite)?;
    let connection = check_connection(client, plan).await?;
    if plan.changeset.summary.create_user > 0 {
        invite::check(client, &connection, &opts.invite).await?;
    }
    let mut view = client.snapshot_with(&plan.connection, RoleLookup::Auto, opts.concurrency).await?;
    let connection_users = view.users.values().filter(|u| u.connection == plan.connection).count() as u32;
    preflight(plan, opts, now, connection_users)?;
    crate::gate::check_apply_removal_caps(plan, &opts.removal_cap_flags, &view)?;
    let (journal, progress) = Journal::open(plan_path, plan, started)?;

    let verdicts = settle_verdicts(client, plan, &mut view, &progress).await?;
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
        journal: Mutex::new(journal),
        role_ids: plan.changeset.roles.clone(),
        tracked: BTreeMap::new(),
        roles_created: Vec::new(),
        settled: Vec::new(),
        role_names: view.roles.values().map(|r| (r.id.clone(), r.name.clone())).collect(),
        sent: 0,
        by_user: BTreeMap::new(),
    };
    // Roles the plan creates that exist (an earlier run made them) are used as they are.
    for r in view.roles.values() {
        run.role_ids.entry(r.name.clone()).or_insert_with(|| r.id.clone());
    }
    run.role_ids.extend(progress.roles.clone());
    let mut settled_entries = Vec::new();
    // The users an earlier run of this plan created (or began to create).
    let created_before = |id: u32| progress.created.contains_key(&id) || progress.create_begun.contains(&id);
    for c in &plan.changeset.changes {
        let invites = opts.invite.is_on() && c.action == Action::CreateUser;
        let earlier_invite = progress.invites.get(&c.id).copied();
        let outcome = |status, detail: Option<&str>, error| Outcome {
            change_id: c.id,
            action: c.action,
            email: c.user.email.clone(),
            status,
            user_id: c.user.user_id.clone(),
            requests: 0,
            detail: detail.map(str::to_owned),
            error,
        };
        match verdicts.get(&c.id) {
            None => {
                let mut o = outcome(OutcomeStatus::AlreadyApplied, Some(report::EARLIER_RUN), None);
                o.user_id = progress.done.get(&c.id).cloned().flatten().or(o.user_id);
                run.settled.push(o);
            }
            // A user this plan created whose invitation is still to send.
            Some(Verdict::AlreadyApplied { user_id: Some(user_id) })
                if invites && created_before(c.id) && earlier_invite.is_none_or(|m| m.send_again()) =>
            {
                let work = crate::drift::Work { user_id: Some(user_id.clone()), resumed: true, ..Default::default() };
                let mut t = Tracked::new(c, work);
                t.invite = InviteState::Pending;
                t.created_before = true;
                run.tracked.insert(c.id, t);
            }
            Some(Verdict::AlreadyApplied { user_id }) => {
                let detail = match earlier_invite {
                    Some(journal::InviteMark::Sent) if invites => Some("invited by an earlier run"),
                    Some(m) if invites && !m.send_again() => Some(invite::UNCONFIRMED),
                    _ => None,
                };
                let mut o = outcome(OutcomeStatus::AlreadyApplied, detail, None);
                o.user_id = user_id.clone().or(o.user_id);
                settled_entries.push(executor::outcome_entry(&o));
                run.settled.push(o);
            }
            Some(Verdict::Drifted(d)) => {
                let why = FailureInfo::note(format!("drifted: expected {}, found {}", d.expected, d.found));
                let o = outcome(OutcomeStatus::Skipped, None, Some(why));
                settled_entries.push(executor::outcome_entry(&o));
                run.settled.push(o);
            }
            Some(Verdict::Pending(work)) => {
                let mut t = Tracked::new(c, work.clone());
                if invites {
                    t.created_before = created_before(c.id);
                    t.invite = match (&work.user_id, earlier_invite) {
                        (None, _) => InviteState::Pending,
                        (Some(_), _) if !t.created_before => InviteState::Off,
                        (Some(_), None) => InviteState::Pending,
                        (Some(_), Some(m)) if m.send_again() => InviteState::Pending,
                        (Some(_), Some(journal::InviteMark::Sent)) => InviteState::EarlierRun,
                        (Some(_), Some(_)) => InviteState::Unconfirmed,
                    };
                }
                run.tracked.insert(c.id, t);
            }
            Some(Verdict::Unseen) => unreachable!("settle_verdicts resolves every unseen user"),
        }
    }
    for (id, t) in &run.tracked {
        if let Some(uid) = &t.work.user_id {
            run.by_user.entry(uid.clone()).or_default().push(*id);
        }
    }
    run.journal_entries(&settled_entries)?;
    run.create_roles().await?;
    run.phases().await?;
    revoke::revoke_blocked(&mut run).await;
    let report = run.finish()?;
    let t = &report.summary;
    tracing::info!(
        sent = t.sent,
        done = t.done,
        already_applied = t.already_applied,
        adopted = t.adopted,
        partly_done = t.partly_done,
        failed = t.failed,
        skipped = t.skipped,
        not_started = t.not_started,
        interrupted = report.interrupted,
        duration_ms = (Utc::now() - started).num_milliseconds(),
        "apply finished"
    );
    Ok(report)
}

/// A plan that creates users needs the connection to exist and be a database
/// connection; any plan needs it to exist. Checked before the first write.
async fn check_connection(client: &Auth0Client, plan: &Plan) -> Result<crate::auth0::Connection> {
    match client.connection_by_name(&plan.connection).await? {
        None => Err(Error::UnknownConnection { name: plan.connection.clone(), known: String::new() }),
        Some(c) if plan.changeset.summary.create_user > 0 && c.strategy != "auth0" => {
            Err(Error::NotADatabase { name: c.name, strategy: c.strategy, creates: plan.changeset.summary.create_user })
        }
        Some(c) => Ok(c),
    }
}

/// The verdict of every change not yet journaled as done. Changes an earlier run
/// began are read afresh with immediately consistent calls before they are judged
/// (search and exports lag); so are the users the snapshot does not show, since only
/// `GET /users/{id}` answering 404 proves that a user is gone.
async fn settle_verdicts(
    client: &Auth0Client,
    plan: &Plan,
    view: &mut TenantSnapshot,
    progress: &Progress,
) -> Result<BTreeMap<u32, Verdict>> {
    let mut begun: Vec<u32> = progress.begun.iter().copied().filter(|id| !progress.done.contains_key(id)).collect();
    // Renames an earlier run finished: search may still show the old address, which a
    // create of this plan takes.
    begun.extend(
        plan.changeset
            .changes
            .iter()
            .filter(|c| c.action == Action::UpdateEmail && progress.done.contains_key(&c.id))
            .map(|c| c.id),
    );
    refresh(client, plan, view, progress, &begun).await?;
    let mut verdicts = drift::check(plan, view, &progress.done);
    let unseen: Vec<u32> = verdicts.iter().filter(|(_, v)| matches!(v, Verdict::Unseen)).map(|(id, _)| *id).collect();
    if unseen.is_empty() {
        return Ok(verdicts);
    }
    refresh(client, plan, view, progress, &unseen).await?;
    let again = drift::check(plan, view, &progress.done);
    for id in unseen {
        let c = plan.changeset.changes.iter().find(|c| c.id == id).expect("a change of the plan");
        let v = match again.get(&id) {
            // Still not there after `GET /users/{id}` answered 404: gone.
            Some(Verdict::Unseen) if c.action == Action::DeleteUser => {
                Verdict::AlreadyApplied { user_id: c.user.user_id.clone() }
            }
            Some(Verdict::Unseen) => Verdict::Drifted(crate::error::DriftItem {
                id,
                action: c.action.as_str(),
                email: c.user.email.clone(),
                expected: "the user".into(),
                found: "no user (it was deleted)".into(),
            }),
            Some(v) => v.clone(),
            None => continue,
        };
        verdicts.insert(id, v);
    }
    Ok(verdicts)
}

/// Replaces what `view` says of the users of `ids` with immediately consistent
/// reads: `GET /users/{id}` (and its roles) for known users, `users-by-email` for
/// users a create is about.
async fn refresh(
    client: &Auth0Client,
    plan: &Plan,
    view: &mut TenantSnapshot,
    progress: &Progress,
    ids: &[u32],
) -> Result<()> {
    for id in ids {
        let Some(c) = plan.changeset.changes.iter().find(|c| c.id == *id) else { continue };
        let known = c.user.user_id.clone().or_else(|| progress.created.get(id).cloned());
        let found = match known {
            Some(user_id) => {
                let found = client.user_with_roles(&user_id).await?;
                if found.is_none() {
                    view.users.remove(&user_id);
                }
                found
            }
            None => {
                // Forget what the snapshot said of this email in the connection.
                let stale: Vec<String> = view
                    .users
                    .values()
                    .filter(|u| {
                        u.connection == plan.connection
                            && u.email.as_deref().is_some_and(|e| crate::email::key(e) == c.user.email)
                    })
                    .map(|u| u.user_id.clone())
                    .collect();
                for s in stale {
                    view.users.remove(&s);
                }
                let found = client.find_by_email(&c.user.email).await?;
                match found.into_iter().find(|u| u.connection == plan.connection) {
                    Some(u) => client.user_with_roles(&u.user_id).await?,
                    None => None,
                }
            }
        };
        if let Some(u) = found {
            view.users.insert(u.user_id.clone(), u);
        }
    }
    Ok(())
}
