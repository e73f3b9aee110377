//! The settings as flags and environment variables, in groups that verbs flatten
//! into their own arguments (so `--help` of a verb lists only what it uses), and
//! their resolution into checked settings. Every problem is collected, not just
//! the first.

use super::error::{Problems, both, invalid, missing};
use super::{
    Auth0Settings, MssqlEncrypt, MssqlSettings, Secret, SettingsError, SourceBackend, SourceSettings, Tenant,
    parse_auth0_url,
};
use crate::caps::{RemovalCapFlags, RemovalCaps};
use crate::fields::{FieldAuthority, OnNull};
use crate::planner::{DeleteCap, IgnoreList};
use crate::roles::{ManagedRoles, split_list};
use std::fmt;
use std::path::PathBuf;

/// Where the tenant is and how to talk to it.
#[derive(Clone, Default, clap::Args)]
#[command(next_help_heading = "Tenant")]
pub struct TenantArgs {
    /// Tenant base URL, e.g. https://acme.eu.auth0.com (http only for loopback hosts).
    #[arg(long = "auth0-url", env = "AUTH0_URL", value_name = "URL")]
    pub auth0_url: Option<String>,
    /// Client id of a machine-to-machine application with Management API access.
    #[arg(long = "client-id", env = "AUTH0_CLIENT_ID", value_name = "ID")]
    pub auth0_client_id: Option<String>,
    /// Client secret of that application (prefer the environment over the flag).
    #[arg(long = "client-secret", env = "AUTH0_CLIENT_SECRET", hide_env_values = true, value_name = "SECRET")]
    pub auth0_client_secret: Option<String>,
    /// Name of the Auth0 database connection the users live in.
    #[arg(long = "connection", env = "AUTH0_CONNECTION", value_name = "NAME")]
    pub auth0_connection: Option<String>,
    /// How many times a failed request that is not safe to repeat blindly (a user creation
    /// met by 503) is retried; what is safe is retried for AUTH0_RETRY_BUDGET.
    #[arg(long = "max-retries", hide_short_help = true, env = "AUTH0_MAX_RETRIES", value_name = "N")]
    pub auth0_max_retries: Option<String>,
    /// Base of the exponential backoff between retries, in seconds.
    #[arg(long = "backoff-factor", hide_short_help = true, env = "AUTH0_BACKOFF_FACTOR", value_name = "SECS")]
    pub auth0_backoff_factor: Option<String>,
    /// The tenant's Management API rate, requests per second; the run takes AUTH0_RATE_SHARE of it
    /// (default: measured from the tenant's x-ratelimit headers).
    #[arg(long = "rate-limit", hide_short_help = true, env = "AUTH0_RATE_LIMIT", value_name = "REQ_PER_S")]
    pub auth0_rate_limit: Option<String>,
    /// Burst of the client-side budget (with AUTH0_RATE_LIMIT).
    #[arg(long = "rate-burst", hide_short_help = true, env = "AUTH0_RATE_BURST", value_name = "N")]
    pub auth0_rate_burst: Option<String>,
    /// Share of the tenant's Management API budget this run may use, e.g. 0.5 or 50%
    /// (the budget is shared with Actions and every other client; default 0.5).
    #[arg(long = "rate-share", hide_short_help = true, env = "AUTH0_RATE_SHARE", value_name = "SHARE")]
    pub auth0_rate_share: Option<String>,
    /// Longest total wait for one request that is safe to retry (429, or 5xx/408/network
    /// errors of reads and idempotent writes), e.g. 10m (default).
    #[arg(long = "retry-budget", hide_short_help = true, env = "AUTH0_RETRY_BUDGET", value_name = "DURATION")]
    pub auth0_retry_budget: Option<String>,
    /// Longest wait for one export or import job, e.g. 2h (default, Auth0's import timeout).
    #[arg(long = "job-timeout", hide_short_help = true, env = "AUTH0_JOB_TIMEOUT", value_name = "DURATION")]
    pub auth0_job_timeout: Option<String>,
}

impl fmt::Debug for TenantArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hide = |v: &Option<String>| v.as_ref().map(|_| "***");
        f.debug_struct("TenantArgs")
            .field("auth0_url", &self.auth0_url)
            .field("auth0_client_id", &self.auth0_client_id)
            .field("auth0_client_secret", &hide(&self.auth0_client_secret))
            .field("auth0_connection", &self.auth0_connection)
            .field("auth0_max_retries", &self.auth0_max_retries)
            .field("auth0_backoff_factor", &self.auth0_backoff_factor)
            .field("auth0_rate_limit", &self.auth0_rate_limit)
            .field("auth0_rate_burst", &self.auth0_rate_burst)
            .field("auth0_rate_share", &self.auth0_rate_share)
            .field("auth0_retry_budget", &self.auth0_retry_budget)
            .field("auth0_job_timeout", &self.auth0_job_timeout)
            .finish()
    }
}

/// Where the desired users come from: the HR query and its database.
#[derive(Clone, Default, clap::Args)]
#[command(next_help_heading = "Source")]
pub struct SourceArgs {
    /// SQL query returning the desired users: columns `email` and `role` (or `roles`).
    #[arg(long = "query", env = "USERS_DB_QUERY", value_name = "SQL")]
    pub users_db_query: Option<String>,
    /// Source database: `sqlite:PATH`, or `mssql://` / unset for SQL Server (MSSQL_* settings).
    #[arg(long = "db-url", env = "USERS_DB_URL", value_name = "URL")]
    pub users_db_url: Option<String>,
    /// Column of the query holding the stable HR key (default employee_id).
    #[arg(long = "key-column", hide_short_help = true, env = "USERS_KEY_COLUMN", value_name = "COLUMN")]
    pub users_key_column: Option<String>,
    /// SQL Server host.
    #[arg(long = "mssql-server", env = "MSSQL_SERVER", value_name = "HOST")]
    pub mssql_server: Option<String>,
    /// SQL Server port (default 1433).
    #[arg(long = "mssql-port", hide_short_help = true, env = "MSSQL_PORT", value_name = "PORT")]
    pub mssql_port: Option<String>,
    /// SQL Server database.
    #[arg(long = "mssql-database", env = "MSSQL_DATABASE", value_name = "DB")]
    pub mssql_database: Option<String>,
    /// SQL Server login.
    #[arg(long = "mssql-username", env = "MSSQL_USERNAME", value_name = "USER")]
    pub mssql_username: Option<String>,
    /// SQL Server password (prefer the environment over the flag).
    #[arg(long = "mssql-password", env = "MSSQL_PASSWORD", hide_env_values = true, value_name = "PASSWORD")]
    pub mssql_password: Option<String>,
    /// SQL Server named instance (resolved through SQL Browser).
    #[arg(long = "mssql-instance", hide_short_help = true, env = "MSSQL_INSTANCE", value_name = "NAME")]
    pub mssql_instance: Option<String>,
    /// TLS to SQL Server: strict, mandatory (default), optional, off.
    #[arg(long = "mssql-encrypt", hide_short_help = true, env = "MSSQL_ENCRYPT", value_name = "MODE")]
    pub mssql_encrypt: Option<String>,
    /// Accept any SQL Server certificate (true/false, default false).
    #[arg(
        long = "mssql-trust-server-certificate",
        hide_short_help = true,
        env = "MSSQL_TRUST_SERVER_CERTIFICATE",
        value_name = "BOOL"
    )]
    pub mssql_trust_server_certificate: Option<String>,
    /// ADO-style connection string; replaces the other MSSQL_* settings.
    #[arg(
        long = "mssql-connection-string",
        hide_short_help = true,
        env = "MSSQL_CONNECTION_STRING",
        hide_env_values = true,
        value_name = "ADO"
    )]
    pub mssql_connection_string: Option<String>,
}

impl fmt::Debug for SourceArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hide = |v: &Option<String>| v.as_ref().map(|_| "***");
        f.debug_struct("SourceArgs")
            .field("users_db_query", &self.users_db_query)
            .field("users_db_url", &self.users_db_url)
            .field("users_key_column", &self.users_key_column)
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

/// Which users and roles the tool may touch.
#[derive(Clone, Default, clap::Args)]
#[command(next_help_heading = "Policy")]
pub struct PolicyArgs {
    /// Comma-separated emails (or globs like *@contractors.example.com) never deleted.
    #[arg(long = "ignore-users", env = "CLIENT_IGNORE_USERS", value_name = "EMAILS")]
    pub client_ignore_users: Option<String>,
    /// Comma-separated role names the tool may assign and remove (default: all roles).
    #[arg(long = "managed-roles", env = "AUTH0_MANAGED_ROLES", value_name = "ROLES")]
    pub auth0_managed_roles: Option<String>,
    /// Who wins per synced field: FIELD=force|create_only|ignore, comma-separated (default force).
    #[arg(long = "field-authority", hide_short_help = true, env = "AUTH0_FIELD_AUTHORITY", value_name = "RULES")]
    pub auth0_field_authority: Option<String>,
    /// What a NULL in a synced column does: keep (default) or clear the tenant's value.
    #[arg(long = "on-null", hide_short_help = true, env = "AUTH0_ON_NULL", value_name = "keep|clear")]
    pub auth0_on_null: Option<String>,
}

impl fmt::Debug for PolicyArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PolicyArgs")
            .field("client_ignore_users", &self.client_ignore_users)
            .field("auth0_managed_roles", &self.auth0_managed_roles)
            .field("auth0_field_authority", &self.auth0_field_authority)
            .field("auth0_on_null", &self.auth0_on_null)
            .finish()
    }
}

impl TenantArgs {
    /// The tenant, its connection and the client's settings, or every problem with them.
    pub fn resolve(&self) -> Result<Tenant, SettingsError> {
        let (auth0, connection) = both(self.auth0(), self.connection())?;
        Ok(Tenant { auth0, connection })
    }

    pub fn auth0(&self) -> Result<Auth0Settings, SettingsError> {
        let mut p = Problems::default();
        let url = p.take(
            non_empty(&self.auth0_url)
                .ok_or_else(|| {
                    missing(
                        "AUTH0_URL",
                        "set AUTH0_URL (or --auth0-url) to your tenant, e.g. https://acme.eu.auth0.com",
                    )
                })
                .and_then(parse_auth0_url),
        );
        let client_id = p.take(non_empty(&self.auth0_client_id).map(str::to_owned).ok_or_else(|| {
            missing(
                "AUTH0_CLIENT_ID",
                "set AUTH0_CLIENT_ID to the client id of a machine-to-machine application authorised for the Management API",
            )
        }));
        let client_secret = p.take(non_empty(&self.auth0_client_secret).map(Secret::from).ok_or_else(|| {
            missing(
                "AUTH0_CLIENT_SECRET",
                "set AUTH0_CLIENT_SECRET to that application's client secret (in the environment, not on the command line)",
            )
        }));
        let max_retries = p.take(parse(
            &self.auth0_max_retries,
            "AUTH0_MAX_RETRIES",
            |v| v.parse::<u32>().ok().filter(|n| *n <= 100),
            "is not a whole number from 0 to 100",
            "set AUTH0_MAX_RETRIES to e.g. 5",
        ));
        let backoff_factor = p.take(parse(
            &self.auth0_backoff_factor,
            "AUTH0_BACKOFF_FACTOR",
            |v| v.parse::<f64>().ok().filter(|f| f.is_finite() && *f >= 0.0 && *f <= 60.0),
            "is not a number of seconds from 0 to 60",
            "set AUTH0_BACKOFF_FACTOR to e.g. 0.5",
        ));
        let rate_limit = p.take(parse(
            &self.auth0_rate_limit,
            "AUTH0_RATE_LIMIT",
            |v| v.parse::<f64>().ok().filter(|f| f.is_finite() && *f > 0.0 && *f <= 10_000.0),
            "is not a positive number of requests per second",
            "set AUTH0_RATE_LIMIT to your tenant's Management API rate, e.g. 16 (Enterprise) or 2 (Free), or leave it unset to follow the tenant's headers",
        ));
        let rate_burst = p.take(parse(
            &self.auth0_rate_burst,
            "AUTH0_RATE_BURST",
            |v| v.parse::<u32>().ok().filter(|n| *n >= 1 && *n <= 10_000),
            "is not a whole number from 1 to 10000",
            "set AUTH0_RATE_BURST to your tenant's burst, e.g. 50 (Enterprise) or 2 (Free)",
        ));
        let rate_share = p.take(parse(
            &self.auth0_rate_share,
            "AUTH0_RATE_SHARE",
            parse_share,
            "is not a share above 0 and at most 1 (or a percentage up to 100%)",
            "set AUTH0_RATE_SHARE to the share of the tenant's Management API budget this sync may use, e.g. 0.5 or 50% (1 takes all of it)",
        ));
        let retry_budget = p.take(parse(
            &self.auth0_retry_budget,
            "AUTH0_RETRY_BUDGET",
            |v| parse_duration_secs(v).filter(|d| *d <= std::time::Duration::from_secs(24 * 3600)),
            "is not a duration up to 24h, like 10m or 90s",
            "set AUTH0_RETRY_BUDGET to how long one request may keep being retried, e.g. 10m (a bare number is seconds)",
        ));
        let job_timeout = p.take(parse(
            &self.auth0_job_timeout,
            "AUTH0_JOB_TIMEOUT",
            |v| {
                parse_duration_secs(v).filter(|d| {
                    *d >= std::time::Duration::from_secs(1) && *d <= std::time::Duration::from_secs(48 * 3600)
                })
            },
            "is not a duration from 1s to 48h, like 2h or 30m",
            "set AUTH0_JOB_TIMEOUT to how long an export or import job may take, e.g. 2h (a bare number is seconds)",
        ));
        if let (Some(Some(_)), Some(None)) = (&rate_burst, &rate_limit) {
            p.take::<()>(Err(invalid(
                "AUTH0_RATE_BURST",
                "it is set without AUTH0_RATE_LIMIT",
                "set both AUTH0_RATE_LIMIT and AUTH0_RATE_BURST, or neither",
            )));
        }
        p.finish()?;
        let ((base_url, tenant), client_id, client_secret) =
            (url.expect("checked"), client_id.expect("checked"), client_secret.expect("checked"));
        Ok(Auth0Settings {
            base_url,
            tenant,
            client_id,
            client_secret,
            max_retries: max_retries.flatten().unwrap_or(5),
            backoff_factor: backoff_factor.flatten().unwrap_or(0.5),
            rate_limit: rate_limit.flatten(),
            rate_burst: rate_burst.flatten(),
            rate_share: rate_share.flatten().unwrap_or(DEFAULT_RATE_SHARE),
            retry_budget: retry_budget.flatten().unwrap_or(DEFAULT_RETRY_BUDGET),
            job_timeout: job_timeout.flatten().unwrap_or(DEFAULT_JOB_TIMEOUT),
        })
    }

    pub fn connection(&self) -> Result<String, SettingsError> {
        non_empty(&self.auth0_connection).map(str::to_owned).ok_or_else(|| {
            missing(
                "AUTH0_CONNECTION",
                "set AUTH0_CONNECTION to the database connection name, e.g. Username-Password-Authentication",
            )
        })
    }
}

impl PolicyArgs {
    pub fn ignore(&self) -> Result<IgnoreList, SettingsError> {
        let raw = self.client_ignore_users.as_deref().unwrap_or("");
        IgnoreList::new(raw.split(',')).map_err(|e| {
            invalid("CLIENT_IGNORE_USERS", e, "set CLIENT_IGNORE_USERS to comma-separated emails or globs, e.g. admin@acme.com,*@contractors.acme.com")
        })
    }

    /// Unset = every role is managed.
    pub fn managed_roles(&self) -> ManagedRoles {
        ManagedRoles(non_empty(&self.auth0_managed_roles).map(|v| split_list(v).into_iter().collect()))
    }

    /// Unset = every synced field is `force`.
    pub fn field_authority(&self) -> Result<FieldAuthority, SettingsError> {
        FieldAuthority::parse(non_empty(&self.auth0_field_authority).unwrap_or("")).map_err(|bad| {
            invalid(
                "AUTH0_FIELD_AUTHORITY",
                bad.join("; "),
                "set AUTH0_FIELD_AUTHORITY to comma-separated FIELD=AUTHORITY entries, FIELD one of name, given_name, family_name, app_metadata.<key> and AUTHORITY one of force, create_only, ignore, e.g. given_name=create_only,app_metadata.cost_centre=ignore",
            )
        })
    }

    /// Unset = `keep`.
    pub fn on_null(&self) -> Result<OnNull, SettingsError> {
        parse(
            &self.auth0_on_null,
            "AUTH0_ON_NULL",
            OnNull::parse,
            "is not keep or clear",
            "set AUTH0_ON_NULL to keep (a NULL leaves the tenant's value) or clear (a NULL removes it)",
        )
        .map(Option::unwrap_or_default)
    }
}

impl SourceArgs {
    pub fn resolve(&self) -> Result<SourceSettings, SettingsError> {
        let query = non_empty(&self.users_db_query).map(str::to_owned).ok_or_else(|| {
            missing(
                "USERS_DB_QUERY",
                "set USERS_DB_QUERY to a SELECT returning the columns email and role, e.g. SELECT email, role FROM hr.staff",
            )
        });
        let backend = match non_empty(&self.users_db_url) {
            Some(url) if url.starts_with("sqlite:") => {
                let path = url.trim_start_matches("sqlite:").trim_start_matches("//");
                if path.is_empty() {
                    Err(invalid(
                        "USERS_DB_URL",
                        "no path after sqlite:",
                        "set USERS_DB_URL to sqlite:PATH, e.g. sqlite:examples/demo/hr.sqlite",
                    ))
                } else {
                    Ok(SourceBackend::Sqlite { path: PathBuf::from(path) })
                }
            }
            Some(url) if url.starts_with("mssql:") || url.starts_with("sqlserver:") => {
                self.mssql().map(|m| SourceBackend::Mssql(Box::new(m)))
            }
            None => self.mssql().map(|m| SourceBackend::Mssql(Box::new(m))),
            Some(other) => {
                let scheme = other.split(':').next().unwrap_or(other);
                Err(invalid(
                    "USERS_DB_URL",
                    format!("unknown source scheme {scheme:?}"),
                    "use sqlite:PATH, or mssql:// (or leave it unset) for SQL Server with the MSSQL_* settings",
                ))
            }
        };
        let (query, backend) = both(query, backend)?;
        let key_column = non_empty(&self.users_key_column).unwrap_or(crate::source::DEFAULT_KEY_COLUMN).to_owned();
        Ok(SourceSettings { backend, query, key_column })
    }

    pub fn mssql(&self) -> Result<MssqlSettings, SettingsError> {
        let mut p = Problems::default();
        let connection_string = non_empty(&self.mssql_connection_string).map(Secret::from);
        let server = match (non_empty(&self.mssql_server), &connection_string) {
            (Some(s), _) => s.to_owned(),
            (None, Some(_)) => String::new(),
            (None, None) => {
                p.take::<()>(Err(missing(
                    "MSSQL_SERVER",
                    "set MSSQL_SERVER (and MSSQL_DATABASE, MSSQL_USERNAME, MSSQL_PASSWORD) for SQL Server, or USERS_DB_URL=sqlite:PATH for a SQLite file",
                )));
                String::new()
            }
        };
        let port = p.take(parse(
            &self.mssql_port,
            "MSSQL_PORT",
            |v| v.parse::<u16>().ok().filter(|p| *p > 0),
            "is not a port number",
            "set MSSQL_PORT to a number from 1 to 65535 (default 1433)",
        ));
        let encrypt = p.take(parse(
            &self.mssql_encrypt,
            "MSSQL_ENCRYPT",
            |v| match v.to_lowercase().as_str() {
                "mandatory" | "true" | "yes" => Some(MssqlEncrypt::Mandatory),
                "strict" => Some(MssqlEncrypt::Strict),
                "optional" => Some(MssqlEncrypt::Optional),
                "off" | "false" | "no" => Some(MssqlEncrypt::Off),
                _ => None,
            },
            "is not a TLS mode",
            "set MSSQL_ENCRYPT to strict, mandatory (default), optional or off",
        ));
        let trust_server_certificate = p.take(parse(
            &self.mssql_trust_server_certificate,
            "MSSQL_TRUST_SERVER_CERTIFICATE",
            |v| match v.to_lowercase().as_str() {
                "false" | "0" | "no" => Some(false),
                "true" | "1" | "yes" => Some(true),
                _ => None,
            },
            "is not true or false",
            "set MSSQL_TRUST_SERVER_CERTIFICATE to true or false (default false)",
        ));
        p.finish()?;
        Ok(MssqlSettings {
            server,
            port: port.flatten().unwrap_or(1433),
            database: non_empty(&self.mssql_database).map(str::to_owned),
            username: non_empty(&self.mssql_username).map(str::to_owned),
            password: non_empty(&self.mssql_password).map(Secret::from),
            instance: non_empty(&self.mssql_instance).map(str::to_owned),
            encrypt: encrypt.flatten().unwrap_or(MssqlEncrypt::Mandatory),
            trust_server_certificate: trust_server_certificate.flatten().unwrap_or(false),
            connection_string,
        })
    }
}

/// Share of the tenant's rate budget a run takes when AUTH0_RATE_SHARE is unset (README,
/// "Large tenants": the budget is shared with Actions and other clients).
pub const DEFAULT_RATE_SHARE: f64 = 0.5;
/// How long one retryable request may keep being retried (AUTH0_RETRY_BUDGET).
pub const DEFAULT_RETRY_BUDGET: std::time::Duration = std::time::Duration::from_secs(600);
/// How long one export or import job may take (AUTH0_JOB_TIMEOUT): Auth0 fails import
/// jobs after two hours.
pub const DEFAULT_JOB_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2 * 3600);

/// `0.5`, `1`, `50%`: a share above 0 and at most 1.
fn parse_share(v: &str) -> Option<f64> {
    let share = match v.strip_suffix('%') {
        Some(pct) => pct.trim().parse::<f64>().ok()? / 100.0,
        None => v.parse::<f64>().ok()?,
    };
    (share.is_finite() && share > 0.0 && share <= 1.0).then_some(share)
}

/// `10m`, `90s`, `1h 30m` (humantime); a bare number is seconds.
fn parse_duration_secs(v: &str) -> Option<std::time::Duration> {
    match v.parse::<u64>() {
        Ok(secs) => Some(std::time::Duration::from_secs(secs)),
        Err(_) => humantime::parse_duration(v).ok(),
    }
}

pub(super) fn non_empty(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// An optional setting: `None` when unset, the parsed value, or an error saying
/// `"VALUE" {reason}`.
fn parse<T>(
    v: &Option<String>,
    var: &'static str,
    ok: impl Fn(&str) -> Option<T>,
    reason: &str,
    help: &str,
) -> Result<Option<T>, SettingsError> {
    match non_empty(v) {
        None => Ok(None),
        Some(raw) => ok(raw).map(Some).ok_or_else(|| invalid(var, format!("{raw:?} {reason}"), help)),
    }
}

/// Safety rails, checked when planning and again when applying.
#[derive(Debug, Clone, Default, clap::Args)]
#[command(next_help_heading = "Safety rails")]
pub struct SafetyArgs {
    /// Most users one plan may delete: N, or N% of the connection's users
    /// (default: 10%, but always up to 5 and never more than 1000).
    #[arg(long, value_name = "N|N%", value_parser = parse_cap)]
    pub max_deletes: Option<DeleteCap>,
    /// Most users one plan may block: N, or N% of the connection's users
    /// (default: 10%, but always up to 5 and never more than 1000).
    #[arg(long, value_name = "N|N%", value_parser = parse_cap)]
    pub max_blocks: Option<DeleteCap>,
    /// Most role removals in one plan: N, or N% of the connection's managed role
    /// assignments (default: 20%, but always up to 5 and never more than 2000).
    #[arg(long, value_name = "N|N%", value_parser = parse_cap, hide_short_help = true)]
    pub max_role_removals: Option<DeleteCap>,
    /// Most removals of any one role in one plan: N, or N% of the role's holders
    /// (default: 25%, but always up to 5).
    #[arg(long, value_name = "N|N%", value_parser = parse_cap, hide_short_help = true)]
    pub max_role_removals_per_role: Option<DeleteCap>,
    /// Lift every removal cap (deletions, blocks, role removals).
    #[arg(long, conflicts_with_all = ["max_deletes", "max_blocks", "max_role_removals", "max_role_removals_per_role"])]
    pub allow_mass_delete: bool,
    /// Allow a source that returned no users (which removes every user).
    #[arg(long)]
    pub allow_empty_source: bool,
}

impl SafetyArgs {
    pub fn delete_cap(&self) -> DeleteCap {
        match (self.allow_mass_delete, self.max_deletes) {
            (true, _) => DeleteCap::Unlimited,
            (false, Some(c)) => c,
            (false, None) => DeleteCap::Default,
        }
    }

    /// The cap given on this command line, if any (`--allow-mass-delete` is
    /// `unlimited`); `None` when neither flag is set. At apply, a flag may only lower
    /// the cap recorded in the plan.
    pub fn cap_flag(&self) -> Option<DeleteCap> {
        if self.allow_mass_delete { Some(DeleteCap::Unlimited) } else { self.max_deletes }
    }
}

impl SafetyArgs {
    /// The caps on blocks and role removals for `plan` (`--allow-mass-delete` lifts
    /// them all; an unset flag is its kind's default).
    pub fn removal_caps(&self) -> RemovalCaps {
        if self.allow_mass_delete {
            return RemovalCaps::UNLIMITED;
        }
        RemovalCaps {
            blocks: self.max_blocks.unwrap_or_default(),
            role_removals: self.max_role_removals.unwrap_or_default(),
            per_role: self.max_role_removals_per_role.unwrap_or_default(),
        }
    }

    /// The caps on blocks and role removals typed at `apply`: each may only lower the
    /// one the plan recorded.
    pub fn removal_cap_flags(&self) -> RemovalCapFlags {
        let or_all = |f: Option<DeleteCap>| if self.allow_mass_delete { Some(DeleteCap::Unlimited) } else { f };
        RemovalCapFlags {
            blocks: or_all(self.max_blocks),
            role_removals: or_all(self.max_role_removals),
            per_role: or_all(self.max_role_removals_per_role),
        }
    }
}

fn parse_cap(s: &str) -> Result<DeleteCap, String> {
    DeleteCap::parse(s)
}

/// `30m`, `24h`, `7d`, `90s`, `1h 30m` (humantime); a bare number is hours.
pub fn parse_age(s: &str) -> Result<chrono::Duration, String> {
    let s = s.trim();
    let std = match s.parse::<u64>() {
        Ok(hours) => std::time::Duration::from_secs(hours.saturating_mul(3600)),
        Err(_) => {
            humantime::parse_duration(s).map_err(|e| format!("{s:?} is not a duration like 30m, 24h or 7d ({e})"))?
        }
    };
    chrono::Duration::from_std(std).map_err(|_| format!("{s:?} is too long"))
}
