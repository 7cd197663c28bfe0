//! The error explainer: for an error number (1418, 35250 ...), what it means and which checks
//! diagnose it.
//!
//! Message templates are SQL Server's (`sys.messages` substitution markers kept), as listed in
//! ag-catalog-reference.md §5; "..." marks text the reference elides. The 35250 steps are the
//! seed's seven-step checklist (troubleshoot-ag-configuration.md, "Join Database Fails"), in order.

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    pub number: u32,
    pub severity: Option<u8>,
    pub message: &'static str,
    pub meaning: &'static str,
    /// Diagnosis steps in order, each with the check that runs it.
    pub steps: Vec<ExplainStep>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExplainStep {
    pub step: &'static str,
    pub checks: Vec<&'static str>,
}

type Step = (&'static str, &'static [&'static str]);

struct Entry {
    number: u32,
    severity: Option<u8>,
    message: &'static str,
    meaning: &'static str,
    steps: &'static [Step],
}

const ENDPOINT_EXISTS: &[&str] = &["endpoint.missing", "endpoint.not_started", "endpoint.role"];
const ENDPOINT_URL_FORM: &[&str] = &[
    "endpoint_url.missing",
    "endpoint_url.malformed",
    "endpoint_url.loopback",
    "endpoint_url.wrong_host",
    "endpoint_url.ip_address",
    "endpoint_url.netbios",
];
const PARTNER_LOGIN: &[&str] = &[
    "accounts.login_missing",
    "accounts.login_disabled",
    "accounts.connect_denied",
    "accounts.connect_missing",
    "errorlog.connect_permission",
];

/// Ascending by number.
const ENTRIES: &[Entry] = &[
    Entry {
        number: 976,
        severity: Some(14),
        message: "The target database, '%.*ls', is participating in an availability group and is currently not accessible for queries. Either data movement is suspended or the availability replica is not enabled for read access. ...",
        meaning: "A connection reached a secondary replica that does not accept it: the replica's secondary_role_allow_connections is NO (or READ_ONLY while the client did not ask for read-only intent), or data movement for the database is suspended. Read-only workloads should connect through the listener with ApplicationIntent=ReadOnly and be routed to a readable secondary.",
        steps: &[
            ("The secondary allows read connections (ALLOW_CONNECTIONS = READ_ONLY or ALL).", &["routing.target_not_readable"]),
            ("Data movement for the database is not suspended.", &["health.suspended", "health.synchronization"]),
            (
                "Read-only routing sends ReadOnly connections to readable secondaries: a listener, a routing list, and a routing URL on every target that names that target's own machine.",
                &["listener.missing_for_routing", "routing.no_list", "routing.url_missing", "routing.url_wrong_host"],
            ),
        ],
    },
    Entry {
        number: 1418,
        severity: Some(16),
        message: "The server network address \"%.*ls\" can not be reached or does not exist. Check the network address name and that the ports for the local and remote endpoints are operational.",
        meaning: "The server network address in the endpoint URL (TCP://host:port) cannot be reached or does not exist: the host name is wrong or does not resolve, nothing listens on the port, a firewall blocks it, or the endpoint refuses the partner's login.",
        steps: &[
            ("The endpoint URL names the replica's own host in the recommended form (FQDN) and a well-formed TCP://host:port.", ENDPOINT_URL_FORM),
            ("The replica's host was not renamed under SQL Server (the AG would still look for the old name).", &["session.server_renamed"]),
            ("The host name resolves from the other replicas.", &["network.name_resolution"]),
            ("Each replica has a database mirroring endpoint, STARTED, with role ALL or PARTNER.", ENDPOINT_EXISTS),
            (
                "The URL's port is the endpoint's real port, and the endpoint actually listens on it (no other process holds the port).",
                &["endpoint.port_mismatch", "endpoint.not_listening", "network.port_bound_elsewhere", "errorlog.port_in_use"],
            ),
            ("TCP reaches the port from the other replicas: no firewall or NSG rule blocks it (5022 by default).", &["network.unreachable"]),
            ("The partner's service account may connect to the endpoint.", PARTNER_LOGIN),
            (
                "In a distributed AG, each LISTENER_URL names the member AG's VNN listener and its replicas' mirroring endpoint port.",
                &["distributed.listener_url", "distributed.dnn_listener"],
            ),
            ("The error logs of both replicas show no related errors.", &["errorlog.ag_errors"]),
        ],
    },
    Entry {
        number: 9692,
        severity: None,
        message: "The %S_MSG endpoint cannot listen on port %d because it is in use by another process.",
        meaning: "The database mirroring endpoint could not bind its port at startup: another process (often a second SQL Server instance with its own endpoint on the same port) holds it. sys.endpoints still says STARTED, but nothing of this instance listens.",
        steps: &[
            ("The error log records the port conflict.", &["errorlog.port_in_use"]),
            ("The endpoint has a DATABASE_MIRRORING listener on its port.", &["endpoint.not_listening"]),
            ("A connection by IP works but goes to another process, or by name fails.", &["network.port_bound_elsewhere"]),
        ],
    },
    Entry {
        number: 15141,
        severity: Some(16),
        message: "The server principal owns one or more %S_MSG(s) and cannot be dropped.",
        meaning: "The login being dropped owns an endpoint (usually the database mirroring endpoint, created by a DBA under their own login). Transfer ownership first (ALTER AUTHORIZATION ON ENDPOINT::... TO [sa]); that drops every permission on the endpoint, so re-grant CONNECT to each partner's service account afterwards.",
        steps: &[
            ("The mirroring endpoint is owned by a personal, disabled or missing login.", &["endpoint.owner"]),
            ("After the ownership change, every partner's login holds CONNECT again.", &["accounts.connect_missing"]),
        ],
    },
    Entry {
        number: 18456,
        severity: Some(14),
        message: "Login failed for user '%.*ls'.%.*ls",
        meaning: "A login was refused; the state in the error log says why (2, 5 invalid user; 6 Windows login with SQL authentication; 7 disabled; 8 wrong password; 11, 12 server access failed; 18 must change password; 38, 46 database not found; 58 SQL authentication on a Windows-only server). After a failover it usually means the login or its SID was not created on the new primary.",
        steps: &[
            ("The login exists on this replica.", &["accounts.login_missing"]),
            ("The login is enabled (state 7).", &["accounts.login_disabled"]),
            (
                "After a failover: the availability databases' users find their logins on the new primary, SQL logins with the same SID as on the old one.",
                &["accounts.login_missing_for_user", "accounts.login_sid_mismatch"],
            ),
            ("The error log shows the failing logins and their states.", &["errorlog.ag_errors"]),
        ],
    },
    Entry {
        number: 19401,
        severity: Some(16),
        message: "The READ_ONLY_ROUTING_URL '%.*ls' specified for availability replica '%.*ls' is not valid. It does not follow the required format of 'TCP://system-address:port'. ...",
        meaning: "The read-only routing URL given in ALTER AVAILABILITY GROUP is not TCP://system-address:port.",
        steps: &[
            ("Every routing URL is TCP://host:port.", &["routing.url_malformed"]),
            (
                "Its port is the target's SQL Server (TSQL) port, not the mirroring endpoint port, and its host the target's own FQDN.",
                &["routing.url_port_not_tsql", "routing.url_mirroring_port", "routing.url_not_fqdn", "routing.url_wrong_host"],
            ),
        ],
    },
    Entry {
        number: 19404,
        severity: Some(16),
        message: "An availability replica '%.*ls' that is specified in the READ_ONLY_ROUTING_LIST for availability replica '%.*ls' does not have a value set for READ_ONLY_ROUTING_URL. ...",
        meaning: "A replica named in a read-only routing list has no READ_ONLY_ROUTING_URL. Set the URL (SECONDARY_ROLE (READ_ONLY_ROUTING_URL = ...)) before naming the replica in a list.",
        steps: &[
            ("Every routing-list target has a routing URL.", &["routing.url_missing"]),
            ("Every routing-list target accepts read connections.", &["routing.target_not_readable"]),
        ],
    },
    Entry {
        number: 19407,
        severity: Some(16),
        message: "The lease between availability group '%.*ls' and the Windows Server Failover Cluster has expired. ...",
        meaning: "SQL Server and the cluster's resource host lost contact for longer than the lease timeout; the availability group went to the RESOLVING role and may have failed over. Typical causes: the node lost quorum or cluster connectivity, or the server was starved of CPU or memory.",
        steps: &[
            ("The cluster has normal quorum.", &["health.quorum"]),
            ("All cluster members are up.", &["health.cluster_member_down"]),
            ("The instance still sees its cluster.", &["hadr.no_cluster"]),
            ("The replicas are back online and healthy.", &["health.replica_not_healthy"]),
            ("The error log shows the lease errors and what preceded them.", &["errorlog.ag_errors"]),
            ("AlwaysOn_health shows whether the group failed over, to which replica, and why.", &["history.failover", "history.health_session"]),
            ("The cluster's login can run the health check and fail the group over.", &["failover.system_account"]),
        ],
    },
    Entry {
        number: 28027,
        severity: None,
        message: "Connection handshake failed. There is no compatible %S_MSG. State %d.",
        meaning: "The two database mirroring endpoints share no encryption setting (State 22: encryption algorithm): one has ENCRYPTION = DISABLED and the other REQUIRED, or both require algorithms with nothing in common (AES vs RC4).",
        steps: &[
            ("The endpoints' encryption settings are compatible across replicas.", &["endpoint.encryption_incompatible"]),
            ("No endpoint relies on the deprecated RC4 algorithm.", &["endpoint.rc4"]),
            ("The error log shows the handshake failure.", &["errorlog.encryption_mismatch"]),
        ],
    },
    Entry {
        number: 28034,
        severity: None,
        message: "Connection handshake failed. The login '%.*ls' does not have CONNECT permission on the endpoint. State %d.",
        meaning: "The partner replica's service account (State 84) reached this endpoint but may not connect: its login is missing, disabled, denied, or lacks GRANT CONNECT ON ENDPOINT. Run the fix on the instance whose error log shows the message.",
        steps: &[
            ("The login the partner presents exists, is enabled, is not denied and holds CONNECT.", PARTNER_LOGIN),
            ("Replicas use the same domain account where possible.", &["accounts.mixed_service_accounts"]),
        ],
    },
    Entry {
        number: 28035,
        severity: None,
        message: "Connection handshake failed. The certificate used by the peer is invalid due to the following reason: %S_MSG. State %d.",
        meaning: "Certificate authentication: the certificate the partner presents is missing from master here, expired or not yet valid.",
        steps: &[
            ("Replicas that need certificates use them on both sides.", &["accounts.certificate_required", "endpoint.auth_incompatible"]),
            ("The error log names the certificate problem.", &["errorlog.certificate"]),
        ],
    },
    Entry {
        number: 28036,
        severity: None,
        message: "Connection handshake failed. The certificate used by this endpoint was not found: %S_MSG. ...",
        meaning: "Certificate authentication: this endpoint's own certificate was dropped or is unusable.",
        steps: &[
            ("The endpoints' authentication settings still match across replicas.", &["endpoint.auth_incompatible", "accounts.certificate_required"]),
            ("The error log names the certificate problem.", &["errorlog.certificate"]),
        ],
    },
    Entry {
        number: 28045,
        severity: None,
        message: "Connection handshake failed. The certificate used by the peer does not match the one in master database with same issuer name and serial number. State %d.",
        meaning: "Certificate authentication: the partner's certificate was re-created, so the copy imported into master here no longer matches.",
        steps: &[
            ("Replicas that need certificates use them on both sides.", &["accounts.certificate_required", "endpoint.auth_incompatible"]),
            ("The error log names the certificate problem.", &["errorlog.certificate"]),
        ],
    },
    Entry {
        number: 35201,
        severity: Some(10),
        message: "A connection timeout has occurred while attempting to establish a connection to availability replica '%ls' with id [%ls]. Either a networking or firewall issue exists, or the endpoint address provided for the replica is not the database mirroring endpoint of the host server instance.",
        meaning: "A replica could not open a session to a partner in time: the endpoint URL points at the wrong host or port, a firewall drops the traffic, or nothing listens there.",
        steps: &[
            ("The endpoint URL names the partner's host and its mirroring endpoint port.", &["endpoint_url.wrong_host", "endpoint_url.malformed", "endpoint.port_mismatch"]),
            ("The partner's endpoint is started and listening.", &["endpoint.not_started", "endpoint.not_listening"]),
            ("TCP reaches the port (firewall, NSG).", &["network.unreachable"]),
            ("The replica's connection state and last connect error.", &["session.replica_disconnected"]),
            (
                "In a distributed AG: the LISTENER_URL of the other AG, and whether the member AG is connected.",
                &["distributed.listener_url", "distributed.disconnected"],
            ),
            ("AlwaysOn_health shows whether the time-outs repeat.", &["history.repeated_disconnects"]),
        ],
    },
    Entry {
        number: 35206,
        severity: Some(10),
        message: "A connection timeout has occurred on a previously established connection to availability replica '%ls' with id [%ls]. Either a networking or a firewall issue exists or the availability replica has transitioned to the resolving role.",
        meaning: "An established session heard no ping within the session timeout (a soft error): a network interruption, an overloaded or hung server, or the partner went to the RESOLVING role (failover, lease expiry, lost quorum).",
        steps: &[
            ("The replica's connection state and last connect error.", &["session.replica_disconnected"]),
            ("The session timeout is not below 10 seconds.", &["session.timeout_too_short"]),
            ("TCP still reaches the partner's endpoint.", &["network.unreachable"]),
            ("The partner is healthy and the cluster has quorum.", &["health.replica_not_healthy", "health.quorum", "health.cluster_member_down"]),
            ("The error logs around the time of the timeout.", &["errorlog.ag_errors"]),
            ("AlwaysOn_health shows how often the connection dropped, and whether a failover followed.", &["history.repeated_disconnects", "history.failover"]),
        ],
    },
    Entry {
        number: 35220,
        severity: Some(16),
        message: "replica manager waiting for the host computer to start/join a WSFC cluster",
        meaning: "The Always On replica manager cannot start because the node is not (yet) an active member of a Windows Server Failover Cluster: the cluster service is down, the node lost quorum, or Always On was enabled before the cluster existed.",
        steps: &[
            ("The Always On manager is running.", &["hadr.manager_not_running"]),
            ("The instance sees its cluster.", &["hadr.no_cluster"]),
            ("The cluster has quorum and its members are up.", &["health.quorum", "health.cluster_member_down"]),
        ],
    },
    Entry {
        number: 35221,
        severity: Some(16),
        message: "replica manager is disabled on this instance: enable Always On in Configuration Manager and restart",
        meaning: "Always On Availability Groups is not enabled on the instance, so it cannot process availability group commands. Enable it in SQL Server Configuration Manager (or Enable-SqlAlwaysOn) and restart the service.",
        steps: &[
            ("The Always On feature is enabled.", &["hadr.disabled"]),
            ("The Always On manager started after the restart.", &["hadr.manager_not_running"]),
        ],
    },
    Entry {
        number: 35250,
        severity: Some(16),
        message: "The connection to the primary replica is not active. The command cannot be processed.",
        meaning: "Joining a secondary database (or another command that needs the primary) failed because this replica has no working session with the primary. The steps are the seed's seven-step checklist, in its order.",
        steps: &[
            ("Ensure the endpoint is created and started.", ENDPOINT_EXISTS),
            (
                "Check that you can connect to the endpoint (Test-NetConnection / telnet) and that no firewall rule blocks it.",
                &["network.unreachable", "network.port_bound_elsewhere", "endpoint.not_listening"],
            ),
            (
                "Check for errors: last_connect_error_number in sys.dm_hadr_availability_replica_states, and the error log.",
                &["session.replica_disconnected", "errorlog.ag_errors"],
            ),
            (
                "Ensure the endpoint is defined so it matches the IP/port the AG uses (endpoint_url vs the endpoint's port).",
                &[
                    "endpoint.port_mismatch",
                    "endpoint_url.missing",
                    "endpoint_url.malformed",
                    "endpoint_url.wrong_host",
                    "endpoint_url.loopback",
                ],
            ),
            (
                "Check that the (network) service account has CONNECT permission on the endpoint.",
                &[
                    "accounts.login_missing",
                    "accounts.login_disabled",
                    "accounts.connect_denied",
                    "accounts.connect_missing",
                    "accounts.certificate_required",
                    "errorlog.connect_permission",
                ],
            ),
            ("Check for name resolution issues.", &["network.name_resolution", "endpoint_url.netbios", "session.server_renamed"]),
            ("Ensure SQL Server runs a recent build (preferably the latest).", &["build.outdated", "build.mixed_versions"]),
        ],
    },
];

pub fn explain(number: u32) -> Option<Explanation> {
    let entry = ENTRIES.iter().find(|e| e.number == number)?;
    Some(Explanation {
        number: entry.number,
        severity: entry.severity,
        message: entry.message,
        meaning: entry.meaning,
        steps: entry.steps.iter().map(|(step, checks)| ExplainStep { step, checks: checks.to_vec() }).collect(),
    })
}

/// Every error number the explainer knows, ascending.
pub fn known_errors() -> Vec<u32> {
    ENTRIES.iter().map(|e| e.number).collect()
}

/// Every check id the explainer names (for the catalog cross-test).
pub fn referenced_checks() -> Vec<&'static str> {
    let mut ids: Vec<&'static str> =
        ENTRIES.iter().flat_map(|e| e.steps.iter().flat_map(|(_, checks)| checks.iter().copied())).collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_errors_are_ascending_and_cover_the_issue() {
        let known = known_errors();
        assert!(known.windows(2).all(|w| w[0] < w[1]), "{known:?}");
        for n in [1418, 35250, 35201, 35206, 19407, 15141, 19404, 19401, 28034, 28027, 28035, 28036, 28045, 9692, 35220, 35221, 18456, 976] {
            assert!(explain(n).is_some(), "{n}");
        }
        assert!(explain(4242).is_none());
    }

    #[test]
    fn error_35250_is_the_seeds_seven_steps_each_with_checks() {
        let e = explain(35250).unwrap();
        assert_eq!(e.message, "The connection to the primary replica is not active. The command cannot be processed.");
        assert_eq!(e.steps.len(), 7);
        for (i, step) in e.steps.iter().enumerate() {
            assert!(!step.checks.is_empty(), "step {} has no check", i + 1);
        }
        assert!(e.steps[0].step.starts_with("Ensure the endpoint is created and started"));
        assert!(e.steps[6].step.contains("recent build"));
        assert!(e.steps[0].checks.contains(&"endpoint.not_started"));
        assert!(e.steps[1].checks.contains(&"network.unreachable"));
        assert!(e.steps[2].checks.contains(&"session.replica_disconnected"));
        assert!(e.steps[3].checks.contains(&"endpoint.port_mismatch"));
        assert!(e.steps[4].checks.contains(&"accounts.connect_missing"));
        assert!(e.steps[5].checks.contains(&"network.name_resolution"));
        assert!(e.steps[5].checks.contains(&"session.server_renamed"));
        assert_eq!(e.steps[6].checks, vec!["build.outdated", "build.mixed_versions"]);
    }

    #[test]
    fn error_1418_covers_url_name_endpoint_port_firewall_and_login() {
        let e = explain(1418).unwrap();
        assert_eq!(e.severity, Some(16));
        assert!(e.message.starts_with("The server network address \"%.*ls\" can not be reached or does not exist."));
        let all: Vec<&str> = e.steps.iter().flat_map(|s| s.checks.iter().copied()).collect();
        for id in [
            "endpoint_url.wrong_host",
            "network.name_resolution",
            "session.server_renamed",
            "endpoint.not_started",
            "endpoint.port_mismatch",
            "network.unreachable",
            "accounts.connect_missing",
        ] {
            assert!(all.contains(&id), "{id} missing from 1418");
        }
    }

    #[test]
    fn referenced_ids_are_area_dot_condition() {
        const AREAS: &[&str] =
            &["hadr", "accounts", "endpoint", "endpoint_url", "network", "listener", "routing", "session", "health", "errorlog", "build", "distributed", "history", "failover", "seeding", "certificate"];
        for id in referenced_checks() {
            let (area, condition) = id.split_once('.').unwrap_or_else(|| panic!("{id}"));
            assert!(AREAS.contains(&area) && !condition.is_empty() && !condition.contains('.'), "{id}");
        }
    }
}
