//! `memsoak compare RUN_DIR --baseline NAME|DIR`: the regression verdict of
//! a run against a baseline (exit 1 on a regression, 0 otherwise). Writes
//! `compare.json` and adds the comparison to the folder's charts,
//! `summary.md`, `junit.xml` and `report.html`.

use std::path::Path;

use anyhow::Result;

use super::fail;
use crate::analysis::compare::{self, Comparison, Tolerances};
use crate::analysis::samples::SampleTable;
use crate::cli::plan::{BaselineChoice, ComparePlan};
use crate::report::{ExportContext, ExportError, derived_exporters, write_with};
use crate::runfolder::baseline::{self, Baseline, BaselineError};
use crate::runfolder::samples::read_samples;
use crate::runfolder::{FinishedRun, FolderError, RunFolder};

/// Why a comparison could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    /// The run folder could not be read or written.
    #[error(transparent)]
    Folder(#[from] FolderError),
    /// The baseline could not be read.
    #[error(transparent)]
    Baseline(#[from] BaselineError),
    /// A report file could not be written.
    #[error(transparent)]
    Export(#[from] ExportError),
}

/// `memsoak compare`.
pub fn compare(plan: &ComparePlan) -> Result<i32> {
    compare_folder(&plan.run_dir, &plan.baseline, plan.quiet).map_err(fail)
}

/// Read the baseline `choice` names (before a run, to fail early): its
/// statistics and its samples file, if it kept one.
pub fn load_baseline(
    choice: &BaselineChoice,
) -> Result<(Baseline, Option<std::path::PathBuf>, String), BaselineError> {
    let dir = baseline::resolve(&choice.spec, &choice.root)?;
    let (b, samples) = baseline::load(&dir)?;
    Ok((b, samples, dir.display().to_string()))
}

/// Compare the run folder `dir` with a baseline, write `compare.json` and
/// re-render the folder's files with the comparison; returns the
/// comparison's exit code.
pub fn compare_folder(
    dir: &Path,
    choice: &BaselineChoice,
    quiet: bool,
) -> Result<i32, CompareError> {
    let run = RunFolder::load(dir)?;
    let (c, base_samples) = judge(&run, choice)?;
    render(&run, Some(&c), base_samples.as_ref())?;
    if !quiet {
        print_comparison(&c);
    }
    Ok(c.exit_code)
}

/// Compare a loaded run with a baseline and write `compare.json`. Returns
/// the comparison and the baseline's samples (for the chart).
pub fn judge(
    run: &FinishedRun,
    choice: &BaselineChoice,
) -> Result<(Comparison, Option<SampleTable>), CompareError> {
    let current = baseline::from_run(run.folder.dir(), "this run")?;
    let (base, samples, bdir) = load_baseline(choice)?;
    let base_samples = samples.and_then(|p| read_samples(&p).ok());
    // NOTE: growth below the run's own materiality floor (--min-growth) is
    // no regression either.
    let tolerances = Tolerances {
        floor: run.report.min_growth,
        ..choice.tolerances
    };
    let c = compare::compare(&current.side, &base.side, &bdir, &tolerances);
    run.folder.write_comparison(&c)?;
    Ok((c, base_samples))
}

/// Re-render the derived files of a run folder (everything but
/// `report.json`, which stays as the run wrote it), with a comparison if
/// any. Returns the files written.
pub fn render(
    run: &FinishedRun,
    comparison: Option<&Comparison>,
    baseline_samples: Option<&SampleTable>,
) -> Result<Vec<std::path::PathBuf>, ExportError> {
    let ctx = ExportContext {
        samples: Some(&run.samples),
        run: run.meta.as_ref(),
        comparison,
        baseline_samples,
        processes: run.processes.as_ref(),
        ..ExportContext::new(&run.report)
    };
    write_with(&ctx, &run.folder, &derived_exporters())
}

/// The comparison's outcome on stderr, one line per metric.
pub fn print_comparison(c: &Comparison) {
    eprintln!(
        "memsoak: {} against baseline {} (exit {})",
        if c.regression {
            "REGRESSION"
        } else {
            "no regression"
        },
        c.baseline.name,
        c.exit_code
    );
    for m in &c.metrics {
        eprintln!(
            "  {} {}: {}",
            m.metric,
            if m.regression { "REGRESSED" } else { "ok" },
            m.note
        );
    }
    for w in &c.warnings {
        eprintln!("  note: {w}");
    }
}
