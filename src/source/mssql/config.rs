//! From [`MssqlSettings`] to a tiberius [`Config`]: encryption mapping, the ADO-style
//! connection string, where we connect to (for messages) and the security warnings.

use super::MssqlError;
use crate::settings::{MssqlEncrypt, MssqlSettings};
use secrecy::ExposeSecret;
use std::collections::HashMap;
use std::time::Duration;
use tiberius::{AuthMethod, Config, EncryptionLevel};

/// Upper bounds on each step of talking to SQL Server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Resolving the host (and the named instance) and opening the TCP connection.
    pub connect: Duration,
    /// PRELOGIN, TLS and login, once the TCP connection is open.
    pub handshake: Duration,
    /// Longest wait for the next piece of the query's answer (reset on every token).
    pub command: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(15),
            handshake: Duration::from_secs(15),
            command: Duration::from_secs(60),
        }
    }
}

/// What we connect to, for messages: never holds a credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    pub host: String,
    /// The TCP port, or with an instance the SQL Browser (UDP) port.
    pub port: u16,
    pub instance: Option<String>,
    pub database: Option<String>,
    pub user: Option<String>,
    pub encryption: EncryptionLevel,
    pub trust_server_certificate: bool,
    /// The settings came from MSSQL_CONNECTION_STRING.
    pub from_connection_string: bool,
    /// Values that must never appear in a message (passwords).
    pub secrets: Redactions,
}

/// Passwords to scrub from messages; `Debug` never shows them.
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct Redactions(pub Vec<String>);

impl std::fmt::Debug for Redactions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Redactions({} hidden)", self.0.len())
    }
}

impl Target {
    /// `host[\instance]:port/database`.
    pub fn location(&self) -> String {
        let mut s = self.host.clone();
        if let Some(i) = &self.instance {
            s.push('\\');
            s.push_str(i);
        }
        format!("{s}:{}/{}", self.port, self.database.as_deref().unwrap_or(""))
    }

    /// The name of the setting that controls encryption, as the user wrote it.
    pub fn encrypt_setting(&self, mode: &str) -> String {
        if self.from_connection_string {
            let value = match mode {
                "off" => "DANGER_PLAINTEXT",
                "mandatory" => "true",
                other => other,
            };
            format!("encrypt={value} in MSSQL_CONNECTION_STRING")
        } else {
            format!("MSSQL_ENCRYPT={mode}")
        }
    }

    pub fn trust_setting(&self) -> &'static str {
        if self.from_connection_string {
            "TrustServerCertificate=true in MSSQL_CONNECTION_STRING"
        } else {
            "MSSQL_TRUST_SERVER_CERTIFICATE=true"
        }
    }

    /// Replaces every secret in `text` by `***`.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for s in self.secrets.0.iter().filter(|s| !s.is_empty()) {
            out = out.replace(s.as_str(), "***");
        }
        out
    }
}

/// The tiberius encryption level for a `MSSQL_ENCRYPT` mode.
///
/// `off` is `NotSupported` (no TLS at all, not even for the login): tiberius' `Off`
/// still starts TLS for the login and hangs against a server that offers none.
pub fn encryption_level(mode: MssqlEncrypt) -> EncryptionLevel {
    match mode {
        MssqlEncrypt::Strict => EncryptionLevel::Strict,
        MssqlEncrypt::Mandatory => EncryptionLevel::Required,
        MssqlEncrypt::Optional => EncryptionLevel::On,
        MssqlEncrypt::Off => EncryptionLevel::NotSupported,
    }
}

/// Builds the tiberius configuration; the connection string, when set, wins.
pub(crate) fn build(settings: &MssqlSettings, timeouts: &Timeouts) -> Result<(Config, Target), MssqlError> {
    let (mut config, target) = match &settings.connection_string {
        Some(cs) => from_connection_string(cs.expose_secret())?,
        None => from_fields(settings)?,
    };
    config.application_name("auth0-sync");
    config.handshake_timeout(Some(timeouts.handshake));
    config.command_timeout(Some(timeouts.command));
    Ok((config, target))
}

fn from_fields(settings: &MssqlSettings) -> Result<(Config, Target), MssqlError> {
    let user = settings.username.clone().ok_or_else(|| MssqlError::Config {
        reason: "MSSQL_USERNAME is not set".into(),
        help: "set MSSQL_USERNAME and MSSQL_PASSWORD to a SQL Server login (SQL authentication), or give MSSQL_CONNECTION_STRING".into(),
    })?;
    let password = settings.password.as_ref().map(|p| p.expose_secret().to_owned());
    let (server, port, instance) = split_server(settings)?;
    let mut config = Config::new();
    config.host(&server);
    match &instance {
        // With a named instance tiberius asks SQL Browser for the port; a port other
        // than the default is then the SQL Browser's UDP port (default 1434).
        Some(instance) => {
            config.instance_name(instance);
            if port != 1433 {
                config.port(port);
            }
        }
        None => config.port(port),
    }
    if let Some(db) = &settings.database {
        config.database(db);
    }
    config.authentication(AuthMethod::sql_server(&user, password.as_deref().unwrap_or("")));
    let encryption = encryption_level(settings.encrypt);
    config.encryption(encryption);
    let trust = settings.trust_server_certificate && encryption != EncryptionLevel::NotSupported;
    if trust {
        config.trust_cert();
    }
    let port = match (&instance, port) {
        (Some(_), 1433) => 1434,
        (_, p) => p,
    };
    Ok((
        config,
        Target {
            host: server,
            port,
            instance,
            database: settings.database.clone(),
            user: Some(user),
            encryption,
            trust_server_certificate: trust,
            from_connection_string: false,
            secrets: Redactions(password.into_iter().collect()),
        },
    ))
}

/// Accepts the SSMS forms `host\\instance` and `host,port` in MSSQL_SERVER, as long as
/// they do not contradict MSSQL_INSTANCE / MSSQL_PORT.
fn split_server(settings: &MssqlSettings) -> Result<(String, u16, Option<String>), MssqlError> {
    let conflict = |what: &str, var: &str| MssqlError::Config {
        reason: format!("MSSQL_SERVER names {what} and {var} names another"),
        help: format!("give the {what} in only one place, MSSQL_SERVER or {var}"),
    };
    let raw = settings.server.trim();
    let raw = raw.strip_prefix("tcp:").unwrap_or(raw);
    let (host_part, port) = match raw.split_once(',') {
        Some((h, p)) => {
            let p = p.trim().parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| MssqlError::Config {
                reason: format!("MSSQL_SERVER ends in {:?}, which is not a port", p.trim()),
                help: "write MSSQL_SERVER as host, host,port or host\\instance".into(),
            })?;
            if settings.port != 1433 && settings.port != p {
                return Err(conflict("a port", "MSSQL_PORT"));
            }
            (h.trim(), p)
        }
        None => (raw, settings.port),
    };
    let (host, instance) = match host_part.split_once('\\') {
        Some((h, i)) => {
            if let Some(other) = &settings.instance
                && !other.eq_ignore_ascii_case(i)
            {
                return Err(conflict("an instance", "MSSQL_INSTANCE"));
            }
            (h.trim(), Some(i.trim().to_owned()))
        }
        None => (host_part, settings.instance.clone()),
    };
    let host = match host {
        "." | "(local)" => "localhost",
        h => h,
    };
    Ok((host.to_owned(), port, instance.filter(|i| !i.is_empty())))
}

fn from_connection_string(cs: &str) -> Result<(Config, Target), MssqlError> {
    let pairs = ado_pairs(cs);
    let mut secrets: Vec<String> =
        ["password", "pwd"].iter().filter_map(|k| pairs.as_ref().and_then(|p| p.get(*k)).cloned()).collect();
    // The whole string is a secret too: it must never be echoed.
    secrets.push(cs.to_owned());
    let config = Config::from_ado_string(cs).map_err(|e| {
        let mut reason = e.to_string();
        for s in &secrets {
            if !s.is_empty() {
                reason = reason.replace(s.as_str(), "***");
            }
        }
        MssqlError::Config {
            reason: format!("MSSQL_CONNECTION_STRING could not be read: {reason}"),
            help: "write it as key=value pairs separated by ';', e.g. server=tcp:db.example.com,1433;database=hr;user=sync;password='p;w'; quote values containing ';' with single quotes".into(),
        }
    })?;
    let pairs = pairs.unwrap_or_default();
    let get = |keys: &[&str]| keys.iter().find_map(|k| pairs.get(*k)).cloned();
    let server = get(&["server", "data source"]).unwrap_or_default();
    let server = server.strip_prefix("tcp:").unwrap_or(&server).to_owned();
    let (host_part, port) = match server.split_once(',') {
        Some((h, p)) => (h.trim().to_owned(), p.trim().parse::<u16>().ok()),
        None => (server.trim().to_owned(), None),
    };
    let (host, instance) = match host_part.split_once('\\') {
        Some((h, i)) => (h.to_owned(), Some(i.to_owned())),
        None => (host_part, None),
    };
    let host = match host.as_str() {
        "" | "." | "(local)" => "localhost".to_owned(),
        _ => host,
    };
    let port = port.unwrap_or(if instance.is_some() { 1434 } else { 1433 });
    let truthy = |v: Option<String>| {
        v.map(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "true" | "yes")).unwrap_or(false)
    };
    let encryption = match get(&["encrypt"]).map(|v| v.trim().to_ascii_lowercase()) {
        None => EncryptionLevel::Required,
        Some(v) if v == "strict" => EncryptionLevel::Strict,
        Some(v) if v == "danger_plaintext" => EncryptionLevel::NotSupported,
        Some(v) if v == "false" || v == "no" => EncryptionLevel::Off,
        Some(_) => EncryptionLevel::Required,
    };
    Ok((
        config,
        Target {
            host,
            port,
            instance,
            database: get(&["database", "initial catalog", "databasename"]),
            user: get(&["uid", "username", "user", "user id"]),
            encryption,
            trust_server_certificate: truthy(get(&["trustservercertificate"])),
            from_connection_string: true,
            secrets: Redactions(secrets),
        },
    ))
}

/// Where the settings point, without credentials (see [`super::location`]).
pub(crate) fn target(settings: &MssqlSettings) -> Target {
    match build(settings, &Timeouts::default()) {
        Ok((_, t)) => t,
        Err(_) => Target {
            host: if settings.server.is_empty() {
                "(invalid MSSQL_CONNECTION_STRING)".into()
            } else {
                settings.server.clone()
            },
            port: settings.port,
            instance: settings.instance.clone(),
            database: settings.database.clone(),
            user: settings.username.clone(),
            encryption: encryption_level(settings.encrypt),
            trust_server_certificate: settings.trust_server_certificate,
            from_connection_string: settings.connection_string.is_some(),
            secrets: Redactions::default(),
        },
    }
}

/// Splits an ADO.NET connection string into lower-cased keys and unquoted values,
/// following the rules tiberius applies (first `=` splits, `'…'`/`"…"` quoting with
/// doubled quotes, `{…}` braces). Used only to describe the target and to find the
/// password for redaction: tiberius itself parses the string that is used.
fn ado_pairs(input: &str) -> Option<HashMap<String, String>> {
    let b: Vec<char> = input.chars().collect();
    let n = b.len();
    let mut i = 0;
    let mut pairs = HashMap::new();
    while i < n {
        while i < n && (b[i] == ';' || b[i].is_whitespace()) {
            i += 1;
        }
        if i >= n {
            break;
        }
        let mut key = String::new();
        loop {
            if i >= n || b[i] == ';' {
                return None;
            }
            if b[i] == '=' {
                if i + 1 < n && b[i + 1] == '=' {
                    key.push('=');
                    i += 2;
                    continue;
                }
                i += 1;
                break;
            }
            key.push(b[i]);
            i += 1;
        }
        while i < n && b[i].is_whitespace() {
            i += 1;
        }
        let mut value = String::new();
        if i < n && (b[i] == '\'' || b[i] == '"') {
            let q = b[i];
            i += 1;
            loop {
                if i >= n {
                    return None;
                }
                if b[i] == q {
                    if i + 1 < n && b[i + 1] == q {
                        value.push(q);
                        i += 2;
                        continue;
                    }
                    i += 1;
                    break;
                }
                value.push(b[i]);
                i += 1;
            }
        } else if i < n && b[i] == '{' {
            i += 1;
            while i < n && b[i] != '}' {
                value.push(b[i]);
                i += 1;
            }
            i += 1;
        } else {
            while i < n && b[i] != ';' {
                value.push(b[i]);
                i += 1;
            }
            value = value.trim().to_owned();
        }
        while i < n && b[i] != ';' {
            i += 1;
        }
        pairs.insert(key.trim().to_ascii_lowercase(), value);
    }
    Some(pairs)
}

/// A line for the output when the server's certificate will not be checked.
pub fn trust_warning(settings: &MssqlSettings) -> Option<String> {
    let t = target(settings);
    (t.trust_server_certificate && t.encryption != EncryptionLevel::NotSupported).then(|| {
        format!(
            "{} is set: the certificate of SQL Server {} is not verified, so anyone on the network path could impersonate it; install the server's CA in the system trust store instead when you can",
            t.trust_setting(),
            t.location()
        )
    })
}

/// A line for the output when the connection (login included) is not encrypted.
pub fn plaintext_warning(settings: &MssqlSettings) -> Option<String> {
    let t = target(settings);
    (t.encryption == EncryptionLevel::NotSupported).then(|| {
        format!(
            "{} is set: the login and all data to SQL Server {} travel unencrypted",
            t.encrypt_setting("off"),
            t.location()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Secret;

    pub(crate) fn settings() -> MssqlSettings {
        MssqlSettings {
            server: "db.example.com".into(),
            port: 1433,
            database: Some("hr".into()),
            username: Some("sync".into()),
            password: Some(Secret::from("pw-hunter2")),
            instance: None,
            encrypt: MssqlEncrypt::Mandatory,
            trust_server_certificate: false,
            connection_string: None,
        }
    }

    #[test]
    fn encrypt_modes_map_to_tiberius_levels() {
        assert_eq!(encryption_level(MssqlEncrypt::Strict), EncryptionLevel::Strict);
        assert_eq!(encryption_level(MssqlEncrypt::Mandatory), EncryptionLevel::Required);
        assert_eq!(encryption_level(MssqlEncrypt::Optional), EncryptionLevel::On);
        assert_eq!(encryption_level(MssqlEncrypt::Off), EncryptionLevel::NotSupported);
    }

    #[test]
    fn fields_build_a_config_without_leaking_the_password() {
        let mut s = settings();
        s.encrypt = MssqlEncrypt::Strict;
        s.trust_server_certificate = true;
        let (config, t) = build(&s, &Timeouts::default()).unwrap();
        assert_eq!(config.get_addr(), "db.example.com:1433");
        let dbg = format!("{config:?}");
        assert!(dbg.contains("Strict"), "{dbg}");
        assert!(dbg.contains("bypass: true"), "{dbg}");
        assert!(!dbg.contains("hunter2"), "{dbg}");
        assert!(!format!("{t:?}").contains("hunter2"));
        assert_eq!(t.location(), "db.example.com:1433/hr");
        assert_eq!(config.get_handshake_timeout(), Some(Duration::from_secs(15)));
    }

    #[test]
    fn named_instance_uses_sql_browser_port() {
        let mut s = settings();
        s.instance = Some("SQLEXPRESS".into());
        let (config, t) = build(&s, &Timeouts::default()).unwrap();
        assert_eq!(config.get_addr(), "db.example.com:1434");
        assert_eq!(t.location(), "db.example.com\\SQLEXPRESS:1434/hr");
        s.port = 2000;
        let (config, _) = build(&s, &Timeouts::default()).unwrap();
        assert_eq!(config.get_addr(), "db.example.com:2000");
    }

    #[test]
    fn ssms_style_server_names_are_understood() {
        let mut s = settings();
        s.server = r"db.example.com\HR".into();
        let (config, t) = build(&s, &Timeouts::default()).unwrap();
        assert_eq!(t.instance.as_deref(), Some("HR"));
        assert_eq!(t.host, "db.example.com");
        assert_eq!(config.get_addr(), "db.example.com:1434");
        s.server = "db.example.com,1444".into();
        let (config, t) = build(&s, &Timeouts::default()).unwrap();
        assert_eq!(config.get_addr(), "db.example.com:1444");
        assert_eq!(t.location(), "db.example.com:1444/hr");
        s.port = 1555;
        assert!(matches!(build(&s, &Timeouts::default()), Err(MssqlError::Config { .. })));
        s.server = r"db\A".into();
        s.port = 1433;
        s.instance = Some("B".into());
        assert!(matches!(build(&s, &Timeouts::default()), Err(MssqlError::Config { .. })));
    }

    #[test]
    fn connection_string_wins_and_is_described_without_password() {
        let mut s = settings();
        s.connection_string = Some(Secret::from(
            "server=tcp:other.example.com,1500;database=people;user id=u1;password='p;w=cs-secret';TrustServerCertificate=true;encrypt=strict",
        ));
        let (config, t) = build(&s, &Timeouts::default()).unwrap();
        assert_eq!(config.get_addr(), "other.example.com:1500");
        assert_eq!(t.location(), "other.example.com:1500/people");
        assert_eq!(t.encryption, EncryptionLevel::Strict);
        assert!(t.trust_server_certificate);
        assert_eq!(t.user.as_deref(), Some("u1"));
        assert_eq!(t.redact("bad p;w=cs-secret here"), "bad *** here");
        assert!(!format!("{config:?}").contains("cs-secret"));
        assert!(!format!("{t:?}").contains("cs-secret"));
        assert!(trust_warning(&s).unwrap().contains("TrustServerCertificate=true"));
    }

    #[test]
    fn invalid_connection_string_does_not_echo_it() {
        let mut s = settings();
        s.connection_string = Some(Secret::from("server=x;password='unclosed-secret"));
        let e = build(&s, &Timeouts::default()).unwrap_err();
        let text = format!("{e} {e:?}");
        assert!(!text.contains("unclosed-secret"), "{text}");
        assert!(matches!(e, MssqlError::Config { .. }));
    }

    #[test]
    fn warnings() {
        let mut s = settings();
        assert_eq!(trust_warning(&s), None);
        assert_eq!(plaintext_warning(&s), None);
        s.trust_server_certificate = true;
        let w = trust_warning(&s).unwrap();
        assert!(w.contains("MSSQL_TRUST_SERVER_CERTIFICATE=true"), "{w}");
        assert!(w.contains("db.example.com:1433/hr"), "{w}");
        s.encrypt = MssqlEncrypt::Off;
        assert_eq!(trust_warning(&s), None, "nothing to trust without TLS");
        assert!(plaintext_warning(&s).unwrap().contains("MSSQL_ENCRYPT=off"));
    }

    #[test]
    fn missing_username_is_a_config_error() {
        let mut s = settings();
        s.username = None;
        assert!(matches!(build(&s, &Timeouts::default()), Err(MssqlError::Config { .. })));
    }
}
