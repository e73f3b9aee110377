//! What an apply run did, change by change, in the words every output uses (table,
//! JSON, summary line, journal): done, already applied, adopted, partly done,
//! failed, skipped, not started.

use crate::auth0::Auth0Error;
use crate::plan::Action;
use serde::Serialize;

/// The detail of a change an earlier run of the same plan finished.
pub const EARLIER_RUN: &str = "done by an earlier run of this plan";

/// How one change of the plan ended in this run. Every change ends as exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeStatus {
    /// This run sent what the change needed and Auth0 confirmed it.
    Done,
    /// Found in place (by an earlier run of this plan, or by anyone); nothing sent.
    AlreadyApplied,
    /// A create answered 409 (or `DUPLICATED_USER`): the user existed and was taken
    /// over, its missing roles assigned.
    Adopted,
    /// Some of the change was done, the rest was not started (Ctrl-C); running the
    /// same apply again finishes it.
    PartlyDone,
    /// Auth0 refused a request of the change; the detail says what was done first.
    Failed,
    /// Not attempted: drifted (with --skip-drifted), or a step it depends on failed.
    Skipped,
    /// Not attempted because the run was interrupted.
    NotStarted,
}

impl OutcomeStatus {
    pub const ALL: [OutcomeStatus; 7] = [
        OutcomeStatus::Done,
        OutcomeStatus::AlreadyApplied,
        OutcomeStatus::Adopted,
        OutcomeStatus::PartlyDone,
        OutcomeStatus::Failed,
        OutcomeStatus::Skipped,
        OutcomeStatus::NotStarted,
    ];

    /// The word in JSON and the journal.
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeStatus::Done => "done",
            OutcomeStatus::AlreadyApplied => "already_applied",
            OutcomeStatus::Adopted => "adopted",
            OutcomeStatus::PartlyDone => "partly_done",
            OutcomeStatus::Failed => "failed",
            OutcomeStatus::Skipped => "skipped",
            OutcomeStatus::NotStarted => "not_started",
        }
    }

    /// The words for people (tables, the summary line).
    pub fn label(self) -> &'static str {
        match self {
            OutcomeStatus::Done => "done",
            OutcomeStatus::AlreadyApplied => "already applied",
            OutcomeStatus::Adopted => "adopted",
            OutcomeStatus::PartlyDone => "partly done",
            OutcomeStatus::Failed => "failed",
            OutcomeStatus::Skipped => "skipped",
            OutcomeStatus::NotStarted => "not started",
        }
    }

    pub fn parse(s: &str) -> Option<OutcomeStatus> {
        OutcomeStatus::ALL.into_iter().find(|o| o.as_str() == s)
    }

    /// The change's effect is in the tenant: a later run need not touch it.
    pub fn is_complete(self) -> bool {
        matches!(self, OutcomeStatus::Done | OutcomeStatus::AlreadyApplied | OutcomeStatus::Adopted)
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
    pub fn note(message: impl Into<String>) -> Self {
        FailureInfo { status: None, error_code: None, message: message.into() }
    }
}

/// How one change ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outcome {
    pub change_id: u32,
    pub action: Action,
    pub email: String,
    pub status: OutcomeStatus,
    /// The user's id after the change (the new id for creates).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Write requests this run sent for the change (a role batch counts for each of
    /// the changes it serves).
    pub requests: u32,
    /// What was done of it, when that is not all or nothing ("created; roles not
    /// assigned", "done by an earlier run").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<FailureInfo>,
}

/// Changes per outcome, and write requests sent: the numbers of the summary line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Tally {
    /// Write requests (POST, PATCH, DELETE) this run sent.
    pub sent: u32,
    pub done: u32,
    pub already_applied: u32,
    pub adopted: u32,
    pub partly_done: u32,
    pub failed: u32,
    pub skipped: u32,
    pub not_started: u32,
}

impl Tally {
    /// The counts of `outcomes`; `sent` is the run's own count of write requests.
    pub fn of(outcomes: &[Outcome], sent: u32) -> Tally {
        let mut t = Tally { sent, ..Tally::default() };
        for o in outcomes {
            *t.count_mut(o.status) += 1;
        }
        t
    }

    pub fn count(&self, s: OutcomeStatus) -> u32 {
        match s {
            OutcomeStatus::Done => self.done,
            OutcomeStatus::AlreadyApplied => self.already_applied,
            OutcomeStatus::Adopted => self.adopted,
            OutcomeStatus::PartlyDone => self.partly_done,
            OutcomeStatus::Failed => self.failed,
            OutcomeStatus::Skipped => self.skipped,
            OutcomeStatus::NotStarted => self.not_started,
        }
    }

    fn count_mut(&mut self, s: OutcomeStatus) -> &mut u32 {
        match s {
            OutcomeStatus::Done => &mut self.done,
            OutcomeStatus::AlreadyApplied => &mut self.already_applied,
            OutcomeStatus::Adopted => &mut self.adopted,
            OutcomeStatus::PartlyDone => &mut self.partly_done,
            OutcomeStatus::Failed => &mut self.failed,
            OutcomeStatus::Skipped => &mut self.skipped,
            OutcomeStatus::NotStarted => &mut self.not_started,
        }
    }

    /// `12 sent: 5 done, 2 already applied, 0 adopted, 0 partly done, 1 failed, 0
    /// skipped, 0 not started` — every category, always, so scripts and people read
    /// the same line.
    pub fn line(&self) -> String {
        let parts: Vec<String> =
            OutcomeStatus::ALL.iter().map(|s| format!("{} {}", self.count(*s), s.label())).collect();
        format!("{} sent: {}", self.sent, parts.join(", "))
    }
}

/// Everything one apply run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ApplyReport {
    /// The counts of `outcomes`.
    pub summary: Tally,
    /// One outcome per change of the plan, in change-id order.
    pub outcomes: Vec<Outcome>,
    /// Roles this run created.
    pub roles_created: Vec<String>,
    /// Ctrl-C stopped the run.
    pub interrupted: bool,
}

impl ApplyReport {
    /// `sent`: the write requests the run sent (a batch is one request).
    pub fn new(mut outcomes: Vec<Outcome>, roles_created: Vec<String>, interrupted: bool, sent: u32) -> ApplyReport {
        outcomes.sort_by_key(|o| o.change_id);
        ApplyReport { summary: Tally::of(&outcomes, sent), outcomes, roles_created, interrupted }
    }

    pub fn count(&self, s: OutcomeStatus) -> u32 {
        self.summary.count(s)
    }

    pub fn failed(&self) -> usize {
        self.summary.failed as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip_and_the_line_lists_every_category() {
        for s in OutcomeStatus::ALL {
            assert_eq!(OutcomeStatus::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        let t = Tally { sent: 0, already_applied: 8, ..Tally::default() };
        assert_eq!(
            t.line(),
            "0 sent: 0 done, 8 already applied, 0 adopted, 0 partly done, 0 failed, 0 skipped, 0 not started"
        );
    }
}
