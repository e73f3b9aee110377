//! The one home of role rules: comma-separated role lists, which roles the tool
//! manages, and a tenant user's roles as the plan names them.

use crate::model::{NameSet, TenantSnapshot, TenantUser};
use std::collections::BTreeSet;

/// Splits a comma-separated list (a `roles` cell, `AUTH0_MANAGED_ROLES`) into
/// trimmed, non-empty names.
pub fn split_list(cell: &str) -> Vec<String> {
    cell.split(',').map(str::trim).filter(|r| !r.is_empty()).map(str::to_owned).collect()
}

/// Which roles the tool may assign and remove.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct ManagedRoles(pub Option<BTreeSet<String>>);

impl ManagedRoles {
    /// Every role.
    pub const ALL: ManagedRoles = ManagedRoles(None);

    pub fn manages(&self, role: &str) -> bool {
        self.0.as_ref().is_none_or(|m| m.contains(role))
    }

    /// The managed role names of a tenant user, sorted. Role ids the snapshot does
    /// not list cannot be named, so they are never part of a plan's states.
    pub fn names_of<'a>(&self, user: &TenantUser, tenant: &'a TenantSnapshot) -> Vec<&'a str> {
        let mut v: Vec<&str> = user
            .role_ids
            .iter()
            .filter_map(|id| tenant.roles.get(id).map(|r| r.name.as_str()))
            .filter(|r| self.manages(r))
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// [`ManagedRoles::names_of`] as an owned set.
    pub fn set_of(&self, user: &TenantUser, tenant: &TenantSnapshot) -> NameSet {
        NameSet::from_sorted(self.names_of(user, tenant).into_iter().map(str::to_owned).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_list_handles_spaces_and_empties() {
        assert_eq!(split_list(" a, b ,,c "), ["a", "b", "c"]);
        assert!(split_list("").is_empty());
    }
}
