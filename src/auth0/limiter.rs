//! One request budget for the whole process: a token bucket every request of every
//! client clone draws from. With `AUTH0_RATE_LIMIT`/`AUTH0_RATE_BURST` it is fixed;
//! otherwise it starts cautiously and follows the tenant's `x-ratelimit-*` headers:
//! it takes `remaining` as the tokens it has, slows down as `remaining` runs low,
//! speeds up while it stays high, and waits for `reset` at zero (and after a 429).

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Where an adaptive budget starts (Auth0's Free tier).
const START_RATE: f64 = 2.0;
const START_BURST: f64 = 2.0;
/// The adaptive budget never goes past this many requests per second.
const MAX_ADAPTIVE_RATE: f64 = 50.0;

#[derive(Debug)]
struct Bucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
    /// No request before this instant (tenant said remaining = 0, or a 429).
    paused_until: Option<Instant>,
}

#[derive(Debug)]
pub struct Limiter {
    fixed: bool,
    bucket: Mutex<Bucket>,
}

impl Limiter {
    /// A fixed budget: `rate` requests/s, bursts of `burst`.
    pub fn fixed(rate: f64, burst: u32) -> Limiter {
        Self::new(true, rate, f64::from(burst.max(1)))
    }

    /// A budget that follows the tenant's headers.
    pub fn adaptive() -> Limiter {
        Self::new(false, START_RATE, START_BURST)
    }

    fn new(fixed: bool, rate: f64, burst: f64) -> Limiter {
        Limiter {
            fixed,
            bucket: Mutex::new(Bucket { rate, burst, tokens: burst, last: Instant::now(), paused_until: None }),
        }
    }

    /// Current (rate, burst), for logs and tests.
    pub fn budget(&self) -> (f64, f64) {
        let b = self.bucket.lock().unwrap_or_else(|e| e.into_inner());
        (b.rate, b.burst)
    }

    /// Waits until the budget allows one more request, and takes it.
    pub async fn acquire(&self) {
        loop {
            let wait = {
                let mut b = self.bucket.lock().unwrap_or_else(|e| e.into_inner());
                let now = Instant::now();
                let elapsed = now.duration_since(b.last).as_secs_f64();
                b.tokens = (b.tokens + elapsed * b.rate).min(b.burst);
                b.last = now;
                match b.paused_until {
                    Some(until) if until > now => until - now,
                    _ if b.tokens >= 1.0 => {
                        b.tokens -= 1.0;
                        return;
                    }
                    _ => Duration::from_secs_f64((1.0 - b.tokens) / b.rate),
                }
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// Learns from an answer's status and `x-ratelimit-*` headers.
    pub fn observe(&self, status: StatusCode, headers: &HeaderMap) {
        let num =
            |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<f64>().ok());
        let (limit, remaining, reset) =
            (num("x-ratelimit-limit"), num("x-ratelimit-remaining"), num("x-ratelimit-reset"));
        let until_reset = reset.map(|r| {
            let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
            Duration::from_secs_f64((r - now).clamp(0.0, 60.0))
        });
        let mut b = self.bucket.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        if status == StatusCode::TOO_MANY_REQUESTS {
            // Everyone backs off, not just the request that met the 429: for
            // Retry-After when given (it wins over the reset), else until the reset.
            b.tokens = 0.0;
            let retry_after = num("retry-after").map(|s| Duration::from_secs_f64(s.clamp(0.0, 60.0)));
            let pause = retry_after.or(until_reset).unwrap_or(Duration::from_secs(1)).max(Duration::from_millis(100));
            b.paused_until = Some(now + pause);
            if !self.fixed {
                b.rate = (b.rate / 2.0).max(0.5);
            }
            return;
        }
        if self.fixed {
            // A fixed budget is a ceiling: the tenant's own count can only lower it
            // (another process may be spending the same budget).
            if let Some(remaining) = remaining {
                b.tokens = b.tokens.min(remaining);
                if remaining < 1.0 {
                    b.paused_until = until_reset.map(|d| now + d);
                }
            }
            return;
        }
        if limit.is_none() && remaining.is_none() {
            // A tenant that states no budget: grow until it answers 429.
            b.rate = (b.rate * 1.5 + 1.0).min(MAX_ADAPTIVE_RATE);
            b.burst = b.burst.max(b.rate.min(10.0));
            return;
        }
        if let Some(limit) = limit.filter(|l| *l >= 1.0) {
            b.burst = limit;
        }
        if let Some(remaining) = remaining {
            // The tenant's count is the truth: what it has left is what we may send.
            b.tokens = remaining.min(b.burst);
            if remaining < 1.0 && status.is_success() {
                b.paused_until = until_reset.map(|d| now + d);
            } else if remaining < b.burst / 4.0 {
                b.rate = (b.rate * 0.7).max(0.5);
            } else if remaining > b.burst / 2.0 {
                b.rate = (b.rate * 1.1 + 0.1).min(MAX_ADAPTIVE_RATE);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(limit: u32, remaining: u32, reset_in: u64) -> HeaderMap {
        let reset = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() + reset_in;
        let mut h = HeaderMap::new();
        h.insert("x-ratelimit-limit", HeaderValue::from(limit));
        h.insert("x-ratelimit-remaining", HeaderValue::from(remaining));
        h.insert("x-ratelimit-reset", HeaderValue::from(reset));
        h
    }

    #[tokio::test]
    async fn fixed_budget_spaces_requests_after_the_burst() {
        let l = Limiter::fixed(50.0, 3);
        let t = Instant::now();
        for _ in 0..8 {
            l.acquire().await;
        }
        // 3 at once, then 5 more at 50/s: at least 100 ms (no upper bound asserted).
        assert!(t.elapsed() >= Duration::from_millis(95), "{:?}", t.elapsed());
    }

    #[test]
    fn adaptive_budget_follows_the_headers() {
        let l = Limiter::adaptive();
        l.observe(StatusCode::OK, &headers(50, 49, 1));
        let (rate, burst) = l.budget();
        assert_eq!(burst, 50.0);
        assert!(rate > START_RATE, "remaining high: speed up");
        l.observe(StatusCode::OK, &headers(50, 5, 1));
        assert!(l.budget().0 < rate, "remaining low: slow down");
        l.observe(StatusCode::OK, &headers(50, 0, 2));
        let b = l.bucket.lock().unwrap();
        assert!(
            b.paused_until.is_some_and(|u| u > Instant::now() + Duration::from_millis(500)),
            "wait for reset at zero"
        );
    }

    #[test]
    fn a_429_pauses_everyone_even_with_a_fixed_budget() {
        let l = Limiter::fixed(10.0, 10);
        l.observe(StatusCode::TOO_MANY_REQUESTS, &headers(10, 0, 1));
        let b = l.bucket.lock().unwrap();
        assert_eq!(b.tokens, 0.0);
        assert!(b.paused_until.is_some());
        assert_eq!(b.rate, 10.0, "a fixed budget keeps its rate");
    }
}
