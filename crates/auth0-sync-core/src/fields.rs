//! The one home of synced-field rules: which fields besides roles the tool keeps in
//! step with the source (`name`, `given_name`, `family_name`, `app_metadata.<key>`),
//! who wins for each (`AUTH0_FIELD_AUTHORITY`), what a NULL in the source means
//! (`AUTH0_ON_NULL`), the tool's own `app_metadata` namespace (the HR key and the
//! block mark), and how a tenant user's current value of a field is read.

use crate::model::{DesiredUser, TenantUser};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;

/// The `app_metadata` key that is the tool's own: `{"key": "E123", "blocked": true}`.
pub const NAMESPACE: &str = "auth0_sync";

/// Source columns named `app_metadata.<key>` set that key of `app_metadata`.
pub const METADATA_PREFIX: &str = "app_metadata.";

/// The profile fields a query may return (matched without regard to case).
pub const PROFILE_FIELDS: [&str; 3] = ["name", "given_name", "family_name"];

/// Why `key` cannot be an `app_metadata` key the tool writes, or `None`. Auth0 refuses
/// field names with `.` or `$`; the namespace is the tool's own.
pub fn metadata_key_problem(key: &str) -> Option<String> {
    if key.is_empty() {
        Some("the key after app_metadata. is empty".into())
    } else if key.contains('.') || key.contains('$') {
        Some(format!("Auth0 refuses metadata field names with \".\" or \"$\" ({key:?})"))
    } else if key == NAMESPACE {
        Some(format!("app_metadata.{NAMESPACE} is auth0-sync's own namespace (the HR key and block marks)"))
    } else if key.trim() != key {
        Some(format!("the key {key:?} starts or ends with spaces"))
    } else {
        None
    }
}

/// Whether `field` is a field name the tool can sync.
pub fn is_field(field: &str) -> bool {
    PROFILE_FIELDS.contains(&field)
        || field.strip_prefix(METADATA_PREFIX).is_some_and(|k| metadata_key_problem(k).is_none())
}

/// Who wins for a synced field.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(rename = "authority")]
pub enum Authority {
    /// The source wins: set at creation and changed whenever it differs.
    #[default]
    Force,
    /// Set at creation, then left to the user or other tools.
    CreateOnly,
    /// Never written, not even at creation.
    Ignore,
}

impl Authority {
    pub fn as_str(self) -> &'static str {
        match self {
            Authority::Force => "force",
            Authority::CreateOnly => "create_only",
            Authority::Ignore => "ignore",
        }
    }

    fn parse(s: &str) -> Option<Authority> {
        match s.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "force" => Some(Authority::Force),
            "create_only" => Some(Authority::CreateOnly),
            "ignore" => Some(Authority::Ignore),
            _ => None,
        }
    }
}

impl fmt::Display for Authority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The authority of each synced field (`AUTH0_FIELD_AUTHORITY`); `force` unless named.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldAuthority(BTreeMap<String, Authority>);

impl FieldAuthority {
    /// Parses `given_name=create_only,app_metadata.cost_centre=ignore`: comma-separated
    /// `FIELD=force|create_only|ignore`. Every bad entry is in the error, each with why.
    pub fn parse(raw: &str) -> Result<FieldAuthority, Vec<String>> {
        let mut map = BTreeMap::new();
        let mut bad = Vec::new();
        for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let Some((field, value)) = entry.split_once('=') else {
                bad.push(format!("{entry:?} is not FIELD=AUTHORITY"));
                continue;
            };
            let field = field.trim();
            let field = match field.strip_prefix(METADATA_PREFIX) {
                Some(k) => format!("{METADATA_PREFIX}{k}"),
                None => field.to_ascii_lowercase(),
            };
            if !is_field(&field) {
                let why = field
                    .strip_prefix(METADATA_PREFIX)
                    .and_then(metadata_key_problem)
                    .unwrap_or_else(|| "name, given_name, family_name or app_metadata.<key>".into());
                bad.push(format!("{field:?} is not a field the tool syncs ({why})"));
                continue;
            }
            match Authority::parse(value) {
                Some(a) => {
                    if map.insert(field.clone(), a).is_some_and(|old| old != a) {
                        bad.push(format!("{field:?} is given two authorities"));
                    }
                }
                None => bad.push(format!("{:?} for {field:?} is not force, create_only or ignore", value.trim())),
            }
        }
        if bad.is_empty() { Ok(FieldAuthority(map)) } else { Err(bad) }
    }

    pub fn of(&self, field: &str) -> Authority {
        self.0.get(field).copied().unwrap_or_default()
    }

    /// The entries that are not `force`, as recorded in a plan.
    pub fn record(&self) -> BTreeMap<String, Authority> {
        self.0.iter().filter(|(_, a)| **a != Authority::Force).map(|(f, a)| (f.clone(), *a)).collect()
    }

    pub fn from_record(m: &BTreeMap<String, Authority>) -> FieldAuthority {
        FieldAuthority(m.clone())
    }
}

/// What a NULL (or empty) cell of a synced column means (`AUTH0_ON_NULL`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "snake_case")]
#[schemars(rename = "onNull")]
pub enum OnNull {
    /// Leave the tenant's value as it is.
    #[default]
    Keep,
    /// Remove the tenant's value (Auth0 is sent `null`, never an empty string).
    Clear,
}

impl OnNull {
    pub fn parse(s: &str) -> Option<OnNull> {
        match s.trim().to_ascii_lowercase().as_str() {
            "keep" => Some(OnNull::Keep),
            "clear" => Some(OnNull::Clear),
            _ => None,
        }
    }
}

/// The source's value of `field` for `d`: `None` for NULL or empty.
pub fn desired_value<'a>(d: &'a DesiredUser, field: &str) -> Option<&'a str> {
    let p = d.profile();
    match field {
        "name" => p.name.as_deref(),
        "given_name" => p.given_name.as_deref(),
        "family_name" => p.family_name.as_deref(),
        other => other.strip_prefix(METADATA_PREFIX).and_then(|k| d.metadata.get(k)).map(String::as_str),
    }
}

/// The tenant's current value of `field` for `u`; `None` when unset. Auth0 shows a
/// user created without a name under its email (or id): such a `name` counts as unset,
/// so that a source without a name never fights Auth0's default.
pub fn tenant_value(u: &TenantUser, field: &str) -> Option<Value> {
    let p = &u.synced.profile;
    let s = |v: &Option<String>| v.as_ref().map(|s| Value::String(s.clone()));
    match field {
        "name" => p
            .name
            .as_ref()
            .filter(|n| {
                let n = crate::email::key(n);
                u.email.as_deref().is_none_or(|e| crate::email::key(e) != n) && *n != *u.user_id
            })
            .map(|n| Value::String(n.clone())),
        "given_name" => s(&p.given_name),
        "family_name" => s(&p.family_name),
        other => other.strip_prefix(METADATA_PREFIX).and_then(|k| u.synced.metadata.get(k)).cloned(),
    }
}

/// The tool's namespace as a user has it: the HR key and whether auth0-sync blocked it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Namespace {
    pub key: Option<String>,
    pub blocked: bool,
}

impl Namespace {
    pub fn of(u: &TenantUser) -> Namespace {
        Namespace { key: u.synced.key.clone(), blocked: u.blocked_by_sync }
    }

    /// The value of `app_metadata.auth0_sync` to send: the whole object (Auth0 merges
    /// only top-level keys, so a nested object is replaced whole), or `null` to remove
    /// it when nothing is left in it (never `{}`).
    pub fn to_value(&self) -> Value {
        let mut m = serde_json::Map::new();
        if let Some(k) = &self.key {
            m.insert("key".into(), Value::String(k.clone()));
        }
        if self.blocked {
            m.insert("blocked".into(), Value::Bool(true));
        }
        if m.is_empty() { Value::Null } else { Value::Object(m) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authority_syntax() {
        let a =
            FieldAuthority::parse(" given_name=create_only, app_metadata.cost_centre = ignore ,NAME=force").unwrap();
        assert_eq!(a.of("given_name"), Authority::CreateOnly);
        assert_eq!(a.of("app_metadata.cost_centre"), Authority::Ignore);
        assert_eq!(a.of("name"), Authority::Force);
        assert_eq!(a.of("family_name"), Authority::Force);
        assert_eq!(a.record().len(), 2);
        assert!(FieldAuthority::parse("").unwrap().record().is_empty());
        let bad = FieldAuthority::parse("nickname=force,name,given_name=sometimes,app_metadata.a.b=ignore,app_metadata.auth0_sync=ignore,name=force,name=ignore").unwrap_err();
        assert_eq!(bad.len(), 6, "{bad:?}");
        assert!(bad[0].contains("nickname") && bad[1].contains("FIELD=AUTHORITY") && bad[2].contains("sometimes"));
    }

    #[test]
    fn metadata_keys() {
        assert!(metadata_key_problem("cost_centre").is_none());
        for bad in ["", "a.b", "$x", "auth0_sync", " x"] {
            assert!(metadata_key_problem(bad).is_some(), "{bad:?}");
        }
    }

    #[test]
    fn namespace_is_whole_or_null() {
        assert_eq!(Namespace::default().to_value(), Value::Null);
        let n = Namespace { key: Some("E1".into()), blocked: true };
        assert_eq!(n.to_value(), serde_json::json!({"key": "E1", "blocked": true}));
        let n = Namespace { key: Some("E1".into()), blocked: false };
        assert_eq!(n.to_value(), serde_json::json!({"key": "E1"}));
    }
}
