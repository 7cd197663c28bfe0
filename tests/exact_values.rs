//! Exact values: `numeric(25,0)` LSNs beyond 2^63 (and beyond u64) travel from the wire through
//! the collector, the snapshot JSON and the reader without rounding, as JSON numbers in every row
//! of the column; readers also accept an exact decimal string.

#[path = "support/tds_server/mod.rs"]
mod tds_server;
#[path = "support/collect_fixture.rs"]
mod fixture;

use std::sync::Arc;

use agdiag::collect::{Request, StaticResolver};
use agdiag::snapshot::{keys, Row, Snapshot};
use fixture::*;
use serde_json::{json, Value};
use tds_server::Scenario;

const BIG: &str = "99000000152000000001"; // > u64::MAX
const ABOVE_I64: &str = "9223372036854775808"; // 2^63

fn lsn_rows(snapshot: &Snapshot) -> &[Row] {
    &snapshot.instances[0].results[keys::AVAILABILITY_DATABASES_CLUSTER]
}

#[test]
fn an_lsn_beyond_2_63_round_trips_exactly_from_collect_to_row() {
    let mut doc = healthy_json();
    let rows = doc["instances"][0]["results"][keys::AVAILABILITY_DATABASES_CLUSTER].as_array_mut().unwrap();
    for (i, lsn) in [BIG, ABOVE_I64].iter().enumerate() {
        let mut row = rows[0].clone();
        row["database_name"] = json!(format!("BigDB{i}"));
        row["group_database_id"] = json!(format!("B7E3C1D9-2B4F-4E8A-9C6D-5F1A3B7E9D2{i}"));
        row["truncation_lsn"] = serde_json::from_str(lsn).unwrap();
        rows.push(row);
    }
    let ag = Ag::start(&Scenario::from_snapshot(&doc));
    let mut request = ag.request(&["SQL1"]);
    request["discover_replicas"] = json!(false);
    let report = agdiag::collect::run_with(Request::from_json(&request.to_string()).unwrap(), Arc::new(StaticResolver::new())).unwrap();

    // Collected: one JSON type (number) for the whole column, every digit kept.
    let collected = lsn_rows(&report.snapshot);
    assert_eq!(collected.len(), 3);
    for row in collected {
        assert!(row.get("truncation_lsn").is_some_and(Value::is_number), "{row:?}");
    }
    let text = report.snapshot.to_json_pretty();
    for lsn in ["41000000152000001", BIG, ABOVE_I64] {
        assert!(text.contains(&format!("\"truncation_lsn\": {lsn}")), "{lsn} not written as an exact number");
    }

    // Read back: the same numbers, exactly.
    let parsed = Snapshot::from_json(&text).unwrap();
    let lsns: Vec<String> = lsn_rows(&parsed).iter().map(|r| r.decimal("truncation_lsn").unwrap()).collect();
    assert_eq!(lsns, ["41000000152000001", BIG, ABOVE_I64]);
    assert_eq!(parsed, report.snapshot);
    // Beyond i64 is no integer `int` can give: None rather than a rounded value.
    assert_eq!(lsn_rows(&parsed)[1].int("truncation_lsn"), None);
    assert_eq!(lsn_rows(&parsed)[0].int("truncation_lsn"), Some(41_000_000_152_000_001));
}

#[test]
fn readers_accept_exact_decimal_strings_and_keep_numbers_exact() {
    let row: Row = serde_json::from_str(&format!(
        r#"{{"a": "{BIG}", "b": {BIG}, "c": 5022.0, "d": "1.50", "e": 1.50, "f": "12x", "g": true, "h": -7}}"#
    ))
    .unwrap();
    assert_eq!(row.decimal("a").as_deref(), Some(BIG));
    assert_eq!(row.decimal("b").as_deref(), Some(BIG));
    assert_eq!(row.decimal("d").as_deref(), Some("1.50"));
    assert_eq!(row.decimal("e").as_deref(), Some("1.50"), "every digit, the scale's zeros too");
    assert_eq!(row.decimal("f"), None);
    assert_eq!(row.decimal("g"), None);
    assert_eq!(row.decimal("h").as_deref(), Some("-7"));
    // Integer and bit readings are unchanged by exact numbers.
    assert_eq!(row.int("c"), Some(5022));
    assert_eq!(row.int("h"), Some(-7));
    assert_eq!(row.bit("g"), Some(true));
    assert_eq!(row.get("b").unwrap().to_string(), BIG);
    // Numbers compare as written: 5022 and json!(5022) are equal.
    let port: Row = serde_json::from_str(r#"{"port": 5022}"#).unwrap();
    assert_eq!(port.get("port"), Some(&json!(5022)));
    // A snapshot written by hand with the LSN as a string reads too.
    let mut doc = healthy_json();
    doc["instances"][0]["results"][keys::AVAILABILITY_DATABASES_CLUSTER][0]["truncation_lsn"] = json!(BIG);
    let snapshot = Snapshot::from_json(&doc.to_string()).unwrap();
    assert_eq!(lsn_rows(&snapshot)[0].decimal("truncation_lsn").as_deref(), Some(BIG));
}
