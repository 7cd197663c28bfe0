//! collect.sql's output as the documented recipes save it (sqlcmd with and without -W, SSMS
//! "Results to File" in UTF-16 with a header), read back by `agdiag analyze` into the same report as
//! the JSON itself; a cut or incomplete file is an error naming the problem, never a wrong report.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const SCRIPT: &str = include_str!("../powershell/AgDiag/sql/collect.sql");
const BROKEN: &str = include_str!("../examples/snapshots/broken-3-replica.json");

/// The piece length and line type collect.sql declares.
fn script_piece_length() -> usize {
    let at = SCRIPT.find("DECLARE @piece_length int = ").expect("collect.sql declares @piece_length");
    let rest = &SCRIPT[at + "DECLARE @piece_length int = ".len()..];
    rest[..rest.find(',').unwrap()].trim().parse().expect("a number")
}

/// The lines collect.sql prints for `json`: its loop, in UTF-16 code units as SQL Server counts
/// them outside _SC collations, never splitting a surrogate pair.
fn collect_sql_lines(json: &str, piece_length: usize) -> Vec<String> {
    let units: Vec<u16> = json.encode_utf16().collect();
    let mut lines = Vec::new();
    let mut at = 0;
    while at < units.len() {
        let mut take = piece_length.min(units.len() - at);
        if (0xD800..=0xDBFF).contains(&units[at + take - 1]) {
            take -= 1;
        }
        lines.push(format!("AGDIAG {:07} {}|", lines.len() + 1, String::from_utf16(&units[at..at + take]).unwrap()));
        at += take;
    }
    lines.push(format!("AGDIAG END {}|", lines.len()));
    lines
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("agdiag-collect-sql-output-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The findings document without its generation time.
fn findings(output: &Output) -> serde_json::Value {
    let mut doc: serde_json::Value = serde_json::from_slice(&output.stdout).expect("findings JSON");
    doc.as_object_mut().unwrap().remove("generated_at");
    doc
}

fn analyze_json(path: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_agdiag"))
        .args(["analyze", path.to_str().unwrap(), "--format", "json"])
        .output()
        .unwrap()
}

#[test]
fn every_line_collect_sql_prints_fits_its_nvarchar_4000_column() {
    let piece_length = script_piece_length();
    assert!(SCRIPT.contains("line nvarchar(4000) NOT NULL"), "the line column is nvarchar(4000): sqlcmd never truncates it");
    let line_length = "AGDIAG ".len() + 7 + " ".len() + piece_length + "|".len();
    assert!(line_length <= 4000, "a {piece_length}-character piece overflows nvarchar(4000)");
    for needle in [
        "N'AGDIAG ' + RIGHT(N'000000' + CAST(@piece AS nvarchar(10)), 7) + N' ' + SUBSTRING(@snapshot, @at, @take) + N'|'",
        "N'AGDIAG END ' + CAST(@piece AS nvarchar(10)) + N'|'",
        "BETWEEN 55296 AND 56319",
        "SELECT line AS agdiag_snapshot FROM @pieces ORDER BY piece;",
        "-f 65001",
    ] {
        assert!(SCRIPT.contains(needle), "collect.sql lacks {needle}");
    }
}

#[test]
fn the_saved_forms_of_collect_sql_output_give_the_same_report_as_the_json() {
    // A name outside the BMP and one outside ANSI, to cross piece boundaries and code pages.
    let json = BROKEN.replace("CONTOSO\\\\jsmith", "CONTOSO\\\\Jürgen🙂");
    assert_ne!(json, BROKEN, "the example has CONTOSO\\jsmith");
    let compact = serde_json::to_string(&serde_json::from_str::<serde_json::Value>(&json).unwrap()).unwrap();
    let dir = temp_dir("forms");
    let reference = dir.join("snapshot.json");
    std::fs::write(&reference, &compact).unwrap();
    let expected = analyze_json(&reference);
    assert!(findings(&expected).to_string().contains("Jürgen🙂"));

    // Small pieces so that many boundaries fall inside strings, escapes and the emoji.
    for piece_length in [script_piece_length(), 7, 2] {
        let lines = collect_sql_lines(&compact, piece_length);
        assert!(lines.len() > 1);
        // sqlcmd -f 65001 -h -1 -W: UTF-8, CRLF, no padding.
        let sqlcmd_w = lines.iter().map(|l| format!("{l}\r\n")).collect::<String>();
        // sqlcmd without -W: every value padded to the column's width.
        let sqlcmd_padded = lines.iter().map(|l| format!("{l:<4000}\r\n")).collect::<String>();
        // SSMS Results to File: UTF-16 LE with BOM, a column header and its dashes.
        let ssms_text = format!("agdiag_snapshot\r\n{}\r\n{}\r\n", "-".repeat(4000), lines.join("\r\n"));
        let ssms: Vec<u8> = [0xFF, 0xFE].into_iter().chain(ssms_text.encode_utf16().flat_map(u16::to_le_bytes)).collect();
        let utf8_bom: Vec<u8> = [0xEF, 0xBB, 0xBF].into_iter().chain(sqlcmd_w.bytes()).collect();
        for (name, bytes) in [
            ("sqlcmd-w", sqlcmd_w.into_bytes()),
            ("sqlcmd-padded", sqlcmd_padded.into_bytes()),
            ("ssms-utf16", ssms),
            ("utf8-bom", utf8_bom),
        ] {
            let path = dir.join(format!("{name}-{piece_length}.agdiag.txt"));
            std::fs::write(&path, bytes).unwrap();
            let got = analyze_json(&path);
            assert_eq!(got.status.code(), expected.status.code(), "{name}: {}", String::from_utf8_lossy(&got.stderr));
            assert_eq!(findings(&got), findings(&expected), "{name}, pieces of {piece_length}");
        }
    }
}

#[test]
fn cut_incomplete_or_ansi_output_is_refused_with_what_to_do() {
    let compact = serde_json::to_string(&serde_json::from_str::<serde_json::Value>(BROKEN).unwrap()).unwrap();
    let lines = collect_sql_lines(&compact, script_piece_length());
    let dir = temp_dir("refused");
    let cases: [(&str, Vec<u8>, &str); 4] = [
        // SSMS's default of 256 characters per column.
        ("ssms-256", lines.iter().map(|l| format!("{}\r\n", l.chars().take(256).collect::<String>())).collect::<String>().into_bytes(), "cut off"),
        ("no-end", lines[..lines.len() - 1].join("\n").into_bytes(), "without its END line"),
        ("missing-piece", [&lines[..1], &lines[2..]].concat().join("\n").into_bytes(), "where piece 2 was expected"),
        ("ansi", b"{\"format\":\"agdiag.snapshot/1\",\"x\":\"J\xFCrgen\"}".to_vec(), "-f 65001"),
    ];
    for (name, bytes, needle) in cases {
        let path = dir.join(format!("{name}.agdiag.txt"));
        std::fs::write(&path, bytes).unwrap();
        let got = analyze_json(&path);
        let stderr = String::from_utf8_lossy(&got.stderr);
        assert_eq!(got.status.code(), Some(2), "{name}: {stderr}");
        assert!(stderr.contains(needle) && stderr.contains(&format!("{name}.agdiag.txt")), "{name}: {stderr}");
    }
}
