//! The one read-only batch the collector sends: one statement per snapshot key. `SELECT *` lets the
//! server's version decide the columns; server properties are cast explicitly so every version
//! returns the same types.
//!
//! **Marker protocol.** Each key's part of the batch is
//!
//! ```text
//! -- agdiag: <key>
//! SELECT N'<key>' AS agdiag_key;
//! <the key's statement>
//! ```
//!
//! The comment line lets a test server split the batch per key. The marker `SELECT` makes the
//! reply self-describing: a result set with the single column `agdiag_key` and one row names the
//! key of the data set that follows. tiberius hides ERROR tokens (it reports only the first server
//! error, after the last row), so a failed statement shows up as a marker followed directly by the
//! next marker or by the end of the stream, and a batch cut short (connection lost, stall) still
//! leaves every complete data set under its own key. Markers travel in the same round trip: they
//! add no request.

use std::borrow::Cow;
use std::sync::OnceLock;

use crate::snapshot::keys;

/// The comment line that introduces each key's part of the batch.
pub const MARKER: &str = "-- agdiag: ";

/// The one column of a marker result set.
pub const MARKER_COLUMN: &str = "agdiag_key";

/// The marker statement that names `key` in the reply: `SELECT N'<key>' AS agdiag_key;`.
pub fn marker_statement(key: &str) -> String {
    format!("SELECT {} AS {MARKER_COLUMN};", crate::fix::tsql::literal(key))
}

/// First line of every batch; keeps the first statement off line 1 so an error line of 0 or 1
/// (what minimal servers send) never maps to a statement.
const HEADER: &str = "-- agdiag collector: read-only catalog queries";

const SERVER_PROPERTIES: &str = "SELECT
    CAST(SERVERPROPERTY('ServerName') AS nvarchar(128)) AS [ServerName],
    CAST(SERVERPROPERTY('MachineName') AS nvarchar(128)) AS [MachineName],
    CAST(SERVERPROPERTY('InstanceName') AS nvarchar(128)) AS [InstanceName],
    CAST(SERVERPROPERTY('ComputerNamePhysicalNetBIOS') AS nvarchar(128)) AS [ComputerNamePhysicalNetBIOS],
    CAST(SERVERPROPERTY('IsHadrEnabled') AS int) AS [IsHadrEnabled],
    CAST(SERVERPROPERTY('HadrManagerStatus') AS int) AS [HadrManagerStatus],
    CAST(SERVERPROPERTY('IsClustered') AS int) AS [IsClustered],
    CAST(SERVERPROPERTY('ProductVersion') AS nvarchar(128)) AS [ProductVersion],
    CAST(SERVERPROPERTY('ProductLevel') AS nvarchar(128)) AS [ProductLevel],
    CAST(SERVERPROPERTY('ProductUpdateLevel') AS nvarchar(128)) AS [ProductUpdateLevel],
    CAST(SERVERPROPERTY('ProductUpdateReference') AS nvarchar(128)) AS [ProductUpdateReference],
    CAST(SERVERPROPERTY('Edition') AS nvarchar(128)) AS [Edition],
    CAST(SERVERPROPERTY('EngineEdition') AS int) AS [EngineEdition],
    CAST(@@SERVERNAME AS nvarchar(128)) AS [@@SERVERNAME],
    CAST(DEFAULT_DOMAIN() AS nvarchar(128)) AS [DEFAULT_DOMAIN()],
    CAST(SERVERPROPERTY('InstanceDefaultDataPath') AS nvarchar(512)) AS [InstanceDefaultDataPath],
    CAST(SERVERPROPERTY('InstanceDefaultLogPath') AS nvarchar(512)) AS [InstanceDefaultLogPath],
    CAST(SERVERPROPERTY('ErrorLogFileName') AS nvarchar(512)) AS [ErrorLogFileName];";

/// `sys.sp_readerrorlog 0, 1`: the current SQL Server error log; filtered client-side by
/// [`is_ag_relevant`] because the procedure only supports two ANDed search strings.
const ERRORLOG: &str = "EXEC sys.sp_readerrorlog 0, 1;";

pub use super::request::History;

/// `alwayson_health`: the AlwaysOn_health session's event files, read with
/// `sys.fn_xe_file_target_read_file`, newest `{max_rows}` events of the last `{days}` days, in time
/// order. The files are found from the running session's file target (the current file's full
/// path), else the session definition's `filename` when it is a full path, else the error log's
/// folder; the file name stem comes from the definition (default `AlwaysOn_health`), so the
/// pattern is `<folder><stem>*.xel` (Windows or Linux separators).
///
/// One SELECT for every version: `timestamp_utc` exists from SQL Server 2017; inside the applied
/// query an unqualified `timestamp_utc` binds to the function's column where it exists and
/// otherwise to the outer `before_2017` row (NULL), in which case the window is applied to the
/// event XML's own `timestamp` attribute (UTC). `COALESCE` reads the XML only when the column is
/// NULL, so 2017+ never parses XML to filter.
const ALWAYSON_HEALTH_TEMPLATE: &str = "SELECT h.object_name, h.event_data, h.file_name, h.file_offset, h.timestamp_utc
FROM (SELECT CAST(NULL AS datetime2(7)) AS timestamp_utc) AS before_2017
CROSS APPLY (
    SELECT TOP ({max_rows}) x.object_name, CAST(x.event_data AS nvarchar(max)) AS event_data, x.file_name, x.file_offset,
        CAST(timestamp_utc AS datetime2(7)) AS timestamp_utc, w.event_time
    FROM (SELECT
        (SELECT TOP (1) CAST(t.target_data AS xml).value('(EventFileTarget/File/@name)[1]', 'nvarchar(260)')
            FROM sys.dm_xe_sessions AS s JOIN sys.dm_xe_session_targets AS t ON t.event_session_address = s.address
            WHERE s.name = N'AlwaysOn_health' AND t.target_name = N'event_file') AS running_file,
        (SELECT TOP (1) CAST(f.value AS nvarchar(260))
            FROM sys.server_event_sessions AS s JOIN sys.server_event_session_fields AS f ON f.event_session_id = s.event_session_id
            WHERE s.name = N'AlwaysOn_health' AND f.name = N'filename') AS defined_file,
        CAST(SERVERPROPERTY('ErrorLogFileName') AS nvarchar(260)) AS errorlog_file) AS src
    CROSS APPLY (SELECT COALESCE(src.running_file,
            CASE WHEN PATINDEX(N'%[\\/]%', src.defined_file) > 0 THEN src.defined_file END, src.errorlog_file) AS located,
        N'/' + COALESCE(src.defined_file, N'AlwaysOn_health.xel') AS defined) AS l
    CROSS APPLY (SELECT LEFT(l.located, LEN(l.located) - PATINDEX(N'%[\\/]%', REVERSE(l.located)) + 1) AS folder,
        RIGHT(l.defined, PATINDEX(N'%[\\/]%', REVERSE(l.defined)) - 1) AS file_part) AS d
    CROSS APPLY (SELECT d.folder + CASE WHEN d.file_part LIKE N'%.xel' THEN LEFT(d.file_part, LEN(d.file_part) - 4)
        ELSE d.file_part END + N'*.xel' AS pattern) AS p
    CROSS APPLY sys.fn_xe_file_target_read_file(p.pattern, NULL, NULL, NULL) AS x
    CROSS APPLY (SELECT COALESCE(CAST(timestamp_utc AS datetime2(7)),
        CAST(x.event_data AS xml).value('(/event/@timestamp)[1]', 'datetime2(7)')) AS event_time) AS w
    WHERE w.event_time >= DATEADD(day, -{days}, SYSUTCDATETIME())
    ORDER BY w.event_time DESC, x.file_name DESC, x.file_offset DESC
) AS h
ORDER BY h.event_time, h.file_name, h.file_offset;";

/// The `alwayson_health` statement for `history`.
pub fn alwayson_health_statement(history: &History) -> String {
    ALWAYSON_HEALTH_TEMPLATE
        .replace("{max_rows}", &history.max_rows.to_string())
        .replace("{days}", &history.days.to_string())
}

/// The statement that fills `key` for a collection with this `history` window (`None` for a key
/// the collector does not know, and for `alwayson_health` when `history.days` is 0).
pub fn statement_with(key: &str, history: &History) -> Option<Cow<'static, str>> {
    if key == keys::ALWAYSON_HEALTH {
        if history.days == 0 {
            return None;
        }
        if *history == History::default() {
            return statement(key).map(Cow::Borrowed);
        }
        return Some(Cow::Owned(alwayson_health_statement(history)));
    }
    statement(key).map(Cow::Borrowed)
}

/// The files of the availability databases only (`replica_id` is set for a database in an AG), with
/// the database's name: database ids differ between replicas.
const MASTER_FILES: &str = "SELECT DB_NAME(database_id) AS database_name, * FROM sys.master_files \
    WHERE database_id IN (SELECT database_id FROM sys.databases WHERE replica_id IS NOT NULL);";

/// The statement that fills `key` (with the default history window), or `None` for a key the
/// collector does not know.
pub fn statement(key: &str) -> Option<&'static str> {
    static ALWAYSON_HEALTH: OnceLock<String> = OnceLock::new();
    Some(match key {
        keys::SERVER_PROPERTIES => SERVER_PROPERTIES,
        keys::DM_SERVER_SERVICES => "SELECT * FROM sys.dm_server_services;",
        keys::ENDPOINTS => "SELECT * FROM sys.endpoints;",
        keys::DATABASE_MIRRORING_ENDPOINTS => "SELECT * FROM sys.database_mirroring_endpoints;",
        keys::TCP_ENDPOINTS => "SELECT * FROM sys.tcp_endpoints;",
        keys::SERVER_PERMISSIONS => "SELECT * FROM sys.server_permissions;",
        keys::SERVER_PRINCIPALS => "SELECT * FROM sys.server_principals;",
        keys::AVAILABILITY_GROUPS => "SELECT * FROM sys.availability_groups;",
        keys::AVAILABILITY_REPLICAS => "SELECT * FROM sys.availability_replicas;",
        keys::AVAILABILITY_READ_ONLY_ROUTING_LISTS => "SELECT * FROM sys.availability_read_only_routing_lists;",
        keys::AVAILABILITY_GROUP_LISTENERS => "SELECT * FROM sys.availability_group_listeners;",
        keys::AVAILABILITY_GROUP_LISTENER_IP_ADDRESSES => "SELECT * FROM sys.availability_group_listener_ip_addresses;",
        keys::AVAILABILITY_DATABASES_CLUSTER => "SELECT * FROM sys.availability_databases_cluster;",
        keys::DM_TCP_LISTENER_STATES => "SELECT * FROM sys.dm_tcp_listener_states;",
        keys::DM_HADR_AVAILABILITY_REPLICA_STATES => "SELECT * FROM sys.dm_hadr_availability_replica_states;",
        keys::DM_HADR_AVAILABILITY_GROUP_STATES => "SELECT * FROM sys.dm_hadr_availability_group_states;",
        keys::DM_HADR_DATABASE_REPLICA_STATES => "SELECT * FROM sys.dm_hadr_database_replica_states;",
        keys::DM_HADR_AUTOMATIC_SEEDING => "SELECT * FROM sys.dm_hadr_automatic_seeding;",
        keys::DM_HADR_PHYSICAL_SEEDING_STATS => "SELECT * FROM sys.dm_hadr_physical_seeding_stats;",
        keys::MASTER_FILES => MASTER_FILES,
        keys::DM_HADR_CLUSTER => "SELECT * FROM sys.dm_hadr_cluster;",
        keys::DM_HADR_CLUSTER_MEMBERS => "SELECT * FROM sys.dm_hadr_cluster_members;",
        keys::CERTIFICATES => "SELECT * FROM master.sys.certificates;",
        keys::DATABASE_PRINCIPALS => "SELECT N'master' AS database_name, * FROM master.sys.database_principals;",
        keys::ERRORLOG => ERRORLOG,
        keys::ALWAYSON_HEALTH => ALWAYSON_HEALTH.get_or_init(|| alwayson_health_statement(&History::default())).as_str(),
        keys::SERVER_EVENT_SESSIONS => "SELECT * FROM sys.server_event_sessions;",
        keys::DM_XE_SESSIONS => "SELECT * FROM sys.dm_xe_sessions;",
        keys::DM_HADR_DATABASE_REPLICA_CLUSTER_STATES => "SELECT * FROM sys.dm_hadr_database_replica_cluster_states;",
        _ => return None,
    })
}

/// The one statement of the listener login probe (see [`super::login_probe`]): the probe's own
/// connection as the server sees it. `auth_scheme` is `KERBEROS`, `NTLM` or `SQL`;
/// `local_net_address` is the address the connection arrived on (a VNN listener's IP).
pub const SESSION_CONNECTION: &str = "SELECT session_id, connect_time, net_transport, protocol_type, encrypt_option, auth_scheme, \
client_net_address, local_net_address, local_tcp_port FROM sys.dm_exec_connections WHERE session_id = @@SPID;";

/// The second round's read of one availability database's users (see [`super::databases`]):
/// `SELECT N'<db>' AS database_name, * FROM [<db>].sys.database_principals;`, the name as a plain
/// literal and as a bracket-quoted identifier (`]` doubled). `None` when the name cannot be
/// written safely as both (see `fix::tsql`).
pub fn database_principals_statement(database: &str) -> Option<String> {
    Some(format!(
        "SELECT {} AS database_name, * FROM {}.sys.database_principals;",
        crate::fix::tsql::plain_literal(database)?,
        crate::fix::tsql::ident(database)?
    ))
}

/// Every SQL text the collector can send, one per key (for the read-only guard test).
pub fn all_statements() -> Vec<(&'static str, &'static str)> {
    keys::ALL.iter().filter_map(|k| statement(k).map(|s| (*k, s))).collect()
}

/// A batch for `keys` (see the marker protocol above), plus the batch line range of each key's own
/// statement (1-based, inclusive, marker excluded) so that a server error's line number can name
/// the statement that failed.
#[derive(Debug, Clone)]
pub struct Batch {
    pub text: String,
    pub statements: Vec<(&'static str, std::ops::RangeInclusive<u32>)>,
}

impl Batch {
    /// The batch for `keys` with the default history window.
    pub fn new(keys: &[&'static str]) -> Batch {
        Batch::with_history(keys, &History::default())
    }

    /// The batch for `keys` with this history window (see [`statement_with`]).
    pub fn with_history(keys: &[&'static str], history: &History) -> Batch {
        let mut text = String::from(HEADER);
        text.push('\n');
        let mut line = 2u32;
        let mut statements = Vec::new();
        for key in keys {
            let Some(sql) = statement_with(key, history) else { continue };
            text.push_str(MARKER);
            text.push_str(key);
            text.push('\n');
            text.push_str(&marker_statement(key));
            text.push('\n');
            line += 2;
            let lines = sql.lines().count() as u32;
            statements.push((*key, line..=line + lines - 1));
            text.push_str(&sql);
            text.push('\n');
            line += lines;
        }
        Batch { text, statements }
    }

    /// One `database_principals` statement per database (the second round), each behind the
    /// key's marker: the reply's data sets come back in `statements` order, one per database.
    pub fn database_principals(statements: &[String]) -> Batch {
        let mut text = String::from(HEADER);
        text.push('\n');
        let mut line = 2u32;
        let mut lines = Vec::new();
        for sql in statements {
            text.push_str(MARKER);
            text.push_str(keys::DATABASE_PRINCIPALS);
            text.push('\n');
            text.push_str(&marker_statement(keys::DATABASE_PRINCIPALS));
            text.push('\n');
            line += 2;
            let count = sql.lines().count() as u32;
            lines.push((keys::DATABASE_PRINCIPALS, line..=line + count - 1));
            text.push_str(sql);
            text.push('\n');
            line += count;
        }
        Batch { text, statements: lines }
    }

    pub fn keys(&self) -> Vec<&'static str> {
        self.statements.iter().map(|(k, _)| *k).collect()
    }

    /// The index of the statement a server error came from: `sp_readerrorlog` errors name the
    /// procedure (their line is inside it); others carry the batch line.
    pub fn statement_at(&self, line: u32, procedure: &str) -> Option<usize> {
        if procedure.to_ascii_lowercase().contains("sp_readerrorlog") {
            return self.statements.iter().position(|(k, _)| *k == keys::ERRORLOG);
        }
        if !procedure.is_empty() {
            return None;
        }
        self.statements.iter().position(|(_, lines)| lines.contains(&line))
    }
}

/// Error numbers and phrases of the messages AG troubleshooting needs from the error log.
const AG_ERROR_NUMBERS: &[&str] = &[
    "1418", "9642", "9666", "9691", "9692", "9693", "19401", "19403", "19404", "19407", "19419", "19421", "19422",
    "19423", "19468", "19471", "19486", "19506", "28034", "28027", "28031", "28035", "28036", "28045", "28047",
    "28048", "28080", "35201", "35202", "35204", "35206", "35207", "35214", "35220", "35221", "35250", "35264",
    "35265", "41131", "41142",
];

const AG_PHRASES: &[&str] = &[
    "availability group",
    "availability replica",
    "always on",
    "alwayson",
    "hadr",
    "database mirroring",
    "mirroring endpoint",
    "connection handshake failed",
    "service broker/database mirroring transport",
    "wsfc",
    "failover cluster",
    " lease",
];

/// True for an error-log line an AG check may need (handshake failures, replica connection
/// messages, lease and listener errors, the numbered AG errors).
pub fn is_ag_relevant(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    if AG_PHRASES.iter().any(|p| lower.contains(p)) {
        return true;
    }
    // "Error: 35250, Severity: 16, State: 7."
    lower.match_indices("error: ").any(|(i, m)| {
        let digits: String = lower[i + m.len()..].chars().take_while(char::is_ascii_digit).collect();
        AG_ERROR_NUMBERS.contains(&digits.as_str())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_has_one_statement_behind_a_marker() {
        let batch = Batch::new(keys::ALL);
        assert_eq!(batch.keys(), keys::ALL.to_vec());
        for key in keys::ALL {
            let part = format!("{MARKER}{key}\nSELECT N'{key}' AS agdiag_key;\n");
            assert_eq!(batch.text.matches(&part).count(), 1, "{key}");
        }
        let lines: Vec<&str> = batch.text.lines().collect();
        for (key, range) in &batch.statements {
            assert_eq!(lines[*range.start() as usize - 3], format!("{MARKER}{key}"));
            assert_eq!(lines[*range.start() as usize - 2], marker_statement(key));
            assert_eq!(lines[*range.start() as usize - 1], statement(key).unwrap().lines().next().unwrap());
        }
        assert_eq!(batch.statement_at(1, ""), None);
        assert_eq!(batch.statement_at(3, ""), None, "the marker is no statement");
        assert_eq!(batch.statement_at(4, ""), Some(0));
        let errorlog = keys::ALL.iter().position(|k| *k == keys::ERRORLOG);
        assert_eq!(batch.statement_at(7, "sp_readerrorlog"), errorlog);
    }

    #[test]
    fn history_window_and_cap_are_in_the_batch() {
        let default = Batch::new(keys::ALL);
        assert!(default.text.contains("SELECT TOP (50000) x.object_name"), "{}", default.text);
        assert!(default.text.contains("DATEADD(day, -7, SYSUTCDATETIME())"));
        let history = History { days: 30, max_rows: 1000 };
        let batch = Batch::with_history(keys::ALL, &history);
        assert!(batch.text.contains("SELECT TOP (1000) x.object_name"));
        assert!(batch.text.contains("DATEADD(day, -30, SYSUTCDATETIME())"));
        assert!(!batch.text.contains("{"), "every placeholder is filled");
        assert_eq!(batch.keys(), keys::ALL.to_vec());
        // No history: the key is not asked at all.
        let none = Batch::with_history(keys::ALL, &History { days: 0, ..History::default() });
        assert!(!none.keys().contains(&keys::ALWAYSON_HEALTH));
        assert!(!none.text.contains("fn_xe_file_target_read_file"));
        assert_eq!(statement_with(keys::ALWAYSON_HEALTH, &History::default()).as_deref(), statement(keys::ALWAYSON_HEALTH));
        // An error on any line of the multi-line history statement names its key, and the key
        // after it starts where the history statement ends.
        let (at, lines) = batch.statements.iter().position(|(k, _)| *k == keys::ALWAYSON_HEALTH).map(|i| (i, batch.statements[i].1.clone())).unwrap();
        assert_eq!(lines.clone().count(), statement(keys::ALWAYSON_HEALTH).unwrap().lines().count());
        for line in lines.clone() {
            assert_eq!(batch.statement_at(line, ""), Some(at), "line {line}");
        }
        assert_eq!(batch.statement_at(*lines.end() + 3, ""), Some(at + 1));
    }

    #[test]
    fn errorlog_filter_keeps_ag_messages_only() {
        assert!(is_ag_relevant("Error: 35250, Severity: 16, State: 7."));
        assert!(is_ag_relevant("A connection for availability group 'AG1' from availability replica 'SQL1' ..."));
        assert!(is_ag_relevant(
            "Database Mirroring login attempt by user 'CONTOSO\\SQL2$.' failed with error: 'Connection handshake failed."
        ));
        assert!(!is_ag_relevant("Starting up database 'msdb'."));
        assert!(!is_ag_relevant("Error: 18456, Severity: 14, State: 8."));
        assert!(!is_ag_relevant("Error: 14180, Severity: 16"));
    }
}
