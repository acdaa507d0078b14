//! Compare a run with a baseline: is the drift significantly larger, or the
//! peak well above, what the baseline saw? (`memsoak compare`.)
//!
//! The decision ([`compare`]) is pure. A slope regression needs the run's
//! whole CI above the baseline's CI plus a tolerance, so two noisy runs of
//! the same code do not differ by chance; a max regression needs the peak
//! past a relative tolerance and the materiality floor.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Estimate, MetricAnalysis};
use crate::sample::Metric;
use crate::units::fmt_bytes;

/// Version of the `compare.json` layout.
pub const COMPARE_SCHEMA_VERSION: u32 = 1;

/// Metrics a comparison judges: the target's own memory. Host metrics
/// (`sys_available`) depend on the machine, the jemalloc internals
/// (`heap_retained`...) on its settings, and `pss` on what else maps the
/// same pages (another copy of the binary starting or ending moves it), so
/// they are not gated.
pub const GATED: [Metric; 4] = [Metric::Rss, Metric::Swap, Metric::Heap, Metric::Vram];

/// Name → version of the software a run used (`run.json`'s `versions`;
/// `None`: linked, version unreadable).
pub type Versions = BTreeMap<String, Option<String>>;

/// One side of a comparison: what a run (or a baseline) ran and the
/// analysis of its metrics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Side {
    /// The baseline's name (its folder name), or `this run`.
    pub name: String,
    /// Git commit of the run.
    #[serde(default)]
    pub git_commit: Option<String>,
    /// Backend name.
    #[serde(default)]
    pub backend: Option<String>,
    /// Model, when the backend has one.
    #[serde(default)]
    pub model: Option<String>,
    /// Workload name.
    #[serde(default)]
    pub workload: Option<String>,
    /// Versions of the software measured.
    #[serde(default)]
    pub versions: Option<Versions>,
    /// Seconds covered by the samples.
    pub duration_s: f64,
    /// Per metric, as `report.json` holds them.
    pub metrics: Vec<MetricAnalysis>,
}

impl Side {
    /// The analysis of one metric.
    pub fn metric(&self, m: Metric) -> Option<&MetricAnalysis> {
        self.metrics.iter().find(|s| s.metric == m)
    }
}

/// How far a run may exceed its baseline.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Tolerances {
    /// Slope tolerance, bytes per minute (`--slope-tolerance 1MiB/min`).
    pub slope_per_min: f64,
    /// Relative tolerance of the max (`--max-tolerance 10%` = 0.1).
    pub max_relative: f64,
    /// Smallest excess that counts, bytes: the materiality floor.
    pub floor: f64,
}

impl Default for Tolerances {
    fn default() -> Self {
        Tolerances {
            slope_per_min: 1048576.0,
            max_relative: 0.10,
            floor: crate::analysis::DEFAULT_MIN_GROWTH,
        }
    }
}

/// One metric of a comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricComparison {
    /// The metric.
    pub metric: Metric,
    /// Whether either check found a regression.
    pub regression: bool,
    /// The drift is significantly larger than the baseline's.
    pub slope_regression: bool,
    /// The max is past the baseline's by more than the tolerance.
    pub max_regression: bool,
    /// This run's drift, bytes/min.
    pub current_slope: Option<Estimate>,
    /// The baseline's drift, bytes/min.
    pub baseline_slope: Option<Estimate>,
    /// Whether this run's trend is significant.
    pub current_significant: bool,
    /// This run's max, bytes.
    pub current_max: Option<f64>,
    /// The baseline's max, bytes.
    pub baseline_max: Option<f64>,
    /// This run's warm-up end, seconds.
    pub current_warmup_end_s: Option<f64>,
    /// The baseline's warm-up end, seconds.
    pub baseline_warmup_end_s: Option<f64>,
    /// One line for people.
    pub note: String,
}

/// Who the baseline is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaselineRef {
    /// Its name.
    pub name: String,
    /// Its folder, as resolved.
    pub dir: String,
    /// Commit it was recorded at.
    pub git_commit: Option<String>,
    /// Backend.
    pub backend: Option<String>,
    /// Model.
    pub model: Option<String>,
    /// Workload.
    pub workload: Option<String>,
    /// Seconds it covered.
    pub duration_s: f64,
}

/// The result of a comparison (`compare.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// Layout version ([`COMPARE_SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// Whether any metric regressed.
    pub regression: bool,
    /// Exit code of `memsoak compare`: 1 on regression, else 0.
    pub exit_code: i32,
    /// The baseline.
    pub baseline: BaselineRef,
    /// The tolerances applied.
    pub tolerances: Tolerances,
    /// Per gated metric present in both.
    pub metrics: Vec<MetricComparison>,
    /// Differences that make the comparison less meaningful (another
    /// backend, workload, run length).
    pub warnings: Vec<String>,
}

impl MetricComparison {
    /// Whether anything of this metric was set against the baseline: a
    /// drift fitted on both sides, or a max on both.
    pub fn compared(&self) -> bool {
        (self.current_slope.is_some() && self.baseline_slope.is_some())
            || (self.current_max.is_some() && self.baseline_max.is_some())
    }
}

impl Comparison {
    /// Why this comparison compared nothing, if so: no gated metric in
    /// common with the baseline, or none with a drift or a max on both
    /// sides. Such a comparison found no regression because it looked at
    /// nothing; it must not pass a gate.
    pub fn nothing_compared(&self) -> Option<String> {
        if self.metrics.is_empty() {
            let gated: Vec<&str> = GATED.iter().map(|m| m.name()).collect();
            return Some(format!(
                "no metric in common with baseline {} (compared: {})",
                self.baseline.name,
                gated.join(", ")
            ));
        }
        (!self.metrics.iter().any(MetricComparison::compared)).then(|| {
            let m: Vec<&str> = self.metrics.iter().map(|m| m.metric.name()).collect();
            format!(
                "nothing to compare with baseline {}: {} {} no drift fit or max on both sides",
                self.baseline.name,
                m.join(", "),
                if m.len() == 1 { "has" } else { "have" }
            )
        })
    }
}

/// A drift with its CI for people, each bound in its own unit, `–` when there
/// is none:
///
/// ```
/// use memsoak::analysis::{Estimate, compare::slope_text};
/// let mib = 1024.0 * 1024.0;
/// let s = Estimate { value: mib, ci_low: 0.5 * mib, ci_high: 1.5 * mib };
/// assert_eq!(slope_text(Some(s)), "1.00 MiB/min (CI 512 KiB … 1.50 MiB/min)");
/// assert_eq!(slope_text(None), "–");
/// ```
pub fn slope_text(s: Option<Estimate>) -> String {
    s.map_or("–".into(), |s| {
        format!(
            "{}/min (CI {} … {}/min)",
            fmt_bytes(s.value),
            fmt_bytes(s.ci_low),
            fmt_bytes(s.ci_high)
        )
    })
}

/// Judge one metric.
pub fn compare_metric(
    cur: &MetricAnalysis,
    base: &MetricAnalysis,
    tol: &Tolerances,
) -> MetricComparison {
    let span_min = |m: &MetricAnalysis| m.growth.zip(m.slope_per_min).map(|(g, s)| (g, s.value));
    let finite = |v: f64| Some(v).filter(|v| v.is_finite());
    let material = span_min(cur).is_none_or(|(g, _)| g.abs() >= tol.floor);
    let (slope_regression, slope_note) = match (cur.slope_per_min, base.slope_per_min) {
        (Some(c), Some(b)) => {
            let bar = b.ci_high + tol.slope_per_min;
            let regressed = cur.significant && material && c.ci_low > bar;
            let why = if regressed {
                format!(
                    "drift {} is above the baseline's {} + {}/min",
                    slope_text(Some(c)),
                    slope_text(Some(b)),
                    fmt_bytes(tol.slope_per_min)
                )
            } else if c.ci_low > bar && !cur.significant {
                format!(
                    "drift {} above the baseline's but not statistically significant",
                    slope_text(Some(c))
                )
            } else {
                format!(
                    "drift {} within the baseline's {} + {}/min",
                    slope_text(Some(c)),
                    slope_text(Some(b)),
                    fmt_bytes(tol.slope_per_min)
                )
            };
            (regressed, why)
        }
        _ => (false, "no drift fit on one side".into()),
    };
    let (max_regression, max_note) = match (finite(cur.max), finite(base.max)) {
        (Some(c), Some(b)) => {
            let bar = b + (b.abs() * tol.max_relative).max(tol.floor);
            if c > bar {
                (
                    true,
                    format!(
                        "max {} is above the baseline's {} by more than {:.0}%",
                        fmt_bytes(c),
                        fmt_bytes(b),
                        tol.max_relative * 100.0
                    ),
                )
            } else {
                (
                    false,
                    format!("max {} vs the baseline's {}", fmt_bytes(c), fmt_bytes(b)),
                )
            }
        }
        _ => (false, "no max on one side".into()),
    };
    MetricComparison {
        metric: cur.metric,
        regression: slope_regression || max_regression,
        slope_regression,
        max_regression,
        current_slope: cur.slope_per_min,
        baseline_slope: base.slope_per_min,
        current_significant: cur.significant,
        current_max: finite(cur.max),
        baseline_max: finite(base.max),
        current_warmup_end_s: finite(cur.warmup_end_s),
        baseline_warmup_end_s: finite(base.warmup_end_s),
        note: format!("{slope_note}; {max_note}"),
    }
}

/// Compare a run's statistics with a baseline's. `baseline_dir` is recorded
/// for people.
pub fn compare(
    current: &Side,
    baseline: &Side,
    baseline_dir: &str,
    tol: &Tolerances,
) -> Comparison {
    let metrics: Vec<MetricComparison> = GATED
        .iter()
        .filter_map(|m| {
            Some(compare_metric(
                current.metric(*m)?,
                baseline.metric(*m)?,
                tol,
            ))
        })
        .collect();
    let mut warnings = Vec::new();
    let differs = |what: &str, a: &Option<String>, b: &Option<String>| {
        (a != b).then(|| {
            format!(
                "{what} differs: this run {}, baseline {}",
                a.as_deref().unwrap_or("none"),
                b.as_deref().unwrap_or("none")
            )
        })
    };
    warnings.extend(differs("backend", &current.backend, &baseline.backend));
    warnings.extend(differs("model", &current.model, &baseline.model));
    warnings.extend(differs("workload", &current.workload, &baseline.workload));
    warnings.extend(version_changes(&current.versions, &baseline.versions));
    let ratio = current.duration_s / baseline.duration_s.max(1e-9);
    if !(0.5..=2.0).contains(&ratio) {
        warnings.push(format!(
            "run lengths differ: this run {}, baseline {} (a max grows with the run's length under any drift)",
            crate::units::fmt_secs(current.duration_s),
            crate::units::fmt_secs(baseline.duration_s)
        ));
    }
    if metrics.is_empty() {
        warnings.push("no metric in common with the baseline".into());
    } else if !metrics
        .iter()
        .any(|m| m.current_slope.is_some() && m.baseline_slope.is_some())
    {
        warnings.push(
            "no drift compared: no metric has a drift fit on both sides (only maxima were compared)"
                .into(),
        );
    }
    let regression = metrics.iter().any(|m| m.regression);
    Comparison {
        schema_version: COMPARE_SCHEMA_VERSION,
        regression,
        exit_code: i32::from(regression),
        baseline: BaselineRef {
            name: baseline.name.clone(),
            dir: baseline_dir.to_string(),
            git_commit: baseline.git_commit.clone(),
            backend: baseline.backend.clone(),
            model: baseline.model.clone(),
            workload: baseline.workload.clone(),
            duration_s: baseline.duration_s,
        },
        tolerances: *tol,
        metrics,
        warnings,
    }
}

/// A warning for each piece of software both runs name at different
/// versions (a candle or jemalloc upgrade explains a change of memory
/// profile). What only one of them records says nothing.
fn version_changes(current: &Option<Versions>, baseline: &Option<Versions>) -> Vec<String> {
    let (Some(cur), Some(base)) = (current, baseline) else {
        return Vec::new();
    };
    cur.iter()
        .filter_map(|(k, a)| {
            let (Some(a), Some(b)) = (a, base.get(k)?) else {
                return None;
            };
            (a != b).then(|| format!("{k} version differs: this run {a}, baseline {b}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::units::MIB;

    fn stats(
        metric: Metric,
        slope: f64,
        half_ci: f64,
        significant: bool,
        max: f64,
    ) -> MetricAnalysis {
        MetricAnalysis {
            metric,
            samples: 180,
            warmup_end_s: 10.0,
            steady_samples: 170,
            slope_per_min: Some(Estimate {
                value: slope,
                ci_low: slope - half_ci,
                ci_high: slope + half_ci,
            }),
            slope_per_1k: None,
            trend_p_value: Some(if significant { 0.001 } else { 0.5 }),
            significant,
            method: None,
            model: None,
            model_reason: None,
            cycle_s: None,
            ols_slope_per_min: None,
            growth: Some(slope * 3.0),
            growth_ci: None,
            effective_samples: None,
            interval_from_range: false,
            items_stalled_at: None,
            late: None,
            max,
            min: 0.0,
            first: 0.0,
            last: max,
        }
    }

    fn run(metrics: Vec<MetricAnalysis>) -> Side {
        Side {
            name: "b".into(),
            git_commit: Some("abc".into()),
            backend: Some("synthetic".into()),
            model: None,
            workload: Some("synthetic".into()),
            versions: None,
            duration_s: 180.0,
            metrics,
        }
    }

    fn versions(v: &[(&str, &str)]) -> Option<Versions> {
        Some(
            v.iter()
                .map(|(k, v)| (k.to_string(), Some(v.to_string())))
                .collect(),
        )
    }

    #[test]
    fn slope_regression_needs_the_whole_ci_above_baseline_plus_tolerance() {
        let base = run(vec![stats(
            Metric::Rss,
            0.2 * MIB,
            0.3 * MIB,
            false,
            100.0 * MIB,
        )]);
        let tol = Tolerances::default();
        // CI 4..6 MiB/min > 0.5 + 1: regression.
        let cur = run(vec![stats(
            Metric::Rss,
            5.0 * MIB,
            1.0 * MIB,
            true,
            101.0 * MIB,
        )]);
        let c = compare(&cur, &base, "baselines/b", &tol);
        assert!(c.regression && c.metrics[0].slope_regression && !c.metrics[0].max_regression);
        assert_eq!(c.exit_code, 1);
        assert!(
            c.metrics[0].note.contains("above the baseline"),
            "{}",
            c.metrics[0].note
        );
        // CI 1.2..2.2 MiB/min: its low end is below 0.5 + 1 → within.
        let cur = run(vec![stats(
            Metric::Rss,
            1.7 * MIB,
            0.5 * MIB,
            true,
            101.0 * MIB,
        )]);
        let c = compare(&cur, &base, "baselines/b", &tol);
        assert!(!c.regression);
        assert_eq!(c.exit_code, 0);
        // Above, but not significant: no regression.
        let cur = run(vec![stats(
            Metric::Rss,
            5.0 * MIB,
            1.0 * MIB,
            false,
            101.0 * MIB,
        )]);
        assert!(!compare(&cur, &base, "b", &tol).regression);
    }

    #[test]
    fn max_regression_is_relative_with_a_floor() {
        let tol = Tolerances::default();
        let base = run(vec![stats(
            Metric::Heap,
            0.0,
            0.1 * MIB,
            false,
            200.0 * MIB,
        )]);
        let cur = run(vec![stats(
            Metric::Heap,
            0.0,
            0.1 * MIB,
            false,
            230.0 * MIB,
        )]);
        let c = compare(&cur, &base, "b", &tol);
        assert!(c.metrics[0].max_regression, "{}", c.metrics[0].note);
        let cur = run(vec![stats(
            Metric::Heap,
            0.0,
            0.1 * MIB,
            false,
            215.0 * MIB,
        )]);
        assert!(!compare(&cur, &base, "b", &tol).regression);
        // 0 → 4 KiB of swap is +inf% but below the floor.
        let base = run(vec![stats(Metric::Swap, 0.0, 0.0, false, 0.0)]);
        let cur = run(vec![stats(Metric::Swap, 0.0, 0.0, false, 4096.0)]);
        assert!(!compare(&cur, &base, "b", &tol).regression);
    }

    #[test]
    fn host_metrics_are_not_gated_and_mismatches_warn() {
        let base = run(vec![stats(Metric::SysAvailable, 0.0, 1.0, false, 8e9)]);
        let mut cur = run(vec![stats(Metric::SysAvailable, -9e9, 1.0, true, 9e9)]);
        cur.backend = Some("candle".into());
        cur.duration_s = 14_400.0;
        let c = compare(&cur, &base, "b", &Tolerances::default());
        assert!(!c.regression && c.metrics.is_empty());
        assert!(c.warnings.iter().any(|w| w.contains("backend differs")));
        assert!(c.warnings.iter().any(|w| w.contains("run lengths differ")));
        assert!(c.warnings.iter().any(|w| w.contains("no metric in common")));
    }

    #[test]
    fn a_comparison_of_nothing_says_why() {
        // Regression: compare said "no regression" (exit 0) for a run with
        // no metric in common with the baseline, or no drift fit and no max.
        let tol = Tolerances::default();
        let base = run(vec![stats(Metric::Rss, 0.0, 1.0, false, 1e8)]);
        let none = run(vec![stats(Metric::SysAvailable, 0.0, 1.0, false, 1e8)]);
        let why = compare(&none, &base, "b", &tol).nothing_compared().unwrap();
        assert!(
            why.starts_with("no metric in common with baseline b"),
            "{why}"
        );
        let mut bare = stats(Metric::Rss, 0.0, 1.0, false, f64::NAN);
        bare.slope_per_min = None;
        let c = compare(&run(vec![bare.clone()]), &base, "b", &tol);
        assert_eq!(
            c.nothing_compared().as_deref(),
            Some("nothing to compare with baseline b: rss has no drift fit or max on both sides")
        );
        // A max alone is a comparison, with a warning that no drift was.
        bare.max = 2e8;
        let c = compare(&run(vec![bare]), &base, "b", &tol);
        assert_eq!(c.nothing_compared(), None);
        assert!(c.regression, "{:?}", c.metrics);
        assert!(
            c.warnings
                .iter()
                .any(|w| w.starts_with("no drift compared"))
        );
        let c = compare(&base, &base, "b", &tol);
        assert_eq!(c.nothing_compared(), None);
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    }

    #[test]
    fn version_changes_warn_and_what_one_side_lacks_does_not() {
        let mut base = run(vec![stats(Metric::Rss, 0.0, 1.0, false, 1e8)]);
        let mut cur = base.clone();
        base.versions = versions(&[("memsoak", "0.1.0"), ("candle", "0.11.0")]);
        cur.versions = versions(&[
            ("memsoak", "0.1.0"),
            ("candle", "0.11.1"),
            ("jemalloc", "5.3.0"),
        ]);
        let w = compare(&cur, &base, "b", &Tolerances::default()).warnings;
        assert_eq!(
            w,
            vec!["candle version differs: this run 0.11.1, baseline 0.11.0".to_string()]
        );
        base.versions = None;
        assert!(
            compare(&cur, &base, "b", &Tolerances::default())
                .warnings
                .is_empty()
        );
    }
}
