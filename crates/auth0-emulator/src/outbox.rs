//! What Auth0 would have done out of band, recorded so that tests can count it: the
//! emails it sends (verification, change password), the password-change tickets it
//! issues (bearer secrets), and the session and refresh-token revocations asked of it;
//! plus the per-address Change Password limit (10 at once, 1 a minute per address).
//! Kept in memory only, never saved.

use crate::clock::Tick;
use std::collections::HashMap;
use std::time::{Duration, SystemTime};

/// Which email Auth0 sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailKind {
    /// The "verify your email" message (`POST /users` or `PATCH /users/{id}` per
    /// Auth0's `verify_email` / `email_verified` rule).
    Verification,
    /// The change-password (invitation) message of `POST /dbconnections/change_password`.
    ChangePassword,
}

/// One email "sent".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentEmail {
    pub kind: EmailKind,
    /// The address it went to (lower-cased for database users).
    pub to: String,
    pub user_id: String,
    /// The application named by the request (`client_id`), if any.
    pub client_id: Option<String>,
    pub at: SystemTime,
}

/// How a user was invited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvitationKind {
    /// Auth0 mailed its change-password message (`POST /dbconnections/change_password`).
    Email,
    /// A password-change ticket was issued (`POST /api/v2/tickets/password-change`);
    /// Auth0 mailed nothing.
    Ticket,
}

/// One invitation, of either kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    pub kind: InvitationKind,
    pub email: String,
    pub user_id: String,
    pub at: SystemTime,
}

/// A password-change ticket as issued. `url` is a bearer secret (also witnessed when
/// `witness_secrets` is on): tests use it to prove the tool never prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    pub url: String,
    pub user_id: String,
    pub email: String,
    /// The `ttl_sec` in force (432000 when the request gave none or 0).
    pub ttl_sec: u64,
    pub expires_at: SystemTime,
    pub mark_email_as_verified: bool,
    pub include_email_in_redirect: bool,
    pub result_url: Option<String>,
    pub client_id: Option<String>,
    pub at: SystemTime,
}

/// What was revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevocationKind {
    /// `DELETE /api/v2/users/{id}/sessions`.
    Sessions,
    /// `DELETE /api/v2/users/{id}/refresh-tokens`.
    RefreshTokens,
}

/// One accepted revocation request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    pub kind: RevocationKind,
    pub user_id: String,
    pub at: SystemTime,
}

/// Change Password per-address budget: burst 10, refilled 1 a minute (Auth0's rate
/// limit tables: "From an IP Address to a unique Email Address").
pub(crate) const ADDRESS_BURST: u32 = 10;
pub(crate) const ADDRESS_REFILL: Duration = Duration::from_secs(60);

/// The answer of the per-address limiter: allowed or not, and the three
/// `x-ratelimit-*` values (limit, remaining, reset as UNIX seconds).
#[derive(Debug, Clone, Copy)]
pub(crate) struct AddressRate {
    pub allowed: bool,
    pub remaining: u32,
    pub reset: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Outbox {
    pub emails: Vec<SentEmail>,
    pub invitations: Vec<Invitation>,
    pub tickets: Vec<Ticket>,
    pub revocations: Vec<Revocation>,
    /// Per lower-cased address: whole tokens left, and the point from which the next
    /// one is counted (integers, so a minute is exactly a minute).
    buckets: HashMap<String, (u32, Tick)>,
}

impl Outbox {
    /// Takes one request for `address` from its bucket. `now_unix` is the clock's
    /// UNIX time, for the reset header.
    pub fn take(&mut self, address: &str, now: Tick, now_unix: u64) -> AddressRate {
        let entry = self.buckets.entry(address.to_lowercase()).or_insert((ADDRESS_BURST, now));
        if entry.0 >= ADDRESS_BURST {
            entry.1 = now;
        } else {
            let minutes = now.since(entry.1).as_secs() / ADDRESS_REFILL.as_secs();
            let minutes = u32::try_from(minutes).unwrap_or(u32::MAX);
            if minutes > 0 {
                entry.0 = entry.0.saturating_add(minutes).min(ADDRESS_BURST);
                entry.1 = if entry.0 >= ADDRESS_BURST { now } else { entry.1 + ADDRESS_REFILL * minutes };
            }
        }
        let allowed = entry.0 > 0;
        if allowed {
            if entry.0 == ADDRESS_BURST {
                entry.1 = now;
            }
            entry.0 -= 1;
        }
        let reset = if entry.0 > 0 {
            now_unix
        } else {
            now_unix + (ADDRESS_REFILL.saturating_sub(now.since(entry.1))).as_secs().max(1)
        };
        AddressRate { allowed, remaining: entry.0, reset }
    }
}

/// Records a verification email to `to` (a no-op for an empty address).
pub(crate) fn record_verification(s: &crate::Shared, to: &str, user_id: &str, client_id: Option<String>) {
    if to.is_empty() {
        return;
    }
    let mail = SentEmail {
        kind: EmailKind::Verification,
        to: to.to_owned(),
        user_id: user_id.to_owned(),
        client_id,
        at: s.clock.now(),
    };
    s.outbox().emails.push(mail);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Clock;
    use std::time::UNIX_EPOCH;

    #[test]
    fn ten_at_once_then_one_a_minute_per_address() {
        let clock = Clock::manual(UNIX_EPOCH + Duration::from_secs(1_700_000_000));
        let mut o = Outbox::default();
        for i in 0..10 {
            let r = o.take("A@x.example", clock.tick(), clock.unix_secs());
            assert!(r.allowed, "request {i}");
            assert_eq!(r.remaining, 9 - i);
        }
        let r = o.take("a@x.example", clock.tick(), clock.unix_secs());
        assert!(!r.allowed, "the 11th, same address in another case, is refused");
        assert_eq!(r.reset, 1_700_000_060);
        assert!(o.take("b@x.example", clock.tick(), clock.unix_secs()).allowed, "another address");
        clock.advance(Duration::from_secs(59));
        assert!(!o.take("a@x.example", clock.tick(), clock.unix_secs()).allowed);
        clock.advance(Duration::from_secs(1));
        assert!(o.take("a@x.example", clock.tick(), clock.unix_secs()).allowed, "one a minute");
        assert!(!o.take("a@x.example", clock.tick(), clock.unix_secs()).allowed);
    }
}
