//! Writing server-supplied names into a SQLCMD script so they cannot break out of their quoting.
//!
//! Four hazards beyond the obvious `]` and `'`: a line break inside a name would end a `--`
//! comment and could put `GO` or `:Connect` at the start of a line (sqlcmd reads both as commands);
//! a Unicode line separator, bidi control or zero-width character makes an editor show such a line
//! where sqlcmd sees none (see `untrusted_text`); and sqlcmd substitutes `$(var)` anywhere in the
//! script, including inside literals and brackets. So no server-supplied text ever spans or seems
//! to span lines, `$(` never appears as written, and identifiers that would need either are refused
//! (the caller emits a manual step instead).

use crate::untrusted_text::{has_deceptive, is_deceptive, shown};

/// `[name]` with `]` doubled, as QUOTENAME does; `None` when the name cannot be written safely as
/// an identifier in a script (deceptive characters, `$(`, empty, or longer than sysname's 128).
pub fn ident(name: &str) -> Option<String> {
    if name.is_empty() || name.chars().count() > 128 || has_deceptive(name) || name.contains("$(") {
        return None;
    }
    Some(format!("[{}]", name.replace(']', "]]")))
}

/// `N'text'` with `'` doubled. Deceptive characters become `NCHAR(n)` and `$(` is split, joined
/// with `+`, so the literal still evaluates to exactly `text` and stays on one line.
pub fn literal(text: &str) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if is_deceptive(c) {
            if !current.is_empty() {
                parts.push(format!("N'{}'", current.replace('\'', "''")));
                current.clear();
            }
            parts.push(format!("NCHAR({})", c as u32));
        } else if c == '$' && chars.peek() == Some(&'(') {
            current.push('$');
            parts.push(format!("N'{}'", current.replace('\'', "''")));
            current.clear();
        } else {
            current.push(c);
        }
    }
    if !current.is_empty() || parts.is_empty() {
        parts.push(format!("N'{}'", current.replace('\'', "''")));
    }
    parts.join(" + ")
}

/// `N'text'` as one plain string literal, for the places T-SQL accepts only a literal and no
/// expression (`MODIFY REPLICA ON N'...'`, `ENDPOINT_URL = N'...'`, `MODIFY LISTENER N'...'`);
/// `None` when the text would need `NCHAR(n)` or a split `$(` (see `literal`).
pub fn plain_literal(text: &str) -> Option<String> {
    if has_deceptive(text) || text.contains("$(") {
        return None;
    }
    Some(literal(text))
}

/// Text safe inside a `--` comment: deceptive characters shown as `\uXXXX`, `$(` defused.
pub fn comment(text: &str) -> String {
    shown(text).replace("$(", "$ (")
}

/// True when `target` can follow `:Connect` as written: host names, `host\instance`, `host,port`,
/// `tcp:` prefixes and IPv6 brackets only.
pub fn connect_target_is_safe(target: &str) -> bool {
    !target.is_empty()
        && target
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '\\' | ',' | ':' | '[' | ']' | '$'))
        && !target.contains("$(")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_double_the_closing_bracket() {
        assert_eq!(ident("abc]def").unwrap(), "[abc]]def]");
        assert_eq!(ident("CONTOSO\\Jürgen").unwrap(), "[CONTOSO\\Jürgen]");
        assert_eq!(ident("a'; DROP LOGIN x; --").unwrap(), "[a'; DROP LOGIN x; --]");
    }

    #[test]
    fn identifiers_that_would_span_lines_or_substitute_are_refused() {
        assert_eq!(ident("evil\nGO"), None);
        assert_eq!(ident("x$(PATH)"), None);
        assert_eq!(ident(""), None);
        assert_eq!(ident(&"a".repeat(129)), None);
        for deceptive in ["x\u{2028}GO", "x\u{2029}y", "x\u{202E}y", "x\u{2066}y", "x\u{200B}y", "x\u{FEFF}y", "x\u{2060}y"] {
            assert_eq!(ident(deceptive), None, "{deceptive:?}");
            assert_eq!(plain_literal(deceptive), None, "{deceptive:?}");
        }
    }

    #[test]
    fn literals_double_quotes_and_build_control_characters() {
        assert_eq!(literal("O'Brien"), "N'O''Brien'");
        assert_eq!(literal("a\r\nGO"), "N'a' + NCHAR(13) + NCHAR(10) + N'GO'");
        assert_eq!(literal("$(x)"), "N'$' + N'(x)'");
        assert_eq!(literal("a\u{2028}GO"), "N'a' + NCHAR(8232) + N'GO'");
        assert_eq!(literal(""), "N''");
    }

    #[test]
    fn plain_literals_refuse_what_only_an_expression_could_write() {
        assert_eq!(plain_literal("O'Brien").as_deref(), Some("N'O''Brien'"));
        assert_eq!(plain_literal("a\nGO"), None);
        assert_eq!(plain_literal("x$(y)"), None);
    }

    #[test]
    fn comments_stay_on_one_line() {
        assert_eq!(comment("a\nGO"), "a\\u000AGO");
        assert_eq!(comment("a\u{2028}:!! calc"), "a\\u2028:!! calc");
        assert_eq!(comment("$(SQLCMDPASSWORD)"), "$ (SQLCMDPASSWORD)");
    }
}
