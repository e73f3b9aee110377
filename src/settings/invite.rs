//! The invitation settings (`AUTH0_INVITE*`), a group that `apply`, `check` and
//! `auth0-sync invite` flatten, resolved into [`Invitations`] with every problem
//! collected.

use super::SettingsError;
use super::args::non_empty;
use super::error::{Problems, invalid, missing};
use crate::apply::invite::{DEFAULT_TICKET_TTL, Delivery, Invitations, MAX_TICKET_TTL, TicketInvites};
use crate::auth0::TicketRedirect;
use std::fmt;

/// Invitations of new users (`apply --invite`, `auth0-sync invite`).
#[derive(Clone, Default, clap::Args)]
#[command(next_help_heading = "Invitations")]
pub struct InviteArgs {
    /// Invite the users apply creates: none, email (Auth0 mails its change-password
    /// message), ticket (a password-change ticket handed to AUTH0_INVITE_COMMAND).
    #[arg(long = "invite", env = "AUTH0_INVITE", value_name = "none|email|ticket")]
    pub invite: Option<String>,
    /// Application the emails are sent for (needed by `email`; it must have the
    /// connection enabled); for `ticket`, the application the user lands in.
    #[arg(long = "invite-client-id", env = "AUTH0_INVITE_CLIENT_ID", value_name = "ID")]
    pub invite_client_id: Option<String>,
    /// `ticket`: where the user goes once the password is set (instead of a client id).
    #[arg(long = "invite-result-url", env = "AUTH0_INVITE_RESULT_URL", value_name = "URL")]
    pub invite_result_url: Option<String>,
    /// `ticket`: how long a ticket works (e.g. 5d, 12h; default 5d, at most 30d).
    #[arg(long = "invite-ttl", env = "AUTH0_INVITE_TTL", value_name = "DURATION")]
    pub invite_ttl: Option<String>,
    /// `ticket`: program (no shell) reading {"email","user_id","ticket","expires_at"} on stdin.
    #[arg(long = "invite-command", env = "AUTH0_INVITE_COMMAND", hide_env_values = true, value_name = "COMMAND")]
    pub invite_command: Option<String>,
}

impl fmt::Debug for InviteArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The command line may carry a credential of the delivery system.
        let hide = |v: &Option<String>| v.as_ref().map(|_| "***");
        f.debug_struct("InviteArgs")
            .field("invite", &self.invite)
            .field("invite_client_id", &self.invite_client_id)
            .field("invite_result_url", &self.invite_result_url)
            .field("invite_ttl", &self.invite_ttl)
            .field("invite_command", &hide(&self.invite_command))
            .finish()
    }
}

impl InviteArgs {
    /// The invitations these settings ask for, or every problem with them. `ticket`
    /// needs a delivery command: a ticket nobody delivers is useless.
    pub fn resolve(&self) -> Result<Invitations, SettingsError> {
        const MODE_HELP: &str = "set AUTH0_INVITE (or --invite) to none, email or ticket";
        let mode = non_empty(&self.invite).map(str::to_lowercase);
        match mode.as_deref() {
            None | Some("none") => Ok(Invitations::None),
            Some("email") => {
                let client_id = non_empty(&self.invite_client_id).ok_or_else(|| {
                    missing(
                        "AUTH0_INVITE_CLIENT_ID",
                        "--invite email needs AUTH0_INVITE_CLIENT_ID: the client id of the application users log in to, which must have the connection enabled (Auth0 sends the change-password email on its behalf)",
                    )
                })?;
                Ok(Invitations::Email { client_id: client_id.to_owned() })
            }
            Some("ticket") => self.tickets().map(Invitations::Ticket),
            Some(other) => Err(invalid("AUTH0_INVITE", format!("{other:?} is not an invitation mode"), MODE_HELP)),
        }
    }

    fn tickets(&self) -> Result<TicketInvites, SettingsError> {
        let mut p = Problems::default();
        let ttl = p.take(match non_empty(&self.invite_ttl) {
            None => Ok(DEFAULT_TICKET_TTL),
            Some(raw) => humantime::parse_duration(raw)
                .ok()
                .filter(|d| d.as_secs() >= 1 && *d <= MAX_TICKET_TTL && d.subsec_nanos() == 0)
                .ok_or_else(|| {
                    invalid(
                        "AUTH0_INVITE_TTL",
                        format!("{raw:?} is not a whole number of seconds from 1s to 30d"),
                        "set AUTH0_INVITE_TTL to how long a ticket works, e.g. 5d (Auth0's default), 48h or 7d",
                    )
                }),
        });
        let redirect = p.take(match (non_empty(&self.invite_result_url), non_empty(&self.invite_client_id)) {
            (Some(_), Some(_)) => Err(invalid(
                "AUTH0_INVITE_RESULT_URL",
                "it is set together with AUTH0_INVITE_CLIENT_ID, and Auth0 refuses a ticket with both",
                "for --invite ticket set AUTH0_INVITE_RESULT_URL (where the user goes after setting a password) or AUTH0_INVITE_CLIENT_ID (the application whose login follows), not both",
            )),
            (Some(url), None) => match reqwest::Url::parse(url) {
                Ok(u) if matches!(u.scheme(), "https" | "http") => Ok(TicketRedirect::ResultUrl(url.to_owned())),
                _ => Err(invalid(
                    "AUTH0_INVITE_RESULT_URL",
                    format!("{url:?} is not an http(s) URL"),
                    "set AUTH0_INVITE_RESULT_URL to a URL, e.g. https://app.acme.example/welcome",
                )),
            },
            (None, Some(client)) => Ok(TicketRedirect::ClientId(client.to_owned())),
            (None, None) => Ok(TicketRedirect::Default),
        });
        const COMMAND_HELP: &str = "set AUTH0_INVITE_COMMAND to a program that delivers the ticket, e.g. `/usr/local/bin/send-welcome --template new-hire`; it is run without a shell and reads {\"email\",\"user_id\",\"ticket\",\"expires_at\"} on stdin";
        let command = p.take(match non_empty(&self.invite_command) {
            None => Err(missing(
                "AUTH0_INVITE_COMMAND",
                &format!(
                    "--invite ticket needs a delivery command: a ticket nobody delivers is useless. {COMMAND_HELP}"
                ),
            )),
            Some(raw) => match shell_words::split(raw) {
                Ok(argv) if !argv.is_empty() => Ok(argv),
                Ok(_) => Err(missing("AUTH0_INVITE_COMMAND", COMMAND_HELP)),
                // The text is not quoted back: it may carry a credential.
                Err(e) => Err(invalid("AUTH0_INVITE_COMMAND", format!("its quoting is broken ({e})"), COMMAND_HELP)),
            },
        });
        p.finish()?;
        Ok(TicketInvites {
            ttl: ttl.expect("checked"),
            redirect: redirect.expect("checked"),
            delivery: Delivery::Command(command.expect("checked")),
        })
    }
}

#[cfg(test)]
mod invite_tests {
    use super::*;

    fn args(pairs: &[(&str, &str)]) -> InviteArgs {
        let get = |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_owned());
        InviteArgs {
            invite: get("mode"),
            invite_client_id: get("client"),
            invite_result_url: get("url"),
            invite_ttl: get("ttl"),
            invite_command: get("command"),
        }
    }

    #[test]
    fn modes_and_their_needs() {
        assert_eq!(args(&[]).resolve().unwrap(), Invitations::None);
        assert_eq!(args(&[("mode", "None"), ("ttl", "nonsense")]).resolve().unwrap(), Invitations::None);
        assert_eq!(
            args(&[("mode", "email"), ("client", "app")]).resolve().unwrap(),
            Invitations::Email { client_id: "app".into() }
        );
        assert_eq!(args(&[("mode", "email")]).resolve().unwrap_err().var(), "AUTH0_INVITE_CLIENT_ID");
        assert_eq!(args(&[("mode", "mail")]).resolve().unwrap_err().var(), "AUTH0_INVITE");
        // A ticket nobody delivers is refused.
        assert_eq!(args(&[("mode", "ticket")]).resolve().unwrap_err().var(), "AUTH0_INVITE_COMMAND");
    }

    #[test]
    fn tickets_defaults_argv_and_one_redirect() {
        let t = |pairs: &[(&str, &str)]| match args(pairs).resolve().unwrap() {
            Invitations::Ticket(t) => t,
            other => panic!("{other:?}"),
        };
        let d = t(&[("mode", "ticket"), ("command", r#"/opt/send --subject "Welcome aboard" -v"#)]);
        assert_eq!(d.ttl, DEFAULT_TICKET_TTL);
        assert_eq!(d.ttl.as_secs(), 432_000, "Auth0's default");
        assert_eq!(d.redirect, TicketRedirect::Default);
        let argv: Vec<String> = ["/opt/send", "--subject", "Welcome aboard", "-v"].map(String::from).into();
        assert_eq!(d.delivery, Delivery::Command(argv));
        let c = t(&[("mode", "ticket"), ("command", "x"), ("ttl", "2d"), ("client", "app")]);
        assert_eq!((c.ttl.as_secs(), c.redirect), (172_800, TicketRedirect::ClientId("app".into())));
        let u = t(&[("mode", "ticket"), ("command", "x"), ("url", "https://a.example/w")]);
        assert_eq!(u.redirect, TicketRedirect::ResultUrl("https://a.example/w".into()));
        // Every problem at once; the command's text is never quoted back.
        let bad = args(&[
            ("mode", "ticket"),
            ("command", "send 'token-SECRET"),
            ("ttl", "31d"),
            ("url", "https://a.example"),
            ("client", "app"),
        ]);
        let SettingsError::Several { problems } = bad.resolve().unwrap_err() else { panic!("several") };
        let vars: Vec<&str> = problems.iter().map(SettingsError::var).collect();
        assert_eq!(vars, ["AUTH0_INVITE_TTL", "AUTH0_INVITE_RESULT_URL", "AUTH0_INVITE_COMMAND"]);
        assert!(problems.iter().all(|p| !format!("{p:?} {p}").contains("SECRET")));
        assert!(!format!("{bad:?}").contains("SECRET"));
        for ttl in ["0s", "1.5s", "forever"] {
            let e = args(&[("mode", "ticket"), ("command", "x"), ("ttl", ttl)]).resolve().unwrap_err();
            assert_eq!(e.var(), "AUTH0_INVITE_TTL", "{ttl}");
        }
        let e = args(&[("mode", "ticket"), ("command", "x"), ("url", "ftp://a.example")]).resolve().unwrap_err();
        assert_eq!(e.var(), "AUTH0_INVITE_RESULT_URL");
    }
}
