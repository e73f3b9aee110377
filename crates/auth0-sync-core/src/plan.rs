//! The plan file: what `plan` writes and `apply` executes. Versioned, checksummed
//! JSON, written 0600, validated with spans pointing into the file on refusal.

use crate::digest::sha256_tagged;
use crate::error::{PlanFileError, PlanStoreError};
use crate::model::{Profile, Warning};
use chrono::{DateTime, Utc};
use miette::{NamedSource, SourceSpan};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;

/// The plan format this build writes and the only one it executes.
pub const FORMAT_VERSION: u32 = 1;

/// What one change does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Create the user in the connection, then assign its roles.
    CreateUser,
    /// Unblock a user auth0-sync blocked earlier who is back in the source.
    UnblockUser,
    /// Assign and/or remove roles of an existing user.
    UpdateRoles,
    /// Block a user missing from the source (`--on-missing block`; reversible).
    BlockUser,
    /// Delete the user (no undo).
    DeleteUser,
}

impl Action {
    /// Every action, in the order a plan lists and apply executes them.
    pub const ALL: [Action; 5] =
        [Action::CreateUser, Action::UnblockUser, Action::UpdateRoles, Action::BlockUser, Action::DeleteUser];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::CreateUser => "create_user",
            Action::UnblockUser => "unblock_user",
            Action::UpdateRoles => "update_roles",
            Action::BlockUser => "block_user",
            Action::DeleteUser => "delete_user",
        }
    }

    /// Short label for tables.
    pub fn label(self) -> &'static str {
        match self {
            Action::CreateUser => "create",
            Action::UnblockUser => "unblock",
            Action::UpdateRoles => "update roles",
            Action::BlockUser => "block",
            Action::DeleteUser => "delete",
        }
    }
}

/// Who a change is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRef {
    pub email: String,
    /// Absent for users that do not exist yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
}

/// A user's state on one side of a change. Roles are names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserState {
    pub roles: crate::model::NameSet,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub blocked: bool,
    #[serde(default, skip_serializing_if = "Profile::is_empty")]
    pub profile: Profile,
}

/// One change: the action, the user, the state before (absent for a create)
/// and after (absent for a delete).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// 1-based position in the plan; journals and reports refer to it.
    pub id: u32,
    pub action: Action,
    pub user: UserRef,
    pub before: Option<UserState>,
    pub after: Option<UserState>,
}

impl Change {
    fn roles_of(s: &Option<UserState>) -> BTreeSet<&str> {
        s.iter().flat_map(|s| s.roles.iter().map(String::as_str)).collect()
    }
    /// Role names this change assigns.
    pub fn assign(&self) -> Vec<&str> {
        let b = Self::roles_of(&self.before);
        Self::roles_of(&self.after).difference(&b).copied().collect()
    }
    /// Role names this change removes (a delete removes nothing: the user goes).
    pub fn remove(&self) -> Vec<&str> {
        if self.action == Action::DeleteUser || self.after.is_none() {
            return Vec::new();
        }
        let a = Self::roles_of(&self.after);
        Self::roles_of(&self.before).difference(&a).copied().collect()
    }
}

/// Counts per action, and role operations in total.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub create_user: u32,
    pub unblock_user: u32,
    pub update_roles: u32,
    pub block_user: u32,
    pub delete_user: u32,
    /// Roles created before the user changes (`--create-missing-roles`).
    pub create_role: u32,
    pub roles_assigned: u32,
    pub roles_removed: u32,
    /// Desired users that already match the tenant.
    pub unchanged: u32,
    /// Connection users kept because they match the ignore list.
    pub ignored: u32,
    /// Connection users missing from the source but kept (`--on-missing ignore`).
    pub kept: u32,
    /// Users of the connection in the snapshot (the base of the deletion cap).
    pub connection_users: u32,
}

impl Summary {
    pub fn total_changes(&self) -> u32 {
        self.create_user + self.unblock_user + self.update_roles + self.block_user + self.delete_user + self.create_role
    }
    pub fn count(&self, a: Action) -> u32 {
        match a {
            Action::CreateUser => self.create_user,
            Action::UnblockUser => self.unblock_user,
            Action::UpdateRoles => self.update_roles,
            Action::BlockUser => self.block_user,
            Action::DeleteUser => self.delete_user,
        }
    }
}

/// Where the desired state came from (no secrets: never a password or a full
/// connection string).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceInfo {
    /// `sqlite` or `mssql`.
    pub kind: String,
    /// A path, or `server:port/database`.
    pub location: String,
    pub rows: u64,
    pub users: u64,
}

/// The policy the plan was computed with, recorded for reviewers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyRecord {
    pub ignore_users: Vec<String>,
    /// Roles the tool may assign and remove; `None` = all roles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_roles: Option<Vec<String>>,
    /// What happens to connection users missing from the source.
    #[serde(default)]
    pub on_missing: OnMissing,
    /// The most deletions (and blocks) this plan was allowed; `None` = no cap.
    #[serde(default)]
    pub max_deletes: Option<u32>,
}

/// What to do with a connection user that is not in the source.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
pub enum OnMissing {
    /// Delete the user (no undo).
    #[default]
    Delete,
    /// Block the user (`blocked: true`), reversible; unblocked if it reappears.
    Block,
    /// Leave the user alone.
    Ignore,
}

/// The body the planner computes: changes, counts, warnings, role ids.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changeset {
    /// Role name → role id for every role a change references (roles still to be
    /// created are absent here and listed in `create_roles`).
    pub roles: BTreeMap<String, String>,
    /// Roles to create before any user change (`--create-missing-roles`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub create_roles: Vec<String>,
    /// Emails of connection users left alone because they match the ignore list.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignored_users: Vec<String>,
    pub summary: Summary,
    pub changes: Vec<Change>,
    pub warnings: Vec<Warning>,
}

/// The plan file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub format_version: u32,
    pub tool_version: String,
    pub created_at: DateTime<Utc>,
    /// Host (and port) of the tenant, e.g. `acme.eu.auth0.com`.
    pub tenant: String,
    pub connection: String,
    /// Fingerprint of the tenant snapshot the plan was computed from.
    pub tenant_fingerprint: String,
    pub source: SourceInfo,
    pub policy: PolicyRecord,
    #[serde(flatten)]
    pub changeset: Changeset,
    /// `sha256:<hex>` over the canonical JSON of every other field.
    pub checksum: String,
}

/// Canonical bytes of a JSON value: object keys sorted (serde_json's default map
/// is ordered), no whitespace, the top-level `checksum` removed.
fn canonical_without_checksum(v: &serde_json::Value) -> Vec<u8> {
    let mut out = Vec::new();
    match v {
        serde_json::Value::Object(o) => {
            let mut top = o.clone();
            top.remove("checksum");
            write_canonical(&serde_json::Value::Object(top), &mut out);
        }
        other => write_canonical(other, &mut out),
    }
    out
}

/// Compact JSON with object keys sorted at every level, whatever map type
/// serde_json was built with (its `preserve_order` feature keeps insertion order).
fn write_canonical(v: &serde_json::Value, out: &mut Vec<u8>) {
    match v {
        serde_json::Value::Object(o) => {
            let mut keys: Vec<&String> = o.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend(serde_json::to_vec(k).expect("strings serialise"));
                out.push(b':');
                write_canonical(&o[k], out);
            }
            out.push(b'}');
        }
        serde_json::Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        scalar => out.extend(serde_json::to_vec(scalar).expect("scalars serialise")),
    }
}

impl Plan {
    /// Builds a plan and seals it with its checksum.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        created_at: DateTime<Utc>,
        tenant: String,
        connection: String,
        tenant_fingerprint: String,
        source: SourceInfo,
        policy: PolicyRecord,
        changeset: Changeset,
    ) -> Plan {
        let mut plan = Plan {
            format_version: FORMAT_VERSION,
            tool_version: env!("CARGO_PKG_VERSION").to_owned(),
            created_at,
            tenant,
            connection,
            tenant_fingerprint,
            source,
            policy,
            changeset,
            checksum: String::new(),
        };
        plan.checksum = plan.compute_checksum();
        plan
    }

    pub fn compute_checksum(&self) -> String {
        let v = serde_json::to_value(self).expect("plans always serialise");
        sha256_tagged(&canonical_without_checksum(&v))
    }

    pub fn has_changes(&self) -> bool {
        !self.changeset.changes.is_empty() || !self.changeset.create_roles.is_empty()
    }

    /// Pretty JSON, as written to disk and printed by `--format json`.
    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).expect("plans always serialise")
    }

    /// Writes the plan to a new file with mode 0600. Refuses to overwrite an
    /// existing file unless `overwrite`.
    pub fn write_new(&self, path: &Path, overwrite: bool) -> Result<(), PlanStoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| PlanStoreError::io("create directory", dir, e))?;
        }
        let mut file = open_private(path, overwrite).map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                PlanStoreError::Exists { path: path.to_path_buf() }
            } else {
                PlanStoreError::io("create plan file", path, e)
            }
        })?;
        let mut text = self.to_json_pretty();
        text.push('\n');
        file.write_all(text.as_bytes())
            .and_then(|_| file.sync_all())
            .map_err(|e| PlanStoreError::io("write plan file", path, e))
    }

    /// Reads and validates a plan file: JSON syntax, known `format_version`,
    /// checksum, then the typed shape. Every refusal carries a span into the file.
    pub fn read(path: &Path) -> Result<Plan, PlanStoreError> {
        let text = std::fs::read_to_string(path).map_err(|e| PlanStoreError::io("read plan file", path, e))?;
        Plan::parse(&path.display().to_string(), &text).map_err(|e| PlanStoreError::File(Box::new(e)))
    }

    /// Validates plan text; `name` labels the source in diagnostics.
    pub fn parse(name: &str, text: &str) -> Result<Plan, PlanFileError> {
        let src = || NamedSource::new(name, text.to_owned()).with_language("json");
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| PlanFileError::Syntax {
            src: src(),
            span: span_at(text, e.line(), e.column()),
            message: e.to_string(),
        })?;
        let Some(obj) = value.as_object() else {
            return Err(PlanFileError::NotAnObject { src: src(), span: (0, text.len().min(1)).into() });
        };
        match obj.get("format_version").and_then(|v| v.as_u64()) {
            Some(v) if v == u64::from(FORMAT_VERSION) => {}
            found => {
                return Err(PlanFileError::UnknownVersion {
                    src: src(),
                    span: key_span(text, "format_version"),
                    found: found.map_or_else(|| "none".to_owned(), |v| v.to_string()),
                    supported: FORMAT_VERSION,
                });
            }
        }
        let recorded = obj.get("checksum").and_then(|v| v.as_str()).unwrap_or("").to_owned();
        let actual = sha256_tagged(&canonical_without_checksum(&value));
        if recorded != actual {
            return Err(PlanFileError::Checksum { src: src(), span: key_span(text, "checksum"), recorded, actual });
        }
        let mut de = serde_json::Deserializer::from_str(text);
        let plan: Plan = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            PlanFileError::Shape {
                src: src(),
                span: span_at(text, inner.line(), inner.column()),
                path,
                message: inner.to_string(),
            }
        })?;
        // A checksum computed by someone who also edited the file must still
        // describe a plan this build would write byte-for-byte the same way.
        if plan.compute_checksum() != recorded {
            return Err(PlanFileError::Checksum {
                src: src(),
                span: key_span(text, "checksum"),
                recorded,
                actual: plan.compute_checksum(),
            });
        }
        // The checksum catches edits, not intent: someone may recompute it. The plan
        // must also be one the planner could have written.
        if let Err(problem) = plan.consistency() {
            return Err(PlanFileError::Inconsistent { src: src(), span: key_span(text, "changes"), problem });
        }
        Ok(plan)
    }

    /// Checks that changes, summary and role table agree with each other.
    pub fn consistency(&self) -> Result<(), String> {
        let cs = &self.changeset;
        let mut counted = Summary { ..cs.summary.clone() };
        counted.create_user = 0;
        counted.unblock_user = 0;
        counted.update_roles = 0;
        counted.block_user = 0;
        counted.delete_user = 0;
        counted.roles_assigned = 0;
        counted.roles_removed = 0;
        counted.create_role = cs.create_roles.len() as u32;
        let mut last_action = Action::CreateUser;
        for (i, c) in cs.changes.iter().enumerate() {
            let n = i as u32 + 1;
            if c.id != n {
                return Err(format!("change #{n} has id {}; ids must run 1, 2, 3, ...", c.id));
            }
            if c.action < last_action {
                return Err(format!("change {n} ({}) is out of order", c.action.as_str()));
            }
            last_action = c.action;
            let (before, after, user_id) = (c.before.is_some(), c.after.is_some(), c.user.user_id.is_some());
            let shape_ok = match c.action {
                Action::CreateUser => !before && after && !user_id,
                Action::DeleteUser => before && !after && user_id,
                Action::UpdateRoles | Action::BlockUser | Action::UnblockUser => before && after && user_id,
            };
            if !shape_ok {
                return Err(format!(
                    "change {n} ({}) has the wrong shape: before {}, after {}, user_id {}",
                    c.action.as_str(),
                    if before { "set" } else { "null" },
                    if after { "set" } else { "null" },
                    if user_id { "set" } else { "absent" },
                ));
            }
            let blocked = |st: &Option<UserState>| st.as_ref().is_some_and(|st| st.blocked);
            let same_roles = c.before.as_ref().map(|b| &b.roles) == c.after.as_ref().map(|a| &a.roles);
            let state_ok = match c.action {
                Action::CreateUser => !blocked(&c.after),
                Action::UpdateRoles => !blocked(&c.before) && !blocked(&c.after),
                Action::BlockUser => !blocked(&c.before) && blocked(&c.after) && same_roles,
                Action::UnblockUser => blocked(&c.before) && !blocked(&c.after) && same_roles,
                Action::DeleteUser => true,
            };
            if !state_ok {
                return Err(format!(
                    "change {n} ({}) has before/after states that do not fit the action",
                    c.action.as_str()
                ));
            }
            let mentioned = c.before.iter().chain(c.after.iter()).flat_map(|st| st.roles.iter());
            for r in mentioned {
                let r = r.as_str();
                if !cs.roles.contains_key(r) && !cs.create_roles.iter().any(|x| x == r) {
                    return Err(format!("change {n} uses role {r:?}, which is not in the plan's role table"));
                }
            }
            counted.roles_assigned += c.assign().len() as u32;
            counted.roles_removed += c.remove().len() as u32;
            match c.action {
                Action::CreateUser => counted.create_user += 1,
                Action::UnblockUser => counted.unblock_user += 1,
                Action::UpdateRoles => counted.update_roles += 1,
                Action::BlockUser => counted.block_user += 1,
                Action::DeleteUser => counted.delete_user += 1,
            }
        }
        if cs.ignored_users.len() as u32 != cs.summary.ignored {
            return Err("the ignored users do not match the summary".into());
        }
        if counted != cs.summary {
            return Err("the summary does not match the changes".into());
        }
        let removals = counted.delete_user + counted.block_user;
        let policy_ok = match self.policy.on_missing {
            OnMissing::Delete => counted.block_user == 0,
            OnMissing::Block => counted.delete_user == 0,
            OnMissing::Ignore => removals == 0,
        };
        if !policy_ok {
            return Err(format!(
                "the changes do not follow the recorded on_missing policy {:?}",
                self.policy.on_missing
            ));
        }
        if let Some(max) = self.policy.max_deletes
            && removals > max
        {
            return Err(format!("the plan removes {removals} users, more than its recorded cap of {max}"));
        }
        Ok(())
    }
}

/// Opens `path` for writing with mode 0600 from the start.
pub fn open_private(path: &Path, overwrite: bool) -> std::io::Result<std::fs::File> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true);
    if overwrite {
        opts.create(true).truncate(true);
    } else {
        opts.create_new(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let f = opts.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(f)
}

/// Opens `path` for appending, creating it with mode 0600.
pub fn open_append_private(path: &Path) -> std::io::Result<std::fs::File> {
    let mut opts = std::fs::OpenOptions::new();
    opts.append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)
}

/// Byte offset of a 1-based (line, column) position, as a one-byte span.
fn span_at(text: &str, line: usize, column: usize) -> SourceSpan {
    let mut offset = 0;
    for (i, l) in text.split_inclusive('\n').enumerate() {
        if i + 1 == line {
            offset += column.saturating_sub(1).min(l.len());
            break;
        }
        offset += l.len();
    }
    let offset = offset.min(text.len().saturating_sub(1));
    (offset, 1).into()
}

/// Span of the first `"key": value` line in the text, or the start of the file.
fn key_span(text: &str, key: &str) -> SourceSpan {
    let needle = format!("\"{key}\"");
    match text.find(&needle) {
        Some(start) => {
            let end = text[start..].find('\n').map_or(text.len(), |n| start + n);
            (start, end - start).into()
        }
        None => (0, text.len().min(1)).into(),
    }
}
