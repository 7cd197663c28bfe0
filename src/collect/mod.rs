//! Live collection: connect to every instance (and every replica they name) in parallel, run one
//! read-only batch per instance, probe the network, and return a snapshot (format
//! `agdiag.snapshot/1`) plus the same analysis the offline analyzer gives for it.
//!
//! One concept per file: [`request`] (what to collect), [`connect`] (one TDS connection),
//! [`queries`] (the batch), [`stream`] (result sets → keys), [`discovery`] (which replicas),
//! [`probes`] (TCP reachability), [`login_probe`] (a login through each listener), [`job`] (the shared runtime, progress, cancel), [`tls`] (why a
//! server's certificate was rejected). Dependencies point one way: `request` is the floor,
//! `connect` builds on it and `tls`, `stream` on `connect`.

pub mod connect;
pub mod databases;
pub mod discovery;
pub mod job;
pub mod login_probe;
pub mod probes;
pub mod queries;
pub mod request;
pub mod stream;
pub mod tls;

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures_util::stream::{FuturesUnordered, StreamExt};
use futures_util::FutureExt;
use tokio::sync::{mpsc, Semaphore};

pub use job::{run, run_with, Job, Progress};
pub use probes::{Resolver, StaticResolver, SystemResolver};
pub use request::{Authentication, Encrypt, InstanceAddress, Request, Secret, Timeouts};

use crate::snapshot::{keys, Instance, Row, Snapshot, FORMAT};
use discovery::Discovery;

/// Collects a snapshot. Cancellation is by dropping the future (the job does that): every
/// connection and probe lives inside it, none in a detached task.
pub async fn collect(request: &Request, resolver: Arc<dyn Resolver>, progress: &Progress) -> Snapshot {
    let collected_at = humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string();
    let mut given: Vec<String> = Vec::new();
    for target in &request.instances {
        let target = target.trim().to_string();
        if !given.iter().any(|g| g.eq_ignore_ascii_case(&target)) {
            given.push(target);
        }
    }
    let instances = collect_instances(&given, request, progress).await;
    let probes = if request.probes {
        progress.step("probing endpoints, listeners and routing URLs");
        let targets = probes::targets(&instances);
        let tcp = probes::run(&targets, resolver.clone(), request.timeouts.probe());
        let logins = login_probe::run(&targets, resolver, request);
        let (mut probes, logins) = futures_util::join!(tcp, logins);
        probes.extend(logins);
        probes
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

/// The statement order of every batch: the server's own name, then its replicas first, so that
/// discovery can start the other replicas while the rest of the batch is still streaming; the
/// event history last, because reading the AlwaysOn_health files is the one statement whose cost
/// grows with the server's files: if it runs into the command timeout, every other key has landed.
fn batch_keys() -> Vec<&'static str> {
    let first = [keys::SERVER_PROPERTIES, keys::AVAILABILITY_REPLICAS];
    let last = [keys::ALWAYSON_HEALTH];
    let middle = keys::ALL.iter().copied().filter(|k| !first.contains(k) && !last.contains(k));
    first.iter().copied().chain(middle).chain(last).collect()
}

/// What a given instance tells the discovery loop while its batch is still running.
enum Seen {
    /// Its `server_properties` rows.
    Identity(usize, Vec<Row>),
    /// Its `availability_replicas` rows.
    Replicas(Vec<Row>),
}

/// Collects the given instances and, with `discover_replicas`, every replica they name (see
/// [`discovery`]): a replica starts as soon as it is known, not when the first batch ends.
async fn collect_instances(given: &[String], request: &Request, progress: &Progress) -> Vec<Instance> {
    let permits = Semaphore::new(request.concurrency);
    let order = batch_keys();
    progress.add_total(given.len());
    let (tx, mut rx) = mpsc::unbounded_channel::<Seen>();
    let mut discovery = Discovery::new(given);
    let mut done: Vec<Option<Instance>> = given.iter().map(|_| None).collect();
    let mut running = FuturesUnordered::new();
    for (index, target) in given.iter().enumerate() {
        let events = request.discover_replicas.then(|| tx.clone());
        // A given target is reached, and named in errors, as given.
        let work = collect_instance_at(target.clone(), target.clone(), target.clone(), index, request, &permits, progress, &order, events);
        running.push(guarded(index, target.clone(), progress, work));
    }
    drop(tx);
    loop {
        tokio::select! {
            Some(seen) = rx.recv() => match seen {
                Seen::Identity(index, rows) => discovery.identified(index, &rows),
                Seen::Replicas(rows) => discovery.replicas(&rows),
            },
            Some((index, instance)) = running.next() => {
                discovery.finished(index, &instance);
                done[index] = Some(instance);
            },
            else => break,
        }
        if !request.discover_replicas {
            continue;
        }
        for start in discovery.start_now(request) {
            progress.add_total(1);
            progress.step(&format!("discovered replica {}", start.name));
            let index = done.len();
            done.push(None);
            let target = start.target.clone();
            let who = if start.address.eq_ignore_ascii_case(&start.name) {
                start.name.clone()
            } else {
                format!("{} (reached as {})", start.name, start.address)
            };
            let work = collect_instance_at(start.target, start.address, who, index, request, &permits, progress, &order, None);
            running.push(guarded(index, target, progress, work));
        }
    }
    done.into_iter().flatten().collect()
}

type Guarded<'a> = std::pin::Pin<Box<dyn Future<Output = (usize, Instance)> + Send + 'a>>;

/// Runs one instance's collection; a panic inside it becomes that instance's error instead of
/// ending the whole collection.
fn guarded<'a>(index: usize, target: String, progress: &'a Progress, work: impl Future<Output = Instance> + Send + 'a) -> Guarded<'a> {
    Box::pin(async move {
        match AssertUnwindSafe(work).catch_unwind().await {
            Ok(instance) => (index, instance),
            Err(payload) => {
                progress.instance_done();
                let what = panic_text(payload.as_ref());
                let error = connect::transport(format!(
                    "internal error in agdiag while collecting {target} (please report it): {what}"
                ));
                (index, Instance { target, connected: false, connect_error: Some(error), ..Default::default() })
            }
        }
    })
}

pub(crate) fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

/// Collects the instance the snapshot calls `target` by connecting to `reach` (a discovered
/// replica `SQL2` is reached as `sql2.contoso.com`); `who` names it in errors.
#[allow(clippy::too_many_arguments)]
async fn collect_instance_at(
    target: String,
    reach: String,
    who: String,
    index: usize,
    request: &Request,
    permits: &Semaphore,
    progress: &Progress,
    order: &[&'static str],
    events: Option<mpsc::UnboundedSender<Seen>>,
) -> Instance {
    let mut instance = Instance { target: target.clone(), connected: false, ..Default::default() };
    let Ok(_permit) = permits.acquire().await else { return instance };
    let address = match InstanceAddress::parse(&reach) {
        Ok(a) => a,
        Err(e) => {
            instance.connect_error = Some(connect::transport(e.message));
            progress.instance_done();
            return instance;
        }
    };
    progress.step(&format!("connecting to {who}"));
    match connect::connect(&address, request, &who).await {
        Ok(mut client) => {
            progress.step(&format!("querying {target}"));
            // Tell discovery who this is and which replicas it names as soon as those sets arrive.
            let mut observe = |key: &'static str, rows: &[Row]| {
                let Some(events) = &events else { return };
                // The batch's markers name each result set's key (see `queries`).
                if key == keys::SERVER_PROPERTIES {
                    let _ = events.send(Seen::Identity(index, rows.to_vec()));
                } else if key == keys::AVAILABILITY_REPLICAS {
                    let _ = events.send(Seen::Replicas(rows.to_vec()));
                }
            };
            let history = request.history();
            let collected = stream::collect(&mut client, order, request.timeouts.command(), &history, &mut observe).await;
            instance.connected = true;
            instance.results = collected.results;
            instance.query_errors = collected.query_errors;
            // Second round: the users of the availability databases this instance is the primary
            // of, appended to master's (only when master's read worked: alone they would pass for
            // master's).
            if instance.results.contains_key(keys::DATABASE_PRINCIPALS) {
                let databases = databases::primary_databases(&instance.results);
                if let Some(lost) = &collected.broken {
                    // The connection is gone or stalled: say why these were not read.
                    for db in &databases {
                        instance.query_errors.insert(
                            keys::database_principals_error_key(db),
                            connect::transport(format!("not read: the connection was lost during the first batch: {}", lost.message)),
                        );
                    }
                } else if !databases.is_empty() {
                    progress.step(&format!("querying the users of {} availability database(s) on {target}", databases.len()));
                    let more = stream::collect_database_principals(&mut client, &databases, request.timeouts.command()).await;
                    for (key, rows) in more.results {
                        instance.results.entry(key).or_default().extend(rows);
                    }
                    instance.query_errors.extend(more.query_errors);
                }
            }
        }
        Err(e) => instance.connect_error = Some(e),
    }
    progress.instance_done();
    instance
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_in_one_instance_becomes_its_error() {
        let progress = Progress::default();
        let work = async {
            if progress.instances_done() == 0 {
                panic!("boom at row 3");
            }
            Instance::default()
        };
        let (index, instance) = guarded(4, "sql9,1433".into(), &progress, work).await;
        assert_eq!(index, 4);
        assert_eq!(instance.target, "sql9,1433");
        assert!(!instance.connected);
        let error = instance.connect_error.unwrap();
        assert!(error.message.contains("internal error") && error.message.contains("boom at row 3"), "{error:?}");
        assert_eq!(progress.instances_done(), 1, "the panicked instance still counts as done");
    }

    #[test]
    fn dependencies_between_the_collect_modules_point_one_way() {
        // request (what to collect) is the floor; tls (the certificate diagnosis) stands alone;
        // connect uses both; stream uses connect. Nothing below reaches back up.
        let uses = |source: &str, module: &str| {
            source.contains(&format!("super::{module}")) || source.contains(&format!("collect::{module}"))
        };
        let (request, tls, connect) = (include_str!("request.rs"), include_str!("tls.rs"), include_str!("connect.rs"));
        for module in ["connect", "stream", "tls", "discovery", "job", "probes", "queries"] {
            assert!(!uses(request, module), "request.rs uses {module}");
            assert!(!uses(tls, module), "tls.rs uses {module}");
        }
        assert!(!uses(tls, "request"), "tls.rs uses request");
        for module in ["stream", "discovery", "job", "queries"] {
            assert!(!uses(connect, module), "connect.rs uses {module}");
        }
    }

    #[test]
    fn batches_lead_with_the_server_name_and_its_replicas() {
        let order = batch_keys();
        assert_eq!(&order[..2], &[keys::SERVER_PROPERTIES, keys::AVAILABILITY_REPLICAS]);
        assert_eq!(order.last(), Some(&keys::ALWAYSON_HEALTH));
        let mut sorted = order.clone();
        sorted.sort_unstable();
        let mut all = keys::ALL.to_vec();
        all.sort_unstable();
        assert_eq!(sorted, all);
    }
}
