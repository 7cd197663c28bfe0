//! accounts.login_sid_mismatch / accounts.login_missing_for_user: the users of SalesDB (read on the
//! primary SQL1: app_sales mapped to SQL login app_sales, CONTOSO\SQL-DBAs to the Windows group
//! login) need their logins on SQL2 and SQL3, with the same SID for SQL logins.

mod common;

use agdiag::Snapshot;
use agdiag::checks::CheckStatus;
use agdiag::findings::Severity;
use common::*;
use serde_json::json;

const APP_SALES_SID: &str = "0x6A1D8E3B9F2C4B7A8E5D1C0B9A8F7E6D";

fn fixture(name: &str) -> Snapshot {
    let path = format!("{}/tests/fixtures/topologies/{name}", env!("CARGO_MANIFEST_DIR"));
    Snapshot::from_json(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

#[test]
fn the_healthy_example_has_the_same_logins_everywhere() {
    let report = run(healthy());
    assert_all_pass(&report, &["accounts.login_sid_mismatch", "accounts.login_missing_for_user"]);
}

#[test]
fn a_sql_login_recreated_with_another_sid_on_a_secondary_is_an_error_with_the_primarys_sid() {
    let mut snap = healthy();
    // CREATE LOGIN app_sales WITH PASSWORD = ... on SQL3 without SID =: a new GUID.
    set_where(&mut snap, "SQL3", "server_principals", is_name("name", "app_sales"), "sid", json!("0x3C9B2E7D1A4F4D2B8C6E0F1A2B3C4D5E"));
    let report = run(snap);
    let f = single(&report, "accounts.login_sid_mismatch");
    assert_severity(f, Severity::Error);
    assert_eq!(f.instance.as_deref(), Some("SQL3"));
    assert_eq!(f.availability_group.as_deref(), Some("AG1"));
    assert!(f.message.contains("user app_sales in SalesDB"), "{}", f.message);
    assert!(f.message.contains(APP_SALES_SID) && f.message.contains("0x3C9B2E7D1A4F4D2B8C6E0F1A2B3C4D5E"), "{}", f.message);
    assert!(f.message.contains("orphaned"), "{}", f.message);
    assert_eq!(f.evidence["database_principals"][0]["database_name"], "SalesDB");
    assert_eq!(f.evidence["server_principals"]["sid"], "0x3C9B2E7D1A4F4D2B8C6E0F1A2B3C4D5E");
    // The password is the DBA's: the fix is one manual step, never an executable statement.
    assert!(f.fix.is_none(), "{:?}", f.fix);
    assert_eq!(f.fix_steps.len(), 1);
    let step = &f.fix_steps[0];
    assert!(step.manual && step.target == "SQL3");
    assert!(step.text.contains("DROP LOGIN [app_sales];"), "{}", step.text);
    assert!(
        step.text.contains(&format!("CREATE LOGIN [app_sales] WITH PASSWORD = N'<password of app_sales on SQL1>', SID = {APP_SALES_SID}")),
        "{}",
        step.text
    );
    assert_none(&report, "accounts.login_missing_for_user");
    let script = report.fix_script(&agdiag::fix::ScriptOptions::default());
    for line in script.lines().filter(|l| l.contains("WITH PASSWORD")) {
        assert!(line.trim_start().starts_with("--"), "a password placeholder must never be executable: {line}");
    }
}

#[test]
fn a_sid_read_by_collect_sql_as_base64_matches_the_same_sid_in_hex() {
    let mut snap = healthy();
    // FOR JSON writes varbinary as base64: 0x6A1D8E3B9F2C4B7A8E5D1C0B9A8F7E6D.
    set_where(&mut snap, "SQL2", "server_principals", is_name("name", "app_sales"), "sid", json!("ah2OO58sS3qOXRwLmo9+bQ=="));
    assert_all_pass(&run(snap), &["accounts.login_sid_mismatch", "accounts.login_missing_for_user"]);
}

#[test]
fn missing_sql_and_windows_logins_are_errors_with_the_right_fix() {
    let mut snap = healthy();
    remove_where(&mut snap, "SQL2", "server_principals", is_name("name", "app_sales"));
    remove_where(&mut snap, "SQL2", "server_principals", is_name("name", "CONTOSO\\SQL-DBAs"));
    let report = run(snap);
    let found = findings_of(&report, "accounts.login_missing_for_user");
    assert_eq!(found.len(), 2, "{found:#?}");
    assert!(found.iter().all(|f| f.instance.as_deref() == Some("SQL2") && f.severity == Severity::Error));
    let sql = found.iter().find(|f| f.object.as_deref() == Some("app_sales (SQL2)")).expect("app_sales");
    assert!(sql.fix.is_none() && sql.fix_steps[0].manual);
    assert!(sql.fix_steps[0].text.contains(&format!("SID = {APP_SALES_SID}")), "{}", sql.fix_steps[0].text);
    assert!(!sql.fix_steps[0].text.contains("DROP LOGIN"), "{}", sql.fix_steps[0].text);
    let windows = found.iter().find(|f| f.object.as_deref() == Some("CONTOSO\\SQL-DBAs (SQL2)")).expect("group");
    assert_eq!(
        windows.fix.as_deref(),
        Some("IF NOT EXISTS (SELECT 1 FROM sys.server_principals WHERE name = N'CONTOSO\\SQL-DBAs') CREATE LOGIN [CONTOSO\\SQL-DBAs] FROM WINDOWS;")
    );
    assert!(windows.message.contains("WINDOWS_GROUP"), "{}", windows.message);
    assert_none(&report, "accounts.login_sid_mismatch");
}

#[test]
fn users_that_need_no_login_are_not_compared() {
    let mut snap = healthy();
    // app_sales made a user WITHOUT LOGIN, a contained user, a certificate user: no login needed.
    for (desc, ty) in [("NONE", "S"), ("DATABASE", "S"), ("NONE", "C")] {
        let mut s = snap.clone();
        let is_user = |r: &agdiag::snapshot::Row| r.str("database_name") == Some("SalesDB") && r.str("name") == Some("app_sales");
        set_where(&mut s, "SQL1", "database_principals", is_user, "authentication_type_desc", json!(desc));
        set_where(&mut s, "SQL1", "database_principals", is_user, "type", json!(ty));
        remove_where(&mut s, "SQL2", "server_principals", is_name("name", "app_sales"));
        assert_all_pass(&run(s), &["accounts.login_missing_for_user"]);
    }
    // dbo maps to the database owner, not to a login of its own.
    remove_where(&mut snap, "SQL3", "server_principals", is_name("name", "sa"));
    assert_none(&run(snap), "accounts.login_missing_for_user");
}

#[test]
fn a_contained_ag_keeps_its_logins_and_is_not_compared() {
    let mut snap = fixture("contained-2022.json");
    remove_where(&mut snap, "SQL2", "server_principals", is_name("name", "app_sales"));
    let report = run(snap);
    assert_all_pass(&report, &["accounts.login_sid_mismatch"]);
    // No error, and it says why: one info finding naming the AG's own master.
    let f = single(&report, "accounts.login_missing_for_user");
    assert_eq!(f.severity, agdiag::findings::Severity::Info);
    assert!(f.message.contains("AG1 is contained") && f.message.contains("AG1_master"), "{}", f.message);
    assert!(f.fix_steps.is_empty());
}

#[test]
fn the_secondary_ag_of_a_distributed_ag_needs_the_global_primarys_logins() {
    let mut snap = fixture("distributed-healthy.json");
    remove_where(&mut snap, "SQL4", "server_principals", is_name("name", "app_sales"));
    let report = run(snap);
    let f = single(&report, "accounts.login_missing_for_user");
    assert_eq!(f.instance.as_deref(), Some("SQL4"));
    assert_eq!(f.availability_group.as_deref(), Some("AG2"));
    assert!(f.message.contains("On SQL1"), "{}", f.message);
}

#[test]
fn users_not_collected_on_the_primary_are_not_evaluated_with_the_reason() {
    // A snapshot from before the per-database read: master's principals only.
    let mut snap = healthy();
    remove_where(&mut snap, "SQL1", "database_principals", |r| r.str("database_name") == Some("SalesDB"));
    let report = run(snap.clone());
    assert_eq!(status_of(&report, "accounts.login_missing_for_user"), CheckStatus::NotEvaluated);
    let gaps = not_evaluated_on(&report, "accounts.login_missing_for_user");
    assert!(gaps.iter().any(|(s, why)| s == "AG1" && why.contains("SalesDB") && why.contains("not collected")), "{gaps:?}");
    // The live collector records a failed database read under its own key.
    let sql1 = snap.instances.iter_mut().find(|i| i.is_named("SQL1")).unwrap();
    sql1.query_errors.insert(
        "database_principals:SalesDB".into(),
        agdiag::snapshot::ServerError {
            number: Some(916),
            state: Some(1),
            message: "The server principal \"CONTOSO\\agdiag\" is not able to access the database \"SalesDB\" under the current security context.".into(),
        },
    );
    let gaps = not_evaluated_on(&run(snap), "accounts.login_sid_mismatch");
    assert!(gaps.iter().any(|(_, why)| why.contains("SalesDB: error 916")), "{gaps:?}");
}

#[test]
fn a_secondary_that_was_not_collected_is_not_evaluated() {
    let mut snap = healthy();
    disconnect(&mut snap, "SQL3");
    let report = run(snap);
    let gaps = not_evaluated_on(&report, "accounts.login_missing_for_user");
    assert!(gaps.iter().any(|(s, _)| s == "SQL3"), "{gaps:?}");
    assert_eq!(status_of(&report, "accounts.login_missing_for_user"), CheckStatus::Pass, "SQL2 was judged");
}
