//! Would failover work now: the cluster's own login on each replica, whether the primary's
//! automatic-failover partner is ready to take over, and the group's failover policy.
//!
//! Seed: "Flexible automatic failover policy for an availability group" (failure_condition_level,
//! health_check_timeout, db_failover), "Failover and failover modes" (automatic failover needs a
//! synchronous-commit, SYNCHRONIZED partner: sys.dm_hadr_database_replica_cluster_states.
//! is_failover_ready), and KB 2847723 (the cluster's health checks run as NT AUTHORITY\SYSTEM, which
//! needs ALTER ANY AVAILABILITY GROUP, CONNECT SQL and VIEW SERVER STATE).

use std::collections::HashMap;

use serde_json::{Value, json};

use super::session::{is_disconnected, is_sync_commit, state_with_source};
use super::{Check, CheckInfo, CheckRun, Ctx};
use crate::findings::{Category, FixStep, Phase, Severity};
use crate::fix::{statements, tsql};
use crate::snapshot::domains::is_server_permission;
use crate::snapshot::{Instance, Row, keys};
use crate::topology::{AgView, ReplicaView, guid};

const SEED_POLICY: &str = "flexible-automatic-failover-policy: failure_condition_level, health_check_timeout, db_failover";
const SEED_MODES: &str = "failover-and-failover-modes: automatic failover conditions";

/// The well-known SID of LocalSystem (S-1-5-18), the same on every Windows language
/// (NT AUTHORITY\SYSTEM, NT-AUTORITÄT\SYSTEM, AUTORITE NT\Système ...).
pub const SYSTEM_SID: &str = "0x010100000000000512000000";

/// (type code in sys.server_permissions, permission_name) the cluster's login needs.
const SYSTEM_PERMISSIONS: &[(&str, &str)] =
    &[("ALAG", "ALTER ANY AVAILABILITY GROUP"), ("COSQ", "CONNECT SQL"), ("VSST", "VIEW SERVER STATE")];

const DEFAULT_FAILURE_CONDITION_LEVEL: i64 = 3;
const DEFAULT_HEALTH_CHECK_TIMEOUT: i64 = 30_000;

pub const CHECKS: &[Check] = &[
    Check {
        info: CheckInfo {
            id: "failover.system_account",
            category: Category::Failover,
            title: "NT AUTHORITY\\SYSTEM cannot check health or fail over",
            description: "On an availability group managed by a Windows Server Failover Cluster, the cluster's SQL Server resource DLL connects as NT AUTHORITY\\SYSTEM (matched by its well-known SID 0x010100000000000512000000, so localized names such as NT-AUTORITÄT\\SYSTEM count) to run sp_server_diagnostics and to bring the group online or fail it over. It needs a login that is enabled and holds ALTER ANY AVAILABILITY GROUP, CONNECT SQL and VIEW SERVER STATE (sys.server_permissions class 100 rows ALAG, COSQ, VSST). Without them health checks fail and failover does not happen.",
            needs: &[keys::SERVER_PRINCIPALS, keys::SERVER_PERMISSIONS, keys::AVAILABILITY_GROUPS],
            related_errors: &[41131, 18456, 19407],
            seed: "failover-and-failover-modes: the cluster's health detection (NT AUTHORITY\\SYSTEM permissions)",
        },
        run: system_account,
    },
    Check {
        info: CheckInfo {
            id: "failover.not_ready",
            category: Category::Failover,
            title: "Automatic failover would not happen if the primary failed now",
            description: "The primary's automatic-failover partner would not take over now: a database on it is not is_failover_ready (sys.dm_hadr_database_replica_cluster_states) or not SYNCHRONIZED, it is disconnected, it runs in asynchronous commit, or the primary's and partner's availability and failover modes do not pair (both need SYNCHRONOUS_COMMIT and FAILOVER_MODE = AUTOMATIC). The group then stays down (RESOLVING) when the primary fails, until someone fails it over by hand, possibly with data loss.",
            needs: &[keys::AVAILABILITY_REPLICAS, keys::DM_HADR_DATABASE_REPLICA_STATES, keys::DM_HADR_DATABASE_REPLICA_CLUSTER_STATES],
            related_errors: &[41142, 35250, 19407],
            seed: SEED_MODES,
        },
        run: not_ready,
    },
    Check {
        info: CheckInfo {
            id: "failover.policy",
            category: Category::Failover,
            title: "Availability group failover policy differs from the defaults",
            description: "sys.availability_groups: failure_condition_level (default 3: fail over when the server is down, unresponsive or reports a critical SYSTEM error), health_check_timeout (default 30000 ms before an unresponsive instance counts as failed) and db_failover (default OFF: a database that goes offline or suspect does not fail the group over). Information about what each non-default choice means: how sensitive automatic failover is, and what it reacts to.",
            needs: &[keys::AVAILABILITY_GROUPS],
            related_errors: &[],
            seed: SEED_POLICY,
        },
        run: policy,
    },
];

fn is_cluster_type_none(ag: &Row) -> bool {
    match (ag.code("cluster_type_desc"), ag.int("cluster_type")) {
        (Some(desc), _) => desc.eq_ignore_ascii_case("NONE"),
        (None, Some(code)) => code == 2,
        (None, None) => false,
    }
}

/// The instance's login for LocalSystem: by SID where `sid` is present, else by English name.
pub fn system_login(principals: &[Row]) -> Option<&Row> {
    principals
        .iter()
        .find(|p| p.str("sid").is_some_and(|s| s.trim().eq_ignore_ascii_case(SYSTEM_SID)))
        .or_else(|| {
            principals
                .iter()
                .find(|p| p.str("name").is_some_and(|n| n.eq_ignore_ascii_case("NT AUTHORITY\\SYSTEM")))
        })
}

fn system_account(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
    // Only WSFC AGs have cluster health detection: an instance whose AGs are all EXTERNAL or NONE
    // is judged (nothing to check) from its availability_groups rows.
    for inst in ctx.instances() {
        let _ = run.rows(inst, keys::AVAILABILITY_GROUPS);
    }
    // Every instance that hosts a replica of a WSFC availability group, once.
    let mut seen: Vec<usize> = Vec::new();
    for ag in ctx.topology.ags.iter().filter(|a| a.is_wsfc()) {
        for replica in &ag.replicas {
            let Some(index) = replica.instance else { continue };
            if seen.contains(&index) {
                continue;
            }
            seen.push(index);
            let inst = &ctx.snapshot.instances[index];
            check_system_login(run, inst, replica.server_name, ag.name);
        }
    }
}

fn check_system_login(run: &mut CheckRun<'_>, inst: &Instance, target: &str, ag: &str) {
    let Some(principals) = run.rows(inst, keys::SERVER_PRINCIPALS) else { return };
    let Some(permissions) = run.rows(inst, keys::SERVER_PERMISSIONS) else { return };
    if !permissions.iter().any(is_server_permission) {
        // Every login holds CONNECT SQL: no class-100 row at all means the collector kept only
        // endpoint rows (AgDiag before server-level permissions were collected).
        run.skip(
            inst.name(),
            "server_permissions holds no server-level (class 100) rows: collected by an older AgDiag that kept only endpoint permissions",
        );
        return;
    }
    let login = system_login(principals);
    let name = login.and_then(|l| l.str("name")).unwrap_or("NT AUTHORITY\\SYSTEM").to_string();
    let mut problems: Vec<String> = Vec::new();
    let mut fixes: Vec<FixStep> = Vec::new();
    let mut evidence = json!({ "server_principals": login.map(|l| l.pick(&["principal_id", "name", "sid", "type", "type_desc", "is_disabled"])) });
    let manual = |what: &str| FixStep::manual(target, Phase::ServerPermissions, what.to_string());
    match login {
        None => {
            problems.push(format!("has no login for NT AUTHORITY\\SYSTEM (SID {SYSTEM_SID})"));
            fixes.push(
                statements::create_windows_login("NT AUTHORITY\\SYSTEM")
                    .map(|sql| FixStep::sql(target, Phase::CreateLogin, sql))
                    .unwrap_or_else(|| manual("CREATE LOGIN [NT AUTHORITY\\SYSTEM] FROM WINDOWS;")),
            );
            for (_, permission) in SYSTEM_PERMISSIONS {
                fixes.push(grant(target, permission, &name));
            }
        }
        Some(l) => {
            if l.bit("is_disabled") == Some(true) {
                problems.push(format!("has the login {name} disabled"));
                fixes.push(
                    statements::enable_login(&name)
                        .map(|sql| FixStep::sql(target, Phase::EnableLogin, sql))
                        .unwrap_or_else(|| manual("ALTER LOGIN ... ENABLE for the LocalSystem login")),
                );
            }
            let id = l.int("principal_id");
            let own: Vec<&Row> = permissions
                .iter()
                .filter(|p| is_server_permission(p) && id.is_some() && p.int("grantee_principal_id") == id)
                .collect();
            evidence["server_permissions"] = json!(own
                .iter()
                .map(|p| p.pick(&["class", "class_desc", "grantee_principal_id", "type", "permission_name", "state", "state_desc"]))
                .collect::<Vec<_>>());
            let has = |code: &str, wanted: &str| -> (bool, bool) {
                let matches = |p: &&&Row| {
                    p.code("type").is_some_and(|t| t.eq_ignore_ascii_case(code))
                        || p.code("permission_name").is_some_and(|n| n.eq_ignore_ascii_case(wanted))
                };
                let denied = own.iter().filter(matches).any(|p| p.is("state", "D") || p.is("state_desc", "DENY"));
                let granted = own.iter().filter(matches).any(|p| {
                    p.is("state", "G") || p.is("state", "W") || p.is("state_desc", "GRANT") || p.is("state_desc", "GRANT_WITH_GRANT_OPTION")
                });
                (granted, denied)
            };
            let (control, _) = has("CL", "CONTROL SERVER");
            let mut missing = Vec::new();
            for (code, permission) in SYSTEM_PERMISSIONS {
                let (granted, denied) = has(code, permission);
                if denied {
                    problems.push(format!("denies {permission} to {name}"));
                    fixes.push(
                        tsql::ident(&name)
                            .map(|i| FixStep::sql(target, Phase::ServerPermissions, format!("REVOKE {permission} FROM {i};")))
                            .unwrap_or_else(|| manual("REVOKE the DENY from the LocalSystem login")),
                    );
                    fixes.push(grant(target, permission, &name));
                } else if !granted && !control {
                    missing.push(*permission);
                    fixes.push(grant(target, permission, &name));
                }
            }
            if !missing.is_empty() {
                problems.push(format!(
                    "does not grant {} to {name} (unless it is a member of sysadmin: server role membership is not in the snapshot)",
                    missing.join(", ")
                ));
            }
        }
    }
    if problems.is_empty() {
        return;
    }
    run.finding(Severity::Error, name.clone())
        .instance(inst.name())
        .ag(ag)
        .replica(target)
        .message(format!(
            "{} {}. The Windows Server Failover Cluster connects to SQL Server as NT AUTHORITY\\SYSTEM to run the \
             health check (sp_server_diagnostics) and to bring availability group {ag} online or fail it over: \
             without a usable login and ALTER ANY AVAILABILITY GROUP, CONNECT SQL and VIEW SERVER STATE, health checks \
             fail (error 41131, login failures 18456 in the error log) and the group is not failed over to or from \
             this replica.",
            inst.name(),
            problems.join("; it ")
        ))
        .evidence(evidence)
        .remediation(format!(
            "On {target}: CREATE LOGIN [NT AUTHORITY\\SYSTEM] FROM WINDOWS (on a localized Windows use its local name, \
             e.g. [NT-AUTORITÄT\\SYSTEM]) if it is missing, enable it, and GRANT ALTER ANY AVAILABILITY GROUP, CONNECT SQL, \
             VIEW SERVER STATE TO it."
        ))
        .fixes(fixes)
        .emit();
}

fn grant(target: &str, permission: &str, login: &str) -> FixStep {
    match tsql::ident(login) {
        Some(i) => FixStep::sql(target, Phase::ServerPermissions, format!("GRANT {permission} TO {i};")),
        None => FixStep::manual(target, Phase::ServerPermissions, format!("GRANT {permission} TO the LocalSystem login")),
    }
}

fn is_automatic(replica: &Row) -> bool {
    match replica.code("failover_mode_desc") {
        Some(desc) => desc.eq_ignore_ascii_case("AUTOMATIC"),
        None => replica.int("failover_mode") == Some(0),
    }
}

fn modes(replica: &Row) -> String {
    format!(
        "{} / FAILOVER_MODE {}",
        replica.code("availability_mode_desc").unwrap_or(if is_sync_commit(replica) { "SYNCHRONOUS_COMMIT" } else { "ASYNCHRONOUS_COMMIT" }),
        replica.code("failover_mode_desc").unwrap_or(if is_automatic(replica) { "AUTOMATIC" } else { "MANUAL" })
    )
}

/// The database name for a state row (availability_databases_cluster, else database_id).
fn database_label(ctx: &Ctx<'_>, row: &Row) -> String {
    if let Some(name) = row.str("database_name") {
        return name.to_string();
    }
    let id = guid(row, "group_database_id");
    let name = ctx
        .instances()
        .flat_map(|i| i.rows_or_empty(keys::AVAILABILITY_DATABASES_CLUSTER).iter())
        .find(|d| id.is_some() && guid(d, "group_database_id") == id)
        .and_then(|d| d.str("database_name"));
    match (name, row.int("database_id")) {
        (Some(n), _) => n.to_string(),
        (None, Some(id)) => format!("database_id {id}"),
        (None, None) => "a database".to_string(),
    }
}

/// Why `partner` would not take over now, with the rows that show it.
/// The cluster's view of each database replica (`dm_hadr_database_replica_cluster_states`) by
/// replica id: the same on every replica, so the primary's rows, else any instance's. Built once
/// per AG, so that judging every partner stays linear in the rows.
fn cluster_states_by_replica<'s>(ctx: &Ctx<'s>, run: &mut CheckRun<'_>, primary: &'s Instance) -> HashMap<String, Vec<&'s Row>> {
    let rows: &[Row] = match primary.rows(keys::DM_HADR_DATABASE_REPLICA_CLUSTER_STATES) {
        Ok(rows) => rows,
        Err(why) => match ctx.instances().find_map(|i| i.rows(keys::DM_HADR_DATABASE_REPLICA_CLUSTER_STATES).ok()) {
            Some(rows) => rows,
            None => {
                run.skip(primary.name(), why);
                &[]
            }
        },
    };
    let mut by_replica: HashMap<String, Vec<&Row>> = HashMap::new();
    for row in rows {
        if let Some(id) = guid(row, "replica_id") {
            by_replica.entry(id).or_default().push(row);
        }
    }
    by_replica
}

fn not_ready_reasons(
    ctx: &Ctx<'_>,
    run: &mut CheckRun<'_>,
    ag: &AgView<'_>,
    (primary_index, primary): (usize, &Instance),
    cluster_states: &HashMap<String, Vec<&Row>>,
    partner: &ReplicaView<'_>,
) -> (Vec<String>, Vec<Value>) {
    let mut reasons = Vec::new();
    let mut evidence = Vec::new();
    if !is_sync_commit(partner.row) {
        reasons.push(format!("{} is in asynchronous commit (automatic failover needs SYNCHRONOUS_COMMIT)", partner.server_name));
    }
    if let Some((_, state)) = state_with_source(ctx, ag, partner)
        && is_disconnected(state)
    {
        reasons.push(format!("{} is DISCONNECTED from the primary", partner.server_name));
        evidence.push(json!({"dm_hadr_availability_replica_states": state.pick(&["replica_id", "role_desc", "connected_state_desc", "synchronization_health_desc"])}));
    }
    if run.rows(primary, keys::DM_HADR_DATABASE_REPLICA_STATES).is_some() {
        for row in ctx.topology.database_states(primary_index, &partner.replica_id) {
            let state = row.code("synchronization_state_desc").unwrap_or("?");
            if !state.eq_ignore_ascii_case("SYNCHRONIZED") {
                reasons.push(format!("database {} on {} is {state}, not SYNCHRONIZED", database_label(ctx, row), partner.server_name));
                evidence.push(json!({"dm_hadr_database_replica_states": row.pick(&["replica_id", "group_database_id", "database_id", "synchronization_state_desc", "is_suspended", "suspend_reason_desc"])}));
            }
        }
    }
    for row in cluster_states.get(&partner.replica_id).map_or(&[][..], Vec::as_slice) {
        let db = row.str("database_name").map(str::to_string).unwrap_or_else(|| database_label(ctx, row));
        if row.bit("is_database_joined") == Some(false) {
            reasons.push(format!("database {db} is not joined on {}", partner.server_name));
            evidence.push(json!({"dm_hadr_database_replica_cluster_states": row.to_value()}));
        } else if row.bit("is_failover_ready") == Some(false) {
            let already = reasons.iter().any(|r| r.starts_with(&format!("database {db} on ")));
            if !already {
                reasons.push(format!("database {db} on {} is not failover ready (is_failover_ready = 0)", partner.server_name));
            }
            evidence.push(json!({"dm_hadr_database_replica_cluster_states": row.to_value()}));
        }
    }
    (reasons, evidence)
}

fn not_ready(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
    for ag in &ctx.topology.ags {
        if is_cluster_type_none(ag.row) || ag.is_distributed() {
            // CLUSTER_TYPE = NONE has no automatic failover at all, and a distributed AG fails over
            // only manually (its member AGs are judged as AGs): judged from the AG's own row.
            let _ = run.rows(&ctx.snapshot.instances[ag.source], keys::AVAILABILITY_GROUPS);
            continue;
        }
        let Some(primary_name) = ag.primary.as_deref() else {
            run.skip(ag.name, "no collected instance reports which replica is primary");
            continue;
        };
        let Some(primary_replica) = ag.replicas.iter().find(|r| r.server_name.eq_ignore_ascii_case(primary_name)) else { continue };
        let Some(primary_index) = ctx.topology.instance_index(primary_name) else {
            run.skip(primary_name, "the primary was not collected: the state of its partners is only visible there");
            continue;
        };
        let primary = &ctx.snapshot.instances[primary_index];
        let partners: Vec<&ReplicaView<'_>> = ag
            .replicas
            .iter()
            .filter(|r| !std::ptr::eq(*r, primary_replica) && is_automatic(r.row))
            .collect();
        let primary_auto = is_automatic(primary_replica.row) && is_sync_commit(primary_replica.row);
        let _ = run.rows(primary, keys::AVAILABILITY_REPLICAS);
        if partners.is_empty() && !is_automatic(primary_replica.row) {
            continue; // manual failover by design
        }
        let lead = format!("If the primary {primary_name} failed now, automatic failover of availability group {} would not happen, because", ag.name);
        let replicas_evidence: Vec<Value> = ag
            .replicas
            .iter()
            .map(|r| r.row.pick(&["replica_server_name", "availability_mode_desc", "failover_mode_desc", "availability_mode", "failover_mode"]))
            .collect();
        if partners.is_empty() {
            run.finding(Severity::Error, ag.name)
                .instance(primary.name())
                .ag(ag.name)
                .replica(primary_name)
                .message(format!(
                    "{lead} no secondary replica is set to FAILOVER_MODE = AUTOMATIC: the primary is ({}) but has no partner to fail over to.",
                    modes(primary_replica.row)
                ))
                .evidence(json!({ "availability_replicas": replicas_evidence }))
                .remediation("Set one synchronous-commit secondary to FAILOVER_MODE = AUTOMATIC (ALTER AVAILABILITY GROUP ... MODIFY REPLICA ON N'<replica>' WITH (FAILOVER_MODE = AUTOMATIC)), or the primary to MANUAL if manual failover is intended.")
                .emit();
            continue;
        }
        if !primary_auto {
            let mut fixes = Vec::new();
            if !is_sync_commit(primary_replica.row) {
                fixes.push(step(primary_name, ag.name, primary_name, "AVAILABILITY_MODE = SYNCHRONOUS_COMMIT"));
            }
            if !is_automatic(primary_replica.row) {
                fixes.push(step(primary_name, ag.name, primary_name, "FAILOVER_MODE = AUTOMATIC"));
            }
            run.finding(Severity::Error, ag.name)
                .instance(primary.name())
                .ag(ag.name)
                .replica(primary_name)
                .title("Availability and failover modes of the primary and its partner do not pair")
                .message(format!(
                    "{lead} the modes do not pair: the primary {primary_name} is {} while its partner(s) {} are set to \
                     automatic failover. Automatic failover needs both the primary and the target in SYNCHRONOUS_COMMIT \
                     with FAILOVER_MODE = AUTOMATIC.",
                    modes(primary_replica.row),
                    partners.iter().map(|p| format!("{} ({})", p.server_name, modes(p.row))).collect::<Vec<_>>().join(", ")
                ))
                .evidence(json!({ "availability_replicas": replicas_evidence }))
                .remediation(format!(
                    "Set the primary {primary_name} to SYNCHRONOUS_COMMIT and FAILOVER_MODE = AUTOMATIC (below, on the \
                     primary), so that whichever of the pair is primary can fail over to the other."
                ))
                .fixes(fixes)
                .emit();
            continue;
        }
        let mut not_ready = Vec::new();
        let mut ready = Vec::new();
        let cluster_states = cluster_states_by_replica(ctx, run, primary);
        for partner in &partners {
            let (reasons, evidence) = not_ready_reasons(ctx, run, ag, (primary_index, primary), &cluster_states, partner);
            if reasons.is_empty() {
                ready.push(partner.server_name);
            } else {
                not_ready.push((partner, reasons, evidence));
            }
        }
        for (partner, reasons, evidence) in not_ready {
            let (severity, message) = if ready.is_empty() {
                (Severity::Error, format!("{lead} {}.", reasons.join("; ")))
            } else {
                (
                    Severity::Warning,
                    format!(
                        "Automatic failover to {} would not happen now, because {} ({} would take over instead).",
                        partner.server_name,
                        reasons.join("; "),
                        ready.join(", ")
                    ),
                )
            };
            run.finding(severity, partner.server_name)
                .instance(primary.name())
                .ag(ag.name)
                .replica(partner.server_name)
                .message(message)
                .evidence(json!({ "availability_replicas": replicas_evidence, "partner": partner.server_name, "not_ready": evidence }))
                .remediation(
                    "Bring the partner's databases to SYNCHRONIZED (health.synchronization, health.suspended), reconnect it \
                     (session.replica_disconnected), and keep it in SYNCHRONOUS_COMMIT. Until then, a failure of the primary \
                     leaves the group RESOLVING until someone fails it over by hand, possibly with data loss.",
                )
                .emit();
        }
    }
}

fn step(target: &str, ag: &str, replica: &str, option: &str) -> FixStep {
    match statements::modify_replica(ag, replica, option) {
        Some(sql) => FixStep::sql(target, Phase::ReplicaOptions, sql),
        None => FixStep::manual(target, Phase::ReplicaOptions, format!("ALTER AVAILABILITY GROUP ... MODIFY REPLICA ... WITH ({option})")),
    }
}

/// What each failure_condition_level means (sys.availability_groups; CREATE AVAILABILITY GROUP).
fn level_meaning(level: i64) -> &'static str {
    match level {
        1 => "fail over only when the SQL Server service is down or the lease expires (least sensitive)",
        2 => "also when the instance does not answer the health check within health_check_timeout",
        3 => "also on critical SQL Server errors (SYSTEM component: orphaned spinlocks, serious write access violations, too many dumps) — the default",
        4 => "also on moderate errors (RESOURCE component: persistent out-of-memory)",
        5 => "on any qualified failure, including QUERY_PROCESSING errors (worker thread exhaustion, unresolvable deadlocks): the most sensitive",
        _ => "an unknown level",
    }
}

fn policy(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
    for ag in &ctx.topology.ags {
        let source = &ctx.snapshot.instances[ag.source];
        let _ = run.rows(source, keys::AVAILABILITY_GROUPS);
        if is_cluster_type_none(ag.row) || ag.is_distributed() {
            // No cluster health detection drives these: NONE has no automatic failover, and a
            // distributed AG fails over manually (its member AGs carry their own policy).
            continue;
        }
        let level = ag.row.int("failure_condition_level");
        let timeout = ag.row.int("health_check_timeout");
        let db_failover = ag.row.bit("db_failover");
        let mut notes = Vec::new();
        if let Some(l) = level.filter(|l| *l != DEFAULT_FAILURE_CONDITION_LEVEL) {
            notes.push(format!(
                "failure_condition_level is {l} (default {DEFAULT_FAILURE_CONDITION_LEVEL}): {}",
                level_meaning(l)
            ));
        }
        if let Some(t) = timeout.filter(|t| *t != DEFAULT_HEALTH_CHECK_TIMEOUT) {
            let effect = if t < DEFAULT_HEALTH_CHECK_TIMEOUT {
                "a busy but healthy instance is declared failed sooner: faster failover, more unnecessary failovers"
            } else {
                "a hung instance is declared failed later: fewer false failovers, longer outages before failover"
            };
            notes.push(format!("health_check_timeout is {t} ms (default {DEFAULT_HEALTH_CHECK_TIMEOUT}): {effect}"));
        }
        if db_failover == Some(true) {
            notes.push(
                "db_failover is ON (default OFF): a database that is no longer ONLINE (suspect, offline, recovery pending) \
                 fails the whole group over, not only an instance-level failure"
                    .to_string(),
            );
        }
        if notes.is_empty() {
            continue;
        }
        run.finding(Severity::Info, ag.name)
            .instance(source.name())
            .ag(ag.name)
            .message(format!("Availability group {} has a non-default failover policy: {}.", ag.name, notes.join("; ")))
            .evidence(json!({ "availability_groups": ag.row.pick(&["name", "failure_condition_level", "health_check_timeout", "db_failover", "cluster_type_desc"]) }))
            .remediation(
                "Nothing to fix if the choice is deliberate. The defaults (FAILURE_CONDITION_LEVEL = 3, HEALTH_CHECK_TIMEOUT = \
                 30000, DB_FAILOVER = OFF) suit most groups; change them with ALTER AVAILABILITY GROUP ... SET (...).",
            )
            .emit();
    }
}
