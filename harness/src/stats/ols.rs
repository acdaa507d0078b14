//! Ordinary least squares line fit. Not used for verdicts (one outlier or a
//! half-finished GC cycle moves it a lot); reported beside the robust fit so a
//! reader can see when the two disagree.

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
/// Cost O(n), three passes (centred sums, so values around 2e8 bytes lose no
/// precision). Pairs where either value is non-finite are skipped. Returns
/// `None` when lengths differ, fewer than 3 usable pairs remain (the slope's
/// standard error needs n - 2 degrees of freedom), all x are equal, or the
/// result overflows.
pub fn ols(x: &[f64], y: &[f64]) -> Option<OlsFit> {
    if x.len() != y.len() {
        return None;
    }
    let pairs = || super::finite_pairs(x, y);
    let mut n = 0usize;
    let (mut sx, mut sy) = (0.0, 0.0);
    for (a, b) in pairs() {
        n += 1;
        sx += a;
        sy += b;
    }
    if n < 3 {
        return None;
    }
    let nf = n as f64;
    let (mx, my) = (sx / nf, sy / nf);
    let (mut sxx, mut sxy, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in pairs() {
        let (dx, dy) = (a - mx, b - my);
        sxx += dx * dx;
        sxy += dx * dy;
        syy += dy * dy;
    }
    // `!(sxx > 0.0)` also rejects NaN from overflowed sums.
    if !(sxx > 0.0 && sxx.is_finite()) {
        return None;
    }
    let slope = sxy / sxx;
    let intercept = my - slope * mx;
    // Residuals summed directly rather than `syy - slope * sxy`, which cancels
    // catastrophically for near-perfect fits.
    let sse: f64 = pairs()
        .map(|(a, b)| {
            let r = (b - my) - slope * (a - mx);
            r * r
        })
        .sum();
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
