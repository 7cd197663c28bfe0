//! TCP reachability probes from the machine running AgDiag: every `endpoint_url`, every
//! `read_only_routing_url` and every listener (`dns_name:port` and each listener IP). For each
//! host: resolve the name, then connect by name and by each address, all in parallel, each within
//! the probe timeout. Name resolution goes through [`Resolver`] so tests can inject names.

use std::collections::BTreeSet;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::panic::AssertUnwindSafe;

use futures_util::future::{join_all, BoxFuture};
use futures_util::FutureExt;
use tokio::net::TcpStream;

use crate::snapshot::{keys, Instance, Probe};
use crate::tcp_url::TcpUrl;

/// Resolves a host name to addresses.
pub trait Resolver: Send + Sync {
    fn resolve<'a>(&'a self, host: &'a str) -> BoxFuture<'a, io::Result<Vec<IpAddr>>>;
}

/// The operating system's resolver (DNS, hosts file).
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemResolver;

impl Resolver for SystemResolver {
    fn resolve<'a>(&'a self, host: &'a str) -> BoxFuture<'a, io::Result<Vec<IpAddr>>> {
        Box::pin(async move {
            if let Ok(ip) = host.parse::<IpAddr>() {
                return Ok(vec![ip]);
            }
            let mut out = Vec::new();
            for addr in tokio::net::lookup_host((host, 0)).await? {
                if !out.contains(&addr.ip()) {
                    out.push(addr.ip());
                }
            }
            Ok(out)
        })
    }
}

/// A fixed name table (for tests and benchmarks); IP literals resolve to themselves, unknown names
/// fail like a DNS miss.
#[derive(Debug, Default, Clone)]
pub struct StaticResolver {
    names: Vec<(String, Vec<IpAddr>)>,
}

impl StaticResolver {
    pub fn new() -> StaticResolver {
        StaticResolver::default()
    }

    pub fn with(mut self, name: &str, addresses: &[&str]) -> StaticResolver {
        let ips = addresses.iter().filter_map(|a| a.parse().ok()).collect();
        self.names.push((name.to_string(), ips));
        self
    }
}

impl Resolver for StaticResolver {
    fn resolve<'a>(&'a self, host: &'a str) -> BoxFuture<'a, io::Result<Vec<IpAddr>>> {
        Box::pin(async move {
            if let Ok(ip) = host.parse::<IpAddr>() {
                return Ok(vec![ip]);
            }
            self.names
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(host))
                .map(|(_, ips)| ips.clone())
                .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("no such host: {host}")))
        })
    }
}

/// One thing to probe: a host and port, plus the addresses to try directly.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Target {
    pub purpose: &'static str,
    pub subject: String,
    pub url: Option<String>,
    pub host: String,
    pub port: u16,
    /// Addresses the catalog itself names (listener IPs); when empty, the resolved addresses.
    pub catalog_ips: Vec<String>,
}

/// Every probe target the collected rows name, deduplicated, in a stable order.
pub fn targets(instances: &[Instance]) -> Vec<Target> {
    let mut out = BTreeSet::new();
    for inst in instances.iter().filter(|i| i.connected) {
        for replica in inst.rows_or_empty(keys::AVAILABILITY_REPLICAS) {
            let subject = replica.str("replica_server_name").unwrap_or_default().to_string();
            for (purpose, column) in [("endpoint", "endpoint_url"), ("routing", "read_only_routing_url")] {
                // A URL that does not parse is the URL checks' finding; there is nothing to connect to.
                if let Some(url) = replica.str(column)
                    && let Ok(parsed) = TcpUrl::parse(url)
                {
                    out.insert(Target {
                        purpose,
                        subject: subject.clone(),
                        url: Some(url.to_string()),
                        host: parsed.host,
                        port: parsed.port,
                        catalog_ips: Vec::new(),
                    });
                }
            }
        }
        let ips = inst.rows_or_empty(keys::AVAILABILITY_GROUP_LISTENER_IP_ADDRESSES);
        for listener in inst.rows_or_empty(keys::AVAILABILITY_GROUP_LISTENERS) {
            let (Some(name), Some(port)) = (listener.str("dns_name"), listener.int("port")) else { continue };
            let Ok(port) = u16::try_from(port) else { continue };
            let id = listener.str("listener_id");
            let mut catalog_ips: Vec<String> = ips
                .iter()
                .filter(|ip| id.is_some() && ip.str("listener_id").map(str::to_ascii_lowercase) == id.map(str::to_ascii_lowercase))
                .filter_map(|ip| ip.str("ip_address").map(str::to_string))
                .collect();
            catalog_ips.sort();
            catalog_ips.dedup();
            out.insert(Target { purpose: "listener", subject: name.to_string(), url: None, host: name.to_string(), port, catalog_ips });
        }
    }
    // A listener seen on several replicas with different IP rows: keep one target with all IPs.
    let mut merged: Vec<Target> = Vec::new();
    for t in out {
        match merged.iter_mut().find(|m| m.purpose == t.purpose && m.subject == t.subject && m.host == t.host && m.port == t.port && m.url == t.url) {
            Some(m) => {
                m.catalog_ips.extend(t.catalog_ips);
                m.catalog_ips.sort();
                m.catalog_ips.dedup();
            }
            None => merged.push(t),
        }
    }
    merged
}

/// Runs every probe for `targets` in parallel.
pub async fn run(targets: &[Target], resolver: Arc<dyn Resolver>, timeout: Duration) -> Vec<Probe> {
    let per_target = targets.iter().map(|t| guarded(t, resolver.clone(), timeout));
    join_all(per_target).await.into_iter().flatten().collect()
}

/// A panic while probing one target (a resolver that panics, say) becomes that target's error;
/// the other probes and the instances' rows are kept.
async fn guarded(target: &Target, resolver: Arc<dyn Resolver>, timeout: Duration) -> Vec<Probe> {
    match AssertUnwindSafe(probe_target(target, resolver, timeout)).catch_unwind().await {
        Ok(probes) => probes,
        Err(payload) => {
            let mut failed = base_probe(target);
            failed.error = Some(format!("internal error in agdiag while probing (please report it): {}", super::panic_text(payload.as_ref())));
            vec![failed]
        }
    }
}

pub(super) fn base_probe(target: &Target) -> Probe {
    Probe {
        purpose: target.purpose.to_string(),
        subject: target.subject.clone(),
        url: target.url.clone(),
        host: target.host.clone(),
        port: target.port,
        via: "name".into(),
        address: None,
        ok: false,
        error: None,
        elapsed_ms: None,
        resolved: None,
        dm_exec_connections: None,
    }
}

async fn probe_target(target: &Target, resolver: Arc<dyn Resolver>, timeout: Duration) -> Vec<Probe> {
    let base = base_probe(target);
    let started = Instant::now();
    let resolved = match tokio::time::timeout(timeout, resolver.resolve(&target.host)).await {
        Ok(Ok(ips)) if !ips.is_empty() => ips,
        outcome => {
            let why = match outcome {
                Ok(Err(e)) => e.to_string(),
                Ok(Ok(_)) => "no addresses".into(),
                Err(_) => format!("timed out after {} ms", timeout.as_millis()),
            };
            let mut failed = base.clone();
            failed.error = Some(format!("name resolution failed: {why}"));
            failed.elapsed_ms = Some(started.elapsed().as_millis() as u64);
            // The catalog's own IPs can still be probed.
            let mut probes = vec![failed];
            let by_ip = target.catalog_ips.iter().filter_map(|ip| ip.parse::<IpAddr>().ok());
            probes.extend(join_all(by_ip.map(|ip| probe_ip(&base, ip, timeout))).await);
            return probes;
        }
    };
    let ip_targets: Vec<IpAddr> = if target.catalog_ips.is_empty() {
        resolved.clone()
    } else {
        target.catalog_ips.iter().filter_map(|ip| ip.parse().ok()).collect()
    };
    let mut named = base.clone();
    named.resolved = Some(resolved.iter().map(IpAddr::to_string).collect());
    let by_name = probe_name(&named, &resolved, timeout, started);
    let by_ip = join_all(ip_targets.into_iter().map(|ip| probe_ip(&base, ip, timeout)));
    let (name_probe, ip_probes) = futures_util::join!(by_name, by_ip);
    let mut probes = vec![name_probe];
    probes.extend(ip_probes);
    probes
}

/// Connects by name the way a client does: the resolved addresses in order until one answers.
async fn probe_name(base: &Probe, resolved: &[IpAddr], timeout: Duration, started: Instant) -> Probe {
    let mut probe = base.clone();
    let deadline = started + timeout;
    let mut last_error = None;
    for ip in resolved {
        let left = deadline.saturating_duration_since(Instant::now());
        match connect(SocketAddr::new(*ip, base.port), left, timeout).await {
            Ok(()) => {
                probe.ok = true;
                probe.address = Some(ip.to_string());
                last_error = None;
                break;
            }
            Err(e) => {
                probe.address.get_or_insert_with(|| ip.to_string());
                last_error = Some(e);
            }
        }
    }
    probe.error = last_error;
    probe.elapsed_ms = Some(started.elapsed().as_millis() as u64);
    probe
}

async fn probe_ip(base: &Probe, ip: IpAddr, timeout: Duration) -> Probe {
    let started = Instant::now();
    let result = connect(SocketAddr::new(ip, base.port), timeout, timeout).await;
    Probe {
        via: "ip".into(),
        address: Some(ip.to_string()),
        ok: result.is_ok(),
        error: result.err(),
        elapsed_ms: Some(started.elapsed().as_millis() as u64),
        ..base.clone()
    }
}

async fn connect(addr: SocketAddr, left: Duration, timeout: Duration) -> Result<(), String> {
    match tokio::time::timeout(left, TcpStream::connect(addr)).await {
        Ok(Ok(_stream)) => Ok(()),
        Ok(Err(e)) => Err(io_error(&e)),
        Err(_) => Err(format!("connection timed out after {} ms", timeout.as_millis())),
    }
}

fn io_error(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => "connection refused".into(),
        io::ErrorKind::ConnectionReset => "connection reset".into(),
        io::ErrorKind::HostUnreachable => "host unreachable".into(),
        io::ErrorKind::NetworkUnreachable => "network unreachable".into(),
        _ => e.to_string(),
    }
}
