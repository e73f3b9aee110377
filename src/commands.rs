//! The subcommands: glue between settings, adapters, the planner, apply and render.
//! Each returns the process exit code it wants; errors are diagnostics.

use crate::apply::{self, ApplyOptions, ApplyReport};
use crate::auth0::Auth0Client;
use crate::cli::{Cli, Command, Format};
use crate::error::{Error, Result};
use crate::plan::{Plan, PolicyRecord};
use crate::planner::{self, Policy};
use crate::render::{self, RenderOptions};
use crate::settings::{Auth0Settings, SettingsArgs};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Exit code of `plan --detailed-exitcode` when the plan has changes.
pub const EXIT_CHANGES: u8 = 2;

pub async fn run(cli: Cli) -> Result<ExitCode> {
    let args = &cli.settings;
    match cli.command {
        Command::Plan {
            out,
            overwrite,
            format,
            detailed_exitcode,
        } => {
            let plan = make_plan(args).await?;
            let path = out.unwrap_or_else(|| default_plan_path(&plan));
            plan.write_new(&path, overwrite)?;
            print_plan(&plan, format)?;
            if format == Format::Table {
                eprintln!(
                    "Plan written to {}. Apply it with: auth0-sync apply {}",
                    path.display(),
                    path.display()
                );
            }
            Ok(if detailed_exitcode && plan.has_changes() {
                ExitCode::from(EXIT_CHANGES)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Show { plan, format } => {
            let plan = Plan::read(&plan)?;
            print_plan(&plan, format)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Apply { plan } => {
            let auth0 = args.auth0()?;
            let connection = args.connection()?;
            let plan = Plan::read(&plan)?;
            check_target(&plan, &auth0, &connection)?;
            let client = Auth0Client::connect(&auth0).await?;
            let report = apply_plan(&client, &plan, true).await?;
            finish_apply(&report)
        }
        Command::Check => crate::check::run(args, &mut std::io::stdout().lock()).await,
        Command::Emulator { state, listen } => {
            crate::emulator::run(state, listen).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo => crate::demo::run().await,
    }
}

/// Snapshots the source and the tenant and computes a sealed plan.
pub async fn make_plan(args: &SettingsArgs) -> Result<Plan> {
    // Check every setting before touching anything.
    let auth0 = args.auth0()?;
    let connection = args.connection()?;
    let ignore = args.ignore()?;
    let source_settings = args.source()?;

    let (desired, source_info) = crate::source::load(&source_settings).await?;
    let client = Auth0Client::connect(&auth0).await?;
    require_connection(&client, &connection).await?;
    let snapshot = client.snapshot(&connection).await?;
    let policy_record = PolicyRecord {
        ignore_users: ignore.patterns().to_vec(),
    };
    let policy = Policy {
        connection: connection.clone(),
        ignore,
    };
    let changeset = planner::plan(&desired, &snapshot, &policy)?;
    Ok(Plan::new(
        chrono::Utc::now(),
        auth0.tenant.clone(),
        connection,
        snapshot.fingerprint(),
        source_info,
        policy_record,
        changeset,
    ))
}

/// Errors unless the tenant has a connection with this name.
pub async fn require_connection(client: &Auth0Client, name: &str) -> Result<()> {
    if client.connection_by_name(name).await?.is_none() {
        return Err(Error::UnknownConnection {
            name: name.to_owned(),
            known: String::new(),
        });
    }
    Ok(())
}

/// Refuses a plan made for another tenant or connection.
pub fn check_target(plan: &Plan, auth0: &Auth0Settings, connection: &str) -> Result<()> {
    if plan.tenant != auth0.tenant {
        return Err(Error::PlanTargetMismatch {
            field: "tenant",
            planned: plan.tenant.clone(),
            configured: auth0.tenant.clone(),
        });
    }
    if plan.connection != connection {
        return Err(Error::PlanTargetMismatch {
            field: "connection",
            planned: plan.connection.clone(),
            configured: connection.to_owned(),
        });
    }
    Ok(())
}

/// Executes a plan, printing progress (when stderr is a terminal) and the report.
pub async fn apply_plan(client: &Auth0Client, plan: &Plan, progress: bool) -> Result<ApplyReport> {
    use std::io::IsTerminal;
    let opts = ApplyOptions {
        progress: progress && std::io::stderr().is_terminal(),
        ..ApplyOptions::default()
    };
    let report = apply::apply(client, plan, opts).await;
    let mut out = std::io::stdout().lock();
    render::apply_report(&report, &mut out, &RenderOptions::for_stdout()).map_err(stdout_err)?;
    Ok(report)
}

pub fn finish_apply(report: &ApplyReport) -> Result<ExitCode> {
    match report.failed() {
        0 => Ok(ExitCode::SUCCESS),
        failed => Err(Error::ApplyFailed {
            failed,
            total: report.outcomes.len(),
        }),
    }
}

pub fn print_plan(plan: &Plan, format: Format) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match format {
        Format::Table => render::plan_table(plan, &mut out, &RenderOptions::for_stdout()),
        Format::Json => render::plan_json(plan, &mut out),
        Format::Markdown => render::plan_markdown(plan, &mut out),
    }
    .and_then(|_| out.flush())
    .map_err(stdout_err)
}

fn stdout_err(e: std::io::Error) -> Error {
    Error::io("write to", Path::new("stdout"), e)
}

/// `plans/plan-YYYYMMDD-HHMMSS.json`, made unique if needed.
pub fn default_plan_path(plan: &Plan) -> PathBuf {
    let stamp = plan.created_at.format("%Y%m%d-%H%M%S");
    let mut path = PathBuf::from(format!("plans/plan-{stamp}.json"));
    let mut n = 1;
    while path.exists() {
        n += 1;
        path = PathBuf::from(format!("plans/plan-{stamp}-{n}.json"));
    }
    path
}
