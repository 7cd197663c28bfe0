//! Value domains of catalog columns that several checks read: which row is the database
//! mirroring endpoint, which listener row is TSQL or mirroring. `*_desc` wins; the numeric code is
//! the fallback for collectors that kept only it. The codes differ per view, hence one place.

use super::Row;

/// `sys.endpoints` / `database_mirroring_endpoints` / `tcp_endpoints`: type 4 = DATABASE_MIRRORING.
pub fn is_mirroring_endpoint(row: &Row) -> bool {
    match row.code("type_desc") {
        Some(desc) => desc.eq_ignore_ascii_case("DATABASE_MIRRORING"),
        None => row.int("type") == Some(4),
    }
}

/// `sys.dm_tcp_listener_states`: type 0 = TSQL.
pub fn is_tsql_listener(row: &Row) -> bool {
    match row.code("type_desc") {
        Some(desc) => desc.eq_ignore_ascii_case("TSQL"),
        None => row.int("type") == Some(0),
    }
}

/// `sys.dm_tcp_listener_states`: type 2 = DATABASE_MIRRORING.
pub fn is_mirroring_listener(row: &Row) -> bool {
    match row.code("type_desc") {
        Some(desc) => desc.eq_ignore_ascii_case("DATABASE_MIRRORING"),
        None => row.int("type") == Some(2),
    }
}

/// `sys.availability_groups`: cluster_type 0 = WSFC; the column is absent before SQL Server 2017,
/// where every AG was a WSFC AG (1 = EXTERNAL, e.g. Pacemaker; 2 = NONE, read-scale).
pub fn is_wsfc_ag(row: &Row) -> bool {
    match row.code("cluster_type_desc") {
        Some(desc) => desc.eq_ignore_ascii_case("wsfc"),
        None => row.int("cluster_type").unwrap_or(0) == 0,
    }
}

/// `sys.availability_replicas`: availability_mode 4 = CONFIGURATION_ONLY (SQL Server 2017 CU1+): a
/// replica that holds only the AG's configuration, no databases; never primary, never readable.
pub fn is_configuration_only(row: &Row) -> bool {
    match row.code("availability_mode_desc") {
        Some(desc) => desc.eq_ignore_ascii_case("CONFIGURATION_ONLY"),
        None => row.int("availability_mode") == Some(4),
    }
}

/// `sys.server_permissions`: class 105 = ENDPOINT. Since the snapshot holds every row (class 100
/// server-level too), endpoint checks keep only these; a row with neither column is read as an
/// endpoint row, as v1 snapshots held nothing else.
pub fn is_endpoint_permission(row: &Row) -> bool {
    match (row.int("class"), row.code("class_desc")) {
        (Some(class), _) => class == 105,
        (None, Some(desc)) => desc.eq_ignore_ascii_case("ENDPOINT"),
        (None, None) => true,
    }
}

/// `sys.server_permissions`: class 100 = SERVER (server-level permissions such as CONNECT SQL).
pub fn is_server_permission(row: &Row) -> bool {
    match (row.int("class"), row.code("class_desc")) {
        (Some(class), _) => class == 100,
        (None, Some(desc)) => desc.eq_ignore_ascii_case("SERVER"),
        (None, None) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(v: serde_json::Value) -> Row {
        serde_json::from_value(v).expect("a row")
    }

    #[test]
    fn the_description_wins_over_the_code_and_the_code_is_per_view() {
        assert!(is_mirroring_endpoint(&row(serde_json::json!({"type": 4, "type_desc": "DATABASE_MIRRORING"}))));
        assert!(is_mirroring_endpoint(&row(serde_json::json!({"type": 4}))));
        assert!(!is_mirroring_endpoint(&row(serde_json::json!({"type": 2, "type_desc": "TSQL"}))));
        assert!(is_mirroring_listener(&row(serde_json::json!({"type": 2}))));
        assert!(!is_mirroring_listener(&row(serde_json::json!({"type": 4}))));
        assert!(is_tsql_listener(&row(serde_json::json!({"type": 0, "type_desc": "TSQL"}))));
        assert!(!is_tsql_listener(&row(serde_json::json!({"type": 0, "type_desc": "DATABASE_MIRRORING"}))));
        assert!(is_wsfc_ag(&row(serde_json::json!({"name": "AG2012"}))), "before 2017 every AG is a WSFC AG");
        assert!(!is_wsfc_ag(&row(serde_json::json!({"cluster_type": 1, "cluster_type_desc": "external"}))));
        assert!(!is_wsfc_ag(&row(serde_json::json!({"cluster_type": 2}))));
    }

    #[test]
    fn server_permissions_split_by_class() {
        assert!(is_endpoint_permission(&row(serde_json::json!({"class": 105, "major_id": 65536}))));
        assert!(is_endpoint_permission(&row(serde_json::json!({"major_id": 65536}))));
        assert!(!is_endpoint_permission(&row(serde_json::json!({"class": 100, "major_id": 0}))));
        assert!(!is_endpoint_permission(&row(serde_json::json!({"class_desc": "SERVER"}))));
        assert!(is_server_permission(&row(serde_json::json!({"class": 100}))));
        assert!(!is_server_permission(&row(serde_json::json!({"class": 105}))));
    }
}
