//! Runs the query batch and maps its result sets to snapshot keys.
//!
//! tiberius' `QueryStream` skips ERROR tokens and reports only the first server error, after the
//! last row; a statement that fails produces no result set. So the batch is self-describing (see
//! the marker protocol in [`super::queries`]): a marker result set names the key of the data set
//! that follows, and a marker followed directly by another marker (or by the end of the reply)
//! means that key's statement failed. The batch's one error belongs to the first failed key (or to
//! the statement its line names); every other failed key is asked again alone, to get its own
//! error. When the connection drops or stalls mid-batch, every complete data set is still filed
//! under its own key and every key not read gets an error saying so: no row is ever filed under
//! the wrong key.

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::TryStreamExt;
use serde_json::{Map, Value};
use tiberius::{ColumnData, QueryItem};

use super::connect::{server_error, transport, TdsClient};
use super::queries::{is_ag_relevant, statement_with, Batch, History, MARKER_COLUMN};
use crate::snapshot::{keys, Row, ServerError};

/// What one instance's queries produced.
#[derive(Debug, Default)]
pub struct Collected {
    pub results: BTreeMap<String, Vec<Row>>,
    pub query_errors: BTreeMap<String, ServerError>,
    /// The connection was lost or stalled: nothing more should be asked on it.
    pub broken: Option<ServerError>,
}

/// What the reply said about one key whose marker arrived.
enum Answer {
    /// Exactly one complete result set.
    Rows(Vec<Row>),
    /// No result set between its marker and the next one (or the end): the statement failed.
    Failed,
    /// More than one result set (none of the collector's statements returns that).
    Sets(usize),
}

/// One batch as it came back.
struct BatchOutcome {
    /// Every key whose answer is complete, in batch order.
    answers: Vec<(&'static str, Answer)>,
    /// After a transport failure: the key being read when it happened (its answer is unknown).
    interrupted: Option<&'static str>,
    /// The first server error (the only one tiberius reports), with its line and procedure.
    server_error: Option<(ServerError, u32, String)>,
    /// A transport failure (or a reply the collector cannot follow) that ended the batch early.
    broken: Option<ServerError>,
}

/// Sees each key's rows as they arrive, one call per row, before the batch ends (discovery acts
/// on them at once). A set later cut short or discarded has been seen too: observers must only
/// add what the rows say, never conclude from a set being complete.
pub type Observer<'a> = &'a mut (dyn FnMut(&'static str, &[Row]) + Send);

/// The result set being read.
enum Reading {
    Marker,
    Data(Vec<String>, Vec<Row>),
}

/// Follows the reply token by token and groups result sets under their markers.
struct Follower<'o> {
    keys: Vec<&'static str>,
    /// Index in `keys` of the first key whose marker has not arrived yet.
    next: usize,
    reading: Option<Reading>,
    /// The key whose marker arrived last, with its complete data sets so far.
    current: Option<(&'static str, Vec<Vec<Row>>)>,
    outcome: BatchOutcome,
    observe: Observer<'o>,
}

impl Follower<'_> {
    fn metadata(&mut self, names: Vec<String>) -> Result<(), String> {
        self.close_set()?;
        if is_marker(&names) {
            self.finish_key();
            self.reading = Some(Reading::Marker);
        } else {
            self.reading = Some(Reading::Data(names, Vec::new()));
        }
        Ok(())
    }

    fn row(&mut self, row: tiberius::Row) -> Result<(), String> {
        match &mut self.reading {
            Some(Reading::Marker) => {
                if self.current.is_some() {
                    return Err("a marker result set with more than one row".into());
                }
                let named = match row.try_get::<&str, _>(0) {
                    Ok(Some(name)) => name.to_string(),
                    _ => return Err("a marker result set without a key name".into()),
                };
                // Markers arrive in batch order; one naming anything else means the reply is not
                // the one this batch asked for.
                let Some(offset) = self.keys[self.next..].iter().position(|k| *k == named) else {
                    return Err(format!("a marker naming {named:?}, which this batch did not ask for at this point"));
                };
                self.current = Some((self.keys[self.next + offset], Vec::new()));
                self.next += offset + 1;
            }
            Some(Reading::Data(names, rows)) => {
                let row = convert_row(names, row);
                if let Some((key, _)) = &self.current {
                    (self.observe)(key, std::slice::from_ref(&row));
                }
                rows.push(row);
            }
            None => return Err("a row before any column metadata".into()),
        }
        Ok(())
    }

    /// The set being read is complete (a new one starts, or the reply ended).
    fn close_set(&mut self) -> Result<(), String> {
        match self.reading.take() {
            Some(Reading::Marker) if self.current.is_none() => Err("a marker result set without its row".into()),
            Some(Reading::Data(_, rows)) => match &mut self.current {
                Some((_, sets)) => {
                    sets.push(rows);
                    Ok(())
                }
                None => Err("a result set before the first marker".into()),
            },
            _ => Ok(()),
        }
    }

    /// The current key's answer is complete (the next marker started, or the reply ended).
    fn finish_key(&mut self) {
        let Some((key, mut sets)) = self.current.take() else { return };
        let answer = match sets.len() {
            0 => Answer::Failed,
            1 => Answer::Rows(sets.pop().unwrap_or_default()),
            n => Answer::Sets(n),
        };
        self.outcome.answers.push((key, answer));
    }

    /// The reply ended normally.
    fn end(&mut self) -> Result<(), String> {
        self.close_set()?;
        self.finish_key();
        Ok(())
    }

    /// The reply was cut short: the set being read may be incomplete and is not kept, because a
    /// partial set would read as complete evidence (a replica or database that seems missing).
    fn cut(&mut self, lost: ServerError) {
        self.outcome.interrupted = self.current.take().map(|(key, _)| key);
        self.outcome.broken = Some(lost);
    }

    fn rows_being_read(&self) -> Option<usize> {
        match &self.reading {
            Some(Reading::Data(_, rows)) => Some(rows.len()),
            _ => None,
        }
    }
}

fn is_marker(names: &[String]) -> bool {
    matches!(names, [only] if only.eq_ignore_ascii_case(MARKER_COLUMN))
}

async fn run_batch(client: &mut TdsClient, batch: &Batch, command: Duration, observe: Observer<'_>) -> BatchOutcome {
    let mut follower = Follower {
        keys: batch.keys(),
        next: 0,
        reading: None,
        current: None,
        outcome: BatchOutcome { answers: Vec::new(), interrupted: None, server_error: None, broken: None },
        observe,
    };
    // tiberius bounds each round trip with the command timeout; this outer bound is a backstop so
    // that no await on the network is ever unbounded, whatever the driver does.
    let limit = command + BACKSTOP;
    let mut stream = match tokio::time::timeout(limit, client.simple_query(batch.text.as_str())).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => {
            record_error(&mut follower, e, command);
            return follower.outcome;
        }
        Err(_) => {
            follower.cut(no_response(command, None));
            return follower.outcome;
        }
    };
    loop {
        let step = match tokio::time::timeout(limit, stream.try_next()).await {
            Ok(Ok(Some(QueryItem::Metadata(meta)))) => follower.metadata(meta.columns().iter().map(|c| c.name().to_string()).collect()),
            Ok(Ok(Some(QueryItem::Row(row)))) => follower.row(row),
            Ok(Ok(None)) => {
                if let Err(why) = follower.end() {
                    follower.cut(transport(format!("the server's reply could not be followed: {why}")));
                }
                break;
            }
            Ok(Err(e)) => {
                record_error(&mut follower, e, command);
                break;
            }
            Err(_) => {
                let lost = no_response(command, follower.rows_being_read());
                follower.cut(lost);
                break;
            }
        };
        if let Err(why) = step {
            follower.cut(transport(format!("the server's reply could not be followed: {why}")));
            break;
        }
    }
    follower.outcome
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

/// tiberius ends the stream with an error: the batch's first server error (after the whole reply,
/// so the answers are complete), or a transport failure.
fn record_error(follower: &mut Follower<'_>, e: tiberius::error::Error, command: Duration) {
    let rows_read = follower.rows_being_read();
    match &e {
        tiberius::error::Error::Server(token) => {
            if let Err(why) = follower.end() {
                follower.cut(transport(format!("the server's reply could not be followed: {why}")));
            }
            follower.outcome.server_error = Some((server_error(&e), token.line(), token.procedure().to_string()));
        }
        tiberius::error::Error::Io { kind: std::io::ErrorKind::TimedOut, .. } => follower.cut(no_response(command, rows_read)),
        _ => follower.cut(transport(format!("connection lost while reading results: {e}{}", partial(rows_read)))),
    }
}

/// Runs the batch for every key and files rows and errors per key. `command` bounds each round
/// trip; `history` bounds the event history read; `observe` sees every key's rows as they arrive.
pub async fn collect(
    client: &mut TdsClient,
    wanted: &[&'static str],
    command: Duration,
    history: &History,
    observe: Observer<'_>,
) -> Collected {
    let mut collected = Collected::default();
    // Keys for the next batch, and keys to ask one per batch (to get each failure's own error).
    let mut pending: Vec<&'static str> = wanted.iter().copied().filter(|k| statement_with(k, history).is_some()).collect();
    let mut alone: Vec<&'static str> = Vec::new();
    loop {
        let asked: Vec<&'static str> = if !alone.is_empty() {
            vec![alone.remove(0)]
        } else if !pending.is_empty() {
            std::mem::take(&mut pending)
        } else {
            break;
        };
        let batch = Batch::with_history(&asked, history);
        let outcome = run_batch(client, &batch, command, &mut *observe).await;
        let reached: Vec<&'static str> = outcome.answers.iter().map(|(k, _)| *k).chain(outcome.interrupted).collect();

        if let Some(lost) = outcome.broken {
            for (key, answer) in outcome.answers {
                match answer {
                    Answer::Rows(rows) => file(&mut collected, key, rows),
                    Answer::Failed => fail(&mut collected, key, transport(format!(
                        "the query failed, and its error was lost because the batch ended early: {}",
                        lost.message
                    ))),
                    Answer::Sets(n) => fail(&mut collected, key, too_many_sets(n)),
                }
            }
            if let Some(key) = outcome.interrupted {
                fail(&mut collected, key, lost.clone());
            }
            let unread = asked.iter().filter(|k| !reached.contains(k)).chain(&alone).chain(&pending);
            for key in unread {
                fail(&mut collected, key, transport(format!("connection lost before this view was read: {}", lost.message)));
            }
            collected.broken = Some(lost);
            return collected;
        }

        // The reply is complete. Its one server error belongs to the statement its line names,
        // else to the first key that got no result set (statements run in order, so the first
        // failure raised the first error). If the owner also returned rows, the error came in the
        // middle of them: they may be cut short and are not kept.
        let single = asked.len() == 1;
        let mut owner = None;
        if let Some((err, line, procedure)) = outcome.server_error {
            let named = batch.statement_at(line, &procedure).map(|i| batch.keys()[i]).filter(|k| reached.contains(k));
            let first_failed = outcome.answers.iter().find(|(_, a)| matches!(a, Answer::Failed)).map(|(k, _)| *k);
            owner = named.or(first_failed).or(single.then_some(asked[0]));
            match owner {
                Some(key) => fail(&mut collected, key, err),
                None => {
                    // No key can own it: ask each key of this batch alone, where it can.
                    alone.extend(&asked);
                    continue;
                }
            }
        }
        for (key, answer) in outcome.answers {
            if owner == Some(key) {
                continue;
            }
            match answer {
                Answer::Rows(rows) => file(&mut collected, key, rows),
                Answer::Failed if single => fail(&mut collected, key, transport("the query returned no result set and the server reported no error")),
                Answer::Failed => alone.push(key),
                Answer::Sets(n) => fail(&mut collected, key, too_many_sets(n)),
            }
        }
        // Keys whose marker never came: on SQL Server some errors (a missing object, for one)
        // abort the rest of the batch. Ask them again.
        let not_reached: Vec<&'static str> = asked.iter().copied().filter(|k| !reached.contains(k)).collect();
        if reached.is_empty() && single {
            fail(&mut collected, asked[0], transport("the server answered this query with no result"));
        } else if reached.is_empty() {
            alone.extend(not_reached);
        } else {
            pending.splice(0..0, not_reached);
        }
    }
    collected
}

/// The second round: `database_principals` of each database in `databases` (see
/// [`super::databases`]), in one batch; rows come back with their `database_name`. A database
/// whose read fails gets its own error in `query_errors` under
/// [`keys::database_principals_error_key`]; the others keep their rows. A failure whose error the
/// batch did not report (tiberius reports only the first) is asked again alone.
pub async fn collect_database_principals(client: &mut TdsClient, databases: &[String], command: Duration) -> Collected {
    let mut collected = Collected::default();
    let mut rows: Vec<Row> = Vec::new();
    let mut pending: Vec<(String, String)> = Vec::new();
    for db in databases {
        match statement_for(db) {
            Some(sql) => pending.push((db.clone(), sql)),
            None => fail(&mut collected, &keys::database_principals_error_key(db), transport(
                "the database name has characters the collector does not write into a statement; its users were not read",
            )),
        }
    }
    let mut alone: Vec<(String, String)> = Vec::new();
    let mut ignore = |_: &'static str, _: &[Row]| {};
    loop {
        let asked: Vec<(String, String)> = if !alone.is_empty() {
            vec![alone.remove(0)]
        } else if !pending.is_empty() {
            std::mem::take(&mut pending)
        } else {
            break;
        };
        let statements: Vec<String> = asked.iter().map(|(_, sql)| sql.clone()).collect();
        let batch = Batch::database_principals(&statements);
        let outcome = run_batch(client, &batch, command, &mut ignore).await;
        let error_key = |i: usize| keys::database_principals_error_key(&asked[i].0);
        let answered = outcome.answers.len();
        if let Some(lost) = outcome.broken {
            for (i, (_, answer)) in outcome.answers.into_iter().enumerate() {
                match answer {
                    Answer::Rows(set) => rows.extend(set),
                    _ => fail(&mut collected, &error_key(i), transport(format!("the query failed, and its error was lost: {}", lost.message))),
                }
            }
            for i in answered..asked.len() {
                fail(&mut collected, &error_key(i), transport(format!("connection lost before this database was read: {}", lost.message)));
            }
            for (db, _) in alone.iter().chain(&pending) {
                fail(&mut collected, &keys::database_principals_error_key(db), transport(format!("connection lost before this database was read: {}", lost.message)));
            }
            break;
        }
        let single = asked.len() == 1;
        let mut owner = None;
        if let Some((err, line, procedure)) = outcome.server_error {
            let first_failed = outcome.answers.iter().position(|(_, a)| matches!(a, Answer::Failed));
            owner = batch.statement_at(line, &procedure).filter(|i| *i < answered).or(first_failed).or(single.then_some(0));
            if let Some(i) = owner {
                fail(&mut collected, &error_key(i), err);
            }
        }
        for (i, (_, answer)) in outcome.answers.into_iter().enumerate() {
            if owner == Some(i) {
                continue;
            }
            match answer {
                Answer::Rows(set) => rows.extend(set),
                Answer::Failed if single => fail(&mut collected, &error_key(i), transport("the query returned no result set and the server reported no error")),
                Answer::Failed => alone.push(asked[i].clone()),
                Answer::Sets(n) => fail(&mut collected, &error_key(i), too_many_sets(n)),
            }
        }
        // Databases whose marker never came (an error that aborted the batch): ask each alone.
        if single && answered == 0 && owner.is_none() {
            fail(&mut collected, &error_key(0), transport("the server answered this query with no result"));
        } else if !single {
            alone.extend(asked.into_iter().skip(answered));
        }
    }
    collected.results.insert(keys::DATABASE_PRINCIPALS.to_string(), rows);
    collected
}

fn statement_for(database: &str) -> Option<String> {
    super::queries::database_principals_statement(database)
}

fn too_many_sets(n: usize) -> ServerError {
    transport(format!("the server returned {n} result sets for this one query"))
}

/// Records `error` for `key` unless it already has one (the first explanation wins).
fn fail(collected: &mut Collected, key: &str, error: ServerError) {
    collected.query_errors.entry(key.to_string()).or_insert(error);
}

fn file(collected: &mut Collected, key: &'static str, rows: Vec<Row>) {
    let rows = if key == keys::ERRORLOG {
        rows.into_iter().filter(|r| r.str("Text").is_some_and(is_ag_relevant)).collect()
    } else {
        rows
    };
    collected.results.insert(key.to_string(), rows);
}

fn convert_row(names: &[String], row: tiberius::Row) -> Row {
    let mut map = Map::new();
    for (i, value) in row.into_iter().enumerate() {
        let name = names.get(i).cloned().unwrap_or_else(|| format!("column{}", i + 1));
        map.insert(name, to_json(&value));
    }
    Row::from(map)
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

/// `decimal`/`numeric` as a JSON number with every digit (and the scale's trailing zeros) kept:
/// LSNs are numeric(25,0) and exceed 2^63, so no detour through i64 or f64.
fn numeric(value: i128, scale: u8) -> Value {
    let digits = value.unsigned_abs().to_string();
    let scale = usize::from(scale);
    let mut text = String::with_capacity(digits.len() + scale + 3);
    if value < 0 {
        text.push('-');
    }
    if scale == 0 {
        text.push_str(&digits);
    } else {
        let padded = format!("{digits:0>width$}", width = scale + 1);
        let (int, frac) = padded.split_at(padded.len() - scale);
        text.push_str(int);
        text.push('.');
        text.push_str(frac);
    }
    text.parse::<serde_json::Number>().map_or(Value::String(text), Value::Number)
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
        // numeric(25,0) LSNs beyond 2^63 (and beyond u64) stay exact numbers, like small ones.
        let lsn = |v: i128, scale: u8| to_json(&ColumnData::Numeric(Some(tiberius::numeric::Numeric::new_with_scale(v, scale))));
        assert_eq!(lsn(41_000_000_152_000_001, 0).to_string(), "41000000152000001");
        assert_eq!(lsn(9_223_372_036_854_775_808, 0).to_string(), "9223372036854775808");
        assert_eq!(lsn(99_000_000_152_000_000_001, 0).to_string(), "99000000152000000001");
        assert!(lsn(99_000_000_152_000_000_001, 0).is_number());
        assert_eq!(lsn(150, 2).to_string(), "1.50");
        assert_eq!(lsn(-5, 3).to_string(), "-0.005");
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
