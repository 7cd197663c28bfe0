//! Failovers read from the timeline: a replica reaching PRIMARY_NORMAL where another replica was
//! the primary (or where it had been a secondary). What kind it was comes from the failover DDL
//! the new primary ran just before (`FAILOVER`: planned; `FORCE_FAILOVER_ALLOW_DATA_LOSS`: forced;
//! none: automatic), and what caused an automatic one from the events just before it on any
//! replica: a lease expiration, a health-check failure at or below the group's
//! `failure_condition_level`, the cluster going away, or a database-level health event with
//! `db_failover` on.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

use super::events::component_level;
use super::{EventKind, Timeline, TimelineEntry};
use crate::snapshot::{Row, Snapshot, keys};

/// How far before a role change the DDL that caused it is looked for.
const DDL_LOOKBACK: Duration = Duration::from_secs(120);
/// How far before a failover its cause is looked for (lease timeout 20 s, health check 30 s by
/// default, plus the time the cluster takes to act).
const CAUSE_LOOKBACK: Duration = Duration::from_secs(300);
/// Clock skew allowed between replicas when pairing the old primary's exit with the new one's entry.
const SKEW: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailoverKind {
    /// `ALTER AVAILABILITY GROUP ... FAILOVER` (no data loss).
    Planned,
    /// `ALTER AVAILABILITY GROUP ... FORCE_FAILOVER_ALLOW_DATA_LOSS`.
    Forced,
    /// The cluster moved the primary without any DDL.
    Automatic,
}

impl FailoverKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FailoverKind::Planned => "planned",
            FailoverKind::Forced => "forced",
            FailoverKind::Automatic => "automatic",
        }
    }
}

/// What the evidence says caused the failover.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// A person ran the failover DDL.
    Manual,
    /// The lease between the group and the cluster expired (19407 / 19419).
    LeaseExpired,
    /// sp_server_diagnostics reported an ERROR the `failure_condition_level` acts on.
    HealthCheck,
    /// The Always On manager lost the cluster (cluster service down or quorum lost).
    ClusterQuorum,
    /// A database-level health event with `db_failover` on.
    DatabaseHealth,
    /// No evidence for a cause: see `missing_evidence`.
    Unknown,
}

impl Cause {
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::Manual => "manual",
            Cause::LeaseExpired => "lease_expired",
            Cause::HealthCheck => "health_check",
            Cause::ClusterQuorum => "cluster_quorum",
            Cause::DatabaseHealth => "database_health",
            Cause::Unknown => "unknown",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failover {
    pub availability_group: String,
    /// When the new primary reached PRIMARY_NORMAL (UTC).
    pub time: String,
    /// The replica that was primary before, when the evidence shows it.
    pub from: Option<String>,
    pub to: String,
    pub kind: FailoverKind,
    pub cause: Cause,
    /// The cause in one sentence, or what evidence is missing to tell.
    pub cause_text: String,
    /// What would have been needed to tell the cause (for `unknown`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing_evidence: Vec<String>,
    /// The timeline entries the conclusion rests on, oldest first.
    pub evidence: Vec<TimelineEntry>,
}

/// The group's health policy, from `availability_groups` (any instance).
pub(crate) struct Policy {
    pub failure_condition_level: Option<i64>,
    pub db_failover: Option<bool>,
}

pub(crate) fn policy(snapshot: &Snapshot, ag: &str) -> Policy {
    let row: Option<&Row> = snapshot
        .instances
        .iter()
        .flat_map(|i| i.rows_or_empty(keys::AVAILABILITY_GROUPS).iter())
        .find(|r| r.str("name").is_some_and(|n| n.eq_ignore_ascii_case(ag)));
    Policy {
        failure_condition_level: row.and_then(|r| r.int("failure_condition_level")),
        db_failover: row.and_then(|r| r.bit("db_failover")),
    }
}

fn same(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// The entries (sorted by time) from `start` to `end` inclusive: a window of a long history
/// without scanning all of it.
fn between<E: std::borrow::Borrow<TimelineEntry>>(sorted: &[E], start: SystemTime, end: SystemTime) -> &[E] {
    let lo = sorted.partition_point(|e| e.borrow().at() < start);
    let hi = sorted.partition_point(|e| e.borrow().at() <= end);
    &sorted[lo..hi.max(lo)]
}

/// Every failover in the timeline, oldest first.
pub fn failovers(timeline: &Timeline, snapshot: &Snapshot) -> Vec<Failover> {
    // Role changes per group, in timeline order.
    let mut groups: BTreeMap<String, Vec<&TimelineEntry>> = BTreeMap::new();
    for e in timeline.entries.iter().filter(|e| e.kind == EventKind::RoleChange) {
        let Some(ag) = &e.availability_group else { continue };
        groups.entry(ag.to_lowercase()).or_default().push(e);
    }
    let mut out = Vec::new();
    for changes in groups.values() {
        let ag = changes[0].availability_group.clone().unwrap_or_default();
        let mut primary: Option<&str> = None;
        let mut settled: BTreeMap<String, String> = BTreeMap::new();
        for (i, change) in changes.iter().enumerate() {
            let current = change.detail_str("current_state").unwrap_or("");
            let previous = change.detail_str("previous_state").unwrap_or("");
            let at = change.at();
            let name = change.replica.as_str();
            if current == "SECONDARY_NORMAL" {
                settled.insert(name.to_lowercase(), current.to_string());
                if primary.is_some_and(|p| same(p, name)) {
                    primary = None;
                }
                continue;
            }
            if current != "PRIMARY_NORMAL" || previous == "PRIMARY_NORMAL" {
                continue;
            }
            // The replica that left PRIMARY_NORMAL just before (or, with skew, just after).
            let left = between(changes, at.checked_sub(CAUSE_LOOKBACK).unwrap_or(at), at + SKEW)
                .iter()
                .filter(|c| !same(&c.replica, name))
                .filter(|c| c.detail_str("previous_state") == Some("PRIMARY_NORMAL"))
                .map(|c| c.replica.clone())
                .next_back();
            let from = left.or_else(|| primary.filter(|p| !same(p, name)).map(str::to_string));
            let was_secondary = settled.get(&name.to_lowercase()).is_some_and(|s| s == "SECONDARY_NORMAL")
                || changes[..i]
                    .iter()
                    .rev()
                    .take_while(|c| same(&c.replica, name) && c.detail_str("current_state") != Some("PRIMARY_NORMAL"))
                    .any(|c| {
                        c.detail_str("previous_state") == Some("SECONDARY_NORMAL")
                            || c.detail_str("current_state") == Some("RESOLVING_PENDING_FAILOVER")
                    });
            let ddl = failover_ddl(timeline, &ag, name, at);
            primary = Some(name);
            settled.insert(name.to_lowercase(), current.to_string());
            if from.is_none() && !was_secondary && ddl.is_none() {
                continue; // the group came online, or its primary restarted in place
            }
            out.push(describe(timeline, snapshot, &ag, from, name, change, ddl));
        }
    }
    out.sort_by(|a, b| (&a.time, &a.availability_group).cmp(&(&b.time, &b.availability_group)));
    out
}

/// The failover DDL the new primary ran for `ag` shortly before `at`.
fn failover_ddl<'t>(timeline: &'t Timeline, ag: &str, to: &str, at: SystemTime) -> Option<&'t TimelineEntry> {
    between(&timeline.entries, at.checked_sub(DDL_LOOKBACK).unwrap_or(at), at)
        .iter()
        .filter(|e| matches!(e.kind, EventKind::ManualFailover | EventKind::ForcedFailover))
        .filter(|e| same(&e.replica, to) || same(&e.recorded_by, to))
        .rfind(|e| match &e.availability_group {
            Some(g) => same(g, ag),
            None => e.detail_str("statement").is_some_and(|s| s.to_lowercase().contains(&ag.to_lowercase())),
        })
}

fn describe(
    timeline: &Timeline,
    snapshot: &Snapshot,
    ag: &str,
    from: Option<String>,
    to: &str,
    change: &TimelineEntry,
    ddl: Option<&TimelineEntry>,
) -> Failover {
    let at = change.at();
    let start = at.checked_sub(CAUSE_LOOKBACK).unwrap_or(at);
    let mut evidence: Vec<TimelineEntry> = between(&timeline.entries, start, at + SKEW)
        .iter()
        .filter(|e| e.kind == EventKind::RoleChange && e.availability_group.as_deref().is_some_and(|g| same(g, ag)))
        .cloned()
        .collect();
    let kind = match ddl.map(|d| d.kind) {
        Some(EventKind::ForcedFailover) => FailoverKind::Forced,
        Some(_) => FailoverKind::Planned,
        None => FailoverKind::Automatic,
    };
    if let Some(d) = ddl {
        evidence.push(d.clone());
    }
    let (cause, cause_text, missing, cause_entries) = match kind {
        FailoverKind::Planned => (
            Cause::Manual,
            format!("a planned manual failover: ALTER AVAILABILITY GROUP ... FAILOVER ran on {to}"),
            Vec::new(),
            Vec::new(),
        ),
        FailoverKind::Forced => (
            Cause::Manual,
            format!(
                "a forced failover: ALTER AVAILABILITY GROUP ... FORCE_FAILOVER_ALLOW_DATA_LOSS ran on {to}; \
                 transactions the old primary had not sent to it are lost"
            ),
            Vec::new(),
            Vec::new(),
        ),
        FailoverKind::Automatic => automatic_cause(timeline, snapshot, ag, from.as_deref(), start, at),
    };
    evidence.extend(cause_entries);
    evidence.sort_by_key(|e| e.at());
    evidence.dedup();
    Failover {
        availability_group: ag.to_string(),
        time: change.time.clone(),
        from,
        to: to.to_string(),
        kind,
        cause,
        cause_text,
        missing_evidence: missing,
        evidence,
    }
}

type Found = (Cause, String, Vec<String>, Vec<TimelineEntry>);

fn automatic_cause(
    timeline: &Timeline,
    snapshot: &Snapshot,
    ag: &str,
    from: Option<&str>,
    start: SystemTime,
    at: SystemTime,
) -> Found {
    let policy = policy(snapshot, ag);
    let level = policy.failure_condition_level.unwrap_or(3);
    let before: Vec<&TimelineEntry> = between(&timeline.entries, start, at).iter().collect();
    let on_old_primary = |e: &&&TimelineEntry| from.is_none_or(|f| same(&e.recorded_by, f) || same(&e.replica, f));
    let for_group = |e: &&&TimelineEntry| e.availability_group.as_deref().is_none_or(|g| same(g, ag));

    let lease: Vec<TimelineEntry> = before
        .iter()
        .filter(|e| e.kind == EventKind::LeaseExpired)
        .filter(for_group)
        .map(|e| (*e).clone())
        .collect();
    if let Some(first) = lease.first() {
        return (
            Cause::LeaseExpired,
            format!(
                "the lease between {ag} and the Windows Server Failover Cluster expired on {} at {} (19407/19419): \
                 SQL Server did not renew it in time (the instance was hung or starved of CPU or memory, or the \
                 cluster service could not reach it), so the cluster failed the group over",
                first.recorded_by, first.time
            ),
            Vec::new(),
            lease,
        );
    }
    let health: Vec<TimelineEntry> = before
        .iter()
        .filter(|e| e.kind == EventKind::HealthCheckFailure)
        .filter(on_old_primary)
        .filter(|e| e.detail_str("component").and_then(component_level).is_some_and(|l| l <= level))
        .map(|e| (*e).clone())
        .collect();
    if let Some(first) = health.first() {
        let component = first.detail_str("component").unwrap_or("?");
        return (
            Cause::HealthCheck,
            format!(
                "a health-check failure: sp_server_diagnostics reported component {component} in state ERROR on {} at \
                 {}, and the group's failure_condition_level {level}{} acts on {component} errors",
                first.recorded_by,
                first.time,
                if policy.failure_condition_level.is_none() { " (the default; availability_groups not collected)" } else { "" }
            ),
            Vec::new(),
            health,
        );
    }
    let cluster: Vec<TimelineEntry> = before
        .iter()
        .filter(|e| e.kind == EventKind::ReplicaManagerState)
        .filter(|e| {
            e.detail_str("current_state")
                .is_some_and(|s| s.eq_ignore_ascii_case("WaitingForClusterCommunication") || s.eq_ignore_ascii_case("Offline"))
        })
        .map(|e| (*e).clone())
        .collect();
    if let Some(first) = cluster.first() {
        return (
            Cause::ClusterQuorum,
            format!(
                "loss of the cluster: the Always On manager on {} went to {} at {} (the cluster service stopped or \
                 quorum was lost), so the group could not stay online there",
                first.recorded_by,
                first.detail_str("current_state").unwrap_or("?"),
                first.time
            ),
            Vec::new(),
            cluster,
        );
    }
    let database: Vec<TimelineEntry> = before
        .iter()
        .filter(|e| e.kind == EventKind::DatabaseIoError)
        .filter(on_old_primary)
        .map(|e| (*e).clone())
        .collect();
    if let Some(first) = database.first()
        && policy.db_failover == Some(true)
    {
        return (
            Cause::DatabaseHealth,
            format!(
                "a database-level health event: error {} on {} at {}, and the group has DB_FAILOVER = ON, so a \
                 database that is no longer ONLINE fails the whole group over",
                first.detail_int("error_number").unwrap_or(0),
                first.recorded_by,
                first.time
            ),
            Vec::new(),
            database,
        );
    }
    // No cause in the evidence: say what is missing.
    let mut missing = Vec::new();
    let old = from.unwrap_or("the old primary");
    match from {
        Some(f) => {
            if let Some(gap) = timeline.gaps.iter().find(|g| same(&g.instance, f)) {
                missing.push(format!("{f}'s AlwaysOn_health events ({})", gap.reason));
            } else if !snapshot.instances.iter().any(|i| i.is_named(f)) {
                missing.push(format!("{f} was not collected: its AlwaysOn_health events (lease, health check) are not in the snapshot"));
            } else {
                missing.push(format!(
                    "no lease expiration, health-check failure or cluster event on {f} in the 5 minutes before: \
                     the cause is outside what AlwaysOn_health records (cluster log: Get-ClusterLog; system event log)"
                ));
            }
        }
        None => missing.push(
            "which replica was primary before (its role change is not in the window or was not collected)".to_string(),
        ),
    }
    if policy.failure_condition_level.is_none() {
        missing.push("availability_groups (failure_condition_level, db_failover)".to_string());
    }
    (
        Cause::Unknown,
        format!("unknown: {}", missing.join("; ")).replace("the old primary", old),
        missing,
        Vec::new(),
    )
}
