//! history.*: failovers with their kind and root cause, repeated disconnects, and the
//! AlwaysOn_health session itself.

mod common;

use agdiag::Snapshot;
use agdiag::checks::CheckStatus;
use agdiag::findings::{Phase, Severity};
use agdiag::fix::ScriptOptions;
use common::history::*;
use common::*;
use serde_json::json;

fn one(snap: Snapshot, check: &str) -> agdiag::findings::Finding {
    single(&run(snap), check).clone()
}

#[test]
fn healthy_week_has_no_history_findings() {
    let report = run(healthy());
    assert_all_pass(&report, &["history.failover", "history.repeated_disconnects", "history.health_session"]);
}

#[test]
fn a_lease_expiration_explains_an_automatic_failover_as_a_warning() {
    let report = run(automatic_failover(vec![lease("2026-11-21T02:14:07.412Z")]));
    let f = single(&report, "history.failover");
    assert_severity(f, Severity::Warning);
    assert_eq!(f.id, "history.failover@SQL2/AG1 2026-11-21T02:14:09.614Z");
    assert!(f.message.contains("from SQL1 to SQL2") && f.message.contains("unplanned automatic"), "{}", f.message);
    assert!(f.message.contains("lease between AG1 and the Windows Server Failover Cluster expired on SQL1"), "{}", f.message);
    assert_eq!(f.evidence["failover"]["cause"], "lease_expired");
    assert!(f.remediation.contains("did not renew the lease"), "{}", f.remediation);
}

#[test]
fn a_health_check_failure_is_the_cause_only_at_the_groups_failure_condition_level() {
    let snap = automatic_failover(vec![diag("2026-11-21T02:14:05.000Z", "SYSTEM")]);
    let f = one(snap.clone(), "history.failover");
    assert_eq!(f.evidence["failover"]["cause"], "health_check");
    assert!(f.message.contains("component SYSTEM in state ERROR") && f.message.contains("failure_condition_level 3"), "{}", f.message);

    // At level 2 a SYSTEM error does not trigger a failover: the cause is not that.
    let mut low = snap;
    set_everywhere(&mut low, "availability_groups", |_| true, "failure_condition_level", json!(2));
    let f = one(low, "history.failover");
    assert_eq!(f.evidence["failover"]["cause"], "unknown");
    assert!(f.message.contains("no lease expiration, health-check failure or cluster event on SQL1"), "{}", f.message);
}

#[test]
fn loss_of_the_cluster_and_database_health_are_causes_too() {
    let f = one(automatic_failover(vec![manager("2026-11-21T02:14:06.000Z", "WaitingForClusterCommunication")]), "history.failover");
    assert_eq!(f.evidence["failover"]["cause"], "cluster_quorum");
    assert!(f.message.contains("WaitingForClusterCommunication"), "{}", f.message);

    let io = error("2026-11-21T02:14:06.000Z", 824, "SQL Server detected a logical consistency-based I/O error: incorrect checksum. It occurred during a read of page (1:1880) in database ID 5.");
    let f = one(automatic_failover(vec![io.clone()]), "history.failover");
    assert_eq!(f.evidence["failover"]["cause"], "unknown", "DB_FAILOVER is OFF in the healthy example");
    let mut on = automatic_failover(vec![io]);
    set_everywhere(&mut on, "availability_groups", |_| true, "db_failover", json!(true));
    let f = one(on, "history.failover");
    assert_eq!(f.evidence["failover"]["cause"], "database_health");
    assert!(f.message.contains("DB_FAILOVER = ON"), "{}", f.message);
}

#[test]
fn an_unknown_cause_names_the_missing_evidence() {
    let mut snap = automatic_failover(vec![]);
    deny_key(&mut snap, "SQL1", "alwayson_health", 297, "The user does not have permission to perform this action.");
    // SQL1's exit is gone with its history; SQL2's own events show it was a secondary.
    let report = run(snap);
    let f = single(&report, "history.failover");
    assert!(f.message.contains("from an unknown replica to SQL2"), "{}", f.message);
    assert!(f.message.contains("unknown: which replica was primary before"), "{}", f.message);
    assert!(not_evaluated_on(&report, "history.failover").iter().any(|(s, r)| s == "SQL1" && r.contains("297")));
}

#[test]
fn a_forced_failover_is_an_error_and_a_planned_one_information() {
    let snap = |statement: &str| {
        with_history(
            healthy(),
            &[
                ("SQL1", vec![role("2026-11-21T02:14:07.502Z", "SQL1", "PRIMARY_NORMAL", "RESOLVING_NORMAL")]),
                (
                    "SQL2",
                    vec![
                        ddl("2026-11-21T02:14:08.000Z", statement),
                        role("2026-11-21T02:14:08.131Z", "SQL2", "SECONDARY_NORMAL", "RESOLVING_PENDING_FAILOVER"),
                        role("2026-11-21T02:14:09.614Z", "SQL2", "PRIMARY_PENDING", "PRIMARY_NORMAL"),
                    ],
                ),
            ],
        )
    };
    let report = run(snap("ALTER AVAILABILITY GROUP [AG1] FORCE_FAILOVER_ALLOW_DATA_LOSS;"));
    let f = single(&report, "history.failover");
    assert_severity(f, Severity::Error);
    assert!(f.message.contains("forced failover with possible data loss"), "{}", f.message);
    assert!(f.remediation.contains("SUSPENDED"), "{}", f.remediation);
    let report = run(snap("ALTER AVAILABILITY GROUP [AG1] FAILOVER;"));
    let f = single(&report, "history.failover");
    assert_severity(f, Severity::Info);
    assert_eq!(f.evidence["failover"]["kind"], "planned");
}

#[test]
fn repeated_time_outs_of_one_connection_are_reported_with_count_and_span() {
    let report = run(Snapshot::from_json(FAILOVER_EXAMPLE).unwrap());
    let f = single(&report, "history.repeated_disconnects");
    assert_severity(f, Severity::Warning);
    assert_eq!((f.instance.as_deref(), f.object.as_deref()), (Some("SQL1"), Some("SQL3")));
    assert!(f.message.contains("4 times between 2026-11-19T23:41:02.117Z and 2026-11-21T05:12:09.448Z"), "{}", f.message);
    assert_eq!(f.evidence["count"], 4);

    // Two are not "repeatedly"; a short session timeout is pointed at when there are more.
    let two = with_history(healthy(), &[("SQL1", vec![timeout("2026-11-21T01:00:00.000Z", "SQL3"), timeout("2026-11-21T02:00:00.000Z", "SQL3")])]);
    assert_none(&run(two), "history.repeated_disconnects");
    let mut three = with_history(
        healthy(),
        &[("SQL1", (0..3).map(|i| timeout(&format!("2026-11-21T0{i}:00:00.000Z"), "SQL3")).collect())],
    );
    set_everywhere(&mut three, "availability_replicas", is_name("replica_server_name", "SQL3"), "session_timeout", json!(5));
    let f = one(three, "history.repeated_disconnects");
    assert!(f.message.contains("SQL3's session_timeout in AG1 is 5 s"), "{}", f.message);
}

#[test]
fn the_alwayson_health_session_missing_stopped_or_not_autostarted_is_a_warning_with_the_fix() {
    let report = run(Snapshot::from_json(FAILOVER_EXAMPLE).unwrap());
    let f = single(&report, "history.health_session");
    assert_severity(f, Severity::Warning);
    assert_eq!(f.instance.as_deref(), Some("SQL3"));
    assert_eq!(f.fix_steps.len(), 1);
    assert_eq!(f.fix_steps[0].phase, Phase::EventSession);
    assert_eq!(f.fix_steps[0].text, "ALTER EVENT SESSION [AlwaysOn_health] ON SERVER WITH (STARTUP_STATE = ON);");

    let mut stopped = healthy();
    remove_where(&mut stopped, "SQL2", "dm_xe_sessions", is_name("name", "AlwaysOn_health"));
    let report = run(stopped);
    let f = single(&report, "history.health_session");
    assert!(f.message.contains("is not running"), "{}", f.message);
    let script = report.fix_script(&ScriptOptions::default());
    assert!(
        script.contains("IF NOT EXISTS (SELECT 1 FROM sys.dm_xe_sessions WHERE name = N'AlwaysOn_health') ALTER EVENT SESSION [AlwaysOn_health] ON SERVER STATE = START;"),
        "{script}"
    );

    let mut missing = healthy();
    remove_where(&mut missing, "SQL1", "server_event_sessions", is_name("name", "AlwaysOn_health"));
    remove_where(&mut missing, "SQL1", "dm_xe_sessions", is_name("name", "AlwaysOn_health"));
    let f = one(missing, "history.health_session");
    assert!(f.message.contains("does not exist"), "{}", f.message);
    assert!(f.fix_steps.iter().all(|s| s.manual));

    let mut uncollected = healthy();
    for server in ["SQL1", "SQL2", "SQL3"] {
        drop_key(&mut uncollected, server, "server_event_sessions");
    }
    assert_eq!(status_of(&run(uncollected), "history.health_session"), CheckStatus::NotEvaluated);
}
