//! `memsoak analyze`: the analysis of a run folder's (or any)
//! `samples.csv`, again.

use anyhow::Result;

use super::{fail, one_line};
use crate::analysis::samples::SampleTable;
use crate::analysis::threshold;
use crate::analysis::verdict::verdict;
use crate::analysis::{Analysis, AnalysisOptions};
use crate::cli::exit;
use crate::cli::plan::AnalyzePlan;
use crate::report::markdown::Markdown;
use crate::runfolder::samples::read_samples;
use crate::runfolder::{Report, RunFolder, SAMPLES_CSV, SCHEMA_VERSION};

/// `memsoak analyze RUN_DIR | SAMPLES.csv`: analyse the samples again
/// with the thresholds, warm-up, confidence and floor given (each one not
/// given: the run's own, from its run.json, else the default), print the
/// summary, and exit as a run with those settings would have.
pub fn analyze(plan: AnalyzePlan) -> Result<i32> {
    let table = read_samples(&plan.samples).map_err(fail)?;
    if table.is_empty() {
        return Err(fail(format!(
            "{}: no samples to analyse",
            plan.samples.display()
        )));
    }
    let analysis = analyze_table(&table, &plan);
    // NOTE: a run folder's per-process readings can still name the one
    // process of the tree that grew.
    let processes = match &plan.run_dir {
        Some(d) => RunFolder::at(d).read_processes().map_err(fail)?,
        None => None,
    };
    let mut notes = Vec::new();
    if analysis.dropped_rows > 0 {
        notes.push(format!(
            "{} cut row(s) dropped from {SAMPLES_CSV}",
            analysis.dropped_rows
        ));
    }
    let mut report = judged(analysis, &plan, "analyze", notes);
    // NOTE: the run's cgroup (its limit) keeps the limit's projection.
    report.cgroup = plan
        .run_dir
        .as_ref()
        .and_then(|d| RunFolder::at(d).read_report().ok())
        .and_then(|r| r.cgroup);
    // NOTE: a run killed halfway kept the snapshots it took.
    if let Some(d) = &plan.run_dir {
        super::attribute(&mut report, &RunFolder::at(d), super::PprofWrite::IfMissing);
    }
    let report = report.with_insights(Some(&table), processes.as_ref());
    if !plan.quiet {
        print!("{}", Markdown.report_text(&report));
        eprintln!("{}", one_line(&report));
    } else {
        // NOTE: --quiet silences the summary, never the reason for exit 2.
        for e in &report.errors {
            eprintln!("memsoak: error: {e}");
        }
    }
    Ok(report.exit_code)
}

/// The analysis of `table` with `plan`'s settings (its thresholds, else
/// the defaults for the metrics it holds).
pub(super) fn analyze_table(table: &SampleTable, plan: &AnalyzePlan) -> Analysis {
    let thresholds = if plan.thresholds.is_empty() {
        threshold::defaults(&table.metrics)
    } else {
        plan.thresholds.clone()
    };
    crate::analysis::analyze(
        table,
        &AnalysisOptions {
            warmup: plan.warmup,
            confidence: plan.confidence,
            thresholds,
            min_growth: plan.min_growth,
        },
    )
}

/// The report of an analysis made again (`mode`: `analyze`, `prometheus`),
/// judged by its thresholds alone.
pub(super) fn judged(
    analysis: Analysis,
    plan: &AnalyzePlan,
    mode: &str,
    notes: Vec<String>,
) -> Report {
    let verdict = verdict(&analysis, false);
    Report {
        schema_version: SCHEMA_VERSION,
        verdict,
        exit_code: exit::code(verdict, None, None),
        interrupted: false,
        ended_by: "analyze".into(),
        mode: mode.into(),
        warmup: plan.warmup.text(),
        confidence: plan.confidence,
        min_growth: plan.min_growth,
        backend: None,
        workload: None,
        replay: None,
        target: None,
        fail_fast: None,
        backend_errors: 0,
        errors: analysis.unjudged_errors(),
        notes,
        analysis,
        classification: None,
        projection: None,
        cgroup: None,
        series: vec![],
        attribution: None,
        regression: None,
    }
}
