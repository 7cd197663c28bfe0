mod common;

use agdiag::checks::CheckStatus;
use agdiag::findings::{Phase, Severity};
use agdiag::fix::ScriptOptions;
use agdiag::snapshot::Row;
use common::*;
use serde_json::json;

const ALL: &[&str] = &[
    "endpoint.missing",
    "endpoint.role",
    "endpoint.not_started",
    "endpoint.port_mismatch",
    "endpoint.not_listening",
    "endpoint.owner",
    "endpoint.rc4",
    "endpoint.encryption_incompatible",
    "endpoint.auth_incompatible",
];

const DMEP: &str = "database_mirroring_endpoints";

fn any(_: &Row) -> bool {
    true
}

fn mirroring(r: &Row) -> bool {
    r.int("type") == Some(4)
}

/// Sets the endpoint's encryption columns on one instance, as `ALTER ENDPOINT` would leave them.
fn set_encryption(snap: &mut agdiag::Snapshot, server: &str, desc: &str, code: i64) {
    set_where(snap, server, DMEP, any, "encryption_algorithm_desc", json!(desc));
    set_where(snap, server, DMEP, any, "encryption_algorithm", json!(code));
    set_where(snap, server, DMEP, any, "is_encryption_enabled", json!(desc != "NONE"));
}

/// Makes `owner` (a new Windows login with principal_id 263) the owner of SQL2's endpoint.
fn owned_by(snap: &mut agdiag::Snapshot, owner: &str, disabled: i64) {
    push_row(
        snap,
        "SQL2",
        "server_principals",
        json!({"name": owner, "principal_id": 263, "type": "U", "type_desc": "WINDOWS_LOGIN", "is_disabled": disabled}),
    );
    for key in [DMEP, "endpoints", "tcp_endpoints"] {
        set_where(snap, "SQL2", key, mirroring, "principal_id", json!(263));
    }
}

#[test]
fn healthy_example_passes_every_endpoint_check() {
    let report = run(healthy());
    assert_all_pass(&report, ALL);
}

// ----- endpoint.missing ---------------------------------------------------------------------------

#[test]
fn created_endpoint_is_owned_by_sa_under_its_current_name_not_by_whoever_runs_the_script() {
    let mut snap = healthy();
    rows_mut(&mut snap, "SQL3", DMEP).clear();
    remove_where(&mut snap, "SQL3", "tcp_endpoints", mirroring);
    remove_where(&mut snap, "SQL3", "endpoints", mirroring);
    set_where(&mut snap, "SQL3", "server_principals", |p| p.int("principal_id") == Some(1), "name", json!("sqladmin"));
    let report = run(snap);
    let f = single(&report, "endpoint.missing");
    let create = &f.fix_steps[0].text;
    assert!(create.contains("CREATE ENDPOINT [Hadr_endpoint] AUTHORIZATION [sqladmin] AS TCP (LISTENER_PORT = 5022)"), "{create}");
    assert!(f.remediation.contains("AUTHORIZATION [sqladmin]"), "{}", f.remediation);
}

#[test]
fn replica_without_an_endpoint_gets_create_and_start_on_the_urls_port() {
    let mut snap = healthy();
    rows_mut(&mut snap, "SQL3", DMEP).clear();
    remove_where(&mut snap, "SQL3", "tcp_endpoints", mirroring);
    remove_where(&mut snap, "SQL3", "endpoints", mirroring);
    // The AG expects SQL3's endpoint on 5023: the created endpoint must listen there.
    set_everywhere(&mut snap, "availability_replicas", is_name("replica_server_name", "SQL3"), "endpoint_url", json!("TCP://sql3.contoso.com:5023"));
    let report = run(snap);
    let f = single(&report, "endpoint.missing");
    assert_severity(f, Severity::Error);
    assert_eq!(f.instance.as_deref(), Some("SQL3"));
    assert_eq!(f.availability_group.as_deref(), Some("AG1"));
    assert_eq!(f.object.as_deref(), Some("Hadr_endpoint"));
    assert!(f.message.contains("no database mirroring endpoint") && f.message.contains("35250"), "{}", f.message);
    assert_eq!(f.evidence["database_mirroring_endpoints"], json!([]));
    assert_eq!(f.evidence["endpoint_urls"][0]["endpoint_url"], json!("TCP://sql3.contoso.com:5023"));
    assert_eq!(f.evidence["listener_port"], json!(5023));
    assert_eq!(
        f.fix.as_deref(),
        Some(
            "IF NOT EXISTS (SELECT 1 FROM sys.database_mirroring_endpoints) CREATE ENDPOINT [Hadr_endpoint] AUTHORIZATION [sa] AS TCP (LISTENER_PORT = 5023) \
             FOR DATABASE_MIRRORING (ROLE = ALL, AUTHENTICATION = WINDOWS NEGOTIATE, ENCRYPTION = REQUIRED ALGORITHM AES);\n\
             IF (SELECT state FROM sys.endpoints WHERE name = N'Hadr_endpoint') <> 0 ALTER ENDPOINT [Hadr_endpoint] STATE = STARTED;"
        )
    );
    let phases: Vec<Phase> = f.fix_steps.iter().map(|s| s.phase).collect();
    assert_eq!(phases, [Phase::CreateEndpoint, Phase::StartEndpoint]);
    assert!(f.fix_steps.iter().all(|s| s.target == "SQL3"));
    // The other endpoint checks have nothing to judge on SQL3 and stay silent.
    for check in ["endpoint.not_started", "endpoint.role", "endpoint.port_mismatch", "endpoint.owner"] {
        assert_none(&report, check);
    }
}

#[test]
fn instance_with_always_on_but_no_replica_yet_is_a_warning_and_a_disabled_one_is_not_judged() {
    let mut snap = healthy();
    // SQL3 is not (yet) part of AG1: no replica row anywhere, no AG rows of its own.
    for s in ["SQL1", "SQL2", "SQL3"] {
        remove_where(&mut snap, s, "availability_replicas", is_name("replica_server_name", "SQL3"));
    }
    rows_mut(&mut snap, "SQL3", "availability_groups").clear();
    rows_mut(&mut snap, "SQL3", "availability_replicas").clear();
    rows_mut(&mut snap, "SQL3", DMEP).clear();
    let report = run(snap.clone());
    let f = single(&report, "endpoint.missing");
    assert_severity(f, Severity::Warning);
    assert_eq!(f.instance.as_deref(), Some("SQL3"));
    assert_eq!(f.availability_group, None);
    assert!(f.fix.as_deref().unwrap().contains("LISTENER_PORT = 5022"));

    set_where(&mut snap, "SQL3", "server_properties", any, "IsHadrEnabled", json!(0));
    assert_none(&run(snap), "endpoint.missing");
}

// ----- endpoint.role ------------------------------------------------------------------------------

#[test]
fn witness_only_endpoint_on_a_replica_is_an_error_and_partner_is_fine() {
    let mut snap = healthy();
    set_where(&mut snap, "SQL2", DMEP, any, "role", json!(2));
    set_where(&mut snap, "SQL2", DMEP, any, "role_desc", json!("WITNESS"));
    let report = run(snap.clone());
    let f = single(&report, "endpoint.role");
    assert_severity(f, Severity::Error);
    assert_eq!(f.instance.as_deref(), Some("SQL2"));
    assert!(f.message.contains("role_desc = WITNESS"), "{}", f.message);
    assert_eq!(f.evidence["database_mirroring_endpoints"]["role_desc"], json!("WITNESS"));
    assert_eq!(
        f.fix.as_deref(),
        Some(
            "IF EXISTS (SELECT 1 FROM sys.database_mirroring_endpoints WHERE name = N'Hadr_endpoint' AND role NOT IN (1, 3)) \
             ALTER ENDPOINT [Hadr_endpoint] FOR DATABASE_MIRRORING (ROLE = ALL);"
        )
    );
    assert_eq!(f.fix_steps[0].phase, Phase::AlterEndpoint);

    set_where(&mut snap, "SQL2", DMEP, any, "role", json!(1));
    set_where(&mut snap, "SQL2", DMEP, any, "role_desc", json!("PARTNER"));
    assert_none(&run(snap), "endpoint.role");
}

// ----- endpoint.not_started -----------------------------------------------------------------------

#[test]
fn stopped_and_disabled_endpoints_are_started_in_the_start_phase() {
    let mut snap = healthy();
    set_where(&mut snap, "SQL2", DMEP, any, "state", json!(1));
    set_where(&mut snap, "SQL2", DMEP, any, "state_desc", json!("STOPPED"));
    set_where(&mut snap, "SQL3", DMEP, any, "state", json!(2));
    set_where(&mut snap, "SQL3", DMEP, any, "state_desc", json!("DISABLED"));
    let report = run(snap);
    let found = findings_of(&report, "endpoint.not_started");
    assert_eq!(found.len(), 2);
    assert_eq!(found[0].instance.as_deref(), Some("SQL2"));
    assert!(found[0].message.contains("STOPPED") && found[0].message.contains("listens but does not process"));
    assert!(found[1].message.contains("DISABLED") && found[1].message.contains("does not even listen"));
    for f in &found {
        assert_severity(f, Severity::Error);
        assert_eq!(f.fix_steps[0].phase, Phase::StartEndpoint);
        assert_eq!(
            f.fix.as_deref(),
            Some("IF (SELECT state FROM sys.endpoints WHERE name = N'Hadr_endpoint') <> 0 ALTER ENDPOINT [Hadr_endpoint] STATE = STARTED;")
        );
    }
    // A stopped endpoint is not also "not listening".
    assert_none(&report, "endpoint.not_listening");
}

#[test]
fn state_code_is_enough_when_state_desc_is_absent() {
    let mut snap = healthy();
    for s in ["SQL1", "SQL2", "SQL3"] {
        for row in rows_mut(&mut snap, s, DMEP).iter_mut() {
            row.remove("state_desc");
        }
    }
    assert_none(&run(snap.clone()), "endpoint.not_started");
    set_where(&mut snap, "SQL1", DMEP, any, "state", json!(1));
    let report = run(snap);
    assert!(single(&report, "endpoint.not_started").message.contains("STOPPED"));
}

#[test]
fn endpoint_names_that_cannot_be_scripted_become_manual_steps() {
    let mut snap = healthy();
    set_where(&mut snap, "SQL2", DMEP, any, "name", json!("Hadr\r\nGO\r\nDROP LOGIN x"));
    set_where(&mut snap, "SQL2", DMEP, any, "state_desc", json!("STOPPED"));
    let report = run(snap);
    let f = single(&report, "endpoint.not_started");
    assert!(f.fix.is_none());
    assert!(f.fix_steps[0].manual && f.fix_steps[0].text.contains("cannot be scripted safely"));
    let script = report.fix_script(&ScriptOptions { checks: vec!["endpoint.*".into()], ..Default::default() });
    assert!(script.lines().filter(|l| l.contains("DROP LOGIN")).all(|l| l.starts_with("--")), "{script}");
}

// ----- endpoint.port_mismatch ---------------------------------------------------------------------

#[test]
fn url_port_differing_from_the_endpoint_port_is_fixed_on_the_primary() {
    let mut snap = healthy();
    set_everywhere(&mut snap, "availability_replicas", is_name("replica_server_name", "SQL3"), "endpoint_url", json!("TCP://sql3.contoso.com:5023"));
    let report = run(snap);
    let f = single(&report, "endpoint.port_mismatch");
    assert_severity(f, Severity::Error);
    assert_eq!(f.instance.as_deref(), Some("SQL3"));
    assert_eq!(f.replica.as_deref(), Some("SQL3"));
    assert_eq!(f.availability_group.as_deref(), Some("AG1"));
    assert!(f.message.contains("TCP://sql3.contoso.com:5023") && f.message.contains("port 5022") && f.message.contains("1418"), "{}", f.message);
    assert_eq!(f.evidence["url_port"], json!(5023));
    assert_eq!(f.evidence["tcp_endpoints"]["port"], json!(5022));
    assert_eq!(f.evidence["seen_on"], json!("SQL1"));
    assert_eq!(f.fix_steps.len(), 1);
    assert_eq!(f.fix_steps[0].target, "SQL1");
    assert_eq!(f.fix_steps[0].phase, Phase::ReplicaOptions);
    assert_eq!(
        f.fix.as_deref(),
        Some("ALTER AVAILABILITY GROUP [AG1] MODIFY REPLICA ON N'SQL3' WITH (ENDPOINT_URL = N'TCP://sql3.contoso.com:5022');")
    );
    assert!(f.remediation.contains("LISTENER_PORT = 5023"), "the alternative is named: {}", f.remediation);
}

#[test]
fn endpoint_moved_to_the_urls_port_is_not_a_mismatch() {
    let mut snap = healthy();
    set_everywhere(&mut snap, "availability_replicas", is_name("replica_server_name", "SQL3"), "endpoint_url", json!("TCP://sql3.contoso.com:5023"));
    set_where(&mut snap, "SQL3", "tcp_endpoints", mirroring, "port", json!(5023));
    set_where(&mut snap, "SQL3", "dm_tcp_listener_states", |r| r.int("type") == Some(2), "port", json!(5023));
    let report = run(snap);
    assert_none(&report, "endpoint.port_mismatch");
    assert_none(&report, "endpoint.not_listening");
}

#[test]
fn port_of_an_unreachable_replica_is_not_evaluated_with_the_connect_error() {
    let mut snap = healthy();
    disconnect(&mut snap, "SQL3");
    let report = run(snap);
    assert_none(&report, "endpoint.port_mismatch");
    assert_eq!(status_of(&report, "endpoint.port_mismatch"), CheckStatus::Pass);
    let gaps = not_evaluated_on(&report, "endpoint.port_mismatch");
    let (_, reason) = gaps.iter().find(|(s, _)| s == "SQL3 (AG1)").unwrap_or_else(|| panic!("{gaps:?}"));
    assert!(reason.contains("timed out"), "{reason}");
}

// ----- endpoint.not_listening ---------------------------------------------------------------------

#[test]
fn started_endpoint_without_a_mirroring_listener_names_error_9692_and_how_to_find_the_process() {
    let mut snap = healthy();
    remove_where(&mut snap, "SQL2", "dm_tcp_listener_states", |r| r.is("type_desc", "DATABASE_MIRRORING"));
    push_row(
        &mut snap,
        "SQL2",
        "errorlog",
        json!({"LogDate": "2026-11-22T03:14:09.500", "ProcessInfo": "Server",
               "Text": "The Database Mirroring endpoint cannot listen on port 5022 because it is in use by another process."}),
    );
    let report = run(snap);
    let f = single(&report, "endpoint.not_listening");
    assert_severity(f, Severity::Error);
    assert_eq!(f.instance.as_deref(), Some("SQL2"));
    assert!(f.message.contains("STARTED on port 5022") && f.message.contains("no DATABASE_MIRRORING listener"), "{}", f.message);
    assert_eq!(f.evidence["dm_tcp_listener_states"], json!([]));
    assert!(f.evidence["errorlog"][0]["Text"].as_str().unwrap().contains("in use by another process"));
    assert!(f.fix.is_none());
    let step = &f.fix_steps[0];
    assert!(step.manual && step.phase == Phase::Prerequisite);
    assert!(step.text.contains("netstat -ano | findstr :5022") && step.text.contains("Get-NetTCPConnection -LocalPort 5022"), "{}", step.text);
}

#[test]
fn mirroring_listener_on_another_port_is_reported_and_the_right_port_is_not() {
    let mut snap = healthy();
    set_where(&mut snap, "SQL2", "dm_tcp_listener_states", |r| r.int("type") == Some(2), "port", json!(5023));
    let report = run(snap.clone());
    let f = single(&report, "endpoint.not_listening");
    assert!(f.message.contains("on port 5023 instead"), "{}", f.message);
    assert!(f.message.contains("9692"), "without a log line the usual cause is named: {}", f.message);

    // Only one of the two wildcard rows (IPv4) is enough.
    let mut snap = healthy();
    remove_where(&mut snap, "SQL2", "dm_tcp_listener_states", |r| r.int("type") == Some(2) && r.str("ip_address") == Some("::"));
    assert_none(&run(snap), "endpoint.not_listening");
}

#[test]
fn listener_states_denied_is_not_evaluated_with_the_permission_error() {
    let mut snap = healthy();
    for s in ["SQL1", "SQL2", "SQL3"] {
        deny_key(&mut snap, s, "dm_tcp_listener_states", 300, "VIEW SERVER STATE permission was denied on object 'server', database 'master'.");
    }
    let report = run(snap);
    let result = report.checks.iter().find(|c| c.check == "endpoint.not_listening").unwrap();
    assert_eq!(result.status, CheckStatus::NotEvaluated);
    assert!(result.reason.as_deref().unwrap().contains("error 300"), "{:?}", result.reason);
}

// ----- endpoint.owner -----------------------------------------------------------------------------

#[test]
fn personal_owner_is_a_warning_and_the_fix_regrants_every_connect() {
    let mut snap = healthy();
    owned_by(&mut snap, "CONTOSO\\jsmith", 0);
    // A second grantee holding CONNECT WITH GRANT OPTION, and an unrelated DENY.
    push_row(&mut snap, "SQL2", "server_principals", json!({"name": "CONTOSO\\SQL3$", "principal_id": 264, "type": "U", "type_desc": "WINDOWS_LOGIN", "is_disabled": 0}));
    push_row(
        &mut snap,
        "SQL2",
        "server_permissions",
        json!({"class": 105, "class_desc": "ENDPOINT", "major_id": 65536, "minor_id": 0, "grantee_principal_id": 264,
               "grantor_principal_id": 263, "type": "CO  ", "permission_name": "CONNECT", "state": "W", "state_desc": "GRANT_WITH_GRANT_OPTION"}),
    );
    push_row(
        &mut snap,
        "SQL2",
        "server_permissions",
        json!({"class": 105, "class_desc": "ENDPOINT", "major_id": 65536, "minor_id": 0, "grantee_principal_id": 262,
               "grantor_principal_id": 263, "type": "VW  ", "permission_name": "VIEW DEFINITION", "state": "G", "state_desc": "GRANT"}),
    );
    let report = run(snap);
    let f = single(&report, "endpoint.owner");
    assert_severity(f, Severity::Warning);
    assert_eq!(f.instance.as_deref(), Some("SQL2"));
    assert_eq!(f.object.as_deref(), Some("Hadr_endpoint"));
    assert!(f.message.contains("CONTOSO\\jsmith") && f.message.contains("15141") && f.message.contains("personal"), "{}", f.message);
    assert_eq!(f.evidence["owner"]["name"], json!("CONTOSO\\jsmith"));
    assert_eq!(f.evidence["server_permissions"].as_array().unwrap().len(), 3);
    assert_eq!(f.evidence["not_restored"][0]["permission_name"], json!("VIEW DEFINITION"));
    assert_eq!(
        f.fix.as_deref(),
        Some(
            "IF NOT EXISTS (SELECT 1 FROM sys.endpoints AS e JOIN sys.server_principals AS p ON p.principal_id = e.principal_id \
             WHERE e.name = N'Hadr_endpoint' AND p.name = N'sa') ALTER AUTHORIZATION ON ENDPOINT::[Hadr_endpoint] TO [sa];\n\
             GRANT CONNECT ON ENDPOINT::[Hadr_endpoint] TO [CONTOSO\\svc_sql];\n\
             GRANT CONNECT ON ENDPOINT::[Hadr_endpoint] TO [CONTOSO\\SQL3$] WITH GRANT OPTION;"
        )
    );
    let phases: Vec<Phase> = f.fix_steps.iter().filter(|s| !s.manual).map(|s| s.phase).collect();
    assert_eq!(phases, [Phase::EndpointOwner, Phase::GrantConnect, Phase::GrantConnect]);
    assert!(f.fix_steps.iter().any(|s| s.manual && s.text.contains("not_restored")));
    assert!(f.remediation.contains("drops every permission"), "{}", f.remediation);
    // In the script, the ownership change comes before the re-grants.
    let script = report.fix_script(&ScriptOptions { checks: vec!["endpoint.owner".into()], ..Default::default() });
    let alter = script.find("ALTER AUTHORIZATION").expect(&script);
    let grant = script.find("GRANT CONNECT ON ENDPOINT::[Hadr_endpoint] TO [CONTOSO\\svc_sql]").expect(&script);
    assert!(alter < grant, "{script}");
}

#[test]
fn service_accounts_and_machine_accounts_as_owner_are_not_personal() {
    for owner in ["CONTOSO\\svc_sql", "CONTOSO\\SQL2$", "NT SERVICE\\MSSQLSERVER"] {
        let mut snap = healthy();
        owned_by(&mut snap, owner, 0);
        assert_none(&run(snap), "endpoint.owner");
    }
}

#[test]
fn disabled_or_vanished_owner_is_an_error_but_disabled_sa_is_normal() {
    let mut snap = healthy();
    owned_by(&mut snap, "CONTOSO\\svc_sql_old", 1);
    let report = run(snap);
    let f = single(&report, "endpoint.owner");
    assert_severity(f, Severity::Error);
    assert!(f.message.contains("disabled login"), "{}", f.message);

    let mut snap = healthy();
    set_where(&mut snap, "SQL3", DMEP, any, "principal_id", json!(999));
    let report = run(snap);
    let f = single(&report, "endpoint.owner");
    assert_severity(f, Severity::Error);
    assert!(f.message.contains("principal_id 999"), "{}", f.message);
    assert_eq!(f.evidence["owner"], json!(null));
    // The healthy example's owner is sa (principal_id 1), disabled: no finding (healthy test).
}

#[test]
fn disabled_owner_that_is_a_partners_service_login_is_granted_connect_after_the_transfer() {
    // SQL3 runs as CONTOSO\svc_sql3, whose login on SQL2 owns SQL2's endpoint (so it needed no
    // CONNECT row) and is disabled. Once sa owns the endpoint, that login needs an explicit grant.
    let mut snap = healthy();
    set_where(&mut snap, "SQL3", "dm_server_services", |r| r.str("servicename") == Some("SQL Server (MSSQLSERVER)"), "service_account", json!("CONTOSO\\svc_sql3"));
    owned_by(&mut snap, "CONTOSO\\svc_sql3", 1);
    let report = run(snap);
    let f = single(&report, "endpoint.owner");
    assert_severity(f, Severity::Error);
    let fix = f.fix.as_deref().unwrap();
    assert!(fix.contains("ALTER AUTHORIZATION ON ENDPOINT::[Hadr_endpoint] TO [sa];"), "{fix}");
    assert!(fix.contains("\nGRANT CONNECT ON ENDPOINT::[Hadr_endpoint] TO [CONTOSO\\svc_sql3];"), "{fix}");
    assert!(f.remediation.contains("re-grants CONNECT to CONTOSO\\svc_sql3"), "{}", f.remediation);
    // The script enables the login, transfers ownership, then grants.
    let script = report.fix_script(&ScriptOptions::default());
    let pos = |needle: &str| script.find(needle).unwrap_or_else(|| panic!("{needle} missing from\n{script}"));
    assert!(pos("ALTER LOGIN [CONTOSO\\svc_sql3] ENABLE;") < pos("ALTER AUTHORIZATION"), "{script}");
    assert!(pos("ALTER AUTHORIZATION") < pos("TO [CONTOSO\\svc_sql3];\nGO"), "{script}");

    // A personal owner is not a service login: no grant to it.
    let mut snap = healthy();
    owned_by(&mut snap, "CONTOSO\\jsmith", 0);
    let report = run(snap);
    let f = single(&report, "endpoint.owner");
    assert!(!f.fix.as_deref().unwrap().contains("TO [CONTOSO\\jsmith]"), "{:?}", f.fix);
}

#[test]
fn supported_rc4_against_aes_is_fixed_with_one_statement_that_keeps_supported() {
    // endpoint.rc4 and endpoint.encryption_incompatible both fix SQL3: they must not set the
    // encryption twice to different values (REQUIRED, then SUPPORTED).
    let mut snap = healthy();
    set_encryption(&mut snap, "SQL3", "NONE, RC4", 3);
    let report = run(snap);
    assert_eq!(findings_of(&report, "endpoint.encryption_incompatible").len(), 2);
    single(&report, "endpoint.rc4");
    let script = report.fix_script(&ScriptOptions::default());
    assert_eq!(script.matches("ALTER ENDPOINT [Hadr_endpoint] FOR DATABASE_MIRRORING (ENCRYPTION").count(), 1, "{script}");
    assert!(script.contains("(ENCRYPTION = SUPPORTED ALGORITHM AES);"), "{script}");
    assert!(!script.contains("ENCRYPTION = REQUIRED"), "{script}");
    assert!(
        script.contains("-- endpoint.encryption_incompatible@SQL3/SQL1 <-> SQL3, endpoint.encryption_incompatible@SQL3/SQL2 <-> SQL3, endpoint.rc4@SQL3/Hadr_endpoint\nIF EXISTS"),
        "{script}"
    );
}

#[test]
fn owner_unjudgeable_without_service_accounts_is_not_evaluated() {
    let mut snap = healthy();
    owned_by(&mut snap, "CONTOSO\\jsmith", 0);
    deny_key(&mut snap, "SQL3", "dm_server_services", 300, "VIEW SERVER STATE permission was denied on object 'server', database 'master'.");
    let report = run(snap);
    assert_none(&report, "endpoint.owner");
    let gaps = not_evaluated_on(&report, "endpoint.owner");
    let (_, reason) = gaps.iter().find(|(s, _)| s == "SQL2").unwrap_or_else(|| panic!("{gaps:?}"));
    assert!(reason.contains("CONTOSO\\jsmith") && reason.contains("error 300"), "{reason}");
}

// ----- endpoint.rc4 -------------------------------------------------------------------------------

#[test]
fn rc4_is_a_warning_and_the_fix_keeps_the_encryption_mode() {
    let mut snap = healthy();
    set_encryption(&mut snap, "SQL2", "RC4, AES", 5);
    set_encryption(&mut snap, "SQL3", "NONE, AES, RC4", 8);
    let report = run(snap);
    let found = findings_of(&report, "endpoint.rc4");
    assert_eq!(found.len(), 2);
    assert_severity(found[0], Severity::Warning);
    assert!(found[0].message.contains("RC4, AES") && found[0].message.contains("deprecated"), "{}", found[0].message);
    assert!(found[0].fix.as_deref().unwrap().ends_with("ALTER ENDPOINT [Hadr_endpoint] FOR DATABASE_MIRRORING (ENCRYPTION = REQUIRED ALGORITHM AES);"));
    assert_eq!(found[1].instance.as_deref(), Some("SQL3"));
    assert!(found[1].fix.as_deref().unwrap().contains("encryption_algorithm_desc <> N'NONE, AES'"));
    assert!(found[1].fix.as_deref().unwrap().ends_with("(ENCRYPTION = SUPPORTED ALGORITHM AES);"));
    assert_eq!(found[1].fix_steps[0].phase, Phase::AlterEndpoint);
    // RC4 AES / AES and NONE AES RC4 / AES still share AES: no handshake failure.
    assert_none(&report, "endpoint.encryption_incompatible");
}

// ----- endpoint.encryption_incompatible -----------------------------------------------------------

#[test]
fn disabled_encryption_against_required_fails_both_pairs() {
    let mut snap = healthy();
    set_encryption(&mut snap, "SQL3", "NONE", 0);
    let report = run(snap);
    let found = findings_of(&report, "endpoint.encryption_incompatible");
    assert_eq!(found.len(), 2, "{found:#?}");
    let f = found[0];
    assert_severity(f, Severity::Error);
    assert_eq!(f.object.as_deref(), Some("SQL1 <-> SQL3"));
    assert_eq!(f.instance.as_deref(), Some("SQL3"), "the side to change");
    assert_eq!(f.replica.as_deref(), Some("SQL1"));
    assert_eq!(f.availability_group.as_deref(), Some("AG1"));
    assert!(f.message.contains("SQL3's endpoint has encryption DISABLED while SQL1's REQUIRES it") && f.message.contains("28027"), "{}", f.message);
    assert_eq!(f.evidence["endpoints"][1]["database_mirroring_endpoints"]["encryption_algorithm_desc"], json!("NONE"));
    assert_eq!(f.fix_steps.len(), 1);
    assert_eq!(f.fix_steps[0].target, "SQL3");
    assert!(f.fix.as_deref().unwrap().ends_with("(ENCRYPTION = REQUIRED ALGORITHM AES);"));
    // Both findings carry the same step: the script runs it once.
    let script = report.fix_script(&ScriptOptions { checks: vec!["endpoint.encryption_incompatible".into()], ..Default::default() });
    assert_eq!(script.matches("ENCRYPTION = REQUIRED ALGORITHM AES").count(), 1, "{script}");
}

#[test]
fn rc4_only_against_aes_only_has_no_common_algorithm_but_supported_is_fine() {
    let mut snap = healthy();
    set_encryption(&mut snap, "SQL2", "RC4", 1);
    let report = run(snap);
    let found = findings_of(&report, "endpoint.encryption_incompatible");
    assert_eq!(found.len(), 2);
    assert!(found[0].message.contains("no encryption algorithm in common"), "{}", found[0].message);
    assert_eq!(found[0].instance.as_deref(), Some("SQL2"), "SQL1 <-> SQL2: SQL2 is changed");
    assert!(found.iter().all(|f| f.fix_steps.len() == 1 && f.fix_steps[0].target == "SQL2"));

    // SUPPORTED with RC4 only still encrypts, and shares no algorithm with AES.
    let mut snap = healthy();
    set_encryption(&mut snap, "SQL3", "NONE, RC4", 3);
    assert_eq!(findings_of(&run(snap), "endpoint.encryption_incompatible").len(), 2);

    let mut snap = healthy();
    set_encryption(&mut snap, "SQL3", "NONE, AES", 4);
    assert_none(&run(snap.clone()), "endpoint.encryption_incompatible");
    // DISABLED against SUPPORTED negotiates an unencrypted session.
    set_encryption(&mut snap, "SQL1", "NONE", 0);
    set_encryption(&mut snap, "SQL2", "NONE, AES", 4);
    assert_none(&run(snap), "endpoint.encryption_incompatible");
}

// ----- endpoint.auth_incompatible -----------------------------------------------------------------

#[test]
fn certificate_only_against_windows_only_cannot_authenticate() {
    let mut snap = healthy();
    set_where(&mut snap, "SQL3", DMEP, any, "connection_auth", json!(4));
    set_where(&mut snap, "SQL3", DMEP, any, "connection_auth_desc", json!("CERTIFICATE"));
    set_where(&mut snap, "SQL3", DMEP, any, "certificate_id", json!(256));
    let report = run(snap.clone());
    let found = findings_of(&report, "endpoint.auth_incompatible");
    assert_eq!(found.len(), 2);
    let f = found[0];
    assert_severity(f, Severity::Error);
    assert_eq!(f.instance.as_deref(), Some("SQL3"));
    assert!(f.message.contains("SQL1's endpoint [Hadr_endpoint] accepts Windows authentication only (NEGOTIATE)"), "{}", f.message);
    assert!(f.message.contains("SQL3's endpoint [Hadr_endpoint] accepts CERTIFICATE only"), "{}", f.message);
    assert!(f.fix.is_none() && f.fix_steps.iter().all(|s| s.manual));
    assert!(f.fix_steps[0].text.contains("certificate_id = 256"));
    // Certificates on the Windows side keep Windows authentication for its other partners.
    assert!(f.fix_steps[1].text.contains("(AUTHENTICATION = WINDOWS NEGOTIATE CERTIFICATE <host_cert>)"), "{}", f.fix_steps[1].text);

    set_where(&mut snap, "SQL3", DMEP, any, "connection_auth_desc", json!("CERTIFICATE, NEGOTIATE"));
    set_where(&mut snap, "SQL3", DMEP, any, "connection_auth", json!(10));
    assert_none(&run(snap), "endpoint.auth_incompatible");
}

// ----- not evaluated ------------------------------------------------------------------------------

#[test]
fn missing_denied_or_disconnected_evidence_is_not_evaluated_with_the_reason() {
    // Denied everywhere: nothing to judge.
    let mut snap = healthy();
    for s in ["SQL1", "SQL2", "SQL3"] {
        deny_key(&mut snap, s, DMEP, 229, "The SELECT permission was denied on the object 'database_mirroring_endpoints'.");
    }
    let report = run(snap);
    for check in ["endpoint.missing", "endpoint.role", "endpoint.not_started", "endpoint.rc4", "endpoint.owner"] {
        let result = report.checks.iter().find(|c| c.check == check).unwrap();
        assert_eq!(result.status, CheckStatus::NotEvaluated, "{check}");
        assert!(result.reason.as_deref().unwrap().contains("error 229"), "{check}: {:?}", result.reason);
        assert_none(&report, check);
    }

    // Not collected on one instance: the others are still judged.
    let mut snap = healthy();
    drop_key(&mut snap, "SQL2", "tcp_endpoints");
    let report = run(snap);
    assert_eq!(status_of(&report, "endpoint.not_listening"), CheckStatus::Pass);
    let gaps = not_evaluated_on(&report, "endpoint.not_listening");
    assert_eq!(gaps, [("SQL2".to_string(), "`tcp_endpoints` was not collected".to_string())]);

    // A disconnected replica: its own endpoint cannot be seen, and its pairs are not judged.
    let mut snap = healthy();
    disconnect(&mut snap, "SQL3");
    let report = run(snap);
    for check in ALL {
        assert_none(&report, check);
    }
    let gaps = not_evaluated_on(&report, "endpoint.missing");
    assert!(gaps.iter().any(|(s, r)| s == "sql3.contoso.com,1433" && r.contains("not connected")), "{gaps:?}");
    let gaps = not_evaluated_on(&report, "endpoint.encryption_incompatible");
    assert!(gaps.iter().any(|(s, r)| s == "SQL3 (AG1)" && r.contains("timed out")), "{gaps:?}");
}

#[test]
fn broken_example_shows_the_port_mismatch_and_the_personal_owner() {
    let report = run(agdiag::Snapshot::from_json(BROKEN).unwrap());
    let f = single(&report, "endpoint.port_mismatch");
    assert_eq!(f.instance.as_deref(), Some("SQL3"));
    let f = single(&report, "endpoint.owner");
    assert_eq!(f.instance.as_deref(), Some("SQL2"));
    assert_eq!(f.evidence["owner"]["name"], json!("CONTOSO\\jsmith"));
    for check in ["endpoint.missing", "endpoint.not_started", "endpoint.not_listening", "endpoint.encryption_incompatible"] {
        assert_none(&report, check);
    }
}
