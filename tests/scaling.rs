//! Size guards (not timed): a 2,000-replica snapshot analyzes, and a finding about one replica does
//! not grow with the AG. routing.no_list used to put every replica into the evidence, message and
//! fix of every finding (quadratic output: 1,000 automatic-failover replicas made 2.9 GB).

#[path = "support/generate.rs"]
mod generate;

use agdiag::fix::ScriptOptions;
use agdiag::report::{analyze, AnalyzeOptions};
use agdiag::snapshot::Snapshot;
use generate::Shape;

#[test]
fn two_thousand_replicas_analyze_with_bounded_findings() {
    let bytes = generate::snapshot_bytes(Shape { collected: 3, ..Shape::new(2_000, 2) });
    let snapshot = Snapshot::from_json(std::str::from_utf8(&bytes).unwrap()).unwrap();
    let report = analyze(snapshot, &AnalyzeOptions::default());
    let topology_replicas = 2_000;
    let no_list: Vec<_> = report.findings.iter().filter(|f| f.check == "routing.no_list").collect();
    // Every 10th replica is a synchronous automatic-failover partner without a routing list.
    assert_eq!(no_list.len(), topology_replicas / 10, "{:?}", report.summary);
    for f in &no_list {
        let size = serde_json::to_string(f).unwrap().len();
        assert!(size < 16_000, "{} is {size} bytes: evidence must not grow with the AG", f.id);
        assert!(f.message.contains("more"), "{}", f.message);
        assert!(f.evidence["availability_replicas"].as_array().unwrap().len() <= 9);
    }
    for f in &report.findings {
        let size = serde_json::to_string(f).unwrap().len();
        assert!(size < 64_000, "{} is {size} bytes", f.id);
    }
    // The whole output stays proportional to the input.
    let json = report.findings_json();
    let script = report.fix_script(&ScriptOptions::default());
    assert!(json.len() + script.len() < 4 * bytes.len(), "findings {} + script {} vs snapshot {}", json.len(), script.len(), bytes.len());
}
