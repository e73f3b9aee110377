//! The verbs: each file holds one verb's arguments (resolved once into checked
//! settings before any I/O) and the glue between settings, adapters, the planner,
//! apply and render. Each returns the process exit code it wants; errors are
//! diagnostics.

pub mod apply;
pub mod check;
pub mod completions;
pub mod demo;
pub mod keygen;
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
        Command::Check(args) => check::run(&args, &mut std::io::stdout().lock()).await,
        Command::Emulator(args) => {
            auth0_emulator::run(args).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo => demo::run().await,
        Command::Keygen(args) => keygen::run(&args, &mut std::io::stdout().lock()),
        Command::Completions(args) => completions::completions(&args),
        Command::Man(args) => completions::man(&args),
    }
}

/// Prints a plan to stdout in `format` (a closed pipe ends it quietly).
pub fn print_plan(plan: &Plan, format: Format) -> Result<()> {
    print_plan_with(plan, format, &render::MarkdownOptions::default())
}

/// [`print_plan`] with markdown's budget and the plan's path (for "show PLAN has it all").
pub fn print_plan_with(plan: &Plan, format: Format, md: &render::MarkdownOptions) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let written = match format {
        Format::Table => render::plan_table(plan, &mut out, &RenderOptions::for_stdout()),
        Format::Json => render::plan_json(plan, &mut out, crate::redact::enabled()),
        Format::Markdown => {
            let md = render::MarkdownOptions { redact: crate::redact::enabled(), ..md.clone() };
            render::plan_markdown(plan, &mut out, &md)
        }
    };
    quiet_broken_pipe(written.and_then(|_| out.flush())).map_err(stdout_err)
}

/// A reader that went away (`auth0-sync show plan.json | head`) ends the output, not
/// the command: a closed pipe is success.
pub(crate) fn quiet_broken_pipe(r: std::io::Result<()>) -> std::io::Result<()> {
    match r {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

pub(crate) fn stdout_err(e: std::io::Error) -> Error {
    Error::io("write to", Path::new("stdout"), e)
}
