//! `memsoak analyze`: the analysis of a run folder's (or any)
//! `samples.csv`, again.

use anyhow::Result;

use super::{fail, one_line};
use crate::analysis::samples::SampleTable;
use crate::analysis::threshold::{self, Stat};
use crate::analysis::verdict::{Verdict, verdict};
use crate::analysis::{Analysis, AnalysisOptions};
use crate::cli::exit;
use crate::cli::plan::AnalyzePlan;
use crate::report::markdown::Markdown;
use crate::runfolder::samples::read_samples;
use crate::runfolder::{RUN_JSON, Report, RunFolder, SAMPLES_CSV, SCHEMA_VERSION};
use crate::sample::Metric;
use crate::soak::signals::Interrupt;

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
    unjudgeable(&table, &plan).map_err(fail)?;
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
    let run = plan
        .run_dir
        .as_ref()
        .and_then(|d| RunFolder::at(d).read_report().ok());
    if let Some(run) = run {
        carry_end(&mut report, &run);
        // NOTE: the run's cgroup (its limit) keeps the limit's projection.
        report.cgroup = run.cgroup;
    }
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

/// Carry how the run itself ended (its `report.json`, `run`) into its
/// report made again: an interrupted run stays interrupted (its signal's
/// exit code, headline `INTERRUPTED, PASS so far`), and one whose target or
/// backend failed stays an error, exit 3, with the failure's line first.
/// `analyze` judges the samples again; how the run ended is not its to
/// change: a crashed target's run (exit 3) read a bare PASS, exit 0.
fn carry_end(report: &mut Report, run: &Report) {
    let interrupt = run.interrupted.then(|| {
        [Interrupt::Int, Interrupt::Term, Interrupt::Hup]
            .into_iter()
            .find(|i| i.exit_code() == run.exit_code)
            .unwrap_or(Interrupt::Int)
    });
    // NOTE: a run's failure is the first of its errors (before the limits
    // it left unjudged), and only a target's or backend's is exit 3.
    let failure = (interrupt.is_none() && run.exit_code == exit::TARGET).then(|| {
        run.errors
            .first()
            .cloned()
            .unwrap_or_else(|| format!("the run ended by {}", run.ended_by))
    });
    if interrupt.is_none() && failure.is_none() {
        return;
    }
    report.ended_by.clone_from(&run.ended_by);
    report.interrupted = interrupt.is_some();
    report.target.clone_from(&run.target);
    if let Some(why) = &failure {
        report.verdict = Verdict::Error;
        report.errors.insert(0, why.clone());
    }
    report.exit_code = exit::code(report.verdict, failure.map(|_| exit::TARGET), interrupt);
}

/// Why `table` cannot be judged with `plan`'s thresholds, if so; each way
/// the gate would pass on nothing judged (`analyze` of a file with no
/// memory column, or of `sys_available` alone, passed, exit 0):
/// - the file has no memory column at all;
/// - a `-t` threshold would be skipped: its metric has no column, or no
///   reading, in the file;
/// - a `slope_per_1k` limit (given, or the run's own) where the file
///   counts no items (a `watch` without `--items-file`);
/// - no threshold in force (the `-t` ones, else the run's own, else the
///   defaults) judges any of its columns: `sys_available` alone has no
///   default threshold.
///
/// The run's own thresholds are otherwise skipped as the run skipped them
/// (`vram` on a machine with no GPU).
pub(super) fn unjudgeable(table: &SampleTable, plan: &AnalyzePlan) -> Result<(), String> {
    let file = plan.samples.display();
    if table.metrics.is_empty() {
        return Err(format!(
            "{file}: no memory column (only t_s and items): nothing to judge; \
             a samples file holds t_s,items,<metric>... (rss, pss, heap, ...)"
        ));
    }
    let read = |m: Metric| {
        table
            .column(m)
            .is_some_and(|c| c.iter().any(|v| v.is_finite()))
    };
    for t in &plan.thresholds {
        let why = if plan.thresholds_given && table.column(t.metric).is_none() {
            format!("has no `{}` column", t.metric)
        } else if plan.thresholds_given && !read(t.metric) {
            format!("has no reading of `{}` (its column is empty)", t.metric)
        } else if t.stat == Stat::SlopePer1k && !table.has_items() {
            // NOTE: the run's own too: a run with this limit and nothing
            // counting items is refused now (`watch` without --items-file).
            "counts no items (its items column is empty: a watch without --items-file), \
             so there is no drift per item to fit"
                .into()
        } else {
            continue;
        };
        let whose = if plan.thresholds_given {
            format!("-t {t}")
        } else {
            format!("{t} (the run's own, from {RUN_JSON}; -t replaces it)")
        };
        return Err(format!(
            "{whose}: {file} {why}: that limit would never be judged (it holds {})",
            names(&table.metrics)
        ));
    }
    let defaults;
    let in_force = if plan.thresholds.is_empty() {
        defaults = threshold::defaults(&table.metrics);
        &defaults
    } else {
        &plan.thresholds
    };
    // NOTE: a column present but empty is the analysis's to name: an
    // empty `rss` is a target gone before the first sample (exit 2 too).
    if in_force.iter().any(|t| table.column(t.metric).is_some()) {
        return Ok(());
    }
    let m = table.metrics[0];
    let example = threshold::example_for(m);
    let by = if plan.thresholds.is_empty() {
        "no default threshold judges".to_string()
    } else {
        let list: Vec<&str> = in_force.iter().map(|t| t.expr.as_str()).collect();
        format!(
            "the run's own thresholds ({}) judge none of",
            list.join(", ")
        )
    };
    Err(format!(
        "{file}: {by} its columns ({}): give -t (e.g. {example})",
        names(&table.metrics)
    ))
}

/// Metric names, comma-separated.
fn names(metrics: &[Metric]) -> String {
    metrics
        .iter()
        .map(|m| m.name())
        .collect::<Vec<_>>()
        .join(", ")
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
            swap_total: plan.swap_total,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::Warmup;

    fn plan(thresholds: &[&str], given: bool) -> AnalyzePlan {
        AnalyzePlan {
            samples: "run/samples.csv".into(),
            run_dir: None,
            warmup: Warmup::Auto,
            confidence: 0.95,
            thresholds: thresholds.iter().map(|t| t.parse().unwrap()).collect(),
            thresholds_given: given,
            min_growth: crate::analysis::DEFAULT_MIN_GROWTH,
            swap_total: None,
            quiet: true,
        }
    }

    /// 60 rows of `metrics`, items counted or not.
    fn table(metrics: &[Metric], items: bool) -> SampleTable {
        let mut t = SampleTable::new(metrics.to_vec());
        for i in 0..60u64 {
            let row: Vec<Option<u64>> = metrics.iter().map(|_| Some(1 << 27)).collect();
            t.push(i as f64, items.then_some(i * 10), &row);
        }
        t
    }

    #[test]
    fn the_runs_own_limits_are_skipped_as_the_run_skipped_them_unless_none_is_judged() {
        // Regression: `analyze it8`, a watch recorded with heap.slope alone,
        // passed on nothing judged; `analyze it4` (rss.slope_per_1k and
        // rss.max, no items) passed on the max while rss grew 58.6 MiB/min.
        let rss = table(&[Metric::Rss, Metric::SysAvailable], false);
        let e = unjudgeable(&rss, &plan(&["heap.slope<1MiB/min"], false)).unwrap_err();
        assert_eq!(
            e,
            "run/samples.csv: the run's own thresholds (heap.slope<1MiB/min) judge none of its columns (rss, sys_available): give -t (e.g. rss.slope<2MiB/min)"
        );
        let e = unjudgeable(
            &rss,
            &plan(&["rss.slope_per_1k<64KiB", "rss.max<1GiB"], false),
        )
        .unwrap_err();
        assert!(
            e.starts_with("rss.slope_per_1k<64KiB (the run's own, from run.json; -t replaces it): run/samples.csv counts no items"),
            "{e}"
        );
        // A run's own limit on a metric this machine lacked (no GPU) is
        // skipped as the run skipped it, beside one that is judged.
        assert_eq!(
            unjudgeable(&rss, &plan(&["vram.slope<1MiB/min", "rss.max<1GiB"], false)),
            Ok(())
        );
        // Typed, the same limit is refused: it asks for what is not there.
        let e =
            unjudgeable(&rss, &plan(&["vram.slope<1MiB/min", "rss.max<1GiB"], true)).unwrap_err();
        assert!(
            e.starts_with("-t vram.slope<1MiB/min: run/samples.csv has no `vram` column"),
            "{e}"
        );
        // Items counted: the per-1k limit is judged.
        let counted = table(&[Metric::Rss], true);
        assert_eq!(
            unjudgeable(&counted, &plan(&["rss.slope_per_1k<64KiB"], true)),
            Ok(())
        );
        // The defaults judge rss; none judges sys_available alone.
        assert_eq!(unjudgeable(&rss, &plan(&[], false)), Ok(()));
        let e = unjudgeable(&table(&[Metric::SysAvailable], true), &plan(&[], false)).unwrap_err();
        assert!(
            e.contains("no default threshold judges its columns (sys_available)"),
            "{e}"
        );
        let e = unjudgeable(&table(&[], true), &plan(&[], false)).unwrap_err();
        assert!(e.starts_with("run/samples.csv: no memory column"), "{e}");
    }

    /// The report of `table` judged again with `thresholds`.
    fn again(table: &SampleTable, thresholds: &[&str]) -> Report {
        let p = plan(thresholds, true);
        judged(analyze_table(table, &p), &p, "analyze", vec![])
    }

    #[test]
    fn a_crashed_or_interrupted_run_keeps_its_end_when_judged_again() {
        // Regression: `analyze` of a run whose target exited with status 7
        // (exit 3), and of one interrupted by SIGINT (exit 130), printed a
        // bare PASS, exit 0, "ended by analyze".
        let t = table(&[Metric::Rss], false);
        let mut crashed = again(&t, &["rss.max<1GiB"]);
        crashed.verdict = Verdict::Error;
        crashed.exit_code = exit::TARGET;
        crashed.ended_by = "target_failed".into();
        crashed.errors = vec!["target exited with status 7".into()];
        let mut r = again(&t, &["rss.max<1GiB"]);
        assert_eq!((r.verdict, r.exit_code), (Verdict::Pass, exit::PASS));
        carry_end(&mut r, &crashed);
        assert_eq!((r.verdict, r.exit_code), (Verdict::Error, exit::TARGET));
        assert_eq!(r.ended_by, "target_failed");
        assert_eq!(r.errors, ["target exited with status 7"]);
        assert_eq!(r.headline(), "ERROR");

        for (code, sig) in [
            (130, Interrupt::Int),
            (143, Interrupt::Term),
            (129, Interrupt::Hup),
        ] {
            let mut stopped = again(&t, &["rss.max<1GiB"]);
            stopped.interrupted = true;
            stopped.exit_code = code;
            stopped.ended_by = "interrupted".into();
            // Judged again, a breach stays a breach, and the run's signal
            // stays its exit code, as the run's own report had it.
            let mut r = again(&t, &["rss.max<1MiB"]);
            carry_end(&mut r, &stopped);
            assert_eq!(r.exit_code, sig.exit_code());
            assert!(r.interrupted);
            assert_eq!(r.headline(), "INTERRUPTED, FAIL so far");
            assert_eq!(r.ended_by, "interrupted");
        }

        // A run that ended by itself is judged on its samples alone.
        let mut done = again(&t, &["rss.max<1MiB"]);
        done.ended_by = "duration".into();
        let mut r = again(&t, &["rss.max<1GiB"]);
        carry_end(&mut r, &done);
        assert_eq!((r.verdict, r.exit_code), (Verdict::Pass, exit::PASS));
        assert_eq!(r.ended_by, "analyze");
    }
}
