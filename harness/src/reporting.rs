//! The commands that work on a finished run folder: `memsoak report`
//! (re-render its charts, HTML, Markdown and JUnit), `memsoak compare`
//! (regression verdict against a baseline) and `memsoak baseline save`.
//!
//! Each takes a plan of plain values (validated here from the strings the
//! user typed) and returns the exit code; an `Err` is a usage or input error
//! (exit code 2), one line naming what was wrong.

use std::path::{Path, PathBuf};

use crate::baseline::{self, BaselineError};
use crate::compare::{self, Comparison, Tolerances};
use crate::record::read_samples;
use crate::report::folder::{FolderError, RunFolder};
use crate::report::{self, ExportContext, ExportError};

/// Why a command on a run folder could not run.
#[derive(Debug, thiserror::Error)]
pub enum ReportingError {
    /// A flag's value is invalid.
    #[error("{0}")]
    Flag(String),
    /// The run folder could not be read.
    #[error(transparent)]
    Folder(#[from] FolderError),
    /// The baseline could not be read or saved.
    #[error(transparent)]
    Baseline(#[from] BaselineError),
    /// A file could not be written.
    #[error(transparent)]
    Export(#[from] ExportError),
}

/// Parse `--slope-tolerance` (a rate, `1MiB/min`) and `--max-tolerance`
/// (a percentage, `10%`); `None` takes the default.
pub fn tolerances(slope: Option<&str>, max: Option<&str>) -> Result<Tolerances, ReportingError> {
    let mut t = Tolerances::default();
    if let Some(s) = slope {
        let (bps, _) = crate::units::parse_rate(s)
            .map_err(|e| ReportingError::Flag(format!("--slope-tolerance: {e}")))?;
        t.slope_per_min = bps * 60.0;
    }
    if let Some(m) = max {
        t.max_relative = crate::units::parse_percent(m)
            .map_err(|e| ReportingError::Flag(format!("--max-tolerance: {e}")))?;
    }
    Ok(t)
}

/// Where the baseline comes from and how it is judged.
#[derive(Debug, Clone)]
pub struct BaselineChoice {
    /// `NAME` (under `root`) or a folder.
    pub spec: String,
    /// The baselines folder (`baselines/`).
    pub root: PathBuf,
    /// Tolerances.
    pub tolerances: Tolerances,
}

/// A validated `memsoak report`.
#[derive(Debug, Clone)]
pub struct ReportPlan {
    /// The run folder.
    pub run_dir: PathBuf,
    /// A baseline to compare with, if any.
    pub baseline: Option<BaselineChoice>,
    /// Print nothing but errors.
    pub quiet: bool,
}

/// A validated `memsoak compare`.
#[derive(Debug, Clone)]
pub struct ComparePlan {
    /// The run folder.
    pub run_dir: PathBuf,
    /// The baseline.
    pub baseline: BaselineChoice,
    /// Print nothing but errors.
    pub quiet: bool,
}

/// A validated `memsoak baseline save`.
#[derive(Debug, Clone)]
pub struct SavePlan {
    /// The run folder to promote.
    pub run_dir: PathBuf,
    /// The baseline's name.
    pub name: String,
    /// The baselines folder.
    pub root: PathBuf,
    /// Replace an existing baseline of that name.
    pub force: bool,
    /// Print nothing but errors.
    pub quiet: bool,
}

/// Compare a loaded run folder with a baseline; write `compare.json`.
/// Returns the comparison and the baseline's samples (for the chart).
fn compare_folder(
    folder: &RunFolder,
    choice: &BaselineChoice,
) -> Result<(Comparison, Option<crate::record::SampleTable>), ReportingError> {
    let current = baseline::from_run(&folder.dir, "this run")?;
    let bdir = baseline::resolve(&choice.spec, &choice.root)?;
    let (base, samples) = baseline::load(&bdir)?;
    let base_samples = samples.and_then(|p| read_samples(&p).ok());
    // NOTE: growth below the run's own materiality floor (--min-growth) is
    // no regression either.
    let tolerances = Tolerances {
        floor: folder.report.min_growth,
        ..choice.tolerances
    };
    let c = compare::compare(&current, &base, &bdir.display().to_string(), &tolerances);
    let mut text = serde_json::to_string_pretty(&c).unwrap_or_default();
    text.push('\n');
    report::write_atomic(&folder.dir, "compare.json", text.as_bytes())?;
    Ok((c, base_samples))
}

/// The comparison an earlier `memsoak compare` (or `run --baseline`) left
/// in the folder's `compare.json`, with the baseline's samples when its
/// folder is still there (for the chart). `None` when there is none.
fn previous_comparison(
    folder: &RunFolder,
) -> Result<Option<(Comparison, Option<crate::record::SampleTable>)>, ReportingError> {
    let path = folder.dir.join("compare.json");
    if !path.is_file() {
        return Ok(None);
    }
    let bad = |why: String| FolderError::Read {
        path: path.clone(),
        why,
    };
    let text = std::fs::read_to_string(&path).map_err(|e| bad(e.to_string()))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| bad(format!("invalid JSON: {e}")))?;
    if value.get("schema_version").and_then(|v| v.as_u64())
        != Some(u64::from(compare::COMPARE_SCHEMA_VERSION))
    {
        return Err(bad(format!(
            "not a memsoak comparison of schema_version {}",
            compare::COMPARE_SCHEMA_VERSION
        ))
        .into());
    }
    let c: Comparison =
        serde_json::from_value(value).map_err(|e| bad(format!("not a comparison: {e}")))?;
    let samples = baseline::load(Path::new(&c.baseline.dir))
        .ok()
        .and_then(|(_, p)| p)
        .and_then(|p| read_samples(&p).ok());
    Ok(Some((c, samples)))
}

/// Re-render the derived files of a run folder, with a comparison if any.
fn render_folder(
    folder: &RunFolder,
    comparison: Option<&Comparison>,
    baseline_samples: Option<&crate::record::SampleTable>,
) -> Result<Vec<PathBuf>, ReportingError> {
    let ctx = ExportContext {
        samples: Some(&folder.samples),
        run: folder.run.as_ref(),
        comparison,
        baseline_samples,
        processes: folder.processes.as_ref(),
        ..ExportContext::new(&folder.report)
    };
    Ok(report::write_with(
        &ctx,
        &folder.dir,
        &report::derived_exporters(),
    )?)
}

fn print_comparison(c: &Comparison) {
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

/// `memsoak report RUN_DIR [--baseline NAME|DIR]`: re-render charts,
/// `report.html`, `summary.md` and `junit.xml` (not `report.json`, which
/// stays as the run wrote it). Without `--baseline`, a comparison already
/// in the folder (`compare.json`) is kept in them. Exit code 0 once written.
pub fn cmd_report(plan: &ReportPlan) -> Result<i32, ReportingError> {
    let folder = RunFolder::load(&plan.run_dir)?;
    let (comparison, base_samples) = match &plan.baseline {
        Some(choice) => {
            let (c, s) = compare_folder(&folder, choice)?;
            (Some(c), s)
        }
        None => match previous_comparison(&folder)? {
            Some((c, s)) => {
                if !plan.quiet {
                    eprintln!(
                        "memsoak: keeping the comparison with baseline {} from compare.json",
                        c.baseline.name
                    );
                }
                (Some(c), s)
            }
            None => (None, None),
        },
    };
    let written = render_folder(&folder, comparison.as_ref(), base_samples.as_ref())?;
    if !plan.quiet {
        if let Some(c) = &comparison {
            print_comparison(c);
        }
        eprintln!(
            "memsoak: wrote {} file(s) in {}",
            written.len(),
            plan.run_dir.display()
        );
    }
    Ok(0)
}

/// `memsoak compare RUN_DIR --baseline NAME|DIR`: exit 1 on a regression,
/// 0 otherwise. Writes `compare.json`, the comparison charts, and adds the
/// comparison to `summary.md`, `junit.xml` and `report.html`.
pub fn cmd_compare(plan: &ComparePlan) -> Result<i32, ReportingError> {
    let folder = RunFolder::load(&plan.run_dir)?;
    let (c, base_samples) = compare_folder(&folder, &plan.baseline)?;
    render_folder(&folder, Some(&c), base_samples.as_ref())?;
    if !plan.quiet {
        print_comparison(&c);
    }
    Ok(c.exit_code)
}

/// `memsoak baseline save RUN_DIR --name NAME`.
pub fn cmd_save(plan: &SavePlan) -> Result<i32, ReportingError> {
    let (b, dir) = baseline::save(&plan.run_dir, &plan.name, &plan.root, plan.force)?;
    if !plan.quiet {
        if b.verdict.as_deref() == Some("fail") {
            eprintln!(
                "memsoak: warning: {} failed its thresholds; saved as a baseline anyway",
                plan.run_dir.display()
            );
        }
        eprintln!("memsoak: baseline {} saved in {}", b.name, dir.display());
    }
    Ok(0)
}

/// The default baselines folder.
pub fn default_root() -> PathBuf {
    Path::new(baseline::DEFAULT_ROOT).to_path_buf()
}

fn choice(spec: String, t: &crate::cli::ToleranceArgs) -> Result<BaselineChoice, ReportingError> {
    Ok(BaselineChoice {
        spec,
        root: t.baselines_dir.clone().unwrap_or_else(default_root),
        tolerances: tolerances(t.slope_tolerance.as_deref(), t.max_tolerance.as_deref())?,
    })
}

impl ReportPlan {
    /// Validate `memsoak report`'s flags.
    pub fn from_args(a: &crate::cli::ReportArgs) -> Result<Self, ReportingError> {
        Ok(ReportPlan {
            run_dir: a.run_dir.clone(),
            baseline: a
                .baseline
                .clone()
                .map(|b| choice(b, &a.tolerance))
                .transpose()?,
            quiet: a.quiet,
        })
    }
}

impl ComparePlan {
    /// Validate `memsoak compare`'s flags.
    pub fn from_args(a: &crate::cli::CompareArgs) -> Result<Self, ReportingError> {
        Ok(ComparePlan {
            run_dir: a.run_dir.clone(),
            baseline: choice(a.baseline.clone(), &a.tolerance)?,
            quiet: a.quiet,
        })
    }
}

impl SavePlan {
    /// Validate `memsoak baseline save`'s flags.
    pub fn from_args(a: &crate::cli::BaselineSaveArgs) -> Self {
        SavePlan {
            run_dir: a.run_dir.clone(),
            name: a.name.clone(),
            root: a.baselines_dir.clone().unwrap_or_else(default_root),
            force: a.force,
            quiet: a.quiet,
        }
    }
}

/// Run `report`, `compare` or `baseline save` (any other command is not
/// this module's and is refused).
pub fn dispatch(cmd: crate::cli::Command) -> Result<i32, ReportingError> {
    use crate::cli::{BaselineCommand, Command};
    match cmd {
        Command::Report(a) => cmd_report(&ReportPlan::from_args(&a)?),
        Command::Compare(a) => cmd_compare(&ComparePlan::from_args(&a)?),
        Command::Baseline(BaselineCommand::Save(a)) => cmd_save(&SavePlan::from_args(&a)),
        _ => Err(ReportingError::Flag(
            "not a run-folder command (report, compare, baseline)".into(),
        )),
    }
}

/// `memsoak run --baseline NAME|DIR`: run (with `run`, the plain `memsoak
/// run`), then compare the run folder with the baseline. The baseline and
/// tolerances are checked before anything runs. A run that was judged (exit
/// 0 or 1) takes the worse of its own and the comparison's exit codes; any
/// other ending (error, target failure, signal) keeps its own.
pub fn run_then_compare(
    a: &crate::cli::RunArgs,
    run: impl FnOnce(crate::options::RunPlan) -> anyhow::Result<i32>,
) -> anyhow::Result<i32> {
    let usage = |e: &dyn std::fmt::Display| anyhow::anyhow!(crate::app::UsageError(e.to_string()));
    let mut plan = crate::options::run_plan(a).map_err(|e| usage(&e))?;
    let Some(spec) = a.baseline.clone() else {
        return run(plan);
    };
    let choice = choice(spec, &a.tolerance).map_err(|e| usage(&e))?;
    baseline::resolve(&choice.spec, &choice.root)
        .and_then(|d| baseline::load(&d))
        .map_err(|e| usage(&e))?;
    // NOTE: the comparison needs the run folder, so the default one is
    // named here, as `run` would name it.
    let dir = plan
        .soak
        .out
        .get_or_insert_with(|| {
            crate::runfolder::default_dir(&plan.workload.name(), plan.backend.name())
        })
        .clone();
    let quiet = plan.soak.quiet;
    let code = run(plan)?;
    if code > 1 {
        return Ok(code);
    }
    let compared = cmd_compare(&ComparePlan {
        run_dir: dir,
        baseline: choice,
        quiet,
    });
    Ok(match compared {
        Ok(c) => code.max(c),
        Err(e) => {
            eprintln!("memsoak: error: comparing with the baseline: {e}");
            crate::session::exit::USAGE
        }
    })
}
