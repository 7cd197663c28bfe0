//! The job API over the C ABI: progress advances, cancel returns promptly, a running job can be
//! freed, and the report arrives when done.

#[path = "support/tds_server/mod.rs"]
mod tds_server;
#[path = "support/collect_fixture.rs"]
mod fixture;

use std::ffi::{CStr, CString};
use std::time::{Duration, Instant};

use agdiag::ffi::*;
use fixture::*;
use serde_json::Value;
use tds_server::Fault;

fn progress(job: *const AgdiagJob) -> Value {
    let p = agdiag_job_progress_json(job);
    assert!(!p.is_null());
    let text = unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_string();
    unsafe { agdiag_string_free(p) };
    serde_json::from_str(&text).unwrap()
}

fn last_error() -> String {
    let p = agdiag_last_error();
    if p.is_null() { String::new() } else { unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_string() }
}

/// SQL1 answers; SQL2 and SQL3 accept and stay silent, with a long login timeout.
fn stalled_ag() -> (Ag, CString) {
    let mut scenario = healthy_scenario();
    scenario.set_fault("SQL2", Fault::AcceptAndStaySilent);
    scenario.set_fault("SQL3", Fault::AcceptAndStaySilent);
    let ag = Ag::start(&scenario);
    let mut request = ag.request(&["SQL1", "SQL2", "SQL3"]);
    request["timeouts"]["login_ms"] = 20_000.into();
    let text = CString::new(request.to_string()).unwrap();
    (ag, text)
}

#[test]
fn progress_advances_and_cancel_returns_promptly() {
    let (_ag, request) = stalled_ag();
    let job = agdiag_job_start(request.as_ptr());
    assert!(!job.is_null(), "{}", last_error());
    let first = progress(job);
    assert_eq!(first["finished"], false);
    // SQL1 finishes; SQL2 and SQL3 hang in login.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let p = progress(job);
        if p["instances_done"] == 1 {
            assert_eq!(p["instances_total"], 3);
            assert!(p["step"].as_str().unwrap().contains("connecting") || p["step"].as_str().unwrap().contains("querying"), "{p}");
            assert!(p["elapsed_ms"].as_u64().unwrap() >= first["elapsed_ms"].as_u64().unwrap());
            break;
        }
        assert!(Instant::now() < deadline, "SQL1 never finished: {p}");
        assert_eq!(agdiag_job_wait(job, 10), 0);
    }
    assert_eq!(agdiag_job_wait(job, 50), 0, "still running");
    assert!(agdiag_job_report(job).is_null());
    assert!(last_error().contains("still running"), "{}", last_error());

    let cancelled_at = Instant::now();
    agdiag_job_cancel(job);
    assert_eq!(agdiag_job_wait(job, 2000), 1);
    assert!(cancelled_at.elapsed() < Duration::from_millis(500), "cancel took {:?}", cancelled_at.elapsed());
    let p = progress(job);
    assert_eq!(p["finished"], true);
    assert_eq!(p["cancelled"], true);
    assert_eq!(p["step"], "cancelled");
    assert!(agdiag_job_report(job).is_null());
    assert!(last_error().contains("cancelled"));
    unsafe { agdiag_job_free(job) };
}

#[test]
fn freeing_a_running_job_is_safe() {
    let (_ag, request) = stalled_ag();
    for _ in 0..5 {
        let job = agdiag_job_start(request.as_ptr());
        assert!(!job.is_null());
        std::thread::sleep(Duration::from_millis(20));
        unsafe { agdiag_job_free(job) };
    }
    unsafe { agdiag_job_free(std::ptr::null_mut()) };
    agdiag_job_cancel(std::ptr::null());
    assert_eq!(agdiag_job_wait(std::ptr::null(), 0), -1);
    assert!(agdiag_job_progress_json(std::ptr::null()).is_null());
    assert!(agdiag_job_report(std::ptr::null()).is_null());
}

#[test]
fn a_finished_job_gives_its_report_again_and_again() {
    let ag = Ag::start(&healthy_scenario());
    let mut request = ag.request(&["SQL1"]);
    request["probes"] = false.into();
    let request = CString::new(request.to_string()).unwrap();
    let job = agdiag_job_start(request.as_ptr());
    assert_eq!(agdiag_job_wait(job, -1), 1);
    let p = progress(job);
    assert_eq!((p["instances_done"].as_u64(), p["instances_total"].as_u64()), (Some(3), Some(3)));
    assert_eq!(p["step"], "done");
    for _ in 0..2 {
        let report = agdiag_job_report(job);
        assert!(!report.is_null(), "{}", last_error());
        let s = agdiag_report_snapshot_json(report);
        let text = unsafe { CStr::from_ptr(s) }.to_str().unwrap().to_string();
        unsafe { agdiag_string_free(s) };
        assert!(!text.contains(SENTINEL));
        assert_rows_equal(&agdiag::Snapshot::from_json(&text).unwrap(), &healthy_snapshot());
        unsafe { agdiag_report_free(report) };
    }
    // Cancel has one meaning: a job that has already finished keeps its report and is not
    // reported as cancelled.
    agdiag_job_cancel(job);
    assert_eq!(agdiag_job_wait(job, 0), 1);
    let p = progress(job);
    assert_eq!((p["cancelled"].as_bool(), p["step"].as_str()), (Some(false), Some("done")), "{p}");
    let report = agdiag_job_report(job);
    assert!(!report.is_null(), "{}", last_error());
    unsafe { agdiag_report_free(report) };
    unsafe { agdiag_job_free(job) };
    let bad = CString::new("{").unwrap();
    assert!(agdiag_job_start(bad.as_ptr()).is_null());
    assert!(last_error().contains("not valid"));
}

/// A resolver that panics: a bug in a probe must not lose the instances' rows nor hang the job.
struct PanickingResolver;

impl agdiag::collect::Resolver for PanickingResolver {
    fn resolve<'a>(&'a self, host: &'a str) -> futures_util::future::BoxFuture<'a, std::io::Result<Vec<std::net::IpAddr>>> {
        Box::pin(async move { panic!("resolver bug for {host}") })
    }
}

#[test]
fn a_panic_while_probing_becomes_probe_errors_and_the_snapshot_is_kept() {
    let ag = Ag::start(&healthy_scenario());
    let request = agdiag::collect::Request::from_json(&ag.request(&["SQL1"]).to_string()).unwrap();
    let job = agdiag::collect::Job::start_with(request, std::sync::Arc::new(PanickingResolver));
    assert!(job.wait(Some(Duration::from_secs(20))), "the job never finished");
    let snap = job.report().expect("a report despite the panic").snapshot;
    assert_rows_equal(&snap, &healthy_snapshot());
    assert!(!snap.probes.is_empty());
    for p in &snap.probes {
        assert!(!p.ok && p.error.as_deref().unwrap_or("").contains("resolver bug for"), "{p:?}");
    }
}

#[test]
fn progress_never_shows_the_password() {
    let (_ag, request) = stalled_ag();
    let job = agdiag_job_start(request.as_ptr());
    for _ in 0..10 {
        let p = progress(job).to_string();
        assert!(!p.contains(SENTINEL), "{p}");
        agdiag_job_wait(job, 20);
    }
    agdiag_job_cancel(job);
    assert_eq!(agdiag_job_wait(job, 2000), 1);
    assert!(!progress(job).to_string().contains(SENTINEL));
    assert!(agdiag_job_report(job).is_null());
    assert!(!last_error().contains(SENTINEL));
    unsafe { agdiag_job_free(job) };
}
