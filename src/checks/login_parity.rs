//! Seed: beyond the seeds: "Manage logins and jobs for the databases of an availability group"
//! and "Troubleshoot orphaned users (SQL Server)": the logins an AG database's users map to live in
//! each instance's master, outside the AG, so they must exist on every replica that can become
//! the primary, with the same SID.
//!
//! A database user maps to its login by SID (`sys.database_principals.sid` =
//! `sys.server_principals.sid`). A Windows login's SID is the domain account's, the same on every
//! instance: it can only be missing. A SQL login created separately on each instance gets a new
//! SID: after a failover the database's user matches no login (an orphaned user) and the
//! application's logins fail with error 18456 although the login "exists".
//!
//! The users come from each AG database's `database_principals`, read on the primary (the only
//! replica where every database is readable); users that need no login are skipped: users without
//! login (authentication NONE), contained users (DATABASE), certificate and asymmetric-key users
//! (C/K), roles, dbo (mapped to the database owner), guest, INFORMATION_SCHEMA and sys. A
//! contained AG (SQL Server 2022 `is_contained`) keeps its logins in the AG's own master, which
//! fails over with it: nothing to compare (login_missing_for_user says so once, as info). For a distributed AG, the secondary AG's replicas need
//! the global primary's logins too: its users are read on the global primary.

use serde_json::{Value, json};

use super::certificate_auth::varbinary;
use super::{Check, CheckInfo, CheckRun, Ctx};
use crate::findings::{Category, FixStep, Phase, Severity};
use crate::fix::{statements, tsql};
use crate::snapshot::{Instance, Row, domains, keys};
use crate::topology::{AgView, guid};

const NEEDS: &[&str] = &[
    keys::AVAILABILITY_GROUPS,
    keys::AVAILABILITY_REPLICAS,
    keys::AVAILABILITY_DATABASES_CLUSTER,
    keys::DATABASE_PRINCIPALS,
    keys::SERVER_PRINCIPALS,
];
const SEED: &str = "beyond the seeds: Manage logins and jobs for the databases of an availability group; \
     Troubleshoot orphaned users (SQL Server)";

pub const CHECKS: &[Check] = &[
    Check {
        info: CheckInfo {
            id: "accounts.login_sid_mismatch",
            category: Category::Accounts,
            title: "A SQL login has another SID on a secondary than on the primary",
            description: "A user of an availability database is mapped, on the primary, to a SQL login; a secondary has a SQL login with the same name but another SID (created there separately). After a failover the user matches no login (an orphaned user) and the application cannot log in to the database (error 18456 / 916). Re-create the login on the secondary with the primary's SID (CREATE LOGIN ... WITH SID = 0x...); the password is a manual step: AgDiag never reads password hashes. Contained AGs keep their logins inside the AG and are not compared.",
            needs: NEEDS,
            related_errors: &[18456, 916],
            seed: SEED,
        },
        run: login_sid_mismatch,
    },
    Check {
        info: CheckInfo {
            id: "accounts.login_missing_for_user",
            category: Category::Accounts,
            title: "A login that an availability database's users need is missing on a secondary",
            description: "A user of an availability database is mapped, on the primary, to a login (Windows or SQL) that does not exist on a secondary replica at all. After a failover to that replica the user is orphaned and whoever logs in with that login is refused (error 18456) or cannot open the database. Create the login on the secondary: a Windows login FROM WINDOWS, a SQL login WITH the primary's SID (the password is a manual step). Contained AGs keep their logins inside the AG and are not compared.",
            needs: NEEDS,
            related_errors: &[18456, 916],
            seed: SEED,
        },
        run: login_missing_for_user,
    },
];

const USER_COLUMNS: &[&str] =
    &["database_name", "name", "principal_id", "type", "type_desc", "sid", "authentication_type", "authentication_type_desc"];
const LOGIN_COLUMNS: &[&str] = &["name", "principal_id", "sid", "type", "type_desc", "is_disabled", "default_database_name"];

/// A user that must find its login on every replica.
fn needs_login(user: &Row) -> bool {
    // dbo (1) maps to the database owner, guest (2), INFORMATION_SCHEMA (3) and sys (4) to none.
    if user.int("principal_id").is_some_and(|id| (1..=4).contains(&id)) {
        return false;
    }
    let mapped = match user.code("authentication_type_desc") {
        Some(desc) => desc.eq_ignore_ascii_case("INSTANCE") || desc.eq_ignore_ascii_case("WINDOWS"),
        None => matches!(user.int("authentication_type"), Some(1 | 3) | None),
    };
    mapped && matches!(user.code("type"), Some("S" | "U" | "G")) && user.str("sid").and_then(varbinary).is_some_and(|s| s != [0])
}

fn is_sql_login(login: &Row) -> bool {
    login.is("type", "S")
}

/// The login whose SID is the user's.
fn login_by_sid<'s>(logins: &'s [Row], sid: &[u8]) -> Option<&'s Row> {
    logins.iter().find(|l| l.str("sid").and_then(varbinary).as_deref() == Some(sid))
}

fn login_named<'s>(logins: &'s [Row], name: &str) -> Option<&'s Row> {
    logins.iter().find(|l| l.str("name").is_some_and(|n| n.eq_ignore_ascii_case(name)))
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::from("0x");
    for b in bytes {
        s.push_str(&format!("{b:02X}"));
    }
    s
}

/// Where the users of an AG's databases are read: the instance and, per database, its rows.
struct Source<'s> {
    /// The replica server name of the instance the users were read on.
    name: &'s str,
    users: Vec<&'s Row>,
    logins: &'s [Row],
}

/// The AG's databases (by name) from the instance that describes it.
fn databases<'s>(ctx: &Ctx<'s>, ag: &AgView<'s>) -> Result<Vec<&'s str>, String> {
    let inst = &ctx.snapshot.instances[ag.source];
    let rows = inst.rows(keys::AVAILABILITY_DATABASES_CLUSTER).map_err(|why| format!("{} of {}: {why}", keys::AVAILABILITY_DATABASES_CLUSTER, inst.name()))?;
    Ok(rows.iter().filter(|r| guid(r, "group_id").as_deref() == Some(ag.group_id.as_str())).filter_map(|r| r.str("database_name")).collect())
}

/// The primary (or, for the secondary AG of a distributed AG, the global primary) whose rows hold
/// the users of `dbs`, or why there is none.
fn source<'s>(ctx: &Ctx<'s>, ag: &AgView<'s>, dbs: &[&'s str]) -> Result<Source<'s>, String> {
    let mut candidates: Vec<(&'s str, &'s Instance)> = Vec::new();
    if let Some(p) = ag.primary_replica().and_then(|p| p.instance.map(|i| (p.server_name, &ctx.snapshot.instances[i]))) {
        candidates.push(p);
    }
    // The other member AGs of any distributed AG this AG belongs to: their primaries.
    for dag in ctx.topology.ags.iter().filter(|d| d.is_distributed() && d.replica_named(ag.name).is_some()) {
        for member in dag.replicas.iter().filter(|m| !m.server_name.eq_ignore_ascii_case(ag.name)) {
            let Some(other) = ctx.topology.ags.iter().find(|x| !x.is_distributed() && x.name.eq_ignore_ascii_case(member.server_name)) else { continue };
            if let Some(p) = other.primary_replica().and_then(|p| p.instance.map(|i| (p.server_name, &ctx.snapshot.instances[i]))) {
                candidates.push(p);
            }
        }
    }
    let Some(&(primary_name, _)) = candidates.first() else {
        return Err(format!("the primary of {} was not collected: its databases' users are unknown", ag.name));
    };
    let mut why = None;
    for (name, inst) in candidates {
        let rows = match inst.rows(keys::DATABASE_PRINCIPALS) {
            Ok(rows) => rows,
            Err(e) => {
                why.get_or_insert(format!("{} of {name}: {e}", keys::DATABASE_PRINCIPALS));
                continue;
            }
        };
        let of = |db: &str| -> Vec<&'s Row> { rows.iter().filter(|u| u.str("database_name").is_some_and(|d| d.eq_ignore_ascii_case(db))).collect() };
        let missing: Vec<&str> = dbs.iter().copied().filter(|db| of(db).is_empty()).collect();
        if !missing.is_empty() {
            let errors: Vec<String> = missing
                .iter()
                .filter_map(|db| inst.query_errors.get(&keys::database_principals_error_key(db)).map(|e| format!("{db}: {}{}", e.number.map(|n| format!("error {n}: ")).unwrap_or_default(), e.message)))
                .collect();
            why.get_or_insert(if errors.is_empty() {
                format!(
                    "the users of {} were not collected on {name} (only master's sys.database_principals: a collection from before the per-database read)",
                    missing.join(", ")
                )
            } else {
                format!("reading the users on {name} failed: {}", errors.join("; "))
            });
            continue;
        }
        let logins = match inst.rows(keys::SERVER_PRINCIPALS) {
            Ok(l) => l,
            Err(e) => {
                why.get_or_insert(format!("{} of {name}: {e}", keys::SERVER_PRINCIPALS));
                continue;
            }
        };
        let users = dbs.iter().flat_map(|db| of(db)).collect();
        return Ok(Source { name, users, logins });
    }
    Err(why.unwrap_or_else(|| format!("the users of {}'s databases were not collected on {primary_name}", ag.name)))
}

/// A login the primary's users need, absent (or with another SID) on one replica.
struct Gap<'s> {
    ag: &'s str,
    replica: &'s str,
    primary: &'s str,
    login: &'s Row,
    sid: Vec<u8>,
    /// The same-named login on the replica (another SID), if any.
    other: Option<&'s Row>,
    users: Vec<&'s Row>,
}

/// Every (replica, login) where a login the primary's AG-database users map to is missing or has
/// another SID; subjects that cannot be judged are recorded.
fn gaps<'s>(ctx: &Ctx<'s>, run: &mut CheckRun<'_>) -> Vec<Gap<'s>> {
    let mut out: Vec<Gap<'s>> = Vec::new();
    for ag in ctx.topology.ags.iter().filter(|ag| !ag.is_distributed()) {
        if ag.row.bit("is_contained") == Some(true) {
            // A contained AG's logins live in its own master database, which fails over with it.
            run.evaluated();
            continue;
        }
        let dbs = match databases(ctx, ag) {
            Ok(dbs) => dbs,
            Err(why) => {
                run.skip(ag.name, why);
                continue;
            }
        };
        if dbs.is_empty() {
            run.evaluated(); // no database yet: no user needs a login
            continue;
        }
        let source = match source(ctx, ag, &dbs) {
            Ok(s) => s,
            Err(why) => {
                run.skip(ag.name, why);
                continue;
            }
        };
        // user -> its login on the primary (users whose login is missing there are orphaned
        // already: not a replica difference).
        let mapped: Vec<(&'s Row, &'s Row, Vec<u8>)> = source
            .users
            .iter()
            .filter(|u| needs_login(u))
            .filter_map(|u| {
                let sid = u.str("sid").and_then(varbinary)?;
                login_by_sid(source.logins, &sid).map(|l| (*u, l, sid))
            })
            .collect();
        for replica in &ag.replicas {
            if replica.server_name.eq_ignore_ascii_case(source.name) || domains::is_configuration_only(replica.row) {
                continue; // the source itself; a configuration-only replica never hosts the databases
            }
            let Some(inst) = replica.instance.map(|i| &ctx.snapshot.instances[i]) else {
                run.skip(replica.server_name, "not collected: its logins are unknown");
                continue;
            };
            let Some(logins) = run.rows(inst, keys::SERVER_PRINCIPALS) else { continue };
            run.evaluated();
            for (user, login, sid) in &mapped {
                if login_by_sid(logins, sid).is_some() {
                    continue;
                }
                let name = login.str("name").unwrap_or("?");
                let other = login_named(logins, name);
                if other.is_some() && !is_sql_login(login) {
                    continue; // a Windows login of that name: Windows resolves the same account
                }
                match out.iter_mut().find(|g| g.replica.eq_ignore_ascii_case(replica.server_name) && g.sid == *sid && g.ag == ag.name) {
                    Some(gap) => gap.users.push(user),
                    None => out.push(Gap {
                        ag: ag.name,
                        replica: replica.server_name,
                        primary: source.name,
                        login,
                        sid: sid.clone(),
                        other,
                        users: vec![user],
                    }),
                }
            }
        }
    }
    out
}

fn users_text(users: &[&Row]) -> String {
    let mut by_db: Vec<(String, Vec<String>)> = Vec::new();
    for u in users {
        let db = u.str("database_name").unwrap_or("?").to_string();
        let name = u.str("name").unwrap_or("?").to_string();
        match by_db.iter_mut().find(|(d, _)| *d == db) {
            Some((_, names)) => names.push(name),
            None => by_db.push((db, vec![name])),
        }
    }
    by_db.iter().map(|(db, names)| format!("user {} in {db}", names.join(", "))).collect::<Vec<_>>().join("; ")
}

fn evidence(gap: &Gap<'_>) -> Value {
    json!({
        "ag": gap.ag,
        "primary": gap.primary,
        "database_principals": gap.users.iter().map(|u| u.pick(USER_COLUMNS)).collect::<Vec<_>>(),
        "primary_server_principals": gap.login.pick(LOGIN_COLUMNS),
        "server_principals": gap.other.map(|o| o.pick(LOGIN_COLUMNS)).unwrap_or(Value::Null),
    })
}

/// The SQL login re-created with the primary's SID: a manual step, because its password is the
/// DBA's to supply (AgDiag never reads password hashes), so the statement must not run as is.
fn sql_login_step(gap: &Gap<'_>, drop_first: bool) -> FixStep {
    let name = gap.login.str("name").unwrap_or("?");
    let ident = tsql::ident(name).unwrap_or_else(|| format!("[{}]", tsql::comment(name)));
    let default_db = gap.login.str("default_database_name").and_then(tsql::ident).map(|d| format!(", DEFAULT_DATABASE = {d}")).unwrap_or_default();
    let drop = if drop_first {
        format!("DROP LOGIN {ident};  -- the login with the other SID (its server-level permissions and role memberships go with it: re-grant them)\n")
    } else {
        String::new()
    };
    FixStep::manual(
        gap.replica,
        Phase::CreateLogin,
        format!(
            "On {r}, create SQL login {name} with the SID it has on {p}, and the same password (AgDiag never reads password hashes: \
             type it, or script the login with its hash on {p} with sp_help_revlogin, KB 918992):\n\
             USE [master];\n{drop}CREATE LOGIN {ident} WITH PASSWORD = N'<password of {plain} on {p}>', SID = {sid}{default_db}, CHECK_POLICY = ON;",
            r = gap.replica,
            p = gap.primary,
            plain = tsql::comment(name).replace('\'', "''"),
            sid = hex(&gap.sid),
        ),
    )
}

fn login_sid_mismatch(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
    for gap in gaps(ctx, run) {
        let Some(other) = gap.other.filter(|_| is_sql_login(gap.login)) else { continue };
        let name = gap.login.str("name").unwrap_or("?");
        run.finding(Severity::Error, format!("{name} ({})", gap.replica))
            .instance(gap.replica)
            .ag(gap.ag)
            .replica(gap.replica)
            .message(format!(
                "On {p}, {users} {is} mapped to SQL login {name} (SID {sid}). {r} has a SQL login {name} too, but with SID {theirs}: \
                 after a failover to {r} the user{s} match{es} no login (orphaned) and logging in as {name} fails to open the database \
                 (error 18456 / 916) although the login exists.",
                p = gap.primary,
                r = gap.replica,
                users = users_text(&gap.users),
                is = if gap.users.len() > 1 { "are" } else { "is" },
                s = if gap.users.len() > 1 { "s" } else { "" },
                es = if gap.users.len() > 1 { "" } else { "es" },
                sid = hex(&gap.sid),
                theirs = other.str("sid").unwrap_or("NULL"),
            ))
            .evidence(evidence(&gap))
            .remediation(format!(
                "On {r}, drop login {name} and re-create it WITH SID = {sid} (the primary's) and the same password, then re-grant its \
                 server-level permissions; or script it with its password hash on {p} (sp_help_revlogin). Do not fix the user with \
                 ALTER USER ... WITH LOGIN on the primary: that would break it on {p} instead.",
                r = gap.replica,
                p = gap.primary,
                sid = hex(&gap.sid),
            ))
            .fix(sql_login_step(&gap, true))
            .emit();
    }
}

fn login_missing_for_user(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
    // Said once per contained AG (here, not in both checks), so that a DBA who expects the
    // comparison learns why there is none.
    for ag in ctx.topology.ags.iter().filter(|ag| ag.row.bit("is_contained") == Some(true)) {
        let source = &ctx.snapshot.instances[ag.source];
        run.finding(Severity::Info, ag.name)
            .instance(source.name())
            .ag(ag.name)
            .message(format!(
                "Availability group {ag} is contained: its logins live in its own master database ({ag}_master), which \
                 fails over with it, so the logins of each instance's own master are not compared for its users.",
                ag = ag.name
            ))
            .evidence(json!({ "availability_groups": ag.row.pick(&["name", "is_contained"]) }))
            .remediation(format!(
                "Nothing to fix. Create the application's logins while connected to {ag} through its listener (they go into \
                 {ag}_master); logins created on an instance's own master do not follow the AG.",
                ag = ag.name
            ))
            .emit();
    }
    for gap in gaps(ctx, run) {
        if gap.other.is_some() && is_sql_login(gap.login) {
            continue; // login_sid_mismatch
        }
        let name = gap.login.str("name").unwrap_or("?");
        let kind = gap.login.str("type_desc").unwrap_or(if is_sql_login(gap.login) { "SQL_LOGIN" } else { "WINDOWS_LOGIN" });
        let (fix, how) = if is_sql_login(gap.login) {
            (sql_login_step(&gap, false), format!("CREATE LOGIN [{name}] WITH PASSWORD = <its password>, SID = {} (the primary's SID)", hex(&gap.sid)))
        } else {
            let step = match statements::create_windows_login(name) {
                Some(sql) => FixStep::sql(gap.replica, Phase::CreateLogin, sql),
                None => FixStep::manual(gap.replica, Phase::CreateLogin, "The login name has characters that cannot be scripted safely; CREATE LOGIN ... FROM WINDOWS yourself."),
            };
            (step, format!("CREATE LOGIN [{name}] FROM WINDOWS (the domain account's SID is the same everywhere)"))
        };
        run.finding(Severity::Error, format!("{name} ({})", gap.replica))
            .instance(gap.replica)
            .ag(gap.ag)
            .replica(gap.replica)
            .message(format!(
                "On {p}, {users} {is} mapped to login {name} ({kind}, SID {sid}), which does not exist on {r}: after a failover to {r} \
                 the user{s} {is} orphaned and whoever logs in as {name} is refused (error 18456).",
                p = gap.primary,
                r = gap.replica,
                users = users_text(&gap.users),
                is = if gap.users.len() > 1 { "are" } else { "is" },
                s = if gap.users.len() > 1 { "s" } else { "" },
                sid = hex(&gap.sid),
            ))
            .evidence(evidence(&gap))
            .remediation(format!(
                "On {r}: {how}, and give it the server-level permissions and default database it has on {p}.",
                r = gap.replica,
                p = gap.primary
            ))
            .fix(fix)
            .emit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(v: Value) -> Row {
        serde_json::from_value(v).expect("a row")
    }

    #[test]
    fn only_users_mapped_to_a_login_need_one() {
        let base = json!({"principal_id": 5, "type": "S", "sid": "0x6A1D8E3B", "authentication_type": 1, "authentication_type_desc": "INSTANCE"});
        assert!(needs_login(&user(base.clone())));
        let with = |k: &str, v: Value| {
            let mut b = base.clone();
            b[k] = v;
            user(b)
        };
        assert!(!needs_login(&with("principal_id", json!(1))), "dbo");
        assert!(!needs_login(&with("authentication_type_desc", json!("NONE"))), "WITHOUT LOGIN");
        assert!(!needs_login(&with("authentication_type_desc", json!("DATABASE"))), "contained user");
        assert!(!needs_login(&with("type", json!("C"))), "certificate-mapped user");
        assert!(!needs_login(&with("sid", Value::Null)));
        let mut group = base.clone();
        group["type"] = json!("G");
        group["authentication_type_desc"] = json!("WINDOWS");
        assert!(needs_login(&user(group)), "Windows group user");
    }
}
