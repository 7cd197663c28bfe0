//! The findings part of the page: grouped by area (areas with errors first), each with its
//! message, remediation, evidence rows as tables (collapsible) and fix steps.

use std::fmt::Write;

use serde_json::Value;

use super::escape::{html, untrusted, untrusted_multiline};
use super::plural;
use crate::findings::{Finding, Severity};
use crate::report::Report;

fn category_title(category: &str) -> String {
    match category {
        "hadr" => "Always On feature".into(),
        "accounts" => "Service accounts and permissions".into(),
        "endpoint" => "Mirroring endpoints".into(),
        "endpoint_url" => "Endpoint URLs".into(),
        "network" => "Network".into(),
        "listener" => "Listener".into(),
        "routing" => "Read-only routing".into(),
        "session" => "Sessions".into(),
        "health" => "Synchronization health".into(),
        "errorlog" => "Error log".into(),
        "build" => "SQL Server builds".into(),
        "certificate" => "Endpoint certificates".into(),
        other => other.replace('_', " "),
    }
}

pub(super) fn findings_section(page: &mut String, report: &Report) {
    page.push_str("<section id=\"findings\">\n<h2>Findings</h2>\n");
    if report.findings.is_empty() {
        page.push_str("<p>No findings: every check that could be evaluated passed.</p>\n</section>\n");
        return;
    }
    page.push_str("<div id=\"filters\" hidden><strong>Show</strong>");
    for (sev, label) in [("error", "errors"), ("warning", "warnings"), ("info", "info")] {
        let _ = write!(page, "<label><input type=\"checkbox\" value=\"{sev}\" checked> {label}</label>");
    }
    page.push_str("<input type=\"search\" id=\"filter-text\" placeholder=\"Filter by text (replica, check, error number…)\" aria-label=\"Filter findings by text\"></div>\n");
    // Areas in order of their worst finding, then catalog order; findings keep report order.
    // (worst severity, area, its findings with their index in the report)
    type Area<'r> = (Severity, crate::findings::Category, Vec<(usize, &'r Finding)>);
    let mut areas: Vec<Area<'_>> = Vec::new();
    for (i, f) in report.findings.iter().enumerate() {
        match areas.iter_mut().find(|(_, c, _)| *c == f.category) {
            Some((worst, _, list)) => {
                *worst = (*worst).min(f.severity);
                list.push((i, f));
            }
            None => areas.push((f.severity, f.category, vec![(i, f)])),
        }
    }
    areas.sort_by_key(|(worst, category, _)| (*worst, *category));
    for (_, category, list) in &areas {
        let _ = writeln!(
            page,
            "<section class=\"area\" data-category=\"{}\"><h3>{} <span class=\"where\">({})</span></h3>",
            html(category.as_str()),
            html(&category_title(category.as_str())),
            list.len()
        );
        for (i, f) in list {
            finding(page, *i, f);
        }
        page.push_str("</section>\n");
    }
    page.push_str("</section>\n");
}

fn finding(page: &mut String, index: usize, f: &Finding) {
    let sev = f.severity.as_str();
    let _ = write!(
        page,
        "<article class=\"finding\" id=\"finding-{}\" data-severity=\"{sev}\" data-finding-id=\"{}\" data-check=\"{}\">",
        index + 1,
        untrusted(&f.id),
        untrusted(&f.check)
    );
    let _ = write!(page, "<div class=\"finding-head\"><span class=\"sev {sev}\">{sev}</span><h4>{}</h4></div>", untrusted(&f.title));
    let mut where_: Vec<String> = vec![format!("<code>{}</code>", untrusted(&f.check))];
    for (label, value) in [("AG", &f.availability_group), ("instance", &f.instance), ("replica", &f.replica), ("object", &f.object)] {
        if let Some(v) = value {
            where_.push(format!("{label} <strong>{}</strong>", untrusted(v)));
        }
    }
    if !f.related_errors.is_empty() {
        where_.push(format!("errors {}", f.related_errors.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")));
    }
    let _ = write!(page, "<div class=\"where\">{}</div>", where_.join(" · "));
    let _ = write!(page, "<p class=\"message\">{}</p>", untrusted_multiline(&f.message));
    let _ = write!(page, "<div class=\"remediation\"><strong>What to do:</strong> {}</div>", untrusted_multiline(&f.remediation));
    if !is_empty_value(&f.evidence) {
        page.push_str("<details class=\"evidence\"><summary>Evidence</summary><div class=\"scroll\">");
        evidence(page, &f.evidence, 0);
        page.push_str("</div></details>");
    }
    if !f.fix_steps.is_empty() {
        let _ = write!(page, "<details class=\"fix\" open><summary>Fix ({})</summary>", plural(f.fix_steps.len(), "step", "steps"));
        for step in &f.fix_steps {
            let phase = serde_json::to_value(step.phase).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
            let manual = if step.manual { " · <span class=\"manual\">manual step</span>" } else { "" };
            let _ = write!(
                page,
                "<div class=\"step-meta\">on <strong>{}</strong> · {}{manual}</div><pre><code>{}</code></pre>",
                untrusted(&step.target),
                html(&phase.replace('_', " ")),
                untrusted_multiline(&step.text)
            );
        }
        page.push_str("</details>");
    }
    page.push_str("</article>\n");
}

fn is_empty_value(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

pub(super) fn scalar_text(v: &Value) -> String {
    match v {
        Value::Null => "NULL".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Evidence as tables: an object is a key/value table, an array of rows a table with one column
/// per key (in first-seen order), scalars are text; nesting is rendered recursively.
fn evidence(page: &mut String, value: &Value, depth: usize) {
    if depth > 8 {
        let _ = write!(page, "<code>{}</code>", untrusted(&value.to_string()));
        return;
    }
    match value {
        Value::Object(map) => {
            page.push_str("<table class=\"kv\"><tbody>");
            for (k, v) in map {
                let _ = write!(page, "<tr><th>{}</th>", untrusted(k));
                cell(page, v, depth);
                page.push_str("</tr>");
            }
            page.push_str("</tbody></table>");
        }
        Value::Array(items) if !items.is_empty() && items.iter().all(Value::is_object) => {
            let mut columns: Vec<&str> = Vec::new();
            for item in items {
                if let Value::Object(m) = item {
                    for k in m.keys() {
                        if !columns.contains(&k.as_str()) {
                            columns.push(k);
                        }
                    }
                }
            }
            page.push_str("<table class=\"rows\"><thead><tr>");
            for c in &columns {
                let _ = write!(page, "<th>{}</th>", untrusted(c));
            }
            page.push_str("</tr></thead><tbody>");
            for item in items {
                page.push_str("<tr>");
                for c in &columns {
                    match item.get(*c) {
                        Some(v) => cell(page, v, depth),
                        None => page.push_str("<td></td>"),
                    }
                }
                page.push_str("</tr>");
            }
            page.push_str("</tbody></table>");
        }
        Value::Array(items) => {
            let all_scalar = items.iter().all(|v| !v.is_object() && !v.is_array());
            if all_scalar {
                let _ = write!(page, "{}", items.iter().map(|v| untrusted_multiline(&scalar_text(v))).collect::<Vec<_>>().join(", "));
            } else {
                for item in items {
                    evidence(page, item, depth + 1);
                }
            }
        }
        Value::Null => page.push_str("NULL"),
        other => page.push_str(&untrusted_multiline(&scalar_text(other))),
    }
}

fn cell(page: &mut String, v: &Value, depth: usize) {
    match v {
        Value::Null => page.push_str("<td class=\"null\">NULL</td>"),
        Value::Object(_) | Value::Array(_) => {
            page.push_str("<td>");
            evidence(page, v, depth + 1);
            page.push_str("</td>");
        }
        other => {
            let _ = write!(page, "<td>{}</td>", untrusted_multiline(&scalar_text(other)));
        }
    }
}
