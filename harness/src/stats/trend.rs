//! Mann–Kendall monotonic trend test with the Hamed & Rao (1998) variance
//! correction. Rank-based, so robust to outliers and to the shape of the
//! trend; the correction keeps it honest when successive samples are correlated.

use super::normal::{normal_cdf, normal_quantile};
use super::ols::hinge_residuals;
use super::slope::{count_non_increasing_pairs, mk_variance, sen_slope, tied_pairs};

/// Above this length the autocorrelation is computed by FFT (O(n log n))
/// instead of directly (O(n²)).
const DIRECT_ACF_MAX: usize = 2048;

/// Mann–Kendall trend test with the Hamed & Rao (1998) autocorrelation correction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrendTest {
    /// Kendall's S: concordant minus discordant pairs (positive = upward).
    pub s: f64,
    /// Variance of S under no trend: tie-corrected, times `var_inflation`.
    pub var_s: f64,
    /// Hamed–Rao factor n/n* (>= 1) applied to the variance.
    pub var_inflation: f64,
    /// Continuity-corrected normal score `(S ∓ 1) / sqrt(var_s)`; 0 when S = 0.
    pub z: f64,
    /// Two-sided p-value in `[0, 1]`.
    pub p_value: f64,
    /// Number of finite values tested.
    pub n: usize,
    /// `n / var_inflation`: how many independent samples the data is worth.
    pub effective_n: f64,
    /// Degrees of freedom of the Student t reference for `z`: n* − 2 with
    /// n* from the AR(1) factor alone, at least 1.
    pub df: f64,
}

/// Mann–Kendall test for a monotonic trend in `y` (taken in order, evenly spaced).
///
/// The Hamed–Rao correction detrends `y` by its Sen slope, ranks the residuals,
/// and sums their autocorrelations at the lags that are significant at 5%
/// (|ρ_k| > 1.96/√n):
/// `n/n* = 1 + 2/(n(n-1)(n-2)) Σ (n-k)(n-k-1)(n-k-2) ρ_k`, floored at 1 so the
/// correction can only make the test more cautious. Two refinements, both
/// measured: the sum stops at the first insignificant lag (the noisy tail of
/// the sample ACF halves the factor for persistent noise: AR(1) φ = 0.9 gave
/// 22–26% false alarms, now 8%), and abrupt jumps (> 5 robust sigmas of the
/// first differences) are removed before the autocorrelation is measured (a
/// level shift is signal, not persistence; left in, a 50 MiB step under
/// 4 MiB noise was judged worth 8 samples out of 90).
///
/// Short series: the factor is at least the AR(1) one from the residuals'
/// bias-corrected lag-1 autocorrelation, and z is read against Student's t
/// with that AR(1) n* − 2 degrees of freedom (see `ar1_factor`).
///
/// Cost: O(n log n) for S (merge-sort pair counting), and for the correction
/// O(n²) up to 2048 points (direct autocorrelation; the Sen slope over all
/// pairs only up to 256), O(n log n) beyond (bisection Sen slope, FFT
/// autocorrelation).
///
/// Degenerate input: non-finite values are dropped; fewer than 3 remaining
/// gives `None`. A constant series gives S = 0, z = 0, p = 1.
pub fn mann_kendall(y: &[f64]) -> Option<TrendTest> {
    mann_kendall_about(y, NoiseAbout::Line)
}

/// What the noise's persistence is measured about: the residuals of the
/// trend a test assumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NoiseAbout {
    /// A straight line (Sen's, or least squares'): a run's steady state.
    Line,
    /// A broken line with one knot (`super::ols::hinge_residuals`): a
    /// trailing window, where growth may have begun part-way in.
    Hinge,
}

/// [`mann_kendall`] with the noise's persistence measured about `about`.
pub(crate) fn mann_kendall_about(y: &[f64], about: NoiseAbout) -> Option<TrendTest> {
    let v: Vec<f64> = y.iter().copied().filter(|v| v.is_finite()).collect();
    let n = v.len();
    if n < 3 {
        return None;
    }
    let s = mk_s(&v);
    let var0 = mk_variance(&v);
    let (var_inflation, ar1) = if var0 > 0.0 {
        persistence(&v, about)
    } else {
        (1.0, 1.0)
    };
    let var_s = var0 * var_inflation;
    let z = if var_s > 0.0 {
        // Continuity correction: S moves in steps of 2 (1 with ties).
        if s > 0.0 {
            (s - 1.0) / var_s.sqrt()
        } else if s < 0.0 {
            (s + 1.0) / var_s.sqrt()
        } else {
            0.0
        }
    } else {
        0.0
    };
    let effective_n = n as f64 / var_inflation;
    // NOTE: the degrees of freedom come from the AR(1) model alone. Hamed–
    // Rao's factor also reads deterministic structure as persistence (the
    // periodic residuals of a clean staircase leak gave n* = 6 of 47): as a
    // variance factor that only widens the test, but as the t reference's
    // degrees of freedom it capped p near 0.02 for any trend, however plain.
    let df = t_df(n as f64 / ar1);
    let p_value = (2.0 * t_sf(z.abs(), df)).clamp(0.0, 1.0);
    Some(TrendTest {
        s,
        var_s,
        var_inflation,
        z,
        p_value,
        n,
        effective_n,
        df,
    })
}

/// The drift of a series read from its steps: Student's t test that the
/// mean first difference is 0.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IncrementTest {
    /// Mean step between successive values.
    pub mean_step: f64,
    /// t score of the mean step.
    pub t: f64,
    /// Two-sided p-value in `[0, 1]`.
    pub p_value: f64,
}

/// Is there drift in `y`, read from its steps? A leak whose rate varies
/// (memory allocated per item while throughput rises and falls) climbs
/// step after step, but its residuals about a straight line wander like a
/// random walk: every autocorrelation correction of Mann–Kendall then says
/// the run is worth 2 or 3 independent samples, and a heap that grew 39 MiB
/// in 20 s without ever falling scored p = 0.52. The mean of the steps sees
/// it at once. Under stationary noise, healthy memory, the steps telescope
/// (their sum is the last value minus the first), so this test is
/// conservative there: it adds under 1.5 points of false alarms at φ ≤ 0.98
/// (tests below). It has little power against a slow trend under heavy
/// noise: that is Mann–Kendall's job, and [`super::drift`] takes the
/// smaller p of the two.
///
/// Cost O(n). `None` with fewer than 3 finite values; all steps equal gives
/// p = 0 (a perfect ramp) or 1 (no change).
pub fn increment_test(y: &[f64]) -> Option<IncrementTest> {
    let v: Vec<f64> = y.iter().copied().filter(|v| v.is_finite()).collect();
    if v.len() < 3 {
        return None;
    }
    let m = (v.len() - 1) as f64;
    let mean = (v[v.len() - 1] - v[0]) / m;
    let var = v
        .windows(2)
        .map(|w| (w[1] - w[0] - mean).powi(2))
        .sum::<f64>()
        / (m - 1.0);
    let tiny = 1e-12 * v.iter().fold(0.0f64, |a, x| a.max(x.abs()));
    let (t, p_value) = if var.sqrt() > tiny {
        let t = mean / (var / m).sqrt();
        (t, (2.0 * t_sf(t.abs(), m - 1.0)).clamp(0.0, 1.0))
    } else if mean.abs() > tiny {
        (f64::INFINITY.copysign(mean), 0.0)
    } else {
        (0.0, 1.0)
    };
    Some(IncrementTest {
        mean_step: mean,
        t,
        p_value,
    })
}

/// The rate read from the steps, Σ Δy / Σ Δx, with its confidence
/// interval (delta method: SE² = Σ (Δy − r Δx)² / (m (m − 1) mean(Δx)²),
/// Student t on m − 1 degrees of freedom). The interval that goes with
/// [`increment_test`]: when the steps are what shows a leak, Sen's interval
/// (as wide as Mann–Kendall's persistence correction makes it) would hide
/// it from `--fail-fast` and from comparisons.
///
/// Cost O(n). `None` with fewer than 3 finite pairs or no net Δx.
pub fn step_rate(x: &[f64], y: &[f64], confidence: f64) -> Option<(f64, f64, f64)> {
    let pts: Vec<(f64, f64)> = super::finite_pairs(x, y).collect();
    if pts.len() < 3 || !(confidence > 0.0 && confidence < 1.0) {
        return None;
    }
    let m = (pts.len() - 1) as f64;
    let (dx, dy) = (
        pts[pts.len() - 1].0 - pts[0].0,
        pts[pts.len() - 1].1 - pts[0].1,
    );
    if !(dx > 0.0) {
        return None;
    }
    let rate = dy / dx;
    let ss: f64 = pts
        .windows(2)
        .map(|w| ((w[1].1 - w[0].1) - rate * (w[1].0 - w[0].0)).powi(2))
        .sum();
    let se = (ss / (m * (m - 1.0))).sqrt() / (dx / m);
    let half = t_quantile(0.5 + 0.5 * confidence, m - 1.0) * se;
    half.is_finite().then_some((rate, rate - half, rate + half))
}

/// Degrees of freedom for `effective_n` worth of independent samples (a
/// trend and a level are fitted: n − 2, as in Santer et al. 2000), at least 1.
pub fn t_df(effective_n: f64) -> f64 {
    if effective_n.is_finite() {
        (effective_n - 2.0).max(1.0)
    } else {
        1.0
    }
}

/// Upper tail P(T > t) of Student's t with `df` degrees of freedom (the
/// normal tail beyond 10⁶ degrees, where the two agree to 1e-6). O(1).
pub fn t_sf(t: f64, df: f64) -> f64 {
    use statrs::distribution::{ContinuousCDF, StudentsT};
    if !(df < 1e6) {
        return normal_cdf(-t);
    }
    StudentsT::new(0.0, 1.0, df.max(1.0)).map_or_else(|_| normal_cdf(-t), |d| d.sf(t))
}

/// The `p` quantile of Student's t with `df` degrees of freedom. O(1)
/// (statrs' inverse CDF, a bounded root search).
pub fn t_quantile(p: f64, df: f64) -> f64 {
    use statrs::distribution::{ContinuousCDF, StudentsT};
    if !(df < 1e6) {
        return normal_quantile(p);
    }
    StudentsT::new(0.0, 1.0, df.max(1.0)).map_or_else(|_| normal_quantile(p), |d| d.inverse_cdf(p))
}

/// Kendall's S = #{i<j: y_j > y_i} - #{i<j: y_j < y_i}. O(n log n).
pub(crate) fn mk_s(v: &[f64]) -> f64 {
    let n = v.len() as u64;
    let mut sorted = v.to_vec();
    let mut scratch = vec![0.0; v.len()];
    // Pairs with y_j <= y_i = discordant + tied.
    let non_increasing = count_non_increasing_pairs(&mut sorted, &mut scratch);
    let tied = tied_pairs(&sorted);
    let total = n * (n.saturating_sub(1)) / 2;
    // S = C - D with C = total - NI and D = NI - tied.
    (total as f64) - 2.0 * (non_increasing as f64) + tied as f64
}

/// The variance factor n/n* (the larger of Hamed–Rao's and the AR(1) one,
/// floored at 1) and the AR(1) factor for the degrees of freedom; 1 when
/// they cannot be estimated.
fn persistence(v_raw: &[f64], about: NoiseAbout) -> (f64, f64) {
    let n = v_raw.len();
    let idx: Vec<f64> = (0..n).map(|i| i as f64).collect();
    // Take out the signal before measuring the noise's persistence: abrupt
    // jumps first, then the Sen trend (or the broken line). Left in, a
    // trend or a level shift alone looks like strong autocorrelation.
    let about_trend = |v: &[f64]| -> Vec<f64> {
        if about == NoiseAbout::Hinge
            && let Some(r) = hinge_residuals(&idx, v)
        {
            return r;
        }
        let b = sen_slope(&idx, v).unwrap_or(0.0);
        v.iter().zip(&idx).map(|(y, i)| y - b * i).collect()
    };
    let v = remove_jumps(v_raw);
    let detrended = about_trend(&v);
    // NOTE: for the degrees of freedom, the smaller AR(1) factor of the
    // series with and without its jumps removed: persistent noise is
    // persistent either way, while each version can fake it on its own (a
    // level shift left in; a quantised staircase, whose flat steps read as
    // jumps, taken out).
    let raw = about_trend(v_raw);
    // NOTE: the jumps are taken out only when that explains the series
    // better (a level shift: what is left varies less). Where the jumps are
    // the noise (levels redrawn and held), rebuilding the series without
    // them leaves a wander that varies more, and read as persistence it
    // made 90 samples worth 3 to 10.
    let spread = |r: &[f64]| {
        let mean = r.iter().sum::<f64>() / r.len() as f64;
        r.iter().map(|v| (v - mean).powi(2)).sum::<f64>()
    };
    let detrended = if spread(&detrended) <= spread(&raw) {
        detrended
    } else {
        raw.clone()
    };
    let ar1_var = ar1_factor(&detrended);
    let ar1 = ar1_var.min(ar1_factor(&raw));
    let ranks = average_ranks(&detrended);
    let Some(rho) = autocorrelation(&ranks) else {
        return (1.0, 1.0);
    };
    let nf = n as f64;
    let bound = normal_quantile(0.975) / nf.sqrt();
    // Sum the significant lags up to the first insignificant one. Beyond it
    // the sample autocorrelations of a persistent series are noise with a
    // standard error well above the white-noise bound, biased negative (their
    // total is forced towards -1/2), and including the ones that happen to
    // cross the bound cuts the factor in half: AR(1) with φ = 0.9 over 600
    // samples then gets n/n* ≈ 7 instead of ≈ 17 and a 22–26% false-alarm rate.
    let sum: f64 = (1..n)
        .take_while(|&k| rho[k].abs() > bound)
        .map(|k| {
            let m = (n - k) as f64;
            m * (m - 1.0) * (m - 2.0) * rho[k]
        })
        .sum();
    let factor = 1.0 + 2.0 * sum / (nf * (nf - 1.0) * (nf - 2.0));
    let factor = factor.max(ar1_var);
    if factor.is_finite() {
        (factor.max(1.0), ar1)
    } else {
        (1.0, 1.0)
    }
}

/// n/n* from the lag-1 autocorrelation r₁ of the detrended series, as an
/// AR(1) process: n* = n (1 − r₁)/(1 + r₁) (Santer et al. 2000), with r₁
/// corrected for its small-sample bias ([`unbiased_r1`]).
///
/// NOTE: Hamed–Rao's sum of sample autocorrelations is too small in short
/// persistent series (the ACF is biased low and cut at the first lag below
/// 1.96/√n): on AR(1) noise with φ = 0.9 it gave 25% false alarms at 60
/// samples and 18% at 180. The larger of the two factors, with a Student t
/// reference on the effective sample, gives 5% at both (tests below). O(n).
pub(crate) fn ar1_factor(r: &[f64]) -> f64 {
    let n = r.len();
    if n < 3 {
        return 1.0;
    }
    let mean = r.iter().sum::<f64>() / n as f64;
    let c0: f64 = r.iter().map(|v| (v - mean) * (v - mean)).sum();
    if !(c0 > 0.0 && c0.is_finite()) {
        return 1.0;
    }
    let c1: f64 = r.windows(2).map(|w| (w[0] - mean) * (w[1] - mean)).sum();
    let r1 = c1 / c0;
    let r1 = unbiased_r1(r1, n as f64);
    (1.0 + r1) / (1.0 - r1)
}

/// The φ whose lag-1 sample autocorrelation about a fitted line averages
/// `r_hat` over `n` samples: the fixed point of φ = r̂ + b(φ)/n, with
/// n × bias b(φ) = 2 + 5φ + 4 e^(−n(1−φ)/10) · min(1, n/90), clamped to
/// [0, 0.99]. Under 30 samples the correction is read once at r̂,
/// r̂ + (2 + 5r̂)/n, and from 30 to 45 the two are blended.
///
/// NOTE: simulated (AR(1) with a stationary start, residuals about a least
/// squares line, 2,000–20,000 series per cell; `docs/detection-log.md`),
/// n × bias tends to 2 + 5φ as n(1 − φ) grows (3.5, 4.5, 5.7 at φ = 0.3,
/// 0.5, 0.7), but where the noise's memory is a good part of the run it
/// is larger: at φ = 0.98, 10.3, 9.1, 8.3 and 7.7 for n = 90, 300, 600
/// and 1,200 (n(1 − φ) = 1.8 to 24); at φ = 0.9 and n = 90, 7.8. The
/// exponential term follows that excess (3.4 at n(1 − φ) = 1.8, 2.2 at 6,
/// 1.1–1.4 at 12, under 0.5 past 30), and the excess is smaller in
/// shorter series (at n = 60: 1.7, 0.8 and 0.4 for φ = 0.9, 0.8, 0.7;
/// the term gives 1.5, 0.8, 0.4). The bias is read at the corrected φ,
/// not at r̂: the correction added once, read at r̂, fell short by a third
/// at φ = 0.98 in 90 samples. The map is increasing, so the iteration from
/// r̂ climbs to its least fixed point (or the clamp); its slope is under
/// 0.5 from 30 samples, and 40 steps settle it. Below 30 samples the bias
/// was not simulated, and the fixed point, taken there too at first, found
/// none under the clamp for a cycle fit's handful of offsets (9 cycles in
/// 90 s: b(φ)/9 > φ for every φ), read φ = 0.99, and took a 3× leak under
/// a GC sawtooth in 90 s from 100% caught to 40%. O(1).
fn unbiased_r1(r_hat: f64, n: f64) -> f64 {
    let once = (r_hat + (2.0 + 5.0 * r_hat) / n).clamp(0.0, 0.99);
    let w = ((n - 30.0) / 15.0).clamp(0.0, 1.0);
    if w == 0.0 {
        return once;
    }
    let longer = (n / 90.0).min(1.0);
    let b = |phi: f64| 2.0 + 5.0 * phi + 4.0 * (-n * (1.0 - phi) / 10.0).exp() * longer;
    let mut r = r_hat.clamp(0.0, 0.99);
    for _ in 0..40 {
        r = (r_hat + b(r) / n).clamp(0.0, 0.99);
    }
    w * r + (1.0 - w) * once
}

/// A step is larger than this many robust standard deviations of the first
/// differences. Autocorrelated noise moves gradually (AR(1) with φ = 0.9 has
/// innovations half its spread), so 5 sigma in one step (p ≈ 6e-7 for
/// Gaussian noise) is signal. 6 missed a 50 MiB shift under 4 MiB noise in
/// 1 of 100 runs, when the noise's MAD came out high.
const JUMP_K: f64 = 5.0;

/// More jumps than this (plus one per 100 steps) both up and down are the
/// noise, not level shifts, and are left in.
const MAX_JUMPS_REMOVED: usize = 3;

/// `v` with its abrupt jumps removed: every first difference further than
/// `JUMP_K` robust sigmas (1.4826 × MAD) from the median difference is
/// replaced by the median difference, and the series rebuilt from them.
/// A 50 MiB level shift under 4 MiB noise otherwise reads as n/n* ≈ 11
/// (90 samples worth 8) and the shift itself is no longer significant.
/// Where most differences are equal (levels held between moves, quantised
/// pages: MAD = 0) the scale is that of the moves ([`super::step_scale`]):
/// a 90 MiB step at mid-run under levels redrawn within ±7 MiB was left in,
/// read as persistence (p ≈ 0.2 over 30 minutes) and never caught.
/// Unchanged when nothing moves. O(n).
fn remove_jumps(v: &[f64]) -> Vec<f64> {
    let d: Vec<f64> = v.windows(2).map(|w| w[1] - w[0]).collect();
    let tiny = 1e-10 * v.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    let Some((med, scale)) = super::step_scale(&d, tiny) else {
        return v.to_vec();
    };
    if !(scale > 0.0 && scale.is_finite()) {
        return v.to_vec();
    }
    // NOTE: a few jumps are level shifts (signal); many are the noise
    // itself (levels redrawn and held: buffers churned by an allocator).
    // Taking those out leaves a slow wander of the small steps in between,
    // which read as n/n* ≈ 200 of 1000 (a flat heap jumping 104–123 MiB
    // got a ±18 MiB/min interval from 1,200 samples).
    // A staircase's flat steps all fall one way from the median step and
    // are still taken out.
    let up = d.iter().filter(|s| *s - med > JUMP_K * scale).count();
    let down = d.iter().filter(|s| med - *s > JUMP_K * scale).count();
    if up.min(down) > MAX_JUMPS_REMOVED + d.len() / 100 {
        return v.to_vec();
    }
    let mut out = Vec::with_capacity(v.len());
    let mut level = v[0];
    out.push(level);
    for &step in &d {
        level += if (step - med).abs() > JUMP_K * scale {
            med
        } else {
            step
        };
        out.push(level);
    }
    out
}

/// Ranks 1..n, ties given their average rank. O(n log n).
pub(crate) fn average_ranks(v: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..v.len()).collect();
    order.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut ranks = vec![0.0; v.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && v[order[end]] == v[order[start]] {
            end += 1;
        }
        // Positions start..end hold ranks start+1..=end; their mean:
        let r = (start + 1 + end) as f64 / 2.0;
        for &i in &order[start..end] {
            ranks[i] = r;
        }
        start = end;
    }
    ranks
}

/// Sample autocorrelation ρ_0..ρ_{n-1} (biased estimator: lag sums divided by
/// the lag-0 sum, as in Hamed & Rao). `None` when the series is constant.
pub(crate) fn autocorrelation(v: &[f64]) -> Option<Vec<f64>> {
    let n = v.len();
    let mean = v.iter().sum::<f64>() / n as f64;
    let c: Vec<f64> = v.iter().map(|x| x - mean).collect();
    let acov = if n <= DIRECT_ACF_MAX {
        acov_direct(&c)
    } else {
        acov_fft(&c)
    };
    let c0 = acov[0];
    if !(c0 > 0.0 && c0.is_finite()) {
        return None;
    }
    Some(acov.iter().map(|a| a / c0).collect())
}

/// Σ_t c_t c_{t+k} for every lag, directly. O(n²).
fn acov_direct(c: &[f64]) -> Vec<f64> {
    let n = c.len();
    (0..n)
        .map(|k| c[..n - k].iter().zip(&c[k..]).map(|(a, b)| a * b).sum())
        .collect()
}

/// Σ_t c_t c_{t+k} for every lag via FFT of the zero-padded series (padding
/// to >= 2n makes the circular correlation equal the linear one). O(n log n).
fn acov_fft(c: &[f64]) -> Vec<f64> {
    let n = c.len();
    let m = (2 * n).next_power_of_two();
    let mut re = vec![0.0; m];
    let mut im = vec![0.0; m];
    re[..n].copy_from_slice(c);
    fft(&mut re, &mut im, false);
    for (r, i) in re.iter_mut().zip(im.iter_mut()) {
        *r = *r * *r + *i * *i;
        *i = 0.0;
    }
    fft(&mut re, &mut im, true);
    re.truncate(n);
    let scale = 1.0 / m as f64;
    re.iter_mut().for_each(|r| *r *= scale);
    re
}

/// In-place iterative radix-2 FFT (length must be a power of two); `inverse`
/// flips the sign of the exponent and does not scale.
fn fft(re: &mut [f64], im: &mut [f64], inverse: bool) {
    let n = re.len();
    if n < 2 {
        return;
    }
    let mut j = 0usize;
    for i in 1..n {
        let mut bit = n >> 1;
        while j & bit != 0 {
            j ^= bit;
            bit >>= 1;
        }
        j |= bit;
        if i < j {
            re.swap(i, j);
            im.swap(i, j);
        }
    }
    let sign = if inverse { 1.0 } else { -1.0 };
    let mut len = 2;
    while len <= n {
        let half = len / 2;
        // Twiddles from cos/sin directly (not by repeated multiplication) so
        // rounding does not accumulate along the stage.
        let step = sign * 2.0 * std::f64::consts::PI / len as f64;
        let tw: Vec<(f64, f64)> = (0..half)
            .map(|k| {
                let a = step * k as f64;
                (a.cos(), a.sin())
            })
            .collect();
        for start in (0..n).step_by(len) {
            for (k, &(wr, wi)) in tw.iter().enumerate() {
                let a = start + k;
                let b = a + half;
                let xr = re[b] * wr - im[b] * wi;
                let xi = re[b] * wi + im[b] * wr;
                re[b] = re[a] - xr;
                im[b] = im[a] - xi;
                re[a] += xr;
                im[a] += xi;
            }
        }
        len <<= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn s_and_p_by_hand() {
        // 1,3,2,5,4: concordant 8, discordant 2 (3>2, 5>4) -> S = 6.
        // Var S = 5*4*15/18 = 16.667. Sen slope vs index = 0.875, detrended
        // ranks 3,4,1,5,2 -> ρ1 = -0.8, below the 5% bound 1.96/√5 = 0.877,
        // so no correction (the lag-1 correlation of the residuals is
        // negative too). z = 5/√16.667 = 1.2247; against Student t with
        // 5 - 2 = 3 degrees of freedom, whose CDF is closed-form,
        // 1/2 + (u/(1 + z²/3) + atan u)/π with u = z/√3: p = 0.308068.
        // (The normal reference would say 0.2207.)
        let t = mann_kendall(&[1.0, 3.0, 2.0, 5.0, 4.0]).unwrap();
        assert_eq!(t.s, 6.0);
        assert!((t.var_s - 300.0 / 18.0).abs() < 1e-12);
        assert_eq!(t.var_inflation, 1.0);
        assert!((t.z - 1.224_744_871_391_589).abs() < 1e-12);
        assert_eq!(t.df, 3.0);
        assert!(
            (t.p_value - 0.308_068_009_250_357).abs() < 1e-9,
            "{}",
            t.p_value
        );
        assert_eq!((t.n, t.effective_n), (5, 5.0));
    }

    #[test]
    fn a_clean_staircase_leak_is_plainly_significant() {
        // Regression: 47 samples of a 256 KiB-chunk leak sampled at 200 ms
        // (two steps every three samples). Hamed–Rao reads the periodic
        // residuals as persistence (n* ≈ 6); used as the t reference's
        // degrees of freedom, that held p at 0.018 and --fail-fast never
        // fired on a 60 MiB/min leak.
        // RSS in 4 KiB pages, as recorded from tests/fixtures/faults.py.
        let pages = [
            11210, 11289, 11289, 11366, 11445, 11445, 11523, 11600, 11600, 11679, 11757, 11757,
            11835, 11913, 11913, 11990, 12067, 12067, 12145, 12223, 12223, 12300, 12378, 12378,
            12456, 12535, 12535, 12612, 12690, 12690, 12768, 12845, 12845, 12922, 12999, 12999,
            13076, 13154, 13154, 13233, 13310, 13310, 13387, 13465, 13465, 13542, 13542,
        ];
        let y: Vec<f64> = pages.iter().map(|p| f64::from(*p) * 4096.0).collect();
        // NOTE: p was under 1e-3 with Kendall's mean-only bias correction of r₁;
        // the trend-aware one (`ar1_factor`) reads a little more
        // persistence in the staircase's periodic residuals: 1.8e-3. The
        // mean step, the detector's second view, is what sees such a leak
        // plainly.
        let t = mann_kendall(&y).unwrap();
        assert!(t.var_inflation > 2.0, "{t:?}");
        assert!(t.df > 40.0, "{t:?}");
        assert!(t.p_value < 5e-3, "{t:?}");
        let steps = increment_test(&y).unwrap();
        assert!(steps.p_value < 1e-6, "{steps:?}");
    }

    #[test]
    fn increments_by_hand() {
        // Steps 2, 1, 3, 2: mean 2, sample variance 2/3, t = 2/√(2/3/4) = 4.899
        // on 3 degrees of freedom: p = 0.016 (closed form as above).
        let t = increment_test(&[0.0, 2.0, 3.0, 6.0, 8.0]).unwrap();
        assert_eq!(t.mean_step, 2.0);
        assert!((t.t - 4.898_979_485_566_356).abs() < 1e-12, "{t:?}");
        let u = t.t / 3f64.sqrt();
        let cdf = 0.5 + (u / (1.0 + t.t * t.t / 3.0) + u.atan()) / std::f64::consts::PI;
        assert!((t.p_value - 2.0 * (1.0 - cdf)).abs() < 1e-9, "{t:?}");
        assert_eq!(increment_test(&[1.0, 2.0, 3.0, 4.0]).unwrap().p_value, 0.0);
        assert_eq!(increment_test(&[5.0; 6]).unwrap().p_value, 1.0);
        assert_eq!(increment_test(&[1.0, f64::NAN]), None);
    }

    #[test]
    fn increments_are_conservative_on_stationary_noise_and_see_a_varying_rate_leak() {
        use crate::stats::test_rng::Rng;
        let mut rng = Rng::new(11);
        for phi in [0.0f64, 0.5, 0.9, 0.98] {
            for n in [30usize, 60, 180, 600] {
                let alarms = (0..300)
                    .filter(|_| {
                        let mut e = rng.normal();
                        let y: Vec<f64> = (0..n)
                            .map(|_| {
                                e = phi * e + (1.0 - phi * phi).sqrt() * rng.normal();
                                e
                            })
                            .collect();
                        increment_test(&y).unwrap().p_value < 0.05
                    })
                    .count();
                assert!(alarms <= 15, "phi {phi} n {n}: {alarms}/300");
            }
        }
        // A leak of one unit per step on average, its rate itself drifting
        // (AR(1), 0.8): Mann–Kendall with any persistence correction misses it.
        let (mut mk, mut inc) = (0, 0);
        for _ in 0..100 {
            let (mut y, mut rate) = (0.0, 1.0);
            let v: Vec<f64> = (0..80)
                .map(|_| {
                    rate = (0.8 * rate + 0.2 * (1.0 + 0.8 * rng.normal())).max(0.0);
                    y += rate;
                    y
                })
                .collect();
            mk += usize::from(mann_kendall(&v).unwrap().p_value < 0.05);
            inc += usize::from(increment_test(&v).unwrap().p_value < 0.05);
        }
        println!("varying-rate leak, 80 samples: Mann–Kendall {mk}/100, increments {inc}/100");
        assert!(mk < 20 && inc == 100, "{mk} {inc}");
    }

    #[test]
    fn step_rate_by_hand() {
        // x steps 1, 1, 2; y steps 2, 1, 5: rate 8/4 = 2; residual steps
        // 0, -1, 1: SE = √(2/(3·2)) / (4/3) = 0.4330; t(0.975, 2) = 4.3027.
        let (r, lo, hi) = step_rate(&[0.0, 1.0, 2.0, 4.0], &[0.0, 2.0, 3.0, 8.0], 0.95).unwrap();
        assert_eq!(r, 2.0);
        let half = 4.302_652_729_911_275 * (1.0f64 / 3.0).sqrt() * 0.75;
        assert!(
            (hi - r - half).abs() < 1e-6 && (r - lo - half).abs() < 1e-6,
            "{lo} {hi}"
        );
        assert_eq!(step_rate(&[1.0, 1.0, 1.0], &[0.0, 1.0, 2.0], 0.95), None);
    }

    #[test]
    fn ties_by_hand() {
        // 1,1,2,2,3: S = 8, Var = (300 - 2*(2*1*9)) / 18 = 264/18.
        let t = mann_kendall(&[1.0, 1.0, 2.0, 2.0, 3.0]).unwrap();
        assert_eq!(t.s, 8.0);
        assert!((t.var_s / t.var_inflation - 264.0 / 18.0).abs() < 1e-12);
    }

    #[test]
    fn degenerate_inputs() {
        assert_eq!(mann_kendall(&[]), None);
        assert_eq!(mann_kendall(&[1.0, 2.0]), None);
        assert_eq!(mann_kendall(&[1.0, f64::NAN, 2.0]), None);
        let c = mann_kendall(&[5.0; 10]).unwrap();
        assert_eq!((c.s, c.var_s, c.z, c.p_value), (0.0, 0.0, 0.0, 1.0));
        // A perfect ramp: S is the maximum n(n-1)/2 and p is tiny (z = 6.13
        // against t with 18 degrees of freedom: 8.6e-6).
        let r: Vec<f64> = (0..20).map(f64::from).collect();
        let t = mann_kendall(&r).unwrap();
        assert_eq!(t.s, 190.0);
        assert!(t.p_value < 2e-5, "p = {}", t.p_value);
        let d: Vec<f64> = r.iter().rev().copied().collect();
        assert_eq!(mann_kendall(&d).unwrap().s, -190.0);
    }

    #[test]
    fn autocorrelation_by_hand() {
        // Centred 0,1,-2,2,-1: c0 = 10, lag sums -8, 4, -1, 0.
        let rho = autocorrelation(&[3.0, 4.0, 1.0, 5.0, 2.0]).unwrap();
        let want = [1.0, -0.8, 0.4, -0.1, 0.0];
        for (a, b) in rho.iter().zip(want) {
            assert!((a - b).abs() < 1e-12, "{rho:?}");
        }
        assert_eq!(autocorrelation(&[2.0; 4]), None);
        assert_eq!(
            average_ranks(&[10.0, 20.0, 10.0, 5.0]),
            vec![2.5, 4.0, 2.5, 1.0]
        );
    }

    #[test]
    fn correction_inflates_for_autocorrelated_series() {
        // AR(1) with φ = 0.9 (deterministic LCG noise): the rank autocorrelation
        // is strong, so n/n* must be well above 1 (theory: ~(1+ρ)/(1-ρ) ≈ 15).
        let mut state = 12345u64;
        let mut e = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        };
        let mut x = 0.0;
        let series: Vec<f64> = (0..500)
            .map(|_| {
                x = 0.9 * x + e();
                x
            })
            .collect();
        let t = mann_kendall(&series).unwrap();
        assert!(t.var_inflation > 3.0, "inflation {}", t.var_inflation);
        assert!(t.effective_n < 500.0 / 3.0);
    }

    #[test]
    fn jumps_are_removed_before_measuring_persistence() {
        // Differences 1,-1,1,-1,100,1,-1,1,-1: median 1, MAD 2 (robust sigma
        // 2.97), so only the +100 step (99 from the median, > 5 sigma) is a
        // jump; it becomes the median step and the rest are kept.
        let v = [0.0, 1.0, 0.0, 1.0, 0.0, 100.0, 101.0, 100.0, 101.0, 100.0];
        let d: Vec<f64> = v.windows(2).map(|w| w[1] - w[0]).collect();
        let mut s = d.clone();
        let med = crate::stats::median_mut(&mut s).unwrap();
        assert_eq!(med, 1.0);
        let out = remove_jumps(&v);
        assert_eq!(out, vec![0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 2.0, 1.0, 2.0, 1.0]);
        // Quantised data (MAD 0): one page step is the only move, and no
        // larger than itself: left alone.
        let q = [0.0, 0.0, 0.0, 4096.0, 4096.0, 4096.0, 4096.0];
        assert_eq!(remove_jumps(&q), q.to_vec());
        // Held levels (MAD 0) that move by ±1 page, and one shift of 40
        // pages: the shift is a jump against the moves and is taken out.
        let mut h = vec![0.0, 0.0, 4096.0, 4096.0, 0.0, 0.0, 4096.0, 4096.0, 0.0];
        h.extend([40.0, 40.0, 41.0, 41.0, 40.0, 40.0].map(|p| p * 4096.0));
        let out = remove_jumps(&h);
        assert!(out.iter().all(|v| v.abs() <= 4096.0), "{out:?}");
    }

    #[test]
    fn a_level_shift_is_not_mistaken_for_autocorrelation() {
        // 45 low then 45 high samples (+50) under small deterministic noise:
        // with the jump removed the residuals are white, n/n* stays near 1
        // and the shift is highly significant.
        let mut state = 99u64;
        let mut noise = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        };
        let v: Vec<f64> = (0..90)
            .map(|i| noise() + if i >= 45 { 50.0 } else { 0.0 })
            .collect();
        let t = mann_kendall(&v).unwrap();
        assert!(t.var_inflation < 2.0, "inflation {}", t.var_inflation);
        assert!(t.p_value < 1e-6, "p {}", t.p_value);
    }

    /// The mean r₁ of seeded AR(1) series about a least squares line, as
    /// [`ar1_factor`] reads it.
    fn mean_r1(phi: f64, n: usize, series: usize, seed: u64) -> f64 {
        let mut rng = crate::stats::test_rng::Rng::new(seed);
        let x: Vec<f64> = (0..n).map(|i| i as f64).collect();
        let mut total = 0.0;
        for _ in 0..series {
            let mut v = rng.normal() / (1.0 - phi * phi).sqrt();
            let y: Vec<f64> = (0..n)
                .map(|_| {
                    let out = v;
                    v = phi * v + rng.normal();
                    out
                })
                .collect();
            let fit = crate::stats::ols::ols(&x, &y).unwrap();
            let r: Vec<f64> = x
                .iter()
                .zip(&y)
                .map(|(x, y)| y - fit.intercept - fit.slope * x)
                .collect();
            let c0: f64 = r.iter().map(|v| v * v).sum();
            let c1: f64 = r.windows(2).map(|w| w[0] * w[1]).sum();
            total += c1 / c0;
        }
        total / series as f64
    }

    #[test]
    fn r1_is_unbiased_where_the_noise_remembers_most_of_the_run() {
        // The mean r₁ of 90 samples of φ = 0.98 falls ≈ 0.11 short; read
        // back through the bias it lands on φ. The correction added once
        // at r̂ (2 + 5 r̂)/n, as before, fell a third short.
        for (phi, n, tol) in [
            (0.98, 90, 0.012),
            (0.9, 90, 0.015),
            (0.5, 90, 0.015),
            (0.98, 600, 0.006),
        ] {
            let r = mean_r1(phi, n, 3000, 7);
            let once = r + (2.0 + 5.0 * r) / n as f64;
            let fixed = unbiased_r1(r, n as f64);
            assert!(
                (fixed - phi).abs() < tol,
                "φ {phi}, n {n}: r̄ {r:.4} → {fixed:.4}"
            );
            if phi == 0.98 && n == 90 {
                assert!(phi - once > 0.03, "the one-shot correction {once:.4}");
            }
        }
        // Monotone in r̂, never past the clamp.
        let mut last = 0.0;
        for i in 0..=100 {
            let r = unbiased_r1(-1.0 + 0.02 * f64::from(i), 40.0);
            assert!(r >= last && r <= 0.99, "{r}");
            last = r;
        }
    }

    #[test]
    fn fft_path_matches_direct_on_long_series() {
        let v: Vec<f64> = (0..3000).map(|i| ((i * 7919) % 1000) as f64).collect();
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        let c: Vec<f64> = v.iter().map(|x| x - mean).collect();
        let (a, b) = (acov_direct(&c), acov_fft(&c));
        for k in [0, 1, 2, 100, 2999] {
            assert!(
                (a[k] - b[k]).abs() <= 1e-9 * a[0],
                "lag {k}: {} vs {}",
                a[k],
                b[k]
            );
        }
        // And mann_kendall itself runs on it (FFT path inside).
        assert!(mann_kendall(&v).is_some());
    }

    proptest! {
        #[test]
        fn s_matches_brute_force(v in proptest::collection::vec(-4i32..4, 3..70)) {
            let v: Vec<f64> = v.into_iter().map(f64::from).collect();
            let mut s = 0.0;
            for i in 0..v.len() {
                for j in i + 1..v.len() {
                    s += (v[j] - v[i]).signum() * f64::from(v[j] != v[i]);
                }
            }
            let t = mann_kendall(&v).unwrap();
            prop_assert_eq!(t.s, s);
            prop_assert!((0.0..=1.0).contains(&t.p_value));
            prop_assert!(t.var_inflation >= 1.0);
            prop_assert!(t.effective_n <= t.n as f64);
        }

        #[test]
        fn fft_matches_direct(v in proptest::collection::vec(-1e3f64..1e3, 1..300)) {
            let (a, b) = (acov_direct(&v), acov_fft(&v));
            let scale = a[0].abs().max(1.0);
            for (x, y) in a.iter().zip(&b) {
                prop_assert!((x - y).abs() <= 1e-9 * scale);
            }
        }

        #[test]
        fn p_value_in_unit_interval(v in proptest::collection::vec(prop::num::f64::ANY, 0..100)) {
            if let Some(t) = mann_kendall(&v) {
                prop_assert!((0.0..=1.0).contains(&t.p_value));
                prop_assert!(t.var_inflation >= 1.0);
            }
        }
    }
}
