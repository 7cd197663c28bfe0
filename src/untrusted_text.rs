//! Characters in server-supplied text that change how a line *reads* without changing what a
//! parser sees: control characters, Unicode line and paragraph separators (SSMS and VS Code show
//! U+2028 as a line break, sqlcmd does not split on it), bidi controls that reorder what follows,
//! and zero-width characters that hide inside a name. A reviewer must never see a `GO` or `:!!`
//! start a line that is not there, so such text is written as a manual step, and wherever it is
//! echoed (script comments, CLI tables, finding messages) each of these characters is shown as
//! `\uXXXX`.

use std::borrow::Cow;
use std::fmt::Write;

/// True for a character that can make text read differently from what it is.
pub fn is_deceptive(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}' | '\u{2029}'             // line and paragraph separators
            | '\u{202A}'..='\u{202E}'           // bidi embeddings and overrides
            | '\u{2066}'..='\u{2069}'           // bidi isolates
            | '\u{200B}'..='\u{200D}'           // zero-width space, non-joiner, joiner
            | '\u{2060}' | '\u{FEFF}'           // word joiner, zero-width no-break space
        )
}

/// True when `text` holds any character of [`is_deceptive`].
pub fn has_deceptive(text: &str) -> bool {
    text.chars().any(is_deceptive)
}

/// `text` with every deceptive character shown as `\uXXXX` (one line, reads as it is).
pub fn shown(text: &str) -> Cow<'_, str> {
    escape(text, |_| false)
}

/// Like [`shown`], but keeps `\n`: for AgDiag's own multi-line messages that embed server names.
pub fn shown_multiline(text: &str) -> Cow<'_, str> {
    escape(text, |c| c == '\n')
}

fn escape(text: &str, keep: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !text.chars().any(|c| is_deceptive(c) && !keep(c)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_deceptive(c) && !keep(c) {
            let _ = write!(out, "\\u{:04X}", c as u32);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separators_bidi_and_zero_width_are_deceptive_and_shown_escaped() {
        for c in ['\n', '\r', '\u{7}', '\u{2028}', '\u{2029}', '\u{202E}', '\u{2067}', '\u{200B}', '\u{FEFF}', '\u{2060}'] {
            assert!(is_deceptive(c), "{:04X}", c as u32);
        }
        for c in ['a', 'ü', ' ', '\u{00A0}', '€', '\u{2027}', '\u{202F}'] {
            assert!(!is_deceptive(c), "{:04X}", c as u32);
        }
        assert_eq!(shown("SQL1\u{2028}GO"), "SQL1\\u2028GO");
        assert_eq!(shown("a\u{202E}b\nc"), "a\\u202Eb\\u000Ac");
        assert_eq!(shown_multiline("a\u{202E}b\nc"), "a\\u202Eb\nc");
        assert!(matches!(shown("CONTOSO\\Jürgen"), Cow::Borrowed(_)));
    }
}
