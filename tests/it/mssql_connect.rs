//! Connecting to SQL Server: refused connections, rejected logins, TLS (TDS 8 strict
//! and TDS 7.4) and TLS mismatches, against `mssql-mock-tds`; and that no diagnostic
//! ever shows the password.
//!
//! Gaps of the mock, covered another way:
//! - It accepts any login: `support::mock_sql` answers LOGIN7 itself with an ERROR
//!   token (18456) when asked to, as SQL Server does.
//! - It cannot require encryption while offering TDS 7.4 TLS (ENCRYPT_REQ): the
//!   "server requires TLS, client set off" case is covered with the strict server.
//! - TDS 7.4 TLS (TLS inside PRELOGIN, `mandatory`/`optional`): the mock wraps its
//!   TLS handshake records in TABULAR RESULT (0x04) packets, tiberius accepts only
//!   PRELOGIN (0x12) packets there ("expected a pre-login packet during the TLS
//!   handshake"), so no TDS 7.4 TLS session can be set up with it. Covered: the
//!   mapping (unit test), the "server offers no TLS" path
//!   (`mandatory_against_a_server_without_tls_suggests_off`) and TLS itself through
//!   the TDS 8 strict tests.
//! - The encrypt-mode → tiberius mapping (including `optional` → `On`) is covered by
//!   the unit test `encrypt_modes_map_to_tiberius_levels` in `src/source/mssql/config.rs`.

use crate::mock_sql::{Login, MockSql, PASSWORD, TlsMock, closed_port, code, quick, render, settings_for};
use auth0_sync::settings::MssqlEncrypt;
use auth0_sync::source::mssql::{self, MssqlError};

const Q: &str = "SELECT email, role FROM hr.staff";

#[tokio::test]
async fn refused_connection_names_host_and_port() {
    let port = closed_port().await;
    let s = settings_for(([127, 0, 0, 1], port).into());
    let e = mssql::load_with(&s, Q, &quick()).await.unwrap_err();
    let text = render(&e);
    assert_eq!(code(&e), "auth0_sync::source::mssql_connect", "{text}");
    assert!(text.contains(&format!("host 127.0.0.1, port {port}")), "{text}");
    assert!(text.contains("MSSQL_SERVER and MSSQL_PORT"), "{text}");
    assert!(!text.contains(PASSWORD), "{text}");
}

#[tokio::test]
async fn rejected_login_says_so_without_the_password() {
    let mock =
        MockSql::start_with(Login::Reject { number: 18456, message: "Login failed for user 'sync'.".into() }).await;
    let e = mssql::load_with(&mock.settings(), Q, &quick()).await.unwrap_err();
    let text = render(&e);
    assert_eq!(code(&e), "auth0_sync::source::mssql_login", "{text}");
    assert!(matches!(&e, MssqlError::Login { number: 18456, user, .. } if user == "sync"), "{text}");
    assert!(text.contains("MSSQL_USERNAME and MSSQL_PASSWORD"), "{text}");
    assert!(!text.contains(PASSWORD), "{text}");
}

#[tokio::test]
async fn a_server_echoing_the_password_is_redacted() {
    // No real server does this; it proves messages are scrubbed, not just lucky.
    let mock = MockSql::start_with(Login::Reject {
        number: 18456,
        message: format!("Login failed: password {PASSWORD} is wrong"),
    })
    .await;
    let e = mssql::load_with(&mock.settings(), Q, &quick()).await.unwrap_err();
    let text = render(&e);
    assert_eq!(code(&e), "auth0_sync::source::mssql_login", "{text}");
    assert!(!text.contains(PASSWORD), "{text}");
    assert!(text.contains("password *** is wrong"), "{text}");
}

#[tokio::test]
async fn mandatory_against_a_server_without_tls_suggests_off() {
    let mock = MockSql::start().await;
    let mut s = mock.settings();
    s.encrypt = MssqlEncrypt::Mandatory;
    let e = mssql::load_with(&s, Q, &quick()).await.unwrap_err();
    let text = render(&e);
    assert_eq!(code(&e), "auth0_sync::source::mssql_tls", "{text}");
    assert!(text.contains("MSSQL_ENCRYPT=off"), "{text}");
    assert!(!text.contains(PASSWORD), "{text}");
}

#[tokio::test]
async fn strict_tls_with_trusted_certificate() {
    let mock = TlsMock::start(true).await;
    mock.register_text(Q, &["email", "role"], &[vec![Some("tls@x.io"), Some("r")]]).await;
    let mut s = settings_for(mock.addr);
    s.encrypt = MssqlEncrypt::Strict;
    s.trust_server_certificate = true;
    let state = mssql::load_with(&s, Q, &quick()).await.unwrap();
    assert!(state.users.contains_key("tls@x.io"));
    let w = mssql::trust_warning(&s).expect("trusting any certificate must be announced");
    assert!(w.contains("MSSQL_TRUST_SERVER_CERTIFICATE=true"), "{w}");
}

#[tokio::test]
async fn strict_tls_with_untrusted_certificate_is_a_certificate_error() {
    let mock = TlsMock::start(true).await;
    let mut s = settings_for(mock.addr);
    s.encrypt = MssqlEncrypt::Strict;
    let e = mssql::load_with(&s, Q, &quick()).await.unwrap_err();
    let text = render(&e);
    assert_eq!(code(&e), "auth0_sync::source::mssql_certificate", "{text}");
    assert!(text.contains("MSSQL_TRUST_SERVER_CERTIFICATE=true"), "{text}");
}

#[tokio::test]
async fn off_against_a_strict_server_suggests_encryption() {
    let mock = TlsMock::start(true).await;
    let s = settings_for(mock.addr); // MSSQL_ENCRYPT=off
    let e = mssql::load_with(&s, Q, &quick()).await.unwrap_err();
    let text = render(&e);
    assert_eq!(code(&e), "auth0_sync::source::mssql_tls", "{text}");
    assert!(text.contains("MSSQL_ENCRYPT=strict"), "{text}");
    assert!(!text.contains(PASSWORD), "{text}");
}

#[tokio::test]
async fn strict_against_a_server_without_strict_suggests_mandatory() {
    let mock = MockSql::start().await;
    let mut s = mock.settings();
    s.encrypt = MssqlEncrypt::Strict;
    s.trust_server_certificate = true;
    let e = mssql::load_with(&s, Q, &quick()).await.unwrap_err();
    let text = render(&e);
    assert_eq!(code(&e), "auth0_sync::source::mssql_tls", "{text}");
    assert!(text.contains("MSSQL_ENCRYPT=mandatory"), "{text}");
}

#[tokio::test]
async fn settings_never_show_the_password() {
    let mock = MockSql::start().await;
    let mut s = mock.settings();
    assert!(!format!("{s:?}").contains(PASSWORD));
    assert!(!mssql::location(&s).contains(PASSWORD));
    s.connection_string = Some(auth0_sync::settings::Secret::from(format!(
        "server=tcp:127.0.0.1,{};user=sync;password={PASSWORD};encrypt=true",
        mock.addr.port()
    )));
    assert!(!mssql::location(&s).contains(PASSWORD));
    let e = mssql::load_with(&s, Q, &quick()).await.unwrap_err();
    let text = render(&e);
    // encrypt=true against a server without TLS: the advice speaks connection string.
    assert_eq!(code(&e), "auth0_sync::source::mssql_tls", "{text}");
    assert!(text.contains("encrypt=DANGER_PLAINTEXT in MSSQL_CONNECTION_STRING"), "{text}");
    assert!(!text.contains(PASSWORD), "{text}");
}

#[tokio::test]
async fn unavailable_database_points_at_mssql_database() {
    let mock = MockSql::start_with(Login::Reject {
        number: 4060,
        message: "Cannot open database \"hr\" requested by the login. The login failed.".into(),
    })
    .await;
    let e = mssql::load_with(&mock.settings(), Q, &quick()).await.unwrap_err();
    let text = render(&e);
    assert_eq!(code(&e), "auth0_sync::source::mssql_login", "{text}");
    assert!(text.contains("error 4060"), "{text}");
    assert!(text.contains("MSSQL_DATABASE"), "{text}");
}
