//! Auth0 jobs: users exports (start, poll, download from the signed link, parse the
//! NDJSON) and users imports (multipart upload, poll, per-user errors).

use super::Auth0Error;
use super::client::{Auth0Client, EXPORT_TIMEOUT};
use super::retry::Idempotency;
use super::transport::{Call, decode_error};
use super::wire::User;
use reqwest::{Method, StatusCode, Url};
use secrecy::ExposeSecret;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

impl Auth0Client {
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
                {"name": "name"},
                {"name": "given_name"},
                {"name": "family_name"},
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
                self.inner.http.post(&url).bearer_auth(token.expose_secret()).multipart(form)
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
    pub(super) async fn wait_for_job(&self, id: &str) -> Result<serde_json::Value, Auth0Error> {
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
    pub(super) async fn download(&self, location: &str) -> Result<Vec<u8>, Auth0Error> {
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
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    given_name: Option<String>,
    #[serde(default)]
    family_name: Option<String>,
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
            name: row.name,
            given_name: row.given_name,
            family_name: row.family_name,
            identities: vec![super::wire::Identity {
                connection: Some(row.connection.unwrap_or_else(|| connection.to_owned())),
                provider: None,
                is_social: None,
            }],
            app_metadata: row.app_metadata,
        });
    }
    Ok(users)
}
