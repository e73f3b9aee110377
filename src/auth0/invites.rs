//! Invitations, the two ways Auth0 offers (research notes §7): the Authentication
//! API's `POST /dbconnections/change_password` (Auth0 mails its change-password
//! message; no bearer token; errors `{error, error_description}`) and the Management
//! API's `POST /api/v2/tickets/password-change` (a bearer URL handed back, kept in a
//! [`Secret`]); plus `GET /api/v2/connections/{id}/clients`, to check that the
//! application named for the emails has the connection enabled.
//!
//! Both invitations draw from the process's request budget, and a per-address gate
//! keeps two invitations to one address at least a minute apart (Auth0 allows 10 at
//! once, then 1 a minute, per address, and only the link of the most recent email
//! works).

use super::Auth0Error;
use super::client::Auth0Client;
use super::limiter::Group;
use super::retry::{Idempotency, RetryPolicy};
use super::transport::{Call, decode_error, display_path, error_chain, json_body, status_text};
use crate::settings::Secret;
use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// Path of the Authentication API's change-password endpoint.
pub const CHANGE_PASSWORD_PATH: &str = "/dbconnections/change_password";
/// Two invitations to one address are at least this far apart (Auth0 refills its
/// per-address budget at one a minute).
pub const PER_ADDRESS_INTERVAL: Duration = Duration::from_secs(60);

/// Where a password-change ticket sends the user once the password is set. Auth0
/// refuses a ticket with both a `result_url` and a `client_id`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum TicketRedirect {
    /// Auth0's default (the tenant's default login route).
    #[default]
    Default,
    /// `result_url`: this URL (classic Universal Login).
    ResultUrl(String),
    /// `client_id`: this application's default login route (new Universal Login).
    ClientId(String),
}

/// Keeps invitations to one address [`PER_ADDRESS_INTERVAL`] apart: [`AddressGate::wait`]
/// returns once the address may be invited, and books that instant for it.
#[derive(Debug, Default)]
pub struct AddressGate {
    last: Mutex<HashMap<String, Instant>>,
}

impl AddressGate {
    /// Waits until `key` (a lower-cased address, or the tenant and the address) had
    /// no invitation for a minute, and records one now.
    pub async fn wait(&self, key: &str) {
        let now = Instant::now();
        let at = {
            let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
            let at = match last.get(key) {
                Some(prev) => (*prev + PER_ADDRESS_INTERVAL).max(now),
                None => now,
            };
            last.insert(key.to_owned(), at);
            at
        };
        if at > now {
            tracing::info!(wait_s = (at - now).as_secs(), "waiting before inviting the same address again");
            tokio::time::sleep_until(at).await;
        }
    }
}

/// The process's gate, keyed by tenant origin and lower-cased address.
static GATE: LazyLock<AddressGate> = LazyLock::new(AddressGate::default);

#[derive(Serialize)]
struct ChangePasswordRequest<'a> {
    client_id: &'a str,
    email: &'a str,
    connection: &'a str,
}

/// The Authentication API's error body.
#[derive(Deserialize, Default)]
struct AuthErrorBody {
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
}

#[derive(Serialize)]
struct TicketRequest<'a> {
    user_id: &'a str,
    ttl_sec: u64,
    mark_email_as_verified: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    result_url: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<&'a str>,
}

#[derive(Deserialize)]
struct ClientsPage {
    #[serde(default)]
    clients: Vec<ClientItem>,
    #[serde(default)]
    next: Option<String>,
}

#[derive(Deserialize)]
struct ClientItem {
    client_id: String,
}

impl Auth0Client {
    /// Has Auth0 mail its change-password message to `email` of `connection`
    /// (`POST /dbconnections/change_password` with `client_id`): the invitation of
    /// `--invite email`. Not retried once it may have reached Auth0 (a second email
    /// would void the first one's link): only 429 and 503 answers and failed connects
    /// are retried; a lost answer is [`Auth0Error::Unconfirmed`].
    pub async fn change_password_email(
        &self,
        client_id: &str,
        email: &str,
        connection: &str,
    ) -> Result<(), Auth0Error> {
        self.wait_for_address(email).await;
        let url = format!("{}{CHANGE_PASSWORD_PATH}", self.inner.origin);
        let body = json_body(&ChangePasswordRequest { client_id, email, connection });
        let (status, bytes) = self.send_auth_api(&url, body).await?;
        if status.is_success() {
            return Ok(());
        }
        let parsed: AuthErrorBody = serde_json::from_slice(&bytes).unwrap_or_default();
        let message = parsed
            .error_description
            .filter(|d| !d.is_empty())
            .or_else(|| parsed.error.clone().filter(|e| !e.is_empty()))
            .unwrap_or_else(|| status_text(status));
        let help = match (status.as_u16(), message.as_str()) {
            (400, "the connection was disabled") => format!(
                "the application {client_id} (AUTH0_INVITE_CLIENT_ID) does not have the connection {connection} enabled; enable it under Applications → {client_id} → Connections, or name another application"
            ),
            (429, _) => format!(
                "Auth0 allows 10 password emails at once, then 1 a minute, per address; wait a minute and send it again with `auth0-sync invite {email}`"
            ),
            _ => self.help_for(status, Idempotency::NotIdempotent, &[]),
        };
        Err(Auth0Error::Api {
            method: "POST".into(),
            path: CHANGE_PASSWORD_PATH.into(),
            status: status.as_u16(),
            message,
            error_code: parsed.error.filter(|e| !e.is_empty()),
            help,
        })
    }

    /// Issues a password-change ticket for `user_id` (`POST
    /// /api/v2/tickets/password-change`): the invitation of `--invite ticket`. The URL
    /// is a bearer secret. Retried like a read: a ticket whose answer was lost reached
    /// nobody, so asking again is harmless.
    pub async fn password_change_ticket(
        &self,
        user_id: &str,
        email: &str,
        ttl_sec: u64,
        mark_email_as_verified: bool,
        redirect: &TicketRedirect,
    ) -> Result<Secret, Auth0Error> {
        self.wait_for_address(email).await;
        let (result_url, client_id) = match redirect {
            TicketRedirect::Default => (None, None),
            TicketRedirect::ResultUrl(u) => (Some(u.as_str()), None),
            TicketRedirect::ClientId(c) => (None, Some(c.as_str())),
        };
        let body = TicketRequest { user_id, ttl_sec, mark_email_as_verified, result_url, client_id };
        let call = Call {
            method: Method::POST,
            segments: &["tickets", "password-change"],
            query: Vec::new(),
            body: Some(json_body(&body)),
            idempotency: Idempotency::Idempotent,
            needs: &["create:user_tickets"],
        };
        let raw = self.call(&call).await?;
        // Read by hand: a decoding error must never quote the answer (it holds the URL).
        let ticket = serde_json::from_slice::<serde_json::Value>(&raw.body)
            .ok()
            .and_then(|mut v| match v.get_mut("ticket").map(serde_json::Value::take) {
                Some(serde_json::Value::String(s)) if !s.is_empty() => Some(s),
                _ => None,
            })
            .ok_or_else(|| {
                decode_error(&call.method, &display_path(call.segments), "the answer has no \"ticket\" URL".into())
            })?;
        Ok(Secret::from(ticket))
    }

    /// The applications a connection is enabled for (`GET
    /// /api/v2/connections/{id}/clients`, checkpoint paging).
    pub async fn connection_clients(&self, connection_id: &str) -> Result<Vec<String>, Auth0Error> {
        let mut out = Vec::new();
        let mut from: Option<String> = None;
        loop {
            let mut query = vec![("take", "100".to_owned())];
            if let Some(f) = &from {
                query.push(("from", f.clone()));
            }
            let call = Call {
                method: Method::GET,
                segments: &["connections", connection_id, "clients"],
                query,
                body: None,
                idempotency: Idempotency::Idempotent,
                needs: &["read:connections"],
            };
            let raw = self.call(&call).await?;
            let page: ClientsPage = serde_json::from_slice(&raw.body).map_err(|e| {
                decode_error(&call.method, &display_path(call.segments), format!("not a list of clients: {e}"))
            })?;
            let empty = page.clients.is_empty();
            out.extend(page.clients.into_iter().map(|c| c.client_id));
            match page.next.filter(|n| !n.is_empty()) {
                Some(n) if !empty && from.as_deref() != Some(n.as_str()) => from = Some(n),
                _ => return Ok(out),
            }
        }
    }

    async fn wait_for_address(&self, email: &str) {
        GATE.wait(&format!("{} {}", self.inner.origin, email.to_lowercase())).await;
    }

    /// Sends one Authentication API request through the process's request budget,
    /// retrying as [`RetryPolicy`] says for a request that must not be performed
    /// twice. Its `x-ratelimit-*` headers describe the per-address budget, not the
    /// tenant's: they do not steer the shared budget.
    async fn send_auth_api(&self, url: &str, body: Vec<u8>) -> Result<(StatusCode, Vec<u8>), Auth0Error> {
        let policy = self.inner.policy;
        let idempotency = Idempotency::NotIdempotent;
        let mut attempt = 0u32;
        loop {
            let permit = self
                .inner
                .limiter
                .acquire(Group::Token, &self.cancel)
                .await
                .map_err(|_| Auth0Error::Cancelled { method: "POST".into(), path: CHANGE_PASSWORD_PATH.into() })?;
            let sent =
                self.inner.http.post(url).header(CONTENT_TYPE, "application/json").body(body.clone()).send().await;
            let wait = match sent {
                Ok(response) => {
                    drop(permit);
                    let status = response.status();
                    let headers = response.headers().clone();
                    let bytes = match response.bytes().await {
                        Ok(b) => b.to_vec(),
                        Err(e) => return Err(self.unconfirmed(&e)),
                    };
                    tracing::debug!(path = CHANGE_PASSWORD_PATH, status = status.as_u16(), "Auth0 answered");
                    if status.is_success()
                        || !RetryPolicy::retryable_status(status, idempotency)
                        || attempt >= policy.max_retries
                    {
                        return Ok((status, bytes));
                    }
                    let (wait, _) = policy.wait_after(attempt, status, &headers, self.inner.clock.server_now());
                    tracing::warn!(
                        path = CHANGE_PASSWORD_PATH,
                        status = status.as_u16(),
                        retry = attempt + 1,
                        max_retries = policy.max_retries,
                        wait_ms = wait.as_millis() as u64,
                        "Auth0 answered {status}; retrying"
                    );
                    wait
                }
                Err(e) if !e.is_connect() => return Err(self.unconfirmed(&e)),
                Err(e) if attempt >= policy.max_retries => {
                    return Err(Auth0Error::Network {
                        url: self.inner.origin.clone(),
                        message: format!("POST {CHANGE_PASSWORD_PATH}: {}", error_chain(&e)),
                    });
                }
                Err(_) => policy.backoff(attempt),
            };
            self.pause(wait, "POST", CHANGE_PASSWORD_PATH).await?;
            attempt += 1;
        }
    }

    fn unconfirmed(&self, e: &reqwest::Error) -> Auth0Error {
        Auth0Error::Unconfirmed {
            method: "POST".into(),
            path: CHANGE_PASSWORD_PATH.into(),
            url: self.inner.origin.clone(),
            message: error_chain(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn one_address_at_most_once_a_minute_others_at_once() {
        let gate = AddressGate::default();
        let start = Instant::now();
        gate.wait("a@x").await;
        gate.wait("b@x").await;
        assert_eq!(start.elapsed(), Duration::ZERO, "first invitations go at once");
        gate.wait("a@x").await;
        assert_eq!(start.elapsed(), PER_ADDRESS_INTERVAL, "the same address waits a minute");
        // Two callers for one address at the same time: a minute apart each.
        let (g1, g2) = (&gate, &gate);
        let t = Instant::now();
        let (first, second) = tokio::join!(
            async move {
                g1.wait("c@x").await;
                t.elapsed()
            },
            async move {
                g2.wait("c@x").await;
                t.elapsed()
            }
        );
        let mut waits = [first, second];
        waits.sort();
        assert_eq!(waits, [Duration::ZERO, PER_ADDRESS_INTERVAL]);
        tokio::time::advance(Duration::from_secs(61)).await;
        let t = Instant::now();
        gate.wait("a@x").await;
        assert_eq!(t.elapsed(), Duration::ZERO, "a minute later it goes at once");
    }

    #[test]
    fn ticket_bodies_name_one_redirect_at_most() {
        let body = |r: Option<&str>, c: Option<&str>| {
            serde_json::to_value(TicketRequest {
                user_id: "auth0|1",
                ttl_sec: 432_000,
                mark_email_as_verified: true,
                result_url: r,
                client_id: c,
            })
            .unwrap()
        };
        assert_eq!(
            body(None, None),
            serde_json::json!({"user_id": "auth0|1", "ttl_sec": 432000, "mark_email_as_verified": true})
        );
        assert_eq!(body(Some("https://a.example/"), None)["result_url"], "https://a.example/");
        assert!(body(None, Some("app")).get("result_url").is_none());
    }
}
