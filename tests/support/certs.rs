//! Test certificates, made at test time with rcgen (no key is committed, nothing expires on its
//! own): one CA, server certificates it issues (for given names and validity), self-signed ones.
//! [`trust_test_ca`] points `SSL_CERT_FILE` at the CA (and unsets `SSL_CERT_DIR`) once per test process: rustls-native-certs
//! (which tiberius and AgDiag load their trust anchors from) then trusts that CA and nothing else.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::OnceLock;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};

use crate::tds_server::TlsSetup;

pub struct Pki {
    ca: CertifiedIssuer<'static, KeyPair>,
    pub ca_file: PathBuf,
}

/// The test CA, trusted through `SSL_CERT_FILE` for the whole test process. Call it before any
/// connection is made (every test of a binary that uses it should).
pub fn trust_test_ca() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(|| {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, "AgDiag Test CA");
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().expect("CA key")).expect("CA certificate");
        let ca_file = std::env::temp_dir().join(format!("agdiag-test-ca-{}.pem", std::process::id()));
        std::fs::write(&ca_file, ca.pem()).expect("write the CA file");
        // SAFETY: set once, inside the OnceLock initializer that every test runs before it starts a
        // runtime or a connection, so no other thread of this process reads the environment now.
        // SSL_CERT_DIR would add the machine's store to the file.
        unsafe {
            std::env::set_var("SSL_CERT_FILE", &ca_file);
            std::env::remove_var("SSL_CERT_DIR");
        }
        Pki { ca, ca_file }
    })
}

fn params(names: &[&str], valid: Option<(i32, i32)>) -> CertificateParams {
    let mut params = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).expect("params");
    params.distinguished_name.push(DnType::CommonName, names.first().copied().unwrap_or("agdiag-test"));
    if let Some((from, to)) = valid {
        params.not_before = rcgen::date_time_ymd(from, 1, 1);
        params.not_after = rcgen::date_time_ymd(to, 1, 1);
    }
    params
}

fn setup(cert: &rcgen::Certificate, key: &KeyPair) -> TlsSetup {
    TlsSetup { chain: vec![cert.der().clone()], key_pkcs8: key.serialize_der(), force: false, stall_handshake: false }
}

impl Pki {
    /// A certificate the test CA issues for `names`, valid now (or from January 1st of the first
    /// year to January 1st of the second).
    pub fn server(&self, names: &[&str], valid: Option<(i32, i32)>) -> TlsSetup {
        let key = KeyPair::generate().expect("key");
        let cert = params(names, valid).signed_by(&key, &self.ca).expect("issue");
        setup(&cert, &key)
    }

    /// A self-signed certificate for `names` (like the one SQL Server makes for itself).
    pub fn self_signed(&self, names: &[&str]) -> TlsSetup {
        let key = KeyPair::generate().expect("key");
        let cert = params(names, None).self_signed(&key).expect("self-sign");
        setup(&cert, &key)
    }
}
