//! Live collection: connect to every instance (and every replica they name) in parallel, run one
//! read-only batch per instance, probe the network, and return a snapshot (format
//! `agdiag.snapshot/1`) plus the same analysis the offline analyzer gives for it.
//!
//! One concept per file: [`request`] (what to collect), [`connect`] (one TDS connection),
//! [`queries`] (the batch), [`stream`] (result sets → keys), [`discovery`] (which replicas),
//! [`probes`] (TCP reachability), [`job`] (the shared runtime, progress, cancel).

pub mod connect;
pub mod discovery;
pub mod job;
pub mod probes;
pub mod queries;
pub mod request;
pub mod stream;

use std::sync::Arc;

use futures_util::future::join_all;
use tokio::sync::Semaphore;

pub use job::{run, run_with, Job, Progress};
pub use probes::{Resolver, StaticResolver, SystemResolver};
pub use request::{Authentication, Encrypt, InstanceAddress, Request, Secret, Timeouts};

use crate::snapshot::{keys, Instance, Snapshot, FORMAT};

/// Collects a snapshot. Cancellation is by dropping the future (the job does that).
pub async fn collect(request: &Request, resolver: Arc<dyn Resolver>, progress: &Progress) -> Snapshot {
    let collected_at = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let permits = Arc::new(Semaphore::new(request.concurrency));
    let mut given: Vec<String> = Vec::new();
    for target in &request.instances {
        let target = target.trim().to_string();
        if !given.iter().any(|g| g.eq_ignore_ascii_case(&target)) {
            given.push(target);
        }
    }
    progress.add_total(given.len());
    let mut instances = collect_all(&given, request, &permits, progress).await;
    if request.discover_replicas {
        progress.step("discovering replicas");
        let more = discovery::replicas_to_add(&instances, request);
        progress.add_total(more.len());
        instances.extend(collect_all(&more, request, &permits, progress).await);
    }
    let probes = if request.probes {
        progress.step("probing endpoints, listeners and routing URLs");
        probes::run(&probes::targets(&instances), resolver, request.timeouts.probe()).await
    } else {
        Vec::new()
    };
    Snapshot {
        format: FORMAT.to_string(),
        collected_at: Some(collected_at),
        collector: Some(format!("agdiag {}", crate::VERSION)),
        collection: Some(request.collection_section()),
        instances,
        probes,
    }
}

async fn collect_all(targets: &[String], request: &Request, permits: &Semaphore, progress: &Progress) -> Vec<Instance> {
    join_all(targets.iter().map(|t| collect_instance(t, request, permits, progress))).await
}

async fn collect_instance(target: &str, request: &Request, permits: &Semaphore, progress: &Progress) -> Instance {
    let mut instance = Instance { target: target.to_string(), connected: false, ..Default::default() };
    let Ok(_permit) = permits.acquire().await else { return instance };
    let address = match InstanceAddress::parse(target) {
        Ok(a) => a,
        Err(e) => {
            instance.connect_error = Some(connect::transport(e.message));
            progress.instance_done();
            return instance;
        }
    };
    progress.step(&format!("connecting to {target}"));
    match connect::connect(&address, request).await {
        Ok(mut client) => {
            progress.step(&format!("querying {target}"));
            let collected = stream::collect(&mut client, keys::ALL).await;
            instance.connected = true;
            instance.results = collected.results;
            instance.query_errors = collected.query_errors;
        }
        Err(e) => instance.connect_error = Some(e),
    }
    progress.instance_done();
    instance
}
