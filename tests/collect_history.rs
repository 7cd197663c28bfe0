//! The evidence side of "what happened, and would failover work now": the collector reads the
//! AlwaysOn_health events (bounded to a window and a row cap), the event sessions and the database
//! replica cluster states in its one batch per instance. A history file that is missing or denied
//! is a `query_errors` entry for `alwayson_health`, never a failed collection.

#[path = "support/tds_server/mod.rs"]
mod tds_server;
#[path = "support/collect_fixture.rs"]
mod fixture;
#[path = "support/tools.rs"]
mod tools;

use std::process::Command;
use std::sync::Arc;

use agdiag::collect::{Request, StaticResolver};
use agdiag::snapshot::{keys, Snapshot};
use fixture::*;
use serde_json::Value;

const HISTORY_KEYS: [&str; 4] =
    [keys::ALWAYSON_HEALTH, keys::SERVER_EVENT_SESSIONS, keys::DM_XE_SESSIONS, keys::DM_HADR_DATABASE_REPLICA_CLUSTER_STATES];

fn collect(request: Value) -> Snapshot {
    let request = Request::from_json(&request.to_string()).unwrap();
    agdiag::collect::run_with(request, Arc::new(StaticResolver::new())).unwrap().snapshot
}

#[test]
fn history_evidence_lands_with_the_rows_the_servers_hold() {
    let ag = Ag::start(&healthy_scenario());
    let snap = collect(ag.request(&["SQL1"]));
    assert_eq!(snap.instances.len(), 3);
    let expected = healthy_snapshot();
    assert_rows_equal(&snap, &expected);
    for instance in &snap.instances {
        for key in HISTORY_KEYS {
            assert!(instance.results.contains_key(key), "{}: {key}", instance.name());
        }
    }
    // The rows are the events as served: XML text, file, offset, datetime2(7) time.
    let sql1 = snap.instances.iter().find(|i| i.is_named("SQL1")).unwrap();
    let events = &sql1.results[keys::ALWAYSON_HEALTH];
    let served = &expected.instances.iter().find(|i| i.is_named("SQL1")).unwrap().results[keys::ALWAYSON_HEALTH];
    assert!(!events.is_empty() && events.len() == served.len(), "{} events, {} served", events.len(), served.len());
    for (got, want) in events.iter().zip(served) {
        let name = got.str("object_name").expect("object_name");
        assert_eq!(got.str("event_data"), want.str("event_data"));
        assert!(got.str("event_data").unwrap().starts_with(&format!("<event name=\"{name}\" package=\"sqlserver\" timestamp=\"")));
        let time = got.str("timestamp_utc").expect("timestamp_utc");
        assert_eq!(time.len(), "2026-11-22T03:41:55.2700000".len(), "datetime2(7): {time}");
        assert_eq!(Some(time), want.str("timestamp_utc"));
        assert!(got.get("file_offset").is_some_and(Value::is_i64) && got.str("file_name").is_some_and(|f| f.ends_with(".xel")));
    }
    // The window and the cap are stated in the snapshot and are in every batch that was sent.
    let collection = snap.collection.as_ref().unwrap();
    assert_eq!(collection["history_days"], 7);
    assert_eq!(collection["history_max_rows"], 50_000);
    for batch in first_round(ag.all_batches()) {
        assert!(batch.contains("sys.fn_xe_file_target_read_file(p.pattern, NULL, NULL, NULL)"), "{batch}");
        assert!(batch.contains("SELECT TOP (50000) x.object_name"));
        assert!(batch.contains("WHERE w.event_time >= DATEADD(day, -7, SYSUTCDATETIME())"));
        assert!(batch.contains("SELECT * FROM sys.server_permissions;\n"), "every server permission, not only class 105");
    }
}

#[test]
fn a_missing_or_denied_history_file_is_a_query_error_and_every_other_key_lands() {
    let mut scenario = healthy_scenario();
    // The file function's own error (class 16) on SQL2, a permission error (class 14) on SQL3.
    let missing = "The log file name \"C:\\Program Files\\Microsoft SQL Server\\MSSQL16.MSSQLSERVER\\MSSQL\\Log\\AlwaysOn_health*.xel\" is invalid.  Verify that the file exists and that the SQL Server service account has access to it.";
    scenario.deny("SQL2", keys::ALWAYSON_HEALTH, 25718, missing);
    scenario.deny("SQL3", keys::ALWAYSON_HEALTH, 300, "VIEW SERVER STATE permission was denied on object 'server', database 'master'.");
    let ag = Ag::start(&scenario);
    let snap = collect(ag.request(&["SQL1"]));
    let expected = healthy_snapshot();
    for (name, number) in [("SQL2", 25718), ("SQL3", 300)] {
        let got = snap.instances.iter().find(|i| i.connected && i.is_named(name)).unwrap_or_else(|| panic!("{name} collected"));
        assert_eq!(got.query_errors.len(), 1, "{name}: {:?}", got.query_errors);
        let error = &got.query_errors[keys::ALWAYSON_HEALTH];
        assert_eq!(error.number, Some(number), "{name}: {error:?}");
        assert!(!got.results.contains_key(keys::ALWAYSON_HEALTH), "{name}: no rows under a failed key");
        let want = expected.instances.iter().find(|i| i.is_named(name)).unwrap();
        for key in keys::ALL.iter().filter(|k| **k != keys::ALWAYSON_HEALTH) {
            let rows: Vec<_> = got.results.get(*key).unwrap_or_else(|| panic!("{name}: {key} missing")).iter().map(normalized).collect();
            let want_rows: Vec<_> = want.results[*key].iter().map(normalized).collect();
            assert_eq!(rows, want_rows, "{name}: {key}");
        }
    }
    let sql1 = snap.instances.iter().find(|i| i.is_named("SQL1")).unwrap();
    assert!(sql1.query_errors.is_empty(), "{:?}", sql1.query_errors);
    let served = &expected.instances.iter().find(|i| i.is_named("SQL1")).unwrap().results[keys::ALWAYSON_HEALTH];
    assert_eq!(sql1.results[keys::ALWAYSON_HEALTH].len(), served.len());
}

#[test]
fn the_history_window_option_reaches_every_batch_and_zero_reads_no_history() {
    let ag = Ag::start(&healthy_scenario());
    let mut request = ag.request(&["SQL1"]);
    request["history_days"] = 30.into();
    request["probes"] = false.into();
    let snap = collect(request.clone());
    assert_eq!(snap.collection.as_ref().unwrap()["history_days"], 30);
    assert_eq!(snap.instances.len(), 3);
    let batches = first_round(ag.all_batches());
    assert_eq!(batches.len(), 3);
    for batch in &batches {
        assert!(batch.contains("DATEADD(day, -30, SYSUTCDATETIME())") && batch.contains("TOP (50000)"), "{batch}");
    }

    request["history_days"] = 0.into();
    let snap = collect(request);
    for instance in &snap.instances {
        assert!(instance.query_errors.is_empty(), "{:?}", instance.query_errors);
        assert!(!instance.results.contains_key(keys::ALWAYSON_HEALTH), "0 days: not collected");
        assert!(instance.results.contains_key(keys::SERVER_EVENT_SESSIONS));
    }
    let later: Vec<String> = first_round(ag.all_batches()).into_iter().filter(|b| !batches.contains(b)).collect();
    assert_eq!(later.len(), 3);
    assert!(later.iter().all(|b| !b.contains("fn_xe_file_target_read_file")));
}

#[test]
fn cli_history_days_flag_sets_the_window() {
    let ag = Ag::start(&healthy_scenario());
    let mut args: Vec<String> = ["collect", "-S", &ag.addr("SQL1"), "-U", "agdiag", "--password-env", "AGDIAG_TEST_PW"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.extend(["--encrypt", "none", "--no-probes", "--no-discover", "--history-days", "3"].iter().map(|s| s.to_string()));
    let o = Command::new(env!("CARGO_BIN_EXE_agdiag")).args(&args).env("AGDIAG_TEST_PW", SENTINEL).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
    let snap = Snapshot::from_json(&String::from_utf8_lossy(&o.stdout)).unwrap();
    assert_eq!(snap.collection.as_ref().unwrap()["history_days"], 3);
    let served = healthy_snapshot().instances.iter().find(|i| i.is_named("SQL1")).unwrap().results[keys::ALWAYSON_HEALTH].len();
    assert!(served > 0);
    assert_eq!(snap.instances[0].results[keys::ALWAYSON_HEALTH].len(), served);
    assert!(ag.server("SQL1").batches()[0].contains("DATEADD(day, -3, SYSUTCDATETIME())"));
    // Out of range is refused before anything connects.
    let mut bad = args.clone();
    *bad.last_mut().unwrap() = "4000".into();
    let o = Command::new(env!("CARGO_BIN_EXE_agdiag")).args(&bad).env("AGDIAG_TEST_PW", SENTINEL).output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("history_days 4000 is out of range"));
}

#[test]
fn freetds_tsql_reads_the_served_history_rows() {
    if !tools::require_tool("tsql", "FreeTDS, an independent TDS client (Debian freetds-bin)") {
        return;
    }
    use std::io::Write;
    let ag = Ag::start(&healthy_scenario());
    let port = ag.server("SQL1").addr().port().to_string();
    // A part with the key's marker line and no marker statement: the key's rows alone.
    let script = "-- agdiag: alwayson_health\nSELECT 1\ngo\nquit\n";
    let mut child = Command::new("timeout")
        .args(["30", "tsql", "-H", "127.0.0.1", "-p", &port, "-U", "agdiag", "-P", "s3cret-Sentinel"])
        .env("TDSVER", "7.4")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn tsql");
    child.stdin.take().unwrap().write_all(script.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    let text = format!("{}\n{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{text}");
    let expected = healthy_snapshot();
    let served = &expected.instances.iter().find(|i| i.is_named("SQL1")).unwrap().results[keys::ALWAYSON_HEALTH];
    for row in served {
        // nvarchar(max) event XML, bigint offset and the datetime2(7) day, as FreeTDS prints them.
        let name = row.str("object_name").unwrap();
        assert!(text.contains(&format!("<event name=\"{name}\" package=\"sqlserver\"")), "{name}: {text}");
        // FreeTDS prints a datetime2 as "Nov 20 2026 08:00AM".
        let time = row.str("timestamp_utc").unwrap();
        let month = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"][time[5..7].parse::<usize>().unwrap() - 1];
        let day: u32 = time[8..10].parse().unwrap();
        let cells = format!(".xel\t{}\t{month} {day} {}", row.get("file_offset").unwrap(), &time[..4]);
        assert!(text.contains(&cells), "{cells}: {text}");
    }
}

#[test]
fn history_is_read_last_so_a_slow_file_read_keeps_every_other_key() {
    // SQL1 stalls in the middle of its AlwaysOn_health rows (a server still reading large files):
    // the command timeout ends the batch, and every other key has already landed.
    let expected = healthy_snapshot();
    let sql1 = expected.instances.iter().find(|i| i.is_named("SQL1")).unwrap();
    let events = sql1.results[keys::ALWAYSON_HEALTH].len();
    assert!(events >= 3, "the stall falls inside the history rows");
    // Rows the server sends before the history data: each key's marker row and its rows.
    // (database_principals: master's rows; the availability databases' come in a second round.)
    let in_batch = |k: &str| sql1.results[k].iter().filter(|r| k != keys::DATABASE_PRINCIPALS || r.str("database_name") == Some("master")).count();
    let before: usize = keys::ALL.iter().filter(|k| **k != keys::ALWAYSON_HEALTH).map(|k| 1 + in_batch(k)).sum();
    let mut scenario = healthy_scenario();
    scenario.set_fault("SQL1", tds_server::Fault::StallMidResult { after_rows: before + 1 + 2 });
    let ag = Ag::start(&scenario);
    let mut request = ag.request(&["SQL1"]);
    request["discover_replicas"] = false.into();
    request["probes"] = false.into();
    request["timeouts"]["command_ms"] = 800.into();
    let snap = collect(request);
    let got = &snap.instances[0];
    assert!(got.connected);
    // No second round on a stalled connection: SalesDB's users say why they are missing.
    assert_eq!(got.query_errors.keys().collect::<Vec<_>>(), vec![keys::ALWAYSON_HEALTH, "database_principals:SalesDB"], "{:?}", got.query_errors);
    assert!(got.query_errors[keys::ALWAYSON_HEALTH].message.contains("no response from the server for 800 ms"));
    assert!(got.query_errors["database_principals:SalesDB"].message.contains("not read: the connection was lost"));
    for key in keys::ALL.iter().filter(|k| **k != keys::ALWAYSON_HEALTH) {
        let rows: Vec<_> = got.results.get(*key).unwrap_or_else(|| panic!("{key} missing")).iter().map(normalized).collect();
        let want: Vec<_> = sql1.results[*key].iter().filter(|r| *key != keys::DATABASE_PRINCIPALS || r.str("database_name") == Some("master")).map(normalized).collect();
        assert_eq!(rows, want, "{key}");
    }
    assert!(!got.results.contains_key(keys::ALWAYSON_HEALTH), "a cut set is not kept as evidence");
}
