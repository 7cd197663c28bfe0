//! Probes against real loopback listeners: open and closed ports, and the name-vs-IP diagnosis
//! (the listener name resolves to a stale address while the catalog IP answers) through an
//! injected resolver.

use std::sync::Arc;
use std::time::Duration;

use agdiag::collect::probes::{self, Resolver};
use agdiag::collect::StaticResolver;
use agdiag::snapshot::{keys, Instance, Row};
use serde_json::json;

fn instance(open: u16, closed: u16, listener_port: u16) -> Instance {
    let mut inst = Instance { target: "sql1".into(), connected: true, ..Default::default() };
    inst.results.insert(
        keys::AVAILABILITY_REPLICAS.into(),
        vec![
            Row::from([
                ("replica_server_name", json!("SQL1")),
                ("endpoint_url", json!(format!("TCP://sql1.test:{open}"))),
                ("read_only_routing_url", json!(format!("TCP://sql1.test:{closed}"))),
            ]),
            Row::from([
                ("replica_server_name", json!("SQL2")),
                ("endpoint_url", json!("TCP://sql2.test:not-a-port")),
                ("read_only_routing_url", json!(null)),
            ]),
        ],
    );
    inst.results.insert(
        keys::AVAILABILITY_GROUP_LISTENERS.into(),
        vec![Row::from([("listener_id", json!("L1")), ("dns_name", json!("AG1-LISTENER")), ("port", json!(listener_port))])],
    );
    inst.results.insert(
        keys::AVAILABILITY_GROUP_LISTENER_IP_ADDRESSES.into(),
        vec![Row::from([("listener_id", json!("l1")), ("ip_address", json!("127.0.0.1"))])],
    );
    inst
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_closed_and_stale_dns() {
    let open = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let open_port = open.local_addr().unwrap().port();
    let closed_port = {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap().port()
    };
    // The listener answers on 127.0.0.1 only; DNS says 127.0.0.2 (stale record).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let listener_port = listener.local_addr().unwrap().port();
    let resolver: Arc<dyn Resolver> =
        Arc::new(StaticResolver::new().with("sql1.test", &["127.0.0.1"]).with("AG1-LISTENER", &["127.0.0.2"]));

    let targets = probes::targets(&[instance(open_port, closed_port, listener_port)]);
    // The malformed URL is the URL checks' business: nothing to probe.
    assert_eq!(targets.len(), 3, "{targets:#?}");
    let probes = probes::run(&targets, resolver, Duration::from_millis(500)).await;
    let find = |purpose: &str, via: &str| {
        probes.iter().find(|p| p.purpose == purpose && p.via == via).unwrap_or_else(|| panic!("{purpose}/{via}: {probes:#?}"))
    };

    let endpoint = find("endpoint", "name");
    assert!(endpoint.ok && endpoint.error.is_none(), "{endpoint:?}");
    assert_eq!((endpoint.subject.as_str(), endpoint.host.as_str(), endpoint.port), ("SQL1", "sql1.test", open_port));
    assert_eq!(endpoint.url.as_deref(), Some(format!("TCP://sql1.test:{open_port}").as_str()));
    assert_eq!(endpoint.address.as_deref(), Some("127.0.0.1"));
    assert!(find("endpoint", "ip").ok);

    for via in ["name", "ip"] {
        let routing = find("routing", via);
        assert!(!routing.ok, "{routing:?}");
        assert_eq!(routing.error.as_deref(), Some("connection refused"));
    }

    let by_name = find("listener", "name");
    assert!(!by_name.ok, "{by_name:?}");
    assert_eq!(by_name.address.as_deref(), Some("127.0.0.2"));
    // Every address of the answer is recorded, for listener.dns_records.
    assert_eq!(by_name.resolved, Some(vec!["127.0.0.2".to_string()]));
    let by_ip = find("listener", "ip");
    assert!(by_ip.ok, "{by_ip:?}");
    assert_eq!(by_ip.address.as_deref(), Some("127.0.0.1"));
    assert_eq!(by_ip.port, listener_port);
    assert_eq!(by_ip.resolved, None, "only by-name probes carry the answer");
    assert!(probes.iter().all(|p| p.elapsed_ms.is_some()));
    assert_eq!(probes.len(), 6, "{probes:#?}");
    drop((open, listener));
}

#[tokio::test]
async fn unresolvable_names_fail_as_resolution_errors() {
    let resolver: Arc<dyn Resolver> = Arc::new(StaticResolver::new());
    let targets = probes::targets(&[instance(1, 2, 3)]);
    let probes = probes::run(&targets, resolver, Duration::from_millis(300)).await;
    for p in probes.iter().filter(|p| p.via == "name") {
        assert!(!p.ok && p.address.is_none() && p.resolved.is_none(), "{p:?}");
        assert!(p.error.as_deref().unwrap().starts_with("name resolution failed"), "{p:?}");
    }
}
