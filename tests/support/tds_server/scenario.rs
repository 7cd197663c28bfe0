//! Scenarios: test servers that answer the collector's batch with the rows of a snapshot
//! document (format agdiag.snapshot/1), one server per instance.
//!
//! Each batch part starts with a marker line `-- agdiag: <key>`. When the part holds the
//! collector's marker statement `SELECT N'<key>' AS agdiag_key;` (see [`super::marker_select`]),
//! the answer starts with the marker result set (one nvarchar column `agdiag_key`, one row: the
//! key), as SQL Server would answer it; then comes the answer for the key's statement:
//! - the instance's rows for the key as one result set (columns = the union of the rows' keys in
//!   first-seen order; types inferred: all booleans → bit, integers → int or bigint by range,
//!   other numbers → float, anything else → nvarchar; JSON null → NULL),
//! - an empty result set when the key was collected but has no rows (columns from another
//!   instance's rows for the key if any, else one nvarchar column `value`),
//! - the instance's `query_errors` entry for the key as an ERROR (class 14 for permission errors,
//!   so the batch continues, as on SQL Server),
//! - error 208 "Invalid object name" when the instance's snapshot does not have the key;
//! - for `database_principals`, the rows of the one database the statement names
//!   (`SELECT N'<db>' AS database_name, ...`: master's in the batch, each availability database's
//!   in the collector's second round), or `query_errors["database_principals:<db>"]`.
//!
//! A part without a marker (`SELECT 1`, `select @@version`, `SET ...`) gets [`default_answer`],
//! except the listener login probe's `sys.dm_exec_connections` statement, answered with the
//! instance's `dm_exec_connections` rows (a key only test documents carry).

use std::collections::HashMap;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use super::{Fault, ServerConfig, SqlType, StatementResult, TestServer, marker_select, part_key};

/// Errors SQL Server raises with class 14 (permission), which do not end the batch.
const PERMISSION_ERRORS: [i32; 6] = [229, 230, 262, 297, 300, 916];

#[derive(Clone, Debug)]
struct QueryError {
    number: i32,
    state: u8,
    class: u8,
    message: String,
}

#[derive(Clone, Debug)]
struct InstanceScenario {
    name: String,
    results: Map<String, Value>,
    query_errors: HashMap<String, QueryError>,
    fault: Fault,
    packet_delay: Duration,
    credentials: Option<(String, String)>,
    tls: Option<super::TlsSetup>,
}

/// Per-instance test servers built from a snapshot document.
#[derive(Clone, Debug, Default)]
pub struct Scenario {
    instances: Vec<InstanceScenario>,
}

impl Scenario {
    /// One instance per entry of `instances[]`, named by `server_properties.ServerName` (else
    /// `@@SERVERNAME`, else `target`). Disconnected instances are included with whatever results
    /// they have (usually none, so every key answers 208).
    pub fn from_snapshot(snapshot: &Value) -> Scenario {
        let instances = snapshot["instances"].as_array().map(Vec::as_slice).unwrap_or_default();
        let instances = instances
            .iter()
            .map(|instance| {
                let results = instance["results"].as_object().cloned().unwrap_or_default();
                let properties = &results.get("server_properties").and_then(|rows| rows.get(0)).cloned().unwrap_or(Value::Null);
                let name = [&properties["ServerName"], &properties["@@SERVERNAME"], &instance["target"]]
                    .into_iter()
                    .find_map(|value| value.as_str())
                    .unwrap_or("UNKNOWN")
                    .to_string();
                let query_errors = instance["query_errors"]
                    .as_object()
                    .map(|errors| {
                        errors
                            .iter()
                            .map(|(key, error)| {
                                let number = error["number"].as_i64().and_then(|n| i32::try_from(n).ok()).unwrap_or(50000);
                                let message = error["message"].as_str().unwrap_or("query failed").to_string();
                                let mut query_error = QueryError::new(number, message);
                                if let Some(state) = error["state"].as_u64().and_then(|n| u8::try_from(n).ok()) {
                                    query_error.state = state;
                                }
                                if let Some(class) = error["class"].as_u64().and_then(|n| u8::try_from(n).ok()) {
                                    query_error.class = class;
                                }
                                (key.clone(), query_error)
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                InstanceScenario {
                    name,
                    results,
                    query_errors,
                    fault: Fault::None,
                    packet_delay: Duration::ZERO,
                    credentials: None,
                    tls: None,
                }
            })
            .collect();
        Scenario { instances }
    }

    /// The instances' server names, in snapshot order.
    pub fn instances(&self) -> Vec<String> {
        self.instances.iter().map(|instance| instance.name.clone()).collect()
    }

    /// The snapshot rows of `server` for `key` (what a collector should read back).
    pub fn rows(&self, server: &str, key: &str) -> Option<&Vec<Value>> {
        self.instance(server).results.get(key)?.as_array()
    }

    /// A server config for `server` (loopback, ephemeral port) answering from the scenario as
    /// it is now: later `deny`/`set_*` calls do not change configs already made.
    ///
    /// Panics if the scenario has no such instance.
    pub fn config_for(&self, server: &str) -> ServerConfig {
        let instance = self.instance(server).clone();
        let known_columns: HashMap<String, Vec<(String, SqlType)>> = self
            .instances
            .iter()
            .flat_map(|other| other.results.iter())
            .filter_map(|(key, rows)| {
                let rows = rows.as_array().filter(|rows| !rows.is_empty())?;
                Some((key.clone(), typed_columns(key, infer_columns(rows))))
            })
            .collect();
        let name = instance.name.clone();
        let data = Arc::new((instance.clone(), known_columns));
        ServerConfig {
            server_name: name,
            credentials: instance.credentials,
            fault: instance.fault,
            packet_delay: instance.packet_delay,
            tls: instance.tls.clone(),
            handler: Arc::new(move |part: &str| {
                let (instance, known_columns) = &*data;
                answer(instance, known_columns, part)
            }),
            ..ServerConfig::default()
        }
    }

    /// Starts one server per instance (each with its own ephemeral port), in snapshot order.
    pub async fn start_all(&self) -> io::Result<Vec<(String, TestServer)>> {
        let mut servers = Vec::new();
        for name in self.instances() {
            let server = TestServer::start(self.config_for(&name)).await?;
            servers.push((name, server));
        }
        Ok(servers)
    }

    /// Makes `key` fail on `server` with this error (class 14 for permission errors 229, 230,
    /// 262, 297, 300, 916; else 16), e.g. `deny("SQL2", "dm_server_services", 300, "VIEW SERVER
    /// STATE permission was denied on object 'server', database 'master'.")`.
    pub fn deny(&mut self, server: &str, key: &str, number: i32, message: &str) -> &mut Self {
        self.instance_mut(server).query_errors.insert(key.to_string(), QueryError::new(number, message.to_string()));
        self
    }

    pub fn set_fault(&mut self, server: &str, fault: Fault) -> &mut Self {
        self.instance_mut(server).fault = fault;
        self
    }

    pub fn set_packet_delay(&mut self, server: &str, delay: Duration) -> &mut Self {
        self.instance_mut(server).packet_delay = delay;
        self
    }

    /// Require these SQL credentials on `server` (`None`: accept any login, the default).
    pub fn set_credentials(&mut self, server: &str, credentials: Option<(String, String)>) -> &mut Self {
        self.instance_mut(server).credentials = credentials;
        self
    }

    /// Give `server` a certificate: it then speaks TLS (see `tls.rs`).
    pub fn set_tls(&mut self, server: &str, tls: Option<super::TlsSetup>) -> &mut Self {
        self.instance_mut(server).tls = tls;
        self
    }

    fn instance(&self, server: &str) -> &InstanceScenario {
        self.instances
            .iter()
            .find(|instance| instance.name.eq_ignore_ascii_case(server))
            .unwrap_or_else(|| panic!("scenario has no instance {server:?} (it has {:?})", self.instances()))
    }

    fn instance_mut(&mut self, server: &str) -> &mut InstanceScenario {
        let names = self.instances();
        self.instances
            .iter_mut()
            .find(|instance| instance.name.eq_ignore_ascii_case(server))
            .unwrap_or_else(|| panic!("scenario has no instance {server:?} (it has {names:?})"))
    }
}

impl QueryError {
    fn new(number: i32, message: String) -> Self {
        let class = if PERMISSION_ERRORS.contains(&number) { 14 } else { 16 };
        QueryError { number, state: 1, class, message }
    }
}

fn answer(instance: &InstanceScenario, known_columns: &HashMap<String, Vec<(String, SqlType)>>, part: &str) -> Vec<StatementResult> {
    let Some(key) = part_key(part) else {
        // The listener login probe's one statement (no marker): the instance's
        // `dm_exec_connections` rows, when the scenario document gives them.
        if part.contains("FROM sys.dm_exec_connections WHERE session_id = @@SPID") {
            return statement_answer(instance, known_columns, "dm_exec_connections");
        }
        return default_answer(part, &instance.name);
    };
    let marker = part.lines().find_map(marker_select).map(|named| StatementResult::ResultSet {
        columns: vec![("agdiag_key".to_string(), SqlType::NVarChar)],
        rows: vec![vec![Value::from(named)]],
    });
    if key == "database_principals"
        && let Some(database) = database_named(part)
    {
        return marker.into_iter().chain(database_principals_answer(instance, known_columns, &database)).collect();
    }
    marker.into_iter().chain(statement_answer(instance, known_columns, key)).collect()
}

/// The database a `database_principals` statement reads: `SELECT N'<db>' AS database_name, * FROM
/// ...` (master's, then each availability database's, as the collector sends them).
fn database_named(part: &str) -> Option<String> {
    part.lines().find_map(|line| {
        let rest = line.trim().strip_prefix("SELECT N'")?;
        let end = rest.find("' AS database_name")?;
        Some(rest[..end].replace("''", "'"))
    })
}

/// `database_principals` of one database: the snapshot's rows with that `database_name`; the
/// error of `query_errors["database_principals:<db>"]` (or of the key, for master); error 911
/// ("Database ... does not exist") when the snapshot has no row for it.
fn database_principals_answer(
    instance: &InstanceScenario,
    known_columns: &HashMap<String, Vec<(String, SqlType)>>,
    database: &str,
) -> Vec<StatementResult> {
    let key = "database_principals";
    let own_error = instance.query_errors.get(&format!("{key}:{database}"));
    let error = own_error.or_else(|| database.eq_ignore_ascii_case("master").then(|| instance.query_errors.get(key)).flatten());
    if let Some(error) = error {
        return vec![StatementResult::Error { number: error.number, state: error.state, class: error.class, message: error.message.clone() }];
    }
    let Some(all) = instance.results.get(key).and_then(Value::as_array) else {
        return statement_answer(instance, known_columns, key);
    };
    let rows: Vec<Value> = all
        .iter()
        .filter(|r| r["database_name"].as_str().is_none_or(|d| d.eq_ignore_ascii_case(database)))
        .cloned()
        .collect();
    if rows.is_empty() && !database.eq_ignore_ascii_case("master") {
        let message = format!("Database '{database}' does not exist. Make sure that the name is entered correctly.");
        return vec![StatementResult::Error { number: 911, state: 1, class: 16, message }];
    }
    let mut only = instance.clone();
    only.results.insert(key.to_string(), Value::Array(rows));
    statement_answer(&only, known_columns, key)
}

/// The answer for the statement of `key` (after its marker, if any).
fn statement_answer(instance: &InstanceScenario, known_columns: &HashMap<String, Vec<(String, SqlType)>>, key: &str) -> Vec<StatementResult> {
    if let Some(error) = instance.query_errors.get(key) {
        return vec![StatementResult::Error { number: error.number, state: error.state, class: error.class, message: error.message.clone() }];
    }
    match instance.results.get(key).and_then(Value::as_array) {
        None => vec![StatementResult::Error { number: 208, state: 1, class: 16, message: format!("Invalid object name '{key}'.") }],
        Some(rows) if rows.is_empty() => {
            let columns = known_columns.get(key).cloned().unwrap_or_else(|| vec![("value".to_string(), SqlType::NVarChar)]);
            vec![StatementResult::ResultSet { columns, rows: Vec::new() }]
        }
        Some(rows) => {
            let columns = typed_columns(key, infer_columns(rows));
            let rows = rows
                .iter()
                .filter_map(Value::as_object)
                .map(|row| columns.iter().map(|(name, _)| row.get(name).cloned().unwrap_or(Value::Null)).collect())
                .collect();
            vec![StatementResult::ResultSet { columns, rows }]
        }
    }
}

/// Columns SQL Server sends with a type their JSON values do not show (a datetime2 is a string in
/// JSON): `(key, column, type)`.
const KNOWN_TYPES: &[(&str, &str, SqlType)] = &[
    ("alwayson_health", "timestamp_utc", SqlType::DateTime2),
    ("alwayson_health", "file_offset", SqlType::BigInt),
];

/// `columns` with the types of [`KNOWN_TYPES`] for `key`.
fn typed_columns(key: &str, mut columns: Vec<(String, SqlType)>) -> Vec<(String, SqlType)> {
    for (name, ty) in &mut columns {
        if let Some((_, _, known)) = KNOWN_TYPES.iter().find(|(k, c, _)| *k == key && c == name) {
            *ty = *known;
        }
    }
    columns
}

/// The union of the rows' keys in first-seen order, each with a type that holds all its values.
pub fn infer_columns(rows: &[Value]) -> Vec<(String, SqlType)> {
    let mut names: Vec<&String> = Vec::new();
    for row in rows.iter().filter_map(Value::as_object) {
        for name in row.keys() {
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    names
        .into_iter()
        .map(|name| {
            let values: Vec<&Value> = rows.iter().filter_map(|row| row.get(name)).filter(|value| !value.is_null()).collect();
            (name.clone(), infer_type(&values))
        })
        .collect()
}

fn infer_type(values: &[&Value]) -> SqlType {
    if values.is_empty() {
        SqlType::NVarChar
    } else if values.iter().all(|value| value.is_boolean()) {
        SqlType::Bit
    } else if values.iter().all(|value| value.is_i64()) {
        let fits_int = values.iter().filter_map(|value| value.as_i64()).all(|n| i32::try_from(n).is_ok());
        if fits_int { SqlType::Int } else { SqlType::BigInt }
    } else if values.iter().all(|value| value.is_number() && value.to_string().bytes().all(|b| b.is_ascii_digit() || b == b'-')) {
        // Integers beyond bigint: numeric(38,0), as SQL Server types LSNs (numeric(25,0)).
        SqlType::Numeric(38, 0)
    } else if values.iter().all(|value| value.is_number()) {
        SqlType::Float
    } else {
        SqlType::NVarChar
    }
}

/// The answer to a part without a marker: `SELECT <integer>` returns that integer, any other
/// SELECT returns one row with an `@@VERSION`-like string, anything else (SET ...) returns DONE.
pub fn default_answer(part: &str, server_name: &str) -> Vec<StatementResult> {
    let code: String = part
        .lines()
        .map(|line| line.split("--").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join(" ");
    let code = code.trim().trim_end_matches(';').trim();
    let lower = code.to_ascii_lowercase();
    if let Some(number) = lower.strip_prefix("select").map(str::trim).and_then(|rest| rest.parse::<i64>().ok()) {
        let ty = if i32::try_from(number).is_ok() { SqlType::Int } else { SqlType::BigInt };
        return vec![StatementResult::ResultSet { columns: vec![(String::new(), ty)], rows: vec![vec![Value::from(number)]] }];
    }
    if lower.contains("select") {
        let version = format!(
            "Microsoft SQL Server 2022 (RTM-CU21) (KB5065865) - 16.0.4215.2 (X64) agdiag test server {server_name}"
        );
        return vec![StatementResult::ResultSet { columns: vec![(String::new(), SqlType::NVarChar)], rows: vec![vec![Value::from(version)]] }];
    }
    vec![StatementResult::Done]
}
