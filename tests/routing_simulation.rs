mod common;

use agdiag::routing_simulation::{simulate, RoutingPath};
use agdiag::topology::Topology;
use agdiag::Snapshot;
use common::*;
use serde_json::json;

const SQL1_ID: &str = "1B0D5B9E-3C2A-4F7E-9D61-0A8E2C4B7F01";
const SQL3_ID: &str = "3D2F7DB0-5E4C-4192-9F83-2CA04E6D9B03";

fn simulate_snapshot(snap: &Snapshot) -> Vec<RoutingPath> {
    simulate(&Topology::build(snap))
}

fn path<'p>(paths: &'p [RoutingPath], primary: &str) -> &'p RoutingPath {
    paths.iter().find(|p| p.when_primary == primary).unwrap_or_else(|| panic!("no path for {primary}: {paths:#?}"))
}

/// `[(priority, [(replica, usable)])]`, for compact assertions.
fn shape(path: &RoutingPath) -> Vec<(i64, Vec<(&str, bool)>)> {
    path.sets
        .iter()
        .map(|s| (s.routing_priority, s.targets.iter().map(|t| (t.replica.as_str(), t.usable)).collect()))
        .collect()
}

fn reason<'p>(path: &'p RoutingPath, replica: &str) -> &'p str {
    path.sets
        .iter()
        .flat_map(|s| &s.targets)
        .find(|t| t.replica == replica)
        .and_then(|t| t.reason.as_deref())
        .unwrap_or_else(|| panic!("{replica} has no reason in {path:#?}"))
}

fn set_replica(snap: &mut Snapshot, replica: &'static str, column: &str, value: serde_json::Value) {
    set_everywhere(snap, "availability_replicas", is_name("replica_server_name", replica), column, value);
}

#[test]
fn healthy_example_routes_to_both_secondaries_round_robin_then_the_primary() {
    let snap = healthy();
    let paths = simulate_snapshot(&snap);
    // SQL1 (primary) and SQL2 (automatic failover partner); SQL3 is async/manual without a list.
    assert_eq!(paths.iter().map(|p| p.when_primary.as_str()).collect::<Vec<_>>(), ["SQL1", "SQL2"]);
    let sql1 = path(&paths, "SQL1");
    assert_eq!(sql1.availability_group, "AG1");
    assert_eq!(sql1.could_be_primary_because, "current primary");
    assert_eq!(shape(sql1), vec![(1, vec![("SQL2", true), ("SQL3", true)]), (2, vec![("SQL1", false)])]);
    assert!(reason(sql1, "SQL1").contains("is the primary when this list applies"));
    assert_eq!(sql1.note, None);
    let sql2 = path(&paths, "SQL2");
    assert_eq!(sql2.could_be_primary_because, "automatic failover partner");
    // SQL1 is primary today; after a failover to SQL2 it would be a readable secondary.
    assert_eq!(shape(sql2), vec![(1, vec![("SQL1", true), ("SQL3", true)]), (2, vec![("SQL2", false)])]);
    assert_eq!(sql2.sets[0].targets[0].read_only_routing_url.as_deref(), Some("TCP://sql1.contoso.com:1433"));
}

#[test]
fn distinct_priorities_are_ordered_sets() {
    let mut snap = healthy();
    for s in ["SQL1", "SQL2", "SQL3"] {
        set_where(
            &mut snap,
            s,
            "availability_read_only_routing_lists",
            |r| r.str("replica_id") == Some(SQL1_ID) && r.str("read_only_replica_id") == Some(SQL3_ID),
            "routing_priority",
            json!(3),
        );
    }
    let paths = simulate_snapshot(&snap);
    assert_eq!(
        shape(path(&paths, "SQL1")),
        vec![(1, vec![("SQL2", true)]), (2, vec![("SQL1", false)]), (3, vec![("SQL3", true)])]
    );
}

#[test]
fn targets_without_url_unreadable_or_disconnected_are_unusable_with_the_reason() {
    let mut snap = healthy();
    set_replica(&mut snap, "SQL2", "read_only_routing_url", null());
    set_where(&mut snap, "SQL1", "dm_hadr_availability_replica_states", |r| r.str("replica_id") == Some(SQL3_ID), "connected_state_desc", json!("DISCONNECTED"));
    let paths = simulate_snapshot(&snap);
    let sql1 = path(&paths, "SQL1");
    assert_eq!(shape(sql1), vec![(1, vec![("SQL2", false), ("SQL3", false)]), (2, vec![("SQL1", false)])]);
    assert!(reason(sql1, "SQL2").contains("no READ_ONLY_ROUTING_URL"));
    assert!(reason(sql1, "SQL3").contains("DISCONNECTED"));
    assert_eq!(sql1.note.as_deref(), Some("No routing target is usable: ReadOnly connections will land on the primary SQL1."));

    let mut snap = healthy();
    set_replica(&mut snap, "SQL3", "secondary_role_allow_connections_desc", json!("NO"));
    let paths = simulate_snapshot(&snap);
    assert!(reason(path(&paths, "SQL1"), "SQL3").contains("ALLOW_CONNECTIONS = NO"));
    assert_eq!(path(&paths, "SQL1").note, None, "SQL2 still takes reads");
}

#[test]
fn a_database_that_is_not_synchronizing_makes_the_target_unusable() {
    let mut snap = healthy();
    set_where(&mut snap, "SQL1", "dm_hadr_database_replica_states", |r| r.str("replica_id") == Some(SQL3_ID), "synchronization_state_desc", json!("NOT SYNCHRONIZING"));
    let paths = simulate_snapshot(&snap);
    let why = reason(path(&paths, "SQL1"), "SQL3");
    assert!(why.contains("SalesDB") && why.contains("NOT SYNCHRONIZING"), "{why}");
}

#[test]
fn a_url_on_the_mirroring_port_or_failing_every_probe_is_unusable() {
    let mut snap = healthy();
    set_replica(&mut snap, "SQL2", "read_only_routing_url", json!("TCP://sql2.contoso.com:5022"));
    for p in snap.probes.iter_mut().filter(|p| p.purpose == "routing" && p.subject == "SQL3") {
        p.ok = false;
    }
    let paths = simulate_snapshot(&snap);
    let sql1 = path(&paths, "SQL1");
    assert!(reason(sql1, "SQL2").contains("mirroring endpoint port"));
    assert!(reason(sql1, "SQL3").contains("probe"));
}

#[test]
fn a_failover_partner_without_a_list_keeps_read_intent_on_itself() {
    let mut snap = healthy();
    set_replica(&mut snap, "SQL3", "availability_mode_desc", json!("SYNCHRONOUS_COMMIT"));
    set_replica(&mut snap, "SQL3", "failover_mode_desc", json!("AUTOMATIC"));
    let paths = simulate_snapshot(&snap);
    let sql3 = path(&paths, "SQL3");
    assert!(sql3.sets.is_empty());
    assert_eq!(sql3.note.as_deref(), Some("SQL3 has no read-only routing list: ReadOnly connections will land on the primary SQL3."));
}

#[test]
fn report_carries_the_simulation() {
    let report = run(healthy());
    assert_eq!(report.routing_simulation.len(), 2);
    let json: serde_json::Value = serde_json::from_str(&report.findings_json()).unwrap();
    assert_eq!(json["routing_simulation"][0]["when_primary"], json!("SQL1"));
    assert_eq!(json["routing_simulation"][0]["sets"][0]["targets"][1]["replica"], json!("SQL3"));
}

#[test]
fn without_routing_lists_only_primary_candidates_with_notes_remain() {
    let mut snap = healthy();
    for s in ["SQL1", "SQL2", "SQL3"] {
        drop_key(&mut snap, s, "availability_read_only_routing_lists");
    }
    let paths = simulate_snapshot(&snap);
    assert_eq!(paths.len(), 2);
    assert!(paths.iter().all(|p| p.sets.is_empty()));
    assert!(paths[0].note.as_deref().unwrap().contains("routing lists could not be read"), "{:?}", paths[0].note);
}
