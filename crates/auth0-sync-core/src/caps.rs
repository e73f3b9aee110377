//! The one home of removal caps: how many users a plan may delete or block and how
//! many role assignments it may remove (overall and per role), checked at plan time,
//! recorded in the plan (the caps its reviewer saw) and checked again at apply time,
//! where a flag may only lower them.

use crate::error::PlanError;
use crate::model::TenantSnapshot;
use crate::roles::ManagedRoles;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// What a plan removes, as the caps count it. The plan's changeset implements it
/// (`plan.rs`); the caps know nothing else of plans.
pub trait Removals {
    /// Users deleted.
    fn deletes(&self) -> u32;
    /// Users blocked.
    fn blocks(&self) -> u32;
    /// Managed role assignments removed.
    fn role_removals(&self) -> u32;
    /// Users connection-wide the plan's summary counts.
    fn connection_users(&self) -> u32;
    /// Role name → how many users it is removed from.
    fn removals_per_role(&self) -> BTreeMap<&str, u32>;
}

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
pub fn check_delete_cap(changeset: &impl Removals, connection_users: u32, cap: DeleteCap) -> Result<(), PlanError> {
    let removals = changeset.deletes();
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
    changeset: &impl Removals,
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

// ---------------------------------------------------------------- blocks and role removals

/// The kinds of removal a plan is capped on, each with its own flag and default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CapKind {
    /// `delete_user` changes, of the connection's users.
    Deletes,
    /// `block_user` changes, of the connection's users.
    Blocks,
    /// Role removals over all changes, of the managed role assignments of the
    /// connection's users.
    RoleRemovals,
    /// Removals of one role, of that role's holders in the connection.
    RoleRemovalsPerRole,
}

impl CapKind {
    /// The flag that sets this cap.
    pub fn flag(self) -> &'static str {
        match self {
            CapKind::Deletes => "--max-deletes",
            CapKind::Blocks => "--max-blocks",
            CapKind::RoleRemovals => "--max-role-removals",
            CapKind::RoleRemovalsPerRole => "--max-role-removals-per-role",
        }
    }

    /// `default`: (percent of the base, floor, ceiling). The floors keep small tenants
    /// from losing most of their users to one bad query (8 of 11 is refused); the
    /// percentages are about twice ordinary churn (5% leavers, 10% role changes) so
    /// that a big tenant's normal day passes; the ceilings bound the damage on huge
    /// tenants.
    pub const fn default_rule(self) -> (u32, u32, Option<u32>) {
        match self {
            CapKind::Deletes | CapKind::Blocks => (10, 5, Some(1000)),
            CapKind::RoleRemovals => (20, 5, Some(2000)),
            CapKind::RoleRemovalsPerRole => (25, 5, None),
        }
    }
}

/// The caps on blocks and role removals a plan is made with (the deletion cap is
/// `Policy::delete_cap`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RemovalCaps {
    /// `--max-blocks`.
    pub blocks: DeleteCap,
    /// `--max-role-removals`.
    pub role_removals: DeleteCap,
    /// `--max-role-removals-per-role`.
    pub per_role: DeleteCap,
}

impl RemovalCaps {
    /// No cap on blocks or role removals (`--allow-mass-delete`).
    pub const UNLIMITED: RemovalCaps = RemovalCaps {
        blocks: DeleteCap::Unlimited,
        role_removals: DeleteCap::Unlimited,
        per_role: DeleteCap::Unlimited,
    };
}

/// The caps typed at apply for blocks and role removals; each may only lower the
/// recorded one. `None`: the recorded cap.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RemovalCapFlags {
    pub blocks: Option<DeleteCap>,
    pub role_removals: Option<DeleteCap>,
    pub per_role: Option<DeleteCap>,
}

/// What the caps are a share of, from a tenant view: the connection's users and how
/// many of them hold each managed role.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CapBase {
    pub connection_users: u32,
    /// Managed role name → holders among the connection's users.
    pub role_holders: BTreeMap<String, u32>,
}

impl CapBase {
    /// Counts the connection's users (primary identities) and the holders of each
    /// managed role among them.
    pub fn of(tenant: &TenantSnapshot, connection: &str, managed: &ManagedRoles) -> CapBase {
        let names: BTreeMap<&str, &str> = tenant
            .roles
            .values()
            .filter(|r| managed.manages(&r.name))
            .map(|r| (r.id.as_str(), r.name.as_str()))
            .collect();
        let mut holders: BTreeMap<&str, u32> = BTreeMap::new();
        let mut connection_users = 0;
        for u in tenant.users.values().filter(|u| u.connection == connection && u.linked_to.is_none()) {
            connection_users += 1;
            for id in &u.role_ids {
                if let Some(name) = names.get(id.as_str()) {
                    *holders.entry(name).or_default() += 1;
                }
            }
        }
        CapBase { connection_users, role_holders: holders.into_iter().map(|(k, v)| (k.to_owned(), v)).collect() }
    }

    /// Managed role assignments of the connection's users (the base of
    /// `--max-role-removals`).
    pub fn role_assignments(&self) -> u32 {
        self.role_holders.values().sum()
    }

    pub fn holders(&self, role: &str) -> u32 {
        self.role_holders.get(role).copied().unwrap_or(0)
    }
}

/// What a refusal says about `count` removals of `kind` on `base`.
fn what(kind: CapKind, count: u32, base: u32, role: Option<&str>) -> String {
    match kind {
        CapKind::Deletes => format!("the plan deletes {count} of the connection's {base} users"),
        CapKind::Blocks => format!("the plan blocks {count} of the connection's {base} users"),
        CapKind::RoleRemovals => {
            format!("the plan removes {count} of the connection's {base} managed role assignments")
        }
        CapKind::RoleRemovalsPerRole => {
            format!("the plan removes role {:?} from {count} of its {base} holders", role.unwrap_or_default())
        }
    }
}

/// What a limit at apply is a limit of, for [`PlanError::RemovalCapAboveApproved`].
fn of(kind: CapKind, base: u32, role: Option<&str>) -> String {
    match kind {
        CapKind::Deletes => format!("deletion(s) of the connection's {base} users"),
        CapKind::Blocks => format!("block(s) of the connection's {base} users"),
        CapKind::RoleRemovals => format!("role removal(s) of the connection's {base} managed role assignments"),
        CapKind::RoleRemovalsPerRole => {
            format!("removal(s) of role {:?} from its {base} holders", role.unwrap_or_default())
        }
    }
}

fn check_one(kind: CapKind, cap: DeleteCap, count: u32, base: u32, role: Option<&str>) -> Result<(), PlanError> {
    match cap.limit_for(kind, base) {
        Some(limit) if count > limit => {
            Err(PlanError::TooManyRemovals { flag: kind.flag(), what: what(kind, count, base, role), limit })
        }
        _ => Ok(()),
    }
}

/// Refuses a changeset whose blocks, role removals, or removals of any one role
/// exceed their caps on `base`. Used at plan time (apply uses
/// [`check_apply_removal_caps`]).
pub fn check_removal_caps(cs: &impl Removals, base: &CapBase, caps: &RemovalCaps) -> Result<(), PlanError> {
    check_one(CapKind::Blocks, caps.blocks, cs.blocks(), base.connection_users, None)?;
    check_one(CapKind::RoleRemovals, caps.role_removals, cs.role_removals(), base.role_assignments(), None)?;
    for (role, n) in cs.removals_per_role() {
        check_one(CapKind::RoleRemovalsPerRole, caps.per_role, n, base.holders(role), Some(role))?;
    }
    Ok(())
}

/// The cap apply enforces for `kind` on `base`: the recorded one, or the flag when it
/// is not higher; a higher flag is refused.
pub fn effective_cap_for(
    kind: CapKind,
    recorded: DeleteCap,
    flag: Option<DeleteCap>,
    base: u32,
    role: Option<&str>,
) -> Result<DeleteCap, PlanError> {
    let Some(flag) = flag else { return Ok(recorded) };
    if let Some((flag_limit, recorded_limit)) = wider(kind, recorded, flag, base) {
        return Err(PlanError::RemovalCapAboveApproved {
            flag: kind.flag(),
            value: flag.to_string(),
            flag_limit: describe_limit(flag_limit),
            recorded: recorded.to_string(),
            recorded_limit: describe_limit(recorded_limit),
            of: of(kind, base, role),
        });
    }
    Ok(flag)
}

/// What apply checks before its first write: the changeset's blocks and role
/// removals against the caps recorded in the plan (or lower flags), on the bases of
/// the tenant as it is at apply time.
pub fn check_apply_removal_caps(
    cs: &impl Removals,
    recorded: &RemovalCapsRecord,
    flags: &RemovalCapFlags,
    base: &CapBase,
) -> Result<(), PlanError> {
    let users = base.connection_users;
    let cap = effective_cap_for(CapKind::Blocks, recorded.blocks.cap, flags.blocks, users, None)?;
    check_one(CapKind::Blocks, cap, cs.blocks(), users, None)?;
    let assignments = base.role_assignments();
    let kind = CapKind::RoleRemovals;
    let cap = effective_cap_for(kind, recorded.role_removals.cap, flags.role_removals, assignments, None)?;
    check_one(kind, cap, cs.role_removals(), assignments, None)?;
    let kind = CapKind::RoleRemovalsPerRole;
    for (role, n) in cs.removals_per_role() {
        let holders = base.holders(role);
        let cap = effective_cap_for(kind, recorded.role_removals_per_role.cap, flags.per_role, holders, Some(role))?;
        check_one(kind, cap, n, holders, Some(role))?;
    }
    Ok(())
}

/// One cap as a plan records it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "capRecord", deny_unknown_fields)]
pub struct CapRecord {
    /// The cap as given (`default`, `unlimited`, `N`, `N%`).
    pub cap: DeleteCap,
    /// What a percentage is of, in the tenant snapshot: the connection's users for
    /// blocks, the managed role assignments of the connection's users for role removals.
    pub base: u32,
    /// The most removals `cap` allowed on `base`; null when there is no cap.
    pub max: Option<u32>,
}

/// One role's cap as a plan records it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "roleCapRecord", deny_unknown_fields)]
pub struct RoleCapRecord {
    /// Users of the connection holding the role in the tenant snapshot.
    pub holders: u32,
    /// The most removals of the role the cap allowed; null when there is no cap.
    pub max: Option<u32>,
}

/// The per-role cap as a plan records it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "perRoleCapRecord", deny_unknown_fields)]
pub struct PerRoleCapRecord {
    /// The cap as given (`--max-role-removals-per-role`).
    pub cap: DeleteCap,
    /// Every role the plan removes from anyone, with its holders and limit.
    pub roles: BTreeMap<String, RoleCapRecord>,
}

/// The caps on blocks and role removals the plan was made and reviewed with.
/// `apply` checks the plan against them again, on the tenant as it is then; an apply
/// flag may only lower them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "removalCaps", deny_unknown_fields)]
pub struct RemovalCapsRecord {
    /// `--max-blocks`: `block_user` changes, of the connection's users (default 10%,
    /// at least 5, at most 1000).
    pub blocks: CapRecord,
    /// `--max-role-removals`: role removals over all changes, of the managed role
    /// assignments (default 20%, at least 5, at most 2000).
    pub role_removals: CapRecord,
    /// `--max-role-removals-per-role`: removals of each role, of its holders (default
    /// 25%, at least 5).
    pub role_removals_per_role: PerRoleCapRecord,
}

impl RemovalCapsRecord {
    /// The record of `caps` for `cs`, planned on `base`.
    pub fn new(caps: &RemovalCaps, base: &CapBase, cs: &impl Removals) -> RemovalCapsRecord {
        let rec = |kind, cap: DeleteCap, base| CapRecord { cap, base, max: cap.limit_for(kind, base) };
        let per_role = caps.per_role;
        let roles = cs
            .removals_per_role()
            .into_keys()
            .map(|r| {
                let holders = base.holders(r);
                (
                    r.to_owned(),
                    RoleCapRecord { holders, max: per_role.limit_for(CapKind::RoleRemovalsPerRole, holders) },
                )
            })
            .collect();
        RemovalCapsRecord {
            blocks: rec(CapKind::Blocks, caps.blocks, base.connection_users),
            role_removals: rec(CapKind::RoleRemovals, caps.role_removals, base.role_assignments()),
            role_removals_per_role: PerRoleCapRecord { cap: per_role, roles },
        }
    }

    /// That the record is one the planner could have written for `cs`: limits follow
    /// from caps and bases, counts are within the limits, every removed role is listed.
    pub(crate) fn consistency(&self, cs: &impl Removals) -> Result<(), String> {
        if self.blocks.base != cs.connection_users() {
            return Err("the recorded block cap's base is not summary.connection_users".into());
        }
        let checks = [
            ("block", CapKind::Blocks, &self.blocks, cs.blocks()),
            ("role removal", CapKind::RoleRemovals, &self.role_removals, cs.role_removals()),
        ];
        for (name, kind, r, count) in checks {
            if r.max != r.cap.limit_for(kind, r.base) {
                return Err(format!("the recorded {name} max does not follow from its cap {} on {}", r.cap, r.base));
            }
            if r.max.is_some_and(|m| count > m) {
                return Err(format!("the plan has {count} {name}(s), more than its recorded cap"));
            }
        }
        let per = cs.removals_per_role();
        let roles = &self.role_removals_per_role.roles;
        if !per.keys().copied().eq(roles.keys().map(String::as_str)) {
            return Err("the recorded per-role caps do not list exactly the roles the plan removes".into());
        }
        for ((role, n), r) in per.iter().zip(roles.values()) {
            if r.max != self.role_removals_per_role.cap.limit_for(CapKind::RoleRemovalsPerRole, r.holders) {
                return Err(format!("the recorded max for role {role:?} does not follow from its cap"));
            }
            if r.holders < *n || r.max.is_some_and(|m| *n > m) {
                return Err(format!("the plan removes role {role:?} {n} time(s), more than its record allows"));
            }
        }
        Ok(())
    }
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

#[cfg(test)]
mod removal_tests {
    use super::*;

    #[test]
    fn defaults_refuse_eight_of_eleven_and_allow_ordinary_churn() {
        let d = DeleteCap::Default;
        for kind in [CapKind::Deletes, CapKind::Blocks] {
            assert_eq!(d.limit_for(kind, 11), Some(5), "8 of 11 is over the floor");
            assert!(d.limit_for(kind, 10_000).unwrap() >= 500, "5% leavers of 10,000");
            assert_eq!(d.limit_for(kind, 1_000_000), Some(1000));
        }
        assert!(d.limit_for(CapKind::RoleRemovals, 10_000).unwrap() >= 1000, "10% role changes");
        assert_eq!(d.limit_for(CapKind::RoleRemovals, 11), Some(5));
        assert_eq!(d.limit_for(CapKind::RoleRemovalsPerRole, 400), Some(100));
        assert_eq!(d.limit_for(CapKind::RoleRemovalsPerRole, 3), Some(5));
    }

    #[test]
    fn apply_flags_may_only_lower_each_recorded_cap() {
        let k = CapKind::Blocks;
        assert_eq!(effective_cap_for(k, DeleteCap::Default, None, 100, None).ok(), Some(DeleteCap::Default));
        assert_eq!(
            effective_cap_for(k, DeleteCap::Default, Some(DeleteCap::Count(3)), 100, None).ok(),
            Some(DeleteCap::Count(3))
        );
        let e = effective_cap_for(k, DeleteCap::Default, Some(DeleteCap::Count(11)), 100, None).unwrap_err();
        assert!(matches!(e, PlanError::RemovalCapAboveApproved { flag: "--max-blocks", .. }), "{e:?}");
        let e = effective_cap_for(
            CapKind::RoleRemovalsPerRole,
            DeleteCap::Count(2),
            Some(DeleteCap::Unlimited),
            9,
            Some("admin"),
        )
        .unwrap_err();
        assert!(e.to_string().contains("\"admin\""), "{e}");
    }
}
