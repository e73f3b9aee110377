//! The one home of removal caps: how many users a plan may delete or block and how
//! many role assignments it may remove (overall and per role), checked at plan time,
//! recorded in the plan (the caps its reviewer saw) and checked again at apply time,
//! where a flag may only lower them.

use crate::error::PlanError;
use crate::plan::Changeset;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::fmt;

pub use crate::removal_caps::{
    CapBase, CapKind, CapRecord, PerRoleCapRecord, RemovalCapFlags, RemovalCaps, RemovalCapsRecord, RoleCapRecord,
    check_apply_removal_caps, check_removal_caps, effective_cap_for,
};

/// One removal cap (deletions, blocks, role removals, removals of one role).
///
/// Written in a plan as text: `default`, `unlimited`, `N` or `N%` (what
/// `--max-deletes`, `--max-blocks`, `--max-role-removals` and
/// `--max-role-removals-per-role` take). `default` means the kind's own default
/// ([`CapKind::default_rule`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum DeleteCap {
    /// Default: for deletions 10% of the connection's users, but always up to 5 and
    /// never over 1000; each kind has its own ([`CapKind::default_rule`]).
    #[default]
    Default,
    /// `--max-deletes N`.
    Count(u32),
    /// `--max-deletes N%` of the connection's users.
    Percent(u32),
    /// `--allow-mass-delete`: no cap.
    Unlimited,
}

impl DeleteCap {
    /// The most deletions allowed for a connection of `users` users; `None` = no cap.
    pub fn limit(self, users: u32) -> Option<u32> {
        self.limit_for(CapKind::Deletes, users)
    }

    /// The most removals of `kind` allowed on a base of `base` (connection users, role
    /// assignments, holders of a role); `None` = no cap.
    pub fn limit_for(self, kind: CapKind, base: u32) -> Option<u32> {
        let pct = |p: u32| (u64::from(base) * u64::from(p) / 100) as u32;
        match self {
            DeleteCap::Default => {
                let (p, floor, ceiling) = kind.default_rule();
                let l = pct(p).max(floor);
                Some(ceiling.map_or(l, |c| l.min(c)))
            }
            DeleteCap::Count(n) => Some(n),
            DeleteCap::Percent(p) => Some(pct(p)),
            DeleteCap::Unlimited => None,
        }
    }

    /// Parses `N` or `N%` (what `--max-deletes` takes).
    pub fn parse(s: &str) -> Result<DeleteCap, String> {
        let s = s.trim();
        let (num, pct) = match s.strip_suffix('%') {
            Some(n) => (n.trim(), true),
            None => (s, false),
        };
        let n: u32 = num.parse().map_err(|_| format!("{s:?} is not a whole number or a percentage like 5%"))?;
        if pct && n > 100 {
            return Err(format!("{s:?} is more than 100%"));
        }
        Ok(if pct { DeleteCap::Percent(n) } else { DeleteCap::Count(n) })
    }
}

/// `default`, `unlimited`, `25`, `80%`.
impl fmt::Display for DeleteCap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeleteCap::Default => f.write_str("default"),
            DeleteCap::Count(n) => write!(f, "{n}"),
            DeleteCap::Percent(p) => write!(f, "{p}%"),
            DeleteCap::Unlimited => f.write_str("unlimited"),
        }
    }
}

impl From<DeleteCap> for String {
    fn from(c: DeleteCap) -> String {
        c.to_string()
    }
}

impl TryFrom<String> for DeleteCap {
    type Error = String;
    fn try_from(s: String) -> Result<DeleteCap, String> {
        match s.as_str() {
            "default" => Ok(DeleteCap::Default),
            "unlimited" => Ok(DeleteCap::Unlimited),
            // Exactly as written: no spaces, no sign, no leading zeros.
            other
                if other.starts_with(|c: char| c.is_ascii_digit()) && DeleteCap::parse(other)?.to_string() == other =>
            {
                DeleteCap::parse(other)
            }
            other => Err(format!("{other:?} is not a deletion cap (default, unlimited, N or N%)")),
        }
    }
}

impl JsonSchema for DeleteCap {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "deleteCap".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A removal cap as `--max-deletes` (and `--max-blocks`, `--max-role-removals`, `--max-role-removals-per-role`) takes it: `default` (the kind's default; for deletions and blocks 10% of the connection's users, at least 5 and at most 1000; for role removals 20% of the managed role assignments, at least 5 and at most 2000; per role 25% of the role's holders, at least 5), `unlimited` (`--allow-mass-delete`), a count `N`, or a percentage `N%` of the base.",
            "type": "string",
            "pattern": "^(default|unlimited|0|[1-9][0-9]{0,9}|([0-9]|[1-9][0-9]|100)%)$"
        })
    }
}

/// Refuses a changeset whose deletions exceed the cap for a connection of
/// `connection_users` users (blocks have their own cap, [`check_removal_caps`]).
/// Used at plan time and again at apply time.
pub fn check_delete_cap(changeset: &Changeset, connection_users: u32, cap: DeleteCap) -> Result<(), PlanError> {
    let removals = changeset.summary.delete_user;
    match cap.limit(connection_users) {
        Some(limit) if removals > limit => Err(PlanError::TooManyDeletes { removals, users: connection_users, limit }),
        _ => Ok(()),
    }
}

/// The cap apply enforces: the one recorded in the plan (what its reviewer approved),
/// or the apply-time flag when that is lower. A flag that would allow more than the
/// recorded cap is refused: approval travels with the plan and can only be narrowed.
///
/// Both caps are compared by the limits they give for a connection of
/// `connection_users` users (the tenant as it is at apply time), so `25` and `10%`
/// compare as 25 and 10% of the users then. Equal limits keep the flag.
pub fn effective_cap(
    recorded: DeleteCap,
    apply_flag: Option<DeleteCap>,
    connection_users: u32,
) -> Result<DeleteCap, PlanError> {
    let Some(flag) = apply_flag else { return Ok(recorded) };
    if let Some((flag_limit, recorded_limit)) = wider(CapKind::Deletes, recorded, flag, connection_users) {
        return Err(PlanError::CapAboveApproved {
            flag: flag.to_string(),
            flag_limit: describe_limit(flag_limit),
            recorded: recorded.to_string(),
            recorded_limit: describe_limit(recorded_limit),
            users: connection_users,
        });
    }
    Ok(flag)
}

/// What apply checks: the changeset against [`effective_cap`] for the tenant's
/// `connection_users` at apply time.
pub fn check_apply_cap(
    changeset: &Changeset,
    recorded: DeleteCap,
    apply_flag: Option<DeleteCap>,
    connection_users: u32,
) -> Result<DeleteCap, PlanError> {
    let cap = effective_cap(recorded, apply_flag, connection_users)?;
    check_delete_cap(changeset, connection_users, cap)?;
    Ok(cap)
}

/// The two limits when `flag` allows more than `recorded` on `base`; `None` when it
/// does not (equal limits keep the flag).
pub(crate) fn wider(
    kind: CapKind,
    recorded: DeleteCap,
    flag: DeleteCap,
    base: u32,
) -> Option<(Option<u32>, Option<u32>)> {
    let (flag_limit, recorded_limit) = (flag.limit_for(kind, base), recorded.limit_for(kind, base));
    let wider = match (flag_limit, recorded_limit) {
        (_, None) => false,
        (None, Some(_)) => true,
        (Some(f), Some(r)) => f > r,
    };
    wider.then_some((flag_limit, recorded_limit))
}

pub(crate) fn describe_limit(l: Option<u32>) -> String {
    l.map_or_else(|| "no limit".to_owned(), |n| n.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_form_round_trips() {
        for c in [
            DeleteCap::Default,
            DeleteCap::Unlimited,
            DeleteCap::Count(0),
            DeleteCap::Count(25),
            DeleteCap::Percent(80),
        ] {
            let s = serde_json::to_string(&c).unwrap();
            assert_eq!(serde_json::from_str::<DeleteCap>(&s).unwrap(), c, "{s}");
        }
        assert_eq!(serde_json::to_string(&DeleteCap::Percent(80)).unwrap(), "\"80%\"");
        for bad in ["\"\"", "\"lots\"", "\"101%\"", "\"-1\"", "\" 5\"", "\"05\"", "\"5 %\"", "\"Default\""] {
            assert!(serde_json::from_str::<DeleteCap>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn apply_flag_may_only_lower_the_recorded_cap() {
        let p80 = DeleteCap::Percent(80);
        assert_eq!(effective_cap(p80, None, 1000).ok(), Some(p80));
        assert_eq!(effective_cap(p80, Some(DeleteCap::Count(5)), 1000).ok(), Some(DeleteCap::Count(5)));
        assert_eq!(effective_cap(p80, Some(DeleteCap::Percent(80)), 1000).ok(), Some(p80));
        assert!(matches!(
            effective_cap(p80, Some(DeleteCap::Percent(90)), 1000),
            Err(PlanError::CapAboveApproved { .. })
        ));
        assert!(matches!(
            effective_cap(p80, Some(DeleteCap::Unlimited), 1000),
            Err(PlanError::CapAboveApproved { .. })
        ));
        // Mixed kinds compare by the limit at the apply-time user count.
        assert_eq!(
            effective_cap(DeleteCap::Count(25), Some(DeleteCap::Percent(10)), 100).ok(),
            Some(DeleteCap::Percent(10))
        );
        assert!(effective_cap(DeleteCap::Count(25), Some(DeleteCap::Percent(10)), 1000).is_err());
        // Default at 40 users is 5; a flag of 5 equals it, 6 is above it.
        assert_eq!(effective_cap(DeleteCap::Default, Some(DeleteCap::Count(5)), 40).ok(), Some(DeleteCap::Count(5)));
        assert!(effective_cap(DeleteCap::Default, Some(DeleteCap::Count(6)), 40).is_err());
        // Anything lowers unlimited.
        assert_eq!(effective_cap(DeleteCap::Unlimited, Some(DeleteCap::Default), 5).ok(), Some(DeleteCap::Default));
        assert_eq!(effective_cap(DeleteCap::Unlimited, Some(DeleteCap::Unlimited), 5).ok(), Some(DeleteCap::Unlimited));
    }
}
