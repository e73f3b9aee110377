//! `auth0-sync apply PLAN`: check a saved plan (seal, target, age, caps, drift) and
//! execute exactly that plan, with progress bars, a journal and a report.

use crate::apply::{self, ApplyOptions, ApplyReport, CreateVia};
use crate::auth0::Auth0Client;
use crate::error::{Error, Result};
use crate::plan::Plan;
use crate::render;
use crate::render::Format;
use crate::settings::args::{SafetyArgs, parse_age};
use crate::settings::{Auth0Settings, InviteArgs, SettingsError, Tenant, TenantArgs, both};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
#[command(after_help = super::output::MORE_SETTINGS)]
pub struct ApplyArgs {
    /// The plan file to execute (written by `auth0-sync plan`).
    pub plan: PathBuf,
    /// Apply the changes that still match the tenant and skip the drifted ones.
    #[arg(long)]
    pub skip_drifted: bool,
    /// Refuse plans older than this (e.g. 90s, 30m, 24h, 7d).
    #[arg(long, default_value = "24h", value_parser = parse_age)]
    pub max_plan_age: chrono::Duration,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64), help_heading = "Tenant", hide_short_help = true)]
    pub concurrency: u16,
    /// How to create users: api (one request each, random password), import
    /// (users-import jobs; users set a password through reset), auto (import from 200 creations up).
    #[arg(long, default_value = "api", value_parser = create_via_values(), hide_possible_values = true)]
    pub create_via: CreateVia,
    /// Users per role-assignment request (`POST /roles/{id}/users`).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u16).range(1..=1000), help_heading = "Tenant", hide_short_help = true)]
    pub role_batch_size: u16,
    /// The report: table (for people) or json (every outcome); markdown is for plans only.
    #[arg(long, default_value = "table", value_parser = clap::builder::TypedValueParser::map(
        clap::builder::PossibleValuesParser::new(["table", "json"]),
        |f| if f == "json" { Format::Json } else { Format::Table },
    ))]
    pub format: Format,
    /// Refuse plans not signed by this Ed25519 public key's private half (PEM).
    #[arg(long, env = "AUTH0_SYNC_VERIFY_KEY", value_name = "PATH", help_heading = "Safety rails")]
    pub verify_key: Option<PathBuf>,
    #[command(flatten)]
    pub tenant: TenantArgs,
    #[command(flatten)]
    pub safety: SafetyArgs,
    #[command(flatten)]
    pub invite: InviteArgs,
}

/// `--create-via`'s values, described in the user's terms for completions and man
/// pages (the enum's own docs name an internal constant).
fn create_via_values() -> impl clap::builder::TypedValueParser<Value = CreateVia> {
    use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
    PossibleValuesParser::new([
        PossibleValue::new("api").help("one POST /users each, with a random password"),
        PossibleValue::new("import").help("users-import jobs; users set a password through reset"),
        PossibleValue::new("auto").help(format!("import from {} creations up, the API below", apply::IMPORT_THRESHOLD)),
    ])
    .map(|v| <CreateVia as clap::ValueEnum>::from_str(&v, false).unwrap_or_default())
}

/// Everything `apply` needs, checked.
#[derive(Debug, Clone)]
pub struct ApplySettings {
    pub plan: PathBuf,
    pub tenant: Tenant,
    pub options: ApplyOptions,
    pub format: Format,
    /// AUTH0_SYNC_VERIFY_KEY: only plans signed by its private half are applied.
    pub verify_key: Option<PathBuf>,
}

impl ApplyArgs {
    pub fn resolve(&self) -> Result<ApplySettings, SettingsError> {
        let (tenant, invite) = both(self.tenant.resolve(), self.invite.resolve())?;
        Ok(ApplySettings {
            plan: self.plan.clone(),
            tenant,
            options: ApplyOptions {
                concurrency: self.concurrency.into(),
                progress: true,
                skip_drifted: self.skip_drifted,
                max_plan_age: self.max_plan_age,
                cap_flag: self.safety.cap_flag(),
                removal_cap_flags: self.safety.removal_cap_flags(),
                allow_empty_source: self.safety.allow_empty_source,
                role_batch_size: self.role_batch_size.into(),
                create_via: self.create_via,
                now: None,
                printer: crate::printer::Printer::default(),
                invite,
            },
            format: self.format,
            verify_key: self.verify_key.clone().filter(|p| !p.as_os_str().is_empty()),
        })
    }
}

pub async fn run(s: &ApplySettings, printer: &crate::printer::Printer) -> Result<ExitCode> {
    // The approval gate, before any request to Auth0: the signature (with a verify
    // key), then the cap the plan was approved with (a flag may only lower it).
    let verify_key = s.verify_key.as_deref().map(crate::gate::load_verify_key).transpose()?;
    let plan = crate::gate::read_plan(&s.plan, verify_key.as_ref())?;
    check_target(&plan, &s.tenant.auth0, &s.tenant.connection)?;
    // A flag above the approved cap is refused now; apply checks the cap again
    // against the tenant's user count when it has read the tenant.
    crate::gate::apply_cap(&plan, s.options.cap_flag, plan.changeset.summary.connection_users)?;
    crate::gate::removal_cap_flags(&plan, &s.options.removal_cap_flags)?;
    let options = s.options.clone();
    let client = Auth0Client::connect(&s.tenant.auth0).await?;
    let (json, journal) = (s.format == Format::Json, apply::journal::path_for(&s.plan));
    let notes = (&printer.stdout_options(), &printer.stderr_options());
    render::print_note(json, notes, |o, opts| render::apply_header(&plan, &s.plan, &journal, o, opts))
        .map_err(super::output::stdout_err)?;
    let report = apply_plan(&client, &s.plan, &plan, options, s.format, printer).await?;
    render::print_note(json, notes, |o, _| render::apply_footer(&journal, o)).map_err(super::output::stdout_err)?;
    finish_apply(&report, &s.plan)
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
    printer: &crate::printer::Printer,
) -> Result<ApplyReport> {
    use std::io::IsTerminal;
    opts.printer = printer.clone();
    opts.progress = opts.progress && std::io::stderr().is_terminal();
    let cancel = tokio_util::sync::CancellationToken::new();
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
    // A reader that went away (`| head`) is not a failure: the journal has it all.
    super::output::quiet_broken_pipe(match format {
        Format::Json => serde_json::to_value(&report)
            .map(|mut v| {
                if printer.redact() {
                    crate::redact::json(&mut v);
                }
                v
            })
            .and_then(|v| serde_json::to_writer_pretty(&mut out, &v))
            .map_err(std::io::Error::other)
            .and_then(|_| writeln!(out)),
        _ => render::apply_report(&report, &mut out, &printer.stdout_options()),
    })
    .map_err(super::output::stdout_err)?;
    Ok(report)
}

pub fn finish_apply(report: &ApplyReport, plan_path: &Path) -> Result<ExitCode> {
    if report.interrupted {
        return Err(Error::Interrupted {
            summary: report.summary.line(),
            journal: apply::journal::path_for(plan_path),
            plan: plan_path.to_path_buf(),
        });
    }
    match report.failed() {
        0 => Ok(ExitCode::SUCCESS),
        failed => Err(Error::ApplyFailed { failed, total: report.outcomes.len() }),
    }
}
