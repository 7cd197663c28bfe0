//! Escaping for the HTML report. Every string that came from a server (names, URLs, messages,
//! evidence, errors) goes through [`untrusted`] or [`untrusted_multiline`]: first the characters
//! that change how text reads (bidi controls, line separators, zero-width characters, control
//! characters) are shown as `\uXXXX` ([`crate::untrusted_text`]), then `& < > " '` become entities,
//! so the result is safe in element content and in double-quoted attribute values alike, in HTML
//! and in inline SVG.

use crate::untrusted_text::{shown, shown_multiline};

/// `& < > " '` as entities. For AgDiag's own text; server text goes through [`untrusted`].
pub fn html(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Server-supplied text on one line: deceptive characters shown as `\uXXXX`, then HTML-escaped.
pub fn untrusted(text: &str) -> String {
    html(&shown(text))
}

/// Like [`untrusted`] but keeps `\n` (for multi-line messages, evidence text and T-SQL in `<pre>`).
pub fn untrusted_multiline(text: &str) -> String {
    html(&shown_multiline(text))
}

/// `text` shown (deceptive characters as `\uXXXX`) and cut to `max` characters with an ellipsis;
/// not yet HTML-escaped (for measuring and wrapping in the SVG before escaping).
pub fn shown_cut(text: &str, max: usize) -> String {
    let shown = shown(text);
    if shown.chars().count() <= max {
        return shown.into_owned();
    }
    let mut out: String = shown.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Like [`shown_cut`] but keeps the last `tail` characters (a URL's port, a probe's address).
pub fn shown_cut_middle(text: &str, max: usize, tail: usize) -> String {
    let shown = shown(text);
    let count = shown.chars().count();
    if count <= max || max <= tail + 1 {
        return shown_cut(text, max);
    }
    let head: String = shown.chars().take(max - tail - 1).collect();
    let end: String = shown.chars().skip(count - tail).collect();
    format!("{head}…{end}")
}

/// Wraps shown text into lines of at most `width` characters (words longer than a line are cut),
/// keeping at most `max_lines` (the last one ends with an ellipsis when text was dropped).
pub fn wrap(text: &str, width: usize, max_lines: usize) -> Vec<String> {
    let shown = shown(text);
    let mut lines: Vec<String> = Vec::new();
    let mut current = String::new();
    for word in shown.split_whitespace() {
        let mut word: String = word.to_string();
        loop {
            let len = current.chars().count();
            let wlen = word.chars().count();
            if len == 0 && wlen > width {
                let head: String = word.chars().take(width).collect();
                word = word.chars().skip(width).collect();
                lines.push(head);
                continue;
            }
            if len > 0 && len + 1 + wlen > width {
                lines.push(std::mem::take(&mut current));
                continue;
            }
            if len > 0 {
                current.push(' ');
            }
            current.push_str(&word);
            break;
        }
    }
    if !current.is_empty() {
        lines.push(current);
    }
    if lines.len() > max_lines {
        lines.truncate(max_lines);
        if let Some(last) = lines.last_mut() {
            let mut cut: String = last.chars().take(width.saturating_sub(1)).collect();
            cut.push('…');
            *last = cut;
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_quotes_and_deceptive_characters_are_neutralized() {
        assert_eq!(untrusted("<script>\"a\"&'b'</script>"), "&lt;script&gt;&quot;a&quot;&amp;&#39;b&#39;&lt;/script&gt;");
        assert_eq!(untrusted("SQL1\u{202E}\u{2028}\u{200B}x"), "SQL1\\u202E\\u2028\\u200Bx");
        assert_eq!(untrusted_multiline("a\nb\u{2029}"), "a\nb\\u2029");
    }

    #[test]
    fn wrap_breaks_on_words_and_cuts_long_ones() {
        assert_eq!(wrap("one two three", 7, 5), ["one two", "three"]);
        assert_eq!(wrap("abcdefghij", 4, 5), ["abcd", "efgh", "ij"]);
        assert_eq!(wrap("a b c d e f", 3, 2), ["a b", "c …"]);
        assert_eq!(shown_cut("abcdef", 4), "abc…");
        assert_eq!(shown_cut_middle("TCP://sql2.contoso.com:5022", 16, 5), "TCP://sql2…:5022");
    }
}
