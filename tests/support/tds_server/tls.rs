//! TLS as SQL Server speaks it to a TDS 7.x client: the PRELOGIN reply says ENCRYPT_ON (or
//! ENCRYPT_REQ when encryption is forced), then the TLS handshake travels inside PRELOGIN packets
//! (type 0x12, both ways) until it completes, and from then on TLS records flow bare on TCP with
//! TDS packets inside them. A client that asks ENCRYPT_OFF (`Encrypt=False`) of a server that
//! does not force encryption gets ENCRYPT_OFF back: only its LOGIN7 travels encrypted, and
//! everything after it (the login reply included) is clear text. A client that opens with a TLS ClientHello instead of a
//! PRELOGIN packet speaks TDS 8.0 (`Encrypt=Strict`): TLS first, directly on TCP, then the whole
//! TDS conversation, PRELOGIN included, inside it.
//!
//! After the handshake the decrypted session is handed to the ordinary plaintext session code
//! through a loopback TCP pair (so ATTENTION detection and the faults work unchanged): a proxy
//! task decrypts client records into one end and encrypts whatever the session writes.

use std::io::{self, Read, Write};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::rustls::crypto::aws_lc_rs;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::{ServerConfig as RustlsConfig, ServerConnection};

use super::packet::{HEADER_LEN, STATUS_EOM, TYPE_PRELOGIN, TYPE_TABULAR_RESULT};
use super::prelogin;

/// A server certificate (chain, leaf first) and its PKCS#8 private key.
#[derive(Clone, Debug)]
pub struct TlsSetup {
    pub chain: Vec<CertificateDer<'static>>,
    pub key_pkcs8: Vec<u8>,
    /// Force encryption (PRELOGIN reply ENCRYPT_REQ even to a client that says ENCRYPT_NOT_SUP),
    /// like SQL Server's "Force Encryption". Otherwise a client that says ENCRYPT_NOT_SUP gets a
    /// plaintext session.
    pub force: bool,
    /// Answer PRELOGIN, then never answer the TLS ClientHello (a stalled handshake).
    pub stall_handshake: bool,
}

/// What the session continues on once PRELOGIN (and TLS) are done.
pub enum Front {
    /// The client's own connection, unencrypted.
    Plain(TcpStream),
    /// A loopback connection carrying the decrypted session.
    Decrypted(TcpStream),
    /// The client's own connection, unencrypted from here on, and the LOGIN7 message it sent
    /// encrypted (its packets, headers included).
    LoginOnly(TcpStream, Vec<u8>),
    /// A loopback connection carrying a TDS 8.0 session, PRELOGIN still to come.
    Strict(TcpStream),
    /// Nothing more to serve (the client left, or the fault is a stall).
    Done,
}

async fn read_packet(stream: &mut TcpStream) -> io::Result<Option<(u8, Vec<u8>)>> {
    let mut header = [0u8; HEADER_LEN];
    match stream.read_exact(&mut header).await {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let length = u16::from_be_bytes([header[2], header[3]]) as usize;
    let length = length
        .checked_sub(HEADER_LEN)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "TDS packet shorter than its header"))?;
    let mut payload = vec![0u8; length];
    stream.read_exact(&mut payload).await?;
    Ok(Some((header[0], payload)))
}

async fn send_packet(stream: &mut TcpStream, kind: u8, payload: &[u8]) -> io::Result<()> {
    let length = (payload.len() + HEADER_LEN) as u16;
    let mut packet = vec![kind, STATUS_EOM];
    packet.extend_from_slice(&length.to_be_bytes());
    packet.extend_from_slice(&[0, 0, 1, 0]);
    packet.extend_from_slice(payload);
    stream.write_all(&packet).await?;
    stream.flush().await
}

/// True when `bytes` hold a whole TDS message (packets up to one with the end-of-message bit).
fn has_whole_message(bytes: &[u8]) -> bool {
    let mut at = 0;
    while bytes.len() >= at + HEADER_LEN {
        let length = u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]) as usize;
        if length < HEADER_LEN || bytes.len() < at + length {
            return false;
        }
        if bytes[at + 1] & STATUS_EOM != 0 {
            return true;
        }
        at += length;
    }
    false
}

fn drain(tls: &mut ServerConnection) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    while tls.wants_write() {
        tls.write_tls(&mut out)?;
    }
    Ok(out)
}

fn rustls_config(setup: &TlsSetup) -> io::Result<RustlsConfig> {
    let mut config = RustlsConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_no_client_auth()
        .with_single_cert(setup.chain.clone(), PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(setup.key_pkcs8.clone())))
        .map_err(io::Error::other)?;
    // Tickets would be sent right after the handshake; keep the exchange to the handshake itself.
    config.send_tls13_tickets = 0;
    Ok(config)
}

/// A loopback pair: (the end the proxy writes decrypted bytes into, the end the session reads).
async fn loopback_pair() -> io::Result<(TcpStream, TcpStream)> {
    let listener = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).await?;
    let inner = TcpStream::connect(listener.local_addr()?).await?;
    let (session_end, _) = listener.accept().await?;
    let _ = inner.set_nodelay(true);
    let _ = session_end.set_nodelay(true);
    Ok((inner, session_end))
}

/// TDS 8.0: TLS directly on TCP; the session (PRELOGIN first) runs inside it.
async fn strict(stream: TcpStream, setup: &TlsSetup) -> io::Result<Front> {
    if setup.stall_handshake {
        let mut stream = stream;
        let mut sink = [0u8; 4096];
        while stream.read(&mut sink).await? > 0 {}
        return Ok(Front::Done);
    }
    let mut config = rustls_config(setup)?;
    config.alpn_protocols = vec![b"tds/8.0".to_vec()];
    let Ok(mut tls) = tokio_rustls::TlsAcceptor::from(Arc::new(config)).accept(stream).await else {
        // The client rejected the certificate (or left): nothing more to serve.
        return Ok(Front::Done);
    };
    let (mut inner, session_end) = loopback_pair().await?;
    tokio::spawn(async move {
        let _ = tokio::io::copy_bidirectional(&mut tls, &mut inner).await;
    });
    Ok(Front::Strict(session_end))
}

/// PRELOGIN, then the TLS handshake when the client and this setup call for it.
pub async fn front(mut stream: TcpStream, setup: &TlsSetup) -> io::Result<Front> {
    let mut first = [0u8; 1];
    // 0x16: a TLS handshake record, not a TDS packet type.
    if stream.peek(&mut first).await? == 1 && first[0] == 0x16 {
        return strict(stream, setup).await;
    }
    let Some((kind, payload)) = read_packet(&mut stream).await? else { return Ok(Front::Done) };
    if kind != TYPE_PRELOGIN {
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("expected PRELOGIN, got packet type {kind:#04x}")));
    }
    let client = prelogin::client_encryption(&payload);
    let level = match (client, setup.force) {
        (_, true) => prelogin::ENCRYPT_REQ,
        (Some(prelogin::ENCRYPT_NOT_SUP), false) => prelogin::ENCRYPT_NOT_SUP,
        (Some(prelogin::ENCRYPT_OFF), false) => prelogin::ENCRYPT_OFF,
        _ => prelogin::ENCRYPT_ON,
    };
    send_packet(&mut stream, TYPE_TABULAR_RESULT, &prelogin::reply_with(level)).await?;
    if level == prelogin::ENCRYPT_NOT_SUP {
        return Ok(Front::Plain(stream));
    }
    if setup.stall_handshake {
        let mut sink = [0u8; 4096];
        while stream.read(&mut sink).await? > 0 {}
        return Ok(Front::Done);
    }
    let mut tls = ServerConnection::new(Arc::new(rustls_config(setup)?)).map_err(io::Error::other)?;
    while tls.is_handshaking() {
        // A client that rejects the certificate sends an alert and closes: that ends the session.
        let Some((kind, payload)) = read_packet(&mut stream).await? else { return Ok(Front::Done) };
        if kind != TYPE_PRELOGIN {
            return Err(io::Error::new(io::ErrorKind::InvalidData, format!("expected TLS data in PRELOGIN, got {kind:#04x}")));
        }
        let mut input = &payload[..];
        let mut processed = Ok(());
        while !input.is_empty() && processed.is_ok() {
            tls.read_tls(&mut input)?;
            processed = tls.process_new_packets().map(|_| ());
        }
        // Everything written while the handshake runs, its last flight included, is wrapped.
        let out = drain(&mut tls)?;
        if !out.is_empty() {
            send_packet(&mut stream, TYPE_PRELOGIN, &out).await?;
        }
        if processed.is_err() {
            return Ok(Front::Done);
        }
    }
    if level == prelogin::ENCRYPT_OFF {
        // Login-only encryption: decrypt the LOGIN7 message, then drop TLS.
        let mut login = Vec::new();
        let mut chunk = vec![0u8; 16 * 1024];
        let mut plain = [0u8; 8192];
        while !has_whole_message(&login) {
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(Front::Done);
            }
            let mut input = &chunk[..n];
            while !input.is_empty() {
                tls.read_tls(&mut input)?;
                tls.process_new_packets().map_err(io::Error::other)?;
                loop {
                    match tls.reader().read(&mut plain) {
                        Ok(0) => break,
                        Ok(k) => login.extend_from_slice(&plain[..k]),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        return Ok(Front::LoginOnly(stream, login));
    }
    let (inner, session_end) = loopback_pair().await?;
    tokio::spawn(proxy(stream, tls, inner));
    Ok(Front::Decrypted(session_end))
}

/// Decrypts what the client sends into `inner`, encrypts what comes back, until either side closes.
async fn proxy(mut outer: TcpStream, mut tls: ServerConnection, mut inner: TcpStream) {
    let mut from_client = vec![0u8; 16 * 1024];
    let mut from_session = vec![0u8; 16 * 1024];
    loop {
        tokio::select! {
            read = outer.read(&mut from_client) => {
                let Ok(n) = read else { break };
                if n == 0 { break }
                // read_tls takes what fits its buffer, not necessarily all of it.
                let mut input = &from_client[..n];
                let mut plain = Vec::new();
                let mut chunk = [0u8; 8192];
                while !input.is_empty() {
                    if tls.read_tls(&mut input).is_err() || tls.process_new_packets().is_err() {
                        return;
                    }
                    loop {
                        match tls.reader().read(&mut chunk) {
                            Ok(0) => break,
                            Ok(k) => plain.extend_from_slice(&chunk[..k]),
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                            Err(_) => return,
                        }
                    }
                }
                if !plain.is_empty() && inner.write_all(&plain).await.is_err() {
                    break;
                }
                let Ok(out) = drain(&mut tls) else { break };
                if !out.is_empty() && outer.write_all(&out).await.is_err() {
                    break;
                }
            }
            read = inner.read(&mut from_session) => {
                let Ok(n) = read else { break };
                if n == 0 { break }
                if tls.writer().write_all(&from_session[..n]).is_err() {
                    break;
                }
                let Ok(out) = drain(&mut tls) else { break };
                if outer.write_all(&out).await.is_err() {
                    break;
                }
            }
        }
    }
    tls.send_close_notify();
    if let Ok(out) = drain(&mut tls) {
        let _ = outer.write_all(&out).await;
    }
    let _ = outer.shutdown().await;
}
