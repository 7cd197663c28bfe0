//! Analysis benchmark: parse + every check + findings JSON + fix script over generated snapshots.
//!
//!     cargo run --locked --release --example analyze_bench [-- --quick]
//!
//! Time is reported as a ratio to a bare `serde_json::from_slice::<serde_json::Value>` of the same
//! bytes (target ≤ 2×), peak heap during the analysis as a ratio to the file size (target ≤ 4×,
//! measured with a counting global allocator), and, for each dimension, the time ratio when that
//! dimension doubles (target ≤ ~2.2×: linear).

#[path = "../tests/support/generate.rs"]
mod generate;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use agdiag::fix::ScriptOptions;
use agdiag::report::{analyze, AnalyzeOptions};
use agdiag::snapshot::Snapshot;
use generate::Shape;

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = CURRENT.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        CURRENT.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size > layout.size() {
                let now = CURRENT.fetch_add(new_size - layout.size(), Ordering::Relaxed) + new_size - layout.size();
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                CURRENT.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

struct Measured {
    bytes: usize,
    parse: Duration,
    analyze: Duration,
    peak: usize,
    findings: usize,
}

/// The fastest run: on a shared machine, the others measure the neighbours too.
fn median(v: Vec<Duration>) -> Duration {
    v.into_iter().min().expect("at least one run")
}

fn measure(shape: Shape, runs: usize) -> Measured {
    let bytes = generate::snapshot_bytes(shape);
    let parse = median(
        (0..runs)
            .map(|_| {
                let t = Instant::now();
                let v: serde_json::Value = serde_json::from_slice(&bytes).expect("parses");
                let e = t.elapsed();
                drop(v);
                e
            })
            .collect(),
    );
    let options = AnalyzeOptions { checks: vec![], generated_at: Some("2026-12-01T00:00:00Z".into()) };
    let mut times = Vec::new();
    let mut peak = 0;
    let mut findings = 0;
    for _ in 0..runs {
        let base = CURRENT.load(Ordering::Relaxed);
        PEAK.store(base, Ordering::Relaxed);
        let t = Instant::now();
        let text = std::str::from_utf8(&bytes).expect("utf-8");
        let snapshot = Snapshot::from_json(text).expect("snapshot parses");
        let report = analyze(snapshot, &options);
        let json = report.findings_json();
        let script = report.fix_script(&ScriptOptions::default());
        times.push(t.elapsed());
        peak = PEAK.load(Ordering::Relaxed) - base;
        findings = report.findings.len();
        if std::env::var_os("BENCH_FINDINGS").is_some() {
            let mut by_check = std::collections::BTreeMap::<&str, usize>::new();
            for f in &report.findings {
                *by_check.entry(f.check.as_str()).or_default() += 1;
            }
            eprintln!("{by_check:?} json {} KB, script {} KB", json.len() / 1000, script.len() / 1000);
            let gaps: Vec<(&str, usize)> =
                report.checks.iter().filter(|c| c.not_evaluated_on.len() > 10).map(|c| (c.check.as_str(), c.not_evaluated_on.len())).collect();
            eprintln!("not evaluated on: {gaps:?}");
        }
        std::hint::black_box((json.len(), script.len()));
    }
    Measured { bytes: bytes.len(), parse, analyze: median(times), peak, findings }
}

fn row(label: &str, m: &Measured) {
    println!(
        "{label:<34} {:>8.1} {:>9.1} {:>9.1} {:>6.2} {:>9.1} {:>6.2} {:>6}",
        m.bytes as f64 / 1e6,
        m.parse.as_secs_f64() * 1e3,
        m.analyze.as_secs_f64() * 1e3,
        m.analyze.as_secs_f64() / m.parse.as_secs_f64(),
        m.peak as f64 / 1e6,
        m.peak as f64 / m.bytes as f64,
        m.findings
    );
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let scale = |n: usize| if quick { (n / 10).max(1) } else { n };
    println!("time = parse + all checks + findings JSON + fix script; ratio to serde_json::Value parse of the same bytes");
    println!(
        "{:<34} {:>8} {:>9} {:>9} {:>6} {:>9} {:>6} {:>6}",
        "snapshot", "file_MB", "value_ms", "agdiag_ms", "time×", "peak_MB", "mem×", "finds"
    );
    let mut cases: Vec<(String, Shape)> = Vec::new();
    for replicas in [3, 9] {
        for databases in [10, 500, 5_000] {
            cases.push((format!("{replicas} replicas × {} databases", scale(databases)), Shape::new(replicas, scale(databases))));
        }
    }
    let logins = scale(100_000);
    cases.push((format!("3 replicas, {logins} logins"), Shape { logins, ..Shape::new(3, 10) }));
    let lines = scale(1_000_000);
    cases.push((format!("3 replicas, {lines} errorlog lines"), Shape { errorlog: lines, ..Shape::new(3, 10) }));
    let many = scale(10_000);
    cases.push((format!("{many} replicas (3 collected)"), Shape { collected: 3, ..Shape::new(many, 1) }));
    // `--only <text>`: just the cases whose label contains it (for profiling), no doubling table.
    let only: Option<String> = std::env::args().skip_while(|a| a != "--only").nth(1);
    if let Some(only) = &only {
        cases.retain(|(label, _)| label.contains(only.as_str()));
    }
    for (label, shape) in &cases {
        let runs = if label.contains("10 databases") { 5 } else { 3 };
        row(label, &measure(*shape, runs));
    }

    if only.is_some() {
        return;
    }
    println!();
    println!("doubling one dimension (agdiag time ratio; linear ≈ 2.0, target ≤ 2.2)");
    let half = |n: usize| n / 2;
    let doublings: Vec<(&str, Shape, Shape)> = vec![
        ("databases (3 replicas)", Shape::new(3, half(scale(5_000))), Shape::new(3, scale(5_000))),
        ("databases (9 replicas)", Shape::new(9, half(scale(5_000))), Shape::new(9, scale(5_000))),
        ("logins", Shape { logins: half(logins), ..Shape::new(3, 10) }, Shape { logins, ..Shape::new(3, 10) }),
        ("errorlog lines", Shape { errorlog: half(lines), ..Shape::new(3, 10) }, Shape { errorlog: lines, ..Shape::new(3, 10) }),
        (
            "replicas",
            Shape { collected: 3, ..Shape::new(half(many), 1) },
            Shape { collected: 3, ..Shape::new(many, 1) },
        ),
    ];
    println!("{:<24} {:>10} {:>10} {:>8} {:>8}", "dimension", "n_ms", "2n_ms", "time×", "bytes×");
    for (label, small, big) in doublings {
        let a = measure(small, 3);
        let b = measure(big, 3);
        println!(
            "{label:<24} {:>10.1} {:>10.1} {:>8.2} {:>8.2}",
            a.analyze.as_secs_f64() * 1e3,
            b.analyze.as_secs_f64() * 1e3,
            b.analyze.as_secs_f64() / a.analyze.as_secs_f64(),
            b.bytes as f64 / a.bytes as f64
        );
    }
}
