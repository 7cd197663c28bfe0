//! The incident timeline: every replica's AlwaysOn_health events (`alwayson_health` rows) merged
//! into one UTC-ordered list of what happened (role changes, lease expirations, health-check
//! failures, failover DDL, connection time-outs and losses, suspended data movement), and the
//! failovers read from it.
//!
//! The window is relative to the snapshot's `collected_at` (never to the clock of the machine that
//! analyzes it: an old snapshot keeps its history); without `collected_at`, to the newest event.
//! The timeline sits beside `topology`, below the checks: `history.*` checks judge it, the report
//! carries it, the CLI and the C ABI print it.

mod events;
mod failovers;
mod time;
pub mod xevent;

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::snapshot::{Snapshot, keys};

pub use failovers::{Cause, Failover, FailoverKind, failovers};
pub use time::{format_utc, parse_utc};

/// The default window: 7 days before `collected_at`.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(7 * 24 * 3600);

/// What an entry is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// `availability_replica_state_change`: previous → current state.
    RoleChange,
    /// `availability_group_lease_expired` or error 19407 / 19419.
    LeaseExpired,
    /// `sp_server_diagnostics_component_result` in state ERROR.
    HealthCheckFailure,
    /// `alwayson_ddl_executed` with `FAILOVER`.
    ManualFailover,
    /// `alwayson_ddl_executed` with `FORCE_FAILOVER_ALLOW_DATA_LOSS`.
    ForcedFailover,
    /// Other availability group DDL (CREATE / ALTER / DROP).
    AgDdl,
    /// Error 35201 (connect attempt timed out) or 35206 (established connection timed out).
    ConnectionTimeout,
    /// A connection between replicas ended: 35267, 35204, 35207, 9642.
    ConnectionLost,
    /// Error 35202: a connection between replicas was established.
    ConnectionEstablished,
    /// Endpoint handshake failures: 28034, 28036, 28047, 28048, 28080.
    HandshakeFailure,
    /// The mirroring endpoint cannot listen: 9691, 9692, 9693, 33309.
    EndpointError,
    /// `data_movement_suspend_resume` SUSPENDED, or error 35264.
    DataMovementSuspended,
    /// Error 35265, or `data_movement_suspend_resume` RESUMED.
    DataMovementResumed,
    /// `hadr_db_partner_set_sync_state`: a database replica's partner synchronization state.
    SyncStateChange,
    /// `availability_replica_manager_state_change`: Online, Offline, WaitingForClusterCommunication.
    ReplicaManagerState,
    /// `availability_replica_automatic_failover_validation`: a replica was found not ready.
    FailoverValidation,
    /// Error 1480: a database changed roles.
    DatabaseRoleChange,
    /// Errors 823, 824, 829: I/O errors on a database (a database-level health event).
    DatabaseIoError,
    /// Another AG error the session records (41142, 41144, 35217 ...).
    OtherError,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::RoleChange => "role_change",
            EventKind::LeaseExpired => "lease_expired",
            EventKind::HealthCheckFailure => "health_check_failure",
            EventKind::ManualFailover => "manual_failover",
            EventKind::ForcedFailover => "forced_failover",
            EventKind::AgDdl => "ag_ddl",
            EventKind::ConnectionTimeout => "connection_timeout",
            EventKind::ConnectionLost => "connection_lost",
            EventKind::ConnectionEstablished => "connection_established",
            EventKind::HandshakeFailure => "handshake_failure",
            EventKind::EndpointError => "endpoint_error",
            EventKind::DataMovementSuspended => "data_movement_suspended",
            EventKind::DataMovementResumed => "data_movement_resumed",
            EventKind::SyncStateChange => "sync_state_change",
            EventKind::ReplicaManagerState => "replica_manager_state",
            EventKind::FailoverValidation => "failover_validation",
            EventKind::DatabaseRoleChange => "database_role_change",
            EventKind::DatabaseIoError => "database_io_error",
            EventKind::OtherError => "other_error",
        }
    }
}

/// Where an entry came from: the `.xel` file and the offset `fn_xe_file_target_read_file` reported.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventSource {
    pub file_name: Option<String>,
    pub file_offset: Option<i64>,
}

/// One thing that happened, on one replica, at one UTC time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimelineEntry {
    /// UTC, ISO 8601 with milliseconds (`2026-11-21T02:14:07.412Z`).
    pub time: String,
    /// The replica the event is about (the local replica for role changes).
    pub replica: String,
    /// The instance whose AlwaysOn_health files recorded it.
    pub recorded_by: String,
    pub availability_group: Option<String>,
    pub kind: EventKind,
    /// The extended event's name (`availability_replica_state_change`, `error_reported` ...).
    pub event: String,
    /// What it means, in one sentence.
    pub message: String,
    /// The event's fields that matter (states, error number, statement, component ...).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub details: Map<String, Value>,
    pub source: EventSource,
    #[serde(skip)]
    pub(crate) at: Option<SystemTime>,
}

impl TimelineEntry {
    /// The entry's time as a `SystemTime` (parsed from `time`).
    pub fn at(&self) -> SystemTime {
        self.at.or_else(|| parse_utc(&self.time)).unwrap_or(SystemTime::UNIX_EPOCH)
    }

    pub fn detail_str(&self, key: &str) -> Option<&str> {
        self.details.get(key).and_then(Value::as_str)
    }

    pub fn detail_int(&self, key: &str) -> Option<i64> {
        self.details.get(key).and_then(Value::as_i64)
    }
}

/// An instance whose history could not be read, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gap {
    pub instance: String,
    pub reason: String,
}

/// The merged timeline of one snapshot over one window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Timeline {
    /// Start of the window (UTC): `until` minus the window.
    pub since: Option<String>,
    /// End of the window: the snapshot's `collected_at` (or the newest event when absent).
    pub until: Option<String>,
    /// Entries in UTC order; ties by replica, then file and offset.
    pub entries: Vec<TimelineEntry>,
    /// The failovers read from the entries, oldest first.
    pub failovers: Vec<Failover>,
    /// Instances whose AlwaysOn_health rows are missing, denied, or not connected.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gaps: Vec<Gap>,
    /// Rows whose `event_data` was not a readable event (kept out of the timeline, counted here).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub unreadable_events: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// Parses a window such as `7d`, `36h`, `90m` (humantime units; a bare number is days).
pub fn parse_window(text: &str) -> crate::Result<Duration> {
    let t = text.trim();
    if let Ok(days) = t.parse::<u64>() {
        return Ok(Duration::from_secs(days.saturating_mul(24 * 3600)));
    }
    humantime::parse_duration(t).map_err(|e| {
        crate::Error::invalid_argument(format!("--since {t:?} is not a duration like 7d, 36h or 90m: {e}"))
    })
}

/// Builds the timeline of every instance's `alwayson_health` rows within `window` before the
/// snapshot's `collected_at`.
pub fn build(snapshot: &Snapshot, window: Duration) -> Timeline {
    let mut entries = Vec::new();
    let mut gaps = Vec::new();
    let mut unreadable = 0;
    let names = events::Names::new(snapshot);
    for inst in &snapshot.instances {
        match inst.rows(keys::ALWAYSON_HEALTH) {
            Ok(rows) => {
                for row in rows {
                    match events::entry(inst.name(), row, &names) {
                        events::Parsed::Entry(e) => entries.push(*e),
                        events::Parsed::Ignored => {}
                        events::Parsed::Unreadable => unreadable += 1,
                    }
                }
            }
            Err(why) => gaps.push(Gap { instance: inst.name().to_string(), reason: why.to_string() }),
        }
    }
    let until = snapshot
        .collected_at
        .as_deref()
        .and_then(parse_utc)
        .or_else(|| entries.iter().filter_map(|e| e.at).max());
    let since = until.map(|u| u.checked_sub(window).unwrap_or(SystemTime::UNIX_EPOCH));
    if let Some(since) = since {
        entries.retain(|e| e.at.is_some_and(|at| at >= since));
    }
    entries.sort_by(|a, b| {
        (a.at, a.replica.to_lowercase(), &a.source.file_name, a.source.file_offset).cmp(&(
            b.at,
            b.replica.to_lowercase(),
            &b.source.file_name,
            b.source.file_offset,
        ))
    });
    let mut timeline = Timeline {
        since: since.map(format_utc),
        until: until.map(format_utc),
        entries,
        failovers: Vec::new(),
        gaps,
        unreadable_events: unreadable,
    };
    timeline.failovers = failovers(&timeline, snapshot);
    timeline
}

impl Timeline {
    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).expect("a timeline always serializes")
    }
}
