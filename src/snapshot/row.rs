//! One catalog-view row, read the way the snapshot contract says: an absent column is NULL,
//! bits are `true`/`false` or `0`/`1`, strings are kept exactly as SQL Server returned them.
//!
//! Representation: the column names live in one shared list per shape (the rows of a result set
//! almost always have the same columns in the same order, so a snapshot's 100,000 rows of
//! `dm_hadr_database_replica_states` share one list), the values in a `Vec` in column order. A
//! column is found by a short linear scan of the names (views have tens of columns), which costs
//! less than hashing the name.

use std::fmt;
use std::sync::Arc;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// The column names of a row, in the order SQL Server returned them; shared by rows of one shape.
type Columns = Arc<[Box<str>]>;

#[derive(Clone, Default)]
pub struct Row {
    columns: Option<Columns>,
    values: Vec<Value>,
}

impl Row {
    /// The raw value of a column; `None` when the column is absent or NULL.
    pub fn get(&self, column: &str) -> Option<&Value> {
        self.raw(column).filter(|v| !v.is_null())
    }

    fn names(&self) -> &[Box<str>] {
        self.columns.as_deref().unwrap_or(&[])
    }

    fn position(&self, column: &str) -> Option<usize> {
        self.names().iter().position(|n| **n == *column)
    }

    /// The value of a column as stored, NULL included.
    fn raw(&self, column: &str) -> Option<&Value> {
        self.position(column).map(|i| &self.values[i])
    }

    /// A `decimal`/`numeric` column with every digit, as text (`"99000000152000000001"` for an LSN
    /// beyond 2^63): from a JSON number or an exact decimal string. `None` for anything else.
    pub fn decimal(&self, column: &str) -> Option<String> {
        let text = match self.get(column)? {
            Value::Number(n) => n.to_string(),
            Value::String(s) => s.trim().to_string(),
            _ => return None,
        };
        let body = text.strip_prefix('-').unwrap_or(&text);
        let (int, frac) = body.split_once('.').unwrap_or((body, ""));
        let exact = !int.is_empty() && int.bytes().all(|b| b.is_ascii_digit()) && frac.bytes().all(|b| b.is_ascii_digit());
        exact.then_some(text)
    }

    /// A string column, unchanged (`"CO  "` stays padded). Numbers are not coerced.
    pub fn str(&self, column: &str) -> Option<&str> {
        self.get(column).and_then(Value::as_str)
    }

    /// A string column with the padding of `char(n)` removed and compared case-insensitively by
    /// the caller; use this for `*_desc` values and `char` codes.
    pub fn code(&self, column: &str) -> Option<&str> {
        self.str(column).map(str::trim)
    }

    /// True when a `*_desc` or code column equals `expected`, ignoring case and padding.
    pub fn is(&self, column: &str, expected: &str) -> bool {
        self.code(column).is_some_and(|v| v.eq_ignore_ascii_case(expected))
    }

    /// An integer column. Accepts JSON numbers and numeric strings (`FOR JSON` of `sql_variant`
    /// and hand-written snapshots sometimes quote them), and integral floats (`5022.0`) from
    /// writers that emit every number as a float. A fraction or a value beyond `i64` is no integer
    /// the server returned: `None`, rather than a truncated or saturated number.
    pub fn int(&self, column: &str) -> Option<i64> {
        // 2^63 is exact as an f64; every integral f64 in [-2^63, 2^63) converts without loss.
        const LIMIT: f64 = 9_223_372_036_854_775_808.0;
        match self.get(column)? {
            Value::Number(n) => n
                .as_i64()
                .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && (-LIMIT..LIMIT).contains(f)).map(|f| f as i64)),
            Value::String(s) => s.trim().parse().ok(),
            Value::Bool(b) => Some(i64::from(*b)),
            _ => None,
        }
    }

    /// A bit column: `true`/`false`, `0`/`1`, or `"0"`/`"1"`.
    pub fn bit(&self, column: &str) -> Option<bool> {
        match self.get(column)? {
            Value::Bool(b) => Some(*b),
            Value::Number(n) => n.as_i64().map(|i| i != 0),
            Value::String(s) => match s.trim() {
                "1" => Some(true),
                "0" => Some(false),
                s if s.eq_ignore_ascii_case("true") => Some(true),
                s if s.eq_ignore_ascii_case("false") => Some(false),
                _ => None,
            },
            _ => None,
        }
    }

    /// The row restricted to `columns` (absent ones omitted), for use as compact evidence.
    pub fn pick(&self, columns: &[&str]) -> Value {
        let mut out = Map::new();
        for column in columns {
            if let Some(v) = self.raw(column) {
                out.insert((*column).to_string(), v.clone());
            }
        }
        Value::Object(out)
    }

    /// Sets `column` to `value` (a new column goes last). For tests and collectors; checks only read.
    pub fn set(&mut self, column: &str, value: Value) {
        match self.position(column) {
            Some(i) => self.values[i] = value,
            None => {
                let mut names: Vec<Box<str>> = self.names().to_vec();
                names.push(column.into());
                self.columns = Some(names.into());
                self.values.push(value);
            }
        }
    }

    /// Removes `column`, keeping the order of the others; returns its value.
    pub fn remove(&mut self, column: &str) -> Option<Value> {
        let i = self.position(column)?;
        let mut names: Vec<Box<str>> = self.names().to_vec();
        names.remove(i);
        self.columns = Some(names.into());
        Some(self.values.remove(i))
    }

    /// Every column in the order SQL Server returned them, NULLs included.
    pub fn columns(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.names().iter().map(|k| &**k).zip(&self.values)
    }

    pub fn to_value(&self) -> Value {
        Value::Object(self.columns().map(|(k, v)| (k.to_string(), v.clone())).collect())
    }
}

/// Builds a row from `(column, value)` pairs; handy in tests and in the collector.
impl<const N: usize> From<[(&str, Value); N]> for Row {
    fn from(pairs: [(&str, Value); N]) -> Self {
        pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }
}

/// A JSON object as a row (the collector's and tests' way to build one).
impl From<Map<String, Value>> for Row {
    fn from(map: Map<String, Value>) -> Self {
        map.into_iter().collect()
    }
}

impl FromIterator<(String, Value)> for Row {
    fn from_iter<I: IntoIterator<Item = (String, Value)>>(pairs: I) -> Self {
        let mut row = Row::default();
        let mut names: Vec<Box<str>> = Vec::new();
        for (k, v) in pairs {
            match names.iter().position(|n| **n == *k) {
                Some(i) => row.values[i] = v,
                None => {
                    names.push(k.into());
                    row.values.push(v);
                }
            }
        }
        row.columns = Some(names.into());
        row
    }
}

/// Equal when the same columns hold the same values (order aside, like a JSON object).
impl PartialEq for Row {
    fn eq(&self, other: &Row) -> bool {
        self.values.len() == other.values.len() && self.columns().all(|(k, v)| other.raw(k) == Some(v))
    }
}

impl fmt::Debug for Row {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.columns()).finish()
    }
}

impl Serialize for Row {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.values.len()))?;
        for (k, v) in self.columns() {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Row {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Row, D::Error> {
        RowSeed { like: None }.deserialize(deserializer)
    }
}

/// Reads one row; when its columns are those of `like` (the previous row of the result set), in
/// the same order, it shares `like`'s names and allocates no key.
struct RowSeed<'a> {
    like: Option<&'a Columns>,
}

impl<'de> DeserializeSeed<'de> for RowSeed<'_> {
    type Value = Row;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Row, D::Error> {
        deserializer.deserialize_map(self)
    }
}

/// A key compared against the expected column name before anything is allocated.
struct Key<'a> {
    expected: Option<&'a str>,
}

enum KeyRead {
    Expected,
    Other(Box<str>),
}

impl<'de> DeserializeSeed<'de> for Key<'_> {
    type Value = KeyRead;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<KeyRead, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key<'_> {
    type Value = KeyRead;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a column name")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<KeyRead, E> {
        Ok(if self.expected == Some(v) { KeyRead::Expected } else { KeyRead::Other(v.into()) })
    }
}

impl<'de> Visitor<'de> for RowSeed<'_> {
    type Value = Row;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a row (an object of column: value)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Row, A::Error> {
        let like: &[Box<str>] = self.like.map(|c| &**c).unwrap_or(&[]);
        let mut values = Vec::with_capacity(like.len().max(map.size_hint().unwrap_or(0)));
        // `Some` once the row's columns differ from `like`'s.
        let mut own: Option<Vec<Box<str>>> = None;
        loop {
            let i = values.len();
            let expected = if own.is_none() { like.get(i).map(|n| &**n) } else { None };
            let Some(key) = map.next_key_seed(Key { expected })? else { break };
            let value: Value = map.next_value()?;
            match key {
                KeyRead::Expected => values.push(value),
                KeyRead::Other(name) => {
                    let names = own.get_or_insert_with(|| like[..i].to_vec());
                    // A repeated key: the last value wins, as in a JSON object read into a map.
                    match names.iter().position(|n| *n == name) {
                        Some(at) => values[at] = value,
                        None => {
                            names.push(name);
                            values.push(value);
                        }
                    }
                }
            }
        }
        let columns = match own {
            Some(names) => Some(names.into()),
            None if values.len() == like.len() => self.like.cloned(),
            None => Some(like[..values.len()].into()),
        };
        Ok(Row { columns, values })
    }
}

/// The rows of one result set, sharing column names between rows of the same shape.
pub(crate) fn de_rows<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Row>, D::Error> {
    deserializer.deserialize_seq(RowsVisitor)
}

struct RowsVisitor;

impl<'de> Visitor<'de> for RowsVisitor {
    type Value = Vec<Row>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of rows")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Row>, A::Error> {
        let mut rows: Vec<Row> = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        loop {
            let like = rows.last().and_then(|r| r.columns.as_ref());
            match seq.next_element_seed(RowSeed { like })? {
                Some(row) => rows.push(row),
                None => break,
            }
        }
        Ok(rows)
    }
}

/// `results`: key → rows, each result set read with [`de_rows`].
pub(crate) fn de_results<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<std::collections::BTreeMap<String, Vec<Row>>, D::Error> {
    struct Results;
    struct RowsSeed;
    impl<'de> DeserializeSeed<'de> for RowsSeed {
        type Value = Vec<Row>;
        fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Vec<Row>, D::Error> {
            de_rows(deserializer)
        }
    }
    impl<'de> Visitor<'de> for Results {
        type Value = std::collections::BTreeMap<String, Vec<Row>>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object of key: rows")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = std::collections::BTreeMap::new();
            while let Some(key) = map.next_key::<String>()? {
                let rows = map.next_value_seed(RowsSeed)?;
                out.insert(key, rows);
            }
            Ok(out)
        }
    }
    deserializer.deserialize_map(Results)
}
