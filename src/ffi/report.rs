//! `AgdiagReport`: an analyzed snapshot. Created by `agdiag_analyze` (or `agdiag_run`), read by the
//! `agdiag_report_*` functions from any number of threads, freed once with `agdiag_report_free`.

use std::ffi::c_char;
use std::ptr;

use super::panic::boundary;
use super::strings::{optional, required, to_c};
use crate::error::Error;
use crate::fix::ScriptOptions;
use crate::report::{parse_options, AnalyzeOptions, Report};
use crate::snapshot::Snapshot;

/// Opaque handle to an analysis report.
pub struct AgdiagReport {
    pub(crate) report: Report,
}

impl AgdiagReport {
    pub(crate) fn into_raw(report: Report) -> *mut AgdiagReport {
        Box::into_raw(Box::new(AgdiagReport { report }))
    }
}

pub(crate) fn report_ref<'a>(ptr: *const AgdiagReport, name: &str) -> Result<&'a Report, Error> {
    if ptr.is_null() {
        return Err(Error::invalid_argument(format!("{name} is NULL")));
    }
    // SAFETY: the caller passes a live handle from agdiag_analyze/agdiag_run that it has not freed.
    Ok(unsafe { &(*ptr).report })
}

/// Parses `snapshot_json` (format `agdiag.snapshot/1`) and runs the checks.
/// `options_json` may be NULL, or `{"checks": ["endpoint.*"], "generated_at": "..."}`.
/// Returns NULL on error (see `agdiag_last_error`); free the result with `agdiag_report_free`.
#[unsafe(no_mangle)]
pub extern "C" fn agdiag_analyze(snapshot_json: *const c_char, options_json: *const c_char) -> *mut AgdiagReport {
    boundary(ptr::null_mut(), || {
        let text = required(snapshot_json, "snapshot_json")?;
        let options = AnalyzeOptions::from_json(optional(options_json, "options_json")?)?;
        let snapshot = Snapshot::from_text(text)?;
        Ok(AgdiagReport::into_raw(crate::analyze(snapshot, &options)))
    })
}

/// The findings as JSON (format `agdiag.findings/1`). Free with `agdiag_string_free`.
#[unsafe(no_mangle)]
pub extern "C" fn agdiag_report_findings_json(report: *const AgdiagReport) -> *mut c_char {
    boundary(ptr::null_mut(), || to_c(report_ref(report, "report")?.findings_json()))
}

/// The incident timeline as JSON: `{since, until, entries[{time, replica, recorded_by,
/// availability_group, kind, event, message, details, source{file_name, file_offset}}], failovers[…],
/// gaps[…]}`, every replica's AlwaysOn_health events of the 7 days before the snapshot's
/// `collected_at`, in UTC order. Free with `agdiag_string_free`.
#[unsafe(no_mangle)]
pub extern "C" fn agdiag_report_timeline_json(report: *const AgdiagReport) -> *mut c_char {
    boundary(ptr::null_mut(), || to_c(report_ref(report, "report")?.timeline_json()))
}

/// The SQLCMD-mode fix script (UTF-8; write it to a file with a UTF-8 BOM, as `sqlcmd -i` reads a
/// file without one in the ANSI code page). `options_json` may be NULL, or
/// `{"findings": ["<id>", ...], "checks": ["endpoint.*"], "min_severity": "warning"}`.
/// Free with `agdiag_string_free`.
#[unsafe(no_mangle)]
pub extern "C" fn agdiag_report_fix_script(report: *const AgdiagReport, options_json: *const c_char) -> *mut c_char {
    boundary(ptr::null_mut(), || {
        let report = report_ref(report, "report")?;
        let options: ScriptOptions = parse_options(optional(options_json, "options_json")?, "fix script options")?;
        crate::checks::validate_selection(&options.checks)?;
        to_c(report.fix_script(&options))
    })
}

/// The report as one self-contained HTML page (inline CSS and SVG, nothing fetched, readable
/// without JavaScript). `options_json` may be NULL, or `{"title": "...", "timeline": [{"at":
/// "...", "instance": "SQL1", "severity": "error", "text": "..."}]}`. Free with
/// `agdiag_string_free`.
#[unsafe(no_mangle)]
pub extern "C" fn agdiag_report_html(report: *const AgdiagReport, options_json: *const c_char) -> *mut c_char {
    boundary(ptr::null_mut(), || {
        let report = report_ref(report, "report")?;
        let options = crate::html::HtmlOptions::from_json(optional(options_json, "options_json")?)?;
        to_c(crate::html::render(report, &options))
    })
}

/// The snapshot the report was made from, as JSON. Free with `agdiag_string_free`.
#[unsafe(no_mangle)]
pub extern "C" fn agdiag_report_snapshot_json(report: *const AgdiagReport) -> *mut c_char {
    boundary(ptr::null_mut(), || to_c(report_ref(report, "report")?.snapshot.to_json_pretty()))
}

/// Checks a client connection string against the report's AG (listener, ApplicationIntent,
/// database, MultiSubnetFailover). Returns a JSON array of findings; free with `agdiag_string_free`.
#[unsafe(no_mangle)]
pub extern "C" fn agdiag_check_connection_string(conn_str: *const c_char, report: *const AgdiagReport) -> *mut c_char {
    boundary(ptr::null_mut(), || {
        let text = required(conn_str, "conn_str")?;
        let report = report_ref(report, "report")?;
        let findings = crate::connection_string::check_connection_string(text, &report.snapshot);
        to_c(serde_json::to_string_pretty(&findings).expect("findings serialize"))
    })
}

/// Frees a report. NULL is ignored.
///
/// # Safety
/// `report` must be NULL or a handle from this library that has not been freed, and no other
/// thread may be using it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn agdiag_report_free(report: *mut AgdiagReport) {
    if !report.is_null() {
        // SAFETY: per the contract above, `report` came from Box::into_raw in into_raw.
        drop(unsafe { Box::from_raw(report) });
    }
}
