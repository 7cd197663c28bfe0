//! Runs the query batch and maps its result sets to snapshot keys.
//!
//! tiberius' `QueryStream` skips ERROR tokens and reports only the first server error, after the
//! last row. So: a statement that fails produces no result set, and the error's batch line (or its
//! procedure, for `sp_readerrorlog`) names the statement. When every statement answered, result
//! sets map to keys in order. When one failed and its line names it, the sets before it are exact
//! and the rest are asked again in a smaller batch. When no line names it, each remaining key is
//! asked alone, so no row is ever filed under the wrong key.

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::TryStreamExt;
use serde_json::{Map, Value};
use tiberius::{ColumnData, QueryItem};

use super::connect::{server_error, transport, TdsClient};
use super::queries::{is_ag_relevant, Batch};
use crate::snapshot::{keys, Row, ServerError};

/// What one instance's queries produced.
#[derive(Debug, Default)]
pub struct Collected {
    pub results: BTreeMap<String, Vec<Row>>,
    pub query_errors: BTreeMap<String, ServerError>,
}

/// One batch as it came back.
struct BatchOutcome {
    sets: Vec<Vec<Row>>,
    /// The first server error (the only one tiberius reports), with its line and procedure.
    server_error: Option<(ServerError, u32, String)>,
    /// A transport failure that ended the batch early; the last set may be incomplete.
    broken: Option<ServerError>,
}

/// Sees each complete result set as it arrives (column names, rows), before the batch ends.
pub type Observer<'a> = &'a mut (dyn FnMut(&[String], &[Row]) + Send);

async fn run_batch(client: &mut TdsClient, batch: &Batch, command: Duration, observe: Observer<'_>) -> BatchOutcome {
    let mut outcome = BatchOutcome { sets: Vec::new(), server_error: None, broken: None };
    // tiberius bounds each round trip with the command timeout; this outer bound is a backstop so
    // that no await on the network is ever unbounded, whatever the driver does.
    let limit = command + BACKSTOP;
    let mut stream = match tokio::time::timeout(limit, client.simple_query(batch.text.as_str())).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => {
            record_error(&mut outcome, e, command, None);
            return outcome;
        }
        Err(_) => {
            outcome.broken = Some(no_response(command, None));
            return outcome;
        }
    };
    let mut current: Option<(Vec<String>, Vec<Row>)> = None;
    loop {
        match tokio::time::timeout(limit, stream.try_next()).await {
            Ok(Ok(Some(QueryItem::Metadata(meta)))) => {
                if let Some((names, rows)) = current.take() {
                    observe(&names, &rows);
                    outcome.sets.push(rows);
                }
                current = Some((meta.columns().iter().map(|c| c.name().to_string()).collect(), Vec::new()));
            }
            Ok(Ok(Some(QueryItem::Row(row)))) => {
                let (names, rows) = current.get_or_insert_with(|| (Vec::new(), Vec::new()));
                rows.push(convert_row(names, row));
            }
            Ok(Ok(None)) => break,
            Ok(Err(e)) => {
                record_error(&mut outcome, e, command, current.as_ref().map(|(_, rows)| rows.len()));
                break;
            }
            Err(_) => {
                outcome.broken = Some(no_response(command, current.as_ref().map(|(_, rows)| rows.len())));
                break;
            }
        }
    }
    // After a transport failure the set being read may be cut short: it is not kept, because a
    // partial set would read as complete evidence (a replica or database that seems missing).
    if let Some((names, rows)) = current.take()
        && outcome.broken.is_none()
    {
        observe(&names, &rows);
        outcome.sets.push(rows);
    }
    outcome
}

/// Added to the command timeout for the outer bound on each round trip.
const BACKSTOP: Duration = Duration::from_millis(250);

fn partial(rows_read: Option<usize>) -> String {
    match rows_read {
        Some(n) => format!(" ({n} rows of the result set being read were discarded as incomplete)"),
        None => String::new(),
    }
}

fn no_response(command: Duration, rows_read: Option<usize>) -> ServerError {
    transport(format!(
        "no response from the server for {} ms while reading results (command timeout){}",
        command.as_millis(),
        partial(rows_read)
    ))
}

fn record_error(outcome: &mut BatchOutcome, e: tiberius::error::Error, command: Duration, rows_read: Option<usize>) {
    match &e {
        tiberius::error::Error::Server(token) => {
            outcome.server_error = Some((server_error(&e), token.line(), token.procedure().to_string()));
        }
        tiberius::error::Error::Io { kind: std::io::ErrorKind::TimedOut, .. } => {
            outcome.broken = Some(no_response(command, rows_read));
        }
        _ => outcome.broken = Some(transport(format!("connection lost while reading results: {e}{}", partial(rows_read)))),
    }
}

/// Runs the batch for every key and files rows and errors per key. `command` bounds each round
/// trip; `observe` sees every complete result set as soon as it has arrived.
pub async fn collect(client: &mut TdsClient, wanted: &[&'static str], command: Duration, observe: Observer<'_>) -> Collected {
    let mut collected = Collected::default();
    let mut pending: Vec<&'static str> = wanted.to_vec();
    let mut one_at_a_time = false;
    while !pending.is_empty() {
        let batch = Batch::new(if one_at_a_time { &pending[..1] } else { &pending });
        let keys = batch.keys();
        let outcome = run_batch(client, &batch, command, &mut *observe).await;
        if let Some(lost) = outcome.broken {
            // Without a server error so far, the complete sets are in key order.
            let exact = if outcome.server_error.is_none() { outcome.sets.len() } else { 0 };
            file(&mut collected, &keys[..exact.min(keys.len())], outcome.sets);
            for key in pending.iter().skip(exact) {
                collected.query_errors.insert(key.to_string(), lost.clone());
            }
            return collected;
        }
        let answered = outcome.sets.len();
        let done = match outcome.server_error {
            None if answered == keys.len() => {
                file(&mut collected, &keys, outcome.sets);
                keys.len()
            }
            None if keys.len() == 1 => {
                let why = format!("the server returned {answered} result sets for 1 statement");
                collected.query_errors.insert(keys[0].to_string(), transport(why));
                1
            }
            Some((err, _, _)) if keys.len() == 1 => {
                collected.query_errors.insert(keys[0].to_string(), err);
                1
            }
            Some((err, line, procedure)) => match batch.statement_at(line, &procedure) {
                Some(failed) if failed <= answered => {
                    let mut sets = outcome.sets.into_iter();
                    file(&mut collected, &keys[..failed], sets.by_ref().take(failed).collect());
                    collected.query_errors.insert(keys[failed].to_string(), err);
                    if answered == keys.len() - 1 {
                        // The only failure: the remaining sets are in order.
                        file(&mut collected, &keys[failed + 1..], sets.collect());
                        keys.len()
                    } else {
                        failed + 1
                    }
                }
                _ => {
                    one_at_a_time = true;
                    0
                }
            },
            // Fewer sets than statements and no error: ask key by key.
            None => {
                one_at_a_time = true;
                0
            }
        };
        pending.drain(..done);
    }
    collected
}

fn file(collected: &mut Collected, keys: &[&'static str], sets: Vec<Vec<Row>>) {
    for (key, rows) in keys.iter().zip(sets) {
        let rows = if *key == keys::ERRORLOG {
            rows.into_iter().filter(|r| r.str("Text").is_some_and(is_ag_relevant)).collect()
        } else {
            rows
        };
        collected.results.insert(key.to_string(), rows);
    }
}

fn convert_row(names: &[String], row: tiberius::Row) -> Row {
    let mut map = Map::new();
    for (i, value) in row.into_iter().enumerate() {
        let name = names.get(i).cloned().unwrap_or_else(|| format!("column{}", i + 1));
        map.insert(name, to_json(&value));
    }
    Row(map)
}

/// A column value as the snapshot contract types it (the same as SQL Server's `FOR JSON`).
pub fn to_json(value: &ColumnData<'_>) -> Value {
    use ColumnData as C;
    let n = |v: Option<i64>| v.map_or(Value::Null, Value::from);
    match value {
        C::U8(v) => n(v.map(i64::from)),
        C::I16(v) => n(v.map(i64::from)),
        C::I32(v) => n(v.map(i64::from)),
        C::I64(v) => n(*v),
        C::F32(v) => v.map_or(Value::Null, |f| Value::from(f64::from(f))),
        C::F64(v) => v.map_or(Value::Null, Value::from),
        C::Bit(v) => v.map_or(Value::Null, Value::Bool),
        C::String(v) => v.as_ref().map_or(Value::Null, |s| Value::String(s.to_string())),
        C::Guid(v) => v.map_or(Value::Null, |g| Value::String(g.to_string().to_uppercase())),
        C::Binary(v) => v.as_ref().map_or(Value::Null, |b| Value::String(hex(b))),
        C::Numeric(v) => v.map_or(Value::Null, |d| numeric(d.value(), d.scale())),
        C::Xml(v) => v.as_ref().map_or(Value::Null, |x| Value::String(x.to_string())),
        C::DateTime(v) => v.map_or(Value::Null, |d| {
            // Days since 1900-01-01, 1/300 s ticks.
            let ms = (u64::from(d.seconds_fragments()) * 10 + 1) / 3;
            Value::String(iso(i64::from(d.days()) + DAYS_1900, ms * 1_000_000, 3, None))
        }),
        C::SmallDateTime(v) => v.map_or(Value::Null, |d| {
            Value::String(iso(i64::from(d.days()) + DAYS_1900, u64::from(d.seconds_fragments()) * 60_000_000_000, 0, None))
        }),
        C::Time(v) => v.map_or(Value::Null, |t| Value::String(time_of_day(nanos(t.increments(), t.scale()), t.scale()))),
        C::Date(v) => v.map_or(Value::Null, |d| Value::String(date(i64::from(d.days())))),
        C::DateTime2(v) => v.map_or(Value::Null, |d| {
            let t = d.time();
            Value::String(iso(i64::from(d.date().days()), nanos(t.increments(), t.scale()), t.scale(), None))
        }),
        C::DateTimeOffset(v) => v.map_or(Value::Null, |d| {
            // Stored as UTC plus the offset in minutes; shown as local time with the offset.
            let dt = d.datetime2();
            let t = dt.time();
            let offset = i64::from(d.offset());
            let total_ns = i128::from(dt.date().days()) * NS_PER_DAY
                + i128::from(nanos(t.increments(), t.scale()))
                + i128::from(offset) * 60_000_000_000;
            let days = total_ns.div_euclid(NS_PER_DAY) as i64;
            let ns = total_ns.rem_euclid(NS_PER_DAY) as u64;
            Value::String(iso(days, ns, t.scale(), Some(offset)))
        }),
    }
}

const NS_PER_DAY: i128 = 86_400_000_000_000;
/// Days from 0001-01-01 to 1900-01-01 (the `date`/`datetime2` epoch vs the `datetime` epoch).
const DAYS_1900: i64 = 693_595;

fn nanos(increments: u64, scale: u8) -> u64 {
    increments.saturating_mul(10u64.pow(9u32.saturating_sub(u32::from(scale))))
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(2 + bytes.len() * 2);
    s.push_str("0x");
    for b in bytes {
        s.push_str(&format!("{b:02X}"));
    }
    s
}

fn numeric(value: i128, scale: u8) -> Value {
    if scale == 0 {
        return i64::try_from(value).map_or_else(|_| Value::String(value.to_string()), Value::from);
    }
    let text = format!("{}", value as f64 / 10f64.powi(i32::from(scale)));
    serde_json::from_str(&text).unwrap_or(Value::String(text))
}

/// `YYYY-MM-DD` from days since 0001-01-01 (proleptic Gregorian).
fn date(days: i64) -> String {
    // Civil-from-days (H. Hinnant), shifted to the 0001-01-01 epoch.
    let z = days - 719_162 + 719_468; // to days since 1970-01-01, then to 0000-03-01
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

fn time_of_day(ns: u64, scale: u8) -> String {
    let secs = ns / 1_000_000_000;
    let mut s = format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60);
    if scale > 0 {
        let frac = format!("{:09}", ns % 1_000_000_000);
        s.push('.');
        s.push_str(&frac[..usize::from(scale.min(9))]);
    }
    s
}

fn iso(days: i64, ns: u64, scale: u8, offset_minutes: Option<i64>) -> String {
    let mut s = format!("{}T{}", date(days), time_of_day(ns, scale));
    if let Some(off) = offset_minutes {
        let sign = if off < 0 { '-' } else { '+' };
        s.push_str(&format!("{sign}{:02}:{:02}", off.abs() / 60, off.abs() % 60));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use tiberius::time::{Date, DateTime, DateTime2, DateTimeOffset, Time};

    #[test]
    fn values_follow_the_contract_types() {
        assert_eq!(to_json(&ColumnData::Bit(Some(true))), Value::Bool(true));
        assert_eq!(to_json(&ColumnData::I32(Some(5022))), Value::from(5022));
        assert_eq!(to_json(&ColumnData::U8(Some(3))), Value::from(3));
        assert_eq!(to_json(&ColumnData::I64(None)), Value::Null);
        assert_eq!(to_json(&ColumnData::String(Some("CO  ".into()))), Value::from("CO  "));
        assert_eq!(to_json(&ColumnData::Binary(Some(vec![0x01, 0xAB].into()))), Value::from("0x01AB"));
        let g = tiberius::Uuid::parse_str("1b0d5b9e-3c2a-4f7e-9d61-0a8e2c4b7f01").unwrap();
        assert_eq!(to_json(&ColumnData::Guid(Some(g))), Value::from("1B0D5B9E-3C2A-4F7E-9D61-0A8E2C4B7F01"));
    }

    #[test]
    fn dates_are_iso_8601() {
        assert_eq!(date(0), "0001-01-01");
        assert_eq!(date(DAYS_1900), "1900-01-01");
        assert_eq!(date(738_763), "2023-09-01");
        // datetime: days since 1900 and 1/300 s ticks.
        let days = 45_452; // 2024-06-11
        let dt = DateTime::new(days, (9 * 3600 + 31 * 60 + 44) * 300 + 36);
        assert_eq!(to_json(&ColumnData::DateTime(Some(dt))), Value::from("2024-06-11T09:31:44.120"));
        let d2 = DateTime2::new(Date::new(738_763), Time::new(3_600 * 10_000_000 + 1, 7));
        assert_eq!(to_json(&ColumnData::DateTime2(Some(d2))), Value::from("2023-09-01T01:00:00.0000001"));
        let off = DateTimeOffset::new(DateTime2::new(Date::new(738_763), Time::new(23 * 3600, 0)), 120);
        assert_eq!(to_json(&ColumnData::DateTimeOffset(Some(off))), Value::from("2023-09-02T01:00:00+02:00"));
    }
}
