//! Command-line interface (clap derive): the global flags and one subcommand per verb.
//! Each verb's arguments live with the verb in `commands/<verb>.rs`; settings come
//! from flags, the environment, `--env-file FILE` or a `.env` in the working
//! directory, in that order.

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "auth0-sync",
    version,
    about = "Make an Auth0 tenant's users and roles match a SQL table, in reviewed plan/apply steps",
    disable_help_flag = true
)]
pub struct Cli {
    /// Print help.
    #[arg(short, long, global = true, action = clap::ArgAction::HelpShort)]
    help: Option<bool>,

    /// Read settings from this dotenv file (variables already set in the environment win).
    #[arg(long, global = true, value_name = "FILE")]
    pub env_file: Option<PathBuf>,

    /// Mask emails in all output and logs (plan files and journals keep them).
    #[arg(long, global = true)]
    pub redact: bool,

    /// Log line format on stderr.
    #[arg(long, global = true, value_enum, default_value_t)]
    pub log_format: crate::logging::LogFormat,

    /// More log output on stderr (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    /// Colored table for people.
    #[default]
    Table,
    /// The plan file itself.
    Json,
    /// A summary for a pull-request comment.
    Markdown,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Snapshot the source and the tenant, write a plan file and show the changes.
    Plan(crate::commands::plan::PlanArgs),
    /// Show a saved plan.
    Show(crate::commands::show::ShowArgs),
    /// Validate a saved plan and execute it against the tenant.
    Apply(crate::commands::apply::ApplyArgs),
    /// Send the invitation again to existing users (same modes as `apply --invite`).
    Invite(crate::commands::invite::InviteCmdArgs),
    /// Check that the source and the tenant are reachable and consistent.
    Check(crate::commands::check::CheckArgs),
    /// Run a local Auth0 tenant emulator.
    Emulator(auth0_emulator::EmulatorArgs),
    /// Run plan → apply → plan on shipped demo data against an in-process emulator.
    Demo,
}
