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
