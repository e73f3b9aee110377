//! What the planner may do: one value built from the settings.

use crate::caps::DeleteCap;
use crate::fields::{Authority, FieldAuthority, OnNull};
use crate::ignore::IgnoreList;
use crate::plan::{OnMissing, PolicyRecord};
use crate::roles::ManagedRoles;

/// What the planner may do.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Only users of this connection are created, changed or deleted.
    pub connection: String,
    pub ignore: IgnoreList,
    /// Roles the tool may assign and remove; `None` = all.
    pub managed_roles: ManagedRoles,
    pub on_missing: OnMissing,
    pub delete_cap: DeleteCap,
    /// Plan even when the source returned no users (which would remove everyone).
    pub allow_empty_source: bool,
    /// Plan the creation of roles the source names that the tenant lacks.
    pub create_missing_roles: bool,
    /// What a NULL in a synced column does.
    pub on_null: OnNull,
    /// Who wins for each synced field.
    pub authority: FieldAuthority,
}

impl Policy {
    pub fn manages(&self, role: &str) -> bool {
        self.managed_roles.manages(role)
    }

    /// The authority of a synced field.
    pub fn authority_of(&self, field: &str) -> Authority {
        self.authority.of(field)
    }

    /// The record of this policy kept in the plan.
    pub fn record(&self, connection_users: u32) -> PolicyRecord {
        PolicyRecord {
            ignore_users: self.ignore.patterns().to_vec(),
            managed_roles: self.managed_roles.0.as_ref().map(|m| m.iter().cloned().collect()),
            on_missing: self.on_missing,
            delete_cap: self.delete_cap,
            max_deletes: self.delete_cap.limit(connection_users),
            on_null: self.on_null,
            field_authority: self.authority.record(),
        }
    }
}
