mod common;

use agdiag::checks::CheckStatus;
use agdiag::findings::Severity;
use common::*;
use serde_json::json;

fn set_version(snap: &mut agdiag::Snapshot, server: &str, version: &str, update_level: Option<&str>) {
    set_where(snap, server, "server_properties", |_| true, "ProductVersion", json!(version));
    set_where(snap, server, "server_properties", |_| true, "ProductUpdateLevel", json!(update_level));
}

/// The healthy example with every replica on the newest build in AgDiag's table (SQL Server 2022 CU26).
fn healthy_at_latest_build() -> agdiag::Snapshot {
    let mut snap = healthy();
    for s in ["SQL1", "SQL2", "SQL3"] {
        set_version(&mut snap, s, "16.0.4265.3", Some("CU26"));
    }
    snap
}

#[test]
fn current_builds_pass_every_build_check() {
    let report = run(healthy_at_latest_build());
    assert_all_pass(&report, &["build.outdated", "build.mixed_versions"]);
}

#[test]
fn bundled_healthy_example_has_no_build_warning_or_error() {
    let report = run(healthy());
    for check in ["build.outdated", "build.mixed_versions"] {
        assert!(findings_of(&report, check).iter().all(|f| f.severity == Severity::Info), "{check}");
    }
    assert_none(&report, "build.mixed_versions");
}

#[test]
fn older_cumulative_update_is_info_naming_the_table_date() {
    let mut snap = healthy_at_latest_build();
    set_version(&mut snap, "SQL2", "16.0.4215.2", Some("CU21"));
    let report = run(snap);
    let f = single(&report, "build.outdated");
    assert_severity(f, Severity::Info);
    assert_eq!((f.instance.as_deref(), f.object.as_deref()), (Some("SQL2"), Some("16.0.4215.2")));
    assert!(f.message.contains("SQL Server 2022 build 16.0.4215.2 (RTM-CU21)"), "{}", f.message);
    assert!(f.message.contains("CU26 (16.0.4265.3, KB5093420") && f.message.contains("as of 2026-08-13; newer updates may exist"), "{}", f.message);
    assert_eq!(f.evidence["latest_known"]["build"], json!("16.0.4265.3"));
    assert_eq!(f.evidence["table_as_of"], json!("2026-08-13"));
    assert!(f.fix.is_none() && f.fix_steps[0].manual && f.fix_steps[0].text.contains("KB5093420"));

    let mixed = single(&report, "build.mixed_versions");
    assert_severity(mixed, Severity::Info);
    assert!(mixed.message.contains("SQL2 16.0.4215.2"), "{}", mixed.message);
}

#[test]
fn rtm_build_is_a_warning_and_a_lower_major_version_mixes_majors() {
    let mut snap = healthy_at_latest_build();
    set_version(&mut snap, "SQL3", "16.0.1000.6", None);
    set_version(&mut snap, "SQL2", "15.0.4345.5", Some("CU24"));
    let report = run(snap);
    let found = findings_of(&report, "build.outdated");
    assert_eq!(found.len(), 2, "{found:#?}");
    let sql2 = found.iter().find(|f| f.instance.as_deref() == Some("SQL2")).unwrap();
    assert_severity(sql2, Severity::Info);
    assert!(sql2.message.contains("SQL Server 2019") && sql2.message.contains("15.0.4430.1") && sql2.message.contains("final cumulative update"), "{}", sql2.message);
    let sql3 = found.iter().find(|f| f.instance.as_deref() == Some("SQL3")).unwrap();
    assert_severity(sql3, Severity::Warning);
    assert!(sql3.message.contains("RTM/GDR branch"), "{}", sql3.message);

    let mixed = single(&report, "build.mixed_versions");
    assert_severity(mixed, Severity::Warning);
    assert_eq!(mixed.instance.as_deref(), Some("SQL1"));
    assert!(mixed.message.contains("rolling upgrade"), "{}", mixed.message);
}

#[test]
fn builds_at_or_after_the_table_are_not_flagged() {
    let mut snap = healthy_at_latest_build();
    set_version(&mut snap, "SQL2", "16.0.4295.3", Some("CU27")); // newer than the table
    set_version(&mut snap, "SQL3", "16.0.4265.3", Some("CU26"));
    let report = run(snap);
    assert_none(&report, "build.outdated");

    let mut snap = healthy_at_latest_build();
    set_version(&mut snap, "SQL1", "15.0.4480.2", Some("CU32")); // CU32 + GDR
    assert_none(&run(snap), "build.outdated");
}

#[test]
fn unknown_major_or_missing_version_is_not_evaluated_on_that_instance() {
    let mut snap = healthy_at_latest_build();
    // A major version older than availability groups (SQL Server 2008 R2 SP3).
    set_version(&mut snap, "SQL3", "10.50.6000.34", Some("SP3"));
    set_where(&mut snap, "SQL2", "server_properties", |_| true, "ProductVersion", json!(null));
    let report = run(snap);
    assert_none(&report, "build.outdated");
    let result = report.checks.iter().find(|c| c.check == "build.outdated").unwrap();
    assert_eq!(result.status, CheckStatus::Pass);
    let reason = result.reason.as_deref().unwrap();
    assert!(reason.contains("SQL3: ProductVersion 10.50.6000.34: major version 10 is not in AgDiag's build table (SQL Server 2012 to 2025"), "{reason}");
    assert!(reason.contains("SQL2: ProductVersion was not collected"), "{reason}");
}

#[test]
fn sql_server_2014_before_its_final_cu_is_told_so_and_that_support_ended() {
    let mut snap = healthy_at_latest_build();
    set_version(&mut snap, "SQL3", "12.0.6024.0", Some("SP3"));
    let report = run(snap);
    let f = single(&report, "build.outdated");
    assert_eq!(f.severity, Severity::Info);
    assert!(f.message.contains("SQL Server 2014 build 12.0.6024.0") && f.message.contains("SP3 CU4 (12.0.6329.1, KB4500181"), "{}", f.message);
    assert!(f.message.contains("extended support ended on 2024-07-09"), "{}", f.message);
}
