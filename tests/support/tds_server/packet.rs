//! TDS packet framing: 8-byte headers, messages made of packets up to the end-of-message bit,
//! replies split at the negotiated packet size, and a per-packet delay for the "slow" fault.

use std::collections::VecDeque;
use std::io;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

pub const HEADER_LEN: usize = 8;
pub const STATUS_EOM: u8 = 0x01;

pub const TYPE_SQL_BATCH: u8 = 0x01;
pub const TYPE_RPC: u8 = 0x03;
pub const TYPE_TABULAR_RESULT: u8 = 0x04;
pub const TYPE_ATTENTION: u8 = 0x06;
pub const TYPE_TRANSACTION_MANAGER: u8 = 0x0E;
pub const TYPE_LOGIN7: u8 = 0x10;
pub const TYPE_PRELOGIN: u8 = 0x12;

/// A whole client message: the packet type and the concatenated payloads.
#[derive(Debug)]
pub struct Message {
    pub kind: u8,
    pub payload: Vec<u8>,
}

/// Reads messages from the client, tolerating packets split across reads (and several packets
/// in one read).
pub struct MessageReader {
    half: OwnedReadHalf,
    buffer: Vec<u8>,
    partial: Option<Message>,
    /// Complete messages seen while looking for an ATTENTION during a reply.
    pending: VecDeque<Message>,
}

impl MessageReader {
    pub fn new(half: OwnedReadHalf) -> Self {
        Self::with_buffered(half, Vec::new())
    }

    /// A reader that first returns the messages in `buffered` (bytes already taken off the
    /// connection, such as a LOGIN7 that arrived inside TLS).
    pub fn with_buffered(half: OwnedReadHalf, buffered: Vec<u8>) -> Self {
        MessageReader { half, buffer: buffered, partial: None, pending: VecDeque::new() }
    }

    /// The next message, or `None` when the client closed the connection.
    pub async fn next(&mut self) -> io::Result<Option<Message>> {
        loop {
            if let Some(message) = self.pending.pop_front() {
                return Ok(Some(message));
            }
            if let Some(message) = self.take_message()? {
                return Ok(Some(message));
            }
            let mut chunk = [0u8; 8192];
            let read = self.half.read(&mut chunk).await?;
            if read == 0 {
                return Ok(None);
            }
            self.buffer.extend_from_slice(&chunk[..read]);
        }
    }

    /// Without blocking: has the client sent an ATTENTION? Other messages are kept for `next`.
    /// A closed connection is an error (the reply cannot be delivered).
    pub fn attention_arrived(&mut self) -> io::Result<bool> {
        let mut chunk = [0u8; 8192];
        loop {
            match self.half.try_read(&mut chunk) {
                Ok(0) => return Err(io::Error::new(io::ErrorKind::ConnectionAborted, "client closed the connection")),
                Ok(read) => self.buffer.extend_from_slice(&chunk[..read]),
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                Err(error) => return Err(error),
            }
        }
        let mut attention = false;
        while let Some(message) = self.take_message()? {
            if message.kind == TYPE_ATTENTION {
                attention = true;
            } else {
                self.pending.push_back(message);
            }
        }
        Ok(attention)
    }

    /// Moves complete packets from the buffer into the message being assembled; returns it once
    /// a packet with the end-of-message bit arrives.
    fn take_message(&mut self) -> io::Result<Option<Message>> {
        while self.buffer.len() >= HEADER_LEN {
            let length = u16::from_be_bytes([self.buffer[2], self.buffer[3]]) as usize;
            if length < HEADER_LEN {
                return Err(io::Error::new(io::ErrorKind::InvalidData, format!("TDS packet length {length} is shorter than its header")));
            }
            if self.buffer.len() < length {
                return Ok(None);
            }
            let kind = self.buffer[0];
            let status = self.buffer[1];
            let message = self.partial.get_or_insert_with(|| Message { kind, payload: Vec::new() });
            message.payload.extend_from_slice(&self.buffer[HEADER_LEN..length]);
            self.buffer.drain(..length);
            if status & STATUS_EOM != 0 {
                return Ok(self.partial.take());
            }
        }
        Ok(None)
    }
}

/// Writes server messages as packets of at most `packet_size` bytes.
pub struct PacketWriter {
    half: OwnedWriteHalf,
    pub packet_size: usize,
    pub delay: Duration,
    packet_id: u8,
}

impl PacketWriter {
    pub fn new(half: OwnedWriteHalf, delay: Duration) -> Self {
        PacketWriter { half, packet_size: 4096, delay, packet_id: 1 }
    }

    /// The largest payload one packet carries.
    pub fn payload_size(&self) -> usize {
        self.packet_size - HEADER_LEN
    }

    /// Sends one packet (the payload must fit); `last` sets the end-of-message bit.
    pub async fn send_packet(&mut self, kind: u8, payload: &[u8], last: bool) -> io::Result<()> {
        debug_assert!(payload.len() <= self.payload_size());
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        let length = (payload.len() + HEADER_LEN) as u16;
        let mut packet = Vec::with_capacity(payload.len() + HEADER_LEN);
        packet.push(kind);
        packet.push(if last { STATUS_EOM } else { 0 });
        packet.extend_from_slice(&length.to_be_bytes());
        packet.extend_from_slice(&[0, 0]); // SPID
        packet.push(self.packet_id);
        packet.push(0); // window
        packet.extend_from_slice(payload);
        self.packet_id = self.packet_id.wrapping_add(1);
        self.half.write_all(&packet).await?;
        self.half.flush().await
    }

    /// Sends a whole message, split into as many packets as it needs.
    pub async fn send_message(&mut self, kind: u8, payload: &[u8]) -> io::Result<()> {
        let size = self.payload_size();
        if payload.is_empty() {
            return self.send_packet(kind, &[], true).await;
        }
        let chunks = payload.len().div_ceil(size);
        for (index, chunk) in payload.chunks(size).enumerate() {
            self.send_packet(kind, chunk, index + 1 == chunks).await?;
        }
        Ok(())
    }

    pub async fn close(&mut self) {
        let _ = self.half.shutdown().await;
    }
}
