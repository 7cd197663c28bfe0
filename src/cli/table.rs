//! Plain-text rendering for a 100-column terminal.

use std::fmt::Write;

use agdiag::checks::CheckStatus;
use agdiag::explain::Explanation;
use agdiag::findings::Finding;
use agdiag::Report;
use agdiag::timeline::{Failover, FailoverKind, Timeline};
use agdiag::untrusted_text::shown_multiline;

const WIDTH: usize = 100;
const INDENT: &str = "          ";

pub fn report(report: &Report) -> String {
    shown_multiline(&report_text(report)).into_owned()
}

fn report_text(report: &Report) -> String {
    let mut out = String::new();
    let s = &report.summary;
    let _ = writeln!(
        out,
        "AgDiag {} — {} instance(s), {} check(s) run: {} error(s), {} warning(s), {} info, {} not evaluated\n",
        report.agdiag_version,
        report.snapshot.instances.len(),
        s.checks_run,
        s.errors,
        s.warnings,
        s.info,
        s.not_evaluated
    );
    out.push_str(&findings_text(&report.findings.iter().collect::<Vec<_>>()));
    out.push_str(&routing(&report.routing_simulation));
    out.push_str(&last_failovers(&report.timeline));
    let unreachable = not_connected(&mut out, &report.snapshot);
    let skipped: Vec<_> = report.checks.iter().filter(|c| c.status == CheckStatus::NotEvaluated).collect();
    if !skipped.is_empty() {
        out.push_str("\nNot evaluated:\n");
        // A check that could not run because an instance was not reached says so by the
        // instance's name; the connection error itself is printed once, above. Checks left with
        // the same reason are listed together.
        let mut groups: Vec<(String, Vec<&str>)> = Vec::new();
        for c in skipped {
            let mut reason = c.reason.clone().unwrap_or_default();
            for message in unreachable.iter().filter(|m| !m.trim().is_empty()) {
                reason = reason.replace(message.as_str(), "see \"Not connected\" above");
            }
            match groups.iter_mut().find(|(r, _)| *r == reason) {
                Some((_, checks)) => checks.push(&c.check),
                None => groups.push((reason, vec![&c.check])),
            }
        }
        for (reason, checks) in groups {
            if let [check] = checks.as_slice() {
                let first = format!("  {check:<34} ");
                wrap_hanging(&mut out, &reason, &first, &" ".repeat(first.len()));
            } else {
                wrap_hanging(&mut out, &format!("{} checks: {}", checks.len(), checks.join(", ")), "  ", "    ");
                wrap_into(&mut out, &reason, "      ");
            }
        }
    }
    out
}

/// The instances AgDiag could not connect to, each named once with its error; returns those
/// errors as they appear inside the checks' reasons. The `--trust-server-certificate` advice that
/// ends a certificate error is said once for all of them, and more plainly when no instance at
/// all could be reached because of its certificate.
fn not_connected(out: &mut String, snapshot: &agdiag::Snapshot) -> Vec<String> {
    let down: Vec<_> = snapshot.instances.iter().filter(|i| !i.connected).collect();
    if down.is_empty() {
        return Vec::new();
    }
    let _ = writeln!(out, "\nNot connected ({} of {} instance(s)):", down.len(), snapshot.instances.len());
    let mut messages = Vec::new();
    let mut certificate = 0;
    for instance in &down {
        let message = instance.connect_error.as_ref().map(|e| e.message.clone()).unwrap_or_else(|| "no connection".into());
        let shown = match agdiag::collect::tls::without_trust_advice(&message) {
            Some(short) => {
                certificate += 1;
                short
            }
            None => message.clone(),
        };
        // Collected errors start with the instance's name; one from elsewhere may not.
        let named = shown.starts_with(&instance.target)
            || shown.starts_with(instance.name())
            || shown.contains(&format!("(reached as {}):", instance.target));
        let line = if named {
            shown
        } else {
            format!("{}: {shown}", instance.name())
        };
        wrap_hanging(out, &line, "  ", "      ");
        messages.push(message);
    }
    if certificate > 0 {
        let lead = if certificate == snapshot.instances.len() {
            "No instance could be reached: every instance's TLS certificate was rejected. Fix the certificates or \
             trust their CA (above); for a one-off look on a network you trust, "
        } else {
            "Where a certificate cannot be fixed now, "
        };
        wrap_into(
            out,
            &format!(
                "{lead}--trust-server-certificate accepts any certificate: it gives no protection against a man in \
                 the middle, so keep the secure default wherever you can."
            ),
            "  ",
        );
    }
    messages
}

/// The findings table. Server names in it are shown with deceptive characters escaped
/// (`untrusted_text`), so a terminal shows every row as the one line it is.
pub fn findings(findings: &[&Finding]) -> String {
    shown_multiline(&findings_text(findings)).into_owned()
}

fn findings_text(findings: &[&Finding]) -> String {
    let mut out = String::new();
    if findings.is_empty() {
        out.push_str("No findings.\n");
        return out;
    }
    let check_width = findings.iter().map(|f| f.check.len()).max().unwrap_or(0).max(34);
    let _ = writeln!(out, "{:<9} {:<check_width$} {:<14} OBJECT", "SEVERITY", "CHECK", "INSTANCE");
    for f in findings {
        let _ = writeln!(
            out,
            "{:<9} {:<check_width$} {:<14} {}",
            f.severity.as_str().to_uppercase(),
            f.check,
            f.instance.as_deref().or(f.availability_group.as_deref()).unwrap_or("-"),
            f.object.as_deref().unwrap_or("-")
        );
        wrap_into(&mut out, &f.message, INDENT);
        if !f.remediation.is_empty() {
            wrap_into(&mut out, &format!("Fix: {}", f.remediation), INDENT);
        }
        out.push('\n');
    }
    out
}

/// The routing simulation: per replica that could be primary, the ordered load-balanced sets.
pub fn routing(paths: &[agdiag::routing_simulation::RoutingPath]) -> String {
    let mut out = String::new();
    if paths.is_empty() {
        return out;
    }
    out.push_str("\nRead-only routing (where ApplicationIntent=ReadOnly connections land):\n");
    for path in paths {
        let _ = writeln!(
            out,
            "  {} with {} primary ({}):",
            path.availability_group, path.when_primary, path.could_be_primary_because
        );
        for set in &path.sets {
            let targets: Vec<String> = set
                .targets
                .iter()
                .map(|t| match (&t.reason, t.usable) {
                    (Some(reason), false) => format!("{} [skipped: {reason}]", t.replica),
                    _ => t.replica.clone(),
                })
                .collect();
            wrap_into(&mut out, &format!("{}. {}", set.routing_priority, targets.join(", ")), "      ");
        }
        match &path.note {
            Some(note) => wrap_into(&mut out, &format!("-> {note}"), "      "),
            None => {
                // The first set with a usable target takes the connections (round-robin within it).
                let landing = path.sets.iter().map(|set| {
                    set.targets.iter().filter(|t| t.usable).map(|t| t.replica.as_str()).collect::<Vec<_>>()
                });
                if let Some(targets) = landing.into_iter().find(|t| !t.is_empty()) {
                    let how = if targets.len() > 1 { " (load-balanced)" } else { "" };
                    wrap_into(&mut out, &format!("-> ReadOnly connections land on {}{how}.", targets.join(", ")), "      ");
                }
            }
        }
    }
    out
}

/// The last failovers, briefly (for `analyze`; `agdiag timeline` shows everything).
fn last_failovers(timeline: &Timeline) -> String {
    let mut out = String::new();
    if timeline.failovers.is_empty() {
        return out;
    }
    let shown = timeline.failovers.len().min(3);
    let _ = writeln!(
        out,
        "\nLast failovers (7 days before collected_at; `agdiag timeline` shows every event):"
    );
    for f in &timeline.failovers[timeline.failovers.len() - shown..] {
        wrap_hanging(&mut out, &failover_line(f), "  ", "      ");
    }
    out
}

fn failover_line(f: &Failover) -> String {
    let cause = match f.kind {
        FailoverKind::Automatic => format!("cause: {}", f.cause_text),
        _ => f.cause_text.clone(),
    };
    format!(
        "{} {}: {} -> {}, {} ({cause})",
        f.time,
        f.availability_group,
        f.from.as_deref().unwrap_or("?"),
        f.to,
        f.kind.as_str()
    )
}

/// `agdiag timeline`: every entry in UTC order with its meaning and source, then the failovers.
pub fn timeline(timeline: &Timeline, since: &str, instances: usize) -> String {
    shown_multiline(&timeline_text(timeline, since, instances)).into_owned()
}

fn timeline_text(t: &Timeline, since: &str, instances: usize) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "AgDiag timeline — {instances} instance(s), {} AlwaysOn_health event(s)\nWindow: {} .. {} ({since} before collected_at)\n",
        t.entries.len(),
        t.since.as_deref().unwrap_or("?"),
        t.until.as_deref().unwrap_or("?"),
    );
    if t.entries.is_empty() {
        out.push_str("No AlwaysOn_health events in the window.\n");
    } else {
        let _ = writeln!(out, "{:<24}  {:<10} {:<8} KIND", "TIME (UTC)", "REPLICA", "AG");
        for e in &t.entries {
            let _ = writeln!(
                out,
                "{:<24}  {:<10} {:<8} {}",
                e.time,
                e.replica,
                e.availability_group.as_deref().unwrap_or("-"),
                e.kind.as_str()
            );
            wrap_into(&mut out, &e.message, INDENT);
            let file = e.source.file_name.as_deref().map(|f| f.rsplit(['\\', '/']).next().unwrap_or(f)).unwrap_or("?");
            let offset = e.source.file_offset.map(|o| format!(" @ {o}")).unwrap_or_default();
            let by = if e.recorded_by.eq_ignore_ascii_case(&e.replica) { String::new() } else { format!(" (recorded by {})", e.recorded_by) };
            wrap_into(&mut out, &format!("source: {file}{offset}{by}"), INDENT);
        }
    }
    if !t.failovers.is_empty() {
        out.push_str("\nFailovers:\n");
        for f in &t.failovers {
            wrap_hanging(&mut out, &failover_line(f), "  ", "      ");
        }
    }
    if !t.gaps.is_empty() {
        out.push_str("\nNo history from:\n");
        for g in &t.gaps {
            wrap_hanging(&mut out, &format!("{}: {}", g.instance, g.reason), "  ", "      ");
        }
    }
    if t.unreadable_events > 0 {
        let _ = writeln!(out, "\n{} row(s) of alwayson_health were not readable events and are left out.", t.unreadable_events);
    }
    out
}

pub fn checks() -> String {
    let mut out = String::new();
    let snapshot_checks = agdiag::checks::catalog().into_iter().map(|c| &c.info);
    let infos: Vec<_> = snapshot_checks.chain(agdiag::connection_string::CHECKS).collect();
    // The category is the id's prefix, so the title gets the rest of the line.
    let id_width = infos.iter().map(|i| i.id.len()).max().unwrap_or(0);
    let _ = writeln!(out, "{:<id_width$} TITLE", "CHECK");
    for info in infos {
        let first = format!("{:<id_width$} ", info.id);
        wrap_hanging(&mut out, info.title, &first, &" ".repeat(first.len()));
    }
    out
}

pub fn explanation(e: &Explanation) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Error {}{}", e.number, e.severity.map(|s| format!(", severity {s}")).unwrap_or_default());
    wrap_into(&mut out, e.message, "  ");
    out.push('\n');
    wrap_into(&mut out, e.meaning, "");
    if !e.steps.is_empty() {
        out.push_str("\nDiagnosis, in order:\n");
        for (i, step) in e.steps.iter().enumerate() {
            let number = format!("  {}. ", i + 1);
            wrap_hanging(&mut out, step.step, &number, &" ".repeat(number.len()));
            if !step.checks.is_empty() {
                let label = format!("{}checks: ", " ".repeat(number.len()));
                wrap_hanging(&mut out, &step.checks.join(", "), &label, &" ".repeat(label.len()));
            }
        }
    }
    out
}

/// Word-wraps `text` at WIDTH with `indent` on every line.
fn wrap_into(out: &mut String, text: &str, indent: &str) {
    wrap_hanging(out, text, indent, indent);
}

/// Word-wraps `text` at WIDTH: the first line starts with `first`, the others with `rest`.
fn wrap_hanging(out: &mut String, text: &str, first: &str, rest: &str) {
    let mut line = String::from(first);
    let mut prefix_len = first.len();
    for word in text.split_whitespace() {
        if line.len() > prefix_len && line.len() + 1 + word.len() > WIDTH {
            out.push_str(line.trim_end());
            out.push('\n');
            line = String::from(rest);
            prefix_len = rest.len();
        }
        if line.len() > prefix_len && !line.ends_with(' ') {
            line.push(' ');
        }
        line.push_str(word);
    }
    if line.len() > prefix_len {
        out.push_str(&line);
        out.push('\n');
    }
}
