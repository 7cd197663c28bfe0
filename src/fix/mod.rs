//! The fix script: SQLCMD-mode T-SQL, generated from findings, reviewed by a person, never run by
//! AgDiag.

pub mod statements;
pub mod tsql;
pub mod script;

pub use script::{render, ScriptOptions};
