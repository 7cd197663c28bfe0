//! The collection request: which instances, how to authenticate and encrypt, how long to wait.
//! Arrives as JSON over the C ABI and is built from flags by the CLI.
//!
//! ```json
//! { "instances": ["sql1.contoso.com", "SQL2\\INST1", "sql3,14330", "tcp:sql4,1433"],
//!   "authentication": { "method": "sql", "user": "agdiag", "password": "..." },
//!   "encrypt": "mandatory", "trust_server_certificate": false,
//!   "timeouts": { "connect_ms": 5000, "login_ms": 15000, "command_ms": 30000, "probe_ms": 3000 },
//!   "discover_replicas": true, "overrides": { "SQL2": "sql2.contoso.com,14330" },
//!   "checks": [], "concurrency": 16, "probes": true, "history_days": 7 }
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

    /// Whether this build can log in this way (a property of the build's features, so it lives
    /// here, below the connection code that uses it).
    pub fn is_supported(&self) -> bool {
        match self {
            Authentication::Sql { .. } => true,
            Authentication::Integrated => cfg!(any(windows, all(unix, feature = "kerberos"))),
            Authentication::Windows { .. } => cfg!(windows),
        }
    }

    pub fn password(&self) -> Option<&Secret> {
        match self {
            Authentication::Sql { password, .. } | Authentication::Windows { password, .. } => Some(password),
            Authentication::Integrated => None,
        }
    }
}

/// TDS encryption, as SQL Server drivers name it. `mandatory` (the default) encrypts everything
/// and validates the server certificate; `optional` encrypts when the server can; `strict` is TDS
/// 8.0 (TLS before anything else). `off` is `Encrypt=False`: the login packet is still encrypted,
/// and a server that forces encryption encrypts the whole session; either way the certificate is
/// validated unless `trust_server_certificate`. `none` encrypts nothing, the login included, and
/// exists for test servers that do not speak TLS.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encrypt {
    #[default]
    Mandatory,
    Optional,
    Strict,
    Off,
    None,
}

impl Encrypt {
    pub fn as_str(self) -> &'static str {
        match self {
            Encrypt::Mandatory => "mandatory",
            Encrypt::Optional => "optional",
            Encrypt::Strict => "strict",
            Encrypt::Off => "off",
            Encrypt::None => "none",
        }
    }

    pub fn parse(text: &str) -> Result<Encrypt> {
        serde_json::from_value(Value::String(text.to_ascii_lowercase())).map_err(|_| {
            Error::invalid_argument(format!("encrypt \"{text}\" is not one of mandatory, optional, strict, off, none"))
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

fn default_history_days() -> u32 {
    History::DEFAULT_DAYS
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
    /// Days of AlwaysOn_health event history to read (the newest events, at most
    /// `queries::History::MAX_ROWS` per instance); 0 reads none.
    #[serde(default = "default_history_days")]
    pub history_days: u32,
}

/// More connections at once than any AG has replicas is a typo, not a plan.
const MAX_CONCURRENCY: usize = 1024;
/// A timeout longer than an hour is a typo (seconds given as milliseconds × 1000, say).
const MAX_TIMEOUT_MS: u64 = 3_600_000;

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
            history_days: default_history_days(),
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
        check_field_types(&value)?;
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
        crate::checks::validate_selection(&self.checks)?;
        let mut seen: Vec<(&str, InstanceAddress)> = Vec::new();
        for text in &self.instances {
            let address = InstanceAddress::parse(text)?;
            if let Some((first, _)) = seen.iter().find(|(_, a)| a.same_instance(&address)) {
                return Err(Error::invalid_argument(format!(
                    "instance \"{}\" is listed twice (also as \"{}\")",
                    text.escape_debug(),
                    first.escape_debug()
                )));
            }
            seen.push((text, address));
        }
        let mut names: Vec<&str> = Vec::new();
        for (name, text) in &self.overrides {
            if name.trim().is_empty() {
                return Err(Error::invalid_argument("an override has an empty replica name"));
            }
            if names.iter().any(|n| n.trim().eq_ignore_ascii_case(name.trim())) {
                return Err(Error::invalid_argument(format!(
                    "replica {} has more than one override (names are case-insensitive)",
                    name.escape_debug()
                )));
            }
            names.push(name);
            InstanceAddress::parse(text)
                .map_err(|e| Error::invalid_argument(format!("override for {}: {}", name.escape_debug(), e.message)))?;
        }
        if self.concurrency == 0 || self.concurrency > MAX_CONCURRENCY {
            return Err(Error::invalid_argument(format!(
                "concurrency {} is out of range: collect 1 to {MAX_CONCURRENCY} instances at once",
                self.concurrency
            )));
        }
        if self.history_days > History::MAX_DAYS {
            return Err(Error::invalid_argument(format!(
                "history_days {} is out of range: 0 (no event history) to {} days",
                self.history_days,
                History::MAX_DAYS
            )));
        }
        let t = &self.timeouts;
        for (name, ms) in [("connect_ms", t.connect_ms), ("login_ms", t.login_ms), ("command_ms", t.command_ms), ("probe_ms", t.probe_ms)] {
            if ms == 0 || ms > MAX_TIMEOUT_MS {
                return Err(Error::invalid_argument(format!(
                    "timeout {name} = {ms} is out of range: 1 to {MAX_TIMEOUT_MS} ms (one hour)"
                )));
            }
        }
        match &self.authentication {
            Authentication::Sql { user, .. } | Authentication::Windows { user, .. } if user.is_empty() => {
                Err(Error::invalid_argument("authentication needs a user"))
            }
            Authentication::Integrated | Authentication::Windows { .. } if !self.authentication.is_supported() => {
                Err(Error::invalid_argument(format!(
                    "{} authentication is not available in this build of AgDiag: integrated authentication needs \
                     Windows (SSPI) or, on Linux/macOS, a build with `--features kerberos`; an explicit Windows \
                     user and password needs Windows. Use SQL authentication, or such a build",
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

    /// The event history window the batch reads.
    pub fn history(&self) -> History {
        History { days: self.history_days, ..Default::default() }
    }

    /// The `collection` section of the snapshot: settings that affect trust or what was read
    /// (the event history window and row cap). Never a secret.
    pub fn collection_section(&self) -> Value {
        let mut section = json!({
            "encrypt": self.encrypt.as_str(),
            "trust_server_certificate": self.trust_server_certificate,
            "authentication": self.authentication.method(),
            "discover_replicas": self.discover_replicas,
            "history_days": self.history_days,
            "history_max_rows": self.history().max_rows,
        });
        if !self.overrides.is_empty() {
            section["overrides"] = json!(self.overrides);
        }
        section
    }
}

/// serde's type errors do not say which field; these name it (and never echo a value, which could
/// be a misplaced password).
fn check_field_types(value: &Value) -> Result<()> {
    let kind = |v: &Value| match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    let Some(object) = value.as_object() else {
        return Err(Error::invalid_argument(format!("collection request must be a JSON object, not {}", kind(value))));
    };
    let wrong = |field: &str, want: &str, got: &Value| {
        Error::invalid_argument(format!("collection request field {field} must be {want}, not {}", kind(got)))
    };
    match object.get("instances") {
        None => return Err(Error::invalid_argument("collection request has no \"instances\" (an array of host, host\\instance or host,port)")),
        Some(Value::Array(items)) => {
            if let Some(item) = items.iter().find(|i| !i.is_string()) {
                return Err(wrong("instances[]", "a string", item));
            }
        }
        Some(other) => return Err(wrong("instances", "an array of strings", other)),
    }
    for field in ["trust_server_certificate", "discover_replicas", "probes"] {
        if let Some(v) = object.get(field).filter(|v| !v.is_boolean()) {
            return Err(wrong(field, "true or false", v));
        }
    }
    if let Some(v) = object.get("concurrency").filter(|v| !v.is_u64()) {
        return Err(wrong("concurrency", "a whole number from 1", v));
    }
    if let Some(v) = object.get("history_days").filter(|v| v.as_u64().is_none_or(|n| u32::try_from(n).is_err())) {
        return Err(wrong("history_days", "a whole number of days from 0", v));
    }
    if let Some(timeouts) = object.get("timeouts") {
        let Some(timeouts) = timeouts.as_object() else { return Err(wrong("timeouts", "an object", timeouts)) };
        for (name, v) in timeouts {
            if !v.is_u64() {
                return Err(wrong(&format!("timeouts.{name}"), "a whole number of milliseconds", v));
            }
        }
    }
    for field in ["overrides", "authentication"] {
        if let Some(v) = object.get(field).filter(|v| !v.is_object()) {
            return Err(wrong(field, "an object", v));
        }
    }
    Ok(())
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
        let bad = |why: String| Error::invalid_argument(format!("instance \"{}\" {why}", text.escape_debug()));
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(bad("is empty: give host, host\\instance, host,port or tcp:host,port".into()));
        }
        let rest = match trimmed.get(..4) {
            Some(p) if p.eq_ignore_ascii_case("tcp:") => &trimmed[4..],
            _ => trimmed,
        };
        let (name_part, port) = match rest.rsplit_once(',') {
            Some((name, port)) => {
                let port_text = port.trim();
                let port: u16 = port_text
                    .parse()
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or_else(|| bad(format!("has an invalid port \"{}\" (1 to 65535)", port_text.escape_debug())))?;
                (name.trim(), Some(port))
            }
            None => (rest, None),
        };
        let (host, instance) = match name_part.split_once('\\') {
            Some((host, inst)) => {
                let inst = inst.trim();
                if inst.is_empty() {
                    return Err(bad("has an empty instance name after the backslash".into()));
                }
                if inst.chars().any(|c| c == '\\' || c.is_whitespace() || c.is_control()) {
                    return Err(bad(format!("has an invalid instance name \"{}\"", inst.escape_debug())));
                }
                (host.trim(), Some(inst.to_string()))
            }
            None => (name_part, None),
        };
        if host.is_empty() {
            return Err(bad("names no host".into()));
        }
        if host.chars().any(|c| c.is_whitespace() || c.is_control() || c == '/' || c == ',') {
            return Err(bad("is not a host name".into()));
        }
        let host = host.trim_start_matches('[').trim_end_matches(']').to_string();
        // `np:`, `lpc:`, `admin:` or `host:1433`: not a host; an IPv6 literal is.
        if host.contains(':') && host.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(bad(
                "is not a TCP address AgDiag reads: use host, host\\instance, host,port or tcp:host,port \
                 (a port follows a comma, not a colon)"
                    .into(),
            ));
        }
        Ok(InstanceAddress { host, port, instance })
    }

    /// The same server instance, however it was spelled (`tcp:`, case, the default port).
    pub fn same_instance(&self, other: &InstanceAddress) -> bool {
        let instance = |a: &InstanceAddress| a.instance.as_deref().map(str::to_ascii_lowercase);
        let port = |a: &InstanceAddress| if a.instance.is_some() { a.port } else { Some(a.tcp_port()) };
        self.host.eq_ignore_ascii_case(&other.host) && instance(self) == instance(other) && port(self) == port(other)
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


/// How far back the collector reads event history (the AlwaysOn_health files), and how many
/// events at most: the newest `max_rows` events of the last `days` days (server clock, UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct History {
    /// 0 reads no history: `alwayson_health` is not collected.
    pub days: u32,
    pub max_rows: u32,
}

impl History {
    /// The default history window, in days.
    pub(crate) const DEFAULT_DAYS: u32 = 7;
    /// The most AlwaysOn_health events one instance returns (the newest in the window).
    pub(crate) const MAX_ROWS: u32 = 50_000;
    /// The longest window a request may ask for (ten years).
    pub(crate) const MAX_DAYS: u32 = 3_650;
}

impl Default for History {
    fn default() -> Self {
        History { days: History::DEFAULT_DAYS, max_rows: History::MAX_ROWS }
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
        assert_eq!(r.history_days, 7);
        assert_eq!(r.collection_section()["history_days"], 7);
        assert_eq!(r.collection_section()["history_max_rows"], 50_000);
        let r = Request::from_json(
            r#"{"instances":["sql1"],"history_days":30,"authentication":{"method":"sql","user":"u","password":"p"}}"#,
        )
        .unwrap();
        assert_eq!(r.history(), History { days: 30, max_rows: 50_000 });
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

    fn invalid(json: &str) -> String {
        Request::from_json(json).expect_err(json).message
    }

    #[test]
    fn malformed_requests_name_the_problem() {
        let m = invalid(r#"{"instances":[1]}"#);
        assert!(m.contains("instances[] must be a string, not a number"), "{m}");
        let m = invalid(r#"{"timeouts":{}}"#);
        assert!(m.contains("has no \"instances\""), "{m}");
        let m = invalid(r#"{"instances":["a"],"#);
        assert!(m.contains("not valid") && m.contains("line 1"), "{m}");
        let m = invalid(r#"{"instances":["a"],"concurency":4}"#);
        assert!(m.contains("unknown field `concurency`"), "{m}");
        let m = invalid(r#"{"instances":["a"],"timeouts":{"connect":5}}"#);
        assert!(m.contains("unknown field `connect`"), "{m}");
        for (instance, says) in [
            ("host,abc", "invalid port \"abc\""),
            ("host,70000", "invalid port \"70000\""),
            ("", "is empty"),
            ("   ", "is empty"),
            ("tcp:", "names no host"),
            ("tcp:,1433", "names no host"),
            ("host\\", "empty instance name"),
            ("host\\a\\b", "invalid instance name"),
            ("host:1433", "not a colon"),
            ("np:host", "not a TCP address"),
        ] {
            let m = invalid(&serde_json::json!({ "instances": [instance] }).to_string());
            assert!(m.contains(says) && m.contains(&format!("\"{}\"", instance.escape_debug())), "{instance}: {m}");
        }
        assert!(InstanceAddress::parse("[::1],1433").is_ok());
        let m = invalid(r#"{"instances":["sql1","SQL1,1433"]}"#);
        assert!(m.contains("listed twice") && m.contains("sql1"), "{m}");
        let m = invalid(r#"{"instances":["tcp:sql1,14330","sql1,14330"]}"#);
        assert!(m.contains("listed twice"), "{m}");
        // Different instances on one host are not duplicates.
        let both = r#"{"instances":["sql1","sql1\\INST","sql1,14330"],"authentication":{"method":"sql","user":"u","password":"p"}}"#;
        assert!(Request::from_json(both).is_ok());
        let m = invalid(r#"{"instances":["a"],"overrides":{"SQL2":"x,1","sql2":"y,2"}}"#);
        assert!(m.contains("more than one override"), "{m}");
        let m = invalid(r#"{"instances":["a"],"overrides":{"SQL2":"x,abc"}}"#);
        assert!(m.contains("override for SQL2") && m.contains("invalid port"), "{m}");
        for (field, value, says) in [
            ("concurrency", "0", "concurrency 0 is out of range"),
            ("concurrency", "100000", "concurrency 100000 is out of range"),
            ("concurrency", "-1", "field concurrency must be a whole number from 1, not a number"),
            ("concurrency", "\"8\"", "field concurrency must be a whole number from 1, not a string"),
            ("timeouts", "{\"login_ms\":1.5}", "field timeouts.login_ms must be a whole number of milliseconds"),
            ("probes", "\"yes\"", "field probes must be true or false, not a string"),
            ("history_days", "-1", "field history_days must be a whole number of days from 0, not a number"),
            ("history_days", "\"7\"", "field history_days must be a whole number of days from 0, not a string"),
            ("history_days", "3651", "history_days 3651 is out of range"),
            ("instances", "\"sql1\"", "field instances must be an array of strings, not a string"),
        ] {
            let m = invalid(&format!(r#"{{"instances":["a"],"{field}":{value}}}"#));
            assert!(m.contains(says), "{field}={value}: {m}");
        }
        for (name, ms) in [("connect_ms", 0u64), ("login_ms", 0), ("command_ms", 86_400_000), ("probe_ms", u64::MAX)] {
            let m = invalid(&format!(r#"{{"instances":["a"],"timeouts":{{"{name}":{ms}}}}}"#));
            assert!(m.contains(&format!("timeout {name} = {ms} is out of range")), "{m}");
        }
    }

    #[test]
    fn overrides_match_case_insensitively() {
        let mut r = Request::new(vec!["a".into()], Authentication::Integrated);
        r.overrides.insert("SQL2".into(), "127.0.0.1,5000".into());
        assert_eq!(r.override_for("sql2"), Some("127.0.0.1,5000"));
        assert_eq!(r.override_for("SQL3"), None);
    }
}
