//! Embedders: the stage of the pipeline that turns texts into vectors.
//!
//! One trait ([`Embedder`]) is the seam; each backend is one module. Heavy
//! backends (candle) sit behind a cargo feature.

#[cfg(feature = "candle")]
pub mod candle;
pub mod command;
pub mod http;
pub mod synthetic;

use std::fmt;

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
    /// One request failed but the backend lives on (an HTTP 500): counted
    /// against `--max-errors`, its texts not counted as embedded.
    #[error("{0}")]
    Request(String),
}

impl BackendError {
    /// Build a [`BackendError::Failed`] from anything printable.
    pub fn failed(msg: impl fmt::Display) -> Self {
        BackendError::Failed(msg.to_string())
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

    /// How many batches this backend can have in flight at once (HTTP
    /// concurrency). The pipeline hands [`Embedder::embed_many`] up to this
    /// many pages when they are ready.
    fn max_in_flight(&self) -> usize {
        1
    }

    /// Embed several batches, possibly concurrently; results in order.
    fn embed_many(&mut self, batches: &[Vec<String>]) -> Vec<Result<Embedded, BackendError>> {
        batches.iter().map(|b| self.embed(b)).collect()
    }

    /// End the backend: stop any process it runs and say how it ended (exit
    /// status, stderr tail) for the report. Called once, after the last
    /// `embed`. In-process backends have nothing to report.
    fn finish(&mut self) -> Option<crate::target::TargetReport> {
        None
    }
}
