//! The subcommands: glue between settings, adapters, the planner, apply and render.
//! Each returns the process exit code it wants; errors are diagnostics.

use crate::apply::{self, ApplyOptions, ApplyReport, Cancel};
use crate::auth0::Auth0Client;
use crate::cli::{Cli, Command, Format};
use crate::error::{Error, Result};
use crate::plan::{OnMissing, Plan};
use crate::planner::{self, DeleteCap, Policy};
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
            on_missing,
            create_missing_roles,
            role_lookup,
            concurrency,
            safety,
        } => {
            let opts = PlanOptions {
                on_missing,
                create_missing_roles,
                delete_cap: safety.delete_cap(),
                allow_empty_source: safety.allow_empty_source,
                role_lookup,
                concurrency: concurrency.into(),
            };
            let plan = make_plan(args, &opts).await?;
            let path = out.unwrap_or_else(|| default_plan_path(&plan));
            plan.write_new(&path, overwrite)?;
            print_plan(&plan, format)?;
            if format == Format::Table {
                eprintln!("Plan written to {}. Apply it with: auth0-sync apply {}", path.display(), path.display());
            }
            Ok(if detailed_exitcode && plan.has_changes() { ExitCode::from(EXIT_CHANGES) } else { ExitCode::SUCCESS })
        }
        Command::Show { plan, format } => {
            let plan = Plan::read(&plan)?;
            print_plan(&plan, format)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Apply {
            plan: plan_path,
            skip_drifted,
            max_plan_age,
            concurrency,
            role_batch_size,
            create_via,
            format,
            safety,
        } => {
            let auth0 = args.auth0()?;
            let connection = args.connection()?;
            let plan = Plan::read(&plan_path)?;
            check_target(&plan, &auth0, &connection)?;
            let opts = ApplyOptions {
                concurrency: concurrency.into(),
                progress: true,
                skip_drifted,
                max_plan_age,
                delete_cap: safety.delete_cap(),
                allow_empty_source: safety.allow_empty_source,
                role_batch_size: role_batch_size.into(),
                create_via,
            };
            let client = Auth0Client::connect(&auth0).await?;
            let report = apply_plan(&client, &plan_path, &plan, opts, format).await?;
            finish_apply(&report, &plan_path)
        }
        Command::Check => crate::check::run(args, &mut std::io::stdout().lock()).await,
        Command::Emulator(args) => {
            auth0_emulator::run(args).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo => crate::demo::run().await,
    }
}

/// Plan-time choices beyond the settings.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    pub on_missing: OnMissing,
    pub create_missing_roles: bool,
    pub delete_cap: DeleteCap,
    pub allow_empty_source: bool,
    pub role_lookup: crate::auth0::client::RoleLookup,
    /// Reads in flight at once (0 = the default).
    pub concurrency: usize,
}

/// Snapshots the source and the tenant and computes a sealed plan.
pub async fn make_plan(args: &SettingsArgs, opts: &PlanOptions) -> Result<Plan> {
    let started = std::time::Instant::now();
    // Check every setting before touching anything.
    let auth0 = args.auth0()?;
    let connection = args.connection()?;
    let ignore = args.ignore()?;
    let source_settings = args.source()?;

    if let crate::settings::SourceBackend::Mssql(m) = &source_settings.backend {
        for w in
            [crate::source::mssql::trust_warning(m), crate::source::mssql::plaintext_warning(m)].into_iter().flatten()
        {
            eprintln!("warning: {w}");
        }
    }
    let (desired, source_info) = crate::source::load(&source_settings).await?;
    let client = Auth0Client::connect(&auth0).await?;
    require_connection(&client, &connection).await?;
    let concurrency = if opts.concurrency == 0 { 4 } else { opts.concurrency };
    let snapshot = client.snapshot_with(&connection, opts.role_lookup, concurrency).await?;
    let policy = Policy {
        connection: connection.clone(),
        ignore,
        managed_roles: args.managed_roles(),
        on_missing: opts.on_missing,
        delete_cap: opts.delete_cap,
        allow_empty_source: opts.allow_empty_source,
        create_missing_roles: opts.create_missing_roles,
    };
    let changeset = planner::plan(&desired, &snapshot, &policy)?;
    let policy_record = policy.record(changeset.summary.connection_users);
    let s = &changeset.summary;
    tracing::info!(
        source_rows = desired.rows,
        source_users = desired.users.len(),
        tenant_users = snapshot.users.len(),
        create = s.create_user,
        unblock = s.unblock_user,
        update = s.update_roles,
        block = s.block_user,
        delete = s.delete_user,
        warnings = changeset.warnings.len(),
        duration_ms = started.elapsed().as_millis() as u64,
        "plan finished"
    );
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
        return Err(Error::UnknownConnection { name: name.to_owned(), known: String::new() });
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

/// Executes a saved plan, with progress bars when stderr is a terminal; Ctrl-C stops
/// taking new work, lets requests in flight finish and keeps the journal.
pub async fn apply_plan(
    client: &Auth0Client,
    plan_path: &Path,
    plan: &Plan,
    mut opts: ApplyOptions,
    format: Format,
) -> Result<ApplyReport> {
    use std::io::IsTerminal;
    opts.progress = opts.progress && std::io::stderr().is_terminal();
    let cancel = Cancel::default();
    let watcher = {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("\nInterrupted: finishing requests in flight, starting no new ones...");
                cancel.cancel();
            }
        })
    };
    let report = apply::apply(client, plan_path, plan, &opts, &cancel).await;
    watcher.abort();
    let report = report?;
    let mut out = std::io::stdout().lock();
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &report).map_err(std::io::Error::other).and_then(|_| writeln!(out))
        }
        _ => render::apply_report(&report, &mut out, &RenderOptions::for_stdout()),
    }
    .map_err(stdout_err)?;
    Ok(report)
}

pub fn finish_apply(report: &ApplyReport, plan_path: &Path) -> Result<ExitCode> {
    if report.interrupted {
        let done = report.outcomes.iter().filter(|o| o.status == apply::OutcomeStatus::Done).count();
        return Err(Error::Interrupted {
            done: done + report.done_earlier,
            remaining: report.not_started,
            journal: apply::journal::path_for(plan_path),
            plan: plan_path.to_path_buf(),
        });
    }
    match report.failed() {
        0 => Ok(ExitCode::SUCCESS),
        failed => Err(Error::ApplyFailed { failed, total: report.outcomes.len() }),
    }
}

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
