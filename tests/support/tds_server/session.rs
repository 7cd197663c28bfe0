//! One client connection: PRELOGIN, LOGIN7, then SQL batches until the client leaves, with the
//! configured fault applied.

use std::io;
use std::sync::{Arc, Mutex};

use tokio::net::TcpStream;

use super::packet::{self, MessageReader, PacketWriter};
use super::tokens::{DONE_ATTN, DONE_COUNT, DONE_ERROR, DONE_FINAL, DONE_MORE, Reply};
use super::{Fault, LoginRecord, ServerConfig, StatementResult, login7, prelogin, split_batch};

/// What the server remembers across connections, for assertions.
#[derive(Default)]
pub struct Shared {
    pub batches: Mutex<Vec<String>>,
    pub logins: Mutex<Vec<LoginRecord>>,
}

pub async fn run(stream: TcpStream, config: Arc<ServerConfig>, shared: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    let (stream, prelogin_done, buffered) = match &config.tls {
        Some(setup) if config.fault != Fault::AcceptAndStaySilent => match super::tls::front(stream, setup).await {
            Ok(super::tls::Front::Plain(stream) | super::tls::Front::Decrypted(stream)) => (stream, true, Vec::new()),
            Ok(super::tls::Front::LoginOnly(stream, login)) => (stream, true, login),
            Ok(super::tls::Front::Strict(stream)) => (stream, false, Vec::new()),
            Ok(super::tls::Front::Done) => return,
            Err(error) => {
                eprintln!("tds_server {}: TLS session ended: {error}", config.server_name);
                return;
            }
        },
        _ => (stream, false, Vec::new()),
    };
    let (read, write) = stream.into_split();
    let mut reader = MessageReader::with_buffered(read, buffered);
    let mut writer = PacketWriter::new(write, config.packet_delay);
    // Errors here are the client going away or sending garbage; either way the session ends.
    if let Err(error) = serve(&mut reader, &mut writer, &config, &shared, prelogin_done).await
        && !matches!(error.kind(), io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted | io::ErrorKind::BrokenPipe)
    {
        eprintln!("tds_server {}: session ended: {error}", config.server_name);
    }
}

fn protocol_error(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

async fn serve(
    reader: &mut MessageReader,
    writer: &mut PacketWriter,
    config: &ServerConfig,
    shared: &Shared,
    prelogin_done: bool,
) -> io::Result<()> {
    if config.fault == Fault::AcceptAndStaySilent {
        while reader.next().await?.is_some() {}
        return Ok(());
    }

    if !prelogin_done {
        let Some(message) = reader.next().await? else { return Ok(()) };
        if message.kind != packet::TYPE_PRELOGIN {
            return Err(protocol_error(format!("expected PRELOGIN, got packet type {:#04x}", message.kind)));
        }
        writer.send_message(packet::TYPE_TABULAR_RESULT, &prelogin::reply()).await?;
    }

    let Some(message) = reader.next().await? else { return Ok(()) };
    if message.kind != packet::TYPE_LOGIN7 {
        return Err(protocol_error(format!(
            "expected LOGIN7, got packet type {:#04x} (a client asking for TLS must use EncryptionLevel::NotSupported)",
            message.kind
        )));
    }
    let login = login7::parse(&message.payload)?;
    shared.logins.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(login.record.clone());

    if let Some((number, state, text)) = login_rejection(config, &login) {
        let mut reply = Reply::default();
        reply.error(number, state, 14, &text, &config.server_name);
        reply.done(DONE_ERROR, 0);
        writer.send_message(packet::TYPE_TABULAR_RESULT, &reply.bytes).await?;
        writer.close().await;
        return Ok(());
    }

    let packet_size = match login.packet_size {
        0 => 4096,
        requested => requested.clamp(512, 32767),
    };
    let database = if login.record.database.is_empty() { "master" } else { &login.record.database };
    let mut reply = Reply::default();
    reply.env_change_text(1, database, "master");
    reply.env_change_collation();
    reply.login_ack(ack_version(login.tds_version), "Microsoft SQL Server");
    reply.env_change_text(4, &packet_size.to_string(), "4096");
    reply.done(DONE_FINAL, 0);
    writer.send_message(packet::TYPE_TABULAR_RESULT, &reply.bytes).await?;
    writer.packet_size = packet_size as usize;

    while let Some(message) = reader.next().await? {
        match message.kind {
            packet::TYPE_SQL_BATCH => {
                let text = batch_text(&message.payload, login.tds_version);
                shared.batches.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(text.clone());
                let results: Vec<StatementResult> = split_batch(&text).into_iter().flat_map(|part| (config.handler)(part)).collect();
                let reply = encode(&results, &config.server_name);
                if let Fault::CloseMidResult { after_rows } = config.fault
                    && let Some(&cut) = reply.row_starts.get(after_rows)
                {
                    send_without_end(writer, &reply.bytes[..cut]).await?;
                    writer.close().await;
                    return Ok(());
                }
                if let Fault::StallMidResult { after_rows } = config.fault
                    && let Some(&cut) = reply.row_starts.get(after_rows)
                {
                    send_without_end(writer, &reply.bytes[..cut]).await?;
                    // Read (and ignore) whatever the client sends until it goes away.
                    while reader.next().await?.is_some() {}
                    return Ok(());
                }
                send_reply(reader, writer, &reply).await?;
            }
            packet::TYPE_ATTENTION => {
                // Nothing is running (the reply was complete): acknowledge anyway.
                let mut reply = Reply::default();
                reply.done(DONE_ATTN, 0);
                writer.send_message(packet::TYPE_TABULAR_RESULT, &reply.bytes).await?;
            }
            packet::TYPE_TRANSACTION_MANAGER => {
                let mut reply = Reply::default();
                reply.done(DONE_FINAL, 0);
                writer.send_message(packet::TYPE_TABULAR_RESULT, &reply.bytes).await?;
            }
            other => {
                let what = if other == packet::TYPE_RPC { "RPC requests" } else { "this request type" };
                let mut reply = Reply::default();
                reply.error(
                    50000,
                    1,
                    16,
                    &format!("The agdiag test server does not support {what} ({other:#04x}); send plain SQL batches (simple_query)."),
                    &config.server_name,
                );
                reply.done(DONE_ERROR, 0);
                writer.send_message(packet::TYPE_TABULAR_RESULT, &reply.bytes).await?;
            }
        }
    }
    Ok(())
}

/// The error a login gets, if it is rejected: the configured fault first, then credentials.
fn login_rejection(config: &ServerConfig, login: &login7::Login) -> Option<(i32, u8, String)> {
    if let Fault::LoginFailure { number, state, message } = &config.fault {
        return Some((*number, *state, message.clone()));
    }
    let (user, password) = config.credentials.as_ref()?;
    let failed = format!("Login failed for user '{}'.", login.record.user);
    if &login.record.user != user {
        Some((18456, 5, failed))
    } else if &login.password != password {
        Some((18456, 8, failed))
    } else {
        None
    }
}

/// The TDS version to acknowledge: the client's own, among the ones SQL Server speaks.
fn ack_version(requested: u32) -> u32 {
    match requested {
        v if v >= 0x7400_0000 => 0x7400_0004,
        v if v >= 0x730B_0000 => 0x730B_0003,
        v if v >= 0x730A_0000 => 0x730A_0003,
        _ => 0x7209_0002,
    }
}

/// The SQL text of a SQLBatch payload (TDS 7.2+ puts ALL_HEADERS first, led by its total length).
fn batch_text(payload: &[u8], tds_version: u32) -> String {
    let mut text = payload;
    if tds_version >= 0x7200_0000 && payload.len() >= 4 {
        let headers = u32::from_le_bytes([payload[0], payload[1], payload[2], payload[3]]) as usize;
        if headers <= payload.len() {
            text = &payload[headers..];
        }
    }
    let units: Vec<u16> = text.chunks_exact(2).map(|b| u16::from_le_bytes([b[0], b[1]])).collect();
    String::from_utf16_lossy(&units)
}

/// The reply to one batch: each statement's tokens, each closed by a DONE with MORE set on all
/// but the last.
fn encode(results: &[StatementResult], server_name: &str) -> Reply {
    let mut reply = Reply::default();
    if results.is_empty() {
        reply.done(DONE_FINAL, 0);
    }
    for (index, result) in results.iter().enumerate() {
        let more = if index + 1 == results.len() { DONE_FINAL } else { DONE_MORE };
        match result {
            StatementResult::ResultSet { columns, rows } => {
                reply.result_set(columns, rows);
                reply.done(DONE_COUNT | more, rows.len() as u64);
            }
            StatementResult::Error { number, state, class, message } => {
                reply.error(*number, *state, *class, message, server_name);
                reply.done(DONE_ERROR | more, 0);
            }
            StatementResult::Done => reply.done(more, 0),
        }
    }
    reply
}

/// Sends a reply packet by packet; if the client sends ATTENTION meanwhile, finishes the token in
/// flight, drops the rest and acknowledges with DONE (ATTN).
async fn send_reply(reader: &mut MessageReader, writer: &mut PacketWriter, reply: &Reply) -> io::Result<()> {
    let size = writer.payload_size();
    let mut sent = 0;
    while sent < reply.bytes.len() {
        if reader.attention_arrived()? {
            let mut tail = reply.bytes[sent..reply.boundary_after(sent)].to_vec();
            let mut ack = Reply::default();
            ack.done(DONE_ATTN, 0);
            tail.extend_from_slice(&ack.bytes);
            return writer.send_message(packet::TYPE_TABULAR_RESULT, &tail).await;
        }
        let end = (sent + size).min(reply.bytes.len());
        writer.send_packet(packet::TYPE_TABULAR_RESULT, &reply.bytes[sent..end], end == reply.bytes.len()).await?;
        sent = end;
    }
    Ok(())
}

/// Sends bytes as packets none of which ends the message (the client keeps waiting for more).
async fn send_without_end(writer: &mut PacketWriter, bytes: &[u8]) -> io::Result<()> {
    for chunk in bytes.chunks(writer.payload_size()) {
        writer.send_packet(packet::TYPE_TABULAR_RESULT, chunk, false).await?;
    }
    Ok(())
}
