//! Every check AgDiag runs, of both kinds: the snapshot checks (`checks`) and the checks of a
//! client's connection string (`connection_string`). It sits above both, so neither depends on
//! the other.

use crate::checks::{self, CheckInfo};

/// The catalog as JSON (`agdiag checks --format json`, `agdiag_checks_json`): the snapshot checks,
/// then the connection-string checks, each with the `input` it judges.
pub fn catalog_json() -> String {
    let with_input = |info: &CheckInfo, input: &str| {
        let mut value = serde_json::to_value(info).expect("a CheckInfo serializes");
        value["input"] = input.into();
        value
    };
    let entries: Vec<serde_json::Value> = checks::catalog()
        .into_iter()
        .map(|c| with_input(&c.info, "snapshot"))
        .chain(crate::connection_string::CHECKS.iter().map(|info| with_input(info, "connection_string")))
        .collect();
    serde_json::to_string_pretty(&entries).expect("the catalog serializes")
}
