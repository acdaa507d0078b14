//! Warm-up truncation (MSER-5, and a saturating-fill test): finds where the
//! start-up transient (model load, allocator and cache filling) ends, so that
//! the drift estimate only sees the steady state.

use super::slope::sen_slope;

/// MSER batch size: means of 5 samples smooth noise enough for the statistic
/// to be stable (White & Robinson's MSER-5).
const BATCH: usize = 5;

/// Below this many batches (20 samples) there is nothing to judge.
const MIN_BATCHES: usize = 4;

/// Largest truncation searched, as a fraction of the samples. MSER's usual
/// cap is one half; 0.4 keeps a level shift in the middle of the run (a leak
/// event) from being mistaken for the end of warm-up (see [`warmup_end`]).
const MAX_FRACTION: f64 = 0.4;

/// A cut is only made if the discarded batches differ from the kept ones by
/// more than this many standard errors: a transient, not a noise excursion.
const MIN_TRANSIENT_T: f64 = 3.0;

/// The trend removed before MSER is a Theil–Sen slope over at most this many
/// medians of batch means (O(m²) pairs).
const TREND_BLOCKS: usize = 500;

/// A saturating fill is taken as real when adding it to a line explains the
/// batch means this much better (F on 1 and k − 3 degrees of freedom; the 5%
/// point is ≈ 4, and the time constant is searched, so the bar is higher).
const MIN_SATURATING_F: f64 = 5.0;

/// A saturating fill smaller than this many long-run standard deviations of
/// a batch mean is not cut for (see [`saturating_cut`]).
const MIN_FILL_SD: f64 = 3.0;

/// Fewer batches than this (40 samples) cannot tell a curve from a line.
const MIN_SATURATING_BATCHES: usize = 8;

/// The latest a fill that ends in a bend may be cut ([`bend_cut`]), as a
/// fraction of the samples: the third that is left is still tested.
const MAX_BEND_FRACTION: f64 = 2.0 / 3.0;

/// A bend is taken as real when the broken line explains the batch means
/// this much better than one line (F on 1 and k − 4 degrees of freedom,
/// widened for persistence; the bend's place is searched, so the bar is
/// above [`MIN_SATURATING_F`]).
const MIN_BEND_F: f64 = 25.0;

/// After the bend the level may still move by at most this share of the
/// fill's slope, either way: a fill that levels off, not one that slows.
const MAX_BEND_RATIO: f64 = 0.25;

/// Most points the saturating fit runs on: longer series are fitted on means
/// of consecutive batch means (a day at 10 Hz, 172,800 batches, on 1,000
/// points: the fit is O(points · [`TAU_STEPS`]) and this keeps it under a
/// millisecond; every calibration run, ≤ 360 batches, is fitted as it is).
const MAX_SATURATING_POINTS: usize = 1000;

/// The time constants tried for a saturating fill, in batches: this many,
/// spaced geometrically from [`MIN_TAU`] to k / [`TAU_SPAN`].
const TAU_STEPS: usize = 24;
const MIN_TAU: f64 = 0.3;
/// A fill whose time constant is longer than an eighth of the series does
/// not settle within the 40% that may be cut: it is a curve over the whole
/// run, for the trend test to judge, not a warm-up.
const TAU_SPAN: f64 = 8.0;

/// Warm-up truncation: index of the first sample of the steady state (MSER-5:
/// batch means of 5, minimise the marginal standard error over truncation points,
/// truncation capped at 40% of the run), moved later when the start is a
/// saturating fill that has not settled by MSER's cut (`saturating_cut`).
/// Returns 0 for series too short to judge.
///
/// For truncation d (in batches) MSER(d) = Σ_{j>=d} (e_j - mean_d)² / (k - d)²
/// over the k batch residuals e_j. Four refinements of textbook MSER-5, each
/// measured on the shape tests. On a 5 MiB/min leak under 4 MiB noise, 90 s
/// at 1 Hz, plain MSER-5 cut 39% of the runs and the leak was found in 90%;
/// with these it cuts 1.5% and finds 98.2% (99.5% with no truncation at all),
/// and white-noise false alarms are 5.3% with or without it:
/// - **Trend removed first.** e_j is the batch mean minus a robust trend
///   (the smaller of the Theil–Sen slopes of all batches and of the last 60%,
///   which is never cut). Plain MSER reads a steady leak as "not settled yet"
///   and cuts as much as it may, throwing away the evidence; a real warm-up
///   still stands out against the trend.
/// - **One-standard-error rule.** MSER(d) estimates a variance from k - d
///   batches (relative error √(2/(k-d-1))), so a flat curve has its minimum
///   wherever noise puts it. The earliest d within one standard error of the
///   minimum is taken.
/// - **Transient test.** The cut is kept only if the mean of the discarded
///   batches differs from the kept ones by more than 3 standard errors
///   (including the trend's uncertainty); otherwise nothing is discarded.
///   Without it, flat white noise was cut in 6% of 90 s runs and 17% of 30 s
///   runs, throwing data away for nothing; with it, 0.4% and 2.8%.
/// - **Cap at 40%** rather than MSER's 50% (so the result is always
///   `<= n/2`): a 50 MiB step exactly in the middle of a 90 s run is, to MSER,
///   a warm-up ending at n/2; with a 50% cap it was cut away and the step
///   flagged in 3 of 100 runs, with 40% in all 100.
///
/// Then the latest of MSER's cut, the saturating fill's (which has its own
/// test, and the same 40% cap) and a linear fill's that levels off past
/// the cap (`bend_cut`, up to two thirds of the run); where none cuts, a start-up shorter than
/// a batch (`startup_readings`: up to 4 first samples each beyond every
/// sample after them).
///
/// Cost O(n) for the batch means, plus O(m²) with m ≤ 500 for the trends,
/// plus O(n/5 · 24) for the saturating fit.
///
/// Degenerate input: fewer than 20 finite samples gives 0; a constant series
/// gives 0. Non-finite samples are skipped and the answer is mapped back to an
/// index of `y` (the cap then applies to the finite samples), so `y[..end]` is
/// exactly the part to discard. The result is always `<= y.len() / 2` for
/// finite input, except where a fill is seen to level off past the cap;
/// it is always `<= 2 · y.len() / 3`.
pub fn warmup_end(y: &[f64]) -> usize {
    let idx: Vec<usize> = (0..y.len()).filter(|&i| y[i].is_finite()).collect();
    let k = idx.len() / BATCH;
    if k < MIN_BATCHES {
        return 0;
    }
    // Centre before summing: raw byte counts (~1e8) would swamp the
    // batch-to-batch variation in rounding.
    let centre = idx.iter().map(|&i| y[i]).sum::<f64>() / idx.len() as f64;
    let means: Vec<f64> = idx
        .chunks_exact(BATCH)
        .map(|c| c.iter().map(|&i| y[i] - centre).sum::<f64>() / BATCH as f64)
        .collect();
    let max_d = ((idx.len() as f64 * MAX_FRACTION) as usize / BATCH).min(k - 2);

    // The trend to remove: the smaller in magnitude of the Theil–Sen slopes
    // of all batches and of the part that is never cut (max_d..k). A warm-up
    // fill inflates the first (a 300 MiB fill in 20 s of a 90 s run adds
    // ~10 MiB/min), noise inflates the second; a leak shows in both.
    let pos: Vec<f64> = (0..k).map(|j| j as f64).collect();
    let trend = |from: usize| {
        let (bx, by) = super::block_medians(&pos[from..], &means[from..], TREND_BLOCKS);
        sen_slope(&bx, &by).unwrap_or(0.0)
    };
    let (whole, tail) = (trend(0), trend(max_d));
    let slope = if whole.abs() < tail.abs() {
        whole
    } else {
        tail
    };
    let resid: Vec<f64> = means.iter().zip(&pos).map(|(m, j)| m - slope * j).collect();
    // Extrapolating a noisy slope back to the start can make ordinary noise
    // there look like a transient; the transient test allows for it.
    let slope_se = slope_stderr(&pos[max_d..], &resid[max_d..]);

    // Walk from the end with Welford's update so that the suffix sums of
    // squares are exact for identical batches (a naive Σe² - (Σe)²/n leaves
    // rounding residue that can fake a "better" later cut on flat data).
    let (mut mean, mut m2) = (0.0, 0.0);
    let mut mser = vec![f64::INFINITY; max_d + 1];
    for d in (0..k).rev() {
        let cnt = (k - d) as f64;
        let delta = resid[d] - mean;
        mean += delta / cnt;
        m2 += delta * (resid[d] - mean);
        if d <= max_d {
            mser[d] = m2.max(0.0) / (cnt * cnt);
        }
    }
    let (mut best, mut best_d) = (f64::INFINITY, 0usize);
    for (d, &m) in mser.iter().enumerate() {
        if m < best {
            (best, best_d) = (m, d);
        }
    }
    if !best.is_finite() {
        return 0;
    }
    let tolerance = best * (1.0 + (2.0 / (k - best_d - 1).max(1) as f64).sqrt());
    let d = mser.iter().position(|&m| m <= tolerance).unwrap_or(best_d);
    let d = if d > 0 && is_transient(&resid[..d], &resid[d..], slope_se) {
        d
    } else {
        0
    };
    let d = d
        .max(saturating_cut(&means, max_d))
        .max(bend_cut(&means, max_d, idx.len()));
    if d == 0 {
        let ys: Vec<f64> = idx.iter().map(|&i| y[i]).collect();
        return idx[startup_readings(&ys)];
    }
    idx[d * BATCH]
}

/// How many leading readings are a start-up below MSER's resolution: the
/// longest run of at most `BATCH − 1` first samples each lying below every
/// sample after it (or each above every sample after it).
///
/// NOTE: a spawned command's first reading is taken before its interpreter
/// has loaded (3 MiB, then 16–30 MiB of churn). One sample moves a batch
/// mean by a fifth of its deficit, under MSER's transient test, and at the
/// start of the run it pulls every pairwise slope from it up: on 1,000
/// simulated 90 s runs of `churn.py`'s healthy 16 MiB churn at 1 Hz the gate
/// failed 2.3% of them as they are and 4.0% with that first reading in
/// front (the trend test's own rate 5.5% and 7.4%); with this cut 2.1%
/// (6.2%). MSER had cut that reading in 14% of them. A sample of stationary
/// noise lies beyond all that follow it in 2 runs in n, so a chance cut
/// drops one sample in a few percent of runs, either way alike.
fn startup_readings(y: &[f64]) -> usize {
    let lead = (BATCH - 1).min(y.len().saturating_sub(1));
    let run = |beyond: fn(f64, f64) -> bool| {
        // Whether each of the first `lead` samples is beyond all after it.
        let mut edge = y[lead..]
            .iter()
            .copied()
            .reduce(|e, v| if beyond(v, e) { v } else { e });
        let mut clear = vec![false; lead];
        for i in (0..lead).rev() {
            clear[i] = edge.is_some_and(|e| beyond(y[i], e));
            edge = Some(edge.map_or(y[i], |e| if beyond(y[i], e) { y[i] } else { e }));
        }
        clear.iter().take_while(|&&c| c).count()
    };
    run(|v, e| v < e).max(run(|v, e| v > e))
}

/// Where a saturating fill has settled, in batches (0: no such fill), at
/// most `max_d`.
///
/// A bounded cache filling, or an allocator's high-water mark rising over
/// new batch shapes, approaches its asymptote exponentially: fast at first,
/// then flattening. MSER cuts where the *level* stops moving much, which on
/// such a fill is too early; what is left still rises faster than a limit
/// (a 40 MiB cache with τ = 6 s in a 90 s run failed 12–44% of runs at
/// 10 Hz). Here the batch means m_j are fitted by a line plus a decaying
/// exponential, m_j = a + b j + c e^(−j/τ), τ searched over a geometric grid
/// of [`TAU_STEPS`] values from 0.3 batches to k/8, and against the line
/// alone. The fill is taken as real when F = (RSS_line − RSS_fill) /
/// (RSS_fill / (k − 4)) > 5, the noise estimate widened by the residuals'
/// AR(1) variance factor, and when |c| is at least 3 of those widened sds;
/// the cut then goes where what is left of it,
/// |c| e^(−j/τ), falls below half the residual sd of a batch mean (or a
/// millionth of |c| on noiseless data).
///
/// NOTE: the line stays in the model. A linear leak is then no evidence of
/// a fill (c ≈ 0), and a cache filling on top of a leak is cut without
/// taking the leak with it: what follows the cut still climbs. The cap
/// `max_d` (40% of the run) bounds what a fill can take away; a rise still
/// climbing at 40% of the run is left to the trend test, which is right to
/// call it a leak, since nothing in the data says it will stop.
///
/// Cost O(k · [`TAU_STEPS`]).
fn saturating_cut(means: &[f64], max_d: usize) -> usize {
    if means.len() > MAX_SATURATING_POINTS {
        // NOTE: a fill the fit can see settles over ≥ 0.3 points, so
        // coarser points lose nothing it tests for; the cut is mapped back
        // to batches, still capped at `max_d`.
        let per = means.len().div_ceil(MAX_SATURATING_POINTS);
        let coarse: Vec<f64> = means
            .chunks_exact(per)
            .map(|c| c.iter().sum::<f64>() / per as f64)
            .collect();
        return (saturating_cut(&coarse, max_d / per) * per).min(max_d);
    }
    let k = means.len();
    if k < MIN_SATURATING_BATCHES || max_d == 0 {
        return 0;
    }
    let kf = k as f64;
    let pos: Vec<f64> = (0..k).map(|j| j as f64).collect();
    let tau_max = kf / TAU_SPAN;
    if tau_max <= MIN_TAU {
        return 0;
    }
    let ratio = (tau_max / MIN_TAU).powf(1.0 / (TAU_STEPS - 1) as f64);
    let candidates = (0..TAU_STEPS).map(|step| {
        let tau = MIN_TAU * ratio.powi(step as i32);
        (tau, pos.iter().map(|j| (-j / tau).exp()).collect())
    });
    let Some(Added {
        rss,
        df,
        c,
        key: tau,
        f,
        long_run_sd,
    }) = best_added(&pos, means, candidates)
    else {
        return 0;
    };
    // NOTE: F assumes independent residuals. Persistent noise wanders, and
    // a wander at the start fits an exponential: with plain F, AR(1) noise
    // (φ = 0.98 per sample) had flat 90 s runs at 1 Hz cut (up to the cap), and
    // what was left, shorter, measured its own persistence worse (false
    // alarms 6% → 10%; the mixture's 13% → 18%). The residuals' AR(1)
    // variance factor (n/n*, as in the trend test) widens the noise
    // estimate, and the amplitude condition below drops small bends: 8%
    // and 16% (200 seeds), still above the 6% and 13% without the cut
    // (`best_added` widens F by that factor).
    // NOTE: `!(f > ..)` so that a NaN (a perfect fit, 0/0) takes the
    // cautious branch; a perfect fill (rss = 0) gives F = ∞ and is cut.
    // The fill must also be large against the noise it rises through
    // (MIN_FILL_SD long-run sds of a batch mean): over 180 batches F finds
    // a bend of a fraction of the noise, and a warm-up cut for that only
    // shortens the run.
    if !(f > MIN_SATURATING_F) || !(c.abs() >= MIN_FILL_SD * long_run_sd) {
        return 0;
    }
    // Settled when what is left is under half a batch mean's noise, or a
    // millionth of the fill where there is (next to) no noise.
    let left = ((rss / df).sqrt() / 2.0).max(1e-6 * c.abs());
    let settled = tau * (c.abs() / left).ln().max(0.0);
    (settled.ceil() as usize).min(max_d)
}

/// Where a fill that rises in a line and then levels off has levelled, in
/// batches (0: no such bend), searched past `from` (the 40% cap) and at
/// most [`MAX_BEND_FRACTION`] of the `n` samples.
///
/// A cache filled at a steady rate up to its size (a fixed number of
/// entries, a buffer pool growing to its bound) rises in a line and then
/// holds. Where it fills for more than 40% of the run, MSER's cut stops
/// at its cap, and what is left is the fill's last stretch and the level:
/// a bend that the trend test reads as a climb, or as persistence. On a
/// real target filling to 200 MiB over the first 180 s of 5 minutes at
/// 1 Hz, healthy runs failed in 1 of 3 and runs with 5 MiB/min kept after
/// the fill passed in 1 of 2.
///
/// Here the batch means m_j are fitted by a broken line, a + b₁ j + (b₂ −
/// b₁)(j − h)₊, the bend h searched over every batch from `from` to the
/// limit, against one line. The bend is taken as real when F = (RSS_line −
/// RSS_bend) / (φ RSS_bend / (k − 4)) > [`MIN_BEND_F`], φ the residuals'
/// AR(1) variance factor; when the fill rises (b₁ > 0) by at least
/// [`MIN_FILL_SD`] long-run sds of a batch mean before the bend; and when
/// after it the level moves at most [`MAX_BEND_RATIO`] of the fill's rate
/// (|b₂| ≤ b₁/4). The cut is then the bend plus the batches the fill takes
/// to rise two long-run sds (its place is known to about that), capped.
///
/// NOTE: what follows the cut is still tested: a leak after the fill
/// (b₂ > 0, under a quarter of the fill's rate) is judged on the level
/// alone, at its own rate, rather than at the fill's. A leak that stops
/// for the last third of the run is, to this cut, a fill: the data hold
/// nothing that tells them apart, and the level after it is what goes on.
/// A rise that slows without levelling (b₂ > b₁/4), a step (the broken
/// line fits it no better than a line once persistence is counted) and a
/// leak that begins late (b₁ ≈ 0) are not cut for.
///
/// Cost O(k²) over at most [`MAX_SATURATING_POINTS`] points.
fn bend_cut(means: &[f64], from: usize, n: usize) -> usize {
    let k = means.len();
    let limit = ((n as f64 * MAX_BEND_FRACTION) as usize / BATCH).min(k.saturating_sub(4));
    if k > MAX_SATURATING_POINTS {
        // NOTE: as in `saturating_cut`: a bend on coarser points is a bend,
        // mapped back to batches within the same limit.
        let per = k.div_ceil(MAX_SATURATING_POINTS);
        let coarse: Vec<f64> = means
            .chunks_exact(per)
            .map(|c| c.iter().sum::<f64>() / per as f64)
            .collect();
        let cut = bend_cut(&coarse, from.div_ceil(per), coarse.len() * per * BATCH);
        return (cut * per).min(limit);
    }
    if k < MIN_SATURATING_BATCHES || limit <= from + 1 {
        return 0;
    }
    let pos: Vec<f64> = (0..k).map(|j| j as f64).collect();
    let candidates =
        (from + 1..=limit).map(|h| (h, pos.iter().map(|j| (j - h as f64).max(0.0)).collect()));
    let Some(Added {
        c,
        key: h,
        f,
        long_run_sd,
        ..
    }) = best_added(&pos, means, candidates)
    else {
        return 0;
    };
    // The fill's slope: the line through the means less the bend's term
    // (by Frisch–Waugh, c is the bend's coefficient in the full fit).
    let unbent: Vec<f64> = means
        .iter()
        .zip(&pos)
        .map(|(v, j)| v - c * (j - h as f64).max(0.0))
        .collect();
    let Some(b1) = super::ols::ols(&pos, &unbent).map(|f| f.slope) else {
        return 0;
    };
    let b2 = b1 + c;
    // NOTE: `!(.. > ..)` so that a NaN takes the cautious branch.
    if !(f > MIN_BEND_F)
        || !(b1 > 0.0)
        || !(b1 * h as f64 >= MIN_FILL_SD * long_run_sd)
        || !(b2.abs() <= MAX_BEND_RATIO * b1)
    {
        return 0;
    }
    let margin = (2.0 * long_run_sd / b1).ceil().max(1.0) as usize;
    (h + margin).min(limit)
}

/// The best of several regressors added to a line through the batch
/// means, and its test against the line alone (see [`best_added`]).
struct Added<K> {
    /// RSS with the regressor added.
    rss: f64,
    /// Its degrees of freedom: the means less four parameters (the line's
    /// two, the regressor's coefficient and the searched key).
    df: f64,
    /// The regressor's coefficient.
    c: f64,
    /// Which candidate it was.
    key: K,
    /// F of the regressor against the line alone, its noise widened by the
    /// residuals' AR(1) variance factor (n/n*, as in the trend test).
    f: f64,
    /// The long-run sd of a batch mean about the full fit (that factor
    /// included).
    long_run_sd: f64,
}

/// Of the `candidates` (a key and a regressor g over `pos`), the one that,
/// added to the least-squares line [1, j] through `means`, leaves the least
/// RSS, with its F against the line alone. Residualised on the line,
/// adding g lowers the RSS by (g̃·m̃)² / (g̃·g̃), g̃ and m̃ the residuals,
/// and its coefficient in the full fit is g̃·m̃ / g̃·g̃ (Frisch–Waugh).
/// `None` where the line leaves nothing (or nothing finite) to explain, or
/// no candidate varies off it. O(k) per candidate.
fn best_added<K>(
    pos: &[f64],
    means: &[f64],
    candidates: impl Iterator<Item = (K, Vec<f64>)>,
) -> Option<Added<K>> {
    let about_line = |v: &[f64]| -> Option<Vec<f64>> {
        let f = super::ols::ols(pos, v)?;
        Some(
            pos.iter()
                .zip(v)
                .map(|(x, y)| y - f.intercept - f.slope * x)
                .collect(),
        )
    };
    let m = about_line(means)?;
    let rss_line: f64 = m.iter().map(|e| e * e).sum();
    if !(rss_line > 0.0 && rss_line.is_finite()) {
        return None;
    }
    let mut best: Option<(f64, f64, K, Vec<f64>)> = None;
    for (key, g) in candidates {
        let Some(g) = about_line(&g) else {
            continue;
        };
        let gg: f64 = g.iter().map(|v| v * v).sum();
        if !(gg > 0.0) {
            continue;
        }
        let gm: f64 = g.iter().zip(&m).map(|(a, b)| a * b).sum();
        let rss = (rss_line - gm * gm / gg).max(0.0);
        if best.as_ref().is_none_or(|b| rss < b.0) {
            best = Some((rss, gm / gg, key, g));
        }
    }
    let (rss, c, key, g) = best?;
    let df = means.len() as f64 - 4.0;
    let resid: Vec<f64> = m.iter().zip(&g).map(|(e, gj)| e - c * gj).collect();
    let persistence = super::trend::ar1_factor(&resid);
    Some(Added {
        rss,
        df,
        c,
        key,
        f: (rss_line - rss) / (persistence * rss / df),
        long_run_sd: (persistence * rss / df).sqrt(),
    })
}

/// Standard error of a least-squares slope through `(x, r)` where `r` are
/// residuals around a line (so their mean spread is the noise). 0 when it
/// cannot be estimated.
fn slope_stderr(x: &[f64], r: &[f64]) -> f64 {
    let n = x.len() as f64;
    if n < 3.0 {
        return 0.0;
    }
    let mx = x.iter().sum::<f64>() / n;
    let mr = r.iter().sum::<f64>() / n;
    let sxx: f64 = x.iter().map(|v| (v - mx) * (v - mx)).sum();
    let ss: f64 = r.iter().map(|v| (v - mr) * (v - mr)).sum();
    let se = (ss / (n - 2.0) / sxx).sqrt();
    if se.is_finite() { se } else { 0.0 }
}

/// Is the head (discarded batches) a transient? Its mean must differ from
/// the tail's by more than `MIN_TRANSIENT_T` standard errors, counting the
/// tail's noise and the uncertainty of the removed trend over the distance
/// between the two. A noiseless tail makes any difference a transient.
fn is_transient(head: &[f64], tail: &[f64], slope_se: f64) -> bool {
    let (h, t) = (head.len() as f64, tail.len() as f64);
    if h < 1.0 || t < 2.0 {
        return false;
    }
    let mh = head.iter().sum::<f64>() / h;
    let mt = tail.iter().sum::<f64>() / t;
    let var = tail.iter().map(|e| (e - mt) * (e - mt)).sum::<f64>() / (t - 1.0);
    let diff = (mh - mt).abs();
    // Batch indices: head centre (h-1)/2, tail centre h + (t-1)/2.
    let distance = h + (t - 1.0) / 2.0 - (h - 1.0) / 2.0;
    let se2 = var * (1.0 / h + 1.0 / t) + (slope_se * distance).powi(2);
    if se2 == 0.0 {
        return diff > 0.0;
    }
    diff / se2.sqrt() > MIN_TRANSIENT_T
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn step_down_to_steady_state_by_hand() {
        // 10 samples of 100, then 30 samples cycling 0..5: batch means are
        // 100, 100, then six of 2. Trend of the tail: 0. MSER(0) = 2·(98·0.75)²
        // + 6·(98·0.25)² over 64 > 0, MSER(1) > 0, MSER(2) = 0: cut at sample 10.
        let mut y = vec![100.0; 10];
        y.extend((0..30).map(|i| f64::from(i % 5)));
        assert_eq!(warmup_end(&y), 10);
    }

    #[test]
    fn the_cut_leaves_enough_samples_to_fit_a_drift() {
        // NOTE: `memsoak run`/`watch` refuse a --duration/--sample-every that
        // takes fewer than MIN_DRIFT_POINTS samples before anything runs,
        // and say nothing more under `--warmup auto`: that holds only while
        // the largest cut leaves MIN_DRIFT_POINTS of any series that has
        // them. A start-up transient as long as the cap allows (or longer)
        // pushes the cut as far as it goes.
        let min = crate::stats::MIN_DRIFT_POINTS;
        let mut deepest = 0.0f64;
        for n in min..=400 {
            let t: Vec<f64> = (0..n).map(|i| i as f64).collect();
            for tenths in 1..=9 {
                let y: Vec<f64> = (0..n)
                    .map(|i| if i * 10 < n * tenths { 1e9 } else { 0.0 } + (i % 3) as f64)
                    .collect();
                for cut in [warmup_end(&y), crate::stats::auto_warmup(&t, &y)] {
                    assert!(n - cut >= min, "n {n}, step at {tenths}0%: cut {cut}");
                    deepest = deepest.max(cut as f64 / n as f64);
                }
            }
        }
        // The series did reach the cap (40%): the bound was tested.
        assert!(deepest >= 0.35, "{deepest}");
    }

    #[test]
    fn steady_series_is_not_truncated() {
        // Period-5 pattern: every batch mean is identical, MSER is 0 everywhere.
        let y: Vec<f64> = (0..100).map(|i| 5.0 + f64::from(i % 5)).collect();
        assert_eq!(warmup_end(&y), 0);
        assert_eq!(warmup_end(&[7.0; 50]), 0);
    }

    #[test]
    fn start_up_readings_below_or_above_all_that_follow_are_cut() {
        let mib = crate::units::MIB;
        let churn = |seed: u64| -> Vec<f64> {
            let mut rng = crate::stats::test_rng::Rng::new(seed);
            (0..90)
                .map(|_| (16.0 + 16.0 * rng.uniform()) * mib)
                .collect()
        };
        for seed in 0..20 {
            // A spawned command's first reading, before its interpreter
            // loaded: one sample, a fifth of a batch.
            // MSER alone kept it in most runs; where it cuts, it cuts
            // whole batches, so the cut is at least the start-up's.
            let mut y = churn(seed);
            y[0] = 3.0 * mib;
            // (The next reading may also be the lowest by chance.)
            assert!(startup_readings(&y) >= 1, "seed {seed}");
            let w = warmup_end(&y);
            assert!(w >= 1, "seed {seed}: {w}");
            // A start-up over three readings (an import at 10 Hz).
            let mut y = churn(seed);
            y[..3].copy_from_slice(&[3.0 * mib, 8.0 * mib, 12.0 * mib]);
            assert!(startup_readings(&y) >= 3, "seed {seed}");
            let w = warmup_end(&y);
            assert!(w >= 3, "seed {seed}: {w}");
            // A spike at start-up, freed.
            let mut y = churn(seed);
            y[0] = 40.0 * mib;
            // (The next reading may also be the highest by chance.)
            assert!(startup_readings(&y) >= 1, "seed {seed}");
            let w = warmup_end(&y);
            assert!(w >= 1, "seed {seed}: {w}");
        }
        // Never more than four readings: a longer start-up is MSER's.
        let y: Vec<f64> = (0..60).map(f64::from).collect();
        assert_eq!(startup_readings(&y), 4);
        // A first reading within the range of the rest is kept, and so is
        // one equal to the lowest after it.
        let mut y = churn(7);
        let low = y[1..].iter().copied().fold(f64::INFINITY, f64::min);
        y[0] = low;
        assert_eq!(warmup_end(&y), 0);
        y[0] = 24.0 * mib;
        assert_eq!(warmup_end(&y), 0);
    }

    #[test]
    fn too_short_or_degenerate() {
        assert_eq!(warmup_end(&[]), 0);
        assert_eq!(warmup_end(&[1.0; 19]), 0);
        assert_eq!(warmup_end(&[f64::NAN; 100]), 0);
    }

    #[test]
    fn non_finite_samples_are_skipped_and_mapped_back() {
        // Same as the hand case with a NaN inserted in the transient: the
        // steady state still starts at the sample valued 0 (now index 11).
        let mut y = vec![100.0; 10];
        y.insert(3, f64::NAN);
        y.extend((0..30).map(|i| f64::from(i % 5)));
        assert_eq!(warmup_end(&y), 11);
        assert_eq!(y[11], 0.0);
    }

    /// Batch means of 5, as `warmup_end` takes them, and its cap.
    fn means_and_cap(y: &[f64]) -> (Vec<f64>, usize) {
        let means: Vec<f64> = y
            .chunks_exact(BATCH)
            .map(|c| c.iter().sum::<f64>() / 5.0)
            .collect();
        let max_d = ((y.len() as f64 * MAX_FRACTION) as usize / BATCH).min(means.len() - 2);
        (means, max_d)
    }

    #[test]
    fn a_saturating_fill_is_cut_where_it_has_settled() {
        // The calibration's bounded cache at 10 Hz: 40 MiB · (1 − e^(−t/6 s))
        // under 4 MiB white noise, 90 s. MSER alone cut where the level
        // stopped moving much, and what was left still rose faster than
        // 2 MiB/min in 12% of runs. The fill is 95% done at 3τ = 18 s
        // (sample 180); the cut must wait at least that long, and never
        // pass 40% of the run.
        let mib = crate::units::MIB;
        for seed in 0..20 {
            let mut rng = crate::stats::test_rng::Rng::new(seed);
            let y: Vec<f64> = (0..900)
                .map(|i| {
                    let t = f64::from(i) / 10.0;
                    (200.0 + 40.0 * (1.0 - (-t / 6.0).exp()) + 4.0 * rng.normal()) * mib
                })
                .collect();
            let w = warmup_end(&y);
            assert!((180..=360).contains(&w), "seed {seed}: cut at {w}");
            let (means, max_d) = means_and_cap(&y);
            assert!(saturating_cut(&means, max_d) * BATCH >= 180, "seed {seed}");
        }
    }

    #[test]
    fn a_long_series_is_fitted_on_coarser_points_and_still_cut() {
        // 30,000 samples (6,000 batches, fitted on 1,000 points of 6): a
        // 40 MiB fill with τ = 600 samples under 4 MiB noise is 95% done at
        // 3τ = 1,800; the cut waits at least that long, within the 40% cap.
        let mib = crate::units::MIB;
        let mut rng = crate::stats::test_rng::Rng::new(3);
        let y: Vec<f64> = (0..30_000)
            .map(|i| {
                let t = f64::from(i);
                (200.0 + 40.0 * (1.0 - (-t / 600.0).exp()) + 4.0 * rng.normal()) * mib
            })
            .collect();
        let (means, max_d) = means_and_cap(&y);
        let cut = saturating_cut(&means, max_d) * BATCH;
        assert!((1800..=12_000).contains(&cut), "cut at {cut}");
        assert!(warmup_end(&y) >= 1800);
    }

    #[test]
    fn a_line_is_rarely_taken_for_a_saturating_fill() {
        // A leak of 6 MiB/min under 4 MiB white noise, 90 s at 10 Hz: the
        // line is in the model, so only chance curvature makes F > 5 (the
        // 5% point of F(1, 176) is 3.9, and τ is searched): 8 of 100 seeds
        // with F alone. Such a bend is a fraction of the noise, and the
        // amplitude condition (3 sds of a batch mean) leaves 0 of 100.
        let mib = crate::units::MIB;
        let fired = (0..100)
            .filter(|&seed| {
                let mut rng = crate::stats::test_rng::Rng::new(seed);
                let y: Vec<f64> = (0..900)
                    .map(|i| (200.0 + 0.01 * f64::from(i) + 4.0 * rng.normal()) * mib)
                    .collect();
                let (means, max_d) = means_and_cap(&y);
                saturating_cut(&means, max_d) > 0
            })
            .count();
        println!("saturating fill on a line: {fired}/100");
        assert!(fired <= 3, "{fired}/100");
    }

    #[test]
    fn a_noiseless_fill_is_cut_and_a_noiseless_line_is_not() {
        // Batch means that are exactly a line plus e^(−j/τ) on the grid's
        // first τ (0.3 batches): the fit is perfect (F = ∞), and with no
        // noise the cut waits until a millionth of the fill is left,
        // ⌈0.3 · ln 10⁶⌉ = ⌈4.14⌉ = 5 batches.
        let fill: Vec<f64> = (0..20)
            .map(|j| 0.5 * f64::from(j) - 30.0 * (-f64::from(j) / 0.3).exp())
            .collect();
        assert_eq!(saturating_cut(&fill, 8), 5);
        assert_eq!(saturating_cut(&fill, 3), 3, "capped");
        let line: Vec<f64> = (0..20).map(|j| 0.5 * f64::from(j)).collect();
        assert_eq!(saturating_cut(&line, 8), 0);
        assert_eq!(saturating_cut(&fill[..7], 3), 0, "too few batches");
    }

    proptest! {
        #[test]
        fn at_most_two_thirds(y in proptest::collection::vec(-1e12f64..1e12, 0..400)) {
            let w = warmup_end(&y);
            prop_assert!(3 * w <= 2 * y.len(), "w = {} n = {}", w, y.len());
        }

        #[test]
        fn scale_invariant(y in proptest::collection::vec(-1e3f64..1e3, 20..200), k in -20i32..20) {
            // Multiplying by a power of two is exact in floating point, so the
            // cut must not move (units: bytes vs KiB vs MiB give one answer).
            let f = 2f64.powi(k);
            let s: Vec<f64> = y.iter().map(|v| v * f).collect();
            prop_assert_eq!(warmup_end(&y), warmup_end(&s));
        }
    }
}
