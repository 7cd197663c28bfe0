//! The second round of an instance's collection: which availability databases' users to read.
//!
//! `database_principals` of an availability database is read where the database is readable for
//! certain: on its primary (a secondary's database answers error 976 unless it is readable, and a
//! readable secondary shows the primary's users anyway). The names are known only after the first
//! batch, from its `availability_databases_cluster`, `dm_hadr_database_replica_states` and
//! `dm_hadr_availability_replica_states` rows. The AG that is the secondary side of a distributed
//! AG is skipped: its primary (the forwarder) is primary of the local AG but its databases are
//! not readable.

use std::collections::{BTreeMap, HashSet};

use crate::snapshot::{Row, keys};
use crate::topology::guid;

fn rows<'r>(results: &'r BTreeMap<String, Vec<Row>>, key: &str) -> &'r [Row] {
    results.get(key).map_or(&[], Vec::as_slice)
}

fn is_primary_role(state: &Row) -> bool {
    match state.code("role_desc") {
        Some(desc) => desc.eq_ignore_ascii_case("PRIMARY"),
        None => state.int("role") == Some(1),
    }
}

fn is_secondary_role(state: &Row) -> bool {
    match state.code("role_desc") {
        Some(desc) => desc.eq_ignore_ascii_case("SECONDARY"),
        None => state.int("role") == Some(2),
    }
}

/// The names of the availability databases this instance is the readable primary of, in
/// `availability_databases_cluster` order, each once.
pub fn primary_databases(results: &BTreeMap<String, Vec<Row>>) -> Vec<String> {
    let groups = rows(results, keys::AVAILABILITY_GROUPS);
    let distributed: HashSet<String> =
        groups.iter().filter(|g| g.bit("is_distributed") == Some(true)).filter_map(|g| guid(g, "group_id")).collect();
    let states = rows(results, keys::DM_HADR_AVAILABILITY_REPLICA_STATES);
    let local = |s: &&Row| s.bit("is_local") == Some(true);
    // The member AG this instance forwards to, as the secondary side of a distributed AG.
    let forwarded: Vec<&str> = states
        .iter()
        .filter(local)
        .filter(|s| guid(s, "group_id").is_some_and(|g| distributed.contains(&g)) && is_secondary_role(s))
        .filter_map(|s| {
            let id = guid(s, "replica_id")?;
            rows(results, keys::AVAILABILITY_REPLICAS).iter().find(|r| guid(r, "replica_id").as_deref() == Some(id.as_str()))?.str("replica_server_name")
        })
        .collect();
    let excluded: HashSet<String> = groups
        .iter()
        .filter(|g| g.str("name").is_some_and(|n| forwarded.iter().any(|f| f.eq_ignore_ascii_case(n))))
        .filter_map(|g| guid(g, "group_id"))
        .chain(distributed.iter().cloned())
        .collect();
    let primary_groups: HashSet<String> =
        states.iter().filter(local).filter(|s| is_primary_role(s)).filter_map(|s| guid(s, "group_id")).collect();
    let database_states = rows(results, keys::DM_HADR_DATABASE_REPLICA_STATES);
    let mut out: Vec<String> = Vec::new();
    for db in rows(results, keys::AVAILABILITY_DATABASES_CLUSTER) {
        let (Some(group), Some(id), Some(name)) = (guid(db, "group_id"), guid(db, "group_database_id"), db.str("database_name")) else {
            continue;
        };
        if excluded.contains(&group) || out.iter().any(|o| o == name) {
            continue;
        }
        let readable_primary = database_states.iter().filter(local).any(|s| {
            guid(s, "group_database_id").as_deref() == Some(id.as_str())
                // is_primary_replica exists from SQL Server 2014; before, the replica's role says it.
                && s.bit("is_primary_replica").unwrap_or_else(|| primary_groups.contains(&group))
                && s.code("database_state_desc").is_none_or(|d| d.eq_ignore_ascii_case("ONLINE"))
        });
        if readable_primary {
            out.push(name.to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn results(value: Value) -> BTreeMap<String, Vec<Row>> {
        serde_json::from_value(value).expect("results")
    }

    const AG1: &str = "6C1E3B7A-9F2D-4E61-8A55-2D0B7C9E4F10";

    fn instance(is_primary: Value, role: &str) -> BTreeMap<String, Vec<Row>> {
        results(json!({
            "availability_groups": [{"group_id": AG1, "name": "AG1", "is_distributed": false}],
            "availability_databases_cluster": [
                {"group_id": AG1, "group_database_id": "A7E3C1D9-2B4F-4E8A-9C6D-5F1A3B7E9D21", "database_name": "SalesDB"}],
            "dm_hadr_availability_replica_states": [{"group_id": AG1, "replica_id": "R1", "is_local": true, "role": 1, "role_desc": role}],
            "dm_hadr_database_replica_states": [{"group_id": AG1, "group_database_id": "a7e3c1d9-2b4f-4e8a-9c6d-5f1a3b7e9d21",
                "is_local": true, "is_primary_replica": is_primary, "database_state_desc": "ONLINE"}],
        }))
    }

    #[test]
    fn the_primary_reads_its_databases_and_a_secondary_none() {
        assert_eq!(primary_databases(&instance(json!(true), "PRIMARY")), ["SalesDB"]);
        assert!(primary_databases(&instance(json!(false), "SECONDARY")).is_empty());
        // SQL Server 2012: no is_primary_replica column; the local replica's role decides.
        let mut v2012 = instance(json!(true), "PRIMARY");
        v2012.get_mut("dm_hadr_database_replica_states").unwrap()[0].remove("is_primary_replica");
        assert_eq!(primary_databases(&v2012), ["SalesDB"]);
        v2012.get_mut("dm_hadr_availability_replica_states").unwrap()[0].set("role_desc", json!("SECONDARY"));
        assert!(primary_databases(&v2012).is_empty());
    }

    #[test]
    fn the_forwarder_of_a_distributed_ag_reads_nothing() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/topologies/distributed-healthy.json");
        let snapshot = crate::Snapshot::from_json(&std::fs::read_to_string(path).unwrap()).unwrap();
        let by_name = |n: &str| &snapshot.instances.iter().find(|i| i.is_named(n)).unwrap().results;
        assert_eq!(primary_databases(by_name("SQL1")), ["SalesDB"], "the global primary");
        assert!(primary_databases(by_name("SQL3")).is_empty(), "the forwarder");
        assert!(primary_databases(by_name("SQL2")).is_empty());
    }
}
