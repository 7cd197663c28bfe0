//! A 3-replica AG on loopback for the collector's tests: the bundled healthy example served by the
//! test TDS server (one server per replica, distinct ports), and the request that collects it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::time::Duration;

use agdiag::snapshot::{Row, Snapshot};
use agdiag::{analyze, AnalyzeOptions, Report};
use serde_json::{json, Value};

use crate::tds_server::{Scenario, TestServer};

/// The history evidence (AlwaysOn_health events, event sessions, cluster states) the scenarios add.
#[path = "history_fixture.rs"]
pub mod history;

pub const HEALTHY: &str = include_str!("../../examples/snapshots/healthy-3-replica.json");
/// The password every test uses; it must never appear in any output.
pub const SENTINEL: &str = "Sentinel-pw-7f3a9c!";

/// The healthy example plus the history evidence it lacks (see [`history::add_history_evidence`]):
/// what the test servers serve.
pub fn healthy_json() -> Value {
    let mut doc = serde_json::from_str(HEALTHY).expect("healthy example parses");
    history::add_history_evidence(&mut doc);
    doc
}

/// [`healthy_json`] as a snapshot: what a live collection of the healthy scenario must return.
pub fn healthy_snapshot() -> Snapshot {
    Snapshot::from_json(&healthy_json().to_string()).expect("healthy example parses")
}

pub fn healthy_scenario() -> Scenario {
    Scenario::from_snapshot(&healthy_json())
}

/// Test servers running on their own runtime, so test bodies can call blocking APIs.
pub struct Ag {
    pub rt: tokio::runtime::Runtime,
    pub servers: Vec<(String, TestServer)>,
}

impl Ag {
    pub fn start(scenario: &Scenario) -> Ag {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        let servers = rt.block_on(scenario.start_all()).expect("start test servers");
        Ag { rt, servers }
    }

    pub fn server(&self, name: &str) -> &TestServer {
        &self.servers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).expect("server").1
    }

    /// `127.0.0.1,<port>` of a replica.
    pub fn addr(&self, name: &str) -> String {
        let a = self.server(name).addr();
        format!("{},{}", a.ip(), a.port())
    }

    /// Overrides for every replica but the ones given.
    pub fn overrides(&self) -> BTreeMap<String, String> {
        self.servers.iter().map(|(n, _)| (n.clone(), self.addr(n))).collect()
    }

    /// A request for `given` instances (by server name), SQL auth with the sentinel, no encryption
    /// (`none`: the test server does not do TLS unless given a certificate), overrides for every replica, short timeouts.
    pub fn request(&self, given: &[&str]) -> Value {
        json!({
            "instances": given.iter().map(|n| self.addr(n)).collect::<Vec<_>>(),
            "authentication": { "method": "sql", "user": "agdiag", "password": SENTINEL },
            "encrypt": "none",
            "timeouts": { "connect_ms": 2000, "login_ms": 2000, "command_ms": 3000, "probe_ms": 500 },
            "overrides": self.overrides(),
        })
    }

    pub fn all_batches(&self) -> Vec<String> {
        self.servers.iter().flat_map(|(_, s)| s.batches()).collect()
    }
}

/// The batches of the first round (every key), without the second round's per-database
/// `database_principals` reads (batches whose every marker is that key).
pub fn first_round(batches: Vec<String>) -> Vec<String> {
    batches
        .into_iter()
        .filter(|b| b.lines().filter(|l| l.starts_with("-- agdiag: ")).any(|l| l != "-- agdiag: database_principals"))
        .collect()
}

/// A row with NULL columns removed (the contract: absent = NULL).
pub fn normalized(row: &Row) -> BTreeMap<String, Value> {
    row.columns().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.to_string(), v.clone())).collect()
}

/// Asserts every key the scenario serves for each replica came back with equal rows.
pub fn assert_rows_equal(collected: &Snapshot, expected: &Snapshot) {
    for want in &expected.instances {
        let name = want.name();
        let got = collected
            .instances
            .iter()
            .find(|i| i.connected && i.is_named(name))
            .unwrap_or_else(|| panic!("{name} was not collected: {:#?}", collected.instances.iter().map(|i| (&i.target, &i.connect_error)).collect::<Vec<_>>()));
        assert!(got.query_errors.is_empty(), "{name}: {:?}", got.query_errors);
        for (key, rows) in &want.results {
            let got_rows = got.results.get(key).unwrap_or_else(|| panic!("{name}: {key} missing"));
            let a: Vec<_> = got_rows.iter().map(normalized).collect();
            let b: Vec<_> = rows.iter().map(normalized).collect();
            assert_eq!(a, b, "{name}: rows of {key}");
        }
    }
}

/// The snapshot without what legitimately differs between a live collection and the example:
/// probes (network from this machine), collection metadata, and the connection targets.
pub fn comparable(mut s: Snapshot) -> Snapshot {
    s.probes.clear();
    s.collection = None;
    s.collected_at = None;
    s.collector = None;
    for i in &mut s.instances {
        i.target = i.name().to_string();
    }
    s
}

pub fn analyzed(s: Snapshot) -> Report {
    analyze(comparable(s), &AnalyzeOptions { generated_at: Some("2026-11-22T10:20:00Z".into()), ..Default::default() })
}

/// Asserts the live collection's findings equal the offline analysis of the example.
pub fn assert_same_findings(collected: &Snapshot) {
    let expected = analyzed(healthy_snapshot());
    let got = analyzed(collected.clone());
    assert_eq!(
        serde_json::to_value(&got.findings).unwrap(),
        serde_json::to_value(&expected.findings).unwrap(),
        "findings differ"
    );
    let statuses = |r: &Report| r.checks.iter().map(|c| (c.check.clone(), c.status)).collect::<Vec<_>>();
    assert_eq!(statuses(&got), statuses(&expected), "check statuses differ");
}

pub fn elapsed_ms(since: std::time::Instant) -> u128 {
    since.elapsed().as_millis()
}

pub const MARGIN: Duration = Duration::from_millis(2500);
