//! The library's one error type. The FFI layer and the CLI both render it with `Display`.

use std::fmt;

/// What went wrong, as a stable kind plus a message that names the problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Input that is not JSON, or JSON of the wrong shape.
    InvalidJson,
    /// A snapshot or request with a `format` this version does not read.
    UnsupportedFormat,
    /// An option or argument with a value AgDiag does not accept.
    InvalidArgument,
    /// Live collection failed as a whole (individual instances fail into the snapshot instead).
    Collection,
    /// The operation was cancelled by the caller.
    Cancelled,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self { kind, message: message.into() }
    }

    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgument, message)
    }

    /// A serde_json error about the document named `what`; serde's text ends with the line and
    /// column ("... at line 3 column 14").
    pub fn json(what: &str, err: &serde_json::Error) -> Self {
        Self::new(ErrorKind::InvalidJson, format!("{what} is not valid: {err}"))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

pub type Result<T, E = Error> = std::result::Result<T, E>;
