//! The HTML report (`agdiag::html`, `agdiag analyze --html`): parsed with an HTML5 parser and
//! checked for structure, safety (hostile names in every field that reaches the page) and
//! determinism; rendered in headless Chromium, which must show a picture, not a blank page.
//!
//! `AGDIAG_UPDATE_SCREENSHOT=1 cargo test --test html_report` rewrites the README's screenshot
//! (docs/report-broken-3-replica.png) from the Chromium rendering of the broken example.

#[path = "support/tools.rs"]
mod tools;

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use agdiag::fix::ScriptOptions;
use agdiag::html::{render, HtmlOptions, TimelineItem, SCRIPT};
use agdiag::{analyze, AnalyzeOptions, Report, Snapshot};
use scraper::{ElementRef, Html, Selector};
use serde_json::{json, Value};

const BROKEN: &str = include_str!("../examples/snapshots/broken-3-replica.json");
const HEALTHY: &str = include_str!("../examples/snapshots/healthy-3-replica.json");
const FAILOVER: &str = include_str!("../examples/snapshots/failover-3-replica.json");
const SCREENSHOT: &str = "docs/report-broken-3-replica.png";
const GENERATED_AT: &str = "2026-11-22T10:45:00Z";

fn report_of(json: &str) -> Report {
    let snapshot = Snapshot::from_json(json).expect("snapshot parses");
    analyze(snapshot, &AnalyzeOptions { generated_at: Some(GENERATED_AT.into()), ..Default::default() })
}

fn select<'a>(doc: &'a Html, selector: &str) -> Vec<ElementRef<'a>> {
    let s = Selector::parse(selector).unwrap_or_else(|e| panic!("selector {selector}: {e:?}"));
    doc.select(&s).collect()
}

fn attr(el: &ElementRef<'_>, name: &str) -> String {
    el.value().attr(name).unwrap_or_else(|| panic!("<{}> has no {name}", el.value().name())).to_string()
}

fn text(el: &ElementRef<'_>) -> String {
    el.text().collect()
}

/// What every page must hold whatever the data: our one script and nothing that fetches.
fn assert_self_contained(doc: &Html) {
    let scripts = select(doc, "script");
    assert_eq!(scripts.len(), 1, "exactly one script element, AgDiag's own");
    assert_eq!(text(&scripts[0]), SCRIPT, "the script is AgDiag's constant, nothing from data");
    for tag in ["img", "iframe", "object", "embed", "link", "base", "form", "audio", "video", "source", "image", "use", "foreignObject"] {
        assert!(select(doc, tag).is_empty(), "no <{tag}> element");
    }
    for el in select(doc, "*") {
        for (name, value) in el.value().attrs() {
            assert!(!name.to_ascii_lowercase().starts_with("on"), "event handler attribute {name}={value:?}");
            assert!(name != "src" && name != "srcset" && name != "xlink:href", "{name}={value:?} on <{}>", el.value().name());
            if name == "href" {
                assert!(value.starts_with('#'), "href {value:?} is not a link within the page");
            }
            if value.contains("url(") {
                assert!(value.starts_with("url(#"), "{name}={value:?} refers outside the page");
            }
        }
    }
    for style in select(doc, "style") {
        let css = text(&style);
        for external in ["url(", "@import", "http:", "https:", "@font-face"] {
            assert!(!css.contains(external), "style sheet contains {external}");
        }
    }
    let csp = select(doc, "meta[http-equiv=Content-Security-Policy]");
    assert_eq!(csp.len(), 1);
    assert!(attr(&csp[0], "content").starts_with("default-src 'none'"));
}

#[test]
fn broken_example_draws_every_replica_connection_listener_and_routing_path() {
    let report = report_of(BROKEN);
    let page = render(&report, &HtmlOptions::default());
    let doc = Html::parse_document(&page);
    assert!(doc.errors.is_empty(), "HTML5 parse errors: {:?}", doc.errors);
    assert_self_contained(&doc);

    // The verdict, counts and provenance at the top.
    let verdicts = select(&doc, "li.verdict");
    assert_eq!(verdicts.len(), 1);
    assert_eq!(attr(&verdicts[0], "data-ag"), "AG1");
    let verdict = text(&verdicts[0]);
    assert!(verdict.contains("AG1 needs fixing") && verdict.contains("SQL3") && verdict.contains("8 errors"), "{verdict}");
    let header = text(&select(&doc, "header.top")[0]);
    for expected in ["2026-11-22T10:42:00Z", "agdiag 0.1.0", "sql1.contoso.com,1433", "sql3.contoso.com,1433", "8 errors", "6 warnings", "2 info"] {
        assert!(header.contains(expected), "header lacks {expected}: {header}");
    }

    // Topology: every replica a node, the primary's connection to each secondary an edge.
    let topology = select(&doc, "svg.topology");
    assert_eq!(topology.len(), 1);
    let replicas: BTreeSet<(String, String)> = select(&doc, "svg.topology g.node.replica")
        .iter()
        .map(|g| (attr(g, "data-replica"), attr(g, "data-role")))
        .collect();
    let expected: BTreeSet<(String, String)> =
        [("SQL1", "PRIMARY"), ("SQL2", "SECONDARY"), ("SQL3", "SECONDARY")].iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
    assert_eq!(replicas, expected);
    let edges: BTreeSet<(String, String, String)> = select(&doc, "svg.topology g.edge.connection")
        .iter()
        .map(|g| (attr(g, "data-from"), attr(g, "data-to"), attr(g, "data-state")))
        .collect();
    let expected: BTreeSet<(String, String, String)> = [("SQL1", "SQL2", "CONNECTED"), ("SQL1", "SQL3", "DISCONNECTED")]
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect();
    assert_eq!(edges, expected);
    let sql3 = select(&doc, "svg.topology g.edge.connection[data-to=SQL3]");
    let sql3_text = text(&sql3[0]);
    assert!(sql3_text.contains("DISCONNECTED") && sql3_text.contains("10061"), "labelled with the last connect error: {sql3_text}");
    assert_eq!(select(&doc, "svg.topology g.edge.connection[data-to=SQL3] g.probe-failed").len(), 1, "SQL3's failed endpoint probes marked on its path");
    assert!(select(&doc, "svg.topology g.edge.connection[data-to=SQL2] g.probe-failed").is_empty());
    // Endpoint URLs and ports in the replica boxes; SQL3's port mismatch spelled out.
    let sql3_node = text(&select(&doc, "svg.topology g.replica[data-replica=SQL3]")[0]);
    assert!(sql3_node.contains("TCP://sql3.contoso.com:5023") && sql3_node.contains("listens on port 5022"), "{sql3_node}");
    assert!(sql3_node.contains("asynchronous commit") && sql3_node.contains("manual failover") && sql3_node.contains("NOT_HEALTHY"), "{sql3_node}");
    // The listener with its IP and state; its failed probe (by name) marked on its path.
    let listener = select(&doc, "svg.topology g.node.listener[data-listener=AG1-LISTENER]");
    assert_eq!(listener.len(), 1);
    let listener_text = text(&listener[0]);
    assert!(listener_text.contains("10.0.0.50/24 ONLINE") && listener_text.contains("1433"), "{listener_text}");
    assert_eq!(select(&doc, "svg.topology g.edge.listener-path g.probe-failed").len(), 1);

    // Read-only routing: one drawing per replica that can be primary, an arrow per target.
    let routing = select(&doc, "svg.routing");
    assert_eq!(routing.len(), report.routing_simulation.len());
    assert!(!routing.is_empty());
    for path in &report.routing_simulation {
        let arrows: BTreeSet<(String, bool)> = select(&doc, &format!("svg.routing g.edge.routing[data-when-primary={}]", path.when_primary))
            .iter()
            .map(|g| (attr(g, "data-to"), attr(g, "data-usable") == "true"))
            .collect();
        let targets: BTreeSet<(String, bool)> = path.sets.iter().flat_map(|s| s.targets.iter().map(|t| (t.replica.clone(), t.usable))).collect();
        assert_eq!(arrows, targets, "routing arrows when {} is primary", path.when_primary);
    }
    let when_sql1 = text(&select(&doc, "svg.routing[data-when-primary=SQL1] g.routing-result")[0]);
    assert!(when_sql1.contains("the primary SQL1"), "{when_sql1}");
    assert_eq!(attr(&select(&doc, "svg.routing[data-when-primary=SQL2] g.routing-result")[0], "data-lands-on"), "SQL1");

    // Findings: every id once, errors first within the page's area order, with evidence and fixes.
    let articles = select(&doc, "article.finding");
    let ids: Vec<String> = articles.iter().map(|a| attr(a, "data-finding-id")).collect();
    let mut want: Vec<String> = report.findings.iter().map(|f| f.id.clone()).collect();
    let mut got = ids.clone();
    want.sort();
    got.sort();
    assert_eq!(got, want, "every finding exactly once");
    assert_eq!(attr(&articles[0], "data-severity"), "error");
    let rank = |s: &str| ["error", "warning", "info"].iter().position(|x| *x == s).expect("severity");
    let worst: Vec<usize> = select(&doc, "section.area")
        .iter()
        .map(|area| {
            let s = Selector::parse("article.finding").expect("selector");
            area.select(&s).map(|a| rank(&attr(&a, "data-severity"))).min().expect("an area has findings")
        })
        .collect();
    assert!(worst.windows(2).all(|w| w[0] <= w[1]), "areas with errors come first: {worst:?}");
    for f in &report.findings {
        let article = articles.iter().find(|a| attr(a, "data-finding-id") == f.id).expect("article");
        let body = text(article);
        assert!(body.contains(&f.title) && body.contains(&f.remediation), "{}", f.id);
        let evidence = Selector::parse("details.evidence table").expect("selector");
        assert!(article.select(&evidence).next().is_some(), "{} has its evidence as a table", f.id);
        let steps = Selector::parse("details.fix pre").expect("selector");
        assert_eq!(article.select(&steps).count(), f.fix_steps.len(), "{} shows each fix step", f.id);
    }

    // The whole fix script, copyable; checks not evaluated and every check's status. Only the
    // Kerberos check could not look: AgDiag's login through the listener went to the stale address.
    assert_eq!(text(&select(&doc, "#fix-script")[0]), report.fix_script(&ScriptOptions::default()));
    assert_eq!(select(&doc, "button#copy-fix-script").len(), 1);
    assert_eq!(select(&doc, "table.not-evaluated tbody tr").len(), 1);
    let not_evaluated = text(&select(&doc, "#not-evaluated")[0]);
    assert!(not_evaluated.contains("listener.kerberos") && not_evaluated.contains("could not log in through the listener"), "{not_evaluated}");
    assert_eq!(select(&doc, "table.checks tbody tr").len(), report.checks.len());
    assert_eq!(select(&doc, "table.probes tbody tr").len(), report.snapshot.probes.len());
}

#[test]
fn healthy_example_reads_healthy_with_every_secondary_connected() {
    let report = report_of(HEALTHY);
    let doc = Html::parse_document(&render(&report, &HtmlOptions::default()));
    assert_self_contained(&doc);
    let verdict = text(&select(&doc, "li.verdict")[0]);
    assert!(verdict.contains("AG1 looks healthy"), "{verdict}");
    let states: Vec<String> = select(&doc, "g.edge.connection").iter().map(|g| attr(g, "data-state")).collect();
    assert_eq!(states, ["CONNECTED", "CONNECTED"]);
    assert_eq!(select(&doc, "svg.topology g.node.replica").len(), 3);
    assert!(select(&doc, "g.probe-failed").is_empty());
    assert!(text(&select(&doc, "#findings")[0]).contains("No findings"));
}

#[test]
fn the_failover_example_shows_its_incident_timeline_with_each_failover_and_cause() {
    let report = report_of(FAILOVER);
    let doc = Html::parse_document(&render(&report, &HtmlOptions::default()));
    assert_self_contained(&doc);
    assert_eq!(select(&doc, "nav.toc a[href='#timeline']").len(), 1);
    let rows: Vec<String> = select(&doc, "#timeline tbody tr").iter().map(text).collect();
    // Every AlwaysOn_health event of the window, plus one row per failover.
    assert_eq!(rows.len(), report.timeline.entries.len() + 2, "{rows:#?}");
    let lease = rows.iter().position(|r| r.contains("automatic failover of AG1 from SQL1 to SQL2") && r.contains("lease")).expect("the lease failover");
    let planned = rows.iter().position(|r| r.contains("planned failover of AG1 from SQL2 to SQL1")).expect("the planned failover");
    assert!(lease < planned, "oldest first");
    // Graded as history.failover grades them: the unplanned automatic one a warning, the planned one info.
    assert!(rows[lease].contains("warning") && rows[planned].contains("info"), "{} / {}", rows[lease], rows[planned]);
    // The lease expiry that caused it is an error row.
    let bad: Vec<String> = select(&doc, "#timeline tbody tr.bad").iter().map(text).collect();
    assert!(bad.iter().any(|r| r.contains("lease")), "{bad:#?}");
    // A caller's own timeline replaces the report's.
    let own = vec![TimelineItem { at: "10:37".into(), instance: None, severity: None, text: "ticket 42".into() }];
    let doc = Html::parse_document(&render(&report, &HtmlOptions { title: None, timeline: own }));
    let rows: Vec<String> = select(&doc, "#timeline tbody tr").iter().map(text).collect();
    assert_eq!(rows.len(), 1);
    assert!(rows[0].contains("ticket 42"));
}

#[test]
fn a_snapshot_without_event_history_has_no_timeline_section() {
    let mut snapshot: Value = serde_json::from_str(HEALTHY).unwrap();
    for inst in snapshot["instances"].as_array_mut().unwrap() {
        inst["results"].as_object_mut().unwrap().remove("alwayson_health");
    }
    let report = report_of(&snapshot.to_string());
    let doc = Html::parse_document(&render(&report, &HtmlOptions::default()));
    assert!(select(&doc, "#timeline").is_empty());
    assert!(select(&doc, "nav.toc a[href='#timeline']").is_empty());
}

#[test]
fn a_replica_that_could_not_be_collected_is_drawn_as_such() {
    let mut snapshot: Value = serde_json::from_str(BROKEN).expect("json");
    let sql3 = &mut snapshot["instances"][2];
    sql3["connected"] = json!(false);
    sql3["results"] = json!({});
    sql3["connect_error"] = json!({"message": "connection timed out after 15000 ms"});
    let report = report_of(&snapshot.to_string());
    let doc = Html::parse_document(&render(&report, &HtmlOptions::default()));
    let node = select(&doc, "svg.topology g.replica[data-replica=SQL3]");
    assert_eq!(node.len(), 1, "SQL3 is still drawn");
    assert_eq!(attr(&node[0], "data-collected"), "false");
    let drawn = text(&node[0]);
    assert!(drawn.contains("not collected: connection timed out") && drawn.contains("15000 ms"), "{drawn}");
    assert!(text(&select(&doc, "li.verdict")[0]).contains("SQL3 could not be collected"));
}

#[test]
fn without_the_primary_the_replicas_its_peers_report_are_still_drawn() {
    let mut snapshot: Value = serde_json::from_str(BROKEN).expect("json");
    let sql1 = &mut snapshot["instances"][0];
    sql1["connected"] = json!(false);
    sql1["results"] = json!({});
    sql1["connect_error"] = json!({"number": 18456, "message": "Login failed for user 'agdiag'."});
    let report = report_of(&snapshot.to_string());
    let doc = Html::parse_document(&render(&report, &HtmlOptions::default()));
    assert_self_contained(&doc);
    let drawn: BTreeSet<String> = select(&doc, "svg.topology g.node.replica").iter().map(|g| attr(g, "data-replica")).collect();
    assert!(drawn.contains("SQL2") && drawn.contains("SQL3"), "{drawn:?}");
    if let Some(sql1) = select(&doc, "svg.topology g.node.replica").into_iter().find(|g| attr(g, "data-replica") == "SQL1") {
        assert_eq!(attr(&sql1, "data-collected"), "false");
        assert!(text(&sql1).contains("Login failed"), "{}", text(&sql1));
    }
    let header = text(&select(&doc, "header.top")[0]);
    assert!(header.contains("not collected") && header.contains("Login failed for user"), "{header}");
}

#[test]
fn no_availability_group_still_gives_a_page() {
    let snapshot = json!({"format": "agdiag.snapshot/1", "instances": [{"target": "sql9", "connected": false, "connect_error": {"message": "login failed"}}]});
    let report = report_of(&snapshot.to_string());
    let doc = Html::parse_document(&render(&report, &HtmlOptions::default()));
    assert_self_contained(&doc);
    assert!(text(&select(&doc, "li.verdict")[0]).contains("No availability group"));
    assert!(text(&select(&doc, "#not-evaluated")[0]).contains("not evaluated"));
}

const HOSTILE: &str = "<script>alert(1)</script><img src=x onerror=alert(2)>\"'&amp;\u{202E}\u{2066}\u{2028}\u{2029}\u{200B}\u{7}";

/// The hostile text as JSON string content (no quotes).
fn json_text(s: &str) -> String {
    let quoted = serde_json::to_string(s).expect("string");
    quoted[1..quoted.len() - 1].to_string()
}

/// The broken example with hostile text in every field that reaches the page: replica, AG,
/// listener, endpoint and login names (renamed consistently, so the checks still match them),
/// URLs, error messages, probe errors, error log text, the collector, a connection setting, and an
/// instance that could not be reached.
fn hostile_snapshot() -> String {
    let h = |tag: &str| format!("{tag}{HOSTILE}");
    let text = BROKEN
        .replace("AG1-LISTENER", &json_text(&h("L")))
        .replace("AG1", &json_text(&h("G")))
        .replace("SQL3", &json_text(&h("R")))
        .replace("Hadr_endpoint", &json_text(&h("E")))
        .replace("svc_sql", &json_text(&h("A")))
        .replace("sql2.contoso.com", &json_text(&format!("sql2.{HOSTILE}.com")));
    let mut v: Value = serde_json::from_str(&text).expect("still JSON");
    v["collector"] = json!(h("C"));
    v["collected_at"] = json!(h("T"));
    v["collection"]["authentication"] = json!(h("S"));
    fn walk(v: &mut Value, h: &dyn Fn(&str) -> String) {
        match v {
            Value::Object(map) => {
                for (k, val) in map.iter_mut() {
                    if ["last_connect_error_description", "error", "Text", "message", "dns_name", "ip_address", "read_only_routing_url"].contains(&k.as_str())
                        && val.is_string()
                    {
                        *val = json!(format!("{}{}", val.as_str().unwrap_or_default(), h("X")));
                    } else {
                        walk(val, h);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|i| walk(i, h)),
            _ => {}
        }
    }
    walk(&mut v, &h);
    v["instances"].as_array_mut().expect("instances").push(json!({
        "target": h("target"),
        "connected": false,
        "connect_error": {"number": 18456, "message": h("login")}
    }));
    v.to_string()
}

#[test]
fn hostile_names_in_every_field_are_shown_as_text_never_as_markup() {
    let report = report_of(&hostile_snapshot());
    assert!(report.findings.len() > 5, "the hostile snapshot still produces findings");
    let timeline = vec![TimelineItem { at: format!("T{HOSTILE}"), instance: Some(format!("I{HOSTILE}")), severity: None, text: format!("X{HOSTILE}") }];
    let page = render(&report, &HtmlOptions { title: Some(format!("Title{HOSTILE}")), timeline });
    let doc = Html::parse_document(&page);
    assert_self_contained(&doc);
    // No deceptive character survives anywhere in the bytes: each is shown as \uXXXX.
    for c in ['\u{202E}', '\u{2066}', '\u{2028}', '\u{2029}', '\u{200B}', '\u{7}'] {
        assert!(!page.contains(c), "U+{:04X} reached the page", c as u32);
    }
    let shown = agdiag::untrusted_text::shown(HOSTILE).into_owned();
    assert!(shown.contains("\\u202E") && shown.contains("<script>"));
    // The hostile text is there, as text: in the drawing, the findings and the header.
    let replica = select(&doc, "svg.topology g.node.replica")
        .into_iter()
        .find(|g| attr(g, "data-replica") == format!("R{shown}"))
        .expect("the hostile replica is drawn, its name intact as an attribute value");
    assert!(text(&replica).contains("R<script>alert(1)</script>"), "{}", text(&replica));
    assert_eq!(select(&doc, "svg.topology g.node.replica").len(), 3);
    let edges: Vec<(String, String)> = select(&doc, "g.edge.connection").iter().map(|g| (attr(g, "data-to"), attr(g, "data-state"))).collect();
    assert!(edges.contains(&(format!("R{shown}"), "DISCONNECTED".to_string())), "{edges:?}");
    assert!(select(&doc, "g.node.listener").iter().any(|g| attr(g, "data-listener") == format!("L{shown}X{shown}")));
    let body = text(&select(&doc, "main")[0]);
    for tag in ["G", "R", "E", "C", "T", "S", "X", "target", "login", "A"] {
        assert!(body.contains(&format!("{tag}{shown}")), "{tag}… shown as text");
    }
    assert!(text(&select(&doc, "title")[0]).starts_with("Title<script>"));
    let verdict = text(&select(&doc, "li.verdict")[0]);
    assert!(verdict.starts_with(&format!("G{shown}")) && verdict.contains("needs fixing"), "findings match the hostile AG: {verdict}");
    assert!(text(&select(&doc, "#timeline")[0]).contains(&format!("X{shown}")));
    for f in &report.findings {
        assert!(select(&doc, "article.finding").iter().any(|a| attr(a, "data-finding-id") == agdiag::untrusted_text::shown(&f.id)), "{}", f.id);
    }
}

#[test]
fn the_same_snapshot_gives_the_same_bytes_apart_from_the_generation_time() {
    let snapshot = Snapshot::from_json(BROKEN).expect("parses");
    let at = |t: &str| analyze(snapshot.clone(), &AnalyzeOptions { generated_at: Some(t.into()), ..Default::default() });
    let first = render(&at("2026-12-01T00:00:00Z"), &HtmlOptions::default());
    let second = render(&at("2027-03-04T05:06:07Z"), &HtmlOptions::default());
    assert_ne!(first, second, "the generation time is on the page");
    assert_eq!(first.replace("2026-12-01T00:00:00Z", "T"), second.replace("2027-03-04T05:06:07Z", "T"));
    let report = report_of(BROKEN);
    assert_eq!(render(&report, &HtmlOptions::default()), render(&report, &HtmlOptions::default()));
}

#[test]
fn html_options_are_parsed_strictly() {
    let options = HtmlOptions::from_json(Some(r#"{"title": "Ticket 42", "timeline": [{"at": "10:37", "severity": "error", "text": "35250"}]}"#)).expect("valid");
    assert_eq!(options.title.as_deref(), Some("Ticket 42"));
    assert_eq!(options.timeline.len(), 1);
    assert!(HtmlOptions::from_json(None).expect("defaults").timeline.is_empty());
    let err = HtmlOptions::from_json(Some(r#"{"titel": "x"}"#)).expect_err("unknown field");
    assert!(err.message.contains("titel"), "{}", err.message);
}

#[test]
fn cli_writes_the_html_report_next_to_its_usual_output_and_exit_code() {
    let dir = temp_dir("cli");
    let path = dir.join("report.html");
    let out = Command::new(env!("CARGO_BIN_EXE_agdiag"))
        .args(["analyze", "examples/snapshots/broken-3-replica.json", "--html"])
        .arg(&path)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run agdiag");
    assert_eq!(out.status.code(), Some(1), "errors found: exit 1 as without --html");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("ERROR     endpoint.port_mismatch") && stdout.contains("HTML report written to"), "{stdout}");
    let page = std::fs::read_to_string(&path).expect("the page was written");
    assert_self_contained(&Html::parse_document(&page));
    let out = Command::new(env!("CARGO_BIN_EXE_agdiag"))
        .args(["analyze", "examples/snapshots/healthy-3-replica.json", "--format", "json", "--html", "-"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run agdiag");
    assert_eq!(out.status.code(), Some(2), "--html - is refused: stdout carries the findings");
    let _ = std::fs::remove_dir_all(dir);
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("agdiag-html-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Runs headless Chromium with a fresh profile, at most 60 s; returns its stdout.
fn chromium(profile: &Path, args: &[String]) -> String {
    let mut child = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--no-first-run",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    let mut stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().expect("wait for chromium") {
            assert!(status.success(), "chromium failed: {status}");
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    reader.join().expect("stdout reader")
}

/// (distinct colours, share of pixels that differ from the page background) of an RGB(A) PNG.
fn picture_stats(png_path: &Path) -> (usize, f64) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(png_path).expect("screenshot")));
    let mut reader = decoder.read_info().expect("PNG header");
    let mut buf = vec![0; reader.output_buffer_size().expect("size")];
    let info = reader.next_frame(&mut buf).expect("PNG frame");
    let channels = match info.color_type {
        png::ColorType::Rgba => 4,
        png::ColorType::Rgb => 3,
        other => panic!("unexpected colour type {other:?}"),
    };
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    let pixels: Vec<&[u8]> = buf[..info.buffer_size()].chunks(channels).map(|p| &p[..3]).collect();
    let background = pixels[0];
    let colours: HashSet<&[u8]> = pixels.iter().copied().collect();
    let differ = pixels.iter().filter(|p| **p != background).count();
    (colours.len(), differ as f64 / pixels.len() as f64)
}

#[test]
fn both_examples_render_in_headless_chromium() {
    if !tools::require_tool("chromium", "renders the HTML report headless") {
        return;
    }
    for (name, json) in [("broken-3-replica", BROKEN), ("healthy-3-replica", HEALTHY)] {
        let dir = temp_dir(name);
        let page = dir.join(format!("{name}.html"));
        let report = report_of(json);
        std::fs::write(&page, render(&report, &HtmlOptions::default())).expect("write page");
        let url = format!("file://{}", page.display());
        let shot = dir.join(format!("{name}.png"));
        chromium(&dir.join("profile-shot"), &[format!("--screenshot={}", shot.display()), "--window-size=1280,2000".into(), url.clone()]);
        let (colours, covered) = picture_stats(&shot);
        assert!(colours >= 64 && covered >= 0.05, "{name}: the screenshot looks blank ({colours} colours, {:.1}% drawn)", covered * 100.0);

        let dom = chromium(&dir.join("profile-dom"), &["--dump-dom".into(), url]);
        let doc = Html::parse_document(&dom);
        let drawn: BTreeSet<String> = select(&doc, "svg.topology g.node.replica").iter().map(|g| attr(g, "data-replica")).collect();
        assert_eq!(drawn, ["SQL1", "SQL2", "SQL3"].iter().map(|s| s.to_string()).collect::<BTreeSet<_>>(), "{name}");
        for replica in &drawn {
            let node = select(&doc, "svg.topology g.node.replica").into_iter().find(|g| attr(g, "data-replica") == *replica).expect("node");
            assert!(text(&node).contains(replica.as_str()), "{name}: {replica} is written in its node");
        }
        // The script ran in the browser: it reveals the filters and the copy button.
        let filters = select(&doc, "#filters");
        if !report.findings.is_empty() {
            assert!(filters[0].value().attr("hidden").is_none(), "{name}: the filter script ran");
        }

        if name == "broken-3-replica" && std::env::var_os("AGDIAG_UPDATE_SCREENSHOT").is_some() {
            // The README's picture: the summary, the topology and the current primary's routing
            // (a shorter window keeps the PNG small).
            let target = Path::new(env!("CARGO_MANIFEST_DIR")).join(SCREENSHOT);
            chromium(&dir.join("profile-readme"), &[format!("--screenshot={}", target.display()), "--window-size=1280,1380".into(), format!("file://{}", page.display())]);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn readme_shows_the_committed_screenshot() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README");
    assert!(readme.contains(&format!("]({SCREENSHOT})")), "README shows {SCREENSHOT}");
    let size = std::fs::metadata(root.join(SCREENSHOT)).expect("the screenshot is committed").len();
    assert!(size < 400 * 1024, "{SCREENSHOT} is {size} bytes; keep it under 400 KB");
    let (colours, covered) = picture_stats(&root.join(SCREENSHOT));
    assert!(colours >= 64 && covered >= 0.05, "the committed screenshot looks blank");
}
