//! Writing server-supplied names into a SQLCMD script so they cannot break out of their quoting.
//!
//! Three hazards beyond the obvious `]` and `'`: a line break inside a name would end a `--`
//! comment and could put `GO` or `:Connect` at the start of a line (sqlcmd reads both as commands);
//! and sqlcmd substitutes `$(var)` anywhere in the script, including inside literals and brackets.
//! So no server-supplied text ever spans lines, `$(` never appears as written, and identifiers that
//! would need either are refused (the caller emits a manual step instead).

use std::fmt::Write;

/// `[name]` with `]` doubled, as QUOTENAME does; `None` when the name cannot be written safely as
/// an identifier in a script (control characters, `$(`, empty, or longer than sysname's 128).
pub fn ident(name: &str) -> Option<String> {
    if name.is_empty() || name.chars().count() > 128 || name.chars().any(char::is_control) || name.contains("$(") {
        return None;
    }
    Some(format!("[{}]", name.replace(']', "]]")))
}

/// `N'text'` with `'` doubled. Control characters become `NCHAR(n)` and `$(` is split, joined
/// with `+`, so the literal still evaluates to exactly `text` and stays on one line.
pub fn literal(text: &str) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_control() {
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
    if text.chars().any(char::is_control) || text.contains("$(") {
        return None;
    }
    Some(literal(text))
}

/// Text safe inside a `--` comment: control characters shown as `\u{..}`, `$(` defused.
pub fn comment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    out.replace("$(", "$ (")
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
    }

    #[test]
    fn literals_double_quotes_and_build_control_characters() {
        assert_eq!(literal("O'Brien"), "N'O''Brien'");
        assert_eq!(literal("a\r\nGO"), "N'a' + NCHAR(13) + NCHAR(10) + N'GO'");
        assert_eq!(literal("$(x)"), "N'$' + N'(x)'");
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
        assert_eq!(comment("a\nGO"), "a\\u{a}GO");
        assert_eq!(comment("$(SQLCMDPASSWORD)"), "$ (SQLCMDPASSWORD)");
    }
}
