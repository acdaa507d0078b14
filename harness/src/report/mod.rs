//! Renderers: one [`Report`] rendered by one exporter per file
//! (`report.json`, `summary.md`, `junit.xml`, `report.html`, the charts).
//! Adding a format is one file + one arm in [`all_exporters`]. A renderer
//! decides nothing: verdicts, classifications and comparisons come made
//! from [`crate::analysis`]; the files' names and writing belong to
//! [`crate::runfolder`].
//!
//! Exporters render from an [`ExportContext`]: the report plus what else the
//! run holds (its samples, `run.json`, a baseline comparison), so a format
//! that needs the raw series (charts) or the run's metadata (HTML) gets it
//! without reading files itself.

pub mod bencher;
pub mod chart;
pub mod fleet;
pub mod html;
pub mod json;
pub mod junit;
pub mod markdown;

use std::path::PathBuf;

use crate::analysis::compare::Comparison;
use crate::analysis::samples::{ProcessTable, SampleTable};
use crate::runfolder::{FolderError, Report, RunFolder, RunMeta};

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
    pub run: Option<&'a RunMeta>,
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

    /// The git commit `run.json` records, if any.
    pub fn git_commit(&self) -> Option<&'a str> {
        self.run?.git_commit.as_deref()
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
    #[error(transparent)]
    Io(#[from] FolderError),
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

    /// Render and write into `folder`, returning the paths written.
    fn export(
        &self,
        ctx: &ExportContext<'_>,
        folder: &RunFolder,
    ) -> Result<Vec<PathBuf>, ExportError> {
        self.render(ctx)?
            .iter()
            .map(|a| Ok(folder.write(&a.name, &a.bytes)?))
            .collect()
    }
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
        Box::new(bencher::Bencher),
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
    folder: &RunFolder,
    exporters: &[Box<dyn Exporter>],
) -> Result<Vec<PathBuf>, ExportError> {
    let mut written = Vec::new();
    let mut first_err = None;
    for e in exporters {
        match e.export(ctx, folder) {
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

/// The shipped `watch` report fixture with its first threshold's outcome,
/// estimate and interval (in multiples of its limit) and `conclusive` set:
/// what the summary's and the closing line's tests read.
#[cfg(test)]
pub(crate) fn fixture_with_first_threshold(
    outcome: crate::analysis::Outcome,
    measured: f64,
    ci: (f64, f64),
    conclusive: bool,
) -> Report {
    let mut r = Report::from_json(include_str!("../runfolder/fixtures/report-watch.json"))
        .expect("the fixture reads");
    let t = &mut r.analysis.thresholds[0];
    let limit = t.threshold.limit;
    t.outcome = outcome;
    t.measured = Some(measured * limit);
    t.ci = Some((ci.0 * limit, ci.1 * limit));
    t.conclusive = Some(conclusive);
    r
}
