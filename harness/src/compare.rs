//! Compare a run with a baseline: is the drift significantly larger, or the
//! peak well above, what the baseline saw? (`memsoak compare`.)
//!
//! The decision ([`compare`]) is pure. A slope regression needs the run's
//! whole CI above the baseline's CI plus a tolerance, so two noisy runs of
//! the same code do not differ by chance; a max regression needs the peak
//! past a relative tolerance and the materiality floor.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::baseline::{Baseline, MetricStats, Slope};
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
    pub current_slope: Option<Slope>,
    /// The baseline's drift, bytes/min.
    pub baseline_slope: Option<Slope>,
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

fn slope_text(s: Option<Slope>) -> String {
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
pub fn compare_metric(cur: &MetricStats, base: &MetricStats, tol: &Tolerances) -> MetricComparison {
    let span_min = |m: &MetricStats| m.growth.zip(m.slope_per_min).map(|(g, s)| (g, s.value));
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
    let (max_regression, max_note) = match (cur.max, base.max) {
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
        current_max: cur.max,
        baseline_max: base.max,
        current_warmup_end_s: cur.warmup_end_s,
        baseline_warmup_end_s: base.warmup_end_s,
        note: format!("{slope_note}; {max_note}"),
    }
}

/// Compare a run's statistics with a baseline's. `baseline_dir` is recorded
/// for people.
pub fn compare(
    current: &Baseline,
    baseline: &Baseline,
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
fn version_changes(
    current: &Option<serde_json::Value>,
    baseline: &Option<serde_json::Value>,
) -> Vec<String> {
    let (Some(cur), Some(base)) = (
        current.as_ref().and_then(|v| v.as_object()),
        baseline.as_ref().and_then(|v| v.as_object()),
    ) else {
        return Vec::new();
    };
    use crate::report::html::json_text;
    cur.iter()
        .filter_map(|(k, a)| {
            let b = base.get(k)?;
            (a != b && !a.is_null() && !b.is_null()).then(|| {
                format!(
                    "{k} version differs: this run {}, baseline {}",
                    json_text(a),
                    json_text(b)
                )
            })
        })
        .collect()
}

/// The comparison as a Markdown section (appended to `summary.md`).
pub fn markdown(c: &Comparison) -> String {
    let mut s = String::new();
    let b = &c.baseline;
    let _ = writeln!(
        s,
        "### Compared with baseline `{}`: {}\n",
        b.name,
        if c.regression {
            "❌ REGRESSION"
        } else {
            "✅ no regression"
        }
    );
    let mut meta = Vec::new();
    if let Some(g) = &b.git_commit {
        meta.push(format!(
            "commit `{}`",
            g.chars().take(12).collect::<String>()
        ));
    }
    if let Some(x) = &b.backend {
        meta.push(format!("backend `{x}`"));
    }
    if let Some(x) = &b.model {
        meta.push(format!("model `{x}`"));
    }
    if let Some(x) = &b.workload {
        meta.push(format!("workload `{x}`"));
    }
    meta.push(crate::units::fmt_secs(b.duration_s));
    let _ = writeln!(
        s,
        "Baseline: {} · tolerances: drift +{}/min, max +{:.0}%\n",
        meta.join(" · "),
        fmt_bytes(c.tolerances.slope_per_min),
        c.tolerances.max_relative * 100.0
    );
    let _ = writeln!(
        s,
        "| metric | drift (this run) | drift (baseline) | max (this run) | max (baseline) | outcome |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|");
    for m in &c.metrics {
        let outcome = match (m.slope_regression, m.max_regression) {
            (true, true) => "**REGRESSION** (drift, max)",
            (true, false) => "**REGRESSION** (drift)",
            (false, true) => "**REGRESSION** (max)",
            _ => "ok",
        };
        let _ = writeln!(
            s,
            "| `{}` | {} | {} | {} | {} | {outcome} |",
            m.metric,
            slope_text(m.current_slope),
            slope_text(m.baseline_slope),
            m.current_max.map_or("–".into(), fmt_bytes),
            m.baseline_max.map_or("–".into(), fmt_bytes),
        );
    }
    for w in &c.warnings {
        let _ = writeln!(s, "\n_Note: {w}_");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: f64 = 1048576.0;

    fn stats(metric: Metric, slope: f64, half_ci: f64, significant: bool, max: f64) -> MetricStats {
        MetricStats {
            metric,
            warmup_end_s: Some(10.0),
            slope_per_min: Some(Slope {
                value: slope,
                ci_low: slope - half_ci,
                ci_high: slope + half_ci,
            }),
            slope_per_1k: None,
            trend_p_value: Some(if significant { 0.001 } else { 0.5 }),
            significant,
            growth: Some(slope * 3.0),
            max: Some(max),
            last: Some(max),
        }
    }

    fn run(metrics: Vec<MetricStats>) -> Baseline {
        Baseline {
            schema_version: 1,
            name: "b".into(),
            created_at: None,
            source_run: None,
            git_commit: Some("abc".into()),
            backend: Some("synthetic".into()),
            model: None,
            workload: Some("synthetic".into()),
            mode: Some("run".into()),
            verdict: Some("pass".into()),
            host: None,
            versions: None,
            duration_s: 180.0,
            samples: 180,
            items: None,
            confidence: 0.95,
            warmup: "auto".into(),
            metrics,
            samples_csv: None,
        }
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
        let md = markdown(&c);
        assert!(md.contains("no regression") && md.contains("backend differs"));
    }

    #[test]
    fn version_changes_warn_and_what_one_side_lacks_does_not() {
        let mut base = run(vec![stats(Metric::Rss, 0.0, 1.0, false, 1e8)]);
        let mut cur = base.clone();
        base.versions = Some(serde_json::json!({"memsoak": "0.1.0", "candle": "0.11.0"}));
        cur.versions =
            Some(serde_json::json!({"memsoak": "0.1.0", "candle": "0.11.1", "jemalloc": "5.3.0"}));
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
