//! One TDS connection per instance: TCP connect (or SQL Browser for a named instance) inside a
//! timeout, then prelogin, TLS and login inside tiberius' handshake timeout.
//!
//! tiberius is built with `tds73` (every SQL Server since 2008), `rustls` (no runtime dependency on
//! the distro's libssl) and `sql-browser-tokio` (named instances). `winauth` and
//! `integrated-auth-gssapi` are left out: they need SSPI or libkrb5 at build time.

use tiberius::{AuthMethod, Client, Config, EncryptionLevel, SqlBrowser};
use tokio::net::TcpStream;
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};

use super::request::{Authentication, Encrypt, InstanceAddress, Request};
use crate::snapshot::ServerError;

pub type TdsClient = Client<Compat<TcpStream>>;

/// Whether this build can log in with `auth`.
pub fn supports(auth: &Authentication) -> bool {
    matches!(auth, Authentication::Sql { .. })
}

pub fn encryption_level(encrypt: Encrypt) -> EncryptionLevel {
    match encrypt {
        Encrypt::Mandatory => EncryptionLevel::Required,
        Encrypt::Optional => EncryptionLevel::On,
        Encrypt::Strict => EncryptionLevel::Strict,
        // Only a test server on loopback should ever see this: nothing, not even the login, is encrypted.
        Encrypt::Off => EncryptionLevel::NotSupported,
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

/// Connects and logs in. Errors are what the snapshot records as `connect_error`.
pub async fn connect(address: &InstanceAddress, request: &Request) -> Result<TdsClient, ServerError> {
    let config = config_for(address, request)?;
    let connect_timeout = request.timeouts.connect();
    let tcp = if address.instance.is_some() && address.port.is_none() {
        match tokio::time::timeout(connect_timeout, TcpStream::connect_named(&config)).await {
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
    // tiberius bounds prelogin + TLS + login with handshake_timeout; this outer bound is a backstop
    // in case a server stalls in a phase tiberius does not cover.
    let login = Client::connect(config, tcp.compat_write());
    match tokio::time::timeout(request.timeouts.login() + std::time::Duration::from_millis(250), login).await {
        Ok(Ok(client)) => Ok(client),
        Ok(Err(tiberius::error::Error::Routing { host, port })) => Err(transport(format!(
            "{address} redirected the connection to {host},{port}; collect from that address instead"
        ))),
        Ok(Err(tiberius::error::Error::Io { kind: std::io::ErrorKind::TimedOut, .. })) | Err(_) => {
            Err(timed_out("login (prelogin, TLS, login)", address, request.timeouts.login_ms))
        }
        Ok(Err(e)) => Err(server_error(&e)),
    }
}

fn timed_out(phase: &str, address: &InstanceAddress, ms: u64) -> ServerError {
    transport(format!("{phase} to {address} timed out after {ms} ms"))
}
