//! Large, realistic snapshots for the analysis benchmark and the scaling tests: the healthy example
//! AG grown along one dimension at a time (replicas, databases, logins, error-log lines), with the
//! rows a real server would return for that shape (every replica has its state rows, every database
//! has a `dm_hadr_database_replica_states` row per replica on the primary and its local row on each
//! secondary, and so on), so that the checks do real work.

#![allow(dead_code)]

use serde_json::{json, Value};

const HEALTHY: &str = include_str!("../../examples/snapshots/healthy-3-replica.json");

#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Replicas of the one AG (SQL1 is primary).
    pub replicas: usize,
    /// How many of them were collected (at most `replicas`; SQL1..SQLn).
    pub collected: usize,
    /// Availability databases.
    pub databases: usize,
    /// Extra logins in `server_principals` on every collected instance.
    pub logins: usize,
    /// Error-log lines, spread over the collected instances.
    pub errorlog: usize,
}

impl Shape {
    pub fn new(replicas: usize, databases: usize) -> Shape {
        Shape { replicas, collected: replicas.min(9), databases, logins: 0, errorlog: 0 }
    }
}

fn replica_id(k: usize, base: &[String]) -> String {
    if k <= base.len() { base[k - 1].clone() } else { format!("00000000-0000-4000-8000-{k:012X}") }
}

fn set(row: &mut Value, column: &str, value: Value) {
    row[column] = value;
}

/// The snapshot document for `shape`.
pub fn snapshot(shape: Shape) -> Value {
    let mut doc: Value = serde_json::from_str(HEALTHY).expect("example parses");
    let base = doc["instances"].as_array().unwrap().clone();
    let group_id = base[0]["results"]["availability_groups"][0]["group_id"].as_str().unwrap().to_string();
    let base_ids: Vec<String> = base[0]["results"]["availability_replicas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["replica_id"].as_str().unwrap().to_string())
        .collect();
    let id = |k: usize| replica_id(k, &base_ids);

    // availability_replicas: SQL4.. are copies of SQL3; every 10th is a synchronous automatic
    // failover partner (so routing checks have partners without lists).
    let template = base[0]["results"]["availability_replicas"][2].clone();
    let mut replicas: Vec<Value> = base[0]["results"]["availability_replicas"].as_array().unwrap().clone();
    for k in 4..=shape.replicas {
        let mut r = template.clone();
        let host = format!("sql{k}.contoso.com");
        set(&mut r, "replica_id", json!(id(k)));
        set(&mut r, "replica_server_name", json!(format!("SQL{k}")));
        set(&mut r, "endpoint_url", json!(format!("TCP://{host}:5022")));
        set(&mut r, "read_only_routing_url", json!(format!("TCP://{host}:1433")));
        if k % 10 == 0 {
            set(&mut r, "availability_mode", json!(1));
            set(&mut r, "availability_mode_desc", json!("SYNCHRONOUS_COMMIT"));
            set(&mut r, "failover_mode", json!(0));
            set(&mut r, "failover_mode_desc", json!("AUTOMATIC"));
        }
        replicas.push(r);
    }
    replicas.truncate(shape.replicas);

    // The primary's replica states: one per replica.
    let primary_states = base[0]["results"]["dm_hadr_availability_replica_states"].as_array().unwrap().clone();
    let mut states = primary_states.clone();
    for k in 4..=shape.replicas {
        let mut s = primary_states[2].clone();
        set(&mut s, "replica_id", json!(id(k)));
        states.push(s);
    }
    states.truncate(shape.replicas);

    // Databases: availability_databases_cluster everywhere, database replica states per replica on
    // the primary, the local one on each secondary.
    let adc_template = base[0]["results"]["availability_databases_cluster"][0].clone();
    let drs_primary = base[0]["results"]["dm_hadr_database_replica_states"][0].clone();
    // Asynchronous secondaries are SYNCHRONIZING (SQL3), synchronous ones SYNCHRONIZED (SQL2).
    let drs_async = base[2]["results"]["dm_hadr_database_replica_states"][0].clone();
    let drs_sync = base[1]["results"]["dm_hadr_database_replica_states"][0].clone();
    let db = |j: usize| {
        (format!("SalesDB{j:05}"), format!("A7E3C1D9-2B4F-4E8A-9C6D-{j:012X}"), 5 + j as i64)
    };
    let adc: Vec<Value> = (0..shape.databases)
        .map(|j| {
            let (name, gdb, _) = db(j);
            let mut r = adc_template.clone();
            set(&mut r, "database_name", json!(name));
            set(&mut r, "group_database_id", json!(gdb));
            // numeric(25,0), beyond 2^63 for some databases.
            set(&mut r, "truncation_lsn", serde_json::from_str(&format!("{}", 41000000152000001u128 + (j as u128) * 1_000_000_000_000_000_000)).unwrap());
            r
        })
        .collect();
    let drs_row = |j: usize, k: usize, local: bool| {
        let (_, gdb, dbid) = db(j);
        let mut r = match k {
            1 => drs_primary.clone(),
            2 => drs_sync.clone(),
            k if k % 10 == 0 => drs_sync.clone(),
            _ => drs_async.clone(),
        };
        set(&mut r, "database_id", json!(dbid));
        set(&mut r, "replica_id", json!(id(k)));
        set(&mut r, "group_database_id", json!(gdb));
        set(&mut r, "is_local", json!(local));
        r
    };

    let logins = |server: usize| -> Vec<Value> {
        (0..shape.logins)
            .map(|i| {
                let windows = i % 2 == 0;
                json!({
                    "name": if windows { format!("CONTOSO\\user{i:06}") } else { format!("app_login_{i:06}") },
                    "principal_id": 300 + i,
                    "sid": format!("0x010500000000000515000000{:08X}{:08X}", server, i),
                    "type": if windows { "U" } else { "S" },
                    "type_desc": if windows { "WINDOWS_LOGIN" } else { "SQL_LOGIN" },
                    "is_disabled": i % 17 == 0,
                    "create_date": "2024-03-01T10:00:00.000",
                    "modify_date": "2025-03-01T10:00:00.000",
                    "default_database_name": "master",
                    "default_language_name": "us_english",
                    "credential_id": null,
                    "owning_principal_id": null,
                    "is_fixed_role": false
                })
            })
            .collect()
    };

    let collected = shape.collected.min(shape.replicas).max(1);
    let mut instances = Vec::new();
    for k in 1..=collected {
        let mut inst = base[(k - 1).min(2)].clone();
        let name = format!("SQL{k}");
        if k > 3 {
            inst["target"] = json!(format!("sql{k}.contoso.com,1433"));
            for p in ["ServerName", "@@SERVERNAME", "MachineName", "ComputerNamePhysicalNetBIOS"] {
                if inst["results"]["server_properties"][0].get(p).is_some() {
                    inst["results"]["server_properties"][0][p] = json!(name);
                }
            }
            let mut local = inst["results"]["dm_hadr_availability_replica_states"][0].clone();
            set(&mut local, "replica_id", json!(id(k)));
            inst["results"]["dm_hadr_availability_replica_states"] = json!([local]);
        }
        inst["results"]["availability_replicas"] = Value::Array(replicas.clone());
        if k == 1 {
            inst["results"]["dm_hadr_availability_replica_states"] = Value::Array(states.clone());
        }
        inst["results"]["availability_databases_cluster"] = Value::Array(adc.clone());
        let drs: Vec<Value> = if k == 1 {
            (0..shape.databases).flat_map(|j| (1..=shape.replicas).map(move |r| (j, r))).map(|(j, r)| drs_row(j, r, r == 1)).collect()
        } else {
            (0..shape.databases).map(|j| drs_row(j, k, true)).collect()
        };
        inst["results"]["dm_hadr_database_replica_states"] = Value::Array(drs);
        if let Some(principals) = inst["results"]["server_principals"].as_array_mut() {
            principals.extend(logins(k));
        }
        let lines = shape.errorlog / collected + usize::from(k <= shape.errorlog % collected);
        if lines > 0 {
            let log = inst["results"]["errorlog"].as_array_mut().unwrap();
            let to = if k == 1 { 2 } else { 1 };
            for i in 0..lines {
                let minute = i % 60;
                let text = match i % 50 {
                    0 => format!(
                        "Database Mirroring login attempt by user 'CONTOSO\\SQL{to}$.' failed with error: 'Connection handshake failed. The login 'CONTOSO\\SQL{to}$' does not have CONNECT permission on the endpoint. State 84.'.  [CLIENT: 10.0.0.1{to}]"
                    ),
                    1 => "Error: 35250, Severity: 16, State: 7.".to_string(),
                    _ => format!(
                        "A connection for availability group 'AG1' from availability replica '{name}' with id  [{}] to 'SQL{to}' with id [{}] has been successfully established.  This is an informational message only. No user action is required.",
                        id(k),
                        id(to)
                    ),
                };
                log.push(json!({
                    "LogDate": format!("2026-11-{:02}T{:02}:{minute:02}:31.870", 1 + (i / 1440) % 21, (i / 60) % 24),
                    "ProcessInfo": if i % 50 == 0 { "Logon" } else { "spid52s" },
                    "Text": text,
                }));
            }
        }
        instances.push(inst);
    }
    doc["instances"] = Value::Array(instances);
    // Endpoint and routing probes for every collected replica.
    let mut probes = Vec::new();
    for k in 1..=collected {
        for (purpose, port) in [("endpoint", 5022), ("routing", 1433)] {
            for via in ["name", "ip"] {
                let host = format!("sql{k}.contoso.com");
                probes.push(json!({
                    "purpose": purpose, "subject": format!("SQL{k}"), "url": format!("TCP://{host}:{port}"),
                    "host": host, "port": port, "via": via, "address": format!("10.0.{}.{}", k / 200, 11 + k % 200),
                    "ok": true, "error": null, "elapsed_ms": 2
                }));
            }
        }
    }
    probes.extend(doc["probes"].as_array().unwrap().iter().filter(|p| p["purpose"] == "listener").cloned());
    doc["probes"] = Value::Array(probes);
    let _ = group_id;
    doc
}

/// The snapshot as the collector writes it (pretty JSON).
pub fn snapshot_bytes(shape: Shape) -> Vec<u8> {
    serde_json::to_vec_pretty(&snapshot(shape)).expect("serializes")
}
