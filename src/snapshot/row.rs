//! One catalog-view row, read the way the snapshot contract says: an absent column is NULL,
//! bits are `true`/`false` or `0`/`1`, strings are kept exactly as SQL Server returned them.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Row(pub Map<String, Value>);

impl Row {
    /// The raw value of a column; `None` when the column is absent or NULL.
    pub fn get(&self, column: &str) -> Option<&Value> {
        self.0.get(column).filter(|v| !v.is_null())
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
            if let Some(v) = self.0.get(*column) {
                out.insert((*column).to_string(), v.clone());
            }
        }
        Value::Object(out)
    }

    /// Sets `column` to `value` (a new column goes last). For tests and collectors; checks only read.
    pub fn set(&mut self, column: &str, value: Value) {
        self.0.insert(column.to_string(), value);
    }

    /// Removes `column`, keeping the order of the others; returns its value.
    pub fn remove(&mut self, column: &str) -> Option<Value> {
        self.0.shift_remove(column)
    }

    /// Every column in the order SQL Server returned them, NULLs included.
    pub fn columns(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    pub fn to_value(&self) -> Value {
        Value::Object(self.0.clone())
    }
}

/// Builds a row from `(column, value)` pairs; handy in tests and in the collector.
impl<const N: usize> From<[(&str, Value); N]> for Row {
    fn from(pairs: [(&str, Value); N]) -> Self {
        Row(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    }
}
