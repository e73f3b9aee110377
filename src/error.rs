//! Every way the tool can fail, as miette diagnostics with a code and a help line.
//! No variant ever carries a secret (client secret, DB password, token, password).

use miette::{Diagnostic, NamedSource, SourceSpan};
use std::path::{Path, PathBuf};
use thiserror::Error;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, Error, Diagnostic)]
pub enum Error {
    #[error("setting {var} is missing")]
    #[diagnostic(code(auth0_sync::settings::missing), help("{help}"))]
    MissingSetting { var: &'static str, help: String },

    #[error("setting {var} is invalid: {reason}")]
    #[diagnostic(code(auth0_sync::settings::invalid), help("{help}"))]
    InvalidSetting {
        var: &'static str,
        reason: String,
        help: String,
    },

    #[error("could not {action} {}", path.display())]
    #[diagnostic(
        code(auth0_sync::io),
        help("check that the path exists and that you may read and write it")
    )]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("plan file {} already exists", path.display())]
    #[diagnostic(
        code(auth0_sync::plan::exists),
        help("choose another --out path, or pass --overwrite to replace it")
    )]
    PlanExists { path: PathBuf },

    #[error(transparent)]
    #[diagnostic(transparent)]
    PlanFile(Box<PlanFileError>),

    #[error("the plan is for {field} {planned:?}, but the settings say {configured:?}")]
    #[diagnostic(
        code(auth0_sync::plan::target_mismatch),
        help(
            "apply a plan with the same AUTH0_URL and AUTH0_CONNECTION it was made with, or make a new plan for this tenant"
        )
    )]
    PlanTargetMismatch {
        field: &'static str,
        planned: String,
        configured: String,
    },

    #[error("the source names {} role(s) that do not exist in the tenant: {}", roles.len(), roles.join(", "))]
    #[diagnostic(
        code(auth0_sync::plan::unknown_roles),
        help(
            "create these roles in Auth0 (Dashboard → User Management → Roles), or fix the role names in the source"
        )
    )]
    UnknownRoles { roles: Vec<String> },

    #[error("connection {name:?} does not exist in the tenant")]
    #[diagnostic(
        code(auth0_sync::auth0::unknown_connection),
        help("set AUTH0_CONNECTION to the name of a database connection of this tenant{known}")
    )]
    UnknownConnection { name: String, known: String },

    #[error(transparent)]
    #[diagnostic(transparent)]
    Source(#[from] crate::source::SourceError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    Auth0(#[from] crate::auth0::Auth0Error),

    #[error("{failed} of {total} change(s) failed")]
    #[diagnostic(
        code(auth0_sync::apply::failed),
        help(
            "the failures are listed above; fix their cause and make a new plan: changes that succeeded will not be planned again"
        )
    )]
    ApplyFailed { failed: usize, total: usize },

    #[error("{0}")]
    #[diagnostic(code(auth0_sync::emulator))]
    Emulator(String),
}

impl Error {
    pub fn io(action: &'static str, path: &Path, source: std::io::Error) -> Self {
        Error::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// A plan file that cannot be executed, with a label pointing into it.
#[derive(Debug, Error, Diagnostic)]
pub enum PlanFileError {
    #[error("the plan file is not valid JSON: {message}")]
    #[diagnostic(
        code(auth0_sync::plan::syntax),
        help(
            "plan files are written by `auth0-sync plan`; do not edit them by hand, make a new one"
        )
    )]
    Syntax {
        #[source_code]
        src: NamedSource<String>,
        #[label("here")]
        span: SourceSpan,
        message: String,
    },

    #[error("the plan file is not a JSON object")]
    #[diagnostic(
        code(auth0_sync::plan::syntax),
        help("make a new plan with `auth0-sync plan`")
    )]
    NotAnObject {
        #[source_code]
        src: NamedSource<String>,
        #[label("expected an object")]
        span: SourceSpan,
    },

    #[error("the plan's format_version is {found}; this auth0-sync executes version {supported}")]
    #[diagnostic(
        code(auth0_sync::plan::version),
        help(
            "make a new plan with this version of auth0-sync, or apply it with the version that made it"
        )
    )]
    UnknownVersion {
        #[source_code]
        src: NamedSource<String>,
        #[label("unknown version")]
        span: SourceSpan,
        found: String,
        supported: u32,
    },

    #[error("the plan's checksum does not match its content: it was changed after it was made")]
    #[diagnostic(
        code(auth0_sync::plan::checksum),
        help(
            "never edit a plan: make a new one with `auth0-sync plan` and have it reviewed (recorded {recorded}, content hashes to {actual})"
        )
    )]
    Checksum {
        #[source_code]
        src: NamedSource<String>,
        #[label("recorded checksum")]
        span: SourceSpan,
        recorded: String,
        actual: String,
    },

    #[error("the plan file has an invalid field at {path}: {message}")]
    #[diagnostic(
        code(auth0_sync::plan::shape),
        help("make a new plan with `auth0-sync plan`")
    )]
    Shape {
        #[source_code]
        src: NamedSource<String>,
        #[label("here")]
        span: SourceSpan,
        path: String,
        message: String,
    },
}
