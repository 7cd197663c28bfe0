//! The C ABI called from Rust: NULLs, invalid UTF-8, invalid JSON, wrong format, panics never
//! crossing, and 8 threads at once sharing one report.

use std::ffi::{c_char, CStr, CString};
use std::ptr;

use agdiag::ffi::*;

const HEALTHY: &str = include_str!("../examples/snapshots/healthy-3-replica.json");

fn last_error() -> Option<String> {
    let p = agdiag_last_error();
    (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
}

fn take(s: *mut c_char) -> String {
    assert!(!s.is_null(), "unexpected NULL: {:?}", last_error());
    let text = unsafe { CStr::from_ptr(s) }.to_string_lossy().into_owned();
    unsafe { agdiag_string_free(s) };
    text
}

#[test]
fn the_timeline_of_a_report_is_its_json() {
    let json = CString::new(include_str!("../examples/snapshots/failover-3-replica.json")).unwrap();
    let report = agdiag_analyze(json.as_ptr(), ptr::null());
    assert!(!report.is_null(), "{:?}", last_error());
    let timeline: serde_json::Value = serde_json::from_str(&take(agdiag_report_timeline_json(report))).unwrap();
    assert_eq!(timeline["until"], "2026-11-22T10:15:00.000Z");
    assert_eq!(timeline["failovers"][0]["cause"], "lease_expired");
    assert_eq!(timeline["failovers"][1]["kind"], "planned");
    let findings: serde_json::Value = serde_json::from_str(&take(agdiag_report_findings_json(report))).unwrap();
    assert_eq!(findings["timeline"], timeline);
    unsafe { agdiag_report_free(report) };
}

#[test]
fn null_arguments_are_named_in_the_error() {
    assert!(agdiag_analyze(ptr::null(), ptr::null()).is_null());
    assert_eq!(last_error().as_deref(), Some("snapshot_json is NULL"));
    assert!(agdiag_report_findings_json(ptr::null()).is_null());
    assert_eq!(last_error().as_deref(), Some("report is NULL"));
    assert!(agdiag_report_timeline_json(ptr::null()).is_null());
    assert_eq!(last_error().as_deref(), Some("report is NULL"));
    let conn = CString::new("Server=x").unwrap();
    assert!(agdiag_check_connection_string(conn.as_ptr(), ptr::null()).is_null());
    assert_eq!(last_error().as_deref(), Some("report is NULL"));
}

#[test]
fn invalid_utf8_and_json_and_format_are_rejected() {
    let bad = b"{\"format\": \"\xff\"}\0";
    assert!(agdiag_analyze(bad.as_ptr().cast(), ptr::null()).is_null());
    assert!(last_error().unwrap().contains("not valid UTF-8"));

    let truncated = CString::new("{\n  \"format\": \"agdiag.snapshot/1\",\n  \"instances\": [").unwrap();
    assert!(agdiag_analyze(truncated.as_ptr(), ptr::null()).is_null());
    let err = last_error().unwrap();
    assert!(err.contains("line 3 column"), "{err}");

    let other = CString::new(r#"{"format":"agdiag.findings/1"}"#).unwrap();
    assert!(agdiag_analyze(other.as_ptr(), ptr::null()).is_null());
    assert!(last_error().unwrap().contains("\"agdiag.findings/1\""));

    let wrong_shape = CString::new(r#"{"format":"agdiag.snapshot/1","instances":[{"target":5}]}"#).unwrap();
    assert!(agdiag_analyze(wrong_shape.as_ptr(), ptr::null()).is_null());
    assert!(last_error().unwrap().contains("does not follow agdiag.snapshot/1"));
}

#[test]
fn success_clears_the_last_error() {
    assert!(agdiag_analyze(ptr::null(), ptr::null()).is_null());
    assert!(last_error().is_some());
    let json = CString::new(HEALTHY).unwrap();
    let report = agdiag_analyze(json.as_ptr(), ptr::null());
    assert!(!report.is_null());
    assert_eq!(last_error(), None);
    unsafe { agdiag_report_free(report) };
}

#[test]
fn eight_threads_share_one_report_and_keep_their_own_errors() {
    let json = CString::new(HEALTHY).unwrap();
    let options = CString::new(r#"{"generated_at":"2026-11-22T10:20:00Z"}"#).unwrap();
    let report = agdiag_analyze(json.as_ptr(), options.as_ptr());
    assert!(!report.is_null());
    let expected = take(agdiag_report_findings_json(report));
    let shared = report as usize; // the handle is read-only and Sync by contract
    let threads: Vec<_> = (0..8)
        .map(|i| {
            let expected = expected.clone();
            std::thread::spawn(move || {
                let report = shared as *const AgdiagReport;
                for _ in 0..25 {
                    assert_eq!(take(agdiag_report_findings_json(report)), expected);
                    assert!(take(agdiag_report_fix_script(report, ptr::null())).contains(":on error exit"));
                    // Each thread's own analysis and error, interleaved with the others'.
                    let json = CString::new(HEALTHY).unwrap();
                    let own = agdiag_analyze(json.as_ptr(), ptr::null());
                    assert!(!own.is_null());
                    unsafe { agdiag_report_free(own) };
                    if i % 2 == 0 {
                        assert!(agdiag_analyze(ptr::null(), ptr::null()).is_null());
                        assert_eq!(last_error().as_deref(), Some("snapshot_json is NULL"));
                    } else {
                        assert_eq!(last_error(), None);
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("thread panicked");
    }
    unsafe { agdiag_report_free(report) };
}

#[test]
fn report_html_is_a_page_with_options_null_checks_and_utf8_checks() {
    let json = CString::new(HEALTHY).unwrap();
    let report = agdiag_analyze(json.as_ptr(), ptr::null());
    let page = take(agdiag_report_html(report, ptr::null()));
    assert!(page.starts_with("<!DOCTYPE html>") && page.contains("<svg class=\"topology\""), "{}", &page[..200]);
    assert!(last_error().is_none());
    let titled = CString::new(r#"{"title": "Ticket <42>"}"#).unwrap();
    assert!(take(agdiag_report_html(report, titled.as_ptr())).contains("<title>Ticket &lt;42&gt;</title>"));
    let typo = CString::new(r#"{"titel": "x"}"#).unwrap();
    assert!(agdiag_report_html(report, typo.as_ptr()).is_null());
    assert!(last_error().unwrap().contains("HTML options"), "{:?}", last_error());
    let bad = b"{\"title\": \"\xff\"}\0";
    assert!(agdiag_report_html(report, bad.as_ptr().cast()).is_null());
    assert!(last_error().unwrap().contains("options_json is not valid UTF-8"), "{:?}", last_error());
    assert!(agdiag_report_html(ptr::null(), ptr::null()).is_null());
    assert_eq!(last_error().as_deref(), Some("report is NULL"));
    unsafe { agdiag_report_free(report) };
}

#[test]
fn fix_script_options_are_validated() {
    let json = CString::new(HEALTHY).unwrap();
    let report = agdiag_analyze(json.as_ptr(), ptr::null());
    let bad = CString::new(r#"{"min_severity":"fatal"}"#).unwrap();
    assert!(agdiag_report_fix_script(report, bad.as_ptr()).is_null());
    assert!(last_error().unwrap().contains("fix script options"));
    let typo = CString::new(r#"{"checks":["endpoint.ownr"]}"#).unwrap();
    assert!(agdiag_report_fix_script(report, typo.as_ptr()).is_null());
    assert!(last_error().unwrap().contains("\"endpoint.ownr\" matches no check"), "{:?}", last_error());
    unsafe { agdiag_report_free(report) };
}

#[test]
fn a_check_selector_that_matches_nothing_is_an_error_not_an_empty_report() {
    let json = CString::new(HEALTHY).unwrap();
    let typo = CString::new(r#"{"checks":["endpoint.ownr"]}"#).unwrap();
    assert!(agdiag_analyze(json.as_ptr(), typo.as_ptr()).is_null());
    assert!(last_error().unwrap().contains("\"endpoint.ownr\" matches no check"), "{:?}", last_error());
    let request = CString::new(r#"{"instances":["127.0.0.1,1"],"authentication":{"method":"sql","user":"u","password":"p"},"checks":["nosuch"]}"#).unwrap();
    assert!(agdiag_run(request.as_ptr()).is_null());
    assert!(last_error().unwrap().contains("\"nosuch\" matches no check"), "{:?}", last_error());
    let good = CString::new(r#"{"checks":["endpoint.*","routing"]}"#).unwrap();
    let report = agdiag_analyze(json.as_ptr(), good.as_ptr());
    assert!(!report.is_null(), "{:?}", last_error());
    unsafe { agdiag_report_free(report) };
}

#[test]
fn version_matches_the_crate() {
    let v = unsafe { CStr::from_ptr(agdiag_version()) }.to_str().unwrap();
    assert_eq!(v, env!("CARGO_PKG_VERSION"));
}
