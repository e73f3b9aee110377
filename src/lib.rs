//! auth0-sync: make an Auth0 tenant's users and role assignments match a SQL table,
//! in two reviewed steps (plan, apply).

pub mod apply;
pub mod auth0;
pub mod cli;
pub mod emulator;
pub mod error;
pub mod model;
pub mod plan;
pub mod planner;
pub mod render;
pub mod settings;
pub mod source;

pub use error::{Error, Result};

/// Process entry point: load dotenv files, parse, run, map to an exit code.
pub fn main_entry() -> std::process::ExitCode {
    std::process::ExitCode::SUCCESS
}
