//! The history evidence the collector's test servers serve next to a snapshot example: AlwaysOn_health
//! events (`alwayson_health`, event XML as SQL Server writes it in `event_data`), the event session
//! rows (`server_event_sessions`, `dm_xe_sessions`) and `dm_hadr_database_replica_cluster_states`.
//! [`add_history_evidence`] adds them to every instance of a snapshot document that lacks them, so a
//! scenario answers every key the collector asks (a key missing from the document is error 208).
//!
//! Events follow the AlwaysOn_health event fields (`availability_replica_state_change`,
//! `alwayson_ddl_executed`, `error_reported`, `availability_group_lease_expired`): each `data`
//! element holds a `value`, and map fields a `text` with the map's name for that value.
#![allow(dead_code)]

use serde_json::{json, Value};

/// One event as `sys.fn_xe_file_target_read_file` returns it in `event_data`. `fields` are
/// `(name, value, map text)`; values are XML-escaped here.
pub fn event_xml(name: &str, timestamp: &str, fields: &[(&str, &str, Option<&str>)]) -> String {
    let mut xml = format!(r#"<event name="{name}" package="sqlserver" timestamp="{timestamp}">"#);
    for (field, value, text) in fields {
        xml.push_str(&format!(r#"<data name="{field}"><value>{}</value>"#, escape(value)));
        if let Some(text) = text {
            xml.push_str(&format!("<text><![CDATA[{text}]]></text>"));
        }
        xml.push_str("</data>");
    }
    xml.push_str("</event>");
    xml
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

const AG_ID: &str = "6C1E3B7A-9F2D-4E61-8A55-2D0B7C9E4F10";
const REPLICA_IDS: [(&str, &str); 3] = [
    ("SQL1", "1B0D5B9E-3C2A-4F7E-9D61-0A8E2C4B7F01"),
    ("SQL2", "2C1E6CAF-4D3B-4081-8E72-1B9F3D5C8A02"),
    ("SQL3", "3D2F7DB0-5E4C-4192-9F83-2CA04E6D9B03"),
];

fn replica_id(server: &str) -> &'static str {
    REPLICA_IDS.iter().find(|(name, _)| name.eq_ignore_ascii_case(server)).map_or(REPLICA_IDS[2].1, |(_, id)| id)
}

/// The file the events come from (the running session's current file, in the log folder).
pub const XEL_FILE: &str =
    r"C:\Program Files\Microsoft SQL Server\MSSQL16.MSSQLSERVER\MSSQL\Log\AlwaysOn_health_0_134083296012350000.xel";

/// An `availability_replica_state_change` event of AG1 for `server`.
pub fn state_change(server: &str, timestamp: &str, previous: (u8, &str), current: (u8, &str)) -> String {
    event_xml(
        "availability_replica_state_change",
        timestamp,
        &[
            ("availability_group_id", AG_ID, None),
            ("availability_group_name", "AG1", None),
            ("availability_replica_id", replica_id(server), None),
            ("previous_state", &previous.0.to_string(), Some(previous.1)),
            ("current_state", &current.0.to_string(), Some(current.1)),
        ],
    )
}

/// An `error_reported` event (AlwaysOn_health records the AG errors, e.g. 35201 and 35206).
pub fn error_reported(timestamp: &str, number: u32, message: &str) -> String {
    event_xml(
        "error_reported",
        timestamp,
        &[
            ("error_number", &number.to_string(), None),
            ("severity", "16", None),
            ("state", "1", None),
            ("user_defined", "false", None),
            ("category", "2", Some("SERVER")),
            ("destination", "0x00000002", Some("EVENTLOG")),
            ("is_intercepted", "false", None),
            ("message", message, None),
        ],
    )
}

/// An `alwayson_ddl_executed` event (COMMIT phase) for `statement` on AG1.
pub fn ddl_executed(timestamp: &str, action: (u8, &str), statement: &str) -> String {
    event_xml(
        "alwayson_ddl_executed",
        timestamp,
        &[
            ("ddl_action", &action.0.to_string(), Some(action.1)),
            ("ddl_phase", "1", Some("COMMIT")),
            ("availability_group_id", AG_ID, None),
            ("availability_group_name", "AG1", None),
            ("statement", statement, None),
        ],
    )
}

/// An `availability_group_lease_expired` event of AG1.
pub fn lease_expired(timestamp: &str) -> String {
    event_xml(
        "availability_group_lease_expired",
        timestamp,
        &[("availability_group_id", AG_ID, None), ("availability_group_name", "AG1", None)],
    )
}

/// One `alwayson_health` row: `timestamp` is the event's UTC time with 7 fractional digits, no
/// zone (`timestamp_utc` is datetime2(7)); the XML carries it with milliseconds and `Z`.
pub fn health_row(offset: i64, timestamp: &str, xml_for: impl FnOnce(&str) -> String) -> Value {
    let xml_time = format!("{}Z", &timestamp[..23]);
    let xml = xml_for(&xml_time);
    let object_name = xml.split('"').nth(1).unwrap_or_default().to_string();
    json!({
        "object_name": object_name,
        "event_data": xml,
        "file_name": XEL_FILE,
        "file_offset": offset,
        "timestamp_utc": timestamp,
    })
}

/// The AlwaysOn_health events of `server` in the healthy example: the replica coming up in its
/// role after a restart, a routine DDL and one replica connection time-out (all before the example
/// was collected, 2026-11-22T10:15:00Z).
pub fn health_rows(server: &str) -> Vec<Value> {
    let primary = server.eq_ignore_ascii_case("SQL1");
    let mut rows = vec![
        health_row(5120, "2026-11-20T08:00:31.1180000", |t| state_change(server, t, (0, "RESOLVING_NORMAL"), if primary { (2, "PRIMARY_PENDING") } else { (4, "SECONDARY_NORMAL") })),
    ];
    if primary {
        rows.push(health_row(5120, "2026-11-20T08:00:31.6470000", |t| state_change(server, t, (2, "PRIMARY_PENDING"), (3, "PRIMARY_NORMAL"))));
        rows.push(health_row(9216, "2026-11-21T14:02:10.9030000", |t| {
            ddl_executed(t, (1, "ALTER"), "ALTER AVAILABILITY GROUP [AG1] MODIFY REPLICA ON N'SQL3' WITH (BACKUP_PRIORITY = 40)")
        }));
        rows.push(health_row(13312, "2026-11-22T03:41:55.2700000", |t| {
            error_reported(
                t,
                35206,
                "A connection timeout has occurred on a previously established connection to availability replica 'SQL3' with id [3D2F7DB0-5E4C-4192-9F83-2CA04E6D9B03].  Either a networking or a firewall issue exists or the availability replica has transitioned to the resolving role.",
            )
        }));
    }
    rows
}

/// `n` events for the collection benchmark: replica state changes and connection time-outs, one
/// second apart.
pub fn bulk_health_rows(server: &str, n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            // One event a second from 2026-11-17T10:15:00 (50,000 events end the next morning).
            let total = 10 * 3600 + 15 * 60 + i as i64;
            let (day, of_day) = (17 + total / 86_400, total % 86_400);
            let timestamp = format!(
                "2026-11-{day:02}T{:02}:{:02}:{:02}.{:03}0000",
                of_day / 3600,
                of_day / 60 % 60,
                of_day % 60,
                (i * 7) % 1000
            );
            let offset = 5120 + (i as i64 / 8) * 4096;
            if i % 2 == 0 {
                health_row(offset, &timestamp, |t| state_change(server, t, (4, "SECONDARY_NORMAL"), (0, "RESOLVING_NORMAL")))
            } else {
                health_row(offset, &timestamp, |t| {
                    error_reported(
                        t,
                        35201,
                        "A connection timeout has occurred while attempting to establish a connection to availability replica 'SQL1' with id [1B0D5B9E-3C2A-4F7E-9D61-0A8E2C4B7F01]. Either a networking or firewall issue exists, or the endpoint address provided for the replica is not the database mirroring endpoint of the host server instance.",
                    )
                })
            }
        })
        .collect()
}

/// `sys.server_event_sessions`: AlwaysOn_health defined and starting with the server, next to
/// system_health.
pub fn server_event_sessions() -> Vec<Value> {
    let session = |id: i64, name: &str| {
        json!({
            "event_session_id": id, "name": name, "event_retention_mode": "S",
            "event_retention_mode_desc": "ALLOW_SINGLE_EVENT_LOSS", "max_dispatch_latency": 30000,
            "max_memory": 4096, "max_event_size": 0, "memory_partition_mode": "G",
            "memory_partition_mode_desc": "NONE", "track_causality": false, "startup_state": true,
            "has_long_running_target": true,
        })
    };
    vec![session(65536, "system_health"), session(65537, "AlwaysOn_health")]
}

/// `sys.dm_xe_sessions`: both sessions running.
pub fn dm_xe_sessions() -> Vec<Value> {
    let running = |address: &str, name: &str| {
        json!({
            "address": address, "name": name, "pending_buffers": 0, "total_regular_buffers": 3,
            "regular_buffer_size": 1398101, "total_large_buffers": 0, "large_buffer_size": 0,
            "total_buffer_size": 4194304, "buffer_policy_flags": 0, "buffer_policy_desc": "",
            "flags": 0, "flag_desc": "", "dropped_event_count": 0, "dropped_buffer_count": 0,
            "blocked_event_fire_time": 0, "create_time": "2026-11-20T08:00:12.347",
            "largest_event_dropped_size": 0, "session_source": "server",
        })
    };
    vec![running("0x000001D2B4F0C081", "system_health"), running("0x000001D2B4F0D0C1", "AlwaysOn_health")]
}

/// `sys.dm_hadr_database_replica_cluster_states`: SalesDB joined and failover-ready on every
/// replica (the view reports every replica, from the cluster).
pub fn database_replica_cluster_states() -> Vec<Value> {
    REPLICA_IDS
        .iter()
        .map(|(_, id)| {
            json!({
                "replica_id": id, "group_database_id": "A7E3C1D9-2B4F-4E8A-9C6D-5F1A3B7E9D21",
                "database_name": "SalesDB", "is_failover_ready": true, "is_pending_secondary_suspend": false,
                "is_database_joined": true, "recovery_lsn": 41000000152000001i64, "truncation_lsn": 41000000152000001i64,
            })
        })
        .collect()
}

/// Adds the history keys to every instance of `doc` (a snapshot document) that lacks them.
pub fn add_history_evidence(doc: &mut Value) {
    let Some(instances) = doc["instances"].as_array_mut() else { return };
    for instance in instances {
        let name = instance["results"]["server_properties"][0]["ServerName"].as_str().unwrap_or("SQL3").to_string();
        let Some(results) = instance["results"].as_object_mut() else { continue };
        if results.is_empty() {
            continue;
        }
        results.entry("alwayson_health").or_insert_with(|| Value::Array(health_rows(&name)));
        results.entry("server_event_sessions").or_insert_with(|| Value::Array(server_event_sessions()));
        results.entry("dm_xe_sessions").or_insert_with(|| Value::Array(dm_xe_sessions()));
        results
            .entry("dm_hadr_database_replica_cluster_states")
            .or_insert_with(|| Value::Array(database_replica_cluster_states()));
    }
}
