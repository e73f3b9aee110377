//! `auth0-sync check`: tells an operator whether `plan` would work, one row per check,
//! before they plan. It resolves the settings as `plan` does, reads the source through
//! the same loader, reads the tenant, and runs the planner in memory, so that it fails
//! exactly where `plan` would refuse (and lists missing scopes, which `apply` would meet).
//! Read-only on both sides; writes no plan.

use crate::apply::Invitations;
use crate::auth0::Connection;
use crate::auth0::{Auth0Client, RoleLookup};
use crate::error::Result;
use crate::model::{DesiredState, TenantSnapshot, Warning};
use crate::plan::OnMissing;
use crate::planner::{self, Policy};
use crate::settings::args::SafetyArgs;
use crate::settings::{InviteArgs, PolicyArgs, SettingsError, SourceArgs, TenantArgs};
use comfy_table::{Cell, Color};
use std::collections::BTreeSet;
use std::io::Write;
use std::process::ExitCode;

use super::plan::{PlanArgs, PlanSettings};

/// `plan`'s arguments that change what it would refuse (no output or plan file).
#[derive(Debug, clap::Args)]
#[command(after_help = super::output::MORE_SETTINGS)]
pub struct CheckArgs {
    /// As for `plan`: what to do with connection users missing from the source.
    #[arg(long, value_enum, default_value_t, help_heading = "Policy")]
    pub on_missing: OnMissing,
    /// As for `plan`: roles the source names that the tenant lacks would be created.
    #[arg(long, help_heading = "Policy")]
    pub create_missing_roles: bool,
    /// As for `plan`: how to learn role membership (per-role, per-user, auto).
    #[arg(long, value_enum, default_value_t, hide_possible_values = true, help_heading = "Tenant")]
    pub role_lookup: RoleLookup,
    /// Reads in flight at once (within the request budget).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64), help_heading = "Tenant")]
    pub concurrency: u16,
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub tenant: TenantArgs,
    #[command(flatten)]
    pub policy: PolicyArgs,
    #[command(flatten)]
    pub safety: SafetyArgs,
    #[command(flatten)]
    pub invite: InviteArgs,
}

impl CheckArgs {
    /// The settings `plan` would run with, through `plan`'s own resolution (every
    /// problem at once, as one diagnostic).
    pub fn resolve(&self) -> Result<PlanSettings, SettingsError> {
        PlanArgs {
            on_missing: self.on_missing,
            create_missing_roles: self.create_missing_roles,
            role_lookup: self.role_lookup,
            concurrency: self.concurrency,
            source: self.source.clone(),
            tenant: self.tenant.clone(),
            policy: self.policy.clone(),
            safety: self.safety.clone(),
            ..PlanArgs::default()
        }
        .resolve()
    }
}

/// Scopes the tool's Management API calls need (`update:users` for blocking and
/// unblocking, which any apply may do; `create:roles` only with `--create-missing-roles`,
/// so checked only then).
pub const REQUIRED_SCOPES: &[&str] = &[
    "read:users",
    "create:users",
    "update:users",
    "delete:users",
    "read:roles",
    "read:role_members",
    "create:role_members",
    "delete:role_members",
    "read:connections",
];

/// How many source warnings a row shows (`plan` lists them all).
pub const WARNINGS_SHOWN: usize = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    /// Works, but look: `plan` will carry warnings, or TLS is weakened.
    Warn,
    /// `plan` (or `apply`, for scopes) would fail.
    Fail,
    /// Not checked because an earlier check failed.
    Skip,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckRow {
    pub name: &'static str,
    pub status: Status,
    pub detail: String,
}

fn row(name: &'static str, status: Status, detail: impl Into<String>) -> CheckRow {
    CheckRow { name, status, detail: detail.into() }
}

fn skipped(name: &'static str, why: &str) -> CheckRow {
    row(name, Status::Skip, format!("skipped: {why}"))
}

/// Runs every check it can with settings already resolved; never stops at the first
/// failure.
pub async fn checks(s: &PlanSettings, redact: bool, invite: &InviteArgs) -> Vec<CheckRow> {
    let mut rows = Vec::new();
    if let crate::settings::SourceBackend::Mssql(m) = &s.source.backend {
        for w in
            [crate::source::mssql::trust_warning(m), crate::source::mssql::plaintext_warning(m)].into_iter().flatten()
        {
            rows.push(row("source TLS", Status::Warn, format!("warning: {w}")));
        }
    }
    let desired = match crate::source::load(&s.source).await {
        Err(e) => {
            rows.push(row("source query", Status::Fail, diag_text(&e)));
            None
        }
        Ok((state, info)) => {
            rows.push(row("source reachable", Status::Ok, format!("{} {}", info.kind, info.location)));
            rows.push(row(
                "query runs",
                Status::Ok,
                format!(
                    "{} rows, {} distinct users, {} distinct roles",
                    state.rows,
                    state.users.len(),
                    state.role_names().len()
                ),
            ));
            rows.push(warnings_row(&state.warnings, redact));
            rows.push(users_row(&state, &s.policy));
            Some(state)
        }
    };

    let client = match Auth0Client::connect(&s.tenant.auth0).await {
        Ok(c) => {
            rows.push(row("token obtained", Status::Ok, format!("from {}", s.tenant.auth0.tenant)));
            c
        }
        Err(e) => {
            rows.push(row("token obtained", Status::Fail, diag_text(&e)));
            for n in ["scopes", "connection exists", "tenant read", "roles exist", "plan", "invitations"] {
                rows.push(skipped(n, "no token"));
            }
            return rows;
        }
    };
    rows.push(scopes_row(&client.scopes(), s.policy.create_missing_roles));
    let connection = &s.tenant.connection;
    let found = match client.connection_by_name(connection).await {
        Ok(Some(c)) => {
            rows.push(row("connection exists", Status::Ok, format!("{} ({})", c.name, c.id)));
            Some(c)
        }
        Ok(None) => {
            rows.push(row("connection exists", Status::Fail, format!("no connection named {connection:?}")));
            None
        }
        Err(e) => {
            rows.push(row("connection exists", Status::Fail, diag_text(&e)));
            None
        }
    };
    rows.push(invitations_row(&client, invite, &client.scopes(), found.as_ref()).await);
    if found.is_none() {
        rows.push(skipped("tenant read", "no connection"));
        // The roles do not depend on the connection: check them anyway.
        match (&desired, client.roles().await) {
            (None, _) => rows.push(skipped("roles exist", "the source could not be read")),
            (_, Err(e)) => rows.push(row("roles exist", Status::Fail, diag_text(&e))),
            (Some(desired), Ok(roles)) => {
                let tenant = TenantSnapshot {
                    roles: roles.into_iter().map(|r| (r.id.clone(), r)).collect(),
                    ..Default::default()
                };
                rows.push(roles_row(desired, &tenant, &s.policy));
            }
        }
        rows.push(skipped("plan", "no connection"));
        return rows;
    }
    let snapshot = match client.snapshot_with(connection, s.role_lookup, s.concurrency).await {
        Ok(t) => {
            let users = t.users.values().filter(|u| &u.connection == connection).count();
            rows.push(row(
                "tenant read",
                Status::Ok,
                format!("{users} users in {connection}, {} roles", t.roles.len()),
            ));
            t
        }
        Err(e) => {
            rows.push(row("tenant read", Status::Fail, diag_text(&e)));
            rows.push(skipped("roles exist", "the tenant could not be read"));
            rows.push(skipped("plan", "the tenant could not be read"));
            return rows;
        }
    };
    match desired {
        None => {
            rows.push(skipped("roles exist", "the source could not be read"));
            rows.push(skipped("plan", "the source could not be read"));
        }
        Some(desired) => {
            rows.push(roles_row(&desired, &snapshot, &s.policy));
            rows.push(plan_row(&desired, &snapshot, &s.policy));
        }
    }
    rows
}

/// What `apply --invite` needs, checked as apply checks it before its first write:
/// for `email`, an application with the connection enabled; for `ticket`, the scope
/// `create:user_tickets` and a delivery command.
async fn invitations_row(
    client: &Auth0Client,
    args: &InviteArgs,
    granted: &[String],
    connection: Option<&Connection>,
) -> CheckRow {
    const NAME: &str = "invitations";
    let invitations = match args.resolve() {
        Ok(i) => i,
        Err(e) => return row(NAME, Status::Fail, diag_text(&e)),
    };
    match invitations {
        Invitations::None => row(NAME, Status::Ok, "off (AUTH0_INVITE=none): new users are not invited"),
        Invitations::Email { client_id } => {
            let Some(c) = connection else { return skipped(NAME, "the connection was not found") };
            match client.connection_clients(&c.id).await {
                Err(e) => row(NAME, Status::Fail, diag_text(&e)),
                Ok(enabled) if enabled.contains(&client_id) => row(
                    NAME,
                    Status::Ok,
                    format!("email: sent for application {client_id}, which has {} enabled", c.name),
                ),
                Ok(enabled) => row(
                    NAME,
                    Status::Fail,
                    format!(
                        "application {client_id} (AUTH0_INVITE_CLIENT_ID) does not have {} enabled (it is enabled for: {}); Auth0 would refuse the emails",
                        c.name,
                        if enabled.is_empty() { "none".to_owned() } else { enabled.join(", ") }
                    ),
                ),
            }
        }
        Invitations::Ticket(t) => {
            if !granted.iter().any(|g| g == "create:user_tickets") {
                return row(
                    NAME,
                    Status::Fail,
                    "ticket: missing scope create:user_tickets (grant it to the application in the Auth0 dashboard)",
                );
            }
            let program = match &t.delivery {
                crate::apply::Delivery::Command(argv) => argv.first().cloned().unwrap_or_default(),
                crate::apply::Delivery::Print => "the demo's printer".into(),
            };
            if let crate::apply::Delivery::Command(_) = &t.delivery
                && let Err(why) = crate::apply::invite::find_program(&program)
            {
                return row(
                    NAME,
                    Status::Fail,
                    format!("ticket: the delivery command {program:?} cannot be run: {why}"),
                );
            }
            row(
                NAME,
                Status::Ok,
                format!("ticket: valid {}, delivered by {program}", humantime::format_duration(t.ttl)),
            )
        }
    }
}

/// The source's warnings, the first [`WARNINGS_SHOWN`] with their rows.
fn warnings_row(warnings: &[Warning], redact: bool) -> CheckRow {
    if warnings.is_empty() {
        return row("source warnings", Status::Ok, "none");
    }
    let mut lines = vec![format!("{} warning(s); `plan` records them all in the plan:", warnings.len())];
    for w in warnings.iter().take(WARNINGS_SHOWN) {
        let at = w.row.map(|r| format!("row {r}: ")).unwrap_or_default();
        lines.push(format!("{at}{}", crate::redact::text(&w.message, w.email.as_deref(), redact)));
    }
    if warnings.len() > WARNINGS_SHOWN {
        lines.push(format!("(and {} more)", warnings.len() - WARNINGS_SHOWN));
    }
    row("source warnings", Status::Warn, lines.join("\n"))
}

/// An empty (or all-invalid) source: what `plan` refuses first.
fn users_row(state: &DesiredState, policy: &Policy) -> CheckRow {
    if !state.users.is_empty() {
        return row("source has users", Status::Ok, format!("{} usable users", state.users.len()));
    }
    let why = if state.rows == 0 {
        "the query returned no rows".to_owned()
    } else {
        format!("none of the {} rows is usable (see the warnings)", state.rows)
    };
    if policy.allow_empty_source {
        row("source has users", Status::Warn, format!("{why}; --allow-empty-source: the plan removes every user"))
    } else {
        let refusal = crate::error::PlanError::EmptySource { rows: state.rows };
        row("source has users", Status::Fail, format!("{why}: {}", diag_text(&refusal)))
    }
}

fn scopes_row(granted: &[String], create_roles: bool) -> CheckRow {
    let granted: BTreeSet<&str> = granted.iter().map(String::as_str).collect();
    let needed: Vec<&str> = REQUIRED_SCOPES.iter().copied().chain(create_roles.then_some("create:roles")).collect();
    let missing: Vec<&str> = needed.iter().copied().filter(|s| !granted.contains(*s)).collect();
    if missing.is_empty() {
        row("scopes", Status::Ok, format!("all {} needed scopes granted", needed.len()))
    } else {
        row(
            "scopes",
            Status::Fail,
            format!("missing: {} (grant them to the application in the Auth0 dashboard)", missing.join(" ")),
        )
    }
}

/// Managed roles the source names that the tenant lacks, each with the tenant's role of
/// the same name in another case, if there is one.
fn roles_row(desired: &DesiredState, tenant: &TenantSnapshot, policy: &Policy) -> CheckRow {
    let have: Vec<&str> = tenant.roles.values().map(|r| r.name.as_str()).collect();
    let wanted: Vec<&str> = desired.role_names().into_iter().filter(|r| policy.manages(r)).collect();
    let absent: Vec<String> = wanted
        .iter()
        .filter(|r| !have.contains(*r))
        .map(|r| match have.iter().find(|h| h.to_lowercase() == r.to_lowercase()) {
            Some(h) => format!("{r} (did you mean {h}?)"),
            None => (*r).to_owned(),
        })
        .collect();
    match (absent.is_empty(), policy.create_missing_roles) {
        (true, _) => row("roles exist", Status::Ok, format!("all {} source roles exist in the tenant", wanted.len())),
        (false, true) => row(
            "roles exist",
            Status::Warn,
            format!("not in the tenant, `plan --create-missing-roles` creates them: {}", absent.join(", ")),
        ),
        (false, false) => row(
            "roles exist",
            Status::Fail,
            format!(
                "not in the tenant: {} (create them in Auth0, fix the source, or pass --create-missing-roles)",
                absent.join(", ")
            ),
        ),
    }
}

/// The planner run in memory with `plan`'s policy: its summary, or its refusal. When it
/// stops at a refusal reported above (empty source, unknown roles), it runs again past
/// them so that the removal cap is checked too.
fn plan_row(desired: &DesiredState, tenant: &TenantSnapshot, policy: &Policy) -> CheckRow {
    match planner::plan(desired, tenant, policy) {
        Ok(cs) => row("plan", Status::Ok, format!("would plan: {}", crate::render::summary_line(&cs.summary))),
        Err(e @ (crate::error::PlanError::TooManyDeletes { .. } | crate::error::PlanError::TooManyRemovals { .. })) => {
            row("plan", Status::Fail, diag_text(&e))
        }
        Err(first) => {
            let past = Policy {
                allow_empty_source: true,
                create_missing_roles: true,
                delete_cap: planner::DeleteCap::Unlimited,
                removal_caps: planner::RemovalCaps::UNLIMITED,
                ..policy.clone()
            };
            let cap = planner::plan(desired, tenant, &past).map(|cs| {
                let users = cs.summary.connection_users;
                planner::check_delete_cap(&cs, users, policy.delete_cap).and_then(|()| {
                    let base = planner::CapBase { connection_users: users, ..policy.cap_base(tenant) };
                    planner::check_removal_caps(&cs, &base, &policy.removal_caps)
                })
            });
            match cap {
                Ok(Err(e)) => row("plan", Status::Fail, format!("{}; also: {}", first, diag_text(&e))),
                _ => row("plan", Status::Fail, format!("would refuse: {first}")),
            }
        }
    }
}

fn diag_text(e: &dyn miette::Diagnostic) -> String {
    match e.help() {
        Some(h) => format!("{e} (help: {h})"),
        None => e.to_string(),
    }
}

pub fn render(rows: &[CheckRow], out: &mut impl Write, opts: &crate::render::RenderOptions) -> std::io::Result<()> {
    let mut t = crate::render::new_table(opts);
    t.set_header(vec!["check", "result", "detail"]);
    for r in rows {
        let (text, col) = match r.status {
            Status::Ok => ("ok", Color::Green),
            Status::Warn => ("warn", Color::Yellow),
            Status::Fail => ("FAIL", Color::Red),
            Status::Skip => ("skip", Color::Yellow),
        };
        let c = if opts.color { Cell::new(text).fg(col) } else { Cell::new(text) };
        t.add_row(vec![Cell::new(r.name), c, Cell::new(&r.detail)]);
    }
    writeln!(out, "{t}")
}

/// Resolves the settings as `plan` does (a problem there is the same diagnostic as
/// `plan`'s), runs the checks, prints them, and exits 1 if any failed.
pub async fn run(args: &CheckArgs, out: &mut impl Write, printer: &crate::printer::Printer) -> Result<ExitCode> {
    let settings = args.resolve()?;
    let opts = printer.stdout_options();
    let rows = checks(&settings, opts.redact, &args.invite).await;
    super::output::quiet_broken_pipe(render(&rows, out, &opts)).map_err(super::output::stdout_err)?;
    let failed = rows.iter().any(|r| matches!(r.status, Status::Fail | Status::Skip));
    Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
