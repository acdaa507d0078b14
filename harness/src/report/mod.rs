//! The run's report: one [`Report`] value, written by one exporter per file
//! (`report.json`, `summary.md`, `junit.xml`, `report.html`, the charts).
//! Adding a format is one file + one arm in [`all_exporters`].
//!
//! Exporters render from an [`ExportContext`]: the report plus what else the
//! run folder holds (its samples, `run.json`, a baseline comparison), so a
//! format that needs the raw series (charts) or the run's metadata (HTML)
//! gets it without reading files itself.

pub mod chart;
pub mod folder;
pub mod html;
pub mod json;
pub mod junit;
pub mod markdown;

use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::analysis::Analysis;
use crate::backend::BackendInfo;
use crate::classify::Classification;
use crate::compare::Comparison;
use crate::processes::ProcessTable;
use crate::projection::Projection;
use crate::record::SampleTable;
pub use crate::target::TargetReport;

/// Version of the `report.json` layout.
pub const SCHEMA_VERSION: u32 = 1;

/// The overall verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Ran to the end, every threshold held.
    Pass,
    /// A threshold was breached.
    Fail,
    /// The run could not be judged (target or backend failed, bad input).
    Error,
}

/// Everything the exporters need.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// Layout version ([`SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// pass / fail / error.
    pub verdict: Verdict,
    /// The process exit code memsoak returns.
    pub exit_code: i32,
    /// Whether SIGINT/SIGTERM ended the run.
    pub interrupted: bool,
    /// What ended the run (`duration`, `workload_exhausted`, `fail_fast`,
    /// `target_exit`, `target_failed`, `backend_error`, `interrupted`, `analyze`).
    pub ended_by: String,
    /// `run`, `watch` or `analyze`.
    pub mode: String,
    /// Warm-up rule as typed.
    pub warmup: String,
    /// Confidence of CIs and tests.
    pub confidence: f64,
    /// Materiality floor, bytes (`--min-growth`): a fitted breach, a
    /// classification and a projection need at least this much growth.
    pub min_growth: f64,
    /// The embedder, for in-process runs.
    pub backend: Option<BackendInfo>,
    /// The workload name.
    pub workload: Option<String>,
    /// What a recorded-trace replay did (records, texts, lines skipped,
    /// pacing); absent for other workloads.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replay: Option<crate::workload::trace::ReplayReport>,
    /// The black-box target.
    pub target: Option<TargetReport>,
    /// Failed backend requests (HTTP errors) counted during the run.
    pub backend_errors: u64,
    /// Fail-fast reason, when the run was cut short by a certain breach.
    pub fail_fast: Option<String>,
    /// Errors that made the verdict `error`.
    pub errors: Vec<String>,
    /// Notes for people (metrics unavailable, rows dropped...).
    pub notes: Vec<String>,
    /// Statistics and threshold outcomes.
    pub analysis: Analysis,
    /// The most likely leak pattern, with its evidence
    /// ([`Report::with_insights`] fills it).
    pub classification: Option<Classification>,
    /// Time until host memory and each cap run out at the fitted drift.
    pub projection: Option<Projection>,
}

impl Report {
    /// Fill in what is derived from the analysis (classification,
    /// projection) where it is missing. `samples` sharpens the
    /// classification (early vs late drift); without them it uses the
    /// analysis alone.
    pub fn with_insights(self, samples: Option<&SampleTable>) -> Report {
        self.with_tree_insights(samples, None)
    }

    /// [`Report::with_insights`], with the tree's per-process readings
    /// (`processes.csv`) when there are some: they can trace the growth to
    /// one process.
    pub fn with_tree_insights(
        mut self,
        samples: Option<&SampleTable>,
        processes: Option<&ProcessTable>,
    ) -> Report {
        if self.classification.is_none() {
            let shapes = samples.map_or_else(Vec::new, |t| {
                crate::classify::shapes(t, &self.analysis, self.confidence)
            });
            // NOTE: each process is fitted from the tree's warm-up end on,
            // so process and tree drifts cover the same steady state.
            let tree = self
                .analysis
                .metric(crate::sample::Metric::Rss)
                .map_or(0.0, |m| m.warmup_end_s);
            let trends = processes.map_or_else(Vec::new, |p| {
                crate::classify::process_trends(p, tree, self.confidence)
            });
            self.classification = Some(crate::classify::classify_tree(
                &self.analysis,
                &shapes,
                &trends,
                self.min_growth,
            ));
        }
        if self.projection.is_none() {
            self.projection = Some(crate::projection::project(&self.analysis, self.min_growth));
        }
        self
    }
}

/// What the exporters render from: the report and what else the run folder
/// holds. Everything but the report is optional: an exporter renders what it
/// can from what is there.
#[derive(Debug, Clone, Copy)]
pub struct ExportContext<'a> {
    /// The report.
    pub report: &'a Report,
    /// The run's samples (`samples.csv`).
    pub samples: Option<&'a SampleTable>,
    /// The run's `run.json` (commit, host, versions...).
    pub run: Option<&'a serde_json::Value>,
    /// A comparison with a baseline, when one was asked for.
    pub comparison: Option<&'a Comparison>,
    /// The baseline's samples, when it kept them (for the comparison chart).
    pub baseline_samples: Option<&'a SampleTable>,
    /// The tree's per-process readings (`processes.csv`), when taken.
    pub processes: Option<&'a ProcessTable>,
}

impl<'a> ExportContext<'a> {
    /// A context holding the report alone.
    pub fn new(report: &'a Report) -> Self {
        ExportContext {
            report,
            samples: None,
            run: None,
            comparison: None,
            baseline_samples: None,
            processes: None,
        }
    }

    /// A string field of `run.json` (`git_commit`), if present.
    pub fn run_str(&self, pointer: &str) -> Option<&'a str> {
        self.run?.pointer(pointer)?.as_str()
    }
}

/// One rendered file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// File name inside the run folder.
    pub name: String,
    /// Its content.
    pub bytes: Vec<u8>,
}

impl Artifact {
    /// A text file.
    pub fn text(name: impl Into<String>, text: String) -> Self {
        Artifact {
            name: name.into(),
            bytes: text.into_bytes(),
        }
    }
}

/// Why a report file could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Writing a file failed.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// A file could not be rendered (a chart backend error).
    #[error("cannot render {what}: {why}")]
    Render {
        /// The file or chart.
        what: String,
        /// What went wrong.
        why: String,
    },
}

/// Writes files of the run folder from a report.
pub trait Exporter {
    /// The file it writes, or the pattern of the files (`chart-<metric>.svg`).
    fn file_name(&self) -> &'static str;

    /// Render its file(s) in memory.
    fn render(&self, ctx: &ExportContext<'_>) -> Result<Vec<Artifact>, ExportError>;

    /// Render and write into `dir`, returning the paths written.
    fn export(&self, ctx: &ExportContext<'_>, dir: &Path) -> Result<Vec<PathBuf>, ExportError> {
        self.render(ctx)?
            .iter()
            .map(|a| write_atomic(dir, &a.name, &a.bytes))
            .collect()
    }
}

/// Write `bytes` as `dir/name`. NOTE: write then rename, so a reader never
/// sees half a file.
pub fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf, ExportError> {
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, &path))
        .map_err(|source| ExportError::Io {
            path: path.clone(),
            source,
        })?;
    Ok(path)
}

/// Every exporter written at the end of a run, the machine-readable report
/// first (it must not wait on a chart).
pub fn all_exporters() -> Vec<Box<dyn Exporter>> {
    vec![
        Box::new(json::Json),
        Box::new(markdown::Markdown),
        Box::new(junit::Junit),
        Box::new(chart::Charts),
        Box::new(html::Html),
    ]
}

/// The exporters of the files derived for people and CI (everything but
/// `report.json`): what `memsoak report` and `memsoak compare` re-render.
pub fn derived_exporters() -> Vec<Box<dyn Exporter>> {
    all_exporters()
        .into_iter()
        .filter(|e| e.file_name() != json::Json.file_name())
        .collect()
}

/// Write the files of `exporters` into `dir`, from `ctx`. An exporter that
/// fails does not stop the others; the first error is returned after all
/// have run.
pub fn write_with(
    ctx: &ExportContext<'_>,
    dir: &Path,
    exporters: &[Box<dyn Exporter>],
) -> Result<Vec<PathBuf>, ExportError> {
    let mut written = Vec::new();
    let mut first_err = None;
    for e in exporters {
        match e.export(ctx, dir) {
            Ok(p) => written.extend(p),
            Err(err) => {
                first_err.get_or_insert(err);
            }
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(written),
    }
}

/// Write every exporter's files into the run folder `dir` at the end of a
/// run: reads back its `samples.csv`, `processes.csv` and `run.json` (any
/// may be missing) and fills in the report's classification and projection.
pub fn write_all(report: &Report, dir: &Path) -> Result<Vec<PathBuf>, ExportError> {
    let samples = crate::record::read_samples(&dir.join("samples.csv")).ok();
    let processes = crate::processes::read(&dir.join(crate::processes::FILE_NAME)).ok();
    let run = folder::read_run_json(dir).ok();
    let report = report
        .clone()
        .with_tree_insights(samples.as_ref(), processes.as_ref());
    let ctx = ExportContext {
        samples: samples.as_ref(),
        run: run.as_ref(),
        processes: processes.as_ref(),
        ..ExportContext::new(&report)
    };
    write_with(&ctx, dir, &all_exporters())
}
