//! The `agdiag` binary as a user runs it: exit codes (0 clean, 1 findings at/above --fail-on,
//! 2 bad input), output formats and the fix script file.

use std::process::{Command, Output};

fn agdiag(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_agdiag"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run agdiag")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

const HEALTHY: &str = "examples/snapshots/healthy-3-replica.json";
const BROKEN: &str = "examples/snapshots/broken-3-replica.json";

#[test]
fn healthy_snapshot_exits_zero_even_at_info() {
    let o = agdiag(&["analyze", HEALTHY, "--fail-on", "info"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).contains("No findings."));
}

#[test]
fn broken_snapshot_exits_one_and_prints_findings_and_a_script() {
    let o = agdiag(&["analyze", BROKEN, "--fix-script", "-"]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(out.contains("SEVERITY  CHECK"), "{out}");
    assert!(out.contains("--- YOU MUST EXECUTE THE FOLLOWING SCRIPT IN SQLCMD MODE."), "{out}");
    assert!(out.contains(":Connect SQL1"), "{out}");
    for line in out.lines().take_while(|l| !l.starts_with("---")) {
        assert!(line.chars().count() <= 100, "line longer than 100 columns: {line}");
    }
    // --fail-on never turns findings into success.
    assert_eq!(agdiag(&["analyze", BROKEN, "--fail-on", "never"]).status.code(), Some(0));
}

#[test]
fn json_output_is_the_findings_document_and_script_goes_to_a_file() {
    let dir = std::env::temp_dir().join(format!("agdiag-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let script = dir.join("fix.sql");
    let o = agdiag(&["analyze", BROKEN, "--format", "json", "--fix-script", script.to_str().unwrap()]);
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).expect("stdout is JSON");
    assert_eq!(doc["format"], "agdiag.findings/1");
    assert!(doc["summary"]["errors"].as_u64().unwrap() > 0);
    // UTF-8 with BOM, so that sqlcmd -i does not read it in the ANSI code page; the header says so.
    let text = std::fs::read_to_string(&script).unwrap();
    let text = text.strip_prefix('\u{FEFF}').expect("the fix script file starts with a UTF-8 BOM");
    assert!(text.starts_with("--- YOU MUST EXECUTE"));
    assert!(text.contains("-- Keep this file UTF-8 with BOM"));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn checks_filter_limits_what_runs() {
    let o = agdiag(&["analyze", BROKEN, "--format", "json", "--checks", "hadr.*"]);
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let checks = doc["checks"].as_array().unwrap();
    assert!(!checks.is_empty());
    assert!(checks.iter().all(|c| c["check"].as_str().unwrap().starts_with("hadr.")));
}

#[test]
fn a_checks_selector_that_matches_nothing_is_bad_input_not_a_pass() {
    // A typo must not run zero checks and exit 0 with "No findings".
    let o = agdiag(&["analyze", BROKEN, "--checks", "endpoint.owner,endpoint.ownr"]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(stdout(&o).is_empty(), "{}", stdout(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("\"endpoint.ownr\" matches no check"), "{err}");
    // `check` refuses before it connects to anything.
    let o = agdiag(&["check", "-S", "127.0.0.1,1", "--checks", "nosuch"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("\"nosuch\" matches no check"));
}

#[test]
fn bad_input_exits_two_with_a_message_naming_the_problem() {
    let o = agdiag(&["analyze", "Cargo.toml"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("Cargo.toml: snapshot JSON is not valid") && err.contains("line 1 column"), "{err}");

    let o = agdiag(&["analyze", "does-not-exist.json"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot read snapshot does-not-exist.json"));

    let o = agdiag(&["explain", "999999"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn checks_and_explain_print() {
    let o = agdiag(&["checks"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("hadr.disabled"));
    let o = agdiag(&["checks", "--format", "json"]);
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(doc.as_array().unwrap().iter().any(|c| c["id"] == "hadr.disabled"));
}

#[test]
fn several_snapshot_files_are_one_ag_and_a_repeated_instance_is_bad_input() {
    let broken: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(BROKEN).unwrap()).unwrap();
    let dir = std::env::temp_dir().join(format!("agdiag-cli-merge-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // One file per replica, as collect.sql writes them; the probes travel with the first.
    let mut parts = Vec::new();
    for (i, instance) in broken["instances"].as_array().unwrap().iter().enumerate() {
        let mut part = broken.clone();
        part["instances"] = serde_json::json!([instance]);
        if i > 0 {
            part["probes"] = serde_json::json!([]);
        }
        let path = dir.join(format!("part{i}.json"));
        std::fs::write(&path, part.to_string()).unwrap();
        parts.push(path.to_str().unwrap().to_string());
    }
    let summary = |o: &Output| serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()["findings"].clone();
    let whole = agdiag(&["analyze", BROKEN, "--format", "json"]);
    let mut args = vec!["analyze"];
    args.extend(parts.iter().map(String::as_str));
    args.extend(["--format", "json"]);
    let merged = agdiag(&args);
    assert_eq!(merged.status.code(), Some(1));
    assert_eq!(summary(&merged), summary(&whole), "three files give the findings of the whole snapshot");

    let twice = agdiag(&["analyze", &parts[0], &parts[0]]);
    assert_eq!(twice.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&twice.stderr).contains("instance SQL1 is in more than one snapshot"));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn every_explanation_and_the_catalog_fit_a_100_column_terminal() {
    let mut outputs = vec![agdiag(&["checks"])];
    for number in agdiag::explain::known_errors() {
        outputs.push(agdiag(&["explain", &number.to_string()]));
    }
    for o in &outputs {
        assert_eq!(o.status.code(), Some(0));
        for line in stdout(o).lines() {
            assert!(line.chars().count() <= 100, "line longer than 100 columns: {line}");
        }
    }
    assert!(stdout(&outputs[1]).contains("Diagnosis, in order:") || agdiag::explain::known_errors().is_empty());
    let unknown = agdiag(&["explain", "99999"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no explanation for error 99999"));
}

#[test]
fn not_evaluated_reasons_are_listed_and_wrapped() {
    let mut snap: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(HEALTHY).unwrap()).unwrap();
    snap["probes"] = serde_json::json!([]);
    let path = std::env::temp_dir().join(format!("agdiag-cli-noprobes-{}.json", std::process::id()));
    std::fs::write(&path, snap.to_string()).unwrap();
    let o = agdiag(&["analyze", path.to_str().unwrap()]);
    std::fs::remove_file(&path).unwrap();
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    assert!(out.contains("Not evaluated:") && out.contains("network.unreachable"), "{out}");
    for line in out.lines() {
        assert!(line.chars().count() <= 100, "line longer than 100 columns: {line}");
    }
}

#[test]
fn a_snapshot_where_nothing_could_be_evaluated_is_not_a_pass() {
    // The only instance did not connect: every check is not evaluated.
    let dir = std::env::temp_dir().join(format!("agdiag-cli-nothing-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("unreachable.json");
    std::fs::write(
        &path,
        r#"{"format": "agdiag.snapshot/1", "instances": [{"target": "sql1,1433", "connected": false,
            "connect_error": {"message": "cannot connect to sql1,1433: Connection refused"}, "results": {}}]}"#,
    )
    .unwrap();
    let o = agdiag(&["analyze", path.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(stdout(&o).contains("Not evaluated:"), "{}", stdout(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("could be evaluated"), "{}", String::from_utf8_lossy(&o.stderr));
    // --fail-on never still means "never fail".
    assert_eq!(agdiag(&["analyze", path.to_str().unwrap(), "--fail-on", "never"]).status.code(), Some(0));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A server name holding U+2028 (drawn as a line break by many terminals and editors) or a bidi
/// override is printed escaped in the table, and the whole output (table and script) holds none.
#[test]
fn deceptive_characters_in_server_names_are_printed_escaped() {
    let text = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(HEALTHY)).unwrap();
    let hostile = text.replacen("CONTOSO\\\\svc_sql\"", "CONTOSO\\\\svc_sql\\u2028GO\\u202E\"", 1);
    assert_ne!(hostile, text, "the fixture names the service account");
    let path = std::env::temp_dir().join(format!("agdiag-deceptive-{}.json", std::process::id()));
    std::fs::write(&path, hostile).unwrap();
    let o = agdiag(&["analyze", path.to_str().unwrap(), "--fix-script", "-"]);
    let _ = std::fs::remove_file(&path);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("svc_sql\\u2028GO\\u202E"), "{out}");
    assert!(!out.chars().any(|c| c != '\n' && agdiag::untrusted_text::is_deceptive(c)), "{out}");
}
