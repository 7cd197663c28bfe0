//! LOGIN7: the client's login record. Fixed header of offsets/lengths (in characters) into
//! UTF-16LE strings; the password is obfuscated (each byte: nibbles swapped, then XOR 0xA5).

use std::io;

use super::LoginRecord;

pub struct Login {
    pub record: LoginRecord,
    pub password: String,
    /// The TDS version the client asked for (e.g. 0x74000004 for 7.4), as a number.
    pub tds_version: u32,
    /// Requested packet size; 0 means "server default".
    pub packet_size: u32,
}

fn u16_at(payload: &[u8], at: usize) -> io::Result<u16> {
    payload.get(at..at + 2).map(|b| u16::from_le_bytes([b[0], b[1]])).ok_or_else(truncated)
}

fn u32_at(payload: &[u8], at: usize) -> io::Result<u32> {
    payload.get(at..at + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])).ok_or_else(truncated)
}

fn truncated() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, "LOGIN7 record is truncated")
}

/// The raw bytes of the string whose offset/length pair is at `field`.
fn field_bytes(payload: &[u8], field: usize) -> io::Result<Vec<u8>> {
    let offset = u16_at(payload, field)? as usize;
    let chars = u16_at(payload, field + 2)? as usize;
    payload.get(offset..offset + chars * 2).map(<[u8]>::to_vec).ok_or_else(truncated)
}

fn utf16(bytes: &[u8]) -> String {
    let units: Vec<u16> = bytes.chunks_exact(2).map(|b| u16::from_le_bytes([b[0], b[1]])).collect();
    String::from_utf16_lossy(&units)
}

fn deobfuscate(bytes: &[u8]) -> Vec<u8> {
    bytes.iter().map(|b| (b ^ 0xA5).rotate_left(4)).collect()
}

pub fn parse(payload: &[u8]) -> io::Result<Login> {
    let text = |field| field_bytes(payload, field).map(|bytes| utf16(&bytes));
    Ok(Login {
        tds_version: u32_at(payload, 4)?,
        packet_size: u32_at(payload, 8)?,
        record: LoginRecord { user: text(40)?, app_name: text(48)?, server_name: text(52)?, database: text(68)? },
        password: utf16(&deobfuscate(&field_bytes(payload, 44)?)),
    })
}
