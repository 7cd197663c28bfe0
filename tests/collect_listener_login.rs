//! The listener login probe against the test TDS server: the listener name goes through the
//! injected resolver, the addresses are tried in order, the login names the listener, and the
//! session's own `sys.dm_exec_connections` row lands in the probe. The test server speaks SQL
//! authentication only, so auth_scheme is `SQL` here; the Kerberos/NTLM judgement is tested on
//! snapshots (tests/checks_listener_clients.rs).

#[path = "support/tds_server/mod.rs"]
mod tds_server;
#[path = "support/collect_fixture.rs"]
mod fixture;

use std::sync::Arc;

use agdiag::collect::probes::{Resolver, Target};
use agdiag::collect::queries::SESSION_CONNECTION;
use agdiag::collect::{Request, StaticResolver, login_probe};
use fixture::*;
use serde_json::json;
use tds_server::Scenario;

/// The healthy AG whose SQL1 answers the session statement with this row.
fn scenario() -> Scenario {
    let mut doc = healthy_json();
    let sql1 = doc["instances"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|i| i["results"]["server_properties"][0]["ServerName"] == "SQL1")
        .expect("SQL1");
    sql1["results"]["dm_exec_connections"] = json!([{
        "session_id": 63,
        "connect_time": "2026-11-22T10:15:01.437",
        "net_transport": "TCP",
        "protocol_type": "TSQL",
        "encrypt_option": "FALSE",
        "auth_scheme": "SQL",
        "client_net_address": "127.0.0.1",
        "local_net_address": "127.0.0.1",
        "local_tcp_port": 1433
    }]);
    Scenario::from_snapshot(&doc)
}

fn target(port: u16) -> Target {
    Target {
        purpose: "listener",
        subject: "AG1-LISTENER".into(),
        url: None,
        host: "AG1-LISTENER".into(),
        port,
        catalog_ips: vec!["127.0.0.1".into()],
    }
}

#[test]
fn the_login_through_the_listener_records_the_sessions_connection_row() {
    let ag = Ag::start(&scenario());
    let port = ag.server("SQL1").addr().port();
    let request = Request::from_json(&ag.request(&["SQL1"]).to_string()).unwrap();
    // DNS names a dead address first: the probe goes on to the next, as a client does.
    let resolver: Arc<dyn Resolver> = Arc::new(StaticResolver::new().with("ag1-listener", &["127.0.0.3", "127.0.0.1"]));
    let probes = ag.rt.block_on(login_probe::run(&[target(port)], resolver, &request));
    assert_eq!(probes.len(), 1, "{probes:#?}");
    let p = &probes[0];
    assert!(p.ok, "{p:?}");
    assert_eq!((p.purpose.as_str(), p.via.as_str(), p.subject.as_str(), p.port), ("listener", "login", "AG1-LISTENER", port));
    assert_eq!(p.address.as_deref(), Some("127.0.0.1"));
    assert!(p.error.is_none() && p.elapsed_ms.is_some());
    let row = p.dm_exec_connections.as_ref().expect("the session row");
    assert_eq!(row.str("auth_scheme"), Some("SQL"));
    assert_eq!(row.str("net_transport"), Some("TCP"));
    assert_eq!(row.int("session_id"), Some(63));
    // It sent exactly the one read-only statement, and no password reached the snapshot.
    let batches = ag.server("SQL1").batches();
    assert!(batches.iter().any(|b| b.trim() == SESSION_CONNECTION), "{batches:#?}");
    assert!(!serde_json::to_string(&probes).unwrap().contains(SENTINEL));
}

#[test]
fn a_listener_name_that_does_not_resolve_is_the_probes_error() {
    let ag = Ag::start(&scenario());
    let port = ag.server("SQL1").addr().port();
    let request = Request::from_json(&ag.request(&["SQL1"]).to_string()).unwrap();
    let probes = ag.rt.block_on(login_probe::run(&[target(port)], Arc::new(StaticResolver::new()), &request));
    let p = &probes[0];
    assert!(!p.ok && p.dm_exec_connections.is_none(), "{p:?}");
    assert!(p.error.as_deref().unwrap().starts_with("name resolution failed"), "{p:?}");
    assert!(ag.server("SQL1").batches().iter().all(|b| !b.contains("dm_exec_connections")));
}

#[test]
fn a_failed_login_through_the_listener_is_recorded_without_the_password() {
    let mut scenario = scenario();
    scenario.set_credentials("SQL1", Some(("agdiag".into(), "another password".into())));
    let ag = Ag::start(&scenario);
    let port = ag.server("SQL1").addr().port();
    let request = Request::from_json(&ag.request(&["SQL1"]).to_string()).unwrap();
    let resolver: Arc<dyn Resolver> = Arc::new(StaticResolver::new().with("AG1-LISTENER", &["127.0.0.1"]));
    let probes = ag.rt.block_on(login_probe::run(&[target(port)], resolver, &request));
    let p = &probes[0];
    assert!(!p.ok && p.dm_exec_connections.is_none(), "{p:?}");
    let error = p.error.as_deref().unwrap();
    assert!(error.starts_with("login failed: error 18456"), "{error}");
    assert!(!error.contains(SENTINEL));
}

#[test]
fn only_listener_targets_get_a_login() {
    let ag = Ag::start(&scenario());
    let request = Request::from_json(&ag.request(&["SQL1"]).to_string()).unwrap();
    let mut endpoint = target(5022);
    endpoint.purpose = "endpoint";
    let probes = ag.rt.block_on(login_probe::run(&[endpoint], Arc::new(StaticResolver::new()), &request));
    assert!(probes.is_empty());
}

#[test]
fn a_collection_logs_in_through_the_listener_and_records_what_its_name_resolved_to() {
    // The listener's virtual IP is 127.0.0.50 (any 127.0.0.x works on Linux), served by a second
    // server for the primary SQL1, as the cluster's VIP is served by the primary's instance.
    let vip = "127.0.0.50";
    let port = std::net::TcpListener::bind((vip, 0)).unwrap().local_addr().unwrap().port();
    let mut doc = healthy_json();
    for instance in doc["instances"].as_array_mut().unwrap() {
        let results = &mut instance["results"];
        for listener in results["availability_group_listeners"].as_array_mut().unwrap() {
            listener["port"] = json!(port);
            listener["ip_configuration_string_from_cluster"] = json!(format!("('IP Address: {vip}')"));
        }
        for ip in results["availability_group_listener_ip_addresses"].as_array_mut().unwrap() {
            ip["ip_address"] = json!(vip);
            ip["network_subnet_ip"] = json!("127.0.0.0");
            ip["ip_subnet_mask"] = json!("255.0.0.0");
            ip["network_subnet_prefix_length"] = json!(8);
        }
        if instance["results"]["server_properties"][0]["ServerName"] == "SQL1" {
            instance["results"]["dm_exec_connections"] = json!([{
                "session_id": 64, "connect_time": "2026-11-22T10:15:01.437", "net_transport": "TCP",
                "protocol_type": "TSQL", "encrypt_option": "FALSE", "auth_scheme": "SQL",
                "client_net_address": "127.0.0.1", "local_net_address": vip, "local_tcp_port": port
            }]);
        }
    }
    let scenario = Scenario::from_snapshot(&doc);
    let ag = Ag::start(&scenario);
    let mut listener_config = scenario.config_for("SQL1");
    listener_config.bind = vip.parse().unwrap();
    listener_config.port = port;
    let listener = ag.rt.block_on(tds_server::TestServer::start(listener_config)).expect("listener VIP server");

    let request = Request::from_json(&ag.request(&["SQL1"]).to_string()).unwrap();
    let resolver = StaticResolver::new().with("AG1-LISTENER", &[vip]);
    let report = agdiag::collect::run_with(request, Arc::new(resolver)).unwrap();

    let probes: Vec<_> = report.snapshot.probes.iter().filter(|p| p.purpose == "listener").collect();
    let by_name = probes.iter().find(|p| p.via == "name").expect("by-name probe");
    assert_eq!(by_name.resolved, Some(vec![vip.to_string()]), "{by_name:?}");
    let login = probes.iter().find(|p| p.via == "login").expect("login probe");
    assert!(login.ok, "{login:?}");
    assert_eq!(login.address.as_deref(), Some(vip));
    let row = login.dm_exec_connections.as_ref().unwrap();
    assert_eq!(row.str("auth_scheme"), Some("SQL"));
    assert!(listener.batches().iter().any(|b| b.trim() == SESSION_CONNECTION));

    // The same report judges it: the name's record is the listener's IP; SQL authentication
    // cannot tell whether Windows logins get Kerberos.
    let status = |id: &str| report.checks.iter().find(|c| c.check == id).unwrap().clone();
    assert_eq!(status("listener.dns_records").status, agdiag::checks::CheckStatus::Pass);
    let kerberos = status("listener.kerberos");
    assert_eq!(kerberos.status, agdiag::checks::CheckStatus::NotEvaluated);
    assert!(kerberos.reason.unwrap().contains("auth_scheme SQL"));
    assert!(!report.snapshot.to_json_pretty().contains(SENTINEL));
}
