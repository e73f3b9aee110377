//! The apply journal: `PLAN.journal` beside the plan, NDJSON, 0600, one line per
//! completed change, flushed to disk before the change is reported done. A re-run
//! skips what the journal records as done; the journal is also the audit record.

use crate::error::{Error, Result};
use crate::plan::{Action, Plan};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
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
    /// The outcome of one change.
    Change {
        id: u32,
        action: Action,
        email: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user_id: Option<String>,
        /// `done`, `already_applied` or `failed`.
        outcome: String,
        at: DateTime<Utc>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        http_status: Option<u16>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error_code: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
}

/// What earlier runs finished.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    /// Change id → user id (for creates, the new user's id) of changes done.
    pub done: BTreeMap<u32, Option<String>>,
    /// Role name → id of roles created by earlier runs.
    pub roles: BTreeMap<String, String>,
    pub runs: usize,
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
                    Entry::Change { id, user_id, outcome, .. } => {
                        if outcome == "done" || outcome == "already_applied" {
                            progress.done.insert(id, user_id);
                        }
                    }
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
        let mut line = serde_json::to_vec(entry).expect("journal entries serialise");
        line.push(b'\n');
        self.file
            .write_all(&line)
            .and_then(|_| self.file.sync_data())
            .map_err(|e| Error::io("write journal", &self.path, e))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}
