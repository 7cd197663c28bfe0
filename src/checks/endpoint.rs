//! Seed: "Endpoints" steps 1-4 and "Join Database Fails (35250)" steps 1 and 4
//! (troubleshoot-ag-configuration.md); "Endpoint Ownership" and "Connection Handshake Failure"
//! (endpoint-handshake-and-ownership.md); "Endpoint reconfiguration" as a hard-error cause
//! (session-failures-between-replicas.md).
//!
//! Each instance that hosts a replica needs one database mirroring endpoint: existing, started,
//! actually listening on the port its AG's endpoint_url names, with role ALL (or PARTNER), owned by
//! a login that will outlive its creator, and with encryption and authentication settings every
//! partner can negotiate.

use serde_json::{Value, json};

use super::endpoint_facts::{self, Auth, DEFAULT_ENDPOINT, mirroring_endpoint, mirroring_tcp_row};
use super::endpoint_url;
use super::service_account;
use super::{Check, CheckInfo, CheckRun, Ctx, Draft};
use crate::findings::{Category, FixStep, Phase, Severity};
use crate::fix::{statements, tsql};
use crate::snapshot::{Instance, Row, domains, keys};
use crate::tcp_url::TcpUrl;
use crate::topology::{AgView, ReplicaView};

const DEFAULT_PORT: u16 = 5022;

const ENDPOINT_COLUMNS: &[&str] = &[
    "name",
    "endpoint_id",
    "principal_id",
    "type_desc",
    "state",
    "state_desc",
    "role",
    "role_desc",
    "is_encryption_enabled",
    "encryption_algorithm",
    "encryption_algorithm_desc",
    "connection_auth",
    "connection_auth_desc",
    "certificate_id",
];
const TCP_COLUMNS: &[&str] = &["name", "endpoint_id", "type", "type_desc", "state_desc", "port", "is_dynamic_port", "ip_address"];
const LISTENER_COLUMNS: &[&str] = &["listener_id", "ip_address", "is_ipv4", "port", "type", "type_desc", "state_desc", "start_time"];
const PRINCIPAL_COLUMNS: &[&str] = &["name", "principal_id", "type", "type_desc", "is_disabled"];
const PERMISSION_COLUMNS: &[&str] =
    &["class", "class_desc", "major_id", "grantee_principal_id", "grantor_principal_id", "type", "permission_name", "state", "state_desc"];

const SEED_ENDPOINTS: &str = "troubleshoot-ag-configuration: Endpoints";

pub const CHECKS: &[Check] = &[
    Check {
        info: CheckInfo {
            id: "endpoint.missing",
            category: Category::Endpoint,
            title: "No database mirroring endpoint",
            description: "An instance that hosts (or, with Always On enabled, is to host) an availability replica has no row in sys.database_mirroring_endpoints. Partners have nothing to connect to: the replica stays DISCONNECTED and joining databases fails with 35250 (partners log handshake error 28080, endpoint not configured).",
            needs: &[keys::DATABASE_MIRRORING_ENDPOINTS, keys::AVAILABILITY_REPLICAS, keys::SERVER_PROPERTIES],
            related_errors: &[35250, 1418, 28080],
            seed: "troubleshoot-ag-configuration: Endpoints 1; Join Database Fails (35250) step 1",
        },
        run: missing,
    },
    Check {
        info: CheckInfo {
            id: "endpoint.role",
            category: Category::Endpoint,
            title: "Mirroring endpoint role does not allow a partner",
            description: "The database mirroring endpoint's role_desc is WITNESS or NONE. An availability replica's endpoint needs ROLE = ALL (or PARTNER); a witness-only endpoint refuses the partner connections the AG needs. A configuration-only replica is the exception: its endpoint needs WITNESS (the only role SQL Server Express accepts) or ALL, so PARTNER or NONE there is the finding.",
            needs: &[keys::DATABASE_MIRRORING_ENDPOINTS, keys::AVAILABILITY_REPLICAS, keys::SERVER_PROPERTIES],
            related_errors: &[35250],
            seed: SEED_ENDPOINTS,
        },
        run: role,
    },
    Check {
        info: CheckInfo {
            id: "endpoint.not_started",
            category: Category::Endpoint,
            title: "Mirroring endpoint is not started",
            description: "The database mirroring endpoint's state_desc is STOPPED (listening but not processing) or DISABLED (not listening). No partner can connect until it is STARTED; the error log shows 35204/9666 and joining fails with 35250.",
            needs: &[keys::DATABASE_MIRRORING_ENDPOINTS, keys::AVAILABILITY_REPLICAS, keys::SERVER_PROPERTIES],
            related_errors: &[35204, 9666, 35250],
            seed: "troubleshoot-ag-configuration: Endpoints 4; Join Database Fails (35250) step 1",
        },
        run: not_started,
    },
    Check {
        info: CheckInfo {
            id: "endpoint.port_mismatch",
            category: Category::Endpoint,
            title: "Endpoint URL port differs from the endpoint's port",
            description: "The port in the replica's endpoint_url (sys.availability_replicas, as the primary sees it) is not the port of that replica's database mirroring endpoint (sys.tcp_endpoints, type 4, on the replica itself). Partners connect to a port nobody serves: error 1418 at join, connection timeouts 35201, 35250.",
            needs: &[keys::AVAILABILITY_REPLICAS, keys::TCP_ENDPOINTS],
            related_errors: &[1418, 35201, 35250],
            seed: "troubleshoot-ag-configuration: Endpoints 2; Join Database Fails (35250) step 4",
        },
        run: port_mismatch,
    },
    Check {
        info: CheckInfo {
            id: "endpoint.not_listening",
            category: Category::Endpoint,
            title: "Started endpoint is not listening on its port",
            description: "The database mirroring endpoint is STARTED, but sys.dm_tcp_listener_states has no ONLINE DATABASE_MIRRORING listener on its port: another process holds the port (error 9692, \"cannot listen on port ... because it is in use by another process\") or the listener failed (9693). The catalog says STARTED while nothing accepts connections.",
            needs: &[keys::DATABASE_MIRRORING_ENDPOINTS, keys::TCP_ENDPOINTS, keys::DM_TCP_LISTENER_STATES, keys::ERRORLOG],
            related_errors: &[9692, 9693, 9691, 1418, 35201],
            seed: "troubleshoot-ag-configuration: Endpoints 3 (is it listening on the correct port); Network Access",
        },
        run: not_listening,
    },
    Check {
        info: CheckInfo {
            id: "endpoint.owner",
            category: Category::Endpoint,
            title: "Mirroring endpoint owned by a personal or unusable login",
            description: "The database mirroring endpoint (sys.endpoints.principal_id) is owned by a person's Windows login rather than sa or a service account: when that person leaves, the login cannot be dropped (error 15141) and disabling it leaves the endpoint owned by a dead account. An owner that is disabled or no longer exists is an error. ALTER AUTHORIZATION fixes it but drops every permission on the endpoint, so the CONNECT grants are re-issued.",
            needs: &[
                keys::DATABASE_MIRRORING_ENDPOINTS,
                keys::ENDPOINTS,
                keys::SERVER_PRINCIPALS,
                keys::SERVER_PERMISSIONS,
                keys::DM_SERVER_SERVICES,
                keys::SERVER_PROPERTIES,
                keys::AVAILABILITY_REPLICAS,
            ],
            related_errors: &[15141],
            seed: "endpoint-handshake-and-ownership: Endpoint Ownership",
        },
        run: owner,
    },
    Check {
        info: CheckInfo {
            id: "endpoint.rc4",
            category: Category::Endpoint,
            title: "Mirroring endpoint allows RC4 encryption",
            description: "encryption_algorithm_desc includes RC4 (RC4, RC4 AES, AES RC4). RC4 is deprecated and weak; AES is the wizard default. All replicas must change together, since endpoints with no common algorithm cannot connect.",
            needs: &[keys::DATABASE_MIRRORING_ENDPOINTS],
            related_errors: &[28027],
            seed: "endpoint-handshake-and-ownership: Connection Handshake Failure (transport security)",
        },
        run: rc4,
    },
    Check {
        info: CheckInfo {
            id: "endpoint.encryption_incompatible",
            category: Category::Endpoint,
            title: "Replicas' endpoint encryption settings cannot negotiate",
            description: "Two replicas of an availability group have endpoints whose encryption cannot agree: one DISABLED while the other REQUIRES encryption, or both encrypting with no algorithm in common (AES only vs RC4 only). The handshake fails with error 28027 (\"There is no compatible encryption algorithm. State 22.\").",
            needs: &[keys::DATABASE_MIRRORING_ENDPOINTS, keys::AVAILABILITY_REPLICAS],
            related_errors: &[28027, 35250],
            seed: "endpoint-handshake-and-ownership: Connection Handshake Failure",
        },
        run: encryption_incompatible,
    },
    Check {
        info: CheckInfo {
            id: "endpoint.auth_incompatible",
            category: Category::Endpoint,
            title: "Replicas' endpoint authentication methods do not overlap",
            description: "One replica's endpoint accepts Windows authentication only (NTLM, KERBEROS, NEGOTIATE) while a partner's accepts CERTIFICATE only: neither can authenticate to the other, and the replicas stay DISCONNECTED.",
            needs: &[keys::DATABASE_MIRRORING_ENDPOINTS, keys::AVAILABILITY_REPLICAS],
            related_errors: &[35250],
            seed: "troubleshoot-ag-configuration: Accounts 2 (certificates); endpoint-handshake-and-ownership: Connection Handshake Failure",
        },
        run: auth_incompatible,
    },
];

// ---------------------------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------------------------

/// Whether an instance hosts a replica, and so how much a bad endpoint matters.
enum Hosting<'c> {
    /// It hosts replicas of these AGs: (AG, its replica row).
    Replica(Vec<(&'c AgView<'c>, &'c ReplicaView<'c>)>),
    /// Always On is enabled but it hosts no replica (yet).
    Candidate,
    /// Neither: its endpoint (if any) may serve plain database mirroring.
    Unrelated,
}

impl<'c> Hosting<'c> {
    fn severity(&self) -> Option<Severity> {
        match self {
            Hosting::Replica(_) => Some(Severity::Error),
            Hosting::Candidate => Some(Severity::Warning),
            Hosting::Unrelated => None,
        }
    }

    fn describe(&self) -> String {
        match self {
            Hosting::Replica(list) => {
                let mut ags: Vec<&str> = Vec::new();
                for (ag, _) in list {
                    if !ags.contains(&ag.name) {
                        ags.push(ag.name);
                    }
                }
                format!("hosts a replica of availability group {}", ags.join(", "))
            }
            Hosting::Candidate => {
                "has Always On enabled but hosts no availability replica yet (it is in this snapshot, so presumably it is to host one)"
                    .to_string()
            }
            Hosting::Unrelated => "hosts no availability replica".to_string(),
        }
    }

    fn first(&self) -> Option<(&'c AgView<'c>, &'c ReplicaView<'c>)> {
        match self {
            Hosting::Replica(list) => list.first().map(|(a, r)| (*a, *r)),
            _ => None,
        }
    }
}

fn hosting<'c>(ctx: &'c Ctx<'_>, index: usize) -> Hosting<'c> {
    let mut list = Vec::new();
    for ag in &ctx.topology.ags {
        for r in &ag.replicas {
            if r.instance == Some(index) {
                list.push((ag, r));
            }
        }
    }
    if !list.is_empty() {
        return Hosting::Replica(list);
    }
    let enabled = ctx.snapshot.instances[index].properties().and_then(|p| p.int("IsHadrEnabled")) == Some(1);
    if enabled { Hosting::Candidate } else { Hosting::Unrelated }
}

/// Scopes a finding to the instance and, when it hosts one, its first AG and replica.
fn scope<'r, 'c>(draft: Draft<'r, 'c>, host: &Hosting<'_>, target: &str) -> Draft<'r, 'c> {
    let draft = draft.instance(target);
    match host.first() {
        Some((ag, r)) => draft.ag(ag.name).replica(r.server_name),
        None => draft,
    }
}

/// The name fixes `:Connect` to: the replica name when it hosts one, else the instance's name.
fn target_of<'a>(inst: &'a Instance, host: &Hosting<'a>) -> &'a str {
    host.first().map(|(_, r)| r.server_name).unwrap_or_else(|| inst.name())
}

fn sql_or_manual(target: &str, phase: Phase, sql: Option<String>, what: &str, name: &str) -> FixStep {
    match sql {
        Some(text) => FixStep::sql(target, phase, text),
        None => FixStep::manual(
            target,
            phase,
            format!("The name \"{}\" cannot be scripted safely; {what} yourself.", tsql::comment(name)),
        ),
    }
}

fn endpoint_name(ep: &Row) -> &str {
    ep.str("name").unwrap_or(DEFAULT_ENDPOINT)
}

fn is_started(ep: &Row) -> bool {
    match ep.code("state_desc") {
        Some(d) => d.eq_ignore_ascii_case("STARTED"),
        None => ep.int("state") == Some(0),
    }
}

// ---------------------------------------------------------------------------------------------
// Per-instance checks
// ---------------------------------------------------------------------------------------------

fn missing(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
    for (index, inst) in ctx.instances().enumerate() {
        let Some(rows) = run.rows(inst, keys::DATABASE_MIRRORING_ENDPOINTS) else { continue };
        if mirroring_endpoint(rows).is_some() {
            continue;
        }
        let host = hosting(ctx, index);
        let Some(severity) = host.severity() else { continue };
        let target = target_of(inst, &host);
        // The port the AG already expects this replica's endpoint on.
        let mut urls: Vec<(String, &str, u16)> = Vec::new();
        if let Hosting::Replica(list) = &host {
            for (ag, r) in list {
                if let Some(text) = r.row.str("endpoint_url")
                    && let Ok(url) = TcpUrl::parse(text)
                {
                    urls.push((ag.name.to_string(), text, url.port));
                }
            }
        }
        let port = urls.first().map(|(_, _, p)| *p).unwrap_or(DEFAULT_PORT);
        let port_why = match urls.first() {
            Some((ag, text, _)) => format!("port {port}, the port availability group {ag}'s endpoint URL {text} names"),
            None => format!("the conventional port {port}"),
        };
        let partner_cert_only = partner_endpoints(ctx, index).iter().any(|(_, e)| {
            let a = endpoint_facts::auth(e);
            a.cert && !a.windows
        });
        let cert_note = if partner_cert_only {
            " The partners' endpoints use CERTIFICATE authentication only: create this endpoint with AUTHENTICATION = \
             CERTIFICATE <cert> instead (see endpoint.auth_incompatible), not with the Windows authentication below."
        } else {
            ""
        };
        // sa (principal_id 1, possibly renamed) owns it, as endpoint.owner recommends.
        let owner = inst
            .rows_or_empty(keys::SERVER_PRINCIPALS)
            .iter()
            .find(|p| p.int("principal_id") == Some(1))
            .and_then(|p| p.str("name"))
            .unwrap_or("sa");
        scope(run.finding(severity, DEFAULT_ENDPOINT), &host, target)
            .message(format!(
                "{} {} but has no database mirroring endpoint (sys.database_mirroring_endpoints returns no row). The \
                 other replicas have nothing to connect to: the replica stays DISCONNECTED, partners log handshake \
                 error 28080 (endpoint not configured) and joining databases fails with 35250.",
                inst.name(),
                host.describe()
            ))
            .evidence(json!({
                "database_mirroring_endpoints": [],
                "endpoint_urls": urls.iter().map(|(ag, text, _)| json!({"availability_group": ag, "endpoint_url": text})).collect::<Vec<_>>(),
                "listener_port": port,
            }))
            .remediation(format!(
                "Create the endpoint [{DEFAULT_ENDPOINT}] on {port_why}, with ROLE = ALL, Windows Negotiate \
                 authentication and AES encryption (the wizard's defaults) and AUTHORIZATION [{owner}] (otherwise \
                 whoever runs the script owns it, see endpoint.owner), then start it (CREATE ENDPOINT leaves it \
                 STOPPED) and grant CONNECT on it to the partners' service accounts (see the accounts checks). Allow \
                 the port through the firewall.{cert_note}"
            ))
            .fixes([
                sql_or_manual(
                    target,
                    Phase::CreateEndpoint,
                    statements::create_mirroring_endpoint(DEFAULT_ENDPOINT, owner, port),
                    "create the endpoint",
                    DEFAULT_ENDPOINT,
                ),
                sql_or_manual(
                    target,
                    Phase::StartEndpoint,
                    statements::start_endpoint(DEFAULT_ENDPOINT),
                    "start the endpoint",
                    DEFAULT_ENDPOINT,
                ),
            ])
            .emit();
    }
}

fn role(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
    for (index, inst) in ctx.instances().enumerate() {
        let Some(rows) = run.rows(inst, keys::DATABASE_MIRRORING_ENDPOINTS) else { continue };
        let Some(ep) = mirroring_endpoint(rows) else { continue };
        let role = match ep.code("role_desc") {
            Some(d) => d.to_ascii_uppercase(),
            None => match ep.int("role") {
                Some(0) => "NONE".into(),
                Some(1) => "PARTNER".into(),
                Some(2) => "WITNESS".into(),
                Some(3) => "ALL".into(),
                _ => continue,
            },
        };
        let host = hosting(ctx, index);
        // A configuration-only replica (availability_mode 4) takes the witness side: WITNESS (the only
        // role SQL Server Express accepts) or ALL; PARTNER refuses what it is there for.
        let config_only =
            matches!(&host, Hosting::Replica(list) if list.iter().all(|(_, r)| domains::is_configuration_only(r.row)));
        if config_only {
            if role != "ALL" && role != "WITNESS" {
                config_only_role(run, inst, &host, ep, &role);
            }
            continue;
        }
        if role == "ALL" || role == "PARTNER" {
            continue;
        }
        let Some(severity) = host.severity() else { continue }; // a witness of plain database mirroring
        let target = target_of(inst, &host);
        let name = endpoint_name(ep);
        scope(run.finding(severity, name), &host, target)
            .message(format!(
                "{} {} but its database mirroring endpoint [{name}] has role_desc = {role}. An availability replica's \
                 endpoint must accept partner connections (ROLE = ALL, or PARTNER); a {role} endpoint refuses them, so \
                 the replica cannot connect to its partners.",
                inst.name(),
                host.describe()
            ))
            .evidence(json!({ "database_mirroring_endpoints": ep.pick(ENDPOINT_COLUMNS) }))
            .remediation(format!("ALTER ENDPOINT [{name}] FOR DATABASE_MIRRORING (ROLE = ALL) on {target}."))
            .fix(sql_or_manual(target, Phase::AlterEndpoint, statements::alter_endpoint_role_all(name), "set ROLE = ALL on the endpoint", name))
            .emit();
    }
}

/// A configuration-only replica whose endpoint has role PARTNER or NONE.
fn config_only_role(run: &mut CheckRun<'_>, inst: &Instance, host: &Hosting<'_>, ep: &Row, role: &str) {
    let target = target_of(inst, host);
    let name = endpoint_name(ep);
    let express = inst.properties().and_then(|p| p.int("EngineEdition")) == Some(4);
    let (severity, why) = if role == "NONE" {
        (Severity::Error, "a NONE endpoint takes part in no session at all")
    } else {
        (
            Severity::Warning,
            "a configuration-only replica takes the witness side of the AG's sessions, which a PARTNER-only endpoint \
             does not serve (the documented roles for it are WITNESS, and ALL where the edition allows it)",
        )
    };
    scope(run.finding(severity, name), host, target)
        .message(format!(
            "{} hosts the configuration-only replica (availability_mode = CONFIGURATION_ONLY) of availability group {} but \
             its database mirroring endpoint [{name}] has role_desc = {role}: {why}. Without it the primary cannot keep \
             the AG configuration on {}, and an external cluster manager loses the replica it needs to decide failovers.{}",
            inst.name(),
            host.first().map(|(ag, _)| ag.name).unwrap_or("?"),
            inst.name(),
            if express { " On SQL Server Express, WITNESS is the only valid role." } else { "" }
        ))
        .evidence(json!({
            "database_mirroring_endpoints": ep.pick(ENDPOINT_COLUMNS),
            "availability_replicas": host.first().map(|(_, r)| r.row.pick(&["replica_server_name", "availability_mode", "availability_mode_desc"])),
        }))
        .remediation(format!("ALTER ENDPOINT [{name}] FOR DATABASE_MIRRORING (ROLE = WITNESS) on {target}."))
        .fix(sql_or_manual(target, Phase::AlterEndpoint, statements::alter_endpoint_role_witness(name), "set ROLE = WITNESS on the endpoint", name))
        .emit();
}

fn not_started(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
    for (index, inst) in ctx.instances().enumerate() {
        let Some(rows) = run.rows(inst, keys::DATABASE_MIRRORING_ENDPOINTS) else { continue };
        let Some(ep) = mirroring_endpoint(rows) else { continue };
        if is_started(ep) {
            continue;
        }
        let host = hosting(ctx, index);
        let Some(severity) = host.severity() else { continue };
        let target = target_of(inst, &host);
        let name = endpoint_name(ep);
        let state = ep.code("state_desc").map(str::to_ascii_uppercase).unwrap_or_else(|| match ep.int("state") {
            Some(1) => "STOPPED".into(),
            Some(2) => "DISABLED".into(),
            other => format!("state {}", other.map_or("NULL".to_string(), |s| s.to_string())),
        });
        let meaning = match state.as_str() {
            "STOPPED" => "it listens but does not process connections",
            "DISABLED" => "it does not even listen",
            _ => "it does not accept connections",
        };
        scope(run.finding(severity, name), &host, target)
            .message(format!(
                "The database mirroring endpoint [{name}] on {} is {state}: {meaning}. {} {}, so its partners cannot \
                 connect to it; the error log shows 35204 (connection disabled because the endpoint was disabled or \
                 stopped) or 9666, and joining databases fails with 35250.",
                inst.name(),
                inst.name(),
                host.describe()
            ))
            .evidence(json!({ "database_mirroring_endpoints": ep.pick(ENDPOINT_COLUMNS) }))
            .remediation(format!("ALTER ENDPOINT [{name}] STATE = STARTED on {target}."))
            .fix(sql_or_manual(target, Phase::StartEndpoint, statements::start_endpoint(name), "start the endpoint", name))
            .emit();
    }
}

fn not_listening(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
    for (index, inst) in ctx.instances().enumerate() {
        let Some(rows) = run.rows(inst, keys::DATABASE_MIRRORING_ENDPOINTS) else { continue };
        let Some(ep) = mirroring_endpoint(rows) else { continue };
        if !is_started(ep) {
            continue; // endpoint.not_started
        }
        let Some(tcp) = run.rows(inst, keys::TCP_ENDPOINTS) else { continue };
        let Some(tcp_row) = mirroring_tcp_row(tcp) else { continue };
        let Some(port) = tcp_row.int("port") else { continue };
        let Some(listeners) = run.rows(inst, keys::DM_TCP_LISTENER_STATES) else { continue };
        let mirroring: Vec<&Row> = listeners
            .iter()
            .filter(|l| domains::is_mirroring_listener(l))
            .collect();
        let online = |l: &&Row| match l.code("state_desc") {
            Some(d) => d.eq_ignore_ascii_case("ONLINE"),
            None => l.int("state") == Some(0),
        };
        if mirroring.iter().any(|l| l.int("port") == Some(port) && online(l)) {
            continue;
        }
        let host = hosting(ctx, index);
        let Some(severity) = host.severity() else { continue };
        let target = target_of(inst, &host);
        let name = endpoint_name(ep);
        let log: Vec<&Row> = inst
            .rows(keys::ERRORLOG)
            .unwrap_or(&[])
            .iter()
            .filter(|l| {
                l.str("Text").is_some_and(|t| {
                    t.contains("9692") || t.contains("9693") || t.contains("cannot listen on port") || t.contains("cannot listen for connections")
                })
            })
            .collect();
        let mut elsewhere: Vec<String> = Vec::new();
        for other in mirroring.iter().filter_map(|l| l.int("port")).filter(|p| *p != port) {
            if !elsewhere.contains(&other.to_string()) {
                elsewhere.push(other.to_string());
            }
        }
        let situation = if !mirroring.is_empty() && mirroring.iter().all(|l| l.int("port") == Some(port)) {
            format!("the DATABASE_MIRRORING listener on port {port} is not ONLINE")
        } else if !elsewhere.is_empty() {
            format!(
                "the engine's DATABASE_MIRRORING listener is on port {} instead (the endpoint's port was changed and the listener did not follow)",
                elsewhere.join(", ")
            )
        } else {
            format!("there is no DATABASE_MIRRORING listener at all, on port {port} or any other")
        };
        let cause = if log.is_empty() {
            format!(
                "The usual cause is another process (often another SQL Server instance's mirroring endpoint) holding port \
                 {port}: the error log then shows error 9692 (\"The Database Mirroring endpoint cannot listen on port \
                 {port} because it is in use by another process\")."
            )
        } else {
            "The error log confirms it (see evidence).".to_string()
        };
        let machine = inst.properties().and_then(|p| p.str("ComputerNamePhysicalNetBIOS").or(p.str("MachineName"))).unwrap_or(target);
        scope(run.finding(severity, name), &host, target)
            .message(format!(
                "The database mirroring endpoint [{name}] on {} is STARTED on port {port}, but sys.dm_tcp_listener_states \
                 shows that {situation}. Nothing accepts partner connections, although the catalog says STARTED: \
                 partners time out (35201) and joining fails with 1418/35250. {cause}",
                inst.name()
            ))
            .evidence(json!({
                "database_mirroring_endpoints": ep.pick(ENDPOINT_COLUMNS),
                "tcp_endpoints": tcp_row.pick(TCP_COLUMNS),
                "dm_tcp_listener_states": mirroring.iter().map(|l| l.pick(LISTENER_COLUMNS)).collect::<Vec<_>>(),
                "errorlog": log.iter().map(|l| l.pick(&["LogDate", "ProcessInfo", "Text"])).collect::<Vec<_>>(),
            }))
            .remediation(format!(
                "On {machine}, find the process holding TCP port {port} and move one of them: reconfigure the other \
                 process, or move this endpoint to a free port (ALTER ENDPOINT ... AS TCP (LISTENER_PORT = <free port>)) and \
                 then change this replica's ENDPOINT_URL on the primary to match. Then restart the endpoint (STATE = STOPPED, \
                 then STARTED) so it listens again."
            ))
            .fix(FixStep::manual(
                target,
                Phase::Prerequisite,
                format!(
                    "On {machine}, find who holds port {port}:\n\
                     netstat -ano | findstr :{port}\n\
                     Get-NetTCPConnection -LocalPort {port} -State Listen | ForEach-Object {{ Get-Process -Id $_.OwningProcess }}\n\
                     If it is not this instance's sqlservr.exe, move that process or this endpoint to another port, then bounce the endpoint:\n\
                     ALTER ENDPOINT {0} STATE = STOPPED; ALTER ENDPOINT {0} STATE = STARTED;",
                    tsql::ident(name).unwrap_or_else(|| "<endpoint>".into())
                ),
            ))
            .emit();
    }
}

// ---------------------------------------------------------------------------------------------
// Port: the URL the AG stores vs the port the replica's endpoint has
// ---------------------------------------------------------------------------------------------

fn port_mismatch(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
    endpoint_url::record_replica_rows(ctx, run);
    // One instance has one mirroring endpoint for all its AGs: one finding per endpoint, naming every
    // AG whose URL for it has the wrong port, with one URL fix per AG (each on that AG's primary).
    struct Mismatch<'a, 's> {
        replica: &'s str,
        endpoint: &'s str,
        port: i64,
        tcp_row: &'s Row,
        urls: Vec<(&'a AgView<'s>, &'a ReplicaView<'s>, &'s str, u16)>,
    }
    let mut found: Vec<Mismatch<'_, '_>> = Vec::new();
    for ag in &ctx.topology.ags {
        if ag.is_distributed() {
            continue; // URLs name member AGs' listeners: distributed.listener_url
        }
        for r in &ag.replicas {
            let Some(text) = r.row.str("endpoint_url") else { continue }; // endpoint_url.missing
            let Ok(url) = TcpUrl::parse(text) else { continue }; // endpoint_url.malformed
            let Some(inst) = endpoint_url::replica_instance(ctx, r) else {
                run.skip(
                    &format!("{} ({})", r.server_name, ag.name),
                    format!("{}: the port of its endpoint is unknown", endpoint_url::uncollected_reason(ctx, r.server_name)),
                );
                continue;
            };
            let Some(tcp) = run.rows(inst, keys::TCP_ENDPOINTS) else { continue };
            let Some(tcp_row) = mirroring_tcp_row(tcp) else { continue }; // endpoint.missing
            let Some(port) = tcp_row.int("port") else { continue };
            if port == i64::from(url.port) {
                continue;
            }
            let endpoint = tcp_row.str("name").unwrap_or(DEFAULT_ENDPOINT);
            match found.iter_mut().find(|m| m.replica.eq_ignore_ascii_case(r.server_name)) {
                Some(m) => m.urls.push((ag, r, text, url.port)),
                None => found.push(Mismatch { replica: r.server_name, endpoint, port, tcp_row, urls: vec![(ag, r, text, url.port)] }),
            }
        }
    }
    for m in found {
        let (name, port, replica) = (m.endpoint, m.port, m.replica);
        let told: Vec<String> = m
            .urls
            .iter()
            .map(|(ag, _, text, url_port)| {
                format!("availability group {} tells partners to reach replica {replica} at {text} (port {url_port}, read on {})", ag.name, ctx.snapshot.instances[ag.source].name())
            })
            .collect();
        let mut url_ports: Vec<u16> = m.urls.iter().map(|(_, _, _, p)| *p).collect();
        url_ports.dedup();
        let (first_ag, _, _, _) = m.urls[0];
        let mut told_text = told.join("; ");
        if let Some(first) = told_text.get(..1) {
            told_text = first.to_uppercase() + &told_text[1..];
        }
        let move_instead = match url_ports.as_slice() {
            [p] => format!(
                " Alternatively, if port {p} is the intended one (firewall rules, other AGs), move the endpoint instead on \
                 {replica}: ALTER ENDPOINT [{name}] AS TCP (LISTENER_PORT = {p}) — do one or the other, not both."
            ),
            _ => String::new(),
        };
        run.finding(Severity::Error, name)
            .instance(replica)
            .ag(first_ag.name)
            .replica(replica)
            .message(format!(
                "{told_text}, but {replica}'s database mirroring endpoint [{name}] listens on port {port} (sys.tcp_endpoints). \
                 Partners connect to a port nothing serves: joining fails with 1418 (\"The server network address ... can \
                 not be reached\") or 35250, and the replica stays DISCONNECTED with connection timeouts (35201).{}",
                if m.urls.len() > 1 { " The instance has one mirroring endpoint for all its availability groups: every URL above names it." } else { "" }
            ))
            .evidence(json!({
                "availability_group": first_ag.name,
                "availability_groups": m.urls.iter().map(|(ag, _, _, _)| ag.name).collect::<Vec<_>>(),
                "availability_replicas": m.urls.iter().map(|(ag, r, _, _)| {
                    let mut v = r.row.pick(&["replica_server_name", "endpoint_url"]);
                    v["availability_group"] = ag.name.into();
                    v
                }).collect::<Vec<_>>(),
                "seen_on": ctx.snapshot.instances[first_ag.source].name(),
                "url_port": m.urls[0].3,
                "tcp_endpoints": m.tcp_row.pick(TCP_COLUMNS),
            }))
            .remediation(format!(
                "Point the URL at the real port on {} (below).{move_instead}",
                if m.urls.len() > 1 { "each AG's primary" } else { "the primary" }
            ))
            .fixes(m.urls.iter().map(|(ag, r, _, _)| endpoint_url::set_url_step(ctx, ag, r, true)))
            .emit();
    }
}

// ---------------------------------------------------------------------------------------------
// Ownership
// ---------------------------------------------------------------------------------------------

/// Logins that are service identities, not people: every replica's (of every AG the instance is
/// in, and its own) service account and the login it presents. `Err` when one is unknown.
fn service_logins(ctx: &Ctx<'_>, inst: &Instance, index: usize) -> Result<Vec<String>, String> {
    let mut replicas: Vec<&str> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for ag in &ctx.topology.ags {
        if ag.replicas.iter().any(|r| r.instance == Some(index)) {
            for r in &ag.replicas {
                if seen.insert(r.server_name.to_ascii_lowercase()) {
                    replicas.push(r.server_name);
                }
            }
        }
    }
    if replicas.is_empty() {
        replicas.push(inst.name());
    }
    let mut logins = Vec::new();
    for replica in replicas {
        let (account, login) = service_account::service_identity(ctx, replica)?;
        logins.push(account);
        logins.extend(login);
    }
    Ok(logins)
}

/// A Windows login whose name says it belongs to a machine or a service, never to a person.
fn is_system_identity(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.ends_with('$') || lower.starts_with("nt service\\") || lower.starts_with("nt authority\\")
}

fn owner(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
    for (index, inst) in ctx.instances().enumerate() {
        let Some(rows) = run.rows(inst, keys::DATABASE_MIRRORING_ENDPOINTS) else { continue };
        let Some(ep) = mirroring_endpoint(rows) else { continue };
        let Some(principals) = run.rows(inst, keys::SERVER_PRINCIPALS) else { continue };
        let Some(permissions) = run.rows(inst, keys::SERVER_PERMISSIONS) else { continue };
        let name = endpoint_name(ep);
        let endpoint_id = ep.int("endpoint_id");
        let owner_id = ep.int("principal_id").or_else(|| {
            inst.rows_or_empty(keys::ENDPOINTS)
                .iter()
                .find(|e| endpoint_id.is_some() && e.int("endpoint_id") == endpoint_id)
                .and_then(|e| e.int("principal_id"))
        });
        let owner = owner_id.and_then(|id| principals.iter().find(|p| p.int("principal_id") == Some(id)));
        let (severity, problem) = match owner {
            None => (
                Severity::Error,
                format!(
                    "is owned by principal_id {}, which is not in sys.server_principals: the endpoint has no valid owner",
                    owner_id.map_or("NULL".to_string(), |i| i.to_string())
                ),
            ),
            // sa (principal_id 1) is the recommended owner, and disabling it is standard hardening.
            Some(o) if o.int("principal_id") == Some(1) => continue,
            Some(o) if o.int("is_disabled") == Some(1) => (
                Severity::Error,
                format!(
                    "is owned by {} ({}), a disabled login: the account is being retired, and it cannot be dropped while it \
                     owns the endpoint (error 15141)",
                    o.str("name").unwrap_or("?"),
                    o.str("type_desc").unwrap_or("?")
                ),
            ),
            Some(o) if o.is("type", "U") || o.is("type_desc", "WINDOWS_LOGIN") => {
                let login = o.str("name").unwrap_or("");
                if is_system_identity(login) {
                    continue;
                }
                match service_logins(ctx, inst, index) {
                    Ok(list) if list.iter().any(|s| s.eq_ignore_ascii_case(login)) => continue,
                    Ok(_) => (
                        Severity::Warning,
                        format!(
                            "is owned by {login}, a personal Windows login (not the service account of any replica). \
                             Whoever ran the wizard becomes the owner: when that person leaves, {login} cannot be \
                             dropped (\"The server principal owns one or more endpoint(s) and cannot be dropped\", error \
                             15141), and disabling it or deleting the AD account leaves the AG's endpoint owned by a \
                             dead account"
                        ),
                    ),
                    Err(why) => {
                        run.skip(
                            inst.name(),
                            format!("the endpoint owner {login} may be a service account, but {why}"),
                        );
                        continue;
                    }
                }
            }
            Some(_) => continue,
        };
        let host = hosting(ctx, index);
        let target = target_of(inst, &host);
        let new_owner = principals
            .iter()
            .find(|p| p.int("principal_id") == Some(1))
            .and_then(|p| p.str("name"))
            .unwrap_or("sa");
        let on_endpoint: Vec<&Row> = permissions
            .iter()
            .filter(|p| crate::snapshot::domains::is_endpoint_permission(p) && endpoint_id.is_some() && p.int("major_id") == endpoint_id)
            .collect();
        let mut fixes = vec![sql_or_manual(
            target,
            Phase::EndpointOwner,
            statements::alter_endpoint_owner(name, new_owner),
            "transfer the endpoint to sa (ALTER AUTHORIZATION ON ENDPOINT::... TO [sa])",
            name,
        )];
        let mut regranted: Vec<String> = Vec::new();
        let mut not_restored: Vec<Value> = Vec::new();
        // A partner's service login that owns the endpoint connects by ownership, with no CONNECT
        // row of its own: once sa owns the endpoint it needs an explicit grant.
        if let Some(old_owner) = owner.and_then(|o| o.str("name"))
            && owner.and_then(|o| o.int("principal_id")) != Some(1)
            && service_logins(ctx, inst, index).is_ok_and(|list| list.iter().any(|s| s.eq_ignore_ascii_case(old_owner)))
        {
            fixes.push(sql_or_manual(
                target,
                Phase::GrantConnect,
                statements::grant_connect(name, old_owner),
                "grant CONNECT on the endpoint to the former owner, a partner's service login",
                old_owner,
            ));
            regranted.push(old_owner.to_string());
        }
        for p in &on_endpoint {
            let is_connect = p.is("type", "CO") || p.is("permission_name", "CONNECT");
            let with_grant = p.is("state", "W") || p.is("state_desc", "GRANT_WITH_GRANT_OPTION");
            let granted = with_grant || p.is("state", "G") || p.is("state_desc", "GRANT");
            let grantee_id = p.int("grantee_principal_id");
            if !(is_connect && granted) {
                not_restored.push(p.pick(PERMISSION_COLUMNS));
                continue;
            }
            if grantee_id == Some(1) {
                continue; // the new owner needs no grant (and cannot receive one)
            }
            let Some(grantee) = grantee_id
                .and_then(|id| principals.iter().find(|x| x.int("principal_id") == Some(id)))
                .and_then(|x| x.str("name"))
            else {
                fixes.push(FixStep::manual(
                    target,
                    Phase::GrantConnect,
                    format!(
                        "CONNECT was granted to principal_id {} on the endpoint, which is not in sys.server_principals; re-grant it to that login yourself.",
                        grantee_id.map_or("NULL".to_string(), |i| i.to_string())
                    ),
                ));
                continue;
            };
            let sql = if with_grant {
                statements::grant_connect_with_grant_option(name, grantee)
            } else {
                statements::grant_connect(name, grantee)
            };
            fixes.push(sql_or_manual(target, Phase::GrantConnect, sql, "re-grant CONNECT on the endpoint to that login", grantee));
            regranted.push(grantee.to_string());
        }
        if !not_restored.is_empty() {
            fixes.push(FixStep::manual(
                target,
                Phase::GrantConnect,
                "ALTER AUTHORIZATION also dropped the other permissions on the endpoint listed in this finding's \
                 evidence (not_restored); re-issue any you still need (a DENY of CONNECT is usually a mistake: see accounts.connect_denied)."
                    .to_string(),
            ));
        }
        let mut evidence = json!({
            "database_mirroring_endpoints": ep.pick(ENDPOINT_COLUMNS),
            "owner": owner.map(|o| o.pick(PRINCIPAL_COLUMNS)),
            "server_permissions": on_endpoint.iter().map(|p| p.pick(PERMISSION_COLUMNS)).collect::<Vec<_>>(),
        });
        if !not_restored.is_empty() {
            evidence["not_restored"] = json!(not_restored);
        }
        let regrant_text = if regranted.is_empty() {
            "No CONNECT grant exists on it to re-issue.".to_string()
        } else {
            format!("The fix re-grants CONNECT to {}.", regranted.join(", "))
        };
        scope(run.finding(severity, name), &host, target)
            .message(format!("The database mirroring endpoint [{name}] on {} {problem}.", inst.name()))
            .evidence(evidence)
            .remediation(format!(
                "Transfer the endpoint to {new_owner} (ALTER AUTHORIZATION ON ENDPOINT::[{name}] TO [{new_owner}]). \
                 ALTER AUTHORIZATION drops every permission granted on the endpoint, so re-grant CONNECT to each \
                 partner's service account immediately afterwards, in the same maintenance window. {regrant_text}"
            ))
            .fixes(fixes)
            .emit();
    }
}

// ---------------------------------------------------------------------------------------------
// Encryption and authentication
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Disabled,
    Supported,
    Required,
}

struct Encryption {
    mode: Mode,
    /// `AES` / `RC4` in preference order; empty when unknown or disabled.
    algorithms: Vec<&'static str>,
}

fn encryption(ep: &Row) -> Option<Encryption> {
    let desc: Option<String> = ep.code("encryption_algorithm_desc").map(str::to_ascii_uppercase).or_else(|| {
        let text = match ep.int("encryption_algorithm")? {
            0 => "NONE",
            1 => "RC4",
            2 => "AES",
            3 => "NONE, RC4",
            4 => "NONE, AES",
            5 => "RC4, AES",
            6 => "AES, RC4",
            7 => "NONE, RC4, AES",
            8 => "NONE, AES, RC4",
            _ => return None,
        };
        Some(text.to_string())
    });
    match desc {
        Some(d) => {
            let parts: Vec<&str> = d.split([',', ' ']).map(str::trim).filter(|p| !p.is_empty()).collect();
            let algorithms: Vec<&'static str> = parts
                .iter()
                .filter_map(|p| match *p {
                    "AES" => Some("AES"),
                    "RC4" => Some("RC4"),
                    _ => None,
                })
                .collect();
            let none = parts.contains(&"NONE");
            let mode = match (none, algorithms.is_empty()) {
                (true, true) => Mode::Disabled,
                (true, false) => Mode::Supported,
                (false, _) => Mode::Required,
            };
            Some(Encryption { mode, algorithms })
        }
        None => match ep.bit("is_encryption_enabled") {
            Some(false) => Some(Encryption { mode: Mode::Disabled, algorithms: vec![] }),
            _ => None,
        },
    }
}

fn encryption_text(ep: &Row) -> String {
    ep.str("encryption_algorithm_desc")
        .map(str::to_string)
        .or_else(|| ep.int("encryption_algorithm").map(|a| format!("encryption_algorithm {a}")))
        .unwrap_or_else(|| "unknown".into())
}

fn rc4(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
    for (index, inst) in ctx.instances().enumerate() {
        let Some(rows) = run.rows(inst, keys::DATABASE_MIRRORING_ENDPOINTS) else { continue };
        let Some(ep) = mirroring_endpoint(rows) else { continue };
        let Some(enc) = encryption(ep) else { continue };
        if !enc.algorithms.contains(&"RC4") {
            continue;
        }
        let host = hosting(ctx, index);
        let target = target_of(inst, &host);
        let name = endpoint_name(ep);
        let supported = enc.mode == Mode::Supported;
        let mode = if supported { "SUPPORTED" } else { "REQUIRED" };
        scope(run.finding(Severity::Warning, name), &host, target)
            .message(format!(
                "The database mirroring endpoint [{name}] on {} allows RC4 (encryption_algorithm_desc = {}). RC4 is \
                 deprecated and cryptographically weak; AES is the default since SQL Server 2016 and the wizard's \
                 setting. Change every replica's endpoint in the same window: endpoints left with no algorithm in \
                 common refuse each other (error 28027, State 22).",
                inst.name(),
                encryption_text(ep)
            ))
            .evidence(json!({ "database_mirroring_endpoints": ep.pick(ENDPOINT_COLUMNS) }))
            .remediation(format!(
                "ALTER ENDPOINT [{name}] FOR DATABASE_MIRRORING (ENCRYPTION = {mode} ALGORITHM AES) on {target}, and \
                 the same on every other replica of its availability groups that still uses RC4 only."
            ))
            .fix(sql_or_manual(
                target,
                Phase::AlterEndpoint,
                statements::alter_endpoint_encryption_aes(name, supported),
                "set ENCRYPTION = ... ALGORITHM AES on the endpoint",
                name,
            ))
            .emit();
    }
}

/// Every other replica's collected mirroring endpoint, for instances that share an AG with `index`.
fn partner_endpoints<'s>(ctx: &Ctx<'s>, index: usize) -> Vec<(&'s str, &'s Row)> {
    let mut out: Vec<(&'s str, &'s Row)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for ag in &ctx.topology.ags {
        if !ag.replicas.iter().any(|r| r.instance == Some(index)) {
            continue;
        }
        for r in &ag.replicas {
            let Some(i) = r.instance.filter(|i| *i != index) else { continue };
            let Ok(rows) = ctx.snapshot.instances[i].rows(keys::DATABASE_MIRRORING_ENDPOINTS) else { continue };
            if let Some(ep) = mirroring_endpoint(rows)
                && seen.insert(r.server_name.to_ascii_lowercase())
            {
                out.push((r.server_name, ep));
            }
        }
    }
    out
}

/// One side of a replica pair: its replica name and endpoint.
#[derive(Clone, Copy)]
struct Side<'s> {
    replica: &'s str,
    endpoint: &'s Row,
}

/// Every pair of replicas (of a non-distributed AG) whose endpoints are both in the snapshot, once
/// per pair of replica names, with the AGs they share. Replicas whose endpoint cannot be read are
/// recorded as not evaluated.
fn endpoint_pairs<'s>(ctx: &Ctx<'s>, run: &mut CheckRun<'_>) -> Vec<(Vec<&'s str>, Side<'s>, Side<'s>)> {
    let mut pairs: Vec<(Vec<&'s str>, Side<'s>, Side<'s>)> = Vec::new();
    endpoint_url::record_replica_rows(ctx, run);
    for ag in &ctx.topology.ags {
        if ag.row.bit("is_distributed") == Some(true) {
            continue;
        }
        let mut sides: Vec<Side<'s>> = Vec::new();
        for r in &ag.replicas {
            let Some(inst) = endpoint_url::replica_instance(ctx, r) else {
                run.skip(
                    &format!("{} ({})", r.server_name, ag.name),
                    format!("{}: its endpoint settings are unknown", endpoint_url::uncollected_reason(ctx, r.server_name)),
                );
                continue;
            };
            let Some(rows) = run.rows(inst, keys::DATABASE_MIRRORING_ENDPOINTS) else { continue };
            if let Some(ep) = mirroring_endpoint(rows) {
                sides.push(Side { replica: r.server_name, endpoint: ep });
            }
        }
        for i in 0..sides.len() {
            for j in i + 1..sides.len() {
                let (a, b) = (&sides[i], &sides[j]);
                let existing = pairs.iter_mut().find(|(_, x, y)| {
                    (x.replica.eq_ignore_ascii_case(a.replica) && y.replica.eq_ignore_ascii_case(b.replica))
                        || (x.replica.eq_ignore_ascii_case(b.replica) && y.replica.eq_ignore_ascii_case(a.replica))
                });
                match existing {
                    Some((ags, _, _)) => ags.push(ag.name),
                    None => pairs.push((vec![ag.name], *a, *b)),
                }
            }
        }
    }
    pairs
}

fn side_evidence(side: &Side<'_>) -> Value {
    json!({ "replica": side.replica, "database_mirroring_endpoints": side.endpoint.pick(ENDPOINT_COLUMNS) })
}

fn encryption_incompatible(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
    for (ags, a, b) in endpoint_pairs(ctx, run) {
        let (Some(ea), Some(eb)) = (encryption(a.endpoint), encryption(b.endpoint)) else { continue };
        let why = match (ea.mode, eb.mode) {
            (Mode::Disabled, Mode::Required) | (Mode::Required, Mode::Disabled) => {
                let (off, on) = if ea.mode == Mode::Disabled { (&a, &b) } else { (&b, &a) };
                format!(
                    "{}'s endpoint has encryption DISABLED while {}'s REQUIRES it",
                    off.replica, on.replica
                )
            }
            (Mode::Disabled, _) | (_, Mode::Disabled) => continue, // DISABLED + SUPPORTED: unencrypted, works
            _ => {
                if ea.algorithms.is_empty() || eb.algorithms.is_empty() || ea.algorithms.iter().any(|x| eb.algorithms.contains(x)) {
                    continue;
                }
                format!(
                    "{} offers only {} and {} only {}: they have no encryption algorithm in common",
                    a.replica,
                    ea.algorithms.join("/"),
                    b.replica,
                    eb.algorithms.join("/")
                )
            }
        };
        // Bring each side that cannot speak AES to AES: a DISABLED or REQUIRED side to the wizard
        // default REQUIRED AES, a SUPPORTED side to SUPPORTED AES (compatible with every other
        // setting, and the same statement endpoint.rc4 emits, so the script never sets the mode
        // twice). Repeated over every pair this converges on AES for the whole AG.
        let mut fixes = Vec::new();
        for (side, enc) in [(&a, &ea), (&b, &eb)] {
            if enc.mode == Mode::Disabled || !enc.algorithms.contains(&"AES") {
                let name = endpoint_name(side.endpoint);
                let supported = enc.mode == Mode::Supported;
                fixes.push(sql_or_manual(
                    side.replica,
                    Phase::AlterEndpoint,
                    statements::alter_endpoint_encryption_aes(name, supported),
                    if supported {
                        "set ENCRYPTION = SUPPORTED ALGORITHM AES on the endpoint"
                    } else {
                        "set ENCRYPTION = REQUIRED ALGORITHM AES on the endpoint"
                    },
                    name,
                ));
            }
        }
        // Attribute the finding to the side the fix changes (the odd one out), when there is one.
        let (changed, other) = match fixes.first() {
            Some(step) if step.target == a.replica => (a.replica, b.replica),
            _ => (b.replica, a.replica),
        };
        run.finding(Severity::Error, format!("{} <-> {}", a.replica, b.replica))
            .instance(changed)
            .ag(ags[0])
            .replica(other)
            .message(format!(
                "Replicas {} and {} (availability group {}) cannot agree on transport encryption: {why} ({}: {}; {}: \
                 {}). Every connection attempt between them fails the handshake with error 28027 (\"There is no \
                 compatible encryption algorithm. State 22.\"), so they stay DISCONNECTED.",
                a.replica,
                b.replica,
                ags.join(", "),
                a.replica,
                encryption_text(a.endpoint),
                b.replica,
                encryption_text(b.endpoint)
            ))
            .evidence(json!({ "availability_groups": ags, "endpoints": [side_evidence(&a), side_evidence(&b)] }))
            .remediation(
                "Give every replica's endpoint the same encryption setting; the wizard default and the recommendation is \
                 ENCRYPTION = REQUIRED ALGORITHM AES (ALTER ENDPOINT ... FOR DATABASE_MIRRORING (ENCRYPTION = REQUIRED \
                 ALGORITHM AES)). Altering an endpoint briefly interrupts that replica's AG traffic.",
            )
            .fixes(fixes)
            .emit();
    }
}

fn auth_text(ep: &Row) -> String {
    ep.str("connection_auth_desc")
        .map(str::to_string)
        .or_else(|| ep.int("connection_auth").map(|a| format!("connection_auth {a}")))
        .unwrap_or_else(|| "unknown".into())
}

fn auth_incompatible(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
    let windows_only = |x: Auth| x.windows && !x.cert;
    let cert_only = |x: Auth| x.cert && !x.windows;
    for (ags, a, b) in endpoint_pairs(ctx, run) {
        let (xa, xb) = (endpoint_facts::auth(a.endpoint), endpoint_facts::auth(b.endpoint));
        let (win, cert) = if windows_only(xa) && cert_only(xb) {
            (&a, &b)
        } else if cert_only(xa) && windows_only(xb) {
            (&b, &a)
        } else {
            continue;
        };
        let (win_ep, cert_ep) = (endpoint_name(win.endpoint), endpoint_name(cert.endpoint));
        run.finding(Severity::Error, format!("{} <-> {}", a.replica, b.replica))
            .instance(cert.replica)
            .ag(ags[0])
            .replica(win.replica)
            .message(format!(
                "{}'s endpoint [{win_ep}] accepts Windows authentication only ({}) while {}'s endpoint [{cert_ep}] \
                 accepts CERTIFICATE only ({}). Neither can authenticate to the other, so replicas {} and {} \
                 (availability group {}) stay DISCONNECTED and joining fails with 35250.",
                win.replica,
                auth_text(win.endpoint),
                cert.replica,
                auth_text(cert.endpoint),
                a.replica,
                b.replica,
                ags.join(", ")
            ))
            .evidence(json!({ "availability_groups": ags, "endpoints": [side_evidence(&a), side_evidence(&b)] }))
            .remediation(format!(
                "Use one method on every replica. Either set up certificate authentication on {} as well (master key, \
                 certificate, the partners' certificates and logins, AUTHENTICATION = CERTIFICATE ...), or let {} accept \
                 Windows authentication too (AUTHENTICATION = CERTIFICATE <its certificate> WINDOWS NEGOTIATE) when all \
                 replicas are in trusting domains.",
                win.replica, cert.replica
            ))
            .fixes([
                FixStep::manual(
                    cert.replica,
                    Phase::AlterEndpoint,
                    format!(
                        "If the replicas share a domain, let the certificate endpoint accept Windows authentication as well:\n\
                         SELECT name FROM master.sys.certificates WHERE certificate_id = {};  -- the endpoint's certificate\n\
                         ALTER ENDPOINT {} FOR DATABASE_MIRRORING (AUTHENTICATION = CERTIFICATE <that certificate> WINDOWS NEGOTIATE);",
                        cert.endpoint.int("certificate_id").unwrap_or(0),
                        tsql::ident(cert_ep).unwrap_or_else(|| "<endpoint>".into())
                    ),
                ),
                FixStep::manual(
                    win.replica,
                    Phase::AlterEndpoint,
                    format!(
                        "Otherwise configure certificates here too (\"Use Certificates for a Database Mirroring Endpoint\"): \
                         CREATE MASTER KEY; CREATE CERTIFICATE <host_cert>; exchange certificates with every partner; \
                         ALTER ENDPOINT {} FOR DATABASE_MIRRORING (AUTHENTICATION = WINDOWS NEGOTIATE CERTIFICATE <host_cert>);  -- keeps Windows authentication for the other partners",
                        tsql::ident(win_ep).unwrap_or_else(|| "<endpoint>".into())
                    ),
                ),
            ])
            .emit();
    }
}
