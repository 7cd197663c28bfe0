//! Tokens of a tabular-result message (COLMETADATA, ROW, DONE, ERROR, LOGINACK, ENVCHANGE) and
//! `Reply`, a message that remembers where each token ends so it can be cut at a token boundary
//! (for ATTENTION and for the close-mid-result fault). TDS 7.2+ layouts only.

use serde_json::Value;

use super::SqlType;
use super::values;

pub const DONE_FINAL: u16 = 0x0000;
pub const DONE_MORE: u16 = 0x0001;
pub const DONE_ERROR: u16 = 0x0002;
pub const DONE_COUNT: u16 = 0x0010;
pub const DONE_ATTN: u16 = 0x0020;
const CURCMD_SELECT: u16 = 0xC1;

/// The bytes of one reply message and the offset where each token ends.
#[derive(Default)]
pub struct Reply {
    pub bytes: Vec<u8>,
    pub token_ends: Vec<usize>,
    /// Offset where each ROW token starts, in order (for CloseMidResult).
    pub row_starts: Vec<usize>,
}

impl Reply {
    fn end_token(&mut self) {
        self.token_ends.push(self.bytes.len());
    }

    /// The first token boundary at or after `offset`.
    pub fn boundary_after(&self, offset: usize) -> usize {
        self.token_ends.iter().copied().find(|&end| end >= offset).unwrap_or(self.bytes.len())
    }

    pub fn result_set(&mut self, columns: &[(String, SqlType)], rows: &[Vec<Value>]) {
        let plp: Vec<bool> = columns
            .iter()
            .enumerate()
            .map(|(index, (_, ty))| values::needs_plp(*ty, rows.iter().filter_map(|row| row.get(index))))
            .collect();
        self.bytes.push(0x81);
        self.bytes.extend_from_slice(&(columns.len() as u16).to_le_bytes());
        for ((name, ty), plp) in columns.iter().zip(&plp) {
            self.bytes.extend_from_slice(&0u32.to_le_bytes()); // UserType
            self.bytes.extend_from_slice(&0x0001u16.to_le_bytes()); // flags: nullable
            values::write_type_info(&mut self.bytes, *ty, *plp);
            b_varchar(&mut self.bytes, name);
        }
        self.end_token();
        for row in rows {
            self.row_starts.push(self.bytes.len());
            self.bytes.push(0xD1);
            for (index, (_, ty)) in columns.iter().enumerate() {
                values::write_value(&mut self.bytes, *ty, plp[index], row.get(index).unwrap_or(&Value::Null));
            }
            self.end_token();
        }
    }

    pub fn done(&mut self, status: u16, rows: u64) {
        self.bytes.push(0xFD);
        self.bytes.extend_from_slice(&status.to_le_bytes());
        self.bytes.extend_from_slice(&CURCMD_SELECT.to_le_bytes());
        self.bytes.extend_from_slice(&rows.to_le_bytes());
        self.end_token();
    }

    /// An ERROR token (0xAA); INFO (0xAB) has the same layout.
    pub fn error(&mut self, number: i32, state: u8, class: u8, message: &str, server: &str) {
        let mut body = Vec::new();
        body.extend_from_slice(&number.to_le_bytes());
        body.push(state);
        body.push(class);
        us_varchar(&mut body, message);
        b_varchar(&mut body, server);
        b_varchar(&mut body, ""); // procedure
        body.extend_from_slice(&1i32.to_le_bytes()); // line
        self.bytes.push(0xAA);
        self.bytes.extend_from_slice(&(body.len() as u16).to_le_bytes());
        self.bytes.extend_from_slice(&body);
        self.end_token();
    }

    /// ENVCHANGE with B_VARCHAR new/old values (database = 1, packet size = 4).
    pub fn env_change_text(&mut self, kind: u8, new: &str, old: &str) {
        let mut body = vec![kind];
        b_varchar(&mut body, new);
        b_varchar(&mut body, old);
        self.env_change(&body);
    }

    /// ENVCHANGE 7: the SQL collation (5 bytes new, none old).
    pub fn env_change_collation(&mut self) {
        let mut body = vec![7, values::COLLATION.len() as u8];
        body.extend_from_slice(&values::COLLATION);
        body.push(0);
        self.env_change(&body);
    }

    fn env_change(&mut self, body: &[u8]) {
        self.bytes.push(0xE3);
        self.bytes.extend_from_slice(&(body.len() as u16).to_le_bytes());
        self.bytes.extend_from_slice(body);
        self.end_token();
    }

    /// LOGINACK: interface 1 (T-SQL), TDS version big-endian, program name, program version.
    pub fn login_ack(&mut self, tds_version: u32, program: &str) {
        let mut body = vec![1];
        body.extend_from_slice(&tds_version.to_be_bytes());
        b_varchar(&mut body, program);
        body.extend_from_slice(&[16, 0, 0x10, 0x77]);
        self.bytes.push(0xAD);
        self.bytes.extend_from_slice(&(body.len() as u16).to_le_bytes());
        self.bytes.extend_from_slice(&body);
        self.end_token();
    }
}

fn utf16_le(text: &str) -> (usize, Vec<u8>) {
    let units: Vec<u16> = text.encode_utf16().collect();
    (units.len(), units.iter().flat_map(|unit| unit.to_le_bytes()).collect())
}

/// A string with a one-byte character count (truncated to 127 characters, so it always fits).
fn b_varchar(out: &mut Vec<u8>, text: &str) {
    let truncated: String = text.chars().take(127).collect();
    let (count, bytes) = utf16_le(&truncated);
    out.push(count as u8);
    out.extend_from_slice(&bytes);
}

/// A string with a two-byte character count.
fn us_varchar(out: &mut Vec<u8>, text: &str) {
    let (count, bytes) = utf16_le(text);
    out.extend_from_slice(&(count as u16).to_le_bytes());
    out.extend_from_slice(&bytes);
}
