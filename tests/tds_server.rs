//! The test TDS server speaks real TDS: tiberius (the collector's client), FreeTDS `tsql` and
//! pytds connect to it, read scenario rows, and see each fault mode as the right client error.

#[path = "support/tds_server/mod.rs"]
mod tds_server;
#[path = "support/tools.rs"]
mod tools;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_util::TryStreamExt;
use serde_json::{Value, json};
use tds_server::{Fault, Scenario, ServerConfig, SqlType, StatementResult, TestServer};
use tiberius::{AuthMethod, Client, ColumnData, Config, EncryptionLevel, QueryItem};
use tokio::net::TcpStream;
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};

type TdsClient = Client<Compat<TcpStream>>;

fn client_config(addr: SocketAddr) -> Config {
    let mut config = Config::new();
    config.host(addr.ip().to_string());
    config.port(addr.port());
    config.authentication(AuthMethod::sql_server("agdiag", "s3cret-Sentinel"));
    config.encryption(EncryptionLevel::NotSupported);
    config.database("master");
    config.application_name("agdiag-test");
    config
}

async fn connect(addr: SocketAddr) -> tiberius::Result<TdsClient> {
    let tcp = TcpStream::connect(addr).await?;
    tcp.set_nodelay(true)?;
    Client::connect(client_config(addr), tcp.compat_write()).await
}

/// One result set as the client saw it.
#[derive(Debug, Default)]
struct ResultSetSeen {
    columns: Vec<String>,
    rows: Vec<Vec<ColumnData<'static>>>,
}

/// Streams a batch with `try_next` (not `into_results`, which drops every row when any
/// statement fails): every result set, plus the errors met on the way.
async fn run_batch(client: &mut TdsClient, batch: &str) -> (Vec<ResultSetSeen>, Vec<tiberius::error::Error>) {
    // `simple_query` reads up to the first result set: a batch with errors and no result set
    // fails right here.
    let mut stream = match client.simple_query(batch).await {
        Ok(stream) => stream,
        Err(error) => return (Vec::new(), vec![error]),
    };
    let mut sets: Vec<ResultSetSeen> = Vec::new();
    let mut errors = Vec::new();
    loop {
        match stream.try_next().await {
            Ok(Some(QueryItem::Metadata(metadata))) => sets.push(ResultSetSeen {
                columns: metadata.columns().iter().map(|column| column.name().to_string()).collect(),
                rows: Vec::new(),
            }),
            Ok(Some(QueryItem::Row(row))) => sets.last_mut().expect("row after metadata").rows.push(row.into_iter().collect()),
            Ok(None) => break,
            Err(error) => {
                let fatal = !matches!(error, tiberius::error::Error::Server(_));
                errors.push(error);
                if fatal {
                    break;
                }
            }
        }
    }
    (sets, errors)
}

/// A cell as the snapshot holds it (bit → bool, integers → number, text → string, NULL → null).
fn cell_json(cell: &ColumnData<'_>) -> Value {
    match cell {
        ColumnData::Bit(value) => json!(value),
        ColumnData::U8(value) => json!(value),
        ColumnData::I16(value) => json!(value),
        ColumnData::I32(value) => json!(value),
        ColumnData::I64(value) => json!(value),
        ColumnData::F64(value) => json!(value),
        ColumnData::String(value) => json!(value.as_deref()),
        other => panic!("unexpected column type in a scenario result: {other:?}"),
    }
}

/// Rows as JSON objects with every column, for comparison with the snapshot's rows.
fn rows_json(set: &ResultSetSeen) -> Vec<Value> {
    set.rows
        .iter()
        .map(|row| Value::Object(set.columns.iter().cloned().zip(row.iter().map(cell_json)).collect()))
        .collect()
}

/// The snapshot's rows with every column of the set present (absent = NULL), in column order.
fn expected_rows(rows: &[Value], columns: &[String]) -> Vec<Value> {
    rows.iter()
        .map(|row| Value::Object(columns.iter().map(|name| (name.clone(), row.get(name).cloned().unwrap_or(Value::Null))).collect()))
        .collect()
}

fn healthy_snapshot() -> Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/snapshots/healthy-3-replica.json")).expect("read healthy example");
    serde_json::from_str(&text).expect("parse healthy example")
}

fn server_error(error: &tiberius::error::Error) -> (u32, u8, u8, String) {
    match error {
        tiberius::error::Error::Server(token) => (token.code(), token.state(), token.class(), token.message().to_string()),
        other => panic!("expected a server error, got {other:?}"),
    }
}

const KEYS: [&str; 6] = ["server_properties", "database_mirroring_endpoints", "availability_replicas", "server_permissions", "dm_hadr_availability_replica_states", "errorlog"];

fn collector_batch(keys: &[&str]) -> String {
    keys.iter().map(|key| format!("-- agdiag: {key}\nSELECT * FROM sys.{key};\n")).collect()
}

#[tokio::test]
async fn tiberius_connects_and_reads_the_default_answer() {
    let server = TestServer::start(ServerConfig::default()).await.expect("start");
    let mut client = connect(server.addr()).await.expect("connect");
    let row = client.simple_query("SELECT 1").await.expect("query").into_row().await.expect("row").expect("one row");
    assert_eq!(row.get::<i32, _>(0), Some(1));
    let version = client.simple_query("select @@version").await.expect("query").into_row().await.expect("row").expect("one row");
    assert!(version.get::<&str, _>(0).is_some_and(|text| text.contains("SQL Server")));
    let logins = server.logins();
    assert_eq!(logins.len(), 1);
    assert_eq!(logins[0].user, "agdiag");
    assert_eq!(logins[0].database, "master");
    assert_eq!(logins[0].app_name, "agdiag-test");
    assert!(!format!("{logins:?}").contains("s3cret"), "a login record must not hold the password");
    assert_eq!(server.batches(), vec!["SELECT 1".to_string(), "select @@version".to_string()]);
    server.shutdown().await;
}

#[tokio::test]
async fn a_scenario_batch_returns_each_instances_snapshot_rows() {
    let snapshot = healthy_snapshot();
    let scenario = Scenario::from_snapshot(&snapshot);
    assert_eq!(scenario.instances(), vec!["SQL1", "SQL2", "SQL3"]);
    let batch = collector_batch(&KEYS);
    for (name, server) in scenario.start_all().await.expect("start scenario") {
        let mut client = connect(server.addr()).await.expect("connect");
        let (sets, errors) = run_batch(&mut client, &batch).await;
        assert!(errors.is_empty(), "{name}: {errors:?}");
        assert_eq!(sets.len(), KEYS.len(), "{name}: one result set per key");
        for (key, set) in KEYS.iter().zip(&sets) {
            let expected = scenario.rows(&name, key).expect("the healthy example has the key");
            assert!(!expected.is_empty(), "{name} {key}: pick keys with rows");
            assert_eq!(rows_json(set), expected_rows(expected, &set.columns), "{name} {key}");
        }
        assert_eq!(sets[0].rows.len(), 1);
        assert_eq!(rows_json(&sets[0])[0]["ServerName"], json!(name));
        assert_eq!(server.batches(), vec![batch.clone()]);
        server.shutdown().await;
    }
}

#[tokio::test]
async fn empty_missing_and_denied_keys_answer_like_sql_server() {
    let mut snapshot = healthy_snapshot();
    snapshot["instances"][1]["results"]["errorlog"] = json!([]);
    snapshot["instances"][1]["results"].as_object_mut().expect("results").remove("dm_hadr_cluster");
    snapshot["instances"][1]["query_errors"] = json!({ "server_permissions": { "number": 297, "message": "The user does not have permission to perform this action." } });
    let mut scenario = Scenario::from_snapshot(&snapshot);
    scenario.deny("SQL2", "dm_server_services", 300, "VIEW SERVER STATE permission was denied on object 'server', database 'master'.");
    let server = TestServer::start(scenario.config_for("SQL2")).await.expect("start");
    let mut client = connect(server.addr()).await.expect("connect");

    let keys = ["server_properties", "dm_server_services", "errorlog", "dm_hadr_cluster", "server_permissions", "endpoints"];
    let (sets, errors) = run_batch(&mut client, &collector_batch(&keys)).await;

    // Rows before and after the errors survive when the stream is read item by item.
    assert_eq!(sets.len(), 3, "server_properties, empty errorlog, endpoints: {sets:?}");
    assert_eq!(rows_json(&sets[0])[0]["ServerName"], json!("SQL2"));
    assert!(sets[1].rows.is_empty());
    assert_eq!(sets[1].columns, vec!["LogDate", "ProcessInfo", "Text"], "an empty key keeps the columns other instances have");
    assert_eq!(rows_json(&sets[2]), expected_rows(scenario.rows("SQL2", "endpoints").expect("endpoints"), &sets[2].columns));
    // tiberius 0.13 keeps reading after an ERROR token and reports only the batch's first error,
    // at the end of the stream: the 208 and 297 below are not seen here.
    let errors: Vec<_> = errors.iter().map(server_error).collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!((errors[0].0, errors[0].2), (300, 14));
    assert!(errors[0].3.contains("VIEW SERVER STATE"));
    for (key, number, class, text) in [("dm_hadr_cluster", 208, 16, "Invalid object name"), ("server_permissions", 297, 14, "permission")] {
        let (sets, errors) = run_batch(&mut client, &collector_batch(&[key])).await;
        assert!(sets.is_empty(), "{key}: {sets:?}");
        let (got_number, _, got_class, message) = server_error(&errors[0]);
        assert_eq!((got_number, got_class), (number, class), "{key}: {message}");
        assert!(message.contains(text), "{key}: {message}");
    }

    // The tiberius caveat this protocol is built around: `into_results` loses every row.
    let collected = client.simple_query(collector_batch(&keys)).await.expect("send").into_results().await;
    assert!(collected.is_err(), "into_results drops the rows when a statement fails");
    let (sets, _) = run_batch(&mut client, "SELECT 7").await;
    assert_eq!(rows_json(&sets[0]), vec![json!({ "": 7 })], "the connection is usable afterwards");
    server.shutdown().await;
}

#[tokio::test]
async fn marker_statements_name_each_data_set_and_a_failed_one_has_none() {
    let mut scenario = Scenario::from_snapshot(&healthy_snapshot());
    scenario.deny("SQL2", "dm_server_services", 300, "VIEW SERVER STATE permission was denied on object 'server', database 'master'.");
    let server = TestServer::start(scenario.config_for("SQL2")).await.expect("start");
    let mut client = connect(server.addr()).await.expect("connect");
    // The collector's own batch text: comment line, marker SELECT, statement, per key.
    let keys = ["server_properties", "dm_server_services", "endpoints"];
    let batch = agdiag::collect::queries::Batch::new(&keys).text;
    let (sets, errors) = run_batch(&mut client, &batch).await;
    let marker_of = |set: &ResultSetSeen| match &set.rows[..] {
        [row] if set.columns == ["agdiag_key"] => cell_json(&row[0]).as_str().map(str::to_string),
        _ => None,
    };
    let markers: Vec<Option<String>> = sets.iter().map(marker_of).collect();
    let named = |key: &str| Some(key.to_string());
    // The denied statement shows as a marker directly followed by the next marker.
    assert_eq!(markers, vec![named("server_properties"), None, named("dm_server_services"), named("endpoints"), None]);
    assert_eq!(rows_json(&sets[1])[0]["ServerName"], json!("SQL2"));
    assert_eq!(rows_json(&sets[4]), expected_rows(scenario.rows("SQL2", "endpoints").expect("endpoints"), &sets[4].columns));
    assert_eq!(server_error(&errors[0]).0, 300);
    server.shutdown().await;
}

#[tokio::test]
async fn every_sql_type_round_trips_through_tiberius() {
    let long_text = "x".repeat(5000); // beyond nvarchar(4000): sent as nvarchar(max)
    let columns = vec![
        ("bit".to_string(), SqlType::Bit),
        ("tiny".to_string(), SqlType::TinyInt),
        ("small".to_string(), SqlType::SmallInt),
        ("int".to_string(), SqlType::Int),
        ("big".to_string(), SqlType::BigInt),
        ("text".to_string(), SqlType::NVarChar),
        ("code".to_string(), SqlType::Char(4)),
        ("datetime".to_string(), SqlType::DateTime),
        ("datetime2".to_string(), SqlType::DateTime2),
        ("offset".to_string(), SqlType::DateTimeOffset),
        ("guid".to_string(), SqlType::UniqueIdentifier),
        ("bytes".to_string(), SqlType::VarBinary),
        ("float".to_string(), SqlType::Float),
        ("long".to_string(), SqlType::NVarChar),
    ];
    let values = vec![
        json!(true),
        json!(255),
        json!(-300),
        json!(-5022),
        json!(9_000_000_000i64),
        json!("Łódź ✓ CONTOSO\\svc_sql"),
        json!("CO"),
        json!("2026-11-02T03:14:07.500"),
        json!("2026-11-02T03:14:07.1234567"),
        json!("2026-11-02T03:14:07.1234567+02:00"),
        json!("6F9619FF-8B86-D011-B42D-00C04FC964FF"),
        json!("0x01AB"),
        json!(2.5),
        json!(long_text),
    ];
    let nulls = vec![Value::Null; columns.len()];
    let rows = vec![values, nulls];
    let many: Vec<Vec<Value>> = (0..500).map(|n| vec![json!(n), json!(format!("row number {n} with some padding text"))]).collect();
    let (answer_rows, answer_many) = (rows.clone(), many.clone());
    let config = ServerConfig::with_handler(move |_part| {
        vec![
            StatementResult::ResultSet { columns: columns.clone(), rows: answer_rows.clone() },
            StatementResult::ResultSet { columns: vec![("n".into(), SqlType::Int), ("s".into(), SqlType::NVarChar)], rows: answer_many.clone() },
        ]
    });
    let server = TestServer::start(config).await.expect("start");
    let mut client = connect(server.addr()).await.expect("connect");
    let (sets, errors) = run_batch(&mut client, "SELECT everything").await;
    assert!(errors.is_empty(), "{errors:?}");

    let row = &sets[0].rows[0];
    assert!(matches!(row[0], ColumnData::Bit(Some(true))));
    assert!(matches!(row[1], ColumnData::U8(Some(255))));
    assert!(matches!(row[2], ColumnData::I16(Some(-300))));
    assert!(matches!(row[3], ColumnData::I32(Some(-5022))));
    assert!(matches!(row[4], ColumnData::I64(Some(9_000_000_000))));
    assert_eq!(cell_json(&row[5]), json!("Łódź ✓ CONTOSO\\svc_sql"));
    assert_eq!(cell_json(&row[6]), json!("CO  "), "char(4) is space-padded");
    // 2026-11-02 is day 46_326 after 1900-01-01 and day 739_921 after 0001-01-01.
    let ColumnData::DateTime(Some(datetime)) = row[7] else { panic!("{:?}", row[7]) };
    assert_eq!((datetime.days(), datetime.seconds_fragments()), (46_326, (3 * 3600 + 14 * 60 + 7) * 300 + 150));
    let ColumnData::DateTime2(Some(datetime2)) = row[8] else { panic!("{:?}", row[8]) };
    assert_eq!(datetime2.date().days(), 739_921);
    assert_eq!(datetime2.time().increments(), (3 * 3600 + 14 * 60 + 7) * 10_000_000 + 1_234_567);
    let ColumnData::DateTimeOffset(Some(offset)) = row[9] else { panic!("{:?}", row[9]) };
    assert_eq!(offset.offset(), 120);
    assert_eq!(offset.datetime2().time().increments(), (3600 + 14 * 60 + 7) * 10_000_000 + 1_234_567, "stored as UTC");
    let ColumnData::Guid(Some(guid)) = row[10] else { panic!("{:?}", row[10]) };
    assert_eq!(guid.to_string().to_uppercase(), "6F9619FF-8B86-D011-B42D-00C04FC964FF");
    assert!(matches!(&row[11], ColumnData::Binary(Some(bytes)) if bytes.as_ref() == [0x01, 0xAB]));
    assert!(matches!(row[12], ColumnData::F64(Some(value)) if value == 2.5));
    assert_eq!(cell_json(&row[13]), json!(long_text));

    let null_row = &sets[0].rows[1];
    assert!(null_row.iter().all(|cell| format!("{cell:?}").contains("None")), "{null_row:?}");
    assert_eq!(rows_json(&sets[1]), many.iter().map(|row| json!({ "n": row[0], "s": row[1] })).collect::<Vec<_>>(), "a reply of many packets arrives whole");
    server.shutdown().await;
}

const GENEROUS: Duration = Duration::from_secs(10);

#[tokio::test]
async fn a_closed_port_refuses_the_connection() {
    let port = tds_server::closed_port().await;
    let started = Instant::now();
    let error = TcpStream::connect(("127.0.0.1", port)).await.expect_err("nothing listens there");
    assert_eq!(error.kind(), std::io::ErrorKind::ConnectionRefused);
    assert!(started.elapsed() < GENEROUS);
}

#[tokio::test]
async fn a_silent_server_runs_into_the_handshake_timeout() {
    let server = TestServer::start(ServerConfig { fault: Fault::AcceptAndStaySilent, ..ServerConfig::default() }).await.expect("start");
    let mut config = client_config(server.addr());
    config.handshake_timeout(Some(Duration::from_millis(500)));
    let started = Instant::now();
    let tcp = TcpStream::connect(server.addr()).await.expect("the TCP connection is accepted");
    let result = tokio::time::timeout(GENEROUS, Client::connect(config, tcp.compat_write())).await.expect("tiberius gives up by itself");
    let Err(error) = result else { panic!("no login without an answer") };
    assert!(started.elapsed() >= Duration::from_millis(400), "{:?}", started.elapsed());
    assert!(started.elapsed() < GENEROUS, "{error:?}");
    assert!(server.logins().is_empty());
    server.shutdown().await;
}

#[tokio::test]
async fn closing_mid_result_ends_the_stream_with_an_io_error_after_the_rows_sent() {
    let scenario = Scenario::from_snapshot(&healthy_snapshot());
    let mut config = scenario.config_for("SQL1");
    config.fault = Fault::CloseMidResult { after_rows: 3 };
    let server = TestServer::start(config).await.expect("start");
    let mut client = connect(server.addr()).await.expect("login still works");
    let started = Instant::now();
    let (sets, errors) = tokio::time::timeout(GENEROUS, run_batch(&mut client, &collector_batch(&KEYS))).await.expect("no hang");
    assert_eq!(sets.iter().map(|set| set.rows.len()).sum::<usize>(), 3, "{sets:?}");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(!matches!(errors[0], tiberius::error::Error::Server(_)), "a transport error, not a server error: {:?}", errors[0]);
    assert!(started.elapsed() < GENEROUS);
    server.shutdown().await;
}

#[tokio::test]
async fn a_slow_server_delays_every_packet() {
    let delay = Duration::from_millis(100);
    let server = TestServer::start(ServerConfig { packet_delay: delay, ..ServerConfig::default() }).await.expect("start");
    let started = Instant::now();
    let mut client = connect(server.addr()).await.expect("connect");
    let (sets, errors) = run_batch(&mut client, "SELECT 5").await;
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(rows_json(&sets[0]), vec![json!({ "": 5 })]);
    // prelogin, login and result: three packets, each delayed.
    assert!(started.elapsed() >= delay * 3, "{:?}", started.elapsed());
    assert!(started.elapsed() < GENEROUS);
    server.shutdown().await;
}

#[tokio::test]
async fn a_login_failure_carries_18456_and_its_state() {
    let message = "Login failed for user 'agdiag'. Reason: Failed to open the explicitly specified database 'master'.";
    let fault = Fault::LoginFailure { number: 18456, state: 38, message: message.to_string() };
    let server = TestServer::start(ServerConfig { fault, ..ServerConfig::default() }).await.expect("start");
    let Err(error) = tokio::time::timeout(GENEROUS, connect(server.addr())).await.expect("no hang") else { panic!("login fails") };
    assert_eq!(server_error(&error), (18456, 38, 14, message.to_string()));
    assert_eq!(server.logins().len(), 1, "the attempt is recorded");
    server.shutdown().await;

    let credentials = Some(("agdiag".to_string(), "another password".to_string()));
    let server = TestServer::start(ServerConfig { credentials, ..ServerConfig::default() }).await.expect("start");
    let Err(error) = connect(server.addr()).await else { panic!("a wrong password fails") };
    let (number, state, _, text) = server_error(&error);
    assert_eq!((number, state), (18456, 8), "{text}");
    server.shutdown().await;

    let credentials = Some(("agdiag".to_string(), "s3cret-Sentinel".to_string()));
    let server = TestServer::start(ServerConfig { credentials, ..ServerConfig::default() }).await.expect("start");
    connect(server.addr()).await.expect("the right password logs in");
    server.shutdown().await;
}

#[tokio::test]
async fn attention_cancels_a_long_reply_and_the_connection_stays_usable() {
    let rows: Vec<Vec<Value>> = (0..20_000).map(|n| vec![json!(n), json!("a row of a reply that takes long to send")]).collect();
    let config = ServerConfig {
        packet_delay: Duration::from_millis(50), // about 250 packets: over 10 s to send in full
        ..ServerConfig::with_handler(move |part| {
            if part.contains("long") {
                vec![StatementResult::ResultSet { columns: vec![("n".into(), SqlType::Int), ("s".into(), SqlType::NVarChar)], rows: rows.clone() }]
            } else {
                tds_server::default_answer(part, "AGDIAG-TEST")
            }
        })
    };
    let server = TestServer::start(config).await.expect("start");
    let mut client = connect(server.addr()).await.expect("connect");
    let started = Instant::now();
    {
        let mut stream = client.simple_query("SELECT long").await.expect("send");
        let first = stream.try_next().await.expect("read").expect("an item");
        assert!(matches!(first, QueryItem::Metadata(_) | QueryItem::Row(_)));
    }
    tokio::time::timeout(GENEROUS, client.cancel_query()).await.expect("the cancel is acknowledged").expect("cancel");
    assert!(started.elapsed() < GENEROUS, "{:?}", started.elapsed());
    let (sets, errors) = run_batch(&mut client, "SELECT 9").await;
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(rows_json(&sets[0]), vec![json!({ "": 9 })]);

    // A client that drops the connection mid-reply: the server lets go of it.
    let mut stream = client.simple_query("SELECT long").await.expect("send");
    stream.try_next().await.expect("read");
    drop(stream);
    drop(client);
    tokio::time::timeout(GENEROUS, server.shutdown()).await.expect("shutdown does not hang");
}

/// Runs a blocking command with a time limit (coreutils `timeout`), feeding `stdin`.
fn run_tool(program: &str, args: &[&str], env: &[(&str, &str)], stdin: &str) -> (bool, String) {
    use std::io::Write;
    let mut child = std::process::Command::new("timeout")
        .arg("30")
        .arg(program)
        .args(args)
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    child.stdin.take().expect("stdin").write_all(stdin.as_bytes()).expect("write stdin");
    let output = child.wait_with_output().expect("wait");
    let text = format!("{}\n{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn freetds_tsql_reads_a_result_set() {
    if !tools::require_tool("tsql", "FreeTDS, an independent TDS client (Debian freetds-bin)") {
        return;
    }
    let server = TestServer::start(ServerConfig::default()).await.expect("start");
    let port = server.addr().port().to_string();
    let (ok, output) = tokio::task::spawn_blocking(move || {
        run_tool("tsql", &["-H", "127.0.0.1", "-p", &port, "-U", "agdiag", "-P", "s3cret-Sentinel"], &[("TDSVER", "7.3")], "SELECT 4242\ngo\nselect @@version\ngo\nquit\n")
    })
    .await
    .expect("join");
    assert!(ok, "{output}");
    assert!(output.contains("4242"), "{output}");
    assert!(output.contains("agdiag test server"), "{output}");
    assert_eq!(server.batches().len(), 2, "{:?}\n{output}", server.batches());
    assert_eq!(server.logins()[0].user, "agdiag");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pytds_reads_a_scenario_result_set() {
    let found = std::process::Command::new("/usr/bin/python3").args(["-c", "import pytds"]).output().is_ok_and(|o| o.status.success());
    if !tools::require(found, "pytds", "python-tds, an independent TDS client (Debian python3-tds, /usr/bin/python3)") {
        return;
    }
    let scenario = Scenario::from_snapshot(&healthy_snapshot());
    let server = TestServer::start(scenario.config_for("SQL2")).await.expect("start");
    let port = server.addr().port().to_string();
    let script = r#"
import sys, pytds
conn = pytds.connect(server="127.0.0.1", port=int(sys.argv[1]), user="agdiag", password="s3cret-Sentinel",
                     database="master", autocommit=True, login_timeout=20, timeout=20)
cur = conn.cursor()
cur.execute("-- agdiag: server_properties\nSELECT 1 AS x\n-- agdiag: availability_replicas\nSELECT 2 AS y")
print("columns:", [column[0] for column in cur.description])
print("row:", cur.fetchall())
cur.nextset()
print("replicas:", [row[0] for row in cur.fetchall()])
cur.execute("SELECT 4242")
print("answer:", cur.fetchall())
conn.close()
"#;
    let (ok, output) = tokio::task::spawn_blocking(move || run_tool("/usr/bin/python3", &["-c", script, &port], &[], "")).await.expect("join");
    assert!(ok, "{output}");
    assert!(output.contains("'ServerName'") && output.contains("'SQL2'"), "{output}");
    assert!(output.contains("answer: [[4242]]") || output.contains("answer: [(4242,)]"), "{output}");
    server.shutdown().await;
}

#[test]
fn batches_split_at_marker_lines() {
    let batch = "SET NOCOUNT ON;\n-- agdiag: server_properties\nSELECT 1;\n  --  agdiag: errorlog  \nEXEC sys.sp_readerrorlog 0, 1;\n";
    let parts = tds_server::split_batch(batch);
    assert_eq!(parts, vec!["SET NOCOUNT ON;\n", "-- agdiag: server_properties\nSELECT 1;\n", "  --  agdiag: errorlog  \nEXEC sys.sp_readerrorlog 0, 1;\n"]);
    let keys: Vec<_> = parts.iter().map(|part| tds_server::part_key(part)).collect();
    assert_eq!(keys, vec![None, Some("server_properties"), Some("errorlog")]);
    assert_eq!(tds_server::split_batch("\n-- agdiag: a\nx"), vec!["-- agdiag: a\nx"], "a blank preamble is no part");
    assert_eq!(tds_server::split_batch("SELECT 1"), vec!["SELECT 1"]);
    assert_eq!(tds_server::default_answer("SET NOCOUNT ON;", "X"), vec![StatementResult::Done]);
}

#[test]
fn marker_statements_are_recognised_exactly() {
    assert_eq!(tds_server::marker_select("SELECT N'endpoints' AS agdiag_key;"), Some("endpoints".to_string()));
    assert_eq!(tds_server::marker_select("  SELECT N'it''s' AS agdiag_key  "), Some("it's".to_string()));
    assert_eq!(tds_server::marker_select("SELECT N'a' AS other;"), None);
    assert_eq!(tds_server::marker_select("SELECT N'a' + N'b' AS agdiag_key;"), None);
    assert_eq!(tds_server::marker_select("SELECT * FROM sys.endpoints;"), None);
}
