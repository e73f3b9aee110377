//! Adapter for the Auth0 Management API v2: turns the tenant into model types and
//! carries out single changes. Errors keep Auth0's `message` and `errorCode`.

mod client;
pub mod clock;
mod endpoints;
mod error;
mod export;
pub mod invites;
mod jobs;
pub mod limiter;
pub mod paging;
pub mod password;
pub mod retry;
pub mod sessions;
mod snapshot;
mod token;
mod transport;
pub mod wire;

pub use client::{Auth0Client, Connection, JOB_POLL_CAP, JOB_POLL_FLOOR, JobPolling, PER_PAGE, SEARCH_LIMIT};
pub use endpoints::{EmailChange, UserPatch};
pub use error::Auth0Error;
pub use invites::TicketRedirect;
pub use jobs::ImportUser;
pub use limiter::Group;
pub use paging::export_allowance;
pub use snapshot::RoleLookup;
