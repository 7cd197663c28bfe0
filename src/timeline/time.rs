//! UTC times as SQL Server writes them: the event's `timestamp` attribute
//! (`2026-11-21T02:14:07.412Z`), `timestamp_utc` (datetime2, `2026-11-21T02:14:07.4120000` from
//! FOR JSON), and `collected_at`; `datetimeoffset` values with `+hh:mm` are converted to UTC.

use std::time::{Duration, SystemTime};

/// Parses an ISO 8601 / RFC 3339-like UTC time; `None` when it is not one.
pub fn parse_utc(text: &str) -> Option<SystemTime> {
    let t = text.trim();
    let (body, offset_secs) = split_offset(t)?;
    let time = humantime::parse_rfc3339_weak(body).ok()?;
    if offset_secs >= 0 {
        time.checked_sub(Duration::from_secs(offset_secs as u64))
    } else {
        time.checked_add(Duration::from_secs(offset_secs.unsigned_abs()))
    }
}

/// Splits a trailing `Z`, `+hh:mm` or `-hh:mm` from the date and time.
fn split_offset(t: &str) -> Option<(&str, i64)> {
    if let Some(body) = t.strip_suffix('Z').or_else(|| t.strip_suffix('z')) {
        return Some((body, 0));
    }
    if t.len() > 6 && t.is_char_boundary(t.len() - 6) {
        let (body, tail) = t.split_at(t.len() - 6);
        let tb = tail.as_bytes();
        if (tb[0] == b'+' || tb[0] == b'-') && tb[3] == b':' && body.contains(['T', ' ']) {
            let hours: i64 = tail[1..3].parse().ok()?;
            let minutes: i64 = tail[4..6].parse().ok()?;
            let sign = if tb[0] == b'-' { -1 } else { 1 };
            return Some((body, sign * (hours * 3600 + minutes * 60)));
        }
    }
    Some((t, 0))
}

/// `2026-11-21T02:14:07.412Z`.
pub fn format_utc(time: SystemTime) -> String {
    humantime::format_rfc3339_millis(time).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_sql_server_writes_reads_as_the_same_instant() {
        let want = parse_utc("2026-11-21T02:14:07.412Z").unwrap();
        assert_eq!(format_utc(want), "2026-11-21T02:14:07.412Z");
        assert_eq!(parse_utc("2026-11-21T02:14:07.4120000"), Some(want));
        assert_eq!(parse_utc("2026-11-21 02:14:07.412"), Some(want));
        assert_eq!(parse_utc("2026-11-21T03:14:07.4120000+01:00"), Some(want));
        assert_eq!(parse_utc("2026-11-20T21:14:07.412-05:00"), Some(want));
        assert_eq!(parse_utc("yesterday"), None);
    }
}
