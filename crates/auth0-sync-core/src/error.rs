//! The core's refusals: what the planner will not plan, what a plan file on disk
//! cannot be, and a change that no longer matches the tenant. Each is a miette
//! diagnostic with a code and a help line.

use miette::{Diagnostic, NamedSource, SourceSpan};
use std::path::PathBuf;
use thiserror::Error;

/// What the planner refuses to plan.
#[derive(Debug, Error, Diagnostic)]
pub enum PlanError {
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
}

/// A plan file that cannot be written or read.
#[derive(Debug, Error, Diagnostic)]
pub enum PlanStoreError {
    #[error("plan file {} already exists", path.display())]
    #[diagnostic(code(auth0_sync::plan::exists), help("choose another --out path, or pass --overwrite to replace it"))]
    Exists { path: PathBuf },

    #[error("could not {action} {}", path.display())]
    #[diagnostic(code(auth0_sync::io), help("check that the path exists and that you may read and write it"))]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(transparent)]
    #[diagnostic(transparent)]
    File(Box<PlanFileError>),
}

impl PlanStoreError {
    pub fn io(action: &'static str, path: &std::path::Path, source: std::io::Error) -> Self {
        PlanStoreError::Io { action, path: path.to_path_buf(), source }
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
