//! Caps on every kind of removal besides deletions: blocks, role removals overall and
//! role removals per role. Their defaults, the bases they are a share of, the record a
//! plan keeps (so apply enforces what the reviewer saw) and the checks at plan and at
//! apply time. Re-exported through `caps`, the one home of removal caps.

use crate::caps::{DeleteCap, describe_limit, wider};
use crate::error::PlanError;
use crate::model::TenantSnapshot;
use crate::plan::Changeset;
use crate::roles::ManagedRoles;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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

/// Role name → how many users the changeset removes it from.
fn removals_per_role(cs: &Changeset) -> BTreeMap<&str, u32> {
    let mut m: BTreeMap<&str, u32> = BTreeMap::new();
    for c in &cs.changes {
        for r in c.remove() {
            *m.entry(r).or_default() += 1;
        }
    }
    m
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
pub fn check_removal_caps(cs: &Changeset, base: &CapBase, caps: &RemovalCaps) -> Result<(), PlanError> {
    check_one(CapKind::Blocks, caps.blocks, cs.summary.block_user, base.connection_users, None)?;
    check_one(CapKind::RoleRemovals, caps.role_removals, cs.summary.roles_removed, base.role_assignments(), None)?;
    for (role, n) in removals_per_role(cs) {
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
    cs: &Changeset,
    recorded: &RemovalCapsRecord,
    flags: &RemovalCapFlags,
    base: &CapBase,
) -> Result<(), PlanError> {
    let users = base.connection_users;
    let cap = effective_cap_for(CapKind::Blocks, recorded.blocks.cap, flags.blocks, users, None)?;
    check_one(CapKind::Blocks, cap, cs.summary.block_user, users, None)?;
    let assignments = base.role_assignments();
    let kind = CapKind::RoleRemovals;
    let cap = effective_cap_for(kind, recorded.role_removals.cap, flags.role_removals, assignments, None)?;
    check_one(kind, cap, cs.summary.roles_removed, assignments, None)?;
    let kind = CapKind::RoleRemovalsPerRole;
    for (role, n) in removals_per_role(cs) {
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
    pub fn new(caps: &RemovalCaps, base: &CapBase, cs: &Changeset) -> RemovalCapsRecord {
        let rec = |kind, cap: DeleteCap, base| CapRecord { cap, base, max: cap.limit_for(kind, base) };
        let per_role = caps.per_role;
        let roles = removals_per_role(cs)
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
    pub(crate) fn consistency(&self, cs: &Changeset) -> Result<(), String> {
        let s = &cs.summary;
        if self.blocks.base != s.connection_users {
            return Err("the recorded block cap's base is not summary.connection_users".into());
        }
        let checks = [
            ("block", CapKind::Blocks, &self.blocks, s.block_user),
            ("role removal", CapKind::RoleRemovals, &self.role_removals, s.roles_removed),
        ];
        for (name, kind, r, count) in checks {
            if r.max != r.cap.limit_for(kind, r.base) {
                return Err(format!("the recorded {name} max does not follow from its cap {} on {}", r.cap, r.base));
            }
            if r.max.is_some_and(|m| count > m) {
                return Err(format!("the plan has {count} {name}(s), more than its recorded cap"));
            }
        }
        let per = removals_per_role(cs);
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
