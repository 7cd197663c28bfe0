//! certificate.expired / certificate.expiring on the Linux AG fixture (certificate authentication,
//! one dbm_certificate shared by the three replicas, as in "Configure an availability group on
//! Linux") and on a read-scale AG with one certificate per replica. Dates are compared with the
//! snapshot's collected_at (2026-11-22T10:15:00Z), never with the clock.

mod common;

use agdiag::Snapshot;
use agdiag::checks::CheckStatus;
use agdiag::findings::Severity;
use agdiag::snapshot::Row;
use common::*;
use serde_json::json;

fn fixture(name: &str) -> Snapshot {
    let path = format!("{}/tests/fixtures/topologies/{name}", env!("CARGO_MANIFEST_DIR"));
    Snapshot::from_json(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn linux() -> Snapshot {
    fixture("linux-pacemaker-3-replica.json")
}

fn is_dbm(r: &Row) -> bool {
    r.str("name") == Some("dbm_certificate")
}

fn expire_everywhere(snap: &mut Snapshot, expiry: &str) {
    set_everywhere(snap, "certificates", is_dbm, "expiry_date", json!(expiry));
}

#[test]
fn valid_certificates_and_windows_authentication_pass() {
    for report in [run(linux()), run(healthy())] {
        assert_all_pass(&report, &["certificate.expired", "certificate.expiring"]);
    }
}

#[test]
fn an_expired_shared_endpoint_certificate_is_one_error_per_replica_with_the_rotation() {
    let mut snap = linux();
    expire_everywhere(&mut snap, "2026-11-20T09:20:11.000");
    let report = run(snap);
    let found = findings_of(&report, "certificate.expired");
    assert_eq!(found.len(), 3, "{found:#?}");
    assert_none(&report, "certificate.expiring");
    let sql1 = found.iter().find(|f| f.instance.as_deref() == Some("SQL1")).expect("SQL1");
    assert_severity(sql1, Severity::Error);
    assert!(sql1.message.contains("expired on 2026-11-20T09:20:11.000 UTC (2 days before the collection)"), "{}", sql1.message);
    assert!(sql1.message.contains("new connection"), "{}", sql1.message);
    assert!(sql1.message.contains("one shared certificate"), "{}", sql1.message);
    assert_eq!(sql1.evidence["certificates"]["thumbprint"], "0x5C6F1A9E3B7D2C8F4E0A6B1D9C3E7F2A8B4D6E0C");
    assert_eq!(sql1.evidence["own_endpoint_certificate"], true);
    // The rotation: a new certificate of SQL1's own (real T-SQL, expiry two years after the
    // collection), the file exchange (manual), ALTER ENDPOINT (manual: only once every partner
    // holds the new certificate), DROP of the old one (manual, last).
    let fix = sql1.fix.as_deref().expect("sql steps");
    assert_eq!(
        fix,
        "USE [master]; IF NOT EXISTS (SELECT 1 FROM sys.certificates WHERE name = N'dbm_certificate_SQL1_20281121') \
         CREATE CERTIFICATE [dbm_certificate_SQL1_20281121] WITH SUBJECT = N'dbm', EXPIRY_DATE = N'20281121';"
    );
    let manual: Vec<&str> = sql1.fix_steps.iter().filter(|s| s.manual).map(|s| s.text.as_str()).collect();
    assert!(manual.iter().any(|m| m.contains("BACKUP CERTIFICATE [dbm_certificate_SQL1_20281121] TO FILE")), "{manual:#?}");
    assert!(
        manual.iter().any(|m| m.contains(
            "ALTER ENDPOINT [Hadr_endpoint] FOR DATABASE_MIRRORING (AUTHENTICATION = CERTIFICATE [dbm_certificate_SQL1_20281121]);"
        ) && m.contains("Once every partner holds the new certificate")),
        "{manual:#?}"
    );
    // Each replica rotates to a certificate of its own: no two findings create the same name.
    let sql2 = found.iter().find(|f| f.instance.as_deref() == Some("SQL2")).unwrap();
    assert!(sql2.fix.as_deref().unwrap().contains("[dbm_certificate_SQL2_20281121]"));
    // SQL2 and SQL3 own their copy through dbm_user.
    let on_sql2 = sql1.fix_steps.iter().find(|s| s.target == "SQL2" && s.text.contains("FROM FILE")).expect("SQL2 step");
    assert!(on_sql2.manual && on_sql2.text.contains("AUTHORIZATION [dbm_user]"), "{}", on_sql2.text);
    assert!(manual.iter().any(|m| m.contains("DROP CERTIFICATE [dbm_certificate];")), "{manual:#?}");
    assert!(!fix.contains("DROP CERTIFICATE"), "dropping the old certificate is never run by the script: {fix}");
}

#[test]
fn a_certificate_expiring_within_30_days_is_a_warning_and_31_days_is_not() {
    let mut snap = linux();
    expire_everywhere(&mut snap, "2026-12-12T10:00:00.000");
    let report = run(snap);
    let found = findings_of(&report, "certificate.expiring");
    assert_eq!(found.len(), 3, "{found:#?}");
    assert!(found.iter().all(|f| f.severity == Severity::Warning));
    assert!(found[0].message.contains("19 days after the collection"), "{}", found[0].message);
    assert_none(&report, "certificate.expired");

    let mut snap = linux();
    expire_everywhere(&mut snap, "2026-12-23T10:16:00.000");
    assert_all_pass(&run(snap), &["certificate.expiring", "certificate.expired"]);
}

#[test]
fn a_partners_certificate_held_in_master_is_judged_where_it_is_held() {
    // Read-scale AG between workgroup servers: SQL2 presents its own certificate sql2_cert, which
    // SQL1 and SQL3 hold (public key only) in master; SQL2's certificate has expired.
    let mut snap = fixture("read-scale-none-3-replica.json");
    let sql2_cert = json!({
        "name": "sql2_cert", "certificate_id": 257, "principal_id": 1, "pvt_key_encryption_type": "MK",
        "pvt_key_encryption_type_desc": "ENCRYPTED_BY_MASTER_KEY", "is_active_for_begin_dialog": true,
        "issuer_name": "SQL2 endpoint", "cert_serial_number": "5a 0c 33 91 e7 2f 48 b6 9d 14 a0 6e c2 7b 15 f8",
        "sid": "0x010600000000000901000000B1C2D3E4F5061728394A5B6C7D8E9FA0B1C2D3E4", "string_sid": null,
        "subject": "SQL2 endpoint", "expiry_date": "2026-10-01T00:00:00.000", "start_date": "2025-10-01T00:00:00.000",
        "thumbprint": "0x8F3A6C1D9E2B7F4A0C5D8E1F3A6B9C2D5E8F1A4B", "attested_by": null, "pvt_key_last_backup_date": null,
        "key_length": 2048
    });
    push_row(&mut snap, "SQL2", "certificates", sql2_cert.clone());
    set_where(&mut snap, "SQL2", "database_mirroring_endpoints", |_| true, "certificate_id", json!(257));
    for holder in ["SQL1", "SQL3"] {
        let mut copy = sql2_cert.clone();
        copy["certificate_id"] = json!(258);
        copy["principal_id"] = json!(5);
        copy["pvt_key_encryption_type"] = json!("NA");
        copy["pvt_key_encryption_type_desc"] = json!("NO_PRIVATE_KEY");
        push_row(&mut snap, holder, "certificates", copy);
    }
    let report = run(snap);
    let found = findings_of(&report, "certificate.expired");
    let mut where_: Vec<&str> = found.iter().map(|f| f.instance.as_deref().unwrap()).collect();
    where_.sort_unstable();
    assert_eq!(where_, ["SQL1", "SQL2", "SQL3"], "{found:#?}");
    let own = found.iter().find(|f| f.instance.as_deref() == Some("SQL2")).unwrap();
    assert_eq!(own.evidence["own_endpoint_certificate"], true);
    assert!(own.has_sql_fix());
    let held = found.iter().find(|f| f.instance.as_deref() == Some("SQL1")).unwrap();
    assert_eq!(held.evidence["own_endpoint_certificate"], false);
    assert!(held.message.contains("SQL2's endpoint certificate, as SQL1 holds it in master"), "{}", held.message);
    assert!(held.fix_steps.is_empty(), "the rotation is SQL2's finding's");
    assert!(held.remediation.contains("rotate it there"), "{}", held.remediation);
}

#[test]
fn without_collected_at_the_dates_are_not_judged() {
    let mut snap = linux();
    snap.collected_at = None;
    expire_everywhere(&mut snap, "2020-01-01T00:00:00.000");
    let report = run(snap);
    assert_eq!(status_of(&report, "certificate.expired"), CheckStatus::NotEvaluated);
    assert!(not_evaluated_on(&report, "certificate.expired").iter().any(|(_, why)| why.contains("collected_at")));
}

#[test]
fn a_snapshot_without_certificates_is_not_evaluated() {
    let mut snap = linux();
    for inst in snap.instances.iter_mut() {
        inst.results.remove("certificates");
    }
    let report = run(snap);
    assert_eq!(status_of(&report, "certificate.expired"), CheckStatus::NotEvaluated);
    assert!(findings_of(&report, "certificate.expired").is_empty());
}

#[test]
fn names_in_the_rotation_are_escaped() {
    let mut snap = linux();
    set_everywhere(&mut snap, "certificates", is_dbm, "subject", json!("dbm'; DROP LOGIN sa; --"));
    set_everywhere(&mut snap, "database_mirroring_endpoints", |_| true, "name", json!("Hadr]endpoint"));
    expire_everywhere(&mut snap, "2026-11-01T00:00:00.000");
    let report = run(snap);
    let f = findings_of(&report, "certificate.expired")[0];
    let fix = f.fix.as_deref().unwrap();
    assert!(fix.contains("WITH SUBJECT = N'dbm''; DROP LOGIN sa; --'"), "{fix}");
    let alter = f.fix_steps.iter().find(|s| s.text.contains("ALTER ENDPOINT")).unwrap();
    assert!(alter.text.contains("ALTER ENDPOINT [Hadr]]endpoint]"), "{}", alter.text);
}
