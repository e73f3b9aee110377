//! Logs to stderr through tracing (`-v`, `-vv`, `--log-format json`), sharing stderr
//! with the progress bars: every log line is written with the bars suspended, so the
//! two never garble each other.

use crate::printer::Printer;
use std::io::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Installs the subscriber. `AUTH0_SYNC_LOG` (an EnvFilter) wins over `-v`. Colour
/// only when stderr is a terminal and `NO_COLOR` is unset (or empty); JSON lines carry
/// the target (the module that logged), text lines do not.
pub fn init(verbose: u8, format: LogFormat, printer: &Printer) {
    let printer = printer.clone();
    let filter = tracing_subscriber::EnvFilter::try_from_env("AUTH0_SYNC_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter(verbose)));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(move || printer.stderr())
        .with_ansi(format == LogFormat::Text && crate::printer::color_on_stderr());
    let _ = match format {
        LogFormat::Text => builder.with_target(false).try_init(),
        LogFormat::Json => builder.json().flatten_event(true).with_target(true).try_init(),
    };
}

/// The filter for `-v` counts: warnings from everyone; info (`-v`), debug (`-vv`) or
/// trace (`-vvv`) from this tool's own crates only, not from the HTTP and TLS crates
/// (ask for those with `AUTH0_SYNC_LOG`, e.g. `AUTH0_SYNC_LOG=debug`).
pub fn default_filter(verbose: u8) -> String {
    let level = match verbose {
        0 => return "warn".to_owned(),
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    format!("warn,auth0_sync={level},auth0_sync_core={level},auth0_emulator={level}")
}

/// The final error of the process as one JSON line on stderr, shaped like the other
/// events of `--log-format json` (`timestamp`, `level`, `message`, `target`) plus its
/// `code`, `help`, `related` problems and `causes`. Written directly, so that no filter
/// can hide it.
pub fn error_event(e: &dyn miette::Diagnostic, printer: &Printer) {
    fn mask(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::String(s) => *s = crate::redact::text(s, None, true),
            serde_json::Value::Array(a) => a.iter_mut().for_each(mask),
            serde_json::Value::Object(o) => o.values_mut().for_each(mask),
            _ => {}
        }
    }
    let mut line = error_json(e, chrono::Utc::now());
    if printer.redact() {
        mask(&mut line);
    }
    let _ = printer.stderr().write_all(format!("{line}\n").as_bytes());
}

/// The JSON object of [`error_event`].
pub fn error_json(e: &dyn miette::Diagnostic, at: chrono::DateTime<chrono::Utc>) -> serde_json::Value {
    fn leaf(d: &dyn miette::Diagnostic) -> &dyn miette::Diagnostic {
        match d.diagnostic_source() {
            Some(inner) if d.code().is_none() => leaf(inner),
            _ => d,
        }
    }
    fn one(d: &dyn miette::Diagnostic) -> serde_json::Map<String, serde_json::Value> {
        let d = leaf(d);
        let mut m = serde_json::Map::new();
        m.insert("message".into(), d.to_string().into());
        if let Some(c) = d.code() {
            m.insert("code".into(), c.to_string().into());
        }
        if let Some(h) = d.help() {
            m.insert("help".into(), h.to_string().into());
        }
        m
    }
    let mut m = serde_json::Map::new();
    m.insert("timestamp".into(), at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true).into());
    m.insert("level".into(), "ERROR".into());
    m.extend(one(e));
    m.insert("target".into(), "auth0_sync".into());
    let related: Vec<serde_json::Value> =
        leaf(e).related().into_iter().flatten().map(|r| serde_json::Value::Object(one(r))).collect();
    if !related.is_empty() {
        m.insert("related".into(), related.into());
    }
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(leaf(e));
    while let Some(s) = source {
        causes.push(serde_json::Value::from(s.to_string()));
        source = s.source();
    }
    if !causes.is_empty() {
        m.insert("causes".into(), causes.into());
    }
    serde_json::Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbosity_raises_only_the_tools_own_crates() {
        assert_eq!(default_filter(0), "warn");
        let vv = default_filter(2);
        assert!(vv.starts_with("warn,") && vv.contains("auth0_sync=debug") && !vv.contains("hyper"), "{vv}");
        tracing_subscriber::EnvFilter::try_new(&vv).unwrap();
    }

    #[test]
    fn the_final_error_is_one_json_object_with_code_help_and_related() {
        let e = crate::Error::from(crate::settings::TenantArgs::default().resolve().unwrap_err());
        let v = error_json(&e, chrono::DateTime::UNIX_EPOCH);
        assert_eq!(v["level"], "ERROR");
        assert_eq!(v["code"], "auth0_sync::settings::several");
        assert!(v["message"].as_str().unwrap().contains("AUTH0_URL"), "{v}");
        assert!(v["help"].as_str().is_some_and(|h| !h.is_empty()), "{v}");
        let related = v["related"].as_array().unwrap();
        assert_eq!(related.len(), 4, "{v}");
        assert_eq!(related[0]["code"], "auth0_sync::settings::missing");
        assert_eq!(v["timestamp"], "1970-01-01T00:00:00.000000Z");
    }
}
