//! End to end on loopback: the healthy 3-replica AG served by the test TDS server, collected by
//! the library, by `agdiag_run` and by the CLI. Rows equal the scenario's, findings equal the
//! offline analysis, discovery finds SQL2 and SQL3 from SQL1, the sentinel password leaks nowhere.

#[path = "support/tds_server/mod.rs"]
mod tds_server;
#[path = "support/collect_fixture.rs"]
mod fixture;

use std::ffi::{CStr, CString};
use std::process::Command;
use std::sync::Arc;

use agdiag::collect::{Request, StaticResolver};
use agdiag::ffi::*;
use agdiag::snapshot::Snapshot;
use fixture::*;

fn take_string(p: *mut std::ffi::c_char) -> String {
    assert!(!p.is_null());
    let s = unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_string();
    unsafe { agdiag_string_free(p) };
    s
}

#[test]
fn library_collects_discovers_and_matches_offline_analysis() {
    let ag = Ag::start(&healthy_scenario());
    let request = Request::from_json(&ag.request(&["SQL1"]).to_string()).unwrap();
    let report = agdiag::collect::run_with(request, Arc::new(StaticResolver::new())).unwrap();
    let snap = &report.snapshot;
    // Discovery: only SQL1 was given; SQL2 and SQL3 came from its availability_replicas.
    assert_eq!(snap.instances.len(), 3, "{:#?}", snap.instances.iter().map(|i| &i.target).collect::<Vec<_>>());
    assert_eq!(snap.instances[0].target, ag.addr("SQL1"));
    assert_eq!(snap.instances[1].target, ag.addr("SQL2"));
    assert_eq!(snap.instances[2].target, ag.addr("SQL3"));
    for name in ["SQL1", "SQL2", "SQL3"] {
        assert_eq!(ag.server(name).logins().len(), 1, "{name} logged in once");
        // The primary gets a second batch: the users of the availability databases it is the
        // primary of (known only after the first); the secondaries read master's only.
        let expected = if name == "SQL1" { 2 } else { 1 };
        assert_eq!(ag.server(name).batches().len(), expected, "{name}: one batch for every key (and the primary's databases)");
    }
    let second = &ag.server("SQL1").batches()[1];
    assert!(second.contains("SELECT N'SalesDB' AS database_name, * FROM [SalesDB].sys.database_principals;"), "{second}");
    assert_rows_equal(snap, &healthy_snapshot());
    assert_same_findings(snap);
    assert_eq!(snap.collection.as_ref().unwrap()["trust_server_certificate"], false);
    assert_eq!(snap.collection.as_ref().unwrap()["encrypt"], "none");
    // Probes ran (names do not resolve with the empty injected resolver) and say so.
    assert!(!snap.probes.is_empty());
    let by_name: Vec<_> = snap.probes.iter().filter(|p| p.via == "name").collect();
    assert_eq!(by_name.len(), 7, "3 endpoints, 3 routing URLs, 1 listener: {by_name:#?}");
    assert!(by_name.iter().all(|p| !p.ok && p.error.as_deref().unwrap_or("").contains("name resolution failed")));
    // Without a resolvable name, only the listener's catalog IP is still tried directly.
    let by_ip: Vec<_> = snap.probes.iter().filter(|p| p.via == "ip").collect();
    assert_eq!(by_ip.len(), 1, "{by_ip:#?}");
    assert_eq!(by_ip[0].address.as_deref(), Some("10.0.0.50"));
    // The snapshot round-trips through the contract parser.
    assert_eq!(Snapshot::from_json(&snap.to_json_pretty()).unwrap(), *snap);
}

#[test]
fn agdiag_run_collects_the_same() {
    let ag = Ag::start(&healthy_scenario());
    let mut request = ag.request(&["SQL1"]);
    request["probes"] = false.into();
    let text = CString::new(request.to_string()).unwrap();
    let report = agdiag_run(text.as_ptr());
    assert!(!report.is_null(), "{:?}", unsafe { CStr::from_ptr(agdiag_last_error()) });
    let snapshot = take_string(agdiag_report_snapshot_json(report));
    let findings = take_string(agdiag_report_findings_json(report));
    let script = take_string(agdiag_report_fix_script(report, std::ptr::null()));
    unsafe { agdiag_report_free(report) };
    let snap = Snapshot::from_json(&snapshot).unwrap();
    assert_eq!(snap.instances.len(), 3);
    assert!(snap.probes.is_empty());
    assert_rows_equal(&snap, &healthy_snapshot());
    assert_same_findings(&snap);
    for text in [&snapshot, &findings, &script] {
        assert!(!text.contains(SENTINEL));
    }
}

#[test]
fn agdiag_run_rejects_bad_requests_with_a_message_and_no_secret() {
    let bad = CString::new(format!(
        r#"{{"instances":["a"],"authentication":{{"method":"sql","user":"u","password":"{SENTINEL}"}},"concurrency":"{SENTINEL}"}}"#
    ))
    .unwrap();
    assert!(agdiag_run(bad.as_ptr()).is_null());
    let err = unsafe { CStr::from_ptr(agdiag_last_error()) }.to_str().unwrap().to_string();
    assert!(err.contains("concurrency") || err.contains("invalid type"), "{err}");
    assert!(!err.contains(SENTINEL), "{err}");
    assert!(agdiag_run(std::ptr::null()).is_null());
    let none = CString::new(r#"{"instances":[]}"#).unwrap();
    assert!(agdiag_run(none.as_ptr()).is_null());
}

fn agdiag_cli(args: &[String]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_agdiag")).args(args).env("AGDIAG_TEST_PW", SENTINEL).output().expect("run agdiag")
}

fn connect_args(ag: &Ag) -> Vec<String> {
    let mut args: Vec<String> = vec!["-S".into(), ag.addr("SQL1"), "-U".into(), "agdiag".into()];
    args.extend(["--password-env".into(), "AGDIAG_TEST_PW".into(), "--encrypt".into(), "none".into(), "--no-probes".into()]);
    for name in ["SQL2", "SQL3"] {
        args.extend(["--override".into(), format!("{name}={}", ag.addr(name))]);
    }
    args
}

#[test]
fn cli_collect_writes_the_snapshot_and_check_analyzes_it() {
    let ag = Ag::start(&healthy_scenario());
    let dir = std::env::temp_dir().join(format!("agdiag-collect-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("snapshot.json");

    let mut args = vec!["collect".to_string()];
    args.extend(connect_args(&ag));
    args.extend(["-o".into(), out.to_str().unwrap().into()]);
    let o = agdiag_cli(&args);
    let stderr = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    // Not a terminal: no progress lines.
    assert!(stderr.is_empty(), "{stderr}");
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(!text.contains(SENTINEL));
    let snap = Snapshot::from_json(&text).unwrap();
    assert_rows_equal(&snap, &healthy_snapshot());
    assert_same_findings(&snap);

    // `agdiag analyze` accepts what `agdiag collect` wrote.
    let o = agdiag_cli(&["analyze".into(), out.to_str().unwrap().into(), "--fail-on".into(), "info".into()]);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stdout));

    let script = dir.join("fix.sql");
    let mut args = vec!["check".to_string()];
    args.extend(connect_args(&ag));
    let html = dir.join("report.html");
    args.extend(["--format".into(), "json".into(), "--fix-script".into(), script.to_str().unwrap().into()]);
    args.extend(["--html".into(), html.to_str().unwrap().into()]);
    let o = agdiag_cli(&args);
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).expect("findings JSON");
    assert_eq!(doc["format"], "agdiag.findings/1");
    let script_text = std::fs::read_to_string(&script).unwrap();
    // `check --html` draws what it collected: every replica, every connection.
    let page = std::fs::read_to_string(&html).expect("check --html writes the page");
    for replica in ["SQL1", "SQL2", "SQL3"] {
        assert!(page.contains(&format!("data-replica=\"{replica}\"")), "{replica} is drawn");
    }
    assert!(page.contains("data-state=\"CONNECTED\""));
    for text in [String::from_utf8_lossy(&o.stdout).to_string(), String::from_utf8_lossy(&o.stderr).to_string(), script_text, page] {
        assert!(!text.contains(SENTINEL));
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn cli_refuses_a_user_without_a_password_source() {
    let o = agdiag_cli(&["collect".into(), "-S".into(), "127.0.0.1,1".into(), "-U".into(), "sa".into()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--password-env"));
    // There is no plain password flag at all.
    let o = agdiag_cli(&["collect".into(), "-S".into(), "x".into(), "-U".into(), "sa".into(), "-P".into(), SENTINEL.into()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(!String::from_utf8_lossy(&o.stderr).contains(SENTINEL) || String::from_utf8_lossy(&o.stderr).contains("unexpected argument"));
}

#[test]
fn login_failure_is_recorded_without_the_password() {
    let mut scenario = healthy_scenario();
    scenario.set_credentials("SQL2", Some(("agdiag".into(), "another-password".into())));
    let ag = Ag::start(&scenario);
    let request = Request::from_json(&ag.request(&["SQL1"]).to_string()).unwrap();
    let report = agdiag::collect::run_with(request, Arc::new(StaticResolver::new())).unwrap();
    let sql2 = report.snapshot.instances.iter().find(|i| i.target == ag.addr("SQL2")).unwrap();
    assert!(!sql2.connected);
    let err = sql2.connect_error.as_ref().unwrap();
    assert_eq!(err.number, Some(18456), "{err:?}");
    let everything = format!("{}{}{}", report.snapshot.to_json_pretty(), report.findings_json(), report.fix_script(&Default::default()));
    assert!(!everything.contains(SENTINEL));
}

#[test]
fn cli_failures_name_the_problem_and_never_print_the_password() {
    let ag = Ag::start(&healthy_scenario());
    let port = ag.rt.block_on(tds_server::closed_port());
    // An unreachable instance is recorded in the snapshot (stdout); nothing prints the password.
    let args: Vec<String> = ["collect", "-S", &format!("127.0.0.1,{port}"), "-U", "agdiag", "--password-env", "AGDIAG_TEST_PW"]
        .iter()
        .map(|s| s.to_string())
        .chain(["--encrypt", "none", "--no-probes", "--connect-timeout-ms", "500"].iter().map(|s| s.to_string()))
        .collect();
    let o = agdiag_cli(&args);
    let (stdout, stderr) = (String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert_eq!(o.status.code(), Some(0), "{stderr}");
    assert!(stdout.contains("refused") && !stdout.contains(SENTINEL) && !stderr.contains(SENTINEL), "{stdout}{stderr}");
    // Bad values are refused before anything connects, with the field named.
    for (extra, says) in [
        (vec!["--concurrency", "0"], "concurrency 0 is out of range"),
        (vec!["--login-timeout-ms", "0"], "timeout login_ms = 0 is out of range"),
        (vec!["-S", "sql1:1433"], "not a colon"),
    ] {
        let mut a = args.clone();
        a.extend(extra.iter().map(|s| s.to_string()));
        let o = agdiag_cli(&a);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(says) && !stderr.contains(SENTINEL), "{stderr}");
    }
}
