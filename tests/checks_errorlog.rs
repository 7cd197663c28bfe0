mod common;

use agdiag::checks::CheckStatus;
use agdiag::findings::{Phase, Severity};
use agdiag::fix::ScriptOptions;
use agdiag::snapshot::Row;
use agdiag::Snapshot;
use common::*;
use serde_json::json;

const ALL: &[&str] = &[
    "errorlog.connect_permission",
    "errorlog.encryption_mismatch",
    "errorlog.certificate",
    "errorlog.port_in_use",
    "errorlog.ag_errors",
];

fn log(snap: &mut Snapshot, server: &str, date: &str, process: &str, text: &str) {
    push_row(snap, server, "errorlog", json!({ "LogDate": date, "ProcessInfo": process, "Text": text }));
}

fn handshake_28034(user: &str) -> String {
    format!(
        "Database Mirroring login attempt by user '{user}.' failed with error: 'Connection handshake failed. The login \
         '{user}' does not have CONNECT permission on the endpoint. State 84.'.  [CLIENT: 10.0.0.13]"
    )
}

/// SQL3's service account changed to its virtual account: SQL1 logs its computer account's attempts.
fn sql3_attempts(snap: &mut Snapshot, user: &str, times: &[&str]) {
    for t in times {
        log(snap, "SQL1", t, "Logon", &handshake_28034(user));
    }
}

#[test]
fn healthy_example_passes_every_errorlog_check() {
    let report = run(healthy());
    assert_all_pass(&report, ALL);
}

#[test]
fn errorlog_not_collected_is_not_evaluated() {
    let mut snap = healthy();
    for s in ["SQL1", "SQL2", "SQL3"] {
        drop_key(&mut snap, s, "errorlog");
    }
    let report = run(snap);
    for check in ALL {
        assert_eq!(status_of(&report, check), CheckStatus::NotEvaluated, "{check}");
    }
}

#[test]
fn repeated_28034_is_one_finding_with_count_last_time_and_a_guarded_grant() {
    let mut snap = healthy();
    sql3_attempts(&mut snap, "CONTOSO\\SQL3$", &["2026-11-22T09:58:12.410", "2026-11-22T10:08:12.933", "2026-11-22T10:18:13.207"]);
    let report = run(snap);
    let f = single(&report, "errorlog.connect_permission");
    assert_severity(f, Severity::Error);
    assert_eq!(f.instance.as_deref(), Some("SQL1"));
    assert_eq!(f.availability_group.as_deref(), Some("AG1"));
    assert_eq!(f.object.as_deref(), Some("CONTOSO\\SQL3$"));
    assert_eq!(f.evidence["count"], json!(3));
    assert_eq!(f.evidence["first"], json!("2026-11-22T09:58:12.410"));
    assert_eq!(f.evidence["last"], json!("2026-11-22T10:18:13.207"));
    assert_eq!(f.evidence["sample"][0]["LogDate"], json!("2026-11-22T10:18:13.207"));
    assert_eq!(f.evidence["clients"], json!(["10.0.0.13"]));
    assert_eq!(f.evidence["login"], json!("CONTOSO\\SQL3$"));
    for needle in ["3 times between", "10.0.0.13 (SQL3)", "[Hadr_endpoint]", "accounts.login_missing", "State 84"] {
        assert!(f.message.contains(needle), "{needle}: {}", f.message);
    }
    assert_eq!(
        f.fix.as_deref(),
        Some(
            "IF NOT EXISTS (SELECT 1 FROM sys.server_principals WHERE name = N'CONTOSO\\SQL3$') CREATE LOGIN [CONTOSO\\SQL3$] FROM WINDOWS;\n\
             GRANT CONNECT ON ENDPOINT::[Hadr_endpoint] TO [CONTOSO\\SQL3$];"
        )
    );
    assert!(f.fix_steps.iter().all(|s| s.target == "SQL1"));
    assert_eq!(f.fix_steps.iter().map(|s| s.phase).collect::<Vec<_>>(), [Phase::CreateLogin, Phase::GrantConnect]);
    // The remediation names the real endpoint and login, not placeholders.
    assert!(f.remediation.contains("GRANT CONNECT ON ENDPOINT::[Hadr_endpoint] TO [CONTOSO\\SQL3$]"), "{}", f.remediation);
}

#[test]
fn the_grant_names_the_instances_own_endpoint() {
    let mut snap = healthy();
    set_where(&mut snap, "SQL2", "database_mirroring_endpoints", |_| true, "name", json!("Mirror]ing"));
    // NT AUTHORITY\SYSTEM has a login on SQL2 but no CONNECT on the endpoint.
    log(&mut snap, "SQL2", "2026-11-22T10:00:00.000", "Logon", &handshake_28034("NT AUTHORITY\\SYSTEM"));
    let report = run(snap);
    let f = single(&report, "errorlog.connect_permission");
    assert_eq!(f.instance.as_deref(), Some("SQL2"));
    // The login exists on SQL2: no "login_missing" note, and no CREATE LOGIN that would tell the
    // reviewer it is missing.
    assert!(!f.message.contains("accounts.login_missing"), "{}", f.message);
    assert_eq!(f.fix.as_deref(), Some("GRANT CONNECT ON ENDPOINT::[Mirror]]ing] TO [NT AUTHORITY\\SYSTEM];"));
    assert_eq!(f.fix_steps.iter().map(|s| s.phase).collect::<Vec<_>>(), [Phase::GrantConnect]);
    assert_severity(f, Severity::Error);
}

#[test]
fn adversarial_and_non_ascii_logins_are_parsed_and_escaped() {
    let mut snap = healthy();
    sql3_attempts(&mut snap, "CONTOSO\\Jürgen", &["2026-11-22T10:00:00.000"]);
    sql3_attempts(&mut snap, "CONTOSO\\O'Brien]x", &["2026-11-22T10:00:01.000"]);
    let report = run(snap);
    let found = findings_of(&report, "errorlog.connect_permission");
    assert_eq!(found.len(), 2, "{found:#?}");
    assert_eq!(found[0].object.as_deref(), Some("CONTOSO\\Jürgen"));
    assert!(found[0].fix.as_deref().unwrap().contains("TO [CONTOSO\\Jürgen];"));
    assert_eq!(found[1].object.as_deref(), Some("CONTOSO\\O'Brien]x"));
    let fix = found[1].fix.as_deref().unwrap();
    assert!(fix.contains("name = N'CONTOSO\\O''Brien]x')") && fix.contains("TO [CONTOSO\\O'Brien]]x];"), "{fix}");
}

#[test]
fn a_login_with_a_line_break_gets_a_manual_step_not_broken_sql() {
    let mut snap = healthy();
    sql3_attempts(&mut snap, "CONTOSO\\evil\nGO", &["2026-11-22T10:00:00.000"]);
    let report = run(snap);
    let f = single(&report, "errorlog.connect_permission");
    assert!(f.fix.is_none(), "{:?}", f.fix);
    assert!(f.fix_steps.iter().all(|s| s.manual));
    let script = report.fix_script(&ScriptOptions { checks: vec!["errorlog.*".into()], ..Default::default() });
    assert!(!script.lines().any(|l| l.trim() == "GO"), "{script}");
    assert!(script.lines().filter(|l| l.contains("evil")).all(|l| l.starts_with("--")), "{script}");
}

#[test]
fn failures_that_predate_the_grant_are_info() {
    let mut snap = healthy();
    // CONTOSO\svc_sql holds CONNECT on Hadr_endpoint in the healthy example.
    log(&mut snap, "SQL1", "2026-06-12T09:30:00.000", "Logon", &handshake_28034("CONTOSO\\svc_sql"));
    let report = run(snap);
    let f = single(&report, "errorlog.connect_permission");
    assert_severity(f, Severity::Info);
    assert!(f.message.contains("predate the GRANT"), "{}", f.message);
    assert!(f.fix_steps.is_empty());
}

#[test]
fn encryption_mismatch_state_22() {
    let mut snap = healthy();
    for t in ["2026-11-22T10:00:00.000", "2026-11-22T10:00:05.000"] {
        log(
            &mut snap,
            "SQL2",
            t,
            "Logon",
            "Database Mirroring login attempt failed with error: 'Connection handshake failed. There is no compatible \
             encryption algorithm. State 22.'.  [CLIENT: 10.0.0.11]",
        );
    }
    let report = run(snap);
    let f = single(&report, "errorlog.encryption_mismatch");
    assert_severity(f, Severity::Error);
    assert_eq!(f.instance.as_deref(), Some("SQL2"));
    assert_eq!(f.evidence["count"], json!(2));
    assert_eq!(f.evidence["database_mirroring_endpoints"]["encryption_algorithm_desc"], json!("AES"));
    assert!(f.message.contains("10.0.0.11 (SQL1)") && f.message.contains("State 22"), "{}", f.message);
    assert!(f.fix_steps[0].manual);
    assert_none(&report, "errorlog.connect_permission");
}

#[test]
fn tls_common_algorithm_failure_counts_as_encryption() {
    let mut snap = healthy();
    log(
        &mut snap,
        "SQL3",
        "2026-11-22T10:00:00.000",
        "Logon",
        "Database Mirroring login attempt failed with error: 'Connection handshake failed. An OS call failed: (80090331) \
         0x80090331(The client and server cannot communicate, because they do not possess a common algorithm.). State 56.'.",
    );
    assert_eq!(single(&run(snap), "errorlog.encryption_mismatch").instance.as_deref(), Some("SQL3"));
}

#[test]
fn certificate_failures_one_finding_per_error_number() {
    let mut snap = healthy();
    let texts = [
        "Database Mirroring login attempt failed with error: 'Connection handshake failed. The certificate used by the peer is invalid due to the following reason: Certificate not found. State 89.'.",
        "Database Mirroring login attempt failed with error: 'Connection handshake failed. The certificate used by the peer is invalid due to the following reason: Certificate not found. State 89.'.",
        "Database Mirroring login attempt failed with error: 'Connection handshake failed. The certificate used by the peer does not match the one in master database with same issuer name and serial number. State 42.'.",
    ];
    for (i, t) in texts.iter().enumerate() {
        log(&mut snap, "SQL1", &format!("2026-11-22T10:00:0{i}.000"), "Logon", t);
    }
    let report = run(snap);
    let found = findings_of(&report, "errorlog.certificate");
    assert_eq!(found.len(), 2, "{found:#?}");
    assert_eq!(found[0].related_errors, [28035]);
    assert_eq!(found[0].evidence["count"], json!(2));
    assert_eq!(found[1].related_errors, [28045]);
    assert!(found[1].message.contains("does not match"), "{}", found[1].message);
}

#[test]
fn port_in_use_9692_with_header_line() {
    let mut snap = healthy();
    log(&mut snap, "SQL2", "2026-11-22T03:14:09.500", "Server", "Error: 9692, Severity: 16, State: 1.");
    log(
        &mut snap,
        "SQL2",
        "2026-11-22T03:14:09.500",
        "Server",
        "The Database Mirroring endpoint cannot listen on port 5022 because it is in use by another process.",
    );
    // The endpoint really is not listening.
    remove_where(&mut snap, "SQL2", "dm_tcp_listener_states", |r: &Row| r.str("type_desc") == Some("DATABASE_MIRRORING"));
    let report = run(snap);
    let f = single(&report, "errorlog.port_in_use");
    assert_severity(f, Severity::Error);
    assert_eq!(f.object.as_deref(), Some("port 5022"));
    assert_eq!(f.evidence["port"], json!(5022));
    assert_eq!(f.evidence["count"], json!(1));
    assert_eq!(f.evidence["sample"].as_array().unwrap().len(), 2, "header and message");
    assert!(f.fix_steps[0].text.contains("Get-NetTCPConnection -LocalPort 5022"));
}

#[test]
fn port_in_use_is_read_from_messages_with_non_ascii_text_before_it() {
    // Unicode lowercasing changes byte lengths ('İ' grows, the Kelvin sign 'K' shrinks), so an offset
    // found in the lowercased text pointed elsewhere in the original: a wrong port, or a panic.
    for prefix in ["İİ ", "\u{212a}\u{212a} "] {
        let mut snap = healthy();
        log(
            &mut snap,
            "SQL2",
            "2026-11-22T03:14:09.500",
            "Server",
            &format!("{prefix}The Database Mirroring endpoint cannot listen on port 5022 because it is in use by another process."),
        );
        remove_where(&mut snap, "SQL2", "dm_tcp_listener_states", |r: &Row| r.str("type_desc") == Some("DATABASE_MIRRORING"));
        let report = run(snap);
        let f = single(&report, "errorlog.port_in_use");
        assert_eq!(f.evidence["port"], json!(5022), "{prefix}");
        assert_eq!(f.object.as_deref(), Some("port 5022"));
    }
}

#[test]
fn port_in_use_that_has_since_cleared_is_info() {
    let mut snap = healthy();
    log(
        &mut snap,
        "SQL2",
        "2026-11-01T03:14:09.500",
        "Server",
        "The Database Mirroring endpoint cannot listen on port 5022 because it is in use by another process.",
    );
    let f = &run(snap).findings.into_iter().find(|f| f.check == "errorlog.port_in_use").unwrap();
    assert_severity(f, Severity::Info);
    assert!(f.message.contains("conflict has ended"), "{}", f.message);
}

#[test]
fn ag_errors_are_summarized_per_instance_and_number() {
    let mut snap = healthy();
    for t in ["2026-11-22T10:01:44.120", "2026-11-22T10:21:47.388"] {
        log(&mut snap, "SQL3", t, "spid61", "Error: 35250, Severity: 16, State: 7.");
        log(&mut snap, "SQL3", t, "spid61", "The connection to the primary replica is not active.  The command cannot be processed.");
    }
    log(
        &mut snap,
        "SQL3",
        "2026-11-22T10:22:05.870",
        "spid38s",
        "A connection timeout has occurred while attempting to establish a connection to availability replica 'SQL1' with id \
         [1B0D5B9E-3C2A-4F7E-9D61-0A8E2C4B7F01]. Either a networking or firewall issue exists, or the endpoint address \
         provided for the replica is not the database mirroring endpoint of the host server instance.",
    );
    log(&mut snap, "SQL1", "2026-11-22T10:30:00.000", "spid70", "Error: 1418, Severity: 16, State: 1.");
    log(
        &mut snap,
        "SQL1",
        "2026-11-22T10:30:00.000",
        "spid70",
        "The server network address \"TCP://sql3.contoso.com:5023\" can not be reached or does not exist. Check the network \
         address name and that the ports for the local and remote endpoints are operational.",
    );
    let report = run(snap);
    let found = findings_of(&report, "errorlog.ag_errors");
    let keys: Vec<(Option<&str>, &[u32])> = found.iter().map(|f| (f.instance.as_deref(), f.related_errors.as_slice())).collect();
    // The report orders by instance, then object (the error number).
    assert_eq!(keys, [(Some("SQL1"), &[1418][..]), (Some("SQL3"), &[35201][..]), (Some("SQL3"), &[35250][..])]);
    let f35250 = found[2];
    assert_severity(f35250, Severity::Warning);
    assert_eq!(f35250.evidence["count"], json!(2), "header lines are not counted twice");
    assert_eq!(f35250.evidence["first"], json!("2026-11-22T10:01:44.120"));
    assert_eq!(f35250.evidence["last"], json!("2026-11-22T10:21:47.388"));
    assert!(f35250.message.contains("2 times between") && f35250.message.contains("errorlog.connect_permission"));
    assert_eq!(f35250.id, "errorlog.ag_errors@SQL3/35250");
    assert!(found[0].message.contains("TCP://sql3.contoso.com:5023"));
}

#[test]
fn informational_connection_messages_are_ignored() {
    let mut snap = healthy();
    log(
        &mut snap,
        "SQL1",
        "2026-11-22T10:00:00.000",
        "spid52s",
        "A connection for availability group 'AG1' from availability replica 'SQL1' with id  [1B0D5B9E-3C2A-4F7E-9D61-0A8E2C4B7F01] to 'SQL3' with id [3D2F7DB0-5E4C-4192-9F83-2CA04E6D9B03] has been successfully established.  This is an informational message only. No user action is required.",
    );
    log(&mut snap, "SQL1", "2026-11-22T10:00:01.000", "Logon", "Error: 18456, Severity: 14, State: 8.");
    log(&mut snap, "SQL1", "2026-11-22T10:00:01.000", "Logon", "Login failed for user 'app'. Reason: Password did not match that for the login provided. [CLIENT: 10.0.0.99]");
    let report = run(snap);
    for check in ALL {
        assert_none(&report, check);
    }
}

#[test]
fn broken_example_reports_the_sql3_computer_account_and_the_35250s() {
    let report = run(Snapshot::from_json(BROKEN).unwrap());
    let f = single(&report, "errorlog.connect_permission");
    assert_eq!(f.instance.as_deref(), Some("SQL1"));
    assert_eq!(f.object.as_deref(), Some("CONTOSO\\SQL3$"));
    assert_eq!(f.evidence["count"], json!(5));
    assert!(findings_of(&report, "errorlog.ag_errors").iter().any(|f| f.related_errors == [35250]));
}
