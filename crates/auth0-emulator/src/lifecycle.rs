//! Knobs for the readings of Auth0's user-lifecycle behaviour that the research notes
//! (`AUTH0-BEHAVIOUR.md` §6–§8, §10) leave uncertain: email changes, invitations,
//! session revocation and enabled clients. One field per reading, so that tests can run
//! the tool under each; gathered in one struct (and one flattened group of CLI flags)
//! so that they sit apart from the other knobs.

use clap::{Args, ValueEnum};

/// What a tenant answers on an Enterprise-only endpoint (sessions, refresh tokens) when
/// its plan lacks it (`AUTH0-BEHAVIOUR.md` §8: no source says which).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum FeatureAnswer {
    /// The endpoint works (an Enterprise tenant).
    #[default]
    Available,
    /// 403 `operation_not_supported` "The account is not allowed to perform this
    /// operation." (the answer Auth0 gives for other plan-gated operations).
    OperationNotSupported,
    /// Auth0's generic 404 for an unknown route: `{"statusCode":404,"error":"Not Found",
    /// "message":"Not Found"}`, without `errorCode`.
    NotFound,
    /// 403 `insufficient_scope`, as if the scope could not be granted.
    InsufficientScope,
}

/// What `POST /dbconnections/change_password` answers for an address no user of the
/// connection has (the Authentication API's OAS and its docs page disagree).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum UnknownEmail {
    /// 200 with the usual text, nothing sent (OAS: "the response is the same for
    /// security").
    #[default]
    Ok,
    /// 404 `{"error":"not_found","error_description":"User not found."}` (docs page).
    NotFound,
}

/// The `Content-Type` of the 200 text of `POST /dbconnections/change_password`
/// (uncertain; the body is always the sentence "We've just sent you an email to reset
/// your password.").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum ChangePasswordBody {
    /// `text/html; charset=utf-8`, the bare sentence.
    #[default]
    Html,
    /// `text/plain; charset=utf-8`, the bare sentence.
    Text,
    /// `application/json; charset=utf-8`, the sentence as a JSON string.
    JsonString,
}

/// The lifecycle readings of an emulator run (see the crate docs for each default).
#[derive(Debug, Clone, PartialEq)]
pub struct LifecycleOptions {
    /// `PATCH /users/{id}` with `email` and without `email_verified` sets
    /// `email_verified: false` (default true: the likely reading).
    pub patch_email_resets_verified: bool,
    /// `PATCH /users/{id}` refuses `password` together with `email`, `email_verified`
    /// or `username` (400 "Cannot update password and email simultaneously"; default
    /// true).
    pub patch_forbidden_combos: bool,
    /// `PATCH /users/{id}` of `email`, `email_verified`, `username` or `password`
    /// needs `connection` even for the primary identity (default false: the docs ask
    /// it for secondary identities only).
    pub patch_requires_connection: bool,
    /// See [`UnknownEmail`].
    pub change_password_unknown_email: UnknownEmail,
    /// See [`ChangePasswordBody`].
    pub change_password_body: ChangePasswordBody,
    /// `POST /dbconnections/change_password` refuses a `client_id` for which the
    /// connection is not enabled (default true).
    pub change_password_requires_enabled_client: bool,
    /// `POST /dbconnections/change_password` needs `client_id` (default true, as the
    /// OAS says; the docs page says optional).
    pub change_password_requires_client_id: bool,
    /// Largest `ttl_sec` of a password-change ticket (default `Some(2592000)`, the
    /// documented maximum of organization invitations; `None`: no maximum).
    pub ticket_ttl_max: Option<u64>,
    /// Tickets count against the per-address Change Password limit (10 at once, 1 a
    /// minute per address; default true).
    pub ticket_shares_address_limit: bool,
    /// `/api/v2/users/{id}/sessions` (Enterprise only).
    pub sessions_api: FeatureAnswer,
    /// `/api/v2/users/{id}/refresh-tokens` (Enterprise only).
    pub refresh_tokens_api: FeatureAnswer,
    /// `DELETE /users/{id}/sessions|refresh-tokens` of an unknown user answers 202
    /// (default false: 404 `inexistent_user`).
    pub revoke_unknown_user_accepted: bool,
    /// `GET /connections` still lists `enabled_clients` (the tenant toggle "Legacy
    /// Management of Connection's Enabled Clients", before its end of life on
    /// 2026-07-13; default false: the field is absent, use
    /// `GET /connections/{id}/clients`).
    pub legacy_enabled_clients: bool,
}

impl Default for LifecycleOptions {
    fn default() -> Self {
        LifecycleOptions {
            patch_email_resets_verified: true,
            patch_forbidden_combos: true,
            patch_requires_connection: false,
            change_password_unknown_email: UnknownEmail::Ok,
            change_password_body: ChangePasswordBody::Html,
            change_password_requires_enabled_client: true,
            change_password_requires_client_id: true,
            ticket_ttl_max: Some(2_592_000),
            ticket_shares_address_limit: true,
            sessions_api: FeatureAnswer::Available,
            refresh_tokens_api: FeatureAnswer::Available,
            revoke_unknown_user_accepted: false,
            legacy_enabled_clients: false,
        }
    }
}

/// The CLI flags of [`LifecycleOptions`] (flattened into `auth0-sync emulator`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Args)]
pub struct LifecycleArgs {
    /// Answer of `/api/v2/users/{id}/sessions` (Enterprise only): `available`, or what a
    /// tenant without the feature answers.
    #[arg(long, value_name = "ANSWER", value_enum, default_value_t = FeatureAnswer::Available)]
    pub sessions_api: FeatureAnswer,
    /// Answer of `/api/v2/users/{id}/refresh-tokens` (Enterprise only).
    #[arg(long, value_name = "ANSWER", value_enum, default_value_t = FeatureAnswer::Available)]
    pub refresh_tokens_api: FeatureAnswer,
    /// What `POST /dbconnections/change_password` answers for an unknown address.
    #[arg(long, value_name = "ANSWER", value_enum, default_value_t = UnknownEmail::Ok)]
    pub change_password_unknown_email: UnknownEmail,
    /// `GET /api/v2/connections` lists `enabled_clients` (the deprecated field).
    #[arg(long)]
    pub legacy_enabled_clients: bool,
    /// `PATCH /api/v2/users/{id}` of email, email_verified, username or password needs
    /// `connection`.
    #[arg(long)]
    pub patch_requires_connection: bool,
}

impl LifecycleArgs {
    /// The options these flags ask for (defaults for the rest).
    pub fn options(&self) -> LifecycleOptions {
        LifecycleOptions {
            sessions_api: self.sessions_api,
            refresh_tokens_api: self.refresh_tokens_api,
            change_password_unknown_email: self.change_password_unknown_email,
            legacy_enabled_clients: self.legacy_enabled_clients,
            patch_requires_connection: self.patch_requires_connection,
            ..LifecycleOptions::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: LifecycleArgs,
    }

    #[test]
    fn flags_map_to_options_and_default_to_an_enterprise_tenant() {
        let d = Cli::try_parse_from(["x"]).unwrap().args.options();
        assert_eq!(d, LifecycleOptions::default());
        let o = Cli::try_parse_from([
            "x",
            "--sessions-api",
            "operation-not-supported",
            "--refresh-tokens-api",
            "not-found",
            "--change-password-unknown-email",
            "not-found",
            "--legacy-enabled-clients",
            "--patch-requires-connection",
        ])
        .unwrap()
        .args
        .options();
        assert_eq!(o.sessions_api, FeatureAnswer::OperationNotSupported);
        assert_eq!(o.refresh_tokens_api, FeatureAnswer::NotFound);
        assert_eq!(o.change_password_unknown_email, UnknownEmail::NotFound);
        assert!(o.legacy_enabled_clients && o.patch_requires_connection);
        assert!(Cli::try_parse_from(["x", "--sessions-api", "maybe"]).is_err());
    }
}
