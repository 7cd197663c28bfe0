//! Checks a client connection string (ADO.NET / ODBC / OLE DB keywords and synonyms) against the
//! AG in a snapshot: listener as server, ApplicationIntent, an AG database, MultiSubnetFailover.
//!
//! Seed: "Read-Only Routing is Not Working Correctly", step 3 (troubleshoot-ag-configuration.md):
//! the string must name the listener (for a DNN listener, with the DNN port), a database in the AG,
//! ApplicationIntent=ReadOnly, and MultiSubnetFailover=True for DNN and multi-subnet listeners.
//!
//! Secrets: a connection string may carry a password. Nothing here ever copies a Password/PWD (or
//! other secret) value, nor any unparsed fragment that could be part of one, into a finding.

use serde_json::{Map, Value, json};

use crate::checks::{CheckInfo, CheckRun};
use crate::findings::{Category, Finding, Severity};
use crate::snapshot::{Row, Snapshot, keys};
use crate::tcp_url::{HostKind, TcpUrl, host_kind};
use crate::topology::{AgView, Topology, guid};

const SEED: &str = "troubleshoot-ag-configuration: Read-Only Routing is Not Working Correctly, step 3";

/// The connection-string checks, for the catalog (`agdiag checks`). They run through
/// [`check_connection_string`], not over a snapshot alone.
pub const CHECKS: &[CheckInfo] = &[
    CheckInfo {
        id: "connection_string.malformed",
        category: Category::Listener,
        title: "Connection string cannot be parsed",
        description: "The text is not a list of keyword=value pairs (an unterminated quote or brace, or a fragment without '='). Clients reject it or read different values than intended.",
        needs: &[],
        related_errors: &[],
        seed: SEED,
    },
    CheckInfo {
        id: "connection_string.server_not_listener",
        category: Category::Listener,
        title: "Connection string does not connect through the AG listener",
        description: "Server/Data Source names a replica (its instance name, machine name or IP) instead of the listener's DNS name, or the wrong port for the listener (a DNN listener is reached only on its own DNN port). Such connections do not follow a failover and are never read-only routed.",
        needs: &[keys::AVAILABILITY_GROUP_LISTENERS, keys::AVAILABILITY_REPLICAS],
        related_errors: &[],
        seed: SEED,
    },
    CheckInfo {
        id: "connection_string.application_intent",
        category: Category::Routing,
        title: "ApplicationIntent does not request read-only routing",
        description: "The AG has read-only routing lists but the connection string does not say ApplicationIntent=ReadOnly (or gives an invalid value), so the connection stays on the primary; or it asks for ReadOnly while no routing list exists.",
        needs: &[keys::AVAILABILITY_READ_ONLY_ROUTING_LISTS],
        related_errors: &[978],
        seed: SEED,
    },
    CheckInfo {
        id: "connection_string.database_not_in_ag",
        category: Category::Routing,
        title: "Connection string's database is not in the availability group",
        description: "Database/Initial Catalog names a database that is not in the AG (or none, so the login's default database is used). Read-only routing only happens when the initial database is an AG database, and after a failover a non-AG database is not on the new primary.",
        needs: &[keys::AVAILABILITY_DATABASES_CLUSTER],
        related_errors: &[],
        seed: SEED,
    },
    CheckInfo {
        id: "connection_string.multi_subnet_failover",
        category: Category::Listener,
        title: "MultiSubnetFailover is not True for a multi-subnet or DNN listener",
        description: "The listener has IP addresses in several subnets, or is a distributed network name (DNN). Without MultiSubnetFailover=True the client tries the resolved addresses one at a time and waits for each to time out (21 s or more) after a failover; for a DNN listener the setting is required.",
        needs: &[keys::AVAILABILITY_GROUP_LISTENERS, keys::AVAILABILITY_GROUP_LISTENER_IP_ADDRESSES],
        related_errors: &[],
        seed: SEED,
    },
];

fn info(id: &str) -> &'static CheckInfo {
    CHECKS.iter().find(|c| c.id == id).expect("connection_string check ids are in CHECKS")
}

// ---------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------

/// One `keyword=value` pair as written (keyword trimmed, value unquoted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    pub key: String,
    pub value: String,
}

/// A parsed connection string. `problems` describe what could not be parsed, by position only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectionString {
    pub pairs: Vec<Pair>,
    pub problems: Vec<String>,
}

/// The keyword with case and spaces removed, so `Data Source` = `datasource`, `Application Intent` =
/// `ApplicationIntent`.
fn canonical(key: &str) -> String {
    key.chars().filter(|c| !c.is_whitespace()).flat_map(char::to_lowercase).collect()
}

pub const SERVER_KEYS: &[&str] = &["server", "datasource", "address", "addr", "networkaddress"];
pub const DATABASE_KEYS: &[&str] = &["database", "initialcatalog"];
pub const INTENT_KEYS: &[&str] = &["applicationintent"];
pub const MULTI_SUBNET_KEYS: &[&str] = &["multisubnetfailover"];

/// Keywords whose values are secrets and never leave the parser.
fn is_secret(key: &str) -> bool {
    let k = canonical(key);
    k == "pwd" || k.contains("password") || k.contains("secret") || k.contains("token") || k == "accountkey"
}

impl ConnectionString {
    /// Parses ADO.NET / OLE DB (`"…"` or `'…'` with the quote doubled inside) and ODBC (`{…}` with
    /// `}}` inside) quoting; `==` in a keyword is a literal `=`. Never fails: problems are recorded.
    pub fn parse(text: &str) -> ConnectionString {
        let chars: Vec<char> = text.chars().collect();
        let mut out = ConnectionString::default();
        let mut i = 0;
        while i < chars.len() {
            while i < chars.len() && (chars[i].is_whitespace() || chars[i] == ';') {
                i += 1;
            }
            if i >= chars.len() {
                break;
            }
            let start = i;
            let mut key = String::new();
            let mut found_eq = false;
            while i < chars.len() {
                match chars[i] {
                    '=' if chars.get(i + 1) == Some(&'=') => {
                        key.push('=');
                        i += 2;
                    }
                    '=' => {
                        found_eq = true;
                        i += 1;
                        break;
                    }
                    ';' => break,
                    c => {
                        key.push(c);
                        i += 1;
                    }
                }
            }
            if !found_eq {
                // The fragment may be the tail of an unquoted password: report where, never what.
                out.problems.push(format!("text without '=' at character {}", start + 1));
                continue;
            }
            let key = key.trim().to_string();
            while i < chars.len() && chars[i].is_whitespace() && chars[i] != ';' {
                i += 1;
            }
            let value_start = i;
            let mut value = String::new();
            let closing = match chars.get(i) {
                Some('"') => Some('"'),
                Some('\'') => Some('\''),
                Some('{') => Some('}'),
                _ => None,
            };
            if let Some(close) = closing {
                i += 1;
                let mut terminated = false;
                while i < chars.len() {
                    if chars[i] == close {
                        if chars.get(i + 1) == Some(&close) {
                            value.push(close);
                            i += 2;
                            continue;
                        }
                        terminated = true;
                        i += 1;
                        break;
                    }
                    value.push(chars[i]);
                    i += 1;
                }
                if !terminated {
                    // The rest of the text was swallowed and may hold other pairs, a password among
                    // them: drop the value rather than let it reach a message or evidence.
                    out.problems.push(format!(
                        "the value of keyword '{}' starting at character {} has no closing {close}",
                        safe_key(&key),
                        value_start + 1
                    ));
                    continue;
                }
                // Only whitespace may follow a quoted value before the next ';'.
                let mut extra = false;
                while i < chars.len() && chars[i] != ';' {
                    extra |= !chars[i].is_whitespace();
                    i += 1;
                }
                if extra {
                    out.problems.push(format!(
                        "unexpected text after the quoted value of keyword '{}' (character {})",
                        safe_key(&key),
                        value_start + 1
                    ));
                }
            } else {
                while i < chars.len() && chars[i] != ';' {
                    value.push(chars[i]);
                    i += 1;
                }
                value = value.trim().to_string();
            }
            if key.is_empty() {
                out.problems.push(format!("a value without a keyword at character {}", start + 1));
                continue;
            }
            out.pairs.push(Pair { key, value });
        }
        out
    }

    /// The value of the first of `names` (canonical keywords) present; the last occurrence wins, as
    /// in SqlClient.
    pub fn get(&self, names: &[&str]) -> Option<&Pair> {
        self.pairs.iter().rev().find(|p| names.contains(&canonical(&p.key).as_str()))
    }

    /// The pairs as evidence, with every secret value replaced.
    pub fn redacted(&self) -> Value {
        let mut map = Map::new();
        for p in &self.pairs {
            let value = if is_secret(&p.key) { json!("<redacted>") } else { json!(p.value) };
            map.insert(safe_key(&p.key), value);
        }
        Value::Object(map)
    }
}

/// A keyword for messages: secrets keep their name (the name is not the secret), control
/// characters are dropped.
fn safe_key(key: &str) -> String {
    key.chars().filter(|c| !c.is_control()).collect()
}

/// `Server` as SqlClient reads it: `[protocol:]host[\instance][,port]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSpec {
    pub protocol: Option<String>,
    pub host: String,
    pub instance: Option<String>,
    pub port: Option<u16>,
    /// The text after the comma when it is not a port number.
    pub bad_port: Option<String>,
}

pub fn parse_server(value: &str) -> ServerSpec {
    let mut rest = value.trim();
    let mut protocol = None;
    for prefix in ["tcp:", "np:", "lpc:", "admin:"] {
        // `get` rather than slicing: the text may start with a multi-byte character.
        if let Some(head) = rest.get(..prefix.len())
            && head.eq_ignore_ascii_case(prefix)
        {
            protocol = Some(prefix.trim_end_matches(':').to_ascii_lowercase());
            rest = &rest[prefix.len()..];
            break;
        }
    }
    let (address, port_text) = match rest.rsplit_once(',') {
        Some((a, p)) => (a.trim(), Some(p.trim())),
        None => (rest, None),
    };
    let (port, bad_port) = match port_text {
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => (Some(n), None),
            _ => (None, Some(p.to_string())),
        },
        None => (None, None),
    };
    let (host, instance) = match address.split_once('\\') {
        Some((h, i)) => (h.trim(), Some(i.trim().to_string())),
        None => (address, None),
    };
    ServerSpec {
        protocol,
        host: host.trim_start_matches('[').trim_end_matches(']').to_string(),
        instance,
        port,
        bad_port,
    }
}

fn truthy(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" => Some(true),
        "false" | "no" | "0" => Some(false),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// What the snapshot says about the AGs
// ---------------------------------------------------------------------------------------------

struct Listener<'s> {
    row: &'s Row,
    dns_name: &'s str,
    port: Option<i64>,
    dnn: bool,
    ips: Vec<&'s Row>,
}

impl Listener<'_> {
    fn subnets(&self) -> Vec<String> {
        let mut subnets: Vec<String> = self
            .ips
            .iter()
            .filter_map(|r| r.str("network_subnet_ip").or(r.str("ip_address")))
            .map(str::to_ascii_lowercase)
            .collect();
        subnets.sort();
        subnets.dedup();
        subnets
    }

    fn multi_subnet(&self) -> bool {
        self.subnets().len() > 1
            || self.row.str("ip_configuration_string_from_cluster").is_some_and(|s| s.to_ascii_uppercase().contains(" OR "))
    }

    fn evidence(&self) -> Value {
        json!({
            "availability_group_listeners": self.row.pick(&["dns_name", "port", "is_distributed_network_name", "ip_configuration_string_from_cluster"]),
            "availability_group_listener_ip_addresses": self.ips.iter().map(|r| r.pick(&["ip_address", "network_subnet_ip", "network_subnet_prefix_length", "state_desc"])).collect::<Vec<_>>(),
        })
    }
}

struct AgFacts<'t, 's> {
    ag: &'t AgView<'s>,
    listeners: Vec<Listener<'s>>,
    /// `None` when `availability_databases_cluster` was not collected anywhere.
    databases: Option<Vec<&'s str>>,
    has_routing_lists: bool,
}

fn ag_facts<'t, 's>(snapshot: &'s Snapshot, topology: &'t Topology<'s>) -> Vec<AgFacts<'t, 's>> {
    topology
        .ags
        .iter()
        .map(|ag| {
            let source = snapshot.instances.get(ag.source);
            let rows = |key: &'static str| source.map(|i| i.rows_or_empty(key)).unwrap_or(&[]);
            let listeners = rows(keys::AVAILABILITY_GROUP_LISTENERS)
                .iter()
                .filter(|l| guid(l, "group_id").as_deref() == Some(ag.group_id.as_str()))
                .filter_map(|row| {
                    let dns_name = row.str("dns_name")?;
                    let id = guid(row, "listener_id");
                    let ips = rows(keys::AVAILABILITY_GROUP_LISTENER_IP_ADDRESSES)
                        .iter()
                        .filter(|ip| id.is_some() && guid(ip, "listener_id") == id)
                        .collect();
                    Some(Listener {
                        row,
                        dns_name,
                        port: row.int("port"),
                        dnn: row.bit("is_distributed_network_name") == Some(true),
                        ips,
                    })
                })
                .collect();
            let mut databases: Option<Vec<&'s str>> = None;
            let mut seen = std::collections::HashSet::new();
            for inst in &snapshot.instances {
                if let Ok(dbs) = inst.rows(keys::AVAILABILITY_DATABASES_CLUSTER) {
                    let list = databases.get_or_insert_with(Vec::new);
                    for db in dbs.iter().filter(|d| guid(d, "group_id").as_deref() == Some(ag.group_id.as_str())) {
                        if let Some(name) = db.str("database_name")
                            && seen.insert(name.to_ascii_lowercase())
                        {
                            list.push(name);
                        }
                    }
                }
            }
            let lists = crate::routing_simulation::source_list_rows(snapshot, ag);
            let has_routing_lists = !crate::routing_simulation::list_entries(ag, lists).is_empty();
            AgFacts { ag, listeners, databases, has_routing_lists }
        })
        .collect()
}

/// True when the host the client names is `name`: equal, or an FQDN whose first label is `name`.
fn host_is(host: &str, name: &str) -> bool {
    let host = host.trim_end_matches('.');
    host.eq_ignore_ascii_case(name)
        || (host_kind(host) == HostKind::Fqdn && host.split('.').next().is_some_and(|l| l.eq_ignore_ascii_case(name)))
        || (host_kind(name) == HostKind::Fqdn && name.split('.').next().is_some_and(|l| l.eq_ignore_ascii_case(host)))
}

/// The replica of `ag` that `host` names (server name, machine name, URL host, or a probed address).
fn replica_named_by<'a>(snapshot: &Snapshot, ag: &'a AgView<'_>, host: &str) -> Option<&'a str> {
    ag.replicas.iter().map(|r| r.server_name).find(|&name| {
        let mut names: Vec<String> = vec![name.split('\\').next().unwrap_or(name).to_string()];
        let replica = ag.replica_named(name);
        for column in ["endpoint_url", "read_only_routing_url"] {
            if let Some(url) = replica.and_then(|r| r.row.str(column)).and_then(|u| TcpUrl::parse(u).ok()) {
                names.push(url.host);
            }
        }
        if let Some(props) = snapshot.instances.iter().find(|i| i.is_named(name)).and_then(|i| i.properties()) {
            for column in ["MachineName", "ComputerNamePhysicalNetBIOS"] {
                names.extend(props.str(column).map(str::to_string));
            }
        }
        for probe in snapshot.probes.iter().filter(|p| p.subject.eq_ignore_ascii_case(name) && p.purpose != "listener") {
            names.extend(probe.address.clone());
        }
        names.iter().any(|n| host_is(host, n))
    })
}

// ---------------------------------------------------------------------------------------------
// The check
// ---------------------------------------------------------------------------------------------

/// Findings about `text` as a connection string for the AG(s) in `snapshot`.
pub fn check_connection_string(text: &str, snapshot: &Snapshot) -> Vec<Finding> {
    let cs = ConnectionString::parse(text);
    let topology = Topology::build(snapshot);
    let facts = ag_facts(snapshot, &topology);
    let mut findings = Vec::new();
    let evidence_cs = cs.redacted();

    if !cs.problems.is_empty() {
        let mut run = CheckRun::new(info("connection_string.malformed"));
        run.finding(Severity::Warning, "connection string")
            .message(format!(
                "The connection string is not a clean list of keyword=value pairs: {}. The client library rejects \
                 it or reads other values than intended.",
                cs.problems.join("; ")
            ))
            .evidence(json!({ "connection_string": evidence_cs, "problems": cs.problems }))
            .remediation("Quote values that contain ';' or '=' (\"…\" for ADO.NET/OLE DB, {…} for ODBC) and separate pairs with ';'.")
            .emit();
        findings.extend(run.findings);
    }

    let server = cs.get(SERVER_KEYS).map(|p| parse_server(&p.value));
    let database = cs.get(DATABASE_KEYS).map(|p| p.value.trim().to_string()).filter(|d| !d.is_empty());
    let intent = cs.get(INTENT_KEYS).map(|p| p.value.trim().to_string());
    let multi_subnet = cs.get(MULTI_SUBNET_KEYS).map(|p| p.value.trim().to_string());
    let read_only = intent.as_deref().is_some_and(|i| i.eq_ignore_ascii_case("readonly"));

    // Which AG the string is for: by listener, then by replica, then by database, then the only one.
    let by_listener = server.as_ref().and_then(|s| {
        facts.iter().enumerate().find_map(|(i, f)| {
            f.listeners.iter().position(|l| host_is(&s.host, l.dns_name) || listener_ip(l, &s.host)).map(|li| (i, li))
        })
    });
    let by_replica = server.as_ref().and_then(|s| {
        facts.iter().enumerate().find_map(|(i, f)| replica_named_by(snapshot, f.ag, &s.host).map(|r| (i, r)))
    });
    let by_database = database.as_deref().and_then(|d| {
        facts.iter().position(|f| f.databases.as_ref().is_some_and(|dbs| dbs.iter().any(|n| n.eq_ignore_ascii_case(d))))
    });
    let chosen = by_listener
        .map(|(i, _)| i)
        .or(by_replica.map(|(i, _)| i))
        .or(by_database)
        .or(if facts.len() == 1 { Some(0) } else { None });
    let Some(ag_index) = chosen else { return findings };
    let facts = &facts[ag_index];
    let ag_name = facts.ag.name;
    let listener = by_listener.map(|(_, li)| &facts.listeners[li]).or(facts.listeners.first());
    let suggested = suggestion(listener, database.as_deref(), facts, read_only);

    // Server: the listener (and its port), not a replica.
    {
        let mut run = CheckRun::new(info("connection_string.server_not_listener"));
        let listener_text = listener
            .map(|l| format!("the listener {}{}", l.dns_name, l.port.map(|p| format!(",{p}")).unwrap_or_default()))
            .unwrap_or_else(|| format!("a listener (availability group {ag_name} has none)"));
        let mut problem: Option<(Severity, String, Value)> = None;
        match (&server, by_listener) {
            (None, _) => {
                problem = Some((
                    Severity::Warning,
                    format!(
                        "The connection string has no Server/Data Source, so the client connects to the local default \
                         instance instead of {listener_text} of availability group {ag_name}."
                    ),
                    Value::Null,
                ));
            }
            (Some(s), Some(_)) => {
                let l = listener.expect("by_listener implies a listener");
                if listener_ip(l, &s.host) && l.multi_subnet() {
                    problem = Some((
                        Severity::Warning,
                        format!(
                            "Server names {}, one IP address of the multi-subnet listener {}: after a failover to \
                             another subnet that address is offline. Use the listener's DNS name.",
                            s.host, l.dns_name
                        ),
                        l.evidence(),
                    ));
                } else if let Some(expected) = l.port {
                    let given = s.port.map(i64::from);
                    if given.is_some_and(|g| g != expected) || (given.is_none() && expected != 1433 && s.instance.is_none()) {
                        let given_text = match (s.port, &s.bad_port) {
                            (Some(p), _) => format!("port {p}"),
                            (None, Some(_)) => "an invalid port".to_string(),
                            (None, None) => "no port (the client uses 1433)".to_string(),
                        };
                        let dnn = if l.dnn {
                            " A DNN listener is reached only on its own DNN port; on another port the client reaches \
                             whichever instance answers on that node, often a secondary."
                        } else {
                            ""
                        };
                        problem = Some((
                            Severity::Warning,
                            format!(
                                "Server names the listener {} of availability group {ag_name} but with {given_text}; \
                                 the listener listens on port {expected}.{dnn}",
                                l.dns_name
                            ),
                            l.evidence(),
                        ));
                    }
                }
            }
            (Some(s), None) => {
                let what = match by_replica {
                    Some((_, replica)) => format!("the replica {replica} of availability group {ag_name}"),
                    None => format!("neither a listener nor a replica of availability group {ag_name} known to the snapshot"),
                };
                problem = Some((
                    Severity::Warning,
                    format!(
                        "Server names {}, which is {what}, not {listener_text}. A connection to a replica stays on that \
                         instance: it does not follow a failover and is never read-only routed{}.",
                        s.host,
                        if by_replica.is_none() { " (unless the name is a DNS alias of the listener)" } else { "" }
                    ),
                    listener.map(Listener::evidence).unwrap_or(Value::Null),
                ));
            }
        }
        if let Some((severity, message, extra)) = problem {
            run.finding(severity, server.as_ref().map(|s| s.host.clone()).unwrap_or_else(|| "Server".into()))
                .ag(ag_name)
                .message(message)
                .evidence(json!({ "connection_string": evidence_cs, "server": server.as_ref().map(server_json), "listener": extra }))
                .remediation(format!("Connect through the listener: {suggested}"))
                .emit();
        }
        findings.extend(run.findings);
    }

    // ApplicationIntent.
    {
        let mut run = CheckRun::new(info("connection_string.application_intent"));
        let valid = intent.as_deref().is_none_or(|i| i.eq_ignore_ascii_case("readonly") || i.eq_ignore_ascii_case("readwrite"));
        let problem = if !valid {
            Some((
                Severity::Warning,
                format!(
                    "ApplicationIntent is \"{}\"; the only values are ReadOnly and ReadWrite, so the client rejects the \
                     connection string.",
                    intent.as_deref().unwrap_or("").escape_debug()
                ),
            ))
        } else if facts.has_routing_lists && !read_only {
            Some((
                Severity::Info,
                format!(
                    "Availability group {ag_name} has read-only routing lists, but this connection string {} \
                     ApplicationIntent=ReadOnly, so it always lands on the primary. That is right for a read-write \
                     workload; a reporting or read-only workload must add ApplicationIntent=ReadOnly to be routed to a \
                     readable secondary.",
                    if intent.is_some() { "sets ReadWrite instead of" } else { "does not set" }
                ),
            ))
        } else if read_only && !facts.has_routing_lists {
            Some((
                Severity::Info,
                format!(
                    "The connection string asks for ApplicationIntent=ReadOnly, but availability group {ag_name} has no \
                     read-only routing list: the connection lands on the primary."
                ),
            ))
        } else {
            None
        };
        if let Some((severity, message)) = problem {
            run.finding(severity, "ApplicationIntent")
                .ag(ag_name)
                .message(message)
                .evidence(json!({ "connection_string": evidence_cs, "has_routing_lists": facts.has_routing_lists }))
                .remediation(format!(
                    "For read-only workloads: {}",
                    suggestion(listener, database.as_deref(), facts, true)
                ))
                .emit();
        }
        findings.extend(run.findings);
    }

    // Database.
    if let Some(dbs) = &facts.databases {
        let mut run = CheckRun::new(info("connection_string.database_not_in_ag"));
        let in_ag = |d: &str| dbs.iter().any(|n| n.eq_ignore_ascii_case(d));
        let list = if dbs.is_empty() { "none".to_string() } else { dbs.join(", ") };
        let problem = match &database {
            Some(d) if !in_ag(d) => Some((
                Severity::Warning,
                d.clone(),
                format!(
                    "Database/Initial Catalog is {d}, which is not a database of availability group {ag_name} \
                     ({list}). Read-only routing only happens for an AG database, and after a failover {d} is not on \
                     the new primary."
                ),
            )),
            None if read_only => Some((
                Severity::Warning,
                "Database".to_string(),
                format!(
                    "The connection string asks for ApplicationIntent=ReadOnly but names no Database/Initial Catalog: \
                     the login's default database (usually master, not in availability group {ag_name}) is used, so \
                     the connection is not routed. Name an AG database ({list})."
                ),
            )),
            _ => None,
        };
        if let Some((severity, object, message)) = problem {
            run.finding(severity, object)
                .ag(ag_name)
                .message(message)
                .evidence(json!({ "connection_string": evidence_cs, "availability_databases_cluster": dbs }))
                .remediation(format!("Name a database of the availability group: {suggested}"))
                .emit();
        }
        findings.extend(run.findings);
    }

    // MultiSubnetFailover, when connecting through a multi-subnet or DNN listener.
    if let (Some(l), Some(_)) = (listener, by_listener) {
        let mut run = CheckRun::new(info("connection_string.multi_subnet_failover"));
        let setting = multi_subnet.as_deref().map(truthy);
        if (l.dnn || l.multi_subnet()) && setting != Some(Some(true)) {
            let why = if l.dnn {
                format!("{} is a distributed network name (DNN) listener, which requires MultiSubnetFailover=True", l.dns_name)
            } else {
                format!(
                    "{} has IP addresses in {} subnets; without MultiSubnetFailover=True the client tries them one at a \
                     time and waits for the offline ones to time out after a failover",
                    l.dns_name,
                    l.subnets().len()
                )
            };
            let given = match (&multi_subnet, setting) {
                (None, _) => "does not set MultiSubnetFailover".to_string(),
                (Some(v), Some(None)) => format!("sets MultiSubnetFailover to the invalid value \"{}\"", v.escape_debug()),
                (Some(v), _) => format!("sets MultiSubnetFailover={v}"),
            };
            run.finding(Severity::Warning, l.dns_name)
                .ag(ag_name)
                .message(format!("The connection string {given}, but the listener {why}."))
                .evidence(json!({ "connection_string": evidence_cs, "listener": l.evidence() }))
                .remediation(format!("Add MultiSubnetFailover=True (the client library must support it): {suggested}"))
                .emit();
        }
        findings.extend(run.findings);
    }
    findings
}

fn listener_ip(listener: &Listener<'_>, host: &str) -> bool {
    listener.ips.iter().any(|r| r.str("ip_address").is_some_and(|ip| ip.eq_ignore_ascii_case(host)))
}

fn server_json(s: &ServerSpec) -> Value {
    json!({ "protocol": s.protocol, "host": s.host, "instance": s.instance, "port": s.port })
}

/// A connection string that does it right, for remediations (never with credentials). It keeps the
/// workload's own intent: suggesting ReadOnly to a read-write application would break its writes.
fn suggestion(listener: Option<&Listener<'_>>, database: Option<&str>, facts: &AgFacts<'_, '_>, read_only: bool) -> String {
    let server = match listener {
        Some(l) => format!("tcp:{},{}", l.dns_name, l.port.unwrap_or(1433)),
        None => "tcp:<listener>,<port>".to_string(),
    };
    let db = database
        .filter(|d| facts.databases.as_ref().is_none_or(|dbs| dbs.iter().any(|n| n.eq_ignore_ascii_case(d))))
        .map(str::to_string)
        .or_else(|| facts.databases.as_ref().and_then(|dbs| dbs.first()).map(|d| d.to_string()))
        .unwrap_or_else(|| "<AG database>".to_string());
    let intent = if read_only { "ApplicationIntent=ReadOnly;" } else { "" };
    format!("Server={server};Database={db};{intent}MultiSubnetFailover=True")
}
