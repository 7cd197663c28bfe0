//! Seed: "Read-Only Routing is Not Working Correctly" (troubleshoot-ag-configuration.md), steps 1,
//! 5, 6 and 7: a routing list on every replica that can be primary, only readable secondaries with a
//! READ_ONLY_ROUTING_URL in it, and each URL `TCP://<FQDN>:<the instance's TSQL port>`, reachable.
//!
//! Routing lists and replica options come from the AG's source instance (the primary when it was
//! collected). URL findings are reported on the replica that owns the URL; every fix is an
//! `ALTER AVAILABILITY GROUP` that runs on the primary. A URL problem is an error when some list
//! routes to that replica and a warning while no list names it yet.

use std::collections::{HashMap, HashSet};

use serde_json::{Value, json};

use super::{Check, CheckInfo, CheckRun, Ctx, endpoint_url};
use crate::findings::{Category, FixStep, Phase, Severity};
use crate::fix::{statements, tsql};
use crate::routing_simulation::{
    ListEntry, is_automatic_failover_partner, is_readable_secondary, list_entries, routing_url,
};
use crate::snapshot::{Instance, Row, domains, keys};
use crate::tcp_url::{HostKind, TcpUrl};
use crate::topology::{AgView, ReplicaView, guid};

const MIRRORING_CONVENTION_PORT: u16 = 5022;

const REPLICA_COLUMNS: &[&str] = &[
    "replica_server_name",
    "endpoint_url",
    "availability_mode_desc",
    "failover_mode_desc",
    "secondary_role_allow_connections_desc",
    "read_only_routing_url",
];
const LISTENER_STATE_COLUMNS: &[&str] = &["ip_address", "port", "type_desc", "state_desc"];

pub const CHECKS: &[Check] = &[
    Check {
        info: CheckInfo {
            id: "routing.url_missing",
            category: Category::Routing,
            title: "Routing list names a replica that has no READ_ONLY_ROUTING_URL",
            description: "A replica in a READ_ONLY_ROUTING_LIST has read_only_routing_url NULL. SQL Server has no address to send the client to, so read-intent connections skip it (and fall back to the primary when nothing else is left); setting such a list fails with error 19404.",
            needs: &[keys::AVAILABILITY_REPLICAS, keys::AVAILABILITY_READ_ONLY_ROUTING_LISTS, keys::DM_TCP_LISTENER_STATES],
            related_errors: &[19404],
            seed: "troubleshoot-ag-configuration: Read-Only Routing is Not Working Correctly, step 5",
        },
        run: url_missing,
    },
    Check {
        info: CheckInfo {
            id: "routing.target_not_readable",
            category: Category::Routing,
            title: "Routing list names a replica that is not a readable secondary",
            description: "A replica in another replica's READ_ONLY_ROUTING_LIST has SECONDARY_ROLE (ALLOW_CONNECTIONS = NO): it refuses read-intent connections as a secondary, so routing never lands there. The list must contain only readable secondaries (READ_ONLY or ALL).",
            needs: &[keys::AVAILABILITY_REPLICAS, keys::AVAILABILITY_READ_ONLY_ROUTING_LISTS],
            related_errors: &[],
            seed: "troubleshoot-ag-configuration: Read-Only Routing is Not Working Correctly, step 5",
        },
        run: target_not_readable,
    },
    Check {
        info: CheckInfo {
            id: "routing.url_malformed",
            category: Category::Routing,
            title: "READ_ONLY_ROUTING_URL is not TCP://system-address:port",
            description: "The replica's read_only_routing_url does not follow the required format TCP://system-address:port (error 19401): clients cannot be routed to it.",
            needs: &[keys::AVAILABILITY_REPLICAS],
            related_errors: &[19401],
            seed: "troubleshoot-ag-configuration: Read-Only Routing is Not Working Correctly, step 7",
        },
        run: url_malformed,
    },
    Check {
        info: CheckInfo {
            id: "routing.url_mirroring_port",
            category: Category::Routing,
            title: "READ_ONLY_ROUTING_URL points at the database mirroring endpoint port",
            description: "The routing URL's port is the replica's database mirroring endpoint port (or 5022, the conventional one). That port speaks the mirroring protocol, not TDS: a client routed there fails to log in. The routing URL needs the Database Engine's TSQL port (typically 1433).",
            needs: &[keys::AVAILABILITY_REPLICAS, keys::TCP_ENDPOINTS, keys::DM_TCP_LISTENER_STATES],
            related_errors: &[],
            seed: "troubleshoot-ag-configuration: Read-Only Routing is Not Working Correctly, step 7",
        },
        run: url_mirroring_port,
    },
    Check {
        info: CheckInfo {
            id: "routing.url_port_not_tsql",
            category: Category::Routing,
            title: "READ_ONLY_ROUTING_URL port is not a TSQL port of the replica",
            description: "The routing URL's port does not appear as a TSQL listener in the replica's own sys.dm_tcp_listener_states (the AG listener's addresses excluded): nothing on that instance accepts client connections there, so routed clients time out or reach something else. A mirroring-endpoint port is reported by routing.url_mirroring_port instead.",
            needs: &[keys::AVAILABILITY_REPLICAS, keys::DM_TCP_LISTENER_STATES, keys::AVAILABILITY_GROUP_LISTENER_IP_ADDRESSES],
            related_errors: &[],
            seed: "troubleshoot-ag-configuration: Read-Only Routing is Not Working Correctly, steps 7 and 8",
        },
        run: url_port_not_tsql,
    },
    Check {
        info: CheckInfo {
            id: "routing.url_not_fqdn",
            category: Category::Routing,
            title: "READ_ONLY_ROUTING_URL host is not a fully qualified domain name",
            description: "The routing URL names a single-label (NetBIOS) host, an IP address or a loopback address. The client resolves this name itself: a short name fails outside the servers' DNS suffix, an IP breaks in multi-subnet setups and TLS name checks, and localhost sends the client to its own machine. Use the replica's FQDN.",
            needs: &[keys::AVAILABILITY_REPLICAS],
            related_errors: &[],
            seed: "troubleshoot-ag-configuration: Read-Only Routing is Not Working Correctly, step 7",
        },
        run: url_not_fqdn,
    },
    Check {
        info: CheckInfo {
            id: "routing.url_wrong_host",
            category: Category::Routing,
            title: "READ_ONLY_ROUTING_URL names a different machine than the replica",
            description: "The first label of the routing URL's host is neither the replica's MachineName (for a failover cluster instance, its virtual network name) nor its ComputerNamePhysicalNetBIOS. Clients routed to this replica are sent to whatever that name resolves to: typically another replica whose URL was copied (so read-intent load lands on the wrong server, possibly the primary), or nothing. A DNS alias (CNAME) for the right machine is the only case where this works.",
            needs: &[keys::AVAILABILITY_REPLICAS, keys::SERVER_PROPERTIES],
            related_errors: &[],
            seed: "troubleshoot-ag-configuration: Read-Only Routing is Not Working Correctly, step 7 (the correct FQDN), step 5 (compare to the endpoint URL)",
        },
        run: url_wrong_host,
    },
    Check {
        info: CheckInfo {
            id: "routing.url_unreachable",
            category: Category::Routing,
            title: "READ_ONLY_ROUTING_URL is not reachable",
            description: "A TCP probe of the routing URL (from the machine that ran AgDiag) failed: a firewall or network security group blocks the port, the instance does not listen there, or the name does not resolve. Routed clients fail the same way.",
            needs: &[keys::AVAILABILITY_REPLICAS, "probes"],
            related_errors: &[],
            seed: "troubleshoot-ag-configuration: Read-Only Routing is Not Working Correctly, steps 6 and 8",
        },
        run: url_unreachable,
    },
    Check {
        info: CheckInfo {
            id: "routing.no_list",
            category: Category::Routing,
            title: "Replica that can be primary has no read-only routing list",
            description: "The AG has a listener and readable secondaries, but this replica (the primary or an automatic failover partner) has no READ_ONLY_ROUTING_LIST. While it is primary, connections with ApplicationIntent=ReadOnly all stay on the primary instead of going to a readable secondary.",
            needs: &[keys::AVAILABILITY_REPLICAS, keys::AVAILABILITY_READ_ONLY_ROUTING_LISTS, keys::AVAILABILITY_GROUP_LISTENERS],
            related_errors: &[],
            seed: "troubleshoot-ag-configuration: Read-Only Routing is Not Working Correctly, step 1",
        },
        run: no_list,
    },
];

// ---------------------------------------------------------------------------------------------
// Shared evidence
// ---------------------------------------------------------------------------------------------

/// One AG with its routing lists, as read from its source instance.
struct AgLists<'t, 's> {
    ag: &'t AgView<'s>,
    entries: Vec<ListEntry<'t, 's>>,
    /// Indexes into `entries` by target replica id, and the replica ids that own a list.
    by_target: HashMap<&'t str, Vec<usize>>,
    owners: HashSet<&'t str>,
}

impl<'t, 's> AgLists<'t, 's> {
    fn new(ag: &'t AgView<'s>, entries: Vec<ListEntry<'t, 's>>) -> Self {
        let mut by_target: HashMap<&'t str, Vec<usize>> = HashMap::new();
        let mut owners = HashSet::new();
        for (i, e) in entries.iter().enumerate() {
            by_target.entry(e.target.replica_id.as_str()).or_default().push(i);
            owners.insert(e.owner.replica_id.as_str());
        }
        AgLists { ag, entries, by_target, owners }
    }

    /// The list rows that route to `replica`.
    fn naming(&self, replica: &ReplicaView<'_>) -> Vec<&ListEntry<'t, 's>> {
        self.by_target.get(replica.replica_id.as_str()).map_or_else(Vec::new, |ix| ix.iter().map(|&i| &self.entries[i]).collect())
    }

    fn targeted(&self, replica: &ReplicaView<'_>) -> bool {
        self.by_target.contains_key(replica.replica_id.as_str())
    }

    fn has_list(&self, replica: &ReplicaView<'_>) -> bool {
        self.owners.contains(replica.replica_id.as_str())
    }
}

fn source<'s>(ctx: &Ctx<'s>, ag: &AgView<'s>) -> Option<&'s Instance> {
    ctx.snapshot.instances.get(ag.source)
}

/// Every AG whose routing lists could be read; records why when they could not.
fn ags_with_lists<'t, 's>(ctx: &'t Ctx<'s>, run: &mut CheckRun<'_>) -> Vec<AgLists<'t, 's>> {
    let mut out = Vec::new();
    for ag in &ctx.topology.ags {
        let Some(inst) = source(ctx, ag) else { continue };
        let Some(rows) = run.rows(inst, keys::AVAILABILITY_READ_ONLY_ROUTING_LISTS) else { continue };
        out.push(AgLists::new(ag, list_entries(ag, rows)));
    }
    out
}

/// Every AG with its lists when available (for severity only; URL checks do not need the lists).
fn ags_for_urls<'t, 's>(ctx: &'t Ctx<'s>, run: &mut CheckRun<'_>) -> Vec<AgLists<'t, 's>> {
    let mut out = Vec::new();
    for ag in &ctx.topology.ags {
        let Some(inst) = source(ctx, ag) else { continue };
        if run.rows(inst, keys::AVAILABILITY_REPLICAS).is_none() {
            continue;
        }
        let rows = inst.rows_or_empty(keys::AVAILABILITY_READ_ONLY_ROUTING_LISTS);
        out.push(AgLists::new(ag, list_entries(ag, rows)));
    }
    out
}

fn list_evidence(entries: &[&ListEntry<'_, '_>]) -> Value {
    json!(entries
        .iter()
        .map(|e| {
            let mut row = e.row.pick(&["replica_id", "routing_priority", "read_only_replica_id"]);
            row["list_of"] = json!(e.owner.server_name);
            row["target"] = json!(e.target.server_name);
            row
        })
        .collect::<Vec<_>>())
}

/// "SQL1 (priority 1) and SQL2 (priority 1)": whose lists name a replica.
fn owners_text(entries: &[&ListEntry<'_, '_>]) -> String {
    let parts: Vec<String> =
        entries.iter().map(|e| format!("{} (priority {})", e.owner.server_name, e.priority)).collect();
    join_and(&parts)
}

fn join_and(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

fn severity_for(lists: &AgLists<'_, '_>, replica: &ReplicaView<'_>) -> Severity {
    if lists.targeted(replica) { Severity::Error } else { Severity::Warning }
}

fn latent_note(lists: &AgLists<'_, '_>, replica: &ReplicaView<'_>) -> String {
    let naming = lists.naming(replica);
    if naming.is_empty() {
        " No routing list names this replica yet, so nothing is routed there today; a list that adds it later would route clients to this URL.".to_string()
    } else {
        let (lists, verb) = if naming.len() == 1 { ("list of", "routes") } else { ("lists of", "route") };
        format!(" The routing {lists} {} {verb} read-intent connections to this URL.", owners_text(&naming))
    }
}

/// The name of the primary, where every ALTER AVAILABILITY GROUP must run.
fn primary_name<'a>(ag: &'a AgView<'_>) -> Option<&'a str> {
    ag.primary_replica().map(|r| r.server_name).or(ag.primary.as_deref())
}

/// True when server-supplied text can sit inside a script line as written (in `N'...'` or
/// `[...]`): no deceptive characters (see `untrusted_text`) and no sqlcmd `$(` substitution.
fn plain(text: &str) -> bool {
    !text.is_empty() && !crate::untrusted_text::has_deceptive(text) && !text.contains("$(")
}

/// An `ALTER AVAILABILITY GROUP … MODIFY REPLICA` on the primary, or a manual step saying why not.
fn on_primary(ag: &AgView<'_>, replica: &str, phase: Phase, option: &str, what: &str) -> FixStep {
    let sql = if plain(replica) { statements::modify_replica(ag.name, replica, option) } else { None };
    match (primary_name(ag), sql) {
        (Some(primary), Some(sql)) => FixStep::sql(primary, phase, sql),
        (Some(primary), None) => FixStep::manual(
            primary,
            phase,
            format!(
                "The availability group or replica name cannot be scripted safely: on the primary, {what} with \
                 ALTER AVAILABILITY GROUP ... MODIFY REPLICA ON ... WITH ({option})."
            ),
        ),
        (None, sql) => FixStep::manual(
            ag.name,
            phase,
            format!(
                "The primary of this availability group is not known from the snapshot. On the primary, {what}: {}",
                sql.unwrap_or_else(|| format!("ALTER AVAILABILITY GROUP ... MODIFY REPLICA ON ... WITH ({option});"))
            ),
        ),
    }
}

fn is_wildcard(ip: &str) -> bool {
    matches!(ip.trim(), "0.0.0.0" | "::" | "")
}

/// Every AG listener IP address any instance reported (TSQL rows on these belong to a listener,
/// not to the instance's own client port).
fn listener_ips(ctx: &Ctx<'_>) -> Vec<String> {
    let mut ips: Vec<String> = ctx
        .instances()
        .flat_map(|i| i.rows_or_empty(keys::AVAILABILITY_GROUP_LISTENER_IP_ADDRESSES))
        .filter_map(|r| r.str("ip_address"))
        .map(|ip| ip.trim().to_ascii_lowercase())
        .collect();
    ips.sort();
    ips.dedup();
    ips
}

/// The instance's own TSQL listener rows (the AG listener's addresses excluded).
fn tsql_rows<'s>(rows: &'s [Row], listener_ips: &[String]) -> Vec<&'s Row> {
    rows.iter()
        .filter(|r| domains::is_tsql_listener(r))
        .filter(|r| r.str("ip_address").is_none_or(|ip| !listener_ips.contains(&ip.trim().to_ascii_lowercase())))
        .collect()
}

fn port_of(row: &Row) -> Option<u16> {
    row.int("port").and_then(|p| u16::try_from(p).ok()).filter(|p| *p > 0)
}

/// The TSQL port a routing URL should use: the current one when it is a TSQL port, else the port
/// bound on all addresses (the instance's client port), else the lowest.
fn pick_tsql_port(tsql: &[&Row], current: Option<u16>) -> Option<u16> {
    let ports: Vec<u16> = tsql.iter().filter_map(|r| port_of(r)).collect();
    if let Some(c) = current.filter(|c| ports.contains(c)) {
        return Some(c);
    }
    let wildcard = tsql.iter().filter(|r| r.str("ip_address").is_none_or(is_wildcard)).filter_map(|r| port_of(r)).min();
    wildcard.or_else(|| ports.iter().copied().min())
}

/// The replica's FQDN: from its current routing URL or endpoint URL when either names its own
/// machine, else derived as the endpoint URL checks derive it (the name AgDiag connected to, the
/// other replicas' DNS suffix, DEFAULT_DOMAIN()).
fn replica_fqdn(ctx: &Ctx<'_>, ag: &AgView<'_>, replica: &ReplicaView<'_>) -> Option<String> {
    let machine = endpoint_url::machine_of(ctx, replica).name;
    // A URL that names another machine (routing.url_wrong_host) must not propose its own host again.
    let url_host = |column: &str| {
        replica
            .row
            .str(column)
            .and_then(|u| TcpUrl::parse(u).ok())
            .filter(|u| u.host_kind() == HostKind::Fqdn && u.first_label().eq_ignore_ascii_case(&machine))
            .map(|u| u.host.trim_end_matches('.').to_string())
    };
    url_host("read_only_routing_url")
        .or_else(|| url_host("endpoint_url"))
        .or_else(|| endpoint_url::derive_fqdn(ctx, ag, replica).map(|(fqdn, _how)| fqdn))
}

/// The URL AgDiag proposes for `replica`: its FQDN and its TSQL port; `Err` says what is unknown.
fn proposed_url(ctx: &Ctx<'_>, ag: &AgView<'_>, replica: &ReplicaView<'_>, ips: &[String]) -> Result<String, String> {
    let name = replica.server_name;
    let current = routing_url(replica).and_then(|u| TcpUrl::parse(u).ok());
    let host = replica_fqdn(ctx, ag, replica)
        .ok_or_else(|| format!("the snapshot does not show {name}'s fully qualified domain name"))?;
    let inst = ctx
        .instance_named(name)
        .ok_or_else(|| format!("{name} was not collected, so its TSQL port is unknown"))?;
    let rows = inst
        .rows(keys::DM_TCP_LISTENER_STATES)
        .map_err(|why| format!("{name}'s TSQL port is unknown: {why}"))?;
    let port = pick_tsql_port(&tsql_rows(rows, ips), current.map(|c| c.port))
        .ok_or_else(|| format!("{name} shows no TSQL listener in sys.dm_tcp_listener_states"))?;
    Ok(TcpUrl { host, port }.to_string())
}

/// The fix that sets `replica`'s routing URL to the proposed one (Phase::RoutingUrl, on the primary),
/// or a manual step with the query to find the values.
fn url_fix(ctx: &Ctx<'_>, ag: &AgView<'_>, replica: &ReplicaView<'_>, ips: &[String]) -> (FixStep, Option<String>) {
    let proposal = proposed_url(ctx, ag, replica, ips)
        .and_then(|url| if plain(&url) { Ok(url) } else { Err("the proposed URL cannot be scripted safely".into()) });
    match proposal {
        Ok(url) => {
            let option = format!("SECONDARY_ROLE (READ_ONLY_ROUTING_URL = {})", tsql::literal(&url));
            (on_primary(ag, replica.server_name, Phase::RoutingUrl, &option, "set the routing URL"), Some(url))
        }
        Err(why) => {
            let target = primary_name(ag).unwrap_or(ag.name);
            let name = replica.server_name;
            let step = FixStep::manual(
                target,
                Phase::RoutingUrl,
                format!(
                    "Set the routing URL of {name} to TCP://<its FQDN>:<its TSQL port> ({why}). On {name}, the port is \
                     SELECT port FROM sys.dm_tcp_listener_states WHERE type_desc = 'TSQL' AND ip_address IN ('0.0.0.0', '::'); \
                     then on the primary: ALTER AVAILABILITY GROUP ... MODIFY REPLICA ON N'...' WITH \
                     (SECONDARY_ROLE (READ_ONLY_ROUTING_URL = N'TCP://<fqdn>:<port>'));"
                ),
            );
            (step, None)
        }
    }
}

fn replica_evidence(replica: &ReplicaView<'_>) -> Value {
    replica.row.pick(REPLICA_COLUMNS)
}

fn proposal_text(proposed: &Option<String>) -> String {
    match proposed {
        Some(url) => format!(" AgDiag proposes {url} (the replica's FQDN and its TSQL port)."),
        None => String::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// The checks
// ---------------------------------------------------------------------------------------------

fn url_missing(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
    let ips = listener_ips(ctx);
    for lists in ags_with_lists(ctx, run) {
        let ag = lists.ag;
        for replica in &ag.replicas {
            let naming = lists.naming(replica);
            if naming.is_empty() || routing_url(replica).is_some() {
                continue;
            }
            let name = replica.server_name;
            let (fix, proposed) = url_fix(ctx, ag, replica, &ips);
            let tsql_evidence = ctx
                .instance_named(name)
                .and_then(|i| i.rows(keys::DM_TCP_LISTENER_STATES).ok())
                .map(|rows| json!(tsql_rows(rows, &ips).iter().map(|r| r.pick(LISTENER_STATE_COLUMNS)).collect::<Vec<_>>()));
            run.finding(Severity::Error, ag.name)
                .instance(name)
                .ag(ag.name)
                .replica(name)
                .message(format!(
                    "{name} is in the read-only routing list of {} in availability group {}, but its \
                     read_only_routing_url is NULL. SQL Server has no address to route read-intent connections to \
                     {name}, so it skips it (when nothing else in the list is usable they stay on the primary), and \
                     setting a list that names it fails with error 19404.{}",
                    owners_text(&naming),
                    ag.name,
                    proposal_text(&proposed)
                ))
                .evidence(json!({
                    "availability_replicas": replica_evidence(replica),
                    "availability_read_only_routing_lists": list_evidence(&naming),
                    "tsql_listeners": tsql_evidence,
                    "proposed_url": proposed,
                }))
                .remediation(format!(
                    "On the primary, set {name}'s READ_ONLY_ROUTING_URL to TCP://<{name}'s FQDN>:<its TSQL port> \
                     (from sys.dm_tcp_listener_states WHERE type_desc = 'TSQL' on {name}), before any routing list \
                     that names it."
                ))
                .fix(fix)
                .emit();
        }
    }
}

fn target_not_readable(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
    for lists in ags_with_lists(ctx, run) {
        let ag = lists.ag;
        for replica in &ag.replicas {
            // A replica in its own list is primary when the list applies: its secondary setting is moot.
            let naming: Vec<_> =
                lists.naming(replica).into_iter().filter(|e| e.owner.replica_id != replica.replica_id).collect();
            if naming.is_empty() || is_readable_secondary(replica) {
                continue;
            }
            let name = replica.server_name;
            let setting = replica
                .row
                .code("secondary_role_allow_connections_desc")
                .map(str::to_string)
                .or_else(|| replica.row.int("secondary_role_allow_connections").map(|v| v.to_string()))
                .unwrap_or_else(|| "NULL".into());
            run.finding(Severity::Warning, ag.name)
                .instance(name)
                .ag(ag.name)
                .replica(name)
                .message(format!(
                    "{name} is in the read-only routing list of {} in availability group {}, but as a secondary it \
                     does not accept read-intent connections (secondary_role_allow_connections_desc = {setting}). \
                     Routing skips it; if every other target is unavailable too, ReadOnly connections stay on the \
                     primary.",
                    owners_text(&naming),
                    ag.name
                ))
                .evidence(json!({
                    "availability_replicas": replica_evidence(replica),
                    "availability_read_only_routing_lists": list_evidence(&naming),
                }))
                .remediation(format!(
                    "Make {name} a readable secondary (SECONDARY_ROLE (ALLOW_CONNECTIONS = READ_ONLY)), or remove it \
                     from the routing lists if it must not serve reads."
                ))
                .fix(on_primary(
                    ag,
                    name,
                    Phase::ReplicaOptions,
                    "SECONDARY_ROLE (ALLOW_CONNECTIONS = READ_ONLY)",
                    "allow read-intent connections on the secondary",
                ))
                .emit();
        }
    }
}

fn url_malformed(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
    let ips = listener_ips(ctx);
    for lists in ags_for_urls(ctx, run) {
        let ag = lists.ag;
        for replica in &ag.replicas {
            let Some(url) = routing_url(replica) else { continue };
            let Err(problem) = TcpUrl::parse(url) else { continue };
            let name = replica.server_name;
            let (fix, proposed) = url_fix(ctx, ag, replica, &ips);
            run.finding(severity_for(&lists, replica), ag.name)
                .instance(name)
                .ag(ag.name)
                .replica(name)
                .message(format!(
                    "{name}'s read_only_routing_url in availability group {} is \"{}\", which is not \
                     TCP://system-address:port: {problem} (error 19401). Clients cannot be routed to it.{}{}",
                    ag.name,
                    url.escape_debug(),
                    latent_note(&lists, replica),
                    proposal_text(&proposed)
                ))
                .evidence(json!({
                    "availability_replicas": replica_evidence(replica),
                    "problem": problem.to_string(),
                    "availability_read_only_routing_lists": list_evidence(&lists.naming(replica)),
                    "proposed_url": proposed,
                }))
                .remediation(format!(
                    "On the primary, set {name}'s READ_ONLY_ROUTING_URL to TCP://<{name}'s FQDN>:<its TSQL port>."
                ))
                .fix(fix)
                .emit();
        }
    }
}

/// The replica's database mirroring endpoint port(s): from its endpoint_url and, when collected,
/// its own tcp_endpoints and dm_tcp_listener_states.
fn mirroring_ports(ctx: &Ctx<'_>, replica: &ReplicaView<'_>) -> Vec<u16> {
    let mut ports: Vec<u16> = Vec::new();
    if let Some(url) = replica.row.str("endpoint_url").and_then(|u| TcpUrl::parse(u).ok()) {
        ports.push(url.port);
    }
    if let Some(inst) = ctx.instance_named(replica.server_name) {
        for r in inst.rows_or_empty(keys::TCP_ENDPOINTS) {
            if r.is("type_desc", "DATABASE_MIRRORING") || (r.code("type_desc").is_none() && r.int("type") == Some(4)) {
                ports.extend(port_of(r));
            }
        }
        for r in inst.rows_or_empty(keys::DM_TCP_LISTENER_STATES) {
            if r.is("type_desc", "DATABASE_MIRRORING") || (r.code("type_desc").is_none() && r.int("type") == Some(2)) {
                ports.extend(port_of(r));
            }
        }
    }
    ports.sort_unstable();
    ports.dedup();
    ports
}

/// True when the instance is known to accept TDS on `port` (a TSQL row on it).
fn known_tsql_port(ctx: &Ctx<'_>, replica: &ReplicaView<'_>, port: u16, ips: &[String]) -> bool {
    ctx.instance_named(replica.server_name)
        .map(|i| tsql_rows(i.rows_or_empty(keys::DM_TCP_LISTENER_STATES), ips).iter().any(|r| port_of(r) == Some(port)))
        .unwrap_or(false)
}

/// Why `url` points at a mirroring port, when it does.
fn mirroring_port_reason(ctx: &Ctx<'_>, replica: &ReplicaView<'_>, url: &TcpUrl, ips: &[String]) -> Option<String> {
    let ports = mirroring_ports(ctx, replica);
    if ports.contains(&url.port) {
        return Some(format!("port {} is {}'s database mirroring endpoint port", url.port, replica.server_name));
    }
    (url.port == MIRRORING_CONVENTION_PORT && !known_tsql_port(ctx, replica, url.port, ips))
        .then(|| format!("port {} is the conventional database mirroring endpoint port", url.port))
}

fn url_mirroring_port(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
    let ips = listener_ips(ctx);
    for lists in ags_for_urls(ctx, run) {
        let ag = lists.ag;
        for replica in &ag.replicas {
            let Some(url) = routing_url(replica).and_then(|u| TcpUrl::parse(u).ok()) else { continue };
            let Some(reason) = mirroring_port_reason(ctx, replica, &url, &ips) else { continue };
            let name = replica.server_name;
            let (fix, proposed) = url_fix(ctx, ag, replica, &ips);
            run.finding(severity_for(&lists, replica), ag.name)
                .instance(name)
                .ag(ag.name)
                .replica(name)
                .message(format!(
                    "{name}'s read_only_routing_url in availability group {} is {url}, and {reason}. That endpoint \
                     speaks the database mirroring protocol, not TDS: a client routed there cannot log in. The \
                     routing URL must use the Database Engine's TSQL port.{}{}",
                    ag.name,
                    latent_note(&lists, replica),
                    proposal_text(&proposed)
                ))
                .evidence(json!({
                    "availability_replicas": replica_evidence(replica),
                    "mirroring_endpoint_ports": mirroring_ports(ctx, replica),
                    "availability_read_only_routing_lists": list_evidence(&lists.naming(replica)),
                    "proposed_url": proposed,
                }))
                .remediation(format!(
                    "On the primary, set {name}'s READ_ONLY_ROUTING_URL to its TSQL port (SELECT port FROM \
                     sys.dm_tcp_listener_states WHERE type_desc = 'TSQL' on {name}; typically 1433)."
                ))
                .fix(fix)
                .emit();
        }
    }
}

fn url_port_not_tsql(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
    let ips = listener_ips(ctx);
    for lists in ags_for_urls(ctx, run) {
        let ag = lists.ag;
        for replica in &ag.replicas {
            let Some(url) = routing_url(replica).and_then(|u| TcpUrl::parse(u).ok()) else { continue };
            let name = replica.server_name;
            let Some(inst) = ctx.instance_named(name) else {
                run.skip(name, format!("{name} was not collected, so its TSQL ports are unknown"));
                continue;
            };
            let Some(rows) = run.rows(inst, keys::DM_TCP_LISTENER_STATES) else { continue };
            if mirroring_port_reason(ctx, replica, &url, &ips).is_some() {
                continue; // routing.url_mirroring_port reports it.
            }
            let tsql = tsql_rows(rows, &ips);
            if tsql.iter().any(|r| port_of(r) == Some(url.port)) {
                continue;
            }
            let mut ports: Vec<u16> = tsql.iter().filter_map(|r| port_of(r)).collect();
            ports.sort_unstable();
            ports.dedup();
            let ports_text = if ports.is_empty() {
                "no TSQL port at all".to_string()
            } else {
                format!("TSQL on port(s) {}", ports.iter().map(u16::to_string).collect::<Vec<_>>().join(", "))
            };
            let (fix, proposed) = url_fix(ctx, ag, replica, &ips);
            run.finding(severity_for(&lists, replica), ag.name)
                .instance(name)
                .ag(ag.name)
                .replica(name)
                .message(format!(
                    "{name}'s read_only_routing_url in availability group {} is {url}, but {name}'s \
                     sys.dm_tcp_listener_states shows {ports_text} (the AG listener's addresses aside), not port {}. \
                     Clients routed there reach no SQL Server client port (or the listener port on an address that \
                     moves with the primary).{}{}",
                    ag.name,
                    url.port,
                    latent_note(&lists, replica),
                    proposal_text(&proposed)
                ))
                .evidence(json!({
                    "availability_replicas": replica_evidence(replica),
                    "dm_tcp_listener_states": tsql.iter().map(|r| r.pick(LISTENER_STATE_COLUMNS)).collect::<Vec<_>>(),
                    "availability_read_only_routing_lists": list_evidence(&lists.naming(replica)),
                    "proposed_url": proposed,
                }))
                .remediation(format!(
                    "On the primary, set {name}'s READ_ONLY_ROUTING_URL to a port {name} listens on for TSQL \
                     (sys.dm_tcp_listener_states WHERE type_desc = 'TSQL'), or make the instance listen on port {} in \
                     SQL Server Configuration Manager.",
                    url.port
                ))
                .fix(fix)
                .emit();
        }
    }
}

fn url_not_fqdn(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
    let ips = listener_ips(ctx);
    for lists in ags_for_urls(ctx, run) {
        let ag = lists.ag;
        for replica in &ag.replicas {
            let Some(url) = routing_url(replica).and_then(|u| TcpUrl::parse(u).ok()) else { continue };
            let (severity, why) = match url.host_kind() {
                HostKind::Fqdn => continue,
                HostKind::Loopback => (
                    severity_for(&lists, replica),
                    "a loopback address: the client would connect to its own machine",
                ),
                HostKind::IpAddress => (
                    Severity::Warning,
                    "an IP address: it breaks when the replica moves subnet or is reached over another network, and \
                     TLS certificate name checks fail",
                ),
                HostKind::SingleLabel => (
                    Severity::Warning,
                    "a single-label (NetBIOS) name: clients outside the servers' DNS suffix search list cannot \
                     resolve it",
                ),
            };
            let name = replica.server_name;
            let (fix, proposed) = url_fix(ctx, ag, replica, &ips);
            run.finding(severity, ag.name)
                .instance(name)
                .ag(ag.name)
                .replica(name)
                .message(format!(
                    "{name}'s read_only_routing_url in availability group {} is {url}; its host is {why}. The client \
                     resolves this host itself when it is routed.{}{}",
                    ag.name,
                    latent_note(&lists, replica),
                    proposal_text(&proposed)
                ))
                .evidence(json!({
                    "availability_replicas": replica_evidence(replica),
                    "host": url.host,
                    "host_kind": format!("{:?}", url.host_kind()),
                    "proposed_url": proposed,
                }))
                .remediation(format!("On the primary, set {name}'s READ_ONLY_ROUTING_URL to TCP://<{name}'s FQDN>:{}.", url.port))
                .fix(fix)
                .emit();
        }
    }
}

fn url_wrong_host(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
    let ips = listener_ips(ctx);
    for lists in ags_for_urls(ctx, run) {
        let ag = lists.ag;
        if ag.row.bit("is_distributed") == Some(true) {
            continue; // a distributed AG's replicas are member AGs, not machines
        }
        for replica in &ag.replicas {
            let Some(url) = routing_url(replica).and_then(|u| TcpUrl::parse(u).ok()) else { continue };
            // IP and loopback hosts are routing.url_not_fqdn's; only names can name the wrong machine.
            let Some((machine, mismatch)) = endpoint_url::host_mismatch(ctx, ag, replica, &url) else { continue };
            let name = replica.server_name;
            let label = url.first_label();
            let other = match mismatch {
                endpoint_url::HostMismatch::OtherReplica(o) => Some(o),
                _ => None,
            };
            let (severity, why) = if matches!(mismatch, endpoint_url::HostMismatch::FciNode) {
                (
                    Severity::Warning,
                    format!(
                        "{name} is a failover cluster instance and {label} is the node it currently runs on, not its \
                         virtual network name {}: after an FCI failover routed clients go to the old node.",
                        machine.name
                    ),
                )
            } else if let Some(o) = other {
                let target = o.server_name;
                let is_primary = primary_name(ag).is_some_and(|p| p.eq_ignore_ascii_case(target));
                (
                    severity_for(&lists, replica),
                    format!(
                        "{label} is the machine of replica {target} of the same availability group: clients routed to \
                         {name} land on {target}{}, so {name} never receives read-intent connections and the load is \
                         not spread as the routing lists say.",
                        if is_primary { " (the primary)" } else { "" }
                    ),
                )
            } else {
                (
                    Severity::Warning,
                    format!(
                        "Unless {} is a DNS alias (CNAME) for {}, routed clients connect to another machine or to \
                         nothing.",
                        url.host, machine.name
                    ),
                )
            };
            let (fix, proposed) = url_fix(ctx, ag, replica, &ips);
            let mut evidence = json!({
                "availability_replicas": replica_evidence(replica),
                "host": url.host,
                "machine": {
                    "name": machine.name,
                    "server_properties": machine.props.as_ref().map(|p| p.pick(&["ServerName", "MachineName", "ComputerNamePhysicalNetBIOS", "IsClustered"])),
                },
                "availability_read_only_routing_lists": list_evidence(&lists.naming(replica)),
                "proposed_url": proposed,
            });
            if let Some(o) = other {
                evidence["other_replica"] = json!(o.server_name);
            }
            run.finding(severity, ag.name)
                .instance(name)
                .ag(ag.name)
                .replica(name)
                .message(format!(
                    "{name}'s read_only_routing_url in availability group {} is {url}, but {name}'s machine name is {}. \
                     {why}{}{}",
                    ag.name,
                    machine.name,
                    latent_note(&lists, replica),
                    proposal_text(&proposed)
                ))
                .evidence(evidence)
                .remediation(format!(
                    "On the primary, set {name}'s READ_ONLY_ROUTING_URL to TCP://<{name}'s FQDN>:<its TSQL port>. \
                     Compare with [System.Net.Dns]::GetHostEntry($env:COMPUTERNAME).HostName on {}.",
                    machine.name
                ))
                .fix(fix)
                .emit();
        }
    }
}

fn url_unreachable(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
    let probes: Vec<_> = ctx.snapshot.probes.iter().filter(|p| p.purpose.eq_ignore_ascii_case("routing")).collect();
    let any_url = ctx.topology.ags.iter().flat_map(|ag| ag.replicas.iter()).any(|r| routing_url(r).is_some());
    if probes.is_empty() && any_url {
        run.skip("probes", "the snapshot has no routing probes (collected without probing, or offline)");
        return;
    }
    if !any_url {
        // No READ_ONLY_ROUTING_URL anywhere: nothing to reach (the collector probes none).
        for inst in ctx.instances() {
            let _ = run.rows(inst, keys::AVAILABILITY_REPLICAS);
        }
        return;
    }
    for lists in ags_for_urls(ctx, run) {
        let ag = lists.ag;
        for replica in &ag.replicas {
            let Some(url) = routing_url(replica) else { continue };
            let name = replica.server_name;
            let mine: Vec<_> = probes.iter().filter(|p| p.subject.eq_ignore_ascii_case(name)).collect();
            if mine.is_empty() {
                run.skip(name, format!("no routing probe for {name}'s URL"));
                continue;
            }
            run.evaluated();
            let failed: Vec<_> = mine.iter().filter(|p| !p.ok).collect();
            if failed.is_empty() {
                continue;
            }
            let by_name_ok = mine.iter().any(|p| p.ok && p.via.eq_ignore_ascii_case("name"));
            let by_ip_ok = mine.iter().any(|p| p.ok && p.via.eq_ignore_ascii_case("ip"));
            let by_name_failed = failed.iter().any(|p| p.via.eq_ignore_ascii_case("name"));
            let (severity, diagnosis) = match (by_name_ok, by_ip_ok) {
                (false, false) => (
                    severity_for(&lists, replica),
                    "every probe failed: a firewall or network security group blocks the port, or the instance does \
                     not listen on it",
                ),
                (false, true) if by_name_failed => (
                    Severity::Warning,
                    "the address works but the host name does not: name resolution (DNS) returns a wrong or no \
                     address for it",
                ),
                _ => (
                    Severity::Warning,
                    "some probes failed while others succeeded: one of the resolved addresses is unreachable or \
                     something else answers there",
                ),
            };
            let errors: Vec<String> = failed
                .iter()
                .map(|p| {
                    format!(
                        "{} {}:{} ({})",
                        p.via,
                        p.address.as_deref().unwrap_or(&p.host),
                        p.port,
                        p.error.as_deref().unwrap_or("failed")
                    )
                })
                .collect();
            run.finding(severity, ag.name)
                .instance(name)
                .ag(ag.name)
                .replica(name)
                .message(format!(
                    "The TCP probe of {name}'s read_only_routing_url {url} (availability group {}) from the machine \
                     that ran AgDiag failed: {}. Diagnosis: {diagnosis}. Clients routed to this URL from that network \
                     fail the same way.{}",
                    ag.name,
                    errors.join("; "),
                    latent_note(&lists, replica)
                ))
                .evidence(json!({
                    "availability_replicas": replica_evidence(replica),
                    "probes": mine.iter().map(|p| serde_json::to_value(p).unwrap_or(Value::Null)).collect::<Vec<_>>(),
                }))
                .remediation(format!(
                    "Open the URL's TCP port to clients on {name} (Windows Firewall rule for the Database Engine, \
                     NSG/load balancer rules in Azure), make sure TCP/IP is enabled and the instance listens there \
                     (SQL Server Configuration Manager), and that the host name resolves to {name}'s address. Test \
                     with: sqlcmd -S tcp:<host>,<port> -E"
                ))
                .fix(FixStep::manual(
                    name,
                    Phase::Prerequisite,
                    format!(
                        "Allow inbound TCP to {name}'s routing URL port, e.g. on {name}: New-NetFirewallRule \
                         -DisplayName 'SQL Server TSQL' -Direction Inbound -Protocol TCP -LocalPort <port> -Action Allow"
                    ),
                ))
                .emit();
        }
    }
}

/// At most this many replicas are named in one finding's message, evidence and proposed list: an
/// AG has at most 8 secondaries, and a finding about one replica must not grow with the AG (a
/// snapshot with thousands of replicas would otherwise yield output quadratic in its size).
const LIST_LIMIT: usize = 8;

/// "A, B and C", or "A, B, ... H and 992 more" beyond [`LIST_LIMIT`] of `total`.
fn join_limited(names: &[&str], total: usize) -> String {
    let shown: Vec<String> = names.iter().take(LIST_LIMIT).map(|n| n.to_string()).collect();
    if total > shown.len() {
        format!("{} and {} more", shown.join(", "), total - shown.len())
    } else {
        join_and(&shown)
    }
}

fn no_list(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
    for lists in ags_with_lists(ctx, run) {
        let ag = lists.ag;
        let Some(inst) = source(ctx, ag) else { continue };
        let Some(listeners) = run.rows(inst, keys::AVAILABILITY_GROUP_LISTENERS) else { continue };
        let listener: Vec<&Row> =
            listeners.iter().filter(|l| guid(l, "group_id").as_deref() == Some(ag.group_id.as_str())).collect();
        let Some(first_listener) = listener.first() else { continue };
        let readable: Vec<&ReplicaView<'_>> = ag.replicas.iter().filter(|r| is_readable_secondary(r)).collect();
        let primary = primary_name(ag);
        for replica in &ag.replicas {
            let is_primary = primary.is_some_and(|p| p.eq_ignore_ascii_case(replica.server_name));
            if !(is_primary || is_automatic_failover_partner(replica)) || lists.has_list(replica) {
                continue;
            }
            // The readable secondaries other than this replica: the first LIST_LIMIT, and how many.
            let others: Vec<&ReplicaView<'_>> = readable
                .iter()
                .copied()
                .filter(|r| r.replica_id != replica.replica_id)
                .take(LIST_LIMIT)
                .collect();
            if others.is_empty() {
                continue;
            }
            let total = readable.len() - usize::from(is_readable_secondary(replica));
            let name = replica.server_name;
            let why = if is_primary { "the current primary" } else { "an automatic failover partner" };
            let other_names: Vec<&str> = others.iter().map(|r| r.server_name).collect();
            let about_replica: Vec<&ListEntry<'_, '_>> = lists.naming(replica);
            run.finding(Severity::Info, ag.name)
                .instance(name)
                .ag(ag.name)
                .replica(name)
                .message(format!(
                    "{name} ({why}) has no read-only routing list in availability group {}, although the AG has the \
                     listener {} and readable secondaries ({}). While {name} is primary, connections through the \
                     listener with ApplicationIntent=ReadOnly all stay on {name}.",
                    ag.name,
                    first_listener.str("dns_name").unwrap_or("?"),
                    join_limited(&other_names, total)
                ))
                .evidence(json!({
                    "availability_replicas": std::iter::once(replica).chain(others.iter().copied()).map(replica_evidence).collect::<Vec<_>>(),
                    "readable_secondaries": total,
                    "availability_read_only_routing_lists": list_evidence(&about_replica),
                    "availability_group_listeners": listener.iter().take(LIST_LIMIT).map(|l| l.pick(&["dns_name", "port", "is_distributed_network_name"])).collect::<Vec<_>>(),
                }))
                .remediation(format!(
                    "If read-intent connections should go to secondaries while {name} is primary, give {name} a \
                     READ_ONLY_ROUTING_LIST of the readable secondaries (one load-balanced set, SQL Server 2016+), with \
                     {name} itself last as a fallback; every replica in it needs a READ_ONLY_ROUTING_URL first."
                ))
                .fix(list_fix(ag, replica, &others))
                .emit();
        }
    }
}

/// `READ_ONLY_ROUTING_LIST = ((N'A', N'B'), N'P')`: the readable secondaries that have a valid URL
/// as one load-balanced set, then the replica itself when it has a URL.
fn list_fix(ag: &AgView<'_>, replica: &ReplicaView<'_>, others: &[&ReplicaView<'_>]) -> FixStep {
    let has_url = |r: &ReplicaView<'_>| routing_url(r).is_some_and(|u| TcpUrl::parse(u).is_ok());
    let set: Vec<&str> = others.iter().filter(|r| has_url(r)).map(|r| r.server_name).collect();
    let target = primary_name(ag).unwrap_or(ag.name);
    if set.is_empty() {
        return FixStep::manual(
            target,
            Phase::RoutingList,
            format!(
                "Set READ_ONLY_ROUTING_URL on the readable secondaries first (none has a valid one), then give {} a \
                 READ_ONLY_ROUTING_LIST naming them.",
                replica.server_name
            ),
        );
    }
    if set.iter().chain([&replica.server_name]).any(|n| !plain(n)) {
        return FixStep::manual(
            target,
            Phase::RoutingList,
            "A replica name cannot be scripted safely: set the READ_ONLY_ROUTING_LIST yourself.",
        );
    }
    let quoted: Vec<String> = set.iter().map(|n| tsql::literal(n)).collect();
    let mut items = vec![if quoted.len() > 1 { format!("({})", quoted.join(", ")) } else { quoted[0].clone() }];
    if has_url(replica) {
        items.push(tsql::literal(replica.server_name));
    }
    let option = format!("PRIMARY_ROLE (READ_ONLY_ROUTING_LIST = ({}))", items.join(", "));
    on_primary(ag, replica.server_name, Phase::RoutingList, &option, "set the routing list")
}
