//! A collection running in the background on the one shared tokio runtime: progress to poll,
//! a wait with a timeout, cancel, and the report when done. No callbacks cross threads.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use once_cell::sync::Lazy;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use super::probes::{Resolver, SystemResolver};
use super::request::Request;
use crate::error::{Error, ErrorKind, Result};
use crate::report::{AnalyzeOptions, Report};

/// One runtime for every collection in the process, created on first use.
static RUNTIME: Lazy<tokio::runtime::Runtime> = Lazy::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("agdiag-collect")
        .build()
        .expect("the tokio runtime for live collection could not start")
});

/// What a running collection is doing.
#[derive(Debug)]
pub struct Progress {
    started: Instant,
    total: AtomicUsize,
    done: AtomicUsize,
    step: Mutex<String>,
}

impl Default for Progress {
    fn default() -> Self {
        Progress { started: Instant::now(), total: AtomicUsize::new(0), done: AtomicUsize::new(0), step: Mutex::new("starting".into()) }
    }
}

impl Progress {
    pub(crate) fn add_total(&self, n: usize) {
        self.total.fetch_add(n, Ordering::SeqCst);
    }

    pub(crate) fn instance_done(&self) {
        self.done.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn step(&self, text: &str) {
        if let Ok(mut step) = self.step.lock() {
            *step = text.to_string();
        }
    }

    pub fn instances_done(&self) -> usize {
        self.done.load(Ordering::SeqCst)
    }

    pub fn instances_total(&self) -> usize {
        self.total.load(Ordering::SeqCst)
    }

    pub fn current_step(&self) -> String {
        self.step.lock().map(|s| s.clone()).unwrap_or_default()
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

enum State {
    Running,
    Finished(Box<Result<Report>>),
}

struct Shared {
    progress: Progress,
    cancel: CancellationToken,
    state: Mutex<State>,
    finished: Condvar,
}

/// Records the outcome and wakes every waiter; on drop without an outcome, records an error.
struct FinishOnDrop(Arc<Shared>);

impl FinishOnDrop {
    fn with(self, outcome: Result<Report>) {
        self.set(outcome);
    }

    fn set(&self, outcome: Result<Report>) {
        let shared = &self.0;
        shared.progress.step(match &outcome {
            Ok(_) => "done",
            Err(e) if e.kind == ErrorKind::Cancelled => "cancelled",
            Err(_) => "failed",
        });
        let mut state = shared.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if matches!(*state, State::Running) {
            *state = State::Finished(Box::new(outcome));
        }
        drop(state);
        shared.finished.notify_all();
    }
}

impl Drop for FinishOnDrop {
    fn drop(&mut self) {
        let running = matches!(*self.0.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner()), State::Running);
        if running {
            self.set(Err(Error::new(ErrorKind::Collection, "the collection stopped unexpectedly (runtime shut down or task aborted)")));
        }
    }
}

/// A background collection. Dropping it cancels the work.
pub struct Job {
    shared: Arc<Shared>,
}

impl Job {
    /// Starts collecting with the system resolver.
    pub fn start(request: Request) -> Job {
        Job::start_with(request, Arc::new(SystemResolver))
    }

    /// Starts collecting, resolving probe names with `resolver`.
    pub fn start_with(request: Request, resolver: Arc<dyn Resolver>) -> Job {
        let shared = Arc::new(Shared {
            progress: Progress::default(),
            cancel: CancellationToken::new(),
            state: Mutex::new(State::Running),
            finished: Condvar::new(),
        });
        let task = shared.clone();
        RUNTIME.spawn(async move {
            // Whatever ends this task (a panic that escapes, the runtime shutting down), waiters
            // are released with an error instead of waiting forever.
            let finish = FinishOnDrop(task.clone());
            let work = AssertUnwindSafe(async {
                let snapshot = super::collect(&request, resolver, &task.progress).await;
                task.progress.step("analyzing");
                let options = AnalyzeOptions { checks: request.checks.clone(), generated_at: None };
                crate::analyze(snapshot, &options)
            })
            .catch_unwind();
            let outcome = tokio::select! {
                // Dropping the collect future closes every connection and probe still open.
                _ = task.cancel.cancelled() => Err(Error::new(ErrorKind::Cancelled, "collection cancelled")),
                report = work => report.map_err(|payload| Error::new(
                    ErrorKind::Collection,
                    format!("internal error in agdiag during collection (please report it): {}", super::panic_text(payload.as_ref())),
                )),
            };
            finish.with(outcome);
        });
        Job { shared }
    }

    /// Waits up to `timeout` (`None`: until done). True when the job has finished.
    pub fn wait(&self, timeout: Option<Duration>) -> bool {
        let Ok(guard) = self.shared.state.lock() else { return true };
        let running = |s: &mut State| matches!(s, State::Running);
        match timeout {
            None => self.shared.finished.wait_while(guard, running).is_ok(),
            Some(t) => match self.shared.finished.wait_timeout_while(guard, t, running) {
                Ok((_, result)) => !result.timed_out(),
                Err(_) => true,
            },
        }
    }

    pub fn is_finished(&self) -> bool {
        self.wait(Some(Duration::ZERO))
    }

    /// Stops a running job: every connection and probe still open is closed, `wait` returns
    /// promptly, and the job ends as cancelled (no report). A job that has already finished keeps
    /// its outcome: cancelling it does nothing. So "cancelled" has one meaning, the job ended
    /// because it was cancelled, and a report is never both returned and called cancelled.
    pub fn cancel(&self) {
        self.shared.cancel.cancel();
    }

    /// True when the job ended because it was cancelled (not merely asked to, and not after it
    /// had already finished).
    pub fn was_cancelled(&self) -> bool {
        let state = self.shared.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        matches!(&*state, State::Finished(outcome) if matches!(&**outcome, Err(e) if e.kind == ErrorKind::Cancelled))
    }

    pub fn progress(&self) -> &Progress {
        &self.shared.progress
    }

    /// `{"instances_done", "instances_total", "step", "elapsed_ms", "finished", "cancelled"}`;
    /// `cancelled` as in [`Job::was_cancelled`].
    pub fn progress_json(&self) -> Value {
        let p = &self.shared.progress;
        json!({
            "instances_done": p.instances_done(),
            "instances_total": p.instances_total(),
            "step": p.current_step(),
            "elapsed_ms": p.elapsed().as_millis() as u64,
            "finished": self.is_finished(),
            "cancelled": self.was_cancelled(),
        })
    }

    /// The report of a finished job (a copy: it can be asked for again).
    pub fn report(&self) -> Result<Report> {
        let state = self.shared.state.lock().map_err(|_| Error::new(ErrorKind::Collection, "collection state is poisoned"))?;
        match &*state {
            State::Running => Err(Error::new(ErrorKind::Collection, "the collection is still running")),
            State::Finished(outcome) => (**outcome).clone(),
        }
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        self.shared.cancel.cancel();
    }
}

/// Collects and analyzes, blocking the calling thread until done.
pub fn run(request: Request) -> Result<Report> {
    run_with(request, Arc::new(SystemResolver))
}

pub fn run_with(request: Request, resolver: Arc<dyn Resolver>) -> Result<Report> {
    let job = Job::start_with(request, resolver);
    job.wait(None);
    job.report()
}
