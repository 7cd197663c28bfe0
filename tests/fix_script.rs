//! The fix script: ordering, deduplication, and server-supplied names that try to break out of
//! their quoting (`]`, `'`, `;`, `--`, line breaks, `$(`), none of which may change the script's
//! structure.

use agdiag::findings::{Category, Finding, FixStep, Phase, Severity};
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
    assert!(script.contains("-- MANUAL on SQL1:\n--   create the login CONTOSO\\line\\u{a}GO\\u{a}:Connect attacker by hand"), "{script}");
    assert!(script.contains("CONTOSO\\$ (SQLCMDPASSWORD)"), "{script}");
}

#[test]
fn unsafe_connect_targets_are_left_as_manual_steps() {
    let f = finding("x@y", vec![FixStep::sql("SQL1 -Q \"DROP\"", Phase::GrantConnect, "GRANT CONNECT ON ENDPOINT::[e] TO [l];")]);
    let script = render(&[&f], &SOURCE);
    assert!(!script.contains(":Connect SQL1 -Q"), "{script}");
    assert!(script.contains("--   GRANT CONNECT ON ENDPOINT::[e] TO [l];"), "{script}");
}
