//! Snapshot files as DBAs produce them: any Unicode encoding a Windows tool writes (UTF-8 with or
//! without BOM, UTF-16 with BOM: SSMS "Results to File", `sqlcmd -u`), and collect.sql's output,
//! which arrives as numbered pieces so that no tool's column limit truncates it.

use crate::error::{Error, ErrorKind, Result};

/// The first word of every line collect.sql prints.
pub(crate) const PART_MARKER: &str = "AGDIAG ";
/// The last line: `AGDIAG END <number of pieces>|`.
pub(crate) const END_MARKER: &str = "AGDIAG END ";
/// Ends every line, so that the padding a tool adds after a value is never taken for JSON.
pub(crate) const PART_TERMINATOR: char = '|';

/// The text of a snapshot file from its bytes: a UTF-8, UTF-16 LE or UTF-16 BE byte order mark
/// selects the encoding (and is dropped); without one the bytes must be UTF-8.
pub fn decode(bytes: &[u8]) -> Result<String> {
    let utf16 = |rest: &[u8], from: fn([u8; 2]) -> u16, name: &str| -> Result<String> {
        if !rest.len().is_multiple_of(2) {
            return Err(invalid(format!("the file starts with a {name} byte order mark but has an odd number of bytes")));
        }
        let units = rest.chunks_exact(2).map(|c| from([c[0], c[1]]));
        char::decode_utf16(units)
            .collect::<std::result::Result<String, _>>()
            .map_err(|e| invalid(format!("the file is not valid {name}: {e}")))
    };
    match bytes {
        [0xEF, 0xBB, 0xBF, rest @ ..] => utf8(rest),
        [0xFF, 0xFE, rest @ ..] => utf16(rest, u16::from_le_bytes, "UTF-16 LE"),
        [0xFE, 0xFF, rest @ ..] => utf16(rest, u16::from_be_bytes, "UTF-16 BE"),
        _ => utf8(bytes),
    }
}

fn utf8(bytes: &[u8]) -> Result<String> {
    String::from_utf8(bytes.to_vec()).map_err(|e| {
        invalid(format!(
            "the file is neither UTF-8 nor UTF-16 with a byte order mark (invalid UTF-8 at byte {}): it was probably \
             saved in an ANSI/OEM code page, which loses every character outside it. Save collect.sql's output \
             with `sqlcmd ... -f 65001` (UTF-8) or `-u` (UTF-16)",
            e.utf8_error().valid_up_to()
        ))
    })
}

/// The snapshot JSON in `text`: the text itself (without a leading BOM character), or, when it is
/// collect.sql's output, its pieces joined in order after checking that none is missing or cut.
pub fn snapshot_json(text: &str) -> Result<std::borrow::Cow<'_, str>> {
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    if !text.lines().any(|l| l.trim_start().starts_with(PART_MARKER)) {
        return Ok(std::borrow::Cow::Borrowed(text));
    }
    join_parts(text).map(std::borrow::Cow::Owned)
}

/// Joins `AGDIAG <seq> <piece>|` lines 1..n, ended by `AGDIAG END n|`. Other lines (a column header
/// and its dashes from SSMS, blank lines) are ignored.
fn join_parts(text: &str) -> Result<String> {
    let mut json = String::with_capacity(text.len());
    let mut expected = 1usize;
    let mut end: Option<usize> = None;
    for (index, raw) in text.lines().enumerate() {
        let line_no = index + 1;
        let line = raw.trim_start();
        let Some(rest) = line.strip_prefix(PART_MARKER) else { continue };
        if end.is_some() {
            return Err(invalid(format!("line {line_no}: collect.sql output continues after its END line (two outputs in one file?)")));
        }
        // The value ends at the terminator; anything after it is a tool's padding.
        let body = rest.trim_end();
        let Some(body) = body.strip_suffix(PART_TERMINATOR) else {
            return Err(invalid(format!(
                "line {line_no} of collect.sql's output is cut off (it does not end with '{PART_TERMINATOR}'): the tool \
                 that saved it truncated long values. Use `sqlcmd -i collect.sql -y 0 -h -1 -f 65001 -o file`, or in SSMS \
                 set Results to Text's maximum characters per column to 8192"
            )));
        };
        if let Some(count) = line.strip_prefix(END_MARKER) {
            let count = count.trim_end().trim_end_matches(PART_TERMINATOR).trim();
            let count: usize = count.parse().map_err(|_| invalid(format!("line {line_no}: END line without a piece count")))?;
            if count != expected - 1 {
                return Err(invalid(format!(
                    "collect.sql's output has {} of its {count} pieces: the file is incomplete",
                    expected - 1
                )));
            }
            end = Some(count);
            continue;
        }
        let (seq, piece) = body.split_once(' ').unwrap_or((body, ""));
        let seq: usize = seq.parse().map_err(|_| invalid(format!("line {line_no}: no piece number after {PART_MARKER:?}")))?;
        if seq != expected {
            return Err(invalid(format!(
                "line {line_no}: piece {seq} of collect.sql's output where piece {expected} was expected (lines missing or out of order)"
            )));
        }
        json.push_str(piece);
        expected += 1;
    }
    if end.is_none() {
        return Err(invalid(format!(
            "collect.sql's output ends after piece {} without its END line: the file is incomplete",
            expected - 1
        )));
    }
    Ok(json)
}

fn invalid(message: String) -> Error {
    Error::new(ErrorKind::InvalidJson, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lines collect.sql prints for `json`, as its loop cuts them.
    fn parts(json: &str, piece: usize) -> Vec<String> {
        let chars: Vec<char> = json.chars().collect();
        let mut lines: Vec<String> = chars
            .chunks(piece)
            .enumerate()
            .map(|(i, c)| format!("{PART_MARKER}{:07} {}{PART_TERMINATOR}", i + 1, c.iter().collect::<String>()))
            .collect();
        lines.push(format!("{END_MARKER}{}{PART_TERMINATOR}", lines.len()));
        lines
    }

    const JSON: &str = r#"{"format":"agdiag.snapshot/1","note":"a | b  ","name":"CONTOSO\\Jürgen 🙂"}"#;

    #[test]
    fn pieces_join_back_whatever_the_padding_line_ends_and_header() {
        let mut text = String::from("agdiag_snapshot\r\n---------------\r\n");
        for line in parts(JSON, 7) {
            text.push_str(&line);
            text.push_str("        \r\n");
        }
        assert_eq!(snapshot_json(&text).unwrap(), JSON);
    }

    #[test]
    fn a_plain_json_document_is_taken_as_is_without_its_bom() {
        assert_eq!(snapshot_json(&format!("\u{FEFF}{JSON}")).unwrap(), JSON);
    }

    #[test]
    fn missing_cut_or_unterminated_output_is_an_error_naming_the_problem() {
        let lines = parts(JSON, 5);
        let without = |skip: usize| lines.iter().enumerate().filter(|(i, _)| *i != skip).map(|(_, l)| l.as_str()).collect::<Vec<_>>().join("\n");
        assert!(snapshot_json(&without(2)).unwrap_err().message.contains("piece 4 of collect.sql's output where piece 3"));
        assert!(snapshot_json(&without(lines.len() - 1)).unwrap_err().message.contains("without its END line"));
        let mut cut = lines.clone();
        cut[1].pop();
        assert!(snapshot_json(&cut.join("\n")).unwrap_err().message.contains("cut off"));
    }

    #[test]
    fn byte_order_marks_select_the_encoding() {
        let utf16le: Vec<u8> = [0xFF, 0xFE].into_iter().chain(JSON.encode_utf16().flat_map(u16::to_le_bytes)).collect();
        let utf16be: Vec<u8> = [0xFE, 0xFF].into_iter().chain(JSON.encode_utf16().flat_map(u16::to_be_bytes)).collect();
        let utf8bom: Vec<u8> = [0xEF, 0xBB, 0xBF].into_iter().chain(JSON.bytes()).collect();
        for bytes in [utf16le, utf16be, utf8bom, JSON.as_bytes().to_vec()] {
            assert_eq!(decode(&bytes).unwrap(), JSON);
        }
        // "Jürgen" in Windows-1252: ü is 0xFC, not UTF-8.
        let ansi: Vec<u8> = b"{\"n\":\"J\xFCrgen\"}".to_vec();
        let e = decode(&ansi).unwrap_err();
        assert!(e.message.contains("ANSI/OEM") && e.message.contains("-f 65001"), "{}", e.message);
    }
}
