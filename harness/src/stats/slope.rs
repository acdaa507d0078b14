//! Theil–Sen robust slope with Sen's distribution-free confidence interval.
//! The slope is the median of all pairwise slopes, so up to ~29% of wild
//! samples (a bad read, a one-off spike) barely move it.

use super::normal::normal_quantile;

/// Up to this many points the pairwise slopes are materialised
/// (n(n-1)/2 = 32,640 values, 255 KiB). Beyond, order statistics are found by
/// bisection with inversion counting, which needs O(n) memory.
///
/// Kept small on purpose: `memsoak run` analyses its own samples live (the
/// running slope, `--fail-fast`) inside the process it measures. With the old
/// limit of 2048, every live fit of up to 1000 blocks took the pairwise path
/// (up to ~4 MB per fit, growing with the square of the rows kept), and
/// jemalloc's dirty pages from those transients showed up as a 14 MiB RSS
/// "leak" of memsoak itself on a loaded CI box.
const PAIRWISE_MAX: usize = 256;

/// Theil–Sen slope with Sen's confidence interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SenFit {
    /// Median of the pairwise slopes `(y_j - y_i) / (x_j - x_i)`, units of y per unit of x.
    pub slope: f64,
    /// Median of `y_i - slope * x_i` (Conover's intercept).
    pub intercept: f64,
    /// Lower confidence bound on the slope (always `<= slope`).
    pub ci_low: f64,
    /// Upper confidence bound on the slope (always `>= slope`).
    pub ci_high: f64,
}

/// Theil–Sen slope of `y` on `x` with Sen's (1968) confidence interval at
/// `confidence` (e.g. 0.95).
///
/// The interval takes the order statistics of the pairwise slopes at ranks
/// `(N ∓ z * sqrt(Var S)) / 2` (the upper one + 1), where N counts pairs with
/// distinct x and Var(S) is the Mann–Kendall variance of `y` (tie-corrected)
/// times `var_inflation`.
///
/// `var_inflation`: factor (>= 1) applied to Var(S) (Hamed–Rao n/n*) when
/// forming the CI. Values below 1 or NaN are treated as 1; `+inf` widens the
/// interval to the extreme pairwise slopes.
///
/// Cost: O(n²) time and memory up to 256 points (all pairs, then O(N)
/// selection); beyond that O(n log n) per bisection step with at most 64 steps
/// per order statistic and O(n) memory, so even 10⁶ points do not exhaust memory.
///
/// Degenerate input: pairs with a non-finite value are skipped; returns `None`
/// when lengths differ, `confidence` is not strictly inside (0, 1), fewer than
/// two distinct x remain, or the result overflows. Pairs with equal x are
/// ignored (their slope is undefined). When the requested confidence needs
/// ranks beyond the available pairs (very few points), the bound is clamped
/// to the extreme pairwise slope, so the interval then has *less* than the
/// nominal coverage. A constant `y` gives slope 0 and interval `[0, 0]`.
pub fn theil_sen(x: &[f64], y: &[f64], confidence: f64, var_inflation: f64) -> Option<SenFit> {
    if x.len() != y.len() || !(confidence > 0.0 && confidence < 1.0) {
        return None;
    }
    let pts: Vec<(f64, f64)> = super::finite_pairs(x, y).collect();
    if pts.len() < 2 {
        return None;
    }
    let ys: Vec<f64> = pts.iter().map(|p| p.1).collect();
    let slopes = PairSlopes::new(&pts)?;
    let pairs = slopes.pairs;
    if pairs == 0 {
        return None;
    }
    let inflation = if var_inflation >= 1.0 {
        var_inflation
    } else {
        1.0
    };
    let var_s = mk_variance(&ys);
    // 0 * inf would be NaN: a zero variance (constant y) stays zero.
    let c = if var_s > 0.0 {
        normal_quantile(0.5 + 0.5 * confidence) * (var_s * inflation).sqrt()
    } else {
        0.0
    };
    let nf = pairs as f64;
    // `as u64` after clamping to [1, N]: never out of range, NaN impossible
    // (c >= 0 and finite or +inf).
    let rank = |r: f64| r.round().clamp(1.0, nf) as u64;
    let lo_rank = rank((nf - c) / 2.0);
    let hi_rank = rank((nf + c) / 2.0 + 1.0);
    let (m1, m2) = median_ranks(pairs);
    let stats = slopes.order_stats(&[lo_rank, m1, m2, hi_rank])?;
    let slope = if m1 == m2 {
        stats[1]
    } else {
        0.5 * stats[1] + 0.5 * stats[2]
    };
    let mut resid: Vec<f64> = pts.iter().map(|&(a, b)| b - slope * a).collect();
    let intercept = super::median_mut(&mut resid)?;
    // Order statistics are monotone in rank, so these min/max only guard
    // against rounding in the bisection path.
    let fit = SenFit {
        slope,
        intercept,
        ci_low: stats[0].min(slope),
        ci_high: stats[3].max(slope),
    };
    [fit.slope, fit.intercept, fit.ci_low, fit.ci_high]
        .iter()
        .all(|v| v.is_finite())
        .then_some(fit)
}

/// Median pairwise slope only (no interval), as used to detrend before the
/// Hamed–Rao autocorrelation estimate. Same cost and `None` cases as
/// [`theil_sen`].
pub(crate) fn sen_slope(x: &[f64], y: &[f64]) -> Option<f64> {
    let pts: Vec<(f64, f64)> = super::finite_pairs(x, y).collect();
    let slopes = PairSlopes::new(&pts)?;
    let pairs = slopes.pairs;
    if pairs == 0 {
        return None;
    }
    let (m1, m2) = median_ranks(pairs);
    let s = slopes.order_stats(&[m1, m2])?;
    let slope = 0.5 * s[0] + 0.5 * s[1];
    slope.is_finite().then_some(slope)
}

/// 1-based ranks of the (lower, upper) middle of `n` ordered values; equal
/// for odd `n`.
fn median_ranks(n: u64) -> (u64, u64) {
    if n % 2 == 1 {
        (n.div_ceil(2), n.div_ceil(2))
    } else {
        (n / 2, n / 2 + 1)
    }
}

/// The pairwise slopes of a point set, queried by rank.
struct PairSlopes {
    /// Centred x, ascending; ties in x sorted by y descending (see `count_le`).
    x: Vec<f64>,
    /// Centred y, in the same order.
    y: Vec<f64>,
    /// Number of pairs with distinct x: the slopes that exist.
    pairs: u64,
    /// Number of pairs with equal x (excluded from every count).
    tie_pairs: u64,
}

impl PairSlopes {
    /// `None` for fewer than two points.
    fn new(pts: &[(f64, f64)]) -> Option<Self> {
        let n = pts.len();
        if n < 2 {
            return None;
        }
        let mut sorted = pts.to_vec();
        sorted.sort_by(|a, b| a.0.total_cmp(&b.0).then(b.1.total_cmp(&a.1)));
        // Centring keeps y - b*x small in the bisection path; slopes are unchanged.
        let xc = sorted[n / 2].0;
        let mut ys: Vec<f64> = sorted.iter().map(|p| p.1).collect();
        let yc = super::median_mut(&mut ys)?;
        let x: Vec<f64> = sorted.iter().map(|p| p.0 - xc).collect();
        let y: Vec<f64> = sorted.iter().map(|p| p.1 - yc).collect();
        // Ties are judged on the centred values, the ones every count uses.
        let mut tie_pairs = 0u64;
        let mut start = 0;
        for i in 1..=n {
            if i == n || x[i] != x[start] {
                let t = (i - start) as u64;
                tie_pairs += t * (t - 1) / 2;
                start = i;
            }
        }
        let total = n as u64 * (n as u64 - 1) / 2;
        Some(Self {
            x,
            y,
            pairs: total - tie_pairs,
            tie_pairs,
        })
    }

    /// The `k`-th smallest slopes (1-based ranks, each in `1..=pairs`).
    fn order_stats(&self, ranks: &[u64]) -> Option<Vec<f64>> {
        if self.x.len() <= PAIRWISE_MAX {
            let mut all = self.all_slopes();
            // Select in ascending rank order, each time only among the
            // values right of the previous pick (all of them are >= it):
            // the median after the lower bound costs half a pass, and the
            // upper middle right after the lower one is a minimum scan.
            let mut order: Vec<usize> = (0..ranks.len()).collect();
            order.sort_by_key(|&i| ranks[i]);
            let mut out = vec![0.0; ranks.len()];
            let mut start = 0usize;
            for i in order {
                let idx = (ranks[i].max(1) - 1) as usize;
                if idx >= all.len() {
                    return None;
                }
                if idx >= start {
                    all[start..].select_nth_unstable_by(idx - start, f64::total_cmp);
                    start = idx + 1;
                }
                // idx < start: a repeated rank, already in its final place.
                out[i] = all[idx];
            }
            Some(out)
        } else {
            let (lo, hi) = self.slope_range()?;
            let mut scratch = Scratch::default();
            ranks
                .iter()
                .map(|&k| self.select_by_bisection(k, lo, hi, &mut scratch))
                .collect()
        }
    }

    /// Every slope between points with distinct x. O(n²).
    fn all_slopes(&self) -> Vec<f64> {
        let n = self.x.len();
        let mut out = Vec::with_capacity(self.pairs as usize);
        for i in 0..n {
            for j in i + 1..n {
                let dx = self.x[j] - self.x[i];
                if dx > 0.0 {
                    out.push((self.y[j] - self.y[i]) / dx);
                }
            }
        }
        out
    }

    /// Smallest and largest pairwise slope. They are attained between
    /// neighbouring x groups: the slope from a to c is a weighted average of
    /// a→b and b→c for any b in between. O(n).
    fn slope_range(&self) -> Option<(f64, f64)> {
        let n = self.x.len();
        // Groups of equal x: (x, max y, min y); y is descending inside a group.
        let mut groups: Vec<(f64, f64, f64)> = Vec::new();
        let mut start = 0;
        for i in 1..=n {
            if i == n || self.x[i] != self.x[start] {
                groups.push((self.x[start], self.y[start], self.y[i - 1]));
                start = i;
            }
        }
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for w in groups.windows(2) {
            let ((xa, max_a, min_a), (xb, max_b, min_b)) = (w[0], w[1]);
            let dx = xb - xa;
            lo = lo.min((min_b - max_a) / dx);
            hi = hi.max((max_b - min_a) / dx);
        }
        (lo.is_finite() && hi.is_finite() && lo <= hi).then_some((lo, hi))
    }

    /// Number of pairs (distinct x) whose slope is `<= b`.
    ///
    /// slope_ij <= b  <=>  y_j - b x_j <= y_i - b x_i  (for x_i < x_j), so this is
    /// the number of non-strict inversions of r = y - b x in x order. Pairs
    /// inside an x-tie group are always counted (y descending there makes r
    /// non-increasing) and subtracted back as `tie_pairs`.
    fn count_le(&self, b: f64, s: &mut Scratch) -> u64 {
        s.r.clear();
        s.r.extend(self.x.iter().zip(&self.y).map(|(x, y)| y - b * x));
        s.buf.clear();
        s.buf.resize(s.r.len(), 0.0);
        count_non_increasing_pairs(&mut s.r, &mut s.buf).saturating_sub(self.tie_pairs)
    }

    /// k-th smallest slope by bisection over the f64 bit patterns in
    /// `[lo, hi]`: at most 64 halvings, each one O(n log n) count.
    fn select_by_bisection(&self, k: u64, lo: f64, hi: f64, s: &mut Scratch) -> Option<f64> {
        let k = k.clamp(1, self.pairs);
        // Invariant: count_le(key_lo) < k <= count_le(key_hi).
        let mut key_lo = order_key(lo).checked_sub(1)?;
        let mut key_hi = order_key(hi);
        while key_hi - key_lo > 1 {
            let mid = key_lo + (key_hi - key_lo) / 2;
            if self.count_le(from_order_key(mid), s) >= k {
                key_hi = mid;
            } else {
                key_lo = mid;
            }
        }
        Some(from_order_key(key_hi))
    }
}

/// Reusable buffers for the bisection path.
#[derive(Default)]
struct Scratch {
    r: Vec<f64>,
    buf: Vec<f64>,
}

/// Map an f64 to a u64 whose unsigned order is `total_cmp` order, so that
/// bisecting the integer bisects the floats (finite floats are contiguous).
fn order_key(v: f64) -> u64 {
    let bits = v.to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    }
}

fn from_order_key(k: u64) -> f64 {
    let bits = if k >> 63 == 1 { k & !(1 << 63) } else { !k };
    f64::from_bits(bits)
}

/// Number of index pairs `i < j` with `v[j] <= v[i]`; sorts `v` ascending.
/// `scratch` must be at least as long as `v`. O(n log n) merge sort.
pub(crate) fn count_non_increasing_pairs(v: &mut [f64], scratch: &mut [f64]) -> u64 {
    let n = v.len();
    if n < 2 {
        return 0;
    }
    if n <= 16 {
        // Insertion sort: element i moves left past every earlier element >= it.
        let mut count = 0u64;
        for i in 1..n {
            let x = v[i];
            let mut j = i;
            while j > 0 && v[j - 1] >= x {
                v[j] = v[j - 1];
                j -= 1;
                count += 1;
            }
            v[j] = x;
        }
        return count;
    }
    let mid = n / 2;
    let mut count = {
        let (left, right) = v.split_at_mut(mid);
        let (s_left, s_right) = scratch.split_at_mut(mid);
        count_non_increasing_pairs(left, s_left) + count_non_increasing_pairs(right, s_right)
    };
    scratch[..n].copy_from_slice(v);
    let (left, right) = scratch[..n].split_at(mid);
    let (mut i, mut j) = (0, 0);
    for slot in v.iter_mut() {
        // Take from the right when right <= left: every left element still
        // waiting is >= it, and each is one counted pair.
        if j < right.len() && (i == left.len() || right[j] <= left[i]) {
            if i < left.len() {
                count += (left.len() - i) as u64;
            }
            *slot = right[j];
            j += 1;
        } else {
            *slot = left[i];
            i += 1;
        }
    }
    count
}

/// Sizes of runs of equal values in a sorted slice.
pub(crate) fn tie_sizes(sorted: &[f64]) -> impl Iterator<Item = u64> + '_ {
    sorted.chunk_by(|a, b| a == b).map(|run| run.len() as u64)
}

/// Pairs of equal values in a sorted slice: Σ t(t − 1)/2 over its runs. O(n).
pub(crate) fn tied_pairs(sorted: &[f64]) -> u64 {
    tie_sizes(sorted).map(|t| t * (t - 1) / 2).sum()
}

// NOTE: Sen's interval and Mann–Kendall's test share this variance; it
// lives here so that `trend` imports `slope` and not the other way round.
/// Tie-corrected Var(S) under no trend:
/// `[n(n-1)(2n+5) - Σ t(t-1)(2t+5)] / 18`. O(n log n). Values are assumed finite.
pub(crate) fn mk_variance(v: &[f64]) -> f64 {
    let mut sorted = v.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = v.len() as f64;
    let ties: f64 = tie_sizes(&sorted)
        .map(|t| {
            let t = t as f64;
            t * (t - 1.0) * (2.0 * t + 5.0)
        })
        .sum();
    ((n * (n - 1.0) * (2.0 * n + 5.0) - ties) / 18.0).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn five_points_by_hand() {
        // x = 1..5, y = 1,2,3,4,10 (one outlier at the end).
        // Pairwise slopes (10): 1,1,1,3 (from x=1), 1,1,8/3 (x=2), 1,7/2 (x=3), 6 (x=4)
        // sorted: 1,1,1,1,1,1,8/3,3,7/2,6 -> median of 5th and 6th = 1.
        // OLS would give 2.0: the outlier drags it.
        let x = [1.0, 2.0, 3.0, 4.0, 5.0];
        let y = [1.0, 2.0, 3.0, 4.0, 10.0];
        let f = theil_sen(&x, &y, 0.95, 1.0).unwrap();
        assert_eq!(f.slope, 1.0);
        // Intercept: median of y - x = 0,0,0,0,5 -> 0.
        assert_eq!(f.intercept, 0.0);
        // Var S for n=5 = 5*4*15/18 = 16.667, C = 1.96*4.08 = 8.0;
        // lo rank = round((10-8)/2) = 1 -> 1; hi rank = round(18/2)+1 = 10 -> 6.
        assert_eq!(f.ci_low, 1.0);
        assert_eq!(f.ci_high, 6.0);
        assert!((crate::stats::ols(&x, &y).unwrap().slope - 2.0).abs() < 1e-12);
    }

    #[test]
    fn ci_ranks_by_hand() {
        // y = x exactly with n = 12 points: every slope is 1, any interval is [1, 1].
        let x: Vec<f64> = (0..12).map(f64::from).collect();
        let f = theil_sen(&x, &x, 0.9, 3.0).unwrap();
        assert_eq!((f.slope, f.ci_low, f.ci_high), (1.0, 1.0, 1.0));
        // Slopes 0..N-1 in known order: with n = 4, x = 0,1,2,3 and
        // y = 0,1,3,6: pair slopes 1,1.5,2,2,2.5,3 -> median (2+2)/2 = 2.
        let f = theil_sen(&[0.0, 1.0, 2.0, 3.0], &[0.0, 1.0, 3.0, 6.0], 0.5, 1.0).unwrap();
        assert_eq!(f.slope, 2.0);
        // Var S = 4*3*13/18 = 8.667; z(0.75) = 0.6745; C = 1.9856;
        // lo = round((6-1.9856)/2) = round(2.007) = 2 -> 1.5;
        // hi = round((6+1.9856)/2 + 1) = round(4.99) = 5 -> 2.5.
        assert_eq!((f.ci_low, f.ci_high), (1.5, 2.5));
    }

    #[test]
    fn degenerate_inputs() {
        assert_eq!(theil_sen(&[], &[], 0.95, 1.0), None);
        assert_eq!(theil_sen(&[1.0], &[1.0], 0.95, 1.0), None);
        assert_eq!(theil_sen(&[1.0, 2.0], &[1.0], 0.95, 1.0), None);
        assert_eq!(
            theil_sen(&[3.0, 3.0, 3.0], &[1.0, 2.0, 3.0], 0.95, 1.0),
            None
        );
        assert_eq!(theil_sen(&[1.0, 2.0], &[1.0, 2.0], 1.0, 1.0), None);
        assert_eq!(theil_sen(&[1.0, 2.0], &[1.0, 2.0], f64::NAN, 1.0), None);
        // Constant y: slope 0 and a zero-width interval.
        let c = theil_sen(&[0.0, 1.0, 2.0, 3.0], &[5.0; 4], 0.95, 1.0).unwrap();
        assert_eq!(
            (c.slope, c.ci_low, c.ci_high, c.intercept),
            (0.0, 0.0, 0.0, 5.0)
        );
        // Non-finite pairs are skipped; inflation NaN/inf do not break it.
        let f = theil_sen(
            &[0.0, 1.0, f64::NAN, 2.0],
            &[0.0, 2.0, 1.0, 4.0],
            0.95,
            f64::NAN,
        )
        .unwrap();
        assert_eq!(f.slope, 2.0);
        let f = theil_sen(
            &[0.0, 1.0, 2.0, 3.0],
            &[0.0, 1.0, 3.0, 6.0],
            0.95,
            f64::INFINITY,
        )
        .unwrap();
        assert_eq!((f.ci_low, f.ci_high), (1.0, 3.0));
        // Ties in x: the pair at x = 1 has no slope; the other two are 0.5 and
        // 1.5 -> median 1.
        let f = theil_sen(&[0.0, 1.0, 1.0], &[0.0, 0.5, 1.5], 0.95, 1.0).unwrap();
        assert_eq!(f.slope, 1.0);
    }

    #[test]
    fn count_non_increasing_pairs_by_hand() {
        // 3,1,2,2: pairs (3,1),(3,2),(3,2),(2,2) -> 4.
        let mut v = vec![3.0, 1.0, 2.0, 2.0];
        let mut s = vec![0.0; 4];
        assert_eq!(count_non_increasing_pairs(&mut v, &mut s), 4);
        assert_eq!(v, vec![1.0, 2.0, 2.0, 3.0]);
    }

    #[test]
    fn bisection_agrees_with_pairwise_on_large_input() {
        // 2100 points go through the bisection path; compare with a brute force.
        let n = 2100;
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let x: Vec<f64> = (0..n).map(|i| (i / 3) as f64).collect(); // ties in x
        let y: Vec<f64> = x
            .iter()
            .map(|&x| 2.0 + 0.5 * x + 100.0 * (next() - 0.5))
            .collect();
        let pts: Vec<(f64, f64)> = x.iter().copied().zip(y.iter().copied()).collect();
        let ps = PairSlopes::new(&pts).unwrap();
        let mut all = ps.all_slopes();
        assert_eq!(all.len() as u64, ps.pairs);
        all.sort_by(f64::total_cmp);
        for k in [
            1u64,
            17,
            ps.pairs / 3,
            ps.pairs / 2,
            ps.pairs / 2 + 1,
            ps.pairs - 5,
            ps.pairs,
        ] {
            let got = ps.order_stats(&[k]).unwrap()[0];
            let want = all[(k - 1) as usize];
            assert!(
                (got - want).abs() <= 1e-9 * (1.0 + want.abs()),
                "rank {k}: {got} vs {want}"
            );
        }
    }

    proptest! {
        #[test]
        fn slope_of_exact_line(a in -1e9f64..1e9, b in -1e4f64..1e4, n in 2usize..60) {
            let x: Vec<f64> = (0..n).map(|i| i as f64).collect();
            let y: Vec<f64> = x.iter().map(|x| a + b * x).collect();
            let f = theil_sen(&x, &y, 0.95, 1.0).unwrap();
            let tol = 1e-6 * (1.0 + b.abs()) + 1e-12 * a.abs();
            prop_assert!((f.slope - b).abs() <= tol, "slope {} vs {}", f.slope, b);
        }

        #[test]
        fn invariant_to_adding_a_constant(
            y in proptest::collection::vec(-1e3f64..1e3, 3..40), c in -1e6f64..1e6,
        ) {
            let x: Vec<f64> = (0..y.len()).map(|i| i as f64).collect();
            let shifted: Vec<f64> = y.iter().map(|v| v + c).collect();
            let a = theil_sen(&x, &y, 0.95, 1.0).unwrap();
            let b = theil_sen(&x, &shifted, 0.95, 1.0).unwrap();
            prop_assert!((a.slope - b.slope).abs() < 1e-6, "{} vs {}", a.slope, b.slope);
            prop_assert!((a.intercept + c - b.intercept).abs() < 1e-6);
        }

        #[test]
        fn one_huge_outlier_moves_it_little(
            noise in proptest::collection::vec(-1.0f64..1.0, 20..60),
            at in 0usize..1000, sign in prop::bool::ANY,
        ) {
            // y = 3x + noise in [-1, 1]: every pairwise slope between points at
            // least 2 apart lies in 3 ± 1; one outlier of 1e12 cannot move
            // the median beyond the spread of the clean slopes.
            let n = noise.len();
            let x: Vec<f64> = (0..n).map(|i| i as f64).collect();
            let mut y: Vec<f64> = x.iter().zip(&noise).map(|(x, e)| 3.0 * x + e).collect();
            let clean = theil_sen(&x, &y, 0.95, 1.0).unwrap().slope;
            y[at % n] += if sign { 1e12 } else { -1e12 };
            let dirty = theil_sen(&x, &y, 0.95, 1.0).unwrap().slope;
            prop_assert!((dirty - clean).abs() < 0.5, "clean {clean} dirty {dirty}");
            prop_assert!((dirty - 3.0).abs() < 1.0);
        }

        #[test]
        fn ci_contains_the_estimate(
            y in proptest::collection::vec(-1e3f64..1e3, 2..50),
            conf in 0.01f64..0.999, infl in 0.0f64..50.0,
        ) {
            let x: Vec<f64> = (0..y.len()).map(|i| (i * i) as f64).collect();
            let f = theil_sen(&x, &y, conf, infl).unwrap();
            prop_assert!(f.ci_low <= f.slope && f.slope <= f.ci_high);
        }

        #[test]
        fn bisection_matches_pairwise(
            y in proptest::collection::vec(-1e3f64..1e3, 2..120),
            xstep in proptest::collection::vec(0u8..3, 120),
        ) {
            // Non-decreasing x with ties; both selection paths must agree.
            let mut acc = 0.0;
            let x: Vec<f64> = y.iter().enumerate().map(|(i, _)| { acc += f64::from(xstep[i]); acc }).collect();
            let pts: Vec<(f64, f64)> = x.iter().copied().zip(y.iter().copied()).collect();
            let ps = PairSlopes::new(&pts).unwrap();
            prop_assume!(ps.pairs > 0);
            let mut all = ps.all_slopes();
            all.sort_by(f64::total_cmp);
            let (lo, hi) = ps.slope_range().unwrap();
            prop_assert_eq!(lo, all[0]);
            prop_assert_eq!(hi, *all.last().unwrap());
            let mut s = Scratch::default();
            for k in [1, ps.pairs.div_ceil(2), ps.pairs] {
                let got = ps.select_by_bisection(k, lo, hi, &mut s).unwrap();
                let want = all[(k - 1) as usize];
                prop_assert!((got - want).abs() <= 1e-9 * (1.0 + want.abs()), "k={} {} vs {}", k, got, want);
            }
        }

        #[test]
        fn counting_matches_brute_force(v in proptest::collection::vec(-5i32..5, 0..80)) {
            let v: Vec<f64> = v.into_iter().map(f64::from).collect();
            let brute = (0..v.len())
                .flat_map(|i| (i + 1..v.len()).map(move |j| (i, j)))
                .filter(|&(i, j)| v[j] <= v[i])
                .count() as u64;
            let mut w = v.clone();
            let mut s = vec![0.0; w.len()];
            prop_assert_eq!(count_non_increasing_pairs(&mut w, &mut s), brute);
        }
    }
}
