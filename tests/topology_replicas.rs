//! Replica and listener topologies beyond the plain 3-replica AG, each a complete snapshot in
//! tests/fixtures/topologies/:
//! - config-only-healthy.json: Linux AG AGLNX (CLUSTER_TYPE = EXTERNAL), SQL1 primary and SQL2
//!   synchronous (FAILOVER_MODE = EXTERNAL), SQL3 the configuration-only replica on SQL Server
//!   Express with a WITNESS endpoint; certificate authentication.
//! - multi-ag-healthy.json: AG1 (SQL1 primary) and AG2 (SQL2 primary) on the same three instances,
//!   each instance with its one Hadr_endpoint on 5022 serving both.
//! - multi-subnet-healthy.json: listener AG1-LISTENER with 10.0.0.50 (ONLINE) and 10.2.0.50 (OFFLINE,
//!   the DR subnet), SQL3 an asynchronous, manual-failover DR replica in 10.2.0.0/24.
//! - dnn-healthy.json: AG1 with a DNN listener AG1-DNN on port 6789 (no IP rows).

mod common;

use agdiag::findings::Severity;
use agdiag::snapshot::Row;
use agdiag::{Report, Snapshot};
use common::*;
use serde_json::json;

const CONFIG_ONLY: &str = include_str!("fixtures/topologies/config-only-healthy.json");
const MULTI_AG: &str = include_str!("fixtures/topologies/multi-ag-healthy.json");
const MULTI_SUBNET: &str = include_str!("fixtures/topologies/multi-subnet-healthy.json");
const DNN: &str = include_str!("fixtures/topologies/dnn-healthy.json");

fn load(text: &str) -> Snapshot {
    Snapshot::from_json(text).expect("fixture parses")
}

fn assert_no_error_or_warning(report: &Report) {
    assert!(disputable(report).is_empty(), "{:#?}", disputable(report));
}

/// Every check ran everywhere it could look (info findings aside).
fn assert_evaluated_everywhere(report: &Report) {
    for c in &report.checks {
        assert_ne!(c.status, agdiag::checks::CheckStatus::NotEvaluated, "{}: {:?}", c.check, c.reason);
        assert!(c.not_evaluated_on.is_empty(), "{}: {:?}", c.check, c.not_evaluated_on);
    }
}

fn all(_: &Row) -> bool {
    true
}

fn mirroring(r: &Row) -> bool {
    r.str("type_desc").is_some_and(|t| t == "DATABASE_MIRRORING")
}

// ---------------------------------------------------------------------------------------------
// Configuration-only replica
// ---------------------------------------------------------------------------------------------

#[test]
fn the_configuration_only_ag_gives_no_error_and_no_warning() {
    let report = run(load(CONFIG_ONLY));
    assert_no_error_or_warning(&report);
    // Its WITNESS endpoint is what a configuration-only replica needs.
    assert_all_pass(&report, &["endpoint.role", "health.replica_not_healthy", "health.synchronization"]);
    // Certificate authentication: the partners present dbm_certificate, not a Windows login, so the
    // certificate checks judge every pair (the configuration-only replica's too) and pass.
    assert_all_pass(
        &report,
        &[
            "accounts.connect_missing",
            "accounts.partner_certificate_missing",
            "accounts.certificate_login_missing",
            "accounts.certificate_connect_missing",
        ],
    );
    assert_evaluated_everywhere(&report);
}

#[test]
fn a_configuration_only_replica_with_a_partner_endpoint_is_a_warning_fixed_with_role_witness() {
    let mut snap = load(CONFIG_ONLY);
    set_where(&mut snap, "SQL3", "database_mirroring_endpoints", all, "role", json!(1));
    set_where(&mut snap, "SQL3", "database_mirroring_endpoints", all, "role_desc", json!("PARTNER"));
    let report = run(snap);
    let f = single(&report, "endpoint.role");
    assert_severity(f, Severity::Warning);
    assert_eq!(f.instance.as_deref(), Some("SQL3"));
    assert!(f.message.contains("configuration-only replica"), "{}", f.message);
    assert!(f.message.contains("role_desc = PARTNER"), "{}", f.message);
    assert!(f.message.contains("On SQL Server Express, WITNESS is the only valid role"), "{}", f.message);
    assert_eq!(
        f.fix.as_deref(),
        Some(
            "IF EXISTS (SELECT 1 FROM sys.database_mirroring_endpoints WHERE name = N'Hadr_endpoint' AND role NOT IN (2, 3)) \
             ALTER ENDPOINT [Hadr_endpoint] FOR DATABASE_MIRRORING (ROLE = WITNESS);"
        )
    );
    assert_eq!(f.fix_steps[0].target, "SQL3");
}

#[test]
fn a_configuration_only_replica_with_role_none_is_an_error() {
    let mut snap = load(CONFIG_ONLY);
    set_where(&mut snap, "SQL3", "database_mirroring_endpoints", all, "role", json!(0));
    set_where(&mut snap, "SQL3", "database_mirroring_endpoints", all, "role_desc", json!("NONE"));
    let report = run(snap);
    let f = single(&report, "endpoint.role");
    assert_severity(f, Severity::Error);
    assert!(f.message.contains("role_desc = NONE"), "{}", f.message);
}

#[test]
fn a_data_replica_with_a_witness_endpoint_is_still_an_error() {
    let mut snap = load(CONFIG_ONLY);
    set_where(&mut snap, "SQL2", "database_mirroring_endpoints", all, "role", json!(2));
    set_where(&mut snap, "SQL2", "database_mirroring_endpoints", all, "role_desc", json!("WITNESS"));
    let report = run(snap);
    let f = single(&report, "endpoint.role");
    assert_severity(f, Severity::Error);
    assert_eq!(f.instance.as_deref(), Some("SQL2"));
    assert!(f.fix.as_deref().unwrap().contains("(ROLE = ALL)"), "{:?}", f.fix);
}

#[test]
fn a_configuration_only_replica_is_never_judged_on_synchronization_health() {
    // It holds no databases: whatever rollup the primary shows for it is no synchronization problem.
    let mut snap = load(CONFIG_ONLY);
    let is_sql3 = |r: &Row| r.str("replica_id").is_some_and(|v| v.starts_with("C3C4D5E6"));
    set_where(&mut snap, "SQL1", "dm_hadr_availability_replica_states", is_sql3, "synchronization_health", json!(0));
    set_where(&mut snap, "SQL1", "dm_hadr_availability_replica_states", is_sql3, "synchronization_health_desc", json!("NOT_HEALTHY"));
    let report = run(snap);
    assert_no_error_or_warning(&report);
}

#[test]
fn a_disconnected_configuration_only_replica_is_still_reported() {
    let mut snap = load(CONFIG_ONLY);
    let is_sql3 = |r: &Row| r.str("replica_id").is_some_and(|v| v.starts_with("C3C4D5E6"));
    set_where(&mut snap, "SQL1", "dm_hadr_availability_replica_states", is_sql3, "connected_state", json!(0));
    set_where(&mut snap, "SQL1", "dm_hadr_availability_replica_states", is_sql3, "connected_state_desc", json!("DISCONNECTED"));
    let report = run(snap);
    let f = single(&report, "session.replica_disconnected");
    assert_eq!(f.replica.as_deref(), Some("SQL3"));
}

// ---------------------------------------------------------------------------------------------
// Several AGs sharing one mirroring endpoint
// ---------------------------------------------------------------------------------------------

#[test]
fn two_ags_sharing_each_instances_endpoint_give_no_error_and_no_warning() {
    let report = run(load(MULTI_AG));
    assert_no_error_or_warning(&report);
    assert_evaluated_everywhere(&report);
    assert_all_pass(&report, &["endpoint.port_mismatch", "endpoint.missing", "endpoint_url.wrong_host", "accounts.connect_missing"]);
}

#[test]
fn a_moved_endpoint_shared_by_two_ags_is_one_finding_with_one_url_fix_per_ag() {
    let mut snap = load(MULTI_AG);
    set_where(&mut snap, "SQL3", "tcp_endpoints", mirroring, "port", json!(5023));
    set_where(&mut snap, "SQL3", "dm_tcp_listener_states", mirroring, "port", json!(5023));
    let report = run(snap);
    let f = single(&report, "endpoint.port_mismatch");
    assert_eq!(f.id, "endpoint.port_mismatch@SQL3/Hadr_endpoint");
    assert!(f.message.contains("Availability group AG1 tells partners"), "{}", f.message);
    assert!(f.message.contains("availability group AG2 tells partners"), "{}", f.message);
    assert!(f.message.contains("listens on port 5023"), "{}", f.message);
    assert_eq!(f.evidence["availability_groups"], json!(["AG1", "AG2"]));
    let steps: Vec<(&str, &str)> = f.fix_steps.iter().map(|s| (s.target.as_str(), s.text.as_str())).collect();
    assert_eq!(
        steps,
        [
            ("SQL1", "ALTER AVAILABILITY GROUP [AG1] MODIFY REPLICA ON N'SQL3' WITH (ENDPOINT_URL = N'TCP://sql3.contoso.com:5023');"),
            ("SQL2", "ALTER AVAILABILITY GROUP [AG2] MODIFY REPLICA ON N'SQL3' WITH (ENDPOINT_URL = N'TCP://sql3.contoso.com:5023');"),
        ]
    );
    // Finding ids stay unique.
    let mut ids: Vec<&str> = report.findings.iter().map(|f| f.id.as_str()).collect();
    ids.sort_unstable();
    let before = ids.len();
    ids.dedup();
    assert_eq!(before, ids.len(), "duplicate finding ids");
}

#[test]
fn a_partner_login_missing_connect_is_one_finding_whatever_the_number_of_ags() {
    let mut snap = load(MULTI_AG);
    remove_where(&mut snap, "SQL3", "server_permissions", |r: &Row| r.int("major_id") == Some(65536));
    let report = run(snap);
    let f = single(&report, "accounts.connect_missing");
    assert_eq!(f.instance.as_deref(), Some("SQL3"));
    assert!(f.fix.as_deref().unwrap().contains("GRANT CONNECT ON ENDPOINT::[Hadr_endpoint] TO [CONTOSO\\svc_sql];"), "{:?}", f.fix);
}

// ---------------------------------------------------------------------------------------------
// Multi-subnet listener, asynchronous DR replica in another subnet
// ---------------------------------------------------------------------------------------------

#[test]
fn a_multi_subnet_listener_with_its_dr_ip_offline_and_an_async_dr_replica_give_no_error_and_no_warning() {
    let report = run(load(MULTI_SUBNET));
    assert_no_error_or_warning(&report);
    assert_evaluated_everywhere(&report);
    // The DR subnet's OFFLINE IP is by design, and so is its probe failing.
    assert_all_pass(
        &report,
        &[
            "listener.no_online_ip",
            "listener.not_listening",
            "listener.unreachable",
            "network.port_bound_elsewhere",
            "network.unreachable",
            "health.synchronization",
            "session.replica_disconnected",
        ],
    );
    // MultiSubnetFailover is worth saying, once, as info.
    let f = single(&report, "listener.multi_subnet");
    assert_severity(f, Severity::Info);
    assert!(f.message.contains("10.0.0.0/24, 10.2.0.0/24"), "{}", f.message);
}

#[test]
fn the_multi_subnet_listeners_online_ip_not_answering_is_still_found() {
    let mut snap = load(MULTI_SUBNET);
    for probe in snap.probes.iter_mut().filter(|p| p.purpose == "listener" && p.address.as_deref() == Some("10.0.0.50")) {
        probe.ok = false;
        probe.error = Some("connection timed out".into());
    }
    let report = run(snap);
    let f = single(&report, "listener.unreachable");
    assert_severity(f, Severity::Error);
}

#[test]
fn an_async_dr_replica_that_stopped_synchronizing_is_found() {
    let mut snap = load(MULTI_SUBNET);
    let is_sql3 = |r: &Row| r.str("replica_id").is_some_and(|v| v.starts_with("3D2F7DB0"));
    for host in ["SQL1", "SQL3"] {
        set_where(&mut snap, host, "dm_hadr_database_replica_states", is_sql3, "synchronization_state", json!(0));
        set_where(&mut snap, host, "dm_hadr_database_replica_states", is_sql3, "synchronization_state_desc", json!("NOT SYNCHRONIZING"));
    }
    let report = run(snap);
    let f = single(&report, "health.synchronization");
    assert!(f.message.contains("SQL3"), "{}", f.message);
    assert!(f.message.contains("expected SYNCHRONIZING"), "{}", f.message);
}

// ---------------------------------------------------------------------------------------------
// DNN listener
// ---------------------------------------------------------------------------------------------

#[test]
fn a_dnn_listener_without_ip_rows_gives_no_error_and_no_warning() {
    let report = run(load(DNN));
    assert_no_error_or_warning(&report);
    assert_evaluated_everywhere(&report);
    assert_all_pass(&report, &["listener.no_online_ip", "listener.unreachable", "network.port_bound_elsewhere", "network.unreachable"]);
    let f = single(&report, "listener.multi_subnet");
    assert_severity(f, Severity::Info);
    assert!(f.message.contains("distributed network name (DNN)") && f.message.contains("6789"), "{}", f.message);
    // A DNN has no virtual IP: RegisterAllProvidersIP is no advice for it.
    assert!(!f.remediation.contains("RegisterAllProvidersIP"), "{}", f.remediation);
}

#[test]
fn a_dnn_listener_that_answers_nowhere_is_unreachable() {
    let mut snap = load(DNN);
    for probe in snap.probes.iter_mut().filter(|p| p.purpose == "listener") {
        probe.ok = false;
        probe.error = Some("connection refused".into());
    }
    let report = run(snap);
    let f = single(&report, "listener.unreachable");
    assert_severity(f, Severity::Error);
    assert!(f.message.contains("AG1-DNN"), "{}", f.message);
}

#[test]
fn with_an_external_cluster_the_synchronous_replica_is_a_failover_partner_and_the_config_only_replica_is_not() {
    // FAILOVER_MODE = EXTERNAL: Pacemaker fails over to SQL2 on its own; SQL3 never becomes primary.
    let report = run(load(CONFIG_ONLY));
    let when: Vec<(&str, &str)> = report
        .routing_simulation
        .iter()
        .map(|p| (p.when_primary.as_str(), p.could_be_primary_because.as_str()))
        .collect();
    assert_eq!(when, [("SQL1", "current primary"), ("SQL2", "automatic failover partner")]);
}

#[test]
fn a_name_probe_that_landed_on_the_offline_dr_ip_is_no_dns_finding() {
    // DNS returns both listener IPs (RegisterAllProvidersIP); the probe by name tried the DR one.
    let mut snap = load(MULTI_SUBNET);
    for probe in snap.probes.iter_mut().filter(|p| p.purpose == "listener" && p.via == "name") {
        probe.address = Some("10.2.0.50".into());
        probe.ok = false;
        probe.error = Some("connection timed out".into());
    }
    let report = run(snap);
    assert_no_error_or_warning(&report);
    assert_all_pass(&report, &["network.name_resolution", "listener.unreachable"]);
    // DNS returned both: information about RegisterAllProvidersIP, not a DNS error.
    assert_eq!(single(&report, "listener.dns_records").severity, Severity::Info);
}
