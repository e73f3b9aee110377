//! In-process SQL Server stand-ins for the tests: `mssql-mock-tds`'s connection handler
//! behind our own accept loop (responses split into 4096-byte TDS packets, optional
//! login rejection), the crate's stock TLS servers, and a fake SQL Browser.
#![allow(dead_code)]

use auth0_sync::settings::{MssqlEncrypt, MssqlSettings, Secret};
use auth0_sync::source::mssql::Timeouts;
use mssql_mock_tds::protocol::{PACKET_HEADER_SIZE, build_prelogin_response_with_fedauth, build_terminal_error_tokens};
use mssql_mock_tds::server::ConnectionProcessor;
use mssql_mock_tds::{
    ColumnDefinition, ColumnValue, MockTdsServer, QueryRegistry, QueryResponse, Row, SqlDataType, TerminalError,
};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

/// The password every test uses; no diagnostic may ever show it.
pub const PASSWORD: &str = "S3cret-Pw-do-not-print";

/// TDS packet type of a LOGIN7 message.
const LOGIN7: u8 = 0x10;
/// TDS packet type of a PRELOGIN message.
const PRELOGIN: u8 = 0x12;
/// Size of the packets the server sends (tiberius' default packet size).
const PACKET: usize = 4096;

/// How the mock answers a LOGIN7.
#[derive(Debug, Clone)]
pub enum Login {
    Accept,
    /// An ERROR token with this number and message, as SQL Server sends for 18456.
    Reject {
        number: u32,
        message: String,
    },
}

/// A mock SQL Server without TLS on 127.0.0.1, answering registered queries.
pub struct MockSql {
    pub addr: SocketAddr,
    registry: Arc<Mutex<QueryRegistry>>,
    /// Connections accepted so far.
    pub connections: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Drop for MockSql {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl MockSql {
    pub async fn start() -> MockSql {
        Self::start_with(Login::Accept).await
    }

    pub async fn start_with(login: Login) -> MockSql {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().unwrap();
        let registry = Arc::new(Mutex::new(QueryRegistry::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let (reg, count) = (registry.clone(), connections.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((socket, peer)) = listener.accept().await else {
                    return;
                };
                let id = count.fetch_add(1, Ordering::SeqCst) as u64;
                let (reg, login) = (reg.clone(), login.clone());
                tokio::spawn(async move {
                    let _ = serve(socket, peer, id, reg, login).await;
                });
            }
        });
        MockSql { addr, registry, connections, task }
    }

    /// Answers `sql` (matched case-insensitively by text) with NVARCHAR(MAX) columns.
    pub async fn register_text(&self, sql: &str, columns: &[&str], rows: &[Vec<Option<&str>>]) {
        self.register(sql, text_response(columns, rows)).await;
    }

    pub async fn register(&self, sql: &str, response: QueryResponse) {
        self.registry.lock().await.register(sql, response);
    }

    /// Like [`MockSql::register`], with INFO tokens after the last row.
    pub async fn register_with_trailing_info(
        &self,
        sql: &str,
        response: QueryResponse,
        info: Vec<mssql_mock_tds::InfoMessage>,
    ) {
        self.registry.lock().await.register_with_trailing_info(sql, response, info);
    }

    pub fn settings(&self) -> MssqlSettings {
        settings_for(self.addr)
    }
}

/// Settings for a plain (no TLS) server at `addr`.
pub fn settings_for(addr: SocketAddr) -> MssqlSettings {
    MssqlSettings {
        server: addr.ip().to_string(),
        port: addr.port(),
        database: Some("hr".into()),
        username: Some("sync".into()),
        password: Some(Secret::from(PASSWORD)),
        instance: None,
        encrypt: MssqlEncrypt::Off,
        trust_server_certificate: false,
        connection_string: None,
    }
}

/// Short timeouts so that a failing handshake fails the test quickly.
pub fn quick() -> Timeouts {
    Timeouts { connect: Duration::from_secs(5), handshake: Duration::from_secs(3), command: Duration::from_secs(10) }
}

/// A text cell: NVARCHAR(MAX), which is also how the mock can send a NULL string.
pub fn text(v: Option<&str>) -> ColumnValue {
    match v {
        Some(s) => {
            let units: Vec<u16> = s.encode_utf16().collect();
            ColumnValue::NVarCharMax(if units.is_empty() { vec![] } else { vec![units] })
        }
        None => ColumnValue::NVarCharMaxNull,
    }
}

pub fn text_response(columns: &[&str], rows: &[Vec<Option<&str>>]) -> QueryResponse {
    QueryResponse::new(
        columns.iter().map(|c| ColumnDefinition::new(*c, SqlDataType::NVarCharMax)).collect(),
        rows.iter().map(|r| Row::new(r.iter().map(|v| text(*v)).collect())).collect(),
    )
}

/// A response that is a single server error, as for a bad query.
pub fn error_response(number: u32, message: &str) -> QueryResponse {
    QueryResponse::error_only(TerminalError::new(number, 16, message))
}

/// One connection: PRELOGIN (no encryption offered), then the crate's processor for
/// everything else, each response re-framed into packets of at most 4096 bytes (the
/// crate frames a whole response as one packet with a 16-bit length).
async fn serve(
    mut socket: TcpStream,
    peer: SocketAddr,
    id: u64,
    registry: Arc<Mutex<QueryRegistry>>,
    login: Login,
) -> std::io::Result<()> {
    let mut p = ConnectionProcessor::new(id, peer, registry, None);
    let mut packet_id = 1u8;
    let mut prelogin_done = false;
    loop {
        if socket.read_buf(p.buffer_mut()).await? == 0 {
            return Ok(());
        }
        loop {
            let buf = p.buffer_mut();
            if buf.len() < PACKET_HEADER_SIZE {
                break;
            }
            let (kind, len) = (buf[0], u16::from_be_bytes([buf[2], buf[3]]) as usize);
            if buf.len() < len {
                break;
            }
            if !prelogin_done {
                assert_eq!(kind, PRELOGIN, "first packet must be PRELOGIN");
                let _ = buf.split_to(len);
                socket.write_all(&build_prelogin_response_with_fedauth(false, true)).await?;
                prelogin_done = true;
                continue;
            }
            if kind == LOGIN7
                && let Login::Reject { number, message } = &login
            {
                let _ = buf.split_to(len);
                let tokens = build_terminal_error_tokens(&TerminalError::new(*number, 14, message.clone()));
                write_packets(&mut socket, &tokens, &mut packet_id).await?;
                continue;
            }
            match p.process_packet(&mut socket).await.map_err(std::io::Error::other)? {
                Some(response) => write_packets(&mut socket, &response[PACKET_HEADER_SIZE..], &mut packet_id).await?,
                None => break,
            }
        }
    }
}

/// Sends `payload` as a TABULAR RESULT message in packets of at most 4096 bytes.
async fn write_packets(socket: &mut TcpStream, payload: &[u8], packet_id: &mut u8) -> std::io::Result<()> {
    let chunks: Vec<&[u8]> = payload.chunks(PACKET - PACKET_HEADER_SIZE).collect();
    let last = chunks.len().saturating_sub(1);
    let mut out = Vec::with_capacity(payload.len() + chunks.len() * PACKET_HEADER_SIZE);
    for (i, chunk) in chunks.iter().enumerate() {
        let len = (chunk.len() + PACKET_HEADER_SIZE) as u16;
        out.push(0x04); // TABULAR RESULT
        out.push(if i == last { 0x01 } else { 0x00 }); // end of message on the last
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&[0, 0, *packet_id, 0]);
        out.extend_from_slice(chunk);
        *packet_id = packet_id.wrapping_add(1);
    }
    socket.write_all(&out).await
}

/// A self-signed certificate for `localhost`/127.0.0.1, as PEM (certificate, key).
pub fn test_certificate() -> (Vec<u8>, Vec<u8>) {
    use openssl::asn1::Asn1Time;
    use openssl::bn::BigNum;
    use openssl::hash::MessageDigest;
    use openssl::pkey::PKey;
    use openssl::rsa::Rsa;
    use openssl::x509::extension::SubjectAlternativeName;
    use openssl::x509::{X509Builder, X509NameBuilder};

    let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_text("CN", "localhost").unwrap();
    let name = name.build();
    let mut b = X509Builder::new().unwrap();
    b.set_version(2).unwrap();
    b.set_serial_number(&BigNum::from_u32(1).unwrap().to_asn1_integer().unwrap()).unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(&key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap()).unwrap();
    b.set_not_after(&Asn1Time::days_from_now(2).unwrap()).unwrap();
    let san =
        SubjectAlternativeName::new().dns("localhost").ip("127.0.0.1").build(&b.x509v3_context(None, None)).unwrap();
    b.append_extension(san).unwrap();
    b.sign(&key, MessageDigest::sha256()).unwrap();
    (b.build().to_pem().unwrap(), key.private_key_to_pem_pkcs8().unwrap())
}

/// The crate's stock server with TLS: TDS 8 strict (`strict = true`) or TDS 7.4
/// TLS inside PRELOGIN. Single-packet responses only (keep results small).
pub struct TlsMock {
    pub addr: SocketAddr,
    registry: Arc<Mutex<QueryRegistry>>,
    task: JoinHandle<()>,
}

impl Drop for TlsMock {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TlsMock {
    pub async fn start(strict: bool) -> TlsMock {
        let (cert, key) = test_certificate();
        let identity = mssql_mock_tds::create_test_identity(&cert, &key).expect("identity");
        let server = if strict {
            MockTdsServer::new_with_strict_tls("127.0.0.1:0", identity).await
        } else {
            MockTdsServer::new_with_tls("127.0.0.1:0", Some(identity)).await
        }
        .expect("bind");
        let addr = server.local_addr();
        let registry = server.query_registry();
        let task = tokio::spawn(async move {
            let _ = server.run().await;
        });
        TlsMock { addr, registry, task }
    }

    pub async fn register_text(&self, sql: &str, columns: &[&str], rows: &[Vec<Option<&str>>]) {
        self.registry.lock().await.register(sql, text_response(columns, rows));
    }
}

/// A fake SQL Browser on a random UDP port that maps `instance` to `tcp_port`.
pub async fn sql_browser(instance: &str, tcp_port: u16) -> (u16, JoinHandle<()>) {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = socket.local_addr().unwrap().port();
    let instance = instance.to_owned();
    let task = tokio::spawn(async move {
        let mut buf = [0u8; 1024];
        while let Ok((n, from)) = socket.recv_from(&mut buf).await {
            // CLNT_UCAST_INST: 0x04 followed by the instance name.
            if n < 1 || buf[0] != 0x04 {
                continue;
            }
            let asked = String::from_utf8_lossy(&buf[1..n]);
            if !asked.trim_end_matches('\0').eq_ignore_ascii_case(&instance) {
                continue;
            }
            let data =
                format!("ServerName;MOCK;InstanceName;{instance};IsClustered;No;Version;16.0.1000.6;tcp;{tcp_port};;");
            let mut reply = vec![0x05];
            reply.extend_from_slice(&(data.len() as u16).to_le_bytes());
            reply.extend_from_slice(data.as_bytes());
            let _ = socket.send_to(&reply, from).await;
        }
    });
    (port, task)
}

/// A port on 127.0.0.1 where nothing listens (bound, then released).
pub async fn closed_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    port
}

/// The whole rendered diagnostic (message, code, help, related), for secret checks.
pub fn render(e: &(dyn miette::Diagnostic + Send + Sync + 'static)) -> String {
    let mut out = format!("{e}\n{e:?}\n");
    if let Some(c) = e.code() {
        out.push_str(&format!("code: {c}\n"));
    }
    if let Some(h) = e.help() {
        out.push_str(&format!("help: {h}\n"));
    }
    if let Some(rel) = e.related() {
        for r in rel {
            out.push_str(&format!("related: {r}\n"));
        }
    }
    if std::env::var_os("SHOW_DIAGNOSTICS").is_some() {
        eprintln!("{}", out);
    }
    out
}

pub fn code(e: &dyn miette::Diagnostic) -> String {
    e.code().map(|c| c.to_string()).unwrap_or_default()
}
