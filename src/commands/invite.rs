//! `auth0-sync invite EMAIL…`: sends the invitation again to existing users of the
//! connection (a lost email, an expired ticket), in the same modes and with the same
//! settings as `apply --invite`. Every address is looked up first; if any is unknown
//! (or blocked) nothing is sent.

use crate::apply::FailureInfo;
use crate::apply::invite::{self, Attempt, Invitations, InviteError};
use crate::auth0::Auth0Client;
use crate::error::{Error, Result};
use crate::settings::{InviteArgs, SettingsError, Tenant, TenantArgs, both};
use chrono::{DateTime, Utc};
use comfy_table::{Cell, Table, presets::UTF8_FULL_CONDENSED};
use serde::Serialize;
use std::collections::BTreeSet;
use std::io::Write;
use std::process::ExitCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum InviteFormat {
    /// A table for people.
    #[default]
    Table,
    /// Every invitation as JSON.
    Json,
}

#[derive(Debug, clap::Args)]
pub struct InviteCmdArgs {
    /// Emails of existing users of AUTH0_CONNECTION.
    #[arg(required = true, value_name = "EMAIL")]
    pub emails: Vec<String>,
    /// `table` prints a report; `json` prints every invitation as JSON.
    #[arg(long, value_enum, default_value_t)]
    pub format: InviteFormat,
    #[command(flatten)]
    pub tenant: TenantArgs,
    #[command(flatten)]
    pub invite: InviteArgs,
}

/// Everything `invite` needs, checked.
#[derive(Debug, Clone)]
pub struct InviteSettings {
    /// Normalised, each once, in the order given.
    pub emails: Vec<String>,
    pub tenant: Tenant,
    pub invitations: Invitations,
    pub format: InviteFormat,
}

impl InviteCmdArgs {
    pub fn resolve(&self) -> Result<InviteSettings, SettingsError> {
        let mut seen = BTreeSet::new();
        let mut emails = Vec::new();
        let mut bad = Vec::new();
        for raw in &self.emails {
            match crate::email::normalize(raw) {
                Some(e) if seen.insert(e.clone()) => emails.push(e),
                Some(_) => {}
                None => bad.push(raw.clone()),
            }
        }
        let emails_ok = if bad.is_empty() {
            Ok(())
        } else {
            Err(SettingsError::Invalid {
                var: "EMAIL",
                reason: format!("not an email address: {}", bad.join(", ")),
                help: "pass the email addresses of existing users of AUTH0_CONNECTION".into(),
            })
        };
        let invitations = self.invite.resolve().and_then(|i| match i {
            Invitations::None => Err(SettingsError::Missing {
                var: "AUTH0_INVITE",
                help: "`auth0-sync invite` needs a mode: pass --invite email or --invite ticket (or set AUTH0_INVITE)"
                    .into(),
            }),
            i => Ok(i),
        });
        let (tenant, (invitations, ())) = both(self.tenant.resolve(), both(invitations, emails_ok))?;
        Ok(InviteSettings { emails, tenant, invitations, format: self.format })
    }
}

/// One invitation of the report.
#[derive(Debug, Clone, Serialize)]
pub struct Invited {
    pub email: String,
    pub user_id: String,
    /// `sent`, `failed` or `unconfirmed` (it may have reached the user).
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<FailureInfo>,
}

#[derive(Debug, Clone, Serialize)]
pub struct InviteReport {
    /// `email` or `ticket`.
    pub mode: &'static str,
    pub invitations: Vec<Invited>,
}

pub async fn run(s: &InviteSettings, printer: &crate::printer::Printer) -> Result<ExitCode> {
    let client = Auth0Client::connect(&s.tenant.auth0).await?;
    let report = invite_users(&client, s, printer).await?;
    let mut out = std::io::stdout().lock();
    // A reader that went away (`| head`) is not a failure.
    super::output::quiet_broken_pipe(match s.format {
        InviteFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &report).map_err(std::io::Error::other).and_then(|_| writeln!(out))
        }
        InviteFormat::Table => render(&report, &mut out, printer.redact()),
    })
    .map_err(super::output::stdout_err)?;
    let failed = report.invitations.iter().filter(|i| i.status != "sent").count();
    match failed {
        0 => Ok(ExitCode::SUCCESS),
        failed => Err(InviteError::Failed { failed, total: report.invitations.len() }.into()),
    }
}

/// Checks everything (scopes, connection, the email application), finds every user,
/// then invites them one by one (each address at most once a minute).
pub async fn invite_users(
    client: &Auth0Client,
    s: &InviteSettings,
    printer: &crate::printer::Printer,
) -> Result<InviteReport> {
    let kind = match &s.invitations {
        Invitations::Ticket(_) => crate::scopes::Invitation::Ticket,
        Invitations::Email { .. } => crate::scopes::Invitation::Email,
        Invitations::None => crate::scopes::Invitation::None,
    };
    let granted: BTreeSet<String> = client.scopes().into_iter().collect();
    let missing: Vec<&str> =
        crate::scopes::for_invitations(kind).into_iter().filter(|n| !granted.contains(*n)).collect();
    if !missing.is_empty() {
        return Err(Error::MissingScopes {
            scopes: missing.iter().map(|m| (*m).to_owned()).collect(),
            details: missing.iter().map(|m| format!("{m} (needed by `auth0-sync invite`)")).collect(),
        });
    }
    let name = &s.tenant.connection;
    let Some(connection) = client.connection_by_name(name).await? else {
        return Err(Error::UnknownConnection { name: name.clone(), known: String::new() });
    };
    if connection.strategy != "auth0" {
        return Err(InviteError::NotADatabase { name: connection.name, strategy: connection.strategy }.into());
    }
    invite::check(client, &connection, &s.invitations).await?;

    let (mut found, mut unknown, mut blocked) = (Vec::new(), Vec::new(), Vec::new());
    for email in &s.emails {
        let users = client.find_by_email(email).await?;
        match users.into_iter().find(|u| u.connection == connection.name) {
            None => unknown.push(email.clone()),
            Some(u) if u.blocked => blocked.push(email.clone()),
            Some(u) => found.push((email.clone(), u.user_id)),
        }
    }
    if !unknown.is_empty() || !blocked.is_empty() {
        let mask = |v: Vec<String>| v.iter().map(|e| printer.email(e).into_owned()).collect();
        return Err(InviteError::NotInvitable {
            connection: connection.name,
            unknown: mask(unknown),
            blocked: mask(blocked),
        }
        .into());
    }

    let mut invitations = Vec::new();
    for (email, user_id) in found {
        let attempt =
            invite::invite_one(client, &s.invitations, &connection.name, &user_id, &email, printer, || Ok(())).await?;
        let log = printer.email(&email).into_owned();
        let (status, at, error) = match attempt {
            Attempt::Sent { at } => {
                tracing::info!(email = %log, user_id = %user_id, mode = s.invitations.mode(), "invited");
                ("sent", Some(at), None)
            }
            Attempt::NotSent(e) => {
                tracing::warn!(email = %log, user_id = %user_id, error = %e.message, "invitation failed");
                ("failed", None, Some(e))
            }
            Attempt::Unconfirmed(e) => {
                tracing::warn!(email = %log, user_id = %user_id, error = %e.message, "invitation unconfirmed");
                ("unconfirmed", None, Some(e))
            }
        };
        invitations.push(Invited { email, user_id, status, at, error });
    }
    Ok(InviteReport { mode: s.invitations.mode(), invitations })
}

/// One row per address: email, user id, what became of the invitation, and why.
pub fn render(report: &InviteReport, out: &mut impl Write, redact: bool) -> std::io::Result<()> {
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED);
    t.force_no_tty();
    t.set_header(vec!["email", "user_id", "invitation", "detail"]);
    for i in &report.invitations {
        let detail = match (&i.error, i.at) {
            (Some(e), _) => match (e.status, &e.error_code) {
                (Some(s), Some(c)) => format!("{s} {c}: {}", e.message),
                (Some(s), None) => format!("{s}: {}", e.message),
                _ => e.message.clone(),
            },
            (None, Some(at)) => format!("{} at {}", report.mode, at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            (None, None) => String::new(),
        };
        t.add_row(vec![
            Cell::new(crate::redact::email(&i.email, redact)),
            Cell::new(&i.user_id),
            Cell::new(i.status),
            Cell::new(crate::redact::text(&detail, None, redact)),
        ]);
    }
    writeln!(out, "{t}")?;
    let sent = report.invitations.iter().filter(|i| i.status == "sent").count();
    writeln!(out, "Invite: {sent} of {} invitation(s) sent ({}).", report.invitations.len(), report.mode)
}
