//! What the planner may do: one value built from the settings.

use crate::caps::{CapBase, DeleteCap, RemovalCaps, RemovalCapsRecord};
use crate::fields::{Authority, FieldAuthority, OnNull};
use crate::ignore::IgnoreList;
use crate::model::TenantSnapshot;
use crate::plan::Changeset;
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
    /// The caps on blocks and role removals (overall and per role).
    pub removal_caps: RemovalCaps,
    /// `--delete-after` with the plan's clock: users the tool blocked long enough ago
    /// are deleted (with `on_missing` `block`).
    pub two_stage: Option<crate::leavers::TwoStage>,
    /// `--revoke-sessions`: apply revokes the sessions and refresh tokens of the users
    /// it blocks.
    pub revoke_sessions: bool,
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

    /// The bases of the removal caps in `tenant` (the whole connection, also for a
    /// partial plan).
    pub fn cap_base(&self, tenant: &TenantSnapshot) -> CapBase {
        CapBase::of(tenant, &self.connection, &self.managed_roles)
    }

    /// The record of this policy kept in the plan of `changeset`, planned on `tenant`.
    pub fn record(&self, tenant: &TenantSnapshot, changeset: &Changeset) -> PolicyRecord {
        let connection_users = changeset.summary.connection_users;
        let base = CapBase { connection_users, ..self.cap_base(tenant) };
        PolicyRecord {
            ignore_users: self.ignore.patterns().to_vec(),
            managed_roles: self.managed_roles.0.as_ref().map(|m| m.iter().cloned().collect()),
            on_missing: self.on_missing,
            delete_cap: self.delete_cap,
            max_deletes: self.delete_cap.limit(connection_users),
            on_null: self.on_null,
            field_authority: self.authority.record(),
            removal_caps: RemovalCapsRecord::new(&self.removal_caps, &base, changeset),
            revoke_sessions: self.revoke_sessions,
            delete_after: self.two_stage.map(|t| crate::plan::DeleteAfterRecord {
                seconds: t.delete_after.num_seconds().max(0) as u64,
                now: t.now,
            }),
        }
    }
}
