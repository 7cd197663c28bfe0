mod common;

use agdiag::checks::CheckStatus;
use agdiag::findings::{Phase, Severity};
use agdiag::snapshot::Row;
use common::*;
use serde_json::json;

const ALL: &[&str] = &[
    "listener.port_not_set",
    "listener.no_online_ip",
    "listener.not_listening",
    "listener.unreachable",
    "listener.multi_subnet",
    "listener.missing_for_routing",
];
const SERVERS: &[&str] = &["SQL1", "SQL2", "SQL3"];
const LISTENERS: &str = "availability_group_listeners";
const IPS: &str = "availability_group_listener_ip_addresses";

fn any(_: &Row) -> bool {
    true
}

/// Applies a catalog change on every replica (the listener catalog is cluster-wide).
fn set_all(snap: &mut agdiag::Snapshot, key: &str, column: &str, value: serde_json::Value) {
    for s in SERVERS {
        set_where(snap, s, key, any, column, value.clone());
    }
}

fn second_subnet_ip() -> serde_json::Value {
    json!({
        "listener_id": "8f0c2a4e-61b7-4d3c-9a15-7e2b9c0d4f66", "ip_address": "10.1.0.50",
        "ip_subnet_mask": "255.255.255.0", "is_dhcp": false, "network_subnet_ip": "10.1.0.0",
        "network_subnet_prefix_length": 24, "network_subnet_ipv4_mask": "255.255.255.0",
        "state": 0, "state_desc": "OFFLINE"
    })
}

#[test]
fn healthy_example_passes_every_listener_check() {
    let report = run(healthy());
    assert_all_pass(&report, ALL);
}

#[test]
fn listener_created_in_cluster_manager_without_a_port() {
    let mut snap = healthy();
    set_all(&mut snap, LISTENERS, "port", null());
    let report = run(snap);
    let f = single(&report, "listener.port_not_set");
    assert_severity(f, Severity::Error);
    assert_eq!(f.instance.as_deref(), Some("SQL1"));
    assert_eq!(f.availability_group.as_deref(), Some("AG1"));
    assert_eq!(f.object.as_deref(), Some("AG1-LISTENER"));
    assert_eq!(f.evidence["availability_group_listeners"]["port"], json!(null));
    assert!(f.message.contains("port is NULL"), "{}", f.message);
    assert_eq!(f.fix.as_deref(), Some("ALTER AVAILABILITY GROUP [AG1] MODIFY LISTENER N'AG1-LISTENER' (PORT = 1433);"));
    assert_eq!(f.fix_steps[0].phase, Phase::Listener);
    assert_eq!(f.fix_steps[0].target, "SQL1");
    // Without a port the TCP listener check has nothing to compare.
    assert_none(&report, "listener.not_listening");
}

#[test]
fn listener_names_that_only_an_expression_could_write_become_manual_steps() {
    // MODIFY LISTENER takes a string literal: N'a' + NCHAR(10) + N'b' would not parse.
    for hostile in ["AG1-LISTENER\nGO", "AG1-$(LISTENER)"] {
        let mut snap = healthy();
        set_all(&mut snap, LISTENERS, "port", null());
        set_all(&mut snap, LISTENERS, "dns_name", json!(hostile));
        let report = run(snap);
        let f = single(&report, "listener.port_not_set");
        assert_eq!(f.fix, None, "{:?}", f.fix_steps);
        assert!(f.fix_steps[0].manual && f.fix_steps[0].text.contains("by hand"), "{:?}", f.fix_steps);
    }
    // A quote is fine: doubled inside the literal.
    let mut snap = healthy();
    set_all(&mut snap, LISTENERS, "port", null());
    set_all(&mut snap, LISTENERS, "dns_name", json!("AG1-O'LISTENER"));
    let f = run(snap).findings.into_iter().find(|f| f.check == "listener.port_not_set").unwrap();
    assert_eq!(f.fix.as_deref(), Some("ALTER AVAILABILITY GROUP [AG1] MODIFY LISTENER N'AG1-O''LISTENER' (PORT = 1433);"));
}

#[test]
fn port_zero_is_not_null_and_does_not_trigger_port_not_set() {
    let mut snap = healthy();
    set_all(&mut snap, LISTENERS, "port", json!(1433));
    assert_none(&run(snap), "listener.port_not_set");
}

#[test]
fn listener_with_every_ip_offline_or_failed() {
    let mut snap = healthy();
    set_all(&mut snap, IPS, "state", json!(3));
    set_all(&mut snap, IPS, "state_desc", json!("FAILED"));
    let report = run(snap);
    let f = single(&report, "listener.no_online_ip");
    assert_severity(f, Severity::Error);
    assert!(f.message.contains("10.0.0.50 FAILED"), "{}", f.message);
    assert_eq!(f.evidence["availability_group_listener_ip_addresses"][0]["state_desc"], json!("FAILED"));
    assert_eq!(f.fix.as_deref(), Some("ALTER AVAILABILITY GROUP [AG1] RESTART LISTENER N'AG1-LISTENER';"));
    assert!(f.fix_steps.iter().any(|s| s.manual && s.text.contains("Get-ClusterResource")));
    assert_none(&report, "listener.not_listening");
}

#[test]
fn multi_subnet_listener_with_one_ip_online_is_fine_for_no_online_ip_but_needs_multisubnetfailover() {
    let mut snap = healthy();
    for s in SERVERS {
        push_row(&mut snap, s, IPS, second_subnet_ip());
    }
    let report = run(snap);
    assert_none(&report, "listener.no_online_ip");
    assert_none(&report, "listener.not_listening"); // the OFFLINE IP of the other subnet is not expected to listen
    let f = single(&report, "listener.multi_subnet");
    assert_severity(f, Severity::Info);
    assert!(f.message.contains("2 subnets") && f.message.contains("10.0.0.0/24") && f.message.contains("10.1.0.0/24"), "{}", f.message);
    assert!(f.remediation.contains("MultiSubnetFailover=True") && f.remediation.contains("tcp:AG1-LISTENER,1433"));
    assert_eq!(f.evidence["subnets"], json!(["10.0.0.0/24", "10.1.0.0/24"]));
}

#[test]
fn two_ips_in_the_same_subnet_are_not_multi_subnet() {
    let mut snap = healthy();
    for s in SERVERS {
        let mut ip = second_subnet_ip();
        ip["ip_address"] = json!("10.0.0.51");
        ip["network_subnet_ip"] = json!("10.0.0.0");
        push_row(&mut snap, s, IPS, ip);
    }
    assert_none(&run(snap), "listener.multi_subnet");
}

#[test]
fn dnn_listener_needs_multisubnetfailover_and_its_port() {
    let mut snap = healthy();
    set_all(&mut snap, LISTENERS, "is_distributed_network_name", json!(true));
    set_all(&mut snap, LISTENERS, "port", json!(6789));
    let report = run(snap);
    let f = single(&report, "listener.multi_subnet");
    assert!(f.message.contains("distributed network name (DNN)") && f.message.contains("6789"), "{}", f.message);
    assert!(f.remediation.contains("tcp:AG1-LISTENER,6789"), "{}", f.remediation);
    // A DNN has no VIP, so the TCP listener comparison does not apply.
    assert_none(&report, "listener.not_listening");
}

#[test]
fn primary_without_a_tsql_row_for_the_listener_ip_is_not_listening() {
    let mut snap = healthy();
    remove_where(&mut snap, "SQL1", "dm_tcp_listener_states", is_name("ip_address", "10.0.0.50"));
    let report = run(snap);
    let f = single(&report, "listener.not_listening");
    assert_severity(f, Severity::Error);
    assert_eq!(f.instance.as_deref(), Some("SQL1"));
    assert_eq!(f.evidence["expected"], json!(["10.0.0.50:1433"]));
    assert_eq!(f.evidence["dm_tcp_listener_states"].as_array().unwrap().len(), 4);
    assert!(f.message.contains("19486") && f.message.contains("[::]:1433"), "{}", f.message);
    assert_eq!(f.fix.as_deref(), Some("ALTER AVAILABILITY GROUP [AG1] RESTART LISTENER N'AG1-LISTENER';"));
}

#[test]
fn a_listener_row_on_another_port_or_of_another_type_does_not_count() {
    let mut snap = healthy();
    set_where(&mut snap, "SQL1", "dm_tcp_listener_states", is_name("ip_address", "10.0.0.50"), "port", json!(1434));
    assert_eq!(single(&run(snap), "listener.not_listening").evidence["expected"], json!(["10.0.0.50:1433"]));

    // Near miss: the secondaries have no listener row, which is correct.
    let snap = healthy();
    assert_none(&run(snap), "listener.not_listening");
}

#[test]
fn listener_not_evaluated_when_the_primary_was_not_collected() {
    let mut snap = healthy();
    disconnect(&mut snap, "SQL1");
    let report = run(snap);
    assert_none(&report, "listener.not_listening");
    assert_eq!(status_of(&report, "listener.not_listening"), CheckStatus::NotEvaluated);
}

#[test]
fn listener_unreachable_by_name_and_ip() {
    let mut snap = healthy();
    for p in snap.probes.iter_mut().filter(|p| p.purpose == "listener") {
        p.ok = false;
        p.error = Some("connection timed out after 3000 ms".into());
    }
    let report = run(snap);
    let f = single(&report, "listener.unreachable");
    assert_severity(f, Severity::Error);
    assert_eq!(f.object.as_deref(), Some("AG1-LISTENER"));
    assert_eq!(f.availability_group.as_deref(), Some("AG1"));
    assert_eq!(f.evidence["probes"].as_array().unwrap().len(), 2);
    for needle in ["port 1433", "10.0.0.50", "connection timed out after 3000 ms", "machine that ran AgDiag", "firewall"] {
        assert!(f.message.contains(needle), "{needle}: {}", f.message);
    }
    assert!(f.fix_steps[0].text.contains("-LocalPort 1433"), "{}", f.fix_steps[0].text);
}

#[test]
fn listener_reachable_by_ip_only_is_not_unreachable() {
    let mut snap = healthy();
    let p = snap.probes.iter_mut().find(|p| p.purpose == "listener" && p.via == "name").unwrap();
    p.ok = false;
    p.address = Some("10.0.9.50".into());
    p.resolved = Some(vec!["10.0.9.50".into()]);
    p.error = Some("connection timed out after 3000 ms".into());
    let report = run(snap);
    assert_none(&report, "listener.unreachable");
    single(&report, "listener.dns_records");
}

#[test]
fn listener_unreachable_without_probes_is_not_evaluated() {
    let mut snap = healthy();
    snap.probes.clear();
    let report = run(snap);
    assert_eq!(status_of(&report, "listener.unreachable"), CheckStatus::NotEvaluated);
}

#[test]
fn routing_lists_without_a_listener() {
    let mut snap = healthy();
    for s in SERVERS {
        remove_where(&mut snap, s, LISTENERS, any);
        remove_where(&mut snap, s, IPS, any);
    }
    snap.probes.retain(|p| p.purpose != "listener");
    let report = run(snap);
    let f = single(&report, "listener.missing_for_routing");
    assert_severity(f, Severity::Warning);
    assert_eq!(f.object.as_deref(), Some("AG1"));
    assert!(f.message.contains("only applies") && f.message.contains("SQL1, SQL2"), "{}", f.message);
    assert_eq!(f.evidence["availability_read_only_routing_lists"].as_array().unwrap().len(), 6);
    assert!(f.fix_steps[0].manual && f.fix_steps[0].text.contains("ALTER AVAILABILITY GROUP [AG1] ADD LISTENER"));
    // No listener and no listener probe: nothing to reach.
    assert_none(&report, "listener.unreachable");
}

#[test]
fn no_listener_and_no_routing_is_fine() {
    let mut snap = healthy();
    for s in SERVERS {
        remove_where(&mut snap, s, LISTENERS, any);
        remove_where(&mut snap, s, "availability_read_only_routing_lists", any);
    }
    assert_none(&run(snap), "listener.missing_for_routing");
}

#[test]
fn listener_catalog_not_collected_is_not_evaluated() {
    let mut snap = healthy();
    for s in SERVERS {
        deny_key(&mut snap, s, LISTENERS, 229, "The SELECT permission was denied on the object 'availability_group_listeners'");
    }
    let report = run(snap);
    for check in ["listener.port_not_set", "listener.no_online_ip", "listener.multi_subnet", "listener.missing_for_routing"] {
        assert_none(&report, check);
        assert_eq!(status_of(&report, check), CheckStatus::NotEvaluated, "{check}");
    }
}
