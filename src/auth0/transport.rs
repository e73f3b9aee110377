//! The one way a request reaches the Management API: URL, token, budget, retries,
//! and the translation of error answers into [`Auth0Error`]s with help that fits.

use super::Auth0Error;
use super::client::Auth0Client;
use super::limiter::Group;
use super::retry::{Bound, Idempotency, RetryPolicy, WaitFor};
use super::wire::{ErrorBody, from_slice_with_path};
use reqwest::header::{CONTENT_TYPE, HeaderMap};
use reqwest::{Method, StatusCode, Url};
use secrecy::ExposeSecret;
use serde::de::DeserializeOwned;
use std::time::{Duration, Instant, SystemTime};

/// A complete HTTP answer (body read).
pub(super) struct Raw {
    pub(super) status: StatusCode,
    pub(super) headers: HeaderMap,
    pub(super) body: Vec<u8>,
}

/// One Management API request.
pub(super) struct Call<'a> {
    pub(super) method: Method,
    /// Path segments after `/api/v2/`, not encoded (`["users", "auth0|123", "roles"]`).
    pub(super) segments: &'a [&'a str],
    pub(super) query: Vec<(&'static str, String)>,
    /// Serialised JSON body. May hold a password: never logged.
    pub(super) body: Option<Vec<u8>>,
    pub(super) idempotency: Idempotency,
    /// Scopes this call needs, for the help of a 403.
    pub(super) needs: &'static [&'static str],
}

impl Auth0Client {
    /// Sends a Management API request with a token; refreshes the token once on 401.
    /// Answers other than 2xx become [`Auth0Error::Api`].
    pub(super) async fn call(&self, call: &Call<'_>) -> Result<Raw, Auth0Error> {
        let path = display_path(call.segments);
        let encoded: Vec<String> = call.segments.iter().map(|s| encode_segment(s)).collect();
        let url = Url::parse(&format!("{}/api/v2/{}", self.inner.origin, encoded.join("/"))).map_err(|e| {
            Auth0Error::Network { url: self.inner.origin.clone(), message: format!("cannot form a request URL: {e}") }
        })?;
        let mut refreshed = false;
        loop {
            let token = self.access_token().await?;
            let group = Group::of(&call.method, call.segments);
            let raw = self
                .send_retrying(&call.method, &path, group, call.idempotency, || {
                    let mut request =
                        self.inner.http.request(call.method.clone(), url.clone()).bearer_auth(token.expose_secret());
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
    /// an error that retrying will not change, or the last allowed attempt. What is
    /// safe to retry is retried until the retry budget has passed since the first
    /// failure ([`RetryPolicy::bound`]); the rest at most `max_retries` times. Every
    /// wait ends early with [`Auth0Error::Cancelled`] when the client's token fires.
    pub(super) async fn send_retrying(
        &self,
        method: &Method,
        path: &str,
        group: Group,
        idempotency: Idempotency,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<Raw, Auth0Error> {
        let policy = self.inner.policy;
        let mut attempt = 0u32;
        let mut first_failure: Option<Instant> = None;
        let cancelled = || Auth0Error::Cancelled { method: method.to_string(), path: path.to_owned() };
        loop {
            let permit = self.inner.limiter.acquire(group, &self.cancel).await.map_err(|_| cancelled())?;
            let outcome = match build().send().await {
                Ok(response) => {
                    let status = response.status();
                    let headers = response.headers().clone();
                    self.inner.clock.observe(&headers, SystemTime::now());
                    permit.observe(status, &headers, self.inner.clock.server_now());
                    match response.bytes().await {
                        Ok(body) => Ok(Raw { body: body.to_vec(), status, headers }),
                        Err(e) => Err((e, true)),
                    }
                }
                Err(e) => {
                    drop(permit);
                    // A connect error means nothing was sent.
                    let maybe_sent = !e.is_connect();
                    Err((e, maybe_sent))
                }
            };
            let failed_at = *first_failure.get_or_insert_with(Instant::now);
            let spent = failed_at.elapsed();
            match outcome {
                Ok(raw) => {
                    tracing::debug!(method = %method, path = %path, status = raw.status.as_u16(), "Auth0 answered");
                    if raw.status.is_success() || !RetryPolicy::retryable_status(raw.status, idempotency) {
                        return Ok(raw);
                    }
                    let bound = RetryPolicy::bound(Some(raw.status), idempotency);
                    let (wait, why) =
                        policy.wait_after(attempt, raw.status, &raw.headers, self.inner.clock.server_now());
                    if !may_retry(&policy, bound, attempt, spent, wait) {
                        return Ok(raw);
                    }
                    self.log_retry(method, path, Some(raw.status), None, bound, attempt, spent, wait, why);
                    if self.pause(wait, method.as_str(), path).await.is_err() {
                        // Interrupted while waiting to retry: the answer stands (the request
                        // was sent and refused), so the caller reports what happened.
                        return Ok(raw);
                    }
                    attempt += 1;
                    continue;
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
                    let bound = RetryPolicy::bound(None, idempotency);
                    let wait = policy.backoff(attempt);
                    if !may_retry(&policy, bound, attempt, spent, wait) {
                        let tried = attempt + 1;
                        return Err(Auth0Error::Network {
                            url: self.inner.origin.clone(),
                            message: format!(
                                "{method} {path}: {message} (tried {tried} time{}{})",
                                if tried == 1 { "" } else { "s" },
                                if spent.is_zero() { String::new() } else { format!(" over {}", human(spent)) }
                            ),
                        });
                    }
                    self.log_retry(method, path, None, Some(&message), bound, attempt, spent, wait, WaitFor::Backoff);
                    if self.pause(wait, method.as_str(), path).await.is_err() {
                        return Err(Auth0Error::Network {
                            url: self.inner.origin.clone(),
                            message: format!("{method} {path}: {message} (interrupted before retrying)"),
                        });
                    }
                }
            };
            attempt += 1;
        }
    }

    /// Says what a retry waits for and how long. A 429 is logged once per pause by the
    /// budget (every task waits for the same pause), so here only at debug level.
    #[allow(clippy::too_many_arguments)]
    fn log_retry(
        &self,
        method: &Method,
        path: &str,
        status: Option<StatusCode>,
        error: Option<&str>,
        bound: Bound,
        attempt: u32,
        spent: Duration,
        wait: Duration,
        why: WaitFor,
    ) {
        let policy = &self.inner.policy;
        let left = match bound {
            Bound::Time => format!("{} of the retry budget left", human(policy.budget.saturating_sub(spent + wait))),
            Bound::Count => format!("retry {} of {}", attempt + 1, policy.max_retries),
        };
        let wait_ms = wait.as_millis() as u64;
        match (status, error) {
            (Some(StatusCode::TOO_MANY_REQUESTS), _) => tracing::debug!(
                method = %method, path = %path, wait_ms, "Auth0 answered 429; retrying in {wait_ms} ms ({}; {left})",
                why.describe()
            ),
            (Some(status), _) => tracing::warn!(
                method = %method, path = %path, status = status.as_u16(), wait_ms,
                "Auth0 answered {status}; retrying in {wait_ms} ms ({}; {left})", why.describe()
            ),
            (None, error) => tracing::warn!(
                method = %method, path = %path, wait_ms, error = error.unwrap_or_default(),
                "request to Auth0 failed; retrying in {wait_ms} ms ({}; {left})", why.describe()
            ),
        }
    }

    /// Turns an error answer into [`Auth0Error::Api`] with help that fits its status.
    pub(super) fn api_error(
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

    pub(super) fn help_for(&self, status: StatusCode, idempotency: Idempotency, needs: &[&str]) -> String {
        let policy = self.inner.policy;
        let retries = policy.max_retries;
        let budget = human(policy.budget);
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
                "Auth0's rate limit was still exceeded after retrying for {budget}; another client may be spending the tenant's budget: run again later, or raise AUTH0_RETRY_BUDGET or lower AUTH0_RATE_SHARE"
            ),
            s if s >= 500 || s == 408 => {
                if idempotency == Idempotency::NotIdempotent && s != 503 {
                    "Auth0 had trouble answering (see https://status.auth0.com); the request was not retried because Auth0 may have carried it out: make a new plan to see what the tenant holds now".to_owned()
                } else if idempotency == Idempotency::NotIdempotent {
                    format!(
                        "Auth0 had trouble answering, still after {retries} retries; see https://status.auth0.com and run again later (or raise AUTH0_MAX_RETRIES)"
                    )
                } else {
                    format!(
                        "Auth0 had trouble answering, still after retrying for {budget}; see https://status.auth0.com and run again later (or raise AUTH0_RETRY_BUDGET)"
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

/// Whether a retry that waits `wait` may still happen.
fn may_retry(policy: &RetryPolicy, bound: Bound, attempt: u32, spent: Duration, wait: Duration) -> bool {
    match bound {
        Bound::Time => spent + wait <= policy.budget,
        Bound::Count => attempt < policy.max_retries,
    }
}

/// `1m 30s`, whole seconds (or milliseconds below a second).
pub(super) fn human(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
    }
}

/// `/api/v2/users/auth0|123/roles`: readable, without query string.
pub(super) fn display_path(segments: &[&str]) -> String {
    format!("/api/v2/{}", segments.join("/"))
}

pub(super) fn json_body<T: serde::Serialize>(body: &T) -> Vec<u8> {
    serde_json::to_vec(body).expect("request bodies always serialise")
}

pub(super) fn decode_error(method: &Method, path: &str, message: String) -> Auth0Error {
    Auth0Error::Decode { method: method.to_string(), path: path.to_owned(), message }
}

pub(super) fn decode<T: DeserializeOwned>(call: &Call<'_>, raw: &Raw) -> Result<T, Auth0Error> {
    from_slice_with_path(&raw.body).map_err(|message| decode_error(&call.method, &display_path(call.segments), message))
}

/// `404 Not Found`-style text of a status.
pub(super) fn status_text(status: StatusCode) -> String {
    match status.canonical_reason() {
        Some(reason) => reason.to_owned(),
        None => format!("HTTP status {}", status.as_u16()),
    }
}

/// A reqwest error and its causes, without the URL (which may carry a query).
pub(super) fn error_chain(e: &reqwest::Error) -> String {
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
pub(super) fn encode_segment(segment: &str) -> String {
    use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
    const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');
    utf8_percent_encode(segment, SEGMENT).to_string()
}

/// Escapes `"` and `\` for a quoted Lucene phrase.
pub(super) fn lucene_phrase(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

#[cfg(test)]
mod tests {
    use super::*;

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
