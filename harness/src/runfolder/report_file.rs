//! `report.json`: the [`Report`] of a run, typed both ways. A run writes it
//! once at the end; `memsoak report`, `compare` and `baseline save` read it
//! back through the same type, so no reader patches fields by hand.
//!
//! NOTE: a field added later needs `#[serde(default)]` (or an `Option`), so
//! the reports written before it still read.

use serde::{Deserialize, Serialize};

use crate::analysis::Analysis;
use crate::analysis::attribution::Attribution;
use crate::analysis::classify::{Classification, classify_run, with_site};
use crate::analysis::projection::{Projection, cgroup_limit, project};
use crate::analysis::samples::{ProcessTable, SampleTable};
use crate::analysis::verdict::Verdict;
use crate::backend::BackendInfo;
use crate::sample::cgroup::CgroupReport;
use crate::target::TargetReport;
use crate::workload::trace::ReplayReport;

/// Version of the `report.json` layout.
pub const SCHEMA_VERSION: u32 = 1;

/// Everything known about a finished run: how it ended, its analysis, and
/// what was read into it (classification, projection).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Layout version ([`SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// pass / fail / error.
    pub verdict: Verdict,
    /// The process exit code memsoak returns.
    pub exit_code: i32,
    /// Whether SIGINT/SIGTERM ended the run.
    #[serde(default)]
    pub interrupted: bool,
    /// What ended the run (`duration`, `workload_exhausted`, `fail_fast`,
    /// `target_exit`, `target_failed`, `backend_error`, `interrupted`, `analyze`).
    #[serde(default)]
    pub ended_by: String,
    /// `run`, `watch` or `analyze`.
    #[serde(default)]
    pub mode: String,
    /// Warm-up rule as typed.
    pub warmup: String,
    /// Confidence of CIs and tests.
    pub confidence: f64,
    /// Materiality floor, bytes (`--min-growth`): a fitted breach, a
    /// classification and a projection need at least this much growth.
    /// Reports written before it was recorded were judged with the default.
    #[serde(default = "default_min_growth")]
    pub min_growth: f64,
    /// The embedder, for in-process runs.
    #[serde(default)]
    pub backend: Option<BackendInfo>,
    /// The workload name.
    #[serde(default)]
    pub workload: Option<String>,
    /// What a recorded-trace replay did (records, texts, lines skipped,
    /// pacing); absent for other workloads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay: Option<ReplayReport>,
    /// The black-box target.
    #[serde(default)]
    pub target: Option<TargetReport>,
    /// Failed backend requests (HTTP errors) counted during the run.
    #[serde(default)]
    pub backend_errors: u64,
    /// Fail-fast reason, when the run was cut short by a certain breach.
    #[serde(default)]
    pub fail_fast: Option<String>,
    /// Errors that made the verdict `error`.
    #[serde(default)]
    pub errors: Vec<String>,
    /// Notes for people (metrics unavailable, rows dropped...).
    #[serde(default)]
    pub notes: Vec<String>,
    /// Statistics and threshold outcomes.
    pub analysis: Analysis,
    /// The most likely leak pattern, with its evidence.
    #[serde(default)]
    pub classification: Option<Classification>,
    /// Time until host memory and each cap run out at the fitted drift.
    #[serde(default)]
    pub projection: Option<Projection>,
    /// The memory cgroup sampled (`cgroup*` metrics): its limit and the
    /// OOM kills during the run; absent when the target had none of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<CgroupReport>,
    /// `analyze --prometheus`: every series of the query, judged alone
    /// (the report's verdict is the worst of theirs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub series: Vec<SeriesReport>,
    /// `--attribute`: where the traced memory grew, per allocation site.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribution: Option<Attribution>,
    /// `run --baseline`: the baseline the run regressed against. The
    /// regression fails the run (verdict `fail`, exit code 1) as a breached
    /// threshold does; `compare.json` beside it holds the detail. Absent
    /// when the run was not compared or did not regress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regression: Option<Regression>,
}

/// A regression against a baseline that failed a run (`run --baseline`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Regression {
    /// The baseline's name.
    pub baseline: String,
    /// The metrics that regressed.
    pub metrics: Vec<crate::sample::Metric>,
}

impl Regression {
    /// The regression a comparison found (`compare.json`), if it found one:
    /// its baseline and the metrics that regressed.
    pub fn from_comparison(c: &crate::analysis::compare::Comparison) -> Option<Regression> {
        c.regression.then(|| Regression {
            baseline: c.baseline.name.clone(),
            metrics: c
                .metrics
                .iter()
                .filter(|m| m.regression)
                .map(|m| m.metric)
                .collect(),
        })
    }

    /// One line for people: `regression against baseline flat (rss, heap)`.
    ///
    /// ```
    /// use memsoak::runfolder::Regression;
    /// use memsoak::sample::Metric;
    /// let r = Regression { baseline: "flat".into(), metrics: vec![Metric::Rss, Metric::Heap] };
    /// assert_eq!(r.describe(), "regression against baseline flat (rss, heap)");
    /// ```
    pub fn describe(&self) -> String {
        let m: Vec<&str> = self.metrics.iter().map(|m| m.name()).collect();
        format!(
            "regression against baseline {} ({})",
            self.baseline,
            m.join(", ")
        )
    }
}

/// One series of a Prometheus query, judged as a run's samples are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesReport {
    /// The series as PromQL writes it (`name{label="value"}`).
    pub name: String,
    /// Its labels.
    pub labels: std::collections::BTreeMap<String, String>,
    /// Points kept.
    pub points: usize,
    /// Gaps (missing steps: a target down, a stale marker).
    pub gaps: usize,
    /// Points left out as NaN or infinite.
    pub non_finite: usize,
    /// Its verdict; `None` when it was skipped.
    pub verdict: Option<Verdict>,
    /// Why it was skipped (too few points).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// Its analysis (drift, thresholds), when judged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<Analysis>,
}

fn default_min_growth() -> f64 {
    crate::analysis::DEFAULT_MIN_GROWTH
}

impl Report {
    /// The verdict as a headline says it: `PASS`, `FAIL`, `ERROR`, and
    /// for an interrupted run `INTERRUPTED, PASS so far`: its verdict is
    /// that of the samples taken so far, and its exit code (130, 143, 129)
    /// no pass. A bare green PASS beside exit 130 read as a gate passed.
    pub fn headline(&self) -> String {
        let word = self.verdict.word();
        if self.interrupted {
            format!("INTERRUPTED, {word} so far")
        } else {
            word.to_string()
        }
    }

    /// The classification and projection read again from the stored
    /// analysis, these samples and per-process readings (see
    /// [`Report::with_insights`]).
    pub fn reread(mut self, samples: &SampleTable, processes: Option<&ProcessTable>) -> Report {
        self.classification = None;
        self.projection = None;
        self.with_insights(Some(samples), processes)
    }

    /// Fill in what is read from the analysis (classification, projection)
    /// where it is missing: a run's report gets both once, at its end; a
    /// `report.json` written before they were recorded gets them when read.
    /// `samples` sharpen the classification (early vs late drift); the
    /// tree's per-process readings can trace the growth to one process.
    pub fn with_insights(
        mut self,
        samples: Option<&SampleTable>,
        processes: Option<&ProcessTable>,
    ) -> Report {
        if self.classification.is_none() {
            let c = classify_run(
                &self.analysis,
                samples,
                processes,
                self.confidence,
                self.min_growth,
            );
            self.classification = Some(match &self.attribution {
                Some(a) => with_site(c, a),
                None => c,
            });
        }
        if self.projection.is_none() {
            let mut p = project(&self.analysis, self.min_growth);
            p.cgroup_limit = self
                .cgroup
                .as_ref()
                .and_then(|c| c.limit)
                .and_then(|l| cgroup_limit(&self.analysis, l as f64, self.min_growth));
            self.projection = Some(p);
        }
        self
    }

    /// The report as `report.json` holds it: pretty JSON, newline-terminated.
    pub fn to_json(&self) -> String {
        // NOTE: non-finite floats serialise as null; the report never fails
        // to render because of one odd value.
        let mut s = serde_json::to_string_pretty(self).unwrap_or_else(|e| {
            format!("{{\"schema_version\":1,\"verdict\":\"error\",\"errors\":[\"{e}\"]}}")
        });
        s.push('\n');
        s
    }

    /// Read a `report.json` text. The error says what is wrong in one line.
    pub fn from_json(text: &str) -> Result<Report, String> {
        let head: serde_json::Value =
            serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
        if head.get("schema_version").and_then(|v| v.as_u64()) != Some(u64::from(SCHEMA_VERSION)) {
            return Err(format!(
                "not a memsoak report of schema_version {SCHEMA_VERSION}"
            ));
        }
        serde_json::from_value(head).map_err(|e| format!("not a memsoak report: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::samples::SampleTable;
    use crate::analysis::{AnalysisOptions, DEFAULT_MIN_GROWTH, Warmup, analyze};
    use crate::sample::Metric;
    use crate::target::{StopOutcome, TargetStatus};
    use proptest::prelude::*;

    /// The text of `r` after a trip through `report.json`.
    fn round_trip(r: &Report) -> String {
        Report::from_json(&r.to_json())
            .unwrap_or_else(|e| panic!("{e}"))
            .to_json()
    }

    #[test]
    fn reports_written_before_the_typed_reader_read_back_byte_for_byte() {
        // report.json of a `run` (with a leak) and of a `watch`, written by
        // memsoak before report.json had a Deserialize type.
        for text in [
            include_str!("fixtures/report-run.json"),
            include_str!("fixtures/report-watch.json"),
        ] {
            let r = Report::from_json(text).unwrap();
            assert_eq!(r.to_json(), text);
            assert!(r.classification.is_some() && r.projection.is_some());
        }
    }

    #[test]
    fn a_report_of_another_schema_is_refused_in_one_line() {
        let e = Report::from_json(r#"{"schema_version": 2}"#).unwrap_err();
        assert_eq!(e, "not a memsoak report of schema_version 1");
        let e = Report::from_json("{").unwrap_err();
        assert!(e.starts_with("invalid JSON"), "{e}");
    }

    fn table(rows: usize, slope: f64, noise: &[f64], items: bool) -> SampleTable {
        let mut t = SampleTable::new(vec![Metric::Rss, Metric::Heap]);
        for i in 0..rows {
            let e = noise[i % noise.len()];
            let y = 100e6 + slope * i as f64 + e;
            t.push(
                i as f64 * 0.5,
                items.then_some(i as u64 * 32),
                &[Some(y as u64), (i % 7 != 3).then_some((50e6 + e) as u64)],
            );
        }
        t
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        // report.json round-trips through its type: whatever the analysis,
        // classification and projection, reading the file back and writing
        // it again gives the same bytes.
        #[test]
        fn report_json_round_trips(
            rows in 3usize..160,
            slope in -2e4f64..2e5,
            noise in prop::collection::vec(-3e5f64..3e5, 1..9),
            items in any::<bool>(),
            confidence in 0.5f64..0.999,
            min_growth in 0f64..1e7,
            notes in prop::collection::vec("\\PC{0,12}", 0..3),
            exit_code in -1i32..200,
            target in any::<bool>(),
            by_memsoak in any::<bool>(),
        ) {
            let t = table(rows, slope, &noise, items);
            let analysis = analyze(&t, &AnalysisOptions {
                warmup: Warmup::Auto,
                confidence,
                thresholds: vec![
                    "rss.slope<1MiB/min".parse().unwrap(),
                    "heap.max<1GiB".parse().unwrap(),
                    "heap.slope_per_1k<4KiB".parse().unwrap(),
                ],
                min_growth,
                swap_total: None,
            });
            let r = Report {
                schema_version: SCHEMA_VERSION,
                verdict: crate::analysis::verdict::verdict(&analysis, exit_code > 3),
                exit_code,
                interrupted: exit_code > 128,
                ended_by: "duration".into(),
                mode: "watch".into(),
                warmup: "auto".into(),
                confidence,
                min_growth,
                backend: None,
                workload: items.then(|| "synthetic".into()),
                replay: None,
                target: target.then(|| TargetReport {
                    pid: 42,
                    command: Some(notes.clone()),
                    status: TargetStatus::Signalled { signal: 15, name: "SIGTERM".into(), by_memsoak },
                    stop: Some(StopOutcome { processes: 2, killed: true, left: 0 }),
                    stderr_tail: notes.concat(),
                }),
                backend_errors: 0,
                fail_fast: None,
                errors: vec![],
                notes,
                analysis,
                classification: None,
                projection: None,
                cgroup: None,
                series: vec![],
                attribution: None,
                regression: None,
            }
            .with_insights(Some(&t), None);
            let text = r.to_json();
            prop_assert_eq!(round_trip(&r), text);
            prop_assert_eq!(Report::from_json(&r.to_json()).unwrap().min_growth, min_growth);
            prop_assert_eq!(Report::from_json(&r.to_json()).unwrap().target, r.target);
        }
    }

    #[test]
    fn an_older_report_without_min_growth_reads_with_the_default() {
        let text = include_str!("fixtures/report-watch.json").replace("\"min_growth\"", "\"x\"");
        let r = Report::from_json(&text).unwrap();
        assert_eq!(r.min_growth, DEFAULT_MIN_GROWTH);
    }
}
