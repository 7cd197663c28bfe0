//! The collection request: which instances, how to authenticate and encrypt, how long to wait.
//! Arrives as JSON over the C ABI and is built from flags by the CLI.
//!
//! ```json
//! { "instances": ["sql1.contoso.com", "SQL2\\INST1", "sql3,14330", "tcp:sql4,1433"],
//!   "authentication": { "method": "sql", "user": "agdiag", "password": "..." },
//!   "encrypt": "mandatory", "trust_server_certificate": false,
//!   "timeouts": { "connect_ms": 5000, "login_ms": 15000, "command_ms": 30000, "probe_ms": 3000 },
//!   "discover_replicas": true, "overrides": { "SQL2": "sql2.contoso.com,14330" },
//!   "checks": [], "concurrency": 16, "probes": true }
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer};
use serde_json::{json, Value};

use crate::error::{Error, Result};

/// A password. Its `Debug` and `Display` print `***`, it never serializes, and its bytes are
/// overwritten when it is dropped.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The plaintext, for handing to the TDS client only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        // SAFETY: zero bytes are valid UTF-8, so the String stays well-formed.
        for byte in unsafe { self.0.as_bytes_mut() } {
            // Volatile so the wipe of a buffer about to be freed is not optimized away.
            unsafe { std::ptr::write_volatile(byte, 0) };
        }
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

/// How AgDiag logs in.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "method", rename_all = "lowercase", deny_unknown_fields)]
pub enum Authentication {
    /// SQL Server authentication.
    Sql { user: String, password: Secret },
    /// The current Windows/Kerberos identity (SSPI on Windows, Kerberos on Unix).
    Integrated,
    /// An explicit Windows account (`DOMAIN\user`) and password (NTLM).
    Windows { user: String, password: Secret },
}

impl Authentication {
    pub fn method(&self) -> &'static str {
        match self {
            Authentication::Sql { .. } => "sql",
            Authentication::Integrated => "integrated",
            Authentication::Windows { .. } => "windows",
        }
    }

    pub fn password(&self) -> Option<&Secret> {
        match self {
            Authentication::Sql { password, .. } | Authentication::Windows { password, .. } => Some(password),
            Authentication::Integrated => None,
        }
    }
}

/// TDS encryption. `mandatory` (the default) encrypts everything and validates the server
/// certificate; `off` sends everything in clear text and exists for test servers only.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encrypt {
    #[default]
    Mandatory,
    Optional,
    Strict,
    Off,
}

impl Encrypt {
    pub fn as_str(self) -> &'static str {
        match self {
            Encrypt::Mandatory => "mandatory",
            Encrypt::Optional => "optional",
            Encrypt::Strict => "strict",
            Encrypt::Off => "off",
        }
    }

    pub fn parse(text: &str) -> Result<Encrypt> {
        serde_json::from_value(Value::String(text.to_ascii_lowercase())).map_err(|_| {
            Error::invalid_argument(format!("encrypt \"{text}\" is not one of mandatory, optional, strict, off"))
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Timeouts {
    /// TCP connect (and SQL Browser lookup), per instance.
    pub connect_ms: u64,
    /// Prelogin, TLS and login.
    pub login_ms: u64,
    /// Each round trip of the query batch.
    pub command_ms: u64,
    /// Each probe's TCP connect.
    pub probe_ms: u64,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts { connect_ms: 5_000, login_ms: 15_000, command_ms: 30_000, probe_ms: 3_000 }
    }
}

impl Timeouts {
    pub fn connect(&self) -> Duration {
        Duration::from_millis(self.connect_ms)
    }
    pub fn login(&self) -> Duration {
        Duration::from_millis(self.login_ms)
    }
    pub fn command(&self) -> Duration {
        Duration::from_millis(self.command_ms)
    }
    pub fn probe(&self) -> Duration {
        Duration::from_millis(self.probe_ms)
    }
}

fn default_true() -> bool {
    true
}

fn default_concurrency() -> usize {
    16
}

/// A collection request.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// `host`, `host\instance`, `host,port` or `tcp:host,port`.
    pub instances: Vec<String>,
    #[serde(default = "default_integrated")]
    pub authentication: Authentication,
    #[serde(default)]
    pub encrypt: Encrypt,
    /// Accept any server certificate. An explicit opt-in, recorded in the snapshot.
    #[serde(default)]
    pub trust_server_certificate: bool,
    #[serde(default)]
    pub timeouts: Timeouts,
    /// Connect to every replica named in `availability_replicas` as well.
    #[serde(default = "default_true")]
    pub discover_replicas: bool,
    /// Where to reach a replica, by `replica_server_name` (case-insensitive): `SQL2` → `sql2.contoso.com,14330`.
    #[serde(default)]
    pub overrides: BTreeMap<String, String>,
    /// Check ids or patterns for the analysis; all when empty.
    #[serde(default)]
    pub checks: Vec<String>,
    /// How many instances are collected at once.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Run the TCP reachability probes.
    #[serde(default = "default_true")]
    pub probes: bool,
}

fn default_integrated() -> Authentication {
    Authentication::Integrated
}

impl Request {
    /// A request for `instances` with every default.
    pub fn new(instances: Vec<String>, authentication: Authentication) -> Request {
        Request {
            instances,
            authentication,
            encrypt: Encrypt::default(),
            trust_server_certificate: false,
            timeouts: Timeouts::default(),
            discover_replicas: true,
            overrides: BTreeMap::new(),
            checks: Vec::new(),
            concurrency: default_concurrency(),
            probes: true,
        }
    }

    /// Parses and validates request JSON. Error messages never contain the password, even when
    /// the document is malformed around it.
    pub fn from_json(text: &str) -> Result<Request> {
        let value: Value = serde_json::from_str(text).map_err(|e| Error::json("collection request JSON", &e))?;
        let password = value
            .pointer("/authentication/password")
            .and_then(Value::as_str)
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .map(Secret);
        let request: Request = serde_json::from_value(value).map_err(|e| {
            let mut message = format!("collection request is not valid: {e}");
            if let Some(p) = &password {
                message = message.replace(p.expose(), "***");
            }
            Error::invalid_argument(message)
        })?;
        request.validate()?;
        Ok(request)
    }

    pub fn validate(&self) -> Result<()> {
        if self.instances.is_empty() {
            return Err(Error::invalid_argument("collection request names no instances"));
        }
        for text in &self.instances {
            InstanceAddress::parse(text)?;
        }
        for (name, text) in &self.overrides {
            InstanceAddress::parse(text)
                .map_err(|e| Error::invalid_argument(format!("override for {name}: {}", e.message)))?;
        }
        if self.concurrency == 0 {
            return Err(Error::invalid_argument("concurrency must be at least 1"));
        }
        let t = &self.timeouts;
        if [t.connect_ms, t.login_ms, t.command_ms, t.probe_ms].contains(&0) {
            return Err(Error::invalid_argument("timeouts must be greater than 0 ms"));
        }
        if self.trust_server_certificate && self.encrypt == Encrypt::Off {
            return Err(Error::invalid_argument("trust_server_certificate has no meaning with encrypt \"off\""));
        }
        match &self.authentication {
            Authentication::Sql { user, .. } | Authentication::Windows { user, .. } if user.is_empty() => {
                Err(Error::invalid_argument("authentication needs a user"))
            }
            Authentication::Integrated | Authentication::Windows { .. } if !super::connect::supports(&self.authentication) => {
                Err(Error::invalid_argument(format!(
                    "{} authentication is not available in this build of AgDiag (tiberius is built without \
                     SSPI/Kerberos support); use SQL authentication",
                    self.authentication.method()
                )))
            }
            _ => Ok(()),
        }
    }

    /// The replica address override for `replica_server_name`, if any (case-insensitive).
    pub fn override_for(&self, replica_server_name: &str) -> Option<&str> {
        self.overrides
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(replica_server_name))
            .map(|(_, target)| target.as_str())
    }

    /// The `collection` section of the snapshot: settings that affect trust. Never a secret.
    pub fn collection_section(&self) -> Value {
        let mut section = json!({
            "encrypt": self.encrypt.as_str(),
            "trust_server_certificate": self.trust_server_certificate,
            "authentication": self.authentication.method(),
            "discover_replicas": self.discover_replicas,
        });
        if !self.overrides.is_empty() {
            section["overrides"] = json!(self.overrides);
        }
        section
    }
}

/// Where one instance lives: host plus a port or an instance name (resolved by SQL Browser).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceAddress {
    pub host: String,
    pub port: Option<u16>,
    pub instance: Option<String>,
}

impl InstanceAddress {
    /// Parses `host`, `host\instance`, `host,port`, `tcp:host,port` (and `host\instance,port`).
    pub fn parse(text: &str) -> Result<InstanceAddress> {
        let bad = |why: &str| Error::invalid_argument(format!("instance \"{}\" {why}", text.escape_debug()));
        let trimmed = text.trim();
        let rest = match trimmed.get(..4) {
            Some(p) if p.eq_ignore_ascii_case("tcp:") => &trimmed[4..],
            _ => trimmed,
        };
        let (name_part, port) = match rest.rsplit_once(',') {
            Some((name, port)) => {
                let port: u16 = port.trim().parse().ok().filter(|p| *p > 0).ok_or_else(|| bad("has an invalid port"))?;
                (name.trim(), Some(port))
            }
            None => (rest, None),
        };
        let (host, instance) = match name_part.split_once('\\') {
            Some((host, inst)) => (host.trim(), Some(inst.trim().to_string()).filter(|i| !i.is_empty())),
            None => (name_part, None),
        };
        if host.is_empty() {
            return Err(bad("names no host"));
        }
        if host.chars().any(|c| c.is_whitespace() || c.is_control() || c == '/' || c == ',') {
            return Err(bad("is not a host name"));
        }
        let host = host.trim_start_matches('[').trim_end_matches(']').to_string();
        Ok(InstanceAddress { host, port, instance })
    }

    pub fn tcp_port(&self) -> u16 {
        self.port.unwrap_or(1433)
    }
}

impl fmt::Display for InstanceAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.host)?;
        if let Some(inst) = &self.instance {
            write!(f, "\\{inst}")?;
        }
        if let Some(port) = self.port {
            write!(f, ",{port}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_instance_form() {
        let a = InstanceAddress::parse("sql1.contoso.com").unwrap();
        assert_eq!((a.host.as_str(), a.port, a.instance.as_deref()), ("sql1.contoso.com", None, None));
        let a = InstanceAddress::parse("SQL2\\INST1").unwrap();
        assert_eq!((a.host.as_str(), a.port, a.instance.as_deref()), ("SQL2", None, Some("INST1")));
        let a = InstanceAddress::parse("sql3,14330").unwrap();
        assert_eq!((a.host.as_str(), a.port), ("sql3", Some(14330)));
        let a = InstanceAddress::parse("tcp:sql4,1433").unwrap();
        assert_eq!((a.host.as_str(), a.port), ("sql4", Some(1433)));
        assert_eq!(a.to_string(), "sql4,1433");
        assert!(InstanceAddress::parse("sql1,0").is_err());
        assert!(InstanceAddress::parse("sql1,x").is_err());
        assert!(InstanceAddress::parse(",1433").is_err());
        assert!(InstanceAddress::parse("sql 1").is_err());
    }

    #[test]
    fn request_defaults_and_validation() {
        let r = Request::from_json(
            r#"{"instances":["sql1"],"authentication":{"method":"sql","user":"u","password":"p"}}"#,
        )
        .unwrap();
        assert_eq!(r.encrypt, Encrypt::Mandatory);
        assert!(r.discover_replicas && r.probes && !r.trust_server_certificate);
        assert_eq!(r.timeouts, Timeouts::default());
        assert_eq!(r.concurrency, 16);
        assert_eq!(r.collection_section()["authentication"], "sql");
        assert!(Request::from_json(r#"{"instances":[]}"#).is_err());
        let e = Request::from_json(r#"{"instances":["a"],"encrypt":"maybe"}"#).unwrap_err();
        assert!(e.message.contains("maybe"), "{e}");
    }

    #[test]
    fn password_never_in_errors_or_debug() {
        let text = r#"{"instances":["a"],"authentication":{"method":"sql","user":"u","password":"S3ntinel!"},"timeouts":"S3ntinel!"}"#;
        let e = Request::from_json(text).unwrap_err();
        assert!(!e.message.contains("S3ntinel!"), "{e}");
        let r = Request::new(vec!["a".into()], Authentication::Sql { user: "u".into(), password: Secret::new("S3ntinel!") });
        assert!(!format!("{r:?}").contains("S3ntinel!"));
        assert!(!r.collection_section().to_string().contains("S3ntinel!"));
    }

    #[test]
    fn overrides_match_case_insensitively() {
        let mut r = Request::new(vec!["a".into()], Authentication::Integrated);
        r.overrides.insert("SQL2".into(), "127.0.0.1,5000".into());
        assert_eq!(r.override_for("sql2"), Some("127.0.0.1,5000"));
        assert_eq!(r.override_for("SQL3"), None);
    }
}
