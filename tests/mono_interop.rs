//! The PowerShell module's C# interop (`powershell/AgDiag/AgDiag.Native.cs`) against the real
//! library, without PowerShell: `powershell/build.sh --interop` compiles it into the assembly the
//! manifest loads (Mono's `mcs -langversion:5`: C# 5 is what Windows PowerShell 5.1's compiler
//! takes), `tests/mono/Driver.cs` is compiled against that assembly, and `mono` runs the driver
//! against the cdylib cargo just built. Mono is skipped with a message locally and required when CI=true.
//!
//! Mono has APIs .NET Framework 4.5 lacks (PtrToStringUTF8, LPUTF8Str ...), so passing on Mono does
//! not prove the file loads in Windows PowerShell: a lint forbids those names.

#[path = "support/tools.rs"]
mod tools;
#[path = "support/tds_server/mod.rs"]
mod tds_server;
#[path = "support/collect_fixture.rs"]
mod fixture;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tds_server::Fault;

const INTEROP: &str = "powershell/AgDiag/AgDiag.Native.cs";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// APIs and syntax that compile on Mono or modern .NET but not with the C# 5 compiler against
/// .NET Framework 4.5.2 (what Windows PowerShell 5.1 loads), each with the reason given when it is found.
const FORBIDDEN: &[(&str, &str)] = &[
    ("PtrToStringUTF8", "Marshal.PtrToStringUTF8 is .NET Core / 4.7+ only: read bytes up to NUL and decode"),
    ("StringToCoTaskMemUTF8", ".NET Core only: pass UTF-8 byte[]"),
    ("LPUTF8Str", "UnmanagedType.LPUTF8Str needs .NET Framework 4.7: pass UTF-8 byte[]"),
    ("NativeLibrary", "System.Runtime.InteropServices.NativeLibrary is .NET Core 3+ only: use dlopen/LoadLibraryExW"),
    ("RuntimeInformation", "RuntimeInformation needs .NET Framework 4.7.1"),
    ("Span<", "Span<T> is not in .NET Framework 4.5"),
    ("Memory<", "Memory<T> is not in .NET Framework 4.5"),
    ("ValueTuple", "ValueTuple is not in .NET Framework 4.5"),
    ("Array.Empty", "Array.Empty is .NET Framework 4.6+"),
    ("GetDelegateForFunctionPointer<", "the generic overload is .NET Framework 4.5.1+"),
    ("SizeOf<", "the generic Marshal.SizeOf is .NET Framework 4.5.1+"),
    ("Is64BitProcess", "fine on 4.0, but AgDiag decides architecture in one place (IntPtr.Size)"),
    ("CompletedTask", "Task.CompletedTask is .NET Framework 4.6+"),
    ("FormattableString", "FormattableString is .NET Framework 4.6+"),
    ("AppContext", "AppContext is .NET Framework 4.6+"),
    ("ArrayPool", "ArrayPool is not in .NET Framework"),
    ("HashCode.", "System.HashCode is not in .NET Framework"),
    ("IReadOnlySet", "IReadOnlySet is .NET 5+"),
    ("string.Create", "string.Create is .NET Core only"),
    ("Environment.ProcessPath", "Environment.ProcessPath is .NET 6+"),
    ("OperatingSystem.Is", "OperatingSystem.IsWindows() and friends are .NET 5+"),
    ("GetLastPInvokeError", "Marshal.GetLastPInvokeError is .NET 6+: use GetLastWin32Error"),
    ("SuppressGCTransition", "SuppressGCTransition is .NET 5+"),
    ("UnmanagedCallersOnly", "UnmanagedCallersOnly is .NET 5+"),
    ("delegate* unmanaged", "function pointers are C# 9"),
    ("?.", "null-conditional ?. is C# 6"),
    ("?[", "null-conditional ?[ is C# 6"),
    ("$\"", "string interpolation is C# 6"),
    ("$@\"", "string interpolation is C# 6"),
    ("@$\"", "string interpolation is C# 8"),
    ("nameof(", "nameof is C# 6"),
    ("out var ", "out variables are C# 7"),
    ("using static ", "using static is C# 6"),
    ("=> throw", "throw expressions are C# 7"),
];

/// Code with comments removed and string/char literal contents blanked (quotes kept), so the lint
/// sees only code: a comment may name a forbidden API to explain why it is not used.
fn code_only(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            i += 2;
            while i + 1 < chars.len() && !(chars[i] == '*' && chars[i + 1] == '/') {
                i += 1;
            }
            i += 2;
        } else if c == '"' || c == '\'' {
            // Verbatim strings (@"...") double their quotes; regular ones escape with backslash.
            let verbatim = c == '"' && i > 0 && chars[i - 1] == '@';
            out.push(c);
            i += 1;
            while i < chars.len() {
                if !verbatim && chars[i] == '\\' {
                    i += 2;
                    continue;
                }
                if chars[i] == c {
                    if verbatim && chars.get(i + 1) == Some(&'"') {
                        i += 2;
                        continue;
                    }
                    break;
                }
                if chars[i] == '\n' && !verbatim {
                    break;
                }
                i += 1;
            }
            out.push(c);
            i += 1;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// Every forbidden API or syntax used in `source`, as "line N: `token`: reason".
fn lint_csharp(source: &str) -> Vec<String> {
    let code = code_only(source);
    let mut problems = Vec::new();
    for (number, line) in code.lines().enumerate() {
        for (token, reason) in FORBIDDEN.iter() {
            if line.contains(token) {
                problems.push(format!("line {}: `{token}`: {reason}", number + 1));
            }
        }
    }
    problems
}

#[test]
fn interop_uses_only_csharp5_and_net_framework_45_apis() {
    let source = std::fs::read_to_string(root().join(INTEROP)).expect("read the interop file");
    let problems = lint_csharp(&source);
    assert!(problems.is_empty(), "{INTEROP} uses what Windows PowerShell 5.1 cannot compile or load:\n{}", problems.join("\n"));
    // The binding rules of the interop notes, checked where a regression would be silent.
    for required in [
        "CallingConvention.Cdecl",
        "LoadLibraryExW",
        "LOAD_WITH_ALTERED_SEARCH_PATH",
        "libdl.so.2",
        "libSystem.dylib",
        "agdiag_string_free",
        "agdiag_last_error",
    ] {
        assert!(source.contains(required), "{INTEROP} should use {required}");
    }
}

#[test]
fn the_lint_catches_what_it_claims_and_ignores_comments_and_strings() {
    let bad = r#"
        string s = Marshal.PtrToStringUTF8(p);
        var t = $"x{y}";
        int n = a?.Length ?? 0;
        [MarshalAs(UnmanagedType.LPUTF8Str)] string name;
        IntPtr h = NativeLibrary.Load(path);
        string k = nameof(x);
        Task t = Task.CompletedTask;
        if (OperatingSystem.IsWindows()) { }
    "#;
    let found = lint_csharp(bad);
    for token in ["PtrToStringUTF8", "$\"", "?.", "LPUTF8Str", "NativeLibrary", "nameof(", "CompletedTask", "OperatingSystem.Is"] {
        assert!(found.iter().any(|p| p.contains(&format!("`{token}`"))), "lint missed {token}: {found:?}");
    }
    let fine = r#"
        // Marshal.PtrToStringUTF8 is not in 4.5; NativeLibrary neither.
        /* $"interpolation" */
        string message = "use ?. and nameof( only in comments: PtrToStringUTF8";
        string path = @"C:\x""?.""";
        char c = '"';
        int n = a ?? 0; bool b = x ? y : z;
    "#;
    assert_eq!(lint_csharp(fine), Vec::<String>::new());
}

/// One export of include/agdiag.h: its name, C return type and C parameter types.
struct Export {
    name: String,
    returns: String,
    parameters: Vec<String>,
}

/// The function declarations of the generated header (one per line: `type name(params);`).
fn header_exports(header: &str) -> Vec<Export> {
    let mut exports = Vec::new();
    for line in header.lines().map(str::trim) {
        let Some(open) = line.find("agdiag_").filter(|_| line.ends_with(");") && !line.starts_with("//")) else { continue };
        let Some(paren) = line[open..].find('(').map(|p| open + p) else { continue };
        let returns = line[..open].replace("struct ", "").trim().to_string();
        let name = line[open..paren].to_string();
        let inner = &line[paren + 1..line.len() - 2];
        let parameters = if inner.trim() == "void" {
            Vec::new()
        } else {
            inner
                .split(',')
                .map(|p| {
                    // Drop the parameter name: the type is everything up to the last word, plus any `*`.
                    let p = p.replace("struct ", "");
                    let p = p.trim();
                    let cut = p.rfind([' ', '*']).map_or(0, |i| i + 1);
                    p[..cut].replace(' ', "")
                })
                .collect()
        };
        exports.push(Export { name, returns, parameters });
    }
    exports
}

/// The C# type a C type must be marshalled as under the interop's rules: pointers are IntPtr,
/// strings in are NUL-terminated UTF-8 byte[], int32_t is int, int64_t is long, nothing is bool.
fn csharp_type(c_type: &str, parameter: bool) -> &'static str {
    match c_type.replace(' ', "").as_str() {
        "void" => "void",
        "int32_t" => "int",
        "int64_t" => "long",
        // Strings in are `const char *`; a `char *` argument is a returned string handed back to be freed.
        "constchar*" if parameter => "byte[]",
        t if t.ends_with('*') => "IntPtr",
        other => panic!("no marshalling rule for the C type {other}"),
    }
}

/// `delegate RET Name(T a, U b);` declarations in the interop: name → (return, parameter types,
/// declared with [UnmanagedFunctionPointer(CallingConvention.Cdecl)] on the line before).
fn csharp_delegates(source: &str) -> std::collections::BTreeMap<String, (String, Vec<String>, bool)> {
    let mut delegates = std::collections::BTreeMap::new();
    let lines: Vec<&str> = source.lines().collect();
    for (index, line) in lines.iter().enumerate() {
        let line = line.trim();
        let Some(at) = line.find("delegate ").filter(|_| line.ends_with(");") || line.contains(");")) else { continue };
        let rest = &line[at + "delegate ".len()..];
        let Some(open) = rest.find('(') else { continue };
        let Some(close) = rest.find(')') else { continue };
        let mut head = rest[..open].split_whitespace();
        let (Some(returns), Some(name)) = (head.next(), head.next()) else { continue };
        let parameters: Vec<String> = rest[open + 1..close]
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| p.split_whitespace().next().unwrap_or_default().to_string())
            .collect();
        let cdecl = index > 0 && lines[index - 1].contains("UnmanagedFunctionPointer(CallingConvention.Cdecl)");
        delegates.insert(name.to_string(), (returns.to_string(), parameters, cdecl));
    }
    delegates
}

/// Every disagreement between the header and the interop: an export not bound, a delegate whose
/// shape differs from the C signature, a returned string that is not freed (or a static one that is).
fn abi_mismatches(header: &str, source: &str) -> Vec<String> {
    let delegates = csharp_delegates(source);
    let mut problems = Vec::new();
    for export in header_exports(header) {
        let quoted = format!("(\"{}\")", export.name);
        let binds: Vec<&str> = source.lines().filter(|l| l.contains("Bind<") && l.contains(&quoted)).collect();
        if binds.is_empty() {
            problems.push(format!("{} is exported by the header but never bound", export.name));
            continue;
        }
        for line in &binds {
            let after = &line[line.find("Bind<").unwrap_or(0) + 5..];
            let delegate = after.split('>').next().unwrap_or_default().rsplit('.').next().unwrap_or_default();
            let Some((returns, parameters, cdecl)) = delegates.get(delegate) else {
                problems.push(format!("{}: delegate {delegate} not found", export.name));
                continue;
            };
            let expected_return = csharp_type(&export.returns, false);
            let expected: Vec<&str> = export.parameters.iter().map(|p| csharp_type(p, true)).collect();
            if returns != expected_return || parameters.iter().map(String::as_str).ne(expected.iter().copied()) {
                problems.push(format!(
                    "{} is `{} ({})` in C; bound as {delegate}: `{returns} ({})`, expected `{expected_return} ({})`",
                    export.name,
                    export.returns,
                    export.parameters.join(", "),
                    parameters.join(", "),
                    expected.join(", ")
                ));
            }
            if !cdecl {
                problems.push(format!("{}: delegate {delegate} is not [UnmanagedFunctionPointer(CallingConvention.Cdecl)]", export.name));
            }
        }
        let owned_string = export.returns.replace(' ', "") == "char*";
        let static_string = export.returns.replace(' ', "") == "constchar*";
        let freed = binds.iter().all(|l| l.contains("TakeString(")) || source.contains(&format!("WithHandle(handle, \"{}\"", export.name));
        if owned_string && !freed {
            problems.push(format!("{} returns a string the caller owns: read it with TakeString or WithHandle so it is freed in a finally", export.name));
        }
        if static_string && binds.iter().any(|l| l.contains("TakeString(")) {
            problems.push(format!("{} returns a static string: it must never be freed", export.name));
        }
    }
    problems
}

#[test]
fn interop_delegates_match_the_header_and_free_every_returned_string() {
    let header = std::fs::read_to_string(root().join("include/agdiag.h")).expect("read the header");
    let source = std::fs::read_to_string(root().join(INTEROP)).expect("read the interop file");
    assert!(header_exports(&header).len() >= 17, "header parse found too few exports");
    let problems = abi_mismatches(&header, &source);
    assert!(problems.is_empty(), "{INTEROP} does not match include/agdiag.h:\n{}", problems.join("\n"));

    // The check can fail: an int where int64_t is expected, a missing free, a freed static string,
    // a missing Cdecl and an unbound export are each reported.
    let wrong = source
        .replace("int WaitFn(IntPtr job, long timeoutMs)", "int WaitFn(IntPtr job, int timeoutMs)")
        .replace("return TakeString(Bind<NoArgFn>(\"agdiag_checks_json\")(), \"agdiag_checks_json\");", "return ReadUtf8(Bind<NoArgFn>(\"agdiag_checks_json\")());")
        .replace("IntPtr version = Bind<NoArgFn>(\"agdiag_version\")();", "string v = TakeString(Bind<NoArgFn>(\"agdiag_version\")(), \"v\"); IntPtr version = IntPtr.Zero;")
        .replace("[UnmanagedFunctionPointer(CallingConvention.Cdecl)]\n        internal delegate IntPtr IntFn", "internal delegate IntPtr IntFn")
        .replace("Bind<HandleVoidFn>(\"agdiag_job_cancel\")", "Bind<HandleVoidFn>(\"agdiag_job_cancel_all\")");
    let found = abi_mismatches(&header, &wrong);
    for expected in ["agdiag_job_wait is", "agdiag_checks_json returns a string", "agdiag_version returns a static", "IntFn is not", "agdiag_job_cancel is exported"] {
        assert!(found.iter().any(|p| p.contains(expected)), "missed `{expected}`: {found:?}");
    }
}

/// Runs `command` with a deadline, so a hung driver fails the test instead of the CI run.
fn run_with_deadline(mut command: Command, deadline: Duration) -> (bool, String, String) {
    let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("start mono");
    let started = Instant::now();
    loop {
        if child.try_wait().expect("wait for mono").is_some() {
            break;
        }
        if started.elapsed() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let output = child.wait_with_output().expect("mono output");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The interop as the module loads it: `powershell/build.sh --interop` compiles AgDiag.Native.cs
/// into AgDiag.Native.dll (C# 5, .NET Framework 4.5 profile), the assembly the manifest names in
/// RequiredAssemblies; the driver is compiled against that assembly, not the source.
fn compile_driver() -> PathBuf {
    let out_dir = std::env::temp_dir().join(format!("agdiag_mono_{}", std::process::id()));
    std::fs::create_dir_all(&out_dir).expect("temp dir");
    let interop = out_dir.join("AgDiag.Native.dll");
    let status = Command::new("bash").arg(root().join("powershell/build.sh")).arg("--interop").arg(&interop).status().expect("run build.sh --interop");
    assert!(status.success(), "powershell/build.sh --interop could not compile {INTEROP} with mcs -langversion:5");
    compile_driver_against(&interop, &out_dir)
}

/// Driver.exe in `out_dir`, compiled against the interop assembly `interop`, which is copied next
/// to it so that mono finds it.
fn compile_driver_against(interop: &std::path::Path, out_dir: &std::path::Path) -> PathBuf {
    let exe = out_dir.join("Driver.exe");
    let beside = out_dir.join("AgDiag.Native.dll");
    if interop != beside {
        std::fs::copy(interop, &beside).expect("copy the interop next to the driver");
    }
    let output = Command::new("mcs")
        .args(["-langversion:5", "-warnaserror+", "-nologo", "-target:exe"])
        .arg(format!("-out:{}", exe.display()))
        .arg(format!("-r:{}", beside.display()))
        .arg(root().join("tests/mono/Driver.cs"))
        .output()
        .expect("run mcs");
    assert!(
        output.status.success(),
        "mcs -langversion:5 rejected the driver:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    exe
}

#[test]
fn mono_runs_the_interop_against_the_library() {
    if !tools::require_tool("mono", "runs the PowerShell interop test driver") || !tools::require_tool("mcs", "compiles the PowerShell interop as C# 5") {
        return;
    }
    let exe = compile_driver();
    let work = exe.parent().expect("temp dir").to_path_buf();

    // The job API against the test TDS server: the healthy 3-replica AG (the driver names SQL1 and
    // discovery finds the others), and a replica that accepts connections and never answers, so a
    // job stays running until it is cancelled.
    // A per-packet delay on the discovered replicas keeps the job running long enough to watch it advance.
    let mut slow_scenario = fixture::healthy_scenario();
    slow_scenario.set_packet_delay("SQL2", Duration::from_millis(40)).set_packet_delay("SQL3", Duration::from_millis(40));
    let ag = fixture::Ag::start(&slow_scenario);
    let mut request = ag.request(&["SQL1"]);
    request["probes"] = false.into();
    let mut silent_scenario = fixture::healthy_scenario();
    silent_scenario.set_fault("SQL1", Fault::AcceptAndStaySilent);
    let silent = fixture::Ag::start(&silent_scenario);
    let mut hold = silent.request(&["SQL1"]);
    hold["probes"] = false.into();
    hold["timeouts"]["login_ms"] = 120_000.into();
    hold["timeouts"]["command_ms"] = 120_000.into();
    let request_file = work.join("request.json");
    let hold_file = work.join("blackhole-request.json");
    std::fs::write(&request_file, request.to_string()).expect("write request");
    std::fs::write(&hold_file, hold.to_string()).expect("write request");

    let mut command = Command::new("mono");
    command
        .arg("--debug")
        .arg(&exe)
        .arg(tools::cdylib())
        .arg(root().join("examples/snapshots"))
        .arg(root().join("powershell/AgDiag"))
        .arg(&request_file)
        .arg(&hold_file)
        .arg(fixture::SENTINEL);
    let (success, stdout, stderr) = run_with_deadline(command, Duration::from_secs(300));
    println!("{stdout}");
    assert!(success, "the Mono driver failed:\n{stdout}\n{stderr}");
    assert!(stdout.lines().any(|l| l.ends_with(" passed, 0 failed")), "{stdout}");
    drop((ag, silent));
    let _ = std::fs::remove_dir_all(&work);
}

/// `powershell/build.sh --package <dir>` writes the Gallery layout, and Mono loads the packaged
/// interop assembly, which loads the packaged native library (the driver's offline cases).
#[test]
fn the_package_build_sh_writes_loads_in_mono() {
    if !tools::require_tool("mono", "loads the packaged interop") || !tools::require_tool("mcs", "compiles the interop as C# 5") {
        return;
    }
    let work = std::env::temp_dir().join(format!("agdiag_package_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).expect("temp dir");
    // A dev build: the test run has just built the library with this profile, so cargo has nothing to do.
    let output = Command::new("bash")
        .arg(root().join("powershell/build.sh"))
        .arg("--package")
        .arg(work.join("out"))
        .env("AGDIAG_PROFILE", "dev")
        .env("AGDIAG_PROJECT_URI", "https://example.invalid/agdiag")
        .env("AGDIAG_PROJECT_REVISION", "0123abc")
        .output()
        .expect("run build.sh --package");
    assert!(output.status.success(), "build.sh --package failed:\n{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    let package = work.join("out/AgDiag");
    let rid = match std::env::consts::ARCH {
        "aarch64" => "linux-arm64",
        _ => "linux-x64",
    };

    // The layout: everything the module needs, the licences, and nothing from the source tree
    // that the Gallery should not carry (the C# source, a test).
    let mut files = Vec::new();
    fn walk(dir: &std::path::Path, base: &std::path::Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).expect("read package").flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, base, out);
            } else {
                out.push(path.strip_prefix(base).expect("inside").to_string_lossy().replace('\\', "/"));
            }
        }
    }
    walk(&package, &package, &mut files);
    files.sort();
    for expected in [
        "AgDiag.psd1".to_string(),
        "AgDiag.psm1".to_string(),
        "AgDiag.Native.dll".to_string(),
        "AgDiag.format.ps1xml".to_string(),
        "en-US/about_AgDiag.help.txt".to_string(),
        "LICENSE-MIT".to_string(),
        "LICENSE-APACHE".to_string(),
        "Public/Invoke-AgDiagnostic.ps1".to_string(),
        "Private/Get-AgReport.ps1".to_string(),
        format!("bin/{rid}/libagdiag.so"),
    ] {
        assert!(files.contains(&expected), "the package lacks {expected}: {files:?}");
    }
    assert!(!files.iter().any(|f| f.ends_with(".cs")), "the package ships no C# source: {files:?}");

    // The manifest: FileList is exactly the package's files; the assembly is loaded through it;
    // the project and licence links are pinned to the revision built.
    let manifest = std::fs::read_to_string(package.join("AgDiag.psd1")).expect("packaged manifest");
    let file_list = manifest.lines().find(|l| l.trim_start().starts_with("FileList")).expect("FileList line");
    let mut listed: Vec<String> = file_list.split('\'').skip(1).step_by(2).map(str::to_string).collect();
    listed.sort();
    assert_eq!(listed, files, "FileList must name every file of the package");
    assert!(manifest.contains("RequiredAssemblies   = @('AgDiag.Native.dll')"), "{manifest}");
    assert!(manifest.contains("ProjectUri   = 'https://example.invalid/agdiag'"), "{manifest}");
    assert!(manifest.contains("LicenseUri   = 'https://example.invalid/agdiag/blob/0123abc/LICENSE-MIT'"), "{manifest}");
    assert_eq!(manifest.matches("LicenseUri   =").count(), 1, "{manifest}");

    // Mono: the driver compiled against the packaged assembly, calling the packaged library.
    let exe = compile_driver_against(&package.join("AgDiag.Native.dll"), &work);
    let mut command = Command::new("mono");
    command.arg("--debug").arg(&exe).arg(package.join("bin").join(rid).join("libagdiag.so")).arg(root().join("examples/snapshots")).arg(&package);
    let (success, stdout, stderr) = run_with_deadline(command, Duration::from_secs(300));
    println!("{stdout}");
    assert!(success, "the Mono driver failed on the package:\n{stdout}\n{stderr}");
    assert!(stdout.lines().any(|l| l.ends_with(" passed, 0 failed")), "{stdout}");
    let _ = std::fs::remove_dir_all(&work);
}
