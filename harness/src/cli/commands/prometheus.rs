//! `memsoak analyze --prometheus URL --query PROMQL (--range 6h | --start T
//! --end T) [--step 15s]`: Prometheus as the source. Each series the query
//! returns (one label set: a pod, a run, a canary) is judged alone with the
//! same warm-up, drift and thresholds as a run folder's samples; the report
//! files list them all (`report.json`'s `series`, one row of `summary.md`
//! and one suite of `junit.xml` per series) and the exit code is the worst.

use anyhow::Result;

use super::analyze::{analyze_table, judged};
use super::fail;
use crate::analysis::samples::SampleTable;
use crate::analysis::verdict::worst;
use crate::cli::exit;
use crate::cli::plan::PrometheusPlan;
use crate::promql::{Series, infer_metric, query_range};
use crate::report::bencher;
use crate::report::fleet::{FleetRow, junit_xml, summary_md};
use crate::runfolder::{BENCHER_JSON, JUNIT_XML, Report, RunFolder, SUMMARY_MD, SeriesReport};
use crate::sample::Metric;

/// A series with fewer points than this is skipped (and named): nothing
/// can be fitted after a warm-up cut.
pub const MIN_POINTS: usize = 10;

/// One series read into a sample table of one column, times from its
/// first point.
fn table(s: &Series, metric: Metric) -> SampleTable {
    let t0 = s.t.first().copied().unwrap_or(0.0);
    SampleTable {
        metrics: vec![metric],
        t: s.t.iter().map(|t| t - t0).collect(),
        items: vec![f64::NAN; s.t.len()],
        values: vec![s.y.clone()],
        dropped_rows: 0,
    }
}

/// Why the query's series cannot all be judged, if so: a `-t` threshold
/// on a metric that no series with enough points measures (it would be
/// skipped in every one: a floor on `sys_available` over series read as
/// `rss` was), or such a series that no threshold judges (no `-t` on its
/// metric, and none by default: `node_memory_MemAvailable_bytes` read as
/// `sys_available`, or cAdvisor's working set). Either way the gate
/// would pass on nothing judged.
fn unjudgeable(series: &[Series], plan: &PrometheusPlan) -> Result<(), String> {
    let q = &plan.query.query;
    let fitted: Vec<(&Series, Metric)> = series
        .iter()
        .filter(|s| s.t.len() >= MIN_POINTS)
        .map(|s| (s, metric_of(s, plan)))
        .collect();
    let given = &plan.analysis.thresholds;
    if let Some(th) = given
        .iter()
        .find(|th| !fitted.iter().any(|(_, m)| *m == th.metric))
    {
        let mut read: Vec<&str> = fitted.iter().map(|(_, m)| m.name()).collect();
        read.sort_unstable();
        read.dedup();
        return Err(format!(
            "-t {th}: no series of --query {q} measures {} (they are read as {}: from their names, or --metric METRIC)",
            th.metric.name(),
            read.join(", ")
        ));
    }
    let judged_by = |m: Metric| {
        if given.is_empty() {
            !crate::analysis::threshold::defaults(&[m]).is_empty()
        } else {
            given.iter().any(|th| th.metric == m)
        }
    };
    match fitted.iter().find(|(_, m)| !judged_by(*m)) {
        Some((s, m)) => Err(format!(
            "--query {q}: series {} is read as {m}, which {}: give -t (e.g. {example})",
            s.name(),
            if given.is_empty() {
                "has no default threshold"
            } else {
                "no -t threshold judges"
            },
            m = m.name(),
            // NOTE: available memory is bad when it falls: an upper limit
            // on its slope (`sys_available.slope<2MiB/min`) was suggested.
            example = crate::analysis::threshold::example_for(*m),
        )),
        None => Ok(()),
    }
}

/// The metric series `s` is read as: `--metric`, else its name's, else
/// `rss`.
fn metric_of(s: &Series, plan: &PrometheusPlan) -> Metric {
    plan.metric
        .or_else(|| infer_metric(&s.labels))
        .unwrap_or(Metric::Rss)
}

/// Judge one series: its report, or why it was skipped.
fn judge(s: &Series, plan: &PrometheusPlan) -> Result<Report, String> {
    if s.t.len() < MIN_POINTS {
        return Err(format!(
            "{} point(s), fewer than {MIN_POINTS}: nothing to fit",
            s.t.len()
        ));
    }
    let metric = metric_of(s, plan);
    let mut notes = Vec::new();
    if s.gaps > 0 {
        notes.push(format!("{} gap(s) in the series (missing steps)", s.gaps));
    }
    if s.non_finite > 0 {
        notes.push(format!(
            "{} NaN or infinite point(s) left out",
            s.non_finite
        ));
    }
    Ok(judged(
        analyze_table(&table(s, metric), &plan.analysis),
        &plan.analysis,
        "prometheus",
        notes,
    ))
}

/// Judge every series, on every core (each series is independent), in
/// `series` order.
fn judge_all(series: &[Series], plan: &PrometheusPlan) -> Vec<Result<Report, String>> {
    use rayon::prelude::*;
    series.par_iter().map(|s| judge(s, plan)).collect()
}

/// `memsoak analyze --prometheus`: fetch, judge each series, write the
/// report files; the exit code is the worst verdict.
pub fn analyze(plan: &PrometheusPlan) -> Result<i32> {
    let q = &plan.query;
    // NOTE: said before a long fetch, not after it.
    RunFolder::refuse_run_in(&plan.out).map_err(fail)?;
    let series = query_range(q, &plan.shown).map_err(fail)?;
    if series.is_empty() {
        return Err(fail(format!(
            "--query {}: no series between {} and {} on {}",
            q.query,
            fmt_time(q.start),
            fmt_time(q.end),
            plan.shown
        )));
    }
    unjudgeable(&series, plan).map_err(fail)?;
    let judged = judge_all(&series, plan);
    let names: Vec<String> = series.iter().map(Series::name).collect();
    let entries: Vec<SeriesReport> = series
        .iter()
        .zip(&judged)
        .zip(&names)
        .map(|((s, j), name)| SeriesReport {
            name: name.clone(),
            labels: s.labels.clone(),
            points: s.t.len(),
            gaps: s.gaps,
            non_finite: s.non_finite,
            verdict: j.as_ref().ok().map(|r| r.verdict),
            skipped: j.as_ref().err().cloned(),
            analysis: j.as_ref().ok().map(|r| r.analysis.clone()),
        })
        .collect();
    let skipped: Vec<(String, String)> = entries
        .iter()
        .filter_map(|e| Some((e.name.clone(), e.skipped.clone()?)))
        .collect();
    if skipped.len() == entries.len() {
        return Err(fail(format!(
            "--query {}: every series was skipped ({}: {})",
            q.query, skipped[0].0, skipped[0].1
        )));
    }
    // NOTE: made only now, when there is a report to write: a query whose
    // every series was skipped left an empty --out folder behind.
    let folder = RunFolder::prepare_beside_no_run(&plan.out).map_err(fail)?;
    let overall = worst(entries.iter().filter_map(|e| e.verdict));
    let mut rows: Vec<FleetRow<'_>> = judged
        .iter()
        .zip(&names)
        .filter_map(|(j, name)| {
            let r = j.as_ref().ok()?;
            Some(FleetRow {
                name,
                verdict: r.verdict,
                report: Some(r),
                meta: None,
                why: None,
                regression: r.regression.as_ref(),
            })
        })
        .collect();
    // NOTE: a fleet's table is long: the failing series first.
    rows.sort_by_key(|r| r.verdict == crate::analysis::verdict::Verdict::Pass);
    let mut md = summary_md(overall, &rows, ("series", "series"));
    for (name, why) in &skipped {
        md.push_str(&format!("\n_Skipped `{name}`: {why}_\n"));
    }
    let bench: Vec<(String, &Report)> = rows
        .iter()
        .filter_map(|r| Some((r.name.to_string(), r.report?)))
        .collect();
    let exit_code = exit::code(overall, None, None);
    let report = Report {
        verdict: overall,
        exit_code,
        notes: vec![format!(
            "{} series of `{}` on {} from {} to {} at {} s steps; {} skipped",
            names.len(),
            q.query,
            plan.shown,
            fmt_time(q.start),
            fmt_time(q.end),
            q.step,
            skipped.len()
        )],
        series: entries,
        ..judged_summary(plan)
    };
    folder.write_report(&report).map_err(fail)?;
    for (name, text) in [
        (SUMMARY_MD, md.clone()),
        (JUNIT_XML, junit_xml(&rows)),
        (BENCHER_JSON, bencher::document(&bench)),
    ] {
        folder.write(name, text.as_bytes()).map_err(fail)?;
    }
    // NOTE: a skipped series is named even under --quiet: it was not judged.
    for (name, why) in &skipped {
        eprintln!("memsoak: skipped {name}: {why}");
    }
    if !plan.analysis.quiet {
        print!("{md}");
        eprintln!(
            "memsoak: {} (exit {exit_code}) · {} series judged, {} skipped · report in {}",
            overall.word(),
            rows.len(),
            skipped.len(),
            plan.out.display()
        );
    }
    Ok(exit_code)
}

/// The top-level report of a query: no samples of its own (each series has
/// its analysis in `series`).
fn judged_summary(plan: &PrometheusPlan) -> Report {
    let empty = crate::analysis::Analysis {
        duration_s: plan.query.end - plan.query.start,
        samples: 0,
        items: None,
        dropped_rows: 0,
        gaps: vec![],
        metrics: vec![],
        thresholds: vec![],
    };
    judged(empty, &plan.analysis, "prometheus", vec![])
}

/// A Unix time as RFC 3339 (UTC, seconds).
fn fmt_time(t: f64) -> String {
    chrono::DateTime::from_timestamp(t as i64, 0).map_or_else(
        || format!("{t}"),
        |d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    )
}
