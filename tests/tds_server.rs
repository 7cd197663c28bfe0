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
