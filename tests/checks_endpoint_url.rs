mod common;

use agdiag::checks::CheckStatus;
use agdiag::findings::{Phase, Severity};
use agdiag::fix::ScriptOptions;
use agdiag::snapshot::Row;
use common::*;
use serde_json::{Value, json};

const ALL: &[&str] = &[
    "endpoint_url.missing",
    "endpoint_url.malformed",
    "endpoint_url.loopback",
    "endpoint_url.ip_address",
    "endpoint_url.wrong_host",
    "endpoint_url.netbios",
];

const SQL3_FIX: &str = "ALTER AVAILABILITY GROUP [AG1] MODIFY REPLICA ON N'SQL3' WITH (ENDPOINT_URL = N'TCP://sql3.contoso.com:5022');";

/// Sets SQL3's endpoint_url in every instance's copy of sys.availability_replicas (the AG stores one).
fn set_sql3_url(snap: &mut agdiag::Snapshot, url: Value) {
    set_everywhere(snap, "availability_replicas", is_name("replica_server_name", "SQL3"), "endpoint_url", url);
}

fn any(_: &Row) -> bool {
    true
}

/// Only `check` (of this module) fires, once, for SQL3, with the FQDN fix on the primary.
fn only<'r>(report: &'r agdiag::Report, check: &str) -> &'r agdiag::findings::Finding {
    for other in ALL.iter().filter(|c| **c != check) {
        assert_none(report, other);
    }
    let f = single(report, check);
    assert_eq!(f.instance.as_deref(), Some("SQL3"));
    assert_eq!(f.replica.as_deref(), Some("SQL3"));
    assert_eq!(f.availability_group.as_deref(), Some("AG1"));
    assert_eq!(f.evidence["availability_replicas"]["replica_server_name"], json!("SQL3"));
    assert_eq!(f.evidence["seen_on"], json!("SQL1"));
    f
}

fn assert_fqdn_fix(f: &agdiag::findings::Finding) {
    assert_eq!(f.fix.as_deref(), Some(SQL3_FIX), "{f:#?}");
    assert_eq!(f.fix_steps.len(), 1);
    assert_eq!(f.fix_steps[0].target, "SQL1", "ALTER AVAILABILITY GROUP runs on the primary");
    assert_eq!(f.fix_steps[0].phase, Phase::ReplicaOptions);
}

#[test]
fn healthy_example_passes_every_endpoint_url_check() {
    let report = run(healthy());
    assert_all_pass(&report, ALL);
}

#[test]
fn null_url_on_the_primary_is_an_error_with_the_derived_url() {
    let mut snap = healthy();
    set_sql3_url(&mut snap, json!(null));
    let report = run(snap);
    let f = only(&report, "endpoint_url.missing");
    assert_severity(f, Severity::Error);
    assert!(f.message.contains("no endpoint URL") && f.message.contains("35250"), "{}", f.message);
    assert!(!f.message.contains("is not the primary"), "read on the primary: {}", f.message);
    assert_eq!(f.evidence["availability_replicas"]["endpoint_url"], json!(null));
    assert_fqdn_fix(f);
    // No URL, no port to compare.
    assert_none(&report, "endpoint.port_mismatch");
}

#[test]
fn null_url_only_in_a_secondarys_copy_is_not_reported() {
    // The primary's row is authoritative; a secondary without cluster access reads NULL.
    let mut snap = healthy();
    set_where(&mut snap, "SQL3", "availability_replicas", is_name("replica_server_name", "SQL3"), "endpoint_url", json!(null));
    assert_none(&run(snap), "endpoint_url.missing");
}

#[test]
fn null_url_read_on_a_secondary_says_to_confirm_on_the_primary() {
    let mut snap = healthy();
    disconnect(&mut snap, "SQL1");
    set_sql3_url(&mut snap, json!(null));
    let report = run(snap);
    let f = single(&report, "endpoint_url.missing");
    assert!(f.message.contains("is not the primary") && f.message.contains("cannot reach the failover cluster"), "{}", f.message);
}

#[test]
fn malformed_urls_say_what_is_wrong() {
    for (url, problem) in [
        ("sql3.contoso.com:5022", "does not start with TCP://"),
        ("TCP://sql3.contoso.com", "has no :port"),
        ("TCP://sql3.contoso.com:70000", "is not a TCP port"),
        ("TCP://sql3.contoso.com:5022/hadr", "unexpected text '/hadr'"),
    ] {
        let mut snap = healthy();
        set_sql3_url(&mut snap, json!(url));
        let report = run(snap);
        let f = only(&report, "endpoint_url.malformed");
        assert_severity(f, Severity::Error);
        assert!(f.message.contains(url) && f.message.contains(problem), "{url}: {}", f.message);
        assert!(f.evidence["problem"].as_str().unwrap().contains(problem));
        // The port comes from SQL3's own endpoint, not from the broken URL.
        assert_fqdn_fix(f);
    }
}

#[test]
fn loopback_url_is_an_error() {
    for url in ["TCP://localhost:5022", "TCP://127.0.0.1:5022", "TCP://[::1]:5022"] {
        let mut snap = healthy();
        set_sql3_url(&mut snap, json!(url));
        let report = run(snap);
        let f = only(&report, "endpoint_url.loopback");
        assert_severity(f, Severity::Error);
        assert!(f.message.contains("loopback") && f.message.contains("connects to its own endpoint"), "{}", f.message);
        assert_fqdn_fix(f);
    }
}

#[test]
fn ip_address_url_is_info_with_the_fqdn_recommended() {
    let mut snap = healthy();
    set_sql3_url(&mut snap, json!("TCP://10.0.0.13:5022"));
    let report = run(snap);
    let f = only(&report, "endpoint_url.ip_address");
    assert_severity(f, Severity::Info);
    assert!(f.message.contains("Kerberos") && f.message.contains("re-addressed"), "{}", f.message);
    assert!(f.remediation.contains("TCP://sql3.contoso.com:5022") && f.remediation.contains("10.0.0.13"), "{}", f.remediation);
    assert_fqdn_fix(f);
}

#[test]
fn url_naming_another_replicas_machine_is_an_error() {
    let mut snap = healthy();
    set_sql3_url(&mut snap, json!("TCP://sql2.contoso.com:5022"));
    let report = run(snap);
    let f = only(&report, "endpoint_url.wrong_host");
    assert_severity(f, Severity::Error);
    assert!(f.message.contains("SQL3's machine name is SQL3") && f.message.contains("connect to SQL2's endpoint instead"), "{}", f.message);
    assert_eq!(f.evidence["other_replica"], json!("SQL2"));
    assert_eq!(f.evidence["machine"]["server_properties"]["MachineName"], json!("SQL3"));
    assert_fqdn_fix(f);
}

#[test]
fn url_naming_an_unknown_machine_is_a_warning_that_mentions_aliases() {
    let mut snap = healthy();
    set_sql3_url(&mut snap, json!("TCP://sqlag-dr.contoso.com:5022"));
    let report = run(snap);
    let f = only(&report, "endpoint_url.wrong_host");
    assert_severity(f, Severity::Warning);
    assert!(f.message.contains("CNAME"), "{}", f.message);
}

#[test]
fn host_comparison_ignores_case_and_accepts_the_physical_name() {
    let mut snap = healthy();
    set_sql3_url(&mut snap, json!("TCP://SQL3.CONTOSO.COM:5022"));
    assert_none(&run(snap), "endpoint_url.wrong_host");

    // A renamed Windows computer: ComputerNamePhysicalNetBIOS also identifies a non-clustered machine.
    let mut snap = healthy();
    set_where(&mut snap, "SQL3", "server_properties", any, "ComputerNamePhysicalNetBIOS", json!("SQL3-HOST"));
    set_sql3_url(&mut snap, json!("TCP://sql3-host.contoso.com:5022"));
    assert_none(&run(snap), "endpoint_url.wrong_host");
}

#[test]
fn fci_url_must_name_the_virtual_network_name_not_the_node() {
    let mut snap = healthy();
    set_where(&mut snap, "SQL3", "server_properties", any, "IsClustered", json!(1));
    set_where(&mut snap, "SQL3", "server_properties", any, "ComputerNamePhysicalNetBIOS", json!("NODE3A"));
    let report = run(snap.clone());
    assert_none(&report, "endpoint_url.wrong_host"); // URL names SQL3, the virtual network name

    set_sql3_url(&mut snap, json!("TCP://node3a.contoso.com:5022"));
    let report = run(snap);
    let f = only(&report, "endpoint_url.wrong_host");
    assert_severity(f, Severity::Warning);
    assert!(f.message.contains("failover cluster instance") && f.message.contains("virtual network name SQL3"), "{}", f.message);
    assert_fqdn_fix(f);
}

#[test]
fn uncollected_replica_is_compared_with_its_replica_server_name() {
    let mut snap = healthy();
    disconnect(&mut snap, "SQL3");
    let report = run(snap.clone());
    assert_none(&report, "endpoint_url.wrong_host");
    assert_eq!(status_of(&report, "endpoint_url.wrong_host"), CheckStatus::Pass);

    set_sql3_url(&mut snap, json!("TCP://sql9.contoso.com:5022"));
    let report = run(snap);
    let f = single(&report, "endpoint_url.wrong_host");
    assert!(f.message.contains("from replica_server_name"), "{}", f.message);
    // SQL3's endpoint port is unknown, so the URL's own port is kept; its FQDN comes from the
    // other replicas' URLs.
    assert_eq!(f.fix.as_deref(), Some(SQL3_FIX));
}

#[test]
fn single_label_url_is_info_with_the_fqdn_from_the_snapshot() {
    let mut snap = healthy();
    set_sql3_url(&mut snap, json!("TCP://SQL3:5022"));
    let report = run(snap);
    let f = only(&report, "endpoint_url.netbios");
    assert_severity(f, Severity::Info);
    assert!(f.message.contains("single-label") && f.message.contains("sql3.contoso.com"), "{}", f.message);
    assert_eq!(f.evidence["derived_fqdn"]["fqdn"], json!("sql3.contoso.com"));
    assert!(f.evidence["derived_fqdn"]["from"].as_str().unwrap().contains("connected to"));
    assert_fqdn_fix(f);
}

#[test]
fn fqdn_from_the_other_replicas_suffix_or_a_dns_default_domain() {
    // AgDiag connected to SQL3 by its short name: the suffix comes from SQL1's and SQL2's URLs.
    let mut snap = healthy();
    snap.instances[2].target = "SQL3".into();
    set_sql3_url(&mut snap, json!("TCP://SQL3:5022"));
    let report = run(snap.clone());
    let f = single(&report, "endpoint_url.netbios");
    assert!(f.evidence["derived_fqdn"]["from"].as_str().unwrap().contains("DNS suffix .contoso.com"));
    assert_eq!(f.fix.as_deref(), Some(SQL3_FIX));

    // Every URL single-label and a NetBIOS domain: no safe FQDN, so a manual step with placeholders.
    for s in ["SQL1", "SQL2"] {
        set_everywhere(&mut snap, "availability_replicas", is_name("replica_server_name", s), "endpoint_url", json!(format!("TCP://{s}:5022")));
    }
    let report = run(snap.clone());
    let found = findings_of(&report, "endpoint_url.netbios");
    assert_eq!(found.len(), 3);
    let f = found.iter().find(|f| f.instance.as_deref() == Some("SQL3")).unwrap();
    assert!(f.fix.is_none(), "no broken SQL: {:?}", f.fix);
    let step = &f.fix_steps[0];
    assert!(step.manual && step.text.contains("TCP://<fqdn>:<port>") && step.text.contains("GetHostEntry"), "{}", step.text);
    let script = report.fix_script(&ScriptOptions { checks: vec!["endpoint_url.*".into()], ..Default::default() });
    assert!(script.lines().filter(|l| l.contains("<fqdn>")).all(|l| l.starts_with("--")), "{script}");

    // DEFAULT_DOMAIN() that is a DNS name gives the suffix.
    set_where(&mut snap, "SQL3", "server_properties", any, "DEFAULT_DOMAIN()", json!("corp.contoso.com"));
    let report = run(snap);
    let f = findings_of(&report, "endpoint_url.netbios").into_iter().find(|f| f.instance.as_deref() == Some("SQL3")).unwrap();
    assert_eq!(
        f.fix.as_deref(),
        Some("ALTER AVAILABILITY GROUP [AG1] MODIFY REPLICA ON N'SQL3' WITH (ENDPOINT_URL = N'TCP://sql3.corp.contoso.com:5022');")
    );
}

#[test]
fn port_and_name_fixes_for_one_replica_set_the_same_url() {
    // A single-label URL with the wrong port: both checks rewrite SQL3's URL, to the same value.
    let mut snap = healthy();
    set_sql3_url(&mut snap, json!("TCP://SQL3:5023"));
    let report = run(snap);
    let port = single(&report, "endpoint.port_mismatch");
    let name = single(&report, "endpoint_url.netbios");
    assert_eq!(port.fix.as_deref(), Some(SQL3_FIX));
    assert_eq!(name.fix.as_deref(), Some(SQL3_FIX));
    let script = report.fix_script(&ScriptOptions { checks: vec!["endpoint.*".into(), "endpoint_url.*".into()], ..Default::default() });
    assert_eq!(script.matches("ENDPOINT_URL =").count(), 1, "{script}");
}

#[test]
fn unknown_primary_gives_a_manual_step_to_run_on_it() {
    let mut snap = healthy();
    for s in ["SQL1", "SQL2", "SQL3"] {
        rows_mut(&mut snap, s, "dm_hadr_availability_group_states").clear();
        rows_mut(&mut snap, s, "dm_hadr_availability_replica_states").clear();
    }
    set_sql3_url(&mut snap, json!("TCP://localhost:5022"));
    let report = run(snap);
    let f = single(&report, "endpoint_url.loopback");
    assert!(f.fix.is_none());
    assert!(f.fix_steps[0].manual && f.fix_steps[0].text.contains("primary replica of availability group AG1 is not known"));
    assert!(f.fix_steps[0].text.contains(SQL3_FIX));
}

#[test]
fn replica_rows_denied_or_missing_are_not_evaluated_unless_the_primary_covers_them() {
    let mut snap = healthy();
    for s in ["SQL1", "SQL2", "SQL3"] {
        deny_key(&mut snap, s, "availability_replicas", 229, "The SELECT permission was denied on the object 'availability_replicas'.");
    }
    let report = run(snap);
    for check in ALL {
        let result = report.checks.iter().find(|c| c.check == *check).unwrap();
        assert_eq!(result.status, CheckStatus::NotEvaluated, "{check}");
        assert!(result.reason.as_deref().unwrap().contains("error 229"), "{check}: {:?}", result.reason);
    }

    // Not collected on a secondary: the primary reports every replica's URL, so nothing is missed.
    let mut snap = healthy();
    drop_key(&mut snap, "SQL2", "availability_replicas");
    let report = run(snap);
    for check in ALL {
        assert_eq!(status_of(&report, check), CheckStatus::Pass, "{check}");
        assert!(not_evaluated_on(&report, check).is_empty(), "{check}");
    }

    // Every instance disconnected: nothing could be looked at.
    let mut snap = healthy();
    for s in ["SQL1", "SQL2", "SQL3"] {
        disconnect(&mut snap, s);
    }
    let report = run(snap);
    for check in ALL {
        let result = report.checks.iter().find(|c| c.check == *check).unwrap();
        assert_eq!(result.status, CheckStatus::NotEvaluated, "{check}");
        assert!(result.reason.as_deref().unwrap().contains("not connected"), "{check}: {:?}", result.reason);
    }
}

#[test]
fn a_connection_target_starting_with_a_multi_byte_character_is_read_without_panicking() {
    // The `tcp:` prefix test sliced 4 bytes, which split the '€' (bytes 2..5) and panicked.
    let mut snap = healthy();
    set_sql3_url(&mut snap, json!("TCP://SQL3:5022"));
    let sql3 = snap.instances.iter_mut().find(|i| i.is_named("SQL3")).expect("SQL3 is in the example");
    sql3.target = "tc€p:sql3.contoso.com,1433".into();
    let report = run(snap);
    let f = only(&report, "endpoint_url.netbios");
    // Not the connected name (it is not a DNS name), so the suffix of the other replicas' URLs.
    assert_eq!(f.evidence["derived_fqdn"]["fqdn"], json!("sql3.contoso.com"));
    assert!(!f.evidence["derived_fqdn"]["from"].as_str().unwrap().contains("connected to"));
    assert_fqdn_fix(f);
}
