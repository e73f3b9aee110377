//! Sources turn rows of the HR query into a [`DesiredState`]; this module holds the
//! row normalisation shared by every backend (SQLite, SQL Server).

pub mod mssql;
pub mod sqlite;

use crate::fields::{METADATA_PREFIX, metadata_key_problem};
use crate::model::{DesiredState, DesiredUser, Profile, SourceColumns, Warning};
use crate::plan::SourceInfo;
use crate::settings::{SourceBackend, SourceSettings};
use miette::Diagnostic;
use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet};
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

    #[error("the query's column {column:?} cannot be synced: {reason}")]
    #[diagnostic(
        code(auth0_sync::source::bad_column),
        help(
            "name each metadata column app_metadata.<key>, the key without \".\" or \"$\" (e.g. SELECT cost_centre AS \"app_metadata.cost_centre\"), each key once, and never app_metadata.auth0_sync"
        )
    )]
    BadColumn { column: String, reason: String },

    #[error(transparent)]
    #[diagnostic(transparent)]
    Mssql(#[from] mssql::MssqlError),
}

/// The HR key column when `USERS_KEY_COLUMN` is unset.
pub const DEFAULT_KEY_COLUMN: &str = "employee_id";

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
    /// The HR key column (`USERS_KEY_COLUMN`).
    pub key: Option<usize>,
    /// `app_metadata.<key>` columns: the key and the column.
    pub metadata: Vec<(String, usize)>,
    columns: SourceColumns,
}

impl ColumnMap {
    /// With the default key column (`employee_id`).
    pub fn new<S: AsRef<str>>(names: &[S]) -> Result<Self, SourceError> {
        Self::with_key_column(names, DEFAULT_KEY_COLUMN)
    }

    /// Finds the columns; `key_column` names the HR key column (matched without regard
    /// to case).
    pub fn with_key_column<S: AsRef<str>>(names: &[S], key_column: &str) -> Result<Self, SourceError> {
        let find = |want: &str| names.iter().position(|n| n.as_ref().trim().eq_ignore_ascii_case(want.trim()));
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
        let mut metadata: Vec<(String, usize)> = Vec::new();
        for (i, n) in names.iter().enumerate() {
            let n = n.as_ref().trim();
            let Some(prefix) = n.get(..METADATA_PREFIX.len()).filter(|p| p.eq_ignore_ascii_case(METADATA_PREFIX))
            else {
                continue;
            };
            let key = &n[prefix.len()..];
            let bad = |reason: String| SourceError::BadColumn { column: n.to_owned(), reason };
            if let Some(reason) = metadata_key_problem(key) {
                return Err(bad(reason));
            }
            if metadata.iter().any(|(k, _)| k == key) {
                return Err(bad(format!("another column also sets app_metadata.{key}")));
            }
            metadata.push((key.to_owned(), i));
        }
        let key = find(key_column);
        let mut map = ColumnMap {
            email,
            role,
            roles,
            name: find("name"),
            given_name: find("given_name"),
            family_name: find("family_name"),
            key,
            metadata,
            columns: SourceColumns::default(),
        };
        map.columns = SourceColumns {
            key: key.map(|i| names[i].as_ref().trim().to_owned()),
            fields: [("name", map.name), ("given_name", map.given_name), ("family_name", map.family_name)]
                .into_iter()
                .filter(|(_, i)| i.is_some())
                .map(|(f, _)| f.to_owned())
                .chain(map.metadata.iter().map(|(k, _)| format!("{METADATA_PREFIX}{k}")))
                .collect(),
        };
        Ok(map)
    }

    /// The key column and the synced fields the query returns.
    pub fn columns(&self) -> SourceColumns {
        self.columns.clone()
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
            key: self.key.and_then(&mut cell),
            metadata: self.metadata.iter().map(|(k, i)| (k.clone(), cell(*i))).collect(),
        }
    }
}

/// Runs the configured query against the configured backend.
pub async fn load(settings: &SourceSettings) -> Result<(DesiredState, SourceInfo), SourceError> {
    let (state, kind, location) = match &settings.backend {
        SourceBackend::Sqlite { path } => {
            let path = path.clone();
            let query = settings.query.clone();
            let key_column = settings.key_column.clone();
            let state = tokio::task::spawn_blocking(move || sqlite::load_with(&path, &query, &key_column))
                .await
                .map_err(|e| SourceError::Query { message: e.to_string() })??;
            let location = match &settings.backend {
                SourceBackend::Sqlite { path } => path.display().to_string(),
                SourceBackend::Mssql(_) => unreachable!(),
            };
            (state, "sqlite", location)
        }
        SourceBackend::Mssql(m) => {
            let state =
                mssql::load_keyed(m, &settings.query, &mssql::Timeouts::default(), &settings.key_column).await?;
            (state, "mssql", mssql::location(m))
        }
    };
    let info = SourceInfo {
        kind: kind.to_owned(),
        location,
        rows: state.rows,
        users: state.users.len() as u64,
        key_column: state.columns.key.clone(),
        fields: state.columns.fields.iter().cloned().collect(),
    };
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
    /// The HR key cell.
    pub key: Option<String>,
    /// `app_metadata.<key>` cells, by key.
    pub metadata: Vec<(String, Option<String>)>,
}

pub use crate::email::normalize as normalize_email;
pub use crate::roles::split_list as split_roles;

/// Folds rows into a [`DesiredState`] one at a time, so a source can stream
/// rows without collecting them first.
#[derive(Debug, Default)]
pub struct DesiredStateBuilder {
    state: DesiredState,
    /// Each key and the first email the source gave it.
    key_owner: BTreeMap<String, String>,
    ambiguous: BTreeSet<String>,
}

impl DesiredStateBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// For a query that returned these columns (what [`ColumnMap::columns`] says).
    pub fn with_columns(columns: SourceColumns) -> Self {
        let mut b = Self::default();
        b.state.columns = columns;
        b
    }

    /// Records which columns the query returned (when they are known after the rows).
    pub fn set_columns(&mut self, columns: SourceColumns) {
        self.state.columns = columns;
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
        let key = clean(row.key);
        let metadata: BTreeMap<String, String> =
            row.metadata.into_iter().filter_map(|(k, v)| clean(v).map(|v| (k, v))).collect();
        if let Some(k) = &key {
            match self.key_owner.get(k) {
                Some(first) if *first != email => {
                    let message = format!(
                        "the HR key {k} is also given to {first} (an earlier row); the key is not used for these addresses: they are matched by email only, and a user holding the key is kept as it is"
                    );
                    self.conflicting_key(row_no, &email, message, [k.clone()]);
                }
                Some(_) => {}
                None => {
                    self.key_owner.insert(k.clone(), email.clone());
                }
            }
        }
        let roles = row.roles.into_iter().map(|r| r.trim().to_owned()).filter(|r| !r.is_empty());
        match self.state.users.entry(email.clone()) {
            Entry::Vacant(v) => {
                let profile = (!profile.is_empty()).then(|| Box::new(profile));
                v.insert(DesiredUser { email, roles: roles.collect(), profile, key, metadata });
            }
            Entry::Occupied(mut o) => {
                let user = o.get_mut();
                user.roles.extend(roles);
                let mut conflict = merge_profile(user.profile.get_or_insert_default(), profile);
                if user.profile.as_ref().is_some_and(|p| p.is_empty()) {
                    user.profile = None;
                }
                for (k, v) in metadata {
                    match user.metadata.entry(k) {
                        Entry::Vacant(e) => {
                            e.insert(v);
                        }
                        Entry::Occupied(e) if *e.get() != v && conflict.is_none() => {
                            conflict = Some(format!("app_metadata.{}", e.key()));
                        }
                        Entry::Occupied(_) => {}
                    }
                }
                let keys = match (user.key.clone(), key) {
                    (None, k) => {
                        user.key = k;
                        None
                    }
                    (Some(a), Some(b)) if a != b => Some((a, b)),
                    _ => None,
                };
                if let Some(conflict) = conflict {
                    self.state.warnings.push(Warning {
                        kind: "conflicting_duplicate".into(),
                        row: Some(row_no),
                        email: Some(email.clone()),
                        message: format!(
                            "{conflict} differs from an earlier row for the same email; the first value is kept"
                        ),
                    });
                }
                if let Some((a, b)) = keys {
                    let message = format!(
                        "this row gives {email} the HR key {b}, an earlier row {a}; neither key is used: the address is matched by email only, and a user holding either key is kept as it is"
                    );
                    self.conflicting_key(row_no, &email, message, [a, b]);
                }
            }
        }
    }

    fn conflicting_key<const N: usize>(&mut self, row: u64, email: &str, message: String, keys: [String; N]) {
        self.state.warnings.push(Warning {
            kind: "conflicting_key".into(),
            row: Some(row),
            email: Some(email.to_owned()),
            message,
        });
        self.ambiguous.extend(keys);
    }

    pub fn finish(mut self) -> DesiredState {
        if !self.ambiguous.is_empty() {
            for u in self.state.users.values_mut() {
                if u.key.as_ref().is_some_and(|k| self.ambiguous.contains(k)) {
                    u.key = None;
                }
            }
        }
        self.state.ambiguous_keys = self.ambiguous;
        self.state
    }
}

fn clean(v: Option<String>) -> Option<String> {
    v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// Fills fields `into` lacks from `from`; returns the name of the first field
/// where both have different values.
fn merge_profile(into: &mut Profile, from: Profile) -> Option<String> {
    let mut conflict = None;
    for (field, a, b) in [
        ("name", &mut into.name, from.name),
        ("given_name", &mut into.given_name, from.given_name),
        ("family_name", &mut into.family_name, from.family_name),
    ] {
        match (a.as_ref(), b) {
            (None, b) => *a = b,
            (Some(x), Some(y)) if *x != y => conflict = conflict.or(Some(field.to_owned())),
            _ => {}
        }
    }
    conflict
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(email: &str, roles: &[&str]) -> RawRow {
        RawRow { email: Some(email.into()), roles: roles.iter().map(|r| r.to_string()).collect(), ..RawRow::default() }
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
