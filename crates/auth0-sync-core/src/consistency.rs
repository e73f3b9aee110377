//! What a plan must be beyond its JSON shape: the checks `Plan::parse` makes after the
//! checksum, because a checksum catches edits, not intent. A plan that passes them is
//! one the planner could have written: ids, order, change shapes, role table, counts,
//! the on-missing policy, the recorded cap and the targets agree with each other.

use crate::plan::{Action, OnMissing, Plan, Summary, UserState};

impl Plan {
    /// Checks that changes, summary and role table agree with each other.
    pub fn consistency(&self) -> Result<(), String> {
        let cs = &self.changeset;
        let mut counted = Summary { ..cs.summary.clone() };
        counted.create_user = 0;
        counted.unblock_user = 0;
        counted.update_roles = 0;
        counted.block_user = 0;
        counted.delete_user = 0;
        counted.roles_assigned = 0;
        counted.roles_removed = 0;
        counted.create_role = cs.create_roles.len() as u32;
        let mut last_action = Action::CreateUser;
        for (i, c) in cs.changes.iter().enumerate() {
            let n = i as u32 + 1;
            if c.id != n {
                return Err(format!("change #{n} has id {}; ids must run 1, 2, 3, ...", c.id));
            }
            if c.action < last_action {
                return Err(format!("change {n} ({}) is out of order", c.action.as_str()));
            }
            last_action = c.action;
            let (before, after, user_id) = (c.before.is_some(), c.after.is_some(), c.user.user_id.is_some());
            let shape_ok = match c.action {
                Action::CreateUser => !before && after && !user_id,
                Action::DeleteUser => before && !after && user_id,
                Action::UpdateRoles | Action::BlockUser | Action::UnblockUser => before && after && user_id,
            };
            if !shape_ok {
                return Err(format!(
                    "change {n} ({}) has the wrong shape: before {}, after {}, user_id {}",
                    c.action.as_str(),
                    if before { "set" } else { "null" },
                    if after { "set" } else { "null" },
                    if user_id { "set" } else { "absent" },
                ));
            }
            let blocked = |st: &Option<UserState>| st.as_ref().is_some_and(|st| st.blocked);
            let same_roles = c.before.as_ref().map(|b| &b.roles) == c.after.as_ref().map(|a| &a.roles);
            let state_ok = match c.action {
                Action::CreateUser => !blocked(&c.after),
                Action::UpdateRoles => !blocked(&c.before) && !blocked(&c.after),
                Action::BlockUser => !blocked(&c.before) && blocked(&c.after) && same_roles,
                Action::UnblockUser => blocked(&c.before) && !blocked(&c.after) && same_roles,
                Action::DeleteUser => true,
            };
            if !state_ok {
                return Err(format!(
                    "change {n} ({}) has before/after states that do not fit the action",
                    c.action.as_str()
                ));
            }
            let mentioned = c.before.iter().chain(c.after.iter()).flat_map(|st| st.roles.iter());
            for r in mentioned {
                let r = r.as_str();
                if !cs.roles.contains_key(r) && !cs.create_roles.iter().any(|x| x == r) {
                    return Err(format!("change {n} uses role {r:?}, which is not in the plan's role table"));
                }
            }
            counted.roles_assigned += c.assign().len() as u32;
            counted.roles_removed += c.remove().len() as u32;
            match c.action {
                Action::CreateUser => counted.create_user += 1,
                Action::UnblockUser => counted.unblock_user += 1,
                Action::UpdateRoles => counted.update_roles += 1,
                Action::BlockUser => counted.block_user += 1,
                Action::DeleteUser => counted.delete_user += 1,
            }
        }
        if cs.ignored_users.len() as u32 != cs.summary.ignored {
            return Err("the ignored users do not match the summary".into());
        }
        if counted != cs.summary {
            return Err("the summary does not match the changes".into());
        }
        let removals = counted.delete_user + counted.block_user;
        let policy_ok = match self.policy.on_missing {
            OnMissing::Delete => counted.block_user == 0,
            // Two-stage leaving deletes users blocked earlier, and only those.
            OnMissing::Block => {
                counted.delete_user == 0
                    || (self.policy.delete_after.is_some()
                        && cs
                            .changes
                            .iter()
                            .filter(|c| c.action == Action::DeleteUser)
                            .all(|c| c.before.as_ref().is_some_and(|b| b.blocked)))
            }
            OnMissing::Ignore => removals == 0,
        };
        if !policy_ok {
            return Err(format!(
                "the changes do not follow the recorded on_missing policy {:?}",
                self.policy.on_missing
            ));
        }
        if let Some(max) = self.policy.max_deletes
            && counted.delete_user > max
        {
            return Err(format!("the plan deletes {} users, more than its recorded cap of {max}", counted.delete_user));
        }
        self.policy.removal_caps.consistency(cs)?;
        let cap = self.policy.delete_cap;
        if self.policy.max_deletes != cap.limit(cs.summary.connection_users) {
            return Err(format!(
                "the recorded max_deletes does not follow from the recorded delete_cap {cap} for {} connection users",
                cs.summary.connection_users
            ));
        }
        if self.policy.delete_after.is_some() && self.policy.on_missing != OnMissing::Block {
            return Err("delete_after is recorded, but on_missing is not block".into());
        }
        if let Some(targets) = &self.targets {
            if targets.is_empty() || !targets.windows(2).all(|w| w[0] < w[1]) {
                return Err("the targets must be a non-empty, sorted list without duplicates".into());
            }
            let is_target = |e: &str| targets.binary_search_by(|t| t.as_str().cmp(e)).is_ok();
            if let Some(c) = cs.changes.iter().find(|c| !is_target(&c.user.email)) {
                return Err(format!("change {} is about {}, who is not one of the plan's targets", c.id, c.user.email));
            }
            if let Some(e) = cs.ignored_users.iter().find(|e| !is_target(e)) {
                return Err(format!("ignored user {e} is not one of the plan's targets"));
            }
        }
        Ok(())
    }
}
