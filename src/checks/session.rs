//! Seed: "Possible Failures During Sessions Between Availability Replicas"
//! (session-failures-between-replicas.md), and step 3 of "Join Database Fails (35250)"
//! (troubleshoot-ag-configuration.md: query `last_connect_error_number`).
//!
//! Replicas ping each other; a replica that hears nothing for `session_timeout` seconds declares a
//! soft error and the partner becomes DISCONNECTED. Other components report hard errors directly.
//! A disconnected synchronous-commit replica no longer holds up commits, so it silently stops being
//! a safe failover target.

use serde_json::json;

use super::{Check, CheckInfo, CheckRun, Ctx};
use crate::findings::{Category, FixStep, Phase, Severity};
use crate::fix::{statements, tsql};
use crate::snapshot::{Instance, Row, keys};
use crate::topology::{AgView, ReplicaView, guid};

/// Below this the docs warn of false failure detection; 10 s is the default and the minimum
/// recommended value (the engine accepts 5).
const MIN_RECOMMENDED_SESSION_TIMEOUT: i64 = 10;

const SEED_SESSION: &str = "session-failures-between-replicas: The Session-Timeout Mechanism";

pub const CHECKS: &[Check] = &[
    Check {
        info: CheckInfo {
            id: "session.timeout_too_short",
            category: Category::Session,
            title: "Replica session timeout below the recommended 10 seconds",
            description: "sys.availability_replicas.session_timeout is below 10 seconds. A replica that misses pings for that long is declared DISCONNECTED (a soft error); under CPU, disk or network pressure a short timeout disconnects healthy replicas and, for synchronous-commit replicas, drops them out of the commit path. 10 seconds is the default and the minimum recommended value.",
            needs: &[keys::AVAILABILITY_REPLICAS],
            related_errors: &[35206, 35201],
            seed: SEED_SESSION,
        },
        run: timeout_too_short,
    },
    Check {
        info: CheckInfo {
            id: "session.replica_disconnected",
            category: Category::Session,
            title: "Availability replica is disconnected",
            description: "sys.dm_hadr_availability_replica_states.connected_state_desc is DISCONNECTED: the primary and this replica have no working session. The last connect error (number, description, time) is surfaced and classified as the seed does: a hard error reported by another component (DNS, refused connection, login or certificate failure — persists until its cause is fixed) or a soft error found by the session timeout (timeouts, dropped packets, an overloaded or hung server). A disconnected synchronous-commit replica is escalated: commits no longer wait for it, so failing over to it can lose data.",
            needs: &[keys::DM_HADR_AVAILABILITY_REPLICA_STATES, keys::AVAILABILITY_REPLICAS],
            related_errors: &[35201, 35206, 1418, 35250, 28034],
            seed: "session-failures-between-replicas: Failures Due to Hard Errors; Failures Due to Soft Errors; troubleshoot-ag-configuration: Join Database Fails (35250) step 3",
        },
        run: replica_disconnected,
    },
    Check {
        info: CheckInfo {
            id: "session.server_renamed",
            category: Category::Session,
            title: "Windows server was renamed under SQL Server",
            description: "SERVERPROPERTY('ServerName') (built from the current Windows computer name) differs from @@SERVERNAME (the name SQL Server registered at setup or with sp_addserver), or the instance's local availability replica is recorded under a name that is neither: the Windows server was renamed. Availability groups keep the old replica name, endpoint URL and cluster node name, so partners looking for the old name reach nothing (a hard error); renaming a computer that hosts a replica is not supported without removing the replica first.",
            needs: &[keys::SERVER_PROPERTIES, keys::DM_HADR_AVAILABILITY_REPLICA_STATES, keys::AVAILABILITY_REPLICAS],
            related_errors: &[1418, 35201],
            seed: "session-failures-between-replicas: Failures Due to Hard Errors (a Windows-based server is renamed)",
        },
        run: server_renamed,
    },
];

/// The `dm_hadr_availability_replica_states` row for a replica and the instance that reported it:
/// the primary's row when the primary was collected (it sees every replica), else the replica's
/// own local row.
pub(super) fn state_with_source<'s>(
    ctx: &Ctx<'s>,
    ag: &AgView<'s>,
    replica: &ReplicaView<'s>,
) -> Option<(&'s Instance, &'s Row)> {
    let topology = &ctx.topology;
    let find = |i: usize| {
        let inst: &'s Instance = &ctx.snapshot.instances[i];
        topology.replica_state(i, &replica.replica_id).map(|row| (inst, row))
    };
    if ag.is_distributed() {
        // The replicas are AGs, named like no instance: the global primary (whose local row of the
        // distributed AG is PRIMARY) sees every member; the forwarder sees its own member's row.
        let states = |inst: &'s Instance| inst.rows_or_empty(keys::DM_HADR_AVAILABILITY_REPLICA_STATES);
        let in_group = |r: &Row| guid(r, "group_id").as_deref() == Some(ag.group_id.as_str());
        let local = |r: &Row| r.bit("is_local") == Some(true);
        let connected = || ctx.snapshot.instances.iter().enumerate().filter(|(_, inst)| inst.connected);
        let global_primary =
            connected().find(|(_, inst)| states(inst).iter().any(|r| in_group(r) && local(r) && r.is("role_desc", "PRIMARY")));
        return global_primary.and_then(|(i, _)| find(i)).or_else(|| {
            connected().find_map(|(i, _)| find(i).filter(|(_, row)| local(row)))
        });
    }
    let from_primary = ag.primary.as_deref().and_then(|p| topology.instance_index(p)).and_then(find);
    from_primary.or_else(|| topology.instance_index(replica.server_name).and_then(find))
}

/// True when a replica-state row says DISCONNECTED (desc, or the code when only it was collected).
pub(super) fn is_disconnected(state: &Row) -> bool {
    match state.code("connected_state_desc") {
        Some(desc) => desc.eq_ignore_ascii_case("DISCONNECTED"),
        None => state.int("connected_state") == Some(0),
    }
}

pub(super) fn is_sync_commit(replica: &Row) -> bool {
    match replica.code("availability_mode_desc") {
        Some(desc) => desc.eq_ignore_ascii_case("SYNCHRONOUS_COMMIT"),
        None => replica.int("availability_mode") == Some(1),
    }
}

/// Records, per instance, whether `key` could be read (for the check's pass/not-evaluated status).
fn note_coverage(ctx: &Ctx<'_>, run: &mut CheckRun<'_>, key: &'static str) {
    for inst in ctx.instances() {
        let _ = run.rows(inst, key);
    }
}

fn timeout_too_short(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
    note_coverage(ctx, run, keys::AVAILABILITY_REPLICAS);
    // A distributed AG's members take no SESSION_TIMEOUT (MODIFY AVAILABILITY GROUP ON sets only
    // LISTENER_URL and the modes), and its "primary" is an AG, not a server to connect to.
    for ag in ctx.topology.ags.iter().filter(|ag| !ag.is_distributed()) {
        for replica in &ag.replicas {
            let Some(timeout) = replica.row.int("session_timeout") else { continue };
            if timeout >= MIN_RECOMMENDED_SESSION_TIMEOUT {
                continue;
            }
            let name = replica.server_name;
            let reporter = ctx.snapshot.instances[ag.source].name();
            let primary = ag.primary.as_deref();
            let option = format!("SESSION_TIMEOUT = {MIN_RECOMMENDED_SESSION_TIMEOUT}");
            // ALTER AVAILABILITY GROUP ... MODIFY REPLICA runs on the primary only.
            let fix = match (primary, statements::modify_replica(ag.name, name, &option)) {
                (Some(p), Some(sql)) => FixStep::sql(p, Phase::ReplicaOptions, sql),
                (p, sql) => FixStep::manual(
                    p.unwrap_or(reporter),
                    Phase::ReplicaOptions,
                    format!(
                        "On the primary replica of this availability group, set {option} for replica {name}{}.",
                        match (p, sql) {
                            (None, _) => " (the primary could not be determined from the snapshot)",
                            _ => " (the availability group or replica name cannot be written safely into a script)",
                        }
                    ),
                ),
            };
            let sync_note = if is_sync_commit(replica.row) {
                " Because it is a synchronous-commit replica, each false disconnect also takes it out of the commit path until it resynchronizes, and automatic failover to it is not possible meanwhile."
            } else {
                ""
            };
            run.finding(Severity::Warning, name)
                .instance(primary.unwrap_or(reporter))
                .ag(ag.name)
                .replica(name)
                .message(format!(
                    "Replica {name} of availability group {} has SESSION_TIMEOUT = {timeout} seconds, below the \
                     recommended minimum of {MIN_RECOMMENDED_SESSION_TIMEOUT}. A replica that misses pings for that \
                     long is declared DISCONNECTED (a soft error), so a short burst of CPU, disk or network pressure \
                     disconnects a healthy replica.{sync_note}",
                    ag.name
                ))
                .evidence(json!({
                    "availability_replicas": replica.row.pick(&["replica_server_name", "availability_mode_desc", "failover_mode_desc", "session_timeout"]),
                    "reported_by": reporter,
                    "recommended_minimum": MIN_RECOMMENDED_SESSION_TIMEOUT,
                }))
                .remediation(format!(
                    "On the primary, raise the replica's session timeout to at least {MIN_RECOMMENDED_SESSION_TIMEOUT} \
                     seconds. If it was lowered to detect failures faster, use the availability group's \
                     HEALTH_CHECK_TIMEOUT and FAILURE_CONDITION_LEVEL instead: session timeouts never cause \
                     automatic failover."
                ))
                .fix(fix)
                .emit();
        }
    }
}

/// How the seed classifies the failure behind a disconnect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// Reported by another component (network stack, DNS, security): it persists until its cause is fixed.
    Hard,
    /// Found by the session-timeout mechanism: no ping within `session_timeout`.
    Soft,
    /// No error recorded, or one AgDiag does not know.
    Unknown,
}

impl FailureKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Hard => "hard",
            FailureKind::Soft => "soft",
            FailureKind::Unknown => "unclassified",
        }
    }
}

/// What a last connect error means, and which checks find its cause.
pub struct Classification {
    pub kind: FailureKind,
    pub meaning: &'static str,
    pub see_checks: &'static [&'static str],
}

const SEE_NAME: &[&str] = &["network.name_resolution", "endpoint_url.wrong_host", "endpoint_url.malformed", "endpoint_url.netbios"];
const SEE_REFUSED: &[&str] = &[
    "endpoint.missing",
    "endpoint.not_started",
    "endpoint.not_listening",
    "endpoint.port_mismatch",
    "network.port_bound_elsewhere",
    "errorlog.port_in_use",
];
const SEE_UNREACHABLE: &[&str] = &["network.unreachable", "endpoint_url.wrong_host", "endpoint.not_listening"];
const SEE_LOGIN: &[&str] = &[
    "accounts.login_missing",
    "accounts.login_disabled",
    "accounts.connect_denied",
    "accounts.connect_missing",
    "errorlog.connect_permission",
];
const SEE_CERT: &[&str] = &["accounts.certificate_required", "endpoint.auth_incompatible", "errorlog.certificate"];
const SEE_ENCRYPTION: &[&str] = &["endpoint.encryption_incompatible", "endpoint.rc4", "errorlog.encryption_mismatch"];
const SEE_TIMEOUT: &[&str] = &["network.unreachable", "endpoint_url.wrong_host", "session.timeout_too_short", "errorlog.ag_errors"];
const SEE_ALL: &[&str] = &["endpoint.not_started", "accounts.connect_missing", "network.unreachable", "network.name_resolution", "errorlog.ag_errors"];

/// Classifies `last_connect_error_number` / `_description` following the seed: hard errors are
/// reported by another component (DNS failure, refused connection, broken connection, login or
/// certificate failure, endpoint reconfiguration); soft errors are timeouts found by pinging
/// (TCP time-outs, dropped packets, an overloaded or hung server).
pub fn classify(number: Option<i64>, description: Option<&str>) -> Classification {
    let text = description.unwrap_or("").to_ascii_lowercase();
    let has = |needle: &str| text.contains(needle);
    let hard = |meaning, see_checks| Classification { kind: FailureKind::Hard, meaning, see_checks };
    let soft = |meaning, see_checks| Classification { kind: FailureKind::Soft, meaning, see_checks };
    match number {
        Some(11001 | 11004) => hard("the replica's host name could not be resolved (DNS)", SEE_NAME),
        Some(10061) => hard("the connection was refused: nothing accepts connections on the port in the endpoint URL: the endpoint is stopped or missing, listens on another port, or another process owns the port", SEE_REFUSED),
        Some(10051 | 10065) => hard("no network route to the replica's host", SEE_UNREACHABLE),
        Some(10054) => hard("the connection was reset by the partner (broken connection, endpoint restarted or reconfigured, firewall change)", SEE_REFUSED),
        Some(28034 | 18456) => hard("the partner's service account was refused by the endpoint (login missing, disabled or without CONNECT)", SEE_LOGIN),
        Some(28035 | 28036 | 28045 | 28080) => hard("certificate or endpoint authentication failure in the handshake", SEE_CERT),
        Some(28027 | 28031) => hard("the endpoints share no encryption algorithm", SEE_ENCRYPTION),
        Some(1418) => hard("the server network address in the endpoint URL cannot be reached or does not exist", SEE_NAME),
        Some(10060 | 121 | 35201 | 35206) => soft("the connection attempt or session timed out", SEE_TIMEOUT),
        _ if has("dns") || has("no such host") => hard("the replica's host name could not be resolved (DNS)", SEE_NAME),
        _ if has("refused") => hard("the connection was refused: nothing accepts connections on the port in the endpoint URL", SEE_REFUSED),
        _ if has("certificate") => hard("certificate failure in the endpoint handshake", SEE_CERT),
        _ if has("connect permission") || has("login") => hard("the partner's service account was refused by the endpoint", SEE_LOGIN),
        _ if has("encryption") || has("algorithm") => hard("the endpoints share no encryption algorithm", SEE_ENCRYPTION),
        _ if has("timeout") || has("timed out") || has("time-out") => soft("the connection attempt or session timed out", SEE_TIMEOUT),
        _ => Classification {
            kind: FailureKind::Unknown,
            meaning: if number.is_none() { "no connect error was recorded" } else { "an error AgDiag does not classify" },
            see_checks: SEE_ALL,
        },
    }
}

fn replica_disconnected(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
    note_coverage(ctx, run, keys::DM_HADR_AVAILABILITY_REPLICA_STATES);
    // A distributed AG's disconnected member AG is `distributed.disconnected`'s finding.
    for ag in ctx.topology.ags.iter().filter(|ag| !ag.is_distributed()) {
        for replica in &ag.replicas {
            let Some((reporter, state)) = state_with_source(ctx, ag, replica) else { continue };
            if !is_disconnected(state) {
                continue;
            }
            let name = replica.server_name;
            let reporter_name = reporter.name();
            let number = state.int("last_connect_error_number");
            let description = state.str("last_connect_error_description");
            let when = state.str("last_connect_error_timestamp");
            let class = classify(number, description);
            let sync = is_sync_commit(replica.row);
            let is_primary = ag.primary.as_deref().is_some_and(|p| p.eq_ignore_ascii_case(name));
            let vantage = if reporter.is_named(name) {
                if is_primary {
                    format!("{name} (the primary) reports its own replica as disconnected")
                } else {
                    format!("{name} reports that it is not connected to the primary")
                }
            } else {
                format!("the primary {reporter_name} reports replica {name} as DISCONNECTED")
            };
            let last_error = match number {
                Some(n) => format!(
                    "The last connect error was {n}{}{}: a {} error ({}).",
                    description.map(|d| format!(" \"{d}\"")).unwrap_or_default(),
                    when.map(|t| format!(" at {t}")).unwrap_or_default(),
                    class.kind.as_str(),
                    class.meaning
                ),
                None => "No last connect error is recorded (the session may have timed out, or the replica has not tried to connect since its restart).".to_string(),
            };
            let kind_note = match class.kind {
                FailureKind::Hard => "A hard error is reported to SQL Server by another component (the network, the partner), not found by the session timeout; the replica retries and stays DISCONNECTED until the cause is fixed.",
                FailureKind::Soft => "A soft error means no ping arrived within the session timeout: a network time-out, dropped packets, or an overloaded or hung server. If it persists, treat it as a network or firewall problem.",
                FailureKind::Unknown => "",
            };
            let (severity, escalation) = if sync && !is_primary {
                (
                    Severity::Error,
                    "It is a SYNCHRONOUS_COMMIT replica: while disconnected, commits on the primary no longer wait for it, so its databases fall behind and failing over to it can lose data; automatic failover to it is not possible.",
                )
            } else if is_primary {
                (Severity::Error, "The secondary cannot receive log from the primary until the session is restored.")
            } else {
                (Severity::Warning, "It is an asynchronous-commit replica: its copy of the data falls further behind until the session is restored.")
            };
            let see = class.see_checks.join(", ");
            run.finding(severity, name)
                .instance(reporter_name)
                .ag(ag.name)
                .replica(name)
                .message(
                    [
                        format!("In availability group {}, {vantage}.", ag.name),
                        last_error,
                        kind_note.to_string(),
                        escalation.to_string(),
                        "Its synchronization health (NOT_HEALTHY) is a consequence of the disconnect.".to_string(),
                        format!("Checks that diagnose the cause: {see}."),
                    ]
                    .iter()
                    .filter(|part| !part.is_empty())
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(" "),
                )
                .evidence(json!({
                    "dm_hadr_availability_replica_states": state.pick(&[
                        "replica_id", "role_desc", "connected_state_desc", "synchronization_health_desc",
                        "last_connect_error_number", "last_connect_error_description", "last_connect_error_timestamp",
                    ]),
                    "availability_replicas": replica.row.pick(&["replica_server_name", "endpoint_url", "availability_mode_desc", "failover_mode_desc", "session_timeout"]),
                    "reported_by": reporter_name,
                    "error_class": class.kind.as_str(),
                    "see_checks": class.see_checks,
                }))
                .remediation(format!(
                    "Fix the cause the last connect error points to ({}), then confirm on the primary that \
                     connected_state_desc returns to CONNECTED. Look at the findings of: {see}. Check the error log \
                     of both replicas around the time of the error (35201/35206 time-outs, 28034 handshake \
                     failures, 1418). If nothing explains it (both endpoints STARTED and listening, logins with \
                     CONNECT, the port open), stop and restart the database mirroring endpoint on both replicas: \
                     ALTER ENDPOINT [<name>] STATE = STOPPED, then STATE = STARTED.",
                    class.meaning
                ))
                .emit();
        }
    }
}

/// The instance's own replicas: its `is_local` replica-state rows joined to its `availability_replicas`
/// (optional evidence: an instance without them simply has none). A distributed AG's local row
/// names the member availability group this instance is primary of, not the instance: it is no
/// replica of the instance and never a sign of a rename.
fn local_replicas<'s>(ctx: &Ctx<'_>, inst: &'s Instance) -> Vec<&'s Row> {
    let local: Vec<String> = inst
        .rows_or_empty(keys::DM_HADR_AVAILABILITY_REPLICA_STATES)
        .iter()
        .filter(|state| state.bit("is_local") == Some(true))
        .filter(|state| !state.str("group_id").is_some_and(|g| ctx.topology.is_distributed_group(g)))
        .filter_map(|state| guid(state, "replica_id"))
        .collect();
    if local.is_empty() {
        return Vec::new();
    }
    // The instance's replica rows by id (the first row of each id, as a scan would find it).
    let mut by_id: std::collections::HashMap<String, &Row> = std::collections::HashMap::new();
    for r in inst.rows_or_empty(keys::AVAILABILITY_REPLICAS) {
        if let Some(id) = guid(r, "replica_id") {
            by_id.entry(id).or_insert(r);
        }
    }
    local.iter().filter_map(|id| by_id.get(id).copied()).collect()
}

fn server_renamed(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
    for inst in ctx.instances() {
        let Some(rows) = run.rows(inst, keys::SERVER_PROPERTIES) else { continue };
        let Some(props) = rows.first() else { continue };
        let current = props.str("ServerName").map(str::trim).filter(|n| !n.is_empty());
        let registered = props.str("@@SERVERNAME").map(str::trim).filter(|n| !n.is_empty());
        let same = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
        let names_differ = matches!((current, registered), (Some(c), Some(r)) if !same(c, r));
        let local = local_replicas(ctx, inst);
        let stale: Vec<&Row> = local
            .iter()
            .copied()
            .filter(|r| {
                r.str("replica_server_name").is_some_and(|n| {
                    !current.is_some_and(|c| same(c, n)) && !registered.is_some_and(|g| same(g, n))
                })
            })
            .collect();
        if !names_differ && stale.is_empty() {
            continue;
        }
        let name = inst.name();
        // The name the availability groups know this instance by.
        let old = stale
            .first()
            .and_then(|r| r.str("replica_server_name"))
            .or(if names_differ { registered } else { None })
            .unwrap_or(name);
        let new = current.unwrap_or(name);
        let ag_of = |replica: &Row| {
            guid(replica, "group_id").and_then(|group| ctx.topology.ag(&group))
        };
        let hosted: Vec<&Row> = if local.is_empty() {
            // No local state rows: fall back to the replicas the merged picture matched to this instance.
            ctx.topology
                .ags
                .iter()
                .filter(|ag| !ag.is_distributed())
                .flat_map(|ag| ag.replicas.iter())
                .filter(|r| r.instance.is_some_and(|i| std::ptr::eq(&ctx.snapshot.instances[i], inst)))
                .map(|r| r.row)
                .collect()
        } else {
            local.clone()
        };
        let ag_names: Vec<&str> = hosted.iter().filter_map(|r| ag_of(r).map(|ag| ag.name)).collect();
        let severity = if hosted.is_empty() { Severity::Warning } else { Severity::Error };
        let what = if names_differ {
            format!(
                "SERVERPROPERTY('ServerName') is {new} (the Windows computer name now) but @@SERVERNAME is still {}",
                registered.unwrap_or("?")
            )
        } else {
            format!("the instance is now named {new}, but its local availability replica is still recorded as {old}")
        };
        let consequence = if hosted.is_empty() {
            " It hosts no availability replica yet; fix the name before creating one, or the AG records the old name."
                .to_string()
        } else {
            format!(
                " It hosts a replica of availability group(s) {}: the AG, its endpoint URL and the cluster still know \
                 the replica as {old}, so partners that look for {old} reach nothing (a hard error: error 1418, \
                 connection timeouts 35201) and management by the new name fails.",
                if ag_names.is_empty() { "?".to_string() } else { ag_names.join(", ") }
            )
        };
        // Removal and re-adding run on each AG's primary; the rename itself on this instance.
        let mut steps: Vec<FixStep> = Vec::new();
        let mut re_add: Vec<FixStep> = Vec::new();
        for replica in &hosted {
            let (Some(ag), Some(replica_name)) = (ag_of(replica), replica.str("replica_server_name")) else { continue };
            let primary = ag.primary.as_deref().unwrap_or(ag.name);
            let remove = match tsql::ident(ag.name) {
                Some(ag_ident) => format!("ALTER AVAILABILITY GROUP {ag_ident} REMOVE REPLICA ON {};", tsql::literal(replica_name)),
                None => "ALTER AVAILABILITY GROUP <ag> REMOVE REPLICA ON N'<replica>';".to_string(),
            };
            steps.push(FixStep::manual(
                primary,
                Phase::Prerequisite,
                format!("On the primary of {}, remove the renamed host's replica first: {remove}", tsql::comment(ag.name)),
            ));
            re_add.push(FixStep::manual(
                primary,
                Phase::Prerequisite,
                format!(
                    "After the rename is complete and the cluster knows the node by its new name, add the replica back \
                     as {} with an ENDPOINT_URL naming the new host (ALTER AVAILABILITY GROUP ... ADD REPLICA ON ...), \
                     then join its databases. Or rename the computer back to {}.",
                    tsql::literal(new),
                    tsql::comment(old)
                ),
            ));
        }
        if names_differ {
            steps.push(FixStep::manual(
                name,
                Phase::Prerequisite,
                format!(
                    "EXEC sp_dropserver {}; EXEC sp_addserver {}, 'local'; then restart the SQL Server service.",
                    tsql::literal(registered.unwrap_or(old)),
                    tsql::literal(new)
                ),
            ));
        }
        steps.extend(re_add);
        let mut draft = run.finding(severity, name).instance(name);
        if let Some(first) = ag_names.first() {
            draft = draft.ag(*first).replica(old);
        }
        draft
            .message(format!("On {name}, {what}: the Windows server was renamed under SQL Server.{consequence}"))
            .evidence(json!({
                "server_properties": props.pick(&["ServerName", "@@SERVERNAME", "MachineName", "ComputerNamePhysicalNetBIOS", "InstanceName"]),
                "availability_replicas": hosted.iter().map(|r| r.pick(&["group_id", "replica_id", "replica_server_name", "endpoint_url"])).collect::<Vec<_>>(),
            }))
            .remediation(
                "Renaming a computer that hosts an availability replica is not supported in place. Remove the replica \
                 from its availability group, update SQL Server's own name (sp_dropserver the old name, sp_addserver the \
                 new one as 'local', restart), then add the replica back under the new name with an endpoint URL that \
                 names the new host. Alternatively rename the computer back.",
            )
            .fixes(steps)
            .emit();
    }
}
