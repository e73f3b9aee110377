//! The SQLite source against real SQLite files.

use auth0_sync::source::{SourceError, sqlite};

fn db(sql: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hr.sqlite");
    rusqlite::Connection::open(&path).unwrap().execute_batch(sql).unwrap();
    (dir, path)
}

#[test]
fn columns_are_found_by_name_case_insensitively() {
    let (_d, p) = db("CREATE TABLE t(Role TEXT, EMAIL TEXT, Name TEXT);
        INSERT INTO t VALUES ('admin',' A@X.io','Ann'),('viewer','a@x.io','Ann'),(NULL,'b@x.io',NULL),('',  'c@x.io', NULL);");
    let s = sqlite::load(&p, "SELECT * FROM t").unwrap();
    assert_eq!(s.rows, 4);
    assert_eq!(s.users.len(), 3);
    assert_eq!(s.users["a@x.io"].roles.iter().collect::<Vec<_>>(), ["admin", "viewer"]);
    assert_eq!(s.users["a@x.io"].profile().name.as_deref(), Some("Ann"));
    assert!(s.users["b@x.io"].roles.is_empty());
    assert!(s.users["c@x.io"].roles.is_empty());
}

#[test]
fn roles_column_is_comma_separated_and_numbers_read_as_text() {
    let (_d, p) = db("CREATE TABLE t(email TEXT, roles TEXT, role INTEGER);
        INSERT INTO t VALUES ('a@x.io','admin, editor', 7);");
    let s = sqlite::load(&p, "SELECT email, roles, role FROM t").unwrap();
    assert_eq!(s.users["a@x.io"].roles.iter().collect::<Vec<_>>(), ["7", "admin", "editor"]);
}

#[test]
fn missing_email_column_lists_the_columns() {
    let (_d, p) = db("CREATE TABLE t(mail TEXT, role TEXT);");
    match sqlite::load(&p, "SELECT mail, role FROM t") {
        Err(SourceError::MissingColumn { column: "email", found, .. }) => assert_eq!(found, ["mail", "role"]),
        other => panic!("{other:?}"),
    }
}

#[test]
fn every_blob_email_is_reported_at_once() {
    let (_d, p) = db("CREATE TABLE t(email BLOB, role TEXT);
        INSERT INTO t VALUES (x'00ff','a'),('ok@x.io','a'),(x'01','b');");
    match sqlite::load(&p, "SELECT email, role FROM t") {
        Err(SourceError::BadRows { rows }) => {
            assert_eq!(rows.iter().map(|r| r.row).collect::<Vec<_>>(), [1, 3]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn bad_query_and_missing_file_are_diagnostics() {
    let (_d, p) = db("CREATE TABLE t(email TEXT, role TEXT);");
    assert!(matches!(sqlite::load(&p, "SELEC nope"), Err(SourceError::Query { .. })));
    let missing = std::path::Path::new("/nonexistent/dir/hr.sqlite");
    assert!(matches!(sqlite::load(missing, "SELECT 1"), Err(SourceError::SqliteOpen { .. })));
}
