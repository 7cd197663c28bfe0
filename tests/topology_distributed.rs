//! Distributed availability groups: AG1 (SQL1 primary = global primary, SQL2) in one cluster with
//! listener ag1-listener, AG2 (SQL3 primary = forwarder, SQL4) in another with ag2-listener, and
//! the distributed AG DistAG over them (LISTENER_URLs tcp://agN-listener.contoso.com:5022), as the
//! four instances show them: only SQL1 and SQL3 host DistAG.

mod common;

use agdiag::findings::Severity;
use agdiag::snapshot::Row;
use agdiag::Snapshot;
use common::*;
use serde_json::json;

const HEALTHY: &str = include_str!("fixtures/topologies/distributed-healthy.json");
const DAG: &str = "8E3A5D9C-B14F-4A83-AC77-4F2D9EB06132";
const DAG_AG2: &str = "AB6D2F40-D36B-4CA5-8E99-6B4FB0D28354";
const AG2_LISTENER: &str = "9a1d3b5f-72c8-4e4d-8b26-8f3cad1e5077";

fn healthy_dag() -> Snapshot {
    Snapshot::from_json(HEALTHY).expect("distributed fixture parses")
}

fn is_dag_ag2(r: &Row) -> bool {
    r.str("replica_id").is_some_and(|v| v.eq_ignore_ascii_case(DAG_AG2))
}

/// Sets AG2's LISTENER_URL in DistAG on the given hosting instances.
fn set_listener_url(snap: &mut Snapshot, hosts: &[&str], url: &str) {
    for host in hosts {
        set_where(snap, host, "availability_replicas", is_dag_ag2, "endpoint_url", json!(url));
    }
}

/// Every error and warning of the full analysis, for a readable failure.
#[test]
fn the_healthy_distributed_ag_gives_no_error_and_no_warning() {
    let report = run(healthy_dag());
    assert!(disputable(&report).is_empty(), "{:#?}", disputable(&report));
    assert_all_pass(
        &report,
        &["distributed.listener_url", "distributed.disconnected", "distributed.dnn_listener", "distributed.endpoint_listener_ip"],
    );
    // The distributed AG's local row (AG1 on SQL1, AG2 on SQL3) names an AG, not a renamed server.
    assert_all_pass(&report, &["session.server_renamed"]);
    // No READ_ONLY_ROUTING_URL anywhere, so no routing probe is missing.
    assert_all_pass(&report, &["routing.url_unreachable", "accounts.login_missing", "accounts.connect_missing"]);
    // Every check looked everywhere: a distributed AG leaves no check unable to judge it.
    for c in &report.checks {
        assert_eq!(c.status, agdiag::checks::CheckStatus::Pass, "{}: {:?}", c.check, c.reason);
        assert!(c.not_evaluated_on.is_empty(), "{}: {:?}", c.check, c.not_evaluated_on);
    }
    // A distributed AG has no routing lists of its own: the simulation covers AG1 and AG2 only.
    assert!(report.routing_simulation.iter().all(|p| p.availability_group != "DistAG"), "{:#?}", report.routing_simulation);
}

#[test]
fn a_listener_url_with_the_listeners_tsql_port_is_an_error_fixed_on_both_sides() {
    let mut snap = healthy_dag();
    set_listener_url(&mut snap, &["SQL1", "SQL3"], "tcp://ag2-listener.contoso.com:1433");
    let report = run(snap);
    let f = single(&report, "distributed.listener_url");
    assert_severity(f, Severity::Error);
    assert_eq!(f.availability_group.as_deref(), Some("DistAG"));
    assert_eq!(f.replica.as_deref(), Some("AG2"));
    assert!(f.message.contains("tcp://ag2-listener.contoso.com:1433"), "{}", f.message);
    assert!(f.message.contains("listener's client (TSQL) port"), "{}", f.message);
    assert!(f.message.contains("(5022)"), "{}", f.message);
    let fix = "ALTER AVAILABILITY GROUP [DistAG] MODIFY AVAILABILITY GROUP ON N'AG2' WITH (LISTENER_URL = N'tcp://ag2-listener.contoso.com:5022');";
    let targets: Vec<&str> = f.fix_steps.iter().map(|s| s.target.as_str()).collect();
    assert_eq!(targets, ["SQL1", "SQL3"]);
    assert!(f.fix_steps.iter().all(|s| !s.manual && s.text == fix), "{:#?}", f.fix_steps);
    assert_eq!(f.evidence["mirroring_endpoint_ports"], json!([5022]));
    assert_eq!(f.evidence["availability_replicas"].as_array().unwrap().len(), 2);
    // The ordinary URL checks leave a distributed AG's LISTENER_URL alone: one finding, not three.
    for check in ["endpoint.port_mismatch", "endpoint_url.wrong_host", "session.server_renamed"] {
        assert_none(&report, check);
    }
}

#[test]
fn a_listener_url_naming_a_replica_instead_of_the_listener_is_an_error_on_the_side_that_stores_it() {
    let mut snap = healthy_dag();
    set_listener_url(&mut snap, &["SQL1"], "tcp://sql3.contoso.com:5022");
    let report = run(snap);
    let f = single(&report, "distributed.listener_url");
    assert_severity(f, Severity::Error);
    assert!(f.message.contains("sql3.contoso.com is not a listener of AG2"), "{}", f.message);
    assert!(f.message.contains("ag2-listener"), "{}", f.message);
    assert_eq!(f.fix_steps.len(), 1);
    assert_eq!(f.fix_steps[0].target, "SQL1");
    assert!(f.fix.as_deref().unwrap().contains("N'tcp://ag2-listener.contoso.com:5022'"), "{:?}", f.fix);
}

#[test]
fn a_single_label_listener_url_is_a_warning_with_the_fqdn_as_fix() {
    let mut snap = healthy_dag();
    set_listener_url(&mut snap, &["SQL1", "SQL3"], "tcp://ag2-listener:5022");
    let report = run(snap);
    let f = single(&report, "distributed.listener_url");
    assert_severity(f, Severity::Warning);
    assert!(f.message.contains("single-label"), "{}", f.message);
    assert!(f.fix.as_deref().unwrap().contains("N'tcp://ag2-listener.contoso.com:5022'"), "{:?}", f.fix);
}

#[test]
fn a_disconnected_member_ag_is_one_error_with_its_last_connect_error_and_what_the_forwarder_loses() {
    let mut snap = healthy_dag();
    for (host, column, value) in [
        ("SQL1", "connected_state", json!(0)),
        ("SQL1", "connected_state_desc", json!("DISCONNECTED")),
        ("SQL1", "synchronization_health", json!(0)),
        ("SQL1", "synchronization_health_desc", json!("NOT_HEALTHY")),
        ("SQL1", "last_connect_error_number", json!(1418)),
        (
            "SQL1",
            "last_connect_error_description",
            json!("The server network address \"tcp://ag2-listener.contoso.com:5022\" can not be reached or does not exist."),
        ),
        ("SQL1", "last_connect_error_timestamp", json!("2026-11-22T09:41:07.553")),
        ("SQL3", "connected_state", json!(0)),
        ("SQL3", "connected_state_desc", json!("DISCONNECTED")),
    ] {
        set_where(&mut snap, host, "dm_hadr_availability_replica_states", is_dag_ag2, column, value);
    }
    let report = run(snap);
    let f = single(&report, "distributed.disconnected");
    assert_severity(f, Severity::Error);
    assert_eq!(f.availability_group.as_deref(), Some("DistAG"));
    assert_eq!(f.replica.as_deref(), Some("AG2"));
    for fact in [
        "SQL1 reports member AG2 as DISCONNECTED",
        "last connect error 1418",
        "2026-11-22T09:41:07.553",
        "SQL3 reports its own member AG2 as DISCONNECTED",
        "its primary SQL3",
        "FORCE_FAILOVER_ALLOW_DATA_LOSS",
        "would lose every transaction committed on AG1 since about 2026-11-22T09:41:07.553",
    ] {
        assert!(f.message.contains(fact), "{fact:?} missing from: {}", f.message);
    }
    assert_eq!(f.evidence["dm_hadr_availability_replica_states"].as_array().unwrap().len(), 2);
    assert!(f.evidence["dm_hadr_database_replica_states"].as_array().is_some_and(|d| !d.is_empty()));
    // From each side, test the path to the other AG's LISTENER_URL.
    let steps: Vec<(&str, bool)> = f.fix_steps.iter().map(|s| (s.target.as_str(), s.manual)).collect();
    assert_eq!(steps, [("SQL1", true), ("SQL3", true)]);
    assert!(f.fix_steps[0].text.contains("Test-NetConnection -ComputerName 'ag2-listener.contoso.com' -Port 5022"), "{}", f.fix_steps[0].text);
    assert!(f.fix_steps[1].text.contains("Test-NetConnection -ComputerName 'ag1-listener.contoso.com' -Port 5022"), "{}", f.fix_steps[1].text);
    // The link belongs to the distributed AG's check, not to the per-replica or per-AG health ones.
    assert_none(&report, "session.replica_disconnected");
    assert_none(&report, "health.replica_not_healthy");
}

#[test]
fn a_member_ag_whose_listener_is_a_dnn_cannot_serve_the_distributed_ag() {
    let mut snap = healthy_dag();
    for host in ["SQL3", "SQL4"] {
        let is_ag2_listener = |r: &Row| r.str("listener_id").is_some_and(|v| v.eq_ignore_ascii_case(AG2_LISTENER));
        set_where(&mut snap, host, "availability_group_listeners", is_ag2_listener, "is_distributed_network_name", json!(true));
        set_where(&mut snap, host, "availability_group_listeners", is_ag2_listener, "ip_configuration_string_from_cluster", json!(null));
        set_where(&mut snap, host, "availability_group_listeners", is_ag2_listener, "port", json!(6789));
        remove_where(&mut snap, host, "availability_group_listener_ip_addresses", is_ag2_listener);
    }
    let report = run(snap);
    let f = single(&report, "distributed.dnn_listener");
    assert_severity(f, Severity::Error);
    assert!(f.message.contains("distributed network name (DNN) listener"), "{}", f.message);
    assert!(f.message.contains("AG2 has no VNN listener"), "{}", f.message);
    assert!(f.remediation.contains("ADD LISTENER"), "{}", f.remediation);
    let targets: Vec<&str> = f.fix_steps.iter().map(|s| s.target.as_str()).collect();
    assert_eq!(targets, ["SQL1", "SQL3"]);
    // A DNN listener has no IP rows by design: that is no "no online IP" error.
    assert_none(&report, "listener.no_online_ip");
}

#[test]
fn a_member_ag_that_was_not_collected_is_reported_as_not_evaluated() {
    let mut snap = healthy_dag();
    snap.instances.retain(|i| !i.is_named("SQL3") && !i.is_named("SQL4"));
    let report = run(snap);
    assert_none(&report, "distributed.listener_url");
    let gaps = not_evaluated_on(&report, "distributed.listener_url");
    assert!(gaps.iter().any(|(s, r)| s == "DistAG/AG2" && r.contains("AG2 was not collected")), "{gaps:?}");
}

#[test]
fn the_distributed_ag_id_is_what_the_rows_say() {
    // Guard against a fixture edit that would make the tests above vacuous.
    let snap = healthy_dag();
    let sql1 = snap.instances.iter().find(|i| i.is_named("SQL1")).unwrap();
    let dag = sql1.results["availability_groups"].iter().find(|g| g.str("group_id") == Some(DAG)).unwrap();
    assert_eq!(dag.bit("is_distributed"), Some(true));
    let sql2 = snap.instances.iter().find(|i| i.is_named("SQL2")).unwrap();
    assert!(sql2.results["availability_groups"].iter().all(|g| g.str("group_id") != Some(DAG)), "a secondary of AG1 does not host DistAG");
}

#[test]
fn the_other_clusters_service_account_without_a_login_is_found_through_the_distributed_ag() {
    // AG2's cluster runs under CONTOSO\svc_sqlb; its own replicas grant it CONNECT, AG1's do not
    // know it. The global primary and the forwarder connect through the distributed AG, so SQL1
    // and SQL2 (either can be the global primary) each lack a login for SQL3's and SQL4's account.
    let mut snap = healthy_dag();
    let engine = |r: &Row| r.str("servicename").is_some_and(|s| s.starts_with("SQL Server ("));
    for host in ["SQL3", "SQL4"] {
        set_where(&mut snap, host, "dm_server_services", engine, "service_account", json!("CONTOSO\\svc_sqlb"));
        let login: Row = serde_json::from_value(json!({
            "name": "CONTOSO\\svc_sqlb", "principal_id": 263, "sid": "0x0105000000000005150000004A3B1C7D5E9F2A8B6C0D1E2F71040000",
            "type": "U", "type_desc": "WINDOWS_LOGIN", "is_disabled": 0, "create_date": "2026-06-11T14:20:11.017",
            "modify_date": "2026-06-11T14:20:11.017", "default_database_name": "master", "default_language_name": "us_english",
            "credential_id": null, "owning_principal_id": null, "is_fixed_role": false
        }))
        .unwrap();
        rows_mut(&mut snap, host, "server_principals").push(login);
        let grant: Row = serde_json::from_value(json!({
            "class": 105, "class_desc": "ENDPOINT", "major_id": 65536, "minor_id": 0, "grantee_principal_id": 263,
            "grantor_principal_id": 1, "type": "CO  ", "permission_name": "CONNECT", "state": "G", "state_desc": "GRANT"
        }))
        .unwrap();
        rows_mut(&mut snap, host, "server_permissions").push(grant);
    }
    let report = run(snap);
    let found = findings_of(&report, "accounts.login_missing");
    let on: Vec<&str> = found.iter().filter_map(|f| f.instance.as_deref()).collect();
    assert_eq!(on, ["SQL1", "SQL2"], "{found:#?}");
    for f in found {
        assert!(f.message.contains("CONTOSO\\svc_sqlb"), "{}", f.message);
        assert!(f.message.contains("DistAG"), "{}", f.message);
        assert!(f.fix.as_deref().unwrap().contains("CREATE LOGIN [CONTOSO\\svc_sqlb] FROM WINDOWS;"), "{:?}", f.fix);
    }
}

#[test]
fn suspended_data_movement_into_the_secondary_ag_is_resumed_on_the_forwarder() {
    let mut snap = healthy_dag();
    for host in ["SQL1", "SQL3"] {
        for (column, value) in [
            ("synchronization_state", json!(0)),
            ("synchronization_state_desc", json!("NOT SYNCHRONIZING")),
            ("is_suspended", json!(true)),
            ("suspend_reason", json!(0)),
            ("suspend_reason_desc", json!("SUSPEND_FROM_USER")),
        ] {
            set_where(&mut snap, host, "dm_hadr_database_replica_states", is_dag_ag2, column, value);
        }
    }
    let report = run(snap);
    let f = single(&report, "health.suspended");
    assert_eq!(f.availability_group.as_deref(), Some("DistAG"));
    assert_eq!(f.replica.as_deref(), Some("AG2"));
    assert!(f.remediation.contains("(SQL3)"), "{}", f.remediation);
    // The database replica of member AG2 lives on AG2's primary, the forwarder: resume it there.
    assert_eq!(f.fix_steps.len(), 1);
    assert_eq!(f.fix_steps[0].target, "SQL3");
    assert!(f.fix_steps[0].text.ends_with("ALTER DATABASE [SalesDB] SET HADR RESUME;"), "{}", f.fix_steps[0].text);
    assert_none(&report, "distributed.disconnected");
}

#[test]
fn the_listener_url_fix_escapes_the_distributed_and_member_ag_names() {
    let mut snap = healthy_dag();
    let is_dag = |r: &Row| r.str("group_id") == Some(DAG);
    let is_ag2 = |r: &Row| r.str("group_id").is_some_and(|g| g.eq_ignore_ascii_case("7D2F4C8B-A03E-4F72-9B66-3E1C8DAF5021"));
    set_everywhere(&mut snap, "availability_groups", is_dag, "name", json!("Dist]AG"));
    set_everywhere(&mut snap, "availability_groups", is_ag2, "name", json!("AG'2"));
    set_everywhere(&mut snap, "availability_replicas", is_dag_ag2, "replica_server_name", json!("AG'2"));
    set_listener_url(&mut snap, &["SQL1", "SQL3"], "tcp://ag2-listener.contoso.com:1433");
    let report = run(snap);
    let f = single(&report, "distributed.listener_url");
    assert!(f.fix_steps.iter().all(|s| s.text
        == "ALTER AVAILABILITY GROUP [Dist]]AG] MODIFY AVAILABILITY GROUP ON N'AG''2' WITH (LISTENER_URL = N'tcp://ag2-listener.contoso.com:5022');"),
        "{:#?}", f.fix_steps);
}

#[test]
fn a_member_replica_whose_endpoint_listens_on_one_ip_only_is_an_error_fixed_with_listener_ip_all() {
    let mut snap = healthy_dag();
    let mirroring = |r: &Row| r.str("type_desc") == Some("DATABASE_MIRRORING");
    set_where(&mut snap, "SQL4", "tcp_endpoints", mirroring, "ip_address", json!("10.1.0.14"));
    let report = run(snap);
    let f = single(&report, "distributed.endpoint_listener_ip");
    assert_severity(f, Severity::Error);
    assert_eq!(f.instance.as_deref(), Some("SQL4"));
    assert!(f.message.contains("listens only on 10.1.0.14"), "{}", f.message);
    assert!(f.message.contains("member of distributed availability group DistAG"), "{}", f.message);
    assert_eq!(f.fix.as_deref(), Some("ALTER ENDPOINT [Hadr_endpoint] AS TCP (LISTENER_IP = ALL);"));
    assert_eq!(f.fix_steps[0].target, "SQL4");
}
