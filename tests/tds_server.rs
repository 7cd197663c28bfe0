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

/// Streams a batch: every result set's rows as JSON-ish cells, plus the errors met on the way.
async fn run_batch(client: &mut TdsClient, batch: &str) -> (Vec<Vec<Vec<ColumnData<'static>>>>, Vec<tiberius::error::Error>) {
    let mut stream = client.simple_query(batch).await.expect("send batch");
    let mut sets: Vec<Vec<Vec<ColumnData<'static>>>> = Vec::new();
    let mut errors = Vec::new();
    loop {
        match stream.try_next().await {
            Ok(Some(QueryItem::Metadata(_))) => sets.push(Vec::new()),
            Ok(Some(QueryItem::Row(row))) => sets.last_mut().expect("row after metadata").push(row.into_iter().collect()),
            Ok(None) => break,
            Err(error) => errors.push(error),
        }
    }
    (sets, errors)
}

#[tokio::test]
async fn tiberius_connects_and_reads_the_default_answer() {
    let server = TestServer::start(ServerConfig::default()).await.expect("start");
    let mut client = connect(server.addr()).await.expect("connect");
    let row = client.simple_query("SELECT 1").await.expect("query").into_row().await.expect("row").expect("one row");
    assert_eq!(row.get::<i32, _>(0), Some(1));
    let logins = server.logins();
    assert_eq!(logins.len(), 1);
    assert_eq!(logins[0].user, "agdiag");
    assert_eq!(logins[0].database, "master");
    assert_eq!(logins[0].app_name, "agdiag-test");
    assert!(!format!("{logins:?}").contains("s3cret"), "a login record must not hold the password");
    assert_eq!(server.batches(), vec!["SELECT 1".to_string()]);
    server.shutdown().await;
}
