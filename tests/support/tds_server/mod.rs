//! A small TDS (SQL Server wire protocol) server for tests: tokio on loopback, answering SQL
//! batches from a handler, so the collector can be tested without SQL Server.
//!
//! Include it with `#[path = "support/tds_server/mod.rs"] mod tds_server;` from an integration
//! test, or `#[path = "../tests/support/tds_server/mod.rs"] mod tds_server;` from an example.
//! It depends only on tokio, serde_json, std and (for TLS) tokio-rustls, a dependency of agdiag.
//!
//! What it speaks: PRELOGIN, LOGIN7 (SQL authentication), SQLBatch, ATTENTION, for TDS 7.2–7.4
//! clients (tiberius, FreeTDS `tsql` with `TDSVER=7.3`, pytds). By default it never encrypts: the
//! PRELOGIN reply says ENCRYPT_NOT_SUP, so **a tiberius client must use
//! `EncryptionLevel::NotSupported`** (any other level makes tiberius fail with an encryption error,
//! which is itself a useful test). With [`ServerConfig::tls`] it speaks TLS as SQL Server does
//! (the handshake inside PRELOGIN packets, then the whole session encrypted; see `tls.rs`).
//! RPC requests (parameterised `query`) are answered with an error: use `simple_query`.
//!
//! How a batch is answered: the text is split at marker lines `-- agdiag: <key>` (see
//! [`split_batch`]); the handler is called once per part and its [`StatementResult`]s are sent in
//! order. Like SQL Server with a statement-level error, an `Error` does not stop the batch.
//!
//! The collector's marker protocol (`agdiag::collect::queries`): each part it sends is
//! `-- agdiag: <key>`, then the marker statement `SELECT N'<key>' AS agdiag_key;`, then the key's
//! statement. [`Scenario`] answers such a part with the marker result set (column `agdiag_key`, one
//! row: the key) followed by the key's own answer, so a failed statement shows as a marker with
//! no data set after it, exactly as tiberius sees it from SQL Server. A part without the marker
//! statement (the tsql/pytds tests) gets the key's answer alone. Fault row counts
//! ([`Fault::CloseMidResult`]) count marker rows too.
//! [`Scenario`] builds handlers (and one [`ServerConfig`] per instance) from a snapshot document.
//!
//! Fault modes: [`Fault`], [`ServerConfig::packet_delay`], [`closed_port`], and query errors per
//! key through [`Scenario::deny`].
#![allow(dead_code)]

mod login7;
mod packet;
mod prelogin;
mod scenario;
mod server;
mod session;
mod tls;
mod tokens;
mod values;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

#[allow(unused_imports)]
pub use scenario::{Scenario, default_answer, infer_columns};
#[allow(unused_imports)]
pub use server::TestServer;
#[allow(unused_imports)]
pub use tls::TlsSetup;

/// Answers one part of a SQL batch (the text from one marker line to the next).
pub type Handler = Arc<dyn Fn(&str) -> Vec<StatementResult> + Send + Sync>;

/// How one test server behaves.
#[derive(Clone)]
pub struct ServerConfig {
    /// Address to listen on; 127.0.0.1 by default (any 127.0.0.x works on Linux).
    pub bind: IpAddr,
    /// Port to listen on; 0 picks a free ephemeral port (read it back with [`TestServer::addr`]).
    pub port: u16,
    /// Name the server reports (LOGINACK, ERROR tokens, default `@@VERSION` answer).
    pub server_name: String,
    /// `None` accepts any login; `Some((user, password))` fails every other login with 18456.
    pub credentials: Option<(String, String)>,
    pub fault: Fault,
    /// Sleep before every packet the server sends (prelogin, login and result packets alike).
    pub packet_delay: Duration,
    pub handler: Handler,
    /// A certificate: the server then offers (or, with `force`, requires) TLS.
    pub tls: Option<TlsSetup>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
            port: 0,
            server_name: "AGDIAG-TEST".to_string(),
            credentials: None,
            fault: Fault::None,
            packet_delay: Duration::ZERO,
            handler: Arc::new(|part: &str| scenario::default_answer(part, "AGDIAG-TEST")),
            tls: None,
        }
    }
}

impl ServerConfig {
    /// A default config answering every batch part with `handler`.
    pub fn with_handler(handler: impl Fn(&str) -> Vec<StatementResult> + Send + Sync + 'static) -> Self {
        ServerConfig { handler: Arc::new(handler), ..ServerConfig::default() }
    }
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("bind", &self.bind)
            .field("port", &self.port)
            .field("server_name", &self.server_name)
            .field("credentials", &self.credentials.as_ref().map(|(user, _)| (user, "<redacted>")))
            .field("fault", &self.fault)
            .field("packet_delay", &self.packet_delay)
            .field("tls", &self.tls.as_ref().map(|t| (t.force, t.stall_handshake)))
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub enum Fault {
    #[default]
    None,
    /// Accept TCP connections, read everything, never send a byte (a blackholed service).
    AcceptAndStaySilent,
    /// Close the connection after sending `after_rows` rows of a batch (counted across the
    /// batch's result sets), in the middle of the reply. A batch with fewer rows completes.
    CloseMidResult { after_rows: usize },
    /// Like `CloseMidResult`, but keep the connection open and send nothing more (a server or
    /// network that stalls in the middle of a reply).
    StallMidResult { after_rows: usize },
    /// Reject every login with this error (SQL Server uses 18456, class 14, and a state that says
    /// why: 5 unknown user, 8 wrong password, 38 database unavailable ...), then close.
    LoginFailure { number: i32, state: u8, message: String },
}

/// What one statement of a batch produces.
#[derive(Clone, Debug, PartialEq)]
pub enum StatementResult {
    /// A result set; each row has one value per column (missing trailing values are NULL).
    ResultSet { columns: Vec<(String, SqlType)>, rows: Vec<Vec<serde_json::Value>> },
    /// An ERROR token. Class 14 (permission) or 16 (object, syntax) both let the batch continue.
    Error { number: i32, state: u8, class: u8, message: String },
    /// A statement with no result set (a DONE token only), like `SET NOCOUNT ON`.
    Done,
}

/// Column types the server can send, with the JSON values each accepts:
/// integers/bits take numbers, booleans or numeric strings; date types take ISO-8601 strings
/// (`2026-11-02T03:14:07.1234567`, with `Z`/`±hh:mm` for DateTimeOffset); UniqueIdentifier takes
/// `xxxxxxxx-xxxx-...`; VarBinary takes `0x...` hex. `null` is NULL. A value that does not fit
/// its type is sent as NULL (and reported on stderr).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SqlType {
    Bit,
    TinyInt,
    SmallInt,
    Int,
    BigInt,
    /// `nvarchar(4000)`, or `nvarchar(max)` when a value in the column is longer.
    NVarChar,
    /// `char(n)`, space-padded, Latin-1 (like `sys.server_permissions.type`).
    Char(u16),
    DateTime,
    DateTime2,
    DateTimeOffset,
    UniqueIdentifier,
    VarBinary,
    /// Addition to the agreed API: `float` (8 bytes), for non-integer JSON numbers.
    Float,
    /// `numeric(precision, scale)` (NUMERICN), for integers beyond bigint such as LSNs
    /// (`numeric(25,0)`); takes exact JSON numbers or decimal strings.
    Numeric(u8, u8),
}

/// One LOGIN7 the server received (never the password).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoginRecord {
    pub user: String,
    pub database: String,
    pub app_name: String,
    pub server_name: String,
}

/// A loopback port with nothing listening: bind an ephemeral port and release it. (Another
/// process could take it in between; on a test machine that is rare enough.)
pub async fn closed_port() -> u16 {
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.expect("bind an ephemeral loopback port");
    let port = listener.local_addr().expect("local address of a bound listener").port();
    drop(listener);
    port
}

/// Splits a batch at marker lines (`-- agdiag: <key>`): each part starts at its marker line and
/// runs to the next one. Text before the first marker is a part of its own unless it is blank.
/// A batch without markers is one part.
pub fn split_batch(batch: &str) -> Vec<&str> {
    let mut starts = Vec::new();
    let mut offset = 0;
    for line in batch.split_inclusive('\n') {
        if marker_key(line).is_some() {
            starts.push(offset);
        }
        offset += line.len();
    }
    if starts.first() != Some(&0) {
        starts.insert(0, 0);
    }
    let mut parts = Vec::new();
    for (index, &start) in starts.iter().enumerate() {
        let end = starts.get(index + 1).copied().unwrap_or(batch.len());
        let part = &batch[start..end];
        if !(index == 0 && part.trim().is_empty() && starts.len() > 1) {
            parts.push(part);
        }
    }
    parts
}

/// The key of a marker line `-- agdiag: <key>`, if `line` is one.
pub fn marker_key(line: &str) -> Option<&str> {
    let rest = line.trim().strip_prefix("--")?.trim_start().strip_prefix("agdiag:")?;
    rest.split_whitespace().next()
}

/// The key named by a marker statement line `SELECT N'<key>' AS agdiag_key;` (the `;` is
/// optional; `''` in the literal is one quote), if `line` is exactly one.
pub fn marker_select(line: &str) -> Option<String> {
    let literal = line.trim().trim_end_matches(';').trim_end().strip_prefix("SELECT N'")?.strip_suffix("' AS agdiag_key")?;
    let key = literal.replace("''", "'");
    // A lone quote would end the literal early: not one literal, so not a marker.
    (!literal.replace("''", "").contains('\'')).then_some(key)
}

/// The key of the marker that starts a batch part, if any.
pub fn part_key(part: &str) -> Option<&str> {
    part.lines().find(|line| !line.trim().is_empty()).and_then(marker_key)
}
