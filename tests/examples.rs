//! The bundled example snapshots end to end: the healthy AG passes every check, the broken AG gives
//! exactly the findings of its story, and its fix script is byte-for-byte the reviewed golden file
//! (`examples/snapshots/broken-3-replica.fix.sql`; regenerate with `AGDIAG_UPDATE_GOLDEN=1`).

mod common;

use agdiag::checks::CheckStatus;
use agdiag::fix::ScriptOptions;
use common::{healthy, run, BROKEN};

#[test]
fn healthy_example_passes_every_check() {
    let report = run(healthy());
    assert!(report.findings.is_empty(), "{:#?}", report.findings);
    for check in &report.checks {
        assert_eq!(check.status, CheckStatus::Pass, "{} on the healthy example: {:?}", check.check, check.reason);
    }
    assert_eq!(report.checks.len(), agdiag::checks::catalog().len());
}

/// The broken AG's story: SQL3 runs as NT Service\MSSQLSERVER (it presents CONTOSO\SQL3$, which has
/// no login on SQL1/SQL2), its endpoint_url names port 5023 while it listens on 5022, it is on the
/// RTM build and disconnected; SQL2's endpoint is owned by a person and its session timeout is 5 s;
/// routing URLs are missing (SQL3) or point at the mirroring port (SQL2); the listener name resolves
/// to an old address (a snapshot from before `resolved` was recorded: judged on the probe's address).
const BROKEN_FINDINGS: &[&str] = &[
    "accounts.login_missing@SQL1/CONTOSO\\SQL3$",
    "accounts.login_missing@SQL2/CONTOSO\\SQL3$",
    "endpoint.port_mismatch@SQL3/Hadr_endpoint",
    "network.unreachable@SQL3/sql3.contoso.com:5023",
    "listener.dns_records@SQL1/AG1-LISTENER",
    "routing.url_mirroring_port@SQL2/AG1",
    "routing.url_missing@SQL3/AG1",
    "errorlog.connect_permission@SQL1/CONTOSO\\SQL3$",
    "endpoint.owner@SQL2/Hadr_endpoint",
    "session.replica_disconnected@SQL1/SQL3",
    "session.timeout_too_short@SQL1/SQL2",
    "errorlog.ag_errors@SQL3/35201",
    "errorlog.ag_errors@SQL3/35250",
    "build.outdated@SQL3/16.0.1000.6",
    "accounts.mixed_service_accounts@AG1/AG1",
    "build.mixed_versions@SQL1/AG1",
];

fn broken_report() -> agdiag::Report {
    run(agdiag::Snapshot::from_json(BROKEN).expect("broken example parses"))
}

#[test]
fn broken_example_gives_exactly_its_story() {
    let report = broken_report();
    let ids: Vec<&str> = report.findings.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(ids, BROKEN_FINDINGS);
    for f in &report.findings {
        assert!(!f.message.is_empty() && !f.remediation.is_empty(), "{} lacks a message or remediation", f.id);
        assert!(f.evidence.as_object().is_some_and(|e| !e.is_empty()), "{} has no evidence", f.id);
    }
}

#[test]
fn broken_example_fix_script_matches_the_reviewed_golden_file() {
    let script = broken_report().fix_script(&ScriptOptions::default());
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/snapshots/broken-3-replica.fix.sql");
    if std::env::var_os("AGDIAG_UPDATE_GOLDEN").is_some() {
        std::fs::write(path, &script).expect("write the golden script");
    }
    let golden = std::fs::read_to_string(path).expect("golden script exists");
    assert_eq!(script, golden, "the fix script changed; review it and regenerate with AGDIAG_UPDATE_GOLDEN=1");
    // The same input gives the same bytes.
    assert_eq!(script, broken_report().fix_script(&ScriptOptions::default()));
}

/// The failover example's story: the healthy AG, but last night SQL1's lease with the cluster
/// expired and the cluster failed AG1 over to SQL2 (automatic), a DBA failed it back at 07:30
/// (planned); SQL1's connection to SQL3 timed out four times that week; SQL3's AlwaysOn_health
/// session does not start with the server; DB_FAILOVER is ON.
const FAILOVER_FINDINGS: &[&str] = &[
    "history.failover@SQL2/AG1 2026-11-21T02:14:09.614Z",
    "history.health_session@SQL3/AlwaysOn_health",
    "history.repeated_disconnects@SQL1/SQL3",
    "history.failover@SQL1/AG1 2026-11-21T07:30:04.466Z",
    "failover.policy@SQL1/AG1",
];

#[test]
fn failover_example_gives_exactly_its_story() {
    let report = run(agdiag::Snapshot::from_json(include_str!("../examples/snapshots/failover-3-replica.json")).unwrap());
    let ids: Vec<&str> = report.findings.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(ids, FAILOVER_FINDINGS);
    assert!(report.checks.iter().all(|c| c.status != CheckStatus::NotEvaluated), "{:?}", report.checks);
    assert_eq!(report.timeline.failovers.len(), 2);
}
