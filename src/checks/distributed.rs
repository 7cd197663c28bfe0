//! Distributed availability groups (`availability_groups.is_distributed = 1`), beyond the seeds:
//! "Configure a distributed availability group" and "Distributed availability groups"
//! (configure-distributed-availability-groups.md, distributed-availability-groups.md).
//!
//! A distributed AG spans two availability groups, each in its own cluster. Its "replicas" are those
//! availability groups: `replica_server_name` is an AG name and `endpoint_url` is the LISTENER_URL,
//! the member AG's listener with the port of its replicas' database mirroring endpoint. Only the
//! primary replica of each member AG (the global primary and the forwarder) hosts the distributed AG,
//! and each keeps its own copy of its metadata.

use serde_json::{Value, json};

use super::{Check, CheckInfo, CheckRun, Ctx};
use crate::findings::{Category, FixStep, Phase, Severity};
use crate::fix::statements;
use crate::snapshot::{Instance, Row, domains, keys};
use crate::tcp_url::{HostKind, TcpUrl};
use crate::topology::{AgView, guid};

const SEED: &str = "beyond the seeds: configure-distributed-availability-groups (LISTENER_URL = listener + mirroring endpoint port)";

pub const CHECKS: &[Check] = &[
    Check {
        info: CheckInfo {
            id: "distributed.listener_url",
            category: Category::Distributed,
            title: "Distributed AG's LISTENER_URL does not name the member AG's listener and mirroring port",
            description: "A distributed availability group reaches each member availability group through its LISTENER_URL (sys.availability_replicas.endpoint_url of the distributed AG): tcp://<the member AG's listener FQDN>:<the database mirroring endpoint port of that AG's replicas>, 5022 by convention, never the listener's client (TSQL) port. A URL that names another host, the listener's port or a single-label name leaves the two AGs unable to connect, or connected only until the next local failover.",
            needs: &[keys::AVAILABILITY_GROUPS, keys::AVAILABILITY_REPLICAS, keys::AVAILABILITY_GROUP_LISTENERS],
            related_errors: &[1418, 35201, 35250],
            seed: SEED,
        },
        run: listener_url,
    },
    Check {
        info: CheckInfo {
            id: "distributed.disconnected",
            category: Category::Distributed,
            title: "Distributed AG: a member availability group is disconnected",
            description: "sys.dm_hadr_availability_replica_states shows a member availability group of a distributed AG as DISCONNECTED. The forwarder (the secondary AG's primary) then receives no log from the global primary: the secondary AG's databases, and every replica behind the forwarder, fall further behind, and failing the distributed AG over now would lose every transaction since the disconnect.",
            needs: &[keys::AVAILABILITY_GROUPS, keys::AVAILABILITY_REPLICAS, keys::DM_HADR_AVAILABILITY_REPLICA_STATES],
            related_errors: &[35201, 35206, 1418, 35250],
            seed: "beyond the seeds: distributed-availability-groups (View distributed availability group information: connected_state_desc, synchronization_health_desc)",
        },
        run: disconnected,
    },
    Check {
        info: CheckInfo {
            id: "distributed.dnn_listener",
            category: Category::Distributed,
            title: "Distributed AG's LISTENER_URL names a DNN listener",
            description: "A distributed network name (DNN) listener cannot serve a distributed availability group: Microsoft does not support a distributed AG on top of an AG whose listener is a DNN. The LISTENER_URL must name a virtual network name (VNN) listener, with its virtual IP, and the mirroring endpoint port.",
            needs: &[keys::AVAILABILITY_GROUPS, keys::AVAILABILITY_REPLICAS, keys::AVAILABILITY_GROUP_LISTENERS],
            related_errors: &[],
            seed: "beyond the seeds: configure-distributed-availability-groups (Prerequisites: DNN listener not supported)",
        },
        run: dnn_listener,
    },
    Check {
        info: CheckInfo {
            id: "distributed.endpoint_listener_ip",
            category: Category::Distributed,
            title: "Distributed AG member's mirroring endpoint listens on one IP address only",
            description: "Every replica of both availability groups of a distributed AG must have its database mirroring endpoint listen on all IP addresses (LISTENER_IP = ALL): the other AG connects to the listener's virtual IP, which an endpoint bound to the node's own address (sys.tcp_endpoints.ip_address set) does not serve, so the distributed AG does not work properly.",
            needs: &[keys::AVAILABILITY_GROUPS, keys::AVAILABILITY_REPLICAS, keys::TCP_ENDPOINTS],
            related_errors: &[1418, 35201],
            seed: "beyond the seeds: configure-distributed-availability-groups (Set the endpoint listeners to listen to all IP addresses)",
        },
        run: endpoint_listener_ip,
    },
];

const REPLICA_COLUMNS: &[&str] = &[
    "replica_id",
    "group_id",
    "replica_server_name",
    "endpoint_url",
    "availability_mode_desc",
    "failover_mode_desc",
    "seeding_mode_desc",
];
const LISTENER_COLUMNS: &[&str] =
    &["group_id", "listener_id", "dns_name", "port", "ip_configuration_string_from_cluster", "is_distributed_network_name"];
const STATE_COLUMNS: &[&str] = &[
    "replica_id",
    "group_id",
    "is_local",
    "role_desc",
    "operational_state_desc",
    "connected_state_desc",
    "synchronization_health_desc",
    "last_connect_error_number",
    "last_connect_error_description",
    "last_connect_error_timestamp",
];
const DB_STATE_COLUMNS: &[&str] = &[
    "database_id",
    "group_id",
    "replica_id",
    "is_local",
    "synchronization_state_desc",
    "synchronization_health_desc",
    "log_send_queue_size",
    "redo_queue_size",
    "last_hardened_time",
    "last_commit_time",
];

/// One member AG's row of the distributed AG, as one hosting instance stores it.
struct MemberRow<'s> {
    host: &'s Instance,
    row: &'s Row,
}

/// A member AG's listener, with its IP rows.
struct ListenerRows<'s> {
    row: &'s Row,
    ips: Vec<&'s Row>,
}

impl ListenerRows<'_> {
    fn name(&self) -> &str {
        self.row.str("dns_name").unwrap_or("")
    }
    /// DNN: `is_distributed_network_name = 1`; before that column existed, a listener with neither
    /// an IP configuration nor IP rows.
    fn is_dnn(&self) -> bool {
        match self.row.bit("is_distributed_network_name") {
            Some(b) => b,
            None => self.ips.is_empty() && self.row.get("ip_configuration_string_from_cluster").is_none(),
        }
    }
    fn port(&self) -> Option<u16> {
        self.row.int("port").and_then(|p| u16::try_from(p).ok())
    }
    /// True when `host` (a URL host) names this listener: the same name, or its first label.
    fn named_by(&self, host: &str) -> bool {
        let name = self.name().trim_end_matches('.');
        let host = host.trim_end_matches('.');
        !name.is_empty()
            && (host.eq_ignore_ascii_case(name)
                || host.split('.').next().is_some_and(|l| l.eq_ignore_ascii_case(name.split('.').next().unwrap_or(name)))
                || self.ips.iter().any(|ip| ip.str("ip_address").is_some_and(|a| a.eq_ignore_ascii_case(host))))
    }
}

/// The distributed AGs; reading every instance's `availability_groups` first, so a snapshot
/// without any distributed AG counts as evaluated (and one that could not be read says why).
fn distributed_ags<'a, 's>(ctx: &'a Ctx<'s>, run: &mut CheckRun<'_>) -> Vec<&'a AgView<'s>> {
    for inst in ctx.instances() {
        let _ = run.rows(inst, keys::AVAILABILITY_GROUPS);
    }
    ctx.topology.ags.iter().filter(|ag| ag.is_distributed()).collect()
}

/// The ordinary AG named `name`, when an instance of it was collected.
fn member_ag<'a, 's>(ctx: &'a Ctx<'s>, name: &str) -> Option<&'a AgView<'s>> {
    ctx.topology.ags.iter().find(|ag| !ag.is_distributed() && ag.name.eq_ignore_ascii_case(name))
}

/// Every instance that hosts the distributed AG (the global primary, the forwarder), with its own
/// rows of the member AGs.
fn member_rows<'s>(ctx: &Ctx<'s>, run: &mut CheckRun<'_>, dag: &AgView<'s>) -> Vec<MemberRow<'s>> {
    let mut out = Vec::new();
    for host in ctx.instances() {
        let hosts_it = host
            .rows_or_empty(keys::AVAILABILITY_GROUPS)
            .iter()
            .any(|g| guid(g, "group_id").as_deref() == Some(dag.group_id.as_str()));
        if !hosts_it {
            continue;
        }
        let Some(rows) = run.rows(host, keys::AVAILABILITY_REPLICAS) else { continue };
        for row in rows.iter().filter(|r| guid(r, "group_id").as_deref() == Some(dag.group_id.as_str())) {
            out.push(MemberRow { host, row });
        }
    }
    out
}

/// The member AG's listeners, read on the instances of that AG (its source first).
fn listeners_of<'s>(ctx: &Ctx<'s>, member: &AgView<'s>) -> Option<Vec<ListenerRows<'s>>> {
    let mut order: Vec<&'s Instance> = vec![&ctx.snapshot.instances[member.source]];
    order.extend(member.replicas.iter().filter_map(|r| r.instance).map(|i| &ctx.snapshot.instances[i]));
    for inst in order {
        let Ok(rows) = inst.rows(keys::AVAILABILITY_GROUP_LISTENERS) else { continue };
        let ips = inst.rows_or_empty(keys::AVAILABILITY_GROUP_LISTENER_IP_ADDRESSES);
        return Some(
            rows.iter()
                .filter(|l| guid(l, "group_id").as_deref() == Some(member.group_id.as_str()))
                .map(|row| {
                    let id = guid(row, "listener_id");
                    ListenerRows { row, ips: ips.iter().filter(|ip| id.is_some() && guid(ip, "listener_id") == id).collect() }
                })
                .collect(),
        );
    }
    None
}

/// The database mirroring endpoint ports of the member AG's replicas: the engine's own
/// (`tcp_endpoints`, `dm_tcp_listener_states`) where collected, else the ports of their endpoint URLs.
fn mirroring_ports(ctx: &Ctx<'_>, member: &AgView<'_>) -> Vec<u16> {
    let mut ports: Vec<u16> = Vec::new();
    for r in &member.replicas {
        let from_engine = r.instance.and_then(|i| {
            let inst = &ctx.snapshot.instances[i];
            inst.rows_or_empty(keys::TCP_ENDPOINTS)
                .iter()
                .find(|e| domains::is_mirroring_endpoint(e))
                .and_then(|e| e.int("port"))
                .filter(|p| *p > 0)
                .or_else(|| {
                    inst.rows_or_empty(keys::DM_TCP_LISTENER_STATES)
                        .iter()
                        .find(|l| domains::is_mirroring_listener(l))
                        .and_then(|l| l.int("port"))
                })
                .and_then(|p| u16::try_from(p).ok())
        });
        let port = from_engine.or_else(|| r.row.str("endpoint_url").and_then(|u| TcpUrl::parse(u).ok()).map(|u| u.port));
        if let Some(p) = port
            && !ports.contains(&p)
        {
            ports.push(p);
        }
    }
    ports.sort_unstable();
    ports
}

/// The DNS suffix the member AG's replicas use in their endpoint URLs (`contoso.com`).
fn dns_suffix(member: &AgView<'_>) -> Option<String> {
    member.replicas.iter().find_map(|r| {
        let url = TcpUrl::parse(r.row.str("endpoint_url")?).ok()?;
        if url.host_kind() != HostKind::Fqdn {
            return None;
        }
        url.host.split_once('.').map(|(_, suffix)| suffix.trim_end_matches('.').to_ascii_lowercase())
    })
}

fn join_ports(ports: &[u16]) -> String {
    ports.iter().map(u16::to_string).collect::<Vec<_>>().join(" or ")
}

fn listener_url(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
    for dag in distributed_ags(ctx, run) {
        let rows = member_rows(ctx, run, dag);
        run.evaluated();
        // Group each member's rows by URL: both sides usually store the same one.
        let mut members: Vec<(&str, &str, Vec<&MemberRow<'_>>)> = Vec::new();
        for m in &rows {
            let (Some(name), url) = (m.row.str("replica_server_name"), m.row.str("endpoint_url").unwrap_or("")) else { continue };
            match members.iter_mut().find(|(n, u, _)| n.eq_ignore_ascii_case(name) && *u == url) {
                Some(entry) => entry.2.push(m),
                None => members.push((name, url, vec![m])),
            }
        }
        let split = |name: &str| members.iter().filter(|(n, _, _)| n.eq_ignore_ascii_case(name)).count() > 1;
        for (name, url, stored) in &members {
            let member = member_ag(ctx, name);
            let listeners = member.and_then(|m| listeners_of(ctx, m));
            let ports = member.map(|m| mirroring_ports(ctx, m)).unwrap_or_default();
            let mut problems: Vec<String> = Vec::new();
            let mut severity = Severity::Warning;
            let parsed = match TcpUrl::parse(url) {
                Ok(u) => Some(u),
                Err(why) => {
                    problems.push(format!("it is not a valid tcp://system-address:port ({why})"));
                    severity = Severity::Error;
                    None
                }
            };
            let mut named: Option<&ListenerRows<'_>> = None;
            if let Some(u) = &parsed {
                named = listeners.as_ref().and_then(|ls| ls.iter().find(|l| l.named_by(&u.host)));
                match (u.host_kind(), &listeners) {
                    (HostKind::Loopback, _) => {
                        problems.push(format!("its host {} is the local machine, which the other cluster cannot reach", u.host));
                        severity = Severity::Error;
                    }
                    (_, Some(ls)) if !ls.is_empty() && named.is_none() => {
                        let names: Vec<&str> = ls.iter().map(ListenerRows::name).collect();
                        problems.push(format!(
                            "its host {} is not a listener of {name} (its listener: {}); the distributed AG must reach \
                             whichever replica is {name}'s primary, which only the listener follows",
                            u.host,
                            names.join(", ")
                        ));
                        severity = Severity::Error;
                    }
                    (HostKind::SingleLabel, _) => problems.push(format!(
                        "its host {} is a single-label name: the other cluster resolves it only through its own DNS \
                         suffix search list; use the listener's fully qualified name",
                        u.host
                    )),
                    _ => {}
                }
                if !ports.is_empty() && !ports.contains(&u.port) {
                    let what = match named.and_then(ListenerRows::port) {
                        Some(lp) if lp == u.port => format!(
                            "its port {} is the listener's client (TSQL) port, while LISTENER_URL takes the port of {name}'s \
                             database mirroring endpoints ({}): on {} the Database Engine answers client logins, not the \
                             distributed AG's database mirroring traffic",
                            u.port,
                            join_ports(&ports),
                            u.port
                        ),
                        _ => format!(
                            "its port {} is not the database mirroring endpoint port of {name}'s replicas ({})",
                            u.port,
                            join_ports(&ports)
                        ),
                    };
                    problems.push(what);
                    severity = Severity::Error;
                } else if ports.is_empty() && member.is_none() && u.port == 1433 {
                    problems.push(format!(
                        "its port 1433 is the Database Engine's default client port; LISTENER_URL takes {name}'s database \
                         mirroring endpoint port (5022 by convention) ({name} was not collected, so its real port is unknown)"
                    ));
                }
            }
            if member.is_none() && problems.is_empty() {
                run.skip(&format!("{}/{name}", dag.name), format!("{name} was not collected: its listener and mirroring port are unknown"));
                continue;
            }
            if problems.is_empty() {
                continue;
            }
            // The URL to set: the VNN listener's FQDN and the mirroring port.
            let vnn = named.filter(|l| !l.is_dnn()).or_else(|| listeners.as_ref().and_then(|ls| ls.iter().find(|l| !l.is_dnn())));
            let host = vnn.and_then(|l| {
                let current = parsed.as_ref().filter(|u| u.host_kind() == HostKind::Fqdn && l.named_by(&u.host)).map(|u| u.host.clone());
                let name = l.name().trim_end_matches('.');
                current.or_else(|| {
                    if name.contains('.') {
                        Some(name.to_ascii_lowercase())
                    } else {
                        member.and_then(dns_suffix).map(|s| format!("{}.{s}", name.to_ascii_lowercase()))
                    }
                })
            });
            let port = match ports.as_slice() {
                [p] => Some(*p),
                [] => parsed.as_ref().map(|u| u.port).filter(|p| *p != 1433 && named.and_then(ListenerRows::port) != Some(*p)),
                _ => None,
            };
            let recommended = host.zip(port).map(|(h, p)| format!("tcp://{h}:{p}"));
            let hosts: Vec<&str> = stored.iter().map(|m| m.host.name()).collect();
            let fixes: Vec<FixStep> = hosts
                .iter()
                .map(|h| match recommended.as_deref().and_then(|u| statements::set_listener_url(dag.name, name, u)) {
                    Some(sql) => FixStep::sql(h, Phase::ReplicaOptions, sql),
                    None => FixStep::manual(
                        h,
                        Phase::ReplicaOptions,
                        format!(
                            "set {name}'s LISTENER_URL in distributed AG {} to tcp://<{name}'s VNN listener FQDN>:<its replicas' mirroring endpoint port> \
                             (ALTER AVAILABILITY GROUP ... MODIFY AVAILABILITY GROUP ON ... WITH (LISTENER_URL = ...))",
                            dag.name
                        ),
                    ),
                })
                .collect();
            let mut evidence = json!({
                "availability_replicas": stored.iter().map(|m| {
                    let mut v = m.row.pick(REPLICA_COLUMNS);
                    v["read_on"] = m.host.name().into();
                    v
                }).collect::<Vec<_>>(),
            });
            if let Some(ls) = &listeners {
                evidence["availability_group_listeners"] = ls.iter().map(|l| l.row.pick(LISTENER_COLUMNS)).collect::<Vec<Value>>().into();
            }
            if !ports.is_empty() {
                evidence["mirroring_endpoint_ports"] = json!(ports);
            }
            let mut draft = run.finding(severity, *name).ag(dag.name).replica(*name);
            if split(name) {
                draft = draft.instance(hosts.join(","));
            }
            draft
                .message(format!(
                    "Distributed availability group {} reaches member availability group {name} at LISTENER_URL {url} (read on {}), \
                     but {}. The distributed AG's replicas are the two AGs, each reached through its listener at the port of its \
                     replicas' database mirroring endpoints; with this URL the global primary and the forwarder cannot connect \
                     (1418, 35201), or connect only until {name} fails over locally.",
                    dag.name,
                    hosts.join(" and "),
                    problems.join("; and ")
                ))
                .evidence(evidence)
                .remediation(match &recommended {
                    Some(u) => format!(
                        "On {} (each side keeps its own copy of the distributed AG): ALTER AVAILABILITY GROUP [{}] MODIFY AVAILABILITY GROUP ON N'{name}' WITH (LISTENER_URL = N'{u}').",
                        hosts.join(" and "),
                        dag.name
                    ),
                    None => format!(
                        "Point {name}'s LISTENER_URL at its VNN listener's FQDN and its replicas' database mirroring endpoint port, on {} (each side keeps its own copy).",
                        hosts.join(" and ")
                    ),
                })
                .fixes(fixes)
                .emit();
        }
    }
}

fn is_disconnected(state: &Row) -> bool {
    match state.code("connected_state_desc") {
        Some(d) => d.eq_ignore_ascii_case("DISCONNECTED"),
        None => state.int("connected_state") == Some(0),
    }
}

fn disconnected(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
    for dag in distributed_ags(ctx, run) {
        let rows = member_rows(ctx, run, dag);
        // Each member's disconnected state rows, with the instance that reported them.
        let mut seen: Vec<(&str, &Row, &Instance, &Row)> = Vec::new();
        for m in &rows {
            let Some(states) = run.rows(m.host, keys::DM_HADR_AVAILABILITY_REPLICA_STATES) else { continue };
            let id = guid(m.row, "replica_id");
            let Some(state) = states.iter().find(|s| id.is_some() && guid(s, "replica_id") == id) else { continue };
            if is_disconnected(state) {
                seen.push((m.row.str("replica_server_name").unwrap_or("?"), m.row, m.host, state));
            }
        }
        run.evaluated();
        if seen.is_empty() {
            continue;
        }
        let primary_ag = dag.primary.clone();
        let is_primary_member = |n: &str| primary_ag.as_deref().is_some_and(|p| p.eq_ignore_ascii_case(n));
        // One finding per distributed AG: the link between its two AGs is down, whoever reports it.
        let secondary = seen
            .iter()
            .map(|(n, _, _, _)| *n)
            .find(|n| !is_primary_member(n))
            .or_else(|| dag.replicas.iter().map(|r| r.server_name).find(|n| !is_primary_member(n)))
            .unwrap_or(seen[0].0);
        let primary_name = primary_ag.clone().unwrap_or_else(|| "the primary AG".into());
        let member_host = |member: &str| {
            member_ag(ctx, member).and_then(|m| m.primary.clone()).map(|p| format!(" (its primary {p})")).unwrap_or_default()
        };
        let reports: Vec<String> = seen
            .iter()
            .map(|(n, _, host, state)| {
                let error = match state.int("last_connect_error_number") {
                    Some(num) => format!(
                        "last connect error {num}{}{}",
                        state.str("last_connect_error_description").map(|d| format!(" \"{d}\"")).unwrap_or_default(),
                        state.str("last_connect_error_timestamp").map(|t| format!(" at {t}")).unwrap_or_default()
                    ),
                    None => "no last connect error recorded".to_string(),
                };
                if state.bit("is_local") == Some(true) {
                    format!("{} reports its own member {n} as DISCONNECTED from the distributed AG ({error})", host.name())
                } else {
                    format!("{} reports member {n} as DISCONNECTED ({error})", host.name())
                }
            })
            .collect();
        let databases: Vec<Value> = seen
            .iter()
            .flat_map(|(_, _, host, _)| {
                host.rows_or_empty(keys::DM_HADR_DATABASE_REPLICA_STATES)
                    .iter()
                    .filter(|d| guid(d, "group_id").as_deref() == Some(dag.group_id.as_str()))
                    .map(|d| {
                        let mut v = d.pick(DB_STATE_COLUMNS);
                        v["read_on"] = host.name().into();
                        v
                    })
            })
            .collect();
        let since = seen.iter().find_map(|(_, _, _, s)| s.str("last_connect_error_timestamp"));
        let loss = match since {
            Some(t) => format!("every transaction committed on {primary_name} since about {t}"),
            None => format!("every transaction committed on {primary_name} since the link dropped"),
        };
        // From each reporting instance, the other member's LISTENER_URL as that instance stores it.
        let checks: Vec<(String, String)> = seen
            .iter()
            .map(|(_, _, h, _)| {
                let local_ids: Vec<String> = h
                    .rows_or_empty(keys::DM_HADR_AVAILABILITY_REPLICA_STATES)
                    .iter()
                    .filter(|r| r.bit("is_local") == Some(true))
                    .filter_map(|r| guid(r, "replica_id"))
                    .collect();
                let other = rows
                    .iter()
                    .filter(|m| std::ptr::eq(m.host, *h))
                    .filter(|m| guid(m.row, "replica_id").is_none_or(|id| !local_ids.contains(&id)))
                    .find_map(|m| m.row.str("endpoint_url").and_then(|u| TcpUrl::parse(u).ok()));
                let test = match other {
                    Some(u) if !u.host.contains(['\'', '\n', '\r']) => format!(
                        "check name resolution and TCP {port} from {} to the other AG's listener and replicas: \
                         Test-NetConnection -ComputerName '{}' -Port {port}",
                        h.name(),
                        u.host,
                        port = u.port
                    ),
                    _ => format!(
                        "check name resolution and TCP to the other AG's listener and replicas from {} (Test-NetConnection <listener FQDN> -Port <mirroring port>)",
                        h.name()
                    ),
                };
                (h.name().to_string(), test)
            })
            .collect();
        run.finding(Severity::Error, secondary)
            .ag(dag.name)
            .replica(secondary)
            .message(format!(
                "Distributed availability group {}: {}. Member availability group {secondary}{} receives no log from the global \
                 primary while the link is down: its databases, and every replica behind the forwarder, stop at the last log \
                 they received and fall further behind, the log of {primary_name}'s databases cannot be truncated past what \
                 {secondary} still needs, and failing the distributed AG over to {secondary} now (FORCE_FAILOVER_ALLOW_DATA_LOSS \
                 on the forwarder) would lose {loss}.",
                dag.name,
                reports.join("; "),
                member_host(secondary)
            ))
            .evidence(json!({
                "availability_replicas": seen.iter().map(|(_, r, h, _)| { let mut v = r.pick(REPLICA_COLUMNS); v["read_on"] = h.name().into(); v }).collect::<Vec<_>>(),
                "dm_hadr_availability_replica_states": seen.iter().map(|(_, _, h, s)| { let mut v = s.pick(STATE_COLUMNS); v["read_on"] = h.name().into(); v }).collect::<Vec<_>>(),
                "dm_hadr_database_replica_states": databases,
            }))
            .remediation(format!(
                "Find why the two AGs cannot connect (the last connect error says where): each LISTENER_URL must resolve from \
                 the other cluster to the member AG's listener, and that listener must be online on the member's primary; \
                 the database mirroring port (5022) must be open between every replica of both clusters, in both \
                 directions, and every mirroring endpoint must listen on all IP addresses (LISTENER_IP = ALL); each side's \
                 service accounts need a login with CONNECT on the other side's endpoints. Once connected, data movement \
                 resumes on its own; check that {secondary}'s databases catch up before any distributed AG failover."
            ))
            .fixes(checks.iter().map(|(h, test)| FixStep::manual(h, Phase::Prerequisite, test.clone())))
            .emit();
    }
}

fn dnn_listener(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
    for dag in distributed_ags(ctx, run) {
        let rows = member_rows(ctx, run, dag);
        let mut done: Vec<String> = Vec::new();
        for m in &rows {
            let Some(name) = m.row.str("replica_server_name") else { continue };
            if done.iter().any(|d| d.eq_ignore_ascii_case(name)) {
                continue;
            }
            let Some(member) = member_ag(ctx, name) else {
                run.skip(&format!("{}/{name}", dag.name), format!("{name} was not collected: its listeners are unknown"));
                continue;
            };
            let Some(listeners) = listeners_of(ctx, member) else {
                run.skip(&format!("{}/{name}", dag.name), format!("the listeners of {name} could not be read"));
                continue;
            };
            run.evaluated();
            let Some(url) = m.row.str("endpoint_url").and_then(|u| TcpUrl::parse(u).ok()) else { continue };
            let Some(listener) = listeners.iter().find(|l| l.named_by(&url.host)) else { continue };
            if !listener.is_dnn() {
                continue;
            }
            done.push(name.to_string());
            let vnn = listeners.iter().find(|l| !l.is_dnn()).map(|l| l.name().to_string());
            let hosts: Vec<&str> =
                rows.iter().filter(|r| r.row.str("replica_server_name").is_some_and(|n| n.eq_ignore_ascii_case(name))).map(|r| r.host.name()).collect();
            let primary = member.primary.clone().unwrap_or_else(|| ctx.snapshot.instances[member.source].name().to_string());
            run.finding(Severity::Error, name)
                .ag(dag.name)
                .replica(name)
                .message(format!(
                    "Distributed availability group {} reaches {name} at LISTENER_URL {}, which names {}, a distributed network \
                     name (DNN) listener (is_distributed_network_name = 1, no virtual IP). A distributed AG on top of an AG \
                     whose listener is a DNN is not supported: the LISTENER_URL must name a virtual network name (VNN) \
                     listener with its virtual IP and {name}'s database mirroring endpoint port.{}",
                    dag.name,
                    m.row.str("endpoint_url").unwrap_or(""),
                    listener.name(),
                    match &vnn {
                        Some(v) => format!(" {name} also has the VNN listener {v}: use it."),
                        None => format!(" {name} has no VNN listener."),
                    }
                ))
                .evidence(json!({
                    "availability_replicas": [m.row.pick(REPLICA_COLUMNS)],
                    "availability_group_listeners": [listener.row.pick(LISTENER_COLUMNS)],
                    "availability_group_listener_ip_addresses": listener.ips.iter().map(|r| r.pick(&["listener_id", "ip_address", "state_desc"])).collect::<Vec<_>>(),
                }))
                .remediation(format!(
                    "{}then on {} set LISTENER_URL to tcp://<VNN listener FQDN>:<mirroring endpoint port> (ALTER AVAILABILITY GROUP [{}] MODIFY AVAILABILITY GROUP ON N'{name}' WITH (LISTENER_URL = ...)).",
                    match &vnn {
                        Some(_) => String::new(),
                        None => format!(
                            "Create a VNN listener for {name} on {primary} (ALTER AVAILABILITY GROUP [{name}] ADD LISTENER N'<name>' (WITH IP ((N'<ip>', N'<mask>')), PORT = 1433); \
                             in Azure behind a load balancer with a rule for the mirroring port), "
                        ),
                    },
                    hosts.join(" and "),
                    dag.name
                ))
                .fixes(hosts.iter().map(|h| {
                    FixStep::manual(
                        h,
                        Phase::ReplicaOptions,
                        format!("point {name}'s LISTENER_URL in distributed AG {} at a VNN listener of {name}", dag.name),
                    )
                }))
                .emit();
        }
    }
}

fn endpoint_listener_ip(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
    let mut done: Vec<*const Instance> = Vec::new();
    for dag in distributed_ags(ctx, run) {
        for m in &dag.replicas {
            let Some(member) = member_ag(ctx, m.server_name) else {
                run.skip(&format!("{}/{}", dag.name, m.server_name), format!("{} was not collected: its replicas' endpoints are unknown", m.server_name));
                continue;
            };
            for r in &member.replicas {
                let Some(index) = r.instance else {
                    run.skip(&format!("{} ({})", r.server_name, member.name), "not collected: its endpoint is unknown");
                    continue;
                };
                let inst = &ctx.snapshot.instances[index];
                if done.contains(&(inst as *const Instance)) {
                    continue;
                }
                done.push(inst as *const Instance);
                let Some(rows) = run.rows(inst, keys::TCP_ENDPOINTS) else { continue };
                let Some(ep) = rows.iter().find(|e| domains::is_mirroring_endpoint(e)) else { continue }; // endpoint.missing
                let Some(ip) = ep.str("ip_address").map(str::trim).filter(|ip| !ip.is_empty()) else { continue };
                let name = ep.str("name").unwrap_or("Hadr_endpoint");
                let port = ep.int("port").map(|p| p.to_string()).unwrap_or_else(|| "?".into());
                run.finding(Severity::Error, name)
                    .instance(r.server_name)
                    .ag(dag.name)
                    .replica(r.server_name)
                    .message(format!(
                        "{} hosts a replica of {}, a member of distributed availability group {}, but its database mirroring \
                         endpoint [{name}] listens only on {ip} (LISTENER_IP, sys.tcp_endpoints.ip_address), port {port}. \
                         The other AG reaches {} through its listener's virtual IP, which this endpoint does not serve: the \
                         distributed AG cannot connect while {} is {}'s primary (1418, 35201). Every replica of both AGs must \
                         listen on all IP addresses.",
                        r.server_name, member.name, dag.name, member.name, r.server_name, member.name
                    ))
                    .evidence(json!({ "tcp_endpoints": ep.pick(&["name", "endpoint_id", "port", "ip_address", "state_desc"]) }))
                    .remediation(format!(
                        "On {}: ALTER ENDPOINT [{name}] AS TCP (LISTENER_IP = ALL). The endpoint restarts, which briefly \
                         interrupts this replica's AG traffic.",
                        r.server_name
                    ))
                    .fix(match statements::alter_endpoint_listener_ip_all(name) {
                        Some(sql) => FixStep::sql(r.server_name, Phase::AlterEndpoint, sql),
                        None => FixStep::manual(r.server_name, Phase::AlterEndpoint, "set LISTENER_IP = ALL on the database mirroring endpoint"),
                    })
                    .emit();
            }
        }
    }
}
