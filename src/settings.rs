//! Settings: the old script's environment variable names (and new ones), each with a
//! flag, resolved once into checked types. Secrets are wrapped so that `Debug` and
//! `Display` never show them.

use crate::error::Error;
use crate::planner::IgnoreList;
use clap::Args;
use std::fmt;
use std::path::PathBuf;

/// A secret value: client secret, DB password, token. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Raw settings as given by flags or environment (`.env`/`--env-file` included).
#[derive(Clone, Default, Args)]
pub struct SettingsArgs {
    /// SQL query returning the desired users: columns `email` and `role` (or `roles`).
    #[arg(long = "query", env = "USERS_DB_QUERY", global = true, value_name = "SQL")]
    pub users_db_query: Option<String>,
    /// Source database: `sqlite:PATH`, or `mssql://` / unset for SQL Server (MSSQL_* settings).
    #[arg(long = "db-url", env = "USERS_DB_URL", global = true, value_name = "URL")]
    pub users_db_url: Option<String>,
    /// Tenant base URL, e.g. https://acme.eu.auth0.com (http only for loopback hosts).
    #[arg(long = "auth0-url", env = "AUTH0_URL", global = true, value_name = "URL")]
    pub auth0_url: Option<String>,
    /// Client id of a machine-to-machine application with Management API access.
    #[arg(long = "client-id", env = "AUTH0_CLIENT_ID", global = true)]
    pub auth0_client_id: Option<String>,
    /// Client secret of that application (prefer the environment over the flag).
    #[arg(long = "client-secret", env = "AUTH0_CLIENT_SECRET", global = true, hide_env_values = true)]
    pub auth0_client_secret: Option<String>,
    /// Name of the Auth0 database connection the users live in.
    #[arg(long = "connection", env = "AUTH0_CONNECTION", global = true)]
    pub auth0_connection: Option<String>,
    /// Comma-separated emails (or globs like *@contractors.example.com) never deleted.
    #[arg(long = "ignore-users", env = "CLIENT_IGNORE_USERS", global = true, value_name = "EMAILS")]
    pub client_ignore_users: Option<String>,
    /// Comma-separated role names the tool may assign and remove (default: all roles).
    #[arg(long = "managed-roles", env = "AUTH0_MANAGED_ROLES", global = true, value_name = "ROLES")]
    pub auth0_managed_roles: Option<String>,
    /// How many times a failed Auth0 request is retried.
    #[arg(long = "max-retries", env = "AUTH0_MAX_RETRIES", global = true)]
    pub auth0_max_retries: Option<String>,
    /// Base of the exponential backoff between retries, in seconds.
    #[arg(long = "backoff-factor", env = "AUTH0_BACKOFF_FACTOR", global = true)]
    pub auth0_backoff_factor: Option<String>,
    /// Client-side request budget, requests per second (default: follow the tenant's x-ratelimit headers).
    #[arg(long = "rate-limit", env = "AUTH0_RATE_LIMIT", global = true, value_name = "REQ_PER_S")]
    pub auth0_rate_limit: Option<String>,
    /// Burst of the client-side budget (with AUTH0_RATE_LIMIT).
    #[arg(long = "rate-burst", env = "AUTH0_RATE_BURST", global = true, value_name = "N")]
    pub auth0_rate_burst: Option<String>,
    /// SQL Server host.
    #[arg(long = "mssql-server", env = "MSSQL_SERVER", global = true)]
    pub mssql_server: Option<String>,
    /// SQL Server port (default 1433).
    #[arg(long = "mssql-port", env = "MSSQL_PORT", global = true)]
    pub mssql_port: Option<String>,
    /// SQL Server database.
    #[arg(long = "mssql-database", env = "MSSQL_DATABASE", global = true)]
    pub mssql_database: Option<String>,
    /// SQL Server login.
    #[arg(long = "mssql-username", env = "MSSQL_USERNAME", global = true)]
    pub mssql_username: Option<String>,
    /// SQL Server password (prefer the environment over the flag).
    #[arg(long = "mssql-password", env = "MSSQL_PASSWORD", global = true, hide_env_values = true)]
    pub mssql_password: Option<String>,
    /// SQL Server named instance (resolved through SQL Browser).
    #[arg(long = "mssql-instance", env = "MSSQL_INSTANCE", global = true)]
    pub mssql_instance: Option<String>,
    /// TLS to SQL Server: strict, mandatory (default), optional, off.
    #[arg(long = "mssql-encrypt", env = "MSSQL_ENCRYPT", global = true)]
    pub mssql_encrypt: Option<String>,
    /// Accept any SQL Server certificate (true/false, default false).
    #[arg(long = "mssql-trust-server-certificate", env = "MSSQL_TRUST_SERVER_CERTIFICATE", global = true)]
    pub mssql_trust_server_certificate: Option<String>,
    /// ADO-style connection string; replaces the other MSSQL_* settings.
    #[arg(long = "mssql-connection-string", env = "MSSQL_CONNECTION_STRING", global = true, hide_env_values = true)]
    pub mssql_connection_string: Option<String>,
}

impl fmt::Debug for SettingsArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hide = |v: &Option<String>| v.as_ref().map(|_| "***");
        f.debug_struct("SettingsArgs")
            .field("users_db_query", &self.users_db_query)
            .field("users_db_url", &self.users_db_url)
            .field("auth0_url", &self.auth0_url)
            .field("auth0_client_id", &self.auth0_client_id)
            .field("auth0_client_secret", &hide(&self.auth0_client_secret))
            .field("auth0_connection", &self.auth0_connection)
            .field("client_ignore_users", &self.client_ignore_users)
            .field("auth0_managed_roles", &self.auth0_managed_roles)
            .field("auth0_max_retries", &self.auth0_max_retries)
            .field("auth0_backoff_factor", &self.auth0_backoff_factor)
            .field("auth0_rate_limit", &self.auth0_rate_limit)
            .field("auth0_rate_burst", &self.auth0_rate_burst)
            .field("mssql_server", &self.mssql_server)
            .field("mssql_port", &self.mssql_port)
            .field("mssql_database", &self.mssql_database)
            .field("mssql_username", &self.mssql_username)
            .field("mssql_password", &hide(&self.mssql_password))
            .field("mssql_instance", &self.mssql_instance)
            .field("mssql_encrypt", &self.mssql_encrypt)
            .field("mssql_trust_server_certificate", &self.mssql_trust_server_certificate)
            .field("mssql_connection_string", &hide(&self.mssql_connection_string))
            .finish()
    }
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
}

fn missing(var: &'static str, help: &str) -> Error {
    Error::MissingSetting { var, help: help.to_owned() }
}

fn invalid(var: &'static str, reason: impl Into<String>, help: &str) -> Error {
    Error::InvalidSetting { var, reason: reason.into(), help: help.to_owned() }
}

fn non_empty(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

impl SettingsArgs {
    pub fn auth0(&self) -> Result<Auth0Settings, Error> {
        let url = non_empty(&self.auth0_url).ok_or_else(|| {
            missing("AUTH0_URL", "set AUTH0_URL (or --auth0-url) to your tenant, e.g. https://acme.eu.auth0.com")
        })?;
        let (base_url, tenant) = parse_auth0_url(url)?;
        let client_id = non_empty(&self.auth0_client_id)
            .ok_or_else(|| {
                missing(
                    "AUTH0_CLIENT_ID",
                    "set AUTH0_CLIENT_ID to the client id of a machine-to-machine application authorised for the Management API",
                )
            })?
            .to_owned();
        let client_secret = non_empty(&self.auth0_client_secret)
            .map(Secret::new)
            .ok_or_else(|| missing("AUTH0_CLIENT_SECRET", "set AUTH0_CLIENT_SECRET to that application's client secret (in the environment, not on the command line)"))?;
        let max_retries = match non_empty(&self.auth0_max_retries) {
            None => 5,
            Some(v) => v.parse::<u32>().ok().filter(|n| *n <= 100).ok_or_else(|| {
                invalid(
                    "AUTH0_MAX_RETRIES",
                    format!("{v:?} is not a whole number from 0 to 100"),
                    "set AUTH0_MAX_RETRIES to e.g. 5",
                )
            })?,
        };
        let backoff_factor = match non_empty(&self.auth0_backoff_factor) {
            None => 0.5,
            Some(v) => v.parse::<f64>().ok().filter(|f| f.is_finite() && *f >= 0.0 && *f <= 60.0).ok_or_else(|| {
                invalid(
                    "AUTH0_BACKOFF_FACTOR",
                    format!("{v:?} is not a number of seconds from 0 to 60"),
                    "set AUTH0_BACKOFF_FACTOR to e.g. 0.5",
                )
            })?,
        };
        let rate_limit = match non_empty(&self.auth0_rate_limit) {
            None => None,
            Some(v) => Some(v.parse::<f64>().ok().filter(|f| f.is_finite() && *f > 0.0 && *f <= 10_000.0).ok_or_else(|| {
                invalid("AUTH0_RATE_LIMIT", format!("{v:?} is not a positive number of requests per second"), "set AUTH0_RATE_LIMIT to your tenant's Management API rate, e.g. 16 (Enterprise) or 2 (Free), or leave it unset to follow the tenant's headers")
            })?),
        };
        let rate_burst = match non_empty(&self.auth0_rate_burst) {
            None => None,
            Some(v) => Some(v.parse::<u32>().ok().filter(|n| *n >= 1 && *n <= 10_000).ok_or_else(|| {
                invalid(
                    "AUTH0_RATE_BURST",
                    format!("{v:?} is not a whole number from 1 to 10000"),
                    "set AUTH0_RATE_BURST to your tenant's burst, e.g. 50 (Enterprise) or 2 (Free)",
                )
            })?),
        };
        if rate_burst.is_some() && rate_limit.is_none() {
            return Err(invalid(
                "AUTH0_RATE_BURST",
                "it is set without AUTH0_RATE_LIMIT",
                "set both AUTH0_RATE_LIMIT and AUTH0_RATE_BURST, or neither",
            ));
        }
        Ok(Auth0Settings {
            base_url,
            tenant,
            client_id,
            client_secret,
            max_retries,
            backoff_factor,
            rate_limit,
            rate_burst,
        })
    }

    pub fn connection(&self) -> Result<String, Error> {
        non_empty(&self.auth0_connection).map(str::to_owned).ok_or_else(|| {
            missing(
                "AUTH0_CONNECTION",
                "set AUTH0_CONNECTION to the database connection name, e.g. Username-Password-Authentication",
            )
        })
    }

    pub fn ignore(&self) -> Result<IgnoreList, Error> {
        let raw = self.client_ignore_users.as_deref().unwrap_or("");
        IgnoreList::new(raw.split(',')).map_err(|e| {
            invalid("CLIENT_IGNORE_USERS", e, "set CLIENT_IGNORE_USERS to comma-separated emails or globs, e.g. admin@acme.com,*@contractors.acme.com")
        })
    }

    /// `None` = every role is managed.
    pub fn managed_roles(&self) -> Option<std::collections::BTreeSet<String>> {
        non_empty(&self.auth0_managed_roles).map(|v| crate::source::split_roles(v).into_iter().collect())
    }

    pub fn source(&self) -> Result<SourceSettings, Error> {
        let query = non_empty(&self.users_db_query)
            .ok_or_else(|| missing("USERS_DB_QUERY", "set USERS_DB_QUERY to a SELECT returning the columns email and role, e.g. SELECT email, role FROM hr.staff"))?
            .to_owned();
        let backend = match non_empty(&self.users_db_url) {
            Some(url) if url.starts_with("sqlite:") => {
                let path = url.trim_start_matches("sqlite:").trim_start_matches("//");
                if path.is_empty() {
                    return Err(invalid(
                        "USERS_DB_URL",
                        "no path after sqlite:",
                        "set USERS_DB_URL to sqlite:PATH, e.g. sqlite:examples/demo/hr.sqlite",
                    ));
                }
                SourceBackend::Sqlite { path: PathBuf::from(path) }
            }
            Some(url) if url.starts_with("mssql:") || url.starts_with("sqlserver:") => {
                SourceBackend::Mssql(Box::new(self.mssql()?))
            }
            None => SourceBackend::Mssql(Box::new(self.mssql()?)),
            Some(other) => {
                let scheme = other.split(':').next().unwrap_or(other);
                return Err(invalid(
                    "USERS_DB_URL",
                    format!("unknown source scheme {scheme:?}"),
                    "use sqlite:PATH, or mssql:// (or leave it unset) for SQL Server with the MSSQL_* settings",
                ));
            }
        };
        Ok(SourceSettings { backend, query })
    }

    pub fn mssql(&self) -> Result<MssqlSettings, Error> {
        let connection_string = non_empty(&self.mssql_connection_string).map(Secret::new);
        let server = match (non_empty(&self.mssql_server), &connection_string) {
            (Some(s), _) => s.to_owned(),
            (None, Some(_)) => String::new(),
            (None, None) => {
                return Err(missing(
                    "MSSQL_SERVER",
                    "set MSSQL_SERVER (and MSSQL_DATABASE, MSSQL_USERNAME, MSSQL_PASSWORD) for SQL Server, or USERS_DB_URL=sqlite:PATH for a SQLite file",
                ));
            }
        };
        let port = match non_empty(&self.mssql_port) {
            None => 1433,
            Some(p) => p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| {
                invalid(
                    "MSSQL_PORT",
                    format!("{p:?} is not a port number"),
                    "set MSSQL_PORT to a number from 1 to 65535 (default 1433)",
                )
            })?,
        };
        let encrypt = match non_empty(&self.mssql_encrypt).map(str::to_lowercase).as_deref() {
            None | Some("mandatory") | Some("true") | Some("yes") => MssqlEncrypt::Mandatory,
            Some("strict") => MssqlEncrypt::Strict,
            Some("optional") => MssqlEncrypt::Optional,
            Some("off") | Some("false") | Some("no") => MssqlEncrypt::Off,
            Some(v) => {
                return Err(invalid(
                    "MSSQL_ENCRYPT",
                    format!("{v:?} is not a TLS mode"),
                    "set MSSQL_ENCRYPT to strict, mandatory (default), optional or off",
                ));
            }
        };
        let trust_server_certificate =
            match non_empty(&self.mssql_trust_server_certificate).map(str::to_lowercase).as_deref() {
                None | Some("false") | Some("0") | Some("no") => false,
                Some("true") | Some("1") | Some("yes") => true,
                Some(v) => {
                    return Err(invalid(
                        "MSSQL_TRUST_SERVER_CERTIFICATE",
                        format!("{v:?} is not true or false"),
                        "set MSSQL_TRUST_SERVER_CERTIFICATE to true or false (default false)",
                    ));
                }
            };
        Ok(MssqlSettings {
            server,
            port,
            database: non_empty(&self.mssql_database).map(str::to_owned),
            username: non_empty(&self.mssql_username).map(str::to_owned),
            password: non_empty(&self.mssql_password).map(Secret::new),
            instance: non_empty(&self.mssql_instance).map(str::to_owned),
            encrypt,
            trust_server_certificate,
            connection_string,
        })
    }
}

/// Checks AUTH0_URL: https, or http for loopback hosts only; returns (origin, tenant).
pub fn parse_auth0_url(raw: &str) -> Result<(String, String), Error> {
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
        let s = SettingsArgs {
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
        let s = SettingsArgs {
            auth0_url: Some("https://a.auth0.com".into()),
            auth0_client_id: Some("id".into()),
            auth0_client_secret: Some("x".into()),
            auth0_max_retries: Some("lots".into()),
            ..Default::default()
        };
        let e = s.auth0().unwrap_err();
        assert!(matches!(e, Error::InvalidSetting { var: "AUTH0_MAX_RETRIES", .. }));
    }
}
