//! The per-check recorder: a check asks it for evidence (which records, per instance, why evidence
//! was unavailable) and hands it findings through a small builder.

use std::collections::{HashMap, HashSet};
use std::hash::BuildHasher;
use std::fmt::Display;

use serde_json::Value;

use super::CheckInfo;
use crate::findings::{Finding, FixStep, Severity};
use crate::snapshot::{Instance, Row};
use crate::untrusted_text::{shown, shown_multiline};

/// One instance or subject a check could not look at, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NotEvaluated {
    pub subject: String,
    pub reason: String,
}

pub struct CheckRun<'c> {
    pub(crate) info: &'c CheckInfo,
    pub(crate) findings: Vec<Finding>,
    /// Explicit `evaluated()` calls (probes, topology).
    pub(crate) evaluated: usize,
    /// Subjects whose evidence was read; those also in `not_evaluated` do not count as evaluated.
    pub(crate) seen: Vec<String>,
    seen_set: HashSet<String>,
    pub(crate) not_evaluated: Vec<NotEvaluated>,
    /// Indexes into `not_evaluated` by a hash of `(subject, reason)`, for deduplication without
    /// copying either string.
    skipped: HashMap<u64, Vec<usize>>,
    hasher: std::collections::hash_map::RandomState,
}

impl<'c> CheckRun<'c> {
    pub(crate) fn new(info: &'c CheckInfo) -> Self {
        CheckRun {
            info,
            findings: Vec::new(),
            evaluated: 0,
            seen: Vec::new(),
            seen_set: HashSet::new(),
            not_evaluated: Vec::new(),
            skipped: HashMap::new(),
            hasher: std::collections::hash_map::RandomState::new(),
        }
    }

    pub fn info(&self) -> &CheckInfo {
        self.info
    }

    /// The rows of `key` on `inst`; when unavailable, records why and returns `None`.
    pub fn rows<'s>(&mut self, inst: &'s Instance, key: &'static str) -> Option<&'s [Row]> {
        match inst.rows(key) {
            Ok(rows) => {
                if !self.seen_set.contains(inst.name()) {
                    self.seen_set.insert(inst.name().to_string());
                    self.seen.push(inst.name().to_string());
                }
                Some(rows)
            }
            Err(why) => {
                self.skip(inst.name(), why);
                None
            }
        }
    }

    /// How many subjects were fully evaluated: explicit marks plus instances read and never skipped.
    pub(crate) fn evaluated_count(&self) -> usize {
        let skipped: HashSet<&str> = self.not_evaluated.iter().map(|n| n.subject.as_str()).collect();
        self.evaluated + self.seen.iter().filter(|s| !skipped.contains(s.as_str())).count()
    }

    /// Marks that the check looked at real evidence (for checks over probes or topology).
    pub fn evaluated(&mut self) {
        self.evaluated += 1;
    }

    /// Records that `subject` could not be evaluated, and why (deduplicated).
    pub fn skip(&mut self, subject: &str, reason: impl Display) {
        let reason = reason.to_string();
        let hash = self.hasher.hash_one((subject, reason.as_str()));
        let same = self.skipped.entry(hash).or_default();
        if same.iter().any(|&i| self.not_evaluated[i].subject == subject && self.not_evaluated[i].reason == reason) {
            return;
        }
        same.push(self.not_evaluated.len());
        self.not_evaluated.push(NotEvaluated { subject: subject.to_string(), reason });
    }

    /// Starts a finding about `object` (an endpoint, login, replica, listener, URL ...).
    pub fn finding(&mut self, severity: Severity, object: impl Into<String>) -> Draft<'_, 'c> {
        let info = self.info;
        Draft {
            run: self,
            finding: Finding {
                id: String::new(),
                check: info.id.to_string(),
                category: info.category,
                severity,
                instance: None,
                availability_group: None,
                replica: None,
                object: Some(object.into()),
                title: info.title.to_string(),
                message: String::new(),
                evidence: Value::Object(Default::default()),
                remediation: String::new(),
                fix: None,
                fix_steps: Vec::new(),
                related_errors: info.related_errors.to_vec(),
            },
        }
    }
}

/// A finding being built; `emit` adds it to the run.
#[must_use = "call .emit() to record the finding"]
pub struct Draft<'r, 'c> {
    run: &'r mut CheckRun<'c>,
    finding: Finding,
}

impl Draft<'_, '_> {
    pub fn instance(mut self, name: impl Into<String>) -> Self {
        self.finding.instance = Some(name.into());
        self
    }
    pub fn ag(mut self, name: impl Into<String>) -> Self {
        self.finding.availability_group = Some(name.into());
        self
    }
    pub fn replica(mut self, name: impl Into<String>) -> Self {
        self.finding.replica = Some(name.into());
        self
    }
    /// Overrides the check's title for this finding (keep it short and specific).
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.finding.title = title.into();
        self
    }
    pub fn message(mut self, message: impl Into<String>) -> Self {
        self.finding.message = message.into();
        self
    }
    /// The rows and values that prove the finding: an object such as
    /// `json!({"database_mirroring_endpoints": [row], "expected_port": 5022})`.
    pub fn evidence(mut self, evidence: Value) -> Self {
        self.finding.evidence = evidence;
        self
    }
    pub fn remediation(mut self, remediation: impl Into<String>) -> Self {
        self.finding.remediation = remediation.into();
        self
    }
    pub fn fix(mut self, step: FixStep) -> Self {
        self.finding.fix_steps.push(step);
        self
    }
    pub fn fixes(mut self, steps: impl IntoIterator<Item = FixStep>) -> Self {
        self.finding.fix_steps.extend(steps);
        self
    }
    /// Replaces the check's related error numbers for this finding.
    pub fn related(mut self, errors: &[u32]) -> Self {
        self.finding.related_errors = errors.to_vec();
        self
    }

    pub fn emit(self) {
        let mut f = self.finding;
        show_names_as_they_are(&mut f);
        let scope = f.instance.as_deref().or(f.availability_group.as_deref()).unwrap_or("-");
        f.id = match &f.object {
            Some(object) => format!("{}@{}/{}", f.check, scope, object),
            None => format!("{}@{}", f.check, scope),
        };
        let sql: Vec<&str> = f.fix_steps.iter().filter(|s| !s.manual).map(|s| s.text.as_str()).collect();
        f.fix = if sql.is_empty() { None } else { Some(sql.join("\n")) };
        self.run.findings.push(f);
    }
}

/// Server names reach messages, titles and ids as written; a U+2028 or a bidi override in one
/// would make the finding read as something else, so every such character is shown escaped.
/// Evidence keeps the raw rows, and fix steps escape for themselves (`fix::tsql`).
fn show_names_as_they_are(f: &mut Finding) {
    for field in [&mut f.instance, &mut f.availability_group, &mut f.replica, &mut f.object].into_iter().flatten() {
        *field = shown(field).into_owned();
    }
    f.title = shown(&f.title).into_owned();
    f.message = shown_multiline(&f.message).into_owned();
    f.remediation = shown_multiline(&f.remediation).into_owned();
}
