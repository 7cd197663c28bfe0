//! Why a server's certificate was rejected, in AgDiag's words.
//!
//! tiberius reports a rejected certificate as text only (its own advice about library calls, an
//! expiry in UNIX seconds). When that happens, AgDiag opens one more connection to the same
//! address, does the TDS PRELOGIN exchange and a TLS handshake of its own inside PRELOGIN packets
//! (or directly on TCP for TDS 8.0 strict), keeps the certificate chain the server presents and
//! ends the handshake there (before any login). It then asks rustls' own verifier, with the same
//! trust anchors tiberius uses (the system store; `SSL_CERT_FILE` / `SSL_CERT_DIR` replace it),
//! why the chain fails for the name AgDiag tried: the verifier's structured error carries the
//! names the certificate is valid for and its expiry date. The caller bounds it in time.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_rustls::rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use tokio_rustls::rustls::client::WebPkiServerVerifier;
use tokio_rustls::rustls::crypto::{aws_lc_rs, CryptoProvider};
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::rustls::{
    CertificateError, ClientConfig, ClientConnection, DigitallySignedStruct, Error as TlsError, RootCertStore,
    SignatureScheme,
};

/// What is wrong with a server certificate for the name AgDiag tried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// Signed by itself, and not trusted on this machine.
    SelfSigned,
    /// Issued by a CA this machine does not trust.
    UnknownIssuer,
    /// Not issued for the name AgDiag tried.
    WrongName,
    /// Past its `notAfter`.
    Expired { not_after: SystemTime },
    /// Before its `notBefore`.
    NotYetValid { not_before: SystemTime },
    /// This machine trusts no CA at all (empty or unreadable system store / `SSL_CERT_FILE`).
    NoTrustAnchors,
    /// Anything else rustls rejects (a bad signature, an unsupported certificate version...).
    Other(String),
}

/// A rejected certificate: every problem found (the first is the one validation stopped at) and
/// the names the certificate is valid for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub name_tried: String,
    pub problems: Vec<Problem>,
    /// DNS names and IP addresses of its subjectAltName (what TLS clients match the name against).
    pub valid_for: Vec<String>,
}

impl Rejection {
    /// One sentence per problem, then what to do, in AgDiag's terms. `who` names the replica
    /// (and the address, when it differs).
    pub fn message(&self, who: &str) -> String {
        let name = &self.name_tried;
        let names = self.valid_for.join(", ");
        let mut why: Vec<String> = Vec::new();
        let mut todo: Vec<String> = Vec::new();
        for problem in &self.problems {
            match problem {
                Problem::SelfSigned => {
                    why.push("it is self-signed, and this machine does not trust it".into());
                    todo.push(
                        "trust that certificate on this machine (add it to the system certificate store, or point \
                         SSL_CERT_FILE at a PEM file that holds it), or better, give the server a certificate from \
                         a CA this machine trusts"
                            .into(),
                    );
                }
                Problem::UnknownIssuer => {
                    why.push("it is issued by a certificate authority this machine does not trust".into());
                    todo.push(
                        "trust that CA on this machine (the system certificate store, or a PEM file named by \
                         SSL_CERT_FILE)"
                            .into(),
                    );
                }
                Problem::WrongName if self.valid_for.is_empty() => {
                    why.push(format!(
                        "it names no server at all (no subjectAltName, so no name, {name} included, can match it; \
                         the certificate SQL Server generates for itself, CN=SSL_Self_Signed_Fallback, is like that)"
                    ));
                    todo.push(format!(
                        "give SQL Server a certificate issued for {name} (SQL Server Configuration Manager, \
                         Protocols for the instance, Certificate tab; then restart the service)"
                    ));
                }
                Problem::WrongName => {
                    why.push(format!("it is not valid for the name {name}: it is valid for {names}"));
                    if let Some(other) = self.valid_for.iter().find(|n| !n.starts_with('*')) {
                        todo.push(format!(
                            "reach the server by a name the certificate holds (-S {other}, or --override \
                             <replica>={other} for a discovered replica)"
                        ));
                    } else {
                        todo.push("reach the server by a name the certificate holds (-S or --override)".into());
                    }
                }
                Problem::Expired { not_after } => {
                    why.push(format!("it expired on {}", date(*not_after)));
                    todo.push("renew the server's certificate (then restart SQL Server so it loads the new one)".into());
                }
                Problem::NotYetValid { not_before } => {
                    why.push(format!(
                        "it is not valid before {} (check this machine's clock and the server's)",
                        date(*not_before)
                    ));
                }
                Problem::NoTrustAnchors => {
                    why.push(
                        "this machine trusts no certificate authority at all (the system certificate store is \
                         empty or unreadable, or SSL_CERT_FILE / SSL_CERT_DIR name no certificate)"
                            .into(),
                    );
                    todo.push("install the system CA certificates, or point SSL_CERT_FILE at the CA's PEM file".into());
                }
                // webpki reports it only as text inside CertificateError::Other.
                Problem::Other(text) if text.contains("UnsupportedCertVersion") => {
                    why.push(
                        "it is an X.509 version 1 certificate, older than the v3 that AgDiag's TLS library accepts \
                         (the certificate older SQL Server versions generate for themselves is like that)"
                            .into(),
                    );
                    todo.push(format!(
                        "give SQL Server a current certificate issued for {name} (SQL Server Configuration Manager, \
                         Protocols for the instance, Certificate tab; then restart the service)"
                    ));
                }
                Problem::Other(text) => why.push(format!("rustls rejects it: {text}")),
            }
        }
        let also = if !self.problems.contains(&Problem::WrongName) && !self.valid_for.is_empty() {
            format!(" It is valid for {names}.")
        } else {
            String::new()
        };
        // Every fix is needed (a self-signed certificate for another name needs both); the opt-in
        // replaces them all.
        todo = vec![todo.join("; and "), TRUST_ADVICE.into()].into_iter().filter(|t| !t.is_empty()).collect();
        format!(
            "{who}: the server's TLS certificate was rejected for the name {name}: {}.{also} To connect: {}",
            why.join("; "),
            todo.join("; or ")
        )
    }
}

/// What `--trust-server-certificate` costs, said once wherever it is offered.
pub const TRUST_ADVICE: &str = "as a last resort, pass --trust-server-certificate (trust_server_certificate in a \
     request, -TrustServerCertificate in PowerShell), which accepts any certificate and so gives no protection \
     against a man in the middle: keep the secure default wherever you can";

/// `message` without the `--trust-server-certificate` advice at its end, when it has it: a report
/// that lists several such errors says it once for all of them.
pub fn without_trust_advice(message: &str) -> Option<String> {
    let rest = message.strip_suffix(TRUST_ADVICE)?;
    let rest = rest.strip_suffix("; or ").or_else(|| rest.strip_suffix("; or\n")).unwrap_or(rest);
    Some(match rest.strip_suffix(" To connect: ") {
        Some(before) => before.to_string(),
        None => format!("{}.", rest.trim_end()),
    })
}

fn date(time: SystemTime) -> String {
    // humantime cannot write years past 9999 (an X.509 date never is; a clock might be).
    let limit = SystemTime::UNIX_EPOCH + Duration::from_secs(253_402_300_799);
    let text = humantime::format_rfc3339_seconds(time.min(limit)).to_string();
    // 2021-01-01T00:00:00Z → 2021-01-01 00:00:00 UTC
    text.trim_end_matches('Z').replacen('T', " ", 1) + " UTC"
}

/// `time` moved by `seconds`, as webpki's clock.
fn unix_time(time: SystemTime, seconds: i64) -> Option<UnixTime> {
    let secs = time.duration_since(SystemTime::UNIX_EPOCH).ok()?.as_secs().checked_add_signed(seconds)?;
    Some(UnixTime::since_unix_epoch(Duration::from_secs(secs)))
}

fn unix(time: UnixTime) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(time.as_secs())
}

/// The crypto provider tiberius uses: a process default if one is installed, else aws-lc-rs.
fn provider() -> Arc<CryptoProvider> {
    CryptoProvider::get_default().cloned().unwrap_or_else(|| Arc::new(aws_lc_rs::default_provider()))
}

/// The trust anchors tiberius validates against: the system store (`SSL_CERT_FILE` /
/// `SSL_CERT_DIR` replace it when set).
fn system_roots() -> RootCertStore {
    let mut roots = RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    roots
}

/// True when this machine trusts no CA at all (what tiberius then refuses to validate against).
pub fn no_trust_anchors() -> bool {
    system_roots().is_empty()
}

/// Judges a chain (leaf first) for `name` against the system's trust anchors.
pub fn judge(chain: &[CertificateDer<'static>], name: &str) -> Option<Rejection> {
    judge_with(chain, name, system_roots(), UnixTime::now())
}

fn verify(roots: RootCertStore, chain: &[CertificateDer<'static>], name: &ServerName<'static>, now: UnixTime) -> Result<(), TlsError> {
    if roots.is_empty() {
        return Err(TlsError::InvalidCertificate(CertificateError::UnknownIssuer));
    }
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
        .build()
        .map_err(|e| TlsError::General(e.to_string()))?;
    verifier.verify_server_cert(&chain[0], &chain[1..], name, &[], now).map(|_| ())
}

fn judge_with(chain: &[CertificateDer<'static>], name: &str, roots: RootCertStore, now: UnixTime) -> Option<Rejection> {
    let server_name = server_name(name);
    if chain.is_empty() {
        return Some(Rejection { name_tried: name.into(), problems: vec![Problem::Other("the server sent no certificate".into())], valid_for: vec![] });
    }
    let no_anchors = roots.is_empty();
    let first = verify(roots.clone(), chain, &server_name, now).err()?;
    let mut problems = Vec::new();
    let mut valid_for = Vec::new();
    let note = |error: &TlsError, problems: &mut Vec<Problem>, valid_for: &mut Vec<String>| {
        let problem = match error {
            TlsError::InvalidCertificate(e) => match e {
                CertificateError::UnknownIssuer if no_anchors => Problem::NoTrustAnchors,
                // A trusted CA with the issuer's name but another key is still not its issuer.
                CertificateError::UnknownIssuer
                | CertificateError::BadSignature
                | CertificateError::UnsupportedSignatureAlgorithmContext { .. }
                | CertificateError::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => Problem::UnknownIssuer,
                CertificateError::NotValidForName => Problem::WrongName,
                CertificateError::NotValidForNameContext { presented, .. } => {
                    *valid_for = presented.iter().map(|p| presented_name(p)).collect();
                    Problem::WrongName
                }
                CertificateError::ExpiredContext { not_after, .. } => Problem::Expired { not_after: unix(*not_after) },
                CertificateError::NotValidYetContext { not_before, .. } => {
                    Problem::NotYetValid { not_before: unix(*not_before) }
                }
                other => Problem::Other(other.to_string()),
            },
            other => Problem::Other(other.to_string()),
        };
        if !problems.contains(&problem) {
            problems.push(problem);
        }
    };
    note(&first, &mut problems, &mut valid_for);
    // Anchored on its own chain, the certificate shows what else is wrong with it: whether it is
    // self-signed (it then verifies against itself), whether the name is wrong, which names it
    // holds. An expiry stops webpki before any of that, so those are asked at a time it was valid.
    let mut anchored = roots.clone();
    for cert in chain {
        let _ = anchored.add(cert.clone());
    }
    let when = match problems.first() {
        Some(Problem::Expired { not_after }) => unix_time(*not_after, -1),
        Some(Problem::NotYetValid { not_before }) => unix_time(*not_before, 1),
        _ => Some(now),
    };
    let mut self_roots = RootCertStore::empty();
    let _ = self_roots.add(chain[0].clone());
    let self_roots = self_roots;
    if let Some(when) = when {
        if problems.contains(&Problem::UnknownIssuer) || problems.contains(&Problem::NoTrustAnchors) {
            let itself = verify(self_roots.clone(), &chain[..1], &server_name, when);
            let self_signed = !matches!(
                itself,
                Err(TlsError::InvalidCertificate(
                    CertificateError::UnknownIssuer
                        | CertificateError::BadSignature
                        | CertificateError::UnsupportedSignatureAlgorithmForPublicKeyContext { .. }
                ))
            );
            if self_signed && !no_anchors {
                problems[0] = Problem::SelfSigned;
            }
        }
        if let Err(e) = verify(anchored.clone(), chain, &server_name, when) {
            note(&e, &mut problems, &mut valid_for);
        }
        if valid_for.is_empty()
            && let Err(TlsError::InvalidCertificate(CertificateError::NotValidForNameContext { presented, .. })) =
                verify(anchored, chain, &server_name_of("agdiag.invalid"), when)
        {
            valid_for = presented.iter().map(|p| presented_name(p)).collect();
        }
    }
    Some(Rejection { name_tried: name.into(), problems, valid_for })
}

/// webpki renders each subjectAltName entry with `Debug`: `DnsName("a.b")`, `IpAddress(10.0.0.1)`.
/// The name is what is inside; anything else is kept as it is.
fn presented_name(presented: &str) -> String {
    presented
        .strip_prefix("DnsName(\"")
        .and_then(|s| s.strip_suffix("\")"))
        .or_else(|| presented.strip_prefix("IpAddress(").and_then(|s| s.strip_suffix(')')))
        .unwrap_or(presented)
        .to_string()
}

fn server_name_of(name: &str) -> ServerName<'static> {
    ServerName::try_from(name.to_string()).unwrap_or_else(|_| ServerName::try_from("agdiag.invalid").expect("a valid DNS name"))
}

fn server_name(name: &str) -> ServerName<'static> {
    server_name_of(name.trim_start_matches('[').trim_end_matches(']'))
}

/// Keeps the chain the server presents and stops the handshake there.
#[derive(Debug)]
struct Capture {
    chain: Mutex<Option<Vec<CertificateDer<'static>>>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Capture {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, TlsError> {
        let chain = std::iter::once(end_entity).chain(intermediates).map(|c| c.clone().into_owned()).collect();
        *self.chain.lock().unwrap_or_else(|e| e.into_inner()) = Some(chain);
        // Never proceed: this handshake only looks at the certificate.
        Err(TlsError::General("agdiag: certificate captured for diagnosis".into()))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        tokio_rustls::rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        tokio_rustls::rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

const PRELOGIN: u8 = 0x12;
const REPLY: u8 = 0x04;
const ENCRYPT_ON: u8 = 0x01;
const ENCRYPT_NOT_SUP: u8 = 0x02;
/// More than any certificate chain: a server that keeps talking past this is not sending one.
const MAX_BYTES: usize = 256 * 1024;

fn packet(kind: u8, payload: &[u8]) -> Vec<u8> {
    let length = (payload.len() + 8) as u16;
    let mut out = vec![kind, 0x01, (length >> 8) as u8, length as u8, 0, 0, 1, 0];
    out.extend_from_slice(payload);
    out
}

/// A PRELOGIN asking for encryption: VERSION, ENCRYPTION = ON, INSTOPT (empty), THREADID, MARS = 0.
fn prelogin_request() -> Vec<u8> {
    let data: [(u8, Vec<u8>); 5] =
        [(0, vec![0, 0, 0, 0, 0, 0]), (1, vec![ENCRYPT_ON]), (2, vec![0]), (3, vec![0; 4]), (4, vec![0])];
    let mut table = Vec::new();
    let mut body = Vec::new();
    let mut offset = data.len() * 5 + 1;
    for (token, value) in &data {
        table.push(*token);
        table.extend_from_slice(&(offset as u16).to_be_bytes());
        table.extend_from_slice(&(value.len() as u16).to_be_bytes());
        body.extend_from_slice(value);
        offset += value.len();
    }
    table.push(0xFF);
    table.extend(body);
    packet(PRELOGIN, &table)
}

fn bad(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
}

/// Reads one TDS packet: (type, payload).
async fn read_packet<S: AsyncRead + Unpin>(stream: &mut S) -> io::Result<(u8, Vec<u8>)> {
    let mut header = [0u8; 8];
    stream.read_exact(&mut header).await?;
    let length = u16::from_be_bytes([header[2], header[3]]) as usize;
    let length = length.checked_sub(8).ok_or_else(|| bad("a TDS packet shorter than its header"))?;
    let mut payload = vec![0u8; length];
    stream.read_exact(&mut payload).await?;
    Ok((header[0], payload))
}

/// The ENCRYPTION option of a PRELOGIN reply.
fn encryption_of(reply: &[u8]) -> Option<u8> {
    let mut at = 0;
    while let Some(&token) = reply.get(at) {
        if token == 0xFF {
            return None;
        }
        let offset = u16::from_be_bytes([*reply.get(at + 1)?, *reply.get(at + 2)?]) as usize;
        if token == 1 {
            return reply.get(offset).copied();
        }
        at += 5;
    }
    None
}

/// Fetches the certificate chain the server presents for `name`, over `stream` (freshly
/// connected to the same address). `Ok(None)`: the server does not do TLS at all.
pub async fn fetch_chain<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    name: &str,
    strict: bool,
) -> io::Result<Option<Vec<CertificateDer<'static>>>> {
    if !strict {
        stream.write_all(&prelogin_request()).await?;
        let (kind, reply) = read_packet(stream).await?;
        if kind != REPLY {
            return Err(bad(format!("the PRELOGIN reply has packet type {kind:#04x}")));
        }
        if encryption_of(&reply) == Some(ENCRYPT_NOT_SUP) {
            return Ok(None);
        }
    }
    let capture = Arc::new(Capture { chain: Mutex::new(None), provider: provider() });
    let mut config = ClientConfig::builder_with_provider(capture.provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .dangerous()
        .with_custom_certificate_verifier(capture.clone())
        .with_no_client_auth();
    if strict {
        config.alpn_protocols.push(b"tds/8.0".to_vec());
    }
    let mut tls = ClientConnection::new(Arc::new(config), server_name(name)).map_err(io::Error::other)?;
    let mut received = 0usize;
    loop {
        let mut out = Vec::new();
        while tls.wants_write() {
            tls.write_tls(&mut out)?;
        }
        if !out.is_empty() {
            let bytes = if strict { out } else { packet(PRELOGIN, &out) };
            stream.write_all(&bytes).await?;
        }
        if let Some(chain) = capture.chain.lock().unwrap_or_else(|e| e.into_inner()).take() {
            return Ok(Some(chain));
        }
        let data = if strict {
            let mut buf = vec![0u8; 16 * 1024];
            let n = stream.read(&mut buf).await?;
            buf.truncate(n);
            buf
        } else {
            let (kind, payload) = read_packet(stream).await?;
            if kind != PRELOGIN && kind != REPLY {
                return Err(bad(format!("expected TLS data in a PRELOGIN packet, got packet type {kind:#04x}")));
            }
            payload
        };
        if data.is_empty() {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the server closed the connection during the TLS handshake"));
        }
        received += data.len();
        if received > MAX_BYTES {
            return Err(bad("the server sent more than 256 KiB without finishing its certificate"));
        }
        // read_tls takes what fits its buffer, not necessarily all of it.
        let mut input = &data[..];
        let mut processed = Ok(());
        while !input.is_empty() && processed.is_ok() {
            tls.read_tls(&mut input)?;
            processed = tls.process_new_packets().map(|_| ());
        }
        if let Some(chain) = capture.chain.lock().unwrap_or_else(|e| e.into_inner()).take() {
            return Ok(Some(chain));
        }
        if let Err(e) = processed {
            return Err(bad(format!("TLS handshake failed before the certificate: {e}")));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presented_names_are_unwrapped() {
        assert_eq!(presented_name("DnsName(\"sql2.contoso.com\")"), "sql2.contoso.com");
        assert_eq!(presented_name("IpAddress(10.0.0.1)"), "10.0.0.1");
        assert_eq!(presented_name("DirectoryName"), "DirectoryName");
    }

    #[test]
    fn prelogin_request_names_encryption_on() {
        let p = prelogin_request();
        assert_eq!(p[0], PRELOGIN);
        assert_eq!(u16::from_be_bytes([p[2], p[3]]) as usize, p.len());
        assert_eq!(encryption_of(&p[8..]), Some(ENCRYPT_ON));
    }

    #[test]
    fn the_trust_advice_comes_off_once() {
        let r = Rejection { name_tried: "sql1".into(), problems: vec![Problem::UnknownIssuer], valid_for: vec![] };
        let m = r.message("SQL1");
        let short = without_trust_advice(&m).unwrap();
        assert!(!short.contains("--trust-server-certificate") && short.ends_with("SSL_CERT_FILE)."), "{short}");
        let r = Rejection { name_tried: "sql1".into(), problems: vec![Problem::Other("BadEncoding".into())], valid_for: vec![] };
        let short = without_trust_advice(&r.message("SQL1")).unwrap();
        assert!(short.ends_with("rustls rejects it: BadEncoding."), "{short}");
        assert_eq!(without_trust_advice("cannot connect"), None);
    }

    #[test]
    fn dates_read_as_dates() {
        assert_eq!(date(SystemTime::UNIX_EPOCH + Duration::from_secs(1_609_459_200)), "2021-01-01 00:00:00 UTC");
    }
}

#[cfg(test)]
mod judge_tests {
    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};

    fn new_ca() -> CertifiedIssuer<'static, KeyPair> {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(rcgen::DnType::CommonName, format!("CA {}", rand_name()));
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
    }

    fn rand_name() -> u128 {
        SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_nanos()
    }

    fn roots_of(ca: &CertifiedIssuer<'static, KeyPair>) -> RootCertStore {
        let mut roots = RootCertStore::empty();
        roots.add(ca.der().clone()).unwrap();
        roots
    }

    #[test]
    fn self_signed_certificates_are_told_apart_from_unknown_cas() {
        let ca = new_ca();
        let key = KeyPair::generate().unwrap();
        let cert = CertificateParams::new(vec!["sql1.contoso.com".to_string()]).unwrap().self_signed(&key).unwrap();
        let r = judge_with(&[cert.der().clone()], "sql1.contoso.com", roots_of(&ca), UnixTime::now()).unwrap();
        assert_eq!(r.problems, vec![Problem::SelfSigned], "{r:?}");
        assert_eq!(r.valid_for, vec!["sql1.contoso.com"]);
        let other = new_ca();
        let leaf = CertificateParams::new(vec!["sql1.contoso.com".to_string()]).unwrap().signed_by(&key, &other).unwrap();
        // The chain holds its CA: the names can be read through it.
        let chain = [leaf.der().clone(), other.der().clone()];
        let r = judge_with(&chain, "sql1", roots_of(&ca), UnixTime::now()).unwrap();
        assert_eq!(r.problems, vec![Problem::UnknownIssuer, Problem::WrongName], "{r:?}");
        assert_eq!(r.valid_for, vec!["sql1.contoso.com"]);
        let expired = {
            let mut p = CertificateParams::new(vec!["sql1.contoso.com".to_string()]).unwrap();
            p.not_before = rcgen::date_time_ymd(2020, 1, 1);
            p.not_after = rcgen::date_time_ymd(2021, 1, 1);
            p.signed_by(&key, &ca).unwrap()
        };
        let r = judge_with(&[expired.der().clone()], "sql1", roots_of(&ca), UnixTime::now()).unwrap();
        assert!(matches!(r.problems[0], Problem::Expired { .. }), "{r:?}");
        assert!(r.problems.contains(&Problem::WrongName), "{r:?}");
        assert!(r.message("SQL1").contains("expired on 2021-01-01 00:00:00 UTC"), "{}", r.message("SQL1"));
        // Like SQL Server's own fallback certificate: self-signed, a CN and no subjectAltName.
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.distinguished_name.push(rcgen::DnType::CommonName, "SSL_Self_Signed_Fallback");
        let fallback = p.self_signed(&key).unwrap();
        let r = judge_with(&[fallback.der().clone()], "sql1.contoso.com", roots_of(&ca), UnixTime::now()).unwrap();
        assert_eq!(r.problems, vec![Problem::SelfSigned, Problem::WrongName], "{r:?}");
        let m = r.message("SQL1");
        assert!(m.contains("names no server at all") && m.contains("issued for sql1.contoso.com"), "{m}");
        assert!(!m.contains("-S ") && !m.contains("--override"), "{m}");
        assert!(judge_with(&[leaf.der().clone()], "sql1.contoso.com", roots_of(&other), UnixTime::now()).is_none());
    }
}
