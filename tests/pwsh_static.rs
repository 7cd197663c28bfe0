//! Static checks of the PowerShell module without PowerShell: every .ps1/.psm1/.psd1 is parsed with
//! the tree-sitter PowerShell grammar (tree-sitter-pwsh), then the manifest, the functions, their
//! comment-based help, their verbs, Windows PowerShell 5.1 compatibility of the syntax, and the
//! format file are checked against each other.
//!
//! What this cannot prove (it needs a real PowerShell): parameter binding, Add-Type compilation by
//! the 5.1 compiler, the formatting engine's rendering, Get-Help's parsing of the help. The Pester
//! tests in tests/powershell/ cover those where pwsh exists.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use tree_sitter::{Node, Parser, Tree};

const MODULE: &str = "powershell/AgDiag";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn parser() -> Parser {
    let mut parser = Parser::new();
    parser.set_language(&tree_sitter_pwsh::LANGUAGE.into()).expect("load the PowerShell grammar");
    parser
}

struct Script {
    path: PathBuf,
    text: String,
    tree: Tree,
}

impl Script {
    fn load(path: &Path) -> Script {
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        Script::parse(path.to_path_buf(), text)
    }

    fn parse(path: PathBuf, text: String) -> Script {
        let tree = parser().parse(&text, None).expect("tree-sitter returns a tree");
        Script { path, text, tree }
    }

    fn text_of(&self, node: Node<'_>) -> &str {
        &self.text[node.byte_range()]
    }

    fn name(&self) -> String {
        self.path.strip_prefix(root()).unwrap_or(&self.path).display().to_string()
    }

    /// Every node, depth first.
    fn nodes(&self) -> Vec<Node<'_>> {
        let mut out = Vec::new();
        let mut stack = vec![self.tree.root_node()];
        while let Some(node) = stack.pop() {
            out.push(node);
            let mut cursor = node.walk();
            let children: Vec<Node<'_>> = node.children(&mut cursor).collect();
            stack.extend(children.into_iter().rev());
        }
        out
    }

    fn at(&self, node: Node<'_>) -> String {
        let p = node.start_position();
        format!("{}:{}:{}", self.name(), p.row + 1, p.column + 1)
    }
}

/// Every PowerShell file of the module, its build script and its Pester tests.
fn powershell_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if matches!(path.extension().and_then(|e| e.to_str()), Some("ps1" | "psm1" | "psd1")) {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(&root().join("powershell"), &mut files);
    walk(&root().join("tests/powershell"), &mut files);
    files.sort();
    files
}

fn public_scripts() -> Vec<Script> {
    let dir = root().join(MODULE).join("Public");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("Public/ exists")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "ps1"))
        .collect();
    files.sort();
    files.iter().map(|p| Script::load(p)).collect()
}

fn syntax_errors(script: &Script) -> Vec<String> {
    script
        .nodes()
        .into_iter()
        .filter(|n| n.is_error() || n.is_missing())
        .map(|n| {
            let what = if n.is_missing() { format!("MISSING {}", n.kind()) } else { "ERROR".to_string() };
            let snippet: String = script.text_of(n).chars().take(60).collect();
            format!("{}: {what} near `{snippet}`", script.at(n))
        })
        .collect()
}

#[test]
fn every_powershell_file_parses_without_error_or_missing_nodes() {
    let files = powershell_files();
    let names: Vec<String> = files.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    for expected in ["AgDiag.psd1", "AgDiag.psm1", "build.ps1", "Invoke-AgDiagnostic.ps1"] {
        assert!(names.iter().any(|n| n == expected), "{expected} not found among {names:?}");
    }
    assert!(names.iter().any(|n| n.ends_with(".Tests.ps1")), "no Pester tests in tests/powershell: {names:?}");
    let problems: Vec<String> = files.iter().flat_map(|p| syntax_errors(&Script::load(p))).collect();
    assert!(problems.is_empty(), "PowerShell syntax errors:\n{}", problems.join("\n"));
}

#[test]
fn the_parser_reports_broken_powershell() {
    // Proves the check above can fail: an unclosed block and an unterminated string.
    for broken in ["function Get-X { if ($a) { 1 }", "$x = 'unterminated", "param([string]$a"] {
        let script = Script::parse(PathBuf::from("broken.ps1"), broken.to_string());
        assert!(!syntax_errors(&script).is_empty(), "no error reported for {broken:?}");
    }
}

// ---- Windows PowerShell 5.1 compatibility ----

/// The text with comments and string contents blanked (same byte offsets), for token scans the
/// grammar does not cover (`?.` and `?[` are known gaps of tree-sitter-pwsh).
fn code_only(script: &Script) -> String {
    let mut bytes = script.text.clone().into_bytes();
    for node in script.nodes() {
        let kind = node.kind();
        if kind == "comment" || kind.ends_with("string_literal") || kind == "verbatim_string_characters" {
            for b in &mut bytes[node.byte_range()] {
                if *b != b'\n' {
                    *b = b' ';
                }
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// PowerShell-7-only syntax in a script, as "file:line:col: what".
fn ps7_only_syntax(script: &Script) -> Vec<String> {
    let mut problems = Vec::new();
    for node in script.nodes() {
        let what = match node.kind() {
            "ternary_expression" | "ternary_argument_expression" => Some("the ?: ternary operator"),
            "null_coalesce_expression" | "null_coalesce_argument_expression" => Some("the ?? operator"),
            "pipeline_chain_tail" => Some("a && or || pipeline chain"),
            "assignment_operator" if script.text_of(node) == "??=" => Some("the ??= operator"),
            "parallel_statement" => Some("a parallel block (workflow)"),
            "named_block" => {
                let mut cursor = node.walk();
                let name = node.children(&mut cursor).find(|c| c.kind() == "block_name").map(|c| script.text_of(c));
                name.filter(|n| n.eq_ignore_ascii_case("clean")).map(|_| "a clean {} block")
            }
            "command" => {
                let name = node.child_by_field_name("command_name").map(|n| script.text_of(n).to_ascii_lowercase());
                let foreach = matches!(name.as_deref(), Some("foreach-object" | "foreach" | "%"));
                let mut parallel = false;
                if foreach {
                    let mut stack = vec![node];
                    while let Some(n) = stack.pop() {
                        if n.kind() == "command_parameter" {
                            let p = script.text_of(n).to_ascii_lowercase();
                            parallel |= p.len() >= 4 && "-parallel".starts_with(p.trim_end_matches(':'));
                        }
                        let mut cursor = n.walk();
                        stack.extend(n.children(&mut cursor).filter(|c| c.kind() != "script_block_expression"));
                    }
                }
                parallel.then_some("ForEach-Object -Parallel")
            }
            _ => None,
        };
        if let Some(what) = what {
            problems.push(format!("{}: {what}", script.at(node)));
        }
    }
    let code = code_only(script);
    for (number, line) in code.lines().enumerate() {
        for (token, what) in [("?.", "the ?. null-conditional operator"), ("?[", "the ?[ null-conditional operator"), ("??", "the ?? operator"), ("&&", "&&"), ("||", "||")] {
            if line.contains(token) {
                problems.push(format!("{}:{}: {what}", script.name(), number + 1));
            }
        }
    }
    problems
}

#[test]
fn no_powershell_7_only_syntax() {
    let problems: Vec<String> = powershell_files().iter().flat_map(|p| ps7_only_syntax(&Script::load(p))).collect();
    assert!(problems.is_empty(), "Syntax Windows PowerShell 5.1 cannot run:\n{}", problems.join("\n"));
}

#[test]
fn the_ps7_syntax_check_finds_each_construct_and_ignores_strings_and_comments() {
    let cases = [
        ("$a = $b ? 1 : 2", "ternary"),
        ("$c = $d ?? 3", "??"),
        ("$e ??= 4", "??="),
        ("git pull && git push", "&&"),
        ("git pull || exit 1", "||"),
        ("$f = ${g}?.h", "?."),
        ("$f = ${g}?[0]", "?["),
        ("1..3 | ForEach-Object -Parallel { $_ }", "Parallel"),
        ("1..3 | % -Parallel { $_ } -ThrottleLimit 2", "Parallel"),
        ("function F {\n  process { 1 }\n  clean { 2 }\n}", "clean"),
    ];
    for (source, expected) in cases {
        let found = ps7_only_syntax(&Script::parse(PathBuf::from("sample.ps1"), source.to_string()));
        assert!(found.iter().any(|p| p.contains(expected)), "{source:?}: expected {expected}, found {found:?}");
    }
    let fine = "# a ?? b && c ?. d\n$s = 'x ?? y || z'\n$t = \"?.\"\n<# $a ? 1 : 2 #>\n1..3 | ForEach-Object -Process { $_ }\n$n = if ($a) { 1 } else { 2 }\n";
    let found = ps7_only_syntax(&Script::parse(PathBuf::from("fine.ps1"), fine.to_string()));
    assert_eq!(found, Vec::<String>::new());
}

// ---- the manifest and the functions ----

/// A .psd1 hashtable's top-level entries: key → every string literal in its value.
fn manifest_entries(script: &Script) -> BTreeMap<String, Vec<String>> {
    let mut entries = BTreeMap::new();
    let body = script.nodes().into_iter().find(|n| n.kind() == "hash_literal_body").expect("the manifest is a hashtable");
    let mut cursor = body.walk();
    for entry in body.children(&mut cursor).filter(|c| c.kind() == "hash_entry") {
        let mut c = entry.walk();
        let children: Vec<Node<'_>> = entry.children(&mut c).collect();
        let Some(key) = children.iter().find(|c| c.kind() == "key_expression") else { continue };
        let mut strings = Vec::new();
        let mut stack: Vec<Node<'_>> = children.iter().filter(|c| c.kind() != "key_expression").copied().collect();
        while let Some(n) = stack.pop() {
            if n.kind() == "hash_literal_expression" {
                continue; // nested tables (PrivateData) are not this entry's values
            }
            if n.kind() == "string_literal" {
                strings.push(script.text_of(n).trim_matches(|c| c == '\'' || c == '"').to_string());
                continue;
            }
            let mut cc = n.walk();
            let mut kids: Vec<Node<'_>> = n.children(&mut cc).collect();
            kids.reverse();
            stack.extend(kids);
        }
        entries.insert(script.text_of(*key).to_string(), strings);
    }
    entries
}

struct Function {
    name: String,
    help: Option<String>,
    parameters: Vec<String>,
    at: String,
}

/// The top-level functions a script defines, with their comment-based help (the comment before
/// the function or the first one inside it) and their param() parameter names.
fn functions(script: &Script) -> Vec<Function> {
    let mut out = Vec::new();
    for node in script.nodes().into_iter().filter(|n| n.kind() == "function_statement") {
        // Only functions at the top of the file, not nested ones.
        let mut parent = node.parent();
        let mut nested = false;
        while let Some(p) = parent {
            if p.kind() == "function_statement" {
                nested = true;
            }
            parent = p.parent();
        }
        if nested {
            continue;
        }
        let mut cursor = node.walk();
        let children: Vec<Node<'_>> = node.children(&mut cursor).collect();
        let name = children.iter().find(|c| c.kind() == "function_name").map(|c| script.text_of(*c).to_string()).unwrap_or_default();
        let inside = children.iter().find(|c| c.kind() == "comment").map(|c| script.text_of(*c).to_string());
        let before = node.prev_sibling().filter(|s| s.kind() == "comment").map(|c| script.text_of(c).to_string());
        let help = inside.filter(|h| h.contains(".SYNOPSIS")).or(before.filter(|h| h.contains(".SYNOPSIS")));
        let mut parameters = Vec::new();
        if let Some(block) = children.iter().find(|c| c.kind() == "script_block") {
            let mut c = block.walk();
            if let Some(param_block) = block.children(&mut c).find(|c| c.kind() == "param_block") {
                let mut stack = vec![param_block];
                while let Some(n) = stack.pop() {
                    if n.kind() == "script_parameter" {
                        let mut pc = n.walk();
                        let children: Vec<Node<'_>> = n.children(&mut pc).collect();
                        if let Some(v) = children.iter().rfind(|c| c.kind() == "variable") {
                            parameters.push(script.text_of(*v).trim_start_matches('$').to_string());
                        }
                        // Grammar gap (tree-sitter-pwsh 0.38.1): in `[int]$A = 15, [switch]$B` the
                        // default swallows the next parameter as an array literal. PowerShell itself
                        // reads two parameters, so take the variables of the later elements.
                        for default in children.iter().filter(|c| c.kind() == "script_parameter_default") {
                            let mut dc = default.walk();
                            for array in default.children(&mut dc).filter(|c| c.kind() == "array_literal_expression") {
                                let mut ac = array.walk();
                                for element in array.children(&mut ac).filter(|c| c.is_named()).skip(1) {
                                    let mut stack = vec![element];
                                    while let Some(e) = stack.pop() {
                                        if e.kind() == "variable" {
                                            parameters.push(script.text_of(e).trim_start_matches('$').to_string());
                                            break;
                                        }
                                        let mut ec = e.walk();
                                        let mut kids: Vec<Node<'_>> = e.children(&mut ec).collect();
                                        kids.reverse();
                                        stack.extend(kids);
                                    }
                                }
                            }
                        }
                        continue;
                    }
                    let mut cc = n.walk();
                    stack.extend(n.children(&mut cc));
                }
            }
        }
        parameters.sort();
        out.push(Function { name, help, parameters, at: script.at(node) });
    }
    out
}

#[test]
fn manifest_matches_the_crate_and_exports_exactly_the_public_functions() {
    let manifest = Script::load(&root().join(MODULE).join("AgDiag.psd1"));
    let entries = manifest_entries(&manifest);
    let one = |key: &str| -> String {
        let values = entries.get(key).unwrap_or_else(|| panic!("AgDiag.psd1 has no {key}"));
        assert_eq!(values.len(), 1, "{key}: {values:?}");
        values[0].clone()
    };
    assert_eq!(one("ModuleVersion"), env!("CARGO_PKG_VERSION"), "ModuleVersion must equal the crate version");
    assert_eq!(one("PowerShellVersion"), "5.1");
    assert_eq!(one("RootModule"), "AgDiag.psm1");
    let editions: BTreeSet<&str> = entries["CompatiblePSEditions"].iter().map(String::as_str).collect();
    assert_eq!(editions, BTreeSet::from(["Core", "Desktop"]));
    assert_eq!(entries["FormatsToProcess"], vec!["AgDiag.format.ps1xml".to_string()]);
    for listed in &entries["FileList"] {
        assert!(root().join(MODULE).join(listed).exists(), "FileList names a missing file: {listed}");
    }
    // The package build rewrites the one FileList line with every file it ships, and adds the
    // project and licence links pinned to the commit built (powershell/build.sh --package).
    assert_eq!(manifest.text.lines().filter(|l| l.trim_start().starts_with("FileList")).count(), 1, "one FileList line");
    let assigned = |key: &str| manifest.text.lines().any(|l| l.trim_start().starts_with(key) && l.contains('='));
    assert!(!assigned("LicenseUri") && !assigned("ProjectUri"), "the package build writes LicenseUri and ProjectUri");
    assert!(manifest.text.contains("PSData = @{"), "the package build inserts the links after `PSData = @{{`");

    let exported: BTreeSet<String> = entries["FunctionsToExport"].iter().cloned().collect();
    assert!(!exported.iter().any(|f| f.contains('*')), "FunctionsToExport must be explicit: {exported:?}");
    let mut defined = BTreeSet::new();
    for script in public_scripts() {
        let functions = functions(&script);
        assert_eq!(functions.len(), 1, "{} must define exactly one function", script.name());
        let stem = script.path.file_stem().unwrap().to_string_lossy().into_owned();
        assert_eq!(functions[0].name, stem, "{}: the function is named after its file", script.name());
        defined.insert(stem);
    }
    assert_eq!(exported, defined, "FunctionsToExport must equal the functions in Public/");
    let issue_cmdlets = [
        "Invoke-AgDiagnostic", "Test-AgHadr", "Test-AgEndpoint", "Test-AgEndpointPermission", "Test-AgNetwork",
        "Test-AgListener", "Get-AgRoutingIssue", "Get-AgRoutingPath", "Test-AgSession", "Get-AgErrorLogIssue",
        "Resolve-AgError", "Test-AgConnectionString", "New-AgFixScript", "Export-AgSnapshot", "Get-AgCheck",
        "Get-AgTimeline",
    ];
    let issue: BTreeSet<String> = issue_cmdlets.iter().map(|s| s.to_string()).collect();
    assert_eq!(defined, issue, "the module exports the 16 commands of the spec");
}

/// The help sections of a comment-based help block: keyword (upper case) → the texts under it.
fn help_sections(help: &str) -> Vec<(String, String, String)> {
    let mut sections: Vec<(String, String, String)> = Vec::new();
    for line in help.lines() {
        let trimmed = line.trim();
        if let Some(rest) = trimmed.strip_prefix('.') {
            let mut parts = rest.splitn(2, char::is_whitespace);
            let keyword = parts.next().unwrap_or("").to_ascii_uppercase();
            if !keyword.is_empty() && keyword.chars().all(|c| c.is_ascii_alphabetic()) {
                sections.push((keyword, parts.next().unwrap_or("").trim().to_string(), String::new()));
                continue;
            }
        }
        if let Some(last) = sections.last_mut() {
            let body = trimmed.trim_end_matches("#>").trim();
            if !body.is_empty() {
                last.2.push_str(body);
                last.2.push('\n');
            }
        }
    }
    sections
}

#[test]
fn every_exported_function_has_complete_comment_based_help() {
    let mut problems = Vec::new();
    for script in public_scripts() {
        for function in functions(&script) {
            let Some(help) = &function.help else {
                problems.push(format!("{}: {} has no comment-based help", function.at, function.name));
                continue;
            };
            let sections = help_sections(help);
            let count = |k: &str| sections.iter().filter(|(kw, _, body)| kw == k && !body.trim().is_empty()).count();
            for keyword in ["SYNOPSIS", "DESCRIPTION", "LINK"] {
                if count(keyword) == 0 {
                    problems.push(format!("{}: {} has no .{keyword}", function.at, function.name));
                }
            }
            if count("EXAMPLE") < 2 {
                problems.push(format!("{}: {} has {} .EXAMPLE sections, at least 2 are needed", function.at, function.name, count("EXAMPLE")));
            }
            let documented: BTreeSet<String> = sections
                .iter()
                .filter(|(kw, _, body)| kw == "PARAMETER" && !body.trim().is_empty())
                .map(|(_, name, _)| name.to_ascii_lowercase())
                .collect();
            for parameter in &function.parameters {
                if !documented.contains(&parameter.to_ascii_lowercase()) {
                    problems.push(format!("{}: {} has no .PARAMETER {parameter}", function.at, function.name));
                }
            }
            let declared: BTreeSet<String> = function.parameters.iter().map(|p| p.to_ascii_lowercase()).collect();
            for name in &documented {
                if !declared.contains(name) {
                    problems.push(format!("{}: {} documents .PARAMETER {name}, which it does not declare", function.at, function.name));
                }
            }
            for code in sections.iter().filter(|(kw, _, _)| kw == "EXAMPLE").map(|(_, _, body)| body) {
                if !code.contains(&function.name) {
                    problems.push(format!("{}: an example of {} does not use it", function.at, function.name));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Windows PowerShell 5.1's approved verbs (Get-Verb). PowerShell 6+ added Build and Deploy;
/// they are left out so the module imports on 5.1 without the unapproved-verb warning.
const APPROVED_VERBS: &[&str] = &[
    // Common
    "Add", "Clear", "Close", "Copy", "Enter", "Exit", "Find", "Format", "Get", "Hide", "Join", "Lock", "Move", "New",
    "Open", "Optimize", "Pop", "Push", "Redo", "Remove", "Rename", "Reset", "Resize", "Search", "Select", "Set", "Show",
    "Skip", "Split", "Step", "Switch", "Undo", "Unlock", "Watch",
    // Communications
    "Connect", "Disconnect", "Read", "Receive", "Send", "Write",
    // Data
    "Backup", "Checkpoint", "Compare", "Compress", "Convert", "ConvertFrom", "ConvertTo", "Dismount", "Edit", "Expand",
    "Export", "Group", "Import", "Initialize", "Limit", "Merge", "Mount", "Out", "Publish", "Restore", "Save", "Sync",
    "Unpublish", "Update",
    // Diagnostic
    "Debug", "Measure", "Ping", "Repair", "Resolve", "Test", "Trace",
    // Lifecycle
    "Approve", "Assert", "Complete", "Confirm", "Deny", "Disable", "Enable", "Install", "Invoke", "Register", "Request",
    "Restart", "Resume", "Start", "Stop", "Submit", "Suspend", "Uninstall", "Unregister", "Wait",
    // Security
    "Block", "Grant", "Protect", "Revoke", "Unblock", "Unprotect",
    // Other
    "Use",
];

#[test]
fn every_module_function_uses_an_approved_verb_and_the_ag_noun_prefix() {
    let mut problems = Vec::new();
    let mut checked = 0;
    for dir in ["Public", "Private"] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(root().join(MODULE).join(dir)).expect(dir).flatten().map(|e| e.path()).collect();
        files.sort();
        for path in files {
            for function in functions(&Script::load(&path)) {
                checked += 1;
                let (verb, noun) = function.name.split_once('-').unwrap_or((&function.name, ""));
                if !APPROVED_VERBS.contains(&verb) {
                    problems.push(format!("{}: {} uses the unapproved verb {verb}", function.at, function.name));
                }
                if !noun.starts_with("Ag") || noun.contains('-') {
                    problems.push(format!("{}: {}: nouns are Ag<Something>", function.at, function.name));
                }
            }
        }
    }
    assert!(checked >= 15, "only {checked} functions found");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

// ---- the format file and the type names ----

/// Type names the module's functions emit: `PSTypeName = '...'` in hashtable literals and
/// `.PSTypeNames.Insert(0, '...')` calls.
fn emitted_type_names() -> BTreeMap<String, String> {
    let mut names = BTreeMap::new();
    for path in powershell_files().into_iter().filter(|p| p.starts_with(root().join(MODULE))) {
        let script = Script::load(&path);
        for node in script.nodes() {
            if node.kind() == "hash_entry" {
                let mut cursor = node.walk();
                let children: Vec<Node<'_>> = node.children(&mut cursor).collect();
                let is_type = children.iter().any(|c| c.kind() == "key_expression" && script.text_of(*c).eq_ignore_ascii_case("PSTypeName"));
                if is_type {
                    let value = children.iter().filter(|c| c.kind() == "pipeline").map(|c| script.text_of(*c)).collect::<String>();
                    names.insert(value.trim().trim_matches(|c| c == '\'' || c == '"').to_string(), script.at(node));
                }
            }
        }
        for (number, line) in script.text.lines().enumerate() {
            if let Some(name) = line.split("PSTypeNames.Insert(").nth(1).and_then(|rest| rest.split('\'').nth(1)) {
                names.insert(name.to_string(), format!("{}:{}", script.name(), number + 1));
            }
        }
    }
    names
}

#[test]
fn format_file_is_well_formed_and_has_a_view_for_every_type_emitted() {
    let path = root().join(MODULE).join("AgDiag.format.ps1xml");
    let text = std::fs::read_to_string(&path).expect("read the format file");
    let document = roxmltree::Document::parse(&text).unwrap_or_else(|e| panic!("AgDiag.format.ps1xml is not well-formed XML: {e}"));
    assert_eq!(document.root_element().tag_name().name(), "Configuration");
    let mut viewed = BTreeSet::new();
    for view in document.descendants().filter(|n| n.has_tag_name("View")) {
        let name = view.children().find(|n| n.has_tag_name("Name")).and_then(|n| n.text()).unwrap_or_default();
        let types: Vec<&str> = view
            .descendants()
            .filter(|n| n.has_tag_name("ViewSelectedBy"))
            .flat_map(|s| s.children().filter(|n| n.has_tag_name("TypeName")).filter_map(|n| n.text()))
            .map(str::trim)
            .collect();
        assert!(!types.is_empty(), "view {name} selects no type");
        assert!(
            view.children().any(|n| n.has_tag_name("TableControl") || n.has_tag_name("ListControl")),
            "view {name} has no table or list control"
        );
        viewed.extend(types.into_iter().map(str::to_string));
    }

    let emitted = emitted_type_names();
    for required in ["AgDiag.Finding", "AgDiag.CheckResult", "AgDiag.RoutingPath", "AgDiag.TimelineEntry"] {
        assert!(emitted.contains_key(required), "no function emits {required}: {emitted:?}");
    }
    let emitted_names: BTreeSet<String> = emitted.keys().cloned().collect();
    assert_eq!(viewed, emitted_names, "the format file's views must select exactly the type names the functions emit");

    // The finding table shows the columns DBAs scan, in this order.
    let finding = document
        .descendants()
        .find(|n| n.has_tag_name("View") && n.descendants().any(|t| t.has_tag_name("TypeName") && t.text() == Some("AgDiag.Finding")))
        .expect("AgDiag.Finding view");
    let columns: Vec<&str> = finding.descendants().filter(|n| n.has_tag_name("PropertyName")).filter_map(|n| n.text()).collect();
    assert_eq!(columns, ["Severity", "Check", "Instance", "Object", "Message"]);
}

#[test]
fn the_xml_check_rejects_malformed_xml() {
    for broken in ["<Configuration><View></Configuration>", "<a>&nbsp;</a>", "<a></a><b></b>"] {
        assert!(roxmltree::Document::parse(broken).is_err(), "{broken} accepted");
    }
}

#[test]
fn module_loads_the_precompiled_interop_through_the_manifest_and_has_its_help_topic() {
    let manifest = Script::load(&root().join(MODULE).join("AgDiag.psd1"));
    let entries = manifest_entries(&manifest);
    assert_eq!(entries["RequiredAssemblies"], vec!["AgDiag.Native.dll".to_string()], "the manifest loads the compiled interop");
    let psm1 = Script::load(&root().join(MODULE).join("AgDiag.psm1"));
    let code = code_only(&psm1).to_ascii_lowercase();
    assert!(!code.contains("add-type"), "AgDiag.psm1 compiles nothing at import: the interop is AgDiag.Native.dll, built by build.sh/build.ps1");
    // After an update, an older interop still loaded in the session is refused with a message.
    assert!(psm1.text.contains("GetAssemblyName($interopFile).Version") && psm1.text.contains("Start a new PowerShell session"), "AgDiag.psm1 compares the loaded interop with the shipped one");
    assert!(psm1.text.contains("GetUnresolvedProviderPathFromPSPath($libraryPath)"), "a relative AGDIAG_LIBRARY is resolved against the current location");
    assert!(psm1.text.contains("LanguageMode -ne 'FullLanguage'"), "Constrained Language Mode gets one clear message");
    let about = std::fs::read_to_string(root().join(MODULE).join("en-US/about_AgDiag.help.txt")).expect("about_AgDiag help");
    assert!(about.trim_start().starts_with("TOPIC") && about.contains("about_AgDiag"), "about_AgDiag.help.txt has the topic header");
    for cmdlet in public_scripts().iter().flat_map(functions).map(|f| f.name) {
        assert!(about.contains(&cmdlet), "about_AgDiag does not mention {cmdlet}");
    }
}

#[test]
fn build_scripts_compile_the_interop_as_csharp5_and_package_the_module() {
    let script = root().join("powershell/build.sh");
    let status = std::process::Command::new("bash").arg("-n").arg(&script).status().expect("run bash -n");
    assert!(status.success(), "powershell/build.sh has a bash syntax error");
    let text = std::fs::read_to_string(&script).expect("read build.sh");
    for expected in ["cargo build --locked --lib", "dest=\"$module/bin/$rid\"", "linux", "osx", "x64", "arm64", "mcs -langversion:5 -target:library", "--package", "--runtimes", "--interop", "LICENSE-MIT", "LICENSE-APACHE"] {
        assert!(text.contains(expected), "build.sh should contain {expected}");
    }
    let ps1 = Script::load(&root().join("powershell/build.ps1"));
    let lower = ps1.text.to_ascii_lowercase();
    for expected in ["'/langversion:5'", "--target", "$env:processor_architecture", "-package", "-runtimespath", "license-mit", "license-apache"] {
        assert!(lower.contains(expected), "build.ps1 should contain {expected}");
    }
    // cargo's progress on stderr must not stop the script where stderr is captured.
    let invoke_native = &ps1.text[ps1.text.find("function Invoke-Native").expect("Invoke-Native")..];
    assert!(invoke_native.contains("$ErrorActionPreference = 'Continue'"), "build.ps1 runs native tools under 'Continue'");
    assert!(ps1.text.contains("Invoke-Native -FilePath 'cargo'"), "build.ps1 runs cargo through Invoke-Native");
    // Both licences are in the repository, as the crate's licence expression says.
    let cargo = std::fs::read_to_string(root().join("Cargo.toml")).expect("Cargo.toml");
    assert!(cargo.contains("license = \"MIT OR Apache-2.0\""));
    assert!(std::fs::read_to_string(root().join("LICENSE-MIT")).expect("LICENSE-MIT").contains("Permission is hereby granted"));
    assert!(std::fs::read_to_string(root().join("LICENSE-APACHE")).expect("LICENSE-APACHE").contains("Apache License"));
}

// ---- the library's JSON, read one way on both editions ----

/// Where a module script calls ConvertFrom-Json itself instead of ConvertFrom-AgJson (PowerShell 7
/// makes dates of strings that Windows PowerShell 5.1 keeps as strings).
fn direct_json_reads(script: &Script) -> Vec<String> {
    if script.path.file_name().is_some_and(|n| n == "ConvertFrom-AgJson.ps1") {
        return Vec::new();
    }
    script
        .nodes()
        .into_iter()
        .filter(|n| n.kind() == "command")
        .filter(|n| n.child_by_field_name("command_name").is_some_and(|c| script.text_of(c).eq_ignore_ascii_case("ConvertFrom-Json")))
        .map(|n| format!("{}: ConvertFrom-Json: use ConvertFrom-AgJson, which gives the same types on 5.1 and 7", script.at(n)))
        .collect()
}

#[test]
fn the_module_reads_json_only_through_convertfrom_agjson() {
    let problems: Vec<String> = powershell_files()
        .iter()
        .filter(|p| p.starts_with(root().join(MODULE)))
        .flat_map(|p| direct_json_reads(&Script::load(p)))
        .collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    let planted = Script::parse(PathBuf::from("Private/X.ps1"), "$a = $json | ConvertFrom-Json\n# ConvertFrom-Json in a comment\n$b = 'ConvertFrom-Json'\n".to_string());
    assert_eq!(direct_json_reads(&planted).len(), 1, "{:?}", direct_json_reads(&planted));
}

#[test]
fn the_module_recognizes_the_librarys_certificate_advice() {
    // Get-AgReport counts rejected certificates by the text the library ends them with.
    let text = std::fs::read_to_string(root().join(MODULE).join("Private/Get-AgReport.ps1")).expect("Get-AgReport.ps1");
    let marker = text.split("$trustAdviceMarker = '").nth(1).and_then(|rest| rest.split('\'').next()).expect("the marker in Get-AgReport.ps1");
    assert!(agdiag::collect::tls::TRUST_ADVICE.contains(marker), "TRUST_ADVICE no longer contains {marker:?}: {}", agdiag::collect::tls::TRUST_ADVICE);
    assert!(text.contains("-TrustServerCertificate accepts any certificate: it gives no protection against a man in the middle"));
}

// ---- calls between the module's own functions ----

const COMMON_PARAMETERS: &[&str] = &[
    "Verbose", "Debug", "ErrorAction", "WarningAction", "InformationAction", "ErrorVariable", "WarningVariable",
    "InformationVariable", "OutVariable", "OutBuffer", "PipelineVariable", "WhatIf", "Confirm",
];

/// The hashtable keys assigned to `$name` in a script (for `Command @name` splats).
fn splat_keys(script: &Script, name: &str) -> Vec<String> {
    let mut keys = Vec::new();
    for node in script.nodes().into_iter().filter(|n| n.kind() == "assignment_expression") {
        let mut cursor = node.walk();
        let children: Vec<Node<'_>> = node.children(&mut cursor).collect();
        let target = children.iter().find(|c| c.kind() == "left_assignment_expression").map(|c| script.text_of(*c).trim().to_string());
        if !target.is_some_and(|t| t.eq_ignore_ascii_case(&format!("${name}"))) {
            continue;
        }
        let mut stack: Vec<Node<'_>> = children.iter().filter(|c| c.kind() != "left_assignment_expression").copied().collect();
        while let Some(n) = stack.pop() {
            if n.kind() == "hash_literal_body" {
                let mut hc = n.walk();
                for entry in n.children(&mut hc).filter(|c| c.kind() == "hash_entry") {
                    let mut ec = entry.walk();
                    if let Some(key) = entry.children(&mut ec).find(|c| c.kind() == "key_expression") {
                        keys.push(script.text_of(key).to_string());
                    }
                }
                continue;
            }
            let mut nc = n.walk();
            stack.extend(n.children(&mut nc));
        }
    }
    keys
}

/// Calls to the module's own functions with a parameter name (or splat key) the function does
/// not declare: PowerShell only finds these when the line runs.
fn bad_calls(script: &Script, declared: &BTreeMap<String, Vec<String>>) -> Vec<String> {
    let mut problems = Vec::new();
    for command in script.nodes().into_iter().filter(|n| n.kind() == "command") {
        let Some(name) = command.child_by_field_name("command_name").map(|n| script.text_of(n).to_string()) else { continue };
        let Some(parameters) = declared.iter().find(|(f, _)| f.eq_ignore_ascii_case(&name)).map(|(_, p)| p) else { continue };
        let accepts = |used: &str| {
            let used = used.to_ascii_lowercase();
            let all = parameters.iter().map(String::as_str).chain(COMMON_PARAMETERS.iter().copied());
            let matching: Vec<&str> = all.filter(|p| p.to_ascii_lowercase().starts_with(&used)).collect();
            matching.iter().any(|p| p.eq_ignore_ascii_case(&used)) || matching.len() == 1
        };
        let Some(elements) = command.child_by_field_name("command_elements") else { continue };
        let mut cursor = elements.walk();
        for element in elements.children(&mut cursor) {
            let text = script.text_of(element);
            if element.kind() == "command_parameter" {
                let used = text.trim_start_matches('-').trim_end_matches(':');
                if !accepts(used) {
                    problems.push(format!("{}: {name} has no parameter -{used}", script.at(element)));
                }
            } else if let Some(splat) = text.strip_prefix('@').filter(|s| !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || c == '_')) {
                for key in splat_keys(script, splat) {
                    if !accepts(&key) {
                        problems.push(format!("{}: @{splat} passes {key}, which {name} does not declare", script.at(element)));
                    }
                }
            }
        }
    }
    problems
}

#[test]
fn calls_between_module_functions_use_declared_parameters() {
    let mut declared = BTreeMap::new();
    let mut scripts = Vec::new();
    for dir in ["Public", "Private"] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(root().join(MODULE).join(dir)).expect(dir).flatten().map(|e| e.path()).collect();
        files.sort();
        for path in files {
            let script = Script::load(&path);
            for function in functions(&script) {
                declared.insert(function.name, function.parameters);
            }
            scripts.push(script);
        }
    }
    assert!(declared["Get-AgReport"].contains(&"SnapshotPath".to_string()), "{:?}", declared["Get-AgReport"]);
    let problems: Vec<String> = scripts.iter().flat_map(|s| bad_calls(s, &declared)).collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    // The check itself: a misspelled parameter and a misspelled splat key are both reported.
    let sample = Script::parse(
        PathBuf::from("sample.ps1"),
        "$source = @{ Cmdlet = $PSCmdlet; SnapshotPaths = @('a') }\nGet-AgReport @source\nWrite-AgFailure -Cmdlet $PSCmdlet -Mesage 'x' -ErrorId 'y'\n".to_string(),
    );
    let found = bad_calls(&sample, &declared);
    assert!(found.iter().any(|p| p.contains("SnapshotPaths")), "{found:?}");
    assert!(found.iter().any(|p| p.contains("-Mesage")), "{found:?}");
}

// ---- file encoding ----

/// Files Windows PowerShell 5.1 reads as text: without a BOM it decodes them in the ANSI code
/// page, so a UTF-8 `ü` becomes `Ã¼` (and a curly quote can end a string early).
fn encoding_problem(name: &str, bytes: &[u8]) -> Option<String> {
    const BOM: &[u8] = b"\xEF\xBB\xBF";
    if bytes.starts_with(BOM) {
        return std::str::from_utf8(&bytes[3..]).err().map(|e| format!("{name}: has a UTF-8 BOM but is not UTF-8: {e}"));
    }
    let position = bytes.iter().position(|b| *b >= 0x80)?;
    let line = bytes[..position].iter().filter(|b| **b == b'\n').count() + 1;
    Some(format!("{name}:{line}: non-ASCII byte 0x{:02X} in a file without a UTF-8 BOM (Windows PowerShell 5.1 would misread it): use ASCII or save with a BOM", bytes[position]))
}

#[test]
fn every_file_powershell_reads_is_ascii_or_has_a_utf8_bom() {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if matches!(path.extension().and_then(|e| e.to_str()), Some("ps1" | "psm1" | "psd1" | "ps1xml" | "cs" | "txt")) {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(&root().join("powershell"), &mut files);
    walk(&root().join("tests/powershell"), &mut files);
    assert!(files.iter().any(|p| p.ends_with("AgDiag.Native.cs")) && files.iter().any(|p| p.ends_with("about_AgDiag.help.txt")), "{files:?}");
    let problems: Vec<String> = files
        .iter()
        .filter_map(|p| encoding_problem(&p.display().to_string(), &std::fs::read(p).expect("read")))
        .collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    // The check can fail, and accepts a BOM.
    assert!(encoding_problem("a.ps1", "# J\u{fc}rgen\n".as_bytes()).is_some_and(|p| p.contains("a.ps1:1")));
    assert!(encoding_problem("b.ps1", "\u{feff}# J\u{fc}rgen\n".as_bytes()).is_none());
    assert!(encoding_problem("c.ps1", b"\xEF\xBB\xBF# \xFC\n").is_some());
    assert!(encoding_problem("d.ps1", b"# plain\n").is_none());
}

// ---- parameters, pipeline binding and their help ----

/// The declarations of a param(...) block: (name, attribute text before the variable). Split at
/// top-level commas so `[int]$A = 15, [switch]$B` gives two (the grammar gap noted in functions()).
fn parameter_declarations(param_block: &str) -> Vec<(String, String)> {
    let code: String = param_block.lines().filter(|l| !l.trim_start().starts_with('#')).collect::<Vec<_>>().join("\n");
    // The node also holds the function's attributes ([CmdletBinding()] ...) before `param`.
    let lower = code.to_ascii_lowercase();
    let start = lower
        .match_indices("param")
        .map(|(i, _)| i + "param".len())
        .find(|&end| lower[end..].trim_start().starts_with('('))
        .unwrap_or(0);
    let inner = code[start..].trim();
    let inner = inner.strip_prefix('(').and_then(|s| s.strip_suffix(')')).unwrap_or(inner);
    let mut chunks = vec![String::new()];
    let (mut depth, mut quote) = (0i32, None::<char>);
    for c in inner.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '(' | '[' | '{') => depth += 1,
            (None, ')' | ']' | '}') => depth -= 1,
            (None, ',') if depth == 0 => {
                chunks.push(String::new());
                continue;
            }
            _ => {}
        }
        chunks.last_mut().expect("one chunk").push(c);
    }
    chunks
        .into_iter()
        .filter_map(|chunk| {
            // Before the default value: the first `=` outside brackets.
            let (mut depth, mut end) = (0i32, chunk.len());
            for (i, c) in chunk.char_indices() {
                match c {
                    '(' | '[' | '{' => depth += 1,
                    ')' | ']' | '}' => depth -= 1,
                    '=' if depth == 0 => {
                        end = i;
                        break;
                    }
                    _ => {}
                }
            }
            let declaration = &chunk[..end];
            let at = declaration.rfind('$')?;
            let name: String = declaration[at + 1..].chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            Some((name, declaration[..at].to_string()))
        })
        .collect()
}

/// `ValueFromPipeline`, `ValueFromPipelineByPropertyName` and the aliases of one declaration.
fn pipeline_binding(attributes: &str) -> (bool, bool, Vec<String>) {
    let squeezed: String = attributes.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_lowercase();
    let by_value = squeezed.contains("valuefrompipeline=$true");
    let by_property = squeezed.contains("valuefrompipelinebypropertyname=$true");
    let aliases = attributes
        .split("[Alias(")
        .nth(1)
        .and_then(|rest| rest.split(")]").next())
        .map(|list| list.split(',').map(|a| a.trim().trim_matches(|c| c == '\'' || c == '"').to_string()).collect())
        .unwrap_or_default();
    (by_value, by_property, aliases)
}

/// Where a function's pipeline attributes and its .PARAMETER help disagree, or two parameters
/// bind the same property name (the binder would then find the parameter set ambiguous).
fn pipeline_help_problems(function: &str, help: &str, param_block: &str) -> Vec<String> {
    let sections = help_sections(help);
    let mut problems = Vec::new();
    let mut property_names: BTreeMap<String, String> = BTreeMap::new();
    for (name, attributes) in parameter_declarations(param_block) {
        let (by_value, by_property, aliases) = pipeline_binding(&attributes);
        let text = sections
            .iter()
            .find(|(kw, n, _)| kw == "PARAMETER" && n.eq_ignore_ascii_case(&name))
            .map(|(_, _, body)| body.replace('\n', " "))
            .unwrap_or_default();
        let says_value = text.contains("pipeline input by value");
        let says_property = text.contains("by property name");
        if by_value != says_value {
            problems.push(format!("{function} -{name}: ValueFromPipeline is {by_value} but the help says{} \"pipeline input by value\"", if says_value { "" } else { " nothing of" }));
        }
        if by_property != says_property {
            problems.push(format!("{function} -{name}: ValueFromPipelineByPropertyName is {by_property} but the help says{} \"by property name\"", if says_property { "" } else { " nothing of" }));
        }
        if by_property {
            let mut bound: BTreeSet<String> = aliases.iter().map(|a| a.to_ascii_lowercase()).collect();
            bound.insert(name.to_ascii_lowercase());
            let listed: BTreeSet<String> = text
                .split("by property name (")
                .nth(1)
                .and_then(|rest| rest.split(')').next())
                .map(|list| list.split(',').map(|a| a.trim().to_ascii_lowercase()).collect())
                .unwrap_or_default();
            if listed != bound {
                problems.push(format!("{function} -{name}: binds the properties {bound:?} but the help lists {listed:?}"));
            }
            for property in bound {
                if property == "name" {
                    problems.push(format!("{function} -{name}: binding the property Name takes FileInfo.Name and any object's name"));
                }
                if let Some(other) = property_names.insert(property.clone(), name.clone()) {
                    problems.push(format!("{function}: -{other} and -{name} both bind the property {property}"));
                }
            }
        }
    }
    problems
}

/// The param(...) block text of each top-level function of a script.
fn param_blocks(script: &Script) -> Vec<(String, String)> {
    let mut blocks = Vec::new();
    for node in script.nodes().into_iter().filter(|n| n.kind() == "function_statement") {
        let mut cursor = node.walk();
        let children: Vec<Node<'_>> = node.children(&mut cursor).collect();
        let name = children.iter().find(|c| c.kind() == "function_name").map(|c| script.text_of(*c).to_string()).unwrap_or_default();
        if let Some(block) = children.iter().find(|c| c.kind() == "script_block") {
            let mut c = block.walk();
            if let Some(param_block) = block.children(&mut c).find(|c| c.kind() == "param_block") {
                blocks.push((name, script.text_of(param_block).to_string()));
            }
        }
    }
    blocks
}

#[test]
fn pipeline_binding_matches_the_help_and_no_property_is_bound_twice() {
    let mut problems = Vec::new();
    let mut checked = 0;
    for script in public_scripts() {
        let helps: BTreeMap<String, String> = functions(&script).into_iter().filter_map(|f| f.help.map(|h| (f.name, h))).collect();
        for (function, block) in param_blocks(&script) {
            let declared = parameter_declarations(&block);
            let expected = functions(&script).into_iter().find(|f| f.name == function).map(|f| f.parameters).unwrap_or_default();
            let mut names: Vec<String> = declared.iter().map(|(n, _)| n.clone()).collect();
            names.sort();
            assert_eq!(names, expected, "{function}: the declaration splitter disagrees with the grammar");
            checked += declared.iter().filter(|(_, a)| a.contains("ValueFromPipeline")).count();
            problems.extend(pipeline_help_problems(&function, helps.get(&function).map(String::as_str).unwrap_or_default(), &block));
        }
    }
    assert!(checked >= 30, "only {checked} pipeline parameters found");
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    // The check can fail: help that claims by-value binding the attribute lacks, a wrong alias
    // list, and two parameters (or an alias Name) competing for one property.
    let block = "param(\n  [Parameter(ValueFromPipelineByPropertyName = $true)]\n  [Alias('ServerInstance', 'Name')]\n  [string[]]$SqlInstance,\n  [Parameter(ValueFromPipelineByPropertyName = $true)]\n  [Alias('FullName', 'ServerInstance')]\n  [string[]]$SnapshotPath = 'x', [switch]$EnableException\n)";
    let help = ".PARAMETER SqlInstance\nAccepts pipeline input by value and by property name (SqlInstance, ServerInstance).\n.PARAMETER SnapshotPath\nAccepts pipeline input by property name (SnapshotPath, FullName, ServerInstance).\n";
    let found = pipeline_help_problems("Sample", help, block);
    for expected in ["-SqlInstance: ValueFromPipeline is false", "-SqlInstance: binds the properties", "property Name takes", "both bind the property serverinstance"] {
        assert!(found.iter().any(|p| p.contains(expected)), "missed {expected}: {found:?}");
    }
    let names: Vec<String> = parameter_declarations(block).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["SqlInstance", "SnapshotPath", "EnableException"]);
}

// ---- files the module writes ----

/// Where a function writes a file without the safeguards: inside `if ($PSCmdlet.ShouldProcess(...))`
/// or after `if (-not $PSCmdlet.ShouldProcess(...)) { return }`, in a try whose catch reports the
/// failure (else an IOException is a statement-terminating error, the next line outputs the old
/// file as if written, and -EnableException does not stop), and in a function that declares
/// SupportsShouldProcess (else -WhatIf and -Confirm do not exist).
fn unsafe_file_writes(script: &Script) -> Vec<String> {
    const WRITERS: &[&str] = &["[system.io.file]::write", "[io.file]::write", "set-content", "out-file", "add-content"];
    let mut problems = Vec::new();
    for function in script.nodes().into_iter().filter(|n| n.kind() == "function_statement") {
        let body = script.text_of(function);
        let code = body.to_ascii_lowercase();
        let Some(first) = WRITERS.iter().filter_map(|w| code.find(w)).min() else { continue };
        let offset = function.start_byte() + first;
        let write = script.tree.root_node().descendant_for_byte_range(offset, offset).expect("node at the write");
        let at = script.at(write);
        if !code.replace(' ', "").contains("supportsshouldprocess=$true") {
            problems.push(format!("{at}: writes a file but the function does not declare SupportsShouldProcess"));
        }
        let guard = code.find("$pscmdlet.shouldprocess(");
        if guard.is_none_or(|g| g >= first) {
            problems.push(format!("{at}: writes a file without asking $PSCmdlet.ShouldProcess first"));
        }
        // The innermost try around the write must have a catch.
        let mut node = write;
        let mut guarded = false;
        while let Some(parent) = node.parent() {
            if parent.kind() == "try_statement" {
                let mut cursor = parent.walk();
                let in_try_block = parent.children(&mut cursor).next().is_some();
                let mut cursor = parent.walk();
                guarded = in_try_block && parent.children(&mut cursor).any(|c| c.kind() == "catch_clauses" || c.kind() == "catch_clause");
                break;
            }
            node = parent;
        }
        if !guarded {
            problems.push(format!("{at}: writes a file outside a try/catch that reports the failure"));
        }
    }
    problems
}

#[test]
fn files_are_written_only_after_should_process_and_inside_try_catch() {
    let mut writers = 0;
    let mut problems = Vec::new();
    for script in public_scripts() {
        if script.text.contains("WriteAllText") {
            writers += 1;
        }
        problems.extend(unsafe_file_writes(&script));
    }
    assert!(writers >= 2, "New-AgFixScript and Export-AgSnapshot write files");
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    let bad = Script::parse(
        PathBuf::from("bad.ps1"),
        "function Out-AgThing {\n  [CmdletBinding()]\n  param([string]$Path)\n  [System.IO.File]::WriteAllText($Path, 'x')\n  Get-Item -LiteralPath $Path\n}\n".to_string(),
    );
    let found = unsafe_file_writes(&bad);
    for expected in ["SupportsShouldProcess", "ShouldProcess first", "outside a try/catch"] {
        assert!(found.iter().any(|p| p.contains(expected)), "missed {expected}: {found:?}");
    }
    let good = Script::parse(
        PathBuf::from("good.ps1"),
        "function Out-AgThing {\n  [CmdletBinding(SupportsShouldProcess = $true)]\n  param([string]$Path)\n  if (-not $PSCmdlet.ShouldProcess($Path, 'Write')) { return }\n  try {\n    [System.IO.File]::WriteAllText($Path, 'x')\n  }\n  catch {\n    $PSCmdlet.WriteError($_)\n  }\n}\n".to_string(),
    );
    assert_eq!(unsafe_file_writes(&good), Vec::<String>::new());
}

// ---- cmdlets, parameters, encodings and variables of both editions ----

/// Cmdlets Windows PowerShell 5.1 lacks (added in PowerShell 6 or 7).
const PS7_ONLY_CMDLETS: &[&str] = &[
    "Get-Error", "Test-Json", "Join-String", "ConvertFrom-Markdown", "Show-Markdown", "Get-MarkdownOption",
    "Set-MarkdownOption", "Get-Uptime", "Remove-Alias", "Remove-Service", "Get-ExperimentalFeature",
    "Enable-ExperimentalFeature", "Disable-ExperimentalFeature", "Start-ThreadJob", "Get-PSSubsystem",
    "Get-SecureRandom", "ConvertTo-CliXml", "ConvertFrom-CliXml",
];

/// Cmdlets PowerShell 7 removed (5.1 has them).
const REMOVED_IN_PS7: &[&str] = &[
    "Get-WmiObject", "Invoke-WmiMethod", "Register-WmiEvent", "Remove-WmiObject", "Set-WmiInstance", "Get-EventLog",
    "New-EventLog", "Remove-EventLog", "Write-EventLog", "Clear-EventLog", "Limit-EventLog", "Show-EventLog",
    "New-WebServiceProxy", "Add-PSSnapin", "Get-PSSnapin", "Remove-PSSnapin", "Export-Console", "Get-ControlPanelItem",
    "Show-ControlPanelItem", "Checkpoint-Computer", "Restore-Computer", "Get-ComputerRestorePoint",
    "Enable-ComputerRestore", "Disable-ComputerRestore", "Add-Computer", "Remove-Computer", "Test-ComputerSecureChannel",
    "Get-Transaction", "Start-Transaction", "Complete-Transaction", "Undo-Transaction", "Use-Transaction",
    "ConvertFrom-String", "Convert-String", "gwmi",
];

/// Parameters that exist only in PowerShell 6+ (the cmdlet itself is in 5.1).
const PS7_ONLY_PARAMETERS: &[(&str, &[&str])] = &[
    ("ConvertFrom-Json", &["AsHashtable", "Depth", "NoEnumerate", "DateKind"]),
    ("ConvertTo-Json", &["AsArray", "EscapeHandling", "EnumsAsStrings"]),
    ("Get-Content", &["AsByteStream"]),
    ("Set-Content", &["AsByteStream"]),
    ("Add-Content", &["AsByteStream"]),
    ("Export-Csv", &["UseQuotes", "QuoteFields"]),
    ("ConvertTo-Csv", &["UseQuotes", "QuoteFields"]),
    ("Select-String", &["Raw", "NoEmphasis", "Culture"]),
    ("Get-Date", &["AsUTC", "UnixTimeSeconds"]),
    ("Split-Path", &["Extension", "LeafBase"]),
    ("Sort-Object", &["Top", "Bottom", "Stable"]),
    ("Get-Random", &["Shuffle"]),
    ("Where-Object", &["Not"]),
    ("Out-String", &["NoNewline"]),
    ("Select-Object", &["SkipIndex"]),
    ("Join-Path", &["AdditionalChildPath"]),
    ("Format-Hex", &["Count", "Offset"]),
    ("Start-Process", &["Environment"]),
    ("Start-Job", &["WorkingDirectory"]),
    ("Import-Module", &["UseWindowsPowerShell", "SkipEditionCheck"]),
    ("Test-Connection", &["TargetName", "Ping", "TcpPort", "Traceroute", "MtuSize", "Repeat", "Detailed"]),
    (
        "Invoke-WebRequest",
        &["SkipCertificateCheck", "Authentication", "Token", "SslProtocol", "Resume", "SkipHttpErrorCheck", "StatusCodeVariable", "ResponseHeadersVariable", "NoProxy", "SkipHeaderValidation", "MaximumRetryCount", "RetryIntervalSec", "Form", "HttpVersion"],
    ),
    (
        "Invoke-RestMethod",
        &["SkipCertificateCheck", "Authentication", "Token", "SslProtocol", "Resume", "SkipHttpErrorCheck", "StatusCodeVariable", "ResponseHeadersVariable", "NoProxy", "SkipHeaderValidation", "MaximumRetryCount", "RetryIntervalSec", "Form", "HttpVersion"],
    ),
];

/// `-Encoding` names both editions accept with one meaning. 5.1 also has String, Unknown, Default
/// and Byte (gone in 7); 7 also has utf8BOM, utf8NoBOM, bigendianutf32, ansi and code pages (not
/// in 5.1); UTF8 is in both but writes a BOM on 5.1 and none on 7.
const PORTABLE_ENCODINGS: &[&str] = &["ascii", "bigendianunicode", "oem", "unicode", "utf7", "utf32"];

/// Automatic and preference variables PowerShell 6+ added: $null on 5.1, so a test of them is
/// silently false there.
const PS7_ONLY_VARIABLES: &[&str] = &[
    "$IsWindows", "$IsLinux", "$IsMacOS", "$IsCoreCLR", "$PSStyle", "$PSNativeCommandUseErrorActionPreference",
    "$PSNativeCommandArgumentPassing", "$EnabledExperimentalFeatures",
];

/// Everything in a script that works on only one of Windows PowerShell 5.1 and PowerShell 7.
fn edition_problems(script: &Script) -> Vec<String> {
    let mut problems = Vec::new();
    for node in script.nodes() {
        match node.kind() {
            "variable" => {
                let name = script.text_of(node);
                if let Some(known) = PS7_ONLY_VARIABLES.iter().find(|v| v.eq_ignore_ascii_case(name)) {
                    problems.push(format!("{}: {known} does not exist in Windows PowerShell 5.1", script.at(node)));
                }
            }
            "command" => {
                let Some(name) = node.child_by_field_name("command_name").map(|n| script.text_of(n).to_string()) else { continue };
                if let Some(cmdlet) = PS7_ONLY_CMDLETS.iter().find(|c| c.eq_ignore_ascii_case(&name)) {
                    problems.push(format!("{}: {cmdlet} does not exist in Windows PowerShell 5.1", script.at(node)));
                }
                if let Some(cmdlet) = REMOVED_IN_PS7.iter().find(|c| c.eq_ignore_ascii_case(&name)) {
                    problems.push(format!("{}: {cmdlet} was removed in PowerShell 7", script.at(node)));
                }
                let Some(elements) = node.child_by_field_name("command_elements") else { continue };
                let mut cursor = elements.walk();
                let arguments: Vec<Node<'_>> = elements.children(&mut cursor).filter(|c| c.kind() != "command_argument_sep").collect();
                let forbidden = PS7_ONLY_PARAMETERS.iter().find(|(c, _)| c.eq_ignore_ascii_case(&name)).map(|(_, p)| *p).unwrap_or(&[]);
                let mut positional = 0;
                for (index, argument) in arguments.iter().enumerate() {
                    if argument.kind() != "command_parameter" {
                        let previous = index.checked_sub(1).map(|i| arguments[i]);
                        if previous.is_none_or(|p| p.kind() != "command_parameter") {
                            positional += 1;
                        }
                        continue;
                    }
                    let text = script.text_of(*argument);
                    let (used, attached) = match text.trim_start_matches('-').split_once(':') {
                        Some((used, value)) => (used.to_string(), Some(value.to_string())),
                        None => (text.trim_start_matches('-').to_string(), None),
                    };
                    let used_lower = used.to_ascii_lowercase();
                    // PowerShell accepts any unambiguous prefix of a parameter name; 5 letters or more
                    // here, so that a short real 5.1 parameter (Split-Path -Leaf) is not taken for one.
                    if let Some(parameter) = forbidden.iter().find(|p| p.to_ascii_lowercase() == used_lower || (used.len() >= 5 && p.to_ascii_lowercase().starts_with(&used_lower))) {
                        problems.push(format!("{}: {name} -{parameter} does not exist in Windows PowerShell 5.1", script.at(*argument)));
                    }
                    if used_lower == "encoding" {
                        let value = attached.filter(|v| !v.is_empty()).or_else(|| arguments.get(index + 1).map(|n| script.text_of(*n).to_string())).unwrap_or_default();
                        let value = value.trim().trim_matches(|c| c == '\'' || c == '"');
                        if !PORTABLE_ENCODINGS.iter().any(|e| e.eq_ignore_ascii_case(value)) {
                            let why = if value.eq_ignore_ascii_case("utf8") {
                                "writes a BOM on Windows PowerShell 5.1 and none on PowerShell 7: write with [System.IO.File] and an explicit UTF8Encoding"
                            } else {
                                "is not an -Encoding value both Windows PowerShell 5.1 and PowerShell 7 accept"
                            };
                            problems.push(format!("{}: {name} -Encoding {value} {why}", script.at(*argument)));
                        }
                    }
                }
                // Join-Path a b c binds c to -AdditionalChildPath, which 5.1 does not have.
                if name.eq_ignore_ascii_case("Join-Path") && positional > 2 {
                    problems.push(format!("{}: Join-Path with more than two child paths needs PowerShell 6: nest Join-Path", script.at(node)));
                }
            }
            _ => {}
        }
    }
    problems
}

#[test]
fn every_script_uses_only_what_both_editions_have() {
    let files = powershell_files();
    assert!(files.len() >= 25, "{files:?}");
    let problems: Vec<String> = files.iter().flat_map(|p| edition_problems(&Script::load(p))).collect();
    assert!(problems.is_empty(), "Works on only one of Windows PowerShell 5.1 and PowerShell 7:\n{}", problems.join("\n"));
}

#[test]
fn the_edition_scan_finds_each_planted_mistake_and_passes_portable_code() {
    let planted = [
        ("Get-Error -Newest 1", "Get-Error does not exist"),
        ("Get-WmiObject -Class Win32_OperatingSystem", "Get-WmiObject was removed"),
        ("$h = $text | ConvertFrom-Json -AsHashtable", "ConvertFrom-Json -AsHashtable"),
        ("Get-Content -Path a.bin -AsByte", "Get-Content -AsByteStream"),
        ("Sort-Object -Property Time -Top 3", "Sort-Object -Top"),
        ("Set-Content -Path a.txt -Value 'x' -Encoding utf8NoBOM", "-Encoding utf8NoBOM is not"),
        ("Out-File -FilePath a.txt -Encoding:Byte", "-Encoding Byte is not"),
        ("Add-Content -Path a.txt -Value 'x' -Encoding 'UTF8'", "-Encoding UTF8 writes a BOM"),
        ("if ($IsWindows) { 'w' }", "$IsWindows does not exist"),
        ("$p = Join-Path $root 'bin' 'linux-x64'", "Join-Path with more than two"),
        ("Import-Module X -UseWindowsPowerShell", "-UseWindowsPowerShell"),
    ];
    for (source, expected) in planted {
        let found = edition_problems(&Script::parse(PathBuf::from("planted.ps1"), source.to_string()));
        assert!(found.iter().any(|p| p.contains(expected)), "{source:?}: expected {expected:?}, found {found:?}");
    }
    let portable = "# Get-Error, $IsWindows and -AsHashtable in a comment\n$s = 'Get-WmiObject $IsLinux'\nSet-Content -Path a.txt -Value 'x' -Encoding ascii\n$o = ConvertFrom-Json -InputObject $json\nSort-Object -Property Time -Descending\n$p = Join-Path -Path (Join-Path -Path $root -ChildPath 'bin') -ChildPath 'linux-x64'\n$q = Join-Path $root 'bin'\nGet-Content -LiteralPath a.txt -Raw -Encoding:Unicode\n";
    let found = edition_problems(&Script::parse(PathBuf::from("portable.ps1"), portable.to_string()));
    assert_eq!(found, Vec::<String>::new());
}

#[test]
fn readme_powershell_section_starts_with_install_module() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md");
    let section = readme.split("\n## PowerShell\n").nth(1).expect("README has a ## PowerShell section");
    let first = section.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with("```")).unwrap_or_default();
    assert!(first.starts_with("Install-Module AgDiag"), "README's PowerShell section starts with {first:?}");
}
