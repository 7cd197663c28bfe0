//! The collector is read-only: every SQL text it can send is listed and matches an allowlist
//! (SELECT, or `sys.sp_readerrorlog`), each key's statement is preceded only by its marker
//! `SELECT N'<known key>' AS agdiag_key;`, and a live collection sends nothing else. The DBA script
//! `collect.sql` fills the same keys.

#[path = "support/tds_server/mod.rs"]
mod tds_server;
#[path = "support/collect_fixture.rs"]
mod fixture;

use std::sync::Arc;

use agdiag::collect::queries::{
    all_statements, database_principals_statement, marker_statement, statement_with, Batch, History, MARKER,
};
use agdiag::collect::{Request, StaticResolver};
use agdiag::snapshot::keys;
use fixture::*;

/// Words that change state or run code; none may appear in a collector statement.
const FORBIDDEN: &[&str] = &[
    "insert", "update", "delete", "merge", "create", "alter", "drop", "truncate", "grant", "revoke", "deny", "exec",
    "execute", "into", "shutdown", "kill", "dbcc", "backup", "restore", "openrowset", "opendatasource", "openquery",
    "declare", "set", "begin", "waitfor", "reconfigure", "use",
];

fn allowed(sql: &str) -> Result<(), String> {
    let text = sql.trim();
    if text == "EXEC sys.sp_readerrorlog 0, 1;" {
        return Ok(());
    }
    let lower = text.to_ascii_lowercase();
    if !lower.starts_with("select ") && !lower.starts_with("select\n") {
        return Err(format!("not a SELECT: {text}"));
    }
    if text.trim_end_matches(';').contains(';') {
        return Err(format!("more than one statement: {text}"));
    }
    if text.contains("--") || text.contains("/*") {
        return Err(format!("comment inside a statement: {text}"));
    }
    for word in lower.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '@')) {
        if FORBIDDEN.contains(&word) || word.starts_with("xp_") || word.starts_with("sp_") {
            return Err(format!("'{word}' in: {text}"));
        }
    }
    Ok(())
}

/// The second round's one dynamic form, and nothing else: `SELECT N'<db>' AS database_name, * FROM
/// [<db>].sys.database_principals;` where the literal and the bracket-quoted identifier name the
/// same database (`'` doubled in one, `]` in the other), on one line.
fn database_read_allowed(sql: &str) -> Result<String, String> {
    let text = sql.trim_end_matches('\n');
    let refuse = || format!("not the per-database read: {text}");
    if text.contains('\n') || text.contains("$(") {
        return Err(refuse());
    }
    let rest = text.strip_prefix("SELECT N'").ok_or_else(refuse)?;
    let (literal, rest) = quoted(rest, '\'').ok_or_else(refuse)?;
    let rest = rest.strip_prefix(" AS database_name, * FROM [").ok_or_else(refuse)?;
    let (ident, rest) = quoted(rest, ']').ok_or_else(refuse)?;
    if rest != ".sys.database_principals;" || literal != ident || literal.is_empty() {
        return Err(refuse());
    }
    Ok(literal)
}

/// The text up to the first `close` that is not doubled, undoubled, and what follows it.
fn quoted(text: &str, close: char) -> Option<(String, &str)> {
    let mut out = String::new();
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == close {
            if chars.peek().map(|(_, n)| *n) == Some(close) {
                chars.next();
                out.push(c);
                continue;
            }
            return Some((out, &text[i + c.len_utf8()..]));
        }
        out.push(c);
    }
    None
}

#[test]
fn the_per_database_read_escapes_the_name_both_ways_or_is_not_sent() {
    for name in ["SalesDB", "Sales DB", "O'Brien]; DROP LOGIN sa; --", "drop", "Ventes-2024"] {
        let sql = database_principals_statement(name).unwrap_or_else(|| panic!("{name}"));
        assert_eq!(database_read_allowed(&sql).as_deref(), Ok(name), "{sql}");
    }
    assert_eq!(
        database_principals_statement("a]b'c").unwrap(),
        "SELECT N'a]b''c' AS database_name, * FROM [a]]b'c].sys.database_principals;"
    );
    // Names that cannot be one plain literal and one identifier are never read.
    for name in ["a\nGO", "x$(y)", "bidi\u{202E}", ""] {
        assert_eq!(database_principals_statement(name), None, "{name:?}");
    }
    // The guard can fail.
    assert!(database_read_allowed("SELECT N'a' AS database_name, * FROM [b].sys.database_principals;").is_err());
    assert!(database_read_allowed("SELECT N'a' AS database_name, * FROM [a].sys.database_principals; DROP LOGIN x;").is_err());
    assert!(database_read_allowed("SELECT N'a'' AS database_name, * FROM [a].sys.database_principals;").is_err());
    assert!(database_read_allowed("SELECT N'a' AS database_name, * FROM [a]].sys.database_principals;").is_err());
    assert!(database_read_allowed("SELECT N'a' AS database_name, * FROM [a].sys.sql_logins;").is_err());
}

/// The one marker form allowed before the statement of `key`: exactly `SELECT N'<key>' AS
/// agdiag_key;`, for a known key (keys are plain identifiers, so nothing needs escaping).
fn marker_allowed(line: &str, key: &str) -> Result<(), String> {
    if !keys::ALL.contains(&key) {
        return Err(format!("marker for an unknown key {key:?}: {line}"));
    }
    if line != format!("SELECT N'{key}' AS agdiag_key;") {
        return Err(format!("not the marker for {key}: {line}"));
    }
    Ok(())
}

#[test]
fn every_statement_is_on_the_allowlist() {
    let statements = all_statements();
    assert_eq!(statements.len(), keys::ALL.len(), "one statement per key");
    for (key, sql) in &statements {
        allowed(sql).unwrap_or_else(|e| panic!("{key}: {e}"));
    }
    // The guard can fail.
    assert!(allowed("SELECT * FROM sys.endpoints; DROP ENDPOINT x;").is_err());
    assert!(allowed("EXEC sp_configure 'show advanced options', 1").is_err());
    assert!(allowed("SELECT * INTO #t FROM sys.endpoints").is_err());
    for key in keys::ALL {
        marker_allowed(&marker_statement(key), key).unwrap_or_else(|e| panic!("{e}"));
        allowed(&marker_statement(key)).unwrap_or_else(|e| panic!("{key}: {e}"));
    }
    // Every history window a request can ask for renders a statement on the allowlist too.
    for days in [1, 7, 30, 3650] {
        let history = History { days, ..History::default() };
        let sql = statement_with(keys::ALWAYSON_HEALTH, &history).expect("history statement");
        allowed(&sql).unwrap_or_else(|e| panic!("alwayson_health, {days} days: {e}"));
    }
    // The listener login probe's one statement.
    allowed(agdiag::collect::queries::SESSION_CONNECTION).unwrap_or_else(|e| panic!("login probe: {e}"));
    assert!(marker_allowed("SELECT N'endpoints' AS agdiag_key;", keys::SERVER_PROPERTIES).is_err());
    assert!(marker_allowed("SELECT N'x'; DROP LOGIN x; --' AS agdiag_key;", "x").is_err());
    assert!(marker_allowed("SELECT N'endpoints' AS agdiag_key; SELECT 1;", keys::ENDPOINTS).is_err());
}

/// Splits a batch into its statements: everything but comment lines, at each `-- agdiag: <key>`
/// line. Each part must open with the marker statement for its key, which is not returned.
fn statements_in(batch: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut key: Option<&str> = None;
    for line in batch.lines() {
        if let Some(named) = line.strip_prefix(MARKER) {
            key = Some(named);
            out.push(String::new());
        } else if line.trim_start().starts_with("--") || line.trim().is_empty() {
            continue;
        } else if let Some(named) = key.take() {
            marker_allowed(line, named).unwrap_or_else(|e| panic!("{e}"));
        } else {
            let current = out.last_mut().expect("text before the first marker that is not a comment");
            current.push_str(line);
            current.push('\n');
        }
    }
    out
}

#[test]
fn a_live_collection_sends_only_listed_statements() {
    let mut scenario = healthy_scenario();
    // Errors make the collector re-ask key by key: those batches must be clean too.
    scenario.deny("SQL2", keys::DM_SERVER_SERVICES, 300, "VIEW SERVER STATE permission was denied.");
    scenario.deny("SQL2", keys::ENDPOINTS, 300, "VIEW SERVER STATE permission was denied.");
    scenario.deny("SQL3", keys::ALWAYSON_HEALTH, 25718, "The log file name \"AlwaysOn_health*.xel\" is invalid.");
    let ag = Ag::start(&scenario);
    let request = Request::from_json(&ag.request(&["SQL1"]).to_string()).unwrap();
    agdiag::collect::run_with(request, Arc::new(StaticResolver::new())).unwrap();
    // A second collection with another history window: its statements are listed too.
    let mut thirty = ag.request(&["SQL1"]);
    thirty["history_days"] = 30.into();
    agdiag::collect::run_with(Request::from_json(&thirty.to_string()).unwrap(), Arc::new(StaticResolver::new())).unwrap();
    let history = History { days: 30, ..History::default() };
    let known: Vec<String> = all_statements()
        .iter()
        .map(|(_, s)| format!("{s}\n"))
        .chain(keys::ALL.iter().filter_map(|k| statement_with(k, &history)).map(|s| format!("{s}\n")))
        .collect();
    let batches = ag.all_batches();
    assert!(batches.len() > 3, "SQL2 was asked again key by key: {}", batches.len());
    for batch in &batches {
        let statements = statements_in(batch);
        assert!(!statements.is_empty());
        for s in statements {
            assert!(known.contains(&s) || database_read_allowed(&s).is_ok(), "unlisted SQL sent: {s}");
        }
    }
    // The primary SQL1 was asked for SalesDB's users in the second round, in the allowed form.
    let reads: Vec<String> =
        batches.iter().flat_map(|b| statements_in(b)).filter_map(|s| database_read_allowed(&s).ok()).collect();
    assert!(reads.iter().any(|db| db == "SalesDB"), "{reads:?}");
    assert!(reads.iter().all(|db| db == "SalesDB"), "only the availability database: {reads:?}");
    assert_eq!(statements_in(&Batch::new(keys::ALL).text).len(), keys::ALL.len());
}

#[test]
fn collect_sql_names_every_key_and_only_reads() {
    let script = include_str!("../powershell/AgDiag/sql/collect.sql");
    for key in keys::ALL {
        assert!(script.contains(&format!("N'{key}'")), "collect.sql does not collect {key}");
    }
    assert!(script.contains("agdiag.snapshot/1"));
    assert!(script.contains("FOR JSON PATH"));
    // Outside the header comment, nothing writes to a user object.
    let body = &script[script.find("*/").unwrap()..].to_ascii_lowercase();
    for word in ["update ", "alter ", "grant ", "revoke ", "deny ", "drop endpoint", "drop login", "sp_configure", "xp_cmdshell"] {
        assert!(!body.contains(word), "collect.sql contains '{word}'");
    }
    // Writes go only to the script's own table variables and #agdiag_ temp tables.
    for verb in ["insert into ", "delete from ", "drop table "] {
        for (at, _) in body.match_indices(verb) {
            let target = body[at + verb.len()..].trim_start();
            assert!(target.starts_with('@') || target.starts_with("#agdiag_"), "writes outside its own temp objects: {verb}{}", &target[..target.len().min(40)]);
        }
    }
}

/// Varbinary/binary columns of the views AgDiag reads (ag-catalog-reference.md and the SQL Server
/// documentation of each view). FOR JSON would write them as base64; the contract says "0x..." hex.
const BINARY_COLUMNS: &[(&str, &[&str])] = &[
    ("server_principals", &["sid"]),
    ("availability_replicas", &["owner_sid"]),
    ("certificates", &["sid", "thumbprint"]),
    ("database_principals", &["sid"]),
];

/// The `[sql]` text of each `(ord, N'key', N'sql')` row of collect.sql's `@queries`.
fn collect_sql_queries(script: &str) -> Vec<(String, String)> {
    let start = script.find("INSERT INTO @queries").expect("the @queries table");
    let block = &script[start..];
    let block = &block[..block.find("');\n").expect("end of @queries") + 2];
    let mut out = Vec::new();
    let mut rest = block;
    while let Some(open) = rest.find("\n(") {
        rest = &rest[open + 2..];
        let Some((_, after)) = rest.split_once(", N'") else { break };
        let (key, after) = after.split_once("', N'").expect("key then sql");
        // The sql literal ends at the first quote not doubled.
        let bytes = after.as_bytes();
        let mut i = 0;
        let mut sql = String::new();
        while i < bytes.len() {
            if bytes[i] == b'\'' {
                if bytes.get(i + 1) == Some(&b'\'') {
                    sql.push('\'');
                    i += 2;
                    continue;
                }
                break;
            }
            sql.push(bytes[i] as char);
            i += 1;
        }
        out.push((key.to_string(), sql));
        rest = &after[i..];
    }
    out
}

#[test]
fn collect_sql_writes_every_varbinary_column_as_hex_like_the_collector() {
    let script = include_str!("../powershell/AgDiag/sql/collect.sql");
    let queries = collect_sql_queries(script);
    assert_eq!(queries.len(), keys::ALL.len(), "{:?}", queries.iter().map(|(k, _)| k).collect::<Vec<_>>());
    // The run-time expansion of SELECT * converts every binary column of the view to 0x hex.
    let loop_body = &script[script.find("WHILE @ord").expect("the query loop")..];
    for needle in [
        "CHARINDEX(N'* FROM ', @sql)",
        "TYPE_NAME(c.system_type_id) IN (N'varbinary', N'binary')",
        "N'CONVERT(varchar(max), ' + QUOTENAME(c.name) + N', 1) AS ' + QUOTENAME(c.name)",
        "WHERE c.object_id = OBJECT_ID(@view)",
        "SET @sql = STUFF(@sql, @from, 1, @cols)",
    ] {
        assert!(loop_body.contains(needle), "collect.sql's query loop lacks {needle}");
    }
    for (key, sql) in &queries {
        assert!(!sql.contains(".*"), "{key}: `alias.*` would bypass the hex conversion: {sql}");
        if let Some(at) = sql.find("* FROM ") {
            // The expansion reads the view name up to the next space.
            let view = sql[at + 7..].split(' ').next().unwrap();
            assert!(
                (view.starts_with("sys.") || view.starts_with("master.sys.")) && !view.contains(['(', ')', ',']),
                "{key}: {view}"
            );
            assert_eq!(sql.matches('*').count(), 1, "{key}: one * only: {sql}");
            continue;
        }
        // An explicit column list converts each binary column of its view itself.
        for (view, columns) in BINARY_COLUMNS {
            if !sql.contains(&format!("sys.{view} ")) && key != view {
                continue;
            }
            for column in *columns {
                if sql.contains(column) {
                    assert!(
                        sql.contains(&format!("CONVERT(varchar(max), {column}, 1)"))
                            || sql.contains(&format!("CONVERT(varchar(max), [{column}], 1)")),
                        "{key}: {column} is varbinary and must be CONVERT(varchar(max), {column}, 1): {sql}"
                    );
                }
            }
        }
    }
    // Every view with a binary column that collect.sql reads goes through one of the two paths.
    for (view, _) in BINARY_COLUMNS {
        if let Some((_, sql)) = queries.iter().find(|(k, _)| k == view) {
            assert!(sql.contains("* FROM ") || sql.contains("CONVERT(varchar(max), "), "{view}: {sql}");
        }
    }
}

#[test]
fn certificate_keys_read_masters_catalog_only() {
    let statements = all_statements();
    let sql = |key: &str| statements.iter().find(|(k, _)| *k == key).map(|(_, s)| *s).unwrap_or_else(|| panic!("no statement for {key}"));
    // The endpoint handshake looks certificates and their owners up in master, whatever the login's default database.
    assert_eq!(sql(keys::CERTIFICATES), "SELECT * FROM master.sys.certificates;");
    assert_eq!(sql(keys::DATABASE_PRINCIPALS), "SELECT N'master' AS database_name, * FROM master.sys.database_principals;");
    let script = include_str!("../powershell/AgDiag/sql/collect.sql");
    assert!(script.contains("FROM master.sys.certificates FOR JSON PATH"));
    assert!(script.contains("SELECT N''master'' AS database_name, * FROM master.sys.database_principals FOR JSON PATH"));
}

#[test]
fn collect_sql_reads_the_primarys_availability_databases_like_the_collector() {
    let script = include_str!("../powershell/AgDiag/sql/collect.sql");
    let body = &script[script.find("WHILE @ord").expect("the query loop")..];
    for needle in [
        // Only databases this replica is the readable primary of, not a distributed AG's forwarder.
        "drs.is_local = 1",
        "drs.is_primary_replica = 1 AND drs.database_state_desc = N'ONLINE'",
        "g.is_distributed = 1",
        // master's statement (binary columns already hex) on the database's own view: the name
        // bracket-quoted by QUOTENAME and passed as a parameter for the literal, never spliced.
        "N'FROM ' + QUOTENAME(@db) + N'.sys.database_principals'",
        "N'SELECT @db AS database_name'",
        "EXEC sys.sp_executesql @dbsql, N'@db sysname, @j nvarchar(max) OUTPUT', @db = @db, @j = @dbj OUTPUT;",
        // One failed database is its own query error; the loop goes on.
        "STRING_ESCAPE(N'database_principals:' + @db, 'json')",
    ] {
        assert!(body.contains(needle), "collect.sql's per-database read lacks {needle}");
    }
}

#[test]
fn seeding_keys_read_their_views_and_only_the_ag_databases_files() {
    let statements = all_statements();
    let sql = |key: &str| statements.iter().find(|(k, _)| *k == key).map(|(_, s)| *s).unwrap_or_else(|| panic!("no statement for {key}"));
    assert_eq!(sql(keys::DM_HADR_AUTOMATIC_SEEDING), "SELECT * FROM sys.dm_hadr_automatic_seeding;");
    assert_eq!(sql(keys::DM_HADR_PHYSICAL_SEEDING_STATS), "SELECT * FROM sys.dm_hadr_physical_seeding_stats;");
    // Database ids differ between replicas: each file row carries its database's name.
    let files = sql(keys::MASTER_FILES);
    assert!(files.starts_with("SELECT DB_NAME(database_id) AS database_name, * FROM sys.master_files "), "{files}");
    assert!(files.contains("WHERE database_id IN (SELECT database_id FROM sys.databases WHERE replica_id IS NOT NULL)"), "{files}");
    let script = include_str!("../powershell/AgDiag/sql/collect.sql");
    assert!(script.contains("* FROM sys.master_files WHERE database_id IN (SELECT database_id FROM sys.databases WHERE replica_id IS NOT NULL) FOR JSON PATH"));
}

#[test]
fn a_live_collection_returns_the_seeding_rows_and_records_a_missing_view() {
    let mut scenario = healthy_scenario();
    // What a SQL Server 2014 replica answers: the seeding views do not exist there.
    scenario.deny("SQL3", keys::DM_HADR_AUTOMATIC_SEEDING, 208, "Invalid object name 'sys.dm_hadr_automatic_seeding'.");
    let ag = Ag::start(&scenario);
    let request = Request::from_json(&ag.request(&["SQL1"]).to_string()).unwrap();
    let snap = agdiag::collect::run_with(request, Arc::new(StaticResolver::new())).unwrap().snapshot;
    let expected = healthy_snapshot();
    for server in ["SQL1", "SQL2", "SQL3"] {
        let got = snap.instances.iter().find(|i| i.is_named(server)).unwrap();
        let want = expected.instances.iter().find(|i| i.is_named(server)).unwrap();
        for key in [keys::DM_HADR_AUTOMATIC_SEEDING, keys::DM_HADR_PHYSICAL_SEEDING_STATS, keys::MASTER_FILES] {
            if server == "SQL3" && key == keys::DM_HADR_AUTOMATIC_SEEDING {
                assert_eq!(got.query_errors[key].number, Some(208), "{server}");
                continue;
            }
            let rows = got.results.get(key).unwrap_or_else(|| panic!("{server}: {key} missing"));
            assert_eq!(rows.len(), want.results[key].len(), "{server}: {key}");
        }
        let paths = got.properties().unwrap();
        assert_eq!(paths.str("InstanceDefaultDataPath"), Some("C:\\Program Files\\Microsoft SQL Server\\MSSQL16.MSSQLSERVER\\MSSQL\\DATA\\"));
    }
    let sql1 = snap.instances.iter().find(|i| i.is_named("SQL1")).unwrap();
    assert_eq!(sql1.results[keys::MASTER_FILES][0].str("physical_name"), Some("C:\\Program Files\\Microsoft SQL Server\\MSSQL16.MSSQLSERVER\\MSSQL\\DATA\\SalesDB.mdf"));
    assert_eq!(sql1.results[keys::DM_HADR_AUTOMATIC_SEEDING][0].str("current_state"), Some("COMPLETED"));
}
