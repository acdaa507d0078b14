//! The drift estimate behind leak verdicts: a robust slope and an
//! autocorrelation-aware trend test on block summaries of the samples, with
//! GC/allocator sawtooth handled by following each cycle's floor.

use super::ols::hinge_residuals;
use super::trend::{
    NoiseAbout, ar1_factor, average_ranks, increment_test, mann_kendall_about, step_rate,
    t_quantile, t_sf,
};
use super::{
    OlsFit, block_means, block_medians, median_mut, normal_quantile, ols, quantile_mut, theil_sen,
    warmup_end,
};

/// Fewer points than this cannot say anything about drift: [`drift`]
/// gives `None` below it.
pub const MIN_POINTS: usize = 8;

/// Theil–Sen and the Hamed–Rao correction are O(m²) in the number of blocks;
/// 1000 blocks keep them at ~0.5 M pairs while still resolving a day at 10 Hz
/// into 86 s blocks.
const MAX_BLOCKS: usize = 1000;

/// With fewer points Mann–Kendall is not used: on 5 points it reaches
/// p < 0.05 only with a perfect ordering, which one noisy point can make or
/// break. 3–29 cycle means get least squares' t test instead.
const MIN_BLOCKS_FOR_TEST: usize = 6;

/// Whether a view's `m` points are whole-cycle means that least squares
/// fits and tests (3 to [`OLS_MAX_CYCLES`] − 1 of them), not the ranks.
fn by_least_squares(model: DriftModel, m: usize) -> bool {
    match model {
        DriftModel::Cycles => (3..OLS_MAX_CYCLES).contains(&m),
        // Three floors of a run with three drops (two whole cycles).
        DriftModel::LongCycle => m >= 3,
        DriftModel::Level => false,
    }
}

/// Up to this many whole cycles, their means (averages of a cycle's samples,
/// near-normal, independent) are tested by least squares and Student's t on
/// m − 2 degrees of freedom, which uses their values, not only their order:
/// Mann–Kendall on 7 cycles of a 90 s run cannot see a leak the means show.
/// Beyond, the rank tests (robust to an odd cycle) have the power.
const OLS_MAX_CYCLES: usize = 30;

/// A sawtooth drop is a first difference more than this many robust standard
/// deviations below the median difference. For Gaussian noise a 6-sigma step
/// has probability ~1e-9, so noise alone does not make drops even at 10⁶ samples.
const DROP_K: f64 = 6.0;

/// ...and the drop must also be at least this fraction of the series' robust
/// range (after removing the linear trend), so that a mere outlier-ish step in
/// low-noise data is not taken for a GC cycle.
const DROP_RANGE_FRACTION: f64 = 0.25;

/// A drop is a one-sample spike (not a cycle end) if the step just before it
/// rose by more than this fraction of the drop, or a one-sample dip if the
/// step just after it recovers that much.
const SPIKE_RECOVERY: f64 = 0.5;

/// Each cycle's floor is the minimum over the first period/5 samples after
/// the drop: wide enough to average out noise at the trough, short enough that
/// the ramp has not lifted it, and the same width in every cycle so a partial
/// final cycle is not biased.
const FLOOR_WINDOW_DIV: usize = 5;

/// Which view of the samples a drift was fitted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DriftModel {
    /// A robust trend of the level: Theil–Sen and the trend tests on the
    /// samples, or on block medians beyond 1000 samples. Used whenever the
    /// data shows no real cycle structure (white or heavy-tailed noise,
    /// persistent noise, jump noise that holds levels, a climb with dips).
    Level,
    /// Whole GC/allocator cycles: drops that recur at a regular spacing with
    /// gradual ramps between them. Each complete cycle's ramp is fitted by
    /// least squares and its value at the cycle's start (the offset, a floor
    /// read from every sample of the cycle, not from its minimum) is one
    /// point; the trend of the offsets is the drift.
    Cycles,
    /// One or two cycles as long as the run: the floors before and after
    /// the drops. Two points, no trend test (p = 1): memory came back down,
    /// so the ramp alone is not evidence of a leak.
    LongCycle,
}

impl DriftModel {
    /// Short name for reports: `level`, `cycles`, `long-cycle`.
    pub fn name(self) -> &'static str {
        match self {
            DriftModel::Level => "level",
            DriftModel::Cycles => "cycles",
            DriftModel::LongCycle => "long-cycle",
        }
    }
}

/// The drift estimate used by thresholds.
#[derive(Debug, Clone, PartialEq)]
pub struct Drift {
    /// Slope of the fitted view (Theil–Sen; least squares on 3–5 cycle
    /// offsets), units of y per unit of x.
    pub slope: f64,
    /// Intercept of that fit (y at x = 0).
    pub intercept: f64,
    /// Lower bound of the slope's interval at `confidence` (Sen's interval
    /// with the autocorrelation factor and Student t; the step-rate interval
    /// when the mean step decided the test; least squares' t interval on 3–5
    /// cycle offsets; for [`DriftModel::LongCycle`], untested, the steepest
    /// fall that stays within 1.25 × the data's range over the span).
    pub ci_low: f64,
    /// Upper bound of the slope's interval.
    pub ci_high: f64,
    /// Two-sided p-value of the trend test (autocorrelation-corrected); 1
    /// only for [`DriftModel::LongCycle`] (two points).
    pub p_value: f64,
    /// Normal (or t) score of the deciding test (0 when untested).
    pub z: f64,
    /// `p_value < 1 - confidence`.
    pub significant: bool,
    /// The view chosen from the data.
    pub model: DriftModel,
    /// Why that view: what the data showed (or lacked) in one phrase.
    pub reason: String,
    /// Human-readable description of what was fitted and tested.
    pub method: String,
    /// Number of points the slope and test were computed on.
    pub blocks: usize,
    /// Samples summarised by one point (1 = raw samples; the period for
    /// cycle offsets).
    pub block_len: usize,
    /// Detected cycle period in samples (cycle views only).
    pub cycle_len: Option<usize>,
    /// Sawtooth drops found in the samples (step 1 of [`drift`]), whether
    /// or not they made cycles: memory that fell back this way may be
    /// climbing the ramp of its next cycle at the end.
    pub drops: usize,
    /// Of one or two drops (no more are counted), those that end a steady ramp (from
    /// the trough of the drop before, or for the first from the run's
    /// start): a long cycle's shape, not a level that jumped up and back, a
    /// spike or a wander. 0 where there are more drops (their cycles, or
    /// their want of any, decide).
    pub ramp_drops: usize,
    /// Points divided by the autocorrelation factor.
    pub effective_n: f64,
    /// The interval is, in part or whole, the data's range bound and not
    /// a statistical one: a [`DriftModel::LongCycle`] fit's (untested), or
    /// one clamped to what ±1.25 × the data's range over the span allows.
    /// Such an interval says what the data allow, not how sure the fit is.
    pub interval_from_range: bool,
    /// OLS on all points, for reference.
    pub ols: Option<OlsFit>,
}

impl Drift {
    /// The drift of `c − y`, from this drift of `y`: slopes and scores
    /// negated, the interval's ends swapped, the intercept mirrored about
    /// `c`. The test, its p-value and the view are the same.
    pub fn mirrored(self, c: f64) -> Drift {
        Drift {
            slope: -self.slope,
            intercept: c - self.intercept,
            ci_low: -self.ci_high,
            ci_high: -self.ci_low,
            z: -self.z,
            ols: self.ols.map(|o| OlsFit {
                slope: -o.slope,
                intercept: c - o.intercept,
                ..o
            }),
            ..self
        }
    }
}

/// x: sample times (or cumulative items), strictly non-decreasing; y: values.
/// Returns None with fewer than ~8 points or degenerate x.
///
/// Method:
/// 1. Drops: steps more than 6 robust sigmas (1.4826 × MAD of the first
///    differences) below the median step, at least a quarter of the
///    detrended 1–99% range, and not a one-sample spike or dip, nor onto
///    the last sample (no step after it tells which).
/// 2. The model, chosen from the data ([`DriftModel`]): the drops are
///    cycles only when they recur at a regular spacing (coefficient of
///    variation of the cycle lengths ≤ 0.4), memory climbs gradually
///    between them (no single step makes half of a cycle's rise) and each
///    drop gives back at least half of the rise before it, in two thirds of
///    the cycles; and not where memory has held at or above the last
///    cycle's top for a quarter of the window since (the cycles ended).
///    Jump noise (levels redrawn at random times and held), a climb with a
///    few dips, and spikes fail one of these and are fitted as a level.
///    - Cycles (≥ 3 complete ones): one point per cycle, its mean level at
///      its mean time (offset plus half a ramp, the same in every cycle).
///      Beyond 1000 cycles, block medians of the means. Where one period
///      fits every drop (each lies between two known samples), the means
///      are moved along the common ramp to the middle of the cycle that
///      period puts them in, and the slope's error is read with one uniform
///      over what the range of such periods moves it (the drops of a timer
///      drift across the sampling grid: a trend, not noise).
///    - One or two cycles: the floors before and after the drops (two
///      points, p = 1); one drop with fewer samples before it than after,
///      the tops before it and at the end, when memory fell to where the
///      window began and ramped back up (see `one_drop_tops`).
///    - Level: the samples (block medians of ⌈n/1000⌉ samples beyond 1000);
///      for quantised readings (over 5% of the pairs tied), means of 3 or
///      more samples (see `level_blocks`).
/// 3. Slope: Theil–Sen on the points, Sen's CI with Var(S) × Hamed–Rao
///    factor. Test: Mann–Kendall, its variance inflated by the larger of the
///    Hamed–Rao and AR(1) factors and z read against Student's t; and the t
///    test of the mean step. p is the smaller of the two (see
///    [`increment_test`]). On 3–29 cycle means: least squares with its t
///    test on m − 2 degrees of freedom. On the means of quantised readings:
///    least squares' slope, interval and t test, with the means'
///    persistence factor, and the t test of their mean step, the smaller
///    p taken as above (see `quantised_fit`). Where samples come at least
///    twice a second and the level view holds fewer points than the span
///    has seconds, it is read a second time on about a point a second
///    ([`MIN_LEVEL_BLOCK_S`]), and the fit with the larger p is taken.
/// 4. Range check: a cycle fit whose growth over the run is more than
///    1.25 × the data's whole range is refused for the level view; any
///    other slope is clamped to that range (its interval still holds it).
/// 5. OLS on all points as reference.
///
/// Cost: O(n) for the drop scan, cycle fits and blocking (selection, not
/// sorting; the point-a-second reading sorts its blocks of b samples,
/// O(n log b)), plus a fixed O(m²) with m ≤ 1000 points; ~50 ms at 864 000
/// points. O(n log n) only if x needs sorting. Drops on one period add
/// about 140 passes over the D drops (a search for the periods that fit
/// them) and 3 least-squares fits of the cycle means.
///
/// Calibration: `cargo run --release --example calibrate` prints false
/// alarms, power and fail-fast time-to-detection per noise family,
/// behaviour, run length and rate (see README "Detection calibration");
/// `drift_tests.rs` asserts the targets on a seeded subset.
///
/// Degenerate input: pairs with a non-finite value are dropped; x out of order
/// is sorted (stable) rather than rejected; `None` when lengths differ,
/// `confidence` is not strictly inside (0, 1), fewer than 8 pairs remain, or
/// all x are equal. A constant y gives slope 0, p = 1.
pub fn drift(x: &[f64], y: &[f64], confidence: f64) -> Option<Drift> {
    drift_on(Axis::Seconds, x, y, confidence)
}

/// [`drift`] with x on `axis`: seconds (a point per second at most in the
/// level view, beside the samples; see [`MIN_LEVEL_BLOCK_S`]) or items done.
pub fn drift_on(axis: Axis, x: &[f64], y: &[f64], confidence: f64) -> Option<Drift> {
    drift_in_blocks(
        x,
        y,
        confidence,
        MAX_BLOCKS,
        axis.min_block(),
        NoiseAbout::Line,
        Span::WholeRun,
    )
}

/// What a fit's x counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Axis {
    /// Seconds: the level view is read at the samples and at one point
    /// per [`MIN_LEVEL_BLOCK_S`] too, the weaker of the two reported.
    Seconds,
    /// Items done (`slope_per_1k`): the samples alone.
    Items,
}

impl Axis {
    /// The least x a level view's point spans in its second reading (0:
    /// none).
    fn min_block(self) -> f64 {
        match self {
            Axis::Seconds => MIN_LEVEL_BLOCK_S,
            Axis::Items => 0.0,
        }
    }
}

/// The level view reads a trend twice where samples come at least twice a
/// second: on its points (the samples, or up to 1000 block medians), and
/// on one point per this many seconds of the span, each the interquartile
/// mean of its block of samples (without its lowest and highest quarter;
/// blocks are split by count, so about a second each where sampling is
/// even); the weaker fit (the larger p) is the one reported. Where the
/// points are already fewer than the span's seconds (past about 1000 s of
/// a whole run, 250 s of a trailing window), and on the level view of a
/// run less a one-off release (`release`, chosen by the cycle view),
/// there is one reading.
///
/// NOTE: noise with two time scales (levels held about 5 s under AR(1)
/// noise of φ = 0.9 per sample and heavy-tailed noise: the table's
/// mixture) read at 10 Hz shows its fast scale in every persistence
/// estimate and hides its slow one: 14% of flat 90 s runs significant,
/// 12% of bounded caches failed, 10% of healthy runs stopped by
/// `--fail-fast` (2% at 1 Hz; 200 seeds). A second's mean averages the
/// fast scale out and leaves the held levels, whose persistence the AR(1)
/// factor reads: 6%, 6% and 2%. A point a second alone did as well there,
/// but read a slow sawtooth's warm-up differently (failed 4 → 12%), which
/// the samples alone read as they did: the weaker of the two holds both
/// (docs/detection-log.md). At 1 Hz and slower the two readings are one.
pub const MIN_LEVEL_BLOCK_S: f64 = 1.0;

/// The point-a-second reading needs this many points (a span of 29 s or
/// more), as many as `--fail-fast`'s first look reads: on fewer the
/// persistence it is read with is not measured but guessed, and 9 points of
/// a fading rise read p = 1 where 90 samples read p < 0.001. Shorter spans
/// keep the samples.
const MIN_SECOND_READING_POINTS: usize = 30;

/// [`drift`] on part of a run (a `--fail-fast` look's run so far, one
/// half of a run): a lone drop is never read as a one-off release there
/// (a release is a drop weighed against the whole run, and a cycle the run
/// could hold may be longer than the part). With it, a slow sawtooth (a
/// period of 0.6 × the run) seen once at the first looks had 78% of its
/// healthy 90 s runs stopped at 1 Hz (53% without), 96% at 10 Hz (62%).
pub fn drift_of_part(x: &[f64], y: &[f64], confidence: f64) -> Option<Drift> {
    drift_of_part_on(Axis::Seconds, x, y, confidence)
}

/// [`drift_of_part`] with x on `axis` ([`drift_on`]).
pub fn drift_of_part_on(axis: Axis, x: &[f64], y: &[f64], confidence: f64) -> Option<Drift> {
    drift_in_blocks(
        x,
        y,
        confidence,
        MAX_BLOCKS,
        axis.min_block(),
        NoiseAbout::Line,
        Span::Part,
    )
}

/// What a fit's points are: the release rule ([`release`]) weighs a lone
/// drop against the whole run's climb, so it reads only a whole run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Span {
    /// The whole run after warm-up ([`drift`]).
    WholeRun,
    /// A part of it: a look so far, a trailing window, a half
    /// ([`drift_of_part`]).
    Part,
}

/// [`drift`] with its points capped at `max_blocks` (block medians, or
/// means of quantised readings, beyond) instead of 1000: the fixed
/// O(m²) part of a fit falls with the square of the cap; and the noise's
/// spread and persistence measured `about` a line or a broken one. For the
/// many trailing windows of a long run (`super::late_drift`). Over
/// [`Span::WholeRun`] a lone drop may be a one-off release ([`release`]).
pub(crate) fn drift_in_blocks(
    x: &[f64],
    y: &[f64],
    confidence: f64,
    max_blocks: usize,
    min_block: f64,
    about: NoiseAbout,
    scope: Span,
) -> Option<Drift> {
    let max_blocks = max_blocks.max(MIN_POINTS);
    if x.len() != y.len() || !(confidence > 0.0 && confidence < 1.0) {
        return None;
    }
    let mut pts: Vec<(f64, f64)> = super::finite_pairs(x, y).collect();
    if pts.len() < MIN_POINTS {
        return None;
    }
    if !pts.windows(2).all(|w| w[0].0 <= w[1].0) {
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    }
    let (xs, ys): (Vec<f64>, Vec<f64>) = pts.into_iter().unzip();
    let span = xs[xs.len() - 1] - xs[0];
    if !(span > 0.0 && span.is_finite()) {
        return None;
    }
    let (lo, hi) = ys
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    let range = hi - lo;
    let ols_fit = ols(&xs, &ys);
    let saw = detect_sawtooth(&xs, &ys, ols_fit.map_or(0.0, |f| f.slope));
    let view = match saw
        .as_ref()
        .map(|s| cycle_view(&xs, &ys, s, max_blocks, scope))
    {
        Some(Ok(view)) => Ok(view),
        Some(Err(why)) => Err(why),
        None => Err("no recurring drops".to_string()),
    };
    let (series, model, mut reason, cycle_len, plain_level) = match view {
        Ok((series, model, reason)) => {
            let cycles = model != DriftModel::Level;
            (
                series,
                model,
                reason,
                saw.as_ref().filter(|_| cycles).map(|s| s.period),
                false,
            )
        }
        Err(why) => (
            level_blocks(&xs, &ys, max_blocks),
            DriftModel::Level,
            why,
            None,
            true,
        ),
    };
    let mut fit = fit_view(&series, model, confidence, about)?;
    let (mut series, mut model, mut cycle_len) = (series, model, cycle_len);
    if plain_level {
        (series, fit) = per_block_too(&xs, &ys, span, min_block, confidence, about, (series, fit));
    }
    // The fit must stay within what the data could have done: a cycle view
    // whose growth over the run is beyond the data's whole range (a handful
    // of sparse cycles) is refused for the level.
    let plausible = 1.25 * range;
    if model == DriftModel::Cycles && (fit.slope * span).abs() > plausible {
        reason = format!(
            "the cycle fit ({} over the run) left the data's range; {reason}",
            if fit.slope > 0.0 { "growth" } else { "fall" }
        );
        series = level_blocks(&xs, &ys, max_blocks);
        model = DriftModel::Level;
        cycle_len = None;
        fit = fit_series(&series, model, confidence, about)?;
        (series, fit) = per_block_too(&xs, &ys, span, min_block, confidence, about, (series, fit));
    }
    let slope_clamped = (fit.slope * span).abs() > plausible;
    if slope_clamped {
        fit.slope = (plausible / span).copysign(fit.slope);
        fit.ci_low = fit.ci_low.min(fit.slope);
        fit.ci_high = fit.ci_high.max(fit.slope);
        reason.push_str("; slope clamped to the data's range");
    }
    // NOTE: so is the interval. Where the noise is so persistent that the
    // points are worth a handful of independent ones (levels held 5 s,
    // sampled at 10 Hz for 90 s: n/n* ≈ 200), Sen's rank bounds fall off
    // the ends of the pairwise slopes and the interval became the steepest
    // pair, two neighbours across a jump: −7,500 … +6,600 MiB/min on data
    // spanning 20 MiB. A trend beyond ±1.25 × range over the span would have
    // left the data's range, so the interval stops there.
    let bound = plausible / span;
    let beyond_range = fit.ci_low < -bound || fit.ci_high > bound;
    let untested = model == DriftModel::LongCycle && !by_least_squares(model, series.y.len());
    let interval_from_range = slope_clamped || untested || beyond_range;
    if untested {
        // NOTE: no interval from two or three floors (p = 1, untested):
        // Sen's bounds on so few points were the slope itself or the
        // steepest pair, and on every slow-sawtooth run (a cycle of 0.6 ×
        // the run, 200 seeded runs per cell) they excluded 0 while the report
        // said "not significant". What the data allow is the range bound.
        fit.ci_low = (-bound).min(fit.slope);
        fit.ci_high = bound.max(fit.slope);
        reason.push_str("; no interval from so few points: the range the data allow");
    } else if beyond_range {
        fit.ci_low = fit.ci_low.max(-bound).min(fit.slope);
        fit.ci_high = fit.ci_high.min(bound).max(fit.slope);
        reason.push_str("; interval clamped to the data's range");
    }
    Some(Drift {
        slope: fit.slope,
        intercept: fit.intercept,
        ci_low: fit.ci_low,
        ci_high: fit.ci_high,
        p_value: fit.p_value,
        z: fit.z,
        significant: fit.p_value < 1.0 - confidence,
        model,
        reason,
        method: format!("{}; {}", series.description, fit.test),
        blocks: series.y.len(),
        block_len: series.block_len,
        cycle_len,
        drops: saw.as_ref().map_or(0, |s| s.drop_starts.len()),
        ramp_drops: saw
            .as_ref()
            .filter(|s| s.drop_starts.len() <= MAX_LONE_DROPS)
            .map_or(0, |s| s.ramp_drops(&ys)),
        effective_n: fit.effective_n,
        interval_from_range,
        ols: ols_fit,
    })
}

/// The noise about a view's least-squares fit, from which the slope's
/// plain standard error comes: the line's own residuals, or, `about` a
/// broken line, those of the best one-knot fit (`hinge_residuals`), on
/// two degrees of freedom fewer (the bend and its knot).
struct NoiseFit {
    /// The residuals the spread and persistence are read from.
    resid: Vec<f64>,
    /// The slope's standard error for independent errors of that spread.
    stderr: f64,
    /// Degrees of freedom of the spread.
    df: f64,
}

impl NoiseFit {
    /// A broken line is fitted on at least this many points (four degrees
    /// of freedom left); fewer keep the line.
    const MIN_HINGE_POINTS: usize = 8;

    fn new(x: &[f64], y: &[f64], f: &OlsFit, about: NoiseAbout) -> Self {
        let m = x.len();
        let hinge = (about == NoiseAbout::Hinge && m >= Self::MIN_HINGE_POINTS)
            .then(|| hinge_residuals(x, y))
            .flatten();
        match hinge {
            Some(resid) => {
                let mx = x.iter().sum::<f64>() / m as f64;
                let sxx: f64 = x.iter().map(|v| (v - mx) * (v - mx)).sum();
                let df = (m - 4) as f64;
                let s2 = resid.iter().map(|r| r * r).sum::<f64>() / df;
                Self {
                    resid,
                    stderr: (s2 / sxx).sqrt(),
                    df,
                }
            }
            None => Self {
                resid: x
                    .iter()
                    .zip(y)
                    .map(|(x, y)| y - f.intercept - f.slope * x)
                    .collect(),
                stderr: f.slope_stderr,
                df: (m - 2) as f64,
            },
        }
    }
}

/// A slope, its interval and test on one view's points.
struct SeriesFit {
    slope: f64,
    intercept: f64,
    ci_low: f64,
    ci_high: f64,
    p_value: f64,
    z: f64,
    effective_n: f64,
    test: &'static str,
}

/// [`fit_series`], and where the points carry a grid bound (cycles on one
/// period, [`on_one_period`]), the slope's error taken with an error
/// uniform over ± the bound beside it. Least squares on 3–29 cycle means
/// reads the sum itself. The rank view reads its deciding test's p as a
/// normal score, z: the slope's error is then as if normal with sd
/// |slope| / z, and p becomes that of the normal plus the uniform; each
/// side of Sen's interval is widened to the same sum's quantile, from its
/// own half-width. O(1) beyond [`fit_series`].
fn fit_view(
    series: &BlockSeries,
    model: DriftModel,
    confidence: f64,
    about: NoiseAbout,
) -> Option<SeriesFit> {
    let mut fit = fit_series(series, model, confidence, about)?;
    let b = series.grid_bound;
    if !(b > 0.0) || by_least_squares(model, series.y.len()) || fit.slope == 0.0 {
        return Some(fit);
    }
    // NOTE: refitting the ranks on the points less u·x for u across ±b
    // (8 nodes) gave the same table within a point (the timer sawtooth's
    // flat runs over 10 and 30 minutes 3% significant where this reads
    // 2%) at 3.4× the cost of a fit: `cargo bench --bench analysis`, a
    // day at 10 Hz of 300 MiB cycles, drift 29 → 99 ms and the ten-metric
    // analysis 0.82 → 2.30 s, past its 1 s target (this: 29 ms, 0.84 s).
    let z = normal_quantile(1.0 - 0.5 * fit.p_value.clamp(f64::MIN_POSITIVE, 1.0));
    let se = if z > 0.0 {
        fit.slope.abs() / z
    } else {
        f64::INFINITY
    };
    if se.is_finite() {
        fit.p_value = (2.0 * t_plus_uniform_sf(fit.slope.abs(), se, f64::INFINITY, b)).min(1.0);
    }
    let q = 0.5 + 0.5 * confidence;
    let z_q = normal_quantile(q);
    let widen = |half: f64| t_plus_uniform_quantile(q, half.max(0.0) / z_q, f64::INFINITY, b);
    fit.ci_low = fit.slope - widen(fit.slope - fit.ci_low);
    fit.ci_high = fit.slope + widen(fit.ci_high - fit.slope);
    Some(fit)
}

/// The level view read again at one point per `min_block` of x where the
/// samples come faster ([`MIN_LEVEL_BLOCK_S`]): of `read` (the samples'
/// points and fit) and that one, the fit with the larger p, with its
/// points. `read` as it is where `min_block` is 0, the samples are no
/// denser, or the span holds fewer than [`MIN_SECOND_READING_POINTS`]
/// blocks. O(n log b) for blocks of b, plus one fit on at most
/// span / `min_block` + 1 points.
fn per_block_too(
    xs: &[f64],
    ys: &[f64],
    span: f64,
    min_block: f64,
    confidence: f64,
    about: NoiseAbout,
    read: (BlockSeries, SeriesFit),
) -> (BlockSeries, SeriesFit) {
    // A p of 1 cannot be weaker: no second fit to make.
    if !(min_block > 0.0) || read.1.p_value >= 1.0 {
        return read;
    }
    // In f64: a span of 1e300 s would overflow a count. NOTE: at least two
    // samples a point: at 1 Hz the sampler's timestamps (read after each
    // sample) put a span a few ms under n − 1 s in about half of runs, and
    // one slot fewer than the samples made one block of two, a second
    // reading of the same points.
    let slots = (span / min_block).floor() + 1.0;
    if !(2.0 * slots <= ys.len() as f64
        && slots < read.0.y.len() as f64
        && slots >= MIN_SECOND_READING_POINTS as f64)
    {
        return read;
    }
    let slots = slots as usize;
    let mut coarse = second_blocks(xs, ys, slots, read.0.quantised);
    match fit_series(&coarse, DriftModel::Level, confidence, about) {
        Some(f) if f.p_value > read.1.p_value => {
            // NOTE: `min_block` is 0 or MIN_LEVEL_BLOCK_S, a second.
            let first = if read.0.block_len == 1 {
                format!("the {} samples", read.0.y.len())
            } else {
                format!("{} blocks of {}", read.0.y.len(), read.0.block_len)
            };
            coarse
                .description
                .push_str(&format!(" (a point a second, weaker than {first})"));
            (coarse, f)
        }
        _ => read,
    }
}

/// P(se·T + U ≥ x) for T Student's t on `df` degrees of freedom and U
/// uniform on ±`b`, independent: the slope's own error and that of the
/// grid ([`on_one_period`]). The mean of T's tail over U, by the midpoint
/// rule on 32 nodes (a smooth integrand: within 1e-4 of the exact value
/// for the t tails a test reads). O(1).
fn t_plus_uniform_sf(x: f64, se: f64, df: f64, b: f64) -> f64 {
    const NODES: usize = 32;
    let tail = |v: f64| {
        if se > 0.0 {
            t_sf(v / se, df)
        } else if v > 0.0 {
            0.0
        } else if v < 0.0 {
            1.0
        } else {
            0.5
        }
    };
    if !(b > 0.0) {
        return tail(x);
    }
    (0..NODES)
        .map(|i| tail(x - b * (2.0 * (i as f64 + 0.5) / NODES as f64 - 1.0)))
        .sum::<f64>()
        / NODES as f64
}

/// The `q` quantile (q > 0.5) of se·T + U ([`t_plus_uniform_sf`]): the
/// half-width of the interval at confidence 2q − 1. Bisection to within
/// 1e-9 of the width it starts from. O(1).
fn t_plus_uniform_quantile(q: f64, se: f64, df: f64, b: f64) -> f64 {
    let (mut lo, mut hi) = (0.0, t_quantile(q, df) * se + b);
    if !(b > 0.0) || !(hi > 0.0) {
        return hi;
    }
    let tol = 1e-9 * hi;
    while hi - lo > tol {
        let mid = 0.5 * (lo + hi);
        if t_plus_uniform_sf(mid, se, df, b) > 1.0 - q {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    hi
}

/// Theil–Sen with Mann–Kendall and the mean-step test on ≥ 6 points; least
/// squares with its t test on 3–5 cycle offsets (independent points, too
/// few for ranks: Mann–Kendall on 5 points reaches p < 0.05 only with a
/// perfect ordering); two points give their slope and p = 1.
fn fit_series(
    series: &BlockSeries,
    model: DriftModel,
    confidence: f64,
    about: NoiseAbout,
) -> Option<SeriesFit> {
    let m = series.y.len();
    let q = 0.5 + 0.5 * confidence;
    if by_least_squares(model, m) {
        let f = ols(&series.x, &series.y)?;
        let noise = NoiseFit::new(&series.x, &series.y, &f, about);
        let df = noise.df;
        // NOTE: neighbouring cycles share a boundary: where a drop falls
        // between two samples moves one cycle's mean up and the next one's
        // too (a steep ramp sampled coarsely), so the means' residuals can
        // be positively correlated. Their AR(1) factor widens the slope's
        // error (jittered 300 MiB cycles at 1 Hz: 12% significant without).
        let se = noise.stderr * ar1_factor(&noise.resid).max(series.var_factor).sqrt();
        // NOTE: cycles placed on one period ([`on_one_period`]) may be off
        // by up to ± the grid bound, as the true period lies anywhere in
        // the range the drops allow: an error uniform over ±b beside the
        // means' own, whose sum the test and the interval read.
        let b = series.grid_bound;
        let p_value = if se > 0.0 || b > 0.0 {
            (2.0 * t_plus_uniform_sf(f.slope.abs(), se, df, b)).clamp(0.0, 1.0)
        } else if f.slope != 0.0 {
            0.0
        } else {
            1.0
        };
        let spread = (se * se + b * b / 3.0).sqrt();
        let t = if spread > 0.0 {
            f.slope / spread
        } else if f.slope != 0.0 {
            f64::INFINITY.copysign(f.slope)
        } else {
            0.0
        };
        let half = t_plus_uniform_quantile(q, se, df, b);
        return Some(SeriesFit {
            slope: f.slope,
            intercept: f.intercept,
            ci_low: f.slope - half,
            ci_high: f.slope + half,
            p_value,
            z: t,
            effective_n: m as f64,
            test: "least squares with its t test on n − 2 degrees of freedom",
        });
    }
    let testable = m >= MIN_BLOCKS_FOR_TEST && model != DriftModel::LongCycle;
    if series.quantised
        && testable
        && let Some(fit) = quantised_fit(series, confidence, about)
    {
        return Some(fit);
    }
    let mk = mann_kendall_about(&series.y, about);
    // NOTE: Sen's interval uses the same Student t reference as the test:
    // t_q² / z_q² folds it into the variance factor at this confidence.
    // It is the one of the points the slope is fitted on.
    let inflation = mk.map_or(1.0, |t| {
        t.var_inflation * (t_quantile(q, t.df) / normal_quantile(q)).powi(2)
    });
    let sen = theil_sen(&series.x, &series.y, confidence, inflation)?;
    // NOTE: two views of the same question, the smaller p taken: the
    // ranks' monotonic trend (Mann–Kendall, for a slow trend under heavy
    // noise) and the mean step (for a leak whose rate varies, which
    // Mann–Kendall's persistence correction all but hides).
    let steps = MeanStepLook::new(series);
    let (p_value, z, effective_n) = match mk {
        Some(t) if testable => (t.p_value.min(steps.p_value), t.z, t.effective_n),
        _ => (1.0, 0.0, m as f64 / mk.map_or(1.0, |t| t.var_inflation)),
    };
    let test = if testable {
        "Mann–Kendall with autocorrelation correction, and the mean step"
    } else {
        "too few whole cycles for a trend test (p = 1)"
    };
    // NOTE: the interval goes with the test that decided: when the steps
    // show a drift (their doubled p significant, and under the ranks'),
    // their interval (widened to hold Sen's slope) is the one thresholds
    // and fail-fast act on. It had gone to the steps on their undoubled p,
    // so between p and 2p the ranks decided and the steps' interval was
    // reported; the calibration table is the same either way, cell by cell.
    let decided = mk.is_some_and(|t| testable && steps.p_value < t.p_value.min(1.0 - confidence));
    let (ci_low, ci_high) = decided
        .then(|| steps.interval(confidence, sen.slope))
        .flatten()
        .unwrap_or((sen.ci_low, sen.ci_high));
    Some(SeriesFit {
        slope: sen.slope,
        intercept: sen.intercept,
        ci_low,
        ci_high,
        p_value,
        z,
        effective_n,
        test,
    })
}

/// `y` without its brief spikes and dips: one or two points beyond both
/// their neighbours by more than [`SPIKE_K`] robust sigmas of the steps
/// ([`super::step_scale`]: of the moves, where most steps are 0), while the
/// neighbours agree (within half that excursion), are put on the line
/// between them: a buffer freed and taken again between two or three
/// readings. Steps, ramps and the ends are left as they are,
/// so the steps' sum, the mean step, does not move: only their spread.
/// For the mean step's look.
///
/// NOTE: four one-sample dips of 3–4 MiB in a staircase that climbed 13 MiB
/// in 90 s without ever falling gave its steps a spread that hid it
/// (p = 0.36, a pass: each dip is two steps of 3.5 MiB among steps of 0.4);
/// without the dips, p < 1e-4. A running median of 3 over every point
/// took that out too, but it also narrowed the steps of smooth persistent
/// noise, whose local extremes it flattens: AR(1) 0.98's flat 90 s runs
/// significant 6 → 8%, its caches failing 5 → 7% (200 seeds). O(n).
fn despiked(y: &[f64]) -> Vec<f64> {
    let d: Vec<f64> = y.windows(2).map(|w| w[1] - w[0]).collect();
    let tiny = 1e-10 * y.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let scale = super::step_scale(&d, tiny).map_or(0.0, |(_, s)| s);
    let mut out = y.to_vec();
    if !(scale > 0.0 && scale.is_finite()) {
        return out;
    }
    let n = y.len();
    let mut i = 1;
    while i + 1 < n {
        // A run of up to MAX_SPIKE_LEN points, all beyond both flanks.
        let spike = (1..=MAX_SPIKE_LEN.min(n - 1 - i)).find(|&len| {
            let (a, c) = (out[i - 1], y[i + len]);
            let run = &y[i..i + len];
            let (lo, hi) = run
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &v| {
                    (l.min(v), h.max(v))
                });
            let excursion = (a.min(c) - hi).max(lo - a.max(c));
            excursion > SPIKE_K * scale && (c - a).abs() < 0.5 * excursion
        });
        match spike {
            Some(len) => {
                let (a, c) = (out[i - 1], y[i + len]);
                for k in 0..len {
                    out[i + k] = a + (c - a) * (k + 1) as f64 / (len + 1) as f64;
                }
                i += len;
            }
            None => i += 1,
        }
    }
    out
}

/// The longest spike or dip [`despiked`] takes out, in samples: a buffer
/// freed and taken again within two readings.
const MAX_SPIKE_LEN: usize = 2;

/// A one-sample spike or dip departs from both neighbours by more than
/// this many robust sigmas of the steps ([`despiked`]): as far as a jump
/// the persistence is measured without (`trend::JUMP_K`).
const SPIKE_K: f64 = 5.0;

/// The mean step's look at a view's points ([`increment_test`]), the
/// second view of the same question beside the slope's own test.
struct MeanStepLook<'a> {
    /// Its two-sided p doubled for being the second look (1 when it
    /// cannot be taken): what it reports, and what decides.
    p_value: f64,
    /// The view's times.
    x: &'a [f64],
    /// The view's points, [`despiked`]: what both the test and the
    /// interval read.
    y: Vec<f64>,
}

impl<'a> MeanStepLook<'a> {
    /// O(m) on the view's m points.
    fn new(series: &'a BlockSeries) -> Self {
        let y = despiked(&series.y);
        MeanStepLook {
            p_value: increment_test(&y).map_or(1.0, |s| (2.0 * s.p_value).min(1.0)),
            x: &series.x,
            y,
        }
    }

    /// Its interval ([`step_rate`]) widened to hold the view's `slope`:
    /// the one thresholds and fail-fast act on when the steps decide.
    /// Asked for only then. O(m).
    fn interval(&self, confidence: f64, slope: f64) -> Option<(f64, f64)> {
        step_rate(self.x, &self.y, confidence).map(|(_, lo, hi)| (lo.min(slope), hi.max(slope)))
    }
}

/// Quantised readings ([`level_blocks`]): least squares on the block means,
/// its slope, interval and t test, their variance times
/// their own persistence factor (Hamed–Rao's or the AR(1) one, as
/// Mann–Kendall reads it) on Student's t with their degrees of freedom. One
/// fit decides both, so a trend is significant exactly when its interval
/// leaves 0. `None` where least squares has no error to give (the means on
/// a line), for the rank view of the means.
///
/// NOTE: Sen's rank interval fails here as his slope on the samples does:
/// the tied pairs' zero slopes pin a bound at 0 (at 0 for the first 70 s of
/// a 6 MiB/min leak on 4 MiB pages). The test ran on the samples before,
/// and the two parted: "significant" with an interval holding 0 in 10–11%
/// of quantised bounded caches and 4–6% of flat quantised runs (200 seeded
/// runs per cell), and the other way on a real staircase (a leak under a
/// periodic cache flush on glibc's heap, `a_staircase_climbing_under_a_
/// flushed_cache_is_a_leak`): 7.6 MiB/min, interval 6.6–8.6, p = 0.06 on
/// the samples, whose levels held for 10 s read as persistence. With one
/// fit, flat quantised runs read 0–2% significant (were 2–6%), and a step
/// at mid-run is caught in 86% of 90 s runs, as before (63% with
/// Mann–Kendall on the means).
///
/// NOTE: the interval was centred on Sen's slope of the means at first.
/// Where a run grows by less than a page (a leak at the 2 MiB/min limit
/// over 90 s on 4 MiB pages: 3 MiB), many means still tie, their pairs'
/// zero slopes pull Sen's median toward 0, and the whole interval fell
/// under the limit in 11% (1 Hz) and 25% (10 Hz) of such runs, a pass
/// called conclusive on a leak at the limit, where the interval allows
/// 2.5% (`calibrate --settle --noise quantised`, 100 seeds). Least
/// squares' own slope is not pulled: 2% and 0%, with flat runs
/// significant in 2–4% (were 0–2%: the test had been conservative for
/// the same reason) and a 1.5× leak in 90 s caught in 93% (90%).
///
/// NOTE: and, as on the level view's points, the mean step's t test
/// ([`increment_test`], its p doubled for the second look), whose
/// interval ([`step_rate`], widened to hold the slope) goes with it when
/// it decides. A staircase whose first step is its largest bends about a
/// line, and its means read as persistence: 27 means of a real one
/// (12 MiB in 80 s, one level a cache flush) were worth 3.1, p = 0.077,
/// passed; their steps, up in 13 of 26 and down in 1, read p = 0.008.
/// Persistent noise only makes the step test conservative (its steps
/// telescope): on page-rounded AR(1) noise (φ = 0.5–0.98, 90 and 600
/// samples, 400 seeds each) it decided 0–3 runs of 400, and the jump and
/// quantised rows of the calibration table were unchanged but one cell
/// (a warm-up under held levels at 10 Hz failing 2 → 3%).
/// O(m log m) for the ranks of the persistence factor.
fn quantised_fit(series: &BlockSeries, confidence: f64, about: NoiseAbout) -> Option<SeriesFit> {
    let (x, y) = (&series.x, &series.y);
    let mk = mann_kendall_about(y, about)?;
    let f = ols(x, y)?;
    let se = NoiseFit::new(x, y, &f, about).stderr * mk.var_inflation.sqrt();
    if !(se > 0.0 && se.is_finite()) {
        return None;
    }
    let score = f.slope / se;
    let half = t_quantile(0.5 + 0.5 * confidence, mk.df) * se;
    let p_value = (2.0 * t_sf(score.abs(), mk.df)).clamp(0.0, 1.0);
    let steps = MeanStepLook::new(series);
    if steps.p_value < p_value.min(1.0 - confidence)
        && let Some((ci_low, ci_high)) = steps.interval(confidence, f.slope)
    {
        return Some(SeriesFit {
            slope: f.slope,
            intercept: f.intercept,
            ci_low,
            ci_high,
            p_value: steps.p_value,
            z: score,
            effective_n: mk.effective_n,
            test: "least squares on the means; the mean step's t test decided",
        });
    }
    Some(SeriesFit {
        slope: f.slope,
        intercept: f.intercept,
        ci_low: f.slope - half,
        ci_high: f.slope + half,
        p_value,
        z: score,
        effective_n: mk.effective_n,
        test: "least squares' t test on the means, with their persistence factor",
    })
}

/// The index of the lowest value of `y` over `idx` (the first, on ties);
/// `None` for an empty range.
fn lowest(y: &[f64], idx: impl Iterator<Item = usize>) -> Option<usize> {
    idx.min_by(|&a, &b| y[a].total_cmp(&y[b]))
}

/// The index of the highest value of `y` over `idx` (the last, on ties);
/// `None` for an empty range.
fn highest(y: &[f64], idx: impl Iterator<Item = usize>) -> Option<usize> {
    idx.max_by(|&a, &b| y[a].total_cmp(&y[b]))
}

/// Points the slope and test run on.
struct BlockSeries {
    x: Vec<f64>,
    y: Vec<f64>,
    block_len: usize,
    description: String,
    /// The least factor on the slope's variance that the points' known
    /// correlation calls for (1 = none known; see [`cycle_view`]).
    var_factor: f64,
    /// Block means of quantised readings ([`level_blocks`]): fitted and
    /// tested by [`quantised_fit`].
    quantised: bool,
    /// How far the slope may be off for where the drops fell between
    /// samples, in y per x (0 = none; see [`on_one_period`]): the test and
    /// the interval read the slope's error plus one uniform over ± this
    /// ([`fit_view`]).
    grid_bound: f64,
}

impl BlockSeries {
    /// Points of the level view, `block_len` samples each: no known
    /// correlation between them and no grid error.
    fn level(
        x: Vec<f64>,
        y: Vec<f64>,
        block_len: usize,
        description: String,
        quantised: bool,
    ) -> Self {
        BlockSeries {
            x,
            y,
            block_len,
            description,
            var_factor: 1.0,
            quantised,
            grid_bound: 0.0,
        }
    }
}

/// A detected sawtooth.
struct Sawtooth {
    /// Index of the first step of each drop (the cycle's peak sample).
    drop_starts: Vec<usize>,
    /// Index of the first sample after each drop (where the floor is sought).
    troughs: Vec<usize>,
    /// Median spacing between drops, in samples.
    period: usize,
}

impl Sawtooth {
    /// How many drops end a steady ramp ([`long_ramp_rise`]) from the
    /// trough of the drop before (the first: from the run's start). O(n).
    fn ramp_drops(&self, y: &[f64]) -> usize {
        self.drop_starts
            .iter()
            .enumerate()
            .filter(|&(k, &peak)| {
                let from = match k {
                    0 => 0,
                    _ => self.troughs[k - 1],
                };
                from < peak && long_ramp_rise(y, from, peak).is_some()
            })
            .count()
    }
}

/// Finds GC-style drops (see [`drift`] step 1). `trend` is removed before
/// measuring the range so a long leak does not dwarf the cycle amplitude. O(n).
fn detect_sawtooth(x: &[f64], y: &[f64], trend: f64) -> Option<Sawtooth> {
    let n = y.len();
    if n < MIN_POINTS {
        return None;
    }
    // Rounding-level variation is not noise: below this, values are "equal".
    let tiny = 1e-10 * y.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let d: Vec<f64> = y.windows(2).map(|w| w[1] - w[0]).collect();
    let mut tmp = spread_sample(&d);
    let med = median_mut(&mut tmp)?;
    tmp.iter_mut().for_each(|v| *v = (*v - med).abs());
    let mad = median_mut(&mut tmp)?;
    // MAD = 0 (idle or quantised memory: most steps identical) leaves the
    // threshold at the median step; the range rule below then decides.
    let scale = if 1.4826 * mad > tiny {
        1.4826 * mad
    } else {
        0.0
    };
    let abrupt_rise = if scale > 0.0 {
        med + DROP_K * scale
    } else {
        f64::INFINITY
    };
    let shifted = without_level_shifts(x, y, &d, abrupt_rise);
    let (y_range, trend) = match &shifted {
        Some((ys, slope)) => (ys.as_slice(), *slope),
        None => (y, trend),
    };
    let resid: Vec<f64> = x.iter().zip(y_range).map(|(x, y)| y - trend * x).collect();
    let mut resid = spread_sample(&resid);
    let hi = quantile_mut(&mut resid, 0.99)?;
    let lo = quantile_mut(&mut resid, 0.01)?;
    let range = hi - lo;
    if !(range > tiny && range.is_finite()) {
        return None;
    }
    let threshold = med - DROP_K * scale;
    let (mut drop_starts, mut troughs) = (Vec::new(), Vec::new());
    let mut i = 0;
    while i < d.len() {
        if d[i] < threshold {
            // A drop spread over consecutive samples is one event.
            let start = i;
            while i + 1 < d.len() && d[i + 1] < threshold {
                i += 1;
            }
            let size = y[start] - y[i + 1];
            let rise_before = if start > 0 { d[start - 1] } else { 0.0 };
            let rise_after = if i + 1 < d.len() { d[i + 1] } else { 0.0 };
            let spike = rise_before > SPIKE_RECOVERY * size;
            let dip = rise_after > SPIKE_RECOVERY * size;
            // NOTE: a drop onto the last sample has no step after it to
            // tell a cycle's end from a one-sample dip: it is neither. A
            // climb of 6 MiB/min over 89 s whose last sample alone fell
            // back was one ramp and drop (untested, p = 1) and passed.
            let unconfirmed = i + 1 >= d.len();
            if size >= DROP_RANGE_FRACTION * range && !spike && !dip && !unconfirmed {
                drop_starts.push(start);
                troughs.push(i + 1);
            }
        }
        i += 1;
    }
    let period = match troughs.len() {
        0 => return None,
        // NOTE: one drop: a cycle as long as the run. Its period is at
        // least the samples before the drop; [`floor_series`] decides
        // whether memory came back down far enough to call it a cycle.
        1 => troughs[0],
        _ => {
            let mut spacing: Vec<f64> = troughs.windows(2).map(|w| (w[1] - w[0]) as f64).collect();
            median_mut(&mut spacing)?.round() as usize
        }
    };
    (period >= 2).then_some(Sawtooth {
        drop_starts,
        troughs,
        period,
    })
}

/// At most this many abrupt rises (plus one per 100 steps) are level shifts
/// that [`without_level_shifts`] takes out; more are the noise itself.
const MAX_LEVEL_SHIFTS: usize = 3;

/// `y` without its few abrupt rises (first differences above `above`, when
/// there are at most [`MAX_LEVEL_SHIFTS`] + n/100 of them, each replaced by
/// the median step), and the least-squares slope of what is left; `None`
/// when there is nothing to take out. For the range a drop is measured
/// against: a step leak of 90 MiB at mid-run under a 24 MiB GC sawtooth
/// made the detrended range ~70 MiB, no drop reached a quarter of it, and
/// the cycles (and the step) went unseen in two thirds of 30-minute runs.
/// GC ramps climb gradually, so their steps are never this abrupt. O(n).
fn without_level_shifts(x: &[f64], y: &[f64], d: &[f64], above: f64) -> Option<(Vec<f64>, f64)> {
    let shifts = d.iter().filter(|&&s| s > above).count();
    if shifts == 0 || shifts > MAX_LEVEL_SHIFTS + d.len() / 100 || !above.is_finite() {
        return None;
    }
    let mut tmp = d.to_vec();
    let med = median_mut(&mut tmp)?;
    let mut out = Vec::with_capacity(y.len());
    let mut level = y[0];
    out.push(level);
    for &step in d {
        level += if step > above { med } else { step };
        out.push(level);
    }
    let slope = ols(x, &out).map_or(0.0, |f| f.slope);
    Some((out, slope))
}

/// Up to this many drops that make no cycles may be a long cycle's, whose
/// next ramp may be under way at the end ([`Drift::ramp_drops`], which
/// `super::late_drift` reads: no windows then).
// NOTE: counted only this far: a steady ramp is judged on ranks (O(m log m)
// per ramp), and over a day of 10 s cycles at 10 Hz counting every drop's
// took `analyze` of a ten-metric day from 0.73 to 1.16 s.
const MAX_LONE_DROPS: usize = 2;

/// A single drop counts as the end of a cycle only if memory fell back to
/// within this fraction of the rise before it (a leak with a one-off free
/// of a smaller cache keeps most of its growth and is fitted as a trend).
const ONE_DROP_RETURN: f64 = 0.25;

/// In a cycle, memory climbs gradually: no single step makes more than this
/// share of the cycle's rise (jump noise rises in one step).
const RAMP_MAX_STEP: f64 = 0.5;

/// ...and the drop that ends it gives back at least this share of the rise
/// (a climb with a few small dips is a level that climbs, not cycles).
const DROP_RETURN: f64 = 0.5;

/// Cycles recur: the coefficient of variation of complete cycle lengths is
/// at most this (GC cycles jittered by ±20% have ~0.12; levels redrawn at
/// random times, exponential holds, ~1).
const MAX_PERIOD_CV: f64 = 0.4;

/// A cycle as long as the run is seen as one or two ramps, and a ramp
/// that decides so much must climb steadily: Spearman's correlation of its
/// samples with their order is at least this. Slow sawtooths' ramps read a
/// median of 0.99 (200 seeded runs of each behaviour, 90 s to 30 minutes),
/// a warm-up's remnant in front of one included (a bend, but no step back);
/// where the mixture's held levels dropped once, the stretch from the
/// lowest sample before the drop read medians of 0.4–0.75, and 2–3% of its
/// runs were fitted as one long cycle (p = 1, no windows).
const LONG_RAMP_MIN_RHO: f64 = 0.85;

/// A lone drop is a release, not a cycle's end, when it gives back more
/// than this many runs' worth of the climb on either side of it: no cycle
/// the run could hold makes such a drop ([`release`]).
const RELEASE_RUNS: f64 = 1.5;

/// ...where both sides climb: Spearman's correlation of each side's
/// samples with their order is at least this...
const RELEASE_MIN_RHO: f64 = 0.5;

/// ...at rates within this factor of each other (one leak on both sides).
const RELEASE_RATE_RATIO: f64 = 3.0;

/// With one drop in the run: is it a one-off release (a start-up buffer
/// freed, a cache cleared once) under a climb that goes on either side?
/// Then `y` with the drop taken out (the samples after it raised by its
/// size, those inside it put on the line), and why; `None` where it may
/// be a cycle's end.
///
/// A cycle's drop gives back what its ramp climbed in one period, so a
/// cycle of period P ≤ the run shows a drop of at most the ramp's rate ×
/// the run. The drop here is measured between the two sides' lines (least
/// squares, their common slope) at the drop. Where it is more than
/// [`RELEASE_RUNS`] times the climb at that slope over the whole run, the
/// cycle it would end is longer than the run could show, and most runs of
/// it would show no drop at all, only the ramp, a leak to any test: the one
/// drop that a run happened to catch must not decide. The calibration's
/// slow sawtooth (a period of 0.6 × the run) gives back at most 1.0× its
/// climb over what the warm-up cut leaves (0.6 of the run at the cut's
/// cap). A steady 6 MiB/min leak with a 30 MiB start-up buffer freed at
/// 55 s of a 90 s watch (5.6× the climb) read as one long cycle: floors
/// before and after the drop, −25 MiB/min, p = 1, a pass.
///
/// NOTE: a drop within that is ambiguous, and stays a long cycle: 10 MiB
/// given back under 6 MiB/min in 90 s (1.2× the climb) is what a healthy
/// cycle of 100 s looks like too. O(n log n) for the ranks.
fn release(x: &[f64], y: &[f64], saw: &Sawtooth) -> Option<(Vec<f64>, String)> {
    let (&peak, &trough) = (saw.drop_starts.first()?, saw.troughs.first()?);
    let n = y.len();
    if peak + 1 < MIN_POINTS || n < trough + MIN_POINTS {
        return None;
    }
    let (before, after) = ((0, peak + 1), (trough, n));
    // Each side's means, Sxx, and least-squares slope.
    // NOTE: by hand, not `ols::ols`: the pooled slope weighs each side by
    // its Sxx and the drop is read between the sides' means, neither of
    // which `OlsFit` carries; one O(k) pass gives all four.
    let side = |(a, b): (usize, usize)| {
        let k = (b - a) as f64;
        let mx = x[a..b].iter().sum::<f64>() / k;
        let my = y[a..b].iter().sum::<f64>() / k;
        let (sxx, sxy) = (a..b).fold((0.0, 0.0), |(sxx, sxy), i| {
            (sxx + (x[i] - mx).powi(2), sxy + (x[i] - mx) * (y[i] - my))
        });
        (mx, my, sxx, sxy / sxx)
    };
    let (mx1, my1, sxx1, b1) = side(before);
    let (mx2, my2, sxx2, b2) = side(after);
    let climbs = |(a, b): (usize, usize)| {
        correlation_with_index(&average_ranks(&y[a..b])) >= RELEASE_MIN_RHO
    };
    let one_climb = b1 > 0.0
        && b2 > 0.0
        && b1.max(b2) <= RELEASE_RATE_RATIO * b1.min(b2)
        && climbs(before)
        && climbs(after);
    if !one_climb {
        return None;
    }
    let b = (b1 * sxx1 + b2 * sxx2) / (sxx1 + sxx2);
    let drop = (my1 - my2) + b * (mx2 - mx1);
    let climb = b * (x[n - 1] - x[0]);
    if !(drop > RELEASE_RUNS * climb && climb > 0.0) {
        return None;
    }
    let mut out = y.to_vec();
    for i in peak + 1..trough {
        out[i] = my1 + b * (x[i] - mx1);
    }
    for v in &mut out[trough..] {
        *v += drop;
    }
    Some((
        out,
        format!(
            "one drop that gives back {:.1}× what memory climbs over the run on either side of it: \
             no cycle the run could hold makes it, so a one-off release, taken out",
            drop / climb
        ),
    ))
}

/// [`ramp_rise`] for a ramp that stands for a whole cycle (one or two
/// drops in the run): the climb from the lowest sample in `a..=b` to `b`
/// must also take at least half of that stretch (a drop that ends a short
/// climb after a long wander ends no cycle of the wander's length) and
/// climb steadily ([`LONG_RAMP_MIN_RHO`]). O(m log m), m = b − a.
fn long_ramp_rise(y: &[f64], a: usize, b: usize) -> Option<f64> {
    let rise = ramp_rise(y, a, b)?;
    let low = lowest(y, a..=b)?;
    (low + 2 <= b
        && 2 * (b - low) >= b - a
        && correlation_with_index(&average_ranks(&y[low..=b])) >= LONG_RAMP_MIN_RHO)
        .then_some(rise)
}

/// Pearson's correlation of `y` with its index 0, 1, …; 0 for a constant.
/// On ranks, Spearman's. O(n).
// NOTE: `ols` takes an x slice; with x = 0, 1, … its sums are known in
// closed form, and this runs once per drop without allocating one.
fn correlation_with_index(y: &[f64]) -> f64 {
    let n = y.len() as f64;
    let mean = y.iter().sum::<f64>() / n;
    let xbar = (n - 1.0) / 2.0;
    let (sxy, syy) = y
        .iter()
        .enumerate()
        .fold((0.0, 0.0), |(sxy, syy), (i, &v)| {
            let dy = v - mean;
            (sxy + (i as f64 - xbar) * dy, syy + dy * dy)
        });
    let sxx = n * (n * n - 1.0) / 12.0;
    if syy > 0.0 && sxx > 0.0 {
        sxy / (sxx * syy).sqrt()
    } else {
        0.0
    }
}

/// Is the climb from `a` to `b` (inclusive, `a < b`) a gradual ramp? Its
/// rise is `y[b]` minus the lowest sample in between; no step may make more
/// than [`RAMP_MAX_STEP`] of it. Returns the rise when it is.
fn ramp_rise(y: &[f64], a: usize, b: usize) -> Option<f64> {
    if b < a + 2 {
        return None;
    }
    let low = y[a..=b].iter().copied().fold(f64::INFINITY, f64::min);
    let rise = y[b] - low;
    let max_step = y[a..=b]
        .windows(2)
        .map(|w| w[1] - w[0])
        .fold(f64::NEG_INFINITY, f64::max);
    (rise > 0.0 && max_step <= RAMP_MAX_STEP * rise).then_some(rise)
}

/// The cycle view of detected drops (see [`drift`] step 2): the series,
/// its model and why; or why the drops are not cycles. Beyond `max_blocks`
/// cycles, block medians of their means. O(n).
fn cycle_view(
    x: &[f64],
    y: &[f64],
    saw: &Sawtooth,
    max_blocks: usize,
    scope: Span,
) -> Result<(BlockSeries, DriftModel, String), String> {
    let drops = saw.troughs.len();
    // NOTE: a cycle ends in a drop. Where memory has held at or above the
    // last cycle's top for a quarter of the window since that drop, the
    // cycles are over and what follows is a level of its own: a Python
    // cache flushed every 10 s gave its pages back twice, then glibc raised
    // its mmap threshold, the flushed buffers stayed on the heap, and RSS
    // climbed as a staircase under a 6 MiB/min leak for the 70 s left. Read
    // as one long cycle (p = 1) it passed `rss.slope<2MiB/min`.
    if let (Some(&peak), Some(&trough)) = (saw.drop_starts.last(), saw.troughs.last()) {
        let above = y[trough..].iter().filter(|&&v| v >= y[peak]).count();
        if above >= MIN_POINTS && 4 * above >= y.len() {
            return Err(format!(
                "{drops} drop{}, then {above} of {} samples at or above the last top: \
                 the cycles ended",
                if drops == 1 { "" } else { "s" },
                y.len()
            ));
        }
    }
    if drops == 1
        && scope == Span::WholeRun
        && let Some((released, why)) = release(x, y, saw)
    {
        return Ok((
            level_blocks(x, &released, max_blocks),
            DriftModel::Level,
            why,
        ));
    }
    if drops == 1 {
        let peak = saw.drop_starts[0];
        // The lowest sample up to the peak: where the climb before the drop
        // began, and what the drop must come back down to.
        let start = lowest(y, 0..=peak).unwrap_or(0);
        // NOTE: with one drop the side that holds more of the cycle is the
        // evidence. A run (or what the warm-up cut left of one) that opens
        // just before a long cycle's drop has too little ramp before it to
        // judge, and the lowest sample before it is no floor: the ramp after
        // it, back up to the top, shows the cycle. A slow sawtooth cut at 40%
        // of a 600 s run, its drop 10 s in, was fitted as a level climbing at
        // the ramp's rate (3.9 MiB/min, a fail) in a fifth of runs with a
        // healthy warm-up before it, and a drop 30 s into a 360 s cycle gave
        // floors 300 MiB apart: a slope of −64 MiB/min.
        if peak + 1 < y.len() - saw.troughs[0]
            && let Some(s) = one_drop_tops(x, y, saw, start)
        {
            return Ok((
                s,
                DriftModel::LongCycle,
                format!(
                    "one drop and a ramp back up to its top (a cycle of ≥ {} samples): \
                         run several cycles long to test a trend",
                    y.len() - peak
                ),
            ));
        }
        if long_ramp_rise(y, 0, peak).is_none() {
            return Err("one drop, after a jump or a wander rather than a steady ramp".into());
        }
        return one_drop_floors(x, y, saw, start)
            .map(|s| {
                (
                    s,
                    DriftModel::LongCycle,
                    format!(
                        "one ramp and drop back (a cycle of ≥ {} samples): run several cycles long to test a trend",
                        saw.period
                    ),
                )
            })
            .ok_or_else(|| "one drop that keeps most of the rise: a level change".into());
    }
    // Complete cycles: from the sample after drop k to the peak before drop k+1.
    let cycles: Vec<(usize, usize)> = (0..drops - 1)
        .map(|k| (saw.troughs[k], saw.drop_starts[k + 1]))
        .collect();
    let good = cycles
        .iter()
        .enumerate()
        .filter(|&(k, &(a, b))| {
            ramp_rise(y, a, b)
                .is_some_and(|rise| y[b] - y[saw.troughs[k + 1]] >= DROP_RETURN * rise)
        })
        .count();
    if 3 * good < 2 * cycles.len() {
        return Err(format!(
            "{drops} drops, but only {good} of {} cycles ramp up gradually and drop back: jumps or dips, not cycles",
            cycles.len()
        ));
    }
    let lens: Vec<f64> = cycles.iter().map(|&(a, b)| (b + 1 - a) as f64).collect();
    let mean = lens.iter().sum::<f64>() / lens.len() as f64;
    let cv = if lens.len() > 1 {
        (lens.iter().map(|l| (l - mean).powi(2)).sum::<f64>() / (lens.len() - 1) as f64).sqrt()
            / mean
    } else {
        0.0
    };
    if cv > MAX_PERIOD_CV {
        return Err(format!(
            "{drops} drops at irregular spacing (cycle length CV {cv:.2}): not recurring cycles"
        ));
    }
    if cycles.len() < 3 {
        if !cycles
            .iter()
            .all(|&(a, b)| long_ramp_rise(y, a, b).is_some())
        {
            return Err(format!(
                "{drops} drops, but not after steady ramps: a wander, not long cycles"
            ));
        }
        let mut floors = floors_after(x, y, saw);
        if floors.y.len() < 2 {
            return Err("too few samples after the drops".into());
        }
        // NOTE: three drops leave three floors, one more than a line needs:
        // least squares tests them on their 1 degree of freedom. Untested
        // (p = 1, the range for an interval), a real 4-minute watch of a
        // 60 s cycle over a 5 MiB/min leak, floors 32.3 → 37.8 → 42.9 MiB,
        // passed like a healthy one; now p = 0.001, a fail. Seeded, 24
        // families of such cycles (`three_drops_are_tested_on_their_floors`):
        // 4.6% of healthy runs on three floors significant, 55% of
        // 5 MiB/min leaks caught (none before). Two drops stay untested.
        let why = if floors.y.len() >= 3 {
            floors.description = format!(
                "least squares on {} cycle floors (period ≈ {} samples)",
                floors.y.len(),
                saw.period
            );
            format!(
                "{drops} ramps and drops (cycles of ≈ {} samples): too few whole cycles for their means; \
                 the trend of their {} floors tested on {} degree{} of freedom",
                saw.period,
                floors.y.len(),
                floors.y.len() - 2,
                if floors.y.len() == 3 { "" } else { "s" }
            )
        } else {
            format!(
                "{drops} ramps and drops (cycles of ≈ {} samples): too few whole cycles to test a trend",
                saw.period
            )
        };
        return Ok((floors, DriftModel::LongCycle, why));
    }
    // One point per complete cycle: its mean level at its mean time. Every
    // whole cycle holds one ramp, so its mean is its offset plus half the
    // ramp, the same in every cycle whatever its length: the offsets' drift
    // is the means' drift, read from every sample of every cycle.
    //
    // Where a drop falls between two samples moves the mean of the cycle
    // before it and of the one after it the same way (they share that
    // boundary): the means' errors from the sampling grid, variance
    // (ramp × spacing)²/24 each, correlate 0.5 between neighbours. With the
    // noise about each ramp (variance s²/k) that makes the least factor on
    // the slope's variance 1 + v_grid / (v_grid + v_noise), up to 2.
    let (mut ox, mut oy) = (Vec::new(), Vec::new());
    let (mut v_grid, mut v_noise) = (0.0, 0.0);
    let mut ramps = Vec::with_capacity(cycles.len());
    for &(a, b) in &cycles {
        let k = (b + 1 - a) as f64;
        ox.push(x[a..=b].iter().sum::<f64>() / k);
        oy.push(y[a..=b].iter().sum::<f64>() / k);
        if let Some(f) = ols(&x[a..=b], &y[a..=b]) {
            let spacing = (x[b] - x[a]) / (k - 1.0);
            v_grid += (f.slope * spacing).powi(2) / 24.0;
            let ss: f64 = (a..=b)
                .map(|i| (y[i] - f.intercept - f.slope * x[i]).powi(2))
                .sum();
            v_noise += ss / (k - 2.0).max(1.0) / k;
            ramps.push(f.slope);
        }
    }
    // NOTE: drops that recur on one period (a timer's flush) fall at a
    // phase of the sampling grid that drifts steadily from cycle to cycle:
    // not noise that averages out but a trend, worth up to one sample's
    // climb of the ramp over the run. A cache filled to 48 MiB and flushed
    // every 9.85 s, sampled at 1 Hz, read 4.56 MiB/min (p = 0.003) as its
    // means walked through one sample of phase. The means moved to where
    // the period puts each drop carry no grid error but that of the period
    // itself (its bound), so no factor for neighbours sharing a drop.
    let grid =
        median_mut(&mut ramps).and_then(|ramp| on_one_period(x, saw, &cycles, &ox, &oy, ramp));
    let (ox, oy, var_factor, grid_bound, description) = match grid {
        Some(g) => {
            // As many decimals as the range's half-width needs for two
            // figures: a day of 10 s cycles pins the period to 1e-5 s,
            // where four decimals read "10.0924 (10.0924–10.0924)".
            let half = 0.5 * (g.period_hi - g.period_lo);
            let decimals = if half > 0.0 {
                (1.0 - half.log10().floor()).clamp(1.0, 12.0) as usize
            } else {
                4
            };
            let description = format!(
                "{} whole-cycle means, each drop placed on one period of {:.d$} ± {:.d$} s",
                g.x.len(),
                g.period,
                half,
                d = decimals
            );
            (g.x, g.y, 1.0, g.bound, description)
        }
        None => {
            let var_factor = if v_grid + v_noise > 0.0 {
                1.0 + v_grid / (v_grid + v_noise)
            } else {
                1.0
            };
            let description = format!(
                "{} whole-cycle means (period ≈ {} samples)",
                ox.len(),
                saw.period
            );
            (ox, oy, var_factor, 0.0, description)
        }
    };
    let n = ox.len();
    let reason = format!(
        "{n} regular cycles of ≈ {} samples (length CV {cv:.2}): gradual ramps, drops back",
        saw.period
    );
    if n <= max_blocks {
        return Ok((
            BlockSeries {
                x: ox,
                y: oy,
                block_len: saw.period,
                var_factor,
                description,
                quantised: false,
                grid_bound,
            },
            DriftModel::Cycles,
            reason,
        ));
    }
    let (bx, by) = block_medians(&ox, &oy, max_blocks);
    let per_block = n.div_ceil(by.len());
    Ok((
        BlockSeries {
            description: format!(
                "{} block medians of {description} ({per_block} cycles per block)",
                by.len(),
            ),
            x: bx,
            y: by,
            block_len: per_block * saw.period,
            var_factor,
            quantised: false,
            grid_bound,
        },
        DriftModel::Cycles,
        reason,
    ))
}

/// Whole-cycle means placed on one period, from [`on_one_period`].
struct OnePeriod {
    /// Each cycle's middle on the period, and its mean moved there along
    /// the common ramp.
    x: Vec<f64>,
    y: Vec<f64>,
    /// How far the slope of these points moves over the periods allowed.
    bound: f64,
    /// The period at the middle of the range allowed, and its ends.
    period: f64,
    period_lo: f64,
    period_hi: f64,
}

/// Where the first drop may fall, τ₀ ∈ (`top`, `bottom`], if drop k
/// (in (`lo[k]`, `hi[k]`]) falls at τ₀ + kP: the intersection of
/// (lo_k − kP, hi_k − kP] over every k, empty when `top` > `bottom`. O(D).
fn first_drop_range(lo: &[f64], hi: &[f64], p: f64) -> (f64, f64) {
    lo.iter().zip(hi).enumerate().fold(
        (f64::NEG_INFINITY, f64::INFINITY),
        |(top, bottom), (k, (&l, &h))| (top.max(l - k as f64 * p), bottom.min(h - k as f64 * p)),
    )
}

/// The periods P that fit every drop: drop k (of D) lies in
/// (`lo[k]`, `hi[k]`], and P fits when one τ₀ puts τ₀ + kP in every one of
/// them, that is when g(P) = max_k (lo_k − kP) − min_k (hi_k − kP) ≤ 0
/// (where [`first_drop_range`] is not empty). g is convex (a maximum of
/// lines less a minimum of lines), so the periods that fit are one range:
/// its lowest point is found by ternary search, its
/// ends by bisection on either side, within the bracket that the first and
/// last drops alone allow. `None` when no positive period fits (jittered
/// cycles) or fewer than 2 drops. O(D) per step, about 140 steps.
// NOTE: the pairwise bounds (lo_k − hi_j)/(k − j) ≤ P ≤ (hi_k − lo_j)/(k − j)
// give the same range exactly, but in O(D²): a day of 10 s cycles holds
// 8,640 drops. Thinned to 500 drops they gave a range wider than the drops
// allow, whose ends left τ₀ no room (an empty interval whose midpoint was
// still used).
fn periods_that_fit(lo: &[f64], hi: &[f64]) -> Option<(f64, f64)> {
    let d = lo.len();
    if d < 2 || hi.len() != d {
        return None;
    }
    let gap = |p: f64| {
        let (top, bottom) = first_drop_range(lo, hi, p);
        top - bottom
    };
    let span = (d - 1) as f64;
    let (first, last) = ((lo[d - 1] - hi[0]) / span, (hi[d - 1] - lo[0]) / span);
    if !(last > 0.0 && last.is_finite() && first.is_finite()) {
        return None;
    }
    // Searched to a relative 1e-12 of the period: about 60 steps of the
    // ternary search and 40 of each bisection (at most 200 each).
    let close = |a: f64, b: f64| (b - a).abs() <= 1e-12 * last;
    let (mut a, mut b) = (first, last);
    for _ in 0..200 {
        if close(a, b) {
            break;
        }
        let (m1, m2) = (a + (b - a) / 3.0, b - (b - a) / 3.0);
        if gap(m1) <= gap(m2) {
            b = m2;
        } else {
            a = m1;
        }
    }
    let best = 0.5 * (a + b);
    if !(gap(best) <= 0.0) {
        return None;
    }
    // The end of the range between `outside` (g > 0, or the bracket's end)
    // and `best` (g ≤ 0).
    let end = |outside: f64| {
        if gap(outside) <= 0.0 {
            return outside;
        }
        let (mut out, mut inside) = (outside, best);
        for _ in 0..200 {
            if close(out, inside) {
                break;
            }
            let mid = 0.5 * (out + inside);
            if gap(mid) <= 0.0 {
                inside = mid;
            } else {
                out = mid;
            }
        }
        inside
    };
    let (p_lo, p_hi) = (end(first), end(last));
    (p_lo > 0.0 && p_hi.is_finite()).then_some((p_lo, p_hi))
}

/// Where every drop fits one period. Drop k happened after the sample
/// `drop_starts[k]` and by the sample `troughs[k]`: lo_k < τ_k ≤ hi_k. The
/// periods P with τ_k = τ_0 + kP for some τ_0 form one range
/// ([`periods_that_fit`]). `None` where no period fits (jittered
/// cycles: their phases are as good as random, and the means' grid error
/// is noise). Otherwise each cycle's mean (x̄_k, ȳ_k) is moved along the
/// common `ramp` to the middle of the cycle the period places it in,
/// (τ_k + P/2, ȳ_k − ramp · (x̄_k − τ_k − P/2)), at the middle of the range
/// of P; `bound` is how far least squares' slope of those points moves
/// between it and either end: the part of the slope that the grid can
/// still hide. O(D) ([`periods_that_fit`]: about 140 passes over the drops).
fn on_one_period(
    x: &[f64],
    saw: &Sawtooth,
    cycles: &[(usize, usize)],
    mx: &[f64],
    my: &[f64],
    ramp: f64,
) -> Option<OnePeriod> {
    let lo: Vec<f64> = saw.drop_starts.iter().map(|&i| x[i]).collect();
    let hi: Vec<f64> = saw.troughs.iter().map(|&i| x[i]).collect();
    let (p_lo, p_hi) = periods_that_fit(&lo, &hi)?;
    let place = |p: f64| {
        let (t_lo, t_hi) = first_drop_range(&lo, &hi, p);
        let t0 = 0.5 * (t_lo + t_hi);
        let (px, py): (Vec<f64>, Vec<f64>) = (0..cycles.len())
            .map(|k| {
                let mid = t0 + k as f64 * p + 0.5 * p;
                (mid, my[k] - ramp * (mx[k] - mid))
            })
            .unzip();
        (px, py)
    };
    let period = 0.5 * (p_lo + p_hi);
    let (px, py) = place(period);
    let centre = ols(&px, &py)?.slope;
    let bound = [p_lo, p_hi]
        .into_iter()
        .filter_map(|p| {
            let (ex, ey) = place(p);
            ols(&ex, &ey).map(|f| (f.slope - centre).abs())
        })
        .fold(0.0, f64::max);
    Some(OnePeriod {
        x: px,
        y: py,
        bound,
        period,
        period_lo: p_lo,
        period_hi: p_hi,
    })
}

/// With one drop early in the run (fewer samples before it than after), the top
/// before it (the maximum of the last ⌈(peak + 1)/5⌉ samples up to its peak) and
/// the top at the end of the run (the maximum of as many last samples), when
/// the samples after the drop climb back steadily ([`long_ramp_rise`]) by at
/// least half of the drop and end no higher than [`ONE_DROP_RETURN`] of the
/// drop above the top before, and the drop fell to within as much of the
/// lowest sample before it (`start`): one cycle seen from its drop, as
/// [`one_drop_floors`] sees one from its start. Two points: the slope is
/// their difference, and there is no trend test (p = 1). O(n).
fn one_drop_tops(x: &[f64], y: &[f64], saw: &Sawtooth, start: usize) -> Option<BlockSeries> {
    let (&peak, &t) = (saw.drop_starts.first()?, saw.troughs.first()?);
    let n = y.len();
    let low = lowest(y, t..n)?;
    let climb = long_ramp_rise(y, low, n - 1)?;
    let drop = y[peak] - y[low];
    let window = (peak + 1).div_ceil(FLOOR_WINDOW_DIV).max(1);
    let before = highest(y, peak + 1 - window..=peak)?;
    let after = highest(y, n - window..n)?;
    // NOTE: and the drop took memory back down to where the window began:
    // a load that climbs to a peak, frees part of it and then leaks without
    // reaching that peak again (never back near its start) is no cycle.
    if !(drop > 0.0)
        || climb < DROP_RETURN * drop
        || y[after] > y[before] + ONE_DROP_RETURN * drop
        || y[low] > y[start] + ONE_DROP_RETURN * drop
    {
        return None;
    }
    Some(BlockSeries {
        x: vec![x[before], x[after]],
        y: vec![y[before], y[after]],
        block_len: n - peak,
        var_factor: 1.0,
        grid_bound: 0.0,
        quantised: false,
        description: "Theil–Sen on the top before the one drop in the run and the top at its end"
            .into(),
    })
}

/// With one drop in the run, the floor before it (`i`, the lowest sample up
/// to its peak) and the floor after it, when memory came back down to
/// within [`ONE_DROP_RETURN`] of that rise; else `None`. Two points: the
/// slope is their difference, and there is no trend test (p = 1). O(n).
fn one_drop_floors(x: &[f64], y: &[f64], saw: &Sawtooth, i: usize) -> Option<BlockSeries> {
    let (&peak, &t) = (saw.drop_starts.first()?, saw.troughs.first()?);
    let window = (peak + 1).div_ceil(FLOOR_WINDOW_DIV).max(1);
    let end = (t + window).min(y.len());
    let j = lowest(y, t..end)?;
    let rise = y[peak] - y[i];
    if !(rise > 0.0) || y[j] > y[i] + ONE_DROP_RETURN * rise {
        return None;
    }
    Some(BlockSeries {
        x: vec![x[i], x[j]],
        y: vec![y[i], y[j]],
        block_len: saw.period,
        var_factor: 1.0,
        grid_bound: 0.0,
        quantised: false,
        description: format!(
            "Theil–Sen on the floors before and after the one drop in the run \
             (a cycle of ≥ {} samples)",
            saw.period
        ),
    })
}

/// The floor after each drop: the minimum of the first ⌈P/5⌉ samples (a
/// window cut short by the next drop is whole, one cut by the end of the
/// run is left out), and the lowest sample before the first drop when that
/// leaves a single floor. O(n).
fn floors_after(x: &[f64], y: &[f64], saw: &Sawtooth) -> BlockSeries {
    let n = y.len();
    let window = saw.period.div_ceil(FLOOR_WINDOW_DIV).max(1);
    let (mut fx, mut fy) = (Vec::new(), Vec::new());
    for (k, &t) in saw.troughs.iter().enumerate() {
        let next_peak = saw.drop_starts.get(k + 1).map_or(n, |&s| s + 1);
        let end = (t + window).min(next_peak).min(n);
        let is_last = k + 1 == saw.troughs.len();
        if end <= t || (is_last && end - t < window) {
            continue;
        }
        if let Some(j) = lowest(y, t..end) {
            fx.push(x[j]);
            fy.push(y[j]);
        }
    }
    if fy.len() < 2 {
        // NOTE: a run that starts mid-ramp makes the lowest sample before
        // the first drop no floor at all, so it is used only when the drops
        // leave a single floor of their own.
        if let Some(i) = lowest(y, 0..=saw.drop_starts[0]) {
            fx.insert(0, x[i]);
            fy.insert(0, y[i]);
        }
    }
    BlockSeries {
        description: format!(
            "Theil–Sen on {} cycle floors (period ≈ {} samples)",
            fy.len(),
            saw.period
        ),
        x: fx,
        y: fy,
        block_len: saw.period,
        var_factor: 1.0,
        grid_bound: 0.0,
        quantised: false,
    }
}

/// The warm-up cut for `warmup auto`: [`warmup_end`] (MSER-5), except that
/// it never cuts through the end of a long cycle. MSER reads a GC drop as a
/// level change and may cut on its top or just after it; what is left of a
/// slow cycle is then a bare ramp, indistinguishable from a leak. When the
/// cut falls on or after the first drop, the cut is sought in the samples
/// up to that drop instead, at least one sample before its top (a window
/// that opens with a drop shows none: one drop's cycle is the samples
/// before its trough, at least 2), and taken when what it leaves has one
/// or two real cycles ([`DriftModel::LongCycle`]: the drop brings memory
/// back down, and it ramps back up gradually); failing that, the same up
/// to the second drop (the first was in the warm-up). A transient that overshoots
/// and settles higher (a model load) is no such drop and keeps its cut;
/// neither do jumps of held levels.
///
/// Cost: O(n) on top of [`warmup_end`].
pub fn auto_warmup(x: &[f64], y: &[f64]) -> usize {
    let w = warmup_end(y);
    if w == 0 || x.len() != y.len() || y.iter().any(|v| !v.is_finite()) {
        return w;
    }
    let trend = ols(x, y).map_or(0.0, |f| f.slope);
    let Some(saw) = detect_sawtooth(x, y, trend) else {
        return w;
    };
    if w < saw.drop_starts[0] {
        return w;
    }
    // NOTE: whether the cycles are long is read on what the earlier cut
    // leaves, not on the whole run: a 60 MiB warm-up fill in front of a
    // 54 s cycle (90 s at 1 Hz) made the one drop "keep most of the rise",
    // a level change, and MSER's cut stayed on the top of the ramp before
    // the drop (35 s, the 40% cap) or just after it: what was left read
    // 26 MiB/min, p < 1e-9. And only a long cycle (one or two drops) needs
    // this: with three or more, whole-cycle means ignore the partial cycle a
    // cut leaves, and moving the cut back to the first drop kept a 60 MiB
    // warm-up fill under a 10 s GC sawtooth in the data (75–90% false alarms
    // in 10–30 min runs).
    // NOTE: and before the second drop where the first is in the warm-up
    // itself (a cycle's drop inside a 9 s fill, sampled at 10 Hz): MSER on
    // the run less its trend saw the later drop as a step between two
    // levels that held most of the variance, and cut 5–6.5 s into the fill,
    // whose rest read as a climb (10% of such 90 s runs failed, now 2%).
    for &peak in saw.drop_starts.iter().take(2) {
        let c = warmup_end(&y[..=peak]).min(peak.saturating_sub(1));
        let (xs, ys) = (&x[c..], &y[c..]);
        let kept = ols(xs, ys).map_or(0.0, |f| f.slope);
        let long = detect_sawtooth(xs, ys, kept).is_some_and(|s| {
            matches!(
                cycle_view(xs, ys, &s, MAX_BLOCKS, Span::Part),
                Ok((_, DriftModel::LongCycle, _))
            )
        });
        if long {
            return c;
        }
    }
    w
}

/// Above this many values, the sawtooth scan's robust scale and range are
/// measured on a sample of this size (their relative error is then ~1%).
const SCALE_SAMPLE: usize = 65_536;

/// `v` itself up to [`SCALE_SAMPLE`] values, else one value from each of
/// that many equal stretches of it, at a golden-ratio offset within its
/// stretch, which no sawtooth period can alias with (a fixed stride equal
/// to the period would see one phase only). O(n) copy, O(SCALE_SAMPLE)
/// beyond: a day at 10 Hz scans in ~1/10 of the time.
///
/// NOTE: the values are read in order. The golden-ratio offsets over the
/// whole of `v` (the sample before) read them in a scattered order, a
/// cache miss each on a day at 10 Hz: 11% of `analyze`'s time on ten
/// metrics (`cargo bench --bench analysis`). The scale and the range it
/// feeds are order-free (medians and quantiles).
fn spread_sample(v: &[f64]) -> Vec<f64> {
    let n = v.len();
    if n <= SCALE_SAMPLE {
        return v.to_vec();
    }
    const PHI: f64 = 0.618_033_988_749_894_9;
    let stretch = n as f64 / SCALE_SAMPLE as f64;
    (0..SCALE_SAMPLE)
        .map(|i| {
            let at = (i as f64 + (i as f64 * PHI).fract()) * stretch;
            v[(at as usize).min(n - 1)]
        })
        .collect()
}

/// Above this share of tied pairs, the readings are quantised (page or
/// arena steps larger than their noise) and the level view fits block means.
/// Continuous noise ties no pair. NOTE: 20% let a real target that moves in
/// whole 1 MiB buffers through (19.6% tied, `churn.py --quantum 1 --churn 4
/// --hold 2 --leak 3`): a true 3 MiB/min read 2.08, its interval pinned at
/// 0; on means, 2.67 (CI 0.75–4.60). At 5% the calibration's other families
/// (held levels included) keep every cell.
const TIED_SHARE: f64 = 0.05;

/// Samples per block mean for quantised readings (more where ⌈n/1000⌉ is).
const QUANTISED_BLOCK: usize = 3;

/// The fewest points the level view of quantised readings is cut into: below
/// 2 × this many samples they are fitted as they are.
const MIN_QUANTISED_POINTS: usize = 20;

/// The level view's points: block medians ([`median_blocks`]), or, where
/// more than [`TIED_SHARE`] of the pairs tie, means of [`QUANTISED_BLOCK`]
/// samples. NOTE: Sen's slope is the median of the pairwise slopes, and a
/// tied pair's is exactly 0: on readings quantised in steps larger than the
/// noise (4 MiB steps, 2 MiB noise) a 3 MiB/min leak tied 41% of its pairs
/// and its median slope was 0.1 MiB/min (`calibrate --noise quantised`:
/// 8% of 1.5× leaks caught in 90 s). A mean of 3 steps is on a grid 3 times
/// finer, and the slopes of the means are unbiased again (2.9 MiB/min);
/// medians of blocks would tie as the samples do. O(n log n) for the ties.
fn level_blocks(x: &[f64], y: &[f64], max_blocks: usize) -> BlockSeries {
    let n = y.len();
    if n < 2 * MIN_QUANTISED_POINTS || super::tied_pair_share(&mut spread_sample(y)) <= TIED_SHARE {
        return median_blocks(x, y, max_blocks);
    }
    let block = QUANTISED_BLOCK
        .max(n.div_ceil(max_blocks))
        .min(n / MIN_QUANTISED_POINTS);
    let (bx, by) = block_means(x, y, n / block);
    let block_len = n.div_ceil(by.len().max(1));
    let n = by.len();
    BlockSeries::level(bx, by, block_len, quantised_means(n, block_len), true)
}

/// What a quantised level view's points are, for its `method`.
fn quantised_means(n: usize, block_len: usize) -> String {
    format!("least squares on {n} block means (block {block_len} samples: quantised readings)")
}

/// The points of the level view's second reading ([`per_block_too`]):
/// interquartile means of `max_blocks` blocks ([`super::block_trimmed_means`]),
/// or, on `quantised` readings (as [`level_blocks`] found the samples),
/// plain means of as many blocks (fitted as [`level_blocks`]' means are:
/// exactly `max_blocks` points, where its own block rule could give
/// fewer). NOTE: block medians, as
/// [`median_blocks`] takes beyond 1000 samples, cost white noise at 10 Hz a
/// look of `--fail-fast` (a 3× leak stopped at 1.97× T\* where the samples
/// alone stop it at 1.53×; interquartile means 1.75×, the mixture's false
/// alarms the same within a point). O(n log b) for blocks of b.
fn second_blocks(x: &[f64], y: &[f64], max_blocks: usize, quantised: bool) -> BlockSeries {
    if quantised {
        let (bx, by) = block_means(x, y, max_blocks);
        let block_len = y.len().div_ceil(by.len().max(1));
        let n = by.len();
        return BlockSeries::level(bx, by, block_len, quantised_means(n, block_len), true);
    }
    let (bx, by) = super::block_trimmed_means(x, y, max_blocks);
    let block_len = y.len().div_ceil(by.len().max(1));
    let description = format!(
        "Theil–Sen on {} interquartile means of {block_len}-sample blocks",
        by.len()
    );
    BlockSeries::level(bx, by, block_len, description, false)
}

/// Medians of ⌈n/`max_blocks`⌉-sample blocks (every sample its own block
/// up to `max_blocks`: 1000 but for trailing windows). O(n).
fn median_blocks(x: &[f64], y: &[f64], max_blocks: usize) -> BlockSeries {
    let n = y.len();
    let (bx, by) = block_medians(x, y, max_blocks);
    let block_len = n.div_ceil(by.len().max(1));
    let description = if block_len == 1 {
        format!("Theil–Sen on all {n} samples (no blocking)")
    } else {
        format!(
            "Theil–Sen on {} block medians (block {block_len} samples)",
            by.len()
        )
    };
    BlockSeries::level(bx, by, block_len, description, false)
}

#[cfg(test)]
#[path = "drift_tests.rs"]
mod tests;
