//! Embedders: the stage of the pipeline that turns texts into vectors.
//!
//! One trait ([`Embedder`]) is the seam; each backend is one module. Heavy
//! backends (candle) sit behind a cargo feature.

#[cfg(feature = "candle")]
pub mod bert;
#[cfg(feature = "candle")]
pub mod candle;
pub mod command;
#[cfg(feature = "candle")]
pub mod gelu;
pub mod http;
#[cfg(feature = "candle")]
pub mod softmax;
pub mod synthetic;

use std::fmt;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::target::{StopOutcome, Target, TargetReport, TargetStatus};

/// What an embedder returned for one batch.
#[derive(Debug, Clone, PartialEq)]
pub enum Embedded {
    /// Row-major `[count, dim]` vectors, in input order.
    Vectors {
        /// Width of each vector.
        dim: usize,
        /// `count * dim` values.
        data: Vec<f32>,
    },
    /// The embedder stored the vectors itself and only reports how many.
    Counted {
        /// Number of vectors produced.
        count: usize,
        /// Width of each vector.
        dim: usize,
    },
}

impl Embedded {
    /// Number of vectors in the batch.
    pub fn count(&self) -> usize {
        match self {
            Embedded::Vectors { dim, data } => {
                if *dim == 0 {
                    0
                } else {
                    data.len() / dim
                }
            }
            Embedded::Counted { count, .. } => *count,
        }
    }

    /// Width of each vector.
    pub fn dim(&self) -> usize {
        match self {
            Embedded::Vectors { dim, .. } | Embedded::Counted { dim, .. } => *dim,
        }
    }
}

/// Static facts about a backend, written to `run.json` and the report.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BackendInfo {
    /// Backend name as on the command line (`synthetic`, `candle`, ...).
    pub name: String,
    /// Model name or path, when the backend has one.
    pub model: Option<String>,
    /// Output dimension, when known up front.
    pub dim: Option<usize>,
    /// Free-form details (device, threads, pooling...).
    pub details: serde_json::Map<String, serde_json::Value>,
}

/// Why a backend failed. A backend failure ends the run with exit code 3.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The backend could not be set up (model missing, bad options): a usage
    /// error, exit code 2.
    #[error("{0}")]
    Setup(String),
    /// The backend failed while embedding (crash, malformed reply, timeout).
    #[error("{0}")]
    Failed(String),
    /// One request failed but the backend lives on (an HTTP error status or
    /// timeout, a worker's `{"id", "error"}` reply): counted against
    /// `--max-errors`, its texts not counted as embedded.
    #[error("{0}")]
    Request(String),
    /// memsoak was interrupted while the backend was being set up (waiting
    /// for a served server to accept connections): nothing was sampled.
    #[error("interrupted while {0}")]
    Interrupted(String),
}

impl BackendError {
    /// Build a [`BackendError::Failed`] from anything printable.
    pub fn failed(msg: impl fmt::Display) -> Self {
        BackendError::Failed(msg.to_string())
    }
}

/// The result of one batch given to [`Embedder::submit`], ready now or on
/// its way from another thread (an HTTP request in flight).
pub struct Pending(PendingState);

enum PendingState {
    Ready(Option<Result<Embedded, BackendError>>),
    Waiting(Receiver<Result<Embedded, BackendError>>),
}

/// The sending side of a [`Pending`]: whoever finishes the batch sends its
/// result here, once.
pub type PendingSender = SyncSender<Result<Embedded, BackendError>>;

impl Pending {
    /// A result that is already known.
    pub fn ready(result: Result<Embedded, BackendError>) -> Self {
        Pending(PendingState::Ready(Some(result)))
    }

    /// A result another thread will send.
    pub fn channel() -> (PendingSender, Pending) {
        let (tx, rx) = sync_channel(1);
        (tx, Pending(PendingState::Waiting(rx)))
    }

    /// The result, if it arrives within `timeout`. A sender dropped without
    /// sending (its thread died) is a backend failure.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<Result<Embedded, BackendError>> {
        match &mut self.0 {
            PendingState::Ready(r) => Some(
                r.take()
                    .unwrap_or_else(|| Err(BackendError::failed("result already collected"))),
            ),
            PendingState::Waiting(rx) => match rx.recv_timeout(timeout) {
                Ok(r) => Some(r),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => Some(Err(BackendError::failed(
                    "the backend dropped a request without an answer",
                ))),
            },
        }
    }

    /// Wait for the result, however long it takes.
    pub fn wait(&mut self) -> Result<Embedded, BackendError> {
        loop {
            if let Some(r) = self.wait_timeout(Duration::from_secs(3600)) {
                return r;
            }
        }
    }
}

/// The process tree a worker or server backend started, shared between the
/// thread that embeds and the one that stops it on an interrupt (while a
/// request may still hold the embedding thread). Every stop is the tree's
/// own [`Target::stop_tree`], so the report says memsoak stopped it, never
/// "killed by SIGTERM" as if the signal came from outside.
#[derive(Clone)]
pub struct OwnedTree {
    target: Arc<Mutex<Target>>,
    pid: u32,
    grace: Duration,
}

impl OwnedTree {
    /// Share `target`, stopped with `grace` between SIGTERM and SIGKILL.
    pub(crate) fn new(target: Target, grace: Duration) -> OwnedTree {
        OwnedTree {
            pid: target.pid(),
            target: Arc::new(Mutex::new(target)),
            grace,
        }
    }

    /// The target, locked: a stop in progress holds the lock, so no one
    /// else reaps the root first and records memsoak's signal as one from
    /// outside.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Target> {
        self.target.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The root pid of the tree.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Whether the root has ended, and how (without blocking).
    pub(crate) fn poll(&self) -> TargetStatus {
        self.lock().poll()
    }

    /// Stop the tree now, from any thread: SIGTERM, then SIGKILL after the
    /// backend's grace or `cap`, whichever is shorter (an interrupt
    /// promises a report within 2 s).
    pub fn stop(&self, cap: Duration) -> StopOutcome {
        self.lock().stop_tree(self.grace.min(cap))
    }

    /// Stop the tree (if it is not already stopped) and say how it ended,
    /// for the report: an end of its own before the stop keeps its status.
    pub(crate) fn report(&self, command: Option<Vec<String>>) -> TargetReport {
        let mut t = self.lock();
        let early = t.poll();
        let stop = t.stop_tree(self.grace);
        TargetReport {
            pid: t.pid(),
            command,
            status: if early == TargetStatus::Running {
                t.status().clone()
            } else {
                early
            },
            stop: Some(stop),
            stderr_tail: t.stderr_tail(),
        }
    }
}

/// A text embedder: the stage under test.
///
/// Implementations are driven from one thread (the embed stage of the
/// pipeline) and may keep state between calls: that state is exactly what a
/// soak test watches.
pub trait Embedder: Send {
    /// Static description for `run.json` and the report.
    fn info(&self) -> BackendInfo;

    /// Embed one batch of texts, returning one vector per text in order.
    fn embed(&mut self, texts: &[String]) -> Result<Embedded, BackendError>;

    /// The pid of an external process tree doing the work (worker process,
    /// HTTP server), sampled like a `watch` target. `None` for in-process.
    fn target_pid(&self) -> Option<u32> {
        None
    }

    /// The process tree this backend started (a worker, a `--serve`
    /// server), for memsoak to stop from another thread on an interrupt.
    /// `None` for in-process backends and for a server memsoak did not
    /// start.
    fn owned_tree(&self) -> Option<OwnedTree> {
        None
    }

    /// How many batches the pipeline may have submitted to this backend and
    /// not yet collected (see [`Embedder::submit`]). `1` for backends that
    /// embed on the caller's thread.
    fn max_in_flight(&self) -> usize {
        1
    }

    /// Start embedding one batch and return a handle to its result. The
    /// pipeline keeps up to [`Embedder::max_in_flight`] handles and collects
    /// them in submission order, so results (and the vectors written) stay
    /// in input order. The default embeds at once, on the caller's thread.
    fn submit(&mut self, texts: Vec<String>) -> Pending {
        Pending::ready(self.embed(&texts))
    }

    /// End the backend: stop any process it runs and say how it ended (exit
    /// status, stderr tail) for the report. Called once, after the last
    /// `embed`. In-process backends have nothing to report.
    fn finish(&mut self) -> Option<TargetReport> {
        None
    }
}
