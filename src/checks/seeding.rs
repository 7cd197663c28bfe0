//! Automatic seeding (SQL Server 2016+): attempts that failed, secondaries whose folders cannot
//! receive the primary's files, and seeding that has stopped moving.
//!
//! Beyond the seeds: Microsoft's "Automatic seeding for secondary replicas" (disk layout, security,
//! monitoring) and the `sys.dm_hadr_automatic_seeding` / `sys.dm_hadr_physical_seeding_stats`
//! articles (columns and the documented `failure_state` values).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use super::build_version::parse_version;
use super::{Check, CheckInfo, CheckRun, Ctx};
use crate::findings::{Category, FixStep, Phase, Severity};
use crate::fix::statements;
use crate::snapshot::{Instance, Row, Unavailable, domains, keys};
use crate::timeline::parse_utc;
use crate::topology::{AgView, ReplicaView, guid};

const SEED: &str = "beyond the seeds: automatic-seeding-secondary-replicas (disk layout, security, monitoring); sys.dm_hadr_automatic_seeding; sys.dm_hadr_physical_seeding_stats";

/// A running seeding operation whose bytes have not moved for this long is stalled.
pub const STALL_AFTER: Duration = Duration::from_secs(30 * 60);
/// `dm_hadr_automatic_seeding.start_time` is the server's local time (not UTC): an unfinished
/// operation with no running transfer counts as left behind only when it started more than this
/// before `collected_at`, which covers any time-zone offset (at most 14 hours) with room to spare.
pub const LEFT_BEHIND_AFTER: Duration = Duration::from_secs(24 * 3600);

pub const CHECKS: &[Check] = &[
    Check {
        info: CheckInfo {
            id: "seeding.failed",
            category: Category::Seeding,
            title: "Automatic seeding of a database failed",
            description: "sys.dm_hadr_automatic_seeding (history of every automatic seeding attempt, on the primary and the secondaries): the latest attempt for a database and a secondary ended with current_state FAILED. The finding names the database and the secondary and explains the documented failure_state_desc (Request Denied, Database With Name Already Exists, Transport, the time-outs, SQL Error with its error_code: 262 CREATE DATABASE denied, 1801 the database already exists, 5133 the folder does not exist ...) in a DBA's words, with what to do. A failure followed by a COMPLETED attempt is not reported, nor one whose database has since been joined on the secondary (SYNCHRONIZING or SYNCHRONIZED, e.g. seeded manually) or whose database or replica has left the group. The secondary's copy of the database does not exist until seeding succeeds, so the group has no redundancy for it there. Not applicable before SQL Server 2016 (no automatic seeding: the views do not exist).",
            needs: &[keys::DM_HADR_AUTOMATIC_SEEDING, keys::AVAILABILITY_REPLICAS],
            related_errors: &[262, 1801, 5133],
            seed: SEED,
        },
        run: failed,
    },
    Check {
        info: CheckInfo {
            id: "seeding.path_mismatch",
            category: Category::Seeding,
            title: "Primary's database folders may not exist on an automatically seeded secondary",
            description: "sys.master_files of the availability databases on the primary, SERVERPROPERTY('InstanceDefaultDataPath'/'InstanceDefaultLogPath') of every replica, sys.availability_replicas.seeding_mode: only secondaries with SEEDING_MODE = AUTOMATIC are judged (manual seeding restores WITH MOVE wherever the DBA chooses). Automatic seeding creates each file on the secondary in the same folder as on the primary, except (SQL Server 2017 and later, unless trace flag 9571) a file under the primary's default data or log path, which goes to the same place under the secondary's default path. When the secondary's default paths differ from the primary's and a file's target folder is neither the secondary's default path nor a folder its own availability databases already use, the folder probably does not exist there and seeding fails (error 5133) — the most common reason it fails. A Windows folder on a Linux secondary (or the reverse) cannot exist: an error. Databases already on the secondary (their files are in its own sys.master_files) are not judged.",
            needs: &[keys::MASTER_FILES, keys::SERVER_PROPERTIES, keys::AVAILABILITY_REPLICAS, keys::AVAILABILITY_DATABASES_CLUSTER],
            related_errors: &[5133],
            seed: SEED,
        },
        run: path_mismatch,
    },
    Check {
        info: CheckInfo {
            id: "seeding.stalled",
            category: Category::Seeding,
            title: "Automatic seeding is not progressing",
            description: "One snapshot is one sample, so \"not moving\" is read from the documented columns against collected_at. sys.dm_hadr_physical_seeding_stats: a running transfer (end_time_utc NULL, no failure_code) that started more than 30 minutes before the snapshot and has transferred nothing, or whose transfer_rate_bytes_per_second is 0 with bytes still to send, or whose estimate_time_complete_utc passed more than 30 minutes before the snapshot. sys.dm_hadr_automatic_seeding: an attempt with no completion_time that is neither COMPLETED nor FAILED (PENDING, CHECK_IF_SEEDING_NEEDED, LIMIT_CONCURRENT_BACKUPS, SEEDING, CATCHUP ...), started more than a day before the snapshot (start_time is local time) and has no running transfer on that instance: the database is left in the seeding state. Meanwhile the primary's log cannot be truncated for that database and the secondary has no copy.",
            needs: &[keys::DM_HADR_PHYSICAL_SEEDING_STATS, keys::DM_HADR_AUTOMATIC_SEEDING],
            related_errors: &[],
            seed: SEED,
        },
        run: stalled,
    },
];

// ------------------------------------------------------------------------------------------------
// Version: the views exist from SQL Server 2016 (major 13)
// ------------------------------------------------------------------------------------------------

fn major_version(inst: &Instance) -> Option<u32> {
    parse_version(inst.properties()?.str("ProductVersion")?).map(|v| v[0])
}

/// The rows of a seeding view on `inst`. On SQL Server 2012/2014 the view cannot exist (no
/// automatic seeding): that instance is evaluated with nothing to report, whether the key is a
/// query error (208) or absent, rather than "not evaluated".
fn seeding_rows<'s>(run: &mut CheckRun<'_>, inst: &'s Instance, key: &'static str) -> Option<&'s [Row]> {
    match inst.rows(key) {
        Ok(_) => run.rows(inst, key),
        Err(Unavailable::NotConnected(_)) => run.rows(inst, key),
        Err(_) if major_version(inst).is_some_and(|m| m < 13) => {
            run.evaluated();
            None
        }
        Err(_) => run.rows(inst, key),
    }
}

fn is_automatic(replica: &ReplicaView<'_>) -> bool {
    match replica.row.code("seeding_mode_desc") {
        Some(desc) => desc.eq_ignore_ascii_case("AUTOMATIC"),
        None => replica.row.int("seeding_mode") == Some(0),
    }
}

/// The replica of `ag` that `inst` is.
fn local_replica<'a, 's>(ag: &'a AgView<'s>, inst: &Instance) -> Option<&'a ReplicaView<'s>> {
    ag.replicas.iter().find(|r| inst.is_named(r.server_name))
}

// ------------------------------------------------------------------------------------------------
// seeding.failed
// ------------------------------------------------------------------------------------------------

/// What a documented `failure_state_desc` means and what to do, in a DBA's words. `failure_state`
/// values 0-25 (a hundreds digit of 1 = on the source, 2 = on the target).
fn failure_state_text(desc: &str) -> (&'static str, &'static str) {
    match desc.trim().to_ascii_lowercase().as_str() {
        "request denied" => (
            "the secondary refused to create the database: the availability group has not been granted CREATE ANY DATABASE there (or it was denied to stop seeding)",
            "on the secondary run ALTER AVAILABILITY GROUP ... GRANT CREATE ANY DATABASE, then restart seeding",
        ),
        "database with name already exists" => (
            "a database with the same name already exists on the secondary (a leftover of an earlier attempt, or a restored copy not joined to the group)",
            "on the secondary, drop the leftover database (after making sure nothing in it is needed) or join a restored copy with ALTER DATABASE ... SET HADR AVAILABILITY GROUP; then restart seeding",
        ),
        "transport" | "transport replica" => (
            "the connection between the replicas' database mirroring endpoints failed during seeding (the seeding stream uses the endpoint)",
            "check the endpoints, the firewall and the session (network, endpoint and session checks); restart seeding once the replicas are CONNECTED",
        ),
        "seeding check message timeout" | "file message timeout" | "secondary restore stream ready timeout" | "secondary catchup timeout" => (
            "a seeding message between the replicas timed out: the secondary did not answer in time (slow or lost connection, slow storage on the secondary, or a very busy primary)",
            "check the connection between the replicas and the secondary's disk latency; restart seeding",
        ),
        "user cancellation" => (
            "seeding was cancelled (SEEDING_MODE set to MANUAL, or the database removed from the group while it was seeding)",
            "if the cancellation was not intended, set SEEDING_MODE = AUTOMATIC again or seed the database manually (backup, restore WITH NORECOVERY, join)",
        ),
        "primary failure" => (
            "the primary failed or changed role while seeding",
            "restart seeding from the current primary",
        ),
        "sql error" => (
            "a SQL Server error stopped the backup on the primary or the restore on the secondary (see error_code)",
            "read error_code and the error logs of both replicas at that time; fix the cause and restart seeding",
        ),
        "database id lookup" | "check if seeding needed" | "send database file info" | "restore string creation" => (
            "seeding could not prepare the database on the secondary (file information, file paths or the database id)",
            "read both error logs at that time (a missing folder gives error 5133); fix the cause and restart seeding",
        ),
        "create vdi client" | "open vdi client" | "create usc session" | "create callback" | "create operation"
        | "create async task" | "create timeout task" | "async task failure" | "thread abort" | "internal error" => (
            "SQL Server could not run the internal backup/restore (VDI) streaming that seeding uses",
            "read both error logs at that time; restart seeding, and if it fails the same way seed the database manually (backup, restore WITH NORECOVERY, join)",
        ),
        "seeding" => (
            "the data transfer itself failed",
            "read both error logs at that time (disk space and file access on the secondary are the usual causes); fix the cause and restart seeding",
        ),
        _ => (
            "seeding failed for a reason this version of AgDiag does not describe",
            "read both error logs at that time; fix the cause and restart seeding",
        ),
    }
}

/// What an `error_code` says, for the codes whose cause the catalog evidence can name.
fn error_code_text(code: i64) -> Option<&'static str> {
    Some(match code {
        262 => "error 262: CREATE DATABASE permission denied — the availability group has not been granted CREATE ANY DATABASE on the secondary",
        1801 => "error 1801: a database with that name already exists on the secondary",
        5133 => "error 5133: directory lookup for a file failed — the primary's data or log folder does not exist on the secondary (see seeding.path_mismatch)",
        _ => return None,
    })
}

fn needs_grant(desc: &str, code: Option<i64>) -> bool {
    desc.eq_ignore_ascii_case("Request Denied") || code == Some(262)
}

/// One operation's latest attempt, as each instance recorded it.
struct Attempt<'s> {
    instance: &'s Instance,
    row: &'s Row,
}

fn failed(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
    // (ag_id, ag_db_id, target replica_id) -> attempts (one per instance that recorded it).
    let mut latest: BTreeMap<(String, String, String), Vec<Attempt<'_>>> = BTreeMap::new();
    for inst in ctx.instances() {
        let Some(rows) = seeding_rows(run, inst, keys::DM_HADR_AUTOMATIC_SEEDING) else { continue };
        let mut own: BTreeMap<(String, String, String), &Row> = BTreeMap::new();
        for row in rows {
            let (Some(ag_id), Some(db_id), Some(remote)) = (guid(row, "ag_id"), guid(row, "ag_db_id"), guid(row, "ag_remote_replica_id")) else {
                continue;
            };
            // The target of the operation: the remote replica seen from the source, else this one.
            let target = if row.bit("is_source") == Some(false) {
                match ctx.topology.ag(&ag_id).and_then(|ag| local_replica(ag, inst)) {
                    Some(r) => r.replica_id.clone(),
                    None => continue,
                }
            } else {
                remote
            };
            let slot = own.entry((ag_id, db_id, target)).or_insert(row);
            if row.str("start_time").unwrap_or("") >= slot.str("start_time").unwrap_or("") {
                *slot = row;
            }
        }
        for (key, row) in own {
            latest.entry(key).or_default().push(Attempt { instance: inst, row });
        }
    }
    for ((ag_id, db_id, target_id), attempts) in latest {
        // The newest attempt decides; on a tie the source's (primary's) record.
        let Some(newest) = attempts.iter().max_by_key(|a| (a.row.str("start_time").unwrap_or(""), a.row.bit("is_source") == Some(true)))
        else {
            continue;
        };
        if !newest.row.is("current_state", "FAILED") || settled(ctx, &ag_id, &db_id, &target_id) {
            continue;
        }
        report_failure(ctx, run, &ag_id, &db_id, &target_id, &attempts, newest);
    }
}

/// True when the failure no longer matters: the secondary left the group, the database left it,
/// or the database is on the secondary now (seeded manually and joined: its state is SYNCHRONIZING
/// or SYNCHRONIZED), which adds no new automatic seeding row.
fn settled(ctx: &Ctx<'_>, ag_id: &str, db_id: &str, target_id: &str) -> bool {
    let Some(ag) = ctx.topology.ag(ag_id) else { return false };
    if ag.replica_by_id(target_id).is_none() {
        return true;
    }
    let in_group = ctx.instances().flat_map(|i| i.rows_or_empty(keys::AVAILABILITY_DATABASES_CLUSTER)).any(|r| guid(r, "group_database_id").as_deref() == Some(db_id));
    let known = ctx.instances().any(|i| i.rows(keys::AVAILABILITY_DATABASES_CLUSTER).is_ok());
    if known && !in_group {
        return true;
    }
    ctx.instances().flat_map(|i| i.rows_or_empty(keys::DM_HADR_DATABASE_REPLICA_STATES)).any(|r| {
        guid(r, "replica_id").as_deref() == Some(target_id)
            && guid(r, "group_database_id").as_deref() == Some(db_id)
            && (r.is("synchronization_state_desc", "SYNCHRONIZED") || r.is("synchronization_state_desc", "SYNCHRONIZING"))
    })
}

fn report_failure(ctx: &Ctx<'_>, run: &mut CheckRun<'_>, ag_id: &str, db_id: &str, target_id: &str, attempts: &[Attempt<'_>], newest: &Attempt<'_>) {
    let ag = ctx.topology.ag(ag_id);
    let ag_name = ag.map(|a| a.name.to_string()).unwrap_or_else(|| ag_id.to_uppercase());
    let database = ctx.topology.database_name(db_id).map(str::to_string).unwrap_or_else(|| db_id.to_uppercase());
    let target = ag.and_then(|a| a.replica_by_id(target_id)).map(|r| r.server_name.to_string()).unwrap_or_else(|| target_id.to_uppercase());
    // The failure details: the row that has them (both sides record the attempt).
    let detailed = attempts
        .iter()
        .filter(|a| a.row.is("current_state", "FAILED"))
        .find(|a| a.row.int("error_code").is_some_and(|c| c != 0))
        .unwrap_or(newest);
    let desc = detailed.row.str("failure_state_desc").unwrap_or("").trim().to_string();
    let state = detailed.row.int("failure_state");
    let code = detailed.row.int("error_code").filter(|c| *c != 0);
    let (meaning, action) = failure_state_text(&desc);
    let side = match state.map(|s| s / 100) {
        Some(1) => " (on the seeding source, the primary)",
        Some(2) => " (on the seeding target, the secondary)",
        _ => "",
    };
    let code_text = code.map(|c| error_code_text(c).map(str::to_string).unwrap_or_else(|| format!("error {c}"))).map(|t| format!(" SQL Server reported {t}.")).unwrap_or_default();
    let attempts_text = detailed.row.int("number_of_attempts").filter(|n| *n > 1).map(|n| format!(" after {n} attempts")).unwrap_or_default();
    let when = newest.row.str("start_time").unwrap_or("an unknown time");
    let mut fixes = Vec::new();
    let primary = ag.and_then(|a| a.primary.clone());
    if needs_grant(&desc, code)
        && let Some(grant) = crate::fix::tsql::ident(&ag_name).map(|ag| format!("ALTER AVAILABILITY GROUP {ag} GRANT CREATE ANY DATABASE;"))
    {
        fixes.push(FixStep::sql(&target, Phase::ServerPermissions, grant));
    }
    if code == Some(1801) || desc.eq_ignore_ascii_case("Database With Name Already Exists") {
        fixes.push(FixStep::manual(
            &target,
            Phase::Prerequisite,
            format!("On {target}, inspect the existing database {database}: drop it if it is a leftover (or join a restored copy), then restart seeding."),
        ));
    }
    if let Some(primary) = primary.as_deref() {
        match statements::modify_replica(&ag_name, &target, "SEEDING_MODE = AUTOMATIC") {
            Some(sql) => fixes.push(FixStep::sql(primary, Phase::ReplicaOptions, sql)),
            None => fixes.push(FixStep::manual(primary, Phase::ReplicaOptions, "Restart seeding: ALTER AVAILABILITY GROUP ... MODIFY REPLICA ON ... WITH (SEEDING_MODE = AUTOMATIC) on the primary.")),
        }
    }
    run.finding(Severity::Error, format!("{ag_name}/{database}/{target}"))
        .instance(newest.instance.name())
        .ag(ag_name.as_str())
        .replica(target.as_str())
        .message(format!(
            "Automatic seeding of {database} to {target} in {ag_name} failed{attempts_text} (attempt started {when}, server local time): failure_state_desc {:?}{side} — {meaning}.{code_text} Until seeding succeeds {target} has no copy of {database}.",
            if desc.is_empty() { "(none)" } else { desc.as_str() },
        ))
        .evidence(json!({
            "dm_hadr_automatic_seeding": attempts.iter().map(|a| json!({
                "recorded_by": a.instance.name(),
                "row": a.row.pick(&["start_time", "completion_time", "ag_id", "ag_db_id", "ag_remote_replica_id", "operation_id", "is_source", "current_state", "performed_seeding", "failure_state", "failure_state_desc", "error_code", "number_of_attempts"]),
            })).collect::<Vec<_>>(),
        }))
        .remediation(format!(
            "{}. Setting SEEDING_MODE = AUTOMATIC again on the primary for {target} restarts seeding. Manual seeding (backup, restore WITH NORECOVERY on {target}, ALTER DATABASE ... SET HADR AVAILABILITY GROUP) always works as a fallback.",
            capitalize(action)
        ))
        .fixes(fixes)
        .emit();
}

fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

// ------------------------------------------------------------------------------------------------
// seeding.path_mismatch
// ------------------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum PathStyle {
    Windows,
    Unix,
}

fn style(path: &str) -> PathStyle {
    if path.starts_with('/') { PathStyle::Unix } else { PathStyle::Windows }
}

/// A folder for comparison: Windows paths case-insensitive with `\`, both with a trailing separator.
fn folder_key(folder: &str) -> String {
    match style(folder) {
        PathStyle::Windows => {
            let mut f = folder.trim().replace('/', "\\").to_lowercase();
            if !f.ends_with('\\') {
                f.push('\\');
            }
            f
        }
        PathStyle::Unix => {
            let mut f = folder.trim().to_string();
            if !f.ends_with('/') {
                f.push('/');
            }
            f
        }
    }
}

/// The folder of a file path, with its trailing separator.
fn parent(path: &str) -> Option<&str> {
    let cut = path.trim_end().rfind(['\\', '/'])?;
    Some(&path[..=cut])
}

struct Layout<'s> {
    data: &'s str,
    log: &'s str,
}

fn layout(inst: &Instance) -> Option<Layout<'_>> {
    let props = inst.properties()?;
    Some(Layout { data: props.str("InstanceDefaultDataPath")?, log: props.str("InstanceDefaultLogPath")? })
}

/// One primary file whose folder probably does not exist on the secondary.
struct Missing {
    database: String,
    file: String,
    physical_name: String,
    folder: String,
    impossible: bool,
}

fn path_mismatch(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
    for ag in ctx.topology.ags.iter().filter(|ag| !ag.is_distributed()) {
        let automatic: Vec<&ReplicaView<'_>> = ag
            .replicas
            .iter()
            .filter(|r| !ag.primary.as_deref().is_some_and(|p| p.eq_ignore_ascii_case(r.server_name)))
            .filter(|r| !domains::is_configuration_only(r.row) && is_automatic(r))
            .collect();
        if automatic.is_empty() {
            // Manual seeding only (or before SQL Server 2016): restores choose their own paths.
            run.evaluated();
            continue;
        }
        let Some(primary) = ag.primary_replica().and_then(|p| p.instance).map(|i| &ctx.snapshot.instances[i]) else {
            run.skip(ag.name, "the primary replica is unknown or was not collected: its database files are unknown");
            continue;
        };
        let Some(primary_layout) = layout(primary) else {
            run.skip(primary.name(), "InstanceDefaultDataPath / InstanceDefaultLogPath were not collected");
            continue;
        };
        let Some(primary_files) = run.rows(primary, keys::MASTER_FILES) else { continue };
        let databases: Vec<&str> = primary
            .rows_or_empty(keys::AVAILABILITY_DATABASES_CLUSTER)
            .iter()
            .filter(|r| guid(r, "group_id").as_deref() == Some(ag.group_id.as_str()))
            .filter_map(|r| r.str("database_name"))
            .collect();
        for secondary in automatic {
            let Some(inst) = secondary.instance.map(|i| &ctx.snapshot.instances[i]) else {
                run.skip(secondary.server_name, "not collected: its default paths and files are unknown");
                continue;
            };
            judge_secondary(run, ag, primary, &primary_layout, primary_files, &databases, secondary, inst);
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn judge_secondary(
    run: &mut CheckRun<'_>,
    ag: &AgView<'_>,
    primary: &Instance,
    primary_layout: &Layout<'_>,
    primary_files: &[Row],
    databases: &[&str],
    secondary: &ReplicaView<'_>,
    inst: &Instance,
) {
    let Some(own_layout) = layout(inst) else {
        run.skip(inst.name(), "InstanceDefaultDataPath / InstanceDefaultLogPath were not collected");
        return;
    };
    let Some(own_files) = run.rows(inst, keys::MASTER_FILES) else { return };
    let same_layout = folder_key(own_layout.data) == folder_key(primary_layout.data) && folder_key(own_layout.log) == folder_key(primary_layout.log);
    if same_layout {
        return;
    }
    let version = major_version(inst);
    // SQL Server 2017+ maps the primary's default paths to the secondary's (trace flag 9571 aside).
    let maps_defaults = version.is_some_and(|m| m >= 14);
    // Folders known to exist on the secondary: its default paths and its own AG databases' folders.
    let mut known: Vec<String> = vec![folder_key(own_layout.data), folder_key(own_layout.log)];
    known.extend(own_files.iter().filter_map(|f| f.str("physical_name")).filter_map(parent).map(folder_key));
    let mut missing = Vec::new();
    for file in primary_files {
        let Some(database) = file.str("database_name") else { continue };
        if !databases.iter().any(|d| d.eq_ignore_ascii_case(database)) {
            continue;
        }
        // Already seeded: the secondary's own rows hold its files.
        if own_files.iter().any(|f| f.str("database_name").is_some_and(|d| d.eq_ignore_ascii_case(database))) {
            continue;
        }
        let default = match file.code("type_desc") {
            Some(t) if t.eq_ignore_ascii_case("ROWS") => primary_layout.data,
            Some(t) if t.eq_ignore_ascii_case("LOG") => primary_layout.log,
            _ => continue,
        };
        let (Some(physical), Some(folder)) = (file.str("physical_name"), file.str("physical_name").and_then(parent)) else { continue };
        if maps_defaults && folder_key(folder).starts_with(&folder_key(default)) {
            continue;
        }
        let impossible = style(folder) != style(own_layout.data);
        if !impossible && known.contains(&folder_key(folder)) {
            continue;
        }
        missing.push(Missing {
            database: database.to_string(),
            file: file.str("name").unwrap_or("").to_string(),
            physical_name: physical.to_string(),
            folder: folder.to_string(),
            impossible,
        });
    }
    if missing.is_empty() {
        return;
    }
    let impossible = missing.iter().any(|m| m.impossible);
    let seeding_failed = seeding_failed_for(inst, primary, ag, secondary, &missing);
    let severity = if impossible || seeding_failed { Severity::Error } else { Severity::Warning };
    let mut folders: Vec<&str> = missing.iter().map(|m| m.folder.as_str()).collect();
    folders.sort_unstable();
    folders.dedup();
    let mut dbs: Vec<&str> = missing.iter().map(|m| m.database.as_str()).collect();
    dbs.sort_unstable();
    dbs.dedup();
    let rule = if maps_defaults {
        "SQL Server 2017 and later put a file that is under the primary's default data or log path under the secondary's default path, but a file anywhere else in the same folder as on the primary (and every file there when trace flag 9571 is on)"
    } else {
        "SQL Server 2016 creates every file in the same folder as on the primary"
    };
    let target = secondary.server_name;
    let mut fixes: Vec<FixStep> = folders
        .iter()
        .map(|f| {
            FixStep::manual(
                target,
                Phase::Prerequisite,
                format!("On {target}, create the folder {f} and give the SQL Server service account full control of it (or move the primary's files under its default data/log path)."),
            )
        })
        .collect();
    if let Some(sql) = statements::modify_replica(ag.name, target, "SEEDING_MODE = AUTOMATIC") {
        fixes.push(FixStep::sql(primary.name(), Phase::ReplicaOptions, sql));
    }
    run.finding(severity, format!("{}/{target}", ag.name))
        .instance(inst.name())
        .ag(ag.name)
        .replica(target)
        .message(format!(
            "{target} is seeded automatically in {}, but its default paths (data {}, log {}) differ from the primary {}'s (data {}, log {}), and the files of {} are in {} {} that {target} {}: {rule}. {}",
            ag.name,
            own_layout.data,
            own_layout.log,
            primary.name(),
            primary_layout.data,
            primary_layout.log,
            dbs.join(", "),
            if folders.len() == 1 { "folder" } else { "folders" },
            folders.join(", "),
            if impossible { "cannot have (a Windows path on Linux, or the reverse)" } else { "does not use for its availability databases and that are not its default paths" },
            if seeding_failed {
                "Seeding to it has already failed."
            } else {
                "If a folder is missing there, seeding fails with error 5133 and the database is never created."
            }
        ))
        .evidence(json!({
            "primary": { "instance": primary.name(), "InstanceDefaultDataPath": primary_layout.data, "InstanceDefaultLogPath": primary_layout.log },
            "secondary": { "instance": inst.name(), "InstanceDefaultDataPath": own_layout.data, "InstanceDefaultLogPath": own_layout.log, "major_version": version, "seeding_mode_desc": secondary.row.str("seeding_mode_desc") },
            "files": missing.iter().map(|m| json!({ "database_name": m.database, "name": m.file, "physical_name": m.physical_name, "target_folder": m.folder })).collect::<Vec<_>>(),
        }))
        .remediation(format!(
            "Create the folder(s) on {target} with the same path, or (SQL Server 2017+) move the primary's files under its default data/log path, or seed {target} manually (backup, restore WITH MOVE and NORECOVERY, join), which needs no identical paths. Then restart seeding on the primary with SEEDING_MODE = AUTOMATIC."
        ))
        .fixes(fixes)
        .emit();
}

/// True when an attempt to seed one of the `missing` databases to `secondary` is recorded as FAILED.
fn seeding_failed_for(secondary_inst: &Instance, primary: &Instance, ag: &AgView<'_>, secondary: &ReplicaView<'_>, missing: &[Missing]) -> bool {
    [primary, secondary_inst].iter().any(|inst| {
        inst.rows_or_empty(keys::DM_HADR_AUTOMATIC_SEEDING).iter().any(|row| {
            row.is("current_state", "FAILED")
                && guid(row, "ag_id").as_deref() == Some(ag.group_id.as_str())
                && (inst.is_named(secondary.server_name) || guid(row, "ag_remote_replica_id").as_deref() == Some(secondary.replica_id.as_str()))
                && guid(row, "ag_db_id").is_some_and(|id| {
                    inst.rows_or_empty(keys::AVAILABILITY_DATABASES_CLUSTER).iter().any(|adc| {
                        guid(adc, "group_database_id").as_deref() == Some(id.as_str())
                            && adc.str("database_name").is_some_and(|n| missing.iter().any(|m| m.database.eq_ignore_ascii_case(n)))
                    })
                })
        })
    })
}

// ------------------------------------------------------------------------------------------------
// seeding.stalled
// ------------------------------------------------------------------------------------------------

fn time(row: &Row, column: &str) -> Option<SystemTime> {
    row.str(column).and_then(parse_utc)
}

fn minutes(d: Duration) -> u64 {
    d.as_secs() / 60
}

fn stalled(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
    let collected = ctx.snapshot.collected_at.as_deref().and_then(parse_utc);
    for inst in ctx.instances() {
        let Some(stats) = seeding_rows(run, inst, keys::DM_HADR_PHYSICAL_SEEDING_STATS) else { continue };
        let Some(collected) = collected else {
            run.skip(inst.name(), "the snapshot has no collected_at: the age of a running seeding is unknown");
            continue;
        };
        let running: Vec<&Row> =
            stats.iter().filter(|r| r.get("end_time_utc").is_none_or(Value::is_null) && r.int("failure_code").is_none_or(|c| c == 0)).collect();
        for row in &running {
            if let Some(why) = stall_reason(row, collected) {
                report_stall(run, inst, row, &why);
            }
        }
        let Some(attempts) = seeding_rows(run, inst, keys::DM_HADR_AUTOMATIC_SEEDING) else { continue };
        for row in attempts {
            let unfinished = row.get("completion_time").is_none_or(Value::is_null)
                && !row.is("current_state", "COMPLETED")
                && !row.is("current_state", "FAILED");
            let old = time(row, "start_time").and_then(|t| collected.duration_since(t).ok()).is_some_and(|age| age > LEFT_BEHIND_AFTER);
            if unfinished && old && running.is_empty() {
                report_left_behind(ctx, run, inst, row);
            }
        }
    }
}

/// Why a running physical seeding is not moving, if it is not.
fn stall_reason(row: &Row, collected: SystemTime) -> Option<String> {
    let age = time(row, "start_time_utc").and_then(|t| collected.duration_since(t).ok())?;
    let transferred = row.int("transferred_size_bytes").unwrap_or(0);
    let size = row.int("database_size_bytes");
    if age > STALL_AFTER && transferred == 0 {
        return Some(format!("it started {} minutes before the snapshot and has transferred nothing", minutes(age)));
    }
    if age > STALL_AFTER && row.int("transfer_rate_bytes_per_second") == Some(0) && size.is_some_and(|s| transferred < s) {
        return Some(format!(
            "its transfer rate is 0 bytes/s with {} of {} bytes transferred, {} minutes after it started",
            transferred,
            size.unwrap_or(0),
            minutes(age)
        ));
    }
    let overdue = time(row, "estimate_time_complete_utc").and_then(|t| collected.duration_since(t).ok())?;
    (overdue > STALL_AFTER).then(|| format!("its estimated completion time passed {} minutes before the snapshot and it is still running", minutes(overdue)))
}

fn report_stall(run: &mut CheckRun<'_>, inst: &Instance, row: &Row, why: &str) {
    let database = row.str("local_database_name").unwrap_or("a database");
    let remote = row.str("remote_machine_name").unwrap_or("the other replica");
    run.finding(Severity::Warning, format!("{database}/{remote}"))
        .instance(inst.name())
        .message(format!(
            "The automatic seeding of {database} between {} and {remote} ({} side) is not progressing: {why}. While it runs, the primary's log for {database} cannot be truncated and the secondary has no usable copy.",
            inst.name(),
            row.str("role_desc").unwrap_or("unknown")
        ))
        .evidence(json!({ "dm_hadr_physical_seeding_stats": row.pick(&[
            "local_database_name", "remote_machine_name", "role_desc", "internal_state_desc", "transfer_rate_bytes_per_second",
            "transferred_size_bytes", "database_size_bytes", "start_time_utc", "end_time_utc", "estimate_time_complete_utc",
            "total_disk_io_wait_time_ms", "total_network_wait_time_ms", "failure_code", "failure_message", "is_compression_enabled"]) }))
        .remediation(
            "Compare total_network_wait_time_ms with total_disk_io_wait_time_ms to see whether the network or the secondary's storage holds it up; check the connection between the replicas (session and network checks) and the error logs of both. If it does not resume, cancel it (SEEDING_MODE = MANUAL on the primary for that replica), drop the partial database on the secondary, and seed again or manually.",
        )
        .emit();
}

fn report_left_behind(ctx: &Ctx<'_>, run: &mut CheckRun<'_>, inst: &Instance, row: &Row) {
    let ag = guid(row, "ag_id").and_then(|id| ctx.topology.ag(&id));
    let database = guid(row, "ag_db_id").and_then(|id| ctx.topology.database_name(&id)).unwrap_or("a database");
    let ag_name = ag.map(|a| a.name).unwrap_or("its availability group");
    run.finding(Severity::Warning, format!("{ag_name}/{database}"))
        .instance(inst.name())
        .ag(ag_name)
        .message(format!(
            "An automatic seeding of {database} in {ag_name} recorded on {} started {} (server local time), is in state {:?} with no completion time, and no seeding transfer is running there: the database is left in the seeding state.",
            inst.name(),
            row.str("start_time").unwrap_or("at an unknown time"),
            row.str("current_state").unwrap_or("(none)")
        ))
        .evidence(json!({ "dm_hadr_automatic_seeding": row.pick(&[
            "start_time", "completion_time", "ag_id", "ag_db_id", "ag_remote_replica_id", "operation_id", "is_source",
            "current_state", "performed_seeding", "failure_state", "failure_state_desc", "error_code", "number_of_attempts"]) }))
        .remediation(
            "Read both replicas' error logs since it started. Restart seeding on the primary (ALTER AVAILABILITY GROUP ... MODIFY REPLICA ON ... WITH (SEEDING_MODE = AUTOMATIC)); if it stays stuck, set SEEDING_MODE = MANUAL, drop the partial database on the secondary and seed it manually.",
        )
        .emit();
}
