//! Seed: "Network Access" (troubleshoot-ag-configuration.md) and "Failures Due to Hard Errors"
//! (session-failures-between-replicas.md).
//!
//! The seed's diagnosis compares two TCP tests of the same port: one to the host name, one to the
//! IP address. The snapshot's `probes` hold exactly those tests, run by the collector **from the
//! machine that ran AgDiag**, not from one replica to another: a firewall rule that only admits the
//! other replicas, or a DNS view that differs between sites, can make that machine's result differ
//! from what the replicas see. Every finding says so.
//!
//! - by name fails, by IP works (or the name does not resolve) → name resolution (`name_resolution`;
//!   for a listener name, `listener.dns_records`, which compares its DNS records with its IPs);
//! - by name works, by IP fails → another endpoint or instance bound to the port (`port_bound_elsewhere`);
//! - both fail → firewall / NSG, or nothing listening on the port (`unreachable`), cross-checked
//!   against the replica's endpoint state and `dm_tcp_listener_states`.
//!
//! Probes are grouped by (host, port): the TCP result of one host:port does not depend on why it
//! was probed, so an instance probe and a routing probe of `sql2:1433` give one finding.

use std::net::IpAddr;

use serde_json::{Value, json};

use super::{Check, CheckInfo, CheckRun, Ctx};
use crate::findings::{Category, FixStep, Phase, Severity};
use crate::fix::tsql;
use crate::snapshot::{Instance, Probe, Row, keys};
use crate::tcp_url::TcpUrl;

pub const CHECKS: &[Check] = &[
    Check {
        info: CheckInfo {
            id: "network.name_resolution",
            category: Category::Network,
            title: "Host name does not resolve, or resolves to an address that does not answer",
            description: "A TCP test to the host name of an endpoint URL, routing URL or instance fails while the test to its IP address on the same port succeeds, or the name does not resolve at all. The seed's diagnosis: a DNS or name resolution problem (a stale DNS record, a wrong DNS suffix, an entry in the hosts file). Replicas connect to each other by the names in endpoint_url, so they fail the same way when they resolve the name as this machine does. (A listener name's records are listener.dns_records.)",
            needs: &["probes"],
            related_errors: &[1418, 35201, 35250],
            seed: "troubleshoot-ag-configuration: Network Access (Test-NetConnection by name fails, by IP works: DNS); Join Database Fails (35250) step 6",
        },
        run: name_resolution,
    },
    Check {
        info: CheckInfo {
            id: "network.port_bound_elsewhere",
            category: Category::Network,
            title: "Port answers by host name but not by IP address",
            description: "A TCP test to the host name succeeds while the test to the IP address on the same port fails. The seed's diagnosis: there could be more than one endpoint defined on that server (another SQL instance perhaps) listening on that port; though the endpoint on the instance in question shows STARTED, another instance may have the port bound and prevent the correct instance from listening and establishing TCP connections.",
            needs: &["probes"],
            related_errors: &[1418, 9692, 35201, 35250],
            seed: "troubleshoot-ag-configuration: Network Access (Test-NetConnection by name works, by IP fails: another endpoint bound to the port)",
        },
        run: port_bound_elsewhere,
    },
    Check {
        info: CheckInfo {
            id: "network.unreachable",
            category: Category::Network,
            title: "Endpoint port cannot be reached by name or by IP address",
            description: "Every TCP test to a database mirroring endpoint (or an instance's SQL port) failed, by host name and by IP address: a firewall or Azure NSG blocks the port, or nothing listens on it (the endpoint is not started, or listens on another port; 5022 by default). When the replica's snapshot shows its endpoint STARTED and listening on that port, the firewall is the likely cause.",
            needs: &[
                "probes",
                keys::DATABASE_MIRRORING_ENDPOINTS,
                keys::TCP_ENDPOINTS,
                keys::DM_TCP_LISTENER_STATES,
            ],
            related_errors: &[1418, 35201, 35206, 35250],
            seed: "troubleshoot-ag-configuration: Network Access (Test-NetConnection fails: firewall, anti-virus, NSG; port 5022 by default); Join Database Fails (35250) step 2",
        },
        run: unreachable,
    },
];

/// Why a network check has nothing to judge.
pub(crate) const NO_PROBES: &str = "no probes in the snapshot: run `agdiag collect` (or `agdiag check`), which tests TCP \
     reachability of every endpoint URL, listener and routing URL by name and by IP address from the machine it runs on";

pub(crate) const FROM_HERE: &str =
    "The test ran from the machine that ran AgDiag, not from one replica to another: confirm it from the replicas themselves";

/// The probes of one host:port.
pub(crate) struct ProbeGroup<'s> {
    pub host: &'s str,
    pub port: u16,
    /// Every purpose/subject that probed this host:port (`endpoint SQL2`, `routing SQL2`).
    pub subjects: Vec<(&'s str, &'s str)>,
    pub by_name: Vec<&'s Probe>,
    pub by_ip: Vec<&'s Probe>,
}

impl<'s> ProbeGroup<'s> {
    fn all(&self) -> impl Iterator<Item = &'s Probe> + '_ {
        self.by_name.iter().chain(self.by_ip.iter()).copied()
    }

    pub fn has_purpose(&self, purpose: &str) -> bool {
        self.subjects.iter().any(|(p, _)| p.eq_ignore_ascii_case(purpose))
    }

    /// The subject of the first probe with `purpose`.
    pub fn subject_for(&self, purpose: &str) -> Option<&'s str> {
        self.subjects.iter().find(|(p, _)| p.eq_ignore_ascii_case(purpose)).map(|(_, s)| *s)
    }

    pub fn any_ok(&self) -> bool {
        self.all().any(|p| p.ok)
    }

    pub fn evidence(&self) -> Value {
        json!(self.all().map(|p| serde_json::to_value(p).unwrap_or(Value::Null)).collect::<Vec<_>>())
    }

    fn endpointish(&self) -> bool {
        self.has_purpose("endpoint") || self.has_purpose("listener")
    }

    /// "SQL2's database mirroring endpoint" / "Listener AG1-LISTENER" / "SQL2's read-only routing URL": each starts a message.
    fn what(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        for (purpose, subject) in &self.subjects {
            let text = match purpose.to_ascii_lowercase().as_str() {
                "endpoint" => format!("{subject}'s database mirroring endpoint"),
                "listener" => format!("Listener {subject}"),
                "routing" => format!("{subject}'s read-only routing URL"),
                "instance" => format!("Instance {subject}"),
                other => format!("{subject} ({other})"),
            };
            if !parts.contains(&text) {
                parts.push(text);
            }
        }
        parts.join(", ")
    }
}

/// Groups probes by (host, port), keeping the snapshot's order.
pub(crate) fn probe_groups<'p>(probes: impl IntoIterator<Item = &'p Probe>) -> Vec<ProbeGroup<'p>> {
    let mut groups: Vec<ProbeGroup<'p>> = Vec::new();
    // A login probe is not a TCP test: listener.kerberos reads it.
    for probe in probes.into_iter().filter(|p| !p.via.eq_ignore_ascii_case("login")) {
        let index = match groups.iter().position(|g| g.host.eq_ignore_ascii_case(&probe.host) && g.port == probe.port) {
            Some(i) => i,
            None => {
                groups.push(ProbeGroup { host: &probe.host, port: probe.port, subjects: Vec::new(), by_name: Vec::new(), by_ip: Vec::new() });
                groups.len() - 1
            }
        };
        let group = &mut groups[index];
        let subject = (probe.purpose.as_str(), probe.subject.as_str());
        if !group.subjects.contains(&subject) {
            group.subjects.push(subject);
        }
        if probe.via.eq_ignore_ascii_case("ip") {
            group.by_ip.push(probe);
        } else {
            group.by_name.push(probe);
        }
    }
    groups
}

/// True when a failed by-name probe failed before connecting: the name did not resolve.
pub(crate) fn unresolved(probe: &Probe) -> bool {
    if probe.ok {
        return false;
    }
    let error = probe.error.as_deref().unwrap_or("").to_lowercase();
    let resolution_error = [
        "resolve",
        "resolution",
        "no such host",
        "name or service not known",
        "nodename nor servname",
        "host not found",
        "11001",
        "no address",
        "dns",
    ]
    .iter()
    .any(|k| error.contains(k));
    resolution_error || probe.address.as_deref().is_none_or(|a| a.trim().is_empty())
}

/// "by name to 10.0.9.50: connection timed out after 3000 ms".
pub(crate) fn describe(probe: &Probe) -> String {
    let via = if probe.via.eq_ignore_ascii_case("ip") { "by IP" } else { "by name" };
    let address = probe.address.as_deref().filter(|a| !a.trim().is_empty());
    let target = match address {
        Some(a) => format!("{via} {}:{} (address {a})", probe.host, probe.port),
        None => format!("{via} {}:{} (no address)", probe.host, probe.port),
    };
    if probe.ok {
        format!("{target}: connected")
    } else {
        format!("{target}: failed, {}", probe.error.as_deref().unwrap_or("no error text"))
    }
}

fn same_address(a: &str, b: &str) -> bool {
    let bare = |s: &str| s.trim().trim_start_matches('[').trim_end_matches(']').to_string();
    match (bare(a).parse::<IpAddr>(), bare(b).parse::<IpAddr>()) {
        (Ok(x), Ok(y)) => x == y,
        _ => bare(a).eq_ignore_ascii_case(&bare(b)),
    }
}

/// The AG and replica a probe subject names, for the finding's context.
fn context<'s>(ctx: &Ctx<'s>, group: &ProbeGroup<'_>) -> (Option<&'s str>, Option<&'s str>) {
    for (purpose, subject) in &group.subjects {
        for ag in &ctx.topology.ags {
            if purpose.eq_ignore_ascii_case("listener") {
                let source = &ctx.snapshot.instances[ag.source];
                let listens = source.rows_or_empty(keys::AVAILABILITY_GROUP_LISTENERS).iter().any(|l| {
                    crate::topology::guid(l, "group_id").as_deref() == Some(ag.group_id.as_str())
                        && l.str("dns_name").is_some_and(|n| n.eq_ignore_ascii_case(subject))
                });
                if listens {
                    return (Some(ag.name), None);
                }
            } else if let Some(r) = ag.replica_named(subject) {
                return (Some(ag.name), Some(r.server_name));
            }
        }
    }
    (None, None)
}

/// Starts the finding with the scope every network finding shares.
fn begin<'r, 'c>(
    run: &'r mut CheckRun<'c>,
    ctx: &Ctx<'_>,
    group: &ProbeGroup<'_>,
    severity: Severity,
) -> super::Draft<'r, 'c> {
    let (ag, replica) = context(ctx, group);
    let mut draft = run.finding(severity, format!("{}:{}", group.host, group.port));
    if let Some(r) = replica {
        draft = draft.instance(r).replica(r);
    }
    if let Some(ag) = ag {
        draft = draft.ag(ag);
    }
    draft
}

fn severity_for(group: &ProbeGroup<'_>) -> Severity {
    if group.endpointish() { Severity::Error } else { Severity::Warning }
}

/// A PowerShell single-quoted string ('' doubles a quote); control characters shown escaped.
fn ps_quote(text: &str) -> String {
    format!("'{}'", tsql::comment(text).replace('\'', "''"))
}

/// Where a manual network step is taken: the probed machine (a replica) or, for a listener, its name.
fn manual_target(group: &ProbeGroup<'_>) -> String {
    group.subjects.first().map_or_else(|| group.host.to_string(), |(_, s)| tsql::comment(s))
}

fn diagnose_commands(group: &ProbeGroup<'_>, addresses: &[&str]) -> String {
    let mut lines = vec![
        format!("Resolve-DnsName {}", ps_quote(group.host)),
        format!("Test-NetConnection -ComputerName {} -Port {}", ps_quote(group.host), group.port),
    ];
    for a in addresses {
        lines.push(format!("Test-NetConnection -ComputerName {} -Port {}", ps_quote(a), group.port));
    }
    lines.join("\n")
}

fn probes_or_skip<'s>(ctx: &Ctx<'s>, run: &mut CheckRun<'_>) -> Option<Vec<ProbeGroup<'s>>> {
    if ctx.snapshot.probes.is_empty() {
        run.skip("probes", NO_PROBES);
        return None;
    }
    run.evaluated();
    let probes = &ctx.snapshot.probes;
    Some(probe_groups(probes.iter().filter(|p| !refused_by_design(ctx, p, probes))))
}

/// A failed listener probe that the listener's design explains, so no network finding: an address
/// the catalog lists as OFFLINE (in a multi-subnet listener only the primary's subnet's IP is
/// ONLINE), or an address of a DNN listener that did not answer while another did (a DNN name
/// resolves to every node, and only the primary listens on the DNN port).
pub(crate) fn refused_by_design(ctx: &Ctx<'_>, probe: &Probe, all: &[Probe]) -> bool {
    if probe.ok || !probe.purpose.eq_ignore_ascii_case("listener") {
        return false;
    }
    let Some(address) = probe.address.as_deref().filter(|a| !a.trim().is_empty()) else { return false };
    let same_listener = |p: &Probe| p.purpose.eq_ignore_ascii_case("listener") && p.subject.eq_ignore_ascii_case(&probe.subject) && p.port == probe.port;
    ctx.instances().any(|inst| {
        let ips = inst.rows_or_empty(keys::AVAILABILITY_GROUP_LISTENER_IP_ADDRESSES);
        inst.rows_or_empty(keys::AVAILABILITY_GROUP_LISTENERS)
            .iter()
            .filter(|l| l.str("dns_name").is_some_and(|n| n.eq_ignore_ascii_case(&probe.subject)))
            .any(|l| {
                if l.bit("is_distributed_network_name") == Some(true) {
                    return all.iter().any(|p| p.ok && same_listener(p));
                }
                let id = l.str("listener_id").map(str::to_ascii_lowercase);
                ips.iter().any(|ip| {
                    id.is_some()
                        && ip.str("listener_id").map(str::to_ascii_lowercase) == id
                        && ip.str("ip_address").is_some_and(|a| same_address(a, address))
                        && match ip.code("state_desc") {
                            Some(d) => d.eq_ignore_ascii_case("OFFLINE"),
                            None => ip.int("state") == Some(0),
                        }
                })
            })
    })
}

fn name_resolution(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
    let Some(groups) = probes_or_skip(ctx, run) else { return };
    for group in groups {
        if group.by_name.is_empty() || group.by_name.iter().any(|p| p.ok) {
            continue; // the name works (or was not tested): not a name problem
        }
        if group.subjects.iter().all(|(purpose, _)| purpose.eq_ignore_ascii_case("listener")) {
            continue; // a listener name's DNS records: listener.dns_records
        }
        let not_resolved: Vec<&Probe> = group.by_name.iter().copied().filter(|p| unresolved(p)).collect();
        let ip_ok: Vec<&Probe> = group.by_ip.iter().copied().filter(|p| p.ok).collect();
        if not_resolved.is_empty() && ip_ok.is_empty() {
            continue; // both fail: network.unreachable
        }
        let name_addresses: Vec<&str> = group.by_name.iter().filter_map(|p| p.address.as_deref()).collect();
        let good: Vec<&str> = ip_ok.iter().filter_map(|p| p.address.as_deref()).collect();
        let stale: Vec<&str> =
            name_addresses.iter().copied().filter(|n| !good.iter().any(|g| same_address(n, g))).collect();
        let host = group.host;
        let diagnosis = if !not_resolved.is_empty() {
            format!("the name {host} does not resolve from this machine")
        } else if !stale.is_empty() && !good.is_empty() {
            format!(
                "{host} resolves to {} but the service answers on {}: a stale or wrong DNS record (or hosts file entry) for {host}",
                stale.join(", "),
                good.join(", ")
            )
        } else {
            format!("connecting to {host} by name fails while its IP address answers on the same port")
        };
        let tests: Vec<String> = group.all().map(describe).collect();
        let what = group.what();
        run_finding_name(run, ctx, &group, &what, &diagnosis, &tests, &good, &stale);
    }
}

#[allow(clippy::too_many_arguments)]
fn run_finding_name(
    run: &mut CheckRun<'_>,
    ctx: &Ctx<'_>,
    group: &ProbeGroup<'_>,
    what: &str,
    diagnosis: &str,
    tests: &[String],
    good: &[&str],
    stale: &[&str],
) {
    let (host, port) = (group.host, group.port);
    let consequence = if group.has_purpose("listener") {
        "Clients that connect through the listener name fail the same way when they resolve it as this machine does."
    } else if group.has_purpose("endpoint") {
        "Replicas connect to each other by the names in endpoint_url: a replica that resolves the name this way cannot \
         connect (error 1418 or 35201, and 35250 when joining a database)."
    } else {
        "Connections that use this name fail the same way."
    };
    let mut fixes = vec![FixStep::manual(
        &manual_target(group),
        Phase::Prerequisite,
        format!(
            "From the machine that ran AgDiag and from each replica, compare:\n{}\n\
             Then correct the DNS A record of {host}{}, remove stale entries for it from \
             C:\\Windows\\System32\\drivers\\etc\\hosts, check the DNS suffix search list (Get-DnsClientGlobalSetting), and run ipconfig /flushdns.",
            diagnose_commands(group, good),
            if good.is_empty() { String::new() } else { format!(" (the address that answers is {})", good.join(", ")) },
        ),
    )];
    if group.has_purpose("listener") {
        fixes.push(FixStep::manual(
            &manual_target(group),
            Phase::Prerequisite,
            "A listener's DNS record is registered by the cluster: after a failover to another subnet or an IP change, \
             a client's cached record can be stale for the record's TTL (HostRecordTTL, 1200 s by default). \
             Get-ClusterResource <network name> | Get-ClusterParameter HostRecordTTL, RegisterAllProvidersIP.",
        ));
    }
    begin(run, ctx, group, severity_for(group))
        .message(format!(
            "{what}: {diagnosis}. Tests of {host}:{port}: {}. {FROM_HERE}. {consequence}",
            tests.join("; ")
        ))
        .evidence(json!({
            "host": host,
            "port": port,
            "probes": group.evidence(),
            "name_resolves_to": group.by_name.iter().filter_map(|p| p.address.as_deref()).collect::<Vec<_>>(),
            "answering_addresses": good,
            "stale_addresses": stale,
        }))
        .remediation(format!(
            "Resolve {host} on this machine and on every replica (Resolve-DnsName) and compare with the address that \
             answers; fix the DNS record, the hosts file or the DNS suffix so that {host} resolves to the right address, \
             then flush the DNS caches (ipconfig /flushdns)."
        ))
        .fixes(fixes)
        .emit();
}

fn port_bound_elsewhere(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
    let Some(groups) = probes_or_skip(ctx, run) else { return };
    for group in groups {
        let name_ok: Vec<&Probe> = group.by_name.iter().copied().filter(|p| p.ok).collect();
        let ip_failed: Vec<&Probe> = group.by_ip.iter().copied().filter(|p| !p.ok).collect();
        if name_ok.is_empty() || ip_failed.is_empty() {
            continue;
        }
        let (host, port) = (group.host, group.port);
        let name_addresses: Vec<&str> = name_ok.iter().filter_map(|p| p.address.as_deref()).collect();
        let failed_addresses: Vec<&str> = ip_failed.iter().filter_map(|p| p.address.as_deref()).collect();
        let other_address: Vec<&str> = failed_addresses
            .iter()
            .copied()
            .filter(|f| !name_addresses.iter().any(|n| same_address(n, f)))
            .collect();
        let address_note = if other_address.is_empty() {
            String::new()
        } else {
            format!(
                " The name connected to {}, a different address than the one that failed ({}): the port may be bound to one \
                 address only (LISTENER_IP of the endpoint), or that address belongs to another machine.",
                if name_addresses.is_empty() { "an unrecorded address".to_string() } else { name_addresses.join(", ") },
                other_address.join(", ")
            )
        };
        let tests: Vec<String> = group.all().map(describe).collect();
        let target = manual_target(&group);
        begin(run, ctx, &group, severity_for(&group))
            .message(format!(
                "{}: connecting to {host}:{port} by name works but by IP address fails. Tests: {}. {FROM_HERE}. If \
                 connection works by server name and not by IP address, then there could be more than one endpoint \
                 defined on that server (another SQL instance perhaps) that is listening on that port. Though the \
                 status of the endpoint on the instance in question shows \"STARTED\", another instance may actually \
                 have the port bound and prevent the correct instance from listening and establishing TCP \
                 connections.{address_note}",
                group.what(),
                tests.join("; "),
            ))
            .evidence(json!({
                "host": host,
                "port": port,
                "probes": group.evidence(),
                "name_connected_to": name_addresses,
                "ip_failed": failed_addresses,
            }))
            .remediation(format!(
                "On {target}, find which process owns port {port} (Get-NetTCPConnection -LocalPort {port} -State Listen, \
                 then Get-Process -Id <OwningProcess>) and which SQL Server instances define a database mirroring endpoint \
                 on {port}. Give each instance its own endpoint port, or bind each endpoint to its own address (LISTENER_IP)."
            ))
            .fix(FixStep::manual(
                &target,
                Phase::Prerequisite,
                format!(
                    "Get-NetTCPConnection -LocalPort {port} -State Listen | Select-Object LocalAddress, LocalPort, OwningProcess\n\
                     Get-Process -Id <OwningProcess>   # which sqlservr.exe (instance) or other program holds {port}\n\
                     {}",
                    diagnose_commands(&group, &failed_addresses)
                ),
            ))
            .emit();
    }
}

/// What the probed replica's own snapshot says about its endpoint on `port`.
struct EndpointFacts<'s> {
    endpoint: Option<&'s Row>,
    started: bool,
    /// `tcp_endpoints.port` of the DATABASE_MIRRORING endpoint.
    configured_port: Option<i64>,
    /// A DATABASE_MIRRORING row ONLINE on `port` in `dm_tcp_listener_states`.
    listening: Option<&'s Row>,
    mirroring_listeners: Vec<&'s Row>,
}

fn endpoint_facts(inst: &Instance, port: u16) -> Result<EndpointFacts<'_>, String> {
    let endpoints = inst
        .rows(keys::DATABASE_MIRRORING_ENDPOINTS)
        .map_err(|why| format!("{} of {}: {why}", keys::DATABASE_MIRRORING_ENDPOINTS, inst.name()))?;
    let listeners = inst
        .rows(keys::DM_TCP_LISTENER_STATES)
        .map_err(|why| format!("{} of {}: {why}", keys::DM_TCP_LISTENER_STATES, inst.name()))?;
    let endpoint = endpoints.iter().find(|r| r.is("type_desc", "DATABASE_MIRRORING") || r.int("type") == Some(4));
    let endpoint = endpoint.or(endpoints.first());
    let configured_port = inst
        .rows_or_empty(keys::TCP_ENDPOINTS)
        .iter()
        .find(|r| r.is("type_desc", "DATABASE_MIRRORING") || r.int("type") == Some(4))
        .and_then(|r| r.int("port"));
    let mirroring_listeners: Vec<&Row> = listeners
        .iter()
        .filter(|r| r.is("type_desc", "DATABASE_MIRRORING") || r.int("type") == Some(2))
        .collect();
    let online_on_port = |r: &&Row| {
        r.int("port") == Some(i64::from(port)) && r.code("state_desc").is_none_or(|s| s.eq_ignore_ascii_case("ONLINE"))
    };
    // Prefer the IPv4 row: it reads better in a message and is what Test-NetConnection used.
    let listening = mirroring_listeners
        .iter()
        .copied()
        .filter(online_on_port)
        .max_by_key(|r| r.bit("is_ipv4") == Some(true));
    Ok(EndpointFacts {
        endpoint,
        started: endpoint.is_some_and(|e| e.is("state_desc", "STARTED")),
        configured_port,
        listening,
        mirroring_listeners,
    })
}

const LISTENER_COLUMNS: &[&str] = &["ip_address", "port", "type", "type_desc", "state_desc"];
const ENDPOINT_COLUMNS: &[&str] = &["name", "endpoint_id", "type_desc", "state_desc", "role_desc"];

/// `10.0.0.12:5022`, `[::]:5022`.
pub(crate) fn address_port(address: &str, port: u16) -> String {
    if address.contains(':') { format!("[{address}]:{port}") } else { format!("{address}:{port}") }
}

fn firewall_rule(port: u16, display: &str) -> String {
    format!("New-NetFirewallRule -DisplayName '{display}' -Direction Inbound -Protocol TCP -LocalPort {port} -Action Allow")
}

fn unreachable(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
    let Some(groups) = probes_or_skip(ctx, run) else { return };
    for group in groups {
        // Listener probes: listener.unreachable; routing URL probes: the routing checks.
        if !(group.has_purpose("endpoint") || group.has_purpose("instance")) {
            continue;
        }
        if group.any_ok() {
            continue;
        }
        // Only a connect attempt to an address proves the port unreachable; a name that never
        // resolved is network.name_resolution.
        let attempts: Vec<&Probe> =
            group.all().filter(|p| p.address.as_deref().is_some_and(|a| !a.trim().is_empty()) && !unresolved_only(p)).collect();
        if attempts.is_empty() {
            continue;
        }
        let (host, port) = (group.host, group.port);
        let endpoint_subject = group.subject_for("endpoint");
        let subject = endpoint_subject.or(group.subject_for("instance")).unwrap_or(host);
        let tests: Vec<String> = group.all().map(describe).collect();
        let mut evidence = json!({ "host": host, "port": port, "probes": group.evidence() });
        let target = tsql::comment(subject);
        let rule_name = if endpoint_subject.is_some() { "SQL AG endpoint" } else { "SQL Server" };
        let mut fixes: Vec<FixStep> = Vec::new();
        let url_port = endpoint_subject.and_then(|s| endpoint_url_port(ctx, s));
        // Set when the endpoint is healthy on another port: the URL is wrong, not the network.
        let mut wrong_port: Option<i64> = None;
        let cause = match (endpoint_subject, ctx.instance_named(subject)) {
            (Some(_), Some(inst)) => match endpoint_facts(inst, port) {
                Ok(facts) => {
                    evidence["database_mirroring_endpoints"] = json!(facts.endpoint.map(|e| e.pick(ENDPOINT_COLUMNS)));
                    evidence["tcp_endpoints_port"] = json!(facts.configured_port);
                    evidence["dm_tcp_listener_states"] =
                        json!(facts.mirroring_listeners.iter().map(|r| r.pick(LISTENER_COLUMNS)).collect::<Vec<_>>());
                    if facts.endpoint.is_none() {
                        format!("{subject} has no database mirroring endpoint, so nothing listens on {port} (see endpoint.missing)")
                    } else if !facts.started {
                        format!(
                            "{subject}'s endpoint [{}] is {}, not STARTED, so it accepts no connection on {port} (see endpoint.not_started)",
                            facts.endpoint.and_then(|e| e.str("name")).unwrap_or("?"),
                            facts.endpoint.and_then(|e| e.code("state_desc")).unwrap_or("in an unknown state"),
                        )
                    } else if let Some(listening) = facts.listening {
                        fixes.push(FixStep::manual(
                            &target,
                            Phase::Prerequisite,
                            format!(
                                "On {subject}'s computer, allow the endpoint port inbound (and in the Azure NSG, if any):\n{}\n\
                                 Get-NetFirewallRule -Action Block -Enabled True -Direction Inbound | Format-Table",
                                firewall_rule(port, rule_name)
                            ),
                        ));
                        format!(
                            "{subject}'s endpoint is STARTED and dm_tcp_listener_states shows it ONLINE on {}, so \
                             the firewall (Windows Firewall, anti-virus, or an Azure NSG) is the likely cause",
                            address_port(listening.str("ip_address").unwrap_or("?"), port)
                        )
                    } else if let Some(real) = facts.configured_port.filter(|p| *p != i64::from(port)) {
                        wrong_port = Some(real);
                        fixes.push(FixStep::manual(
                            &target,
                            Phase::Prerequisite,
                            format!(
                                "{subject}'s endpoint listens on {real}: its endpoint_url must change, not the network (the \
                                 endpoint.port_mismatch fix does it, on the primary). After that change, re-test from \
                                 each other replica:\nTest-NetConnection -ComputerName {} -Port {real}",
                                ps_quote(host)
                            ),
                        ));
                        format!(
                            "{subject}'s endpoint is STARTED but listens on port {real}, not {port}: the URL names the wrong \
                             port (see endpoint.port_mismatch)"
                        )
                    } else {
                        format!(
                            "{subject}'s endpoint is STARTED but dm_tcp_listener_states shows no DATABASE_MIRRORING listener \
                             ONLINE on {port}: the endpoint is not listening, often because another process holds the port \
                             (error 9692 in {subject}'s error log)"
                        )
                    }
                }
                Err(why) => format!(
                    "{subject}'s endpoint state could not be read ({why}): a firewall or Azure NSG blocking port {port}, or \
                     the endpoint not listening on it, are the candidates"
                ),
            },
            (Some(_), None) => format!(
                "{subject} was not collected, so its endpoint state is unknown: a firewall or Azure NSG blocking port {port}, \
                 or the endpoint not listening on it (5022 by default), are the candidates"
            ),
            (None, _) => format!(
                "a firewall or Azure NSG blocking port {port}, or SQL Server not listening on it (TCP/IP disabled, another port), \
                 are the candidates"
            ),
        };
        if fixes.is_empty() {
            fixes.push(FixStep::manual(
                &target,
                Phase::Prerequisite,
                format!(
                    "On {subject}'s computer: Get-NetTCPConnection -LocalPort {port} -State Listen   # is anything listening?\n\
                     Get-NetFirewallRule -Action Block -Enabled True -Direction Inbound | Format-Table\n\
                     If the port listens but is blocked: {}",
                    firewall_rule(port, rule_name)
                ),
            ));
        }
        if let Some(p) = url_port {
            evidence["endpoint_url_port"] = json!(p);
        }
        let remediation = match (wrong_port, endpoint_subject) {
            (Some(real), _) => format!(
                "The network is not the cause: {subject}'s endpoint listens on {real}, not on {port}. Correct the endpoint \
                 URL (endpoint.port_mismatch has the statement), then re-test port {real} from every other replica."
            ),
            (None, Some(_)) => format!(
                "Make sure the endpoint is STARTED and listening on {port} on {subject} (Get-NetTCPConnection -LocalPort \
                 {port} -State Listen), then allow TCP {port} inbound in Windows Firewall (and the Azure NSG) between every \
                 pair of replicas."
            ),
            (None, None) => format!(
                "Make sure SQL Server listens on TCP {port} on {subject} (SQL Server Configuration Manager: TCP/IP enabled, \
                 that port set; Get-NetTCPConnection -LocalPort {port} -State Listen), then allow TCP {port} inbound in \
                 Windows Firewall (and the Azure NSG) from the clients."
            ),
        };
        let consequence = if endpoint_subject.is_some() {
            "Partner replicas that cannot reach this port stay DISCONNECTED (errors 1418, 35201; 35250 when joining a database)."
        } else {
            "Clients and routed read-only connections cannot reach this instance."
        };
        begin(run, ctx, &group, severity_for(&group))
            .message(format!(
                "{}: {host}:{port} could not be reached by name or by IP address. Tests: {}. {FROM_HERE}. Cause: {cause}. \
                 {consequence}",
                group.what(),
                tests.join("; "),
            ))
            .evidence(evidence)
            .remediation(remediation)
            .fixes(fixes)
            .emit();
    }
}

/// True for a probe that failed only because its name did not resolve (no connect attempt).
fn unresolved_only(p: &Probe) -> bool {
    !p.via.eq_ignore_ascii_case("ip") && unresolved(p)
}

/// The port of `replica`'s endpoint_url, as the AG's source rows state it.
fn endpoint_url_port(ctx: &Ctx<'_>, replica: &str) -> Option<u16> {
    ctx.topology
        .ags
        .iter()
        .find_map(|ag| ag.replica_named(replica))
        .and_then(|r| r.row.str("endpoint_url"))
        .and_then(|u| TcpUrl::parse(u).ok())
        .map(|u| u.port)
}
