//! Command-line interface (clap derive). Settings come from flags, the environment,
//! `--env-file FILE` or a `.env` in the working directory, in that order.

use crate::plan::OnMissing;
use crate::planner::DeleteCap;
use crate::settings::SettingsArgs;
use clap::{Parser, Subcommand, ValueEnum};
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

    /// Mask emails in all output and logs (plan files and journals keep them).
    #[arg(long, global = true)]
    pub redact: bool,

    /// Log line format on stderr.
    #[arg(long, global = true, value_enum, default_value_t)]
    pub log_format: crate::logging::LogFormat,

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

/// Safety rails, checked when planning and again when applying.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SafetyArgs {
    /// Most users one plan may delete or block: N, or N% of the connection's users
    /// (default: 10%, but always up to 10 and never more than 500).
    #[arg(long, value_name = "N|N%", value_parser = parse_cap)]
    pub max_deletes: Option<DeleteCap>,
    /// Lift the deletion cap entirely.
    #[arg(long, conflicts_with = "max_deletes")]
    pub allow_mass_delete: bool,
    /// Allow a source that returned no users (which removes every user).
    #[arg(long)]
    pub allow_empty_source: bool,
}

impl SafetyArgs {
    pub fn delete_cap(&self) -> DeleteCap {
        match (self.allow_mass_delete, self.max_deletes) {
            (true, _) => DeleteCap::Unlimited,
            (false, Some(c)) => c,
            (false, None) => DeleteCap::Default,
        }
    }
}

fn parse_cap(s: &str) -> Result<DeleteCap, String> {
    DeleteCap::parse(s)
}

/// `30m`, `24h`, `7d`, `90s`.
pub fn parse_age(s: &str) -> Result<chrono::Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: i64 = num.parse().map_err(|_| format!("{s:?} is not a duration like 30m, 24h or 7d"))?;
    match unit {
        "s" => Ok(chrono::Duration::seconds(n)),
        "m" => Ok(chrono::Duration::minutes(n)),
        "h" | "" => Ok(chrono::Duration::hours(n)),
        "d" => Ok(chrono::Duration::days(n)),
        _ => Err(format!("{s:?}: unknown unit {unit:?}; use s, m, h or d")),
    }
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
        /// What to do with connection users missing from the source.
        #[arg(long, value_enum, default_value_t)]
        on_missing: OnMissing,
        /// Plan the creation of roles the source names that the tenant lacks.
        #[arg(long)]
        create_missing_roles: bool,
        /// How to learn role membership: per-role (list members), per-user, or auto.
        #[arg(long, value_enum, default_value_t)]
        role_lookup: crate::auth0::client::RoleLookup,
        /// Reads in flight at once (within the request budget).
        #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
        concurrency: u16,
        #[command(flatten)]
        safety: SafetyArgs,
    },
    /// Show a saved plan.
    Show {
        plan: PathBuf,
        #[arg(long, value_enum, default_value_t)]
        format: Format,
    },
    /// Validate a saved plan and execute it against the tenant.
    Apply {
        plan: PathBuf,
        /// Apply the changes that still match the tenant and skip the drifted ones.
        #[arg(long)]
        skip_drifted: bool,
        /// Refuse plans older than this (s, m, h, d).
        #[arg(long, default_value = "24h", value_parser = parse_age)]
        max_plan_age: chrono::Duration,
        /// Requests in flight at once.
        #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
        concurrency: u16,
        /// How to create users: api (one request each, random password), import
        /// (users-import jobs; users set a password through reset), auto (import from 200 up).
        #[arg(long, value_enum, default_value_t)]
        create_via: crate::apply::CreateVia,
        /// Users per role-assignment request (`POST /roles/{id}/users`).
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u16).range(1..=1000))]
        role_batch_size: u16,
        /// `table` prints a report; `json` prints every outcome as JSON.
        #[arg(long, value_enum, default_value_t)]
        format: Format,
        #[command(flatten)]
        safety: SafetyArgs,
    },
    /// Check that the source and the tenant are reachable and consistent.
    Check,
    /// Run a local Auth0 tenant emulator.
    Emulator(auth0_emulator::EmulatorArgs),
    /// Run plan → apply → plan on shipped demo data against an in-process emulator.
    Demo,
}
