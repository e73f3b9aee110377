//! Auth0 jobs: users exports (start, wait, then [`super::export`] reads the file) and
//! users imports (multipart upload, wait, per-user errors). Jobs are queued and may
//! take long on a large or busy tenant: the wait follows Auth0's `time_left_seconds`
//! (within the client's [`super::client::JobPolling`] floor and cap), gives up only
//! after `AUTH0_JOB_TIMEOUT`, and ends at once on Ctrl-C.

use super::Auth0Error;
use super::client::{Auth0Client, JobPolling};
use super::limiter::Group;
use super::retry::Idempotency;
use super::transport::{Call, decode_error, human};
use super::wire::User;
use reqwest::{Method, StatusCode};
use secrecy::ExposeSecret;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

impl Auth0Client {
    /// Reads every user of `connection` through `POST /jobs/users-exports`: starts the
    /// job (NDJSON with the users' `identities`), waits for it, downloads its file from
    /// the pre-signed `location` (no token is sent there; an expired link is replaced
    /// by fetching the job again) and parses it.
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
                {"name": "name"},
                {"name": "given_name"},
                {"name": "family_name"},
                {"name": "identities"},
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
        let job = self.wait_for_job(&id, "users export").await?;
        let users = self.read_export(&id, job).await?;
        tracing::info!(connection, users = users.len(), job = %id, "read the users export");
        Ok(users)
    }

    /// Creates database users in bulk with one `POST /jobs/users-imports` job (the
    /// caller keeps each file under 500 KB and at most 2 jobs in flight), waits for it,
    /// and returns the users that failed: lower-cased email → Auth0's errors for it as
    /// `CODE: message`, several joined with `; ` (e.g. `DUPLICATED_USER: The user
    /// already exist and upsert parameter is false`). Imported users get no password:
    /// they set one through the password-reset flow.
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
            .send_retrying(&Method::POST, PATH, Group::Other, Idempotency::NotIdempotent, || {
                let part = reqwest::multipart::Part::bytes(file.clone())
                    .file_name("users.json")
                    .mime_str("application/json")
                    .expect("static mime");
                let form = reqwest::multipart::Form::new()
                    .part("users", part)
                    .text("connection_id", connection_id.to_owned())
                    .text("upsert", "false")
                    .text("send_completion_email", "false");
                self.inner.http.post(&url).bearer_auth(token.expose_secret()).multipart(form)
            })
            .await?;
        if !raw.status.is_success() {
            return Err(self.api_error(&Method::POST, PATH, &raw, Idempotency::NotIdempotent, &["create:users"]));
        }
        let job: serde_json::Value =
            serde_json::from_slice(&raw.body).map_err(|e| decode_error(&Method::POST, PATH, e.to_string()))?;
        let id = job["id"].as_str().unwrap_or_default().to_owned();
        self.wait_for_job(&id, "users import").await?;
        let call = Call {
            method: Method::GET,
            segments: &["jobs", &id, "errors"],
            query: Vec::new(),
            body: None,
            idempotency: Idempotency::Idempotent,
            needs: &["create:users"],
        };
        let raw = self.call(&call).await?;
        if raw.status == StatusCode::NO_CONTENT || raw.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(BTreeMap::new());
        }
        let errors: serde_json::Value = serde_json::from_slice(&raw.body)
            .map_err(|e| decode_error(&Method::GET, "/api/v2/jobs/{id}/errors", e.to_string()))?;
        import_errors(&errors).ok_or_else(|| {
            decode_error(&Method::GET, "/api/v2/jobs/{id}/errors", format!("not a list of users with errors: {errors}"))
        })
    }

    /// `GET /jobs/{id}`.
    pub(super) async fn job(&self, id: &str) -> Result<serde_json::Value, Auth0Error> {
        let call = Call {
            method: Method::GET,
            segments: &["jobs", id],
            query: Vec::new(),
            body: None,
            idempotency: Idempotency::Idempotent,
            needs: &["read:users"],
        };
        let raw = self.call(&call).await?;
        serde_json::from_slice(&raw.body)
            .map_err(|e| decode_error(&Method::GET, &format!("/api/v2/jobs/{id}"), e.to_string()))
    }

    /// Polls `GET /jobs/{id}` until the job completes (returns the job) or fails, for at
    /// most `AUTH0_JOB_TIMEOUT`. The next poll comes after `time_left_seconds` when Auth0
    /// says it (else twice the last wait), within the polling floor and cap.
    pub(super) async fn wait_for_job(&self, id: &str, kind: &str) -> Result<serde_json::Value, Auth0Error> {
        let path = format!("/api/v2/jobs/{id}");
        let started = Instant::now();
        let timeout = self.inner.job_timeout;
        let JobPolling { floor, cap } = self.polling;
        let mut backoff = floor;
        loop {
            let job = self.job(id).await?;
            match job["status"].as_str() {
                Some("completed") => return Ok(job),
                Some("failed") => {
                    let details = ["status_details", "summary"]
                        .iter()
                        .map(|k| &job[*k])
                        .find(|v| !v.is_null())
                        .map_or_else(|| "Auth0 gave no details".to_owned(), ToString::to_string);
                    return Err(Auth0Error::JobFailed { kind: kind.to_owned(), job: id.to_owned(), details });
                }
                _ => {}
            }
            let elapsed = started.elapsed();
            if elapsed >= timeout {
                return Err(Auth0Error::JobTimeout {
                    kind: kind.to_owned(),
                    job: id.to_owned(),
                    waited: human(timeout),
                });
            }
            let time_left = job["time_left_seconds"].as_f64().filter(|t| t.is_finite() && *t > 0.0);
            let next = match time_left {
                Some(t) => Duration::from_secs_f64(t.min(cap.as_secs_f64())),
                None => {
                    let b = backoff;
                    backoff = (backoff * 2).min(cap);
                    b
                }
            };
            let next = next.clamp(floor, cap.max(floor)).min(timeout - elapsed);
            tracing::debug!(
                job = id,
                status = %job["status"],
                percentage_done = %job["percentage_done"],
                time_left_seconds = %job["time_left_seconds"],
                next_poll_ms = next.as_millis() as u64,
                "waiting for the {kind} job"
            );
            self.pause(next, "GET", &path).await?;
        }
    }
}

/// `GET /jobs/{id}/errors` as email → `CODE: message; CODE: message`; `None` when the
/// body is not a list.
fn import_errors(errors: &serde_json::Value) -> Option<BTreeMap<String, String>> {
    let mut failed: BTreeMap<String, String> = BTreeMap::new();
    for item in errors.as_array()? {
        let email = item["user"]["email"].as_str().unwrap_or_default().trim().to_lowercase();
        let why: Vec<String> = item["errors"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| {
                let code = e["code"].as_str().filter(|c| !c.is_empty()).unwrap_or("UNKNOWN");
                match e["message"].as_str().filter(|m| !m.is_empty()) {
                    Some(m) => format!("{code}: {m}"),
                    None => code.to_owned(),
                }
            })
            .collect();
        let why =
            if why.is_empty() { "UNKNOWN: Auth0 listed the user without an error".to_owned() } else { why.join("; ") };
        failed
            .entry(email)
            .and_modify(|w| {
                w.push_str("; ");
                w.push_str(&why);
            })
            .or_insert(why);
    }
    Some(failed)
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
    /// The HR key (`auth0_sync` namespace) and synced `app_metadata` keys.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_metadata: Option<serde_json::Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_errors_keep_every_code_and_message() {
        // The recorded answer of TestJobManager_ReadErrors, plus a user with two errors
        // and one listed twice.
        let body = serde_json::json!([
            {"user": {"email": "chuck630@example.com", "email_verified": true},
             "errors": [{"code": "DUPLICATED_USER", "message": "The user already exist and upsert parameter is false"}]},
            {"user": {"email": " Two@Example.com"},
             "errors": [{"code": "INVALID_FORMAT", "message": "bad", "path": "email"}, {"code": "CONFLICT"}]},
            {"user": {"email": "two@example.com"}, "errors": [{"code": "MAX_LENGTH", "message": "too long"}]},
        ]);
        let got = import_errors(&body).unwrap();
        assert_eq!(
            got["chuck630@example.com"],
            "DUPLICATED_USER: The user already exist and upsert parameter is false"
        );
        assert_eq!(got["two@example.com"], "INVALID_FORMAT: bad; CONFLICT; MAX_LENGTH: too long");
        assert_eq!(got.len(), 2);
        assert!(import_errors(&serde_json::json!({"status": "pending"})).is_none());
    }
}
