//! The drift estimate behind leak verdicts: a robust slope and an
//! autocorrelation-aware trend test on block summaries of the samples, with
//! GC/allocator sawtooth handled by following each cycle's floor.

use super::trend::{increment_test, step_rate, t_quantile};
use super::{
    OlsFit, block_medians, mann_kendall, median_mut, normal_quantile, ols, quantile_mut, theil_sen,
    warmup_end,
};

/// Fewer points than this cannot say anything about drift.
const MIN_POINTS: usize = 8;

/// Theil–Sen and the Hamed–Rao correction are O(m²) in the number of blocks;
/// 1000 blocks keep them at ~0.5 M pairs while still resolving a day at 10 Hz
/// into 86 s blocks.
const MAX_BLOCKS: usize = 1000;

/// With fewer blocks the trend test is not attempted: Mann–Kendall on 5 points
/// reaches p < 0.05 only with a perfect ordering, which one noisy block can
/// make or break, so p = 1 (no evidence either way) is the honest answer.
const MIN_BLOCKS_FOR_TEST: usize = 6;

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

/// The drift estimate used by thresholds.
#[derive(Debug, Clone, PartialEq)]
pub struct Drift {
    /// Theil–Sen slope of the block series, units of y per unit of x.
    pub slope: f64,
    /// Theil–Sen intercept (y at x = 0).
    pub intercept: f64,
    /// Lower bound of Sen's interval at `confidence` (variance inflated by
    /// the autocorrelation factor, Student t quantile on the effective
    /// sample).
    pub ci_low: f64,
    /// Upper bound of Sen's interval.
    pub ci_high: f64,
    /// Two-sided Mann–Kendall p-value, autocorrelation-corrected (Student t
    /// on the effective sample); 1 when there are too few blocks to test.
    pub p_value: f64,
    /// Mann–Kendall normal score (0 when untested).
    pub z: f64,
    /// `p_value < 1 - confidence`.
    pub significant: bool,
    /// Human-readable description of what was fitted.
    pub method: String,
    /// Number of points the slope and test were computed on.
    pub blocks: usize,
    /// Samples summarised by one block (1 = raw samples; the period for
    /// per-cycle floors).
    pub block_len: usize,
    /// Detected sawtooth period in samples.
    pub cycle_len: Option<usize>,
    /// Blocks divided by the Hamed–Rao factor.
    pub effective_n: f64,
    /// OLS on all points, for reference.
    pub ols: Option<OlsFit>,
}

/// x: sample times (or cumulative items), strictly non-decreasing; y: values.
/// Returns None with fewer than ~8 points or degenerate x.
///
/// Method:
/// 1. Sawtooth detection: drops are steps more than 6 robust sigmas (1.4826 ×
///    MAD of the first differences) below the median step, at least a quarter
///    of the detrended 1–99% range, and not a one-sample spike or dip. With ≥ 2
///    drops the period P is the median spacing between them.
/// 2. Blocks: with a sawtooth, one point per cycle: the minimum of the first
///    ⌈P/5⌉ samples after each drop (the floor; the run before the first drop
///    and an unfinished floor window at the end are ignored). With a single
///    drop that brings memory back to within 25% of the rise before it (a
///    cycle as long as the run), the floors before and after it: two points,
///    so no trend test. Otherwise block medians of ⌈n/1000⌉ samples (raw
///    samples up to 1000 points). More than 1000 floors are grouped by median
///    as well.
/// 3. Slope: Theil–Sen on the blocks, Sen's CI with Var(S) × Hamed–Rao factor.
/// 4. Test: Mann–Kendall on the blocks, its variance inflated by the larger
///    of the Hamed–Rao and AR(1) factors and z read against Student's t; and
///    the t test of the mean step between blocks. p is the smaller of the two
///    (see [`increment_test`] for why). Fewer than 6 blocks give p = 1.
/// 5. OLS on all points as reference.
///
/// Cost: O(n) for the sawtooth scan and blocking (selection, not sorting),
/// plus a fixed O(m²) with m ≤ 1000 blocks; ~50 ms at 864 000 points.
/// O(n log n) only if x needs sorting.
///
/// Calibration (tests in `drift_tests.rs`, after `warmup_end`): false alarms
/// at 95% on flat white noise 4.4–4.8%, on AR(1) noise with φ = 0.9 8%.
///
/// Degenerate input: pairs with a non-finite value are dropped; x out of order
/// is sorted (stable) rather than rejected; `None` when lengths differ,
/// `confidence` is not strictly inside (0, 1), fewer than 8 pairs remain, or
/// all x are equal. A constant y gives slope 0, p = 1.
pub fn drift(x: &[f64], y: &[f64], confidence: f64) -> Option<Drift> {
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
    let ols_fit = ols(&xs, &ys);
    let saw = detect_sawtooth(&xs, &ys, ols_fit.map_or(0.0, |f| f.slope));
    let series = saw
        .as_ref()
        .and_then(|s| floor_series(&xs, &ys, s))
        .unwrap_or_else(|| median_blocks(&xs, &ys, saw.as_ref().map(|s| s.period)));

    let m = series.y.len();
    let mk = mann_kendall(&series.y);
    let testable = m >= MIN_BLOCKS_FOR_TEST;
    // NOTE: Sen's interval uses the same Student t reference as the test:
    // t_q² / z_q² folds it into the variance factor at this confidence.
    let q = 0.5 + 0.5 * confidence;
    let inflation = mk.map_or(1.0, |t| {
        t.var_inflation * (t_quantile(q, t.df) / normal_quantile(q)).powi(2)
    });
    let sen = theil_sen(&series.x, &series.y, confidence, inflation)?;
    // NOTE: two views of the same question, the smaller p taken: the
    // ranks' monotonic trend (Mann–Kendall, for a slow trend under heavy
    // noise) and the mean step (for a leak whose rate varies, which
    // Mann–Kendall's persistence correction all but hides).
    let steps = increment_test(&series.y);
    let (p_value, z, effective_n) = match mk {
        Some(t) if testable => (
            t.p_value.min(steps.map_or(1.0, |s| s.p_value)),
            t.z,
            t.effective_n,
        ),
        _ => (1.0, 0.0, m as f64 / mk.map_or(1.0, |t| t.var_inflation)),
    };
    let test = if testable {
        "Mann–Kendall with autocorrelation correction, and the mean step"
    } else {
        "too few blocks for a trend test, p = 1"
    };
    // NOTE: the interval goes with the test that decided: when the steps
    // show the drift more plainly than the ranks, their interval (widened to
    // hold Sen's slope) is the one thresholds and fail-fast act on.
    let (ci_low, ci_high) = match (mk, steps) {
        (Some(t), Some(st)) if testable && st.p_value < t.p_value => {
            step_rate(&series.x, &series.y, confidence).map_or((sen.ci_low, sen.ci_high), |r| {
                (r.1.min(sen.slope), r.2.max(sen.slope))
            })
        }
        _ => (sen.ci_low, sen.ci_high),
    };
    Some(Drift {
        slope: sen.slope,
        intercept: sen.intercept,
        ci_low,
        ci_high,
        p_value,
        z,
        significant: p_value < 1.0 - confidence,
        method: format!("{}; {test}", series.description),
        blocks: m,
        block_len: series.block_len,
        cycle_len: saw.map(|s| s.period),
        effective_n,
        ols: ols_fit,
    })
}

/// Points the slope and test run on.
struct BlockSeries {
    x: Vec<f64>,
    y: Vec<f64>,
    block_len: usize,
    description: String,
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
    let resid: Vec<f64> = x.iter().zip(y).map(|(x, y)| y - trend * x).collect();
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
            if size >= DROP_RANGE_FRACTION * range && !spike && !dip {
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

/// A single drop counts as the end of a cycle only if memory fell back to
/// within this fraction of the rise before it (a leak with a one-off free
/// of a smaller cache keeps most of its growth and is fitted as a trend).
const ONE_DROP_RETURN: f64 = 0.25;

/// With one drop in the run, the floor before it (the minimum of the samples
/// up to its peak) and the floor after it, when memory came back down to
/// within [`ONE_DROP_RETURN`] of that rise; else `None`. Two points: the
/// slope is their difference, and there is no trend test (p = 1). O(n).
fn one_drop_floors(x: &[f64], y: &[f64], saw: &Sawtooth) -> Option<BlockSeries> {
    let (&peak, &t) = (saw.drop_starts.first()?, saw.troughs.first()?);
    let i = (0..=peak).min_by(|&a, &b| y[a].total_cmp(&y[b]))?;
    let window = (peak + 1).div_ceil(FLOOR_WINDOW_DIV).max(1);
    let end = (t + window).min(y.len());
    let j = (t..end).min_by(|&a, &b| y[a].total_cmp(&y[b]))?;
    let rise = y[peak] - y[i];
    if !(rise > 0.0) || y[j] > y[i] + ONE_DROP_RETURN * rise {
        return None;
    }
    Some(BlockSeries {
        x: vec![x[i], x[j]],
        y: vec![y[i], y[j]],
        block_len: saw.period,
        description: format!(
            "Theil–Sen on the floors before and after the one drop in the run \
             (a cycle of ≥ {} samples: run several cycles long to test a trend)",
            saw.period
        ),
    })
}

/// The warm-up cut for `warmup auto`: [`warmup_end`] (MSER-5), except that
/// it never cuts through the end of a sawtooth cycle. MSER reads a GC drop
/// as a level change and may cut just after it; what is left of a slow
/// cycle is then a bare ramp, indistinguishable from a leak. When the cut
/// falls after the first drop that brings memory back down (to within 25%
/// of the rise before it), the cut is sought in the samples up to that drop
/// instead. A transient that overshoots and settles higher (a model load) is
/// no such drop and keeps its cut.
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
    let (peak, t) = (saw.drop_starts[0], saw.troughs[0]);
    if peak >= w {
        return w;
    }
    let before = y[..=peak].iter().copied().fold(f64::INFINITY, f64::min);
    let window = (peak + 1).div_ceil(FLOOR_WINDOW_DIV).max(1);
    let after = y[t..(t + window).min(y.len())]
        .iter()
        .copied()
        .fold(f64::INFINITY, f64::min);
    let rise = y[peak] - before;
    if rise > 0.0 && after <= before + ONE_DROP_RETURN * rise {
        warmup_end(&y[..=peak]).min(peak)
    } else {
        w
    }
}

/// Above this many values, the sawtooth scan's robust scale and range are
/// measured on a sample of this size (their relative error is then ~1%).
const SCALE_SAMPLE: usize = 65_536;

/// `v` itself up to [`SCALE_SAMPLE`] values, else that many spread over it
/// at golden-ratio offsets, which no sawtooth period can alias with (a
/// fixed stride equal to the period would see one phase only). O(n) copy,
/// O(SCALE_SAMPLE) beyond: a day at 10 Hz scans in ~1/10 of the time.
fn spread_sample(v: &[f64]) -> Vec<f64> {
    let n = v.len();
    if n <= SCALE_SAMPLE {
        return v.to_vec();
    }
    const PHI: f64 = 0.618_033_988_749_894_9;
    (0..SCALE_SAMPLE)
        .map(|i| v[(((i as f64 * PHI).fract()) * n as f64) as usize % n])
        .collect()
}

/// One point per complete floor window (see [`drift`] step 2); `None` with
/// fewer than two. O(n).
fn floor_series(x: &[f64], y: &[f64], saw: &Sawtooth) -> Option<BlockSeries> {
    if saw.troughs.len() == 1 {
        return one_drop_floors(x, y, saw);
    }
    let n = y.len();
    let window = saw.period.div_ceil(FLOOR_WINDOW_DIV).max(1);
    let (mut fx, mut fy) = (Vec::new(), Vec::new());
    for (k, &t) in saw.troughs.iter().enumerate() {
        let next_peak = saw.drop_starts.get(k + 1).map_or(n, |&s| s + 1);
        let end = (t + window).min(next_peak).min(n);
        let is_last = k + 1 == saw.troughs.len();
        // A cycle cut short by the next drop is whole, so its minimum is its
        // floor; only a run that stopped right after a drop is unfinished.
        if end <= t || (is_last && end - t < window) {
            continue;
        }
        let j = (t..end).min_by(|&a, &b| y[a].total_cmp(&y[b]))?;
        fx.push(x[j]);
        fy.push(y[j]);
    }
    if fy.len() < 2 {
        return None;
    }
    let floors = fy.len();
    if floors <= MAX_BLOCKS {
        return Some(BlockSeries {
            x: fx,
            y: fy,
            block_len: saw.period,
            description: format!(
                "Theil–Sen on {floors} cycle floors (sawtooth period ≈ {} samples; \
                 floor = minimum of the {window} samples after each drop)",
                saw.period
            ),
        });
    }
    let (bx, by) = block_medians(&fx, &fy, MAX_BLOCKS);
    let per_block = floors.div_ceil(by.len());
    Some(BlockSeries {
        description: format!(
            "Theil–Sen on {} block medians of cycle floors ({per_block} cycles per block; \
             sawtooth period ≈ {} samples)",
            by.len(),
            saw.period
        ),
        x: bx,
        y: by,
        block_len: per_block * saw.period,
    })
}

/// Medians of ⌈n/1000⌉-sample blocks (every sample its own block up to 1000).
/// `period` is a detected sawtooth whose floors could not be used. O(n).
fn median_blocks(x: &[f64], y: &[f64], period: Option<usize>) -> BlockSeries {
    let n = y.len();
    let (bx, by) = block_medians(x, y, MAX_BLOCKS);
    let block_len = n.div_ceil(by.len().max(1));
    let mut description = if block_len == 1 {
        format!("Theil–Sen on all {n} samples (no blocking)")
    } else {
        format!(
            "Theil–Sen on {} block medians (block {block_len} samples)",
            by.len()
        )
    };
    if let Some(p) = period {
        description.push_str(&format!(
            " (sawtooth period ≈ {p} samples detected, too few complete cycles for floors)"
        ));
    }
    BlockSeries {
        x: bx,
        y: by,
        block_len,
        description,
    }
}

#[cfg(test)]
#[path = "drift_tests.rs"]
mod tests;
