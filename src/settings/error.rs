//! What can be wrong with the settings: one diagnostic per setting, and all of them
//! together when several are wrong, so an operator fixes them in one go.

use miette::Diagnostic;
use thiserror::Error;

#[derive(Debug, Error, Diagnostic)]
pub enum SettingsError {
    #[error("setting {var} is missing")]
    #[diagnostic(code(auth0_sync::settings::missing), help("{help}"))]
    Missing { var: &'static str, help: String },

    #[error("setting {var} is invalid: {reason}")]
    #[diagnostic(code(auth0_sync::settings::invalid), help("{help}"))]
    Invalid { var: &'static str, reason: String, help: String },

    /// A dotenv file (`--env-file FILE`, or `./.env`) that could not be read or parsed.
    /// Never quotes the file's lines: they may hold secrets.
    #[error("could not {action} the dotenv file {}: {reason}", path.display())]
    #[diagnostic(code(auth0_sync::settings::env_file), help("{help}"))]
    EnvFile { path: std::path::PathBuf, action: &'static str, reason: String, help: String },

    /// The command line itself is wrong (an unknown flag, a malformed flag value): clap's
    /// message, as a diagnostic like every other.
    #[error("{message}")]
    #[diagnostic(code(auth0_sync::settings::usage), help("{help}"))]
    Usage { message: String, help: String },

    #[error("{} settings are missing or invalid: {}", problems.len(), names(problems))]
    #[diagnostic(
        code(auth0_sync::settings::several),
        help("each problem is listed below with what to set; fix them all, then run again")
    )]
    Several {
        #[related]
        problems: Vec<SettingsError>,
    },
}

fn names(problems: &[SettingsError]) -> String {
    problems.iter().map(SettingsError::var).collect::<Vec<_>>().join(", ")
}

impl SettingsError {
    /// The setting this is about (`AUTH0_URL`, `--max-deletes`, ...).
    pub fn var(&self) -> &'static str {
        match self {
            SettingsError::Missing { var, .. } | SettingsError::Invalid { var, .. } => var,
            SettingsError::EnvFile { .. } => "--env-file",
            SettingsError::Usage { .. } => "arguments",
            SettingsError::Several { .. } => "several",
        }
    }
}

impl SettingsError {
    /// clap's refusal of the command line as a diagnostic: its first line is the message,
    /// the rest (tips, usage, where to read more) the help.
    pub fn usage(e: &clap::Error) -> SettingsError {
        let text = e.render().to_string();
        let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
        let message = lines.next().unwrap_or("the arguments are invalid");
        let message = message.strip_prefix("error: ").unwrap_or(message).to_owned();
        let help = lines.collect::<Vec<_>>().join("\n");
        let help = if help.is_empty() { "run with --help to see the arguments".to_owned() } else { help };
        SettingsError::Usage { message, help }
    }
}

pub(super) fn missing(var: &'static str, help: &str) -> SettingsError {
    SettingsError::Missing { var, help: help.to_owned() }
}

pub(super) fn invalid(var: &'static str, reason: impl Into<String>, help: &str) -> SettingsError {
    SettingsError::Invalid { var, reason: reason.into(), help: help.to_owned() }
}

/// Collects every problem of a resolution instead of stopping at the first.
#[derive(Debug, Default)]
pub struct Problems(Vec<SettingsError>);

impl Problems {
    /// The value, or `None` after recording why there is none.
    pub fn take<T>(&mut self, r: Result<T, SettingsError>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(SettingsError::Several { problems }) => {
                self.0.extend(problems);
                None
            }
            Err(e) => {
                self.0.push(e);
                None
            }
        }
    }

    /// Ok when nothing was recorded; the one problem; or all of them together.
    pub fn finish(mut self) -> Result<(), SettingsError> {
        match self.0.len() {
            0 => Ok(()),
            1 => Err(self.0.remove(0)),
            _ => Err(SettingsError::Several { problems: self.0 }),
        }
    }
}

/// Both values, or every problem of either.
pub fn both<A, B>(a: Result<A, SettingsError>, b: Result<B, SettingsError>) -> Result<(A, B), SettingsError> {
    let mut p = Problems::default();
    let (a, b) = (p.take(a), p.take(b));
    p.finish()?;
    match (a, b) {
        (Some(a), Some(b)) => Ok((a, b)),
        _ => unreachable!("a problem was recorded for every missing value"),
    }
}
