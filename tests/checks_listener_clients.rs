//! The listener as clients see it: `listener.dns_records` (what the listener name resolves to,
//! against its IP rows) and `listener.kerberos` (the auth_scheme of AgDiag's own login through the
//! listener), on the healthy example and the multi-subnet, DNN and Linux topologies.

mod common;

use agdiag::Snapshot;
use agdiag::checks::CheckStatus;
use agdiag::findings::{Phase, Severity};
use agdiag::snapshot::{Probe, Row};
use common::*;
use serde_json::json;

const MULTI_SUBNET: &str = include_str!("fixtures/topologies/multi-subnet-healthy.json");
const DNN: &str = include_str!("fixtures/topologies/dnn-healthy.json");
const LINUX: &str = include_str!("fixtures/topologies/linux-pacemaker-3-replica.json");
const BOTH: &[&str] = &["listener.dns_records", "listener.kerberos"];

fn load(text: &str) -> Snapshot {
    Snapshot::from_json(text).expect("fixture parses")
}

fn listener_probe<'s>(snap: &'s mut Snapshot, via: &str) -> &'s mut Probe {
    snap.probes
        .iter_mut()
        .find(|p| p.purpose == "listener" && p.via == via)
        .unwrap_or_else(|| panic!("no listener {via} probe"))
}

/// The by-name probe of the listener now resolves to `addresses` (and connected to the first).
fn resolves_to(snap: &mut Snapshot, addresses: &[&str]) {
    let p = listener_probe(snap, "name");
    p.resolved = Some(addresses.iter().map(|a| a.to_string()).collect());
    p.address = addresses.first().map(|a| a.to_string());
}

/// AgDiag's login through the listener got `scheme` (`KERBEROS`, `NTLM`, `SQL`).
fn login_scheme(snap: &mut Snapshot, scheme: &str) {
    let p = listener_probe(snap, "login");
    let row = p.dm_exec_connections.as_ref().expect("login row");
    let mut columns: serde_json::Map<String, serde_json::Value> = row.columns().map(|(k, v)| (k.to_string(), v.clone())).collect();
    columns.insert("auth_scheme".into(), json!(scheme));
    p.dm_exec_connections = Some(Row::from(columns));
}

fn reason_of(report: &agdiag::Report, check: &str) -> String {
    let mut text = report.checks.iter().find(|c| c.check == check).and_then(|c| c.reason.clone()).unwrap_or_default();
    for (subject, reason) in not_evaluated_on(report, check) {
        text.push_str(&format!(" | {subject}: {reason}"));
    }
    text
}

// ---------------------------------------------------------------------------------------------
// listener.dns_records
// ---------------------------------------------------------------------------------------------

#[test]
fn the_healthy_topologies_pass_both_checks() {
    assert_all_pass(&run(healthy()), BOTH);
    assert_all_pass(&run(load(DNN)), BOTH);
    assert_all_pass(&run(load(LINUX)), BOTH);
}

#[test]
fn a_listener_name_without_a_record_is_an_error_and_not_a_network_finding() {
    let mut snap = healthy();
    let p = listener_probe(&mut snap, "name");
    p.ok = false;
    p.address = None;
    p.resolved = None;
    p.error = Some("name resolution failed: failed to lookup address information: Name or service not known".into());
    let report = run(snap);
    let f = single(&report, "listener.dns_records");
    assert_severity(f, Severity::Error);
    assert_eq!(f.instance.as_deref(), Some("SQL1"));
    assert_eq!(f.availability_group.as_deref(), Some("AG1"));
    assert_eq!(f.object.as_deref(), Some("AG1-LISTENER"));
    for needle in ["has no DNS record", "Name or service not known", "machine that ran AgDiag"] {
        assert!(f.message.contains(needle), "{needle}: {}", f.message);
    }
    let step = &f.fix_steps[0];
    assert!(step.manual && step.phase == Phase::Prerequisite);
    assert!(step.text.contains("Update-ClusterNetworkNameResource") && step.text.contains("Resolve-DnsName 'AG1-LISTENER'"), "{}", step.text);
    // One condition, one check.
    assert_none(&report, "network.name_resolution");
}

#[test]
fn a_record_naming_an_address_the_listener_does_not_have_is_an_error() {
    let mut snap = healthy();
    resolves_to(&mut snap, &["10.0.9.50"]);
    let p = listener_probe(&mut snap, "name");
    p.ok = false;
    p.error = Some("connection timed out after 3000 ms".into());
    let report = run(snap);
    let f = single(&report, "listener.dns_records");
    assert_severity(f, Severity::Error);
    assert!(f.message.contains("resolves to 10.0.9.50 but its IP addresses are 10.0.0.50"), "{}", f.message);
    assert_eq!(f.evidence["foreign_addresses"], json!(["10.0.9.50"]));
    assert_eq!(f.evidence["resolved"], json!(["10.0.9.50"]));
    assert!(f.evidence.get("resolved_note").is_none());
    assert!(
        f.fix_steps[0].text.contains("Remove-DnsServerResourceRecord -ZoneName <zone> -RRType A -Name 'AG1-LISTENER' -RecordData '10.0.9.50'"),
        "{}",
        f.fix_steps[0].text
    );
    assert_none(&report, "network.name_resolution");
    assert_none(&report, "listener.unreachable"); // the IP answers
}

#[test]
fn a_stale_record_among_correct_ones_is_still_an_error() {
    // The name answers (the good record came first), but every other attempt goes to the stale one.
    let mut snap = healthy();
    resolves_to(&mut snap, &["10.0.0.50", "10.0.7.50"]);
    let report = run(snap);
    let f = single(&report, "listener.dns_records");
    assert_severity(f, Severity::Error);
    assert_eq!(f.evidence["foreign_addresses"], json!(["10.0.7.50"]));
}

#[test]
fn snapshots_without_the_resolved_list_are_judged_on_the_address_the_probe_used() {
    let mut snap = healthy();
    let p = listener_probe(&mut snap, "name");
    p.resolved = None;
    p.address = Some("10.0.9.50".into());
    p.ok = false;
    p.error = Some("connection timed out after 3000 ms".into());
    let report = run(snap);
    let f = single(&report, "listener.dns_records");
    assert_severity(f, Severity::Error);
    assert!(f.evidence["resolved_note"].as_str().unwrap().contains("only the address the by-name probe used"));

    // The same older snapshot with a good address: nothing more can be said, and nothing is wrong.
    let mut snap = healthy();
    listener_probe(&mut snap, "name").resolved = None;
    assert_all_pass(&run(snap), &["listener.dns_records"]);
}

#[test]
fn a_multi_subnet_listener_with_every_subnet_registered_is_information() {
    // The fixture's DNS returns both listener IPs (RegisterAllProvidersIP = 1, the default).
    let report = run(load(MULTI_SUBNET));
    let f = single(&report, "listener.dns_records");
    assert_severity(f, Severity::Info);
    for needle in ["resolves to 2 addresses (10.0.0.50, 10.2.0.50)", "RegisterAllProvidersIP = 1", "every attempt"] {
        assert!(f.message.contains(needle), "{needle}: {}", f.message);
    }
    assert!(f.remediation.contains("MultiSubnetFailover=True"), "{}", f.remediation);
}

#[test]
fn a_multi_subnet_listener_with_one_record_points_at_the_ttl() {
    let mut snap = load(MULTI_SUBNET);
    resolves_to(&mut snap, &["10.0.0.50"]);
    let report = run(snap);
    let f = single(&report, "listener.dns_records");
    assert_severity(f, Severity::Info);
    assert!(f.message.contains("RegisterAllProvidersIP = 0") && f.message.contains("HostRecordTTL"), "{}", f.message);
}

#[test]
fn a_name_that_still_names_only_the_offline_subnet_is_a_warning() {
    let mut snap = load(MULTI_SUBNET);
    resolves_to(&mut snap, &["10.2.0.50"]);
    let p = listener_probe(&mut snap, "name");
    p.ok = false;
    p.error = Some("connection timed out after 3000 ms".into());
    let report = run(snap);
    let f = single(&report, "listener.dns_records");
    assert_severity(f, Severity::Warning);
    assert!(f.message.contains("resolves only to 10.2.0.50") && f.message.contains("ONLINE listener IP is 10.0.0.50"), "{}", f.message);
    assert_none(&report, "network.name_resolution");
}

#[test]
fn a_dnn_resolving_to_every_node_is_fine_but_no_record_is_not() {
    let report = run(load(DNN));
    assert_all_pass(&report, &["listener.dns_records"]);

    let mut snap = load(DNN);
    let p = listener_probe(&mut snap, "name");
    p.ok = false;
    p.address = None;
    p.resolved = None;
    p.error = Some("name resolution failed: no such host: AG1-DNN".into());
    let report = run(snap);
    let f = single(&report, "listener.dns_records");
    assert_severity(f, Severity::Error);
    assert!(f.message.contains("AG1-DNN") && f.message.contains("has no DNS record"), "{}", f.message);
}

#[test]
fn on_linux_the_record_is_an_administrators_job() {
    let mut snap = load(LINUX);
    let p = listener_probe(&mut snap, "name");
    p.ok = false;
    p.address = None;
    p.resolved = None;
    p.error = Some("name resolution failed: no such host: AG1-LISTENER".into());
    let report = run(snap);
    let f = single(&report, "listener.dns_records");
    assert!(f.fix_steps[0].text.contains("does not register DNS records (CLUSTER_TYPE EXTERNAL or NONE)"), "{}", f.fix_steps[0].text);
    assert!(!f.fix_steps[0].text.contains("Update-ClusterNetworkNameResource"));
}

#[test]
fn an_ipv6_link_local_address_is_not_a_foreign_record() {
    let mut snap = healthy();
    resolves_to(&mut snap, &["10.0.0.50", "fe80::1c2d:3e4f:5a6b:7c8d"]);
    assert_all_pass(&run(snap), &["listener.dns_records"]);
}

#[test]
fn without_probes_neither_check_is_evaluated() {
    let mut snap = healthy();
    snap.probes.clear();
    let report = run(snap);
    for check in BOTH {
        assert_eq!(status_of(&report, check), CheckStatus::NotEvaluated, "{check}");
        assert!(reason_of(&report, check).contains("agdiag collect"), "{}", reason_of(&report, check));
    }
}

#[test]
fn without_a_listener_both_checks_pass_with_nothing_to_judge() {
    let mut snap = healthy();
    for s in ["SQL1", "SQL2", "SQL3"] {
        remove_where(&mut snap, s, "availability_group_listeners", |_| true);
        remove_where(&mut snap, s, "availability_group_listener_ip_addresses", |_| true);
    }
    snap.probes.retain(|p| p.purpose != "listener");
    let report = run(snap);
    assert_all_pass(&report, BOTH);
}

// ---------------------------------------------------------------------------------------------
// listener.kerberos
// ---------------------------------------------------------------------------------------------

#[test]
fn ntlm_through_the_listener_is_a_warning_with_the_setspn_command() {
    let mut snap = healthy();
    login_scheme(&mut snap, "NTLM");
    let report = run(snap);
    let f = single(&report, "listener.kerberos");
    assert_severity(f, Severity::Warning);
    assert_eq!(f.instance.as_deref(), Some("SQL1"));
    assert_eq!(f.availability_group.as_deref(), Some("AG1"));
    for needle in ["got NTLM, not Kerberos", "MSSQLSvc/AG1-LISTENER.contoso.com:1433", "CONTOSO\\svc_sql", "delegation", "double-hop"] {
        assert!(f.message.contains(needle), "{needle}: {}", f.message);
    }
    assert!(f.fix.is_none(), "no T-SQL registers an SPN");
    let step = &f.fix_steps[0];
    assert!(step.manual);
    assert!(step.text.contains("setspn -S MSSQLSvc/AG1-LISTENER.contoso.com:1433 CONTOSO\\svc_sql"), "{}", step.text);
    assert!(step.text.contains("setspn -S MSSQLSvc/AG1-LISTENER:1433 CONTOSO\\svc_sql"), "{}", step.text);
    assert_eq!(f.evidence["login_probe"]["dm_exec_connections"]["auth_scheme"], json!("NTLM"));
}

#[test]
fn a_virtual_account_gets_the_computer_account_and_a_warning_about_failover() {
    let mut snap = healthy();
    login_scheme(&mut snap, "NTLM");
    set_where(
        &mut snap,
        "SQL1",
        "dm_server_services",
        |r| r.str("servicename").is_some_and(|n| n.starts_with("SQL Server (")),
        "service_account",
        json!("NT Service\\MSSQLSERVER"),
    );
    let report = run(snap);
    let f = single(&report, "listener.kerberos");
    assert!(f.fix_steps[0].text.contains("setspn -S MSSQLSvc/AG1-LISTENER.contoso.com:1433 CONTOSO\\SQL1$"), "{}", f.fix_steps[0].text);
    assert!(f.message.contains("same domain account or gMSA"), "{}", f.message);
}

#[test]
fn sql_authentication_cannot_judge_kerberos() {
    let mut snap = healthy();
    login_scheme(&mut snap, "SQL");
    let report = run(snap);
    assert_none(&report, "listener.kerberos");
    assert_eq!(status_of(&report, "listener.kerberos"), CheckStatus::NotEvaluated);
    assert!(reason_of(&report, "listener.kerberos").contains("SQL Server authentication (auth_scheme SQL)"));
}

#[test]
fn a_snapshot_without_a_login_probe_or_with_a_failed_login_says_so() {
    let mut snap = healthy();
    snap.probes.retain(|p| p.via != "login");
    let report = run(snap);
    assert_eq!(status_of(&report, "listener.kerberos"), CheckStatus::NotEvaluated);
    assert!(reason_of(&report, "listener.kerberos").contains("records no login through the listener"));
    // The TCP checks ignore login probes either way.
    assert_all_pass(&report, &["listener.unreachable", "network.name_resolution", "listener.dns_records"]);

    let mut snap = healthy();
    let p = listener_probe(&mut snap, "login");
    p.ok = false;
    p.dm_exec_connections = None;
    p.error = Some("login failed: error 18456: Login failed for user 'CONTOSO\\dba'.".into());
    let report = run(snap);
    assert_eq!(status_of(&report, "listener.kerberos"), CheckStatus::NotEvaluated);
    assert!(reason_of(&report, "listener.kerberos").contains("18456"), "{}", reason_of(&report, "listener.kerberos"));
    // A failed login is no TCP finding.
    assert_none(&report, "network.name_resolution");
    assert_none(&report, "listener.unreachable");
}

#[test]
fn kerberos_through_a_dnn_is_judged_on_its_port() {
    let mut snap = load(DNN);
    login_scheme(&mut snap, "NTLM");
    let report = run(snap);
    let f = single(&report, "listener.kerberos");
    assert!(f.fix_steps[0].text.contains("MSSQLSvc/AG1-DNN.contoso.com:6789"), "{}", f.fix_steps[0].text);
}
