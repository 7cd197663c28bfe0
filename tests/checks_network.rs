mod common;

use agdiag::Snapshot;
use agdiag::checks::CheckStatus;
use agdiag::findings::{Phase, Severity};
use agdiag::snapshot::Probe;
use common::*;
use serde_json::json;

const ALL: &[&str] = &["network.name_resolution", "network.port_bound_elsewhere", "network.unreachable"];

/// The probes of `host:port` done `via` (`name` / `ip`).
fn probe_mut<'s>(snap: &'s mut Snapshot, host: &str, port: u16, via: &str) -> &'s mut Probe {
    snap.probes
        .iter_mut()
        .find(|p| p.host.eq_ignore_ascii_case(host) && p.port == port && p.via == via)
        .unwrap_or_else(|| panic!("no {via} probe of {host}:{port}"))
}

fn fail(snap: &mut Snapshot, host: &str, port: u16, via: &str, error: &str) {
    let p = probe_mut(snap, host, port, via);
    p.ok = false;
    p.error = Some(error.into());
}

#[test]
fn healthy_example_passes_every_network_check() {
    let report = run(healthy());
    assert_all_pass(&report, ALL);
}

#[test]
fn without_probes_the_checks_are_not_evaluated_and_say_how_to_get_them() {
    let mut snap = healthy();
    snap.probes.clear();
    let report = run(snap);
    for check in ALL {
        assert_none(&report, check);
        assert_eq!(status_of(&report, check), CheckStatus::NotEvaluated, "{check}");
        let result = report.checks.iter().find(|c| c.check == *check).unwrap();
        assert!(result.reason.as_deref().unwrap().contains("agdiag collect"), "{:?}", result.reason);
    }
}

#[test]
fn name_fails_but_ip_works_is_a_name_resolution_problem() {
    let mut snap = healthy();
    // sql2's DNS record still points to its old address.
    let p = probe_mut(&mut snap, "sql2.contoso.com", 5022, "name");
    p.ok = false;
    p.address = Some("10.0.5.12".into());
    p.error = Some("connection timed out after 3000 ms".into());
    let report = run(snap);
    let f = single(&report, "network.name_resolution");
    assert_severity(f, Severity::Error);
    assert_eq!(f.instance.as_deref(), Some("SQL2"));
    assert_eq!(f.replica.as_deref(), Some("SQL2"));
    assert_eq!(f.availability_group.as_deref(), Some("AG1"));
    assert_eq!(f.object.as_deref(), Some("sql2.contoso.com:5022"));
    for needle in ["10.0.5.12", "10.0.0.12", "stale", "connection timed out after 3000 ms", "machine that ran AgDiag", "not from one replica to another"] {
        assert!(f.message.contains(needle), "{needle}: {}", f.message);
    }
    assert_eq!(f.evidence["stale_addresses"], json!(["10.0.5.12"]));
    assert_eq!(f.evidence["answering_addresses"], json!(["10.0.0.12"]));
    assert_eq!(f.evidence["probes"].as_array().unwrap().len(), 2);
    assert!(f.fix.is_none(), "no T-SQL fixes DNS");
    let step = &f.fix_steps[0];
    assert!(step.manual && step.phase == Phase::Prerequisite);
    assert!(step.text.contains("Resolve-DnsName 'sql2.contoso.com'") && step.text.contains("hosts"), "{}", step.text);
    // Not the other diagnoses.
    assert_none(&report, "network.port_bound_elsewhere");
    assert_none(&report, "network.unreachable");
}

#[test]
fn a_name_that_does_not_resolve_is_reported_even_without_an_ip_probe() {
    let mut snap = healthy();
    snap.probes.retain(|p| !(p.host == "sql3.contoso.com" && p.port == 5022 && p.via == "ip"));
    let p = probe_mut(&mut snap, "sql3.contoso.com", 5022, "name");
    p.ok = false;
    p.address = None;
    p.error = Some("failed to resolve sql3.contoso.com: No such host is known. (os error 11001)".into());
    let report = run(snap);
    let f = single(&report, "network.name_resolution");
    assert_eq!(f.instance.as_deref(), Some("SQL3"));
    assert!(f.message.contains("does not resolve") && f.message.contains("No such host is known"), "{}", f.message);
    // No connect attempt was made: not reported as unreachable.
    assert_none(&report, "network.unreachable");
}

#[test]
fn a_listener_name_resolving_to_an_old_subnet_is_the_listener_dns_check() {
    // One condition, one check: a listener name's records are listener.dns_records'.
    let mut snap = healthy();
    let p = probe_mut(&mut snap, "AG1-LISTENER", 1433, "name");
    p.ok = false;
    p.address = Some("10.0.9.50".into());
    p.resolved = Some(vec!["10.0.9.50".into()]);
    p.error = Some("connection timed out after 3000 ms".into());
    let report = run(snap);
    assert_none(&report, "network.name_resolution");
    let f = single(&report, "listener.dns_records");
    assert_eq!(f.object.as_deref(), Some("AG1-LISTENER"));
    assert_eq!(f.availability_group.as_deref(), Some("AG1"));
}

#[test]
fn name_works_but_ip_fails_means_another_endpoint_has_the_port() {
    let mut snap = healthy();
    fail(&mut snap, "sql2.contoso.com", 5022, "ip", "connection refused");
    let report = run(snap);
    let f = single(&report, "network.port_bound_elsewhere");
    assert_severity(f, Severity::Error);
    assert_eq!(f.instance.as_deref(), Some("SQL2"));
    for needle in [
        "more than one endpoint defined on that server (another SQL instance perhaps)",
        "another instance may actually have the port bound",
        "connection refused",
        "10.0.0.12",
        "machine that ran AgDiag",
    ] {
        assert!(f.message.contains(needle), "{needle}: {}", f.message);
    }
    assert_eq!(f.evidence["ip_failed"], json!(["10.0.0.12"]));
    assert!(f.fix_steps[0].text.contains("Get-NetTCPConnection -LocalPort 5022 -State Listen"));
    assert_none(&report, "network.name_resolution");
    assert_none(&report, "network.unreachable");
}

#[test]
fn both_fail_with_the_endpoint_started_and_listening_points_to_the_firewall() {
    let mut snap = healthy();
    fail(&mut snap, "sql2.contoso.com", 5022, "name", "connection timed out after 3000 ms");
    fail(&mut snap, "sql2.contoso.com", 5022, "ip", "connection timed out after 3000 ms");
    let report = run(snap);
    let f = single(&report, "network.unreachable");
    assert_severity(f, Severity::Error);
    assert_eq!(f.instance.as_deref(), Some("SQL2"));
    assert!(f.message.contains("firewall") && f.message.contains("ONLINE on 0.0.0.0:5022"), "{}", f.message);
    assert!(f.message.contains("machine that ran AgDiag"), "{}", f.message);
    assert_eq!(f.evidence["database_mirroring_endpoints"]["state_desc"], json!("STARTED"));
    assert_eq!(f.evidence["tcp_endpoints_port"], json!(5022));
    let step = &f.fix_steps[0];
    assert!(step.manual);
    assert_eq!(step.target, "SQL2");
    assert!(
        step.text.contains(
            "New-NetFirewallRule -DisplayName 'SQL AG endpoint' -Direction Inbound -Protocol TCP -LocalPort 5022 -Action Allow"
        ),
        "{}",
        step.text
    );
    assert_none(&report, "network.name_resolution");
    assert_none(&report, "network.port_bound_elsewhere");
}

#[test]
fn both_fail_with_the_endpoint_stopped_blames_the_endpoint_not_the_firewall() {
    let mut snap = healthy();
    fail(&mut snap, "sql2.contoso.com", 5022, "name", "connection refused");
    fail(&mut snap, "sql2.contoso.com", 5022, "ip", "connection refused");
    set_where(&mut snap, "SQL2", "database_mirroring_endpoints", |_| true, "state_desc", json!("STOPPED"));
    let report = run(snap);
    let f = single(&report, "network.unreachable");
    assert!(f.message.contains("STOPPED, not STARTED") && f.message.contains("endpoint.not_started"), "{}", f.message);
    assert!(!f.message.contains("likely cause"), "{}", f.message);
}

#[test]
fn both_fail_on_a_port_the_endpoint_does_not_use_names_the_real_port() {
    let mut snap = healthy();
    for via in ["name", "ip"] {
        let p = probe_mut(&mut snap, "sql3.contoso.com", 5022, via);
        p.port = 5023;
        p.url = Some("TCP://sql3.contoso.com:5023".into());
        p.ok = false;
        p.error = Some("connection refused".into());
    }
    let report = run(snap);
    let f = single(&report, "network.unreachable");
    assert_eq!(f.object.as_deref(), Some("sql3.contoso.com:5023"));
    assert!(f.message.contains("listens on port 5022, not 5023"), "{}", f.message);
    assert!(f.fix_steps[0].text.contains("-Port 5022") && !f.fix_steps[0].text.contains("New-NetFirewallRule"), "{}", f.fix_steps[0].text);
    // The finding that holds the fix is named, and the remediation does not send the DBA to open
    // the wrong port in the firewall.
    assert!(f.message.contains("see endpoint.port_mismatch") && f.fix_steps[0].text.contains("endpoint.port_mismatch"));
    assert!(f.remediation.contains("endpoint.port_mismatch"), "{}", f.remediation);
    assert!(!f.remediation.contains("Firewall") && !f.remediation.contains("listening on 5023"), "{}", f.remediation);
}

#[test]
fn unreachable_instance_port_remediation_speaks_of_clients_not_replicas() {
    let mut snap = healthy();
    // A probe of the instance's TSQL port (purpose `instance` in the snapshot contract).
    for via in ["name", "ip"] {
        let p = probe_mut(&mut snap, "sql2.contoso.com", 1433, via);
        p.purpose = "instance".into();
        p.ok = false;
        p.error = Some("connection timed out after 3000 ms".into());
    }
    let report = run(snap);
    let f = single(&report, "network.unreachable");
    assert!(!f.remediation.contains("endpoint") && !f.remediation.contains("pair of replicas"), "{}", f.remediation);
    assert!(f.remediation.contains("TCP/IP enabled") && f.remediation.contains("from the clients"), "{}", f.remediation);
}

#[test]
fn listener_and_routing_failures_are_left_to_their_own_checks() {
    let mut snap = healthy();
    fail(&mut snap, "AG1-LISTENER", 1433, "name", "connection timed out");
    fail(&mut snap, "AG1-LISTENER", 1433, "ip", "connection timed out");
    let report = run(snap);
    assert_none(&report, "network.unreachable");
    assert_none(&report, "network.name_resolution");
}
