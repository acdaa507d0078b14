//! Standard normal CDF and quantile, used to turn trend statistics into
//! p-values and confidence bounds: statrs' standard normal (erfc-based, so
//! tail probabilities keep their relative precision; ~1e-11 absolute
//! near the centre, 1e-9 relative in the tails, far beyond what a p-value needs), with memsoak's
//! conventions for the edges.

use statrs::distribution::{ContinuousCDF, Normal};

/// The standard normal distribution.
fn standard() -> Normal {
    // NOTE: mean 0, sd 1 is always a valid parameter pair.
    Normal::standard()
}

/// Standard normal cumulative distribution function `P(Z <= z)`.
///
/// Cost O(1). Computed from erfc, so small tail probabilities are not
/// rounded to 0 by `1 - x` (Φ(−8) = 6.2e-16 keeps ~12 digits). `-inf` gives
/// 0, `+inf` gives 1, NaN gives NaN.
pub fn normal_cdf(z: f64) -> f64 {
    if z.is_nan() {
        return f64::NAN;
    }
    standard().cdf(z).clamp(0.0, 1.0)
}

/// Standard normal quantile (inverse CDF): the `z` with `normal_cdf(z) == p`.
///
/// Cost O(1). `p <= 0` gives `-inf`, `p >= 1` gives `+inf`, NaN gives NaN.
pub fn normal_quantile(p: f64) -> f64 {
    if p.is_nan() {
        return f64::NAN;
    }
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    standard().inverse_cdf(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rel_err(a: f64, b: f64) -> f64 {
        ((a - b) / b).abs()
    }

    #[test]
    fn normal_cdf_at_known_z() {
        // Textbook values: Phi(0)=0.5, Phi(1.96)=0.975002..., Phi(-3)=0.0013499,
        // and a deep-tail value Phi(-8) = 6.22e-16 that 1 - Phi(8) would lose.
        assert_eq!(normal_cdf(0.0), 0.5);
        assert!((normal_cdf(1.0) - 0.841_344_746_068_542_9).abs() < 1e-10);
        assert!((normal_cdf(1.96) - 0.975_002_104_851_780).abs() < 1e-10);
        assert!(rel_err(normal_cdf(-3.0), 0.001_349_898_031_630_094_6) < 1e-9);
        assert!(rel_err(normal_cdf(-8.0), 6.220_960_574_271_785e-16) < 1e-9);
        assert_eq!(normal_cdf(f64::NEG_INFINITY), 0.0);
        assert_eq!(normal_cdf(f64::INFINITY), 1.0);
        assert!(normal_cdf(f64::NAN).is_nan());
    }

    #[test]
    fn normal_quantile_at_known_p() {
        assert_eq!(normal_quantile(0.5), 0.0);
        assert!((normal_quantile(0.975) - 1.959_963_984_540_054).abs() < 1e-12);
        assert!((normal_quantile(0.025) + 1.959_963_984_540_054).abs() < 1e-12);
        assert!((normal_quantile(0.995) - 2.575_829_303_548_901).abs() < 1e-12);
        assert!((normal_quantile(1e-10) + 6.361_340_902_404_056).abs() < 1e-9);
        assert_eq!(normal_quantile(0.0), f64::NEG_INFINITY);
        assert_eq!(normal_quantile(1.0), f64::INFINITY);
        assert_eq!(normal_quantile(-0.5), f64::NEG_INFINITY);
        assert!(normal_quantile(f64::NAN).is_nan());
    }

    proptest! {
        #[test]
        fn quantile_inverts_cdf(p in 1e-12f64..1.0) {
            let z = normal_quantile(p);
            prop_assert!(z.is_finite());
            let back = normal_cdf(z);
            prop_assert!(rel_err(back, p) < 1e-9, "p={p} z={z} back={back}");
        }

        #[test]
        fn cdf_is_monotone_and_symmetric(a in -40.0f64..40.0, b in -40.0f64..40.0) {
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            prop_assert!(normal_cdf(lo) <= normal_cdf(hi));
            let s = normal_cdf(a) + normal_cdf(-a);
            prop_assert!((s - 1.0).abs() < 1e-14);
            prop_assert!((0.0..=1.0).contains(&normal_cdf(a)));
        }
    }
}
