//! The `results` keys of snapshot format `agdiag.snapshot/1`: each is the catalog view or DMV name
//! without the `sys.` prefix (see `shared/reference/snapshot-contract.md`).

pub const SERVER_PROPERTIES: &str = "server_properties";
pub const DM_SERVER_SERVICES: &str = "dm_server_services";
pub const ENDPOINTS: &str = "endpoints";
pub const DATABASE_MIRRORING_ENDPOINTS: &str = "database_mirroring_endpoints";
pub const TCP_ENDPOINTS: &str = "tcp_endpoints";
pub const SERVER_PERMISSIONS: &str = "server_permissions";
pub const SERVER_PRINCIPALS: &str = "server_principals";
pub const AVAILABILITY_GROUPS: &str = "availability_groups";
pub const AVAILABILITY_REPLICAS: &str = "availability_replicas";
pub const AVAILABILITY_READ_ONLY_ROUTING_LISTS: &str = "availability_read_only_routing_lists";
pub const AVAILABILITY_GROUP_LISTENERS: &str = "availability_group_listeners";
pub const AVAILABILITY_GROUP_LISTENER_IP_ADDRESSES: &str = "availability_group_listener_ip_addresses";
/// Extension to contract v1: `sys.availability_databases_cluster` (AG membership of databases), used
/// by the connection-string check.
pub const AVAILABILITY_DATABASES_CLUSTER: &str = "availability_databases_cluster";
pub const DM_TCP_LISTENER_STATES: &str = "dm_tcp_listener_states";
pub const DM_HADR_AVAILABILITY_REPLICA_STATES: &str = "dm_hadr_availability_replica_states";
pub const DM_HADR_AVAILABILITY_GROUP_STATES: &str = "dm_hadr_availability_group_states";
pub const DM_HADR_DATABASE_REPLICA_STATES: &str = "dm_hadr_database_replica_states";
pub const DM_HADR_CLUSTER: &str = "dm_hadr_cluster";
pub const DM_HADR_CLUSTER_MEMBERS: &str = "dm_hadr_cluster_members";
pub const ERRORLOG: &str = "errorlog";
/// Added after v1: `master.sys.certificates` (endpoint certificates and partners' certificates).
pub const CERTIFICATES: &str = "certificates";
/// Added after v1: `sys.database_principals` of `master`, each row plus a `database_name` column
/// (the owners of certificates: certificate -> user -> login), followed by the same rows of each
/// availability database the instance is the primary of (the users whose logins every replica needs).
pub const DATABASE_PRINCIPALS: &str = "database_principals";
/// The `query_errors` key of one availability database's `database_principals` read: the
/// collector reads each database the instance is the primary of separately (after master's), so
/// one failure is recorded without losing the others.
pub fn database_principals_error_key(database: &str) -> String {
    format!("{DATABASE_PRINCIPALS}:{database}")
}
/// Added after v1: `sys.dm_hadr_automatic_seeding` (one row per automatic seeding attempt, kept as
/// history; SQL Server 2016+, error 208 before).
pub const DM_HADR_AUTOMATIC_SEEDING: &str = "dm_hadr_automatic_seeding";
/// Added after v1: `sys.dm_hadr_physical_seeding_stats` (the seeding operations running now, with
/// their progress; SQL Server 2016+).
pub const DM_HADR_PHYSICAL_SEEDING_STATS: &str = "dm_hadr_physical_seeding_stats";
/// Added after v1: `sys.master_files` rows of the instance's availability databases (file folders
/// for automatic seeding), each row plus a `database_name` column (database ids differ between
/// replicas, names do not).
pub const MASTER_FILES: &str = "master_files";
/// Keys added after v1 (`snapshot-contract.md`, "Keys added after v1"): the raw rows of
/// `sys.fn_xe_file_target_read_file` over the AlwaysOn_health files (`object_name`, `event_data` as
/// the event XML text, `file_name`, `file_offset`, `timestamp_utc` where the version has it).
pub const ALWAYSON_HEALTH: &str = "alwayson_health";
/// `sys.server_event_sessions`: does AlwaysOn_health exist, and does it start with the server.
pub const SERVER_EVENT_SESSIONS: &str = "server_event_sessions";
/// `sys.dm_xe_sessions`: the running event sessions.
pub const DM_XE_SESSIONS: &str = "dm_xe_sessions";
/// `sys.dm_hadr_database_replica_cluster_states`: `is_failover_ready` per database replica.
pub const DM_HADR_DATABASE_REPLICA_CLUSTER_STATES: &str = "dm_hadr_database_replica_cluster_states";

/// Every key the collector fills, in collection order.
pub const ALL: &[&str] = &[
    SERVER_PROPERTIES,
    DM_SERVER_SERVICES,
    ENDPOINTS,
    DATABASE_MIRRORING_ENDPOINTS,
    TCP_ENDPOINTS,
    SERVER_PERMISSIONS,
    SERVER_PRINCIPALS,
    AVAILABILITY_GROUPS,
    AVAILABILITY_REPLICAS,
    AVAILABILITY_READ_ONLY_ROUTING_LISTS,
    AVAILABILITY_GROUP_LISTENERS,
    AVAILABILITY_GROUP_LISTENER_IP_ADDRESSES,
    AVAILABILITY_DATABASES_CLUSTER,
    DM_TCP_LISTENER_STATES,
    DM_HADR_AVAILABILITY_REPLICA_STATES,
    DM_HADR_AVAILABILITY_GROUP_STATES,
    DM_HADR_DATABASE_REPLICA_STATES,
    DM_HADR_AUTOMATIC_SEEDING,
    DM_HADR_PHYSICAL_SEEDING_STATS,
    MASTER_FILES,
    DM_HADR_CLUSTER,
    DM_HADR_CLUSTER_MEMBERS,
    CERTIFICATES,
    DATABASE_PRINCIPALS,
    ERRORLOG,
    ALWAYSON_HEALTH,
    SERVER_EVENT_SESSIONS,
    DM_XE_SESSIONS,
    DM_HADR_DATABASE_REPLICA_CLUSTER_STATES,
];
