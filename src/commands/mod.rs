//! The verbs: each file holds one verb's arguments (resolved once into checked
//! settings before any I/O) and the glue between settings, adapters, the planner,
//! apply and render. Each returns the process exit code it wants; errors are
//! diagnostics.

pub mod apply;
pub mod check;
pub mod completions;
pub mod demo;
pub mod invite;
pub mod keygen;
mod output;
pub mod plan;
pub mod show;

use crate::error::Result;
use std::process::ExitCode;

pub use output::{EXIT_CHANGES, MORE_SETTINGS, print_plan, print_plan_with};

/// The verbs.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Snapshot the source and the tenant, write a plan file and show the changes.
    Plan(plan::PlanArgs),
    /// Show a saved plan.
    Show(show::ShowArgs),
    /// Validate a saved plan and execute it against the tenant.
    Apply(apply::ApplyArgs),
    /// Send the invitation again to existing users (same modes as `apply --invite`).
    Invite(invite::InviteCmdArgs),
    /// Check the settings, the source and the tenant, and predict whether `plan` would refuse.
    Check(check::CheckArgs),
    /// Run a local Auth0 tenant emulator.
    Emulator(auth0_emulator::EmulatorArgs),
    /// Run plan → apply → plan on shipped demo data against an in-process emulator.
    Demo,
    /// Write a new key pair for signed plans (plan-signing.key, plan-signing.pub).
    Keygen(keygen::KeygenArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    Completions(completions::CompletionsArgs),
    /// Print the manual page (roff) of auth0-sync or of one of its verbs.
    Man(completions::ManArgs),
}

/// Runs a verb. `app` is the whole command line's definition, for the verbs that
/// describe it (completions, man).
pub async fn run(command: Command, app: fn() -> clap::Command) -> Result<ExitCode> {
    match command {
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
        Command::Keygen(args) => keygen::run(&args, &mut std::io::stdout().lock()),
        Command::Completions(args) => completions::completions(&args, app()),
        Command::Man(args) => completions::man(&args, app()),
    }
}
