//! Logging in through each listener the way a client does: resolve the listener name (through the
//! injectable [`Resolver`]), connect to its addresses in order, log in with the request's
//! authentication naming the listener (so that integrated authentication asks the KDC for
//! `MSSQLSvc/<listener>:<port>`, and TLS validates the listener name), then read the session's own
//! `sys.dm_exec_connections` row. Its `auth_scheme` tells whether that login used Kerberos.
//! Recorded as a probe with `via: "login"` and the row in `dm_exec_connections`.

use std::net::{IpAddr, SocketAddr};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;

use futures_util::FutureExt;
use futures_util::future::join_all;
use tokio::net::TcpStream;

use super::connect::{self, TdsClient};
use super::probes::{Resolver, Target, base_probe};
use super::queries::SESSION_CONNECTION;
use super::request::{InstanceAddress, Request};
use super::stream::to_json;
use crate::snapshot::{Probe, Row};

/// One login probe per listener target, in parallel.
pub async fn run(targets: &[Target], resolver: Arc<dyn Resolver>, request: &Request) -> Vec<Probe> {
    let listeners = targets.iter().filter(|t| t.purpose == "listener");
    join_all(listeners.map(|t| guarded(t, resolver.clone(), request))).await
}

async fn guarded(target: &Target, resolver: Arc<dyn Resolver>, request: &Request) -> Probe {
    let started = Instant::now();
    let mut probe = base_probe(target);
    probe.via = "login".into();
    let outcome = AssertUnwindSafe(login(target, resolver, request, &mut probe)).catch_unwind().await;
    match outcome {
        Ok(Ok(row)) => {
            probe.ok = true;
            probe.dm_exec_connections = Some(row);
        }
        Ok(Err(why)) => probe.error = Some(why),
        Err(payload) => {
            probe.error = Some(format!("internal error in agdiag while logging in (please report it): {}", super::panic_text(payload.as_ref())))
        }
    }
    probe.elapsed_ms = Some(started.elapsed().as_millis() as u64);
    probe
}

async fn login(target: &Target, resolver: Arc<dyn Resolver>, request: &Request, probe: &mut Probe) -> Result<Row, String> {
    let timeout = request.timeouts.connect();
    let resolved = match tokio::time::timeout(timeout, resolver.resolve(&target.host)).await {
        Ok(Ok(ips)) if !ips.is_empty() => ips,
        Ok(Ok(_)) => return Err("name resolution failed: no addresses".into()),
        Ok(Err(e)) => return Err(format!("name resolution failed: {e}")),
        Err(_) => return Err(format!("name resolution failed: timed out after {} ms", timeout.as_millis())),
    };
    let (tcp, ip) = first_answering(&resolved, target.port, request).await?;
    probe.address = Some(ip.to_string());
    let address = InstanceAddress { host: target.host.clone(), port: Some(target.port), instance: None };
    let who = format!("listener {}", target.subject);
    let mut client = connect::connect_over(tcp, &address, request, &who).await.map_err(|e| match e.number {
        Some(n) => format!("login failed: error {n}: {}", e.message),
        None => format!("login failed: {}", e.message),
    })?;
    match tokio::time::timeout(request.timeouts.command(), session_row(&mut client)).await {
        Ok(result) => result,
        Err(_) => Err(format!("reading sys.dm_exec_connections timed out after {} ms", request.timeouts.command_ms)),
    }
}

/// The resolved addresses in order until one accepts the TCP connection, as a client without
/// MultiSubnetFailover does.
async fn first_answering(resolved: &[IpAddr], port: u16, request: &Request) -> Result<(TcpStream, IpAddr), String> {
    let mut errors = Vec::new();
    for ip in resolved {
        match tokio::time::timeout(request.timeouts.connect(), TcpStream::connect(SocketAddr::new(*ip, port))).await {
            Ok(Ok(tcp)) => return Ok((tcp, *ip)),
            Ok(Err(e)) => errors.push(format!("{ip}: {e}")),
            Err(_) => errors.push(format!("{ip}: connection timed out after {} ms", request.timeouts.connect_ms)),
        }
    }
    Err(format!("no address accepted the connection ({})", errors.join("; ")))
}

async fn session_row(client: &mut TdsClient) -> Result<Row, String> {
    let failed = |e: tiberius::error::Error| {
        let e = connect::server_error(&e);
        match e.number {
            Some(n) => format!("reading sys.dm_exec_connections failed: error {n}: {}", e.message),
            None => format!("reading sys.dm_exec_connections failed: {}", e.message),
        }
    };
    let rows = client.simple_query(SESSION_CONNECTION).await.map_err(failed)?.into_first_result().await.map_err(failed)?;
    let row = rows.into_iter().next().ok_or("sys.dm_exec_connections returned no row for the session")?;
    let names: Vec<String> = row.columns().iter().map(|c| c.name().to_string()).collect();
    Ok(names.into_iter().zip(row.into_iter().map(|value| to_json(&value))).collect())
}
