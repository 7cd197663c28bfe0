//! AgDiag: diagnoses SQL Server Always On Availability Groups that will not connect, join,
//! synchronize or route.
//!
//! Shape: a [`snapshot::Snapshot`] of raw catalog-view rows (the evidence) → pure
//! [`checks`] → [`findings::Finding`]s in a [`report::Report`] → a [`fix`] script. Live collection,
//! the C ABI and the CLI sit at the edges.

pub mod check_catalog;
pub mod checks;
pub mod collect;
pub mod connection_string;
pub mod error;
pub mod explain;
pub mod ffi;
pub mod findings;
pub mod fix;
pub mod html;
pub mod report;
pub mod routing_simulation;
pub mod snapshot;
pub mod tcp_url;
pub mod timeline;
pub mod topology;
pub mod untrusted_text;

pub use error::{Error, ErrorKind, Result};
pub use report::{analyze, AnalyzeOptions, Report};
pub use snapshot::Snapshot;

/// The crate version, as reported by `agdiag_version()` and written into snapshots and scripts.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
