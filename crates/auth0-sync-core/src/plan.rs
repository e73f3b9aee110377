//! The plan file: what `plan` writes and `apply` executes. Versioned, checksummed
//! (and optionally signed, see `seal`) JSON, written 0600, validated with spans
//! pointing into the file on refusal. The types' doc comments are the JSON Schema's
//! descriptions (`schema`).

pub use crate::action::Action;
use crate::caps::DeleteCap;
use crate::digest::{sha256_tagged, write_canonical};
use crate::error::{PlanFileError, PlanStoreError};
use crate::model::{Profile, Warning};
pub(crate) use crate::schema_types::Sha256Text;
use crate::seal::{PlanSignature, SealProblem, VerifyingKey};
use chrono::{DateTime, Utc};
use miette::{NamedSource, SourceSpan};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;

/// The plan format this build writes and the only one it executes.
/// Version 2 added `policy.delete_cap`, `targets` and `signature`; version 3 the HR
/// key, renames and synced fields (`update_email`, `adopt_user`, `update_profile`,
/// `source.key_column`, `source.fields`, `policy.on_null`, `policy.field_authority`),
/// `policy.removal_caps` (blocks left the deletion cap for their own),
/// `policy.delete_after` and `policy.revoke_sessions`.
pub const FORMAT_VERSION: u32 = 3;

/// Who a change is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "userRef", deny_unknown_fields)]
pub struct UserRef {
    /// Normalised (trimmed, lower-cased) email address: the source's for a user in the
    /// source (the new address of an `update_email`), the tenant's for `block_user` and
    /// `delete_user`.
    #[schemars(length(min = 1))]
    pub email: String,
    /// Auth0 user id, e.g. `auth0|0123456789abcdef`. Absent for a user that does not
    /// exist yet (`create_user`), present otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String", length(min = 1))]
    pub user_id: Option<String>,
}

/// A user's state on one side of a change. Roles are names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "userState", deny_unknown_fields)]
pub struct UserState {
    /// Names of the (managed) roles the user has (before) or will have (after); the
    /// same on both sides of every action but `update_roles` and `create_user`.
    pub roles: crate::model::NameSet,
    /// Whether the user is blocked; written only when true (absent means not blocked).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    #[schemars(with = "crate::schema_types::True")]
    pub blocked: bool,
    /// Profile fields; absent when none is set (only creates carry one).
    #[serde(default, skip_serializing_if = "Profile::is_empty")]
    pub profile: Profile,
    /// The HR key (`app_metadata.auth0_sync.key`) the user holds (before) or will hold
    /// (after); absent when none. `adopt_user` goes from none to one; `create_user`
    /// writes it at creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String", length(min = 1))]
    pub key: Option<String>,
    /// `update_email` only: the address before (absent when the user had none) and
    /// after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String", length(min = 1))]
    pub email: Option<String>,
    /// `update_email` after only: always `false`, as sent: Auth0 marks the new address
    /// unverified until its owner follows the link Auth0 mails to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "bool")]
    pub email_verified: Option<bool>,
    /// `update_email` after only: always `true`, as sent: Auth0 mails a verification
    /// link to the new address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "bool")]
    pub verify_email: Option<bool>,
    /// Synced fields by name (`name`, `given_name`, `family_name`,
    /// `app_metadata.<key>`): for `update_profile` the tenant's values before (null when
    /// unset) and the values after (a string, or null to clear), the same names on both
    /// sides; for `create_user` (after) the `app_metadata` keys set at creation.
    /// Absent when empty.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("propertyNames" = {"pattern": "^(name|given_name|family_name|app_metadata\\.[^.$]+)$"}, "minProperties" = 1))]
    pub fields: BTreeMap<String, serde_json::Value>,
}

/// One change. Both `before` and `after` keys are always present: `before` is null
/// for `create_user`, `after` is null for `delete_user`, both are set for every other
/// action. `user.user_id` is absent for `create_user` and present for every other
/// action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "change", deny_unknown_fields, transform = crate::schema_types::change_branches)]
pub struct Change {
    /// 1-based position of the change in the plan; journals and reports refer to it.
    #[schemars(range(min = 1))]
    pub id: u32,
    /// What the change does (one of the actions below, in plan order).
    pub action: Action,
    /// The user the change is about.
    pub user: UserRef,
    /// The user's state in the tenant before the change; null for `create_user`.
    pub before: Option<UserState>,
    /// The user's state after the change; null for `delete_user`.
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

/// Counts per action, roles to create, role operations in total, and the users the
/// plan leaves as they are (unchanged, ignored, kept). In a partial plan (`targets`)
/// every count but `connection_users` is about the targets only.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "summary", deny_unknown_fields)]
pub struct Summary {
    /// Number of `update_email` changes.
    pub update_email: u32,
    /// Number of `create_user` changes.
    pub create_user: u32,
    /// Number of `adopt_user` changes.
    pub adopt_user: u32,
    /// Number of `update_profile` changes.
    pub update_profile: u32,
    /// Number of `unblock_user` changes.
    pub unblock_user: u32,
    /// Number of `update_roles` changes.
    pub update_roles: u32,
    /// Number of `block_user` changes.
    pub block_user: u32,
    /// Number of `delete_user` changes.
    pub delete_user: u32,
    /// Number of roles to create before the user changes (`--create-missing-roles`),
    /// the length of `create_roles` (0 when absent).
    pub create_role: u32,
    /// Role assignments over all changes (a create counts each of its roles).
    pub roles_assigned: u32,
    /// Role removals over all `update_roles` changes (a delete removes none: the user
    /// goes).
    pub roles_removed: u32,
    /// Desired users whose connection user already matches the source.
    pub unchanged: u32,
    /// Connection users absent from the source that were left alone because they
    /// match `policy.ignore_users`.
    pub ignored: u32,
    /// Connection users absent from the source that were kept: `policy.on_missing` is
    /// `ignore`, or it is `block` and the user is already blocked, or the user holds an
    /// HR key the source gives to more than one email (see the warnings).
    pub kept: u32,
    /// Users of the connection in the tenant snapshot, the base of the deletion cap
    /// (the whole connection, also in a partial plan).
    pub connection_users: u32,
}

impl Summary {
    pub fn total_changes(&self) -> u32 {
        Action::ALL.iter().map(|a| self.count(*a)).sum::<u32>() + self.create_role
    }
    pub fn count(&self, a: Action) -> u32 {
        match a {
            Action::UpdateEmail => self.update_email,
            Action::CreateUser => self.create_user,
            Action::AdoptUser => self.adopt_user,
            Action::UpdateProfile => self.update_profile,
            Action::UnblockUser => self.unblock_user,
            Action::UpdateRoles => self.update_roles,
            Action::BlockUser => self.block_user,
            Action::DeleteUser => self.delete_user,
        }
    }
}

/// Where the desired state came from. Never holds a password or a full connection
/// string.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "source", deny_unknown_fields)]
pub struct SourceInfo {
    /// Source backend.
    #[schemars(extend("enum" = ["sqlite", "mssql"]))]
    pub kind: String,
    /// A SQLite path, or `server:port/database` for SQL Server.
    pub location: String,
    /// Rows the query returned, including rows that only produced warnings.
    pub rows: u64,
    /// Distinct desired users after email normalisation.
    pub users: u64,
    /// The HR key column (`USERS_KEY_COLUMN`) as the query returned it; null when the
    /// query has none (users are then matched by email only and no key is written).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub key_column: Option<String>,
    /// The synced fields the query returned, sorted: `name`, `given_name`,
    /// `family_name`, `app_metadata.<key>`. Fields it does not return are not synced.
    #[serde(default)]
    #[schemars(extend("uniqueItems" = true), inner(regex(pattern = r"^(name|given_name|family_name|app_metadata\.[^.$]+)$")))]
    pub fields: Vec<String>,
}

/// The policy the plan was computed with, recorded for reviewers; apply enforces the
/// recorded deletion cap again.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "policy", deny_unknown_fields)]
pub struct PolicyRecord {
    /// Emails and globs (CLIENT_IGNORE_USERS, trimmed and lower-cased) of connection
    /// users that are never deleted, blocked or counted as kept.
    #[schemars(inner(length(min = 1)))]
    pub ignore_users: Vec<String>,
    /// Names of the roles the tool may assign and remove (AUTH0_MANAGED_ROLES), sorted;
    /// other roles are left as they are and never appear in a change. Absent when
    /// every role is managed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "crate::model::NameSet")]
    pub managed_roles: Option<Vec<String>>,
    /// What happens to connection users missing from the source (`--on-missing`):
    /// `delete` deletes them (`delete_user`), `block` blocks them (`block_user`,
    /// reversible: `unblock_user` when they reappear), `ignore` leaves them alone
    /// (counted in `summary.kept`).
    pub on_missing: OnMissing,
    /// The deletion cap the plan was made and reviewed with (`--max-deletes`, or
    /// `--allow-mass-delete` as `unlimited`). `apply` checks the plan against it again,
    /// for the connection's user count at apply time; an apply flag may only lower it.
    pub delete_cap: DeleteCap,
    /// The most `delete_user` changes `delete_cap` allowed for the plan's
    /// `summary.connection_users` (by default 10% of the connection's users, at least 5
    /// and at most 1000); null when there is no cap.
    #[serde(default)]
    pub max_deletes: Option<u32>,
    /// What a NULL (or empty) cell of a synced column does (`AUTH0_ON_NULL`): `keep`
    /// leaves the tenant's value, `clear` removes it (sent as null).
    #[serde(default)]
    pub on_null: crate::fields::OnNull,
    /// The synced fields that are not `force` (`AUTH0_FIELD_AUTHORITY`): `create_only`
    /// (set at creation, then left alone) or `ignore` (never written). Empty when every
    /// field is `force`.
    #[serde(default)]
    #[schemars(extend("propertyNames" = {"pattern": "^(name|given_name|family_name|app_metadata\\.[^.$]+)$"}))]
    pub field_authority: BTreeMap<String, crate::fields::Authority>,
    /// The caps on blocks and role removals (overall and per role) the plan was made
    /// and reviewed with, with their bases and limits; apply checks them again.
    pub removal_caps: crate::caps::RemovalCapsRecord,
    /// Two-stage leaving (`--on-missing block --delete-after`): present only then. A
    /// user the tool blocked (its marker's `blocked_at`) at least `seconds` before `now`
    /// is deleted; users blocked by people never are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_after: Option<DeleteAfterRecord>,
    /// `--revoke-sessions`: apply revokes the sessions and refresh tokens of every user
    /// this plan blocks (`DELETE /users/{id}/sessions`, `/refresh-tokens`); written only
    /// when true. Access tokens already issued stay valid until they expire.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    #[schemars(with = "crate::schema_types::True")]
    pub revoke_sessions: bool,
}

/// `--delete-after` as a plan records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "deleteAfter", deny_unknown_fields)]
pub struct DeleteAfterRecord {
    /// The grace period, in seconds.
    pub seconds: u64,
    /// The plan's clock: what "ago" is measured from (RFC 3339, UTC).
    pub now: DateTime<Utc>,
}

/// What to do with a connection user that is not in the source.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
#[schemars(rename = "onMissing")]
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
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Changeset {
    /// Role name → Auth0 role id for every existing role that any change's `before` or
    /// `after` names (assigned, removed, or kept). Roles still to be created are
    /// listed in `create_roles` instead.
    #[schemars(extend("propertyNames" = {"minLength": 1}))]
    pub roles: BTreeMap<String, String>,
    /// Names of the roles the source names that the tenant lacks, sorted, created
    /// before any user change (`--create-missing-roles`). Written only when there is
    /// at least one; these names are absent from `roles` (their ids are only known at
    /// apply time) and may be used by the changes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(min = 1), extend("uniqueItems" = true), inner(length(min = 1)))]
    pub create_roles: Vec<String>,
    /// Emails of connection users that are not in the source but were kept because
    /// they match CLIENT_IGNORE_USERS (one entry per such user; its length equals
    /// `summary.ignored`). Written only when there is at least one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(min = 1), inner(length(min = 1)))]
    pub ignored_users: Vec<String>,
    /// Counts per action, roles to create, role operations, and the users left as
    /// they are.
    pub summary: Summary,
    /// The changes, in execution order: `update_email`, `create_user`, `adopt_user`,
    /// `update_profile`, `unblock_user`, `update_roles`, `block_user`, `delete_user`;
    /// by email within each action, but `update_email` changes, where a user whose
    /// old address another one takes comes first; `id` runs 1, 2, 3, ... in that order.
    /// Empty when the tenant already matches the source.
    pub changes: Vec<Change>,
    /// Oddities in the source (unusable rows, conflicting duplicates, keys given to
    /// several emails, roles outside AUTH0_MANAGED_ROLES) that did not stop planning but
    /// that a reviewer must see.
    pub warnings: Vec<Warning>,
}

/// What `auth0-sync plan` writes, `auth0-sync show --format json` prints and
/// `auth0-sync apply` executes, exactly as serde writes it (crates/auth0-sync-core,
/// `plan.rs`). Plans are sealed with `checksum`: any edit, including adding a field
/// serde would drop, makes `apply` refuse the file; a plan whose checksum was
/// recomputed after an edit is also refused when it contradicts itself (change
/// shapes, ids, order, role table, summary counts, targets, cap). The checksum is no
/// protection against someone who edits on purpose: a `signature` is, when `apply`
/// runs with a verify key. Role arrays are written sorted; JSON Schema cannot express
/// that, `apply` enforces it through the checksum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Plan {
    /// Version of this plan format. This build writes, and only executes, this
    /// version.
    #[schemars(extend("const" = FORMAT_VERSION))]
    pub format_version: u32,
    /// Version of auth0-sync that wrote the plan (Cargo package version), e.g.
    /// `0.1.0`.
    #[schemars(length(min = 1))]
    pub tool_version: String,
    /// When the plan was computed, RFC 3339 in UTC, e.g. `2026-11-28T13:30:00Z`.
    pub created_at: DateTime<Utc>,
    /// Host (and port when not the default) of the tenant the plan is for, e.g.
    /// `acme.eu.auth0.com`. `apply` refuses to run against another AUTH0_URL.
    #[schemars(length(min = 1))]
    pub tenant: String,
    /// Name of the Auth0 database connection the plan manages (AUTH0_CONNECTION),
    /// e.g. `Username-Password-Authentication`. Only its users are created, changed or
    /// deleted.
    #[schemars(length(min = 1))]
    pub connection: String,
    /// `sha256:<hex>` of the tenant snapshot (roles and users) the plan was computed
    /// from, used to tell whether the tenant changed between plan and apply.
    #[schemars(with = "Sha256Text")]
    pub tenant_fingerprint: String,
    /// Where the desired state came from.
    pub source: SourceInfo,
    /// The policy the plan was computed with.
    pub policy: PolicyRecord,
    /// Present only in a partial plan (`plan --only` / `--only-file`): the normalised
    /// emails, sorted, whose changes it holds. Users outside it were not considered:
    /// the plan says nothing about them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Vec<String>", length(min = 1), extend("uniqueItems" = true), inner(length(min = 1)))]
    pub targets: Option<Vec<String>>,
    #[serde(flatten)]
    pub changeset: Changeset,
    /// The Ed25519 signature of the plan (`plan` with AUTH0_SYNC_SIGNING_KEY); absent
    /// when unsigned. `apply` with AUTH0_SYNC_VERIFY_KEY refuses a plan without one,
    /// signed by another key, or changed after signing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "PlanSignature")]
    pub signature: Option<PlanSignature>,
    /// `sha256:<hex>` over the canonical JSON (keys sorted, no whitespace) of every
    /// other top-level field (the signature included). It catches accidental edits
    /// only: anyone can recompute it.
    #[schemars(with = "Sha256Text")]
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
            targets: None,
            changeset,
            signature: None,
            checksum: String::new(),
        };
        plan.checksum = plan.compute_checksum();
        plan
    }

    /// Marks the plan partial, for these normalised emails (sorted, deduplicated
    /// here), and reseals it. Sign after this.
    pub fn with_targets(mut self, targets: impl IntoIterator<Item = String>) -> Plan {
        let t: BTreeSet<String> = targets.into_iter().collect();
        self.targets = Some(t.into_iter().collect());
        self.signature = None;
        self.checksum = self.compute_checksum();
        self
    }

    /// The targets of a partial plan (`plan --only`); `None` for a full plan.
    pub fn targets(&self) -> Option<&[String]> {
        self.targets.as_deref()
    }

    /// True for a plan made with `--only` / `--only-file`.
    pub fn is_partial(&self) -> bool {
        self.targets.is_some()
    }

    /// Fingerprint of the key that signed the plan, if it is signed (not verified:
    /// see [`Plan::parse_verified`]).
    pub fn signed_by(&self) -> Option<&str> {
        self.signature.as_ref().map(|s| s.key.as_str())
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

    /// [`Plan::read`], and with `verify` the signature check of [`Plan::parse_verified`].
    pub fn read_verified(path: &Path, verify: Option<&VerifyingKey>) -> Result<Plan, PlanStoreError> {
        let text = std::fs::read_to_string(path).map_err(|e| PlanStoreError::io("read plan file", path, e))?;
        Plan::parse_verified(&path.display().to_string(), &text, verify).map_err(|e| PlanStoreError::File(Box::new(e)))
    }

    /// Validates plan text; `name` labels the source in diagnostics.
    pub fn parse(name: &str, text: &str) -> Result<Plan, PlanFileError> {
        Plan::parse_verified(name, text, None)
    }

    /// Validates plan text as [`Plan::parse`] does and, with `verify`, checks its
    /// signature right after the format version, before the checksum: an edit of a
    /// signed plan is reported as such whether or not the checksum was recomputed.
    pub fn parse_verified(name: &str, text: &str, verify: Option<&VerifyingKey>) -> Result<Plan, PlanFileError> {
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
        if let Some(key) = verify {
            let span = || key_span(text, "signature");
            match crate::seal::verify(&value, key) {
                Ok(()) => {}
                Err(SealProblem::Unsigned) => {
                    return Err(PlanFileError::Unsigned {
                        src: src(),
                        span: key_span(text, "checksum"),
                        expected: crate::seal::fingerprint(key),
                    });
                }
                Err(SealProblem::WrongKey { found }) => {
                    return Err(PlanFileError::WrongKey {
                        src: src(),
                        span: key_span_after(text, "signature", "key"),
                        found,
                        expected: crate::seal::fingerprint(key),
                    });
                }
                Err(SealProblem::Mismatch(reason)) => {
                    return Err(PlanFileError::SignatureMismatch { src: src(), span: span(), reason });
                }
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

/// Span of the first `"key": value` line after the first `"outer"`, or of `"outer"`.
fn key_span_after(text: &str, outer: &str, key: &str) -> SourceSpan {
    let needle = format!("\"{outer}\"");
    match text.find(&needle) {
        Some(start) => {
            let inner = key_span(&text[start..], key);
            if inner.offset() == 0 && !text[start..].starts_with(&format!("\"{key}\"")) {
                key_span(text, outer)
            } else {
                (start + inner.offset(), inner.len()).into()
            }
        }
        None => key_span(text, outer),
    }
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

impl crate::caps::Removals for Changeset {
    fn deletes(&self) -> u32 {
        self.summary.delete_user
    }
    fn blocks(&self) -> u32 {
        self.summary.block_user
    }
    fn role_removals(&self) -> u32 {
        self.summary.roles_removed
    }
    fn connection_users(&self) -> u32 {
        self.summary.connection_users
    }
    fn removals_per_role(&self) -> BTreeMap<&str, u32> {
        let mut m: BTreeMap<&str, u32> = BTreeMap::new();
        for c in &self.changes {
            for r in c.remove() {
                *m.entry(r).or_default() += 1;
            }
        }
        m
    }
}

impl crate::seal::Signable for Plan {
    fn set_signature(&mut self, signature: Option<PlanSignature>) {
        self.signature = signature;
    }
    fn signature_mut(&mut self) -> Option<&mut PlanSignature> {
        self.signature.as_mut()
    }
    fn reseal(&mut self) {
        self.checksum = self.compute_checksum();
    }
}
