//! The one home of removal caps: how many users a plan may delete or block, checked
//! at plan time and again at apply time.

use crate::error::PlanError;
use crate::plan::Changeset;

/// How many deletions (and blocks) a plan may hold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DeleteCap {
    /// Default: 10% of the connection's users, but always up to 10 and never over 500.
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
        let pct = |p: u32| (u64::from(users) * u64::from(p) / 100) as u32;
        match self {
            DeleteCap::Default => Some(pct(10).clamp(10, 500)),
            DeleteCap::Count(n) => Some(n),
            DeleteCap::Percent(p) => Some(pct(p)),
            DeleteCap::Unlimited => None,
        }
    }

    /// Parses `N` or `N%`.
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

/// Refuses a changeset whose deletions and blocks exceed the cap for a connection of
/// `connection_users` users. Used at plan time and again at apply time.
pub fn check_delete_cap(changeset: &Changeset, connection_users: u32, cap: DeleteCap) -> Result<(), PlanError> {
    let removals = changeset.summary.delete_user + changeset.summary.block_user;
    match cap.limit(connection_users) {
        Some(limit) if removals > limit => Err(PlanError::TooManyDeletes { removals, users: connection_users, limit }),
        _ => Ok(()),
    }
}
