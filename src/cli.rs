//! Command-line interface (clap derive). Settings come from flags, the environment,
//! `--env-file FILE` or a `.env` in the working directory, in that order.

use crate::settings::SettingsArgs;
use clap::{Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "auth0-sync",
    version,
    about = "Make an Auth0 tenant's users and roles match a SQL table, in reviewed plan/apply steps"
)]
pub struct Cli {
    /// Read settings from this dotenv file (variables already set in the environment win).
    #[arg(long, global = true, value_name = "FILE")]
    pub env_file: Option<PathBuf>,

    /// More log output on stderr (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    #[command(flatten)]
    pub settings: SettingsArgs,

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
    Plan {
        /// Where to write the plan (default: plans/plan-YYYYMMDD-HHMMSS.json).
        #[arg(long, value_name = "PATH")]
        out: Option<PathBuf>,
        /// Replace --out if it exists.
        #[arg(long)]
        overwrite: bool,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
        /// Exit 0 when there are no changes, 2 when there are, 1 on error.
        #[arg(long)]
        detailed_exitcode: bool,
    },
    /// Show a saved plan.
    Show {
        plan: PathBuf,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Validate a saved plan and execute it against the tenant.
    Apply { plan: PathBuf },
    /// Check that the source and the tenant are reachable and consistent.
    Check,
    /// Run a local Auth0 tenant emulator.
    Emulator {
        /// Tenant state file (JSON); loaded at start, saved on SIGINT/SIGTERM.
        #[arg(long, value_name = "FILE")]
        state: PathBuf,
        /// Address to listen on; port 0 picks a free port.
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
    },
    /// Run plan → apply → plan on shipped demo data against an in-process emulator.
    Demo,
}
