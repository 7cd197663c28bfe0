//! One merged picture of each availability group, derived from the rows every instance returned.
//!
//! Several instances report the same AG. The primary sees every replica (and every replica's
//! state); a secondary sees its own state only, and without quorum only its own replica row. So the
//! authoritative rows for an AG come from its primary when that primary was collected, otherwise
//! from the instance that reported the most replicas.

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::snapshot::{keys, Instance, Row, Snapshot};

#[derive(Debug)]
pub struct Topology<'s> {
    pub ags: Vec<AgView<'s>>,
    /// The snapshot the topology was built from (for views the merged picture does not carry, such
    /// as routing lists and database states).
    pub snapshot: &'s Snapshot,
    /// Connected instances by `ServerName` and `@@SERVERNAME`, lowercase (the first one wins).
    by_name: HashMap<String, usize>,
    /// Per instance: its first `dm_hadr_availability_replica_states` row of each `replica_id`.
    replica_states: Vec<HashMap<String, &'s Row>>,
    /// Index into `ags` by `group_id` (lowercase).
    ag_index: HashMap<String, usize>,
    /// Per instance: indexes of `dm_hadr_database_replica_states` rows by `replica_id` (built on
    /// first use; indexes, not references, so that `Topology<'s>` stays covariant in `'s`).
    database_states: OnceLock<Vec<HashMap<String, Vec<usize>>>>,
    /// (instance, row) of the `availability_databases_cluster` row of each `group_database_id`.
    database_names: OnceLock<HashMap<String, (usize, usize)>>,
}

#[derive(Debug)]
pub struct AgView<'s> {
    /// `group_id`, lowercase.
    pub group_id: String,
    pub name: &'s str,
    /// The `availability_groups` row from `source`.
    pub row: &'s Row,
    /// Index into `snapshot.instances` of the instance whose rows describe this AG.
    pub source: usize,
    /// `replica_server_name` of the primary, when any instance knows it.
    pub primary: Option<String>,
    pub replicas: Vec<ReplicaView<'s>>,
    /// Index into `replicas` by `replica_id` (lowercase) and by server name (lowercase).
    by_id: HashMap<String, usize>,
    by_server: HashMap<String, usize>,
}

#[derive(Debug)]
pub struct ReplicaView<'s> {
    /// `replica_id`, lowercase.
    pub replica_id: String,
    pub server_name: &'s str,
    /// The `availability_replicas` row from the AG's source instance.
    pub row: &'s Row,
    /// Index into `snapshot.instances` of the instance that is this replica, when it was collected.
    pub instance: Option<usize>,
    /// This replica's `dm_hadr_availability_replica_states` row: from the primary when collected
    /// (it sees all replicas), else the replica's own local row.
    pub state: Option<&'s Row>,
}

/// Normalizes a uniqueidentifier for comparison (SQL Server prints them uppercase, FOR JSON too).
pub fn guid(row: &Row, column: &str) -> Option<String> {
    row.str(column).map(|s| s.trim().trim_matches(['{', '}']).to_ascii_lowercase())
}

/// One instance's rows, indexed once: replica rows by group, replica states by replica id.
struct InstanceIndex<'s> {
    replicas_by_group: HashMap<String, Vec<&'s Row>>,
    state_by_replica: HashMap<String, &'s Row>,
}

impl<'s> InstanceIndex<'s> {
    fn of(inst: &'s Instance) -> Self {
        let mut replicas_by_group: HashMap<String, Vec<&'s Row>> = HashMap::new();
        for r in inst.rows_or_empty(keys::AVAILABILITY_REPLICAS) {
            if let Some(g) = guid(r, "group_id") {
                replicas_by_group.entry(g).or_default().push(r);
            }
        }
        let mut state_by_replica = HashMap::new();
        for r in inst.rows_or_empty(keys::DM_HADR_AVAILABILITY_REPLICA_STATES) {
            if let Some(id) = guid(r, "replica_id") {
                state_by_replica.entry(id).or_insert(r);
            }
        }
        InstanceIndex { replicas_by_group, state_by_replica }
    }

    fn replicas(&self, group_id: &str) -> &[&'s Row] {
        self.replicas_by_group.get(group_id).map_or(&[], Vec::as_slice)
    }
}

impl<'s> Topology<'s> {
    pub fn build(snapshot: &'s Snapshot) -> Topology<'s> {
        let mut by_name: HashMap<String, usize> = HashMap::new();
        for (index, inst) in snapshot.instances.iter().enumerate() {
            if !inst.connected {
                continue;
            }
            // `is_named`: ServerName or @@SERVERNAME, or the target when no properties were read.
            let names: Vec<&str> = match inst.properties() {
                Some(p) => ["ServerName", "@@SERVERNAME"].iter().filter_map(|c| p.str(c)).collect(),
                None => vec![inst.target.as_str()],
            };
            for name in names {
                by_name.entry(name.to_lowercase()).or_insert(index);
            }
        }
        let index: Vec<InstanceIndex<'s>> = snapshot.instances.iter().map(InstanceIndex::of).collect();
        let primaries = primary_names(snapshot);

        let mut ags: Vec<AgView<'s>> = Vec::new();
        // Every (instance, AG row) pair, grouped by AG, so the best source can be chosen per group.
        let mut seen: HashMap<String, Vec<(usize, &'s Row)>> = HashMap::new();
        for (i, inst) in snapshot.instances.iter().enumerate() {
            for row in inst.rows_or_empty(keys::AVAILABILITY_GROUPS) {
                if let Some(id) = guid(row, "group_id") {
                    seen.entry(id).or_default().push((i, row));
                }
            }
        }
        let mut group_ids: Vec<String> = seen.keys().cloned().collect();
        group_ids.sort();

        for group_id in group_ids {
            let candidates = &seen[&group_id];
            let primary = primaries.get(&group_id).cloned();
            let source = candidates
                .iter()
                .find(|(i, _)| primary.as_deref().is_some_and(|p| snapshot.instances[*i].is_named(p)))
                .or_else(|| {
                    candidates.iter().max_by_key(|(i, _)| {
                        // Most replica rows wins; ties go to the earliest instance (max_by_key keeps
                        // the last maximum, so compare on reversed index).
                        (index[*i].replicas(&group_id).len(), usize::MAX - *i)
                    })
                })
                .copied();
            let Some((source, row)) = source else { continue };
            let primary_instance = primary.as_deref().and_then(|p| by_name.get(&p.to_lowercase()).copied());
            let replicas: Vec<ReplicaView<'s>> = index[source]
                .replicas(&group_id)
                .iter()
                .filter_map(|r| {
                    let replica_id = guid(r, "replica_id")?;
                    let server_name = r.str("replica_server_name")?;
                    let instance = by_name.get(&server_name.to_lowercase()).copied();
                    let find = |i: usize| index[i].state_by_replica.get(&replica_id).copied();
                    let state = primary_instance.and_then(find).or_else(|| instance.and_then(find));
                    Some(ReplicaView { replica_id, server_name, row: r, instance, state })
                })
                .collect();
            let mut by_id = HashMap::with_capacity(replicas.len());
            let mut by_server = HashMap::with_capacity(replicas.len());
            for (i, r) in replicas.iter().enumerate() {
                by_id.entry(r.replica_id.clone()).or_insert(i);
                by_server.entry(r.server_name.to_lowercase()).or_insert(i);
            }
            ags.push(AgView {
                group_id,
                name: row.str("name").unwrap_or(""),
                row,
                source,
                primary,
                replicas,
                by_id,
                by_server,
            });
        }
        ags.sort_by_key(|a| a.name.to_lowercase());
        let ag_index = ags.iter().enumerate().map(|(i, ag)| (ag.group_id.clone(), i)).collect();
        let replica_states = index.into_iter().map(|i| i.state_by_replica).collect();
        Topology {
            ags,
            snapshot,
            by_name,
            replica_states,
            ag_index,
            database_states: OnceLock::new(),
            database_names: OnceLock::new(),
        }
    }

    /// The AG with `group_id` (any case).
    pub fn ag(&self, group_id: &str) -> Option<&AgView<'s>> {
        let i = match self.ag_index.get(group_id) {
            Some(&i) => i,
            None => *self.ag_index.get(&group_id.trim().trim_matches(['{', '}']).to_ascii_lowercase())?,
        };
        Some(&self.ags[i])
    }

    /// The first `dm_hadr_availability_replica_states` row instance `instance` reported about
    /// replica `replica_id` (lowercase).
    pub fn replica_state(&self, instance: usize, replica_id: &str) -> Option<&'s Row> {
        self.replica_states.get(instance)?.get(replica_id).copied()
    }

    /// The `dm_hadr_database_replica_states` rows that instance `instance` (an index into
    /// `snapshot.instances`) reported about replica `replica_id` (lowercase), in snapshot order.
    pub fn database_states(&self, instance: usize, replica_id: &str) -> Vec<&'s Row> {
        let index = self.database_states.get_or_init(|| {
            self.snapshot
                .instances
                .iter()
                .map(|inst| {
                    let mut by_replica: HashMap<String, Vec<usize>> = HashMap::new();
                    for (i, r) in inst.rows_or_empty(keys::DM_HADR_DATABASE_REPLICA_STATES).iter().enumerate() {
                        if let Some(id) = guid(r, "replica_id") {
                            by_replica.entry(id).or_default().push(i);
                        }
                    }
                    by_replica
                })
                .collect()
        });
        let snapshot: &'s Snapshot = self.snapshot;
        let Some(rows) = index.get(instance).and_then(|m| m.get(replica_id)) else { return Vec::new() };
        let all = snapshot.instances[instance].rows_or_empty(keys::DM_HADR_DATABASE_REPLICA_STATES);
        rows.iter().map(|&i| &all[i]).collect()
    }

    /// The `database_name` of an availability database, by `group_database_id` (any case), from
    /// the first instance whose `availability_databases_cluster` has it.
    pub fn database_name(&self, group_database_id: &str) -> Option<&'s str> {
        let index = self.database_names.get_or_init(|| {
            let mut names = HashMap::new();
            for (n, inst) in self.snapshot.instances.iter().enumerate() {
                for (i, r) in inst.rows_or_empty(keys::AVAILABILITY_DATABASES_CLUSTER).iter().enumerate() {
                    if let Some(id) = guid(r, "group_database_id")
                        && r.str("database_name").is_some()
                    {
                        names.entry(id).or_insert((n, i));
                    }
                }
            }
            names
        });
        let id = group_database_id.trim().trim_matches(['{', '}']).to_ascii_lowercase();
        let &(n, i) = index.get(&id)?;
        let snapshot: &'s Snapshot = self.snapshot;
        snapshot.instances[n].rows_or_empty(keys::AVAILABILITY_DATABASES_CLUSTER)[i].str("database_name")
    }

    /// Index into `snapshot.instances` of the connected instance that is `server_name`
    /// (case-insensitive), without scanning the instances.
    pub fn instance_index(&self, server_name: &str) -> Option<usize> {
        self.by_name.get(&server_name.to_lowercase()).copied()
    }

    /// The connected instance that is `server_name`, if collected.
    pub fn instance_named(&self, server_name: &str) -> Option<&'s Instance> {
        self.instance_index(server_name).map(|i| &self.snapshot.instances[i])
    }
}

/// Each group's primary server name: from `dm_hadr_availability_group_states.primary_replica` on
/// the first instance that has it, else from an instance whose local replica state says PRIMARY.
fn primary_names(snapshot: &Snapshot) -> HashMap<String, String> {
    let mut out: HashMap<String, String> = HashMap::new();
    for inst in &snapshot.instances {
        for row in inst.rows_or_empty(keys::DM_HADR_AVAILABILITY_GROUP_STATES) {
            if let (Some(g), Some(p)) = (guid(row, "group_id"), row.str("primary_replica")) {
                out.entry(g).or_insert_with(|| p.to_string());
            }
        }
    }
    for inst in &snapshot.instances {
        for row in inst.rows_or_empty(keys::DM_HADR_AVAILABILITY_REPLICA_STATES) {
            if row.bit("is_local") == Some(true)
                && row.is("role_desc", "PRIMARY")
                && let Some(g) = guid(row, "group_id")
                && let Some(name) = inst.server_name()
            {
                out.entry(g).or_insert_with(|| name.to_string());
            }
        }
    }
    out
}

impl<'s> Topology<'s> {
    /// True when `group_id` (any case, braces or not) is a distributed availability group that any
    /// instance reported.
    pub fn is_distributed_group(&self, group_id: &str) -> bool {
        let id = group_id.trim().trim_matches(['{', '}']).to_ascii_lowercase();
        self.ags.iter().any(|ag| ag.group_id == id && ag.is_distributed())
    }
}

impl<'s> AgView<'s> {
    /// The replica with `replica_id` (lowercase, as [`guid`] normalizes it; other spellings are
    /// normalized too).
    pub fn replica_by_id(&self, replica_id: &str) -> Option<&ReplicaView<'s>> {
        self.replica_index(replica_id).map(|i| &self.replicas[i])
    }

    /// Index into `replicas` of the replica with `replica_id`.
    pub fn replica_index(&self, replica_id: &str) -> Option<usize> {
        match self.by_id.get(replica_id) {
            Some(&i) => Some(i),
            None => {
                let id = replica_id.trim().trim_matches(['{', '}']).to_ascii_lowercase();
                self.by_id.get(&id).copied()
            }
        }
    }

    pub fn replica_named(&self, server_name: &str) -> Option<&ReplicaView<'s>> {
        self.by_server.get(&server_name.to_lowercase()).map(|&i| &self.replicas[i])
    }

    pub fn primary_replica(&self) -> Option<&ReplicaView<'s>> {
        self.primary.as_deref().and_then(|p| self.replica_named(p))
    }

    /// True for a distributed availability group (`is_distributed = 1`): its "replicas" are the
    /// member availability groups, their `endpoint_url` is each member's LISTENER_URL.
    pub fn is_distributed(&self) -> bool {
        self.row.bit("is_distributed") == Some(true)
    }

    /// True when the AG depends on a Windows Server Failover Cluster (`cluster_type` 0, or absent
    /// before SQL Server 2017, where WSFC was the only kind).
    pub fn is_wsfc(&self) -> bool {
        crate::snapshot::domains::is_wsfc_ag(self.row)
    }
}
