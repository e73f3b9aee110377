//! Every way a Management API call can fail, keeping Auth0's `message` and
//! `errorCode`; no variant carries a secret.

use miette::Diagnostic;
use thiserror::Error;

#[derive(Debug, Error, Diagnostic)]
pub enum Auth0Error {
    /// The token endpoint refused the client credentials.
    #[error("Auth0 refused the client credentials ({status} {error}: {description})")]
    #[diagnostic(
        code(auth0_sync::auth0::token),
        help(
            "check AUTH0_CLIENT_ID and AUTH0_CLIENT_SECRET, and that the application is authorised for the Management API (audience {audience})"
        )
    )]
    Token { status: u16, error: String, description: String, audience: String },

    /// A Management API call answered with an error.
    #[error("Auth0 answered {status} to {method} {path}: {message}{}", error_code.as_deref().map(|c| format!(" (errorCode {c})")).unwrap_or_default())]
    #[diagnostic(code(auth0_sync::auth0::api), help("{help}"))]
    Api { method: String, path: String, status: u16, message: String, error_code: Option<String>, help: String },

    /// The tenant could not be reached at all.
    #[error("could not reach Auth0 at {url}: {message}")]
    #[diagnostic(
        code(auth0_sync::auth0::network),
        help("check AUTH0_URL, DNS and the network path to the tenant; the request was retried before giving up")
    )]
    Network { url: String, message: String },

    /// The tenant answered something this tool does not understand.
    #[error("unexpected answer from Auth0 to {method} {path}: {message}")]
    #[diagnostic(
        code(auth0_sync::auth0::decode),
        help("this is likely a bug in auth0-sync or an API change; run with -vv and report it")
    )]
    Decode { method: String, path: String, message: String },

    /// The users search can page through only the first 1000 results of a query.
    #[error(
        "connection {connection:?} has {total} users, more than the {limit} that Auth0's user search can page through"
    )]
    #[diagnostic(
        code(auth0_sync::auth0::too_many_users),
        help(
            "past {limit} users the snapshot reads the connection through a users-export job instead; this error means paging was asked for where only the export can go. Nothing was truncated and nothing was changed"
        )
    )]
    TooManyUsers { connection: String, total: u64, limit: u64 },

    /// A request that must not be sent twice failed after it may have reached Auth0.
    #[error("the outcome of {method} {path} is unknown: {message}")]
    #[diagnostic(
        code(auth0_sync::auth0::unconfirmed),
        help(
            "the connection to {url} failed after the request was sent, so Auth0 may or may not have carried it out; it was not retried, to avoid doing it twice. Make a new plan: it shows what the tenant holds now"
        )
    )]
    Unconfirmed { method: String, path: String, url: String, message: String },

    /// A users export held fewer users than Auth0's search counted.
    #[error("the users export of connection {connection:?} holds {got} users, but Auth0's search counts {expected}")]
    #[diagnostic(
        code(auth0_sync::auth0::incomplete_snapshot),
        help(
            "no plan was made: one from a partial list of users would create users that exist, change the wrong roles and compute the deletion cap from too few users. Up to {allowance} missing users are taken for search lag; run plan again in a few minutes, and if the gap stays, run with -vv and report it"
        )
    )]
    IncompleteSnapshot { connection: String, expected: u64, got: u64, allowance: u64 },

    /// An export or import job failed at Auth0.
    #[error("Auth0's {kind} job {job} failed: {details}")]
    #[diagnostic(
        code(auth0_sync::auth0::job_failed),
        help(
            "see the job in the tenant's logs (Monitoring → Logs); an import job may have created some of its users before it failed, so make a new plan to see the tenant as it is now"
        )
    )]
    JobFailed { kind: String, job: String, details: String },

    /// An export or import job did not finish in time.
    #[error("Auth0's {kind} job {job} did not finish within {waited}")]
    #[diagnostic(
        code(auth0_sync::auth0::job_timeout),
        help(
            "Auth0 was still working on it (jobs are queued; a large or busy tenant takes long): raise AUTH0_JOB_TIMEOUT or run again later. An import job that finishes later still creates its users: make a new plan before applying again"
        )
    )]
    JobTimeout { kind: String, job: String, waited: String },

    /// Ctrl-C cut a wait (a backoff, a job poll) before the request was sent.
    #[error("{method} {path} was not sent: the run was interrupted")]
    #[diagnostic(
        code(auth0_sync::auth0::cancelled),
        help("nothing was sent for it; run the same command again to carry on")
    )]
    Cancelled { method: String, path: String },
}

impl Auth0Error {
    /// HTTP status of an API error, if this is one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Auth0Error::Api { status, .. } | Auth0Error::Token { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Auth0's errorCode, if any.
    pub fn error_code(&self) -> Option<&str> {
        match self {
            Auth0Error::Api { error_code, .. } => error_code.as_deref(),
            Auth0Error::Token { error, .. } => Some(error),
            _ => None,
        }
    }
}
