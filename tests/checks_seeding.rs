//! seeding.*: failed automatic seeding attempts (sys.dm_hadr_automatic_seeding), secondaries whose
//! folders cannot receive the primary's files (sys.master_files, default paths, seeding_mode), and
//! seeding that stopped moving (sys.dm_hadr_physical_seeding_stats). The healthy example seeded
//! SalesDB from SQL1 to SQL2 and SQL3 on 2026-06-12; it was collected at 2026-11-22T10:15:00Z.

mod common;

use agdiag::checks::CheckStatus;
use agdiag::findings::{Phase, Severity};
use agdiag::fix::ScriptOptions;
use agdiag::snapshot::Row;
use agdiag::Snapshot;
use common::*;
use serde_json::json;

const CHECKS: [&str; 3] = ["seeding.failed", "seeding.path_mismatch", "seeding.stalled"];
const SQL1_ID: &str = "1B0D5B9E-3C2A-4F7E-9D61-0A8E2C4B7F01";
const SQL3_ID: &str = "3D2F7DB0-5E4C-4192-9F83-2CA04E6D9B03";
const AG_ID: &str = "6C1E3B7A-9F2D-4E61-8A55-2D0B7C9E4F10";
const SALESDB_ID: &str = "A7E3C1D9-2B4F-4E8A-9C6D-5F1A3B7E9D21";

fn fixture(name: &str) -> Snapshot {
    let path = format!("{}/tests/fixtures/topologies/{name}", env!("CARGO_MANIFEST_DIR"));
    Snapshot::from_json(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// The seeding of SalesDB to SQL3, as SQL1 (source) and SQL3 (target) recorded it.
fn to_sql3(r: &Row) -> bool {
    r.str("ag_remote_replica_id") == Some(SQL3_ID) || r.str("ag_remote_replica_id") == Some(SQL1_ID)
}

/// The seeding of SalesDB to SQL3 failed the way `state`/`desc`/`code` say, on both sides: SQL3
/// has no SalesDB, the primary sees its replica NOT_SYNCHRONIZING.
fn sql3_seeding_failed(snap: &mut Snapshot, state: i64, desc: &str, code: Option<i64>) {
    remove_where(snap, "SQL3", "dm_hadr_database_replica_states", |_| true);
    remove_where(snap, "SQL3", "master_files", |_| true);
    let sql3 = || is_name("replica_id", SQL3_ID);
    set_where(snap, "SQL1", "dm_hadr_database_replica_states", sql3(), "synchronization_state", json!(0));
    set_where(snap, "SQL1", "dm_hadr_database_replica_states", sql3(), "synchronization_state_desc", json!("NOT_SYNCHRONIZING"));
    for server in ["SQL1", "SQL3"] {
        let filter = |r: &Row| to_sql3(r) && (server == "SQL3" || r.str("ag_remote_replica_id") == Some(SQL3_ID));
        set_where(snap, server, "dm_hadr_automatic_seeding", filter, "current_state", json!("FAILED"));
        set_where(snap, server, "dm_hadr_automatic_seeding", filter, "performed_seeding", json!(false));
        set_where(snap, server, "dm_hadr_automatic_seeding", filter, "failure_state", json!(state));
        set_where(snap, server, "dm_hadr_automatic_seeding", filter, "failure_state_desc", json!(desc));
        set_where(snap, server, "dm_hadr_automatic_seeding", filter, "error_code", json!(code));
    }
}

#[test]
fn healthy_example_seeded_every_database_and_passes() {
    let report = run(healthy());
    assert_all_pass(&report, &CHECKS);
}

#[test]
fn before_2016_no_replica_can_seed_automatically_and_every_check_passes() {
    // The views do not exist (error 208) and availability_replicas has no seeding_mode.
    for name in ["version-2012.json", "version-2014.json"] {
        let snap = fixture(name);
        assert_eq!(snap.instances[0].query_errors["dm_hadr_automatic_seeding"].number, Some(208));
        assert_all_pass(&run(snap), &CHECKS);
    }
    // On SQL Server 2016 the same error is a collection gap, not "not applicable".
    let mut snap = fixture("version-2016.json");
    deny_key(&mut snap, "SQL2", "dm_hadr_automatic_seeding", 208, "Invalid object name 'sys.dm_hadr_automatic_seeding'.");
    let report = run(snap);
    assert!(not_evaluated_on(&report, "seeding.failed").iter().any(|(s, r)| s == "SQL2" && r.contains("error 208")));
}

#[test]
fn request_denied_is_an_error_with_the_grant_on_the_secondary_and_a_restart_on_the_primary() {
    let mut snap = healthy();
    sql3_seeding_failed(&mut snap, 3, "Request Denied", None);
    let report = run(snap);
    let f = single(&report, "seeding.failed");
    assert_severity(f, Severity::Error);
    assert_eq!(f.id, "seeding.failed@SQL1/AG1/SalesDB/SQL3");
    assert_eq!(f.replica.as_deref(), Some("SQL3"));
    assert!(f.message.contains("Automatic seeding of SalesDB to SQL3 in AG1 failed"), "{}", f.message);
    assert!(f.message.contains("\"Request Denied\"") && f.message.contains("CREATE ANY DATABASE"), "{}", f.message);
    assert_eq!(f.fix_steps.len(), 2, "{:?}", f.fix_steps);
    assert_eq!((f.fix_steps[0].target.as_str(), f.fix_steps[0].phase), ("SQL3", Phase::ServerPermissions));
    assert_eq!(f.fix_steps[0].text, "ALTER AVAILABILITY GROUP [AG1] GRANT CREATE ANY DATABASE;");
    assert_eq!(f.fix_steps[1].target, "SQL1");
    assert_eq!(f.fix_steps[1].text, "ALTER AVAILABILITY GROUP [AG1] MODIFY REPLICA ON N'SQL3' WITH (SEEDING_MODE = AUTOMATIC);");
    // Both replicas' rows are the evidence.
    assert_eq!(f.evidence["dm_hadr_automatic_seeding"].as_array().unwrap().len(), 2);
    let script = report.fix_script(&ScriptOptions::default());
    assert!(script.contains(":Connect SQL3") && script.contains("GRANT CREATE ANY DATABASE"), "{script}");
    // The other checks are not disturbed.
    assert_none(&report, "seeding.stalled");
}

#[test]
fn sql_errors_are_explained_by_their_code_and_side() {
    let mut snap = healthy();
    // 2xx: on the seeding target; 2 = SQL Error; 5133 = the folder does not exist there.
    sql3_seeding_failed(&mut snap, 202, "SQL Error", Some(5133));
    let f = single(&run(snap), "seeding.failed").clone();
    assert!(f.message.contains("on the seeding target, the secondary"), "{}", f.message);
    assert!(f.message.contains("error 5133") && f.message.contains("seeding.path_mismatch"), "{}", f.message);
    assert!(!f.fix_steps.iter().any(|s| s.text.contains("GRANT")), "no grant for a path problem: {:?}", f.fix_steps);

    let mut snap = healthy();
    sql3_seeding_failed(&mut snap, 23, "Database With Name Already Exists", Some(1801));
    let f = single(&run(snap), "seeding.failed").clone();
    assert!(f.message.contains("already exists on the secondary"), "{}", f.message);
    assert!(f.fix_steps.iter().any(|s| s.manual && s.target == "SQL3" && s.text.contains("drop it if it is a leftover")), "{:?}", f.fix_steps);

    let mut snap = healthy();
    sql3_seeding_failed(&mut snap, 21, "Seeding Check Message Timeout", None);
    set_where(&mut snap, "SQL1", "dm_hadr_automatic_seeding", is_name("ag_remote_replica_id", SQL3_ID), "number_of_attempts", json!(5));
    let f = single(&run(snap), "seeding.failed").clone();
    assert!(f.message.contains("after 5 attempts") && f.message.contains("timed out"), "{}", f.message);
}

#[test]
fn a_failure_whose_database_was_joined_since_is_not_reported() {
    // Seeded manually after the failure: SQL3's SalesDB is SYNCHRONIZING, no new seeding row.
    let mut snap = healthy();
    set_everywhere(&mut snap, "dm_hadr_automatic_seeding", to_sql3, "current_state", json!("FAILED"));
    set_everywhere(&mut snap, "dm_hadr_automatic_seeding", to_sql3, "failure_state_desc", json!("Request Denied"));
    assert_all_pass(&run(snap), &["seeding.failed"]);
}

#[test]
fn a_failure_followed_by_a_completed_attempt_is_history_not_a_finding() {
    let mut snap = healthy();
    push_row(&mut snap, "SQL1", "dm_hadr_automatic_seeding", json!({
        "start_time": "2026-06-12T09:20:41.330", "completion_time": "2026-06-12T09:20:43.010", "ag_id": AG_ID,
        "ag_db_id": SALESDB_ID, "ag_remote_replica_id": SQL3_ID, "operation_id": "0F5C2E8B-7A41-4D39-9B6E-31C8A2D4F756",
        "is_source": true, "current_state": "FAILED", "performed_seeding": false, "failure_state": 3,
        "failure_state_desc": "Request Denied", "error_code": null, "number_of_attempts": 1,
    }));
    assert_all_pass(&run(snap), &["seeding.failed"]);
}

/// SQL3 has other default paths and does not hold SalesDB yet (its seeding is still to come).
fn sql3_elsewhere(snap: &mut Snapshot, data: &str, log: &str) {
    set_where(snap, "SQL3", "server_properties", |_| true, "InstanceDefaultDataPath", json!(data));
    set_where(snap, "SQL3", "server_properties", |_| true, "InstanceDefaultLogPath", json!(log));
    remove_where(snap, "SQL3", "master_files", |_| true);
}

/// The primary keeps SalesDB outside its default paths, in E:\SQLData\ and F:\SQLLogs\.
fn primary_files_on_own_volumes(snap: &mut Snapshot) {
    set_where(snap, "SQL1", "master_files", is_name("type_desc", "ROWS"), "physical_name", json!("E:\\SQLData\\SalesDB.mdf"));
    set_where(snap, "SQL1", "master_files", is_name("type_desc", "LOG"), "physical_name", json!("F:\\SQLLogs\\SalesDB_log.ldf"));
}

#[test]
fn primary_folders_unknown_on_a_secondary_with_another_layout_are_a_warning() {
    let mut snap = healthy();
    primary_files_on_own_volumes(&mut snap);
    sql3_elsewhere(&mut snap, "D:\\MSSQL\\Data\\", "L:\\MSSQL\\Log\\");
    let report = run(snap);
    let f = single(&report, "seeding.path_mismatch");
    assert_severity(f, Severity::Warning);
    assert_eq!(f.id, "seeding.path_mismatch@SQL3/AG1/SQL3");
    assert!(f.message.contains("E:\\SQLData\\, F:\\SQLLogs\\"), "{}", f.message);
    assert!(f.message.contains("error 5133"), "{}", f.message);
    assert!(f.message.contains("SQL Server 2017 and later"), "{}", f.message);
    let files = f.evidence["files"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    assert_eq!(files[0]["physical_name"], "E:\\SQLData\\SalesDB.mdf");
    // Create each folder on SQL3, then restart seeding from the primary.
    let manual: Vec<_> = f.fix_steps.iter().filter(|s| s.manual).collect();
    assert_eq!(manual.len(), 2);
    assert!(manual.iter().all(|s| s.target == "SQL3" && s.phase == Phase::Prerequisite));
    let restart = f.fix_steps.iter().find(|s| !s.manual).unwrap();
    assert_eq!((restart.target.as_str(), restart.text.as_str()), ("SQL1", "ALTER AVAILABILITY GROUP [AG1] MODIFY REPLICA ON N'SQL3' WITH (SEEDING_MODE = AUTOMATIC);"));
}

#[test]
fn a_recorded_failure_makes_the_path_problem_an_error() {
    let mut snap = healthy();
    primary_files_on_own_volumes(&mut snap);
    sql3_elsewhere(&mut snap, "D:\\MSSQL\\Data\\", "L:\\MSSQL\\Log\\");
    sql3_seeding_failed(&mut snap, 202, "SQL Error", Some(5133));
    let report = run(snap);
    let f = single(&report, "seeding.path_mismatch");
    assert_severity(f, Severity::Error);
    assert!(f.message.contains("Seeding to it has already failed"), "{}", f.message);
    assert_eq!(findings_of(&report, "seeding.failed").len(), 1);
}

#[test]
fn files_in_the_primarys_default_path_follow_the_secondarys_default_from_2017_only() {
    // 2017+: the default path maps to the secondary's default path.
    let mut snap = fixture("version-2017.json");
    sql3_elsewhere(&mut snap, "D:\\MSSQL\\Data\\", "D:\\MSSQL\\Data\\");
    assert_all_pass(&run(snap), &["seeding.path_mismatch"]);
    // 2016: the same folder as on the primary, which SQL3 does not use.
    let mut snap = fixture("version-2016.json");
    sql3_elsewhere(&mut snap, "D:\\MSSQL\\Data\\", "D:\\MSSQL\\Data\\");
    let f = single(&run(snap), "seeding.path_mismatch").clone();
    assert_severity(&f, Severity::Warning);
    assert!(f.message.contains("SQL Server 2016 creates every file in the same folder"), "{}", f.message);
    assert!(f.message.contains("C:\\Program Files\\Microsoft SQL Server\\MSSQL13.MSSQLSERVER\\MSSQL\\DATA\\"), "{}", f.message);
}

#[test]
fn a_windows_folder_on_a_linux_secondary_cannot_exist() {
    let mut snap = healthy();
    primary_files_on_own_volumes(&mut snap);
    sql3_elsewhere(&mut snap, "/var/opt/mssql/data/", "/var/opt/mssql/data/");
    let f = single(&run(snap), "seeding.path_mismatch").clone();
    assert_severity(&f, Severity::Error);
    assert!(f.message.contains("a Windows path on Linux"), "{}", f.message);
}

#[test]
fn manual_seeding_already_seeded_databases_and_known_folders_are_not_judged() {
    // Manual seeding restores WITH MOVE: paths need not match.
    let mut snap = healthy();
    primary_files_on_own_volumes(&mut snap);
    sql3_elsewhere(&mut snap, "D:\\MSSQL\\Data\\", "L:\\MSSQL\\Log\\");
    set_everywhere(&mut snap, "availability_replicas", is_name("replica_server_name", "SQL3"), "seeding_mode", json!(1));
    set_everywhere(&mut snap, "availability_replicas", is_name("replica_server_name", "SQL3"), "seeding_mode_desc", json!("MANUAL"));
    assert_all_pass(&run(snap), &["seeding.path_mismatch"]);

    // SalesDB is already on SQL3 (its own files, its own paths).
    let mut snap = healthy();
    primary_files_on_own_volumes(&mut snap);
    set_where(&mut snap, "SQL3", "server_properties", |_| true, "InstanceDefaultDataPath", json!("D:\\MSSQL\\Data\\"));
    set_where(&mut snap, "SQL3", "master_files", is_name("type_desc", "ROWS"), "physical_name", json!("D:\\MSSQL\\Data\\SalesDB.mdf"));
    assert_all_pass(&run(snap), &["seeding.path_mismatch"]);

    // Another AG database on SQL3 already lives in E:\SQLData\ and F:\SQLLogs\.
    let mut snap = healthy();
    primary_files_on_own_volumes(&mut snap);
    sql3_elsewhere(&mut snap, "D:\\MSSQL\\Data\\", "L:\\MSSQL\\Log\\");
    for (name, path, kind) in [("HRDB", "E:\\SQLData\\HRDB.mdf", "ROWS"), ("HRDB_log", "f:\\sqllogs\\HRDB_log.ldf", "LOG")] {
        push_row(&mut snap, "SQL3", "master_files", json!({
            "database_name": "HRDB", "database_id": 7, "file_id": if kind == "ROWS" { 1 } else { 2 }, "type": if kind == "ROWS" { 0 } else { 1 },
            "type_desc": kind, "name": name, "physical_name": path, "state": 0, "state_desc": "ONLINE",
        }));
    }
    assert_all_pass(&run(snap), &["seeding.path_mismatch"]);
}

#[test]
fn missing_default_paths_or_files_are_not_evaluated_not_passed() {
    let mut snap = healthy();
    drop_key(&mut snap, "SQL1", "master_files");
    let report = run(snap);
    assert_eq!(status_of(&report, "seeding.path_mismatch"), CheckStatus::NotEvaluated);
    assert!(not_evaluated_on(&report, "seeding.path_mismatch").iter().any(|(s, r)| s == "SQL1" && r.contains("master_files")));

    let mut snap = healthy();
    rows_mut(&mut snap, "SQL2", "server_properties")[0].remove("InstanceDefaultDataPath");
    let report = run(snap);
    assert!(not_evaluated_on(&report, "seeding.path_mismatch").iter().any(|(s, r)| s == "SQL2" && r.contains("InstanceDefaultDataPath")));
}

fn running_seeding(start: &str, transferred: i64, rate: i64, estimate: &str) -> serde_json::Value {
    json!({
        "local_physical_seeding_id": "5E8A1C3F-2B7D-4E90-A6C1-8F3D2B5E7A14", "remote_physical_seeding_id": "9B2D4F6A-1C3E-4A58-B7D9-2E4F6A8C0B13",
        "local_database_id": 6, "local_database_name": "OrdersDB", "remote_machine_name": "TCP://sql3.contoso.com:5022",
        "role_desc": "Source", "internal_state_desc": "ReadingAndSendingData", "transfer_rate_bytes_per_second": rate,
        "transferred_size_bytes": transferred, "database_size_bytes": 53687091200i64, "start_time_utc": start, "end_time_utc": null,
        "estimate_time_complete_utc": estimate, "total_disk_io_wait_time_ms": 1840, "total_network_wait_time_ms": 7391022,
        "failure_code": null, "failure_message": null, "failure_time_utc": null, "is_compression_enabled": false,
    })
}

#[test]
fn a_transfer_that_does_not_move_is_stalled() {
    // Started two hours before the snapshot, nothing sent.
    let mut snap = healthy();
    push_row(&mut snap, "SQL1", "dm_hadr_physical_seeding_stats", running_seeding("2026-11-22T08:14:03.000", 0, 0, "2026-11-22T08:14:03.000"));
    let report = run(snap);
    let f = single(&report, "seeding.stalled");
    assert_severity(f, Severity::Warning);
    assert_eq!(f.id, "seeding.stalled@SQL1/OrdersDB/TCP://sql3.contoso.com:5022");
    assert!(f.message.contains("started 120 minutes before the snapshot and has transferred nothing"), "{}", f.message);

    // Half sent, rate now 0.
    let mut snap = healthy();
    push_row(&mut snap, "SQL1", "dm_hadr_physical_seeding_stats", running_seeding("2026-11-22T08:14:03.000", 26843545600, 0, "2026-11-22T10:40:00.000"));
    let f = single(&run(snap), "seeding.stalled").clone();
    assert!(f.message.contains("transfer rate is 0 bytes/s with 26843545600 of 53687091200 bytes"), "{}", f.message);

    // Still moving, but its own estimate passed an hour ago.
    let mut snap = healthy();
    push_row(&mut snap, "SQL1", "dm_hadr_physical_seeding_stats", running_seeding("2026-11-22T06:00:00.000", 40000000000, 1048576, "2026-11-22T09:15:00.000"));
    let f = single(&run(snap), "seeding.stalled").clone();
    assert!(f.message.contains("estimated completion time passed 60 minutes before the snapshot"), "{}", f.message);
}

#[test]
fn a_young_or_moving_or_finished_transfer_is_not_stalled() {
    let mut snap = healthy();
    // Ten minutes old, nothing sent yet: too early to tell.
    push_row(&mut snap, "SQL1", "dm_hadr_physical_seeding_stats", running_seeding("2026-11-22T10:05:00.000", 0, 0, "2026-11-22T10:05:00.000"));
    // Moving, on time.
    push_row(&mut snap, "SQL3", "dm_hadr_physical_seeding_stats", running_seeding("2026-11-22T08:00:00.000", 30000000000, 8388608, "2026-11-22T10:56:00.000"));
    // Finished long ago (end_time_utc set).
    let mut done = running_seeding("2026-11-20T08:00:00.000", 53687091200, 0, "2026-11-20T09:00:00.000");
    done["end_time_utc"] = json!("2026-11-20T09:02:11.000");
    done["internal_state_desc"] = json!("Success");
    push_row(&mut snap, "SQL2", "dm_hadr_physical_seeding_stats", done);
    assert_all_pass(&run(snap), &["seeding.stalled"]);
}

#[test]
fn an_attempt_left_unfinished_without_a_transfer_is_stalled() {
    let mut snap = healthy();
    push_row(&mut snap, "SQL1", "dm_hadr_automatic_seeding", json!({
        "start_time": "2026-11-19T23:02:15.117", "completion_time": null, "ag_id": AG_ID, "ag_db_id": SALESDB_ID,
        "ag_remote_replica_id": SQL3_ID, "operation_id": "C4A9E2F1-6B3D-4E87-9A15-7D2C8E4B1F60", "is_source": true,
        "current_state": "SEEDING", "performed_seeding": true, "failure_state": null, "failure_state_desc": null,
        "error_code": null, "number_of_attempts": 1,
    }));
    let report = run(snap);
    let f = single(&report, "seeding.stalled");
    assert_eq!(f.availability_group.as_deref(), Some("AG1"));
    assert!(f.message.contains("left in the seeding state") && f.message.contains("\"SEEDING\""), "{}", f.message);
    // A newer unfinished attempt (server local time, within a day) is not judged yet.
    let mut snap = healthy();
    push_row(&mut snap, "SQL1", "dm_hadr_automatic_seeding", json!({
        "start_time": "2026-11-22T09:40:00.000", "completion_time": null, "ag_id": AG_ID, "ag_db_id": SALESDB_ID,
        "ag_remote_replica_id": SQL3_ID, "operation_id": "C4A9E2F1-6B3D-4E87-9A15-7D2C8E4B1F61", "is_source": true,
        "current_state": "LIMIT_CONCURRENT_BACKUPS", "performed_seeding": false, "failure_state": null, "failure_state_desc": null,
        "error_code": null, "number_of_attempts": 1,
    }));
    assert_all_pass(&run(snap), &["seeding.stalled"]);
}

#[test]
fn every_topology_fixture_is_judged_everywhere_and_passes() {
    for name in [
        "linux-pacemaker-3-replica.json", "read-scale-none-3-replica.json", "named-instances-static-port.json",
        "distributed-healthy.json", "config-only-healthy.json", "contained-2022.json", "basic-2-replica.json", "fci-replicas.json",
    ] {
        let report = run(fixture(name));
        for check in CHECKS {
            assert_none(&report, check);
            assert_eq!(status_of(&report, check), CheckStatus::Pass, "{name}: {check}");
        }
    }
}
