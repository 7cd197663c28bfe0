//! AlwaysOn_health rows as `sys.fn_xe_file_target_read_file` returns them, with `event_data`
//! written the way SQL Server writes an event (see tests/fixtures/history/every-event-kind.json
//! for one of each kind).
#![allow(dead_code)]

use agdiag::Snapshot;
use serde_json::{Value, json};

pub const EVERY_EVENT_KIND: &str = include_str!("../fixtures/history/every-event-kind.json");
pub const FAILOVER_EXAMPLE: &str = include_str!("../../examples/snapshots/failover-3-replica.json");

pub const AG_ID: &str = "6c1e3b7a-9f2d-4e61-8a55-2d0b7c9e4f10";

fn esc(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// `<data name="..."><value>...</value>[<text>...</text>]</data>`.
pub fn data(name: &str, value: &str, text: Option<&str>) -> String {
    let text = text.map(|t| format!("<text>{}</text>", esc(t))).unwrap_or_default();
    format!(r#"<data name="{name}"><value>{}</value>{text}</data>"#, esc(value))
}

/// One `alwayson_health` row.
pub fn row(name: &str, timestamp: &str, fields: &[String], offset: i64) -> Value {
    json!({
        "object_name": name,
        "event_data": format!(r#"<event name="{name}" package="sqlserver" timestamp="{timestamp}">{}</event>"#, fields.concat()),
        "file_name": "D:\\SQLLogs\\AlwaysOn_health_0_133766208427410000.xel",
        "file_offset": offset,
    })
}

fn state_key(state: &str) -> &'static str {
    match state {
        "RESOLVING_NORMAL" => "0",
        "RESOLVING_PENDING_FAILOVER" => "1",
        "PRIMARY_PENDING" => "2",
        "PRIMARY_NORMAL" => "3",
        "SECONDARY_NORMAL" => "4",
        _ => "5",
    }
}

pub fn role(ts: &str, replica: &str, previous: &str, current: &str) -> Value {
    row(
        "availability_replica_state_change",
        ts,
        &[
            data("availability_group_id", AG_ID, None),
            data("availability_group_name", "AG1", None),
            data("availability_replica_name", replica, None),
            data("previous_state", state_key(previous), Some(previous)),
            data("current_state", state_key(current), Some(current)),
        ],
        4096,
    )
}

pub fn lease(ts: &str) -> Value {
    row("availability_group_lease_expired", ts, &[data("availability_group_id", AG_ID, None), data("availability_group_name", "AG1", None)], 4096)
}

pub fn ddl(ts: &str, statement: &str) -> Value {
    row(
        "alwayson_ddl_executed",
        ts,
        &[
            data("ddl_action", "1", Some("ALTER")),
            data("ddl_phase", "2", Some("COMMIT")),
            data("availability_group_id", AG_ID, None),
            data("availability_group_name", "AG1", None),
            data("statement", statement, None),
        ],
        4096,
    )
}

pub fn diag(ts: &str, component: &str) -> Value {
    row(
        "sp_server_diagnostics_component_result",
        ts,
        &[data("component", "1", Some(component)), data("state", "3", Some("ERROR"))],
        4096,
    )
}

pub fn manager(ts: &str, state: &str) -> Value {
    row("availability_replica_manager_state_change", ts, &[data("current_state", "2", Some(state))], 4096)
}

pub fn error(ts: &str, number: i64, message: &str) -> Value {
    row(
        "error_reported",
        ts,
        &[
            data("error_number", &number.to_string(), None),
            data("severity", "16", None),
            data("state", "1", None),
            data("category", "2", Some("SERVER")),
            data("message", message, None),
        ],
        4096,
    )
}

pub fn timeout(ts: &str, partner: &str) -> Value {
    error(
        ts,
        35206,
        &format!(
            "A connection timeout has occurred on a previously established connection to availability replica '{partner}' with id [3D2F7DB0-5E4C-4192-9F83-2CA04E6D9B03]. Either a networking or a firewall issue exists or the availability replica has transitioned to the resolving role."
        ),
    )
}

/// The healthy example with `rows` as each server's AlwaysOn_health (others keep theirs).
pub fn with_history(mut snap: Snapshot, rows: &[(&str, Vec<Value>)]) -> Snapshot {
    for (server, list) in rows {
        let target = super::rows_mut(&mut snap, server, "alwayson_health");
        target.clear();
        for v in list {
            target.push(serde_json::from_value(v.clone()).expect("a row"));
        }
    }
    snap
}

/// An automatic failover SQL1 -> SQL2 at 02:14:09, with `before` on SQL1 just before it.
pub fn automatic_failover(before: Vec<Value>) -> Snapshot {
    let mut sql1 = before;
    sql1.push(role("2026-11-21T02:14:07.502Z", "SQL1", "PRIMARY_NORMAL", "RESOLVING_NORMAL"));
    sql1.push(role("2026-11-21T02:14:31.078Z", "SQL1", "RESOLVING_NORMAL", "SECONDARY_NORMAL"));
    let sql2 = vec![
        role("2026-11-21T02:14:08.131Z", "SQL2", "SECONDARY_NORMAL", "RESOLVING_PENDING_FAILOVER"),
        role("2026-11-21T02:14:08.905Z", "SQL2", "RESOLVING_PENDING_FAILOVER", "PRIMARY_PENDING"),
        role("2026-11-21T02:14:09.614Z", "SQL2", "PRIMARY_PENDING", "PRIMARY_NORMAL"),
    ];
    with_history(super::healthy(), &[("SQL1", sql1), ("SQL2", sql2), ("SQL3", vec![])])
}
