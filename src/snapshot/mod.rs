//! The evidence: snapshot format `agdiag.snapshot/1` (raw catalog-view rows per instance, plus
//! network probes). Parsing follows the contract: absent key = not collected, absent column = NULL,
//! unknown keys and columns ignored.

pub mod keys;
pub mod domains;
mod merge;
mod row;
pub mod text_input;

pub use row::Row;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, ErrorKind, Result};

pub const FORMAT: &str = "agdiag.snapshot/1";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub format: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collected_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collector: Option<String>,
    /// Connection settings the collector used that affect trust (e.g. `trust_server_certificate`).
    /// Never holds a secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collection: Option<Value>,
    #[serde(default)]
    pub instances: Vec<Instance>,
    #[serde(default)]
    pub probes: Vec<Probe>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Instance {
    /// What AgDiag connected to (`sql1.contoso.com,1433`, `SQL2\INST1`).
    pub target: String,
    #[serde(default = "default_true", deserialize_with = "de_bit")]
    pub connected: bool,
    #[serde(default)]
    pub connect_error: Option<ServerError>,
    #[serde(default, deserialize_with = "row::de_results")]
    pub results: BTreeMap<String, Vec<Row>>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub query_errors: BTreeMap<String, ServerError>,
}

/// A server error (`number`, `state`) or a transport error (`message` only).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerError {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<i64>,
    #[serde(default)]
    pub message: String,
}

/// One TCP reachability test run from the machine that ran AgDiag.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Probe {
    /// `endpoint`, `listener`, `routing` or `instance`.
    pub purpose: String,
    /// The replica or listener the probe is about.
    pub subject: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    pub host: String,
    pub port: u16,
    /// `name` (connect to the host name), `ip` (connect to one resolved address) or `login` (log in
    /// through the host name and read the session's own `sys.dm_exec_connections` row).
    pub via: String,
    #[serde(default)]
    pub address: Option<String>,
    /// On a `name` probe: every address the name resolved to, in the resolver's order (absent in
    /// snapshots written before it was recorded, and when the name did not resolve).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved: Option<Vec<String>>,
    #[serde(deserialize_with = "de_bit")]
    pub ok: bool,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub elapsed_ms: Option<u64>,
    /// On a `login` probe: the session's own row of `sys.dm_exec_connections` (`auth_scheme`,
    /// `net_transport`, `local_net_address` ...), as SQL Server returned it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dm_exec_connections: Option<Row>,
}

fn default_true() -> bool {
    true
}

/// Contract: bits are `true`/`false`, readers also accept 0/1.
fn de_bit<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<bool, D::Error> {
    match Value::deserialize(d)? {
        Value::Bool(b) => Ok(b),
        Value::Number(n) if n.as_i64() == Some(0) => Ok(false),
        Value::Number(n) if n.as_i64() == Some(1) => Ok(true),
        other => Err(serde::de::Error::custom(format!("expected true/false or 0/1, found {other}"))),
    }
}

/// Why a check could not look at one instance's evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unavailable {
    NotConnected(String),
    NotCollected(&'static str),
    QueryFailed(&'static str, ServerError),
}

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unavailable::NotConnected(why) => write!(f, "instance not connected ({why})"),
            Unavailable::NotCollected(key) => write!(f, "`{key}` was not collected"),
            Unavailable::QueryFailed(key, e) => match e.number {
                Some(n) => write!(f, "query of `{key}` failed: error {n}: {}", e.message),
                None => write!(f, "query of `{key}` failed: {}", e.message),
            },
        }
    }
}

impl Snapshot {
    /// Parses and validates a snapshot document: straight from the text into rows, in one pass.
    /// Only when that fails is the document read again, to say which entry broke the contract.
    /// Parses a snapshot file's text as a DBA may hand it over: the JSON document (a leading BOM
    /// character is dropped), or collect.sql's output of numbered pieces (see [`text_input`]).
    pub fn from_text(text: &str) -> Result<Snapshot> {
        Snapshot::from_json(&text_input::snapshot_json(text)?)
    }

    pub fn from_json(text: &str) -> Result<Snapshot> {
        match serde_json::from_str::<Snapshot>(text) {
            Ok(snapshot) if snapshot.format == FORMAT => Ok(snapshot),
            Ok(snapshot) => Err(Error::new(
                ErrorKind::UnsupportedFormat,
                format!("snapshot format is \"{}\"; this AgDiag reads \"{FORMAT}\"", snapshot.format),
            )),
            Err(e) => Err(Snapshot::explain_invalid(text, e)),
        }
    }

    /// The error for a document that did not deserialize: a JSON syntax error, a missing or other
    /// format, or the first instance or probe that breaks the contract.
    #[cold]
    fn explain_invalid(text: &str, error: serde_json::Error) -> Error {
        let value: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => return Error::json("snapshot JSON", &e),
        };
        match value.get("format").and_then(Value::as_str) {
            Some(FORMAT) => {}
            Some(other) => {
                return Error::new(
                    ErrorKind::UnsupportedFormat,
                    format!("snapshot format is \"{other}\"; this AgDiag reads \"{FORMAT}\""),
                );
            }
            None => {
                return Error::new(
                    ErrorKind::UnsupportedFormat,
                    format!("snapshot has no \"format\" field; expected \"{FORMAT}\""),
                );
            }
        }
        let entry = locate_invalid(&value);
        Error::new(ErrorKind::InvalidJson, format!("snapshot does not follow {FORMAT}: {entry}{error}"))
    }

    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).expect("a snapshot always serializes")
    }
}

/// Which instance or probe a contract violation is in (`probes[3] (subject "SQL2"): `), so the
/// error names the entry, not only the bad value.
fn locate_invalid(document: &Value) -> String {
    fn first_bad<T: for<'de> Deserialize<'de>>(document: &Value, list: &str, label: &str) -> Option<String> {
        let entries = document.get(list)?.as_array()?;
        entries.iter().enumerate().find_map(|(i, entry)| {
            T::deserialize(entry).err()?;
            let name = entry.get(label).and_then(Value::as_str).map(|n| format!(" ({label} {n:?})")).unwrap_or_default();
            Some(format!("{list}[{i}]{name}: "))
        })
    }
    first_bad::<Instance>(document, "instances", "target")
        .or_else(|| first_bad::<Probe>(document, "probes", "subject"))
        .unwrap_or_default()
}

impl Instance {
    /// The instance's server name: `ServerName`, else `@@SERVERNAME`, else the connection target.
    pub fn name(&self) -> &str {
        self.server_name().unwrap_or(&self.target)
    }

    /// `SERVERPROPERTY('ServerName')` or `@@SERVERNAME`, when collected.
    pub fn server_name(&self) -> Option<&str> {
        let props = self.results.get(keys::SERVER_PROPERTIES)?.first()?;
        props.str("ServerName").or_else(|| props.str("@@SERVERNAME"))
    }

    /// The one `server_properties` row, if collected.
    pub fn properties(&self) -> Option<&Row> {
        self.results.get(keys::SERVER_PROPERTIES).and_then(|rows| rows.first())
    }

    /// True when this instance is `replica_server_name` (case-insensitive, as SQL Server compares).
    pub fn is_named(&self, replica_server_name: &str) -> bool {
        let matches = |n: &str| n.eq_ignore_ascii_case(replica_server_name);
        match self.properties() {
            Some(p) => {
                p.str("ServerName").is_some_and(matches) || p.str("@@SERVERNAME").is_some_and(matches)
            }
            None => matches(&self.target),
        }
    }

    /// The rows of `key`, or why they cannot be used.
    pub fn rows(&self, key: &'static str) -> std::result::Result<&[Row], Unavailable> {
        if !self.connected {
            let why = self
                .connect_error
                .as_ref()
                .map(|e| e.message.clone())
                .unwrap_or_else(|| "no connection".into());
            return Err(Unavailable::NotConnected(why));
        }
        if let Some(rows) = self.results.get(key) {
            return Ok(rows);
        }
        if let Some(err) = self.query_errors.get(key) {
            return Err(Unavailable::QueryFailed(key, err.clone()));
        }
        Err(Unavailable::NotCollected(key))
    }

    /// The rows of `key`, or an empty slice when it is unavailable (for optional evidence).
    pub fn rows_or_empty(&self, key: &'static str) -> &[Row] {
        self.rows(key).unwrap_or(&[])
    }
}
