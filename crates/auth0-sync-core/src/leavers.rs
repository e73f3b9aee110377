//! Two-stage leaving: a user missing from the source is blocked first, with the tool's
//! marker in `app_metadata.auth0_sync` saying when and why, and deleted by a later plan
//! only once the tool itself blocked it at least `--delete-after` before that plan's
//! clock (an input: the planner stays pure). Users blocked by people carry no marker
//! and are never deleted by this rule. Also the one home of the marker's shape: a block
//! or unblock sends the namespace back whole, so other fields in it survive.

use crate::model::{TenantSnapshot, TenantUser};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

/// Why the tool blocks a user (the marker's `reason`).
pub const REASON_MISSING: &str = "missing from source";

/// `--delete-after` and the plan's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TwoStage {
    /// How long a user the tool blocked stays blocked before a plan deletes it.
    pub delete_after: chrono::Duration,
    /// The plan's "now".
    pub now: DateTime<Utc>,
}

/// When the tool blocked `user` (its marker's `blocked_at`), if it did and said when.
pub fn blocked_at(tenant: &TenantSnapshot, user: &TenantUser) -> Option<DateTime<Utc>> {
    if !(user.blocked && user.blocked_by_sync) {
        return None;
    }
    let m = tenant.markers.get(&user.user_id)?;
    let at = m.get("blocked_at")?.as_str()?;
    DateTime::parse_from_rfc3339(at).ok().map(|t| t.with_timezone(&Utc))
}

/// A user missing from the source that the tool blocked at least `delete_after` before
/// `now`: a plan with `--delete-after` deletes it.
pub fn due(tenant: &TenantSnapshot, user: &TenantUser, two: &TwoStage) -> bool {
    blocked_at(tenant, user).is_some_and(|at| two.now - at >= two.delete_after)
}

/// The namespace a block sends: the fields it has, plus `blocked`, `blocked_at` and
/// `reason`.
pub fn block_marker(existing: Option<&Map<String, Value>>, at: DateTime<Utc>) -> Value {
    let mut m = existing.cloned().unwrap_or_default();
    m.insert("blocked".into(), Value::Bool(true));
    m.insert("blocked_at".into(), Value::String(at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)));
    m.insert("reason".into(), Value::String(REASON_MISSING.into()));
    Value::Object(m)
}

/// The namespace an unblock sends: the fields it has without the block's; `null`
/// (remove the namespace) when nothing else is in it.
pub fn unblock_marker(existing: Option<&Map<String, Value>>) -> Value {
    let mut m = existing.cloned().unwrap_or_default();
    for k in ["blocked", "blocked_at", "reason"] {
        m.remove(k);
    }
    if m.is_empty() { Value::Null } else { Value::Object(m) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_keep_every_other_field() {
        let mut other = Map::new();
        other.insert("key".into(), Value::String("emp-42".into()));
        let at = DateTime::parse_from_rfc3339("2026-12-01T10:00:00Z").unwrap().with_timezone(&Utc);
        let b = block_marker(Some(&other), at);
        assert_eq!(
            b,
            serde_json::json!({"key": "emp-42", "blocked": true, "blocked_at": "2026-12-01T10:00:00Z", "reason": "missing from source"})
        );
        assert_eq!(unblock_marker(b.as_object()), serde_json::json!({"key": "emp-42"}));
        assert_eq!(unblock_marker(block_marker(None, at).as_object()), Value::Null);
    }
}
