mod common;

use agdiag::connection_string::{check_connection_string, parse_server, ConnectionString, CHECKS, DATABASE_KEYS, SERVER_KEYS};
use agdiag::findings::{Finding, Severity};
use agdiag::Snapshot;
use common::*;
use serde_json::json;

const GOOD: &str = "Server=tcp:AG1-LISTENER,1433;Database=SalesDB;ApplicationIntent=ReadOnly;MultiSubnetFailover=True";

fn check(text: &str, snap: &Snapshot) -> Vec<Finding> {
    check_connection_string(text, snap)
}

fn only<'f>(findings: &'f [Finding], check: &str) -> &'f Finding {
    let found: Vec<&Finding> = findings.iter().filter(|f| f.check == check).collect();
    assert_eq!(found.len(), 1, "expected one {check}, got {findings:#?}");
    found[0]
}

fn none_of(findings: &[Finding], check: &str) {
    assert!(findings.iter().all(|f| f.check != check), "unexpected {check}: {findings:#?}");
}

fn value<'c>(cs: &'c ConnectionString, key: &str) -> &'c str {
    &cs.pairs.iter().find(|p| p.key == key).unwrap_or_else(|| panic!("no {key} in {cs:?}")).value
}

fn dnn(snap: &mut Snapshot, port: i64) {
    set_everywhere(snap, "availability_group_listeners", |_| true, "is_distributed_network_name", json!(true));
    set_everywhere(snap, "availability_group_listeners", |_| true, "port", json!(port));
}

fn second_subnet(snap: &mut Snapshot) {
    for s in ["SQL1", "SQL2", "SQL3"] {
        push_row(
            snap,
            s,
            "availability_group_listener_ip_addresses",
            json!({"listener_id": "8f0c2a4e-61b7-4d3c-9a15-7e2b9c0d4f66", "ip_address": "10.1.0.50", "ip_subnet_mask": "255.255.255.0",
                   "is_dhcp": false, "network_subnet_ip": "10.1.0.0", "network_subnet_prefix_length": 24, "state": 0, "state_desc": "OFFLINE"}),
        );
    }
}

// --- Parsing -------------------------------------------------------------------------------------

#[test]
fn quoting_rules_of_ado_net_odbc_and_ole_db() {
    let cs = ConnectionString::parse(
        r#" Server = tcp:AG1-LISTENER,1433 ; Password="a""b;c=d" ; User ID='it''s' ; PWD={x}}y;z} ; Key==Name=v ;;"#,
    );
    assert!(cs.problems.is_empty(), "{:?}", cs.problems);
    assert_eq!(value(&cs, "Server"), "tcp:AG1-LISTENER,1433");
    assert_eq!(value(&cs, "Password"), "a\"b;c=d");
    assert_eq!(value(&cs, "User ID"), "it's");
    assert_eq!(value(&cs, "PWD"), "x}y;z");
    assert_eq!(value(&cs, "Key=Name"), "v");
}

#[test]
fn keywords_are_case_and_space_insensitive_with_synonyms_and_the_last_wins() {
    for key in ["Server", "SERVER", "Data Source", "datasource", "Address", "Addr", "Network Address"] {
        let cs = ConnectionString::parse(&format!("{key}=sql1"));
        assert_eq!(cs.get(SERVER_KEYS).map(|p| p.value.as_str()), Some("sql1"), "{key}");
    }
    let cs = ConnectionString::parse("Initial Catalog=a;Database=b");
    assert_eq!(cs.get(DATABASE_KEYS).unwrap().value, "b");
    let snap = healthy();
    for intent in ["ApplicationIntent=ReadOnly", "Application Intent=readonly", "APPLICATIONINTENT = READONLY"] {
        let text = format!("Server=AG1-LISTENER;Database=SalesDB;{intent};Multi Subnet Failover=yes");
        assert!(check(&text, &snap).is_empty(), "{intent}: {:#?}", check(&text, &snap));
    }
}

#[test]
fn unterminated_quotes_and_stray_text_are_problems_by_position_only() {
    let cs = ConnectionString::parse("Server=sql1;Database=\"SalesDB;Password=hunter2");
    assert_eq!(cs.problems.len(), 1);
    assert!(cs.problems[0].contains("'Database'") && cs.problems[0].contains("no closing \""), "{:?}", cs.problems);
    assert!(cs.pairs.iter().all(|p| p.key != "Database"), "a swallowed value is dropped");
    let cs = ConnectionString::parse("Password=abc;def;Server=x");
    assert_eq!(cs.problems, vec!["text without '=' at character 14".to_string()]);
    assert_eq!(value(&cs, "Server"), "x");
}

#[test]
fn server_values_with_protocol_instance_and_port() {
    let s = parse_server("tcp:AG1-LISTENER,1433");
    assert_eq!((s.protocol.as_deref(), s.host.as_str(), s.instance.as_deref(), s.port), (Some("tcp"), "AG1-LISTENER", None, Some(1433)));
    let s = parse_server("TCP:sql1.contoso.com\\INST1, 1500");
    assert_eq!((s.host.as_str(), s.instance.as_deref(), s.port), ("sql1.contoso.com", Some("INST1"), Some(1500)));
    let s = parse_server("SQL2\\INST1");
    assert_eq!((s.host.as_str(), s.instance.as_deref(), s.port), ("SQL2", Some("INST1"), None));
    let s = parse_server("ag1-listener,abc");
    assert_eq!((s.port, s.bad_port.as_deref()), (None, Some("abc")));
}

#[test]
fn a_server_value_starting_with_a_multi_byte_character_is_not_a_protocol() {
    // The protocol prefix test sliced by byte length, splitting the '€' (bytes 2..5): a panic.
    let s = parse_server("tc€p:ag1-listener,1433");
    assert_eq!((s.protocol.as_deref(), s.host.as_str(), s.port), (None, "tc€p:ag1-listener", Some(1433)));
    let s = parse_server("é");
    assert_eq!((s.protocol.as_deref(), s.host.as_str(), s.port), (None, "é", None));
    let findings = check("Server=tc€p:é,1433;ApplicationIntent=ReadOnly", &healthy());
    assert!(!findings.is_empty(), "an unknown server is reported, not a crash");
}

// --- Findings ------------------------------------------------------------------------------------

#[test]
fn the_seed_example_against_the_healthy_ag_is_clean() {
    let snap = healthy();
    assert!(check(GOOD, &snap).is_empty(), "{:#?}", check(GOOD, &snap));
    // The listener's FQDN is the listener too.
    let fqdn = "Data Source=ag1-listener.contoso.com,1433;Initial Catalog=salesdb;ApplicationIntent=ReadOnly";
    assert!(check(fqdn, &snap).is_empty(), "{:#?}", check(fqdn, &snap));
}

#[test]
fn a_replica_name_instead_of_the_listener_is_a_warning() {
    let findings = check("Server=tcp:sql2.contoso.com,1433;Database=SalesDB;ApplicationIntent=ReadOnly", &healthy());
    let f = only(&findings, "connection_string.server_not_listener");
    assert_eq!(f.severity, Severity::Warning);
    assert_eq!(f.availability_group.as_deref(), Some("AG1"));
    assert!(f.message.contains("the replica SQL2") && f.message.contains("does not follow a failover"), "{}", f.message);
    assert!(f.remediation.contains("Server=tcp:AG1-LISTENER,1433;Database=SalesDB;ApplicationIntent=ReadOnly"));
    assert_eq!(f.evidence["server"]["host"], json!("sql2.contoso.com"));
}

#[test]
fn a_replica_ip_is_recognised_from_the_probes() {
    let findings = check("Server=10.0.0.13;Database=SalesDB", &healthy());
    assert!(only(&findings, "connection_string.server_not_listener").message.contains("the replica SQL3"));
}

#[test]
fn listener_on_the_wrong_port_is_a_warning() {
    let findings = check("Server=AG1-LISTENER,1500;Database=SalesDB;ApplicationIntent=ReadOnly", &healthy());
    let f = only(&findings, "connection_string.server_not_listener");
    assert!(f.message.contains("with port 1500") && f.message.contains("listens on port 1433"), "{}", f.message);
}

#[test]
fn dnn_listener_needs_its_port_and_multi_subnet_failover() {
    let mut snap = healthy();
    dnn(&mut snap, 6789);
    let findings = check("Server=AG1-LISTENER;Database=SalesDB;ApplicationIntent=ReadOnly", &snap);
    let f = only(&findings, "connection_string.server_not_listener");
    assert!(f.message.contains("no port (the client uses 1433)") && f.message.contains("DNN port"), "{}", f.message);
    let m = only(&findings, "connection_string.multi_subnet_failover");
    assert_eq!(m.severity, Severity::Warning);
    assert!(m.message.contains("distributed network name (DNN)"), "{}", m.message);
    assert_eq!(m.evidence["listener"]["availability_group_listeners"]["is_distributed_network_name"], json!(true));

    let ok = check("Server=tcp:AG1-LISTENER,6789;Database=SalesDB;ApplicationIntent=ReadOnly;MultiSubnetFailover=True", &snap);
    assert!(ok.is_empty(), "{ok:#?}");
}

#[test]
fn multi_subnet_listener_without_multi_subnet_failover_is_a_warning() {
    let mut snap = healthy();
    second_subnet(&mut snap);
    let findings = check("Server=AG1-LISTENER;Database=SalesDB;ApplicationIntent=ReadOnly;MultiSubnetFailover=False", &snap);
    let f = only(&findings, "connection_string.multi_subnet_failover");
    assert!(f.message.contains("sets MultiSubnetFailover=False") && f.message.contains("2 subnets"), "{}", f.message);
    none_of(&check("Server=AG1-LISTENER;Database=SalesDB;ApplicationIntent=ReadOnly;MultiSubnetFailover=Yes", &snap), "connection_string.multi_subnet_failover");
    // Single subnet (the healthy AG): not needed.
    none_of(&check("Server=AG1-LISTENER;Database=SalesDB;ApplicationIntent=ReadOnly", &healthy()), "connection_string.multi_subnet_failover");
}

#[test]
fn a_listener_ip_of_a_multi_subnet_listener_is_not_enough() {
    let mut snap = healthy();
    second_subnet(&mut snap);
    let findings = check("Server=10.0.0.50;Database=SalesDB;ApplicationIntent=ReadOnly;MultiSubnetFailover=True", &snap);
    assert!(only(&findings, "connection_string.server_not_listener").message.contains("multi-subnet listener"));
    // On one subnet the virtual IP follows the primary.
    none_of(&check("Server=10.0.0.50;Database=SalesDB;ApplicationIntent=ReadOnly", &healthy()), "connection_string.server_not_listener");
}

#[test]
fn database_outside_the_ag_or_missing_for_read_only_is_a_warning() {
    let snap = healthy();
    let findings = check("Server=AG1-LISTENER;Initial Catalog=ReportingDB;ApplicationIntent=ReadOnly", &snap);
    let f = only(&findings, "connection_string.database_not_in_ag");
    assert_eq!(f.object.as_deref(), Some("ReportingDB"));
    assert!(f.message.contains("(SalesDB)"), "{}", f.message);
    assert_eq!(f.evidence["availability_databases_cluster"], json!(["SalesDB"]));

    let findings = check("Server=AG1-LISTENER;ApplicationIntent=ReadOnly", &snap);
    assert!(only(&findings, "connection_string.database_not_in_ag").message.contains("default database"));
    // Read-write without a database: the default database is the application's business.
    none_of(&check("Server=AG1-LISTENER", &snap), "connection_string.database_not_in_ag");
}

#[test]
fn database_check_needs_availability_databases_cluster() {
    let mut snap = healthy();
    for s in ["SQL1", "SQL2", "SQL3"] {
        drop_key(&mut snap, s, "availability_databases_cluster");
    }
    none_of(&check("Server=AG1-LISTENER;Database=ReportingDB;ApplicationIntent=ReadOnly", &snap), "connection_string.database_not_in_ag");
}

#[test]
fn application_intent_is_info_when_routing_exists_and_a_warning_when_invalid() {
    let snap = healthy();
    let f = only(&check("Server=AG1-LISTENER;Database=SalesDB", &snap), "connection_string.application_intent").clone();
    assert_eq!(f.severity, Severity::Info);
    assert!(f.message.contains("has read-only routing lists") && f.message.contains("does not set"), "{}", f.message);

    let f = only(&check("Server=AG1-LISTENER;Database=SalesDB;ApplicationIntent=ReadOnlyy", &snap), "connection_string.application_intent").clone();
    assert_eq!(f.severity, Severity::Warning);
    assert!(f.message.contains("\"ReadOnlyy\""), "{}", f.message);

    let mut snap = healthy();
    for s in ["SQL1", "SQL2", "SQL3"] {
        rows_mut(&mut snap, s, "availability_read_only_routing_lists").clear();
    }
    let f = only(&check(GOOD, &snap), "connection_string.application_intent").clone();
    assert!(f.message.contains("no read-only routing list"), "{}", f.message);
    none_of(&check("Server=AG1-LISTENER;Database=SalesDB", &snap), "connection_string.application_intent");
}

#[test]
fn passwords_never_reach_a_finding() {
    let snap = healthy();
    let texts = [
        r#"Server=SQL2;Database=master;User ID=app;Password="Hunter2;Secret""#,
        "Data Source=x,abc;PWD={Hunter2;Secret};ApplicationIntent=bogus;MultiSubnetFailover=maybe",
        "Server=SQL2;Database=\"master;Password=Hunter2;Secret",
        "Server=SQL2;Password=Hunter2;Secret;Database=nope",
        "Server=AG1-LISTENER;Database=nope;Password='Hunter2;Secret';Access Token=Hunter2;Secret",
    ];
    for text in texts {
        let findings = check(text, &snap);
        assert!(!findings.is_empty(), "{text}");
        let json = serde_json::to_string(&findings).unwrap();
        assert!(!json.contains("Hunter2") && !json.contains("Secret"), "secret leaked from {text}: {json}");
    }
    let findings = check(r#"Server=SQL2;Password="Hunter2;Secret""#, &snap);
    assert_eq!(findings[0].evidence["connection_string"]["Password"], json!("<redacted>"));
}

#[test]
fn an_unrelated_server_is_reported_and_nothing_is_guessed_without_an_ag() {
    let findings = check("Server=otherhost;Database=SalesDB", &healthy());
    assert!(only(&findings, "connection_string.server_not_listener").message.contains("neither a listener nor a replica"));
    let empty = Snapshot::from_json(r#"{"format": "agdiag.snapshot/1", "instances": []}"#).unwrap();
    assert!(check(GOOD, &empty).is_empty());
}

#[test]
fn catalog_lists_every_connection_string_check() {
    let ids: Vec<&str> = CHECKS.iter().map(|c| c.id).collect();
    assert_eq!(
        ids,
        [
            "connection_string.malformed",
            "connection_string.server_not_listener",
            "connection_string.application_intent",
            "connection_string.database_not_in_ag",
            "connection_string.multi_subnet_failover"
        ]
    );
    assert!(CHECKS.iter().all(|c| !c.title.is_empty() && !c.description.is_empty() && !c.seed.is_empty()));
}

#[test]
fn a_string_with_an_unclosed_quote_is_a_malformed_warning_that_never_shows_the_password() {
    let findings = check("Server=tcp:AG1-LISTENER,1433;Password=\"hunter2;Database=SalesDB", &healthy());
    let f = only(&findings, "connection_string.malformed");
    assert_eq!(f.severity, Severity::Warning);
    assert!(f.message.contains("'Password'") && f.message.contains("no closing \""), "{}", f.message);
    let everything = serde_json::to_string(&findings).unwrap();
    assert!(!everything.contains("hunter2"), "{everything}");
    // A clean string is not malformed.
    let clean = check("Server=tcp:AG1-LISTENER,1433;Database=SalesDB;MultiSubnetFailover=True", &healthy());
    assert!(clean.iter().all(|f| f.check != "connection_string.malformed"), "{clean:#?}");
}
