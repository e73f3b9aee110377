//! Model types shared by sources, the Auth0 adapter, the planner and the plan file.
//!
//! Everything here is plain data: no I/O, no clock. Maps are `BTreeMap`/`BTreeSet`
//! so that iteration (and therefore plans, fingerprints and output) is deterministic.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Optional profile fields a source may carry into user creation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
}

impl Profile {
    pub fn is_empty(&self) -> bool {
        self.name.is_none() && self.given_name.is_none() && self.family_name.is_none()
    }
}

/// One user as the source (the HR table) wants it. `email` is normalised
/// (trimmed, lower-cased); `roles` are role names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DesiredUser {
    pub email: String,
    pub roles: BTreeSet<String>,
    #[serde(default, skip_serializing_if = "Profile::is_empty")]
    pub profile: Profile,
}

/// Something odd in the source that did not stop planning but that a reviewer must see.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Warning {
    /// Machine-readable kind, e.g. `invalid_email`, `conflicting_duplicate`.
    pub kind: String,
    /// 1-based row number in the query result, when the warning is about a row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub message: String,
}

/// The whole desired state read from the source.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DesiredState {
    /// Keyed by normalised email.
    pub users: BTreeMap<String, DesiredUser>,
    pub warnings: Vec<Warning>,
    /// Rows the query returned (including rows that only produced warnings).
    pub rows: u64,
}

impl DesiredState {
    /// Every role name the source mentions.
    pub fn role_names(&self) -> BTreeSet<&str> {
        self.users.values().flat_map(|u| u.roles.iter().map(String::as_str)).collect()
    }
}

/// A role as it exists in the tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantRole {
    pub id: String,
    pub name: String,
}

/// A user as it exists in the tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantUser {
    pub user_id: String,
    /// Auth0 users may lack an email (e.g. some social connections).
    pub email: Option<String>,
    /// Name of the connection of the user's first identity.
    pub connection: String,
    #[serde(default)]
    pub blocked: bool,
    /// Blocked by auth0-sync (`app_metadata.auth0_sync.blocked`), so it may unblock it;
    /// users blocked by people are never unblocked by the tool.
    #[serde(default)]
    pub blocked_by_sync: bool,
    /// Ids of the roles assigned to the user.
    pub role_ids: BTreeSet<String>,
}

/// What the tool saw of the tenant. The fingerprint of this value goes into the plan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantSnapshot {
    /// Keyed by role id.
    pub roles: BTreeMap<String, TenantRole>,
    /// Keyed by user id.
    pub users: BTreeMap<String, TenantUser>,
}

impl TenantSnapshot {
    /// Role name → role id.
    pub fn role_ids_by_name(&self) -> BTreeMap<&str, &str> {
        self.roles.values().map(|r| (r.name.as_str(), r.id.as_str())).collect()
    }

    /// A stable hash (`sha256:<hex>`) of the snapshot, used to tell whether
    /// the tenant changed between plan and apply.
    pub fn fingerprint(&self) -> String {
        crate::plan::sha256_tagged(&serde_json::to_vec(self).expect("snapshot always serialises"))
    }
}
