//! SQL Server failures as miette diagnostics, and the mapping from tiberius errors
//! (by the step they happened in) to them. Messages name host, port, instance,
//! database and login, never a password.

use super::config::Target;
use crate::source::SourceError;
use miette::Diagnostic;
use std::io::ErrorKind;
use std::time::Duration;
use thiserror::Error;
use tiberius::EncryptionLevel;
use tiberius::error::Error as TdsError;

#[derive(Debug, Error, Diagnostic)]
pub enum MssqlError {
    #[error("the SQL Server settings are incomplete: {reason}")]
    #[diagnostic(code(auth0_sync::source::mssql_config), help("{help}"))]
    Config { reason: String, help: String },

    #[error("could not connect to SQL Server ({target}): {reason}")]
    #[diagnostic(code(auth0_sync::source::mssql_connect), help("{help}"))]
    Connect {
        /// `host db, port 1433` or `host db, instance X (SQL Browser port 1434)`.
        target: String,
        reason: String,
        help: String,
    },

    #[error("TLS negotiation with SQL Server {location} failed: {reason}")]
    #[diagnostic(code(auth0_sync::source::mssql_tls), help("{help}"))]
    Tls { location: String, reason: String, help: String },

    #[error("SQL Server {location} presented a certificate that is not trusted: {reason}")]
    #[diagnostic(code(auth0_sync::source::mssql_certificate), help("{help}"))]
    Certificate { location: String, reason: String, help: String },

    #[error("SQL Server {location} refused the login of {user:?}: error {number}: {message}")]
    #[diagnostic(code(auth0_sync::source::mssql_login), help("{help}"))]
    Login { location: String, user: String, number: u32, message: String, help: String },

    #[error("SQL Server {location} rejected the query: error {number}: {message}")]
    #[diagnostic(
        code(auth0_sync::source::mssql_query),
        help(
            "fix USERS_DB_QUERY (error {number}, line {line} of the query); try it with sqlcmd or SSMS against the same database"
        )
    )]
    Query { location: String, number: u32, line: u32, message: String },

    #[error("reading the result from SQL Server {location} failed: {reason}")]
    #[diagnostic(code(auth0_sync::source::mssql_read), help("{help}"))]
    Read { location: String, reason: String, help: String },

    #[error("the query returned no result set")]
    #[diagnostic(
        code(auth0_sync::source::mssql_no_result_set),
        help("USERS_DB_QUERY must be a SELECT returning an email column and a role or roles column")
    )]
    NoResultSet,

    #[error("the query returned more than one result set")]
    #[diagnostic(
        code(auth0_sync::source::mssql_result_sets),
        help(
            "make USERS_DB_QUERY return exactly one result set (one SELECT; add SET NOCOUNT ON before other statements)"
        )
    )]
    SeveralResultSets,

    /// Problems with the rows themselves, shared with the other backends
    /// (missing column, cells that are not text).
    #[error(transparent)]
    #[diagnostic(transparent)]
    Rows(Box<SourceError>),
}

impl From<SourceError> for MssqlError {
    fn from(e: SourceError) -> Self {
        MssqlError::Rows(Box::new(e))
    }
}

fn reason(e: &TdsError, t: &Target) -> String {
    let text = match e {
        TdsError::Io { message, .. } => message.clone(),
        // tiberius appends advice about its own API ("To connect anyway you can:
        // (1) ... `Config::trust_cert()` ..."): keep only the first sentence.
        TdsError::Tls(m) => first_sentence(m),
        TdsError::Protocol(m) | TdsError::Conversion(m) | TdsError::Encoding(m) => m.to_string(),
        other => other.to_string(),
    };
    t.redact(&text)
}

fn first_sentence(m: &str) -> String {
    match m.find(". ") {
        Some(i) => m[..i].to_owned(),
        None => m.trim_end_matches('.').to_owned(),
    }
}

fn target_words(t: &Target) -> String {
    match &t.instance {
        Some(i) => format!("host {}, instance {i} (SQL Browser port {})", t.host, t.port),
        None => format!("host {}, port {}", t.host, t.port),
    }
}

fn connect_help(t: &Target, kind: Option<ErrorKind>) -> String {
    let place = if t.from_connection_string {
        "the server in MSSQL_CONNECTION_STRING"
    } else if t.instance.is_some() {
        "MSSQL_SERVER and MSSQL_INSTANCE"
    } else {
        "MSSQL_SERVER and MSSQL_PORT"
    };
    let mut help = match kind {
        Some(ErrorKind::ConnectionRefused) => format!(
            "nothing accepted the connection: check {place}, that SQL Server runs with TCP/IP enabled and listens on that port, and that no firewall blocks it"
        ),
        Some(ErrorKind::TimedOut) => {
            format!("no answer in time: check {place}, and that a firewall does not drop the traffic")
        }
        _ => format!("check {place} (the host name must resolve from this machine)"),
    };
    if t.instance.is_some() {
        help.push_str(
            "; for a named instance the SQL Browser service must run and answer on UDP 1434 (or give the instance's TCP port instead of MSSQL_INSTANCE)",
        );
    }
    help
}

/// Failure to open the TCP connection (or to resolve the instance).
pub(crate) fn connect_error(e: &TdsError, t: &Target) -> MssqlError {
    let kind = match e {
        TdsError::Io { kind, .. } => Some(*kind),
        _ => None,
    };
    MssqlError::Connect { target: target_words(t), reason: reason(e, t), help: connect_help(t, kind) }
}

pub(crate) fn connect_timeout(t: &Target, after: Duration) -> MssqlError {
    MssqlError::Connect {
        target: target_words(t),
        reason: format!("no connection within {}s", after.as_secs()),
        help: connect_help(t, Some(ErrorKind::TimedOut)),
    }
}

/// What to try when the TLS negotiation did not work with the configured mode.
fn tls_mismatch_help(t: &Target) -> String {
    match t.encryption {
        EncryptionLevel::Strict => format!(
            "the server did not complete a TDS 8 strict TLS handshake; it may not support strict encryption (SQL Server 2022 or later): try {}",
            t.encrypt_setting("mandatory")
        ),
        EncryptionLevel::NotSupported => format!(
            "the server may require encryption: try {} (or {} if it enforces TDS 8 strict encryption)",
            t.encrypt_setting("mandatory"),
            t.encrypt_setting("strict")
        ),
        _ => format!(
            "the server may enforce TDS 8 strict encryption: try {}; if it offers no TLS at all, {} (only on a network you trust)",
            t.encrypt_setting("strict"),
            t.encrypt_setting("off")
        ),
    }
}

fn is_certificate_problem(msg: &str) -> bool {
    let m = msg.to_ascii_lowercase();
    m.contains("certificate") || m.contains("unknownissuer") || m.contains("notvalidforname")
}

/// Failure during PRELOGIN, TLS or login.
pub(crate) fn handshake_error(e: &TdsError, t: &Target) -> MssqlError {
    let location = t.location();
    match e {
        TdsError::Server(token) => {
            let number = token.code();
            let user = t.user.clone().unwrap_or_default();
            let help = match number {
                4060 => format!(
                    "the database {:?} does not exist or the login may not use it: check {}",
                    t.database.as_deref().unwrap_or(""),
                    if t.from_connection_string {
                        "database= in MSSQL_CONNECTION_STRING"
                    } else {
                        "MSSQL_DATABASE"
                    }
                ),
                18452 => "the server accepts only Windows logins: enable SQL Server and Windows Authentication mode on the server".into(),
                18486..=18488 => "the login is locked or its password expired: ask the DBA to unlock it or set a new password".into(),
                _ => format!(
                    "check {}; the login must be a SQL Server login (SQL authentication enabled on the server) with access to the database",
                    if t.from_connection_string {
                        "user and password in MSSQL_CONNECTION_STRING"
                    } else {
                        "MSSQL_USERNAME and MSSQL_PASSWORD"
                    }
                ),
            };
            MssqlError::Login { location, user, number, message: t.redact(token.message()), help }
        }
        TdsError::Protocol(m) if m.contains("encryption level") => MssqlError::Tls {
            location,
            reason: format!("the server offers no encryption, but encryption is required ({})", t.redact(m)),
            help: format!(
                "enable TLS on the server, or set {} (only on a network you trust; the login is then sent unencrypted)",
                t.encrypt_setting("off")
            ),
        },
        TdsError::Tls(m) if is_certificate_problem(m) => MssqlError::Certificate {
            location,
            reason: t.redact(m),
            help: format!(
                "add the CA that signed the server's certificate to this machine's trust store (and connect with the host name in the certificate), or set {} if the network path is trusted",
                t.trust_setting()
            ),
        },
        TdsError::Tls(_) => MssqlError::Tls { location, reason: reason(e, t), help: tls_mismatch_help(t) },
        TdsError::Io { kind, .. }
            if matches!(
                kind,
                ErrorKind::TimedOut
                    | ErrorKind::UnexpectedEof
                    | ErrorKind::ConnectionReset
                    | ErrorKind::ConnectionAborted
                    | ErrorKind::BrokenPipe
                    | ErrorKind::InvalidData
            ) =>
        {
            let what = if *kind == ErrorKind::TimedOut {
                // tiberius' own text is long and speaks of its API; ours says enough.
                "the server accepted the connection but did not finish the handshake in time".to_owned()
            } else {
                format!("the server closed the connection during the handshake ({})", reason(e, t))
            };
            MssqlError::Tls {
                location,
                reason: format!("{what}; this is usually a TLS mode mismatch"),
                help: tls_mismatch_help(t),
            }
        }
        _ => MssqlError::Connect {
            target: target_words(t),
            reason: format!("the handshake failed: {}", reason(e, t)),
            help: tls_mismatch_help(t),
        },
    }
}

/// Failure while running the query or reading its rows.
pub(crate) fn query_error(e: &TdsError, t: &Target) -> MssqlError {
    let location = t.location();
    match e {
        TdsError::Server(token) => MssqlError::Query {
            location,
            number: token.code(),
            line: token.line(),
            message: t.redact(token.message()),
        },
        TdsError::Io {
            kind: ErrorKind::TimedOut,
            ..
        } => MssqlError::Read {
            location,
            reason: "SQL Server stopped answering in the middle of the result".into(),
            help: "the query may be blocked (locks) or very slow: check it with sqlcmd or SSMS, and add an index or narrow it".into(),
        },
        TdsError::Io { .. } => MssqlError::Read {
            location,
            reason: format!("the connection failed ({})", reason(e, t)),
            help: "run the command again; if it keeps failing, check the network path and the server's error log".into(),
        },
        _ => MssqlError::Read {
            location,
            reason: reason(e, t),
            help: "cast unusual columns to text in USERS_DB_QUERY, e.g. CAST(col AS NVARCHAR(256))".into(),
        },
    }
}
