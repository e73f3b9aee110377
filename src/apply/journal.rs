//! The apply journal: `PLAN.journal` beside the plan, NDJSON, 0600. A line before
//! each request (which changes it is for), one per finished change and one summary
//! per run, each flushed to disk before the run goes on. A re-run skips what the
//! journal records as done and reads begun changes afresh; the journal is also the
//! audit record.

use super::report::{OutcomeStatus, Tally};
use crate::error::{Error, Result};
use crate::plan::{Action, Plan};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

/// One journal line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Entry {
    /// Written at the start of every apply run.
    Run { plan_checksum: String, tool_version: String, started_at: DateTime<Utc> },
    /// A role created before the user changes.
    Role { name: String, role_id: String, at: DateTime<Utc> },
    /// Written (and flushed) before a request for these changes is sent: a later run
    /// reads the state of begun, unfinished changes with immediately consistent reads
    /// instead of trusting a search or an export that may lag.
    Begin { changes: Vec<u32>, step: String, at: DateTime<Utc> },
    /// A step of a change Auth0 confirmed, when later steps remain (a create's new
    /// id), and each step of an invitation (`ticket_issued`, `email_sent`,
    /// `ticket_delivered`, `invite_failed`): who was invited, and when.
    Step {
        id: u32,
        step: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user_id: Option<String>,
        at: DateTime<Utc>,
    },
    /// The outcome of one change in this run.
    Change {
        id: u32,
        action: Action,
        email: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user_id: Option<String>,
        /// `done`, `already_applied`, `adopted`, `partly_done`, `failed` or `skipped`.
        outcome: String,
        /// Write requests this run sent for the change.
        #[serde(default)]
        requests: u32,
        at: DateTime<Utc>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        http_status: Option<u16>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error_code: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// The end of a run: the same counts as its report (changes not started have no
    /// line of their own; they are counted here).
    Summary {
        #[serde(flatten)]
        tally: Tally,
        interrupted: bool,
        at: DateTime<Utc>,
    },
}

/// What earlier runs of the plan did.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    /// Change id → user id of changes whose effect is in place (done, already
    /// applied, adopted).
    pub done: BTreeMap<u32, Option<String>>,
    /// Changes a request was sent for that no later line finished: their state must
    /// be read with immediately consistent calls.
    pub begun: BTreeSet<u32>,
    /// Change id → user id of users created by earlier runs (whose roles may be pending).
    pub created: BTreeMap<u32, String>,
    /// Role name → id of roles created by earlier runs.
    pub roles: BTreeMap<String, String>,
    pub runs: usize,
    /// Changes whose create (or import) an earlier run sent: their user, if it
    /// exists, is this plan's own.
    pub create_begun: BTreeSet<u32>,
    /// The last invitation line of each change.
    pub invites: BTreeMap<u32, InviteMark>,
}

/// Where an earlier run left a change's invitation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InviteMark {
    /// The request went out (`begin invite_email` / `invite_ticket`); no answer.
    Begun { ticket: bool },
    /// The ticket came back and its delivery started; its end is unknown.
    TicketIssued,
    /// The email was sent or the ticket delivered.
    Sent,
    /// Certainly not sent (Auth0 refused, the delivery failed): send it again.
    Failed,
}

impl InviteMark {
    /// Whether a later run invites again. A ticket whose answer was lost reached
    /// nobody (only the dead run could have delivered it); an email, or a ticket
    /// handed to its delivery, may have reached the user, and a second email voids
    /// the first one's link: it is not sent again.
    pub fn send_again(self) -> bool {
        matches!(self, InviteMark::Begun { ticket: true } | InviteMark::Failed)
    }
}

pub struct Journal {
    path: PathBuf,
    file: std::fs::File,
}

/// `plans/x.json` → `plans/x.json.journal`.
pub fn path_for(plan_path: &Path) -> PathBuf {
    let mut s = plan_path.as_os_str().to_owned();
    s.push(".journal");
    PathBuf::from(s)
}

impl Journal {
    /// Opens (or creates, 0600) the journal of `plan`, reads what earlier runs did,
    /// and records the start of this run. Refuses a journal of another plan.
    pub fn open(plan_path: &Path, plan: &Plan, now: DateTime<Utc>) -> Result<(Journal, Progress)> {
        let path = path_for(plan_path);
        let mut progress = Progress::default();
        if path.exists() {
            let mut text = std::fs::read_to_string(&path).map_err(|e| Error::io("read journal", &path, e))?;
            // A kill during a write can leave the last line cut short: that change was
            // not journaled (drift detection finds out whether it happened). Drop it.
            if !text.is_empty() && !text.ends_with('\n') {
                let keep = text.rfind('\n').map_or(0, |i| i + 1);
                text.truncate(keep);
                let f = std::fs::OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(|e| Error::io("repair journal", &path, e))?;
                f.set_len(keep as u64).map_err(|e| Error::io("repair journal", &path, e))?;
            }
            for (n, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                let entry: Entry = serde_json::from_str(line).map_err(|_| Error::BadJournal {
                    path: path.clone(),
                    reason: format!("line {} is not a journal entry", n + 1),
                })?;
                match entry {
                    Entry::Run { plan_checksum, .. } => {
                        if plan_checksum != plan.checksum {
                            return Err(Error::BadJournal {
                                path: path.clone(),
                                reason: format!("it belongs to another plan (checksum {plan_checksum})"),
                            });
                        }
                        progress.runs += 1;
                    }
                    Entry::Role { name, role_id, .. } => {
                        progress.roles.insert(name, role_id);
                    }
                    Entry::Begin { changes, step, .. } => {
                        use super::invite::{BEGIN_EMAIL, BEGIN_TICKET};
                        match step.as_str() {
                            "create" | "import" => progress.create_begun.extend(changes.iter().copied()),
                            BEGIN_EMAIL | BEGIN_TICKET => {
                                let mark = InviteMark::Begun { ticket: step == BEGIN_TICKET };
                                progress.invites.extend(changes.iter().map(|id| (*id, mark)));
                            }
                            _ => {}
                        }
                        progress.begun.extend(changes);
                    }
                    Entry::Step { id, user_id, step, .. } => {
                        use super::invite::{EMAIL_SENT, INVITE_FAILED, TICKET_DELIVERED, TICKET_ISSUED};
                        let mark = match step.as_str() {
                            TICKET_ISSUED => Some(InviteMark::TicketIssued),
                            EMAIL_SENT | TICKET_DELIVERED => Some(InviteMark::Sent),
                            INVITE_FAILED => Some(InviteMark::Failed),
                            _ => None,
                        };
                        if let Some(mark) = mark {
                            progress.invites.insert(id, mark);
                        }
                        if let Some(uid) = user_id {
                            progress.created.insert(id, uid);
                        }
                    }
                    Entry::Change { id, user_id, outcome, .. } => {
                        let status = OutcomeStatus::parse(&outcome).ok_or_else(|| Error::BadJournal {
                            path: path.clone(),
                            reason: format!("line {} has an unknown outcome {outcome:?}", n + 1),
                        })?;
                        if status.is_complete() {
                            progress.begun.remove(&id);
                            progress.done.insert(id, user_id);
                        } else if let Some(uid) = user_id {
                            // Failed or partly done after its user was created.
                            progress.created.insert(id, uid);
                        }
                    }
                    Entry::Summary { .. } => {}
                }
            }
        }
        let file = crate::plan::open_append_private(&path).map_err(|e| Error::io("open journal", &path, e))?;
        let mut j = Journal { path, file };
        j.append(&Entry::Run {
            plan_checksum: plan.checksum.clone(),
            tool_version: env!("CARGO_PKG_VERSION").to_owned(),
            started_at: now,
        })?;
        Ok((j, progress))
    }

    /// Appends one entry and makes it durable before returning.
    pub fn append(&mut self, entry: &Entry) -> Result<()> {
        self.append_all(std::slice::from_ref(entry))
    }

    /// Appends entries (each one whole line) and makes them durable with one flush.
    pub fn append_all(&mut self, entries: &[Entry]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut lines = Vec::new();
        for entry in entries {
            lines.extend(serde_json::to_vec(entry).expect("journal entries serialise"));
            lines.push(b'\n');
        }
        self.file
            .write_all(&lines)
            .and_then(|_| self.file.sync_data())
            .map_err(|e| Error::io("write journal", &self.path, e))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}
