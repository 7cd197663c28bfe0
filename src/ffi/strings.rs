//! Strings across the boundary: UTF-8, NUL-terminated. Inputs are borrowed; every `char *` the
//! library returns is allocated here and freed only by `agdiag_string_free`.

use std::ffi::{c_char, CStr, CString};

use crate::error::Error;

/// A required string argument: not NULL, valid UTF-8.
pub(crate) fn required<'a>(ptr: *const c_char, name: &str) -> Result<&'a str, Error> {
    if ptr.is_null() {
        return Err(Error::invalid_argument(format!("{name} is NULL")));
    }
    // SAFETY: the caller promises a NUL-terminated string that outlives this call.
    let bytes = unsafe { CStr::from_ptr(ptr) };
    bytes
        .to_str()
        .map_err(|e| Error::invalid_argument(format!("{name} is not valid UTF-8 (at byte {})", e.valid_up_to())))
}

/// An optional string argument: NULL means absent.
pub(crate) fn optional<'a>(ptr: *const c_char, name: &str) -> Result<Option<&'a str>, Error> {
    if ptr.is_null() { Ok(None) } else { required(ptr, name).map(Some) }
}

/// Hands a string to the caller, who frees it with `agdiag_string_free`.
pub(crate) fn to_c(text: String) -> Result<*mut c_char, Error> {
    CString::new(text)
        .map(CString::into_raw)
        .map_err(|_| Error::invalid_argument("result contains a NUL character and cannot be returned as a C string"))
}

/// Frees a string returned by any `agdiag_*` function. NULL is ignored.
///
/// # Safety
/// `s` must be NULL or a pointer returned by this library and not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn agdiag_string_free(s: *mut c_char) {
    if !s.is_null() {
        // SAFETY: per the contract above, `s` came from CString::into_raw in `to_c`.
        drop(unsafe { CString::from_raw(s) });
    }
}
