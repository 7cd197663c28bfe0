//! Live-collection benchmark against the test TDS server with a per-packet latency.
//!
//!     cargo run --release --example collect_bench
//!
//! For N = 1, 3, 5, 9 replicas (every one with 50 ms before each packet it sends), prints the wall
//! time of a full collection (connect, login, batch, probes, analysis) next to the floor: TCP
//! connect + login + one batch round trip to the slowest replica, measured with a bare tiberius
//! client. Target: wall ≤ 1.25 × floor at every N. Then one blackholed replica (its SYNs are never
//! answered) next to three healthy ones: it adds at most one connect timeout. Last, event history:
//! 50,000 AlwaysOn_health events per replica in the window (the row cap), next to the same
//! collection without history (`history_days: 0`).

#[path = "../tests/support/tds_server/mod.rs"]
mod tds_server;
#[path = "../tests/support/history_fixture.rs"]
mod history;

use std::sync::Arc;
use std::time::{Duration, Instant};

use agdiag::collect::queries::{Batch, History};
use agdiag::collect::{Request, StaticResolver};
use agdiag::snapshot::keys;
use futures_util::TryStreamExt;
use serde_json::{json, Value};
use tds_server::{Scenario, TestServer};
use tiberius::{AuthMethod, Client, Config, EncryptionLevel};
use tokio::net::TcpStream;
use tokio_util::compat::TokioAsyncWriteCompatExt;

const HEALTHY: &str = include_str!("snapshots/healthy-3-replica.json");
const DELAY: Duration = Duration::from_millis(50);
const RUNS: usize = 3;

/// The healthy example with `n` instances (SQL4.. are copies of SQL3 under new names).
fn snapshot_with(n: usize) -> Value {
    let mut doc: Value = serde_json::from_str(HEALTHY).expect("example parses");
    let mut instances = doc["instances"].as_array().cloned().unwrap_or_default();
    let template = instances[2].clone();
    for i in 4..=n {
        let mut copy = template.clone();
        let name = format!("SQL{i}");
        copy["target"] = json!(format!("sql{i}.contoso.com,1433"));
        copy["results"]["server_properties"][0]["ServerName"] = json!(name);
        copy["results"]["server_properties"][0]["@@SERVERNAME"] = json!(name);
        copy["results"]["server_properties"][0]["MachineName"] = json!(name);
        instances.push(copy);
    }
    instances.truncate(n);
    doc["instances"] = Value::Array(instances);
    history::add_history_evidence(&mut doc);
    doc
}

fn addr_text(server: &TestServer) -> String {
    format!("{},{}", server.addr().ip(), server.addr().port())
}

/// Connect + login + one batch round trip, with a bare tiberius client.
async fn floor_of(server: &TestServer) -> Duration {
    floor_with(server, &Batch::new(keys::ALL)).await
}

/// Connect + login + one round trip of `batch` (every row read), with a bare tiberius client.
async fn floor_with(server: &TestServer, batch: &Batch) -> Duration {
    let started = Instant::now();
    let mut config = Config::new();
    config.host(server.addr().ip().to_string());
    config.port(server.addr().port());
    config.authentication(AuthMethod::sql_server("agdiag", "bench"));
    config.encryption(EncryptionLevel::NotSupported);
    let tcp = TcpStream::connect(server.addr()).await.expect("connect");
    tcp.set_nodelay(true).expect("nodelay");
    let mut client = Client::connect(config, tcp.compat_write()).await.expect("login");
    let mut stream = client.simple_query(batch.text.as_str()).await.expect("batch");
    while stream.try_next().await.expect("rows").is_some() {}
    started.elapsed()
}

/// Collection with 50,000 AlwaysOn_health events per replica in the window (the row cap) against
/// the same collection without history. No added latency: the 40 MB of event XML per replica
/// (about 85 MB of UTF-16 on the wire) would otherwise be measured in 50 ms packets. Wall is the
/// full collection (as above); floor is bare tiberius clients reading the same batch from every
/// replica at once.
fn history_rows(rt: &tokio::runtime::Runtime) {
    // First what a healthy AG holds in its window (the example's 1-4 events per replica, the event
    // sessions and the cluster states), in the 50 ms per packet model, against the same
    // collection with `history_days: 0`.
    let mut scenario = Scenario::from_snapshot(&snapshot_with(3));
    for name in scenario.instances() {
        scenario.set_packet_delay(&name, DELAY);
    }
    let servers = rt.block_on(scenario.start_all()).expect("servers");
    let targets: Vec<String> = servers.iter().map(|(_, s)| addr_text(s)).collect();
    let wall_for = |days: u32| {
        median(
            (0..RUNS)
                .map(|_| {
                    let mut request = request(targets.clone(), 5_000);
                    request.history_days = days;
                    let started = Instant::now();
                    let report = agdiag::collect::run_with(request, resolver()).expect("collect");
                    assert!(report.snapshot.instances.iter().all(|i| i.connected && i.query_errors.is_empty()));
                    started.elapsed()
                })
                .collect(),
        )
    };
    let floor_for = |days: u32| {
        let batch = Batch::with_history(keys::ALL, &History { days, ..History::default() });
        servers.iter().map(|(_, s)| rt.block_on(floor_with(s, &batch))).max().expect("servers")
    };
    let (wall, floor, wall0, floor0) = (wall_for(7), floor_for(7), wall_for(0), floor_for(0));
    println!();
    println!("event history of a healthy AG (1-4 events per replica), 3 replicas, per-packet latency {} ms", DELAY.as_millis());
    println!(
        "history 7 days: wall {} ms, floor {} ms; without history: wall {} ms, floor {} ms; wall / floor without history: {:.2}",
        wall.as_millis(),
        floor.as_millis(),
        wall0.as_millis(),
        floor0.as_millis(),
        wall.as_secs_f64() / floor0.as_secs_f64()
    );
    drop(servers);

    const EVENTS: usize = 50_000;
    println!();
    println!("event history: {EVENTS} AlwaysOn_health events per replica in the window, no added latency; median of {RUNS} runs");
    println!("{:>8} {:>8} {:>9} {:>9} {:>7} {:>9} {:>9} {:>7}", "replicas", "events", "wall_ms", "floor_ms", "ratio", "wall0_ms", "floor0_ms", "ratio0");
    for n in [1usize, 3] {
        let mut doc = snapshot_with(n);
        for instance in doc["instances"].as_array_mut().expect("instances") {
            let name = instance["results"]["server_properties"][0]["ServerName"].as_str().unwrap_or("SQL1").to_string();
            instance["results"]["alwayson_health"] = Value::Array(history::bulk_health_rows(&name, EVENTS));
        }
        let scenario = Scenario::from_snapshot(&doc);
        let servers = rt.block_on(scenario.start_all()).expect("servers");
        let targets: Vec<String> = servers.iter().map(|(_, s)| addr_text(s)).collect();
        let measure = |days: u32| {
            let batch = Batch::with_history(keys::ALL, &History { days, ..History::default() });
            // Every replica read at once, as the collector does: with no latency the transfer is
            // CPU-bound, and the servers and clients share this machine's cores.
            let floor = median(
                (0..RUNS)
                    .map(|_| {
                        let started = Instant::now();
                        rt.block_on(futures_util::future::join_all(servers.iter().map(|(_, s)| floor_with(s, &batch))));
                        started.elapsed()
                    })
                    .collect(),
            );
            let walls: Vec<Duration> = (0..RUNS)
                .map(|_| {
                    let mut request = request(targets.clone(), 5_000);
                    request.history_days = days;
                    let started = Instant::now();
                    let report = agdiag::collect::run_with(request, resolver()).expect("collect");
                    let wall = started.elapsed();
                    assert!(report.snapshot.instances.iter().all(|i| i.connected && i.query_errors.is_empty()));
                    let events: usize = report.snapshot.instances.iter().map(|i| i.results.get("alwayson_health").map_or(0, Vec::len)).sum();
                    assert_eq!(events, if days == 0 { 0 } else { n * EVENTS });
                    wall
                })
                .collect();
            (median(walls), floor)
        };
        let (wall, floor) = measure(History::default().days);
        let (wall0, floor0) = measure(0);
        println!(
            "{n:>8} {:>8} {:>9} {:>9} {:>7.2} {:>9} {:>9} {:>7.2}",
            n * EVENTS,
            wall.as_millis(),
            floor.as_millis(),
            wall.as_secs_f64() / floor.as_secs_f64(),
            wall0.as_millis(),
            floor0.as_millis(),
            wall0.as_secs_f64() / floor0.as_secs_f64()
        );
        drop(servers);
    }
}

fn request(targets: Vec<String>, connect_ms: u64) -> Request {
    discovery_request(targets, serde_json::Map::new(), false, connect_ms)
}

fn discovery_request(targets: Vec<String>, overrides: serde_json::Map<String, Value>, discover: bool, connect_ms: u64) -> Request {
    let doc = json!({
        "instances": targets,
        "authentication": { "method": "sql", "user": "agdiag", "password": "bench" },
        "encrypt": "none",
        "discover_replicas": discover,
        "overrides": overrides,
        "timeouts": { "connect_ms": connect_ms, "login_ms": 10_000, "command_ms": 10_000, "probe_ms": 500 },
    });
    Request::from_json(&doc.to_string()).expect("request")
}

fn resolver() -> Arc<StaticResolver> {
    let mut r = StaticResolver::new().with("AG1-LISTENER", &["127.0.0.1"]);
    for i in 1..=9 {
        r = r.with(&format!("sql{i}.contoso.com"), &["127.0.0.1"]);
    }
    Arc::new(r)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    // `AGDIAG_BENCH_ONLY=history` runs the event history rows alone.
    if std::env::var("AGDIAG_BENCH_ONLY").is_ok_and(|v| v == "history") {
        history_rows(&rt);
        return;
    }
    println!("per-packet latency {} ms; median of {RUNS} runs", DELAY.as_millis());
    println!("{:>8} {:>9} {:>9} {:>7}", "replicas", "wall_ms", "floor_ms", "ratio");
    for n in [1usize, 3, 5, 9] {
        let mut scenario = Scenario::from_snapshot(&snapshot_with(n));
        for name in scenario.instances() {
            scenario.set_packet_delay(&name, DELAY);
        }
        let servers = rt.block_on(scenario.start_all()).expect("servers");
        let floors: Vec<Duration> = servers.iter().map(|(_, s)| rt.block_on(floor_of(s))).collect();
        let floor = floors.into_iter().max().expect("one server at least");
        let targets: Vec<String> = servers.iter().map(|(_, s)| addr_text(s)).collect();
        let walls: Vec<Duration> = (0..RUNS)
            .map(|_| {
                let started = Instant::now();
                let report = agdiag::collect::run_with(request(targets.clone(), 5_000), resolver()).expect("collect");
                let wall = started.elapsed();
                assert!(report.snapshot.instances.iter().all(|i| i.connected && i.query_errors.is_empty()));
                wall
            })
            .collect();
        let wall = median(walls);
        println!(
            "{n:>8} {:>9} {:>9} {:>7.2}",
            wall.as_millis(),
            floor.as_millis(),
            wall.as_secs_f64() / floor.as_secs_f64()
        );
        drop(servers);
    }

    // Discovery: only SQL1 is given; the others come from its availability_replicas (through the
    // override map, since the servers listen on ephemeral loopback ports).
    println!();
    println!("discovered from one given instance (discover_replicas: true)");
    println!("{:>8} {:>9} {:>9} {:>7}", "replicas", "wall_ms", "floor_ms", "ratio");
    for n in [3usize, 9] {
        let mut doc = snapshot_with(n);
        // Every replica is named in SQL1's availability_replicas, as in a real AG.
        let replica_rows = doc["instances"][0]["results"]["availability_replicas"].as_array().cloned().unwrap_or_default();
        let template = replica_rows.last().cloned().expect("replica rows");
        let mut rows: Vec<Value> = replica_rows.into_iter().take(n.min(3)).collect();
        for i in 4..=n {
            let mut row = template.clone();
            row["replica_server_name"] = json!(format!("SQL{i}"));
            row["endpoint_url"] = json!(format!("TCP://sql{i}.contoso.com:5022"));
            row["replica_id"] = json!(format!("00000000-0000-0000-0000-{i:012}"));
            rows.push(row);
        }
        for inst in doc["instances"].as_array_mut().expect("instances") {
            inst["results"]["availability_replicas"] = Value::Array(rows.clone());
        }
        let mut scenario = Scenario::from_snapshot(&doc);
        for name in scenario.instances() {
            scenario.set_packet_delay(&name, DELAY);
        }
        let servers = rt.block_on(scenario.start_all()).expect("servers");
        let floor = servers.iter().map(|(_, s)| rt.block_on(floor_of(s))).max().expect("servers");
        let overrides: serde_json::Map<String, Value> = servers.iter().map(|(name, s)| (name.clone(), json!(addr_text(s)))).collect();
        let first = addr_text(&servers[0].1);
        let walls: Vec<Duration> = (0..RUNS)
            .map(|_| {
                let started = Instant::now();
                let request = discovery_request(vec![first.clone()], overrides.clone(), true, 5_000);
                let report = agdiag::collect::run_with(request, resolver()).expect("collect");
                let wall = started.elapsed();
                assert_eq!(report.snapshot.instances.len(), n, "every replica discovered");
                assert!(report.snapshot.instances.iter().all(|i| i.connected && i.query_errors.is_empty()));
                wall
            })
            .collect();
        let wall = median(walls);
        println!("{n:>8} {:>9} {:>9} {:>7.2}", wall.as_millis(), floor.as_millis(), wall.as_secs_f64() / floor.as_secs_f64());
        drop(servers);
    }

    // One blackholed replica: a listener whose accept queue is full, so new SYNs go unanswered.
    let connect_ms = 1_000;
    let mut scenario = Scenario::from_snapshot(&snapshot_with(3));
    for name in scenario.instances() {
        scenario.set_packet_delay(&name, DELAY);
    }
    let servers = rt.block_on(scenario.start_all()).expect("servers");
    let floor = servers.iter().map(|(_, s)| rt.block_on(floor_of(s))).max().expect("servers");
    let (blackhole, _fillers) = rt.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.bind("127.0.0.1:0".parse().expect("addr")).expect("bind");
        let listener = socket.listen(1).expect("listen");
        let addr = listener.local_addr().expect("addr");
        let mut fillers = Vec::new();
        for _ in 0..4 {
            if let Ok(Ok(s)) = tokio::time::timeout(Duration::from_millis(200), TcpStream::connect(addr)).await {
                fillers.push(s);
            }
        }
        ((listener, addr), fillers)
    });
    let mut targets: Vec<String> = servers.iter().map(|(_, s)| addr_text(s)).collect();
    targets.push(format!("{},{}", blackhole.1.ip(), blackhole.1.port()));
    let started = Instant::now();
    let report = agdiag::collect::run_with(request(targets, connect_ms), resolver()).expect("collect");
    let wall = started.elapsed();
    let dead = report.snapshot.instances.last().expect("instances");
    println!();
    println!(
        "3 replicas + 1 blackholed (connect timeout {connect_ms} ms): wall {} ms, floor {} ms, added {} ms \
         (≤ one connect timeout: {}); blackholed replica: {}",
        wall.as_millis(),
        floor.as_millis(),
        wall.saturating_sub(floor).as_millis(),
        wall.saturating_sub(floor) <= Duration::from_millis(connect_ms + 100),
        dead.connect_error.as_ref().map(|e| e.message.as_str()).unwrap_or("connected?!")
    );

    history_rows(&rt);
}
