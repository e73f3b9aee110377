//! Model types shared by sources, the Auth0 adapter, the planner and the plan file.
//!
//! Everything here is plain data: no I/O, no clock. Maps are `BTreeMap`/`BTreeSet`
//! so that iteration (and therefore plans, fingerprints and output) is deterministic.

use serde::{Deserialize, Deserializer, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// A sorted set of names (role names, role ids) kept in one small `Vec`.
///
/// Users hold one or two roles; a `BTreeSet<String>` spends a 288-byte node on each
/// user, which at a million users is most of the planner's memory. Same order, same
/// JSON (a sorted array) and the same methods the code needs from a set.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct NameSet(Vec<String>);

impl NameSet {
    pub const fn new() -> Self {
        NameSet(Vec::new())
    }

    /// Adds `name`; false when it was already there.
    pub fn insert(&mut self, name: impl Into<String>) -> bool {
        let name = name.into();
        match self.0.binary_search(&name) {
            Ok(_) => false,
            Err(i) => {
                self.0.insert(i, name);
                true
            }
        }
    }

    /// Removes `name`; false when it was not there.
    pub fn remove(&mut self, name: &str) -> bool {
        match self.position(name) {
            Some(i) => {
                self.0.remove(i);
                true
            }
            None => false,
        }
    }

    pub fn contains(&self, name: &str) -> bool {
        self.position(name).is_some()
    }

    fn position(&self, name: &str) -> Option<usize> {
        self.0.binary_search_by(|n| n.as_str().cmp(name)).ok()
    }

    /// In sorted order.
    pub fn iter(&self) -> std::slice::Iter<'_, String> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn as_slice(&self) -> &[String] {
        &self.0
    }

    /// Names in `self` that are not in `other`, in order.
    pub fn difference<'a>(&'a self, other: &'a NameSet) -> impl Iterator<Item = &'a String> + 'a {
        self.0.iter().filter(move |n| !other.contains(n))
    }

    pub fn clear(&mut self) {
        self.0.clear();
    }

    pub fn is_subset(&self, other: &NameSet) -> bool {
        self.0.iter().all(|n| other.contains(n))
    }

    pub fn retain(&mut self, keep: impl FnMut(&String) -> bool) {
        self.0.retain(keep);
    }

    /// From names already sorted and without duplicates (checked in debug builds).
    pub fn from_sorted(v: Vec<String>) -> Self {
        debug_assert!(v.windows(2).all(|w| w[0] < w[1]), "NameSet::from_sorted needs sorted, unique names");
        NameSet(v)
    }

    fn normalise(mut v: Vec<String>) -> Self {
        v.sort_unstable();
        v.dedup();
        v.shrink_to_fit();
        NameSet(v)
    }
}

impl fmt::Debug for NameSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(&self.0).finish()
    }
}

impl<S: Into<String>> FromIterator<S> for NameSet {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Self {
        NameSet::normalise(iter.into_iter().map(Into::into).collect())
    }
}

impl<S: Into<String>> Extend<S> for NameSet {
    fn extend<I: IntoIterator<Item = S>>(&mut self, iter: I) {
        let mut v = std::mem::take(&mut self.0);
        v.extend(iter.into_iter().map(Into::into));
        *self = NameSet::normalise(v);
    }
}

impl<S: Into<String>, const N: usize> From<[S; N]> for NameSet {
    fn from(a: [S; N]) -> Self {
        a.into_iter().collect()
    }
}

impl From<BTreeSet<String>> for NameSet {
    fn from(s: BTreeSet<String>) -> Self {
        NameSet(s.into_iter().collect())
    }
}

impl IntoIterator for NameSet {
    type Item = String;
    type IntoIter = std::vec::IntoIter<String>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a NameSet {
    type Item = &'a String;
    type IntoIter = std::slice::Iter<'a, String>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// Accepts any array of strings, as a `BTreeSet` would: sorted, duplicates dropped.
impl<'de> Deserialize<'de> for NameSet {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Vec::<String>::deserialize(d).map(NameSet::normalise)
    }
}

/// Profile fields the source carries into user creation. Written only when at least
/// one field is set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[schemars(rename = "profile", deny_unknown_fields, extend("minProperties" = 1))]
pub struct Profile {
    /// Full name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String")]
    pub name: Option<String>,
    /// Given (first) name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String")]
    pub given_name: Option<String>,
    /// Family (last) name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String")]
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
    pub roles: NameSet,
    /// Boxed and absent when empty: most rows carry no profile, and an inline
    /// `Profile` would cost 72 bytes per user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<Box<Profile>>,
    /// The person's stable HR key (`USERS_KEY_COLUMN`, trimmed), when the row has one
    /// and the source gives it to this email alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Values of the `app_metadata.<key>` columns, by key; NULL and empty cells absent.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

impl DesiredUser {
    /// The profile fields the source gave (all empty when none).
    pub fn profile(&self) -> &Profile {
        static EMPTY: Profile = Profile { name: None, given_name: None, family_name: None };
        self.profile.as_deref().unwrap_or(&EMPTY)
    }
}

/// Something odd in the source that did not stop planning but that a reviewer must see.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[schemars(rename = "warning", deny_unknown_fields)]
pub struct Warning {
    /// Machine-readable kind, e.g. `missing_email`, `invalid_email`,
    /// `conflicting_duplicate`, `unmanaged_role`.
    #[schemars(length(min = 1))]
    pub kind: String,
    /// 1-based row number in the query result, when the warning is about a row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "u64", range(min = 1))]
    pub row: Option<u64>,
    /// The email (as found in the source) the warning is about, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String")]
    pub email: Option<String>,
    /// Human-readable explanation.
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
    /// Which synced columns the query returned.
    pub columns: SourceColumns,
    /// Keys the source gives to more than one email, or emails it gives more than one
    /// key: those rows are matched by email alone, and a tenant user holding such a key
    /// is kept as it is (never removed) until the source is fixed.
    pub ambiguous_keys: BTreeSet<String>,
}

/// The columns of the query beyond email and roles, found by name: the HR key and the
/// synced fields. A field the query does not return is not synced at all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceColumns {
    /// The key column as the query names it; `None` when it returns none.
    pub key: Option<String>,
    /// Synced fields returned: `name`, `given_name`, `family_name`, `app_metadata.<key>`.
    pub fields: BTreeSet<String>,
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

/// Auth0 refuses to give a user more roles than this ("A user can have at most 50
/// roles"; Management API `POST /api/v2/users/{id}/roles` and role member batches).
pub const MAX_ROLES_PER_USER: usize = 50;

/// A user as it exists in the tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantUser {
    pub user_id: String,
    /// Auth0 users may lack an email (e.g. some social connections).
    pub email: Option<String>,
    /// Name of the connection of the user's first (primary) identity;
    /// [`UNKNOWN_CONNECTION`] when Auth0's answer did not say. Only users whose
    /// connection is the managed one are ever changed.
    pub connection: String,
    #[serde(default)]
    pub blocked: bool,
    /// Blocked by auth0-sync (`app_metadata.auth0_sync.blocked`), so it may unblock it;
    /// users blocked by people are never unblocked by the tool.
    #[serde(default)]
    pub blocked_by_sync: bool,
    /// Ids of the roles assigned to the user.
    pub role_ids: NameSet,
    /// Account linking: set when the user holds an identity in the managed connection
    /// that is not its primary one (e.g. a database login linked under a
    /// `google-oauth2|...` primary). It is the primary's `user_id`; such a user is in
    /// another connection and never changed, and `email` is then the email of the
    /// linked identity when Auth0 gives one (else the primary's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linked_to: Option<String>,
    /// The HR key, the profile and `app_metadata` (what auth0-sync syncs beyond roles).
    #[serde(default, skip_serializing_if = "SyncedFields::is_empty")]
    pub synced: SyncedFields,
}

/// What the tenant holds of the fields auth0-sync may sync, for one user.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncedFields {
    /// `app_metadata.auth0_sync.key`: the HR key the tool wrote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// `name`, `given_name`, `family_name` as Auth0 answers them.
    #[serde(default, skip_serializing_if = "Profile::is_empty")]
    pub profile: Profile,
    /// The top-level `app_metadata` keys but the tool's namespace.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, serde_json::Value>,
}

impl SyncedFields {
    pub fn is_empty(&self) -> bool {
        self.key.is_none() && self.profile.is_empty() && self.metadata.is_empty()
    }
}

/// The `connection` of a tenant user whose connection Auth0 did not say (an export
/// line without `identities`, a user without identities). Auth0 connection names are
/// letters, digits and dashes, so this never names a real connection.
pub const UNKNOWN_CONNECTION: &str = "(unknown)";

/// What the tool saw of the tenant. The fingerprint of this value goes into the plan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantSnapshot {
    /// Keyed by role id.
    pub roles: BTreeMap<String, TenantRole>,
    /// Keyed by user id.
    pub users: BTreeMap<String, TenantUser>,
    /// The tool's namespace (`app_metadata.auth0_sync`) of the users that have one, by
    /// user id: when and why the tool blocked them, and what a block or unblock must
    /// send back whole (`leavers`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub markers: BTreeMap<String, serde_json::Map<String, serde_json::Value>>,
}

impl TenantSnapshot {
    /// Role name → role id.
    pub fn role_ids_by_name(&self) -> BTreeMap<&str, &str> {
        self.roles.values().map(|r| (r.name.as_str(), r.id.as_str())).collect()
    }

    /// A stable hash (`sha256:<hex>`) of the snapshot, used to tell whether
    /// the tenant changed between plan and apply.
    pub fn fingerprint(&self) -> String {
        crate::digest::sha256_tagged(&serde_json::to_vec(self).expect("snapshot always serialises"))
    }
}
