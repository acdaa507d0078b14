//! `memsoak compare RUN_DIR --baseline NAME|DIR`: the regression verdict of
//! a run against a baseline (exit 1 on a regression, 0 otherwise). Writes
//! `compare.json` and adds the comparison to the folder's charts,
//! `summary.md`, `junit.xml` and `report.html`.

use std::path::Path;

use anyhow::Result;

use super::{Concluded, fail};
use crate::analysis::compare::{self, Comparison, Tolerances};
use crate::analysis::samples::SampleTable;
use crate::analysis::verdict::Verdict;
use crate::cli::exit;
use crate::cli::plan::{BaselineChoice, ComparePlan};
use crate::report::{ExportContext, ExportError, all_exporters, derived_exporters, write_with};
use crate::runfolder::baseline::{self, Baseline, BaselineError};
use crate::runfolder::samples::read_samples;
use crate::runfolder::{FinishedRun, FolderError, Regression, RunFolder};

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
    /// The run, or the comparison, leaves nothing to judge: a run that
    /// ended in error, or no metric set against the baseline.
    #[error("{0}")]
    Nothing(String),
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
        print_comparison(&c, Some(c.exit_code));
    }
    Ok(c.exit_code)
}

/// `run --baseline`: compare the run that just wrote its folder (and
/// would exit `done.code`, 0 or 1) with the baseline, record the outcome
/// in the run's own files, then print the run's one closing line: a
/// regression fails the run (verdict `fail`, exit 1, `regression` in
/// `report.json`, named on the closing line), a comparison that could not
/// be made makes it an error (exit 2, the reason in `errors`). Returns the
/// exit code the run's files now hold.
pub(super) fn gate_run(mut done: Concluded, choice: &BaselineChoice) -> i32 {
    let code = done.code;
    let mut run = match RunFolder::load(&done.dir) {
        Ok(run) => run,
        Err(e) => {
            let r = &mut done.report;
            r.verdict = Verdict::Error;
            r.exit_code = exit::USAGE;
            r.errors.push(format!("comparing with the baseline: {e}"));
            done.code = exit::USAGE;
            return done.close();
        }
    };
    let (comparison, base_samples, failed) = match judge(&run, choice) {
        Ok((c, s)) => (Some(c), s, None),
        Err(e) => (None, None, Some(e.to_string())),
    };
    let report = &mut run.report;
    match (&comparison, failed) {
        (Some(c), _) if c.regression => {
            report.regression = Regression::from_comparison(c);
            if report.verdict == Verdict::Pass {
                report.verdict = Verdict::Fail;
            }
            report.exit_code = code.max(exit::BREACH);
        }
        (Some(_), _) => report.exit_code = code,
        (None, why) => {
            report.verdict = Verdict::Error;
            report.exit_code = exit::USAGE;
            report.errors.push(format!(
                "comparing with the baseline: {}",
                why.unwrap_or_default()
            ));
        }
    }
    let ctx = ExportContext {
        samples: Some(&run.samples),
        run: run.meta.as_ref(),
        comparison: comparison.as_ref(),
        baseline_samples: base_samples.as_ref(),
        processes: run.processes.as_ref(),
        ..ExportContext::new(&run.report)
    };
    let mut code = run.report.exit_code;
    if let Err(e) = write_with(&ctx, &run.folder, &all_exporters()) {
        eprintln!(
            "memsoak: error: writing the report in {}: {e}",
            run.folder.dir().display()
        );
        code = code.max(exit::USAGE);
    }
    if let Some(c) = comparison.as_ref().filter(|_| !done.quiet) {
        print_comparison(c, Some(code));
    }
    // NOTE: the closing line comes last, after the comparison: it states
    // the verdict that stands (a regression, or why no comparison was made;
    // with -q too). A run's own PASS printed first, then a FAIL below it,
    // read as a pass to a user and to a grep of the log.
    Concluded {
        report: run.report,
        code,
        ..done
    }
    .close()
}

/// Compare a loaded run with a baseline and write `compare.json`. Returns
/// the comparison and the baseline's samples (for the chart).
pub fn judge(
    run: &FinishedRun,
    choice: &BaselineChoice,
) -> Result<(Comparison, Option<SampleTable>), CompareError> {
    let r = &run.report;
    if r.verdict == Verdict::Error {
        let why = r
            .errors
            .first()
            .map_or(String::new(), |e| format!(" ({e})"));
        return Err(CompareError::Nothing(format!(
            "{}: the run ended in error (exit {}){why}: nothing to compare",
            run.folder.dir().display(),
            r.exit_code
        )));
    }
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
    if let Some(why) = c.nothing_compared() {
        return Err(CompareError::Nothing(format!(
            "{}: {why}",
            run.folder.dir().display()
        )));
    }
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

/// The comparison's outcome on stderr, one line per metric. `exit`: the
/// exit code the process returns, when this comparison decides it (`None`
/// for `report`, which does not gate).
pub fn print_comparison(c: &Comparison, exit: Option<i32>) {
    eprintln!(
        "memsoak: {} against baseline {}{}",
        if c.regression {
            "REGRESSION"
        } else {
            "no regression"
        },
        c.baseline.name,
        match exit {
            Some(e) => format!(" (exit {e})"),
            None if c.regression => {
                " (not gated here: `memsoak compare` exits 1 on a regression)".into()
            }
            None => String::new(),
        }
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
