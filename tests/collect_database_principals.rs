//! The collector's second round: after the batch, each instance reads `sys.database_principals` of
//! the availability databases it is the primary of, one statement per database, appended to
//! master's rows. A failed database is recorded under `database_principals:<db>` and costs no other.

#[path = "support/tds_server/mod.rs"]
mod tds_server;
#[path = "support/collect_fixture.rs"]
mod fixture;

use std::sync::Arc;

use agdiag::collect::{Request, StaticResolver};
use agdiag::snapshot::{Instance, Snapshot};
use fixture::*;
use serde_json::{Value, json};
use tds_server::Scenario;

/// A second availability database on SQL1 whose name needs both escapes (`'` and `]`).
const ODD: &str = "Sales'Archive]2024";

fn with_second_database() -> Value {
    let mut doc = healthy_json();
    for inst in doc["instances"].as_array_mut().unwrap() {
        let results = inst["results"].as_object_mut().unwrap();
        let server = results["server_properties"][0]["ServerName"].as_str().unwrap().to_string();
        let adc = results["availability_databases_cluster"].as_array_mut().unwrap();
        let mut second = adc[0].clone();
        second["database_name"] = json!(ODD);
        second["group_database_id"] = json!("E4B2D6F8-1A3C-4E5F-9B7D-2C4E6A8B0D13");
        adc.push(second);
        let states = results["dm_hadr_database_replica_states"].as_array_mut().unwrap();
        let copies: Vec<Value> = states
            .iter()
            .map(|s| {
                let mut s = s.clone();
                s["database_id"] = json!(7);
                s["group_database_id"] = json!("E4B2D6F8-1A3C-4E5F-9B7D-2C4E6A8B0D13");
                s
            })
            .collect();
        states.extend(copies);
        if server == "SQL1" {
            let users = results["database_principals"].as_array_mut().unwrap();
            let more: Vec<Value> = users
                .iter()
                .filter(|u| u["database_name"] == "SalesDB")
                .map(|u| {
                    let mut u = u.clone();
                    u["database_name"] = json!(ODD);
                    u
                })
                .collect();
            users.extend(more);
        }
    }
    doc
}

fn collect(scenario: &Scenario) -> (Ag, Snapshot) {
    let ag = Ag::start(scenario);
    let request = Request::from_json(&ag.request(&["SQL1"]).to_string()).unwrap();
    let report = agdiag::collect::run_with(request, Arc::new(StaticResolver::new())).unwrap();
    (ag, report.snapshot)
}

fn sql1(snap: &Snapshot) -> &Instance {
    snap.instances.iter().find(|i| i.is_named("SQL1")).expect("SQL1")
}

fn databases_read(inst: &Instance) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    for row in inst.results["database_principals"].iter() {
        let db = row.str("database_name").unwrap().to_string();
        if !seen.contains(&db) {
            seen.push(db);
        }
    }
    seen
}

#[test]
fn every_availability_database_of_the_primary_is_read_with_its_name_escaped() {
    let doc = with_second_database();
    let (ag, snap) = collect(&Scenario::from_snapshot(&doc));
    assert_eq!(databases_read(sql1(&snap)), ["master", "SalesDB", ODD]);
    assert!(sql1(&snap).query_errors.is_empty(), "{:?}", sql1(&snap).query_errors);
    let second = &ag.server("SQL1").batches()[1];
    assert!(
        second.contains("SELECT N'Sales''Archive]2024' AS database_name, * FROM [Sales'Archive]]2024].sys.database_principals;"),
        "{second}"
    );
    // Secondaries read master's only.
    for name in ["SQL2", "SQL3"] {
        let inst = snap.instances.iter().find(|i| i.is_named(name)).unwrap();
        assert_eq!(databases_read(inst), ["master"], "{name}");
        assert_eq!(ag.server(name).batches().len(), 1, "{name}");
    }
    let expected = Snapshot::from_json(&doc.to_string()).unwrap();
    assert_rows_equal(&snap, &expected);
}

#[test]
fn a_database_that_fails_is_recorded_and_the_others_are_kept() {
    let mut scenario = Scenario::from_snapshot(&with_second_database());
    let denied = "The server principal \"agdiag\" is not able to access the database \"SalesDB\" under the current security context.";
    scenario.deny("SQL1", "database_principals:SalesDB", 916, denied);
    let (_ag, snap) = collect(&scenario);
    let inst = sql1(&snap);
    assert_eq!(databases_read(inst), ["master", ODD]);
    let error = &inst.query_errors["database_principals:SalesDB"];
    assert_eq!(error.number, Some(916));
    assert_eq!(error.message, denied);
    assert_eq!(inst.query_errors.len(), 1, "{:?}", inst.query_errors);
    // The analysis says why the users of SalesDB could not be compared.
    let report = agdiag::analyze(snap, &agdiag::AnalyzeOptions::default());
    let check = report.checks.iter().find(|c| c.check == "accounts.login_missing_for_user").unwrap();
    assert!(
        check.not_evaluated_on.iter().any(|n| n.reason.contains("SalesDB: error 916")),
        "{:?}",
        check.not_evaluated_on
    );
}

#[test]
fn two_failed_databases_each_get_their_own_error() {
    let mut scenario = Scenario::from_snapshot(&with_second_database());
    scenario.deny("SQL1", "database_principals:SalesDB", 916, "SalesDB denied");
    scenario.deny("SQL1", &format!("database_principals:{ODD}"), 976, "The target database, 'x', is participating in an availability group and is currently not accessible for queries.");
    let (ag, snap) = collect(&scenario);
    let inst = sql1(&snap);
    assert_eq!(databases_read(inst), ["master"]);
    assert_eq!(inst.query_errors["database_principals:SalesDB"].number, Some(916));
    assert_eq!(inst.query_errors[&format!("database_principals:{ODD}")].number, Some(976));
    // The second failure's error was asked for alone: batch, second round, one more.
    assert_eq!(ag.server("SQL1").batches().len(), 3);
}

#[test]
fn without_masters_rows_the_databases_are_not_read() {
    let mut scenario = Scenario::from_snapshot(&healthy_json());
    scenario.deny("SQL1", "database_principals", 229, "The SELECT permission was denied on the object 'database_principals', database 'mssqlsystemresource', schema 'sys'.");
    let (ag, snap) = collect(&scenario);
    let inst = sql1(&snap);
    assert!(!inst.results.contains_key("database_principals"));
    assert_eq!(inst.query_errors["database_principals"].number, Some(229));
    assert!(ag.server("SQL1").batches().iter().all(|b| !b.contains("[SalesDB].sys.database_principals")));
}
