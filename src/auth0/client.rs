//! Typed async client of the Management API v2 over reqwest.
//!
//! One [`Auth0Client`] holds the HTTP pool, the cached access token and the retry
//! policy behind an `Arc`; clones share them. Every request:
//! - carries a token that is fetched with client credentials, cached, refreshed shortly
//!   before it expires and, once per request, after the API answers 401;
//! - is retried on 429, 408, 5xx and network errors as [`super::retry`] says, except
//!   `POST /users`, which is only retried when Auth0 certainly did not process it;
//! - turns failures into [`Auth0Error`]s that keep Auth0's `message` and `errorCode`
//!   and never carry the client secret, the token, a password or a request body.

use super::Auth0Error;
use super::retry::RetryPolicy;
use super::transport::error_chain;
use crate::settings::{Auth0Settings, Secret};
use std::fmt;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant};

/// How long an export job may take before the snapshot gives up.
pub(super) const EXPORT_TIMEOUT: Duration = Duration::from_secs(600);
/// Page size of offset-paged lists and of role member pages (Auth0's maximum).
pub const PER_PAGE: u64 = 100;
/// Auth0 pages through at most this many results of one `/users` query.
pub const SEARCH_LIMIT: u64 = 1000;
/// Roles whose members are listed at the same time.
pub(super) const ROLE_MEMBER_CONCURRENCY: usize = 4;
pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
pub(super) const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
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

/// Cheap to clone; clones share the token and HTTP pool.
#[derive(Clone)]
pub struct Auth0Client {
    pub(super) inner: Arc<Inner>,
}

pub(super) struct Inner {
    pub(super) http: reqwest::Client,
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
        let client = Auth0Client {
            inner: Arc::new(Inner {
                http,
                audience: format!("{origin}/api/v2/"),
                origin,
                client_id: settings.client_id.clone(),
                client_secret: settings.client_secret.clone(),
                policy: RetryPolicy { max_retries: settings.max_retries, backoff_factor: settings.backoff_factor },
                limiter: match settings.rate_limit {
                    Some(rate) => {
                        super::limiter::Limiter::fixed(rate, settings.rate_burst.unwrap_or(rate.ceil() as u32))
                    }
                    None => super::limiter::Limiter::adaptive(),
                },
                token: tokio::sync::Mutex::new(None),
                scopes: StdMutex::new(Vec::new()),
            }),
        };
        client.access_token().await?;
        Ok(client)
    }

    /// Scopes granted to the token.
    pub fn scopes(&self) -> Vec<String> {
        self.inner.scopes.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}
