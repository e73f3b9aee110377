//! Typed async client of the Management API v2 over reqwest.
//!
//! One [`Auth0Client`] holds the HTTP pool, the cached access token, the retry
//! policy and the request budget behind an `Arc`; clones share them. Every request:
//! - carries a token that is fetched with client credentials, cached, refreshed shortly
//!   before it expires and, once per request, after the API answers 401;
//! - takes its turn in the process's budget ([`super::limiter`]), which takes only
//!   `AUTH0_RATE_SHARE` of the tenant's;
//! - is retried on 429, 408, 5xx and network errors as [`super::retry`] says (until a
//!   time budget is spent for what is safe to repeat), except `POST /users`, which is
//!   only retried when Auth0 certainly did not process it;
//! - turns failures into [`Auth0Error`]s that keep Auth0's `message` and `errorCode`
//!   and never carry the client secret, the token, a password or a request body.
//!
//! A client can carry a [`CancellationToken`] ([`Auth0Client::with_cancel`]): once it
//! fires, every wait (budget, retry backoff, job poll) ends at once with
//! [`Auth0Error::Cancelled`] and no further request is sent; a request already sent is
//! never cut.

use super::Auth0Error;
use super::retry::RetryPolicy;
use super::transport::error_chain;
use crate::settings::{Auth0Settings, Secret};
use std::fmt;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
/// Page size of offset-paged lists and of role member pages (Auth0's maximum).
pub const PER_PAGE: u64 = 100;
/// Auth0 pages through at most this many results of one `/users` query.
pub const SEARCH_LIMIT: u64 = 1000;
/// Roles whose members are listed at the same time.
pub(super) const ROLE_MEMBER_CONCURRENCY: usize = 4;
pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
pub(super) const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// An export download may take as long as it needs, but not stall this long between reads.
pub(super) const DOWNLOAD_READ_TIMEOUT: Duration = Duration::from_secs(60);
/// Job polls: never more often than the floor, never further apart than the cap.
pub const JOB_POLL_FLOOR: Duration = Duration::from_millis(500);
pub const JOB_POLL_CAP: Duration = Duration::from_secs(30);
/// Lifetime assumed when the token answer does not say (Auth0's default).
pub(super) const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(86_400);
/// A token is replaced this long before it expires (or after 90% of a short lifetime).
pub(super) const TOKEN_REFRESH_MARGIN: Duration = Duration::from_secs(300);

/// A connection of the tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub id: String,
    pub name: String,
    pub strategy: String,
}

/// Cheap to clone; clones share the token, HTTP pool and request budget.
#[derive(Clone)]
pub struct Auth0Client {
    pub(super) inner: Arc<Inner>,
    /// Cuts every wait of this clone (see the module docs).
    pub(super) cancel: CancellationToken,
    pub(super) polling: JobPolling,
}

/// How often a job is polled: after `time_left_seconds` when Auth0 gives it (else
/// twice as long as last time), never sooner than `floor`, never later than `cap`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobPolling {
    pub floor: Duration,
    pub cap: Duration,
}

impl Default for JobPolling {
    fn default() -> Self {
        JobPolling { floor: JOB_POLL_FLOOR, cap: JOB_POLL_CAP }
    }
}

pub(super) struct Inner {
    pub(super) http: reqwest::Client,
    /// For export files: no automatic decompression (the client reads gzip itself,
    /// whatever `Content-Encoding` says), no total timeout, a read timeout.
    pub(super) download: reqwest::Client,
    /// The tenant's clock (offset from `Date`).
    pub(super) clock: super::clock::ServerClock,
    /// Longest wait for one job (AUTH0_JOB_TIMEOUT).
    pub(super) job_timeout: Duration,
    /// `https://tenant.auth0.com`, no trailing slash.
    pub(super) origin: String,
    /// `{origin}/api/v2/`: the token audience.
    pub(super) audience: String,
    pub(super) client_id: String,
    pub(super) client_secret: Secret,
    pub(super) policy: RetryPolicy,
    /// The process's request budget, shared by every clone.
    pub(super) limiter: super::limiter::Limiter,
    /// The cached token. An async mutex, so that concurrent callers wait for one refresh.
    pub(super) token: tokio::sync::Mutex<Option<Token>>,
    /// Scopes of the current token, readable without awaiting.
    pub(super) scopes: StdMutex<Vec<String>>,
}

pub(super) struct Token {
    pub(super) access: Secret,
    pub(super) refresh_at: Instant,
}

impl fmt::Debug for Auth0Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Auth0Client")
            .field("origin", &self.inner.origin)
            .field("client_id", &self.inner.client_id)
            .field("client_secret", &self.inner.client_secret)
            .field("token", &"***")
            .field("policy", &self.inner.policy)
            .field("share", &self.inner.limiter.share())
            .field("job_timeout", &self.inner.job_timeout)
            .field("cancelled", &self.cancel.is_cancelled())
            .finish()
    }
}

impl Auth0Client {
    /// Builds the client and obtains a token with client credentials.
    pub async fn connect(settings: &Auth0Settings) -> Result<Self, Auth0Error> {
        let origin = settings.base_url.trim_end_matches('/').to_owned();
        let http = reqwest::Client::builder()
            .user_agent(concat!("auth0-sync/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Auth0Error::Network {
                url: origin.clone(),
                message: format!("cannot set up the HTTP client: {}", error_chain(&e)),
            })?;
        let download = reqwest::Client::builder()
            .user_agent(concat!("auth0-sync/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(DOWNLOAD_READ_TIMEOUT)
            .no_gzip()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Auth0Error::Network {
                url: origin.clone(),
                message: format!("cannot set up the HTTP client: {}", error_chain(&e)),
            })?;
        let share = settings.rate_share;
        let client = Auth0Client {
            inner: Arc::new(Inner {
                http,
                download,
                clock: super::clock::ServerClock::default(),
                job_timeout: settings.job_timeout,
                audience: format!("{origin}/api/v2/"),
                origin,
                client_id: settings.client_id.clone(),
                client_secret: settings.client_secret.clone(),
                policy: RetryPolicy {
                    max_retries: settings.max_retries,
                    backoff_factor: settings.backoff_factor,
                    budget: settings.retry_budget,
                },
                limiter: match settings.rate_limit {
                    Some(rate) => {
                        super::limiter::Limiter::fixed(rate, settings.rate_burst.unwrap_or(rate.ceil() as u32), share)
                    }
                    None => super::limiter::Limiter::adaptive(share),
                },
                token: tokio::sync::Mutex::new(None),
                scopes: StdMutex::new(Vec::new()),
            }),
            cancel: CancellationToken::new(),
            polling: JobPolling::default(),
        };
        client.access_token().await?;
        Ok(client)
    }

    /// Scopes granted to the token.
    pub fn scopes(&self) -> Vec<String> {
        self.inner.scopes.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// A clone whose waits `cancel` cuts (Ctrl-C): once it fires, every wait for the
    /// budget, a retry or a job ends with [`Auth0Error::Cancelled`] and nothing more is
    /// sent; a request already sent runs to its answer. Shares everything else.
    pub fn with_cancel(&self, cancel: CancellationToken) -> Auth0Client {
        Auth0Client { cancel, ..self.clone() }
    }

    /// The token that cuts this clone's waits.
    pub fn cancel_token(&self) -> &CancellationToken {
        &self.cancel
    }

    /// A clone that polls jobs as `polling` says (tests and benchmarks shorten it
    /// against an emulator whose clock runs fast).
    pub fn with_job_polling(&self, polling: JobPolling) -> Auth0Client {
        Auth0Client { polling, ..self.clone() }
    }

    /// The request budget shared by every clone (for reports and tests).
    pub fn limiter(&self) -> &super::limiter::Limiter {
        &self.inner.limiter
    }

    /// `server clock − local clock`, in seconds, as the `Date` headers say.
    pub fn server_clock_offset(&self) -> f64 {
        self.inner.clock.offset()
    }

    /// Sleeps `d`, unless the cancellation token fires first.
    pub(super) async fn pause(&self, d: Duration, method: &str, path: &str) -> Result<(), Auth0Error> {
        tokio::select! {
            () = tokio::time::sleep(d) => Ok(()),
            () = self.cancel.cancelled() => {
                Err(Auth0Error::Cancelled { method: method.to_owned(), path: path.to_owned() })
            }
        }
    }
}
