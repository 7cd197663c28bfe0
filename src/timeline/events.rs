//! One `alwayson_health` row → one timeline entry: which event it is, what it means, and the
//! fields that matter. Event fields follow Microsoft's "Configure Extended Events for availability
//! groups" reference (availability_replica_state_change, availability_group_lease_expired,
//! alwayson_ddl_executed, error_reported, data_movement_suspend_resume,
//! availability_replica_manager_state_change, sp_server_diagnostics_component_result).

use serde_json::{Map, json};

use super::xevent::{self, XEvent};
use super::{EventKind, EventSource, TimelineEntry, parse_utc};
use crate::snapshot::{Row, Snapshot, keys};
use crate::topology::guid;

pub(super) enum Parsed {
    Entry(Box<TimelineEntry>),
    /// An event the timeline does not show (trace messages, redo blocking ...).
    Ignored,
    /// `event_data` is not an event, or has no usable time.
    Unreadable,
}

/// Group and replica names by id, from every instance's catalog rows (older builds' events carry
/// only the ids).
pub(super) struct Names {
    groups: Vec<(String, String)>,
    replicas: Vec<(String, String)>,
}

impl Names {
    pub(super) fn new(snapshot: &Snapshot) -> Names {
        let mut groups = Vec::new();
        let mut replicas = Vec::new();
        for inst in &snapshot.instances {
            for r in inst.rows_or_empty(keys::AVAILABILITY_GROUPS) {
                if let (Some(id), Some(name)) = (guid(r, "group_id"), r.str("name")) {
                    groups.push((id, name.to_string()));
                }
            }
            for r in inst.rows_or_empty(keys::AVAILABILITY_REPLICAS) {
                if let (Some(id), Some(name)) = (guid(r, "replica_id"), r.str("replica_server_name")) {
                    replicas.push((id, name.to_string()));
                }
            }
        }
        Names { groups, replicas }
    }

    fn lookup<'a>(list: &'a [(String, String)], id: Option<&str>) -> Option<&'a str> {
        let id = id?.trim().trim_matches(['{', '}']).to_ascii_lowercase();
        list.iter().find(|(i, _)| *i == id).map(|(_, n)| n.as_str())
    }

    fn group(&self, e: &XEvent) -> Option<String> {
        e.text("availability_group_name")
            .map(str::to_string)
            .or_else(|| Self::lookup(&self.groups, e.value("availability_group_id").or(e.value("group_id"))).map(str::to_string))
    }

    fn replica(&self, e: &XEvent) -> Option<String> {
        e.text("availability_replica_name")
            .map(str::to_string)
            .or_else(|| Self::lookup(&self.replicas, e.value("availability_replica_id").or(e.value("replica_id"))).map(str::to_string))
    }
}

/// The connection errors the session records, and what each means.
fn error_kind(number: i64) -> Option<(EventKind, &'static str)> {
    Some(match number {
        35201 => (EventKind::ConnectionTimeout, "a connection attempt to a partner replica timed out"),
        35206 => (
            EventKind::ConnectionTimeout,
            "an established connection to a partner replica timed out (no answer within the session timeout): the replica is DISCONNECTED",
        ),
        35202 => (EventKind::ConnectionEstablished, "a connection between replicas was established"),
        35204 => (EventKind::ConnectionLost, "the connection between replicas was closed because an endpoint shut down"),
        35207 => (EventKind::ConnectionLost, "a connection attempt between replicas failed"),
        35267 => (EventKind::ConnectionLost, "the connection between a primary and a secondary database was terminated"),
        9642 => (EventKind::ConnectionLost, "the database mirroring transport reported an error on a connection"),
        28034 | 28036 | 28047 | 28048 | 28080 | 28091 => {
            (EventKind::HandshakeFailure, "a replica's connection was refused during the endpoint handshake")
        }
        9691 | 9692 | 9693 | 33309 => (EventKind::EndpointError, "the database mirroring endpoint cannot listen for connections"),
        35264 => (EventKind::DataMovementSuspended, "data movement for a database was suspended"),
        35265 => (EventKind::DataMovementResumed, "data movement for a database was resumed"),
        19407 => (
            EventKind::LeaseExpired,
            "the lease between the availability group and the Windows Server Failover Cluster expired",
        ),
        19419 => (EventKind::LeaseExpired, "the lease renewal failed because the lease was no longer valid"),
        1480 => (EventKind::DatabaseRoleChange, "a database changed roles"),
        823 | 824 | 829 => (EventKind::DatabaseIoError, "an I/O error on a database file (a database-level health event)"),
        _ => (EventKind::OtherError, "an availability group error"),
    })
}

/// The replica a connection message names (`... availability replica 'SQL3' with id [...]`).
/// A plain substring search over the message SQL Server formatted, not a parse of the XML.
pub(crate) fn named_replica(message: &str) -> Option<String> {
    quoted_after(message, "availability replica '").or_else(|| quoted_after(message, "replica '"))
}

/// The text between `marker` (which ends with an opening quote) and the next `'`.
fn quoted_after(message: &str, marker: &str) -> Option<String> {
    let start = message.find(marker)? + marker.len();
    let rest = &message[start..];
    let name = &rest[..rest.find('\'')?];
    (!name.is_empty()).then(|| name.to_string())
}

/// What becoming `state` means for a replica.
fn state_meaning(state: &str) -> &'static str {
    match state.to_ascii_uppercase().as_str() {
        "PRIMARY_NORMAL" => "it is now the primary",
        "PRIMARY_PENDING" => "it is becoming the primary",
        "SECONDARY_NORMAL" => "it is now a secondary",
        "RESOLVING_NORMAL" => "it is resolving its role: neither primary nor secondary, its databases are not available",
        "RESOLVING_PENDING_FAILOVER" => "it is resolving, with a failover to it pending",
        "NOT_AVAILABLE" => "it is not available (its instance or the group is offline)",
        "GLOBAL_PRIMARY" => "it is now the global primary of a distributed availability group",
        "FORWARDER" => "it is now the forwarder of a distributed availability group",
        _ => "its role changed",
    }
}

/// `availability_replica_state` map values (sys.dm_xe_map_values), for events that carry only the key.
fn replica_state_name(key: i64) -> Option<&'static str> {
    Some(match key {
        0 => "RESOLVING_NORMAL",
        1 => "RESOLVING_PENDING_FAILOVER",
        2 => "PRIMARY_PENDING",
        3 => "PRIMARY_NORMAL",
        4 => "SECONDARY_NORMAL",
        5 => "NOT_AVAILABLE",
        6 => "GLOBAL_PRIMARY",
        7 => "FORWARDER",
        _ => return None,
    })
}

fn state_of(e: &XEvent, field: &str) -> Option<String> {
    match e.field(field)?.text.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        Some(text) => Some(text.to_ascii_uppercase()),
        None => e.int(field).and_then(replica_state_name).map(str::to_string),
    }
}

/// The `failure_condition_level` from which a component's ERROR triggers an automatic failover
/// (sp_server_diagnostics: SYSTEM from 3, RESOURCE from 4, QUERY_PROCESSING from 5; IO_SUBSYSTEM
/// and EVENTS never do).
pub(crate) fn component_level(component: &str) -> Option<i64> {
    match component.to_ascii_uppercase().as_str() {
        "SYSTEM" => Some(3),
        "RESOURCE" => Some(4),
        "QUERY_PROCESSING" => Some(5),
        _ => None,
    }
}

pub(super) fn entry(recorded_by: &str, row: &Row, names: &Names) -> Parsed {
    let Some(xml) = row.str("event_data") else { return Parsed::Unreadable };
    let Ok(e) = xevent::parse(xml) else { return Parsed::Unreadable };
    let at = e
        .timestamp
        .as_deref()
        .and_then(parse_utc)
        .or_else(|| row.str("timestamp_utc").and_then(parse_utc));
    let Some(at) = at else { return Parsed::Unreadable };
    let ag = names.group(&e);
    let mut details = Map::new();
    let mut replica = recorded_by.to_string();
    let (kind, message) = match e.name.as_str() {
        "availability_replica_state_change" => {
            replica = names.replica(&e).unwrap_or(replica);
            let previous = state_of(&e, "previous_state").unwrap_or_else(|| "?".into());
            let current = state_of(&e, "current_state").unwrap_or_else(|| "?".into());
            let message = format!(
                "Replica {replica} changed state {previous} -> {current}{}: {}.",
                ag.as_deref().map(|a| format!(" in {a}")).unwrap_or_default(),
                state_meaning(&current)
            );
            details.insert("previous_state".into(), json!(previous));
            details.insert("current_state".into(), json!(current));
            (EventKind::RoleChange, message)
        }
        "availability_group_lease_expired" => (
            EventKind::LeaseExpired,
            format!(
                "The lease between availability group {} and the Windows Server Failover Cluster expired on {replica}: \
                 SQL Server and the cluster lost contact, so the group went to RESOLVING and can fail over.",
                ag.as_deref().unwrap_or("?")
            ),
        ),
        "sp_server_diagnostics_component_result" => {
            let state = e.text("state").map(str::to_ascii_uppercase);
            if state.as_deref() != Some("ERROR") && e.int("state") != Some(3) {
                return Parsed::Ignored;
            }
            let component = e.text("component").unwrap_or("?").to_ascii_uppercase();
            details.insert("component".into(), json!(component));
            details.insert("state".into(), json!("ERROR"));
            if let Some((element, attrs)) = e.field("data").and_then(|f| f.element.as_ref()) {
                let mut data = Map::new();
                for (k, v) in attrs {
                    data.insert(k.clone(), json!(v));
                }
                details.insert("data".into(), json!({ element.clone(): data }));
            }
            let trigger = match component_level(&component) {
                Some(level) => format!("an automatic failover follows when failure_condition_level is {level} or higher"),
                None => "this component never triggers an automatic failover by itself".to_string(),
            };
            if let Some(level) = component_level(&component) {
                details.insert("triggers_from_failure_condition_level".into(), json!(level));
            }
            (
                EventKind::HealthCheckFailure,
                format!("sp_server_diagnostics reported component {component} in state ERROR on {replica}: {trigger}."),
            )
        }
        "alwayson_ddl_executed" => {
            let statement = e.text("statement").unwrap_or("").to_string();
            let action = e.text("ddl_action").unwrap_or("?").to_ascii_uppercase();
            let phase = e.text("ddl_phase").unwrap_or("?").to_ascii_uppercase();
            let upper = statement.to_ascii_uppercase();
            details.insert("ddl_action".into(), json!(action));
            details.insert("ddl_phase".into(), json!(phase));
            details.insert("statement".into(), json!(statement));
            let one_line: String = statement.split_whitespace().collect::<Vec<_>>().join(" ");
            if upper.contains("FORCE_FAILOVER_ALLOW_DATA_LOSS") {
                (
                    EventKind::ForcedFailover,
                    format!(
                        "A forced failover ran on {replica} ({phase}): `{one_line}`: transactions the old primary had \
                         not sent to this replica are lost."
                    ),
                )
            } else if upper.split(|c: char| !c.is_ascii_alphanumeric() && c != '_').any(|w| w == "FAILOVER") {
                (EventKind::ManualFailover, format!("A planned manual failover ran on {replica} ({phase}): `{one_line}`."))
            } else {
                (EventKind::AgDdl, format!("Availability group DDL ran on {replica} ({action}, {phase}): `{one_line}`."))
            }
        }
        "error_reported" => {
            let Some(number) = e.int("error_number") else { return Parsed::Unreadable };
            let Some((kind, meaning)) = error_kind(number) else { return Parsed::Ignored };
            let text = e.text("message").unwrap_or("").to_string();
            details.insert("error_number".into(), json!(number));
            if let Some(s) = e.int("severity") {
                details.insert("severity".into(), json!(s));
            }
            if let Some(s) = e.int("state") {
                details.insert("state".into(), json!(s));
            }
            // The replica a connection message names, unless it is the recording replica itself.
            let partner = named_replica(&text).filter(|p| !p.eq_ignore_ascii_case(recorded_by));
            if let Some(p) = &partner {
                details.insert("partner".into(), json!(p));
            }
            let database = quoted_after(&text, "database '");
            if let Some(d) = &database {
                details.insert("database".into(), json!(d));
            }
            details.insert("error_message".into(), json!(text));
            let with = match (partner, database) {
                (Some(p), _) => format!(" (partner {p})"),
                (None, Some(d)) => format!(" (database {d})"),
                (None, None) => String::new(),
            };
            (kind, format!("Error {number} on {replica}{with}: {meaning}."))
        }
        "data_movement_suspend_resume" => {
            let status = e.text("suspend_status").unwrap_or("?").to_ascii_uppercase();
            let database = e.text("database_replica_name").map(str::to_string);
            let reason = e.text("suspend_reason").or(e.text("suspend_source")).map(str::to_string);
            details.insert("suspend_status".into(), json!(status));
            if let Some(d) = &database {
                details.insert("database".into(), json!(d));
            }
            if let Some(r) = &reason {
                details.insert("suspend_reason".into(), json!(r));
            }
            let db = database.as_deref().unwrap_or("a database");
            let why = reason.map(|r| format!(" ({r})")).unwrap_or_default();
            if status == "RESUMED" {
                (EventKind::DataMovementResumed, format!("Data movement for {db} resumed on {replica}."))
            } else {
                (
                    EventKind::DataMovementSuspended,
                    format!(
                        "Data movement for {db} was suspended on {replica}{why}: no log reaches that copy until it is resumed."
                    ),
                )
            }
        }
        "availability_replica_manager_state_change" | "availability_replica_manager_state" => {
            let state = e.text("current_state").unwrap_or("?").to_string();
            details.insert("current_state".into(), json!(state));
            let meaning = match state.to_ascii_lowercase().as_str() {
                "online" => "the Always On manager is online",
                "offline" => "the Always On manager went offline: every availability replica on this instance is down",
                "waitingforclustercommunication" => {
                    "the Always On manager is waiting for the cluster: SQL Server lost contact with the cluster service (cluster down or quorum lost)"
                }
                _ => "the Always On manager changed state",
            };
            (EventKind::ReplicaManagerState, format!("On {replica}, {meaning} ({state})."))
        }
        "availability_replica_automatic_failover_validation" => {
            replica = names.replica(&e).unwrap_or(replica);
            let mut failed = Vec::new();
            for (field, bad) in [("forced_quorum", "TRUE"), ("joined_and_synchronized", "FALSE"), ("previous_primary_or_automatic_failover_target", "FALSE")] {
                if let Some(v) = e.text(field) {
                    details.insert(field.into(), json!(v.to_ascii_uppercase()));
                    if v.eq_ignore_ascii_case(bad) {
                        failed.push(format!("{field} = {bad}"));
                    }
                }
            }
            (
                EventKind::FailoverValidation,
                format!(
                    "Automatic failover validation found replica {replica} not ready to become primary{}.",
                    if failed.is_empty() { String::new() } else { format!(" ({})", failed.join(", ")) }
                ),
            )
        }
        "hadr_db_partner_set_sync_state" => {
            let Some(state) = e.text("sync_state") else { return Parsed::Ignored };
            details.insert("sync_state".into(), json!(state));
            if let Some(id) = e.int("database_id") {
                details.insert("database_id".into(), json!(id));
            }
            if let Some(p) = e.text("commit_policy") {
                details.insert("commit_policy".into(), json!(p));
            }
            (
                EventKind::SyncStateChange,
                format!(
                    "A database replica's partner synchronization state became {state} on {replica}{}.",
                    e.int("database_id").map(|d| format!(" (database_id {d})")).unwrap_or_default()
                ),
            )
        }
        _ => return Parsed::Ignored,
    };
    Parsed::Entry(Box::new(TimelineEntry {
        time: super::format_utc(at),
        replica,
        recorded_by: recorded_by.to_string(),
        availability_group: ag,
        kind,
        event: e.name.clone(),
        message,
        details,
        source: EventSource { file_name: row.str("file_name").map(str::to_string), file_offset: row.int("file_offset") },
        at: Some(at),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_partner_is_read_from_the_formatted_message() {
        let m = "A connection timeout has occurred while attempting to establish a connection to availability replica 'SQL3' with id [4D3B0B5E-0000-0000-0000-000000000003]. Either a networking or firewall issue exists.";
        assert_eq!(named_replica(m).as_deref(), Some("SQL3"));
        assert_eq!(named_replica("no name here"), None);
    }
}
