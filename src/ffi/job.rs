//! Live collection over the C ABI: `agdiag_run` (blocking) and the job API for callers that show
//! progress and let the user cancel, without callbacks across threads.
//!
//! Request JSON (see `collect::request`): `{"instances": ["sql1", "SQL2\\INST", "sql3,14330"],
//! "authentication": {"method": "sql", "user": "...", "password": "..."}, "encrypt": "mandatory",
//! "trust_server_certificate": false, "timeouts": {"connect_ms": 5000, "login_ms": 15000,
//! "command_ms": 30000, "probe_ms": 3000}, "discover_replicas": true, "overrides": {"SQL2":
//! "host,port"}, "checks": [], "concurrency": 16, "probes": true, "history_days": 7}`.

use std::ffi::c_char;
use std::ptr;
use std::time::Duration;

use super::panic::boundary;
use super::report::AgdiagReport;
use super::strings::{required, to_c};
use crate::collect::{Job, Request};
use crate::error::Error;

/// Opaque handle to a background collection.
pub struct AgdiagJob {
    job: Job,
}

fn job_ref<'a>(ptr: *const AgdiagJob) -> Result<&'a Job, Error> {
    if ptr.is_null() {
        return Err(Error::invalid_argument("job is NULL"));
    }
    // SAFETY: the caller passes a live handle from agdiag_job_start that it has not freed.
    Ok(unsafe { &(*ptr).job })
}

/// Collects from the instances in `request_json`, then analyzes; blocks until done. Returns NULL
/// on an invalid request or a failed collection (see `agdiag_last_error`). Instances that cannot
/// be reached do not fail the call: they are recorded in the snapshot. Free the result with
/// `agdiag_report_free`.
#[unsafe(no_mangle)]
pub extern "C" fn agdiag_run(request_json: *const c_char) -> *mut AgdiagReport {
    boundary(ptr::null_mut(), || {
        let request = Request::from_json(required(request_json, "request_json")?)?;
        Ok(AgdiagReport::into_raw(crate::collect::run(request)?))
    })
}

/// Starts a collection in the background and returns at once. NULL on an invalid request (see
/// `agdiag_last_error`). Free the handle with `agdiag_job_free`.
#[unsafe(no_mangle)]
pub extern "C" fn agdiag_job_start(request_json: *const c_char) -> *mut AgdiagJob {
    boundary(ptr::null_mut(), || {
        let request = Request::from_json(required(request_json, "request_json")?)?;
        Ok(Box::into_raw(Box::new(AgdiagJob { job: Job::start(request) })))
    })
}

/// Progress as JSON: `{"instances_done": 1, "instances_total": 3, "step": "querying sql2",
/// "elapsed_ms": 840, "finished": false, "cancelled": false}`; `cancelled` is true only when the
/// job ended because it was cancelled. Free with `agdiag_string_free`.
#[unsafe(no_mangle)]
pub extern "C" fn agdiag_job_progress_json(job: *const AgdiagJob) -> *mut c_char {
    boundary(ptr::null_mut(), || to_c(job_ref(job)?.progress_json().to_string()))
}

/// Waits up to `timeout_ms` milliseconds (a negative value waits until the job ends; 0 polls).
/// Returns 1 when the job has finished (done, failed or cancelled), 0 when it is still running
/// after the timeout, -1 on error (NULL job; see `agdiag_last_error`).
#[unsafe(no_mangle)]
pub extern "C" fn agdiag_job_wait(job: *const AgdiagJob, timeout_ms: i64) -> i32 {
    boundary(-1, || {
        let job = job_ref(job)?;
        let timeout = u64::try_from(timeout_ms).ok().map(Duration::from_millis);
        Ok(i32::from(job.wait(timeout)))
    })
}

/// Stops a running job: every connection and probe still open is closed promptly,
/// `agdiag_job_wait` then returns 1, the progress says `"cancelled": true` and `agdiag_job_report`
/// returns NULL with the cancellation as the last error. A job that has already finished keeps its
/// outcome: cancelling it does nothing (its report is still returned, `"cancelled"` stays false).
/// NULL is ignored.
#[unsafe(no_mangle)]
pub extern "C" fn agdiag_job_cancel(job: *const AgdiagJob) {
    boundary((), || {
        if !job.is_null() {
            job_ref(job)?.cancel();
        }
        Ok(())
    })
}

/// The report of a finished job (a new handle on each call; free each with `agdiag_report_free`).
/// NULL while the job is running, or when it failed or was cancelled (see `agdiag_last_error`).
#[unsafe(no_mangle)]
pub extern "C" fn agdiag_job_report(job: *const AgdiagJob) -> *mut AgdiagReport {
    boundary(ptr::null_mut(), || Ok(AgdiagReport::into_raw(job_ref(job)?.report()?)))
}

/// Frees a job. Safe while it is still running: the work is cancelled and finishes in the
/// background. NULL is ignored.
///
/// # Safety
/// `job` must be NULL or a handle from `agdiag_job_start` that has not been freed, and no other
/// thread may be using it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn agdiag_job_free(job: *mut AgdiagJob) {
    if !job.is_null() {
        // SAFETY: per the contract above, `job` came from Box::into_raw in agdiag_job_start.
        drop(unsafe { Box::from_raw(job) });
    }
}
