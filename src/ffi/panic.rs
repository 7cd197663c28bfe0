//! The boundary every exported function goes through: no panic unwinds into C, and every failure
//! becomes a NULL (or the function's fallback) plus a last-error message.

use std::panic::{catch_unwind, AssertUnwindSafe};

use super::error;
use crate::error::Error;

/// Runs `body`; on `Err` or a panic, records the message and returns `fallback`.
pub(crate) fn boundary<T>(fallback: T, body: impl FnOnce() -> Result<T, Error>) -> T {
    error::clear();
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(value)) => value,
        Ok(Err(err)) => {
            error::set(&err.message);
            fallback
        }
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            error::set(&format!("internal error in agdiag (please report it): {what}"));
            fallback
        }
    }
}
