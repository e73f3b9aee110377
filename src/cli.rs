//! Command-line interface (clap derive): the global flags, and the verbs
//! (`commands::Command`), each of whose arguments live with the verb in
//! `commands/<verb>.rs`. Settings come from flags, the environment, `--env-file FILE`
//! or a `.env` in the working directory, in that order.

use clap::Parser;
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
    pub command: crate::commands::Command,
}
