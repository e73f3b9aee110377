//! Sources turn rows of the HR query into a [`DesiredState`]; this module holds the
//! row normalisation shared by every backend (SQLite, SQL Server).

pub mod mssql;
pub mod sqlite;

use crate::model::{DesiredState, DesiredUser, Profile, Warning};
use crate::plan::SourceInfo;
use crate::settings::{SourceBackend, SourceSettings};
use miette::Diagnostic;
use std::collections::btree_map::Entry;
use thiserror::Error;

#[derive(Debug, Error, Diagnostic)]
pub enum SourceError {
    #[error("could not open the SQLite database {path}: {message}")]
    #[diagnostic(
        code(auth0_sync::source::sqlite_open),
        help("check USERS_DB_URL=sqlite:PATH points at an existing SQLite file")
    )]
    SqliteOpen { path: String, message: String },

    #[error("the query failed: {message}")]
    #[diagnostic(
        code(auth0_sync::source::query),
        help("check USERS_DB_QUERY; it must be a SELECT returning an email column and a role or roles column")
    )]
    Query { message: String },

    #[error("the query returned no {column:?} column (it returned: {})", found.join(", "))]
    #[diagnostic(code(auth0_sync::source::missing_column), help("{help}"))]
    MissingColumn { column: &'static str, found: Vec<String>, help: &'static str },

    #[error("{} row(s) of the query could not be read", rows.len())]
    #[diagnostic(
        code(auth0_sync::source::bad_rows),
        help("fix these rows or the query (cast the columns to text); nothing was planned")
    )]
    BadRows {
        #[related]
        rows: Vec<BadRow>,
    },

    #[error(transparent)]
    #[diagnostic(transparent)]
    Mssql(#[from] mssql::MssqlError),
}

/// One row whose cells could not be read, reported together with all others.
#[derive(Debug, Error, Diagnostic)]
#[error("row {row}: column {column:?} holds {found}, not text")]
#[diagnostic(code(auth0_sync::source::bad_row))]
pub struct BadRow {
    pub row: u64,
    pub column: String,
    pub found: String,
}

/// Where the interesting columns are in a result, found by name case-insensitively.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ColumnMap {
    pub email: usize,
    pub role: Option<usize>,
    pub roles: Option<usize>,
    pub name: Option<usize>,
    pub given_name: Option<usize>,
    pub family_name: Option<usize>,
}

impl ColumnMap {
    pub fn new<S: AsRef<str>>(names: &[S]) -> Result<Self, SourceError> {
        let find = |want: &str| names.iter().position(|n| n.as_ref().trim().eq_ignore_ascii_case(want));
        let found = || names.iter().map(|n| n.as_ref().to_owned()).collect::<Vec<_>>();
        let email = find("email").ok_or_else(|| SourceError::MissingColumn {
            column: "email",
            found: found(),
            help: "make USERS_DB_QUERY return the address as a column named email, e.g. SELECT work_email AS email, role FROM ...",
        })?;
        let role = find("role");
        let roles = find("roles");
        if role.is_none() && roles.is_none() {
            return Err(SourceError::MissingColumn {
                column: "role",
                found: found(),
                help: "make USERS_DB_QUERY return a role column (one role per row) or a roles column (comma-separated)",
            });
        }
        Ok(ColumnMap {
            email,
            role,
            roles,
            name: find("name"),
            given_name: find("given_name"),
            family_name: find("family_name"),
        })
    }

    /// Builds a raw row from the text of each cell (None for NULL).
    pub fn row(&self, mut cell: impl FnMut(usize) -> Option<String>) -> RawRow {
        let mut roles = Vec::new();
        if let Some(i) = self.role {
            roles.extend(cell(i).map(|r| r.trim().to_owned()).filter(|r| !r.is_empty()));
        }
        if let Some(i) = self.roles {
            roles.extend(cell(i).map(|r| split_roles(&r)).unwrap_or_default());
        }
        RawRow {
            email: cell(self.email),
            roles,
            profile: Profile {
                name: self.name.and_then(&mut cell),
                given_name: self.given_name.and_then(&mut cell),
                family_name: self.family_name.and_then(&mut cell),
            },
        }
    }
}

/// Runs the configured query against the configured backend.
pub async fn load(settings: &SourceSettings) -> Result<(DesiredState, SourceInfo), SourceError> {
    let (state, kind, location) = match &settings.backend {
        SourceBackend::Sqlite { path } => {
            let path = path.clone();
            let query = settings.query.clone();
            let state = tokio::task::spawn_blocking(move || sqlite::load(&path, &query))
                .await
                .map_err(|e| SourceError::Query { message: e.to_string() })??;
            let location = match &settings.backend {
                SourceBackend::Sqlite { path } => path.display().to_string(),
                SourceBackend::Mssql(_) => unreachable!(),
            };
            (state, "sqlite", location)
        }
        SourceBackend::Mssql(m) => {
            let state = mssql::load(m, &settings.query).await?;
            (state, "mssql", mssql::location(m))
        }
    };
    let info = SourceInfo { kind: kind.to_owned(), location, rows: state.rows, users: state.users.len() as u64 };
    Ok((state, info))
}

/// One row of the query result, as text, before normalisation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawRow {
    pub email: Option<String>,
    /// Role names from the row: a `role` column gives at most one, a `roles`
    /// column gives a comma-separated list (split by [`split_roles`]).
    pub roles: Vec<String>,
    pub profile: Profile,
}

pub use crate::email::normalize as normalize_email;
pub use crate::roles::split_list as split_roles;

/// Folds rows into a [`DesiredState`] one at a time, so a source can stream
/// rows without collecting them first.
#[derive(Debug, Default)]
pub struct DesiredStateBuilder {
    state: DesiredState,
}

impl DesiredStateBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one row. Rows that cannot be used become warnings, never silent skips.
    pub fn push(&mut self, row: RawRow) {
        self.state.rows += 1;
        let row_no = self.state.rows;
        let raw_email = row.email.as_deref().map(str::trim).unwrap_or("");
        if raw_email.is_empty() {
            self.state.warnings.push(Warning {
                kind: "missing_email".into(),
                row: Some(row_no),
                email: None,
                message: "row has no email; it was not used".into(),
            });
            return;
        }
        let Some(email) = normalize_email(raw_email) else {
            self.state.warnings.push(Warning {
                kind: "invalid_email".into(),
                row: Some(row_no),
                email: Some(raw_email.to_owned()),
                message: format!("{raw_email:?} is not a valid email address; the row was not used"),
            });
            return;
        };
        let profile = Profile {
            name: clean(row.profile.name),
            given_name: clean(row.profile.given_name),
            family_name: clean(row.profile.family_name),
        };
        let roles = row.roles.into_iter().map(|r| r.trim().to_owned()).filter(|r| !r.is_empty());
        match self.state.users.entry(email.clone()) {
            Entry::Vacant(v) => {
                let profile = (!profile.is_empty()).then(|| Box::new(profile));
                v.insert(DesiredUser { email, roles: roles.collect(), profile });
            }
            Entry::Occupied(mut o) => {
                let user = o.get_mut();
                user.roles.extend(roles);
                if let Some(conflict) = merge_profile(user.profile.get_or_insert_default(), profile) {
                    self.state.warnings.push(Warning {
                        kind: "conflicting_duplicate".into(),
                        row: Some(row_no),
                        email: Some(email),
                        message: format!(
                            "{conflict} differs from an earlier row for the same email; the first value is kept"
                        ),
                    });
                }
            }
        }
    }

    pub fn finish(self) -> DesiredState {
        self.state
    }
}

fn clean(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// Fills fields `into` lacks from `from`; returns the name of the first field
/// where both have different values.
fn merge_profile(into: &mut Profile, from: Profile) -> Option<&'static str> {
    let mut conflict = None;
    for (field, a, b) in [
        ("name", &mut into.name, from.name),
        ("given_name", &mut into.given_name, from.given_name),
        ("family_name", &mut into.family_name, from.family_name),
    ] {
        match (a.as_ref(), b) {
            (None, b) => *a = b,
            (Some(x), Some(y)) if *x != y => conflict = conflict.or(Some(field)),
            _ => {}
        }
    }
    conflict
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(email: &str, roles: &[&str]) -> RawRow {
        RawRow {
            email: Some(email.into()),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            profile: Profile::default(),
        }
    }

    #[test]
    fn emails_are_trimmed_and_lowercased_and_rows_merge() {
        let mut b = DesiredStateBuilder::new();
        b.push(row("  Alice@Example.COM ", &["admin"]));
        b.push(row("alice@example.com", &["viewer", " "]));
        b.push(row("bob@example.com", &[]));
        let s = b.finish();
        assert_eq!(s.rows, 3);
        assert_eq!(s.users.len(), 2);
        let alice = &s.users["alice@example.com"];
        assert_eq!(alice.roles.iter().collect::<Vec<_>>(), ["admin", "viewer"]);
        assert!(s.users["bob@example.com"].roles.is_empty());
        assert!(s.warnings.is_empty());
    }

    #[test]
    fn invalid_and_missing_emails_become_warnings() {
        let mut b = DesiredStateBuilder::new();
        b.push(row("not-an-email", &["admin"]));
        b.push(RawRow::default());
        b.push(row("a@b@c.com", &[]));
        let s = b.finish();
        assert!(s.users.is_empty());
        let kinds: Vec<_> = s.warnings.iter().map(|w| (w.kind.as_str(), w.row)).collect();
        assert_eq!(kinds, [("invalid_email", Some(1)), ("missing_email", Some(2)), ("invalid_email", Some(3))]);
    }

    #[test]
    fn conflicting_profiles_warn_and_keep_the_first() {
        let mut b = DesiredStateBuilder::new();
        let mut r1 = row("a@x.io", &["r1"]);
        r1.profile.name = Some("Ann".into());
        let mut r2 = row("a@x.io", &["r2"]);
        r2.profile.name = Some("Anne".into());
        b.push(r1);
        b.push(r2);
        let s = b.finish();
        assert_eq!(s.users["a@x.io"].profile().name.as_deref(), Some("Ann"));
        assert_eq!(s.warnings.len(), 1);
        assert_eq!(s.warnings[0].kind, "conflicting_duplicate");
        assert_eq!(s.warnings[0].row, Some(2));
    }
}
