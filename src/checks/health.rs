//! Seed: "Join Database Fails (35250)" step 3 (troubleshoot-ag-configuration.md) and "Responding to
//! an Error" (session-failures-between-replicas.md): once replicas are configured, are they
//! actually moving data, healthy, and backed by a cluster with quorum?
//!
//! Database and replica states are read from the primary when it was collected (it sees every
//! replica), else from each replica's own local rows. A replica that is DISCONNECTED is reported by
//! `session.replica_disconnected`; its NOT_HEALTHY state and NOT SYNCHRONIZING databases are
//! consequences and are not reported again here.

use serde_json::json;

use super::hadr::only_non_wsfc_ags;
use super::session::{is_disconnected, is_sync_commit, state_with_source};
use super::{Check, CheckInfo, CheckRun, Ctx};
use crate::findings::{Category, FixStep, Phase, Severity};
use crate::fix::tsql;
use crate::snapshot::{Instance, Row, domains, keys};
use crate::topology::{AgView, ReplicaView, guid};

const SEED_HEALTH: &str = "troubleshoot-ag-configuration: Join Database Fails (35250) step 3 (check the replica states); session-failures-between-replicas: Responding to an Error";

pub const CHECKS: &[Check] = &[
    Check {
        info: CheckInfo {
            id: "health.synchronization",
            category: Category::Health,
            title: "Database replica is not in its expected synchronization state",
            description: "sys.dm_hadr_database_replica_states: a database on a synchronous-commit secondary should be SYNCHRONIZED and on an asynchronous-commit secondary SYNCHRONIZING. NOT SYNCHRONIZING means no data movement; a synchronous replica that is only SYNCHRONIZING is catching up and is not a safe automatic-failover target. Suspended databases and disconnected replicas are reported by health.suspended and session.replica_disconnected.",
            needs: &[keys::DM_HADR_DATABASE_REPLICA_STATES, keys::AVAILABILITY_REPLICAS],
            related_errors: &[35250, 41142],
            seed: SEED_HEALTH,
        },
        run: synchronization,
    },
    Check {
        info: CheckInfo {
            id: "health.suspended",
            category: Category::Health,
            title: "Data movement is suspended for a database replica",
            description: "sys.dm_hadr_database_replica_states.is_suspended = 1: no log is sent to or applied on this database replica, the primary's log cannot be truncated past it, and it cannot take over without data loss. suspend_reason_desc says whether a user suspended it or the engine did after an error (redo, log apply, undo, restart, revalidation): for the latter, fix the cause in the error log before resuming.",
            needs: &[keys::DM_HADR_DATABASE_REPLICA_STATES, keys::AVAILABILITY_REPLICAS],
            related_errors: &[35264, 35265, 976],
            seed: SEED_HEALTH,
        },
        run: suspended,
    },
    Check {
        info: CheckInfo {
            id: "health.replica_not_healthy",
            category: Category::Health,
            title: "Availability replica or group is not healthy",
            description: "sys.dm_hadr_availability_replica_states / sys.dm_hadr_availability_group_states: synchronization_health_desc NOT_HEALTHY or PARTIALLY_HEALTHY, operational_state_desc FAILED, FAILED_NO_QUORUM, OFFLINE or PENDING, or recovery still ONLINE_IN_PROGRESS. A replica that is DISCONNECTED is reported once, by session.replica_disconnected.",
            needs: &[keys::DM_HADR_AVAILABILITY_REPLICA_STATES, keys::DM_HADR_AVAILABILITY_GROUP_STATES],
            related_errors: &[35250, 41131, 19407],
            seed: SEED_HEALTH,
        },
        run: replica_not_healthy,
    },
    Check {
        info: CheckInfo {
            id: "health.quorum",
            category: Category::Health,
            title: "Windows cluster quorum is not normal",
            description: "sys.dm_hadr_cluster.quorum_state_desc is not NORMAL_QUORUM. FORCED_QUORUM means the cluster was started without a majority (ForceQuorum / /fq): availability groups may have been brought online with possible data loss and automatic failover is not protected until normal quorum returns. UNKNOWN_QUORUM_STATE means the node cannot tell.",
            needs: &[keys::DM_HADR_CLUSTER],
            related_errors: &[19407, 35220],
            seed: "troubleshoot-ag-configuration: Always On Availability Groups Is Not Enabled (cluster prerequisites); Related Content (cluster logs)",
        },
        run: quorum,
    },
    Check {
        info: CheckInfo {
            id: "health.cluster_member_down",
            category: Category::Health,
            title: "Windows cluster member is down",
            description: "sys.dm_hadr_cluster_members.member_state_desc is DOWN for a node or witness. The cluster keeps quorum only while more than half of the votes are up; the finding is an error when the remaining votes are no longer a majority or one more failure would lose quorum.",
            needs: &[keys::DM_HADR_CLUSTER_MEMBERS],
            related_errors: &[19407, 35220],
            seed: "troubleshoot-ag-configuration: Related Content (View Events and Logs for a Failover Cluster)",
        },
        run: cluster_member_down,
    },
];

fn note_coverage(ctx: &Ctx<'_>, run: &mut CheckRun<'_>, key: &'static str) {
    for inst in ctx.instances() {
        let _ = run.rows(inst, key);
    }
}

/// One database replica's state row, the instance that reported it and the replica it belongs to.
struct DbState<'s, 'a> {
    reporter: &'s Instance,
    row: &'s Row,
    replica: &'a ReplicaView<'s>,
    /// The primary database's own row: `is_primary_replica` (SQL Server 2014 and later), else the
    /// row of the AG's current primary replica (SQL Server 2012 has no such column).
    primary: bool,
    /// The instance that holds this database replica (the `:Connect` target of a fix): the replica
    /// itself, or for a distributed AG the primary of the member AG (global primary or forwarder).
    host: &'s str,
}

/// Every database replica state of `ag`: from the primary when it reported the replica's rows,
/// else from the replica's own instance (its local rows).
fn database_states<'s, 'a>(ctx: &Ctx<'s>, ag: &'a AgView<'s>) -> Vec<DbState<'s, 'a>> {
    if ag.is_distributed() {
        return distributed_database_states(ctx, ag);
    }
    let topology = &ctx.topology;
    let primary = ag.primary.as_deref().and_then(|p| topology.instance_index(p));
    let mut out = Vec::new();
    for replica in &ag.replicas {
        let from_primary = primary.map(|p| (p, topology.database_states(p, &replica.replica_id)));
        let chosen: Option<(usize, Vec<&'s Row>)> = match from_primary {
            Some((p, rows)) if !rows.is_empty() => Some((p, rows)),
            _ => topology.instance_index(replica.server_name).map(|own| {
                let local = topology.database_states(own, &replica.replica_id).into_iter().filter(|r| r.bit("is_local") == Some(true));
                (own, local.collect())
            }),
        };
        if let Some((reporter, rows)) = chosen {
            let reporter = &ctx.snapshot.instances[reporter];
            let is_primary_replica = ag.primary.as_deref().is_some_and(|p| p.eq_ignore_ascii_case(replica.server_name));
            out.extend(rows.into_iter().map(|row| DbState {
                reporter,
                row,
                replica,
                primary: row.bit("is_primary_replica").unwrap_or(is_primary_replica),
                host: replica.server_name,
            }));
        }
    }
    out
}

/// A distributed AG's database states: its replicas are AGs, so the rows are on the instance
/// whose local row of the distributed AG is PRIMARY (the global primary sees every member) or on
/// the member's own primary (the forwarder, its local rows).
fn distributed_database_states<'s, 'a>(ctx: &Ctx<'s>, ag: &'a AgView<'s>) -> Vec<DbState<'s, 'a>> {
    let states = |inst: &'s Instance| inst.rows_or_empty(keys::DM_HADR_AVAILABILITY_REPLICA_STATES);
    let local_row = |inst: &'s Instance, replica_id: &str| {
        states(inst).iter().any(|r| guid(r, "replica_id").as_deref() == Some(replica_id) && r.bit("is_local") == Some(true))
    };
    let connected = || ctx.instances().filter(|i| i.connected);
    let global_primary = connected().find(|i| {
        states(i).iter().any(|r| {
            guid(r, "group_id").as_deref() == Some(ag.group_id.as_str())
                && r.bit("is_local") == Some(true)
                && r.is("role_desc", "PRIMARY")
        })
    });
    let rows_of = |inst: &'s Instance, replica_id: &str, local_only: bool| -> Vec<&'s Row> {
        inst.rows_or_empty(keys::DM_HADR_DATABASE_REPLICA_STATES)
            .iter()
            .filter(|r| guid(r, "replica_id").as_deref() == Some(replica_id))
            .filter(|r| !local_only || r.bit("is_local") == Some(true))
            .collect()
    };
    let mut out = Vec::new();
    for replica in &ag.replicas {
        let own = connected().find(|i| local_row(i, &replica.replica_id));
        let host = own.map(|i| i.name()).unwrap_or(replica.server_name);
        let chosen = match global_primary.map(|p| (p, rows_of(p, &replica.replica_id, false))) {
            Some((p, rows)) if !rows.is_empty() => Some((p, rows)),
            _ => own.map(|o| (o, rows_of(o, &replica.replica_id, true))),
        };
        if let Some((reporter, rows)) = chosen {
            out.extend(rows.into_iter().map(|row| DbState {
                reporter,
                row,
                replica,
                // Distributed AGs are SQL Server 2016 and later, which always report the column.
                primary: row.bit("is_primary_replica") == Some(true),
                host,
            }));
        }
    }
    out
}

/// The database's name from `availability_databases_cluster` (same on every replica), if collected.
fn database_name<'s>(ctx: &Ctx<'s>, row: &Row) -> Option<&'s str> {
    ctx.topology.database_name(row.str("group_database_id")?)
}

fn database_label(ctx: &Ctx<'_>, row: &Row) -> String {
    match (database_name(ctx, row), row.int("database_id")) {
        (Some(name), _) => name.to_string(),
        (None, Some(id)) => format!("database_id {id}"),
        (None, None) => "an availability database".to_string(),
    }
}

const STATE_COLUMNS: &[&str] = &[
    "database_id",
    "group_database_id",
    "is_local",
    "is_primary_replica",
    "synchronization_state_desc",
    "synchronization_health_desc",
    "database_state_desc",
    "is_suspended",
    "suspend_reason_desc",
    "log_send_queue_size",
    "log_send_rate",
    "redo_queue_size",
    "redo_rate",
    "secondary_lag_seconds",
    "last_commit_time",
];

fn replica_is_disconnected(ctx: &Ctx<'_>, ag: &AgView<'_>, replica: &ReplicaView<'_>) -> bool {
    state_with_source(ctx, ag, replica).is_some_and(|(_, state)| is_disconnected(state))
}

/// True when the database replica's state is what its availability mode should give.
fn synchronization_as_expected(sync_commit: bool, state: &str) -> bool {
    if sync_commit {
        state.eq_ignore_ascii_case("SYNCHRONIZED")
    } else {
        state.eq_ignore_ascii_case("SYNCHRONIZING") || state.eq_ignore_ascii_case("SYNCHRONIZED")
    }
}

fn queue_text(row: &Row) -> String {
    let mut parts = Vec::new();
    if let Some(kb) = row.int("log_send_queue_size") {
        parts.push(format!("log send queue {kb} KB"));
    }
    if let Some(kb) = row.int("redo_queue_size") {
        parts.push(format!("redo queue {kb} KB"));
    }
    if let Some(s) = row.int("secondary_lag_seconds") {
        parts.push(format!("lag {s} s"));
    }
    if parts.is_empty() { String::new() } else { format!(" ({})", parts.join(", ")) }
}

fn synchronization(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
    note_coverage(ctx, run, keys::DM_HADR_DATABASE_REPLICA_STATES);
    for ag in &ctx.topology.ags {
        for db in database_states(ctx, ag) {
            // The primary database's own row mirrors its secondaries; suspended rows and
            // disconnected replicas have their own checks.
            if db.primary || db.row.bit("is_suspended") == Some(true) {
                continue;
            }
            let Some(state) = db.row.code("synchronization_state_desc") else { continue };
            let sync = is_sync_commit(db.replica.row);
            if synchronization_as_expected(sync, state) || replica_is_disconnected(ctx, ag, db.replica) {
                continue;
            }
            let replica = db.replica.server_name;
            let database = database_label(ctx, db.row);
            let expected = if sync { "SYNCHRONIZED" } else { "SYNCHRONIZING" };
            let mode = if sync { "synchronous-commit" } else { "asynchronous-commit" };
            let (severity, consequence) = if state.eq_ignore_ascii_case("NOT SYNCHRONIZING") {
                (
                    Severity::Error,
                    "No log is being applied: the secondary copy falls further behind, and the primary cannot truncate its log past it.",
                )
            } else if sync && state.eq_ignore_ascii_case("SYNCHRONIZING") {
                (
                    Severity::Warning,
                    "It is catching up: commits still wait for it, but until it is SYNCHRONIZED automatic failover to it is not possible and a forced failover would lose data.",
                )
            } else {
                (
                    Severity::Warning,
                    "The database is in a transitional state (after a failover or while joining) and is not protected until it finishes.",
                )
            };
            run.finding(severity, format!("{replica}/{database}"))
                .instance(db.reporter.name())
                .ag(ag.name)
                .replica(replica)
                .message(format!(
                    "Database {database} on {mode} replica {replica} (availability group {}) is {state}, expected \
                     {expected}{}. {consequence}",
                    ag.name,
                    queue_text(db.row)
                ))
                .evidence(json!({
                    "dm_hadr_database_replica_states": db.row.pick(STATE_COLUMNS),
                    "availability_mode_desc": db.replica.row.get("availability_mode_desc"),
                    "expected_state": expected,
                    "reported_by": db.reporter.name(),
                }))
                .remediation(
                    "Check the error log of both replicas for redo or log-apply errors, the replica's connection \
                     state, and disk space and I/O on the secondary. A database that stays NOT SYNCHRONIZING while \
                     connected may need to be re-joined (ALTER DATABASE ... SET HADR AVAILABILITY GROUP) or reseeded.",
                )
                .emit();
        }
    }
}

/// What each `suspend_reason_desc` means, from sys.dm_hadr_database_replica_states.
fn suspend_reason_meaning(reason: Option<&str>) -> &'static str {
    match reason.map(str::to_ascii_uppercase).as_deref() {
        Some("SUSPEND_FROM_USER") => "a user suspended data movement (ALTER DATABASE ... SET HADR SUSPEND)",
        Some("SUSPEND_FROM_PARTNER") => "the database replica was suspended after a forced failover",
        Some("SUSPEND_FROM_REDO") => "an error occurred during redo on the secondary; see its error log",
        Some("SUSPEND_FROM_APPLY") => "an error occurred writing log to the secondary's log file; see its error log",
        Some("SUSPEND_FROM_CAPTURE") => "an error occurred capturing log on the primary; see its error log",
        Some("SUSPEND_FROM_RESTART") => "the database replica was suspended before the database restarted; see the error log",
        Some("SUSPEND_FROM_UNDO") => "an error occurred during undo; see the error log",
        Some("SUSPEND_FROM_REVALIDATION") => "a log mismatch was detected on reconnection; see the error log",
        Some("SUSPEND_FROM_XRF_UPDATE") => "the common log point could not be found; see the error log",
        Some(_) => "the engine suspended it; see the error log",
        None => "no reason was reported",
    }
}

/// `ALTER DATABASE ... SET HADR RESUME` for the suspended database replica on the instance hosting it,
/// guarded so it runs only while that local database replica is still suspended.
fn resume_step(target: &str, name: Option<&str>, row: &Row) -> FixStep {
    if let Some(db) = name.and_then(|n| tsql::ident(n).map(|ident| (n, ident))) {
        let (plain, ident) = db;
        return FixStep::sql(
            target,
            Phase::DataMovement,
            format!(
                "IF EXISTS (SELECT 1 FROM sys.dm_hadr_database_replica_states WHERE is_local = 1 AND is_suspended = 1 AND database_id = DB_ID({})) ALTER DATABASE {ident} SET HADR RESUME;",
                tsql::literal(plain)
            ),
        );
    }
    // Without a usable name, find the local database by its group_database_id (the same on every
    // replica); only a well-formed GUID is written into the script.
    match guid(row, "group_database_id").filter(|g| g.len() == 36 && g.chars().all(|c| c.is_ascii_hexdigit() || c == '-')) {
        Some(id) => FixStep::sql(
            target,
            Phase::DataMovement,
            format!(
                "DECLARE @db sysname = (SELECT DB_NAME(database_id) FROM sys.dm_hadr_database_replica_states WHERE is_local = 1 AND is_suspended = 1 AND group_database_id = '{id}');\n\
                 DECLARE @resume nvarchar(max) = N'ALTER DATABASE ' + QUOTENAME(@db) + N' SET HADR RESUME;';\n\
                 IF @db IS NOT NULL EXEC (@resume);"
            ),
        ),
        None => FixStep::manual(
            target,
            Phase::DataMovement,
            "Resume data movement for the suspended availability database on this instance: ALTER DATABASE <database> SET HADR RESUME;",
        ),
    }
}

fn suspended(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
    note_coverage(ctx, run, keys::DM_HADR_DATABASE_REPLICA_STATES);
    for ag in &ctx.topology.ags {
        for db in database_states(ctx, ag) {
            if db.row.bit("is_suspended") != Some(true) {
                continue;
            }
            let replica = db.replica.server_name;
            let name = database_name(ctx, db.row);
            let database = database_label(ctx, db.row);
            let reason = db.row.code("suspend_reason_desc");
            let by_user = reason.is_some_and(|r| r.eq_ignore_ascii_case("SUSPEND_FROM_USER"));
            let is_primary = db.primary;
            let role = if is_primary {
                "the primary database (data movement to every secondary is suspended)"
            } else {
                "a secondary database"
            };
            run.finding(if by_user { Severity::Warning } else { Severity::Error }, format!("{replica}/{database}"))
                .instance(db.reporter.name())
                .ag(ag.name)
                .replica(replica)
                .message(format!(
                    "Data movement for database {database} on replica {replica} (availability group {}) is \
                     suspended: {} — {}. It is {role}. While suspended no log reaches this copy, the primary's \
                     transaction log cannot be truncated past it and keeps growing, and this copy cannot take over \
                     without data loss.",
                    ag.name,
                    reason.unwrap_or("no suspend reason"),
                    suspend_reason_meaning(reason),
                ))
                .evidence(json!({
                    "dm_hadr_database_replica_states": db.row.pick(STATE_COLUMNS),
                    "reported_by": db.reporter.name(),
                }))
                .remediation(format!(
                    "{}Then resume data movement on the instance hosting this database replica ({}) with \
                     ALTER DATABASE ... SET HADR RESUME, and confirm it returns to {}.",
                    if by_user { "" } else { "First fix the cause recorded in the error log of that instance (disk space, I/O or redo errors); resuming before that suspends it again. " },
                    db.host,
                    if is_sync_commit(db.replica.row) { "SYNCHRONIZED" } else { "SYNCHRONIZING" }
                ))
                .fix(resume_step(db.host, name, db.row))
                .emit();
        }
    }
}

/// Why one replica-state row is unhealthy, worst first, with the severity of each reason.
fn replica_problems(state: &Row) -> Vec<(Severity, String)> {
    let mut out = Vec::new();
    if let Some(op) = state.code("operational_state_desc") {
        match op.to_ascii_uppercase().as_str() {
            "FAILED" => out.push((Severity::Error, "operational state FAILED: the replica failed to come online".to_string())),
            "FAILED_NO_QUORUM" => out.push((Severity::Error, "operational state FAILED_NO_QUORUM: the node has lost cluster quorum".to_string())),
            "OFFLINE" => out.push((Severity::Error, "operational state OFFLINE".to_string())),
            "PENDING" | "PENDING_FAILOVER" => out.push((Severity::Warning, format!("operational state {op}: a role change is in progress"))),
            _ => {}
        }
    }
    if state.is("recovery_health_desc", "ONLINE_IN_PROGRESS") {
        out.push((Severity::Warning, "recovery health ONLINE_IN_PROGRESS: databases are still coming online".to_string()));
    }
    match state.code("synchronization_health_desc").map(str::to_ascii_uppercase).as_deref() {
        Some("NOT_HEALTHY") => out.push((Severity::Error, "synchronization health NOT_HEALTHY".to_string())),
        Some("PARTIALLY_HEALTHY") => out.push((Severity::Warning, "synchronization health PARTIALLY_HEALTHY".to_string())),
        _ => {}
    }
    out
}

fn replica_not_healthy(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
    note_coverage(ctx, run, keys::DM_HADR_AVAILABILITY_REPLICA_STATES);
    for ag in &ctx.topology.ags {
        let mut reported_replicas = 0;
        let mut explained_elsewhere = 0;
        let dbs = database_states(ctx, ag);
        // The database states of each replica, by the replica's address in `ag.replicas`.
        let mut dbs_of: std::collections::HashMap<*const ReplicaView<'_>, Vec<&DbState<'_, '_>>> = std::collections::HashMap::new();
        for d in &dbs {
            dbs_of.entry(d.replica as *const ReplicaView<'_>).or_default().push(d);
        }
        for replica in &ag.replicas {
            let Some((reporter, state)) = state_with_source(ctx, ag, replica) else { continue };
            let mut problems = replica_problems(state);
            if domains::is_configuration_only(replica.row) {
                // It holds no databases: there is nothing to synchronize, whatever the rollup says.
                problems.retain(|(_, p)| !p.starts_with("synchronization health"));
            }
            if problems.is_empty() {
                continue;
            }
            let name = replica.server_name;
            if is_disconnected(state) {
                // session.replica_disconnected reports it; only an operational failure adds news.
                explained_elsewhere += 1;
                if problems.iter().all(|(_, p)| p.starts_with("synchronization health")) {
                    continue;
                }
            }
            // Unhealthy only because of databases that health.synchronization / health.suspended
            // already report: say so at info level instead of a second error.
            let db_causes: Vec<String> = dbs_of
                .get(&(replica as *const ReplicaView<'_>))
                .map_or(&[][..], Vec::as_slice)
                .iter()
                .copied()
                .filter(|d| !d.primary)
                .filter(|d| {
                    d.row.bit("is_suspended") == Some(true)
                        || d.row
                            .code("synchronization_state_desc")
                            .is_some_and(|s| !synchronization_as_expected(is_sync_commit(replica.row), s))
                })
                .map(|d| format!("{} {}", database_label(ctx, d.row), d.row.code("synchronization_state_desc").unwrap_or("?")))
                .collect();
            let only_sync_health = problems.iter().all(|(_, p)| p.starts_with("synchronization health"));
            let severity = if only_sync_health && !db_causes.is_empty() {
                Severity::Info
            } else {
                problems.iter().map(|(s, _)| *s).min().unwrap_or(Severity::Warning)
            };
            reported_replicas += 1;
            let reasons: Vec<&str> = problems.iter().map(|(_, p)| p.as_str()).collect();
            let cause = if db_causes.is_empty() {
                String::new()
            } else {
                format!(
                    " This follows from its databases ({}), reported by health.synchronization / health.suspended.",
                    db_causes.join(", ")
                )
            };
            run.finding(severity, name)
                .instance(reporter.name())
                .ag(ag.name)
                .replica(name)
                .message(format!(
                    "Replica {name} of availability group {} is not healthy: {}.{cause}",
                    ag.name,
                    reasons.join("; ")
                ))
                .evidence(json!({
                    "dm_hadr_availability_replica_states": state.pick(&[
                        "replica_id", "role_desc", "operational_state_desc", "connected_state_desc",
                        "recovery_health_desc", "synchronization_health_desc",
                    ]),
                    "reported_by": reporter.name(),
                    "database_causes": db_causes,
                }))
                .remediation(
                    "Look at the replica's databases (health.synchronization, health.suspended), its connection \
                     (session.replica_disconnected), the cluster (health.quorum, health.cluster_member_down) and \
                     the SQL Server and cluster logs of that node.",
                )
                .emit();
        }
        if reported_replicas > 0 || explained_elsewhere > 0 {
            continue; // The group's rolled-up health is a consequence of the replicas above.
        }
        ag_level_health(ctx, run, ag);
    }
}

/// The AG's rolled-up health, when no replica-level row explains it (e.g. only secondaries were collected).
fn ag_level_health(ctx: &Ctx<'_>, run: &mut CheckRun<'_>, ag: &AgView<'_>) {
    let primary = ag.primary.as_deref().and_then(|p| ctx.instance_named(p));
    let source = primary.unwrap_or(&ctx.snapshot.instances[ag.source]);
    let Some(rows) = run.rows(source, keys::DM_HADR_AVAILABILITY_GROUP_STATES) else { return };
    let Some(row) = rows.iter().find(|r| guid(r, "group_id").as_deref() == Some(ag.group_id.as_str())) else { return };
    let severity = match row.code("synchronization_health_desc").map(str::to_ascii_uppercase).as_deref() {
        Some("NOT_HEALTHY") => Severity::Error,
        Some("PARTIALLY_HEALTHY") => Severity::Warning,
        _ => return,
    };
    let health = row.code("synchronization_health_desc").unwrap_or("");
    run.finding(severity, ag.name)
        .instance(source.name())
        .ag(ag.name)
        .message(format!(
            "Availability group {} reports synchronization health {health} on {}, but the snapshot holds no replica \
             state that explains it (collect the primary's sys.dm_hadr_availability_replica_states to see which \
             replica is affected).",
            ag.name,
            source.name()
        ))
        .evidence(json!({ "dm_hadr_availability_group_states": row.pick(&["group_id", "primary_replica", "primary_recovery_health_desc", "secondary_recovery_health_desc", "synchronization_health_desc"]) }))
        .remediation("Run AgDiag against the primary replica, or query sys.dm_hadr_availability_replica_states there, to see which replica is unhealthy.")
        .emit();
}

fn quorum(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
    // One finding per cluster and state, naming every instance that reported it.
    let mut seen: Vec<(String, String, Vec<String>, &Row)> = Vec::new();
    for inst in ctx.instances() {
        if only_non_wsfc_ags(inst) {
            run.evaluated();
            continue;
        }
        let Some(rows) = run.rows(inst, keys::DM_HADR_CLUSTER) else { continue };
        for row in rows {
            let state = match row.code("quorum_state_desc") {
                Some(s) => s.to_ascii_uppercase(),
                None => match row.int("quorum_state") {
                    Some(1) => "NORMAL_QUORUM".into(),
                    Some(2) => "FORCED_QUORUM".into(),
                    Some(_) => "UNKNOWN_QUORUM_STATE".into(),
                    None => continue,
                },
            };
            if state == "NORMAL_QUORUM" {
                continue;
            }
            let cluster = row.str("cluster_name").unwrap_or("the cluster").to_string();
            match seen.iter_mut().find(|(c, s, _, _)| c.eq_ignore_ascii_case(&cluster) && *s == state) {
                Some(entry) => entry.2.push(inst.name().to_string()),
                None => seen.push((cluster, state, vec![inst.name().to_string()], row)),
            }
        }
    }
    for (cluster, state, instances, row) in seen {
        let explanation = if state == "FORCED_QUORUM" {
            "The cluster was started with forced quorum (Start-ClusterNode -FixQuorum, net start clussvc /fq) \
             because a majority of votes was not available. In this state the cluster does not protect against \
             split brain, availability groups brought online by a forced failover may have lost data, and their \
             secondary databases are typically suspended until resumed."
        } else {
            "The node cannot determine the cluster's quorum state: the cluster service may be stopped or this node \
             isolated from the other members."
        };
        run.finding(Severity::Error, cluster.clone())
            .instance(instances[0].clone())
            .message(format!(
                "Windows Server Failover Cluster {cluster} reports quorum state {state} (seen from {}). {explanation}",
                instances.join(", ")
            ))
            .evidence(json!({
                "dm_hadr_cluster": row.pick(&["cluster_name", "quorum_type_desc", "quorum_state", "quorum_state_desc"]),
                "reported_by": instances,
            }))
            .remediation(if state == "FORCED_QUORUM" {
                "Bring the missing nodes back (or adjust votes so the surviving nodes hold a majority), then restart \
                 the cluster service normally on every node so the cluster runs with normal quorum again. Afterwards \
                 resume the suspended secondary databases (ALTER DATABASE ... SET HADR RESUME) and check for data \
                 loss from the forced failover."
            } else {
                "Check the cluster service and network on this node (Get-ClusterNode, Get-ClusterQuorum, the cluster \
                 log via Get-ClusterLog)."
            })
            .fix(FixStep::manual(
                &instances[0],
                Phase::Prerequisite,
                "Get-ClusterQuorum; Get-ClusterNode   # find which votes are missing\n\
                 Restart the cluster service normally on each node once a majority of votes is up.",
            ))
            .emit();
    }
}

fn cluster_member_down(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
    // Every collected instance lists the same members: report each member once, from the first.
    let mut reported: Vec<String> = Vec::new();
    for inst in ctx.instances() {
        if only_non_wsfc_ags(inst) {
            run.evaluated();
            continue;
        }
        let Some(members) = run.rows(inst, keys::DM_HADR_CLUSTER_MEMBERS) else { continue };
        // A member has 0 or 1 vote; clamping keeps a corrupt count from overflowing the sums below.
        let votes = |r: &Row| r.int("number_of_quorum_votes").unwrap_or(0).clamp(0, i64::from(u32::MAX));
        let is_down = |r: &Row| match r.code("member_state_desc") {
            Some(s) => s.eq_ignore_ascii_case("DOWN"),
            None => r.int("member_state") == Some(0),
        };
        let total: i64 = members.iter().map(votes).sum();
        let up: i64 = members.iter().filter(|r| !is_down(r)).map(votes).sum();
        for member in members.iter().filter(|r| is_down(r)) {
            let Some(name) = member.str("member_name") else { continue };
            if reported.iter().any(|r| r.eq_ignore_ascii_case(name)) {
                continue;
            }
            reported.push(name.to_string());
            let member_votes = votes(member);
            let majority_lost = up * 2 <= total;
            let one_more_loses = (up - 1) * 2 <= total;
            let severity = if member_votes > 0 && (majority_lost || one_more_loses) { Severity::Error } else { Severity::Warning };
            let kind = member.code("member_type_desc").unwrap_or("member");
            let hosts: Vec<String> = ctx
                .topology
                .ags
                .iter()
                .flat_map(|ag| ag.replicas.iter().map(move |r| (ag.name, r.server_name)))
                .filter(|(_, server)| server.split('\\').next().is_some_and(|host| host.eq_ignore_ascii_case(name)))
                .map(|(ag, server)| format!("{server} ({ag})"))
                .collect();
            let quorum_text = if majority_lost {
                format!("Only {up} of {total} quorum votes are up: the cluster is running without a majority.")
            } else if one_more_loses && member_votes > 0 {
                format!("{up} of {total} quorum votes are up: by configured votes, one more failure loses quorum and takes every availability group on the cluster offline (dynamic quorum may have adjusted the votes; Get-ClusterNode shows DynamicWeight).")
            } else {
                format!("{up} of {total} quorum votes are up.")
            };
            let host_text = if hosts.is_empty() {
                String::new()
            } else {
                format!(" It hosts replica(s) {}, which are unavailable while it is down.", hosts.join(", "))
            };
            run.finding(severity, name)
                .instance(inst.name())
                .message(format!(
                    "Cluster {} {name} is DOWN ({member_votes} quorum vote(s)). {quorum_text}{host_text}",
                    kind.to_ascii_lowercase().replace('_', " ")
                ))
                .evidence(json!({
                    "dm_hadr_cluster_members": member.pick(&["member_name", "member_type_desc", "member_state_desc", "number_of_quorum_votes"]),
                    "votes_up": up,
                    "votes_total": total,
                    "reported_by": inst.name(),
                }))
                .remediation(
                    "Bring the member back (start the node or its cluster service, restore the witness share, disk or \
                     cloud account). If it will stay down, review the quorum configuration (node weights, witness) so \
                     the remaining members keep a majority.",
                )
                .fix(FixStep::manual(
                    inst.name(),
                    Phase::Prerequisite,
                    "Get-ClusterNode; Get-ClusterQuorum   # confirm which member is down and the vote count\n\
                     Start-ClusterNode -Name <node>      # once the node itself is running",
                ))
                .emit();
        }
    }
}
