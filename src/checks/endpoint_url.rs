//! Seed: "Endpoints" step 6 (the server name in the endpoint URL), "Endpoint Access (SQL Server
//! Error 1418)" and "Join Database Fails (35250)" steps 4 and 6 (troubleshoot-ag-configuration.md).
//!
//! Every replica connects to a partner at the partner's `endpoint_url` as the AG stores it
//! (`sys.availability_replicas`, authoritative on the primary). The URL must be `TCP://address:port`,
//! name the partner's own machine (not localhost, not another node) and, preferably, its fully
//! qualified DNS name. The URL helpers here (machine name, FQDN, corrected URL and its fix step) are
//! shared with `endpoint.port_mismatch`, so every check that rewrites a replica's URL writes the
//! same one and the fix script never sets two different URLs for one replica.

use serde_json::{Value, json};

use super::endpoint_facts::mirroring_tcp_row;
use super::service_account::find_instance;
use super::{Check, CheckInfo, CheckRun, Ctx};
use crate::findings::{Category, FixStep, Phase, Severity};
use crate::fix::{statements, tsql};
use crate::snapshot::{Instance, Row, keys};
use crate::tcp_url::{HostKind, TcpUrl, host_kind};
use crate::topology::{AgView, ReplicaView};

const NEEDS: &[&str] = &[keys::AVAILABILITY_GROUPS, keys::AVAILABILITY_REPLICAS];
const HOST_NEEDS: &[&str] =
    &[keys::AVAILABILITY_GROUPS, keys::AVAILABILITY_REPLICAS, keys::SERVER_PROPERTIES, keys::TCP_ENDPOINTS];
const SEED_URL: &str = "troubleshoot-ag-configuration: Endpoints 6 (ensure correct server name is used in the endpoint URL); \
     Join Database Fails (35250) steps 4 and 6";

const REPLICA_COLUMNS: &[&str] =
    &["group_id", "replica_id", "replica_server_name", "endpoint_url", "availability_mode_desc", "failover_mode_desc"];
const PROPERTY_COLUMNS: &[&str] =
    &["ServerName", "MachineName", "ComputerNamePhysicalNetBIOS", "IsClustered", "DEFAULT_DOMAIN()"];

pub const CHECKS: &[Check] = &[
    Check {
        info: CheckInfo {
            id: "endpoint_url.missing",
            category: Category::EndpointUrl,
            title: "Availability replica has no endpoint URL",
            description: "sys.availability_replicas shows endpoint_url NULL for a replica. Partners cannot connect to a replica whose URL they do not know; an instance that cannot reach the failover cluster also reads NULL here.",
            needs: NEEDS,
            related_errors: &[35250, 1418],
            seed: SEED_URL,
        },
        run: missing,
    },
    Check {
        info: CheckInfo {
            id: "endpoint_url.malformed",
            category: Category::EndpointUrl,
            title: "Endpoint URL is not TCP://system-address:port",
            description: "The replica's endpoint_url does not parse as TCP://system-address:port (missing scheme, host or port, an invalid port, or trailing text): partners cannot resolve where to connect.",
            needs: NEEDS,
            related_errors: &[1418, 35250],
            seed: SEED_URL,
        },
        run: malformed,
    },
    Check {
        info: CheckInfo {
            id: "endpoint_url.loopback",
            category: Category::EndpointUrl,
            title: "Endpoint URL points at localhost",
            description: "The replica's endpoint_url names localhost, 127.x.x.x or ::1. Each partner resolves that to itself, so it connects to its own endpoint instead of the replica and never reaches it.",
            needs: NEEDS,
            related_errors: &[1418, 35201, 35250],
            seed: SEED_URL,
        },
        run: loopback,
    },
    Check {
        info: CheckInfo {
            id: "endpoint_url.ip_address",
            category: Category::EndpointUrl,
            title: "Endpoint URL uses a literal IP address",
            description: "The replica's endpoint_url names an IP address. That works while the address is static, but Windows authentication falls back from Kerberos to NTLM (no SPN for an address), and the URL breaks silently when the server is re-addressed (DR site moves, subnet changes). The FQDN is recommended.",
            needs: NEEDS,
            related_errors: &[1418],
            seed: SEED_URL,
        },
        run: ip_address,
    },
    Check {
        info: CheckInfo {
            id: "endpoint_url.wrong_host",
            category: Category::EndpointUrl,
            title: "Endpoint URL names a different machine than the replica",
            description: "The first label of the endpoint_url host is neither the replica's MachineName (for a failover cluster instance, its virtual network name) nor its ComputerNamePhysicalNetBIOS. Partners connect to whatever that name resolves to: another node, another replica's endpoint, or nothing (connection timeout 35201, error 1418 at join). A DNS alias (CNAME) for the right machine is the only case where this works.",
            needs: HOST_NEEDS,
            related_errors: &[1418, 35201, 35250],
            seed: SEED_URL,
        },
        run: wrong_host,
    },
    Check {
        info: CheckInfo {
            id: "endpoint_url.netbios",
            category: Category::EndpointUrl,
            title: "Endpoint URL uses a single-label (NetBIOS) name",
            description: "The replica's endpoint_url names a single-label host. It resolves only where the DNS suffix search list covers it (same domain, same suffix); replicas in another domain, subnet or Azure region fail to resolve it. The fully qualified domain name is recommended.",
            needs: HOST_NEEDS,
            related_errors: &[1418],
            seed: SEED_URL,
        },
        run: netbios,
    },
];

// ---------------------------------------------------------------------------------------------
// Shared with endpoint.rs: which replicas to look at, which machine a replica is, its URL
// ---------------------------------------------------------------------------------------------

/// Records why instances whose `availability_replicas` are unavailable could not be looked at,
/// unless the AG picture already covers them (the primary reports every replica's URL).
pub(crate) fn record_replica_rows(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
    for inst in ctx.instances() {
        match inst.rows(keys::AVAILABILITY_REPLICAS) {
            Ok(_) => {
                let _ = run.rows(inst, keys::AVAILABILITY_REPLICAS);
            }
            Err(why) => {
                let covered = ctx.topology.ags.iter().any(|ag| {
                    ag.replicas.iter().any(|r| {
                        find_instance(ctx, r.server_name).is_some_and(|i| std::ptr::eq(i, inst))
                    })
                });
                if !covered {
                    run.skip(inst.name(), why);
                }
            }
        }
    }
}

/// Why a replica's own rows are not in the snapshot (not collected, or its connection failed).
pub(crate) fn uncollected_reason(ctx: &Ctx<'_>, replica: &str) -> String {
    match find_instance(ctx, replica) {
        Some(inst) => match inst.rows(keys::SERVER_PROPERTIES) {
            Err(why) => format!("{replica}: {why}"),
            Ok(_) => format!("{replica} was collected but not matched to its replica"),
        },
        None => format!("{replica} was not collected"),
    }
}

pub(crate) fn replica_instance<'s>(ctx: &Ctx<'s>, r: &ReplicaView<'s>) -> Option<&'s Instance> {
    r.instance.map(|i| &ctx.snapshot.instances[i])
}

/// The names that identify a replica's machine, and where they came from.
pub(crate) struct Machine {
    /// The name the URL should carry: MachineName (an FCI's virtual network name), else the
    /// machine part of `replica_server_name`.
    pub(crate) name: String,
    /// ComputerNamePhysicalNetBIOS when it differs (an FCI's current node).
    pub(crate) physical: Option<String>,
    pub(crate) fci: bool,
    pub(crate) props: Option<Row>,
}

impl Machine {
    fn source(&self) -> &'static str {
        if self.props.is_some() { "server_properties" } else { "replica_server_name (instance not collected)" }
    }
}

/// How a URL's host relates to the replica it should name, when it names something else.
pub(crate) enum HostMismatch<'a, 's> {
    /// A failover cluster instance's URL names the node it runs on, not its virtual network name.
    FciNode,
    /// The host is the machine of another replica of the same AG.
    OtherReplica(&'a ReplicaView<'s>),
    /// The host is no machine the snapshot knows (perhaps a DNS alias).
    Unknown,
}

/// Whether `url` names `r`'s own machine; `None` when it does (or is an address, judged elsewhere).
pub(crate) fn host_mismatch<'a, 's>(
    ctx: &Ctx<'_>,
    ag: &'a AgView<'s>,
    r: &ReplicaView<'_>,
    url: &TcpUrl,
) -> Option<(Machine, HostMismatch<'a, 's>)> {
    if !matches!(url.host_kind(), HostKind::Fqdn | HostKind::SingleLabel) {
        return None;
    }
    let machine = machine_of(ctx, r);
    let label = url.first_label();
    if label.eq_ignore_ascii_case(&machine.name) {
        return None;
    }
    let physical_match = machine.physical.as_deref().is_some_and(|p| p.eq_ignore_ascii_case(label));
    if physical_match && !machine.fci {
        return None;
    }
    let other = ag
        .replicas
        .iter()
        .filter(|o| o.replica_id != r.replica_id)
        .find(|o| machine_of(ctx, o).name.eq_ignore_ascii_case(label));
    let mismatch = match (physical_match, other) {
        (true, _) => HostMismatch::FciNode,
        (false, Some(o)) => HostMismatch::OtherReplica(o),
        (false, None) => HostMismatch::Unknown,
    };
    Some((machine, mismatch))
}

pub(crate) fn machine_of(ctx: &Ctx<'_>, r: &ReplicaView<'_>) -> Machine {
    let props = replica_instance(ctx, r).and_then(Instance::properties);
    let from_props = props.and_then(|p| p.str("MachineName")).map(str::trim).filter(|m| !m.is_empty());
    match (props, from_props) {
        (Some(p), Some(machine)) => {
            let physical = p
                .str("ComputerNamePhysicalNetBIOS")
                .map(str::trim)
                .filter(|n| !n.is_empty() && !n.eq_ignore_ascii_case(machine))
                .map(str::to_string);
            Machine {
                name: machine.to_string(),
                physical,
                fci: p.int("IsClustered") == Some(1),
                props: Some(p.clone()),
            }
        }
        _ => Machine {
            name: r.server_name.split('\\').next().unwrap_or(r.server_name).trim().to_string(),
            physical: None,
            fci: false,
            props: None,
        },
    }
}

/// The host part of a connection target (`tcp:sql1.contoso.com\INST,1433` → `sql1.contoso.com`).
fn target_host(target: &str) -> &str {
    let t = target.trim();
    // `get` rather than slicing: a target may start with a multi-byte character.
    let t = match t.get(..4) {
        Some(prefix) if prefix.eq_ignore_ascii_case("tcp:") => &t[4..],
        _ => t,
    };
    let t = t.split(',').next().unwrap_or(t);
    t.split('\\').next().unwrap_or(t).trim()
}

/// A DNS label AgDiag is willing to write into a URL.
fn is_plain_label(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= 63
        && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !label.starts_with('-')
}

fn is_plain_suffix(suffix: &str) -> bool {
    suffix.split('.').all(is_plain_label)
}

/// The replica's fully qualified name, and how it was derived, when the snapshot shows it: the
/// FQDN AgDiag connected to; else the machine name plus the DNS suffix every other replica's FQDN
/// URL agrees on; else the machine name plus DEFAULT_DOMAIN() when that is a DNS name.
/// The DNS suffix of a replica's endpoint URL, when its host is an FQDN of the replica's machine.
fn fqdn_suffix(ctx: &Ctx<'_>, other: &ReplicaView<'_>) -> Option<String> {
    let url = other.row.str("endpoint_url").and_then(|u| TcpUrl::parse(u).ok())?;
    if url.host_kind() != HostKind::Fqdn || !url.first_label().eq_ignore_ascii_case(&machine_of(ctx, other).name) {
        return None;
    }
    let suffix = url.host.trim_end_matches('.').split_once('.').map(|(_, s)| s.to_ascii_lowercase());
    suffix.filter(|s| is_plain_suffix(s))
}

pub(crate) fn derive_fqdn(ctx: &Ctx<'_>, ag: &AgView<'_>, r: &ReplicaView<'_>) -> Option<(String, String)> {
    let machine = machine_of(ctx, r);
    if !is_plain_label(&machine.name) {
        return None;
    }
    let lower = machine.name.to_ascii_lowercase();
    if let Some(inst) = replica_instance(ctx, r) {
        let host = target_host(&inst.target);
        if host_kind(host) == HostKind::Fqdn
            && host.split('.').next().is_some_and(|l| l.eq_ignore_ascii_case(&machine.name))
            && is_plain_suffix(host.trim_end_matches('.'))
        {
            return Some((
                host.trim_end_matches('.').to_ascii_lowercase(),
                format!("the fully qualified name AgDiag connected to ({})", inst.target),
            ));
        }
    }
    // The DNS suffixes of the other replicas' FQDN endpoint URLs: computed once per AG (how many
    // replicas use each suffix, and which one each replica uses), then this replica's taken out.
    /// Per AG (by group id): each replica's suffix, and how many replicas use each suffix.
    type PerAg = (Vec<Option<String>>, std::collections::HashMap<String, usize>);
    struct Suffixes(std::collections::HashMap<String, PerAg>);
    let all = ctx.memo(|| {
        Suffixes(
            ctx.topology
                .ags
                .iter()
                .map(|ag| {
                    let own: Vec<Option<String>> = ag.replicas.iter().map(|other| fqdn_suffix(ctx, other)).collect();
                    let mut counts = std::collections::HashMap::new();
                    for s in own.iter().flatten() {
                        *counts.entry(s.clone()).or_insert(0) += 1;
                    }
                    (ag.group_id.clone(), (own, counts))
                })
                .collect(),
        )
    });
    let mut suffixes: Vec<&String> = Vec::new();
    if let Some((own, counts)) = all.0.get(&ag.group_id) {
        // Replicas with r's id (normally only r) do not count.
        let mut minus: std::collections::HashMap<&String, usize> = std::collections::HashMap::new();
        for (other, s) in ag.replicas.iter().zip(own) {
            if other.replica_id == r.replica_id
                && let Some(s) = s
            {
                *minus.entry(s).or_insert(0) += 1;
            }
        }
        suffixes = counts.iter().filter(|(s, n)| **n > minus.get(s).copied().unwrap_or(0)).map(|(s, _)| s).take(2).collect();
    }
    if let [suffix] = suffixes.as_slice() {
        return Some((
            format!("{lower}.{suffix}"),
            format!("{} plus the DNS suffix .{suffix} of the other replicas' endpoint URLs", machine.name),
        ));
    }
    let domain = machine
        .props
        .as_ref()
        .and_then(|p| p.str("DEFAULT_DOMAIN()"))
        .map(|d| d.trim().trim_end_matches('.').to_ascii_lowercase())
        .filter(|d| d.contains('.') && is_plain_suffix(d));
    domain.map(|d| (format!("{lower}.{d}"), format!("{} plus DEFAULT_DOMAIN() = {d}", machine.name)))
}

/// The port of the replica's database mirroring endpoint per its own `sys.tcp_endpoints`.
pub(crate) fn endpoint_port(ctx: &Ctx<'_>, r: &ReplicaView<'_>) -> Option<u16> {
    let inst = replica_instance(ctx, r)?;
    let row = mirroring_tcp_row(inst.rows(keys::TCP_ENDPOINTS).ok()?)?;
    row.int("port").and_then(|p| u16::try_from(p).ok()).filter(|p| *p > 0)
}

/// The URL a replica should have: its FQDN (the current host when that already is the right FQDN)
/// and the port its endpoint really listens on. With `keep_host`, a current host that is merely
/// not an FQDN is kept when no FQDN can be derived (the caller's problem is the port, not the name).
pub(crate) fn recommended_url(ctx: &Ctx<'_>, ag: &AgView<'_>, r: &ReplicaView<'_>, keep_host: bool) -> Result<TcpUrl, String> {
    let current = r.row.str("endpoint_url").and_then(|u| TcpUrl::parse(u).ok());
    let machine = machine_of(ctx, r);
    let port = endpoint_port(ctx, r).or(current.as_ref().map(|u| u.port)).ok_or_else(|| {
        format!("the port of {}'s database mirroring endpoint is not in the snapshot", r.server_name)
    })?;
    let current_is_right_fqdn = current
        .as_ref()
        .is_some_and(|u| u.host_kind() == HostKind::Fqdn && u.first_label().eq_ignore_ascii_case(&machine.name));
    let host = match (&current, current_is_right_fqdn) {
        (Some(u), true) => u.host.clone(),
        _ => match derive_fqdn(ctx, ag, r) {
            Some((fqdn, _)) => fqdn,
            None => match &current {
                Some(u) if keep_host && u.host_kind() != HostKind::Loopback => u.host.clone(),
                _ => {
                    return Err(format!(
                        "the fully qualified DNS name of {} cannot be derived from the snapshot",
                        machine.name
                    ));
                }
            },
        },
    };
    Ok(TcpUrl { host, port })
}

/// The fix step that sets the replica's ENDPOINT_URL on the primary, or a manual step with a
/// placeholder when no safe URL can be derived.
pub(crate) fn set_url_step(ctx: &Ctx<'_>, ag: &AgView<'_>, r: &ReplicaView<'_>, keep_host: bool) -> FixStep {
    let machine = machine_of(ctx, r);
    match recommended_url(ctx, ag, r, keep_host) {
        Ok(url) => {
            let sql = statements::set_endpoint_url(ag.name, r.server_name, &url.to_string());
            match (sql, ag.primary.as_deref()) {
                (Some(sql), Some(primary)) => FixStep::sql(primary, Phase::ReplicaOptions, sql),
                (Some(sql), None) => FixStep::manual(
                    r.server_name,
                    Phase::ReplicaOptions,
                    format!(
                        "The primary replica of availability group {} is not known from this snapshot; run this on it:\n{sql}",
                        ag.name
                    ),
                ),
                (None, _) => FixStep::manual(
                    r.server_name,
                    Phase::ReplicaOptions,
                    format!(
                        "The availability group name \"{}\" or replica name cannot be scripted safely; on the primary set ENDPOINT_URL = '{url}' for replica {} yourself (ALTER AVAILABILITY GROUP ... MODIFY REPLICA ON ... WITH (ENDPOINT_URL = ...)).",
                        tsql::comment(ag.name),
                        tsql::comment(r.server_name)
                    ),
                ),
            }
        }
        Err(why) => {
            let statement = match (tsql::ident(ag.name), tsql::plain_literal(r.server_name)) {
                (Some(ag_ident), Some(replica)) => format!(
                    "ALTER AVAILABILITY GROUP {ag_ident} MODIFY REPLICA ON {replica} WITH (ENDPOINT_URL = N'TCP://<fqdn>:<port>');"
                ),
                _ => "ALTER AVAILABILITY GROUP <ag> MODIFY REPLICA ON N'<replica>' WITH (ENDPOINT_URL = N'TCP://<fqdn>:<port>');".to_string(),
            };
            FixStep::manual(
                r.server_name,
                Phase::ReplicaOptions,
                format!(
                    "{why}. On {0}, get its FQDN with [System.Net.Dns]::GetHostEntry($env:COMPUTERNAME).HostName and the endpoint port with \
                     SELECT port FROM sys.tcp_endpoints WHERE type = 4; then on the primary replica of {1} run:\n{statement}",
                    machine.name, ag.name
                ),
            )
        }
    }
}

/// Replicas whose stored URL parses, with the parsed URL.
fn parsed<'a, 's>(ag: &'a AgView<'s>) -> impl Iterator<Item = (&'a ReplicaView<'s>, &'s str, TcpUrl)> + 'a {
    ag.replicas.iter().filter_map(|r| {
        let text = r.row.str("endpoint_url")?;
        TcpUrl::parse(text).ok().map(|u| (r, text, u))
    })
}

fn replica_evidence(ag: &AgView<'_>, r: &ReplicaView<'_>, ctx: &Ctx<'_>) -> Value {
    json!({
        "availability_group": ag.name,
        "availability_replicas": r.row.pick(REPLICA_COLUMNS),
        "seen_on": ctx.snapshot.instances[ag.source].name(),
    })
}

fn recommended_text(ctx: &Ctx<'_>, ag: &AgView<'_>, r: &ReplicaView<'_>, keep_host: bool) -> String {
    match recommended_url(ctx, ag, r, keep_host) {
        Ok(url) => format!("Set it to {url} on the primary"),
        Err(why) => format!("Set it on the primary to TCP://<fqdn>:<endpoint port> ({why})"),
    }
}

// ---------------------------------------------------------------------------------------------
// The checks
// ---------------------------------------------------------------------------------------------

fn missing(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
    record_replica_rows(ctx, run);
    for ag in &ctx.topology.ags {
        if !ag.replicas.is_empty() {
            run.evaluated();
        }
        for r in &ag.replicas {
            if r.row.str("endpoint_url").is_some_and(|u| !u.trim().is_empty()) {
                continue;
            }
            let source = ctx.snapshot.instances[ag.source].name();
            let seen_on_primary = ag.primary.as_deref().is_some_and(|p| p.eq_ignore_ascii_case(source));
            let cause = if seen_on_primary {
                String::new()
            } else {
                format!(
                    " {source}, where this row was read, is not the primary: an instance that cannot reach the failover \
                     cluster also reads NULL here, so confirm on the primary before changing it."
                )
            };
            run.finding(Severity::Error, r.server_name)
                .instance(r.server_name)
                .ag(ag.name)
                .replica(r.server_name)
                .message(format!(
                    "Replica {} of availability group {} has no endpoint URL (sys.availability_replicas.endpoint_url is \
                     NULL, read on {source}). The other replicas do not know where {}'s database mirroring endpoint is, \
                     so they cannot connect to it: the replica stays DISCONNECTED and joining its databases fails with \
                     35250.{cause}",
                    r.server_name, ag.name, r.server_name
                ))
                .evidence(replica_evidence(ag, r, ctx))
                .remediation(format!(
                    "{}: ALTER AVAILABILITY GROUP ... MODIFY REPLICA ON N'{}' WITH (ENDPOINT_URL = N'TCP://<fqdn>:<port>').",
                    recommended_text(ctx, ag, r, false),
                    r.server_name
                ))
                .fix(set_url_step(ctx, ag, r, false))
                .emit();
        }
    }
}

fn malformed(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
    record_replica_rows(ctx, run);
    for ag in &ctx.topology.ags {
        if !ag.replicas.is_empty() {
            run.evaluated();
        }
        for r in &ag.replicas {
            let Some(text) = r.row.str("endpoint_url").filter(|u| !u.trim().is_empty()) else { continue };
            let Err(problem) = TcpUrl::parse(text) else { continue };
            let mut evidence = replica_evidence(ag, r, ctx);
            evidence["problem"] = json!(problem.to_string());
            run.finding(Severity::Error, r.server_name)
                .instance(r.server_name)
                .ag(ag.name)
                .replica(r.server_name)
                .message(format!(
                    "The endpoint URL of replica {} in availability group {} is '{}', which is not \
                     TCP://system-address:port: {problem}. Partners cannot tell where to connect, so the replica \
                     cannot connect to its partners (error 1418 when joining, 35250 afterwards).",
                    r.server_name,
                    ag.name,
                    text.escape_debug()
                ))
                .evidence(evidence)
                .remediation(format!(
                    "{}. The address is the replica's fully qualified DNS name and the port is its database mirroring \
                     endpoint's port (SELECT port FROM sys.tcp_endpoints WHERE type = 4 on {}).",
                    recommended_text(ctx, ag, r, false),
                    r.server_name
                ))
                .fix(set_url_step(ctx, ag, r, false))
                .emit();
        }
    }
}

fn loopback(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
    record_replica_rows(ctx, run);
    for ag in &ctx.topology.ags {
        if !ag.replicas.is_empty() {
            run.evaluated();
        }
        for (r, text, url) in parsed(ag) {
            if url.host_kind() != HostKind::Loopback {
                continue;
            }
            run.finding(Severity::Error, r.server_name)
                .instance(r.server_name)
                .ag(ag.name)
                .replica(r.server_name)
                .message(format!(
                    "The endpoint URL of replica {} in availability group {} is {text}: '{}' is the loopback address. \
                     Every partner resolves it to itself and connects to its own endpoint, never to {}, so the replica \
                     stays DISCONNECTED (connection timeouts 35201; 1418 or 35250 when joining).",
                    r.server_name, ag.name, url.host, r.server_name
                ))
                .evidence(replica_evidence(ag, r, ctx))
                .remediation(format!("{}.", recommended_text(ctx, ag, r, false)))
                .fix(set_url_step(ctx, ag, r, false))
                .emit();
        }
    }
}

fn ip_address(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
    record_replica_rows(ctx, run);
    for ag in &ctx.topology.ags {
        if !ag.replicas.is_empty() {
            run.evaluated();
        }
        for (r, text, url) in parsed(ag) {
            if url.host_kind() != HostKind::IpAddress {
                continue;
            }
            run.finding(Severity::Info, r.server_name)
                .instance(r.server_name)
                .ag(ag.name)
                .replica(r.server_name)
                .message(format!(
                    "The endpoint URL of replica {} in availability group {} is {text}, a literal IP address. It works \
                     while {} keeps that static address, but Windows authentication between the replicas falls back \
                     from Kerberos to NTLM (no SPN exists for an address), and the URL silently breaks when the server is \
                     re-addressed (a DR site move, a subnet change, a restore to new hardware). The fully qualified \
                     domain name is the recommended form.",
                    r.server_name, ag.name, r.server_name
                ))
                .evidence(replica_evidence(ag, r, ctx))
                .remediation(format!(
                    "{}. Make sure the name resolves to {} from every replica first.",
                    recommended_text(ctx, ag, r, false),
                    url.host
                ))
                .fix(set_url_step(ctx, ag, r, false))
                .emit();
        }
    }
}

fn wrong_host(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
    record_replica_rows(ctx, run);
    for ag in &ctx.topology.ags {
        if ag.is_distributed() {
            continue; // its URLs name the member AGs' listeners, not replica machines: distributed.listener_url
        }
        if !ag.replicas.is_empty() {
            run.evaluated();
        }
        for (r, text, url) in parsed(ag) {
            let Some((machine, mismatch)) = host_mismatch(ctx, ag, r, &url) else { continue };
            let label = url.first_label();
            let other = match mismatch {
                HostMismatch::OtherReplica(o) => Some(o),
                _ => None,
            };
            let (severity, why) = if matches!(mismatch, HostMismatch::FciNode) {
                (
                    Severity::Warning,
                    format!(
                        "{} is a failover cluster instance and {label} is the node it currently runs on, not its \
                         virtual network name {}: after an FCI failover the partners keep connecting to the old \
                         node and the replica disconnects.",
                        r.server_name, machine.name
                    ),
                )
            } else if let Some(o) = other {
                (
                    Severity::Error,
                    format!(
                        "{label} is the machine of replica {} of the same availability group: partners that try to \
                         reach {} connect to {}'s endpoint instead.",
                        o.server_name, r.server_name, o.server_name
                    ),
                )
            } else {
                (
                    Severity::Warning,
                    format!(
                        "Unless {} is a DNS alias (CNAME) for {}, partners connect to another machine or to nothing \
                         (connection timeouts 35201, error 1418 at join).",
                        url.host, machine.name
                    ),
                )
            };
            let mut evidence = replica_evidence(ag, r, ctx);
            evidence["machine"] = json!({
                "name": machine.name,
                "source": machine.source(),
                "server_properties": machine.props.as_ref().map(|p| p.pick(PROPERTY_COLUMNS)),
            });
            if let Some(o) = other {
                evidence["other_replica"] = json!(o.server_name);
            }
            run.finding(severity, r.server_name)
                .instance(r.server_name)
                .ag(ag.name)
                .replica(r.server_name)
                .message(format!(
                    "The endpoint URL of replica {} in availability group {} is {text}, but {}'s machine name is {} \
                     (from {}). {why}",
                    r.server_name,
                    ag.name,
                    r.server_name,
                    machine.name,
                    machine.source()
                ))
                .evidence(evidence)
                .remediation(format!(
                    "{}. Compare with $env:COMPUTERNAME and [System.Net.Dns]::GetHostEntry($env:COMPUTERNAME).HostName on {}.",
                    recommended_text(ctx, ag, r, false),
                    machine.name
                ))
                .fix(set_url_step(ctx, ag, r, false))
                .emit();
        }
    }
}

fn netbios(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
    record_replica_rows(ctx, run);
    for ag in &ctx.topology.ags {
        if ag.row.bit("is_distributed") == Some(true) {
            continue; // member AGs' listener names: judged on the member AGs
        }
        if !ag.replicas.is_empty() {
            run.evaluated();
        }
        for (r, text, url) in parsed(ag) {
            if url.host_kind() != HostKind::SingleLabel {
                continue;
            }
            let derived = derive_fqdn(ctx, ag, r);
            let mut evidence = replica_evidence(ag, r, ctx);
            if let Some((fqdn, how)) = &derived {
                evidence["derived_fqdn"] = json!({ "fqdn": fqdn, "from": how });
            }
            run.finding(Severity::Info, r.server_name)
                .instance(r.server_name)
                .ag(ag.name)
                .replica(r.server_name)
                .message(format!(
                    "The endpoint URL of replica {} in availability group {} is {text}, a single-label (NetBIOS) name. \
                     It resolves only where DNS suffix search covers it; a replica in another domain, subnet or cloud \
                     region fails to find {} (error 1418 at join). The fully qualified domain name is recommended{}.",
                    r.server_name,
                    ag.name,
                    url.host,
                    match &derived {
                        Some((fqdn, how)) => format!(": {fqdn} (from {how})"),
                        None => String::new(),
                    }
                ))
                .evidence(evidence)
                .remediation(format!("{}.", recommended_text(ctx, ag, r, false)))
                .fix(set_url_step(ctx, ag, r, false))
                .emit();
        }
    }
}
