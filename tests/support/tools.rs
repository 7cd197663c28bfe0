//! External tools some tests need: skipped with a message locally, required in CI.

use std::path::PathBuf;
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

/// The cdylib cargo built for this test run. `cargo test` writes it to target/<profile>/deps/ and
/// only `cargo build` copies it up to target/<profile>/, so take the newer of the two.
#[allow(dead_code)] // not every test that includes this file loads the library
pub fn cdylib() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let deps = exe.parent().expect("target/<profile>/deps");
    let name = format!("{}agdiag{}", std::env::consts::DLL_PREFIX, std::env::consts::DLL_SUFFIX);
    let candidates = [deps.join(&name), deps.parent().expect("target/<profile>").join(&name)];
    let modified = |p: &PathBuf| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    candidates
        .iter()
        .filter(|p| modified(p).is_some())
        .max_by_key(|p| modified(p))
        .cloned()
        .unwrap_or_else(|| panic!("{name} not found in {} or its parent", deps.display()))
}
