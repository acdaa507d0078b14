//! Alpha spending for sequential (fail-fast) looks at a running soak test:
//! checking after every chunk of samples would inflate the false-alarm rate,
//! so look k only spends a share of alpha that sums to at most alpha.

use std::f64::consts::PI;

/// Sequential (fail-fast) looks: alpha to spend at look k (1-based) so that the
/// sum over all k is <= alpha: `alpha * 6 / (pi^2 k^2)` (Σ 1/k² = π²/6).
///
/// Cost O(1). `alpha` is clamped to `[0, 1]` (NaN counts as 0); look 0 is not a
/// look and gets 0, so no caller can spend more than `alpha` in total.
pub fn look_alpha(alpha: f64, look: u32) -> f64 {
    if look == 0 || alpha.is_nan() {
        return 0.0;
    }
    let alpha = alpha.clamp(0.0, 1.0);
    let k = f64::from(look);
    alpha * 6.0 / (PI * PI * k * k)
}

/// When the `--fail-fast` monitor looks first, in seconds from the start:
/// after 30 samples, and at least 30 s. Enough samples to fit anything, and
/// long enough that a GC cycle of up to 15 s has dropped twice: before its
/// first drop a cycle's ramp is a leak to any test (a 10 s sawtooth sampled
/// at 10 Hz, looked at from 10 s, stopped a quarter of healthy runs).
pub fn first_look_s(sample_every_s: f64) -> f64 {
    (sample_every_s * 30.0).max(30.0)
}

/// Seconds between the monitor's later looks: 10 samples, at least 5 s.
pub fn look_interval_s(sample_every_s: f64) -> f64 {
    (sample_every_s * 10.0).max(5.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_values() {
        // 6/π² = 0.607927...; look 2 gets a quarter of look 1.
        assert!((look_alpha(0.05, 1) - 0.05 * 0.607_927_101_854_026_6).abs() < 1e-15);
        assert!((look_alpha(0.05, 2) - look_alpha(0.05, 1) / 4.0).abs() < 1e-15);
        assert_eq!(look_alpha(0.05, 0), 0.0);
        assert_eq!(look_alpha(f64::NAN, 3), 0.0);
        assert_eq!(look_alpha(-1.0, 3), 0.0);
        assert_eq!(look_alpha(7.0, 1), look_alpha(1.0, 1));
    }

    proptest! {
        #[test]
        fn total_spend_never_exceeds_alpha(alpha in 0.0f64..1.0, looks in 1u32..20_000) {
            let total: f64 = (1..=looks).map(|k| look_alpha(alpha, k)).sum();
            prop_assert!(total <= alpha * (1.0 + 1e-12));
            prop_assert!(look_alpha(alpha, looks + 1) <= look_alpha(alpha, looks));
        }
    }
}
