//! failover.*: the cluster's login (NT AUTHORITY\SYSTEM, by SID on localized Windows), whether
//! the primary's automatic-failover partner would take over now, and the failover policy.

mod common;

use agdiag::checks::CheckStatus;
use agdiag::findings::{Finding, Phase, Severity};
use agdiag::fix::ScriptOptions;
use agdiag::Snapshot;
use common::*;
use serde_json::json;

fn one(snap: Snapshot, check: &str) -> Finding {
    single(&run(snap), check).clone()
}

fn is_system(r: &agdiag::snapshot::Row) -> bool {
    r.int("grantee_principal_id") == Some(259) && r.int("class") == Some(100)
}

#[test]
fn healthy_example_is_ready_to_fail_over() {
    let report = run(healthy());
    assert_all_pass(&report, &["failover.system_account", "failover.not_ready", "failover.policy"]);
}

#[test]
fn system_lacking_a_permission_is_an_error_with_the_grant() {
    let mut snap = healthy();
    remove_where(&mut snap, "SQL2", "server_permissions", |r| is_system(r) && r.is("type", "VSST"));
    let report = run(snap);
    let f = single(&report, "failover.system_account");
    assert_severity(f, Severity::Error);
    assert_eq!(f.id, "failover.system_account@SQL2/NT AUTHORITY\\SYSTEM");
    assert!(f.message.contains("does not grant VIEW SERVER STATE to NT AUTHORITY\\SYSTEM"), "{}", f.message);
    assert_eq!(f.fix_steps.len(), 1);
    assert_eq!(f.fix_steps[0].phase, Phase::ServerPermissions);
    assert_eq!(f.fix_steps[0].text, "GRANT VIEW SERVER STATE TO [NT AUTHORITY\\SYSTEM];");
    let script = report.fix_script(&ScriptOptions::default());
    assert!(script.contains(":Connect SQL2") && script.contains("GRANT VIEW SERVER STATE TO [NT AUTHORITY\\SYSTEM];"), "{script}");
}

#[test]
fn a_missing_or_disabled_login_and_a_deny_are_errors() {
    let mut missing = healthy();
    remove_where(&mut missing, "SQL1", "server_principals", is_name("name", "NT AUTHORITY\\SYSTEM"));
    let f = one(missing, "failover.system_account");
    assert!(f.message.contains("has no login for NT AUTHORITY\\SYSTEM"), "{}", f.message);
    assert_eq!(f.fix_steps[0].phase, Phase::CreateLogin);
    assert!(f.fix_steps[0].text.contains("CREATE LOGIN [NT AUTHORITY\\SYSTEM] FROM WINDOWS;"));
    assert_eq!(f.fix_steps.len(), 4, "the login and its three grants");

    let mut disabled = healthy();
    set_where(&mut disabled, "SQL3", "server_principals", is_name("name", "NT AUTHORITY\\SYSTEM"), "is_disabled", json!(1));
    let f = one(disabled, "failover.system_account");
    assert!(f.message.contains("disabled"), "{}", f.message);
    assert_eq!(f.fix_steps[0].text, "ALTER LOGIN [NT AUTHORITY\\SYSTEM] ENABLE;");

    let mut denied = healthy();
    set_where(&mut denied, "SQL1", "server_permissions", |r| is_system(r) && r.is("type", "ALAG"), "state", json!("D"));
    set_where(&mut denied, "SQL1", "server_permissions", |r| is_system(r) && r.is("type", "ALAG"), "state_desc", json!("DENY"));
    let f = one(denied, "failover.system_account");
    assert!(f.message.contains("denies ALTER ANY AVAILABILITY GROUP"), "{}", f.message);
    let texts: Vec<&str> = f.fix_steps.iter().map(|s| s.text.as_str()).collect();
    assert_eq!(texts, ["REVOKE ALTER ANY AVAILABILITY GROUP FROM [NT AUTHORITY\\SYSTEM];", "GRANT ALTER ANY AVAILABILITY GROUP TO [NT AUTHORITY\\SYSTEM];"]);
}

#[test]
fn a_localized_system_login_is_found_by_its_sid() {
    let mut german = healthy();
    set_everywhere(&mut german, "server_principals", is_name("name", "NT AUTHORITY\\SYSTEM"), "name", json!("NT-AUTORITÄT\\SYSTEM"));
    assert_none(&run(german.clone()), "failover.system_account");
    remove_where(&mut german, "SQL2", "server_permissions", |r| is_system(r) && r.is("type", "ALAG"));
    let f = one(german, "failover.system_account");
    assert_eq!(f.fix_steps[0].text, "GRANT ALTER ANY AVAILABILITY GROUP TO [NT-AUTORITÄT\\SYSTEM];");
}

#[test]
fn only_wsfc_groups_and_snapshots_with_server_level_rows_are_judged() {
    let mut none = healthy();
    remove_where(&mut none, "SQL2", "server_permissions", is_system);
    set_everywhere(&mut none, "availability_groups", |_| true, "cluster_type_desc", json!("none"));
    assert_none(&run(none), "failover.system_account");

    // A v1 snapshot kept only endpoint rows: nothing can be said about server-level grants.
    let mut v1 = healthy();
    for server in ["SQL1", "SQL2", "SQL3"] {
        remove_where(&mut v1, server, "server_permissions", |r| r.int("class") == Some(100));
    }
    let report = run(v1);
    assert_eq!(status_of(&report, "failover.system_account"), CheckStatus::NotEvaluated);
    // The endpoint checks still read their class-105 rows.
    assert_none(&report, "accounts.connect_missing");
}

#[test]
fn class_100_rows_never_count_as_endpoint_permissions() {
    // A server-level CONNECT SQL row whose major_id happened to equal the endpoint id must not
    // stand in for CONNECT on the endpoint.
    let mut snap = healthy();
    remove_where(&mut snap, "SQL1", "server_permissions", |r| r.int("class") == Some(105) && r.int("grantee_principal_id") == Some(261));
    let endpoint_id = rows_mut(&mut snap, "SQL1", "database_mirroring_endpoints")[0].int("endpoint_id").unwrap();
    set_where(&mut snap, "SQL1", "server_permissions", |r| r.int("class") == Some(100) && r.int("grantee_principal_id") == Some(261), "major_id", json!(endpoint_id));
    set_where(&mut snap, "SQL1", "server_permissions", |r| r.int("class") == Some(100) && r.int("grantee_principal_id") == Some(261), "type", json!("CO  "));
    let report = run(snap);
    assert!(!findings_of(&report, "accounts.connect_missing").is_empty(), "{:#?}", report.findings);
}

#[test]
fn a_partner_not_synchronized_or_not_failover_ready_stops_automatic_failover() {
    let mut sync = healthy();
    let sql2 = "2C1E6CAF-4D3B-4081-8E72-1B9F3D5C8A02";
    set_where(&mut sync, "SQL1", "dm_hadr_database_replica_states", is_name("replica_id", sql2), "synchronization_state_desc", json!("SYNCHRONIZING"));
    let f = one(sync, "failover.not_ready");
    assert_severity(&f, Severity::Error);
    assert!(
        f.message.starts_with("If the primary SQL1 failed now, automatic failover of availability group AG1 would not happen, because database SalesDB on SQL2 is SYNCHRONIZING, not SYNCHRONIZED"),
        "{}",
        f.message
    );

    let mut cluster = healthy();
    set_everywhere(&mut cluster, "dm_hadr_database_replica_cluster_states", is_name("replica_id", sql2), "is_failover_ready", json!(false));
    let f = one(cluster, "failover.not_ready");
    assert!(f.message.contains("database SalesDB on SQL2 is not failover ready (is_failover_ready = 0)"), "{}", f.message);
}

#[test]
fn modes_that_do_not_pair_are_named() {
    let mut snap = healthy();
    set_everywhere(&mut snap, "availability_replicas", is_name("replica_server_name", "SQL1"), "failover_mode_desc", json!("MANUAL"));
    set_everywhere(&mut snap, "availability_replicas", is_name("replica_server_name", "SQL1"), "failover_mode", json!(1));
    let f = one(snap, "failover.not_ready");
    assert!(f.message.contains("the modes do not pair"), "{}", f.message);
    assert_eq!(f.fix_steps.len(), 1);
    assert_eq!(f.fix_steps[0].text, "ALTER AVAILABILITY GROUP [AG1] MODIFY REPLICA ON N'SQL1' WITH (FAILOVER_MODE = AUTOMATIC);");

    let mut async_partner = healthy();
    set_everywhere(&mut async_partner, "availability_replicas", is_name("replica_server_name", "SQL2"), "availability_mode_desc", json!("ASYNCHRONOUS_COMMIT"));
    let f = one(async_partner, "failover.not_ready");
    assert!(f.message.contains("SQL2 is in asynchronous commit"), "{}", f.message);

    // Nothing automatic at all is a manual-failover group by design.
    let mut manual = healthy();
    set_everywhere(&mut manual, "availability_replicas", |_| true, "failover_mode_desc", json!("MANUAL"));
    assert_none(&run(manual), "failover.not_ready");
}

#[test]
fn a_non_default_policy_is_explained() {
    let mut snap = healthy();
    set_everywhere(&mut snap, "availability_groups", |_| true, "failure_condition_level", json!(5));
    set_everywhere(&mut snap, "availability_groups", |_| true, "health_check_timeout", json!(15000));
    let f = one(snap, "failover.policy");
    assert_severity(&f, Severity::Info);
    assert!(f.message.contains("failure_condition_level is 5 (default 3)") && f.message.contains("QUERY_PROCESSING"), "{}", f.message);
    assert!(f.message.contains("health_check_timeout is 15000 ms (default 30000)"), "{}", f.message);
}
