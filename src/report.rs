//! Analysis: snapshot in, report out (check results, findings, routing simulation), and the
//! `agdiag.findings/1` JSON and fix script rendered from it.

use serde::{Deserialize, Serialize};

use crate::checks::{self, CheckResult, CheckStatus};
use crate::error::{Error, Result};
use crate::findings::{Finding, Severity};
use crate::fix::{self, ScriptOptions};
use crate::routing_simulation::{self, RoutingPath};
use crate::snapshot::Snapshot;
use crate::timeline::Timeline;

pub const FINDINGS_FORMAT: &str = "agdiag.findings/1";

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalyzeOptions {
    /// Check ids or patterns to run (`endpoint.*`, `routing`); all when empty.
    #[serde(default)]
    pub checks: Vec<String>,
    /// Pins `generated_at` (for reproducible output); the current UTC time when absent.
    #[serde(default)]
    pub generated_at: Option<String>,
}

impl AnalyzeOptions {
    /// Parses options JSON; `None` or blank text means defaults.
    pub fn from_json(text: Option<&str>) -> Result<AnalyzeOptions> {
        let options: AnalyzeOptions = parse_options(text, "analyze options")?;
        checks::validate_selection(&options.checks)?;
        Ok(options)
    }
}

pub(crate) fn parse_options<T: Default + for<'de> Deserialize<'de>>(text: Option<&str>, what: &str) -> Result<T> {
    match text.map(str::trim) {
        None | Some("") => Ok(T::default()),
        Some(t) => serde_json::from_str(t).map_err(|e| Error::json(what, &e)),
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub errors: usize,
    pub warnings: usize,
    pub info: usize,
    pub checks_run: usize,
    pub not_evaluated: usize,
}

/// The result of analyzing one snapshot. Serializes as `agdiag.findings/1`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub format: &'static str,
    pub generated_at: String,
    pub agdiag_version: &'static str,
    pub summary: Summary,
    pub checks: Vec<CheckResult>,
    pub findings: Vec<Finding>,
    /// For each replica that could be primary, where a ReadOnly connection would land.
    pub routing_simulation: Vec<RoutingPath>,
    /// Every replica's AlwaysOn_health events of the last 7 days before `collected_at`, merged in
    /// UTC order, and the failovers read from them.
    pub timeline: Timeline,
    #[serde(skip)]
    pub snapshot: Snapshot,
}

pub fn analyze(snapshot: Snapshot, options: &AnalyzeOptions) -> Report {
    let ctx = checks::Ctx::new(&snapshot);
    let (checks, mut findings) = checks::run_checks_in(&ctx, &options.checks);
    let checks::Ctx { timeline, .. } = ctx;
    sort_findings(&mut findings);
    let summary = Summary {
        errors: findings.iter().filter(|f| f.severity == Severity::Error).count(),
        warnings: findings.iter().filter(|f| f.severity == Severity::Warning).count(),
        info: findings.iter().filter(|f| f.severity == Severity::Info).count(),
        checks_run: checks.len(),
        not_evaluated: checks.iter().filter(|c| c.status == CheckStatus::NotEvaluated).count(),
    };
    let routing_simulation = routing_simulation::simulate(&crate::topology::Topology::build(&snapshot));
    Report {
        format: FINDINGS_FORMAT,
        generated_at: options.generated_at.clone().unwrap_or_else(now_utc),
        agdiag_version: crate::VERSION,
        summary,
        checks,
        findings,
        routing_simulation,
        timeline,
        snapshot,
    }
}

/// Errors first, then by check, instance, object; ids break ties and are made unique.
fn sort_findings(findings: &mut [Finding]) {
    findings.sort_by(|a, b| {
        (a.severity, a.category, &a.check, a.instance.as_deref().map(str::to_lowercase), &a.object, &a.id).cmp(&(
            b.severity,
            b.category,
            &b.check,
            b.instance.as_deref().map(str::to_lowercase),
            &b.object,
            &b.id,
        ))
    });
    let mut seen = std::collections::HashMap::<String, usize>::new();
    for f in findings.iter_mut() {
        let n = seen.entry(f.id.clone()).or_insert(0);
        *n += 1;
        if *n > 1 {
            f.id = format!("{}#{}", f.id, n);
        }
    }
}

fn now_utc() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

impl Report {
    pub fn findings_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report always serializes")
    }

    /// The timeline as JSON (`since`, `until`, `entries`, `failovers`, `gaps`).
    pub fn timeline_json(&self) -> String {
        self.timeline.to_json_pretty()
    }

    pub fn worst_severity(&self) -> Option<Severity> {
        self.findings.iter().map(|f| f.severity).min()
    }

    /// The findings the script options select, in report order.
    pub fn select(&self, options: &ScriptOptions) -> Vec<&Finding> {
        self.findings
            .iter()
            .filter(|f| options.findings.is_empty() || options.findings.contains(&f.id))
            .filter(|f| {
                options.checks.is_empty()
                    || checks::catalog()
                        .iter()
                        .any(|c| c.info.id == f.check && options.checks.iter().any(|p| checks::matches(p, &c.info)))
            })
            .filter(|f| options.min_severity.is_none_or(|min| f.severity <= min))
            .collect()
    }

    pub fn fix_script(&self, options: &ScriptOptions) -> String {
        let source = fix::script::ScriptSource {
            collected_at: self.snapshot.collected_at.as_deref(),
            collector: self.snapshot.collector.as_deref(),
        };
        fix::render(&self.select(options), &source)
    }
}
