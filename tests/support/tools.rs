//! External tools some tests need: skipped with a message locally, required in CI.

use std::process::Command;

/// Whether `tool` is on PATH; see [`require`].
pub fn require_tool(tool: &str, why: &str) -> bool {
    let found = Command::new("sh").arg("-c").arg(format!("command -v {tool}")).output().is_ok_and(|o| o.status.success());
    require(found, tool, why)
}

/// `found`, after reporting a missing tool: prints `SKIPPED: <tool> not installed (<why>)`
/// locally, fails the test when `CI=true` (CI installs every tool a test needs).
pub fn require(found: bool, tool: &str, why: &str) -> bool {
    if !found {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{tool} is required in CI ({why}); .ci/run installs it");
        eprintln!("SKIPPED: {tool} not installed ({why}); install it to run this test");
    }
    found
}
