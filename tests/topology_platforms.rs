//! Real AG topologies beyond the bundled Windows/WSFC example: Linux and Pacemaker (EXTERNAL),
//! read-scale (NONE), contained, basic, FCI replicas, named instances on static ports, and every
//! major version from SQL Server 2012 to 2022. Each healthy fixture
//! (`tests/fixtures/topologies/*.json`, written by `generate.py` there) must give no error and no
//! warning from any check; each broken variant must give the one finding a DBA would expect.

mod common;

use agdiag::findings::{Finding, Severity};
use agdiag::snapshot::Row;
use agdiag::Snapshot;
use common::*;
use serde_json::json;

fn fixture(name: &str) -> Snapshot {
    let path = format!("{}/tests/fixtures/topologies/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    Snapshot::from_json(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Errors and warnings: what a healthy topology must not have.
fn complaints(report: &agdiag::Report) -> Vec<&Finding> {
    report.findings.iter().filter(|f| matches!(f.severity, Severity::Error | Severity::Warning)).collect()
}

fn assert_healthy(name: &str) -> agdiag::Report {
    let report = run(fixture(name));
    let bad = complaints(&report);
    assert!(
        bad.is_empty(),
        "{name}: {:#?}",
        bad.iter().map(|f| format!("{} [{:?}] {}", f.id, f.severity, f.message)).collect::<Vec<_>>()
    );
    report
}

fn is_cert(r: &Row) -> bool {
    r.str("name") == Some("dbm_certificate")
}

// ---------------------------------------------------------------------------------------------
// Linux / Pacemaker and read-scale: certificate authentication
// ---------------------------------------------------------------------------------------------

#[test]
fn linux_pacemaker_ag_with_certificates_is_healthy() {
    let report = assert_healthy("linux-pacemaker-3-replica.json");
    assert_all_pass(
        &report,
        &["accounts.partner_certificate_missing", "accounts.certificate_login_missing", "accounts.certificate_connect_missing"],
    );
}

#[test]
fn read_scale_ag_with_certificates_is_healthy() {
    assert_healthy("read-scale-none-3-replica.json");
}

fn linux() -> Snapshot {
    fixture("linux-pacemaker-3-replica.json")
}

#[test]
fn linux_partner_certificate_missing_in_master_is_an_error_on_each_receiving_replica() {
    // SQL3's endpoint moves to its own certificate, which was never copied to SQL1 and SQL2.
    let mut snap = linux();
    push_row(
        &mut snap,
        "SQL3",
        "certificates",
        json!({"name": "sql3_certificate", "certificate_id": 257, "principal_id": 1, "pvt_key_encryption_type": "MK",
               "pvt_key_encryption_type_desc": "ENCRYPTED_BY_MASTER_KEY", "is_active_for_begin_dialog": true,
               "issuer_name": "sql3", "cert_serial_number": "52 0c 9d 11 6a 7f 33 e0 4b 98 21 cd 07 5e a4 19",
               "sid": "0x01060000000000090100000011223344556677889900AABBCCDDEEFF00112233", "string_sid": null,
               "subject": "sql3", "expiry_date": "2027-11-01T08:00:00.000", "start_date": "2026-11-01T08:00:00.000",
               "thumbprint": "0x0A1B2C3D4E5F60718293A4B5C6D7E8F901234567", "attested_by": null,
               "pvt_key_last_backup_date": null, "key_length": 2048}),
    );
    set_where(&mut snap, "SQL3", "database_mirroring_endpoints", |_| true, "certificate_id", json!(257));
    let report = run(snap);
    let found = findings_of(&report, "accounts.partner_certificate_missing");
    let mut at: Vec<(&str, &str)> =
        found.iter().map(|f| (f.instance.as_deref().unwrap_or(""), f.replica.as_deref().unwrap_or(""))).collect();
    at.sort();
    assert_eq!(at, vec![("SQL1", "SQL3"), ("SQL2", "SQL3")], "{found:#?}");
    let f = found[0];
    assert_severity(f, Severity::Error);
    assert!(f.message.contains("sql3_certificate") && f.message.contains("0x0A1B2C3D4E5F60718293A4B5C6D7E8F901234567"), "{}", f.message);
    assert_eq!(f.evidence["partner_certificate"]["certificate_id"], json!(257));
    assert_eq!(f.evidence["certificates"], json!(null));
    let text: Vec<&str> = f.fix_steps.iter().map(|s| s.text.as_str()).collect();
    assert!(text[0].contains("BACKUP CERTIFICATE [sql3_certificate] TO FILE"), "{text:?}");
    assert!(text[1].contains("CREATE CERTIFICATE [sql3_certificate] AUTHORIZATION"), "{text:?}");
    // Nothing else is blamed for it: the logins and grants of the shared certificate are fine.
    assert_none(&report, "accounts.certificate_login_missing");
    assert_none(&report, "accounts.certificate_connect_missing");
}

#[test]
fn linux_recreated_certificate_with_same_issuer_and_serial_is_error_28045() {
    let mut snap = linux();
    set_where(&mut snap, "SQL2", "certificates", is_cert, "thumbprint", json!("0xFFFF1A9E3B7D2C8F4E0A6B1D9C3E7F2A8B4D6E0C"));
    let report = run(snap);
    let found = findings_of(&report, "accounts.partner_certificate_missing");
    // SQL2 no longer holds SQL1's and SQL3's certificate; SQL1 and SQL3 do not hold SQL2's.
    assert_eq!(found.len(), 4, "{found:#?}");
    let on_sql2: Vec<_> = found.iter().filter(|f| f.instance.as_deref() == Some("SQL2")).collect();
    assert_eq!(on_sql2.len(), 2);
    assert!(on_sql2[0].message.contains("28045"), "{}", on_sql2[0].message);
    assert_eq!(on_sql2[0].evidence["certificates"]["name"], json!("dbm_certificate"));
}

#[test]
fn linux_certificate_owner_without_login_is_an_error() {
    // dbm_login was dropped on SQL2: dbm_user (the certificate's owner) is left without a login.
    let mut snap = linux();
    remove_where(&mut snap, "SQL2", "server_principals", is_name("name", "dbm_login"));
    let report = run(snap);
    let found = findings_of(&report, "accounts.certificate_login_missing");
    assert_eq!(found.len(), 2, "{found:#?}");
    for f in &found {
        assert_eq!(f.instance.as_deref(), Some("SQL2"));
        assert_severity(f, Severity::Error);
        assert!(f.message.contains("dbm_user") && f.message.contains("matches no login"), "{}", f.message);
        assert_eq!(f.evidence["database_principals"]["name"], json!("dbm_user"));
        let text: Vec<&str> = f.fix_steps.iter().map(|s| s.text.as_str()).collect();
        assert!(text.iter().any(|t| t.contains("CREATE LOGIN")), "{text:?}");
        assert!(text.iter().any(|t| t.contains("ALTER AUTHORIZATION ON CERTIFICATE::[dbm_certificate] TO")), "{text:?}");
        assert!(text.iter().any(|t| t.starts_with("GRANT CONNECT ON ENDPOINT::[Hadr_endpoint] TO")), "{text:?}");
    }
    assert_none(&report, "accounts.certificate_connect_missing");
    assert_none(&report, "accounts.partner_certificate_missing");
}

#[test]
fn linux_certificate_login_without_connect_is_an_error_with_the_grant() {
    let mut snap = linux();
    remove_where(&mut snap, "SQL3", "server_permissions", |p| p.int("major_id") == Some(65536));
    let report = run(snap);
    let found = findings_of(&report, "accounts.certificate_connect_missing");
    assert_eq!(found.len(), 2, "{found:#?}");
    for f in &found {
        assert_eq!(f.instance.as_deref(), Some("SQL3"));
        assert!(f.message.contains("dbm_login") && f.message.contains("neither CONNECT nor CONTROL"), "{}", f.message);
        assert_eq!(f.fix_steps.last().unwrap().text, "GRANT CONNECT ON ENDPOINT::[Hadr_endpoint] TO [dbm_login];");
        assert_eq!(f.evidence["server_principals"]["name"], json!("dbm_login"));
    }
    // On SQL1 the certificate was created there and is owned by dbo, i.e. sa: no grant is needed.
    let mut snap = linux();
    remove_where(&mut snap, "SQL1", "server_permissions", |p| p.int("major_id") == Some(65536));
    assert_none(&run(snap), "accounts.certificate_connect_missing");
}

#[test]
fn linux_certificate_login_denied_connect_is_an_error_with_revoke_then_grant() {
    let mut snap = linux();
    set_where(&mut snap, "SQL2", "server_permissions", |p| p.int("major_id") == Some(65536), "state", json!("D"));
    set_where(&mut snap, "SQL2", "server_permissions", |p| p.int("major_id") == Some(65536), "state_desc", json!("DENY"));
    let report = run(snap);
    let found = findings_of(&report, "accounts.certificate_connect_missing");
    assert_eq!(found.len(), 2, "{found:#?}");
    let text: Vec<&str> = found[0].fix_steps.iter().map(|s| s.text.as_str()).collect();
    assert_eq!(
        text,
        vec!["REVOKE CONNECT ON ENDPOINT::[Hadr_endpoint] FROM [dbm_login];", "GRANT CONNECT ON ENDPOINT::[Hadr_endpoint] TO [dbm_login];"]
    );
}

/// collect.sql writes varbinary columns as base64 (FOR JSON), the live collector as 0x hex: the
/// certificate checks compare bytes, so the same AG is healthy either way.
#[test]
fn linux_ag_collected_by_collect_sql_base64_varbinary_is_still_healthy() {
    fn to_base64(hex: &str) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let bytes: Vec<u8> = (2..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect();
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n = chunk.iter().enumerate().fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }
    let mut snap = linux();
    for inst in snap.instances.iter_mut() {
        for key in ["certificates", "database_principals", "server_principals"] {
            for row in inst.results.get_mut(key).into_iter().flatten() {
                for column in ["sid", "thumbprint"] {
                    if let Some(hex) = row.str(column).filter(|v| v.starts_with("0x")).map(str::to_string) {
                        row.set(column, json!(to_base64(&hex)));
                    }
                }
            }
        }
    }
    let report = run(snap);
    assert!(complaints(&report).is_empty(), "{:#?}", complaints(&report));
    assert_all_pass(
        &report,
        &["accounts.partner_certificate_missing", "accounts.certificate_login_missing", "accounts.certificate_connect_missing"],
    );
}
