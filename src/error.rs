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
    InvalidSetting { var: &'static str, reason: String, help: String },

    #[error("could not {action} {}", path.display())]
    #[diagnostic(code(auth0_sync::io), help("check that the path exists and that you may read and write it"))]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("plan file {} already exists", path.display())]
    #[diagnostic(code(auth0_sync::plan::exists), help("choose another --out path, or pass --overwrite to replace it"))]
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
    PlanTargetMismatch { field: &'static str, planned: String, configured: String },

    #[error("the source names {} role(s) that do not exist in the tenant: {}", roles.len(), roles.join(", "))]
    #[diagnostic(
        code(auth0_sync::plan::unknown_roles),
        help("create these roles in Auth0 (Dashboard → User Management → Roles), or fix the role names in the source")
    )]
    UnknownRoles { roles: Vec<String> },

    #[error("the source returned no users ({rows} row(s)); planning would remove every user of the connection")]
    #[diagnostic(
        code(auth0_sync::safety::empty_source),
        help(
            "check USERS_DB_QUERY and the source database; if the connection really must be emptied, pass --allow-empty-source"
        )
    )]
    EmptySource { rows: u64 },

    #[error("the plan deletes or blocks {removals} of the connection's {users} users, more than the cap of {limit}")]
    #[diagnostic(
        code(auth0_sync::safety::too_many_deletes),
        help(
            "check the source first; if this is intended, raise the cap with --max-deletes N (or N%), or pass --allow-mass-delete"
        )
    )]
    TooManyDeletes { removals: u32, users: u32, limit: u32 },

    #[error("the journal {} cannot be used: {reason}", path.display())]
    #[diagnostic(
        code(auth0_sync::apply::bad_journal),
        help(
            "the journal records what an earlier apply of this plan did; if it is not this plan's, move it away and make a new plan"
        )
    )]
    BadJournal { path: PathBuf, reason: String },

    #[error("the plan was made {age} ago, more than --max-plan-age {max}")]
    #[diagnostic(
        code(auth0_sync::apply::plan_too_old),
        help("make a new plan and have it reviewed, or pass a larger --max-plan-age if this one is still right")
    )]
    PlanTooOld { age: String, max: String },

    #[error("{} change(s) of the plan no longer match the tenant", drifted.len())]
    #[diagnostic(
        code(auth0_sync::apply::drift),
        help(
            "the tenant changed since the plan was made: make a new plan, or pass --skip-drifted to apply only the changes that still match"
        )
    )]
    Drifted {
        #[related]
        drifted: Vec<DriftItem>,
    },

    #[error("apply was interrupted: {done} change(s) done, {remaining} not started")]
    #[diagnostic(
        code(auth0_sync::apply::interrupted),
        help("the journal {} records what was done; run the same `auth0-sync apply {}` again to finish", journal.display(), plan.display())
    )]
    Interrupted { done: usize, remaining: usize, journal: PathBuf, plan: PathBuf },

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

    /// The emulator's own errors (loading or saving its state, listening, serving);
    /// their code is `auth0_sync::emulator`.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Emulator(#[from] auth0_emulator::EmulatorError),

    /// The demo's shipped data or its run did not behave as it must.
    #[error("{0}")]
    #[diagnostic(
        code(auth0_sync::demo),
        help(
            "the demo runs only on data shipped inside the binary, so nothing here is yours to fix: please report it with the output above"
        )
    )]
    Demo(String),
}

impl Error {
    pub fn io(action: &'static str, path: &Path, source: std::io::Error) -> Self {
        Error::Io { action, path: path.to_path_buf(), source }
    }
}

/// One change whose recorded "before" state no longer matches the tenant.
#[derive(Debug, Error, Diagnostic, Clone, PartialEq, Eq)]
#[error("change {id} ({action} {email}): expected {expected}, found {found}")]
#[diagnostic(code(auth0_sync::apply::drifted_change))]
pub struct DriftItem {
    pub id: u32,
    pub action: &'static str,
    pub email: String,
    pub expected: String,
    pub found: String,
}

/// A plan file that cannot be executed, with a label pointing into it.
#[derive(Debug, Error, Diagnostic)]
pub enum PlanFileError {
    #[error("the plan file is not valid JSON: {message}")]
    #[diagnostic(
        code(auth0_sync::plan::syntax),
        help("plan files are written by `auth0-sync plan`; do not edit them by hand, make a new one")
    )]
    Syntax {
        #[source_code]
        src: NamedSource<String>,
        #[label("here")]
        span: SourceSpan,
        message: String,
    },

    #[error("the plan file is not a JSON object")]
    #[diagnostic(code(auth0_sync::plan::syntax), help("make a new plan with `auth0-sync plan`"))]
    NotAnObject {
        #[source_code]
        src: NamedSource<String>,
        #[label("expected an object")]
        span: SourceSpan,
    },

    #[error("the plan's format_version is {found}; this auth0-sync executes version {supported}")]
    #[diagnostic(
        code(auth0_sync::plan::version),
        help("make a new plan with this version of auth0-sync, or apply it with the version that made it")
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

    #[error("the plan contradicts itself: {problem}")]
    #[diagnostic(
        code(auth0_sync::plan::inconsistent),
        help(
            "the plan was edited (and its checksum recomputed); make a new one with `auth0-sync plan` and have it reviewed"
        )
    )]
    Inconsistent {
        #[source_code]
        src: NamedSource<String>,
        #[label("in these changes")]
        span: SourceSpan,
        problem: String,
    },

    #[error("the plan file has an invalid field at {path}: {message}")]
    #[diagnostic(code(auth0_sync::plan::shape), help("make a new plan with `auth0-sync plan`"))]
    Shape {
        #[source_code]
        src: NamedSource<String>,
        #[label("here")]
        span: SourceSpan,
        path: String,
        message: String,
    },
}
