//! What happened: failovers, repeated disconnects and the AlwaysOn_health session itself, judged
//! from the incident timeline (`crate::timeline`: every replica's AlwaysOn_health events merged in
//! UTC order, 7 days before `collected_at`).
//!
//! Seed: Microsoft's "Configure Extended Events for availability groups" (the AlwaysOn_health
//! session, its events and what each says about a failover) and "Flexible automatic failover
//! policy" (failure_condition_level, lease and health-check timeouts).

use std::collections::BTreeMap;

use serde_json::json;

use super::{Check, CheckInfo, CheckRun, Ctx};
use crate::findings::{Category, FixStep, Phase, Severity};
use crate::fix::tsql;
use crate::snapshot::{Instance, Row, keys};
use crate::timeline::{Cause, EventKind, Failover, FailoverKind, TimelineEntry};

const SEED_XE: &str = "always-on-extended-events: alwayson_health session; Always On extended events reference";

/// From this many time-outs or losses of one connection in the window, they are "repeated".
pub(crate) const REPEATED: usize = 3;

pub const CHECKS: &[Check] = &[
    Check {
        info: CheckInfo {
            id: "history.failover",
            category: Category::History,
            title: "Availability group failed over",
            description: "AlwaysOn_health on every replica (availability_replica_state_change, alwayson_ddl_executed, availability_group_lease_expired, sp_server_diagnostics_component_result, availability_replica_manager_state_change, error_reported): each failover in the window (7 days before the snapshot was collected), from which replica to which, whether it was planned (FAILOVER DDL), forced (FORCE_FAILOVER_ALLOW_DATA_LOSS) or automatic, and the root cause the evidence supports: a lease expiration (19407/19419), a health-check failure at the group's failure_condition_level, loss of the cluster, a database-level health event with DB_FAILOVER, or unknown with the evidence that is missing. A forced failover is an error (possible data loss), an unplanned automatic failover a warning, a planned one information.",
            needs: &[keys::ALWAYSON_HEALTH, keys::AVAILABILITY_GROUPS],
            related_errors: &[19407, 19419, 41142, 1480],
            seed: SEED_XE,
        },
        run: failover,
    },
    Check {
        info: CheckInfo {
            id: "history.repeated_disconnects",
            category: Category::History,
            title: "Connection between replicas lost or timed out repeatedly",
            description: "AlwaysOn_health error_reported events: a replica's connection to a partner timed out (35201 connecting, 35206 on an established connection) or was lost (35267, 35204, 35207, 9642) three or more times in the window. Each time, the partner is DISCONNECTED: synchronous commits stop waiting for it and it is no automatic failover target until it reconnects and resynchronizes. The finding gives the count, the first and last time, and the checks that point at the cause (session timeout, network, endpoint).",
            needs: &[keys::ALWAYSON_HEALTH],
            related_errors: &[35201, 35206, 35267, 35204, 9642],
            seed: SEED_XE,
        },
        run: repeated_disconnects,
    },
    Check {
        info: CheckInfo {
            id: "history.health_session",
            category: Category::History,
            title: "AlwaysOn_health session is missing, stopped or not started automatically",
            description: "sys.server_event_sessions / sys.dm_xe_sessions: the AlwaysOn_health extended events session does not exist, is not running, or has STARTUP_STATE = OFF (it stops recording at the next restart). It records role changes, lease expirations, health-check failures and connection errors: the evidence every later investigation of a failover needs is not being recorded. The wizard creates and starts it; availability groups created with T-SQL may leave it stopped.",
            needs: &[keys::SERVER_EVENT_SESSIONS, keys::DM_XE_SESSIONS],
            related_errors: &[],
            seed: SEED_XE,
        },
        run: health_session,
    },
];

fn note_coverage(ctx: &Ctx<'_>, run: &mut CheckRun<'_>, key: &'static str) {
    for inst in ctx.instances() {
        let _ = run.rows(inst, key);
    }
}

fn entry_evidence(e: &TimelineEntry) -> serde_json::Value {
    json!({
        "time": e.time,
        "replica": e.replica,
        "recorded_by": e.recorded_by,
        "kind": e.kind.as_str(),
        "event": e.event,
        "details": e.details,
        "source": e.source,
    })
}

fn failover(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
    note_coverage(ctx, run, keys::ALWAYSON_HEALTH);
    for f in &ctx.timeline.failovers {
        let (severity, what) = match f.kind {
            FailoverKind::Forced => (Severity::Error, "a forced failover with possible data loss"),
            FailoverKind::Automatic => (Severity::Warning, "an unplanned automatic failover"),
            FailoverKind::Planned => (Severity::Info, "a planned manual failover"),
        };
        let from = f.from.as_deref().unwrap_or("an unknown replica");
        let title = match f.kind {
            FailoverKind::Forced => "Availability group was force-failed over (possible data loss)",
            FailoverKind::Automatic => "Availability group failed over automatically",
            FailoverKind::Planned => "Availability group was failed over manually",
        };
        let cause = match f.kind {
            FailoverKind::Automatic => format!(" Cause: {}.", f.cause_text),
            _ => format!(" It was {}.", f.cause_text),
        };
        run.finding(severity, format!("{} {}", f.availability_group, f.time))
            .instance(f.to.as_str())
            .ag(f.availability_group.as_str())
            .replica(f.to.as_str())
            .title(title)
            .message(format!(
                "Availability group {} failed over from {from} to {} at {} (UTC): {what}.{cause}",
                f.availability_group, f.to, f.time
            ))
            .evidence(json!({
                "failover": {
                    "availability_group": f.availability_group,
                    "time": f.time,
                    "from": f.from,
                    "to": f.to,
                    "kind": f.kind.as_str(),
                    "cause": f.cause.as_str(),
                    "missing_evidence": f.missing_evidence,
                },
                "alwayson_health": f.evidence.iter().map(entry_evidence).collect::<Vec<_>>(),
            }))
            .remediation(remediation(f))
            .emit();
    }
}

fn remediation(f: &Failover) -> String {
    let from = f.from.as_deref().unwrap_or("the old primary");
    match (f.kind, f.cause) {
        (FailoverKind::Forced, _) => format!(
            "Confirm who forced it and why. Transactions committed on {from} but not yet sent to {} are lost: compare \
             the old primary's data before resuming it. Its databases (and the other secondaries') are SUSPENDED after a \
             forced failover: resume them (health.suspended) once you have decided what to keep, and bring the cluster \
             back to normal quorum if it was forced (health.quorum).",
            f.to
        ),
        (FailoverKind::Planned, _) => {
            "Nothing to fix if the failover was planned (patching, maintenance): confirm who ran it and that the \
             group is back on the intended primary."
                .to_string()
        }
        (_, Cause::LeaseExpired) => format!(
            "Find why {from} did not renew the lease in time: CPU or memory pressure, a hung scheduler (look for \
             non-yielding scheduler and memory dumps in its error log at that time), or the cluster service losing \
             contact (cluster log: Get-ClusterLog). Raise LeaseTimeout only after ruling those out."
        ),
        (_, Cause::HealthCheck) => format!(
            "Read the sp_server_diagnostics data of {from} at that time (system_health session) to see what failed. \
             If the failover was an overreaction, a lower failure_condition_level or a longer health_check_timeout \
             makes the group less sensitive (failover.policy)."
        ),
        (_, Cause::ClusterQuorum) => {
            "Find why the node lost the cluster: cluster log (Get-ClusterLog), network between the nodes, quorum \
             configuration and witness (health.quorum, health.cluster_member_down)."
                .to_string()
        }
        (_, Cause::DatabaseHealth) => format!(
            "Check the database's storage and integrity on {from} (error log, DBCC CHECKDB): DB_FAILOVER = ON fails \
             the whole group over when one database is no longer ONLINE."
        ),
        _ => format!(
            "The evidence for the cause is missing: {}. Collect AlwaysOn_health from every replica (history.health_session), \
             and read the cluster log and the error log of {from} around that time.",
            if f.missing_evidence.is_empty() { "see the evidence".to_string() } else { f.missing_evidence.join("; ") }
        ),
    }
}

fn repeated_disconnects(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
    note_coverage(ctx, run, keys::ALWAYSON_HEALTH);
    // (recorded_by, partner) -> entries.
    let mut groups: BTreeMap<(String, String), Vec<&TimelineEntry>> = BTreeMap::new();
    for e in &ctx.timeline.entries {
        if !matches!(e.kind, EventKind::ConnectionTimeout | EventKind::ConnectionLost) {
            continue;
        }
        let partner = e.detail_str("partner").unwrap_or("an unnamed partner").to_string();
        groups.entry((e.recorded_by.clone(), partner)).or_default().push(e);
    }
    for ((recorder, partner), entries) in groups {
        if entries.len() < REPEATED {
            continue;
        }
        let (first, last) = (entries[0], entries[entries.len() - 1]);
        let mut numbers: BTreeMap<i64, usize> = BTreeMap::new();
        for e in &entries {
            *numbers.entry(e.detail_int("error_number").unwrap_or(0)).or_default() += 1;
        }
        let counts: Vec<String> = numbers.iter().map(|(n, c)| format!("{n} x{c}")).collect();
        let hints = cause_hints(ctx, &recorder, &partner);
        let timeouts = entries.iter().filter(|e| e.kind == EventKind::ConnectionTimeout).count();
        run.finding(Severity::Warning, partner.as_str())
            .instance(recorder.as_str())
            .replica(partner.as_str())
            .message(format!(
                "{recorder}'s connection to {partner} was lost or timed out {} times between {} and {} (UTC) ({}; {timeouts} \
                 time-out(s)). Each time {partner} is DISCONNECTED: synchronous commits stop waiting for it and it is no \
                 automatic failover target until it reconnects and catches up.{}",
                entries.len(),
                first.time,
                last.time,
                counts.join(", "),
                if hints.is_empty() { String::new() } else { format!(" Pointers: {}.", hints.join("; ")) }
            ))
            .evidence(json!({
                "count": entries.len(),
                "first": first.time,
                "last": last.time,
                "error_numbers": numbers,
                "alwayson_health": entries.iter().take(20).map(|e| entry_evidence(e)).collect::<Vec<_>>(),
                "see_checks": ["session.timeout_too_short", "network.unreachable", "endpoint.not_listening", "session.replica_disconnected", "errorlog.ag_errors"],
            }))
            .remediation(
                "Time-outs (35201, 35206) mean pings went unanswered for the session timeout: check the network path \
                 between the replicas (packet loss, NIC teaming, VM host load), CPU or I/O stalls on either side, and a \
                 session timeout below 10 s (session.timeout_too_short). Losses (35267, 35204, 9642) follow endpoint \
                 restarts, handshake failures and transport errors: see the endpoint and errorlog checks.",
            )
            .emit();
    }
}

/// What the rest of the snapshot says about a flapping connection.
fn cause_hints(ctx: &Ctx<'_>, recorder: &str, partner: &str) -> Vec<String> {
    let mut hints = Vec::new();
    for ag in &ctx.topology.ags {
        for replica in ag.replicas.iter().filter(|r| r.server_name.eq_ignore_ascii_case(partner) || r.server_name.eq_ignore_ascii_case(recorder)) {
            if let Some(t) = replica.row.int("session_timeout").filter(|t| *t < 10) {
                hints.push(format!(
                    "{}'s session_timeout in {} is {t} s, below the recommended 10 s (session.timeout_too_short)",
                    replica.server_name, ag.name
                ));
            }
        }
    }
    let failed_probe = ctx
        .snapshot
        .probes
        .iter()
        .any(|p| p.purpose == "endpoint" && p.subject.eq_ignore_ascii_case(partner) && !p.ok);
    if failed_probe {
        hints.push(format!("{partner}'s endpoint did not answer AgDiag's probe (network.unreachable)"));
    }
    hints
}

/// The AlwaysOn_health row of `rows` (the name is `AlwaysOn_health`, case-insensitive).
fn session_row(rows: &[Row]) -> Option<&Row> {
    rows.iter().find(|r| r.str("name").is_some_and(|n| n.eq_ignore_ascii_case("AlwaysOn_health")))
}

/// True when the instance hosts an availability replica (the session only matters there).
fn hosts_replica(inst: &Instance) -> bool {
    !inst.rows_or_empty(keys::AVAILABILITY_REPLICAS).is_empty()
        || inst.properties().and_then(|p| p.int("IsHadrEnabled")) == Some(1)
}

fn health_session(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
    for inst in ctx.instances() {
        if inst.connected && !hosts_replica(inst) {
            continue;
        }
        let Some(sessions) = run.rows(inst, keys::SERVER_EVENT_SESSIONS) else { continue };
        let Some(running) = run.rows(inst, keys::DM_XE_SESSIONS) else { continue };
        let defined = session_row(sessions);
        let live = session_row(running);
        let name = defined.and_then(|r| r.str("name")).unwrap_or("AlwaysOn_health");
        let target = inst.name();
        let mut problems = Vec::new();
        let mut fixes = Vec::new();
        match defined {
            None => {
                problems.push("does not exist (sys.server_event_sessions has no AlwaysOn_health)".to_string());
                fixes.push(FixStep::manual(
                    target,
                    Phase::EventSession,
                    "Re-create the AlwaysOn_health session: on another replica, SSMS > Management > Extended Events > \
                     Sessions > AlwaysOn_health > Script Session as > CREATE To, run it here, then set STARTUP_STATE = ON \
                     and START it.",
                ));
            }
            Some(row) => {
                let ident = tsql::ident(name);
                if row.bit("startup_state") == Some(false) {
                    problems.push("is not started automatically (startup_state = 0): it stops recording at the next restart".to_string());
                    fixes.push(match &ident {
                        Some(i) => FixStep::sql(target, Phase::EventSession, format!("ALTER EVENT SESSION {i} ON SERVER WITH (STARTUP_STATE = ON);")),
                        None => FixStep::manual(target, Phase::EventSession, "ALTER EVENT SESSION [AlwaysOn_health] ON SERVER WITH (STARTUP_STATE = ON);"),
                    });
                }
                if live.is_none() {
                    problems.push("is not running (sys.dm_xe_sessions has no row for it): nothing is being recorded now".to_string());
                    fixes.push(match &ident {
                        Some(i) => FixStep::sql(
                            target,
                            Phase::EventSession,
                            format!(
                                "IF NOT EXISTS (SELECT 1 FROM sys.dm_xe_sessions WHERE name = {}) ALTER EVENT SESSION {i} ON SERVER STATE = START;",
                                tsql::literal(name)
                            ),
                        ),
                        None => FixStep::manual(target, Phase::EventSession, "ALTER EVENT SESSION [AlwaysOn_health] ON SERVER STATE = START;"),
                    });
                }
            }
        }
        if problems.is_empty() {
            continue;
        }
        run.finding(Severity::Warning, name)
            .instance(target)
            .message(format!(
                "The AlwaysOn_health extended events session on {target} {}. It records role changes, lease expirations, \
                 health-check failures and connection errors: the evidence every later investigation of a failover \
                 needs is not being recorded.",
                problems.join("; and it ")
            ))
            .evidence(json!({
                "server_event_sessions": defined.map(|r| r.pick(&["event_session_id", "name", "startup_state"])),
                "dm_xe_sessions": live.map(|r| r.pick(&["address", "name", "create_time"])),
            }))
            .remediation(
                "Start the session and make it start with the server: ALTER EVENT SESSION [AlwaysOn_health] ON SERVER \
                 WITH (STARTUP_STATE = ON); ALTER EVENT SESSION [AlwaysOn_health] ON SERVER STATE = START; (re-create it \
                 from another replica's definition if it is missing).",
            )
            .fixes(fixes)
            .emit();
    }
}
