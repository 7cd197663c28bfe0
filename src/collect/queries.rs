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
    CAST(DEFAULT_DOMAIN() AS nvarchar(128)) AS [DEFAULT_DOMAIN()];";

/// `sys.sp_readerrorlog 0, 1`: the current SQL Server error log; filtered client-side by
/// [`is_ag_relevant`] because the procedure only supports two ANDed search strings.
const ERRORLOG: &str = "EXEC sys.sp_readerrorlog 0, 1;";

/// The statement that fills `key`, or `None` for a key the collector does not know.
pub fn statement(key: &str) -> Option<&'static str> {
    Some(match key {
        keys::SERVER_PROPERTIES => SERVER_PROPERTIES,
        keys::DM_SERVER_SERVICES => "SELECT * FROM sys.dm_server_services;",
        keys::ENDPOINTS => "SELECT * FROM sys.endpoints;",
        keys::DATABASE_MIRRORING_ENDPOINTS => "SELECT * FROM sys.database_mirroring_endpoints;",
        keys::TCP_ENDPOINTS => "SELECT * FROM sys.tcp_endpoints;",
        keys::SERVER_PERMISSIONS => "SELECT * FROM sys.server_permissions WHERE class = 105;",
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
        keys::DM_HADR_CLUSTER => "SELECT * FROM sys.dm_hadr_cluster;",
        keys::DM_HADR_CLUSTER_MEMBERS => "SELECT * FROM sys.dm_hadr_cluster_members;",
        keys::CERTIFICATES => "SELECT * FROM master.sys.certificates;",
        keys::DATABASE_PRINCIPALS => "SELECT N'master' AS database_name, * FROM master.sys.database_principals;",
        keys::ERRORLOG => ERRORLOG,
        _ => return None,
    })
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
    pub fn new(keys: &[&'static str]) -> Batch {
        let mut text = String::from(HEADER);
        text.push('\n');
        let mut line = 2u32;
        let mut statements = Vec::new();
        for key in keys {
            let Some(sql) = statement(key) else { continue };
            text.push_str(MARKER);
            text.push_str(key);
            text.push('\n');
            text.push_str(&marker_statement(key));
            text.push('\n');
            line += 2;
            let lines = sql.lines().count() as u32;
            statements.push((*key, line..=line + lines - 1));
            text.push_str(sql);
            text.push('\n');
            line += lines;
        }
        Batch { text, statements }
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
        assert_eq!(batch.statement_at(7, "sp_readerrorlog"), Some(keys::ALL.len() - 1));
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
