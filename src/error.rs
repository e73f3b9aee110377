//! Every way the tool can fail, as miette diagnostics with a code and a help line.
//! No variant ever carries a secret (client secret, DB password, token, password).

use miette::Diagnostic;
use std::path::{Path, PathBuf};
use thiserror::Error;

pub use auth0_sync_core::{DriftItem, PlanError, PlanFileError, PlanStoreError};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, Error, Diagnostic)]
pub enum Error {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Settings(#[from] crate::settings::SettingsError),

    #[error("could not {action} {}", path.display())]
    #[diagnostic(code(auth0_sync::io), help("check that the path exists and that you may read and write it"))]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("the plan is for {field} {planned:?}, but the settings say {configured:?}")]
    #[diagnostic(
        code(auth0_sync::plan::target_mismatch),
        help(
            "apply a plan with the same AUTH0_URL and AUTH0_CONNECTION it was made with, or make a new plan for this tenant"
        )
    )]
    PlanTargetMismatch { field: &'static str, planned: String, configured: String },

    #[error(transparent)]
    #[diagnostic(transparent)]
    Plan(#[from] PlanError),

    #[error(transparent)]
    #[diagnostic(transparent)]
    PlanStore(#[from] PlanStoreError),

    /// Key files of signed plans (keygen, AUTH0_SYNC_SIGNING_KEY, AUTH0_SYNC_VERIFY_KEY).
    #[error(transparent)]
    #[diagnostic(transparent)]
    Gate(#[from] crate::gate::GateError),

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

    #[error("apply was interrupted: {summary}")]
    #[diagnostic(
        code(auth0_sync::apply::interrupted),
        help("the journal {} records what was done; run the same `auth0-sync apply {}` again to finish", journal.display(), plan.display())
    )]
    Interrupted { summary: String, journal: PathBuf, plan: PathBuf },

    #[error("the token lacks {} scope(s) this plan needs: {}", scopes.len(), scopes.join(", "))]
    #[diagnostic(
        code(auth0_sync::auth0::missing_scopes),
        help(
            "nothing was sent. Grant the scopes to the application in the Auth0 Dashboard (Applications → APIs → Auth0 Management API → Machine to Machine Applications), then run again. Needed: {}",
            details.join("; ")
        )
    )]
    MissingScopes { scopes: Vec<String>, details: Vec<String> },

    #[error(
        "connection {name:?} is not a database connection (strategy {strategy:?}), but the plan creates {creates} user(s) in it"
    )]
    #[diagnostic(
        code(auth0_sync::auth0::not_a_database),
        help(
            "nothing was sent. Users can be created only in a database connection (strategy \"auth0\"); set AUTH0_CONNECTION to one and make a new plan"
        )
    )]
    NotADatabase { name: String, strategy: String, creates: u32 },

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

    /// Invitations that cannot be sent (`--invite`, `auth0-sync invite`).
    #[error(transparent)]
    #[diagnostic(transparent)]
    Invite(#[from] crate::apply::invite::InviteError),

    /// Sessions and refresh tokens that cannot be revoked (`plan --revoke-sessions`).
    #[error(transparent)]
    #[diagnostic(transparent)]
    Revoke(#[from] crate::auth0::sessions::RevokeError),

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
