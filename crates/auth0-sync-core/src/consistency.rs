//! What a plan must be beyond its JSON shape: the checks `Plan::parse` makes after the
//! checksum, because a checksum catches edits, not intent. A plan that passes them is
//! one the planner could have written: ids, order, change shapes, role table, counts,
//! the on-missing policy, the recorded cap, the synced fields and the targets agree
//! with each other.

use crate::fields::{self, Authority};
use crate::plan::{Action, Change, OnMissing, Plan, Summary, UserState};

impl Plan {
    /// Checks that changes, summary and role table agree with each other.
    pub fn consistency(&self) -> Result<(), String> {
        let cs = &self.changeset;
        let mut counted = Summary { ..cs.summary.clone() };
        for a in Action::ALL {
            *count_mut(&mut counted, a) = 0;
        }
        counted.roles_assigned = 0;
        counted.roles_removed = 0;
        counted.create_role = cs.create_roles.len() as u32;
        let mut last_action = Action::ALL[0];
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
                _ => before && after && user_id,
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
            if !self.state_fits(c) {
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
            *count_mut(&mut counted, c.action) += 1;
        }
        if cs.ignored_users.len() as u32 != cs.summary.ignored {
            return Err("the ignored users do not match the summary".into());
        }
        if counted != cs.summary {
            return Err("the summary does not match the changes".into());
        }
        if !self.source.fields.windows(2).all(|w| w[0] < w[1])
            || !self.source.fields.iter().all(|f| fields::is_field(f))
        {
            return Err("the source's synced fields must be sorted field names, each once".into());
        }
        if self.policy.field_authority.iter().any(|(f, a)| *a == Authority::Force || !fields::is_field(f)) {
            return Err("the recorded field authority may only name fields that are create_only or ignore".into());
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
            let old_email = |c: &Change| c.before.as_ref().and_then(|b| b.email.clone()).unwrap_or_default();
            if let Some(c) = cs.changes.iter().find(|c| !is_target(&c.user.email) && !is_target(&old_email(c))) {
                return Err(format!("change {} is about {}, who is not one of the plan's targets", c.id, c.user.email));
            }
            if let Some(e) = cs.ignored_users.iter().find(|e| !is_target(e)) {
                return Err(format!("ignored user {e} is not one of the plan's targets"));
            }
        }
        Ok(())
    }

    /// Whether the states of `c` (whose shape is checked) are ones its action writes.
    fn state_fits(&self, c: &Change) -> bool {
        let empty = UserState::default();
        let (b, a) = (c.before.as_ref().unwrap_or(&empty), c.after.as_ref().unwrap_or(&empty));
        let same_roles = b.roles == a.roles;
        let no_email = |s: &UserState| s.email.is_none() && s.email_verified.is_none() && s.verify_email.is_none();
        let plain = |s: &UserState| no_email(s) && s.fields.is_empty() && s.profile.is_empty();
        let keyed = self.source.key_column.is_some();
        match c.action {
            Action::CreateUser => {
                !a.blocked
                    && no_email(a)
                    && a.fields.keys().all(|f| self.writes_at_creation(f))
                    && (a.key.is_none() || keyed)
            }
            Action::UpdateEmail => {
                same_roles
                    && !b.blocked
                    && !a.blocked
                    && plain(&UserState { email: None, ..b.clone() })
                    && a.fields.is_empty()
                    && a.profile.is_empty()
                    && b.key.is_some()
                    && a.key == b.key
                    && a.email.as_deref() == Some(c.user.email.as_str())
                    && b.email != a.email
                    && a.email_verified == Some(false)
                    && a.verify_email == Some(true)
                    && keyed
            }
            Action::AdoptUser => {
                same_roles
                    && !b.blocked
                    && !a.blocked
                    && plain(b)
                    && plain(a)
                    && b.key.is_none()
                    && a.key.is_some()
                    && keyed
            }
            Action::UpdateProfile => {
                same_roles
                    && !b.blocked
                    && !a.blocked
                    && no_email(b)
                    && no_email(a)
                    && b.profile.is_empty()
                    && a.profile.is_empty()
                    && a.key == b.key
                    && !a.fields.is_empty()
                    && a.fields.keys().eq(b.fields.keys())
                    && a.fields
                        .iter()
                        .all(|(f, v)| self.syncs(f) && (v.is_string() || v.is_null()) && b.fields.get(f) != Some(v))
            }
            Action::UpdateRoles => !b.blocked && !a.blocked && plain(b) && plain(a) && a.key == b.key,
            Action::BlockUser => !b.blocked && a.blocked && same_roles && plain(b) && plain(a) && a.key == b.key,
            Action::UnblockUser => b.blocked && !a.blocked && same_roles && plain(b) && plain(a) && a.key == b.key,
            Action::DeleteUser => plain(b),
        }
    }

    /// A field the source returns whose authority is `force`.
    fn syncs(&self, field: &str) -> bool {
        self.source.fields.iter().any(|f| f == field) && !self.policy.field_authority.contains_key(field)
    }

    /// An `app_metadata` field a create may set: returned by the source, not `ignore`.
    fn writes_at_creation(&self, field: &str) -> bool {
        field.starts_with(fields::METADATA_PREFIX)
            && self.source.fields.iter().any(|f| f == field)
            && self.policy.field_authority.get(field) != Some(&Authority::Ignore)
    }
}

fn count_mut(s: &mut Summary, a: Action) -> &mut u32 {
    match a {
        Action::UpdateEmail => &mut s.update_email,
        Action::CreateUser => &mut s.create_user,
        Action::AdoptUser => &mut s.adopt_user,
        Action::UpdateProfile => &mut s.update_profile,
        Action::UnblockUser => &mut s.unblock_user,
        Action::UpdateRoles => &mut s.update_roles,
        Action::BlockUser => &mut s.block_user,
        Action::DeleteUser => &mut s.delete_user,
    }
}
