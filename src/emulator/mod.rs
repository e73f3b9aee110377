//! A local Auth0 tenant emulator: an HTTP server (axum) on a real socket that speaks
//! the token endpoint and the Management API paths the tool uses, with Auth0's shapes,
//! status codes, error bodies and limits. Never easier on the client than Auth0.

pub mod state;

pub use state::TenantState;

use crate::error::Error;
use std::net::SocketAddr;
use std::path::PathBuf;

/// A running emulator. Dropping it without [`Emulator::shutdown`] stops serving
/// without saving.
pub struct Emulator {}

impl Emulator {
    /// Binds `listen` (port 0 picks a free port) and starts serving `state`.
    /// On shutdown the state is written to `state_path` when given.
    pub async fn start(listen: SocketAddr, state: TenantState, state_path: Option<PathBuf>) -> Result<Emulator, Error> {
        let _ = (listen, state, state_path);
        unimplemented!("emulator helper")
    }

    pub fn addr(&self) -> SocketAddr {
        unimplemented!("emulator helper")
    }

    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// A copy of the current tenant state.
    pub async fn state(&self) -> TenantState {
        unimplemented!("emulator helper")
    }

    /// Stops serving, saves the state to `state_path` (if any) and returns it.
    pub async fn shutdown(self) -> Result<TenantState, Error> {
        unimplemented!("emulator helper")
    }
}

/// `auth0-sync emulator`: loads FILE, serves on LISTEN, prints
/// `listening on http://ADDR` as its first stdout line, saves FILE on SIGINT/SIGTERM.
pub async fn run(state_path: PathBuf, listen: SocketAddr) -> Result<(), Error> {
    let _ = (state_path, listen);
    unimplemented!("emulator helper")
}
