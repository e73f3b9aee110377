//! A local Auth0 tenant emulator: an HTTP server (axum) on a real socket that speaks
//! the token endpoint and the Management API paths the tool uses, with Auth0's shapes,
//! status codes, error bodies and limits. Never easier on the client than Auth0.
//!
//! It is a crate of its own that depends on nothing of `auth0-sync` and shares none of
//! its types: it is the oracle the client is tested against, and a type shared with the
//! client would make it agree with the client's bugs.
//!
//! Where Auth0's behaviour is not in `../shared/auth0/` the emulator picks the stricter
//! reading: unknown query parameters and body properties are 400s, `q` accepts only
//! `field:value` terms joined by `AND`, bodies must be JSON, `GET /roles/{id}/users`
//! and `GET /users/{id}/roles` need both `read:users` and `read:roles`, unknown role ids
//! are 404s, and `/users-by-email` matches exactly (the OAS says case-sensitive) while
//! database emails are stored lowercased. Checkpoint cursors are opaque.
//!
//! At scale (rate limits, jobs, faults) the stricter readings are:
//! - The token bucket (`rate_limit`, off by default) is one budget for the Management
//!   API *and* `/oauth/token` (Auth0 budgets its Authentication API apart).
//!   `x-ratelimit-reset` is the UNIX second, rounded up, when the next token is there.
//! - Faults (`faults`) hit `/api/v2/*` and `/oauth/token` alike: the i-th such request
//!   meets the i-th draw of a `StdRng` seeded with `seed` (deterministic for sequential
//!   requests, in arrival order for concurrent ones). A faulted request is not performed
//!   and takes no bucket token; about half of the injected 429s carry `Retry-After: 1`.
//! - Jobs answer `pending`, then `processing`, for the first `job_pending_polls` polls
//!   (default 1), or until `job_max_pending` (2 s) has passed, and complete on the next
//!   poll; an export is taken, and an import applied, only then. Jobs are not saved.
//! - `connection_id` of jobs must match Auth0's `^con_[A-Za-z0-9]{16}$`; an unknown one
//!   is a 400. Export bodies must be JSON (the OAS also allows a form).
//! - Exports: without `format` the file is CSV (say `json` to get NDJSON); at most 30
//!   `fields`; without `fields` a fixed default set (see `jobs.rs`); `export_as` renames the key in JSON lines as in CSV columns; a field
//!   with no value is left out of the JSON line (empty CSV cell); CSV cannot name
//!   `app_metadata`, `user_metadata` or `identities` whole; CSV strings are escaped the
//!   OWASP way Auth0 documents (`"'value"`). The `location` is signed
//!   (`X-Amz-Signature`) and needs no bearer token; a wrong signature or an expired
//!   URL (after `export_url_lifetime`, 60 s) is a 403 with an S3-style XML body.
//! - Imports: the whole multipart payload is limited to 512000 bytes (413); the file
//!   must be a non-empty JSON array when posted (400; Auth0 may fail the job later
//!   instead); a third import while two are pending is a 429 whose message is ours
//!   (the references do not record Auth0's wording). Per user: only the bulk-import
//!   schema's properties (a plain `password` is an error), a valid email, a
//!   bcrypt-shaped `password_hash`, `username` exactly when the connection requires
//!   it; an existing email in the connection is `DUPLICATED_USER` unless `upsert`,
//!   which replaces the given fields (metadata objects whole). Password hashes are
//!   never kept nor echoed by `/jobs/{id}/errors`, which answers the job itself while
//!   it runs and 204 when a completed job has no errors.
//! - `GET /__emulator/stats` (no auth) neither counts itself nor waits `latency_ms`;
//!   every other request, export downloads included, does both.
//!
//! Auth0 as it really is (each behind a knob of [`EmulatorOptions`], off by default
//! where Auth0's behaviour is uncertain; the tool is tested under each):
//! - Every `GET /jobs/{id}` of a completed export hands out a fresh download link,
//!   valid for `export_url_lifetime`; an expired one is a 403 `AccessDenied` (the docs'
//!   "you have 24 hours to call it again"). Always on.
//! - An export by `connection_id` holds the users whose *primary* identity is in it:
//!   a user linked under another primary is left out (search finds it). Always on.
//! - `identities` in the state file make linked accounts: `identities.connection` in
//!   `q` matches any identity, `/users-by-email` the user's own email only, and a
//!   `POST /users` (or an import) with the email of a linked database login is a 409
//!   (`DUPLICATED_USER`). Always on for such users.
//! - `index_lag`: search (`GET /users`, list and `q=`) and, with `export_from_index`
//!   (default), export files see the tenant as it was that long ago, deleted users
//!   included; `GET /users/{id}` and `/users-by-email` are immediate (Auth0 docs).
//! - `export_gzip_members`: the file in several concatenated gzip members;
//!   `export_content_encoding`: served with `Content-Encoding: gzip`.
//! - `job_duration`: jobs take that long on the emulator clock, with
//!   `time_left_seconds` and `percentage_done` while they run.
//! - `role_batch`: a `POST /roles/{id}/users` naming a deleted user or one at 50 roles
//!   is refused whole (default, the likelier reading) or done for the others.
//! - `clock_skew_secs`: `Date` (always on every answer, from the emulator clock) and
//!   `x-ratelimit-reset` run ahead of or behind the emulator's clock.
//! - `reset_reading`: `x-ratelimit-reset` is when the next token comes (default, the
//!   docs) or when the bucket is full again (an Auth0 SDK maintainer's reading).
//! - `endpoint_buckets`: the self-service plans' bucket per endpoint group
//!   ([`ENDPOINT_BUCKETS`]) on top of `rate_limit`; each answer reports its own.
//! - `fault_retry_after`: the `Retry-After` of injected 429s.
//!
//! Time (token expiry, job pending time, export link expiry, the bucket,
//! `x-ratelimit-reset`, timestamps) is read from [`EmulatorOptions::clock`]: the
//! machine's by default, a [`Clock::manual`] that tests move instead of sleeping. Only
//! `latency_ms` is real time.
//!
//! For the user lifecycle (renames, invitations, leavers), researched in
//! `AUTH0-BEHAVIOUR.md` (§6 PATCH, §7 invitations, §8 sessions, §10 connections, §11
//! errors) with one [`LifecycleOptions`] knob per uncertain reading, the stricter
//! readings are:
//! - `PATCH /users/{id}`: properties outside the OAS schema are 400s (the OAS says
//!   `additionalProperties: true`), and so is `{}`. Any `email` in the body is a change,
//!   even to the current address: lower-cased, `email_verified` becomes false unless the
//!   body gives it (`patch_email_resets_verified`), and a verification email is recorded
//!   unless `verify_email: false`, or `email_verified: true` without `verify_email` (the
//!   documented `POST /users` rule; the OAS's "`email_verified: false` alone sends
//!   nothing" is the lenient reading, not modelled); `verify_email: true` alone also
//!   mails. Another user of the connection with the address (in any case) is 400
//!   `auth0_idp_error` "The specified new email already exists". `email: null` is a 400
//!   unless the connection has usernames; a non-database user's email cannot change
//!   (400 "Cannot update email for this user", `operation_not_supported` is ours), nor
//!   can `email_verified` of enterprise or passwordless users.
//! - `password` with `email`, `email_verified` or `username` is 400 "Cannot update
//!   password and X simultaneously" (`invalid_body` is ours; `patch_forbidden_combos`).
//!   `connection` must name a connection of the user's identity (else 400), and is
//!   required for those four properties under `patch_requires_connection`. `client_id`
//!   goes only with `email` and must be a known application (400 `inexistent_client`).
//! - A new `password` lifts the administrator's block (documented) even when the same
//!   body says `blocked: true`; the answer then carries `blocked: false`. Brute-force
//!   blocks (`/user-blocks`) are not modelled. Only `update:users` allows a PATCH (Auth0
//!   also takes `update:users_app_metadata` for metadata-only bodies).
//! - Metadata: top-level keys merge, nested objects are replaced whole, a top-level
//!   `null` deletes its key, `{}` clears it all; `app_metadata: null` is a 400 (the
//!   schema says object), nested `null`s are stored as sent, and keys with `.` or `$`
//!   at any depth are 400s. `name: null` removes the name, which then renders as the
//!   email (as for a user created without one); `""` for any name is a 400.
//! - `POST /dbconnections/change_password`: a JSON body only, unknown parameters and
//!   `organization` (no organizations are modelled) are 400s; `client_id` is required
//!   (`change_password_requires_client_id`) and the connection must be enabled for it
//!   (`change_password_requires_enabled_client`); an unknown address answers 200 and
//!   mails nothing (`change_password_unknown_email`). The per-address limit (10 at once,
//!   1 a minute) is keyed by the address alone (every caller shares it, whatever its IP)
//!   and counts every well-formed attempt, unknown addresses included. Error
//!   descriptions are ours but "Connection does not exist" and "the connection was
//!   disabled". It is outside the tenant bucket and fault injection (Authentication
//!   API) but is a write for the [`Halt`].
//! - Tickets: `ttl_sec` at most 2592000 (`ticket_ttl_max`); `result_url` with
//!   `client_id` or `organization_id`, `user_id` with `email` or `connection_id`, are
//!   400s; only users of database connections get tickets; tickets draw from the same
//!   per-address budget (`ticket_shares_address_limit`); `identity` (secondary
//!   identities) is refused. Messages are ours.
//! - Sessions and refresh tokens: the plan gate (`sessions_api`, `refresh_tokens_api`)
//!   answers before the user is looked up, on the `GET` probes as on the `DELETE`s; an
//!   unknown user is a 404 (`revoke_unknown_user_accepted`); lists are always empty.
//! - `GET /connections` no longer carries `enabled_clients` (end of life 2026-07-13;
//!   `legacy_enabled_clients`); `GET /connections/{id}/clients` needs `read:connections`.
//! - The state file is rewritten on exit only when it would change.

pub mod args;
mod auth;
mod clock;
mod enabled_clients;
mod error;
mod http;
mod invites;
mod jobs;
pub mod lifecycle;
pub mod outbox;
mod query;
mod routes;
mod sessions;
pub mod state;
mod users_patch;

pub use args::EmulatorArgs;
pub use clock::Clock;
pub use error::EmulatorError;
pub use lifecycle::{FeatureAnswer, LifecycleOptions};
pub use outbox::{EmailKind, Invitation, InvitationKind, Revocation, RevocationKind, SentEmail, Ticket};
pub use state::TenantState;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
pub use state::StateIdentity;
use state::{ClientApp, StateConnection, StateRole, StateUser};
use std::collections::BTreeMap;
use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A token bucket like Auth0's tenant budget: `burst` requests at once, refilled at
/// `per_second`. Past it the Management API answers 429.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    pub burst: u32,
    pub per_second: f64,
}

impl RateLimit {
    /// Auth0 Free tier: burst 2, 2 req/s.
    pub const FREE: RateLimit = RateLimit { burst: 2, per_second: 2.0 };
    /// Enterprise production: burst 50, 16 req/s.
    pub const ENTERPRISE: RateLimit = RateLimit { burst: 50, per_second: 16.0 };
}

/// Fault injection: a seeded sequence answers a share of the Management API and token
/// requests with 429 or 503 without performing them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Faults {
    /// Share (0..=1) of requests answered 429.
    pub rate_429: f64,
    /// Share (0..=1) of requests answered 503.
    pub rate_503: f64,
    pub seed: u64,
}

/// What `x-ratelimit-reset` says. Auth0's docs say "when additional requests will be
/// added"; an Auth0 SDK maintainer says it is when the bucket is full again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ResetReading {
    /// The UNIX second (rounded up) when the next token is there.
    #[default]
    NextToken,
    /// The UNIX second (rounded up) when the bucket is full again.
    BucketFull,
}

/// What `POST /api/v2/roles/{id}/users` does with a batch naming a user that does not
/// exist (deleted since the plan) or already holds 50 roles. Not documented.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum RoleBatch {
    /// The whole batch is refused (404 `inexistent_user`, or 400 `too_many_roles`);
    /// nobody is assigned.
    #[default]
    RejectAll,
    /// The other users are assigned, the bad ones silently skipped; 200.
    Partial,
}

/// Auth0's per-endpoint buckets of the self-service (Essentials/Professional) plans,
/// instead of one global bucket: read users (`GET` under `/users`, `/users-by-email`)
/// burst 40, 500/min; write users (`POST`/`PATCH` under `/users`) 20, 200/min; delete
/// (`DELETE` under `/users`) 20, 200/min; `GET /connections` 5, 50/min; every other
/// Management API endpoint 10, 150/min. `/oauth/token` (the Authentication API) is
/// not limited. Each answer's `x-ratelimit-*` describe its own endpoint's bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EndpointBuckets {
    /// Refill rates multiplied by this (1.0: the plan's; tests run faster).
    pub speed: f64,
}

/// The endpoint buckets of [`EndpointBuckets`]: (burst, requests per minute).
pub const ENDPOINT_BUCKETS: [(u32, f64); 5] = [(40, 500.0), (20, 200.0), (20, 200.0), (5, 50.0), (10, 150.0)];

/// Knobs of an emulator run.
#[derive(Debug, Clone, PartialEq)]
pub struct EmulatorOptions {
    /// Lifetime of issued tokens (`expires_in`); Auth0's is 86400 s.
    pub token_lifetime: Duration,
    /// `None`: never answer 429 (headers still report a nominal Enterprise budget).
    pub rate_limit: Option<RateLimit>,
    /// Sleep this long before answering each request.
    pub latency_ms: u64,
    /// `None`: no injected faults.
    pub faults: Option<Faults>,
    /// Where [`Emulator::shutdown`] writes the request counts (JSON of `/__emulator/stats`).
    pub counts_file: Option<PathBuf>,
    /// Polls of `GET /api/v2/jobs/{id}` a job answers as not completed before it completes.
    pub job_pending_polls: u32,
    /// A job also completes once this old, polled or not.
    pub job_max_pending: Duration,
    /// How long an export's `location` can be downloaded (Auth0: 60 s).
    pub export_url_lifetime: Duration,
    /// Where the emulator reads the time: [`Clock::system`] by default; a test passes a
    /// [`Clock::manual`] (and keeps a clone, or uses [`Emulator::clock`]) to move it
    /// instead of sleeping.
    pub clock: Clock,
    /// Tests only: remember received passwords and issued tokens in memory
    /// ([`Emulator::secrets_seen`]) so a test can assert none leaks.
    pub witness_secrets: bool,
    /// Readings of email changes, invitations, sessions and enabled clients.
    pub lifecycle: LifecycleOptions,
    /// Search index lag: `GET /api/v2/users` (list and `q=`) sees the tenant as it was
    /// this long ago (emulator clock): new users missing, deleted ones still there,
    /// changed ones stale. `GET /users/{id}` and `/users-by-email` are immediate. Zero: off.
    pub index_lag: Duration,
    /// With `index_lag`: export files are written from the lagging index too (else
    /// from the tenant as it is).
    pub export_from_index: bool,
    /// Gzip members an export file is written in (concatenated, as a chunked writer
    /// makes them); 1: one member.
    pub export_gzip_members: u32,
    /// Serve export files with `Content-Encoding: gzip` (and `Content-Type:
    /// application/json`), as an S3 object stored with that metadata is served;
    /// otherwise as `application/gzip` without `Content-Encoding`.
    pub export_content_encoding: bool,
    /// Emulator-clock time a job takes from its creation (`time_left_seconds` counts
    /// it down, `percentage_done` counts up); zero: jobs follow `job_pending_polls`.
    pub job_duration: Duration,
    /// How a role batch with one bad user is answered.
    pub role_batch: RoleBatch,
    /// Seconds the emulator's `Date` and `x-ratelimit-reset` are ahead of (positive) or
    /// behind (negative) its clock, as a tenant whose clock differs from the client's.
    pub clock_skew_secs: i64,
    /// What `x-ratelimit-reset` means.
    pub reset_reading: ResetReading,
    /// Per-endpoint buckets (self-service plans) on top of `rate_limit`; `None`: off.
    pub endpoint_buckets: Option<EndpointBuckets>,
    /// `Retry-After` (seconds) of injected 429s, carried by about half of them (the
    /// others only have the reset); 0: every injected 429 says `Retry-After: 0`.
    pub fault_retry_after: u32,
}

impl Default for EmulatorOptions {
    fn default() -> Self {
        EmulatorOptions {
            token_lifetime: Duration::from_secs(86400),
            rate_limit: None,
            latency_ms: 0,
            faults: None,
            counts_file: None,
            job_pending_polls: 1,
            job_max_pending: Duration::from_secs(2),
            export_url_lifetime: Duration::from_secs(60),
            clock: Clock::system(),
            witness_secrets: false,
            lifecycle: LifecycleOptions::default(),
            index_lag: Duration::ZERO,
            export_from_index: true,
            export_gzip_members: 1,
            export_content_encoding: false,
            job_duration: Duration::ZERO,
            role_batch: RoleBatch::RejectAll,
            clock_skew_secs: 0,
            reset_reading: ResetReading::NextToken,
            endpoint_buckets: None,
            fault_retry_after: 1,
        }
    }
}

/// The tenant as the handlers see it: users indexed (and ordered) by `user_id`.
#[derive(Debug, Default)]
pub(crate) struct Tenant {
    pub clients: Vec<ClientApp>,
    pub connections: Vec<StateConnection>,
    pub roles: Vec<StateRole>,
    pub users: BTreeMap<String, StateUser>,
}

impl Tenant {
    fn from_state(s: TenantState) -> Self {
        Tenant {
            clients: s.clients,
            connections: s.connections,
            roles: s.roles,
            users: s.users.into_iter().map(|u| (u.user_id.clone(), u)).collect(),
        }
    }

    fn to_state(&self) -> TenantState {
        TenantState {
            clients: self.clients.clone(),
            connections: self.connections.clone(),
            roles: self.roles.clone(),
            users: self.users.values().cloned().collect(),
        }
    }
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: clock::Tick,
}

/// The endpoint group of a request, for [`EndpointBuckets`] (index into
/// [`ENDPOINT_BUCKETS`]); `None` for what they do not limit.
fn endpoint_group(method: &axum::http::Method, path: &str) -> Option<usize> {
    let rest = path.strip_prefix("/api/v2/")?;
    let first = rest.split('/').next().unwrap_or_default();
    Some(match first {
        "users" | "users-by-email" => match *method {
            axum::http::Method::GET => 0,
            axum::http::Method::DELETE => 2,
            _ => 1,
        },
        "connections" => 3,
        _ => 4,
    })
}

/// The search index's past views of the users, for `index_lag`: each snapshot is the
/// users as they were from its tick on.
#[derive(Debug, Default)]
struct IndexHistory {
    snaps: std::collections::VecDeque<(clock::Tick, Arc<BTreeMap<String, StateUser>>)>,
}

/// `Sun, 06 Nov 1994 08:49:37 GMT`
fn http_date(unix: f64) -> String {
    let t = std::time::UNIX_EPOCH + Duration::from_secs_f64(unix.max(0.0));
    chrono::DateTime::<chrono::Utc>::from(t).format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// Where a crash test stops the tenant: at the Nth write request (any `POST`,
/// `PATCH`, `PUT` or `DELETE` under `/api/v2` but the users-export job, which only
/// reads, and `POST /dbconnections/change_password`, which sends an email). Every request after it is held forever and never performed, as if the
/// process on the other side had died at that instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Halt {
    /// The Nth write is held before it is performed: the tool sent it (and journaled
    /// that it would), Auth0 never saw it.
    BeforeWrite(u64),
    /// The Nth write is performed, but its answer is never sent: Auth0 did it, the
    /// tool never learns so.
    AfterWrite(u64),
}

#[derive(Debug, Default)]
struct Halting {
    halt: Option<Halt>,
    writes: u64,
    halted: bool,
}

/// Everything the handlers share.
pub(crate) struct Shared {
    halting: Mutex<Halting>,
    halted: tokio::sync::Notify,
    pub tenant: Mutex<Tenant>,
    pub tokens: Mutex<auth::TokenStore>,
    pub base_url: String,
    /// Every time the emulator reads (a copy of [`EmulatorOptions::clock`]).
    pub clock: Clock,
    options: Mutex<EmulatorOptions>,
    counts: Mutex<Counts>,
    bucket: Mutex<Bucket>,
    endpoint_buckets: Mutex<Vec<Bucket>>,
    index: Mutex<IndexHistory>,
    faults: Mutex<Option<(Faults, StdRng)>>,
    pub jobs: Mutex<jobs::Jobs>,
    /// Test witness: passwords received and tokens issued, kept in memory only when
    /// [`EmulatorOptions::witness_secrets`] is on, so tests can prove the tool never
    /// prints them. Never saved.
    pub witness: Mutex<Option<Vec<String>>>,
    /// Emails, tickets and revocations (never saved).
    outbox: Mutex<outbox::Outbox>,
}

impl Shared {
    /// Remembers a secret value when the witness is on.
    pub fn witness(&self, secret: &str) {
        if let Some(w) = self.witness.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
            w.push(secret.to_owned());
        }
    }

    pub(crate) fn outbox(&self) -> std::sync::MutexGuard<'_, outbox::Outbox> {
        self.outbox.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Requests per route template and answers per status.
#[derive(Debug, Default)]
struct Counts {
    routes: BTreeMap<String, u64>,
    status: BTreeMap<String, u64>,
}

impl Counts {
    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "routes": self.routes,
            "status": self.status,
            "total": self.routes.values().sum::<u64>(),
        })
    }
}

/// What the fault sequence decided for one request.
enum Fault {
    TooMany { retry_after: bool },
    Unavailable,
}

impl Shared {
    pub fn token_lifetime(&self) -> Duration {
        self.options.lock().unwrap_or_else(|e| e.into_inner()).token_lifetime
    }

    pub fn options(&self) -> EmulatorOptions {
        self.options.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Draws the next value of the seeded fault sequence (one draw per eligible request,
    /// in arrival order).
    fn fault(&self) -> Option<Fault> {
        let mut guard = self.faults.lock().unwrap_or_else(|e| e.into_inner());
        let (f, rng) = guard.as_mut()?;
        let x: f64 = rng.random();
        let retry_after: bool = rng.random();
        if x < f.rate_429 {
            Some(Fault::TooMany { retry_after })
        } else if x < f.rate_429 + f.rate_503 {
            Some(Fault::Unavailable)
        } else {
            None
        }
    }

    /// The clock the tenant shows in `Date` and `x-ratelimit-reset`: the emulator's,
    /// offset by `clock_skew_secs`.
    fn shown_unix_secs(&self) -> f64 {
        self.clock.unix_secs_f64() + self.options.lock().unwrap_or_else(|e| e.into_inner()).clock_skew_secs as f64
    }

    /// Takes one request from the bucket (when `consume`); returns whether it was
    /// allowed and the three `x-ratelimit-*` values.
    fn rate(&self, consume: bool) -> (bool, u32, u32, u64) {
        let limit = self.options.lock().unwrap_or_else(|e| e.into_inner()).rate_limit;
        let Some(rl) = limit else {
            let n = RateLimit::ENTERPRISE.burst;
            return (true, n, n, self.shown_unix_secs().ceil() as u64);
        };
        let mut b = self.bucket.lock().unwrap_or_else(|e| e.into_inner());
        self.take(&mut b, rl, consume)
    }

    /// [`Shared::rate`] of the endpoint bucket `group` (with [`EndpointBuckets`]).
    fn endpoint_rate(&self, group: usize, eb: EndpointBuckets, consume: bool) -> (bool, u32, u32, u64) {
        let (burst, per_minute) = ENDPOINT_BUCKETS[group];
        let rl = RateLimit { burst, per_second: per_minute / 60.0 * eb.speed.max(0.001) };
        let mut buckets = self.endpoint_buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.is_empty() {
            let now = self.clock.tick();
            *buckets = ENDPOINT_BUCKETS.iter().map(|(b, _)| Bucket { tokens: f64::from(*b), last: now }).collect();
        }
        self.take(&mut buckets[group], rl, consume)
    }

    fn take(&self, b: &mut Bucket, rl: RateLimit, consume: bool) -> (bool, u32, u32, u64) {
        let reading = self.options.lock().unwrap_or_else(|e| e.into_inner()).reset_reading;
        let shown = self.shown_unix_secs();
        let burst = f64::from(rl.burst.max(1));
        let rate = rl.per_second.max(0.001);
        let now = self.clock.tick();
        b.tokens = (b.tokens + now.since(b.last).as_secs_f64() * rate).min(burst);
        b.last = now;
        let allowed = !consume || b.tokens >= 1.0;
        if consume && allowed {
            b.tokens -= 1.0;
        }
        let wait = match reading {
            // When the next token is available (now, when one is left).
            ResetReading::NextToken => ((1.0 - b.tokens) / rate).max(0.0),
            // When the bucket is full again.
            ResetReading::BucketFull => ((burst - b.tokens) / rate).max(0.0),
        };
        (allowed, rl.burst, b.tokens.floor() as u32, (shown + wait).ceil() as u64)
    }

    /// The users as the search index has them now (the tenant as it was `index_lag`
    /// ago); `None` when the index does not lag.
    pub(crate) fn indexed_users(&self) -> Option<Arc<BTreeMap<String, StateUser>>> {
        let lag = self.options.lock().unwrap_or_else(|e| e.into_inner()).index_lag;
        if lag.is_zero() {
            return None;
        }
        let now = self.clock.tick();
        let mut h = self.index.lock().unwrap_or_else(|e| e.into_inner());
        // The newest view at least `lag` old; the first one stands for all time before.
        let visible = h.snaps.iter().rposition(|(t, _)| now.since(*t) >= lag).unwrap_or(0);
        h.snaps.drain(..visible);
        h.snaps.front().map(|(_, u)| u.clone())
    }

    /// Records the users as they are now for the lagging index (when it lags and they
    /// changed since the last record).
    fn record_index(&self) {
        if self.options.lock().unwrap_or_else(|e| e.into_inner()).index_lag.is_zero() {
            return;
        }
        let last = self.index.lock().unwrap_or_else(|e| e.into_inner()).snaps.back().map(|(_, u)| u.clone());
        let users = {
            let t = self.tenant.lock().unwrap_or_else(|e| e.into_inner());
            if last.is_some_and(|last| *last == t.users) {
                return;
            }
            t.users.clone()
        };
        let now = self.clock.tick();
        let mut h = self.index.lock().unwrap_or_else(|e| e.into_inner());
        let several = h.snaps.len() > 1;
        match h.snaps.back_mut() {
            // The same instant (a manual clock): the newest view replaces the last.
            Some((t, last)) if *t == now && several => *last = Arc::new(users),
            _ => h.snaps.push_back((now, Arc::new(users))),
        }
    }
}

/// Path of the statistics endpoint (no auth, not counted, no latency).
const STATS_PATH: &str = "/__emulator/stats";

/// Counts requests per route template and answers per status, applies the latency,
/// injects faults, rate-limits the Management API and the token endpoint, authorises
/// `/api/v2`, and adds the `x-ratelimit-*` headers to every answer.
async fn guard(State(s): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    if req.uri().path() == STATS_PATH {
        return finish(&s, next.run(req).await, false, None);
    }
    let write = req.method() != axum::http::Method::GET
        && req.uri().path().starts_with("/api/v2/")
        && req.uri().path() != "/api/v2/jobs/users-exports"
        // An invitation email is a write too (crash tests: "resume does not invite twice").
        || req.uri().path() == "/dbconnections/change_password";
    let after_this = match s.halt_point(write) {
        HaltPoint::Hold => return std::future::pending().await,
        HaltPoint::AfterThis => true,
        HaltPoint::Go => false,
    };
    if after_this {
        let _ = guarded(&s, req, next).await;
        s.record_index();
        s.halted.notify_waiters();
        return std::future::pending().await;
    }
    let resp = guarded(&s, req, next).await;
    s.record_index();
    resp
}

enum HaltPoint {
    Go,
    /// Perform this request, then hold it.
    AfterThis,
    /// Hold it unperformed.
    Hold,
}

impl Shared {
    /// Where this request stands with respect to the halt (counts writes).
    fn halt_point(&self, write: bool) -> HaltPoint {
        let mut h = self.halting.lock().unwrap_or_else(|e| e.into_inner());
        if h.halted {
            return HaltPoint::Hold;
        }
        if !write {
            return HaltPoint::Go;
        }
        h.writes += 1;
        match h.halt {
            Some(Halt::BeforeWrite(n)) if h.writes >= n => {
                h.halted = true;
                drop(h);
                self.halted.notify_waiters();
                HaltPoint::Hold
            }
            Some(Halt::AfterWrite(n)) if h.writes >= n => {
                h.halted = true;
                HaltPoint::AfterThis
            }
            _ => HaltPoint::Go,
        }
    }
}

/// [`guard`] once the halt let the request through.
async fn guarded(s: &Arc<Shared>, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let template = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_owned());
    let key = format!("{method} {}", template.as_deref().unwrap_or("<unmatched>"));
    *s.counts.lock().unwrap_or_else(|e| e.into_inner()).routes.entry(key).or_default() += 1;
    let latency = s.options.lock().unwrap_or_else(|e| e.into_inner()).latency_ms;
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    jobs::advance(s);
    let path = req.uri().path();
    let is_api = path.starts_with("/api/v2");
    let budgeted = is_api || path == "/oauth/token";
    let endpoint = s.options().endpoint_buckets.and_then(|eb| endpoint_group(&method, path).map(|g| (g, eb)));
    // Faults first: the i-th budgeted request meets the i-th value of the sequence,
    // whatever the bucket says. A faulted request is not performed.
    let fault = if budgeted { s.fault() } else { None };
    let resp = match fault {
        Some(Fault::Unavailable) => http::ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "The service is temporarily unavailable. Please try again later.",
            None,
        )
        .into_response(),
        Some(Fault::TooMany { retry_after }) => {
            let mut r = too_many();
            let (_, limit, _, reset) = match endpoint {
                Some((g, eb)) => s.endpoint_rate(g, eb, false),
                None => s.rate(false),
            };
            let after = s.options().fault_retry_after;
            let h = r.headers_mut();
            h.insert("x-ratelimit-limit", HeaderValue::from(limit));
            h.insert("x-ratelimit-remaining", HeaderValue::from(0u32));
            let shown = s.shown_unix_secs();
            let reset = if after == 0 { shown.ceil() as u64 } else { reset.max(shown as u64 + u64::from(after)) };
            h.insert("x-ratelimit-reset", HeaderValue::from(reset));
            if retry_after || after == 0 {
                h.insert(header::RETRY_AFTER, HeaderValue::from(after));
            }
            return finish(s, r, true, None);
        }
        None => {
            let (allowed, ..) = if budgeted { s.rate(true) } else { (true, 0, 0, 0) };
            // The global limit first, then the endpoint's (Auth0's rate-limit policy).
            let allowed = allowed && endpoint.is_none_or(|(g, eb)| s.endpoint_rate(g, eb, true).0);
            if !allowed {
                too_many()
            } else if is_api {
                let need = template.as_deref().and_then(|t| auth::required_scopes(&method, t));
                match auth::authorize(s, req.headers(), need) {
                    Ok(()) => next.run(req).await,
                    Err(e) => e.into_response(),
                }
            } else {
                next.run(req).await
            }
        }
    };
    finish(s, resp, true, endpoint)
}

fn too_many() -> Response {
    http::ApiError::new(StatusCode::TOO_MANY_REQUESTS, "Global limit has been reached", Some("too_many_requests"))
        .into_response()
}

/// Charset, `Date` (on the tenant's shown clock), `x-ratelimit-*` headers (unless
/// already set; of the endpoint bucket when there is one) and the status count.
fn finish(s: &Shared, mut resp: Response, count: bool, endpoint: Option<(usize, EndpointBuckets)>) -> Response {
    if count {
        let status = resp.status().as_u16().to_string();
        *s.counts.lock().unwrap_or_else(|e| e.into_inner()).status.entry(status).or_default() += 1;
    }
    let (_, limit, remaining, reset) = match endpoint {
        Some((g, eb)) => s.endpoint_rate(g, eb, false),
        None => s.rate(false),
    };
    let date = http_date(s.shown_unix_secs());
    let h = resp.headers_mut();
    // Auth0 labels its JSON with a charset.
    if h.get(header::CONTENT_TYPE).is_some_and(|v| v == "application/json") {
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
    }
    if let Ok(v) = HeaderValue::from_str(&date) {
        h.insert(header::DATE, v);
    }
    if !h.contains_key("x-ratelimit-limit") {
        h.insert("x-ratelimit-limit", HeaderValue::from(limit));
        h.insert("x-ratelimit-remaining", HeaderValue::from(remaining));
        h.insert("x-ratelimit-reset", HeaderValue::from(reset));
    }
    resp
}

/// `GET /__emulator/stats`: `{routes: {"GET /api/v2/users": n}, status: {"200": n}, total}`.
async fn stats(State(s): State<Arc<Shared>>) -> Response {
    axum::Json(s.counts.lock().unwrap_or_else(|e| e.into_inner()).json()).into_response()
}

fn router(shared: Arc<Shared>) -> Router {
    use routes::*;
    Router::new()
        .route("/oauth/token", post(auth::token_endpoint))
        .route("/api/v2/users", get(list_users).post(create_user))
        .route("/api/v2/users/{id}", get(get_user).patch(update_user).delete(delete_user))
        .route("/api/v2/users/{id}/roles", get(list_user_roles).post(assign_user_roles).delete(remove_user_roles))
        .route("/api/v2/users/{id}/sessions", get(sessions::list_user_sessions).delete(sessions::delete_user_sessions))
        .route(
            "/api/v2/users/{id}/refresh-tokens",
            get(sessions::list_user_refresh_tokens).delete(sessions::delete_user_refresh_tokens),
        )
        .route("/api/v2/tickets/password-change", post(invites::create_password_change_ticket))
        .route("/api/v2/connections/{id}/clients", get(enabled_clients::list_connection_clients))
        .route("/dbconnections/change_password", post(invites::change_password))
        .route("/api/v2/users-by-email", get(users_by_email))
        .route("/api/v2/roles", get(list_roles).post(create_role))
        .route("/api/v2/roles/{id}", get(get_role).delete(delete_role))
        .route("/api/v2/roles/{id}/users", get(list_role_users).post(assign_role_users))
        .route("/api/v2/connections", get(list_connections))
        .route("/api/v2/jobs/users-exports", post(jobs::create_export))
        .route("/api/v2/jobs/users-imports", post(jobs::create_import))
        .route("/api/v2/jobs/{id}", get(jobs::get_job))
        .route("/api/v2/jobs/{id}/errors", get(jobs::get_job_errors))
        .route("/__emulator/exports/{file}", get(jobs::download_export))
        .route(STATS_PATH, get(stats))
        .fallback(http::not_found)
        .method_not_allowed_fallback(http::not_found)
        .layer(axum::middleware::from_fn_with_state(shared.clone(), guard))
        .with_state(shared)
}

/// A running emulator. Dropping it without [`Emulator::shutdown`] stops serving
/// without saving.
pub struct Emulator {
    addr: SocketAddr,
    shared: Arc<Shared>,
    state_path: Option<PathBuf>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Emulator {
    /// Binds `listen` (port 0 picks a free port) and starts serving `state`.
    /// On shutdown the state is written to `state_path` when given.
    pub async fn start(
        listen: SocketAddr,
        state: TenantState,
        state_path: Option<PathBuf>,
    ) -> Result<Emulator, EmulatorError> {
        Self::start_with(listen, state, state_path, EmulatorOptions::default()).await
    }

    /// [`Emulator::start`] with explicit options (token lifetime, rate limit).
    pub async fn start_with(
        listen: SocketAddr,
        state: TenantState,
        state_path: Option<PathBuf>,
        options: EmulatorOptions,
    ) -> Result<Emulator, EmulatorError> {
        state.validate().map_err(|why| EmulatorError::InvalidState { why })?;
        let cannot_listen = |e: std::io::Error| EmulatorError::Listen { addr: listen, reason: e.to_string() };
        let listener = tokio::net::TcpListener::bind(listen).await.map_err(cannot_listen)?;
        let addr = listener.local_addr().map_err(cannot_listen)?;
        let burst = options.rate_limit.map_or(0.0, |r| f64::from(r.burst));
        let options_witness = options.witness_secrets;
        let clock = options.clock.clone();
        let bucket = Bucket { tokens: burst, last: clock.tick() };
        let shared = Arc::new(Shared {
            halting: Mutex::new(Halting::default()),
            halted: tokio::sync::Notify::new(),
            tenant: Mutex::new(Tenant::from_state(state)),
            tokens: Mutex::new(auth::TokenStore::default()),
            base_url: format!("http://{addr}"),
            clock,
            faults: Mutex::new(options.faults.map(|f| (f, StdRng::seed_from_u64(f.seed)))),
            options: Mutex::new(options),
            counts: Mutex::new(Counts::default()),
            bucket: Mutex::new(bucket),
            endpoint_buckets: Mutex::new(Vec::new()),
            index: Mutex::new(IndexHistory::default()),
            jobs: Mutex::new(jobs::Jobs::default()),
            witness: Mutex::new(options_witness.then(Vec::new)),
            outbox: Mutex::new(outbox::Outbox::default()),
        });
        if !shared.options().index_lag.is_zero() {
            // The index starts out agreeing with the tenant.
            let users = shared.tenant.lock().unwrap_or_else(|e| e.into_inner()).users.clone();
            shared
                .index
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .snaps
                .push_back((shared.clock.tick(), Arc::new(users)));
        }
        let app = router(shared.clone());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await
        });
        Ok(Emulator { addr, shared, state_path, stop: Some(tx), task: Some(task) })
    }

    /// The emulator's clock (the options' one): advance it when it is manual.
    pub fn clock(&self) -> &Clock {
        &self.shared.clock
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// A copy of the current tenant state.
    pub async fn state(&self) -> TenantState {
        self.shared.tenant.lock().unwrap_or_else(|e| e.into_inner()).to_state()
    }

    /// Requests served so far, per route template, e.g. `GET /api/v2/users` or
    /// `DELETE /api/v2/users/{id}` (`<unmatched>` for unknown paths).
    /// Passwords received and tokens issued, when `witness_secrets` is on.
    pub fn secrets_seen(&self) -> Vec<String> {
        self.shared.witness.lock().unwrap_or_else(|e| e.into_inner()).clone().unwrap_or_default()
    }

    pub fn request_counts(&self) -> BTreeMap<String, u64> {
        self.shared.counts.lock().unwrap_or_else(|e| e.into_inner()).routes.clone()
    }

    /// Answers given so far, per HTTP status (`"200"`, `"429"`, ...).
    pub fn status_counts(&self) -> BTreeMap<String, u64> {
        self.shared.counts.lock().unwrap_or_else(|e| e.into_inner()).status.clone()
    }

    /// What `GET /__emulator/stats` answers: `{routes, status, total}`.
    pub fn stats(&self) -> serde_json::Value {
        self.shared.counts.lock().unwrap_or_else(|e| e.into_inner()).json()
    }

    /// Replaces the whole tenant (tests that run many scenarios against one address,
    /// so that plans made for it stay valid). Jobs, counts and the halt start afresh;
    /// issued tokens stay valid.
    pub fn reset(&self, state: TenantState) -> Result<(), EmulatorError> {
        state.validate().map_err(|why| EmulatorError::InvalidState { why })?;
        *self.shared.tenant.lock().unwrap_or_else(|e| e.into_inner()) = Tenant::from_state(state);
        *self.shared.jobs.lock().unwrap_or_else(|e| e.into_inner()) = jobs::Jobs::default();
        *self.shared.counts.lock().unwrap_or_else(|e| e.into_inner()) = Counts::default();
        self.set_halt(None);
        Ok(())
    }

    /// Arms a halt (crash tests); `None` disarms it and lets requests through again
    /// (requests already held stay held). The write count starts again from zero.
    pub fn set_halt(&self, halt: Option<Halt>) {
        let mut h = self.shared.halting.lock().unwrap_or_else(|e| e.into_inner());
        *h = Halting { halt, writes: 0, halted: false };
    }

    /// Write requests seen since the halt was last set.
    pub fn writes_seen(&self) -> u64 {
        self.shared.halting.lock().unwrap_or_else(|e| e.into_inner()).writes
    }

    /// Waits until the armed halt point is reached.
    pub async fn halted(&self) {
        loop {
            let mut notified = std::pin::pin!(self.shared.halted.notified());
            notified.as_mut().enable();
            if self.shared.halting.lock().unwrap_or_else(|e| e.into_inner()).halted {
                return;
            }
            notified.await;
        }
    }

    /// Every email Auth0 would have sent so far (verification and change-password), in
    /// order.
    pub fn emails(&self) -> Vec<SentEmail> {
        self.shared.outbox().emails.clone()
    }

    /// The verification emails among [`Emulator::emails`].
    pub fn verification_emails(&self) -> Vec<SentEmail> {
        self.emails().into_iter().filter(|e| e.kind == EmailKind::Verification).collect()
    }

    /// Every invitation so far, in order: change-password emails sent
    /// ([`InvitationKind::Email`]) and tickets issued ([`InvitationKind::Ticket`]).
    pub fn invitations(&self) -> Vec<Invitation> {
        self.shared.outbox().invitations.clone()
    }

    /// Every password-change ticket issued so far, with its (secret) URL.
    pub fn tickets(&self) -> Vec<Ticket> {
        self.shared.outbox().tickets.clone()
    }

    /// Every accepted session and refresh-token revocation so far, in order.
    pub fn revocations(&self) -> Vec<Revocation> {
        self.shared.outbox().revocations.clone()
    }

    /// Changes the lifecycle readings from now on (e.g. a tenant losing the sessions
    /// API between plan and apply).
    pub fn set_lifecycle(&self, lifecycle: LifecycleOptions) {
        self.shared.options.lock().unwrap_or_else(|e| e.into_inner()).lifecycle = lifecycle;
    }

    /// Changes the lifetime of tokens issued from now on (tests of expiry).
    pub fn set_token_lifetime(&self, lifetime: Duration) {
        self.shared.options.lock().unwrap_or_else(|e| e.into_inner()).token_lifetime = lifetime;
    }

    /// Turns the 429 budget on (`Some`) or off (`None`) from now on.
    pub fn set_rate_limit(&self, limit: Option<RateLimit>) {
        self.shared.options.lock().unwrap_or_else(|e| e.into_inner()).rate_limit = limit;
        let mut b = self.shared.bucket.lock().unwrap_or_else(|e| e.into_inner());
        b.tokens = limit.map_or(0.0, |r| f64::from(r.burst));
        b.last = self.shared.clock.tick();
    }

    /// Turns fault injection on (`Some`, restarting the sequence from its seed) or off
    /// (`None`) from now on.
    pub fn set_faults(&self, faults: Option<Faults>) {
        self.shared.options.lock().unwrap_or_else(|e| e.into_inner()).faults = faults;
        *self.shared.faults.lock().unwrap_or_else(|e| e.into_inner()) =
            faults.map(|f| (f, StdRng::seed_from_u64(f.seed)));
    }

    /// Stops serving, saves the state to `state_path` (if any, and only when the file
    /// does not already hold this very state: an untouched tenant leaves its file
    /// alone), writes the request counts to the options' `counts_file` (if any) and
    /// returns the state.
    pub async fn shutdown(mut self) -> Result<TenantState, EmulatorError> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(mut task) = self.task.take() {
            // Graceful first; connections kept open by clients must not hang us.
            match tokio::time::timeout(Duration::from_secs(5), &mut task).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => {
                    return Err(EmulatorError::Server { reason: e.to_string() });
                }
                Ok(Err(e)) => return Err(EmulatorError::Task { reason: e.to_string() }),
                Err(_) => task.abort(),
            }
        }
        jobs::advance(&self.shared);
        let state = self.state().await;
        if let Some(path) = &self.state_path
            && !file_holds(path, &state)
        {
            state.save(path)?;
        }
        if let Some(path) = self.shared.options().counts_file {
            write_counts(&path, &self.stats())?;
        }
        Ok(state)
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Whether the state file at `path` already holds `state` (same content, whatever the
/// formatting and the order of users); an unreadable or invalid file does not.
fn file_holds(path: &Path, state: &TenantState) -> bool {
    let Ok(text) = std::fs::read_to_string(path) else {
        return false;
    };
    let Ok(on_disk) = serde_json::from_str::<TenantState>(&text) else {
        return false;
    };
    Tenant::from_state(on_disk).to_state() == Tenant::from_state(state.clone()).to_state()
}

/// The line `run` prints first: `listening on http://127.0.0.1:PORT`.
pub fn listening_line(emulator: &Emulator) -> String {
    format!("listening on {}", emulator.base_url())
}

/// Writes `stats` as pretty JSON to `path` (temporary file, then rename).
fn write_counts(path: &Path, stats: &serde_json::Value) -> Result<(), EmulatorError> {
    let fail =
        |e: &dyn std::fmt::Display| EmulatorError::CountsFile { path: path.to_path_buf(), reason: e.to_string() };
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| fail(&e))?;
    serde_json::to_writer_pretty(&mut tmp, stats).map_err(|e| fail(&e))?;
    tmp.write_all(b"\n").map_err(|e| fail(&e))?;
    tmp.persist(path).map_err(|e| fail(&e.error))?;
    Ok(())
}

/// The body of [`run`], with its output and its stop signal injected (tests drive
/// it in-process): loads `state_path`, serves on `listen`, writes the listening line
/// to `out`, waits for `stop`, saves `state_path` (and the counts file of `options`)
/// and returns the final state.
pub async fn serve_until_with<W, F>(
    state_path: &Path,
    listen: SocketAddr,
    options: EmulatorOptions,
    out: &mut W,
    stop: F,
) -> Result<TenantState, EmulatorError>
where
    W: Write + ?Sized,
    F: Future<Output = ()>,
{
    serve_with(state_path, true, listen, options, out, stop).await
}

/// [`serve_until_with`], saving `state_path` on stop only when `save` (and only when
/// the state differs from what the file holds); without it the file is only read.
pub async fn serve_with<W, F>(
    state_path: &Path,
    save: bool,
    listen: SocketAddr,
    options: EmulatorOptions,
    out: &mut W,
    stop: F,
) -> Result<TenantState, EmulatorError>
where
    W: Write + ?Sized,
    F: Future<Output = ()>,
{
    let state = TenantState::load(state_path)?;
    let save_to = save.then(|| state_path.to_path_buf());
    let emulator = Emulator::start_with(listen, state, save_to, options).await?;
    let line = listening_line(&emulator);
    writeln!(out, "{line}").and_then(|()| out.flush()).map_err(|e| EmulatorError::Stdout { reason: e.to_string() })?;
    stop.await;
    emulator.shutdown().await
}

/// Resolves on SIGINT or SIGTERM.
async fn termination() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// `auth0-sync emulator`: loads `--state`, serves on `--listen` with the options the
/// arguments ask for, prints `listening on http://ADDR` as its first stdout line, and
/// on SIGINT/SIGTERM saves the state file (when it changed, and never with
/// `--no-save`) and writes `--counts-file`.
pub async fn run(args: EmulatorArgs) -> Result<(), EmulatorError> {
    let mut stdout = std::io::stdout();
    let options = args.options();
    serve_with(&args.state, !args.no_save, args.listen, options, &mut stdout, termination()).await?;
    Ok(())
}

/// Fuzzing entry point: the emulator's parsing of a users query (`q=`) and of a
/// `POST /users` JSON body, as a request would reach them. Never panics; the result
/// says whether the request would be accepted.
#[doc(hidden)]
pub fn fuzz_parse_request(q: &str, body: &[u8]) -> (bool, bool) {
    let query_ok = query::parse(q).is_ok_and(|parsed| {
        // Matching must not panic on any parsed query.
        let _ = parsed.matches(&state::StateUser::default());
        true
    });
    let mut headers = axum::http::HeaderMap::new();
    headers.insert(axum::http::header::CONTENT_TYPE, axum::http::HeaderValue::from_static("application/json"));
    let bytes = axum::body::Bytes::copy_from_slice(body);
    let body_ok = http::Body::parse(&headers, &bytes, routes::CREATE_USER_PROPS, &["connection"]).is_ok();
    (query_ok, body_ok)
}

/// [`fuzz_parse_request`] on raw fuzzer bytes: `q` up to the first NUL byte (lossy
/// UTF-8), the body after it.
#[doc(hidden)]
pub fn fuzz_request_bytes(data: &[u8]) -> (bool, bool) {
    let split = data.iter().position(|b| *b == 0).unwrap_or(data.len());
    let q = String::from_utf8_lossy(&data[..split]);
    let body = data.get(split + 1..).unwrap_or_default();
    fuzz_parse_request(&q, body)
}
