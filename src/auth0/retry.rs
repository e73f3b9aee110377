//! When and how long to wait before retrying a Management API request.
//!
//! Follows what Auth0's SDKs do on 429, 408 and 5xx: wait for `Retry-After` when
//! given, else (when rate-limited) until `x-ratelimit-reset` plus a little jitter,
//! else exponential backoff `backoff_factor * 2^attempt` with jitter. Every wait is
//! capped at [`MAX_WAIT`]. Pure functions of their inputs (plus jitter) so they can be
//! tested without a clock.

use rand::RngExt;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// No single wait is longer than this.
pub const MAX_WAIT: Duration = Duration::from_secs(60);

/// Upper bound of the jitter added to a wait until `x-ratelimit-reset`.
pub const RESET_JITTER: Duration = Duration::from_millis(500);

/// Whether a request may be sent again after a failure it did not see the end of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idempotency {
    /// GET, DELETE, role assignment and removal: sending twice is harmless.
    Idempotent,
    /// `POST /users`: retried only when Auth0 certainly did not process it
    /// (429, 503, or no connection could be made).
    NotIdempotent,
}

/// Retry settings of a client.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// Seconds; base of the exponential backoff.
    pub backoff_factor: f64,
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

    /// Exponential backoff for retry number `attempt` (0 for the first retry), with
    /// "equal jitter": between half and all of `backoff_factor * 2^attempt`, capped.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let base = self.backoff_factor * 2f64.powi(attempt.min(30) as i32);
        let base = base.clamp(0.0, MAX_WAIT.as_secs_f64());
        let jittered = base / 2.0 + rand::rng().random_range(0.0..=1.0) * base / 2.0;
        cap(Duration::from_secs_f64(jittered))
    }

    /// How long to wait before retry number `attempt` (0-based) after an answer with
    /// `status` and `headers`; `now` is the wall clock (for `x-ratelimit-reset` and
    /// date-valued `Retry-After`).
    pub fn wait_after(&self, attempt: u32, status: StatusCode, headers: &HeaderMap, now: SystemTime) -> Duration {
        if let Some(wait) = retry_after(headers, now) {
            return cap(wait);
        }
        let rate_limited = status == StatusCode::TOO_MANY_REQUESTS
            || header_str(headers, "x-ratelimit-remaining").map(str::trim) == Some("0");
        if rate_limited && let Some(reset) = ratelimit_reset(headers, now) {
            let jitter = rand::rng().random_range(0.0..=RESET_JITTER.as_secs_f64());
            return cap(reset + Duration::from_secs_f64(jitter));
        }
        self.backoff(attempt)
    }
}

fn cap(d: Duration) -> Duration {
    d.min(MAX_WAIT)
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `Retry-After` as delay-seconds or as an HTTP date.
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let raw = header_str(headers, "retry-after")?.trim();
    if let Ok(secs) = raw.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(MAX_WAIT.as_secs_f64())));
    }
    let at = chrono::DateTime::parse_from_rfc2822(raw).ok()?;
    let at = UNIX_EPOCH.checked_add(Duration::from_secs(at.timestamp().try_into().ok()?))?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Time left until `x-ratelimit-reset` (UNIX seconds); zero when it has passed.
pub fn ratelimit_reset(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let reset =
        header_str(headers, "x-ratelimit-reset")?.trim().parse::<f64>().ok().filter(|r| r.is_finite() && *r >= 0.0)?;
    let now = now.duration_since(UNIX_EPOCH).ok()?.as_secs_f64();
    Some(Duration::from_secs_f64((reset - now).clamp(0.0, MAX_WAIT.as_secs_f64())))
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

    const POLICY: RetryPolicy = RetryPolicy { max_retries: 3, backoff_factor: 1.0 };

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn retry_after_seconds_wins() {
        let h = headers(&[("retry-after", "7"), ("x-ratelimit-reset", "1000100")]);
        let w = POLICY.wait_after(0, StatusCode::TOO_MANY_REQUESTS, &h, at(1_000_000));
        assert_eq!(w, Duration::from_secs(7));
    }

    #[test]
    fn retry_after_http_date() {
        let h = headers(&[("retry-after", "Sun, 06 Nov 1994 08:49:37 GMT")]);
        let date = 784111777;
        let w = POLICY.wait_after(0, StatusCode::SERVICE_UNAVAILABLE, &h, at(date - 5));
        assert_eq!(w, Duration::from_secs(5));
    }

    #[test]
    fn ratelimit_reset_plus_small_jitter() {
        let h = headers(&[("x-ratelimit-reset", "1000003"), ("x-ratelimit-remaining", "0")]);
        for _ in 0..50 {
            let w = POLICY.wait_after(5, StatusCode::TOO_MANY_REQUESTS, &h, at(1_000_000));
            assert!(w >= Duration::from_secs(3), "{w:?}");
            assert!(w <= Duration::from_secs(3) + RESET_JITTER, "{w:?}");
        }
    }

    #[test]
    fn reset_is_ignored_for_server_errors_with_budget_left() {
        let h = headers(&[("x-ratelimit-reset", "1000030"), ("x-ratelimit-remaining", "9")]);
        let w = POLICY.wait_after(0, StatusCode::BAD_GATEWAY, &h, at(1_000_000));
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
        let slow = RetryPolicy { max_retries: 1, backoff_factor: 60.0 };
        let w = slow.backoff(3);
        assert!(w >= MAX_WAIT / 2 && w <= MAX_WAIT, "{w:?}");
        let huge = headers(&[("retry-after", "3600")]);
        assert_eq!(POLICY.wait_after(0, StatusCode::TOO_MANY_REQUESTS, &huge, at(0)), MAX_WAIT);
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
