//! Seed: "Listener" and "Read-Only Routing is Not Working Correctly" steps 3 and 4
//! (troubleshoot-ag-configuration.md).
//!
//! A listener is a cluster network name with one virtual IP per subnet (or, for a DNN, a name and
//! a port); SQL Server on the primary listens on each ONLINE virtual IP at the listener's port,
//! which shows as its own TSQL row in the primary's `dm_tcp_listener_states` (IP = the VIP). The
//! catalog rows are read from the instance that describes the AG best (its primary when collected).

use std::net::IpAddr;

use serde_json::{Value, json};

use super::network::{FROM_HERE, NO_PROBES, address_port, describe, probe_groups};
use super::{Check, CheckInfo, CheckRun, Ctx};
use crate::findings::{Category, FixStep, Phase, Severity};
use crate::fix::tsql;
use crate::snapshot::{Instance, Row, domains, keys};
use crate::topology::{AgView, guid};

pub const CHECKS: &[Check] = &[
    Check {
        info: CheckInfo {
            id: "listener.port_not_set",
            category: Category::Listener,
            title: "Listener has no port",
            description: "sys.availability_group_listeners.port is NULL: the listener was created outside SQL Server (in Failover Cluster Manager) and SQL Server does not listen for it until a port is set with ALTER AVAILABILITY GROUP ... MODIFY LISTENER.",
            needs: &[keys::AVAILABILITY_GROUP_LISTENERS],
            related_errors: &[],
            seed: "troubleshoot-ag-configuration: Listener step 1 (dns_name, port, ip_configuration_string_from_cluster)",
        },
        run: port_not_set,
    },
    Check {
        info: CheckInfo {
            id: "listener.no_online_ip",
            category: Category::Listener,
            title: "No listener IP address is ONLINE",
            description: "No row of sys.availability_group_listener_ip_addresses for the listener has state_desc ONLINE: the cluster has not brought any virtual IP online, so no client can connect through the listener. (In a multi-subnet AG only the IP of the primary's subnet is ONLINE, by design; one is enough.)",
            needs: &[keys::AVAILABILITY_GROUP_LISTENERS, keys::AVAILABILITY_GROUP_LISTENER_IP_ADDRESSES],
            related_errors: &[19471],
            seed: "troubleshoot-ag-configuration: Read-Only Routing step 4 (ensure the listener is online; RESTART LISTENER)",
        },
        run: no_online_ip,
    },
    Check {
        info: CheckInfo {
            id: "listener.not_listening",
            category: Category::Listener,
            title: "Primary does not listen on the listener's IP and port",
            description: "On the primary replica's instance, sys.dm_tcp_listener_states has no TSQL row for the listener's ONLINE IP address and port: SQL Server is not accepting connections through the listener (often error 19486, the port is in use, or the listener must be restarted).",
            needs: &[
                keys::AVAILABILITY_GROUP_LISTENERS,
                keys::AVAILABILITY_GROUP_LISTENER_IP_ADDRESSES,
                keys::DM_TCP_LISTENER_STATES,
            ],
            related_errors: &[19468, 19486],
            seed: "troubleshoot-ag-configuration: Listener step 2 (dm_tcp_listener_states) and step 4 (Get-NetTCPConnection -State Listen)",
        },
        run: not_listening,
    },
    Check {
        info: CheckInfo {
            id: "listener.unreachable",
            category: Category::Listener,
            title: "Listener cannot be reached",
            description: "Every TCP test to the listener, by name and by each listener IP, failed from the machine that ran AgDiag: a firewall or NSG blocks the listener port, the Azure load balancer is not configured, or the listener is not online.",
            needs: &["probes", keys::AVAILABILITY_GROUP_LISTENERS],
            related_errors: &[],
            seed: "troubleshoot-ag-configuration: Listener step 3 (Test-NetConnection to the listener name and IP)",
        },
        run: unreachable,
    },
    Check {
        info: CheckInfo {
            id: "listener.multi_subnet",
            category: Category::Listener,
            title: "Clients need MultiSubnetFailover=True",
            description: "The listener has IP addresses in more than one subnet, or is a distributed network name (DNN). Clients must connect with MultiSubnetFailover=True (and, for a DNN, to the DNN port) or they time out after a failover.",
            needs: &[keys::AVAILABILITY_GROUP_LISTENERS, keys::AVAILABILITY_GROUP_LISTENER_IP_ADDRESSES],
            related_errors: &[],
            seed: "troubleshoot-ag-configuration: Read-Only Routing step 3 (MultiSubnetFailover; DNN name and port)",
        },
        run: multi_subnet,
    },
    Check {
        info: CheckInfo {
            id: "listener.missing_for_routing",
            category: Category::Listener,
            title: "Read-only routing is configured but the AG has no listener",
            description: "A replica has a READ_ONLY_ROUTING_LIST but the availability group has no listener. Read-only routing only applies to connections made through the listener with ApplicationIntent=ReadOnly: without one, the routing lists are never used.",
            needs: &[keys::AVAILABILITY_GROUP_LISTENERS, keys::AVAILABILITY_READ_ONLY_ROUTING_LISTS],
            related_errors: &[],
            seed: "troubleshoot-ag-configuration: Read-Only Routing step 3 (an availability group listener name)",
        },
        run: missing_for_routing,
    },
];

pub(super) const LISTENER_COLUMNS: &[&str] =
    &["dns_name", "listener_id", "port", "is_conformant", "ip_configuration_string_from_cluster", "is_distributed_network_name"];
pub(super) const IP_COLUMNS: &[&str] = &[
    "ip_address",
    "ip_subnet_mask",
    "is_dhcp",
    "network_subnet_ip",
    "network_subnet_prefix_length",
    "state",
    "state_desc",
];
const TCP_LISTENER_COLUMNS: &[&str] = &["listener_id", "ip_address", "is_ipv4", "port", "type_desc", "state_desc"];

/// One listener of one AG, with the rows that describe it.
pub(super) struct Listener<'s> {
    pub(super) ag: &'s AgView<'s>,
    /// The instance the rows come from.
    pub(super) source: &'s Instance,
    pub(super) row: &'s Row,
    pub(super) name: &'s str,
    pub(super) ips: Vec<&'s Row>,
    /// False when `availability_group_listener_ip_addresses` is unavailable.
    pub(super) ips_known: bool,
}

impl Listener<'_> {
    pub(super) fn is_dnn(&self) -> bool {
        self.row.bit("is_distributed_network_name") == Some(true)
    }
    pub(super) fn port(&self) -> Option<u16> {
        self.row.int("port").and_then(|p| u16::try_from(p).ok()).filter(|p| *p > 0)
    }
    pub(super) fn online_ips(&self) -> Vec<&Row> {
        self.ips.iter().copied().filter(|r| r.is("state_desc", "ONLINE") || (r.get("state_desc").is_none() && r.int("state") == Some(1))).collect()
    }
    /// Where fixes run: the primary (ALTER AVAILABILITY GROUP ... LISTENER runs there).
    pub(super) fn primary(&self) -> String {
        self.ag.primary.clone().unwrap_or_else(|| self.source.name().to_string())
    }
    pub(super) fn evidence(&self) -> Value {
        json!({
            "availability_group_listeners": self.row.pick(LISTENER_COLUMNS),
            "availability_group_listener_ip_addresses": self.ips.iter().map(|r| r.pick(IP_COLUMNS)).collect::<Vec<_>>(),
        })
    }
}

/// The AG's listener rows from its source instance; unavailable evidence is recorded. With
/// `mark`, every AG whose catalog was read counts as evaluated (checks judged on those rows alone);
/// checks that need more evidence mark it themselves.
pub(super) fn listeners<'s>(ctx: &'s Ctx<'s>, run: &mut CheckRun<'_>, need_ips: bool, mark: bool) -> Vec<Listener<'s>> {
    let mut out = Vec::new();
    for ag in &ctx.topology.ags {
        let source = &ctx.snapshot.instances[ag.source];
        let rows = match source.rows(keys::AVAILABILITY_GROUP_LISTENERS) {
            Ok(rows) => rows,
            Err(why) => {
                run.skip(source.name(), why);
                continue;
            }
        };
        let ip_rows = source.rows(keys::AVAILABILITY_GROUP_LISTENER_IP_ADDRESSES);
        let ips_known = ip_rows.is_ok();
        let ip_rows = match ip_rows {
            Ok(r) => r,
            Err(why) if need_ips => {
                run.skip(source.name(), why);
                continue;
            }
            Err(_) => &[],
        };
        if mark {
            run.evaluated();
        }
        for row in rows.iter().filter(|l| guid(l, "group_id").as_deref() == Some(ag.group_id.as_str())) {
            let id = guid(row, "listener_id");
            let ips = ip_rows.iter().filter(|ip| id.is_some() && guid(ip, "listener_id") == id).collect();
            out.push(Listener { ag, source, row, name: row.str("dns_name").unwrap_or("?"), ips, ips_known });
        }
    }
    out
}

/// `ALTER AVAILABILITY GROUP [ag] <clause>` for the listener, or a manual step when a name cannot be
/// written safely.
fn listener_sql(l: &Listener<'_>, phase: Phase, clause: impl FnOnce(&str) -> String) -> FixStep {
    let target = l.primary();
    // MODIFY/RESTART LISTENER take a plain string literal, not an expression.
    match (tsql::ident(l.ag.name), tsql::plain_literal(l.name)) {
        (Some(ag), Some(name)) => FixStep::sql(&target, phase, format!("ALTER AVAILABILITY GROUP {ag} {};", clause(&name))),
        _ => FixStep::manual(
            &target,
            phase,
            format!(
                "The availability group name {} or listener name {} cannot be written safely in a script; run the ALTER AVAILABILITY GROUP statement by hand.",
                tsql::literal(l.ag.name),
                tsql::literal(l.name)
            ),
        ),
    }
}

/// The primary's TSQL port from its wildcard rows, for a suggested listener port.
fn primary_tsql_port(ctx: &Ctx<'_>, l: &Listener<'_>) -> Option<i64> {
    let primary = ctx.instance_named(&l.primary())?;
    primary
        .rows_or_empty(keys::DM_TCP_LISTENER_STATES)
        .iter()
        .filter(|r| domains::is_tsql_listener(r))
        .find(|r| r.str("ip_address").is_some_and(|ip| matches!(ip.trim(), "0.0.0.0" | "::")))
        .and_then(|r| r.int("port"))
}

fn port_not_set(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
    for l in listeners(ctx, run, false, true) {
        if l.row.get("port").is_some() {
            continue;
        }
        let port = primary_tsql_port(ctx, &l).unwrap_or(1433);
        let mut draft = run
            .finding(Severity::Error, l.name)
            .instance(l.primary())
            .ag(l.ag.name)
            .message(format!(
                "Listener {} of availability group {} has no port (sys.availability_group_listeners.port is NULL): it \
                 was created outside SQL Server, in Failover Cluster Manager, and SQL Server does not listen for it until \
                 a port is set. Clients connecting to {} reach no SQL Server.",
                l.name, l.ag.name, l.name
            ))
            .evidence(l.evidence());
        if l.is_dnn() {
            draft = draft
                .remediation("A DNN listener's port is a cluster resource property: recreate the DNN listener with its port (see \"Configure a DNN listener\").")
                .fix(FixStep::manual(
                    &l.primary(),
                    Phase::Listener,
                    "Recreate the distributed network name listener with a port (PowerShell script in \"Configure a DNN listener for an availability group\"), then restart the AG role.",
                ));
        } else {
            draft = draft
                .remediation(format!(
                    "On the primary, set the listener port with ALTER AVAILABILITY GROUP ... MODIFY LISTENER ... (PORT = n); \
                     {port} is the primary's own TSQL port (or the default 1433): use the port your clients use."
                ))
                .fix(listener_sql(&l, Phase::Listener, |name| format!("MODIFY LISTENER {name} (PORT = {port})")));
        }
        draft.emit();
    }
}

fn no_online_ip(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
    for l in listeners(ctx, run, true, true) {
        if l.is_dnn() {
            continue; // a DNN has no virtual IP
        }
        if !l.ag.is_wsfc() {
            // EXTERNAL (Pacemaker) / NONE: the virtual IP is the cluster manager's resource, not a WSFC
            // resource SQL Server reports on; listener.unreachable still probes it.
            continue;
        }
        if !l.online_ips().is_empty() {
            continue;
        }
        let pending = l.ips.iter().any(|r| r.is("state_desc", "ONLINE_PENDING"));
        let states: Vec<String> = l
            .ips
            .iter()
            .map(|r| format!("{} {}", r.str("ip_address").unwrap_or("?"), r.code("state_desc").unwrap_or("?")))
            .collect();
        let what = if l.ips.is_empty() {
            format!(
                "has no IP address at all (ip_configuration_string_from_cluster = {})",
                l.row.str("ip_configuration_string_from_cluster").unwrap_or("NULL")
            )
        } else {
            format!("has no IP address ONLINE ({})", states.join(", "))
        };
        run.finding(if pending { Severity::Warning } else { Severity::Error }, l.name)
            .instance(l.primary())
            .ag(l.ag.name)
            .message(format!(
                "Listener {} of availability group {} {what}. The cluster brings the listener's virtual IP online with the \
                 primary; without an ONLINE IP no client can connect through {}.{}",
                l.name,
                l.ag.name,
                l.name,
                if pending { " An IP is ONLINE_PENDING: check again in a moment." } else { "" }
            ))
            .evidence(l.evidence())
            .remediation(
                "Check the listener's IP Address resources in Failover Cluster Manager (a conflicting address, a wrong \
                 subnet or a failed dependency keeps them offline), then restart the listener on the primary.",
            )
            .fixes([
                FixStep::manual(
                    &l.primary(),
                    Phase::Prerequisite,
                    "Get-ClusterResource | Where-Object ResourceType -eq 'IP Address' | Format-Table Name, State, OwnerGroup\n\
                     Get-ClusterLog -TimeSpan 15   # why the IP Address resource failed",
                ),
                listener_sql(&l, Phase::Listener, |name| format!("RESTART LISTENER {name}")),
            ])
            .emit();
    }
}

/// True when nothing has been recorded as unavailable so far.
pub(super) fn run_has_no_gaps(run: &CheckRun<'_>) -> bool {
    run.not_evaluated.is_empty()
}

pub(super) fn same_ip(a: &str, b: &str) -> bool {
    match (a.trim().parse::<IpAddr>(), b.trim().parse::<IpAddr>()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a.trim().eq_ignore_ascii_case(b.trim()),
    }
}

fn not_listening(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
    let all = listeners(ctx, run, true, false);
    if all.is_empty() && !ctx.topology.ags.is_empty() && run_has_no_gaps(run) {
        run.evaluated(); // the catalog was read and there is no listener to judge
    }
    for l in all {
        if l.is_dnn() {
            run.evaluated(); // a DNN has no virtual IP to listen on
            continue;
        }
        let online = l.online_ips();
        let Some(port) = l.port().filter(|_| !online.is_empty()) else {
            run.evaluated(); // listener.port_not_set / listener.no_online_ip report it
            continue;
        };
        let Some(primary_name) = l.ag.primary.as_deref() else {
            run.skip(l.name, format!("the primary of {} is unknown: its dm_tcp_listener_states cannot be chosen", l.ag.name));
            continue;
        };
        let Some(primary) = ctx.instance_named(primary_name) else {
            run.skip(
                l.name,
                format!("the primary {primary_name} was not collected: only the primary listens on the listener's IP"),
            );
            continue;
        };
        let tcp = match primary.rows(keys::DM_TCP_LISTENER_STATES) {
            Ok(rows) => rows,
            Err(why) => {
                run.skip(primary_name, why);
                continue;
            }
        };
        run.evaluated();
        let missing: Vec<&str> = online
            .iter()
            .filter_map(|ip| ip.str("ip_address"))
            .filter(|ip| {
                !tcp.iter().any(|r| {
                    domains::is_tsql_listener(r) && r.int("port") == Some(i64::from(port)) && r.str("ip_address").is_some_and(|a| same_ip(a, ip))
                })
            })
            .collect();
        if missing.is_empty() {
            continue;
        }
        let listening_on: Vec<String> = tcp
            .iter()
            .filter(|r| domains::is_tsql_listener(r))
            .map(|r| address_port(r.str("ip_address").unwrap_or("?"), r.int("port").and_then(|p| u16::try_from(p).ok()).unwrap_or(0)))
            .collect();
        let wanted: Vec<String> = missing.iter().map(|ip| address_port(ip, port)).collect();
        let mut evidence = l.evidence();
        evidence["primary"] = json!(primary_name);
        evidence["dm_tcp_listener_states"] = json!(tcp.iter().map(|r| r.pick(TCP_LISTENER_COLUMNS)).collect::<Vec<_>>());
        evidence["expected"] = json!(wanted);
        run.finding(Severity::Error, l.name)
            .instance(primary_name)
            .ag(l.ag.name)
            .message(format!(
                "Listener {} is ONLINE at {} but the primary {primary_name} has no TSQL row for it in \
                 sys.dm_tcp_listener_states (it listens for TSQL on {}). SQL Server is not accepting connections through \
                 the listener: another process may hold port {port} (error 19486 in {primary_name}'s error log), or the \
                 listener must be restarted.",
                l.name,
                wanted.join(", "),
                if listening_on.is_empty() { "nothing".to_string() } else { listening_on.join(", ") },
            ))
            .evidence(evidence)
            .remediation(format!(
                "On {primary_name}'s computer check what holds port {port} (Get-NetTCPConnection -LocalPort {port} -State \
                 Listen), free it or move the listener to another port, then restart the listener."
            ))
            .fixes([
                FixStep::manual(
                    primary_name,
                    Phase::Prerequisite,
                    format!(
                        "Get-NetTCPConnection -LocalPort {port} -State Listen | Select-Object LocalAddress, LocalPort, OwningProcess"
                    ),
                ),
                listener_sql(&l, Phase::Listener, |name| format!("RESTART LISTENER {name}")),
            ])
            .emit();
    }
}

fn unreachable(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
    if ctx.snapshot.probes.is_empty() {
        run.skip("probes", NO_PROBES);
        return;
    }
    let all = listeners(ctx, run, false, true);
    let groups = probe_groups(&ctx.snapshot.probes);
    let listener_groups: Vec<_> = groups.iter().filter(|g| g.has_purpose("listener")).collect();
    if listener_groups.is_empty() {
        if all.is_empty() {
            run.evaluated(); // no listener and no listener probe: nothing to reach
        } else {
            run.skip("probes", "the snapshot's probes include no listener probe");
        }
        return;
    }
    run.evaluated();
    for group in listener_groups {
        if group.any_ok() {
            continue; // partial failures are listener.dns_records / network.port_bound_elsewhere
        }
        let subject = group.subject_for("listener").unwrap_or(group.host);
        let listener = all.iter().find(|l| l.name.eq_ignore_ascii_case(subject) || l.name.eq_ignore_ascii_case(group.host));
        let tests: Vec<String> = group.by_name.iter().chain(group.by_ip.iter()).map(|p| describe(p)).collect();
        let port = group.port;
        let mut evidence = json!({ "host": group.host, "port": port, "probes": group.evidence() });
        let mut cause = "a firewall or NSG blocking the port, an Azure load balancer that is not configured, or the listener \
                         not online"
            .to_string();
        let mut draft_target = subject.to_string();
        let mut ag_name = None;
        if let Some(l) = listener {
            evidence["availability_group_listeners"] = l.row.pick(LISTENER_COLUMNS);
            evidence["availability_group_listener_ip_addresses"] =
                json!(l.ips.iter().map(|r| r.pick(IP_COLUMNS)).collect::<Vec<_>>());
            draft_target = l.primary();
            ag_name = Some(l.ag.name);
            let online = !l.online_ips().is_empty() || l.is_dnn();
            if l.ips_known && !online {
                cause = "the listener has no ONLINE IP (see listener.no_online_ip)".to_string();
            } else if online {
                cause = format!(
                    "the listener is ONLINE in the catalog, so a firewall or NSG blocking TCP {port} (on every replica's \
                     computer: the listener moves with the primary), or an Azure load balancer that is not configured, is \
                     the likely cause"
                );
            }
        }
        let mut draft = run.finding(Severity::Error, subject).instance(&draft_target);
        if let Some(ag) = ag_name {
            draft = draft.ag(ag);
        }
        draft
            .message(format!(
                "Listener {subject} could not be reached on port {port} by name or by IP address. Tests: {}. {FROM_HERE}. \
                 Cause: {cause}. Clients connecting through the listener fail.",
                tests.join("; ")
            ))
            .evidence(evidence)
            .remediation(format!(
                "Allow TCP {port} inbound on every replica's computer (the listener follows the primary), and in the Azure \
                 NSG; on Azure VMs with a VNN listener, check the load balancer's health probe and rules."
            ))
            .fix(FixStep::manual(
                &tsql::comment(&draft_target),
                Phase::Prerequisite,
                format!(
                    "On every replica's computer:\n\
                     New-NetFirewallRule -DisplayName 'SQL AG listener' -Direction Inbound -Protocol TCP -LocalPort {port} -Action Allow\n\
                     Test-NetConnection -ComputerName '{}' -Port {port}",
                    tsql::comment(group.host).replace('\'', "''")
                ),
            ))
            .emit();
    }
}

/// The subnet of a listener IP row: `network_subnet_ip/prefix`, else computed from the mask.
pub(super) fn subnet(row: &Row) -> Option<String> {
    if let Some(net) = row.str("network_subnet_ip") {
        let prefix = row.int("network_subnet_prefix_length").map(|p| format!("/{p}")).unwrap_or_default();
        return Some(format!("{}{prefix}", net.trim()));
    }
    let ip: std::net::Ipv4Addr = row.str("ip_address")?.trim().parse().ok()?;
    let mask: std::net::Ipv4Addr = row.str("ip_subnet_mask")?.trim().parse().ok()?;
    let net = u32::from(ip) & u32::from(mask);
    Some(format!("{}/{}", std::net::Ipv4Addr::from(net), u32::from(mask).count_ones()))
}

fn multi_subnet(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
    for l in listeners(ctx, run, true, true) {
        let mut subnets: Vec<String> = l.ips.iter().filter_map(|r| subnet(r)).collect();
        subnets.sort();
        subnets.dedup();
        let dnn = l.is_dnn();
        if !dnn && subnets.len() < 2 {
            continue;
        }
        let port = l.port();
        let server = match port {
            Some(p) => format!("tcp:{},{p}", l.name),
            None => format!("tcp:{}", l.name),
        };
        let why = if dnn {
            format!(
                "is a distributed network name (DNN) listener: clients must connect to the DNN name and the DNN port ({}) \
                 and set MultiSubnetFailover=True, and their driver must support it",
                port.map_or("not set".to_string(), |p| p.to_string())
            )
        } else {
            format!(
                "has IP addresses in {} subnets ({}): only the IP of the primary's subnet is ONLINE, and clients without \
                 MultiSubnetFailover=True try the addresses one after another and time out after a failover",
                subnets.len(),
                subnets.join(", ")
            )
        };
        let mut evidence = l.evidence();
        evidence["subnets"] = json!(subnets);
        run.finding(Severity::Info, l.name)
            .instance(l.primary())
            .ag(l.ag.name)
            .message(format!("Listener {} of availability group {} {why}.", l.name, l.ag.name))
            .evidence(evidence)
            .remediation(if l.is_dnn() {
                // A DNN has no virtual IP to register or not: its name resolves to every node's address.
                format!(
                    "Use MultiSubnetFailover=True in every connection string that names the listener, e.g. \
                     Server={server};Database=<db>;MultiSubnetFailover=True (sqlcmd: -M). A client whose driver cannot \
                     set it cannot use a DNN listener reliably: give it a VNN listener instead."
                )
            } else {
                format!(
                    "Use MultiSubnetFailover=True in every connection string that names the listener, e.g. \
                     Server={server};Database=<db>;MultiSubnetFailover=True (sqlcmd: -M). Clients whose driver cannot set it \
                     need RegisterAllProvidersIP = 0 on the listener's network name (slower failover for everyone)."
                )
            })
            .emit();
    }
}

fn missing_for_routing(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
    for ag in &ctx.topology.ags {
        let source = &ctx.snapshot.instances[ag.source];
        let Some(listener_rows) = run.rows(source, keys::AVAILABILITY_GROUP_LISTENERS) else { continue };
        let Some(routing) = run.rows(source, keys::AVAILABILITY_READ_ONLY_ROUTING_LISTS) else { continue };
        if listener_rows.iter().any(|l| guid(l, "group_id").as_deref() == Some(ag.group_id.as_str())) {
            continue;
        }
        let lists: Vec<&Row> = routing
            .iter()
            .filter(|r| guid(r, "replica_id").is_some_and(|id| ag.replica_by_id(&id).is_some()))
            .collect();
        if lists.is_empty() {
            continue;
        }
        let mut owners: Vec<&str> = lists
            .iter()
            .filter_map(|r| guid(r, "replica_id"))
            .filter_map(|id| ag.replica_by_id(&id).map(|r| r.server_name))
            .collect();
        owners.dedup();
        let target = ag.primary.clone().unwrap_or_else(|| source.name().to_string());
        run.finding(Severity::Warning, ag.name)
            .instance(&target)
            .ag(ag.name)
            .message(format!(
                "Availability group {} has read-only routing lists (on {}) but no listener. Read-only routing only applies \
                 to connections made through the listener with ApplicationIntent=ReadOnly: without a listener the lists \
                 are never used and read-intent clients stay on the replica they connect to.",
                ag.name,
                owners.join(", ")
            ))
            .evidence(json!({
                "availability_group_listeners": [],
                "availability_read_only_routing_lists": lists.iter().map(|r| r.to_value()).collect::<Vec<_>>(),
            }))
            .remediation(
                "Create a listener for the availability group on the primary (one static IP per subnet), register its \
                 name in DNS, and point read-intent clients at it with ApplicationIntent=ReadOnly.",
            )
            .fix(FixStep::manual(
                &target,
                Phase::Listener,
                format!(
                    "ALTER AVAILABILITY GROUP {} ADD LISTENER N'<listener name>' (WITH IP ((N'<ip address>', N'<subnet mask>')), PORT = 1433);",
                    tsql::ident(ag.name).unwrap_or_else(|| "<availability group>".to_string())
                ),
            ))
            .emit();
    }
}
