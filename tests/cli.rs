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
    let text = std::fs::read_to_string(&script).unwrap();
    assert!(text.starts_with("--- YOU MUST EXECUTE"));
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
