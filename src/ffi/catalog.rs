//! Static information: version, the check catalog, the error explainer.

use std::ffi::c_char;
use std::ptr;

use super::panic::boundary;
use super::strings::to_c;
use crate::error::Error;

static VERSION_C: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");

/// The library version, e.g. "0.1.0". Static: do not free.
#[unsafe(no_mangle)]
pub extern "C" fn agdiag_version() -> *const c_char {
    VERSION_C.as_ptr().cast()
}

/// The catalog of checks as a JSON array. Free with `agdiag_string_free`.
#[unsafe(no_mangle)]
pub extern "C" fn agdiag_checks_json() -> *mut c_char {
    boundary(ptr::null_mut(), || to_c(crate::check_catalog::catalog_json()))
}

/// What SQL Server error `number` means and which checks diagnose it, as JSON; NULL (with a last
/// error) when AgDiag does not know the number. Free with `agdiag_string_free`.
#[unsafe(no_mangle)]
pub extern "C" fn agdiag_explain_error_json(number: i32) -> *mut c_char {
    boundary(ptr::null_mut(), || {
        let explanation = u32::try_from(number)
            .ok()
            .and_then(crate::explain::explain)
            .ok_or_else(|| Error::invalid_argument(format!("AgDiag has no explanation for error {number}")))?;
        to_c(serde_json::to_string_pretty(&explanation).expect("explanations serialize"))
    })
}
