//! The verbs: each file holds one verb's arguments (resolved once into checked
//! settings before any I/O) and the glue between settings, adapters, the planner,
//! apply and render. Each returns the process exit code it wants; errors are
//! diagnostics.

pub mod apply;
pub mod check;
pub mod demo;
pub mod invite;
pub mod plan;
pub mod show;

use crate::cli::{Cli, Command, Format};
use crate::error::{Error, Result};
use crate::plan::Plan;
use crate::render::{self, RenderOptions};
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

/// Exit code of `plan --detailed-exitcode` when the plan has changes.
pub const EXIT_CHANGES: u8 = 2;

pub async fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Plan(args) => plan::run(&args.resolve()?).await,
        Command::Show(args) => show::run(&args),
        Command::Apply(args) => apply::run(&args.resolve()?).await,
        Command::Invite(args) => invite::run(&args.resolve()?).await,
        Command::Check(args) => check::run(&args, &mut std::io::stdout().lock()).await,
        Command::Emulator(args) => {
            auth0_emulator::run(args).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo => demo::run().await,
    }
}

/// Prints a plan to stdout in `format`.
pub fn print_plan(plan: &Plan, format: Format) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match format {
        Format::Table => render::plan_table(plan, &mut out, &RenderOptions::for_stdout()),
        Format::Json => render::plan_json(plan, &mut out, crate::redact::enabled()),
        Format::Markdown => render::plan_markdown(plan, &mut out, crate::redact::enabled()),
    }
    .and_then(|_| out.flush())
    .map_err(stdout_err)
}

pub(crate) fn stdout_err(e: std::io::Error) -> Error {
    Error::io("write to", Path::new("stdout"), e)
}
