//! `auth0-sync demo`: the whole job in one command, with no credentials and no network.
//! Copies the shipped demo data (a SQLite HR table and a tenant state, embedded in the
//! binary from `examples/demo/`) to a temporary directory, starts the emulator
//! in-process on a free port, plans, applies the saved plan (inviting the new users
//! with `--invite ticket`), and plans again.
//!
//! A delivery command needs a program, and the demo must run anywhere with nothing
//! but the binary: its tickets go to a built-in delivery ([`Delivery::Print`]) that
//! prints `invited EMAIL` and throws the ticket away.

use super::apply::{apply_plan, check_target, finish_apply};
use super::output::print_plan;
use super::plan::{PlanArgs, PlanSettings, make_plan};
use crate::apply::invite::DEFAULT_TICKET_TTL;
use crate::apply::{ApplyOptions, Delivery, Invitations, TicketInvites};
use crate::auth0::Auth0Client;
use crate::auth0::TicketRedirect;
use crate::error::{Error, Result};
use crate::plan::Plan;
use crate::render::Format;
use crate::settings::{PolicyArgs, SourceArgs, TenantArgs};
use auth0_emulator::{Emulator, TenantState};
use std::path::Path;
use std::process::ExitCode;

const HR_DB: &[u8] = include_bytes!("../../examples/demo/hr.sqlite");
const TENANT: &str = include_str!("../../examples/demo/tenant.json");
/// The demo tenant's login application (the connection is enabled for it).
pub const DEMO_LOGIN_APP: &str = "demo-login-app";
/// The HR query of the demo: active employees, their HR key, roles, names and department.
pub const DEMO_QUERY: &str = "SELECT employee_id, email, role, name, given_name, family_name, department AS \"app_metadata.department\" FROM employees WHERE active = 1";
pub const DEMO_CONNECTION: &str = "Username-Password-Authentication";
pub const DEMO_IGNORE: &str = "ci-bot@acme.example,*@auditors.acme.example";

fn step(printer: &crate::printer::Printer, n: u8, text: &str) {
    printer.line(&format!("\n=== Step {n}: {text}\n"));
}

pub async fn run(printer: &crate::printer::Printer) -> Result<ExitCode> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("create temporary directory", Path::new("/tmp"), e))?;
    let db = dir.path().join("hr.sqlite");
    std::fs::write(&db, HR_DB).map_err(|e| Error::io("write", &db, e))?;
    let state_path = dir.path().join("tenant.json");
    std::fs::write(&state_path, TENANT).map_err(|e| Error::io("write", &state_path, e))?;
    let state: TenantState =
        serde_json::from_str(TENANT).map_err(|e| Error::Demo(format!("demo tenant state: {e}")))?;
    let app = state.clients.first().cloned().ok_or_else(|| Error::Demo("demo tenant has no client".into()))?;

    let emulator = Emulator::start(([127, 0, 0, 1], 0).into(), state, Some(state_path.clone())).await?;
    printer.line(&format!("Demo: emulated tenant at {} (state in {})", emulator.base_url(), state_path.display()));
    printer.line(&format!("Source: {} running {DEMO_QUERY:?}", db.display()));
    printer.line(&format!("Ignored users: {DEMO_IGNORE}"));

    let args = PlanArgs {
        source: SourceArgs {
            users_db_query: Some(DEMO_QUERY.into()),
            users_db_url: Some(format!("sqlite:{}", db.display())),
            ..SourceArgs::default()
        },
        tenant: TenantArgs {
            auth0_url: Some(emulator.base_url()),
            auth0_client_id: Some(app.client_id.clone()),
            auth0_client_secret: Some(app.client_secret.clone()),
            auth0_connection: Some(DEMO_CONNECTION.into()),
            ..TenantArgs::default()
        },
        policy: PolicyArgs { client_ignore_users: Some(DEMO_IGNORE.into()), ..PolicyArgs::default() },
        ..PlanArgs::default()
    };
    let result = demo_steps(&args.resolve()?, dir.path(), printer).await;
    emulator.shutdown().await?;
    result
}

async fn demo_steps(settings: &PlanSettings, dir: &Path, printer: &crate::printer::Printer) -> Result<ExitCode> {
    step(printer, 1, "plan: compare the HR table with the tenant");
    let plan = make_plan(settings).await?;
    let plan_path = dir.join("plans").join("demo-plan.json");
    plan.write_new(&plan_path, false)?;
    print_plan(&plan, Format::Table, printer)?;
    printer.line(&format!("Plan written to {}", plan_path.display()));

    step(printer, 2, "apply: execute exactly the saved plan, inviting the new users (--invite ticket)");
    let saved = Plan::read(&plan_path)?;
    let tenant = &settings.tenant;
    check_target(&saved, &tenant.auth0, &tenant.connection)?;
    let client = Auth0Client::connect(&tenant.auth0).await?;
    let invite = Invitations::Ticket(TicketInvites {
        ttl: DEFAULT_TICKET_TTL,
        redirect: TicketRedirect::ClientId(DEMO_LOGIN_APP.into()),
        delivery: Delivery::Print,
    });
    let opts = ApplyOptions { progress: true, invite, ..ApplyOptions::default() };
    let report = apply_plan(&client, &plan_path, &saved, opts, Format::Table, printer).await?;
    finish_apply(&report, &plan_path)?;

    step(printer, 3, "plan again: the tenant now matches the table");
    let again = make_plan(settings).await?;
    print_plan(&again, Format::Table, printer)?;
    if again.has_changes() {
        return Err(Error::Demo(format!(
            "the demo's second plan still has {} change(s); this is a bug",
            again.changeset.changes.len()
        )));
    }
    printer.line("\nDemo finished: plan → apply → plan converged with no changes left.");
    Ok(ExitCode::SUCCESS)
}
