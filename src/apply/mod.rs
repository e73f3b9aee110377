//! Executes a validated plan against the tenant: creates (with their roles), then role
//! updates, then deletes, each phase with bounded concurrency and a progress bar.

use crate::auth0::{Auth0Client, Auth0Error, password};
use crate::plan::{Action, Change, Plan};
use futures::StreamExt;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

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

/// Auth0's answer to a failed change.
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
        FailureInfo {
            status: e.status(),
            error_code: e.error_code().map(str::to_owned),
            message,
        }
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
    /// In change-id order.
    pub outcomes: Vec<Outcome>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub created: usize,
    pub updated: usize,
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
                (OutcomeStatus::Done, Action::UpdateRoles) => c.updated += 1,
                (OutcomeStatus::Done, Action::DeleteUser) => c.deleted += 1,
            }
        }
        c
    }

    pub fn failed(&self) -> usize {
        self.counts().failed
    }
}

#[derive(Debug, Clone, Copy)]
pub struct ApplyOptions {
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Draw progress bars (on stderr).
    pub progress: bool,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            concurrency: 4,
            progress: false,
        }
    }
}

/// Role ids for role names, from the plan's own table (validated by the checksum).
fn role_ids(plan: &Plan, names: &[&str]) -> Result<Vec<String>, Auth0Error> {
    names
        .iter()
        .map(|n| {
            plan.changeset
                .roles
                .get(*n)
                .cloned()
                .ok_or_else(|| Auth0Error::Decode {
                    method: "PLAN".into(),
                    path: "roles".into(),
                    message: format!("the plan has no id for role {n:?}"),
                })
        })
        .collect()
}

async fn execute(client: &Auth0Client, plan: &Plan, c: &Change) -> Outcome {
    let mut outcome = Outcome {
        change_id: c.id,
        action: c.action,
        email: c.user.email.clone(),
        status: OutcomeStatus::Done,
        user_id: c.user.user_id.clone(),
        error: None,
    };
    let result: Result<(), Auth0Error> = async {
        match c.action {
            Action::CreateUser => {
                let after = c.after.clone().unwrap_or_default();
                let ids = role_ids(plan, &c.assign())?;
                let user_id = client
                    .create_user(
                        &plan.connection,
                        &c.user.email,
                        &after.profile,
                        &password::generate(),
                    )
                    .await?;
                outcome.user_id = Some(user_id.clone());
                if !ids.is_empty() {
                    client.assign_roles(&user_id, &ids).await?;
                }
                Ok(())
            }
            Action::UpdateRoles => {
                let user_id = c.user.user_id.as_deref().unwrap_or_default();
                let assign = role_ids(plan, &c.assign())?;
                let remove = role_ids(plan, &c.remove())?;
                if !assign.is_empty() {
                    client.assign_roles(user_id, &assign).await?;
                }
                if !remove.is_empty() {
                    client.remove_roles(user_id, &remove).await?;
                }
                Ok(())
            }
            Action::DeleteUser => {
                client
                    .delete_user(c.user.user_id.as_deref().unwrap_or_default())
                    .await
            }
        }
    }
    .await;
    if let Err(e) = result {
        tracing::warn!(change = c.id, action = c.action.as_str(), email = %c.user.email, error = %e, "change failed");
        outcome.status = OutcomeStatus::Failed;
        outcome.error = Some(FailureInfo::from(&e));
    } else {
        tracing::info!(change = c.id, action = c.action.as_str(), email = %c.user.email, "change applied");
    }
    outcome
}

/// Executes every change of `plan`. Independent changes keep going when one fails;
/// the report lists every outcome.
pub async fn apply(client: &Auth0Client, plan: &Plan, opts: ApplyOptions) -> ApplyReport {
    let multi = MultiProgress::with_draw_target(if opts.progress {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    });
    let style = ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} {msg}")
        .expect("static template")
        .progress_chars("=> ");
    let mut outcomes = Vec::new();
    for action in Action::ALL {
        let changes: Vec<&Change> = plan
            .changeset
            .changes
            .iter()
            .filter(|c| c.action == action)
            .collect();
        if changes.is_empty() {
            continue;
        }
        let bar = multi.add(ProgressBar::new(changes.len() as u64));
        bar.set_style(style.clone());
        bar.set_prefix(action.label());
        let results: Vec<Outcome> = futures::stream::iter(changes)
            .map(|c| {
                let bar = bar.clone();
                async move {
                    let o = execute(client, plan, c).await;
                    bar.inc(1);
                    o
                }
            })
            .buffer_unordered(opts.concurrency.max(1))
            .collect()
            .await;
        bar.finish_with_message("done");
        outcomes.extend(results);
    }
    outcomes.sort_by_key(|o| o.change_id);
    ApplyReport { outcomes }
}
