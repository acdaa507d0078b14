//! Recorded workloads: the trace format (JSON Lines with a versioned header),
//! its streaming reader and append-only writer, redaction to text shapes,
//! import from existing logs, and the recording HTTP proxy.
//!
//! The format is documented for users in `docs/trace-format.md`; the pure
//! parts (one line in, one record out) live in [`format`](mod@format) so they can be
//! property-tested and fuzzed without files.

pub mod format;
pub mod import;
pub mod proxy;
pub mod reader;
pub mod redact;
pub mod writer;

use std::path::PathBuf;

pub use format::{Batch, Header, Record, Script, Shape, VERSION};
pub use reader::{TraceReader, TraceSummary, scan};
pub use writer::TraceWriter;

/// Why a trace could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// The file could not be opened, read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A line is not a valid header or record.
    #[error("{path}: line {line}: {why}")]
    Line {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong, on one line.
        why: String,
    },
    /// The header names a format version this memsoak does not read.
    #[error(
        "{path}: line 1: trace format version {found} is not supported (this memsoak reads version {VERSION})"
    )]
    Version {
        /// The file.
        path: PathBuf,
        /// The version found.
        found: u64,
    },
    /// The trace holds a header and nothing else usable.
    #[error("{path}: the trace holds no records")]
    Empty {
        /// The file.
        path: PathBuf,
    },
}
