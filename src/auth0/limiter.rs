//! One request budget for the whole process: every request of every client clone
//! takes a [`Permit`] here before it is sent, and gives back what the answer said.
//!
//! The tenant's budget is a token bucket (or several: Essentials plans have one per
//! endpoint group), shared with its Actions and every other client, so this run takes
//! only [`Limiter::share`] of it:
//! - **Its pace**: at most `share ×` the tenant's refill rate. With `AUTH0_RATE_LIMIT`
//!   that rate is given; otherwise it is *measured*: while the tenant's bucket is not
//!   full, what it refilled is `Δremaining + requests answered` over the time between
//!   two answers (summed over such stretches, at least a second's worth; the errors
//!   lean low, so the pace errs on the side of less). Until a measurement exists (the
//!   first second or so of a run), only the next rule holds the run back.
//! - **Its reserve**: it never takes the tenant's `x-ratelimit-remaining` below
//!   `(1 − share) ×` the bucket size (`x-ratelimit-limit`), counting its own requests
//!   in flight as already spent. When the bucket is that low, it waits for the refill
//!   at the measured (or a cautious) rate, not for `x-ratelimit-reset`: whether reset
//!   means "next token" or "bucket full" is not documented, and neither is needed.
//!   Before the rate is measured, with nothing in flight, one request every 100 ms
//!   refreshes the count.
//! - **429**: every task pauses (for `Retry-After`, else until the reset on the
//!   tenant's clock, never less than [`super::retry::MIN_429_WAIT`]); logged once per
//!   pause, not once per task.
//!
//! Buckets are told apart by their size: each request belongs to an Auth0 endpoint
//! [`Group`], and groups whose answers report the same `x-ratelimit-limit` share one
//! model (so a tenant with one global bucket is one model). A tenant that states no
//! budget at all gets a pace that grows until it answers 429, and halves then.

use super::retry::{MIN_429_WAIT, WaitFor};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Where the pace of a tenant that states no budget starts (Auth0's Free tier).
const START_RATE: f64 = 2.0;
const START_BURST: f64 = 2.0;
/// The pace of a tenant that states no budget never goes past this.
const MAX_UNSTATED_RATE: f64 = 50.0;
/// Refill rates are measured over at least this long...
const MIN_WINDOW: Duration = Duration::from_secs(1);
/// ... and at most this long (older answers are forgotten).
const MAX_WINDOW: Duration = Duration::from_secs(30);
/// A waiting task looks again at least this often (answers may free the budget).
const RECHECK: Duration = Duration::from_millis(200);
/// Before the refill rate is measured, with nothing in flight, the tenant's count is
/// refreshed by one request this often (the cautious refill guess would stall).
const PROBE: Duration = Duration::from_millis(100);

/// Auth0's endpoint groups (the Essentials/Professional rate-limit table): each may
/// have a bucket of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// `GET /users`, `/users/{id}`, `/users/{id}/roles`, `/users-by-email`.
    ReadUsers,
    /// `POST`/`PATCH` under `/users`.
    WriteUsers,
    /// `DELETE` under `/users`.
    DeleteUsers,
    /// `GET /connections`.
    Connections,
    /// Roles, role members, jobs, everything else of the Management API.
    Other,
    /// `POST /oauth/token` (the Authentication API).
    Token,
}

const GROUPS: usize = 6;

impl Group {
    /// The group of a Management API request (`segments` after `/api/v2/`).
    pub fn of(method: &Method, segments: &[&str]) -> Group {
        match segments.first().copied() {
            Some("users") | Some("users-by-email") => match *method {
                Method::GET => Group::ReadUsers,
                Method::DELETE => Group::DeleteUsers,
                _ => Group::WriteUsers,
            },
            Some("connections") => Group::Connections,
            _ => Group::Other,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// A token bucket of our own.
#[derive(Debug, Clone)]
struct Pace {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl Pace {
    fn new(rate: f64, burst: f64, now: Instant) -> Pace {
        let burst = burst.max(1.0);
        Pace { rate: rate.max(0.01), burst, tokens: burst, last: now }
    }

    fn refill(&mut self, now: Instant) {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + dt * self.rate).min(self.burst);
        self.last = now;
    }

    /// How long until one token is there (`None`: now).
    fn wait(&self) -> Option<Duration> {
        (self.tokens < 1.0).then(|| Duration::from_secs_f64((1.0 - self.tokens) / self.rate))
    }
}

/// What the tenant's last answer said its bucket held.
#[derive(Debug, Clone, Copy)]
struct View {
    remaining: f64,
    at: Instant,
    /// Our requests sent but not counted in `remaining` (as far as we know).
    debt: f64,
}

/// Measures the tenant's refill rate from its counts while the bucket is not full.
///
/// A stretch runs from the first to the last answer seen while the bucket was not
/// full (a full bucket loses refill); what it refilled is `Δremaining + answers in
/// between`. Small buckets refill in well under a second, so stretches are summed
/// over the last [`MAX_WINDOW`] until they cover [`MIN_WINDOW`].
#[derive(Debug, Default)]
struct Estimator {
    /// The current stretch: (first, last) sample.
    current: Option<(Sample, Sample)>,
    /// Finished stretches: (ended, seconds, tokens refilled), oldest first.
    done: VecDeque<(Instant, f64, f64)>,
    consumed: u64,
}

/// What one answer said: when, the bucket's `remaining`, answers counted so far, and
/// requests then in flight (some of which the count may already include).
#[derive(Debug, Clone, Copy)]
struct Sample {
    at: Instant,
    remaining: f64,
    consumed: u64,
    in_flight: f64,
}

impl Sample {
    /// Seconds and tokens refilled from `self` to `last`. Requests in flight at `self`
    /// may have been counted in its `remaining` already and are counted again when
    /// answered: they are taken off, so the result leans low.
    fn refill_to(&self, last: &Sample) -> (f64, f64) {
        let secs = last.at.saturating_duration_since(self.at).as_secs_f64();
        (secs, last.remaining - self.remaining + (last.consumed - self.consumed) as f64 - self.in_flight)
    }
}

impl Estimator {
    /// One answer that took a token, with the bucket's `remaining` after it, while
    /// `in_flight` other requests of the bucket were still unanswered.
    ///
    /// Errors lean low: a stretch during which the bucket was full for a moment unseen
    /// (answers out of order) counts the lost refill as none, and requests in flight at
    /// its start are not counted, so the rate measured is at most the tenant's, and a
    /// pace from it at most the share.
    fn observe(&mut self, now: Instant, remaining: f64, limit: f64, in_flight: u32) -> Option<f64> {
        self.consumed += 1;
        // Since the last answer of the stretch the bucket held at most `remaining` plus
        // the tokens taken by the answers counted since: at `limit` it may have been
        // full, and refill lost. (A small bucket is taken to be full only at its size,
        // or it would never be measured.)
        let since = self.current.map_or(1, |(_, last)| self.consumed - last.consumed) as f64;
        let slack = if limit >= 4.0 { 0.0 } else { 1.0 };
        let full = remaining + since - slack >= limit;
        if full {
            if let Some((first, last)) = self.current.take() {
                let (secs, refilled) = first.refill_to(&last);
                if secs > 0.0 {
                    self.done.push_back((last.at, secs, refilled));
                }
            }
        } else {
            let sample = Sample { at: now, remaining, consumed: self.consumed, in_flight: f64::from(in_flight) };
            match &mut self.current {
                None => self.current = Some((sample, sample)),
                Some((_, last)) => *last = sample,
            }
        }
        while self.done.front().is_some_and(|(ended, ..)| now.saturating_duration_since(*ended) > MAX_WINDOW) {
            self.done.pop_front();
        }
        let (mut secs, mut refilled) =
            self.done.iter().fold((0.0, 0.0), |(s, r), (_, secs, refilled)| (s + secs, r + refilled));
        if let Some((first, last)) = &self.current {
            let (s, r) = first.refill_to(last);
            secs += s;
            refilled += r;
        }
        (secs >= MIN_WINDOW.as_secs_f64() && refilled >= 3.0).then(|| refilled / secs)
    }
}

/// One of the tenant's buckets, as far as this process can tell.
#[derive(Debug)]
struct Model {
    /// `x-ratelimit-limit`, once an answer said it.
    limit: Option<f64>,
    /// Our pace in this bucket: `share ×` its measured rate; before the tenant stated
    /// any budget, the growing pace of a tenant that states none; `None` while the
    /// rate is being measured.
    pace: Option<Pace>,
    /// The tenant's refill rate, once measured.
    rate: Option<f64>,
    view: Option<View>,
    in_flight: u32,
    estimator: Estimator,
}

impl Model {
    fn new(now: Instant) -> Model {
        Model {
            limit: None,
            pace: Some(Pace::new(START_RATE, START_BURST, now)),
            rate: None,
            view: None,
            in_flight: 0,
            estimator: Estimator::default(),
        }
    }
}

#[derive(Debug)]
struct State {
    /// `AUTH0_RATE_LIMIT`/`AUTH0_RATE_BURST` scaled by the share, and the tenant rate given.
    fixed: Option<(Pace, f64)>,
    models: Vec<Model>,
    /// Model of each group (0 until its answers said a bucket size).
    group_model: [usize; GROUPS],
    /// No request before this instant (a 429).
    paused_until: Option<Instant>,
}

#[derive(Debug)]
pub struct Limiter {
    share: f64,
    state: Mutex<State>,
    /// Wakes waiting tasks when an answer brought news of the tenant's count.
    news: tokio::sync::Notify,
}

/// The right to send one request; give the answer back with [`Permit::observe`].
/// Dropped unobserved (no answer came), it only ends the request's time in flight.
#[must_use]
pub struct Permit<'a> {
    limiter: &'a Limiter,
    group: Group,
    model: usize,
    done: bool,
}

/// A wait cut by the cancellation token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cancelled;

impl Limiter {
    /// A fixed budget: the tenant allows `rate` requests/s in bursts of `burst`; this
    /// run takes `share` of both.
    pub fn fixed(rate: f64, burst: u32, share: f64) -> Limiter {
        let share = clamp_share(share);
        let now = Instant::now();
        let pace = Pace::new(rate * share, (f64::from(burst.max(1)) * share).floor(), now);
        Self::new(share, Some((pace, rate)))
    }

    /// A budget that follows the tenant's headers, taking `share` of it.
    pub fn adaptive(share: f64) -> Limiter {
        Self::new(clamp_share(share), None)
    }

    fn new(share: f64, fixed: Option<(Pace, f64)>) -> Limiter {
        let now = Instant::now();
        Limiter {
            share,
            state: Mutex::new(State {
                fixed,
                models: vec![Model::new(now)],
                group_model: [0; GROUPS],
                paused_until: None,
            }),
            news: tokio::sync::Notify::new(),
        }
    }

    /// Share of the tenant's budget this run takes.
    pub fn share(&self) -> f64 {
        self.share
    }

    /// The tenant's refill rate as measured for `group`'s bucket (requests/s), if any.
    pub fn measured_rate(&self, group: Group) -> Option<f64> {
        let s = self.lock();
        s.models[s.group_model[group.index()]].rate
    }

    /// The size (`x-ratelimit-limit`) of `group`'s bucket, once an answer said it.
    pub fn bucket_size(&self, group: Group) -> Option<f64> {
        let s = self.lock();
        s.models[s.group_model[group.index()]].limit
    }

    /// Our pace for `group`'s bucket (requests/s): the fixed one, or share × measured.
    pub fn pace(&self, group: Group) -> Option<f64> {
        let s = self.lock();
        match &s.fixed {
            Some((p, _)) => Some(p.rate),
            None => s.models[s.group_model[group.index()]].pace.as_ref().map(|p| p.rate),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until the budget allows one more request of `group`, and takes it;
    /// [`Cancelled`] when `cancel` fires first (or had fired).
    pub async fn acquire(&self, group: Group, cancel: &CancellationToken) -> Result<Permit<'_>, Cancelled> {
        loop {
            if cancel.is_cancelled() {
                return Err(Cancelled);
            }
            let news = self.news.notified();
            tokio::pin!(news);
            news.as_mut().enable();
            let wait = {
                let mut s = self.lock();
                let now = Instant::now();
                match self.try_take(&mut s, group, now) {
                    Ok(model) => return Ok(Permit { limiter: self, group, model, done: false }),
                    Err(wait) => wait,
                }
            };
            tracing::trace!(?group, wait_ms = wait.as_millis() as u64, "waiting for the request budget");
            tokio::select! {
                () = tokio::time::sleep(wait.min(RECHECK)) => {}
                () = &mut news => {}
                () = cancel.cancelled() => return Err(Cancelled),
            }
        }
    }

    /// Takes one request of `group` now (returns its model), or says how long to wait.
    fn try_take(&self, s: &mut State, group: Group, now: Instant) -> Result<usize, Duration> {
        if let Some(until) = s.paused_until {
            if until > now {
                return Err(until - now);
            }
            s.paused_until = None;
        }
        let idx = s.group_model[group.index()];
        let fixed_rate = s.fixed.as_ref().map(|(_, r)| *r);
        let mut wait = Duration::ZERO;
        if let Some((p, _)) = &mut s.fixed {
            p.refill(now);
            wait = wait.max(p.wait().unwrap_or_default());
        }
        let m = &mut s.models[idx];
        if let Some(p) = &mut m.pace {
            p.refill(now);
            wait = wait.max(p.wait().unwrap_or_default());
        }
        if let (Some(v), Some(limit)) = (m.view, m.limit) {
            // The tenant's bucket, extrapolated at its (measured, given or cautious)
            // refill rate, less what we sent since it was counted, less the reserve.
            let refill = m.rate.or(fixed_rate).unwrap_or((limit / 30.0).max(0.5));
            let reserve = (1.0 - self.share) * limit;
            let age = now.saturating_duration_since(v.at);
            let avail = v.remaining + refill * age.as_secs_f64() - v.debt - reserve;
            if avail < 1.0 {
                let mut pin = Duration::from_secs_f64((1.0 - avail) / refill);
                if m.rate.is_none() && fixed_rate.is_none() && m.in_flight == 0 {
                    // Not measured yet and nothing in flight: the count is all we know
                    // and it only gets fresher with an answer, so ask again soon.
                    pin = pin.min(PROBE.saturating_sub(age));
                }
                wait = wait.max(pin);
            }
        }
        if !wait.is_zero() {
            return Err(wait);
        }
        if let Some((p, _)) = &mut s.fixed {
            p.tokens -= 1.0;
        }
        let m = &mut s.models[idx];
        if let Some(p) = &mut m.pace {
            p.tokens -= 1.0;
        }
        if let Some(v) = &mut m.view {
            v.debt += 1.0;
        }
        m.in_flight += 1;
        Ok(idx)
    }

    /// Learns from an answer to a request of `group` taken from `model`: its status and
    /// `x-ratelimit-*` / `Retry-After` headers; `server_now` is the tenant's time (UNIX
    /// seconds) for the reset.
    fn observe(&self, group: Group, model: usize, status: StatusCode, headers: &HeaderMap, server_now: f64) {
        let num =
            |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<f64>().ok());
        let (limit, remaining) = (num("x-ratelimit-limit").filter(|l| *l >= 1.0), num("x-ratelimit-remaining"));
        let mut s = self.lock();
        let now = Instant::now();
        let taken = &mut s.models[model];
        taken.in_flight = taken.in_flight.saturating_sub(1);
        let idx = match limit {
            Some(limit) => self.model_for(&mut s, group, limit, now),
            None => s.group_model[group.index()],
        };
        let fixed = s.fixed.is_some();
        let share = self.share;
        if status == StatusCode::TOO_MANY_REQUESTS {
            let (pause, why) = match super::retry::retry_after(headers, server_now) {
                Some(d) => (d, WaitFor::RetryAfter),
                None => match super::retry::ratelimit_reset(headers, server_now) {
                    Some(d) => (d, WaitFor::Reset),
                    None => (Duration::from_secs(1), WaitFor::Backoff),
                },
            };
            let (pause, why) = if pause < MIN_429_WAIT { (MIN_429_WAIT, WaitFor::Floor) } else { (pause, why) };
            let until = now + pause;
            let m = &mut s.models[idx];
            if let Some(remaining) = remaining {
                m.view = Some(View { remaining: remaining.max(0.0), at: now, debt: f64::from(m.in_flight) });
            }
            if m.limit.is_none()
                && let Some(p) = &mut m.pace
            {
                p.rate = (p.rate / 2.0).max(0.5);
            }
            match s.paused_until {
                Some(current) if current + Duration::from_millis(50) >= until => {}
                current => {
                    s.paused_until = Some(until);
                    if current.is_none_or(|c| c <= now) {
                        tracing::warn!(
                            group = ?group,
                            wait_ms = pause.as_millis() as u64,
                            "Auth0 answered 429 (rate limit): every request waits {} ms, {}",
                            pause.as_millis(),
                            why.describe()
                        );
                    }
                }
            }
            return;
        }
        let m = &mut s.models[idx];
        let Some(remaining) = remaining else {
            if m.limit.is_none()
                && let Some(p) = &mut m.pace
            {
                // A tenant that states no budget: grow until it answers 429.
                p.rate = (p.rate * 1.5 + 1.0).min(MAX_UNSTATED_RATE);
                p.burst = p.burst.max(p.rate.min(10.0));
            }
            return;
        };
        let limit = m.limit.unwrap_or(remaining.max(1.0));
        m.view = Some(View { remaining: remaining.max(0.0), at: now, debt: f64::from(m.in_flight) });
        // A 5xx may not have taken a token: counting it would measure too high.
        if status.is_server_error() {
            return;
        }
        if let Some(rate) = m.estimator.observe(now, remaining, limit, m.in_flight) {
            m.rate = Some(rate);
            if !fixed {
                let (pace_rate, burst) = (share * rate, (share * limit).floor().max(1.0));
                match &mut m.pace {
                    Some(p) => {
                        p.refill(now);
                        p.rate = pace_rate;
                        p.burst = burst;
                        p.tokens = p.tokens.min(burst);
                    }
                    None => {
                        tracing::debug!(?group, rate, pace = pace_rate, "measured the tenant's refill rate");
                        let mut p = Pace::new(pace_rate, burst, now);
                        p.tokens = 0.0;
                        m.pace = Some(p);
                    }
                }
            }
        }
    }

    /// The model of buckets of size `limit`, now `group`'s.
    fn model_for(&self, s: &mut State, group: Group, limit: f64, now: Instant) -> usize {
        let current = s.group_model[group.index()];
        if s.models[current].limit == Some(limit) {
            return current;
        }
        let idx = match s.models.iter().position(|m| m.limit == Some(limit)) {
            Some(i) => i,
            None if s.models[current].limit.is_none() => current,
            None => {
                s.models.push(Model::new(now));
                s.models.len() - 1
            }
        };
        let m = &mut s.models[idx];
        if m.limit.is_none() {
            // The tenant states its bucket: from now on its count and the measured rate
            // hold us, not the cautious start.
            m.limit = Some(limit);
            m.pace = None;
        }
        s.group_model[group.index()] = idx;
        idx
    }
}

impl Permit<'_> {
    /// Gives back what the answer said.
    pub fn observe(mut self, status: StatusCode, headers: &HeaderMap, server_now: f64) {
        self.done = true;
        self.limiter.observe(self.group, self.model, status, headers, server_now);
        self.limiter.news.notify_waiters();
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.done {
            let mut s = self.limiter.lock();
            let m = &mut s.models[self.model];
            m.in_flight = m.in_flight.saturating_sub(1);
        }
    }
}

fn clamp_share(share: f64) -> f64 {
    if share.is_finite() { share.clamp(0.01, 1.0) } else { 1.0 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(limit: u32, remaining: u32) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-ratelimit-limit", HeaderValue::from(limit));
        h.insert("x-ratelimit-remaining", HeaderValue::from(remaining));
        h.insert("x-ratelimit-reset", HeaderValue::from(0u32));
        h
    }

    fn none() -> CancellationToken {
        CancellationToken::new()
    }

    #[tokio::test]
    async fn fixed_budget_spaces_requests_after_the_burst() {
        let l = Limiter::fixed(50.0, 3, 1.0);
        let t = Instant::now();
        for _ in 0..8 {
            drop(l.acquire(Group::Other, &none()).await.unwrap());
        }
        // 3 at once, then 5 more at 50/s: at least 100 ms (no upper bound asserted).
        assert!(t.elapsed() >= Duration::from_millis(95), "{:?}", t.elapsed());
    }

    #[test]
    fn the_share_scales_a_fixed_budget() {
        let l = Limiter::fixed(16.0, 50, 0.5);
        assert_eq!(l.pace(Group::ReadUsers), Some(8.0));
        let s = l.lock();
        assert_eq!(s.fixed.as_ref().unwrap().0.burst, 25.0);
    }

    #[test]
    fn the_reserve_is_never_spent() {
        // Bucket of 50 with 30 left, share 0.5: 5 more (down to 25), then wait.
        let l = Limiter::adaptive(0.5);
        let p = l.try_take(&mut l.lock(), Group::ReadUsers, Instant::now()).unwrap();
        l.observe(Group::ReadUsers, p, StatusCode::OK, &headers(50, 30), 0.0);
        let mut taken = 0;
        while l.try_take(&mut l.lock(), Group::ReadUsers, Instant::now()).is_ok() {
            taken += 1;
            assert!(taken < 100, "never stops");
        }
        assert_eq!(taken, 5, "30 left, 25 of them reserved");
    }

    #[test]
    fn the_refill_rate_is_measured_from_the_tenants_counts() {
        // A tenant refilling 10/s: over 2 s we spend 30 and the count drops from 40 to 30.
        let l = Limiter::adaptive(0.5);
        let t0 = Instant::now();
        let mut s = l.lock();
        let idx = l.model_for(&mut s, Group::WriteUsers, 50.0, t0);
        let m = &mut s.models[idx];
        assert_eq!(m.estimator.observe(t0, 40.0, 50.0, 0), None);
        let mut got = None;
        for i in 1..=30u32 {
            let t = t0 + Duration::from_millis(2000 * u64::from(i) / 30);
            // remaining = 40 + 10·t − i
            let remaining = (40.0 + 10.0 * (2.0 * f64::from(i) / 30.0) - f64::from(i)).floor();
            got = m.estimator.observe(t, remaining, 50.0, 0);
        }
        let rate = got.expect("measured");
        assert!((rate - 10.0).abs() < 1.0, "{rate}");
        // A full bucket ends the stretch; what it measured is kept.
        let kept = m.estimator.observe(t0 + Duration::from_secs(3), 49.0, 50.0, 0).expect("kept");
        assert!((kept - rate).abs() < 1e-9);
        assert!(m.estimator.current.is_none());
        // Requests in flight at the start of a stretch (already counted in its first
        // `remaining`) are not counted twice: 8 of them answered, 1 more taken, 10
        // refilled in 2 s.
        let mut e = Estimator::default();
        e.observe(t0, 30.0, 50.0, 8);
        for i in 1..=8u32 {
            e.observe(t0 + Duration::from_millis(10 * u64::from(i)), 30.0, 50.0, 8 - i);
        }
        let rate = e.observe(t0 + Duration::from_secs(2), 39.0, 50.0, 0).expect("measured");
        assert!((rate - 5.0).abs() < 1e-9, "{rate}");
    }

    #[test]
    fn short_stretches_of_a_fast_small_bucket_add_up() {
        // Bucket of 10 refilling 40/s: it is full again 0.2 s after each burst of 8.
        let mut e = Estimator::default();
        let t0 = Instant::now();
        let mut got = None;
        for burst in 0..12u32 {
            let start = t0 + Duration::from_millis(500 * u64::from(burst));
            for i in 0..8u32 {
                // Spread over 160 ms: remaining = 10 − (i+1) + 40·t
                let t = f64::from(i) * 0.02;
                let remaining = (10.0 - f64::from(i + 1) + 40.0 * t).min(10.0).floor();
                got = e.observe(start + Duration::from_secs_f64(t), remaining, 10.0, 0);
            }
            got = e.observe(start + Duration::from_millis(400), 9.0, 10.0, 0).or(got);
        }
        let rate = got.expect("measured from the sum of stretches");
        assert!((rate - 40.0).abs() < 8.0, "{rate}");
    }

    #[test]
    fn buckets_of_different_sizes_are_different_models() {
        let l = Limiter::adaptive(1.0);
        let p = l.try_take(&mut l.lock(), Group::ReadUsers, Instant::now()).unwrap();
        l.observe(Group::ReadUsers, p, StatusCode::OK, &headers(40, 39), 0.0);
        let p = l.try_take(&mut l.lock(), Group::DeleteUsers, Instant::now()).unwrap();
        l.observe(Group::DeleteUsers, p, StatusCode::OK, &headers(20, 19), 0.0);
        let p = l.try_take(&mut l.lock(), Group::Other, Instant::now()).unwrap();
        l.observe(Group::Other, p, StatusCode::OK, &headers(40, 38), 0.0);
        let s = l.lock();
        assert_eq!(s.models.len(), 2);
        assert_eq!(s.group_model[Group::ReadUsers.index()], s.group_model[Group::Other.index()]);
        assert_ne!(s.group_model[Group::ReadUsers.index()], s.group_model[Group::DeleteUsers.index()]);
    }

    #[test]
    fn a_429_pauses_everyone_even_with_a_fixed_budget() {
        let l = Limiter::fixed(10.0, 10, 1.0);
        let p = l.try_take(&mut l.lock(), Group::Other, Instant::now()).unwrap();
        let mut h = headers(10, 0);
        h.insert("retry-after", HeaderValue::from(0u32));
        l.observe(Group::Other, p, StatusCode::TOO_MANY_REQUESTS, &h, 0.0);
        let wait = l.try_take(&mut l.lock(), Group::ReadUsers, Instant::now()).unwrap_err();
        assert!(wait > MIN_429_WAIT / 2 && wait <= MIN_429_WAIT, "the floor holds: {wait:?}");
        assert_eq!(l.pace(Group::Other), Some(10.0), "a fixed budget keeps its rate");
    }

    #[tokio::test]
    async fn a_cancelled_wait_returns_at_once() {
        let l = Limiter::fixed(0.01, 1, 1.0);
        drop(l.acquire(Group::Other, &none()).await.unwrap());
        let cancel = CancellationToken::new();
        let c = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            c.cancel();
        });
        assert!(l.acquire(Group::Other, &cancel).await.is_err(), "a 100 s wait was cut");
        assert!(l.acquire(Group::Other, &cancel).await.is_err(), "nothing is taken once cancelled");
    }
}
