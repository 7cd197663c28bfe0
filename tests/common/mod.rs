//! Fixtures for check tests: the bundled healthy 3-replica AG (SQL1 primary, SQL2 sync, SQL3
//! async; domain CONTOSO; endpoint Hadr_endpoint on 5022; listener AG1-LISTENER 10.0.0.50,1433),
//! mutated one realistic change at a time.
#![allow(dead_code)]

pub mod history;

use agdiag::findings::{Finding, Severity};
use agdiag::snapshot::Row;
use agdiag::{analyze, AnalyzeOptions, Report, Snapshot};
use serde_json::{json, Value};

pub const HEALTHY: &str = include_str!("../../examples/snapshots/healthy-3-replica.json");
pub const BROKEN: &str = include_str!("../../examples/snapshots/broken-3-replica.json");

pub fn healthy() -> Snapshot {
    Snapshot::from_json(HEALTHY).expect("healthy example parses")
}

/// The error and warning findings, one line each: what a healthy topology must not have.
pub fn disputable(report: &Report) -> Vec<String> {
    report
        .findings
        .iter()
        .filter(|f| f.severity != Severity::Info)
        .map(|f| format!("{} {}: {}", f.severity.as_str(), f.id, f.message))
        .collect()
}

pub fn run(snapshot: Snapshot) -> Report {
    analyze(snapshot, &AnalyzeOptions { generated_at: Some("2026-11-22T10:20:00Z".into()), ..Default::default() })
}

/// The findings of one check.
pub fn findings_of<'r>(report: &'r Report, check: &str) -> Vec<&'r Finding> {
    report.findings.iter().filter(|f| f.check == check).collect()
}

/// The only finding of `check`, failing the test with the report's findings if there is not exactly one.
pub fn single<'r>(report: &'r Report, check: &str) -> &'r Finding {
    let found = findings_of(report, check);
    assert_eq!(found.len(), 1, "expected one {check} finding, got: {:#?}", found);
    found[0]
}

pub fn assert_none(report: &Report, check: &str) {
    let found = findings_of(report, check);
    assert!(found.is_empty(), "expected no {check} finding, got: {:#?}", found);
}

pub fn status_of(report: &Report, check: &str) -> agdiag::checks::CheckStatus {
    report.checks.iter().find(|c| c.check == check).unwrap_or_else(|| panic!("{check} did not run")).status
}

/// Where a check could not look, as (subject, reason) pairs.
pub fn not_evaluated_on(report: &Report, check: &str) -> Vec<(String, String)> {
    let result = report.checks.iter().find(|c| c.check == check).unwrap_or_else(|| panic!("{check} did not run"));
    result.not_evaluated_on.iter().map(|n| (n.subject.clone(), n.reason.clone())).collect()
}

/// Each of `checks` ran, passed everywhere it looked, looked everywhere, and found nothing.
pub fn assert_all_pass(report: &Report, checks: &[&str]) {
    for check in checks {
        assert_none(report, check);
        assert_eq!(status_of(report, check), agdiag::checks::CheckStatus::Pass, "{check}");
        assert!(not_evaluated_on(report, check).is_empty(), "{check}: {:?}", not_evaluated_on(report, check));
    }
}

pub fn assert_severity(f: &Finding, s: Severity) {
    assert_eq!(f.severity, s, "severity of {}", f.id);
}

/// Mutable access to an instance's rows of `key`, by server name (`SQL1` ...).
pub fn rows_mut<'s>(snap: &'s mut Snapshot, server: &str, key: &str) -> &'s mut Vec<Row> {
    let inst = snap
        .instances
        .iter_mut()
        .find(|i| i.is_named(server))
        .unwrap_or_else(|| panic!("no instance {server}"));
    inst.results.entry(key.to_string()).or_default()
}

/// Sets `column` = `value` on every row of `key` on `server` where `filter` holds.
pub fn set_where(snap: &mut Snapshot, server: &str, key: &str, filter: impl Fn(&Row) -> bool, column: &str, value: Value) {
    let mut hit = 0;
    for row in rows_mut(snap, server, key).iter_mut() {
        if filter(row) {
            row.set(column, value.clone());
            hit += 1;
        }
    }
    assert!(hit > 0, "set_where({server}, {key}, {column}) matched no row");
}

/// Sets a column on every row of `key` on every instance where `filter` holds.
pub fn set_everywhere(snap: &mut Snapshot, key: &str, filter: impl Fn(&Row) -> bool, column: &str, value: Value) {
    for inst in snap.instances.iter_mut() {
        if let Some(rows) = inst.results.get_mut(key) {
            for row in rows.iter_mut().filter(|r| filter(r)) {
                row.set(column, value.clone());
            }
        }
    }
}

pub fn remove_where(snap: &mut Snapshot, server: &str, key: &str, filter: impl Fn(&Row) -> bool) {
    rows_mut(snap, server, key).retain(|r| !filter(r));
}

pub fn push_row(snap: &mut Snapshot, server: &str, key: &str, row: Value) {
    let Value::Object(map) = row else { panic!("row must be an object") };
    rows_mut(snap, server, key).push(Row::from(map));
}

/// Removes a key (= "not collected") from an instance.
pub fn drop_key(snap: &mut Snapshot, server: &str, key: &str) {
    let inst = snap.instances.iter_mut().find(|i| i.is_named(server)).unwrap();
    inst.results.remove(key);
}

/// Replaces a key with a query error (e.g. 300, VIEW SERVER STATE denied).
pub fn deny_key(snap: &mut Snapshot, server: &str, key: &str, number: i64, message: &str) {
    let inst = snap.instances.iter_mut().find(|i| i.is_named(server)).unwrap();
    inst.results.remove(key);
    inst.query_errors.insert(
        key.to_string(),
        agdiag::snapshot::ServerError { number: Some(number), state: Some(1), message: message.into() },
    );
}

/// Marks an instance as not connected (login timeout), removing its rows.
pub fn disconnect(snap: &mut Snapshot, server: &str) {
    let inst = snap.instances.iter_mut().find(|i| i.is_named(server)).unwrap();
    inst.connected = false;
    inst.results.clear();
    inst.connect_error = Some(agdiag::snapshot::ServerError {
        number: None,
        state: None,
        message: "connect to sql3.contoso.com:1433 timed out after 15 s".into(),
    });
}

pub fn is_name(column: &'static str, value: &'static str) -> impl Fn(&Row) -> bool {
    move |r: &Row| r.str(column).is_some_and(|v| v.eq_ignore_ascii_case(value))
}

pub fn evidence_str(f: &Finding) -> String {
    serde_json::to_string(&f.evidence).unwrap()
}

pub fn j(v: Value) -> Value {
    v
}

pub fn null() -> Value {
    json!(null)
}
