//! Targeted plans (`plan --only EMAIL`, `--only-file FILE`): the changes the full
//! rules give for a few users only, for an urgent leaver or joiner that cannot wait
//! for the next full run. Every safety rail still applies: the empty-source check
//! looks at the whole source and the deletion cap at the whole connection.

use crate::email;
use crate::error::PlanError;
use crate::matching::Matching;
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
/// users (rename, create, adopt, update, unblock, block or delete), nothing for anyone
/// else. Users are matched over the whole source and tenant (keys, addresses), so a
/// target is never mistaken for someone else; a target's change that needs another
/// user's rename first is refused.
///
/// Errors, besides the planner's: [`PlanError::UnknownTargets`] listing every
/// target found neither in the source nor among the connection's users;
/// [`PlanError::TargetsNeedMore`]; [`PlanError::EmptySource`] when the whole source is
/// empty; and [`PlanError::TooManyDeletes`] against the whole connection's user count,
/// which is also what `summary.connection_users` records. Source warnings are kept
/// whole.
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
    let inner = Policy { allow_empty_source: true, ..policy.clone() };
    let keep = |m: &Matching<'_>, i: usize| m.units[i].emails().iter().any(|e| targets.contains(e));
    let changeset = planner::plan_for(desired, tenant, &inner, Some(&keep))?;
    planner::check_caps(&changeset, tenant, policy, changeset.summary.connection_users)?;
    Ok(changeset)
}
