//! A soak in progress: the work driven ([`pipeline`] in-process,
//! [`target`](crate::target) a black box), the sampling thread ([`sampler`]) on the
//! samplers it is given ([`samplers`]), the monitor that watches the clock,
//! signals and fail-fast looks ([`monitor`]), live progress ([`progress`]),
//! the source of the items count ([`items`]), the `.npy` sink of
//! `--write-embeddings` ([`npy`]) and the snapshot requester of
//! `--attribute` ([`attribution`]).

pub mod attribution;
pub mod exposition;
pub mod items;
pub mod monitor;
pub mod npy;
pub mod pipeline;
pub mod progress;
pub mod sampler;
pub mod samplers;
pub mod signals;

use std::path::PathBuf;
use std::time::Duration;

use crate::analysis::Warmup;
use crate::analysis::threshold::Threshold;

/// Sampling, analysis and threshold settings of a soak.
#[derive(Debug, Clone)]
pub struct SoakOptions {
    /// Run length.
    pub duration: Duration,
    /// Sampling period.
    pub sample_every: Duration,
    /// Warm-up rule.
    pub warmup: Warmup,
    /// Thresholds given by the user or the profile; empty → defaults chosen
    /// from the metrics actually sampled.
    pub thresholds: Vec<Threshold>,
    /// End early on a certain breach.
    pub fail_fast: bool,
    /// Confidence of CIs and tests.
    pub confidence: f64,
    /// Materiality floor for fitted breaches, bytes.
    pub min_growth: f64,
    /// Run folder (None → default under reports/).
    pub out: Option<PathBuf>,
    /// No live progress.
    pub quiet: bool,
    /// Profile used, if any.
    pub profile: Option<String>,
    /// `--metrics-listen`: serve the live series there (validated: loopback
    /// unless allowed).
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// `--attribute`: when to ask a Python target for heap snapshots.
    pub attribute: Option<attribution::Attribute>,
}
