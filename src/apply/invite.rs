//! Invitations: so that a user apply creates (who has a random password nobody knows)
//! can log in, `--invite email` has Auth0 mail its change-password message and
//! `--invite ticket` issues a password-change ticket and hands it to a delivery
//! command. Shared by apply (after a create) and `auth0-sync invite` (re-sends): the
//! modes, the checks before the first write, and one invitation end to end.

use super::report::FailureInfo;
use crate::auth0::{Auth0Client, Auth0Error, Connection, TicketRedirect};
use crate::settings::Secret;
use chrono::{DateTime, Utc};
use miette::Diagnostic;
use secrecy::ExposeSecret;
use std::time::Duration;
use thiserror::Error;

/// Auth0's default ticket lifetime: 5 days.
pub const DEFAULT_TICKET_TTL: Duration = Duration::from_secs(432_000);
/// The longest ticket lifetime accepted (Auth0 documents 30 days for invitations).
pub const MAX_TICKET_TTL: Duration = Duration::from_secs(2_592_000);
/// A delivery command still running after this is stopped; whether it delivered is
/// then unknown.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(120);

/// Whether and how users are invited.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Invitations {
    /// Nobody is invited (the users reset their password themselves).
    #[default]
    None,
    /// Auth0 mails its change-password message, sent on behalf of `client_id`, an
    /// application with the connection enabled.
    Email { client_id: String },
    /// A password-change ticket, delivered by `delivery`.
    Ticket(TicketInvites),
}

/// How tickets are issued and delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketInvites {
    /// `ttl_sec` of each ticket.
    pub ttl: Duration,
    pub redirect: TicketRedirect,
    pub delivery: Delivery,
}

/// Who hands a ticket to its user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// A program (no shell) that reads one JSON object on stdin:
    /// `{"email", "user_id", "ticket", "expires_at"}`; exit 0 means delivered. Its
    /// stdout and stderr go to the tool's stderr (so stdout stays the report).
    Command(Vec<String>),
    /// The demo's: prints `invited EMAIL` on stdout and throws the ticket away.
    Print,
}

impl Invitations {
    pub fn is_on(&self) -> bool {
        !matches!(self, Invitations::None)
    }

    /// `email`, `ticket` (`none` when off).
    pub fn mode(&self) -> &'static str {
        match self {
            Invitations::None => "none",
            Invitations::Email { .. } => "email",
            Invitations::Ticket(_) => "ticket",
        }
    }

    /// The journal's `begin` step of one invitation.
    pub fn begin_step(&self) -> &'static str {
        match self {
            Invitations::Ticket(_) => BEGIN_TICKET,
            _ => BEGIN_EMAIL,
        }
    }
}

/// Journal step names (see the journal's docs).
pub const BEGIN_EMAIL: &str = "invite_email";
pub const BEGIN_TICKET: &str = "invite_ticket";
pub const TICKET_ISSUED: &str = "ticket_issued";
pub const EMAIL_SENT: &str = "email_sent";
pub const TICKET_DELIVERED: &str = "ticket_delivered";
pub const INVITE_FAILED: &str = "invite_failed";

/// The detail of a change whose invitation an earlier run began and never saw end.
pub const UNCONFIRMED: &str = "invitation unconfirmed: an earlier run sent it and saw no answer, so it was not sent again (`auth0-sync invite EMAIL` re-sends it)";

/// What became of one invitation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// Auth0 sent the email, or the ticket was delivered.
    Sent { at: DateTime<Utc> },
    /// Nothing reached the user: Auth0 refused, or the delivery command failed.
    NotSent(FailureInfo),
    /// It may have reached the user: Auth0's answer was lost, or the delivery command
    /// did not finish. Not sent again (a second email voids the first one's link).
    Unconfirmed(FailureInfo),
}

/// Why invitations cannot be sent. Nothing was sent when one of these is returned
/// before the first write.
#[derive(Debug, Error, Diagnostic)]
pub enum InviteError {
    #[error(
        "the application {client_id:?} (AUTH0_INVITE_CLIENT_ID) does not have the connection {connection:?} enabled"
    )]
    #[diagnostic(
        code(auth0_sync::invite::client_not_enabled),
        help(
            "nothing was sent. Auth0 sends change-password emails only for an application the connection is enabled for: enable {connection} under Applications → {client_id} → Connections in the Auth0 Dashboard, or set AUTH0_INVITE_CLIENT_ID to one of the applications it is enabled for ({enabled}); or use --invite ticket"
        )
    )]
    ClientNotEnabled { client_id: String, connection: String, enabled: String },

    #[error("{} address(es) cannot be invited: {}", unknown.len() + blocked.len(), uninvitable(unknown, blocked, connection))]
    #[diagnostic(
        code(auth0_sync::invite::not_invitable),
        help(
            "nothing was sent. `auth0-sync invite` re-sends invitations to existing users of AUTH0_CONNECTION; new users are created (and invited with --invite) by plan and apply, and blocked users must be unblocked first"
        )
    )]
    NotInvitable { connection: String, unknown: Vec<String>, blocked: Vec<String> },

    #[error("connection {name:?} is not a database connection (strategy {strategy:?}); its users cannot be invited")]
    #[diagnostic(
        code(auth0_sync::invite::not_a_database),
        help(
            "nothing was sent. Invitations set a password, which only database connections (strategy \"auth0\") have; set AUTH0_CONNECTION to one"
        )
    )]
    NotADatabase { name: String, strategy: String },

    #[error("the delivery command {program:?} (AUTH0_INVITE_COMMAND) cannot be run: {why}")]
    #[diagnostic(
        code(auth0_sync::invite::no_delivery),
        help(
            "nothing was sent. Set AUTH0_INVITE_COMMAND to an executable (a path, or a name found in PATH); it is run without a shell and reads {{\"email\",\"user_id\",\"ticket\",\"expires_at\"}} on stdin"
        )
    )]
    NoDelivery { program: String, why: String },

    #[error("{failed} of {total} invitation(s) failed")]
    #[diagnostic(
        code(auth0_sync::invite::failed),
        help(
            "the failures are listed above with Auth0's answer or the delivery command's; fix the cause, then run `auth0-sync invite` again for those addresses"
        )
    )]
    Failed { failed: usize, total: usize },
}

fn uninvitable(unknown: &[String], blocked: &[String], connection: &str) -> String {
    let mut parts = Vec::new();
    if !unknown.is_empty() {
        parts.push(format!("no user of connection {connection:?} has {}", unknown.join(", ")));
    }
    if !blocked.is_empty() {
        parts.push(format!("blocked: {}", blocked.join(", ")));
    }
    parts.join("; ")
}

/// Before the first write: an email invitation needs its application to have the
/// connection enabled (`GET /api/v2/connections/{id}/clients`); a ticket needs a
/// delivery program that can be run. Ticket scopes are checked with the others
/// (`crate::scopes`).
pub async fn check(client: &Auth0Client, connection: &Connection, invitations: &Invitations) -> crate::Result<()> {
    if let Invitations::Ticket(TicketInvites { delivery: Delivery::Command(argv), .. }) = invitations {
        let program = argv.first().map(String::as_str).unwrap_or_default();
        find_program(program).map_err(|why| InviteError::NoDelivery { program: program.to_owned(), why })?;
    }
    let Invitations::Email { client_id } = invitations else { return Ok(()) };
    let enabled = client.connection_clients(&connection.id).await?;
    if enabled.iter().any(|c| c == client_id) {
        return Ok(());
    }
    Err(InviteError::ClientNotEnabled {
        client_id: client_id.clone(),
        connection: connection.name.clone(),
        enabled: if enabled.is_empty() { "none".into() } else { enabled.join(", ") },
    }
    .into())
}

/// Where `program` is: itself when it names a path, else the first executable of
/// that name in `PATH` (as the process will look for it).
pub fn find_program(program: &str) -> Result<std::path::PathBuf, String> {
    use std::path::{Path, PathBuf};
    fn executable(p: &Path) -> bool {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            p.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        }
        #[cfg(not(unix))]
        {
            p.is_file()
        }
    }
    if program.is_empty() {
        return Err("it is empty".into());
    }
    if program.contains(std::path::MAIN_SEPARATOR) {
        let p = PathBuf::from(program);
        return if executable(&p) { Ok(p) } else { Err("no executable file at that path".into()) };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| executable(p))
        .ok_or_else(|| "no executable of that name in PATH".into())
}

/// Invites one user: the email, or the ticket and its delivery. `issued` runs between
/// the ticket's answer and its delivery (apply journals it there).
pub async fn invite_one(
    client: &Auth0Client,
    invitations: &Invitations,
    connection: &str,
    user_id: &str,
    email: &str,
    issued: impl FnOnce() -> crate::Result<()>,
) -> crate::Result<Attempt> {
    let refused = |e: &Auth0Error| match e {
        Auth0Error::Unconfirmed { .. } => Attempt::Unconfirmed(FailureInfo::from(e)),
        _ => Attempt::NotSent(FailureInfo::from(e)),
    };
    match invitations {
        Invitations::None => Ok(Attempt::NotSent(FailureInfo::note("invitations are off (--invite none)"))),
        Invitations::Email { client_id } => match client.change_password_email(client_id, email, connection).await {
            Ok(()) => Ok(Attempt::Sent { at: Utc::now() }),
            Err(e) => Ok(refused(&e)),
        },
        Invitations::Ticket(t) => {
            let ttl = t.ttl.as_secs();
            let ticket = match client.password_change_ticket(user_id, email, ttl, true, &t.redirect).await {
                Ok(ticket) => ticket,
                Err(e) => return Ok(refused(&e)),
            };
            let expires_at = Utc::now() + chrono::Duration::seconds(ttl as i64);
            issued()?;
            Ok(deliver(&t.delivery, email, user_id, &ticket, expires_at).await)
        }
    }
}

/// Hands a ticket to its delivery; the ticket is never printed, logged or kept.
async fn deliver(
    delivery: &Delivery,
    email: &str,
    user_id: &str,
    ticket: &Secret,
    expires_at: DateTime<Utc>,
) -> Attempt {
    use secrecy::zeroize::Zeroize;
    use tokio::io::AsyncWriteExt;
    let argv = match delivery {
        Delivery::Print => {
            let line = format!("invited {}", crate::redact::log_email(email));
            crate::logging::bars().suspend(|| println!("{line}"));
            return Attempt::Sent { at: Utc::now() };
        }
        Delivery::Command(argv) => argv,
    };
    let Some((program, args)) = argv.split_first() else {
        return Attempt::NotSent(FailureInfo::note("AUTH0_INVITE_COMMAND is empty"));
    };
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::io::stderr())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true);
    // Out of the terminal's process group: Ctrl-C stops apply taking new work, but a
    // delivery under way is let finish.
    #[cfg(unix)]
    cmd.process_group(0);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return Attempt::NotSent(FailureInfo::note(format!(
                "could not start the delivery command {program:?} (AUTH0_INVITE_COMMAND): {e}"
            )));
        }
    };
    let mut payload = serde_json::to_vec(&serde_json::json!({
        "email": email,
        "user_id": user_id,
        "ticket": ticket.expose_secret(),
        "expires_at": expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    }))
    .expect("a JSON object always serialises");
    // One line, for line-based tools (`read`, `jq`).
    payload.push(b'\n');
    if let Some(mut stdin) = child.stdin.take() {
        // A command that does not read it all is judged by its exit status alone.
        let _ = stdin.write_all(&payload).await;
        let _ = stdin.shutdown().await;
    }
    payload.zeroize();
    match tokio::time::timeout(DELIVERY_TIMEOUT, child.wait()).await {
        Ok(Ok(status)) if status.success() => Attempt::Sent { at: Utc::now() },
        Ok(Ok(status)) => Attempt::NotSent(FailureInfo::note(format!(
            "the delivery command {program:?} (AUTH0_INVITE_COMMAND) failed ({status})"
        ))),
        Ok(Err(e)) => Attempt::Unconfirmed(FailureInfo::note(format!(
            "could not learn how the delivery command {program:?} ended: {e}"
        ))),
        Err(_) => {
            let _ = child.kill().await;
            Attempt::Unconfirmed(FailureInfo::note(format!(
                "the delivery command {program:?} did not finish within {} s and was stopped; it may have delivered the ticket",
                DELIVERY_TIMEOUT.as_secs()
            )))
        }
    }
}
