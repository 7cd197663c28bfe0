//! The fix script: ordering, deduplication, and server-supplied names that try to break out of
//! their quoting (`]`, `'`, `;`, `--`, line breaks, `$(`), none of which may change the script's
//! structure.

mod common;

use agdiag::findings::{Category, Finding, FixStep, Phase, Severity};
use agdiag::fix::ScriptOptions;
use agdiag::snapshot::Row;
use common::{healthy, is_name, null, push_row, set_everywhere, set_where};
use agdiag::fix::script::{render, ScriptSource};
use agdiag::fix::{statements, tsql};
use serde_json::json;

fn finding(id: &str, steps: Vec<FixStep>) -> Finding {
    Finding {
        id: id.into(),
        check: id.split('@').next().unwrap().into(),
        category: Category::Accounts,
        severity: Severity::Error,
        instance: Some("SQL1".into()),
        availability_group: Some("AG1".into()),
        replica: None,
        object: None,
        title: "t".into(),
        message: "m".into(),
        evidence: json!({}),
        remediation: "r".into(),
        fix: None,
        fix_steps: steps,
        related_errors: vec![],
    }
}

const SOURCE: ScriptSource<'static> = ScriptSource { collected_at: Some("2026-11-22T10:15:00Z"), collector: Some("agdiag 0.1.0") };

/// The lines sqlcmd treats as commands or batch ends.
fn command_lines(script: &str) -> Vec<&str> {
    script
        .lines()
        .filter(|l| {
            let t = l.trim_start();
            t.starts_with(':') || t.eq_ignore_ascii_case("GO") || t.to_ascii_uppercase().starts_with("GO ")
        })
        .collect()
}

#[test]
fn steps_run_in_dependency_order_across_findings_and_duplicates_are_written_once() {
    let grant = statements::grant_connect("Hadr_endpoint", "CONTOSO\\SQL3$").unwrap();
    let a = finding(
        "accounts.login_missing@SQL1/CONTOSO\\SQL3$",
        vec![
            FixStep::sql("SQL1", Phase::CreateLogin, statements::create_windows_login("CONTOSO\\SQL3$").unwrap()),
            FixStep::sql("SQL1", Phase::GrantConnect, grant.clone()),
        ],
    );
    let b = finding(
        "endpoint.owner@SQL1/Hadr_endpoint",
        vec![
            FixStep::sql("SQL1", Phase::EndpointOwner, statements::alter_endpoint_owner("Hadr_endpoint", "sa").unwrap()),
            FixStep::sql("SQL1", Phase::GrantConnect, grant.clone()),
        ],
    );
    let c = finding("endpoint.not_started@SQL2/Hadr_endpoint", vec![FixStep::sql("SQL2", Phase::StartEndpoint, statements::start_endpoint("Hadr_endpoint").unwrap())]);
    let script = render(&[&c, &b, &a], &SOURCE);
    let pos = |needle: &str| script.find(needle).unwrap_or_else(|| panic!("{needle} missing from\n{script}"));
    assert!(pos("CREATE LOGIN") < pos("ALTER AUTHORIZATION"));
    assert!(pos("ALTER AUTHORIZATION") < pos("GRANT CONNECT"));
    assert!(pos("GRANT CONNECT") < pos("ALTER ENDPOINT [Hadr_endpoint] STATE = STARTED"));
    assert_eq!(script.matches("GRANT CONNECT ON ENDPOINT::[Hadr_endpoint] TO [CONTOSO\\SQL3$];").count(), 1);
    assert!(script.contains("-- endpoint.owner@SQL1/Hadr_endpoint, accounts.login_missing@SQL1/CONTOSO\\SQL3$\nGRANT"), "{script}");
    // Each section names its server: logins, ownership and grants on SQL1, the start on SQL2.
    let connects: Vec<&str> = command_lines(&script).into_iter().filter(|l| l.starts_with(":Connect")).collect();
    assert_eq!(connects, [":Connect SQL1", ":Connect SQL1", ":Connect SQL1", ":Connect SQL2"], "{script}");
    // Same input, same bytes.
    assert_eq!(script, render(&[&c, &b, &a], &SOURCE));
}

#[test]
fn hostile_names_cannot_change_the_script_structure() {
    let hostile = [
        "CONTOSO\\evil]; DROP LOGIN [sa]; --",
        "CONTOSO\\o'brien'; SHUTDOWN; --",
        "CONTOSO\\line\nGO\n:Connect attacker",
        "CONTOSO\\cr\rGO",
        "CONTOSO\\$(SQLCMDPASSWORD)",
        "CONTOSO\\Jürgen",
        "CONTOSO\\sep\u{2028}GO\u{2029}:!! calc",
        "CONTOSO\\bidi\u{202E}OG\u{2066}",
        "CONTOSO\\zero\u{200B}width\u{FEFF}\u{2060}",
    ];
    let mut findings = Vec::new();
    for (i, login) in hostile.iter().enumerate() {
        let steps = match (statements::create_windows_login(login), statements::grant_connect("Hadr_endpoint", login)) {
            (Some(create), Some(grant)) => vec![
                FixStep::sql("SQL1", Phase::CreateLogin, create),
                FixStep::sql("SQL1", Phase::GrantConnect, grant),
            ],
            _ => vec![FixStep::manual("SQL1", Phase::CreateLogin, format!("create the login {} by hand", tsql::comment(login)))],
        };
        findings.push(finding(&format!("accounts.login_missing@SQL1/{login}#{i}"), steps));
    }
    let refs: Vec<&Finding> = findings.iter().collect();
    let script = render(&refs, &SOURCE);

    // Structure: exactly the header's :on error exit, one :Connect SQL1 per section (logins, grants),
    // one GO per statement plus the one after each USE [master].
    let commands = command_lines(&script);
    let sql_statements = script.lines().filter(|l| l.starts_with("IF NOT EXISTS") || l.starts_with("GRANT")).count();
    let connects = commands.iter().filter(|l| l.starts_with(":Connect")).count();
    assert!(commands.iter().filter(|l| l.starts_with(":Connect")).all(|l| *l == ":Connect SQL1"), "{script}");
    assert_eq!(connects, 2, "{script}");
    assert_eq!(commands.iter().filter(|l| l.starts_with(":on error exit")).count(), 1, "{script}");
    assert_eq!(commands.iter().filter(|l| l.eq_ignore_ascii_case("GO")).count(), sql_statements + connects, "{script}");
    assert!(!script.contains("$(SQLCMDPASSWORD)"), "sqlcmd would substitute it:\n{script}");
    assert!(!script.lines().any(|l| l.trim_start().starts_with(":Connect attacker")), "{script}");

    // Quoting: brackets doubled, quotes doubled, non-ASCII intact.
    assert!(script.contains("GRANT CONNECT ON ENDPOINT::[Hadr_endpoint] TO [CONTOSO\\evil]]; DROP LOGIN [sa]]; --];"));
    assert!(script.contains("WHERE name = N'CONTOSO\\o''brien''; SHUTDOWN; --')"));
    assert!(script.contains("[CONTOSO\\Jürgen]"));
    // Names with line breaks or $( became manual steps, shown escaped on one comment line.
    assert!(script.contains("-- MANUAL on SQL1:\n--   create the login CONTOSO\\line\\u000AGO\\u000A:Connect attacker by hand"), "{script}");
    // Characters an editor shows as a line break, or that reorder or hide text, are never written raw.
    assert!(!script.chars().any(|c| c != '\n' && agdiag::untrusted_text::is_deceptive(c)), "{script}");
    assert!(script.contains("create the login CONTOSO\\sep\\u2028GO\\u2029:!! calc by hand"), "{script}");
    assert!(script.contains("create the login CONTOSO\\bidi\\u202EOG\\u2066 by hand"), "{script}");
    assert!(script.contains("create the login CONTOSO\\zero\\u200Bwidth\\uFEFF\\u2060 by hand"), "{script}");
    assert!(script.contains("CONTOSO\\$ (SQLCMDPASSWORD)"), "{script}");
}

#[test]
fn unsafe_connect_targets_are_left_as_manual_steps() {
    let f = finding("x@y", vec![FixStep::sql("SQL1 -Q \"DROP\"", Phase::GrantConnect, "GRANT CONNECT ON ENDPOINT::[e] TO [l];")]);
    let script = render(&[&f], &SOURCE);
    assert!(!script.contains(":Connect SQL1 -Q"), "{script}");
    assert!(script.contains("--   GRANT CONNECT ON ENDPOINT::[e] TO [l];"), "{script}");
}

#[test]
fn statements_that_take_only_a_literal_refuse_names_that_need_an_expression() {
    // MODIFY REPLICA ON and ENDPOINT_URL = take a string literal, not N'a' + NCHAR(10) + N'b'.
    assert_eq!(statements::modify_replica("AG1", "SQL2\nGO", "SESSION_TIMEOUT = 10"), None);
    assert_eq!(statements::modify_replica("AG1", "SQL$(x)", "SESSION_TIMEOUT = 10"), None);
    assert_eq!(statements::set_endpoint_url("AG1", "SQL2", "TCP://$(host):5022"), None);
    assert_eq!(
        statements::modify_replica("AG1", "O'SQL2", "SESSION_TIMEOUT = 10").as_deref(),
        Some("ALTER AVAILABILITY GROUP [AG1] MODIFY REPLICA ON N'O''SQL2' WITH (SESSION_TIMEOUT = 10);")
    );
}

#[test]
fn endpoint_ownership_transfer_is_skipped_when_the_new_owner_already_owns_it() {
    // A second run must not drop the grants made since the first.
    assert_eq!(
        statements::alter_endpoint_owner("Hadr]ep", "sa").as_deref(),
        Some(
            "IF NOT EXISTS (SELECT 1 FROM sys.endpoints AS e JOIN sys.server_principals AS p ON p.principal_id = e.principal_id \
             WHERE e.name = N'Hadr]ep' AND p.name = N'sa') ALTER AUTHORIZATION ON ENDPOINT::[Hadr]]ep] TO [sa];"
        )
    );
}

fn mirroring(r: &Row) -> bool {
    r.int("type") == Some(4)
}

/// Eight problems at once, read as a DBA would read the script before running it.
#[test]
fn script_for_many_problems_at_once_is_ordered_and_never_contradicts_itself() {
    let mut snap = healthy();
    let dmep = "database_mirroring_endpoints";
    let hadr_grant = |r: &Row| r.int("class") == Some(105) && r.int("major_id") == Some(65536);
    // SQL1: CONNECT denied to the service login, and the 28034 it causes in SQL1's log.
    set_where(&mut snap, "SQL1", "server_permissions", hadr_grant, "state", json!("D"));
    set_where(&mut snap, "SQL1", "server_permissions", hadr_grant, "state_desc", json!("DENY"));
    push_row(&mut snap, "SQL1", "errorlog", json!({"LogDate": "2026-11-22T10:00:00.000", "ProcessInfo": "Logon",
        "Text": "Database Mirroring login attempt by user 'CONTOSO\\svc_sql.' failed with error: 'Connection handshake failed. The login 'CONTOSO\\svc_sql' does not have CONNECT permission on the endpoint. State 84.'.  [CLIENT: 10.0.0.12]"}));
    // SQL2: endpoint owned by a person, and stopped.
    push_row(&mut snap, "SQL2", "server_principals", json!({"name": "CONTOSO\\jsmith", "principal_id": 263, "type": "U", "type_desc": "WINDOWS_LOGIN", "is_disabled": 0}));
    for key in [dmep, "endpoints", "tcp_endpoints"] {
        set_where(&mut snap, "SQL2", key, mirroring, "principal_id", json!(263));
    }
    set_where(&mut snap, "SQL2", dmep, |_| true, "state", json!(1));
    set_where(&mut snap, "SQL2", dmep, |_| true, "state_desc", json!("STOPPED"));
    // SQL3: SUPPORTED RC4 (rc4 and encryption_incompatible both fix it), URL on the wrong port,
    // no routing URL.
    set_where(&mut snap, "SQL3", dmep, |_| true, "encryption_algorithm_desc", json!("NONE, RC4"));
    set_where(&mut snap, "SQL3", dmep, |_| true, "encryption_algorithm", json!(3));
    set_everywhere(&mut snap, "availability_replicas", is_name("replica_server_name", "SQL3"), "endpoint_url", json!("TCP://sql3.contoso.com:5023"));
    set_everywhere(&mut snap, "availability_replicas", is_name("replica_server_name", "SQL3"), "read_only_routing_url", null());
    set_everywhere(&mut snap, "availability_replicas", is_name("replica_server_name", "SQL2"), "session_timeout", json!(5));
    // The listener has no port.
    for s in ["SQL1", "SQL2", "SQL3"] {
        set_where(&mut snap, s, "availability_group_listeners", |_| true, "port", null());
    }
    let report = common::run(snap);
    let script = report.fix_script(&ScriptOptions::default());
    let pos = |needle: &str| script.find(needle).unwrap_or_else(|| panic!("{needle} missing from\n{script}"));

    // The login exists on SQL1: nothing in the script says to create it.
    assert!(!script.contains("CREATE LOGIN"), "{script}");
    // One encryption statement for SQL3, not REQUIRED then SUPPORTED.
    assert_eq!(script.matches("FOR DATABASE_MIRRORING (ENCRYPTION").count(), 1, "{script}");
    // REVOKE the DENY before the GRANT that replaces it (a REVOKE after would remove the grant).
    assert!(pos("REVOKE CONNECT ON ENDPOINT::[Hadr_endpoint] FROM [CONTOSO\\svc_sql];") < pos("GRANT CONNECT ON ENDPOINT::[Hadr_endpoint] TO [CONTOSO\\svc_sql];"));
    // Ownership, then grants, then start; AG changes on the primary in dependency order.
    let order = [
        "FOR DATABASE_MIRRORING (ENCRYPTION = SUPPORTED ALGORITHM AES);",
        "ALTER AUTHORIZATION ON ENDPOINT::[Hadr_endpoint] TO [sa];",
        "GRANT CONNECT",
        "STATE = STARTED;",
        "WITH (ENDPOINT_URL = N'TCP://sql3.contoso.com:5022');",
        "WITH (SESSION_TIMEOUT = 10);",
        "READ_ONLY_ROUTING_URL = N'TCP://sql3.contoso.com:1433'",
        "MODIFY LISTENER N'AG1-LISTENER' (PORT = 1433);",
    ];
    for pair in order.windows(2) {
        assert!(pos(pair[0]) < pos(pair[1]), "{} before {}:\n{script}", pair[0], pair[1]);
    }
    // Every ALTER AVAILABILITY GROUP runs on the primary, and no instance gets a statement twice.
    let mut target = "";
    let mut seen: Vec<(String, String)> = Vec::new();
    for line in script.lines() {
        if let Some(t) = line.strip_prefix(":Connect ") {
            target = t;
            continue;
        }
        if line.starts_with("ALTER AVAILABILITY GROUP") {
            assert_eq!(target, "SQL1", "{line}");
        }
        if line.is_empty() || line.starts_with("--") || line.starts_with(':') || line == "GO" || line == "USE [master];" {
            continue;
        }
        let key = (target.to_string(), line.to_string());
        assert!(!seen.contains(&key), "{line} twice on {target}:\n{script}");
        seen.push(key);
    }
}

#[test]
fn a_revoke_runs_before_the_grant_even_when_another_finding_brought_the_grant_first() {
    // REVOKE clears grants too: REVOKE after GRANT would leave the login without CONNECT.
    let grant = FixStep::sql("SQL1", Phase::GrantConnect, statements::grant_connect("Hadr_endpoint", "CONTOSO\\svc_sql").unwrap());
    let revoke = FixStep::sql("SQL1", Phase::GrantConnect, statements::revoke_connect("Hadr_endpoint", "CONTOSO\\svc_sql").unwrap());
    let from_log = finding("errorlog.connect_permission@SQL1/CONTOSO\\svc_sql", vec![grant.clone()]);
    let denied = finding("accounts.connect_denied@SQL1/CONTOSO\\svc_sql", vec![revoke, grant]);
    let script = render(&[&from_log, &denied], &SOURCE);
    let revoke_at = script.find("REVOKE CONNECT").expect(&script);
    let grant_at = script.find("GRANT CONNECT ON ENDPOINT::[Hadr_endpoint] TO").expect(&script);
    assert!(revoke_at < grant_at, "{script}");
    assert_eq!(script.matches("GRANT CONNECT ON ENDPOINT::[Hadr_endpoint] TO").count(), 1, "{script}");
}

/// A service account whose name holds U+2028 (which SSMS and VS Code draw as a line break): the
/// findings name it escaped, the script leaves it to a manual step, and the CLI table shows it on
/// one line; the evidence keeps the raw row.
#[test]
fn a_line_separator_in_a_server_name_is_shown_escaped_everywhere_it_is_echoed() {
    let mut snap = healthy();
    let hostile = "CONTOSO\\svc_sql2\u{2028}GO";
    set_where(&mut snap, "SQL2", "dm_server_services", |r: &Row| r.str("servicename").is_some_and(|s| s.starts_with("SQL Server (")), "service_account", json!(hostile));
    let report = common::run(snap);
    assert!(report.findings.iter().any(|f| f.evidence.to_string().contains('\u{2028}')), "the evidence keeps the raw row");
    for f in &report.findings {
        for text in [&f.message, &f.remediation, &f.title, &f.id] {
            assert!(!text.contains('\u{2028}'), "raw U+2028 in {}: {text}", f.id);
        }
    }
    assert!(report.findings.iter().any(|f| f.message.contains("svc_sql2\\u2028GO")), "{:#?}", report.findings);
    let script = report.fix_script(&ScriptOptions::default());
    assert!(!script.contains('\u{2028}'), "{script}");
    assert!(!script.lines().any(|l| l.trim_start().eq_ignore_ascii_case("GO") && l.contains("svc")), "{script}");
}
