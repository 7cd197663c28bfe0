//! One TDS connection per instance: TCP connect (or SQL Browser for a named instance) inside a
//! timeout, then prelogin, TLS and login inside tiberius' handshake timeout.
//!
//! tiberius is built with `tds73` (every SQL Server since 2008), `rustls` (no runtime dependency on
//! the distro's libssl) and `sql-browser-tokio` (named instances); on Windows also `winauth` (SSPI:
//! integrated and explicit DOMAIN\user logins), and on Unix `integrated-auth-gssapi` (Kerberos)
//! behind this crate's `kerberos` feature, because it needs libkrb5 at build time.

use tiberius::{AuthMethod, Client, Config, EncryptionLevel, SqlBrowser};
use tokio::net::TcpStream;
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};

use super::request::{Authentication, Encrypt, InstanceAddress, Request};
use crate::snapshot::ServerError;

pub type TdsClient = Client<Compat<TcpStream>>;

pub fn encryption_level(encrypt: Encrypt) -> EncryptionLevel {
    match encrypt {
        Encrypt::Mandatory => EncryptionLevel::Required,
        Encrypt::Optional => EncryptionLevel::On,
        Encrypt::Strict => EncryptionLevel::Strict,
        // ENCRYPT_OFF in PRELOGIN, like `Encrypt=False` in other drivers: the login packet (with the
        // password) is still encrypted, which takes a TLS handshake and so a validated certificate
        // unless trust_server_certificate; and a server that forces encryption (ENCRYPT_REQ) gets
        // the whole session encrypted. Only after the login does the rest go in clear text.
        Encrypt::Off => EncryptionLevel::Off,
        // ENCRYPT_NOT_SUP: a server that does not encrypt either (a test server on loopback) gets
        // everything in clear text, the login too. A server that forces encryption still gets TLS
        // for the whole session. (`off` cannot talk to a server that answers ENCRYPT_NOT_SUP:
        // tiberius then negotiates full TLS.)
        Encrypt::None => EncryptionLevel::NotSupported,
    }
}

fn config_for(address: &InstanceAddress, request: &Request) -> Result<Config, ServerError> {
    let mut config = Config::new();
    config.host(&address.host);
    if let Some(port) = address.port {
        config.port(port);
    }
    if let Some(instance) = &address.instance {
        config.instance_name(instance);
    }
    config.application_name(format!("agdiag {}", crate::VERSION));
    config.encryption(encryption_level(request.encrypt));
    if request.trust_server_certificate {
        config.trust_cert();
    }
    config.handshake_timeout(Some(request.timeouts.login()));
    config.command_timeout(Some(request.timeouts.command()));
    match &request.authentication {
        Authentication::Sql { user, password } => config.authentication(AuthMethod::sql_server(user, password.expose())),
        #[cfg(any(windows, all(unix, feature = "kerberos")))]
        Authentication::Integrated => config.authentication(AuthMethod::Integrated),
        #[cfg(windows)]
        Authentication::Windows { user, password } => config.authentication(AuthMethod::windows(user, password.expose())),
        #[allow(unreachable_patterns)]
        other => return Err(transport(format!("{} authentication is not available in this build", other.method()))),
    }
    Ok(config)
}

pub fn transport(message: impl Into<String>) -> ServerError {
    ServerError { number: None, state: None, message: message.into() }
}

/// A tiberius error as the snapshot records it: server errors keep number and state.
pub fn server_error(err: &tiberius::error::Error) -> ServerError {
    match err {
        tiberius::error::Error::Server(token) => ServerError {
            number: Some(i64::from(token.code())),
            state: Some(i64::from(token.state())),
            message: token.message().to_string(),
        },
        other => transport(other.to_string()),
    }
}

/// The TCP connection to `address` (through SQL Browser for a named instance without a port),
/// bounded by the connect timeout.
async fn tcp(address: &InstanceAddress, config: &Config, request: &Request) -> Result<TcpStream, ServerError> {
    let connect_timeout = request.timeouts.connect();
    let tcp = if address.instance.is_some() && address.port.is_none() {
        match tokio::time::timeout(connect_timeout, TcpStream::connect_named(config)).await {
            Ok(Ok(tcp)) => tcp,
            Ok(Err(e)) => return Err(transport(format!("cannot reach {address} through SQL Browser: {e}"))),
            Err(_) => return Err(timed_out("connect (SQL Browser lookup)", address, request.timeouts.connect_ms)),
        }
    } else {
        let target = (address.host.as_str(), address.tcp_port());
        match tokio::time::timeout(connect_timeout, TcpStream::connect(target)).await {
            Ok(Ok(tcp)) => tcp,
            Ok(Err(e)) => return Err(transport(format!("cannot connect to {address}: {e}"))),
            Err(_) => return Err(timed_out("TCP connect", address, request.timeouts.connect_ms)),
        }
    };
    // Small request/response packets: Nagle would add a delay to every round trip.
    let _ = tcp.set_nodelay(true);
    Ok(tcp)
}

/// Connects and logs in. Errors are what the snapshot records as `connect_error`; `who` names
/// the instance in them (the replica name, and the address tried when that differs).
pub async fn connect(address: &InstanceAddress, request: &Request, who: &str) -> Result<TdsClient, ServerError> {
    let config = config_for(address, request)?;
    // A discovered replica's error says which name was tried for it.
    let tcp = tcp(address, &config, request).await.map_err(|mut e| {
        if who != address.to_string() {
            e.message = format!("{who}: {}", e.message);
        }
        e
    })?;
    login(tcp, address, config, request, who).await
}

/// Logs in over a TCP connection the caller made (the listener login probe connects to the
/// addresses its resolver gave), naming the server `address.host` so that TLS validates that name
/// and integrated authentication asks for its SPN.
pub async fn connect_over(tcp: TcpStream, address: &InstanceAddress, request: &Request, who: &str) -> Result<TdsClient, ServerError> {
    let config = config_for(address, request)?;
    let _ = tcp.set_nodelay(true);
    login(tcp, address, config, request, who).await
}

async fn login(tcp: TcpStream, address: &InstanceAddress, config: Config, request: &Request, who: &str) -> Result<TdsClient, ServerError> {
    // tiberius bounds prelogin + TLS + login with handshake_timeout; this outer bound is a backstop
    // in case a server stalls in a phase tiberius does not cover.
    let login = Client::connect(config.clone(), tcp.compat_write());
    match tokio::time::timeout(request.timeouts.login() + std::time::Duration::from_millis(250), login).await {
        Ok(Ok(client)) => Ok(client),
        Ok(Err(tiberius::error::Error::Routing { host, port })) => Err(transport(format!(
            "{address} redirected the connection to {host},{port}; collect from that address instead"
        ))),
        Ok(Err(tiberius::error::Error::Io { kind: std::io::ErrorKind::TimedOut, .. })) | Err(_) => Err(transport(format!(
            "{who}: login to {address} timed out after {} ms (--login-timeout-ms): the server accepted the TCP \
             connection but did not complete prelogin, the TLS handshake and the login in that time; a server that \
             stalls there is overloaded, or something between this machine and it (a proxy, a firewall inspecting \
             TLS) holds the handshake",
            request.timeouts.login_ms
        ))),
        Ok(Err(tiberius::error::Error::Tls(text))) => Err(tls_failure(address, &config, request, who, &text).await),
        // tiberius refuses to validate against an empty trust store before any handshake.
        Ok(Err(tiberius::error::Error::Io { kind: std::io::ErrorKind::NotFound, message }))
            if !request.trust_server_certificate && super::tls::no_trust_anchors() =>
        {
            Err(transport(format!(
                "{who}: AgDiag cannot validate the server's TLS certificate: this machine trusts no certificate \
                 authority ({message}; SSL_CERT_FILE / SSL_CERT_DIR, when set, replace the system store). To \
                 connect: install the system CA certificates, or point SSL_CERT_FILE at a PEM file with the CA that \
                 issued the server's certificate; or {}",
                super::tls::TRUST_ADVICE
            )))
        }
        Ok(Err(e)) => Err(server_error(&e)),
    }
}

/// A failed TLS handshake, explained: with validation on, AgDiag fetches the certificate over a
/// second connection and says what is wrong with it (see [`super::tls`]).
async fn tls_failure(address: &InstanceAddress, config: &Config, request: &Request, who: &str, text: &str) -> ServerError {
    let name = address.host.as_str();
    // tiberius' own text for a rejected certificate advises library calls and another TLS backend;
    // it is replaced, not shown.
    let rejected = text.starts_with("the server's certificate was rejected");
    if request.trust_server_certificate {
        return transport(format!("{who}: the TLS handshake with {address} failed: {text}"));
    }
    let strict = request.encrypt == Encrypt::Strict;
    let diagnosis = async {
        let mut tcp = tcp(address, config, request).await.map_err(|e| e.message)?;
        match super::tls::fetch_chain(&mut tcp, name, strict).await.map_err(|e| e.to_string())? {
            Some(chain) => Ok(super::tls::judge(&chain, name)),
            None => Err("on a second connection the server did not offer TLS at all".to_string()),
        }
    };
    let found = match tokio::time::timeout(request.timeouts.login(), diagnosis).await {
        Ok(Ok(Some(rejection))) => return transport(rejection.message(who)),
        Ok(Ok(None)) => "AgDiag's own look at the certificate found nothing wrong with it".to_string(),
        Ok(Err(e)) => format!("AgDiag could not fetch the certificate again to say why: {e}"),
        Err(_) => format!("AgDiag could not fetch the certificate again within {} ms", request.timeouts.login_ms),
    };
    if rejected {
        transport(format!(
            "{who}: the server's TLS certificate was rejected for the name {name} ({found}). To connect: trust the \
             certificate's CA on this machine (the system certificate store, or a PEM file named by SSL_CERT_FILE); \
             or {}",
            super::tls::TRUST_ADVICE
        ))
    } else {
        transport(format!("{who}: the TLS handshake with {address} failed: {text} ({found})"))
    }
}

fn timed_out(phase: &str, address: &InstanceAddress, ms: u64) -> ServerError {
    transport(format!("{phase} to {address} timed out after {ms} ms"))
}
