//! The drawings: one SVG per availability group (listener, primary, secondaries and the
//! primary's connection to each, with failed probes marked on the path they tested) and one per
//! routing path (where a ReadOnly connection lands when a given replica is primary).
//!
//! The layout is computed from the evidence only, in a fixed order, with fixed sizes: the same
//! snapshot always draws the same picture. Text is measured by character count (no font access),
//! so boxes are sized generously and long text is cut, with the whole text in a `<title>`.

use std::fmt::Write;

use super::escape::{html, shown_cut, shown_cut_middle, untrusted, wrap};
use crate::routing_simulation::RoutingPath;
use crate::snapshot::{domains, keys, Probe, Row, Snapshot};
use crate::tcp_url::TcpUrl;
use crate::topology::{guid, AgView, ReplicaView};

const BOX_W: i64 = 330;
const LEFT_X: i64 = 20;
const RIGHT_X: i64 = 660;
const WIDTH: i64 = 1010;
const LINE: i64 = 18;
/// Characters that fit on one line of a replica box at 13px.
const BOX_CHARS: usize = 40;

pub(super) const OK: &str = "#2e7d32";
pub(super) const BAD: &str = "#c62828";
pub(super) const WARN: &str = "#b26a00";
pub(super) const UNKNOWN: &str = "#6b7280";

/// One line of text in a node: its (shown, unescaped) text and a tone.
struct TextLine {
    text: String,
    tone: Tone,
    bold: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Tone {
    Normal,
    Muted,
    Ok,
    Bad,
    Warn,
}

impl Tone {
    fn fill(self) -> &'static str {
        match self {
            Tone::Normal => "#111827",
            Tone::Muted => "#4b5563",
            Tone::Ok => OK,
            Tone::Bad => BAD,
            Tone::Warn => WARN,
        }
    }
}

fn line(text: impl Into<String>, tone: Tone) -> TextLine {
    TextLine { text: text.into(), tone, bold: false }
}

/// What the drawing says about one replica, gathered from the evidence.
pub(super) struct ReplicaFacts {
    pub name: String,
    pub role: String,
    pub is_primary: bool,
    pub collected: bool,
    pub not_collected_why: Option<String>,
    pub availability: Option<String>,
    pub failover: Option<String>,
    pub readable: Option<String>,
    pub connected_state: Option<String>,
    pub sync_health: Option<String>,
    pub last_connect_error: Option<String>,
    pub databases: Vec<(String, usize)>,
    pub endpoint_url: Option<String>,
    pub endpoint_port: Option<i64>,
    pub endpoint_state: Option<String>,
    pub failed_probes: Vec<String>,
    pub ok_probes: usize,
}

pub(super) fn replica_facts(snapshot: &Snapshot, ag: &AgView<'_>, replica: &ReplicaView<'_>) -> ReplicaFacts {
    let is_primary = ag.primary.as_deref().is_some_and(|p| p.eq_ignore_ascii_case(replica.server_name));
    let state = replica.state;
    let role = state
        .and_then(|s| s.code("role_desc"))
        .map(str::to_string)
        .unwrap_or_else(|| if is_primary { "PRIMARY".into() } else { "UNKNOWN".into() });
    let collected = replica.instance.is_some();
    let not_collected_why = if collected {
        None
    } else {
        Some(
            uncollected_instance(snapshot, replica.server_name)
                .map(|i| match &i.connect_error {
                    Some(e) => match e.number {
                        Some(n) => format!("error {n}: {}", e.message),
                        None => e.message.clone(),
                    },
                    None => "not connected".into(),
                })
                .unwrap_or_else(|| "not among the instances collected".into()),
        )
    };
    let last_connect_error = state.and_then(|s| {
        let description = s.str("last_connect_error_description").filter(|d| !d.trim().is_empty());
        match (s.int("last_connect_error_number"), description) {
            (Some(n), Some(d)) => Some(format!("{n}: {d}")),
            (Some(n), None) => Some(format!("error {n}")),
            (None, Some(d)) => Some(d.to_string()),
            (None, None) => None,
        }
    });
    let endpoint_url = replica.row.str("endpoint_url").map(str::to_string);
    let (endpoint_port, endpoint_state) = replica
        .instance
        .and_then(|i| snapshot.instances.get(i))
        .map(|inst| {
            let tcp = inst.rows_or_empty(keys::TCP_ENDPOINTS).iter().find(|r| domains::is_mirroring_endpoint(r));
            let dbm = inst.rows_or_empty(keys::DATABASE_MIRRORING_ENDPOINTS).iter().find(|r| domains::is_mirroring_endpoint(r));
            (
                tcp.and_then(|r| r.int("port")),
                dbm.or(tcp).and_then(|r| r.code("state_desc")).map(str::to_string),
            )
        })
        .unwrap_or((None, None));
    let (failed_probes, ok_probes) = probes_about(snapshot, "endpoint", replica.server_name);
    ReplicaFacts {
        name: replica.server_name.to_string(),
        role,
        is_primary,
        collected,
        not_collected_why,
        availability: replica.row.code("availability_mode_desc").map(str::to_string),
        failover: replica.row.code("failover_mode_desc").map(str::to_string),
        readable: replica.row.code("secondary_role_allow_connections_desc").map(str::to_string),
        connected_state: state.and_then(|s| s.code("connected_state_desc")).map(str::to_string),
        sync_health: state.and_then(|s| s.code("synchronization_health_desc")).map(str::to_string),
        last_connect_error,
        databases: database_states(snapshot, ag, replica),
        endpoint_url,
        endpoint_port,
        endpoint_state,
        failed_probes,
        ok_probes,
    }
}

/// The snapshot entry for a replica that did not connect: matched by server name, or by the host
/// part of its connection target (`sql3.contoso.com,1433` is SQL3).
pub(super) fn uncollected_instance<'s>(snapshot: &'s Snapshot, server_name: &str) -> Option<&'s crate::snapshot::Instance> {
    snapshot.instances.iter().filter(|i| !i.connected).find(|i| {
        if i.is_named(server_name) {
            return true;
        }
        let target = i.target.trim().trim_start_matches("tcp:");
        let host = target.split([',', ':']).next().unwrap_or(target);
        let name_host = server_name.split('\\').next().unwrap_or(server_name);
        let target_host = host.split('\\').next().unwrap_or(host);
        target_host.eq_ignore_ascii_case(name_host) || target_host.split('.').next().is_some_and(|h| h.eq_ignore_ascii_case(name_host))
    })
}

/// Failed probes (described) and the number that succeeded, for one purpose and subject.
pub(super) fn probes_about(snapshot: &Snapshot, purpose: &str, subject: &str) -> (Vec<String>, usize) {
    let mine: Vec<&Probe> = snapshot
        .probes
        .iter()
        .filter(|p| p.purpose.eq_ignore_ascii_case(purpose) && p.subject.eq_ignore_ascii_case(subject))
        .collect();
    let failed = mine.iter().filter(|p| !p.ok).map(|p| describe_probe(p)).collect();
    (failed, mine.iter().filter(|p| p.ok).count())
}

pub(super) fn describe_probe(p: &Probe) -> String {
    let via = match (p.via.as_str(), p.address.as_deref()) {
        ("ip", Some(a)) => format!("by IP {a}"),
        ("login", _) => "login through the name".to_string(),
        (_, Some(a)) => format!("by name ({a})"),
        (via, None) => format!("by {via}"),
    };
    format!("{}:{} {via}: {}", p.host, p.port, p.error.as_deref().unwrap_or("failed"))
}

/// Database synchronization states of a replica: (state, count), from the AG's source instance
/// (the primary sees every replica's databases), else the replica's own instance.
fn database_states(snapshot: &Snapshot, ag: &AgView<'_>, replica: &ReplicaView<'_>) -> Vec<(String, usize)> {
    let rows_of = |index: usize| -> Vec<&Row> {
        snapshot
            .instances
            .get(index)
            .map(|i| {
                i.rows_or_empty(keys::DM_HADR_DATABASE_REPLICA_STATES)
                    .iter()
                    .filter(|r| guid(r, "replica_id").as_deref() == Some(replica.replica_id.as_str()))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut rows = rows_of(ag.source);
    if rows.is_empty()
        && let Some(own) = replica.instance
    {
        rows = rows_of(own);
    }
    let mut counts: Vec<(String, usize)> = Vec::new();
    for row in rows {
        let state = row.code("synchronization_state_desc").unwrap_or("UNKNOWN").to_string();
        match counts.iter_mut().find(|(s, _)| *s == state) {
            Some((_, n)) => *n += 1,
            None => counts.push((state, 1)),
        }
    }
    counts.sort();
    counts
}

fn lower(text: &str) -> String {
    text.replace('_', " ").to_lowercase()
}

fn replica_lines(f: &ReplicaFacts) -> Vec<TextLine> {
    let mut lines = Vec::new();
    let mode = match (&f.availability, &f.failover) {
        (Some(a), Some(m)) => format!("{} · {} failover", lower(a), lower(m)),
        (Some(a), None) => lower(a),
        (None, Some(m)) => format!("{} failover", lower(m)),
        (None, None) => "availability mode unknown".into(),
    };
    lines.push(line(mode, Tone::Normal));
    if let Some(r) = &f.readable {
        lines.push(line(format!("readable as secondary: {}", lower(r)), Tone::Muted));
    }
    match &f.sync_health {
        Some(h) => {
            let tone = if h.eq_ignore_ascii_case("HEALTHY") { Tone::Ok } else if h.eq_ignore_ascii_case("PARTIALLY_HEALTHY") { Tone::Warn } else { Tone::Bad };
            lines.push(line(format!("synchronization health: {h}"), tone));
        }
        None => lines.push(line("synchronization health: unknown", Tone::Muted)),
    }
    if !f.databases.is_empty() {
        let text = f.databases.iter().map(|(s, n)| format!("{n} db {s}")).collect::<Vec<_>>().join(", ");
        let bad = f.databases.iter().any(|(s, _)| !s.eq_ignore_ascii_case("SYNCHRONIZED") && !s.eq_ignore_ascii_case("SYNCHRONIZING"));
        lines.push(line(text, if bad { Tone::Bad } else { Tone::Ok }));
    }
    match &f.endpoint_url {
        Some(u) => lines.push(line(format!("endpoint {}", shown_cut_middle(u, BOX_CHARS - 9, 6)), Tone::Normal)),
        None => lines.push(line("no endpoint URL", Tone::Bad)),
    }
    let url_port = f.endpoint_url.as_deref().and_then(|u| TcpUrl::parse(u).ok()).map(|u| i64::from(u.port));
    match (f.endpoint_port, &f.endpoint_state) {
        (Some(port), state) => {
            let mismatch = url_port.is_some_and(|u| u != port);
            let stopped = state.as_deref().is_some_and(|s| !s.eq_ignore_ascii_case("STARTED"));
            let state = state.as_deref().map(|s| format!(", {s}")).unwrap_or_default();
            let text = if mismatch { format!("listens on port {port}{state} (URL says {})", url_port.unwrap_or_default()) } else { format!("listens on port {port}{state}") };
            lines.push(line(text, if mismatch || stopped { Tone::Bad } else { Tone::Muted }));
        }
        (None, _) if f.collected => lines.push(line("no mirroring endpoint found", Tone::Bad)),
        _ => {}
    }
    if let Some(why) = &f.not_collected_why {
        for (i, l) in wrap(&format!("not collected: {why}"), BOX_CHARS, 2).into_iter().enumerate() {
            lines.push(TextLine { text: l, tone: Tone::Bad, bold: i == 0 });
        }
    }
    for p in &f.failed_probes {
        for (i, w) in wrap(&format!("✕ probe {p}"), BOX_CHARS, 2).into_iter().enumerate() {
            lines.push(line(if i == 0 { w } else { format!("   {w}") }, Tone::Bad));
        }
    }
    if f.failed_probes.is_empty() && f.ok_probes > 0 {
        lines.push(line(format!("✓ endpoint reached by {}", if f.ok_probes == 1 { "1 probe".into() } else { format!("{} probes", f.ok_probes) }), Tone::Ok));
    }
    lines
}

fn role_colour(f: &ReplicaFacts) -> &'static str {
    if !f.collected && f.role == "UNKNOWN" {
        UNKNOWN
    } else if f.role.eq_ignore_ascii_case("PRIMARY") {
        "#1d4ed8"
    } else if f.role.eq_ignore_ascii_case("SECONDARY") {
        "#0f766e"
    } else {
        UNKNOWN
    }
}

fn node_height(lines: usize) -> i64 {
    34 + lines as i64 * LINE + 10
}

/// What a node shows; where it goes is given separately.
struct Node<'a> {
    class: &'a str,
    /// Extra attributes, already escaped (` data-replica="…"`).
    attrs: &'a str,
    title: &'a str,
    /// Text and colour of the pill at the top right.
    badge: Option<(&'a str, &'a str)>,
    lines: &'a [TextLine],
    /// Dashed and grey: not collected, or not usable.
    dashed: bool,
    tooltip: &'a str,
}

/// Draws one node at (x, y), `w` wide: a titled box with lines of text. Returns its height.
fn node(out: &mut String, (x, y, w): (i64, i64, i64), n: &Node<'_>) -> i64 {
    let Node { class, attrs, title, badge, lines, dashed, tooltip } = *n;
    let h = node_height(lines.len());
    let _ = write!(out, "<g class=\"node {class}\"{attrs}><title>{}</title>", untrusted(tooltip));
    let dash = if dashed { " stroke-dasharray=\"7 5\"" } else { "" };
    let fill = if dashed { "#f3f4f6" } else { "#ffffff" };
    let _ = write!(out, "<rect x=\"{x}\" y=\"{y}\" width=\"{w}\" height=\"{h}\" rx=\"10\" fill=\"{fill}\" stroke=\"#9ca3af\" stroke-width=\"1.5\"{dash}/>");
    let badge_w = badge.map_or(0, |(text, _)| text.chars().count() as i64 * 8 + 16);
    // 15px bold: about 9.5px a character; leave room for the badge.
    let title_chars = ((w - 28 - badge_w - 6) * 2 / 19).max(6) as usize;
    let _ = write!(out, "<text x=\"{}\" y=\"{}\" class=\"node-title\">{}</text>", x + 14, y + 24, untrusted(&shown_cut(title, title_chars)));
    if let Some((text, colour)) = badge {
        let bw = badge_w;
        let bx = x + w - bw - 10;
        let _ = write!(out, "<rect x=\"{bx}\" y=\"{}\" width=\"{bw}\" height=\"20\" rx=\"10\" fill=\"{colour}\"/>", y + 9);
        let _ = write!(out, "<text x=\"{}\" y=\"{}\" class=\"badge\" text-anchor=\"middle\">{}</text>", bx + bw / 2, y + 23, untrusted(text));
    }
    for (i, l) in lines.iter().enumerate() {
        let weight = if l.bold { " font-weight=\"600\"" } else { "" };
        let _ = write!(
            out,
            "<text x=\"{}\" y=\"{}\" fill=\"{}\"{weight}>{}</text>",
            x + 14,
            y + 48 + i as i64 * LINE,
            l.tone.fill(),
            // Lines are already shown (deceptive characters escaped) and cut; only HTML-escape.
            html(&l.text)
        );
    }
    out.push_str("</g>");
    h
}

/// A red ✕ marker on a path, for a failed probe.
fn probe_marker(out: &mut String, x: i64, y: i64, what: &str) {
    let _ = write!(
        out,
        "<g class=\"probe-failed\"><title>{}</title><circle cx=\"{x}\" cy=\"{y}\" r=\"10\" fill=\"#ffffff\" stroke=\"{BAD}\" stroke-width=\"2.5\"/><path d=\"M{} {} L{} {} M{} {} L{} {}\" stroke=\"{BAD}\" stroke-width=\"2.5\"/></g>",
        untrusted(what),
        x - 5, y - 5, x + 5, y + 5, x - 5, y + 5, x + 5, y - 5
    );
}

/// A label with a white backing at (x, y) (the middle of its first line), text already shown.
fn edge_label(out: &mut String, x: i64, y: i64, lines: &[(String, &str, bool)]) {
    let widest = lines.iter().map(|(t, _, _)| t.chars().count()).max().unwrap_or(0) as i64;
    let w = widest * 7 + 14;
    let h = lines.len() as i64 * 16 + 8;
    let _ = write!(out, "<rect x=\"{}\" y=\"{}\" width=\"{w}\" height=\"{h}\" rx=\"4\" fill=\"#ffffff\" fill-opacity=\"0.92\"/>", x - w / 2, y - 16);
    for (i, (text, colour, bold)) in lines.iter().enumerate() {
        let weight = if *bold { " font-weight=\"700\"" } else { "" };
        let _ = write!(out, "<text x=\"{x}\" y=\"{}\" text-anchor=\"middle\" class=\"edge-label\" fill=\"{colour}\"{weight}>{}</text>", y + i as i64 * 16, html(text));
    }
}

fn markers(out: &mut String, prefix: &str) {
    let _ = write!(out, "<defs>");
    for (name, colour) in [("ok", OK), ("bad", BAD), ("unknown", UNKNOWN), ("plain", "#374151")] {
        let _ = write!(
            out,
            "<marker id=\"{prefix}-{name}\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerUnits=\"userSpaceOnUse\" markerWidth=\"13\" markerHeight=\"13\" orient=\"auto-start-reverse\"><path d=\"M0 0 L10 5 L0 10 z\" fill=\"{colour}\"/></marker>"
        );
    }
    out.push_str("</defs>");
}

struct ListenerFacts {
    name: String,
    port: Option<i64>,
    ips: Vec<(String, String)>,
    failed_probes: Vec<String>,
    ok_probes: usize,
}

fn listeners(snapshot: &Snapshot, ag: &AgView<'_>) -> Vec<ListenerFacts> {
    let Some(source) = snapshot.instances.get(ag.source) else { return Vec::new() };
    let ips = source.rows_or_empty(keys::AVAILABILITY_GROUP_LISTENER_IP_ADDRESSES);
    source
        .rows_or_empty(keys::AVAILABILITY_GROUP_LISTENERS)
        .iter()
        .filter(|l| guid(l, "group_id").as_deref() == Some(ag.group_id.as_str()))
        .map(|l| {
            let id = guid(l, "listener_id");
            let name = l.str("dns_name").unwrap_or("(unnamed listener)").to_string();
            let (failed_probes, ok_probes) = probes_about(snapshot, "listener", &name);
            ListenerFacts {
                port: l.int("port"),
                ips: ips
                    .iter()
                    .filter(|ip| id.is_some() && guid(ip, "listener_id") == id)
                    .map(|ip| {
                        let addr = ip.str("ip_address").unwrap_or("?");
                        let addr = match ip.int("network_subnet_prefix_length") {
                            Some(p) => format!("{addr}/{p}"),
                            None => addr.to_string(),
                        };
                        (addr, ip.code("state_desc").unwrap_or("UNKNOWN").to_string())
                    })
                    .collect(),
                name,
                failed_probes,
                ok_probes,
            }
        })
        .collect()
}

/// The topology of one AG as inline SVG. `index` makes marker ids unique in the page.
pub(super) fn topology(snapshot: &Snapshot, ag: &AgView<'_>, index: usize) -> String {
    let facts: Vec<ReplicaFacts> = ag.replicas.iter().map(|r| replica_facts(snapshot, ag, r)).collect();
    let primary = facts.iter().position(|f| f.is_primary);
    let mut body = String::new();
    let prefix = format!("t{index}");

    // Left column: listeners, then the primary (or a placeholder when no primary is known).
    let mut y = 20;
    let mut listener_boxes: Vec<(i64, i64, ListenerFacts)> = Vec::new();
    for l in listeners(snapshot, ag) {
        let mut lines = vec![line(
            match l.port {
                Some(p) => format!("port {p}"),
                None => "no port set".into(),
            },
            if l.port.is_some() { Tone::Normal } else { Tone::Bad },
        )];
        if l.ips.is_empty() {
            lines.push(line("no IP address", Tone::Bad));
        }
        for (ip, state) in &l.ips {
            let tone = if state.eq_ignore_ascii_case("ONLINE") { Tone::Ok } else { Tone::Bad };
            lines.push(line(format!("● {} {state}", shown_cut(ip, 30)), tone));
        }
        for p in &l.failed_probes {
            for (i, w) in wrap(&format!("✕ probe {p}"), BOX_CHARS, 2).into_iter().enumerate() {
                lines.push(line(if i == 0 { w } else { format!("   {w}") }, Tone::Bad));
            }
        }
        if l.failed_probes.is_empty() && l.ok_probes > 0 {
            lines.push(line(format!("✓ {} probe(s) reached it", l.ok_probes), Tone::Ok));
        }
        let attrs = format!(" data-listener=\"{}\"", untrusted(&l.name));
        let tooltip = format!("Listener {}", l.name);
        let h = node(&mut body, (LEFT_X, y, BOX_W), &Node { class: "listener", attrs: &attrs, title: &l.name, badge: Some(("LISTENER", "#7c3aed")), lines: &lines, dashed: false, tooltip: &tooltip });
        listener_boxes.push((y, h, l));
        y += h + 80;
    }

    let mut left_bottom = y;
    let mut primary_center: Option<(i64, i64)> = None;
    let mut primary_top = y;
    if let Some(p) = primary {
        let f = &facts[p];
        let h = draw_replica(&mut body, f, LEFT_X, y);
        primary_center = Some((LEFT_X + BOX_W, y + h / 2));
        primary_top = y;
        left_bottom = y + h + 20;
    } else {
        let lines = vec![line("no instance reported the primary", Tone::Muted)];
        let h = node(&mut body, (LEFT_X, y, BOX_W), &Node { class: "placeholder", attrs: "", title: "Primary unknown", badge: None, lines: &lines, dashed: true, tooltip: "Primary unknown" });
        left_bottom = left_bottom.max(y + h + 20);
    }

    // Listener → primary arrows, with failed listener probes marked on them.
    let mut edges = String::new();
    for (ly, lh, l) in &listener_boxes {
        let x = LEFT_X + BOX_W / 2;
        let (y1, y2) = (ly + lh, primary_top);
        let bad = !l.failed_probes.is_empty();
        let (colour, marker) = if bad { (BAD, "bad") } else { ("#374151", "plain") };
        let _ = write!(
            edges,
            "<g class=\"edge listener-path\" data-listener=\"{}\"><line x1=\"{x}\" y1=\"{y1}\" x2=\"{x}\" y2=\"{}\" stroke=\"{colour}\" stroke-width=\"2.5\" marker-end=\"url(#{prefix}-{marker})\"/>",
            untrusted(&l.name),
            y2 - 4
        );
        let label = if primary.is_some() { "clients → primary" } else { "clients → ?" };
        let _ = write!(edges, "<text x=\"{}\" y=\"{}\" class=\"edge-label\" fill=\"#374151\">{label}</text>", x + 16, (y1 + y2) / 2 + 4);
        if bad {
            probe_marker(&mut edges, x, (y1 + y2) / 2, &format!("Failed listener probe(s): {}", l.failed_probes.join("; ")));
        }
        edges.push_str("</g>");
    }

    // Right column: the secondaries (every replica but the primary), each with its connection.
    let mut ry = 20;
    for (i, f) in facts.iter().enumerate() {
        if Some(i) == primary {
            continue;
        }
        let h = draw_replica(&mut body, f, RIGHT_X, ry);
        let target = (RIGHT_X, ry + h / 2);
        if let Some((px, py)) = primary_center {
            connection(&mut edges, &prefix, facts.get(primary.unwrap_or(0)).map(|p| p.name.as_str()).unwrap_or(""), f, (px, py), target);
        }
        ry += h + 36;
    }
    let height = left_bottom.max(ry) + 10;
    let mut out = String::new();
    let _ = write!(
        out,
        "<svg class=\"topology\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} {height}\" role=\"img\" aria-label=\"Topology of availability group {}\" data-ag=\"{}\">",
        untrusted(ag.name),
        untrusted(ag.name)
    );
    markers(&mut out, &prefix);
    // Edges first so the boxes and labels sit on top of the lines.
    out.push_str(&edges);
    out.push_str(&body);
    out.push_str("</svg>");
    out
}

fn draw_replica(out: &mut String, f: &ReplicaFacts, x: i64, y: i64) -> i64 {
    let lines = replica_lines(f);
    let attrs = format!(
        " data-replica=\"{}\" data-role=\"{}\" data-collected=\"{}\"",
        untrusted(&f.name),
        untrusted(&f.role),
        f.collected
    );
    let tooltip = format!("Replica {} ({})", f.name, f.role);
    let badge_text = if !f.collected && f.role == "UNKNOWN" { "NOT COLLECTED".to_string() } else { f.role.clone() };
    let badge = shown_cut(&badge_text, 14);
    let n = Node { class: "replica", attrs: &attrs, title: &f.name, badge: Some((&badge, role_colour(f))), lines: &lines, dashed: !f.collected, tooltip: &tooltip };
    node(out, (x, y, BOX_W), &n)
}

/// The primary's connection to one secondary, coloured by `connected_state_desc`, labelled with
/// the state and the last connect error; failed endpoint probes of the secondary marked near it.
fn connection(out: &mut String, prefix: &str, primary: &str, f: &ReplicaFacts, from: (i64, i64), to: (i64, i64)) {
    let state = f.connected_state.clone().unwrap_or_else(|| "UNKNOWN".into());
    let (colour, marker, dash) = if state.eq_ignore_ascii_case("CONNECTED") {
        (OK, "ok", "")
    } else if state.eq_ignore_ascii_case("DISCONNECTED") {
        (BAD, "bad", " stroke-dasharray=\"9 6\"")
    } else {
        (UNKNOWN, "unknown", " stroke-dasharray=\"3 5\"")
    };
    let _ = write!(
        out,
        "<g class=\"edge connection\" data-from=\"{}\" data-to=\"{}\" data-state=\"{}\"><title>{}</title>",
        untrusted(primary),
        untrusted(&f.name),
        untrusted(&state),
        untrusted(&format!(
            "{primary} → {}: {state}{}",
            f.name,
            f.last_connect_error.as_deref().map(|e| format!(" (last connect error {e})")).unwrap_or_default()
        ))
    );
    let _ = write!(
        out,
        "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{colour}\" stroke-width=\"3\"{dash} marker-end=\"url(#{prefix}-{marker})\"/>",
        from.0,
        from.1,
        to.0 - 3,
        to.1
    );
    let at = |t: f64| (from.0 + ((to.0 - from.0) as f64 * t) as i64, from.1 + ((to.1 - from.1) as f64 * t) as i64);
    let (lx, ly) = at(0.45);
    let mut label = vec![(shown_cut(&state, 20), colour, true)];
    if let Some(e) = &f.last_connect_error {
        for l in wrap(e, 30, 3) {
            label.push((l, "#374151", false));
        }
    }
    edge_label(out, lx, ly, &label);
    if !f.failed_probes.is_empty() {
        // Just before the arrowhead, on the secondary's end: the probes tested its endpoint.
        let t = 1.0 - 34.0 / (((to.0 - from.0).pow(2) + (to.1 - from.1).pow(2)) as f64).sqrt().max(68.0);
        let (mx, my) = at(t);
        probe_marker(out, mx, my, &format!("Failed endpoint probe(s) of {}: {}", f.name, f.failed_probes.join("; ")));
    }
    out.push_str("</g>");
}

/// One routing path as SVG: the replica assumed primary on the left, each routing set as a column
/// of targets (tried in order; targets in one set share the load), arrows coloured by whether the
/// target can take the connection, and where the connection lands on the right.
pub(super) fn routing(snapshot: &Snapshot, path: &RoutingPath, index: usize) -> String {
    let prefix = format!("r{index}");
    const SRC_W: i64 = 210;
    const COL_W: i64 = 280;
    const NODE_W: i64 = 250;
    const CHARS: usize = 28;
    let mut body = String::new();
    let mut edges = String::new();
    let mut heights: Vec<i64> = Vec::new();

    let mut columns_bottom = 0;
    let mut target_boxes: Vec<TargetBox> = Vec::new();
    for (s, set) in path.sets.iter().enumerate() {
        let x = 20 + SRC_W + 50 + s as i64 * COL_W;
        let mut y = 44;
        for t in &set.targets {
            let (failed, _) = probes_about(snapshot, "routing", &t.replica);
            let mut lines = vec![match &t.read_only_routing_url {
                Some(u) => line(shown_cut_middle(u, CHARS, 6), Tone::Normal),
                None => line("no READ_ONLY_ROUTING_URL", Tone::Bad),
            }];
            if t.usable {
                lines.push(line("✓ takes ReadOnly connections", Tone::Ok));
            } else {
                for l in wrap(&format!("✕ {}", t.reason.as_deref().unwrap_or("not usable")), CHARS, 4) {
                    lines.push(line(l, Tone::Bad));
                }
            }
            for p in &failed {
                lines.push(line(format!("✕ probe {}", shown_cut(p, CHARS - 8)), Tone::Bad));
            }
            let attrs = format!(" data-replica=\"{}\" data-usable=\"{}\"", untrusted(&t.replica), t.usable);
            let tooltip = format!("{}: {}", t.replica, t.reason.as_deref().unwrap_or("usable"));
            let h = node(&mut body, (x, y, NODE_W), &Node { class: "routing-target", attrs: &attrs, title: &t.replica, badge: None, lines: &lines, dashed: !t.usable, tooltip: &tooltip });
            target_boxes.push(TargetBox { set: s, x, y, h, usable: t.usable, failed, replica: t.replica.clone() });
            y += h + 24;
        }
        let _ = write!(
            body,
            "<text x=\"{}\" y=\"28\" class=\"column-title\">{}</text>",
            x,
            html(&format!("{} · priority {}", ordinal(s + 1), set.routing_priority))
        );
        columns_bottom = columns_bottom.max(y);
        heights.push(y);
    }

    // Source node: the replica assumed primary.
    let src_lines = vec![
        line(shown_cut(&path.could_be_primary_because, CHARS), Tone::Muted),
        line("ApplicationIntent=ReadOnly", Tone::Normal),
        line("connections arrive here", Tone::Normal),
    ];
    let src_h = node_height(src_lines.len());
    let src_y = 44.max((columns_bottom.max(44 + src_h) - src_h) / 2).min(44 + 40);
    let attrs = format!(" data-when-primary=\"{}\"", untrusted(&path.when_primary));
    let title = format!("{} primary", path.when_primary);
    let tooltip = format!("When {} is primary", path.when_primary);
    let source = Node { class: "routing-source", attrs: &attrs, title: &title, badge: None, lines: &src_lines, dashed: false, tooltip: &tooltip };
    node(&mut body, (20, src_y, SRC_W), &source);
    let from = (20 + SRC_W, src_y + src_h / 2);
    for TargetBox { set, x, y, h, usable, failed, replica } in &target_boxes {
        let to = (*x - 3, y + h / 2);
        // The first set is tried first; a later set only when no target of the one before it can
        // take the connection, so its arrows start from the previous column.
        let from = match target_boxes.iter().find(|b| b.set + 1 == *set) {
            Some(prev) => (prev.x + NODE_W, prev.y + prev.h / 2),
            None => from,
        };
        let (colour, marker, dash) = if *usable { (OK, "ok", "") } else { (BAD, "bad", " stroke-dasharray=\"7 5\"") };
        let _ = write!(
            edges,
            "<g class=\"edge routing\" data-when-primary=\"{}\" data-to=\"{}\" data-usable=\"{usable}\"><path d=\"M{} {} C{} {} {} {} {} {}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2.5\"{dash} marker-end=\"url(#{prefix}-{marker})\"/>",
            untrusted(&path.when_primary),
            untrusted(replica),
            from.0,
            from.1,
            from.0 + 40,
            from.1,
            to.0 - 40,
            to.1,
            to.0,
            to.1
        );
        if !failed.is_empty() {
            probe_marker(&mut edges, to.0 - 18, to.1, &format!("Failed routing probe(s) of {replica}: {}", failed.join("; ")));
        }
        edges.push_str("</g>");
    }

    // Where ReadOnly connections land.
    let landing: Vec<&str> = path
        .sets
        .iter()
        .find(|s| s.targets.iter().any(|t| t.usable))
        .map(|s| s.targets.iter().filter(|t| t.usable).map(|t| t.replica.as_str()).collect())
        .unwrap_or_default();
    let x = 20 + SRC_W + 50 + path.sets.len() as i64 * COL_W;
    let (lines, ok) = if landing.is_empty() {
        (vec![line(format!("the primary {}", shown_cut(&path.when_primary, CHARS - 12)), Tone::Bad), line("(no usable target)", Tone::Bad)], false)
    } else {
        let mut l: Vec<TextLine> = landing.iter().map(|r| line(format!("→ {}", shown_cut(r, CHARS - 2)), Tone::Ok)).collect();
        if landing.len() > 1 {
            l.push(line("(round-robin)", Tone::Muted));
        }
        (l, true)
    };
    let attrs = format!(" data-lands-on=\"{}\"", untrusted(&landing.join(",")));
    let badge = if ok { ("OK", OK) } else { ("PRIMARY", BAD) };
    let result = Node { class: "routing-result", attrs: &attrs, title: "Lands on", badge: Some(badge), lines: &lines, dashed: false, tooltip: "Where ReadOnly connections land" };
    let h = node(&mut body, (x, 44, NODE_W - 20), &result);
    let _ = write!(body, "<text x=\"{x}\" y=\"28\" class=\"column-title\">result</text>");
    let height = columns_bottom.max(44 + h + 20).max(src_y + src_h + 20);
    let width = x + NODE_W;
    let mut out = String::new();
    let _ = write!(
        out,
        "<svg class=\"routing\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"Read-only routing of {} when {} is primary\" data-ag=\"{}\" data-when-primary=\"{}\">",
        untrusted(&path.availability_group),
        untrusted(&path.when_primary),
        untrusted(&path.availability_group),
        untrusted(&path.when_primary)
    );
    markers(&mut out, &prefix);
    out.push_str(&edges);
    out.push_str(&body);
    out.push_str("</svg>");
    out
}

/// A routing target as drawn: its set, box, whether it can take the connection, failed probes.
struct TargetBox {
    set: usize,
    x: i64,
    y: i64,
    h: i64,
    usable: bool,
    failed: Vec<String>,
    replica: String,
}

fn ordinal(n: usize) -> String {
    match n {
        1 => "1st".into(),
        2 => "2nd".into(),
        3 => "3rd".into(),
        n => format!("{n}th"),
    }
}
