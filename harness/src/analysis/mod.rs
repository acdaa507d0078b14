//! From samples to a verdict: warm-up truncation, drift fits per metric,
//! and the outcome of every threshold. Consumes [`crate::stats`]; does no I/O.

pub mod attribution;
pub mod classify;
pub mod compare;
mod judge;
mod looks;
pub mod projection;
pub mod samples;
#[cfg(test)]
mod test_support;
pub mod threshold;
pub mod verdict;

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize};

use crate::analysis::samples::SampleTable;
use crate::analysis::threshold::Threshold;
use crate::sample::Metric;
use crate::stats;

pub use judge::{evaluate, no_swap_skip, settle};
pub use looks::{FAIL_FAST_WINDOW_SHARE, LookRules, fail_fast_time, sequential_breach};

/// How the warm-up is cut off.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Warmup {
    /// Found per metric by MSER-5 truncation.
    Auto,
    /// A fixed time from the start.
    Time(Duration),
    /// A fraction of the run.
    Fraction(f64),
}

impl Warmup {
    /// Parse `auto`, a duration (`30s`) or a percentage (`10%`).
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s == "auto" {
            Ok(Warmup::Auto)
        } else if s.ends_with('%') {
            crate::units::parse_percent(s)
                .map(Warmup::Fraction)
                .map_err(|e| format!("--warmup: {e}"))
        } else {
            crate::units::parse_duration(s)
                .map(Warmup::Time)
                .map_err(|e| match e {
                    crate::units::UnitError::DurationTooLong(_) => format!("--warmup: {e}"),
                    _ => format!("--warmup: invalid value `{s}` (expected auto, a duration like 30s, or a percentage like 10%)"),
                })
        }
    }

    /// As typed.
    pub fn text(&self) -> String {
        match self {
            Warmup::Auto => "auto".into(),
            Warmup::Time(d) => humantime::format_duration(*d).to_string(),
            Warmup::Fraction(f) => format!("{}%", f * 100.0),
        }
    }

    /// How many of the samples a soak of `duration` takes every `every`
    /// (on the ticks `0, every, 2·every, …`) this rule cuts at least, as
    /// [`warmup_index`] cuts them: those before the warm-up's end. `Auto`
    /// cuts nothing for sure: its cut is found in the samples, after the
    /// run (and never leaves fewer than [`stats::MIN_DRIFT_POINTS`] of a
    /// series that has them, see [`stats::warmup_end`]). O(1).
    ///
    /// # Examples
    /// ```
    /// use std::time::Duration;
    /// use memsoak::analysis::Warmup;
    /// let s = Duration::from_secs;
    /// assert_eq!(Warmup::Time(s(3)).fewest_cut(s(10), s(1)), 3);
    /// assert_eq!(Warmup::Fraction(0.25).fewest_cut(s(10), s(1)), 3);
    /// assert_eq!(Warmup::Auto.fewest_cut(s(10), s(1)), 0);
    /// ```
    pub fn fewest_cut(self, duration: Duration, every: Duration) -> usize {
        let end = match self {
            Warmup::Auto => return 0,
            Warmup::Time(d) => d.as_secs_f64(),
            Warmup::Fraction(f) => f * duration.as_secs_f64(),
        };
        // The ticks k·every with k·every < end. NOTE: less a hair, so that
        // a rounding above a whole tick (0.3 × 10 s = 3.0000000000000004 s)
        // never counts one more than is surely cut.
        (end / every.as_secs_f64() - 1e-9).ceil().max(0.0) as usize
    }
}

/// Settings of an analysis.
#[derive(Debug, Clone)]
pub struct AnalysisOptions {
    /// Warm-up rule.
    pub warmup: Warmup,
    /// Confidence of CIs and trend tests (0.95).
    pub confidence: f64,
    /// Thresholds to evaluate.
    pub thresholds: Vec<Threshold>,
    /// Materiality floor, bytes: a fitted breach (slope, slope_per_1k,
    /// growth) also needs the fitted growth after warm-up to reach this.
    pub min_growth: f64,
    /// The host's `SwapTotal` in bytes, as read once at the start of the
    /// run (`run.json`'s host); `None` where it is not known. `Some(0)`:
    /// the host has no swap, so `swap` and `sys_swap_used` are 0 on every
    /// sample and a limit 0 holds cannot be breached: it is skipped
    /// ([`no_swap_skip`]), not passed.
    pub swap_total: Option<u64>,
}

/// Default materiality floor: 1 MiB. Below it a "significant" trend is a
/// few pages of warm-up extrapolated, not evidence of a leak.
pub const DEFAULT_MIN_GROWTH: f64 = crate::units::MIB;

/// A slope with its confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// Point estimate.
    #[serde(deserialize_with = "nan_if_null")]
    pub value: f64,
    /// Lower bound of the CI.
    #[serde(deserialize_with = "nan_if_null")]
    pub ci_low: f64,
    /// Upper bound of the CI.
    #[serde(deserialize_with = "nan_if_null")]
    pub ci_high: f64,
}

/// Read an `f64` that JSON holds as `null` when it was not finite (serde_json
/// writes NaN and infinities as `null`) back as NaN.
pub(crate) fn nan_if_null<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

fn nan() -> f64 {
    f64::NAN
}

/// The analysis of one metric, as `report.json` holds it; a baseline keeps
/// the same (`baseline.json` files written before it kept every field read
/// with the missing ones at their defaults, NaN for numbers).
///
/// NOTE: a field added later needs a `#[serde(default)]`, so the reports
/// and baselines written before it still read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricAnalysis {
    /// Which metric.
    pub metric: Metric,
    /// Samples with a reading.
    #[serde(default)]
    pub samples: usize,
    /// Seconds from the start at which the steady state begins.
    #[serde(deserialize_with = "nan_if_null")]
    pub warmup_end_s: f64,
    /// Samples after warm-up.
    #[serde(default)]
    pub steady_samples: usize,
    /// Drift in bytes per minute (robust fit, CI at the configured confidence).
    #[serde(default)]
    pub slope_per_min: Option<Estimate>,
    /// Drift in bytes per 1000 items.
    #[serde(default)]
    pub slope_per_1k: Option<Estimate>,
    /// Two-sided trend p-value (autocorrelation-corrected).
    #[serde(default)]
    pub trend_p_value: Option<f64>,
    /// Whether the trend is significant at the configured confidence.
    #[serde(default)]
    pub significant: bool,
    /// How the drift was fitted.
    #[serde(default)]
    pub method: Option<String>,
    /// The model the drift was fitted with, chosen from the data: `level`,
    /// `cycles` or `long-cycle` (see `stats::DriftModel`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Why that model: what the data showed, in one phrase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_reason: Option<String>,
    /// Detected sawtooth period in seconds.
    #[serde(default)]
    pub cycle_s: Option<f64>,
    /// OLS slope in bytes per minute over the steady state, for reference.
    #[serde(default)]
    pub ols_slope_per_min: Option<f64>,
    /// Fitted growth from the end of warm-up to the end of the run, bytes:
    /// the fitted line's rise, held within what the steady samples moved
    /// (their max − min), as a line through a staircase rises further than
    /// its steps do.
    #[serde(default)]
    pub growth: Option<f64>,
    /// The fitted growth's interval (the slope's, over the steady span),
    /// held within the same bound. Absent in reports written before it:
    /// [`evaluate`] then reads the slope's interval over the span.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub growth_ci: Option<(f64, f64)>,
    /// How many independent samples the points the drift was fitted on are
    /// worth, their persistence taken out (`stats::Drift::effective_n`):
    /// persistent noise makes many samples worth few.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effective_samples: Option<f64>,
    /// The slope's interval is the data's range bound, not a statistical
    /// one (`stats::Drift::interval_from_range`: a long-cycle fit's, or one
    /// clamped to the range): no run length can be planned from it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub interval_from_range: bool,
    /// Items were counted on every row but none was finished after
    /// warm-up: the count they stayed at. No drift per item can be fitted
    /// then, and a `slope_per_1k` limit is not judged ([`Analysis::unjudged`]):
    /// a pipeline that stalled while memory grew must not pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items_stalled_at: Option<f64>,
    /// Growth that began late: the trailing window of the steady state
    /// whose drift says most (`stats::late_drift`), on runs long enough to
    /// have one ([`LATE_MIN_SPAN_S`]). A slope's upper limit also fails on
    /// it ([`evaluate`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub late: Option<LateWindow>,
    /// Highest sample.
    #[serde(default = "nan", deserialize_with = "nan_if_null")]
    pub max: f64,
    /// Lowest sample.
    #[serde(default = "nan", deserialize_with = "nan_if_null")]
    pub min: f64,
    /// First sample.
    #[serde(default = "nan", deserialize_with = "nan_if_null")]
    pub first: f64,
    /// Last sample.
    #[serde(default = "nan", deserialize_with = "nan_if_null")]
    pub last: f64,
}

/// The shortest trailing window of the steady state tested for growth
/// that began late (`stats::late_drift`), seconds: a 10-minute run's steady
/// state gets its last 300 and 212 s, a 30-minute run's five windows of
/// 900 down to 225 s, a 90 s gate none.
///
/// NOTE: over three minutes is well beyond the time scales whole-run fits
/// already handle in a window (levels held seconds; GC cycles of up to 50 s
/// need four in a window), and keeps every 90 s gate as it was: a leak that
/// begins in the last half of a 90 s run has too little of it to show.
/// Between 200 and 240 s the calibration's flat, warm-up and cache runs
/// failed as often (600 and 1800 s at 1 Hz, 200 seeds, every family).
pub const LATE_MIN_SPAN_S: f64 = 200.0;

/// A trailing window of the steady state and its drift, judged at its own
/// stricter level (`stats::late_drift`): all windows together at a quarter
/// of α.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LateWindow {
    /// Seconds from the start at which the window begins.
    #[serde(deserialize_with = "nan_if_null")]
    pub from_s: f64,
    /// How long the window is, seconds (to the last sample).
    #[serde(deserialize_with = "nan_if_null")]
    pub span_s: f64,
    /// Drift over the window, bytes per minute, its interval at
    /// `confidence`.
    pub slope_per_min: Estimate,
    /// Two-sided trend p-value of the window.
    #[serde(deserialize_with = "nan_if_null")]
    pub p_value: f64,
    /// The confidence the window is judged at: 1 − α/(4K).
    #[serde(deserialize_with = "nan_if_null")]
    pub confidence: f64,
    /// Whether the window's trend is significant at that confidence.
    pub significant: bool,
    /// Whether its interval lies wholly above the whole steady state's
    /// slope: the rate rose late (`stats::LateDrift::rose`).
    #[serde(default)]
    pub rose: bool,
    /// Whether its interval lies wholly below the whole steady state's
    /// slope: the rate fell late. Read on available memory only, whose
    /// windows are found on its mirror image, memory in use, where it rose
    /// ([`analyze_metric`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fell: bool,
    /// Fitted growth over the window, bytes.
    #[serde(deserialize_with = "nan_if_null")]
    pub growth: f64,
    /// How many trailing windows were tested (K).
    pub windows: usize,
    /// The model of the window's fit (`level`, `cycles`).
    pub model: String,
    /// Items embedded per second over the window, where they were counted
    /// (what an upper `slope_per_1k` limit reads the window's rate by).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items_per_s: Option<f64>,
}

impl LateWindow {
    /// The window grew at a rate that rose: significant at its level, its
    /// interval above the whole steady state's slope, and its growth past
    /// `floor` bytes. What a slope's upper limit fails on ([`evaluate`])
    /// and the classification reads as the growth.
    pub fn grew(&self, floor: f64) -> bool {
        self.significant && self.rose && self.growth >= floor
    }

    /// The window fell at a rate that fell: significant at its level, its
    /// interval below the whole steady state's slope, and its fall past
    /// `floor` bytes. What a floor on available memory fails on.
    pub fn fell(&self, floor: f64) -> bool {
        self.significant && self.fell && -self.growth >= floor
    }

    /// [`LateWindow::grew`] where a rise is the bad direction, else
    /// [`LateWindow::fell`].
    pub fn worsened(&self, floor: f64, lower_is_worse: bool) -> bool {
        if lower_is_worse {
            self.fell(floor)
        } else {
            self.grew(floor)
        }
    }
}

/// The outcome of one threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// It held.
    Pass,
    /// It was breached.
    Fail,
    /// It could not be judged (metric absent, too few samples).
    Skipped,
}

/// A threshold and what happened to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdResult {
    /// The threshold.
    #[serde(flatten)]
    pub threshold: Threshold,
    /// Measured value in the threshold's unit (bytes/s for slope).
    pub measured: Option<f64>,
    /// CI of the measured value, when it is a fit.
    pub ci: Option<(f64, f64)>,
    /// Trend p-value, for fitted statistics.
    pub p_value: Option<f64>,
    /// The verdict.
    pub outcome: Outcome,
    /// Why, in one line for people.
    pub note: String,
    /// For a fitted statistic: whether its interval lies wholly on one side
    /// of the limit, so the outcome stands on the interval alone. A pass
    /// that is not conclusive is "no evidence of a breach", not evidence
    /// of none: its interval still reaches past the limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conclusive: Option<bool>,
    /// For a pass of a slope that is not conclusive: the run length
    /// (seconds from the first sample, warm-up included) at which the
    /// interval would settle it with 80% probability if the drift stays
    /// at its estimate ([`stats::settle_steady_s`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settle_run_s: Option<f64>,
    /// Where the outcome stands on a trailing window of the steady state
    /// (growth that began late, [`LateWindow`]) and not on the whole of it:
    /// `measured`, `ci` and `p_value` are the window's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<ResultWindow>,
    /// A skipped threshold that should have been judged, and what would
    /// let it be ([`Analysis::unjudged`]): its metric was sampled but the
    /// run left nothing to judge. Absent where a skip is no fault (a metric
    /// this run does not sample, `vram` without a GPU).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unjudged: Option<String>,
}

/// The trailing window a threshold's outcome stands on.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ResultWindow {
    /// Seconds from the start at which it begins.
    #[serde(deserialize_with = "nan_if_null")]
    pub from_s: f64,
    /// Its length, seconds.
    #[serde(deserialize_with = "nan_if_null")]
    pub span_s: f64,
    /// The confidence of its interval and test (1 − α/(4K)).
    #[serde(deserialize_with = "nan_if_null")]
    pub confidence: f64,
}

impl ResultWindow {
    /// `last 7.5 min`: for a measured value's label.
    pub fn label(&self) -> String {
        format!("last {}", crate::units::fmt_secs(self.span_s))
    }
}

impl ThresholdResult {
    /// `th` skipped, with `note` saying why: nothing measured.
    pub fn skipped(th: &Threshold, note: String) -> ThresholdResult {
        ThresholdResult {
            threshold: th.clone(),
            measured: None,
            ci: None,
            p_value: None,
            outcome: Outcome::Skipped,
            note,
            conclusive: None,
            settle_run_s: None,
            window: None,
            unjudged: None,
        }
    }

    /// The measured value as its threshold writes it, with the trailing
    /// window it stands on where it does (`4.22 MiB/min, last 7.5 min`);
    /// `None` where nothing was measured.
    pub fn measured_text(&self) -> Option<String> {
        let v = self.threshold.format_value(self.measured?);
        Some(match self.window {
            Some(w) => format!("{v}, {}", w.label()),
            None => v,
        })
    }

    /// The interval, `lo … hi`, with its own confidence where it is a
    /// trailing window's (`… (99.4%)`), not the run's.
    pub fn ci_text(&self) -> Option<String> {
        let (lo, hi) = self.ci?;
        let th = &self.threshold;
        let level = self.window.map_or(String::new(), |w| {
            format!(" ({})", crate::units::fmt_percent(w.confidence))
        });
        Some(format!(
            "{} … {}{level}",
            th.format_value(lo),
            th.format_value(hi)
        ))
    }

    /// A pass whose interval still reaches past the limit: no evidence of a
    /// breach, and none against one ([`ThresholdResult::conclusive`]).
    pub fn inconclusive_pass(&self) -> bool {
        self.outcome == Outcome::Pass && self.conclusive == Some(false)
    }

    /// A breach whose interval still reaches back within the limit: the
    /// trend is real and its estimate past the limit, but a drift within
    /// it is not ruled out ([`ThresholdResult::conclusive`]).
    pub fn inconclusive_breach(&self) -> bool {
        self.outcome == Outcome::Fail && self.conclusive == Some(false)
    }

    /// A pass whose estimate is past the limit: the trend was not
    /// significant (or its growth under the materiality floor).
    pub fn passed_past_the_limit(&self) -> bool {
        self.outcome == Outcome::Pass
            && self
                .measured
                .is_some_and(|v| !self.threshold.op.holds(v, self.threshold.limit))
    }
}

/// A stretch of a run with no sample: the box, the sampler or the source
/// stalled (a suspended VM, a frozen cgroup, a sampler starved of CPU, a
/// scrape target down). What memory did inside it is not seen.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SampleGap {
    /// Time of the last sample before it, seconds.
    pub from_s: f64,
    /// Time of the first sample after it, seconds.
    pub to_s: f64,
    /// The run's usual interval between samples (their median), seconds.
    pub cadence_s: f64,
}

impl SampleGap {
    /// One sentence for people: when, how long, and what it hides.
    pub fn describe(&self) -> String {
        use crate::units::fmt_secs;
        format!(
            "no sample from {} to {} ({}, where samples came every {}): what memory did then is not seen.",
            fmt_secs(self.from_s),
            fmt_secs(self.to_s),
            fmt_secs(self.to_s - self.from_s),
            fmt_secs(self.cadence_s)
        )
    }
}

/// A stretch between two samples is a gap when it lasts this many of the
/// run's usual intervals ([`sample_gaps`])...
const GAP_INTERVALS: f64 = 10.0;
/// ...and at least this long, seconds: a loaded box delays a 100 ms
/// sample by a second or two, which is no stall.
const GAP_MIN_S: f64 = 5.0;

/// The gaps in sample times `t` (ascending): each stretch between two
/// samples longer than 10 times their median interval and 5 s. O(n).
pub fn sample_gaps(t: &[f64]) -> Vec<SampleGap> {
    let mut d: Vec<f64> = t
        .windows(2)
        .map(|w| w[1] - w[0])
        .filter(|v| v.is_finite())
        .collect();
    if d.len() < 2 {
        return Vec::new();
    }
    let mid = d.len() / 2;
    let cadence_s = *d.select_nth_unstable_by(mid, f64::total_cmp).1;
    let min = (GAP_INTERVALS * cadence_s).max(GAP_MIN_S);
    t.windows(2)
        .filter(|w| w[1] - w[0] > min)
        .map(|w| SampleGap {
            from_s: w[0],
            to_s: w[1],
            cadence_s,
        })
        .collect()
}

/// The analysis of a whole run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    /// Seconds covered by the samples.
    #[serde(deserialize_with = "nan_if_null")]
    pub duration_s: f64,
    /// Rows analysed.
    pub samples: usize,
    /// Items embedded (last cumulative count), when counted.
    #[serde(default)]
    pub items: Option<u64>,
    /// Rows dropped on reading (cut last line).
    #[serde(default)]
    pub dropped_rows: usize,
    /// Stretches with no sample ([`sample_gaps`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gaps: Vec<SampleGap>,
    /// Per metric.
    pub metrics: Vec<MetricAnalysis>,
    /// Per threshold.
    pub thresholds: Vec<ThresholdResult>,
}

impl Analysis {
    /// Whether any threshold failed.
    pub fn breached(&self) -> bool {
        self.thresholds.iter().any(|t| t.outcome == Outcome::Fail)
    }

    /// The analysis of one metric.
    pub fn metric(&self, m: Metric) -> Option<&MetricAnalysis> {
        self.metrics.iter().find(|a| a.metric == m)
    }

    /// The thresholds that could not be judged on a metric this run
    /// samples ([`ThresholdResult::unjudged`]): a fitted statistic (slope,
    /// slope_per_1k, growth) left too few samples after warm-up to fit a
    /// drift (a warm-up as long as the run, a target that ended early); a
    /// `slope_per_1k` whose items were counted but none finished after
    /// warm-up (a stalled pipeline); any threshold on a metric whose column
    /// holds no reading at all (the target gone before the first sample).
    /// Nothing says such a limit held, so a run with one is not a pass
    /// ([`verdict::verdict`]). A threshold on a metric the run does not
    /// sample (`vram` without a GPU), or per item on a run that counts
    /// none, is skipped, and not listed here.
    pub fn unjudged(&self) -> impl Iterator<Item = &ThresholdResult> {
        self.thresholds.iter().filter(|t| t.unjudged.is_some())
    }

    /// Every threshold in force was skipped (`-t vram.slope<1MiB/min` alone
    /// on a machine with no GPU): a gate that judged nothing cannot pass.
    pub fn nothing_judged(&self) -> bool {
        !self.thresholds.is_empty()
            && self
                .thresholds
                .iter()
                .all(|t| t.outcome == Outcome::Skipped)
    }

    /// One line per cause among the [`Analysis::unjudged`] thresholds, for
    /// a report's errors: which could not be judged, why, and what to
    /// change.
    pub fn unjudged_errors(&self) -> Vec<String> {
        // NOTE: one line per cause, naming every threshold it stopped: a
        // run that took too few samples said so once per threshold.
        let mut causes: Vec<(&str, &str, Vec<&str>)> = Vec::new();
        for t in self.unjudged() {
            let why = (t.note.as_str(), t.unjudged.as_deref().unwrap_or_default());
            match causes.iter_mut().find(|c| (c.0, c.1) == why) {
                Some(c) => c.2.push(&t.threshold.expr),
                None => causes.push((why.0, why.1, vec![&t.threshold.expr])),
            }
        }
        let mut lines: Vec<String> = causes
            .into_iter()
            .map(|(note, what, exprs)| {
                format!("{} could not be judged: {note}; {what}", exprs.join(", "))
            })
            .collect();
        if lines.is_empty() && self.nothing_judged() {
            let skipped: Vec<String> = self
                .thresholds
                .iter()
                .map(|t| format!("{} ({})", t.threshold.expr, t.note))
                .collect();
            lines.push(format!(
                "no threshold was judged: {}; give one on a metric this run samples",
                skipped.join(", ")
            ));
        }
        lines
    }
}

/// Index of the first steady-state sample of `y` (times `t`) under `rule`.
/// `items` (aligned with `t`; NaN where not counted, as in `watch`) is how
/// many items the workload had finished at each sample: the auto rule looks
/// for the end of warm-up from the first sample after an item was done.
///
/// NOTE: `memsoak run` takes its first sample before the embedder has
/// finished anything, with only the model loaded (the default candle run:
/// rss 110 MiB, then 145–158 MiB from the first batch on). Left in, that one
/// low sample sat in the steady window of 5 of 8 healthy 2-minute runs (the
/// auto cut read no transient in a single sample) and counted as growth
/// against every later one: Mann–Kendall's S gains up to n − 1 pairs and
/// Sen's slope moves up. The user's own rules (a duration, a percentage)
/// are taken as given.
pub fn warmup_index(rule: Warmup, t: &[f64], items: &[f64], y: &[f64]) -> usize {
    if t.is_empty() {
        return 0;
    }
    let t0 = t[0];
    let cut = match rule {
        Warmup::Auto => {
            let s = items
                .iter()
                .position(|&v| v > 0.0)
                .unwrap_or(0)
                .min(t.len());
            return s + stats::auto_warmup(&t[s..], &y[s..]).min(t.len() - s);
        }
        Warmup::Time(d) => t0 + d.as_secs_f64(),
        Warmup::Fraction(f) => t0 + f * (t[t.len() - 1] - t0),
    };
    t.partition_point(|&x| x < cut)
}

/// The mirror image `c − y` of a series about the middle of its finite
/// range, `c` returned beside it: memory in use where `y` is memory
/// available ([`Metric::lower_is_worse`]). Its values stay within the
/// range `y` spans.
pub fn mirrored(y: &[f64]) -> (f64, Vec<f64>) {
    let c = finite_range(y).map_or(0.0, |(lo, hi)| lo + hi);
    (c, y.iter().map(|&v| c - v).collect())
}

/// The lowest and highest finite values of `y`; `None` without any.
fn finite_range(y: &[f64]) -> Option<(f64, f64)> {
    y.iter().filter(|v| v.is_finite()).fold(None, |r, &v| {
        Some(r.map_or((v, v), |(lo, hi): (f64, f64)| (lo.min(v), hi.max(v))))
    })
}

impl Estimate {
    /// The estimate of the mirror image's slope: negated, its interval's
    /// ends swapped.
    fn mirrored(self) -> Estimate {
        Estimate {
            value: -self.value,
            ci_low: -self.ci_high,
            ci_high: -self.ci_low,
        }
    }
}

/// Analyse one metric column. `None` when it has no readings at all.
///
/// A metric whose fall is the bad direction (available memory) is fitted
/// on its mirror image, memory in use, and the fit mirrored back: the
/// views are models of memory in use, whose cycles climb slowly and drop
/// at once, so a process's GC sawtooth shows in available memory as slow
/// falls and sharp rises. Fitted upright, those cycles read as a level
/// that jumps, and a leak under them as noise.
pub fn analyze_metric(
    metric: Metric,
    t_all: &[f64],
    items_all: &[f64],
    y_all: &[f64],
    warmup: Warmup,
    confidence: f64,
) -> Option<MetricAnalysis> {
    if !metric.lower_is_worse() {
        return analyze_upright(metric, t_all, items_all, y_all, warmup, confidence);
    }
    let (_, used) = mirrored(y_all);
    let m = analyze_upright(metric, t_all, items_all, &used, warmup, confidence)?;
    let note = |s: String| format!("on its mirror image, memory in use: {s}");
    let (min, max) = finite_range(y_all).unwrap_or((m.min, m.max));
    let finite = || y_all.iter().copied().filter(|v| v.is_finite());
    Some(MetricAnalysis {
        slope_per_min: m.slope_per_min.map(Estimate::mirrored),
        slope_per_1k: m.slope_per_1k.map(Estimate::mirrored),
        method: m.method.map(note),
        model_reason: m.model_reason.map(note),
        ols_slope_per_min: m.ols_slope_per_min.map(|v| -v),
        growth: m.growth.map(|v| -v),
        growth_ci: m.growth_ci.map(|(lo, hi)| (-hi, -lo)),
        // The window found is where memory in use grew faster late:
        // available memory fell faster there.
        late: m.late.map(|l| LateWindow {
            slope_per_min: l.slope_per_min.mirrored(),
            growth: -l.growth,
            rose: false,
            fell: l.rose,
            ..l
        }),
        max,
        min,
        first: finite().next().unwrap_or(m.first),
        last: finite().next_back().unwrap_or(m.last),
        ..m
    })
}

/// How far samples moved: their max − min. A fitted growth is held within
/// ± this: a line's rise over the span can pass it (through a staircase of
/// three 2 MiB steps, 7.4 MiB where the samples moved 6), and memory did
/// not grow more than its samples moved.
#[derive(Clone, Copy)]
struct Moved(f64);

impl Moved {
    fn of(y: &[f64]) -> Moved {
        Moved(finite_range(y).map_or(0.0, |(lo, hi)| hi - lo))
    }

    fn clamp(self, growth: f64) -> f64 {
        growth.clamp(-self.0, self.0)
    }
}

/// [`analyze_metric`] of a series read as it stands.
fn analyze_upright(
    metric: Metric,
    t_all: &[f64],
    items_all: &[f64],
    y_all: &[f64],
    warmup: Warmup,
    confidence: f64,
) -> Option<MetricAnalysis> {
    let keep: Vec<usize> = (0..y_all.len()).filter(|&i| y_all[i].is_finite()).collect();
    if keep.is_empty() {
        return None;
    }
    let t: Vec<f64> = keep.iter().map(|&i| t_all[i]).collect();
    let y: Vec<f64> = keep.iter().map(|&i| y_all[i]).collect();
    let done: Vec<f64> = keep
        .iter()
        .map(|&i| items_all.get(i).copied().unwrap_or(f64::NAN))
        .collect();
    let w = warmup_index(warmup, &t, &done, &y).min(y.len());
    let (ts, ys) = (&t[w..], &y[w..]);
    let warmup_end_s = ts.first().copied().unwrap_or(t[t.len() - 1]);
    let drift = stats::drift(ts, ys, confidence);
    let per_min = |v: f64| v * 60.0;
    let slope_per_min = drift.as_ref().map(|d| Estimate {
        value: per_min(d.slope),
        ci_low: per_min(d.ci_low),
        ci_high: per_min(d.ci_high),
    });
    // Drift against items: only where items were counted on every kept row.
    let items = &done[w..];
    let slope_per_1k = if !items.is_empty() && items.iter().all(|v| v.is_finite()) {
        stats::drift_on(stats::Axis::Items, items, ys, confidence).map(|d| Estimate {
            value: d.slope * 1000.0,
            ci_low: d.ci_low * 1000.0,
            ci_high: d.ci_high * 1000.0,
        })
    } else {
        None
    };
    let items_stalled_at = (items.len() > 1
        && items.iter().all(|v| v.is_finite())
        && items.iter().all(|&v| v == items[0]))
    .then(|| items[0]);
    let span = ts.last().map_or(0.0, |l| l - warmup_end_s);
    let late = drift
        .as_ref()
        .and_then(|d| stats::late_drift(ts, ys, confidence, d, LATE_MIN_SPAN_S))
        .map(|l| LateWindow {
            items_per_s: slope_per_1k.and_then(|_| items_per_s_from(ts, items, l.from)),
            from_s: l.from,
            span_s: ts[ts.len() - 1] - l.from,
            slope_per_min: Estimate {
                value: per_min(l.drift.slope),
                ci_low: per_min(l.drift.ci_low),
                ci_high: per_min(l.drift.ci_high),
            },
            p_value: l.drift.p_value,
            confidence: l.confidence,
            significant: l.drift.significant,
            rose: l.rose,
            fell: false,
            growth: l.drift.slope * (ts[ts.len() - 1] - l.from),
            windows: l.windows,
            model: l.drift.model.name().to_string(),
        });
    let fold = |f: fn(f64, f64) -> f64, init| y.iter().copied().fold(init, f);
    let moved = Moved::of(ys);
    let sample_period = if t.len() > 1 {
        (t[t.len() - 1] - t[0]) / (t.len() - 1) as f64
    } else {
        0.0
    };
    Some(MetricAnalysis {
        metric,
        samples: y.len(),
        warmup_end_s,
        steady_samples: ys.len(),
        slope_per_min,
        slope_per_1k,
        trend_p_value: drift.as_ref().map(|d| d.p_value),
        significant: drift.as_ref().is_some_and(|d| d.significant),
        method: drift.as_ref().map(|d| d.method.clone()),
        model: drift.as_ref().map(|d| d.model.name().to_string()),
        model_reason: drift.as_ref().map(|d| d.reason.clone()),
        cycle_s: drift
            .as_ref()
            .and_then(|d| d.cycle_len)
            .map(|c| c as f64 * sample_period),
        ols_slope_per_min: drift
            .as_ref()
            .and_then(|d| d.ols.as_ref())
            .map(|o| per_min(o.slope)),
        growth: drift.as_ref().map(|d| moved.clamp(d.slope * span)),
        growth_ci: drift
            .as_ref()
            .map(|d| (moved.clamp(d.ci_low * span), moved.clamp(d.ci_high * span))),
        // NOTE: at least one: the persistence factor of a fit the mean step
        // decided can exceed its points (0.1 of 21 samples of a steady
        // climb), and a fit is worth at least one sample.
        effective_samples: drift.as_ref().map(|d| d.effective_n.max(1.0)),
        interval_from_range: drift.as_ref().is_some_and(|d| d.interval_from_range),
        items_stalled_at,
        late,
        max: fold(f64::max, f64::NEG_INFINITY),
        min: fold(f64::min, f64::INFINITY),
        first: y[0],
        last: y[y.len() - 1],
    })
}

/// Items embedded per second from time `from` to the end of `t` (items
/// counted at those two samples, `items` aligned with `t`): what a
/// trailing window's rate per 1000 items is read by. `None` where the
/// count did not rise. O(log n).
fn items_per_s_from(t: &[f64], items: &[f64], from: f64) -> Option<f64> {
    let i = t.partition_point(|&x| x < from);
    let rate = (items.last()? - items.get(i)?) / (t.last()? - t.get(i)?);
    (rate.is_finite() && rate > 0.0).then_some(rate)
}

/// Analyse every metric of a table and evaluate the thresholds.
///
/// Cost: one [`analyze_metric`] per column, spread over the machine's cores
/// (each is independent and O(n)): ten metrics of a day at 10 Hz take
/// about three quarters of a second on 2 cores, the trailing windows of each
/// ([`LateWindow`]) included (see `benches/analysis.rs`).
pub fn analyze(table: &SampleTable, opts: &AnalysisOptions) -> Analysis {
    let one = |(m, y): (&Metric, &Vec<f64>)| {
        analyze_metric(*m, &table.t, &table.items, y, opts.warmup, opts.confidence)
    };
    let columns: Vec<_> = table.metrics.iter().zip(&table.values).collect();
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    // NOTE: threads only pay off on long runs; a short table is analysed in
    // place (no thread start-up, nothing extra allocated).
    let metrics: Vec<MetricAnalysis> = if workers < 2 || table.len() < 50_000 {
        columns.into_iter().filter_map(one).collect()
    } else {
        let chunk = columns.len().div_ceil(workers).max(1);
        std::thread::scope(|s| {
            let handles: Vec<_> = columns
                .chunks(chunk)
                .map(|part| {
                    s.spawn(move || part.iter().copied().filter_map(one).collect::<Vec<_>>())
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        })
    };
    let (start_s, end_s) = match (table.t.first(), table.t.last()) {
        (Some(&a), Some(&b)) => (a, b),
        _ => (0.0, 0.0),
    };
    let target_unread =
        table.metrics.contains(&Metric::Rss) && !metrics.iter().any(|m| m.metric == Metric::Rss);
    let thresholds = opts
        .thresholds
        .iter()
        .map(|th| {
            if let Some(r) = no_swap_skip(th, opts.swap_total) {
                return r;
            }
            let m = metrics.iter().find(|m| m.metric == th.metric);
            let mut r = evaluate(th, m, opts.min_growth);
            // NOTE: where the target itself was never read (its `rss`
            // column holds nothing: gone before the first sample) nothing
            // of it was judged: `watch -- true` passed, exit 0, where a
            // target that lived 3 s was exit 2. One column of a target
            // that was read can be empty on a healthy run (`vram` where
            // NVML hides a process's usage, `pss` where smaps cannot be
            // read): that is skipped, no fault, as a metric the run does
            // not sample at all (`vram` without a GPU).
            if m.is_none() && target_unread && table.metrics.contains(&th.metric) {
                r.note = format!("`{}` has no reading on this run", th.metric);
                r.unjudged = Some(
                    "the target was gone before the first sample (did it exit at once?)".into(),
                );
            }
            settle(r, m, start_s, end_s, opts.confidence)
        })
        .collect();
    let duration_s = end_s - start_s;
    Analysis {
        duration_s,
        samples: table.len(),
        items: table
            .items
            .iter()
            .rev()
            .find(|v| v.is_finite())
            .map(|v| *v as u64),
        dropped_rows: table.dropped_rows,
        gaps: sample_gaps(&table.t),
        metrics,
        thresholds,
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::*;
    use super::*;
    use proptest::prelude::*;

    proptest! {
        // --warmup is typed by people: any text is a rule or one line.
        #[test]
        fn any_warmup_text_is_a_rule_or_one_line(s in "(auto|[0-9.]{0,4}(%|s|m|h|ms)?|\\PC{0,12})") {
            match Warmup::parse(&s) {
                Ok(Warmup::Fraction(f)) => prop_assert!((0.0..1.0).contains(&f)),
                Ok(_) => {}
                Err(e) => prop_assert!(!e.contains('\n'), "{e}"),
            }
        }
    }

    use crate::units::MIB;

    #[test]
    fn clean_leak_fails_slope_and_growth_but_not_cap() {
        // 6 MiB/min = 0.1 MiB/s, exactly linear.
        let t = table(|x| 100.0 * MIB + 0.1 * MIB * x, 120);
        let a = analyze(
            &t,
            &opts(&[
                "rss.slope<2MiB/min",
                "rss.max<1GiB",
                "rss.growth<1MiB",
                "rss.slope_per_1k<1MiB",
            ]),
        );
        let m = a.metric(Metric::Rss).unwrap();
        let s = m.slope_per_min.unwrap().value / MIB;
        assert!((s - 6.0).abs() < 0.01, "slope {s}");
        // 10 items/s → 0.1 MiB per 10 items → 10 MiB per 1k items.
        assert!((m.slope_per_1k.unwrap().value / MIB - 10.0).abs() < 0.01);
        let outcomes: Vec<Outcome> = a.thresholds.iter().map(|t| t.outcome).collect();
        assert_eq!(
            outcomes,
            [Outcome::Fail, Outcome::Pass, Outcome::Fail, Outcome::Fail]
        );
        assert!(a.breached());
        assert_eq!(a.items, Some(1190));
    }

    #[test]
    fn flat_passes_and_absent_metric_is_skipped() {
        let t = table(
            |x| {
                100.0 * MIB
                    + if (x as u64).is_multiple_of(2) {
                        4096.0
                    } else {
                        0.0
                    }
            },
            90,
        );
        let a = analyze(&t, &opts(&["rss.slope<2MiB/min", "vram.slope<1MiB/min"]));
        assert_eq!(a.thresholds[0].outcome, Outcome::Pass);
        assert_eq!(a.thresholds[1].outcome, Outcome::Skipped);
        assert!(a.thresholds[1].note.contains("not sampled"));
        assert!(!a.breached());
        // Not sampled at all is no reason to withhold the pass.
        assert_eq!(a.unjudged().count(), 0);
        assert_eq!(verdict::verdict(&a, false), verdict::Verdict::Pass);
    }

    #[test]
    fn a_sampled_column_with_no_reading_is_unjudged_an_absent_one_skipped() {
        // The target was gone before the first sample: its column holds
        // nothing. That judged nothing, and passed every threshold, exit 0.
        let mut t = SampleTable::new(vec![Metric::Rss, Metric::Pss]);
        t.push(0.0, None, &[None, None]);
        let a = analyze(
            &t,
            &opts(&["rss.max<1GiB", "pss.max<1GiB", "vram.slope<1MiB/min"]),
        );
        assert_eq!(a.thresholds[0].outcome, Outcome::Skipped);
        assert_eq!(a.thresholds[0].note, "`rss` has no reading on this run");
        let unjudged: Vec<&str> = a.unjudged().map(|t| t.threshold.expr.as_str()).collect();
        assert_eq!(
            unjudged,
            ["rss.max<1GiB", "pss.max<1GiB"],
            "vram has no column: no fault"
        );
        assert_eq!(verdict::verdict(&a, false), verdict::Verdict::Error);
        // A target that was read, one of whose columns is empty (pss where
        // smaps cannot be read, vram where NVML hides a process): skipped,
        // no fault, and the run is judged on the rest.
        let mut t = SampleTable::new(vec![Metric::Rss, Metric::Pss]);
        for i in 0..20 {
            t.push(i as f64, None, &[Some((100.0 * MIB) as u64), None]);
        }
        let a = analyze(&t, &opts(&["rss.max<1GiB", "pss.max<1GiB"]));
        assert_eq!(a.thresholds[1].note, "`pss` was not sampled on this run");
        assert_eq!(a.unjudged().count(), 0);
        assert_eq!(verdict::verdict(&a, false), verdict::Verdict::Pass);
        // A report written before the field reads back with none.
        let mut v = serde_json::to_value(&a.thresholds[1]).unwrap();
        assert!(v.get("unjudged").is_none());
        v.as_object_mut().unwrap().remove("unjudged");
        let back: ThresholdResult = serde_json::from_value(v).unwrap();
        assert_eq!(back.unjudged, None);
    }

    #[test]
    fn a_limit_per_item_on_a_stalled_pipeline_is_not_a_pass() {
        // Items counted, but none finished after the first 10 s while RSS
        // climbed 60 MiB/min: the per-item limit was skipped as "items are
        // not counted on this run", and the run passed, exit 0.
        let mut t = SampleTable::new(vec![Metric::Rss]);
        for i in 0..120 {
            let x = i as f64;
            t.push(
                x,
                Some(i.min(10) as u64 * 10),
                &[Some((100.0 * MIB + MIB * x) as u64)],
            );
        }
        let mut o = opts(&["rss.slope_per_1k<100KiB", "rss.max<1GiB"]);
        o.warmup = Warmup::Fraction(0.1);
        let a = analyze(&t, &o);
        assert_eq!(a.metric(Metric::Rss).unwrap().items_stalled_at, Some(100.0));
        assert_eq!(a.thresholds[0].outcome, Outcome::Skipped);
        assert!(
            a.thresholds[0].note.contains("count stayed at 100"),
            "{:?}",
            a.thresholds[0]
        );
        let unjudged: Vec<&str> = a.unjudged().map(|t| t.threshold.expr.as_str()).collect();
        assert_eq!(unjudged, ["rss.slope_per_1k<100KiB"]);
        assert_eq!(verdict::verdict(&a, false), verdict::Verdict::Error);
        let errors = a.unjudged_errors();
        assert!(
            errors[0].contains("the workload must make progress"),
            "{errors:?}"
        );
        // Items still finishing: judged (and here failed: 60 MiB/min at 1 item/s).
        let a = analyze(&table(|x| 100.0 * MIB + MIB * x, 120), &o);
        assert_eq!(a.metric(Metric::Rss).unwrap().items_stalled_at, None);
        assert_eq!(a.unjudged().count(), 0);
        assert_eq!(a.thresholds[0].outcome, Outcome::Fail);
        // No items counted at all (watch without --items-file): skipped,
        // nothing to withhold the pass for.
        let mut t = SampleTable::new(vec![Metric::Rss]);
        for i in 0..120 {
            t.push(i as f64, None, &[Some((100.0 * MIB) as u64)]);
        }
        let a = analyze(&t, &o);
        assert!(
            a.thresholds[0].note.contains("not counted"),
            "{:?}",
            a.thresholds[0]
        );
        assert_eq!(a.unjudged().count(), 0);
        assert_eq!(verdict::verdict(&a, false), verdict::Verdict::Pass);
    }

    #[test]
    fn a_fitted_limit_left_without_samples_after_warm_up_is_not_a_pass() {
        // A leak of 60 MiB/min whose run the warm-up took whole: before, its
        // slope limit was skipped and the run passed, exit 0.
        let t = table(|x| 100.0 * MIB + MIB * x, 20);
        let mut o = opts(&["rss.slope<2MiB/min", "rss.max<1GiB"]);
        o.warmup = Warmup::Fraction(1.0);
        let a = analyze(&t, &o);
        assert_eq!(a.thresholds[0].outcome, Outcome::Skipped);
        assert_eq!(a.thresholds[1].outcome, Outcome::Pass);
        let unjudged: Vec<&str> = a.unjudged().map(|t| t.threshold.expr.as_str()).collect();
        assert_eq!(unjudged, ["rss.slope<2MiB/min"]);
        assert_eq!(verdict::verdict(&a, false), verdict::Verdict::Error);
        let errors = a.unjudged_errors();
        assert!(
            errors[0].starts_with(
                "rss.slope<2MiB/min could not be judged: too few samples after warm-up"
            ),
            "{errors:?}"
        );
        // Seven samples fit no drift either; eight do, and the run is judged.
        let mut o = opts(&["rss.slope<2MiB/min"]);
        o.warmup = Warmup::Fraction(0.0);
        for (n, judged) in [(7, false), (8, true)] {
            let a = analyze(&table(|x| 100.0 * MIB + MIB * x, n), &o);
            assert_eq!(a.unjudged().count() == 0, judged, "{n} samples");
        }
        // A breach elsewhere still fails the run (exit 1), unjudged or not.
        let mut o = opts(&["rss.slope<2MiB/min", "rss.max<1MiB"]);
        o.warmup = Warmup::Fraction(1.0);
        assert_eq!(
            verdict::verdict(&analyze(&t, &o), false),
            verdict::Verdict::Fail
        );
    }

    #[test]
    fn growth_that_began_late_fails_an_upper_slope_limit_on_its_window() {
        // 30 minutes of 4 MiB noise; a 6 MiB/min leak over the last 4.5.
        let mut rng = crate::stats::test_rng::Rng::new(11);
        let noise: Vec<f64> = (0..1800).map(|_| 4.0 * MIB * rng.normal()).collect();
        let late = table(
            |x| 200.0 * MIB + (x - 1530.0).max(0.0) * 0.1 * MIB + noise[x as usize],
            1800,
        );
        let a = analyze(
            &late,
            &opts(&[
                "rss.slope<2MiB/min",
                "rss.slope>0B/min",
                "rss.growth<100MiB",
                "rss.growth<20MiB",
                "rss.slope_per_1k<4MiB",
            ]),
        );
        let m = a.metric(Metric::Rss).unwrap();
        assert!(m.slope_per_min.unwrap().value < MIB, "{m:?}");
        let w = m.late.as_ref().unwrap();
        // Windows of 900, 636, 450, 318 and 225 s: the steepest of those
        // significant begins near the onset.
        assert!(
            w.significant && w.rose && (1400.0..1600.0).contains(&w.from_s),
            "{w:?}"
        );
        assert_eq!(w.windows, 5);
        assert!((w.confidence - (1.0 - 0.05 / 20.0)).abs() < 1e-12);
        let slope = &a.thresholds[0];
        assert_eq!(slope.outcome, Outcome::Fail, "{}", slope.note);
        assert!(
            slope.note.starts_with("growth began late: over the last "),
            "{}",
            slope.note
        );
        let win = slope.window.unwrap();
        assert_eq!((win.from_s, win.span_s), (w.from_s, w.span_s));
        let label = format!("last {}", crate::units::fmt_secs(w.span_s));
        assert_eq!(
            slope.measured_text().unwrap(),
            format!(
                "{}, {label}",
                slope.threshold.format_value(slope.measured.unwrap())
            )
        );
        assert!(
            slope.ci_text().unwrap().ends_with("(99.75%)"),
            "{:?}",
            slope.ci_text()
        );
        let rate = slope.measured.unwrap() * 60.0 / MIB;
        assert!((4.5..8.0).contains(&rate), "{rate}");
        // A lower limit reads the whole run, and so does a growth limit
        // that the window's growth (about 27 MiB) does not pass.
        assert!(a.thresholds[1].window.is_none() && a.thresholds[2].window.is_none());
        assert_eq!(a.thresholds[2].outcome, Outcome::Pass);
        // Growth over the run: the whole run's line reads a fraction of
        // what the window grew, which is past 20 MiB.
        let whole_growth = m.growth.unwrap();
        assert!(whole_growth < 20.0 * MIB, "{}", whole_growth / MIB);
        let growth = &a.thresholds[3];
        assert_eq!(growth.outcome, Outcome::Fail, "{}", growth.note);
        assert_eq!(growth.window, slope.window);
        let grew = growth.measured.unwrap() / MIB;
        assert!((22.0..40.0).contains(&grew), "{grew}");
        assert!((growth.measured.unwrap() - w.growth).abs() < 1.0, "{grew}");
        assert!(
            growth.note.starts_with("growth began late: over the last ")
                && growth.note.contains("exceeds 20"),
            "{}",
            growth.note
        );
        let (lo, hi) = growth.ci.unwrap();
        assert!(lo > 0.0 && lo < growth.measured.unwrap() && hi > growth.measured.unwrap());
        // Per 1000 items (10 a second): the whole run reads under 2 MiB,
        // the window its rate over the 600 items a minute, about 10.
        assert!((w.items_per_s.unwrap() - 10.0).abs() < 1e-9);
        assert!(m.slope_per_1k.unwrap().value < 2.0 * MIB);
        let per_1k = &a.thresholds[4];
        assert_eq!(per_1k.outcome, Outcome::Fail, "{}", per_1k.note);
        assert_eq!(per_1k.window, slope.window);
        let v = per_1k.measured.unwrap();
        assert!(
            (v - slope.measured.unwrap() * 100.0).abs() < 1.0,
            "{}",
            v / MIB
        );
        // The same noise alone: a window, no breach.
        let flat = table(|x| 200.0 * MIB + noise[x as usize], 1800);
        let a = analyze(&flat, &opts(&["rss.slope<2MiB/min"]));
        assert_eq!(a.thresholds[0].outcome, Outcome::Pass);
        assert!(a.thresholds[0].window.is_none());
        // The report keeps the window and reads it back.
        let m = a.metric(Metric::Rss).unwrap();
        let back: MetricAnalysis =
            serde_json::from_str(&serde_json::to_string(m).unwrap()).unwrap();
        assert_eq!(&back, m);
    }

    #[test]
    fn late_leaks_are_caught_and_windows_fail_no_healthy_run() {
        // The calibration's cells (`stats::calibration`), 40 seeds each: a
        // 3× leak over the last quarter of the run, and the healthy runs
        // whose windows could read a leak where there is none (persistent
        // noise, a cycle as long as the run, a warm-up, a cache).
        use crate::stats::calibration::{Behaviour, Noise, Scenario};
        const SEEDS: u64 = 40;
        let th: Threshold = "rss.slope<2MiB/min".parse().unwrap();
        let fails = |noise, behaviour, seconds| {
            let s = Scenario {
                noise,
                behaviour,
                seconds,
                hz: 1.0,
            };
            (0..SEEDS)
                .filter(|&seed| {
                    let (t, y) = s.simulate(seed);
                    let items = vec![f64::NAN; t.len()];
                    let m = analyze_metric(Metric::Rss, &t, &items, &y, Warmup::Auto, 0.95);
                    evaluate(&th, m.as_ref(), DEFAULT_MIN_GROWTH).outcome == Outcome::Fail
                })
                .count() as u64
        };
        // Over the whole run such a leak reads at a sixteenth of its rate.
        for (noise, seconds, least) in [
            (Noise::White, 1800.0, 38),
            (Noise::Jump, 1800.0, 38),
            (Noise::Sawtooth, 1800.0, 38),
            // Its held levels and heavy tails make lone drops after a jump
            // or a wander: while those counted as a long cycle's, they left
            // up to 8 of 40 no window (a gradual ramp required: 2; a
            // steady one: none); quantised readings' up to 2.
            (Noise::Mixture, 1800.0, 39),
            (Noise::Quantised, 1800.0, 39),
            (Noise::White, 600.0, 38),
            (Noise::Jump, 600.0, 28),
            // 21 cycle means in the shortest window: measured about a line,
            // the bend inside it was read as their noise (34% caught).
            (Noise::Sawtooth, 600.0, 38),
            (Noise::TimerSawtooth, 600.0, 38),
        ] {
            let caught = fails(noise, Behaviour::LateLeak, seconds);
            assert!(
                caught >= least,
                "{noise:?} {seconds} s: {caught} of {SEEDS}"
            );
        }
        // Healthy: persistent and held noise over 30 minutes (five windows
        // each); the slow sawtooth, whose lone drop leaves a ramp that a
        // window would read as a leak, at both lengths.
        let healthy = [Behaviour::Flat, Behaviour::Warmup, Behaviour::BoundedCache];
        let cells = [Noise::Ar1(0.98), Noise::Mixture, Noise::Jump]
            .into_iter()
            .flat_map(|n| healthy.map(|b| (n, b, 1800.0)))
            .chain([600.0, 1800.0].into_iter().flat_map(|s| {
                [Behaviour::Warmup, Behaviour::BoundedCache].map(|b| (Noise::SlowSawtooth, b, s))
            }));
        for (noise, behaviour, seconds) in cells {
            let failed = fails(noise, behaviour, seconds);
            assert!(
                failed <= 2,
                "{noise:?} {behaviour:?} {seconds} s: {failed} of {SEEDS}"
            );
        }
    }

    #[test]
    fn a_short_noisy_pass_is_not_conclusive_and_says_how_long_would_be() {
        // 8 MiB white noise, 90 s: the interval of a flat run is several
        // MiB/min wide, past a 2 MiB/min limit.
        let a = analyze(
            &noisy(8.0 * MIB, 0.0, 90, 3),
            &opts(&["rss.slope<2MiB/min"]),
        );
        let r = &a.thresholds[0];
        assert_eq!(r.outcome, Outcome::Pass, "{}", r.note);
        assert_eq!(r.conclusive, Some(false), "{}", r.note);
        let run = r.settle_run_s.expect("a run length");
        assert!(run > 90.0 && run < 3600.0, "{run}");
        assert!(r.note.contains("not conclusive"), "{}", r.note);
        // The same noise over that length settles it in most runs (80%
        // planned: at least 6 of 10 seeds here).
        let settled = (10..20)
            .filter(|&seed| {
                let a = analyze(
                    &noisy(8.0 * MIB, 0.0, run.ceil() as usize, seed),
                    &opts(&["rss.slope<2MiB/min"]),
                );
                a.thresholds[0].conclusive == Some(true)
            })
            .count();
        assert!(settled >= 6, "{settled} of 10 at {run:.0} s");
    }

    #[test]
    fn quiet_passes_and_plain_breaches_are_conclusive() {
        let a = analyze(
            &noisy(0.5 * MIB, 0.0, 600, 4),
            &opts(&["rss.slope<2MiB/min"]),
        );
        let r = &a.thresholds[0];
        assert_eq!(
            (r.outcome, r.conclusive),
            (Outcome::Pass, Some(true)),
            "{}",
            r.note
        );
        assert_eq!(r.settle_run_s, None);
        assert!(!r.note.contains("not conclusive"), "{}", r.note);
        // 12 MiB/min under 0.5 MiB noise: the whole interval is past.
        let a = analyze(
            &noisy(0.5 * MIB, 0.2 * MIB, 300, 5),
            &opts(&["rss.slope<2MiB/min", "rss.max<1GiB"]),
        );
        let r = &a.thresholds[0];
        assert_eq!(
            (r.outcome, r.conclusive),
            (Outcome::Fail, Some(true)),
            "{}",
            r.note
        );
        // A cap has no interval: nothing to say.
        assert_eq!(a.thresholds[1].conclusive, None);
    }

    #[test]
    fn a_pass_is_rarely_called_conclusive_on_a_leak_at_the_limit() {
        // The interval's upper tail: on a leak exactly at the limit, a
        // conclusive pass needs the whole 95% interval under it, 2.5% of
        // runs where the interval is right (`calibrate --settle`: 2–4% in
        // these families over 200 seeds; quantised readings were at 11%
        // while Sen's slope centred their interval). 100 seeded 90 s runs
        // at 1 Hz per family; at most 6 of them.
        use crate::stats::calibration::{Behaviour, Noise, Scenario};
        let th: Threshold = "rss.slope<2MiB/min".parse().unwrap();
        for noise in [
            Noise::White,
            Noise::Quantised,
            Noise::Ar1(0.5),
            Noise::JitteredSawtooth,
        ] {
            let s = Scenario {
                noise,
                behaviour: Behaviour::Linear(1.0),
                seconds: 90.0,
                hz: 1.0,
            };
            let wrong = (0..100)
                .filter(|&seed| {
                    let (t, y) = s.simulate(seed);
                    let items = vec![f64::NAN; t.len()];
                    let m = analyze_metric(Metric::Rss, &t, &items, &y, Warmup::Auto, 0.95);
                    let r = settle(
                        evaluate(&th, m.as_ref(), DEFAULT_MIN_GROWTH),
                        m.as_ref(),
                        0.0,
                        t[t.len() - 1],
                        0.95,
                    );
                    r.outcome == Outcome::Pass && r.conclusive == Some(true)
                })
                .count();
            assert!(
                wrong <= 6,
                "{}: {wrong} of 100 conclusive passes at the limit",
                noise.name()
            );
        }
    }

    #[test]
    fn a_lower_limit_is_settled_from_the_other_side() {
        // A floor on the slope (memory must keep growing at 1 MiB/min, as
        // a cache being filled does): 6 MiB/min under quiet noise settles
        // it from above; 3 MiB/min under loud noise in 90 s does not.
        let th = ["rss.slope>1MiB/min"];
        let quiet = analyze(&noisy(0.5 * MIB, 0.1 * MIB, 600, 6), &opts(&th));
        let r = &quiet.thresholds[0];
        assert_eq!(
            (r.outcome, r.conclusive),
            (Outcome::Pass, Some(true)),
            "{}",
            r.note
        );
        let loud = analyze(&noisy(8.0 * MIB, 0.05 * MIB, 90, 7), &opts(&th));
        let r = &loud.thresholds[0];
        assert_eq!(r.conclusive, Some(false), "{}", r.note);
        if r.outcome == Outcome::Pass {
            assert!(
                r.settle_run_s.is_some_and(|s| s > 90.0),
                "{:?}",
                r.settle_run_s
            );
        }
    }

    #[test]
    fn a_lower_limit_above_0_is_breached_by_an_interval_wholly_below_it() {
        // "Memory must keep growing at 1 MiB/min" on a flat run: no drift
        // at all is the breach, so the evidence is the interval wholly
        // under the limit, not a significant trend (a flat run has none,
        // and passed "not significant" with its interval at ±70 KiB/min),
        // and no materiality floor holds it.
        let flat = noisy(0.5 * MIB, 0.0, 300, 3);
        let a = analyze(
            &flat,
            &opts(&["rss.slope>1MiB/min", "rss.growth>5MiB", "rss.slope>0B/min"]),
        );
        let [slope, growth, zero] = &a.thresholds[..] else {
            panic!("{:?}", a.thresholds)
        };
        assert_eq!(slope.outcome, Outcome::Fail, "{}", slope.note);
        assert!(
            slope.note.contains("and so is its whole interval"),
            "{}",
            slope.note
        );
        assert_eq!(growth.outcome, Outcome::Fail, "{}", growth.note);
        // At 0 a lower limit is a floor on a fall, judged as before.
        assert_eq!(zero.outcome, Outcome::Pass, "{}", zero.note);
        // Growing at about the limit: not ruled out, so a pass that says so.
        let near = noisy(2.0 * MIB, 1.0 * MIB / 60.0, 90, 4);
        let a = analyze(&near, &opts(&["rss.slope>1MiB/min"]));
        let r = &a.thresholds[0];
        assert_eq!(
            (r.outcome, r.conclusive),
            (Outcome::Pass, Some(false)),
            "{}",
            r.note
        );
        // --fail-fast stops a flat run on the same rule, and never one
        // growing at 6 MiB/min (20 seeds each, 10 minutes at 1 Hz).
        use crate::stats::calibration::{Behaviour, Noise};
        let th: Threshold = "rss.slope>1MiB/min".parse().unwrap();
        let flat = fail_fast_stops(&th, Noise::White, Behaviour::Flat);
        assert!(flat.len() >= 19, "flat: {flat:?}");
        let growing = fail_fast_stops(&th, Noise::White, Behaviour::Linear(3.0));
        assert!(growing.is_empty(), "growing: {growing:?}");
    }

    #[test]
    fn warmup_rules() {
        let t: Vec<f64> = (0..101).map(|i| i as f64).collect();
        let y = vec![0.0; 101];
        let none = vec![f64::NAN; 101];
        assert_eq!(
            warmup_index(Warmup::Time(Duration::from_secs(30)), &t, &none, &y),
            30
        );
        assert_eq!(warmup_index(Warmup::Fraction(0.1), &t, &none, &y), 10);
        // Items done before the first sample of a user's rule do not move it.
        let done: Vec<f64> = (0..101).map(|i| if i < 50 { 0.0 } else { 1.0 }).collect();
        assert_eq!(warmup_index(Warmup::Fraction(0.1), &t, &done, &y), 10);
        assert_eq!(Warmup::parse("10%").unwrap(), Warmup::Fraction(0.1));
        assert_eq!(Warmup::parse("auto").unwrap(), Warmup::Auto);
        assert!(Warmup::parse("soon").unwrap_err().contains("--warmup"));
    }

    #[test]
    fn auto_warm_up_starts_once_the_workload_has_done_something() {
        // rss (MiB) of a healthy default candle run, 2 min at 1 Hz (commit
        // 0d1685c): the first sample before any item is done (only the model
        // loaded), the second with the first batch in flight, then a flat
        // level jumping over 16 MiB.
        #[rustfmt::skip]
        let mib = [
            110.2, 149.6, 148.6, 148.6, 144.8, 151.4, 149.1, 151.5, 147.8, 143.3,
            144.4, 146.7, 150.4, 148.2, 145.0, 148.1, 143.6, 143.4, 143.4, 151.5,
            144.6, 147.7, 146.6, 148.7, 145.1, 144.5, 143.0, 140.7, 143.0, 138.1,
            137.5, 145.1, 138.0, 142.2, 145.8, 149.8, 146.4, 148.0, 140.0, 146.2,
            145.9, 144.0, 146.0, 145.9, 149.3, 145.9, 145.7, 145.2, 152.0, 147.6,
            146.8, 150.3, 140.9, 146.6, 143.7, 149.1, 148.6, 147.4, 146.7, 140.7,
            140.8, 148.9, 147.1, 143.9, 147.7, 147.5, 146.4, 147.1, 153.4, 146.4,
            144.1, 151.2, 145.5, 142.2, 141.6, 141.3, 138.4, 146.1, 150.1, 148.5,
            148.5, 146.3, 141.7, 149.1, 142.5, 149.6, 143.1, 148.1, 146.0, 141.7,
            141.5, 141.6, 141.6, 144.2, 143.8, 144.3, 145.0, 154.3, 150.6, 150.8,
            146.8, 146.3, 150.6, 143.3, 144.4, 144.2, 144.8, 152.7, 147.9, 147.9,
            145.4, 143.0, 145.6, 146.4, 143.9, 146.5, 150.9, 152.0, 148.6, 145.1,
            138.6, 138.6,
        ];
        let n = mib.len();
        let t: Vec<f64> = (0..n).map(|i| i as f64).collect();
        let y: Vec<f64> = mib.iter().map(|v| v * MIB).collect();
        let done: Vec<f64> = (0..n).map(|i| 64.0 * (i as f64 - 1.0).max(0.0)).collect();
        let w = warmup_index(Warmup::Auto, &t, &done, &y);
        assert!(w >= 2, "{w}");
        assert_eq!(w, 2 + stats::auto_warmup(&t[2..], &y[2..]));
        let m = analyze_metric(Metric::Rss, &t, &done, &y, Warmup::Auto, 0.95).unwrap();
        assert!(m.warmup_end_s >= 2.0, "{}", m.warmup_end_s);
        // Without an items column (`watch`) the rule reads the samples alone:
        // MSER keeps the pre-work sample (a fifth of a batch), the start-up
        // check cuts it, as it lies below every sample after it. The second,
        // 149.6 MiB, is within the rest: the items still say more.
        let none = vec![f64::NAN; n];
        assert_eq!(warmup_index(Warmup::Auto, &t, &none, &y), 1);
    }

    #[test]
    fn a_swap_limit_on_a_host_with_no_swap_is_skipped_not_passed() {
        // Regression: with SwapTotal 0 kB the default `swap.max<64MiB` was
        // judged PASS on a column of zeros, a gate that cannot fail.
        let mut t = SampleTable::new(vec![Metric::Rss, Metric::Swap, Metric::SysSwapUsed]);
        for i in 0..60u64 {
            t.push(i as f64, None, &[Some(100 << 20), Some(0), Some(0)]);
        }
        let limits = [
            "rss.max<1GiB",
            "swap.max<64MiB",
            "swap.slope<1MiB/min",
            "sys_swap_used.max<1MiB",
            "swap.max>1MiB",
        ];
        let judge = |swap_total| {
            let o = AnalysisOptions {
                swap_total,
                ..opts(&limits)
            };
            analyze(&t, &o).thresholds
        };
        let no_swap = judge(Some(0));
        let outcomes: Vec<Outcome> = no_swap.iter().map(|r| r.outcome).collect();
        use Outcome::{Fail, Pass, Skipped};
        assert_eq!(outcomes, [Pass, Skipped, Skipped, Skipped, Fail]);
        assert_eq!(
            no_swap[1].note,
            "this host has no swap (SwapTotal 0 kB); swap.max cannot be breached here"
        );
        assert!(
            no_swap[3]
                .note
                .contains("sys_swap_used.max cannot be breached")
        );
        assert!(no_swap.iter().all(|r| r.unjudged.is_none()));
        // With swap on the host, or where it is not known, they are judged.
        for swap_total in [Some(2 << 30), None] {
            let outcomes: Vec<Outcome> = judge(swap_total).iter().map(|r| r.outcome).collect();
            assert_eq!(outcomes, [Pass, Pass, Pass, Pass, Fail], "{swap_total:?}");
        }
        // A swap limit alone on such a host judged nothing: an error.
        let o = AnalysisOptions {
            swap_total: Some(0),
            ..opts(&["swap.max<64MiB"])
        };
        let a = analyze(&t, &o);
        assert!(a.nothing_judged());
        assert_eq!(verdict::verdict(&a, false), verdict::Verdict::Error);
    }

    #[test]
    fn a_run_whose_every_threshold_was_skipped_is_an_error_not_a_pass() {
        // `-t vram.slope<1MiB/min` alone on a machine with no GPU passed,
        // exit 0, with nothing judged. Beside a limit that was judged, a
        // skip stays a skip.
        let t = table(|x| 100.0 * MIB + x, 60);
        let a = analyze(&t, &opts(&["vram.slope<1MiB/min"]));
        assert!(a.nothing_judged());
        assert_eq!(verdict::verdict(&a, false), verdict::Verdict::Error);
        let errors = a.unjudged_errors();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].starts_with("no threshold was judged: vram.slope<1MiB/min ("),
            "{errors:?}"
        );
        let a = analyze(&t, &opts(&["vram.slope<1MiB/min", "rss.max<1GiB"]));
        assert!(!a.nothing_judged());
        assert_eq!(verdict::verdict(&a, false), verdict::Verdict::Pass);
        assert!(a.unjudged_errors().is_empty());
    }

    #[test]
    fn a_fitted_growth_is_held_within_what_the_samples_moved() {
        // Three steps of 2 MiB at 30, 60 and 90 s of a 120 s run (a black-box
        // probe's staircase): the line through it rises 7.4 MiB over the
        // span, and `rss.growth<6.5MiB` failed memory that moved 6 MiB. Now
        // the growth and its interval are held within ±6 MiB: that limit
        // passes, and 5 MiB still fails.
        let stair = |x: f64| 100.0 * MIB + 2.0 * MIB * (x / 30.0).floor();
        let t = table(stair, 120);
        let a = analyze(&t, &opts(&["rss.growth<6.5MiB", "rss.growth<5MiB"]));
        let m = &a.metrics[0];
        let moved = 6.0 * MIB;
        assert!(
            m.growth.is_some_and(|g| g > 5.0 * MIB && g <= moved),
            "{:?}",
            m.growth
        );
        let (lo, hi) = m.growth_ci.expect("an interval");
        assert!(lo >= -moved && hi <= moved, "{lo} .. {hi}");
        // The slope is the line's, not held.
        assert!(m.slope_per_min.is_some_and(|s| s.value * 2.0 > moved));
        assert_eq!(
            a.thresholds[0].outcome,
            Outcome::Pass,
            "{}",
            a.thresholds[0].note
        );
        assert_eq!(
            a.thresholds[1].outcome,
            Outcome::Fail,
            "{}",
            a.thresholds[1].note
        );
        // A `--fail-fast` look reads the growth held the same way.
        let th: Threshold = "rss.growth<6.5MiB".parse().unwrap();
        let x: Vec<f64> = (0..120).map(f64::from).collect();
        let y: Vec<f64> = x.iter().map(|&x| stair(x)).collect();
        let none = vec![f64::NAN; x.len()];
        let rules = LookRules::DEFAULT;
        assert_eq!(sequential_breach(&th, &x, &none, &y, &rules, 1), None);
    }

    #[test]
    fn available_memory_is_fitted_as_memory_in_use_so_a_gc_sawtooth_in_it_is_seen() {
        // A process's GC sawtooth (a 24 MiB cycle of 10 s) shows in the
        // host's available memory upside down: slow falls, sharp rises.
        // Fitted upright, those cycles read as a level that jumps: a leak of
        // 6 MiB/min under them failed `sys_available.slope>-2MiB/min` in 22%
        // of 90 s runs (`calibrate --floor` before the mirror), where the
        // same leak fails `rss.slope<2MiB/min` in every one. Now the floor
        // is judged on memory in use, as the upper limit is: 20 seeds, end
        // of run and `--fail-fast` over 10 minutes.
        use crate::stats::calibration::{Behaviour, Noise, Scenario};
        let floor: Threshold = "sys_available.slope>-2MiB/min".parse().unwrap();
        let upper: Threshold = "rss.slope<2MiB/min".parse().unwrap();
        let run = |behaviour, seconds, seed| {
            let s = Scenario {
                noise: Noise::Sawtooth,
                behaviour,
                seconds,
                hz: 1.0,
            };
            let (t, used) = s.simulate(seed);
            let available: Vec<f64> = used.iter().map(|v| 4096.0 * MIB - v).collect();
            (t, used, available)
        };
        let outcome = |th: &Threshold, t: &[f64], y: &[f64]| {
            let mut table = SampleTable::new(vec![th.metric]);
            for (x, v) in t.iter().zip(y) {
                table.push(*x, None, &[Some(*v as u64)]);
            }
            let a = analyze(&table, &opts(&[th.expr.as_str()]));
            (a.thresholds[0].outcome, a.metrics[0].clone())
        };
        for (behaviour, want) in [
            (Behaviour::Linear(3.0), Outcome::Fail),
            (Behaviour::Flat, Outcome::Pass),
        ] {
            for seed in 0..20 {
                let (t, used, available) = run(behaviour, 90.0, seed);
                let (got, m) = outcome(&floor, &t, &available);
                // The same verdict as the upper limit on memory in use.
                assert_eq!(
                    got,
                    outcome(&upper, &t, &used).0,
                    "{behaviour:?} seed {seed}"
                );
                assert_eq!(got, want, "{behaviour:?} seed {seed}: {:?}", m.method);
                // The fit says what it read; the sizes are available memory's.
                let method = m.method.as_deref().unwrap_or("");
                assert!(
                    method.starts_with("on its mirror image, memory in use: "),
                    "{method}"
                );
                let lo = available.iter().copied().fold(f64::INFINITY, f64::min);
                assert!((m.min - lo.floor()).abs() <= 1.0, "{} vs {lo}", m.min);
                assert!((m.first - available[0].floor()).abs() <= 1.0);
            }
        }
        let stops = |behaviour| {
            fail_fast_times(&floor, |seed| {
                let (t, _, available) = run(behaviour, 600.0, seed);
                (t, available)
            })
        };
        assert_stopped(
            "a leak under the sawtooth",
            &stops(Behaviour::Linear(3.0)),
            &(0.0..600.0),
        );
        let n = stops(Behaviour::Flat).len();
        assert!(n <= 1, "flat: {n} of 20 stopped");
        // A fall that began late (6 MiB/min over the last quarter) is read
        // by the trailing windows, as growth that began late is under an
        // upper limit: at the end and by `--fail-fast`. Before, a floor read
        // no window, and the whole run's line (a fifth of the rate) passed
        // every such run.
        assert_stopped("a late fall", &stops(Behaviour::LateLeak), &(450.0..600.0));
        let (t, used, available) = run(Behaviour::LateLeak, 600.0, 0);
        assert_eq!(outcome(&upper, &t, &used).0, Outcome::Fail);
        let mut table = SampleTable::new(vec![Metric::SysAvailable]);
        for (x, v) in t.iter().zip(&available) {
            table.push(*x, None, &[Some(*v as u64)]);
        }
        let a = analyze(&table, &opts(&[floor.expr.as_str()]));
        let r = &a.thresholds[0];
        assert_eq!(r.outcome, Outcome::Fail, "{}", r.note);
        assert!(
            r.note.starts_with("a fall began late: over the last "),
            "{}",
            r.note
        );
        assert!(r.window.is_some() && r.measured.is_some_and(|v| v < floor.limit));
        // The look that stops it says so, in available memory's terms.
        let why = (1..=54u32)
            .find_map(|k| {
                let n = 60 + 10 * k as usize;
                let none = vec![f64::NAN; n];
                let rules = LookRules::DEFAULT;
                sequential_breach(&floor, &t[..n], &none, &available[..n], &rules, k)
            })
            .unwrap_or_default();
        assert!(why.contains(": a fall began late: over the last "), "{why}");
        assert!(why.contains(" drift -"), "{why}");
    }

    #[test]
    fn a_stretch_without_samples_is_a_gap_a_late_sample_is_not() {
        // 1 Hz with one 50 s stall, a 4 s delay, a 3 s one and a 9 s one.
        let mut t: Vec<f64> = (0..30).map(f64::from).collect();
        t.extend((80..120).map(f64::from));
        t.extend([123.0, 126.0, 135.0, 136.0]);
        let g = sample_gaps(&t);
        assert_eq!(
            g,
            [SampleGap {
                from_s: 29.0,
                to_s: 80.0,
                cadence_s: 1.0
            }]
        );
        // At 100 ms a 2 s delay is ten intervals, under the 5 s floor.
        let fast: Vec<f64> = (0..100).map(|i| f64::from(i) * 0.1).chain([11.9]).collect();
        assert!(sample_gaps(&fast).is_empty());
        assert!(sample_gaps(&[0.0, 100.0]).is_empty());
        assert!(sample_gaps(&[]).is_empty());
        // The analysis carries them into report.json, and only when there are some.
        let mut tab = SampleTable::new(vec![Metric::Rss]);
        for &x in &t {
            tab.push(x, None, &[Some((200.0 * MIB) as u64)]);
        }
        let a = analyze(&tab, &opts(&["rss.slope<2MiB/min"]));
        assert_eq!(a.gaps.len(), 1);
        let v = serde_json::to_value(&a).unwrap();
        assert_eq!(v["gaps"][0]["to_s"], 80.0);
        assert_eq!(serde_json::from_value::<Analysis>(v).unwrap().gaps, a.gaps);
        let none = serde_json::to_value(analyze(&table(|_| 200.0 * MIB, 60), &opts(&[]))).unwrap();
        assert!(none.get("gaps").is_none(), "{none}");
    }

    #[test]
    fn tiny_significant_growth_is_below_the_materiality_floor() {
        // Regression: a healthy server warming up by ~200 KiB in a 5 s run
        // was a "significant 2.5 MiB/min leak".
        let t = table(|x| 22.0 * MIB + 2000.0 * x, 30);
        let a = analyze(&t, &opts(&["rss.slope<1KiB/min"]));
        assert_eq!(a.thresholds[0].outcome, Outcome::Pass);
        assert!(
            a.thresholds[0].note.contains("materiality floor"),
            "{}",
            a.thresholds[0].note
        );
        let mut o = opts(&["rss.slope<1KiB/min"]);
        o.min_growth = 0.0;
        assert_eq!(analyze(&t, &o).thresholds[0].outcome, Outcome::Fail);
    }
}
