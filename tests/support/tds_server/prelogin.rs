//! PRELOGIN: the first exchange. The server answers with its version and ENCRYPT_NOT_SUP, so
//! the rest of the conversation is plaintext; a server with a certificate ([`super::TlsSetup`])
//! answers ENCRYPT_ON or ENCRYPT_REQ instead (see `tls.rs`).

const VERSION: u8 = 0x00;
const ENCRYPTION: u8 = 0x01;
const INSTOPT: u8 = 0x02;
const THREADID: u8 = 0x03;
const MARS: u8 = 0x04;
const TERMINATOR: u8 = 0xFF;

pub const ENCRYPT_OFF: u8 = 0x00;
pub const ENCRYPT_ON: u8 = 0x01;
pub const ENCRYPT_NOT_SUP: u8 = 0x02;
pub const ENCRYPT_REQ: u8 = 0x03;

/// The ENCRYPTION option the client sent, if it sent one.
pub fn client_encryption(payload: &[u8]) -> Option<u8> {
    let mut at = 0;
    while at + 5 <= payload.len() && payload[at] != TERMINATOR {
        let option = payload[at];
        let offset = u16::from_be_bytes([payload[at + 1], payload[at + 2]]) as usize;
        if option == ENCRYPTION {
            return payload.get(offset).copied();
        }
        at += 5;
    }
    None
}

/// The server's PRELOGIN reply: version 16.0.4215 (SQL Server 2022), no encryption, no MARS.
pub fn reply() -> Vec<u8> {
    reply_with(ENCRYPT_NOT_SUP)
}

/// The PRELOGIN reply with this ENCRYPTION value.
pub fn reply_with(encryption: u8) -> Vec<u8> {
    let options: [(u8, Vec<u8>); 5] = [
        (VERSION, vec![16, 0, 0x10, 0x77, 0, 0]),
        (ENCRYPTION, vec![encryption]),
        (INSTOPT, vec![0]),
        (THREADID, vec![0, 0, 0, 0]),
        (MARS, vec![0]),
    ];
    let mut table = Vec::new();
    let mut data = Vec::new();
    let mut offset = options.len() * 5 + 1;
    for (option, value) in &options {
        table.push(*option);
        table.extend_from_slice(&(offset as u16).to_be_bytes());
        table.extend_from_slice(&(value.len() as u16).to_be_bytes());
        data.extend_from_slice(value);
        offset += value.len();
    }
    table.push(TERMINATOR);
    table.extend_from_slice(&data);
    table
}
