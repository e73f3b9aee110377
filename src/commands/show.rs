//! `auth0-sync show PLAN`: a saved plan again, as a table, JSON or markdown. Reads
//! only the file: no settings, no network.

use crate::cli::Format;
use crate::error::Result;
use crate::plan::Plan;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct ShowArgs {
    /// The plan file to show.
    pub plan: PathBuf,
    /// How to show the plan: table (for people), json (the plan file) or markdown (for a PR comment).
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

pub fn run(args: &ShowArgs) -> Result<ExitCode> {
    let plan = Plan::read(&args.plan)?;
    super::print_plan(&plan, args.format)?;
    Ok(ExitCode::SUCCESS)
}
