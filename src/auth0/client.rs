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
use super::retry::{Idempotency, RetryPolicy};
use super::types::{
    ConnectionItem, CreateRoleRequest, CreateUserRequest, ErrorBody, OffsetPage, Role, RoleMembersPage,
    RoleUsersRequest, SetBlockedRequest, TokenErrorBody, TokenRequest, TokenResponse, User, UserRolesRequest,
    from_slice_with_path,
};
use crate::model::{NameSet, Profile, TenantRole, TenantSnapshot, TenantUser};
use crate::settings::{Auth0Settings, Secret};
use futures::{StreamExt, TryStreamExt};
use reqwest::header::{CONTENT_TYPE, HeaderMap};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant, SystemTime};

/// How long an export job may take before the snapshot gives up.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(600);
/// Page size of offset-paged lists and of role member pages (Auth0's maximum).
pub const PER_PAGE: u64 = 100;
/// Auth0 pages through at most this many results of one `/users` query.
pub const SEARCH_LIMIT: u64 = 1000;
/// Roles whose members are listed at the same time.
const ROLE_MEMBER_CONCURRENCY: usize = 4;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Lifetime assumed when the token answer does not say (Auth0's default).
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(86_400);
/// A token is replaced this long before it expires (or after 90% of a short lifetime).
const TOKEN_REFRESH_MARGIN: Duration = Duration::from_secs(300);

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
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    /// `https://tenant.auth0.com`, no trailing slash.
    origin: String,
    /// `{origin}/api/v2/`: the token audience.
    audience: String,
    client_id: String,
    client_secret: Secret,
    policy: RetryPolicy,
    /// The process's request budget, shared by every clone.
    limiter: super::limiter::Limiter,
    /// The cached token. An async mutex, so that concurrent callers wait for one refresh.
    token: tokio::sync::Mutex<Option<Token>>,
    /// Scopes of the current token, readable without awaiting.
    scopes: StdMutex<Vec<String>>,
}

struct Token {
    access: Secret,
    refresh_at: Instant,
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

/// A complete HTTP answer (body read).
struct Raw {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

/// One Management API request.
struct Call<'a> {
    method: Method,
    /// Path segments after `/api/v2/`, not encoded (`["users", "auth0|123", "roles"]`).
    segments: &'a [&'a str],
    query: Vec<(&'static str, String)>,
    /// Serialised JSON body. May hold a password: never logged.
    body: Option<Vec<u8>>,
    idempotency: Idempotency,
    /// Scopes this call needs, for the help of a 403.
    needs: &'static [&'static str],
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

    /// Looks a connection up by name.
    pub async fn connection_by_name(&self, name: &str) -> Result<Option<Connection>, Auth0Error> {
        let call = Call {
            method: Method::GET,
            segments: &["connections"],
            query: vec![("name", name.to_owned())],
            body: None,
            idempotency: Idempotency::Idempotent,
            needs: &["read:connections"],
        };
        let path = display_path(call.segments);
        let raw = self.call(&call).await?;
        let page: OffsetPage<ConnectionItem> = OffsetPage::from_json(&raw.body, "connections")
            .map_err(|message| decode_error(&Method::GET, &path, message))?;
        Ok(page.items.into_iter().find(|c| c.name == name).map(|c| Connection {
            id: c.id,
            name: c.name,
            strategy: c.strategy,
        }))
    }

    /// Every role of the tenant.
    pub async fn roles(&self) -> Result<Vec<TenantRole>, Auth0Error> {
        Ok(self.list_roles().await?.into_iter().map(|r| TenantRole { id: r.id, name: r.name }).collect())
    }

    /// All roles, and every user of `connection` with its role ids.
    pub async fn snapshot(&self, connection: &str) -> Result<TenantSnapshot, Auth0Error> {
        self.snapshot_with(connection, RoleLookup::Auto, ROLE_MEMBER_CONCURRENCY).await
    }

    /// [`Auth0Client::snapshot`] with a chosen role-membership strategy and up to
    /// `concurrency` reads in flight (always within the request budget).
    pub async fn snapshot_with(
        &self,
        connection: &str,
        lookup: RoleLookup,
        concurrency: usize,
    ) -> Result<TenantSnapshot, Auth0Error> {
        let concurrency = concurrency.max(1);
        let roles = self.list_roles().await?;
        let users = self.list_connection_users(connection).await?;
        let mut snapshot = TenantSnapshot::default();
        for role in roles {
            snapshot.roles.insert(role.id.clone(), TenantRole { id: role.id, name: role.name });
        }
        for user in users {
            let connection = user.connection().unwrap_or_default().to_owned();
            let blocked_by_sync = user.blocked_by_sync();
            snapshot.users.insert(
                user.user_id.clone(),
                TenantUser {
                    user_id: user.user_id,
                    email: user.email.filter(|e| !e.is_empty()),
                    connection,
                    blocked: user.blocked.unwrap_or(false),
                    blocked_by_sync,
                    role_ids: NameSet::new(),
                },
            );
        }
        if snapshot.users.is_empty() {
            return Ok(snapshot);
        }
        // Cost in calls: per role, one page per 100 members (at least one per role; the
        // members of all roles are at least the connection's users that hold a role,
        // estimated here by all of them); per user, one call each.
        let users_n = snapshot.users.len();
        let per_role_cost = snapshot.roles.len() + users_n.div_ceil(PER_PAGE as usize);
        let strategy = match lookup {
            RoleLookup::Auto if users_n < per_role_cost => RoleLookup::PerUser,
            RoleLookup::Auto => RoleLookup::PerRole,
            other => other,
        };
        tracing::info!(
            ?strategy,
            users = users_n,
            roles = snapshot.roles.len(),
            per_role_cost,
            per_user_cost = users_n,
            "role membership lookup"
        );
        if strategy == RoleLookup::PerUser {
            let user_ids: Vec<String> = snapshot.users.keys().cloned().collect();
            let found: Vec<(String, Vec<String>)> = futures::stream::iter(user_ids)
                .map(|user_id| async move {
                    let roles = self.roles_of_user(&user_id).await?;
                    Ok::<_, Auth0Error>((user_id, roles))
                })
                .buffer_unordered(concurrency)
                .try_collect()
                .await?;
            for (user_id, roles) in found {
                if let Some(user) = snapshot.users.get_mut(&user_id) {
                    user.role_ids.extend(roles);
                }
            }
            return Ok(snapshot);
        }
        let role_ids: Vec<String> = snapshot.roles.keys().cloned().collect();
        let memberships: Vec<(String, Vec<String>)> = futures::stream::iter(role_ids)
            .map(|role_id| async move {
                let members = self.role_members(&role_id).await?;
                Ok::<_, Auth0Error>((role_id, members))
            })
            .buffer_unordered(concurrency)
            .try_collect()
            .await?;
        for (role_id, members) in memberships {
            for user_id in members {
                // Members from other connections are not part of the snapshot.
                if let Some(user) = snapshot.users.get_mut(&user_id) {
                    user.role_ids.insert(role_id.clone());
                }
            }
        }
        Ok(snapshot)
    }

    /// Creates a database user; returns its user_id.
    pub async fn create_user(
        &self,
        connection: &str,
        email: &str,
        profile: &Profile,
        password: &Secret,
    ) -> Result<String, Auth0Error> {
        let present = |v: &Option<String>| -> Option<String> {
            v.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned)
        };
        let (name, given_name, family_name) =
            (present(&profile.name), present(&profile.given_name), present(&profile.family_name));
        let body = CreateUserRequest {
            connection,
            email,
            password: password.expose(),
            email_verified: false,
            verify_email: false,
            name: name.as_deref(),
            given_name: given_name.as_deref(),
            family_name: family_name.as_deref(),
        };
        let call = Call {
            method: Method::POST,
            segments: &["users"],
            query: Vec::new(),
            body: Some(serde_json::to_vec(&body).expect("a create body always serialises")),
            idempotency: Idempotency::NotIdempotent,
            needs: &["create:users"],
        };
        let raw = self.call(&call).await?;
        let user: User = decode(&call, &raw)?;
        Ok(user.user_id)
    }

    /// Users with exactly this email, in every connection: (user_id, connection).
    pub async fn users_by_email(&self, email: &str) -> Result<Vec<(String, String)>, Auth0Error> {
        let call = Call {
            method: Method::GET,
            segments: &["users-by-email"],
            query: vec![("email", email.to_owned())],
            body: None,
            idempotency: Idempotency::Idempotent,
            needs: &["read:users"],
        };
        let raw = self.call(&call).await?;
        let users: Vec<User> = decode(&call, &raw)?;
        Ok(users
            .into_iter()
            .map(|u| {
                let connection = u.connection().unwrap_or_default().to_owned();
                (u.user_id, connection)
            })
            .collect())
    }

    /// Deletes a user (`DELETE /users/{id}`).
    pub async fn delete_user(&self, user_id: &str) -> Result<(), Auth0Error> {
        let call = Call {
            method: Method::DELETE,
            segments: &["users", user_id],
            query: Vec::new(),
            body: None,
            idempotency: Idempotency::Idempotent,
            needs: &["delete:users"],
        };
        self.call(&call).await.map(drop)
    }

    /// Assigns roles to a user (`POST /users/{id}/roles`); no call for an empty list.
    pub async fn assign_roles(&self, user_id: &str, role_ids: &[String]) -> Result<(), Auth0Error> {
        self.user_roles(Method::POST, user_id, role_ids, &["update:users", "create:role_members"]).await
    }

    /// Removes roles from a user (`DELETE /users/{id}/roles`); no call for an empty list.
    pub async fn remove_roles(&self, user_id: &str, role_ids: &[String]) -> Result<(), Auth0Error> {
        self.user_roles(Method::DELETE, user_id, role_ids, &["update:users", "delete:role_members"]).await
    }

    /// Creates a role (`POST /roles`); returns its id. Not retried once it may have
    /// reached Auth0 (a second role of the same name would be a duplicate or a 409).
    pub async fn create_role(&self, name: &str) -> Result<String, Auth0Error> {
        let call = Call {
            method: Method::POST,
            segments: &["roles"],
            query: Vec::new(),
            body: Some(json_body(&CreateRoleRequest { name })),
            idempotency: Idempotency::NotIdempotent,
            needs: &["create:roles"],
        };
        let raw = self.call(&call).await?;
        let role: Role = decode(&call, &raw)?;
        Ok(role.id)
    }

    /// Blocks or unblocks a user (`PATCH /users/{id}`), recording in
    /// `app_metadata.auth0_sync.blocked` that auth0-sync blocked it (removed on unblock),
    /// so that users blocked by people are never unblocked by the tool.
    pub async fn set_blocked(&self, user_id: &str, blocked: bool) -> Result<(), Auth0Error> {
        let mark = if blocked {
            serde_json::json!({ "auth0_sync": { "blocked": true } })
        } else {
            serde_json::json!({ "auth0_sync": null })
        };
        let call = Call {
            method: Method::PATCH,
            segments: &["users", user_id],
            query: Vec::new(),
            body: Some(json_body(&SetBlockedRequest { blocked, app_metadata: mark })),
            idempotency: Idempotency::Idempotent,
            needs: &["update:users", "update:users_app_metadata"],
        };
        self.call(&call).await.map(drop)
    }

    /// Assigns one role to many users (`POST /roles/{id}/users`); no call for an empty
    /// list. The caller keeps batches moderate.
    pub async fn assign_users_to_role(&self, role_id: &str, user_ids: &[String]) -> Result<(), Auth0Error> {
        if user_ids.is_empty() {
            return Ok(());
        }
        let call = Call {
            method: Method::POST,
            segments: &["roles", role_id, "users"],
            query: Vec::new(),
            body: Some(json_body(&RoleUsersRequest { users: user_ids })),
            idempotency: Idempotency::Idempotent,
            needs: &["update:roles", "create:role_members"],
        };
        self.call(&call).await.map(drop)
    }

    async fn user_roles(
        &self,
        method: Method,
        user_id: &str,
        role_ids: &[String],
        needs: &'static [&'static str],
    ) -> Result<(), Auth0Error> {
        if role_ids.is_empty() {
            return Ok(());
        }
        let body = UserRolesRequest { roles: role_ids };
        let call = Call {
            method,
            segments: &["users", user_id, "roles"],
            query: Vec::new(),
            body: Some(serde_json::to_vec(&body).expect("role ids always serialise")),
            idempotency: Idempotency::Idempotent,
            needs,
        };
        self.call(&call).await.map(drop)
    }

    /// Every role of the tenant (offset paging).
    async fn list_roles(&self) -> Result<Vec<Role>, Auth0Error> {
        self.list_offset(&["roles"], Vec::new(), "roles", &["read:roles"], |total| {
            decode_error(
                &Method::GET,
                "/api/v2/roles",
                format!(
                    "the tenant reports {total} roles; Auth0 allows at most {SEARCH_LIMIT} and pages through no more"
                ),
            )
        })
        .await
    }

    /// Every user whose identities include `connection` (users search, v3).
    async fn list_connection_users(&self, connection: &str) -> Result<Vec<User>, Auth0Error> {
        let query = vec![
            ("q", format!("identities.connection:\"{}\"", lucene_phrase(connection))),
            ("search_engine", "v3".to_owned()),
        ];
        let paged = self
            .list_offset(&["users"], query, "users", &["read:users"], |total| Auth0Error::TooManyUsers {
                connection: connection.to_owned(),
                total,
                limit: SEARCH_LIMIT,
            })
            .await;
        match paged {
            // Past the paging cap: the documented way is a users-export job.
            Err(Auth0Error::TooManyUsers { total, .. }) => {
                tracing::info!(connection, total, "more users than paging reaches; reading them through an export job");
                self.export_connection_users(connection).await
            }
            other => other,
        }
    }

    /// Reads every user of `connection` through `POST /jobs/users-exports`: starts the
    /// job, polls it, downloads the gzip'd NDJSON from its pre-signed `location` (no
    /// token is sent there) and parses it line by line.
    pub async fn export_connection_users(&self, connection: &str) -> Result<Vec<User>, Auth0Error> {
        let con = self.connection_by_name(connection).await?.ok_or_else(|| Auth0Error::Decode {
            method: "GET".into(),
            path: "/api/v2/connections".into(),
            message: format!("connection {connection:?} not found for the export job"),
        })?;
        let body = serde_json::json!({
            "connection_id": con.id,
            "format": "json",
            "fields": [
                {"name": "user_id"},
                {"name": "email"},
                {"name": "blocked"},
                {"name": "app_metadata"},
                {"name": "identities[0].connection", "export_as": "connection"},
            ],
        });
        let call = Call {
            method: Method::POST,
            segments: &["jobs", "users-exports"],
            query: Vec::new(),
            body: Some(serde_json::to_vec(&body).expect("json")),
            idempotency: Idempotency::Idempotent,
            needs: &["read:users"],
        };
        let raw = self.call(&call).await?;
        let job: serde_json::Value = serde_json::from_slice(&raw.body)
            .map_err(|e| decode_error(&Method::POST, "/api/v2/jobs/users-exports", e.to_string()))?;
        let id = job["id"].as_str().unwrap_or_default().to_owned();
        let job = self.wait_for_job(&id).await?;
        let location = job["location"].as_str().map(str::to_owned).ok_or_else(|| {
            decode_error(&Method::GET, "/api/v2/jobs/{id}", "completed export job without a location".into())
        })?;
        let gz = self.download(&location).await?;
        parse_export(&gz, connection)
    }

    /// Creates database users in bulk with one `POST /jobs/users-imports` job (the
    /// caller keeps each file under 500 KB and at most 2 jobs in flight), waits for it,
    /// and returns the users that failed: email → Auth0's error codes and messages.
    /// Imported users get no password: they set one through the password-reset flow.
    pub async fn import_users(
        &self,
        connection_id: &str,
        users: &[ImportUser],
    ) -> Result<BTreeMap<String, String>, Auth0Error> {
        const PATH: &str = "/api/v2/jobs/users-imports";
        let file = serde_json::to_vec(users).expect("import users serialise");
        let url = format!("{}/api/v2/jobs/users-imports", self.inner.origin);
        let token = self.access_token().await?;
        let raw = self
            .send_retrying(&Method::POST, PATH, Idempotency::NotIdempotent, || {
                let part = reqwest::multipart::Part::bytes(file.clone())
                    .file_name("users.json")
                    .mime_str("application/json")
                    .expect("static mime");
                let form = reqwest::multipart::Form::new()
                    .part("users", part)
                    .text("connection_id", connection_id.to_owned())
                    .text("upsert", "false")
                    .text("send_completion_email", "false");
                self.inner.http.post(&url).bearer_auth(token.expose()).multipart(form)
            })
            .await?;
        if !raw.status.is_success() {
            return Err(self.api_error(&Method::POST, PATH, &raw, Idempotency::NotIdempotent, &["create:users"]));
        }
        let job: serde_json::Value =
            serde_json::from_slice(&raw.body).map_err(|e| decode_error(&Method::POST, PATH, e.to_string()))?;
        let id = job["id"].as_str().unwrap_or_default().to_owned();
        self.wait_for_job(&id).await?;
        let call = Call {
            method: Method::GET,
            segments: &["jobs", &id, "errors"],
            query: Vec::new(),
            body: None,
            idempotency: Idempotency::Idempotent,
            needs: &["create:users"],
        };
        let raw = self.call(&call).await?;
        let mut failed = BTreeMap::new();
        if raw.status == StatusCode::NO_CONTENT || raw.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(failed);
        }
        let errors: serde_json::Value = serde_json::from_slice(&raw.body)
            .map_err(|e| decode_error(&Method::GET, "/api/v2/jobs/{id}/errors", e.to_string()))?;
        for item in errors.as_array().into_iter().flatten() {
            let email = item["user"]["email"].as_str().unwrap_or_default().trim().to_lowercase();
            let why: Vec<String> = item["errors"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|e| format!("{}: {}", e["code"].as_str().unwrap_or("?"), e["message"].as_str().unwrap_or("")))
                .collect();
            failed.insert(email, why.join("; "));
        }
        Ok(failed)
    }

    /// Polls `GET /jobs/{id}` until the job completes (returns the job) or fails.
    async fn wait_for_job(&self, id: &str) -> Result<serde_json::Value, Auth0Error> {
        let path = format!("/api/v2/jobs/{id}");
        let started = Instant::now();
        let mut wait = Duration::from_millis(200);
        loop {
            let call = Call {
                method: Method::GET,
                segments: &["jobs", id],
                query: Vec::new(),
                body: None,
                idempotency: Idempotency::Idempotent,
                needs: &["read:users"],
            };
            let raw = self.call(&call).await?;
            let job: serde_json::Value =
                serde_json::from_slice(&raw.body).map_err(|e| decode_error(&Method::GET, &path, e.to_string()))?;
            match job["status"].as_str() {
                Some("completed") => return Ok(job),
                Some("failed") => {
                    return Err(Auth0Error::Decode {
                        method: "GET".into(),
                        path,
                        message: format!("the job {id} failed: {}", job["summary"]),
                    });
                }
                _ if started.elapsed() > EXPORT_TIMEOUT => {
                    return Err(Auth0Error::Decode {
                        method: "GET".into(),
                        path,
                        message: format!("the job {id} did not complete within {} s", EXPORT_TIMEOUT.as_secs()),
                    });
                }
                _ => {
                    tracing::debug!(job = id, status = %job["status"], "waiting for the job");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    /// GET of a pre-signed URL: no Authorization header.
    async fn download(&self, location: &str) -> Result<Vec<u8>, Auth0Error> {
        let origin_only = |u: &str| Url::parse(u).map(|u| u.origin().ascii_serialization()).unwrap_or_default();
        let resp =
            self.inner.http.get(location).send().await.map_err(|e| Auth0Error::Network {
                url: origin_only(location),
                message: e.without_url().to_string(),
            })?;
        let status = resp.status();
        if !status.is_success() {
            return Err(Auth0Error::Api {
                method: "GET".into(),
                path: "(export download)".into(),
                status: status.as_u16(),
                message: "the export file could not be downloaded (its link lives 60 s)".into(),
                error_code: None,
                help: "run plan again; if it keeps failing, check that the machine can reach the export location"
                    .into(),
            });
        }
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| Auth0Error::Network { url: origin_only(location), message: e.without_url().to_string() })?;
        Ok(bytes.to_vec())
    }

    /// Pages `GET /api/v2/{segments}?page=P&per_page=100&include_totals=true` to the end.
    /// Fails with `over_limit(total)` rather than stop at the 1000-result paging cap.
    async fn list_offset<T: DeserializeOwned>(
        &self,
        segments: &[&str],
        query: Vec<(&'static str, String)>,
        key: &str,
        needs: &'static [&'static str],
        over_limit: impl Fn(u64) -> Auth0Error,
    ) -> Result<Vec<T>, Auth0Error> {
        let path = display_path(segments);
        let mut items: Vec<T> = Vec::new();
        let mut page = 0u64;
        loop {
            if page * PER_PAGE >= SEARCH_LIMIT {
                // Only reachable when the answers carry no total and every page was full.
                return Err(over_limit(items.len() as u64 + 1));
            }
            let mut q = query.clone();
            q.push(("page", page.to_string()));
            q.push(("per_page", PER_PAGE.to_string()));
            q.push(("include_totals", "true".to_owned()));
            let call = Call {
                method: Method::GET,
                segments,
                query: q,
                body: None,
                idempotency: Idempotency::Idempotent,
                needs,
            };
            let raw = self.call(&call).await?;
            let body: OffsetPage<T> =
                OffsetPage::from_json(&raw.body, key).map_err(|message| decode_error(&Method::GET, &path, message))?;
            if let Some(total) = body.total
                && total > SEARCH_LIMIT
            {
                return Err(over_limit(total));
            }
            let got = body.items.len() as u64;
            items.extend(body.items);
            let done = match body.total {
                Some(total) => got == 0 || items.len() as u64 >= total,
                None => got < PER_PAGE,
            };
            if done {
                return Ok(items);
            }
            page += 1;
        }
    }

    /// User ids of a role's members, following the checkpoint cursor to the end.
    /// Role ids of one user: `GET /users/{id}/roles` (a user holds at most 50 roles,
    /// so one page of 100 is all of them).
    async fn roles_of_user(&self, user_id: &str) -> Result<Vec<String>, Auth0Error> {
        let roles: Vec<RoleItemId> = self
            .list_offset(&["users", user_id, "roles"], Vec::new(), "roles", &["read:users", "read:roles"], |total| {
                Auth0Error::Decode {
                    method: "GET".into(),
                    path: format!("/api/v2/users/{user_id}/roles"),
                    message: format!("the user has {total} roles, more than Auth0 allows"),
                }
            })
            .await?;
        Ok(roles.into_iter().map(|r| r.id).collect())
    }

    async fn role_members(&self, role_id: &str) -> Result<Vec<String>, Auth0Error> {
        let segments = ["roles", role_id, "users"];
        let mut members = Vec::new();
        let mut from: Option<String> = None;
        let mut seen = HashSet::new();
        loop {
            let mut query = vec![("take", PER_PAGE.to_string())];
            if let Some(cursor) = &from {
                query.push(("from", cursor.clone()));
            }
            let call = Call {
                method: Method::GET,
                segments: &segments,
                query,
                body: None,
                idempotency: Idempotency::Idempotent,
                needs: &["read:roles", "read:role_members", "read:users"],
            };
            let raw = self.call(&call).await?;
            let page: RoleMembersPage = decode(&call, &raw)?;
            members.extend(page.users.into_iter().map(|m| m.user_id));
            match page.next.filter(|n| !n.is_empty()) {
                None => return Ok(members),
                Some(next) => {
                    if !seen.insert(next.clone()) {
                        return Err(decode_error(
                            &call.method,
                            &display_path(&segments),
                            "the member list cursor (next) repeats".to_owned(),
                        ));
                    }
                    from = Some(next);
                }
            }
        }
    }

    /// A token valid for a while yet: the cached one, or a new one.
    async fn access_token(&self) -> Result<Secret, Auth0Error> {
        let mut cached = self.inner.token.lock().await;
        if let Some(token) = cached.as_ref()
            && Instant::now() < token.refresh_at
        {
            return Ok(token.access.clone());
        }
        let token = self.fetch_token().await?;
        let access = token.access.clone();
        *cached = Some(token);
        Ok(access)
    }

    /// Replaces the token after a 401, unless another caller already did.
    async fn refresh_after_401(&self, rejected: &Secret) -> Result<(), Auth0Error> {
        let mut cached = self.inner.token.lock().await;
        if cached.as_ref().is_none_or(|t| &t.access == rejected) {
            *cached = Some(self.fetch_token().await?);
        }
        Ok(())
    }

    /// `POST /oauth/token` with client credentials.
    async fn fetch_token(&self) -> Result<Token, Auth0Error> {
        const PATH: &str = "/oauth/token";
        let inner = &*self.inner;
        let url = format!("{}{PATH}", inner.origin);
        let body = TokenRequest {
            grant_type: "client_credentials",
            client_id: &inner.client_id,
            client_secret: inner.client_secret.expose(),
            audience: &inner.audience,
        };
        let started = Instant::now();
        let raw = self
            .send_retrying(&Method::POST, PATH, Idempotency::Idempotent, || inner.http.post(&url).json(&body))
            .await?;
        if raw.status.is_success() {
            let token: TokenResponse = serde_json::from_slice(&raw.body).map_err(|e| {
                // serde's message may quote the token: only say what kind of problem it was.
                decode_error(
                    &Method::POST,
                    PATH,
                    format!(
                        "the token answer is not {{access_token, expires_in, scope}} ({:?} error at line {} column {})",
                        e.classify(),
                        e.line(),
                        e.column()
                    ),
                )
            })?;
            let lifetime = token.expires_in.map(Duration::from_secs).unwrap_or(DEFAULT_TOKEN_LIFETIME);
            let margin = TOKEN_REFRESH_MARGIN.min(lifetime / 10);
            let scopes = match token.scope.as_deref() {
                Some(scope) => scope.split_whitespace().map(str::to_owned).collect(),
                None => jwt_scopes(&token.access_token).unwrap_or_default(),
            };
            *inner.scopes.lock().unwrap_or_else(|e| e.into_inner()) = scopes;
            tracing::debug!(lifetime_s = lifetime.as_secs(), "obtained a Management API token");
            return Ok(Token {
                access: Secret::new(token.access_token),
                refresh_at: started + lifetime.saturating_sub(margin),
            });
        }
        let status = raw.status;
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            return Err(self.api_error(&Method::POST, PATH, &raw, Idempotency::Idempotent, &[]));
        }
        let parsed: TokenErrorBody = serde_json::from_slice(&raw.body).unwrap_or_default();
        let error = parsed.error.filter(|e| !e.is_empty()).unwrap_or_else(|| status_text(status));
        let description =
            parsed.error_description.filter(|d| !d.is_empty()).unwrap_or_else(|| "no description given".to_owned());
        Err(Auth0Error::Token { status: status.as_u16(), error, description, audience: inner.audience.clone() })
    }

    /// Sends a Management API request with a token; refreshes the token once on 401.
    /// Answers other than 2xx become [`Auth0Error::Api`].
    async fn call(&self, call: &Call<'_>) -> Result<Raw, Auth0Error> {
        let path = display_path(call.segments);
        let encoded: Vec<String> = call.segments.iter().map(|s| encode_segment(s)).collect();
        let url = Url::parse(&format!("{}/api/v2/{}", self.inner.origin, encoded.join("/"))).map_err(|e| {
            Auth0Error::Network { url: self.inner.origin.clone(), message: format!("cannot form a request URL: {e}") }
        })?;
        let mut refreshed = false;
        loop {
            let token = self.access_token().await?;
            let raw = self
                .send_retrying(&call.method, &path, call.idempotency, || {
                    let mut request =
                        self.inner.http.request(call.method.clone(), url.clone()).bearer_auth(token.expose());
                    if !call.query.is_empty() {
                        request = request.query(&call.query);
                    }
                    if let Some(body) = &call.body {
                        request = request.header(CONTENT_TYPE, "application/json").body(body.clone());
                    }
                    request
                })
                .await?;
            if raw.status.is_success() {
                return Ok(raw);
            }
            if raw.status == StatusCode::UNAUTHORIZED && !refreshed {
                refreshed = true;
                tracing::warn!(
                    method = %call.method,
                    path = %path,
                    "Auth0 refused the access token; fetching a new one and trying again"
                );
                self.refresh_after_401(&token).await?;
                continue;
            }
            return Err(self.api_error(&call.method, &path, &raw, call.idempotency, call.needs));
        }
    }

    /// Sends what `build` makes until it gets an answer worth returning: a success,
    /// an error that retrying will not change, or the last allowed attempt.
    async fn send_retrying(
        &self,
        method: &Method,
        path: &str,
        idempotency: Idempotency,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<Raw, Auth0Error> {
        let policy = self.inner.policy;
        let mut attempt = 0u32;
        loop {
            self.inner.limiter.acquire().await;
            let outcome = match build().send().await {
                Ok(response) => {
                    let status = response.status();
                    let headers = response.headers().clone();
                    self.inner.limiter.observe(status, &headers);
                    match response.bytes().await {
                        Ok(body) => Ok(Raw { body: body.to_vec(), status, headers }),
                        Err(e) => Err((e, true)),
                    }
                }
                Err(e) => {
                    // A connect error means nothing was sent.
                    let maybe_sent = !e.is_connect();
                    Err((e, maybe_sent))
                }
            };
            let wait = match outcome {
                Ok(raw) => {
                    tracing::debug!(method = %method, path = %path, status = raw.status.as_u16(), "Auth0 answered");
                    if raw.status.is_success()
                        || !RetryPolicy::retryable_status(raw.status, idempotency)
                        || attempt >= policy.max_retries
                    {
                        return Ok(raw);
                    }
                    let wait = policy.wait_after(attempt, raw.status, &raw.headers, SystemTime::now());
                    tracing::warn!(
                        method = %method,
                        path = %path,
                        status = raw.status.as_u16(),
                        retry = attempt + 1,
                        max_retries = policy.max_retries,
                        wait_ms = wait.as_millis() as u64,
                        "Auth0 answered {}; retrying",
                        raw.status
                    );
                    wait
                }
                Err((e, maybe_sent)) => {
                    let message = error_chain(&e);
                    if maybe_sent && idempotency == Idempotency::NotIdempotent {
                        return Err(Auth0Error::Unconfirmed {
                            method: method.to_string(),
                            path: path.to_owned(),
                            url: self.inner.origin.clone(),
                            message,
                        });
                    }
                    if attempt >= policy.max_retries {
                        return Err(Auth0Error::Network {
                            url: self.inner.origin.clone(),
                            message: format!(
                                "{method} {path}: {message} (tried {} time{})",
                                attempt + 1,
                                if attempt == 0 { "" } else { "s" }
                            ),
                        });
                    }
                    let wait = policy.backoff(attempt);
                    tracing::warn!(
                        method = %method,
                        path = %path,
                        retry = attempt + 1,
                        max_retries = policy.max_retries,
                        wait_ms = wait.as_millis() as u64,
                        error = %message,
                        "request to Auth0 failed; retrying"
                    );
                    wait
                }
            };
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    /// Turns an error answer into [`Auth0Error::Api`] with help that fits its status.
    fn api_error(
        &self,
        method: &Method,
        path: &str,
        raw: &Raw,
        idempotency: Idempotency,
        needs: &[&str],
    ) -> Auth0Error {
        let body: ErrorBody = serde_json::from_slice(&raw.body).unwrap_or_default();
        let message = body
            .message
            .filter(|m| !m.is_empty())
            .or(body.error.filter(|e| !e.is_empty()))
            .unwrap_or_else(|| status_text(raw.status));
        Auth0Error::Api {
            method: method.to_string(),
            path: path.to_owned(),
            status: raw.status.as_u16(),
            message,
            error_code: body.error_code.filter(|c| !c.is_empty()),
            help: self.help_for(raw.status, idempotency, needs),
        }
    }

    fn help_for(&self, status: StatusCode, idempotency: Idempotency, needs: &[&str]) -> String {
        let retries = self.inner.policy.max_retries;
        match status.as_u16() {
            400 => "Auth0 rejected the request as invalid; the message says which part".to_owned(),
            401 => "Auth0 refused the access token even after a new one was fetched; check that AUTH0_URL is the tenant AUTH0_CLIENT_ID belongs to and that the application is authorised for the Management API".to_owned(),
            403 => {
                let granted = self.scopes();
                let missing: Vec<&str> = needs
                    .iter()
                    .copied()
                    .filter(|n| !granted.iter().any(|g| g == n))
                    .collect();
                let grant = "in the Auth0 Dashboard under Applications → APIs → Auth0 Management API → Machine to Machine Applications";
                if missing.is_empty() {
                    format!(
                        "the application lacks a permission for this call (it normally needs {}, which the token has); check the application's grants {grant}",
                        needs.join(", ")
                    )
                } else {
                    format!(
                        "the token lacks the scope(s) {}; grant them to the application {grant}, then run again",
                        missing.join(", ")
                    )
                }
            }
            404 => "the object is gone from the tenant (changed since the plan was made?); make a new plan".to_owned(),
            409 => "the object already exists in the tenant (created since the plan was made?); make a new plan".to_owned(),
            429 => format!(
                "Auth0's rate limit was still exceeded after {retries} retries; wait a minute and run again, or raise AUTH0_MAX_RETRIES / AUTH0_BACKOFF_FACTOR"
            ),
            s if s >= 500 => {
                if idempotency == Idempotency::NotIdempotent && s != 503 {
                    "Auth0 had trouble answering (see https://status.auth0.com); the request was not retried because Auth0 may have carried it out: make a new plan to see what the tenant holds now".to_owned()
                } else {
                    format!(
                        "Auth0 had trouble answering, still after {retries} retries; see https://status.auth0.com and run again later"
                    )
                }
            }
            _ => format!(
                "see Auth0's Management API documentation for status {}",
                status.as_u16()
            ),
        }
    }
}

/// `/api/v2/users/auth0|123/roles`: readable, without query string.
fn display_path(segments: &[&str]) -> String {
    format!("/api/v2/{}", segments.join("/"))
}

fn json_body<T: serde::Serialize>(body: &T) -> Vec<u8> {
    serde_json::to_vec(body).expect("request bodies always serialise")
}

fn decode_error(method: &Method, path: &str, message: String) -> Auth0Error {
    Auth0Error::Decode { method: method.to_string(), path: path.to_owned(), message }
}

fn decode<T: DeserializeOwned>(call: &Call<'_>, raw: &Raw) -> Result<T, Auth0Error> {
    from_slice_with_path(&raw.body).map_err(|message| decode_error(&call.method, &display_path(call.segments), message))
}

/// `404 Not Found`-style text of a status.
fn status_text(status: StatusCode) -> String {
    match status.canonical_reason() {
        Some(reason) => reason.to_owned(),
        None => format!("HTTP status {}", status.as_u16()),
    }
}

/// A reqwest error and its causes, without the URL (which may carry a query).
fn error_chain(e: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut message = if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "could not connect".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.ends_with(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

/// Percent-encodes a path segment: everything but RFC 3986 unreserved characters
/// (so `auth0|123` becomes `auth0%7C123`, as Auth0's SDKs send it).
fn encode_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Escapes `"` and `\` for a quoted Lucene phrase.
fn lucene_phrase(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// The `scope` claim of a JWT access token, for token answers without `scope`.
fn jwt_scopes(token: &str) -> Option<Vec<String>> {
    let payload = token.split('.').nth(1)?;
    let claims: serde_json::Value = serde_json::from_slice(&base64url_decode(payload)?).ok()?;
    match claims.get("scope")? {
        serde_json::Value::String(s) => Some(s.split_whitespace().map(str::to_owned).collect()),
        serde_json::Value::Array(a) => Some(a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect()),
        _ => None,
    }
}

fn base64url_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' | b'+' => 62,
            b'_' | b'/' => 63,
            b'=' => break,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// One user of a users-import file (no password: Auth0 imports need a hash, and the
/// tool has none; imported users set theirs through the password-reset flow).
#[derive(Debug, Clone, serde::Serialize)]
pub struct ImportUser {
    pub email: String,
    pub email_verified: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
}

/// Just the id of a role in a list.
#[derive(serde::Deserialize)]
struct RoleItemId {
    id: String,
}

/// How the snapshot learns who holds which role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum RoleLookup {
    /// List each role's members (checkpoint paging): about roles + members/100 calls.
    PerRole,
    /// Ask each connection user for its roles: one call per user.
    PerUser,
    /// Estimate both costs from the counts at hand and take the cheaper.
    #[default]
    Auto,
}

/// One line of a users export (fields as requested in `export_connection_users`).
#[derive(serde::Deserialize)]
struct ExportLine {
    user_id: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    blocked: Option<bool>,
    #[serde(default)]
    app_metadata: Option<serde_json::Value>,
    #[serde(default)]
    connection: Option<String>,
}

/// Gunzips and parses an NDJSON export line by line.
fn parse_export(gz: &[u8], connection: &str) -> Result<Vec<User>, Auth0Error> {
    use std::io::BufRead;
    let reader = std::io::BufReader::new(flate2::read::GzDecoder::new(gz));
    let mut users = Vec::new();
    for (n, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| decode_error(&Method::GET, "(export file)", format!("not gzip'd text: {e}")))?;
        if line.trim().is_empty() {
            continue;
        }
        let row: ExportLine = serde_json::from_str(&line)
            .map_err(|e| decode_error(&Method::GET, "(export file)", format!("line {}: {e}", n + 1)))?;
        users.push(User {
            user_id: row.user_id,
            email: row.email,
            email_verified: None,
            blocked: row.blocked,
            name: None,
            given_name: None,
            family_name: None,
            identities: vec![crate::auth0::types::Identity {
                connection: Some(row.connection.unwrap_or_else(|| connection.to_owned())),
                provider: None,
                is_social: None,
            }],
            app_metadata: row.app_metadata,
        });
    }
    Ok(users)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwt_scope_claim() {
        // {"scope":"read:users read:roles"}
        let payload = "eyJzY29wZSI6InJlYWQ6dXNlcnMgcmVhZDpyb2xlcyJ9";
        let token = format!("eyJhbGciOiJSUzI1NiJ9.{payload}.sig");
        assert_eq!(jwt_scopes(&token).unwrap(), vec!["read:users".to_owned(), "read:roles".to_owned()]);
        assert_eq!(jwt_scopes("opaque"), None);
    }

    #[test]
    fn path_segments_are_percent_encoded() {
        assert_eq!(encode_segment("auth0|63d17c4b"), "auth0%7C63d17c4b");
        assert_eq!(encode_segment("a/b c?é"), "a%2Fb%20c%3F%C3%A9");
        assert_eq!(encode_segment("rol_AbC-1.2~x"), "rol_AbC-1.2~x");
    }

    #[test]
    fn lucene_phrase_escapes_quotes() {
        assert_eq!(lucene_phrase(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(lucene_phrase("Username-Password-Authentication"), "Username-Password-Authentication");
    }

    #[test]
    fn display_path_is_unencoded_and_has_no_query() {
        assert_eq!(display_path(&["users", "auth0|1", "roles"]), "/api/v2/users/auth0|1/roles");
    }
}
