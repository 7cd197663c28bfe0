mod common;

use agdiag::checks::CheckStatus;
use agdiag::findings::{Phase, Severity};
use agdiag::snapshot::Row;
use common::*;
use serde_json::json;

const SQL2_REPLICA: &str = "2C1E6CAF-4D3B-4081-8E72-1B9F3D5C8A02";
const SQL3_REPLICA: &str = "3D2F7DB0-5E4C-4192-9F83-2CA04E6D9B03";
const HEALTH_CHECKS: &[&str] = &[
    "health.synchronization",
    "health.suspended",
    "health.replica_not_healthy",
    "health.quorum",
    "health.cluster_member_down",
];

fn replica_id(id: &'static str) -> impl Fn(&Row) -> bool {
    move |r| r.str("replica_id").is_some_and(|v| v.eq_ignore_ascii_case(id))
}

/// Sets a database-replica-state column for `replica` on the primary and on the replica's own instance.
fn set_db_state(snap: &mut agdiag::Snapshot, replica: &'static str, own: &str, column: &str, value: serde_json::Value) {
    set_where(snap, "SQL1", "dm_hadr_database_replica_states", replica_id(replica), column, value.clone());
    set_where(snap, own, "dm_hadr_database_replica_states", replica_id(replica), column, value);
}

#[test]
fn healthy_example_passes_every_health_check() {
    let report = run(healthy());
    assert_all_pass(&report, HEALTH_CHECKS);
}

#[test]
fn sync_replica_not_synchronizing_is_an_error_with_its_queues() {
    let mut snap = healthy();
    set_db_state(&mut snap, SQL2_REPLICA, "SQL2", "synchronization_state_desc", json!("NOT SYNCHRONIZING"));
    set_db_state(&mut snap, SQL2_REPLICA, "SQL2", "log_send_queue_size", json!(48213));
    set_where(&mut snap, "SQL1", "dm_hadr_availability_replica_states", replica_id(SQL2_REPLICA), "synchronization_health_desc", json!("NOT_HEALTHY"));
    let report = run(snap);
    let f = single(&report, "health.synchronization");
    assert_severity(f, Severity::Error);
    assert_eq!(f.id, "health.synchronization@SQL1/SQL2/SalesDB");
    assert_eq!(f.replica.as_deref(), Some("SQL2"));
    assert!(f.message.contains("NOT SYNCHRONIZING, expected SYNCHRONIZED") && f.message.contains("log send queue 48213 KB"), "{}", f.message);
    assert_eq!(f.evidence["dm_hadr_database_replica_states"]["log_send_queue_size"], json!(48213));
    assert_eq!(f.evidence["dm_hadr_database_replica_states"]["redo_queue_size"], json!(0));

    // The replica's NOT_HEALTHY is that database's consequence: info, pointing at it.
    let r = single(&report, "health.replica_not_healthy");
    assert_severity(r, Severity::Info);
    assert!(r.message.contains("SalesDB NOT SYNCHRONIZING") && r.message.contains("health.synchronization"), "{}", r.message);
}

#[test]
fn sync_replica_catching_up_is_a_warning_and_async_synchronizing_is_fine() {
    let mut snap = healthy();
    set_db_state(&mut snap, SQL2_REPLICA, "SQL2", "synchronization_state_desc", json!("SYNCHRONIZING"));
    let report = run(snap);
    let f = single(&report, "health.synchronization");
    assert_severity(f, Severity::Warning);
    assert!(f.message.contains("automatic failover to it is not possible"), "{}", f.message);

    // SQL3 is asynchronous and SYNCHRONIZING in the healthy example: nothing to report.
    assert!(findings_of(&report, "health.synchronization").iter().all(|f| f.replica.as_deref() == Some("SQL2")));
}

#[test]
fn disconnected_replica_is_left_to_the_session_check() {
    let mut snap = healthy();
    let key = "dm_hadr_availability_replica_states";
    set_where(&mut snap, "SQL1", key, replica_id(SQL3_REPLICA), "connected_state_desc", json!("DISCONNECTED"));
    set_where(&mut snap, "SQL1", key, replica_id(SQL3_REPLICA), "synchronization_health_desc", json!("NOT_HEALTHY"));
    set_db_state(&mut snap, SQL3_REPLICA, "SQL3", "synchronization_state_desc", json!("NOT SYNCHRONIZING"));
    set_where(&mut snap, "SQL1", "dm_hadr_availability_group_states", |_| true, "synchronization_health_desc", json!("PARTIALLY_HEALTHY"));
    let report = run(snap);
    assert_eq!(findings_of(&report, "session.replica_disconnected").len(), 1);
    assert_none(&report, "health.synchronization");
    assert_none(&report, "health.replica_not_healthy");
}

#[test]
fn engine_suspended_secondary_is_an_error_with_a_guarded_resume_on_that_replica() {
    let mut snap = healthy();
    set_db_state(&mut snap, SQL3_REPLICA, "SQL3", "is_suspended", json!(true));
    set_db_state(&mut snap, SQL3_REPLICA, "SQL3", "suspend_reason_desc", json!("SUSPEND_FROM_REDO"));
    set_db_state(&mut snap, SQL3_REPLICA, "SQL3", "synchronization_state_desc", json!("NOT SYNCHRONIZING"));
    let report = run(snap);
    let f = single(&report, "health.suspended");
    assert_severity(f, Severity::Error);
    assert_eq!((f.instance.as_deref(), f.replica.as_deref()), (Some("SQL1"), Some("SQL3")));
    assert!(f.message.contains("SUSPEND_FROM_REDO") && f.message.contains("redo"), "{}", f.message);
    assert_eq!(f.evidence["dm_hadr_database_replica_states"]["suspend_reason_desc"], json!("SUSPEND_FROM_REDO"));
    assert_eq!(
        f.fix.as_deref(),
        Some("IF EXISTS (SELECT 1 FROM sys.dm_hadr_database_replica_states WHERE is_local = 1 AND is_suspended = 1 AND database_id = DB_ID(N'SalesDB')) ALTER DATABASE [SalesDB] SET HADR RESUME;")
    );
    assert_eq!((f.fix_steps[0].target.as_str(), f.fix_steps[0].phase), ("SQL3", Phase::DataMovement));
    // Not reported a second time as "not synchronizing".
    assert_none(&report, "health.synchronization");
}

#[test]
fn user_suspension_is_a_warning_and_an_unknown_name_resumes_by_group_database_id() {
    let mut snap = healthy();
    set_db_state(&mut snap, SQL2_REPLICA, "SQL2", "is_suspended", json!(1));
    set_db_state(&mut snap, SQL2_REPLICA, "SQL2", "suspend_reason_desc", json!("SUSPEND_FROM_USER"));
    for s in ["SQL1", "SQL2", "SQL3"] {
        drop_key(&mut snap, s, "availability_databases_cluster");
    }
    let report = run(snap);
    let f = single(&report, "health.suspended");
    assert_severity(f, Severity::Warning);
    assert!(f.message.contains("database_id 5"), "{}", f.message);
    let fix = f.fix.as_deref().unwrap();
    assert!(fix.contains("group_database_id = 'a7e3c1d9-2b4f-4e8a-9c6d-5f1a3b7e9d21'") && fix.contains("EXEC (@resume)"), "{fix}");
}

#[test]
fn hostile_database_name_stays_quoted_in_the_resume() {
    let mut snap = healthy();
    set_everywhere(&mut snap, "availability_databases_cluster", |_| true, "database_name", json!("Sales]DB'; --"));
    set_db_state(&mut snap, SQL3_REPLICA, "SQL3", "is_suspended", json!(true));
    let report = run(snap);
    let fix = single(&report, "health.suspended").fix.clone().unwrap();
    assert!(fix.contains("DB_ID(N'Sales]DB''; --')) ALTER DATABASE [Sales]]DB'; --] SET HADR RESUME;"), "{fix}");
}

#[test]
fn failed_no_quorum_on_a_secondary_is_an_error_when_only_it_was_collected() {
    let mut snap = healthy();
    disconnect(&mut snap, "SQL1");
    set_where(&mut snap, "SQL2", "dm_hadr_availability_replica_states", |_| true, "operational_state_desc", json!("FAILED_NO_QUORUM"));
    let report = run(snap);
    let f = single(&report, "health.replica_not_healthy");
    assert_severity(f, Severity::Error);
    assert_eq!((f.instance.as_deref(), f.replica.as_deref()), (Some("SQL2"), Some("SQL2")));
    assert!(f.message.contains("FAILED_NO_QUORUM"), "{}", f.message);
}

#[test]
fn group_health_without_a_replica_to_blame_is_reported_at_group_level() {
    let mut snap = healthy();
    disconnect(&mut snap, "SQL1");
    disconnect(&mut snap, "SQL2");
    set_where(&mut snap, "SQL3", "dm_hadr_availability_group_states", |_| true, "synchronization_health_desc", json!("PARTIALLY_HEALTHY"));
    let report = run(snap);
    let f = single(&report, "health.replica_not_healthy");
    assert_severity(f, Severity::Warning);
    assert_eq!((f.instance.as_deref(), f.availability_group.as_deref(), f.replica.as_deref()), (Some("SQL3"), Some("AG1"), None));
}

#[test]
fn forced_quorum_is_one_error_for_the_cluster() {
    let mut snap = healthy();
    set_everywhere(&mut snap, "dm_hadr_cluster", |_| true, "quorum_state", json!(2));
    set_everywhere(&mut snap, "dm_hadr_cluster", |_| true, "quorum_state_desc", json!("FORCED_QUORUM"));
    let report = run(snap);
    let f = single(&report, "health.quorum");
    assert_severity(f, Severity::Error);
    assert_eq!(f.object.as_deref(), Some("CLU-SQLAG"));
    assert!(f.message.contains("FORCED_QUORUM") && f.message.contains("forced quorum"), "{}", f.message);
    assert_eq!(f.evidence["reported_by"], json!(["SQL1", "SQL2", "SQL3"]));
}

#[test]
fn no_cluster_row_is_not_a_quorum_finding() {
    let mut snap = healthy();
    rows_mut(&mut snap, "SQL3", "dm_hadr_cluster").clear();
    let report = run(snap);
    assert_none(&report, "health.quorum");
}

#[test]
fn node_down_in_a_four_vote_cluster_is_an_error_and_a_zero_vote_node_a_warning() {
    let mut snap = healthy();
    set_everywhere(&mut snap, "dm_hadr_cluster_members", is_name("member_name", "SQL3"), "member_state", json!(0));
    set_everywhere(&mut snap, "dm_hadr_cluster_members", is_name("member_name", "SQL3"), "member_state_desc", json!("DOWN"));
    let report = run(snap);
    let f = single(&report, "health.cluster_member_down");
    assert_severity(f, Severity::Error);
    assert_eq!(f.instance.as_deref(), Some("SQL1"));
    assert!(f.message.contains("3 of 4 quorum votes") && f.message.contains("SQL3 (AG1)"), "{}", f.message);
    assert_eq!((f.evidence["votes_up"].clone(), f.evidence["votes_total"].clone()), (json!(3), json!(4)));

    let mut snap = healthy();
    set_everywhere(&mut snap, "dm_hadr_cluster_members", is_name("member_name", "SQL3"), "number_of_quorum_votes", json!(0));
    set_everywhere(&mut snap, "dm_hadr_cluster_members", is_name("member_name", "SQL3"), "member_state_desc", json!("DOWN"));
    assert_severity(single(&run(snap), "health.cluster_member_down"), Severity::Warning);
}

#[test]
fn denied_cluster_members_are_not_evaluated() {
    let mut snap = healthy();
    for s in ["SQL1", "SQL2", "SQL3"] {
        deny_key(&mut snap, s, "dm_hadr_cluster_members", 300, "VIEW SERVER STATE permission was denied on object 'server', database 'master'.");
    }
    let report = run(snap);
    assert_eq!(status_of(&report, "health.cluster_member_down"), CheckStatus::NotEvaluated);
}

#[test]
fn corrupt_vote_counts_do_not_overflow_the_quorum_arithmetic() {
    // i64::MAX votes on two members used to overflow the vote sums (a panic in debug builds).
    let mut snap = healthy();
    set_everywhere(&mut snap, "dm_hadr_cluster_members", |_| true, "number_of_quorum_votes", json!(i64::MAX));
    set_everywhere(&mut snap, "dm_hadr_cluster_members", is_name("member_name", "SQL3"), "member_state_desc", json!("DOWN"));
    let report = run(snap);
    let f = single(&report, "health.cluster_member_down");
    assert_eq!(f.instance.as_deref(), Some("SQL1"));
    assert!(f.message.contains("SQL3"), "{}", f.message);
}
