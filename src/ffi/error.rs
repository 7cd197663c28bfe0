//! `agdiag_last_error`: the message of the most recent failure on this thread.
//!
//! Like SQLite's `sqlite3_errmsg`, the text is owned by the library. The pointer stays valid until
//! the next `agdiag_*` call on the same thread (every call clears or replaces it).

use std::cell::RefCell;
use std::ffi::{c_char, CString};

thread_local! {
    static LAST_ERROR: RefCell<Option<CString>> = const { RefCell::new(None) };
}

pub(crate) fn set(message: &str) {
    // A message with an interior NUL would be cut there; replace it so the text stays whole.
    let text = CString::new(message.replace('\0', "\\0")).expect("NULs were replaced");
    LAST_ERROR.with(|slot| *slot.borrow_mut() = Some(text));
}

pub(crate) fn clear() {
    LAST_ERROR.with(|slot| *slot.borrow_mut() = None);
}

/// The last error on this thread, or NULL if the last call succeeded. Do not free it; it is valid
/// until the next `agdiag_*` call on this thread.
#[unsafe(no_mangle)]
pub extern "C" fn agdiag_last_error() -> *const c_char {
    LAST_ERROR.with(|slot| slot.borrow().as_ref().map_or(std::ptr::null(), |s| s.as_ptr()))
}
