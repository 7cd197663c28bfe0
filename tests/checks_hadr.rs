mod common;

use agdiag::checks::CheckStatus;
use agdiag::findings::Severity;
use common::*;
use serde_json::json;

#[test]
fn healthy_example_passes_every_hadr_check() {
    let report = run(healthy());
    assert_all_pass(&report, &["hadr.disabled", "hadr.manager_not_running", "hadr.no_cluster"]);
}

#[test]
fn feature_disabled_on_a_secondary_is_an_error_with_a_manual_fix() {
    let mut snap = healthy();
    set_where(&mut snap, "SQL2", "server_properties", |_| true, "IsHadrEnabled", json!(0));
    set_where(&mut snap, "SQL2", "server_properties", |_| true, "HadrManagerStatus", json!(null));
    let report = run(snap);
    let f = single(&report, "hadr.disabled");
    assert_severity(f, Severity::Error);
    assert_eq!(f.instance.as_deref(), Some("SQL2"));
    assert_eq!(f.evidence["server_properties"]["IsHadrEnabled"], json!(0));
    assert!(f.fix.is_none(), "enabling the feature is not T-SQL");
    assert!(f.fix_steps.iter().all(|s| s.manual) && f.fix_steps[0].text.contains("Enable-SqlAlwaysOn -ServerInstance 'SQL2'"));
}

#[test]
fn manager_failed_is_an_error_and_pending_a_warning() {
    let mut snap = healthy();
    set_where(&mut snap, "SQL1", "server_properties", |_| true, "HadrManagerStatus", json!(2));
    set_where(&mut snap, "SQL3", "server_properties", |_| true, "HadrManagerStatus", json!(0));
    let report = run(snap);
    let found = findings_of(&report, "hadr.manager_not_running");
    assert_eq!(found.len(), 2);
    assert_eq!((found[0].instance.as_deref(), found[0].severity), (Some("SQL1"), Severity::Error));
    assert_eq!((found[1].instance.as_deref(), found[1].severity), (Some("SQL3"), Severity::Warning));
}

#[test]
fn enabled_without_a_cluster_row_for_a_wsfc_ag_gives_the_disable_enable_procedure() {
    let mut snap = healthy();
    rows_mut(&mut snap, "SQL3", "dm_hadr_cluster").clear();
    let report = run(snap);
    let f = single(&report, "hadr.no_cluster");
    assert_severity(f, Severity::Error);
    assert_eq!(f.availability_group.as_deref(), Some("AG1"));
    assert!(f.fix_steps[0].text.contains("Disable-SqlAlwaysOn"));
}

#[test]
fn no_cluster_row_is_fine_for_a_clusterless_ag() {
    let mut snap = healthy();
    rows_mut(&mut snap, "SQL3", "dm_hadr_cluster").clear();
    set_everywhere(&mut snap, "availability_groups", |_| true, "cluster_type", json!(2));
    set_everywhere(&mut snap, "availability_groups", |_| true, "cluster_type_desc", json!("none"));
    assert_none(&run(snap), "hadr.no_cluster");
}

#[test]
fn missing_or_denied_evidence_is_not_evaluated_with_the_reason() {
    let mut snap = healthy();
    for s in ["SQL1", "SQL2", "SQL3"] {
        deny_key(&mut snap, s, "dm_hadr_cluster", 300, "VIEW SERVER STATE permission was denied on object 'server', database 'master'.");
    }
    let report = run(snap);
    let result = report.checks.iter().find(|c| c.check == "hadr.no_cluster").unwrap();
    assert_eq!(result.status, CheckStatus::NotEvaluated);
    assert!(result.reason.as_deref().unwrap().contains("error 300"), "{:?}", result.reason);
}
