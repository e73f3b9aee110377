//! The emulator's own error type, so that the crate depends on nothing of the tool it
//! tests. Every variant is one diagnostic (code `auth0_sync::emulator`, one help line),
//! as the tool printed it before the emulator became a crate.

use miette::Diagnostic;
use std::fmt::Display;
use std::net::SocketAddr;
use std::path::PathBuf;
use thiserror::Error;

/// The help line of every emulator diagnostic.
const HELP: &str =
    "check the emulator's state file (README: \"Emulator state file\") and that the --listen address is free";

/// Why the emulator could not load or save its state, listen, serve, or write its output.
/// The reasons are messages, not sources: a diagnostic shows one line, as before.
#[derive(Debug, Error)]
pub enum EmulatorError {
    /// The state given to [`crate::Emulator::start`] is inconsistent.
    #[error("invalid emulator state: {why}")]
    InvalidState { why: String },

    #[error("cannot listen on {addr}: {reason}")]
    Listen { addr: SocketAddr, reason: String },

    /// The HTTP server stopped with an error.
    #[error("emulator server failed: {reason}")]
    Server { reason: String },

    /// The server's task panicked or was cancelled.
    #[error("emulator task failed: {reason}")]
    Task { reason: String },

    #[error("cannot read emulator state file {}: {reason}", path.display())]
    ReadState { path: PathBuf, reason: String },

    /// Not JSON, or JSON of the wrong shape; `at` is the path inside the file.
    #[error("emulator state file {} is invalid at `{at}` (line {line}, column {column}): {reason}", path.display())]
    ParseState { path: PathBuf, at: String, line: usize, column: usize, reason: String },

    /// Well-formed, but references or uniqueness are broken.
    #[error("emulator state file {} is inconsistent: {why}", path.display())]
    InconsistentState { path: PathBuf, why: String },

    /// `action` is what failed: `serialise`, `write` or `replace`.
    #[error("cannot {action} emulator state file {}: {reason}", path.display())]
    SaveState { action: &'static str, path: PathBuf, reason: String },

    #[error("cannot write counts file {}: {reason}", path.display())]
    CountsFile { path: PathBuf, reason: String },

    #[error("cannot write to stdout: {reason}")]
    Stdout { reason: String },
}

/// By hand rather than derived: miette's derive has no enum-wide `code`/`help`, and
/// every variant shares them.
impl Diagnostic for EmulatorError {
    fn code<'a>(&'a self) -> Option<Box<dyn Display + 'a>> {
        Some(Box::new("auth0_sync::emulator"))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn Display + 'a>> {
        Some(Box::new(HELP))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_has_the_code_and_the_help() {
        let e = EmulatorError::Listen { addr: "127.0.0.1:80".parse().unwrap(), reason: "in use".into() };
        assert_eq!(e.to_string(), "cannot listen on 127.0.0.1:80: in use");
        assert_eq!(e.code().map(|c| c.to_string()).as_deref(), Some("auth0_sync::emulator"));
        assert_eq!(e.help().map(|h| h.to_string()).as_deref(), Some(HELP));
        let e = EmulatorError::SaveState { action: "replace", path: "t.json".into(), reason: "denied".into() };
        assert_eq!(e.to_string(), "cannot replace emulator state file t.json: denied");
    }
}
