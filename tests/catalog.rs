//! The check catalog as a contract: ids are unique and well formed, every entry says what it needs
//! and where it comes from, and the error explainer only points at checks that exist.

use std::collections::BTreeSet;

use agdiag::checks::catalog;
use agdiag::explain::{explain, known_errors};
use agdiag::snapshot::keys;

const SEEDS: &[&str] = &[
    "troubleshoot-ag-configuration",
    "endpoint-handshake-and-ownership",
    "session-failures-between-replicas",
    // Incident history and failover readiness (issue 9): Microsoft's "Configure Extended Events
    // for availability groups", "Configure a flexible automatic failover policy" and "Failover and
    // failover modes".
    "always-on-extended-events",
    "flexible-automatic-failover-policy",
    "failover-and-failover-modes",
];

#[test]
fn ids_are_unique_and_named_after_their_category() {
    let mut seen = BTreeSet::new();
    for check in catalog() {
        let info = &check.info;
        assert!(seen.insert(info.id), "duplicate check id {}", info.id);
        let (area, condition) = info.id.split_once('.').unwrap_or_else(|| panic!("{} has no area", info.id));
        assert!(!condition.is_empty() && condition.chars().all(|c| c.is_ascii_lowercase() || c == '_' || c.is_ascii_digit()), "{}", info.id);
        assert!(
            area == info.category.as_str(),
            "{} is in category {}",
            info.id,
            info.category.as_str()
        );
    }
}

#[test]
fn every_check_documents_itself() {
    for check in catalog() {
        let info = &check.info;
        assert!(info.title.len() > 10, "{}: title", info.id);
        assert!(info.description.len() > 40, "{}: description too thin", info.id);
        assert!(!info.needs.is_empty(), "{}: needs nothing?", info.id);
        for need in info.needs {
            assert!(*need == "probes" || keys::ALL.contains(need), "{} needs unknown key {need}", info.id);
        }
        // A check beyond the three seed documents says so and names the document it comes from.
        let beyond = info.seed.strip_prefix("beyond the seeds: ").is_some_and(|doc| doc.len() > 10);
        assert!(beyond || SEEDS.iter().any(|s| info.seed.starts_with(s)), "{}: seed '{}' names no seed document", info.id, info.seed);
    }
}

#[test]
fn the_explainer_points_only_at_real_checks() {
    let ids: BTreeSet<&str> = catalog().iter().map(|c| c.info.id).collect();
    for number in known_errors() {
        let e = explain(number).unwrap_or_else(|| panic!("{number} is known but not explained"));
        assert_eq!(e.number, number);
        assert!(!e.message.is_empty() && !e.meaning.is_empty(), "{number}");
        for step in &e.steps {
            for id in &step.checks {
                assert!(ids.contains(id) || id.starts_with("connection_string."), "{number}: step '{}' names unknown check {id}", step.step);
            }
        }
    }
}

#[test]
fn the_seed_errors_are_explained() {
    for number in [1418, 35250, 15141, 19404, 19401, 28034, 35201, 35206, 19407, 9692] {
        assert!(explain(number).is_some(), "error {number} from the seeds has no explanation");
    }
}
