//! The C ABI tested from C: `tests/c/abi_test.c` is compiled with the system C compiler against
//! `include/agdiag.h` and the cdylib, run, and (when valgrind is present; required when CI=true)
//! run again under valgrind with zero leaks and zero errors.

use std::path::PathBuf;
use std::process::Command;

#[path = "support/tools.rs"]
mod tools;
use tools::require_tool;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The directory holding the freshest cdylib of this test run.
fn cdylib_dir() -> PathBuf {
    tools::cdylib().parent().expect("the library's directory").to_path_buf()
}

fn compile() -> PathBuf {
    let out = std::env::temp_dir().join(format!("agdiag_abi_test_{}", std::process::id()));
    let lib_dir = cdylib_dir();
    let status = Command::new("cc")
        .args(["-std=c99", "-Wall", "-Wextra", "-Werror", "-g", "-o"])
        .arg(&out)
        .arg(root().join("tests/c/abi_test.c"))
        .arg("-I")
        .arg(root().join("include"))
        .arg("-L")
        .arg(&lib_dir)
        .arg(format!("-Wl,-rpath,{}", lib_dir.display()))
        .arg("-lagdiag")
        .status()
        .expect("run cc");
    assert!(status.success(), "compiling tests/c/abi_test.c failed");
    out
}

#[test]
fn c_program_uses_the_abi_correctly() {
    if !require_tool("cc", "compiles the C consumer") {
        return;
    }
    let exe = compile();
    let output = Command::new(&exe).arg(root().join("examples/snapshots")).output().expect("run abi_test");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(output.status.success(), "abi_test failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");

    if require_tool("valgrind", "checks the C ABI for leaks and memory errors") {
        let output = Command::new("valgrind")
            .args([
                "--leak-check=full",
                "--show-leak-kinds=definite,indirect",
                "--errors-for-leak-kinds=definite,indirect",
                "--error-exitcode=99",
                "--quiet",
            ])
            .arg(&exe)
            .arg(root().join("examples/snapshots"))
            .output()
            .expect("run valgrind");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "valgrind reported errors or leaks:\n{stderr}");
        assert!(!stderr.contains("definitely lost"), "{stderr}");
    }
    let _ = std::fs::remove_file(exe);
}
