mod common;

use agdiag::checks::CheckStatus;
use agdiag::findings::{Phase, Severity};
use agdiag::fix::ScriptOptions;
use agdiag::snapshot::Row;
use agdiag::Snapshot;
use common::*;
use serde_json::{json, Value};

const CHECKS: &[&str] = &[
    "routing.url_missing",
    "routing.target_not_readable",
    "routing.url_malformed",
    "routing.url_mirroring_port",
    "routing.url_port_not_tsql",
    "routing.url_not_fqdn",
    "routing.url_wrong_host",
    "routing.url_unreachable",
    "routing.no_list",
];

const SQL2_ID: &str = "2C1E6CAF-4D3B-4081-8E72-1B9F3D5C8A02";
const SQL3_ID: &str = "3D2F7DB0-5E4C-4192-9F83-2CA04E6D9B03";
const ALL: [&str; 3] = ["SQL1", "SQL2", "SQL3"];

/// Sets a column of one replica's `availability_replicas` row on every instance (the catalog is
/// the same everywhere).
fn set_replica(snap: &mut Snapshot, replica: &'static str, column: &str, value: Value) {
    set_everywhere(snap, "availability_replicas", is_name("replica_server_name", replica), column, value);
}

fn remove_list_rows(snap: &mut Snapshot, filter: impl Fn(&Row) -> bool + Copy) {
    for server in ALL {
        remove_where(snap, server, "availability_read_only_routing_lists", filter);
    }
}

fn owned_by(id: &'static str) -> impl Fn(&Row) -> bool + Copy {
    move |r: &Row| r.str("replica_id") == Some(id)
}

fn targets(id: &'static str) -> impl Fn(&Row) -> bool + Copy {
    move |r: &Row| r.str("read_only_replica_id") == Some(id)
}

fn sql_fix(f: &agdiag::findings::Finding) -> &agdiag::findings::FixStep {
    f.fix_steps.iter().find(|s| !s.manual).unwrap_or_else(|| panic!("no T-SQL step in {:#?}", f.fix_steps))
}

#[test]
fn healthy_example_passes_every_routing_check() {
    let report = run(healthy());
    assert_all_pass(&report, CHECKS);
}

#[test]
fn listed_replica_without_url_is_an_error_with_a_url_from_its_fqdn_and_tsql_port() {
    let mut snap = healthy();
    set_replica(&mut snap, "SQL3", "read_only_routing_url", null());
    let report = run(snap);
    let f = single(&report, "routing.url_missing");
    assert_severity(f, Severity::Error);
    assert_eq!(f.instance.as_deref(), Some("SQL3"));
    assert_eq!(f.availability_group.as_deref(), Some("AG1"));
    assert!(f.message.contains("SQL1 (priority 1) and SQL2 (priority 1)"), "{}", f.message);
    assert!(f.message.contains("19404"), "{}", f.message);
    assert_eq!(f.evidence["availability_replicas"]["read_only_routing_url"], Value::Null);
    assert_eq!(f.evidence["availability_read_only_routing_lists"].as_array().unwrap().len(), 2);
    let step = sql_fix(f);
    assert_eq!((step.target.as_str(), step.phase), ("SQL1", Phase::RoutingUrl));
    assert_eq!(
        step.text,
        "ALTER AVAILABILITY GROUP [AG1] MODIFY REPLICA ON N'SQL3' WITH (SECONDARY_ROLE (READ_ONLY_ROUTING_URL = N'TCP://sql3.contoso.com:1433'));"
    );
}

#[test]
fn proposed_url_uses_the_replicas_real_tsql_port_not_the_listener_port() {
    let mut snap = healthy();
    set_replica(&mut snap, "SQL3", "read_only_routing_url", null());
    set_where(&mut snap, "SQL3", "dm_tcp_listener_states", |r| r.str("type_desc") == Some("TSQL"), "port", json!(14330));
    let report = run(snap);
    let f = single(&report, "routing.url_missing");
    assert!(sql_fix(f).text.contains("N'TCP://sql3.contoso.com:14330'"), "{}", sql_fix(f).text);
    assert_eq!(f.evidence["proposed_url"], json!("TCP://sql3.contoso.com:14330"));
}

#[test]
fn url_missing_without_the_replicas_listener_states_gives_a_manual_step() {
    let mut snap = healthy();
    set_replica(&mut snap, "SQL3", "read_only_routing_url", null());
    disconnect(&mut snap, "SQL3");
    let report = run(snap);
    let f = single(&report, "routing.url_missing");
    assert!(f.fix.is_none());
    assert!(f.fix_steps[0].manual && f.fix_steps[0].text.contains("TSQL port is unknown"), "{:?}", f.fix_steps);
}

#[test]
fn unlisted_replica_without_url_is_not_a_finding() {
    let mut snap = healthy();
    set_replica(&mut snap, "SQL3", "read_only_routing_url", null());
    remove_list_rows(&mut snap, targets(SQL3_ID));
    assert_none(&run(snap), "routing.url_missing");
}

#[test]
fn listed_replica_that_refuses_read_intent_is_a_warning_fixed_with_allow_connections() {
    let mut snap = healthy();
    set_replica(&mut snap, "SQL3", "secondary_role_allow_connections", json!(0));
    set_replica(&mut snap, "SQL3", "secondary_role_allow_connections_desc", json!("NO"));
    let report = run(snap);
    let f = single(&report, "routing.target_not_readable");
    assert_severity(f, Severity::Warning);
    assert_eq!(f.instance.as_deref(), Some("SQL3"));
    assert!(f.message.contains("secondary_role_allow_connections_desc = NO"), "{}", f.message);
    assert_eq!(f.evidence["availability_replicas"]["secondary_role_allow_connections_desc"], json!("NO"));
    let step = sql_fix(f);
    assert_eq!((step.target.as_str(), step.phase), ("SQL1", Phase::ReplicaOptions));
    assert_eq!(
        step.text,
        "ALTER AVAILABILITY GROUP [AG1] MODIFY REPLICA ON N'SQL3' WITH (SECONDARY_ROLE (ALLOW_CONNECTIONS = READ_ONLY));"
    );
}

#[test]
fn unreadable_replica_only_in_its_own_list_is_fine() {
    let mut snap = healthy();
    set_replica(&mut snap, "SQL3", "secondary_role_allow_connections_desc", json!("NO"));
    remove_list_rows(&mut snap, targets(SQL3_ID));
    // SQL2 appears in its own list (it is primary then); remove it from SQL1's list only.
    set_replica(&mut snap, "SQL2", "secondary_role_allow_connections_desc", json!("NO"));
    remove_list_rows(&mut snap, |r| r.str("replica_id") != Some(SQL2_ID) && r.str("read_only_replica_id") == Some(SQL2_ID));
    assert_none(&run(snap), "routing.target_not_readable");
}

#[test]
fn malformed_url_is_error_19401() {
    let mut snap = healthy();
    set_replica(&mut snap, "SQL3", "read_only_routing_url", json!("sql3.contoso.com:1433"));
    let report = run(snap);
    let f = single(&report, "routing.url_malformed");
    assert_severity(f, Severity::Error);
    assert_eq!(f.related_errors, vec![19401]);
    assert!(f.message.contains("does not start with TCP://"), "{}", f.message);
    assert_eq!(f.evidence["problem"], json!("it does not start with TCP://"));
    assert!(sql_fix(f).text.contains("N'TCP://sql3.contoso.com:1433'"));
}

#[test]
fn lowercase_scheme_is_well_formed() {
    let mut snap = healthy();
    set_replica(&mut snap, "SQL3", "read_only_routing_url", json!("tcp://sql3.contoso.com:1433"));
    let report = run(snap);
    assert_none(&report, "routing.url_malformed");
    assert_none(&report, "routing.url_not_fqdn");
}

#[test]
fn malformed_url_on_an_unlisted_replica_is_a_warning() {
    let mut snap = healthy();
    set_replica(&mut snap, "SQL3", "read_only_routing_url", json!("TCP://sql3.contoso.com"));
    remove_list_rows(&mut snap, targets(SQL3_ID));
    let f = single(&run(snap), "routing.url_malformed").clone();
    assert_severity(&f, Severity::Warning);
    assert!(f.message.contains("No routing list names this replica yet"), "{}", f.message);
}

#[test]
fn url_on_the_mirroring_endpoint_port_is_an_error_and_not_double_reported() {
    let mut snap = healthy();
    set_replica(&mut snap, "SQL2", "read_only_routing_url", json!("TCP://sql2.contoso.com:5022"));
    let report = run(snap);
    let f = single(&report, "routing.url_mirroring_port");
    assert_severity(f, Severity::Error);
    assert_eq!(f.instance.as_deref(), Some("SQL2"));
    assert!(f.message.contains("port 5022 is SQL2's database mirroring endpoint port"), "{}", f.message);
    assert_eq!(f.evidence["mirroring_endpoint_ports"], json!([5022]));
    assert!(sql_fix(f).text.contains("N'TCP://sql2.contoso.com:1433'"));
    assert_none(&report, "routing.url_port_not_tsql");
}

#[test]
fn url_on_a_moved_mirroring_endpoint_is_caught_by_the_endpoints_real_port() {
    let mut snap = healthy();
    set_replica(&mut snap, "SQL3", "endpoint_url", json!("TCP://sql3.contoso.com:5023"));
    set_where(&mut snap, "SQL3", "tcp_endpoints", is_name("name", "Hadr_endpoint"), "port", json!(5023));
    set_replica(&mut snap, "SQL3", "read_only_routing_url", json!("TCP://sql3.contoso.com:5023"));
    let f = single(&run(snap), "routing.url_mirroring_port").clone();
    assert!(f.message.contains("port 5023"), "{}", f.message);
}

#[test]
fn url_port_without_a_tsql_listener_is_an_error_with_the_real_ports() {
    let mut snap = healthy();
    set_replica(&mut snap, "SQL3", "read_only_routing_url", json!("TCP://sql3.contoso.com:1500"));
    let report = run(snap);
    let f = single(&report, "routing.url_port_not_tsql");
    assert_severity(f, Severity::Error);
    assert!(f.message.contains("TSQL on port(s) 1433") && f.message.contains("not port 1500"), "{}", f.message);
    assert_eq!(f.evidence["dm_tcp_listener_states"].as_array().unwrap().len(), 2);
    assert!(sql_fix(f).text.contains("N'TCP://sql3.contoso.com:1433'"));
    assert_none(&report, "routing.url_mirroring_port");
}

#[test]
fn url_port_that_the_instance_listens_on_is_fine() {
    let mut snap = healthy();
    set_replica(&mut snap, "SQL3", "read_only_routing_url", json!("TCP://sql3.contoso.com:1500"));
    push_row(
        &mut snap,
        "SQL3",
        "dm_tcp_listener_states",
        json!({"listener_id": 6, "ip_address": "0.0.0.0", "is_ipv4": true, "port": 1500, "type": 0, "type_desc": "TSQL", "state": 0, "state_desc": "ONLINE"}),
    );
    assert_none(&run(snap), "routing.url_port_not_tsql");
}

#[test]
fn listener_port_bound_only_on_the_listener_ip_is_not_the_instances_port() {
    let mut snap = healthy();
    // SQL1's own client port moves to 1450; 1433 stays bound only on the listener's 10.0.0.50.
    set_where(&mut snap, "SQL1", "dm_tcp_listener_states", |r| r.str("type_desc") == Some("TSQL") && r.str("ip_address") != Some("10.0.0.50"), "port", json!(1450));
    let report = run(snap);
    let f = single(&report, "routing.url_port_not_tsql");
    assert_eq!(f.instance.as_deref(), Some("SQL1"));
    assert!(sql_fix(f).text.contains("N'TCP://sql1.contoso.com:1450'"), "{}", sql_fix(f).text);
}

#[test]
fn url_port_check_is_not_evaluated_without_the_replicas_listener_states() {
    let mut snap = healthy();
    deny_key(&mut snap, "SQL3", "dm_tcp_listener_states", 300, "VIEW SERVER STATE permission was denied on object 'server', database 'master'.");
    let report = run(snap);
    let result = report.checks.iter().find(|c| c.check == "routing.url_port_not_tsql").unwrap();
    assert_eq!(result.status, CheckStatus::Pass);
    assert!(result.reason.as_deref().unwrap_or("").contains("SQL3"), "{:?}", result.reason);
}

#[test]
fn single_label_and_ip_hosts_are_warnings_and_localhost_an_error() {
    let mut snap = healthy();
    set_replica(&mut snap, "SQL1", "read_only_routing_url", json!("TCP://SQL1:1433"));
    set_replica(&mut snap, "SQL2", "read_only_routing_url", json!("TCP://10.0.0.12:1433"));
    set_replica(&mut snap, "SQL3", "read_only_routing_url", json!("TCP://localhost:1433"));
    let report = run(snap);
    let found = findings_of(&report, "routing.url_not_fqdn");
    assert_eq!(found.len(), 3, "{found:#?}");
    let by = |name: &str| found.iter().find(|f| f.instance.as_deref() == Some(name)).unwrap();
    assert_severity(by("SQL1"), Severity::Warning);
    assert!(by("SQL1").message.contains("single-label"));
    assert_severity(by("SQL2"), Severity::Warning);
    assert!(by("SQL2").message.contains("an IP address"));
    assert_severity(by("SQL3"), Severity::Error);
    assert!(by("SQL3").message.contains("loopback"));
    assert_eq!(by("SQL2").evidence["host"], json!("10.0.0.12"));
    // The FQDN comes from the endpoint URL.
    assert!(sql_fix(by("SQL1")).text.contains("N'TCP://sql1.contoso.com:1433'"));
}

#[test]
fn fqdn_is_derived_from_the_machine_name_and_the_shared_dns_suffix() {
    let mut snap = healthy();
    set_replica(&mut snap, "SQL3", "endpoint_url", json!("TCP://SQL3:5022"));
    set_replica(&mut snap, "SQL3", "read_only_routing_url", json!("TCP://SQL3:1433"));
    set_where(&mut snap, "SQL3", "server_properties", |_| true, "MachineName", json!("SQL3"));
    let f = single(&run(snap), "routing.url_not_fqdn").clone();
    assert!(sql_fix(&f).text.contains("N'TCP://sql3.contoso.com:1433'"), "{}", sql_fix(&f).text);
}

#[test]
fn failed_routing_probes_are_reported_with_a_diagnosis() {
    let mut snap = healthy();
    for p in snap.probes.iter_mut().filter(|p| p.purpose == "routing" && p.subject == "SQL3") {
        p.ok = false;
        p.error = Some("connection timed out after 3000 ms".into());
    }
    let report = run(snap);
    let f = single(&report, "routing.url_unreachable");
    assert_severity(f, Severity::Error);
    assert_eq!(f.instance.as_deref(), Some("SQL3"));
    assert!(f.message.contains("from the machine that ran AgDiag"), "{}", f.message);
    assert!(f.message.contains("firewall"), "{}", f.message);
    assert_eq!(f.evidence["probes"].as_array().unwrap().len(), 2);
    assert!(f.fix.is_none() && f.fix_steps[0].manual);
}

#[test]
fn name_failing_while_ip_works_points_at_name_resolution() {
    let mut snap = healthy();
    for p in snap.probes.iter_mut().filter(|p| p.purpose == "routing" && p.subject == "SQL2" && p.via == "name") {
        p.ok = false;
        p.error = Some("no such host is known".into());
    }
    let f = single(&run(snap), "routing.url_unreachable").clone();
    assert_severity(&f, Severity::Warning);
    assert!(f.message.contains("name resolution"), "{}", f.message);
}

#[test]
fn without_routing_probes_reachability_is_not_evaluated() {
    let mut snap = healthy();
    snap.probes.retain(|p| p.purpose != "routing");
    let report = run(snap);
    assert_none(&report, "routing.url_unreachable");
    assert_eq!(status_of(&report, "routing.url_unreachable"), CheckStatus::NotEvaluated);
}

#[test]
fn failover_partner_without_a_list_is_info_with_a_load_balanced_list() {
    let mut snap = healthy();
    remove_list_rows(&mut snap, owned_by(SQL2_ID));
    let report = run(snap);
    let f = single(&report, "routing.no_list");
    assert_severity(f, Severity::Info);
    assert_eq!(f.instance.as_deref(), Some("SQL2"));
    assert!(f.message.contains("automatic failover partner") && f.message.contains("AG1-LISTENER"), "{}", f.message);
    assert!(f.message.contains("ApplicationIntent=ReadOnly"));
    let step = sql_fix(f);
    assert_eq!((step.target.as_str(), step.phase), ("SQL1", Phase::RoutingList));
    assert_eq!(
        step.text,
        "ALTER AVAILABILITY GROUP [AG1] MODIFY REPLICA ON N'SQL2' WITH (PRIMARY_ROLE (READ_ONLY_ROUTING_LIST = ((N'SQL1', N'SQL3'), N'SQL2')));"
    );
}

#[test]
fn no_list_needs_a_listener_and_readable_secondaries() {
    let mut snap = healthy();
    remove_list_rows(&mut snap, owned_by(SQL2_ID));
    for s in ALL {
        rows_mut(&mut snap, s, "availability_group_listeners").clear();
    }
    assert_none(&run(snap), "routing.no_list");

    let mut snap = healthy();
    remove_list_rows(&mut snap, owned_by(SQL2_ID));
    set_everywhere(&mut snap, "availability_replicas", |_| true, "secondary_role_allow_connections_desc", json!("NO"));
    assert_none(&run(snap), "routing.no_list");
}

#[test]
fn fix_script_sets_routing_urls_before_routing_lists() {
    let mut snap = healthy();
    set_replica(&mut snap, "SQL3", "read_only_routing_url", json!("TCP://sql3.contoso.com:5022"));
    remove_list_rows(&mut snap, owned_by(SQL2_ID));
    let report = run(snap);
    let script = report.fix_script(&ScriptOptions { checks: vec!["routing".into()], ..Default::default() });
    let url = script.find("READ_ONLY_ROUTING_URL = N'TCP://sql3.contoso.com:1433'").expect(&script);
    let list = script.find("READ_ONLY_ROUTING_LIST =").expect(&script);
    assert!(url < list, "{script}");
}

#[test]
fn hostile_ag_name_is_bracket_escaped_and_a_name_with_a_line_break_becomes_manual() {
    let mut snap = healthy();
    set_everywhere(&mut snap, "availability_groups", |_| true, "name", json!("AG]1'; --"));
    set_replica(&mut snap, "SQL3", "read_only_routing_url", null());
    let report = run(snap);
    let f = single(&report, "routing.url_missing");
    assert!(sql_fix(f).text.starts_with("ALTER AVAILABILITY GROUP [AG]]1'; --] MODIFY REPLICA"), "{}", sql_fix(f).text);

    let mut snap = healthy();
    set_everywhere(&mut snap, "availability_groups", |_| true, "name", json!("AG1\nGO"));
    set_replica(&mut snap, "SQL3", "read_only_routing_url", null());
    let report = run(snap);
    let f = single(&report, "routing.url_missing");
    assert!(f.fix.is_none() && f.fix_steps.iter().all(|s| s.manual), "{:?}", f.fix_steps);
    let script = report.fix_script(&ScriptOptions::default());
    assert!(!script.contains("AG1\nGO"), "{script}");
}

#[test]
fn missing_routing_lists_are_not_evaluated_with_the_reason() {
    let mut snap = healthy();
    for s in ALL {
        drop_key(&mut snap, s, "availability_read_only_routing_lists");
    }
    let report = run(snap);
    for check in ["routing.url_missing", "routing.target_not_readable", "routing.no_list"] {
        let result = report.checks.iter().find(|c| c.check == check).unwrap();
        assert_eq!(result.status, CheckStatus::NotEvaluated, "{check}");
        assert!(result.reason.as_deref().unwrap().contains("availability_read_only_routing_lists"), "{:?}", result.reason);
    }
}

#[test]
fn routing_url_copied_from_another_replica_is_an_error_with_the_replicas_own_url() {
    let mut snap = healthy();
    set_replica(&mut snap, "SQL3", "read_only_routing_url", json!("TCP://sql2.contoso.com:1433"));
    let report = run(snap);
    let f = single(&report, "routing.url_wrong_host");
    assert_severity(f, Severity::Error);
    assert_eq!(f.instance.as_deref(), Some("SQL3"));
    assert_eq!(f.replica.as_deref(), Some("SQL3"));
    assert!(f.message.contains("TCP://sql2.contoso.com:1433"), "{}", f.message);
    assert!(f.message.contains("machine of replica SQL2"), "{}", f.message);
    assert!(f.message.contains("SQL1 (priority 1) and SQL2 (priority 1)"), "{}", f.message);
    assert_eq!(f.evidence["other_replica"], json!("SQL2"));
    assert_eq!(f.evidence["machine"]["name"], json!("SQL3"));
    assert_eq!(f.evidence["machine"]["server_properties"]["MachineName"], json!("SQL3"));
    let step = sql_fix(f);
    assert_eq!((step.target.as_str(), step.phase), ("SQL1", Phase::RoutingUrl));
    assert_eq!(
        step.text,
        "ALTER AVAILABILITY GROUP [AG1] MODIFY REPLICA ON N'SQL3' WITH (SECONDARY_ROLE (READ_ONLY_ROUTING_URL = N'TCP://sql3.contoso.com:1433'));",
        "the proposal must not repeat the wrong host"
    );
    // The URL is otherwise well formed: no other routing check reports it.
    for other in ["routing.url_malformed", "routing.url_not_fqdn", "routing.url_port_not_tsql", "routing.url_mirroring_port"] {
        assert_none(&report, other);
    }
}

#[test]
fn routing_url_naming_an_unknown_host_is_a_warning_that_allows_for_a_cname() {
    let mut snap = healthy();
    set_replica(&mut snap, "SQL2", "read_only_routing_url", json!("TCP://sqlread.contoso.com:1433"));
    let report = run(snap);
    let f = single(&report, "routing.url_wrong_host");
    assert_severity(f, Severity::Warning);
    assert_eq!(f.instance.as_deref(), Some("SQL2"));
    assert!(f.message.contains("CNAME"), "{}", f.message);
    assert!(f.evidence.get("other_replica").is_none(), "{}", f.evidence);
    assert_eq!(f.evidence["host"], json!("sqlread.contoso.com"));
    assert!(sql_fix(f).text.contains("N'TCP://sql2.contoso.com:1433'"), "{}", sql_fix(f).text);
}

#[test]
fn routing_url_naming_the_replica_in_any_case_or_by_its_node_name_is_not_a_wrong_host() {
    let mut snap = healthy();
    set_replica(&mut snap, "SQL3", "read_only_routing_url", json!("TCP://SQL3.CONTOSO.COM:1433"));
    // A standalone instance whose physical NetBIOS name differs (renamed host alias): the node name is fine.
    set_where(&mut snap, "SQL2", "server_properties", |_| true, "ComputerNamePhysicalNetBIOS", json!("SQL2NODE"));
    set_replica(&mut snap, "SQL2", "read_only_routing_url", json!("TCP://sql2node.contoso.com:1433"));
    // An IP is routing.url_not_fqdn's business, not a wrong host.
    set_replica(&mut snap, "SQL1", "read_only_routing_url", json!("TCP://10.0.0.11:1433"));
    let report = run(snap);
    assert_none(&report, "routing.url_wrong_host");
    assert_eq!(status_of(&report, "routing.url_wrong_host"), CheckStatus::Pass);
    assert_eq!(single(&report, "routing.url_not_fqdn").instance.as_deref(), Some("SQL1"));
}

#[test]
fn routing_url_of_an_fci_naming_its_current_node_is_a_warning() {
    let mut snap = healthy();
    set_where(&mut snap, "SQL3", "server_properties", |_| true, "IsClustered", json!(1));
    set_where(&mut snap, "SQL3", "server_properties", |_| true, "ComputerNamePhysicalNetBIOS", json!("NODE3A"));
    set_replica(&mut snap, "SQL3", "read_only_routing_url", json!("TCP://node3a.contoso.com:1433"));
    let report = run(snap);
    let f = single(&report, "routing.url_wrong_host");
    assert_severity(f, Severity::Warning);
    assert!(f.message.contains("failover cluster instance"), "{}", f.message);
}
