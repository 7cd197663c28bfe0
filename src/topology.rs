//! One merged picture of each availability group, derived from the rows every instance returned.
//!
//! Several instances report the same AG. The primary sees every replica (and every replica's
//! state); a secondary sees its own state only, and without quorum only its own replica row. So the
//! authoritative rows for an AG come from its primary when that primary was collected, otherwise
//! from the instance that reported the most replicas.

use crate::snapshot::{keys, Instance, Row, Snapshot};

#[derive(Debug)]
pub struct Topology<'s> {
    pub ags: Vec<AgView<'s>>,
    /// The snapshot the topology was built from (for views the merged picture does not carry, such
    /// as routing lists and database states).
    pub snapshot: &'s Snapshot,
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

impl<'s> Topology<'s> {
    pub fn build(snapshot: &'s Snapshot) -> Topology<'s> {
        let mut ags: Vec<AgView<'s>> = Vec::new();
        // Every (instance, AG row) pair, so the best source can be chosen per group.
        let mut seen: Vec<(String, usize, &'s Row)> = Vec::new();
        for (index, inst) in snapshot.instances.iter().enumerate() {
            for row in inst.rows_or_empty(keys::AVAILABILITY_GROUPS) {
                if let Some(id) = guid(row, "group_id") {
                    seen.push((id, index, row));
                }
            }
        }
        let mut group_ids: Vec<String> = seen.iter().map(|(id, _, _)| id.clone()).collect();
        group_ids.sort();
        group_ids.dedup();

        for group_id in group_ids {
            let candidates: Vec<(usize, &'s Row)> =
                seen.iter().filter(|(id, _, _)| *id == group_id).map(|(_, i, r)| (*i, *r)).collect();
            let primary = primary_name(snapshot, &group_id);
            let source = candidates
                .iter()
                .find(|(i, _)| primary.as_deref().is_some_and(|p| snapshot.instances[*i].is_named(p)))
                .or_else(|| {
                    candidates.iter().max_by_key(|(i, _)| {
                        // Most replica rows wins; ties go to the earliest instance (max_by_key keeps
                        // the last maximum, so compare on reversed index).
                        (replica_rows(&snapshot.instances[*i], &group_id).count(), usize::MAX - *i)
                    })
                })
                .copied();
            let Some((source, row)) = source else { continue };
            let source_inst = &snapshot.instances[source];
            let replicas = replica_rows(source_inst, &group_id)
                .filter_map(|r| {
                    let replica_id = guid(r, "replica_id")?;
                    let server_name = r.str("replica_server_name")?;
                    let instance = snapshot.instances.iter().position(|i| i.connected && i.is_named(server_name));
                    let state = replica_state(snapshot, primary.as_deref(), &replica_id, instance);
                    Some(ReplicaView { replica_id, server_name, row: r, instance, state })
                })
                .collect();
            ags.push(AgView {
                group_id,
                name: row.str("name").unwrap_or(""),
                row,
                source,
                primary,
                replicas,
            });
        }
        ags.sort_by_key(|a| a.name.to_lowercase());
        Topology { ags, snapshot }
    }
}

fn replica_rows<'s>(inst: &'s Instance, group_id: &str) -> impl Iterator<Item = &'s Row> {
    inst.rows_or_empty(keys::AVAILABILITY_REPLICAS)
        .iter()
        .filter(move |r| guid(r, "group_id").as_deref() == Some(group_id))
}

/// The primary's server name: from `dm_hadr_availability_group_states.primary_replica` on any
/// instance, else from an instance whose local replica state says PRIMARY.
fn primary_name(snapshot: &Snapshot, group_id: &str) -> Option<String> {
    for inst in &snapshot.instances {
        for row in inst.rows_or_empty(keys::DM_HADR_AVAILABILITY_GROUP_STATES) {
            if guid(row, "group_id").as_deref() == Some(group_id)
                && let Some(p) = row.str("primary_replica")
            {
                return Some(p.to_string());
            }
        }
    }
    for inst in &snapshot.instances {
        for row in inst.rows_or_empty(keys::DM_HADR_AVAILABILITY_REPLICA_STATES) {
            if guid(row, "group_id").as_deref() == Some(group_id)
                && row.bit("is_local") == Some(true)
                && row.is("role_desc", "PRIMARY")
            {
                return inst.server_name().map(str::to_string);
            }
        }
    }
    None
}

fn replica_state<'s>(
    snapshot: &'s Snapshot,
    primary: Option<&str>,
    replica_id: &str,
    own_instance: Option<usize>,
) -> Option<&'s Row> {
    let find = |inst: &'s Instance| {
        inst.rows_or_empty(keys::DM_HADR_AVAILABILITY_REPLICA_STATES)
            .iter()
            .find(|r| guid(r, "replica_id").as_deref() == Some(replica_id))
    };
    let from_primary = primary.and_then(|p| {
        snapshot.instances.iter().find(|i| i.connected && i.is_named(p)).and_then(find)
    });
    from_primary.or_else(|| own_instance.and_then(|i| find(&snapshot.instances[i])))
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
    pub fn replica_by_id(&self, replica_id: &str) -> Option<&ReplicaView<'s>> {
        self.replicas.iter().find(|r| r.replica_id == replica_id)
    }

    pub fn replica_named(&self, server_name: &str) -> Option<&ReplicaView<'s>> {
        self.replicas.iter().find(|r| r.server_name.eq_ignore_ascii_case(server_name))
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
        match self.row.code("cluster_type_desc") {
            Some(desc) => desc.eq_ignore_ascii_case("wsfc"),
            None => self.row.int("cluster_type").unwrap_or(0) == 0,
        }
    }
}
