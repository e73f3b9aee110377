//! Targeted plans (`plan --only EMAIL`, `--only-file FILE`): the changes the full
//! rules give for a few users only, for an urgent leaver or joiner that cannot wait
//! for the next full run. Every safety rail still applies: the empty-source check
//! looks at the whole source and the deletion cap at the whole connection.

use crate::caps::check_delete_cap;
use crate::email;
use crate::error::PlanError;
use crate::model::{DesiredState, TenantSnapshot};
use crate::plan::Changeset;
use crate::planner;
use crate::policy::Policy;
use std::collections::BTreeSet;

/// The users a partial plan is about: normalised emails.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Targets(BTreeSet<String>);

impl Targets {
    /// Normalises every email (trimmed, lower-cased); the ones that are not plausible
    /// addresses are the error, all of them.
    pub fn new<I: IntoIterator<Item = S>, S: AsRef<str>>(raw: I) -> Result<Targets, Vec<String>> {
        let mut set = BTreeSet::new();
        let mut bad = Vec::new();
        for r in raw {
            match email::normalize(r.as_ref()) {
                Some(e) => {
                    set.insert(e);
                }
                None => bad.push(r.as_ref().trim().to_owned()),
            }
        }
        if bad.is_empty() { Ok(Targets(set)) } else { Err(bad) }
    }

    pub fn contains(&self, e: &str) -> bool {
        self.0.contains(email::key(e).as_ref())
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Sorted.
    pub fn iter(&self) -> impl Iterator<Item = &String> {
        self.0.iter()
    }

    /// Targets that are neither desired users nor users of the policy's connection.
    pub fn unknown(&self, desired: &DesiredState, tenant: &TenantSnapshot, connection: &str) -> Vec<String> {
        let in_tenant: BTreeSet<String> = tenant
            .users
            .values()
            .filter(|u| u.connection == connection)
            .filter_map(|u| u.email.as_deref())
            .map(|e| email::key(e).into_owned())
            .filter(|e| self.0.contains(e))
            .collect();
        self.0.iter().filter(|e| !desired.users.contains_key(*e) && !in_tenant.contains(*e)).cloned().collect()
    }
}

/// [`planner::plan`] for `targets` only: the changes the full rules give for these
/// users (create, update, unblock, block or delete), nothing for anyone else.
///
/// Errors, besides the planner's: [`PlanError::UnknownTargets`] listing every
/// target found neither in the source nor among the connection's users;
/// [`PlanError::EmptySource`] when the whole source is empty; and
/// [`PlanError::TooManyDeletes`] against the whole connection's user count, which is
/// also what `summary.connection_users` records. Source warnings are kept whole.
pub fn plan_targets(
    desired: &DesiredState,
    tenant: &TenantSnapshot,
    policy: &Policy,
    targets: &Targets,
) -> Result<Changeset, PlanError> {
    if desired.users.is_empty() && !policy.allow_empty_source {
        return Err(PlanError::EmptySource { rows: desired.rows });
    }
    let unknown = targets.unknown(desired, tenant, &policy.connection);
    if !unknown.is_empty() {
        return Err(PlanError::UnknownTargets { emails: unknown });
    }
    let sub_desired = DesiredState {
        users: desired.users.iter().filter(|(e, _)| targets.contains(e)).map(|(e, u)| (e.clone(), u.clone())).collect(),
        warnings: desired.warnings.clone(),
        rows: desired.rows,
    };
    let connection_users = tenant.users.values().filter(|u| u.connection == policy.connection).count() as u32;
    let sub_tenant = TenantSnapshot {
        roles: tenant.roles.clone(),
        markers: tenant.markers.clone(),
        users: tenant
            .users
            .iter()
            .filter(|(_, u)| {
                u.connection == policy.connection && u.email.as_deref().is_some_and(|e| targets.contains(e))
            })
            .map(|(id, u)| (id.clone(), u.clone()))
            .collect(),
    };
    let inner = Policy {
        allow_empty_source: true,
        delete_cap: crate::caps::DeleteCap::Unlimited,
        removal_caps: crate::caps::RemovalCaps::UNLIMITED,
        ..policy.clone()
    };
    let mut changeset = planner::plan(&sub_desired, &sub_tenant, &inner)?;
    changeset.summary.connection_users = connection_users;
    check_delete_cap(&changeset, connection_users, policy.delete_cap)?;
    let base = crate::caps::CapBase { connection_users, ..policy.cap_base(tenant) };
    crate::caps::check_removal_caps(&changeset, &base, &policy.removal_caps)?;
    Ok(changeset)
}
