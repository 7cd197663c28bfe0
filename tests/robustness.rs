//! Bad input gets a clear error or a sound report, never a crash: thousands of deterministic
//! random mutations of both example snapshots (what a collector from another SQL Server version, a
//! hand edit or a damaged file can produce) go through parsing, analysis, the findings JSON, the
//! fix script, the connection-string check and, for a sample, the CLI table renderer.
//!
//! A failure prints the seed and the mutations; `AGDIAG_ROBUSTNESS_SEED=<seed>` replays one case
//! (and `AGDIAG_ROBUSTNESS_ITERATIONS=<n>` runs a longer campaign).

use std::panic::{self, AssertUnwindSafe};

use agdiag::fix::ScriptOptions;
use agdiag::{AnalyzeOptions, Snapshot};
use serde_json::{json, Value};

const EXAMPLES: [(&str, &str); 2] = [
    ("healthy", include_str!("../examples/snapshots/healthy-3-replica.json")),
    ("broken", include_str!("../examples/snapshots/broken-3-replica.json")),
];

/// Iterations per example snapshot; each stacks 1..=6 mutations.
const ITERATIONS: u64 = 300;
/// One in this many mutated snapshots also goes through the `agdiag` binary (table output).
const CLI_SAMPLE: u64 = 50;

/// Marks the text that follows a line break inside server-supplied data: if it ever starts a line
/// of the fix script, a name broke out of its quoting.
const INJECTED: &str = "ZZINJECTED";

static PANIC_LOCATION: std::sync::Mutex<String> = std::sync::Mutex::new(String::new());

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 { 0 } else { (self.next() % n as u64) as usize }
    }
    fn chance(&mut self, one_in: u64) -> bool {
        self.next().is_multiple_of(one_in)
    }
}

/// Strings that have broken parsers before: non-ASCII where byte slicing would split a char,
/// control characters, quoting characters, sqlcmd syntax, URL and port edge cases.
const NASTY_STRINGS: &[&str] = &[
    "",
    " ",
    "   \t ",
    "é",
    "tc€p:x",
    "tcp:",
    "tcp:é,1433",
    "İİİİ listen on port 5022",
    "KKK listen on port 99999999999999999999",
    "Jürgen€ƒ日本語",
    "]",
    "'",
    "x']; DROP LOGIN [sa]; --",
    "$(SQLCMDPASSWORD)",
    "a\nZZINJECTED GO",
    "b\r\nZZINJECTED:Connect evil\r\nGO",
    "c\nZZINJECTED!!calc.exe",
    "\u{0}\u{1b}[31m\u{7f}",
    "TCP://",
    "TCP://:5022",
    "TCP://[::1",
    "TCP://[::1]:5022",
    "TCP://h€st:5022",
    "TCP://sql1.contoso.com:0",
    "TCP://sql1.contoso.com:65536",
    "TCP://sql1.contoso.com:-1",
    "TCP://sql1.contoso.com:5022/extra",
    "tcp://SQL2.CONTOSO.COM:5022",
    "TCP://sql1.contoso.com:99999999999999999999999",
    "sql1.contoso.com,99999",
    "sql1.contoso.com,-1",
    "sql1\\",
    "\\INST",
    ",",
    "-1",
    "0",
    "1",
    "4",
    "65535",
    "65536",
    "99999999999999999999999",
    "1e300",
    "NaN",
    "true",
    "STARTED",
    "DATABASE_MIRRORING",
    "PRIMARY",
    "SECONDARY",
    "CO  ",
    "G",
    "D",
    "W",
    "WINDOWS_LOGIN",
    "NOT_HEALTHY",
    "DISCONNECTED",
    "FORCED_QUORUM",
    "ALL",
    "READ_ONLY",
    "16.0",
    "16",
    "16.0.4265.3.7.8",
    "99.99.99999.99",
    "-16.-1.-5.-3",
    "2026-13-45T99:99:99Z",
    "The login 'The login ' does not have CONNECT permission on the endpoint. State 84.",
    "Error: 9692, Severity: 16, State: 1. The DATABASE_MIRRORING endpoint cannot listen on port \u{130}5022",
    "[CLIENT: ]",
    "[CLIENT:",
];

fn nasty_number(rng: &mut Rng) -> Value {
    match rng.below(12) {
        0 => json!(-1),
        1 => json!(i64::MIN),
        2 => json!(i64::MAX),
        3 => json!(u64::MAX),
        4 => json!(1e300),
        5 => json!(-1e300),
        6 => json!(0.5),
        7 => json!(2.75),
        8 => json!(0),
        9 => json!(65536),
        10 => json!(70000),
        _ => json!(i32::MIN),
    }
}

fn nasty_value(rng: &mut Rng, pool: &[Value]) -> Value {
    match rng.below(10) {
        0 => Value::Null,
        1 | 2 => nasty_number(rng),
        3 | 4 => json!(NASTY_STRINGS[rng.below(NASTY_STRINGS.len())]),
        5 => json!(rng.chance(2)),
        6 => match rng.below(4) {
            0 => json!([]),
            1 => json!([1, "two", null]),
            2 => json!({}),
            _ => json!({"nested": {"deeper": [1]}}),
        },
        // A value that is realistic somewhere else in the snapshot (a name, a GUID, a state).
        _ => pool.get(rng.below(pool.len())).cloned().unwrap_or(Value::Null),
    }
}

/// Edits a string value the way a different collation, version or hand edit would.
fn twist_string(rng: &mut Rng, s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let cut = rng.below(chars.len() + 1);
    match rng.below(8) {
        0 => s.to_uppercase(),
        1 => s.to_lowercase(),
        2 => format!("{s}   "),
        3 => chars[..cut].iter().collect(),
        4 => {
            let (a, b) = chars.split_at(cut);
            format!("{}€{}", a.iter().collect::<String>(), b.iter().collect::<String>())
        }
        5 => format!("tcp:{s}"),
        6 => format!("{s}\n{INJECTED}"),
        _ => format!("İ{s}K"),
    }
}

/// Every scalar in the snapshot, to transplant realistic values into the wrong place.
fn collect_pool(v: &Value, out: &mut Vec<Value>) {
    match v {
        Value::Array(items) => items.iter().for_each(|i| collect_pool(i, out)),
        Value::Object(map) => map.values().for_each(|i| collect_pool(i, out)),
        scalar => {
            if !out.contains(scalar) {
                out.push(scalar.clone())
            }
        }
    }
}

fn instances(doc: &mut Value) -> Option<&mut Vec<Value>> {
    doc.get_mut("instances")?.as_array_mut()
}

/// (instance index, key) of a random result set, when there is one.
fn random_key(rng: &mut Rng, doc: &Value) -> Option<(usize, String)> {
    let insts = doc.get("instances")?.as_array()?;
    let i = rng.below(insts.len());
    let results = insts.get(i)?.get("results")?.as_object()?;
    let key = results.keys().nth(rng.below(results.len()))?.clone();
    Some((i, key))
}

fn rows_mut<'d>(doc: &'d mut Value, i: usize, key: &str) -> Option<&'d mut Vec<Value>> {
    instances(doc)?.get_mut(i)?.get_mut("results")?.get_mut(key)?.as_array_mut()
}

/// Applies one random mutation and describes it (for the failure message).
fn mutate(rng: &mut Rng, doc: &mut Value, pool: &[Value]) -> String {
    match rng.below(20) {
        // Column-level: the most common damage, so the most weight.
        0..=9 => {
            let Some((i, key)) = random_key(rng, doc) else { return "no result set".into() };
            let (pick, pick_column, action, value) = (rng.next(), rng.next(), rng.below(5), nasty_value(rng, pool));
            let twist = rng.next();
            let Some(rows) = rows_mut(doc, i, &key) else { return "not an array".into() };
            if rows.is_empty() {
                return format!("{key}: empty");
            }
            let r = (pick % rows.len() as u64) as usize;
            let Some(row) = rows[r].as_object_mut() else { return "row is not an object".into() };
            if row.is_empty() {
                return format!("{key}[{r}]: no columns");
            }
            let column = row.keys().nth((pick_column % row.len() as u64) as usize).cloned().unwrap_or_default();
            if action == 4 {
                // The whole column, on every instance: how a collector for another version differs.
                for inst in instances(doc).into_iter().flatten() {
                    let rows = inst.get_mut("results").and_then(|r| r.get_mut(&key)).and_then(Value::as_array_mut);
                    for row in rows.into_iter().flatten().filter_map(Value::as_object_mut) {
                        row.insert(column.clone(), value.clone());
                    }
                }
                return format!("{key}.{column} = {value} in every row of every instance");
            }
            match action {
                0 => {
                    row.remove(&column);
                    format!("instance {i} {key}[{r}]: drop column {column}")
                }
                1 => {
                    // Type swap: a number becomes its text, a numeric text becomes a number.
                    let swapped = match &row[&column] {
                        Value::Number(n) => json!(n.to_string()),
                        Value::String(s) => s
                            .trim()
                            .parse::<i64>()
                            .map(|n| json!(n))
                            .or_else(|_| s.trim().parse::<f64>().map(|f| json!(f)))
                            .unwrap_or(json!(-1)),
                        Value::Bool(b) => json!(if *b { "1" } else { "0" }),
                        _ => json!("x"),
                    };
                    let shown = format!("instance {i} {key}[{r}]: {column} type-swapped to {swapped}");
                    row.insert(column, swapped);
                    shown
                }
                2 if row[&column].is_string() => {
                    let mut twister = Rng::new(twist);
                    let twisted = twist_string(&mut twister, row[&column].as_str().unwrap_or(""));
                    let shown = format!("instance {i} {key}[{r}]: {column} twisted to {twisted:?}");
                    row.insert(column, json!(twisted));
                    shown
                }
                _ => {
                    let shown = format!("instance {i} {key}[{r}]: {column} = {value}");
                    row.insert(column, value);
                    shown
                }
            }
        }
        // Result-set level.
        10 | 11 => {
            let Some((i, key)) = random_key(rng, doc) else { return "no result set".into() };
            let action = rng.below(6);
            let other = rng.below(4);
            let pick = rng.next();
            let Some(results) = instances(doc).and_then(|v| v.get_mut(i)).and_then(|v| v.get_mut("results")) else {
                return "no results".into();
            };
            match action {
                0 => {
                    results.as_object_mut().map(|m| m.remove(&key));
                    format!("instance {i}: drop key {key}")
                }
                1 => {
                    results[&key] = json!([]);
                    format!("instance {i}: empty key {key}")
                }
                2 => {
                    results[&key] = if pick.is_multiple_of(2) { json!({"not": "an array"}) } else { json!([1, "x", null]) };
                    format!("instance {i}: {key} is not an array of rows")
                }
                3 => {
                    results.as_object_mut().map(|m| m.remove(&key));
                    let errors = &mut instances(doc).expect("instances exist")[i]["query_errors"];
                    if !errors.is_object() {
                        *errors = json!({});
                    }
                    errors[&key] = json!({"number": 208, "message": "Invalid object name.\nZZINJECTED GO"});
                    format!("instance {i}: {key} failed with an error")
                }
                4 => {
                    if let Some(rows) = results[&key].as_array_mut()
                        && !rows.is_empty()
                    {
                        let r = (pick % rows.len() as u64) as usize;
                        let row = rows[r].clone();
                        rows.push(row);
                    }
                    format!("instance {i}: duplicate a row of {key}")
                }
                _ => {
                    // Move a row to another instance's same result set (or copy the whole set).
                    let rows = results[&key].clone();
                    let Some(all) = instances(doc) else { return "no instances".into() };
                    let to = other % all.len().max(1);
                    if let Some(target) = all.get_mut(to)
                        && let Some(target_results) = target.get_mut("results").and_then(Value::as_object_mut)
                    {
                        match target_results.get_mut(&key).and_then(Value::as_array_mut) {
                            Some(existing) if pick.is_multiple_of(2) => {
                                if let Some(first) = rows.as_array().and_then(|r| r.first()) {
                                    existing.push(first.clone());
                                }
                            }
                            _ => {
                                target_results.insert(key.clone(), rows);
                            }
                        }
                    }
                    format!("{key}: rows from instance {i} moved to instance {to}")
                }
            }
        }
        // Instance level.
        12 | 13 => {
            let action = rng.below(7);
            let pick = rng.next();
            let value = nasty_value(rng, pool);
            let Some(all) = instances(doc) else { return "no instances".into() };
            if all.is_empty() {
                return "no instances".into();
            }
            let i = (pick % all.len() as u64) as usize;
            match action {
                0 => {
                    let copy = all[i].clone();
                    all.push(copy);
                    format!("duplicate instance {i}")
                }
                1 => {
                    all[i]["connected"] = json!(false);
                    if pick.is_multiple_of(3) {
                        all[i]["connect_error"] = json!({"message": "login failed\nZZINJECTED GO"});
                    }
                    format!("instance {i}: connected false")
                }
                2 => {
                    all.remove(i);
                    format!("remove instance {i}")
                }
                3 => {
                    all[i]["target"] = value.clone();
                    format!("instance {i}: target = {value}")
                }
                4 => {
                    all[i]["connected"] = value.clone();
                    format!("instance {i}: connected = {value}")
                }
                5 => {
                    // Two instances claim the same server name.
                    let other = all[(i + 1) % all.len()]["results"]["server_properties"][0]["ServerName"].clone();
                    let props = all[i]
                        .get_mut("results")
                        .and_then(|r| r.get_mut("server_properties"))
                        .and_then(|p| p.get_mut(0))
                        .and_then(Value::as_object_mut);
                    if let Some(props) = props {
                        props.insert("ServerName".into(), other.clone());
                    }
                    format!("instance {i}: ServerName = {other}")
                }
                _ => {
                    all[i]["results"] = if pick.is_multiple_of(2) { json!({}) } else { json!([]) };
                    format!("instance {i}: results emptied")
                }
            }
        }
        // Probes.
        14..=16 => {
            let action = rng.below(9);
            let pick = rng.next();
            let value = nasty_value(rng, pool);
            let Some(probes) = doc.get_mut("probes").and_then(Value::as_array_mut) else { return "no probes".into() };
            if probes.is_empty() {
                return "no probes".into();
            }
            let p = (pick % probes.len() as u64) as usize;
            let probe = &mut probes[p];
            let (field, new) = match action {
                0 => ("port", json!(0)),
                1 => ("port", json!(65535)),
                2 => ("host", json!("")),
                3 => ("host", json!(NASTY_STRINGS[(pick % NASTY_STRINGS.len() as u64) as usize])),
                4 => ("ok", json!(pick.is_multiple_of(2))),
                5 => ("url", value),
                6 => ("subject", value),
                7 => ("purpose", json!(["endpoint", "listener", "routing", "instance", "", "other"][(pick % 6) as usize])),
                _ => ("address", value),
            };
            let shown = format!("probe {p}: {field} = {new}");
            probe[field] = new;
            shown
        }
        17 => {
            let pick = rng.next();
            let Some(probes) = doc.get_mut("probes").and_then(Value::as_array_mut) else { return "no probes".into() };
            if probes.is_empty() {
                return "no probes".into();
            }
            let p = (pick % probes.len() as u64) as usize;
            if pick.is_multiple_of(2) {
                let copy = probes[p].clone();
                probes.push(copy);
                format!("duplicate probe {p}")
            } else {
                probes.remove(p);
                format!("remove probe {p}")
            }
        }
        // Document level (the header of the fix script shows these).
        _ => {
            let value = nasty_value(rng, pool);
            let field = ["collected_at", "collector", "collection"][rng.below(3)];
            let shown = format!("{field} = {value}");
            if let Some(map) = doc.as_object_mut() {
                map.insert(field.into(), value);
            }
            shown
        }
    }
}

/// The structural invariants of a fix script that sqlcmd will read.
fn check_script(script: &str) -> Result<(), String> {
    if script.contains("$(") {
        return Err("`$(` reaches the script (sqlcmd would substitute it)".into());
    }
    for (n, line) in script.lines().enumerate() {
        let n = n + 1;
        let trimmed = line.trim_start();
        if trimmed.starts_with(INJECTED) {
            return Err(format!("line {n}: server-supplied text after a line break starts a line: {line:?}"));
        }
        if line.chars().any(|c| c.is_control() && c != '\t') {
            return Err(format!("line {n}: control character: {line:?}"));
        }
        if trimmed.starts_with("--") || trimmed.is_empty() {
            continue;
        }
        if let Some(target) = trimmed.strip_prefix(":Connect ") {
            let safe = !target.is_empty()
                && target
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '\\' | ',' | ':' | '[' | ']' | '$'));
            if !safe || line != format!(":Connect {target}") {
                return Err(format!("line {n}: unsafe :Connect target: {line:?}"));
            }
            continue;
        }
        if trimmed.starts_with(':') && line != ":on error exit" {
            return Err(format!("line {n}: sqlcmd command other than :Connect / :on error exit: {line:?}"));
        }
        if trimmed.starts_with("!!") {
            return Err(format!("line {n}: sqlcmd shell command: {line:?}"));
        }
        let first_word = trimmed.split_whitespace().next().unwrap_or("");
        for command in ["GO", "ED", "RESET", "EXIT", "QUIT"] {
            if first_word.eq_ignore_ascii_case(command) && line != "GO" {
                return Err(format!("line {n}: sqlcmd command {command} in an unexpected form: {line:?}"));
            }
        }
    }
    let lines: Vec<&str> = script.lines().collect();
    for (n, pair) in lines.windows(2).enumerate() {
        if pair[0].starts_with(":Connect ") && pair[1] != "USE [master];" {
            return Err(format!("line {}: :Connect not followed by USE [master];", n + 2));
        }
    }
    if !lines.contains(&":on error exit") {
        return Err("no `:on error exit`".into());
    }
    Ok(())
}

/// What one mutated document went through.
#[derive(Default)]
struct Outcome {
    analyzed: bool,
    findings: usize,
    fix_lines: usize,
}

fn exercise(text: &str) -> Result<Outcome, String> {
    let snapshot = match Snapshot::from_json(text) {
        Ok(s) => s,
        // A clear error is the right answer for a document that does not follow the contract.
        Err(e) if !e.message.is_empty() => return Ok(Outcome::default()),
        Err(_) => return Err("parse error without a message".into()),
    };
    // Split per instance and merge back, as `agdiag analyze a.json b.json` does.
    let parts: Vec<Snapshot> = snapshot
        .instances
        .iter()
        .map(|i| Snapshot { instances: vec![i.clone()], ..snapshot.clone() })
        .collect();
    let _ = Snapshot::merge(parts);
    let connection_strings = [
        "Server=tcp:AG1-LISTENER,1433;Database=SalesDB;ApplicationIntent=ReadOnly;MultiSubnetFailover=True",
        "Server=tc€p:é,99999;ApplicationIntent=ReadOnly",
        "Data Source=sql1\\;Initial Catalog=;Failover Partner=,",
    ];
    for cs in connection_strings {
        let findings = agdiag::connection_string::check_connection_string(cs, &snapshot);
        serde_json::to_string(&findings).map_err(|e| format!("connection-string findings do not serialize: {e}"))?;
    }
    let report = agdiag::analyze(snapshot, &AnalyzeOptions { checks: vec![], generated_at: Some("2026-01-01T00:00:00Z".into()) });
    // A check that panics is isolated (reported as not evaluated); here that is still a failure.
    if let Some(failed) = report.checks.iter().find(|c| c.reason.as_deref().is_some_and(|r| r.contains("internal error"))) {
        return Err(format!(
            "PANIC in check {} at {}: {}",
            failed.check,
            PANIC_LOCATION.lock().unwrap_or_else(|e| e.into_inner()),
            failed.reason.as_deref().unwrap_or("")
        ));
    }
    let json = report.findings_json();
    let parsed: Value = serde_json::from_str(&json).map_err(|e| format!("findings JSON does not parse back: {e}"))?;
    if parsed["format"] != "agdiag.findings/1" || parsed["findings"].as_array().map(Vec::len) != Some(report.findings.len()) {
        return Err("findings JSON lost its format or findings".into());
    }
    let script = report.fix_script(&ScriptOptions::default());
    check_script(&script).map_err(|e| format!("fix script: {e}\n----- script -----\n{script}"))?;
    for f in &report.findings {
        for step in f.fix_steps.iter().filter(|s| !s.manual) {
            if step.text.lines().any(|l| l.trim_start().starts_with(INJECTED)) {
                return Err(format!("finding {}: a fix step breaks a line inside server text: {:?}", f.id, step.text));
            }
        }
    }
    Ok(Outcome { analyzed: true, findings: report.findings.len(), fix_lines: script.lines().count() })
}

/// Runs the binary's table and JSON output on one mutated snapshot.
fn exercise_cli(text: &str, dir: &std::path::Path, seed: u64) -> Result<(), String> {
    let path = dir.join(format!("mutated-{seed}.json"));
    std::fs::write(&path, text).map_err(|e| e.to_string())?;
    for args in [vec!["--format", "table"], vec!["--format", "json", "--fix-script", "-"]] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_agdiag"))
            .arg("analyze")
            .arg(&path)
            .args(&args)
            .output()
            .map_err(|e| format!("cannot run agdiag: {e}"))?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        let code = out.status.code();
        if stderr.contains("panicked") || !matches!(code, Some(0..=2)) {
            return Err(format!("agdiag analyze {args:?} exited {code:?}: {stderr}"));
        }
    }
    let _ = std::fs::remove_file(&path);
    Ok(())
}

fn mutated(seed: u64, base: &Value, pool: &[Value]) -> (String, Vec<String>) {
    let mut rng = Rng::new(seed);
    let mut doc = base.clone();
    let steps = 1 + rng.below(6);
    let applied: Vec<String> = (0..steps).map(|_| mutate(&mut rng, &mut doc, pool)).collect();
    (serde_json::to_string(&doc).expect("a JSON value serializes"), applied)
}

#[test]
fn random_mutations_of_the_examples_never_panic_and_keep_the_script_sound() {
    let replay: Option<u64> = std::env::var("AGDIAG_ROBUSTNESS_SEED").ok().and_then(|s| s.parse().ok());
    let iterations: u64 =
        std::env::var("AGDIAG_ROBUSTNESS_ITERATIONS").ok().and_then(|s| s.parse().ok()).unwrap_or(ITERATIONS);
    let dir = std::env::temp_dir().join(format!("agdiag-robustness-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    // Panics are caught and reported with their seed and location; keep the default hook's noise out.
    let default_hook = panic::take_hook();
    panic::set_hook(Box::new(|info| {
        let location = info.location().map(|l| format!("{}:{}", l.file(), l.line())).unwrap_or_default();
        *PANIC_LOCATION.lock().unwrap_or_else(|e| e.into_inner()) = location;
    }));

    let mut failures: Vec<String> = Vec::new();
    let (mut analyzed, mut total, mut with_findings, mut with_fixes) = (0u64, 0u64, 0u64, 0u64);
    for (example_index, (name, text)) in EXAMPLES.iter().enumerate() {
        let base: Value = serde_json::from_str(text).expect("example parses");
        let mut pool = Vec::new();
        collect_pool(&base, &mut pool);
        let seeds: Vec<u64> = match replay {
            Some(seed) => vec![seed],
            None => (0..iterations).map(|n| (example_index as u64) << 32 | n).collect(),
        };
        for seed in seeds {
            let (text, applied) = mutated(seed, &base, &pool);
            total += 1;
            let result = panic::catch_unwind(AssertUnwindSafe(|| exercise(&text)));
            let problem = match result {
                Ok(Ok(outcome)) => {
                    analyzed += u64::from(outcome.analyzed);
                    with_findings += u64::from(outcome.findings > 0);
                    with_fixes += u64::from(outcome.fix_lines > 20);
                    None
                }
                Ok(Err(invariant)) => Some(invariant),
                Err(payload) => Some(format!(
                    "PANIC at {}: {}",
                    PANIC_LOCATION.lock().unwrap_or_else(|e| e.into_inner()),
                    payload
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default()
                )),
            };
            let problem = problem.or_else(|| {
                (replay.is_some() || seed % CLI_SAMPLE == 0).then(|| exercise_cli(&text, &dir, seed).err()).flatten()
            });
            if let Some(problem) = problem {
                failures.push(format!(
                    "{name} seed {seed} (AGDIAG_ROBUSTNESS_SEED={seed}), mutations {applied:#?}:\n{problem}"
                ));
            }
        }
    }
    panic::set_hook(default_hook);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        failures.is_empty(),
        "{} of {total} mutated snapshots failed:\n\n{}",
        failures.len(),
        failures.iter().take(8).cloned().collect::<Vec<_>>().join("\n\n")
    );
    if replay.is_none() {
        // The mutations must mostly produce snapshots that still parse, or the test proves little.
        assert!(analyzed * 10 >= total * 7, "only {analyzed} of {total} mutated snapshots reached analysis");
        assert!(with_findings * 3 >= total, "only {with_findings} of {total} produced findings");
        assert!(with_fixes * 4 >= total, "only {with_fixes} of {total} produced a fix script with steps");
    }
}

#[test]
fn the_script_checker_rejects_what_it_must() {
    let header = "-- header\n:on error exit\n";
    assert!(check_script(&format!("{header}\n:Connect SQL1\nUSE [master];\nGO\nSELECT 1;\nGO\n")).is_ok());
    for bad in [
        ":Connect SQL 1\nUSE [master];\n",
        ":Connect $(x)\nUSE [master];\n",
        ":Connect SQL1\nSELECT 1;\n",
        ":setvar x 1\n",
        "!!dir\n",
        "go 5\n",
        "-- a\nZZINJECTED\n",
        "SELECT N'a\u{0}';\n",
    ] {
        assert!(check_script(&format!("{header}{bad}")).is_err(), "{bad:?}");
    }
    assert!(check_script("SELECT 1;\n").is_err(), "a script without :on error exit");
}

/// Connection strings are typed by people: random sequences of the characters and keywords its
/// grammar reacts to (quotes, braces, `=`, `;`, protocol prefixes, ports, non-ASCII).
#[test]
fn random_connection_strings_never_panic() {
    const PIECES: &[&str] = &[
        "Server", "Data Source", "Addr", "Database", "ApplicationIntent", "MultiSubnetFailover", "Failover Partner",
        "=", "==", ";", ";;", " ", "\"", "'", "{", "}", "}}", "''", "\"\"", "tcp:", "tc€p:", "np:", "admin:", "lpc:",
        ",", ",1433", ",99999", ",-1", ",0", "\\", "\\INST1", "AG1-LISTENER", "ag1-listener.contoso.com", "sql2",
        "10.0.0.50", "[::1]", "ReadOnly", "ReadWrite", "True", "yes", "é", "日本", "İ", "\u{212a}", "\n", "\t", "\u{0}",
    ];
    let snapshot = Snapshot::from_json(EXAMPLES[0].1).expect("the healthy example parses");
    for seed in 0..3000u64 {
        let mut rng = Rng::new(seed);
        let text: String = (0..rng.below(16)).map(|_| PIECES[rng.below(PIECES.len())]).collect();
        let result = panic::catch_unwind(AssertUnwindSafe(|| {
            let findings = agdiag::connection_string::check_connection_string(&text, &snapshot);
            serde_json::to_string(&findings).expect("findings serialize");
            agdiag::connection_string::parse_server(&text);
        }));
        assert!(result.is_ok(), "seed {seed}: connection string {text:?} panicked");
    }
}
