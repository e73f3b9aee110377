//! SQL Server source through tiberius (real TDS).

use crate::model::DesiredState;
use crate::settings::MssqlSettings;
use miette::Diagnostic;
use thiserror::Error;

#[derive(Debug, Error, Diagnostic)]
pub enum MssqlError {
    #[error("SQL Server support is not built yet")]
    #[diagnostic(code(auth0_sync::source::mssql_unavailable), help("use USERS_DB_URL=sqlite:PATH for now"))]
    NotYet,
}

/// `server:port/database` (no credentials), for plans and output.
pub fn location(settings: &MssqlSettings) -> String {
    format!("{}:{}/{}", settings.server, settings.port, settings.database.as_deref().unwrap_or(""))
}

/// Runs `query` and folds its rows into a desired state.
pub async fn load(settings: &MssqlSettings, query: &str) -> Result<DesiredState, MssqlError> {
    let _ = (settings, query);
    Err(MssqlError::NotYet)
}
