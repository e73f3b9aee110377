//! A local Auth0 tenant emulator: an HTTP server (axum) on a real socket that speaks
//! the token endpoint and the Management API paths the tool uses, with Auth0's shapes,
//! status codes, error bodies and limits. Never easier on the client than Auth0.
//!
//! Where Auth0's behaviour is not in `../shared/auth0/` the emulator picks the stricter
//! reading: unknown query parameters and body properties are 400s, `q` accepts only
//! `field:value` terms joined by `AND`, bodies must be JSON, `GET /roles/{id}/users`
//! and `GET /users/{id}/roles` need both `read:users` and `read:roles`, unknown role ids
//! are 404s, and `/users-by-email` matches exactly (the OAS says case-sensitive) while
//! database emails are stored lowercased. Checkpoint cursors are opaque.

// The crate-wide `Error` (owned by another module) is large; boxing it is not ours to do.
#![allow(clippy::result_large_err)]

mod auth;
mod http;
mod query;
mod routes;
pub mod state;

pub use state::TenantState;

use crate::error::Error;
use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use state::{ClientApp, StateConnection, StateRole, StateUser};
use std::collections::BTreeMap;
use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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

/// Knobs of an emulator run.
#[derive(Debug, Clone, PartialEq)]
pub struct EmulatorOptions {
    /// Lifetime of issued tokens (`expires_in`); Auth0's is 86400 s.
    pub token_lifetime: Duration,
    /// `None`: never answer 429 (headers still report a nominal Enterprise budget).
    pub rate_limit: Option<RateLimit>,
}

impl Default for EmulatorOptions {
    fn default() -> Self {
        EmulatorOptions { token_lifetime: Duration::from_secs(86400), rate_limit: None }
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
    last: Instant,
}

/// Everything the handlers share.
pub(crate) struct Shared {
    pub tenant: Mutex<Tenant>,
    pub tokens: Mutex<auth::TokenStore>,
    pub base_url: String,
    options: Mutex<EmulatorOptions>,
    counts: Mutex<BTreeMap<String, u64>>,
    bucket: Mutex<Bucket>,
}

impl Shared {
    pub fn token_lifetime(&self) -> Duration {
        self.options.lock().unwrap_or_else(|e| e.into_inner()).token_lifetime
    }

    /// Takes one request from the bucket (when `consume`); returns whether it was
    /// allowed and the three `x-ratelimit-*` values.
    fn rate(&self, consume: bool) -> (bool, u32, u32, u64) {
        let limit = self.options.lock().unwrap_or_else(|e| e.into_inner()).rate_limit;
        let now_unix = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let Some(rl) = limit else {
            let n = RateLimit::ENTERPRISE.burst;
            return (true, n, n, now_unix + 1);
        };
        let burst = f64::from(rl.burst.max(1));
        let rate = rl.per_second.max(0.001);
        let mut b = self.bucket.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        b.tokens = (b.tokens + now.duration_since(b.last).as_secs_f64() * rate).min(burst);
        b.last = now;
        let allowed = !consume || b.tokens >= 1.0;
        if consume && allowed {
            b.tokens -= 1.0;
        }
        let wait = if allowed { (burst - b.tokens) / rate } else { (1.0 - b.tokens) / rate };
        (allowed, rl.burst, b.tokens.floor() as u32, now_unix + wait.ceil() as u64)
    }
}

/// `2023-01-25T19:00:26.187Z`
pub(crate) fn now_iso() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// Counts requests per route template, rate-limits and authorises `/api/v2`, and adds
/// the `x-ratelimit-*` headers to every answer.
async fn guard(State(s): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let template = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_owned());
    let key = format!("{method} {}", template.as_deref().unwrap_or("<unmatched>"));
    *s.counts.lock().unwrap_or_else(|e| e.into_inner()).entry(key).or_default() += 1;
    let is_api = req.uri().path().starts_with("/api/v2");
    let (allowed, limit, remaining, reset) = s.rate(is_api);
    let mut resp = if !allowed {
        http::ApiError::new(StatusCode::TOO_MANY_REQUESTS, "Global limit has been reached", Some("too_many_requests"))
            .into_response()
    } else if is_api {
        let need = template.as_deref().and_then(|t| auth::required_scopes(&method, t));
        match auth::authorize(&s, req.headers(), need) {
            Ok(()) => next.run(req).await,
            Err(e) => e.into_response(),
        }
    } else {
        next.run(req).await
    };
    let h = resp.headers_mut();
    // Auth0 labels its JSON with a charset.
    if h.get(header::CONTENT_TYPE).is_some_and(|v| v == "application/json") {
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
    }
    h.insert("x-ratelimit-limit", HeaderValue::from(limit));
    h.insert("x-ratelimit-remaining", HeaderValue::from(remaining));
    h.insert("x-ratelimit-reset", HeaderValue::from(reset));
    resp
}

fn router(shared: Arc<Shared>) -> Router {
    use routes::*;
    Router::new()
        .route("/oauth/token", post(auth::token_endpoint))
        .route("/api/v2/users", get(list_users).post(create_user))
        .route("/api/v2/users/{id}", get(get_user).patch(update_user).delete(delete_user))
        .route("/api/v2/users/{id}/roles", get(list_user_roles).post(assign_user_roles).delete(remove_user_roles))
        .route("/api/v2/users-by-email", get(users_by_email))
        .route("/api/v2/roles", get(list_roles).post(create_role))
        .route("/api/v2/roles/{id}", get(get_role).delete(delete_role))
        .route("/api/v2/roles/{id}/users", get(list_role_users).post(assign_role_users))
        .route("/api/v2/connections", get(list_connections))
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
    pub async fn start(listen: SocketAddr, state: TenantState, state_path: Option<PathBuf>) -> Result<Emulator, Error> {
        Self::start_with(listen, state, state_path, EmulatorOptions::default()).await
    }

    /// [`Emulator::start`] with explicit options (token lifetime, rate limit).
    pub async fn start_with(
        listen: SocketAddr,
        state: TenantState,
        state_path: Option<PathBuf>,
        options: EmulatorOptions,
    ) -> Result<Emulator, Error> {
        state.validate().map_err(|why| Error::Emulator(format!("invalid emulator state: {why}")))?;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| Error::Emulator(format!("cannot listen on {listen}: {e}")))?;
        let addr = listener.local_addr().map_err(|e| Error::Emulator(format!("cannot listen on {listen}: {e}")))?;
        let burst = options.rate_limit.map_or(0.0, |r| f64::from(r.burst));
        let shared = Arc::new(Shared {
            tenant: Mutex::new(Tenant::from_state(state)),
            tokens: Mutex::new(auth::TokenStore::default()),
            base_url: format!("http://{addr}"),
            options: Mutex::new(options),
            counts: Mutex::new(BTreeMap::new()),
            bucket: Mutex::new(Bucket { tokens: burst, last: Instant::now() }),
        });
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
    pub fn request_counts(&self) -> BTreeMap<String, u64> {
        self.shared.counts.lock().unwrap_or_else(|e| e.into_inner()).clone()
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
        b.last = Instant::now();
    }

    /// Stops serving, saves the state to `state_path` (if any) and returns it.
    pub async fn shutdown(mut self) -> Result<TenantState, Error> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(mut task) = self.task.take() {
            // Graceful first; connections kept open by clients must not hang us.
            match tokio::time::timeout(Duration::from_secs(5), &mut task).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => {
                    return Err(Error::Emulator(format!("emulator server failed: {e}")));
                }
                Ok(Err(e)) => return Err(Error::Emulator(format!("emulator task failed: {e}"))),
                Err(_) => task.abort(),
            }
        }
        let state = self.state().await;
        if let Some(path) = &self.state_path {
            state.save(path)?;
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

/// The line `run` prints first: `listening on http://127.0.0.1:PORT`.
pub fn listening_line(emulator: &Emulator) -> String {
    format!("listening on {}", emulator.base_url())
}

/// The body of [`run`], with its output and its stop signal injected (tests drive
/// it in-process): loads `state_path`, serves on `listen`, writes the listening line
/// to `out`, waits for `stop`, saves `state_path` and returns the final state.
pub async fn serve_until<W, F>(
    state_path: &Path,
    listen: SocketAddr,
    out: &mut W,
    stop: F,
) -> Result<TenantState, Error>
where
    W: Write + ?Sized,
    F: Future<Output = ()>,
{
    let state = TenantState::load(state_path)?;
    let emulator = Emulator::start(listen, state, Some(state_path.to_path_buf())).await?;
    let line = listening_line(&emulator);
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .map_err(|e| Error::Emulator(format!("cannot write to stdout: {e}")))?;
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

/// `auth0-sync emulator`: loads FILE, serves on LISTEN, prints
/// `listening on http://ADDR` as its first stdout line, saves FILE on SIGINT/SIGTERM.
pub async fn run(state_path: PathBuf, listen: SocketAddr) -> Result<(), Error> {
    let mut stdout = std::io::stdout();
    serve_until(&state_path, listen, &mut stdout, termination()).await?;
    Ok(())
}
