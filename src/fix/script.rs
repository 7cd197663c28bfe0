//! Renders fix steps as one SQLCMD-mode script.
//!
//! Steps run in global phase order (a login is created on every replica before any grant, and
//! data movement resumes only after every connectivity fix), consecutive steps for the same target
//! share one `:Connect` block, and identical steps from several findings are written once with every
//! finding id above them. Same findings in, same bytes out.

use std::collections::BTreeSet;
use std::fmt::Write;

use serde::Deserialize;

use super::tsql::{comment, connect_target_is_safe};
use crate::findings::{Finding, FixStep, Phase, Severity};

/// Which findings the script covers. Empty lists mean "all".
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScriptOptions {
    /// Finding ids to include.
    #[serde(default)]
    pub findings: Vec<String>,
    /// Check ids or patterns (`endpoint.*`, a category) to include.
    #[serde(default)]
    pub checks: Vec<String>,
    /// Leave out findings less severe than this.
    #[serde(default)]
    pub min_severity: Option<Severity>,
}

/// What the header says about where the findings came from.
pub struct ScriptSource<'a> {
    pub collected_at: Option<&'a str>,
    pub collector: Option<&'a str>,
}

struct Entry<'f> {
    step: &'f FixStep,
    finding_ids: Vec<&'f str>,
}

pub fn render(findings: &[&Finding], source: &ScriptSource<'_>) -> String {
    let mut entries: Vec<Entry<'_>> = Vec::new();
    for finding in findings {
        for step in &finding.fix_steps {
            match entries.iter_mut().find(|e| e.step == step) {
                Some(e) => {
                    if !e.finding_ids.contains(&finding.id.as_str()) {
                        e.finding_ids.push(&finding.id);
                    }
                }
                None => entries.push(Entry { step, finding_ids: vec![&finding.id] }),
            }
        }
    }
    // Stable sort: within a phase and target, findings keep their report order, except that a
    // REVOKE (which removes grants as well as denies) always precedes the GRANTs it makes way for.
    let is_grant_after_revoke = |e: &Entry<'_>| !e.step.text.starts_with("REVOKE ");
    entries.sort_by(|a, b| {
        (a.step.phase, a.step.target.to_lowercase(), is_grant_after_revoke(a)).cmp(&(
            b.step.phase,
            b.step.target.to_lowercase(),
            is_grant_after_revoke(b),
        ))
    });

    let mut out = String::new();
    write_header(&mut out, findings, source);
    if entries.is_empty() {
        out.push_str("\n-- Nothing to fix: no selected finding has a fix step.\n");
        return out;
    }

    let mut current_target: Option<&str> = None;
    let mut current_phase: Option<Phase> = None;
    // Consecutive manual steps of the same findings on the same target share one heading.
    let mut last_manual: Option<(&[&str], &str)> = None;
    for entry in &entries {
        let step = entry.step;
        if current_phase != Some(step.phase) {
            let _ = writeln!(out, "\n-- ===== {} =====", phase_title(step.phase));
            current_phase = Some(step.phase);
            // Every section names its server, so a reviewer never has to scroll back to know where it runs.
            current_target = None;
        }
        if step.manual {
            if last_manual != Some((entry.finding_ids.as_slice(), step.target.as_str())) {
                let _ = writeln!(out, "\n-- {}", comment(&entry.finding_ids.join(", ")));
                let _ = writeln!(out, "-- MANUAL on {}:", comment(&step.target));
                last_manual = Some((entry.finding_ids.as_slice(), step.target.as_str()));
            }
            for line in step.text.lines() {
                let _ = writeln!(out, "--   {}", comment(line));
            }
            continue;
        }
        last_manual = None;
        if !connect_target_is_safe(&step.target) {
            let _ = writeln!(out, "\n-- {}", comment(&entry.finding_ids.join(", ")));
            let _ = writeln!(
                out,
                "-- MANUAL: the server name {:?} cannot follow :Connect safely; connect to it yourself and run:",
                comment(&step.target)
            );
            for line in step.text.lines() {
                let _ = writeln!(out, "--   {}", comment(line));
            }
            current_target = None;
            continue;
        }
        if current_target != Some(step.target.as_str()) {
            let _ = writeln!(out, "\n:Connect {}", step.target);
            out.push_str("USE [master];\nGO\n");
            current_target = Some(&step.target);
        }
        let _ = writeln!(out, "-- {}", comment(&entry.finding_ids.join(", ")));
        let _ = writeln!(out, "{}\nGO", step.text);
    }
    out
}

fn write_header(out: &mut String, findings: &[&Finding], source: &ScriptSource<'_>) {
    let targets: BTreeSet<&str> = findings
        .iter()
        .flat_map(|f| f.fix_steps.iter().filter(|s| !s.manual).map(|s| s.target.as_str()))
        .collect();
    let manual = findings.iter().flat_map(|f| f.fix_steps.iter().filter(|s| s.manual)).count();
    out.push_str("--- YOU MUST EXECUTE THE FOLLOWING SCRIPT IN SQLCMD MODE.\n");
    let _ = writeln!(out, "-- AgDiag {} fix script", crate::VERSION);
    let _ = writeln!(
        out,
        "-- Evidence: snapshot collected at {} by {}",
        comment(source.collected_at.unwrap_or("an unknown time")),
        comment(source.collector.unwrap_or("an unknown collector"))
    );
    let _ = writeln!(
        out,
        "-- Findings: {} ({} with fix steps); instances changed by T-SQL: {}; manual steps: {}",
        findings.len(),
        findings.iter().filter(|f| !f.fix_steps.is_empty()).count(),
        targets.len(),
        manual
    );
    out.push_str(
        "--\n\
         -- REVIEW BEFORE RUNNING. AgDiag generated this script and never runs it. Each statement is\n\
         -- preceded by the finding it fixes. Steps marked MANUAL are done outside SQL Server.\n\
         -- Endpoint changes briefly interrupt that replica's AG traffic.\n\
         -- Keep this file UTF-8 with BOM (as agdiag --fix-script and New-AgFixScript -Path write it):\n\
         -- sqlcmd -i reads a file without BOM in the ANSI code page, mangling non-ASCII names.\n\
         :on error exit\n",
    );
}

fn phase_title(phase: Phase) -> &'static str {
    match phase {
        Phase::Prerequisite => "Prerequisites outside SQL Server",
        Phase::CreateLogin => "Logins for partner service accounts",
        Phase::EnableLogin => "Enable logins",
        Phase::CreateEndpoint => "Create database mirroring endpoints",
        Phase::AlterEndpoint => "Endpoint configuration",
        Phase::EndpointOwner => "Endpoint ownership (drops every permission on the endpoint; re-granted below)",
        Phase::GrantConnect => "CONNECT permission on the endpoints",
        Phase::ServerPermissions => "Server permissions the cluster needs (health checks and failover)",
        Phase::StartEndpoint => "Start endpoints",
        Phase::ReplicaOptions => "Availability replica options (run on the primary)",
        Phase::RoutingUrl => "Read-only routing URLs (before the routing lists that name them)",
        Phase::RoutingList => "Read-only routing lists",
        Phase::Listener => "Listeners",
        Phase::DataMovement => "Resume data movement",
        Phase::EventSession => "AlwaysOn_health extended events session",
    }
}
