//! auth0-sync: make an Auth0 tenant's users and role assignments match a SQL table,
//! in two reviewed steps (plan, apply).

// Diagnostics carry source text and spans; they are on the cold path, so their size
// does not matter more than their content.
#![allow(clippy::result_large_err)]

pub mod apply;
pub mod auth0;
pub mod cli;
pub mod commands;
pub mod entry;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod gate;
pub mod logging;
pub mod printer;
pub mod redact;
pub mod render;
pub mod scopes;
pub mod settings;
pub mod source;

pub use error::{Error, Result};

/// The pure core (model, rules, planner, plan file, drift), re-exported so that
/// `auth0_sync::plan::Plan` and friends keep their paths.
pub use auth0_sync_core::{
    caps, digest, drift, email, fields, ignore, leavers, model, plan, planner, policy, roles, schema, seal, targets,
};

/// Process entry point: load the dotenv file, parse, run, map to an exit code
/// (0 ok, 1 error, 2 changes with `plan --detailed-exitcode`).
pub fn main_entry() -> std::process::ExitCode {
    entry::main()
}
