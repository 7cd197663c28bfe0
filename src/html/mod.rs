//! The HTML report: one self-contained page (inline CSS, inline SVG, a little inline JavaScript
//! for filtering and copying; nothing fetched, readable without JavaScript) that a DBA opens,
//! prints or attaches to a ticket.
//!
//! Top to bottom: the verdict per availability group, counts by severity and where the evidence
//! came from; the topology drawn per AG ([`svg`]); read-only routing per replica that can be
//! primary; the findings, errors first, grouped by area, with evidence tables and fix steps; the
//! whole fix script; the checks that could not be evaluated; the probes and every check's status.
//!
//! Every server-supplied string is escaped by [`escape`]; the page depends only on the report, so
//! the same snapshot gives the same bytes apart from `generated_at`.

mod escape;
mod findings;
mod svg;
mod timeline;

use std::fmt::Write;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::checks::{self, CheckStatus};
use crate::error::Result;
use crate::findings::{Finding, Severity};
use crate::fix::ScriptOptions;
use crate::report::{parse_options, Report};
use crate::topology::{AgView, Topology};
use escape::{html, untrusted, untrusted_multiline};
use findings::{findings_section, scalar_text};
use timeline::{timeline_items, timeline_section};

/// Options of the HTML report (`agdiag_report_html`'s `options_json`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HtmlOptions {
    /// The page title; by default "AgDiag report: <availability groups>".
    #[serde(default)]
    pub title: Option<String>,
    /// The incident timeline to show instead of the report's own (its AlwaysOn_health events and
    /// failovers, the newest 500 events), when the caller has another source.
    #[serde(default)]
    pub timeline: Vec<TimelineItem>,
}

impl HtmlOptions {
    /// Parses options JSON; `None` or blank text means defaults.
    pub fn from_json(text: Option<&str>) -> Result<HtmlOptions> {
        parse_options(text, "HTML options")
    }
}

/// One event of an incident timeline, as the page shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimelineItem {
    /// When it happened (as the source wrote it, e.g. an error log `LogDate`).
    pub at: String,
    /// The instance that reported it.
    #[serde(default)]
    pub instance: Option<String>,
    /// `error`, `warning` or `info`.
    #[serde(default)]
    pub severity: Option<Severity>,
    /// What happened.
    pub text: String,
}

/// The inline script: severity and text filters for the findings, the fix script's copy button,
/// and every `<details>` opened for printing. The page reads fully without it.
pub const SCRIPT: &str = r#"(function () {
  var boxes = document.querySelectorAll('#filters input[type=checkbox]');
  var search = document.getElementById('filter-text');
  function apply() {
    var shown = {};
    for (var i = 0; i < boxes.length; i++) shown[boxes[i].value] = boxes[i].checked;
    var needle = search ? search.value.toLowerCase() : '';
    var items = document.querySelectorAll('article.finding');
    for (var j = 0; j < items.length; j++) {
      var a = items[j];
      var ok = shown[a.getAttribute('data-severity')] !== false &&
        (!needle || a.textContent.toLowerCase().indexOf(needle) >= 0);
      a.style.display = ok ? '' : 'none';
    }
    var areas = document.querySelectorAll('section.area');
    for (var k = 0; k < areas.length; k++) {
      var visible = areas[k].querySelectorAll('article.finding:not([style*="none"])').length;
      areas[k].style.display = visible ? '' : 'none';
    }
  }
  for (var i = 0; i < boxes.length; i++) boxes[i].addEventListener('change', apply);
  if (search) search.addEventListener('input', apply);
  var filters = document.getElementById('filters');
  if (filters) filters.hidden = false;
  var copy = document.getElementById('copy-fix-script');
  if (copy) {
    copy.hidden = false;
    copy.addEventListener('click', function () {
      var text = document.getElementById('fix-script').textContent;
      function done() { copy.textContent = 'Copied'; setTimeout(function () { copy.textContent = 'Copy script'; }, 1500); }
      function fallback() {
        var area = document.createElement('textarea');
        area.value = text; document.body.appendChild(area); area.select();
        try { document.execCommand('copy'); done(); } catch (e) { copy.textContent = 'Select and copy by hand'; }
        document.body.removeChild(area);
      }
      if (navigator.clipboard && navigator.clipboard.writeText) navigator.clipboard.writeText(text).then(done, fallback);
      else fallback();
    });
  }
  var closed = [];
  window.addEventListener('beforeprint', function () {
    var all = document.querySelectorAll('details:not([open]):not(.evidence)');
    for (var i = 0; i < all.length; i++) { all[i].open = true; closed.push(all[i]); }
  });
  window.addEventListener('afterprint', function () {
    for (var i = 0; i < closed.length; i++) closed[i].open = false;
    closed = [];
  });
})();"#;

const STYLE: &str = r#"
:root { --err: #c62828; --warn: #b26a00; --info: #1565c0; --ok: #2e7d32; --muted: #4b5563; --line: #e5e7eb; --bg: #f8fafc; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: #111827; background: var(--bg); }
main { max-width: 1120px; margin: 0 auto; padding: 20px 24px 48px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 20px; margin: 36px 0 12px; padding-bottom: 6px; border-bottom: 2px solid var(--line); }
h3 { font-size: 17px; margin: 22px 0 8px; }
h4 { font-size: 16px; margin: 0; }
code, pre, .mono { font-family: ui-monospace, "Cascadia Mono", Consolas, "DejaVu Sans Mono", monospace; font-size: 13px; }
pre { background: #0f172a; color: #e2e8f0; padding: 12px 14px; border-radius: 8px; overflow-x: auto; white-space: pre-wrap; word-break: break-word; }
a { color: #1d4ed8; }
.sub { color: var(--muted); margin: 0; }
header.top { background: #fff; border: 1px solid var(--line); border-radius: 12px; padding: 18px 20px; }
.verdicts { list-style: none; padding: 0; margin: 14px 0; }
.verdict { border-left: 6px solid var(--ok); padding: 8px 12px; margin: 8px 0; background: #f0fdf4; border-radius: 6px; font-size: 16px; }
.verdict.error { border-color: var(--err); background: #fef2f2; }
.verdict.warning { border-color: var(--warn); background: #fffbeb; }
.verdict.unknown { border-color: #6b7280; background: #f3f4f6; }
.counts { display: flex; flex-wrap: wrap; gap: 8px; margin: 10px 0; padding: 0; list-style: none; }
.count { border-radius: 999px; padding: 3px 12px; font-weight: 600; border: 1px solid var(--line); background: #fff; }
.count.error { background: var(--err); color: #fff; border-color: var(--err); }
.count.warning { background: var(--warn); color: #fff; border-color: var(--warn); }
.count.info { background: var(--info); color: #fff; border-color: var(--info); }
.count.zero { background: #fff; color: var(--muted); border-color: var(--line); }
.top-issues ol { margin: 4px 0 8px; padding-left: 26px; columns: 2 360px; column-gap: 28px; }
.top-issues li { break-inside: avoid; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 8px 0 0; }
dl.meta dt { color: var(--muted); }
dl.meta dd { margin: 0; }
nav.toc { margin: 12px 0 0; font-size: 14px; }
nav.toc a { margin-right: 14px; }
.figure { background: #fff; border: 1px solid var(--line); border-radius: 12px; padding: 12px; margin: 10px 0; }
svg { width: 100%; height: auto; display: block; font-family: system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; font-size: 13px; }
svg .node-title { font-size: 15px; font-weight: 700; fill: #111827; }
svg .badge { font-size: 11px; font-weight: 700; fill: #fff; letter-spacing: .04em; }
svg .edge-label { font-size: 12px; }
svg .column-title { font-size: 12px; font-weight: 700; fill: #4b5563; text-transform: uppercase; letter-spacing: .05em; }
.legend { display: flex; flex-wrap: wrap; gap: 16px; font-size: 13px; color: var(--muted); margin: 6px 4px 0; }
.legend span::before { content: ""; display: inline-block; width: 22px; height: 0; border-top: 3px solid; vertical-align: middle; margin-right: 6px; }
.legend .l-ok::before { border-color: var(--ok); } .legend .l-bad::before { border-color: var(--err); border-top-style: dashed; }
.legend .l-unknown::before { border-color: #6b7280; border-top-style: dotted; }
.legend .l-probe::before { content: "✕"; border: 0; width: auto; height: auto; color: var(--err); font-weight: 700; vertical-align: baseline; }
.note { margin: 6px 4px; }
.note.bad { color: var(--err); font-weight: 600; } .note.ok { color: var(--ok); font-weight: 600; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; margin: 6px 0; font-size: 13px; background: #fff; }
th, td { border: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f1f5f9; font-weight: 600; }
td.null { color: #9ca3af; font-style: italic; }
tr.bad td { background: #fef2f2; }
#filters { display: flex; flex-wrap: wrap; gap: 14px; align-items: center; background: #fff; border: 1px solid var(--line); border-radius: 10px; padding: 8px 12px; }
#filters input[type=search] { flex: 1 1 200px; padding: 4px 8px; border: 1px solid #cbd5e1; border-radius: 6px; font: inherit; }
article.finding { background: #fff; border: 1px solid var(--line); border-left: 6px solid var(--info); border-radius: 10px; padding: 12px 16px; margin: 10px 0; }
article.finding[data-severity=error] { border-left-color: var(--err); }
article.finding[data-severity=warning] { border-left-color: var(--warn); }
.finding-head { display: flex; flex-wrap: wrap; gap: 8px; align-items: baseline; }
.sev { font-size: 11px; font-weight: 700; text-transform: uppercase; letter-spacing: .05em; color: #fff; border-radius: 4px; padding: 1px 7px; }
.sev.error { background: var(--err); } .sev.warning { background: var(--warn); } .sev.info { background: var(--info); }
.where { color: var(--muted); font-size: 13px; }
.message { white-space: pre-line; margin: 8px 0; }
.remediation { background: #f0f9ff; border-radius: 6px; padding: 8px 10px; margin: 8px 0; white-space: pre-line; }
details { margin: 6px 0; }
summary { cursor: pointer; font-weight: 600; color: #1f2937; }
.step-meta { font-size: 12px; color: var(--muted); margin: 6px 0 -4px; }
.manual { color: var(--warn); font-weight: 600; }
button { font: inherit; padding: 4px 12px; border-radius: 6px; border: 1px solid #94a3b8; background: #fff; cursor: pointer; }
footer { margin-top: 40px; color: var(--muted); font-size: 13px; }
@media (max-width: 700px) {
  main { padding: 10px; }
  h1 { font-size: 21px; }
  dl.meta { grid-template-columns: 1fr; }
  dl.meta dt { margin-top: 6px; }
  .figure { padding: 4px; overflow-x: auto; }
  /* Drawings keep a legible size and scroll sideways; the replica table below reads anywhere. */
  svg.topology, svg.routing { min-width: 680px; }
}
@media print {
  body { background: #fff; font-size: 11pt; }
  main { max-width: none; padding: 0; }
  #filters, #copy-fix-script, nav.toc { display: none !important; }
  .figure, header.top { break-inside: avoid; }
  article.finding, .figure, header.top { border-color: #999; }
  .finding-head, .step-meta { break-after: avoid; }
  pre { break-inside: avoid; }
  article.finding { display: block !important; }
  section.area { display: block !important; }
  pre { background: #fff; color: #000; border: 1px solid #999; }
  /* Printed: every section open except the evidence tables (they stay in the file). */
  details:not(.evidence)::details-content { content-visibility: visible; display: contents; }
  h2, h3 { break-after: avoid; }
  .scroll { overflow: visible !important; }
  table { font-size: 8.5pt; }
  th, td { word-break: break-word; }
}
"#;

/// Renders the report as one self-contained HTML page.
pub fn render(report: &Report, options: &HtmlOptions) -> String {
    let topology = Topology::build(&report.snapshot);
    let mut page = String::with_capacity(64 * 1024);
    let title = match &options.title {
        Some(t) => t.clone(),
        None if topology.ags.is_empty() => "AgDiag report".to_string(),
        None => format!("AgDiag report: {}", topology.ags.iter().map(|a| a.name).collect::<Vec<_>>().join(", ")),
    };
    page.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    page.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    // Nothing may be fetched: not a font, an image, a script or a style sheet.
    page.push_str("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'\">\n");
    page.push_str("<meta name=\"referrer\" content=\"no-referrer\">\n");
    let _ = writeln!(page, "<meta name=\"generator\" content=\"AgDiag {}\">", html(report.agdiag_version));
    let _ = writeln!(page, "<title>{}</title>", untrusted(&title));
    let _ = writeln!(page, "<style>{STYLE}</style>\n</head>\n<body>\n<main>");

    let timeline = if options.timeline.is_empty() { timeline_items(report) } else { options.timeline.clone() };
    header(&mut page, report, &topology, &title, !timeline.is_empty());
    topology_section(&mut page, report, &topology);
    routing_section(&mut page, report);
    findings_section(&mut page, report);
    if !timeline.is_empty() {
        timeline_section(&mut page, &timeline);
    }
    fix_script_section(&mut page, report);
    not_evaluated_section(&mut page, report);
    evidence_section(&mut page, report);

    let _ = writeln!(
        page,
        "<footer>Generated by AgDiag {} at <time class=\"generated-at\">{}</time> from the snapshot collected {}. AgDiag never runs the fix script: review it first.</footer>",
        html(report.agdiag_version),
        untrusted(&report.generated_at),
        report.snapshot.collected_at.as_deref().map(untrusted).unwrap_or_else(|| "at an unknown time".into())
    );
    page.push_str("</main>\n<script>");
    page.push_str(SCRIPT);
    page.push_str("</script>\n</body>\n</html>\n");
    page
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn list_and(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// True when a name in a finding is `name` from the evidence. Findings may carry names as shown
/// (deceptive characters as `\uXXXX`), so both forms match.
fn same_name(in_finding: &str, name: &str) -> bool {
    in_finding.eq_ignore_ascii_case(name) || in_finding.eq_ignore_ascii_case(&crate::untrusted_text::shown(name))
}

/// The findings about one AG: tagged with it, or about one of its replicas.
fn findings_of<'r>(report: &'r Report, ag: &AgView<'_>) -> Vec<&'r Finding> {
    let is_replica = |name: Option<&str>| name.is_some_and(|n| ag.replicas.iter().any(|r| same_name(n, r.server_name)));
    report
        .findings
        .iter()
        .filter(|f| match f.availability_group.as_deref() {
            Some(g) => same_name(g, ag.name),
            None => is_replica(f.replica.as_deref()) || is_replica(f.instance.as_deref()),
        })
        .collect()
}

/// One sentence: what state the AG is in and what is wrong with it. Returns (css class, html).
fn verdict(report: &Report, ag: &AgView<'_>) -> (&'static str, String) {
    let findings = findings_of(report, ag);
    let errors = findings.iter().filter(|f| f.severity == Severity::Error).count();
    let warnings = findings.iter().filter(|f| f.severity == Severity::Warning).count();
    let facts: Vec<svg::ReplicaFacts> = ag.replicas.iter().map(|r| svg::replica_facts(&report.snapshot, ag, r)).collect();
    let name = format!("<strong>{}</strong>", untrusted(ag.name));
    let (class, state) = if errors > 0 {
        ("error", "needs fixing")
    } else if warnings > 0 {
        ("warning", "works, with warnings")
    } else if report.summary.checks_run > 0 && report.summary.not_evaluated == report.summary.checks_run {
        ("unknown", "could not be assessed")
    } else {
        ("ok", "looks healthy")
    };
    let mut parts: Vec<String> = Vec::new();
    match ag.primary.as_deref() {
        Some(p) => parts.push(format!("primary {}", untrusted(p))),
        None => parts.push("no instance reported its primary".into()),
    }
    let secondaries = facts.iter().filter(|f| !f.is_primary).count();
    let disconnected: Vec<String> = facts
        .iter()
        .filter(|f| !f.is_primary && f.connected_state.as_deref().is_some_and(|s| s.eq_ignore_ascii_case("DISCONNECTED")))
        .map(|f| untrusted(&f.name))
        .collect();
    if !disconnected.is_empty() {
        parts.push(format!(
            "{} of {} disconnected from the primary ({})",
            disconnected.len(),
            plural(secondaries, "secondary", "secondaries"),
            list_and(&disconnected)
        ));
    } else if secondaries > 0 {
        parts.push(format!("{} connected", plural(secondaries, "secondary", "secondaries")));
    }
    let uncollected: Vec<String> = facts.iter().filter(|f| !f.collected).map(|f| untrusted(&f.name)).collect();
    if !uncollected.is_empty() {
        parts.push(format!("{} could not be collected", list_and(&uncollected)));
    }
    let current = report.routing_simulation.iter().find(|p| {
        p.availability_group.eq_ignore_ascii_case(ag.name) && ag.primary.as_deref().is_some_and(|pr| pr.eq_ignore_ascii_case(&p.when_primary))
    });
    if let Some(path) = current
        && !path.sets.is_empty()
        && !path.sets.iter().any(|s| s.targets.iter().any(|t| t.usable))
    {
        parts.push("ReadOnly connections land on the primary".into());
    }
    let counts = match (errors, warnings) {
        (0, 0) => "no errors or warnings".to_string(),
        (e, 0) => plural(e, "error", "errors"),
        (0, w) => plural(w, "warning", "warnings"),
        (e, w) => format!("{} and {}", plural(e, "error", "errors"), plural(w, "warning", "warnings")),
    };
    (class, format!("{name} {state}: {}; {counts}.", parts.join("; ")))
}

fn header(page: &mut String, report: &Report, topology: &Topology<'_>, title: &str, has_timeline: bool) {
    let snapshot = &report.snapshot;
    page.push_str("<header class=\"top\" id=\"summary\">\n");
    let _ = writeln!(page, "<h1>{}</h1>", untrusted(title));
    let _ = writeln!(
        page,
        "<p class=\"sub\">Evidence collected {} by {}; {} checked.</p>",
        snapshot.collected_at.as_deref().map(|c| format!("<time>{}</time>", untrusted(c))).unwrap_or_else(|| "at an unknown time".into()),
        snapshot.collector.as_deref().map(untrusted).unwrap_or_else(|| "an unknown collector".into()),
        plural(snapshot.instances.len(), "instance", "instances")
    );
    page.push_str("<ul class=\"verdicts\">\n");
    if topology.ags.is_empty() {
        let class = if report.summary.errors > 0 { "error" } else { "unknown" };
        let _ = writeln!(
            page,
            "<li class=\"verdict {class}\">No availability group is known from this evidence (no connected instance reported one); {} found.</li>",
            plural(report.findings.len(), "finding was", "findings were")
        );
    }
    for ag in &topology.ags {
        let (class, sentence) = verdict(report, ag);
        let _ = writeln!(page, "<li class=\"verdict {class}\" data-ag=\"{}\">{sentence}</li>", untrusted(ag.name));
    }
    page.push_str("</ul>\n<ul class=\"counts\">");
    let s = &report.summary;
    for (n, class, one, many) in [(s.errors, "error", "error", "errors"), (s.warnings, "warning", "warning", "warnings"), (s.info, "info", "info", "info")] {
        let zero = if n == 0 { " zero" } else { "" };
        let _ = write!(page, "<li class=\"count {class}{zero}\" data-severity=\"{class}\">{}</li>", plural(n, one, many));
    }
    let _ = write!(page, "<li class=\"count\">{} run</li>", plural(s.checks_run, "check", "checks"));
    let ne = if s.not_evaluated > 0 { " warning" } else { " zero" };
    let _ = writeln!(page, "<li class=\"count{ne}\">{} not evaluated</li></ul>", s.not_evaluated);

    // The errors, one line each, linked to their findings: what to fix first.
    let errors: Vec<(usize, &Finding)> = report.findings.iter().enumerate().filter(|(_, f)| f.severity == Severity::Error).collect();
    if !errors.is_empty() {
        page.push_str("<details class=\"top-issues\" open><summary>What is broken</summary><ol>");
        for (i, f) in &errors {
            let subject = f.instance.as_deref().or(f.replica.as_deref()).or(f.object.as_deref()).map(|s| format!(" <span class=\"where\">— {}</span>", untrusted(s))).unwrap_or_default();
            let _ = write!(page, "<li><a href=\"#finding-{}\">{}</a>{subject}</li>", i + 1, untrusted(&f.title));
        }
        page.push_str("</ol></details>\n");
    }
    page.push_str("<dl class=\"meta\">");
    let _ = write!(page, "<dt>Instances</dt><dd>");
    let mut first = true;
    for inst in &snapshot.instances {
        if !first {
            page.push_str("<br>");
        }
        first = false;
        let name = inst.server_name().map(|n| format!(" ({})", untrusted(n))).unwrap_or_default();
        if inst.connected {
            let denied = inst.query_errors.len();
            let denied = if denied > 0 { format!(", <span class=\"manual\">{} not readable</span>", plural(denied, "view", "views")) } else { String::new() };
            let _ = write!(page, "<span class=\"mono\">{}</span>{name}: collected{denied}", untrusted(&inst.target));
        } else {
            let why = inst.connect_error.as_ref().map(|e| untrusted(&e.message)).unwrap_or_else(|| "no connection".into());
            let _ = write!(page, "<span class=\"mono\">{}</span>{name}: <strong class=\"manual\">not collected</strong> ({why})", untrusted(&inst.target));
        }
    }
    page.push_str("</dd>");
    if let Some(Value::Object(settings)) = &snapshot.collection {
        let text = settings.iter().map(|(k, v)| format!("{}: {}", untrusted(k), untrusted(&scalar_text(v)))).collect::<Vec<_>>().join(", ");
        let _ = write!(page, "<dt>Connection</dt><dd>{text}</dd>");
    }
    let failed = snapshot.probes.iter().filter(|p| !p.ok).count();
    // A `login` probe is a login through the listener's name, not a bare TCP connect.
    let logins = snapshot.probes.iter().filter(|p| p.via.eq_ignore_ascii_case("login")).count();
    let tcp = plural(snapshot.probes.len() - logins, "TCP probe", "TCP probes");
    let probes = if logins == 0 { tcp } else { format!("{tcp} and {}", plural(logins, "login through a listener", "logins through listeners")) };
    let _ = write!(page, "<dt>Network probes</dt><dd>{probes} from the collecting machine, {failed} failed</dd>");
    let _ = write!(page, "<dt>Report generated</dt><dd><time class=\"generated-at\">{}</time> by AgDiag {}</dd>", untrusted(&report.generated_at), html(report.agdiag_version));
    page.push_str("</dl>\n<nav class=\"toc\"><a href=\"#topology\">Topology</a><a href=\"#routing\">Read-only routing</a><a href=\"#findings\">Findings</a>");
    if has_timeline {
        page.push_str("<a href=\"#timeline\">Timeline</a>");
    }
    page.push_str("<a href=\"#fix-script-section\">Fix script</a><a href=\"#not-evaluated\">Not evaluated</a><a href=\"#evidence\">Probes and checks</a></nav>\n</header>\n");
}

fn topology_section(page: &mut String, report: &Report, topology: &Topology<'_>) {
    page.push_str("<section id=\"topology\">\n<h2>Topology</h2>\n");
    if topology.ags.is_empty() {
        page.push_str("<p>No availability group to draw: no connected instance reported one.</p>\n");
    }
    for (i, ag) in topology.ags.iter().enumerate() {
        let _ = writeln!(page, "<h3>Availability group {}</h3>", untrusted(ag.name));
        page.push_str("<div class=\"figure\">");
        page.push_str(&svg::topology(&report.snapshot, ag, i));
        page.push_str("<div class=\"legend\"><span class=\"l-ok\">connected</span><span class=\"l-bad\">disconnected</span><span class=\"l-unknown\">state unknown</span><span class=\"l-probe\">failed TCP probe on that path</span></div></div>\n");
        // The same facts as a table: for screen readers, narrow screens and copy-paste.
        page.push_str("<details><summary>Replicas as a table</summary><div class=\"scroll\"><table class=\"replicas\"><thead><tr><th>Replica</th><th>Role</th><th>Availability</th><th>Failover</th><th>Connected</th><th>Synchronization</th><th>Last connect error</th><th>Endpoint URL</th><th>Endpoint port</th><th>Collected</th></tr></thead><tbody>");
        for r in &ag.replicas {
            let f = svg::replica_facts(&report.snapshot, ag, r);
            let cell = |v: &Option<String>| v.as_deref().map(untrusted).unwrap_or_default();
            let bad = f.connected_state.as_deref().is_some_and(|s| s.eq_ignore_ascii_case("DISCONNECTED")) || !f.collected;
            let _ = write!(
                page,
                "<tr{} data-replica=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"mono\">{}</td><td>{}</td><td>{}</td></tr>",
                if bad { " class=\"bad\"" } else { "" },
                untrusted(&f.name),
                untrusted(&f.name),
                untrusted(&f.role),
                cell(&f.availability),
                cell(&f.failover),
                cell(&f.connected_state),
                cell(&f.sync_health),
                cell(&f.last_connect_error),
                cell(&f.endpoint_url),
                f.endpoint_port.map(|p| p.to_string()).unwrap_or_default(),
                match &f.not_collected_why {
                    None => "yes".to_string(),
                    Some(why) => format!("no: {}", untrusted(why)),
                }
            );
        }
        page.push_str("</tbody></table></div></details>\n");
    }
    page.push_str("</section>\n");
}

fn routing_section(page: &mut String, report: &Report) {
    page.push_str("<section id=\"routing\">\n<h2>Read-only routing</h2>\n");
    if report.routing_simulation.is_empty() {
        page.push_str("<p>No replica that can be primary is known, so there is no routing to show.</p>\n");
    } else {
        page.push_str("<p class=\"sub\">Where a connection with <code>ApplicationIntent=ReadOnly</code> lands, for each replica that can be primary. Columns are tried in priority order; the targets in one column share the load.</p>\n");
    }
    for (i, path) in report.routing_simulation.iter().enumerate() {
        let _ = writeln!(
            page,
            "<h3>{}: when {} is primary <span class=\"where\">({})</span></h3>",
            untrusted(&path.availability_group),
            untrusted(&path.when_primary),
            untrusted(&path.could_be_primary_because)
        );
        page.push_str("<div class=\"figure\">");
        if !path.sets.is_empty() {
            page.push_str(&svg::routing(&report.snapshot, path, i));
        }
        let usable = path.sets.iter().any(|s| s.targets.iter().any(|t| t.usable));
        match &path.note {
            Some(note) => {
                let _ = write!(page, "<p class=\"note {}\">{}</p>", if usable { "ok" } else { "bad" }, untrusted_multiline(note));
            }
            None if usable => {
                let landing: Vec<String> = path
                    .sets
                    .iter()
                    .find(|s| s.targets.iter().any(|t| t.usable))
                    .map(|s| s.targets.iter().filter(|t| t.usable).map(|t| untrusted(&t.replica)).collect())
                    .unwrap_or_default();
                let _ = write!(page, "<p class=\"note ok\">ReadOnly connections land on {}.</p>", list_and(&landing));
            }
            None => {}
        }
        page.push_str("</div>\n");
    }
    page.push_str("</section>\n");
}

fn fix_script_section(page: &mut String, report: &Report) {
    page.push_str("<section id=\"fix-script-section\">\n<h2>Fix script</h2>\n");
    let fixable = report.findings.iter().filter(|f| !f.fix_steps.is_empty()).count();
    if fixable == 0 {
        page.push_str("<p>No finding has fix steps.</p>\n</section>\n");
        return;
    }
    let _ = writeln!(
        page,
        "<p class=\"sub\">SQLCMD mode (SSMS: Query → SQLCMD Mode, or <code>sqlcmd -i</code>), covering {}. Review it before running it. <button type=\"button\" id=\"copy-fix-script\" hidden>Copy script</button></p>",
        plural(fixable, "finding", "findings")
    );
    let script = report.fix_script(&ScriptOptions::default());
    // The script is AgDiag's rendering of server names (already bracket-quoted and sanitized);
    // it is still escaped here as text.
    let _ = writeln!(page, "<pre><code id=\"fix-script\">{}</code></pre>\n</section>", untrusted_multiline(&script));
}

fn not_evaluated_section(page: &mut String, report: &Report) {
    page.push_str("<section id=\"not-evaluated\">\n<h2>Not evaluated</h2>\n");
    let partial: Vec<_> = report.checks.iter().filter(|c| c.status == CheckStatus::NotEvaluated || !c.not_evaluated_on.is_empty()).collect();
    if partial.is_empty() {
        page.push_str("<p>Every check could look at all the evidence it needs.</p>\n</section>\n");
        return;
    }
    page.push_str("<p class=\"sub\">What AgDiag could not look at is not a pass: these checks did not run, or did not cover every instance.</p>\n");
    page.push_str("<div class=\"scroll\"><table class=\"not-evaluated\"><thead><tr><th>Check</th><th>What it detects</th><th>Status</th><th>Why</th></tr></thead><tbody>");
    let catalog = checks::catalog();
    for c in partial {
        let title = catalog.iter().find(|k| k.info.id == c.check).map(|k| k.info.title).unwrap_or("");
        let status = if c.status == CheckStatus::NotEvaluated { "not evaluated" } else { "partly evaluated" };
        let mut why: Vec<String> = c.reason.iter().map(|r| untrusted_multiline(r)).collect();
        for n in &c.not_evaluated_on {
            why.push(format!("{}: {}", untrusted(&n.subject), untrusted_multiline(&n.reason)));
        }
        let _ = write!(
            page,
            "<tr data-check=\"{}\"><td><code>{}</code></td><td>{}</td><td>{status}</td><td>{}</td></tr>",
            untrusted(&c.check),
            untrusted(&c.check),
            html(title),
            why.join("<br>")
        );
    }
    page.push_str("</tbody></table></div>\n</section>\n");
}

fn evidence_section(page: &mut String, report: &Report) {
    page.push_str("<section id=\"evidence\">\n<h2>Probes and checks</h2>\n");
    let probes = &report.snapshot.probes;
    let failed = probes.iter().filter(|p| !p.ok).count();
    let _ = write!(
        page,
        "<details{}><summary>{} ({} failed)</summary><div class=\"scroll\"><table class=\"probes\"><thead><tr><th>Purpose</th><th>Subject</th><th>Host:port</th><th>Via</th><th>Address</th><th>Result</th><th>ms</th></tr></thead><tbody>",
        if failed > 0 { " open" } else { "" },
        plural(probes.len(), "TCP probe", "TCP probes"),
        failed
    );
    for p in probes {
        let _ = write!(
            page,
            "<tr{}><td>{}</td><td>{}</td><td class=\"mono\">{}:{}</td><td>{}</td><td class=\"mono\">{}</td><td>{}</td><td>{}</td></tr>",
            if p.ok { "" } else { " class=\"bad\"" },
            untrusted(&p.purpose),
            untrusted(&p.subject),
            untrusted(&p.host),
            p.port,
            untrusted(&p.via),
            p.address.as_deref().map(untrusted).unwrap_or_default(),
            if p.ok { "reached".to_string() } else { format!("failed: {}", p.error.as_deref().map(untrusted).unwrap_or_default()) },
            p.elapsed_ms.map(|m| m.to_string()).unwrap_or_default()
        );
    }
    page.push_str("</tbody></table></div></details>\n");
    let _ = write!(
        page,
        "<details><summary>All {} checks</summary><div class=\"scroll\"><table class=\"checks\"><thead><tr><th>Check</th><th>What it detects</th><th>Status</th><th>Findings</th></tr></thead><tbody>",
        report.checks.len()
    );
    let catalog = checks::catalog();
    for c in &report.checks {
        let title = catalog.iter().find(|k| k.info.id == c.check).map(|k| k.info.title).unwrap_or("");
        let status = match c.status {
            CheckStatus::Pass => "pass",
            CheckStatus::Fail => "fail",
            CheckStatus::NotEvaluated => "not evaluated",
        };
        let _ = write!(
            page,
            "<tr{}><td><code>{}</code></td><td>{}</td><td>{status}</td><td>{}</td></tr>",
            if c.status == CheckStatus::Fail { " class=\"bad\"" } else { "" },
            untrusted(&c.check),
            html(title),
            c.findings
        );
    }
    page.push_str("</tbody></table></div></details>\n</section>\n");
}
