//! Settings: the old script's environment variable names (and new ones), each with a
//! flag, resolved once into checked types before any I/O. Secrets are
//! [`secrecy::SecretString`]s, so `Debug` never shows them.

pub mod args;
pub mod env_file;
mod error;
mod invite;

pub use args::{PolicyArgs, SourceArgs, TenantArgs};
pub use error::{Problems, SettingsError, both};
pub use invite::InviteArgs;

use error::invalid;
use std::path::PathBuf;

/// A secret value: client secret, DB password, token. Never printed.
pub type Secret = secrecy::SecretString;

/// The tenant a command works on, and the connection whose users it manages.
#[derive(Debug, Clone)]
pub struct Tenant {
    pub auth0: Auth0Settings,
    pub connection: String,
}

/// How to reach the tenant.
#[derive(Debug, Clone)]
pub struct Auth0Settings {
    /// Origin of the tenant, no trailing slash: `https://acme.eu.auth0.com`.
    pub base_url: String,
    /// Host (and port when not the default), recorded in plans: `acme.eu.auth0.com`.
    pub tenant: String,
    pub client_id: String,
    pub client_secret: Secret,
    pub max_retries: u32,
    pub backoff_factor: f64,
    /// Fixed client-side budget in requests/s; `None` = adapt to the tenant's headers.
    pub rate_limit: Option<f64>,
    /// Burst of that budget (defaults to the rate, at least 1).
    pub rate_burst: Option<u32>,
    /// Share (0 < s ≤ 1) of the tenant's budget this run may use, fixed or adaptive.
    pub rate_share: f64,
    /// Longest total wait for one request that is safe to retry.
    pub retry_budget: std::time::Duration,
    /// Longest wait for one export or import job.
    pub job_timeout: std::time::Duration,
}

/// TLS mode for SQL Server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MssqlEncrypt {
    Strict,
    Mandatory,
    Optional,
    Off,
}

#[derive(Debug, Clone)]
pub struct MssqlSettings {
    pub server: String,
    pub port: u16,
    pub database: Option<String>,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub instance: Option<String>,
    pub encrypt: MssqlEncrypt,
    pub trust_server_certificate: bool,
    /// ADO connection string; when set it wins over the fields above.
    pub connection_string: Option<Secret>,
}

#[derive(Debug, Clone)]
pub enum SourceBackend {
    Sqlite { path: PathBuf },
    Mssql(Box<MssqlSettings>),
}

#[derive(Debug, Clone)]
pub struct SourceSettings {
    pub backend: SourceBackend,
    pub query: String,
    /// The column holding the stable HR key (`USERS_KEY_COLUMN`, default `employee_id`).
    pub key_column: String,
}

/// Checks AUTH0_URL: https, or http for loopback hosts only; returns (origin, tenant).
pub fn parse_auth0_url(raw: &str) -> Result<(String, String), SettingsError> {
    const HELP: &str = "set AUTH0_URL to https://YOUR_TENANT.auth0.com (http is accepted only for 127.0.0.1/localhost, e.g. the emulator)";
    let with_scheme = if raw.contains("://") { raw.to_owned() } else { format!("https://{raw}") };
    let url = reqwest::Url::parse(&with_scheme)
        .map_err(|e| invalid("AUTH0_URL", format!("{raw:?} is not a URL ({e})"), HELP))?;
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| invalid("AUTH0_URL", format!("{raw:?} has no host"), HELP))?;
    let loopback = matches!(host, "localhost" | "[::1]" | "::1") || host.starts_with("127.");
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => {
            return Err(invalid("AUTH0_URL", format!("{raw:?} uses plain http to a non-loopback host"), HELP));
        }
        s => {
            return Err(invalid("AUTH0_URL", format!("scheme {s:?} is not https"), HELP));
        }
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("AUTH0_URL", "the URL carries credentials", HELP));
    }
    let path = url.path().trim_end_matches('/');
    if !(path.is_empty() || path == "/api/v2") {
        return Err(invalid("AUTH0_URL", format!("unexpected path {path:?}"), HELP));
    }
    let tenant = match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_owned(),
    };
    Ok((format!("{}://{tenant}", url.scheme()), tenant))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth0_url_forms() {
        assert_eq!(parse_auth0_url("https://acme.eu.auth0.com/").unwrap().0, "https://acme.eu.auth0.com");
        assert_eq!(parse_auth0_url("acme.auth0.com").unwrap().1, "acme.auth0.com");
        assert_eq!(parse_auth0_url("https://acme.auth0.com/api/v2/").unwrap().0, "https://acme.auth0.com");
        assert_eq!(
            parse_auth0_url("http://127.0.0.1:8080").unwrap(),
            ("http://127.0.0.1:8080".into(), "127.0.0.1:8080".into())
        );
        assert!(parse_auth0_url("http://acme.auth0.com").is_err());
        assert!(parse_auth0_url("ftp://acme.auth0.com").is_err());
        assert!(parse_auth0_url("https://user:pw@acme.auth0.com").is_err());
    }

    #[test]
    fn secrets_do_not_debug() {
        let s = TenantArgs {
            auth0_url: Some("https://a.auth0.com".into()),
            auth0_client_id: Some("id".into()),
            auth0_client_secret: Some("hunter2-secret".into()),
            ..Default::default()
        };
        assert!(!format!("{s:?}").contains("hunter2"));
        let a = s.auth0().unwrap();
        assert!(!format!("{a:?}").contains("hunter2"));
    }

    #[test]
    fn malformed_numbers_name_the_variable() {
        let s = TenantArgs {
            auth0_url: Some("https://a.auth0.com".into()),
            auth0_client_id: Some("id".into()),
            auth0_client_secret: Some("x".into()),
            auth0_max_retries: Some("lots".into()),
            ..Default::default()
        };
        let e = s.auth0().unwrap_err();
        assert!(matches!(e, SettingsError::Invalid { var: "AUTH0_MAX_RETRIES", .. }));
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let s = TenantArgs {
            auth0_url: Some("ftp://x".into()),
            auth0_max_retries: Some("lots".into()),
            ..Default::default()
        };
        let SettingsError::Several { problems } = s.resolve().unwrap_err() else { panic!("several problems expected") };
        let vars: Vec<&str> = problems.iter().map(SettingsError::var).collect();
        assert_eq!(
            vars,
            ["AUTH0_URL", "AUTH0_CLIENT_ID", "AUTH0_CLIENT_SECRET", "AUTH0_MAX_RETRIES", "AUTH0_CONNECTION"]
        );
    }
}
