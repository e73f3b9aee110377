//! auth0-sync: make an Auth0 tenant's users and role assignments match a SQL table,
//! in two reviewed steps (plan, apply).

// Diagnostics carry source text and spans; they are on the cold path, so their size
// does not matter more than their content.
#![allow(clippy::result_large_err)]

pub mod apply;
pub mod auth0;
pub mod cli;
pub mod commands;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod gate;
pub mod logging;
pub mod redact;
pub mod render;
pub mod settings;
pub mod source;

pub use error::{Error, Result};

/// The pure core (model, rules, planner, plan file, drift), re-exported so that
/// `auth0_sync::plan::Plan` and friends keep their paths.
pub use auth0_sync_core::{
    caps, digest, drift, email, ignore, model, plan, planner, policy, roles, schema, seal, targets,
};

/// Process entry point: load dotenv files, parse, run, map to an exit code
/// (0 ok, 1 error, 2 changes with `plan --detailed-exitcode`).
pub fn main_entry() -> std::process::ExitCode {
    use clap::Parser;
    use std::process::ExitCode;

    if let Err(e) = load_env_files(std::env::args_os()) {
        eprintln!("{:?}", miette::Report::new(e));
        return ExitCode::FAILURE;
    }
    let cli = match cli::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            // Usage errors exit 1: 2 means "changes" for `plan --detailed-exitcode`.
            return if e.use_stderr() { ExitCode::FAILURE } else { ExitCode::SUCCESS };
        }
    };
    if cli.redact {
        redact::enable();
    }
    logging::init(cli.verbose, cli.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("could not start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{:?}", miette::Report::new(e));
            ExitCode::FAILURE
        }
    }
}

/// Loads `--env-file FILE` when given, else `./.env` when present. Variables already
/// set in the environment win over the file.
fn load_env_files(args: impl IntoIterator<Item = std::ffi::OsString>) -> Result<()> {
    let args: Vec<String> = args.into_iter().map(|a| a.to_string_lossy().into_owned()).collect();
    let mut explicit = None;
    for (i, a) in args.iter().enumerate() {
        if a == "--env-file" {
            explicit = args.get(i + 1).cloned();
        } else if let Some(v) = a.strip_prefix("--env-file=") {
            explicit = Some(v.to_owned());
        }
    }
    match explicit {
        Some(path) => {
            let path = std::path::PathBuf::from(path);
            dotenvy::from_path(&path).map_err(|e| {
                Error::from(settings::SettingsError::Invalid {
                    var: "--env-file",
                    reason: format!("could not read {}: {e}", path.display()),
                    help: "pass a readable dotenv file (KEY=value lines), e.g. --env-file .env.production".into(),
                })
            })
        }
        None => match dotenvy::dotenv() {
            Ok(_) => Ok(()),
            Err(e) if e.not_found() => Ok(()),
            Err(e) => Err(Error::from(settings::SettingsError::Invalid {
                var: ".env",
                reason: format!("could not read ./.env: {e}"),
                help: "fix or remove the .env file in the working directory".into(),
            })),
        },
    }
}
