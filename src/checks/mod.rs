//! The checks: one module per seed area, each a static list of pure functions over the snapshot.

mod run;

pub mod accounts;
pub mod build_version;
pub mod certificate_auth;
pub mod certificates;
pub mod distributed;
pub mod endpoint;
pub mod endpoint_url;
mod endpoint_facts;
pub mod errorlog;
pub mod failover;
pub mod hadr;
pub mod health;
pub mod history;
pub mod listener;
pub mod listener_clients;
pub mod login_parity;
pub mod network;
pub mod routing;
pub mod seeding;
pub mod session;
mod service_account;

pub use run::{CheckRun, Draft, NotEvaluated};

use serde::{Deserialize, Serialize};

use crate::findings::{Category, Finding};
use crate::snapshot::{Instance, Snapshot};
use crate::timeline::{self, Timeline};
use crate::topology::Topology;

/// What a check is, for the catalog (`agdiag checks`, `agdiag_checks_json`).
#[derive(Debug, Clone, Serialize)]
pub struct CheckInfo {
    /// Stable id, `<category>.<condition>`; never reused for another meaning.
    pub id: &'static str,
    pub category: Category,
    pub title: &'static str,
    /// What the check detects and why it matters, in a DBA's words.
    pub description: &'static str,
    /// Snapshot keys it reads (`probes` for network probes).
    pub needs: &'static [&'static str],
    pub related_errors: &'static [u32],
    /// The seed document step it implements.
    pub seed: &'static str,
}

pub struct Check {
    pub info: CheckInfo,
    pub run: fn(&Ctx<'_>, &mut CheckRun<'_>),
}

/// What every check gets: the snapshot, the merged AG picture and the incident timeline.
pub struct Ctx<'s> {
    pub snapshot: &'s Snapshot,
    pub topology: Topology<'s>,
    memo: Memo,
    /// AlwaysOn_health events of every replica over the default window (7 days before
    /// `collected_at`), with the failovers read from them.
    pub timeline: Timeline,
}

/// Values derived from the snapshot that several checks share (one per type), computed once.
#[derive(Default)]
struct Memo(std::sync::Mutex<std::collections::HashMap<std::any::TypeId, std::sync::Arc<dyn std::any::Any + Send + Sync>>>);

impl<'s> Ctx<'s> {
    pub fn new(snapshot: &'s Snapshot) -> Self {
        Ctx {
            snapshot,
            topology: Topology::build(snapshot),
            timeline: timeline::build(snapshot, timeline::DEFAULT_WINDOW),
            memo: Memo::default(),
        }
    }

    /// The value of type `T` derived from this snapshot: `init` runs on the first call only, so
    /// checks that read the same evidence the same way share the work. `T` must not borrow the
    /// snapshot (use indexes into it).
    pub fn memo<T: std::any::Any + Send + Sync>(&self, init: impl FnOnce() -> T) -> std::sync::Arc<T> {
        let key = std::any::TypeId::of::<T>();
        let found = self.memo.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(&key).cloned();
        let any = match found {
            Some(found) => found,
            None => {
                // Computed without the lock: `init` may itself use the memo.
                let value: std::sync::Arc<dyn std::any::Any + Send + Sync> = std::sync::Arc::new(init());
                let mut map = self.memo.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                map.entry(key).or_insert(value).clone()
            }
        };
        any.downcast::<T>().expect("memo entries are stored under their own type")
    }

    pub fn instances(&self) -> impl Iterator<Item = &'s Instance> {
        self.snapshot.instances.iter()
    }

    /// The collected instance that is `replica_server_name`, if any.
    pub fn instance_named(&self, replica_server_name: &str) -> Option<&'s Instance> {
        self.topology.instance_named(replica_server_name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckStatus {
    Pass,
    Fail,
    NotEvaluated,
}

/// How one check went on this snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckResult {
    pub check: String,
    pub status: CheckStatus,
    /// Why it was not evaluated, or what part of the snapshot it could not cover.
    pub reason: Option<String>,
    pub findings: usize,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_evaluated_on: Vec<NotEvaluated>,
}

/// Every check, in catalog order (by area, as the seed documents order them).
pub fn catalog() -> Vec<&'static Check> {
    [
        hadr::CHECKS,
        accounts::CHECKS,
        certificate_auth::CHECKS,
        login_parity::CHECKS,
        certificates::CHECKS,
        endpoint::CHECKS,
        endpoint_url::CHECKS,
        network::CHECKS,
        listener::CHECKS,
        listener_clients::CHECKS,
        routing::CHECKS,
        session::CHECKS,
        health::CHECKS,
        errorlog::CHECKS,
        build_version::CHECKS,
        distributed::CHECKS,
        history::CHECKS,
        failover::CHECKS,
        seeding::CHECKS,
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// True when `pattern` selects the check: its id, its category, `category.*`, or `*`.
pub fn matches(pattern: &str, info: &CheckInfo) -> bool {
    let p = pattern.trim();
    p == "*"
        || p.eq_ignore_ascii_case(info.id)
        || p.eq_ignore_ascii_case(info.category.as_str())
        || p.strip_suffix(".*").is_some_and(|c| c.eq_ignore_ascii_case(info.category.as_str()))
        || p.strip_suffix('*').is_some_and(|prefix| !prefix.is_empty() && info.id.starts_with(prefix))
}

/// Rejects a selection pattern that matches no check: running nothing and reporting "no findings"
/// would read as a pass, so a typo (`endpoint.ownr`) must be an error naming it.
pub fn validate_selection(selection: &[String]) -> crate::Result<()> {
    let catalog = catalog();
    for pattern in selection {
        if !catalog.iter().any(|c| matches(pattern, &c.info)) {
            return Err(crate::Error::invalid_argument(format!(
                "check selector {pattern:?} matches no check (ids, categories or `category.*`: see `agdiag checks`)"
            )));
        }
    }
    Ok(())
}

/// Runs the selected checks (all when `selection` is empty) over the snapshot.
pub fn run_checks(snapshot: &Snapshot, selection: &[String]) -> (Vec<CheckResult>, Vec<Finding>) {
    run_checks_in(&Ctx::new(snapshot), selection)
}

/// Runs the selected checks over an already built context (the report keeps its timeline).
pub fn run_checks_in(ctx: &Ctx<'_>, selection: &[String]) -> (Vec<CheckResult>, Vec<Finding>) {
    let mut results = Vec::new();
    let mut findings = Vec::new();
    for check in catalog() {
        if !selection.is_empty() && !selection.iter().any(|p| matches(p, &check.info)) {
            continue;
        }
        results.push(summarize(run_isolated(check, ctx), &mut findings));
    }
    (results, findings)
}

/// Runs one check. A bug in one check must not cost the findings of every other: a panic is
/// reported as not evaluated, with its message, and the check's partial findings are dropped.
fn run_isolated<'c>(check: &'c Check, ctx: &Ctx<'_>) -> CheckRun<'c> {
    let mut run = CheckRun::new(&check.info);
    if let Err(payload) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (check.run)(ctx, &mut run))) {
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        run = CheckRun::new(&check.info);
        run.skip("AgDiag", format!("internal error in this check (please report it with the snapshot): {what}"));
    }
    run
}

fn summarize(run: CheckRun<'_>, findings: &mut Vec<Finding>) -> CheckResult {
    let count = run.findings.len();
    // The first few gaps in words; all of them are in `not_evaluated_on`.
    const SHOWN: usize = 8;
    let mut gaps = run
        .not_evaluated
        .iter()
        .take(SHOWN)
        .map(|n| format!("{}: {}", n.subject, n.reason))
        .collect::<Vec<_>>()
        .join("; ");
    if run.not_evaluated.len() > SHOWN {
        gaps.push_str(&format!("; and {} more (see not_evaluated_on)", run.not_evaluated.len() - SHOWN));
    }
    let (status, reason) = if count > 0 {
        (CheckStatus::Fail, (!gaps.is_empty()).then(|| format!("not evaluated on {gaps}")))
    } else if run.evaluated_count() > 0 {
        (CheckStatus::Pass, (!gaps.is_empty()).then(|| format!("not evaluated on {gaps}")))
    } else if gaps.is_empty() {
        (CheckStatus::NotEvaluated, Some("no instance in the snapshot provides its evidence".into()))
    } else {
        (CheckStatus::NotEvaluated, Some(gaps))
    };
    findings.extend(run.findings);
    CheckResult {
        check: run.info.id.to_string(),
        status,
        reason,
        findings: count,
        not_evaluated_on: run.not_evaluated,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::findings::Severity;

    fn panicking(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
        run.finding(Severity::Error, "partial").message("emitted before the bug").emit();
        let _ = &ctx.snapshot.instances[99];
    }

    #[test]
    fn a_panicking_check_is_not_evaluated_and_the_others_still_run() {
        let snapshot = Snapshot::default();
        let ctx = Ctx::new(&snapshot);
        let check = Check { info: catalog()[0].info.clone(), run: panicking };
        let mut findings = Vec::new();
        let result = summarize(run_isolated(&check, &ctx), &mut findings);
        assert_eq!(result.status, CheckStatus::NotEvaluated);
        let reason = result.reason.unwrap_or_default();
        assert!(reason.starts_with("AgDiag: internal error in this check"), "{reason}");
        assert!(reason.contains("index out of bounds"), "{reason}");
        assert!(findings.is_empty(), "partial findings of a failed check are dropped");
    }
}
