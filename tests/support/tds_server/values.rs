//! Column types on the wire: TYPE_INFO in COLMETADATA and the encoding of one value in a ROW,
//! from the JSON values a scenario holds.

use serde_json::Value;

use super::SqlType;

/// SQL_Latin1_General_CP1_CI_AS: LCID 0x0409 with CI/AS flags, sort id 52.
pub const COLLATION: [u8; 5] = [0x09, 0x04, 0xD0, 0x00, 0x34];

/// Largest non-`max` nvarchar/varbinary, in bytes.
const MAX_SHORT_BYTES: usize = 8000;
const PLP_NULL: u64 = u64::MAX;

/// Whether a column must be sent as a `(max)` type (PLP chunks) because a value is too long.
pub fn needs_plp<'a>(ty: SqlType, mut values: impl Iterator<Item = &'a Value>) -> bool {
    values.any(|value| match ty {
        SqlType::NVarChar => text_of(value).is_some_and(|s| s.encode_utf16().count() * 2 > MAX_SHORT_BYTES),
        SqlType::VarBinary => value.as_str().and_then(hex_bytes).is_some_and(|b| b.len() > MAX_SHORT_BYTES),
        _ => false,
    })
}

pub fn write_type_info(out: &mut Vec<u8>, ty: SqlType, plp: bool) {
    let max_length = if plp { 0xFFFF } else { MAX_SHORT_BYTES as u16 };
    match ty {
        SqlType::Bit => out.extend_from_slice(&[0x68, 1]),
        SqlType::TinyInt => out.extend_from_slice(&[0x26, 1]),
        SqlType::SmallInt => out.extend_from_slice(&[0x26, 2]),
        SqlType::Int => out.extend_from_slice(&[0x26, 4]),
        SqlType::BigInt => out.extend_from_slice(&[0x26, 8]),
        SqlType::Float => out.extend_from_slice(&[0x6D, 8]),
        SqlType::NVarChar => {
            out.push(0xE7);
            out.extend_from_slice(&max_length.to_le_bytes());
            out.extend_from_slice(&COLLATION);
        }
        SqlType::Char(length) => {
            out.push(0xAF);
            out.extend_from_slice(&length.to_le_bytes());
            out.extend_from_slice(&COLLATION);
        }
        SqlType::DateTime => out.extend_from_slice(&[0x6F, 8]),
        SqlType::DateTime2 => out.extend_from_slice(&[0x2A, 7]),
        SqlType::DateTimeOffset => out.extend_from_slice(&[0x2B, 7]),
        SqlType::UniqueIdentifier => out.extend_from_slice(&[0x24, 16]),
        SqlType::VarBinary => {
            out.push(0xA5);
            out.extend_from_slice(&max_length.to_le_bytes());
        }
        SqlType::Numeric(precision, scale) => out.extend_from_slice(&[0x6C, numeric_length(precision), precision, scale]),
    }
}

/// Bytes of a NUMERICN value of `precision` digits: the sign byte and the magnitude.
fn numeric_length(precision: u8) -> u8 {
    match precision {
        0..=9 => 5,
        10..=19 => 9,
        20..=28 => 13,
        _ => 17,
    }
}

/// The sign byte and little-endian magnitude of an exact decimal at `scale` (digits after the
/// point beyond `scale` do not fit).
fn numeric_bytes(value: &Value, precision: u8, scale: u8) -> Option<Vec<u8>> {
    let text = match value {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().to_string(),
        _ => return None,
    };
    let (negative, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest.to_string()),
        None => (false, text),
    };
    let (int, frac) = body.split_once('.').unwrap_or((&body, ""));
    if frac.len() > usize::from(scale) {
        return None;
    }
    let digits = format!("{int}{frac:0<width$}", width = usize::from(scale));
    let magnitude: u128 = digits.parse().ok()?;
    let mut bytes = vec![u8::from(!negative)];
    bytes.extend_from_slice(&magnitude.to_le_bytes()[..usize::from(numeric_length(precision)) - 1]);
    Some(bytes)
}

/// Writes one value; NULL for `null` and for values that do not fit the type.
pub fn write_value(out: &mut Vec<u8>, ty: SqlType, plp: bool, value: &Value) {
    let bytes = if value.is_null() { None } else { value_bytes(ty, value) };
    if bytes.is_none() && !value.is_null() {
        eprintln!("tds_server: {value} does not fit {ty:?}; sent as NULL");
    }
    match ty {
        SqlType::NVarChar | SqlType::VarBinary if plp => match bytes {
            None => out.extend_from_slice(&PLP_NULL.to_le_bytes()),
            Some(bytes) => {
                out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
                for chunk in bytes.chunks(MAX_SHORT_BYTES) {
                    out.extend_from_slice(&(chunk.len() as u32).to_le_bytes());
                    out.extend_from_slice(chunk);
                }
                out.extend_from_slice(&0u32.to_le_bytes());
            }
        },
        SqlType::NVarChar | SqlType::VarBinary | SqlType::Char(_) => match bytes {
            None => out.extend_from_slice(&0xFFFFu16.to_le_bytes()),
            Some(bytes) => {
                out.extend_from_slice(&(bytes.len() as u16).to_le_bytes());
                out.extend_from_slice(&bytes);
            }
        },
        _ => match bytes {
            None => out.push(0),
            Some(bytes) => {
                out.push(bytes.len() as u8);
                out.extend_from_slice(&bytes);
            }
        },
    }
}

/// The data bytes of a non-NULL value (without its length prefix), if it fits the type.
fn value_bytes(ty: SqlType, value: &Value) -> Option<Vec<u8>> {
    match ty {
        SqlType::Bit => bit_of(value).map(|bit| vec![u8::from(bit)]),
        SqlType::TinyInt => integer_of(value).and_then(|n| u8::try_from(n).ok()).map(|n| vec![n]),
        SqlType::SmallInt => integer_of(value).and_then(|n| i16::try_from(n).ok()).map(|n| n.to_le_bytes().to_vec()),
        SqlType::Int => integer_of(value).and_then(|n| i32::try_from(n).ok()).map(|n| n.to_le_bytes().to_vec()),
        SqlType::BigInt => integer_of(value).map(|n| n.to_le_bytes().to_vec()),
        SqlType::Float => value.as_f64().or_else(|| value.as_str()?.trim().parse().ok()).map(|n: f64| n.to_le_bytes().to_vec()),
        SqlType::NVarChar => text_of(value).map(|s| s.encode_utf16().flat_map(u16::to_le_bytes).collect()),
        SqlType::Char(length) => {
            let text = text_of(value)?;
            let mut bytes: Vec<u8> = text.chars().map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?')).collect();
            bytes.resize(usize::from(length), b' ');
            Some(bytes)
        }
        SqlType::DateTime => {
            let moment = parse_datetime(value.as_str()?)?;
            let days = moment.days - days_from_civil(1900, 1, 1) + days_from_civil(1, 1, 1);
            // 1/300 second ticks, rounded like SQL Server rounds to .000/.003/.007.
            let ticks = (moment.increments * 3 + 50_000) / 100_000;
            let mut bytes = i32::try_from(days).ok()?.to_le_bytes().to_vec();
            bytes.extend_from_slice(&u32::try_from(ticks).ok()?.to_le_bytes());
            Some(bytes)
        }
        SqlType::DateTime2 => {
            let moment = parse_datetime(value.as_str()?)?;
            Some(time_and_date(moment.days, moment.increments))
        }
        SqlType::DateTimeOffset => {
            let moment = parse_datetime(value.as_str()?)?;
            // The wire carries UTC plus the offset.
            let total = moment.days * INCREMENTS_PER_DAY + moment.increments - i64::from(moment.offset_minutes) * 60 * 10_000_000;
            let mut bytes = time_and_date(total.div_euclid(INCREMENTS_PER_DAY), total.rem_euclid(INCREMENTS_PER_DAY));
            bytes.extend_from_slice(&moment.offset_minutes.to_le_bytes());
            Some(bytes)
        }
        SqlType::UniqueIdentifier => guid_bytes(value.as_str()?),
        SqlType::VarBinary => hex_bytes(value.as_str()?),
        SqlType::Numeric(precision, scale) => numeric_bytes(value, precision, scale),
    }
}

fn bit_of(value: &Value) -> Option<bool> {
    match value {
        Value::Bool(bit) => Some(*bit),
        Value::Number(_) => integer_of(value).map(|n| n != 0),
        Value::String(text) => match text.trim().to_ascii_lowercase().as_str() {
            "1" | "true" => Some(true),
            "0" | "false" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

fn integer_of(value: &Value) -> Option<i64> {
    match value {
        Value::Number(number) => number.as_i64(),
        Value::Bool(bit) => Some(i64::from(*bit)),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

/// Text for an nvarchar column: strings as they are, other JSON values as JSON text.
fn text_of(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(text) => Some(text.clone()),
        other => Some(other.to_string()),
    }
}

const INCREMENTS_PER_DAY: i64 = 86_400 * 10_000_000;

/// datetime2(7) layout: 5-byte time in 100 ns increments, 3-byte days since 0001-01-01.
fn time_and_date(days: i64, increments: i64) -> Vec<u8> {
    let mut bytes = increments.to_le_bytes()[..5].to_vec();
    bytes.extend_from_slice(&days.to_le_bytes()[..3]);
    bytes
}

/// A parsed ISO-8601 timestamp: days since 0001-01-01, 100 ns increments since midnight, and
/// the offset (0 when none was written).
#[derive(Debug, PartialEq)]
pub struct Moment {
    pub days: i64,
    pub increments: i64,
    pub offset_minutes: i16,
}

/// Parses `YYYY-MM-DD[(T| )hh:mm[:ss[.fffffff]]][Z|±hh:mm]`.
pub fn parse_datetime(text: &str) -> Option<Moment> {
    let text = text.trim();
    let number = |s: &str| -> Option<i64> { if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) { None } else { s.parse().ok() } };
    let (date, rest) = text.split_at(text.find(['T', ' ']).unwrap_or(text.len()));
    let mut date_parts = date.splitn(3, '-');
    let (year, month, day) = (number(date_parts.next()?)?, number(date_parts.next()?)?, number(date_parts.next()?)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let rest = rest.get(1..).unwrap_or("");
    let (time, offset) = match rest.find(['Z', '+', '-']) {
        Some(at) => rest.split_at(at),
        None => (rest, ""),
    };
    let mut increments = 0;
    if !time.is_empty() {
        let (clock, fraction) = time.split_once('.').unwrap_or((time, ""));
        let mut clock_parts = clock.split(':');
        let hours = number(clock_parts.next()?)?;
        let minutes = number(clock_parts.next()?)?;
        let seconds = clock_parts.next().map_or(Some(0), number)?;
        let fraction: String = fraction.chars().chain(std::iter::repeat('0')).take(7).collect();
        increments = ((hours * 60 + minutes) * 60 + seconds) * 10_000_000 + number(&fraction)?;
    }
    let offset_minutes = match offset {
        "" | "Z" => 0,
        signed => {
            let sign = if signed.starts_with('-') { -1 } else { 1 };
            let (hours, minutes) = signed[1..].split_once(':').unwrap_or((&signed[1..], "0"));
            i16::try_from(sign * (number(hours)? * 60 + number(minutes)?)).ok()?
        }
    };
    Some(Moment { days: days_from_civil(year, month, day) - days_from_civil(1, 1, 1), increments, offset_minutes })
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// GUID text to SQL Server's byte order (first three groups little-endian).
fn guid_bytes(text: &str) -> Option<Vec<u8>> {
    let hex: String = text.trim().trim_matches(['{', '}']).chars().filter(|c| *c != '-').collect();
    let mut bytes = hex_digits(&hex)?;
    if bytes.len() != 16 {
        return None;
    }
    bytes[0..4].reverse();
    bytes[4..6].reverse();
    bytes[6..8].reverse();
    Some(bytes)
}

/// `0x0A0B...` (or bare hex) to bytes.
fn hex_bytes(text: &str) -> Option<Vec<u8>> {
    let text = text.trim();
    hex_digits(text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")).unwrap_or(text))
}

fn hex_digits(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) || !hex.is_ascii() {
        return None;
    }
    (0..hex.len()).step_by(2).map(|at| u8::from_str_radix(&hex[at..at + 2], 16).ok()).collect()
}
