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

    #[error(
        "the plan deletes {removals} of the connection's {users} users, more than the cap of {limit} (--max-deletes)"
    )]
    #[diagnostic(
        code(auth0_sync::safety::too_many_deletes),
        help(
            "check the source first; if this is intended, raise the cap with --max-deletes N (or N%), or pass --allow-mass-delete"
        )
    )]
    TooManyDeletes { removals: u32, users: u32, limit: u32 },

    #[error(
        "--max-deletes {flag} at apply allows {flag_limit} removal(s) of the connection's {users} users, more than the cap of {recorded} ({recorded_limit}) the plan was approved with"
    )]
    #[diagnostic(
        code(auth0_sync::safety::cap_above_approved),
        help(
            "a plan carries the cap its reviewer saw, and apply may only lower it: drop the flag (or give a lower one), or make a new plan with the higher cap and have it reviewed"
        )
    )]
    CapAboveApproved { flag: String, flag_limit: String, recorded: String, recorded_limit: String, users: u32 },

    #[error("{what}, more than the cap of {limit} ({flag})")]
    #[diagnostic(
        code(auth0_sync::safety::too_many_removals),
        help(
            "check the source first (a lost column or a bad join removes roles without deleting anyone); if this is intended, raise this cap with {flag} N (or N%; 100% lifts it), or pass --allow-mass-delete to lift every removal cap"
        )
    )]
    TooManyRemovals { flag: &'static str, what: String, limit: u32 },

    #[error(
        "{flag} {value} at apply allows {flag_limit} {of}, more than the cap of {recorded} ({recorded_limit}) the plan was approved with"
    )]
    #[diagnostic(
        code(auth0_sync::safety::removal_cap_above_approved),
        help(
            "a plan carries the caps its reviewer saw, and apply may only lower them: drop {flag} (or give a lower value), or make a new plan with the higher cap and have it reviewed"
        )
    )]
    RemovalCapAboveApproved {
        flag: &'static str,
        value: String,
        flag_limit: String,
        recorded: String,
        recorded_limit: String,
        of: String,
    },

    #[error(
        "{} target(s) are neither in the source nor among the connection's users: {}",
        emails.len(),
        emails.join(", ")
    )]
    #[diagnostic(
        code(auth0_sync::plan::unknown_targets),
        help(
            "check the spelling of each --only / --only-file email; a target must be a row of the source or a user of AUTH0_CONNECTION"
        )
    )]
    UnknownTargets { emails: Vec<String> },

    #[error(
        "{} address(es) the source gives to one HR key are held by another user of the connection: {}",
        conflicts.len(),
        conflicts.join("; ")
    )]
    #[diagnostic(
        code(auth0_sync::plan::address_taken),
        help(
            "the tool never hands one person's account or address to another: if an address was recycled, remove or rename its old holder in Auth0 first; if the HR table is wrong, fix the key or the email there; then plan again"
        )
    )]
    AddressTaken { conflicts: Vec<String> },

    #[error("{} group(s) of people swap email addresses, which one plan cannot do: {}", cycles.len(), cycles.join("; "))]
    #[diagnostic(
        code(auth0_sync::plan::swapped_emails),
        help(
            "do it in two plans: first give one person of each group a temporary address in the HR table (e.g. name.tmp@your-domain), plan and apply; then give the final addresses, plan and apply again"
        )
    )]
    SwappedEmails { cycles: Vec<String> },

    #[error("the targets' changes need changes of users outside the targets: {}", needs.join("; "))]
    #[diagnostic(
        code(auth0_sync::plan::targets_need_more),
        help(
            "add these addresses with --only (an address is only free once the user holding it has moved), or make a full plan"
        )
    )]
    TargetsNeedMore { needs: Vec<String> },
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

    #[error("the plan is not signed; AUTH0_SYNC_VERIFY_KEY requires a signature by key {expected}")]
    #[diagnostic(
        code(auth0_sync::plan::unsigned),
        help(
            "only signed plans are applied here: make the plan with AUTH0_SYNC_SIGNING_KEY (or --signing-key) set to the private key of that public key, and have it reviewed"
        )
    )]
    Unsigned {
        #[source_code]
        src: NamedSource<String>,
        #[label("no `signature` in this plan")]
        span: SourceSpan,
        /// Fingerprint of the verify key.
        expected: String,
    },

    #[error("the plan is signed by key {found}, not by the key AUTH0_SYNC_VERIFY_KEY names ({expected})")]
    #[diagnostic(
        code(auth0_sync::plan::wrong_key),
        help(
            "make the plan again with the signing key that belongs to AUTH0_SYNC_VERIFY_KEY, or check that the apply job has the right public key"
        )
    )]
    WrongKey {
        #[source_code]
        src: NamedSource<String>,
        #[label("signed by another key")]
        span: SourceSpan,
        found: String,
        expected: String,
    },

    #[error("the plan's signature does not match its content: it was changed after it was signed ({reason})")]
    #[diagnostic(
        code(auth0_sync::plan::signature_mismatch),
        help(
            "do not apply this file: someone or something edited it after review (a recomputed checksum does not make an edit valid); make a new plan with `auth0-sync plan` and have it reviewed"
        )
    )]
    SignatureMismatch {
        #[source_code]
        src: NamedSource<String>,
        #[label("this signature")]
        span: SourceSpan,
        reason: String,
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
