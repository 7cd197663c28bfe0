//! Read-only routing simulation: for each replica that could be primary, where a connection with
//! ApplicationIntent=ReadOnly would land, in order (load-balanced sets by equal routing_priority).
//!
//! A routing list belongs to the replica that is primary when it applies
//! (`availability_read_only_routing_lists.replica_id`). SQL Server walks the sets in priority order
//! and, within a set, spreads connections round-robin over the targets that can take them: a target
//! needs a READ_ONLY_ROUTING_URL, must allow read-intent connections as a secondary, and must be
//! connected and synchronizing. The states used here are the ones the snapshot saw under the current
//! primary, which is the best available guess for a future failover too.

use serde::{Deserialize, Serialize};

use crate::snapshot::{keys, Row, Snapshot};
use crate::tcp_url::TcpUrl;
use crate::topology::{guid, AgView, ReplicaView, Topology};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutingPath {
    pub availability_group: String,
    /// The replica assumed to be primary.
    pub when_primary: String,
    /// Why this replica could be primary: `current primary`, `automatic failover partner`,
    /// `has a routing list`.
    #[serde(default)]
    pub could_be_primary_because: String,
    /// Ordered sets; replicas in one set share the load (round-robin).
    pub sets: Vec<RoutingSet>,
    /// What happens when no listed target is usable (ReadOnly connections go to the primary).
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutingSet {
    pub routing_priority: i64,
    pub targets: Vec<RoutingTarget>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutingTarget {
    pub replica: String,
    pub read_only_routing_url: Option<String>,
    /// False when the target cannot take a ReadOnly connection (no URL, not readable, the primary
    /// itself, disconnected); `reason` says why.
    pub usable: bool,
    pub reason: Option<String>,
}

/// One row of a routing list, mapped to the replicas of its availability group.
#[derive(Debug, Clone, Copy)]
pub struct ListEntry<'t, 's> {
    pub row: &'s Row,
    /// The replica whose list this is (the list applies while it is primary).
    pub owner: &'t ReplicaView<'s>,
    pub priority: i64,
    pub target: &'t ReplicaView<'s>,
}

/// The routing-list rows of `ag` (from `rows`, one instance's `availability_read_only_routing_lists`)
/// whose owner and target are replicas of `ag`, ordered by owner (replica order), then priority.
/// Rows naming unknown replicas are dropped: the view has no group_id, so replica ids select the AG.
pub fn list_entries<'t, 's>(ag: &'t AgView<'s>, rows: &'s [Row]) -> Vec<ListEntry<'t, 's>> {
    let mut entries: Vec<(usize, ListEntry<'t, 's>)> = rows
        .iter()
        .filter_map(|row| {
            let owner_id = guid(row, "replica_id")?;
            let target_id = guid(row, "read_only_replica_id")?;
            let owner_index = ag.replica_index(&owner_id)?;
            let owner = &ag.replicas[owner_index];
            let target = ag.replica_by_id(&target_id)?;
            let priority = row.int("routing_priority").unwrap_or(i64::MAX);
            Some((owner_index, ListEntry { row, owner, priority, target }))
        })
        .collect();
    // Stable: targets of one set keep the order the view returned them in.
    entries.sort_by_key(|(owner_index, e)| (*owner_index, e.priority));
    entries.into_iter().map(|(_, e)| e).collect()
}

/// The `read_only_routing_url` of a replica, unless NULL or blank.
pub fn routing_url<'s>(replica: &ReplicaView<'s>) -> Option<&'s str> {
    replica.row.str("read_only_routing_url").filter(|u| !u.trim().is_empty())
}

/// True when the replica accepts read-intent connections as a secondary (READ_ONLY or ALL).
pub fn is_readable_secondary(replica: &ReplicaView<'_>) -> bool {
    match replica.row.code("secondary_role_allow_connections_desc") {
        Some(desc) => desc.eq_ignore_ascii_case("READ_ONLY") || desc.eq_ignore_ascii_case("ALL"),
        None => matches!(replica.row.int("secondary_role_allow_connections"), Some(1 | 2)),
    }
}

/// True for a synchronous-commit replica with automatic failover: it becomes primary on its own.
/// EXTERNAL (an AG with CLUSTER_TYPE = EXTERNAL, e.g. Pacemaker) counts: the cluster manager fails
/// over to a synchronous replica without a person. A configuration-only replica is never one.
pub fn is_automatic_failover_partner(replica: &ReplicaView<'_>) -> bool {
    let sync = match replica.row.code("availability_mode_desc") {
        Some(d) => d.eq_ignore_ascii_case("SYNCHRONOUS_COMMIT"),
        None => replica.row.int("availability_mode") == Some(1),
    };
    let automatic = match replica.row.code("failover_mode_desc") {
        Some(d) => d.eq_ignore_ascii_case("AUTOMATIC") || d.eq_ignore_ascii_case("EXTERNAL"),
        None => matches!(replica.row.int("failover_mode"), Some(0 | 2)),
    };
    sync && automatic
}

/// The AG's routing-list rows as its source instance reported them (empty when not collected).
pub fn source_list_rows<'s>(snapshot: &'s Snapshot, ag: &AgView<'s>) -> &'s [Row] {
    snapshot
        .instances
        .get(ag.source)
        .map(|i| i.rows_or_empty(keys::AVAILABILITY_READ_ONLY_ROUTING_LISTS))
        .unwrap_or(&[])
}

pub fn simulate(topology: &Topology<'_>) -> Vec<RoutingPath> {
    let mut paths = Vec::new();
    // A distributed AG has no routing lists of its own: clients connect to a member AG's listener,
    // and that member AG's own lists route them.
    for ag in topology.ags.iter().filter(|ag| !ag.is_distributed()) {
        let collected = topology
            .snapshot
            .instances
            .get(ag.source)
            .map(|i| i.rows(keys::AVAILABILITY_READ_ONLY_ROUTING_LISTS).map(|_| ()).map_err(|why| why.to_string()))
            .unwrap_or_else(|| Err("no source instance".into()));
        let entries = list_entries(ag, source_list_rows(topology.snapshot, ag));
        let is_current = |r: &ReplicaView<'_>| ag.primary.as_deref().is_some_and(|p| p.eq_ignore_ascii_case(r.server_name));
        for candidate in &ag.replicas {
            let has_list = entries.iter().any(|e| e.owner.replica_id == candidate.replica_id);
            let because = if is_current(candidate) {
                "current primary"
            } else if is_automatic_failover_partner(candidate) {
                "automatic failover partner"
            } else if has_list {
                "has a routing list"
            } else {
                continue;
            };
            let mut sets: Vec<RoutingSet> = Vec::new();
            for entry in entries.iter().filter(|e| e.owner.replica_id == candidate.replica_id) {
                let target = judge_target(topology, ag, candidate, entry.target);
                match sets.last_mut() {
                    Some(set) if set.routing_priority == entry.priority => set.targets.push(target),
                    _ => sets.push(RoutingSet { routing_priority: entry.priority, targets: vec![target] }),
                }
            }
            let primary = candidate.server_name;
            let note = if let Err(why) = &collected {
                Some(format!("Unknown: the routing lists could not be read ({why})."))
            } else if !has_list {
                Some(format!(
                    "{primary} has no read-only routing list: ReadOnly connections will land on the primary {primary}."
                ))
            } else if !sets.iter().flat_map(|s| &s.targets).any(|t| t.usable) {
                Some(format!("No routing target is usable: ReadOnly connections will land on the primary {primary}."))
            } else {
                None
            };
            paths.push(RoutingPath {
                availability_group: ag.name.to_string(),
                when_primary: primary.to_string(),
                could_be_primary_because: because.to_string(),
                sets,
                note,
            });
        }
    }
    paths
}

fn judge_target(topology: &Topology<'_>, ag: &AgView<'_>, primary: &ReplicaView<'_>, target: &ReplicaView<'_>) -> RoutingTarget {
    let url = routing_url(target);
    let reason = unusable_reason(topology, ag, primary, target, url);
    RoutingTarget {
        replica: target.server_name.to_string(),
        read_only_routing_url: url.map(str::to_string),
        usable: reason.is_none(),
        reason,
    }
}

fn unusable_reason(
    topology: &Topology<'_>,
    ag: &AgView<'_>,
    primary: &ReplicaView<'_>,
    target: &ReplicaView<'_>,
    url: Option<&str>,
) -> Option<String> {
    let name = target.server_name;
    if target.replica_id == primary.replica_id {
        return Some(format!(
            "{name} is the primary when this list applies: a ReadOnly connection routed here stays on the primary"
        ));
    }
    let Some(url) = url else {
        return Some(format!("{name} has no READ_ONLY_ROUTING_URL"));
    };
    let parsed = match TcpUrl::parse(url) {
        Ok(parsed) => parsed,
        Err(problem) => {
            return Some(format!("{name}'s READ_ONLY_ROUTING_URL is not TCP://system-address:port ({problem})"));
        }
    };
    let endpoint_port = target.row.str("endpoint_url").and_then(|u| TcpUrl::parse(u).ok()).map(|u| u.port);
    if endpoint_port == Some(parsed.port) {
        return Some(format!(
            "{name}'s READ_ONLY_ROUTING_URL uses port {}, its database mirroring endpoint port: routed clients cannot log in there",
            parsed.port
        ));
    }
    let probes: Vec<_> = topology
        .snapshot
        .probes
        .iter()
        .filter(|p| p.purpose.eq_ignore_ascii_case("routing") && p.subject.eq_ignore_ascii_case(name))
        .collect();
    if !probes.is_empty() && probes.iter().all(|p| !p.ok) {
        return Some(format!("every TCP probe of {name}'s READ_ONLY_ROUTING_URL failed"));
    }
    if !is_readable_secondary(target) {
        return Some(format!("{name} does not allow read-intent connections as a secondary (ALLOW_CONNECTIONS = NO)"));
    }
    // The current primary has no secondary state yet; after a failover it would be a secondary.
    let currently_primary = ag.primary.as_deref().is_some_and(|p| p.eq_ignore_ascii_case(name));
    if currently_primary {
        return None;
    }
    if target.state.is_some_and(|state| state.is("connected_state_desc", "DISCONNECTED")) {
        return Some(format!("{name} is DISCONNECTED from the primary"));
    }
    for db in database_states(topology, ag, target) {
        let sync = db.code("synchronization_state_desc").unwrap_or("");
        if !sync.eq_ignore_ascii_case("SYNCHRONIZING") && !sync.eq_ignore_ascii_case("SYNCHRONIZED") {
            return Some(format!(
                "database {} on {name} is {} (routing needs SYNCHRONIZING or SYNCHRONIZED)",
                database_name(topology, db),
                if sync.is_empty() { "in an unknown state" } else { sync }
            ));
        }
    }
    None
}

/// `dm_hadr_database_replica_states` rows of `target` in `ag`: from the current primary (it sees
/// every replica) when collected, else from the target itself.
fn database_states<'s>(topology: &Topology<'s>, ag: &AgView<'_>, target: &ReplicaView<'_>) -> Vec<&'s Row> {
    let rows_of = |inst: usize| -> Vec<&'s Row> {
        topology
            .database_states(inst, &target.replica_id)
            .into_iter()
            .filter(|r| guid(r, "group_id").is_none_or(|g| g == ag.group_id))
            .collect()
    };
    let from_primary = ag.primary.as_deref().and_then(|p| topology.instance_index(p)).map(rows_of).unwrap_or_default();
    if !from_primary.is_empty() {
        return from_primary;
    }
    target.instance.map(rows_of).unwrap_or_default()
}

/// The AG database a `dm_hadr_database_replica_states` row is about, by `group_database_id` in any
/// instance's `availability_databases_cluster`, else its `database_id`.
fn database_name(topology: &Topology<'_>, db: &Row) -> String {
    let named = db.str("group_database_id").and_then(|id| topology.database_name(id));
    match (named, db.int("database_id")) {
        (Some(name), _) => name.to_string(),
        (None, Some(id)) => format!("id {id}"),
        (None, None) => "?".to_string(),
    }
}
