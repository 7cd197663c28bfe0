//! Seed: "Connection Handshake Failure" (endpoint-handshake-and-ownership.md), "Endpoint Access
//! (1418)" and "Join Database Fails (35250)" (troubleshoot-ag-configuration.md), "Failures Due to
//! Hard Errors" (session-failures-between-replicas.md).
//!
//! Reads the `errorlog` rows (`LogDate`, `ProcessInfo`, `Text` from sp_readerrorlog). SQL Server
//! writes a numbered error as two lines with the same LogDate and ProcessInfo: `Error: N, Severity:
//! S, State: X.` and then the message; handshake failures from `Logon` come as one line. Messages
//! repeat every few seconds while the problem lasts, so findings summarize: one per instance and
//! condition, with the count, the first and last time and one sample line.

use serde_json::{Value, json};

use super::{Check, CheckInfo, CheckRun, Ctx};
use crate::findings::{Category, FixStep, Phase, Severity};
use crate::fix::{statements, tsql};
use crate::snapshot::{Instance, Row, domains, keys};

const SEED_HANDSHAKE: &str = "endpoint-handshake-and-ownership: AlwaysOn – Connection Handshake Failure (SQL Server log)";

pub const CHECKS: &[Check] = &[
    Check {
        info: CheckInfo {
            id: "errorlog.connect_permission",
            category: Category::Errorlog,
            title: "Error log: a partner's login lacks CONNECT on the mirroring endpoint",
            description: "The error log shows \"Database Mirroring login attempt by user 'X' failed with error: 'Connection handshake failed. The login 'X' does not have CONNECT permission on the endpoint. State 84.'\" (error 28034): the service account of a partner replica has no CONNECT permission on this instance's database mirroring endpoint, so that partner cannot connect.",
            needs: &[keys::ERRORLOG, keys::DATABASE_MIRRORING_ENDPOINTS, keys::SERVER_PRINCIPALS, keys::SERVER_PERMISSIONS],
            related_errors: &[28034, 35250],
            seed: SEED_HANDSHAKE,
        },
        run: connect_permission,
    },
    Check {
        info: CheckInfo {
            id: "errorlog.encryption_mismatch",
            category: Category::Errorlog,
            title: "Error log: endpoint handshake fails on encryption",
            description: "The error log shows \"Connection handshake failed. There is no compatible encryption algorithm. State 22.\" (error 28027) or an OS call failing with \"do not possess a common algorithm\" (28031, TLS): the two database mirroring endpoints do not agree on encryption (DISABLED against REQUIRED, or no algorithm in common).",
            needs: &[keys::ERRORLOG, keys::DATABASE_MIRRORING_ENDPOINTS],
            related_errors: &[28027, 28031],
            seed: SEED_HANDSHAKE,
        },
        run: encryption_mismatch,
    },
    Check {
        info: CheckInfo {
            id: "errorlog.certificate",
            category: Category::Errorlog,
            title: "Error log: endpoint certificate authentication fails",
            description: "The error log shows handshake failures on certificates: the peer's certificate is invalid (expired, not yet valid; 28035), this endpoint's certificate was not found (28036), or the peer's certificate does not match the one in master (28045).",
            needs: &[keys::ERRORLOG],
            related_errors: &[28035, 28036, 28045],
            seed: SEED_HANDSHAKE,
        },
        run: certificate,
    },
    Check {
        info: CheckInfo {
            id: "errorlog.port_in_use",
            category: Category::Errorlog,
            title: "Error log: the endpoint cannot listen, its port is in use",
            description: "The error log shows error 9692, \"The Database Mirroring endpoint cannot listen on port N because it is in use by another process\": the endpoint shows STARTED but accepts no connection.",
            needs: &[keys::ERRORLOG, keys::DM_TCP_LISTENER_STATES],
            related_errors: &[9692],
            seed: "troubleshoot-ag-configuration: Network Access (another instance may have the port bound)",
        },
        run: port_in_use,
    },
    Check {
        info: CheckInfo {
            id: "errorlog.ag_errors",
            category: Category::Errorlog,
            title: "Error log: availability group connection errors",
            description: "Summarizes the availability group errors in the error log per instance and error number, with count and first/last time: 1418 (endpoint address cannot be reached), 35201 and 35206 (connection timeouts to a replica), 35250 (connection to the primary not active), 19407 (lease with the cluster expired).",
            needs: &[keys::ERRORLOG],
            related_errors: &[1418, 35201, 35206, 35250, 19407],
            seed: "troubleshoot-ag-configuration: Endpoint Access (1418), Join Database Fails (35250); session-failures-between-replicas: Failures Due to Hard Errors",
        },
        run: ag_errors,
    },
];

const QUOTES: &[char] = &['\'', '\u{2018}', '\u{2019}', '"'];

/// One message of the log, with its `Error: N` header when SQL Server wrote one.
struct Event<'s> {
    /// Position of its first row in the log, to keep log order.
    at: usize,
    number: Option<u32>,
    text: &'s str,
    date: Option<&'s str>,
    /// The header row (when any) and the message row, in log order.
    rows: (&'s Row, Option<&'s Row>),
    /// What the event is, when it is one the checks report ([`classify`], once per snapshot).
    kind: Option<Kind>,
}

/// `Error: 35250, Severity: 16, State: 7.` → 35250.
fn header_number(text: &str) -> Option<u32> {
    let rest = text.trim().strip_prefix("Error:")?;
    let (number, rest) = rest.split_once(',')?;
    rest.trim_start().starts_with("Severity:").then_some(())?;
    number.trim().parse().ok()
}

/// Pairs each `Error: N` header with its message line (the neighbour with the same LogDate and
/// ProcessInfo: after it in ascending order, before it in descending order).
fn events(rows: &[Row]) -> Vec<Event<'_>> {
    fn text(r: &Row) -> &str {
        r.str("Text").unwrap_or("")
    }
    let same_entry = |a: &Row, b: &Row| a.str("LogDate") == b.str("LogDate") && a.str("ProcessInfo") == b.str("ProcessInfo");
    let mut used = vec![false; rows.len()];
    let mut out = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let Some(number) = header_number(text(row)) else { continue };
        let partner = [i + 1, i.wrapping_sub(1)].into_iter().find(|&j| {
            rows.get(j).is_some_and(|r| !used[j] && same_entry(r, row) && header_number(text(r)).is_none())
        });
        used[i] = true;
        match partner {
            Some(j) => {
                used[j] = true;
                let (first, second) = if j < i { (&rows[j], row) } else { (row, &rows[j]) };
                out.push(Event { at: i.min(j), number: Some(number), text: text(&rows[j]), date: row.str("LogDate"), rows: (first, Some(second)), kind: None });
            }
            None => out.push(Event { at: i, number: Some(number), text: text(row), date: row.str("LogDate"), rows: (row, None), kind: None }),
        }
    }
    for (i, row) in rows.iter().enumerate() {
        if !used[i] {
            out.push(Event { at: i, number: None, text: text(row), date: row.str("LogDate"), rows: (row, None), kind: None });
        }
    }
    out.sort_by_key(|e| e.at);
    out
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Kind {
    Connect(String),
    Encryption,
    Certificate(u32),
    PortInUse(Option<u16>),
    Ag(u32),
}

const AG_TEMPLATES: &[(u32, &[Needle])] = &[
    (1418, &[Needle::new("server network address"), Needle::new("can not be reached or does not exist")]),
    (35201, &[Needle::new("connection timeout has occurred while attempting to establish a connection to availability replica")]),
    (35206, &[Needle::new("connection timeout has occurred on a previously established connection to availability replica")]),
    (35250, &[Needle::new("connection to the primary replica is not active")]),
    (19407, &[Needle::new("lease between availability group"), Needle::new("has expired")]),
];

/// A lowercase ASCII phrase with its Boyer-Moore-Horspool shift table, built at compile time: the
/// classifier looks for about a dozen phrases in every error-log line, and building a searcher
/// per phrase per line (`str::contains`) cost more than the rest of the analysis of the log.
struct Needle {
    bytes: &'static [u8],
    shift: [u8; 256],
}

impl Needle {
    const fn new(phrase: &'static str) -> Needle {
        let bytes = phrase.as_bytes();
        assert!(!bytes.is_empty() && bytes.len() < 256);
        let mut shift = [bytes.len() as u8; 256];
        let mut i = 0;
        while i + 1 < bytes.len() {
            shift[bytes[i] as usize] = (bytes.len() - 1 - i) as u8;
            i += 1;
        }
        Needle { bytes, shift }
    }

    fn found_in(&self, haystack: &str) -> bool {
        let (hay, n) = (haystack.as_bytes(), self.bytes);
        let mut at = 0;
        while at + n.len() <= hay.len() {
            let last = hay[at + n.len() - 1];
            if last == n[n.len() - 1] && &hay[at..at + n.len()] == n {
                return true;
            }
            at += usize::from(self.shift[usize::from(last)]);
        }
        false
    }
}

const HANDSHAKE: Needle = Needle::new("connection handshake failed");
const NO_CONNECT: Needle = Needle::new("does not have connect permission on the endpoint");
const NO_COMPATIBLE: Needle = Needle::new("there is no compatible");
const COMMON_ALGORITHM: Needle = Needle::new("common algorithm");
const PEER_INVALID: Needle = Needle::new("certificate used by the peer is invalid");
const NOT_FOUND: Needle = Needle::new("certificate used by this endpoint was not found");
const PEER_MISMATCH: Needle = Needle::new("certificate used by the peer does not match");
const CANNOT_LISTEN: Needle = Needle::new("endpoint cannot listen on port");
const PORT_IN_USE: Needle = Needle::new("in use by another process");

fn classify(event: &Event<'_>) -> Option<Kind> {
    let text = event.text;
    let lower = text.to_lowercase();
    if HANDSHAKE.found_in(&lower) {
        if NO_CONNECT.found_in(&lower) {
            return login_from(text).map(Kind::Connect);
        }
        if NO_COMPATIBLE.found_in(&lower) || COMMON_ALGORITHM.found_in(&lower) {
            return Some(Kind::Encryption);
        }
        if PEER_INVALID.found_in(&lower) {
            return Some(Kind::Certificate(28035));
        }
        if NOT_FOUND.found_in(&lower) {
            return Some(Kind::Certificate(28036));
        }
        if PEER_MISMATCH.found_in(&lower) {
            return Some(Kind::Certificate(28045));
        }
    }
    if CANNOT_LISTEN.found_in(&lower) && PORT_IN_USE.found_in(&lower) {
        return Some(Kind::PortInUse(port_from(text)));
    }
    if let Some((number, _)) = AG_TEMPLATES.iter().find(|(_, parts)| parts.iter().all(|p| p.found_in(&lower))) {
        return Some(Kind::Ag(*number));
    }
    match event.number {
        Some(n @ (28035 | 28036 | 28045)) => Some(Kind::Certificate(n)),
        Some(28027) => Some(Kind::Encryption),
        Some(9692) => Some(Kind::PortInUse(port_from(text))),
        Some(n) if AG_TEMPLATES.iter().any(|(m, _)| *m == n) => Some(Kind::Ag(n)),
        _ => None,
    }
}

/// The login of a 28034 message. SQL Server writes it twice: `... by user 'L.' failed with error:
/// 'Connection handshake failed. The login 'L' does not have CONNECT permission ...'`. The name may
/// itself contain quotes or "The login ", so the inner occurrence confirmed by the outer one wins.
pub(crate) fn login_from(text: &str) -> Option<String> {
    let end = text.rfind(" does not have CONNECT permission")?;
    let head = text[..end].strip_suffix(QUOTES)?;
    let mut first: Option<&str> = None;
    for (i, marker) in head.match_indices("The login ") {
        let Some(login) = head[i + marker.len()..].strip_prefix(QUOTES) else { continue };
        if login.is_empty() {
            continue;
        }
        // The outer "by user 'L.'" precedes the inner occurrence.
        if head[..i].contains(&format!("{login}.")) {
            return Some(login.to_string());
        }
        first.get_or_insert(login);
    }
    first.map(str::to_string)
}

fn port_from(text: &str) -> Option<u16> {
    // ASCII lowercase keeps byte offsets (full Unicode lowercase can change lengths, e.g. 'İ').
    let lower = text.to_ascii_lowercase();
    let at = lower.find("listen on port ")? + "listen on port ".len();
    let digits: String = text[at..].chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// `[CLIENT: 10.0.0.13]` → `10.0.0.13`.
fn client_from(text: &str) -> Option<&str> {
    let at = text.find("[CLIENT:")? + "[CLIENT:".len();
    let rest = &text[at..];
    Some(rest[..rest.find(']')?].trim()).filter(|c| !c.is_empty())
}

/// Repeated events of one condition on one instance.
struct Summary<'s> {
    kind: Kind,
    count: usize,
    first: Option<&'s str>,
    last: Option<&'s str>,
    sample: &'s Event<'s>,
    clients: Vec<&'s str>,
}

impl Summary<'_> {
    fn when(&self) -> String {
        match (self.first, self.last) {
            (Some(f), Some(l)) if f != l => format!("{} time{} between {f} and {l}", self.count, if self.count == 1 { "" } else { "s" }),
            (_, Some(l)) => format!("{} time{}, last at {l}", self.count, if self.count == 1 { "" } else { "s" }),
            _ => format!("{} time{}", self.count, if self.count == 1 { "" } else { "s" }),
        }
    }

    fn evidence(&self) -> Value {
        json!({
            "count": self.count,
            "first": self.first,
            "last": self.last,
            "sample": std::iter::once(self.sample.rows.0).chain(self.sample.rows.1).map(|r| r.pick(&["LogDate", "ProcessInfo", "Text"])).collect::<Vec<_>>(),
            "clients": self.clients,
        })
    }
}

/// Groups the events of `kinds` by equal kind, in order of first appearance.
fn summarize<'s>(events: &'s [Event<'s>], want: impl Fn(&Kind) -> bool) -> Vec<Summary<'s>> {
    let mut out: Vec<Summary<'s>> = Vec::new();
    // Summary index by kind (logins compared case-insensitively), and each summary's clients.
    let mut index_of: std::collections::HashMap<Kind, usize> = std::collections::HashMap::new();
    let mut clients_of: Vec<std::collections::HashSet<&'s str>> = Vec::new();
    for event in events {
        let Some(kind) = event.kind.clone().filter(|k| want(k)) else { continue };
        let key = match &kind {
            Kind::Connect(login) => Kind::Connect(login.to_ascii_lowercase()),
            other => other.clone(),
        };
        let index = *index_of.entry(key).or_insert_with(|| {
            out.push(Summary { kind, count: 0, first: None, last: None, sample: event, clients: Vec::new() });
            clients_of.push(Default::default());
            out.len() - 1
        });
        let s = &mut out[index];
        s.count += 1;
        if let Some(date) = event.date {
            // ISO-8601 dates compare as text.
            if s.first.is_none_or(|f| date < f) {
                s.first = Some(date);
            }
            if s.last.is_none_or(|l| date >= l) {
                s.last = Some(date);
                s.sample = event;
            }
        }
        if let Some(client) = client_from(event.text)
            && clients_of[index].insert(client)
        {
            s.clients.push(client);
        }
    }
    out
}

/// The instance's name as a replica (the `:Connect` target) and one AG it belongs to.
fn replica_of<'s>(ctx: &Ctx<'s>, inst: &'s Instance) -> (String, Option<&'s str>) {
    for ag in &ctx.topology.ags {
        for r in &ag.replicas {
            if r.instance.is_some_and(|i| std::ptr::eq(&ctx.snapshot.instances[i], inst)) {
                return (r.server_name.to_string(), Some(ag.name));
            }
        }
    }
    (inst.name().to_string(), None)
}

/// The replica a client address belongs to, from the endpoint probes' addresses.
fn replica_at(ctx: &Ctx<'_>, client: &str) -> Option<String> {
    ctx.snapshot
        .probes
        .iter()
        .find(|p| p.purpose.eq_ignore_ascii_case("endpoint") && p.address.as_deref().is_some_and(|a| a.trim() == client))
        .map(|p| p.subject.clone())
}

fn mirroring_endpoint(inst: &Instance) -> Option<&Row> {
    let is_mirroring = |r: &&Row| domains::is_mirroring_endpoint(r);
    inst.rows_or_empty(keys::DATABASE_MIRRORING_ENDPOINTS)
        .iter()
        .find(is_mirroring)
        .or_else(|| inst.rows_or_empty(keys::ENDPOINTS).iter().find(is_mirroring))
}

/// Runs `judge` over each instance's log events.
fn each_log<'s>(ctx: &Ctx<'s>, run: &mut CheckRun<'_>, mut judge: impl FnMut(&mut CheckRun<'_>, &'s Instance, &[Event<'_>])) {
    // The five errorlog checks read the same lines: each line is classified once per snapshot,
    // and each check sees only the events that are one of the kinds it reports (by row index, so
    // the memo does not borrow the snapshot).
    struct Classified {
        at: usize,
        number: Option<u32>,
        text: usize,
        date: Option<usize>,
        rows: (usize, Option<usize>),
        kind: Kind,
    }
    struct Kinds(Vec<Vec<Classified>>);
    let kinds = ctx.memo(|| {
        Kinds(
            ctx.instances()
                .map(|inst| {
                    let rows = inst.rows(keys::ERRORLOG).unwrap_or(&[]);
                    let index = |r: &Row| (r as *const Row as usize - rows.as_ptr() as usize) / std::mem::size_of::<Row>();
                    events(rows)
                        .iter()
                        .filter_map(|e| {
                            let kind = classify(e)?;
                            // Which of the event's rows its text and date were read from.
                            let both = [Some(e.rows.0), e.rows.1];
                            let text = both.iter().flatten().find(|r| std::ptr::eq(text_of(r).as_ptr(), e.text.as_ptr())).copied().unwrap_or(e.rows.0);
                            let date = e.date.and_then(|d| {
                                both.iter().flatten().find(|r| r.str("LogDate").is_some_and(|x| std::ptr::eq(x.as_ptr(), d.as_ptr()))).copied()
                            });
                            Some(Classified {
                                at: e.at,
                                number: e.number,
                                text: index(text),
                                date: date.map(index),
                                rows: (index(e.rows.0), e.rows.1.map(index)),
                                kind,
                            })
                        })
                        .collect()
                })
                .collect(),
        )
    });
    for (index, inst) in ctx.instances().enumerate() {
        let Some(rows) = run.rows(inst, keys::ERRORLOG) else { continue };
        let events: Vec<Event<'_>> = kinds.0[index]
            .iter()
            .map(|c| Event {
                at: c.at,
                number: c.number,
                text: text_of(&rows[c.text]),
                date: c.date.and_then(|i| rows[i].str("LogDate")),
                rows: (&rows[c.rows.0], c.rows.1.map(|i| &rows[i])),
                kind: Some(c.kind.clone()),
            })
            .collect();
        judge(run, inst, &events);
    }
}

fn text_of(r: &Row) -> &str {
    r.str("Text").unwrap_or("")
}


fn named(clients: &[&str], ctx: &Ctx<'_>) -> String {
    clients
        .iter()
        .map(|c| match replica_at(ctx, c) {
            Some(r) => format!("{c} ({r})"),
            None => c.to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn connect_permission(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
    each_log(ctx, run, |run, inst, events| {
        let summaries = summarize(events, |k| matches!(k, Kind::Connect(_)));
        if summaries.is_empty() {
            return;
        }
        let (target, ag) = replica_of(ctx, inst);
        let principals = inst.rows(keys::SERVER_PRINCIPALS).ok();
        // Logins by lowercase name (the first row wins, as a scan would find it), built once.
        let mut by_name: std::collections::HashMap<String, &Row> = std::collections::HashMap::new();
        for r in principals.unwrap_or(&[]) {
            if let Some(n) = r.str("name") {
                by_name.entry(n.to_ascii_lowercase()).or_insert(r);
            }
        }
        for s in summaries {
            let Kind::Connect(login) = &s.kind else { continue };
            let target = target.clone();
            let shown = tsql::comment(login);
            let endpoint = mirroring_endpoint(inst);
            let endpoint_name = endpoint.and_then(|e| e.str("name"));
            let principal = principals.and_then(|_| by_name.get(&login.to_ascii_lowercase()).copied());
            let granted_now = match (principal, endpoint) {
                (Some(p), Some(e)) => inst.rows_or_empty(keys::SERVER_PERMISSIONS).iter().any(|perm| {
                    crate::snapshot::domains::is_endpoint_permission(perm)
                        && perm.int("major_id") == e.int("endpoint_id")
                        && perm.int("grantee_principal_id") == p.int("principal_id")
                        && perm.is("type", "CO")
                        && (perm.is("state", "G") || perm.is("state", "W"))
                }),
                _ => false,
            };
            let login_note = match (principals, principal) {
                (Some(_), None) => format!(
                    " The login {shown} does not exist on {target} (sys.server_principals): accounts.login_missing covers \
                     creating it; the fix below creates it too, guarded by IF NOT EXISTS."
                ),
                (None, _) => " Whether the login exists on this instance could not be read (server_principals).".to_string(),
                _ => String::new(),
            };
            let from = if s.clients.is_empty() {
                String::new()
            } else {
                format!(" from {}", named(&s.clients, ctx))
            };
            let mut evidence = s.evidence();
            evidence["login"] = json!(login);
            evidence["database_mirroring_endpoints"] = json!(endpoint.map(|e| e.pick(&["name", "endpoint_id", "state_desc"])));
            evidence["server_principals"] = json!(principal.map(|p| p.pick(&["name", "principal_id", "type_desc", "is_disabled"])));
            let severity = if granted_now { Severity::Info } else { Severity::Error };
            let status = if granted_now {
                format!(
                    " {shown} now holds CONNECT on the endpoint: these failures predate the GRANT (if they continue, look \
                     for a DENY to a Windows group it belongs to)."
                )
            } else {
                String::new()
            };
            let mut draft = run
                .finding(severity, login.as_str())
                .instance(&target)
                .message(format!(
                    "{target}'s error log shows {}{from} (error 28034, {}): \"{}\". The login {shown} that a partner \
                     replica's service presents has no CONNECT permission on {target}'s database mirroring endpoint{}, so \
                     that partner cannot connect to {target}.{login_note}{status}",
                    if s.count == 1 { "a handshake failure" } else { "repeated handshake failures" },
                    s.when(),
                    tsql::comment(s.sample.text),
                    endpoint_name.map(|n| format!(" [{}]", tsql::comment(n))).unwrap_or_default(),
                ))
                .evidence(evidence)
                .related(&[28034, 35250]);
            if let Some(ag) = ag {
                draft = draft.ag(ag);
            }
            if granted_now {
                draft.remediation("No change needed if the failures have stopped.").emit();
                continue;
            }
            let fixes = grant_fix(&target, endpoint_name, login, principal.is_some());
            draft
                .remediation(format!(
                    "On {target} (the instance whose log it is), GRANT CONNECT ON ENDPOINT::{} TO [{}], creating the login \
                     first if it does not exist.",
                    endpoint_name.map_or("[<its mirroring endpoint>]".to_string(), |n| format!("[{}]", tsql::comment(n).replace(']', "]]"))),
                    shown.replace(']', "]]"),
                ))
                .fixes(fixes)
                .emit();
        }
    });
}

/// Guarded CREATE LOGIN (Windows-form names the snapshot does not show as existing) and GRANT
/// CONNECT on `target`; manual when a name cannot be written safely.
fn grant_fix(target: &str, endpoint: Option<&str>, login: &str, login_exists: bool) -> Vec<FixStep> {
    let Some(endpoint) = endpoint else {
        return vec![FixStep::manual(
            target,
            Phase::GrantConnect,
            format!(
                "The mirroring endpoint's name is not in the snapshot: on {target} run\n\
                 SELECT name FROM sys.database_mirroring_endpoints;\n\
                 GRANT CONNECT ON ENDPOINT::[<that name>] TO [{}];",
                tsql::comment(login).replace(']', "]]")
            ),
        )];
    };
    let grant = statements::grant_connect(endpoint, login);
    let create = login.contains('\\').then(|| statements::create_windows_login(login)).flatten();
    match grant {
        Some(grant) if login_exists => vec![FixStep::sql(target, Phase::GrantConnect, grant)],
        Some(grant) if login.contains('\\') => match create {
            Some(create) => vec![FixStep::sql(target, Phase::CreateLogin, create), FixStep::sql(target, Phase::GrantConnect, grant)],
            None => manual_grant(target, endpoint, login),
        },
        // A SQL or certificate-mapped login cannot be created from the log alone: grant only if it exists.
        Some(grant) => vec![FixStep::sql(
            target,
            Phase::GrantConnect,
            format!("IF EXISTS (SELECT 1 FROM sys.server_principals WHERE name = {}) {grant}", tsql::literal(login)),
        )],
        None => manual_grant(target, endpoint, login),
    }
}

fn manual_grant(target: &str, endpoint: &str, login: &str) -> Vec<FixStep> {
    vec![FixStep::manual(
        target,
        Phase::GrantConnect,
        format!(
            "The login name {} (or the endpoint name {}) contains characters that cannot be written safely in a script: \
             grant CONNECT on the endpoint to it by hand (SSMS: Server Objects > Endpoints, or QUOTENAME in dynamic SQL).",
            tsql::literal(login),
            tsql::literal(endpoint)
        ),
    )]
}

fn encryption_mismatch(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
    each_log(ctx, run, |run, inst, events| {
        for s in summarize(events, |k| *k == Kind::Encryption) {
            let (target, ag) = replica_of(ctx, inst);
            let endpoint = mirroring_endpoint(inst);
            let settings = endpoint.map(|e| {
                format!(
                    " {target}'s endpoint [{}] has encryption_algorithm_desc = {} (is_encryption_enabled = {}).",
                    tsql::comment(e.str("name").unwrap_or("?")),
                    e.code("encryption_algorithm_desc").unwrap_or("?"),
                    e.bit("is_encryption_enabled").map_or("?".to_string(), |b| b.to_string())
                )
            });
            let from = if s.clients.is_empty() { String::new() } else { format!(" from {}", named(&s.clients, ctx)) };
            let mut evidence = s.evidence();
            evidence["database_mirroring_endpoints"] = json!(endpoint.map(|e| e.pick(&[
                "name",
                "is_encryption_enabled",
                "encryption_algorithm",
                "encryption_algorithm_desc"
            ])));
            let mut draft = run
                .finding(Severity::Error, format!("{target} endpoint encryption"))
                .instance(&target)
                .message(format!(
                    "{target}'s error log shows endpoint handshakes failing on encryption {}{from}: \"{}\". The database \
                     mirroring endpoints do not agree on encryption (one DISABLED and the other REQUIRED, or REQUIRED with no \
                     algorithm in common, or no common TLS algorithm), so the replicas cannot connect.{}",
                    s.when(),
                    tsql::comment(s.sample.text),
                    settings.unwrap_or_default()
                ))
                .evidence(evidence)
                .remediation(
                    "Compare encryption_algorithm_desc of every replica's endpoint (sys.database_mirroring_endpoints) and make \
                     them compatible, preferably ENCRYPTION = REQUIRED ALGORITHM AES everywhere (the endpoint checks name the \
                     mismatching pair).",
                )
                .fix(FixStep::manual(
                    &target,
                    Phase::AlterEndpoint,
                    "On every replica, compare: SELECT name, encryption_algorithm_desc FROM sys.database_mirroring_endpoints;\n\
                     then align them, e.g.: ALTER ENDPOINT [<endpoint>] FOR DATABASE_MIRRORING (ENCRYPTION = REQUIRED ALGORITHM AES);",
                ));
            if let Some(ag) = ag {
                draft = draft.ag(ag);
            }
            draft.emit();
        }
    });
}

fn certificate(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
    each_log(ctx, run, |run, inst, events| {
        for s in summarize(events, |k| matches!(k, Kind::Certificate(_))) {
            let Kind::Certificate(number) = s.kind else { continue };
            let (target, ag) = replica_of(ctx, inst);
            let meaning = match number {
                28035 => "the certificate the peer presented is invalid (expired or not yet valid)",
                28036 => "the certificate this endpoint is configured with was not found in master (dropped or renamed)",
                _ => "the peer's certificate does not match the one in master with the same issuer and serial number (it was re-created on the peer but not re-imported here)",
            };
            let from = if s.clients.is_empty() { String::new() } else { format!(" from {}", named(&s.clients, ctx)) };
            let mut draft = run
                .finding(Severity::Error, format!("{number}"))
                .instance(&target)
                .message(format!(
                    "{target}'s error log shows endpoint certificate authentication failing (error {number}) {}{from}: \"{}\". \
                     Meaning: {meaning}. Until it is fixed the replicas using certificate authentication cannot connect.",
                    s.when(),
                    tsql::comment(s.sample.text),
                ))
                .evidence(s.evidence())
                .related(&[number])
                .remediation(
                    "Check the certificates on both sides (SELECT name, subject, start_date, expiry_date, thumbprint FROM \
                     master.sys.certificates), renew an expired one, and re-import the peer's current certificate \
                     (CREATE CERTIFICATE ... FROM FILE) for the login that its endpoint authenticates as.",
                )
                .fix(FixStep::manual(
                    &target,
                    Phase::AlterEndpoint,
                    "SELECT name, subject, start_date, expiry_date, thumbprint FROM master.sys.certificates;\n\
                     Renew expired certificates, back up the current one (BACKUP CERTIFICATE ... TO FILE) and re-create it on the partner \
                     (CREATE CERTIFICATE ... AUTHORIZATION <user> FROM FILE), then ALTER ENDPOINT ... (AUTHENTICATION = CERTIFICATE <cert>).",
                ));
            if let Some(ag) = ag {
                draft = draft.ag(ag);
            }
            draft.emit();
        }
    });
}

fn port_in_use(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
    each_log(ctx, run, |run, inst, events| {
        for s in summarize(events, |k| matches!(k, Kind::PortInUse(_))) {
            let Kind::PortInUse(port) = s.kind else { continue };
            let (target, ag) = replica_of(ctx, inst);
            let port_text = port.map_or("its port".to_string(), |p| p.to_string());
            // If the endpoint listens on that port now, the conflict is over.
            let listening_now = port.and_then(|p| {
                inst.rows(keys::DM_TCP_LISTENER_STATES).ok()?.iter().find(|r| {
                    domains::is_mirroring_listener(r)
                        && r.int("port") == Some(i64::from(p))
                        && r.code("state_desc").is_none_or(|st| st.eq_ignore_ascii_case("ONLINE"))
                })
            });
            let mut evidence = s.evidence();
            evidence["port"] = json!(port);
            evidence["dm_tcp_listener_states"] = json!(listening_now.map(|r| r.pick(&["ip_address", "port", "type_desc", "state_desc"])));
            let (severity, status) = if listening_now.is_some() {
                (Severity::Info, format!(" dm_tcp_listener_states now shows the endpoint ONLINE on {port_text}: the conflict has ended."))
            } else {
                (
                    Severity::Error,
                    format!(" The endpoint may show STARTED in sys.endpoints and still accept no connection on {port_text}."),
                )
            };
            let mut draft = run
                .finding(severity, format!("port {port_text}"))
                .instance(&target)
                .message(format!(
                    "{target}'s error log shows error 9692 {}: \"{}\". Another process (another SQL Server instance's endpoint, \
                     perhaps) holds port {port_text}, so {target}'s database mirroring endpoint cannot listen and partners \
                     cannot connect to it.{status}",
                    s.when(),
                    tsql::comment(s.sample.text),
                ))
                .evidence(evidence)
                .remediation(format!(
                    "On {target}'s computer find the process that holds {port_text} (Get-NetTCPConnection -LocalPort \
                     {port_text} -State Listen; Get-Process -Id <OwningProcess>); stop it or move it, or move this endpoint to \
                     a free port (then update endpoint_url of this replica), and restart the endpoint (STATE = STOPPED, then \
                     STARTED)."
                ));
            if severity == Severity::Error {
                draft = draft.fix(FixStep::manual(
                    &target,
                    Phase::Prerequisite,
                    format!(
                        "Get-NetTCPConnection -LocalPort {port_text} -State Listen | Select-Object LocalAddress, OwningProcess\n\
                         Get-Process -Id <OwningProcess>"
                    ),
                ));
            }
            if let Some(ag) = ag {
                draft = draft.ag(ag);
            }
            draft.emit();
        }
    });
}

fn ag_errors(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
    each_log(ctx, run, |run, inst, events| {
        for s in summarize(events, |k| matches!(k, Kind::Ag(_))) {
            let Kind::Ag(number) = s.kind else { continue };
            let (target, ag) = replica_of(ctx, inst);
            let (meaning, checks) = match number {
                1418 => (
                    "the server network address in an endpoint URL cannot be reached or does not exist",
                    "endpoint_url.*, network.*, endpoint.not_started",
                ),
                35201 => (
                    "a connection to a replica timed out: a networking or firewall issue, or the endpoint URL does not name the database mirroring endpoint of that server",
                    "network.*, endpoint_url.*, endpoint.*",
                ),
                35206 => (
                    "an established connection to a replica timed out: a networking or firewall issue, or the replica moved to the RESOLVING role",
                    "network.*, session.*",
                ),
                35250 => (
                    "the connection to the primary replica is not active (endpoint missing or not started, port blocked, URL or port mismatch, missing CONNECT, DNS)",
                    "endpoint.*, network.*, endpoint_url.*, accounts.*, errorlog.connect_permission",
                ),
                _ => (
                    "the lease between the availability group and the Windows Server Failover Cluster expired: the AG went to RESOLVING (often a hung or overloaded server, or cluster communication loss)",
                    "health.*, hadr.no_cluster",
                ),
            };
            let mut draft = run
                .finding(Severity::Warning, format!("{number}"))
                .instance(&target)
                .message(format!(
                    "{target}'s error log shows error {number} {}: {meaning}. Sample: \"{}\". See the checks {checks} for \
                     the cause.",
                    s.when(),
                    tsql::comment(s.sample.text),
                ))
                .evidence(s.evidence())
                .related(&[number])
                .remediation(format!(
                    "Fix the cause the related checks report ({checks}); the error stops once the replicas connect. `agdiag \
                     explain {number}` lists the diagnosis steps."
                ));
            if let Some(ag) = ag {
                draft = draft.ag(ag);
            }
            draft.emit();
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEEN: &str = "Database Mirroring login attempt by user 'CONTOSO\\SQL3$.' failed with error: 'Connection handshake failed. The login 'CONTOSO\\SQL3$' does not have CONNECT permission on the endpoint. State 84.'.  [CLIENT: 10.0.0.13]";

    fn log(user: &str) -> String {
        format!(
            "Database Mirroring login attempt by user '{user}.' failed with error: 'Connection handshake failed. The login '{user}' does not have CONNECT permission on the endpoint. State 84.'.  [CLIENT: 10.0.0.13]"
        )
    }

    #[test]
    fn parses_the_login_as_sql_server_writes_it() {
        assert_eq!(login_from(SEEN).as_deref(), Some("CONTOSO\\SQL3$"));
        assert_eq!(client_from(SEEN), Some("10.0.0.13"));
        for user in ["CONTOSO\\Jürgen", "CONTOSO\\O'Brien", "CONTOSO\\O''Brien", "CONTOSO\\a]b", "CONTOSO\\The login 'x", "x' does not have CONNECT permission"] {
            assert_eq!(login_from(&log(user)).as_deref(), Some(user), "{user}");
        }
    }

    #[test]
    fn parses_the_seed_blog_with_typographic_quotes() {
        let blog = "Database Mirroring login attempt by user \u{2018}Domain\\user.\u{2019} failed with error: \u{2018}Connection handshake failed. The login \u{2018}Domain\\user\u{2019} does not have CONNECT permission on the endpoint. State 84.\u{2019}. [CLIENT:]";
        assert_eq!(login_from(blog).as_deref(), Some("Domain\\user"));
        assert_eq!(client_from(blog), None);
    }

    #[test]
    fn headers_pair_with_their_message_in_either_order() {
        let row = |date: &str, text: &str| Row::from([("LogDate", json!(date)), ("ProcessInfo", json!("spid61")), ("Text", json!(text))]);
        let asc = vec![row("d1", "Error: 35250, Severity: 16, State: 7."), row("d1", "The connection to the primary replica is not active.  The command cannot be processed.")];
        let desc: Vec<Row> = asc.iter().rev().cloned().collect();
        for rows in [asc, desc] {
            let ev = events(&rows);
            assert_eq!(ev.len(), 1);
            assert_eq!(ev[0].number, Some(35250));
            assert!(ev[0].text.starts_with("The connection"));
            assert_eq!(classify(&ev[0]), Some(Kind::Ag(35250)));
        }
        assert_eq!(header_number("Error: 9692, Severity: 16, State: 1."), Some(9692));
        assert_eq!(header_number("Error: in the middle"), None);
    }

    #[test]
    fn port_is_read_from_9692() {
        assert_eq!(
            port_from("The Database Mirroring endpoint cannot listen on port 5022 because it is in use by another process."),
            Some(5022)
        );
    }
}
