//! `auth0-sync check`: tells an operator whether the configuration works, one row per
//! check, before they plan. Read-only on both sides.

use crate::auth0::Auth0Client;
use crate::error::Result;
use comfy_table::{Cell, Color, Table, presets::UTF8_FULL_CONDENSED};
use std::collections::BTreeSet;
use std::io::Write;
use std::process::ExitCode;

use crate::apply::Invitations;
use crate::auth0::Connection;
use crate::settings::{InviteArgs, PolicyArgs, SourceArgs, TenantArgs};

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub tenant: TenantArgs,
    #[command(flatten)]
    pub policy: PolicyArgs,
    #[command(flatten)]
    pub invite: InviteArgs,
}

/// Scopes the tool's Management API calls need (`update:users` for blocking and
/// unblocking, which any apply may do; `create:roles` only with `--create-missing-roles`
/// and so not checked).
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckRow {
    pub name: &'static str,
    /// `None` = skipped because an earlier check failed.
    pub ok: Option<bool>,
    pub detail: String,
}

fn row(name: &'static str, r: std::result::Result<String, String>) -> CheckRow {
    match r {
        Ok(detail) => CheckRow { name, ok: Some(true), detail },
        Err(detail) => CheckRow { name, ok: Some(false), detail },
    }
}

fn skipped(name: &'static str, why: &str) -> CheckRow {
    CheckRow { name, ok: None, detail: format!("skipped: {why}") }
}

/// Runs every check it can; never stops at the first failure.
pub async fn checks(args: &CheckArgs) -> Vec<CheckRow> {
    let mut rows = Vec::new();
    let mut source_roles: Option<BTreeSet<String>> = None;
    match args.source.resolve() {
        Err(e) => rows.push(row("source settings", Err(e.to_string()))),
        Ok(s) => {
            if let crate::settings::SourceBackend::Mssql(m) = &s.backend {
                for w in [crate::source::mssql::trust_warning(m), crate::source::mssql::plaintext_warning(m)]
                    .into_iter()
                    .flatten()
                {
                    rows.push(row("source TLS", Ok(format!("warning: {w}"))));
                }
            }
            match crate::source::load(&s).await {
                Err(e) => rows.push(row("source query", Err(diag_text(&e)))),
                Ok((state, info)) => {
                    let roles: BTreeSet<String> = state.role_names().into_iter().map(str::to_owned).collect();
                    rows.push(row("source reachable", Ok(format!("{} {}", info.kind, info.location))));
                    rows.push(row("columns found", Ok("email and role/roles".into())));
                    rows.push(row(
                        "query runs",
                        Ok(format!(
                            "{} rows, {} distinct users, {} distinct roles, {} warnings",
                            state.rows,
                            state.users.len(),
                            roles.len(),
                            state.warnings.len()
                        )),
                    ));
                    source_roles = Some(roles);
                }
            }
        }
    }

    let auth0 = match args.tenant.auth0() {
        Ok(a) => a,
        Err(e) => {
            rows.push(row("tenant settings", Err(e.to_string())));
            return rows;
        }
    };
    let client = match Auth0Client::connect(&auth0).await {
        Ok(c) => {
            rows.push(row("token obtained", Ok(format!("from {}", auth0.tenant))));
            c
        }
        Err(e) => {
            rows.push(row("token obtained", Err(diag_text(&e))));
            for n in ["scopes", "connection exists", "roles exist", "invitations"] {
                rows.push(skipped(n, "no token"));
            }
            return rows;
        }
    };
    let granted: BTreeSet<String> = client.scopes().into_iter().collect();
    let missing: Vec<&str> = REQUIRED_SCOPES.iter().copied().filter(|s| !granted.contains(*s)).collect();
    rows.push(row(
        "scopes",
        if missing.is_empty() {
            Ok(format!("all {} needed scopes granted", REQUIRED_SCOPES.len()))
        } else {
            Err(format!("missing: {} (grant them to the application in the Auth0 dashboard)", missing.join(" ")))
        },
    ));
    let connection = match args.tenant.connection() {
        Ok(c) => c,
        Err(e) => {
            rows.push(row("connection exists", Err(e.to_string())));
            return rows;
        }
    };
    let found = match client.connection_by_name(&connection).await {
        Ok(Some(c)) => {
            rows.push(row("connection exists", Ok(format!("{} ({})", c.name, c.id))));
            Some(c)
        }
        Ok(None) => {
            rows.push(row("connection exists", Err(format!("no connection named {connection:?}"))));
            None
        }
        Err(e) => {
            rows.push(row("connection exists", Err(diag_text(&e))));
            None
        }
    };
    match (source_roles, client.roles().await) {
        (None, _) => rows.push(skipped("roles exist", "the source could not be read")),
        (_, Err(e)) => rows.push(row("roles exist", Err(diag_text(&e)))),
        (Some(wanted), Ok(roles)) => {
            let have: BTreeSet<String> = roles.into_iter().map(|r| r.name).collect();
            let absent: Vec<&str> = wanted.iter().filter(|r| !have.contains(*r)).map(String::as_str).collect();
            rows.push(row(
                "roles exist",
                if absent.is_empty() {
                    Ok(format!("all {} source roles exist in the tenant", wanted.len()))
                } else {
                    Err(format!("not in the tenant: {}", absent.join(", ")))
                },
            ));
        }
    }
    rows.push(invitations_row(&client, &args.invite, &granted, found.as_ref()).await);
    rows
}

/// What `apply --invite` needs, checked as apply checks it before its first write:
/// for `email`, an application with the connection enabled; for `ticket`, the scope
/// `create:user_tickets` and a delivery command.
async fn invitations_row(
    client: &Auth0Client,
    args: &InviteArgs,
    granted: &BTreeSet<String>,
    connection: Option<&Connection>,
) -> CheckRow {
    const NAME: &str = "invitations";
    let invitations = match args.resolve() {
        Ok(i) => i,
        Err(e) => return row(NAME, Err(diag_text(&e))),
    };
    match invitations {
        Invitations::None => row(NAME, Ok("off (AUTH0_INVITE=none): new users are not invited".into())),
        Invitations::Email { client_id } => {
            let Some(c) = connection else { return skipped(NAME, "the connection was not found") };
            match client.connection_clients(&c.id).await {
                Err(e) => row(NAME, Err(diag_text(&e))),
                Ok(enabled) if enabled.contains(&client_id) => {
                    row(NAME, Ok(format!("email: sent for application {client_id}, which has {} enabled", c.name)))
                }
                Ok(enabled) => row(
                    NAME,
                    Err(format!(
                        "application {client_id} (AUTH0_INVITE_CLIENT_ID) does not have {} enabled (it is enabled for: {}); Auth0 would refuse the emails",
                        c.name,
                        if enabled.is_empty() { "none".to_owned() } else { enabled.join(", ") }
                    )),
                ),
            }
        }
        Invitations::Ticket(t) => {
            if !granted.contains("create:user_tickets") {
                return row(
                    NAME,
                    Err("ticket: missing scope create:user_tickets (grant it to the application in the Auth0 dashboard)".into()),
                );
            }
            let program = match &t.delivery {
                crate::apply::Delivery::Command(argv) => argv.first().cloned().unwrap_or_default(),
                crate::apply::Delivery::Print => "the demo's printer".into(),
            };
            if let crate::apply::Delivery::Command(_) = &t.delivery
                && let Err(why) = crate::apply::invite::find_program(&program)
            {
                return row(NAME, Err(format!("ticket: the delivery command {program:?} cannot be run: {why}")));
            }
            row(NAME, Ok(format!("ticket: valid {}, delivered by {program}", humantime::format_duration(t.ttl))))
        }
    }
}

fn diag_text(e: &dyn miette::Diagnostic) -> String {
    match e.help() {
        Some(h) => format!("{e} (help: {h})"),
        None => e.to_string(),
    }
}

pub fn render(rows: &[CheckRow], out: &mut impl Write, color: bool) -> std::io::Result<()> {
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED);
    if color {
        t.enforce_styling()
    } else {
        t.force_no_tty()
    };
    t.set_header(vec!["check", "result", "detail"]);
    for r in rows {
        let (text, col) = match r.ok {
            Some(true) => ("ok", Color::Green),
            Some(false) => ("FAIL", Color::Red),
            None => ("skip", Color::Yellow),
        };
        let c = if color { Cell::new(text).fg(col) } else { Cell::new(text) };
        t.add_row(vec![Cell::new(r.name), c, Cell::new(&r.detail)]);
    }
    writeln!(out, "{t}")
}

pub async fn run(args: &CheckArgs, out: &mut impl Write) -> Result<ExitCode> {
    let rows = checks(args).await;
    let opts = crate::render::RenderOptions::for_stdout();
    render(&rows, out, opts.color).map_err(|e| crate::Error::io("write to", std::path::Path::new("stdout"), e))?;
    let all_ok = rows.iter().all(|r| r.ok == Some(true));
    Ok(if all_ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
