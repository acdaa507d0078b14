//! Ordinary least squares: the line fit reported beside the robust fit (one
//! outlier or a half-finished GC cycle moves it a lot, so a reader can see
//! when the two disagree), the fit of views whose points are means (cycle
//! means, quantised readings), and the broken line a trailing window's
//! noise is measured about.

/// Ordinary least squares fit, for reference beside the robust fit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OlsFit {
    /// Units of y per unit of x.
    pub slope: f64,
    /// Value of the line at `x = 0`.
    pub intercept: f64,
    /// Coefficient of determination in `[0, 1]`; 1 for a constant `y` (the
    /// horizontal line leaves no residual).
    pub r2: f64,
    /// Classical standard error of the slope (assumes independent errors, so
    /// it is too small for autocorrelated samples).
    pub slope_stderr: f64,
}

/// Least squares line `y = intercept + slope * x`.
///
/// Cost O(n): six passes of four interleaved sums each (the
/// sums are centred, so values around 2e8 bytes lose no precision), and a
/// copy of the finite pairs where some are not. Pairs where either value
/// is non-finite are skipped. Returns
/// `None` when lengths differ, fewer than 3 usable pairs remain (the slope's
/// standard error needs n - 2 degrees of freedom), all x are equal, or the
/// result overflows.
pub fn ols(x: &[f64], y: &[f64]) -> Option<OlsFit> {
    if x.len() != y.len() {
        return None;
    }
    // NOTE: the sums are finite exactly when every value is (an infinity
    // or a NaN never sums back to a finite value), so one pass tells
    // whether the pairs can be summed as they lie; else the finite pairs
    // are gathered first.
    let (sx, sy) = (sum4(x, |v| v), sum4(y, |v| v));
    if sx.is_finite() && sy.is_finite() {
        return ols_finite(x, y, sx, sy);
    }
    let (xs, ys): (Vec<f64>, Vec<f64>) = super::finite_pairs(x, y).unzip();
    let (sx, sy) = (sum4(&xs, |v| v), sum4(&ys, |v| v));
    ols_finite(&xs, &ys, sx, sy)
}

/// [`ols`] on finite pairs whose sums are `sx` and `sy`.
fn ols_finite(x: &[f64], y: &[f64], sx: f64, sy: f64) -> Option<OlsFit> {
    let n = x.len();
    if n < 3 {
        return None;
    }
    let nf = n as f64;
    let (mx, my) = (sx / nf, sy / nf);
    let sxx = sum4(x, |a| (a - mx) * (a - mx));
    let syy = sum4(y, |b| (b - my) * (b - my));
    let sxy = sum4_pairs(x, y, |a, b| (a - mx) * (b - my));
    // `!(sxx > 0.0)` also rejects NaN from overflowed sums.
    if !(sxx > 0.0 && sxx.is_finite()) {
        return None;
    }
    let slope = sxy / sxx;
    let intercept = my - slope * mx;
    // Residuals summed directly rather than `syy - slope * sxy`, which cancels
    // catastrophically for near-perfect fits.
    let sse = sum4_pairs(x, y, |a, b| {
        let r = (b - my) - slope * (a - mx);
        r * r
    });
    let r2 = if syy > 0.0 {
        (1.0 - sse / syy).clamp(0.0, 1.0)
    } else {
        1.0
    };
    let slope_stderr = (sse / (nf - 2.0) / sxx).sqrt();
    let fit = OlsFit {
        slope,
        intercept,
        r2,
        slope_stderr,
    };
    [fit.slope, fit.intercept, fit.r2, fit.slope_stderr]
        .iter()
        .all(|v| v.is_finite())
        .then_some(fit)
}

/// Σ f(v) over `v`, in four interleaved partial sums.
///
/// NOTE: one running sum is a chain of dependent additions, one per value
/// (a fit of a day at 10 Hz was a sixth of `analyze`'s time, `cargo bench
/// --bench analysis`); four independent ones the compiler can run side by
/// side, and they round no worse.
fn sum4(v: &[f64], f: impl Fn(f64) -> f64) -> f64 {
    sum4_pairs(v, v, |a, _| f(a))
}

/// Σ f(x, y) over pairs of equal-length `x` and `y`, as [`sum4`].
fn sum4_pairs(x: &[f64], y: &[f64], f: impl Fn(f64, f64) -> f64) -> f64 {
    let (cx, cy) = (x.chunks_exact(4), y.chunks_exact(4));
    let tail: f64 = cx
        .remainder()
        .iter()
        .zip(cy.remainder())
        .map(|(&a, &b)| f(a, b))
        .sum();
    let mut acc = [0.0; 4];
    for (a, b) in cx.zip(cy) {
        for k in 0..4 {
            acc[k] += f(a[k], b[k]);
        }
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

/// Residuals about the least-squares broken line with one knot whose rate
/// rises there: the continuous fit `a + b·x + c·max(0, x − x_k)`, c > 0,
/// whose knot `x_k` (a point with at least one before it and two after
/// it, so each segment has two) leaves the least squared error. `x` ascending, all finite (the
/// caller's points); `None` with fewer than 5 points or where no knot
/// gives a rising bend.
///
/// What the noise of a trailing window is measured about
/// ([`super::late_drift`]): growth may begin inside the window, and about
/// a straight line the bend reads as spread and persistence of the noise.
/// Only a rising bend: a window is there to catch a rate that rose, and
/// every knot the search may choose takes some noise with it. Under AR(1)
/// noise of φ = 0.98 (600 seeded runs per cell, 10 and 30 minutes at 1 Hz),
/// healthy runs failed 0–3 times with windows about a line, 3–8 with any
/// bend, 3–7 with rising ones; a late leak under AR(1) φ = 0.98 over 30
/// minutes was caught in 25%, 48% and 41%.
///
/// Cost O(m): prefix sums give each knot's normal equations in O(1), and
/// the residual sum of squares comes from them (x and y centred first, so
/// sums of squares near 2e8² lose nothing that matters to the choice).
pub(crate) fn hinge_residuals(x: &[f64], y: &[f64]) -> Option<Vec<f64>> {
    let m = x.len();
    if m != y.len() || m < 5 {
        return None;
    }
    let mf = m as f64;
    let (mx, my) = (x.iter().sum::<f64>() / mf, y.iter().sum::<f64>() / mf);
    let xc: Vec<f64> = x.iter().map(|v| v - mx).collect();
    let yc: Vec<f64> = y.iter().map(|v| v - my).collect();
    let sxx: f64 = xc.iter().map(|v| v * v).sum();
    let sxy: f64 = xc.iter().zip(&yc).map(|(a, b)| a * b).sum();
    let syy: f64 = yc.iter().map(|v| v * v).sum();
    // Suffix sums over i > k of 1, x, x², y, xy (centred).
    let mut suf = vec![[0.0f64; 5]; m + 1];
    for i in (0..m).rev() {
        let (a, b) = (xc[i], yc[i]);
        let s = suf[i + 1];
        suf[i] = [s[0] + 1.0, s[1] + a, s[2] + a * a, s[3] + b, s[4] + a * b];
    }
    let mut best: Option<(f64, [f64; 3], f64)> = None;
    for k in 1..m - 2 {
        let xk = xc[k];
        let [n1, s1, s2, sy, sxy_k] = suf[k + 1];
        // h_i = x_i − x_k beyond the knot: Σh, Σh², Σxh, Σyh.
        let sh = s1 - xk * n1;
        let shh = s2 - 2.0 * xk * s1 + xk * xk * n1;
        let sxh = s2 - xk * s1;
        let syh = sxy_k - xk * sy;
        // Centred columns 1, x, h: the intercept's row decouples only for
        // x; solve the 3×3 system directly.
        let a = [[mf, 0.0, sh], [0.0, sxx, sxh], [sh, sxh, shh]];
        let rhs = [0.0, sxy, syh];
        let Some(beta) = solve3(a, rhs) else {
            continue;
        };
        let rss = syy - (beta[0] * rhs[0] + beta[1] * rhs[1] + beta[2] * rhs[2]);
        if beta[2] > 0.0 && best.is_none_or(|(r, _, _)| rss < r) {
            best = Some((rss, beta, xk));
        }
    }
    let (_, beta, xk) = best?;
    let r: Vec<f64> = xc
        .iter()
        .zip(&yc)
        .map(|(&a, &b)| b - beta[0] - beta[1] * a - beta[2] * (a - xk).max(0.0))
        .collect();
    r.iter().all(|v| v.is_finite()).then_some(r)
}

/// `a · β = b` for a 3×3 system by Gaussian elimination with partial
/// pivoting; `None` where it is singular.
fn solve3(mut a: [[f64; 3]; 3], mut b: [f64; 3]) -> Option<[f64; 3]> {
    let scale = a.iter().flatten().fold(0.0f64, |s, v| s.max(v.abs()));
    for c in 0..3 {
        let p = (c..3).max_by(|&i, &j| a[i][c].abs().total_cmp(&a[j][c].abs()))?;
        if !(a[p][c].abs() > 1e-12 * scale) {
            return None;
        }
        a.swap(c, p);
        b.swap(c, p);
        let (pivot_row, pivot_b) = (a[c], b[c]);
        for (row, rb) in a.iter_mut().zip(b.iter_mut()).skip(c + 1) {
            let f = row[c] / pivot_row[c];
            for (v, p) in row.iter_mut().zip(pivot_row).skip(c) {
                *v -= f * p;
            }
            *rb -= f * pivot_b;
        }
    }
    let mut beta = [0.0; 3];
    for c in (0..3).rev() {
        let v = b[c] - (c + 1..3).map(|q| a[c][q] * beta[q]).sum::<f64>();
        beta[c] = v / a[c][c];
    }
    beta.iter().all(|v| v.is_finite()).then_some(beta)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn three_points_by_hand() {
        // x = 0,1,2; y = 1,2,4. mean x = 1, mean y = 7/3.
        // Sxx = 2, Sxy = (-1)(-4/3) + 0 + (1)(5/3) = 3 -> slope 1.5,
        // intercept 7/3 - 1.5 = 5/6. Residuals: 1-5/6=1/6, 2-14/6=-1/3, 4-23/6=1/6
        // -> SSE = 1/36+4/36+1/36 = 1/6; Syy = 16/9+1/9+25/9 = 42/9 = 14/3;
        // r2 = 1 - (1/6)/(14/3) = 1 - 1/28 = 27/28; stderr = sqrt((1/6)/1/2) = sqrt(1/12).
        let f = ols(&[0.0, 1.0, 2.0], &[1.0, 2.0, 4.0]).unwrap();
        assert!((f.slope - 1.5).abs() < 1e-12);
        assert!((f.intercept - 5.0 / 6.0).abs() < 1e-12);
        assert!((f.r2 - 27.0 / 28.0).abs() < 1e-12);
        assert!((f.slope_stderr - (1.0f64 / 12.0).sqrt()).abs() < 1e-12);
    }

    #[test]
    fn degenerate_inputs() {
        assert_eq!(ols(&[], &[]), None);
        assert_eq!(ols(&[1.0, 2.0], &[1.0, 2.0]), None, "two points: no stderr");
        assert_eq!(ols(&[1.0, 2.0, 3.0], &[1.0, 2.0]), None, "length mismatch");
        assert_eq!(ols(&[5.0; 4], &[1.0, 2.0, 3.0, 4.0]), None, "all x equal");
        // NaN pairs are skipped, leaving the exact line y = 2x.
        let f = ols(
            &[0.0, 1.0, f64::NAN, 2.0, 3.0],
            &[0.0, 2.0, 7.0, 4.0, f64::INFINITY],
        )
        .unwrap();
        assert!((f.slope - 2.0).abs() < 1e-12);
        // Constant y: slope 0, r2 defined as 1, zero stderr.
        let c = ols(&[0.0, 1.0, 2.0, 3.0], &[7.0; 4]).unwrap();
        assert_eq!((c.slope, c.r2, c.slope_stderr), (0.0, 1.0, 0.0));
        // Overflowing sums give None instead of NaN fields.
        assert_eq!(ols(&[0.0, 1e300, 2e300], &[0.0, 1.0, 2.0]), None);
    }

    #[test]
    fn interleaved_sums_agree_with_one_running_sum() {
        // Every length's tail (n mod 4), with and without a NaN pair,
        // against the fit by one running sum of each moment.
        for n in [3usize, 4, 5, 6, 7, 101, 1002] {
            for gap in [None, Some(n / 2)] {
                let x: Vec<f64> = (0..n).map(|i| i as f64 * 0.1).collect();
                let mut y: Vec<f64> = (0..n)
                    .map(|i| 2e8 + 3e5 * i as f64 + 1e6 * (i as f64 * 1.7).sin())
                    .collect();
                if let Some(g) = gap.filter(|_| n > 3) {
                    y[g] = f64::NAN;
                }
                let (xs, ys): (Vec<f64>, Vec<f64>) = crate::stats::finite_pairs(&x, &y).unzip();
                let m = xs.len() as f64;
                let (mx, my) = (xs.iter().sum::<f64>() / m, ys.iter().sum::<f64>() / m);
                let sxx: f64 = xs.iter().map(|a| (a - mx) * (a - mx)).sum();
                let sxy: f64 = xs.iter().zip(&ys).map(|(a, b)| (a - mx) * (b - my)).sum();
                let f = ols(&x, &y).unwrap();
                let slope = sxy / sxx;
                assert!((f.slope - slope).abs() <= 1e-9 * slope.abs(), "{n} {gap:?}");
                assert!((f.intercept - (my - slope * mx)).abs() <= 1e-9 * my, "{n}");
            }
        }
    }

    /// Residuals about a broken line with its knot at `x[k]`, by the
    /// normal equations on raw columns: the reference for the O(m) search.
    fn brute_hinge(x: &[f64], y: &[f64]) -> Vec<f64> {
        let m = x.len();
        let mut best: Option<(f64, Vec<f64>)> = None;
        for k in 1..m - 2 {
            let col = |i: usize| [1.0, x[i], (x[i] - x[k]).max(0.0)];
            let (mut a, mut b) = ([[0.0; 3]; 3], [0.0; 3]);
            for (i, yi) in y.iter().enumerate() {
                let c = col(i);
                for r in 0..3 {
                    b[r] += c[r] * yi;
                    for q in 0..3 {
                        a[r][q] += c[r] * c[q];
                    }
                }
            }
            let Some(beta) = solve3(a, b) else { continue };
            if beta[2] <= 0.0 {
                continue;
            }
            let res: Vec<f64> = (0..m)
                .map(|i| {
                    let c = col(i);
                    y[i] - beta[0] - beta[1] * c[1] - beta[2] * c[2]
                })
                .collect();
            let rss = res.iter().map(|r| r * r).sum::<f64>();
            if best.as_ref().is_none_or(|(r, _)| rss < *r) {
                best = Some((rss, res));
            }
        }
        best.unwrap().1
    }

    #[test]
    fn a_broken_line_leaves_no_residual_and_the_search_matches_brute_force() {
        // Flat at 200 MiB for 30 points, then 1 MiB a point: exact.
        let x: Vec<f64> = (0..50).map(|i| 3.0 * i as f64).collect();
        let y: Vec<f64> = x
            .iter()
            .map(|&t| 2e8 + (t - 90.0).max(0.0) * 349_525.0)
            .collect();
        let r = hinge_residuals(&x, &y).unwrap();
        assert!(r.iter().all(|v| v.abs() < 1e-3), "{r:?}");
        // About a straight line the bend is left in, worth megabytes.
        let f = ols(&x, &y).unwrap();
        assert!((y[0] - f.intercept - f.slope * x[0]).abs() > 1e6);
        // Noisy data: the same residuals as the brute-force search.
        let mut state = 7u64;
        let mut noise = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 4e6
        };
        let y: Vec<f64> = y.iter().map(|v| v + noise()).collect();
        let (fast, brute) = (hinge_residuals(&x, &y).unwrap(), brute_hinge(&x, &y));
        for (a, b) in fast.iter().zip(&brute) {
            assert!((a - b).abs() < 1e-3, "{a} vs {b}");
        }
        // A rate that falls at every knot has no rising bend.
        let concave: Vec<f64> = x.iter().map(|&t| -(t - 60.0).powi(2)).collect();
        assert_eq!(hinge_residuals(&x, &concave), None);
        assert_eq!(hinge_residuals(&x[..4], &y[..4]), None);
        assert_eq!(hinge_residuals(&x, &y[..10]), None);
    }

    proptest! {
        #[test]
        fn exact_line_recovered(a in -1e9f64..1e9, b in -1e6f64..1e6, n in 3usize..200) {
            let x: Vec<f64> = (0..n).map(|i| i as f64 * 0.5).collect();
            let y: Vec<f64> = x.iter().map(|x| a + b * x).collect();
            let f = ols(&x, &y).unwrap();
            let tol = 1e-9 * (1.0 + b.abs() + a.abs() / n as f64);
            prop_assert!((f.slope - b).abs() < tol, "slope {} vs {}", f.slope, b);
            prop_assert!((0.0..=1.0).contains(&f.r2));
        }
    }
}
