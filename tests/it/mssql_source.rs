//! The SQL Server source against `mssql-mock-tds` over plain TCP: rows, text, NULLs,
//! roles, large results, query errors, column problems, named instances.
//!
//! Gaps of the mock, covered another way:
//! - No BIT, DECIMAL, date/time or fixed CHAR/NCHAR columns: reading them as text is
//!   covered by the unit test `cells_read_as_text` in `src/source/mssql/mod.rs`
//!   (NCHAR arrives as the same `ColumnData::String` as NVARCHAR).
//! - The stock server answers in one packet with a 16-bit length (64 KB at most):
//!   `support::mock_sql` runs the crate's connection handler behind its own accept
//!   loop that splits responses into 4096-byte packets.
//! - Streaming (rows are never collected) is a property of the code path
//!   (`QueryStream::try_next` into `DesiredStateBuilder`); the 5000-row test shows
//!   a multi-packet result is read completely.
//! - A registered response holds one result set, so "several result sets"
//!   (`MssqlError::SeveralResultSets`) is not exercised here.

use crate::mock_sql::{MockSql, PASSWORD, error_response, quick, render, sql_browser, text, text_response};
use auth0_sync::source::SourceError;
use auth0_sync::source::mssql::{self, MssqlError};
use mssql_mock_tds::{ColumnDefinition, ColumnValue, QueryResponse, Row, SqlDataType};

const Q: &str = "SELECT email, role, name FROM hr.staff";

#[tokio::test]
async fn plain_tcp_login_and_query() {
    let mock = MockSql::start().await;
    mock.register(
        Q,
        QueryResponse::new(
            vec![
                ColumnDefinition::new("email", SqlDataType::NVarChar),
                ColumnDefinition::new("role", SqlDataType::NVarChar),
                ColumnDefinition::new("name", SqlDataType::NVarChar),
            ],
            vec![
                Row::new(vec![
                    ColumnValue::NVarChar(" Alice@Example.com ".into()),
                    ColumnValue::NVarChar("admin".into()),
                    ColumnValue::NVarChar("Alice".into()),
                ]),
                Row::new(vec![
                    ColumnValue::NVarChar("bob@example.com".into()),
                    ColumnValue::NVarChar("viewer".into()),
                    ColumnValue::NVarChar("Bob".into()),
                ]),
            ],
        ),
    )
    .await;
    let state = mssql::load_with(&mock.settings(), Q, &quick()).await.unwrap();
    assert_eq!(state.rows, 2);
    assert_eq!(state.users.keys().collect::<Vec<_>>(), ["alice@example.com", "bob@example.com"]);
    let alice = &state.users["alice@example.com"];
    assert_eq!(alice.roles.iter().collect::<Vec<_>>(), ["admin"]);
    assert_eq!(alice.profile().name.as_deref(), Some("Alice"));
    assert!(state.warnings.is_empty());
}

#[tokio::test]
async fn unicode_names_and_null_roles() {
    let mock = MockSql::start().await;
    let q = "SELECT email, role, name, given_name, family_name FROM hr.staff";
    mock.register_text(
        q,
        &["email", "role", "name", "given_name", "family_name"],
        &[
            vec![Some("zoe@example.com"), Some("admin"), Some("Zoë Ångström"), Some("Zoë"), Some("Ångström")],
            vec![Some("yamada@example.jp"), None, Some("山田 太郎"), Some("太郎"), Some("山田")],
            vec![Some("noname@example.com"), Some("viewer"), None, None, None],
        ],
    )
    .await;
    let state = mssql::load_with(&mock.settings(), q, &quick()).await.unwrap();
    assert_eq!(state.rows, 3);
    let zoe = &state.users["zoe@example.com"];
    assert_eq!(zoe.profile().name.as_deref(), Some("Zoë Ångström"));
    assert_eq!(zoe.profile().family_name.as_deref(), Some("Ångström"));
    let yamada = &state.users["yamada@example.jp"];
    assert_eq!(yamada.profile().name.as_deref(), Some("山田 太郎"));
    assert!(yamada.roles.is_empty(), "a NULL role means no role");
    let nobody = &state.users["noname@example.com"];
    assert_eq!(nobody.profile().name, None);
    assert!(state.warnings.is_empty());
}

#[tokio::test]
async fn several_rows_give_several_roles() {
    let mock = MockSql::start().await;
    let q = "SELECT email, role FROM hr.roles";
    mock.register_text(
        q,
        &["EMAIL", "Role"],
        &[
            vec![Some("a@x.io"), Some("admin")],
            vec![Some("A@X.io"), Some("editor")],
            vec![Some("a@x.io"), Some("viewer")],
            vec![Some("b@x.io"), Some("viewer")],
        ],
    )
    .await;
    let state = mssql::load_with(&mock.settings(), q, &quick()).await.unwrap();
    assert_eq!(state.rows, 4);
    assert_eq!(state.users["a@x.io"].roles.iter().collect::<Vec<_>>(), ["admin", "editor", "viewer"]);
    assert_eq!(state.users.len(), 2);
}

#[tokio::test]
async fn comma_separated_roles_column() {
    let mock = MockSql::start().await;
    let q = "SELECT email, roles FROM hr.people";
    mock.register_text(
        q,
        &["email", "roles"],
        &[
            vec![Some("a@x.io"), Some("admin, editor ,,viewer")],
            vec![Some("b@x.io"), Some("")],
            vec![Some("c@x.io"), None],
        ],
    )
    .await;
    let state = mssql::load_with(&mock.settings(), q, &quick()).await.unwrap();
    assert_eq!(state.users["a@x.io"].roles.iter().collect::<Vec<_>>(), ["admin", "editor", "viewer"]);
    assert!(state.users["b@x.io"].roles.is_empty());
    assert!(state.users["c@x.io"].roles.is_empty());
}

#[tokio::test]
async fn numeric_and_varchar_columns_read_as_text() {
    let mock = MockSql::start().await;
    let q = "SELECT email, role, name FROM hr.typed";
    mock.register(
        q,
        QueryResponse::new(
            vec![
                ColumnDefinition::new("email", SqlDataType::VarCharMax),
                ColumnDefinition::new("role", SqlDataType::Int),
                ColumnDefinition::new("name", SqlDataType::BigInt),
            ],
            vec![
                Row::new(vec![
                    ColumnValue::VarCharMax(vec![b"c@x.io".to_vec()]),
                    ColumnValue::Int(42),
                    ColumnValue::BigInt(-7),
                ]),
                Row::new(vec![ColumnValue::VarCharMax(vec![b"d@x.io".to_vec()]), ColumnValue::Null, ColumnValue::Null]),
            ],
        ),
    )
    .await;
    let state = mssql::load_with(&mock.settings(), q, &quick()).await.unwrap();
    let c = &state.users["c@x.io"];
    assert_eq!(c.roles.iter().collect::<Vec<_>>(), ["42"]);
    assert_eq!(c.profile().name.as_deref(), Some("-7"));
    let d = &state.users["d@x.io"];
    assert!(d.roles.is_empty());
    assert_eq!(d.profile().name, None);
}

#[tokio::test]
async fn result_larger_than_one_packet_is_read_completely() {
    let mock = MockSql::start().await;
    let q = "SELECT email, role, name FROM hr.big";
    let rows: Vec<(String, String, String)> = (0..5000)
        .map(|i| (format!("user{i:05}@example.com"), format!("role{}", i % 7), format!("Ünïcode Person {i}")))
        .collect();
    let cells: Vec<Vec<Option<&str>>> =
        rows.iter().map(|(e, r, n)| vec![Some(e.as_str()), Some(r.as_str()), Some(n.as_str())]).collect();
    let response = text_response(&["email", "role", "name"], &cells);
    mock.register(q, response).await;
    let state = mssql::load_with(&mock.settings(), q, &quick()).await.unwrap();
    assert_eq!(state.rows, 5000);
    assert_eq!(state.users.len(), 5000);
    let last = &state.users["user04999@example.com"];
    assert_eq!(last.roles.iter().collect::<Vec<_>>(), ["role1"]);
    assert_eq!(last.profile().name.as_deref(), Some("Ünïcode Person 4999"));
}

#[tokio::test]
async fn server_error_names_number_and_message() {
    let mock = MockSql::start().await;
    let q = "SELECT email, role FROM hr.nope";
    mock.register(q, error_response(208, "Invalid object name 'hr.nope'.")).await;
    let e = mssql::load_with(&mock.settings(), q, &quick()).await.unwrap_err();
    let text = render(&e);
    assert!(
        matches!(&e, MssqlError::Query { number: 208, message, .. } if message == "Invalid object name 'hr.nope'."),
        "{text}"
    );
    assert!(text.contains("error 208"), "{text}");
    assert!(text.contains("auth0_sync::source::mssql_query"), "{text}");
    assert!(text.contains("USERS_DB_QUERY"), "{text}");
    assert!(!text.contains(PASSWORD));
}

#[tokio::test]
async fn missing_email_column_lists_the_columns() {
    let mock = MockSql::start().await;
    let q = "SELECT work_mail, role FROM hr.staff";
    mock.register_text(q, &["work_mail", "role"], &[vec![Some("a@x.io"), Some("r")]]).await;
    let e = mssql::load_with(&mock.settings(), q, &quick()).await.unwrap_err();
    let text = render(&e);
    match e {
        MssqlError::Rows(inner) => match *inner {
            SourceError::MissingColumn { column, found, .. } => {
                assert_eq!(column, "email");
                assert_eq!(found, ["work_mail", "role"]);
            }
            other => panic!("wrong error {other:?}"),
        },
        other => panic!("wrong error {other:?}"),
    }
    assert!(text.contains("auth0_sync::source::missing_column"), "{text}");
    assert!(text.contains("work_mail, role"), "{text}");
}

#[tokio::test]
async fn binary_email_cells_are_all_reported() {
    let mock = MockSql::start().await;
    let q = "SELECT email, role FROM hr.binary";
    mock.register(
        q,
        QueryResponse::new(
            vec![
                ColumnDefinition::new("email", SqlDataType::VarBinaryMax),
                ColumnDefinition::new("role", SqlDataType::NVarCharMax),
            ],
            vec![
                Row::new(vec![ColumnValue::VarBinaryMax(vec![vec![0xde, 0xad]]), text(Some("admin"))]),
                Row::new(vec![ColumnValue::VarBinaryMax(vec![b"ok@x.io".to_vec()]), text(Some("viewer"))]),
            ],
        ),
    )
    .await;
    let e = mssql::load_with(&mock.settings(), q, &quick()).await.unwrap_err();
    let text = render(&e);
    assert!(text.contains("auth0_sync::source::bad_rows"), "{text}");
    let MssqlError::Rows(inner) = e else { panic!("{text}") };
    let SourceError::BadRows { rows } = *inner else { panic!("{text}") };
    assert_eq!(
        rows.iter().map(|r| (r.row, r.column.as_str(), r.found.as_str())).collect::<Vec<_>>(),
        [(1, "email", "binary data"), (2, "email", "binary data")]
    );
    assert!(text.contains("related: row 2"), "{text}");
}

#[tokio::test]
async fn a_statement_without_result_set_is_reported() {
    let mock = MockSql::start().await;
    // The mock answers unregistered batches with a bare DONE: no result set.
    let e = mssql::load_with(&mock.settings(), "UPDATE hr.staff SET x = 1", &quick()).await.unwrap_err();
    assert!(matches!(e, MssqlError::NoResultSet), "{e:?}");
}

#[tokio::test]
async fn connection_string_wins_over_the_fields() {
    let mock = MockSql::start().await;
    let q = "SELECT email, role FROM hr.cs";
    mock.register_text(q, &["email", "role"], &[vec![Some("cs@x.io"), Some("r")]]).await;
    let mut s = mock.settings();
    s.server = "192.0.2.1".into(); // would not answer: the connection string must win
    s.port = 1;
    s.connection_string = Some(auth0_sync::settings::Secret::from(format!(
        "server=tcp:127.0.0.1,{};database=hr;user id=sync;password='{PASSWORD};x';encrypt=DANGER_PLAINTEXT",
        mock.addr.port()
    )));
    assert_eq!(mssql::location(&s), format!("127.0.0.1:{}/hr", mock.addr.port()));
    let state = mssql::load_with(&s, q, &quick()).await.unwrap();
    assert!(state.users.contains_key("cs@x.io"));
}

#[tokio::test]
async fn named_instance_is_resolved_through_sql_browser() {
    let mock = MockSql::start().await;
    let q = "SELECT email, role FROM hr.inst";
    mock.register_text(q, &["email", "role"], &[vec![Some("i@x.io"), Some("r")]]).await;
    let (browser_port, _browser) = sql_browser("HRINST", mock.addr.port()).await;
    let mut s = mock.settings();
    s.instance = Some("HRINST".into());
    // With an instance, the port is the SQL Browser's (UDP) port.
    s.port = browser_port;
    assert_eq!(mssql::location(&s), format!("127.0.0.1\\HRINST:{browser_port}/hr"));
    let state = mssql::load_with(&s, q, &quick()).await.unwrap();
    assert!(state.users.contains_key("i@x.io"));
}

#[tokio::test]
async fn unknown_instance_is_a_connect_error_naming_it() {
    let (browser_port, _browser) = sql_browser("OTHER", 1).await;
    let mock = MockSql::start().await;
    let mut s = mock.settings();
    s.instance = Some("HRINST".into());
    s.port = browser_port;
    let e = mssql::load_with(&s, Q, &quick()).await.unwrap_err();
    let text = render(&e);
    assert!(text.contains("auth0_sync::source::mssql_connect"), "{text}");
    assert!(text.contains("instance HRINST"), "{text}");
    assert!(text.contains("SQL Browser"), "{text}");
}

#[tokio::test]
async fn probe_reports_columns_and_rows() {
    let mock = MockSql::start().await;
    let q = "SELECT email, roles FROM hr.probe";
    mock.register_text(q, &["email", "roles"], &[vec![Some("a@x.io"), Some("r")], vec![Some("b@x.io"), None]]).await;
    let p = mssql::probe(&mock.settings(), q, &quick()).await.unwrap();
    assert_eq!(p.columns, ["email", "roles"]);
    assert_eq!(p.rows, 2);
    assert_eq!(p.location, format!("127.0.0.1:{}/hr", mock.addr.port()));
}

#[tokio::test]
async fn an_error_before_the_result_set_fails_the_run() {
    // e.g. `RAISERROR(...); SELECT ...`: the rows that follow must not be used as if
    // nothing happened.
    let mock = MockSql::start().await;
    let q = "SELECT email, role FROM hr.half";
    mock.register(
        q,
        text_response(&["email", "role"], &[vec![Some("a@x.io"), Some("r")]])
            .with_leading_error(mssql_mock_tds::LeadingError::new(50000, 16, "hr feed is stale")),
    )
    .await;
    let e = mssql::load_with(&mock.settings(), q, &quick()).await.unwrap_err();
    assert!(matches!(&e, MssqlError::Query { number: 50000, message, .. } if message == "hr feed is stale"), "{e:?}");
}

#[tokio::test]
async fn informational_messages_after_the_rows_are_ignored() {
    let mock = MockSql::start().await;
    let q = "SELECT email, role FROM hr.warn";
    mock.register_with_trailing_info(
        q,
        text_response(&["email", "role"], &[vec![Some("w@x.io"), Some("r")]]),
        vec![mssql_mock_tds::InfoMessage::new(
            8153,
            10,
            "Warning: Null value is eliminated by an aggregate or other SET operation.",
        )],
    )
    .await;
    let state = mssql::load_with(&mock.settings(), q, &quick()).await.unwrap();
    assert_eq!(state.rows, 1);
    assert!(state.users.contains_key("w@x.io"));
}
