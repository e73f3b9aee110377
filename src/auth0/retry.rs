//! When and how long to wait before retrying a Management API request, and for how
//! long a request may keep being retried.
//!
//! Follows what Auth0's SDKs do on 429, 408 and 5xx: wait for `Retry-After` when
//! given, else (when rate-limited) until `x-ratelimit-reset` plus a little jitter,
//! else exponential backoff `backoff_factor * 2^attempt` with jitter. Reset times and
//! date-valued `Retry-After` are on the tenant's clock, so they are compared with the
//! server's time (`Date` offset, [`super::clock`]), not ours. A 429 is never followed
//! by less than [`MIN_429_WAIT`]; no single wait is longer than [`MAX_WAIT`].
//!
//! What is safe to retry (a 429, or a 5xx/408/network error of an idempotent request)
//! is retried until [`RetryPolicy::budget`] has passed since its first failure; the
//! rest (a `POST /users` Auth0 certainly did not process) at most `max_retries` times.
//! Pure functions of their inputs (plus jitter) so they can be tested without a clock.

use rand::RngExt;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use std::time::Duration;

/// No single wait is longer than this.
pub const MAX_WAIT: Duration = Duration::from_secs(60);

/// Upper bound of the jitter added to a wait until `x-ratelimit-reset`.
pub const RESET_JITTER: Duration = Duration::from_millis(500);

/// The shortest wait after a 429, whatever `Retry-After` or the reset say (a reset in
/// the past, read on a skewed clock, would otherwise mean hammering the tenant).
pub const MIN_429_WAIT: Duration = Duration::from_millis(250);

/// The shortest wait before any retry (a zero backoff factor must not spin).
pub const MIN_RETRY_WAIT: Duration = Duration::from_millis(10);

/// Whether a request may be sent again after a failure it did not see the end of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idempotency {
    /// GET, DELETE, role assignment and removal: sending twice is harmless.
    Idempotent,
    /// `POST /users`: retried only when Auth0 certainly did not process it
    /// (429, 503, or no connection could be made).
    NotIdempotent,
}

/// What bounds the retries of a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// Retried until the policy's `budget` has passed since the first failure.
    Time,
    /// Retried at most `max_retries` times.
    Count,
}

/// What a wait before a retry is for (said in the log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitFor {
    /// The answer's `Retry-After`.
    RetryAfter,
    /// The tenant's `x-ratelimit-reset`.
    Reset,
    /// Exponential backoff.
    Backoff,
    /// The floor after a 429 (a `Retry-After` or reset that was shorter, or none).
    Floor,
}

impl WaitFor {
    pub fn describe(self) -> &'static str {
        match self {
            WaitFor::RetryAfter => "as Retry-After asks",
            WaitFor::Reset => "until x-ratelimit-reset (on the tenant's clock)",
            WaitFor::Backoff => "exponential backoff",
            WaitFor::Floor => "the shortest pause after a 429",
        }
    }
}

/// Retry settings of a client.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Retries after the first attempt, for what is bounded by count.
    pub max_retries: u32,
    /// Seconds; base of the exponential backoff.
    pub backoff_factor: f64,
    /// Total time a request that is safe to retry may keep being retried.
    pub budget: Duration,
}

impl RetryPolicy {
    /// Whether an answer with this status is worth sending again.
    pub fn retryable_status(status: StatusCode, idempotency: Idempotency) -> bool {
        match idempotency {
            Idempotency::Idempotent => {
                status == StatusCode::TOO_MANY_REQUESTS
                    || status == StatusCode::REQUEST_TIMEOUT
                    || status.is_server_error()
            }
            Idempotency::NotIdempotent => {
                status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }

    /// What bounds retrying a retryable failure: a 429 (answer `status`) is always safe
    /// to retry, so is anything of an idempotent request; the rest is counted.
    pub fn bound(status: Option<StatusCode>, idempotency: Idempotency) -> Bound {
        if status == Some(StatusCode::TOO_MANY_REQUESTS) || idempotency == Idempotency::Idempotent {
            Bound::Time
        } else {
            Bound::Count
        }
    }

    /// Exponential backoff for retry number `attempt` (0 for the first retry), with
    /// "equal jitter": between half and all of `backoff_factor * 2^attempt`, capped.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let base = self.backoff_factor * 2f64.powi(attempt.min(30) as i32);
        let base = base.clamp(0.0, MAX_WAIT.as_secs_f64());
        let jittered = base / 2.0 + rand::rng().random_range(0.0..=1.0) * base / 2.0;
        cap(Duration::from_secs_f64(jittered)).max(MIN_RETRY_WAIT)
    }

    /// How long to wait before retry number `attempt` (0-based) after an answer with
    /// `status` and `headers`, and why; `server_now` is the tenant's time in UNIX
    /// seconds (for `x-ratelimit-reset` and date-valued `Retry-After`).
    pub fn wait_after(
        &self,
        attempt: u32,
        status: StatusCode,
        headers: &HeaderMap,
        server_now: f64,
    ) -> (Duration, WaitFor) {
        let too_many = status == StatusCode::TOO_MANY_REQUESTS;
        let floor = |(d, why): (Duration, WaitFor)| {
            if too_many && d < MIN_429_WAIT { (MIN_429_WAIT, WaitFor::Floor) } else { (d, why) }
        };
        if let Some(wait) = retry_after(headers, server_now) {
            return floor((cap(wait).max(MIN_RETRY_WAIT), WaitFor::RetryAfter));
        }
        let rate_limited = too_many || header_str(headers, "x-ratelimit-remaining").map(str::trim) == Some("0");
        if rate_limited && let Some(reset) = ratelimit_reset(headers, server_now) {
            let jitter = rand::rng().random_range(0.0..=RESET_JITTER.as_secs_f64());
            return floor((cap(reset + Duration::from_secs_f64(jitter)), WaitFor::Reset));
        }
        floor((self.backoff(attempt), WaitFor::Backoff))
    }
}

fn cap(d: Duration) -> Duration {
    d.min(MAX_WAIT)
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `Retry-After` as delay-seconds or as an HTTP date (on the server's clock,
/// `server_now` in UNIX seconds).
pub fn retry_after(headers: &HeaderMap, server_now: f64) -> Option<Duration> {
    let raw = header_str(headers, "retry-after")?.trim();
    if let Ok(secs) = raw.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(MAX_WAIT.as_secs_f64())));
    }
    let at = super::clock::http_date_secs(raw)?;
    Some(Duration::from_secs_f64((at - server_now).clamp(0.0, MAX_WAIT.as_secs_f64())))
}

/// Time left until `x-ratelimit-reset` (UNIX seconds on the server's clock, compared
/// with `server_now`); zero when it has passed.
pub fn ratelimit_reset(headers: &HeaderMap, server_now: f64) -> Option<Duration> {
    let reset =
        header_str(headers, "x-ratelimit-reset")?.trim().parse::<f64>().ok().filter(|r| r.is_finite() && *r >= 0.0)?;
    Some(Duration::from_secs_f64((reset - server_now).clamp(0.0, MAX_WAIT.as_secs_f64())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    const POLICY: RetryPolicy = RetryPolicy { max_retries: 3, backoff_factor: 1.0, budget: Duration::from_secs(60) };

    fn at(secs: u64) -> f64 {
        secs as f64
    }

    #[test]
    fn retry_after_seconds_wins() {
        let h = headers(&[("retry-after", "7"), ("x-ratelimit-reset", "1000100")]);
        let w = POLICY.wait_after(0, StatusCode::TOO_MANY_REQUESTS, &h, at(1_000_000));
        assert_eq!(w, (Duration::from_secs(7), WaitFor::RetryAfter));
    }

    #[test]
    fn retry_after_http_date() {
        let h = headers(&[("retry-after", "Sun, 06 Nov 1994 08:49:37 GMT")]);
        let date = 784111777;
        let w = POLICY.wait_after(0, StatusCode::SERVICE_UNAVAILABLE, &h, at(date - 5));
        assert_eq!(w, (Duration::from_secs(5), WaitFor::RetryAfter));
    }

    #[test]
    fn ratelimit_reset_plus_small_jitter() {
        let h = headers(&[("x-ratelimit-reset", "1000003"), ("x-ratelimit-remaining", "0")]);
        for _ in 0..50 {
            let (w, why) = POLICY.wait_after(5, StatusCode::TOO_MANY_REQUESTS, &h, at(1_000_000));
            assert_eq!(why, WaitFor::Reset);
            assert!(w >= Duration::from_secs(3), "{w:?}");
            assert!(w <= Duration::from_secs(3) + RESET_JITTER, "{w:?}");
        }
    }

    #[test]
    fn reset_is_ignored_for_server_errors_with_budget_left() {
        let h = headers(&[("x-ratelimit-reset", "1000030"), ("x-ratelimit-remaining", "9")]);
        let (w, why) = POLICY.wait_after(0, StatusCode::BAD_GATEWAY, &h, at(1_000_000));
        assert_eq!(why, WaitFor::Backoff);
        assert!(w <= Duration::from_secs(1), "{w:?}");
    }

    #[test]
    fn exponential_backoff_with_jitter_and_cap() {
        for attempt in 0..4 {
            let full = Duration::from_secs(1 << attempt);
            for _ in 0..50 {
                let w = POLICY.backoff(attempt);
                assert!(w >= full / 2 && w <= full, "attempt {attempt}: {w:?}");
            }
        }
        let slow = RetryPolicy { max_retries: 1, backoff_factor: 60.0, budget: Duration::ZERO };
        let w = slow.backoff(3);
        assert!(w >= MAX_WAIT / 2 && w <= MAX_WAIT, "{w:?}");
        let huge = headers(&[("retry-after", "3600")]);
        assert_eq!(POLICY.wait_after(0, StatusCode::TOO_MANY_REQUESTS, &huge, at(0)).0, MAX_WAIT);
    }

    #[test]
    fn a_429_is_never_followed_by_less_than_the_floor() {
        // A reset in the past (the client's clock ahead of the tenant's) and Retry-After 0.
        let past = headers(&[("x-ratelimit-reset", "999990"), ("x-ratelimit-remaining", "0")]);
        // The reset has passed: only its jitter (0–500 ms) is left, never below the floor.
        for _ in 0..50 {
            let (wait, why) = POLICY.wait_after(0, StatusCode::TOO_MANY_REQUESTS, &past, at(1_000_000));
            assert!(wait >= MIN_429_WAIT && wait <= RESET_JITTER, "{wait:?}");
            assert!(matches!(why, WaitFor::Floor | WaitFor::Reset), "{why:?}");
            assert_eq!(why == WaitFor::Floor, wait == MIN_429_WAIT, "{wait:?} {why:?}");
        }
        let zero = headers(&[("retry-after", "0")]);
        assert_eq!(POLICY.wait_after(0, StatusCode::TOO_MANY_REQUESTS, &zero, at(0)), (MIN_429_WAIT, WaitFor::Floor));
        // A 503 with Retry-After 0 is not rate limiting: no floor but the spin guard.
        assert_eq!(POLICY.wait_after(0, StatusCode::SERVICE_UNAVAILABLE, &zero, at(0)).0, MIN_RETRY_WAIT);
        let instant = RetryPolicy { backoff_factor: 0.0, ..POLICY };
        assert_eq!(instant.backoff(3), MIN_RETRY_WAIT);
    }

    #[test]
    fn reset_is_read_on_the_tenant_clock() {
        // The tenant's clock is 300 s behind ours: its reset, 2 s after its now, is 298 s
        // in our past. Compared with the server's time it is 2 s away.
        let h = headers(&[("x-ratelimit-reset", "999702"), ("x-ratelimit-remaining", "0")]);
        let server_now = 999_700.0;
        let (w, why) = POLICY.wait_after(0, StatusCode::TOO_MANY_REQUESTS, &h, server_now);
        assert_eq!(why, WaitFor::Reset);
        assert!(w >= Duration::from_secs(2) && w <= Duration::from_secs(2) + RESET_JITTER, "{w:?}");
    }

    #[test]
    fn what_is_bounded_by_time_and_what_by_count() {
        use Idempotency::*;
        let s = |c: u16| Some(StatusCode::from_u16(c).unwrap());
        assert_eq!(RetryPolicy::bound(s(429), NotIdempotent), Bound::Time);
        assert_eq!(RetryPolicy::bound(s(429), Idempotent), Bound::Time);
        assert_eq!(RetryPolicy::bound(s(503), Idempotent), Bound::Time);
        assert_eq!(RetryPolicy::bound(None, Idempotent), Bound::Time, "network errors of idempotent requests");
        assert_eq!(RetryPolicy::bound(s(503), NotIdempotent), Bound::Count);
        assert_eq!(RetryPolicy::bound(None, NotIdempotent), Bound::Count);
    }

    #[test]
    fn which_statuses_are_retried() {
        use Idempotency::*;
        for s in [429, 408, 500, 502, 503, 504] {
            let s = StatusCode::from_u16(s).unwrap();
            assert!(RetryPolicy::retryable_status(s, Idempotent), "{s}");
        }
        for s in [400, 401, 403, 404, 409] {
            let s = StatusCode::from_u16(s).unwrap();
            assert!(!RetryPolicy::retryable_status(s, Idempotent), "{s}");
        }
        assert!(RetryPolicy::retryable_status(StatusCode::TOO_MANY_REQUESTS, NotIdempotent));
        assert!(RetryPolicy::retryable_status(StatusCode::SERVICE_UNAVAILABLE, NotIdempotent));
        for s in [408, 500, 502, 504] {
            let s = StatusCode::from_u16(s).unwrap();
            assert!(!RetryPolicy::retryable_status(s, NotIdempotent), "{s}");
        }
    }
}
