mod common;

use agdiag::checks::CheckStatus;
use agdiag::findings::{Phase, Severity};
use agdiag::fix::ScriptOptions;
use agdiag::snapshot::Row;
use common::*;
use serde_json::json;

const ALL: &[&str] = &[
    "accounts.login_missing",
    "accounts.login_disabled",
    "accounts.connect_denied",
    "accounts.connect_missing",
    "accounts.certificate_required",
    "accounts.mixed_service_accounts",
];

fn engine(r: &Row) -> bool {
    r.str("servicename") == Some("SQL Server (MSSQLSERVER)")
}

/// Changes the account the Database Engine service runs under (as Configuration Manager would).
fn set_service_account(snap: &mut agdiag::Snapshot, server: &str, account: &str) {
    set_where(snap, server, "dm_server_services", engine, "service_account", json!(account));
}

fn hadr_grant(r: &Row) -> bool {
    r.int("major_id") == Some(65536) && r.int("grantee_principal_id") == Some(261)
}

fn not_evaluated_reason(report: &agdiag::Report, check: &str, subject: &str) -> String {
    let result = report.checks.iter().find(|c| c.check == check).unwrap();
    result
        .not_evaluated_on
        .iter()
        .find(|n| n.subject == subject)
        .unwrap_or_else(|| panic!("{check}: no not-evaluated entry for {subject}: {:#?}", result.not_evaluated_on))
        .reason
        .clone()
}

#[test]
fn healthy_example_passes_every_accounts_check() {
    let report = run(healthy());
    for check in ALL {
        assert_none(&report, check);
        assert_eq!(status_of(&report, check), CheckStatus::Pass, "{check}");
        let result = report.checks.iter().find(|c| c.check == *check).unwrap();
        assert!(result.not_evaluated_on.is_empty(), "{check}: {:?}", result.not_evaluated_on);
    }
}

#[test]
fn virtual_account_presents_the_computer_account_which_has_no_login_on_the_partners() {
    let mut snap = healthy();
    set_service_account(&mut snap, "SQL3", "NT Service\\MSSQLSERVER");
    let report = run(snap);
    let found = findings_of(&report, "accounts.login_missing");
    assert_eq!(found.len(), 2, "{found:#?}");
    for (f, a) in found.iter().zip(["SQL1", "SQL2"]) {
        assert_severity(f, Severity::Error);
        assert_eq!(f.instance.as_deref(), Some(a));
        assert_eq!(f.object.as_deref(), Some("CONTOSO\\SQL3$"));
        assert_eq!(f.replica.as_deref(), Some("SQL3"));
        assert_eq!(f.availability_group.as_deref(), Some("AG1"));
        assert_eq!(f.evidence["login"], json!("CONTOSO\\SQL3$"));
        assert_eq!(f.evidence["server_principals"], json!(null));
        let by = &f.evidence["presented_by"][0];
        assert_eq!(by["replica"], json!("SQL3"));
        assert_eq!(by["dm_server_services"]["service_account"], json!("NT Service\\MSSQLSERVER"));
        assert_eq!(by["server_properties"]["MachineName"], json!("SQL3"));
        assert_eq!(by["server_properties"]["DEFAULT_DOMAIN()"], json!("CONTOSO"));
        assert!(by["derived"].as_str().unwrap().contains("virtual account"), "{by}");
        assert_eq!(f.evidence["database_mirroring_endpoints"]["name"], json!("Hadr_endpoint"));
        assert!(f.message.contains("28034") && f.message.contains("State 84"), "{}", f.message);
    }
    // Exact fix text for SQL1: guarded CREATE LOGIN, then GRANT, in their phases.
    let f = found[0];
    assert_eq!(
        f.fix.as_deref(),
        Some(
            "IF NOT EXISTS (SELECT 1 FROM sys.server_principals WHERE name = N'CONTOSO\\SQL3$') CREATE LOGIN [CONTOSO\\SQL3$] FROM WINDOWS;\n\
             GRANT CONNECT ON ENDPOINT::[Hadr_endpoint] TO [CONTOSO\\SQL3$];"
        )
    );
    let phases: Vec<Phase> = f.fix_steps.iter().map(|s| s.phase).collect();
    assert_eq!(phases, [Phase::CreateLogin, Phase::GrantConnect]);
    assert!(f.fix_steps.iter().all(|s| s.target == "SQL1" && !s.manual));
    // The login is missing, so CONNECT is not reported a second time.
    assert_none(&report, "accounts.connect_missing");
    // SQL3 now presents a different account than SQL1 and SQL2.
    let mixed = single(&report, "accounts.mixed_service_accounts");
    assert_severity(mixed, Severity::Info);
    assert_eq!(mixed.availability_group.as_deref(), Some("AG1"));
    assert_eq!(mixed.evidence["replicas"][2]["presents"], json!("CONTOSO\\SQL3$"));
    assert!(mixed.message.contains("recommended"), "{}", mixed.message);
}

/// Secondaries connect only to the primary: a login missing on one secondary for another
/// secondary's account breaks nothing until a failover, and the message must say so.
#[test]
fn missing_login_between_two_secondaries_is_reported_as_latent_until_a_failover() {
    let mut snap = healthy();
    set_service_account(&mut snap, "SQL3", "NT Service\\MSSQLSERVER");
    let report = run(snap);
    let found = findings_of(&report, "accounts.login_missing");
    let on_primary = found.iter().find(|f| f.instance.as_deref() == Some("SQL1")).expect("SQL1 finding");
    assert!(!on_primary.message.contains("Latent"), "{}", on_primary.message);
    assert!(on_primary.message.starts_with("SQL3 (service account"), "{}", on_primary.message);
    let on_secondary = found.iter().find(|f| f.instance.as_deref() == Some("SQL2")).expect("SQL2 finding");
    assert_severity(on_secondary, Severity::Error);
    assert!(
        on_secondary.message.starts_with(
            "Latent until a failover to SQL2: SQL2 and SQL3 are secondaries now, and secondary replicas connect only \
             to the primary (SQL1). Once SQL2 is the primary, SQL3 (service account"
        ),
        "{}",
        on_secondary.message
    );
}

#[test]
fn fix_script_creates_logins_before_granting() {
    let mut snap = healthy();
    set_service_account(&mut snap, "SQL3", "NT Service\\MSSQLSERVER");
    let report = run(snap);
    let script = report.fix_script(&ScriptOptions { checks: vec!["accounts.*".into()], ..Default::default() });
    let create = script.find("CREATE LOGIN [CONTOSO\\SQL3$]").expect(&script);
    let grant = script.find("GRANT CONNECT ON ENDPOINT::[Hadr_endpoint] TO [CONTOSO\\SQL3$]").expect(&script);
    assert!(create < grant, "{script}");
    assert!(script.contains(":Connect SQL1") && script.contains(":Connect SQL2"), "{script}");
}

#[test]
fn network_service_and_local_system_present_the_computer_account_too() {
    for account in ["NT AUTHORITY\\NETWORK SERVICE", "NT AUTHORITY\\NETWORKSERVICE", "LocalSystem", "NT AUTHORITY\\SYSTEM"] {
        let mut snap = healthy();
        set_service_account(&mut snap, "SQL2", account);
        let report = run(snap);
        let found = findings_of(&report, "accounts.login_missing");
        assert_eq!(found.len(), 2, "{account}: {found:#?}");
        assert!(found.iter().all(|f| f.object.as_deref() == Some("CONTOSO\\SQL2$")), "{account}");
        assert_eq!(found[0].instance.as_deref(), Some("SQL1"));
        assert_eq!(found[1].instance.as_deref(), Some("SQL3"));
    }
}

#[test]
fn failover_cluster_instance_presents_the_active_node_and_says_it_changes() {
    let mut snap = healthy();
    set_service_account(&mut snap, "SQL3", "NT Service\\MSSQLSERVER");
    set_where(&mut snap, "SQL3", "server_properties", |_| true, "IsClustered", json!(1));
    set_where(&mut snap, "SQL3", "server_properties", |_| true, "ComputerNamePhysicalNetBIOS", json!("SQL3NODEA"));
    let report = run(snap);
    let found = findings_of(&report, "accounts.login_missing");
    assert_eq!(found.len(), 2);
    assert_eq!(found[0].object.as_deref(), Some("CONTOSO\\SQL3NODEA$"));
    assert!(found[0].message.contains("changes on failover"), "{}", found[0].message);
    assert!(found[0].evidence["presented_by"][0]["derived"].as_str().unwrap().contains("ComputerNamePhysicalNetBIOS"));
}

#[test]
fn one_finding_per_instance_and_login_even_when_several_partners_present_it() {
    // A gMSA on every replica, with no logins created for it yet.
    let mut snap = healthy();
    for s in ["SQL1", "SQL2", "SQL3"] {
        set_service_account(&mut snap, s, "CONTOSO\\gmsa_sql$");
    }
    let report = run(snap);
    let found = findings_of(&report, "accounts.login_missing");
    assert_eq!(found.len(), 3, "{found:#?}");
    let sql1 = found.iter().find(|f| f.instance.as_deref() == Some("SQL1")).unwrap();
    assert_eq!(sql1.object.as_deref(), Some("CONTOSO\\gmsa_sql$"));
    let partners: Vec<&str> =
        sql1.evidence["presented_by"].as_array().unwrap().iter().map(|p| p["replica"].as_str().unwrap()).collect();
    assert_eq!(partners, ["SQL2", "SQL3"]);
    assert!(sql1.message.contains("SQL2") && sql1.message.contains("SQL3"), "{}", sql1.message);
    assert!(sql1.evidence["presented_by"][0]["derived"].as_str().unwrap().contains("managed service account"));
    // Same account everywhere: not mixed.
    assert_none(&report, "accounts.mixed_service_accounts");
}

#[test]
fn deny_connect_on_the_endpoint_is_reported_with_revoke_then_grant() {
    let mut snap = healthy();
    // DENY CONNECT replaces the login's GRANT row (one row per grantee and permission).
    set_where(&mut snap, "SQL1", "server_permissions", hadr_grant, "state", json!("D"));
    set_where(&mut snap, "SQL1", "server_permissions", hadr_grant, "state_desc", json!("DENY"));
    let report = run(snap);
    let f = single(&report, "accounts.connect_denied");
    assert_severity(f, Severity::Error);
    assert_eq!(f.instance.as_deref(), Some("SQL1"));
    assert_eq!(f.object.as_deref(), Some("CONTOSO\\svc_sql"));
    assert_eq!(f.replica.as_deref(), Some("SQL2"));
    assert_eq!(f.evidence["presented_by"].as_array().unwrap().len(), 2, "SQL2 and SQL3 both present it");
    let perms = f.evidence["server_permissions"].as_array().unwrap();
    assert_eq!(perms.len(), 1);
    assert_eq!(perms[0]["state"], json!("D"));
    assert_eq!(perms[0]["type"], json!("CO  "));
    assert_eq!(f.evidence["server_principals"]["principal_id"], json!(261));
    assert!(f.message.contains("Windows group"), "{}", f.message);
    assert_eq!(
        f.fix.as_deref(),
        Some(
            "REVOKE CONNECT ON ENDPOINT::[Hadr_endpoint] FROM [CONTOSO\\svc_sql];\n\
             GRANT CONNECT ON ENDPOINT::[Hadr_endpoint] TO [CONTOSO\\svc_sql];"
        )
    );
    // The DENY is the problem; it is not also reported as a missing grant.
    assert_none(&report, "accounts.connect_missing");
}

#[test]
fn deny_to_a_windows_group_is_a_warning_with_a_membership_check() {
    let mut snap = healthy();
    push_row(
        &mut snap,
        "SQL2",
        "server_permissions",
        json!({"class": 105, "class_desc": "ENDPOINT", "major_id": 65536, "minor_id": 0, "grantee_principal_id": 262,
               "grantor_principal_id": 1, "type": "CO  ", "permission_name": "CONNECT", "state": "D", "state_desc": "DENY"}),
    );
    let report = run(snap);
    let f = single(&report, "accounts.connect_denied");
    assert_severity(f, Severity::Warning);
    assert_eq!(f.instance.as_deref(), Some("SQL2"));
    assert!(f.message.contains("CONTOSO\\SQL-DBAs"), "{}", f.message);
    assert!(f.fix.is_none());
    assert!(f.fix_steps[0].manual && f.fix_steps[0].text.contains("xp_logininfo @acctname = N'CONTOSO\\svc_sql'"));
}

#[test]
fn disabled_login_is_reported_with_alter_login_enable() {
    let mut snap = healthy();
    set_where(&mut snap, "SQL2", "server_principals", is_name("name", "CONTOSO\\svc_sql"), "is_disabled", json!(1));
    let report = run(snap);
    let f = single(&report, "accounts.login_disabled");
    assert_severity(f, Severity::Error);
    assert_eq!(f.instance.as_deref(), Some("SQL2"));
    assert_eq!(f.object.as_deref(), Some("CONTOSO\\svc_sql"));
    assert_eq!(f.evidence["server_principals"]["is_disabled"], json!(1));
    assert_eq!(f.fix.as_deref(), Some("ALTER LOGIN [CONTOSO\\svc_sql] ENABLE;"));
    assert_eq!(f.fix_steps[0].phase, Phase::EnableLogin);
    assert_none(&report, "accounts.login_missing");
}

#[test]
fn removed_grant_is_connect_missing_with_a_grant_fix() {
    let mut snap = healthy();
    remove_where(&mut snap, "SQL3", "server_permissions", hadr_grant);
    let report = run(snap);
    let f = single(&report, "accounts.connect_missing");
    assert_severity(f, Severity::Error);
    assert_eq!(f.instance.as_deref(), Some("SQL3"));
    assert_eq!(f.object.as_deref(), Some("CONTOSO\\svc_sql"));
    assert_eq!(f.availability_group.as_deref(), Some("AG1"));
    assert_eq!(f.evidence["server_permissions"], json!([]));
    assert_eq!(f.evidence["database_mirroring_endpoints"]["endpoint_id"], json!(65536));
    assert!(f.message.contains("28034") && f.message.contains("sysadmin"), "{}", f.message);
    assert_eq!(f.fix.as_deref(), Some("GRANT CONNECT ON ENDPOINT::[Hadr_endpoint] TO [CONTOSO\\svc_sql];"));
    assert_eq!(f.fix_steps[0].phase, Phase::GrantConnect);
    assert_eq!(f.fix_steps[0].target, "SQL3");
}

#[test]
fn connect_through_a_windows_group_only_is_a_warning() {
    let mut snap = healthy();
    remove_where(&mut snap, "SQL3", "server_permissions", hadr_grant);
    push_row(
        &mut snap,
        "SQL3",
        "server_permissions",
        json!({"class": 105, "class_desc": "ENDPOINT", "major_id": 65536, "minor_id": 0, "grantee_principal_id": 262,
               "grantor_principal_id": 1, "type": "CO  ", "permission_name": "CONNECT", "state": "G", "state_desc": "GRANT"}),
    );
    let f = single(&run(snap), "accounts.connect_missing").clone();
    assert_severity(&f, Severity::Warning);
    assert!(f.message.contains("CONTOSO\\SQL-DBAs"), "{}", f.message);
}

#[test]
fn endpoint_owner_and_control_and_public_grant_do_not_need_connect() {
    // Owner: the endpoint is owned by the service account's login.
    let mut snap = healthy();
    remove_where(&mut snap, "SQL3", "server_permissions", hadr_grant);
    for key in ["endpoints", "database_mirroring_endpoints"] {
        set_where(&mut snap, "SQL3", key, |r| r.int("endpoint_id") == Some(65536), "principal_id", json!(261));
    }
    assert_none(&run(snap), "accounts.connect_missing");

    // CONTROL on the endpoint implies CONNECT.
    let mut snap = healthy();
    set_where(&mut snap, "SQL3", "server_permissions", hadr_grant, "type", json!("CL  "));
    set_where(&mut snap, "SQL3", "server_permissions", hadr_grant, "permission_name", json!("CONTROL"));
    assert_none(&run(snap), "accounts.connect_missing");

    // CONNECT granted to public admits every login.
    let mut snap = healthy();
    set_where(&mut snap, "SQL3", "server_permissions", hadr_grant, "grantee_principal_id", json!(2));
    assert_none(&run(snap), "accounts.connect_missing");

    // GRANT WITH GRANT OPTION is a grant.
    let mut snap = healthy();
    set_where(&mut snap, "SQL3", "server_permissions", hadr_grant, "state", json!("W"));
    set_where(&mut snap, "SQL3", "server_permissions", hadr_grant, "state_desc", json!("GRANT_WITH_GRANT_OPTION"));
    assert_none(&run(snap), "accounts.connect_missing");
}

#[test]
fn instance_without_a_mirroring_endpoint_still_gets_logins_and_grants_on_hadr_endpoint() {
    let mut snap = healthy();
    rows_mut(&mut snap, "SQL1", "database_mirroring_endpoints").clear();
    remove_where(&mut snap, "SQL1", "endpoints", |r| r.int("endpoint_id") == Some(65536));
    remove_where(&mut snap, "SQL1", "server_permissions", |r| r.int("major_id") == Some(65536));
    set_service_account(&mut snap, "SQL3", "NT Service\\MSSQLSERVER");
    let report = run(snap);
    let missing = findings_of(&report, "accounts.login_missing");
    let on_sql1 = missing.iter().find(|f| f.instance.as_deref() == Some("SQL1")).unwrap();
    assert!(on_sql1.fix.as_deref().unwrap().ends_with("GRANT CONNECT ON ENDPOINT::[Hadr_endpoint] TO [CONTOSO\\SQL3$];"));
    // SQL2 still presents CONTOSO\svc_sql, whose login exists on SQL1 but has no endpoint to hold CONNECT on.
    let f = single(&report, "accounts.connect_missing");
    assert_eq!(f.instance.as_deref(), Some("SQL1"));
    assert_eq!(f.object.as_deref(), Some("CONTOSO\\svc_sql"));
    assert_eq!(f.replica.as_deref(), Some("SQL2"));
    assert_eq!(f.evidence["database_mirroring_endpoints"], json!(null));
    assert_eq!(f.fix.as_deref(), Some("GRANT CONNECT ON ENDPOINT::[Hadr_endpoint] TO [CONTOSO\\svc_sql];"));
}

#[test]
fn local_account_needs_certificates_and_no_login_is_checked() {
    for account in [".\\sqlsvc", "SQL3\\sqlsvc", "NT AUTHORITY\\LOCAL SERVICE"] {
        let mut snap = healthy();
        set_service_account(&mut snap, "SQL3", account);
        let report = run(snap);
        let found = findings_of(&report, "accounts.certificate_required");
        assert_eq!(found.len(), 2, "{account}: {found:#?}");
        for (f, a) in found.iter().zip(["SQL1", "SQL2"]) {
            assert_severity(f, Severity::Error);
            assert_eq!(f.instance.as_deref(), Some(a));
            assert_eq!(f.replica.as_deref(), Some("SQL3"));
            assert_eq!(f.object.as_deref(), Some(account));
            assert_eq!(f.evidence["dm_server_services"]["service_account"], json!(account));
            assert_eq!(f.evidence["database_mirroring_endpoints"]["connection_auth_desc"], json!("NEGOTIATE"));
            assert!(f.message.contains("Use Certificates for a Database Mirroring Endpoint"), "{}", f.message);
            assert!(f.fix.is_none(), "no T-SQL fix");
            assert!(f.fix_steps.iter().all(|s| s.manual));
            assert!(f.fix_steps.iter().any(|s| s.text.contains("CREATE CERTIFICATE")));
            // The domain replica keeps accepting Windows authentication from its other partners.
            let on_a = f.fix_steps.iter().find(|s| s.target == a).unwrap();
            assert!(on_a.text.contains("(AUTHENTICATION = WINDOWS NEGOTIATE CERTIFICATE <host_cert>,"), "{}", on_a.text);
        }
        assert_none(&report, "accounts.login_missing");
        let why = not_evaluated_reason(&report, "accounts.login_missing", "SQL3 -> SQL1 (AG1)");
        assert!(why.contains("accounts.certificate_required"), "{why}");
    }
}

#[test]
fn workgroup_computer_cannot_present_a_computer_account() {
    let mut snap = healthy();
    set_service_account(&mut snap, "SQL3", "NT Service\\MSSQLSERVER");
    set_where(&mut snap, "SQL3", "server_properties", |_| true, "DEFAULT_DOMAIN()", json!("SQL3"));
    let report = run(snap);
    assert_eq!(findings_of(&report, "accounts.certificate_required").len(), 2);
    assert!(findings_of(&report, "accounts.certificate_required")[0].message.contains("not in a domain"));
    assert_none(&report, "accounts.login_missing");
}

#[test]
fn certificate_endpoints_are_not_flagged_and_need_no_windows_logins() {
    let mut snap = healthy();
    for s in ["SQL1", "SQL2", "SQL3"] {
        let ep = |r: &Row| r.int("endpoint_id") == Some(65536);
        set_where(&mut snap, s, "database_mirroring_endpoints", ep, "connection_auth", json!(4));
        set_where(&mut snap, s, "database_mirroring_endpoints", ep, "connection_auth_desc", json!("CERTIFICATE"));
        set_where(&mut snap, s, "database_mirroring_endpoints", ep, "certificate_id", json!(256));
    }
    set_service_account(&mut snap, "SQL3", ".\\sqlsvc");
    set_service_account(&mut snap, "SQL2", "NT Service\\MSSQLSERVER");
    let report = run(snap);
    for check in ["accounts.certificate_required", "accounts.login_missing", "accounts.connect_missing"] {
        assert_none(&report, check);
    }
    assert_eq!(status_of(&report, "accounts.certificate_required"), CheckStatus::Pass);
    // Certificate pairs present no Windows login: nothing is missing, and nothing was left unjudged
    // (the certificate checks in accounts.partner_certificate_* judge these pairs).
    assert_eq!(status_of(&report, "accounts.login_missing"), CheckStatus::Pass);
    assert!(not_evaluated_on(&report, "accounts.login_missing").is_empty());
}

#[test]
fn mixed_windows_and_certificate_endpoint_still_requires_certificates_only_when_windows_only() {
    // Near miss: SQL1 accepts certificates as well, so the local account on SQL3 is not flagged there.
    let mut snap = healthy();
    let ep = |r: &Row| r.int("endpoint_id") == Some(65536);
    set_where(&mut snap, "SQL1", "database_mirroring_endpoints", ep, "connection_auth", json!(7));
    set_where(&mut snap, "SQL1", "database_mirroring_endpoints", ep, "connection_auth_desc", json!("NEGOTIATE, CERTIFICATE"));
    set_service_account(&mut snap, "SQL3", ".\\sqlsvc");
    let report = run(snap);
    let f = single(&report, "accounts.certificate_required");
    assert_eq!(f.instance.as_deref(), Some("SQL2"));
}

#[test]
fn denied_service_view_leaves_the_pair_not_evaluated_instead_of_guessing() {
    let mut snap = healthy();
    deny_key(
        &mut snap,
        "SQL3",
        "dm_server_services",
        300,
        "VIEW SERVER SECURITY STATE permission was denied on object 'server', database 'master'.",
    );
    let report = run(snap);
    for check in ALL {
        assert_none(&report, check);
    }
    // The other pairs were evaluated, so the check passed with a stated gap.
    assert_eq!(status_of(&report, "accounts.login_missing"), CheckStatus::Pass);
    // What is unknown is SQL3's own login, whichever replica it connects to: said once, under SQL3.
    let why = not_evaluated_reason(&report, "accounts.login_missing", "SQL3");
    assert!(why.contains("error 300") && why.contains("VIEW SERVER SECURITY STATE on SQL Server 2022"), "{why}");
    let result = report.checks.iter().find(|c| c.check == "accounts.connect_missing").unwrap();
    assert_eq!(result.not_evaluated_on.len(), 1, "{:#?}", result.not_evaluated_on);
    assert!(result.reason.as_deref().unwrap().starts_with("not evaluated on SQL3: dm_server_services of SQL3 is unavailable"), "{:?}", result.reason);
}

#[test]
fn not_connected_partner_is_not_evaluated() {
    let mut snap = healthy();
    disconnect(&mut snap, "SQL3");
    let report = run(snap);
    for check in ALL {
        assert_none(&report, check);
    }
    let why = not_evaluated_reason(&report, "accounts.login_missing", "SQL3");
    assert!(why.contains("not connected"), "{why}");
}

#[test]
fn every_pair_unavailable_is_not_evaluated() {
    let mut snap = healthy();
    for s in ["SQL1", "SQL2", "SQL3"] {
        deny_key(&mut snap, s, "dm_server_services", 300, "VIEW SERVER STATE permission was denied on object 'server', database 'master'.");
    }
    let report = run(snap);
    for check in ALL {
        assert_eq!(status_of(&report, check), CheckStatus::NotEvaluated, "{check}");
    }
}

#[test]
fn different_domain_account_on_one_replica_is_mixed_and_missing() {
    let mut snap = healthy();
    set_service_account(&mut snap, "SQL2", "CONTOSO\\svc_sql2");
    let report = run(snap);
    let mixed = single(&report, "accounts.mixed_service_accounts");
    assert!(mixed.message.contains("SQL2 runs as CONTOSO\\svc_sql2"), "{}", mixed.message);
    assert!(mixed.fix_steps.is_empty());
    let missing = findings_of(&report, "accounts.login_missing");
    assert_eq!(missing.len(), 2);
    assert!(missing.iter().all(|f| f.object.as_deref() == Some("CONTOSO\\svc_sql2")));
}

#[test]
fn names_are_escaped_in_fixes_and_unsafe_names_become_manual_steps() {
    let mut snap = healthy();
    set_service_account(&mut snap, "SQL3", "CONTOSO\\Jür]gen");
    let report = run(snap);
    let f = &findings_of(&report, "accounts.login_missing")[0];
    assert_eq!(
        f.fix.as_deref(),
        Some(
            "IF NOT EXISTS (SELECT 1 FROM sys.server_principals WHERE name = N'CONTOSO\\Jür]gen') CREATE LOGIN [CONTOSO\\Jür]]gen] FROM WINDOWS;\n\
             GRANT CONNECT ON ENDPOINT::[Hadr_endpoint] TO [CONTOSO\\Jür]]gen];"
        )
    );

    let mut snap = healthy();
    set_service_account(&mut snap, "SQL3", "CONTOSO\\o'brien$(SQLCMDPASSWORD)");
    let report = run(snap);
    let f = &findings_of(&report, "accounts.login_missing")[0];
    assert!(f.fix.is_none(), "{:?}", f.fix);
    assert_eq!(f.fix_steps.len(), 2);
    for step in &f.fix_steps {
        assert!(step.manual && step.text.contains("cannot be scripted safely"), "{}", step.text);
        assert!(!step.text.contains("$("), "{}", step.text);
    }
}

#[test]
fn deny_to_public_blocks_the_partner_and_is_revoked_from_public() {
    let mut snap = healthy();
    push_row(
        &mut snap,
        "SQL2",
        "server_permissions",
        json!({"class": 105, "class_desc": "ENDPOINT", "major_id": 65536, "minor_id": 0, "grantee_principal_id": 2,
               "grantor_principal_id": 1, "type": "CO  ", "permission_name": "CONNECT", "state": "D", "state_desc": "DENY"}),
    );
    let report = run(snap);
    let f = single(&report, "accounts.connect_denied");
    assert_severity(f, Severity::Error);
    assert_eq!(f.instance.as_deref(), Some("SQL2"));
    assert!(f.message.contains("public is denied CONNECT"), "{}", f.message);
    assert_eq!(
        f.fix.as_deref(),
        Some(
            "REVOKE CONNECT ON ENDPOINT::[Hadr_endpoint] FROM [public];\n\
             GRANT CONNECT ON ENDPOINT::[Hadr_endpoint] TO [CONTOSO\\svc_sql];"
        )
    );
}

#[test]
fn a_deny_on_another_endpoint_is_not_the_mirroring_endpoint() {
    // Near miss: DENY CONNECT on TSQL Default TCP (endpoint 4) does not affect the mirroring handshake.
    let mut snap = healthy();
    push_row(
        &mut snap,
        "SQL1",
        "server_permissions",
        json!({"class": 105, "class_desc": "ENDPOINT", "major_id": 4, "minor_id": 0, "grantee_principal_id": 261,
               "grantor_principal_id": 1, "type": "CO  ", "permission_name": "CONNECT", "state": "D", "state_desc": "DENY"}),
    );
    let report = run(snap);
    assert_none(&report, "accounts.connect_denied");
    assert_none(&report, "accounts.connect_missing");
}
