//! The incident timeline: every event kind read from the XML SQL Server writes, entries merged in
//! UTC order across replicas, the window relative to the snapshot's `collected_at` (never to this
//! machine's clock), and the failovers read from it.

mod common;

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use agdiag::Snapshot;
use agdiag::timeline::{self, Cause, EventKind, FailoverKind, parse_window};
use common::history::*;
use common::rows_mut;

fn fixture() -> Snapshot {
    Snapshot::from_json(EVERY_EVENT_KIND).expect("fixture parses")
}

#[test]
fn every_event_kind_is_read_from_the_xml_sql_server_writes() {
    let t = timeline::build(&fixture(), timeline::DEFAULT_WINDOW);
    let kinds: BTreeSet<EventKind> = t.entries.iter().map(|e| e.kind).collect();
    for want in [
        EventKind::RoleChange,
        EventKind::LeaseExpired,
        EventKind::HealthCheckFailure,
        EventKind::AgDdl,
        EventKind::ConnectionTimeout,
        EventKind::ConnectionLost,
        EventKind::ConnectionEstablished,
        EventKind::HandshakeFailure,
        EventKind::EndpointError,
        EventKind::DataMovementSuspended,
        EventKind::DataMovementResumed,
        EventKind::SyncStateChange,
        EventKind::ReplicaManagerState,
        EventKind::FailoverValidation,
        EventKind::DatabaseRoleChange,
        EventKind::DatabaseIoError,
    ] {
        assert!(kinds.contains(&want), "no {want:?} entry in {kinds:?}");
    }
    // The truncated row is counted, the trace message is not shown.
    assert_eq!(t.unreadable_events, 1);
    assert!(t.entries.iter().all(|e| e.event != "hadr_trace_message"));

    let role = t.entries.iter().find(|e| e.kind == EventKind::RoleChange && e.replica == "SQL1").unwrap();
    assert_eq!((role.detail_str("previous_state"), role.detail_str("current_state")), (Some("PRIMARY_NORMAL"), Some("RESOLVING_NORMAL")));
    assert_eq!(role.availability_group.as_deref(), Some("AG1"));
    assert!(role.message.contains("PRIMARY_NORMAL -> RESOLVING_NORMAL"), "{}", role.message);
    assert!(role.source.file_name.as_deref().is_some_and(|f| f.ends_with(".xel")) && role.source.file_offset.is_some());

    let health = t.entries.iter().find(|e| e.kind == EventKind::HealthCheckFailure).unwrap();
    assert_eq!(health.detail_str("component"), Some("SYSTEM"));
    assert_eq!(health.detail_int("triggers_from_failure_condition_level"), Some(3));
    assert!(health.details["data"]["system"]["nonYieldingTasksReported"].is_string());

    let timeout = t.entries.iter().find(|e| e.detail_int("error_number") == Some(35206)).unwrap();
    assert_eq!(timeout.kind, EventKind::ConnectionTimeout);
    assert_eq!(timeout.detail_str("partner"), Some("SQL3"));

    let suspended = t.entries.iter().find(|e| e.event == "data_movement_suspend_resume").unwrap();
    assert_eq!(suspended.detail_str("database"), Some("SalesDB"));
    let ddl = t.entries.iter().find(|e| e.kind == EventKind::AgDdl).unwrap();
    assert!(ddl.detail_str("statement").unwrap().contains("SESSION_TIMEOUT = 15"));
    let validation = t.entries.iter().find(|e| e.kind == EventKind::FailoverValidation && e.replica == "SQL3").unwrap();
    assert!(validation.message.contains("joined_and_synchronized = FALSE"), "{}", validation.message);
}

#[test]
fn entries_from_every_replica_are_merged_in_utc_order() {
    let t = timeline::build(&fixture(), timeline::DEFAULT_WINDOW);
    let times: Vec<_> = t.entries.iter().map(|e| e.at()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "not in time order");
    // Around the failover, events of the three replicas interleave by time, not by instance.
    let around: Vec<(&str, &str)> = t
        .entries
        .iter()
        .filter(|e| e.time.as_str() >= "2026-11-21T02:14:00" && e.time.as_str() < "2026-11-21T02:14:01")
        .map(|e| (e.time.as_str(), e.replica.as_str()))
        .collect();
    assert_eq!(
        around,
        [
            ("2026-11-21T02:14:00.100Z", "SQL1"),
            ("2026-11-21T02:14:00.200Z", "SQL2"),
            ("2026-11-21T02:14:00.250Z", "SQL2"),
            ("2026-11-21T02:14:00.260Z", "SQL3"),
            ("2026-11-21T02:14:00.300Z", "SQL1"),
        ]
    );
}

#[test]
fn the_window_is_relative_to_collected_at_not_to_this_machines_clock() {
    // The fixture is weeks old; a window anchored at "now" would hold nothing.
    let snap = fixture();
    let t = timeline::build(&snap, timeline::DEFAULT_WINDOW);
    assert_eq!(t.until.as_deref(), Some("2026-11-22T10:15:00.000Z"));
    assert_eq!(t.since.as_deref(), Some("2026-11-15T10:15:00.000Z"));
    assert!(t.entries.len() > 20);

    let mut snap = fixture();
    snap.collected_at = Some("2026-11-21T03:00:00Z".into());
    let t = timeline::build(&snap, parse_window("30m").unwrap());
    let kinds: Vec<EventKind> = t.entries.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [EventKind::AgDdl], "only the 03:00 DDL is within 30 minutes of 03:00");
    let t = timeline::build(&snap, parse_window("36h").unwrap());
    assert!(t.entries.len() > 20);

    // Without collected_at, the newest event anchors the window.
    snap.collected_at = None;
    let t = timeline::build(&snap, Duration::from_secs(60));
    assert_eq!(t.until.as_deref(), Some("2026-11-21T03:00:00.000Z"));
    assert_eq!(t.entries.len(), 1);
}

#[test]
fn windows_parse_like_the_cli_takes_them() {
    assert_eq!(parse_window("7d").unwrap(), Duration::from_secs(7 * 86400));
    assert_eq!(parse_window("36h").unwrap(), Duration::from_secs(36 * 3600));
    assert_eq!(parse_window("3").unwrap(), Duration::from_secs(3 * 86400));
    assert!(parse_window("a week").is_err());
}

#[test]
fn timestamp_utc_is_used_when_the_event_has_no_timestamp_attribute() {
    let mut snap = fixture();
    let rows = rows_mut(&mut snap, "SQL2", "alwayson_health");
    let first = &mut rows[0];
    let xml = first.str("event_data").unwrap().replace(r#" timestamp="2026-11-21T02:14:00.200Z""#, "");
    first.set("event_data", serde_json::json!(xml));
    first.set("timestamp_utc", serde_json::json!("2026-11-21T02:14:00.2000000"));
    let t = timeline::build(&snap, timeline::DEFAULT_WINDOW);
    assert!(t.entries.iter().any(|e| e.replica == "SQL2" && e.time == "2026-11-21T02:14:00.200Z"));
}

#[test]
fn a_denied_or_missing_history_is_a_gap_not_an_error() {
    let mut snap = fixture();
    common::deny_key(&mut snap, "SQL3", "alwayson_health", 297, "The user does not have permission to perform this action.");
    common::drop_key(&mut snap, "SQL2", "alwayson_health");
    let t = timeline::build(&snap, timeline::DEFAULT_WINDOW);
    let gaps: Vec<&str> = t.gaps.iter().map(|g| g.instance.as_str()).collect();
    assert_eq!(gaps, ["SQL2", "SQL3"]);
    assert!(t.gaps[1].reason.contains("297"), "{:?}", t.gaps);
    assert!(t.entries.iter().all(|e| e.recorded_by == "SQL1"));
}

#[test]
fn the_failover_in_the_fixture_is_automatic_and_caused_by_the_lease() {
    let t = timeline::build(&fixture(), timeline::DEFAULT_WINDOW);
    assert_eq!(t.failovers.len(), 1, "{:#?}", t.failovers);
    let f = &t.failovers[0];
    assert_eq!((f.from.as_deref(), f.to.as_str(), f.kind), (Some("SQL1"), "SQL2", FailoverKind::Automatic));
    assert_eq!(f.cause, Cause::LeaseExpired);
    assert_eq!(f.time, "2026-11-21T02:14:03.000Z");
    assert!(f.evidence.iter().any(|e| e.kind == EventKind::LeaseExpired));
}

#[test]
fn a_restart_in_place_is_not_a_failover_and_the_example_has_two() {
    let healthy = timeline::build(&common::healthy(), timeline::DEFAULT_WINDOW);
    assert_eq!(healthy.entries.len(), 7);
    assert!(healthy.failovers.is_empty(), "{:#?}", healthy.failovers);

    let example = timeline::build(&Snapshot::from_json(FAILOVER_EXAMPLE).unwrap(), timeline::DEFAULT_WINDOW);
    let summary: Vec<(Option<&str>, &str, FailoverKind, Cause)> =
        example.failovers.iter().map(|f| (f.from.as_deref(), f.to.as_str(), f.kind, f.cause)).collect();
    assert_eq!(
        summary,
        [
            (Some("SQL1"), "SQL2", FailoverKind::Automatic, Cause::LeaseExpired),
            (Some("SQL2"), "SQL1", FailoverKind::Planned, Cause::Manual)
        ]
    );
}

#[test]
fn the_cli_prints_the_timeline_and_takes_since_relative_to_collected_at() {
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_agdiag")).args(args).current_dir(env!("CARGO_MANIFEST_DIR")).output().unwrap()
    };
    let o = run(&["timeline", "examples/snapshots/failover-3-replica.json"]);
    assert_eq!(o.status.code(), Some(0));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("lease_expired") && out.contains("Failovers:"), "{out}");
    assert!(out.contains("SQL1 -> SQL2, automatic"), "{out}");
    for line in out.lines() {
        assert!(line.chars().count() <= 100, "line longer than 100 columns: {line}");
    }
    let o = run(&["timeline", "tests/fixtures/history/every-event-kind.json", "--since", "12h", "--format", "json"]);
    assert_eq!(o.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(json["since"], "2026-11-21T22:15:00.000Z");
    assert_eq!(json["entries"].as_array().unwrap().len(), 0, "nothing in the 12 h before collected_at");
    let o = run(&["timeline", "examples/snapshots/failover-3-replica.json", "--since", "lately"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("lately"));
    // analyze prints the last failovers briefly.
    let o = run(&["analyze", "examples/snapshots/failover-3-replica.json"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("Last failovers") && out.contains("SQL2 -> SQL1, planned"), "{out}");
}

#[test]
fn the_findings_json_carries_the_timeline() {
    let report = common::run(Snapshot::from_json(FAILOVER_EXAMPLE).unwrap());
    let json: serde_json::Value = serde_json::from_str(&report.findings_json()).unwrap();
    assert_eq!(json["timeline"]["failovers"].as_array().unwrap().len(), 2);
    assert_eq!(json["timeline"]["entries"][0]["kind"], "role_change");
    assert_eq!(json["timeline"]["until"], "2026-11-22T10:15:00.000Z");
}

#[test]
fn fifty_thousand_events_in_the_window_stay_cheap() {
    // A busy week: role changes flapping between SQL1 and SQL2 every few seconds, and timeouts.
    let mut sql1 = Vec::new();
    let mut sql2 = Vec::new();
    for i in 0..12_500u32 {
        let t = |ms: u32| {
            let secs = 1_000 + i * 40 + ms / 1000;
            format!("2026-11-2{}T{:02}:{:02}:{:02}.{:03}Z", 1 + secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60, ms % 1000)
        };
        sql1.push(role(&t(0), "SQL1", "PRIMARY_NORMAL", "RESOLVING_NORMAL"));
        sql2.push(role(&t(500), "SQL2", "SECONDARY_NORMAL", "RESOLVING_PENDING_FAILOVER"));
        sql2.push(role(&t(900), "SQL2", "PRIMARY_PENDING", "PRIMARY_NORMAL"));
        sql1.push(timeout(&t(1500), "SQL3"));
    }
    let snap = with_history(common::healthy(), &[("SQL1", sql1), ("SQL2", sql2)]);
    let started = std::time::Instant::now();
    let t = timeline::build(&snap, parse_window("7d").unwrap());
    eprintln!("50 000 events: timeline and failovers in {:?}", started.elapsed());
    assert_eq!(t.entries.len(), 50_000 + 2, "the healthy week's SQL3 events stay, SQL1/SQL2's are replaced");
    assert!(!t.failovers.is_empty());
}

#[test]
fn the_readme_timeline_transcript_is_what_the_cli_prints() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let command = "$ agdiag timeline examples/snapshots/failover-3-replica.json --since 36h\n";
    let start = readme.find(command).expect("the README shows the timeline transcript") + command.len();
    let shown = &readme[start..start + readme[start..].find("```").unwrap()];
    let o = Command::new(env!("CARGO_BIN_EXE_agdiag"))
        .args(["timeline", "examples/snapshots/failover-3-replica.json", "--since", "36h"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert_eq!(shown, String::from_utf8_lossy(&o.stdout), "regenerate the README's Timeline transcript");
}
