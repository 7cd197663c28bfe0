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
    let report = assert_healthy("read-scale-none-3-replica.json");
    // No cluster, no automatic failover: the failover checks judge that from the AG, not skip it.
    for c in &report.checks {
        assert_ne!(c.status, agdiag::checks::CheckStatus::NotEvaluated, "{}: {:?}", c.check, c.reason);
    }
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
    assert!(text[0].contains("BACKUP CERTIFICATE [sql3_certificate] TO FILE = N'<path>/sql3_certificate.cer';"), "{text:?}");
    assert!(text[1].contains("CREATE USER [sql3_certificate_user] FOR LOGIN [sql3_certificate_login];"), "{text:?}");
    assert!(text[1].contains("CREATE CERTIFICATE [sql3_certificate] AUTHORIZATION [sql3_certificate_user] FROM FILE"), "{text:?}");
    assert_eq!(text[2], "GRANT CONNECT ON ENDPOINT::[Hadr_endpoint] TO [sql3_certificate_login];");
    assert!(!f.fix_steps[0].text.is_empty() && f.fix_steps[0].target == "SQL3" && f.fix_steps[1].target == f.instance.clone().unwrap());
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
    // SQL2 no longer holds the certificate SQL1 and SQL3 share (one finding); SQL1 and SQL3 do not hold SQL2's.
    assert_eq!(found.len(), 3, "{found:#?}");
    let on_sql2: Vec<_> = found.iter().filter(|f| f.instance.as_deref() == Some("SQL2")).collect();
    assert_eq!(on_sql2.len(), 1);
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
    // SQL1 and SQL3 present the same shared certificate: one finding, one fix.
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].evidence["presented_by"], json!(["SQL1", "SQL3"]));
    assert!(found[0].message.contains("SQL1 and SQL3 present to its endpoint"), "{}", found[0].message);
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
    assert_eq!(found.len(), 1, "{found:#?}");
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
    assert_eq!(found.len(), 1, "{found:#?}");
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

// ---------------------------------------------------------------------------------------------
// Contained AG (SQL Server 2022)
// ---------------------------------------------------------------------------------------------

#[test]
fn contained_ag_with_its_own_master_and_msdb_is_healthy() {
    assert_healthy("contained-2022.json");
}

#[test]
fn contained_ags_msdb_not_synchronizing_is_reported_like_any_database() {
    let mut snap = fixture("contained-2022.json");
    let sql2_msdb = |r: &Row| r.int("database_id") == Some(7) && r.str("replica_id") == Some("2C1E6CAF-4D3B-4081-8E72-1B9F3D5C8A02");
    for server in ["SQL1", "SQL2"] {
        set_where(&mut snap, server, "dm_hadr_database_replica_states", sql2_msdb, "synchronization_state", json!(0));
        set_where(&mut snap, server, "dm_hadr_database_replica_states", sql2_msdb, "synchronization_state_desc", json!("NOT SYNCHRONIZING"));
        set_where(&mut snap, server, "dm_hadr_database_replica_states", sql2_msdb, "synchronization_health", json!(0));
        set_where(&mut snap, server, "dm_hadr_database_replica_states", sql2_msdb, "synchronization_health_desc", json!("NOT_HEALTHY"));
    }
    let report = run(snap);
    let found = findings_of(&report, "health.synchronization");
    assert!(!found.is_empty(), "{:#?}", report.findings);
    assert!(found.iter().all(|f| f.replica.as_deref() == Some("SQL2")), "{found:#?}");
}

// ---------------------------------------------------------------------------------------------
// Basic AG (Standard edition)
// ---------------------------------------------------------------------------------------------

#[test]
fn basic_ag_without_readable_secondary_or_routing_is_healthy() {
    let report = assert_healthy("basic-2-replica.json");
    for f in &report.findings {
        assert!(!f.check.starts_with("routing."), "a basic AG cannot route: {f:#?}");
    }
    assert_all_pass(&report, &["routing.url_missing", "routing.no_list", "routing.url_unreachable", "routing.target_not_readable"]);
}

// ---------------------------------------------------------------------------------------------
// FCI replicas
// ---------------------------------------------------------------------------------------------

#[test]
fn fci_replicas_named_by_their_virtual_network_name_are_healthy() {
    let report = assert_healthy("fci-replicas.json");
    assert_all_pass(&report, &["endpoint_url.wrong_host", "routing.url_wrong_host", "accounts.login_missing"]);
}

#[test]
fn fci_endpoint_url_naming_the_active_node_instead_of_the_vnn_is_reported() {
    let mut snap = fixture("fci-replicas.json");
    let fci1 = |r: &Row| r.str("replica_server_name") == Some("SQLFCI1");
    for server in ["SQLFCI1", "SQLFCI2", "SQL3"] {
        set_where(&mut snap, server, "availability_replicas", fci1, "endpoint_url", json!("TCP://node1b.contoso.com:5022"));
    }
    let report = run(snap);
    let f = single(&report, "endpoint_url.wrong_host");
    assert_eq!(f.replica.as_deref(), Some("SQLFCI1"));
    assert!(f.message.to_lowercase().contains("node1b"), "{}", f.message);
    assert!(f.fix_steps.iter().any(|s| s.text.contains("TCP://sqlfci1.contoso.com:5022")), "{:#?}", f.fix_steps);
}

// ---------------------------------------------------------------------------------------------
// Named instances on a static non-default port
// ---------------------------------------------------------------------------------------------

#[test]
fn named_instances_on_static_port_1450_are_healthy() {
    let report = assert_healthy("named-instances-static-port.json");
    assert_all_pass(&report, &["routing.url_port_not_tsql", "routing.url_mirroring_port", "endpoint.port_mismatch", "accounts.login_missing"]);
}

#[test]
fn named_instance_routing_url_on_the_default_port_is_reported() {
    let mut snap = fixture("named-instances-static-port.json");
    let sql2 = |r: &Row| r.str("replica_server_name") == Some("SQL2\\INST1");
    for server in ["SQL1\\INST1", "SQL2\\INST1", "SQL3\\INST1"] {
        set_where(&mut snap, server, "availability_replicas", sql2, "read_only_routing_url", json!("TCP://sql2.contoso.com:1433"));
    }
    let report = run(snap);
    let f = single(&report, "routing.url_port_not_tsql");
    assert_eq!(f.replica.as_deref(), Some("SQL2\\INST1"));
    assert!(f.message.contains("1450"), "{}", f.message);
}

// ---------------------------------------------------------------------------------------------
// SQL Server 2012 to 2022: each version's own column set
// ---------------------------------------------------------------------------------------------

const VERSIONS: &[&str] =
    &["version-2012.json", "version-2014.json", "version-2016.json", "version-2017.json", "version-2019.json", "version-2022.json"];

#[test]
fn every_major_version_from_2012_to_2022_is_healthy() {
    for name in VERSIONS {
        let report = assert_healthy(name);
        for check in &report.checks {
            // Only the build table, which starts at SQL Server 2016, may be unable to judge.
            if check.check != "build.outdated" {
                assert_ne!(check.status, agdiag::checks::CheckStatus::NotEvaluated, "{name}: {check:?}");
            }
        }
    }
}

#[test]
fn versions_before_2017_lack_cluster_type_and_are_judged_as_wsfc_ags() {
    let snap = fixture("version-2014.json");
    let ag = &snap.instances[0].results["availability_groups"][0];
    assert!(ag.get("cluster_type").is_none() && ag.get("is_distributed").is_none() && ag.get("basic_features").is_none());
    let replica = &snap.instances[0].results["availability_replicas"][0];
    assert!(replica.get("seeding_mode").is_none() && replica.get("read_write_routing_url").is_none());
    // Without quorum a WSFC AG is down: with no cluster_type column the AG is still a WSFC AG.
    let mut snap = fixture("version-2014.json");
    for server in ["SQL1", "SQL2", "SQL3"] {
        rows_mut(&mut snap, server, "dm_hadr_cluster").clear();
    }
    let report = run(snap);
    assert!(!findings_of(&report, "hadr.no_cluster").is_empty(), "{:#?}", report.findings);
}

#[test]
fn linux_without_a_domain_name_needs_no_service_account_judgement() {
    // DEFAULT_DOMAIN() carries no domain on a Linux host: with certificate endpoints the service
    // account never reaches a partner, so the accounts checks still judge every pair.
    let mut snap = linux();
    set_everywhere(&mut snap, "server_properties", |_| true, "DEFAULT_DOMAIN()", json!(null));
    let report = run(snap);
    assert!(complaints(&report).is_empty(), "{:#?}", complaints(&report));
    assert_all_pass(&report, &["accounts.mixed_service_accounts", "accounts.certificate_required", "accounts.login_missing", "endpoint.owner"]);
}

#[test]
fn snapshot_from_before_the_certificate_keys_is_not_evaluated_not_failed() {
    let mut snap = linux();
    for inst in snap.instances.iter_mut() {
        inst.results.remove("certificates");
        inst.results.remove("database_principals");
    }
    let report = run(snap);
    assert!(complaints(&report).is_empty(), "{:#?}", complaints(&report));
    for check in ["accounts.partner_certificate_missing", "accounts.certificate_login_missing", "accounts.certificate_connect_missing"] {
        assert_eq!(status_of(&report, check), agdiag::checks::CheckStatus::NotEvaluated, "{check}");
        let gaps = not_evaluated_on(&report, check);
        assert!(gaps.iter().all(|(_, why)| why.contains("certificates")), "{check}: {gaps:?}");
    }
}

#[test]
fn a_2012_secondary_not_synchronizing_is_found_without_the_columns_added_later() {
    // SQL Server 2012 has no is_primary_replica (2014) nor secondary_lag_seconds (2016).
    let mut snap = fixture("version-2012.json");
    let sql2 = |r: &Row| r.str("replica_id") == Some("2C1E6CAF-4D3B-4081-8E72-1B9F3D5C8A02");
    assert!(rows_mut(&mut snap, "SQL1", "dm_hadr_database_replica_states").iter().all(|r| r.get("is_primary_replica").is_none()));
    for server in ["SQL1", "SQL2"] {
        set_where(&mut snap, server, "dm_hadr_database_replica_states", sql2, "synchronization_state", json!(0));
        set_where(&mut snap, server, "dm_hadr_database_replica_states", sql2, "synchronization_state_desc", json!("NOT SYNCHRONIZING"));
        set_where(&mut snap, server, "dm_hadr_database_replica_states", sql2, "synchronization_health", json!(0));
        set_where(&mut snap, server, "dm_hadr_database_replica_states", sql2, "synchronization_health_desc", json!("NOT_HEALTHY"));
    }
    let report = run(snap);
    let found = findings_of(&report, "health.synchronization");
    assert!(!found.is_empty(), "{:#?}", report.findings);
    assert!(found.iter().all(|f| f.replica.as_deref() == Some("SQL2")), "{found:#?}");
}

#[test]
fn linux_fix_script_grants_on_the_receiving_replica_and_keeps_file_steps_manual() {
    let mut snap = linux();
    remove_where(&mut snap, "SQL3", "server_permissions", |p| p.int("major_id") == Some(65536));
    remove_where(&mut snap, "SQL2", "server_principals", is_name("name", "dbm_login"));
    let report = run(snap);
    let script = report.fix_script(&agdiag::fix::ScriptOptions::default());
    let sql3 = script.find(":Connect SQL3").unwrap_or_else(|| panic!("{script}"));
    assert!(script[sql3..].contains("GRANT CONNECT ON ENDPOINT::[Hadr_endpoint] TO [dbm_login];"), "{script}");
    // The password is the DBA's to choose: CREATE LOGIN stays a commented manual step.
    assert!(script.contains("--   CREATE LOGIN [dbm_certificate_login] WITH PASSWORD = '<strong password>';"), "{script}");
    assert!(script.contains("ALTER AUTHORIZATION ON CERTIFICATE::[dbm_certificate] TO [dbm_certificate_user];"), "{script}");
    assert_eq!(script.matches("ALTER AUTHORIZATION ON CERTIFICATE::").count(), 1, "one owner per certificate: {script}");
    for line in script.lines().filter(|l| l.contains("WITH PASSWORD")) {
        assert!(line.trim_start().starts_with("--"), "a password placeholder must never be executable: {line}");
    }
}

#[test]
fn read_scale_partner_certificate_login_without_connect_is_an_error() {
    // CLUSTER_TYPE = NONE and a workgroup: the same certificate rules as Linux.
    let mut snap = fixture("read-scale-none-3-replica.json");
    remove_where(&mut snap, "SQL2", "server_permissions", |p| p.int("major_id") == Some(65536));
    let report = run(snap);
    let f = single(&report, "accounts.certificate_connect_missing");
    assert_eq!(f.instance.as_deref(), Some("SQL2"));
    assert_eq!(f.evidence["presented_by"], json!(["SQL1", "SQL3"]));
    // The workgroup service accounts are not the problem: the endpoints use certificates.
    assert_none(&report, "accounts.certificate_required");
    assert_none(&report, "accounts.login_missing");
}

#[test]
fn linux_without_the_wsfc_views_still_judges_the_cluster_checks() {
    // On Linux the WSFC DMVs may fail or be skipped: an AG with CLUSTER_TYPE = EXTERNAL needs no WSFC.
    let mut snap = linux();
    for inst in snap.instances.iter_mut() {
        inst.results.remove("dm_hadr_cluster");
        inst.results.remove("dm_hadr_cluster_members");
    }
    let report = run(snap);
    assert!(complaints(&report).is_empty(), "{:#?}", complaints(&report));
    assert_all_pass(&report, &["hadr.no_cluster", "health.quorum", "health.cluster_member_down"]);
}

#[test]
fn a_2012_primary_databases_own_row_is_known_without_is_primary_replica() {
    // SQL2 (synchronous) is catching up: its row and the primary database's own row say SYNCHRONIZING.
    // Only SQL2 is behind; without is_primary_replica (2014+) the primary's row is the current primary's.
    let mut snap = fixture("version-2012.json");
    let of = |id: &'static str| move |r: &Row| r.str("replica_id") == Some(id);
    for (server, id) in [("SQL1", "1B0D5B9E-3C2A-4F7E-9D61-0A8E2C4B7F01"), ("SQL1", "2C1E6CAF-4D3B-4081-8E72-1B9F3D5C8A02"), ("SQL2", "2C1E6CAF-4D3B-4081-8E72-1B9F3D5C8A02")] {
        set_where(&mut snap, server, "dm_hadr_database_replica_states", of(id), "synchronization_state", json!(1));
        set_where(&mut snap, server, "dm_hadr_database_replica_states", of(id), "synchronization_state_desc", json!("SYNCHRONIZING"));
    }
    let report = run(snap);
    let found = findings_of(&report, "health.synchronization");
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].replica.as_deref(), Some("SQL2"));
}

#[test]
fn certificates_without_thumbprints_are_matched_by_issuer_and_serial_number() {
    let mut snap = linux();
    for server in ["SQL1", "SQL2", "SQL3"] {
        for row in rows_mut(&mut snap, server, "certificates") {
            row.remove("thumbprint");
        }
    }
    let report = run(snap.clone());
    assert!(complaints(&report).is_empty(), "{:#?}", complaints(&report));
    assert_all_pass(&report, &["accounts.partner_certificate_missing"]);
    set_where(&mut snap, "SQL2", "certificates", is_cert, "cert_serial_number", json!("00 11 22 33"));
    let report = run(snap);
    assert_eq!(findings_of(&report, "accounts.partner_certificate_missing").len(), 3);
}

#[test]
fn an_unreachable_named_instance_on_a_static_port_is_matched_to_its_replica() {
    // The collector connected to sql3.contoso.com,1450: a failed connection has no ServerName, but
    // the host and port still name SQL3\INST1, so its gaps carry the connection error.
    let mut snap = fixture("named-instances-static-port.json");
    disconnect(&mut snap, "SQL3\\INST1");
    let report = run(snap);
    let gaps = not_evaluated_on(&report, "endpoint.port_mismatch");
    assert!(
        gaps.iter().any(|(subject, why)| subject.contains("SQL3\\INST1") && why.contains("timed out")),
        "{gaps:?}"
    );
    assert!(!gaps.iter().any(|(_, why)| why.contains("was not collected")), "{gaps:?}");
}

#[test]
fn a_pacemaker_listener_ip_is_not_judged_by_wsfc_resource_state() {
    // The listener's virtual IP of a CLUSTER_TYPE = EXTERNAL AG is a Pacemaker resource: SQL Server's
    // view of it says nothing about WSFC IP resources, and the fix cannot be Failover Cluster Manager.
    let mut snap = linux();
    for server in ["SQL1", "SQL2", "SQL3"] {
        set_where(&mut snap, server, "availability_group_listener_ip_addresses", |_| true, "state", json!(0));
        set_where(&mut snap, server, "availability_group_listener_ip_addresses", |_| true, "state_desc", json!("OFFLINE"));
    }
    let report = run(snap);
    assert!(complaints(&report).is_empty(), "{:#?}", complaints(&report));
    assert_all_pass(&report, &["listener.no_online_ip"]);
    // The same rows on a WSFC AG are an error.
    let mut snap = healthy();
    set_everywhere(&mut snap, "availability_group_listener_ip_addresses", |_| true, "state_desc", json!("OFFLINE"));
    assert_eq!(findings_of(&run(snap), "listener.no_online_ip").len(), 1);
}
