mod common;

use agdiag::checks::CheckStatus;
use agdiag::findings::{Phase, Severity};
use common::*;
use serde_json::json;

const SQL2_REPLICA: &str = "2C1E6CAF-4D3B-4081-8E72-1B9F3D5C8A02";
const SQL3_REPLICA: &str = "3D2F7DB0-5E4C-4192-9F83-2CA04E6D9B03";

fn replica_id(id: &'static str) -> impl Fn(&agdiag::snapshot::Row) -> bool {
    move |r| r.str("replica_id").is_some_and(|v| v.eq_ignore_ascii_case(id))
}

/// SQL1 (the primary) sees `replica` as DISCONNECTED with the given last connect error.
fn disconnect_on_primary(snap: &mut agdiag::Snapshot, replica: &'static str, number: Option<i64>, description: Option<&str>) {
    let key = "dm_hadr_availability_replica_states";
    set_where(snap, "SQL1", key, replica_id(replica), "connected_state", json!(0));
    set_where(snap, "SQL1", key, replica_id(replica), "connected_state_desc", json!("DISCONNECTED"));
    set_where(snap, "SQL1", key, replica_id(replica), "synchronization_health", json!(0));
    set_where(snap, "SQL1", key, replica_id(replica), "synchronization_health_desc", json!("NOT_HEALTHY"));
    set_where(snap, "SQL1", key, replica_id(replica), "last_connect_error_number", json!(number));
    set_where(snap, "SQL1", key, replica_id(replica), "last_connect_error_description", json!(description));
    set_where(snap, "SQL1", key, replica_id(replica), "last_connect_error_timestamp", json!("2026-11-22T09:58:41.337"));
}

#[test]
fn healthy_example_passes_every_session_check() {
    let report = run(healthy());
    assert_all_pass(&report, &["session.timeout_too_short", "session.replica_disconnected", "session.server_renamed"]);
}

#[test]
fn session_timeout_of_five_seconds_is_a_warning_fixed_on_the_primary() {
    let mut snap = healthy();
    set_everywhere(&mut snap, "availability_replicas", is_name("replica_server_name", "SQL2"), "session_timeout", json!(5));
    let report = run(snap);
    let f = single(&report, "session.timeout_too_short");
    assert_severity(f, Severity::Warning);
    assert_eq!(f.instance.as_deref(), Some("SQL1"));
    assert_eq!(f.replica.as_deref(), Some("SQL2"));
    assert_eq!(f.evidence["availability_replicas"]["session_timeout"], json!(5));
    assert!(f.message.contains("SESSION_TIMEOUT = 5") && f.message.contains("synchronous-commit"), "{}", f.message);
    assert_eq!(
        f.fix.as_deref(),
        Some("ALTER AVAILABILITY GROUP [AG1] MODIFY REPLICA ON N'SQL2' WITH (SESSION_TIMEOUT = 10);")
    );
    assert_eq!((f.fix_steps[0].target.as_str(), f.fix_steps[0].phase), ("SQL1", Phase::ReplicaOptions));
}

#[test]
fn session_timeout_of_ten_or_more_is_fine() {
    let mut snap = healthy();
    set_everywhere(&mut snap, "availability_replicas", |_| true, "session_timeout", json!(30));
    let report = run(snap);
    assert_none(&report, "session.timeout_too_short");
    assert_eq!(status_of(&report, "session.timeout_too_short"), CheckStatus::Pass);
}

#[test]
fn hostile_ag_name_is_escaped_in_the_timeout_fix() {
    let mut snap = healthy();
    set_everywhere(&mut snap, "availability_groups", |_| true, "name", json!("AG]1'x"));
    set_everywhere(&mut snap, "availability_replicas", is_name("replica_server_name", "SQL3"), "session_timeout", json!(5));
    let report = run(snap);
    let f = single(&report, "session.timeout_too_short");
    assert_eq!(f.fix.as_deref(), Some("ALTER AVAILABILITY GROUP [AG]]1'x] MODIFY REPLICA ON N'SQL3' WITH (SESSION_TIMEOUT = 10);"));

    let mut snap = healthy();
    set_everywhere(&mut snap, "availability_groups", |_| true, "name", json!("AG1\nGO"));
    set_everywhere(&mut snap, "availability_replicas", is_name("replica_server_name", "SQL3"), "session_timeout", json!(5));
    let report = run(snap);
    let f = single(&report, "session.timeout_too_short");
    assert!(f.fix.is_none() && f.fix_steps.iter().all(|s| s.manual), "{:?}", f.fix_steps);
}

#[test]
fn disconnected_sync_replica_with_a_dns_failure_is_an_escalated_hard_error() {
    let mut snap = healthy();
    disconnect_on_primary(&mut snap, SQL2_REPLICA, Some(11001), Some("DNS Lookup failed with error '11001(No such host is known)'"));
    let report = run(snap);
    let f = single(&report, "session.replica_disconnected");
    assert_severity(f, Severity::Error);
    assert_eq!((f.instance.as_deref(), f.replica.as_deref()), (Some("SQL1"), Some("SQL2")));
    assert!(f.message.contains("11001") && f.message.contains("a hard error"), "{}", f.message);
    assert!(f.message.contains("commits on the primary no longer wait for it") && f.message.contains("can lose data"), "{}", f.message);
    assert!(f.message.contains("network.name_resolution"), "{}", f.message);
    assert_eq!(f.evidence["error_class"], json!("hard"));
    assert_eq!(f.evidence["dm_hadr_availability_replica_states"]["last_connect_error_timestamp"], json!("2026-11-22T09:58:41.337"));
}

#[test]
fn disconnected_async_replica_with_a_timeout_is_a_soft_warning() {
    let mut snap = healthy();
    disconnect_on_primary(&mut snap, SQL3_REPLICA, Some(10060), Some("A connection attempt failed because the connected party did not properly respond after a period of time"));
    let report = run(snap);
    let f = single(&report, "session.replica_disconnected");
    assert_severity(f, Severity::Warning);
    assert_eq!(f.evidence["error_class"], json!("soft"));
    assert!(f.message.contains("asynchronous-commit") && f.message.contains("soft error"), "{}", f.message);
    assert!(f.evidence["see_checks"].as_array().unwrap().contains(&json!("network.unreachable")));
    // The seed's last resort when the endpoint is started but the replicas do not talk.
    assert!(f.remediation.contains("STATE = STOPPED, then STATE = STARTED"), "{}", f.remediation);
}

#[test]
fn login_failure_points_to_the_accounts_checks() {
    let mut snap = healthy();
    disconnect_on_primary(&mut snap, SQL3_REPLICA, Some(28034), Some("Connection handshake failed. The login 'CONTOSO\\SQL3$' does not have CONNECT permission on the endpoint. State 84."));
    let report = run(snap);
    let f = single(&report, "session.replica_disconnected");
    assert_eq!(f.evidence["error_class"], json!("hard"));
    assert!(f.message.contains("accounts.connect_missing"), "{}", f.message);
}

#[test]
fn secondary_that_reports_itself_disconnected_is_found_when_the_primary_was_not_collected() {
    let mut snap = healthy();
    disconnect(&mut snap, "SQL1");
    let key = "dm_hadr_availability_replica_states";
    set_where(&mut snap, "SQL2", key, |_| true, "connected_state_desc", json!("DISCONNECTED"));
    set_where(&mut snap, "SQL2", key, |_| true, "connected_state", json!(0));
    let report = run(snap);
    let f = single(&report, "session.replica_disconnected");
    assert_eq!((f.instance.as_deref(), f.replica.as_deref()), (Some("SQL2"), Some("SQL2")));
    assert!(f.message.contains("not connected to the primary") && f.message.contains("No last connect error"), "{}", f.message);
    assert_eq!(f.evidence["error_class"], json!("unclassified"));
}

#[test]
fn a_past_connect_error_on_a_connected_replica_is_not_a_finding() {
    let mut snap = healthy();
    let key = "dm_hadr_availability_replica_states";
    set_where(&mut snap, "SQL1", key, replica_id(SQL3_REPLICA), "last_connect_error_number", json!(10060));
    set_where(&mut snap, "SQL1", key, replica_id(SQL3_REPLICA), "last_connect_error_description", json!("timed out"));
    assert_none(&run(snap), "session.replica_disconnected");
}

#[test]
fn denied_replica_states_are_not_evaluated_with_the_reason() {
    let mut snap = healthy();
    for s in ["SQL1", "SQL2", "SQL3"] {
        deny_key(&mut snap, s, "dm_hadr_availability_replica_states", 300, "VIEW SERVER STATE permission was denied on object 'server', database 'master'.");
    }
    let report = run(snap);
    let result = report.checks.iter().find(|c| c.check == "session.replica_disconnected").unwrap();
    assert_eq!(result.status, CheckStatus::NotEvaluated);
    assert!(result.reason.as_deref().unwrap().contains("error 300"), "{:?}", result.reason);
}

#[test]
fn classification_follows_the_seed() {
    use agdiag::checks::session::{classify, FailureKind};
    assert_eq!(classify(Some(10061), None).kind, FailureKind::Hard);
    assert_eq!(classify(Some(35206), None).kind, FailureKind::Soft);
    assert_eq!(classify(None, Some("The remote host refused the connection")).kind, FailureKind::Hard);
    assert_eq!(classify(None, Some("Session timed out")).kind, FailureKind::Soft);
    assert_eq!(classify(None, None).kind, FailureKind::Unknown);
}

/// SQL3's Windows computer was renamed to SQL3NEW; SQL Server still registers itself as SQL3.
fn rename_sql3_host(snap: &mut agdiag::Snapshot) {
    for column in ["ServerName", "MachineName", "ComputerNamePhysicalNetBIOS"] {
        set_where(snap, "SQL3", "server_properties", |_| true, column, json!("SQL3NEW"));
    }
}

#[test]
fn renamed_host_of_a_replica_is_an_error_with_remove_rename_and_re_add_steps() {
    let mut snap = healthy();
    rename_sql3_host(&mut snap);
    let report = run(snap);
    let f = single(&report, "session.server_renamed");
    assert_severity(f, Severity::Error);
    assert_eq!(f.instance.as_deref(), Some("SQL3NEW"));
    assert_eq!(f.availability_group.as_deref(), Some("AG1"));
    assert_eq!(f.replica.as_deref(), Some("SQL3"));
    assert!(f.message.contains("ServerName') is SQL3NEW") && f.message.contains("@@SERVERNAME is still SQL3"), "{}", f.message);
    assert!(f.message.contains("availability group(s) AG1"), "{}", f.message);
    assert_eq!(f.evidence["server_properties"]["@@SERVERNAME"], json!("SQL3"));
    assert_eq!(f.evidence["availability_replicas"][0]["replica_server_name"], json!("SQL3"));
    assert!(f.fix.is_none(), "removing a replica and renaming are manual");
    let texts: Vec<(&str, &str)> = f.fix_steps.iter().map(|s| (s.target.as_str(), s.text.as_str())).collect();
    assert_eq!(texts.len(), 3, "{texts:#?}");
    assert_eq!(texts[0].0, "SQL1");
    assert!(texts[0].1.contains("ALTER AVAILABILITY GROUP [AG1] REMOVE REPLICA ON N'SQL3';"), "{}", texts[0].1);
    assert_eq!(texts[1], ("SQL3NEW", "EXEC sp_dropserver N'SQL3'; EXEC sp_addserver N'SQL3NEW', 'local'; then restart the SQL Server service."));
    assert!(texts[2].0 == "SQL1" && texts[2].1.contains("add the replica back as N'SQL3NEW'"), "{}", texts[2].1);
    assert!(f.fix_steps.iter().all(|s| s.manual && s.phase == Phase::Prerequisite));
}

#[test]
fn replica_recorded_under_the_old_name_after_sp_addserver_is_still_reported() {
    let mut snap = healthy();
    rename_sql3_host(&mut snap);
    set_where(&mut snap, "SQL3", "server_properties", |_| true, "@@SERVERNAME", json!("SQL3NEW"));
    let report = run(snap);
    let f = single(&report, "session.server_renamed");
    assert_severity(f, Severity::Error);
    assert!(f.message.contains("still recorded as SQL3"), "{}", f.message);
    assert!(!f.fix_steps.iter().any(|s| s.text.contains("sp_dropserver")), "the local name is already right");
}

#[test]
fn renamed_host_without_a_replica_is_a_warning() {
    let mut snap = healthy();
    rename_sql3_host(&mut snap);
    for key in ["availability_groups", "availability_replicas", "dm_hadr_availability_replica_states"] {
        rows_mut(&mut snap, "SQL3", key).clear();
    }
    // The primary still lists SQL3; make the AG forget it so SQL3 hosts nothing.
    for server in ["SQL1", "SQL2"] {
        remove_where(&mut snap, server, "availability_replicas", is_name("replica_server_name", "SQL3"));
    }
    let report = run(snap);
    let f = single(&report, "session.server_renamed");
    assert_severity(f, Severity::Warning);
    assert_eq!(f.fix_steps.len(), 1);
    assert!(f.fix_steps[0].text.starts_with("EXEC sp_dropserver N'SQL3';"), "{}", f.fix_steps[0].text);
}

#[test]
fn names_that_differ_only_in_case_or_a_missing_servername_column_are_not_a_rename() {
    let mut snap = healthy();
    set_where(&mut snap, "SQL2", "server_properties", |_| true, "@@SERVERNAME", json!("sql2"));
    set_where(&mut snap, "SQL3", "server_properties", |_| true, "@@SERVERNAME", json!(null));
    let report = run(snap);
    assert_none(&report, "session.server_renamed");
    assert_eq!(status_of(&report, "session.server_renamed"), CheckStatus::Pass);
}
