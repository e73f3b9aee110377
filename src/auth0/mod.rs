//! Adapter for the Auth0 Management API v2: turns the tenant into model types and
//! carries out single changes. Errors keep Auth0's `message` and `errorCode`.

mod client;
mod endpoints;
mod error;
mod jobs;
pub mod limiter;
mod paging;
pub mod password;
pub mod retry;
mod snapshot;
mod token;
mod transport;
pub mod wire;

pub use client::{Auth0Client, Connection, PER_PAGE, SEARCH_LIMIT};
pub use endpoints::{EmailChange, UserPatch};
pub use error::Auth0Error;
pub use jobs::ImportUser;
pub use snapshot::RoleLookup;
