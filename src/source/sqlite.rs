//! SQLite source (rusqlite, bundled): the demo's HR table, and small setups.

use super::{BadRow, ColumnMap, DEFAULT_KEY_COLUMN, DesiredStateBuilder, SourceError};
use crate::model::DesiredState;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use std::path::Path;

/// Runs `query` read-only and folds its rows into a desired state (HR key column
/// `employee_id`).
pub fn load(path: &Path, query: &str) -> Result<DesiredState, SourceError> {
    load_with(path, query, DEFAULT_KEY_COLUMN)
}

/// [`load`] with the HR key in `key_column`.
pub fn load_with(path: &Path, query: &str, key_column: &str) -> Result<DesiredState, SourceError> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(|e| SourceError::SqliteOpen { path: path.display().to_string(), message: e.to_string() })?;
    let query_err = |e: rusqlite::Error| SourceError::Query { message: e.to_string() };
    let mut stmt = conn.prepare(query).map_err(query_err)?;
    let names: Vec<String> = stmt.column_names().map(str::to_owned).collect();
    let map = ColumnMap::with_key_column(&names, key_column)?;
    let mut rows = stmt.query([]).map_err(query_err)?;
    let mut builder = DesiredStateBuilder::with_columns(map.columns());
    let mut bad = Vec::new();
    let mut row_no = 0u64;
    while let Some(row) = rows.next().map_err(query_err)? {
        row_no += 1;
        let mut row_bad = Vec::new();
        let raw = map.row(|i| match row.get_ref(i) {
            Ok(ValueRef::Null) | Err(_) => None,
            Ok(ValueRef::Text(t)) => Some(String::from_utf8_lossy(t).into_owned()),
            Ok(ValueRef::Integer(n)) => Some(n.to_string()),
            Ok(ValueRef::Real(f)) => Some(f.to_string()),
            Ok(ValueRef::Blob(_)) => {
                row_bad.push(BadRow { row: row_no, column: names[i].clone(), found: "a BLOB".into() });
                None
            }
        });
        if row_bad.is_empty() {
            builder.push(raw);
        } else {
            bad.extend(row_bad);
        }
    }
    if !bad.is_empty() {
        return Err(SourceError::BadRows { rows: bad });
    }
    Ok(builder.finish())
}
